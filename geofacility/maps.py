"""The map: one HTML page (Leaflet through folium) that shows a district planner which communities are short of
which facilities, where the facilities are, how far they reach and who is left outside their reach.

Layers (toggled in the layer control): communities filled by the number of surveyed categories in ``gap``
(green 0, amber 1, red shades 2+; grey dashed when the community has no population), street/town outlines,
per surveyed category the uncovered demand points and the facilities with their service-radius circles. Fixed
overlays: a title, a legend (colour key, standards applied, categories not surveyed, boundary note, units,
attribution) and a panel ranking the ten worst-served communities (click one to zoom to it).

Every text that comes from input data is HTML-escaped by :func:`esc`, which also neutralises the characters
that would be live inside folium's JavaScript template literals (`` ` ``, ``$``, ``\\``) and in the Jinja
templates branca re-parses every MacroElement's output with (``{``, ``}``). Element ids are made deterministic
(:func:`stable_ids`), so the same :class:`~geofacility.pipeline.Analysis` always gives byte-identical HTML.
"""
from __future__ import annotations

import hashlib
import html
import json
import math
from pathlib import Path

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from branca.element import Element, MacroElement
from folium.template import Template
from folium.utilities import JsCode

from .atomic import atomic_path
from .standards import CATEGORIES, CATEGORY_SHORT_ZH, Check

__all__ = [
    "build_map",
    "write_map",
    "esc",
    "fill_palette",
    "community_fill",
    "worst_communities",
    "community_properties",
    "uncovered_demand",
    "category_layer_name",
    "uncovered_layer_name",
    "stable_ids",
    "COMMUNITIES_LAYER",
    "TOWNS_LAYER",
]


#: Facility marker / radius colours: blues, purples and browns, kept apart from the green-amber-red fill.
CATEGORY_COLOURS: dict[str, str] = {
    "education": "#1f78b4",
    "health": "#e7298a",
    "community_service": "#6a3d9a",
    "elderly_care": "#8c510a",
    "commerce": "#01665e",
    "sports": "#3f4fbf",
    "canteen": "#525252",
}

OK_COLOUR = "#1a9850"
AMBER = "#f5a300"
NO_POPULATION_COLOUR = "#bdbdbd"
_RED_LIGHT, _RED_DARK, _RED_ONE = "#ef3b2c", "#67000d", "#d7301f"

COMMUNITIES_LAYER = "社区 communities（按缺口类别数着色 / by categories short）"
TOWNS_LAYER = "街道/镇 streets & towns"
#: Above this many uncovered demand points a category's "uncovered population" layer starts switched off.
MANY_POINTS = 2000
_NOT_SURVEYED = "未调查 not surveyed"
_STATUS_HTML = {
    "ok": '<span class="gf-ok">达标 ok</span>',
    "gap": '<span class="gf-gap">缺口 gap</span>',
    "not_surveyed": _NOT_SURVEYED,
}

_JS_SAFE = str.maketrans({"`": "&#96;", "$": "&#36;", "\\": "&#92;", "{": "&#123;", "}": "&#125;"})


def esc(value) -> str:
    """HTML-escape text from input data; also defuse `` ` `` ``$`` ``\\`` (folium puts popups and tooltips in
    JavaScript template literals) and ``{`` ``}`` (branca re-parses MacroElement output as a Jinja template).
    None/NaN → empty string."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return ""
    return html.escape(str(value), quote=True).translate(_JS_SAFE)


def _esc_s(series: pd.Series) -> pd.Series:
    return series.astype(object).map(esc).astype(object)


def _num_s(series: pd.Series, fmt: str = "{:,.0f}", scale: float = 1.0, missing: str = "—") -> pd.Series:
    values = pd.to_numeric(series, errors="coerce").astype(float) * scale
    return values.map(fmt.format, na_action="ignore").astype(object).fillna(missing)


def _col(frame: pd.DataFrame, name: str) -> pd.Series:
    """A column, or NaN when the frame lacks it (e.g. a category column of a partial ledger)."""
    return frame[name] if name in frame.columns else pd.Series(np.nan, index=frame.index)


# ---------------------------------------------------------------------------------------------- colours


def _ramp(start: str, end: str, n: int) -> list[str]:
    a = np.array([int(start[i : i + 2], 16) for i in (1, 3, 5)], dtype=float)
    b = np.array([int(end[i : i + 2], 16) for i in (1, 3, 5)], dtype=float)
    return ["#" + "".join(f"{round(v):02x}" for v in a + (b - a) * t) for t in np.linspace(0.0, 1.0, n)]


def fill_palette(n_surveyed: int) -> list[str]:
    """Fill colour by number of categories short (list index): 0 green, 1 amber, 2… red shades darkening to
    ``n_surveyed``. With one surveyed category the map is two-colour: ok green, gap red."""
    if n_surveyed <= 0:
        return [OK_COLOUR]
    if n_surveyed == 1:
        return [OK_COLOUR, _RED_ONE]
    reds = [_RED_ONE] if n_surveyed == 2 else _ramp(_RED_LIGHT, _RED_DARK, n_surveyed - 1)
    return [OK_COLOUR, AMBER, *reds]


def _has_people(communities: pd.DataFrame) -> pd.Series:
    return pd.to_numeric(communities["population"], errors="coerce").fillna(0.0) > 0


def community_fill(communities: pd.DataFrame, n_surveyed: int) -> pd.Series:
    """The fill colour of each community (vectorised): by ``n_categories_short``; grey without population."""
    palette = np.asarray(fill_palette(n_surveyed), dtype=object)
    short = pd.to_numeric(communities["n_categories_short"], errors="coerce").fillna(0).astype(int)
    colours = pd.Series(palette[short.clip(0, len(palette) - 1).to_numpy()], index=communities.index, dtype=object)
    return colours.where(_has_people(communities), NO_POPULATION_COLOUR)


def _colour_key(n_surveyed: int) -> list[tuple[str, str]]:
    def label(n: int) -> str:
        if n == 0:
            return "全部达标 all surveyed categories ok" if n_surveyed > 1 else "达标 ok"
        if n_surveyed == 1:
            return "缺口 gap"
        return f"缺 {n} 类 {n} categor{'y' if n == 1 else 'ies'} short"

    key = [(colour, label(n)) for n, colour in enumerate(fill_palette(n_surveyed))]
    return key + [(NO_POPULATION_COLOUR, "无人口 no population")]


# ---------------------------------------------------------------------------------------------- names


def _check_text(check: Check) -> str:
    radius = f"r={check.radius_m:g} m" if check.radius_m else "no radius"
    return f"{check.name_zh} {check.subcategory} {radius}"


def category_layer_name(category: str, checks: list[Check]) -> str:
    """E.g. ``教育 education — 小学 primary_school r=500 m`` (escaped: Leaflet shows layer names as HTML)."""
    applied = "; ".join(_check_text(c) for c in checks if c.category == category) or "no standard"
    return esc(f"{CATEGORY_SHORT_ZH.get(category, category)} {category} — {applied}")


def uncovered_layer_name(category: str) -> str:
    return esc(f"未覆盖人口 Uncovered population — {CATEGORY_SHORT_ZH.get(category, category)} {category}")


def _surveyed(analysis) -> list[str]:
    return [c for c in CATEGORIES if c in set(analysis.surveyed)]


def _primary_radius(checks: list[Check], category: str) -> float | None:
    return next((c.radius_m for c in checks if c.category == category and c.radius_m), None)


# ---------------------------------------------------------------------------------------------- geometry


def _wgs84(gdf: gpd.GeoDataFrame | None, crs) -> gpd.GeoDataFrame | None:
    """EPSG:4326 copy without empty geometries, coordinates rounded to 1e-6° (≈0.1 m) to keep the page small."""
    if gdf is None:
        return None
    if gdf.crs is None:
        gdf = gdf.set_crs(crs)
    out = gdf[gdf.geometry.notna() & ~gdf.geometry.is_empty].to_crs(4326)
    rounded = shapely.transform(np.asarray(out.geometry.array), lambda xy: np.round(xy, 6))
    return out.set_geometry(gpd.GeoSeries(rounded, index=out.index, crs=4326))


def _geojson(gdf: gpd.GeoDataFrame, columns: list[str]) -> dict:
    """A FeatureCollection with only ``columns`` as properties and ids 0…n-1 (folium needs an identifier).

    Built from pandas' and shapely's vectorised JSON writers (geopandas' ``to_json`` walks the features in
    Python and was a third of a map's time)."""
    table = pd.DataFrame(gdf[columns]).reset_index(drop=True)
    props = json.loads(table.to_json(orient="records", force_ascii=False, double_precision=15)) if columns \
        else [{} for _ in range(len(table))]
    geoms = shapely.to_geojson(np.asarray(gdf.geometry.values))
    features = [
        {"id": str(i), "type": "Feature", "properties": p, "geometry": None if g is None else json.loads(g)}
        for i, (p, g) in enumerate(zip(props, geoms))
    ]
    return {"type": "FeatureCollection", "features": features}


def _latlon_bounds(gdf: gpd.GeoDataFrame) -> list[list[float]]:
    minx, miny, maxx, maxy = gdf.total_bounds
    return [[float(miny), float(minx)], [float(maxy), float(maxx)]]


def _study_bounds(*frames: gpd.GeoDataFrame | None) -> list[list[float]] | None:
    """Bounds of the communities; when there are none, of whatever else has geometry."""
    for frame in frames:
        if frame is not None and len(frame):
            return _latlon_bounds(frame)
    return None


# ---------------------------------------------------------------------------------------------- properties


def _short_names(communities: pd.DataFrame, surveyed: list[str]) -> pd.Series:
    names = pd.Series("", index=communities.index, dtype=object)
    for c in surveyed:
        gap = _col(communities, f"{c}_status").eq("gap").to_numpy()
        names = names + np.where(gap, CATEGORY_SHORT_ZH[c] + "、", "").astype(object)
    return names.str.rstrip("、").astype(object)


def _uncovered_total(communities: pd.DataFrame, surveyed: list[str]) -> pd.Series:
    total = pd.Series(0.0, index=communities.index)
    for c in surveyed:
        total = total + pd.to_numeric(_col(communities, f"{c}_uncovered_population"), errors="coerce").fillna(0.0)
    return total


def _short_status(communities: pd.DataFrame, surveyed: list[str]) -> pd.Series:
    short = pd.to_numeric(communities["n_categories_short"], errors="coerce").fillna(0).astype(int)
    text = ("缺 " + short.astype(str) + " 类 short: " + _short_names(communities, surveyed)).astype(object)
    text = text.where(short > 0, "达标 ok" if surveyed else "无调查数据 no facility data")
    return text.where(_has_people(communities), "无人口 no population")


def _popup_rows(communities: pd.DataFrame, surveyed: list[str]) -> pd.Series:
    """One table row per surveyed category: status, covered %, uncovered people, count required / current,
    floor-area gap."""
    rows = pd.Series("", index=communities.index, dtype=object)
    for c in surveyed:
        status = _col(communities, f"{c}_status")
        counts = _num_s(_col(communities, f"{c}_required_count")) + " / " + _num_s(
            _col(communities, f"{c}_current_count")
        )
        rows = (
            rows
            + f"<tr><td>{CATEGORY_SHORT_ZH[c]}</td><td>"
            + status.map(_STATUS_HTML).astype(object).fillna(_esc_s(status))
            + "</td><td>"
            + _num_s(_col(communities, f"{c}_covered_share"), "{:.0f}%", 100.0)
            + "</td><td>"
            + _num_s(_col(communities, f"{c}_uncovered_population"))
            + "</td><td>"
            + counts
            + "</td><td>"
            + _num_s(_col(communities, f"{c}_gap_m2"), "{:,.0f} m²")
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


def community_properties(communities: gpd.GeoDataFrame, surveyed: list[str]) -> gpd.GeoDataFrame:
    """The communities with the map's per-feature properties (vectorised): ``fill``, ``nopop``, ``tip`` (tooltip
    HTML), ``popup`` (the ledger row as an HTML table) and its per-community parts ``pop_head`` and
    ``pop_rows``. All text from the data is escaped."""
    name, town = _esc_s(communities["community"]), _esc_s(communities["town"])
    status = _short_status(communities, surveyed)
    approx = communities["approximate"].fillna(False).astype(bool) if "approximate" in communities else False
    note = pd.Series(np.where(approx, '<div class="gf-note">边界为推算 approximate boundary</div>', ""),
                     index=communities.index, dtype=object)
    head = (
        '<div class="gf-pop"><b>' + name + "</b> · " + town
        + "<br>人口 population " + _num_s(communities["population"])
        + " · 户数 households " + _num_s(_col(communities, "households"))
        + "<br>" + status + note
    )
    rows = _popup_rows(communities, surveyed)
    table_head, tail = _popup_frame(surveyed)
    return communities.assign(
        fill=community_fill(communities, len(surveyed)),
        nopop=~_has_people(communities),
        tip="<b>" + name + "</b> · " + town + "<br>" + status,
        pop_head=head,
        pop_rows=rows,
        popup=head + table_head + rows + tail,
    )


def worst_communities(communities: pd.DataFrame, surveyed: list[str], n: int = 10) -> pd.DataFrame:
    """The ``n`` worst-served populated communities: most categories short, then most uncovered population
    (summed over surveyed categories), then ``community_id``; only those with a gap or uncovered people."""
    ranked = communities.assign(
        _uncovered=_uncovered_total(communities, surveyed),
        _short=pd.to_numeric(communities["n_categories_short"], errors="coerce").fillna(0).astype(int),
        _names=_short_names(communities, surveyed),
    )
    ranked = ranked[_has_people(ranked) & ((ranked["_short"] > 0) | (ranked["_uncovered"] > 0))]
    ranked = ranked.sort_values(
        ["_short", "_uncovered", "community_id"], ascending=[False, False, True], kind="mergesort"
    )
    return ranked.head(n)


# ---------------------------------------------------------------------------------------------- overlays


class _Overlay(MacroElement):
    """Fixed HTML on the map page (title, legend, panel); ``zoom`` adds click-to-zoom for ``[data-b]`` items."""

    _template = Template(
        """
        {% macro header(this, kwargs) %}{{ this.css }}{% endmacro %}
        {% macro html(this, kwargs) %}{{ this.content }}{% endmacro %}
        {% macro script(this, kwargs) %}
        {%- if this.zoom %}
        document.querySelectorAll('#{{ this.dom_id }} [data-b]').forEach(function (el) {
            el.addEventListener('click', function () {
                {{ this._parent.get_name() }}.fitBounds(JSON.parse(el.getAttribute('data-b')));
            });
        });
        {%- endif %}
        {% endmacro %}
        """
    )

    def __init__(self, content: str, dom_id: str, css: str = "", zoom: bool = False):
        super().__init__()
        self._name = "GfOverlay"
        self.content, self.dom_id, self.css, self.zoom = content, dom_id, css, zoom


_CSS = """<style>
.gf-box{position:fixed;z-index:1000;background:rgba(255,255,255,.94);border-radius:6px;
  box-shadow:0 1px 5px rgba(0,0,0,.4);font:12px/1.4 "Helvetica Neue",Arial,"PingFang SC","Microsoft YaHei",sans-serif;
  padding:6px 10px;color:#222}
.gf-box summary{font-weight:bold;cursor:pointer}
#gf-title{top:10px;left:50%;transform:translateX(-50%);font-size:15px;font-weight:bold;text-align:center;
  max-width:50vw}
#gf-legend{bottom:24px;left:10px;max-width:340px;max-height:55vh;overflow:auto}
#gf-panel{bottom:24px;right:10px;max-width:320px;max-height:40vh;overflow:auto}
#gf-panel li{cursor:pointer;margin-bottom:3px}
#gf-panel li:hover{background:#fee}
.gf-sw{display:inline-block;width:14px;height:11px;margin-right:5px;vertical-align:middle;border:1px solid #fff;
  outline:1px solid #aaa}
.gf-dot{display:inline-block;width:10px;height:10px;border-radius:50%;margin-right:5px;vertical-align:middle}
.gf-nopop{background-image:repeating-linear-gradient(45deg,#999 0 2px,transparent 2px 5px)}
.gf-note{color:#8a4b00;margin-top:3px}
.gf-small{color:#555;font-size:11px}
.gf-pop{font-size:12px}
.gf-t{border-collapse:collapse;margin-top:4px}
.gf-t th,.gf-t td{border:1px solid #ddd;padding:2px 5px;text-align:right;white-space:nowrap}
.gf-t th:first-child,.gf-t td:first-child{text-align:left}
.gf-ns td{color:#888}
.gf-ok{color:#1a7f3c;font-weight:bold}
.gf-gap{color:#b30000;font-weight:bold}
</style>"""


def _legend_html(analysis, surveyed: list[str], communities: pd.DataFrame) -> str:
    settings = analysis.settings or {}
    study = esc(settings.get("study") or "")
    lines = [
        f'<details open><summary>{study}{" · " if study else ""}社区配套设施缺口 / community facility gaps</summary>',
        '<div><b>社区填色 community fill</b>（已调查类别中缺口的类别数 / surveyed categories short）</div>',
    ]
    for colour, label in _colour_key(len(surveyed)):
        hatch = " gf-nopop" if colour == NO_POPULATION_COLOUR else ""
        lines.append(f'<div><span class="gf-sw{hatch}" style="background-color:{colour}"></span>{label}</div>')
    lines.append("<div><b>标准与服务半径 standards &amp; service radius</b></div>")
    for c in surveyed:
        labels = "; ".join(esc(ch.label) for ch in analysis.checks if ch.category == c) or "—"
        lines.append(
            f'<div><span class="gf-dot" style="background:{CATEGORY_COLOURS[c]}"></span>'
            f"{CATEGORY_SHORT_ZH[c]} {c}: {labels}</div>"
        )
    missing = [c for c in CATEGORIES if c not in surveyed]
    listed = "、".join(f"{CATEGORY_SHORT_ZH[c]} {c}" for c in missing) or "无 none"
    lines.append(f"<div><b>未调查 not surveyed</b>（无设施数据，不计为缺口 / no facility data, not counted as gaps）: "
                 f"{listed}</div>")
    lines.append(
        '<div><span class="gf-dot" style="background:#000;opacity:.5"></span>'
        "未覆盖人口 uncovered population（点大小 ∝ √人口 / dot size ∝ √people）</div>"
    )
    approximate = communities["approximate"].fillna(False).astype(bool).any() if "approximate" in communities else False
    if approximate:
        lines.append('<div class="gf-note">社区边界为推算（approximate community boundaries）</div>')
    notes = ["单位：米、平方米 / units: metres, m²"]
    if settings.get("distance") == "network":
        notes.append("距离 distance: 步行网络 walking network; 服务范围 service areas = 半径内可达街道两侧 "
                     f"{esc(settings.get('buffer_m', ''))} m / streets reachable within the radius, buffered")
    elif settings.get("distance"):
        notes.append(f"距离 distance: {esc(settings['distance'])}（直线 straight line; circles = radius）")
    target = settings.get("coverage_target")
    if isinstance(target, (int, float)) and not isinstance(target, bool) and not math.isnan(target):
        notes.append(f"覆盖率目标 coverage target {target * 100:g}%")
    lines.append(f'<div class="gf-small">{" · ".join(notes)}</div>')
    if settings.get("attribution"):
        lines.append(f'<div class="gf-small">数据 data: {esc(settings["attribution"])}</div>')
    return '<div id="gf-legend" class="gf-box">' + "".join(lines) + "</details></div>"


def _panel_html(communities_wgs84: gpd.GeoDataFrame, surveyed: list[str]) -> str:
    worst = worst_communities(communities_wgs84, surveyed)
    bounds = worst.geometry.bounds
    items = (
        '<li class="gf-rank" data-b="[['
        + _num_s(bounds["miny"], "{:.6f}") + "," + _num_s(bounds["minx"], "{:.6f}") + "],["
        + _num_s(bounds["maxy"], "{:.6f}") + "," + _num_s(bounds["maxx"], "{:.6f}") + ']]"><b>'
        + _esc_s(worst["community"]) + "</b> · " + _esc_s(worst["town"])
        + "<br>缺 " + worst["_short"].astype(str) + " 类 short"
        + pd.Series(np.where(worst["_names"] != "", ": " + worst["_names"].astype(str), ""),
                    index=worst.index, dtype=object)
        + " · 人口 population " + _num_s(worst["population"]) + " 人</li>"
    )
    body = f"<ol>{''.join(items)}</ol>" if len(items) else "<div>无缺口 no gaps</div>"
    return (
        '<div id="gf-panel" class="gf-box"><details open><summary>缺口最严重的社区 / worst-served communities'
        f"（前 {len(worst)} / top {len(worst)}）</summary>"
        '<div class="gf-small">按缺口类别数、各类未覆盖人口之和排序；点击定位 / ranked by categories short, then '
        "people uncovered summed over categories; click to zoom</div>" + body + "</details></div>"
    )


def _title_html(analysis) -> str:
    study = esc((analysis.settings or {}).get("study") or "")
    return (
        f'<div id="gf-title" class="gf-box">{study}{"<br>" if study else ""}'
        "社区配套设施缺口 / community facility gaps</div>"
    )


# ---------------------------------------------------------------------------------------------- layers


def _js_literal(text: str) -> str:
    """A JavaScript string literal of our own constant text, safe inside <script> and branca's Jinja re-parse."""
    literal = json.dumps(text, ensure_ascii=False)
    for char in "<>&'{}":
        literal = literal.replace(char, f"\\u{ord(char):04x}")
    return literal


def _communities_layer(communities: gpd.GeoDataFrame, surveyed: list[str]) -> folium.GeoJson:
    props = community_properties(communities, surveyed)
    table_head, tail = _popup_frame(surveyed)
    return folium.GeoJson(
        _geojson(props, ["community_id", "fill", "nopop", "tip", "pop_head", "pop_rows"]),
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
    tip = "<b>" + _esc_s(towns["town"]) + "</b>"
    if "population" in towns.columns:
        pop = pd.to_numeric(towns["population"], errors="coerce")
        tip = tip + pd.Series(
            np.where(pop.notna(), "<br>人口 population " + _num_s(pop).astype(str), ""), index=towns.index, dtype=object
        )
    return folium.GeoJson(
        _geojson(towns.assign(tip=tip), ["tip"]),
        name=TOWNS_LAYER,
        style_function=lambda feature: {"color": "#222222", "weight": 2.5, "opacity": 0.9, "fill": False},
        tooltip=folium.GeoJsonTooltip(fields=["tip"], labels=False, sticky=True),
    )


def _facility_props(facilities: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    name = _esc_s(_col(facilities, "name"))
    sub = _esc_s(_col(facilities, "subcategory"))
    source = _esc_s(_col(facilities, "source_file"))
    row = _num_s(_col(facilities, "source_row"), "{:.0f}", missing="")
    popup = (
        '<div class="gf-pop"><b>' + name + "</b><br>类型 subcategory: " + sub.where(sub != "", "—")
        + "<br>建筑面积 floor area: " + _num_s(_col(facilities, "floor_area_m2"), "{:,.0f} m²")
        + pd.Series(np.where(source != "", '<br><span class="gf-small">来源 source: ' + source.astype(str) + " "
                             + row.astype(str) + "</span>", ""), index=facilities.index, dtype=object)
        + "</div>"
    )
    return facilities.assign(tip=name.where(name != "", "—"), popup=popup)


def _facility_radius(facilities: pd.DataFrame, checks: list[Check]) -> pd.Series:
    """The radius of the check whose subcategory the facility has, else the category's first radius."""
    by_sub = {c.subcategory: c.radius_m for c in checks if c.radius_m}
    primary = next((c.radius_m for c in checks if c.radius_m), np.nan)
    return _col(facilities, "subcategory").map(by_sub).astype(float).fillna(primary)


def _category_layer(category: str, facilities: gpd.GeoDataFrame, checks: list[Check],
                    areas: gpd.GeoDataFrame | None = None) -> folium.FeatureGroup:
    """Facilities of one category with their service areas: walking catchments when distances were measured on
    a network (``areas``, EPSG:4326), circles of the service radius otherwise."""
    colour = CATEGORY_COLOURS[category]
    group = folium.FeatureGroup(name=category_layer_name(category, checks), show=True)
    mine = facilities[facilities["category"] == category]
    if mine.empty:
        return group
    if areas is not None:
        catchments = areas[(areas["category"] == category) & (areas["kind"] == "facility")]
        if len(catchments):
            folium.GeoJson(
                _geojson(catchments.assign(radius_m=catchments["radius_m"].astype(float)), ["radius_m"]),
                style_function=lambda feature, c=colour: {"color": c, "weight": 1, "opacity": 0.6,
                                                          "fillColor": c, "fillOpacity": 0.12,
                                                          "interactive": False},
                control=False,
            ).add_to(group)
        radius = pd.Series(np.nan, index=mine.index)  # no circles
    else:
        radius = _facility_radius(mine, checks)
    for r in sorted(radius.dropna().unique()):
        folium.GeoJson(
            _geojson(mine[radius == r].assign(radius_m=float(r)), ["radius_m"]),
            marker=folium.Circle(radius=float(r), color=colour, weight=1, opacity=0.6,
                                 fill_color=colour, fill_opacity=0.08),
            style=JsCode("function (f) { return {interactive: false}; }"),
            control=False,
        ).add_to(group)
    folium.GeoJson(
        _geojson(_facility_props(mine), ["tip", "popup"]),
        marker=folium.CircleMarker(radius=6, color="#ffffff", weight=1.5, fill_color=colour, fill_opacity=0.95),
        tooltip=folium.GeoJsonTooltip(fields=["tip"], labels=False),
        popup=folium.GeoJsonPopup(fields=["popup"], labels=False, max_width=360),
        control=False,
    ).add_to(group)
    return group


def uncovered_demand(analysis, category: str) -> gpd.GeoDataFrame:
    """Demand points farther than the service radius from every facility of ``category``: the radius applied to
    the point's community (``<category>_radius_m``), else the category's first check radius. Empty when the
    category has no radius."""
    demand, column = analysis.demand, f"dist_{category}_m"
    if column not in demand.columns:
        return demand.iloc[0:0]
    communities = analysis.communities.drop_duplicates("community_id").set_index("community_id")
    radius = demand["community_id"].map(_col(communities, f"{category}_radius_m")).astype(float)
    radius = radius.fillna(_primary_radius(analysis.checks, category) or np.nan)
    weight = pd.to_numeric(demand["weight"], errors="coerce").fillna(0.0)
    mask = (pd.to_numeric(demand[column], errors="coerce") > radius) & (weight > 0)
    return demand[mask.to_numpy()]


def _uncovered_layer(points: gpd.GeoDataFrame, category: str, show: bool = True) -> folium.FeatureGroup:
    group = folium.FeatureGroup(name=uncovered_layer_name(category), show=show and len(points) <= MANY_POINTS)
    if points.empty:
        return group
    weight = pd.to_numeric(points["weight"], errors="coerce").fillna(0.0)
    root = np.sqrt(weight)
    px = (2.0 + 10.0 * root / max(float(root.max()), 1e-9)).round(1)
    dist = pd.to_numeric(points[f"dist_{category}_m"], errors="coerce")
    far = _num_s(dist, "{:,.0f} m").where(np.isfinite(dist), "无设施 no facility")
    tip = _num_s(weight) + " 人 people · 最近 nearest " + CATEGORY_SHORT_ZH[category] + " " + far
    folium.GeoJson(
        _geojson(points.assign(r=px, tip=tip), ["r", "tip"]),
        marker=folium.CircleMarker(radius=3, stroke=False, fill_color="#000000", fill_opacity=0.45),
        style=JsCode("function (f) { return {radius: f.properties.r}; }"),
        tooltip=folium.GeoJsonTooltip(fields=["tip"], labels=False),
        control=False,
    ).add_to(group)
    return group


# ---------------------------------------------------------------------------------------------- the map


def stable_ids(root: Element, seed: str = "geofacility") -> None:
    """Replace the random ids of ``root`` and every element below it (children and element attributes such as
    a popup's html/script holders) with ids hashed from ``seed`` and the element's depth-first position."""
    seen: set[int] = set()
    stack = [root]
    n = 0
    while stack:
        element = stack.pop()
        if id(element) in seen:
            continue
        seen.add(id(element))
        element._id = hashlib.md5(f"{seed}:{n}".encode()).hexdigest()
        n += 1
        attached = [
            v for k, v in sorted(vars(element).items())
            if isinstance(v, Element) and k not in ("_parent", "parent_map")
        ]
        stack.extend(reversed([*element._children.values(), *attached]))


class _MetricScale(MacroElement):
    """Leaflet's scale bar in metres only (folium's ``control_scale`` also shows feet)."""

    _template = Template(
        "{% macro script(this, kwargs) %}"
        "L.control.scale({imperial: false, metric: true, position: 'bottomleft'}).addTo({{ this._parent.get_name() }});"
        "{% endmacro %}"
    )


SITES_LAYER = "房源 candidate sites (选中 selected / 未选 not selected)"


def _sites_layer(analysis, study, selection) -> folium.FeatureGroup:
    """Candidate rooms: selected ones green with their catchment, the others grey; popups with the evaluation."""
    group = folium.FeatureGroup(name=SITES_LAYER, show=True)
    cands = study.candidates
    chosen = np.isin(np.arange(len(cands)), selection.selected if selection is not None else [])
    radius = study.check.radius_m
    if radius and chosen.any():
        areas = None
        measure = getattr(analysis, "measure", None)
        if getattr(measure, "method", "") == "network":
            from .network import service_areas, snap_points

            snap = snap_points(measure.network, cands.geometry.values[chosen], measure.max_snap_m)
            _, polys = service_areas(measure.network, snap, radius,
                                     buffer_m=(analysis.settings or {}).get("buffer_m") or 50.0)
            areas = gpd.GeoDataFrame(geometry=list(polys), crs=analysis.crs)
        if areas is not None and len(areas):
            folium.GeoJson(_geojson(_wgs84(areas, analysis.crs).assign(k=1), ["k"]),
                           style_function=lambda f: {"color": "#1a9850", "weight": 1, "fillColor": "#1a9850",
                                                     "fillOpacity": 0.15, "interactive": False},
                           control=False).add_to(group)
        else:
            pts = _wgs84(cands.loc[chosen], analysis.crs)
            folium.GeoJson(_geojson(pts.assign(r=float(radius)), ["r"]),
                           marker=folium.Circle(radius=float(radius), color="#1a9850", weight=1,
                                                fill_color="#1a9850", fill_opacity=0.12),
                           style=JsCode("function (f) { return {interactive: false}; }"),
                           control=False).add_to(group)
    pts = _wgs84(cands, analysis.crs)
    popup = (
        '<div class="gf-pop"><b>' + _esc_s(pts["candidate_id"]) + " " + _esc_s(pts["name"]) + "</b><br>"
        + pd.Series(np.where(chosen, "✔ 选中 selected", "未选 not selected"), index=pts.index, dtype=object)
        + "<br>建筑面积 floor area: " + _num_s(pts["floor_area_m2"], "{:,.0f} m²")
        + "<br>面积规则 area rule: " + _esc_s(pts["area_note"])
        + "<br>新增覆盖 newly covered: " + _num_s(pts["newly_covered_population"]) + " 人"
        + "<br>排序 rank: " + _num_s(pts["rank"], "{:.0f}")
        + pd.Series(np.where(pts["review_note"] != "", "<br>" + _esc_s(pts["review_note"]).astype(str), ""),
                    index=pts.index, dtype=object)
        + "</div>"
    )
    colour = np.where(chosen, "#1a9850", "#888888")
    for flag, fill in ((True, "#1a9850"), (False, "#888888")):
        part = pts.assign(popup=popup, tip=_esc_s(pts["name"]))[colour == fill]
        if len(part):
            folium.GeoJson(
                _geojson(part, ["tip", "popup"]),
                marker=folium.CircleMarker(radius=8 if flag else 5, color="#000000" if flag else "#ffffff",
                                           weight=2 if flag else 1, fill_color=fill, fill_opacity=0.95),
                tooltip=folium.GeoJsonTooltip(fields=["tip"], labels=False),
                popup=folium.GeoJsonPopup(fields=["popup"], labels=False, max_width=360),
                control=False,
            ).add_to(group)
    return group


def build_map(analysis, sites=None) -> folium.Map:
    """The coverage-and-gaps map of an :class:`~geofacility.pipeline.Analysis` (see module docstring).

    ``sites``: ``(study, selection)`` from :mod:`geofacility.siting` adds a layer of candidate rooms, the selected
    ones with their service radius (or walking catchment)."""
    surveyed = _surveyed(analysis)
    communities = _wgs84(analysis.communities, analysis.crs)
    towns = _wgs84(analysis.towns, analysis.crs)
    facilities = _wgs84(analysis.facilities, analysis.crs)
    bounds = _study_bounds(communities, towns, facilities) or _study_bounds(_wgs84(analysis.demand, analysis.crs))
    centre = [(bounds[0][0] + bounds[1][0]) / 2, (bounds[0][1] + bounds[1][1]) / 2] if bounds else [35.0, 105.0]

    m = folium.Map(location=centre, zoom_start=14 if bounds else 4, tiles=None, control_scale=False,
                   zoom_snap=0.25)  # fractional zoom: fitBounds fills the window instead of half of it
    _MetricScale().add_to(m)
    folium.TileLayer("OpenStreetMap", control=False).add_to(m)
    m.get_root().title = esc(f"{(analysis.settings or {}).get('study') or 'geofacility'} — 社区配套设施缺口")

    if len(communities):
        _communities_layer(communities, surveyed).add_to(m)
    if towns is not None and len(towns):
        _towns_layer(towns).add_to(m)
    for i, category in enumerate(surveyed):
        if _primary_radius(analysis.checks, category):
            points = _wgs84(uncovered_demand(analysis, category), analysis.crs)
            _uncovered_layer(points, category, show=i == 0).add_to(m)  # one at a time reads best
    areas = _wgs84(getattr(analysis, "service_areas", None), analysis.crs)
    for category in surveyed:
        _category_layer(category, facilities, analysis.checks, areas).add_to(m)
    if sites is not None:
        _sites_layer(analysis, *sites).add_to(m)
    folium.LayerControl(collapsed=len(surveyed) > 1 or sites is not None).add_to(m)  # a long list covers the map

    _Overlay(_title_html(analysis), "gf-title", css=_CSS).add_to(m)
    _Overlay(_legend_html(analysis, surveyed, communities), "gf-legend").add_to(m)
    _Overlay(_panel_html(communities, surveyed), "gf-panel", zoom=True).add_to(m)
    if bounds:
        m.fit_bounds(bounds)
    stable_ids(m.get_root())
    return m


def write_map(analysis, path: str | Path, sites=None) -> Path:
    """Build the map and save it as one self-contained HTML page at ``path``, atomically."""
    path = Path(path)
    m = build_map(analysis, sites)
    with atomic_path(path) as tmp:
        m.save(str(tmp))
    return path


# ---------------------------------------------------------------------------------------------- batch overview

OVERVIEW_KEY = [(0.0, "#1a9850", "无未达标社区 no community short"), (0.25, "#fdae61", "≤ 25 % 社区未达标 short"),
                (0.5, "#e34a33", "25–50 %"), (1.01, "#b30000", "> 50 %")]


def write_overview(communities: gpd.GeoDataFrame, summary: pd.DataFrame, *, by: str, folders: dict, path,
                   title: str = "") -> Path:
    """``index.html`` of a batch: one polygon per group coloured by the largest share of its communities short
    of standard in any surveyed category (the palette of the community maps), linking each group's map and
    ledger; failed groups grey with their error."""
    from urllib.parse import quote

    from .batch import group_short_share

    path = Path(path)
    crs = communities.crs
    values = communities[by].astype(object).where(communities[by].notna(), "未知").astype(str)
    groups = communities.assign(_g=values).dissolve(by="_g", as_index=False)[["_g", "geometry"]]
    share = group_short_share(summary)
    failed = summary.loc[summary["status"] == "failed"].groupby("group")["error"].first()
    pop = summary.groupby("group")["population"].max()

    def colour(g):
        if g in failed.index:
            return "#bdbdbd"
        value = share.get(g, np.nan)
        if pd.isna(value):
            return "#d9d9d9"
        if value <= 0:
            return OVERVIEW_KEY[0][1]
        return next(c for limit, c, _ in OVERVIEW_KEY[1:] if value <= limit)

    names = groups["_g"]
    folder = names.map(lambda g: quote(folders.get(g, g)))
    popup = (
        "<b>" + _esc_s(names) + "</b><br>"
        + names.map(lambda g: esc(f"失败 failed: {failed[g]}") if g in failed.index else
                    f"未达标社区最多 share short (worst category): {share.get(g, float('nan')):.0%}")
        + "<br>人口 population: " + _num_s(names.map(pop))
        + '<br><a href="' + folder + '/map.html" target="_blank">地图 map</a> · <a href="' + folder
        + '/ledger.xlsx">台账 ledger.xlsx</a> · <a href="' + folder + '/ledger.csv">ledger.csv</a>'
    )
    frame = _wgs84(groups.assign(fill=names.map(colour), tip=_esc_s(names), popup=popup).set_crs(crs,
                                                                                            allow_override=True),
                   crs)
    bounds = _latlon_bounds(frame)
    m = folium.Map(location=[(bounds[0][0] + bounds[1][0]) / 2, (bounds[0][1] + bounds[1][1]) / 2], zoom_start=10,
                   tiles=None, zoom_snap=0.25)
    _MetricScale().add_to(m)
    folium.TileLayer("OpenStreetMap", control=False).add_to(m)
    folium.GeoJson(
        _geojson(frame, ["fill", "tip", "popup"]), name=esc(f"{by} 分组 groups"),
        style_function=lambda f: {"fillColor": f["properties"]["fill"], "color": "#ffffff", "weight": 1.5,
                                  "fillOpacity": 0.75},
        tooltip=folium.GeoJsonTooltip(fields=["tip"], labels=False),
        popup=folium.GeoJsonPopup(fields=["popup"], labels=False, max_width=380),
    ).add_to(m)
    key = "".join(f'<div><span class="gf-sw" style="background:{c}"></span>{esc(label)}</div>'
                  for _, c, label in OVERVIEW_KEY)
    legend = (f'<div id="gf-legend" class="gf-box"><b>{esc(title)} 分组汇总 / batch overview</b><br>'
              "按最差类别的未达标社区比例着色 / coloured by the share of communities short in the worst category"
              f'{key}<div><span class="gf-sw" style="background:#bdbdbd"></span>失败 failed</div>'
              "点击分组打开其地图和台账 / click a group for its map and ledger</div>")
    _Overlay(legend, "gf-legend", css=_CSS).add_to(m)
    m.fit_bounds(bounds)
    stable_ids(m.get_root())
    with atomic_path(path) as tmp:
        m.save(str(tmp))
    return path
