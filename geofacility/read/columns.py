"""Reading: column names and category names: the ways planners spell them, mapped to the canonical
names of docs/data-model.md.

Holds :data:`ALIASES` (canonical column → accepted spellings, Chinese and English, Shapefile-truncated ones
included), :func:`load_aliases` (the built-in aliases extended by a planner's ``alias,column`` CSV), the renaming of
a file's columns to canonical ones, the columns named on the command line (:func:`use_columns`), and the one lookup
of category and subcategory names (:data:`CATEGORY_ALIASES`, :data:`SUBCATEGORY_ALIASES`, :func:`category_key`,
:func:`normalise_category`) used for files and command-line options alike. Names are compared after NFKC
(full-width → half-width), lower-casing and removing spaces, underscores and dashes.
"""
from __future__ import annotations

import functools
import re
import unicodedata
from pathlib import Path

import geopandas as gpd
import pandas as pd

from ..errors import InputError
from ..standards import load_standards
from .encodings import _read_csv

__all__ = [
    "ALIASES",
    "CATEGORY_ALIASES",
    "SUBCATEGORY_ALIASES",
    "GENERIC_ID",
    "load_aliases",
    "use_columns",
    "category_key",
    "category_names",
    "normalise_category",
]


#: canonical column → accepted spellings (compared after lower-casing and stripping spaces/underscores).
ALIASES: dict[str, list[str]] = {
    "community_id": ["community_id", "community_", "社区编码", "社区代码", "社区编号", "社区id", "社区ID", "community_code"],
    "community": ["community", "社区", "社区名称", "社区名", "community_name", "社区居委会", "居委会"],
    "town": ["town", "街道", "镇", "镇办", "镇街", "街镇", "乡镇", "街道办", "所属街道", "所属镇街", "subdistrict",
             "street", "town_name", "街道名称"],
    "population": ["population", "人口", "常住人口", "人口数", "户籍人口", "居住人口", "人数", "pop", "weight",
                   "worldpop_pop"],
    "households": ["households", "户数", "住户数", "总户数", "hh", "household"],
    "category": ["category", "类别", "设施类别", "设施类型", "类型", "大类", "设施大类"],
    "subcategory": ["subcategory", "子类", "小类", "细类", "设施小类", "sub_category", "subcategor"],
    "floor_area_m2": ["floor_area_m2", "面积", "建筑面积", "使用面积", "房屋面积", "floor_area", "area_m2",
                      "building_area_m2", "建筑面积m2", "建筑面积（m2）", "建筑面积(m2)", "建筑面积(㎡)", "建筑面积（㎡）"],
    "capacity": ["capacity", "容量", "服务人口", "服务能力", "可服务人口", "capacity_people", "served_population"],
    "facility_id": ["facility_id", "facility_i", "设施编号", "设施编码", "设施id", "school_id", "poi_id"],
    "name": ["name", "名称", "设施名称", "school", "站点名称", "小区名称", "小区"],
    "demand_id": ["demand_id", "compound_id", "building_id", "小区编号", "楼栋编号", "point_id", "cell_id"],
    "candidate_id": ["candidate_id", "candidate_", "房源编号", "房源编码", "候选编号", "site_id"],
    "categories": ["categories", "可用类别", "适用类别", "拟用途", "用途", "拟设设施", "category", "类别"],
    "acquisition": ["acquisition", "取得方式", "获取方式", "方式", "acquisition_mode", "acquisitio"],
    "reviewed": ["reviewed", "预审", "安全预审", "预审状态", "预审结果", "safety_review"],
    "floor": ["floor", "楼层", "所在楼层", "层"],
    "cost": ["cost", "成本", "费用", "投资", "租金", "cost_cny"],
    # a facility's stage: 规划/在建/未移交/在用 (geofacility.stages); only 在用 facilities are current provision
    "status": ["status", "状态", "设施状态", "建设状态", "建设情况", "使用状态", "移交状态", "facility_status"],
}
#: column names as a Shapefile (DBF: 10 characters at most) cuts them
_TRUNCATED = {"community_": "community_id", "facility_i": "facility_id", "candidate_": "candidate_id",
              "subcategor": "subcategory", "acquisitio": "acquisition", "floor_area": "floor_area_m2"}
#: id columns fall back to a bare "id"/"编号" when the role-specific one is absent
GENERIC_ID = ["id", "编号", "序号", "fid", "objectid"]
CATEGORY_ALIASES: dict[str, list[str]] = {
    "education": ["education", "教育", "社区教育设施", "教育设施", "学校", "中小学", "school", "schools"],
    "health": ["health", "医疗", "卫生", "医疗卫生", "医疗卫生服务设施", "医疗卫生设施", "卫生服务", "healthcare",
               "medical"],
    "community_service": ["community_service", "社区用房", "社区管理服务设施", "社区服务", "社区管理",
                          "社区办公和服务用房", "社区服务用房", "党群服务中心", "社区党群服务中心", "党群服务站",
                          "community service"],
    "elderly_care": ["elderly_care", "养老", "社区养老服务设施", "养老服务设施", "养老设施", "elderly", "elderly care"],
    "commerce": ["commerce", "商业", "便民商业", "社区便民商业设施", "便民商业设施", "commercial", "retail"],
    "sports": ["sports", "体育", "健身", "社区体育场地", "体育场地", "体育设施", "全民健身", "fitness", "sport"],
    "canteen": ["canteen", "食堂", "社区食堂", "助餐", "老年助餐", "dining"],
}
#: extra subcategory spellings beyond the standards table's Chinese names: the ways facility lists (教育局, 卫健委,
#: 民政 and 商务 lists, POI exports) write them. Only spellings that name one standard: 社区医院 (a designation a
#: community health centre or a township hospital may hold), 便民菜店 (a vegetable shop: neither the market nor the
#: convenience store of the standards) and 高中 (no community standard) stay unknown and are reported.
SUBCATEGORY_ALIASES: dict[str, list[str]] = {
    "middle_school": ["初中", "中学", "初级中学", "完全中学", "middle school",
                      # a school with primary and middle grades: counted as a middle school, with a warning
                      "九年一贯制", "九年一贯制学校"],
    "primary_school": ["小学", "完小", "完全小学", "中心小学", "primary school"],
    "kindergarten": ["幼儿园", "幼稚园", "公办幼儿园", "民办幼儿园", "普惠性幼儿园", "kindergarten"],
    "nursery": ["托儿所", "托育", "托育机构", "nursery"],
    "service_station": ["社区服务站", "社区综合服务站"],
    "community_rooms_national": ["社区综合服务设施", "社区用房"],
    "day_care_center": ["日间照料中心", "托老所", "日间照料", "养老驿站", "社区养老服务驿站", "养老服务驿站",
                        "老年日间照料中心", "老年人日间照料中心", "社区日间照料中心", "日间照料站"],
    "nursing_home": ["养老院", "敬老院", "养老机构", "老年养护院"],
    "vegetable_market": ["菜市场", "农贸市场", "便民市场", "社区菜市场", "生鲜超市"],  # GB 50180: 菜市场或生鲜超市
    "supermarket": ["超市", "综合超市", "社区超市"],
    "convenience_store": ["便利店"],
    "outdoor_fitness_ground": ["健身场地", "健身广场", "室外健身场地", "健身点", "健身路径", "全民健身路径",
                               "健身苑点"],
    "community_health_center": ["社区卫生服务中心", "社区卫生中心", "卫生服务中心"],
    "community_health_station": ["社区卫生服务站", "卫生室", "卫生站", "卫生服务站", "社区卫生站", "社区卫生室"],
    "community_canteen": ["社区食堂"],
    "elderly_canteen": ["老年食堂", "幸福食堂", "长者食堂"],
    "elderly_meal_point": ["助餐点", "老年助餐点", "老年餐桌", "助餐服务点"],
}
#: spellings counted under one standard although the facility serves two (a warning on each row says so)
_PARTIAL = ["九年一贯制", "九年一贯制学校"]


@functools.lru_cache(maxsize=65536, typed=True)  # facility files repeat a few category names on every row
def _key(name) -> str:
    """Column-name comparison key: NFKC (full-width → half-width), lower case, no spaces/underscores/dashes."""
    text = unicodedata.normalize("NFKC", str(name)).strip().lower()
    return re.sub(r"[\s_\-]+", "", text)


_PARTIAL_KEYS = frozenset(_key(name) for name in _PARTIAL)


def load_aliases(path: str | Path | None) -> dict[str, list[str]]:
    """Built-in aliases extended by a planner's mapping file: a CSV with columns ``alias,column`` (e.g.
    ``居委会名称,community``)."""
    aliases = {k: list(v) for k, v in ALIASES.items()}
    if path is None:
        return aliases
    path = Path(path)
    table = _read_csv(path)
    if not {"alias", "column"} <= set(table.columns):
        raise InputError(f"{path}: an alias file needs the columns alias,column (e.g. 居委会名称,community)")
    for i, row in table.iterrows():
        column = str(row["column"]).strip()
        if column not in aliases:
            raise InputError(
                f"{path}, row {i + 2}: {column!r} is not a geofacility column; use one of {', '.join(aliases)}"
            )
        aliases[column].insert(0, str(row["alias"]).strip())
    return aliases


def _rename_columns(frame: pd.DataFrame, wanted: list[str], aliases: dict[str, list[str]]) -> pd.DataFrame:
    """Rename the first matching alias of each wanted canonical column; an exact canonical name wins."""
    keys = {}
    for col in frame.columns:
        if col == "geometry":
            continue
        keys.setdefault(_key(col), col)
    renames: dict[str, str] = {}
    taken = set()
    for canonical in wanted:
        if canonical in frame.columns:
            taken.add(canonical)
            continue
        for alias in aliases.get(canonical, []):
            source = keys.get(_key(alias))
            if source is not None and source not in taken and source not in renames:
                renames[source] = canonical
                taken.add(source)
                break
    return frame.rename(columns=renames)


def use_columns(gdf: gpd.GeoDataFrame, columns: dict[str, str | None] | None, *, label: str,
                options: dict[str, str] | None = None) -> gpd.GeoDataFrame:
    """Columns the user named on the command line (``--weight-column POP2000``: ``{"population": "POP2000"}``)
    take their role before any alias is looked for; a column of the file already called by the role's name is
    kept as ``<role> (file)``. A named column the file lacks is refused, listing the file's columns."""
    for role, column in (columns or {}).items():
        if not column:
            continue
        if column not in gdf.columns:
            option = (options or {}).get(role, role)
            have = ", ".join(str(c) for c in gdf.columns if c not in ("geometry", "source_row", "source_file"))
            raise InputError(f"{label}: no column {column!r} ({option}); its columns are {have}")
        if column == role:
            continue
        if role in gdf.columns:
            gdf = gdf.rename(columns={role: f"{role} (file)"})
        gdf = gdf.rename(columns={column: role})
    return gdf


def _string(series: pd.Series) -> pd.Series:
    return series.astype("string").str.strip().astype(object).where(series.notna(), None)


@functools.lru_cache(maxsize=1)
def _category_lookup() -> dict[str, str]:
    return {_key(name): key for key, names in CATEGORY_ALIASES.items() for name in names}


def category_key(name) -> str | None:
    """The category key (education, elderly_care …) of any of its names in :data:`CATEGORY_ALIASES` — 养老,
    社区养老服务设施, Elderly Care, a full-width spelling — or None when it names no category. The one lookup for
    categories in files and on the command line alike."""
    if not isinstance(name, str) or not name.strip():
        return None
    return _category_lookup().get(_key(name))


def category_names() -> str:
    """The categories as an error message lists them: ``education (教育), health (医疗), …``."""
    return ", ".join(f"{key} ({names[1]})" for key, names in CATEGORY_ALIASES.items())


def normalise_category(values: pd.Series) -> pd.Series:
    """Chinese or English category names → the seven keys (None where unknown): :func:`category_key`."""
    return values.map(category_key)


def _subcategory_lookup() -> dict[str, tuple[str, str]]:
    table = load_standards()
    lookup: dict[str, tuple[str, str]] = {}
    for _, row in table.iterrows():
        for name in (row["subcategory"], row["name_zh"]):
            lookup.setdefault(_key(name), (row["category"], row["subcategory"]))
    for sub, names in SUBCATEGORY_ALIASES.items():
        category = table.loc[table["subcategory"] == sub, "category"].iloc[0]
        for name in names:
            lookup.setdefault(_key(name), (category, sub))
    return lookup
