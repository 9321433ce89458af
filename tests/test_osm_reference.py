"""Walking distances equal to a reference built independently from the OSM file (issue 18, part 1).

The reference shares with geofacility only the *rules* (which ways are walkable; a way whose nodes are missing from
the extract is split at the gap; homes and facilities attach to the nearest point of a street within 150 m, not to
pieces of under 5 % of the largest; the search stops at twice the radius). Everything else is its own: OSMnx builds
the graph from an OSM XML file (``graph_from_xml``: ways meet where they share a node), pyproj projects, shapely
finds the nearest street, networkx measures on a graph in which every snapped point splits its street.

And two hand-made OSM files a planner can check on paper: footways crossing on two levels at the same coordinates
(no shortcut), and a way with a node missing from the extract (no straight jump across the gap).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import Transformer

from conftest import need
from geofacility.coverage import facility_checks
from geofacility.errors import WarningLog
from geofacility.network import is_walkable, nearest_facility, read_network, snap_points
from geofacility.pipeline import analyze

DATA = Path(__file__).parents[1] / "data" / "helsinki"
MAX_SNAP_M = 150.0
MINOR_SHARE = 0.05


# ------------------------------------------------------------------------------------------------ the reference


def _walkable_osm_xml(pbf: Path, out: Path) -> Path:
    """The walkable ways of ``pbf`` as OSM XML, each split where its nodes are missing from the extract."""
    import osmium
    from xml.sax.saxutils import quoteattr

    nodes: dict[int, tuple[float, float]] = {}
    ways: list[tuple[int, list[int]]] = []
    processor = (osmium.FileProcessor(str(pbf), osmium.osm.NODE | osmium.osm.WAY).with_locations()
                 .with_filter(osmium.filter.EntityFilter(osmium.osm.WAY)))
    for way in processor:
        if not is_walkable(way.tags):
            continue
        piece: list[int] = []
        for n in list(way.nodes) + [None]:
            if n is not None and n.location.valid():
                piece.append(n.ref)
                nodes[n.ref] = (n.lon, n.lat)
                continue
            if len(piece) >= 2:
                ways.append((way.id * 100 + len(ways) % 100, piece))
            piece = []
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6" generator="reference">']
    lines += [f'<node id="{i}" lat="{lat:.9f}" lon="{lon:.9f}"/>' for i, (lon, lat) in nodes.items()]
    for wid, refs in ways:
        lines.append(f'<way id="{wid}">' + "".join(f'<nd ref="{r}"/>' for r in refs)
                     + f'<tag k="highway" v={quoteattr("footway")}/></way>')
    lines.append("</osm>")
    out.write_text("\n".join(lines), encoding="utf-8")
    return out


class Reference:
    """OSMnx's graph of the OSM file, projected, with shapely snapping and networkx distances."""

    def __init__(self, xml: Path, crs):
        ox = need("osmnx")
        nx = need("networkx")
        graph = ox.graph_from_xml(xml, bidirectional=True, simplify=False, retain_all=True)
        to_metric = Transformer.from_crs(4326, crs, always_xy=True)
        ids = list(graph.nodes)
        x, y = to_metric.transform([graph.nodes[n]["x"] for n in ids], [graph.nodes[n]["y"] for n in ids])
        self.xy = dict(zip(ids, zip(x, y)))
        g = nx.Graph()
        for u, v in graph.edges():
            if u == v:
                continue
            w = float(np.hypot(self.xy[u][0] - self.xy[v][0], self.xy[u][1] - self.xy[v][1]))
            if not g.has_edge(u, v) or g[u][v]["weight"] > w:
                g.add_edge(u, v, weight=w)
        sizes = {n: len(c) for c in nx.connected_components(g) for n in c}
        largest = max(sizes.values())
        self.graph = g
        self.edges = [(u, v) for u, v in g.edges() if sizes[u] >= MINOR_SHARE * largest]
        self.lines = shapely.linestrings([[self.xy[u], self.xy[v]] for u, v in self.edges])
        self.tree = shapely.STRtree(self.lines)

    def snap(self, points: np.ndarray) -> list[tuple[int, float, float] | None]:
        """(edge, metres along it from its first node, metres from the point) of the nearest street point."""
        geoms = shapely.points(points)
        found, dist = self.tree.query_nearest(geoms, max_distance=MAX_SNAP_M, return_distance=True, all_matches=False)
        snaps: list = [None] * len(points)
        for p, e, d in zip(found[0], found[1], dist):
            snaps[p] = (int(e), float(shapely.line_locate_point(self.lines[e], geoms[p])), float(d))
        return snaps

    def distances(self, homes: list, facilities: list) -> np.ndarray:
        """Walking distance from each home to its nearest facility (inf: not attached, or no path)."""
        nx = need("networkx")
        g = self.graph.copy()
        on_edge: dict[int, list] = {}
        for kind, snaps in (("h", homes), ("f", facilities)):
            for i, s in enumerate(snaps):
                if s is not None:
                    on_edge.setdefault(s[0], []).append((s[1], f"{kind}{i}", s[2]))
        for e, points in on_edge.items():
            u, v = self.edges[e]
            length = g[u][v]["weight"]
            points.sort()
            chain = [(0.0, u)] + [(t, f"on-{name}") for t, name, _ in points] + [(length, v)]
            for (t0, a), (t1, b) in zip(chain[:-1], chain[1:]):
                weight = t1 - t0
                if not g.has_edge(a, b) or g[a][b]["weight"] > weight:
                    g.add_edge(a, b, weight=weight)
            for t, name, off in points:
                g.add_edge(name, f"on-{name}", weight=off)
        sources = [f"f{i}" for i, s in enumerate(facilities) if s is not None]
        if not sources:
            return np.full(len(homes), np.inf)
        reach = nx.multi_source_dijkstra_path_length(g, sources, weight="weight")
        return np.array([reach.get(f"h{i}", np.inf) for i in range(len(homes))])


# ------------------------------------------------------------------------------------------------ Helsinki


@pytest.fixture(scope="module")
def helsinki(tmp_path_factory):
    analysis = analyze(communities=DATA / "blocks.geojson", facilities=[DATA / "facilities.csv"],
                       demand=DATA / "buildings.csv", network=DATA / "helsinki.osm.pbf")
    xml = _walkable_osm_xml(DATA / "helsinki.osm.pbf", tmp_path_factory.mktemp("osm") / "walkable.osm")
    return analysis, Reference(xml, analysis.crs)


def test_walking_distances_equal_an_independent_osmnx_reference(helsinki):
    """Every home, every category: geofacility's dist_<category>_m equals the reference to 1e-6 m."""
    analysis, ref = helsinki
    homes = pd.read_csv(DATA / "buildings.csv", dtype={"building_id": str})
    to_metric = Transformer.from_crs(4326, analysis.crs, always_xy=True)
    hx, hy = to_metric.transform(homes["lon"].to_numpy(float), homes["lat"].to_numpy(float))
    order = pd.Index(homes["building_id"]).get_indexer(analysis.demand["demand_id"].astype(str))
    assert (order >= 0).all() and len(order) == len(homes)
    np.testing.assert_allclose(shapely.get_coordinates(analysis.demand.geometry.values),
                               np.column_stack([hx, hy])[order], atol=1e-6)
    home_snaps = ref.snap(np.column_stack([hx, hy])[order])
    facilities = analysis.facilities
    masks = facility_checks(facilities, analysis.checks)
    compared = 0
    for category in analysis.surveyed:
        checks = [c for c in analysis.checks if c.category == category]
        for i, check in enumerate(checks):
            column = f"dist_{category}_m" if i == 0 else f"dist_{category}_{check.subcategory}_m"
            fac_xy = shapely.get_coordinates(facilities.geometry.values[masks[check]])
            want = ref.distances(home_snaps, ref.snap(fac_xy))
            if check.radius_m:
                want[want > 2 * check.radius_m] = np.inf  # the search stops at twice the radius
            got = analysis.demand[column].to_numpy(float)
            assert np.array_equal(np.isfinite(got), np.isfinite(want)), column
            finite = np.isfinite(want)
            np.testing.assert_allclose(got[finite], want[finite], atol=1e-6, rtol=0, err_msg=column)
            compared += int(finite.sum())
    assert compared > 1000  # 336 homes, most categories within reach of most of them


# ------------------------------------------------------------------------------------------------ hand-made OSM

#: metres east/north of a point in central Helsinki → the fixture's nodes
ORIGIN = (385_000.0, 6_672_000.0)  # EPSG:3067
TM35FIN = "EPSG:3067"


def _osm(tmp_path, nodes: dict[int, tuple[float, float] | None], ways: list[tuple[int, list[int], dict]]) -> Path:
    """An OSM XML file from nodes in metres (None: referenced by a way, missing from the file) and ways."""
    to_wgs = Transformer.from_crs(TM35FIN, 4326, always_xy=True)
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6">']
    for nid, xy in nodes.items():
        if xy is not None:
            lon, lat = to_wgs.transform(ORIGIN[0] + xy[0], ORIGIN[1] + xy[1])
            lines.append(f'<node id="{nid}" lat="{lat:.9f}" lon="{lon:.9f}"/>')
    for wid, refs, tags in ways:
        lines.append(f'<way id="{wid}">' + "".join(f'<nd ref="{r}"/>' for r in refs)
                     + "".join(f'<tag k="{k}" v="{v}"/>' for k, v in tags.items()) + "</way>")
    lines.append("</osm>")
    path = tmp_path / "fixture.osm"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def _walk(path: Path, home: tuple[float, float], facility: tuple[float, float]) -> tuple[float, WarningLog]:
    log = WarningLog()
    net = read_network(path, TM35FIN, log=log)
    pt = lambda xy: shapely.points([[ORIGIN[0] + xy[0], ORIGIN[1] + xy[1]]])  # noqa: E731
    dist, _ = nearest_facility(net, snap_points(net, pt(home), 50), snap_points(net, pt(facility), 50))
    return float(dist[0]), log


def test_footways_crossing_on_two_levels_do_not_meet(tmp_path):
    """Level 1: 1 (0,0) – 2 (100,0) – 3 (200,0). Level 2: 10 (100,−100) – 11 (100,0) – 12 (100,100): node 11 lies
    exactly on node 2 but is another node. A ramp 3 – 20 (200,100) – 12 joins the levels. From a home at node 1 to
    a facility at node 12: 100 + 100 + 100 + 100 = 400 m round by the ramp, not 200 m through the crossing."""
    nodes = {1: (0, 0), 2: (100, 0), 3: (200, 0), 10: (100, -100), 11: (100, 0), 12: (100, 100), 20: (200, 100)}
    ways = [(100, [1, 2, 3], {"highway": "footway", "level": "1", "indoor": "yes"}),
            (200, [10, 11, 12], {"highway": "footway", "level": "2", "tunnel": "yes"}),
            (300, [3, 20, 12], {"highway": "footway", "incline": "up"})]
    dist, _ = _walk(_osm(tmp_path, nodes, ways), (0, -1), (100, 101))
    assert dist == pytest.approx(1 + 400 + 1, abs=0.05)
    # the same crossing drawn with one shared node does meet
    ways[1] = (200, [10, 2, 12], {"highway": "footway"})
    dist, _ = _walk(_osm(tmp_path, nodes, ways), (0, -1), (100, 101))
    assert dist == pytest.approx(1 + 200 + 1, abs=0.05)


def test_a_way_with_a_missing_node_is_split_not_jumped(tmp_path):
    """Way 400: 30 (0,−300) – 31 (missing from the extract) – 32 (200,−300). The planner's route from 30 to 32 is
    round by way 500 through 33 (100,−500): 2 × √(100² + 200²) = 447.2 m, never the straight 200 m across the gap."""
    nodes = {30: (0, -300), 31: None, 32: (200, -300), 33: (100, -500)}
    ways = [(400, [30, 31, 32], {"highway": "footway"}), (500, [30, 33, 32], {"highway": "footway"})]
    dist, log = _walk(_osm(tmp_path, nodes, ways), (0, -299), (200, -299))
    assert dist == pytest.approx(1 + 2 * np.hypot(100, 200) + 1, abs=0.05)
    messages = " ".join(log.to_frame()["message"])
    assert "1 walkable ways have nodes missing from the extract" in messages and "split at the gaps" in messages
