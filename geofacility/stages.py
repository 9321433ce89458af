"""Facility status (规划/在建/未移交/在用) and the stage of each problem (规划、建设、移交、使用).

张政办字〔2020〕13号 Attachment 3 heads its problem column 存在问题（规划、建设、移交、使用）: a community short of
a category is short because nothing is planned (规划), because what is planned is not built yet (建设), because what
was built has not been handed over (移交), or because what is in use does not do the job — too small, over
capacity, not reaching everyone (使用).

A facility file may say where each facility stands in a ``status`` column (状态, 建设状态 …): :data:`STATUSES`,
with the spellings of :data:`STATUS_ALIASES`; without the column, or with an empty cell, a facility is 在用 (in
use). Only facilities in use are current provision (coverage, counts, floor area, capacity); the others are kept
apart (:attr:`geofacility.study.Study.not_in_use`) and name the stage of a community's problem where they would
count if they were in use — by their own standard's scope and radius, as coverage counts those in use
(:func:`classify`).
"""
from __future__ import annotations

import unicodedata

import geopandas as gpd
import numpy as np
import pandas as pd

from .distance import StraightLineDistance, within_pairs
from .standards import CATEGORIES, Check

__all__ = ["STATUSES", "IN_USE", "STATUS_ALIASES", "STAGES", "normalise_status", "classify", "stage_of",
           "not_in_use_text", "not_in_use_counts"]

IN_USE = "在用"
#: the facility statuses, in the order a facility passes through them
STATUSES = ("规划", "在建", "未移交", IN_USE)
#: accepted spellings of each status (compared after NFKC, lower case, without spaces, underscores and dashes)
STATUS_ALIASES: dict[str, list[str]] = {
    "规划": ["规划", "规划中", "拟建", "待建", "已规划", "未建", "planned", "plan", "proposed"],
    "在建": ["在建", "建设中", "施工中", "正在建设", "正在施工", "under_construction", "under construction",
           "construction", "building"],
    "未移交": ["未移交", "已建未移交", "建成未移交", "待移交", "未交付", "已建成未移交", "not_handed_over",
            "not handed over", "built_not_handed_over", "built"],
    IN_USE: ["在用", "使用中", "已使用", "正常使用", "运营", "运营中", "已移交", "已交付", "in_use", "in use",
           "existing", "operating", "open", "active"],
}
#: the problem stages of 存在问题（规划、建设、移交、使用）
STAGES = ("规划", "建设", "移交", "使用")
#: the stage a facility of each status (other than 在用) gives a community short of its category
_STAGE_OF_STATUS = {"规划": "建设", "在建": "建设", "未移交": "移交"}
#: how the 存在问题 text names the facilities not in use
_STATUS_TEXT = {"规划": "已规划未建", "在建": "在建", "未移交": "已建未移交"}


def _key(value) -> str:
    text = unicodedata.normalize("NFKC", str(value)).lower()
    return "".join(ch for ch in text if not (ch.isspace() or ch in "_-"))


_LOOKUP = {_key(name): status for status, names in STATUS_ALIASES.items() for name in names}


def normalise_status(values: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """The statuses of a ``status`` column: one of :data:`STATUSES` per row (empty → 在用), and a mask of the
    rows whose value is not a known spelling (they read 在用 too; the caller reports them)."""
    raw = values.astype(object).where(values.notna(), None).tolist()  # a string dtype would turn None into NaN
    found = [IN_USE if v is None or not str(v).strip() else _LOOKUP.get(_key(v)) for v in raw]
    status = pd.Series(found, index=values.index, dtype=object)
    unknown = status.isna().to_numpy()
    return status.fillna(IN_USE).astype(object), unknown


def _bearing_pairs(check: Check, communities: gpd.GeoDataFrame, fac: gpd.GeoDataFrame, demand, measure
                   ) -> tuple[np.ndarray, np.ndarray]:
    """(community position, facility position), unique, of each facility of ``check`` that would count for the
    community if it were in use and big enough — the rule of :func:`geofacility.coverage.compute_coverage` for the
    current count: inside the community (scope ``community``), inside its street/town (``town``), or within the
    check's own radius of a resident of the community (``reach``; on foot: the nearest within the radius). Without
    demand points (a table made by hand), a reach-scope facility bears within the radius of the community's
    outline."""
    from .coverage import containing_community, resident_pairs

    empty = np.empty(0, dtype=np.int64)
    if not len(communities) or not len(fac):
        return empty, empty
    points = fac.geometry.values
    if check.scope == "reach" and check.radius_m:
        if demand is None or measure is None:
            return within_pairs(communities.geometry.values, points, float(check.radius_m))
        ids = communities["community_id"].to_numpy()
        codes = pd.Index(ids).get_indexer(demand["community_id"])
        weight = demand["weight"].to_numpy(dtype="float64")
        if getattr(measure, "by_id", False):  # an OD cost table lists the facilities in use: straight line here
            measure = StraightLineDistance(demand.geometry.values)
        dist, nearest = (np.empty(0), np.empty(0, dtype=np.int64)) if measure.method == "euclidean" else \
            measure.nearest(points, radius_m=check.radius_m)
        return resident_pairs(measure, codes, weight, points, float(check.radius_m), dist, nearest)
    where = containing_community(communities, fac)
    inside = where >= 0
    if check.scope == "town":
        town_codes, _ = pd.factorize(communities["town"].astype(object).fillna("").to_numpy())
        comm = pd.DataFrame({"town": town_codes, "c": np.arange(len(communities))})
        hits = pd.DataFrame({"town": town_codes[where[inside]], "f": np.flatnonzero(inside)})
        pairs = hits.merge(comm, on="town")
        return pairs["c"].to_numpy(dtype=np.int64), pairs["f"].to_numpy(dtype=np.int64)
    return where[inside].astype(np.int64), np.flatnonzero(inside).astype(np.int64)


def not_in_use_counts(communities: gpd.GeoDataFrame, not_in_use: gpd.GeoDataFrame | None, checks: list[Check], *,
                      demand: gpd.GeoDataFrame | None = None, measure=None,
                      category_measures: dict | None = None) -> dict[Check, np.ndarray]:
    """Per check, an (n communities × 3) array: the facilities of that check 规划, 在建 and 未移交 that bear on each
    community — those that would count there if they were in use (:func:`_bearing_pairs`; a facility belongs to
    the check of its subcategory, as :func:`geofacility.coverage.facility_checks` decides for those in use)."""
    from .coverage import facility_checks

    n = len(communities)
    out = {check: np.zeros((n, 3), dtype=np.int64) for check in checks}
    if not_in_use is None or not len(not_in_use):
        return out
    # the same facility order as coverage (ties on foot go to the lowest id)
    not_in_use = not_in_use.iloc[np.argsort(not_in_use["facility_id"].astype(str).to_numpy(), kind="stable")]
    status = not_in_use["status"].to_numpy(dtype=object)
    for check, mask in facility_checks(not_in_use, checks).items():
        if not mask.any():
            continue
        use = (category_measures or {}).get(check.category, measure)
        c_idx, f_idx = _bearing_pairs(check, communities, not_in_use.loc[mask], demand, use)
        of_check = status[mask]
        for j, name in enumerate(STATUSES[:3]):
            hit = of_check[f_idx] == name
            out[check][:, j] = np.bincount(c_idx[hit], minlength=n)  # pairs are unique: a facility counts once
    return out


def stage_of(row: dict, category: str, counts=None) -> str:
    """The stage of one community's problem in ``category`` ('' when it has none): 移交 when a facility lies
    built but not handed over, 建设 when one is planned or under construction, 规划 when a facility is missing
    (a count short with no facility below the minimum size in use, or none in use and nobody covered), 使用
    otherwise (in use but too small, over capacity or not reaching everyone). ``counts``: (规划, 在建, 未移交)."""
    frame = pd.DataFrame([{k: v for k, v in row.items() if str(k).startswith(category)}])
    return str(_stages(frame, category, None if counts is None else np.asarray([counts], dtype=np.int64))[0])


def not_in_use_text(counts) -> str:
    """``在建 1 处（未计入现状）`` from (规划, 在建, 未移交) counts, ``、``-joined; '' when none. (Facilities in use but
    below the minimum floor area are named by ``<category>_below_minimum``, not here.)"""
    return "、".join(f"{_STATUS_TEXT[s]} {int(v)} 处（未计入现状）" for s, v in zip(STATUSES[:3], counts) if v)


def _stages(frame: pd.DataFrame, category: str, counts: np.ndarray | None) -> np.ndarray:
    """:func:`stage_of` for every row of ``frame`` at once (``counts``: n × (规划, 在建, 未移交)). A facility in use
    below the standard's minimum floor area is read from ``<category>_below_minimum``."""
    n = len(frame)
    col = lambda field: pd.to_numeric(frame.get(f"{category}_{field}", pd.Series(np.nan, index=frame.index)),  # noqa: E731
                                      errors="coerce").fillna(0).to_numpy(dtype="float64")
    counts = np.zeros((n, 3), dtype=np.int64) if counts is None else np.asarray(counts, dtype=np.int64)
    below = frame.get(f"{category}_below_minimum", pd.Series("", index=frame.index))
    undersized = below.map(lambda v: isinstance(v, str) and bool(v.strip())).to_numpy(dtype=bool)
    gap = (frame.get(f"{category}_status", pd.Series("", index=frame.index)) == "gap").to_numpy()
    # a facility is missing: a count short that no undersized facility in use explains, or none in use at all
    missing = ((col("count_gap") > 0) & ~undersized) | (
        (col("current_count") == 0) & (col("covered_population") == 0) & ~undersized)
    stage = np.select([counts[:, 2] > 0, (counts[:, 0] + counts[:, 1]) > 0, missing], ["移交", "建设", "规划"], "使用")
    return np.where(gap, stage, "").astype(object)


def _first_stage(stages: list[str]) -> str:
    """The stage a category gets from its standards' stages: the first of 移交, 建设, 规划, 使用 (the order
    :func:`_stages` tries them in) among them; '' when none."""
    return next((s for s in ("移交", "建设", "规划", "使用") if s in stages), "")


def classify(communities: gpd.GeoDataFrame, not_in_use: gpd.GeoDataFrame | None, checks: list[Check], *,
             demand: gpd.GeoDataFrame | None = None, measure=None, category_measures: dict | None = None
             ) -> gpd.GeoDataFrame:
    """``communities`` with ``<category>_problem_stage`` (:data:`STAGES` or '') and ``<category>_not_in_use``
    (the facilities not in use — 规划, 在建, 未移交 — that bear on it, e.g. ``在建 1 处（未计入现状）``; '' when none)
    for every category. A facility bears on a community where it would count if it were in use and big enough
    (:func:`_bearing_pairs`: its own standard's scope and radius, measured from the residents in ``demand`` with
    ``measure`` as coverage does); a facility in use below the minimum size is the category's
    ``<category>_below_minimum``. With several standards in a category each standard gets its stage and its
    facilities not in use (``<category>_by_standard``, :mod:`geofacility.per_standard`); the category's stage is
    the first of 移交, 建设, 规划, 使用 among them, and its ``not_in_use`` names each standard's."""
    from .per_standard import decode, encode, entry_row

    counts = not_in_use_counts(communities, not_in_use, checks, demand=demand, measure=measure,
                               category_measures=category_measures)
    n = len(communities)
    population = communities["population"].to_numpy(dtype="float64")
    columns = {}
    for category in CATEGORIES:
        own = [c for c in checks if c.category == category]
        column = f"{category}_by_standard"
        if len(own) < 2 or column not in communities.columns:
            cat_counts = sum((counts[c] for c in own), np.zeros((n, 3), dtype=np.int64))
            columns[f"{category}_problem_stage"] = _stages(communities, category, cat_counts)
            columns[f"{category}_not_in_use"] = [not_in_use_text(c) for c in cat_counts]
            continue
        entries = [decode(v) for v in communities[column].to_numpy(dtype=object)]
        stage_by_check, text_by_check = [], []
        for k, check in enumerate(own):
            rows = pd.DataFrame([entry_row(category, e[k]) if len(e) > k else {} for e in entries],
                                index=communities.index)
            stage_by_check.append(_stages(rows, category, counts[check]))
            text_by_check.append([not_in_use_text(c) for c in counts[check]])
        fallback = _stages(communities, category, sum(counts[c] for c in own))
        stage, text, by_standard = [], [], []
        for i, row_entries in enumerate(entries):
            for k, entry in enumerate(row_entries):
                entry["problem_stage"], entry["not_in_use"] = stage_by_check[k][i], text_by_check[k][i]
            stage.append(_first_stage([e["problem_stage"] for e in row_entries]) or fallback[i])
            text.append("；".join(f"{e['name']}{e['not_in_use']}" for e in row_entries if e["not_in_use"]))
            by_standard.append(encode(row_entries, population[i]))
        columns[f"{category}_problem_stage"] = np.asarray(stage, dtype=object)
        columns[f"{category}_not_in_use"] = text
        columns[column] = by_standard
    out = communities.drop(columns=[c for c in columns if c in communities.columns])
    return gpd.GeoDataFrame(pd.concat([out, pd.DataFrame(columns, index=out.index)], axis=1),
                            geometry=communities.geometry.name, crs=communities.crs)
