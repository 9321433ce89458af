"""Reading: opening any file a planner has: one function, :func:`read_layer`, for every format.

GeoJSON, GeoPackage (``PATH:LAYER`` names a layer, :func:`split_layer`; several layers and none named are refused),
Shapefile (GBK text detected when no .cpg says the encoding), FlatGeobuf, KML, GML, GeoParquet (and Parquet tables
with lon/lat columns: :mod:`~geofacility.read.parquet`), CSV/TSV/XLSX with lon/lat (or WKT) columns
(``PATH:SHEET`` names a sheet), and PostGIS tables (``postgresql://…?table=…`` or ``PG:"…"``:
:mod:`geofacility.read.postgis`). A part of a file (a bounding box, a slice of rows:
:mod:`~geofacility.read.parts`) is read with each row numbered as in the whole file; :func:`count_rows` tells a
file's size without reading it. Every file comes back as a GeoDataFrame in EPSG:4326 with
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
from pyproj import CRS

from ..errors import InputError, WarningLog
from .columns import _TRUNCATED, _key
from .coords import _Ambiguous, _find_xy_columns, _points_from_table, _vector_to_wgs84, parse_coords
from .encodings import _read_csv, _vector_encoding
from .parquet import PARQUET_SUFFIXES, parquet_crs, parquet_rows, read_parquet_part
from .parts import check_bbox, check_rows, file_bbox, gdal_crs, read_gdal_part
from .rows import _logged_rows

__all__ = [
    "VECTOR_SUFFIXES",
    "TABLE_SUFFIXES",
    "MULTI_LAYER_SUFFIXES",
    "MAX_VERTICES_PER_FEATURE",
    "READ_MEMORY_FACTOR",
    "split_layer",
    "PARQUET_SUFFIXES",
    "read_layer",
    "count_rows",
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
               log: WarningLog | None = None, option: str | None = None, bbox=None, rows=None) -> gpd.GeoDataFrame:
    """Read any supported file into a GeoDataFrame in EPSG:4326 with ``source_file``/``source_row`` columns.

    ``coords``: the coordinate system of the input when its file does not say (``wgs84``, ``cgcs2000``,
    ``gcj02``, ``bd09`` or a pyproj CRS). For a vector file declared as WGS84/CGCS2000, ``gcj02``/``bd09``
    shifts every vertex back to WGS84 (Amap/Baidu exports are often labelled WGS84 but are not).
    ``path`` may name a layer (a sheet of a workbook) as ``PATH:LAYER`` (see :func:`split_layer`); a GeoPackage
    with several layers and none named is refused. ``option`` (``--communities``) is used in that message. The
    warnings and ``source_file`` keep ``path`` as given, layer included.

    A part of the file (a worker of a distributed batch reads its group and halo):

    * ``bbox=(minx, miny, maxx, maxy)`` in EPSG:4326 (longitude, latitude in degrees, whatever the file's CRS):
      the features whose geometry meets the box (its edges included), found through the format's spatial index
      (GeoPackage, Shapefile, FlatGeobuf, GeoJSON through GDAL; GeoParquet through its bbox covering column or
      row-group statistics); a CSV/XLSX or a plain Parquet table is read whole and filtered. Features without
      a usable location are left out without a warning (a whole read reports them).
    * ``rows=(start, stop)``: the features (data rows) at 0-based positions ``start`` to ``stop - 1`` of the file,
      as a Python slice; GDAL formats and Parquet read only those.

    Either way ``source_row`` stays the row's number in the whole file, the rows come in file order, an empty part
    is an empty frame (not an error), and the part's rows are not recorded as the file's rows read
    (``WarningLog.record_read``) unless it is a slice. See :func:`count_rows` for a file's size.
    """
    from .postgis import is_database

    if is_database(path):  # a PostGIS table (postgresql://…?table=…, PG:"…"): geofacility.read.postgis
        from .postgis import read_postgis_layer

        return read_postgis_layer(path, coords=coords, layer=layer, log=log, option=option, bbox=bbox)
    log = log if log is not None else WarningLog()
    label = str(path)
    path, named = split_layer(path)
    if named is not None:
        if layer is not None and layer != named:
            raise InputError(f"{label}: layer {named!r} named in the path and {layer!r} given; give one")
        layer = named
    coords = parse_coords(coords) if isinstance(coords, str) else coords
    bbox, rows = check_bbox(bbox, label), check_rows(rows, label)
    whole = bbox is None and rows is None
    suffix = _check_path(path, label)
    if whole or suffix in TABLE_SUFFIXES:  # a part of a GDAL or Parquet file is read without the rest
        _check_size(path, label)
    if suffix in TABLE_SUFFIXES:
        frame, first_row = _read_table(path, suffix, label=label, layer=layer, encoding=encoding, log=log)
        frame = frame.reset_index(drop=True)
        frame["source_row"] = np.arange(first_row, first_row + len(frame))
        frame["source_file"] = label
        if rows is not None:
            frame = frame.iloc[rows[0]:rows[1]].reset_index(drop=True)
        if bbox is None:
            log.record_read(label, len(frame), first_row + (rows[0] if rows else 0))
        gdf = _points_from_table(frame, label=label, coords=coords, log=log if bbox is None else WarningLog())
    elif suffix in PARQUET_SUFFIXES:
        gdf = _read_parquet(path, label=label, coords=coords, log=log, bbox=bbox, rows=rows, layer=layer)
    elif suffix in VECTOR_SUFFIXES or path.is_dir():
        enc = _vector_encoding(path, encoding, log)
        layer = _choose_layer(path, layer, label=label, option=option)
        try:
            box = None
            if bbox is not None:
                box = file_bbox(bbox, coords if isinstance(coords, CRS) else gdal_crs(path, layer), coords)
            gdf, positions = read_gdal_part(path, layer=layer, encoding=enc, bbox=box, rows=rows)
        except UnicodeDecodeError:
            raise InputError(f"{label}: attribute text is not in the declared encoding; give --encoding gbk "
                             "(or utf-8)") from None
        except InputError:
            raise
        except Exception as exc:  # pyogrio raises DataSourceError and friends with GDAL's message
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise InputError(f"{label}: cannot be read as a GIS file ({first}); export it as GeoPackage or "
                             "GeoJSON") from None
        for column in gdf.columns:
            if column in _TRUNCATED:
                log.add(label, None, f"column {column} read as {_TRUNCATED[column]} (Shapefile cuts field names at "
                                     "10 characters)", severity="info",
                        zh=f"列 {column} 按 {_TRUNCATED[column]} 读取（Shapefile 字段名最多 10 个字符）")
        gdf = _vector_rows(gdf, positions, label=label, coords=coords, log=log, whole=whole, record=bbox is None)
    else:
        raise InputError(f"{label}: unknown file type {suffix!r}; use GeoJSON, GeoPackage, Shapefile, GeoParquet, "
                         "CSV or XLSX")
    if bbox is not None:  # exactly the features meeting the box, in lon/lat
        gdf = gdf.loc[shapely.intersects(np.asarray(gdf.geometry.values), shapely.box(*bbox))].reset_index(drop=True)
    _report_empty_geometries(gdf, label, log)
    return gdf


def _report_empty_geometries(gdf: gpd.GeoDataFrame, label: str, log: WarningLog) -> None:
    """A warning for each row without a geometry (not already reported)."""
    missing = gdf.geometry.isna() | gdf.geometry.is_empty
    empty_rows = gdf.index[missing & ~gdf["source_row"].isin(_logged_rows(log, label))]
    if len(empty_rows):
        log.extend(label, gdf.loc[empty_rows, "source_row"], "no geometry; row not used",
                   zh="没有几何图形，本行未采用")


def count_rows(path: str | Path, *, layer: str | None = None, encoding: str | None = None) -> int:
    """How many features (data rows) a file holds: what ``read_layer(path, rows=(0, n))`` would number 1 to n.
    GeoPackage, Shapefile, FlatGeobuf, GeoJSON … from GDAL's feature count, Parquet from its footer, without
    reading the features; a CSV/XLSX is read; a PostGIS table counted by the database."""
    from .postgis import is_database

    if is_database(path):
        from .postgis import count_postgis_rows

        return count_postgis_rows(path)
    label = str(path)
    path, named = split_layer(path)
    layer = named if named is not None else layer
    suffix = _check_path(path, label)
    if suffix in TABLE_SUFFIXES:
        return len(_read_table(path, suffix, label=label, layer=layer, encoding=encoding, log=WarningLog())[0])
    if suffix in PARQUET_SUFFIXES:
        return parquet_rows(path, label)
    if suffix in VECTOR_SUFFIXES or path.is_dir():
        layer = _choose_layer(path, layer, label=label, option=None)
        try:
            return int(pyogrio.read_info(path, layer=layer, force_feature_count=True)["features"])
        except Exception as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise InputError(f"{label}: cannot be read as a GIS file ({first}); export it as GeoPackage or "
                             "GeoJSON") from None
    raise InputError(f"{label}: unknown file type {suffix!r}; use GeoJSON, GeoPackage, Shapefile, GeoParquet, "
                     "CSV or XLSX")


def _check_path(path: Path, label: str) -> str:
    """The file's suffix, once it is known to exist, hold something and be a file where one is needed."""
    if not path.exists():
        raise InputError(f"{label}: file not found; check the path")
    if path.is_file() and path.stat().st_size == 0:
        raise InputError(f"{label}: the file is empty; export the layer again")
    suffix = path.suffix.lower()
    if path.is_dir() and (suffix in TABLE_SUFFIXES or suffix in PARQUET_SUFFIXES):
        raise InputError(f"{label}: is a folder, not a {suffix} file; give the path of the file inside it")
    return suffix


def _read_table(path: Path, suffix: str, *, label: str, layer, encoding, log: WarningLog) -> tuple[pd.DataFrame, int]:
    """A CSV/TSV/XLSX as text cells, and the number its first data row has (2: below the header)."""
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
    else:
        if layer is not None:
            raise InputError(f"{label}: a {suffix} file has no layers; give the path without :{layer}")
        frame = _read_csv(path, encoding)
    if frame.empty:
        raise InputError(f"{label}: no data rows; the file has only a header")
    return frame, 2


def _vector_rows(gdf: gpd.GeoDataFrame, positions: np.ndarray, *, label: str, coords, log: WarningLog, whole: bool,
                 record: bool) -> gpd.GeoDataFrame:
    """Features read from a vector file (GDAL or GeoParquet) numbered by their place in the file (1-based) and
    brought to EPSG:4326."""
    if gdf.empty and whole:
        raise InputError(f"{label}: the layer has no features")
    if record:
        log.record_read(label, len(gdf), int(positions[0]) + 1 if len(positions) else 1)
    gdf = gdf.reset_index(drop=True)
    gdf["source_row"] = np.asarray(positions, dtype=np.int64) + 1
    gdf["source_file"] = label
    _check_vertices(gdf, label)
    if gdf.empty:  # an empty part: nothing to convert (or to judge a missing CRS by)
        return gdf.set_crs(4326, allow_override=True)
    return _vector_to_wgs84(gdf, label=label, coords=coords, log=log)


def _read_parquet(path: Path, *, label: str, coords, log: WarningLog, bbox, rows, layer) -> gpd.GeoDataFrame:
    """A GeoParquet file (its CRS from the metadata, converted as any vector file's) or a plain Parquet table
    (points from lon/lat or WKT columns as in a CSV, or WKB in a ``geometry`` column; rows numbered from 1)."""
    if layer is not None:
        raise InputError(f"{label}: a Parquet file has no layers; give the path without :{layer}")
    crs = coords if isinstance(coords, CRS) else parquet_crs(path, label) if bbox is not None else None
    box = None if bbox is None else file_bbox(bbox, crs, coords)
    frame, positions, geo = read_parquet_part(path, label=label, bbox=box, rows=rows)
    whole = bbox is None and rows is None
    if geo is not None:
        return _vector_rows(frame, positions, label=label, coords=coords, log=log, whole=whole, record=bbox is None)
    if frame.empty and whole:
        raise InputError(f"{label}: no data rows")
    wkb = next((c for c in frame.columns if _key(c) in ("geometry", "geom", "wkb", "wkbgeometry")
                and isinstance(frame[c].dropna().iloc[0] if frame[c].notna().any() else None, bytes)), None)
    if wkb is not None:  # WKB without GeoParquet metadata (e.g. DuckDB without its spatial extension): no CRS
        geometry = shapely.from_wkb(frame[wkb].to_numpy(), on_invalid="ignore")
        gdf = gpd.GeoDataFrame(frame.drop(columns=[wkb]), geometry=geometry, crs=None)
        return _vector_rows(gdf, positions, label=label, coords=coords, log=log, whole=whole, record=bbox is None)
    try:
        xy = _find_xy_columns(frame.columns)
    except _Ambiguous:
        xy = True  # reported by _points_from_table in its words
    if xy is None and not any(_key(c) in ("geometry", "wkt", "geom") for c in frame.columns):
        raise InputError(f"{label}: a Parquet file without GeoParquet metadata ('geo') and without lon/lat "
                         "columns; write it as GeoParquet (geopandas to_parquet, ogr2ogr -f Parquet, DuckDB COPY … "
                         "with the spatial extension), or, for points, add lon and lat (经度, 纬度) columns")
    frame["source_row"] = np.asarray(positions, dtype=np.int64) + 1
    frame["source_file"] = label
    if bbox is None:
        log.record_read(label, len(frame), int(positions[0]) + 1 if len(positions) else 1)
    return _points_from_table(frame, label=label, coords=coords, log=log if bbox is None else WarningLog())


#: a feature with more vertices than this is refused: GEOS repairs and overlays on it would take minutes to hours
#: (community and town outlines have thousands of vertices; 10 million is a digitising or export error)
MAX_VERTICES_PER_FEATURE = 1_000_000
#: how many bytes of memory reading one byte of a file takes, at most (GeoJSON text → objects → GeoDataFrame)
READ_MEMORY_FACTOR = {".geojson": 12.0, ".json": 12.0, ".csv": 8.0, ".txt": 8.0, ".tsv": 8.0, ".xlsx": 40.0,
                      ".xls": 40.0, ".kml": 12.0, ".gml": 12.0, ".parquet": 10.0, ".geoparquet": 10.0}
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
            f"{label}, feature {gdf['source_row'].iloc[i]}: {counts[i]:,} vertices in one geometry (the limit is "
            f"{MAX_VERTICES_PER_FEATURE:,}); simplify it first, e.g. ogr2ogr -simplify 0.5 out.gpkg {Path(label).name} "
            "(0.5 m in a metric CRS), or check the export: outlines of communities have thousands of vertices")
