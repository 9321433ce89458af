"""The what-if workbench on foot, on the bundled Helsinki data (data/helsinki, a real OSM walking network): after
clicks, an added room and undos the scenario equals with_sites recomputed whole; the existing facilities' and the
built rooms' walking catchments come back as polygons; `geofacility serve` answers on it. Helsinki has no
candidate rooms file: a few of its building points stand in as rooms (attributes illustrative)."""
from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from conftest import ROOT
from test_workbench_server import ServeProcess
from geofacility.ledger import ledger_table
from geofacility.pipeline import analyze
from geofacility.read import read_candidates
from geofacility.siting import evaluate_candidates
from geofacility.workbench.model import Workbench

HELSINKI = ROOT / "data" / "helsinki"
STUDY = {"communities": HELSINKI / "blocks.geojson", "facilities": [HELSINKI / "facilities.csv"],
         "demand": HELSINKI / "buildings.csv", "network": HELSINKI / "helsinki.osm.pbf"}
STUDY_ARGS = ["--communities", str(STUDY["communities"]), "--facilities", str(STUDY["facilities"][0]),
              "--demand", str(STUDY["demand"]), "--network", str(STUDY["network"])]


def write_rooms(path):
    """Every 42nd building of buildings.csv (8 of 336) as a candidate room for health and education, 4,000 m²."""
    b = pd.read_csv(HELSINKI / "buildings.csv").iloc[::42].head(8)
    pd.DataFrame({"candidate_id": "H" + b["building_id"].str[1:], "name": [f"房源{i}" for i in range(len(b))],
                  "建筑面积": 4000, "可用类别": "医疗;教育", "预审": "是", "lon": b["lon"], "lat": b["lat"]}) \
        .to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def helsinki(tmp_path_factory):
    analysis = analyze(**STUDY)
    assert analysis.measure.method == "network"
    return analysis, read_candidates(write_rooms(tmp_path_factory.mktemp("rooms") / "rooms.csv"))


def _same_as_reference(wb, category):
    pd.testing.assert_frame_equal(ledger_table(wb.table()), ledger_table(wb.reference(category).communities))


def _polygons(collection):
    return [f["geometry"]["type"] for f in collection["features"]]


@pytest.mark.parametrize("category", ["health", "education"])
def test_clicks_on_foot_equal_with_sites(helsinki, category, tmp_path):
    analysis, rooms = helsinki
    wb = Workbench(analysis, rooms, out=tmp_path)
    study = wb._cat(category).study
    ids = study.candidates["candidate_id"].astype(str).to_numpy()[study.eligible]
    assert len(ids) == 8
    newly = evaluate_candidates(analysis, rooms, category).candidates.set_index("candidate_id")[
        "newly_covered_population"]
    # one room from the baseline: the people it newly covers on foot, as `sites evaluate` says (health has one
    # standard; education's covered people are, per community, its weakest standard's: where this kindergarten
    # room reaches, the primary-school standard stays at 0 %, so the category's covered people do not move)
    first = wb.toggle(category, ids[1])
    gained = first["scenario"]["covered_population"] - first["baseline"]["covered_population"]
    assert newly[ids[1]] > 0 and gained == (newly[ids[1]] if category == "health" else 0)
    assert first["recomputed"]["communities"] < len(analysis.communities)
    _same_as_reference(wb, category)
    rng = np.random.default_rng(17)
    for cid in rng.choice(ids, 6):
        wb.toggle(category, str(cid))
    _same_as_reference(wb, category)
    p = analysis.communities.geometry.representative_point().to_crs(4326).iloc[3]
    u = wb.add_room(category, lon=p.x, lat=p.y, floor_area_m2=4000, name="新房源")
    assert u["built"][-1] == "new-1"
    _same_as_reference(wb, category)
    wb.undo()  # the added room withdrawn
    u = wb.undo()  # the last toggle undone
    assert "new-1" not in u["built"]
    _same_as_reference(wb, category)
    # the built rooms' own walking catchments: one polygon per built room, within (radius + street buffer) of it
    walked = u["built_catchments"]
    assert [f["properties"]["candidate_id"] for f in walked["features"]] == u["built"]
    assert set(_polygons(walked)) <= {"Polygon", "MultiPolygon"}
    radius = study.check.radius_m
    shapes = gpd.GeoSeries([shapely.geometry.shape(f["geometry"]) for f in walked["features"]], crs=4326) \
        .to_crs(analysis.crs)
    at = study.candidates.set_index(study.candidates["candidate_id"].astype(str)).geometry.loc[u["built"]]
    farthest = shapely.hausdorff_distance(np.asarray(shapes.values), np.asarray(at.values))  # over the vertices
    assert (farthest <= radius + 50 + 0.01).all() and (farthest > 50).all()
    # the existing facilities' walking catchments, as analyze draws them
    layers = wb.layers(category)
    fac = analysis.facilities.loc[analysis.facilities["category"] == category, "facility_id"].astype(str)
    assert layers["catchments"] is not None and set(_polygons(layers["catchments"])) <= {"Polygon", "MultiPolygon"}
    assert {f["properties"]["facility_id"] for f in layers["catchments"]["features"]} <= set(fac)
    assert len(layers["catchments"]["features"]) >= 1
    json.dumps(layers, allow_nan=False)
    json.dumps(u, allow_nan=False)


def test_serve_on_foot(tmp_path):
    """`geofacility serve` on Helsinki on foot: the URL with its token, the layers with walking catchments
    (polygons), a toggle answering the built room's catchment; Ctrl+C stops it."""
    rooms = write_rooms(tmp_path / "rooms.csv")
    with ServeProcess([*STUDY_ARGS, "--candidates", str(rooms), "--port", "0", "--out", str(tmp_path / "wb"),
                       "--quiet"], cwd=tmp_path) as served:
        layers = served.call("GET", "/api/layers?category=health")
        assert set(_polygons(layers["catchments"])) <= {"Polygon", "MultiPolygon"} and layers["catchments"]["features"]
        room = layers["candidates"]["features"][1]["properties"]["candidate_id"]
        update = served.call("POST", "/api/toggle", {"category": "health", "candidate_id": room})
        assert update["built"] == [room] and update["scenario"]["covered_population"] > \
            update["baseline"]["covered_population"]
        assert [f["properties"]["candidate_id"] for f in update["built_catchments"]["features"]] == [room]
        err = served.stop()
    assert "Traceback" not in err
