"""The figures of each standard of a category with several (kindergarten and primary school; Helsinki's three
education levels): the ``<category>_by_standard`` column.

A category's own columns give its community's weakest standard (docs/data-model.md, "Covered, served, out of
reach"); a planner also needs to know *which* facility is missing. ``<category>_by_standard`` keeps, per
community, one entry per standard, in the order of the study's checks, as a JSON list (``ledger.csv`` stays one
row per community and readable)::

    [{"subcategory": "kindergarten", "name": "幼儿园", "radius_m": 300.0, "status": "gap", "covered_share": 0.0,
      "covered_population": 0, "uncovered_population": 3500, ..., "problem_stage": "规划", "not_in_use": ""},
     {"subcategory": "primary_school", "name": "小学", ...}]

The keys other than ``subcategory`` and ``name`` are the category's column names without the ``<category>_``
prefix (:data:`FIELDS`), with the same meaning, for that standard alone; people are whole (covered rounded, the
rest derived from the rounded whole as the ledger writes them). The column is empty for a category with one
standard (its columns are that standard's) and where the category was not surveyed.
"""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd

from .coverage import whole_people

__all__ = ["FIELDS", "encode", "decode", "entry_row", "update", "standard_totals"]

#: the keys of one standard's entry, in order
FIELDS = ("subcategory", "name", "radius_m", "status", "covered_share", "covered_population", "uncovered_population",
          "served_population", "over_capacity_population", "required_count", "current_count", "count_gap",
          "required_m2", "current_m2", "gap_m2", "below_minimum", "problem", "problem_stage", "not_in_use")
_TEXT = {"subcategory", "name", "status", "below_minimum", "problem", "problem_stage", "not_in_use"}
_COUNTS = {"required_count", "current_count", "count_gap"}


def _number(value):
    """A JSON number, or None for a missing one."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(value) or math.isinf(value) else value


def _clean(entry: dict, population) -> dict:
    """One entry with its numbers rounded as the ledger writes them: shares to 4 decimals, people whole (covered
    rounded; not covered = population − covered; over capacity = covered − served), counts whole, m² and metres to
    0.1."""
    out = {}
    for key in FIELDS:
        value = entry.get(key)
        if key in _TEXT:
            out[key] = "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)
            continue
        value = _number(value)
        if value is not None:
            if key == "covered_share":
                value = round(value, 4)
            elif key.endswith("_population") or key in _COUNTS:
                value = int(round(value))
            else:
                value = round(value, 1)
        out[key] = value
    pop = _number(population)
    covered, served = out["covered_population"], out["served_population"]
    whole = whole_people(np.nan if pop is None else pop, np.nan if covered is None else covered,
                         np.nan if served is None else served)
    for field in ("uncovered_population", "over_capacity_population"):
        if not np.isnan(whole[field]):
            out[field] = int(whole[field])
    return out


def encode(entries: list[dict], population) -> str:
    """The column's text for one community: ``entries`` (dicts with :data:`FIELDS`) as a JSON list; '' for none."""
    if not entries:
        return ""
    return json.dumps([_clean(e, population) for e in entries], ensure_ascii=False, separators=(",", ":"))


def decode(value) -> list[dict]:
    """The entries of one cell of the column ([] for an empty cell, a missing value, or a ledger written before
    the column existed)."""
    if not isinstance(value, str) or not value.strip():
        return []
    text = value[1:] if value.startswith("'") else value  # a spreadsheet's escape (geofacility.ledger)
    entries = json.loads(text)
    return [{key: e.get(key) for key in FIELDS} for e in entries]


def entry_row(category: str, entry: dict) -> dict:
    """One standard's entry as a ledger row of its own (``<category>_covered_population`` …), so that the texts of
    a category's columns can be written for one standard."""
    row = {f"{category}_{k}": (np.nan if v is None else v) for k, v in entry.items() if k not in ("subcategory", "name")}
    row[f"{category}_status"] = entry.get("status") or "gap"
    return row


def update(values, population, change) -> list[str]:
    """The column with ``change(position, entries)`` applied to every non-empty cell (``change`` edits the entries
    of the community at ``position`` in place)."""
    population = np.asarray(population, dtype="float64")
    out = []
    for i, value in enumerate(values):
        entries = decode(value)
        if entries:
            change(i, entries)
        out.append(encode(entries, population[i]))
    return out


def standard_totals(communities: pd.DataFrame, category: str) -> list[dict]:
    """Per standard of ``category`` (when it has several), the totals over the communities surveyed for it:
    ``name``, ``subcategory``, ``population``, ``covered``, ``not_covered``, ``served`` (NaN where a surveyed,
    populated community lacks it), ``communities_short``; [] for a category with one standard."""
    column = f"{category}_by_standard"
    if column not in communities.columns:
        return []
    status = communities[f"{category}_status"].astype(object).to_numpy()
    population = np.round(np.nan_to_num(pd.to_numeric(communities["population"], errors="coerce")
                                         .to_numpy(dtype="float64")))
    totals: dict[str, dict] = {}
    for value, pop, st in zip(communities[column].to_numpy(dtype=object), population, status):
        if st == "not_surveyed":
            continue
        for e in decode(value):
            t = totals.setdefault(e["subcategory"], {"subcategory": e["subcategory"], "name": e["name"],
                                                     "population": 0.0, "covered": 0.0, "served": 0.0,
                                                     "communities_short": 0})
            t["population"] += pop
            t["covered"] += e["covered_population"] or 0
            served = e["served_population"]
            t["served"] += (float("nan") if pop > 0 else 0.0) if served is None else served
            t["communities_short"] += e["status"] == "gap"
    for t in totals.values():
        t["not_covered"] = t["population"] - t["covered"]
    return list(totals.values())
