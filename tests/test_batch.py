"""Batch runs per town: equal to the whole-area run, safe folders, resilient, skip unchanged, Dask identical."""
from __future__ import annotations

import json

import geopandas as gpd
import pandas as pd
import pytest
import shapely

from conftest import CRS, X0, Y0, write_grid_files
from geofacility.batch import batch, safe_name
from geofacility.pipeline import analyze


@pytest.fixture
def grid_inputs(tmp_path, grid_communities, grid_facilities):
    """The 3×3 grid: columns 1–2 in 东街道, column 3 in 西街道. School A (centre of C22) is in 东街道 and covers
    C32 (西街道) at 500 m: a facility just across the town boundary serving homes on the other side."""
    comm, fac = write_grid_files(tmp_path, grid_communities, grid_facilities)
    return {"communities": comm, "facilities": [fac], "radius": {"education": 520}}


def test_group_rows_equal_the_whole_area_run(tmp_path, grid_inputs):
    whole = analyze(**grid_inputs)
    result = batch(by="town", out=tmp_path / "out", **grid_inputs)
    assert set(result.summary["group"]) == {"东街道", "西街道"}
    for town in ("东街道", "西街道"):
        group = pd.read_csv(tmp_path / "out" / town / "ledger.csv", encoding="utf-8-sig")
        ref = whole.communities[whole.communities["town"] == town]
        assert list(group["community_id"]) == list(ref["community_id"])
        for col in ("education_covered_share", "education_current_count", "education_status"):
            assert list(group[col]) == list(ref[col].round(4) if col.endswith("share") else ref[col]), col
    west = pd.read_csv(tmp_path / "out" / "西街道" / "ledger.csv", encoding="utf-8-sig").set_index("community_id")
    assert west.loc["C32", "education_covered_share"] > 0.5  # served from across the boundary
    roll = result.summary.set_index(["group", "category"])
    assert roll.loc[("东街道", "education"), "communities"] == 6
    assert roll.loc[("西街道", "health"), "communities_short"] is pd.NA  # not surveyed


def test_rerun_skips_unchanged_groups_and_force_redoes(tmp_path, grid_inputs):
    first = batch(by="town", out=tmp_path / "out", **grid_inputs)
    assert first.skipped == []
    again = batch(by="town", out=tmp_path / "out", **grid_inputs)
    assert sorted(again.skipped) == ["东街道", "西街道"]
    assert again.summary.equals(first.summary)
    forced = batch(by="town", out=tmp_path / "out", force=True, **grid_inputs)
    assert forced.skipped == []
    changed = batch(by="town", out=tmp_path / "out", **{**grid_inputs, "radius": {"education": 600}})
    assert changed.skipped == []  # a setting changed: every group is redone


def test_failing_group_is_reported_and_others_complete(tmp_path, grid_inputs):
    out = tmp_path / "out"
    out.mkdir()
    (out / "西街道").write_text("a file where the group's folder should go")
    result = batch(by="town", out=out, **grid_inputs)
    assert result.failed == ["西街道"]
    failed = result.summary[result.summary["group"] == "西街道"]
    assert (failed["status"] == "failed").all() and failed["error"].str.len().iloc[0] > 0
    assert (out / "东街道" / "ledger.xlsx").exists()
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["groups"]["西街道"]["status"] == "failed"


@pytest.mark.parametrize("name,expected", [
    ("什刹海街道", "什刹海街道"),
    ("../../etc/passwd", "____etc_passwd"),
    ("a/b\\c", "a_b_c"),
    ("..", "_"),
    ("", "_"),
    ("CON", "_CON"),
    ("西城区/什刹海..", "西城区_什刹海_"),
])
def test_safe_folder_names(name, expected):
    assert safe_name(name) == expected


def test_hostile_group_name_stays_inside_the_output(tmp_path, grid_communities, grid_facilities):
    grid_communities["town"] = ["../逃逸/x"] * 9
    comm, fac = write_grid_files(tmp_path, grid_communities, grid_facilities)
    out = tmp_path / "out"
    result = batch(by="town", out=out, communities=comm, facilities=[fac])
    folder = result.summary["folder"].iloc[0]
    assert (out / folder / "ledger.csv").exists() and "/" not in folder and ".." not in folder
    assert not (tmp_path / "逃逸").exists()


def test_two_dask_workers_give_byte_identical_ledgers(tmp_path, grid_inputs):
    pytest.importorskip("dask.distributed")
    one = batch(by="town", out=tmp_path / "w1", **grid_inputs)
    two = batch(by="town", out=tmp_path / "w2", workers=2, **grid_inputs)
    assert one.summary.drop(columns=[]).equals(two.summary)
    for town in ("东街道", "西街道"):
        assert (tmp_path / "w1" / town / "ledger.csv").read_bytes() == (tmp_path / "w2" / town / "ledger.csv") \
            .read_bytes()
        assert (tmp_path / "w1" / town / "map.html").read_bytes() == (tmp_path / "w2" / town / "map.html") \
            .read_bytes()
    assert (tmp_path / "w1" / "summary.csv").read_bytes() == (tmp_path / "w2" / "summary.csv").read_bytes()
