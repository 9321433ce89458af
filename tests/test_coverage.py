"""Coverage and gaps on the 3×3 grid of 500 m blocks (see conftest.py) — every number checkable by hand.

Block centres are 500 m apart. School A sits at the centre of C22, school B at the centre of C33; the primary
school radius is 500 m. Centre-to-centre: A reaches C12, C21, C23, C32 at exactly 500 m (covered: ≤ radius)
and the corner blocks at 707 m (not); B reaches C23 and C32 at 500 m and C13/C31 at 1000 m.
"""
from __future__ import annotations

import math

import geopandas as gpd
import pandas as pd
import numpy as np
import pytest
import shapely

from conftest import CRS, centre
from geofacility.coverage import compute_coverage, select_checks
from geofacility.demand import spread_population
from geofacility.standards import CATEGORIES, load_standards


@pytest.fixture
def table():
    return load_standards()


def centre_demand(communities):
    """One demand point at each block centre carrying the block's population."""
    return gpd.GeoDataFrame(
        {"demand_id": communities["community_id"], "community_id": communities["community_id"],
         "weight": communities["population"]},
        geometry=communities.geometry.centroid.values, crs=CRS,
    )


def run(communities, demand, facilities, table, **kw):
    checks = select_checks(facilities, table, sorted(set(facilities["category"])))
    out, dem = compute_coverage(communities, demand, facilities, checks, **kw)
    return out.set_index("community_id"), dem, checks


def test_centre_points_covered_within_500m(grid_communities, grid_facilities, table):
    out, dem, checks = run(grid_communities, centre_demand(grid_communities), grid_facilities, table)
    assert [c.subcategory for c in checks] == ["primary_school"]
    share = out["education_covered_share"]
    covered = {"C22", "C12", "C21", "C23", "C32", "C33"}
    for cid in out.index:
        assert share[cid] == (1.0 if cid in covered else 0.0), cid
    # distances pinned: C11 centre to A is 500·√2
    assert dem.set_index("demand_id").loc["C11", "dist_education_m"] == pytest.approx(500 * math.sqrt(2))
    assert dem.set_index("demand_id").loc["C33", "dist_education_m"] == pytest.approx(0.0)
    # uncovered people: C11 1000 + C31 3000 + C13 7000 = 11 000 of 45 000
    assert out["education_uncovered_population"].sum() == pytest.approx(11_000)
    assert (out.loc[["C11", "C13", "C31"], "education_status"] == "gap").all()
    # no resident of C11 is within 500 m of a school, so no school counts for it (issue 14: a school counts only
    # where it covers somebody; it used to count A, 354 m from C11's corner, and read 覆盖率 0% with 现有 1 处)
    assert out.loc["C11", "education_problem"] == "覆盖率 0%，缺 1 处"
    assert (out.loc[list(covered), "education_status"] == "ok").all()


def test_other_categories_not_surveyed(grid_communities, grid_facilities, table):
    out, _, _ = run(grid_communities, centre_demand(grid_communities), grid_facilities, table)
    for category in CATEGORIES:
        if category == "education":
            continue
        assert (out[f"{category}_status"] == "not_surveyed").all()
        assert out[f"{category}_covered_share"].isna().all()
        assert (out[f"{category}_problem"] == "未调查").all()
    assert out.loc["C11", "n_categories_short"] == 1
    assert out.loc["C22", "n_categories_short"] == 0


def test_spread_demand_gives_quarter_shares(grid_communities, grid_facilities, table):
    """With a 250 m grid each block holds four points at 125/375 m offsets. In C12 (west column, middle row) the two
    eastern points are √(375²+125²)=395 m from A (covered), the two western ones 637 m (not): share 0.5. In C11 the nearest point
    is 530 m from A: share 0."""
    demand = spread_population(grid_communities, cell_m=250)
    assert len(demand) == 36
    weights = demand.groupby("community_id")["weight"].sum()
    assert weights.to_dict() == pytest.approx(grid_communities.set_index("community_id")["population"].to_dict())
    out, _, _ = run(grid_communities, demand, grid_facilities, table)
    assert out.loc["C12", "education_covered_share"] == pytest.approx(0.5)
    assert out.loc["C12", "education_covered_population"] == pytest.approx(2000)  # C12 has 4000 people
    assert out.loc["C11", "education_covered_share"] == 0.0
    assert out.loc["C22", "education_covered_share"] == 1.0
    assert out.loc["C33", "education_covered_share"] == 1.0
    assert out.loc["C12", "education_problem"] == "覆盖率 50%"


def test_reach_count_and_coverage_target(grid_communities, grid_facilities, table):
    """Primary schools serve a 10-minute level (reach scope): schools within 500 m of at least one resident of the
    community count — the residents and radius of the covered share (issue 14: it used to be 500 m of the block
    polygon, so that a corner block read 现有 1 处 with 覆盖率 0%). The residents are at the block centres: A (C22)
    is 500 m from C12, C21, C23, C32, 707 m from the corner blocks; B (C33) 500 m from C23 and C32, 707 m from C22.
    """
    out, _, _ = run(grid_communities, centre_demand(grid_communities), grid_facilities, table)
    assert (out["education_required_count"] == 1).all()
    expected = {"C11": 0, "C12": 1, "C21": 1, "C13": 0, "C31": 0, "C22": 1, "C23": 2, "C32": 2, "C33": 1}
    assert out["education_current_count"].to_dict() == expected
    assert out["education_count_gap"].to_dict() == {k: 1 - min(v, 1) for k, v in expected.items()}
    # a school counts exactly where somebody is covered
    assert ((out["education_current_count"] > 0) == (out["education_covered_share"] > 0)).all()
    assert out["education_gap_m2"].isna().all()  # reach scope: no per-community floor area
    relaxed, _, _ = run(grid_communities, centre_demand(grid_communities), grid_facilities, table,
                        coverage_target=0.5)
    assert relaxed.loc["C11", "education_status"] == "gap"  # share 0 < 0.5


def test_community_scope_floor_area_and_minimum_size(grid_communities, table):
    """Kindergartens (5-minute level, ≥3150 m² each, one per ≤12 000 people) are counted inside the block.
    C22 has one of 3000 m²: below the minimum, so it does not count (缺 1 处) and the area gap is 150 m².
    C33 has one of 4000 m²: counts, no area gap. C11 has none: 缺 1 处 and 3150 m² short."""
    kg = gpd.GeoDataFrame(
        {"facility_id": ["K1", "K2"], "name": ["园1", "园2"], "category": ["education"] * 2,
         "subcategory": ["kindergarten"] * 2, "floor_area_m2": [3000.0, 4000.0]},
        geometry=[shapely.Point(centre(2, 2)), shapely.Point(centre(3, 3))], crs=CRS,
    )
    out, _, checks = run(grid_communities, centre_demand(grid_communities), kg, table)
    assert checks[0].subcategory == "kindergarten" and checks[0].scope == "community"
    assert out.loc["C22", "education_current_count"] == 0
    assert out.loc["C22", "education_count_gap"] == 1
    assert out.loc["C22", "education_current_m2"] == 3000
    assert out.loc["C22", "education_gap_m2"] == pytest.approx(150)
    assert out.loc["C33", "education_gap_m2"] == 0 and out.loc["C33", "education_count_gap"] == 0
    assert out.loc["C11", "education_required_m2"] == 3150
    assert out.loc["C11", "education_gap_m2"] == 3150
    assert out.loc["C11", "education_problem"] == "覆盖率 0%，缺 1 处，面积缺口 3,150 m²"


def test_per_household_rule_and_town_scope(grid_communities, table):
    """Community rooms (national): 30 m² per 100 households. C11 has 400 households → 120 m² required.
    One 200 m² room in C11 closes it; C21 (800 households → 240 m²) has none."""
    rooms = gpd.GeoDataFrame(
        {"facility_id": ["R1"], "name": ["活动室"], "category": ["community_service"], "subcategory": [None],
         "floor_area_m2": [200.0]},
        geometry=[shapely.Point(centre(1, 1))], crs=CRS,
    )
    out, _, checks = run(grid_communities, centre_demand(grid_communities), rooms, table)
    assert checks[0].subcategory == "community_rooms_national"
    assert out.loc["C11", "community_service_required_m2"] == pytest.approx(120)
    assert out.loc["C11", "community_service_gap_m2"] == 0
    assert out.loc["C11", "community_service_status"] == "ok"
    assert out.loc["C21", "community_service_gap_m2"] == pytest.approx(240)
    # no radius in this standard: a community's people are covered when it meets the rule (issue 14: the share
    # used to be NaN, and the figures read 0 people not covered)
    assert np.isnan(out.loc["C21", "community_service_radius_m"])
    assert out.loc["C11", "community_service_covered_share"] == 1.0
    assert out.loc["C11", "community_service_covered_population"] == 1000
    assert out.loc["C21", "community_service_covered_share"] == 0.0
    assert out.loc["C21", "community_service_uncovered_population"] == 2000
    assert out.loc["C21", "community_service_problem"] == "缺 1 处，面积缺口 240 m²"  # no 覆盖率 without a radius


def test_facilities_outside_the_study_area_count(grid_communities, table):
    """A school 200 m east of the grid's east edge, level with the middle row, is 450 m from the centre of C32
    (covered), √(450² + 500²) = 673 m from C33's and C31's (not), 950 m from C22's (not)."""
    x = 440_000.0 + 1500 + 200
    outside = gpd.GeoDataFrame(
        {"facility_id": ["X"], "name": ["外部学校"], "category": ["education"], "subcategory": ["primary_school"],
         "floor_area_m2": [float("nan")]},
        geometry=[shapely.Point(x, centre(3, 2)[1])], crs=CRS,
    )
    out, _, _ = run(grid_communities, centre_demand(grid_communities), outside, table)
    assert out.loc["C32", "education_covered_share"] == 1.0
    assert out.loc["C33", "education_covered_share"] == 0.0
    assert out.loc["C31", "education_covered_share"] == 0.0
    assert out.loc["C22", "education_covered_share"] == 0.0  # 950 m


def test_street_level_standard_is_counted_per_town(grid_communities, table):
    """Elderly canteens are a street-level standard (≥1 per 街道, ≥50 m² dining area). One of 60 m² in C11
    serves 东街道 (columns 1–2); 西街道 (column 3) has none: 缺 1 处 and 50 m² short, on each of its rows."""
    canteen = gpd.GeoDataFrame(
        {"facility_id": ["T1"], "name": ["老年食堂"], "category": ["canteen"], "subcategory": ["elderly_canteen"],
         "floor_area_m2": [60.0]},
        geometry=[shapely.Point(centre(1, 1))], crs=CRS,
    )
    out, _, checks = run(grid_communities, centre_demand(grid_communities), canteen, table)
    assert checks[0].scope == "town"
    east = out[out["town"] == "东街道"]
    west = out[out["town"] == "西街道"]
    assert (east["canteen_status"] == "ok").all() and (east["canteen_current_m2"] == 60).all()
    assert (west["canteen_status"] == "gap").all()
    assert (west["canteen_count_gap"] == 1).all() and (west["canteen_gap_m2"] == 50).all()
    assert west["canteen_problem"].iloc[0] == "（街道级）缺 1 处，面积缺口 50 m²"


def test_several_checks_of_one_category_combine(grid_communities, grid_facilities, table):
    """Primary schools (reach scope, no floor-area rule) and a kindergarten of 3000 m² in C22 (below the
    3150 m² minimum): the category's area gap is the kindergarten's, not blanked by the school check; the
    status is a gap wherever either check falls short; counts add up."""
    kg = gpd.GeoDataFrame(
        {"facility_id": ["K1"], "name": ["园1"], "category": ["education"], "subcategory": ["kindergarten"],
         "floor_area_m2": [3000.0]},
        geometry=[shapely.Point(centre(2, 2))], crs=CRS,
    )
    both = pd.concat([grid_facilities, kg], ignore_index=True)
    out, dem, checks = run(grid_communities, centre_demand(grid_communities), both, table)
    assert [c.subcategory for c in checks] == ["kindergarten", "primary_school"]
    assert out.loc["C22", "education_gap_m2"] == pytest.approx(150)
    assert out.loc["C22", "education_required_count"] == 2  # one kindergarten + one school within reach
    assert out.loc["C22", "education_status"] == "gap"  # the kindergarten is too small
    assert out.loc["C22", "education_problem"] == "幼儿园缺 1 处，面积缺口 150 m²"
    assert "dist_education_primary_school_m" in dem.columns


def test_whole_people_keep_the_identities():
    """People are written whole (ledger, totals, per standard) and the parts derived from the rounded whole:
    1,000.4 people of whom 333.5 covered (half to even: 334) and 200.6 served (201) → 1,000 people, 666 not
    covered and out of reach, 133 over capacity; unknown stays unknown."""
    from geofacility.coverage import whole_people

    whole = whole_people(np.array([1000.4, 500.0]), np.array([333.5, np.nan]), np.array([200.6, np.nan]))
    assert whole["population"].tolist() == [1000, 500]
    assert whole["covered_population"][0] == 334 and whole["served_population"][0] == 201
    assert whole["uncovered_population"][0] == whole["out_of_reach_population"][0] == 666
    assert whole["over_capacity_population"][0] == 133
    assert np.isnan(whole["uncovered_population"][1]) and np.isnan(whole["over_capacity_population"][1])
