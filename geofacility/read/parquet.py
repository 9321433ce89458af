"""Reading: Parquet files, GeoParquet (a ``geo`` metadata key, geometry in WKB or the GeoArrow encodings) and
plain tables (lon/lat columns, read like a CSV), whole or in part.

pyogrio's GDAL has no Parquet driver here, so the file is read with pyarrow, one row group at a time: a part
(:func:`read_parquet_part`: a bounding box, a slice of rows, or both) reads only the row groups it needs — with a
bbox covering column (GeoParquet 1.1, ``to_parquet(write_covering_bbox=True)``) the row groups whose statistics
miss the box are skipped and the rest filtered on that column before any geometry is decoded. Every row keeps its
position in the whole file, so ``source_row`` is the same whether the file is read whole or in parts.
"""
from __future__ import annotations

import functools
import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import shapely
from pyproj import CRS

from ..errors import InputError

__all__ = ["PARQUET_SUFFIXES", "read_parquet_part", "parquet_rows", "parquet_crs"]

PARQUET_SUFFIXES = {".parquet", ".geoparquet"}


def _open(path: Path, label: str) -> pq.ParquetFile:
    try:
        return pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises ArrowInvalid/OSError with its own words
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"{label}: not a readable Parquet file ({first}); export it again, e.g. with geopandas "
                         "to_parquet or ogr2ogr -f Parquet") from None


def _geo(pf: pq.ParquetFile, label: str) -> dict | None:
    """The GeoParquet metadata (None for a plain Parquet table)."""
    raw = (pf.schema_arrow.metadata or {}).get(b"geo")
    if raw is None:
        return None
    try:
        geo = json.loads(raw)
        primary = geo["primary_column"]
        geo["columns"][primary]["encoding"]
    except Exception:
        raise InputError(f"{label}: its GeoParquet metadata ('geo') is malformed; write the file again, e.g. with "
                         "geopandas to_parquet") from None
    return geo


def parquet_rows(path: str | Path, label: str | None = None) -> int:
    """Rows in a Parquet file, from its footer (nothing else read)."""
    return _open(Path(path), label or str(path)).metadata.num_rows


def parquet_crs(path: str | Path, label: str | None = None) -> CRS | None:
    """The CRS of a GeoParquet file's primary geometry (OGC:CRS84 when the metadata names none, as the
    specification says; None when it says ``null`` or the file is a plain table)."""
    geo = _geo(_open(Path(path), label or str(path)), label or str(path))
    if geo is None:
        return None
    return _crs(geo["columns"][geo["primary_column"]])


def _crs(column: dict) -> CRS | None:
    if "crs" not in column:
        return _parsed_crs('"OGC:CRS84"')
    return None if column["crs"] is None else _parsed_crs(json.dumps(column["crs"], sort_keys=True))


@functools.lru_cache(maxsize=32)
def _parsed_crs(text: str) -> CRS:
    """A CRS from its metadata (PROJJSON or a name, as JSON text): parsed once per process (a few ms each, and a
    batch's groups read the same file)."""
    return CRS.from_user_input(json.loads(text))


def _covering(geo: dict) -> tuple[str, dict[str, str]] | None:
    """The bbox covering column of the primary geometry: (column, {xmin: field, …}), or None."""
    covering = geo["columns"][geo["primary_column"]].get("covering", {}).get("bbox")
    if not covering:
        return None
    column = covering["xmin"][0]
    if any(covering[k][0] != column for k in ("ymin", "xmax", "ymax")):
        return None
    return column, {k: covering[k][1] for k in ("xmin", "ymin", "xmax", "ymax")}


def _to_frame(table: pa.Table, geo: dict | None) -> pd.DataFrame:
    """An Arrow table → GeoDataFrame (GeoParquet: the geometry columns decoded with their CRS, through
    :meth:`geopandas.GeoDataFrame.from_arrow`) or DataFrame (a plain table)."""
    if geo is None:
        return table.to_pandas()
    fields = []
    for field in table.schema:
        column = geo["columns"].get(field.name)
        if column is not None:
            encoding = str(column["encoding"]).lower()
            # the CRS is set below from the parsed-once CRS (geopandas would parse its PROJJSON for every read)
            field = field.with_metadata({b"ARROW:extension:name": f"geoarrow.{encoding}".encode(),
                                         b"ARROW:extension:metadata": b"{}"})
        fields.append(field)
    table = pa.Table.from_arrays(table.columns, schema=pa.schema(fields, metadata=table.schema.metadata))
    primary = geo["primary_column"]
    frame = gpd.GeoDataFrame.from_arrow(table, geometry=primary)
    for name, column in geo["columns"].items():
        crs = _crs(column)
        if name in frame.columns and crs is not None:
            if name == primary:
                frame = frame.set_crs(crs)
            else:
                frame[name] = frame[name].set_crs(crs)
    return frame


def read_parquet_part(path: Path, *, label: str, bbox=None, rows=None) -> tuple[pd.DataFrame, np.ndarray, dict | None]:
    """Read a Parquet file whole or in part: ``(frame, positions, geo)``.

    ``positions``: each row's 0-based position in the whole file. ``bbox`` (minx, miny, maxx, maxy) in the file's
    own coordinates keeps the rows whose geometry's bounding box meets it (a superset: the caller filters exactly
    after converting to EPSG:4326); it is ignored for a plain table (no geometry to test before reading it).
    ``rows`` (start, stop): the rows at those 0-based positions, stop excluded. ``geo``: the GeoParquet metadata,
    None for a plain table (``frame`` is then a DataFrame).
    """
    pf = _open(path, label)
    geo = _geo(pf, label)
    meta = pf.metadata
    sizes = np.array([meta.row_group(i).num_rows for i in range(meta.num_row_groups)], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(sizes)])
    covering = _covering(geo) if geo is not None else None
    columns = [n for n in pf.schema_arrow.names if covering is None or n != covering[0]]
    start, stop = (0, int(starts[-1])) if rows is None else (max(int(rows[0]), 0), min(int(rows[1]), int(starts[-1])))
    if geo is None:
        bbox = None
    parts, positions = [], []
    for group in range(meta.num_row_groups):
        lo, hi = max(start, starts[group]), min(stop, starts[group + 1])
        if lo >= hi:
            continue
        local = np.arange(lo - starts[group], hi - starts[group])
        if bbox is not None:
            if covering is not None and _missed(meta.row_group(group), covering, bbox):
                continue
            local = local[_meets(pf, group, geo, covering, bbox)[local]]
            if not len(local):
                continue
        table = pf.read_row_group(group, columns=columns)
        if len(local) < table.num_rows:
            table = table.take(pa.array(local))
        parts.append(table)
        positions.append(starts[group] + local)
    table = pa.concat_tables(parts) if parts else pf.schema_arrow.empty_table().select(columns)
    frame = _to_frame(table, geo).reset_index(drop=True)
    return frame, (np.concatenate(positions) if positions else np.zeros(0, dtype=np.int64)), geo


def _missed(group_meta, covering: tuple[str, dict], bbox) -> bool:
    """Whether a row group's statistics of the covering column prove that none of its rows meets ``bbox``."""
    column, fields = covering
    stats = {}
    for i in range(group_meta.num_columns):
        chunk = group_meta.column(i)
        for key, field in fields.items():
            if chunk.path_in_schema == f"{column}.{field}" and chunk.statistics is not None \
                    and chunk.statistics.has_min_max:
                stats[key] = (chunk.statistics.min, chunk.statistics.max)
    if len(stats) < 4:
        return False
    minx, miny, maxx, maxy = bbox
    return stats["xmin"][0] > maxx or stats["ymin"][0] > maxy or stats["xmax"][1] < minx or stats["ymax"][1] < miny


def _meets(pf: pq.ParquetFile, group: int, geo: dict, covering, bbox) -> np.ndarray:
    """Rows of a row group whose bounding box meets ``bbox``: from the covering column when there is one, else
    from the geometries' bounds (only the geometry column read)."""
    minx, miny, maxx, maxy = bbox
    if covering is not None:
        column, fields = covering
        box = pf.read_row_group(group, columns=[column]).column(column).combine_chunks()
        b = {k: box.field(f).to_numpy(zero_copy_only=False) for k, f in fields.items()}
    else:
        primary = geo["primary_column"]
        part = _to_frame(pf.read_row_group(group, columns=[primary]), {**geo, "columns": {
            primary: geo["columns"][primary]}})
        bounds = shapely.bounds(np.asarray(part.geometry.values))
        b = dict(zip(("xmin", "ymin", "xmax", "ymax"), bounds.T))
    with np.errstate(invalid="ignore"):
        return (b["xmin"] <= maxx) & (b["xmax"] >= minx) & (b["ymin"] <= maxy) & (b["ymax"] >= miny)
