"""Base maps and coordinate shifts (outputs stage, map): the tile layers of :data:`BASEMAPS` (OpenStreetMap,
Amap, Tianditu, none) with the legend's note on each, and the shift of every overlay from WGS84 to GCJ-02 for the
base maps whose tiles are drawn in GCJ-02 (Amap), so that they line up.
"""
from __future__ import annotations

from urllib.parse import quote_plus

import folium
import geopandas as gpd
import numpy as np
import shapely

BASEMAPS = ("osm", "amap", "tianditu", "none")
#: base maps whose tiles are in GCJ-02: the overlays are shifted to it to line up
_GCJ_BASEMAPS = {"amap"}


def _shift_to_gcj02(analysis, sites):
    """The analysis (and candidate sites) with every geometry moved to GCJ-02, so that overlays line up with a
    GCJ-02 base map (Amap): to WGS84, shifted, back to the analysis' metric CRS (radii in metres unchanged)."""
    from dataclasses import replace as _replace

    from ..read.coords import wgs84_to_gcj02

    crs = analysis.crs

    def shift(frame):
        if frame is None or not len(frame):
            return frame
        geoms = np.asarray(frame.geometry.to_crs(4326).values)
        moved = shapely.transform(geoms, lambda xy: np.column_stack(wgs84_to_gcj02(xy[:, 0], xy[:, 1])))
        return frame.set_geometry(gpd.GeoSeries(moved, index=frame.index, crs=4326).to_crs(frame.crs or crs))

    shifted = _replace(analysis, communities=shift(analysis.communities), demand=shift(analysis.demand),
                       facilities=shift(analysis.facilities), towns=shift(analysis.towns),
                       service_areas=shift(getattr(analysis, "service_areas", None)))
    if sites is not None:
        study, selection = sites
        sites = (_replace(study, candidates=shift(study.candidates)), selection)
    return shifted, sites


def _basemap(m: folium.Map, basemap: str, tianditu_key: str | None) -> str:
    """Add the base map's tile layers; the legend's note on it."""
    if basemap == "osm":
        folium.TileLayer("OpenStreetMap", control=False).add_to(m)
        return ""
    if basemap == "amap":
        folium.TileLayer(
            "https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8&x={x}&y={y}&z={z}",
            attr="&copy; 高德地图 AutoNavi", subdomains="1234", max_zoom=18, control=False).add_to(m)
        return ("底图：高德地图（GCJ-02）；所有图层已由 WGS84 偏移至 GCJ-02 以便对齐 / base map Amap (GCJ-02): "
                "every overlay shifted from WGS84 to GCJ-02 to line up")
    if basemap == "tianditu":
        if not tianditu_key:
            raise ValueError("the Tianditu base map needs a key: --tianditu-key KEY or the TIANDITU_KEY environment "
                             "variable (free from https://console.tianditu.gov.cn)")
        for layer in ("vec", "cva"):
            folium.TileLayer(
                f"https://t{{s}}.tianditu.gov.cn/{layer}_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0"
                f"&LAYER={layer}&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={{z}}&TILEROW={{y}}"
                f"&TILECOL={{x}}&tk={quote_plus(tianditu_key)}",
                attr="&copy; 天地图 Tianditu", subdomains="01234567", max_zoom=18, control=False).add_to(m)
        return "底图：天地图（CGCS2000，与 WGS84 相差不足 1 m，未偏移）/ base map Tianditu (CGCS2000, no shift)"
    if basemap == "none":
        return "无底图 no base map"
    raise ValueError(f"unknown base map {basemap!r}; use one of {', '.join(BASEMAPS)}")
