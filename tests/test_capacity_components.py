"""Capacity allocation decomposed by the reach graph (geofacility.allocation): classes per community, one transport
problem per component, homes seated per group — checked by hand on a small fixture, and against the whole-city
single LP and the whole-city capacity_split on a city of two towns whose components cross the town border."""
from __future__ import annotations

from types import SimpleNamespace

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geofacility.allocation import demand_classes, seat_homes, solve_classes
from geofacility.capacity import allocate, capacity_split
from geofacility.distance import StraightLineDistance, pairs_within
from geofacility.errors import InputError
from geofacility.standards import Check

CRS = "EPSG:32650"
RADIUS = 500.0  # metres: schools near the border reach homes of both towns


def hand_fixture():
    """Facilities A and B (capacity 100 each) and C (capacity 10); seven homes in communities N and S.

    - h0 (N, 10 people) reaches nothing;
    - h1 (N, 60) reaches A at 100 m                    → class N/0: (A,)
    - h2 (N, 80) reaches A at 300 m and B at 200 m     → class N/1: (A, B)
    - h3 (S, 50) reaches B at 150 m                    → class S/0: (B,)
    - h4 (S, 20) and h5 (S, 20) reach C at 50 and 150 m → class S/1: (C,), 40 people, mean 100 m.

    Components of the class ↔ facility graph: {N/0, N/1, S/0, A, B} and {S/1, C} — two.
    The first serves all 190 (A ≤ 100 needs x_A ≤ 40 of N/1's 80, B ≤ 100 needs x_B ≤ 50): B is nearer to N/1,
    so N/1 sends 50 to B and 30 to A; A holds 90, B 100. C seats 10 of S/1's 40: h4 (nearer) gets them.
    """
    # pairs given in a scrambled order, facilities by position: 0 = B, 1 = C, 2 = A (ids, not positions, count)
    d_idx = np.array([5, 2, 3, 1, 4, 2])
    f_idx = np.array([1, 2, 0, 2, 1, 0])
    dist = np.array([150.0, 300.0, 150.0, 100.0, 50.0, 200.0])
    weight = np.array([10.0, 60.0, 80.0, 50.0, 20.0, 20.0])
    community = np.array(["N", "N", "N", "S", "S", "S"], dtype=object)
    facility_id = np.array(["B", "C", "A"])
    home_id = np.array(["h0", "h1", "h2", "h3", "h4", "h5"])
    return d_idx, f_idx, dist, weight, community, facility_id, home_id


def test_classes_components_and_seats_by_hand():
    d_idx, f_idx, dist, weight, community, facility_id, home_id = hand_fixture()
    classes = demand_classes(d_idx, f_idx, dist, weight, community, facility_id, home_id=home_id)
    table = classes.table
    assert table[["community_id", "class_no", "facility_id"]].values.tolist() == [
        ["N", 0, "A"], ["N", 1, "A"], ["N", 1, "B"], ["S", 0, "B"], ["S", 1, "C"]]
    assert table["people"].tolist() == [60, 80, 80, 50, 40]
    assert table["distance_m"].tolist() == [100, 300, 200, 150, 100]
    assert classes.home_class.tolist() == [-1, 0, 1, 0, 1, 1]

    solved = solve_classes(table, {"A": 100, "B": 100, "C": 10})
    assert solved.n_components == 2
    assert solved.classes["flow"].round(6).tolist() == [60, 30, 50, 50, 10]
    assert solved.allocated.round(6).to_dict() == {"A": 90, "B": 100, "C": 10}
    served = seat_homes(classes, solved.classes)
    assert served.round(6).tolist() == [0, 60, 80, 50, 10, 0]


def test_solution_does_not_depend_on_packing_order_or_map():
    d_idx, f_idx, dist, weight, community, facility_id, home_id = hand_fixture()
    table = demand_classes(d_idx, f_idx, dist, weight, community, facility_id, home_id=home_id).table
    chunks = []

    def recording_map(func, payloads):  # what a Dask client's map + gather does: the results in order
        payloads = list(payloads)
        chunks.append(len(payloads))
        return [func(p) for p in payloads]

    one_each = solve_classes(table.iloc[::-1], {"A": 100, "B": 100, "C": 10}, map=recording_map, chunk_pairs=1)
    assert chunks == [2] and one_each.n_problems == 2  # each component its own LP
    packed = solve_classes(table, {"A": 100, "B": 100, "C": 10})
    assert packed.n_problems == 1  # both components in one block-diagonal LP
    assert one_each.classes["flow"].iloc[::-1].round(6).tolist() == packed.classes["flow"].round(6).tolist()
    with pytest.raises(InputError, match="given twice"):
        solve_classes(pd.concat([table, table.iloc[:1]]), {"A": 100, "B": 100, "C": 10})
    with pytest.raises(InputError, match="no capacity for facility C"):
        solve_classes(table, {"A": 100, "B": 100})


# ---------------------------------------------------------------------------------------- two towns

def two_towns(seed: int = 5):
    """Two towns side by side (West x < 3,000 m, East beyond), three communities each (1 km strips); homes
    everywhere, schools with small capacities (they bind) and a 500 m radius: nine components, two of them across
    the town border (homes of both towns reach the same schools); 13 of the 24 schools are full."""
    rng = np.random.default_rng(seed)
    n_homes, n_fac = 600, 24
    xy = rng.uniform([0, 0], [6000, 3000], (n_homes, 2))
    people = rng.integers(5, 120, n_homes).astype(float)
    people[::50] = 0.0  # homes of nobody: classes that weigh nothing
    sites = rng.uniform([0, 0], [6000, 3000], (n_fac, 2))
    capacity = rng.integers(300, 1500, n_fac).astype(float)
    strip = np.minimum((xy[:, 0] // 1000).astype(int), 5)
    community = np.array([f"{'WE'[s // 3]}{s % 3}" for s in strip], dtype=object)
    homes = gpd.GeoDataFrame({"demand_id": [f"d{i:04d}" for i in range(n_homes)], "community_id": community,
                              "weight": people}, geometry=shapely.points(xy), crs=CRS)
    fac = gpd.GeoDataFrame({"facility_id": [f"s{i:02d}" for i in range(n_fac)], "name": "校",
                            "category": "education", "subcategory": "kindergarten", "floor_area_m2": np.nan,
                            "capacity": capacity}, geometry=shapely.points(sites), crs=CRS)
    ids = [f"{t}{k}" for t in "WE" for k in range(3)]
    comm = gpd.GeoDataFrame({"community_id": ids, "town": [i[0] for i in ids],
                             "population": [people[community == i].sum() for i in ids], "households": np.nan},
                            geometry=[shapely.box(1000 * k, 0, 1000 * (k + 1), 3000) for k in range(6)], crs=CRS)
    check = Check(category="education", subcategory="kindergarten", name_zh="幼儿园", level="5min",
                  scope="community", radius_m=RADIUS, per_1000_building_m2=None, per_100hh_building_m2=None,
                  min_building_m2=None, serves_population=None, source="test", status="test", note="")
    view = SimpleNamespace(checks=[check], facilities=fac, communities=comm, demand=homes,
                           measure=StraightLineDistance(homes.geometry.values))
    return view, xy, people, sites, capacity


def test_components_cross_the_town_border_and_serve_as_many_as_the_whole_city_lp():
    view, xy, people, sites, capacity = two_towns()
    d_idx, f_idx, dist = pairs_within(shapely.points(xy), shapely.points(sites), RADIUS)
    fids = view.facilities["facility_id"].to_numpy()
    town = view.demand["community_id"].str[0].to_numpy()
    classes = demand_classes(d_idx, f_idx, dist, people, view.demand["community_id"].to_numpy(), fids,
                             home_id=view.demand["demand_id"].to_numpy())
    solved = solve_classes(classes.table, dict(zip(fids, capacity)))
    # the fixture does what it claims: a component holds classes of both towns, and capacities bind
    import scipy.sparse as sp
    from scipy.sparse.csgraph import connected_components

    n = len(people)
    graph = sp.csr_matrix((np.ones(len(d_idx)), (d_idx, n + f_idx)), shape=(n + len(fids),) * 2)
    _, label = connected_components(graph, directed=False)
    reached = np.unique(d_idx)
    towns_of = pd.Series(town[reached]).groupby(label[reached]).nunique()
    assert (towns_of == 2).sum() == 2 and solved.n_components == 9
    assert (solved.allocated.reindex(fids).to_numpy() >= capacity - 1e-6).sum() == 13  # full schools

    # (a) the components serve as many as one LP over every (home, school) pair of the city
    whole = allocate(d_idx, f_idx, dist, people, capacity)
    assert solved.classes["flow"].sum() == pytest.approx(whole.sum(), abs=1e-6)
    assert whole.sum() < people[reached].sum() - 1  # some within reach are over capacity
    result = capacity_split(view, "education")
    assert result.demand_state["served"].sum() == pytest.approx(whole.sum(), abs=1e-6)

    # (b) per town: classes of its homes, one solve of the concatenated tables (East first), seats per town —
    # exactly the whole city's capacity_split, home by home and community by community
    groups = {}
    for name in ("E", "W"):
        mine = np.flatnonzero(town == name)
        local = np.full(n, -1)
        local[mine] = np.arange(len(mine))
        keep = local[d_idx] >= 0
        groups[name] = (mine, demand_classes(local[d_idx[keep]], f_idx[keep], dist[keep], people[mine],
                                             view.demand["community_id"].to_numpy()[mine], fids,
                                             home_id=view.demand["demand_id"].to_numpy()[mine]))
    tables = pd.concat([groups["E"][1].table, groups["W"][1].table], ignore_index=True)
    pd.testing.assert_frame_equal(tables.sort_values(["community_id", "class_no", "facility_id"])
                                  .reset_index(drop=True), classes.table)  # the groups' rows of the city's table
    flows = solve_classes(tables, dict(zip(fids, capacity))).classes
    served = np.zeros(n)
    for mine, group_classes in groups.values():
        served[mine] = seat_homes(group_classes, flows)
    state = result.demand_state
    assert (state["demand_id"].to_numpy() == view.demand["demand_id"].to_numpy()).all()
    assert served.tolist() == state["served"].tolist()
    by_community = pd.Series(served).groupby(view.demand["community_id"].to_numpy()).sum()
    assert by_community.tolist() == state["served"].groupby(view.demand["community_id"].to_numpy()).sum().tolist()
    assert (served <= people + 1e-9).all()


def test_standards_with_the_same_facilities_and_radius_list_their_pairs_once(monkeypatch):
    import geofacility.capacity as cap

    view, *_ = two_towns()
    calls = []
    real = cap.reach_pairs

    def counted(*args, **kwargs):  # the real listing, counted
        calls.append(args[3])
        return real(*args, **kwargs)

    monkeypatch.setattr(cap, "reach_pairs", counted)
    cache: dict = {}
    first = capacity_split(view, "education", pairs_cache=cache)
    again = capacity_split(view, "education", pairs_cache=cache)
    assert calls == [RADIUS]
    pd.testing.assert_frame_equal(first.demand_state, again.demand_state)
