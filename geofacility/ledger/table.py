"""Ledger stage, the table: the ledger's columns, their dtypes and rounding, :func:`ledger_table` and
``ledger.csv`` (written UTF-8 with BOM, read back by :func:`read_ledger_csv`).

Text that comes from input files goes through :func:`safe_cell_text`, so a community called ``=HYPERLINK(...)`` is
shown, never evaluated, in Excel — in the workbook and in ``ledger.csv``; :func:`unescape_cell_text` undoes it.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError
from ..coverage import whole_people
from ..standards import CATEGORIES


#: The columns every community has (docs/data-model.md), in ledger order, without ``geometry``.
BASE_COLUMNS: tuple[str, ...] = (
    "community_id",
    "community",
    "town",
    "population",
    "households",
    "approximate",
    "distance_method",
    "n_categories_short",
)

#: The per-category columns, ``<category>_<field>``, in ledger order.
CATEGORY_FIELDS: tuple[str, ...] = (
    "status",
    "standard",
    "radius_m",
    "covered_share",
    "covered_population",
    "uncovered_population",
    "required_count",
    "current_count",
    "count_gap",
    "required_m2",
    "current_m2",
    "gap_m2",
    "served_population",
    "over_capacity_population",
    "out_of_reach_population",
    "problem",
    "below_minimum",
    "problem_stage",
    "not_in_use",
    "by_standard",
)

#: Short Chinese names used in the 存在问题 column (``教育：覆盖率 62%，缺 1 处``); the same ones coverage uses.

#: fields added after the first ledgers were filed (0.1: the capacity split; then the facilities below the
#: minimum, the problem stage and the facilities not in use, geofacility.stages; then each standard's figures,
#: geofacility.per_standard); older ledgers read with them empty
_ADDED_FIELDS = ("served_population", "over_capacity_population", "out_of_reach_population", "below_minimum",
                 "problem_stage", "not_in_use", "by_standard")
_TEXT_FIELDS = ("status", "standard", "below_minimum", "problem", "problem_stage", "not_in_use", "by_standard")
_SHARE_FIELDS = ("covered_share",)
_SHARE_DECIMALS = 4
_OTHER_DECIMALS = 1  # m², metres
_PEOPLE_DECIMALS = 0  # people and households are written whole (4709, not 4709.0)

LEDGER_CSV = "ledger.csv"
LEDGER_XLSX = "ledger.xlsx"
COVERAGE_GPKG = "coverage.gpkg"

# Excel evaluates a cell typed as text that starts with one of these; ' is escaped too so the escape is reversible.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "'")
_ILLEGAL_XML = str.maketrans({c: None for c in [*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20)]})

_BOOL_TEXT = {"true": True, "false": False, "1": True, "0": False}


# --------------------------------------------------------------------------------------------- columns and table


def ledger_columns() -> list[str]:
    """The ``communities`` columns without ``geometry``, in ledger order (docs/data-model.md)."""
    return [*BASE_COLUMNS, *(f"{c}_{f}" for c in CATEGORIES for f in CATEGORY_FIELDS)]


_TEXT_COLUMNS: tuple[str, ...] = (
    "community_id",
    "community",
    "town",
    "distance_method",
    *(f"{c}_{f}" for c in CATEGORIES for f in _TEXT_FIELDS),
)
_SHARE_COLUMNS = frozenset(f"{c}_{f}" for c in CATEGORIES for f in _SHARE_FIELDS)
#: people (demand spread over polygons gives fractions: rounded to whole people) and households
_PEOPLE_COLUMNS = frozenset(["population", "households", *(f"{c}_{f}" for c in CATEGORIES for f in CATEGORY_FIELDS
                                                             if f.endswith("_population"))])
#: facility counts are whole numbers (nullable: empty where not surveyed)
_COUNT_COLUMNS = frozenset(f"{c}_{f}" for c in CATEGORIES for f in ("required_count", "current_count", "count_gap"))
_FLOAT_COLUMNS: tuple[str, ...] = tuple(
    col for col in ledger_columns()
    if col not in {*_TEXT_COLUMNS, *_COUNT_COLUMNS, "approximate", "n_categories_short"}
)


def _decimals(col: str) -> int:
    if col in _PEOPLE_COLUMNS:
        return _PEOPLE_DECIMALS
    return _SHARE_DECIMALS if col in _SHARE_COLUMNS else _OTHER_DECIMALS


def _with_stages(communities: pd.DataFrame) -> pd.DataFrame:
    """A communities table made without :func:`geofacility.stages.classify` (by hand, or by an older version)
    gets its problem stages from its own figures (no facility known to be planned, building or not handed over)."""
    stage_cols = [f"{c}_problem_stage" for c in CATEGORIES]
    if all(col in communities.columns for col in stage_cols):
        return communities
    from ..stages import _stages

    added = {}
    for category in CATEGORIES:
        if f"{category}_problem_stage" not in communities.columns:
            added[f"{category}_problem_stage"] = _stages(communities, category, None)
        if f"{category}_not_in_use" not in communities.columns:
            added[f"{category}_not_in_use"] = ""
    return communities.assign(**added)


def _sorted_communities(communities: pd.DataFrame) -> pd.DataFrame:
    lacking = [f"{c}_{f}" for c in CATEGORIES for f in ("below_minimum", "by_standard")
               if f"{c}_{f}" not in communities.columns]
    if lacking:  # a table made before these columns existed: no facility named below the minimum, no split
        communities = communities.assign(**{col: "" for col in lacking})
    communities = _with_stages(communities)
    missing = [col for col in ledger_columns() if col not in communities.columns]
    if missing:
        raise ValueError(f"communities lacks ledger column(s) {', '.join(missing)} (see docs/data-model.md)")
    return communities.sort_values(["town", "community_id"], kind="stable", na_position="last").reset_index(drop=True)


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    """The ledger columns with their dtypes; floats rounded (shares 4 decimals, the rest 1) and −0.0 made 0.0."""
    columns = {}
    for col in ledger_columns():
        raw = frame[col]
        if col in _TEXT_COLUMNS:
            values = pd.Series(raw.to_numpy(dtype=object))
            columns[col] = values.where(values.notna(), "").astype(str)
        elif col == "approximate":
            values = pd.Series(raw.to_numpy(dtype=object))
            columns[col] = values.where(values.notna(), False).astype(bool)
        elif col == "n_categories_short":
            columns[col] = pd.Series(raw.to_numpy(dtype="int64"))
        else:
            # numbers stay numbers: no round trip through Python objects (a third of a small ledger's time)
            numbers = raw.to_numpy(dtype="float64", na_value=np.nan) if pd.api.types.is_numeric_dtype(raw) else \
                pd.to_numeric(pd.Series(raw.to_numpy(dtype=object)), errors="raise").to_numpy(dtype="float64")
            if col in _COUNT_COLUMNS:
                columns[col] = pd.array(np.round(numbers), dtype="Int64")
            else:
                columns[col] = pd.Series(np.round(numbers, _decimals(col)) + 0.0)
    # people are written whole: the parts are derived from the rounded whole, so that the identities of
    # docs/data-model.md (covered + not covered = population, served + over capacity = covered) hold in the files
    # exactly, not to within a person
    population = columns["population"].to_numpy(dtype="float64")
    for category in CATEGORIES:
        get = lambda field: columns[f"{category}_{field}"].to_numpy(dtype="float64")  # noqa: E731
        whole = whole_people(population, get("covered_population"), get("served_population"))
        for field in ("uncovered_population", "out_of_reach_population", "over_capacity_population"):
            old, value = get(field), whole[field]
            columns[f"{category}_{field}"] = pd.Series(np.where(np.isnan(old) | np.isnan(value), old, value) + 0.0)
    return pd.DataFrame(columns)


def ledger_table(communities: pd.DataFrame) -> pd.DataFrame:
    """The ledger as a plain DataFrame: the ledger columns, sorted by town then community_id, typed and rounded.

    This is exactly what ``ledger.csv`` holds and what :func:`read_ledger_csv` returns.
    """
    return _typed(_sorted_communities(communities))


# --------------------------------------------------------------------------------------------- cell texts


def safe_cell_text(value) -> str:
    """Text safe for a spreadsheet cell: never evaluated as a formula, no characters XML forbids.

    ``None``/NaN → ``""``. Text starting with ``=``, ``+``, ``-``, ``@``, tab or CR gets a leading ``'`` so Excel
    and LibreOffice show it instead of running it; text starting with ``'`` gets one more, so
    :func:`unescape_cell_text` can always undo the escape. Control characters other than tab/LF/CR are dropped.
    """
    if _isnan(value):
        return ""
    text = str(value).translate(_ILLEGAL_XML)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def unescape_cell_text(text: str) -> str:
    """Undo :func:`safe_cell_text`'s leading ``'`` (control characters it dropped stay dropped)."""
    if text.startswith("'") and text[1:].startswith(_FORMULA_STARTS):
        return text[1:]
    return text


def _isnan(value) -> bool:
    """None, NaN, NA or NaT (any scalar pandas counts as missing)."""
    return value is None or (not isinstance(value, str) and pd.api.types.is_scalar(value) and bool(pd.isna(value)))



# --------------------------------------------------------------------------------------------- CSV


def _csv_frame(table: pd.DataFrame) -> pd.DataFrame:
    """Every cell as its final text: fixed decimals, empty for NaN, formula-safe strings."""
    columns = {}
    for col in table.columns:
        values = table[col]
        if col in _FLOAT_COLUMNS:
            fmt = f"{{:.{_decimals(col)}f}}".format
            columns[col] = ["" if math.isnan(v) else fmt(v) for v in values.to_numpy(dtype=float)]
        elif col in _TEXT_COLUMNS:
            columns[col] = values.map(safe_cell_text)
        elif col in _COUNT_COLUMNS:
            columns[col] = values.astype(object).map(lambda v: "" if pd.isna(v) else str(int(v)))
        else:
            columns[col] = values.astype(str)
    return pd.DataFrame(columns, index=table.index)


def _write_csv(table: pd.DataFrame, path: Path) -> None:
    _csv_frame(table).to_csv(path, index=False, encoding="utf-8-sig", lineterminator="\n")


def read_ledger_csv(path: str | Path) -> pd.DataFrame:
    """Read a ``ledger.csv`` back with the dtypes of :func:`ledger_table` (text unescaped, NaN for empty numbers).

    Columns added by a planner are kept as text after the ledger columns.
    """
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    for col in (f"{c}_{f}" for c in CATEGORIES for f in _ADDED_FIELDS):
        if col not in raw.columns:  # a ledger written before these columns existed: empty, not unreadable
            raw[col] = ""
    missing = [col for col in ledger_columns() if col not in raw.columns]
    if missing:
        raise InputError(f"{path}: not a geofacility ledger.csv; missing column(s) {', '.join(missing)}")
    columns = {}
    for col in ledger_columns():
        values = raw[col].astype(object)
        try:
            if col in _TEXT_COLUMNS:
                columns[col] = values.map(unescape_cell_text).astype(str)
            elif col == "approximate":
                columns[col] = values.str.strip().str.lower().map(_BOOL_TEXT.__getitem__).astype(bool)
            elif col == "n_categories_short":
                columns[col] = values.astype("int64")
            elif col in _COUNT_COLUMNS:
                columns[col] = pd.to_numeric(values.replace("", np.nan), errors="raise").astype("Int64")
            else:
                columns[col] = pd.to_numeric(values.replace("", np.nan), errors="raise").astype(float)
        except (KeyError, ValueError) as exc:
            raise InputError(f"{path}: column {col} has a value that is not valid there ({exc}); "
                             "regenerate the ledger or fix that cell") from None
    extra = {col: raw[col] for col in raw.columns if col not in columns}
    return pd.DataFrame({**columns, **extra}, index=raw.index)

