"""GeoParquet in and out (issue 16): every role read from GeoParquet as from a GeoPackage, plain Parquet tables read
like a CSV, parts of a file (a box, a slice of rows) numbered as in the whole file, and ``--format parquet``
writing coverage.parquet in the run's set."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import shapely

from geofacility.errors import InputError, WarningLog
from geofacility.ledger import write_rollup_layer
from geofacility.network import read_network
from geofacility.outputs import JOURNAL, RUN_JSON, file_sha256, output_set, recover
from geofacility.read import count_rows, read_layer
from geofacility.study import sample_dir
from geofacility.synth import synthetic_city


def run_cli(*args, prelude: str = ""):
    code = f"import sys\n{prelude}\nfrom geofacility.cli import main\nsys.argv = ['geofacility', *{list(args)!r}]\nmain()\n"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)


# ------------------------------------------------------------------------------------------------ parts of a file

#: p1…p9: a 3 × 3 grid of points 0.01° apart, p1 at 116.30 E 39.90 N, numbered west→east then south→north
LON = 116.30 + 0.01 * np.tile([0, 1, 2], 3)
LAT = 39.90 + 0.01 * np.repeat([0, 1, 2], 3)
#: meets p5 (116.31, 39.91) and p6 (116.32, 39.91) only
MIDDLE_ROW_EAST = (116.305, 39.905, 116.325, 39.915)
#: meets the west column: p1, p4, p7
WEST_COLUMN = (116.295, 39.895, 116.305, 39.925)

WRITERS = {
    "gpkg": lambda g, p: g.to_file(p, driver="GPKG"),
    "shp": lambda g, p: g.to_file(p, driver="ESRI Shapefile"),
    "geojson": lambda g, p: g.to_crs(4326).to_file(p, driver="GeoJSON"),  # GeoJSON is WGS84
    "fgb": lambda g, p: g.to_file(p, driver="FlatGeobuf"),  # stored in spatial (Hilbert) order, not p1…p9
    "parquet": lambda g, p: g.to_parquet(p, write_covering_bbox=True, row_group_size=2),  # 5 row groups
    "nocover.parquet": lambda g, p: g.to_parquet(p, row_group_size=4),  # no bbox column: geometry bounds
    "geoarrow.parquet": lambda g, p: g.to_parquet(p, geometry_encoding="geoarrow", write_covering_bbox=True,
                                                  row_group_size=3),  # GeoParquet 1.1's native point encoding
}


@pytest.fixture
def grid_points() -> gpd.GeoDataFrame:
    points = gpd.GeoDataFrame({"name": [f"p{i}" for i in range(1, 10)], "k": np.arange(1, 10)},
                              geometry=gpd.points_from_xy(LON, LAT), crs=4326)
    return points.to_crs(32650)  # the files hold metres: the lon/lat box is turned into the file's CRS


@pytest.mark.parametrize("kind", list(WRITERS))
def test_a_box_reads_exactly_the_rows_inside_numbered_as_in_the_whole_file(tmp_path, grid_points, kind):
    path = tmp_path / f"grid.{kind}"
    WRITERS[kind](grid_points, path)
    whole = read_layer(path)
    assert count_rows(path) == 9
    number = dict(zip(whole["name"], whole["source_row"]))  # the FlatGeobuf numbers its features in its own order
    if kind != "fgb":
        assert list(whole["name"]) == [f"p{i}" for i in range(1, 10)] and list(whole["source_row"]) == list(range(1, 10))
    for box, names in ((MIDDLE_ROW_EAST, {"p5", "p6"}), (WEST_COLUMN, {"p1", "p4", "p7"})):
        log = WarningLog()
        part = read_layer(path, bbox=box, log=log)
        assert set(part["name"]) == names
        assert list(part["source_row"]) == sorted(number[n] for n in names)  # file order, whole-file numbers
        assert part.crs.to_epsg() == 4326
        assert str(path) not in log.read_rows  # a box's rows are not the file's rows read
        expected = whole.set_index("name").loc[part["name"]].geometry.values
        assert shapely.equals_exact(part.geometry.values, expected, tolerance=1e-12).all()
    empty = read_layer(path, bbox=(100.0, 10.0, 100.1, 10.1))
    assert empty.empty and {"name", "source_row", "source_file"} <= set(empty.columns) and empty.crs.to_epsg() == 4326
    # a slice of rows: positions 3 and 4 are rows 4 and 5 in any format
    rows = read_layer(path, rows=(3, 5))
    assert list(rows["source_row"]) == [4, 5]
    assert list(rows["name"]) == list(whole["name"].iloc[3:5])
    assert read_layer(path, rows=(9, 12)).empty and read_layer(path, rows=(2, 2)).empty
    # a box and a slice together: the rows of the slice inside the box
    both = read_layer(path, bbox=WEST_COLUMN, rows=(0, 6))
    assert list(both["source_row"]) == sorted(number[n] for n in {"p1", "p4", "p7"} if number[n] <= 6)


def test_a_box_reads_only_the_row_groups_it_needs(tmp_path, grid_points, monkeypatch):
    """Row groups of 3 hold the south, middle and north rows of the grid: a box on the middle row reads the
    covering column of one group (the statistics rule the other two out) and the features of that group only."""
    grid_points.to_parquet(tmp_path / "g.parquet", write_covering_bbox=True, row_group_size=3)
    read = []
    original = pq.ParquetFile.read_row_group

    def spy(self, i, columns=None, **kwargs):
        read.append((i, tuple(columns or ())))
        return original(self, i, columns=columns, **kwargs)

    monkeypatch.setattr(pq.ParquetFile, "read_row_group", spy)
    part = read_layer(tmp_path / "g.parquet", bbox=MIDDLE_ROW_EAST)
    assert list(part["source_row"]) == [5, 6]
    assert read == [(1, ("bbox",)), (1, ("name", "k", "geometry"))]


def test_a_box_keeps_a_polygon_that_crosses_it_without_a_vertex_inside(tmp_path):
    """A community square around the box (every vertex outside it) meets it; one beside it does not."""
    squares = gpd.GeoDataFrame({"community_id": ["around", "beside"]}, geometry=[
        shapely.box(116.30, 39.90, 116.33, 39.93), shapely.box(116.34, 39.90, 116.35, 39.93)], crs=4326)
    for name, write in (("c.gpkg", lambda p: squares.to_file(p)), ("c.parquet", lambda p: squares.to_parquet(
            p, write_covering_bbox=True))):
        write(tmp_path / name)
        part = read_layer(tmp_path / name, bbox=(116.31, 39.91, 116.32, 39.92))
        assert list(part["community_id"]) == ["around"] and list(part["source_row"]) == [1]


def test_a_box_in_a_gcj02_file_is_found_after_the_shift(tmp_path):
    """A point stored in GCJ-02 (offset by ~500 m in Beijing) is tested against the box where it really is."""
    from geofacility.read import wgs84_to_gcj02

    lon, lat = wgs84_to_gcj02(np.array([116.3100]), np.array([39.9100]))
    frame = gpd.GeoDataFrame({"name": ["p"]}, geometry=gpd.points_from_xy(lon, lat), crs=4326)
    frame.to_parquet(tmp_path / "p.parquet")
    frame.to_file(tmp_path / "p.gpkg")
    for name in ("p.parquet", "p.gpkg"):
        inside = read_layer(tmp_path / name, coords="gcj02", bbox=(116.3099, 39.9099, 116.3101, 39.9101))
        assert len(inside) == 1
        assert inside.geometry.x.iloc[0] == pytest.approx(116.31, abs=1e-9)
        assert read_layer(tmp_path / name, coords="gcj02", bbox=(lon[0] - 1e-4, lat[0] - 1e-4, lon[0] + 1e-4,
                                                                  lat[0] + 1e-4)).empty  # the stored, shifted place


def test_bad_parts_are_refused(tmp_path, grid_points):
    grid_points.to_parquet(tmp_path / "g.parquet")
    for kwargs, text in (({"bbox": (116.3, 39.9, 116.2, 40.0)}, "min lon"), ({"bbox": (1, 2, 3)}, "four numbers"),
                         ({"rows": (5, 2)}, "start <= stop"), ({"rows": (-1, 2)}, "start <= stop")):
        with pytest.raises(InputError, match=text):
            read_layer(tmp_path / "g.parquet", **kwargs)


# ------------------------------------------------------------------------------------------------ GeoParquet in


def test_geoparquet_crs_from_its_metadata_and_coords_overrides_as_for_other_files(tmp_path, grid_points):
    grid_points.to_parquet(tmp_path / "metres.parquet")  # EPSG:32650 in the metadata
    grid_points.to_file(tmp_path / "metres.gpkg")
    from_parquet, from_gpkg = read_layer(tmp_path / "metres.parquet"), read_layer(tmp_path / "metres.gpkg")
    assert from_parquet.crs.to_epsg() == 4326
    np.testing.assert_allclose(from_parquet.geometry.x, LON, atol=1e-9)
    np.testing.assert_allclose(from_parquet.geometry.y, LAT, atol=1e-9)
    pd.testing.assert_frame_equal(pd.DataFrame(from_parquet.drop(columns=["geometry", "source_file"])),
                                  pd.DataFrame(from_gpkg.drop(columns=["geometry", "source_file"])), check_dtype=False)
    # no CRS in the file (crs: null) and metres: refused as for a Shapefile without .prj; --coords gives it
    grid_points.set_crs(None, allow_override=True).to_parquet(tmp_path / "unknown.parquet")
    with pytest.raises(InputError, match="no CRS in the file"):
        read_layer(tmp_path / "unknown.parquet")
    log = WarningLog()
    given = read_layer(tmp_path / "unknown.parquet", coords="EPSG:32650", log=log)
    np.testing.assert_allclose(given.geometry.x, LON, atol=1e-9)


def test_a_plain_parquet_table_with_lon_lat_reads_like_the_csv(tmp_path):
    csv = sample_dir() / "compounds.csv"
    table = pd.read_csv(csv)  # typed columns (floats, ints, booleans), as a data pipeline would write them
    table.to_parquet(tmp_path / "compounds.parquet")
    log_csv, log_pq = WarningLog(), WarningLog()
    from_csv = read_layer(csv, log=log_csv)
    from_parquet = read_layer(tmp_path / "compounds.parquet", log=log_pq)
    assert len(from_parquet) == len(table) == 1421
    assert shapely.equals_exact(from_parquet.geometry.values, from_csv.geometry.values, tolerance=0).all()
    assert list(from_parquet["source_row"]) == list(range(1, 1422))  # rows from 1, as a vector file's features
    assert list(from_csv["source_row"]) == list(range(2, 1423))  # (the CSV's are line numbers, the header line 1)
    assert list(from_parquet["compound_id"]) == list(from_csv["compound_id"])
    assert log_pq.to_frame()["message"].tolist() == log_csv.to_frame()["message"].tolist()  # the GCJ-02 note
    assert log_pq.read_rows[str(tmp_path / "compounds.parquet")] == (1421, 1)


def test_a_parquet_that_is_not_geoparquet_and_has_no_lon_lat_is_a_clear_error(tmp_path):
    pd.DataFrame({"name": ["甲", "乙"], "population": [10, 20]}).to_parquet(tmp_path / "人口.parquet")
    with pytest.raises(InputError) as info:
        read_layer(tmp_path / "人口.parquet")
    message = str(info.value)
    assert message.startswith(str(tmp_path / "人口.parquet")) and "GeoParquet" in message and "lon and lat" in message
    (tmp_path / "broken.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(InputError, match="not a readable Parquet file"):
        read_layer(tmp_path / "broken.parquet")
    with pytest.raises(InputError, match="no layers"):
        read_layer(tmp_path / "人口.parquet", layer="x")


def test_wkb_without_geoparquet_metadata_reads_as_a_file_without_crs(tmp_path):
    pd.DataFrame({"name": ["a", "b"], "geometry": shapely.to_wkb(gpd.points_from_xy([116.3, 116.4], [39.9, 39.95]))}
                 ).to_parquet(tmp_path / "duckdb.parquet")
    log = WarningLog()
    gdf = read_layer(tmp_path / "duckdb.parquet", log=log)
    assert list(gdf.geometry.x) == [116.3, 116.4] and list(gdf["source_row"]) == [1, 2]
    assert any("no CRS in the file" in m for m in log.to_frame()["message"])


def test_walking_network_from_geoparquet_lines_is_the_geopackage_one(tmp_path):
    city = synthetic_city(n_nodes_side=12, n_demand=200, facilities_per_category=1, block_side=3, seed=3)
    city.streets.to_parquet(tmp_path / "streets.parquet")
    city.streets.to_file(tmp_path / "streets.gpkg")
    a, b = read_network(tmp_path / "streets.parquet", city.crs), read_network(tmp_path / "streets.gpkg", city.crs)
    assert a.n_segments == b.n_segments == city.network.n_segments
    for attr in ("u", "v"):
        np.testing.assert_array_equal(getattr(a, attr), getattr(b, attr))
    np.testing.assert_allclose(a.xy, b.xy, atol=1e-6)


# ------------------------------------------------------------------------------------------------ the CLI


@pytest.fixture(scope="module")
def xicheng_as(tmp_path_factory):
    """The Xicheng sample's four inputs as GeoPackage and as GeoParquet, the same frames (the CSV roles as points
    in their GCJ-02 coordinates, read with --coords ROLE=gcj02)."""
    folder = tmp_path_factory.mktemp("xicheng_files")
    d = sample_dir()
    frames = {"communities": gpd.read_file(d / "communities.geojson"), "towns": gpd.read_file(d / "streets.geojson")}
    for role, name in (("demand", "compounds"), ("facilities", "primary_schools")):
        table = pd.read_csv(d / f"{name}.csv")
        frames[role] = gpd.GeoDataFrame(table.drop(columns=["gcj02_lng", "gcj02_lat"]),
                                        geometry=gpd.points_from_xy(table["gcj02_lng"], table["gcj02_lat"]), crs=4326)
    for role, frame in frames.items():
        frame.to_file(folder / f"{role}.gpkg")
        frame.to_parquet(folder / f"{role}.parquet", write_covering_bbox=True)
    return folder


def _analyze(folder, suffix, out, *extra):
    return run_cli("analyze", "--communities", str(folder / f"communities.{suffix}"),
                   "--towns", str(folder / f"towns.{suffix}"), "--demand", str(folder / f"demand.{suffix}"),
                   "--facilities", f"education={folder / f'facilities.{suffix}'}", "--coords", "demand=gcj02",
                   "--coords", "facilities=gcj02", "--study", "北京市西城区", "--jurisdiction", "北京市西城区",
                   "--out", str(out), "--quiet", *extra)


def test_every_role_from_geoparquet_gives_the_ledger_of_the_geopackages(tmp_path, xicheng_as):
    """The same analysis, byte for byte, whichever format the four inputs come in; and --format parquet writes
    coverage.parquet, the communities layer of coverage.gpkg as GeoParquet."""
    runs = {}
    for suffix in ("gpkg", "parquet"):
        out = tmp_path / suffix
        result = _analyze(xicheng_as, suffix, out, "--format", "gpkg,parquet")
        assert result.returncode == 0, result.stderr
        runs[suffix] = out
    assert (runs["gpkg"] / "ledger.csv").read_bytes() == (runs["parquet"] / "ledger.csv").read_bytes()
    assert len(pd.read_csv(runs["parquet"] / "ledger.csv", encoding="utf-8-sig")) == 264
    out = runs["parquet"]
    gpkg = gpd.read_file(out / "coverage.gpkg", layer="communities")
    parquet = gpd.read_parquet(out / "coverage.parquet")
    assert list(parquet.columns) == list(gpkg.columns) and len(parquet) == 264
    assert parquet.crs == gpkg.crs and parquet.crs.is_projected
    pd.testing.assert_frame_equal(pd.DataFrame(parquet.drop(columns="geometry")),
                                  pd.DataFrame(gpkg.drop(columns="geometry")), check_dtype=False)
    assert parquet.geometry.geom_equals(gpkg.geometry).all()
    geo = json.loads(pq.read_schema(out / "coverage.parquet").metadata[b"geo"])
    assert geo["version"] == "1.1.0" and "bbox" in geo["columns"]["geometry"]["covering"]
    run = json.loads((out / RUN_JSON).read_text(encoding="utf-8"))
    assert sorted(o["file"] for o in run["outputs"]) == ["coverage.gpkg", "coverage.parquet", "ledger.csv",
                                                         "ledger.xlsx", "map.html"]
    # the same inputs give the same bytes
    again = tmp_path / "again"
    assert _analyze(xicheng_as, "parquet", again, "--format", "parquet").returncode == 0
    assert (again / "coverage.parquet").read_bytes() == (out / "coverage.parquet").read_bytes()
    assert not (again / "coverage.gpkg").exists()  # --format parquet alone: no GeoPackage


def test_an_unknown_format_is_a_one_line_error(tmp_path):
    result = run_cli("analyze", "--format", "shp", "--out", str(tmp_path / "out"))
    assert result.returncode == 2 and "--format shp" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_coverage_parquet_is_part_of_the_set(tmp_path, xicheng_as):
    """Killed while coverage.parquet is being written, the folder keeps the old set; killed after the commit
    point, the next command completes the new set, coverage.parquet included."""
    base = tmp_path / "base"
    assert _analyze(xicheng_as, "gpkg", base, "--format", "gpkg,parquet", "--radius", "education=300"
                    ).returncode == 0
    before = {p.name: p.read_bytes() for p in base.iterdir()}
    for point, new in (("stage:coverage.parquet", False), ("renamed:4", True)):
        folder = tmp_path / point.replace(":", "_")
        folder.mkdir()
        for name, data in before.items():
            (folder / name).write_bytes(data)
        prelude = textwrap.dedent(f"""
            import os, signal
            import geofacility.outputs as outputs
            def hook(stage):
                if stage == {point!r}:
                    os.kill(os.getpid(), signal.SIGKILL)
            outputs._hook = hook
        """)
        result = run_cli("analyze", "--communities", str(xicheng_as / "communities.gpkg"), "--towns",
                         str(xicheng_as / "towns.gpkg"), "--demand", str(xicheng_as / "demand.gpkg"), "--facilities",
                         f"education={xicheng_as / 'facilities.gpkg'}", "--coords", "demand=gcj02", "--coords",
                         "facilities=gcj02", "--study", "北京市西城区", "--jurisdiction", "北京市西城区", "--format",
                         "gpkg,parquet", "--out", str(folder), "--quiet", prelude=prelude)
        assert result.returncode == -signal.SIGKILL, result.stderr
        assert (folder / JOURNAL).exists() == new
        recover(folder)
        info = json.loads((folder / RUN_JSON).read_text(encoding="utf-8"))
        for output in info["outputs"]:
            assert file_sha256(folder / output["file"]) == output["sha256"]
        changed = (folder / "coverage.parquet").read_bytes() != before["coverage.parquet"]
        assert changed == new  # 300 m → the standard's radius: other figures
        if not new:
            assert {p.name: p.read_bytes() for p in folder.iterdir() if not p.name.startswith(".")} == before


def test_write_rollup_layer_writes_both_formats_in_the_set(tmp_path):
    frame = gpd.GeoDataFrame({"group": ["东", "西"], "community_id": ["C1", "C2"], "population": [1000, 2000]},
                             geometry=[shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1)], crs=32650)
    with output_set(tmp_path, expected=["coverage.gpkg", "coverage.parquet"]):
        paths = write_rollup_layer(frame, tmp_path, formats=("gpkg", "parquet"))
        assert not paths["parquet"].exists()  # staged: replaced at the commit, with the rest of the set
    assert set(paths) == {"gpkg", "parquet"}
    back = gpd.read_parquet(paths["parquet"])
    assert list(back["community_id"]) == ["C1", "C2"] and back.crs.to_epsg() == 32650
    assert list(gpd.read_file(paths["gpkg"], layer="communities")["population"]) == [1000, 2000]
    assert write_rollup_layer(frame, tmp_path / "none", formats=()) == {}


def test_synth_writes_geoparquet_that_the_batch_reads_and_writes(tmp_path):
    """synth --format parquet, then a batch on foot from the four GeoParquet files whose roll-up layer comes as
    coverage.gpkg and coverage.parquet, the same rows."""
    city = tmp_path / "city"
    result = run_cli("synth", "--side", "14", "--demand", "400", "--facilities-per-category", "2", "--block-side", "3",
                     "--format", "parquet", "--out", str(city))
    assert result.returncode == 0, result.stderr
    names = sorted(p.name for p in city.iterdir())
    assert names == ["communities.parquet", "demand.parquet", "facilities.parquet", "run.json", "streets.parquet"]
    made = synthetic_city(n_nodes_side=14, n_demand=400, facilities_per_category=2, block_side=3, seed=0)
    assert count_rows(city / "demand.parquet") == 400 == len(made.demand)
    back = gpd.read_parquet(city / "communities.parquet")
    assert back.crs == made.crs and list(back["community_id"]) == list(made.communities["community_id"])
    out = tmp_path / "out"
    result = run_cli("batch", "--communities", str(city / "communities.parquet"), "--demand",
                     str(city / "demand.parquet"), "--facilities", str(city / "facilities.parquet"), "--network",
                     str(city / "streets.parquet"), "--format", "gpkg,parquet", "--out", str(out), "--quiet")
    assert result.returncode == 0, result.stderr
    summary = pd.read_csv(out / "summary.csv", encoding="utf-8-sig")
    assert (summary["status"] == "ok").all() and summary["group"].nunique() >= 2
    ledger = pd.read_csv(out / summary["folder"].iloc[0] / "ledger.csv", encoding="utf-8-sig")
    assert ledger["distance_method"].eq("network").all()
    rollup, gpkg = gpd.read_parquet(out / "coverage.parquet"), gpd.read_file(out / "coverage.gpkg", layer="communities")
    assert len(rollup) == len(made.communities) and rollup["group"].nunique() == summary["group"].nunique()
    pd.testing.assert_frame_equal(pd.DataFrame(rollup.drop(columns="geometry")),
                                  pd.DataFrame(gpkg.drop(columns="geometry")), check_dtype=False)
    assert rollup.geometry.geom_equals(gpkg.geometry).all()
