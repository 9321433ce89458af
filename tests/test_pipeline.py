"""The whole pipeline from files, on the 3×3 grid of 500 m blocks (conftest.py).

With no demand file, each block's population is spread over a 100 m grid: 25 points per block at cell centres
50, 150, …, 450 m from its south-west corner. School A is at the centre of C22 (750, 750 from the grid's
corner). With a 520 m radius, the points of C12 (the west block of the middle row) lie 300–700 m east-west and
0–200 m north-south of A: all 5 points of the 300 m and 400 m columns are within 520 m, 3 of the 500 m column
(dy = 0, ±100: 500 m and 510 m; ±200: 539 m), none farther out: 13 of 25 = 0.52. In the corner block C11 only
(300, 300), (300, 400) and (400, 300) are within 520 m: 3 of 25 = 0.12.
"""
from __future__ import annotations

import pandas as pd
import pytest
import shapely
import shapely.affinity

from conftest import write_grid_files
from geofacility.errors import InputError
from geofacility.pipeline import analyze


@pytest.fixture
def grid_files(tmp_path, grid_communities, grid_facilities):
    return write_grid_files(tmp_path, grid_communities, grid_facilities)


def test_spread_population_coverage_from_files(grid_files):
    communities, facilities = grid_files
    result = analyze(communities=communities, facilities=[facilities], radius={"education": 520})
    out = result.communities.set_index("community_id")
    assert result.crs.to_epsg() == 32650
    assert out.loc["C12", "education_covered_share"] == pytest.approx(0.52)
    assert out.loc["C21", "education_covered_share"] == pytest.approx(0.52)
    assert out.loc["C11", "education_covered_share"] == pytest.approx(0.12)
    assert out.loc["C11", "education_covered_population"] == pytest.approx(120)  # 12 % of 1000
    assert out.loc["C22", "education_covered_share"] == pytest.approx(1.0)
    assert len(result.demand) == 9 * 25
    assert result.demand["weight"].sum() == pytest.approx(45_000)
    assert result.surveyed == ["education"]
    assert "spread over a 100 m grid" in " ".join(result.warnings["message"])
    # communities sorted by town then id: 东街道 (columns 1–2) before 西街道 (column 3)
    assert list(result.communities["community_id"]) == ["C11", "C12", "C13", "C21", "C22", "C23", "C31", "C32",
                                                        "C33"]


def test_category_given_on_the_command_line_marks_it_surveyed(tmp_path, grid_files):
    communities, _ = grid_files
    empty = tmp_path / "clinics.csv"
    empty.write_text("name,lon,lat\n诊所,0,0\n")  # one clinic far away (0°, 0°): surveyed, none nearby
    result = analyze(communities=communities, facilities=[(empty, "health")])
    out = result.communities
    assert result.surveyed == ["health"]
    assert (out["health_status"] == "gap").all()
    assert (out["health_covered_share"] == 0).all()
    assert (out["education_status"] == "not_surveyed").all()


def test_standard_choice_and_user_standards_file(tmp_path, grid_files):
    communities, facilities = grid_files
    rules = tmp_path / "rules.csv"
    rules.write_text("category,subcategory,name_zh,level,radius_m,default\n"
                     "education,primary_school,小学（本区）,10min,800,\n", encoding="utf-8")
    result = analyze(communities=communities, facilities=[facilities], standards=rules)
    out = result.communities.set_index("community_id")
    assert out.loc["C11", "education_radius_m"] == 800
    # C11's points lie 300–700 m from A both ways; within 800 m: 5 + 4 + 4 + 3 + 1 of 25 (by column)
    assert out.loc["C11", "education_covered_share"] == pytest.approx(0.68)
    assert "小学（本区）" in out.loc["C11", "education_standard"]
    with pytest.raises(InputError, match="no such standard"):
        analyze(communities=communities, facilities=[facilities], standard_choices={"education": ["nope"]})


def test_missing_required_columns_are_clear_errors(tmp_path, grid_files):
    communities, _ = grid_files
    no_category = tmp_path / "f.csv"
    no_category.write_text("name,lon,lat\na,116.3,39.9\n")
    with pytest.raises(InputError, match="no category column"):
        analyze(communities=communities, facilities=[no_category])
    no_population = tmp_path / "d.csv"
    no_population.write_text("name,lon,lat\na,116.3,39.9\n")
    with pytest.raises(InputError, match="no population column"):
        analyze(communities=communities, demand=no_population)
    with pytest.raises(InputError, match="radius must be > 0"):
        analyze(communities=communities, radius={"education": 0})


def test_every_demand_row_is_used_or_reported(tmp_path, grid_files, grid_communities):
    """Rows read = rows used + rows reported: a point far outside, one with no coordinates, one with no
    population, and three good ones."""
    communities, facilities = grid_files
    pts = grid_communities.to_crs(4326).geometry.centroid
    frame = pd.DataFrame({
        "name": ["a", "b", "c", "far", "nocoord", "nopop"],
        "population": [100, 200, 300, 50, 10, ""],
        "lon": [pts.x[0], pts.x[1], pts.x[2], 117.5, "", pts.x[3]],
        "lat": [pts.y[0], pts.y[1], pts.y[2], 40.5, "", pts.y[3]],
    })
    path = tmp_path / "demand.csv"
    frame.to_csv(path, index=False)
    result = analyze(communities=communities, facilities=[facilities], demand=path)
    w = result.warnings
    rows = w.loc[(w["file"] == str(path)) & (w["row"] != ""), "row"]
    assert sorted(rows.astype(int)) == [5, 6, 7]
    # the six blocks without a demand point are named in file-level warnings
    assert (w["message"].str.contains("has population but no demand point")).sum() == 6
    used = result.demand[result.demand["demand_id"].str.startswith("demand:")]
    assert len(used) == 4  # a, b, c and the far point (kept, counted in no community)
    assert used["community_id"].isna().sum() == 1
    # communities without any demand point get their own population at one point inside
    assert result.demand["weight"].sum() == pytest.approx(100 + 200 + 300 + 50 + sum(
        grid_communities["population"].iloc[3:]))


def test_every_input_row_is_used_or_reported_on_messy_input(tmp_path, grid_communities, grid_facilities):
    """rows read = rows used + rows reported, file by file, on inputs with a bit of everything wrong."""
    import geopandas as gpd
    import shapely

    from conftest import CRS, centre

    comm = grid_communities.to_crs(4326)
    comm.loc[len(comm)] = {"community_id": "X", "community": "无边界", "town": "东街道", "population": 10.0,
                           "households": 4.0, "geometry": None}  # no geometry
    comm_path = tmp_path / "communities.geojson"
    comm.to_file(comm_path)
    fac = grid_facilities.to_crs(4326)
    fac_csv = pd.DataFrame({"facility_id": ["A", "B", "C", "D", "E"], "name": list("甲乙丙丁戊"),
                            "category": ["education", "education", "停车场", "education", "education"],
                            "lon": [fac.geometry.x[0], fac.geometry.x[1], fac.geometry.x[0], "", 500.0],
                            "lat": [fac.geometry.y[0], fac.geometry.y[1], fac.geometry.y[0], "", 39.9]})
    fac_path = tmp_path / "facilities.csv"
    fac_csv.to_csv(fac_path, index=False)  # C unknown category, D no coordinates, E longitude 500
    pts = gpd.GeoSeries([shapely.Point(centre(c, r)) for c in (1, 2, 3) for r in (1, 2, 3)], crs=CRS).to_crs(4326)
    # (a negative or non-numeric population stops the run instead: tests/test_bad_inputs.py)
    demand = pd.DataFrame({"population": [100, "", 100, 100, 100, 100, 100, 100, 100, 100],
                           "lon": [*pts.x, 120.0], "lat": [*pts.y, 30.0]})  # the last far outside every community
    dem_path = tmp_path / "demand.csv"
    demand.to_csv(dem_path, index=False)
    analysis = analyze(communities=comm_path, facilities=[fac_path], demand=dem_path)
    acc = analysis.accounting.set_index("file")
    assert acc.loc[str(comm_path)].tolist() == [10, 9, 1, 0]
    assert acc.loc[str(fac_path)].tolist() == [5, 2, 3, 0]
    row = acc.loc[str(dem_path)]
    assert row["rows_read"] == 10 and row["rows_unaccounted"] == 0
    assert row["rows_read"] == row["rows_used"] + row["rows_reported"]
    # the missing population is reported and not used; the home far outside every community is kept (counted in
    # no community) and reported
    assert (row["rows_used"], row["rows_reported"]) == (9, 1)
    far = analysis.warnings[(analysis.warnings["file"] == str(dem_path)) & (analysis.warnings["row"] == "11")]
    assert far["message"].str.contains("outside every community").any()
    assert (acc["rows_unaccounted"] == 0).all()
    assert (acc["rows_read"] == acc["rows_used"] + acc["rows_reported"]).all()


def test_population_grid_covers_each_community_not_the_land_between(grid_communities):
    """Two blocks 1,000 km apart: the 100 m grid covers their own boxes (50 cells), not the 10¹⁰ m² between."""
    from geofacility.demand import spread_population

    far = grid_communities.iloc[[0, 8]].copy()
    far.loc[far.index[1], "geometry"] = shapely.affinity.translate(far.geometry.iloc[1], 1_000_000, 0)
    demand = spread_population(far)
    assert len(demand) == 50 and demand["weight"].sum() == pytest.approx(far["population"].sum())


def test_a_grid_too_large_for_memory_is_refused_before_it_is_built(grid_communities, monkeypatch):
    import geofacility.read.files as read_files
    from geofacility.demand import spread_population

    monkeypatch.setattr(read_files, "available_memory", lambda: 10_000)
    with pytest.raises(InputError, match=r"a 100 m grid needs 225 cells .* give the population as points"):
        spread_population(grid_communities)


def _compounds(tmp_path, gcj: bool):
    """20 compounds (150 m squares, 1 km apart, in Beijing) as communities, a home at the centre of each, written
    as plain lon/lat — in WGS84, or in GCJ-02 as Amap gives them (shifted about 540 m)."""
    import geopandas as gpd

    from conftest import CRS, X0, Y0
    from geofacility.read import wgs84_to_gcj02

    centres = [(X0 + 1000 * i, Y0 + 1000 * j) for i in range(5) for j in range(4)]
    comm = gpd.GeoDataFrame({"community_id": [f"K{k}" for k in range(20)], "town": "街道", "population": 100.0,
                             "households": 40.0},
                            geometry=[shapely.box(x - 75, y - 75, x + 75, y + 75) for x, y in centres], crs=CRS)
    comm_path = tmp_path / "compounds.geojson"
    comm.to_crs(4326).to_file(comm_path)
    pts = gpd.GeoSeries([shapely.Point(c) for c in centres], crs=CRS).to_crs(4326)
    lon, lat = (wgs84_to_gcj02(pts.x.to_numpy(), pts.y.to_numpy()) if gcj else (pts.x, pts.y))
    dem_path = tmp_path / "homes.csv"
    pd.DataFrame({"人口": 100, "lon": lon, "lat": lat}).to_csv(dem_path, index=False)
    return comm_path, dem_path


def test_gcj02_coordinates_read_as_wgs84_are_suspected(tmp_path):
    comm_path, dem_path = _compounds(tmp_path, gcj=True)
    analysis = analyze(communities=comm_path, demand=dem_path)
    warned = analysis.warnings[analysis.warnings["file"] == str(dem_path)]
    assert warned["message"].str.contains(r"100% of the points lie outside every community as read \(WGS84\), only "
                                          r"0% if read as GCJ-02").any()
    fixed = analyze(communities=comm_path, demand=dem_path, coords={"demand": "gcj02"})
    assert not fixed.warnings["message"].str.contains("probably GCJ-02").any()
    assert fixed.demand["community_id"].notna().all()


def test_true_wgs84_points_are_not_suspected(tmp_path):
    comm_path, dem_path = _compounds(tmp_path, gcj=False)
    analysis = analyze(communities=comm_path, demand=dem_path)
    assert not analysis.warnings["message"].str.contains("GCJ").any()


def test_study_name_drops_generic_file_names(tmp_path):
    """A title is built as <study>社区配套设施…: a study named after 社区.geojson would read 社区社区配套设施…."""
    from geofacility.study import study_name

    assert study_name("张店区社区.geojson") == "张店区"
    assert study_name("西城区_communities.gpkg") == "西城区"
    assert study_name("马尚街道社区边界.shp") == "马尚街道"
    assert study_name("data/社区.geojson", ["马尚街道", "马尚街道"]) == "马尚街道"  # one street: its name
    (tmp_path / "张店区").mkdir()
    assert study_name(tmp_path / "张店区" / "社区.geojson", ["马尚街道", "科苑街道"]) == "张店区"  # the folder
    (tmp_path / "数据").mkdir()
    assert study_name(tmp_path / "数据" / "communities.geojson", ["甲", "乙"]) == ""  # nothing but generic words
    gpkg = tmp_path / "数据.gpkg"
    gpkg.write_bytes(b"")
    assert study_name(f"{gpkg}:淄博市张店区社区") == "淄博市张店区"  # the layer names the place
