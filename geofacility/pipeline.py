"""The pipeline: read → demand → distance → coverage and gaps → ledger and map, wired in :func:`analyze`."""
from __future__ import annotations

from dataclasses import dataclass, field

import geopandas as gpd
import pandas as pd
from pyproj import CRS

from .standards import Check


@dataclass
class Analysis:
    """Everything one analysis produced; all geometry in :attr:`crs` (metric). See docs/data-model.md."""

    communities: gpd.GeoDataFrame
    demand: gpd.GeoDataFrame
    facilities: gpd.GeoDataFrame
    towns: gpd.GeoDataFrame | None
    checks: list[Check]
    warnings: pd.DataFrame
    crs: CRS
    surveyed: list[str]
    settings: dict = field(default_factory=dict)
