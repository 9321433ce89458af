"""Distances from demand to facilities, in metres, in the metric CRS.

Straight line (``euclidean``): one bulk nearest-neighbour query for all demand points — a KD-tree (scipy) when
homes and facilities are all points, as they nearly always are, shapely's STRtree otherwise — and one bulk
``dwithin`` query (STRtree) for counting facilities within reach. Facilities outside a community or outside the
study area count like any other: the caller passes all of them.
"""
from __future__ import annotations

import numpy as np
import shapely
from scipy.spatial import cKDTree

__all__ = ["nearest_distance", "within_pairs", "pairs_within", "StraightLineDistance"]


def nearest_distance(points, facilities) -> tuple[np.ndarray, np.ndarray]:
    """Distance from each point to its nearest facility, and that facility's position in ``facilities``.

    Returns ``(inf, -1)`` for every point when there is no facility. Ties go to the facility that comes first
    in ``facilities`` (deterministic).
    """
    points = np.asarray(points)
    facilities = np.asarray(facilities)
    dist = np.full(len(points), np.inf)
    nearest = np.full(len(points), -1, dtype=np.int64)
    if len(points) == 0 or len(facilities) == 0:
        return dist, nearest
    if _all_points(points) and _all_points(facilities):
        return _nearest_kd(shapely.get_coordinates(points), shapely.get_coordinates(facilities))
    tree = shapely.STRtree(facilities)
    (pt_idx, fac_idx), d = tree.query_nearest(points, return_distance=True, all_matches=True)
    # all_matches returns every equidistant facility; keep the lowest index per point
    order = np.lexsort((fac_idx, pt_idx))
    pt_idx, fac_idx, d = pt_idx[order], fac_idx[order], d[order]
    first = np.r_[True, pt_idx[1:] != pt_idx[:-1]]
    dist[pt_idx[first]] = d[first]
    nearest[pt_idx[first]] = fac_idx[first]
    return dist, nearest


def _all_points(geoms: np.ndarray) -> bool:
    return bool((shapely.get_type_id(geoms) == 0).all() and not shapely.is_empty(geoms).any())


def _nearest_kd(p: np.ndarray, f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest of points ``f`` to each of ``p`` (coordinates), ties to the lowest index, distances computed as GEOS
    does (bit for bit the STRtree path's)."""
    # facilities sharing a location (several in one building) are one tree point: their lowest index
    unique, first = np.unique(f, axis=0, return_index=True)
    tree = cKDTree(unique)
    k = min(2, len(unique))
    d, i = tree.query(p, k=k)
    d, i = d.reshape(len(p), k), i.reshape(len(p), k)
    nearest = first[i[:, 0]].astype(np.int64)
    if k == 2:
        tied = np.flatnonzero(d[:, 1] <= d[:, 0] * (1 + 1e-12) + 1e-9)  # equidistant locations: rare
        if len(tied):
            candidates = tree.query_ball_point(p[tied], d[tied, 0] * (1 + 1e-12) + 1e-9)
            for row, cands in zip(tied, candidates):
                idx = first[np.asarray(cands, dtype=np.int64)]
                exact = _euclid(p[row], f[idx])
                nearest[row] = idx[exact == exact.min()].min()
    return _euclid(p, f[nearest]), nearest


def _euclid(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    dx = (a - b).reshape(-1, 2)
    return np.sqrt(dx[:, 0] * dx[:, 0] + dx[:, 1] * dx[:, 1])


def within_pairs(geoms, facilities, radius_m: float) -> tuple[np.ndarray, np.ndarray]:
    """All (geometry index, facility index) pairs no farther apart than ``radius_m`` metres (metric CRS)."""
    geoms = np.asarray(geoms)
    facilities = np.asarray(facilities)
    if len(geoms) == 0 or len(facilities) == 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    tree = shapely.STRtree(facilities)
    geom_idx, fac_idx = tree.query(geoms, predicate="dwithin", distance=radius_m)
    return geom_idx, fac_idx


def pairs_within(points, facilities, max_distance: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(point index, facility index, metres) for every pair no farther apart than ``max_distance`` (one STRtree
    query)."""
    points = np.asarray(points)
    facilities = np.asarray(facilities)
    if len(points) == 0 or len(facilities) == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0)
    tree = shapely.STRtree(facilities)
    p_idx, f_idx = tree.query(points, predicate="dwithin", distance=max_distance)
    dist = shapely.distance(points[p_idx], facilities[f_idx])
    return p_idx.astype(np.int64), f_idx.astype(np.int64), dist


class StraightLineDistance:
    """The straight-line distance measure used by :func:`geofacility.coverage.compute_coverage` (the walking one is
    :class:`geofacility.network.WalkingDistance`)."""

    method = "euclidean"

    def __init__(self, demand_points) -> None:
        self.points = np.asarray(demand_points)

    def nearest(self, facility_points, radius_m: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Exact straight-line distances in metres to the nearest facility, and its position (``radius_m``, the
        service radius in metres, is not needed: this is cheap)."""
        return nearest_distance(self.points, facility_points)
