"""Batch runs per town: equal to the whole-area run, safe folders, resilient, skip unchanged, Dask identical."""
from __future__ import annotations

import json

import geopandas as gpd
import pandas as pd
import pytest
import shapely

from conftest import CRS, need, write_grid_files
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
    # people and counts are whole numbers in summary.csv (East: 1+2+4+5+7+8 thousand people), not 27000.0
    text = (tmp_path / "out" / "summary.csv").read_text(encoding="utf-8-sig")
    east = pd.read_csv(tmp_path / "out" / "summary.csv", encoding="utf-8-sig", dtype=str)
    east = east[(east["group"] == "东街道") & (east["category"] == "education")].iloc[0]
    assert east["population"] == "27000" and east["communities"] == "6" and ".0," not in text.split("\n", 1)[1]


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
    need("dask.distributed")
    one = batch(by="town", out=tmp_path / "w1", **grid_inputs)
    two = batch(by="town", out=tmp_path / "w2", workers=2, **grid_inputs)
    assert one.summary.drop(columns=[]).equals(two.summary)
    for town in ("东街道", "西街道"):
        assert (tmp_path / "w1" / town / "ledger.csv").read_bytes() == (tmp_path / "w2" / town / "ledger.csv") \
            .read_bytes()
        assert (tmp_path / "w1" / town / "map.html").read_bytes() == (tmp_path / "w2" / town / "map.html") \
            .read_bytes()
    assert (tmp_path / "w1" / "summary.csv").read_bytes() == (tmp_path / "w2" / "summary.csv").read_bytes()


@pytest.fixture(scope="module")
def synthetic_files(tmp_path_factory):
    """A small synthetic city (9 towns of up to 16 communities, a street grid with dead ends and islands)."""
    from geofacility.synth import synthetic_city

    city = synthetic_city(n_nodes_side=34, n_demand=6_000, facilities_per_category=15, block_side=3, seed=3)
    return city.write(tmp_path_factory.mktemp("synth"))


@pytest.mark.parametrize("on_foot", [False, True], ids=["straight", "walking"])
def test_every_group_ledger_row_equals_the_whole_run(tmp_path, synthetic_files, on_foot):
    """Every column of every group's ledger.csv equals the whole-area ledger, on a city where many facilities
    serve homes across town boundaries — on foot too, where each group gets the network clipped around it."""
    from geofacility.ledger import write_ledger

    inputs = {"communities": synthetic_files["communities"], "facilities": [synthetic_files["facilities"]],
              "demand": synthetic_files["demand"]}
    if on_foot:
        inputs["network"] = synthetic_files["network"]
    whole = analyze(**inputs)
    write_ledger(whole, tmp_path / "whole")
    result = batch(by="town", out=tmp_path / "out", **inputs)
    assert result.failed == [] and len(result.summary["group"].unique()) == whole.communities["town"].nunique() == 9
    parts = pd.concat([pd.read_csv(tmp_path / "out" / f / "ledger.csv", encoding="utf-8-sig", dtype=str,
                                   keep_default_na=False) for f in sorted(result.summary["folder"].unique())])
    expected = pd.read_csv(tmp_path / "whole" / "ledger.csv", encoding="utf-8-sig", dtype=str, keep_default_na=False)
    parts = parts.sort_values("community_id").reset_index(drop=True)
    expected = expected.sort_values("community_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(parts[expected.columns], expected)
    shares = expected[[c for c in expected.columns if c.endswith("_covered_share")]].apply(pd.to_numeric)
    assert ((shares > 0) & (shares < 1)).sum().sum() > 150  # the comparison is not of empty or trivial columns


def test_batch_writes_one_geopackage_of_every_group(tmp_path, grid_inputs):
    result = batch(by="town", out=tmp_path / "out", **grid_inputs)
    layer = gpd.read_file(result.paths["gpkg"], layer="communities")
    assert sorted(layer["community_id"]) == sorted(f"C{c}{r}" for c in (1, 2, 3) for r in (1, 2, 3))
    assert (layer.loc[layer["town"] == "西街道", "group"] == "西街道").all()
    assert layer.geometry.area.round(0).eq(500 * 500).all()
    again = batch(by="town", out=tmp_path / "out", **grid_inputs)  # skipped groups are still in it
    assert sorted(again.skipped) == ["东街道", "西街道"]
    assert len(gpd.read_file(again.paths["gpkg"], layer="communities")) == 9


def test_communities_outside_the_survey_extent_are_not_surveyed(tmp_path, grid_inputs):
    """School data exist for 东街道 only (columns 1–2): 西街道 reads "not surveyed", not "short of schools"."""
    from conftest import block

    extent = tmp_path / "extent.geojson"
    gpd.GeoDataFrame(geometry=[shapely.union_all([block(c, r) for c in (1, 2) for r in (1, 2, 3)])],
                     crs=CRS).to_file(extent)
    inputs = {**grid_inputs, "survey_extent": {"education": extent}}
    whole = analyze(**inputs).communities.set_index("community_id")
    assert (whole.loc[["C31", "C32", "C33"], "education_status"] == "not_surveyed").all()
    assert whole.loc["C32", "education_problem"] == "未调查（在调查范围外）"
    assert whole.loc[["C31", "C32", "C33"], "education_covered_share"].isna().all()
    plain = analyze(**grid_inputs).communities.set_index("community_id")
    inside = [f"C{c}{r}" for c in (1, 2) for r in (1, 2, 3)]
    pd.testing.assert_frame_equal(whole.loc[inside].filter(like="education_"),
                                  plain.loc[inside].filter(like="education_"))
    assert (whole["n_categories_short"] <= plain["n_categories_short"]).all()
    result = batch(by="town", out=tmp_path / "out", **inputs)
    roll = result.summary.set_index(["group", "category"])
    assert roll.loc[("西街道", "education"), "communities_surveyed"] == 0
    assert roll.loc[("西街道", "education"), "communities_short"] is pd.NA
    assert roll.loc[("东街道", "education"), "communities_surveyed"] == 6


def test_communities_without_a_town_take_it_from_the_towns_layer(tmp_path, grid_communities, grid_facilities):
    """As in the Beijing example: units without a town column get the town whose polygon holds them."""
    from conftest import block

    comm, fac = write_grid_files(tmp_path, grid_communities.drop(columns="town"), grid_facilities)
    towns = tmp_path / "towns.geojson"
    gpd.GeoDataFrame({"name": ["东街道", "西街道"]},
                     geometry=[shapely.union_all([block(c, r) for c in (1, 2) for r in (1, 2, 3)]),
                               shapely.union_all([block(3, r) for r in (1, 2, 3)])], crs=CRS).to_file(towns)
    result = analyze(communities=comm, facilities=[fac], towns=towns).communities.set_index("community_id")
    assert (result.loc[["C11", "C22", "C23"], "town"] == "东街道").all()
    assert (result.loc[["C31", "C32", "C33"], "town"] == "西街道").all()


def test_partitioned_groups_equal_a_whole_area_run_of_their_neighbourhood(tmp_path):
    """Homes in GeoParquet (each group reads its own by bounding box), capacity allocated across the city: the
    middle town's ledger equals a whole-area run of the communities within 3 km of it (the check the province
    benchmark runs on its sampled groups)."""
    import sys
    from pathlib import Path

    from geofacility.synth import synthetic_city

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from bench_batch import neighbourhood_check

    city = synthetic_city(n_nodes_side=60, n_demand=12_000, facilities_per_category=25, seed=5)
    paths = city.write(tmp_path / "city", format="parquet", streets=False)
    inputs = {"communities": paths["communities"], "facilities": [paths["facilities"]], "demand": paths["demand"]}
    result = batch(by="town", out=tmp_path / "out", **inputs)
    assert result.failed == [] and result.summary["group"].nunique() == 9
    accounting = pd.read_csv(tmp_path / "out" / "inputs.csv", encoding="utf-8-sig").set_index("file")
    assert accounting.loc[str(paths["demand"]), "rows_used"] == 12_000  # every home used by exactly one group
    for town in ("Town 05",):  # the middle one of 3 × 3
        compared, differ = neighbourhood_check(inputs, tmp_path / "out", town, tmp_path / "check" / town,
                                               margin_m=3000.0)
        assert compared == 16 and differ == []


def test_partitioned_batch_placing_homes_again_gives_the_same_ledgers(tmp_path, monkeypatch):
    """Above KEEP_STATE_ROWS homes a group places its homes again in round two instead of keeping them: the same
    ledgers, byte for byte."""
    import geofacility.capacity_groups as groups
    from geofacility.synth import synthetic_city

    city = synthetic_city(n_nodes_side=40, n_demand=4_000, facilities_per_category=12, seed=9)
    paths = city.write(tmp_path / "city", format="parquet", streets=False)
    inputs = {"communities": paths["communities"], "facilities": [paths["facilities"]], "demand": paths["demand"]}
    kept = batch(by="town", out=tmp_path / "kept", **inputs)
    monkeypatch.setattr(groups, "KEEP_STATE_ROWS", 0)
    again = batch(by="town", out=tmp_path / "again", **inputs)
    assert kept.failed == again.failed == [] and kept.summary.equals(again.summary)
    for folder in (tmp_path / "kept").iterdir():
        if folder.is_dir():
            assert (folder / "ledger.csv").read_bytes() == (tmp_path / "again" / folder.name / "ledger.csv").read_bytes()


def test_a_group_ledger_shows_its_own_rows_warnings_and_the_rollup_all():
    """A warning about a facility that cannot serve the group stays out of the group's ledger (the roll-up's
    warnings.csv lists it); warnings about the group's communities, its facilities and no row stay in."""
    from types import SimpleNamespace

    from geofacility.errors import WarningLog
    from geofacility.partition import group_warnings

    log = WarningLog()
    log.add("c.gpkg", 1, "about my community")
    log.add("c.gpkg", 9, "about another town's community")
    log.add("f.csv", 2, "about a school that serves me")
    log.add("f.csv", 3, "about a school 20 km away")
    log.add("f.csv", None, "about the whole file")
    log.add("towns.geojson", 4, "about a town outline")
    frame = lambda file, rows: pd.DataFrame({"source_file": file, "source_row": rows})  # noqa: E731
    part = SimpleNamespace(communities=frame("c.gpkg", [1]), demand=frame("d.parquet", [5]),
                           facilities=frame("f.csv", [2, 3]), not_in_use=None, log=log)
    kept = group_warnings(part, [0]).to_frame()["message"].tolist()
    assert kept == ["about my community", "about a school that serves me", "about the whole file",
                    "about a town outline"]
