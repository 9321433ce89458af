"""Figures, stage outputs: what a figure draws, as numbers.

Holds :func:`figure_numbers` (the legend's community counts and the summary of a category map) and
:func:`town_numbers` (people not covered per street/town and category, the bar chart's bars), with the community
classes and the summary lines the map's panel prints — all from
:func:`geofacility.coverage.category_totals` and the communities table, the same numbers the ledger, the terminal
and the on-screen map give.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..coverage import NO_RADIUS_MEANING_EN, NO_RADIUS_MEANING_ZH, category_totals
from .fonts import _Text
from .style import _check_category, _numbers, _surveyed

def _community_classes(communities, category: str) -> np.ndarray:
    """``ok``, ``gap``, ``not_surveyed`` or ``no_population`` per community (no population wins, as on screen)."""
    status = communities[f"{category}_status"].astype(object).to_numpy() if f"{category}_status" in \
        communities.columns else np.full(len(communities), "not_surveyed", dtype=object)
    classes = np.where(status == "gap", "gap", np.where(status == "ok", "ok", "not_surveyed")).astype(object)
    return np.where(_numbers(communities, "population") > 0, classes, "no_population").astype(object)



def figure_numbers(analysis, category: str) -> dict:
    """The numbers :func:`category_figure` prints for ``category``: the legend's community counts (``ok``,
    ``gap``, ``not_surveyed``, ``no_population``) and its summary — :func:`geofacility.coverage.category_totals`
    of the communities table (``population``, ``covered``, ``not_covered``, ``communities_short``, …,
    ``meaning`` for a standard without a radius), the same numbers the ledger, the terminal and the map give."""
    _check_category(analysis, category)
    classes = _community_classes(analysis.communities, category)
    counts = {k: int((classes == k).sum()) for k in ("ok", "gap", "not_surveyed", "no_population")}
    return {**category_totals(analysis.communities, category), "legend": counts}


def _summary_lines(t: _Text, analysis, category: str, counts: dict, settings: dict) -> list:
    comm = analysis.communities
    numbers = category_totals(comm, category)
    total, lost = numbers["population"], numbers["not_covered"]
    share = f" ({lost / total:.0%})" if total > 0 else ""
    grey = "#444444"
    lines = [
        (t.bi("概况", "Summary"), 8.5, "bold", "#333333"),
        (t.bi("未覆盖人口", "people not covered:") + f" {lost:,.0f} / {total:,.0f}{share} " + t.bi("人", "people"),
         7.5, "normal", "#111111"),
        (t.bi("缺口社区", "communities with a gap:") + f" {numbers['communities_short']} / "
         f"{numbers['communities_surveyed']}", 7.5, "normal", "#111111"),
    ]
    if numbers["meaning"]:
        lines.append((t.bi(NO_RADIUS_MEANING_ZH, NO_RADIUS_MEANING_EN), 6.5, "normal", grey))
    notes = [t.bi("单位：米、人", "units: metres, people")]
    crs = analysis.crs
    name = getattr(crs, "name", "") if crs is not None else ""
    epsg = crs.to_epsg() if crs is not None and hasattr(crs, "to_epsg") else None
    if epsg or name:
        notes.append(t.bi("坐标系", "CRS") + " " + (f"EPSG:{epsg}" if epsg else "")
                     + (f" ({t.data(name)})" if name else ""))
    if settings.get("distance") == "network":
        notes.append(t.bi("距离：步行网络", "distance: walking network"))
    elif settings.get("distance"):
        notes.append(t.bi("距离：直线", "distance: straight line"))
    target = settings.get("coverage_target")
    if isinstance(target, (int, float)) and not isinstance(target, bool) and not math.isnan(target):
        notes.append(t.bi("达标＝覆盖率 ≥", "ok = covered share ≥") + f" {target * 100:g}%")
    if "approximate" in comm.columns and comm["approximate"].fillna(False).astype(bool).any():
        notes.append(t.bi("社区边界为推算", "approximate community boundaries"))
    if not t.cjk:
        notes.append("Chinese names omitted: no CJK font installed (e.g. fonts-noto-cjk)")
    lines.append(("; ".join(notes), 6.5, "normal", grey))
    return lines



def town_numbers(analysis) -> pd.DataFrame:
    """The numbers :func:`town_bar_figure` draws: people not covered (``<category>_uncovered_population`` of the
    communities table, summed) per town (rows, worst first) and surveyed category (columns)."""
    return _town_table(analysis)


def _town_table(analysis) -> pd.DataFrame:
    """People not covered per town (rows, worst first) and surveyed category (columns)."""
    comm = analysis.communities
    categories = [c for c in _surveyed(analysis) if f"{c}_uncovered_population" in comm.columns]
    towns = comm["town"].astype(object).where(comm["town"].notna(), "未知街道") if "town" in comm.columns else \
        pd.Series("未知街道", index=comm.index, dtype=object)
    frame = pd.DataFrame({c: np.nan_to_num(_numbers(comm, f"{c}_uncovered_population")) for c in categories},
                         index=comm.index)
    frame["_town"] = towns.astype(str).to_numpy()
    table = frame.groupby("_town", sort=True)[categories].sum() if categories else \
        pd.DataFrame(index=pd.Index(sorted(frame["_town"].unique()), name="_town"))
    table["_total"] = table[categories].sum(axis=1) if categories else 0.0
    table["_name"] = table.index
    table = table.sort_values(["_total", "_name"], ascending=[False, True], kind="mergesort")
    return table.drop(columns=["_total", "_name"])
