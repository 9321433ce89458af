"""The communities' layers and their data (outputs stage, map): each community's fill, tooltip and popup (its
ledger row as an HTML table), the ranking of the worst-served communities for the panel, and the street/town
outlines. All columns are read once (:class:`~geofacility.maps.style._Table`) and the HTML is built a column at a
time.
"""
from __future__ import annotations

import json

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
from folium.utilities import JsCode

from ..standards import CATEGORIES, CATEGORY_SHORT_ZH
from .geojson import _features, _geometries
from .style import (COMMUNITIES_LAYER, TOWNS_LAYER, _esc_a, _fill_a, _floats, _fmt, _has_people_a, _objects, _pick,
                    _short_a, _Table, esc)

_NOT_SURVEYED = "未调查 not surveyed"
_STATUS_HTML = {
    "ok": '<span class="gf-ok">达标 ok</span>',
    "gap": '<span class="gf-gap">缺口 gap</span>',
    "not_surveyed": _NOT_SURVEYED,
}


def _short_names(table: _Table, surveyed: list[str]) -> np.ndarray:
    names = np.full(table.n, "", dtype=object)
    for c in surveyed:
        names = names + _pick(table.obj(f"{c}_status") == "gap", CATEGORY_SHORT_ZH[c] + "、", "")
    return _objects([n.rstrip("、") for n in names.tolist()])


def _uncovered_total(table: _Table, surveyed: list[str]) -> np.ndarray:
    total = np.zeros(table.n)
    for c in surveyed:
        people = table.num(f"{c}_uncovered_population")
        total = total + np.where(np.isnan(people), 0.0, people)
    return total


def _short_status(table: _Table, surveyed: list[str]) -> np.ndarray:
    short = _short_a(table)
    text = "缺 " + short.astype(str).astype(object) + " 类 short: " + _short_names(table, surveyed)
    text = _pick(short > 0, text, "达标 ok" if surveyed else "无调查数据 no facility data")
    return _pick(_has_people_a(table), text, "无人口 no population")


def _status_html(values: np.ndarray) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    out[:] = [_STATUS_HTML[v] if isinstance(v, str) and v in _STATUS_HTML else esc(v)
              for v in values.tolist()]
    return out


def _popup_rows(table: _Table, surveyed: list[str]) -> np.ndarray:
    """One table row per surveyed category: status, covered %, uncovered people, count required / current,
    floor-area gap."""
    rows = np.full(table.n, "", dtype=object)
    for c in surveyed:
        rows = (
            rows
            + f"<tr><td>{CATEGORY_SHORT_ZH[c]}</td><td>"
            + _status_html(table.obj(f"{c}_status"))
            + "</td><td>"
            + _fmt(table.num(f"{c}_covered_share"), "{:.0f}%", 100.0)
            + _pick(np.isnan(table.num(f"{c}_radius_m")) & ~np.isnan(table.num(f"{c}_covered_share")),
                    "（无半径，按社区达标 no radius: by the rule）", "")
            + "</td><td>"
            + _fmt(table.num(f"{c}_uncovered_population"))
            + "</td><td>"
            + _fmt(table.num(f"{c}_required_count"))
            + " / "
            + _fmt(table.num(f"{c}_current_count"))
            + "</td><td>"
            + _fmt(table.num(f"{c}_gap_m2"), "{:,.0f} m²")
            + "</td></tr>"
        )
    return rows


def _popup_frame(surveyed: list[str]) -> tuple[str, str]:
    """The parts every community popup shares: the table head, and the not-surveyed rows with the closing tags.
    The map sends them once (in JavaScript) instead of once per community."""
    head = (
        '<table class="gf-t"><tr><th>类别 category</th><th>状态 status</th><th>覆盖 covered</th>'
        "<th>未覆盖人口 uncovered</th><th>数量 需/现 count req./cur.</th><th>面积缺口 floor-area gap</th></tr>"
    )
    missing = "".join(
        f'<tr class="gf-ns"><td>{CATEGORY_SHORT_ZH[c]}</td><td colspan="5">{_NOT_SURVEYED}</td></tr>'
        for c in CATEGORIES
        if c not in surveyed
    )
    return head, missing + "</table></div>"


def _community_props(table: _Table, surveyed: list[str]) -> dict[str, np.ndarray]:
    """The columns :func:`community_properties` adds, as arrays."""
    name, town = _esc_a(table.obj("community", required=True)), _esc_a(table.obj("town", required=True))
    status = _short_status(table, surveyed)
    if "approximate" in table:
        approx = table.frame["approximate"].fillna(False).astype(bool).to_numpy()
    else:
        approx = np.zeros(table.n, dtype=bool)
    note = _pick(approx, '<div class="gf-note">边界为推算 approximate boundary</div>', "")
    head = (
        '<div class="gf-pop"><b>' + name + "</b> · " + town
        + "<br>人口 population " + _fmt(table.num("population", required=True))
        + " · 户数 households " + _fmt(table.num("households"))
        + "<br>" + status + note
    )
    rows = _popup_rows(table, surveyed)
    table_head, tail = _popup_frame(surveyed)
    return {
        "fill": _fill_a(table, len(surveyed)),
        "nopop": ~_has_people_a(table),
        "tip": "<b>" + name + "</b> · " + town + "<br>" + status,
        "pop_head": head,
        "pop_rows": rows,
        "popup": head + table_head + rows + tail,
    }


def community_properties(communities: gpd.GeoDataFrame, surveyed: list[str]) -> gpd.GeoDataFrame:
    """The communities with the map's per-feature properties (vectorised): ``fill``, ``nopop``, ``tip`` (tooltip
    HTML), ``popup`` (the ledger row as an HTML table) and its per-community parts ``pop_head`` and
    ``pop_rows``. All text from the data is escaped."""
    return communities.assign(**_community_props(_Table(communities), surveyed))


def _worst(table: _Table, surveyed: list[str], n: int = 10) -> dict[str, np.ndarray]:
    """:func:`worst_communities` as row positions (``pos``) and their ``_uncovered``, ``_short``, ``_names``."""
    uncovered, short = _uncovered_total(table, surveyed), _short_a(table)
    keys = pd.DataFrame({"_short": short, "_uncovered": uncovered, "community_id": table.obj("community_id"),
                         "_pos": np.arange(table.n)})
    keys = keys[_has_people_a(table) & ((short > 0) | (uncovered > 0))]
    keys = keys.sort_values(["_short", "_uncovered", "community_id"], ascending=[False, False, True],
                            kind="mergesort").head(n)
    pos = keys["_pos"].to_numpy()
    return {"pos": pos, "_uncovered": uncovered[pos], "_short": short[pos],
            "_names": _short_names(table, surveyed)[pos]}


def worst_communities(communities: pd.DataFrame, surveyed: list[str], n: int = 10) -> pd.DataFrame:
    """The ``n`` worst-served populated communities: most categories short, then most uncovered population
    (summed over surveyed categories), then ``community_id``; only those with a gap or uncovered people."""
    worst = _worst(_Table(communities), surveyed, n)
    return communities.iloc[worst.pop("pos")].assign(**worst)


def _js_literal(text: str) -> str:
    """A JavaScript string literal of our own constant text, safe inside <script> and branca's Jinja re-parse."""
    literal = json.dumps(text, ensure_ascii=False)
    for char in "<>&'{}":
        literal = literal.replace(char, f"\\u{ord(char):04x}")
    return literal


def _communities_layer(communities: gpd.GeoDataFrame, surveyed: list[str],
                       table: _Table | None = None) -> folium.GeoJson:
    table = _Table(communities) if table is None else table
    props = _community_props(table, surveyed)
    table_head, tail = _popup_frame(surveyed)
    columns = {"community_id": table.obj("community_id", required=True),
               **{k: props[k] for k in ("fill", "nopop", "tip", "pop_head", "pop_rows")}}
    return folium.GeoJson(
        _features(_geometries(communities.geometry.values), columns),
        name=COMMUNITIES_LAYER,
        style=JsCode(
            "function (f) { var p = f.properties; return p.nopop"
            " ? {fillColor: p.fill, fillOpacity: 0.45, color: '#777', weight: 1, dashArray: '4 3'}"
            " : {fillColor: p.fill, fillOpacity: 0.72, color: '#ffffff', weight: 1}; }"
        ),
        highlight_function=lambda feature: {"weight": 3, "color": "#222222", "dashArray": ""},
        tooltip=folium.GeoJsonTooltip(fields=["tip"], labels=False, sticky=True),
        on_each_feature=JsCode(
            "function (f, layer) { var p = f.properties; layer.bindPopup(function () { return p.pop_head + "
            f"{_js_literal(table_head)} + p.pop_rows + {_js_literal(tail)}; }}, {{maxWidth: 640}}); }}"
        ),
    )


def _towns_layer(towns: gpd.GeoDataFrame) -> folium.GeoJson:
    tip = "<b>" + _esc_a(towns["town"]) + "</b>"
    if "population" in towns.columns:
        pop = _floats(towns["population"])
        tip = tip + _pick(~np.isnan(pop), "<br>人口 population " + _fmt(pop), "")
    return folium.GeoJson(
        _features(_geometries(towns.geometry.values), {"tip": tip}),
        name=TOWNS_LAYER,
        style_function=lambda feature: {"color": "#222222", "weight": 2.5, "opacity": 0.9, "fill": False},
        tooltip=folium.GeoJsonTooltip(fields=["tip"], labels=False, sticky=True),
    )
