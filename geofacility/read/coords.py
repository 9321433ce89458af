"""Reading: coordinate systems: the Chinese map-API offsets (GCJ-02, BD-09), the coordinates of a
file brought to WGS84, and the metric CRS for distance work (:func:`choose_metric_crs`).

Holds the conversions (:func:`to_wgs84` and the six pairwise ones), :func:`parse_coords` (``--coords``), the
detection of lon/lat columns in a table (``lng``/``经度``/``gcj02_lng`` …: :data:`LON_NAMES`, :data:`LAT_NAMES`,
:data:`COORD_HINTS`; swapped columns and projected values caught), and the reprojection of vector files to
EPSG:4326 (a missing CRS read as WGS84 only when the coordinates are degrees).

GCJ-02 ("Mars coordinates") is the obfuscated datum every map API in mainland China returns (Amap/Gaode,
Tencent, Baidu's ``gcj02ll`` mode); BD-09 is Baidu's further offset of GCJ-02. Neither is an EPSG CRS, so
pyproj cannot transform them. The forward formulas below are the public ones; the inverse is computed by
fixed-point iteration until the forward image matches to 1e-10 degrees (about 0.01 mm), which is far tighter
than the usual one-step inverse (errors up to about 2 m). Everything is vectorised over numpy arrays.

No library on PyPI does this vectorised and maintained (the packages there are scalar, per-point Python), so it
is written here, once, and pinned by round-trip and reference-point tests.
"""
from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from ..errors import InputError, WarningLog
from .columns import _key
from .numbers import _cell, parse_numbers

__all__ = [
    "COORD_SYSTEMS",
    "wgs84_to_gcj02",
    "gcj02_to_wgs84",
    "gcj02_to_bd09",
    "bd09_to_gcj02",
    "wgs84_to_bd09",
    "bd09_to_wgs84",
    "to_wgs84",
    "choose_metric_crs",
    "parse_coords",
    "LON_NAMES",
    "LAT_NAMES",
    "COORD_HINTS",
]

#: Coordinate systems a lon/lat input may be in. ``wgs84`` also covers CGCS2000 (EPSG:4490), whose difference
#: from WGS84 is centimetres.
COORD_SYSTEMS = ("wgs84", "cgcs2000", "gcj02", "bd09")

_A = 6378245.0  # Krasovsky 1940 semi-major axis used by GCJ-02
_EE = 0.00669342162296594323  # its first eccentricity squared
_X_PI = np.pi * 3000.0 / 180.0


def _in_china(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """The rough box inside which the GCJ-02 offset is applied (outside it GCJ-02 equals WGS84)."""
    return (lon > 72.004) & (lon < 137.8347) & (lat > 0.8293) & (lat < 55.8271)


def _offset(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = lon - 105.0
    y = lat - 35.0
    sq = np.sqrt(np.abs(x))
    common = (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    dlat = (
        -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sq
        + common
        + (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
        + (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    )
    dlon = (
        300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sq
        + common
        + (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
        + (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    )
    radlat = lat / 180.0 * np.pi
    magic = 1.0 - _EE * np.sin(radlat) ** 2
    sqrtmagic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrtmagic) * np.pi)
    dlon = (dlon * 180.0) / (_A / sqrtmagic * np.cos(radlat) * np.pi)
    return dlon, dlat


def _arrays(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    return np.asarray(lon, dtype="float64"), np.asarray(lat, dtype="float64")


def wgs84_to_gcj02(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """WGS84 → GCJ-02 (the forward, exact by definition)."""
    lon, lat = _arrays(lon, lat)
    dlon, dlat = _offset(lon, lat)
    inside = _in_china(lon, lat)
    return np.where(inside, lon + dlon, lon), np.where(inside, lat + dlat, lat)


def _invert(forward, lon, lat, *, tol: float = 1e-10, max_iter: int = 30):
    """Solve forward(w) = (lon, lat) for w by fixed-point iteration, vectorised.

    The GCJ-02 and BD-09 offsets vary slowly (their Jacobian is within 1e-4 of the identity), so
    w ← w − (forward(w) − target) converges by about four orders of magnitude per step.
    """
    lon, lat = _arrays(lon, lat)
    wlon, wlat = lon.copy(), lat.copy()
    for _ in range(max_iter):
        flon, flat = forward(wlon, wlat)
        elon, elat = flon - lon, flat - lat
        wlon, wlat = wlon - elon, wlat - elat
        err = np.fmax(np.abs(elon), np.abs(elat))
        if not np.any(err > tol):  # NaN coordinates are left as NaN and do not block convergence
            break
    return wlon, wlat


def gcj02_to_wgs84(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """GCJ-02 → WGS84 by iterating the forward transform (error well under 1 mm)."""
    return _invert(wgs84_to_gcj02, lon, lat)


def gcj02_to_bd09(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """GCJ-02 → BD-09 (Baidu's forward formula)."""
    x, y = _arrays(lon, lat)
    z = np.sqrt(x * x + y * y) + 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) + 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def bd09_to_gcj02(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """BD-09 → GCJ-02 by iterating Baidu's forward formula."""
    return _invert(gcj02_to_bd09, lon, lat)


def wgs84_to_bd09(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """WGS84 → BD-09 (Baidu), through GCJ-02; degrees in, degrees out."""
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def bd09_to_wgs84(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """BD-09 (Baidu) → WGS84, through GCJ-02 (the inverse iterated, error well under 1 mm); degrees."""
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))


def to_wgs84(lon, lat, coords: str) -> tuple[np.ndarray, np.ndarray]:
    """Convert lon/lat arrays in ``coords`` (one of :data:`COORD_SYSTEMS`) to WGS84."""
    if coords in ("wgs84", "cgcs2000"):
        return _arrays(lon, lat)
    if coords == "gcj02":
        return gcj02_to_wgs84(lon, lat)
    if coords == "bd09":
        return bd09_to_wgs84(lon, lat)
    raise ValueError(f"unknown coordinate system {coords!r}; use one of {', '.join(COORD_SYSTEMS)}")


def choose_metric_crs(geoseries, crs: str | int | CRS | None = None) -> CRS:
    """The projected CRS all distances are computed in.

    ``crs`` (the planner's ``--crs``) wins and must be projected in metres. Otherwise the UTM zone that
    holds the centre of the data (pyproj's UTM query through geopandas), e.g. EPSG:32650 for Beijing.
    """
    from pyproj.exceptions import CRSError

    from ..errors import InputError

    if crs is not None:
        try:
            chosen = CRS.from_user_input(crs)
        except CRSError:
            raise InputError(f"--crs {crs}: not a coordinate system pyproj knows; give an EPSG code of a projected "
                             "CRS in metres, e.g. EPSG:32650 (UTM 50N) or EPSG:4548 (CGCS2000 GK CM 117E)") from None
        if not chosen.is_projected:
            raise InputError(
                f"--crs {crs} is geographic (degrees); give a projected CRS in metres, e.g. EPSG:32650 "
                "(UTM 50N) or EPSG:4548 (CGCS2000 3-degree Gauss-Kruger CM 117E)"
            )
        unit = chosen.axis_info[0].unit_name if chosen.axis_info else "metre"
        if unit not in ("metre", "meter"):
            raise InputError(f"--crs {crs} measures in {unit}; give a projected CRS in metres")
        return chosen
    try:
        return geoseries.estimate_utm_crs()
    except RuntimeError:
        raise InputError("no UTM zone holds the data's coordinates; check the communities' CRS, or give --crs "
                         "EPSG:xxxx (a projected CRS in metres)") from None


LON_NAMES = ["lon", "lng", "longitude", "long", "x", "经度", "point_x"]
LAT_NAMES = ["lat", "latitude", "y", "纬度", "point_y"]
#: prefixes/suffixes of coordinate columns that say which coordinate system they are in
COORD_HINTS = {
    "gcj02": ["gcj02", "gcj", "gaode", "amap", "高德", "火星"],
    "bd09": ["bd09", "bd", "baidu", "百度", "bd09ll"],
    "wgs84": ["wgs84", "wgs", "gps"],
    "cgcs2000": ["cgcs2000", "cgcs"],
}


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
