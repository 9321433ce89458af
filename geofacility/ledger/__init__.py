"""Ledger stage (台账): ``ledger.csv``, the Attachment-3 workbook ``ledger.xlsx``, ``coverage.gpkg``, and the
candidate rooms' ``sites.csv``/``sites.xlsx``.

:func:`write_ledger` writes the first three from an :class:`~geofacility.pipeline.Analysis`, all or none. Written
into a folder with an earlier ``ledger.xlsx``, the planner's entries in it (整治方案, 备注, added columns) are carried
over by community id (:func:`read_planner_entries`); those of communities no longer present go to the 已移除 removed
sheet, and the earlier workbook is kept as ``ledger.previous.xlsx``.

The modules, in import order (each imports only those before it):

* :mod:`~geofacility.ledger.table` — the columns, their dtypes and rounding, :func:`ledger_table`, ``ledger.csv``
  and the formula-safe cell text (:func:`safe_cell_text`);
* :mod:`~geofacility.ledger.texts` — the 标准/现状/存在问题 cell texts and the title row;
* :mod:`~geofacility.ledger.workbook` — the Attachment-3 layout and the generated sheets of a new workbook;
* :mod:`~geofacility.ledger.match` — reading a planner's workbook and matching its rows by community id;
* :mod:`~geofacility.ledger.roundtrip` — a re-run writing its figures into the planner's workbook;
* :mod:`~geofacility.ledger.postgis` — :func:`write_postgis`: the ledger layer, warnings and run into a PostGIS
  schema, replaced as one set (``--out-db``);
* :mod:`~geofacility.ledger.write` — :func:`write_ledger`, ``coverage.gpkg``/``coverage.parquet`` and the batch's
  roll-up layer (:func:`write_rollup_layer`);
* :mod:`~geofacility.ledger.sites` — :func:`write_sites` and the selection summary.
"""
from __future__ import annotations

from .table import (BASE_COLUMNS, CATEGORY_FIELDS, COVERAGE_GPKG, LEDGER_CSV, LEDGER_XLSX, ledger_columns,
                    ledger_table, read_ledger_csv, safe_cell_text, unescape_cell_text)
from .texts import current_text, households_population_text, not_surveyed_text, problem_text, standard_text
from .workbook import (GENERATED_SHEETS, ID_HEADING, LEDGER_SHEET, PLANNER_FIELDS, PREVIOUS_XLSX, REMOVED_SHEET,
                       UMBRELLA_HEADING, WRITTEN_SHEET)
from .match import PlannerEntries, norm, read_planner_entries
from .roundtrip import update_ledger_workbook
from .postgis import write_postgis
from .write import COVERAGE_PARQUET, GEO_FORMATS, geo_files, geo_formats, write_ledger, write_rollup_layer
from .sites import (SELECTION_JSON, SITE_COLUMNS, SITES_CSV, SITES_XLSX, selection_summary, shortage_note,
                    sites_table, write_sites)

__all__ = [
    "BASE_COLUMNS",
    "CATEGORY_FIELDS",
    "LEDGER_CSV",
    "LEDGER_XLSX",
    "COVERAGE_GPKG",
    "COVERAGE_PARQUET",
    "GEO_FORMATS",
    "geo_formats",
    "geo_files",
    "write_rollup_layer",
    "ledger_columns",
    "ledger_table",
    "safe_cell_text",
    "unescape_cell_text",
    "households_population_text",
    "standard_text",
    "current_text",
    "problem_text",
    "not_surveyed_text",
    "write_ledger",
    "write_postgis",
    "read_ledger_csv",
    "LEDGER_SHEET",
    "REMOVED_SHEET",
    "PREVIOUS_XLSX",
    "GENERATED_SHEETS",
    "ID_HEADING",
    "PLANNER_FIELDS",
    "UMBRELLA_HEADING",
    "WRITTEN_SHEET",
    "PlannerEntries",
    "norm",
    "read_planner_entries",
    "update_ledger_workbook",
    "SITES_CSV",
    "SITES_XLSX",
    "SELECTION_JSON",
    "SITE_COLUMNS",
    "sites_table",
    "selection_summary",
    "shortage_note",
    "write_sites",
]
