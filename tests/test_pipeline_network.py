"""The pipeline with a walking network, on the 3×3 grid of 500 m blocks (conftest.py).

Streets run through the block centres: three east–west at y = 250, 750, 1250 m and three north–south at
x = 250, 750, 1250 m from the grid's south-west corner. A river runs north–south at x = 1000 m: the east–west
streets stop at it except the northern one (the only bridge). School A stands at the centre of C22 (750, 750).

Straight line, radius 510 m: the centres of C22 (0 m) and of C12, C21, C23, C32 (500 m) are covered.
On foot: C32's centre (1250, 750) is 500 m north + 500 m east over the bridge + 500 m south = 1,500 m away, so
it is not; the others keep their 500 m.
"""
from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from conftest import CRS, X0, Y0
from geofacility.pipeline import analyze


def streets_with_river():
    lines = []
    for y in (250, 750):  # stop at the river
        lines.append(shapely.LineString([(X0 + 0, Y0 + y), (X0 + 990, Y0 + y)]))
        lines.append(shapely.LineString([(X0 + 1010, Y0 + y), (X0 + 1500, Y0 + y)]))
    lines.append(shapely.LineString([(X0 + 0, Y0 + 1250), (X0 + 1500, Y0 + 1250)]))  # the bridge street
    for x in (250, 750, 1250):
        lines.append(shapely.LineString([(X0 + x, Y0 + 0), (X0 + x, Y0 + 1500)]))
    return gpd.GeoDataFrame({"name": [f"street {i}" for i in range(len(lines))]}, geometry=lines, crs=CRS)


@pytest.fixture
def river_files(tmp_path, grid_communities):
    comm = tmp_path / "communities.geojson"
    grid_communities.to_crs(4326).to_file(comm)
    centres = grid_communities.geometry.centroid.to_crs(4326)
    demand = tmp_path / "homes.csv"
    pd.DataFrame({"demand_id": grid_communities["community_id"], "population": grid_communities["population"],
                  "lon": centres.x, "lat": centres.y}).to_csv(demand, index=False)
    school = shapely.Point(X0 + 750, Y0 + 750)
    fac = tmp_path / "schools.csv"
    s = gpd.GeoSeries([school], crs=CRS).to_crs(4326)
    pd.DataFrame({"name": ["学校A"], "category": ["education"], "subcategory": ["primary_school"],
                  "lon": s.x, "lat": s.y}).to_csv(fac, index=False)
    net = tmp_path / "streets.geojson"
    streets_with_river().to_crs(4326).to_file(net)
    return comm, fac, demand, net


def test_the_river_changes_coverage(river_files):
    comm, fac, demand, net = river_files
    kwargs = dict(communities=comm, facilities=[fac], demand=demand, radius={"education": 510})
    straight = analyze(**kwargs).communities.set_index("community_id")["education_covered_share"]
    walk = analyze(**kwargs, network=net)
    on_foot = walk.communities.set_index("community_id")["education_covered_share"]
    assert sorted(straight[straight == 1].index) == ["C12", "C21", "C22", "C23", "C32"]
    assert sorted(on_foot[on_foot == 1].index) == ["C12", "C21", "C22", "C23"]
    dist = walk.demand.set_index("demand_id")["dist_education_m"]
    assert np.isinf(dist["C32"])  # 1,500 m: the search stops at twice the radius (1,020 m)
    assert dist["C11"] == pytest.approx(1000, abs=0.05)
    assert dist["C12"] == pytest.approx(500, abs=0.05)
    assert walk.settings["distance"] == "network"


def test_service_areas_written_and_stop_at_the_river(tmp_path, river_files):
    from geofacility.ledger import write_ledger
    from geofacility.maps import write_map

    comm, fac, demand, net = river_files
    result = analyze(communities=comm, facilities=[fac], demand=demand, network=net, radius={"education": 510})
    areas = result.service_areas
    assert list(areas["kind"]) == ["facility", "category"]
    catchment = areas.geometry.iloc[0]
    # 510 m along each of the four streets from A, buffered 50 m: the river bank east of A is reached
    # (x = 990 m is 240 m away) but nothing beyond it
    assert catchment.contains(shapely.Point(X0 + 980, Y0 + 750))
    assert not catchment.intersects(shapely.Point(X0 + 1100, Y0 + 750))
    minx, miny, maxx, maxy = catchment.bounds
    assert maxx - X0 == pytest.approx(990 + 50, abs=0.5)
    assert maxy - Y0 == pytest.approx(750 + 510 + 50, abs=0.5)
    paths = write_ledger(result, tmp_path / "out")
    import pyogrio

    assert "service_areas" in {n for n, _ in pyogrio.list_layers(paths["gpkg"])}
    html = write_map(result, tmp_path / "out" / "map.html").read_text(encoding="utf-8")
    assert "步行网络 walking network" in html
    assert "L.circle(" not in html  # catchments are drawn instead of circles


def test_far_homes_are_reported_not_dropped(tmp_path, river_files, grid_communities):
    comm, fac, demand, net = river_files
    frame = pd.read_csv(demand)
    far = gpd.GeoSeries([shapely.Point(X0 + 500, Y0 + 500)], crs=CRS).to_crs(4326)  # 250 m from any street
    frame.loc[len(frame)] = ["far", 10, far.x[0], far.y[0]]
    frame.to_csv(demand, index=False)
    result = analyze(communities=comm, facilities=[fac], demand=demand, network=net, radius={"education": 510})
    w = result.warnings
    row = w[(w["file"] == str(demand)) & (w["row"] == "11")]
    assert len(row) == 1 and "more than 150 m from every walkable street" in row["message"].iloc[0]
    assert np.isinf(result.demand.set_index("demand_id").loc["far", "dist_education_m"])
    assert "no walking path" in " ".join(w["message"])


def test_network_of_another_place_is_a_clear_error(tmp_path, river_files):
    from geofacility.errors import InputError

    comm, fac, demand, _ = river_files
    elsewhere = tmp_path / "elsewhere.geojson"
    gpd.GeoDataFrame(geometry=[shapely.LineString([(24.94, 60.17), (24.95, 60.17)])], crs=4326).to_file(elsewhere)
    with pytest.raises(InputError, match="is it the network of the study area"):
        analyze(communities=comm, facilities=[fac], demand=demand, network=elsewhere)
    with pytest.raises(InputError, match="needs a walking network"):
        analyze(communities=comm, facilities=[fac], demand=demand, distance="network")


def test_facility_far_from_every_street_is_reported(tmp_path, river_files):
    comm, fac, demand, net = river_files
    frame = pd.read_csv(fac)
    lost = gpd.GeoSeries([shapely.Point(X0 + 500, Y0 + 1000)], crs=CRS).to_crs(4326)  # 250 m from any street
    frame.loc[len(frame)] = ["学校B", "education", "primary_school", lost.x[0], lost.y[0]]
    frame.to_csv(fac, index=False)
    result = analyze(communities=comm, facilities=[fac], demand=demand, network=net, radius={"education": 510})
    w = result.warnings
    hit = w[(w["file"] == str(fac)) & (w["row"] == "3")]
    assert "学校B is more than 150 m from every walkable street" in hit["message"].iloc[0]
    # it covers nobody on foot: coverage is the same as with school A alone
    on_foot = result.communities.set_index("community_id")["education_covered_share"]
    assert sorted(on_foot[on_foot == 1].index) == ["C12", "C21", "C22", "C23"]


def test_on_foot_map_shows_the_worst_categorys_catchments_only(tmp_path, river_files):
    """School A (510 m) and a health station (300 m, the default) at the centre of C22, homes at the block centres:
    on foot the school leaves C11, C13, C31, C32 and C33 out (1,000 + 7,000 + 3,000 + 6,000 + 9,000 = 26,000
    people), the health station every block but C22 (45,000 − 5,000 = 40,000). Health is the worst category: its
    catchments are the one catchment layer shown when the map opens (and its uncovered people), though education
    comes first; the school's catchments are in the layer control, off."""
    import folium

    from geofacility import maps

    comm, fac, demand, net = river_files
    table = pd.read_csv(fac)
    table = pd.concat([table, table.assign(name="卫生站", category="health", subcategory="community_health_station")])
    table.to_csv(fac, index=False)
    result = analyze(communities=comm, facilities=[fac], demand=demand, network=net, radius={"education": 510})
    ledger = result.communities.set_index("community_id")
    assert ledger["education_uncovered_population"].sum() == pytest.approx(26_000)
    assert ledger["health_uncovered_population"].sum() == pytest.approx(40_000)
    assert maps.worst_category(result.communities, ["education", "health"]) == "health"

    m = maps.build_map(result, basemap="none")
    groups = {g.layer_name: g.show for g in m._children.values() if isinstance(g, folium.FeatureGroup)}
    catchments = {c: groups[maps.catchment_layer_name(c)] for c in ("education", "health")}
    assert catchments == {"education": False, "health": True}
    assert groups[maps.uncovered_layer_name("health")] and not groups[maps.uncovered_layer_name("education")]
    # the facilities themselves stay on for both categories
    assert all(groups[maps.category_layer_name(c, result.checks)] for c in ("education", "health"))
    html = maps.render_html(m)
    assert "未覆盖人口最多的类别（医疗卫生）" in html
    assert "L.circle(" not in html  # catchments instead of circles
    straight = maps.build_map(analyze(communities=comm, facilities=[fac], demand=demand,
                                      radius={"education": 510}), basemap="none")
    assert not any(isinstance(g, folium.FeatureGroup) and g.layer_name == maps.catchment_layer_name("health")
                   for g in straight._children.values())  # in straight lines: radius circles, no catchment layer


def test_service_areas_drawn_only_when_read(river_files):
    """analyze() leaves the catchments undrawn (they cost more than the walking analysis); the first read draws
    them, once; a copy made field by field stays undrawn and draws the same table."""
    from geofacility.pipeline import Analysis, PendingServiceAreas

    comm, fac, demand, net = river_files
    result = analyze(communities=comm, facilities=[fac], demand=demand, network=net, radius={"education": 510})
    assert isinstance(vars(result)["service_areas"], PendingServiceAreas)
    copy = Analysis(**vars(result))
    areas = result.service_areas
    assert vars(result)["service_areas"] is areas and result.service_areas is areas  # drawn once
    assert list(areas["kind"]) == ["facility", "category"] and areas["radius_m"].tolist() == [510, 510]
    assert isinstance(vars(copy)["service_areas"], PendingServiceAreas)
    assert shapely.to_wkb(copy.service_areas.geometry.values).tolist() == shapely.to_wkb(areas.geometry.values).tolist()
