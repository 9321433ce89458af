"""The map: one HTML page (Leaflet through folium) that shows a district planner which communities are short of
which facilities, where the facilities are, how far they reach and who is left outside their reach.

Layers (toggled in the layer control): communities filled by the number of surveyed categories in ``gap``
(green 0, amber 1, red shades 2+; grey dashed when the community has no population), street/town outlines,
per surveyed category the uncovered demand points and the facilities with their service-radius circles. Fixed
overlays: a title, a legend (colour key, standards applied, categories not surveyed, boundary note, units,
attribution) and a panel ranking the ten worst-served communities (click one to zoom to it).

The package, by concern (imports run down this list, never up; nothing here imports :mod:`geofacility.batch`,
which calls :func:`write_overview`):

* :mod:`.render` — the entry points :func:`build_map`, :func:`write_map`, :func:`category_view`;
  :mod:`.overview` — a batch's ``index.html`` (:func:`write_overview`);
* :mod:`.legend` — the title, legend and worst-communities panel (fixed HTML);
* :mod:`.communities`, :mod:`.facilities`, :mod:`.uncovered` — the layers and their data (popups, tooltips,
  grid cells of uncovered people, catchments, candidate rooms);
* :mod:`.basemaps` — the base maps and the shift of the overlays to GCJ-02 (Amap);
* :mod:`.page` — rendering to one HTML string, deterministic ids, Leaflet inlined for offline use;
* :mod:`.geojson` — coordinates to EPSG:4326 and GeoJSON; :mod:`.style` — escaping, colours, layer names.

Every text that comes from input data is HTML-escaped by :func:`esc`. Maps are rendered by :func:`render_html`,
and element ids are made deterministic (:func:`stable_ids`), so the same :class:`~geofacility.pipeline.Analysis`
always gives byte-identical HTML. A constant is read in the module that defines it: to change
:data:`MANY_POINTS` for a test, patch ``geofacility.maps.uncovered.MANY_POINTS``.
"""
from __future__ import annotations

from .basemaps import BASEMAPS
from .communities import community_properties, worst_communities
from .legend import legend_standard_totals, legend_totals
from .overview import OVERVIEW_KEY, group_short_share, write_overview
from .page import render_html, save_html, stable_ids
from .render import build_map, category_view, write_map
from .style import (AMBER, CATEGORY_COLOURS, COMMUNITIES_LAYER, NO_POPULATION_COLOUR, NOT_SURVEYED_COLOUR,
                    OK_COLOUR, OVER_CAPACITY_COLOUR, OVER_CAPACITY_RING, SITES_LAYER, TOWNS_LAYER,
                    catchment_layer_name, category_layer_name, community_fill, esc, fill_palette,
                    over_capacity_layer_name, uncovered_layer_name, worst_category)
from .uncovered import CELL_SIZES_M, MANY_POINTS, uncovered_cells, uncovered_demand

__all__ = [
    "build_map",
    "category_view",
    "BASEMAPS",
    "write_map",
    "write_overview",
    "render_html",
    "save_html",
    "esc",
    "fill_palette",
    "community_fill",
    "worst_communities",
    "community_properties",
    "uncovered_demand",
    "legend_totals",
    "legend_standard_totals",
    "uncovered_cells",
    "category_layer_name",
    "uncovered_layer_name",
    "catchment_layer_name",
    "over_capacity_layer_name",
    "worst_category",
    "group_short_share",
    "stable_ids",
    "COMMUNITIES_LAYER",
    "TOWNS_LAYER",
    "SITES_LAYER",
    "CATEGORY_COLOURS",
    "OK_COLOUR",
    "AMBER",
    "NO_POPULATION_COLOUR",
    "NOT_SURVEYED_COLOUR",
    "OVER_CAPACITY_COLOUR",
    "OVER_CAPACITY_RING",
    "OVERVIEW_KEY",
    "MANY_POINTS",
    "CELL_SIZES_M",
]
