"""Issue 14 (the walkthrough's small study): a category with several standards — kindergarten and primary school —
speaks per standard, and a facility bears on a community's problem stage only where it would count.

Three 500 m blocks in a row (the conftest grid's first row), each community's people on one point at its centre:

    C1 (x 0–500)          C2 (x 500–1000)          C3 (x 1000–1500)
    3,000 people          4,000 people             5,000 people
    P1 primary school     K2 kindergarten          K3 kindergarten 在建 at (1250, 300)
    在用 at (300, 250)     在用 2,800 m² at          P3 primary school 未移交 at (1300, 250)
                          (750, 300)

(coordinates in metres from the grid's south-west corner; the people at (250, 250), (750, 250), (1250, 250)).

Kindergarten (幼儿园): r = 300 m, scope community (counts inside its community), ≥ 3,150 m² to count. Primary school
(小学): r = 500 m, scope reach (counts within 500 m of a resident), no minimum size. By hand:

- P1 is 50 m from C1's people and 450 m from C2's: primary school covers and counts in C1 and C2, not C3 (950 m).
- K2 (2,800 m² < 3,150 m²) covers C2's people (50 m) but counts nowhere; C1's people are 502 m from it.
- K3 (在建) bears on C3 only (a kindergarten counts only inside its community), though it is 250 m from C2's outline.
- P3 (未移交) bears on C3 (50 m) but not on C2: C2's people are 550 m away, beyond the primary school's 500 m,
  though C2's outline is 300 m away.

So C1: kindergarten 规划 (none at all), primary ok; C2: kindergarten 使用 (1 处 2,800 m² below 3,150 m²), primary ok;
C3: kindergarten 建设, primary 移交.
"""
from __future__ import annotations

import json

import geopandas as gpd
import openpyxl
import pandas as pd
import pytest
from shapely.geometry import Point, box

from conftest import CRS, X0, Y0
from geofacility.ledger import current_text, problem_text, read_ledger_csv, write_ledger
from geofacility.per_standard import decode, standard_totals

POPULATION = {"C1": 3000.0, "C2": 4000.0, "C3": 5000.0}


def _at(x: float, y: float) -> Point:
    return Point(X0 + x, Y0 + y)


@pytest.fixture(scope="module")
def row_of_three(tmp_path_factory):
    from geofacility.maps import write_map
    from geofacility.pipeline import analyze

    tmp = tmp_path_factory.mktemp("by_standard")
    communities = gpd.GeoDataFrame(
        {"community_id": list(POPULATION), "community": [f"社区{k}" for k in POPULATION], "town": "青云街道",
         "population": list(POPULATION.values()), "households": [p / 2.5 for p in POPULATION.values()]},
        geometry=[box(X0 + 500 * i, Y0, X0 + 500 * (i + 1), Y0 + 500) for i in range(3)], crs=CRS)
    communities.to_crs(4326).to_file(tmp / "社区.geojson", driver="GeoJSON")
    facilities = gpd.GeoDataFrame(
        {"设施编号": ["P1", "K2", "K3", "P3"], "名称": ["青云小学", "青云幼儿园", "新建幼儿园", "新建小学"],
         "类别": "教育", "子类": ["小学", "幼儿园", "幼儿园", "小学"], "建筑面积": [6500.0, 2800.0, 3500.0, 6500.0],
         "状态": ["在用", "在用", "在建", "未移交"]},
        geometry=[_at(300, 250), _at(750, 300), _at(1250, 300), _at(1300, 250)], crs=CRS).to_crs(4326)
    frame = pd.DataFrame(facilities.drop(columns="geometry"))
    frame["经度"], frame["纬度"] = facilities.geometry.x, facilities.geometry.y
    frame.to_csv(tmp / "设施.csv", index=False, encoding="utf-8-sig")
    demand = gpd.GeoDataFrame({"人口": list(POPULATION.values())},
                              geometry=[_at(250 + 500 * i, 250) for i in range(3)], crs=CRS).to_crs(4326)
    people = pd.DataFrame({"人口": demand["人口"], "经度": demand.geometry.x, "纬度": demand.geometry.y})
    people.to_csv(tmp / "人口.csv", index=False, encoding="utf-8-sig")
    analysis = analyze(communities=tmp / "社区.geojson", facilities=[tmp / "设施.csv"], demand=tmp / "人口.csv")
    written = write_ledger(analysis, tmp / "out", gpkg=False)
    write_map(analysis, tmp / "out" / "map.html")
    return analysis, written, tmp / "out" / "map.html"


def _by_standard(analysis) -> dict[str, dict[str, dict]]:
    comm = analysis.communities.set_index("community_id")
    return {cid: {e["subcategory"]: e for e in decode(v)} for cid, v in comm["education_by_standard"].items()}


def test_each_standard_keeps_its_own_figures(row_of_three):
    analysis, _, _ = row_of_three
    per = _by_standard(analysis)
    kg = {cid: per[cid]["kindergarten"] for cid in per}
    ps = {cid: per[cid]["primary_school"] for cid in per}
    assert {cid: (e["covered_population"], e["current_count"], e["count_gap"], e["current_m2"], e["gap_m2"])
            for cid, e in kg.items()} == {"C1": (0, 0, 1, 0.0, 3150.0), "C2": (4000, 0, 1, 2800.0, 350.0),
                                         "C3": (0, 0, 1, 0.0, 3150.0)}
    assert kg["C2"]["below_minimum"] == "1 处 2,800 m² 小于 3,150 m² 下限"
    assert {cid: (e["covered_population"], e["current_count"], e["status"]) for cid, e in ps.items()} == {
        "C1": (3000, 1, "ok"), "C2": (4000, 1, "ok"), "C3": (0, 0, "gap")}
    # the capacity split of each standard: everybody within reach is seated (12,000 ≤ one school's 25,000)
    assert [ps[c]["served_population"] for c in per] == [3000, 4000, 0]
    assert kg["C2"]["served_population"] == 4000 and kg["C2"]["over_capacity_population"] == 0
    # the category's columns are those of the community's weakest standard, to the person
    comm = analysis.communities.set_index("community_id")
    for cid, entries in per.items():
        weakest = min(entries.values(), key=lambda e: e["covered_share"])
        assert round(comm.loc[cid, "education_covered_population"]) == weakest["covered_population"]
        assert round(comm.loc[cid, "education_served_population"]) == weakest["served_population"]


def test_a_facility_bears_only_where_it_would_count(row_of_three):
    """Defect 1 of the walkthrough: the 2,800 m² kindergarten made every community 【使用】; the kindergarten 在建 in
    C3 and the primary school 未移交 there bore on C2 by the category's largest radius from C2's outline."""
    analysis, _, _ = row_of_three
    comm = analysis.communities.set_index("community_id")
    assert comm["education_problem_stage"].to_dict() == {"C1": "规划", "C2": "使用", "C3": "移交"}
    per = _by_standard(analysis)
    assert {cid: (e["kindergarten"]["problem_stage"], e["primary_school"]["problem_stage"])
            for cid, e in per.items()} == {"C1": ("规划", ""), "C2": ("使用", ""), "C3": ("建设", "移交")}
    # only facilities not in use are named there; the one too small to count is below_minimum's
    assert comm["education_not_in_use"].to_dict() == {
        "C1": "", "C2": "", "C3": "幼儿园在建 1 处（未计入现状）；小学已建未移交 1 处（未计入现状）"}
    assert comm["education_below_minimum"].to_dict() == {"C1": "", "C2": "幼儿园 1 处 2,800 m² 小于 3,150 m² 下限",
                                                         "C3": ""}


EXPECTED_PROBLEM = {
    "C1": "教育【规划】幼儿园缺 1 处，3,000 人未覆盖（覆盖率 0%），面积缺口 3,150 m²",
    "C2": "教育【使用】幼儿园 1 处 2,800 m² 小于 3,150 m² 下限（不计数），缺 1 处，面积缺口 350 m²",
    "C3": "教育【建设】幼儿园在建 1 处（未计入现状），缺 1 处，5,000 人未覆盖（覆盖率 0%），面积缺口 3,150 m²；"
          "教育【移交】小学已建未移交 1 处（未计入现状），缺 1 处，5,000 人未覆盖（覆盖率 0%）",
}
EXPECTED_CURRENT = {
    "C1": "幼儿园：覆盖 0%（0/3,000 人），容量内 0 人，现有 0 处，面积 0 m²；"
          "小学：覆盖 100%（3,000/3,000 人），容量内 3,000 人，现有 1 处",
    "C2": "幼儿园：覆盖 100%（4,000/4,000 人），容量内 4,000 人，现有 0 处达标（1 处 2,800 m² 小于 3,150 m² 下限），"
          "面积 2,800 m²；小学：覆盖 100%（4,000/4,000 人），容量内 4,000 人，现有 1 处",
    "C3": "幼儿园：覆盖 0%（0/5,000 人），容量内 0 人，现有 0 处，面积 0 m²；小学：覆盖 0%（0/5,000 人），容量内 0 人，现有 0 处",
}


def test_ledger_texts_name_the_standard(row_of_three):
    """Defect 2: 现状 per standard, never one standard's share with another's count; 存在问题 names the facility."""
    _, written, _ = row_of_three
    ws = openpyxl.load_workbook(written["xlsx"])["台账 ledger"]
    rows = {ws.cell(row=r, column=24).value: r for r in range(5, ws.max_row + 1)}
    assert {cid: ws.cell(row=r, column=19).value for cid, r in rows.items()} == EXPECTED_PROBLEM
    assert {cid: ws.cell(row=r, column=6).value for cid, r in rows.items()} == EXPECTED_CURRENT
    assert ws.cell(row=rows["C1"], column=5).value == "幼儿园 ≤300 m 全覆盖，≥1 处，≥3,150 m²；小学 ≤500 m 全覆盖，≥1 处"
    # the same texts from ledger.csv read back (the per-standard figures travel in education_by_standard)
    table = read_ledger_csv(written["csv"]).set_index("community_id")
    for cid in POPULATION:
        row = {"community_id": cid, **table.loc[cid].to_dict()}
        assert problem_text(row) == EXPECTED_PROBLEM[cid]
        assert current_text(row, "education") == EXPECTED_CURRENT[cid]
    entries = json.loads(table.loc["C3", "education_by_standard"])  # plain JSON in the CSV
    assert [e["name"] for e in entries] == ["幼儿园", "小学"]


def test_older_ledger_without_the_column_still_reads(row_of_three, tmp_path):
    _, written, _ = row_of_three
    raw = pd.read_csv(written["csv"], dtype=str, keep_default_na=False, encoding="utf-8-sig")
    old = tmp_path / "ledger.csv"
    raw.drop(columns=[c for c in raw.columns if c.endswith("_by_standard")]).to_csv(old, index=False)
    table = read_ledger_csv(old)
    assert (table["education_by_standard"] == "").all()
    row = table.set_index("community_id").loc["C1"].to_dict()
    assert current_text(row, "education").startswith("覆盖 0%（0/3,000 人）")  # the category's own columns


def test_map_legend_lists_each_standard(row_of_three):
    analysis, _, map_path = row_of_three
    totals = {t["subcategory"]: t for t in standard_totals(analysis.communities, "education")}
    assert {k: (t["not_covered"], t["population"], t["communities_short"]) for k, t in totals.items()} == {
        "kindergarten": (8000, 12000, 3), "primary_school": (5000, 12000, 1)}
    html = map_path.read_text(encoding="utf-8")
    assert ('<div class="gf-small gf-standards" data-category="education">按标准 by standard：'
            "幼儿园 未覆盖 8,000 / 12,000 人，缺口社区 3；小学 未覆盖 5,000 / 12,000 人，缺口社区 1</div>") in html
    # the category's line: the weakest standard of each community (3,000 + 0 + 5,000)
    assert "未覆盖 8,000 / 12,000 人 not covered · 缺口社区 3 / 3 communities short" in html
