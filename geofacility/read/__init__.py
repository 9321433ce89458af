"""The first stage of the pipeline: reading what planners have, and naming its columns as docs/data-model.md does.

GeoJSON, GeoPackage, Shapefile (GBK included), GeoParquet, CSV/XLSX/Parquet with lon/lat, in WGS84, CGCS2000, projected CRSs, or the
GCJ-02/BD-09 coordinates that Chinese map APIs emit. Every reader returns a GeoDataFrame in EPSG:4326 with
canonical column names and two bookkeeping columns, ``source_file`` and ``source_row`` (the row number a planner
sees: the line in a CSV, the data row in a spreadsheet, the feature number in a vector file). Rows that cannot be
used are not dropped silently: they go to the :class:`~geofacility.errors.WarningLog` with the file, the row and the
reason. Input that cannot be used at all raises :class:`~geofacility.errors.InputError` with a one-line fix.

The modules, from the bottom up (each imports only those above it):

* ``encodings`` — CSV and Shapefile text in UTF-8 or GBK, delimiters;
* ``columns`` — column and category names: :data:`ALIASES`, :func:`load_aliases`, :func:`category_key`;
* ``numbers`` — :func:`parse_numbers`, the one parser of every numeric cell;
* ``coords`` — GCJ-02/BD-09 → WGS84, lon/lat columns found, :func:`choose_metric_crs`;
* ``rows`` — the row checks every reader shares (no geometry, invalid polygons, duplicate ids);
* ``files`` — :func:`read_layer`: any file → EPSG:4326 with ``source_file``/``source_row``;
* ``postgis`` — a PostGIS table as an input (``postgresql://…?table=…``, ``PG:"…"``), read by :func:`read_layer`
  (:func:`read_postgis_layer`, with a bounding box); :func:`source` marks such a text (password masked);
* ``parquet``, ``parts`` — GeoParquet and Parquet tables; parts of a file (a bounding box, a slice of rows);
* ``files`` — :func:`read_layer`: any file (or a part of it) → EPSG:4326 with ``source_file``/``source_row``;
  :func:`count_rows`;
* one module per role: ``communities`` (:func:`read_communities`, :func:`check_overlaps`), ``towns``
  (:func:`read_towns`, :func:`read_extent`), ``facilities`` (:func:`read_facilities`), ``demand_points``
  (:func:`read_demand`), ``candidates`` (:func:`read_candidates`).

The next stage, preparing a study (metric CRS, demand, standards, walking network), starts from these frames.
"""
from __future__ import annotations

from .candidates import ACQUISITION, read_candidates
from .columns import (
    ALIASES,
    CATEGORY_ALIASES,
    SUBCATEGORY_ALIASES,
    category_key,
    category_names,
    load_aliases,
    normalise_category,
    use_columns,
)
from .communities import check_overlaps, read_communities
from .coords import (
    COORD_SYSTEMS,
    bd09_to_gcj02,
    bd09_to_wgs84,
    choose_metric_crs,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    parse_coords,
    to_wgs84,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)
from .demand_points import read_demand
from .facilities import read_facilities
from .files import available_memory, count_rows, read_layer, split_layer
from .numbers import NUMBER_FIX, Numbers, number_problem, parse_numbers
from .postgis import DatabaseSource, is_database, read_postgis_layer, source, source_stem
from .towns import read_extent, read_towns

__all__ = [
    # the role readers
    "read_communities",
    "read_facilities",
    "read_demand",
    "read_candidates",
    "read_towns",
    "read_extent",
    "check_overlaps",
    # any file
    "read_layer",
    "count_rows",
    "split_layer",
    "available_memory",
    # database tables
    "read_postgis_layer",
    "DatabaseSource",
    "is_database",
    "source",
    "source_stem",
    # column and category names
    "ALIASES",
    "CATEGORY_ALIASES",
    "SUBCATEGORY_ALIASES",
    "ACQUISITION",
    "load_aliases",
    "use_columns",
    "category_key",
    "category_names",
    "normalise_category",
    # numbers
    "parse_numbers",
    "number_problem",
    "NUMBER_FIX",
    "Numbers",
    # coordinates
    "COORD_SYSTEMS",
    "parse_coords",
    "to_wgs84",
    "wgs84_to_gcj02",
    "gcj02_to_wgs84",
    "gcj02_to_bd09",
    "bd09_to_gcj02",
    "wgs84_to_bd09",
    "bd09_to_wgs84",
    "choose_metric_crs",
]
