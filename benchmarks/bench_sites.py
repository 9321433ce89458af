#!/usr/bin/env python
"""Site-selection benchmark: geofacility's exact MCLP (HiGHS) against PySAL spopt's ``MCLP`` (pulp + CBC).

The case (per instance, deterministic from ``--seeds``): ``--demand`` (5,000) weighted demand points clustered
around 6 Gaussian centres (σ 5–12 % of the side) plus 10 % spread evenly, over a ``--side`` (10 km) square in
metres; weights log-normal (median ≈ 55 people); ``--candidates`` (300) candidate sites spread evenly over the
square; ``--radius`` (800 m), at which a candidate covers 1.7–2.2 % of the demand points on average (median
0.4–1.4 %); ``--k`` (15) sites. Three instances by default, because the time HiGHS needs varies several-fold from one
instance to the next.

What is timed (each best of ``--repeat`` runs, default 3):

- geofacility exact: the points as shapely geometries, ``straight_line_pairs`` (one STRtree ``dwithin`` query),
  ``pairs_to_matrix`` and ``solve_mclp(k=...)`` — from coordinates to the answer. The split between building the
  coverage matrix and solving is printed too, and, for comparison, the same matrix built with a scipy ``cKDTree``
  (``query_ball_point``).
- spopt: the dense cost matrix (``scipy.spatial.distance.cdist``: a spopt user must build it) and
  ``MCLP.from_cost_matrix(cost, weights, service_radius, p_facilities)``, then
  ``.solve(pulp.PULP_CBC_CMD(msg=False))`` (spopt's documented default; ``results=True``, its default, as a user
  gets it) — again from coordinates to the answer.
- geofacility greedy: ``greedy_mclp(bound=False, swaps=False)`` (the pure greedy, on the coverage matrix; also
  with the matrix build), ``greedy_mclp(bound=False)`` (greedy then Teitz–Bart swaps, where ``greedy_mclp`` has
  them) and ``greedy_mclp()`` (with its LP-relaxation bound); their gaps to the exact optimum.

spopt's CBC gets ``--spopt-time-limit`` seconds per solve (default 600; a hard instance can take CBC far longer
than HiGHS): a run stopped by it is not repeated, its ratio is printed as a lower bound ("> X"), and its incumbent
must not exceed geofacility's optimum.

Agreement: both exact objectives (covered weight) must match to 1e-6 relative, or the benchmark exits 1. spopt's
model opens exactly p sites and geofacility's at most k: the same optimum, as covering is monotone.

Output: one line per figure, ``ratio spopt/geofacility: X.X`` per instance and over all instances (geometric
mean). Targets (from the issue): ratio ≥ 5 at equal objective; greedy within 1 % of the optimum in under 0.1 s.

    python benchmarks/bench_sites.py            # 3 instances of 5,000 × 300, k = 15 (about 5 minutes)
    python benchmarks/bench_sites.py --quick    # 1 instance of 1,000 × 80, k = 8 (< 30 s)
    python benchmarks/bench_sites.py --seeds 7  # one chosen instance
    python benchmarks/bench_sites.py --pmedian --seeds 0 1 2 --spopt-time-limit 900   # p-median, 2,000 × 150
"""
from __future__ import annotations

import argparse
import inspect
import math
import sys
import time
import warnings

import numpy as np
import scipy.sparse as sp
import shapely
from scipy.spatial import cKDTree
from scipy.spatial.distance import cdist

from geofacility.siting import collapse_demand, greedy_mclp, pairs_to_matrix, solve_mclp, straight_line_pairs

TOL_REL = 1e-6


def make_case(n_demand: int, n_cand: int, side: float, seed: int):
    """Clustered weighted demand and evenly spread candidates in a ``side`` × ``side`` square (metres)."""
    rng = np.random.default_rng(seed)
    n_centres = 6
    centres = rng.uniform(0.15 * side, 0.85 * side, (n_centres, 2))
    sigma = rng.uniform(0.05 * side, 0.12 * side, n_centres)
    share = rng.dirichlet(np.full(n_centres, 3.0))
    n_background = n_demand // 10
    counts = rng.multinomial(n_demand - n_background, share)
    parts = [rng.normal(centres[i], sigma[i], (counts[i], 2)) for i in range(n_centres)]
    parts.append(rng.uniform(0.0, side, (n_background, 2)))
    demand = np.clip(np.vstack(parts), 0.0, side)
    weights = np.round(rng.lognormal(4.0, 0.9, n_demand)) + 1.0
    candidates = rng.uniform(0.0, side, (n_cand, 2))
    return demand, weights, candidates


def best_of(repeat: int, fn):
    """(best wall time, the result of that fastest call) over ``repeat`` calls."""
    best, result = math.inf, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        elapsed = time.perf_counter() - t0
        if elapsed < best:
            best, result = elapsed, out
    return best, result


def coverage_strtree(demand_xy, cand_xy, radius):
    d_pts = shapely.points(demand_xy)
    c_pts = shapely.points(cand_xy)
    d_idx, c_idx, dist = straight_line_pairs(d_pts, c_pts, radius)
    return pairs_to_matrix(d_idx, c_idx, dist, (len(demand_xy), len(cand_xy)), radius)


def coverage_kdtree(demand_xy, cand_xy, radius):
    lists = cKDTree(demand_xy).query_ball_point(cand_xy, radius)
    cols = np.repeat(np.arange(len(cand_xy)), [len(x) for x in lists])
    rows = np.fromiter((i for x in lists for i in x), dtype=np.int64, count=len(cols))
    return sp.csr_matrix((np.ones(len(rows), dtype=bool), (rows, cols)), shape=(len(demand_xy), len(cand_xy)))


def line(label: str, value: str):
    print(f"{label:<60} {value}", flush=True)


def run_instance(args, seed: int, spopt_mod, pulp_mod) -> dict:
    demand, weights, cands = make_case(args.demand, args.candidates, args.side, seed)
    r, k, rep = args.radius, args.k, args.repeat
    print(f"\n== instance seed={seed}: {len(demand):,} demand points (total weight {weights.sum():,.0f}) × "
          f"{len(cands)} candidates, radius {r:g} m, k = {k}", flush=True)

    a = coverage_strtree(demand, cands, r)
    per_cand = np.asarray(a.sum(axis=0)).ravel() / len(demand) * 100
    groups, _, _ = collapse_demand(a, weights)
    line("demand points a candidate covers (mean / median)",
         f"{per_cand.mean():.2f} % / {np.median(per_cand):.2f} %")
    line("demand rows after merging identical ones",
         f"{groups.shape[0]:,} (of {int((a.getnnz(axis=1) > 0).sum()):,} reachable)")

    # --- geofacility exact ----------------------------------------------------------------------------------
    def geo_all():
        t0 = time.perf_counter()
        matrix = coverage_strtree(demand, cands, r)
        t1 = time.perf_counter()
        return t1 - t0, solve_mclp(matrix, weights, k=k)

    t_geo, (t_matrix, exact) = best_of(rep, geo_all)  # the split is that of the fastest run
    t_kd, a_kd = best_of(rep, lambda: coverage_kdtree(demand, cands, r))
    assert (a_kd != a).nnz == 0, "cKDTree and STRtree coverage differ"
    opt = exact.objective
    line("geofacility coverage matrix (STRtree dwithin)", f"{t_matrix:.3f} s")
    line("geofacility solve_mclp (HiGHS)", f"{t_geo - t_matrix:.3f} s  [{exact.status}, gap {exact.gap:.1e}]")
    line("geofacility exact total (matrix + solve)", f"{t_geo:.3f} s")
    line("geofacility objective (covered weight)", f"{opt:,.1f} ({opt / weights.sum():.1%} of the weight)")
    line("(coverage matrix with a cKDTree instead, for comparison)", f"{t_kd:.3f} s")

    t_solve = t_geo - t_matrix
    out = {"seed": seed, "geo": t_geo, "geo_solve": t_solve, "geo_matrix": t_matrix, "opt": opt}

    # --- spopt ------------------------------------------------------------------------------------------------
    if spopt_mod is not None:
        def spopt_all():
            t0 = time.perf_counter()
            model = spopt_mod.MCLP.from_cost_matrix(cdist(demand, cands), weights, service_radius=r,
                                                    p_facilities=k)
            t1 = time.perf_counter()
            solver = pulp_mod.PULP_CBC_CMD(msg=False, timeLimit=args.spopt_time_limit)
            try:
                model.solve(solver)
            except RuntimeError:  # spopt: "Model is not solved" (the time limit hit before any solution)
                pass
            return t1 - t0, model

        # best of ``repeat``, but a run stopped by the time limit is not repeated
        t_sp, t_sp_build, model = math.inf, None, None
        for _ in range(rep):
            t0 = time.perf_counter()
            build, m = spopt_all()
            elapsed = time.perf_counter() - t0
            if elapsed < t_sp:
                t_sp, t_sp_build, model = elapsed, build, m
            if m.problem.sol_status != pulp_mod.LpSolutionOptimal:
                break
        proven = model.problem.sol_status == pulp_mod.LpSolutionOptimal
        value = pulp_mod.value(model.problem.objective)
        sp_obj = float(value) if value is not None else math.nan
        line("spopt cdist + MCLP.from_cost_matrix", f"{t_sp_build:.3f} s")
        line("spopt .solve(PULP_CBC_CMD)", f"{t_sp - t_sp_build:.3f} s" + (
            "" if proven else f"  [stopped at the {args.spopt_time_limit:g} s time limit, not proven optimal]"))
        line("spopt total", f"{t_sp:.3f} s")
        line("spopt objective (covered weight)", f"{sp_obj:,.1f}")
        if proven:
            same = abs(sp_obj - opt) <= TOL_REL * max(1.0, abs(sp_obj))
            line("same objective", "yes" if same else f"NO: geofacility {opt!r} vs spopt {sp_obj!r}")
        else:  # spopt's incumbent can be worse than the optimum, never better
            same = not sp_obj > opt * (1 + TOL_REL)
            line("same objective", "not comparable (spopt stopped early); spopt's incumbent ≤ geofacility's "
                                   "optimum: " + ("yes" if same else f"NO: {sp_obj!r} > {opt!r}"))
        out.update(spopt=t_sp, spopt_obj=sp_obj, same=same, proven=proven)
        print(f"ratio spopt/geofacility: {'' if proven else '> '}{t_sp / t_geo:.1f}", flush=True)

    # --- greedy -----------------------------------------------------------------------------------------------
    # ``swaps`` (Teitz–Bart interchange after the greedy pass) where greedy_mclp has it: the pure greedy is
    # swaps=False; the default (swaps on) is timed too
    has_swaps = "swaps" in inspect.signature(greedy_mclp).parameters
    pure = {"swaps": False} if has_swaps else {}
    t_gr, gr = best_of(rep, lambda: greedy_mclp(a, weights, k=k, bound=False, **pure))
    t_gr_full, _ = best_of(rep, lambda: greedy_mclp(coverage_strtree(demand, cands, r), weights, k=k, bound=False,
                                                    **pure))
    gap = (opt - gr.covered_weight) / opt if opt > 0 else 0.0
    line("greedy_mclp(bound=False" + (", swaps=False" if has_swaps else "") + "), on the matrix", f"{t_gr:.4f} s")
    line("  the same, matrix + greedy", f"{t_gr_full:.4f} s")
    line("  objective, gap to the exact optimum", f"{gr.covered_weight:,.1f}, {gap:.2%}")
    out.update(greedy=t_gr, greedy_full=t_gr_full, greedy_gap=gap)
    if has_swaps:
        t_sw, sw = best_of(rep, lambda: greedy_mclp(a, weights, k=k, bound=False))
        t_sw_full, _ = best_of(rep, lambda: greedy_mclp(coverage_strtree(demand, cands, r), weights, k=k,
                                                        bound=False))
        gap_sw = (opt - sw.covered_weight) / opt if opt > 0 else 0.0
        line("greedy_mclp(bound=False) (greedy + swaps), on the matrix", f"{t_sw:.4f} s")
        line("  the same, matrix + greedy", f"{t_sw_full:.4f} s")
        line("  objective, gap to the exact optimum", f"{sw.covered_weight:,.1f}, {gap_sw:.2%}")
        out.update(swaps=t_sw, swaps_full=t_sw_full, swaps_gap=gap_sw)
    t_gr_b, gr_b = best_of(rep, lambda: greedy_mclp(a, weights, k=k))
    line("greedy_mclp() (defaults, with the LP bound), on the matrix", f"{t_gr_b:.4f} s")
    line("  its LP bound, the bound's gap to the optimum",
         f"{gr_b.bound:,.1f}, {(gr_b.bound - opt) / opt:.2%} (reported greedy gap {gr_b.gap:.2%})")
    print(f"ratio exact/greedy time: {t_solve / t_gr:.0f}", flush=True)
    out.update(greedy_bound=t_gr_b)
    return out


def run_pmedian(args, seed: int, spopt_mod, pulp_mod) -> dict:
    """p-median at a planner's size (issue 18): ``--pmedian-demand`` homes × ``--pmedian-candidates`` candidates,
    p = ``--pmedian-p``, straight-line metres, the case generator above; geofacility's Benders solve against the
    same model given to spopt (``PMedian.from_cost_matrix`` + CBC, under ``--spopt-time-limit``)."""
    from geofacility.siting import solve_pmedian

    demand, weights, cand = make_case(args.pmedian_demand, args.pmedian_candidates, args.side, seed)
    cost = cdist(demand, cand)
    print(f"\n== p-median, seed {seed}: {len(demand):,} homes × {len(cand)} candidates, p = {args.pmedian_p}",
          flush=True)
    t0 = time.perf_counter()
    ours = solve_pmedian(cost, weights, p=args.pmedian_p)
    geo = time.perf_counter() - t0
    line("geofacility (HiGHS, Benders)", f"{geo:.2f} s, {ours.status}, objective {ours.objective:,.1f} "
                                         f"({ours.details.get('rounds')} rounds)")
    out = {"geo": geo, "objective": ours.objective, "same": True}
    if spopt_mod is not None:
        t0 = time.perf_counter()
        model = spopt_mod.PMedian.from_cost_matrix(cost, weights, p_facilities=args.pmedian_p)
        model = model.solve(pulp_mod.PULP_CBC_CMD(msg=False, timeLimit=args.spopt_time_limit))
        spent = time.perf_counter() - t0
        status = pulp_mod.LpStatus[model.problem.status]
        theirs = pulp_mod.value(model.problem.objective)
        stopped = spent >= args.spopt_time_limit * 0.98 or status != "Optimal"
        line("spopt (pulp + CBC)", f"{spent:.1f} s, {status}{' (time limit)' if stopped else ''}, objective "
                                   f"{theirs if theirs is None else f'{theirs:,.1f}'}")
        out.update(spopt=spent, proven=not stopped)
        if not stopped:
            out["same"] = abs(theirs - ours.objective) <= TOL_REL * abs(ours.objective)
        elif theirs is not None and theirs < ours.objective * (1 - TOL_REL):
            out["same"] = False  # an incumbent better than a proven optimum would be a bug
        line("ratio spopt/geofacility", ("" if not stopped else "> ") + f"{spent / geo:.1f}")
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="one small instance (1,000 × 80, k = 8)")
    ap.add_argument("--demand", type=int, default=5000)
    ap.add_argument("--candidates", type=int, default=300)
    ap.add_argument("--k", type=int, default=15)
    ap.add_argument("--radius", type=float, default=800.0)
    ap.add_argument("--side", type=float, default=10_000.0)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-spopt", action="store_true", help="time geofacility only")
    ap.add_argument("--spopt-time-limit", type=float, default=600.0,
                    help="CBC's time limit per solve (s); a ratio on a stopped run is a lower bound, shown '> X'")
    ap.add_argument("--pmedian", action="store_true", help="the p-median case instead (2,000 × 150, p = 10)")
    ap.add_argument("--pmedian-demand", type=int, default=2000)
    ap.add_argument("--pmedian-candidates", type=int, default=150)
    ap.add_argument("--pmedian-p", type=int, default=10)
    args = ap.parse_args(argv)
    if args.quick:
        args.demand, args.candidates, args.k, args.seeds = 1000, 80, 8, args.seeds[:1]

    spopt_mod = pulp_mod = None
    if not args.no_spopt:
        try:
            import pulp as pulp_mod
            import spopt.locate as spopt_mod
        except ImportError:
            print("spopt is not installed (pip install spopt): timing geofacility only", file=sys.stderr)
    # spopt 0.7 builds its models with pulp calls that pulp 3.3 flags for 4.0: one warning per variable
    warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"pulp.*")

    from importlib.metadata import version

    print(f"geofacility site selection benchmark; highspy {version('highspy')}"
          + (f", spopt {version('spopt')}, pulp {version('pulp')}" if spopt_mod else ""))
    if args.pmedian:
        results = [run_pmedian(args, s, spopt_mod, pulp_mod) for s in args.seeds]
        line("geofacility p-median, slowest", f"{max(r['geo'] for r in results):.2f} s (target < 30 s)")
        if not all(r["same"] for r in results):
            print("OBJECTIVES DIFFER", file=sys.stderr)
            return 1
        return 0
    results = [run_instance(args, s, spopt_mod, pulp_mod) for s in args.seeds]

    print("\n== summary", flush=True)
    ok = True
    if spopt_mod is not None:
        ratios = [r["spopt"] / r["geo"] for r in results]
        gmean = math.exp(sum(math.log(x) for x in ratios) / len(ratios))
        ok = all(r["same"] for r in results)
        line("instances with the same objective", f"{sum(r['same'] for r in results)} of {len(results)}")
        line("ratio per instance", ", ".join(("" if r.get("proven") else "> ") + f"{x:.1f}"
                                             for r, x in zip(results, ratios)))
        print(f"ratio spopt/geofacility: {gmean:.1f} (geometric mean of {len(ratios)}; lowest {min(ratios):.1f}; "
              f"target ≥ 5)")
    for key, label in (("greedy", "pure greedy"), ("swaps", "greedy + swaps")):
        if key not in results[0]:
            continue
        line(f"{label}: gap to optimum (worst)", f"{max(r[key + '_gap'] for r in results):.2%} (target ≤ 1 %)")
        line(f"{label}: time alone / with matrix (slowest)",
             f"{max(r[key] for r in results):.4f} s / {max(r[key + '_full'] for r in results):.4f} s "
             f"(target < 0.1 s)")
    if not ok:
        print("OBJECTIVES DIFFER", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
