"""The workbench's map layers (GeoJSON in WGS84, coordinates to 6 decimals) of one category: communities
coloured by status, existing facilities, walking catchments (on foot), candidate rooms."""
from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .model import _records

__all__ = ["layers", "feature_collection"]


def feature_collection(frame: gpd.GeoDataFrame, props: list[str]) -> dict:
    wgs = frame.geometry.to_crs(4326).to_numpy()
    wgs = shapely.set_precision(wgs, 1e-6)
    geoms = shapely.to_geojson(wgs)
    records = _records(pd.DataFrame({p: frame[p].to_numpy(dtype=object) for p in props}))
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": json.loads(g) if g is not None else None, "properties": r}
        for g, r in zip(geoms, records)]}



def layers(wb, category: str) -> dict:
    """See :meth:`Workbench.layers`."""
    wb._check(category)
    cat = wb._cat(category)
    table = wb._table
    comm = gpd.GeoDataFrame(wb._props(category, table), geometry=table.geometry.values, crs=table.crs)
    fac = wb.analysis.facilities
    fac = fac.loc[(fac["category"] == category).to_numpy()]
    checks = [c for c in wb.analysis.checks if c.category == category]
    fac = gpd.GeoDataFrame({"facility_id": fac["facility_id"].astype(str).to_numpy(),
                            "name": fac["name"].astype(str).to_numpy(),
                            "floor_area_m2": fac["floor_area_m2"].to_numpy(dtype="float64"),
                            "radius_m": checks[0].radius_m}, geometry=fac.geometry.values, crs=fac.crs)
    catchments = None
    areas = wb.analysis.service_areas if getattr(wb.analysis.measure, "method", "") == "network" else None
    if areas is not None and len(areas):
        mine = areas.loc[(areas["category"] == category).to_numpy() & (areas["kind"] == "facility").to_numpy()]
        catchments = feature_collection(mine.assign(facility_id=mine["facility_id"].astype(str)),
                                         ["facility_id", "name", "radius_m"])
    cands = cat.study.candidates
    keep = np.array([i not in cat.withdrawn for i in range(len(cands))], dtype=bool)
    shown = cands.loc[keep]
    idx = np.flatnonzero(keep)
    frame = gpd.GeoDataFrame({
        "candidate_id": shown["candidate_id"].astype(str).to_numpy(),
        "name": shown["name"].astype(str).to_numpy(),
        "floor_area_m2": shown["floor_area_m2"].to_numpy(dtype="float64"),
        "categories": [list(c) if isinstance(c, (list, tuple)) else [] for c in shown["categories"]],
        "acquisition": shown["acquisition"].to_numpy(dtype=object),
        "reviewed": shown["reviewed"].to_numpy(dtype=object),
        "selectable": shown["selectable"].to_numpy(dtype=bool),
        "selectable_reason": shown["selectable_reason"].to_numpy(dtype=object),
        "newly_covered_population": np.round(shown["newly_covered_population"].to_numpy(dtype="float64")),
        "built": np.isin(idx, sorted(cat.built)),
        "added": idx >= cat.n_original,
    }, geometry=shown.geometry.values, crs=cands.crs)
    bounds = gpd.GeoSeries(table.geometry.values, crs=table.crs).to_crs(4326).total_bounds
    return {"communities": feature_collection(comm, list(comm.columns.drop("geometry"))),
            "facilities": feature_collection(fac, ["facility_id", "name", "floor_area_m2", "radius_m"]),
            "catchments": catchments,
            "candidates": feature_collection(frame, list(frame.columns.drop("geometry"))),
            "bounds": [round(float(b), 6) for b in bounds]}

