"""Reading: opening any file a planner has: one function, :func:`read_layer`, for every format.

GeoJSON, GeoPackage (``PATH:LAYER`` names a layer, :func:`split_layer`; several layers and none named are refused),
Shapefile (GBK text detected when no .cpg says the encoding), FlatGeobuf, KML, GML, and CSV/TSV/XLSX with lon/lat
(or WKT) columns (``PATH:SHEET`` names a sheet), and PostGIS tables (``postgresql://…?table=…`` or ``PG:"…"``:
:mod:`geofacility.read.postgis`). Every file comes back as a GeoDataFrame in EPSG:4326 with
``source_file`` and ``source_row`` (the row number a planner sees). Before reading, a file whose reading would
exhaust memory is refused (:func:`available_memory`, :data:`READ_MEMORY_FACTOR`), and after it a feature of more
than :data:`MAX_VERTICES_PER_FEATURE` vertices.
"""
from __future__ import annotations

import os
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from ..errors import InputError, WarningLog
from .columns import _TRUNCATED
from .coords import _points_from_table, _vector_to_wgs84, parse_coords
from .encodings import _read_csv, _vector_encoding
from .rows import _logged_rows

__all__ = [
    "VECTOR_SUFFIXES",
    "TABLE_SUFFIXES",
    "MULTI_LAYER_SUFFIXES",
    "MAX_VERTICES_PER_FEATURE",
    "READ_MEMORY_FACTOR",
    "split_layer",
    "read_layer",
    "available_memory",
]


VECTOR_SUFFIXES = {".geojson", ".json", ".gpkg", ".shp", ".zip", ".fgb", ".kml", ".gml"}
TABLE_SUFFIXES = {".csv", ".txt", ".tsv", ".xlsx", ".xls"}


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
    from .postgis import is_database

    if is_database(path):  # a PostGIS table (postgresql://…?table=…, PG:"…"): geofacility.read.postgis
        from .postgis import read_postgis_layer

        return read_postgis_layer(path, coords=coords, layer=layer, log=log, option=option)
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
    _report_empty_geometries(gdf, label, log)
    return gdf


def _report_empty_geometries(gdf: gpd.GeoDataFrame, label: str, log: WarningLog) -> None:
    """A warning for each row without a geometry (not already reported)."""
    missing = gdf.geometry.isna() | gdf.geometry.is_empty
    empty_rows = gdf.index[missing & ~gdf["source_row"].isin(_logged_rows(log, label))]
    if len(empty_rows):
        log.extend(label, gdf.loc[empty_rows, "source_row"], "no geometry; row not used",
                   zh="没有几何图形，本行未采用")


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
