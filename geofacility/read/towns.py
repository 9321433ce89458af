"""Reading: the areas around communities: streets/towns (街道/镇) and survey extents.

Holds :func:`read_towns` (a polygon per street or town: ``town``, optional ``population``; for a batch per street
and the map's outlines) and :func:`read_extent` (the area a facility survey covers, as one geometry in EPSG:4326).
"""
from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely

from ..errors import InputError, WarningLog
from .columns import ALIASES, _rename_columns, _string
from .files import read_layer
from .numbers import _numeric
from .rows import _drop_unusable, _repair_polygons

__all__ = [
    "read_towns",
    "read_extent",
]


def read_towns(path, *, coords=None, encoding=None, layer=None, aliases=None,
               log: WarningLog | None = None) -> gpd.GeoDataFrame:
    """Street (街道) / town (镇) polygons: ``town``, ``population`` (optional)."""
    log = log if log is not None else WarningLog()
    aliases = aliases or ALIASES
    gdf = read_layer(path, coords=coords, encoding=encoding, layer=layer, log=log, option="--towns")
    label = str(path)
    town_aliases = {**aliases, "town": aliases["town"] + ["name", "名称"]}
    gdf = _rename_columns(gdf, ["town", "population"], town_aliases)
    if "town" not in gdf.columns:
        raise InputError(f"{label}: no town/street name column; add a column 街道 (town)")
    gdf = _repair_polygons(_drop_unusable(gdf), label=label, log=log, what="towns")
    gdf["town"] = _string(gdf["town"])
    gdf["population"] = (_numeric(gdf, "population", label=label, log=log, required=False)
                         if "population" in gdf.columns else np.nan)
    return gdf


def read_extent(path, *, coords=None, encoding=None, layer=None, log: WarningLog | None = None):
    """A survey extent: the union of a polygon layer's features, in EPSG:4326 (a shapely geometry)."""
    log = log if log is not None else WarningLog()
    gdf = read_layer(path, coords=coords, encoding=encoding, layer=layer, log=log,
                     option="--survey-extent CATEGORY=")
    gdf = _repair_polygons(gdf, label=str(path), log=log, what="survey extent")
    geoms = gdf.geometry[gdf.geometry.notna() & ~gdf.geometry.is_empty]
    if not len(geoms):
        raise InputError(f"{path}: the survey extent has no polygon; give the area the facility data cover")
    return shapely.union_all(np.asarray(geoms.values))
