"""Reading: a PostGIS table as an input of any role (``--communities``, ``--facilities``, ``--demand``, ``--towns``,
``--candidates`` …), named by

* a URL, ``postgresql://[user@]host[:port]/dbname?table=schema.table`` (``postgres://`` too; the other query
  parameters are libpq's, e.g. ``service=NAME`` or ``sslmode=require``: ``postgresql:///dbname?service=gis&table=…``
  reads host, port and user from the service file, ``PGSERVICEFILE``), or
* a GDAL-style string, ``PG:"dbname=… host=… table=schema.table"`` (GDAL's ``tables=schema.table`` too).

``geometry=COLUMN`` names the geometry column of a table with several. Credentials come from libpq: the
environment (PGUSER, PGPASSWORD, PGHOST, PGPORT), ``~/.pgpass`` or a service file. A password written in the
source is used but never shown: the source's text everywhere (messages, warnings, ``source_file``, ``run.json``) is
:func:`geofacility.masking.mask_secrets` of it (:class:`DatabaseSource`: a ``str`` whose text is the masked one).

The rows come back as a file's do (:func:`geofacility.read.read_layer`): EPSG:4326 (the CRS from the geometry
column's SRID, converted like any vector file), ``source_file`` (the masked source) and ``source_row``: the row's
1-based position in the table ordered by its primary key, or — for a table without one — by ``ctid``, its physical
order, which is the order rows were loaded until the table is updated or vacuumed (give such tables a primary key:
``ALTER TABLE t ADD COLUMN gid serial PRIMARY KEY``). ``bbox`` (:func:`read_postgis_layer`) reads only the rows
whose geometry meets a WGS84 box (``ST_Intersects`` against the box transformed to the column's SRID), numbered
as in the whole table. Reading needs the ``postgis`` extra (SQLAlchemy, psycopg 3): ``pip install
geofacility[postgis]``.
"""
from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit

import numpy as np

from ..errors import InputError, WarningLog
from ..masking import mask_secrets

__all__ = ["DATABASE_PREFIXES", "DatabaseSource", "is_database", "source", "source_stem", "connect",
           "read_postgis_layer", "quote_ident"]

DATABASE_PREFIXES = ("postgresql://", "postgres://", "PG:")
#: the query parameters geofacility reads itself (the others go to libpq)
_OWN = ("table", "tables", "geometry", "schema", "schemas")
#: the column carrying each row's position in the table, dropped after reading
_ROW = "_geofacility_source_row"
_EXTRA = "pip install geofacility[postgis]"
_CONNECT_TIMEOUT_S = 10


def is_database(value) -> bool:
    """Whether ``value`` names a database table (a URL or a ``PG:`` string) rather than a file."""
    return isinstance(value, str) and value.lstrip().startswith(DATABASE_PREFIXES)


def quote_ident(name: str) -> str:
    """``name`` as a quoted SQL identifier."""
    return '"' + str(name).replace('"', '""') + '"'


def _conninfo_pairs(text: str) -> list[tuple[str, str]]:
    """The key=value pairs of a libpq connection string (values plain or single-quoted with \\ escapes)."""
    pairs, pos = [], 0
    pattern = re.compile(r"\s*(\w+)\s*=\s*('(?:[^'\\]|\\.)*'|[^\s']*)\s*")
    while pos < len(text.rstrip()):
        match = pattern.match(text, pos)
        if match is None:
            raise InputError(f"{mask_secrets(text)}: not a connection string; write it as "
                             'PG:"dbname=NAME host=HOST table=SCHEMA.TABLE"')
        key, value = match.group(1), match.group(2)
        if value.startswith("'"):
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        pairs.append((key, value))
        pos = match.end()
    return pairs


def _conninfo_value(value: str) -> str:
    if value and not re.search(r"[\s'\\]", value):
        return value
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


class DatabaseSource(str):
    """A PostGIS table named by a URL or a ``PG:`` string. As a ``str`` it is the masked text (password ``***``),
    so it can be printed, logged and written anywhere; :attr:`conninfo` (what libpq connects with) keeps the
    password. ``schema`` (None: the search path), ``table``, ``geometry`` (None: the only one) and, for an output,
    ``out_schema`` (``?schema=…``) are read from the text."""

    def __new__(cls, text):
        if isinstance(text, DatabaseSource):
            return text
        raw = str(text).strip()
        self = super().__new__(cls, mask_secrets(raw))
        self._raw = raw
        if raw.startswith("PG:"):
            body = raw[3:].strip()
            if len(body) >= 2 and body[0] == body[-1] and body[0] in "\"'":
                body = body[1:-1]
            pairs = _conninfo_pairs(body)
            own = {k: v for k, v in pairs if k in _OWN}
            self.conninfo = " ".join(f"{k}={_conninfo_value(v)}" for k, v in pairs if k not in _OWN)
        else:
            parts = urlsplit(raw)
            query = parse_qsl(parts.query, keep_blank_values=True)
            own = {k: v for k, v in query if k in _OWN}
            rest = urlencode([(k, v) for k, v in query if k not in _OWN])
            # by hand: urlunsplit drops the // of a URL without a host (postgresql:///db?service=…)
            self.conninfo = f"{parts.scheme}://{parts.netloc}{parts.path}" + (f"?{rest}" if rest else "")
        table = own.get("table") or own.get("tables") or None
        self.geometry = own.get("geometry") or None
        if table and table.endswith(")") and "(" in table:  # GDAL: tables=schema.table(geom)
            table, _, geometry = table[:-1].partition("(")
            self.geometry = self.geometry or geometry or None
        self.schema, self.table = (table.split(".", 1) if table and "." in table else (own.get("schemas"), table))
        self.out_schema = own.get("schema") or None
        return self

    def __getnewargs__(self):  # pickled (Dask workers) by the text as given
        return (self._raw,)

    def __repr__(self) -> str:
        return f"DatabaseSource({str(self)!r})"

    @property
    def qualified(self) -> str:
        """``schema.table`` (or ``table``) for messages."""
        return f"{self.schema}.{self.table}" if self.schema else str(self.table)


def source(value):
    """``value`` as a :class:`DatabaseSource` when it names a database table, else unchanged (a path)."""
    return DatabaseSource(value) if is_database(value) else value


def source_stem(label) -> str:
    """The short name of an input for ids and titles: a table's name for a database source, else the file's stem
    (``设施.csv`` → 设施)."""
    from pathlib import Path

    if is_database(label):
        return DatabaseSource(label).table or "table"
    return Path(str(label)).stem


def connect(src: DatabaseSource, *, purpose: str = "reading a PostGIS table"):
    """A SQLAlchemy engine on ``src`` (psycopg 3; libpq reads the environment, ~/.pgpass and service files);
    InputError naming the extra when it is not installed."""
    try:
        import psycopg
        import sqlalchemy
        from sqlalchemy.pool import NullPool
    except ImportError as exc:
        raise InputError(f"{src}: {purpose} needs the postgis extra ({exc.name} is not installed): {_EXTRA}") \
            from None
    conninfo = src.conninfo

    def creator():
        return psycopg.connect(conninfo, connect_timeout=_CONNECT_TIMEOUT_S)

    return sqlalchemy.create_engine("postgresql+psycopg://", creator=creator, poolclass=NullPool)


def _database_error(src: DatabaseSource, exc: BaseException) -> InputError:
    """A driver's error as one line naming the (masked) source and what to check."""
    cause = getattr(exc, "orig", None) or exc
    text = mask_secrets(str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__)
    name = type(cause).__name__
    if name in ("OperationalError", "ConnectionTimeout") or "connection" in text.lower():
        return InputError(f"{src}: cannot connect to the database ({text}); check that the server runs and the host, "
                          "port, database, user and password: PGHOST/PGPORT/PGUSER/PGPASSWORD, ~/.pgpass or a service "
                          "file (?service=NAME)")
    return InputError(f"{src}: the database refused the query ({text})")


def _table_info(conn, src: DatabaseSource) -> dict:
    """The table's schema, name, oid, geometry column, SRID and primary key (or ctid); InputError when PostGIS,
    the table or its geometry is missing."""
    from sqlalchemy import text

    if conn.execute(text("SELECT 1 FROM pg_extension WHERE extname = 'postgis'")).first() is None:
        raise InputError(f"{src}: the database has no PostGIS; install it there (CREATE EXTENSION postgis; as the "
                         "database's owner)")
    if not src.table:
        raise InputError(f"{src}: no table named; name it as ?table=SCHEMA.TABLE (a PG: string: table=SCHEMA.TABLE)")
    name = quote_ident(src.table) if src.schema is None else f"{quote_ident(src.schema)}.{quote_ident(src.table)}"
    row = conn.execute(text("SELECT c.oid, n.nspname, c.relname FROM pg_class c JOIN pg_namespace n "
                            "ON n.oid = c.relnamespace WHERE c.oid = to_regclass(:name)"), {"name": name}).first()
    if row is None:
        tables = [f"{s}.{t}" for s, t in conn.execute(text(
            "SELECT f_table_schema, f_table_name FROM geometry_columns ORDER BY 1, 2 LIMIT 20"))]
        raise InputError(f"{src}: no table {src.qualified} in the database; its tables with geometry are "
                         f"{', '.join(tables) or 'none'}: name one as ?table=SCHEMA.TABLE")
    oid, schema, table = row
    columns = conn.execute(text("SELECT f_geometry_column, srid FROM geometry_columns WHERE f_table_schema = :s AND "
                                "f_table_name = :t ORDER BY 1"), {"s": schema, "t": table}).all()
    if src.geometry is not None:
        columns = [c for c in columns if c[0] == src.geometry] or columns
    if not columns:
        raise InputError(f"{src}: table {schema}.{table} has no geometry column; give a table with a PostGIS "
                         "geometry column")
    if len(columns) > 1 or (src.geometry is not None and columns[0][0] != src.geometry):
        names = ", ".join(c[0] for c in columns)
        raise InputError(f"{src}: table {schema}.{table} has the geometry columns {names}; name one as "
                         f"&geometry=COLUMN (a PG: string: tables={schema}.{table}(COLUMN))")
    keys = [r[0] for r in conn.execute(text(
        "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
        "WHERE i.indrelid = :oid AND i.indisprimary ORDER BY array_position(i.indkey, a.attnum)"), {"oid": oid})]
    return {"schema": schema, "table": table, "geometry": columns[0][0], "srid": int(columns[0][1] or 0),
            "keys": keys}


def _crs(conn, srid: int):
    """The CRS of an SRID (EPSG, else the WKT of spatial_ref_sys); None for SRID 0 (unknown)."""
    from pyproj import CRS
    from sqlalchemy import text

    if not srid:
        return None
    try:
        return CRS.from_epsg(srid)
    except Exception:  # a custom SRID: its definition in the database
        wkt = conn.execute(text("SELECT srtext FROM spatial_ref_sys WHERE srid = :s"), {"s": srid}).scalar()
        return CRS.from_wkt(wkt) if wkt else None


def _query(info: dict, bbox) -> tuple[str, dict]:
    """The SELECT of the table's rows in key order, each with its 1-based position (:data:`_ROW`)."""
    table = f"{quote_ident(info['schema'])}.{quote_ident(info['table'])}"
    keys = [quote_ident(k) for k in info["keys"]] or ["ctid"]
    order = ", ".join(keys)
    if bbox is None:
        return f"SELECT t.*, row_number() OVER (ORDER BY {order}) AS {_ROW} FROM {table} t ORDER BY {_ROW}", {}
    minx, miny, maxx, maxy = (float(v) for v in bbox)
    box = "ST_MakeEnvelope(:minx, :miny, :maxx, :maxy, 4326)"
    box = f"ST_Transform({box}, {info['srid']})" if info["srid"] else f"ST_SetSRID({box}, 0)"
    aliases = [f"_geofacility_k{i}" for i in range(len(keys))]
    numbered = ", ".join(f"{k} AS {a}" for k, a in zip(keys, aliases))
    join = " AND ".join(f"t.{k} = n.{a}" for k, a in zip(keys, aliases))
    sql = (f"SELECT t.*, n.{_ROW} FROM {table} t JOIN (SELECT {numbered}, row_number() OVER (ORDER BY {order}) "
           f"AS {_ROW} FROM {table}) n ON {join} WHERE ST_Intersects(t.{quote_ident(info['geometry'])}, {box}) "
           f"ORDER BY n.{_ROW}")
    return sql, {"minx": minx, "miny": miny, "maxx": maxx, "maxy": maxy}


def count_postgis_rows(path) -> int:
    """How many rows a PostGIS table holds (what a whole read numbers 1 to n)."""
    from sqlalchemy import text

    src = DatabaseSource(path)
    engine = connect(src)
    try:
        with engine.connect() as conn:
            info = _table_info(conn, src)
            name = f"{quote_ident(info['schema'])}.{quote_ident(info['table'])}"
            return int(conn.execute(text(f"SELECT count(*) FROM {name}")).scalar())
    except InputError:
        raise
    except Exception as exc:
        if type(exc).__module__.split(".")[0] not in ("psycopg", "sqlalchemy"):
            raise
        raise _database_error(src, exc) from None
    finally:
        engine.dispose()


def read_postgis_layer(path, *, coords=None, layer: str | None = None, log: WarningLog | None = None,
                       option: str | None = None, bbox=None):
    """Read a PostGIS table (see the module docstring) into a GeoDataFrame in EPSG:4326 with ``source_file`` (the
    masked source) and ``source_row`` (the position by primary key, else ctid). ``layer``: the table when the
    source names none. ``bbox``: ``(minx, miny, maxx, maxy)`` in EPSG:4326; only rows meeting it are read, numbered
    as in the whole table (a partial read: its rows are not recorded as the source's rows read). InputError for a
    source that cannot be read: no connection, no PostGIS, no such table, no extra installed."""
    import geopandas as gpd
    from sqlalchemy import text

    from .coords import _vector_to_wgs84
    from .files import _check_vertices, _report_empty_geometries

    log = log if log is not None else WarningLog()
    src = DatabaseSource(path)
    if layer is not None and not src.table:
        src.schema, src.table = layer.split(".", 1) if "." in layer else (src.schema, layer)
    label = str(src)
    engine = connect(src)
    try:
        with engine.connect() as conn:
            info = _table_info(conn, src)
            crs = _crs(conn, info["srid"])
            sql, params = _query(info, bbox)
            gdf = gpd.read_postgis(text(sql), conn, geom_col=info["geometry"], crs=crs, params=params)
    except InputError:
        raise
    except Exception as exc:  # psycopg/SQLAlchemy errors: connection refused, permission denied …
        if type(exc).__module__.split(".")[0] not in ("psycopg", "sqlalchemy"):
            raise
        raise _database_error(src, exc) from None
    finally:
        engine.dispose()
    if gdf.empty and bbox is None:
        raise InputError(f"{label}: table {info['schema']}.{info['table']} has no rows")
    if info["geometry"] != "geometry":
        gdf = gdf.drop(columns=["geometry"], errors="ignore").rename_geometry("geometry")
    if bbox is None:
        log.record_read(label, len(gdf))
    _check_vertices(gdf, label)
    rows = gdf.pop(_ROW).to_numpy(dtype=np.int64)
    gdf = gdf.reset_index(drop=True)
    gdf["source_row"] = rows
    gdf["source_file"] = label
    if not gdf.empty:
        gdf = _vector_to_wgs84(gdf, label=label, coords=coords, log=log)
    elif gdf.crs is not None:
        gdf = gdf.to_crs(4326)
    _report_empty_geometries(gdf, label, log)
    return gdf
