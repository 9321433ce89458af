"""The what-if workbench's web app (geofacility.workbench.server) served for real: uvicorn in a thread on a free
127.0.0.1 port, over the real Workbench on the Xicheng sample (community_service as in docs/candidate-rooms.md),
talked to over the loopback with urllib. Nothing listens on the port after the module."""
from __future__ import annotations

import json
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pandas as pd
import pytest

from conftest import ROOT

from geofacility.workbench.server import Background

TOKEN = "test-token-" + "x" * 20
SAMPLE = ROOT / "data" / "xicheng"
CATEGORY = "community_service"
STUDY_ARGS = ["--facilities", f"{CATEGORY}={SAMPLE / 'community_rooms_existing.csv'}",
              "--standard", f"{CATEGORY}=community_rooms_beijing"]


def sample_workbench(out):
    from geofacility import analyze, sample_inputs
    from geofacility.read import read_candidates
    from geofacility.workbench.model import Workbench

    inputs = sample_inputs()
    inputs["facilities"] = [*inputs["facilities"], (SAMPLE / "community_rooms_existing.csv", CATEGORY)]
    analysis = analyze(**inputs, standard_choices={CATEGORY: ["community_rooms_beijing"]})
    return Workbench(analysis, read_candidates(SAMPLE / "candidate_rooms.csv"), out=out)


class Running(Background):
    """A workbench served by uvicorn in a thread (geofacility.workbench.server.Background), with a request helper."""

    def __init__(self, workbench, token: str = TOKEN):
        super().__init__(workbench, token=token)

    def request(self, method: str, path: str, body=None, *, token: str | None = TOKEN, origin: str | None = "",
                host: str | None = None, raw: bytes | None = None) -> tuple[int, dict, dict]:
        headers = {}
        if token is not None:
            headers["X-Geofacility-Token"] = token
        if method == "POST" and origin is not None:
            headers["Origin"] = origin or self.origin
        if host is not None:
            headers["Host"] = host
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        if data is not None:
            headers["Content-Type"] = "application/json"
        elif method == "POST":
            data = b""
        req = urllib.request.Request(self.origin + path, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(req, timeout=120) as response:
                return response.status, json.loads(response.read()), {k.lower(): v for k, v in response.headers.items()}
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"{}"), {k.lower(): v for k, v in exc.headers.items()}

    def stop(self) -> None:
        super().stop()
        assert not self.thread.is_alive()


class ServeProcess:
    """``geofacility serve ARGS --no-browser`` in a process of its own (a ``with`` block): ``url``, ``port``, ``token``,
    :meth:`call` (the API with the token and the page's Origin), :meth:`stop` (Ctrl+C: SIGINT, then its stderr);
    killed on leaving the block if still running."""

    def __init__(self, args: list, *, cwd):
        self.proc = subprocess.Popen([sys.executable, "-m", "geofacility.cli", "serve", *args, "--no-browser"],
                                     cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.url = self.proc.stdout.readline().strip()
        if not self.url.startswith("http://127.0.0.1:") or "token=" not in self.url:
            self.proc.kill()
            raise AssertionError(f"serve printed {self.url!r}: {self.proc.communicate()[1][-2000:]}")
        self.port = int(self.url.split(":")[2].split("/")[0])
        self.token = self.url.split("token=")[1].split("&")[0]
        self.origin = f"http://127.0.0.1:{self.port}"

    def call(self, method: str, path: str, body=None):
        data = None if body is None else json.dumps(body).encode()
        headers = {"X-Geofacility-Token": self.token, "Origin": self.origin, "Content-Type": "application/json"}
        req = urllib.request.Request(self.origin + path, data=data, headers=headers, method=method)
        with urllib.request.urlopen(req, timeout=60) as response:
            return json.loads(response.read())

    def stop(self) -> str:
        import signal

        self.proc.send_signal(signal.SIGINT)
        return self.proc.communicate(timeout=60)[1]

    def __enter__(self) -> "ServeProcess":
        return self

    def __exit__(self, *exc) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()


def listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    running = Running(sample_workbench(tmp_path_factory.mktemp("workbench")))
    yield running
    running.stop()
    assert not listening(running.port), f"something still listens on 127.0.0.1:{running.port}"


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory) -> pd.DataFrame:
    """``geofacility sites evaluate`` on the sample's rooms for community_service (the CLI, as a planner runs it):
    sites.csv by candidate id."""
    out = tmp_path_factory.mktemp("evaluate")
    subprocess.run([sys.executable, "-m", "geofacility.cli", "sites", "evaluate", "--candidates",
                    str(SAMPLE / "candidate_rooms.csv"), "--category", CATEGORY, *STUDY_ARGS, "--out", str(out),
                    "--quiet"], check=True, capture_output=True, timeout=600, cwd=out)
    return pd.read_csv(out / "sites.csv", encoding="utf-8-sig", dtype={"candidate_id": str}).set_index("candidate_id")


# ---------------------------------------------------------------------------------------------- safety


def test_every_api_request_needs_the_token(served):
    status, body, _ = served.request("GET", "/api/categories", token=None)
    assert status == 401 and "token" in body["error"]
    status, body, _ = served.request("GET", f"/api/state?category={CATEGORY}", token="wrong" * 6)
    assert status == 403 and "token" in body["error"]
    status, body, _ = served.request("POST", "/api/toggle", {"category": CATEGORY, "candidate_id": "XCR038"},
                                     token=None)
    assert status == 401
    assert served.request("GET", f"/api/state?category={CATEGORY}")[1]["built"] == []  # nothing was built
    status, body, _ = served.request("GET", "/api/categories")
    assert status == 200 and CATEGORY in [c["category"] for c in body]


def test_posts_from_another_origin_or_without_one_are_refused(served):
    toggle = {"category": CATEGORY, "candidate_id": "XCR038"}
    for origin in ("http://evil.example", f"http://127.0.0.1:{served.port + 1}", "null"):
        status, body, _ = served.request("POST", "/api/toggle", toggle, origin=origin)
        assert status == 403 and "Origin" in body["error"], origin
    status, _, _ = served.request("POST", "/api/toggle", toggle, origin=None)  # no Origin header at all
    assert status == 403
    assert served.request("GET", f"/api/state?category={CATEGORY}")[1]["built"] == []
    # the other loopback name of the server is its own origin too
    status, body, _ = served.request("POST", "/api/undo", {}, origin=f"http://localhost:{served.port}",
                                     host=f"localhost:{served.port}")
    assert status == 400 and "撤销" in body["error"]  # nothing to undo: refused by the model, not by the guard


def test_another_host_name_is_refused(served):
    """DNS rebinding: a page on evil.example whose name now points at 127.0.0.1 sends Host: evil.example."""
    for path in ("/", "/api/categories", "/static/workbench.js"):
        status, body, _ = served.request("GET", path, host=f"evil.example:{served.port}")
        assert status == 403 and "Host" in body["error"], path


def test_bad_requests_answer_400_with_a_message_and_no_traceback(served):
    cases = [
        ("/api/toggle", b"{not json"),
        ("/api/toggle", b"[1, 2]"),
        ("/api/toggle", json.dumps({"category": CATEGORY, "candidate_id": 38}).encode()),
        ("/api/room", json.dumps({"category": CATEGORY, "lon": "116.3", "lat": 39.9, "floor_area_m2": 400,
                                  "name": "x"}).encode()),
        ("/api/room", json.dumps({"category": CATEGORY, "lon": 116.3, "lat": 95, "floor_area_m2": 400,
                                  "name": "x"}).encode()),
        ("/api/room", b'{"category": "community_service", "lon": NaN, "lat": 39.9, "floor_area_m2": 1, "name": "x"}'),
        ("/api/room", json.dumps({"category": CATEGORY, "lon": 116.3, "lat": 39.9, "floor_area_m2": -5,
                                  "name": "x"}).encode()),
        ("/api/room", json.dumps({"category": CATEGORY, "lon": 116.3, "lat": 39.9, "floor_area_m2": 400,
                                  "name": "x" * 1000}).encode()),
        ("/api/suggest", json.dumps({"category": CATEGORY, "k": True}).encode()),
        ("/api/suggest", json.dumps({"category": CATEGORY, "k": 0}).encode()),
    ]
    for path, raw in cases:
        status, body, headers = served.request("POST", path, raw=raw)
        assert status == 400, (path, raw, status, body)
        assert body["error"] and "/" in body["error"]  # Chinese / English
        assert "Traceback" not in body["error"] and "File \"" not in body["error"]
        assert headers.get("content-type", "").startswith("application/json")
    status, body, _ = served.request("POST", "/api/toggle", raw=b"x" * 70_000)
    assert status == 413


def test_unknown_category_or_room_is_404(served):
    status, body, _ = served.request("GET", "/api/layers?category=nonsense")
    assert status == 404 and "nonsense" in body["error"]
    status, body, _ = served.request("POST", "/api/toggle", {"category": CATEGORY, "candidate_id": "XCR999999"})
    assert status == 404 and "XCR999999" in body["error"]
    status, _, _ = served.request("GET", "/api/nothing-here")
    assert status == 404


def test_path_like_ids_and_names_are_only_looked_up(served, tmp_path):
    hostile = "../../etc/passwd"
    status, body, _ = served.request("POST", "/api/toggle", {"category": CATEGORY, "candidate_id": hostile})
    assert status == 404 and hostile in body["error"]
    status, _, _ = served.request("GET", f"/api/layers?category={hostile}")
    assert status == 404
    for path in ("/static/../../../etc/passwd", "/static/%2e%2e/%2e%2e/etc/passwd",
                 "/static/leaflet/..%2f..%2f..%2fpyproject.toml"):
        req = urllib.request.Request(served.origin + path)
        try:
            with urllib.request.urlopen(req, timeout=30) as response:
                text = response.read().decode("utf-8", "replace")
                assert "root:" not in text and "[project]" not in text, path
        except urllib.error.HTTPError as exc:
            assert exc.code in (400, 403, 404), path
    out = Path(served.workbench.out)
    before = sorted(p for p in out.rglob("*")) if out.exists() else []
    if hasattr(served.workbench, "save"):  # a scenario named like a path stays inside scenarios/
        status, body, _ = served.request("POST", "/api/scenarios", {"name": hostile})
        assert status in (200, 400), body
        written = [p for p in out.rglob("*") if p not in before]
        assert all(out.resolve() in p.resolve().parents for p in written)
        assert not (out.parent.parent / "etc").exists()


def test_the_page_and_leaflet_are_served_from_the_package(served):
    """No CDN: the page's scripts and styles are the server's own; its colours are those of geofacility.maps."""
    from geofacility.maps import style

    with urllib.request.urlopen(served.origin + "/", timeout=30) as response:
        page = response.read().decode("utf-8")
        headers = {k.lower(): v for k, v in response.headers.items()}
    assert "default-src 'self'" in headers["content-security-policy"]
    assert headers["referrer-policy"] == "no-referrer"  # the token is in the address
    import re

    assets = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert assets and all(a.startswith("/static/") for a in assets), assets
    for asset in assets:
        with urllib.request.urlopen(served.origin + asset, timeout=30) as response:
            assert response.status == 200 and len(response.read()) > 100, asset
    with urllib.request.urlopen(served.origin + "/static/leaflet/leaflet.js", timeout=30) as response:
        assert response.read() == (ROOT / "geofacility" / "assets" / "leaflet" / "leaflet.js").read_bytes()
    script = (ROOT / "geofacility" / "workbench" / "static" / "workbench.js").read_text(encoding="utf-8")
    assert f"gap: '{style._RED_ONE}'" in script and f"ok: '{style.OK_COLOUR}'" in script
    assert f"not_surveyed: '{style.NOT_SURVEYED_COLOUR}'" in script
    assert ".innerHTML" not in script and "insertAdjacentHTML" not in script and "eval(" not in script


# ---------------------------------------------------------------------------------------------- the numbers


def test_a_toggle_answers_the_models_numbers_and_sites_evaluates(served, evaluated):
    """Building XCR038 (荣丰2008房源, 400 m², the sample's best room for community rooms) through the API: the
    scenario gains exactly the people `sites evaluate` says it newly covers, one community short fewer, the
    floor-area gap 350 m² smaller (the 350 m² standard met), and the model's own state says the same."""
    room = "XCR038"
    newly = int(evaluated.loc[room, "newly_covered_population"])
    assert newly == 8975  # sites.csv, checked by hand: the compound population of 荣丰2008's community
    status, before, _ = served.request("GET", f"/api/state?category={CATEGORY}")
    assert status == 200 and before["built"] == []
    status, update, _ = served.request("POST", "/api/toggle", {"category": CATEGORY, "candidate_id": room})
    assert status == 200, update
    try:
        base, scen = update["baseline"], update["scenario"]
        assert scen["covered_population"] - base["covered_population"] == newly
        assert base["uncovered_population"] - scen["uncovered_population"] == newly
        assert base["communities_short"] - scen["communities_short"] == 1
        assert base["gap_m2"] - scen["gap_m2"] == pytest.approx(350.0)
        assert update["built"] == [room]
        assert [c["community_id"] for c in update["changed"]] == [evaluated.loc[room, "community_id"]]
        assert update["changed"][0]["status_before"] == "gap" and update["changed"][0]["status_after"] == "ok"
        assert [r["community_id"] for r in update["ledger_rows"]] == [evaluated.loc[room, "community_id"]]
        model = served.workbench.state(CATEGORY)
        assert {k: update[k] for k in model} == model
        status, state, _ = served.request("GET", f"/api/state?category={CATEGORY}")
        assert state == model
    finally:  # toggled back: the other tests see the baseline
        status, back, _ = served.request("POST", "/api/toggle", {"category": CATEGORY, "candidate_id": room})
        assert status == 200 and back["built"] == [] and back["scenario"] == back["baseline"]


def test_a_room_dropped_through_the_api_is_built_and_undone(served):
    body = {"category": CATEGORY, "lon": 116.3302918, "lat": 39.8928579, "floor_area_m2": 400,
            "name": "<img src=x onerror=alert(1)>", "categories": [CATEGORY]}
    status, update, _ = served.request("POST", "/api/room", body)
    assert status == 200, update
    added = [i for i in update["built"] if i.startswith("new-")]
    assert len(added) == 1
    assert update["scenario"]["covered_population"] - update["baseline"]["covered_population"] == 8975
    status, layers, _ = served.request("GET", f"/api/layers?category={CATEGORY}")
    mine = [f["properties"] for f in layers["candidates"]["features"] if f["properties"]["candidate_id"] == added[0]]
    assert mine and mine[0]["added"] and mine[0]["name"] == body["name"]  # kept as text, served as JSON text
    status, undone, _ = served.request("POST", "/api/undo", {})
    assert status == 200 and undone["built"] == [] and undone["scenario"] == undone["baseline"]


def test_a_dropped_room_toggles_without_drawing_the_layers(served, monkeypatch):
    """The server looks a room up among the model's ids (Workbench.candidate_ids), never by drawing every layer
    (seconds in a big city): a room dropped on the map, then toggled off and on, calls layers() not once; once its
    drop is undone its id is unknown again (404)."""
    wb = served.workbench
    calls = []
    layers = wb.layers
    monkeypatch.setattr(wb, "layers", lambda *a, **k: calls.append(a) or layers(*a, **k))
    body = {"category": CATEGORY, "lon": 116.3302918, "lat": 39.8928579, "floor_area_m2": 400, "name": "新房源",
            "categories": [CATEGORY]}
    status, update, _ = served.request("POST", "/api/room", body)
    assert status == 200, update
    added = [i for i in update["built"] if i.startswith("new-")]
    assert len(added) == 1 and added[0] in wb.candidate_ids(CATEGORY) and "XCR038" in wb.candidate_ids(CATEGORY)
    status, off, _ = served.request("POST", "/api/toggle", {"category": CATEGORY, "candidate_id": added[0]})
    assert status == 200 and off["built"] == [] and off["scenario"] == off["baseline"]
    status, on, _ = served.request("POST", "/api/toggle", {"category": CATEGORY, "candidate_id": added[0]})
    assert status == 200 and on["built"] == added
    assert on["scenario"]["covered_population"] - on["baseline"]["covered_population"] == 8975
    status, body, _ = served.request("POST", "/api/toggle", {"category": CATEGORY, "candidate_id": "XCR999999"})
    assert status == 404
    assert calls == []
    for _ in range(3):  # the second toggle, the first, the drop: back to the baseline
        status, undone, _ = served.request("POST", "/api/undo", {})
        assert status == 200
    assert undone["built"] == [] and undone["scenario"] == undone["baseline"]
    assert added[0] not in wb.candidate_ids(CATEGORY)
    status, body, _ = served.request("POST", "/api/toggle", {"category": CATEGORY, "candidate_id": added[0]})
    assert status == 404 and added[0] in body["error"]
    assert calls == []


# ---------------------------------------------------------------------------------------------- the command


def test_serve_command_help_and_a_bad_from_folder(tmp_path):
    from typer.testing import CliRunner

    from geofacility.cli import app

    result = CliRunner().invoke(app, ["serve", "--help"], env={"COLUMNS": "300", "TERMINAL_WIDTH": "300"})
    assert result.exit_code == 0
    for option in ("--candidates", "--from", "--port", "--host", "--no-browser", "--include-unreviewed", "--out",
                   "--communities", "--standard"):
        assert option in result.output, option
    done = subprocess.run([sys.executable, "-m", "geofacility.cli", "serve", "--from", str(tmp_path), "--no-browser"],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 2 and "run.json" in done.stderr and "Traceback" not in done.stderr


def test_serve_command_from_a_finished_run(tmp_path):
    """``geofacility serve --from`` a `sites evaluate` run: the same study rebuilt (its --standard and extra
    --facilities from the recorded command, relative paths from the folder it ran in), the URL printed with its
    token, the API answering; an input changed since is said; Ctrl+C (SIGINT) stops it and frees the port."""
    import shutil

    work = tmp_path / "work"
    (work / "data").mkdir(parents=True)
    for name in ("candidate_rooms.csv", "community_rooms_existing.csv"):
        shutil.copy(SAMPLE / name, work / "data" / name)
    subprocess.run([sys.executable, "-m", "geofacility.cli", "sites", "evaluate", "--candidates",
                    "data/candidate_rooms.csv", "--category", CATEGORY,
                    "--facilities", f"{CATEGORY}=data/community_rooms_existing.csv",
                    "--standard", f"{CATEGORY}=community_rooms_beijing", "--out", "run", "--quiet"],
                   check=True, capture_output=True, timeout=600, cwd=work)
    with open(work / "data" / "candidate_rooms.csv", "a", encoding="utf-8") as f:
        f.write("")  # same bytes: unchanged
    (work / "data" / "community_rooms_existing.csv").write_text(
        (SAMPLE / "community_rooms_existing.csv").read_text(encoding="utf-8-sig") + "\n", encoding="utf-8")
    with ServeProcess(["--from", str(work / "run"), "--out", str(tmp_path / "wb")], cwd=tmp_path) as served:
        assert "category=community_service" in served.url, served.url
        layers = served.call("GET", f"/api/layers?category={CATEGORY}")
        ids = {f["properties"]["candidate_id"] for f in layers["candidates"]["features"]}
        assert "XCR038" in ids  # the run's rooms, from its relative path
        err = served.stop()
    port = served.port
    assert "community_rooms_existing.csv" in err and "changed" in err  # the input edited since the run
    assert "candidate_rooms.csv（" not in err  # unchanged: not listed
    assert "Traceback" not in err
    assert not listening(port)
