"""Figures, stage outputs: the layers of the printed category map, each one matplotlib collection.

Holds the drawing of the communities (filled by status, not surveyed hatched), street/town outlines and names,
the facilities' service circles or walking catchments, the people not covered as dots sized by people (grid cells
when there are more than :data:`~geofacility.maps.MANY_POINTS`), the facilities, the candidate sites of a siting
study, and the scale bar (metres), print scale and north arrow under the map. To change the number of dots for a
test, patch ``geofacility.figures.layers.MANY_POINTS``.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import shapely
from matplotlib import patheffects
from matplotlib.collections import EllipseCollection, PatchCollection
from matplotlib.colors import to_rgba
from matplotlib.patches import PathPatch, Rectangle

from ..maps import MANY_POINTS, uncovered_cells, uncovered_demand
from ..maps.facilities import _facility_radius  # the radius each facility is drawn with, as on screen
from ..standards import Check
from .fonts import _Text
from .geometry import _collection, _nice, _polygon_paths, _scale_length, _xy
from .numbers import _community_classes
from .style import (GAP_FILL, NO_POPULATION_FILL, NOT_SURVEYED_FILL, OK_FILL, _CANDIDATE_COLOUR, _DOT_COLOUR,
                    _HATCH_COLOUR, _SELECTED_COLOUR, _TOWN_COLOUR, _Layout, _numbers)

def _draw_communities(ax, communities, category: str) -> dict[str, int]:
    classes = _community_classes(communities, category)
    paths = _polygon_paths(communities.geometry.values)
    fills = {"ok": OK_FILL, "gap": GAP_FILL, "no_population": NO_POPULATION_FILL}
    plain = np.flatnonzero(classes != "not_surveyed")
    colours = [fills[c] for c in classes[plain].tolist()]
    ax.add_collection(PatchCollection(
        [PathPatch(paths[i]) for i in plain.tolist()], facecolors=colours, edgecolors="#ffffff", linewidths=0.35,
        zorder=1, gid="communities", label="communities"), autolim=False)
    hatched = np.flatnonzero(classes == "not_surveyed")
    if len(hatched):
        ax.add_collection(PatchCollection(
            [PathPatch(paths[i]) for i in hatched.tolist()], facecolors=NOT_SURVEYED_FILL,
            edgecolors=_HATCH_COLOUR, linewidths=0.35, hatch="////", zorder=1, gid="communities_not_surveyed",
            label="communities not surveyed"), autolim=False)
    return {k: int((classes == k).sum()) for k in ("ok", "gap", "not_surveyed", "no_population")}


def _draw_towns(ax, towns, t: _Text, map_width_in: float, width_m: float) -> int:
    if towns is None or not len(towns):
        return 0
    ax.add_collection(_collection(towns.geometry.values, facecolors="none", edgecolors=_TOWN_COLOUR,
                                  linewidths=1.1, zorder=4, gid="towns"), autolim=False)
    if not t.cjk and not any(t.data(v) for v in towns["town"].tolist()):
        return len(towns)
    # names at a point inside each town, with a white halo; small towns (narrower than ~0.5 inch) unlabelled
    geoms = np.asarray(towns.geometry.values)
    ok = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    inside = shapely.point_on_surface(geoms[ok])
    minx, _, maxx, _ = shapely.bounds(geoms[ok]).T
    wide = (maxx - minx) / width_m * map_width_in > 0.5
    names = towns["town"].to_numpy(dtype=object)[ok]
    halo = [patheffects.withStroke(linewidth=2.2, foreground="white")]
    font = t.font(6.5)
    for p, name, show in zip(inside.tolist(), names.tolist(), wide.tolist()):
        text = t.data(name)
        if show and text:
            ax.text(p.x, p.y, text, ha="center", va="center", fontproperties=font, color="#111111",
                    path_effects=halo, zorder=8, clip_on=True, parse_math=False, gid="town_label")
    return len(towns)


def _draw_service(ax, analysis, category: str, facilities, checks: list[Check], colour: str) -> str | None:
    """Walking catchments (when the analysis has them for this category) or circles of the service radius;
    which was drawn."""
    areas = getattr(analysis, "service_areas", None)
    if areas is not None and len(areas) and {"category", "kind"} <= set(areas.columns):
        mine = areas[(areas["category"] == category) & (areas["kind"] == "facility")]
        if len(mine):
            ax.add_collection(_collection(mine.geometry.values, facecolors=[to_rgba(colour, 0.10)],
                                          edgecolors=[to_rgba(colour, 0.7)], linewidths=0.5, zorder=2,
                                          gid="catchments"), autolim=False)
            return "catchment"
    if not len(facilities):
        return None
    radius = _facility_radius(facilities["subcategory"].to_numpy(dtype=object), checks)
    x, y = _xy(facilities)
    keep = np.isfinite(radius) & np.isfinite(x) & np.isfinite(y)
    if not keep.any():
        return None
    ax.add_collection(EllipseCollection(
        2 * radius[keep], 2 * radius[keep], np.zeros(int(keep.sum())), units="xy",
        offsets=np.column_stack([x[keep], y[keep]]), offset_transform=ax.transData,
        facecolors=[to_rgba(colour, 0.06)], edgecolors=[to_rgba(colour, 0.95)], linewidths=0.9, zorder=2,
        gid="service_circles"), autolim=False)
    return "circle"


class _Dots(NamedTuple):
    count: int
    people: float
    cell_m: float | None
    key: list[tuple[float, float]]  # (people, marker area in pt²) for the legend


_DOT_MAX_PT2 = 70.0  # marker area of the largest dot (≈ 8.4 pt across)
_DOT_MIN_PT2 = 1.5


def _dot_area(people: np.ndarray, most: float) -> np.ndarray:
    return np.maximum(_DOT_MIN_PT2, _DOT_MAX_PT2 * people / max(most, 1e-9))


def _draw_uncovered(ax, analysis, category: str) -> _Dots:
    """People not covered: one dot per demand point, or per grid cell (:func:`uncovered_cells`) when there are
    more than :data:`~geofacility.maps.MANY_POINTS`; dot area ∝ people."""
    points = uncovered_demand(analysis, category)
    if not len(points):
        return _Dots(0, 0.0, None, [])
    cell_m = None
    if len(points) > MANY_POINTS:
        cells, cell_m = uncovered_cells(points, max_cells=MANY_POINTS)
        x, y = _xy(cells)
        people = cells["people"].to_numpy(dtype=float)
    else:
        x, y = _xy(points)
        people = np.nan_to_num(_numbers(points, "weight"))
        order = np.argsort(-people, kind="stable")  # large dots below small ones
        x, y, people = x[order], y[order], people[order]
    keep = np.isfinite(x) & np.isfinite(y)
    x, y, people = x[keep], y[keep], people[keep]
    most = float(people.max()) if len(people) else 0.0
    ax.scatter(x, y, s=_dot_area(people, most), c=[_DOT_COLOUR], linewidths=0, zorder=5, gid="uncovered")
    key = []
    for value in (_nice(most), _nice(most / 4), _nice(most / 20)):
        if value > 0 and all(abs(value - v) > 1e-9 for v, _ in key):
            key.append((value, float(_dot_area(np.array([value]), most)[0])))
    return _Dots(len(people), float(people.sum()), cell_m, key)


def _draw_facilities(ax, facilities, colour: str) -> int:
    if not len(facilities):
        return 0
    x, y = _xy(facilities)
    keep = np.isfinite(x) & np.isfinite(y)
    ax.scatter(x[keep], y[keep], s=26, marker="o", c=[colour], edgecolors="white", linewidths=0.8, zorder=6,
               gid="facilities")
    return int(keep.sum())


def _draw_sites(ax, analysis, category: str, sites) -> tuple[int, int, str | None]:
    """Candidate sites of a siting study ``(study, selection)``: the selected ones green with their service
    radius (or walking catchment), the others grey."""
    study, selection = sites
    if study.check.category != category:
        raise ValueError(f"the sites are for {study.check.category}, not {category}")
    cands = study.candidates
    chosen = np.isin(np.arange(len(cands)), [] if selection is None else np.asarray(selection.selected))
    x, y = _xy(cands)
    located = np.isfinite(x) & np.isfinite(y)
    radius = study.check.radius_m
    drawn = None
    if radius and (chosen & located).any():
        measure = getattr(analysis, "measure", None)
        if getattr(measure, "method", "") == "network":
            from .network import service_areas, snap_points

            snap = snap_points(measure.network, cands.geometry.values[chosen & located], measure.max_snap_m)
            _, polys = service_areas(measure.network, snap, radius,
                                     buffer_m=(analysis.settings or {}).get("buffer_m") or 50.0)
            if len(polys):
                ax.add_collection(_collection(np.asarray(polys), facecolors=[to_rgba(_SELECTED_COLOUR, 0.10)],
                                              edgecolors=[_SELECTED_COLOUR], linewidths=0.8, linestyles="--",
                                              zorder=3, gid="site_catchments"), autolim=False)
                drawn = "catchment"
        if drawn is None:
            sel = chosen & located
            ax.add_collection(EllipseCollection(
                np.full(int(sel.sum()), 2.0 * radius), np.full(int(sel.sum()), 2.0 * radius),
                np.zeros(int(sel.sum())), units="xy", offsets=np.column_stack([x[sel], y[sel]]),
                offset_transform=ax.transData, facecolors=[to_rgba(_SELECTED_COLOUR, 0.08)],
                edgecolors=[_SELECTED_COLOUR], linewidths=0.9, linestyles="--", zorder=3, gid="site_circles"),
                autolim=False)
            drawn = "circle"
    other = ~chosen & located
    if other.any():
        ax.scatter(x[other], y[other], s=14, marker="s", c=[_CANDIDATE_COLOUR], edgecolors="white",
                   linewidths=0.5, zorder=6, gid="candidates")
    sel = chosen & located
    if sel.any():
        ax.scatter(x[sel], y[sel], s=48, marker="s", c=[_SELECTED_COLOUR], edgecolors="black", linewidths=0.9,
                   zorder=7, gid="selected_sites")
    return int(sel.sum()), int(other.sum()), drawn


def _draw_scale_and_north(fig, layout: _Layout, bounds, t: _Text) -> float:
    """Under the map: a scale bar in metres (alternating segments, a round length near a fifth of the map
    width), the print scale at A4, and a north arrow. The strip shares the map's x range and width, so its
    metres are the map's. Returns the bar length."""
    minx, _, maxx, _ = bounds
    strip = fig.add_axes(layout.strip, gid="scale_strip")
    strip.set_xlim(minx, maxx)
    strip.set_ylim(0.0, 1.0)
    strip.set_axis_off()
    width = maxx - minx
    length = _scale_length(width)
    n = 4 if (length / 4) == round(length / 4) else 2
    seg = length / n
    x0 = minx + 0.01 * width
    for i in range(n):
        strip.add_patch(Rectangle((x0 + i * seg, 0.46), seg, 0.13, facecolor="black" if i % 2 == 0 else "white",
                                  edgecolor="black", linewidth=0.7, gid="scale_bar"))
    font = t.font(7)
    for value in (0.0, length / 2, length):
        strip.text(x0 + value, 0.64, f"{value:,.0f}", ha="center", va="bottom", fontproperties=font,
                   parse_math=False, gid="scale_label")
    strip.text(x0 + length + 0.012 * width, 0.525, t.bi("米", "m") if t.cjk else "m", ha="left", va="center",
               fontproperties=font, parse_math=False, gid="scale_unit")
    denominator = width / (layout.map_width_in * 0.0254)
    strip.text(x0, 0.34, _print_scale_text(t, denominator), ha="left", va="top", fontproperties=t.font(6.5),
               color="#444444", parse_math=False, gid="print_scale")
    # north arrow (grid north of the metric CRS)
    xa = maxx - 0.03 * width
    strip.annotate("", xy=(xa, 0.98), xytext=(xa, 0.30), xycoords="data",
                   arrowprops={"arrowstyle": "-|>,head_width=0.35,head_length=0.7", "color": "black", "lw": 1.4})
    strip.text(xa - 0.012 * width, 0.62, t.bi("北", "N") if t.cjk else "N", ha="right", va="center",
               fontproperties=t.font(9, "bold"), parse_math=False, gid="north")
    return length


def _print_scale_text(t: _Text, denominator: float) -> str:
    """The scale of the map printed on A4 at 100 %, to two significant figures, e.g. 1:45,000."""
    step = 10.0 ** max(0, math.floor(math.log10(max(denominator, 1.0))) - 1)
    rounded = round(denominator / step) * step
    return t.bi(f"比例尺约 1:{rounded:,.0f}（A4 打印）", f"scale ≈ 1:{rounded:,.0f} printed on A4")
