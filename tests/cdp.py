"""Headless Chromium driven over its DevTools protocol, for tests that interact with a page (the what-if workbench).

tests/browser.py only runs Chromium's ``--dump-dom`` and ``--screenshot`` modes; a page that must be clicked and
awaited needs the DevTools protocol. Chromium speaks it over a pipe (``--remote-debugging-pipe``): it reads
commands on file descriptor 3 and writes answers and events on 4, each a JSON text ended by a NUL byte — no
websocket library, no selenium/playwright (which download browsers of their own).

    with Browser() as browser:
        page = browser.open("http://127.0.0.1:8000/?token=…")
        page.evaluate("window.workbench.ready", await_promise=True)
        png = page.screenshot()
        page.errors            # console.error/assert calls and uncaught exceptions seen so far

Every wait has a timeout (:data:`TIMEOUT`); Chromium and its children (a process group of their own) are always
killed at the end.
"""
from __future__ import annotations

import base64
import json
import os
import queue
import shutil
import signal
import subprocess
import tempfile
import threading
import time

from browser import FLAGS, SKIP_REASON, WINDOW, ChromiumError, find_chromium

__all__ = ["Browser", "Page", "CdpError", "SKIP_REASON", "TIMEOUT"]

#: no network but the loopback (where the server under test listens): host names do not resolve and everything
#: else goes to a proxy that is not there (tests/browser.py NO_NETWORK, with the loopback let through)
OFFLINE = ["--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1", "--proxy-server=http://127.0.0.1:9",
           "--proxy-bypass-list=<loopback>"]
#: seconds one protocol command, a navigation or an awaited expression may take
TIMEOUT = float(os.environ.get("GEOFACILITY_BROWSER_TIMEOUT", "30"))


class CdpError(ChromiumError):
    pass


class Browser:
    """One headless Chromium with a fresh profile, driven over ``--remote-debugging-pipe``. ``offline``: host
    names do not resolve (:data:`OFFLINE`; the loopback is still reached)."""

    def __init__(self, *, offline: bool = True, window: tuple[int, int] = WINDOW, timeout: float = TIMEOUT):
        exe = find_chromium()
        if exe is None:
            raise CdpError(SKIP_REASON)
        self.timeout = timeout
        self.window = window
        self._profile = tempfile.TemporaryDirectory(prefix="gf-cdp-")
        to_child, self._write = os.pipe()  # Chromium reads commands on fd 3
        self._read, from_child = os.pipe()  # and writes on fd 4
        flags = [f for f in FLAGS if not f.startswith(("--enable-logging", "--v="))]
        command = [exe, *flags, f"--user-data-dir={self._profile.name}", f"--window-size={window[0]},{window[1]}",
                   "--remote-debugging-pipe", *(OFFLINE if offline else []), "about:blank"]
        # bash (dash takes one-digit descriptors only) puts the two pipe ends on fds 3 and 4, then becomes Chromium
        script = f'exec "$@" 3<&{to_child} 4>&{from_child} {to_child}<&- {from_child}>&-'
        self.proc = subprocess.Popen([shutil.which("bash") or "/bin/bash", "-c", script, "bash", *command], pass_fds=(to_child, from_child),
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     start_new_session=True)
        os.close(to_child)
        os.close(from_child)
        self._next_id = 0
        self._answers: dict[int, queue.Queue] = {}
        self._events: queue.Queue = queue.Queue()
        self._listeners: list = []
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read_loop, daemon=True)
        self._reader.start()
        self._stderr: list[bytes] = []
        threading.Thread(target=lambda: self._stderr.append(self.proc.stderr.read()), daemon=True).start()
        try:
            self.send("Browser.getVersion")
        except Exception:
            self.close()
            raise

    # ---- the pipe

    def _read_loop(self) -> None:
        buffer = b""
        while True:
            try:
                chunk = os.read(self._read, 1 << 16)
            except OSError:
                break
            if not chunk:
                break
            buffer += chunk
            while b"\0" in buffer:
                raw, buffer = buffer.split(b"\0", 1)
                message = json.loads(raw.decode("utf-8"))
                if "id" in message:
                    with self._lock:
                        box = self._answers.get(message["id"])
                    if box is not None:
                        box.put(message)
                else:
                    for listener in list(self._listeners):
                        listener(message)

    def send(self, method: str, params: dict | None = None, *, session: str | None = None,
             timeout: float | None = None) -> dict:
        """Send one command and wait for its answer (``timeout`` seconds, default :data:`TIMEOUT`)."""
        with self._lock:
            self._next_id += 1
            ident = self._next_id
            box = self._answers[ident] = queue.Queue()
        message = {"id": ident, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        data = json.dumps(message).encode("utf-8") + b"\0"
        try:
            while data:
                data = data[os.write(self._write, data):]
            answer = box.get(timeout=timeout or self.timeout)
        except queue.Empty:
            raise CdpError(f"Chromium did not answer {method} within {timeout or self.timeout:g} s") from None
        except OSError as exc:
            raise CdpError(f"Chromium is gone ({exc}); stderr: {self.stderr_tail()}") from None
        finally:
            with self._lock:
                self._answers.pop(ident, None)
        if "error" in answer:
            raise CdpError(f"{method}: {answer['error']}")
        return answer.get("result", {})

    def stderr_tail(self) -> str:
        return b"".join(self._stderr).decode("utf-8", "replace")[-3000:]

    # ---- pages

    def open(self, url: str) -> "Page":
        """A new tab showing ``url``, its load event awaited."""
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        page = Page(self, session)
        self._listeners.append(page._on_message)
        page.send("Runtime.enable")
        page.send("Page.enable")
        page.send("Emulation.setDeviceMetricsOverride", {"width": self.window[0], "height": self.window[1],
                                                         "deviceScaleFactor": 1, "mobile": False})
        page.navigate(url)
        return page

    def close(self) -> None:
        """Close Chromium: politely, then its whole process group killed."""
        if self.proc.poll() is None:
            try:
                self.send("Browser.close", timeout=5)
            except Exception:  # noqa: BLE001 - it is killed below anyway
                pass
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=10)
        for fd in (self._write, self._read):
            try:
                os.close(fd)
            except OSError:
                pass
        self._profile.cleanup()

    def __enter__(self) -> "Browser":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class Page:
    """One tab: commands go to its session; console errors and uncaught exceptions are collected in
    :attr:`errors`, every console message in :attr:`console`."""

    def __init__(self, browser: Browser, session: str):
        self.browser = browser
        self.session = session
        self.errors: list[str] = []
        self.console: list[str] = []
        self._loaded = threading.Event()

    def _on_message(self, message: dict) -> None:
        if message.get("sessionId") != self.session:
            return
        method, params = message.get("method"), message.get("params", {})
        if method == "Runtime.consoleAPICalled":
            text = " ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", []))
            self.console.append(f"{params.get('type')}: {text}")
            if params.get("type") in ("error", "assert"):
                self.errors.append(f"console.{params.get('type')}: {text}")
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            exception = details.get("exception", {})
            self.errors.append(f"uncaught: {exception.get('description') or details.get('text')}")
        elif method == "Page.loadEventFired":
            self._loaded.set()

    def send(self, method: str, params: dict | None = None, *, timeout: float | None = None) -> dict:
        return self.browser.send(method, params, session=self.session, timeout=timeout)

    def navigate(self, url: str, *, timeout: float | None = None) -> None:
        self._loaded.clear()
        result = self.send("Page.navigate", {"url": url})
        if result.get("errorText"):
            raise CdpError(f"navigating to {url}: {result['errorText']}")
        if not self._loaded.wait(timeout or self.browser.timeout):
            raise CdpError(f"{url} did not finish loading within {timeout or self.browser.timeout:g} s")

    def evaluate(self, expression: str, *, await_promise: bool = True, timeout: float | None = None):
        """The value of a JavaScript expression (a promise awaited), as JSON gives it back; an exception raised
        in the page raises :class:`CdpError` with its description."""
        wait = timeout or self.browser.timeout
        result = self.send("Runtime.evaluate", {"expression": expression, "awaitPromise": await_promise,
                                                "returnByValue": True, "timeout": int(wait * 1000)},
                           timeout=wait + 5)
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            raise CdpError(f"{expression[:80]!r} raised in the page: {text}")
        return result.get("result", {}).get("value")

    def wait_for(self, expression: str, *, timeout: float | None = None, every: float = 0.1):
        """Poll ``expression`` until it is truthy; its value."""
        deadline = time.monotonic() + (timeout or self.browser.timeout)
        while time.monotonic() < deadline:
            value = self.evaluate(expression, await_promise=False)
            if value:
                return value
            time.sleep(every)
        raise CdpError(f"{expression!r} still false after {timeout or self.browser.timeout:g} s")

    def screenshot(self) -> bytes:
        """A PNG of the viewport."""
        data = self.send("Page.captureScreenshot", {"format": "png"})["data"]
        return base64.b64decode(data)
