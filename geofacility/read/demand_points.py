"""Reading: demand given as population points (compounds, buildings) or a population grid.

Holds :func:`read_demand`: a ``population`` column (people per point or cell) required, grid cells reduced to a
point inside each, rows without a population reported and not used. (Spreading a community's population over its
polygon when no such file is given is geofacility.demand, the next stage.)
"""
from __future__ import annotations


import geopandas as gpd
import numpy as np
import shapely

from ..errors import InputError, WarningLog
from .columns import ALIASES, GENERIC_ID, _rename_columns, _string, use_columns
from .files import read_layer
from .numbers import _numeric
from .postgis import source_stem
from .rows import _drop_unusable

__all__ = [
    "read_demand",
]


def read_demand(path, *, coords=None, encoding=None, layer=None, aliases=None,
                log: WarningLog | None = None, columns: dict[str, str | None] | None = None,
                bbox=None) -> gpd.GeoDataFrame:
    """Demand: population points (compounds, buildings) or a population grid (polygons → a point inside each).

    Needs a population column (人口/population/weight). Rows with missing population are reported and not used.
    ``bbox``: only the points within this lon/lat box (:func:`geofacility.read.read_layer`; a batch group reads
    its area). ``columns``: the file's columns for roles, as named on the command line (``{"population": "POP2000",
    "demand_id": "NAME"}``: ``--weight-column``, ``--id-column``), taken before any alias.
    """
    log = log if log is not None else WarningLog()
    aliases = aliases or ALIASES
    label = str(path)
    gdf = read_layer(path, coords=coords, encoding=encoding, layer=layer, log=log, option="--demand", bbox=bbox)
    gdf = use_columns(gdf, columns, label=label, options={"population": "--weight-column",
                                                          "demand_id": "--id-column"})
    gdf = _rename_columns(gdf, ["demand_id", "name", "population", "households", "community_id"], aliases)
    if "population" not in gdf.columns:
        raise InputError(f"{label}: no population column; add a column 人口 (population) with the people at each "
                         "point or cell")
    gdf = _drop_unusable(gdf)
    type_ids = shapely.get_type_id(np.asarray(gdf.geometry.values))
    if np.isin(type_ids, [shapely.GeometryType.POLYGON, shapely.GeometryType.MULTIPOLYGON]).any():
        gdf["geometry"] = gdf.geometry.representative_point()
    gdf["weight"] = _numeric(gdf, "population", label=label, log=log, required=True)
    missing = gdf["weight"].isna()
    if missing.any():
        log.extend(label, gdf.loc[missing, "source_row"], "population missing; row not used",
                   zh="人口缺失，本行未采用")
        gdf = gdf.loc[~missing].reset_index(drop=True)
    if "demand_id" not in gdf.columns:
        gdf = _rename_columns(gdf, ["demand_id"], {"demand_id": GENERIC_ID})
    if "demand_id" not in gdf.columns:
        gdf["demand_id"] = [f"{source_stem(label)}:{r}" for r in gdf["source_row"]]
    gdf["demand_id"] = _string(gdf["demand_id"])
    return gdf
