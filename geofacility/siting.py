"""Siting: which candidate rooms (房源) to take, and what each would fix.

Selection models, all keeping the existing facilities fixed (people they already cover count as covered):

- **MCLP** (maximal covering): open at most ``k`` candidates (or spend at most ``budget``) to bring the most
  people within the service radius;
- **LSCP** (set covering): the fewest candidates that bring everybody coverable within the radius, reporting who
  no candidate can reach;
- **p-median**: open ``p`` candidates to minimise the people-weighted distance to the nearest facility, existing
  ones included;
- **greedy** MCLP for very large inputs, with the LP-relaxation bound so the optimality gap is known.

The exact models are mixed-integer programmes solved by HiGHS through ``highspy``. Before solving, demand points
that the same set of candidates reaches are merged into one weighted row (the standard reduction; it can shrink a
city's demand by orders of magnitude without changing the optimum).

Inputs are plain arrays: a sparse boolean *coverage* matrix (demand × candidate: within the radius), demand
weights, and for p-median a distance matrix. Building them from a study (straight line, walking network, or an OD
cost table) is :func:`coverage_matrix`'s job.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp

from .standards import CATEGORY_SHORT_ZH

__all__ = [
    "Selection",
    "collapse_demand",
    "solve_mclp",
    "solve_lscp",
    "solve_pmedian",
    "greedy_mclp",
]


@dataclass
class Selection:
    """The outcome of a selection model."""

    method: str
    selected: np.ndarray  # candidate indices, ascending
    objective: float  # covered people (MCLP, greedy), sites (LSCP), weighted metres (p-median)
    covered_weight: float  # people newly brought within the radius by the selected sites
    total_weight: float  # people considered (not already covered)
    status: str  # solver status: Optimal, Time limit reached, greedy …
    gap: float = 0.0  # relative optimality gap (0 when proven optimal)
    bound: float | None = None  # best bound on the objective (LP relaxation for greedy)
    uncoverable_weight: float = 0.0  # people no candidate reaches (LSCP)
    details: dict = field(default_factory=dict)


def _highs():
    """A silent HiGHS instance (its C++ banner goes straight to file descriptor 1, so that is muted briefly)."""
    import os
    import sys

    import highspy

    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
            h = highspy.Highs()
            h.setOptionValue("output_flag", False)
    finally:
        os.dup2(saved, 1)
        os.close(saved)
    return h, highspy


def collapse_demand(coverage: sp.csr_matrix, weights: np.ndarray) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
    """Merge demand rows with identical candidate sets: (unique rows, summed weights, group of each row).

    Rows no candidate reaches form no group (their group is −1): they cannot change the choice.
    """
    coverage = sp.csr_matrix(coverage, dtype=bool)
    coverage.sort_indices()
    n = coverage.shape[0]
    counts = np.diff(coverage.indptr)
    group = np.full(n, -1, dtype=np.int64)
    reach = np.flatnonzero(counts > 0)
    if len(reach) == 0:
        return sp.csr_matrix((0, coverage.shape[1]), dtype=bool), np.zeros(0), group
    # a row's key: its candidate list as bytes (hashable, exact)
    keys = [coverage.indices[coverage.indptr[i]:coverage.indptr[i + 1]].tobytes() for i in reach]
    uniq: dict[bytes, int] = {}
    codes = np.fromiter((uniq.setdefault(k, len(uniq)) for k in keys), dtype=np.int64, count=len(keys))
    group[reach] = codes
    merged_w = np.bincount(codes, weights=np.asarray(weights, dtype="float64")[reach], minlength=len(uniq))
    first = np.zeros(len(uniq), dtype=np.int64)
    first[codes[::-1]] = reach[::-1]  # the first row of each group
    return coverage[first], merged_w, group


def _solve(h, highspy, *, cost, lower, upper, integer, a_csc, row_lower, row_upper, maximise, time_limit):
    lp = highspy.HighsLp()
    lp.num_col_ = len(cost)
    lp.num_row_ = a_csc.shape[0]
    lp.col_cost_ = np.asarray(cost, dtype="float64")
    lp.col_lower_ = np.asarray(lower, dtype="float64")
    lp.col_upper_ = np.asarray(upper, dtype="float64")
    lp.row_lower_ = np.asarray(row_lower, dtype="float64")
    lp.row_upper_ = np.asarray(row_upper, dtype="float64")
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = a_csc.indptr.astype(np.int32)
    lp.a_matrix_.index_ = a_csc.indices.astype(np.int32)
    lp.a_matrix_.value_ = a_csc.data.astype("float64")
    lp.sense_ = highspy.ObjSense.kMaximize if maximise else highspy.ObjSense.kMinimize
    if integer is not None:
        lp.integrality_ = [highspy.HighsVarType.kInteger if i else highspy.HighsVarType.kContinuous
                           for i in integer]
    if time_limit:
        h.setOptionValue("time_limit", float(time_limit))
    h.setOptionValue("mip_rel_gap", 0.0)  # "optimal" means optimal: HiGHS' default stops within 0.01 %
    h.passModel(lp)
    h.run()
    status = h.modelStatusToString(h.getModelStatus())
    info = h.getInfo()
    values = np.asarray(h.getSolution().col_value)
    gap = float(info.mip_gap) if integer is not None and np.isfinite(info.mip_gap) else 0.0
    bound = float(info.mip_dual_bound) if integer is not None else float(info.objective_function_value)
    return status, float(info.objective_function_value), values, gap, bound


def _budget_row(n_cand: int, k: int | None, costs: np.ndarray | None, budget: float | None):
    rows, lo, hi = [], [], []
    if k is not None:
        rows.append(np.ones(n_cand))
        lo.append(-np.inf)
        hi.append(float(k))
    if budget is not None:
        if costs is None:
            raise ValueError("a budget needs candidate costs")
        rows.append(np.asarray(costs, dtype="float64"))
        lo.append(-np.inf)
        hi.append(float(budget))
    if not rows:
        raise ValueError("give k, a budget, or both")
    return np.vstack(rows), lo, hi


def solve_mclp(coverage, weights, *, k: int | None = None, budget: float | None = None, costs=None,
               time_limit: float | None = None, relax: bool = False) -> Selection:
    """Maximal covering: at most ``k`` sites (and/or total cost ≤ ``budget``) covering the most weight.

    Variables: x_j ∈ {0,1} per candidate, y_g ∈ [0,1] per merged demand group; max Σ w_g y_g subject to
    y_g ≤ Σ_{j covers g} x_j. ``relax`` solves the LP relaxation (an upper bound).
    """
    coverage = sp.csr_matrix(coverage, dtype=bool)
    n_cand = coverage.shape[1]
    total = float(np.sum(weights))
    groups, w, _ = collapse_demand(coverage, weights)
    n_g = groups.shape[0]
    budget_rows, lo, hi = _budget_row(n_cand, k, costs, budget)
    # rows: y_g − Σ x_j ≤ 0 ; budget rows on x
    a_x = sp.vstack([-groups.astype("float64"), sp.csr_matrix(budget_rows)])
    a_y = sp.vstack([sp.identity(n_g, format="csr"), sp.csr_matrix((budget_rows.shape[0], n_g))])
    a = sp.hstack([a_x, a_y]).tocsc()
    h, highspy = _highs()
    status, obj, values, gap, bound = _solve(
        h, highspy, cost=np.r_[np.zeros(n_cand), w], lower=np.zeros(n_cand + n_g),
        upper=np.ones(n_cand + n_g), integer=None if relax else [True] * n_cand + [False] * n_g, a_csc=a,
        row_lower=np.r_[np.full(n_g, -np.inf), lo], row_upper=np.r_[np.zeros(n_g), hi], maximise=True,
        time_limit=time_limit,
    )
    selected = np.flatnonzero(values[:n_cand] > 0.5) if not relax else np.flatnonzero(values[:n_cand] > 1e-9)
    covered = _covered(coverage, weights, selected)
    return Selection("mclp" if not relax else "mclp-lp", selected, obj, covered, total, status, gap, bound,
                     details={"groups": n_g, "demand_rows": coverage.shape[0], "x": values[:n_cand]})


def _covered(coverage: sp.csr_matrix, weights, selected: np.ndarray) -> float:
    if len(selected) == 0:
        return 0.0
    hit = np.asarray(coverage[:, selected].sum(axis=1)).ravel() > 0
    return float(np.asarray(weights, dtype="float64")[hit].sum())


def solve_lscp(coverage, weights, *, time_limit: float | None = None) -> Selection:
    """Set covering: the fewest sites such that every coverable demand point is within reach of one.

    Demand no candidate reaches is reported as ``uncoverable_weight`` (and listed by the caller).
    """
    coverage = sp.csr_matrix(coverage, dtype=bool)
    n_cand = coverage.shape[1]
    weights = np.asarray(weights, dtype="float64")
    groups, w, group = collapse_demand(coverage, weights)
    uncoverable = float(weights[group < 0].sum())
    h, highspy = _highs()
    status, obj, values, gap, bound = _solve(
        h, highspy, cost=np.ones(n_cand), lower=np.zeros(n_cand), upper=np.ones(n_cand),
        integer=[True] * n_cand, a_csc=groups.astype("float64").tocsc(), row_lower=np.ones(groups.shape[0]),
        row_upper=np.full(groups.shape[0], np.inf), maximise=False, time_limit=time_limit,
    )
    selected = np.flatnonzero(values > 0.5)
    return Selection("lscp", selected, obj, _covered(coverage, weights, selected), float(weights.sum()), status,
                     gap, bound, uncoverable_weight=uncoverable, details={"groups": groups.shape[0]})


def _merge_rows(d: np.ndarray, fallback: np.ndarray, w: np.ndarray):
    """Demand rows with the same costs to every candidate and the same existing facility distance are one row of
    summed weight (homes snapped to one street point, one building's flats in an OD table): the optimum is the
    same, the model smaller."""
    key = np.column_stack([np.nan_to_num(d, posinf=-1.0), np.nan_to_num(fallback, posinf=-1.0)])
    _, first, inverse = np.unique(key, axis=0, return_index=True, return_inverse=True)
    return d[first], fallback[first], np.bincount(inverse.ravel(), weights=w, minlength=len(first))


class _PMedianCuts:
    """Benders cuts of the p-median (Cornuéjols, Nemhauser & Wolsey 1980; Duran-Mateluna, Ales & Elloumi 2023):
    the cost of demand row i, given the open candidates y, is at least w_i (D − Σ_{j: d_ij < D} (D − d_ij) y_j) for
    any level D; at a point ŷ the strongest is at D*, the distance at which ŷ first adds up to one candidate (or the
    existing facility, always open, is nearer). Computed for all rows at once on the rows' candidates sorted by
    distance."""

    def __init__(self, d: np.ndarray, fallback: np.ndarray, w: np.ndarray):
        self.d, self.fallback, self.w = d, fallback, w
        self.order = np.argsort(d, axis=1, kind="stable")
        self.sorted = np.take_along_axis(d, self.order, axis=1)
        self.finite = np.isfinite(self.sorted)

    def level(self, y: np.ndarray) -> np.ndarray:
        """D* of every row at ``y``."""
        mass = np.where(self.finite, y[self.order], 0.0).cumsum(axis=1)
        full = mass >= 1.0 - 1e-9
        first = np.argmax(full, axis=1)
        rows = np.arange(len(self.d))
        at = np.where(full[rows, first], self.sorted[rows, first], np.inf)
        return np.minimum(at, self.fallback)

    def cost(self, y: np.ndarray) -> np.ndarray:
        """Each row's cost when the candidates ``y`` (0/1) are open: its weight × the nearest open distance."""
        return self.w * self.level(y)

    def violated(self, y: np.ndarray, theta: np.ndarray, tol: float = 1e-7):
        """(rows, CSR of the cut coefficients on y, right-hand sides) of the cuts ``θ_i + Σ c_ij y_j ≥ r_i`` that
        ``(y, θ)`` violates."""
        level = self.level(y)
        gain = np.where(self.d < level[:, None], level[:, None] - self.d, 0.0)  # (D* − d_ij) where d_ij < D*
        value = self.w * (level - gain @ y)
        rows = np.flatnonzero(value > theta + tol * np.maximum(1.0, np.abs(value)))
        coef = sp.csr_matrix(self.w[rows, None] * gain[rows])
        return rows, coef, self.w[rows] * level[rows]


def solve_pmedian(distance, weights, *, p: int, existing_distance=None, max_distance: float | None = None,
                  time_limit: float | None = None) -> Selection:
    """p-median: open ``p`` candidates minimising Σ weight × distance to the nearest open facility.

    ``distance``: dense (demand × candidate) metres (``inf`` = unreachable). ``existing_distance``: each demand
    point's distance to the nearest existing facility, which stays open. ``max_distance`` drops assignments
    beyond it (demand left with no option is an error).

    Exact, by Benders decomposition with HiGHS: the master problem holds the candidates y and one cost θ_i per
    demand row; the assignment is never modelled — the cost of a row given y is known in closed form, and each
    round adds the cuts the master's solution violates (:class:`_PMedianCuts`). First the LP relaxation is solved
    to the end by rounds of cuts (warm-started simplex), then the integer master, re-solved with the new cuts until
    its optimum equals the true cost of its own solution. Rows with identical costs are merged first. 2,000 homes ×
    150 candidates take seconds where the model with every home-candidate assignment took minutes. A time limit
    stops with the best solution found and the master's bound (``gap``)."""
    import time

    start = time.perf_counter()
    d = np.asarray(distance, dtype="float64").copy()
    w_all = np.asarray(weights, dtype="float64")
    n, m = d.shape
    fallback = np.full(n, np.inf) if existing_distance is None else np.asarray(existing_distance, dtype="float64")
    d[~(d < fallback[:, None])] = np.inf  # a candidate no nearer than the existing facility never serves
    if max_distance is not None:
        d[d > max_distance] = np.inf
    orphan = ~np.isfinite(d).any(axis=1) & ~np.isfinite(fallback)
    if orphan.any():
        raise ValueError(f"{int(orphan.sum())} demand points can reach no candidate and no existing facility")
    if p >= m:
        selected = np.arange(m)
        cost = float((w_all * np.minimum(np.nanmin(np.where(np.isfinite(d), d, np.inf), axis=1), fallback)).sum())
        return Selection("pmedian", selected, cost, 0.0, float(w_all.sum()), "Optimal", 0.0, cost)
    d, fallback, w = _merge_rows(d, fallback, w_all)
    nr = len(w)
    cuts = _PMedianCuts(d, fallback, w)
    h, highspy = _highs()
    inf = highspy.kHighsInf
    lower_theta = w * np.minimum(np.where(np.isfinite(d), d, np.inf).min(axis=1), fallback)
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = m + nr, 0
    lp.col_cost_ = np.r_[np.zeros(m), np.ones(nr)]
    lp.col_lower_ = np.r_[np.zeros(m), lower_theta]
    lp.col_upper_ = np.r_[np.ones(m), np.full(nr, inf)]
    lp.sense_ = highspy.ObjSense.kMinimize
    h.passModel(lp)

    def add_rows(coef: sp.csr_matrix, theta_rows: np.ndarray | None, lower: np.ndarray, upper: np.ndarray):
        """Rows ``coef · y (+ θ_r) ∈ [lower, upper]``."""
        coef = sp.csr_matrix(coef)
        if theta_rows is not None:
            coef = sp.hstack([coef, sp.csr_matrix((np.ones(len(theta_rows)), (np.arange(len(theta_rows)),
                                                                                 theta_rows)), shape=(len(theta_rows), nr))]).tocsr()
        else:
            coef = sp.hstack([coef, sp.csr_matrix((coef.shape[0], nr))]).tocsr()
        h.addRows(coef.shape[0], np.asarray(lower, dtype="float64"), np.asarray(upper, dtype="float64"), coef.nnz,
                  coef.indptr[:-1].astype(np.int32), coef.indices.astype(np.int32), coef.data.astype("float64"))

    add_rows(sp.csr_matrix(np.ones((1, m))), None, [float(p)], [float(p)])
    # rows with no existing facility need one of their reachable candidates open (else no assignment exists)
    need = ~np.isfinite(fallback)
    if need.any():
        reach = np.unique(np.isfinite(d[need]), axis=0)
        reach = reach[~reach.all(axis=1)] if reach.all(axis=1).any() else reach  # "any candidate" is implied
        if len(reach):
            add_rows(sp.csr_matrix(reach.astype("float64")), None, np.ones(len(reach)), np.full(len(reach), inf))

    def remaining():
        return None if time_limit is None else max(0.0, time_limit - (time.perf_counter() - start))

    def run(mip: bool = False) -> np.ndarray:
        if time_limit is not None:  # HiGHS 1.16 times an LP re-solve on a clock that runs over all of them, a MIP
            left = max(remaining(), 1e-3)  # solve on its own: what is left, added where needed
            h.setOptionValue("time_limit", float(left if mip else h.getRunTime() + left))
        h.run()
        return np.asarray(h.getSolution().col_value)

    rounds = 0
    status = "Optimal"
    bound = float(lower_theta.sum())  # each row at its nearest option: a lower bound from the start
    y_lp = np.zeros(m)
    # the LP relaxation to the end: rounds of violated cuts, each re-solve warm-started
    while True:
        values = run()
        rounds += 1
        if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            status = h.modelStatusToString(h.getModelStatus())
            break
        bound = max(bound, float(h.getInfo().objective_function_value))  # a relaxation of the relaxation
        y_lp = values[:m]
        rows, coef, rhs = cuts.violated(values[:m], values[m:])
        if not len(rows):
            break
        add_rows(coef, rows, rhs, np.full(len(rows), inf))
        if time_limit is not None and remaining() <= 0:
            status = "Time limit reached"
            break
    # the integer master, re-solved with the cuts its solutions violate until they cost what it says
    h.changeColsIntegrality(m, np.arange(m, dtype=np.int32), np.array([highspy.HighsVarType.kInteger] * m))
    h.setOptionValue("mip_rel_gap", 0.0)
    best_y, best_cost = None, np.inf
    while status == "Optimal":
        values = run(mip=True)
        rounds += 1
        info = h.getInfo()
        model_status = h.getModelStatus()
        if np.isfinite(info.mip_dual_bound):
            bound = max(bound, float(info.mip_dual_bound))
        if model_status not in (highspy.HighsModelStatus.kOptimal, highspy.HighsModelStatus.kTimeLimit) \
                or not len(values):
            status = h.modelStatusToString(model_status)
            break
        y = (values[:m] > 0.5).astype("float64")
        cost = float(cuts.cost(y).sum())
        if cost < best_cost:
            best_y, best_cost = y, cost
        if model_status == highspy.HighsModelStatus.kTimeLimit:
            status = "Time limit reached"
            break
        rows, coef, rhs = cuts.violated(y, values[m:])
        if not len(rows) or cost <= bound * (1 + 1e-9) + 1e-9:
            bound = max(bound, cost) if not len(rows) else bound
            status = "Optimal"
            break
        add_rows(coef, rows, rhs, np.full(len(rows), inf))
        sol = highspy.HighsSolution()
        sol.col_value = list(np.r_[best_y, cuts.cost(best_y)])
        h.setSolution(sol)
        if time_limit is not None and remaining() <= 0:
            status = "Time limit reached"
            break
    if best_y is None:  # stopped before the integer master found a solution: the p largest of the LP's y
        best_y = np.zeros(m)
        best_y[np.argsort(-y_lp, kind="stable")[:p]] = 1.0
        best_cost = float(cuts.cost(best_y).sum())
        status = status if status != "Optimal" else "Time limit reached"
    gap = 0.0 if status == "Optimal" else (max(0.0, (best_cost - bound) / best_cost) if best_cost > 0 else 0.0)
    return Selection("pmedian", np.flatnonzero(best_y > 0.5), best_cost, 0.0, float(w_all.sum()), status, gap,
                     bound if status != "Optimal" else best_cost,
                     details={"rows": nr, "rounds": rounds, "seconds": time.perf_counter() - start})


def _interchange(coverage: sp.csc_matrix, weights: np.ndarray, chosen: list[int]) -> list[int]:
    """Teitz–Bart interchange: while swapping one chosen site for one other site raises the covered weight, make
    the best such swap. Vectorised: per chosen site, one sparse product scores every replacement."""
    a_t = coverage.T.tocsr().astype("float64")
    chosen = list(chosen)
    for _ in range(100):
        counts = np.asarray(coverage[:, chosen].sum(axis=1)).ravel()
        best_gain, best_move = 1e-9, None
        for pos, site in enumerate(chosen):
            rows = coverage.indices[coverage.indptr[site]:coverage.indptr[site + 1]]
            loss = weights[rows][counts[rows] == 1].sum()
            # weight left uncovered once `site` goes: what each other site would win back
            open_w = np.where(counts == 0, weights, 0.0)
            solo = rows[counts[rows] == 1]
            open_w[solo] = weights[solo]
            gain = a_t @ open_w
            gain[chosen] = -np.inf
            j = int(np.argmax(gain))
            if gain[j] - loss > best_gain:
                best_gain, best_move = gain[j] - loss, (pos, j)
        if best_move is None:
            break
        chosen[best_move[0]] = best_move[1]
    return chosen


def greedy_mclp(coverage, weights, *, k: int | None = None, budget: float | None = None, costs=None,
                bound: bool = True, swaps: bool = True) -> Selection:
    """Greedy maximal covering: repeatedly take the candidate adding the most uncovered weight (per unit cost
    when a budget is given), then (for k sites) improve by one-for-one swaps while any helps (Teitz–Bart).
    Guaranteed within (1 − 1/e) of the optimum; the LP relaxation gives the actual bound, reported as ``bound``
    and ``gap``."""
    coverage = sp.csc_matrix(coverage, dtype=bool)
    weights = np.asarray(weights, dtype="float64")
    n_cand = coverage.shape[1]
    costs = None if costs is None else np.asarray(costs, dtype="float64")
    remaining = weights.copy()
    chosen: list[int] = []
    spent = 0.0
    open_ = np.ones(n_cand, dtype=bool)
    a_t = coverage.T.tocsr().astype("float64")
    limit = k if k is not None else n_cand
    while len(chosen) < limit and open_.any():
        gain = a_t @ remaining
        if budget is not None:
            fits = open_ & (spent + costs <= budget + 1e-9)
            score = np.where(fits, gain / np.maximum(costs, 1e-12), -np.inf)
        else:
            score = np.where(open_, gain, -np.inf)
        best = int(np.argmax(score))
        if not np.isfinite(score[best]) or gain[best] <= 0:
            break
        chosen.append(best)
        open_[best] = False
        if costs is not None:
            spent += costs[best]
        rows = coverage.indices[coverage.indptr[best]:coverage.indptr[best + 1]]
        remaining[rows] = 0.0
    if swaps and budget is None and chosen:
        chosen = _interchange(coverage, weights, chosen)
    selected = np.array(sorted(chosen), dtype=np.int64)
    covered = _covered(coverage.tocsr(), weights, selected)
    upper = None
    gap = math.nan
    if bound:
        lp = solve_mclp(coverage.tocsr(), weights, k=k, budget=budget, costs=costs, relax=True)
        upper = lp.objective
        gap = 0.0 if upper <= 0 else max(0.0, (upper - covered) / upper)
    return Selection("greedy", selected, covered, covered, float(weights.sum()), "greedy", gap, upper,
                     details={"order": chosen})


# ---------------------------------------------------------------------------------------------------------
# coverage and distance matrices: demand × candidate


def straight_line_pairs(demand_points, candidate_points, max_distance: float):
    """(demand index, candidate index, metres) for every pair within ``max_distance`` (one STRtree query)."""
    from .distance import pairs_within

    return pairs_within(demand_points, candidate_points, max_distance)


def walking_pairs(network, demand_snap, candidate_snap, max_distance: float, *, chunk: int = 64):
    """(demand index, candidate index, metres) on foot for every pair within ``max_distance``.

    Candidates are searched in chunks of ``chunk`` (one Dijkstra call each, ``limit=max_distance``), keeping
    memory at chunk × nodes; each candidate's own search is needed here because every pair counts, not only the
    nearest.
    """
    from .network import nearest_facility_matrix

    return nearest_facility_matrix(network, demand_snap, candidate_snap, max_distance, chunk=chunk)


def pairs_to_matrix(d_idx, c_idx, dist, shape, radius: float) -> sp.csr_matrix:
    """The boolean coverage matrix of the pairs no farther than ``radius``."""
    keep = dist <= radius
    return sp.csr_matrix((np.ones(int(keep.sum()), dtype=bool), (d_idx[keep], c_idx[keep])), shape=shape)


# ---------------------------------------------------------------------------------------------------------
# candidates in a study


GROUND_FLOOR_CATEGORIES = ("elderly_care", "health", "canteen")


@dataclass
class SiteStudy:
    """Candidates of one category in a study: who they reach, what they fix."""

    check: object  # geofacility.standards.Check
    candidates: "object"  # GeoDataFrame (metric CRS), evaluation columns added
    coverage: sp.csr_matrix  # demand × candidate, within the radius (or same community when no radius)
    pairs: tuple  # (demand idx, candidate idx, metres) within the radius or the p-median range
    uncovered: np.ndarray  # demand points not covered by existing facilities
    weights: np.ndarray  # demand weights
    eligible: np.ndarray  # candidates that may be selected
    existing_distance: np.ndarray  # each demand point's distance to the nearest existing facility (inf: none)


def _check_for(analysis, category: str):
    checks = [c for c in analysis.checks if c.category == category]
    if not checks:
        from .errors import InputError

        raise InputError(f"--category {category}: no standard applied to it in this study; give its existing "
                         f"facilities with --facilities {category}=FILE (an empty file means none exist)")
    return checks[0]


def candidate_pairs(analysis, candidates, check, *, measure=None, max_distance=None):
    """(demand idx, candidate idx, metres) within ``max_distance`` (default the radius): straight line, on foot
    (``measure`` a WalkingDistance), or from an OD cost table (``measure`` a CostMatrixDistance: candidates by
    their id; a set of rooms combined into one site by its first room's)."""
    from .network import WalkingDistance, snap_points

    demand = analysis.demand
    limit = max_distance if max_distance is not None else check.radius_m
    if getattr(measure, "by_id", False):
        at = candidates["located_at"] if "located_at" in candidates else candidates["candidate_id"]
        return measure.pairs(at.astype(str).to_numpy(), limit)
    if isinstance(measure, WalkingDistance):
        snap = snap_points(measure.network, candidates.geometry.values, measure.max_snap_m)
        return walking_pairs(measure.network, measure.demand, snap, limit)
    return straight_line_pairs(demand.geometry.values, candidates.geometry.values, limit)


def _same_community_pairs(analysis, candidates):
    """Pairs of demand points and candidates in the same community (for standards without a radius)."""
    comm = analysis.communities
    c_idx, k_idx = comm.sindex.query(candidates.geometry.values, predicate="intersects")
    cand_comm = pd.Series(comm["community_id"].to_numpy()[k_idx]).groupby(c_idx).first()
    codes = pd.Series(cand_comm.index.to_numpy(), index=cand_comm.to_numpy())
    dem = analysis.demand["community_id"]
    merged = pd.DataFrame({"d": np.arange(len(dem)), "cid": dem.to_numpy()}).merge(
        pd.DataFrame({"c": codes.to_numpy(), "cid": codes.index.to_numpy()}), on="cid")
    return merged["d"].to_numpy(np.int64), merged["c"].to_numpy(np.int64), np.zeros(len(merged))



def _area_rule(candidates, check) -> tuple[np.ndarray, list[str]]:
    """Per candidate: ``meets``, ``combine`` (one room of a community's set that together reach the minimum),
    ``too_small`` or ``n/a`` (the standard sets no minimum), with a Chinese note for the planner."""
    area = candidates["floor_area_m2"].to_numpy(dtype="float64")
    minimum = check.min_building_m2
    if not minimum:
        return np.full(len(area), "n/a", dtype=object), [""] * len(area)
    part = check.part_min_m2
    rule = np.where(area >= minimum, "meets", "too_small").astype(object)
    notes = [f"{a:,.0f} m² ≥ {minimum:g} m²" if a >= minimum else f"{a:,.0f} m² < {minimum:g} m²" for a in area]
    if part:
        # rooms of one community that may host the category can be combined to reach the minimum; each must
        # hold the station part
        hosts = candidates["hosts_category"].to_numpy(dtype=bool)
        pieces = candidates.assign(_a=area, _ok=(area >= part) & (area < minimum) & hosts)
        sums = pieces[pieces["_ok"]].groupby("community_id")["_a"].sum()
        members = pieces[pieces["_ok"]].groupby("community_id")["candidate_id"].agg(list)
        for i, (cid, a, ok) in enumerate(zip(pieces["community_id"], area, pieces["_ok"])):
            if not ok:
                if a < part:
                    notes[i] = f"{a:,.0f} m² < 单间下限 {part:g} m²（一门式服务站）"
                continue
            total = sums.get(cid, 0.0)
            others = [m for m in members.get(cid, []) if m != candidates["candidate_id"].iloc[i]]
            if total >= minimum:
                rule[i] = "combine"
                notes[i] = (f"{a:,.0f} m²，需与本社区 {'、'.join(others)} 合并达到 {minimum:g} m²"
                            f"（合计 {total:,.0f} m²）")
            else:
                notes[i] = f"{a:,.0f} m²；本社区房源合计 {total:,.0f} m² < {minimum:g} m²"
    return rule, notes


def _add_combinations(cands, check):
    """Rooms of one community that must be combined to reach the minimum become one more candidate row — the
    set, taken together (floor area and cost summed) — so selection can take them as a unit; on their own they
    are not selectable (their ``area_rule`` stays ``combine``)."""
    combine = cands[cands["area_rule"] == "combine"]
    if combine.empty:
        return cands
    rows = []
    for cid, group in combine.groupby("community_id", sort=True):
        group = group.sort_values("candidate_id")
        cats = [set(c) for c in group["categories"] if c]
        shared = sorted(set.intersection(*cats)) if cats else []
        rows.append({
            **{c: None for c in cands.columns},
            "candidate_id": "+".join(group["candidate_id"]),
            "name": "合并：" + "、".join(group["name"].astype(str)),
            "floor_area_m2": float(group["floor_area_m2"].sum()),
            "categories": shared if len(cats) == len(group) else [],
            # the set's categories are those its rooms share: written by their Chinese names (sites_table), not
            # as one room's own words
            "categories_text": None,
            "acquisition": "、".join(sorted({str(a) for a in group["acquisition"] if a})) or None,
            # as the planner wrote them, once each
            "acquisition_text": "、".join(dict.fromkeys(str(a) for a in group["acquisition_text"] if a)) or None,
            "reviewed_text": "、".join(dict.fromkeys(str(a) for a in group["reviewed_text"] if a)) or None,
            "reviewed": True if all(v is True for v in group["reviewed"]) else
            (False if any(v is False for v in group["reviewed"]) else None),
            "floor": float(group["floor"].max()) if "floor" in group else np.nan,
            "cost": float(group["cost"].sum()) if group["cost"].notna().all() else np.nan,
            "area_rule": "meets",
            "area_note": f"合并 {len(group)} 间，合计 {group['floor_area_m2'].sum():,.0f} m² ≥ {check.min_building_m2:g} m²",
            "community_id": cid,
            "town": group["town"].iloc[0],
            "hosts_category": True,
            "located_at": group["candidate_id"].iloc[0],  # the set stands where its first room does
            "geometry": group.geometry.iloc[0],
        })
    extra = gpd.GeoDataFrame(rows, geometry="geometry", crs=cands.crs)
    return gpd.GeoDataFrame(pd.concat([cands, extra], ignore_index=True), geometry="geometry", crs=cands.crs)


def evaluate_candidates(analysis, candidates, category: str, *, include_unreviewed: bool = False,
                        pmedian_range: float | None = None) -> SiteStudy:
    """What each candidate room would fix for ``category``, keeping the existing facilities.

    Adds to a copy of ``candidates``: ``community_id``/``town`` (where it stands), ``hosts_category`` (its
    ``categories`` name this one, or are empty), ``area_rule`` and ``area_note``, ``ground_floor_note``,
    ``newly_covered_population`` (people not covered by any existing facility that it would bring within the
    radius), ``communities_served`` (their communities), ``gap_closed_m2`` (floor-area gap of its own community
    it would close), ``selectable`` and ``rank``.

    The category is measured as the analysis measures it: straight line, on foot, or by an OD cost table
    (``analysis.category_measures``), which then also gives the candidates' reach.
    """
    check = _check_for(analysis, category)
    review_asked = bool(candidates.attrs.get("pre_review_column", True))  # the file had a 预审 column
    cands = candidates.to_crs(analysis.crs).reset_index(drop=True)
    for column in ("reviewed_text", "acquisition_text", "categories_text"):
        if column not in cands.columns:
            cands[column] = None
    cands["located_at"] = cands["candidate_id"].astype(str)
    comm = analysis.communities
    c_idx, k_idx = comm.sindex.query(cands.geometry.values, predicate="intersects")
    first = pd.Series(k_idx).groupby(c_idx).min()
    where = np.full(len(cands), -1)
    where[first.index.to_numpy()] = first.to_numpy()
    cands["community_id"] = np.where(where >= 0, comm["community_id"].to_numpy()[np.clip(where, 0, None)], None)
    cands["town"] = np.where(where >= 0, comm["town"].to_numpy()[np.clip(where, 0, None)], None)
    cands["hosts_category"] = np.array([not cats or category in cats for cats in cands["categories"]], dtype=bool)
    rule, notes = _area_rule(cands, check)
    cands["area_rule"] = rule
    cands["area_note"] = notes
    cands = _add_combinations(cands, check)
    hosts = cands["hosts_category"].to_numpy(dtype=bool)
    floor = cands["floor"].to_numpy(dtype="float64") if "floor" in cands else np.full(len(cands), np.nan)
    upstairs = (category in GROUND_FLOOR_CATEGORIES) & (floor > 1)
    cands["ground_floor_note"] = np.where(upstairs, f"非首层：{CATEGORY_SHORT_ZH.get(category, category)}宜设在首层", "")

    weights = analysis.demand["weight"].to_numpy(dtype="float64")
    dist_col = f"dist_{category}_m"
    if check.radius_m:
        uncovered = ~(analysis.demand[dist_col].to_numpy() <= check.radius_m)
        measure = (getattr(analysis, "category_measures", None) or {}).get(category,
                                                                          getattr(analysis, "measure", None))
        d_idx, k2, metres = candidate_pairs(analysis, cands, check, measure=measure,
                                            max_distance=max(check.radius_m, pmedian_range or 0))
    else:  # no radius: a room serves its own community, whose people are covered once it meets the standard
        share = comm.set_index("community_id")[f"{category}_covered_share"]
        met = analysis.demand["community_id"].map(share).astype(float).to_numpy() >= 1.0
        uncovered = ~met
        d_idx, k2, metres = _same_community_pairs(analysis, cands)
    radius = check.radius_m if check.radius_m else 0.0
    within = metres <= radius
    coverage = sp.csr_matrix((np.ones(int(within.sum()), dtype=bool), (d_idx[within], k2[within])),
                             shape=(len(weights), len(cands)))
    new = coverage.multiply(sp.csr_matrix((uncovered * weights)[:, None])).tocsc()
    cands["newly_covered_population"] = np.asarray(new.sum(axis=0)).ravel()
    comm_ids = analysis.demand["community_id"].to_numpy()
    served = []
    for j in range(len(cands)):
        rows = new.indices[new.indptr[j]:new.indptr[j + 1]]
        served.append("、".join(sorted({str(c) for c in comm_ids[rows] if c is not None})))
    cands["communities_served"] = served
    gap = comm.set_index("community_id")[f"{category}_gap_m2"]
    own_gap = cands["community_id"].map(gap).astype(float).fillna(0.0).to_numpy()
    room_area = cands["floor_area_m2"].to_numpy(dtype="float64")
    cands["gap_closed_m2"] = np.where(np.isnan(room_area), 0.0, np.minimum(room_area, own_gap))
    if review_asked:
        reviewed = cands["reviewed"].map(lambda v: v is True).to_numpy(dtype=bool)
        cands["review_note"] = np.where(reviewed, "", np.where(cands["reviewed"].isna(), "未预审（状态未知）",
                                                                "未通过预审"))
    else:  # the rooms file says nothing of a pre-review: not a criterion (said in the warnings)
        reviewed = np.ones(len(cands), dtype=bool)
        cands["review_note"] = ""
    area_ok = cands["area_rule"].isin(["meets", "n/a"]).to_numpy()
    selectable = hosts & area_ok & (reviewed | include_unreviewed)
    cands["selectable"] = selectable
    cands["selectable_reason"] = _reasons(cands, category, check, hosts, area_ok, reviewed, selectable,
                                          review_asked=review_asked)
    # rooms that can be taken first, then by what they fix
    order = np.lexsort((cands["candidate_id"].to_numpy(), cands["cost"].fillna(np.inf).to_numpy(),
                        -cands["gap_closed_m2"].to_numpy(), -cands["newly_covered_population"].to_numpy(),
                        ~selectable))
    rank = np.empty(len(cands), dtype=np.int64)
    rank[order] = np.arange(1, len(cands) + 1)
    cands["rank"] = rank
    existing = (analysis.demand[dist_col].to_numpy(dtype="float64") if dist_col in analysis.demand
                else np.full(len(weights), np.inf))
    return SiteStudy(check=check, candidates=cands, coverage=coverage, pairs=(d_idx, k2, metres),
                     uncovered=uncovered, weights=weights, eligible=np.flatnonzero(selectable),
                     existing_distance=existing)


def _reasons(cands, category: str, check, hosts, area_ok, reviewed, selectable, *, review_asked: bool) -> list[str]:
    """Per room, in Chinese, whether it can be taken and why not: ``可选`` or ``不可选：未通过预审；面积 280 m² 小于
    350 m²`` (every reason that applies, in the order category, pre-review, area)."""
    from .standards import CATEGORY_SHORT_ZH

    label = CATEGORY_SHORT_ZH.get(category, category)
    area = cands["floor_area_m2"].to_numpy(dtype="float64")
    minimum, part = check.min_building_m2, check.part_min_m2
    out = []
    for i, (rule, state, text, cats) in enumerate(zip(cands["area_rule"], cands["reviewed"], cands["reviewed_text"],
                                                      cands["categories"])):
        why = []
        if not hosts[i]:
            names = "、".join(CATEGORY_SHORT_ZH.get(c, c) for c in cats)
            why.append(f"可用类别为{names}，不含{label}")
        if review_asked and not reviewed[i]:
            said = f"（{text}）" if isinstance(text, str) and text else ""
            why.append("未通过预审" + said if state is False else "预审状态未知" + said)
        if not area_ok[i]:
            if rule == "combine":
                why.append(f"面积 {area[i]:,.0f} m² 小于 {minimum:g} m²，须与本社区房源合并（见合并房源行）")
            elif part and area[i] < part:
                why.append(f"面积 {area[i]:,.0f} m² 小于一门式服务站单间下限 {part:g} m²")
            else:
                why.append(f"面积 {area[i]:,.0f} m² 小于 {minimum:g} m²")
        if selectable[i]:
            note = []
            if review_asked and not reviewed[i]:
                note.append("；".join(why) + "，按 --include-unreviewed 纳入")
            elif not review_asked:
                note.append("房源表无预审列，未核对预审")
            if minimum and np.isnan(area[i]):
                note.append("面积未知")
            out.append("可选" + (f"（{'；'.join(note)}）" if note else ""))
        else:
            out.append("不可选：" + "；".join(why))
    return out


def select_sites(study: SiteStudy, *, method: str = "mclp", k: int | None = None, budget: float | None = None,
                 time_limit: float | None = None) -> Selection:
    """Choose sites among the study's selectable candidates; indices in the result refer to
    ``study.candidates`` rows."""
    cols = study.eligible
    if len(cols) == 0:
        from .errors import InputError

        raise InputError("no candidate can be selected: none hosts the category, meets its area rule and is "
                         "pre-reviewed (use --include-unreviewed to consider unreviewed rooms)")
    costs = study.candidates["cost"].to_numpy(dtype="float64")[cols]
    if budget is not None and np.isnan(costs).any():
        from .errors import InputError

        missing = study.candidates["candidate_id"].to_numpy()[cols][np.isnan(costs)]
        raise InputError(f"--budget needs a cost for every candidate; missing for {', '.join(map(str, missing[:5]))}")
    rows = np.flatnonzero(study.uncovered)
    a = study.coverage[rows][:, cols]
    w = study.weights[rows]
    if method == "mclp":
        result = solve_mclp(a, w, k=k, budget=budget, costs=costs, time_limit=time_limit)
    elif method == "greedy":
        result = greedy_mclp(a, w, k=k, budget=budget, costs=costs)
    elif method == "lscp":
        result = solve_lscp(a, w, time_limit=time_limit)
    elif method == "pmedian":
        if k is None:
            raise ValueError("p-median needs k")
        d_idx, c_idx, metres = study.pairs
        n = len(study.weights)
        if n * len(cols) > 50_000_000:
            from .errors import InputError

            raise InputError(f"p-median on {n:,} demand points × {len(cols)} candidates is too large for an exact "
                             "model here; aggregate the demand (e.g. by community) or use --method mclp")
        pos = np.full(len(study.candidates), -1)
        pos[cols] = np.arange(len(cols))
        keep = pos[c_idx] >= 0
        dense = np.full((n, len(cols)), np.inf)
        dense[d_idx[keep], pos[c_idx[keep]]] = metres[keep]
        result = solve_pmedian(dense, study.weights, p=k, existing_distance=study.existing_distance,
                               time_limit=time_limit)
    else:
        raise ValueError(f"unknown method {method!r}: use mclp, lscp, pmedian or greedy")
    result.selected = cols[result.selected]
    return result


def with_sites(analysis, study: SiteStudy, selection: Selection):
    """The analysis "as if" the selected rooms were built: they join the facilities of the category (with their
    floor area and the applied standard's subcategory) and coverage and gaps are recomputed on the same terms —
    the same measure, an OD cost table included (a selected room is found in it by its candidate id)."""
    from dataclasses import replace

    import geopandas as gpd

    from .coverage import compute_coverage

    chosen = study.candidates.iloc[selection.selected]
    added = gpd.GeoDataFrame({
        "facility_id": "candidate:" + chosen["candidate_id"].astype(str),
        "name": chosen["name"].astype(str),
        "category": study.check.category,
        "subcategory": study.check.subcategory,
        "floor_area_m2": chosen["floor_area_m2"].astype(float),
        "cost_id": chosen["located_at"].astype(str) if "located_at" in chosen else chosen["candidate_id"].astype(str),
        "source_file": chosen.get("source_file", ""),
        "source_row": chosen.get("source_row", 0),
    }, geometry=chosen.geometry.values, crs=analysis.crs)
    facilities = gpd.GeoDataFrame(pd.concat([analysis.facilities, added], ignore_index=True), crs=analysis.crs)
    base = analysis.communities[["community_id", "community", "town", "population", "households", "approximate",
                                 "geometry"]]
    demand = analysis.demand[["demand_id", "community_id", "weight", "geometry"]]
    picks: dict = {}
    comm, dem = compute_coverage(base, demand, facilities, analysis.checks,
                                 coverage_target=analysis.settings.get("coverage_target", 1.0),
                                 measure=analysis.measure,
                                 category_measures=getattr(analysis, "category_measures", None), picks=picks)
    comm = comm.sort_values(["town", "community_id"], kind="stable").reset_index(drop=True)
    settings = {**analysis.settings, "study": f"{analysis.settings.get('study', '')}（拟建房源后 with selected sites）"}
    return replace(analysis, communities=comm, demand=dem, facilities=facilities, settings=settings,
                   service_areas=None, coverage_picks=picks)
