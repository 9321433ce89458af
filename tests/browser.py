"""Headless Chromium from its command line, for the browser tests (tests/test_browser.py) — and for any HTML page.

No selenium or playwright: they download browsers of their own, which a machine with no network but the package
registries cannot do. Chromium itself is a Debian package (``apt-get install chromium``); this module only runs its
``--dump-dom`` and ``--screenshot`` modes and reads what they give back:

* :func:`load` — the DOM after the page's scripts ran (``--virtual-time-budget``: timers and loads are run
  through without waiting in real time), the console messages Chromium prints with ``--enable-logging=stderr``,
  and what a probe script injected into a copy of the page recorded: uncaught exceptions, unhandled promise
  rejections, ``console.error`` calls, resources that failed to load (``<script>``, ``<link>``, ``<img>``),
  values of JavaScript expressions evaluated after the page loaded, and (``open_popups=True``) the HTML of the
  tooltip and the popup of every Leaflet layer (up to ``max_popups``), hovered and clicked in turn as a person
  would (Leaflet's own ``mouseover`` and ``click`` events, so tooltips bound to a whole GeoJSON layer open too).
* :func:`screenshot` — a PNG of the page; :func:`read_png`, :func:`colour_share` and :func:`blend` to check it is
  not blank and shows the colours it should.

Chromium 156 (Debian bookworm) prints console messages on stderr like::

    [18322:18322:1126/173248.317933:INFO:CONSOLE:5] "Uncaught ReferenceError: f is not defined", source: file:///p.html (5)

— every level (log, warn, error) as ``INFO``, a text with newlines over several lines; uncaught exceptions and
rejections start with ``Uncaught``. Other versions are said to write ``INFO:CONSOLE(5)]``; both forms are parsed. A resource that fails to load is not logged there at all,
hence the probe.

Command line: ``python tests/browser.py check PAGE.html`` prints the errors and a summary;
``python tests/browser.py shot PAGE.html OUT.png [--palette]`` takes a 1400×1000 screenshot (``--palette``: 256
colours, a third of the size, for the README).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

SKIP_REASON = "Chromium not installed: apt-get install chromium"
NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
WINDOW = (1400, 1000)
#: Seconds one Chromium run may take before it is killed (a map page takes 1–3 s on 2 cores).
TIMEOUT = float(os.environ.get("GEOFACILITY_BROWSER_TIMEOUT", "15"))
#: Virtual milliseconds the page runs for: its timers fire and its loads finish (or fail) within them.
BUDGET_MS = 8000

FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--no-default-browser-check",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-extensions",
    "--disable-dev-shm-usage",  # a container's /dev/shm is small; Chromium then crashes on shared memory
    "--hide-scrollbars", "--force-device-scale-factor=1", "--mute-audio",
    "--enable-logging=stderr", "--v=0",
]

# a message may span lines (a console.log text with newlines is printed as is)
_CONSOLE = re.compile(r':INFO:CONSOLE(?::(\d+)|\((\d+)\))\] "(.*?)", source: (.*?) \((\d+)\)$',
                      flags=re.DOTALL | re.MULTILINE)
_PROBE_ID = "gf-browser-probe"


def find_chromium() -> str | None:
    """The Chromium (or Chrome) executable on PATH, or None; ``CHROMIUM`` in the environment overrides."""
    if os.environ.get("CHROMIUM"):
        return shutil.which(os.environ["CHROMIUM"])
    return next((path for path in map(shutil.which, NAMES) if path), None)


def chromium_version() -> str:
    exe = find_chromium()
    if exe is None:
        return ""
    out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=TIMEOUT)
    return out.stdout.strip()


class ChromiumError(RuntimeError):
    pass


#: Chromium with no network: every host name fails to resolve (what a machine off the internet sees)
NO_NETWORK = ["--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=http://127.0.0.1:9",
              "--proxy-bypass-list=<-loopback>"]


def run_chromium(target: str | Path, *args: str, window: tuple[int, int] = WINDOW, budget_ms: int = BUDGET_MS,
                 timeout: float = TIMEOUT, offline: bool = False) -> tuple[str, str, float]:
    """Run headless Chromium on ``target`` (a path or a URL) with ``args`` (e.g. ``--dump-dom``) in a fresh
    profile; (stdout, stderr, seconds). Killed, with its child processes, after ``timeout`` seconds.
    ``offline``: with the network cut off (:data:`NO_NETWORK`)."""
    exe = find_chromium()
    if exe is None:
        raise ChromiumError(SKIP_REASON)
    url = target if re.match(r"^[a-z]+:", str(target)) else Path(target).resolve().as_uri()
    with tempfile.TemporaryDirectory(prefix="gf-chromium-") as profile:
        command = [exe, *FLAGS, f"--user-data-dir={profile}", f"--window-size={window[0]},{window[1]}",
                   f"--virtual-time-budget={budget_ms}", *(NO_NETWORK if offline else []), *args, url]
        started = time.perf_counter()
        # a session of its own: on a timeout the whole process group (browser, zygote, renderers) is killed
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                start_new_session=True)
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
            raise ChromiumError(f"Chromium took more than {timeout:g} s on {url}; stderr:\n"
                                + _tail(err.decode("utf-8", "replace")))
        seconds = time.perf_counter() - started
    stdout, stderr = out.decode("utf-8", "replace"), err.decode("utf-8", "replace")
    if proc.returncode != 0:
        raise ChromiumError(f"Chromium exited with {proc.returncode} on {url}; stderr:\n{_tail(stderr)}")
    return stdout, stderr, seconds


_NOISE = re.compile(r"^/usr/bin/chromium: |:(ERROR|WARNING):(dbus|device/bluetooth|media/gpu|sandbox|ui/base/idle)")


def _tail(text: str, n: int = 30) -> str:
    """The last ``n`` lines of Chromium's stderr that are not its usual noise on a machine without D-Bus or GPU."""
    return "\n".join([line for line in text.splitlines() if not _NOISE.search(line)][-n:])


# ---------------------------------------------------------------------------------------------- console


@dataclass(frozen=True)
class ConsoleMessage:
    text: str
    source: str
    line: int

    @property
    def uncaught(self) -> bool:
        """An uncaught exception or unhandled promise rejection."""
        return self.text.startswith("Uncaught")

    def __str__(self) -> str:
        return f"{self.text} ({self.source}:{self.line})"


def parse_console(stderr: str) -> list[ConsoleMessage]:
    """The page's console messages in Chromium's ``--enable-logging=stderr`` output (the other log lines —
    D-Bus, GPU, sandbox warnings — are Chromium's own and ignored)."""
    messages = []
    for match in _CONSOLE.finditer(stderr):
        messages.append(ConsoleMessage(match.group(3), match.group(4), int(match.group(5))))
    return messages


# ---------------------------------------------------------------------------------------------- DOM


@dataclass
class Element:
    """A start tag of the dumped DOM: its name, attributes and (for :meth:`Dom.text`) its text."""

    tag: str
    attrs: dict[str, str]
    index: int  # position in document order
    end: int = -1  # index of the last element inside it (itself when empty)
    text: list[str] = field(default_factory=list)

    @property
    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())


_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class Dom(HTMLParser):
    """A serialized DOM parsed into a flat list of elements, each with the text directly inside it. Script and
    style contents are raw text (never elements), exactly as a browser treats them."""

    def __init__(self, source: str):
        super().__init__(convert_charrefs=True)
        self.source = source
        self.elements: list[Element] = []
        self._open: list[Element] = []
        self.feed(source)
        self.close()
        for element in self._open:
            element.end = len(self.elements) - 1

    def handle_starttag(self, tag, attrs):
        element = Element(tag, {k: "" if v is None else v for k, v in attrs}, len(self.elements))
        self.elements.append(element)
        if tag in _VOID:
            element.end = element.index
        else:
            self._open.append(element)

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in _VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag):
        for depth in range(len(self._open) - 1, -1, -1):
            if self._open[depth].tag == tag:
                for element in self._open[depth:]:
                    element.end = len(self.elements) - 1
                del self._open[depth:]
                return

    def handle_data(self, data):
        if self._open:
            self._open[-1].text.append(data)

    # queries

    def find_all(self, tag: str | None = None, *, cls: str | None = None, **attrs: str) -> list[Element]:
        """Elements by tag name, class and exact attribute values (``id_`` for ``id``, ``class_`` … likewise)."""
        attrs = {k.rstrip("_").replace("_", "-"): v for k, v in attrs.items()}
        return [e for e in self.elements
                if (tag is None or e.tag == tag) and (cls is None or cls in e.classes)
                and all(e.attrs.get(k) == v for k, v in attrs.items())]

    def by_id(self, dom_id: str) -> Element | None:
        return next((e for e in self.elements if e.attrs.get("id") == dom_id), None)

    def inside(self, element: Element) -> list[Element]:
        """The elements inside ``element`` (not itself)."""
        return self.elements[element.index + 1: element.end + 1]

    def text(self, element: Element) -> str:
        """The text content of ``element`` (entities decoded), as ``textContent`` gives it."""
        return "".join("".join(e.text) for e in [element, *self.inside(element)])


# ---------------------------------------------------------------------------------------------- pages

_PROBE = """<script>(function () {
  var record = {errors: [], values: {}, popups: [], tooltips: [], done: false};
  function save() {
    var el = document.getElementById(%(id)s);
    if (!el && document.body) {
      el = document.createElement('pre'); el.id = %(id)s; el.hidden = true; document.body.appendChild(el);
    }
    if (el) el.textContent = JSON.stringify(record);
  }
  function note(kind, text) { record.errors.push({kind: kind, text: String(text)}); save(); }
  window.addEventListener('error', function (e) {
    var t = e.target;
    if (t && t !== window && t.tagName) {
      note(t.classList && t.classList.contains('leaflet-tile') ? 'tile' : 'resource', t.tagName.toLowerCase() + ' ' + (t.currentSrc || t.src || t.href || ''));
    } else {
      note('exception', (e.message || '') + ' (' + (e.filename || '') + ':' + (e.lineno || '') + ')');
    }
  }, true);
  window.addEventListener('unhandledrejection', function (e) {
    note('rejection', e.reason && e.reason.stack ? e.reason.stack : e.reason);
  });
  var consoleError = console.error;
  console.error = function () {
    note('console.error', Array.prototype.map.call(arguments, String).join(' '));
    return consoleError.apply(console, arguments);
  };
  function maps() {
    if (!window.L || !L.Map) return [];
    return Object.keys(window).map(function (k) { try { return window[k]; } catch (e) { return null; } })
      .filter(function (v) { return v instanceof L.Map; });
  }
  function openPopups() {
    maps().slice(0, 1).forEach(function (map) {
      var all = [], popups = [], tooltips = [];
      map.eachLayer(function (layer) { all.push(layer); });
      all.forEach(function (layer) {
        var p = layer.getPopup && layer.getPopup(), t = layer.getTooltip && layer.getTooltip();
        if (p && popups.indexOf(p) < 0) { p.options.autoPan = false; popups.push(p); }
        if (t && tooltips.indexOf(t) < 0) tooltips.push(t);
      });
      function opened(overlays, into) {
        overlays.forEach(function (o) {
          if (o.isOpen() && o.getElement()) into.push(o.getContent ? o.getElement().innerHTML : '');
        });
      }
      var leaves = all.filter(function (layer) { return !(layer instanceof L.LayerGroup); });
      leaves.slice(0, %(max_popups)d).forEach(function (layer) {
        try {
          var ll = layer.getLatLng ? layer.getLatLng() : layer.getBounds ? layer.getBounds().getCenter() : null;
          if (!ll) return;
          var e = {latlng: ll, layerPoint: map.latLngToLayerPoint(ll),
                   containerPoint: map.latLngToContainerPoint(ll), originalEvent: {}};
          layer.fire('mouseover', e, true);
          opened(tooltips, record.tooltips);
          layer.fire('mouseout', e, true);
          layer.fire('click', e, true);
          opened(popups, record.popups);
          map.closePopup();
        } catch (err) { note('exception', 'hovering/clicking a layer: ' + err); }
      });
    });
  }
  window.addEventListener('load', function () {
    setTimeout(function () {
      if (%(popups)s) openPopups();
      var expressions = %(expressions)s;
      Object.keys(expressions).forEach(function (name) {
        try { record.values[name] = (0, eval)(expressions[name]); }
        catch (e) { record.values[name] = 'error: ' + e; }
      });
      record.maps = maps().length;
      record.done = true;
      save();
    }, 500);
  });
  document.addEventListener('DOMContentLoaded', save);
})();</script>"""


@dataclass
class Page:
    """What Chromium made of a page: see :func:`load`."""

    path: Path
    dom: Dom
    console: list[ConsoleMessage]
    probe: dict | None
    stderr: str
    seconds: float

    @property
    def errors(self) -> list[str]:
        """Uncaught exceptions and promise rejections (console), and what the probe saw go wrong: exceptions,
        ``console.error`` calls, resources that failed to load; the probe's own absence (the page never
        finished loading) too."""
        uncaught = [m for m in self.console if m.uncaught]
        if self.probe is None:
            return [f"console: {m}" for m in uncaught]
        found = [] if self.probe.get("done") else [
            "probe: the page's load event never came (scripts still running or stuck?)"]
        found += [f"{error['kind']}: {error['text']}" for error in self.probe.get("errors", [])
                  if error["kind"] != "tile"]
        # an uncaught exception is seen by both; the console's line is added when the probe missed it
        found += [f"console: {m}" for m in uncaught if not any(_core(m.text) in text for text in found)]
        return found

    @property
    def failed_tiles(self) -> list[str]:
        """Map tiles (``img.leaflet-tile``) that failed to load: expected with no network, so not errors."""
        return [e["text"] for e in (self.probe or {}).get("errors", []) if e["kind"] == "tile"]

    @property
    def values(self) -> dict:
        return (self.probe or {}).get("values", {})

    @property
    def popups(self) -> list[Dom]:
        """The HTML of every popup, each opened in turn (``load(..., open_popups=True)``), parsed."""
        return [Dom(text) for text in (self.probe or {}).get("popups", [])]

    @property
    def tooltips(self) -> list[Dom]:
        """The HTML of every tooltip, each opened in turn (``load(..., open_popups=True)``), parsed."""
        return [Dom(text) for text in (self.probe or {}).get("tooltips", [])]

    def title(self) -> str:
        element = next(iter(self.dom.find_all("title")), None)
        return "" if element is None else self.dom.text(element)


def _core(message: str) -> str:
    """A console message without Chromium's ``Uncaught`` / ``Uncaught (in promise)`` prefix."""
    return re.sub(r"^Uncaught (\(in promise\) )?", "", message)


def instrument(source: str, *, expressions: dict[str, str] | None = None, open_popups: bool = False,
               max_popups: int = 3000) -> str:
    """``source`` with the probe script first in ``<head>`` (or at the very start), on one line."""
    probe = _PROBE % {"id": json.dumps(_PROBE_ID), "expressions": json.dumps(expressions or {}),
                      "popups": "true" if open_popups else "false", "max_popups": max_popups}
    probe = " ".join(line.strip() for line in probe.splitlines())  # one line: the page's line numbers stay
    match = re.search(r"<head\b[^>]*>", source, flags=re.IGNORECASE)
    if match:
        return source[: match.end()] + probe + source[match.end():]
    return probe + source


def external_urls(source: str) -> list[str]:
    """The http(s) and protocol-relative URLs that ``<script src>`` and ``<link href>`` tags load: what a page
    needs the network for, bar map tiles."""
    dom = Dom(source)
    urls = [e.attrs.get("src", "") for e in dom.find_all("script")] + [e.attrs.get("href", "") for e in
                                                                      dom.find_all("link")]
    return [u for u in urls if re.match(r"^(https?:)?//", u.strip(), flags=re.IGNORECASE)]


def load(path: str | Path, *, probe: bool = True, expressions: dict[str, str] | None = None,
         open_popups: bool = False, max_popups: int = 3000, timeout: float = TIMEOUT,
         window: tuple[int, int] = WINDOW, offline: bool = False) -> Page:
    """Open the HTML page at ``path`` in headless Chromium and return the DOM after its scripts ran, with its
    console messages. ``probe``: open a copy (beside the page, so relative links still resolve) with the probe
    script injected, recording errors, ``expressions`` (name → JavaScript, evaluated after the load event) and
    the popups (``open_popups``). ``offline``: with the network cut off (:data:`NO_NETWORK`)."""
    path = Path(path).resolve()
    target, copy = path, None
    if probe:
        text = path.read_text(encoding="utf-8")
        fd, name = tempfile.mkstemp(prefix=f".{path.stem}.probe-", suffix=".html", dir=path.parent)
        copy = Path(name)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(instrument(text, expressions=expressions, open_popups=open_popups, max_popups=max_popups))
        target = copy
    try:
        stdout, stderr, seconds = run_chromium(target, "--dump-dom", timeout=timeout, window=window, offline=offline)
    finally:
        if copy is not None:
            copy.unlink(missing_ok=True)
    if copy is not None:  # messages name the page, not its probe copy
        stdout, stderr = (text.replace(copy.as_uri(), path.as_uri()) for text in (stdout, stderr))
    dom = Dom(stdout)
    record = None
    if probe:
        element = dom.by_id(_PROBE_ID)
        record = json.loads(dom.text(element)) if element is not None and dom.text(element) else {}
    return Page(path, dom, parse_console(stderr), record, stderr, seconds)


def screenshot(path: str | Path, png: str | Path, *, window: tuple[int, int] = WINDOW,
               timeout: float = TIMEOUT, offline: bool = False) -> tuple[Path, float]:
    """A PNG screenshot of the page at ``path`` (the page as it is, nothing injected); (png, seconds)."""
    png = Path(png).resolve()
    png.parent.mkdir(parents=True, exist_ok=True)
    png.unlink(missing_ok=True)
    _, stderr, seconds = run_chromium(path, f"--screenshot={png}", timeout=timeout, window=window, offline=offline)
    if not png.exists():
        raise ChromiumError(f"Chromium wrote no screenshot of {path}; stderr:\n{_tail(stderr)}")
    return png, seconds


# ---------------------------------------------------------------------------------------------- pixels


def read_png(png: str | Path):
    """The image as an (height, width, 3) uint8 numpy array, read with Pillow or else matplotlib; None when
    neither is installed."""
    import numpy as np

    try:
        from PIL import Image
    except ImportError:
        try:
            from matplotlib import image as mpimg
        except ImportError:
            return None
        pixels = mpimg.imread(str(png))
        if pixels.dtype != np.uint8:
            pixels = np.round(pixels * 255).astype(np.uint8)
        return pixels[..., :3] if pixels.ndim == 3 else np.repeat(pixels[..., None], 3, axis=2)
    with Image.open(png) as image:
        return np.asarray(image.convert("RGB"))


def hex_rgb(colour: str) -> tuple[int, int, int]:
    colour = colour.lstrip("#")
    return tuple(int(colour[i: i + 2], 16) for i in (0, 2, 4))


def blend(colour: str, opacity: float, background: str = "#dddddd") -> tuple[float, float, float]:
    """What ``colour`` at ``opacity`` looks like over ``background`` (Leaflet's map background is #ddd)."""
    fg, bg = hex_rgb(colour), hex_rgb(background)
    return tuple(opacity * f + (1 - opacity) * b for f, b in zip(fg, bg))


def colour_share(pixels, rgb, tolerance: float = 12.0) -> float:
    """The share of pixels within ``tolerance`` (per channel) of ``rgb`` (a tuple or a hex string)."""
    import numpy as np

    target = np.asarray(hex_rgb(rgb) if isinstance(rgb, str) else rgb, dtype=float)
    close = (np.abs(pixels.astype(float) - target) <= tolerance).all(axis=-1)
    return float(close.mean())


def distinct_colours(pixels) -> int:
    import numpy as np

    flat = pixels.reshape(-1, 3).astype(np.uint32)
    return len(np.unique((flat[:, 0] << 16) | (flat[:, 1] << 8) | flat[:, 2]))


def _main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python tests/browser.py", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check", help="load a page; print its errors and what it holds")
    check.add_argument("page")
    shot = sub.add_parser("shot", help="screenshot a page")
    shot.add_argument("page")
    shot.add_argument("png")
    shot.add_argument("--palette", action="store_true", help="quantise to 256 colours (Pillow) to shrink it")
    args = parser.parse_args(argv)
    if find_chromium() is None:
        print(SKIP_REASON)
        return 2
    if args.command == "check":
        page = load(args.page)
        print(f"{chromium_version()}: {args.page} in {page.seconds:.1f} s; title {page.title()!r}; "
              f"{len(page.dom.elements)} elements; {len(page.console)} console messages")
        for message in page.console:
            print("  console:", message)
        for error in page.errors:
            print("  ERROR", error)
        return 1 if page.errors else 0
    png, seconds = screenshot(args.page, args.png)
    if args.palette:
        from PIL import Image

        with Image.open(png) as image:
            image.convert("RGB").quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(
                png, optimize=True)
    print(f"{png}: {png.stat().st_size / 1000:.0f} kB in {seconds:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
