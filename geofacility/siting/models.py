"""Siting, the selection models: which candidates to open, on plain arrays (no study, no geometry).

All keep the existing facilities fixed (people they already cover count as covered):

- **MCLP** (maximal covering, :func:`solve_mclp`): open at most ``k`` candidates (or spend at most ``budget``) to
  bring the most people within the service radius;
- **LSCP** (set covering, :func:`solve_lscp`): the fewest candidates that bring everybody coverable within the
  radius, reporting who no candidate can reach;
- **p-median** (:func:`solve_pmedian`): open ``p`` candidates to minimise the people-weighted distance (metres) to
  the nearest facility, existing ones included — exact, by Benders cuts (:class:`_PMedianCuts`);
- **greedy** MCLP (:func:`greedy_mclp`) for very large inputs, with the LP-relaxation bound so the optimality gap
  is known.

The exact models are mixed-integer programmes solved by HiGHS through ``highspy`` (:func:`_highs`,
:func:`_solve`, also used by :mod:`geofacility.capacity`). Before solving, demand points that the same set of
candidates reaches are merged into one weighted row (:func:`collapse_demand`; the standard reduction, it can
shrink a city's demand by orders of magnitude without changing the optimum). Each model returns a
:class:`Selection`.

Inputs: a sparse boolean *coverage* matrix (demand × candidate: within the radius), demand weights (people), and
for p-median a dense distance matrix in metres. They are kept as functions (not spopt's one class per model):
the study-facing entry point is :func:`geofacility.siting.select_sites`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

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
