"""Siting, the reach of candidates: demand × candidate pairs within a distance (metres) and the boolean coverage
matrix built from them — straight line (:func:`straight_line_pairs`, one STRtree query) or on foot
(:func:`walking_pairs`, Dijkstra on the walking network); :func:`pairs_to_matrix` keeps the pairs within a
radius. An OD cost table gives its own pairs (:func:`geofacility.siting.candidate_pairs`).
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

__all__ = ["straight_line_pairs", "walking_pairs", "pairs_to_matrix"]


def straight_line_pairs(demand_points, candidate_points, max_distance: float):
    """(demand index, candidate index, metres) for every pair within ``max_distance`` (one STRtree query)."""
    from ..distance import pairs_within

    return pairs_within(demand_points, candidate_points, max_distance)


def walking_pairs(network, demand_snap, candidate_snap, max_distance: float, *, chunk: int = 64):
    """(demand index, candidate index, metres) on foot for every pair within ``max_distance``.

    Candidates are searched in chunks of ``chunk`` (one Dijkstra call each, ``limit=max_distance``), keeping
    memory at chunk × nodes; each candidate's own search is needed here because every pair counts, not only the
    nearest.
    """
    from ..network import nearest_facility_matrix

    return nearest_facility_matrix(network, demand_snap, candidate_snap, max_distance, chunk=chunk)


def pairs_to_matrix(d_idx, c_idx, dist, shape, radius: float) -> sp.csr_matrix:
    """The boolean coverage matrix of the pairs no farther than ``radius``."""
    keep = dist <= radius
    return sp.csr_matrix((np.ones(int(keep.sum()), dtype=bool), (d_idx[keep], c_idx[keep])), shape=shape)
