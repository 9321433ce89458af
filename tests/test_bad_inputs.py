"""The bad-input catalogue (docs/bad-inputs.md), enforced.

Every case is one input a planner could give by mistake, with what a careful tool does about it:

* **refused** — unusable: the CLI exits with code 2 and prints ONE line ``error: …`` on stderr naming the file (and
  the row or feature at fault), what is wrong and how to fix it; never a traceback. Through the Python API the same
  message is an :class:`~geofacility.errors.InputError`.
* **repaired** — the run goes on (exit 0) and the warnings (ledger.xlsx sheet 警告 warnings, ``analysis.warnings``)
  hold a row naming the file and the row.

The test ids are the catalogue's case ids. Cases the code does not handle yet are ``xfail(strict=True)`` with the
observed behaviour in the reason: fix the source, then remove the mark.

The CLI cases run as subprocesses started together, in parallel, by a module fixture (each costs 2–5 s, mostly
imports); the others call the readers or :func:`geofacility.pipeline.analyze` directly.
"""
from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import geopandas as gpd
import numpy as np
import openpyxl
import pandas as pd
import pytest
import shapely
from pyproj import Geod

from conftest import BLOCK, CRS, X0, Y0, assert_warnings_in_chinese, block, centre, write_grid_files
from geofacility.errors import InputError, WarningLog, digest, not_used
from geofacility.pipeline import analyze
from geofacility.read import (load_aliases, read_candidates, read_communities, read_demand, read_facilities,
                              read_towns, wgs84_to_gcj02)
from geofacility.review import read_planned, read_project
from geofacility.standards import load_standards

GEOD = Geod(ellps="WGS84")


# ---------------------------------------------------------------------------------------------------------------
# expectations


@dataclass
class Refused:
    """Unusable input: InputError / exit 2 with one line naming ``file`` (None: an option, named in ``texts``) and
    containing every one of ``texts`` (the row, what is wrong, the fix)."""

    file: Path | str | None
    texts: tuple = ()


@dataclass
class Repaired:
    """Repairable input: the run succeeds and a warning row names ``file`` and ``row`` ("" for the whole file) with
    ``text`` in its message; ``check`` makes further assertions on the result (the analysis, or the output
    folder of a CLI run). ``file=None``: no warning is required (only ``check``)."""

    file: Path | str | None
    row: int | str = ""
    text: str = ""
    check: Callable | None = None
    #: CLI: the workbook holding the warnings, relative to the output folder
    workbook: str = "ledger.xlsx"
    #: CLI: texts the terminal (stderr) must show
    stderr: tuple = ()


def assert_refused_message(message: str, expect: Refused) -> None:
    assert "\n" not in message.strip(), f"more than one line: {message!r}"
    assert "Traceback" not in message
    if expect.file is not None:
        assert str(expect.file) in message, f"the message does not name {expect.file}: {message!r}"
    for text in expect.texts:  # a tuple: any one of the spellings
        options = text if isinstance(text, tuple) else (text,)
        assert any(t in message for t in options), f"{text!r} not in {message!r}"


def assert_warned(warnings: pd.DataFrame, expect: Repaired) -> None:
    if expect.file is None:
        return
    w = warnings.astype({"row": str})
    hit = w[(w["file"] == str(expect.file)) & (w["row"] == str(expect.row))
            & w["message"].str.contains(expect.text, regex=False)]
    assert len(hit), (f"no warning naming {expect.file}, row {expect.row!r}, with {expect.text!r}; warnings:\n"
                      + w.to_string())


def workbook_warnings(path: Path) -> pd.DataFrame:
    """Every row of every sheet of a workbook as (file, row, message) candidates: a warning sheet's layout is
    file | row | severity | message; the row number may be an int or text."""
    rows = []
    wb = openpyxl.load_workbook(path, read_only=True)
    for ws in wb.worksheets:
        for values in ws.iter_rows(values_only=True):
            cells = ["" if v is None else str(v) for v in values]
            if len(cells) >= 2:
                rows.append({"file": cells[0], "row": cells[1], "message": " ".join(cells[2:])})
    return pd.DataFrame(rows, columns=["file", "row", "message"])


# ---------------------------------------------------------------------------------------------------------------
# fixtures: the 3×3 grid of tests/conftest.py written as a planner's files


def grid_frames() -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """The conftest grid (grid_communities, grid_facilities), for the module-scoped CLI fixture, which cannot use
    function-scoped fixtures; test_grid_frames_are_the_conftest_grid keeps them equal."""
    rows, k = [], 0
    for row in (1, 2, 3):
        for col in (1, 2, 3):
            k += 1
            rows.append({"community_id": f"C{col}{row}", "community": f"社区{col}{row}",
                         "town": "西街道" if col == 3 else "东街道", "population": 1000.0 * k,
                         "households": 400.0 * k, "geometry": block(col, row)})
    fac = gpd.GeoDataFrame(
        {"facility_id": ["A", "B"], "name": ["学校A", "学校B"], "category": ["education", "education"],
         "subcategory": ["primary_school", "primary_school"], "floor_area_m2": [float("nan"), float("nan")]},
        geometry=[shapely.Point(centre(2, 2)), shapely.Point(centre(3, 3))], crs=CRS)
    return gpd.GeoDataFrame(rows, crs=CRS), fac


def test_grid_frames_are_the_conftest_grid(grid_communities, grid_facilities):
    comm, fac = grid_frames()
    pd.testing.assert_frame_equal(pd.DataFrame(comm), pd.DataFrame(grid_communities))
    pd.testing.assert_frame_equal(pd.DataFrame(fac), pd.DataFrame(grid_facilities))


def lonlat(x: float, y: float) -> tuple[float, float]:
    point = gpd.GeoSeries([shapely.Point(x, y)], crs=CRS).to_crs(4326).iloc[0]
    return point.x, point.y


def facility_table(fac_path: Path) -> pd.DataFrame:
    return pd.read_csv(fac_path, dtype=str, keep_default_na=False)


def write_csv(frame: pd.DataFrame, path: Path, encoding: str = "utf-8") -> Path:
    frame.to_csv(path, index=False, encoding=encoding)
    return path


def write_geojson(gdf: gpd.GeoDataFrame, path: Path) -> Path:
    gdf.to_crs(4326).to_file(path, driver="GeoJSON")
    return path


def streets(xs, ys, *, x_range=None, y_range=None) -> gpd.GeoDataFrame:
    """A street grid in the fixture's metric CRS: vertical lines at ``xs``, horizontal at ``ys`` (offsets in
    metres from X0/Y0)."""
    x0, x1 = x_range or (min(xs), max(xs))
    y0, y1 = y_range or (min(ys), max(ys))
    lines = [shapely.LineString([(X0 + x, Y0 + y0), (X0 + x, Y0 + y1)]) for x in xs]
    lines += [shapely.LineString([(X0 + x0, Y0 + y), (X0 + x1, Y0 + y)]) for y in ys]
    return gpd.GeoDataFrame({"name": [f"街{i}" for i in range(len(lines))]}, geometry=lines, crs=CRS)


@pytest.fixture
def grid(tmp_path, grid_communities, grid_facilities):
    """(folder, communities GeoDataFrame, facilities GeoDataFrame, communities.geojson, facilities.csv)."""
    comm_path, fac_path = write_grid_files(tmp_path, grid_communities, grid_facilities)
    return tmp_path, grid_communities, grid_facilities, comm_path, fac_path


def chinese(comm: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The communities with the Chinese column names of a planner's Shapefile (they fit the DBF's 10 bytes)."""
    return comm.rename(columns={"community_id": "社区编码", "community": "社区名称", "town": "街道",
                                "population": "常住人口", "households": "户数"})


def run_analysis(comm_path, facilities, **kwargs):
    return analyze(communities=comm_path, facilities=facilities, **kwargs)


# ---------------------------------------------------------------------------------------------------------------
# refused through the Python API: each builder returns (the call that must raise, what its message must say)

REFUSED: list = []
REPAIRED: list = []


def case(registry: list, case_id: str, *, xfail: str | None = None):
    def register(builder):
        marks = [pytest.mark.xfail(strict=True, reason=xfail)] if xfail else []
        registry.append(pytest.param(builder, id=case_id, marks=marks))
        return builder
    return register


@case(REFUSED, "communities-header-only-csv")
def _(d, comm, fac, comm_path, fac_path):
    path = d / "社区.csv"
    path.write_text("社区,人口,户数,lon,lat\n", encoding="utf-8")
    return lambda: read_communities(path), Refused(path, ("no data rows",))


@case(REFUSED, "communities-directory-instead-of-file")
def _(d, comm, fac, comm_path, fac_path):
    path = d / "社区"
    path.mkdir()
    return lambda: read_communities(path), Refused(path, ("cannot be read",))


@case(REFUSED, "communities-unknown-file-type")
def _(d, comm, fac, comm_path, fac_path):
    path = d / "社区.docx"
    path.write_bytes(b"PK\x03\x04 not a GIS file")
    return lambda: read_communities(path), Refused(path, ("unknown file type", "GeoJSON"))


@case(REFUSED, "communities-file-not-found")
def _(d, comm, fac, comm_path, fac_path):
    path = d / "不存在.geojson"
    return lambda: read_communities(path), Refused(path, ("file not found",))


@case(REFUSED, "communities-corrupt-geopackage")
def _(d, comm, fac, comm_path, fac_path):
    path = d / "社区.gpkg"
    comm.to_file(path, driver="GPKG")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    return lambda: read_communities(path), Refused(path, ("cannot be read", "GeoPackage"))


@case(REFUSED, "communities-projected-shapefile-without-prj")
def _(d, comm, fac, comm_path, fac_path):
    path = d / "社区.shp"
    chinese(comm).to_file(path, encoding="GBK")  # EPSG:32650 metres
    path.with_suffix(".prj").unlink()
    return lambda: read_communities(path), Refused(path, ("no CRS", "not degrees", "--coords"))


@case(REFUSED, "communities-lines-not-polygons")
def _(d, comm, fac, comm_path, fac_path):
    lines = comm.copy()
    lines["geometry"] = comm.geometry.boundary
    path = write_geojson(lines, d / "lines.geojson")
    return lambda: read_communities(path), Refused(path, ("communities must be polygons", "LineString"))


@case(REFUSED, "communities-duplicate-id")
def _(d, comm, fac, comm_path, fac_path):
    dup = comm.copy()
    dup.loc[4, "community_id"] = "C11"  # feature 5 repeats feature 1's id
    path = write_geojson(dup, d / "dup.geojson")
    return lambda: read_communities(path), Refused(path, ("rows 1, 5", "duplicate community_id 'C11'"))


@case(REFUSED, "communities-empty-id")
def _(d, comm, fac, comm_path, fac_path):
    blank = comm.copy()
    blank.loc[1, "community_id"] = None
    path = write_geojson(blank, d / "blank.geojson")
    return lambda: read_communities(path), Refused(path, ("row 2", "empty community id"))


@case(REFUSED, "communities-missing-population-without-demand")
def _(d, comm, fac, comm_path, fac_path):
    missing = comm.copy()
    missing.loc[2, "population"] = np.nan
    path = write_geojson(missing, d / "nopop.geojson")
    return (lambda: run_analysis(path, [(fac_path, "education")]),
            Refused(path, ("row 3", "population missing", "--demand")))


@case(REFUSED, "communities-negative-population")
def _(d, comm, fac, comm_path, fac_path):
    neg = comm.copy()
    neg.loc[1, "population"] = -2000.0
    path = write_geojson(neg, d / "neg.geojson")
    return lambda: read_communities(path), Refused(path, ("row 2", "population is negative", "fix the value"))


@case(REFUSED, "communities-non-numeric-population")
def _(d, comm, fac, comm_path, fac_path):
    text = comm.copy()
    text["population"] = text["population"].map("{:.0f}".format)
    text.loc[3, "population"] = "约三千"
    path = write_geojson(text, d / "text.geojson")
    return lambda: read_communities(path), Refused(path, ("row 4", "population is not a number", "约三千"))


@case(REFUSED, "communities-negative-households")
def _(d, comm, fac, comm_path, fac_path):
    neg = comm.copy()
    neg.loc[0, "households"] = -1.0
    path = write_geojson(neg, d / "neghh.geojson")
    return lambda: read_communities(path), Refused(path, ("row 1", "households is negative"))


@case(REFUSED, "communities-huge-coordinates")
def _(d, comm, fac, comm_path, fac_path):
    huge = comm.to_crs(4326)
    huge.loc[0, "geometry"] = shapely.box(1e12, 1e12, 1e12 + 0.01, 1e12 + 0.01)
    path = d / "huge.geojson"
    huge.to_file(path, driver="GeoJSON")
    return (lambda: run_analysis(path, [(fac_path, "education")]),
            Refused(path, (("row 1", "feature 1"), "degrees")))


@case(REFUSED, "facilities-header-only-without-category")
def _(d, comm, fac, comm_path, fac_path):
    path = d / "设施.csv"
    path.write_text("名称,类别,lon,lat\n", encoding="utf-8")
    return lambda: read_facilities(path), Refused(path, ("no data rows",))


@case(REFUSED, "facilities-no-category-column")
def _(d, comm, fac, comm_path, fac_path):
    path = write_csv(facility_table(fac_path).drop(columns=["category", "subcategory"]), d / "nocat.csv")
    return lambda: read_facilities(path), Refused(path, ("no category column", "--facilities CATEGORY=PATH"))


@case(REFUSED, "facilities-huge-coordinates")
def _(d, comm, fac, comm_path, fac_path):
    table = facility_table(fac_path)
    table.loc[1, ["lon", "lat"]] = ["1e12", "1e12"]
    path = write_csv(table, d / "huge.csv")
    return lambda: read_facilities(path), Refused(path, ("row 3", "not degrees", "--coords"))


@case(REFUSED, "facilities-lines")
def _(d, comm, fac, comm_path, fac_path):
    lines = fac.copy()
    lines["geometry"] = [shapely.LineString([p, (p.x + 10, p.y)]) for p in fac.geometry]
    path = write_geojson(lines, d / "lines.geojson")
    return lambda: read_facilities(path), Refused(path, ("must be points or polygons", "LineString"))


@case(REFUSED, "facilities-duplicate-id")
def _(d, comm, fac, comm_path, fac_path):
    table = facility_table(fac_path)
    table.loc[1, "facility_id"] = "A"
    path = write_csv(table, d / "dup.csv")
    return lambda: read_facilities(path), Refused(path, ("rows 2, 3", "duplicate facility_id 'A'"))


@case(REFUSED, "facilities-ragged-csv")
def _(d, comm, fac, comm_path, fac_path):
    lines = fac_path.read_text(encoding="utf-8").splitlines()
    lines[2] += ",多余,extra"  # line 3 has two fields too many
    path = d / "ragged.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return lambda: read_facilities(path), Refused(path, ("not a readable CSV", "line 3"))


@case(REFUSED, "facilities-corrupt-xlsx")
def _(d, comm, fac, comm_path, fac_path):
    path = d / "设施.xlsx"
    path.write_bytes(b"this is not a workbook")
    return lambda: read_facilities(path), Refused(path, ("not a readable spreadsheet",))


@case(REFUSED, "demand-no-population-column")
def _(d, comm, fac, comm_path, fac_path):
    path = write_csv(pd.DataFrame({"小区": ["甲"], "lon": [116.31], "lat": [39.935]}), d / "demand.csv")
    return lambda: read_demand(path), Refused(path, ("no population column", "人口"))


@case(REFUSED, "demand-negative-population")
def _(d, comm, fac, comm_path, fac_path):
    lon, lat = lonlat(*centre(1, 1))
    path = write_csv(pd.DataFrame({"小区": ["甲", "乙"], "人口": ["100", "-50"], "lon": [lon, lon],
                                   "lat": [lat, lat]}), d / "demand.csv")
    return lambda: read_demand(path), Refused(path, ("row 3", "is negative"))


@case(REFUSED, "demand-non-numeric-population")
def _(d, comm, fac, comm_path, fac_path):
    lon, lat = lonlat(*centre(1, 1))
    path = write_csv(pd.DataFrame({"小区": ["甲", "乙"], "人口": ["100", "很多"], "lon": [lon, lon],
                                   "lat": [lat, lat]}), d / "demand.csv")
    return lambda: read_demand(path), Refused(path, ("row 3", "is not a number", "很多"))


@case(REFUSED, "towns-points-not-polygons")
def _(d, comm, fac, comm_path, fac_path):
    pts = comm.dissolve(by="town", as_index=False)[["town", "geometry"]]
    pts["geometry"] = pts.geometry.centroid
    path = write_geojson(pts, d / "towns.geojson")
    return lambda: read_towns(path), Refused(path, ("towns must be polygons", "Point"))


@case(REFUSED, "towns-no-name-column")
def _(d, comm, fac, comm_path, fac_path):
    towns = comm.dissolve(by="town", as_index=False)[["geometry"]]
    towns["area_code"] = ["110102", "110105"]
    path = write_geojson(towns, d / "towns.geojson")
    return lambda: read_towns(path), Refused(path, ("no town/street name column", "街道"))


@case(REFUSED, "network-points-not-lines")
def _(d, comm, fac, comm_path, fac_path):
    path = write_geojson(fac[["name", "geometry"]], d / "network.geojson")
    return (lambda: run_analysis(comm_path, [(fac_path, "education")], network=path),
            Refused(path, ("must be lines", "street centre lines")))


@case(REFUSED, "network-of-another-place")
def _(d, comm, fac, comm_path, fac_path):
    far = streets([0, 250, 500], [0, 250, 500]).translate(xoff=50_000, yoff=50_000)
    path = write_geojson(far, d / "network.geojson")
    return (lambda: run_analysis(comm_path, [(fac_path, "education")], network=path),
            Refused(path, ("none of the", "demand points", "network of the study area")))


@case(REFUSED, "standards-non-numeric-radius")
def _(d, comm, fac, comm_path, fac_path):
    path = d / "rules.csv"
    path.write_text("category,subcategory,name_zh,level,radius_m\neducation,primary_school,小学,10min,五百米\n",
                    encoding="utf-8")
    return lambda: load_standards(path), Refused(path, ("row 2", "radius_m", "五百米"))


@case(REFUSED, "standards-unknown-category")
def _(d, comm, fac, comm_path, fac_path):
    path = d / "rules.csv"
    path.write_text("category,subcategory,name_zh,level,radius_m\nschools,primary_school,小学,10min,500\n",
                    encoding="utf-8")
    return lambda: load_standards(path), Refused(path, ("row 2", "unknown category 'schools'", "education"))


@case(REFUSED, "standards-zero-radius")
def _(d, comm, fac, comm_path, fac_path):
    path = d / "rules.csv"
    path.write_text("category,subcategory,name_zh,level,radius_m\neducation,primary_school,小学,10min,0\n",
                    encoding="utf-8")
    return lambda: load_standards(path), Refused(path, ("row 2", "radius_m must be > 0"))


@case(REFUSED, "survey-extent-lines")
def _(d, comm, fac, comm_path, fac_path):
    lines = comm.dissolve()[["geometry"]]
    lines["geometry"] = lines.geometry.boundary
    path = write_geojson(lines, d / "extent.geojson")
    return (lambda: run_analysis(comm_path, [(fac_path, "education")], survey_extent={"education": path}),
            Refused(path, ("survey extent must be polygons",)))


@case(REFUSED, "survey-extent-not-found")
def _(d, comm, fac, comm_path, fac_path):
    path = d / "no_such_extent.geojson"
    return (lambda: run_analysis(comm_path, [(fac_path, "education")], survey_extent={"education": path}),
            Refused(path, ("file not found",)))


@case(REFUSED, "option-coords-unknown-value")
def _(d, comm, fac, comm_path, fac_path):
    return (lambda: read_facilities(fac_path, coords="wgs85"),
            Refused(None, ("--coords 'wgs85'", "wgs84, cgcs2000, gcj02, bd09")))


@case(REFUSED, "option-coverage-target-above-1")
def _(d, comm, fac, comm_path, fac_path):
    return (lambda: run_analysis(comm_path, [(fac_path, "education")], coverage_target=1.5),
            Refused(None, ("--coverage-target 1.5", "(0, 1]")))


@case(REFUSED, "option-radius-negative")
def _(d, comm, fac, comm_path, fac_path):
    return (lambda: run_analysis(comm_path, [(fac_path, "education")], radius={"education": -300.0}),
            Refused(None, ("--radius education=-300", "> 0")))


@case(REFUSED, "option-max-snap-zero")
def _(d, comm, fac, comm_path, fac_path):
    return (lambda: run_analysis(comm_path, [(fac_path, "education")], max_snap_m=0.0),
            Refused(None, ("--max-snap", "> 0")))


@case(REFUSED, "option-distance-network-without-network")
def _(d, comm, fac, comm_path, fac_path):
    return (lambda: run_analysis(comm_path, [(fac_path, "education")], distance="network"),
            Refused(None, ("--distance network", "--network")))


@case(REFUSED, "aliases-unknown-target-column")
def _(d, comm, fac, comm_path, fac_path):
    path = d / "aliases.csv"
    path.write_text("alias,column\n居委会名称,community\n常住人口数,people\n", encoding="utf-8")
    return lambda: load_aliases(path), Refused(path, ("row 3", "'people' is not a geofacility column"))


@case(REFUSED, "candidates-no-floor-area-column")
def _(d, comm, fac, comm_path, fac_path):
    lon, lat = lonlat(*centre(1, 1))
    path = write_csv(pd.DataFrame({"房源编号": ["R1"], "lon": [lon], "lat": [lat]}), d / "rooms.csv")
    return lambda: read_candidates(path), Refused(path, ("no floor-area column", "建筑面积"))


@case(REFUSED, "candidates-duplicate-id")
def _(d, comm, fac, comm_path, fac_path):
    lon, lat = lonlat(*centre(1, 1))
    path = write_csv(pd.DataFrame({"房源编号": ["R1", "R1"], "建筑面积": ["200", "300"], "lon": [lon, lon],
                                   "lat": [lat, lat]}), d / "rooms.csv")
    return lambda: read_candidates(path), Refused(path, ("rows 2, 3", "duplicate candidate_id 'R1'"))


@case(REFUSED, "candidates-all-zero-area")
def _(d, comm, fac, comm_path, fac_path):
    from geofacility.siting import evaluate_candidates

    lon, lat = lonlat(*centre(1, 1))
    path = write_csv(pd.DataFrame({"房源编号": ["R1", "R2"], "建筑面积": ["0", ""], "lon": [lon, lon],
                                   "lat": [lat, lat]}), d / "rooms.csv")

    def run():
        analysis = run_analysis(comm_path, [(fac_path, "education")])
        return evaluate_candidates(analysis, read_candidates(path), "education")
    return run, Refused(path, ("no candidate",))


@case(REFUSED, "review-project-lines")
def _(d, comm, fac, comm_path, fac_path):
    site = gpd.GeoDataFrame({"户数": [500]}, geometry=[block(1, 1).boundary], crs=CRS)
    path = write_geojson(site, d / "project.geojson")
    return lambda: read_project(path, crs=CRS), Refused(path, ("must be a polygon", "LineString"))


@case(REFUSED, "review-project-without-households")
def _(d, comm, fac, comm_path, fac_path):
    site = gpd.GeoDataFrame({"名称": ["某地块"]}, geometry=[block(1, 1)], crs=CRS)
    path = write_geojson(site, d / "project.geojson")
    return lambda: read_project(path, crs=CRS), Refused(path, ("households and population are unknown", "--households"))


@case(REFUSED, "review-project-negative-households")
def _(d, comm, fac, comm_path, fac_path):
    site = gpd.GeoDataFrame({"户数": [-500]}, geometry=[block(1, 1)], crs=CRS)
    path = write_geojson(site, d / "project.geojson")
    return lambda: read_project(path, crs=CRS), Refused(path, ("row 1",))


@case(REFUSED, "review-planned-negative-area")
def _(d, comm, fac, comm_path, fac_path):
    path = d / "planned.csv"
    path.write_text("类别,子类,建筑面积\n养老,日间照料中心,350\n教育,幼儿园,-10\n", encoding="utf-8")
    return lambda: read_planned(path), Refused(path, ("row 3", "≥ 0"))


@case(REFUSED, "review-planned-not-found")
def _(d, comm, fac, comm_path, fac_path):
    path = d / "no_such_plan.csv"
    return lambda: read_planned(path), Refused(path, ("file not found",))


@case(REFUSED, "review-planned-empty-file")
def _(d, comm, fac, comm_path, fac_path):
    path = d / "planned.csv"
    path.write_bytes(b"")
    return lambda: read_planned(path), Refused(path, ("empty",))


# --- issue 13, section 4: inputs that gave wrong numbers silently ---------------------------------------------


def with_cell(comm: gpd.GeoDataFrame, column: str, index: int, text: str) -> gpd.GeoDataFrame:
    """The communities with ``column`` as text (as typed in a spreadsheet) and one cell replaced."""
    out = comm.copy()
    out[column] = out[column].map("{:.0f}".format)
    out.loc[index, column] = text
    return out


@case(REFUSED, "communities-degenerate-polygon")
def _(d, comm, fac, comm_path, fac_path):
    """C31 drawn as three points on a line (in the file's own degrees, so it stays invalid): make_valid turns it
    into lines, no polygon."""
    flat = comm.to_crs(4326)
    x0, y0, x1, _ = flat.geometry[2].bounds
    flat.loc[2, "geometry"] = shapely.Polygon([(x0, y0), ((x0 + x1) / 2, y0), (x1, y0), (x0, y0)])
    path = d / "flat.geojson"
    flat.to_file(path, driver="GeoJSON")
    return (lambda: run_analysis(path, [(fac_path, "education")], demand=None),
            Refused(path, ("feature 3", "community C31 (社区31)", "has no area", "make_valid", "redraw")))


@case(REFUSED, "communities-zero-area-sliver")
def _(d, comm, fac, comm_path, fac_path):
    """C31 a 500 m line in metres; written in degrees it is a valid sliver of about 1 m² (reprojection noise)."""
    sliver = comm.copy()
    sliver.loc[2, "geometry"] = shapely.Polygon([(X0 + 1000, Y0), (X0 + 1250, Y0), (X0 + 1500, Y0), (X0 + 1000, Y0)])
    path = write_geojson(sliver, d / "sliver.geojson")
    return lambda: read_communities(path), Refused(path, ("feature 3", "community C31", "has no area", "m wide"))


@case(REFUSED, "communities-identical-polygons")
def _(d, comm, fac, comm_path, fac_path):
    """Feature 10, X, is C11's west half drawn again: 100 % of the smaller one."""
    extra = gpd.GeoDataFrame([{"community_id": "X", "community": "重复", "town": "东街道", "population": 600.0,
                               "households": 240.0, "geometry": shapely.box(X0, Y0, X0 + 250, Y0 + BLOCK)}], crs=CRS)
    path = write_geojson(pd.concat([comm, extra], ignore_index=True), d / "dup.geojson")
    return (lambda: run_analysis(path, [(fac_path, "education")]),
            Refused(path, ("features 1 and 10", "C11", "community X (重复, feature 10)", "100%",
                           "counted twice", "--allow-overlap")))


@case(REFUSED, "communities-population-misplaced-separator")
def _(d, comm, fac, comm_path, fac_path):
    path = write_geojson(with_cell(comm, "population", 1, "12,34"), d / "pop.geojson")
    return (lambda: read_communities(path),
            Refused(path, ("row 2", "population is ambiguous", "'12,34'", "12.34", "1234", "decimal point")))


@case(REFUSED, "communities-population-european-format")
def _(d, comm, fac, comm_path, fac_path):
    path = write_geojson(with_cell(comm, "population", 1, "1.234,5"), d / "pop.geojson")
    return lambda: read_communities(path), Refused(path, ("row 2", "population is ambiguous", "'1.234,5'"))


@case(REFUSED, "communities-population-inf")
def _(d, comm, fac, comm_path, fac_path):
    path = write_geojson(with_cell(comm, "population", 1, "inf"), d / "pop.geojson")
    return lambda: read_communities(path), Refused(path, ("row 2", "population is not a number ('inf')"))


@case(REFUSED, "communities-population-absurd")
def _(d, comm, fac, comm_path, fac_path):
    path = write_geojson(with_cell(comm, "population", 1, "1e12"), d / "pop.geojson")
    return (lambda: read_communities(path),
            Refused(path, ("row 2", "population is impossibly large ('1e12'", "10,000,000", "fix the value")))


@case(REFUSED, "communities-density-absurd")
def _(d, comm, fac, comm_path, fac_path):
    """A million people on C21's 500 m × 500 m: 4 million per km²."""
    dense = comm.copy()
    dense.loc[1, "population"] = 1_000_000.0
    path = write_geojson(dense, d / "dense.geojson")
    return (lambda: read_communities(path),
            Refused(path, ("feature 2", "community C21", "1,000,000 people", "per km²", "fix the population")))


@case(REFUSED, "communities-households-and-population-swapped")
def _(d, comm, fac, comm_path, fac_path):
    swapped = chinese(comm).rename(columns={"常住人口": "户数", "户数": "常住人口"})
    path = write_geojson(swapped, d / "swapped.geojson")
    return (lambda: read_communities(path),
            Refused(path, ("households exceed population on 9 of 9 rows", "feature 1", "户数 (households)",
                           "常住人口 (population)", "swapped")))


@case(REFUSED, "communities-geopackage-several-layers")
def _(d, comm, fac, comm_path, fac_path):
    path = d / "社区.gpkg"
    comm.to_file(path, layer="communities")
    fac.to_file(path, layer="schools")
    return (lambda: read_communities(path),
            Refused(path, ("2 layers (communities, schools)", f"--communities {path}:communities")))


@case(REFUSED, "communities-geopackage-unknown-layer")
def _(d, comm, fac, comm_path, fac_path):
    path = d / "社区.gpkg"
    comm.to_file(path, layer="communities")
    fac.to_file(path, layer="schools")
    return (lambda: read_communities(f"{path}:roads"),
            Refused(f"{path}:roads", ("no layer 'roads'", "communities, schools")))


def decimal_comma_coordinates(fac_path: Path) -> pd.DataFrame:
    """The schools with lon/lat written with decimal commas, as a European-locale Excel exports them."""
    table = facility_table(fac_path)
    for col in ("lon", "lat"):
        table[col] = table[col].astype(float).map("{:.4f}".format).str.replace(".", ",", regex=False)
    return table


@case(REFUSED, "facilities-all-rows-unusable-with-category")
def _(d, comm, fac, comm_path, fac_path):
    path = write_csv(decimal_comma_coordinates(fac_path), d / "schools.csv")
    return (lambda: run_analysis(comm_path, [(path, "education")]),
            Refused(path, ("none of its 2 rows is usable", "has a comma (a decimal comma?)",
                           "education surveyed and none existing", "fix the rows")))


@case(REFUSED, "facilities-all-rows-unusable-without-category")
def _(d, comm, fac, comm_path, fac_path):
    table = facility_table(fac_path)
    table["lon"] = ["", "NaN"]
    path = write_csv(table, d / "设施.csv")
    return (lambda: read_facilities(path),
            Refused(path, ("none of its 2 rows is usable", "missing or non-numeric lon/lat ×2",
                           "would read as not surveyed")))


@case(REFUSED, "demand-population-decimal-comma")
def _(d, comm, fac, comm_path, fac_path):
    lon, lat = lonlat(*centre(1, 1))
    path = write_csv(pd.DataFrame({"小区": ["甲", "乙"], "人口": ["1,234", "12,5"], "lon": [lon, lon], "lat": [lat, lat]}),
                     d / "demand.csv")
    return lambda: read_demand(path), Refused(path, ("row 3", "population is ambiguous", "'12,5'"))


@case(REFUSED, "demand-population-inf")
def _(d, comm, fac, comm_path, fac_path):
    lon, lat = lonlat(*centre(1, 1))
    path = write_csv(pd.DataFrame({"小区": ["甲", "乙"], "人口": ["100", "inf"], "lon": [lon, lon], "lat": [lat, lat]}),
                     d / "demand.csv")
    return lambda: read_demand(path), Refused(path, ("row 3", "population is not a number ('inf')"))


@case(REFUSED, "demand-population-absurd")
def _(d, comm, fac, comm_path, fac_path):
    lon, lat = lonlat(*centre(1, 1))
    path = write_csv(pd.DataFrame({"小区": ["甲", "乙"], "人口": ["100", "1e12"], "lon": [lon, lon], "lat": [lat, lat]}),
                     d / "demand.csv")
    return lambda: read_demand(path), Refused(path, ("row 3", "population is impossibly large"))


@case(REFUSED, "review-planned-misplaced-separator")
def _(d, comm, fac, comm_path, fac_path):
    path = d / "planned.csv"
    path.write_text('类别,子类,建筑面积\n养老,日间照料中心,"3,50"\n', encoding="utf-8")
    return lambda: read_planned(path), Refused(path, ("row 2", "ambiguous"))


@case(REFUSED, "standards-infinite-radius")
def _(d, comm, fac, comm_path, fac_path):
    path = d / "rules.csv"
    path.write_text("category,subcategory,name_zh,level,radius_m\neducation,primary_school,小学,10min,inf\n",
                    encoding="utf-8")
    return lambda: load_standards(path), Refused(path, ("row 2", "radius_m"))


@pytest.mark.parametrize("builder", REFUSED)
def test_refused(builder, grid):
    """Unusable input raises InputError with one line naming the file (and row), what is wrong and the fix."""
    d, comm, fac, comm_path, fac_path = grid
    run, expect = builder(d, comm, fac, comm_path, fac_path)
    try:
        outcome = run()
    except InputError as exc:
        assert_refused_message(str(exc), expect)
        return
    pytest.fail(f"accepted instead of refused: {outcome!r:.300}")


# ---------------------------------------------------------------------------------------------------------------
# repaired through the Python API: each builder returns (the call, returning (warnings, result), what to expect)


def analysed(comm_path, facilities, **kwargs):
    def run():
        analysis = run_analysis(comm_path, facilities, **kwargs)
        return analysis.warnings, analysis
    return run


def read_with_log(reader, path, **kwargs):
    def run():
        log = WarningLog()
        result = reader(path, log=log, **kwargs)
        return log.to_frame(), result
    return run


def no_unaccounted_rows(analysis) -> None:
    assert (analysis.accounting["rows_unaccounted"] == 0).all(), analysis.accounting.to_string()


@case(REPAIRED, "communities-hole-outside-shell")
def _(d, comm, fac, comm_path, fac_path):
    bad = comm.copy()
    shell = block(1, 1)
    hole = shapely.box(X0 - 300, Y0 + 100, X0 - 200, Y0 + 200)  # a "hole" west of its shell: invalid
    bad.loc[0, "geometry"] = shapely.Polygon(shell.exterior.coords, [hole.exterior.coords])
    path = write_geojson(bad, d / "hole.geojson")

    def check(analysis):
        row = analysis.communities.set_index("community_id").loc["C11"]
        assert row.geometry.is_valid and row.geometry.area >= BLOCK * BLOCK * 0.99
        no_unaccounted_rows(analysis)
    return analysed(path, [(fac_path, "education")]), Repaired(path, 1, "repaired with make_valid", check)


@case(REPAIRED, "communities-multipolygon-works")
def _(d, comm, fac, comm_path, fac_path):
    multi = comm.copy()
    west = shapely.box(X0, Y0, X0 + 200, Y0 + BLOCK)
    east = shapely.box(X0 + 300, Y0, X0 + BLOCK, Y0 + BLOCK)  # two parts with a gap between them
    multi.loc[0, "geometry"] = shapely.MultiPolygon([west, east])
    path = write_geojson(multi, d / "multi.geojson")

    def check(analysis):
        c11 = analysis.communities.set_index("community_id").loc["C11"]
        assert c11.geometry.geom_type == "MultiPolygon"
        assert c11["population"] == 1000.0
        demand = analysis.demand[analysis.demand["community_id"] == "C11"]
        assert demand["weight"].sum() == pytest.approx(1000.0)
        assert not ((analysis.warnings["file"] == str(path)) & (analysis.warnings["row"] == "1")).any()
        no_unaccounted_rows(analysis)
    return analysed(path, [(fac_path, "education")]), Repaired(None, check=check)


@case(REPAIRED, "communities-null-geometry")
def _(d, comm, fac, comm_path, fac_path):
    gone = comm.to_crs(4326)
    gone.loc[8, "geometry"] = None
    path = d / "null.geojson"
    gone.to_file(path, driver="GeoJSON")

    def check(analysis):
        assert "C33" not in set(analysis.communities["community_id"]) and len(analysis.communities) == 8
        no_unaccounted_rows(analysis)
    return analysed(path, [(fac_path, "education")]), Repaired(path, 9, "no geometry", check)


@case(REPAIRED, "communities-shapefile-without-crs-in-degrees")
def _(d, comm, fac, comm_path, fac_path):
    path = d / "社区.shp"
    chinese(comm).to_crs(4326).to_file(path, encoding="GBK")
    path.with_suffix(".prj").unlink()
    return read_with_log(read_communities, path), Repaired(path, "", "no CRS in the file")


@case(REPAIRED, "communities-gbk-shapefile-without-cpg")
def _(d, comm, fac, comm_path, fac_path):
    path = d / "gbk.shp"
    chinese(comm).to_file(path, encoding="GBK")
    path.with_suffix(".cpg").unlink()

    def check(result):
        assert result["community"].iloc[0] == "社区11" and result["town"].iloc[0] == "东街道"
    return read_with_log(read_communities, path), Repaired(path, "", "GB18030", check)


@case(REPAIRED, "communities-shapefile-truncated-id-column")
def _(d, comm, fac, comm_path, fac_path):
    path = d / "trunc.shp"
    with pytest.warns((UserWarning, RuntimeWarning)):  # geopandas/pyogrio announce the truncation
        comm.to_file(path, encoding="utf-8")

    def check(result):
        assert list(result["community_id"]) == list(comm["community_id"])
        assert list(result["community"]) == list(comm["community"])
    return read_with_log(read_communities, path), Repaired(path, "", "community_", check)


@case(REPAIRED, "communities-missing-population-with-demand")
def _(d, comm, fac, comm_path, fac_path):
    missing = comm.copy()
    missing.loc[2, "population"] = np.nan  # C31, row 3
    path = write_geojson(missing, d / "nopop.geojson")
    x, y = centre(3, 1)
    lon, lat = lonlat(x, y)
    demand = write_csv(pd.DataFrame({"小区": ["甲"], "人口": ["1234"], "lon": [lon], "lat": [lat]}), d / "demand.csv")

    def check(analysis):
        assert analysis.communities.set_index("community_id").loc["C31", "population"] == 1234.0
    return (analysed(path, [(fac_path, "education")], demand=demand),
            Repaired(path, 3, "population missing: taken as the sum of the demand points", check))


@case(REPAIRED, "facilities-header-only-with-category")
def _(d, comm, fac, comm_path, fac_path):
    path = d / "幼儿园.csv"
    path.write_text("名称,子类,lon,lat\n", encoding="utf-8")

    def check(analysis):
        assert "education" in analysis.surveyed
        assert (analysis.communities["education_status"] == "gap").all()
    return analysed(comm_path, [(path, "education")]), Repaired(path, "", "surveyed and none exist", check)


@case(REPAIRED, "facilities-lon-lat-swapped")
def _(d, comm, fac, comm_path, fac_path):
    table = facility_table(fac_path).rename(columns={"lon": "lat", "lat": "lon"})
    path = write_csv(table, d / "swapped.csv")

    def check(analysis):
        got = analysis.facilities.set_index("facility_id").geometry
        assert got["A"].distance(shapely.Point(centre(2, 2))) < 0.01
    return analysed(comm_path, [(path, "education")]), Repaired(path, "", "swapped", check)


@case(REPAIRED, "facilities-nan-and-empty-coordinates")
def _(d, comm, fac, comm_path, fac_path):
    table = facility_table(fac_path)
    extra = table.iloc[[0, 0]].copy()
    extra["facility_id"] = ["C", "D"]
    extra["lon"] = ["", "NaN"]
    table = pd.concat([table, extra], ignore_index=True)  # rows 4 (empty lon) and 5 (NaN)
    path = write_csv(table, d / "nan.csv")

    def check(analysis):
        assert set(analysis.facilities["facility_id"]) == {"A", "B"}
        assert_warned(analysis.warnings, Repaired(path, 5, "missing or non-numeric"))
        no_unaccounted_rows(analysis)
    return analysed(comm_path, [(path, "education")]), Repaired(path, 4, "missing or non-numeric", check)


@case(REPAIRED, "facilities-coordinates-out-of-range")
def _(d, comm, fac, comm_path, fac_path):
    table = facility_table(fac_path)
    table.loc[1, "lon"] = "216.3"
    path = write_csv(table, d / "range.csv")
    return read_with_log(read_facilities, path), Repaired(path, 3, "outside ±180/±90")


@case(REPAIRED, "facilities-unknown-category")
def _(d, comm, fac, comm_path, fac_path):
    table = facility_table(fac_path)
    table.loc[1, ["category", "subcategory"]] = ["公厕", ""]
    path = write_csv(table, d / "unknown.csv")

    def check(analysis):
        assert list(analysis.facilities["facility_id"]) == ["A"]
        no_unaccounted_rows(analysis)
    return analysed(comm_path, [path]), Repaired(path, 3, "unknown category '公厕'", check)


@case(REPAIRED, "facilities-unknown-subcategory")
def _(d, comm, fac, comm_path, fac_path):
    table = facility_table(fac_path)
    table.loc[1, "subcategory"] = "少年宫"
    path = write_csv(table, d / "sub.csv")
    return read_with_log(read_facilities, path), Repaired(path, 3, "not in the standards table")


@case(REPAIRED, "facilities-negative-floor-area")
def _(d, comm, fac, comm_path, fac_path):
    table = facility_table(fac_path)
    table["floor_area_m2"] = ["-200", "3000"]
    path = write_csv(table, d / "area.csv")
    return read_with_log(read_facilities, path), Repaired(path, 2, "floor_area_m2 is negative ('-200'); treated as unknown")


@case(REPAIRED, "facilities-non-numeric-floor-area")
def _(d, comm, fac, comm_path, fac_path):
    table = facility_table(fac_path)
    table["floor_area_m2"] = ["3000", "约两千"]
    path = write_csv(table, d / "area.csv")
    return read_with_log(read_facilities, path), Repaired(path, 3, "floor_area_m2 is not a number")


@case(REPAIRED, "facilities-polygons-reduced-to-points")
def _(d, comm, fac, comm_path, fac_path):
    polys = fac.copy()
    polys["geometry"] = fac.geometry.buffer(30)
    path = write_geojson(polys, d / "schools.geojson")
    return read_with_log(read_facilities, path), Repaired(path, "", "reduced to a point")


@case(REPAIRED, "facilities-same-id-in-two-files")
def _(d, comm, fac, comm_path, fac_path):
    table = facility_table(fac_path)
    table["category"], table["subcategory"] = "health", "community_health_station"
    health = write_csv(table, d / "health.csv")  # ids A and B again

    def check(analysis):
        ids = set(analysis.facilities["facility_id"])
        assert ids == {"facilities:A", "facilities:B", "health:A", "health:B"}
    return (analysed(comm_path, [(fac_path, "education"), (health, "health")]),
            Repaired(f"{fac_path}, {health}", "", "ids prefixed with the file name", check))


@case(REPAIRED, "facilities-without-floor-area-where-standard-needs-one")
def _(d, comm, fac, comm_path, fac_path):
    table = facility_table(fac_path)
    table["category"], table["subcategory"] = "health", "community_health_station"
    table.loc[1, "floor_area_m2"] = "200"  # row 3 known, row 2 (A) unknown
    path = write_csv(table, d / "health.csv")
    return analysed(comm_path, [(path, "health")]), Repaired(path, 2, "floor area")


@case(REPAIRED, "facilities-far-outside-the-study-area")
def _(d, comm, fac, comm_path, fac_path):
    table = facility_table(fac_path)
    table.loc[1, ["lon", "lat"]] = ["110.0", "30.0"]
    path = write_csv(table, d / "far.csv")
    return analysed(comm_path, [(path, "education")]), Repaired(path, 3, "outside")


@case(REPAIRED, "demand-just-outside-every-community")
def _(d, comm, fac, comm_path, fac_path):
    inside = lonlat(*centre(1, 1))
    near = lonlat(X0 - 20, Y0 + 250)  # 20 m west of C11
    demand = write_csv(pd.DataFrame({"小区": ["甲", "乙"], "人口": ["500", "300"],
                                     "lon": [inside[0], near[0]], "lat": [inside[1], near[1]]}), d / "demand.csv")

    def check(analysis):
        assert analysis.demand["community_id"].notna().all()
        no_unaccounted_rows(analysis)
    return (analysed(comm_path, [(fac_path, "education")], demand=demand),
            Repaired(demand, 3, "assigned to the nearest, C11", check))


@case(REPAIRED, "demand-far-outside-every-community")
def _(d, comm, fac, comm_path, fac_path):
    inside = lonlat(*centre(1, 1))
    far = lonlat(X0 - 5000, Y0 - 5000)
    demand = write_csv(pd.DataFrame({"小区": ["甲", "乙"], "人口": ["500", "300"],
                                     "lon": [inside[0], far[0]], "lat": [inside[1], far[1]]}), d / "demand.csv")

    def check(analysis):
        assert analysis.demand["weight"].sum() >= 800  # kept as demand outside the communities, not dropped
        no_unaccounted_rows(analysis)
    return (analysed(comm_path, [(fac_path, "education")], demand=demand),
            Repaired(demand, 3, "outside every community", check))


@case(REPAIRED, "demand-missing-population")
def _(d, comm, fac, comm_path, fac_path):
    lon, lat = lonlat(*centre(1, 1))
    demand = write_csv(pd.DataFrame({"小区": ["甲", "乙"], "人口": ["500", ""], "lon": [lon, lon],
                                     "lat": [lat, lat]}), d / "demand.csv")
    return read_with_log(read_demand, demand), Repaired(demand, 3, "population missing; row not used")


@case(REPAIRED, "demand-nan-coordinates")
def _(d, comm, fac, comm_path, fac_path):
    lon, lat = lonlat(*centre(1, 1))
    demand = write_csv(pd.DataFrame({"小区": ["甲", "乙"], "人口": ["500", "300"], "lon": [lon, ""],
                                     "lat": [lat, "NaN"]}), d / "demand.csv")

    def check(analysis):
        no_unaccounted_rows(analysis)
    return (analysed(comm_path, [(fac_path, "education")], demand=demand),
            Repaired(demand, 3, "missing or non-numeric", check))


@case(REPAIRED, "demand-gcj02-declared-with-coords")
def _(d, comm, fac, comm_path, fac_path):
    lon, lat = lonlat(*centre(1, 1))
    glon, glat = wgs84_to_gcj02(lon, lat)
    demand = write_csv(pd.DataFrame({"小区": ["甲"], "人口": ["500"], "lon": [float(glon)], "lat": [float(glat)]}),
                       d / "demand.csv")

    def check(analysis):
        point = analysis.demand.set_index("demand_id").geometry.to_crs(CRS)
        assert point.iloc[0].distance(shapely.Point(centre(1, 1))) < 0.01
    return (analysed(comm_path, [(fac_path, "education")], demand=demand, coords={"demand": "gcj02"}),
            Repaired(demand, "", "read as GCJ02 and converted to WGS84", check))


@case(REPAIRED, "gcj02-declared-wgs84-not-detectable")
def _(d, comm, fac, comm_path, fac_path):
    """Amap coordinates given as plain lon/lat with no --coords: a ~540 m shift to the east-north-east in Beijing,
    which the coordinates alone cannot reveal. What geofacility does: it reads them as WGS84; the symptoms are the
    generic ones (here the school of C22 lands in C32)."""
    table = facility_table(fac_path)
    glon, glat = wgs84_to_gcj02(table["lon"].astype(float).to_numpy(), table["lat"].astype(float).to_numpy())
    table["lon"], table["lat"] = glon, glat
    path = write_csv(table, d / "amap.csv")

    def check(analysis):
        got = analysis.facilities.set_index("facility_id").geometry
        assert 450 < got["A"].distance(shapely.Point(centre(2, 2))) < 650
        assert comm.set_index("community_id").geometry["C32"].contains(got["A"])
    return analysed(comm_path, [(path, "education")]), Repaired(None, check=check)


@case(REPAIRED, "gcj02-demand-declared-wgs84-symptoms")
def _(d, comm, fac, comm_path, fac_path):
    """GCJ-02 demand points read as WGS84: those in the east column are shifted out of the study area and are
    reported point by point as outside every community; nothing names GCJ-02 as the likely cause."""
    lon, lat = lonlat(X0 + 1400, Y0 + 250)  # 100 m inside C31's east edge; +~520 m east when shifted
    glon, glat = wgs84_to_gcj02(lon, lat)
    demand = write_csv(pd.DataFrame({"小区": ["甲"], "人口": ["500"], "lon": [float(glon)], "lat": [float(glat)]}),
                       d / "demand.csv")
    return (analysed(comm_path, [(fac_path, "education")], demand=demand),
            Repaired(demand, 2, "outside every community"))


@case(REPAIRED, "network-disconnected")
def _(d, comm, fac, comm_path, fac_path):
    xs = [0, 250, 500, 750, 1000, 1060, 1250, 1500]
    ys = [0, 250, 500, 750, 1000, 1250, 1500]
    west = streets([x for x in xs if x <= 1000], ys, x_range=(0, 1000), y_range=(0, 1500))
    east = streets([x for x in xs if x >= 1060], ys, x_range=(1060, 1500), y_range=(0, 1500))
    path = write_geojson(pd.concat([west, east], ignore_index=True), d / "streets.geojson")
    one = write_csv(facility_table(fac_path).iloc[[0]], d / "one_school.csv")  # school A, in the west piece

    def check(analysis):
        assert analysis.settings["distance"] == "network"
    return analysed(comm_path, [(one, "education")], network=path), Repaired(path, "", "walking", check)


# --- issue 13, section 4 -----------------------------------------------------------------------------------------


def people_counted_once(analysis) -> None:
    """Every demand point in one community at most, and each community's spread points carry its population."""
    assert analysis.demand["community_id"].map(type).eq(str).all()
    weights = analysis.demand.groupby("community_id")["weight"].sum().to_dict()
    population = analysis.communities.set_index("community_id")["population"].to_dict()
    assert weights == pytest.approx(population)
    no_unaccounted_rows(analysis)


@case(REPAIRED, "communities-overlap-warned")
def _(d, comm, fac, comm_path, fac_path):
    """C12 (feature 4) drawn 100 m into C11 (feature 1): 500 × 100 m = 50,000 m², 20 % of C11's 250,000 m²."""
    over = comm.copy()
    over.loc[3, "geometry"] = shapely.box(X0, Y0 + BLOCK - 100, X0 + BLOCK, Y0 + 2 * BLOCK)
    path = write_geojson(over, d / "overlap.geojson")

    def check(analysis):
        assert analysis.demand["weight"].sum() == pytest.approx(45_000)
        people_counted_once(analysis)
    return (analysed(path, [(fac_path, "education")]),
            Repaired(path, "1, 4", "community C11 (社区11, feature 1) and community C12 (社区12, feature 4) overlap by "
                                   "20% of the smaller one's area (50,000 m²)", check))


@case(REPAIRED, "communities-identical-polygons-allowed")
def _(d, comm, fac, comm_path, fac_path):
    """X over C11's west half, with allow_overlap (--allow-overlap): 1,000 people in C11 and 600 in X, each spread
    over its own polygon: 45,600 in all, nobody twice."""
    extra = gpd.GeoDataFrame([{"community_id": "X", "community": "重复", "town": "东街道", "population": 600.0,
                               "households": 240.0, "geometry": shapely.box(X0, Y0, X0 + 250, Y0 + BLOCK)}], crs=CRS)
    path = write_geojson(pd.concat([comm, extra], ignore_index=True), d / "dup.geojson")

    def check(analysis):
        assert analysis.demand["weight"].sum() == pytest.approx(45_600)
        people_counted_once(analysis)
    return (analysed(path, [(fac_path, "education")], allow_overlap=True),
            Repaired(path, "1, 10", "overlap by 100% of the smaller one's area (125,000 m²); kept as given "
                                    "(--allow-overlap)", check))


@case(REPAIRED, "communities-households-exceed-population-on-one-row")
def _(d, comm, fac, comm_path, fac_path):
    odd = comm.copy()
    odd.loc[1, "households"] = 5000.0  # C21: 2,000 people
    path = write_geojson(odd, d / "hh.geojson")

    def check(result):
        assert result.set_index("community_id").loc["C21", ["population", "households"]].tolist() == [2000, 5000]
    return (read_with_log(read_communities, path),
            Repaired(path, 2, "households (5,000) exceed population (2,000), which cannot be", check))


@case(REPAIRED, "communities-full-width-digits")
def _(d, comm, fac, comm_path, fac_path):
    path = write_geojson(with_cell(comm, "population", 1, "１，２３４"), d / "wide.geojson")

    def check(result):
        assert result["population"].iloc[1] == 1234.0
    return read_with_log(read_communities, path), Repaired(path, "", "full-width digits", check)


@case(REPAIRED, "communities-thousands-separators")
def _(d, comm, fac, comm_path, fac_path):
    path = write_geojson(with_cell(comm, "population", 1, "2,000"), d / "sep.geojson")

    def check(result):
        assert result["population"].iloc[1] == 2000.0
    return read_with_log(read_communities, path), Repaired(None, check=check)


@case(REPAIRED, "communities-geopackage-layer-named")
def _(d, comm, fac, comm_path, fac_path):
    path = d / "社区.gpkg"
    fac.to_file(path, layer="schools")  # the first layer
    comm.to_file(path, layer="communities")

    def check(analysis):
        assert len(analysis.communities) == 9 and analysis.communities["population"].sum() == 45_000
        no_unaccounted_rows(analysis)
    return analysed(f"{path}:communities", [(fac_path, "education")]), Repaired(None, check=check)


@case(REPAIRED, "facilities-workbook-several-sheets")
def _(d, comm, fac, comm_path, fac_path):
    """A facility workbook with a notes sheet after the data: the first sheet is read and the warning says so."""
    path = d / "设施.xlsx"
    with pd.ExcelWriter(path) as writer:
        facility_table(fac_path).to_excel(writer, sheet_name="学校", index=False)
        pd.DataFrame({"说明": ["数据来源：区教委"]}).to_excel(writer, sheet_name="说明", index=False)

    def check(result):
        assert len(result) == 2
    return read_with_log(read_facilities, path), Repaired(path, "", "the first, '学校', is read; name another as "
                                                                       "设施.xlsx:SHEET", check=check)


@case(REFUSED, "facilities-workbook-unknown-sheet")
def _(d, comm, fac, comm_path, fac_path):
    path = d / "设施.xlsx"
    with pd.ExcelWriter(path) as writer:
        facility_table(fac_path).to_excel(writer, sheet_name="学校", index=False)
    return lambda: read_facilities(f"{path}:幼儿园"), Refused(f"{path}:幼儿园", ("no sheet '幼儿园'", "its sheets are 学校"))


@case(REPAIRED, "facilities-category-with-no-usable-row")
def _(d, comm, fac, comm_path, fac_path):
    """A file with a 类别 column: its two 医疗 rows have no coordinates, its schools do."""
    table = facility_table(fac_path)
    health = table.assign(facility_id=["H1", "H2"], category="医疗", subcategory="社区卫生服务站", lon="", lat="")
    path = write_csv(pd.concat([table, health], ignore_index=True), d / "设施.csv")

    def check(analysis):
        assert "health" not in analysis.surveyed
        assert (analysis.communities["health_status"] == "not_surveyed").all()
        assert any(line.startswith("WARNING: 设施.csv: category health") for line in digest(analysis.warnings))
        no_unaccounted_rows(analysis)
    return (analysed(comm_path, [path]),
            Repaired(path, "", "category health (医疗卫生) has no usable row in this file: its 2 rows are not used "
                               "(missing or non-numeric lon/lat ×2)", check))


@case(REPAIRED, "facilities-decimal-comma-in-one-row")
def _(d, comm, fac, comm_path, fac_path):
    table = facility_table(fac_path)
    table.loc[1, "lon"] = decimal_comma_coordinates(fac_path).loc[1, "lon"]
    path = write_csv(table, d / "comma.csv")

    def check(analysis):
        assert list(analysis.facilities["facility_id"]) == ["A"]
        no_unaccounted_rows(analysis)
    return analysed(comm_path, [(path, "education")]), Repaired(path, 3, "has a comma (a decimal comma?)", check)


@case(REPAIRED, "facilities-floor-area-ambiguous")
def _(d, comm, fac, comm_path, fac_path):
    table = facility_table(fac_path)
    table["floor_area_m2"] = ["3,000", "12,34"]
    path = write_csv(table, d / "area.csv")

    def check(result):
        assert result["floor_area_m2"].iloc[0] == 3000.0 and np.isnan(result["floor_area_m2"].iloc[1])
    return (read_with_log(read_facilities, path),
            Repaired(path, 3, "floor_area_m2 is ambiguous ('12,34': 12.34 with a decimal comma, or 1234", check))


@case(REPAIRED, "facilities-floor-area-inf")
def _(d, comm, fac, comm_path, fac_path):
    table = facility_table(fac_path)
    table["floor_area_m2"] = ["3000", "inf"]
    path = write_csv(table, d / "area.csv")
    return read_with_log(read_facilities, path), Repaired(path, 3, "floor_area_m2 is not a number ('inf')")


@case(REPAIRED, "facilities-floor-area-absurd")
def _(d, comm, fac, comm_path, fac_path):
    table = facility_table(fac_path)
    table["floor_area_m2"] = ["3000", "1e12"]
    path = write_csv(table, d / "area.csv")
    return read_with_log(read_facilities, path), Repaired(path, 3, "floor_area_m2 is impossibly large ('1e12'")


@case(REPAIRED, "facilities-subcategory-spelling")
def _(d, comm, fac, comm_path, fac_path):
    """卫生服务站 in 类别 (a common way to write 社区卫生服务站): the health category, the health-station standard."""
    table = facility_table(fac_path).assign(category="卫生服务站", subcategory="")
    path = write_csv(table, d / "health.csv")

    def check(analysis):
        assert set(analysis.facilities["subcategory"]) == {"community_health_station"}
        assert analysis.surveyed == ["health"] and not len(not_used(analysis.warnings))
    return analysed(comm_path, [path]), Repaired(None, check=check)


@case(REPAIRED, "facilities-nine-year-school")
def _(d, comm, fac, comm_path, fac_path):
    table = facility_table(fac_path).assign(category="教育")
    table.loc[1, "subcategory"] = "九年一贯制学校"
    path = write_csv(table, d / "schools.csv")

    def check(result):
        assert list(result["subcategory"]) == ["primary_school", "middle_school"]
    return (read_with_log(read_facilities, path),
            Repaired(path, 3, "counted as a middle school (初中) only: add a row for its primary part", check))


@case(REPAIRED, "demand-thousands-separators")
def _(d, comm, fac, comm_path, fac_path):
    lon, lat = lonlat(*centre(1, 1))
    path = write_csv(pd.DataFrame({"小区": ["甲", "乙"], "人口": ["1,234", "１２０"], "lon": [lon, lon],
                                   "lat": [lat, lat]}), d / "demand.csv")

    def check(result):
        assert list(result["weight"]) == [1234.0, 120.0]
    return read_with_log(read_demand, path), Repaired(path, "", "full-width digits", check)


@pytest.mark.parametrize("builder", REPAIRED)
def test_repaired(builder, grid):
    """Repairable input: the run succeeds and the warnings name the file and the row."""
    d, comm, fac, comm_path, fac_path = grid
    run, expect = builder(d, comm, fac, comm_path, fac_path)
    warnings, result = run()
    assert_warned(warnings, expect)
    assert_warnings_in_chinese(warnings)  # the 警告 sheet shows each in Chinese first (issue 14 §3)
    if expect.check is not None:
        expect.check(result)


# ---------------------------------------------------------------------------------------------------------------
# the command line: every case's process is started at once (module fixture), each test checks its own


CLI: dict[str, Callable] = {}
CLI_PARAMS: list = []


def cli_case(case_id: str, *, xfail: str | None = None):
    def register(builder):
        CLI[case_id] = builder
        marks = [pytest.mark.xfail(strict=True, reason=xfail)] if xfail else []
        CLI_PARAMS.append(pytest.param(case_id, id=case_id, marks=marks))
        return builder
    return register


def analyze_args(d: Path, communities, *extra) -> list[str]:
    return ["analyze", "--communities", str(communities), *map(str, extra), "--out", str(d / "out"), "--quiet"]


@cli_case("communities-empty-file")
def _(d, comm_path, fac_path):
    comm_path.write_bytes(b"")
    return analyze_args(d, comm_path, "--facilities", f"education={fac_path}"), Refused(comm_path, ("empty",))


@cli_case("communities-truncated-geojson")
def _(d, comm_path, fac_path):
    text = comm_path.read_text(encoding="utf-8")
    comm_path.write_text(text[: len(text) // 2], encoding="utf-8")
    return (analyze_args(d, comm_path, "--facilities", f"education={fac_path}"),
            Refused(comm_path, ("cannot be read", "GeoPackage")))


@cli_case("facilities-directory-named-csv")
def _(d, comm_path, fac_path):
    path = d / "学校.csv"
    path.mkdir()
    return (analyze_args(d, comm_path, "--facilities", f"education={path}"),
            Refused(path, ("directory",)))


@cli_case("facilities-csv-without-lon-lat")
def _(d, comm_path, fac_path):
    path = write_csv(facility_table(fac_path).drop(columns=["lon", "lat"]).assign(地址=["西城区某路1号", "某路2号"]),
                     d / "no_xy.csv")
    return (analyze_args(d, comm_path, "--facilities", f"education={path}"),
            Refused(path, ("no coordinate columns", "lon and lat")))


@cli_case("facilities-mixed-utf8-and-gbk")
def _(d, comm_path, fac_path):
    lines = fac_path.read_text(encoding="utf-8").splitlines()
    data = "\n".join(lines[:2]).encode("utf-8") + b"\n" + lines[2].replace("学校B", "学校乙").encode("gbk") + b"\n"
    path = d / "mixed.csv"
    path.write_bytes(data)
    return analyze_args(d, comm_path, "--facilities", f"education={path}"), Refused(path, ("row 3",))


def gbk_names_read(out: Path) -> None:
    names = set(gpd.read_file(out / "coverage.gpkg", layer="facilities")["name"])
    assert names == {"学校A", "学校B"}, names


@cli_case("facilities-gbk-csv")
def _(d, comm_path, fac_path):
    path = d / "gbk.csv"
    path.write_bytes(fac_path.read_text(encoding="utf-8").replace("education", "教育").encode("gbk"))
    return analyze_args(d, comm_path, "--facilities", f"education={path}"), Repaired(None, check=gbk_names_read)


@cli_case("communities-bowtie-polygon")
def _(d, comm_path, fac_path):
    comm, _ = grid_frames()
    x, y = X0, Y0
    comm.loc[0, "geometry"] = shapely.Polygon([(x, y), (x + BLOCK, y + BLOCK), (x + BLOCK, y), (x, y + BLOCK)])
    path = write_geojson(comm, d / "bowtie.geojson")
    return (analyze_args(d, path, "--facilities", f"education={fac_path}"),
            Repaired(path, 1, "Self-intersection"))


@cli_case("option-radius-zero")
def _(d, comm_path, fac_path):
    return (analyze_args(d, comm_path, "--facilities", f"education={fac_path}", "--radius", "education=0"),
            Refused(None, ("--radius education=0", "> 0")))


@cli_case("option-radius-not-a-number")
def _(d, comm_path, fac_path):
    return (analyze_args(d, comm_path, "--facilities", f"education={fac_path}", "--radius", "education=五百"),
            Refused(None, ("--radius education=五百", "not a number")))


@cli_case("option-facilities-unknown-category")
def _(d, comm_path, fac_path):
    # (was schools=: 'schools' names education in facility files, so the option accepts it too)
    return (analyze_args(d, comm_path, "--facilities", f"公厕={fac_path}"),
            Refused(None, ("unknown category '公厕'", "education")))


@cli_case("option-crs-geographic")
def _(d, comm_path, fac_path):
    return (analyze_args(d, comm_path, "--facilities", f"education={fac_path}", "--crs", "EPSG:4326"),
            Refused(None, ("--crs EPSG:4326", "projected")))


@cli_case("option-crs-unknown")
def _(d, comm_path, fac_path):
    return (analyze_args(d, comm_path, "--facilities", f"education={fac_path}", "--crs", "EPSG:45xx"),
            Refused(None, ("--crs", "EPSG:45xx")))


@cli_case("standards-missing-columns")
def _(d, comm_path, fac_path):
    path = d / "rules.csv"
    path.write_text("category,radius_m\neducation,800\n", encoding="utf-8")
    return (analyze_args(d, comm_path, "--facilities", f"education={fac_path}", "--standards", path),
            Refused(path, ("missing column(s) subcategory, level",)))


def radius_800_applied(out: Path) -> None:
    ledger = pd.read_csv(out / "ledger.csv", encoding="utf-8-sig")
    assert (ledger["education_radius_m"] == 800).all()
    assert "本区标准" in ledger["education_standard"].iloc[0]


@cli_case("standards-gbk-encoded")
def _(d, comm_path, fac_path):
    path = d / "rules.csv"
    path.write_bytes("category,subcategory,name_zh,level,radius_m\n"
                     "education,primary_school,小学（本区标准）,10min,800\n".encode("gbk"))
    return (analyze_args(d, comm_path, "--facilities", f"education={fac_path}", "--standards", path),
            Repaired(None, check=radius_800_applied))


@cli_case("candidates-zero-floor-area")
def _(d, comm_path, fac_path):
    lon, lat = lonlat(*centre(1, 1))
    path = write_csv(pd.DataFrame({"房源编号": ["R1", "R2"], "名称": ["一号", "二号"], "建筑面积": ["200", "0"],
                                   "预审": ["是", "是"], "lon": [lon, lon], "lat": [lat, lat]}), d / "rooms.csv")
    args = ["sites", "evaluate", "--candidates", str(path), "--category", "education", "--communities",
            str(comm_path), "--facilities", f"education={fac_path}", "--out", str(d / "out"), "--quiet"]
    return args, Repaired(path, 3, "floor area", workbook="sites.xlsx")


def review_args(d: Path, comm_path, fac_path, planned) -> list[str]:
    site = write_geojson(gpd.GeoDataFrame({"名称": ["某地块"]}, geometry=[block(1, 1)], crs=CRS), d / "project.geojson")
    return ["review", "--project", str(site), "--households", "500", "--planned", str(planned), "--communities",
            str(comm_path), "--facilities", f"education={fac_path}", "--out", str(d / "out"), "--quiet"]


@cli_case("review-planned-unknown-category")
def _(d, comm_path, fac_path):
    path = d / "planned.csv"
    path.write_text("类别,建筑面积\n公厕,50\n", encoding="utf-8")
    return review_args(d, comm_path, fac_path, path), Refused(path, ("row 2", "unknown category '公厕'"))


@cli_case("review-planned-non-numeric-area")
def _(d, comm_path, fac_path):
    path = d / "planned.csv"
    path.write_text("类别,子类,建筑面积\n养老,日间照料中心,约350\n", encoding="utf-8")
    return review_args(d, comm_path, fac_path, path), Refused(path, ("row 2", "约350"))


@cli_case("communities-geopackage-layer-syntax")
def _(d, comm_path, fac_path):
    comm, fac = grid_frames()
    path = d / "社区.gpkg"
    fac.to_file(path, layer="schools")
    comm.to_file(path, layer="communities")

    def nine_communities(out: Path) -> None:
        assert len(pd.read_csv(out / "ledger.csv", encoding="utf-8-sig")) == 9
    return (analyze_args(d, f"{path}:communities", "--facilities", f"education={fac_path}"),
            Repaired(None, check=nine_communities))


@cli_case("facilities-all-rows-unusable")
def _(d, comm_path, fac_path):
    path = write_csv(decimal_comma_coordinates(fac_path), d / "schools.csv")
    return (analyze_args(d, comm_path, "--facilities", f"education={path}"),
            Refused(path, ("none of its 2 rows is usable", "a decimal comma?")))


@cli_case("option-allow-overlap")
def _(d, comm_path, fac_path):
    comm, _ = grid_frames()
    extra = gpd.GeoDataFrame([{"community_id": "X", "community": "重复", "town": "东街道", "population": 600.0,
                               "households": 240.0, "geometry": shapely.box(X0, Y0, X0 + 250, Y0 + BLOCK)}], crs=CRS)
    path = write_geojson(pd.concat([comm, extra], ignore_index=True), d / "dup.geojson")
    return (analyze_args(d, path, "--facilities", f"education={fac_path}", "--allow-overlap"),
            Repaired(path, "1, 10", "kept as given (--allow-overlap)"))


@cli_case("facilities-dropped-rows-on-the-terminal")
def _(d, comm_path, fac_path):
    """Not --quiet: after the summary, the rows not used per file and the category left with none."""
    table = facility_table(fac_path)
    hospitals = table.assign(facility_id=["C", "D"], category="社区医院", subcategory="")
    health = table.assign(facility_id=["H1", "H2"], category="医疗", subcategory="社区卫生服务站", lon="", lat="")
    path = write_csv(pd.concat([table, hospitals, health], ignore_index=True), d / "设施.csv")
    args = analyze_args(d, comm_path, "--facilities", path)
    args.remove("--quiet")
    return args, Repaired(path, 4, "unknown category '社区医院'", stderr=(
        "设施.csv: 4 rows not used — missing or non-numeric lon/lat ×2; unknown category '社区医院' ×2",
        "WARNING: 设施.csv: category health (医疗卫生) has no usable row"))


def run_cli(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "geofacility.cli", *args], capture_output=True, text=True,
                          timeout=600)


@pytest.fixture(scope="module", autouse=True)
def cli_runs(request, tmp_path_factory):
    """Every CLI case's inputs written to its own folder and its process started, all at once, when the module's
    first test starts: the processes run while the Python-API cases run here."""
    if not any(item.name.startswith("test_cli[") and item.module is request.module for item in request.session.items):
        yield {}
        return
    comm, fac = grid_frames()
    pool = ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2))
    runs = {}
    for case_id, builder in CLI.items():
        d = tmp_path_factory.mktemp(case_id)
        comm_path, fac_path = write_grid_files(d, comm, fac)
        args, expect = builder(d, comm_path, fac_path)
        runs[case_id] = (pool.submit(run_cli, args), expect, d / "out")
    yield runs
    pool.shutdown(wait=True, cancel_futures=True)


@pytest.mark.parametrize("case_id", CLI_PARAMS)
def test_cli(case_id, cli_runs):
    """Through `python -m geofacility.cli`: exit 2 with one `error: ` line naming the file, or exit 0 with the
    warning in the workbook; never a traceback."""
    future, expect, out = cli_runs[case_id]
    result = future.result()
    assert "Traceback" not in result.stderr
    if isinstance(expect, Refused):
        assert result.returncode == 2, f"exit {result.returncode}: {result.stderr}"
        assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
        assert_refused_message(result.stderr, expect)
        assert "internal error" not in result.stderr
    else:
        assert result.returncode == 0, f"exit {result.returncode}: {result.stderr}"
        if expect.file is not None:
            assert_warned(workbook_warnings(out / expect.workbook), expect)
            sheet = pd.read_excel(out / expect.workbook, sheet_name="警告 warnings", dtype=str).fillna("")
            # Chinese first: the cell's first line is the Chinese text, the English follows on the next
            assert_warnings_in_chinese(pd.DataFrame({"file": sheet["文件 file"], "row": sheet["行 row"], "message_zh":
                                                     sheet["说明 message"].str.split("\n").str[0]}))
        if expect.check is not None:
            expect.check(out)
        for text in expect.stderr:
            assert text in result.stderr, f"{text!r} not on the terminal:\n{result.stderr}"
