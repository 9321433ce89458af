"""Capacity-aware provision on fixtures whose answers can be checked by hand, and 2SFCA against PySAL access."""
from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from conftest import need
from geofacility.capacity import allocate, apply_capacity, capacity_split, facility_capacity, two_step_fca
from geofacility.distance import pairs_within
from geofacility.errors import WarningLog
from geofacility.pipeline import analyze
from geofacility.standards import find_check, load_standards

CRS = "EPSG:32650"
X0, Y0 = 440_000.0, 4_420_000.0


def _frame(rows, **kw) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(pd.DataFrame(rows), crs=CRS, **kw)


def one_full_one_half_empty(tmp_path, facilities_extra=None):
    """Three 1 km blocks in a row, P and Q side by side and R far east; a 1 km radius (primary schools, given).

    - P (1,500 people at its centre) reaches only school A (capacity 1,000): A is full, 500 people over capacity;
    - Q (1,000 people) reaches only school B (capacity 2,000): B is half empty;
    - R (500 people, 4 km away) reaches nothing: out of reach.
    """
    comm = _frame({
        "community_id": ["P", "Q", "R"], "community": ["甲社区", "乙社区", "丙社区"], "town": ["东街道"] * 3,
        "population": [1500, 1000, 500], "households": [600, 400, 200],
        "geometry": [shapely.box(X0 + x, Y0, X0 + x + 1000, Y0 + 1000) for x in (0, 1000, 5000)],
    })
    demand = _frame({"demand_id": ["p", "q", "r"], "population": [1500, 1000, 500],
                     "geometry": [shapely.Point(X0 + x, Y0 + 500) for x in (500, 1500, 5500)]})
    fac = _frame({"facility_id": ["A", "B"], "name": ["甲小学", "乙小学"], "category": ["education"] * 2,
                  "subcategory": ["primary_school"] * 2, "capacity": [1000, 2000],
                  **(facilities_extra or {}),
                  # A is 100 m from P's people and 1,005 m from Q's; B 100 m from Q's and 1,005 m from P's
                  "geometry": [shapely.Point(X0 + 500, Y0 + 400), shapely.Point(X0 + 1500, Y0 + 400)]})
    paths = {}
    for name, frame in (("communities", comm), ("demand", demand), ("facilities", fac)):
        paths[name] = tmp_path / f"{name}.geojson"
        frame.to_crs(4326).to_file(paths[name], driver="GeoJSON")
    return paths


@pytest.mark.parametrize("method", ["allocate", "2sfca"])
def test_one_full_and_one_half_empty_facility(tmp_path, method):
    paths = one_full_one_half_empty(tmp_path)
    analysis = analyze(communities=paths["communities"], demand=paths["demand"],
                       facilities=[(paths["facilities"], "education")], radius={"education": 1000},
                       capacity_method=method)
    comm = analysis.communities.set_index("community_id")
    served = comm["education_served_population"].round(6).to_dict()
    over = comm["education_over_capacity_population"].round(6).to_dict()
    out = comm["education_out_of_reach_population"].round(6).to_dict()
    assert served == {"P": 1000, "Q": 1000, "R": 0}
    assert over == {"P": 500, "Q": 0, "R": 0}
    assert out == {"P": 0, "Q": 0, "R": 500}
    # P is fully covered by distance, short by capacity: a gap, and the ledger says why
    assert comm.loc["P", "education_covered_share"] == 1.0
    assert comm.loc["P", "education_status"] == "gap"
    assert "可达但超容量 500 人" in comm.loc["P", "education_problem"]
    assert comm.loc["Q", "education_status"] == "ok"
    load = analysis.facility_load.set_index("facility_id")
    assert load.loc["A", "capacity_source"] == "data"
    assert load.loc["A", "demand_in_reach"] == 1500 and load.loc["B", "demand_in_reach"] == 1000
    expected_a = 1.5 if method == "2sfca" else 1.0  # demand in reach ÷ capacity, or allocated ÷ capacity
    assert load.loc["A", "load"] == pytest.approx(expected_a)
    assert load.loc["B", "load"] == pytest.approx(0.5)
    assert analysis.settings["capacity_method"] == method


def test_allocation_seats_people_2sfca_reports_short():
    """X (1,000) reaches A and B, Y (1,000) reaches only A; both capacities 1,000.

    The allocation seats everyone (X at B, Y at A). 2SFCA spreads A's load over X and Y: R_A = 1000/2000 = 0.5,
    R_B = 1; A_X = 1.5 (served), A_Y = 0.5 (500 over capacity)."""
    d_idx, f_idx = np.array([0, 0, 1]), np.array([0, 1, 0])
    dist = np.array([100.0, 300.0, 200.0])
    demand, supply = np.array([1000.0, 1000.0]), np.array([1000.0, 1000.0])
    access, ratio, catchment = two_step_fca(d_idx, f_idx, demand, supply)
    assert access.tolist() == [1.5, 0.5] and ratio.tolist() == [0.5, 1.0] and catchment.tolist() == [2000, 1000]
    flow = allocate(d_idx, f_idx, dist, demand, supply)
    assert flow.round(6).tolist() == [0, 1000, 1000]


def test_allocation_fills_nearest_first():
    """One facility (capacity 600) and two homes of 500 in reach, at 100 m and 900 m: the near home is seated in
    full, the far one gets what is left."""
    flow = allocate(np.array([0, 1]), np.array([0, 0]), np.array([900.0, 100.0]), np.array([500.0, 500.0]),
                    np.array([600.0]))
    assert flow.round(6).tolist() == [100, 500]


def test_capacity_sources_in_order():
    table = load_standards()
    market = find_check(table, "commerce", "vegetable_market")  # 50 m² per 1,000 residents; serves ≤ 25,000
    fac = pd.DataFrame({"capacity": [4000, np.nan, np.nan], "floor_area_m2": [750, 750, np.nan]})
    cap, source = facility_capacity(fac, market)
    assert cap.tolist() == [4000, 15000, 25000]
    assert source.tolist() == ["data", "floor area", "standard"]
    rooms = find_check(table, "community_service", "community_rooms_national")  # 30 m² per 100 households
    cap, source = facility_capacity(pd.DataFrame({"floor_area_m2": [300.0]}), rooms, people_per_household=2.5)
    assert cap.tolist() == [pytest.approx(2500)] and source.tolist() == ["floor area"]  # 1,000 households
    beijing = find_check(table, "community_service", "community_rooms_beijing")  # no per-resident rule, no pop.
    cap, source = facility_capacity(pd.DataFrame({"floor_area_m2": [400.0]}), beijing)
    assert np.isnan(cap).all() and source.tolist() == ["unknown"]


def test_unknown_capacity_is_reported_not_guessed(tmp_path, grid_communities):
    from conftest import centre

    fac = _frame({"facility_id": ["S"], "name": ["服务站"], "category": ["community_service"],
                  "subcategory": ["community_rooms_beijing"], "floor_area_m2": [400.0],
                  "geometry": [shapely.Point(centre(2, 2))]})
    comm_path, fac_path = tmp_path / "c.geojson", tmp_path / "f.geojson"
    grid_communities.to_crs(4326).to_file(comm_path)
    fac.to_crs(4326).to_file(fac_path)
    analysis = analyze(communities=comm_path, facilities=[fac_path], radius={"community_service": 500})
    assert analysis.communities["community_service_served_population"].isna().all()
    assert analysis.warnings["message"].str.contains("no capacity for this facility").any()


def test_not_surveyed_categories_have_no_split(tmp_path):
    paths = one_full_one_half_empty(tmp_path)
    analysis = analyze(communities=paths["communities"], demand=paths["demand"],
                       facilities=[(paths["facilities"], "education")], radius={"education": 1000})
    assert analysis.communities["health_served_population"].isna().all()
    assert set(analysis.facility_load["category"]) == {"education"}


def test_2sfca_equals_pysal_access():
    access = need("access")
    rng = np.random.default_rng(7)
    n_d, n_f, radius = 400, 25, 800.0
    homes = shapely.points(rng.uniform(0, 5000, (n_d, 2)))
    sites = shapely.points(rng.uniform(0, 5000, (n_f, 2)))
    people = rng.integers(50, 3000, n_d).astype(float)
    capacity = rng.integers(1000, 20000, n_f).astype(float)
    d_idx, f_idx, dist = pairs_within(homes, sites, radius)
    ours, _, _ = two_step_fca(d_idx, f_idx, people, capacity)

    demand_df = pd.DataFrame({"geoid": np.arange(n_d), "pop": people})
    supply_df = pd.DataFrame({"geoid": np.arange(n_f), "cap": capacity})
    cost_df = pd.DataFrame({"origin": d_idx, "dest": f_idx, "cost": dist})
    model = access.Access(demand_df=demand_df, demand_index="geoid", demand_value="pop", supply_df=supply_df,
                          supply_index="geoid", supply_value="cap", cost_df=cost_df, cost_origin="origin",
                          cost_dest="dest", cost_name="cost")
    theirs = model.two_stage_fca(name="2sfca", max_cost=radius, normalize=False).iloc[:, 0]
    theirs = theirs.reindex(np.arange(n_d)).fillna(0.0).to_numpy()  # indexed by geoid; no facility: NaN
    assert len(d_idx) > n_d  # overlapping catchments: the case where the methods could disagree
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-9)


def test_served_never_exceeds_capacity_and_states_add_up():
    rng = np.random.default_rng(3)
    homes = shapely.points(rng.uniform(0, 3000, (300, 2)))
    sites = shapely.points(rng.uniform(0, 3000, (12, 2)))
    people = rng.integers(10, 500, 300).astype(float)
    capacity = rng.integers(500, 5000, 12).astype(float)
    d_idx, f_idx, dist = pairs_within(homes, sites, 500.0)
    flow = allocate(d_idx, f_idx, dist, people, capacity)
    assert (np.bincount(f_idx, weights=flow, minlength=12) <= capacity + 1e-6).all()
    assert (np.bincount(d_idx, weights=flow, minlength=300) <= people + 1e-6).all()
    access, _, _ = two_step_fca(d_idx, f_idx, people, capacity)
    assert (people * np.minimum(1, access)).sum() <= capacity.sum() + 1e-6
    # the allocation serves at least as many as 2SFCA says are served (it is the maximum)
    assert flow.sum() >= (people * np.minimum(1, access)).sum() - 1e-6


def _view(homes, people, sites, capacity, radius):
    """A minimal study for capacity_split: one community around everything, straight-line distances."""
    from types import SimpleNamespace

    from geofacility.distance import StraightLineDistance
    from geofacility.standards import Check

    check = Check(category="education", subcategory="kindergarten", name_zh="幼儿园", level="5min",
                  scope="community", radius_m=radius, per_1000_building_m2=None, per_100hh_building_m2=None,
                  min_building_m2=None, serves_population=None, source="test", status="test", note="")
    homes = shapely.points(homes)
    demand = gpd.GeoDataFrame({"demand_id": [f"h{i}" for i in range(len(homes))], "community_id": "C",
                               "weight": np.asarray(people, dtype=float)}, geometry=homes, crs=CRS)
    fac = gpd.GeoDataFrame({"facility_id": [f"f{i}" for i in range(len(sites))], "name": "园",
                            "category": "education", "subcategory": "kindergarten", "floor_area_m2": np.nan,
                            "capacity": np.asarray(capacity, dtype=float)}, geometry=shapely.points(sites), crs=CRS)
    comm = gpd.GeoDataFrame({"community_id": ["C"], "population": [float(np.sum(people))], "households": [np.nan]},
                            geometry=[shapely.box(-1e5, -1e5, 1e5, 1e5)], crs=CRS)
    return SimpleNamespace(checks=[check], facilities=fac, communities=comm, demand=demand,
                           measure=StraightLineDistance(demand.geometry.values))


def test_homes_reaching_the_same_facilities_are_seated_nearest_first():
    """Both homes reach only the one kindergarten (capacity 600): the home 100 m away is seated in full, the one
    900 m away gets the 100 seats left — as the transport problem on the homes themselves gives."""
    view = _view([(900, 0), (100, 0)], [500, 500], [(0, 0)], [600], 1000)
    state = capacity_split(view, "education").demand_state
    assert state["served"].round(6).tolist() == [100, 500]
    assert state["over_capacity"].round(6).tolist() == [400, 0]


def test_grouped_allocation_serves_as_many_as_the_pair_level_one():
    rng = np.random.default_rng(11)
    homes = rng.uniform(0, 4000, (500, 2))
    people = rng.integers(10, 400, 500).astype(float)
    sites = rng.uniform(0, 4000, (15, 2))
    capacity = rng.integers(1000, 8000, 15).astype(float)
    result = capacity_split(_view(homes, people, sites, capacity, 600.0), "education")
    d_idx, f_idx, dist = pairs_within(shapely.points(homes), shapely.points(sites), 600.0)
    pair_level = allocate(d_idx, f_idx, dist, people, capacity)
    assert result.demand_state["served"].sum() == pytest.approx(pair_level.sum(), abs=1e-4)
    assert (result.facilities["allocated"] <= result.facilities["capacity"] + 1e-6).all()  # (in facility_id order)
    assert (result.demand_state["served"] <= people + 1e-9).all()


def test_a_split_too_large_for_memory_is_skipped_with_a_warning(monkeypatch):
    import geofacility.capacity as cap

    monkeypatch.setattr(cap, "available_memory", lambda: 100)  # bytes: not even the two pairs fit
    log = WarningLog()
    view = _view([(900, 0), (100, 0)], [500, 500], [(0, 0)], [600], 1000)
    assert capacity_split(view, "education", log=log) is None
    assert "the capacity split is not computed (coverage is)" in log.to_frame()["message"].iloc[0]
