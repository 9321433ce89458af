"""The what-if workbench's local web app (``geofacility serve``): a Starlette app over one
:class:`geofacility.workbench.model.Workbench`, served in-process by uvicorn.

The page (``static/``: index.html, workbench.js, workbench.css) and the vendored Leaflet
(``geofacility/assets/leaflet``) are served from the package: it works with no internet, bar base-map tiles.

Safety, for a server on a planner's machine that holds their data:

- it binds 127.0.0.1 unless told otherwise (``host``; :func:`serve` then warns on stderr);
- a random session token (:func:`secrets.token_urlsafe`) is in the URL printed and opened (``/?token=…``); every
  ``/api`` request must carry it in the ``X-Geofacility-Token`` header (401 without, 403 wrong; compared with
  :func:`secrets.compare_digest`) — another page in the browser, or another user of the machine, cannot read or
  change the scenario;
- every request's ``Host`` must be the server's own (127.0.0.1/localhost:PORT, or the host given): a DNS-rebinding
  page cannot reach it under another name; every POST's ``Origin`` must be the server's own origin (a POST with
  none is refused too);
- JSON bodies are checked (types, ranges, lengths, 64 kB at most); ids and names from the client are only ever
  looked up, never used as paths (the model turns scenario names into safe slugs);
- a mistake answers 400 (``{"error": message}``), an unknown category or id 404, anything else 500 with
  ``{"error": "internal error"}`` — the traceback goes to the server's log, never into the response.
"""
from __future__ import annotations

import json
import logging
import math
import secrets
import socket
import sys
import threading
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ..errors import InputError

__all__ = ["create_app", "serve", "bind", "make_server", "Background", "TOKEN_HEADER"]

log = logging.getLogger("geofacility.workbench")

STATIC = Path(__file__).resolve().parent / "static"
LEAFLET = Path(__file__).resolve().parents[1] / "assets" / "leaflet"
TOKEN_HEADER = "X-Geofacility-Token"
MAX_BODY = 64 * 1024
LOCAL_HOSTS = ("127.0.0.1", "localhost", "[::1]")

#: what the page may load: itself, data: images (Leaflet's CSS) and base-map tiles; no inline script, no framing.
#: No referrer leaves the page (the token is in its address).
_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                               "img-src 'self' data: https://*.tile.openstreetmap.org https://tile.openstreetmap.org; "
                               "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}


class ApiError(Exception):
    """A request refused: its HTTP status and the message shown to the planner."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


# ---------------------------------------------------------------------------------------------- validation


def _body_error(message_zh: str, message_en: str) -> ApiError:
    return ApiError(400, f"{message_zh} / {message_en}")


def _reject_constant(name):
    raise ValueError(f"{name} is not a number")


async def _json_body(request: Request) -> dict:
    """The request's JSON object (an empty body is ``{}``); 400 for anything else, 413 when too large."""
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > MAX_BODY):
        raise ApiError(413, f"请求过大（上限 {MAX_BODY // 1024} kB）/ request body too large")
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise ApiError(413, f"请求过大（上限 {MAX_BODY // 1024} kB）/ request body too large")
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError):
        raise _body_error("请求内容不是有效的 JSON", "the request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise _body_error("请求内容应为 JSON 对象", "the request body must be a JSON object")
    return body


def _text(body: dict, key: str, *, max_len: int = 200, required: bool = True, empty: bool = False) -> str | None:
    value = body.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise _body_error(f"缺少字段 {key} 或不是文字", f"{key} must be a string")
    value = value.strip()
    if not value and not empty:
        raise _body_error(f"字段 {key} 为空", f"{key} is empty")
    if len(value) > max_len or any(ord(c) < 32 for c in value):
        raise _body_error(f"字段 {key} 过长或含控制字符（上限 {max_len} 字）",
                          f"{key} is longer than {max_len} characters or holds control characters")
    return value


def _number(body: dict, key: str, low: float, high: float, *, integer: bool = False):
    value = body.get(key)
    kind = int if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kind) or not math.isfinite(value):
        raise _body_error(f"字段 {key} 应为{'整数' if integer else '数字'}",
                          f"{key} must be {'an integer' if integer else 'a number'}")
    if not low <= value <= high:
        raise _body_error(f"字段 {key} 应在 {low:g}–{high:g} 之间", f"{key} must lie between {low:g} and {high:g}")
    return value


# ---------------------------------------------------------------------------------------------- the app


class _Api:
    """The ``/api`` endpoints over one workbench; calls into it are serialised (one scenario, one planner)."""

    def __init__(self, workbench):
        self.workbench = workbench
        self.lock = threading.Lock()
        self._categories: list[str] | None = None
        self._candidate_ids: dict[str, set[str]] = {}

    async def call(self, function, *args, **kwargs):
        from starlette.concurrency import run_in_threadpool

        def locked():
            with self.lock:
                return function(*args, **kwargs)

        return await run_in_threadpool(locked)

    # ---- lookups (ids from the client are only compared with the model's own)

    async def category(self, value) -> str:
        if self._categories is None:
            self._categories = [c["category"] for c in await self.call(self.workbench.categories)]
        if not isinstance(value, str) or not value or len(value) > 64:
            raise _body_error("缺少类别 category", "category must be given")
        if value not in self._categories:
            raise ApiError(404, f"未知或未调查的类别：{value} / unknown or unsurveyed category")
        return value

    async def candidate(self, category: str, value) -> str:
        if not isinstance(value, str) or not value or len(value) > 200:
            raise _body_error("缺少房源编号 candidate_id", "candidate_id must be a string")
        known = self._candidate_ids.get(category)
        if known is None or value not in known:  # rooms dropped on the map join the list: look again on a miss
            known = set(await self.call(self.workbench.candidate_ids, category))  # ids only, no layer drawn
            self._candidate_ids[category] = known
        if value not in known:
            raise ApiError(404, f"未知房源：{value} / unknown candidate room")
        return value

    # ---- GET

    async def categories(self, request):
        return await self.call(self.workbench.categories)

    async def layers(self, request):
        category = await self.category(request.query_params.get("category"))
        return await self.call(self.workbench.layers, category)

    async def state(self, request):
        category = await self.category(request.query_params.get("category"))
        return await self.call(self.workbench.state, category)

    async def scenarios(self, request):
        return await self.call(self.workbench.scenarios)

    # ---- POST

    async def toggle(self, request):
        body = await _json_body(request)
        category = await self.category(body.get("category"))
        candidate = await self.candidate(category, body.get("candidate_id"))
        return await self.call(self.workbench.toggle, category, candidate)

    async def room(self, request):
        body = await _json_body(request)
        category = await self.category(body.get("category"))
        lon = _number(body, "lon", -180, 180)
        lat = _number(body, "lat", -90, 90)
        area = _number(body, "floor_area_m2", 0.01, 1_000_000)
        name = _text(body, "name", max_len=100)
        hosts = body.get("categories")
        if hosts is not None:
            if not isinstance(hosts, list) or len(hosts) > 20:
                raise _body_error("categories 应为类别列表", "categories must be a list of categories")
            hosts = [_text({"category": h}, "category", max_len=64) for h in hosts]
        self._candidate_ids.pop(category, None)
        return await self.call(self.workbench.add_room, category, lon=float(lon), lat=float(lat),
                               floor_area_m2=float(area), name=name, categories=hosts)

    async def undo(self, request):
        await _json_body(request)
        self._candidate_ids.clear()
        return await self.call(self.workbench.undo)

    async def redo(self, request):
        await _json_body(request)
        self._candidate_ids.clear()
        return await self.call(self.workbench.redo)

    async def suggest(self, request):
        body = await _json_body(request)
        category = await self.category(body.get("category"))
        k = _number(body, "k", 1, 200, integer=True)
        return await self.call(self.workbench.suggest, category, k)

    async def save(self, request):
        body = await _json_body(request)
        return await self.call(self.workbench.save, _text(body, "name", max_len=100))

    async def load(self, request):
        body = await _json_body(request)
        self._candidate_ids.clear()
        return await self.call(self.workbench.load, _text(body, "name", max_len=100))

    async def export(self, request):
        body = await _json_body(request)
        return await self.call(self.workbench.export, _text(body, "name", max_len=100, required=False))


class _Guard:
    """Refuses a request for another Host (DNS rebinding) and adds the safety headers to every answer."""

    def __init__(self, app, hosts: set[str]):
        self.app = app
        self.hosts = hosts

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        host_header = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"host"), "")
        if host_header.lower() not in self.hosts:
            response = JSONResponse({"error": "主机名不符 / unexpected Host header"}, status_code=403)
            return await response(scope, receive, send)

        async def with_headers(message):
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [(k.lower().encode(), v.encode()) for k, v in _HEADERS.items()]
                message = {**message, "headers": headers}
            await send(message)

        return await self.app(scope, receive, with_headers)


def _allowed_hosts(host: str, port: int) -> set[str]:
    names = set(LOCAL_HOSTS)
    if host and host not in ("0.0.0.0", "::"):
        names.add(f"[{host}]" if ":" in host and not host.startswith("[") else host)
    return {f"{name}:{port}".lower() for name in names}


def create_app(workbench, *, token: str, host: str = "127.0.0.1", port: int) -> Starlette:
    """The Starlette app of the workbench served at ``host:port`` (the real port: the Host and Origin checks
    compare with it) with the session ``token`` every ``/api`` request must carry."""
    if not token or len(token) < 16:
        raise ValueError("the session token must be a long random string (secrets.token_urlsafe())")
    api = _Api(workbench)
    hosts = _allowed_hosts(host, port)
    origins = {f"http://{h}" for h in hosts}
    expected = token.encode()

    def endpoint(handler, *, post: bool):
        async def run(request: Request) -> Response:
            try:
                if post:
                    origin = request.headers.get("origin")
                    if origin is None or origin.lower() not in origins:
                        raise ApiError(403, "请求来源（Origin）不是本工作台 / cross-origin request refused")
                given = request.headers.get(TOKEN_HEADER)
                if not given:
                    raise ApiError(401, "缺少会话令牌：请从启动时显示的网址打开 / missing session token: open the URL "
                                        "geofacility serve printed")
                if not secrets.compare_digest(given.encode("utf-8", "replace"), expected):
                    raise ApiError(403, "会话令牌不符 / wrong session token")
                result = await handler(request)
                return JSONResponse(result, headers={"Cache-Control": "no-store"})
            except ApiError as exc:
                return JSONResponse({"error": exc.message}, status_code=exc.status)
            except InputError as exc:  # WorkbenchError included: the planner's mistake, said in one line
                text = str(exc)
                status = 404 if getattr(exc, "status", None) == 404 else 400
                return JSONResponse({"error": text.splitlines()[0] if text else "bad request"}, status_code=status)
            except Exception:  # noqa: BLE001 - a bug: logged here, never shown
                log.exception("workbench request %s %s failed", request.method, request.url.path)
                return JSONResponse({"error": "internal error"}, status_code=500)

        return run

    async def index(request: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})

    get, post = (lambda path, h: Route(path, endpoint(h, post=False), methods=["GET"]),
                 lambda path, h: Route(path, endpoint(h, post=True), methods=["POST"]))
    routes = [
        Route("/", index, methods=["GET"]),
        get("/api/categories", api.categories), get("/api/layers", api.layers), get("/api/state", api.state),
        get("/api/scenarios", api.scenarios),
        post("/api/toggle", api.toggle), post("/api/room", api.room), post("/api/undo", api.undo),
        post("/api/redo", api.redo), post("/api/suggest", api.suggest), post("/api/scenarios", api.save),
        post("/api/scenarios/load", api.load), post("/api/export", api.export),
        Mount("/static/leaflet", app=StaticFiles(directory=LEAFLET), name="leaflet"),
        Mount("/static", app=StaticFiles(directory=STATIC), name="static"),
    ]
    async def http_error(request: Request, exc) -> Response:  # no such page / method: JSON like the rest
        status = getattr(exc, "status_code", 500)
        return JSONResponse({"error": "没有这个地址 / not found" if status == 404 else f"HTTP {status}"},
                            status_code=status)

    app = Starlette(routes=routes, middleware=[Middleware(_Guard, hosts=hosts)],
                    exception_handlers={HTTPException: http_error})
    app.state.workbench = workbench
    app.state.allowed_hosts = hosts
    return app


# ---------------------------------------------------------------------------------------------- serving


def bind(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    """A listening socket on ``host:port`` (port 0: a free one, chosen by the system)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        raise InputError(f"--host {host} --port {port}: 无法监听 / cannot listen there ({exc.strerror})") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def make_server(workbench, *, host: str = "127.0.0.1", port: int = 0, token: str | None = None,
                log_level: str = "warning"):
    """(uvicorn server, its listening socket, the URL with the token) — not yet running: ``server.run(sockets=
    [sock])`` runs it (in a thread too), ``server.should_exit = True`` stops it."""
    import uvicorn

    token = token or secrets.token_urlsafe(24)
    sock = bind(host, port)
    port = sock.getsockname()[1]
    app = create_app(workbench, token=token, host=host, port=port)
    config = uvicorn.Config(app, log_level=log_level, access_log=False, lifespan="off", loop="asyncio",
                            http="h11", ws="none", server_header=False)
    url_host = "127.0.0.1" if host in ("127.0.0.1", "0.0.0.0", "::") else (f"[{host}]" if ":" in host else host)
    return uvicorn.Server(config), sock, f"http://{url_host}:{port}/?token={token}"


def serve(workbench, *, host: str = "127.0.0.1", port: int = 0, open_browser: bool = True,
          token: str | None = None, category: str | None = None, echo=print) -> None:
    """Serve the workbench until Ctrl+C: binds ``host:port`` (port 0: a free one), prints the URL with the session
    token (``echo``), opens it in the browser unless ``open_browser`` is false; ``category``: the one the page
    shows first. A ``host`` other than the loopback
    is warned about on stderr: anybody who can reach it and learns the URL can change and export scenarios."""
    if host not in ("127.0.0.1", "localhost", "::1"):
        sys.stderr.write(f"warning: serving on {host}, not only on this computer (127.0.0.1): anyone who can reach "
                         f"it and has the URL with its token can see and change the scenario / 警告：工作台对其他计算机"
                         f"开放，持有含令牌网址者均可查看和修改方案\n")
    server, sock, url = make_server(workbench, host=host, port=port, token=token)
    if category:
        from urllib.parse import quote

        url += f"&category={quote(category)}"
    echo(url)
    if open_browser:
        import webbrowser

        threading.Timer(0.5, lambda: webbrowser.open(url)).start()
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()


class Background:
    """The workbench served by uvicorn in a thread on a free loopback port — for a notebook, a benchmark or a
    test: ``url`` (with the token), ``port``, ``origin``, ``token``; :meth:`stop` stops it and frees the port.

    >>> running = Background(workbench)      # doctest: +SKIP
    >>> running.url                           # doctest: +SKIP
    'http://127.0.0.1:41234/?token=…'
    >>> running.stop()                        # doctest: +SKIP
    """

    def __init__(self, workbench, *, token: str | None = None, timeout: float = 30.0):
        import time

        self.workbench = workbench
        self.token = token or secrets.token_urlsafe(24)
        self.server, self.sock, self.url = make_server(workbench, token=self.token)
        self.port = self.sock.getsockname()[1]
        self.origin = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                self.stop()
                raise RuntimeError("the workbench's server did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
        self.sock.close()
