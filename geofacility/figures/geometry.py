"""Figures, stage outputs: shapes to matplotlib, and the numbers the map's extent and scale bar use.

Holds the vectorised conversion of (multi)polygons to matplotlib paths and collections (rings oriented for the
non-zero fill rule), point coordinates of a frame, round numbers for the dot key and the scale bar (metres), and
the study area's bounds in the analysis' metric CRS.
"""
from __future__ import annotations

import math

import numpy as np
import shapely
from matplotlib.collections import PatchCollection
from matplotlib.patches import PathPatch
from matplotlib.path import Path as MplPath

def _oriented(geoms: np.ndarray) -> np.ndarray:
    """Exteriors counter-clockwise, holes clockwise: matplotlib fills with the non-zero rule."""
    if hasattr(shapely, "orient_polygons"):  # shapely ≥ 2.1
        return shapely.orient_polygons(geoms)
    from shapely.geometry.polygon import orient

    out = np.asarray(geoms, dtype=object).copy()
    for i, g in enumerate(out.tolist()):
        if g is not None and not g.is_empty and g.geom_type == "Polygon":
            out[i] = orient(g)
        elif g is not None and not g.is_empty and g.geom_type == "MultiPolygon":
            out[i] = shapely.multipolygons([orient(p) for p in g.geoms])
    return out


def _polygon_paths(geoms) -> list[MplPath]:
    """One compound matplotlib path per geometry (its polygons' rings; other parts left out), vectorised: the
    coordinates of every ring are read at once and cut per geometry."""
    geoms = np.asarray(geoms, dtype=object)
    n = len(geoms)
    if not n:
        return []
    parts, owner = shapely.get_parts(geoms, return_index=True)
    polygons = (shapely.get_type_id(parts) == 3) & ~shapely.is_empty(parts)
    parts, owner = _oriented(parts[polygons]), owner[polygons]
    rings, ring_part = shapely.get_rings(parts, return_index=True)
    coords, ring_of = shapely.get_coordinates(rings, return_index=True)
    codes = np.full(len(coords), MplPath.LINETO, dtype=MplPath.code_type)
    if len(coords):
        starts = np.flatnonzero(np.r_[True, np.diff(ring_of) != 0])
        codes[starts] = MplPath.MOVETO
        codes[np.r_[starts[1:] - 1, len(coords) - 1]] = MplPath.CLOSEPOLY
    geom_of = owner[ring_part[ring_of]] if len(coords) else np.zeros(0, dtype=np.intp)
    cuts = np.searchsorted(geom_of, np.arange(n + 1))
    return [MplPath(coords[a:b], codes[a:b]) for a, b in zip(cuts[:-1].tolist(), cuts[1:].tolist())]


def _collection(geoms, **style) -> PatchCollection:
    return PatchCollection([PathPatch(p) for p in _polygon_paths(geoms)], **style)


def _xy(frame) -> tuple[np.ndarray, np.ndarray]:
    geoms = np.asarray(frame.geometry.values)
    points = shapely.get_type_id(geoms) == 0
    x = np.where(points, shapely.get_x(np.where(points, geoms, None)), np.nan)
    y = np.where(points, shapely.get_y(np.where(points, geoms, None)), np.nan)
    return x, y


def _nice(value: float, steps=(1.0, 2.0, 2.5, 5.0)) -> float:
    """The largest 1/2/2.5/5 × 10^k not above ``value`` (> 0)."""
    if not value > 0:
        return 0.0
    exp = math.floor(math.log10(value))
    return max(s * 10 ** e for e in (exp - 1, exp) for s in steps if s * 10 ** e <= value * (1 + 1e-9))


def _scale_length(width_m: float) -> float:
    """A round scale-bar length near a fifth of the map width."""
    target = width_m / 5.0
    exp = math.floor(math.log10(target))
    options = [s * 10 ** e for e in (exp - 1, exp, exp + 1) for s in (1.0, 2.0, 2.5, 5.0)]
    return min(options, key=lambda v: (abs(math.log(v / target)), v))


def _bounds(analysis) -> tuple[float, float, float, float]:
    """The study area: communities and towns (else demand, facilities), padded 3 %."""
    frames = [analysis.communities, analysis.towns]
    boxes = [f.total_bounds for f in frames if f is not None and len(f) and np.isfinite(f.total_bounds).all()]
    if not boxes:
        boxes = [f.total_bounds for f in (analysis.demand, analysis.facilities)
                 if f is not None and len(f) and np.isfinite(f.total_bounds).all()]
    if not boxes:
        return 0.0, 0.0, 1000.0, 1000.0
    b = np.array(boxes)
    minx, miny, maxx, maxy = b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max()
    span = max(maxx - minx, maxy - miny, 100.0)
    pad = 0.03 * span
    cx, cy = (minx + maxx) / 2, (miny + maxy) / 2
    half_w, half_h = max(maxx - minx, 50.0) / 2 + pad, max(maxy - miny, 50.0) / 2 + pad
    return cx - half_w, cy - half_h, cx + half_w, cy + half_h
