"""Siting, the candidate rooms (房源) of a study: what each would fix and which may be taken.

:func:`evaluate_candidates` places each room in its community, applies the category's area rule (a community's
rooms combined when together they reach the minimum floor area, m²), the pre-review and the ground-floor note,
counts the people not yet covered it would bring within the radius (``newly_covered_population``), the floor-area
gap it would close (m²), says in Chinese why a room cannot be taken, and ranks the rooms; the result is a
:class:`SiteStudy`. :func:`select_sites` then runs a selection model of :mod:`geofacility.siting.models` on the
study's selectable rooms. Reach is measured as the study measures it (:func:`candidate_pairs`: straight line, on
foot, or an OD cost table).
"""
from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..standards import CATEGORY_SHORT_ZH
from .models import Selection, greedy_mclp, solve_lscp, solve_mclp, solve_pmedian
from .pairs import straight_line_pairs, walking_pairs

__all__ = ["GROUND_FLOOR_CATEGORIES", "SiteStudy", "candidate_pairs", "evaluate_candidates", "select_sites"]


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
        from ..errors import InputError

        raise InputError(f"--category {category}: no standard applied to it in this study; give its existing "
                         f"facilities with --facilities {category}=FILE (an empty file means none exist)")
    return checks[0]


def candidate_pairs(analysis, candidates, check, *, measure=None, max_distance=None):
    """(demand idx, candidate idx, metres) within ``max_distance`` (default the radius): straight line, on foot
    (``measure`` a WalkingDistance), or from an OD cost table (``measure`` a CostMatrixDistance: candidates by
    their id; a set of rooms combined into one site by its first room's)."""
    from ..network import WalkingDistance, snap_points

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
    from ..standards import CATEGORY_SHORT_ZH

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
        from ..errors import InputError

        raise InputError("no candidate can be selected: none hosts the category, meets its area rule and is "
                         "pre-reviewed (use --include-unreviewed to consider unreviewed rooms)")
    costs = study.candidates["cost"].to_numpy(dtype="float64")[cols]
    if budget is not None and np.isnan(costs).any():
        from ..errors import InputError

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
            from ..errors import InputError

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
