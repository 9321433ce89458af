"""Loaders: formats, encodings, aliases, coordinate systems and bad input."""
from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import Geod

from geofacility.errors import InputError, WarningLog
from geofacility.read import (read_communities, read_demand, read_facilities, read_layer, wgs84_to_bd09,
                              wgs84_to_gcj02)

GEOD = Geod(ellps="WGS84")


@pytest.fixture
def communities_wgs84(grid_communities):
    return grid_communities.to_crs(4326)


def _chinese(gdf):
    return gdf.rename(columns={"community_id": "社区编码", "community": "社区名称", "town": "街道",
                               "population": "常住人口", "households": "户数"})


@pytest.mark.parametrize("suffix,driver", [(".geojson", "GeoJSON"), (".gpkg", "GPKG"), (".shp", "ESRI Shapefile")])
def test_vector_formats_with_chinese_aliases(tmp_path, communities_wgs84, suffix, driver):
    path = tmp_path / f"社区{suffix}"
    # DBF field names hold 10 bytes: Chinese names fit in GBK (2 bytes a character), as real files use
    extra = {"encoding": "GBK"} if suffix == ".shp" else {}
    _chinese(communities_wgs84).to_file(path, driver=driver, **extra)
    log = WarningLog()
    got = read_communities(path, log=log)
    assert list(got["community_id"]) == list(communities_wgs84["community_id"])
    assert got["population"].sum() == 45_000
    assert got["households"].sum() == 18_000
    assert set(got["town"]) == {"东街道", "西街道"}
    assert list(got["source_row"]) == list(range(1, 10))
    assert len(log) == 0


def test_gbk_shapefile_with_cpg_and_without(tmp_path, communities_wgs84):
    path = tmp_path / "gbk.shp"
    _chinese(communities_wgs84).to_file(path, driver="ESRI Shapefile", encoding="GBK")
    assert path.with_suffix(".cpg").read_text().strip().upper() == "GBK"
    assert read_communities(path)["community"].iloc[0] == "社区11"
    path.with_suffix(".cpg").unlink()  # planners' files often come without .cpg: detected
    log = WarningLog()
    got = read_communities(path, log=log)
    assert got["community"].iloc[0] == "社区11" and got["town"].iloc[0] == "东街道"
    assert "GB18030" in log.to_frame()["message"].iloc[0]
    assert read_communities(path, encoding="gbk")["community"].iloc[0] == "社区11"


def test_csv_lon_lat_gcj02_by_column_name_and_by_option(tmp_path):
    lon, lat = np.array([116.35, 116.40]), np.array([39.90, 39.95])
    glon, glat = wgs84_to_gcj02(lon, lat)
    pd.DataFrame({"名称": ["甲", "乙"], "类别": ["小学", "幼儿园"], "gcj02_lng": glon, "gcj02_lat": glat}) \
        .to_csv(tmp_path / "a.csv", index=False)
    log = WarningLog()
    fac = read_facilities(tmp_path / "a.csv", log=log)
    d = GEOD.inv(fac.geometry.x.to_numpy(), fac.geometry.y.to_numpy(), lon, lat)[2]
    assert np.max(d) < 0.01
    assert list(fac["category"]) == ["education", "education"]
    assert list(fac["subcategory"]) == ["primary_school", "kindergarten"]
    assert "GCJ02" in " ".join(log.to_frame()["message"])
    # plain lon/lat columns with --coords bd09
    blon, blat = wgs84_to_bd09(lon, lat)
    pd.DataFrame({"name": ["a", "b"], "category": ["养老", "医疗"], "经度": blon, "纬度": blat}) \
        .to_csv(tmp_path / "b.csv", index=False)
    fac = read_facilities(tmp_path / "b.csv", coords="bd09")
    d = GEOD.inv(fac.geometry.x.to_numpy(), fac.geometry.y.to_numpy(), lon, lat)[2]
    assert np.max(d) < 0.01
    assert list(fac["category"]) == ["elderly_care", "health"]


def test_gbk_csv_and_xlsx(tmp_path):
    frame = pd.DataFrame({"小区": ["甲小区", "乙小区"], "人口": ["1,200", "800"], "lon": [116.35, 116.36],
                          "lat": [39.90, 39.91]})
    frame.to_csv(tmp_path / "gbk.csv", index=False, encoding="gbk")
    got = read_demand(tmp_path / "gbk.csv")
    assert list(got["weight"]) == [1200.0, 800.0] and list(got["name"]) == ["甲小区", "乙小区"]
    frame.to_excel(tmp_path / "d.xlsx", index=False)
    got = read_demand(tmp_path / "d.xlsx")
    assert list(got["weight"]) == [1200.0, 800.0]
    assert list(got["source_row"]) == [2, 3]  # the spreadsheet rows a planner sees


def test_geojson_declared_wgs84_but_gcj02(tmp_path):
    lon, lat = 116.38, 39.92
    glon, glat = wgs84_to_gcj02(lon, lat)
    gpd.GeoDataFrame({"name": ["x"], "category": ["education"]}, geometry=[shapely.Point(glon, glat)],
                     crs=4326).to_file(tmp_path / "amap.geojson")
    fac = read_facilities(tmp_path / "amap.geojson", coords="gcj02")
    assert GEOD.inv(fac.geometry.x[0], fac.geometry.y[0], lon, lat)[2] < 0.01


def test_projected_cgcs2000_shapefile(tmp_path, communities_wgs84):
    communities_wgs84.to_crs(4547).to_file(tmp_path / "gk.shp")  # CGCS2000 / 3-degree GK CM 114E
    got = read_communities(tmp_path / "gk.shp")
    assert got.crs.to_epsg() == 4326
    assert got.geometry.iloc[0].centroid.distance(communities_wgs84.geometry.iloc[0].centroid) < 1e-6


def test_swapped_lon_lat_detected(tmp_path):
    pd.DataFrame({"name": ["a"], "category": ["education"], "lon": [39.9], "lat": [116.4]}) \
        .to_csv(tmp_path / "s.csv", index=False)
    log = WarningLog()
    fac = read_facilities(tmp_path / "s.csv", log=log)
    assert fac.geometry.x[0] == pytest.approx(116.4) and fac.geometry.y[0] == pytest.approx(39.9)
    assert "swapped" in log.to_frame()["message"].iloc[0]


def test_nan_coordinates_reported_not_dropped_silently(tmp_path):
    pd.DataFrame({"name": ["a", "b", "c"], "category": ["education"] * 3, "lon": ["116.4", "", "abc"],
                  "lat": ["39.9", "39.9", "39.9"]}).to_csv(tmp_path / "n.csv", index=False)
    log = WarningLog()
    fac = read_facilities(tmp_path / "n.csv", log=log)
    warnings = log.to_frame()
    assert len(fac) == 1
    assert sorted(warnings["row"].astype(int)) == [3, 4]  # CSV lines of the two bad rows
    assert len(fac) + len(warnings) == 3  # every row accounted for


def test_unknown_category_reported(tmp_path):
    pd.DataFrame({"name": ["a", "b"], "category": ["教育", "公厕"], "lon": [116.4, 116.41], "lat": [39.9, 39.9]}) \
        .to_csv(tmp_path / "u.csv", index=False)
    log = WarningLog()
    fac = read_facilities(tmp_path / "u.csv", log=log)
    assert list(fac["name"]) == ["a"]
    w = log.to_frame()
    assert w["row"].tolist() == ["3"] and "公厕" in w["message"].iloc[0]


def test_invalid_polygon_repaired_and_warned(tmp_path):
    bowtie = shapely.Polygon([(116.30, 39.90), (116.31, 39.91), (116.31, 39.90), (116.30, 39.91)])
    gpd.GeoDataFrame({"社区": ["蝴蝶"], "人口": [100]}, geometry=[bowtie], crs=4326).to_file(tmp_path / "b.gpkg")
    log = WarningLog()
    got = read_communities(tmp_path / "b.gpkg", log=log)
    assert got.geometry.is_valid.all() and got.geometry.area.iloc[0] > 0
    assert "Self-intersection" in log.to_frame()["message"].iloc[0]


@pytest.mark.parametrize("case,expected", [
    ("empty", "the file is empty"),
    ("missing", "file not found"),
    ("header_only", "no data rows"),
    ("duplicate_ids", "duplicate community_id 'C1'"),
    ("negative_population", "row 2: population is negative"),
    ("text_population", "row 1: population is not a number"),
    ("points_as_communities", "communities must be polygons"),
    ("no_crs_projected", "not degrees"),
])
def test_bad_community_input_names_file_row_and_fix(tmp_path, case, expected):
    box = shapely.box(116.3, 39.9, 116.31, 39.91)
    box2 = shapely.box(116.31, 39.9, 116.32, 39.91)
    path = tmp_path / "c.geojson"
    if case == "empty":
        path.write_text("")
    elif case == "header_only":
        path = tmp_path / "c.csv"
        path.write_text("community,population,lon,lat\n")
    elif case == "duplicate_ids":
        gpd.GeoDataFrame({"community_id": ["C1", "C1"], "population": [1, 2]}, geometry=[box, box2],
                         crs=4326).to_file(path)
    elif case == "negative_population":
        gpd.GeoDataFrame({"community": ["a", "b"], "population": [1, -5]}, geometry=[box, box2],
                         crs=4326).to_file(path)
    elif case == "text_population":
        gpd.GeoDataFrame({"community": ["a"], "population": ["many"]}, geometry=[box], crs=4326).to_file(path)
    elif case == "points_as_communities":
        gpd.GeoDataFrame({"community": ["a"], "population": [1]}, geometry=[box.centroid], crs=4326).to_file(path)
    elif case == "no_crs_projected":
        path = tmp_path / "c.shp"
        gpd.GeoDataFrame({"community": ["a"], "population": [1]}, geometry=[shapely.box(4e5, 4.4e6, 4.01e5,
                                                                                        4.401e6)]).to_file(path)
    with pytest.raises(InputError) as err:
        read_communities(path)
    message = str(err.value)
    assert expected in message
    assert str(path) in message or case == "missing"
    assert "\n" not in message


def test_missing_crs_in_degrees_assumed_wgs84_with_warning(tmp_path):
    path = tmp_path / "c.shp"
    gpd.GeoDataFrame({"community": ["a"], "population": [1]}, geometry=[shapely.box(116.3, 39.9, 116.31, 39.91)]) \
        .to_file(path)
    log = WarningLog()
    got = read_communities(path, log=log)
    assert got.crs.to_epsg() == 4326
    assert "no CRS" in log.to_frame()["message"].iloc[0]


def test_alias_file_extends_the_built_in_names(tmp_path):
    from geofacility.read import load_aliases

    (tmp_path / "aliases.csv").write_text("alias,column\n居委会名称,community\n常住人口数,population\n",
                                          encoding="utf-8")
    gpd.GeoDataFrame({"居委会名称": ["甲"], "常住人口数": [321]}, geometry=[shapely.box(116.3, 39.9, 116.31, 39.91)],
                     crs=4326).to_file(tmp_path / "c.gpkg")
    got = read_communities(tmp_path / "c.gpkg", aliases=load_aliases(tmp_path / "aliases.csv"))
    assert got["community"].iloc[0] == "甲" and got["population"].iloc[0] == 321


def test_projected_csv_coordinates_need_a_crs(tmp_path):
    pd.DataFrame({"name": ["a"], "category": ["education"], "x": [440000.0], "y": [4420000.0]}) \
        .to_csv(tmp_path / "p.csv", index=False)
    with pytest.raises(InputError, match="not degrees"):
        read_facilities(tmp_path / "p.csv")
    fac = read_facilities(tmp_path / "p.csv", coords="EPSG:32650")
    assert 116 < fac.geometry.x[0] < 117.5


def test_read_layer_keeps_row_numbers(tmp_path):
    pd.DataFrame({"name": ["a", "b"], "lon": [116.4, 116.5], "lat": [39.9, 40.0]}).to_csv(tmp_path / "r.csv",
                                                                                      index=False)
    got = read_layer(tmp_path / "r.csv")
    assert list(got["source_row"]) == [2, 3] and got.crs.to_epsg() == 4326


@pytest.mark.parametrize("dtype", ["str", "string", object])
@pytest.mark.parametrize("cells", [
    ["116.693696567", "39.9", "-0.5", "12", None],  # the Arrow fast path
    ["16", "-0", "3"],  # all integers: pandas drops the sign of -0
    ["-0.0", "1.5", None],
    [" 116.5", "1e3", "+5", ".5", "inf", "１２", "abc", ""],  # pandas' own rules
    ["116.12345678901234", "39.9"],  # more than 15 digits
])
def test_numeric_text_parsed_as_pandas_does(cells, dtype):
    from geofacility.read.numbers import _to_float
    values = pd.Series(cells, dtype=dtype)
    expected = pd.to_numeric(values, errors="coerce").astype("float64").to_numpy()
    got = _to_float(values)
    assert got.dtype == np.float64
    assert np.array_equal(np.isnan(got), np.isnan(expected))
    assert np.array_equal(got[~np.isnan(got)].view("i8"), expected[~np.isnan(expected)].view("i8"))


@pytest.mark.parametrize("text", [
    '\ufeffid,name,lon\r\n1,"a, ""quoted""\nname",116.1\r\n\r\n2,,116.2\r\n',  # BOM, CRLF, quotes, blank line
    "id;name\n1;x\n",
    "id,id,\n1,2,3\n",  # duplicate and empty header names
    "id,name\n1,a\n2\n",  # a short row: the C parser pads it
    "id\n1\n   \n2\n",  # one column: the C parser skips the line of blanks
])
def test_csv_read_as_the_c_parser_reads_it(tmp_path, text):
    from geofacility.read.encodings import _read_csv
    path = tmp_path / "t.csv"
    path.write_bytes(text.encode("utf-8"))
    sep = ";" if ";" in text else ","
    expected = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""], encoding="utf-8-sig", sep=sep,
                           engine="c")
    pd.testing.assert_frame_equal(_read_csv(path), expected, check_exact=True)


def test_a_file_too_large_for_memory_is_refused_before_reading(tmp_path, communities_wgs84, monkeypatch):
    import geofacility.read.files as read_files

    path = tmp_path / "big.geojson"
    communities_wgs84.to_file(path)
    monkeypatch.setattr(read_files, "available_memory", lambda: 1000)  # as if 1 kB were free
    with pytest.raises(InputError, match=r"big.geojson: the file is 0.0 GB; reading it needs about .* convert it to "
                                         "GeoPackage"):
        read_communities(path)


def test_a_polygon_with_too_many_vertices_is_refused(tmp_path, communities_wgs84, monkeypatch):
    """Ten million vertices in one outline is an export error; GEOS would take hours to repair it. The limit is
    lowered here so that the fixture stays small."""
    import geofacility.read.files as read_files

    path = tmp_path / "dense.gpkg"
    dense = communities_wgs84.copy()
    dense.loc[4, "geometry"] = dense.geometry[4].segmentize(0.00001)  # C22: thousands of vertices
    dense.to_file(path)
    monkeypatch.setattr(read_files, "MAX_VERTICES_PER_FEATURE", 1000)
    with pytest.raises(InputError, match=r"dense.gpkg, feature 5: [\d,]+ vertices in one geometry .* simplify it"):
        read_communities(path)


def test_unexpected_errors_are_one_line_with_a_report_file(tmp_path, monkeypatch, capsys):
    import sys

    import geofacility.cli as cli

    def boom(*args, **kwargs):
        raise RuntimeError("something broke\nsecond line")

    monkeypatch.setattr(cli, "app", boom)
    monkeypatch.setattr(sys, "argv", ["geofacility", "analyze"])
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("error: internal error (RuntimeError: something broke); this is a geofacility bug")
    report = err.rsplit(" ", 1)[-1].strip()
    assert "RuntimeError: something broke" in open(report, encoding="utf-8").read()


def test_category_key_reads_every_alias():
    """One lookup for files and options: every name of CATEGORY_ALIASES, in any case, with spaces or underscores,
    full-width, gives its category; anything else None."""
    from geofacility.read import CATEGORY_ALIASES, category_key, normalise_category

    for key, names in CATEGORY_ALIASES.items():
        for name in names:
            assert category_key(name) == key, name
            assert category_key(f" {name.upper()} ") == key, name
    assert category_key("养老") == "elderly_care" and category_key("ＥＬＤＥＲＬＹ＿ＣＡＲＥ") == "elderly_care"
    assert category_key("社区用房") == "community_service" and category_key("食堂") == "canteen"
    assert [category_key(v) for v in ("公厕", "", None, 3)] == [None, None, None, None]
    read = normalise_category(pd.Series(["教育", "公厕", None]))
    assert read.iloc[0] == "education" and read.iloc[1:].isna().all()


def test_facility_status_column_spellings_default_and_unknown(tmp_path):
    """状态/建设状态…: 规划, 在建, 未移交, 在用 and their aliases; empty or no column → 在用; an unknown value is
    reported on its row (file + row) and read as 在用 — never dropped."""
    from geofacility.errors import WarningLog
    from geofacility.read import read_facilities

    path = tmp_path / "幼儿园.csv"
    pd.DataFrame({"名称": list("ABCDEFGH"), "类别": "教育", "子类": "幼儿园", "lon": 116.36, "lat": 39.91,
                  "建设状态": ["规划", "under_construction", "已建未移交", "使用中", "", "planned", "Not Handed Over",
                           "烂尾"]}).to_csv(path, index=False)
    log = WarningLog()
    fac = read_facilities(path, log=log)
    assert fac["status"].tolist() == ["规划", "在建", "未移交", "在用", "在用", "规划", "未移交", "在用"]
    w = log.to_frame()
    assert w["row"].tolist() == ["9"] and "'烂尾'" in w["message"].iloc[0]
    assert w["message_zh"].iloc[0] == "设施状态 '烂尾' 不是 规划/在建/未移交/在用 之一，按“在用”计"
    plain = tmp_path / "plain.csv"
    pd.DataFrame({"名称": ["A"], "类别": "教育", "lon": [116.36], "lat": [39.91]}).to_csv(plain, index=False)
    assert read_facilities(plain).loc[0, "status"] == "在用"


def test_every_warning_is_written_with_its_chinese_text():
    """Every place that records a warning gives its Chinese text (``zh=``, what the 警告 sheets show first): found
    in the source, so a warning that no bundled study or fixture happens to trigger is held to it too."""
    import ast
    from pathlib import Path

    import geofacility

    missing = []
    for path in sorted(Path(geofacility.__file__).parent.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "add"):
                continue
            owner = node.func.value
            name = owner.id if isinstance(owner, ast.Name) else getattr(owner, "attr", "")
            if "log" in name.lower() and not any(k.arg == "zh" for k in node.keywords):
                missing.append(f"{path.name}:{node.lineno}")
    assert not missing, "warnings recorded without zh=: " + ", ".join(missing)
