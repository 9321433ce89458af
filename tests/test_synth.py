"""The synthetic city generator: deterministic, realistic in the promised ways, and readable by the pipeline."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import shapely

from geofacility.distance import nearest_distance
from geofacility.network import network_from_lines
from geofacility.pipeline import analyze
from geofacility.standards import CATEGORIES, default_check, load_standards
from geofacility.synth import JITTER_SHARE, synthetic_city

SIDE = 16
SPACING = 100.0


@pytest.fixture(scope="module")
def city():
    return synthetic_city(n_nodes_side=SIDE, spacing_m=SPACING, n_demand=1_500, facilities_per_category=4,
                          block_side=3, seed=7)


def test_same_seed_same_city_other_seed_other_city(city):
    again = synthetic_city(n_nodes_side=SIDE, spacing_m=SPACING, n_demand=1_500, facilities_per_category=4,
                           block_side=3, seed=7)
    for name in ("streets", "communities", "demand", "facilities"):
        pd.testing.assert_frame_equal(pd.DataFrame(getattr(city, name)).drop(columns="geometry"),
                                      pd.DataFrame(getattr(again, name)).drop(columns="geometry"))
        assert shapely.equals_exact(getattr(city, name).geometry.values, getattr(again, name).geometry.values,
                                    tolerance=0).all()
    np.testing.assert_array_equal(city.network.xy, again.network.xy)
    other = synthetic_city(n_nodes_side=SIDE, spacing_m=SPACING, n_demand=1_500, facilities_per_category=4,
                           block_side=3, seed=8)
    assert not np.array_equal(shapely.get_coordinates(city.demand.geometry.values),
                              shapely.get_coordinates(other.demand.geometry.values))


def test_network_is_what_network_from_lines_gives_on_the_streets(city):
    for node in (False, True):  # the streets are noded already: noding them again changes nothing
        ref = network_from_lines(city.streets.geometry.values, city.crs, node=node)
        for attr in ("xy", "u", "v", "length"):
            np.testing.assert_array_equal(getattr(city.network, attr), getattr(ref, attr), err_msg=attr)
    assert city.network.crs == city.crs
    assert city.streets.crs == city.crs
    assert set(city.streets.geom_type) == {"LineString"}


def test_jittered_grid_with_a_few_links_dropped(city):
    xy = city.network.xy
    x0, y0 = 440_000.0, 4_420_000.0
    nominal = np.round((xy - [x0, y0]) / SPACING) * SPACING + [x0, y0]
    displacement = np.hypot(*(xy - nominal).T)
    assert displacement.max() <= JITTER_SHARE * SPACING + 1e-9
    assert displacement.mean() > 0.3 * JITTER_SHARE * SPACING  # really jittered
    # at most n² nodes (an intersection whose links were all dropped is not in the network)
    assert 0.97 * SIDE**2 <= city.network.n_nodes <= SIDE**2
    links = 2 * SIDE * (SIDE - 1)
    kept = city.network.n_segments / links
    assert 0.9 < kept < 0.99
    # every segment joins neighbouring intersections
    assert city.network.length.max() < SPACING * (1 + 2 * JITTER_SHARE)


def test_demand_clustered_near_streets_with_integer_weights(city):
    demand = city.demand
    assert list(demand.columns) == ["demand_id", "population", "geometry"]
    assert demand["demand_id"].is_unique
    people = demand["population"].to_numpy()
    assert np.issubdtype(people.dtype, np.integer)
    assert people.min() >= 1 and people.max() <= 200
    pts = demand.geometry.values
    _, d = city.network.tree.query_nearest(pts, return_distance=True, all_matches=False)
    assert d.max() <= 60.0
    # clustered: the densest tenth of the communities holds far more than a tenth of the people
    pop = np.sort(city.communities["population"].to_numpy())[::-1]
    assert pop[: max(1, len(pop) // 10)].sum() > 0.2 * pop.sum()


def test_communities_towns_and_population(city):
    comm = city.communities
    assert list(comm.columns) == ["community_id", "community", "town", "population", "households", "geometry"]
    blocks = int(np.ceil((SIDE - 1) / 3))
    assert len(comm) == blocks**2
    assert comm["community_id"].is_unique
    # tiles: no overlaps, and every home inside exactly one community
    polys = comm.geometry.values
    assert shapely.union_all(polys).area == pytest.approx(shapely.area(polys).sum())
    pt_idx, poly_idx = shapely.STRtree(polys).query(city.demand.geometry.values, predicate="intersects")
    assert np.array_equal(np.sort(pt_idx), np.arange(len(city.demand)))
    people = np.bincount(poly_idx, weights=city.demand["population"].to_numpy()[pt_idx], minlength=len(comm))
    np.testing.assert_allclose(comm["population"].to_numpy(), people)
    np.testing.assert_allclose(comm["households"].to_numpy(), np.round(people / 2.5))
    # towns: 4 × 4 communities, named Town 01, Town 02 …
    towns = comm.groupby("town").size()
    assert towns.index[0] == "Town 01"
    assert len(towns) == int(np.ceil(blocks / 4)) ** 2
    assert towns.max() == 16


def test_facilities_of_every_category_near_streets():
    city = synthetic_city(n_nodes_side=20, n_demand=200, facilities_per_category=40, seed=3)
    fac = city.facilities
    assert list(fac.columns) == ["facility_id", "name", "category", "subcategory", "floor_area_m2", "geometry"]
    assert fac["facility_id"].is_unique
    assert fac.groupby("category").size().to_dict() == {c: 40 for c in CATEGORIES}
    table = load_standards()
    below = 0
    for category in CATEGORIES:
        check = default_check(table, category)
        rows = fac[fac["category"] == category]
        assert (rows["subcategory"] == check.subcategory).all()
        area = rows["floor_area_m2"].to_numpy()
        assert (area > 0).all()
        if check.min_building_m2:
            assert area.min() >= 0.6 * check.min_building_m2 and area.max() <= 2.1 * check.min_building_m2
            below += int((area < check.min_building_m2).sum())
    assert below > 0  # some facilities are smaller than the standard
    _, d = city.network.tree.query_nearest(fac.geometry.values, return_distance=True, all_matches=False)
    assert d.max() <= 30.0


def test_written_city_runs_through_the_network_analysis(city, tmp_path):
    paths = city.write(tmp_path / "city")
    assert sorted(p.name for p in paths.values()) == ["communities.gpkg", "demand.csv", "facilities.csv",
                                                       "streets.gpkg"]
    demand_csv = pd.read_csv(paths["demand"])
    assert {"lon", "lat", "population", "demand_id"} <= set(demand_csv.columns)
    assert demand_csv["lon"].between(116, 118).all() and demand_csv["lat"].between(39, 41).all()  # WGS84, Beijing
    analysis = analyze(communities=paths["communities"], facilities=[paths["facilities"]], demand=paths["demand"],
                       network=paths["network"])
    assert analysis.settings["distance"] == "network"
    assert analysis.surveyed == list(CATEGORIES)
    assert len(analysis.communities) == len(city.communities)
    assert len(analysis.demand) == len(city.demand)
    assert analysis.demand["community_id"].notna().all()
    # the analysis puts every home in the community the generator counted it in
    got = dict(zip(analysis.communities["community_id"], analysis.communities["population"]))
    want = dict(zip(city.communities["community_id"], city.communities["population"].astype(float)))
    assert got == want
    assert analysis.demand.groupby("community_id")["weight"].sum().sum() == city.demand["population"].sum()
    assert analysis.warnings.empty  # every home and facility used, none too far from a street
    homes = analysis.demand.geometry.values
    for category in CATEGORIES:
        walk = analysis.demand[f"dist_{category}_m"].to_numpy()
        crow, _ = nearest_distance(homes, analysis.facilities.loc[analysis.facilities["category"] == category,
                                                                  "geometry"].values)
        reached = np.isfinite(walk)
        assert reached.mean() > 0.3
        assert (walk[reached] >= crow[reached] - 1e-6).all()  # never shorter than the straight line
    assert analysis.service_areas is not None and len(analysis.service_areas) > 0


def test_argument_checks():
    with pytest.raises(ValueError):
        synthetic_city(n_nodes_side=1)
    with pytest.raises(ValueError):
        synthetic_city(block_side=0)
