"""Reading what planners have: GeoJSON, GeoPackage, Shapefile (GBK included), CSV/XLSX with lon/lat, in WGS84,
CGCS2000, projected CRSs, or the GCJ-02/BD-09 coordinates that Chinese map APIs emit.

Every reader returns a GeoDataFrame in EPSG:4326 with canonical column names (docs/data-model.md) and two
bookkeeping columns, ``source_file`` and ``source_row`` (the row number a planner sees: the line in a CSV, the
data row in a spreadsheet, the feature number in a vector file). Rows that cannot be used are not dropped
silently: they go to the :class:`~geofacility.errors.WarningLog` with the file, the row and the reason.
Input that cannot be used at all raises :class:`~geofacility.errors.InputError` with a one-line fix.
"""
from __future__ import annotations

import csv
import functools
import os
import re
import unicodedata
from pathlib import Path
from typing import NamedTuple

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyogrio
import shapely
from pyproj import CRS

from .crs import COORD_SYSTEMS, to_wgs84
from .errors import NO_USABLE_ROW, InputError, WarningLog, not_used, reasons_text
from .standards import CATEGORIES, CATEGORY_SHORT_ZH, load_standards

__all__ = [
    "ALIASES",
    "CATEGORY_ALIASES",
    "category_key",
    "read_layer",
    "read_communities",
    "read_facilities",
    "read_demand",
    "read_towns",
    "read_candidates",
    "load_aliases",
    "normalise_category",
    "parse_coords",
]

VECTOR_SUFFIXES = {".geojson", ".json", ".gpkg", ".shp", ".zip", ".fgb", ".kml", ".gml"}
TABLE_SUFFIXES = {".csv", ".txt", ".tsv", ".xlsx", ".xls"}

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

LON_NAMES = ["lon", "lng", "longitude", "long", "x", "经度", "point_x"]
LAT_NAMES = ["lat", "latitude", "y", "纬度", "point_y"]
#: prefixes/suffixes of coordinate columns that say which coordinate system they are in
COORD_HINTS = {
    "gcj02": ["gcj02", "gcj", "gaode", "amap", "高德", "火星"],
    "bd09": ["bd09", "bd", "baidu", "百度", "bd09ll"],
    "wgs84": ["wgs84", "wgs", "gps"],
    "cgcs2000": ["cgcs2000", "cgcs"],
}

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


# ---------------------------------------------------------------------------------------------------------
# coordinates


def parse_coords(value: str | None) -> str | CRS | None:
    """``wgs84|cgcs2000|gcj02|bd09`` or any CRS pyproj understands (``EPSG:4547``)."""
    if value is None or value == "":
        return None
    text = str(value).strip().lower().replace("-", "")
    if text in COORD_SYSTEMS:
        return text
    if text in ("gcj", "mars", "amap", "gaode"):
        return "gcj02"
    if text in ("baidu", "bd"):
        return "bd09"
    try:
        return CRS.from_user_input(value)
    except Exception:  # pyproj raises CRSError; any failure means the text is not a CRS
        raise InputError(
            f"--coords {value!r}: not a coordinate system; use wgs84, cgcs2000, gcj02, bd09 or an EPSG code "
            "such as EPSG:4547"
        ) from None


def _find_xy_columns(columns) -> tuple[str, str, str | None] | None:
    """Find the lon/lat columns and the coordinate system their names announce (e.g. ``gcj02_lng``)."""
    found = []
    for col in columns:
        key = _key(col)
        for system, hints in [(None, [""])] + [(s, h) for s, h in COORD_HINTS.items()]:
            for hint in hints:
                for lon in LON_NAMES:
                    if key in (hint + lon, lon + hint):
                        found.append(("lon", system, col))
                for lat in LAT_NAMES:
                    if key in (hint + lat, lat + hint):
                        found.append(("lat", system, col))
    systems = {}
    for axis, system, col in found:
        systems.setdefault(system, {}).setdefault(axis, col)
    pairs = {s: v for s, v in systems.items() if "lon" in v and "lat" in v}
    if not pairs:
        return None
    if len(pairs) > 1:
        names = "; ".join(f"{v['lon']}/{v['lat']}" for v in pairs.values())
        raise _Ambiguous(names)
    system, cols = next(iter(pairs.items()))
    return cols["lon"], cols["lat"], system


class _Ambiguous(Exception):
    pass


def _points_from_table(frame: pd.DataFrame, *, label: str, coords, log: WarningLog) -> gpd.GeoDataFrame:
    """lon/lat (or WKT ``geometry``) columns → points in EPSG:4326."""
    wkt_col = next((c for c in frame.columns if _key(c) in ("geometry", "wkt", "geom")), None)
    try:
        xy = _find_xy_columns(frame.columns)
    except _Ambiguous as exc:
        raise InputError(
            f"{label}: several coordinate column pairs ({exc}); keep one pair, or rename the one to use lon/lat "
            "and give --coords"
        ) from None
    if xy is None and wkt_col is None:
        raise InputError(
            f"{label}: no coordinate columns; add lon and lat (or 经度 and 纬度) columns, or a WKT geometry column"
        )
    if xy is None:
        geometry = gpd.GeoSeries.from_wkt(frame[wkt_col].astype("string").fillna(""), on_invalid="ignore")
        frame = frame.drop(columns=[wkt_col])
        source_crs = coords if isinstance(coords, CRS) else CRS.from_epsg(4326)
        gdf = gpd.GeoDataFrame(frame, geometry=geometry.values, crs=source_crs)
        if coords in ("gcj02", "bd09"):
            gdf = _shift_to_wgs84(gdf, coords)
        return gdf
    lon_col, lat_col, named_system = xy
    system = coords if coords is not None else (named_system or "wgs84")
    if coords is not None and named_system is not None and not isinstance(coords, CRS) and coords != named_system:
        log.add(label, None, f"columns {lon_col}/{lat_col} are named as {named_system} but --coords says {coords}; "
                             f"read as {coords}", severity="warning",
                zh=f"列 {lon_col}/{lat_col} 的名称表明是 {named_system} 坐标，但 --coords 指定为 {coords}；按 {coords} 读取")
    # degrees never have thousands separators: a comma in a coordinate is a decimal comma or a typo, never guessed
    lon_read, lat_read = (parse_numbers(frame[c], thousands=False) for c in (lon_col, lat_col))
    lon, lat = lon_read.values, lat_read.values
    if lon_read.normalised or lat_read.normalised:
        log.add(label, None, f"full-width digits or punctuation in {lon_col}/{lat_col} read as ordinary ones",
                severity="info", zh=f"{lon_col}/{lat_col} 中的全角数字或标点已按半角读取")
    comma = np.zeros(len(lon), dtype=bool)
    for read, col in ((lon_read, lon_col), (lat_read, lat_col)):
        if read.problem is None:
            continue
        hit = (read.problem == "ambiguous") & ~comma
        for row, cell in zip(frame.loc[hit, "source_row"], frame.loc[hit, col]):
            log.add(label, row, f"{col} {_cell(cell)} has a comma (a decimal comma?); row not used: write "
                                "coordinates in degrees with a decimal point, e.g. 116.3625",
                    zh=f"{col} 的值 {_cell(cell)} 含逗号（小数逗号？），本行未采用：坐标请写成带小数点的度数，如 116.3625")
        comma |= hit
    bad = ~np.isfinite(lon) | ~np.isfinite(lat)
    if (bad & ~comma).any():
        log.extend(label, frame.loc[bad & ~comma, "source_row"],
                   f"missing or non-numeric {lon_col}/{lat_col}; row not used",
                   zh=f"{lon_col}/{lat_col} 缺失或不是数字，本行未采用")
    if isinstance(system, CRS) and system.is_projected:
        points = gpd.GeoSeries(gpd.points_from_xy(lon, lat), crs=system).to_crs(4326)
        gdf = gpd.GeoDataFrame(frame.drop(columns=[lon_col, lat_col]), geometry=points.values, crs=4326)
        gdf.loc[bad, "geometry"] = None
        return gdf
    if isinstance(system, CRS):  # a geographic CRS: WGS84 and CGCS2000 differ by centimetres
        system = "wgs84"
    finite = ~bad
    if finite.any() and ((np.abs(lon[finite]) > 1000).any() or (np.abs(lat[finite]) > 1000).any()):
        first = np.flatnonzero(finite & ((np.abs(lon) > 1000) | (np.abs(lat) > 1000)))[0]
        raise InputError(
            f"{label}, row {frame['source_row'].iloc[first]}: {lon_col}/{lat_col} = {lon[first]:.0f}, "
            f"{lat[first]:.0f} are not degrees: projected coordinates? give their CRS, e.g. --coords ROLE=EPSG:4547"
        )
    # lon/lat swapped: in China latitude is 18–54 and longitude 73–135, so swapped columns are unambiguous there
    lon_like_lat = (lat > 73) & (lat < 136) & (lon > 3) & (lon < 54)
    if (~bad).any() and lon_like_lat[~bad].mean() > 0.5:
        log.add(label, None, f"columns {lon_col} and {lat_col} are swapped (longitudes in {lat_col}); swapped back",
                severity="warning", zh=f"列 {lon_col} 与 {lat_col} 写反了（经度在 {lat_col} 中），已换回")
        lon, lat = lat.copy(), lon.copy()
    out_of_range = ~bad & ((np.abs(lon) > 180) | (np.abs(lat) > 90))
    if out_of_range.any():
        log.extend(label, frame.loc[out_of_range, "source_row"],
                   f"coordinates outside ±180/±90 degrees in {lon_col}/{lat_col}; row not used",
                   zh=f"{lon_col}/{lat_col} 坐标超出 ±180/±90 度，本行未采用")
    unusable = bad | out_of_range
    lon_w, lat_w = to_wgs84(np.where(unusable, np.nan, lon), np.where(unusable, np.nan, lat), system)
    geometry = gpd.points_from_xy(lon_w, lat_w)
    geometry[unusable] = None
    gdf = gpd.GeoDataFrame(frame.drop(columns=[lon_col, lat_col]), geometry=geometry, crs=4326)
    if system in ("gcj02", "bd09"):
        log.add(label, None, f"coordinates in {lon_col}/{lat_col} read as {system.upper()} and converted to WGS84",
                severity="info", zh=f"{lon_col}/{lat_col} 坐标按 {system.upper()} 读取并转换为 WGS84")
    return gdf


def _shift_to_wgs84(gdf: gpd.GeoDataFrame, system: str) -> gpd.GeoDataFrame:
    """Apply the GCJ-02/BD-09 → WGS84 inverse to every vertex (one vectorised call over all coordinates)."""
    def shift(xy: np.ndarray) -> np.ndarray:
        lon, lat = to_wgs84(xy[:, 0], xy[:, 1], system)
        return np.column_stack([lon, lat])

    out = gdf.copy()
    out["geometry"] = shapely.transform(np.asarray(gdf.geometry.values), shift)
    return out.set_crs(4326, allow_override=True)


# ---------------------------------------------------------------------------------------------------------
# files


def _sniff_separator(path: Path, encoding: str) -> str:
    """The delimiter of the first line: tab, semicolon or comma (Chinese Excel exports use all three)."""
    with open(path, encoding=encoding, errors="replace") as handle:
        first = handle.readline()
    counts = {sep: first.count(sep) for sep in (",", "\t", ";", "，")}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","


def _mixed_encoding(path: Path) -> str | None:
    """When a file that is not UTF-8 throughout still has UTF-8 rows (rows pasted from two sources), where: reading
    it all as GBK would garble them without a word. Called only once UTF-8 has failed, so a file is read twice
    only when it is not UTF-8."""
    utf8_row = gbk_row = None
    with open(path, "rb") as raw:
        for number, line in enumerate(raw, start=1):
            if line.isascii():
                continue
            try:
                line.decode("utf-8")
                utf8_row = utf8_row or number
            except UnicodeDecodeError:
                gbk_row = gbk_row or number
            if utf8_row and gbk_row:
                return f"row {utf8_row} is UTF-8 but row {gbk_row} is not (GBK?)"  # rows counted as lines, header 1
    return None


def _read_csv(path: Path, encoding: str | None = None) -> pd.DataFrame:
    encodings = [encoding] if encoding else ["utf-8-sig", "gb18030"]
    last = None
    for enc in encodings:
        try:
            sep = "\t" if path.suffix.lower() == ".tsv" else _sniff_separator(path, enc)
            frame = _read_csv_arrow(path, sep) if enc == "utf-8-sig" and sep.isascii() else None
            if frame is not None:
                return frame
            # the C parser: a million rows in about a second (the sniffing python engine took a minute)
            return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""], encoding=enc, sep=sep,
                               engine="c" if len(sep) == 1 and sep.isascii() else "python")
        except UnicodeDecodeError as exc:
            last = exc
            # not UTF-8: before reading it all as GBK, make sure no row of it is UTF-8 (that row would be garbled)
            mixed = _mixed_encoding(path) if encoding is None else None
            if mixed:
                raise InputError(f"{path}: mixed text encodings: {mixed}; save the whole file in one encoding (CSV "
                                 "UTF-8 in Excel), or give --encoding to read it all as one") from None
        except (pd.errors.ParserError, csv.Error) as exc:
            raise InputError(f"{path}: not a readable CSV ({str(exc).splitlines()[0]}); check the delimiter "
                             "and quoting") from None
        except LookupError:
            raise InputError(f"{path}: unknown encoding {enc!r}; use e.g. utf-8 or gbk") from None
    raise InputError(f"{path}: text is neither UTF-8 nor GBK/GB18030 ({last}); give --encoding") from None


def _read_csv_arrow(path: Path, sep: str) -> pd.DataFrame | None:
    """A UTF-8 CSV read by Arrow's parser (multithreaded: a million rows in a quarter of a second), the same
    frame the C parser gives; None, to let the C parser read or report it, when Arrow cannot (ragged rows, bad
    UTF-8) or the file has one column (there only the C parser skips lines of blanks)."""
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""], encoding="utf-8-sig", sep=sep,
                            engine="pyarrow")
    except Exception:  # whatever Arrow rejects, the C parser reads or reports in its own words
        return None
    return frame if frame.shape[1] > 1 else None


def _vector_encoding(path: Path, encoding: str | None, log: WarningLog) -> str | None:
    """Shapefiles without a .cpg: GDAL would read GBK text as Latin-1 mojibake; try UTF-8, then GBK."""
    if encoding or path.suffix.lower() != ".shp" or path.with_suffix(".cpg").exists() \
            or path.with_suffix(".CPG").exists():
        return encoding
    for candidate in ("utf-8", "gb18030"):
        try:
            pyogrio.read_dataframe(path, encoding=candidate, read_geometry=False)
        except UnicodeDecodeError:
            continue
        except Exception:  # other read errors are reported by the real read below
            return None
        if candidate != "utf-8":
            log.add(str(path), None, f"no .cpg file: attribute text read as {candidate.upper()} (detected); "
                                     "give --encoding to override", severity="info",
                    zh=f"无 .cpg 文件：属性文字按检测到的 {candidate.upper()} 编码读取；如有误请用 --encoding 指定")
        return candidate
    return None


def split_layer(text: str | Path, exists=None) -> tuple[Path, str | None]:
    """``社区.gpkg:communities`` → (``社区.gpkg``, ``communities``): the trailing ``:LAYER`` is a layer name only when
    the part before it is a file and the whole is not, so paths with colons (``C:\\data\\社区.gpkg``, the
    drive letter of Windows) are kept whole. ``exists`` (tests): the predicate that says a path is a file."""
    exists = exists or os.path.isfile
    text = str(text)
    head, sep, tail = text.rpartition(":")
    if sep and head and tail and not any(c in tail for c in "/\\") and exists(head) and not exists(text):
        return Path(head), tail
    return Path(text), None


#: vector formats that can hold several layers (GeoJSON, Shapefile and FlatGeobuf hold one)
MULTI_LAYER_SUFFIXES = {".gpkg", ".zip", ".kml", ".gml", ".sqlite", ".gdb"}


def _choose_layer(path: Path, layer: str | None, *, label: str, option: str | None) -> str | None:
    """The layer to read: the one named, else the only spatial layer; a source with several and none named is
    refused with its layers listed (taking the first silently could analyse the roads as communities)."""
    if not (path.is_dir() or path.suffix.lower() in MULTI_LAYER_SUFFIXES):
        return layer
    try:
        layers = pyogrio.list_layers(path)
    except Exception:  # unreadable: the read below reports it in GDAL's words
        return layer
    names = [str(name) for name, kind in layers]
    spatial = [str(name) for name, kind in layers if kind is not None]
    base = "" if not option else option if option.endswith("=") else f"{option} "
    if layer is not None:
        if layer not in names:
            raise InputError(f"{label}: no layer {layer!r} in {path.name}; its layers are {', '.join(names) or 'none'}: "
                             f"give one as {base}{path}:LAYER")
        return layer
    if len(spatial) > 1:
        raise InputError(f"{label}: {len(spatial)} layers ({', '.join(spatial)}) and none named; say which to use: "
                         f"{base}{path}:{spatial[0]} (PATH:LAYER)")
    return spatial[0] if spatial else layer


def read_layer(path: str | Path, *, coords=None, encoding: str | None = None, layer: str | None = None,
               log: WarningLog | None = None, option: str | None = None) -> gpd.GeoDataFrame:
    """Read any supported file into a GeoDataFrame in EPSG:4326 with ``source_file``/``source_row`` columns.

    ``coords``: the coordinate system of the input when its file does not say (``wgs84``, ``cgcs2000``,
    ``gcj02``, ``bd09`` or a pyproj CRS). For a vector file declared as WGS84/CGCS2000, ``gcj02``/``bd09``
    shifts every vertex back to WGS84 (Amap/Baidu exports are often labelled WGS84 but are not).
    ``path`` may name a layer (a sheet of a workbook) as ``PATH:LAYER`` (see :func:`split_layer`); a GeoPackage
    with several layers and none named is refused. ``option`` (``--communities``) is used in that message. The
    warnings and ``source_file`` keep ``path`` as given, layer included.
    """
    log = log if log is not None else WarningLog()
    label = str(path)
    path, named = split_layer(path)
    if named is not None:
        if layer is not None and layer != named:
            raise InputError(f"{label}: layer {named!r} named in the path and {layer!r} given; give one")
        layer = named
    coords = parse_coords(coords) if isinstance(coords, str) else coords
    if not path.exists():
        raise InputError(f"{label}: file not found; check the path")
    if path.is_file() and path.stat().st_size == 0:
        raise InputError(f"{label}: the file is empty; export the layer again")
    suffix = path.suffix.lower()
    if path.is_dir() and suffix in TABLE_SUFFIXES:
        raise InputError(f"{label}: is a folder, not a {suffix} file; give the path of the file inside it")
    _check_size(path, label)
    if suffix in TABLE_SUFFIXES:
        if suffix in (".xlsx", ".xls"):
            try:
                with pd.ExcelFile(path) as book:
                    sheets = list(book.sheet_names)
                    if layer is not None and layer not in sheets:
                        raise InputError(f"{label}: no sheet {layer!r} in {path.name}; its sheets are "
                                         f"{', '.join(sheets)}")
                    frame = book.parse(sheet_name=layer or 0, dtype=str)
            except InputError:
                raise
            except Exception as exc:  # openpyxl/xlrd raise many types for unreadable workbooks
                raise InputError(f"{label}: not a readable spreadsheet ({exc}); save it as .xlsx") from None
            if layer is None and len(sheets) > 1:  # never a sheet taken silently
                log.add(label, None, f"the workbook has {len(sheets)} sheets ({', '.join(sheets)}): the first, "
                                     f"{sheets[0]!r}, is read; name another as {path.name}:SHEET",
                        severity="warning",
                        zh=f"工作簿有 {len(sheets)} 个工作表（{'、'.join(map(repr, sheets))}）：读取第一个 {sheets[0]!r}；"
                           f"如需其他工作表，请写作 {path.name}:工作表名")
            first_row = 2
        else:
            if layer is not None:
                raise InputError(f"{label}: a {suffix} file has no layers; give the path without :{layer}")
            frame = _read_csv(path, encoding)
            first_row = 2
        if frame.empty:
            raise InputError(f"{label}: no data rows; the file has only a header")
        log.record_read(label, len(frame), first_row)
        frame = frame.reset_index(drop=True)
        frame["source_row"] = np.arange(first_row, first_row + len(frame))
        frame["source_file"] = label
        gdf = _points_from_table(frame, label=label, coords=coords, log=log)
    elif suffix in VECTOR_SUFFIXES or path.is_dir():
        enc = _vector_encoding(path, encoding, log)
        layer = _choose_layer(path, layer, label=label, option=option)
        try:
            gdf = gpd.read_file(path, engine="pyogrio", layer=layer, encoding=enc)
        except UnicodeDecodeError:
            raise InputError(f"{label}: attribute text is not in the declared encoding; give --encoding gbk "
                             "(or utf-8)") from None
        except Exception as exc:  # pyogrio raises DataSourceError and friends with GDAL's message
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise InputError(f"{label}: cannot be read as a GIS file ({first}); export it as GeoPackage or "
                             "GeoJSON") from None
        if gdf.empty:
            raise InputError(f"{label}: the layer has no features")
        log.record_read(label, len(gdf))
        for column in gdf.columns:
            if column in _TRUNCATED:
                log.add(label, None, f"column {column} read as {_TRUNCATED[column]} (Shapefile cuts field names at "
                                     "10 characters)", severity="info",
                        zh=f"列 {column} 按 {_TRUNCATED[column]} 读取（Shapefile 字段名最多 10 个字符）")
        _check_vertices(gdf, label)
        gdf = gdf.reset_index(drop=True)
        gdf["source_row"] = np.arange(1, len(gdf) + 1)
        gdf["source_file"] = label
        gdf = _vector_to_wgs84(gdf, label=label, coords=coords, log=log)
    else:
        raise InputError(f"{label}: unknown file type {suffix!r}; use GeoJSON, GeoPackage, Shapefile, CSV or XLSX")
    missing = gdf.geometry.isna() | gdf.geometry.is_empty
    empty_rows = gdf.index[missing & ~gdf["source_row"].isin(_logged_rows(log, label))]
    if len(empty_rows):
        log.extend(label, gdf.loc[empty_rows, "source_row"], "no geometry; row not used",
                   zh="没有几何图形，本行未采用")
    return gdf


#: a feature with more vertices than this is refused: GEOS repairs and overlays on it would take minutes to hours
#: (community and town outlines have thousands of vertices; 10 million is a digitising or export error)
MAX_VERTICES_PER_FEATURE = 1_000_000
#: how many bytes of memory reading one byte of a file takes, at most (GeoJSON text → objects → GeoDataFrame)
READ_MEMORY_FACTOR = {".geojson": 12.0, ".json": 12.0, ".csv": 8.0, ".txt": 8.0, ".tsv": 8.0, ".xlsx": 40.0,
                      ".xls": 40.0, ".kml": 12.0, ".gml": 12.0}
_DEFAULT_MEMORY_FACTOR = 4.0  # binary formats (GeoPackage, Shapefile, FlatGeobuf)


def available_memory() -> int | None:
    """Bytes of memory available to this process now (Linux MemAvailable; None when unknown)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        import os

        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _gb(n: float) -> str:
    return f"{n / 1e9:.1f} GB"


def _check_size(path: Path, label: str) -> None:
    """Refuse, before reading, a file whose reading would exhaust memory (estimated from its size and format)."""
    if path.is_dir():
        size = sum(p.stat().st_size for p in path.iterdir() if p.is_file())
    else:
        size = path.stat().st_size
    factor = READ_MEMORY_FACTOR.get(path.suffix.lower(), _DEFAULT_MEMORY_FACTOR)
    need, free = size * factor, available_memory()
    if free is not None and need > free:
        raise InputError(
            f"{label}: the file is {_gb(size)}; reading it needs about {_gb(need)} of memory and {_gb(free)} is "
            "available; clip it to the study area, keep only the columns needed, or convert it to GeoPackage "
            "(ogr2ogr -f GPKG out.gpkg in.geojson), which reads with less memory")


def _check_vertices(gdf: gpd.GeoDataFrame, label: str) -> None:
    counts = shapely.get_num_coordinates(np.asarray(gdf.geometry.values))
    if len(counts) and counts.max() > MAX_VERTICES_PER_FEATURE:
        i = int(np.argmax(counts))
        raise InputError(
            f"{label}, feature {i + 1}: {counts[i]:,} vertices in one geometry (the limit is "
            f"{MAX_VERTICES_PER_FEATURE:,}); simplify it first, e.g. ogr2ogr -simplify 0.5 out.gpkg {Path(label).name} "
            "(0.5 m in a metric CRS), or check the export: outlines of communities have thousands of vertices")


def _logged_rows(log: WarningLog, label: str) -> set:
    frame = log.to_frame()
    if frame.empty:
        return set()
    return set(pd.to_numeric(frame.loc[frame["file"] == label, "row"], errors="coerce").dropna().astype(int))


def _vector_to_wgs84(gdf: gpd.GeoDataFrame, *, label: str, coords, log: WarningLog) -> gpd.GeoDataFrame:
    if isinstance(coords, CRS):
        if gdf.crs is not None and not gdf.crs.equals(coords):
            log.add(label, None, f"file declares {gdf.crs.to_string()} but --coords says {coords.to_string()}; "
                                 "using --coords", severity="warning",
                    zh=f"文件声明的坐标系为 {gdf.crs.to_string()}，但 --coords 指定为 {coords.to_string()}；按 --coords 读取")
        gdf = gdf.set_crs(coords, allow_override=True)
    if gdf.crs is None:
        minx, miny, maxx, maxy = gdf.total_bounds
        if -180 <= minx and maxx <= 180 and -90 <= miny and maxy <= 90:
            log.add(label, None, "no CRS in the file (.prj missing?): coordinates look like degrees, read as "
                                 "WGS84; give --coords to say otherwise", severity="warning",
                    zh="文件没有坐标系（缺 .prj？）：坐标看似经纬度，按 WGS84 读取；如不是，请用 --coords 指定")
            gdf = gdf.set_crs(4326)
        else:
            raise InputError(
                f"{label}: no CRS in the file and coordinates like {minx:.0f}, {miny:.0f} are not degrees; give "
                "the CRS with --coords ROLE=EPSG:xxxx (e.g. EPSG:4547 for CGCS2000 / 3-degree GK CM 114E)"
            )
    if not gdf.crs.is_geographic and not gdf.crs.is_projected:
        raise InputError(f"{label}: CRS {gdf.crs.to_string()} is neither geographic nor projected")
    gdf = gdf.to_crs(4326)
    bounds = gdf.geometry.bounds.to_numpy()
    bad = ~np.isfinite(bounds).all(axis=1) & gdf.geometry.notna().to_numpy() & ~gdf.geometry.is_empty.to_numpy()
    bad |= (np.abs(bounds[:, [0, 2]]) > 180).any(axis=1) | (np.abs(bounds[:, [1, 3]]) > 90).any(axis=1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(
            f"{label}, feature {gdf['source_row'].iloc[i]}: coordinates outside ±180/±90 degrees after reading it as "
            f"{gdf.crs.name if coords is None else coords} (e.g. {bounds[i, 0]:.6g}, {bounds[i, 1]:.6g}); the file's "
            "CRS is wrong or missing, or the feature is corrupt: give the CRS with --coords ROLE=EPSG:xxxx or fix "
            "the feature")
    if coords in ("gcj02", "bd09"):
        gdf = _shift_to_wgs84(gdf, coords)
        log.add(label, None, f"coordinates read as {coords.upper()} and converted to WGS84", severity="info",
                zh=f"坐标按 {coords.upper()} 读取并转换为 WGS84")
    return gdf


# ---------------------------------------------------------------------------------------------------------
# validation helpers


def _cell(value) -> str:
    """A cell as the planner typed it: '很多' quoted, -2000.0 as -2000 (not numpy's repr)."""
    if isinstance(value, str):
        return repr(value)
    try:
        return f"{float(value):g}"
    except (TypeError, ValueError):
        return repr(value)


#: the largest value one row of a column can hold; above it the value is a typing or unit error, never real.
#: People: a community (社区) holds 1,000–30,000 people, a subdistrict (街道) used as a unit up to a few hundred
#: thousand, and the most populous district-level unit in China, Shanghai's 浦东新区, 5.68 million (2020 census):
#: 10 million in one row is more than any district, whatever the unit. Floor area: the largest building in the
#: world by floor area (New Century Global Center, Chengdu) has about 1.76 million m²; 10 million m² is no facility.
#: Capacity: residents one facility serves, bounded like people.
MAX_VALUE = {"population": 10_000_000, "households": 10_000_000, "floor_area_m2": 10_000_000,
             "capacity": 10_000_000}
_MAX_WHAT = {"population": "people in one row, more than any district in China (浦东新区 had 5.68 million in the 2020 "
                            "census)",
             "households": "households in one row, more than any district in China",
             "floor_area_m2": "m² for one facility, more than any building (the largest, in Chengdu, has about 1.76 "
                              "million m²)",
             "capacity": "residents for one facility, more than any district in China"}
#: people per km² of a community's polygon (roads, courtyards and parks included) no real place reaches: 2 people on
#: every square metre. The densest neighbourhood ever recorded, Kowloon Walled City (about 33,000 people on 2.6 ha in
#: the 1980s), was about 1.3 million per km²; today's densest, Dharavi in Mumbai and Mong Kok in Hong Kong, are
#: about 0.3 and 0.13 million per km², Beijing's Xicheng district about 22,000 per km². Above it the population is
#: wrong (a unit or typing error) or the polygon is (a sliver, a boundary in the wrong unit).
MAX_DENSITY_PER_KM2 = 2_000_000
#: a community polygon narrower than this on average (2 × area ÷ outline length, in metres) has no area: a line, a
#: point or a sliver, not a place where people live (a street-wide strip is 10–30 m; a line drawn as a polygon and
#: reprojected keeps millimetres of "width")
MIN_COMMUNITY_WIDTH_M = 1.0

#: thousands separators in groups of three: 1,234 and 12,345,678.9 (read without them)
_GROUPED = r"[+-]?[0-9]{1,3}(,[0-9]{3})+(\.[0-9]+)?"


class Numbers(NamedTuple):
    """A column read by :func:`parse_numbers`: ``values`` (float64, NaN where empty or unusable), ``problem`` (per
    cell None, ``"not a number"`` or ``"ambiguous"``; None as a whole when no cell has one) and ``normalised``
    (some cell was written in full-width digits or punctuation and read after NFKC)."""

    values: np.ndarray
    problem: np.ndarray | None
    normalised: bool


def parse_numbers(raw: pd.Series, *, thousands: bool = True) -> Numbers:
    """Numbers as planners type them, vectorised; the one parser of every numeric input column.

    * plain decimals (``1234``, ``-0.5``) are read as :func:`_to_float` reads them (Arrow, to the bit); a column of
      nothing else costs one regular-expression pass more than the cast;
    * ``1,234`` and ``12,345,678`` (thousands separators in groups of three) are read without the separators, when
      ``thousands`` (not for coordinates: degrees never have thousands);
    * full-width digits and punctuation (``１２３４``, ``１，２３４．５``) are read after NFKC normalisation, which is
      lossless (``normalised`` says it happened);
    * ``12,34``, ``1.234,5``, ``116,3625`` (a decimal comma or a misplaced separator: which one cannot be told) are
      ``"ambiguous"`` and ``inf``, ``nan``, ``Infinity``, words and anything else ``"not a number"``: their value
      is NaN and the caller refuses or reports them; never a number guessed.
    """
    if pd.api.types.is_numeric_dtype(raw.dtype) and not pd.api.types.is_bool_dtype(raw.dtype):
        values = raw.to_numpy(dtype="float64", na_value=np.nan)
        infinite = np.isinf(values)
        if not infinite.any():
            return Numbers(values, None, False)
        values = values.copy()
        values[infinite] = np.nan
        return Numbers(values, np.where(infinite, "not a number", None), False)
    arr = pa.array(raw.astype("string").array)
    if pc.all(_plain_mask(arr), min_count=0).as_py():  # the fast path: every cell a plain decimal (or empty)
        return Numbers(pc.cast(arr, pa.float64()).to_numpy(zero_copy_only=False), None, False)
    # the rest in Arrow's string kernels, column at once: strip, NFKC where not ASCII, separators, words
    text = pc.utf8_trim_whitespace(arr)
    normalised = False
    if not pc.all(pc.string_is_ascii(text), min_count=0).as_py():
        nfkc = pc.utf8_trim_whitespace(pc.replace_substring(pc.utf8_normalize(text, form="NFKC"), "\u2212", "-"))
        normalised = bool(pc.any(pc.not_equal(nfkc, text)).as_py())
        text = nfkc
    comma = pc.match_substring(text, ",").fill_null(False)
    ambiguous = None
    if pc.any(comma).as_py():
        grouped = (pc.match_substring_regex(text, f"^{_GROUPED}$").fill_null(False) if thousands
                   else pa.array(np.zeros(len(text), dtype=bool)))
        ambiguous = pc.and_(comma, pc.invert(grouped))
        text = pc.replace_substring(text, ",", "")
        if pc.any(ambiguous).as_py():
            text = pc.if_else(ambiguous, pa.scalar(None, text.type), text)
    # inf, nan, Infinity parse (pandas' rules) to ±inf or NaN: not a number, as words are
    values = _to_float(pd.Series(pd.arrays.ArrowStringArray(text)))
    if not values.flags.writeable:
        values = values.copy()
    typed = pc.not_equal(text, "").fill_null(False).to_numpy(zero_copy_only=False)
    bad = typed & ~np.isfinite(values)
    ambiguous = (ambiguous.to_numpy(zero_copy_only=False) if ambiguous is not None
                 else np.zeros(len(values), dtype=bool))
    if not (bad | ambiguous).any():
        return Numbers(values, None, normalised)
    values[bad] = np.nan
    problem = np.full(len(values), None, dtype=object)
    problem[bad] = "not a number"
    problem[ambiguous] = "ambiguous"
    return Numbers(values, problem, normalised)


def number_problem(cell, problem: str) -> str:
    """How a cell :func:`parse_numbers` could not read is described in a message: ``is ambiguous ('12,34': 12.34
    with a decimal comma, or 1234 with a misplaced thousands separator?)`` or ``is not a number ('inf')``."""
    if problem == "ambiguous":
        return f"is ambiguous ({_cell(cell)}: {_ambiguity(cell)})"
    return f"is not a number ({_cell(cell)})"


#: the fix a message gives for a number that could not be read
NUMBER_FIX = {"ambiguous": "write it with a decimal point and no thousands separators, e.g. 1234 or 12.34",
              "not a number": "fix the value"}


def _ambiguity(cell) -> str:
    """Why a number with a comma cannot be read: '12,34' could be 12.34 or 1234."""
    text = unicodedata.normalize("NFKC", str(cell)).strip()
    if "," in text and "." in text and text.rfind(",") > text.rfind("."):
        european = text.replace(".", "").replace(",", ".")
        return f"a dot and a decimal comma as in European numbers ({european}?)"
    if text.count(",") == 1 and "." not in text:
        whole, part = text.split(",")
        return f"{whole}.{part} with a decimal comma, or {whole}{part} with a misplaced thousands separator?"
    return "commas that do not separate groups of three digits"


def _numeric(gdf: gpd.GeoDataFrame, column: str, *, label: str, log: WarningLog, required: bool,
             allow_negative: bool = False, maximum: float | None = None) -> pd.Series:
    """A numeric column through :func:`parse_numbers`. Cells that are not a number, ambiguous (``12,34``), negative
    (unless ``allow_negative``) or above ``maximum`` (:data:`MAX_VALUE` of the column by default) stop the run
    with the first row when ``required``; otherwise each is reported on its row and treated as unknown."""
    raw = gdf[column]
    parsed = parse_numbers(raw)
    values = pd.Series(parsed.values, index=raw.index, name=column)
    if parsed.normalised:
        log.add(label, None, f"full-width digits or punctuation in {column} read as ordinary ones (e.g. '１２３４' as "
                             "1234)", severity="info", zh=f"{column} 中的全角数字或标点已按半角读取（如 '１２３４' 读作 1234）")
    problem = parsed.problem if parsed.problem is not None else np.full(len(values), None, dtype=object)
    maximum = MAX_VALUE.get(column) if maximum is None else maximum
    checks = [
        (problem == "not a number", "is not a number"),
        (problem == "ambiguous", "is ambiguous"),
        ((values < 0).to_numpy() if not allow_negative else np.zeros(len(values), dtype=bool), "is negative"),
        ((values > maximum).to_numpy() if maximum is not None else np.zeros(len(values), dtype=bool), "is impossibly large"),
    ]
    rows = gdf["source_row"].to_numpy()
    for mask, what in checks:
        if not mask.any():
            continue
        cells = raw.to_numpy()[mask]
        zh = {"is not a number": "不是数字", "is ambiguous": "有歧义（小数逗号，还是千位分隔符？）",
              "is negative": "为负数", "is impossibly large": f"大得不可能（超过 {maximum:,.0f}，录入或单位错误？）"}[what]
        texts_zh = [f"{zh}：{_cell(c)}" for c in cells]
        if what in ("is ambiguous", "is not a number"):
            texts = [number_problem(c, "ambiguous" if what == "is ambiguous" else "not a number") for c in cells]
        elif what == "is impossibly large":
            texts = [f"{what} ({_cell(c)}: over {maximum:,.0f} {_MAX_WHAT.get(column, '')})".replace(" )", ")")
                     for c in cells]
        else:
            texts = [f"{what} ({_cell(c)})" for c in cells]
        if required:
            fix = {"is ambiguous": NUMBER_FIX["ambiguous"],
                   "is impossibly large": "fix the value (a typing or unit error?)"}.get(what, "fix the value")
            more = int(mask.sum()) - 1
            raise InputError(f"{label}, row {rows[mask][0]}: {column} {texts[0]}; {fix}"
                             + (f" (and {more} more rows)" if more else ""))
        for row, text, text_zh in zip(rows[mask], texts, texts_zh):
            log.add(label, row, f"{column} {text}; treated as unknown", zh=f"{column} {text_zh}，按未知处理")
        values[mask] = np.nan
    return values


#: cells pandas and Arrow parse to the same double (up to 15 digits); not "-0", whose sign pandas may drop
_PLAIN_NUMBER = r"^-?[0-9]+(\.[0-9]+)?$"
_NEGATIVE_ZERO = r"^-0+(\.0+)?$"


def _plain_mask(text: pa.Array) -> pa.Array:
    """Per cell: a plain decimal Arrow casts to the same double as pandas (null for empty cells)."""
    plain = pc.match_substring_regex(text, _PLAIN_NUMBER)
    if (pc.max(pc.binary_length(text)).as_py() or 0) > 15:  # some cell may have more digits: count them
        digits = pc.subtract(pc.binary_length(text), pc.add(pc.count_substring(text, "."),
                                                           pc.count_substring(text, "-")))
        plain = pc.and_(plain, pc.less_equal(digits, 15))
    if pc.any(pc.starts_with(text, "-0")).as_py():
        plain = pc.and_(plain, pc.invert(pc.match_substring_regex(text, _NEGATIVE_ZERO)))
    return plain


def _to_float(values: pd.Series) -> np.ndarray:
    """``pd.to_numeric(values, errors="coerce")`` as float64, to the bit, without its per-cell Python loop.

    A text column whose cells are all plain decimals of at most 15 digits (or empty) is parsed by Arrow, which
    rounds correctly, as pandas does for them (their digits and the power of ten are exact doubles). Any other
    cell (" 5", "1e3", "inf", "１２", more digits) sends the whole column through pandas, as before.
    """
    if isinstance(values.dtype, pd.StringDtype):
        text = pa.array(values.array)
        if pc.all(_plain_mask(text), min_count=0).as_py():
            return pc.cast(text, pa.float64()).to_numpy(zero_copy_only=False)
    return pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64")


def _repair_polygons(gdf: gpd.GeoDataFrame, *, label: str, log: WarningLog, what: str) -> gpd.GeoDataFrame:
    geoms = gdf.geometry
    present = geoms.notna() & ~geoms.is_empty
    kinds = set(geoms[present].geom_type)
    bad_kinds = kinds - {"Polygon", "MultiPolygon"}
    if bad_kinds:
        raise InputError(
            f"{label}: {what} must be polygons, found {', '.join(sorted(bad_kinds))}; give the {what} boundaries "
            "as a polygon layer"
        )
    invalid = present & ~geoms.is_valid
    if invalid.any():
        reasons = shapely.is_valid_reason(np.asarray(geoms[invalid].values))
        for row, reason in zip(gdf.loc[invalid, "source_row"], reasons):
            log.add(label, row, f"invalid polygon ({reason}); repaired with make_valid",
                    zh=f"多边形无效（'{reason}'），已用 make_valid 修复")
        repaired = shapely.make_valid(np.asarray(geoms[invalid].values))
        # make_valid may return collections with stray lines: keep the polygonal part
        repaired = [_polygonal(g) for g in repaired]
        gdf = gdf.copy()
        gdf.loc[invalid, "geometry"] = gpd.GeoSeries(repaired, index=gdf.index[invalid], crs=gdf.crs)
    return gdf


def _polygonal(geom):
    if geom.geom_type in ("Polygon", "MultiPolygon"):
        return geom
    parts = [g for g in getattr(geom, "geoms", []) if g.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(parts) if parts else shapely.Polygon()


def _unique_ids(gdf: gpd.GeoDataFrame, column: str, *, label: str) -> None:
    dup = gdf[column].duplicated(keep=False) & gdf[column].notna()
    if dup.any():
        value = gdf.loc[dup, column].iloc[0]
        rows = ", ".join(str(r) for r in gdf.loc[gdf[column] == value, "source_row"])
        raise InputError(f"{label}, rows {rows}: duplicate {column} {value!r}; give every row its own id")


def _drop_unusable(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    keep = gdf.geometry.notna() & ~gdf.geometry.is_empty
    return gdf.loc[keep].reset_index(drop=True)


def _string(series: pd.Series) -> pd.Series:
    return series.astype("string").str.strip().astype(object).where(series.notna(), None)


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


# ---------------------------------------------------------------------------------------------------------
# role readers


def read_communities(path, *, coords=None, encoding=None, layer=None, aliases=None,
                     log: WarningLog | None = None) -> gpd.GeoDataFrame:
    """Community (社区) polygons: ``community_id``, ``community``, ``town``, ``population``, ``households``."""
    log = log if log is not None else WarningLog()
    aliases = aliases or ALIASES
    gdf = read_layer(path, coords=coords, encoding=encoding, layer=layer, log=log, option="--communities")
    label = str(path)
    typed = list(gdf.columns)
    gdf = _rename_columns(gdf, ["community_id", "community", "town", "population", "households"], aliases)
    if "community_id" not in gdf.columns:
        gdf = _rename_columns(gdf, ["community_id"], {"community_id": GENERIC_ID})
    typed = dict(zip(gdf.columns, typed))  # canonical name → the column name in the file
    if "community" not in gdf.columns and "community_id" not in gdf.columns:
        raise InputError(f"{label}: no community name or id column; add a column 社区 (community) or community_id")
    gdf = _drop_unusable(gdf)
    if gdf.empty:
        raise InputError(f"{label}: no community has a geometry")
    was_invalid = ~gdf.geometry.is_valid.to_numpy()
    gdf = _repair_polygons(gdf, label=label, log=log, what="communities")
    if "community_id" not in gdf.columns:
        gdf["community_id"] = _string(gdf["community"])
        log.add(label, None, "no community_id column: the community name is used as the id", severity="info",
                zh="没有社区编码（community_id）列：以社区名称作为编码")
    gdf["community_id"] = _string(gdf["community_id"])
    missing_id = gdf["community_id"].isna()
    if missing_id.any():
        raise InputError(f"{label}, row {gdf.loc[missing_id, 'source_row'].iloc[0]}: empty community id; fill it")
    _unique_ids(gdf, "community_id", label=label)
    if "community" not in gdf.columns:
        gdf["community"] = gdf["community_id"]
    gdf["community"] = _string(gdf["community"]).fillna(gdf["community_id"])
    gdf["town"] = _string(gdf["town"]) if "town" in gdf.columns else None
    for column in ("population", "households"):
        if column in gdf.columns:
            gdf[column] = _numeric(gdf, column, label=label, log=log, required=True)
        else:
            gdf[column] = np.nan
    _check_community_numbers(gdf, label=label, log=log, was_invalid=was_invalid, typed=typed)
    if "approximate" in gdf.columns:
        gdf["approximate"] = gdf["approximate"].astype("string").str.lower().isin(["true", "1", "yes", "是"])
    else:
        gdf["approximate"] = False
    return gdf


def _area_m2(geoms: gpd.GeoSeries) -> tuple[np.ndarray, np.ndarray]:
    """Areas (m²) and mean widths (m: 2 × area ÷ outline length) of polygons in degrees (EPSG:4326). A degree of
    latitude is 111.32 km, one of longitude that times cos(latitude): areas within 1 % at the size of a community;
    outlines are measured as if every degree were 111.32 km, so widths err low by at most cos(latitude). Good for
    limits that are orders of magnitude from real values."""
    arr = np.asarray(geoms.values)
    empty = shapely.is_empty(arr) | shapely.is_missing(arr)
    lat = np.zeros(len(arr))
    lat[~empty] = shapely.get_y(shapely.centroid(arr[~empty]))
    area = np.where(empty, 0.0, np.nan_to_num(shapely.area(arr)) * 111_320.0 ** 2 * np.cos(np.radians(lat)))
    outline = np.where(empty, 0.0, np.nan_to_num(shapely.length(arr)) * 111_320.0)
    width = np.divide(2 * area, outline, out=np.zeros(len(arr)), where=outline > 0)
    return area, width


def _community(gdf: gpd.GeoDataFrame, i: int, where: str = "") -> str:
    """community C11 (社区11, feature 1)"""
    cid, name = gdf["community_id"].iloc[i], gdf["community"].iloc[i]
    inside = ", ".join(part for part in (name if name != cid else "", where) if part)
    return f"community {cid}" + (f" ({inside})" if inside else "")


def _check_community_numbers(gdf: gpd.GeoDataFrame, *, label: str, log: WarningLog, was_invalid: np.ndarray,
                             typed: dict) -> None:
    """What no real community is: a polygon without area, a density no place has, more households than people."""
    where = "feature" if log.read_rows.get(label, (0, 1))[1] == 1 else "row"
    rows = gdf["source_row"].to_numpy()
    area, width = _area_m2(gdf.geometry)
    flat = np.flatnonzero(width < MIN_COMMUNITY_WIDTH_M)
    if len(flat):
        i = flat[0]
        why = ("its outline is a line or a point, and make_valid leaves no polygon of it" if was_invalid[i] or
               not area[i] else f"{area[i]:.2g} m², on average {width[i]:.2g} m wide: a line or a sliver")
        more = f" (and {len(flat) - 1} more features)" if len(flat) > 1 else ""
        raise InputError(f"{label}, {where} {rows[i]}: {_community(gdf, i)} has no area ({why}); its people cannot be "
                         f"placed: redraw its boundary, or remove the feature if it is not a community{more}")
    population = gdf["population"].to_numpy(dtype="float64")
    density = population / (area / 1e6)
    dense = np.flatnonzero(density > MAX_DENSITY_PER_KM2)
    if len(dense):
        i = dense[0]
        raise InputError(
            f"{label}, {where} {rows[i]}: {_community(gdf, i)} has {population[i]:,.0f} people on {area[i]:,.0f} m², "
            f"{density[i]:,.0f} per km²; no place is that dense (the limit is {MAX_DENSITY_PER_KM2:,} per km², more "
            "than the densest neighbourhood ever recorded): fix the population (a typing or unit error?) or the "
            "boundary (a sliver, or coordinates in the wrong unit?)")
    households = gdf["households"].to_numpy(dtype="float64")
    both = np.isfinite(population) & np.isfinite(households)
    over = both & (households > population)
    if not over.any():
        return
    hh_col, pop_col = (typed.get(c, c) + (f" ({c})" if typed.get(c, c) != c else "") for c in ("households",
                                                                                           "population"))
    if over.sum() > 0.5 * both.sum():
        i = int(np.flatnonzero(over)[0])
        raise InputError(
            f"{label}: households exceed population on {int(over.sum())} of {int(both.sum())} rows (e.g. {where} "
            f"{rows[i]}: {households[i]:,.0f} households, {population[i]:,.0f} people), and a household has at least "
            f"one person: the columns {hh_col} and {pop_col} look swapped; swap their names or their values")
    for i in np.flatnonzero(over):
        log.add(label, rows[i], f"households ({households[i]:,.0f}) exceed population ({population[i]:,.0f}), which "
                                "cannot be (a household has at least one person); the numbers are kept as given: "
                                f"check {hh_col} and {pop_col} on this row",
                zh=f"户数（{households[i]:,.0f}）多于人口（{population[i]:,.0f}），不合常理（每户至少一人）；数值按原样保留："
                   f"请核对本行的 {hh_col} 和 {pop_col}")


#: overlaps under this share of the smaller community are digitising noise along shared boundaries: not reported
OVERLAP_REPORTED = 0.01
#: overlaps from this share of the smaller community on are the same place drawn twice, or one community drawn over
#: another: refused unless the planner says they really share the land (allow_overlap, --allow-overlap)
OVERLAP_REFUSED = 0.5


def check_overlaps(communities: gpd.GeoDataFrame, *, label: str, log: WarningLog, allow: bool = False) -> pd.DataFrame:
    """Pairs of communities whose polygons overlap, as a share of the smaller one's area (communities in a metric
    CRS): reported from :data:`OVERLAP_REPORTED`, refused from :data:`OVERLAP_REFUSED` unless ``allow``.

    Vectorised: one STRtree query of the polygons against themselves, the pairs whose interiors meet
    (``relate_pattern`` T********: touching neighbours are not overlaps) intersected at once. Returns the pairs
    reported (positions ``i``, ``j``, ``share``, ``area_m2``)."""
    columns = ["i", "j", "share", "area_m2"]
    polys = np.asarray(communities.geometry.values)
    if len(polys) < 2:
        return pd.DataFrame(columns=columns)
    i, j = shapely.STRtree(polys).query(polys, predicate="intersects")
    i, j = i[i < j], j[i < j]
    inner = shapely.relate_pattern(polys[i], polys[j], "T********")
    i, j = i[inner], j[inner]
    area = shapely.area(polys)
    common = shapely.area(shapely.intersection(polys[i], polys[j]))
    smaller = np.minimum(area[i], area[j])
    share = np.divide(common, smaller, out=np.zeros(len(common)), where=smaller > 0)
    pairs = pd.DataFrame({"i": i, "j": j, "share": share, "area_m2": common})
    pairs = pairs[pairs["share"] >= OVERLAP_REPORTED].sort_values(["i", "j"]).reset_index(drop=True)
    if pairs.empty:
        return pairs[columns]
    rows = communities["source_row"].to_numpy()
    where = "feature" if log.read_rows.get(label, (0, 1))[1] == 1 else "row"
    ids = communities["community_id"].to_numpy()

    def both(k):
        a, b = pairs["i"].iloc[k], pairs["j"].iloc[k]
        return (f"{_community(communities, a, f'{where} {rows[a]}')} and "
                f"{_community(communities, b, f'{where} {rows[b]}')}")

    large = np.flatnonzero(pairs["share"].to_numpy() >= OVERLAP_REFUSED)
    if len(large) and not allow:
        k = int(large[np.argmax(pairs["share"].to_numpy()[large])])
        more = f" (and {len(large) - 1} more such pairs)" if len(large) > 1 else ""
        raise InputError(
            f"{label}, {where}s {rows[pairs['i'].iloc[k]]} and {rows[pairs['j'].iloc[k]]}: {both(k)} overlap by "
            f"{pairs['share'].iloc[k]:.0%} of the smaller one's area ({pairs['area_m2'].iloc[k]:,.0f} m²): the same "
            f"place drawn twice, or one community drawn over another, whose people could be counted twice{more}; fix "
            "the boundaries or remove the duplicate, or give --allow-overlap if the two really share this land")
    for k in range(len(pairs)):
        a, b = pairs["i"].iloc[k], pairs["j"].iloc[k]
        first = min(ids[a], ids[b])
        kept = " kept as given (--allow-overlap):" if pairs["share"].iloc[k] >= OVERLAP_REFUSED else ""
        log.add(label, f"{rows[a]}, {rows[b]}",
                f"{both(k)} overlap by {pairs['share'].iloc[k]:.0%} of the smaller one's area "
                f"({pairs['area_m2'].iloc[k]:,.0f} m²);{kept} each community's population counts once, spread over "
                f"its own polygon, and a demand point in the overlap counts in {first} only: check the boundaries",
                zh=f"社区 {ids[a]} 与社区 {ids[b]} 重叠，重叠面积占较小者的 {pairs['share'].iloc[k]:.0%}"
                   f"（{pairs['area_m2'].iloc[k]:,.0f} m²）；{'按 --allow-overlap 保留原样；' if kept else ''}"
                   f"每个社区的人口只计一次，分布在其自身范围内，重叠处的需求点只计入 {first}：请核对边界")
    return pairs[columns]


def read_towns(path, *, coords=None, encoding=None, layer=None, aliases=None,
               log: WarningLog | None = None) -> gpd.GeoDataFrame:
    """Street (街道) / town (镇) polygons: ``town``, ``population`` (optional)."""
    log = log if log is not None else WarningLog()
    aliases = aliases or ALIASES
    gdf = read_layer(path, coords=coords, encoding=encoding, layer=layer, log=log, option="--towns")
    label = str(path)
    town_aliases = {**aliases, "town": aliases["town"] + ["name", "名称"]}
    gdf = _rename_columns(gdf, ["town", "population"], town_aliases)
    if "town" not in gdf.columns:
        raise InputError(f"{label}: no town/street name column; add a column 街道 (town)")
    gdf = _repair_polygons(_drop_unusable(gdf), label=label, log=log, what="towns")
    gdf["town"] = _string(gdf["town"])
    gdf["population"] = (_numeric(gdf, "population", label=label, log=log, required=False)
                         if "population" in gdf.columns else np.nan)
    return gdf


def read_extent(path, *, coords=None, encoding=None, layer=None, log: WarningLog | None = None):
    """A survey extent: the union of a polygon layer's features, in EPSG:4326 (a shapely geometry)."""
    log = log if log is not None else WarningLog()
    gdf = read_layer(path, coords=coords, encoding=encoding, layer=layer, log=log,
                     option="--survey-extent CATEGORY=")
    gdf = _repair_polygons(gdf, label=str(path), log=log, what="survey extent")
    geoms = gdf.geometry[gdf.geometry.notna() & ~gdf.geometry.is_empty]
    if not len(geoms):
        raise InputError(f"{path}: the survey extent has no polygon; give the area the facility data cover")
    return shapely.union_all(np.asarray(geoms.values))


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
        gdf["facility_id"] = [f"{Path(label).stem}:{r}" for r in gdf["source_row"]]
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
    from .stages import STATUSES, normalise_status

    if "status" not in gdf.columns:
        return pd.Series(STATUSES[-1], index=gdf.index, dtype=object)
    status, unknown = normalise_status(gdf["status"])
    for row, value in zip(gdf.loc[unknown, "source_row"], gdf.loc[unknown, "status"]):
        log.add(label, row, f"status {str(value)!r} is not one of {'/'.join(STATUSES)} (planned/under_construction/"
                            "not_handed_over/in_use); read as 在用 in use",
                zh=f"设施状态 {str(value)!r} 不是 {'/'.join(STATUSES)} 之一，按“在用”计")
    return status


def read_demand(path, *, coords=None, encoding=None, layer=None, aliases=None,
                log: WarningLog | None = None, columns: dict[str, str | None] | None = None) -> gpd.GeoDataFrame:
    """Demand: population points (compounds, buildings) or a population grid (polygons → a point inside each).

    Needs a population column (人口/population/weight). Rows with missing population are reported and not used.
    ``columns``: the file's columns for roles, as named on the command line (``{"population": "POP2000",
    "demand_id": "NAME"}``: ``--weight-column``, ``--id-column``), taken before any alias.
    """
    log = log if log is not None else WarningLog()
    aliases = aliases or ALIASES
    label = str(path)
    gdf = read_layer(path, coords=coords, encoding=encoding, layer=layer, log=log, option="--demand")
    gdf = use_columns(gdf, columns, label=label, options={"population": "--weight-column",
                                                          "demand_id": "--id-column"})
    gdf = _rename_columns(gdf, ["demand_id", "name", "population", "households", "community_id"], aliases)
    if "population" not in gdf.columns:
        raise InputError(f"{label}: no population column; add a column 人口 (population) with the people at each "
                         "point or cell")
    gdf = _drop_unusable(gdf)
    type_ids = shapely.get_type_id(np.asarray(gdf.geometry.values))
    if np.isin(type_ids, [shapely.GeometryType.POLYGON, shapely.GeometryType.MULTIPOLYGON]).any():
        gdf["geometry"] = gdf.geometry.representative_point()
    gdf["weight"] = _numeric(gdf, "population", label=label, log=log, required=True)
    missing = gdf["weight"].isna()
    if missing.any():
        log.extend(label, gdf.loc[missing, "source_row"], "population missing; row not used",
                   zh="人口缺失，本行未采用")
        gdf = gdf.loc[~missing].reset_index(drop=True)
    if "demand_id" not in gdf.columns:
        gdf = _rename_columns(gdf, ["demand_id"], {"demand_id": GENERIC_ID})
    if "demand_id" not in gdf.columns:
        gdf["demand_id"] = [f"{Path(label).stem}:{r}" for r in gdf["source_row"]]
    gdf["demand_id"] = _string(gdf["demand_id"])
    return gdf


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
        gdf["candidate_id"] = [f"{Path(label).stem}:{r}" for r in gdf["source_row"]]
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
