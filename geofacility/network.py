"""Walking networks: reading, snapping, multi-source shortest paths and service areas.

Representation. A :class:`Network` is a set of straight two-point segments between nodes, in the metric CRS:
every vertex of every street line is a node. Walking ignores one-way rules, so the graph is undirected. Straight
segments make the rest exact and vectorised: the point of a segment nearest to a home is a linear projection,
and any reachable part of a segment is a linear interpolation of its ends.

Snapping. A home or a facility is attached to the nearest point *on a segment* (not the nearest node), with the
walk from the point to that position counted in its distance. Points farther than ``max_snap_m`` from every
segment are not attached: they are reported and count as not covered. Tiny disconnected pieces of the network
(under 5 % of the largest component's nodes) are not snapped to.

Distances. For a set of facilities, one Dijkstra search (``scipy.sparse.csgraph.dijkstra`` with
``min_only=True``) from all of them at once: each facility becomes a virtual node joined to both ends of its
segment by the walk to that end. A home's distance is then the smaller of the two ends of its segment, plus the
walk along the segment and the snap; a facility on the home's own segment is also reached directly along it.
No per-facility loop and no all-pairs matrix. Nodes in parts of the network with no facility get infinity.

Service areas. The reachable part of every segment within the radius (from each end, and around a facility on
the segment), assigned to the facility it is nearest to, each piece buffered by ``buffer_m`` (default 50 m, the
depth of a street frontage) and dissolved: one polygon per facility — its walking catchment within the radius —
and their union per category. An analysis draws them only when an output reads them
(:class:`geofacility.pipeline.PendingServiceAreas`).

Pairs within reach (capacity, siting): :func:`nearest_facility_matrix` — a bounded Dijkstra from each facility on
the part of the graph within the limit in a straight line, the homes read off the nodes it reaches.

Over the house's ~500 lines (about 700): reading, snapping, shortest paths and service areas all work on the
segment representation above and share its private helpers.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp
import shapely
from pyproj import CRS
from scipy.sparse.csgraph import connected_components, dijkstra
from scipy.spatial import cKDTree

from .errors import InputError, WarningLog

__all__ = [
    "Network",
    "clip_network",
    "Snap",
    "read_network",
    "network_from_lines",
    "network_from_osm",
    "snap_points",
    "nearest_facility",
    "service_areas",
    "is_walkable",
    "WalkingDistance",
    "nearest_facility_matrix",
    "DEFAULT_MAX_SNAP_M",
    "DEFAULT_BUFFER_M",
]

DEFAULT_MAX_SNAP_M = 150.0
#: components with fewer nodes than this share of the largest one are not snapped to (see Network.snappable)
MINOR_COMPONENT_SHARE = 0.05
DEFAULT_BUFFER_M = 50.0
_NODE_PRECISION_M = 0.001  # vertices closer than 1 mm are one node

#: highway values nobody walks on (OSMnx's "walk" filter, plus motorways and their links)
_NOT_WALKABLE = {
    "abandoned", "bus_guideway", "construction", "motorway", "motorway_link", "no", "planned", "platform",
    "proposed", "raceway", "razed", "busway", "escape", "emergency_bay", "rest_area", "services", "corridor_no",
}
_FOOT_YES = {"yes", "designated", "permissive", "destination"}


def is_walkable(tags) -> bool:
    """Whether an OSM way with these tags is open to pedestrians.

    Kept: footways, paths, pedestrian streets, steps, crossings, residential and living streets, service roads,
    tracks and ordinary roads (which have pavements in cities). Dropped: motorways and their links, ways under
    construction or abandoned, areas, and anything with ``foot=no``, or ``access=private/no`` without an explicit
    foot permission. Cycleways only with ``foot=yes/designated``.
    """
    get = tags.get
    highway = get("highway")
    if highway is None or highway in _NOT_WALKABLE:
        return False
    if get("area") == "yes":
        return False
    foot = get("foot")
    if foot == "no" or foot == "private":
        return False
    if highway == "cycleway" and foot not in _FOOT_YES:
        return False
    if get("access") in ("private", "no") and foot not in _FOOT_YES:
        return False
    if get("service") == "private" and foot not in _FOOT_YES:
        return False
    return True


@dataclass
class Network:
    """Straight segments ``u[i]``–``v[i]`` of ``length[i]`` metres between nodes at ``xy`` (metric CRS)."""

    xy: np.ndarray
    u: np.ndarray
    v: np.ndarray
    length: np.ndarray
    crs: CRS
    source: str = ""
    #: the OSM id of every node, for networks read from OSM (None for centre lines, whose nodes are positions)
    node_ids: np.ndarray | None = None

    @property
    def n_nodes(self) -> int:
        return len(self.xy)

    @property
    def n_segments(self) -> int:
        return len(self.u)

    @cached_property
    def graph(self) -> sp.csr_matrix:
        """Symmetric adjacency (both directions stored); parallel segments keep the shortest."""
        a, b = np.minimum(self.u, self.v), np.maximum(self.u, self.v)
        order = np.lexsort((self.length, b, a))
        a, b, w = a[order], b[order], self.length[order]
        first = np.r_[True, (a[1:] != a[:-1]) | (b[1:] != b[:-1])]
        a, b, w = a[first], b[first], w[first]
        return sp.csr_matrix((np.r_[w, w], (np.r_[a, b], np.r_[b, a])), shape=(self.n_nodes, self.n_nodes))

    @cached_property
    def segments(self) -> np.ndarray:
        coords = np.stack([self.xy[self.u], self.xy[self.v]], axis=1)
        return shapely.linestrings(coords)

    @cached_property
    def tree(self) -> shapely.STRtree:
        return shapely.STRtree(self.segments)

    @cached_property
    def component(self) -> np.ndarray:
        """Connected-component label of every node."""
        return connected_components(self.graph, directed=False)[1]

    @cached_property
    def snappable(self) -> np.ndarray:
        """Indices of the segments homes and facilities may attach to: those of components with at least 5 % of
        the largest component's nodes. OSM extracts are full of tiny islands — a corridor inside a building, a
        footway cut at the extract's edge — and a shop snapped onto one would reach nobody."""
        sizes = np.bincount(self.component)
        major = sizes >= MINOR_COMPONENT_SHARE * sizes.max()
        return np.flatnonzero(major[self.component[self.u]])

    @cached_property
    def snap_tree(self) -> shapely.STRtree:
        return shapely.STRtree(self.segments[self.snappable])

    @cached_property
    def midpoint_tree(self) -> cKDTree:
        """KD-tree over the midpoints of the snappable segments (fast candidate search for snapping)."""
        seg = self.snappable
        return cKDTree((self.xy[self.u[seg]] + self.xy[self.v[seg]]) / 2.0)

    @cached_property
    def node_tree(self) -> cKDTree:
        """KD-tree over the nodes (the nodes a bounded search can reach: see :func:`nearest_facility_matrix`)."""
        return cKDTree(self.xy)

    def minor_parts(self) -> tuple[int, int, float]:
        """(components, segments, km) left out of snapping."""
        sizes = np.bincount(self.component)
        minor = sizes < MINOR_COMPONENT_SHARE * sizes.max()
        segs = minor[self.component[self.u]]
        return int(minor.sum()), int(segs.sum()), float(self.length[segs].sum() / 1000)

    def to_frame(self) -> gpd.GeoDataFrame:
        return gpd.GeoDataFrame({"u": self.u, "v": self.v, "length_m": self.length}, geometry=self.segments,
                                crs=self.crs)


def _from_segments(coords: np.ndarray, crs: CRS, source: str) -> Network:
    """(m, 2, 2) segment end coordinates → nodes and segments; zero-length segments dropped."""
    flat = coords.reshape(-1, 2)
    keys = np.round(flat / _NODE_PRECISION_M).astype(np.int64)
    # the distinct keys in (x, y) order, each at its first occurrence: np.unique(keys, axis=0, return_index=True)
    # without its row view, a few times faster
    order = np.lexsort((keys[:, 1], keys[:, 0]))
    ordered = keys[order]
    new = np.r_[True, (ordered[1:] != ordered[:-1]).any(axis=1)] if len(keys) else np.zeros(0, dtype=bool)
    inverse = np.empty(len(keys), dtype=np.int64)
    inverse[order] = np.cumsum(new) - 1
    xy = flat[order[new]]
    u, v = inverse[0::2], inverse[1::2]
    keep = u != v
    u, v = u[keep], v[keep]
    length = np.hypot(*(xy[v] - xy[u]).T)
    return Network(xy=xy, u=u.astype(np.int64), v=v.astype(np.int64), length=length, crs=crs, source=source)


def _segments_of_lines(lines: np.ndarray) -> np.ndarray:
    coords, index = shapely.get_coordinates(lines, return_index=True)
    same = index[1:] == index[:-1]
    return np.stack([coords[:-1][same], coords[1:][same]], axis=1)


def _segments_of_multiline(multiline) -> np.ndarray:
    """The segments of one MultiLineString's lines, in order: :func:`_segments_of_lines` of its parts, read from
    its coordinate arrays without making a geometry per part."""
    if shapely.is_empty(multiline):
        return np.empty((0, 2, 2))
    _, coords, (line_ends, _) = shapely.to_ragged_array(np.asarray([multiline]))
    line = np.repeat(np.arange(len(line_ends) - 1), np.diff(line_ends))
    same = line[1:] == line[:-1]
    return np.stack([coords[:-1][same], coords[1:][same]], axis=1)


def network_from_lines(lines, crs, *, node: bool = True, source: str = "") -> Network:
    """A network from street centre lines in a metric CRS.

    Centre lines carry no node ids, so their topology comes from coordinates: line ends and vertices closer than
    1 mm are one node. ``node=True`` also splits lines where they cross (planners' centre-line files are rarely
    noded); note that this joins a bridge to the street it passes over, and footways drawn one above the other —
    give a noded file and ``node=False`` where that matters, or an OSM extract, whose topology is by node id.
    """
    geoms = np.asarray(lines)
    geoms = geoms[~shapely.is_empty(geoms) & ~pd.isna(geoms)]
    if node:
        segments = _segments_of_multiline(shapely.node(shapely.multilinestrings(shapely.get_parts(geoms))))
    else:
        segments = _segments_of_lines(shapely.get_parts(geoms))
    return _from_segments(segments, CRS.from_user_input(crs), source)


def network_from_osm(path: str | Path, crs, *, log: WarningLog | None = None) -> Network:
    """The walkable ways of an OSM file (``.osm``, ``.osm.pbf``), read with pyosmium, projected to ``crs``.

    Topology comes from OSM itself: two ways meet only where they share a node (by node id), never because two
    nodes happen to lie at the same place — footways on different levels of a building, a bridge over a street, a
    tunnel under it do not meet unless the mapper joined them. So ``layer``, ``level``, ``bridge``, ``tunnel`` and
    ``indoor`` need no rule of their own: they separate ways exactly as far as the shared nodes say. Steps
    (``highway=steps``) and elevator ways (``highway=elevator``) are walkable and cost their length on the map
    (an elevator or a flight of stairs is a few metres; the climb is not counted). Consecutive nodes of one way
    at the same position (a mapping duplicate) are one node. A way whose nodes are missing from the extract
    (clipped at its edge) is split at the gaps — never joined by a straight line across them — and counted in the
    warnings.
    """
    import osmium

    log = log if log is not None else WarningLog()
    refs: list[int] = []
    lons: list[float] = []
    lats: list[float] = []
    way_of: list[int] = []
    kept = skipped = gaps = 0
    nan = float("nan")
    # node locations are cached before the filters run, so the ways come with coordinates
    processor = (osmium.FileProcessor(str(path), osmium.osm.NODE | osmium.osm.WAY).with_locations()
                 .with_filter(osmium.filter.EntityFilter(osmium.osm.WAY))
                 .with_filter(osmium.filter.KeyFilter("highway")))
    try:
        for way in processor:
            if not is_walkable(way.tags):
                skipped += 1
                continue
            nodes = way.nodes
            valid = [n.location.valid() for n in nodes]
            if not all(valid):
                gaps += 1
            if sum(valid) < 2:
                continue
            refs.extend(n.ref for n in nodes)
            lons.extend(n.lon if ok else nan for n, ok in zip(nodes, valid))
            lats.extend(n.lat if ok else nan for n, ok in zip(nodes, valid))
            way_of.extend([kept] * len(nodes))
            kept += 1
    except RuntimeError as exc:
        raise InputError(f"{path}: not a readable OSM file ({exc}); give a .osm or .osm.pbf extract") from None
    if not kept:
        raise InputError(f"{path}: no walkable ways (highway=*) in the file; is it the right extract?")
    log.add(str(path), None, f"{kept} walkable ways read, {skipped} highway ways excluded (motorways, "
                             "construction, no foot access)", severity="info",
            zh=f"读入可步行道路 {kept} 条，排除 {skipped} 条（高速公路、在建道路、禁止步行）")
    if gaps:
        log.add(str(path), None, f"{gaps} walkable ways have nodes missing from the extract (clipped at its edge?): "
                                 "each is split at the gaps, not joined across them", severity="info",
                zh=f"{gaps} 条可步行道路的部分节点不在数据中（在边缘被裁切？）：在缺口处断开，不跨缺口连接")
    return _network_from_node_ids(np.asarray(refs, dtype=np.int64), np.asarray(lons), np.asarray(lats),
                                  np.asarray(way_of, dtype=np.int64), CRS.from_user_input(crs), str(path))


def _network_from_node_ids(refs: np.ndarray, lon: np.ndarray, lat: np.ndarray, way: np.ndarray, crs: CRS,
                           source: str) -> Network:
    """Ways as runs of OSM node ids (``way``: the way of each entry, ``lon``/``lat`` NaN for a node missing from
    the extract) → a network whose nodes are the OSM nodes: segments join consecutive nodes of a way that are both
    present; nodes are the same node only by id."""
    valid = np.isfinite(lon) & np.isfinite(lat)
    pair = (way[1:] == way[:-1]) & valid[1:] & valid[:-1]
    first = np.flatnonzero(pair)
    ids, index, inverse = np.unique(refs[valid], return_index=True, return_inverse=True)
    node = np.full(len(refs), -1, dtype=np.int64)
    node[valid] = inverse
    pts = gpd.GeoSeries.from_xy(lon[valid][index], lat[valid][index], crs=4326).to_crs(crs)
    xy = np.column_stack([pts.x.to_numpy(), pts.y.to_numpy()])
    u, v = node[first], node[first + 1]
    # consecutive nodes of a way at the same position (a duplicate) are one node; nodes of different ways are
    # never merged by position
    same = (u != v) & (np.hypot(*(xy[v] - xy[u]).T) < _NODE_PRECISION_M)
    if same.any():
        links = sp.coo_matrix((np.ones(int(same.sum())), (u[same], v[same])), shape=(len(xy), len(xy)))
        _, label = connected_components(links, directed=False)
        _, keep, label = np.unique(label, return_index=True, return_inverse=True)
        xy, ids, u, v = xy[keep], ids[keep], label[u], label[v]
    keep = u != v
    u, v = u[keep], v[keep]
    length = np.hypot(*(xy[v] - xy[u]).T)
    return Network(xy=xy, u=u.astype(np.int64), v=v.astype(np.int64), length=length, crs=crs, source=source,
                   node_ids=ids)


def read_network(path: str | Path, crs, *, coords=None, encoding: str | None = None,
                 log: WarningLog | None = None) -> Network:
    """A walking network from an OSM file or a street centre-line file (GeoJSON/GPKG/Shapefile).

    Centre lines are noded at crossings. When the file has a ``highway`` column (an OSM export), the same
    walkable filter as for OSM files applies.
    """
    from .read import read_layer

    log = log if log is not None else WarningLog()
    path = Path(path)
    name = path.name.lower()
    if not path.exists():
        raise InputError(f"{path}: file not found; give the path of the walking network")
    if name.endswith((".osm", ".osm.pbf", ".pbf", ".osm.bz2", ".osm.gz")):
        return network_from_osm(path, crs, log=log)
    gdf = read_layer(path, coords=coords, encoding=encoding, log=log)
    kinds = set(gdf.geom_type.dropna())
    if not kinds <= {"LineString", "MultiLineString"}:
        raise InputError(f"{path}: a walking network must be lines, found {', '.join(sorted(kinds))}; give the "
                         "street centre lines")
    if "highway" in gdf.columns:
        walk = gdf.drop(columns="geometry").apply(lambda r: is_walkable(r.dropna().to_dict()), axis=1)
        if (~walk).any():
            log.extend(str(path), gdf.loc[~walk, "source_row"], "not walkable (highway/foot/access tags); not used",
                       severity="info", zh="不可步行（按 highway/foot/access 标签），未采用")
        gdf = gdf.loc[walk]
    gdf = gdf.loc[gdf.geometry.notna() & ~gdf.geometry.is_empty].to_crs(crs)
    if gdf.empty:
        raise InputError(f"{path}: no walkable street lines left; check the file")
    return network_from_lines(gdf.geometry.values, crs, node=True, source=str(path))


@dataclass
class Snap:
    """Where points attach to the network: ``segment`` (−1 when farther than the maximum), ``along`` (metres
    from the segment's ``u`` end), ``offset`` (metres from the point to the network)."""

    segment: np.ndarray
    along: np.ndarray
    offset: np.ndarray

    @property
    def ok(self) -> np.ndarray:
        return self.segment >= 0


def _project(network: Network, p: np.ndarray, seg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distance from points ``p`` to segments ``seg`` (same shape, any leading dims) and the position along."""
    a = network.xy[network.u[seg]]
    ab = network.xy[network.v[seg]] - a
    length = network.length[seg]
    t = np.clip(np.einsum("...j,...j->...", p - a, ab) / (length * length), 0.0, 1.0)
    foot = a + ab * t[..., None]
    return np.hypot(*np.moveaxis(p - foot, -1, 0)), t * length


def snap_points(network: Network, points, max_snap_m: float = DEFAULT_MAX_SNAP_M) -> Snap:
    """Attach points to the nearest point on the nearest segment, exactly.

    Fast path: a KD-tree over segment midpoints gives each point its 8 nearest midpoints, and the exact distance
    to those segments. The result is proven nearest when it is no farther than the 8th midpoint's distance minus
    half the longest segment (no other segment can then be closer); the points not proven (near long segments) go to
    an exact STRtree nearest-segment query. Exact and vectorised throughout.

    Points farther than ``max_snap_m`` metres from every snappable segment are not attached (``ok`` False).
    Coordinates and distances are in the network's metric CRS (metres).
    """
    points = np.asarray(points)
    n = len(points)
    segment = np.full(n, -1, dtype=np.int64)
    along = np.full(n, np.nan)
    offset = np.full(n, np.inf)
    if n == 0 or network.n_segments == 0:
        return Snap(segment, along, offset)
    valid = ~pd.isna(points)
    valid[valid] = ~shapely.is_empty(points[valid])
    idx = np.flatnonzero(valid)
    p = shapely.get_coordinates(points[idx])
    candidates = network.snappable
    k = min(8, len(candidates))
    mid_dist, mid_i = network.midpoint_tree.query(p, k=k, workers=-1)
    mid_dist, mid_i = mid_dist.reshape(len(p), k), mid_i.reshape(len(p), k)
    seg_k = candidates[mid_i]
    dist_k, along_k = _project(network, np.repeat(p[:, None, :], k, axis=1), seg_k)
    best = np.argmin(dist_k, axis=1)
    rows = np.arange(len(p))
    best_dist = dist_k[rows, best]
    best_seg = seg_k[rows, best]
    best_along = along_k[rows, best]
    half = network.length[candidates].max() / 2.0
    proven = (k == len(candidates)) | (best_dist <= mid_dist[:, -1] - half)
    hopeless = mid_dist[:, 0] - half > max_snap_m  # every segment is farther than the maximum
    unsure = np.flatnonzero(~proven & ~hopeless)
    if len(unsure):
        # not proven by the 8 nearest midpoints (near a long segment): an exact nearest-segment query
        pt_i, tree_i = network.snap_tree.query_nearest(points[idx[unsure]], max_distance=max_snap_m,
                                                       all_matches=False)
        seg_i = candidates[tree_i]
        d, t = _project(network, p[unsure[pt_i]], seg_i)
        best_dist[unsure] = np.inf
        best_dist[unsure[pt_i]], best_seg[unsure[pt_i]], best_along[unsure[pt_i]] = d, seg_i, t
    ok = best_dist <= max_snap_m
    segment[idx[ok]] = best_seg[ok]
    along[idx[ok]] = best_along[ok]
    offset[idx[ok]] = best_dist[ok]
    return Snap(segment, along, offset)


def _search(network: Network, fac: Snap, limit: float) -> tuple[np.ndarray, np.ndarray]:
    """Dijkstra from all attached facilities at once: node distances and the facility (index into ``fac``)
    each node is nearest to (−1 where none is reachable)."""
    n = network.n_nodes
    f_idx = np.flatnonzero(fac.ok)
    if len(f_idx) == 0:
        return np.full(n, np.inf), np.full(n, -1, dtype=np.int64)
    seg = fac.segment[f_idx]
    n_f = len(f_idx)
    virtual = n + np.arange(n_f)
    to_u = fac.offset[f_idx] + fac.along[f_idx]
    to_v = fac.offset[f_idx] + (network.length[seg] - fac.along[f_idx])
    # Virtual rows appended to the street graph, edges only *out of* the facilities: a shortest path never
    # enters a virtual node (u → facility → v costs at least the segment itself), so the search from the
    # facilities needs no edges into them. Appending rows to a CSR matrix is a concatenation, no rebuild.
    base = network.graph
    graph = sp.csr_matrix(
        (np.r_[base.data, np.column_stack([to_u, to_v]).ravel()],
         np.r_[base.indices, np.column_stack([network.u[seg], network.v[seg]]).ravel()],
         np.r_[base.indptr, base.indptr[-1] + 2 * np.arange(1, n_f + 1)]),
        shape=(n + n_f, n + n_f),
    )
    dist, _, sources = dijkstra(graph, directed=True, indices=virtual, min_only=True, limit=limit,
                                return_predecessors=True)
    nearest = np.where(sources[:n] >= 0, f_idx[np.clip(sources[:n] - n, 0, None)], -1)
    return dist[:n], nearest


def nearest_facility(network: Network, demand: Snap, facilities: Snap, *, limit: float = np.inf
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Walking distance from each demand point to its nearest facility, and that facility's index.

    Points not attached to the network, or in parts with no path to any facility, get ``inf`` and −1. With a
    ``limit`` (metres) the search stops there and farther points also get ``inf``.
    """
    dist = np.full(len(demand.segment), np.inf)
    nearest = np.full(len(demand.segment), -1, dtype=np.int64)
    node_dist, node_fac = _search(network, facilities, limit)
    d_idx = np.flatnonzero(demand.ok)
    if len(d_idx) == 0:
        return dist, nearest
    seg = demand.segment[d_idx]
    u, v = network.u[seg], network.v[seg]
    via_u = node_dist[u] + demand.along[d_idx]
    via_v = node_dist[v] + (network.length[seg] - demand.along[d_idx])
    best = np.where(via_u <= via_v, via_u, via_v) + demand.offset[d_idx]
    best_fac = np.where(via_u <= via_v, node_fac[u], node_fac[v])
    # facilities on the home's own segment are reached directly along it
    f_idx = np.flatnonzero(facilities.ok)
    if len(f_idx):
        homes = pd.DataFrame({"pos": np.arange(len(d_idx)), "segment": seg})
        facs = pd.DataFrame({"fac": f_idx, "segment": facilities.segment[f_idx]})
        pairs = homes.merge(facs, on="segment")
        if len(pairs):
            pos = pairs["pos"].to_numpy()
            fac = pairs["fac"].to_numpy()
            direct = (np.abs(demand.along[d_idx][pos] - facilities.along[fac]) + demand.offset[d_idx][pos]
                      + facilities.offset[fac])
            order = np.lexsort((fac, direct, pos))
            pos, fac, direct = pos[order], fac[order], direct[order]
            first = np.r_[True, pos[1:] != pos[:-1]]
            pos, fac, direct = pos[first], fac[first], direct[first]
            better = direct < best[pos]
            best[pos[better]] = direct[better]
            best_fac[pos[better]] = fac[better]
    best[best > limit] = np.inf
    best_fac[~np.isfinite(best)] = -1
    dist[d_idx] = best
    nearest[d_idx] = best_fac
    return dist, nearest


def service_areas(network: Network, facilities: Snap, radius_m: float, *,
                  buffer_m: float = DEFAULT_BUFFER_M) -> tuple[np.ndarray, np.ndarray]:
    """Walking catchments within ``radius_m`` metres: for each facility index with any reach, a polygon (the
    reachable streets buffered by ``buffer_m`` metres).

    Returns ``(facility_index, polygons)``. A segment reachable from both ends is split where the two walks meet,
    each part going to the facility it is nearest to.
    """
    node_dist, node_fac = _search(network, facilities, radius_m)
    u, v, L = network.u, network.v, network.length
    du, dv = node_dist[u], node_dist[v]
    reach_u = np.clip(radius_m - du, 0.0, None)  # metres walkable into the segment from u
    reach_v = np.clip(radius_m - dv, 0.0, None)
    with np.errstate(invalid="ignore"):  # inf − inf where neither end is reached: those segments are not used
        meet = np.clip((dv + L - du) / 2.0, 0.0, L)  # where the walk from u stops being shorter
    end_u = np.minimum(np.minimum(reach_u, L), np.where(np.isfinite(dv), meet, L))
    start_v = np.maximum(np.maximum(L - reach_v, 0.0), np.where(np.isfinite(du), meet, 0.0))
    from_u = np.flatnonzero(np.isfinite(du) & (end_u > 0))
    from_v = np.flatnonzero(np.isfinite(dv) & (start_v < L))
    # around each facility on its own segment
    f_idx = np.flatnonzero(facilities.ok & (facilities.offset < radius_m))
    f_seg = facilities.segment[f_idx]
    left = radius_m - facilities.offset[f_idx]
    seg = np.concatenate([from_u, from_v, f_seg])
    a = np.concatenate([np.zeros(len(from_u)), start_v[from_v],
                        np.clip(facilities.along[f_idx] - left, 0.0, L[f_seg])])
    b = np.concatenate([end_u[from_u], L[from_v], np.clip(facilities.along[f_idx] + left, 0.0, L[f_seg])])
    owner = np.concatenate([node_fac[u[from_u]], node_fac[v[from_v]], f_idx])
    keep = (b > a) & (owner >= 0)
    seg, a, b, owner = seg[keep], a[keep], b[keep], owner[keep]
    if len(seg) == 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=object)
    start_xy = network.xy[u[seg]]
    vec = network.xy[v[seg]] - start_xy
    frac_a = (a / L[seg])[:, None]
    frac_b = (b / L[seg])[:, None]
    lines = shapely.linestrings(np.stack([start_xy + vec * frac_a, start_xy + vec * frac_b], axis=1))
    # buffering each straight piece and then dissolving is ~50× faster than buffering the merged lines: GEOS's
    # buffer of a large multi-line (parallel sidewalks, dense junctions) builds a huge overlay
    pieces = shapely.buffer(lines, buffer_m, quad_segs=4)
    merged = gpd.GeoDataFrame({"owner": owner}, geometry=pieces, crs=network.crs).dissolve(by="owner", sort=True)
    return merged.index.to_numpy(dtype=np.int64), np.asarray(merged.geometry.values)


def nearest_facility_matrix(network: Network, demand: Snap, candidates: Snap, max_distance: float, *,
                            chunk: int = 64) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every (demand, candidate) pair within ``max_distance`` metres on foot: (demand idx, candidate idx, metres),
    ordered by candidate, then demand.

    One Dijkstra call per chunk of candidates (``min_only=False``, ``limit=max_distance``) on the part of the
    graph within ``max_distance`` in a straight line of the chunk's candidates — a walk is never shorter than the
    straight line, so no node farther off is reached within the limit, and the distances are exactly those of
    the whole graph: memory stays at chunk × the nodes near them. Only the nodes a candidate reaches are looked
    at: a home is reached through either end of its segment (the nearer counts), and a candidate on the home's
    own segment also directly along it.
    """
    n = network.n_nodes
    d_idx = np.flatnonzero(demand.ok)
    c_all = np.flatnonzero(candidates.ok)
    if not len(d_idx) or not len(c_all):
        return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0)
    n_d = len(d_idx)
    seg_d = demand.segment[d_idx]
    off_d, along_d = demand.offset[d_idx], demand.along[d_idx]
    # the homes at each node (CSR by node): both ends of every home's segment, with the walk from that end
    end_node = np.r_[network.u[seg_d], network.v[seg_d]]
    by_node = np.argsort(end_node, kind="stable")
    end_home = np.r_[np.arange(n_d), np.arange(n_d)][by_node]
    end_walk = np.r_[along_d, network.length[seg_d] - along_d][by_node]
    ptr = np.searchsorted(end_node[by_node], np.arange(n + 1))
    homes = pd.DataFrame({"home": np.arange(n_d), "segment": seg_d})
    base = network.graph
    out_d, out_c, out_m = [], [], []
    for start in range(0, len(c_all), chunk):
        c_idx = c_all[start:start + chunk]
        seg = candidates.segment[c_idx]
        n_f = len(c_idx)
        to_u = candidates.offset[c_idx] + candidates.along[c_idx]
        to_v = candidates.offset[c_idx] + (network.length[seg] - candidates.along[c_idx])
        # the nodes within max_distance in a straight line of the candidates (where they attach), and the ends
        # of their segments
        at = network.xy[network.u[seg]] + (network.xy[network.v[seg]] - network.xy[network.u[seg]]) \
            * (candidates.along[c_idx] / network.length[seg])[:, None]
        near = network.node_tree.query_ball_point(at, max_distance * (1 + 1e-9) + 1e-6, return_sorted=False)
        nodes = np.unique(np.concatenate([np.concatenate(near).astype(np.int64), network.u[seg], network.v[seg]]))
        local = np.full(n, -1, dtype=np.int64)
        local[nodes] = np.arange(len(nodes))
        sub = base[nodes][:, nodes]
        n_s = len(nodes)
        graph = sp.csr_matrix(
            (np.r_[sub.data, np.column_stack([to_u, to_v]).ravel()],
             np.r_[sub.indices, np.column_stack([local[network.u[seg]], local[network.v[seg]]]).ravel()],
             np.r_[sub.indptr, sub.indptr[-1] + 2 * np.arange(1, n_f + 1)]),
            shape=(n_s + n_f, n_s + n_f),
        )
        dist = dijkstra(graph, directed=True, indices=n_s + np.arange(n_f), limit=max_distance)
        ci, at_node = np.nonzero(np.isfinite(dist[:, :n_s]))
        node = nodes[at_node]
        count = ptr[node + 1] - ptr[node]
        entry = np.repeat(ptr[node] - np.cumsum(count) + count, count) + np.arange(int(count.sum()))
        ci_e = np.repeat(ci, count)
        home = end_home[entry]
        key, via = _group_min(ci_e * n_d + home, np.repeat(dist[ci, at_node], count) + end_walk[entry])
        walk = via + off_d[key % n_d]
        # a candidate on the home's own segment: also directly along it
        same = homes.merge(pd.DataFrame({"ci": np.arange(n_f), "segment": seg}), on="segment")
        s_home, s_ci = same["home"].to_numpy(), same["ci"].to_numpy()
        direct = np.abs(candidates.along[c_idx][s_ci] - along_d[s_home]) + candidates.offset[c_idx][s_ci] \
            + off_d[s_home]
        key, walk = _group_min(np.r_[key, s_ci * n_d + s_home], np.r_[walk, direct])
        keep = walk <= max_distance
        key, walk = key[keep], walk[keep]
        out_d.append(d_idx[key % n_d])
        out_c.append(c_idx[key // n_d])
        out_m.append(walk)
    return np.concatenate(out_d), np.concatenate(out_c), np.concatenate(out_m)


def _group_min(key: np.ndarray, value: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct keys, ascending, and the smallest value of each."""
    order = np.lexsort((value, key))
    key, value = key[order], value[order]
    first = np.r_[True, key[1:] != key[:-1]] if len(key) else np.zeros(0, dtype=bool)
    return key[first], value[first]


def clip_network(network: Network, geometries, distance_m: float) -> Network:
    """The part of ``network`` within ``distance_m`` metres of ``geometries``: its segments (in their order, with their
    ends) and nodes renumbered. Components and snappability are the whole network's, so a point snaps and a
    piece counts as an island exactly as on the whole network; walking distances up to
    ``distance_m`` − (how far the points are from the geometries) − snapping are those of the whole network."""
    seg = np.unique(network.tree.query(np.asarray(geometries), predicate="dwithin", distance=distance_m)[1])
    nodes, inverse = np.unique(np.concatenate([network.u[seg], network.v[seg]]), return_inverse=True)
    part = Network(xy=network.xy[nodes], u=inverse[:len(seg)].astype(np.int64),
                   v=inverse[len(seg):].astype(np.int64), length=network.length[seg], crs=network.crs,
                   source=network.source, node_ids=None if network.node_ids is None else network.node_ids[nodes])
    part.__dict__["component"] = network.component[nodes]
    snappable = np.zeros(network.n_segments, dtype=bool)
    snappable[network.snappable] = True
    part.__dict__["snappable"] = np.flatnonzero(snappable[seg])
    return part


class WalkingDistance:
    """The walking-network distance measure used by :func:`geofacility.coverage.compute_coverage`: demand points
    are snapped once; each call snaps a set of facilities and runs one multi-source search.

    The search stops at ``reach_factor`` × the service radius (default 2): coverage needs only the radius, and a
    planner still sees how far the nearly covered are. Homes farther than that get ``inf``; :meth:`stranded`
    tells which of them have no walking path at all. Points farther than ``max_snap_m`` metres from every street
    are not attached; all distances are in metres of the network's metric CRS.
    """

    method = "network"

    def __init__(self, network: Network, demand_points, *, max_snap_m: float = DEFAULT_MAX_SNAP_M,
                 reach_factor: float = 2.0) -> None:
        self.network = network
        self.max_snap_m = max_snap_m
        self.reach_factor = reach_factor
        self._points = np.asarray(demand_points)

    @cached_property
    def demand(self) -> Snap:
        """Where the demand points attach, snapped on first use (a batch group: on the worker that runs it)."""
        return snap_points(self.network, self._points, self.max_snap_m)

    def nearest(self, facility_points, radius_m: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Walking distance in metres from each demand point to its nearest facility, and that facility's
        position; the search stops at ``reach_factor`` × ``radius_m`` metres (``inf``, −1 beyond it)."""
        facilities = snap_points(self.network, facility_points, self.max_snap_m)
        limit = self.reach_factor * radius_m if radius_m else np.inf
        return nearest_facility(self.network, self.demand, facilities, limit=limit)

    def pairs(self, facility_points, max_distance: float, *, chunk: int = 64
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every (demand point, facility) pair within ``max_distance`` metres on foot: (demand position, facility
        position, metres), ordered by facility, then demand — :func:`nearest_facility_matrix` from the demand
        snapped once (what capacity allocation needs: who can reach which facility within the radius)."""
        facilities = snap_points(self.network, facility_points, self.max_snap_m)
        return nearest_facility_matrix(self.network, self.demand, facilities, max_distance, chunk=chunk)

    def stranded(self, facility_points) -> np.ndarray:
        """Demand points with no walking path to any of these facilities: not attached to the network, or on a
        connected part that holds none of them."""
        facilities = snap_points(self.network, facility_points, self.max_snap_m)
        comp = self.network.component
        served = np.zeros(comp.max() + 1, dtype=bool)
        served[comp[self.network.u[facilities.segment[facilities.ok]]]] = True
        out = ~self.demand.ok
        seg = self.demand.segment[self.demand.ok]
        out[self.demand.ok] = ~served[comp[self.network.u[seg]]]
        return out
