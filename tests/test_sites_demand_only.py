"""Siting from demand points alone, as PySAL spopt users work (issue 14 §4): `geofacility sites select` with
`--demand` and `--candidates` only — no community polygons, no facilities file — the column names given as
options, a bare `--radius` for the one `--category`; and how the rooms read to a planner (可选/不可选 and why,
fewer selectable rooms than k, 是/否 and 租赁/置换/共享/购买 as written, the sites map's legend and fill).

The hand-checkable world (metres east of X0 on one line, straight-line distance, radius 1000 m, k = 2):

    homes   d1 at 0 (150 people), d2 at 800 (200), d3 at 1600 (300), d4 at 3100 (400), d5 at 4900 (500)
    rooms   A at 400 reaches d1, d2 (400 m each)      → 350 people
            B at 2300 reaches d3 (700 m), d4 (800 m)  → 700
            C at 4000 reaches d4 (900 m), d5 (900 m)  → 900

k = 1 takes C (900). k = 2: {A, C} covers 150 + 200 + 400 + 500 = 1,250; {B, C} 300 + 400 + 500 = 1,200;
{A, B} 1,050 — so A and C, leaving d3's 300 people of 1,550 uncovered.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import shapely

from conftest import CRS, X0, Y0
from test_cli import run_cli

from geofacility.cli import _prepare_kwargs
from geofacility.errors import InputError

SF = Path(__file__).parent / "data" / "spopt_sf"


def _lonlat(xs):
    s = gpd.GeoSeries([shapely.Point(X0 + x, Y0) for x in xs], crs=CRS).to_crs(4326)
    return s.x.to_numpy(), s.y.to_numpy()


@pytest.fixture
def line(tmp_path):
    """The world of the module docstring, with column names of the user's own: the demand's people in
    ``pop_total`` and ids in ``code`` (a decoy ``id`` column and a decoy ``人口`` column that must not be used),
    the rooms' ids in ``site_code``; the rooms' pre-review and acquisition as a planner types them."""
    lon, lat = _lonlat([0, 800, 1600, 3100, 4900])
    pd.DataFrame({"id": [9, 8, 7, 6, 5], "code": ["d1", "d2", "d3", "d4", "d5"], "pop_total": [150, 200, 300, 400, 500],
                  "人口": [1, 1, 1, 1, 1], "lon": lon, "lat": lat}).to_csv(tmp_path / "homes.csv", index=False)
    lon, lat = _lonlat([400, 2300, 4000])
    pd.DataFrame({"site_code": ["A", "B", "C"], "名称": ["甲", "乙", "丙"], "预审": ["是", "是", "是"],
                  "取得方式": ["租赁", "置换", "共享"], "lon": lon, "lat": lat}).to_csv(tmp_path / "rooms.csv", index=False)
    return tmp_path


def _select(d: Path, out: Path, *extra):
    return run_cli("sites", "select", "--demand", str(d / "homes.csv"), "--weight-column", "pop_total",
                   "--id-column", "code", "--candidates", str(d / "rooms.csv"), "--candidate-id-column", "site_code",
                   "--category", "sports", "--radius", "1000", "--out", str(out), *extra)


def test_hand_checked_selection_from_demand_points_alone(line, tmp_path):
    result = _select(line, tmp_path / "out", "--k", "2")
    assert result.returncode == 0, result.stderr
    assert "the bundled sample is not used" in result.stderr.replace("\n", "")
    out = tmp_path / "out"
    summary = json.loads((out / "selection.json").read_text(encoding="utf-8"))
    assert summary["selected"] == ["A", "C"] and summary["solver_status"] == "Optimal"
    assert summary["radius_m"] == 1000 and summary["category"] == "sports"
    assert summary["newly_covered_population"] == 1250 and summary["total_population"] == 1550
    assert summary["uncovered_population_before"] == 1550  # no facilities file: none exist yet
    assert summary["note"] is None  # 3 selectable rooms ≥ k = 2
    sites = pd.read_csv(out / "sites.csv", encoding="utf-8-sig")
    assert sites.set_index("candidate_id")["newly_covered_population"].to_dict() == {"A": 350, "B": 700, "C": 900}
    assert list(sites["candidate_id"]) == ["C", "B", "A"]  # ranked by people newly covered
    assert sites.set_index("candidate_id")["communities_served"].to_dict() == {"A": "研究范围", "B": "研究范围",
                                                                              "C": "研究范围"}
    # the study is the demand's extent: one unit of 1,550 people, nothing of the Xicheng sample mixed in
    ledger = pd.read_csv(out / "ledger_after" / "ledger.csv", encoding="utf-8-sig")
    assert list(ledger["community_id"]) == ["研究范围"] and ledger["population"].tolist() == [1550]
    assert ledger["sports_covered_population"].tolist() == [1250]
    assert ledger["education_status"].tolist() == ["not_surveyed"]  # the sample's schools are not in it
    demand = gpd.read_file(out / "ledger_after" / "coverage.gpkg", layer="demand")
    assert sorted(demand["demand_id"]) == ["d1", "d2", "d3", "d4", "d5"]  # --id-column, not the decoy id
    assert demand["weight"].sum() == 1550  # --weight-column, not the decoy 人口
    assert demand.loc[demand["dist_sports_m"] > 1000, "demand_id"].tolist() == ["d3"]
    run = json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert not any("xicheng" in str(i.get("path", "")) for i in run["inputs"])


def test_rooms_that_cannot_be_taken_fewer_than_k_and_the_planners_words(line, tmp_path):
    """Room A failed its pre-review (否): it ranks after the rooms that can be taken, says why, and k = 3 finds
    only two rooms to take — said in the terminal, selection.json and sites.xlsx. 预审 and 取得方式 are written as
    typed (是/否, 租赁/置换/共享), not as True/False or lease/swap/share."""
    rooms = pd.read_csv(line / "rooms.csv")
    rooms.loc[rooms["site_code"] == "A", "预审"] = "否"
    rooms.to_csv(line / "rooms.csv", index=False)
    out = tmp_path / "out"
    result = _select(line, out, "--k", "3")
    assert result.returncode == 0, result.stderr
    note = "只有 2 处房源可选，少于 k=3；其余 1 处不可选的原因见“可否选用及原因”列"
    assert note in result.stderr.replace("\n", "")
    summary = json.loads((out / "selection.json").read_text(encoding="utf-8"))
    assert summary["note"] == note and summary["selected"] == ["B", "C"] and summary["selectable"] == 2
    assert summary["newly_covered_population"] == 1200
    book = pd.read_excel(out / "sites.xlsx", sheet_name=None)
    sheet = book["房源 sites"]
    by_id = sheet.set_index("房源编号\ncandidate_id")
    assert list(by_id.index) == ["C", "B", "A"]
    assert by_id["安全预审\nreviewed"].to_dict() == {"C": "是", "B": "是", "A": "否"}
    assert by_id["取得方式\nacquisition"].to_dict() == {"C": "共享", "B": "置换", "A": "租赁"}
    assert by_id["可否选用及原因\nselectable_reason"].to_dict() == {"C": "可选", "B": "可选", "A": "不可选：未通过预审（否）"}
    notes = book["选址说明 selection"].set_index("项目 item")["值 value"]
    assert notes["说明 note"] == note
    # with --quiet the shortage is still said
    quiet = _select(line, tmp_path / "quiet", "--k", "3", "--quiet")
    assert quiet.returncode == 0 and note in quiet.stderr.replace("\n", "")


def test_sites_map_legend_and_fill(line, tmp_path):
    out = tmp_path / "out"
    assert _select(line, out, "--k", "2").returncode == 0
    html = (out / "sites_map.html").read_text(encoding="utf-8")
    for text in ("选中房源 selected room", "候选房源 candidate room", "选中房源服务范围 reach of a selected room（1000 m）",
                 "房源 candidate rooms</b>（3 处，可选 3 处，选中 2 处）", "拟建选中房源后体育 sports 是否达标",
                 "本类别是否达标", "体育 sports 专项"):
        assert text in html, text
    popups = [f["properties"]["popup"] for blob in re.findall(r"geo_json_\w+_add\((\{.*?\})\);", html)
              for f in json.loads(blob)["features"] if "popup" in f["properties"]]
    rooms = [p for p in popups if "可否选用 selectable" in p]  # the reason in each room's popup
    assert len(rooms) == 3 and all("可否选用 selectable: 可选" in p for p in rooms)


def test_spopt_san_francisco_example_runs_directly(tmp_path):
    """spopt's own San Francisco example (its test data, vendored in tests/data/spopt_sf, BSD-3-Clause): 205
    census-tract centroids weighted by POP2000, 16 candidate stores, the network distances between them, a
    5,000 m service radius, p = 4. spopt publishes (spopt/tests/test_locate/test_mclp.py, TestRealWorldLocate)
    21 tracts left uncovered, 89.756 % of the 205 covered; its optimum covers 875,247 of 955,113 people with
    Store_2, Store_11, Store_12 and Store_15 (cross-checked live in test_siting_spopt.py). The files run as they
    are: no study polygon, no renamed columns, no facilities file."""
    out = tmp_path / "sf"
    result = run_cli(
        "sites", "select", "--demand", str(SF / "SF_demand_205_centroid_uniform_weight.csv"),
        "--weight-column", "POP2000", "--id-column", "NAME",
        "--candidates", str(SF / "SF_store_site_16_longlat.csv"), "--candidate-id-column", "NAME",
        "--cost-matrix", str(SF / "SF_network_distance_candidateStore_16_censusTract_205_new.csv"),
        "--cost-origin", "DestinationName", "--cost-destination", "name", "--cost-value", "distance",
        "--category", "sports", "--radius", "5000", "--k", "4", "--out", str(out), "--quiet")
    assert result.returncode == 0, result.stderr
    summary = json.loads((out / "selection.json").read_text(encoding="utf-8"))
    assert summary["solver_status"] == "Optimal" and summary["distance"] == "cost-matrix"
    assert summary["newly_covered_population"] == 875_247 and summary["total_population"] == 955_113
    assert sorted(summary["selected"]) == ["Store_11", "Store_12", "Store_15", "Store_2"]
    demand = gpd.read_file(out / "ledger_after" / "coverage.gpkg", layer="demand")
    assert len(demand) == 205
    uncovered = int((demand["dist_sports_m"] > 5000).sum())
    assert uncovered == 21 and (205 - uncovered) / 205 * 100 == pytest.approx(89.75609756097561)


# --- the command line's study options, unit by unit ---------------------------------------------------------

def _options(**given):
    base = dict(communities=None, facilities=None, demand=None, towns=None, standards=None, standard=None,
                radius=None, coords=None, crs=None, encoding=None, aliases=None, coverage_target=1.0, study=None,
                quiet=True)
    return {**base, **given}


def test_demand_without_communities_is_never_mixed_into_the_sample(tmp_path):
    homes = tmp_path / "homes.csv"
    kwargs = _prepare_kwargs(**_options(demand=homes, facilities=[f"sports={tmp_path / 'parks.csv'}"]))
    assert kwargs["communities"] is None and kwargs["demand"] == homes
    assert kwargs["facilities"] == [(tmp_path / "parks.csv", "sports")]  # the sample's schools are not added
    assert kwargs["study"] == "homes" and kwargs.get("towns") is None
    sample = _prepare_kwargs(**_options())  # neither: the bundled sample, as before
    assert sample["communities"].name == "communities.geojson" and sample["demand"].name == "compounds.csv"
    with pytest.raises(InputError, match="--weight-column/--id-column"):
        _prepare_kwargs(**_options(weight_column="POP2000"))


def test_bare_radius_for_the_one_category(tmp_path):
    homes = tmp_path / "homes.csv"
    assert _prepare_kwargs(**_options(demand=homes, radius=["800"]), category="education")["radius"] == \
        {"education": 800.0}
    assert _prepare_kwargs(**_options(demand=homes, radius=["800"]), category=["health"])["radius"] == \
        {"health": 800.0}
    assert _prepare_kwargs(**_options(demand=homes, radius=["sports=300"]), category="education")["radius"] == \
        {"sports": 300.0}
    for category in (None, ["education", "health"]):
        with pytest.raises(InputError, match=re.escape("--radius CATEGORY=800")):
            _prepare_kwargs(**_options(demand=homes, radius=["800"]), category=category)


def test_named_column_missing_is_refused(line, tmp_path):
    result = run_cli("sites", "evaluate", "--demand", str(line / "homes.csv"), "--weight-column", "POP2000",
                     "--candidates", str(line / "rooms.csv"), "--category", "sports", "--radius", "1000",
                     "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    assert "no column 'POP2000' (--weight-column)" in result.stderr and "pop_total" in result.stderr
