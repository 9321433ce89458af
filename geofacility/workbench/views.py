"""The workbench's map layers (GeoJSON in WGS84, coordinates to 6 decimals) of one category: communities
coloured by status, existing facilities, walking catchments (on foot), candidate rooms; and the built rooms'
walking catchments (:func:`built_catchments`, part of every state)."""
from __future__ import annotations


import geopandas as gpd
import numpy as np
import pandas as pd

from .model import _clean, _records

__all__ = ["layers", "feature_collection", "built_catchments", "ledger_sheet"]


def feature_collection(frame: gpd.GeoDataFrame, props: list[str]) -> dict:
    """A FeatureCollection of ``frame``'s non-empty geometries (EPSG:4326, as the maps draw them:
    :func:`geofacility.maps.geojson.wgs84_geojson_geometries`) with the columns ``props``, JSON-able (no NaN)."""
    from ..maps.geojson import wgs84_geojson_geometries

    keep, geometries = wgs84_geojson_geometries(frame)
    records = _records(pd.DataFrame({p: frame[p].to_numpy(dtype=object)[keep] for p in props}))
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": g, "properties": r} for g, r in zip(geometries, records)]}


def ledger_sheet(wb, category: str, ledger: pd.DataFrame) -> dict:
    """The ledger rows a click changed as the 台账 sheet of ledger.xlsx heads and writes them, the category's
    columns only (:func:`geofacility.ledger.workbook.sheet_rows`): headers, rows of cell texts, status per row."""
    from ..ledger.workbook import sheet_rows

    sheet = sheet_rows(ledger, list(wb.analysis.checks), wb.analysis.settings or {}, category)
    return {"headers": sheet["headers"], "rows": [[_clean(v) for v in row] for row in sheet["rows"]],
            "status": [_clean(v) for v in sheet["status"]], "status_column": sheet["status_column"]}


def _walking(wb, category: str):
    """The study's walking measure when ``category`` is measured on foot (not by an OD table), else None."""
    from ..network import WalkingDistance

    m = wb.analysis.measure
    od = (getattr(wb.analysis, "category_measures", None) or {}).get(category)
    return m if isinstance(m, WalkingDistance) and od is None else None


def built_catchments(wb, category: str) -> dict | None:
    """On foot: each built room's own walking catchment (the streets within the rooms' standard's radius from it,
    buffered as the facilities' service areas are), a FeatureCollection with ``candidate_id``, ``name``,
    ``radius_m``; None in a straight line (the page draws circles). Each room's is drawn once (one search bounded
    by the radius, about 20 ms on Helsinki) and kept; a room off the network (beyond --max-snap) has none."""
    from ..network import DEFAULT_BUFFER_M, service_areas, snap_points

    walk = _walking(wb, category)
    cat = wb._cat(category)
    radius = getattr(cat.study.check, "radius_m", None)
    if walk is None or not radius:
        return None
    cands = cat.study.candidates
    buffer_m = wb.analysis.settings.get("buffer_m") or DEFAULT_BUFFER_M
    for j in sorted(cat.built - set(cat.catchments)):  # one search per newly built room (its own catchment)
        idx, polys = service_areas(walk.network, snap_points(walk.network, cands.geometry.values[j:j + 1],
                                                             walk.max_snap_m), float(radius), buffer_m=buffer_m)
        cat.catchments[j] = polys[0] if len(polys) else None
    built = [j for j in sorted(cat.built) if cat.catchments.get(j) is not None]
    frame = gpd.GeoDataFrame({"candidate_id": cands["candidate_id"].astype(str).to_numpy()[built],
                              "name": cands["name"].astype(str).to_numpy()[built],
                              "radius_m": float(radius)},
                             geometry=[cat.catchments[j] for j in built], crs=cands.crs)
    return feature_collection(frame, ["candidate_id", "name", "radius_m"])


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
    areas = wb.analysis.service_areas if _walking(wb, category) is not None else None
    if areas is not None and len(areas):
        mine = areas.loc[(areas["category"] == category).to_numpy() & (areas["kind"] == "facility").to_numpy()]
        catchments = feature_collection(mine.assign(facility_id=mine["facility_id"].astype(str)),
                                         ["facility_id", "name", "radius_m"])
    cands = cat.study.candidates
    keep = ~np.isin(np.arange(len(cands)), sorted(cat.withdrawn))
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

