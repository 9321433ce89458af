"""Write maps/: the bundled Xicheng sample's rendered maps, as `geofacility analyze` and `geofacility map` draw them.

    python scripts/make_maps.py            # into <repo>/maps (a few seconds)

What it writes (the sample surveys one category, education — its primary schools):

* ``map.html`` — the coverage-and-gaps map of every surveyed category (``geofacility analyze``'s map.html);
* ``<category>_map.html`` — each surveyed category's special-plan map (``geofacility map --category``);
* ``<category>_map.png``, ``town_uncovered.png`` — the printable figures (``geofacility map``'s PNGs);
* ``manifest.json`` — the geofacility version; per HTML page its SHA-256; per PNG the SHA-256 of its bytes and of
  **what it draws** (:func:`drawn_sha256`: every text and the coordinates, colours and sizes of every mark).

tests/test_maps_folder.py regenerates the pages and compares them byte for byte, and recomputes what each figure
draws: a change of code or data that changes a map fails it with "maps/ is stale: run python scripts/make_maps.py".
The PNG bytes themselves are not compared (they change with the matplotlib and FreeType versions, not only with the
map), only checked against the manifest.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run from a checkout: this checkout's geofacility
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

import geofacility  # noqa: E402
from geofacility import figures, maps  # noqa: E402
from geofacility.pipeline import analyze  # noqa: E402
from geofacility.study import sample_inputs  # noqa: E402

FOLDER = ROOT / "maps"
STALE = "maps/ is stale: run python scripts/make_maps.py"


def sample_analysis():
    """The bundled sample analysed as `geofacility analyze` (no options) analyses it."""
    return analyze(**sample_inputs())


def pages(analysis) -> dict[str, str]:
    """The HTML pages by file name (Leaflet inlined, OpenStreetMap tiles: the files geofacility writes)."""
    out = {"map.html": maps.render_html(maps.build_map(analysis))}
    for category in figures._surveyed(analysis):
        out[f"{category}_map.html"] = maps.render_html(maps.build_map(analysis, category=category))
    return out


def plots(analysis) -> dict:
    """The figures by PNG file name, built but not drawn."""
    out = {f"{category}_map.png": figures.category_figure(analysis, category)
           for category in figures._surveyed(analysis)}
    out["town_uncovered.png"] = figures.town_bar_figure(analysis)
    return out


def _round(values, decimals: int) -> list:
    array = np.asarray(values, dtype=float)
    return np.round(array, decimals).tolist() if array.size else []


def drawn(fig) -> dict:
    """What ``fig`` draws, independent of how it is rasterised: every text (in the order matplotlib holds them),
    and per axes every mark — collections (paths, offsets, sizes, colours), lines, patches and text positions in
    data coordinates (metres on the maps, rounded to 0.1)."""
    from matplotlib.collections import Collection
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch
    from matplotlib.text import Text

    texts = [t.get_text() for t in fig.findobj(Text) if t.get_text()]
    axes = []
    for ax in fig.axes:
        marks = []
        for artist in ax.get_children():
            if isinstance(artist, Collection):
                marks.append({"kind": "collection",
                              "paths": [_round(p.vertices, 1) for p in artist.get_paths()],
                              "offsets": _round(artist.get_offsets(), 1), "sizes": _round(getattr(artist, "get_sizes", list)(), 3),
                              "face": _round(artist.get_facecolor(), 4), "edge": _round(artist.get_edgecolor(), 4),
                              "widths": _round(artist.get_linewidths(), 3)})
            elif isinstance(artist, Line2D):
                marks.append({"kind": "line", "xy": _round(artist.get_xydata(), 1),
                              "colour": str(artist.get_color()), "marker": str(artist.get_marker())})
            elif isinstance(artist, Patch) and artist is not ax.patch:
                vertices = artist.get_patch_transform().transform(artist.get_path().vertices)
                marks.append({"kind": "patch", "xy": _round(vertices, 1), "face": _round(artist.get_facecolor(), 4)})
            elif isinstance(artist, Text) and artist.get_text():
                marks.append({"kind": "text", "text": artist.get_text(), "xy": _round(artist.get_position(), 1)})
        axes.append({"gid": ax.get_gid(), "xlim": _round(ax.get_xlim(), 1), "ylim": _round(ax.get_ylim(), 1),
                     "marks": marks})
    return {"texts": texts, "axes": axes}


def drawn_sha256(fig) -> str:
    return hashlib.sha256(json.dumps(drawn(fig), ensure_ascii=False, sort_keys=True).encode("utf-8")).hexdigest()


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def expected(analysis=None) -> tuple[dict[str, bytes], dict[str, str]]:
    """(the HTML pages' bytes by name, what each PNG draws by name: its :func:`drawn_sha256`)."""
    analysis = analysis if analysis is not None else sample_analysis()
    html = {name: text.encode("utf-8") for name, text in pages(analysis).items()}
    return html, {name: drawn_sha256(fig) for name, fig in plots(analysis).items()}


def manifest(html: dict[str, bytes], png_drawn: dict[str, str], png_bytes: dict[str, bytes]) -> dict:
    return {
        "geofacility": geofacility.__version__,
        "command": "python scripts/make_maps.py",
        "sample": "data/xicheng (geofacility.study.sample_inputs)",
        "html": {name: {"sha256": _sha(data)} for name, data in sorted(html.items())},
        "png": {name: {"sha256": _sha(png_bytes[name]), "drawn_sha256": png_drawn[name]}
                for name in sorted(png_drawn)},
    }


def make_maps(out: Path = FOLDER) -> dict[str, Path]:
    """Write maps/ (or ``out``): the pages, the PNGs (with geofacility.figures' settings: 200 dpi, no date) and the
    manifest; files of earlier runs that are no longer made are removed."""
    from geofacility.atomic import atomic_path

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    analysis = sample_analysis()
    html, png_drawn = expected(analysis)
    written = {}
    for name, data in html.items():
        with atomic_path(out / name) as tmp:
            Path(tmp).write_bytes(data)
        written[name] = out / name
    for name, fig in plots(analysis).items():
        written.update(figures._save(fig, out / Path(name).stem, ("png",), 200, figures._title_of(fig)))
    png_bytes = {name: (out / name).read_bytes() for name in png_drawn}
    with atomic_path(out / "manifest.json") as tmp:
        Path(tmp).write_text(json.dumps(manifest(html, png_drawn, png_bytes), ensure_ascii=False, indent=1,
                                        sort_keys=True) + "\n", encoding="utf-8")
    written["manifest.json"] = out / "manifest.json"
    for path in out.iterdir():
        if path.is_file() and path.name not in written and path.suffix in (".html", ".png", ".json"):
            path.unlink()
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=FOLDER, help="folder to write (default: <repo>/maps)")
    args = parser.parse_args(argv)
    written = make_maps(args.out)
    total = sum(p.stat().st_size for p in written.values())
    for name, path in sorted(written.items()):
        print(f"{path}: {path.stat().st_size / 1e6:.2f} MB")
    print(f"{len(written)} files, {total / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
