"""Reading: the row checks every role reader shares.

Rows without a geometry dropped (they are already in the warnings table, with their row), polygons checked to be
polygons and repaired with ``make_valid`` (each repair reported on its row), ids unique, and the rows of a file
already reported (``_logged_rows``), so that every input row is accounted for: used, or in the warnings table.
"""
from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ..errors import InputError, WarningLog


def _repair_polygons(gdf: gpd.GeoDataFrame, *, label: str, log: WarningLog, what: str) -> gpd.GeoDataFrame:
    geoms = gdf.geometry
    present = geoms.notna() & ~geoms.is_empty
    kinds = set(geoms[present].geom_type)
    bad_kinds = kinds - {"Polygon", "MultiPolygon"}
    if bad_kinds:
        raise InputError(
            f"{label}: {what} must be polygons, found {', '.join(sorted(bad_kinds))}; give the {what} boundaries "
            "as a polygon layer"
        )
    invalid = present & ~geoms.is_valid
    if invalid.any():
        reasons = shapely.is_valid_reason(np.asarray(geoms[invalid].values))
        for row, reason in zip(gdf.loc[invalid, "source_row"], reasons):
            log.add(label, row, f"invalid polygon ({reason}); repaired with make_valid",
                    zh=f"多边形无效（'{reason}'），已用 make_valid 修复")
        repaired = shapely.make_valid(np.asarray(geoms[invalid].values))
        # make_valid may return collections with stray lines: keep the polygonal part
        repaired = [_polygonal(g) for g in repaired]
        gdf = gdf.copy()
        gdf.loc[invalid, "geometry"] = gpd.GeoSeries(repaired, index=gdf.index[invalid], crs=gdf.crs)
    return gdf


def _polygonal(geom):
    if geom.geom_type in ("Polygon", "MultiPolygon"):
        return geom
    parts = [g for g in getattr(geom, "geoms", []) if g.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(parts) if parts else shapely.Polygon()


def _unique_ids(gdf: gpd.GeoDataFrame, column: str, *, label: str) -> None:
    dup = gdf[column].duplicated(keep=False) & gdf[column].notna()
    if dup.any():
        value = gdf.loc[dup, column].iloc[0]
        rows = ", ".join(str(r) for r in gdf.loc[gdf[column] == value, "source_row"])
        raise InputError(f"{label}, rows {rows}: duplicate {column} {value!r}; give every row its own id")


def _drop_unusable(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    keep = gdf.geometry.notna() & ~gdf.geometry.is_empty
    return gdf.loc[keep].reset_index(drop=True)


def _logged_rows(log: WarningLog, label: str) -> set:
    frame = log.to_frame()
    if frame.empty:
        return set()
    return set(pd.to_numeric(frame.loc[frame["file"] == label, "row"], errors="coerce").dropna().astype(int))
