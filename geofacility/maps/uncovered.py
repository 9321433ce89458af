"""The uncovered people's layers and their data (outputs stage, map): per surveyed category the demand points
beyond the service radius, and the people within reach of facilities that are full (capacity split).

A category with more than :data:`MANY_POINTS` uncovered demand points is drawn aggregated
(:func:`uncovered_cells`): square grid cells in the analysis' metric CRS, of the smallest size in
:data:`CELL_SIZES_M` (100, 200, 250, 500 m, 1 km …) giving at most :data:`MANY_POINTS` cells, one dot per cell at the
population-weighted centroid of its points, sized by √people, its tooltip the uncovered people and homes in the
cell; the legend names the aggregated layers and the cell size, and such a layer starts switched off. At or below
the threshold every point is drawn as before. (A town of 17,500 homes: a 1.9 MB page instead of 12 MB.)
"""
from __future__ import annotations

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from folium.utilities import JsCode

from ..standards import CATEGORY_SHORT_ZH
from .geojson import _features, _lonlat, _point_geometries
from .style import (OVER_CAPACITY_COLOUR, _col_f, _floats, _fmt, _pick, _primary_radius, over_capacity_layer_name,
                    uncovered_layer_name)

#: Above this many uncovered demand points a category's "uncovered population" layer is drawn as grid cells
#: (:func:`uncovered_cells`, at most this many) and starts switched off.
MANY_POINTS = 2000
#: Grid cell sizes (metres in the analysis' metric CRS) tried, smallest first, when aggregating uncovered demand.
CELL_SIZES_M = (100.0, 200.0, 250.0, 500.0, 1_000.0, 2_000.0, 2_500.0, 5_000.0, 10_000.0, 20_000.0, 25_000.0,
                50_000.0, 100_000.0)


def _uncovered_masks(analysis, categories: list[str]) -> dict[str, np.ndarray]:
    """Per category, which demand points :func:`uncovered_demand` returns (the shared work done once)."""
    demand = analysis.demand
    masks = {c: np.zeros(len(demand), dtype=bool) for c in categories}
    measured = [c for c in categories if f"dist_{c}_m" in demand.columns]
    if not measured:
        return masks
    communities = analysis.communities.drop_duplicates("community_id")
    row = pd.Index(communities["community_id"]).get_indexer(demand["community_id"])  # -1: no such community
    has_weight = _floats(demand["weight"]) > 0  # NaN is not
    for category in measured:
        column = f"dist_{category}_m"
        by_community = np.append(_col_f(communities, f"{category}_radius_m"), np.nan)  # [-1] → NaN
        radius = by_community[row]
        radius = np.where(np.isnan(radius), _primary_radius(analysis.checks, category) or np.nan, radius)
        masks[category] = (_floats(demand[column]) > radius) & has_weight
    return masks


def uncovered_demand(analysis, category: str) -> gpd.GeoDataFrame:
    """Demand points farther than the service radius from every facility of ``category``: the radius applied to
    the point's community (``<category>_radius_m``), else the category's first check radius. Empty when the
    category has no radius."""
    return analysis.demand[_uncovered_masks(analysis, [category])[category]]


def _cells(x: np.ndarray, y: np.ndarray, weight: np.ndarray, max_cells: int) -> tuple[np.ndarray, ...]:
    """:func:`uncovered_cells` on coordinate arrays (finite): centroid x and y, people, homes, and the cell size."""
    size, key, inverse = CELL_SIZES_M[-1], np.zeros(0, np.int64), np.zeros(0, np.intp)
    ix = iy = np.zeros(0, np.int64)
    for size in CELL_SIZES_M:
        if not len(x):
            break
        ix, iy = np.floor(x / size).astype(np.int64), np.floor(y / size).astype(np.int64)
        column, row = ix - ix.min(), iy - iy.min()
        key, inverse = np.unique(column * (int(row.max()) + 1) + row, return_inverse=True)
        if len(key) <= max_cells:
            break
    inverse = inverse.reshape(-1)
    n = len(key)
    homes = np.bincount(inverse, minlength=n)
    people = np.bincount(inverse, weights=weight, minlength=n)
    # centroids as offsets from each cell's south-west corner, which keeps the sums precise
    corner_x, corner_y = np.zeros(n), np.zeros(n)
    corner_x[inverse], corner_y[inverse] = ix * size, iy * size
    dx, dy = x - corner_x[inverse], y - corner_y[inverse]
    weighted = people > 0  # else the plain centroid
    total = np.where(weighted, people, np.maximum(homes, 1))
    w = np.where(weighted[inverse], weight, 1.0)
    cx = corner_x + np.bincount(inverse, weights=w * dx, minlength=n) / total
    cy = corner_y + np.bincount(inverse, weights=w * dy, minlength=n) / total
    order = np.lexsort((key, -people))  # most people first (drawn below the small ones), then by cell
    return cx[order], cy[order], people[order], homes[order], float(size)


def uncovered_cells(points: gpd.GeoDataFrame, max_cells: int | None = None) -> tuple[gpd.GeoDataFrame, float]:
    """Demand points aggregated into square grid cells of the points' (metric) CRS, for a lighter map.

    The cell size is the smallest of :data:`CELL_SIZES_M` that gives at most ``max_cells`` (default
    :data:`MANY_POINTS`) non-empty cells (the largest when none does); cells are aligned to the CRS origin. Returns
    one row per cell — ``people`` (summed ``weight``), ``homes`` (number of points), geometry the weighted centroid
    of its points (the plain centroid when they weigh nothing) — most people first, then by cell (west→east, then
    south→north); and the cell size. Points without coordinates are left out. Vectorised and deterministic."""
    geoms = np.asarray(points.geometry.values)
    x, y = shapely.get_x(geoms), shapely.get_y(geoms)
    weight = _floats(points["weight"])
    keep = np.isfinite(x) & np.isfinite(y)
    weight = np.where(np.isnan(weight[keep]), 0.0, weight[keep])
    cx, cy, people, homes, size = _cells(x[keep], y[keep], weight, MANY_POINTS if max_cells is None else max_cells)
    cells = gpd.GeoDataFrame({"people": people, "homes": homes.astype(np.int64)},
                             geometry=gpd.points_from_xy(cx, cy), crs=points.crs)
    return cells, size


def _cell_size_text(size: float) -> str:
    return f"{size:,.0f} m" if size < 1000 else f"{size / 1000:g} km"


def _uncovered_points_props(weight: np.ndarray, dist: np.ndarray, category: str) -> dict[str, np.ndarray]:
    """Dot radius (px, ∝ √people, 2–12) and tooltip of single uncovered demand points."""
    root = np.sqrt(weight)
    px = np.round(2.0 + 10.0 * root / max(float(root.max(initial=0.0)), 1e-9), 1)
    far = _pick(np.isfinite(dist), _fmt(dist, "{:,.0f} m"), "无设施 no facility")
    return {"r": px, "tip": _fmt(weight) + " 人 people · 最近 nearest " + CATEGORY_SHORT_ZH[category] + " " + far}


def _uncovered_cells_props(people: np.ndarray, homes: np.ndarray, cell_m: float) -> dict[str, np.ndarray]:
    """Dot radius (px, ∝ √people, clipped to 3–12) and tooltip of grid cells of uncovered demand."""
    px = np.round(np.clip(12.0 * np.sqrt(people / max(float(people.max(initial=0.0)), 1e-9)), 3.0, 12.0), 1)
    n_people, n_homes = _fmt(people), _fmt(homes)
    tip = ("未覆盖 " + n_people + " 人（" + n_homes + " 处）/ " + n_people + " people not covered (" + n_homes
           + _pick(homes == 1, " home), ", " homes), ") + f"{_cell_size_text(cell_m)} cell")
    return {"r": px, "tip": tip}


def _uncovered_layer(category: str, lon: np.ndarray, lat: np.ndarray, props: dict[str, np.ndarray],
                     show: bool = True) -> folium.FeatureGroup:
    """Uncovered demand of one category: a dot per demand point or grid cell at ``lon``/``lat``."""
    return _dots_layer(uncovered_layer_name(category), lon, lat, props, show)


def _dots_layer(name: str, lon: np.ndarray, lat: np.ndarray, props: dict[str, np.ndarray], show: bool = True,
                colour: str = "#000000", opacity: float = 0.45) -> folium.FeatureGroup:
    """A layer of dots sized by ``props["r"]`` with tooltip ``props["tip"]``, one per point or grid cell."""
    group = folium.FeatureGroup(name=name, show=show)
    if not len(lon):
        return group
    folium.GeoJson(
        _features(_point_geometries(lon, lat), props),
        marker=folium.CircleMarker(radius=3, stroke=False, fill_color=colour, fill_opacity=opacity),
        style=JsCode("function (f) { return {radius: f.properties.r}; }"),
        tooltip=folium.GeoJsonTooltip(fields=["tip"], labels=False),
        control=False,
    ).add_to(group)
    return group


def _uncovered_layers(analysis, surveyed: list[str], first: str | None = None
                      ) -> tuple[list[folium.FeatureGroup], dict[str, float]]:
    """The "uncovered population" layer of each surveyed category with a radius, and the cell size of those
    aggregated into grid cells (more than :data:`MANY_POINTS` points). The demand is projected once. ``first``:
    the category shown when the map opens (default the first surveyed)."""
    first = first or (surveyed[0] if surveyed else None)
    categories = [c for c in surveyed if _primary_radius(analysis.checks, c)]
    if not categories:
        return [], {}
    demand = analysis.demand
    crs = demand.crs if demand.crs is not None else analysis.crs
    masks = _uncovered_masks(analysis, categories)
    geoms = np.asarray(demand.geometry.values)
    x, y = shapely.get_x(geoms), shapely.get_y(geoms)
    located = np.isfinite(x) & np.isfinite(y)
    weight = _floats(demand["weight"])
    weight = np.where(np.isnan(weight), 0.0, weight)
    many = {c: int(masks[c].sum()) > MANY_POINTS for c in categories}
    single = np.zeros(len(demand), dtype=bool)
    for category in categories:
        if not many[category]:
            single |= masks[category] & located
    lon, lat = np.full(len(demand), np.nan), np.full(len(demand), np.nan)
    lon[single], lat[single] = _lonlat(x[single], y[single], crs)
    layers, cell_sizes = [], {}
    for category in categories:
        show = category == first and not many[category]  # one at a time reads best; heavy ones start off
        these = masks[category] & located
        if not many[category]:
            props = _uncovered_points_props(weight[these], _col_f(demand, f"dist_{category}_m")[these], category)
            layers.append(_uncovered_layer(category, lon[these], lat[these], props, show))
        else:
            cx, cy, people, homes, size = _cells(x[these], y[these], weight[these], MANY_POINTS)
            cell_sizes[category] = size
            layers.append(_uncovered_layer(category, *_lonlat(cx, cy, crs),
                                           _uncovered_cells_props(people, homes, size), show))
    return layers, cell_sizes


def _over_capacity_layers(analysis, surveyed: list[str], show: bool) -> list[folium.FeatureGroup]:
    """Per category with a capacity split, the people within reach of its facilities whom their capacity cannot
    serve (``over_capacity_<category>`` of the demand): a dot per home, or per grid cell when there are many."""
    demand = analysis.demand
    crs = demand.crs if demand.crs is not None else analysis.crs
    layers = []
    for category in surveyed:
        column = f"over_capacity_{category}"
        if column not in demand.columns:
            continue
        people = np.nan_to_num(_floats(demand[column]))
        geoms = np.asarray(demand.geometry.values)
        x, y = shapely.get_x(geoms), shapely.get_y(geoms)
        these = (people >= 0.5) & np.isfinite(x) & np.isfinite(y)
        if not these.any():
            continue
        cx, cy, total, homes, size = _cells(x[these], y[these], people[these], MANY_POINTS) \
            if these.sum() > MANY_POINTS else (x[these], y[these], people[these], np.ones(int(these.sum())), 0.0)
        root = np.sqrt(total)
        props = {"r": np.round(np.clip(2.0 + 10.0 * root / max(float(root.max()), 1e-9), 3.0, 12.0), 1),
                 "tip": "可达但超容量 " + _fmt(total) + " 人 / " + _fmt(total) + " people within reach of "
                        + CATEGORY_SHORT_ZH[category] + " facilities that are full"
                        + (f"（{_cell_size_text(size)} 网格 cell）" if size else "")}
        layers.append(_dots_layer(over_capacity_layer_name(category), *_lonlat(cx, cy, crs), props,
                                  show=show and category == surveyed[0], colour=OVER_CAPACITY_COLOUR, opacity=0.7))
    return layers
