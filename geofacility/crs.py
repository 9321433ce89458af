"""Coordinate systems: the Chinese map-API offsets (GCJ-02, BD-09) and the metric CRS for distance work.

GCJ-02 ("Mars coordinates") is the obfuscated datum every map API in mainland China returns (Amap/Gaode,
Tencent, Baidu's ``gcj02ll`` mode); BD-09 is Baidu's further offset of GCJ-02. Neither is an EPSG CRS, so
pyproj cannot transform them. The forward formulas below are the public ones; the inverse is computed by
fixed-point iteration until the forward image matches to 1e-10 degrees (about 0.01 mm), which is far tighter
than the usual one-step inverse (errors up to about 2 m). Everything is vectorised over numpy arrays.

No library on PyPI does this vectorised and maintained (the packages there are scalar, per-point Python), so it
is written here, once, and pinned by round-trip and reference-point tests.
"""
from __future__ import annotations

import numpy as np
from pyproj import CRS

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
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def bd09_to_wgs84(lon, lat) -> tuple[np.ndarray, np.ndarray]:
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

    from .errors import InputError

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
