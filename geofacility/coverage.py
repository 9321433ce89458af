"""Coverage and gaps per community × category against the standards.

For each check (a standard applied to a category):

- covered share: the share of the community's people (demand weights) within the service radius of the nearest
  facility of that check — straight-line distance from :mod:`geofacility.distance`, or on foot; for a standard
  without a radius, 1 when the community meets the count and floor-area rule (the facility serves the community
  it stands in) and 0 otherwise;
- count: facilities the standard requires, max(1, ⌈population / population served⌉), against those present —
  inside the community (scope ``community``), within the radius of at least one of its residents (``reach``;
  on foot: the nearest within the radius) or inside the street/town (``town``); a facility smaller than the
  standard's minimum floor area does not count as one (``below_minimum`` says which there are);
- floor area: max(per-1000-people, per-100-households, minimum size × count) against the floor area present
  (``community`` and ``town`` scopes);
- status ``gap`` when any of the three falls short, ``ok`` otherwise, ``not_surveyed`` when the category has no
  facility data.
"""
from __future__ import annotations


import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .distance import StraightLineDistance, pairs_within
from .errors import InputError, WarningLog
from .standards import CATEGORIES, CATEGORY_SHORT_ZH, NATIONAL, Check, applicable_standards, chosen_checks, \
    default_check, find_check, share_text, where_applies

__all__ = ["select_checks", "facility_checks", "compute_coverage", "category_columns", "containing_community",
           "resident_pairs", "whole_people", "category_totals"]

METRICS = (
    "status", "standard", "radius_m", "covered_share", "covered_population", "uncovered_population",
    "required_count", "current_count", "count_gap", "required_m2", "current_m2", "gap_m2", "below_minimum", "problem",
    "by_standard",
)
#: the text columns among :data:`METRICS` (empty, not NaN, where a category is not surveyed)
_TEXT_METRICS = ("status", "standard", "below_minimum", "problem", "by_standard")


def category_columns(category: str) -> list[str]:
    """The ledger columns of one category, ``<category>_<metric>``, in ledger.csv's order (docs/data-model.md)."""
    return [f"{category}_{m}" for m in METRICS]


def select_checks(facilities: pd.DataFrame, standards: pd.DataFrame, surveyed: list[str],
                  choices: dict[str, list[str]] | None = None, *, jurisdiction: str | None = None,
                  log: WarningLog | None = None) -> list[Check]:
    """The standards applied to each surveyed category, among those that apply in the study's ``jurisdiction``
    (national rows always; a province's or city's only there; the most local row of a standard wins — see
    :func:`geofacility.standards.applicable_standards`; None: every row).

    ``choices`` (``--standard CATEGORY=SUBCATEGORY``) wins; a standard of another jurisdiction is refused. Otherwise
    one check per subcategory present in the facilities that the applicable standards know, plus the category's
    default standard for facilities without a known (or applicable) subcategory.
    """
    log = log if log is not None else WarningLog()
    choices = choices or {}
    table = applicable_standards(standards, jurisdiction)
    for category, subs in choices.items():
        for sub in subs:
            elsewhere = where_applies(standards, category, sub)
            if find_check(table, category, sub) is None and elsewhere:
                raise InputError(
                    f"--standard {category}={sub}: a standard of {'、'.join(elsewhere)}, which does not apply where "
                    f"this study lies ({jurisdiction or NATIONAL}); give --jurisdiction {elsewhere[0]} if the study "
                    "is there, or choose a standard that applies")
    checks: list[Check] = []
    for category in CATEGORIES:
        if category not in surveyed:
            continue
        if category in choices:
            checks.extend(chosen_checks(table, category, choices[category]))
            continue
        of_cat = facilities[facilities["category"] == category]
        subs = sorted({s for s in of_cat["subcategory"] if isinstance(s, str)})
        cat_checks = [c for c in (find_check(table, category, s) for s in subs) if c is not None]
        foreign = [s for s in subs if find_check(table, category, s) is None and where_applies(standards, category, s)]
        for sub in foreign:
            places = '、'.join(where_applies(standards, category, sub))
            named = standards.loc[(standards["category"] == category) & (standards["subcategory"] == sub), "name_zh"]
            name_zh = next((n for n in named if isinstance(n, str) and n), sub)
            log.add("standards", None, f"the standard of {category} subcategory {sub} applies only in {places}, not "
                                       f"where this study lies ({jurisdiction or NATIONAL}): its facilities are "
                                       "counted under the category's default standard", severity="info",
                    zh=f"{CATEGORY_SHORT_ZH[category]}设施“{name_zh}”的标准只适用于{places}，不适用于本研究所在地"
                       f"（{jurisdiction or NATIONAL}），按本类默认标准计")
        if not cat_checks or of_cat["subcategory"].isna().any() or foreign:
            fallback = default_check(table, category)
            if fallback.subcategory not in {c.subcategory for c in cat_checks}:
                cat_checks.append(fallback)
        checks.extend(cat_checks)
    return checks


def facility_checks(facilities: pd.DataFrame, checks: list[Check]) -> dict[Check, np.ndarray]:
    """Which facilities count for which check: all of the category when it has one check; otherwise by
    subcategory, facilities without a known subcategory counting for the category's default check."""
    masks: dict[Check, np.ndarray] = {}
    for check in checks:
        same_cat = (facilities["category"] == check.category).to_numpy()
        siblings = [c for c in checks if c.category == check.category]
        if len(siblings) == 1:
            masks[check] = same_cat
            continue
        sub = facilities["subcategory"]
        mask = same_cat & (sub == check.subcategory).fillna(False).to_numpy()
        known = {c.subcategory for c in siblings}
        if check.is_default or check is siblings[-1] and not any(c.is_default for c in siblings):
            mask |= same_cat & ~sub.isin(known).to_numpy()
        masks[check] = mask
    return masks


def _group_sum(codes: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    ok = codes >= 0
    return np.bincount(codes[ok], weights=values[ok], minlength=n)


def _check_metrics(check: Check, communities: gpd.GeoDataFrame, demand: gpd.GeoDataFrame, demand_codes: np.ndarray,
                   facilities: gpd.GeoDataFrame, fac_mask: np.ndarray, fac_codes: np.ndarray,
                   coverage_target: float, measure) -> tuple[pd.DataFrame, np.ndarray]:
    n = len(communities)
    fac = facilities.loc[fac_mask]
    fac_geoms = fac.geometry.values
    population = communities["population"].fillna(0).to_numpy(dtype="float64")
    households = communities["households"].to_numpy(dtype="float64")

    # --- coverage
    if getattr(measure, "by_id", False):  # an OD cost table (geofacility.costs): facilities by their ids
        from .costs import cost_ids

        dist, nearest = measure.nearest(fac_geoms, radius_m=check.radius_m, ids=cost_ids(fac))
    else:
        dist, nearest = measure.nearest(fac_geoms, radius_m=check.radius_m)
    weight = demand["weight"].to_numpy(dtype="float64")
    demand_total = _group_sum(demand_codes, weight, n)
    if check.radius_m:
        covered_w = _group_sum(demand_codes, np.where(dist <= check.radius_m, weight, 0.0), n)
        with np.errstate(invalid="ignore", divide="ignore"):
            share = np.where(demand_total > 0, covered_w / demand_total, np.nan)
    else:
        share = None  # no radius: covered when the community meets the count and floor-area rule (below)

    # --- count and floor area
    area = fac["floor_area_m2"].to_numpy(dtype="float64")
    big_enough = np.isnan(area) | (area >= (check.min_building_m2 or 0.0))
    required_count = check.required_count(population)
    if check.scope == "reach" and check.radius_m:
        # the facilities within the radius of at least one resident (a demand point with people) of the community:
        # the same residents and radius as the covered share, so a facility counts only where it covers somebody
        geom_idx, f_idx = resident_pairs(measure, demand_codes, weight, fac_geoms, check.radius_m, dist, nearest)
        current_count = np.bincount(geom_idx[big_enough[f_idx]], minlength=n).astype("float64")
        current_m2 = np.full(n, np.nan)
        required_m2 = np.full(n, np.nan)
        below_pairs = (geom_idx, f_idx)
    else:
        if check.scope == "town":
            towns = communities["town"].astype(object).fillna("").to_numpy()
            town_codes, town_names = pd.factorize(towns)
            comm_town = town_codes
            fc = fac_codes[fac_mask]
            fac_town = np.where(fc >= 0, comm_town[np.clip(fc, 0, None)], -1)
            nt = len(town_names)
            town_pop = np.bincount(comm_town, weights=population, minlength=nt)
            town_hh = np.bincount(comm_town, weights=households, minlength=nt)  # unknown households stay unknown
            cnt = _group_sum(fac_town, big_enough.astype("float64"), nt)
            known_area = _group_sum(fac_town, np.nan_to_num(area), nt)
            unknown = _group_sum(fac_town, np.isnan(area).astype("float64"), nt) > 0
            req_cnt = check.required_count(town_pop)
            req_m2 = check.required_area(town_pop, town_hh)
            current_count, required_count = cnt[comm_town], req_cnt[comm_town]
            current_m2 = np.where(unknown, np.nan, known_area)[comm_town]
            required_m2 = req_m2[comm_town]
            below_pairs = (comm_town, None, fac_town)
        else:
            fc = fac_codes[fac_mask]
            current_count = _group_sum(fc, big_enough.astype("float64"), n)
            known_area = _group_sum(fc, np.nan_to_num(area), n)
            unknown = _group_sum(fc, np.isnan(area).astype("float64"), n) > 0
            current_m2 = np.where(unknown, np.nan, known_area)
            required_m2 = check.required_area(population, households)
            below_pairs = (fc, np.arange(len(fac)))
    count_gap = np.maximum(required_count - current_count, 0.0)
    with np.errstate(invalid="ignore"):
        gap_m2 = np.where(np.isnan(required_m2) | np.isnan(current_m2), np.nan,
                          np.maximum(required_m2 - current_m2, 0.0))

    requirement_met = (count_gap <= 0) & ~(np.nan_to_num(gap_m2) > 0)
    if share is None:
        # a standard without a service radius serves the community it stands in (or the town, for a street-level
        # one): its people are covered when the community meets the count and floor-area rule, not otherwise
        share = np.where(population > 0, requirement_met.astype("float64"), np.nan)
        short_cover = np.zeros(n, dtype=bool)
    else:
        short_cover = np.nan_to_num(share, nan=1.0) < coverage_target - 1e-12
    covered_pop = share * population
    uncovered_pop = population - covered_pop
    short = short_cover | ~requirement_met
    area_unknown = check.has_area_rule & np.isnan(current_m2) & (check.scope != "reach")
    status = np.where(short, "gap", "ok")
    problems = []
    prefix = "" if check.scope != "town" else "（街道级）"
    for i in range(n):
        parts = []
        if short_cover[i]:
            parts.append(f"覆盖率 {share_text(share[i])}")
        if count_gap[i] > 0:
            parts.append(f"缺 {count_gap[i]:.0f} 处")
        if not np.isnan(gap_m2[i]) and gap_m2[i] > 0:
            parts.append(f"面积缺口 {gap_m2[i]:,.0f} m²")
        if area_unknown[i] and current_count[i] > 0:
            parts.append("面积未知")
        problems.append(prefix + "，".join(parts) if parts else "")
    below = _below_minimum(check, n, area, big_enough, below_pairs)
    frame = pd.DataFrame({
        "status": status,
        "covered_share": share,
        "covered_population": covered_pop,
        "uncovered_population": uncovered_pop,
        "required_count": required_count,
        "current_count": current_count,
        "count_gap": count_gap,
        "required_m2": required_m2,
        "current_m2": current_m2,
        "gap_m2": gap_m2,
        "below_minimum": below,
        "problem": problems,
    }, index=communities.index)
    return frame, dist


def resident_pairs(measure, demand_codes: np.ndarray, weight: np.ndarray, fac_geoms, radius_m: float,
                   dist: np.ndarray, nearest: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(community position, facility position), unique, of the facilities within ``radius_m`` metres of at least one
    resident (a demand point with people) of the community — the reach-scope count. Straight line: every facility
    within the radius; on foot (or by an OD cost table): the facilities that are the nearest, within the radius,
    for some resident (``dist``, ``nearest``: ``measure.nearest`` of ``fac_geoms``)."""
    people = (demand_codes >= 0) & (weight > 0)
    points = getattr(measure, "points", None)
    if measure.method == "euclidean" and points is not None:
        p_idx, f_idx, metres = pairs_within(np.asarray(points)[people], fac_geoms, radius_m)
        keep = metres <= radius_m
        pairs = np.unique(np.column_stack([demand_codes[people][p_idx[keep]], f_idx[keep]]), axis=0)
    else:
        reached = (dist <= radius_m) & people
        pairs = np.unique(np.column_stack([demand_codes[reached], nearest[reached]]), axis=0)
    pairs = pairs.reshape(-1, 2)
    return pairs[:, 0], pairs[:, 1]


def _below_minimum(check: Check, n: int, area: np.ndarray, big_enough: np.ndarray, pairs) -> np.ndarray:
    """Per community, the facilities present that do not count because they are smaller than the standard's
    minimum floor area, in words: ``1 处 2,800 m² 小于 3,150 m² 下限`` (empty when none). ``pairs``: (community
    position, facility position) of the facilities that would count there; for the town scope (community → town,
    None, facility → town)."""
    out = np.full(n, "", dtype=object)
    small = ~big_enough
    if not check.min_building_m2 or not small.any():
        return out
    if len(pairs) == 3:  # town scope: the town's small facilities, on each of its communities' rows
        comm_town, _, fac_town = pairs
        ok = small & (fac_town >= 0)
        grouped = pd.DataFrame({"where": fac_town[ok], "area": area[ok]})
        code = comm_town
    else:
        where, f_idx = pairs
        f_idx = np.arange(len(area)) if f_idx is None else f_idx
        ok = small[f_idx] & (where >= 0)
        grouped = pd.DataFrame({"where": where[ok], "area": area[f_idx[ok]]})
        code = np.arange(n)
    if grouped.empty:
        return out
    minimum = f"{check.min_building_m2:,.0f}"
    texts = grouped.sort_values(["where", "area"], kind="stable").groupby("where")["area"].agg(
        lambda a: f"{len(a)} 处 " + "、".join(f"{v:,.0f}" for v in a) + f" m² 小于 {minimum} m² 下限")
    per = pd.Series(code).map(texts)
    return per.where(per.notna(), "").to_numpy(dtype=object)


def _by_standard(parts: list[tuple[Check, pd.DataFrame]], population: np.ndarray) -> list[str]:
    """The ``<category>_by_standard`` column (:mod:`geofacility.per_standard`): each check's own figures."""
    from .per_standard import encode

    fields = ("status", "covered_share", "covered_population", "uncovered_population", "required_count",
              "current_count", "count_gap", "required_m2", "current_m2", "gap_m2", "below_minimum", "problem")
    columns = [(check, {f: frame[f].to_numpy() for f in fields}) for check, frame in parts]
    return [encode([{"subcategory": check.subcategory, "name": check.name_zh, "radius_m": check.radius_m,
                     **{f: values[f][i] for f in fields}} for check, values in columns], population[i])
            for i in range(len(population))]


def _combine(category: str, parts: list[tuple[Check, pd.DataFrame]], population: np.ndarray | None = None
             ) -> tuple[pd.DataFrame, np.ndarray]:
    """One category's columns from its checks: the weakest coverage, summed counts and areas, any gap, and (with
    several checks) each check's figures in ``by_standard``; and per community the position (in ``parts``) of the
    check whose coverage the category's columns give."""
    first_check, first = parts[0]
    if len(parts) == 1:
        out = first.copy()
        out["by_standard"] = ""
        out["standard"] = first_check.label
        out["radius_m"] = first_check.radius_m if first_check.radius_m else np.nan
        weakest = np.zeros(len(first), dtype=np.int64)
    else:
        shares = np.column_stack([p["covered_share"].to_numpy() for _, p in parts])
        with np.errstate(invalid="ignore"):
            weakest = np.where(np.isnan(shares), np.inf, shares).argmin(axis=1)
        pick = lambda col: np.column_stack([p[col].to_numpy() for _, p in parts])[np.arange(len(first)), weakest]
        out = pd.DataFrame(index=first.index)
        out["status"] = np.where(np.any([p["status"] == "gap" for _, p in parts], axis=0), "gap", "ok")
        out["covered_share"] = pick("covered_share")
        out["covered_population"] = pick("covered_population")
        out["uncovered_population"] = pick("uncovered_population")
        for col in ("required_count", "current_count", "count_gap", "required_m2", "current_m2", "gap_m2"):
            stacked = np.column_stack([p[col].to_numpy(dtype="float64") for _, p in parts])
            # a check without that figure (e.g. no floor-area rule) does not blank out the others'
            out[col] = np.where(np.isnan(stacked).all(axis=1), np.nan, np.nansum(stacked, axis=1))
        for col in ("below_minimum", "problem"):
            out[col] = [  # the standard's name, then its text (a space before a number: 幼儿园 1 处 2,800 m² …)
                "；".join(f"{c.name_zh}{' ' if t[:1].isdigit() else ''}{t}" for (c, _), t in zip(parts, texts) if t)
                for texts in zip(*[p[col] for _, p in parts])
            ]
        out["by_standard"] = _by_standard(parts, np.full(len(first), np.nan) if population is None else population)
        out["standard"] = "; ".join(c.label for c, _ in parts)
        out["radius_m"] = np.array([c.radius_m or np.nan for c, _ in parts])[weakest]
    return out, weakest


def containing_community(communities: gpd.GeoDataFrame, points: gpd.GeoDataFrame) -> np.ndarray:
    """Position in ``communities`` of the community containing each point (−1: none); a point on a boundary shared
    by several goes to the lowest ``community_id`` — whatever the row order."""
    codes = np.full(len(points), -1, dtype=np.int64)
    if not len(points) or not len(communities):
        return codes
    p_idx, c_idx = communities.sindex.query(points.geometry.values, predicate="intersects")
    order = np.argsort(communities["community_id"].astype(str).to_numpy(), kind="stable")
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    best = pd.Series(rank[c_idx]).groupby(p_idx).min()
    codes[best.index.to_numpy()] = order[best.to_numpy()]
    return codes


def compute_coverage(communities: gpd.GeoDataFrame, demand: gpd.GeoDataFrame, facilities: gpd.GeoDataFrame,
                     checks: list[Check], *, coverage_target: float = 1.0, measure=None,
                     survey_extent: dict | None = None, category_measures: dict | None = None,
                     picks: dict | None = None) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Per community × category coverage and gaps; demand gains ``dist_<category>_m``.

    ``measure``: how distance is measured, :class:`~geofacility.distance.StraightLineDistance` over the demand
    points (the default) or :class:`~geofacility.network.WalkingDistance`. On foot, a ``reach``-scope count
    counts the facilities that are the nearest, within the radius, for at least one resident of the community.

    All inputs in one metric CRS. ``communities`` needs ``community_id``, ``town``, ``population``,
    ``households``; ``demand`` needs ``community_id`` and ``weight``; ``facilities`` needs ``category``,
    ``subcategory``, ``floor_area_m2``.

    ``survey_extent``: per category, the area (a shapely geometry in the same CRS) its facility data cover;
    communities whose inside point lies outside it are ``not_surveyed`` for that category rather than short of
    everything (facility data often exist for one district of a city-wide run).

    ``category_measures``: a measure of its own for some categories, e.g. an OD cost table
    (:class:`geofacility.costs.CostMatrixDistance`) for the category a siting study measures with one.

    ``picks``: a dict filled, per surveyed category, with a Series by ``community_id`` of the position (among the
    category's checks, in ``checks`` order) of the check whose coverage the category's columns give (the weakest):
    :func:`geofacility.capacity.apply_capacity` takes the capacity split of the same check.
    """
    if not 0 < coverage_target <= 1:
        raise ValueError("coverage_target must be in (0, 1]")
    communities = communities.copy()
    demand = demand.copy()
    measure = measure if measure is not None else StraightLineDistance(demand.geometry.values)
    ids = communities["community_id"].to_numpy()
    code_of = {cid: i for i, cid in enumerate(ids)}
    demand_codes = demand["community_id"].map(code_of).fillna(-1).to_numpy(dtype=np.int64)
    # the results must not depend on row order: facilities in facility_id order (ties in walking distance go to
    # the lowest id), and a facility on a boundary shared by two communities counts for the lower community_id
    if len(facilities):
        facilities = facilities.iloc[np.argsort(facilities["facility_id"].astype(str).to_numpy(), kind="stable")]
    fac_codes = containing_community(communities, facilities)
    masks = facility_checks(facilities, checks)
    n_short = np.zeros(len(communities), dtype=np.int64)
    for category in CATEGORIES:
        cat_checks = [c for c in checks if c.category == category]
        if not cat_checks:
            cols = {f"{category}_{m}": np.nan for m in METRICS}
            cols[f"{category}_status"] = "not_surveyed"
            cols[f"{category}_standard"] = ""
            cols[f"{category}_below_minimum"] = ""
            cols[f"{category}_by_standard"] = ""
            cols[f"{category}_problem"] = "未调查"
            for k, v in cols.items():
                communities[k] = v
            continue
        parts = []
        for i, check in enumerate(cat_checks):
            frame, dist = _check_metrics(check, communities, demand, demand_codes, facilities, masks[check],
                                         fac_codes, coverage_target,
                                         (category_measures or {}).get(category, measure))
            parts.append((check, frame))
            column = f"dist_{category}_m" if i == 0 else f"dist_{category}_{check.subcategory}_m"
            demand[column] = dist
        combined, weakest = _combine(category, parts, communities["population"].to_numpy(dtype="float64"))
        if picks is not None:
            picks[category] = pd.Series(weakest, index=pd.Index(ids, name="community_id"))
        extent = (survey_extent or {}).get(category)
        if extent is not None:
            outside = ~shapely.within(communities.geometry.representative_point().to_numpy(), extent)
            combined.loc[outside, [m for m in METRICS if m not in _TEXT_METRICS]] = np.nan
            combined.loc[outside, ["below_minimum", "by_standard"]] = ""
            combined.loc[outside, "status"] = "not_surveyed"
            combined.loc[outside, "standard"] = ""
            combined.loc[outside, "problem"] = "未调查（在调查范围外）"
        for m in METRICS:
            communities[f"{category}_{m}"] = combined[m].to_numpy()
        n_short += (combined["status"] == "gap").to_numpy()
    # filled by geofacility.capacity where capacities are known (added at once: a GeoDataFrame column at a time
    # is slow)
    empty = pd.DataFrame(np.nan, index=communities.index, columns=[
        f"{c}_{m}" for c in CATEGORIES for m in ("served_population", "over_capacity_population",
                                                  "out_of_reach_population")])
    communities = gpd.GeoDataFrame(pd.concat([communities, empty], axis=1), geometry=communities.geometry.name,
                                   crs=communities.crs)
    communities["distance_method"] = measure.method
    communities["n_categories_short"] = n_short
    return communities, demand



#: what "covered" means for a standard without a service radius (docs/data-model.md, "Covered, served, out of
#: reach"); every output that shows such a category's covered people says it
NO_RADIUS_MEANING_ZH = "无服务半径：覆盖人口＝数量与面积达标社区的人口"
NO_RADIUS_MEANING_EN = "no service radius: covered = people of communities meeting the count and floor-area rule"


def has_radius(communities: pd.DataFrame, category: str) -> bool:
    """Whether the category's coverage is measured within a radius (for any surveyed community)."""
    column = f"{category}_radius_m"
    if column not in communities.columns:
        return False
    surveyed = communities[f"{category}_status"] != "not_surveyed"
    return bool(pd.to_numeric(communities.loc[surveyed, column], errors="coerce").notna().any())


def whole_people(population, covered, served) -> dict[str, np.ndarray]:
    """People as the ledger files write them: population, covered and served rounded to whole persons (half to
    even), the other parts derived from those — not covered = out of reach = population − covered, over capacity =
    covered − served — so that the identities of docs/data-model.md hold exactly in every file and total. Arrays or
    scalars; NaN (unknown) stays NaN."""
    population, covered, served = (np.round(np.asarray(v, dtype="float64")) for v in (population, covered, served))
    return {"population": population, "covered_population": covered, "served_population": served,
            "uncovered_population": population - covered, "out_of_reach_population": population - covered,
            "over_capacity_population": covered - served}


def category_totals(communities: pd.DataFrame, category: str) -> dict:
    """The totals of one category over its surveyed communities, from the ``communities`` columns — the one
    source of the numbers the terminal summary, the figures, the map legend and the batch summary print:
    ``communities`` (all), ``communities_surveyed``, ``communities_short``, ``communities_ok``, ``population``
    (of the surveyed communities), ``covered``, ``served``, ``over_capacity``, ``out_of_reach`` (people; served and
    over capacity NaN where the capacity split was not computed for every populated surveyed community),
    ``not_covered`` (= population − covered), ``has_radius`` and ``meaning`` (None, or what covered means
    without a radius: :data:`NO_RADIUS_MEANING_ZH`). ``surveyed`` is False when no community is surveyed."""
    status = communities[f"{category}_status"].astype(object).to_numpy() if f"{category}_status" in \
        communities.columns else np.full(len(communities), "not_surveyed", dtype=object)
    surveyed = status != "not_surveyed"
    num = lambda col: (pd.to_numeric(communities[col], errors="coerce").to_numpy(dtype="float64")  # noqa: E731
                       if col in communities.columns else np.full(len(communities), np.nan))
    # whole people per community, as the ledger files write them, so that a total here is the sum of the ledger's
    # column to the person
    derived = whole_people(np.nan_to_num(num("population")), num(f"{category}_covered_population"),
                           num(f"{category}_served_population"))
    population, covered = derived["population"], derived["covered_population"]
    populated = surveyed & (population > 0)
    total_pop = float(population[surveyed].sum())
    covered_total = float(np.nan_to_num(covered[surveyed]).sum())

    def split(col):
        values = np.where(np.isnan(num(f"{category}_{col}")), np.nan, derived[col])
        if not populated.any() or np.isnan(values[populated]).any():
            return float("nan")
        return float(values[populated].sum())

    radius = has_radius(communities, category)
    return {
        "category": category,
        "surveyed": bool(surveyed.any()),
        "communities": int(len(communities)),
        "communities_surveyed": int(surveyed.sum()),
        "communities_short": int((status == "gap").sum()),
        "communities_ok": int((status == "ok").sum()),
        "population": total_pop,
        "covered": covered_total,
        "not_covered": total_pop - covered_total,
        "served": split("served_population"),
        "over_capacity": split("over_capacity_population"),
        "out_of_reach": split("out_of_reach_population"),
        "has_radius": radius,
        "meaning": None if radius or not surveyed.any() else NO_RADIUS_MEANING_ZH,
    }
