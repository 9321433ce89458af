"""maps/ — the bundled sample's rendered maps (scripts/make_maps.py) — is what the code draws now.

The HTML pages are regenerated and compared byte for byte; the PNGs by what they draw (every text, every mark's
coordinates and colours: scripts/make_maps.py ``drawn_sha256``) against maps/manifest.json, whose PNG hashes must
also be those of the committed files. Any difference fails with "maps/ is stale: run python scripts/make_maps.py".
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
from dataclasses import replace
from pathlib import Path

import pytest

import geofacility
from geofacility import figures

ROOT = Path(__file__).resolve().parents[1]
FOLDER = ROOT / "maps"


@pytest.fixture(scope="module")
def make():
    spec = importlib.util.spec_from_file_location("make_maps", ROOT / "scripts" / "make_maps.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def analysis(make):
    return make.sample_analysis()


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_maps_folder_is_current(make, analysis):
    stale = make.STALE
    assert (FOLDER / "manifest.json").is_file(), f"{stale} (no maps/manifest.json)"
    manifest = json.loads((FOLDER / "manifest.json").read_text(encoding="utf-8"))
    html, drawn = make.expected(analysis)
    files = sorted(p.name for p in FOLDER.iterdir() if p.is_file())
    assert files == sorted([*html, *drawn, "manifest.json"]), f"{stale} (files {files})"
    assert sum((FOLDER / name).stat().st_size for name in files) < 15e6  # a folder a repository can carry
    for name, data in html.items():
        assert (FOLDER / name).read_bytes() == data, f"{stale} ({name} differs from what the code draws now)"
        assert manifest["html"][name]["sha256"] == hashlib.sha256(data).hexdigest(), f"{stale} (manifest.json)"
    assert manifest["geofacility"] == geofacility.__version__, f"{stale} (made by geofacility " \
                                                               f"{manifest['geofacility']})"
    for name in drawn:  # the committed PNG is the one the manifest describes
        assert _sha(FOLDER / name) == manifest["png"][name]["sha256"], f"{stale} ({name} is not manifest.json's)"
    if figures.cjk_font() != figures.PACKAGED_CJK_FAMILY:
        pytest.skip(f"the figures are drawn without {figures.PACKAGED_CJK_FAMILY} (English only): what they draw "
                    "cannot match maps/, made with it")
    for name, sha in drawn.items():
        assert manifest["png"][name]["drawn_sha256"] == sha, f"{stale} ({name} would draw other data)"


def test_a_change_of_data_makes_maps_stale(make, analysis):
    """The check can fail: one school fewer changes the pages and what the education figure draws; 100 more
    people uncovered in one community change the per-street bar chart."""
    html, drawn = make.expected(analysis)
    fewer = replace(analysis, facilities=analysis.facilities.iloc[1:])
    html2, drawn2 = make.expected(fewer)
    assert html2["education_map.html"] != html["education_map.html"] and html2["map.html"] != html["map.html"]
    assert drawn2["education_map.png"] != drawn["education_map.png"]
    comm = analysis.communities.copy()
    comm.loc[comm.index[0], "education_uncovered_population"] += 100
    _, drawn3 = make.expected(replace(analysis, communities=comm))
    assert drawn3["town_uncovered.png"] != drawn["town_uncovered.png"]
