"""Facility status (规划/在建/未移交/在用) and the stage of each problem (规划、建设、移交、使用).

张政办字〔2020〕13号 Attachment 3 heads its problem column 存在问题（规划、建设、移交、使用）: a community short of
a category is short because nothing is planned (规划), because what is planned is not built yet (建设), because what
was built has not been handed over (移交), or because what is in use does not do the job — too small, over
capacity, not reaching everyone (使用).

A facility file may say where each facility stands in a ``status`` column (状态, 建设状态 …): :data:`STATUSES`,
with the spellings of :data:`STATUS_ALIASES`; without the column, or with an empty cell, a facility is 在用 (in
use). Only facilities in use are current provision (coverage, counts, floor area, capacity); the others are kept
apart (:attr:`geofacility.pipeline.Study.not_in_use`) and name the stage of a community's problem when they lie in
it or within the category's service radius of it (:func:`classify`).
"""
from __future__ import annotations

import unicodedata

import geopandas as gpd
import numpy as np
import pandas as pd

from .distance import within_pairs
from .standards import CATEGORIES, Check

__all__ = ["STATUSES", "IN_USE", "STATUS_ALIASES", "STAGES", "normalise_status", "classify", "stage_of",
           "not_in_use_text"]

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


def _relevant_pairs(communities: gpd.GeoDataFrame, facilities: gpd.GeoDataFrame, radius_m: float | None
                    ) -> tuple[np.ndarray, np.ndarray]:
    """(community position, facility position) of each facility inside a community or within ``radius_m`` of it
    (straight line)."""
    geoms, points = communities.geometry.values, facilities.geometry.values
    if not len(geoms) or not len(points):
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    if radius_m:
        return within_pairs(geoms, points, float(radius_m))
    p_idx, c_idx = communities.sindex.query(points, predicate="intersects")
    return c_idx, p_idx


def not_in_use_counts(communities: gpd.GeoDataFrame, not_in_use: gpd.GeoDataFrame | None, checks: list[Check],
                      facilities: gpd.GeoDataFrame | None = None) -> dict[str, np.ndarray]:
    """Per category, an (n communities × 4) array: the facilities 规划, 在建, 未移交 and the facilities in use but
    below their standard's minimum floor area (they do not count as one) inside each community or within the
    category's largest service radius of it."""
    from .coverage import facility_checks

    n = len(communities)
    out = {}
    undersized = np.zeros(0 if facilities is None else len(facilities), dtype=bool)
    if facilities is not None and len(facilities):
        area = pd.to_numeric(facilities["floor_area_m2"], errors="coerce").to_numpy(dtype="float64")
        for check, mask in facility_checks(facilities, checks).items():
            if check.min_building_m2:
                undersized |= mask & (area < check.min_building_m2)  # NaN (unknown) is not undersized
    for category in dict.fromkeys(c.category for c in checks):
        counts = np.zeros((n, 4), dtype=np.int64)
        radii = [c.radius_m for c in checks if c.category == category and c.radius_m]
        radius = max(radii) if radii else None
        if not_in_use is not None and len(not_in_use):
            fac = not_in_use.loc[(not_in_use["category"] == category).to_numpy()]
            c_idx, f_idx = _relevant_pairs(communities, fac, radius)
            status = fac["status"].to_numpy(dtype=object)
            for j, name in enumerate(STATUSES[:3]):
                hit = status[f_idx] == name
                # a facility counts once per community (pairs are unique)
                counts[:, j] = np.bincount(c_idx[hit], minlength=n)
        if undersized.any():
            small = facilities.loc[undersized & (facilities["category"] == category).to_numpy()]
            c_idx, _ = _relevant_pairs(communities, small, radius)
            counts[:, 3] = np.bincount(c_idx, minlength=n)
        out[category] = counts
    return out


def stage_of(row: dict, category: str, counts=None) -> str:
    """The stage of one community's problem in ``category`` ('' when it has none): 移交 when a facility lies
    built but not handed over, 建设 when one is planned or under construction, 规划 when a facility is missing
    (a count short with no undersized one in use, or none in use and nobody covered), 使用 otherwise (in use but
    too small, over capacity or not reaching everyone). ``counts``: a row of :func:`not_in_use_counts`."""
    frame = pd.DataFrame([{k: v for k, v in row.items() if str(k).startswith(category)}])
    return str(_stages(frame, category, None if counts is None else np.asarray([counts], dtype=np.int64))[0])


def not_in_use_text(counts) -> str:
    """``在建 1 处（未计入现状）`` from (规划, 在建, 未移交[, undersized in use]) counts, ``、``-joined; '' when none.
    Facilities in use below the standard's minimum floor area read ``在用 1 处面积低于标准下限（不计数）``."""
    counts = [int(v) for v in counts]
    parts = [f"{_STATUS_TEXT[s]} {v} 处（未计入现状）" for s, v in zip(STATUSES[:3], counts) if v]
    if len(counts) > 3 and counts[3]:
        parts.append(f"在用 {counts[3]} 处面积低于标准下限（不计数）")
    return "、".join(parts)


def _stages(frame: pd.DataFrame, category: str, counts: np.ndarray | None) -> np.ndarray:
    """:func:`stage_of` for every row of ``frame`` at once."""
    n = len(frame)
    col = lambda field: pd.to_numeric(frame.get(f"{category}_{field}", pd.Series(np.nan, index=frame.index)),  # noqa: E731
                                      errors="coerce").fillna(0).to_numpy(dtype="float64")
    counts = np.zeros((n, 4), dtype=np.int64) if counts is None else np.asarray(counts, dtype=np.int64)
    counts = np.pad(counts, ((0, 0), (0, 4 - counts.shape[1])))  # (规划, 在建, 未移交[, undersized in use])
    gap = (frame.get(f"{category}_status", pd.Series("", index=frame.index)) == "gap").to_numpy()
    # a facility is missing: a count short that no undersized facility in use explains, or none in use at all
    missing = ((col("count_gap") > 0) & (counts[:, 3] == 0)) | (
        (col("current_count") == 0) & (col("covered_population") == 0) & (counts[:, 3] == 0))
    stage = np.select([counts[:, 2] > 0, (counts[:, 0] + counts[:, 1]) > 0, missing], ["移交", "建设", "规划"], "使用")
    return np.where(gap, stage, "").astype(object)


def classify(communities: gpd.GeoDataFrame, not_in_use: gpd.GeoDataFrame | None, checks: list[Check],
             facilities: gpd.GeoDataFrame | None = None) -> gpd.GeoDataFrame:
    """``communities`` with ``<category>_problem_stage`` (:data:`STAGES` or '') and ``<category>_not_in_use``
    (the facilities that bear on it without counting as provision: not in use, or in use below the standard's
    minimum floor area — e.g. ``在建 1 处``; '' when none) for every category. ``facilities``: those in use."""
    counts = not_in_use_counts(communities, not_in_use, checks, facilities)
    columns = {}
    for category in CATEGORIES:
        cat_counts = counts.get(category)
        columns[f"{category}_problem_stage"] = _stages(communities, category, cat_counts)
        columns[f"{category}_not_in_use"] = (
            [""] * len(communities) if cat_counts is None else [not_in_use_text(c) for c in cat_counts])
    out = communities.drop(columns=[c for c in columns if c in communities.columns])
    return gpd.GeoDataFrame(pd.concat([out, pd.DataFrame(columns, index=out.index)], axis=1),
                            geometry=communities.geometry.name, crs=communities.crs)
