"""Reading: existing facilities (设施): points with a category, a subcategory and a stage.

Holds :func:`read_facilities`: categories and subcategories from any of their names (教育, 小学, 社区养老服务设施 …,
geofacility.read.columns), polygons reduced to a point inside each, ``floor_area_m2`` (m²) and ``capacity``
(residents) read as numbers, ``status`` as 规划/在建/未移交/在用 (geofacility.stages). A file given as
``CATEGORY=PATH`` with only a header means "surveyed: none exist"; a file with rows but none usable is refused.
"""
from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ..errors import NO_USABLE_ROW, InputError, WarningLog, not_used, reasons_text
from ..standards import CATEGORIES, CATEGORY_SHORT_ZH
from .columns import (
    _PARTIAL_KEYS,
    ALIASES,
    GENERIC_ID,
    _key,
    _rename_columns,
    _string,
    _subcategory_lookup,
    category_key,
    normalise_category,
)
from .encodings import _read_csv
from .files import read_layer
from .numbers import _numeric
from .postgis import source_stem
from .rows import _unique_ids

__all__ = [
    "read_facilities",
]


def _no_usable_row(gdf: gpd.GeoDataFrame, keep: np.ndarray, *, label: str, log: WarningLog,
                   category: str | None) -> None:
    """A facility file with rows but none usable is refused: given as CATEGORY=PATH it would read "surveyed, none
    exist" (every community a gap), given with a category column its categories "not surveyed". A category that
    only some rows of a file name and none of them is usable is said loudly (a file-level warning)."""
    n_rows = len(gdf)
    if n_rows and not keep.any():
        reasons = reasons_text(not_used(log.to_frame(), label))
        meaning = (f"as given (--facilities {category}=…) it would read as {category} surveyed and none existing, "
                   "every community short" if category else "its categories would read as not surveyed")
        raise InputError(f"{label}: none of its {n_rows:,} rows is usable ({reasons}); {meaning}: fix the rows, or "
                         "give a file with only its header if there is really no such facility")
    named = gdf["category"].to_numpy()
    lost_categories = [c for c in CATEGORIES if (named == c).any() and not ((named == c) & keep).any()]
    reported = not_used(log.to_frame(), label) if lost_categories else None
    for lost in lost_categories:
        rows = set(gdf.loc[named == lost, "source_row"].astype(str))
        reported_zh = reported[reported["row"].astype(str).isin(rows)]
        reasons = reasons_text(reported_zh)
        log.add(label, None, f"category {lost} ({CATEGORY_SHORT_ZH[lost]}) {NO_USABLE_ROW} in this file: its "
                             f"{len(rows):,} rows are not used ({reasons}); unless another file gives {lost} "
                             "facilities it reads 未调查 not surveyed: fix these rows",
                zh=f"类别 {CATEGORY_SHORT_ZH[lost]} 在本文件中没有可用的行：其 {len(rows):,} 行均未采用"
                   f"（{reasons_text(reported_zh, column='message_zh')}）；除非另有文件提供{CATEGORY_SHORT_ZH[lost]}设施，"
                   "该类别显示为未调查：请修正这些行")


def read_facilities(path, *, category: str | None = None, coords=None, encoding=None, layer=None,
                    aliases=None, log: WarningLog | None = None) -> gpd.GeoDataFrame:
    """Existing facilities: points (polygons are reduced to a point inside them).

    ``category`` (from ``--facilities CATEGORY=PATH``) applies to rows without a category column; with it, a file
    with a header and no rows means "surveyed: none exist". Unknown categories are reported and not used.
    """
    log = log if log is not None else WarningLog()
    aliases = aliases or ALIASES
    label = str(path)
    if category is not None and Path(path).suffix.lower() in (".csv", ".txt", ".tsv"):
        header_only = _read_csv(Path(path), encoding).empty if Path(path).is_file() and \
            Path(path).stat().st_size else False
        if header_only:
            log.record_read(label, 0, 2)
            log.add(label, None, f"no {category} facilities in the file: the category is surveyed and none exist",
                    severity="info", zh=f"文件中没有{CATEGORY_SHORT_ZH.get(category, category)}设施：该类别已调查，现无设施")
            return gpd.GeoDataFrame({"facility_id": [], "name": [], "category": [], "subcategory": [],
                                     "floor_area_m2": [], "capacity": [], "status": [], "source_file": [],
                                     "source_row": []},
                                    geometry=[], crs=4326)
    gdf = read_layer(path, coords=coords, encoding=encoding, layer=layer, log=log,
                     option=f"--facilities {category or 'CATEGORY'}=")
    gdf = _rename_columns(gdf, ["facility_id", "name", "category", "subcategory", "floor_area_m2", "capacity",
                                "status"], aliases)
    if "facility_id" not in gdf.columns:
        gdf = _rename_columns(gdf, ["facility_id"], {"facility_id": GENERIC_ID})
    present = (gdf.geometry.notna() & ~gdf.geometry.is_empty).to_numpy()
    kinds = set(gdf.loc[present].geom_type.unique())
    if kinds & {"Polygon", "MultiPolygon"}:
        polys = gdf.geom_type.isin(["Polygon", "MultiPolygon"]) & present
        gdf.loc[polys, "geometry"] = gdf.loc[polys].geometry.representative_point()
        log.add(label, None, f"{int(polys.sum())} facility polygons reduced to a point inside each", severity="info",
                zh=f"{int(polys.sum())} 个设施面要素各取其内部一点")
    if kinds & {"LineString", "MultiLineString", "GeometryCollection"}:
        raise InputError(f"{label}: facilities must be points or polygons, found {', '.join(sorted(kinds))}")
    multi = (gdf.geom_type == "MultiPoint") & present
    if multi.any():
        gdf.loc[multi, "geometry"] = shapely.centroid(np.asarray(gdf.geometry[multi].values))

    # the category of every row, those without a location included: a category all of whose rows were set aside
    # is said loudly (it would read "not surveyed" with nothing on the terminal)
    lookup = _subcategory_lookup()
    sub_raw = _string(gdf["subcategory"]) if "subcategory" in gdf.columns else pd.Series(None, index=gdf.index,
                                                                                          dtype=object)
    sub_match = sub_raw.map(lambda v: lookup.get(_key(v)) if isinstance(v, str) else None)
    if "category" in gdf.columns:
        raw = _string(gdf["category"])
        cat = normalise_category(raw)
        # a category column holding a subcategory name (小学, 幼儿园…) also says the category
        cat_sub = raw.map(lambda v: lookup.get(_key(v)) if isinstance(v, str) else None)
        from_sub = cat.isna() & cat_sub.notna()
        cat[from_sub] = cat_sub[from_sub].map(lambda t: t[0])
        sub_match[from_sub & sub_match.isna()] = cat_sub[from_sub & sub_match.isna()]
    else:
        raw = pd.Series(None, index=gdf.index, dtype=object)
        cat = pd.Series(category, index=gdf.index, dtype=object)
    if category is not None:
        category = category_key(category) or category  # 养老 as elderly_care, as in the file's 类别 column
        if category not in CATEGORIES:
            raise InputError(f"--facilities {category}={path}: unknown category {category!r}; use one of "
                             f"{', '.join(CATEGORIES)}")
        cat = cat.fillna(category)
    inferred = cat.isna() & sub_match.notna()
    cat[inferred] = sub_match[inferred].map(lambda t: t[0])
    if cat.isna().all() and "category" not in gdf.columns:
        raise InputError(f"{label}: no category column; add a column 类别 (category) or give the category as "
                         "--facilities CATEGORY=PATH")
    unknown = cat.isna().to_numpy()
    for row, value in zip(gdf.loc[unknown & present, "source_row"], raw[unknown & present]):
        log.add(label, row, f"unknown category {value!r}; not used (use one of {', '.join(CATEGORIES)} or "
                            "their Chinese names, e.g. 教育, 养老)",
                zh=f"类别 {value!r} 无法识别，本行未采用（请用 {'、'.join(CATEGORY_SHORT_ZH.values())} 等类别名）")
    keep = present & ~unknown
    gdf["category"] = cat
    gdf["subcategory"] = [
        m[1] if m is not None and m[0] == c else None for m, c in zip(sub_match, cat)
    ]
    unknown_sub = (sub_raw.notna() & gdf["subcategory"].isna()).to_numpy() & keep
    if unknown_sub.any():
        for row, value in zip(gdf.loc[unknown_sub, "source_row"], sub_raw[unknown_sub]):
            log.add(label, row, f"subcategory {value!r} is not in the standards table; counted under the "
                                "category's default standard", severity="info",
                    zh=f"子类 {value!r} 不在标准表中，按该类别的默认标准计")
    partial = (sub_raw.map(lambda v: _key(v) in _PARTIAL_KEYS if isinstance(v, str) else False).to_numpy()
               | raw.map(lambda v: _key(v) in _PARTIAL_KEYS if isinstance(v, str) else False).to_numpy()) & keep
    for row, value in zip(gdf.loc[partial, "source_row"], sub_raw.where(sub_raw.notna(), raw)[partial]):
        log.add(label, row, f"{value!r} (a school with primary and middle grades) counted as a middle school (初中) "
                            "only: add a row for its primary part (小学) to count it as a primary school too",
                zh=f"{value!r}（九年一贯制学校）仅按初中计：如需同时按小学计，请为其小学部另加一行")
    _no_usable_row(gdf, keep, label=label, log=log, category=category)
    gdf = gdf.loc[keep].reset_index(drop=True)
    if "facility_id" not in gdf.columns:
        gdf["facility_id"] = [f"{source_stem(label)}:{r}" for r in gdf["source_row"]]
    gdf["facility_id"] = _string(gdf["facility_id"])
    _unique_ids(gdf, "facility_id", label=label)
    gdf["name"] = _string(gdf["name"]) if "name" in gdf.columns else gdf["facility_id"]
    gdf["floor_area_m2"] = (_numeric(gdf, "floor_area_m2", label=label, log=log, required=False)
                            if "floor_area_m2" in gdf.columns else np.nan)
    # residents the facility can serve (geofacility.capacity); unknown: from floor area or the standard
    gdf["capacity"] = (_numeric(gdf, "capacity", label=label, log=log, required=False)
                       if "capacity" in gdf.columns else np.nan)
    gdf["status"] = _facility_status(gdf, label=label, log=log)
    return gdf


def _facility_status(gdf: gpd.GeoDataFrame, *, label: str, log: WarningLog) -> pd.Series:
    """The ``status`` column as one of 规划/在建/未移交/在用 (geofacility.stages); missing → 在用; an unknown value
    is reported on its row and read as 在用."""
    from ..stages import STATUSES, normalise_status

    if "status" not in gdf.columns:
        return pd.Series(STATUSES[-1], index=gdf.index, dtype=object)
    status, unknown = normalise_status(gdf["status"])
    for row, value in zip(gdf.loc[unknown, "source_row"], gdf.loc[unknown, "status"]):
        log.add(label, row, f"status {str(value)!r} is not one of {'/'.join(STATUSES)} (planned/under_construction/"
                            "not_handed_over/in_use); read as 在用 in use",
                zh=f"设施状态 {str(value)!r} 不是 {'/'.join(STATUSES)} 之一，按“在用”计")
    return status
