"""The map of a study (outputs stage, map): :func:`build_map` puts the layers (:mod:`.communities`,
:mod:`.facilities`, :mod:`.uncovered`), the fixed HTML (:mod:`.legend`) and the base map (:mod:`.basemaps`)
together; :func:`write_map` saves it (:mod:`.page`); :func:`category_view` is one category's special-plan map.
"""
from __future__ import annotations

from pathlib import Path

import folium
import numpy as np

from ..capacity import facilities_with_load
from ..standards import CATEGORIES, CATEGORY_SHORT_ZH
from .basemaps import BASEMAPS, _GCJ_BASEMAPS, _basemap, _shift_to_gcj02
from .communities import _communities_layer, _towns_layer
from .facilities import _catchment_layer, _category_layer, _facility_data, _sites_layer
from .geojson import _study_bounds, _wgs84
from .legend import _CSS, _legend_html, _Overlay, _panel_html, _sites_legend_html, _title_html
from .page import _make_offline, _MetricScale, save_html, stable_ids
from .style import _surveyed, _Table, esc, worst_category
from .uncovered import _over_capacity_layers, _uncovered_layers

def category_view(analysis, category: str):
    """The analysis as one category's special-plan map shows it: that category's standards, facilities, service
    areas and uncovered people; each community ``gap`` or ``ok`` for it (the count of categories short is 1 or 0,
    and empty where the category was not surveyed, outside its survey extent)."""
    from dataclasses import replace as _replace

    if category not in CATEGORIES:
        raise ValueError(f"unknown category {category!r}; use one of {', '.join(CATEGORIES)}")
    if category not in set(analysis.surveyed):
        raise ValueError(f"{category} was not surveyed: no facility data of that category were given")
    status = analysis.communities[f"{category}_status"]
    short = np.where(status == "not_surveyed", np.nan, (status == "gap").astype(float))
    areas = getattr(analysis, "service_areas", None)
    study = (analysis.settings or {}).get("study") or ""
    label = f"{CATEGORY_SHORT_ZH[category]} {category}"
    return _replace(
        analysis,
        communities=analysis.communities.assign(n_categories_short=short),
        facilities=analysis.facilities.loc[analysis.facilities["category"] == category],
        checks=[c for c in analysis.checks if c.category == category],
        surveyed=[category],
        service_areas=None if areas is None else areas.loc[areas["category"] == category],
        settings={**(analysis.settings or {}), "study": f"{study} · {label} 专项 category map".strip(" ·"),
                  "category_map": category},
    )


def build_map(analysis, *, sites=None, category: str | None = None, basemap: str = "osm", offline: bool = True,
              tianditu_key: str | None = None) -> folium.Map:
    """The coverage-and-gaps map of an :class:`~geofacility.pipeline.Analysis` (see module docstring).

    ``sites``: ``(study, selection)`` from :mod:`geofacility.siting` adds a layer of candidate rooms, the selected
    ones with their service radius (or walking catchment). ``category``: one category's special-plan map
    (:func:`category_view`). ``basemap``: ``osm`` (default), ``amap`` (GCJ-02: overlays are shifted to match),
    ``tianditu`` (needs ``tianditu_key``) or ``none``. ``offline`` (default): Leaflet inlined instead of loaded
    from a CDN, so the overlays show on a machine with no internet (district intranets) — only the base-map tiles
    need the network; ``offline=False`` links folium's CDN copies (a page 150 kB lighter)."""
    if basemap not in BASEMAPS:
        raise ValueError(f"unknown base map {basemap!r}; use one of {', '.join(BASEMAPS)}")
    if category is not None:
        analysis = category_view(analysis, category)
    if basemap in _GCJ_BASEMAPS:
        analysis, sites = _shift_to_gcj02(analysis, sites)
    surveyed = _surveyed(analysis)
    communities = _wgs84(analysis.communities, analysis.crs)
    towns = _wgs84(analysis.towns, analysis.crs)
    facilities = _wgs84(analysis.facilities, analysis.crs)
    bounds = _study_bounds(communities, towns, facilities) or _study_bounds(_wgs84(analysis.demand, analysis.crs))
    centre = [(bounds[0][0] + bounds[1][0]) / 2, (bounds[0][1] + bounds[1][1]) / 2] if bounds else [35.0, 105.0]

    m = folium.Map(location=centre, zoom_start=14 if bounds else 4, tiles=None, control_scale=False,
                   zoom_snap=0.25)  # fractional zoom: fitBounds fills the window instead of half of it
    _MetricScale().add_to(m)
    basemap_note = _basemap(m, basemap, tianditu_key)
    if offline:
        _make_offline(m)
    m.get_root().title = esc(f"{(analysis.settings or {}).get('study') or 'geofacility'} — 社区配套设施缺口")

    table = _Table(communities)  # the community columns, read once for the layer and the panel
    if len(communities):
        _communities_layer(communities, surveyed, table).add_to(m)
    if towns is not None and len(towns):
        _towns_layer(towns).add_to(m)
    areas = _wgs84(getattr(analysis, "service_areas", None), analysis.crs)
    # on foot, each category's catchments cover the map: the worst category's shown, the others in the control
    worst = worst_category(analysis.communities, surveyed) if areas is not None else None
    layers, cell_sizes = _uncovered_layers(analysis, surveyed, first=worst)
    over = _over_capacity_layers(analysis, surveyed, show=bool((analysis.settings or {}).get("category_map")))
    for layer in [*layers, *over]:
        layer.add_to(m)
    facility_data = _facility_data(facilities_with_load(facilities, getattr(analysis, "facility_load", None)))
    for category in surveyed:
        catchments = None if areas is None else _catchment_layer(category, areas, show=category == worst)
        if catchments is not None:
            catchments.add_to(m)
        _category_layer(category, facility_data, analysis.checks, areas).add_to(m)
    if sites is not None:
        _sites_layer(analysis, *sites).add_to(m)
    folium.LayerControl(collapsed=len(surveyed) > 1 or sites is not None).add_to(m)  # a long list covers the map

    _Overlay(_title_html(analysis), "gf-title", css=_CSS).add_to(m)
    legend = _legend_html(analysis, surveyed, communities, cell_sizes, basemap_note, capacity=bool(over))
    if sites is not None:  # the rooms' symbols, inside the legend's box
        head, tail = legend.rsplit("</details></div>", 1)
        legend = head + _sites_legend_html(*sites) + "</details></div>" + tail
    _Overlay(legend, "gf-legend").add_to(m)
    _Overlay(_panel_html(communities, surveyed, table), "gf-panel", zoom=True).add_to(m)
    if bounds:
        m.fit_bounds(bounds)
    stable_ids(m.get_root())
    return m


def write_map(analysis, path: str | Path, *, sites=None, **options) -> Path:
    """Build the map (``options``: those of :func:`build_map`) and save it as one HTML page at ``path``,
    atomically."""
    return save_html(build_map(analysis, sites=sites, **options), path)
