"""Reading: candidate rooms (房源) that could host a new facility.

Holds :func:`read_candidates`: an id, a name and a floor area (m²) per room, and optionally the categories each may
host, the acquisition mode (:data:`ACQUISITION`: 租赁/置换/共享/购买/移交), the safety pre-review (预审: 是/否), the
floor (楼层) and the cost; the cells as the planner wrote them are kept for the outputs.
"""
from __future__ import annotations

import re

import geopandas as gpd
import numpy as np

from ..errors import InputError, WarningLog
from .columns import ALIASES, GENERIC_ID, _key, _rename_columns, _string, _subcategory_lookup, category_key, use_columns
from .files import read_layer
from .numbers import _numeric
from .postgis import source_stem
from .rows import _drop_unusable, _unique_ids

__all__ = [
    "ACQUISITION",
    "read_candidates",
]


ACQUISITION = {
    "lease": ["lease", "租赁", "租用", "租"],
    "swap": ["swap", "置换", "调换"],
    "share": ["share", "共享", "共用", "合用"],
    "purchase": ["purchase", "购买", "购置", "买"],
    "transfer": ["transfer", "移交", "划拨", "配建移交"],
}
_YES = {"yes", "y", "true", "1", "是", "通过", "已预审", "已通过", "合格", "pass", "passed", "ok"}
_NO = {"no", "n", "false", "0", "否", "未通过", "未预审", "不合格", "fail", "failed", "pending", "待审"}


def _split_categories(value) -> list[str]:
    if not isinstance(value, str) or not value.strip():
        return []
    parts = re.split(r"[;,，；、/|]+", value)
    return [p.strip() for p in parts if p.strip()]


def read_candidates(path, *, coords=None, encoding=None, layer=None, aliases=None,
                    log: WarningLog | None = None, columns: dict[str, str | None] | None = None,
                    require_area: bool = True) -> gpd.GeoDataFrame:
    """Candidate rooms (房源): points or polygons with an id, a name and a floor area; optionally the categories
    each may host (several, separated by ``;``/``、``), the acquisition mode (租赁/置换/共享/购买), the safety
    pre-review (预审: 是/否), the floor (楼层) and the cost.

    ``categories`` becomes a list of category keys (empty = any); ``reviewed`` is True/False/None (unknown);
    ``acquisition`` one of lease/swap/share/purchase/transfer or None; ``reviewed_text``, ``acquisition_text`` and
    ``categories_text`` keep the cells as the planner wrote them (是/否, 租赁/置换/共享/购买, 养老;社区用房), for
    the outputs. ``columns``: the
    file's columns for roles named on the command line (``{"candidate_id": "NAME"}``: ``--candidate-id-column``).
    ``require_area=False`` (the standard sets no minimum floor area) lets a file without any floor-area column
    through: the areas are then unknown (NaN) and not checked. ``pre_review_column`` (attribute of the frame) says
    whether the file had a pre-review (预审) column at all.
    """
    log = log if log is not None else WarningLog()
    aliases = aliases or ALIASES
    label = str(path)
    gdf = read_layer(path, coords=coords, encoding=encoding, layer=layer, log=log, option="--candidates")
    gdf = use_columns(gdf, columns, label=label, options={"candidate_id": "--candidate-id-column"})
    gdf = _rename_columns(gdf, ["candidate_id", "name", "floor_area_m2", "categories", "acquisition", "reviewed",
                                "floor", "cost"], aliases)
    if "candidate_id" not in gdf.columns:
        gdf = _rename_columns(gdf, ["candidate_id"], {"candidate_id": GENERIC_ID})
    no_area = "floor_area_m2" not in gdf.columns
    if no_area and require_area:
        raise InputError(f"{label}: no floor-area column; add 建筑面积 (floor_area_m2, m²) for every candidate room")
    if no_area:
        gdf["floor_area_m2"] = np.nan
        log.add(label, None, "no floor-area column: the rooms' areas are unknown; the standard applied sets no minimum "
                             "area, so they are not needed", severity="info",
                zh="房源表无建筑面积列：面积未知；所用标准无最小面积要求，不影响选用")
    gdf = _drop_unusable(gdf)
    polys = gdf.geom_type.isin(["Polygon", "MultiPolygon"])
    if polys.any():
        gdf.loc[polys, "geometry"] = gdf.loc[polys].geometry.representative_point()
    if "candidate_id" not in gdf.columns:
        gdf["candidate_id"] = [f"{source_stem(label)}:{r}" for r in gdf["source_row"]]
    gdf["candidate_id"] = _string(gdf["candidate_id"])
    _unique_ids(gdf, "candidate_id", label=label)
    gdf["name"] = _string(gdf["name"]).fillna(gdf["candidate_id"]) if "name" in gdf.columns else gdf["candidate_id"]
    area = (_numeric(gdf, "floor_area_m2", label=label, log=log, required=False) if not no_area
            else gdf["floor_area_m2"].astype("float64"))
    zero = area.notna() & (area <= 0)
    unusable = (area.isna() | zero) if not no_area else zero
    if unusable.any():
        log.extend(label, gdf.loc[unusable, "source_row"], "floor area missing or not positive; candidate not used "
                                                          "(give its 建筑面积 in m²)",
                   zh="建筑面积缺失或不为正数，该房源未采用（请填写建筑面积，单位 m²）")
    gdf["floor_area_m2"] = area
    gdf = gdf.loc[~unusable].reset_index(drop=True)
    if gdf.empty:
        raise InputError(f"{label}: no candidate room is usable: every row lacks a floor area > 0 (or a location); fill "
                         "in 建筑面积 (m²) for the rooms")
    sub_lookup = _subcategory_lookup()
    cats = []
    for row, value in zip(gdf["source_row"], gdf["categories"] if "categories" in gdf.columns else
                          [None] * len(gdf)):
        keys = []
        for part in _split_categories(value):
            key = category_key(part) or (sub_lookup.get(_key(part)) or (None,))[0]
            if key is None:
                log.add(label, row, f"unknown category {part!r} in categories; ignored",
                        zh=f"可用类别中的 {part!r} 无法识别，已忽略")
            elif key not in keys:
                keys.append(key)
        cats.append(keys)
    # the categories as the planner wrote them (养老;社区用房), for the outputs, like 预审 and 取得方式
    gdf["categories_text"] = _string(gdf["categories"]) if "categories" in gdf.columns else None
    gdf["categories"] = cats
    if "acquisition" in gdf.columns:
        acq_lookup = {_key(n): k for k, names in ACQUISITION.items() for n in names}
        raw = _string(gdf["acquisition"])
        gdf["acquisition_text"] = raw
        gdf["acquisition"] = raw.map(lambda v: acq_lookup.get(_key(v)) if isinstance(v, str) else None)
        bad = raw.notna() & gdf["acquisition"].isna()
        log.extend(label, gdf.loc[bad, "source_row"], "acquisition mode not one of 租赁/置换/共享/购买 "
                                                      "(lease/swap/share/purchase); left blank", severity="info",
                   zh="取得方式不是 租赁/置换/共享/购买 之一，留空")
    else:
        gdf["acquisition"] = None
        gdf["acquisition_text"] = None
    gdf.attrs["pre_review_column"] = "reviewed" in gdf.columns
    if not gdf.attrs["pre_review_column"]:
        log.add(label, None, "no pre-review column (预审): the rooms are not checked for a safety pre-review; add a "
                             "column 预审 (是/否) to check it", severity="info",
                zh="房源表无预审列：未核对安全预审，如需核对请加“预审”列（是/否）")
    if "reviewed" in gdf.columns:
        gdf["reviewed_text"] = _string(gdf["reviewed"])
        raw = gdf["reviewed_text"].map(lambda v: _key(v) if isinstance(v, str) else None)
        gdf["reviewed"] = raw.map(lambda v: True if v in _YES else (False if v in _NO else None))
    else:
        gdf["reviewed"] = None
        gdf["reviewed_text"] = None
    gdf["floor"] = (_numeric(gdf, "floor", label=label, log=log, required=False, allow_negative=True)
                    if "floor" in gdf.columns else np.nan)
    gdf["cost"] = _numeric(gdf, "cost", label=label, log=log, required=False) if "cost" in gdf.columns else np.nan
    return gdf
