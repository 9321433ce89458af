"""The map's fixed HTML (outputs stage, map): the title, the legend (colour key, standards applied and their
totals, categories not surveyed, cell sizes, distance and units, base map, attribution, candidate rooms) and the
panel ranking the ten worst-served communities (click one to zoom to it), with their shared CSS.
"""
from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from branca.element import MacroElement
from folium.template import Template

from ..standards import CATEGORIES, CATEGORY_SHORT_ZH, label_zh
from .communities import _worst
from .style import (CATEGORY_COLOURS, NO_POPULATION_COLOUR, NOT_SURVEYED_COLOUR, OVER_CAPACITY_COLOUR,
                    OVER_CAPACITY_RING, _colour_key, _esc_a, _fmt, _pick, _Table, esc, worst_category)
from .uncovered import _cell_size_text

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


def _legend_html(analysis, surveyed: list[str], communities: pd.DataFrame,
                 cell_sizes: dict[str, float] | None = None, basemap_note: str = "", capacity: bool = False) -> str:
    settings = analysis.settings or {}
    study = esc(settings.get("study") or "")
    lines = [
        f'<details open><summary>{study}{" · " if study else ""}社区配套设施缺口 / community facility gaps</summary>',
        '<div><b>社区填色 community fill</b>（已调查类别中缺口的类别数 / surveyed categories short）</div>'
        if not settings.get("category_map") else
        '<div><b>社区填色 community fill</b>（本类别是否达标 / this category: ok or gap）</div>',
    ]
    key = _colour_key(len(surveyed))
    if "n_categories_short" in communities and communities["n_categories_short"].isna().any():
        key.append((NOT_SURVEYED_COLOUR, "未调查 not surveyed（调查范围外 outside the survey extent）"))
    for colour, label in key:
        hatch = " gf-nopop" if colour == NO_POPULATION_COLOUR else ""
        lines.append(f'<div><span class="gf-sw{hatch}" style="background-color:{colour}"></span>{label}</div>')
    lines.append("<div><b>标准与服务半径 standards &amp; service radius</b></div>")
    from ..coverage import NO_RADIUS_MEANING_EN, NO_RADIUS_MEANING_ZH, category_totals
    from ..per_standard import standard_totals

    for c in surveyed:
        labels = "；".join(esc(label_zh(ch, key=True)) for ch in analysis.checks if ch.category == c) or "—"
        lines.append(
            f'<div><span class="gf-dot" style="background:{CATEGORY_COLOURS[c]}"></span>'
            f"{CATEGORY_SHORT_ZH[c]} {c}: {labels}</div>"
        )
        totals = category_totals(communities, c)
        meaning = f"（{NO_RADIUS_MEANING_ZH} / {NO_RADIUS_MEANING_EN}）" if totals["meaning"] else ""
        lines.append(f'<div class="gf-small gf-totals" data-category="{c}">{legend_totals(totals)}{meaning}</div>')
        per_standard = legend_standard_totals(standard_totals(communities, c))
        if per_standard:  # several standards: the category's line is the weakest per community; each one here
            lines.append(f'<div class="gf-small gf-standards" data-category="{c}">{per_standard}</div>')
    missing = [c for c in CATEGORIES if c not in surveyed]
    listed = "、".join(f"{CATEGORY_SHORT_ZH[c]} {c}" for c in missing) or "无 none"
    if not settings.get("category_map"):  # a category map is about its category only
        lines.append(f"<div><b>未调查 not surveyed</b>（无设施数据，不计为缺口 / no facility data, not counted as "
                     f"gaps）: {listed}</div>")
    lines.append(
        '<div><span class="gf-dot" style="background:#000;opacity:.5"></span>'
        "未覆盖人口（服务半径外） uncovered population, out of reach（点大小 ∝ √人口 / dot size ∝ √people）</div>"
    )
    if capacity:
        lines.append(
            f'<div><span class="gf-dot" style="background:{OVER_CAPACITY_COLOUR}"></span>可达但超容量 within reach, '
            "but the facilities in reach are full（容量内可服务 = 其余人口 / served = the rest）</div>"
            f'<div><span class="gf-dot" style="background:#fff;border:2px solid {OVER_CAPACITY_RING}"></span>'
            "需求超过容量的设施 facility with more people in reach than its capacity（点击查看容量与负荷 / click for "
            "capacity and load）</div>"
        )
    for size in sorted(set((cell_sizes or {}).values())):
        names = "、".join(f"{CATEGORY_SHORT_ZH[c]} {c}" for c in surveyed if (cell_sizes or {}).get(c) == size)
        text = _cell_size_text(size)
        lines.append(
            f'<div class="gf-small">{names}: 未覆盖人口按 {text} 网格汇总，每格一点（人口加权中心）/ uncovered '
            f"population aggregated to {text} grid cells, one dot per cell at its population-weighted centre</div>"
        )
    approximate = communities["approximate"].fillna(False).astype(bool).any() if "approximate" in communities else False
    if approximate:
        lines.append('<div class="gf-note">社区边界为推算（approximate community boundaries）</div>')
    notes = ["单位：米、平方米 / units: metres, m²"]
    if settings.get("distance") == "network":
        notes.append("距离 distance: 步行网络 walking network; 服务范围 service areas = 半径内可达街道两侧 "
                     f"{esc(settings.get('buffer_m', ''))} m / streets reachable within the radius, buffered")
        worst = worst_category(communities, surveyed)
        if worst is not None and len(surveyed) > 1:
            notes.append(f"打开时显示未覆盖人口最多的类别（{CATEGORY_SHORT_ZH[worst]}）的步行服务范围，其余类别在图层"
                         f"控制中勾选 / shown on opening: the walking catchments of the category with the most "
                         f"people uncovered ({worst}); tick the others in the layer control")
    elif settings.get("distance"):
        notes.append(f"距离 distance: {esc(settings['distance'])}（直线 straight line; circles = radius）")
    target = settings.get("coverage_target")
    if isinstance(target, (int, float)) and not isinstance(target, bool) and not math.isnan(target):
        notes.append(f"覆盖率目标 coverage target {target * 100:g}%")
    lines.append(f'<div class="gf-small">{" · ".join(notes)}</div>')
    if basemap_note:
        lines.append(f'<div class="gf-small gf-basemap">{esc(basemap_note)}</div>')
    if settings.get("attribution"):
        lines.append(f'<div class="gf-small">数据 data: {esc(settings["attribution"])}</div>')
    return '<div id="gf-legend" class="gf-box">' + "".join(lines) + "</details></div>"


def _panel_html(communities_wgs84: gpd.GeoDataFrame, surveyed: list[str], table: _Table | None = None) -> str:
    table = _Table(communities_wgs84) if table is None else table
    worst = _worst(table, surveyed)
    pos, names = worst["pos"], worst["_names"]
    bounds = shapely.bounds(np.asarray(communities_wgs84.geometry.values)[pos])  # minx, miny, maxx, maxy
    items = (
        '<li class="gf-rank" data-b="[['
        + _fmt(bounds[:, 1], "{:.6f}") + "," + _fmt(bounds[:, 0], "{:.6f}") + "],["
        + _fmt(bounds[:, 3], "{:.6f}") + "," + _fmt(bounds[:, 2], "{:.6f}") + ']]"><b>'
        + _esc_a(table.obj("community", required=True)[pos]) + "</b> · "
        + _esc_a(table.obj("town", required=True)[pos])
        + "<br>缺 " + worst["_short"].astype(str).astype(object) + " 类 short"
        + _pick(names != "", ": " + names.astype(str).astype(object), "")
        + " · 人口 population " + _fmt(table.num("population", required=True)[pos]) + " 人</li>"
    )
    body = f"<ol>{''.join(items)}</ol>" if len(pos) else "<div>无缺口 no gaps</div>"
    return (
        '<div id="gf-panel" class="gf-box"><details open><summary>缺口最严重的社区 / worst-served communities'
        f"（前 {len(pos)} / top {len(pos)}）</summary>"
        '<div class="gf-small">按缺口类别数、各类未覆盖人口之和排序；点击定位 / ranked by categories short, then '
        "people uncovered summed over categories; click to zoom</div>" + body + "</details></div>"
    )


def _title_html(analysis) -> str:
    study = esc((analysis.settings or {}).get("study") or "")
    return (
        f'<div id="gf-title" class="gf-box">{study}{"<br>" if study else ""}'
        "社区配套设施缺口 / community facility gaps</div>"
    )


def legend_totals(totals: dict) -> str:
    """A category's line of numbers in the map legend, from :func:`geofacility.coverage.category_totals`:
    ``未覆盖 397,427 / 1,314,427 人 not covered · 缺口社区 186 / 264 communities short`` (and the people served
    within capacity where the split was computed)."""
    if not totals["surveyed"]:
        return "无已调查社区（调查范围外） no community surveyed (outside the survey extent)"
    text = (f"未覆盖 {totals['not_covered']:,.0f} / {totals['population']:,.0f} 人 not covered · 缺口社区 "
            f"{totals['communities_short']} / {totals['communities_surveyed']} communities short")
    if not math.isnan(totals["served"]) and totals["has_radius"]:
        text += f" · 容量内可服务 {totals['served']:,.0f} 人 served within capacity"
    return text


def legend_standard_totals(per_standard: list[dict]) -> str:
    """Per standard of a category with several (:func:`geofacility.per_standard.standard_totals`), the people not
    covered by it and the communities short of it: ``按标准 by standard：幼儿园 未覆盖 48,611 / 52,500 人，缺口社区 9；
    小学 …``; '' for a category with one standard."""
    if not per_standard:
        return ""
    return "按标准 by standard：" + "；".join(
        f"{esc(t['name'])} 未覆盖 {t['not_covered']:,.0f} / {t['population']:,.0f} 人，缺口社区 {t['communities_short']}"
        for t in per_standard)


def _sites_legend_html(study, selection) -> str:
    """The candidate rooms' part of the legend: the symbols of the rooms (selected, not selected, not selectable)
    and of the selected rooms' reach, and what the community fill means on a sites map."""
    category = study.check.category
    label = f"{CATEGORY_SHORT_ZH.get(category, category)} {category}"
    radius = study.check.radius_m
    n_sel = 0 if selection is None else len(selection.selected)
    fill = ("拟建选中房源后" if selection is not None else "现状") + f"{esc(label)} 是否达标"
    lines = [
        f'<div><b>房源 candidate rooms</b>（{len(study.candidates)} 处，可选 {len(study.eligible)} 处'
        + (f"，选中 {n_sel} 处" if selection is not None else "") + "）</div>",
        '<div><span class="gf-dot" style="background:#888888;border:1px solid #ffffff;width:10px;height:10px">'
        "</span>候选房源 candidate room（未选 not selected；点击查看可否选用及原因 / click for why）</div>",
    ]
    if selection is not None:
        lines.append('<div><span class="gf-dot" style="background:#1a9850;border:2px solid #000000;width:14px;'
                     'height:14px"></span>选中房源 selected room</div>')
        if radius:
            lines.append('<div><span class="gf-dot" style="background:rgba(26,152,80,.15);border:1px solid #1a9850;'
                         f'width:16px;height:16px"></span>选中房源服务范围 reach of a selected room（{radius:g} m）</div>')
    lines.append(f'<div class="gf-small">社区填色 community fill: {fill} / {esc(category)}: '
                 + ("with the selected rooms built" if selection is not None else "as surveyed") + "</div>")
    return "".join(lines)
