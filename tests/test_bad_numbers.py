"""Numbers, names and layers that gave wrong numbers silently (issue 13, section 4): the number parser every numeric
column goes through, the terminal digest of rows not used, facility type spellings, ``PATH:LAYER``, and where the
people of overlapping communities are counted. The bad-input cases themselves are in tests/test_bad_inputs.py."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import shapely

from conftest import BLOCK, CRS, X0, Y0, centre, write_grid_files
from geofacility.errors import InputError, WarningLog, digest
from geofacility.read import check_overlaps, parse_numbers, read_facilities, split_layer
from geofacility.read.numbers import _to_float
from geofacility.pipeline import analyze

NAN = float("nan")


@pytest.mark.parametrize("cell,value,problem", [
    ("1234", 1234.0, None),
    ("1,234", 1234.0, None),  # thousands separators in groups of three
    ("12,345,678", 12_345_678.0, None),
    ("1,234.5", 1234.5, None),
    (" 5 ", 5.0, None),
    ("1e3", 1000.0, None),
    ("１２３４", 1234.0, None),  # full-width digits: NFKC
    ("１，２３４．５", 1234.5, None),
    ("－１２", -12.0, None),
    ("12,34", NAN, "ambiguous"),  # 12.34 or 1234?
    ("1.234,5", NAN, "ambiguous"),  # European
    ("116,3625", NAN, "ambiguous"),  # a decimal comma
    ("1,2345", NAN, "ambiguous"),
    ("inf", NAN, "not a number"),
    ("-inf", NAN, "not a number"),
    ("Infinity", NAN, "not a number"),
    ("nan", NAN, "not a number"),
    ("1e999", NAN, "not a number"),
    ("约三千", NAN, "not a number"),
    ("", NAN, None),  # empty: missing, the caller decides
    (None, NAN, None),
])
def test_parse_numbers(cell, value, problem):
    got = parse_numbers(pd.Series(["7", cell], dtype="str"))
    assert got.values[0] == 7.0
    assert got.values[1] == pytest.approx(value, nan_ok=True)
    assert (None if got.problem is None else got.problem[1]) == problem


@pytest.mark.parametrize("cell", ["1,234", "12,345,678", "１，２３４．５"])
def test_coordinates_never_read_thousands_separators(cell):
    got = parse_numbers(pd.Series([cell], dtype="str"), thousands=False)
    assert np.isnan(got.values[0]) and got.problem[0] == "ambiguous"


def test_numeric_columns_read_as_numbers():
    got = parse_numbers(pd.Series([1.5, np.inf, np.nan, 3]))
    assert got.values[0] == 1.5 and np.isnan(got.values[1:3]).all() and got.values[3] == 3
    assert list(got.problem) == [None, "not a number", None, None]


@pytest.mark.parametrize("cells", [
    ["116.693696567", "39.9", "-0.5", "12", None],
    ["116.12345678901234", "39.9", "1", "-0"],  # more than 15 digits, -0: pandas' own rules, as _to_float
    ["1", "2", "3"],
])
def test_plain_numbers_read_to_the_bit_as_before(cells):
    """The fast path is _to_float's: plain numbers give the same doubles, bit for bit."""
    values = pd.Series(cells, dtype="str")
    expected = _to_float(values)
    got = parse_numbers(values)
    assert got.problem is None and not got.normalised
    assert np.array_equal(np.isnan(got.values), np.isnan(expected))
    assert np.array_equal(got.values[~np.isnan(got.values)].view("i8"), expected[~np.isnan(expected)].view("i8"))


@pytest.mark.parametrize("text,files,path,layer", [
    ("社区.gpkg:communities", {"社区.gpkg"}, "社区.gpkg", "communities"),
    ("社区.gpkg", {"社区.gpkg"}, "社区.gpkg", None),
    ("社区.gpkg:communities", set(), "社区.gpkg:communities", None),  # no such file: reported as not found
    (r"C:\data\社区.gpkg", {r"C:\data\社区.gpkg"}, r"C:\data\社区.gpkg", None),  # a Windows drive letter
    (r"C:\data\社区.gpkg:communities", {r"C:\data\社区.gpkg"}, r"C:\data\社区.gpkg", "communities"),
    (r"C:\data\社区.gpkg", set(), r"C:\data\社区.gpkg", None),  # 'C' is no file: the whole path, not found
    ("a:b.gpkg", {"a:b.gpkg", "a"}, "a:b.gpkg", None),  # the whole string exists: never split
])
def test_split_layer(text, files, path, layer):
    got_path, got_layer = split_layer(text, exists=files.__contains__)
    assert (str(got_path), got_layer) == (str(pd.io.common.stringify_path(path)), layer)


def test_digest_of_rows_not_used():
    """The terminal digest is built from the warnings alone: per file, the rows set aside grouped by reason with
    their most common values; repairs and info rows are not counted; a category with no usable row is loud."""
    log = WarningLog()
    log.extend("data/facilities.csv", range(2, 12), "unknown category '社区医院'; not used (use one of …)")
    log.extend("data/facilities.csv", [12, 13], "unknown category '诊所'; not used (use one of …)")
    log.extend("data/facilities.csv", [14, 15, 16], "missing or non-numeric lon/lat; row not used")
    log.add("data/facilities.csv", 17, "floor_area_m2 is not a number ('约两千'); treated as unknown")  # kept
    log.add("data/facilities.csv", None, "category health (医疗卫生) has no usable row in this file: …")
    log.add("demand.csv", 3, "population missing; row not used")
    log.extend("streets.geojson", [1, 2], "not walkable (highway/foot/access tags); not used", severity="info")
    assert digest(log.to_frame()) == [
        "facilities.csv: 15 rows not used — unknown category '社区医院' ×10, '诊所' ×2; missing or non-numeric "
        "lon/lat ×3",
        "demand.csv: 1 row not used — population missing ×1",
        "WARNING: facilities.csv: category health (医疗卫生) has no usable row in this file: …",
    ]
    assert digest(WarningLog().to_frame()) == []


SPELLINGS = {  # what Chinese facility lists write → (category, subcategory)
    "卫生服务站": ("health", "community_health_station"),
    "社区卫生站": ("health", "community_health_station"),
    "卫生室": ("health", "community_health_station"),
    "社区卫生中心": ("health", "community_health_center"),
    "幼儿园": ("education", "kindergarten"),
    "幼稚园": ("education", "kindergarten"),
    "完小": ("education", "primary_school"),
    "中心小学": ("education", "primary_school"),
    "初中": ("education", "middle_school"),
    "初级中学": ("education", "middle_school"),
    "九年一贯制学校": ("education", "middle_school"),  # with a warning: its primary part is not counted
    "养老驿站": ("elderly_care", "day_care_center"),
    "老年日间照料中心": ("elderly_care", "day_care_center"),
    "托老所": ("elderly_care", "day_care_center"),
    "老年餐桌": ("canteen", "elderly_meal_point"),
    "长者食堂": ("canteen", "elderly_canteen"),
    "综合超市": ("commerce", "supermarket"),
    "生鲜超市": ("commerce", "vegetable_market"),
    "健身广场": ("sports", "outdoor_fitness_ground"),
    "健身路径": ("sports", "outdoor_fitness_ground"),
    "党群服务中心": ("community_service", None),  # the category; which of its standards is not said
    "社区医院": (None, None),  # a designation, not one standard: reported as an unknown category
    "便民菜店": (None, None),  # neither the market nor the convenience store of the standards
}


@pytest.fixture(scope="module")
def spellings_read(tmp_path_factory):
    path = tmp_path_factory.mktemp("spellings") / "设施.csv"
    pd.DataFrame({"名称": list(SPELLINGS), "类别": list(SPELLINGS), "lon": 116.35, "lat": 39.9}).to_csv(path,
                                                                                                     index=False)
    log = WarningLog()
    return read_facilities(path, log=log).set_index("name"), log.to_frame()


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_facility_type_spellings(spelling, spellings_read):
    facilities, warnings = spellings_read
    category, subcategory = SPELLINGS[spelling]
    if category is None:
        assert spelling not in facilities.index
        assert warnings["message"].str.contains(f"unknown category '{spelling}'").any()
        return
    assert facilities.loc[spelling, "category"] == category
    got = facilities.loc[spelling, "subcategory"]
    assert (None if pd.isna(got) else got) == subcategory


@pytest.fixture
def overlapping(tmp_path, grid_communities, grid_facilities):
    """The grid with X, C11's west half drawn again (600 people), and a demand file: one point in the overlap
    (300 people), one in C22 (500)."""
    import geopandas as gpd

    extra = gpd.GeoDataFrame([{"community_id": "X", "community": "重复", "town": "东街道", "population": 600.0,
                               "households": 240.0, "geometry": shapely.box(X0, Y0, X0 + 250, Y0 + BLOCK)}], crs=CRS)
    comm = pd.concat([grid_communities, extra], ignore_index=True)
    comm_path, fac_path = write_grid_files(tmp_path, gpd.GeoDataFrame(comm, crs=CRS), grid_facilities)
    points = gpd.GeoSeries([shapely.Point(X0 + 100, Y0 + 100), shapely.Point(*centre(2, 2))], crs=CRS).to_crs(4326)
    demand = tmp_path / "demand.csv"
    pd.DataFrame({"小区": ["甲", "乙"], "人口": [300, 500], "lon": points.x, "lat": points.y}).to_csv(demand, index=False)
    return comm_path, fac_path, demand


def test_overlapping_communities_count_their_people_once(overlapping):
    """--allow-overlap: without demand points, C11's 1,000 and X's 600 people are each spread over their own
    polygon (the overlap holds points of both, each carrying its own community's people): 45,600 in all. With
    demand points, the point in the overlap counts in C11 only (the lowest id), never in both."""
    comm_path, fac_path, demand = overlapping
    with pytest.raises(InputError, match="overlap by 100%"):
        analyze(communities=comm_path, facilities=[(fac_path, "education")])
    spread = analyze(communities=comm_path, facilities=[(fac_path, "education")], allow_overlap=True)
    weights = spread.demand.groupby("community_id")["weight"].sum()
    assert weights["C11"] == pytest.approx(1000) and weights["X"] == pytest.approx(600)
    assert spread.demand["weight"].sum() == pytest.approx(45_600)
    points = analyze(communities=comm_path, facilities=[(fac_path, "education")], demand=demand, allow_overlap=True)
    given = points.demand[points.demand["demand_id"].str.startswith("demand:")].set_index("demand_id")
    assert given.loc["demand:2", "community_id"] == "C11" and given["weight"].sum() == 800
    assert (points.accounting["rows_unaccounted"] == 0).all()


def test_overlap_shares_are_of_the_smaller_polygon(grid_communities):
    """C12 drawn 100 m into C11 (50,000 m², 20 % of C11); touching neighbours are not overlaps; under 1 % is
    noise."""
    comm = grid_communities.copy()
    comm.loc[3, "geometry"] = shapely.box(X0, Y0 + BLOCK - 100, X0 + BLOCK, Y0 + 2 * BLOCK)  # C12
    comm.loc[5, "geometry"] = shapely.box(X0 + 2 * BLOCK - 2, Y0 + BLOCK, X0 + 3 * BLOCK, Y0 + 2 * BLOCK)  # C32, 2 m
    comm["source_row"] = range(1, 10)
    log = WarningLog()
    log.record_read("c.geojson", 9)
    pairs = check_overlaps(comm, label="c.geojson", log=log)
    assert pairs[["i", "j"]].values.tolist() == [[0, 3]]
    assert pairs["share"].iloc[0] == pytest.approx(0.2) and pairs["area_m2"].iloc[0] == pytest.approx(50_000)
    assert log.to_frame()["row"].tolist() == ["1, 4"]
