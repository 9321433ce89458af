"""Capacity allocation decomposed by the reach graph: the pairs within reach on foot (geofacility.reach)."""
from __future__ import annotations

import numpy as np


def test_walking_pairs_equal_the_dense_search():
    from geofacility.network import nearest_facility_matrix, snap_points
    from geofacility.reach import walking_pairs
    from geofacility.synth import synthetic_city

    city = synthetic_city(n_nodes_side=25, n_demand=1500, facilities_per_category=6, seed=3)
    net = city.network
    homes = snap_points(net, city.demand.geometry.values)
    sites = snap_points(net, city.facilities.geometry.values)
    for radius in (150.0, 500.0, 5000.0):
        sparse, dense = walking_pairs(net, homes, sites, radius, chunk=7), nearest_facility_matrix(
            net, homes, sites, radius, chunk=7)
        assert len(sparse[0]) > 0
        for a, b in zip(sparse, dense):
            np.testing.assert_array_equal(a, b)
