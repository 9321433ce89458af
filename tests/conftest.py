"""Shared fixtures: a 3×3 grid of 500 m blocks whose answers can be checked by hand."""
from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from hypothesis import settings as hypothesis_settings
from hypothesis.configuration import set_hypothesis_home_dir

ROOT = Path(__file__).resolve().parent.parent

# hypothesis keeps no example database and no cache in the checkout (tests leave no files behind; the property
# tests are derandomised, so a database would not change what runs)
set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "geofacility-hypothesis")
hypothesis_settings.register_profile("geofacility", database=None)
hypothesis_settings.load_profile("geofacility")

X0, Y0 = 440_000.0, 4_420_000.0  # UTM 50N (EPSG:32650), in Beijing
CRS = "EPSG:32650"
BLOCK = 500.0


def block(col: int, row: int):
    """The block in column ``col`` (1–3, west→east) and row ``row`` (1–3, south→north)."""
    x = X0 + (col - 1) * BLOCK
    y = Y0 + (row - 1) * BLOCK
    return shapely.box(x, y, x + BLOCK, y + BLOCK)


def centre(col: int, row: int) -> tuple[float, float]:
    return X0 + (col - 0.5) * BLOCK, Y0 + (row - 0.5) * BLOCK


@pytest.fixture
def grid_communities() -> gpd.GeoDataFrame:
    """C<col><row>; population 1000 × (index in reading order 1..9); households = population / 2.5;
    columns 1–2 in town 东街道, column 3 in 西街道."""
    rows = []
    k = 0
    for row in (1, 2, 3):
        for col in (1, 2, 3):
            k += 1
            rows.append({
                "community_id": f"C{col}{row}",
                "community": f"社区{col}{row}",
                "town": "西街道" if col == 3 else "东街道",
                "population": 1000.0 * k,
                "households": 400.0 * k,
                "geometry": block(col, row),
            })
    return gpd.GeoDataFrame(rows, crs=CRS)


@pytest.fixture
def grid_facilities() -> gpd.GeoDataFrame:
    """Two primary schools: A at the centre of C22, B at the centre of C33."""
    return gpd.GeoDataFrame(
        {
            "facility_id": ["A", "B"],
            "name": ["学校A", "学校B"],
            "category": ["education", "education"],
            "subcategory": ["primary_school", "primary_school"],
            "floor_area_m2": [float("nan"), float("nan")],
        },
        geometry=[shapely.Point(centre(2, 2)), shapely.Point(centre(3, 3))],
        crs=CRS,
    )


def write_grid_files(tmp_path, communities: gpd.GeoDataFrame, facilities: gpd.GeoDataFrame):
    """The fixture as files a planner would have: communities GeoJSON (WGS84), facilities CSV with lon/lat."""
    comm_path = tmp_path / "communities.geojson"
    communities.to_crs(4326).to_file(comm_path, driver="GeoJSON")
    fac = facilities.to_crs(4326)
    frame = pd.DataFrame(fac.drop(columns="geometry"))
    frame["lon"] = fac.geometry.x
    frame["lat"] = fac.geometry.y
    fac_path = tmp_path / "facilities.csv"
    frame.to_csv(fac_path, index=False)
    return comm_path, fac_path


def need(module: str):
    """Import a test dependency. Where it is missing the test is skipped — except under CI (``CI=true``, set by
    .ci/run), where a cross-check that silently stopped running would make the README's claims unfounded: there
    it fails."""
    import importlib
    import os

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        if os.environ.get("CI", "").strip().lower() in ("1", "true", "yes"):
            pytest.fail(f"test dependency {module} is missing under CI ({exc}); install the test extras: "
                        'pip install -e ".[test]"', pytrace=False)
        pytest.skip(f"{module} is not installed ({exc})")


# ------------------------------------------------------------------------- the checkout is left as it was found

#: what may appear in the checkout while the tests run: Python's bytecode caches and the install's metadata
_TOLERATED = ("__pycache__/", ".egg-info/")


def _untracked() -> set[str] | None:
    """Untracked and ignored paths of the checkout (None outside a git checkout, e.g. an unpacked sdist)."""
    try:
        out = subprocess.run(["git", "status", "--porcelain", "--ignored", "--untracked-files=all"], cwd=ROOT,
                             capture_output=True, text=True, timeout=60, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    paths = {line[3:] for line in out.splitlines() if line[:2] in ("??", "!!")}
    return {p for p in paths if not any(t in p for t in _TOLERATED)}


def pytest_sessionstart(session):
    session.config._checkout_before = _untracked()


def pytest_sessionfinish(session, exitstatus):
    """Fail the run when the tests left files in the checkout (they write under tmp_path only)."""
    before = getattr(session.config, "_checkout_before", None)
    after = _untracked()
    if before is None or after is None or hasattr(session.config, "workerinput"):
        return
    left = sorted(after - before)
    if left:
        session.config._checkout_left = left
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    left = getattr(config, "_checkout_left", None)
    if left:
        terminalreporter.write_sep("=", "the tests left files in the checkout (write under tmp_path instead)",
                                   red=True, bold=True)
        for path in left[:20]:
            terminalreporter.write_line(f"  {path}")


def assert_warnings_in_chinese(warnings) -> None:
    """Every warning has a Chinese text (``message_zh``, what the 警告 sheets show first) with no untranslated
    English sentence in it (file names, column names and quoted input values may be English)."""
    import re

    from geofacility.errors import english_sentences, message_zh

    bad = []
    for record in warnings.to_dict("records"):
        zh = message_zh(record)
        if not re.search(r"[\u4e00-\u9fff]", zh) or english_sentences(zh):
            bad.append(f"{record.get('file')} row {record.get('row')}: {zh!r} {english_sentences(zh)}")
    assert not bad, "warnings without a Chinese text:\n" + "\n".join(bad)
