"""Run the bundled studies and compare two runs' outputs: the check that a change of structure changed no result.

    python scripts/compare_outputs.py run DIR          # write the studies' outputs into DIR (about a minute)
    python scripts/compare_outputs.py diff BEFORE AFTER

``run`` writes, with this checkout's geofacility: ``xicheng/`` (``geofacility analyze`` on the bundled sample),
``helsinki/`` (Helsinki on foot: buildings, facilities and the OSM walking network), ``batch/`` (the sample by
street, ``geofacility batch --by town``) and ``sites/`` (``geofacility sites select`` on the sample's rooms).

``diff`` compares every output file the two folders share and lists those only one has:

* ``*.csv``, ``*.html``, ``*.md``, ``*.json``: byte for byte — except ``run*.json`` (times and paths) and batch's
  ``manifest.json`` (its groups' fingerprints, which hash the input paths: a resume cache, not a result);
* ``*.xlsx``: every cell value of every sheet (the files hold their time of writing);
* ``*.gpkg``: every layer's columns, values and geometries (WKB), in row order.

The bundled sample's inputs are named by their absolute paths in some outputs (the warnings' and input rows'
``file``, ``source_file``): each run records its checkout in ``DIR/.checkout``, and ``diff`` reads both runs'
paths as the same ``<checkout>``, so that two checkouts of the same code compare equal.

It exits 1 and names each difference, or prints the number of files found identical.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"

STUDIES = {
    "xicheng": ["analyze"],
    "helsinki": ["analyze", "--communities", str(DATA / "helsinki/blocks.geojson"),
                 "--facilities", str(DATA / "helsinki/facilities.csv"),
                 "--demand", str(DATA / "helsinki/buildings.csv"),
                 "--network", str(DATA / "helsinki/helsinki.osm.pbf")],
    "batch": ["batch", "--by", "town"],
    "sites": ["sites", "select", "--candidates", str(DATA / "xicheng/candidate_rooms.csv"),
              "--category", "community_service",
              "--facilities", f"community_service={DATA / 'xicheng/community_rooms_existing.csv'}",
              "--standard", "community_service=community_rooms_beijing", "--k", "10"],
}


def run(folder: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    folder.mkdir(parents=True, exist_ok=True)
    (folder / ".checkout").write_text(str(ROOT), encoding="utf-8")
    for name, args in STUDIES.items():
        out = folder / name
        print(f"{name}: geofacility {' '.join(args[:2])} …", flush=True)
        subprocess.run([sys.executable, "-m", "geofacility.cli", *args, "--out", str(out), "--quiet"], check=True,
                       env=env)


def _neutral(value, checkout: str):
    """A value with the run's checkout path read as ``<checkout>``."""
    if isinstance(value, str) and checkout:
        return value.replace(checkout, "<checkout>")
    return value


def _xlsx_cells(path: Path, checkout: str) -> dict:
    from openpyxl import load_workbook

    book = load_workbook(path)
    return {ws.title: [[_neutral(cell.value, checkout) for cell in row] for row in ws.iter_rows()]
            for ws in book.worksheets}


def _gpkg_layers(path: Path, checkout: str) -> dict:
    import pyogrio

    layers = {}
    for name, _ in pyogrio.list_layers(path):
        frame = pyogrio.read_dataframe(path, layer=name)
        geometry = frame.geometry.to_wkb().tolist() if "geometry" in frame else None
        columns = [c for c in frame.columns if c != "geometry"]
        values = frame[columns].astype(object).where(frame[columns].notna(), None).values.tolist()
        layers[name] = (columns, [[_neutral(v, checkout) for v in row] for row in values], geometry)
    return layers


def _text(path: Path, checkout: str) -> bytes:
    data = path.read_bytes()
    if not checkout:
        return data
    for form in (checkout, checkout.replace("/", "\\/"), json.dumps(checkout)[1:-1]):  # as written, in JSON, in HTML
        data = data.replace(form.encode("utf-8"), b"<checkout>")
    return data


def same(a: Path, b: Path, roots: tuple[str, str]) -> bool:
    if a.suffix == ".xlsx":
        return _xlsx_cells(a, roots[0]) == _xlsx_cells(b, roots[1])
    if a.suffix == ".gpkg":
        return _gpkg_layers(a, roots[0]) == _gpkg_layers(b, roots[1])
    return _text(a, roots[0]) == _text(b, roots[1])


def _checkout(folder: Path) -> str:
    marker = folder / ".checkout"
    return marker.read_text(encoding="utf-8").strip() if marker.exists() else ""


def compared(folder: Path) -> set[Path]:
    skip = {".png"}  # figures: their bytes follow the matplotlib/FreeType versions (maps/ checks what they draw)
    return {p.relative_to(folder) for p in folder.rglob("*") if p.is_file() and p.suffix not in skip
            and not p.name.startswith("run") and not p.name.startswith(".") and p.name != "manifest.json"}


def diff(before: Path, after: Path) -> int:
    left, right = compared(before), compared(after)
    problems = [f"only in {before}: {p}" for p in sorted(left - right)]
    problems += [f"only in {after}: {p}" for p in sorted(right - left)]
    shared = sorted(left & right)
    roots = (_checkout(before), _checkout(after))
    problems += [f"differs: {p}" for p in shared if not same(before / p, after / p, roots)]
    for line in problems:
        print(line)
    if not problems:
        print(f"{len(shared)} files identical")
    return 1 if problems else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run").add_argument("folder", type=Path)
    d = sub.add_parser("diff")
    d.add_argument("before", type=Path)
    d.add_argument("after", type=Path)
    args = parser.parse_args(argv)
    if args.command == "run":
        run(args.folder.resolve())
        return 0
    return diff(args.before, args.after)


if __name__ == "__main__":
    sys.exit(main())
