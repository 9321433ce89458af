"""Capacity in a partitioned batch: the whole study's allocation, computed from its groups without ever holding all
the homes in one place (:mod:`geofacility.capacity` does it on one analysis; both run the same three steps of
:mod:`geofacility.allocation`, so the numbers are the same).

1. :func:`capacity_plan` (the batch's process): per standard with a radius, its facilities in ``facility_id`` order.
2. :func:`group_classes` (each group, where it runs): its homes' (home, facility) pairs within the radius, grouped
   into classes keyed by (community, facility set) — a group of whole communities lists exactly its rows of the
   whole study's class table.
3. :func:`solve_plans` (the batch's process, the transport problems on the workers): the groups' tables joined,
   each facility's capacity, the demand within its reach (and its 2SFCA supply ratio), and the reach graph's
   components solved (:func:`geofacility.allocation.solve_classes`, its ``map`` a Dask client's).
4. :func:`group_results` (each group): its homes seated from its classes' flows, and its
   :class:`~geofacility.capacity.CapacityResult` per standard, what :func:`geofacility.capacity.apply_capacity`
   takes as ``precomputed``.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from .errors import WarningLog

__all__ = ["CheckPlan", "capacity_plan", "group_reach", "group_classes", "solve_plans", "group_results",
           "solve_across_groups", "KEEP_STATE_ROWS"]


@dataclass
class CheckPlan:
    """One standard's allocation across a partitioned batch: its facilities (``facility_id`` order) and, once
    solved, their capacities and the flows."""

    check: object
    facility_ids: np.ndarray
    positions: np.ndarray  # the facilities' rows in the study's facilities, in facility_id order
    capacity: np.ndarray | None = None
    source: np.ndarray | None = None
    catchment: np.ndarray | None = None  # residents within reach of each facility (the whole study's)
    allocated: np.ndarray | None = None  # residents seated at each facility (allocate)
    flows: pd.DataFrame | None = None  # the solved class table (allocate)


def _key(check) -> tuple[str, str]:
    return (check.category, check.subcategory)


def _facilities(study, plan: CheckPlan):
    """The plan's facilities (a group's study holds the whole study's facilities, in the same rows)."""
    return study.facilities.iloc[plan.positions].reset_index(drop=True)


def capacity_plan(study) -> dict:
    """Per standard with a radius of a surveyed category (keyed ``(category, subcategory)``): its facilities, in
    ``facility_id`` order (the allocation does not depend on the input's row order)."""
    from .coverage import facility_checks

    masks = facility_checks(study.facilities, study.checks)
    ids = study.facilities["facility_id"].astype(str).to_numpy()
    plans = {}
    for check in study.checks:
        if check.category in study.surveyed and check.radius_m:
            rows = np.flatnonzero(masks[check])
            rows = rows[np.argsort(ids[rows], kind="stable")]
            plans[_key(check)] = CheckPlan(check=check, facility_ids=ids[rows], positions=rows)
    return plans


def _classes(part, plan: CheckPlan):
    from .allocation import demand_classes
    from .distance import pairs_within

    fac = _facilities(part, plan)
    d_idx, f_idx, dist = pairs_within(part.demand.geometry.values, fac.geometry.values, plan.check.radius_m)
    weight = part.demand["weight"].to_numpy(dtype="float64")
    classes = demand_classes(d_idx, f_idx, dist, weight, part.demand["community_id"].to_numpy(dtype=object),
                             fac["facility_id"].astype(str).to_numpy(), home_id=part.demand["demand_id"].to_numpy())
    return fac, d_idx, f_idx, dist, classes


def group_reach(part, plans: dict) -> dict:
    """Per standard, a group's facilities, its (home, facility, metres) pairs within the radius and its homes'
    classes: what :func:`group_classes` sends on and :func:`group_results` seats from (kept where the group runs
    between the two rounds, so neither is computed twice)."""
    return {key: _classes(part, plan) for key, plan in plans.items()}


def group_classes(part, plans: dict, reach: dict | None = None) -> dict:
    """A group's class tables by standard, and its communities' people and households (a community without a
    population takes its homes' sum, so the whole study's people per household is known only from the groups).
    ``reach``: :func:`group_reach` of the group, when already computed."""
    reach = reach if reach is not None else group_reach(part, plans)
    tables = {key: reach[key][4].table for key in plans}
    people = part.communities[["community_id", "population", "households"]].reset_index(drop=True)
    return {"classes": tables, "people": people}


def solve_plans(study, plans: dict, found: list[dict], *, method: str, log: WarningLog, map=None) -> dict:
    """Join the groups' class tables (``found``: :func:`group_classes` of every group) and solve each standard;
    a standard whose facilities' capacities are unknown is dropped with the warning a whole run gives."""
    from .allocation import solve_classes
    from .capacity import facility_capacity, unknown_capacity_warning

    found = [f for f in found if f["people"] is not None]  # a group whose homes could not be read: its error later
    people = pd.concat([f["people"] for f in found], ignore_index=True)
    pop, hh = people["population"].sum(), people["households"].sum(min_count=1)
    people_per_household = float(pop / hh) if hh and hh > 0 else None
    solved = {}
    for key, plan in plans.items():
        fac = _facilities(study, plan)
        cap, source = facility_capacity(fac, plan.check, people_per_household=people_per_household)
        if np.isnan(cap).any():
            unknown_capacity_warning(fac.loc[np.isnan(cap)], plan.check, log)
            continue
        table = pd.concat([f["classes"][key] for f in found], ignore_index=True)
        fids = plan.facility_ids
        # people within reach of each facility: each class's people once per facility it reaches
        reach = table.groupby(table["facility_id"].astype(str))["people"].sum()
        catchment = reach.reindex(fids, fill_value=0.0).to_numpy(dtype="float64")
        flows = allocated = None
        if method == "allocate":
            result = solve_classes(table, pd.Series(cap, index=fids), map=map)
            flows, allocated = result.classes, result.allocated.reindex(fids).to_numpy(dtype="float64")
        solved[key] = replace(plan, capacity=cap, source=source,
                                catchment=catchment, allocated=allocated, flows=flows)
    return solved


def group_results(part, solved: dict, *, method: str, all_communities=None, facility_ids=None,
                  reach: dict | None = None) -> dict:
    """A group's :class:`~geofacility.capacity.CapacityResult` per standard, from the whole study's solve: its
    homes seated nearest first within their classes (allocate) or given their 2SFCA access, its communities'
    split scaled to their population, and the facilities with their whole-study capacity, demand and load
    (``facility_ids``: those that can serve the group; ``all_communities``: the whole study's, that the
    facilities lie in; ``reach``: :func:`group_reach` of the group, when already computed)."""
    from .allocation import seat_homes
    from .capacity import CapacityResult, split_tables

    results = {}
    for key, plan in solved.items():
        fac, d_idx, f_idx, dist, classes = reach[key] if reach is not None else _classes(part, plan)
        cap = plan.capacity
        weight = part.demand["weight"].to_numpy(dtype="float64")
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(plan.catchment > 0, cap / plan.catchment, np.nan)
        access = np.bincount(d_idx, weights=np.nan_to_num(ratio[f_idx]), minlength=len(weight))
        if method == "allocate":
            mine = plan.flows["community_id"].isin(set(part.communities["community_id"]))
            served = seat_homes(classes, plan.flows.loc[mine])
            with np.errstate(divide="ignore", invalid="ignore"):
                load = np.where(cap > 0, plan.allocated / cap, 0.0)
            allocated = plan.allocated
        else:
            served = weight * np.minimum(1.0, access)
            allocated = np.full(len(cap), np.nan)
            with np.errstate(divide="ignore", invalid="ignore"):
                load = np.where(cap > 0, plan.catchment / cap, np.where(plan.catchment > 0, np.inf, 0.0))
        state, communities, facilities = split_tables(part.communities, part.demand, fac, plan.check, d_idx, served,
                                                      access, cap, plan.source, plan.catchment, ratio, allocated,
                                                      load, all_communities=all_communities)
        if facility_ids is not None:
            facilities = facilities.loc[facilities["facility_id"].astype(str).isin(set(facility_ids))
                                        ].reset_index(drop=True)
        results[key] = CapacityResult(category=plan.check.category, check=plan.check, method=method,
                                      communities=communities, facilities=facilities, demand_state=state)
    return results


# --------------------------------------------------------------------- the rounds, as a batch runs them

def solve_across_groups(study, plans: list, shared, source, runner) -> tuple[dict, dict]:
    """The whole study's capacity allocation from its groups, run by ``runner`` (:class:`geofacility.runner.Runner`):
    each group lists its homes' classes where it runs (``plans``: per group its name, community positions and
    halo; ``shared``: the study prepared without the demand, sent to every worker), this process joins them, the
    reach graph's components are solved on the workers. Returns per group the solved rows of its own communities,
    and per group its round-one state (placed homes, pairs, classes: a future where it ran) or None."""
    import time

    checks = capacity_plan(study)
    if _keep_states(source):
        states = {group: runner.submit(_group_state, shared, rows, halo, source, checks,
                                       key=f"state-{group}-{runner.run}") for group, rows, halo in plans}
        futures = [runner.submit(_state_classes, states[group], checks, key=f"classes-{group}-{runner.run}")
                   for group, _, _ in plans]
    else:  # too many homes to keep every group's between the rounds: round two places its homes again
        states = {group: None for group, _, _ in plans}
        futures = [runner.submit(_group_classes, shared, rows, halo, source, checks,
                                 key=f"classes-{group}-{runner.run}") for group, rows, halo in plans]
    found = [f.result() for f in futures]
    started = time.perf_counter()
    runner.timings["classes"] = started - runner.timings.get("_groups_started", started)
    solving = [0.0]

    def timed_map(fn, items):
        t = time.perf_counter()
        try:
            return runner.map(fn, items)
        finally:
            solving[0] += time.perf_counter() - t

    solved = solve_plans(study, checks, found, method=study.settings["capacity_method"], log=study.log,
                         map=timed_map if runner.client is not None else None)
    # what each group needs: its communities' solved rows (not the whole study's)
    group_of = pd.Series(np.repeat([g for g, _, _ in plans], [len(rows) for _, rows, _ in plans]),
                         index=study.communities["community_id"].to_numpy()[np.concatenate([r for _, r, _ in plans])])
    split = {g: {} for g, _, _ in plans}
    for key, plan in solved.items():
        if plan.flows is None:
            for g in split:
                split[g][key] = plan
            continue
        owner = plan.flows["community_id"].map(group_of)
        for g, rows in plan.flows.groupby(owner.to_numpy(), sort=False).indices.items():
            split[g][key] = replace(plan, flows=plan.flows.iloc[rows].reset_index(drop=True))
        for g in split:
            split[g].setdefault(key, replace(plan, flows=plan.flows.iloc[:0]))
    runner.timings["join"] += time.perf_counter() - started - (solving[0] if runner.client is not None else 0.0)
    runner.timings["solve"] = time.perf_counter() - started
    return split, states


def _group_state(study, rows, halo, source, checks: dict):
    """Round one of a partitioned batch with capacity, where the group runs: its homes placed, their pairs and
    classes (kept there for round two), or the error that stops the group."""
    from .partition import group_study

    try:
        part, used = group_study(study, rows, halo, source)
        return part, used, group_reach(part, checks)
    except Exception as exc:  # reported by the group's round two, like an evaluation that fails
        return exc


#: a partitioned batch keeps each group's placed homes and classes between its two rounds up to this many homes in
#: all (about 1.5 kB each with their pairs and classes, spread over the workers); above, round two places again
KEEP_STATE_ROWS = 2_000_000


def _keep_states(source) -> bool:
    if source.path is None:
        return True
    from .read.files import count_rows

    return count_rows(source.path) <= KEEP_STATE_ROWS


def _group_classes(study, rows, halo, source, checks: dict) -> dict:
    """Round one without keeping the group's homes: placed, listed in classes, and only the classes sent on."""
    return _state_classes(_group_state(study, rows, halo, source, checks), checks)


def _state_classes(state, checks: dict) -> dict:
    """The small part of round one that travels: the group's class tables and its communities' people."""
    if isinstance(state, Exception):
        return {"classes": {key: None for key in checks}, "people": None}
    part, _, reach = state
    return group_classes(part, checks, reach)
