"""The overlays' coordinates (outputs stage, map): geometries to EPSG:4326 rounded to 1e-6° (≈0.1 m), and
GeoJSON FeatureCollections built from numpy columns (one JSON parse per layer, not one per feature), and the
study's bounds in latitude/longitude.
"""
from __future__ import annotations

import functools
import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

@functools.lru_cache(maxsize=16)
def _to_wgs84(crs) -> pyproj.Transformer | None:
    """The transformer from ``crs`` to EPSG:4326 (what ``to_crs(4326)`` uses); None when ``crs`` is EPSG:4326."""
    crs = pyproj.CRS.from_user_input(crs)
    if crs.is_exact_same(pyproj.CRS.from_epsg(4326)):
        return None
    return pyproj.Transformer.from_crs(crs, 4326, always_xy=True)


def _lonlat(x: np.ndarray, y: np.ndarray, crs) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates in EPSG:4326, rounded to 1e-6° (≈0.1 m) to keep the page small."""
    transformer = _to_wgs84(crs)
    if transformer is not None and len(x):
        x, y = transformer.transform(x, y)
    return np.round(np.asarray(x, dtype=float), 6), np.round(np.asarray(y, dtype=float), 6)


def _wgs84_geometries(geoms: np.ndarray, crs) -> np.ndarray:
    return shapely.transform(geoms, lambda xy: np.column_stack(_lonlat(xy[:, 0], xy[:, 1], crs)))


def _wgs84(gdf: gpd.GeoDataFrame | None, crs) -> gpd.GeoDataFrame | None:
    """EPSG:4326 copy without empty geometries, coordinates rounded to 1e-6° (≈0.1 m) to keep the page small.
    ``crs``: that of ``gdf`` when it has none."""
    if gdf is None:
        return None
    geoms = np.asarray(gdf.geometry.values)
    keep = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    out = gdf if keep.all() else gdf[keep]
    rounded = _wgs84_geometries(geoms[keep], gdf.crs if gdf.crs is not None else crs)
    return out.set_geometry(gpd.GeoSeries(rounded, index=out.index, crs=4326))


def wgs84_geojson_geometries(gdf: gpd.GeoDataFrame) -> tuple[np.ndarray, list]:
    """For pages other than the folium maps (the workbench's layers): the positions of ``gdf``'s non-empty
    geometries, and those geometries as GeoJSON dicts in EPSG:4326 rounded to 1e-6° (≈0.1 m), as the maps draw
    them (one JSON parse for all, not one per feature)."""
    geoms = np.asarray(gdf.geometry.values)
    keep = np.flatnonzero(~(shapely.is_missing(geoms) | shapely.is_empty(geoms)))
    return keep, _geometries(_wgs84_geometries(geoms[keep], gdf.crs))


def _json_values(values) -> list:
    """A column as JSON-ready Python values: numpy scalars unwrapped, NaN/None/NA as null (as pandas writes)."""
    return [None if v is None or v is pd.NA or (isinstance(v, float) and v != v) else v
            for v in np.asarray(values).tolist()]


def _point_geometries(lon: np.ndarray, lat: np.ndarray) -> list[dict]:
    return [{"type": "Point", "coordinates": xy} for xy in np.column_stack([lon, lat]).tolist()]


def _geometries(geoms: np.ndarray) -> list:
    """GeoJSON geometry dicts (None for missing geometries)."""
    geoms = np.asarray(geoms)
    if len(geoms) and (shapely.get_type_id(geoms) == 0).all() and not (shapely.is_empty(geoms)
                                                                        | shapely.has_z(geoms)).any():
        return _point_geometries(shapely.get_x(geoms), shapely.get_y(geoms))  # no JSON text on the way
    text = shapely.to_geojson(geoms)
    return json.loads("[" + ",".join("null" if g is None else g for g in text) + "]")  # one parse, not n


def _features(geometries: list, properties: dict) -> dict:
    """A FeatureCollection of ``geometries`` with ``properties`` (name → one value per feature) and ids 0…n-1
    (folium needs an identifier)."""
    names = list(properties)
    columns = [_json_values(properties[name]) for name in names]
    features = [{"id": str(i), "type": "Feature", "properties": dict(zip(names, values)), "geometry": geometry}
                for i, (geometry, *values) in enumerate(zip(geometries, *columns))]
    return {"type": "FeatureCollection", "features": features}


def _geojson(gdf: gpd.GeoDataFrame, columns: list[str]) -> dict:
    """A FeatureCollection of ``gdf`` with only ``columns`` as properties, read with pandas' JSON writer (numbers
    as pandas writes them) and ids 0…n-1."""
    if columns:
        table = pd.DataFrame({c: gdf[c].to_numpy() for c in columns})
        props = json.loads(table.to_json(orient="records", force_ascii=False, double_precision=15))
    else:
        props = [{} for _ in range(len(gdf))]
    features = [{"id": str(i), "type": "Feature", "properties": p, "geometry": g}
                for i, (p, g) in enumerate(zip(props, _geometries(np.asarray(gdf.geometry.values))))]
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
