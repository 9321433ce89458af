"""Development review (配建审查) on a hand fixture, and `geofacility review` on the bundled sample."""
from __future__ import annotations

import json

import geopandas as gpd
import pandas as pd
import pytest
import shapely

from conftest import CRS, centre
from geofacility.errors import InputError
from geofacility.pipeline import analyze
from geofacility.review import read_planned, read_project, review_checks, review_project, write_review
from geofacility.standards import load_standards


@pytest.fixture
def kindergarten_study(tmp_path, grid_communities):
    """The 3×3 grid (C22 has 5,000 people, at its centre); one kindergarten K at C22's centre with capacity 6,000
    residents. Within its 300 m radius only C22's 5,000 people live (the other centres are ≥ 500 m away), so the
    allocation gives K 5,000 and leaves a spare capacity of 1,000."""
    comm_path = tmp_path / "communities.geojson"
    grid_communities.to_crs(4326).to_file(comm_path)
    demand = gpd.GeoDataFrame({"demand_id": grid_communities["community_id"],
                               "population": grid_communities["population"]},
                              geometry=[shapely.Point(centre(int(c[1]), int(c[2])))
                                        for c in grid_communities["community_id"]], crs=CRS)
    dem_path = tmp_path / "demand.geojson"
    demand.to_crs(4326).to_file(dem_path)
    fac = gpd.GeoDataFrame({"facility_id": ["K"], "name": ["甲幼儿园"], "category": ["education"],
                            "subcategory": ["kindergarten"], "capacity": [6000]},
                           geometry=[shapely.Point(centre(2, 2))], crs=CRS)
    fac_path = tmp_path / "kindergartens.geojson"
    fac.to_crs(4326).to_file(fac_path)
    analysis = analyze(communities=comm_path, demand=dem_path, facilities=[fac_path])
    x, y = centre(2, 2)
    project = gpd.GeoDataFrame({"name": ["新建小区"], "户数": [2000], "人口": [5000]},
                               geometry=[shapely.Point(x + 100, y)], crs=CRS)  # 100 m from K
    project_path = tmp_path / "project.geojson"
    project.to_crs(4326).to_file(project_path)
    return analysis, project_path


def _planned(tmp_path, rows) -> pd.DataFrame:
    path = tmp_path / "planned.csv"
    pd.DataFrame(rows, columns=["名称", "类别", "子类", "建筑面积"]).to_csv(path, index=False)
    return read_planned(path)


def test_spare_capacity_of_an_existing_kindergarten_reduces_what_must_be_built(kindergarten_study, tmp_path):
    analysis, project_path = kindergarten_study
    project = read_project(project_path, crs=analysis.crs)
    assert (project.households, project.population) == (2000, 5000)
    checks = review_checks(load_standards(), choices=None, surveyed=analysis.checks)
    planned = _planned(tmp_path, [["幼儿园", "教育", "幼儿园", 3200]])
    review = review_project(project, checks, analysis=analysis, planned=planned)
    row = review.table.set_index("subcategory").loc["kindergarten"]
    assert row["spare_capacity"] == pytest.approx(1000)  # 6,000 − 5,000 already allocated
    assert row["absorbed_population"] == pytest.approx(1000)
    assert row["remainder_population"] == pytest.approx(4000)  # exact: 5,000 − 1,000
    assert row["required_count_full"] == 1 and row["required_m2_full"] == 3150
    assert row["required_count"] == 1  # ⌈4,000 / 12,000⌉
    assert row["required_m2"] == 3150  # the minimum size of one kindergarten
    assert row["result"] == "pass"
    assert "甲幼儿园 1,000（容量 6,000 − 已分配 5,000，距 100 米）" in row["spare_from"]


def test_too_small_a_kindergarten_fails_with_reasons(kindergarten_study, tmp_path):
    analysis, project_path = kindergarten_study
    project = read_project(project_path, crs=analysis.crs)
    planned = _planned(tmp_path, [["幼儿园", "教育", "幼儿园", 3000]])
    review = review_project(project, review_checks(load_standards(), choices=None, surveyed=analysis.checks), analysis=analysis,
                            planned=planned)
    row = review.table.set_index("subcategory").loc["kindergarten"]
    assert row["result"] == "fail"
    assert "拟建 0 处，少于需配建 1 处" in row["reasons"]
    assert "拟建面积 3,000 m²，少于需配建 3,150 m²" in row["reasons"]
    assert "1 处小于单处最小面积 3150 m²" in row["reasons"]


def test_enough_spare_capacity_means_nothing_to_build(kindergarten_study, tmp_path):
    analysis, project_path = kindergarten_study
    project = read_project(project_path, crs=analysis.crs, population=800)  # the argument wins over the attribute
    review = review_project(project, review_checks(load_standards(), choices=None, surveyed=analysis.checks), analysis=analysis)
    row = review.table.set_index("subcategory").loc["kindergarten"]
    assert row["remainder_population"] == 0 and row["required_count"] == 0 and row["result"] == "not required"


def test_build_in_project_rules_take_the_whole_demand(kindergarten_study):
    """Rooms per 100 households are required of the project itself: 30 m² × 20 = 600 m²; elderly rooms for new
    areas 20 m² × 20 = 400 m² (≥ 350)."""
    analysis, project_path = kindergarten_study
    project = read_project(project_path, crs=analysis.crs)
    table = review_project(project, review_checks(load_standards(), choices=None, surveyed=analysis.checks),
                           analysis=analysis).table.set_index("subcategory")
    assert table.loc["community_rooms_national", "required_m2"] == 600
    assert table.loc["community_elderly_rooms_new", "required_m2"] == 400
    assert table.loc["community_rooms_national", "result"] == "fail"  # nothing planned


def test_households_derived_when_only_population_is_known(tmp_path):
    path = tmp_path / "p.geojson"
    gpd.GeoDataFrame({"人口": [5000]}, geometry=[shapely.Point(116.4, 39.9)], crs=4326).to_file(path)
    project = read_project(path, crs="EPSG:32650", people_per_household=2.5)
    assert project.households == 2000 and "户数按 5,000 人 ÷ 2.50 人/户" in project.notes[0]
    gpd.GeoDataFrame({"name": ["x"]}, geometry=[shapely.Point(116.4, 39.9)], crs=4326).to_file(path)
    with pytest.raises(InputError, match="户数"):
        read_project(path, crs="EPSG:32650")


def test_planned_list_with_an_unknown_category_names_the_row(tmp_path):
    path = tmp_path / "planned.csv"
    path.write_text("名称,类别,建筑面积\n养老用房,养老,400\n停车场,停车,900\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"planned.csv, row 3: unknown category '停车'"):
        read_planned(path)


def test_written_review_and_conditions(kindergarten_study, tmp_path):
    analysis, project_path = kindergarten_study
    project = read_project(project_path, crs=analysis.crs)
    review = review_project(project, review_checks(load_standards(), choices=None, surveyed=analysis.checks), analysis=analysis)
    paths = write_review(review, tmp_path / "out")
    assert sorted(p.name for p in paths.values()) == ["review.csv", "review.md", "review.xlsx"]
    text = paths["md"].read_text(encoding="utf-8")
    assert "新建小区（规划居住 2,000 户、约 5,000 人）社区配套设施规划条件" in text
    assert "与住宅同步规划、同步建设、同步验收、同步交付" in text
    assert "社区教育设施（幼儿园）：1 处，建筑面积合计不少于 3,150 m²" in text
    table = pd.read_csv(paths["csv"], encoding="utf-8-sig")
    assert len(table) == len(review.table) and set(table["result"]) <= {"pass", "fail", "not required"}


def test_review_cli_on_the_sample_as_planned_and_as_built(tmp_path):
    from test_cli import run_cli

    project = tmp_path / "project.geojson"
    project.write_text(json.dumps({"type": "FeatureCollection", "features": [{
        "type": "Feature", "properties": {"name": "示例地块", "户数": 2000},
        "geometry": {"type": "Polygon", "coordinates": [[[116.352, 39.905], [116.357, 39.905], [116.357, 39.909],
                                                         [116.352, 39.909], [116.352, 39.905]]]}}]}),
        encoding="utf-8")
    planned = tmp_path / "planned.csv"
    planned.write_text("名称,类别,子类,建筑面积\n社区养老服务用房,养老,,420\n社区服务用房,社区用房,,300\n", encoding="utf-8")
    result = run_cli("review", "--project", str(project), "--planned", str(planned), "--out", str(tmp_path / "r"))
    assert result.returncode == 0, result.stderr
    assert "规划条件" in result.stdout + result.stderr
    table = pd.read_csv(tmp_path / "r" / "review.csv", encoding="utf-8-sig").set_index("subcategory")
    # Xicheng's primary schools within 500 m have spare capacity for the whole project
    assert table.loc["primary_school", "result"] == "not required"
    assert table.loc["primary_school", "spare_capacity"] >= table.loc["primary_school", "population"]
    # the sample is Beijing (北京市西城区): Guizhou's 20 m² per 100 households does not apply there; the national
    # day-care centre (≥ 350 m²) does, and the planned 420 m² meet it
    assert "community_elderly_rooms_new" not in table.index
    assert table.loc["day_care_center", "result"] == "pass"
    assert table.loc["community_rooms_national", "result"] == "fail"  # 300 m² < 30 m² × 20
    built = run_cli("review", "--project", str(project), "--as-built", str(planned), "--out", str(tmp_path / "a"),
                    "--quiet")
    assert built.returncode == 0, built.stderr
    opinion = (tmp_path / "a" / "acceptance.md").read_text(encoding="utf-8")
    assert "竣工验收意见" in opinion and "暂不通过验收" in opinion and "不得通过验收" in opinion
    # issue 14: the texts a planner files are Chinese throughout and cite only the standards of Beijing and national
    from test_jurisdiction import latin_words

    conditions = (tmp_path / "r" / "review.md").read_text(encoding="utf-8").split("```text")[1]
    for text in (conditions, opinion.split("```text")[1]):
        assert latin_words(text) == [], text
        assert "贵州省" not in text and "安徽省" not in text and "哈尔滨" not in text
    assert "社区便民商业设施（菜市场）：1 处，建筑面积合计不少于 500 m²" in conditions  # Beijing's minimum
    assert "社区教育设施（幼儿园）：1 处，建筑面积合计不少于 3,150 m²，周边设施未调查" in conditions  # schools only
    settings = json.loads((tmp_path / "r" / "run.json").read_text(encoding="utf-8"))["settings"]
    assert settings["jurisdiction"] == "北京市西城区"
    other = run_cli("review", "--project", str(project), "--planned", str(planned), "--out", str(tmp_path / "s"),
                    "--jurisdiction", "全国", "--quiet")
    assert other.returncode == 0, other.stderr
    national = (tmp_path / "s" / "review.md").read_text(encoding="utf-8").split("```text")[1]
    assert "北京市" not in national and "社区便民商业设施（菜市场）：1 处，建筑面积合计不少于 750 m²" in national


def test_spare_capacity_belongs_to_the_facility_within_reach_whatever_the_row_order(tmp_path, grid_communities):
    """Two kindergartens listed out of id order: K2 at C22's centre (capacity 6,000, C22's 5,000 allocated: spare
    1,000) and K1 at C11's centre (capacity 1,500, C11's 1,000: spare 500). A project 100 m from K2 may count K2's
    1,000 only — not K1's 500, 1 km away."""
    comm_path = tmp_path / "communities.geojson"
    grid_communities.to_crs(4326).to_file(comm_path)
    demand = gpd.GeoDataFrame({"demand_id": grid_communities["community_id"],
                               "population": grid_communities["population"]},
                              geometry=[shapely.Point(centre(int(c[1]), int(c[2])))
                                        for c in grid_communities["community_id"]], crs=CRS)
    dem_path = tmp_path / "demand.geojson"
    demand.to_crs(4326).to_file(dem_path)
    fac = gpd.GeoDataFrame({"facility_id": ["K2", "K1"], "name": ["乙幼儿园", "甲幼儿园"], "category": "education",
                            "subcategory": "kindergarten", "capacity": [6000, 1500]},
                           geometry=[shapely.Point(centre(2, 2)), shapely.Point(centre(1, 1))], crs=CRS)
    fac_path = tmp_path / "kindergartens.geojson"
    fac.to_crs(4326).to_file(fac_path)
    analysis = analyze(communities=comm_path, demand=dem_path, facilities=[fac_path])
    x, y = centre(2, 2)
    project = read_project(_point_file(tmp_path, x + 100, y), crs=analysis.crs, population=5000, households=2000)
    row = review_project(project, review_checks(load_standards(), choices=None, surveyed=analysis.checks),
                         analysis=analysis).table.set_index("subcategory").loc["kindergarten"]
    assert row["spare_capacity"] == pytest.approx(1000)
    assert row["spare_from"].startswith("乙幼儿园 1,000（容量 6,000 − 已分配 5,000，距 100 米）")


def _point_file(tmp_path, x, y):
    path = tmp_path / "site.geojson"
    gpd.GeoDataFrame({"name": ["新建小区"]}, geometry=[shapely.Point(x, y)], crs=CRS).to_crs(4326).to_file(path)
    return path


def _kindergarten_world(tmp_path, grid_communities, in_use_at, capacity):
    """The 3×3 grid with its people at the block centres (C22: 5,000); a kindergarten in use at ``in_use_at``
    (capacity ``capacity``) and one under construction (状态 在建) 150 m north of C22's centre."""
    comm_path = tmp_path / "communities.geojson"
    grid_communities.to_crs(4326).to_file(comm_path)
    demand = gpd.GeoDataFrame({"demand_id": grid_communities["community_id"],
                               "population": grid_communities["population"]},
                              geometry=[shapely.Point(centre(int(c[1]), int(c[2])))
                                        for c in grid_communities["community_id"]], crs=CRS)
    dem_path = tmp_path / "demand.geojson"
    demand.to_crs(4326).to_file(dem_path)
    x, y = centre(2, 2)
    fac = gpd.GeoDataFrame({"facility_id": ["K", "P"], "name": ["甲幼儿园", "乙幼儿园"], "category": "education",
                            "subcategory": "kindergarten", "capacity": [capacity, 3000], "状态": ["在用", "在建"]},
                           geometry=[shapely.Point(in_use_at), shapely.Point(x, y + 150)], crs=CRS)
    fac_path = tmp_path / "kindergartens.geojson"
    fac.to_crs(4326).to_file(fac_path)
    analysis = analyze(communities=comm_path, demand=dem_path, facilities=[fac_path])
    project = read_project(_point_file(tmp_path, x + 100, y), crs=analysis.crs, population=3000, households=1200)
    return review_project(project, review_checks(load_standards(), choices=None, surveyed=analysis.checks),
                          analysis=analysis).table.set_index("subcategory").loc["kindergarten"]


def test_no_facility_in_reach_is_not_no_spare_capacity(tmp_path, grid_communities):
    """Issue 14: the project 100 m east of C22's centre; the only kindergarten in use K is at C11's centre,
    √(600² + 500²) ≈ 781 m away (> 300 m), and P, 180 m away (√(100² + 150²)), is under construction. Nothing in use
    is within reach: the reason says so and names P without counting it — not "已调查，无剩余容量"."""
    row = _kindergarten_world(tmp_path, grid_communities, centre(1, 1), 6000)
    assert row["survey"] == "已调查" and row["spare_capacity"] == 0 and row["remainder_population"] == 3000
    assert row["reasons"].startswith("服务半径 300 米内无在用的幼儿园（在建 1 处，未计入）；其余 3,000 人需新配建")
    assert "无剩余容量" not in row["reasons"]


def test_full_facilities_in_reach_have_no_spare_capacity(tmp_path, grid_communities):
    """K at C22's centre, 100 m from the project, holds 5,000: C22's 5,000 people are allocated to it (the other
    block centres are ≥ 500 m away), so it is full. "无剩余容量" is said of it, with P (在建) beside it."""
    row = _kindergarten_world(tmp_path, grid_communities, centre(2, 2), 5000)
    assert row["spare_capacity"] == 0 and row["remainder_population"] == 3000
    assert row["reasons"].startswith("服务半径 300 米内现有幼儿园 1 处，均已满，无剩余容量；另有在建 1 处，未计入；"
                                     "其余 3,000 人需新配建")
