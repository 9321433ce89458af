"""Reading: parts of a file: the features meeting a bounding box, or a slice of rows, each row numbered by its
place in the whole file.

A distributed batch reads, on each worker, only its group and the halo around it. The box is given in EPSG:4326
(lon/lat degrees) and turned into the file's own coordinates (:func:`file_bbox`, a little larger, so nothing is
missed); GDAL (GeoPackage, Shapefile, GeoJSON, FlatGeobuf …: :func:`read_gdal_part`) and GeoParquet
(:mod:`~geofacility.read.parquet`) then read only what meets it, through their spatial indexes, and
:func:`~geofacility.read.read_layer` keeps exactly the features whose geometry meets the box once in EPSG:4326.
Feature ids differ by format (a GeoPackage's start at 1, a Shapefile's at 0, a GeoJSON's may be its ``id``
members, a FlatGeobuf is stored in spatial order), so a part's rows are numbered by looking its ids up in the
whole layer's list of ids, read without attributes or geometry.
"""
from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
from pyproj import CRS, Transformer

from ..errors import InputError

__all__ = ["check_bbox", "check_rows", "file_bbox", "read_gdal_part", "gdal_crs"]

#: degrees added around a box for a file in GCJ-02/BD-09 (their offsets from WGS84 are under 0.02°)
_SHIFT_PAD_DEG = 0.05


def check_bbox(bbox, label: str) -> tuple[float, float, float, float] | None:
    """``(minx, miny, maxx, maxy)`` in lon/lat degrees, checked."""
    if bbox is None:
        return None
    try:
        minx, miny, maxx, maxy = (float(v) for v in bbox)
    except (TypeError, ValueError):
        raise InputError(f"{label}: bbox {bbox!r}: give four numbers (min lon, min lat, max lon, max lat)") from None
    if not (np.isfinite([minx, miny, maxx, maxy]).all() and minx <= maxx and miny <= maxy
            and -180 <= minx and maxx <= 180 and -90 <= miny and maxy <= 90):
        raise InputError(f"{label}: bbox {bbox!r}: not (min lon, min lat, max lon, max lat) in degrees")
    return minx, miny, maxx, maxy


def check_rows(rows, label: str) -> tuple[int, int] | None:
    """``(start, stop)``: 0-based positions, stop excluded, as a Python slice."""
    if rows is None:
        return None
    try:
        start, stop = (int(v) for v in rows)
    except (TypeError, ValueError):
        raise InputError(f"{label}: rows {rows!r}: give (start, stop), 0-based, stop excluded") from None
    if start < 0 or stop < start:
        raise InputError(f"{label}: rows {rows!r}: need 0 <= start <= stop")
    return start, stop


def file_bbox(bbox, crs: CRS | None, coords) -> tuple[float, float, float, float]:
    """A box in the file's coordinates that holds the lon/lat ``bbox`` (densified edges, padded): what the
    format's own filter is given; the exact test is made later in EPSG:4326. ``crs`` None: degrees assumed."""
    minx, miny, maxx, maxy = bbox
    if coords in ("gcj02", "bd09"):
        minx, miny, maxx, maxy = minx - _SHIFT_PAD_DEG, miny - _SHIFT_PAD_DEG, maxx + _SHIFT_PAD_DEG, \
            maxy + _SHIFT_PAD_DEG
    if crs is None:
        return minx, miny, maxx, maxy
    to_file = Transformer.from_crs(CRS.from_epsg(4326), crs, always_xy=True)
    x0, y0, x1, y1 = to_file.transform_bounds(minx, miny, maxx, maxy, densify_pts=21)
    pad = 0.01 * max(x1 - x0, y1 - y0) + (1e-6 if crs.is_geographic else 0.1)
    return x0 - pad, y0 - pad, x1 + pad, y1 + pad


def gdal_crs(path, layer) -> CRS | None:
    """The CRS a GDAL layer declares (None when it declares none)."""
    text = pyogrio.read_info(path, layer=layer).get("crs")
    return CRS.from_user_input(text) if text else None


def read_gdal_part(path, *, layer, encoding, bbox=None, rows=None) -> tuple[gpd.GeoDataFrame, np.ndarray]:
    """A GDAL layer, whole or in part: ``(frame, positions)``, positions 0-based in the whole layer, in file
    order. ``bbox`` in the file's coordinates (the features GDAL finds meeting it); ``rows`` (start, stop)."""
    kwargs = {"engine": "pyogrio", "layer": layer, "encoding": encoding}
    if bbox is None and rows is None:
        gdf = gpd.read_file(path, **kwargs)
        return gdf, np.arange(len(gdf))
    if bbox is None:
        start, stop = rows
        if stop == start:  # GDAL reads everything for max_features=0: take the columns from one feature
            return gpd.read_file(path, max_features=1, **kwargs).iloc[:0], np.zeros(0, dtype=np.int64)
        gdf = gpd.read_file(path, skip_features=start, max_features=stop - start, **kwargs)
        return gdf, start + np.arange(len(gdf))
    gdf = gpd.read_file(path, bbox=tuple(bbox), fid_as_index=True, **kwargs)
    fids = pyogrio.read_dataframe(path, layer=layer, read_geometry=False, columns=[], fid_as_index=True).index
    positions = pd.Index(fids).get_indexer(gdf.index)
    if (positions < 0).any():  # ids not unique or not stable: no way to number the part as the whole file
        raise InputError(f"{path}: its feature ids cannot number a part of it; read it whole, or convert it to "
                         "GeoPackage or GeoParquet")
    keep = np.ones(len(gdf), dtype=bool) if rows is None else (positions >= rows[0]) & (positions < rows[1])
    order = np.argsort(positions[keep], kind="stable")
    gdf = gdf.loc[keep].iloc[order].reset_index(drop=True)
    return gdf, positions[keep][order]
