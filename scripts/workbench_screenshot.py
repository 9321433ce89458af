"""The README's screenshot of the what-if workbench (docs/img/workbench.png): the bundled Xicheng sample, community
service rooms against Beijing's rule, three rooms built by clicks in headless Chromium (tests/cdp.py), 256 colours.

    python scripts/workbench_screenshot.py [OUT.png]

A machine without CJK fonts would draw the Chinese as boxes: Chromium is pointed (FONTCONFIG_FILE, for its process
only) at the Noto Sans CJK that geofacility installs for its figures (mpl-font).
"""
from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from geofacility.figures.fonts import packaged_cjk_fonts  # noqa: E402
from geofacility.pipeline import analyze  # noqa: E402
from geofacility.study import sample_dir, sample_inputs  # noqa: E402
from geofacility.selection import read_rooms  # noqa: E402
from geofacility.workbench.model import Workbench  # noqa: E402
from geofacility.workbench.server import Background  # noqa: E402

CATEGORY = "community_service"
ROOMS = ("XCR038", "XCR021", "XCR015")


def main(out: Path) -> None:
    import cdp
    from PIL import Image

    with tempfile.TemporaryDirectory(prefix="gf-shot-") as tmp:
        fonts = sorted({str(p.parent) for p in packaged_cjk_fonts()})
        conf = Path(tmp) / "fonts.conf"
        conf.write_text('<?xml version="1.0"?><fontconfig>' + "".join(f"<dir>{d}</dir>" for d in fonts)
                        + '<include ignore_missing="yes">/etc/fonts/fonts.conf</include></fontconfig>',
                        encoding="utf-8")
        os.environ["FONTCONFIG_FILE"] = str(conf)
        d = sample_dir()
        kw = sample_inputs()
        kw["facilities"] = kw["facilities"] + [(d / "community_rooms_existing.csv", CATEGORY)]
        analysis = analyze(**kw, standard_choices={CATEGORY: ["community_rooms_beijing"]})
        analysis, rooms = read_rooms(analysis, d / "candidate_rooms.csv", CATEGORY)
        running = Background(Workbench(analysis, rooms, out=Path(tmp) / "wb"))
        try:
            with cdp.Browser(timeout=120, window=(1400, 900)) as chrome:
                page = chrome.open(f"{running.url}&category={CATEGORY}")
                page.evaluate("window.workbench.ready")
                for room in ROOMS:
                    page.evaluate(f"window.workbench.clickCandidate({room!r})")
                # a click opens the room's tooltip (there is no mouse to move away): closed for the picture
                page.evaluate("window.workbench.map.eachLayer(function (l) { if (l.closeTooltip) l.closeTooltip(); }); true")
                png = page.screenshot()
        finally:
            running.stop()
    out.parent.mkdir(parents=True, exist_ok=True)
    raw = Path(str(out) + ".raw.png")
    raw.write_bytes(png)
    with Image.open(raw) as image:
        image.convert("RGB").quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(
            out, optimize=True)
    raw.unlink()
    print(f"{out}: {out.stat().st_size / 1000:.0f} kB")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "img" / "workbench.png")
