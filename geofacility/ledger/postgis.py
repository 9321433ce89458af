"""Ledger stage, a PostGIS schema as the target (``--out-db postgresql://…?schema=results``): :func:`write_postgis`
writes three tables into the schema,

* ``communities`` — the ledger layer: every community with the ledger columns and its polygon (what the
  ``communities`` layer of ``coverage.gpkg`` holds, in the study's metric CRS), a spatial index on it;
* ``warnings`` — the warnings table (``file``, ``row``, ``severity``, ``message``, ``message_zh``);
* ``run`` — one row: ``run_id``, ``geofacility_version``, ``finished`` and ``run`` (``run.json``'s contents, jsonb),

as one set: each is written (COPY) under a staging name, then, in the same transaction, the earlier tables are
dropped and the new ones renamed, so a reader sees the earlier set or the new one, never half of either; a run that
fails leaves the earlier set as it was. A view on a table blocks the replacement (DROP without CASCADE: nothing of
the planner's is dropped): the run then stops, naming it. Database passwords are masked in everything written.
Needs the ``postgis`` extra (SQLAlchemy, psycopg 3, GeoAlchemy2).
"""
from __future__ import annotations

import datetime as dt
import json
import secrets
import sys

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ..errors import InputError
from ..masking import mask_secrets
from .table import _sorted_communities, _typed

__all__ = ["write_postgis", "write_tables", "DB_TABLES", "DEFAULT_SCHEMA"]

#: the tables of one set, in the order written
DB_TABLES = ("communities", "warnings", "run")
#: the schema written when the URL names none (never ``public``, where the planner's inputs often are)
DEFAULT_SCHEMA = "geofacility"


def _copy(table, conn, keys, data_iter) -> None:
    """pandas ``to_sql`` method: the rows by COPY (psycopg), fast for a city's communities."""
    from ..read.postgis import quote_ident

    name = f"{quote_ident(table.schema)}.{quote_ident(table.name)}" if table.schema else quote_ident(table.name)
    columns = ", ".join(quote_ident(k) for k in keys)
    with conn.connection.driver_connection.cursor() as cur, cur.copy(f"COPY {name} ({columns}) FROM STDIN") as copy:
        for row in data_iter:
            copy.write_row(row)


def _geometry_frame(layer: gpd.GeoDataFrame):
    """``layer`` as a plain frame with its geometry as EWKB hex, and the GeoAlchemy2 column type for it."""
    from geoalchemy2 import Geometry

    srid = layer.crs.to_epsg() or 0 if layer.crs is not None else 0
    geoms = np.asarray(layer.geometry.values)
    kinds = set(shapely.get_type_id(geoms[~shapely.is_missing(geoms)]).tolist())
    if kinds == {3, 6}:  # polygons and multipolygons: all multi, one column type (as coverage.gpkg's layer)
        single = np.flatnonzero(shapely.get_type_id(geoms) == 3)
        geoms = geoms.copy()
        geoms[single] = shapely.multipolygons(geoms[single], indices=np.arange(len(single)))
        kinds = {6}
    kind = {3: "POLYGON", 6: "MULTIPOLYGON", 0: "POINT"}.get(next(iter(kinds)), "GEOMETRY") if len(kinds) == 1 \
        else "GEOMETRY"
    frame = pd.DataFrame(layer.drop(columns=layer.geometry.name))
    ewkb = shapely.to_wkb(shapely.set_srid(geoms, srid), hex=True, include_srid=True)
    frame["geometry"] = pd.Series(ewkb, dtype=object).where(~shapely.is_missing(geoms), None)
    return frame, Geometry(geometry_type=kind, srid=srid, spatial_index=True)


def _run_record(analysis, run: dict | None) -> pd.DataFrame:
    """The ``run`` table: run.json's contents (given by the output set, else the essentials), passwords masked."""
    from .. import __version__

    now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    info = run if run is not None else {
        "geofacility_version": __version__, "run_id": secrets.token_hex(4), "command": list(sys.argv),
        "finished": now, "settings": getattr(analysis, "settings", {}) or {}}
    text = mask_secrets(json.dumps(info, ensure_ascii=False, default=str))
    info = json.loads(text)
    return pd.DataFrame([{"run_id": str(info.get("run_id") or ""), "geofacility_version": str(
        info.get("geofacility_version") or __version__), "finished": str(info.get("finished") or now), "run": text}])


def write_postgis(analysis, url, *, schema: str | None = None, run: dict | None = None) -> dict[str, str]:
    """Write the ledger layer, the warnings and the run into a PostGIS schema, replacing the earlier set there as
    one (see the module docstring). ``url``: ``postgresql://[USER@]HOST[:PORT]/DB[?schema=NAME]`` or a ``PG:``
    string (credentials from libpq: PGPASSWORD, ~/.pgpass, a service file); ``schema`` (else the URL's
    ``schema=``, else :data:`DEFAULT_SCHEMA`) is created when missing. ``run``: ``run.json``'s contents (the
    command line's output set gives them). Returns the tables written by name, as ``SCHEMA.TABLE``; InputError
    when the database cannot be written (no connection, no PostGIS, a view in the way, no extra installed)."""
    from ..read.postgis import DatabaseSource, is_database

    if not is_database(str(url)):
        raise InputError(f"--out-db {mask_secrets(url)}: give a database as postgresql://[USER@]HOST[:PORT]/DB?schema=NAME")
    src = DatabaseSource(url)
    ordered = _sorted_communities(analysis.communities)
    layer = gpd.GeoDataFrame(_typed(ordered), geometry=ordered.geometry.to_numpy(), crs=analysis.crs)
    return write_tables(src, {"communities": layer, "warnings": pd.DataFrame(analysis.warnings)},
                        schema=schema, run=_run_record(analysis, run))


def write_tables(url, tables: dict, *, schema: str | None = None, run: pd.DataFrame | None = None) -> dict[str, str]:
    """Write ``tables`` (name → DataFrame, or GeoDataFrame: a geometry column with a spatial index) and the
    ``run`` record into a PostGIS schema, replacing the earlier tables of those names as one set (one
    transaction); text masked of passwords. What :func:`write_postgis` and ``geofacility batch --out-db`` use."""
    from ..read.postgis import DatabaseSource, _database_error, connect, quote_ident

    src = DatabaseSource(url)
    schema = schema or src.out_schema or DEFAULT_SCHEMA
    try:
        import geoalchemy2  # noqa: F401  (the geometry column type)
        from sqlalchemy import text
        from sqlalchemy.dialects.postgresql import JSONB
    except ImportError as exc:
        raise InputError(f"{src}: writing to PostGIS needs the postgis extra ({exc.name} is not installed): "
                         "pip install geofacility[postgis]") from None
    frames = {}
    for name, table in tables.items():
        if isinstance(table, gpd.GeoDataFrame):
            frame, geometry_type = _geometry_frame(table)
            frames[name] = (frame, {"geometry": geometry_type})
            continue
        frame = pd.DataFrame(table).copy()
        for column in frame.columns:
            if frame[column].dtype == object or pd.api.types.is_string_dtype(frame[column]):
                frame[column] = frame[column].map(lambda v: v if v is None or pd.isna(v) else mask_secrets(v))
        frames[name] = (frame, None)
    if run is not None:
        frames["run"] = (run, {"run": JSONB()})
    stage = f"_geofacility_{secrets.token_hex(4)}_"
    s = quote_ident(schema)
    engine = connect(src, purpose="writing results to PostGIS")
    try:
        with engine.begin() as conn:  # one transaction: the earlier set or the new one, never half
            if conn.execute(text("SELECT 1 FROM pg_extension WHERE extname = 'postgis'")).first() is None:
                raise InputError(f"{src}: the database has no PostGIS; install it there (CREATE EXTENSION postgis; "
                                 "as the database's owner)")
            conn.execute(text(f"CREATE SCHEMA IF NOT EXISTS {s}"))
            for name, (frame, dtype) in frames.items():
                frame.to_sql(stage + name, conn, schema=schema, index=False, dtype=dtype, method=_copy)
            for name in frames:
                conn.execute(text(f"DROP TABLE IF EXISTS {s}.{quote_ident(name)}"))
                conn.execute(text(f"ALTER TABLE {s}.{quote_ident(stage + name)} RENAME TO {quote_ident(name)}"))
                for (index,) in conn.execute(text("SELECT indexname FROM pg_indexes WHERE schemaname = :s AND "
                                                  "tablename = :t"), {"s": schema, "t": name}):
                    if stage in index:
                        conn.execute(text(f"ALTER INDEX {s}.{quote_ident(index)} RENAME TO "
                                          f"{quote_ident(index.replace(stage, ''))}"))
    except InputError:
        raise
    except Exception as exc:
        if type(exc).__module__.split(".")[0] not in ("psycopg", "sqlalchemy"):
            raise
        err = _database_error(src, exc)
        if "depend" in str(exc):
            err = InputError(f"{src}: {mask_secrets(str(getattr(exc, 'orig', exc)).splitlines()[0])}: drop or "
                             f"recreate the views on the tables of schema {schema} after the run; nothing was replaced")
        raise err from None
    finally:
        engine.dispose()
    return {name: f"{schema}.{name}" for name in frames}
