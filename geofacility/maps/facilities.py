"""The facilities' layers and their data (outputs stage, map): per surveyed category the facilities (popup with
type, floor area, capacity and load, source row) with their service-radius circles, the walking catchments when
distances were measured on a network, and the candidate rooms of a ``sites`` run (selected ones with their reach).
"""
from __future__ import annotations

import functools
from pathlib import PureWindowsPath
from typing import NamedTuple

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from folium.utilities import JsCode

from ..standards import Check
from .geojson import _features, _geojson, _geometries, _wgs84
from .style import (CATEGORY_COLOURS, OVER_CAPACITY_RING, SITES_LAYER, _col_a, _col_f, _esc_a, _esc_s, _fmt,
                    _num_s, _pick, catchment_layer_name, category_layer_name)

class _Facilities(NamedTuple):
    """The facilities (EPSG:4326) as the map draws them: one entry per facility."""

    category: np.ndarray
    subcategory: np.ndarray
    geometries: list
    tip: np.ndarray
    popup: np.ndarray
    #: marker outline: white, or red for a facility over its capacity (capacity split computed)
    ring: np.ndarray | None = None


@functools.lru_cache(maxsize=1)
def _subcategory_names() -> dict[str, str]:
    """The Chinese name of each built-in subcategory key (kindergarten → 幼儿园)."""
    from ..standards import load_standards

    table = load_standards()
    return dict(zip(table["subcategory"], table["name_zh"]))


def _subcategory_text(keys: np.ndarray) -> np.ndarray:
    """A facility's type as its popup says it: the Chinese name, then the key (``幼儿园 kindergarten``); a key of no
    built-in standard as it is."""
    keys = pd.Series(keys, dtype=object)
    zh = keys.map(_subcategory_names())
    return np.where(zh.notna(), zh.astype(str) + " " + keys.astype(str), keys).astype(object)


def _facility_data(facilities: gpd.GeoDataFrame) -> _Facilities:
    name = _esc_a(_col_a(facilities, "name"))
    sub = _esc_a(_subcategory_text(_col_a(facilities, "subcategory")))
    # the file's name, not its path: a map is shared, and the same data drawn from another folder draws the same map
    source = _esc_a(pd.Series(_col_a(facilities, "source_file"), dtype=object)
                    .map(lambda v: PureWindowsPath(v).name if isinstance(v, str) else v).to_numpy(dtype=object))
    row = _fmt(_col_f(facilities, "source_row"), "{:.0f}", missing="")
    popup = (
        '<div class="gf-pop"><b>' + name + "</b><br>类型 subcategory: " + _pick(sub != "", sub, "—")
        + "<br>建筑面积 floor area: " + _fmt(_col_f(facilities, "floor_area_m2"), "{:,.0f} m²")
        + _capacity_html(facilities)
        + _pick(source != "", '<br><span class="gf-small">来源 source: ' + source + " " + row + "</span>", "")
        + "</div>"
    )
    full = _oversubscribed(facilities)
    return _Facilities(
        category=_col_a(facilities, "category"),
        subcategory=_col_a(facilities, "subcategory"),
        geometries=_geometries(facilities.geometry.values),
        tip=_pick(name != "", name, "—") + _pick(full, " · 需求超过容量 over capacity", ""),
        popup=popup,
        ring=_pick(full, OVER_CAPACITY_RING, "#ffffff"),
    )


def _oversubscribed(facilities: pd.DataFrame) -> np.ndarray:
    """Facilities with more people within their radius than their capacity (whatever the allocation method)."""
    if "load" not in facilities.columns:
        return np.zeros(len(facilities), dtype=bool)
    return _col_f(facilities, "demand_in_reach") > _col_f(facilities, "capacity_residents") * (1 + 1e-9)


_SOURCE_ZH = {"data": "数据 data", "floor area": "按面积 from floor area", "standard": "按标准 from the standard"}


def _capacity_html(facilities: pd.DataFrame) -> np.ndarray:
    """Popup lines of a facility's capacity and load, where the capacity split was computed."""
    if "load" not in facilities.columns:
        return np.full(len(facilities), "", dtype=object)
    capacity = _col_f(facilities, "capacity_residents")
    load = _col_f(facilities, "load")
    source = np.array([_SOURCE_ZH.get(v, "") for v in _col_a(facilities, "capacity_source").tolist()], dtype=object)
    text = ("<br>容量 capacity: " + _fmt(capacity) + " 人 residents（" + source + "）"
            + "<br>半径内需求 demand in reach: " + _fmt(_col_f(facilities, "demand_in_reach")) + " 人"
            + "<br>负荷 load: " + _fmt(load, "{:.0%}")
            + _pick(_oversubscribed(facilities), ' <b style="color:' + OVER_CAPACITY_RING + '">需求超过容量 over '
                                                 'capacity</b>', ""))
    return _pick(np.isfinite(load), text, "")


def _facility_radius(subcategory: np.ndarray, checks: list[Check]) -> np.ndarray:
    """The radius of the check (of the facility's category: ``checks``) whose subcategory the facility has, else
    that of the category's default check — the one such facilities count for — else its first radius."""
    by_sub = {c.subcategory: c.radius_m for c in checks if c.radius_m}
    primary = next((c.radius_m for c in sorted(checks, key=lambda c: not c.is_default) if c.radius_m), np.nan)
    radius = np.array([by_sub.get(v, np.nan) for v in subcategory.tolist()], dtype=float)
    return np.where(np.isnan(radius), primary, radius)


def _catchment_layer(category: str, areas: gpd.GeoDataFrame, show: bool) -> folium.FeatureGroup | None:
    """The walking catchments of one category's facilities (``areas``, EPSG:4326), a layer of their own: drawn
    for every category at once they cover each other, so only the worst category's starts shown. None when the
    category has no catchment (no facility)."""
    colour = CATEGORY_COLOURS[category]
    catchments = areas[(areas["category"] == category) & (areas["kind"] == "facility")]
    if not len(catchments):
        return None
    group = folium.FeatureGroup(name=catchment_layer_name(category), show=show)
    folium.GeoJson(
        _geojson(catchments.assign(radius_m=catchments["radius_m"].astype(float)), ["radius_m"]),
        style_function=lambda feature, c=colour: {"color": c, "weight": 1, "opacity": 0.6,
                                                  "fillColor": c, "fillOpacity": 0.12, "interactive": False},
        control=False,
    ).add_to(group)
    return group


def _category_layer(category: str, facilities: _Facilities, checks: list[Check],
                    areas: gpd.GeoDataFrame | None = None) -> folium.FeatureGroup:
    """Facilities of one category with their service radius circles; with ``areas`` (distances measured on a
    network) no circles: the walking catchments are :func:`_catchment_layer`'s."""
    colour = CATEGORY_COLOURS[category]
    group = folium.FeatureGroup(name=category_layer_name(category, checks), show=True)
    mine = np.flatnonzero(facilities.category == category)
    if not len(mine):
        return group
    geometries = facilities.geometries
    if areas is not None:
        radius = np.full(len(mine), np.nan)  # no circles
    else:
        radius = _facility_radius(facilities.subcategory[mine], [c for c in checks if c.category == category])
    for r in np.unique(radius[~np.isnan(radius)]).tolist():
        these = mine[radius == r]
        folium.GeoJson(
            _features([geometries[i] for i in these], {"radius_m": np.full(len(these), r)}),
            marker=folium.Circle(radius=float(r), color=colour, weight=1, opacity=0.6,
                                 fill_color=colour, fill_opacity=0.08),
            style=JsCode("function (f) { return {interactive: false}; }"),
            control=False,
        ).add_to(group)
    folium.GeoJson(
        _features([geometries[i] for i in mine], {"tip": facilities.tip[mine], "popup": facilities.popup[mine],
                                                  **({} if facilities.ring is None else
                                                     {"ring": facilities.ring[mine]})}),
        marker=folium.CircleMarker(radius=6, color="#ffffff", weight=1.5, fill_color=colour, fill_opacity=0.95),
        **({} if facilities.ring is None or not (facilities.ring[mine] != "#ffffff").any() else {"style": JsCode(
            "function (f) { return f.properties.ring === '#ffffff' ? {} : {color: f.properties.ring, weight: 3}; }")}),
        tooltip=folium.GeoJsonTooltip(fields=["tip"], labels=False),
        popup=folium.GeoJsonPopup(fields=["popup"], labels=False, max_width=360),
        control=False,
    ).add_to(group)
    return group


def _sites_layer(analysis, study, selection) -> folium.FeatureGroup:
    """Candidate rooms: selected ones green with their catchment, the others grey; popups with the evaluation."""
    group = folium.FeatureGroup(name=SITES_LAYER, show=True)
    cands = study.candidates
    chosen = np.isin(np.arange(len(cands)), selection.selected if selection is not None else [])
    radius = study.check.radius_m
    geoms = np.asarray(cands.geometry.values)
    pts = _wgs84(cands, analysis.crs)  # projected once; without the candidates that have no geometry
    chosen_pts = chosen[~(shapely.is_missing(geoms) | shapely.is_empty(geoms))]
    if radius and chosen.any():
        areas = None
        measure = getattr(analysis, "measure", None)
        if getattr(measure, "method", "") == "network":
            from ..network import service_areas, snap_points

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
            folium.GeoJson(_geojson(pts[chosen_pts].assign(r=float(radius)), ["r"]),
                           marker=folium.Circle(radius=float(radius), color="#1a9850", weight=1,
                                                fill_color="#1a9850", fill_opacity=0.12),
                           style=JsCode("function (f) { return {interactive: false}; }"),
                           control=False).add_to(group)
    popup = (
        '<div class="gf-pop"><b>' + _esc_s(pts["candidate_id"]) + " " + _esc_s(pts["name"]) + "</b><br>"
        + pd.Series(np.where(chosen_pts, "✔ 选中 selected", "未选 not selected"), index=pts.index, dtype=object)
        + "<br>建筑面积 floor area: " + _num_s(pts["floor_area_m2"], "{:,.0f} m²")
        + "<br>面积规则 area rule: " + _esc_s(pts["area_note"])
        + "<br>新增覆盖 newly covered: " + _num_s(pts["newly_covered_population"]) + " 人"
        + "<br>排序 rank: " + _num_s(pts["rank"], "{:.0f}")
        + ("<br>可否选用 selectable: " + _esc_s(pts["selectable_reason"]) if "selectable_reason" in pts else "")
        + pd.Series(np.where(pts["review_note"] != "", "<br>" + _esc_s(pts["review_note"]).astype(str), ""),
                    index=pts.index, dtype=object)
        + "</div>"
    )
    colour = np.where(chosen_pts, "#1a9850", "#888888")
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
