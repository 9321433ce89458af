"""Reading: numbers as planners type them: the one parser of every numeric input column.

Holds :func:`parse_numbers` (plain decimals read by Arrow to the bit; ``1,234`` thousands separators; full-width
digits ``１２３４`` after NFKC; ``12,34`` refused as ambiguous, ``inf`` and words as not a number — never a number
guessed), :func:`number_problem` and :data:`NUMBER_FIX` (how an unreadable cell is described and what to do), the
per-column limits :data:`MAX_VALUE` (people, households, m², residents in one row), and ``_numeric``, which reads a
role's column through the parser and refuses or reports its bad cells on their rows.
"""
from __future__ import annotations

import unicodedata
from typing import NamedTuple

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import InputError, WarningLog

__all__ = [
    "MAX_VALUE",
    "Numbers",
    "parse_numbers",
    "number_problem",
    "NUMBER_FIX",
]


def _cell(value) -> str:
    """A cell as the planner typed it: '很多' quoted, -2000.0 as -2000 (not numpy's repr)."""
    if isinstance(value, str):
        return repr(value)
    try:
        return f"{float(value):g}"
    except (TypeError, ValueError):
        return repr(value)


#: the largest value one row of a column can hold; above it the value is a typing or unit error, never real.
#: People: a community (社区) holds 1,000–30,000 people, a subdistrict (街道) used as a unit up to a few hundred
#: thousand, and the most populous district-level unit in China, Shanghai's 浦东新区, 5.68 million (2020 census):
#: 10 million in one row is more than any district, whatever the unit. Floor area: the largest building in the
#: world by floor area (New Century Global Center, Chengdu) has about 1.76 million m²; 10 million m² is no facility.
#: Capacity: residents one facility serves, bounded like people.
MAX_VALUE = {"population": 10_000_000, "households": 10_000_000, "floor_area_m2": 10_000_000,
             "capacity": 10_000_000}
_MAX_WHAT = {"population": "people in one row, more than any district in China (浦东新区 had 5.68 million in the 2020 "
                            "census)",
             "households": "households in one row, more than any district in China",
             "floor_area_m2": "m² for one facility, more than any building (the largest, in Chengdu, has about 1.76 "
                              "million m²)",
             "capacity": "residents for one facility, more than any district in China"}
#: thousands separators in groups of three: 1,234 and 12,345,678.9 (read without them)
_GROUPED = r"[+-]?[0-9]{1,3}(,[0-9]{3})+(\.[0-9]+)?"


class Numbers(NamedTuple):
    """A column read by :func:`parse_numbers`: ``values`` (float64, NaN where empty or unusable), ``problem`` (per
    cell None, ``"not a number"`` or ``"ambiguous"``; None as a whole when no cell has one) and ``normalised``
    (some cell was written in full-width digits or punctuation and read after NFKC)."""

    values: np.ndarray
    problem: np.ndarray | None
    normalised: bool


def parse_numbers(raw: pd.Series, *, thousands: bool = True) -> Numbers:
    """Numbers as planners type them, vectorised; the one parser of every numeric input column.

    * plain decimals (``1234``, ``-0.5``) are read as :func:`_to_float` reads them (Arrow, to the bit); a column of
      nothing else costs one regular-expression pass more than the cast;
    * ``1,234`` and ``12,345,678`` (thousands separators in groups of three) are read without the separators, when
      ``thousands`` (not for coordinates: degrees never have thousands);
    * full-width digits and punctuation (``１２３４``, ``１，２３４．５``) are read after NFKC normalisation, which is
      lossless (``normalised`` says it happened);
    * ``12,34``, ``1.234,5``, ``116,3625`` (a decimal comma or a misplaced separator: which one cannot be told) are
      ``"ambiguous"`` and ``inf``, ``nan``, ``Infinity``, words and anything else ``"not a number"``: their value
      is NaN and the caller refuses or reports them; never a number guessed.
    """
    if pd.api.types.is_numeric_dtype(raw.dtype) and not pd.api.types.is_bool_dtype(raw.dtype):
        values = raw.to_numpy(dtype="float64", na_value=np.nan)
        infinite = np.isinf(values)
        if not infinite.any():
            return Numbers(values, None, False)
        values = values.copy()
        values[infinite] = np.nan
        return Numbers(values, np.where(infinite, "not a number", None), False)
    arr = pa.array(raw.astype("string").array)
    if pc.all(_plain_mask(arr), min_count=0).as_py():  # the fast path: every cell a plain decimal (or empty)
        return Numbers(pc.cast(arr, pa.float64()).to_numpy(zero_copy_only=False), None, False)
    # the rest in Arrow's string kernels, column at once: strip, NFKC where not ASCII, separators, words
    text = pc.utf8_trim_whitespace(arr)
    normalised = False
    if not pc.all(pc.string_is_ascii(text), min_count=0).as_py():
        nfkc = pc.utf8_trim_whitespace(pc.replace_substring(pc.utf8_normalize(text, form="NFKC"), "\u2212", "-"))
        normalised = bool(pc.any(pc.not_equal(nfkc, text)).as_py())
        text = nfkc
    comma = pc.match_substring(text, ",").fill_null(False)
    ambiguous = None
    if pc.any(comma).as_py():
        grouped = (pc.match_substring_regex(text, f"^{_GROUPED}$").fill_null(False) if thousands
                   else pa.array(np.zeros(len(text), dtype=bool)))
        ambiguous = pc.and_(comma, pc.invert(grouped))
        text = pc.replace_substring(text, ",", "")
        if pc.any(ambiguous).as_py():
            text = pc.if_else(ambiguous, pa.scalar(None, text.type), text)
    # inf, nan, Infinity parse (pandas' rules) to ±inf or NaN: not a number, as words are
    values = _to_float(pd.Series(pd.arrays.ArrowStringArray(text)))
    if not values.flags.writeable:
        values = values.copy()
    typed = pc.not_equal(text, "").fill_null(False).to_numpy(zero_copy_only=False)
    bad = typed & ~np.isfinite(values)
    ambiguous = (ambiguous.to_numpy(zero_copy_only=False) if ambiguous is not None
                 else np.zeros(len(values), dtype=bool))
    if not (bad | ambiguous).any():
        return Numbers(values, None, normalised)
    values[bad] = np.nan
    problem = np.full(len(values), None, dtype=object)
    problem[bad] = "not a number"
    problem[ambiguous] = "ambiguous"
    return Numbers(values, problem, normalised)


def number_problem(cell, problem: str) -> str:
    """How a cell :func:`parse_numbers` could not read is described in a message: ``is ambiguous ('12,34': 12.34
    with a decimal comma, or 1234 with a misplaced thousands separator?)`` or ``is not a number ('inf')``."""
    if problem == "ambiguous":
        return f"is ambiguous ({_cell(cell)}: {_ambiguity(cell)})"
    return f"is not a number ({_cell(cell)})"


#: the fix a message gives for a number that could not be read
NUMBER_FIX = {"ambiguous": "write it with a decimal point and no thousands separators, e.g. 1234 or 12.34",
              "not a number": "fix the value"}


def _ambiguity(cell) -> str:
    """Why a number with a comma cannot be read: '12,34' could be 12.34 or 1234."""
    text = unicodedata.normalize("NFKC", str(cell)).strip()
    if "," in text and "." in text and text.rfind(",") > text.rfind("."):
        european = text.replace(".", "").replace(",", ".")
        return f"a dot and a decimal comma as in European numbers ({european}?)"
    if text.count(",") == 1 and "." not in text:
        whole, part = text.split(",")
        return f"{whole}.{part} with a decimal comma, or {whole}{part} with a misplaced thousands separator?"
    return "commas that do not separate groups of three digits"


def _numeric(gdf: gpd.GeoDataFrame, column: str, *, label: str, log: WarningLog, required: bool,
             allow_negative: bool = False, maximum: float | None = None) -> pd.Series:
    """A numeric column through :func:`parse_numbers`. Cells that are not a number, ambiguous (``12,34``), negative
    (unless ``allow_negative``) or above ``maximum`` (:data:`MAX_VALUE` of the column by default) stop the run
    with the first row when ``required``; otherwise each is reported on its row and treated as unknown."""
    raw = gdf[column]
    parsed = parse_numbers(raw)
    values = pd.Series(parsed.values, index=raw.index, name=column)
    if parsed.normalised:
        log.add(label, None, f"full-width digits or punctuation in {column} read as ordinary ones (e.g. '１２３４' as "
                             "1234)", severity="info", zh=f"{column} 中的全角数字或标点已按半角读取（如 '１２３４' 读作 1234）")
    problem = parsed.problem if parsed.problem is not None else np.full(len(values), None, dtype=object)
    maximum = MAX_VALUE.get(column) if maximum is None else maximum
    checks = [
        (problem == "not a number", "is not a number"),
        (problem == "ambiguous", "is ambiguous"),
        ((values < 0).to_numpy() if not allow_negative else np.zeros(len(values), dtype=bool), "is negative"),
        ((values > maximum).to_numpy() if maximum is not None else np.zeros(len(values), dtype=bool), "is impossibly large"),
    ]
    rows = gdf["source_row"].to_numpy()
    for mask, what in checks:
        if not mask.any():
            continue
        cells = raw.to_numpy()[mask]
        zh = {"is not a number": "不是数字", "is ambiguous": "有歧义（小数逗号，还是千位分隔符？）",
              "is negative": "为负数", "is impossibly large": f"大得不可能（超过 {maximum:,.0f}，录入或单位错误？）"}[what]
        texts_zh = [f"{zh}：{_cell(c)}" for c in cells]
        if what in ("is ambiguous", "is not a number"):
            texts = [number_problem(c, "ambiguous" if what == "is ambiguous" else "not a number") for c in cells]
        elif what == "is impossibly large":
            texts = [f"{what} ({_cell(c)}: over {maximum:,.0f} {_MAX_WHAT.get(column, '')})".replace(" )", ")")
                     for c in cells]
        else:
            texts = [f"{what} ({_cell(c)})" for c in cells]
        if required:
            fix = {"is ambiguous": NUMBER_FIX["ambiguous"],
                   "is impossibly large": "fix the value (a typing or unit error?)"}.get(what, "fix the value")
            more = int(mask.sum()) - 1
            raise InputError(f"{label}, row {rows[mask][0]}: {column} {texts[0]}; {fix}"
                             + (f" (and {more} more rows)" if more else ""))
        for row, text, text_zh in zip(rows[mask], texts, texts_zh):
            log.add(label, row, f"{column} {text}; treated as unknown", zh=f"{column} {text_zh}，按未知处理")
        values[mask] = np.nan
    return values


#: cells pandas and Arrow parse to the same double (up to 15 digits); not "-0", whose sign pandas may drop
_PLAIN_NUMBER = r"^-?[0-9]+(\.[0-9]+)?$"
_NEGATIVE_ZERO = r"^-0+(\.0+)?$"


def _plain_mask(text: pa.Array) -> pa.Array:
    """Per cell: a plain decimal Arrow casts to the same double as pandas (null for empty cells)."""
    plain = pc.match_substring_regex(text, _PLAIN_NUMBER)
    if (pc.max(pc.binary_length(text)).as_py() or 0) > 15:  # some cell may have more digits: count them
        digits = pc.subtract(pc.binary_length(text), pc.add(pc.count_substring(text, "."),
                                                           pc.count_substring(text, "-")))
        plain = pc.and_(plain, pc.less_equal(digits, 15))
    if pc.any(pc.starts_with(text, "-0")).as_py():
        plain = pc.and_(plain, pc.invert(pc.match_substring_regex(text, _NEGATIVE_ZERO)))
    return plain


def _to_float(values: pd.Series) -> np.ndarray:
    """``pd.to_numeric(values, errors="coerce")`` as float64, to the bit, without its per-cell Python loop.

    A text column whose cells are all plain decimals of at most 15 digits (or empty) is parsed by Arrow, which
    rounds correctly, as pandas does for them (their digits and the power of ten are exact doubles). Any other
    cell (" 5", "1e3", "inf", "１２", more digits) sends the whole column through pandas, as before.
    """
    if isinstance(values.dtype, pd.StringDtype):
        text = pa.array(values.array)
        if pc.all(_plain_mask(text), min_count=0).as_py():
            return pc.cast(text, pa.float64()).to_numpy(zero_copy_only=False)
    return pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64")
