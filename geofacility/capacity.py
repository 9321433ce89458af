"""Capacity-aware provision: who is served within a facility's capacity, who is within reach of one that is full,
and who is out of reach.

Coverage (:mod:`geofacility.coverage`) asks only whether a facility is near. Here each facility also has a
**capacity**, counted in residents it can serve, taken in this order:

1. the facility's own ``capacity`` column (容量/服务人口), residents served;
2. its floor area ÷ the standard's floor area per resident (``per_1000_building_m2`` / 1000, or
   ``per_100hh_building_m2`` / 100 per household with the study's people per household);
3. the upper bound of the population the standard says one such facility serves (``serves_population``,
   e.g. 25,000 residents for a primary school, GB 50180);
4. otherwise unknown: the category's capacity split is not computed and a warning says so.

Demand is allocated to the facilities within the service radius (straight line or on foot, the study's measure)
by one of two documented methods:

``allocate`` (default) — a transport problem solved exactly with HiGHS: the most people that can be served within
   every facility's capacity and radius (max flow), then, among those allocations, the one with the least total
   distance (each facility fills with its nearest residents first). Homes of one community that reach exactly the
   same facilities are one class in it (their people summed, their distances people-weighted means), and the
   problem falls apart into the connected components of the class ↔ facility graph, each solved on its own
   (:mod:`geofacility.allocation`, the steps a batch spreads over its groups): from millions of pairs to
   thousands, with the same most people served; a class's seats then go to its homes nearest to the facilities it
   was allocated. The people it reports over capacity are people no assignment can seat.

``2sfca`` — the two-step floating catchment area method (Luo & Wang 2003): each facility's supply ratio
   Rⱼ = Sⱼ / Σ Dᵢ over the demand within its radius, and each home's access Aᵢ = Σ Rⱼ over the facilities within
   its radius. A home with Aᵢ ≥ 1 is served in full; with Aᵢ < 1 the share Aᵢ of its people is served and the
   rest is *within reach but over capacity*. The people served never exceed the capacity in total
   (Σ Dᵢ·min(1, Aᵢ) ≤ Σ Dᵢ·Aᵢ = Σ Sⱼ). The Aᵢ equal PySAL ``access``'s ``two_stage_fca`` (a test checks 1e-9).
   2SFCA is an index of relative access: a facility that is full spreads its shortfall over every home in its
   catchment, even homes that a second facility nearby could seat, so it reports more people over capacity
   than ``allocate`` (Xicheng primary schools: 89,752 against 38,931) — use it to compare with studies that used
   2SFCA, not to count unseated people.

Per community (summed over its demand points and scaled to its population, like coverage): ``served``,
``over_capacity`` (within reach of a facility of the category, but the facilities in reach are full) and
``out_of_reach``. Per facility: capacity, where it came from, the demand within its radius and its load
(demand ÷ capacity for 2SFCA; allocated ÷ capacity for ``allocate``).
"""
from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd

from .allocation import allocate, demand_classes, seat_homes, solve_classes
from .errors import InputError, WarningLog
from .reach import reach_pairs
from .read.files import available_memory
from .standards import CATEGORY_SHORT_ZH, Check

__all__ = [
    "METHODS",
    "CAPACITY_METRICS",
    "CapacityResult",
    "facility_capacity",
    "two_step_fca",
    "allocate",
    "capacity_split",
    "capacity_columns",
    "facilities_with_load",
    "reach_pairs",
    "apply_capacity",
    "study_capacity",
    "group_capacity",
    "unknown_capacity_warning",
    "split_tables",
    "FACILITY_LOAD_COLUMNS",
]

METHODS = ("2sfca", "allocate")
#: columns per category added to the communities (``<category>_<metric>``)
CAPACITY_METRICS = ("served_population", "over_capacity_population", "out_of_reach_population")
STATE_ZH = {"served": "容量内可服务", "over_capacity": "可达但超容量", "out_of_reach": "服务半径外"}


def facilities_with_load(facilities: pd.DataFrame, load: pd.DataFrame | None) -> pd.DataFrame:
    """The facilities with their capacity split columns (from ``Analysis.facility_load``): ``capacity_residents``,
    ``capacity_source``, ``demand_in_reach``, ``allocated``, ``load`` — unchanged when there is none."""
    if load is None or not len(load):
        return facilities
    extra = load[["facility_id", "capacity", "capacity_source", "demand_in_reach", "allocated", "load"]]
    return facilities.merge(extra.rename(columns={"capacity": "capacity_residents"}), on="facility_id", how="left")


def capacity_columns(category: str) -> list[str]:
    """The capacity columns of one category as the ledger writes them: ``<category>_served_population``,
    ``_over_capacity_population`` and ``_out_of_reach_population`` (residents)."""
    return [f"{category}_{m}" for m in CAPACITY_METRICS]


def facility_capacity(facilities: pd.DataFrame, check: Check, *, people_per_household: float | None = None
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Capacity of each facility in residents served, and where each figure came from (``data``, ``floor area``,
    ``standard``, or ``unknown`` with NaN)."""
    n = len(facilities)
    cap = np.full(n, np.nan)
    source = np.full(n, "unknown", dtype=object)
    if "capacity" in facilities.columns:
        given = pd.to_numeric(facilities["capacity"], errors="coerce").to_numpy(dtype="float64")
        ok = np.isfinite(given) & (given >= 0)
        cap[ok], source[ok] = given[ok], "data"
    area = (pd.to_numeric(facilities["floor_area_m2"], errors="coerce").to_numpy(dtype="float64")
            if "floor_area_m2" in facilities.columns else np.full(n, np.nan))
    per_person = None
    if check.per_1000_building_m2:
        per_person = check.per_1000_building_m2 / 1000.0
    elif check.per_100hh_building_m2 and people_per_household:
        per_person = check.per_100hh_building_m2 / 100.0 / people_per_household
    if per_person:
        todo = np.isnan(cap) & np.isfinite(area) & (area > 0)
        cap[todo], source[todo] = area[todo] / per_person, "floor area"
    if check.serves_population:
        todo = np.isnan(cap)
        cap[todo], source[todo] = check.serves_population, "standard"
    return cap, source


def two_step_fca(d_idx: np.ndarray, f_idx: np.ndarray, demand: np.ndarray, supply: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The two-step floating catchment area method on (demand, facility) pairs within reach.

    Returns ``access`` (Aᵢ per demand point, 0 where no facility is in reach), ``ratio`` (Rⱼ per facility, NaN
    where nobody is in reach) and ``catchment`` (the demand within each facility's reach).
    """
    demand = np.asarray(demand, dtype="float64")
    supply = np.asarray(supply, dtype="float64")
    catchment = np.bincount(f_idx, weights=demand[d_idx], minlength=len(supply))
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(catchment > 0, supply / catchment, np.nan)
    access = np.bincount(d_idx, weights=np.nan_to_num(ratio[f_idx]), minlength=len(demand))
    return access, ratio, catchment


@dataclass
class CapacityResult:
    """One category's capacity split."""

    category: str
    check: Check
    method: str
    communities: pd.DataFrame  # community_id, served/over_capacity/out_of_reach population, capacity in community
    facilities: pd.DataFrame  # facility_id, name, capacity, capacity_source, demand_in_reach, allocated, load
    demand_state: pd.DataFrame  # per demand point: served, over_capacity, out_of_reach people (demand weights)


#: bytes per (home, facility) pair within reach while the split is computed (indexes, distances, sparse matrix)
BYTES_PER_PAIR = 120


def _expected_pairs(demand: gpd.GeoDataFrame, fac: gpd.GeoDataFrame, radius: float) -> float:
    """(home, facility) pairs within ``radius`` if both were spread evenly over the homes' bounding box: an
    estimate made before the pairs are listed, to refuse what would not fit in memory."""
    if not len(demand) or not len(fac):
        return 0.0
    minx, miny, maxx, maxy = demand.total_bounds
    area = max((maxx - minx + 2 * radius) * (maxy - miny + 2 * radius), 1.0)
    return len(demand) * len(fac) * min(1.0, np.pi * radius * radius / area)


def _reach_pairs(analysis, fac: gpd.GeoDataFrame, radius: float, category: str, cache: dict | None = None):
    """The (home, facility, metres) pairs within ``radius``; ``cache``: pairs already listed by the measure, the
    radius and the facilities (two standards of a category with the same facilities and radius share them)."""
    measure = (getattr(analysis, "category_measures", None) or {}).get(category, analysis.measure)
    key = (id(measure), float(radius), tuple(fac["facility_id"].astype(str)))
    if cache is not None and key in cache:
        return cache[key]
    if getattr(measure, "by_id", False):  # an OD cost table: the facilities by their ids
        from .costs import cost_ids

        pairs = measure.pairs(cost_ids(fac), radius)
    else:
        pairs = reach_pairs(measure, analysis.demand.geometry.values, fac.geometry.values, radius,
                            snapped=getattr(measure, "demand", None))
    if cache is not None:
        cache[key] = pairs
    return pairs


def unknown_capacity_warning(unknown: pd.DataFrame, check: Check, log: WarningLog) -> None:
    """The warning for each facility of ``check`` whose capacity is unknown (its category's split is then not
    computed)."""
    category = check.category
    for file, row in zip(unknown["source_file"], unknown["source_row"]):
        log.add(file, row, f"{category}: no capacity for this facility (no capacity column, no floor area with a "
                           f"per-resident standard, and {check.subcategory} names no population served); the "
                           "capacity split of the category is not computed — add a capacity (容量, residents) "
                           "column",
                zh=f"{CATEGORY_SHORT_ZH.get(category, category)}：该设施没有容量（无容量列，无可按人均标准折算的建筑面积，"
                   "标准也未给出服务人口）；该类别不计算容量分配——请添加容量（服务人数）列")


def split_tables(comm, demand, fac, check: Check, d_idx, served, access, cap, source, catchment, ratio, allocated,
                 load, *, all_communities=None) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """A capacity split's tables from the people served at each home: per home (served, over capacity, out of
    reach, access), per community (scaled to its population, as coverage is) and per facility — the tail both a
    whole analysis (:func:`capacity_split`) and a batch group (:mod:`geofacility.capacity_groups`) share.
    ``all_communities``: the whole study's, where ``comm`` are a group's (a facility lies in one of them)."""
    from .coverage import containing_community

    category = check.category
    weight = demand["weight"].to_numpy(dtype="float64")
    reached = np.zeros(len(demand), dtype=bool)
    reached[d_idx] = True
    served = np.where(reached, served, 0.0)
    over = np.where(reached, weight - served, 0.0)
    out = np.where(reached, 0.0, weight)
    state = pd.DataFrame({"demand_id": demand["demand_id"].to_numpy(), "served": served, "over_capacity": over,
                          "out_of_reach": out, "access": access})

    # per community: shares of its demand, scaled to its population (as coverage does)
    ids = comm["community_id"].to_numpy()
    codes = pd.Index(ids).get_indexer(demand["community_id"]).astype(np.int64)  # −1: in no community
    ok = codes >= 0
    total = np.bincount(codes[ok], weights=weight[ok], minlength=len(ids))
    population = comm["population"].fillna(0).to_numpy(dtype="float64")

    def scaled(values):
        summed = np.bincount(codes[ok], weights=values[ok], minlength=len(ids))
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(total > 0, summed / total * population, np.nan)

    whole = comm if all_communities is None else all_communities
    w_ids = whole["community_id"].to_numpy()
    fac_comm = containing_community(whole, fac)
    inside = fac_comm >= 0
    cap_in = pd.Series(np.bincount(fac_comm[inside], weights=cap[inside], minlength=len(w_ids)), index=w_ids
                       ).reindex(ids).to_numpy(dtype="float64")
    communities = pd.DataFrame({
        "community_id": ids,
        "served_population": scaled(served),
        "over_capacity_population": scaled(over),
        "out_of_reach_population": scaled(out),
        "capacity": cap_in,
    })
    facilities = pd.DataFrame({
        "facility_id": fac["facility_id"].to_numpy(),
        "name": fac["name"].to_numpy(),
        "category": category,
        "subcategory": check.subcategory,
        "capacity": cap,
        "capacity_source": source,
        "demand_in_reach": catchment,
        "supply_ratio": ratio,
        "allocated": allocated,
        "load": load,
        "community_id": np.where(inside, w_ids[np.clip(fac_comm, 0, None)], None),
    })
    return state, communities, facilities


def capacity_split(analysis, category: str, *, method: str = "allocate", log: WarningLog | None = None,
                   time_limit: float | None = None, check: Check | None = None, pairs_cache: dict | None = None
                   ) -> CapacityResult | None:
    """The served / over-capacity / out-of-reach split of one category in an analysis (None when the category has
    no service radius, or capacities are unknown: then ``log`` says why).

    ``check``: which of the category's standards in ``analysis.checks`` (default its first); its facilities are
    those :func:`geofacility.coverage.facility_checks` gives it among them. ``pairs_cache``: a dict kept across
    the calls of one analysis, so that standards with the same facilities and radius list their pairs once."""
    from .coverage import facility_checks

    if method not in METHODS:
        raise InputError(f"--capacity-method {method}: use one of {', '.join(METHODS)}")
    log = log if log is not None else WarningLog()
    checks = [c for c in analysis.checks if c.category == category]
    if not checks:
        return None
    check = check if check is not None else checks[0]
    if not check.radius_m:  # floor-area rules of the community itself: nothing to share (columns stay empty)
        return None
    fac = analysis.facilities.loc[facility_checks(analysis.facilities, analysis.checks)[check]]
    # facility_id order (and demand_id order below): the allocation does not depend on the input's row order
    fac = fac.iloc[np.argsort(fac["facility_id"].astype(str).to_numpy(), kind="stable")].reset_index(drop=True)
    comm = analysis.communities
    pop, hh = comm["population"].sum(), comm["households"].sum(min_count=1)
    people_per_household = float(pop / hh) if hh and hh > 0 else None
    cap, source = facility_capacity(fac, check, people_per_household=people_per_household)
    if np.isnan(cap).any():
        unknown_capacity_warning(fac.loc[np.isnan(cap)], check, log)
        return None
    demand = analysis.demand
    weight = demand["weight"].to_numpy(dtype="float64")
    pairs = _expected_pairs(demand, fac, check.radius_m)
    free = available_memory()
    if free is not None and pairs * BYTES_PER_PAIR > free / 2:
        log.add("capacity", None, f"{category}: about {pairs:,.0f} (home, facility) pairs lie within {check.radius_m:g} m "
                                  f"— more than memory allows ({free / 1e9:.1f} GB available); the capacity split "
                                  "is not computed (coverage is); use a smaller radius or run per town "
                                  "(geofacility batch)",
                zh=f"{CATEGORY_SHORT_ZH.get(category, category)}：{check.radius_m:g} m 内约有 {pairs:,.0f} 对（住户，设施），"
                   f"超出内存所能容纳（可用 {free / 1e9:.1f} GB）；不计算容量分配（覆盖率照常计算）；请减小半径或按街道分批运行"
                   "（geofacility batch）")
        return None
    d_idx, f_idx, dist = _reach_pairs(analysis, fac, check.radius_m, category, pairs_cache)
    access, ratio, catchment = two_step_fca(d_idx, f_idx, weight, cap)
    reached = np.zeros(len(demand), dtype=bool)
    reached[d_idx] = True
    if method == "2sfca":
        served = weight * np.minimum(1.0, access)
        allocated = np.full(len(fac), np.nan)
        with np.errstate(divide="ignore", invalid="ignore"):
            load = np.where(cap > 0, catchment / cap, np.where(catchment > 0, np.inf, 0.0))
    else:
        # the three steps a batch runs on its groups (geofacility.allocation), here on the whole analysis
        # homes in demand_id order (what home_id= does), sorted once for all the checks of the analysis
        key = ("demand_id order", id(demand))
        cache = pairs_cache if pairs_cache is not None else {}
        if key not in cache:
            order = np.argsort(demand["demand_id"].astype(str).to_numpy(), kind="stable")
            rank = np.empty(len(order), dtype=np.int64)
            rank[order] = np.arange(len(order))
            cache[key] = (order, rank, demand["community_id"].to_numpy(dtype=object)[order])
        order, rank, community = cache[key]
        fids = fac["facility_id"].astype(str).to_numpy()
        classes = demand_classes(rank[d_idx], f_idx, dist, weight[order], community, fids)
        solved = solve_classes(classes.table, pd.Series(cap, index=fids), time_limit=time_limit)
        served = seat_homes(classes, solved.classes)[rank]
        allocated = solved.allocated.reindex(fids).to_numpy(dtype="float64")
        with np.errstate(divide="ignore", invalid="ignore"):
            load = np.where(cap > 0, allocated / cap, 0.0)
    state, communities, facilities = split_tables(comm, demand, fac, check, d_idx, served, access, cap, source,
                                                  catchment, ratio, allocated, load)
    return CapacityResult(category=category, check=check, method=method, communities=communities,
                          facilities=facilities, demand_state=state)


def study_capacity(study, *, method: str = "allocate", log: WarningLog | None = None, progress=None
                   ) -> dict[str, CapacityResult]:
    """The capacity split of every check with a radius (keyed ``(category, subcategory)``) of a whole
    :class:`~geofacility.study.Study`, before a
    batch splits it by town: facilities near a town's border are shared with the next town's residents, so the
    allocation must see all of them. Each group then takes its communities' figures (:func:`apply_capacity`
    with ``precomputed``)."""
    from types import SimpleNamespace

    from .distance import StraightLineDistance

    step = progress or (lambda message: None)
    measure = study.walk if study.walk is not None else StraightLineDistance(study.demand.geometry.values)
    view = SimpleNamespace(checks=study.checks, facilities=study.facilities, communities=study.communities,
                           demand=study.demand, measure=measure)
    results, cache = {}, {}
    for check in study.checks:  # every check with a radius: a category's columns take its weakest check's split
        if check.category not in study.surveyed or not check.radius_m:
            continue
        step(f"allocating {check.category} demand to capacity (whole study)")
        result = capacity_split(view, check.category, method=method, log=log, check=check, pairs_cache=cache)
        if result is not None:
            results[(check.category, check.subcategory)] = result
    return results


def group_capacity(results: dict[str, CapacityResult], community_ids, facility_ids, demand_rows
                   ) -> dict[str, CapacityResult]:
    """The part of :func:`study_capacity`'s results a group needs: its communities, the facilities that can serve
    it, and its homes' states (``demand_rows``: the group's rows of the study's demand, whose order the states
    follow)."""
    from dataclasses import replace

    ids, fids = set(community_ids), set(facility_ids)
    return {k: replace(r, communities=r.communities.loc[r.communities["community_id"].isin(ids)].reset_index(drop=True),
                       facilities=r.facilities.loc[r.facilities["facility_id"].isin(fids)].reset_index(drop=True),
                       demand_state=r.demand_state.iloc[demand_rows].reset_index(drop=True))
            for k, r in results.items()}


def apply_capacity(analysis, *, method: str = "allocate", log: WarningLog | None = None, progress=None,
                   precomputed: dict[tuple[str, str], CapacityResult] | None = None):
    """The analysis with the capacity split of every surveyed category: ``<category>_served_population``,
    ``_over_capacity_population``, ``_out_of_reach_population`` per community (empty outside a category's survey
    extent, and where capacities are unknown); the demand gains ``over_capacity_<category>`` (people within reach
    whose facilities are full); ``facility_load`` one row per facility.

    The split is that of the check whose coverage the category's columns give (the weakest one of the community,
    ``analysis.coverage_picks``), so that served + over capacity = covered and covered + out of reach = population
    (docs/data-model.md, "Covered, served, out of reach"). For a standard without a radius the
    count and floor-area rule is the capacity: the people of a community that meets it are served, the others out
    of reach. A community whose people served within capacity fall short of the coverage target by any check is a
    ``gap`` for the category, and 存在问题 says how many people are over capacity.

    ``precomputed``: the whole study's results (a batch group, :func:`study_capacity`) instead of computing them
    on this analysis alone.
    """
    from dataclasses import replace

    step = progress or (lambda message: None)
    log = log if log is not None else WarningLog()
    comm = analysis.communities.copy()
    demand = analysis.demand.copy()
    target = float((analysis.settings or {}).get("coverage_target", 1.0))
    picks = getattr(analysis, "coverage_picks", None) or {}
    columns = ["served_population", "over_capacity_population", "out_of_reach_population"]
    population = comm["population"].fillna(0).to_numpy(dtype="float64")
    ids = comm["community_id"]
    d_codes = pd.Index(ids).get_indexer(demand["community_id"])  # −1: in no community
    loads, cache = [], {}
    for category in analysis.surveyed:
        checks = [c for c in analysis.checks if c.category == category]
        results: list = []
        for check in checks:
            if not check.radius_m:
                results.append("rule")  # the count and floor-area rule of the community itself
            elif precomputed is not None:
                results.append(precomputed.get((check.category, check.subcategory)))
            else:
                step(f"allocating {category} demand to capacity")
                results.append(capacity_split(analysis, category, method=method, log=log, check=check,
                                              pairs_cache=cache))
        if all(r is None for r in results):
            continue  # capacities unknown: the split is not computed (a warning says why)
        pick = picks.get(category)
        pick = (pick.reindex(ids).fillna(0).to_numpy(dtype=np.int64) if pick is not None
                else np.zeros(len(comm), dtype=np.int64))
        surveyed = (comm[f"{category}_status"] != "not_surveyed").to_numpy()
        covered = comm[f"{category}_covered_population"].to_numpy(dtype="float64")
        uncovered = comm[f"{category}_uncovered_population"].to_numpy(dtype="float64")
        metrics = np.full((len(comm), 3), np.nan)
        over_people = np.zeros(len(demand))
        short = np.zeros(len(comm), dtype=bool)
        notes = [np.full(len(comm), "", dtype=object)]
        own: dict[int, tuple] = {}  # per check: its own served, over capacity, short and note (by_standard)
        for i, (check, result) in enumerate(zip(checks, results)):
            here = pick == i
            if isinstance(result, str):  # no radius: served = covered, nobody over capacity
                metrics[here] = np.column_stack([covered, np.where(np.isnan(covered), np.nan, 0.0), uncovered])[here]
                own[i] = ("rule",)
                continue
            if result is None:
                continue
            values = result.communities.set_index("community_id")[columns].reindex(ids).to_numpy(dtype="float64")
            metrics[here] = values[here]
            served, over = values[:, 0], values[:, 1]
            with np.errstate(divide="ignore", invalid="ignore"):
                short_i = surveyed & (population > 0) & (served / population < target - 1e-12) & (over >= 0.5)
            short |= short_i
            name = check.name_zh if len(checks) > 1 else ""
            notes.append(np.where(surveyed & (over >= 0.5),
                                  [f"{name}可达但超容量 {v:,.0f} 人" if v >= 0.5 else "" for v in np.nan_to_num(over)],
                                  ""))
            own[i] = (served, over, short_i)
            state = result.demand_state
            if len(state) == len(demand) and (state["demand_id"].to_numpy() == demand["demand_id"].to_numpy()).all():
                people = state["over_capacity"].to_numpy(dtype="float64")  # the same homes in the same order
            else:
                people = state.set_index("demand_id")["over_capacity"].reindex(demand["demand_id"]).to_numpy()
            mine = np.where(d_codes >= 0, pick[np.clip(d_codes, 0, None)] == i, i == 0)
            over_people = np.where(mine, people, over_people)
            loads.append(result.facilities)
        for j, m in enumerate(columns):
            comm[f"{category}_{m}"] = np.where(surveyed, metrics[:, j], np.nan)
        status = comm[f"{category}_status"].to_numpy(dtype=object)
        newly = short & (status == "ok")
        comm[f"{category}_status"] = np.where(short, "gap", status)
        comm.loc[newly, "n_categories_short"] = comm.loc[newly, "n_categories_short"] + 1
        problem = comm[f"{category}_problem"].fillna("").astype(str).to_numpy(dtype=object)
        glue = "；" if len(checks) > 1 else "，"
        note = ["、".join(t for t in texts if t) for texts in zip(*notes)]
        comm[f"{category}_problem"] = [p + (glue if p and n else "") + n for p, n in zip(problem, note)]
        if len(checks) > 1 and f"{category}_by_standard" in comm.columns:
            comm[f"{category}_by_standard"] = _by_standard_split(comm[f"{category}_by_standard"], population, own)
        demand[f"over_capacity_{category}"] = over_people
    facility_load = pd.concat(loads, ignore_index=True) if loads else pd.DataFrame(columns=FACILITY_LOAD_COLUMNS)
    settings = {**(analysis.settings or {}), "capacity_method": method}
    return replace(analysis, communities=comm, demand=demand, facility_load=facility_load[FACILITY_LOAD_COLUMNS],
                   settings=settings)


def _by_standard_split(column: pd.Series, population: np.ndarray, own: dict[int, tuple]) -> list[str]:
    """``<category>_by_standard`` with each check's own capacity split (:mod:`geofacility.per_standard`): served
    and over capacity (a standard without a radius: served = covered), ``gap`` where its people served within
    capacity fall short, and the people over capacity in its problem."""
    from .per_standard import update

    def change(row: int, entries: list[dict]) -> None:
        for i, entry in enumerate(entries):
            split = own.get(i)
            if split is None:
                continue
            if len(split) == 1:  # ("rule",): no radius
                entry["served_population"] = entry["covered_population"]
                continue
            served, over, short = split[0][row], split[1][row], split[2][row]
            entry["served_population"] = None if np.isnan(served) else served
            if short:
                entry["status"] = "gap"
            if not np.isnan(over) and over >= 0.5:
                note = f"可达但超容量 {over:,.0f} 人"
                entry["problem"] = f"{entry['problem']}，{note}" if entry["problem"] else note

    return update(column.to_numpy(dtype=object), population, change)


FACILITY_LOAD_COLUMNS = ["facility_id", "name", "category", "subcategory", "community_id", "capacity",
                         "capacity_source", "demand_in_reach", "supply_ratio", "allocated", "load"]
