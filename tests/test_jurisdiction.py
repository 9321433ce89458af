"""Standards carry a jurisdiction (全国 / a province / a city) and the study chooses where it lies (issue 14 §4):
national rows always apply, a local row only there, the more local row of a standard wins. The Beijing vegetable
market minimum (500 m²), the Chinese-only planning conditions, the 未调查 wording and the 采用标准 sheet's status
text are pinned here on hand fixtures (the 3×3 grid of conftest: C22 has 5,000 people)."""
from __future__ import annotations

import re

import geopandas as gpd
import openpyxl
import pandas as pd
import pytest
import shapely

from conftest import CRS, centre
from geofacility.coverage import select_checks
from geofacility.errors import InputError, WarningLog
from geofacility.ledger import write_ledger
from geofacility.pipeline import analyze
from geofacility.review import conditions_text, read_planned, read_project, review_checks, review_project
from geofacility.standards import (applicable_standards, citation_zh, find_check, jurisdiction_levels,
                                   load_standards, status_zh)

#: What may be written in Latin letters in a Chinese planning text: a standard's code (GB 50180-2018,
#: GB 50180-93, DB37/T 4438-2021, TD/T 1062-2021), a table or appendix number (表C.0.2, 附录A) and the unit m².
#: Metres are written 米. Anything else in ASCII letters is English leaking into the text.
ALLOWED_LATIN = re.compile(r"(?:GB|DB\d{2}|TD)(?:/T)?\s?\d+(?:\.\d+)*(?:-\d{2,4})?|(?:表|附录)\s?[A-Z](?:\.\d+)*|m²")


def latin_words(text: str) -> list[str]:
    return re.findall(r"[A-Za-z]+", ALLOWED_LATIN.sub("", text))


def test_the_latin_rule_itself():
    assert latin_words("依据：《城市居住区规划设计标准》GB 50180-2018 表C.0.2；DB37/T 4438-2021 表A.1，不少于 500 m²") == []
    assert latin_words("服务半径 300 m；unconfirmed；kindergarten") == ["m", "unconfirmed", "kindergarten"]


# ------------------------------------------------------------------------------------- the standards table

def test_beijing_vegetable_market_minimum_is_500_not_750():
    """Beijing 2018 commerce rules: 50 m² per 1,000 people; markets of 500–1000 / 1000–1500 / 2000–2500 m².
    For 8,000 people: max(8 × 50 = 400, 500) = 500 m² in Beijing; the national GB 50180-2018 row (750 m², not found
    in the source) asks 750."""
    table = load_standards()
    beijing = find_check(applicable_standards(table, "北京市"), "commerce", "vegetable_market")
    national = find_check(applicable_standards(table, "全国"), "commerce", "vegetable_market")
    assert (beijing.jurisdiction, beijing.min_building_m2, beijing.per_1000_building_m2) == ("北京市", 500, 50)
    assert (national.jurisdiction, national.min_building_m2, national.per_1000_building_m2) == ("全国", 750, None)
    assert float(beijing.required_area(8000, 3200)) == 500
    assert float(national.required_area(8000, 3200)) == 750
    assert float(beijing.required_area(12000, 4800)) == 600  # 12 × 50 above the minimum
    assert "菜市场最小500 m²" in status_zh(beijing) and "来源：北京市2018年居住配套商业服务设施办法" in status_zh(beijing)
    assert status_zh(national).startswith("未核实：未找到原文")
    # every built-in row says where it applies and, in Chinese, what of it was verified
    assert set(table["jurisdiction"]) == {"全国", "北京市", "哈尔滨市", "贵州省", "安徽省"}
    assert table["verification"].str.match(r"^(已核实|部分核实|未核实：未找到原文)").all()
    assert (table.loc[table["status"] == "unconfirmed", "verification"].str.startswith("未核实：未找到原文")).all()


def test_jurisdiction_names_are_read_as_administrative_units():
    assert jurisdiction_levels("山东省淄博市张店区") == ("山东省", "淄博市", "张店区")
    assert jurisdiction_levels("黑龙江省/哈尔滨市") == ("黑龙江省", "哈尔滨市")
    assert jurisdiction_levels("济南市市中区") == ("济南市", "市中区")
    assert jurisdiction_levels("全国") == () and jurisdiction_levels(None) == ()
    for bad in ("Beijing", "北京"):
        with pytest.raises(InputError, match="--jurisdiction"):
            jurisdiction_levels(bad)


@pytest.fixture
def pair_table(tmp_path):
    """The built-in table plus two rows of the planner's file for the kindergarten: 黑龙江省 2,800 m², 哈尔滨市
    2,400 m² (one per ≤ 6,000 people); the national row stays 3,150 m² (one per ≤ 12,000)."""
    path = tmp_path / "rules.csv"
    pd.DataFrame({"category": "education", "subcategory": "kindergarten", "name_zh": "幼儿园", "level": "5min",
                  "radius_m": 300, "min_building_m2": [2800, 2400], "serves_population": ["3000-8000", "3000-6000"],
                  "jurisdiction": ["黑龙江省", "哈尔滨市"], "status": "confirmed", "source": ["省规定", "市规定"]}
                 ).to_csv(path, index=False)
    return path


def test_the_more_local_row_wins(pair_table):
    table = load_standards(pair_table)
    assert (table["subcategory"] == "kindergarten").sum() == 3  # national, province, city: all kept

    def minimum(where):
        return find_check(applicable_standards(table, where), "education", "kindergarten").min_building_m2

    assert minimum("全国") == 3150
    assert minimum("北京市") == 3150  # another city: the national row
    assert minimum("黑龙江省齐齐哈尔市") == 2800  # the province's row over the national one
    assert minimum("黑龙江省哈尔滨市") == 2400  # the city's over both
    assert minimum("哈尔滨市") == 2400  # the city alone


def test_a_planners_row_without_jurisdiction_replaces_the_standard_everywhere(tmp_path):
    path = tmp_path / "own.csv"
    path.write_text("category,subcategory,name_zh,level,radius_m,min_building_m2\n"
                    "commerce,vegetable_market,菜市场,10min,500,600\n", encoding="utf-8")
    table = load_standards(path)
    assert (table["subcategory"] == "vegetable_market").sum() == 1
    for where in ("全国", "北京市", None):
        check = find_check(applicable_standards(table, where), "commerce", "vegetable_market")
        assert check.min_building_m2 == 600 and check.jurisdiction == ""
    assert status_zh(check) == "未核实：未找到原文"


# ------------------------------------------------------------------------------------- the study's checks

def _grid_files(tmp_path, grid_communities, facilities: gpd.GeoDataFrame):
    comm_path = tmp_path / "communities.geojson"
    grid_communities.to_crs(4326).to_file(comm_path)
    fac_path = tmp_path / "facilities.geojson"
    facilities.to_crs(4326).to_file(fac_path)
    return comm_path, fac_path


def test_the_study_applies_the_standards_of_its_jurisdiction(tmp_path, grid_communities, pair_table):
    """A 2,500 m² kindergarten at C22's centre (C22: 5,000 people). In Harbin (≥ 2,400 m²) it counts and C22 needs
    2,400 m²: no gap. Nationally (≥ 3,150 m²) it is too small to count: C22 needs 3,150 m², 650 m² short."""
    kg = gpd.GeoDataFrame({"facility_id": ["K"], "name": ["甲幼儿园"], "category": ["education"],
                           "subcategory": ["kindergarten"], "floor_area_m2": [2500.0]},
                          geometry=[shapely.Point(centre(2, 2))], crs=CRS)
    comm_path, fac_path = _grid_files(tmp_path, grid_communities, kg)
    harbin = analyze(communities=comm_path, facilities=[fac_path], standards=pair_table,
                     jurisdiction="黑龙江省哈尔滨市")
    national = analyze(communities=comm_path, facilities=[fac_path], standards=pair_table, jurisdiction="全国")
    h = harbin.communities.set_index("community_id").loc["C22"]
    n = national.communities.set_index("community_id").loc["C22"]
    assert [c.min_building_m2 for c in harbin.checks] == [2400] and [c.min_building_m2 for c in national.checks] == [3150]
    assert (h["education_required_m2"], h["education_current_count"], h["education_gap_m2"]) == (2400, 1, 0)
    assert (n["education_required_m2"], n["education_current_count"], n["education_gap_m2"]) == (3150, 0, 650)
    assert harbin.settings["jurisdiction"] == "黑龙江省哈尔滨市" and national.settings["jurisdiction"] == "全国"


def test_a_standard_of_another_jurisdiction_is_refused_or_set_aside(grid_facilities):
    table = load_standards()
    with pytest.raises(InputError, match="北京市.*--jurisdiction 北京市"):
        select_checks(grid_facilities, table, ["community_service"],
                      {"community_service": ["community_rooms_beijing"]}, jurisdiction="全国")
    chosen = select_checks(grid_facilities, table, ["community_service"],
                           {"community_service": ["community_rooms_beijing"]}, jurisdiction="北京市西城区")
    assert [(c.subcategory, c.min_building_m2) for c in chosen] == [("community_rooms_beijing", 350)]
    # an Anhui elderly canteen in a national study: counted under the category's default standard, and said so
    canteen = grid_facilities.assign(category="canteen", subcategory="elderly_canteen")
    log = WarningLog()
    checks = select_checks(canteen, table, ["canteen"], jurisdiction="全国", log=log)
    assert [c.subcategory for c in checks] == ["community_canteen"]
    warnings = log.to_frame()
    assert warnings["message_zh"].str.contains("食堂设施“老年食堂”的标准只适用于安徽省").any()
    assert warnings["message"].str.contains("elderly_canteen applies only in 安徽省").any()


# ------------------------------------------------------------------------------------- review

@pytest.fixture
def kindergarten_study(tmp_path, grid_communities):
    """One kindergarten K (capacity 6,000) at C22's centre; the project (2,000 households, 5,000 people) 100 m
    from it. Kindergartens were surveyed, primary schools were not."""
    fac = gpd.GeoDataFrame({"facility_id": ["K"], "name": ["甲幼儿园"], "category": ["education"],
                            "subcategory": ["kindergarten"], "capacity": [6000]},
                           geometry=[shapely.Point(centre(2, 2))], crs=CRS)
    comm_path, fac_path = _grid_files(tmp_path, grid_communities, fac)
    demand = gpd.GeoDataFrame({"demand_id": grid_communities["community_id"],
                               "population": grid_communities["population"]},
                              geometry=[shapely.Point(centre(int(c[1]), int(c[2])))
                                        for c in grid_communities["community_id"]], crs=CRS)
    dem_path = tmp_path / "demand.geojson"
    demand.to_crs(4326).to_file(dem_path)  # each community's people at its centre: only C22's within K's 300 m
    analysis = analyze(communities=comm_path, demand=dem_path, facilities=[fac_path], jurisdiction="北京市")
    x, y = centre(2, 2)
    project_path = tmp_path / "project.geojson"
    gpd.GeoDataFrame({"name": ["新建小区"], "户数": [2000], "人口": [5000]}, geometry=[shapely.Point(x + 100, y)],
                     crs=CRS).to_crs(4326).to_file(project_path)
    return analysis, read_project(project_path, crs=analysis.crs)


def test_not_surveyed_is_never_no_spare_capacity(kindergarten_study):
    """Education was surveyed for kindergartens only: the primary school (10-min, 500 m) reads 未调查 and is
    required in full (⌈5,000 / 25,000⌉ = 1), never 'no spare capacity'; the kindergarten's spare 1,000 counts."""
    analysis, project = kindergarten_study
    checks = review_checks(load_standards(), choices=None, surveyed=analysis.checks, jurisdiction="北京市")
    review = review_project(project, checks, analysis=analysis)
    table = review.table.set_index("subcategory")
    school = table.loc["primary_school"]
    assert school["survey"] == "未调查" and pd.isna(school["spare_capacity"])
    assert school["remainder_population"] == 5000 and school["required_count"] == 1
    assert "现有小学未调查，未计剩余容量，按标准全额配建或补充调查后核定" in school["reasons"]
    assert "无剩余容量" not in school["reasons"]
    kg = table.loc["kindergarten"]
    assert kg["survey"] == "已调查" and kg["spare_capacity"] == pytest.approx(1000)
    text = conditions_text(review)
    line = next(x for x in text.splitlines() if "（小学）" in x)
    assert line.startswith("1. 社区教育设施（小学）：1 处，周边设施未调查，按标准全额配建或补充调查后核定；依据：")
    assert "未调查" not in next(x for x in text.splitlines() if "（幼儿园）" in x)


def test_conditions_are_chinese_and_cite_only_the_standards_that_apply(kindergarten_study, tmp_path):
    analysis, project = kindergarten_study
    planned_path = tmp_path / "planned.csv"
    planned_path.write_text("名称,类别,建筑面积\n菜市场,菜市场,400\n", encoding="utf-8")
    planned = read_planned(planned_path)
    table = load_standards()
    texts = {}
    for where in ("北京市", "全国", "贵州省贵阳市"):
        checks = review_checks(table, choices=None, surveyed=analysis.checks, jurisdiction=where)
        review = review_project(project, checks, analysis=analysis, planned=planned)
        review.settings["jurisdiction"] = where
        texts[where] = conditions_text(review)
        built = review_project(project, checks, analysis=analysis, planned=planned, as_built=True)
        built.settings["jurisdiction"] = where
        texts[where + " 验收"] = conditions_text(built)
        market = review.table.set_index("subcategory").loc["vegetable_market"]
        assert market["jurisdiction"] == ("北京市" if where == "北京市" else "全国")
        # 5,000 people: Beijing max(5 × 50, 500) = 500 m²; nationally 750 m²
        assert market["required_m2"] == (500 if where == "北京市" else 750)
    for name, text in texts.items():
        assert latin_words(text) == [], (name, text)
        assert "unconfirmed" not in text and "_" not in text
    assert "菜市场）：1 处，建筑面积合计不少于 500 m²" in texts["北京市"]
    assert "（北京市标准）" in texts["北京市"] and "北京市" not in texts["全国"]
    assert "贵州省" not in texts["北京市"] and "贵州省" not in texts["全国"]
    assert "社区养老服务用房" in texts["贵州省贵阳市"] and "（贵州省标准）" in texts["贵州省贵阳市"]
    assert "（指标未找到原文核实，请核对）" in texts["全国"]  # the national market's 750 m² was not found
    # the acceptance opinion cites Xicheng's rule only in Beijing
    assert "西政办发" in texts["北京市 验收"] and "西政办发" not in texts["全国 验收"]
    assert "张政办字" not in texts["北京市 验收"]


# ------------------------------------------------------------------------------------- the 采用标准 sheet

def test_standards_sheet_says_where_each_standard_applies_and_whether_it_was_verified(tmp_path, grid_communities):
    fac = gpd.GeoDataFrame({"facility_id": ["M", "S"], "name": ["菜市场甲", "服务站乙"],
                            "category": ["commerce", "community_service"],
                            "subcategory": ["vegetable_market", "service_station"], "floor_area_m2": [600.0, 650.0]},
                           geometry=[shapely.Point(centre(2, 2)), shapely.Point(centre(1, 1))], crs=CRS)
    comm_path, fac_path = _grid_files(tmp_path, grid_communities, fac)
    analysis = analyze(communities=comm_path, facilities=[fac_path], jurisdiction="北京市")
    paths = write_ledger(analysis, tmp_path / "out")
    rows = list(openpyxl.load_workbook(paths["xlsx"])["采用标准 standards"].iter_rows(values_only=True))
    header = rows[0]
    records = {r[header.index("子类代码 subcategory")]: dict(zip(header, r)) for r in rows[1:] if r[-1]}
    market, station = records["vegetable_market"], records["service_station"]
    assert (market["适用地区"], market["单处最小建筑面积 m²"], market["每千人建筑面积 m²"]) == ("北京市", 500, 50)
    assert market["状态"].startswith("部分核实：每千人50 m²、菜市场最小500 m²")
    assert "已核实（来源：北京市2018年居住配套商业服务设施办法）" in market["状态"]
    assert market["来源"].startswith("北京市《居住配套商业服务设施规划建设使用管理办法（试行）》（2018）")
    assert (station["适用地区"], station["状态"]) == ("全国", "未核实：未找到原文（GB 50180-2018 表C.0.2）")
    assert rows[-1][0].startswith("本研究所在地：北京市。国家标准（全国）均适用")
    assert citation_zh(find_check(load_standards(), "commerce", "vegetable_market")).endswith(
        "（北京市标准）（部分指标未找到原文核实，请核对）")


def test_outside_the_survey_extent_is_not_surveyed(tmp_path, grid_communities):
    """Kindergartens surveyed only in C11 (--survey-extent): a project in C22 cannot count on a spare place there,
    even though K stands 100 m away — the kindergarten row reads 未调查 and is required in full (3,150 m²)."""
    from conftest import block

    fac = gpd.GeoDataFrame({"facility_id": ["K"], "name": ["甲幼儿园"], "category": ["education"],
                            "subcategory": ["kindergarten"], "capacity": [6000]},
                           geometry=[shapely.Point(centre(2, 2))], crs=CRS)
    comm_path, fac_path = _grid_files(tmp_path, grid_communities, fac)
    extent = tmp_path / "extent.geojson"
    gpd.GeoDataFrame(geometry=[block(1, 1)], crs=CRS).to_crs(4326).to_file(extent)
    analysis = analyze(communities=comm_path, facilities=[fac_path], survey_extent={"education": extent},
                       jurisdiction="北京市")
    x, y = centre(2, 2)
    project = gpd.GeoDataFrame({"name": ["新建小区"], "户数": [2000], "人口": [5000]},
                               geometry=[shapely.Point(x + 100, y)], crs=CRS)
    project_path = tmp_path / "project.geojson"
    project.to_crs(4326).to_file(project_path)
    site = read_project(project_path, crs=analysis.crs)
    row = review_project(site, review_checks(load_standards(), choices=None, surveyed=analysis.checks, jurisdiction="北京市"),
                         analysis=analysis).table.set_index("subcategory").loc["kindergarten"]
    assert row["survey"] == "未调查" and row["remainder_population"] == 5000 and row["required_m2"] == 3150
