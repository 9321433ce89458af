"""Numbers and names that gave wrong numbers silently (issue 13, section 4): the number parser every numeric column
goes through. The bad-input cases themselves are in tests/test_bad_inputs.py."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from geofacility.io import _to_float, parse_numbers

NAN = float("nan")


@pytest.mark.parametrize("cell,value,problem", [
    ("1234", 1234.0, None),
    ("1,234", 1234.0, None),  # thousands separators in groups of three
    ("12,345,678", 12_345_678.0, None),
    ("1,234.5", 1234.5, None),
    (" 5 ", 5.0, None),
    ("1e3", 1000.0, None),
    ("１２３４", 1234.0, None),  # full-width digits: NFKC
    ("１，２３４．５", 1234.5, None),
    ("－１２", -12.0, None),
    ("12,34", NAN, "ambiguous"),  # 12.34 or 1234?
    ("1.234,5", NAN, "ambiguous"),  # European
    ("116,3625", NAN, "ambiguous"),  # a decimal comma
    ("1,2345", NAN, "ambiguous"),
    ("inf", NAN, "not a number"),
    ("-inf", NAN, "not a number"),
    ("Infinity", NAN, "not a number"),
    ("nan", NAN, "not a number"),
    ("1e999", NAN, "not a number"),
    ("约三千", NAN, "not a number"),
    ("", NAN, None),  # empty: missing, the caller decides
    (None, NAN, None),
])
def test_parse_numbers(cell, value, problem):
    got = parse_numbers(pd.Series(["7", cell], dtype="str"))
    assert got.values[0] == 7.0
    assert got.values[1] == pytest.approx(value, nan_ok=True)
    assert (None if got.problem is None else got.problem[1]) == problem


@pytest.mark.parametrize("cell", ["1,234", "12,345,678", "１，２３４．５"])
def test_coordinates_never_read_thousands_separators(cell):
    got = parse_numbers(pd.Series([cell], dtype="str"), thousands=False)
    assert np.isnan(got.values[0]) and got.problem[0] == "ambiguous"


def test_numeric_columns_read_as_numbers():
    got = parse_numbers(pd.Series([1.5, np.inf, np.nan, 3]))
    assert got.values[0] == 1.5 and np.isnan(got.values[1:3]).all() and got.values[3] == 3
    assert list(got.problem) == [None, "not a number", None, None]


@pytest.mark.parametrize("cells", [
    ["116.693696567", "39.9", "-0.5", "12", None],
    ["116.12345678901234", "39.9", "1", "-0"],  # more than 15 digits, -0: pandas' own rules, as _to_float
    ["1", "2", "3"],
])
def test_plain_numbers_read_to_the_bit_as_before(cells):
    """The fast path is _to_float's: plain numbers give the same doubles, bit for bit."""
    values = pd.Series(cells, dtype="str")
    expected = _to_float(values)
    got = parse_numbers(values)
    assert got.problem is None and not got.normalised
    assert np.array_equal(np.isnan(got.values), np.isnan(expected))
    assert np.array_equal(got.values[~np.isnan(got.values)].view("i8"), expected[~np.isnan(expected)].view("i8"))
