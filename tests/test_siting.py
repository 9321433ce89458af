"""Candidate rooms: evaluation and selection, on small worlds checkable by hand."""
from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import shapely

from conftest import CRS, X0, Y0
from geofacility.errors import InputError
from geofacility.read import read_candidates
from geofacility.pipeline import analyze
from geofacility.siting import (evaluate_candidates, greedy_mclp, select_sites, solve_lscp, solve_mclp,
                                solve_pmedian)


def _wgs(points):
    s = gpd.GeoSeries(points, crs=CRS).to_crs(4326)
    return s.x.to_numpy(), s.y.to_numpy()


@pytest.fixture
def line_world(tmp_path):
    """One community 400 m × 200 m; homes at x = 0, 100, 200, 300 m (y = 100) with 4, 5, 5, 4 people;
    no clinic yet; candidate rooms L, M, R at x = 50, 150, 250 m. With a 60 m radius L reaches the homes at 0
    and 100, M those at 100 and 200, R those at 200 and 300."""
    comm = gpd.GeoDataFrame({"community_id": ["A"], "community": ["甲社区"], "town": ["一街道"], "population": [18],
                             "households": [8]},
                            geometry=[shapely.box(X0 - 50, Y0, X0 + 350, Y0 + 200)], crs=CRS)
    comm.to_crs(4326).to_file(tmp_path / "c.geojson")
    lon, lat = _wgs([shapely.Point(X0 + x, Y0 + 100) for x in (0, 100, 200, 300)])
    pd.DataFrame({"demand_id": ["h0", "h1", "h2", "h3"], "population": [4, 5, 5, 4], "lon": lon, "lat": lat}) \
        .to_csv(tmp_path / "homes.csv", index=False)
    (tmp_path / "clinics.csv").write_text("name,lon,lat\n")
    lon, lat = _wgs([shapely.Point(X0 + x, Y0 + 100) for x in (50, 150, 250)])
    pd.DataFrame({"candidate_id": ["L", "M", "R"], "name": ["左", "中", "右"], "建筑面积": [200, 200, 200],
                  "可用类别": ["医疗", "医疗;养老", ""], "预审": ["是", "是", "是"], "lon": lon, "lat": lat}) \
        .to_csv(tmp_path / "rooms.csv", index=False)
    result = analyze(communities=tmp_path / "c.geojson", demand=tmp_path / "homes.csv",
                     facilities=[(tmp_path / "clinics.csv", "health")], radius={"health": 60})
    return result, read_candidates(tmp_path / "rooms.csv"), tmp_path


def test_exact_beats_greedy_where_greedy_is_not_optimal(line_world):
    analysis, rooms, _ = line_world
    study = evaluate_candidates(analysis, rooms, "health")
    assert study.candidates.set_index("candidate_id")["newly_covered_population"].to_dict() == {
        "L": 9, "M": 10, "R": 9}
    exact = select_sites(study, method="mclp", k=2)
    ids = study.candidates["candidate_id"].to_numpy()
    assert list(ids[exact.selected]) == ["L", "R"] and exact.objective == 18 and exact.status == "Optimal"
    # plain greedy takes M (10) first, then L (tie with R → L): 14, and its LP bound shows the gap
    rows = np.flatnonzero(study.uncovered)
    plain = greedy_mclp(study.coverage[rows], study.weights[rows], k=2, swaps=False)
    assert list(ids[plain.selected]) == ["L", "M"] and plain.covered_weight == 14
    assert plain.bound == pytest.approx(18) and plain.gap == pytest.approx(4 / 18)
    # the interchange step swaps M for R and reaches the optimum
    greedy = select_sites(study, method="greedy", k=2)
    assert list(ids[greedy.selected]) == ["L", "R"] and greedy.covered_weight == 18 and greedy.gap == 0


def test_rank_and_communities_served(line_world):
    analysis, rooms, _ = line_world
    cands = evaluate_candidates(analysis, rooms, "health").candidates.set_index("candidate_id")
    assert cands["rank"].to_dict() == {"M": 1, "L": 2, "R": 3}
    assert cands.loc["M", "communities_served"] == "A"
    assert bool(cands.loc["R", "hosts_category"])  # no categories listed: may host any


def test_lscp_and_uncoverable_people(line_world):
    analysis, rooms, _ = line_world
    study = evaluate_candidates(analysis, rooms, "health")
    lscp = select_sites(study, method="lscp")
    assert lscp.objective == 2 and lscp.uncoverable_weight == 0
    # with a 40 m radius nobody is within reach of a room (homes are 50 m from the nearest)
    a = sp.csr_matrix((4, 3), dtype=bool)
    assert solve_lscp(a, np.array([4, 5, 5, 4.0])).uncoverable_weight == 18


def test_unreviewed_room_excluded_unless_opted_in(line_world, tmp_path):
    analysis, rooms, _ = line_world
    rooms.loc[rooms["candidate_id"] == "M", "reviewed"] = False
    study = evaluate_candidates(analysis, rooms, "health")
    assert not study.candidates.set_index("candidate_id").loc["M", "selectable"]
    assert study.candidates.set_index("candidate_id").loc["M", "review_note"] == "未通过预审"
    k1 = select_sites(study, method="mclp", k=1)
    assert study.candidates["candidate_id"].iloc[k1.selected[0]] in ("L", "R") and k1.objective == 9
    opted = evaluate_candidates(analysis, rooms, "health", include_unreviewed=True)
    best = select_sites(opted, method="mclp", k=1)
    assert opted.candidates["candidate_id"].iloc[best.selected[0]] == "M" and best.objective == 10


def test_room_not_hosting_the_category_is_not_selectable(line_world):
    analysis, rooms, _ = line_world
    with pytest.raises(InputError, match="no standard applied"):
        evaluate_candidates(analysis, rooms, "elderly_care")


def test_budget_instead_of_k():
    a = sp.csr_matrix(np.array([[1, 0, 0], [1, 1, 0], [0, 1, 1], [0, 0, 1]], dtype=bool))
    w = np.array([4, 5, 5, 4.0])
    costs = np.array([3.0, 2.0, 3.0])
    # budget 5: L+M (cost 5, covers 14) or M+R (5, 14); L+R costs 6 > 5
    res = solve_mclp(a, w, budget=5, costs=costs)
    assert res.objective == 14 and costs[res.selected].sum() <= 5
    assert solve_mclp(a, w, budget=6, costs=costs).objective == 18


def test_pmedian_hand_checked():
    """Homes at 0, 100, 200, 300 (4, 5, 5, 4 people), rooms at 50, 150, 250; p = 2: {L, R} costs
    4·50 + 5·50 + 5·50 + 4·50 = 900 person-metres, {L, M} 4·50+5·50+5·50+4·150 = 1300."""
    pos_h = np.array([0, 100, 200, 300.0])
    pos_c = np.array([50, 150, 250.0])
    d = np.abs(pos_h[:, None] - pos_c[None, :])
    res = solve_pmedian(d, np.array([4, 5, 5, 4.0]), p=2)
    assert list(res.selected) == [0, 2] and res.objective == pytest.approx(900)
    # an existing facility at 300 stays open: then one new room at 50 or 150 … L: 4·50+5·50+5·100+0 = 950
    res = solve_pmedian(d, np.array([4, 5, 5, 4.0]), p=1, existing_distance=np.abs(pos_h - 300))
    assert list(res.selected) == [0] and res.objective == pytest.approx(4 * 50 + 5 * 50 + 5 * 100)


@pytest.fixture
def rooms_world(tmp_path, grid_communities):
    """Community rooms under Beijing's rule (≥ 350 m², the one-stop station ≥ 50 m² in one room) on the 3×3
    grid: C11 has a 400 m² room (meets); C21 has rooms of 200 and 160 m² (together 360: combine); C31 has one
    of 40 m² (too small for the station); C12 a 300 m² room alone (short of 350, nothing to combine with)."""
    grid_communities.to_crs(4326).to_file(tmp_path / "c.geojson")
    (tmp_path / "rooms_existing.csv").write_text("name,lon,lat\n")
    pts = [(250, 250), (700, 200), (800, 300), (1250, 250), (250, 750)]
    lon, lat = _wgs([shapely.Point(X0 + x, Y0 + y) for x, y in pts])
    pd.DataFrame({"candidate_id": ["R400", "R200", "R160", "R40", "R300"], "name": list("ABCDE"),
                  "floor_area_m2": [400, 200, 160, 40, 300], "categories": "community_service",
                  "reviewed": "yes", "lon": lon, "lat": lat}).to_csv(tmp_path / "rooms.csv", index=False)
    result = analyze(communities=tmp_path / "c.geojson", facilities=[(tmp_path / "rooms_existing.csv",
                                                                      "community_service")],
                     standard_choices={"community_service": ["community_rooms_beijing"]})
    return result, read_candidates(tmp_path / "rooms.csv")


def test_area_rule_station_and_combination(rooms_world):
    analysis, rooms = rooms_world
    cands = evaluate_candidates(analysis, rooms, "community_service").candidates.set_index("candidate_id")
    assert cands["area_rule"].to_dict() == {"R400": "meets", "R200": "combine", "R160": "combine",
                                            "R40": "too_small", "R300": "too_small", "R160+R200": "meets"}
    combined = cands.loc["R160+R200"]
    assert combined["floor_area_m2"] == 360 and combined["community_id"] == "C21"
    assert combined["area_note"] == "合并 2 间，合计 360 m² ≥ 350 m²"
    assert "需与本社区 R160 合并达到 350 m²（合计 360 m²）" in cands.loc["R200", "area_note"]
    assert "单间下限 50 m²" in cands.loc["R40", "area_note"]
    assert "本社区房源合计 300 m² < 350 m²" in cands.loc["R300", "area_note"]
    assert cands.loc["R400", "gap_closed_m2"] == 350  # C11 lacks all 350 m²; the room closes it
    # combinable rooms are selected together, as one unit, never alone
    assert cands["selectable"].to_dict() == {"R400": True, "R200": False, "R160": False, "R40": False,
                                             "R300": False, "R160+R200": True}


def test_selecting_rooms_closes_community_gaps(rooms_world):
    """k = 2 under Beijing's rule (no radius: a room serves its own community): the 400 m² room (C11, 1,000
    people) and the combined pair (C21, 2,000 people) — the ledger as if built shows both communities ok."""
    from geofacility.siting import with_sites

    analysis, rooms = rooms_world
    study = evaluate_candidates(analysis, rooms, "community_service")
    pick = select_sites(study, method="mclp", k=2)
    ids = sorted(study.candidates["candidate_id"].iloc[pick.selected])
    assert ids == ["R160+R200", "R400"] and pick.objective == 3000
    after = with_sites(analysis, study, pick).communities.set_index("community_id")
    assert after.loc["C11", "community_service_status"] == "ok"
    assert after.loc["C21", "community_service_status"] == "ok"
    assert after.loc["C21", "community_service_current_m2"] == 360
    assert after.loc["C12", "community_service_status"] == "gap"
    before = analysis.communities.set_index("community_id")
    assert (before["community_service_status"] == "gap").all()


def _brute_force_pmedian(d, w, p, fallback):
    """Every set of p candidates tried: the optimum a planner could check by enumeration."""
    from itertools import combinations

    best = (np.inf, None)
    for chosen in combinations(range(d.shape[1]), p):
        cost = float((w * np.minimum(d[:, list(chosen)].min(axis=1), fallback)).sum())
        if cost < best[0] - 1e-9:
            best = (cost, chosen)
    return best


@pytest.mark.parametrize("seed", range(8))
def test_pmedian_equals_enumeration(seed):
    """The decomposition's optimum equals exhaustive enumeration on small random worlds: ties (integer metres),
    unreachable pairs, existing facilities (every other seed), merged identical homes."""
    rng = np.random.default_rng(seed)
    n, m, p = 40, 9, 1 + seed % 4
    homes, cands = rng.integers(0, 2000, (n, 2)), rng.integers(0, 2000, (m, 2))
    homes[n // 2:n // 2 + 5] = homes[0]  # five homes in one building
    d = np.round(np.hypot(*(homes[:, None, :] - cands[None, :, :]).transpose(2, 0, 1)))
    d[rng.random(d.shape) < 0.15] = np.inf  # some pairs unreachable (a river, an OD table without them)
    d[:, 0] = np.where(np.isfinite(d[:, 0]), d[:, 0], 3000.0)  # everyone reaches candidate 0
    w = rng.integers(1, 50, n).astype(float)
    fallback = (np.round(rng.uniform(300, 1500, n)) if seed % 2 else np.full(n, np.inf))
    want, chosen = _brute_force_pmedian(d, w, p, fallback)
    got = solve_pmedian(d, w, p=p, existing_distance=None if seed % 2 == 0 else fallback)
    assert got.status == "Optimal" and got.gap == 0.0
    assert got.objective == pytest.approx(want, rel=1e-9)
    assert len(got.selected) == p
    cost = float((w * np.minimum(d[:, got.selected].min(axis=1), fallback)).sum())
    assert cost == pytest.approx(want, rel=1e-9)  # the selection costs what the solver says


def test_pmedian_time_limit_reports_its_bound():
    """Stopped by a time limit: the best selection found, its cost, and a lower bound no higher than it."""
    rng = np.random.default_rng(5)
    homes, cands = rng.uniform(0, 10_000, (600, 2)), rng.uniform(0, 10_000, (60, 2))
    d = np.hypot(*(homes[:, None, :] - cands[None, :, :]).transpose(2, 0, 1))
    w = rng.integers(1, 100, 600).astype(float)
    res = solve_pmedian(d, w, p=8, time_limit=0.05)  # far too short for this instance (about 0.3 s to optimality)
    assert res.status == "Time limit reached" and len(res.selected) == 8
    cost = float((w * d[:, res.selected].min(axis=1)).sum())
    assert res.objective == pytest.approx(cost)  # what the selection really costs
    assert 0 < res.bound <= res.objective and 0.0 < res.gap < 1.0
    full = solve_pmedian(d, w, p=8)
    assert res.bound <= full.objective <= res.objective  # the bound holds


def test_reasons_and_selectable_rooms_ranked_first(rooms_world):
    """Each room says, in Chinese, whether it can be taken and why not (Beijing: ≥ 350 m², the one-stop station
    ≥ 50 m² in one room); the rooms that can be taken rank above those that cannot."""
    analysis, rooms = rooms_world
    cands = evaluate_candidates(analysis, rooms, "community_service").candidates.set_index("candidate_id")
    assert cands["selectable_reason"].to_dict() == {
        "R400": "可选",
        "R200": "不可选：面积 200 m² 小于 350 m²，须与本社区房源合并（见合并房源行）",
        "R160": "不可选：面积 160 m² 小于 350 m²，须与本社区房源合并（见合并房源行）",
        "R40": "不可选：面积 40 m² 小于一门式服务站单间下限 50 m²",
        "R300": "不可选：面积 300 m² 小于 350 m²",
        "R160+R200": "可选",
    }
    ranks = cands["rank"]
    assert sorted(ranks[cands["selectable"]]) == [1, 2]  # both selectable units first
    assert sorted(ranks[~cands["selectable"]]) == [3, 4, 5, 6]


def test_reasons_category_and_pre_review(line_world):
    """A room whose categories exclude the one sited, one that failed pre-review and one of unknown status:
    every reason that applies, joined by ；. Rooms taken in with --include-unreviewed say so."""
    analysis, _, d = line_world
    pd.read_csv(d / "rooms.csv").assign(可用类别=["养老", "医疗", ""], 预审=["否", "", "是"]) \
        .to_csv(d / "rooms2.csv", index=False)
    rooms = read_candidates(d / "rooms2.csv")
    cands = evaluate_candidates(analysis, rooms, "health").candidates.set_index("candidate_id")
    assert cands["selectable_reason"].to_dict() == {
        "L": "不可选：可用类别为养老，不含医疗卫生；未通过预审（否）",
        "M": "不可选：预审状态未知",
        "R": "可选",
    }
    assert list(cands.sort_values("rank").index) == ["R", "M", "L"]
    opted = evaluate_candidates(analysis, rooms, "health", include_unreviewed=True).candidates
    assert opted.set_index("candidate_id").loc["M", "selectable_reason"] == "可选（预审状态未知，按 --include-unreviewed 纳入）"


def test_no_pre_review_column_is_not_a_criterion(line_world, tmp_path):
    """A rooms file without any 预审 column (spopt's candidate files): the rooms are not held back, and the
    warnings and the reason say that pre-review was not checked; with the column, a blank cell is unknown."""
    from geofacility.errors import WarningLog

    analysis, _, d = line_world
    frame = pd.read_csv(d / "rooms.csv").drop(columns="预审")
    frame.to_csv(d / "rooms_no_review.csv", index=False)
    log = WarningLog()
    rooms = read_candidates(d / "rooms_no_review.csv", log=log)
    assert any("房源表无预审列：未核对安全预审" in m for m in log.to_frame()["message_zh"])
    cands = evaluate_candidates(analysis, rooms, "health").candidates.set_index("candidate_id")
    assert cands["selectable"].all()
    assert set(cands["selectable_reason"]) == {"可选（房源表无预审列，未核对预审）"}
    frame.assign(预审=["", "是", "是"]).to_csv(d / "rooms_blank.csv", index=False)
    blank = evaluate_candidates(analysis, read_candidates(d / "rooms_blank.csv"), "health").candidates
    assert blank.set_index("candidate_id").loc["L", "selectable_reason"] == "不可选：预审状态未知"
