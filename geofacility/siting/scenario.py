"""Siting, the scenario: the study as if the selected candidate rooms were built (:func:`with_sites`) — they join
the category's facilities and coverage and gaps are recomputed on the same terms, so the ledger, map and figures
can show before and after.
"""
from __future__ import annotations

import pandas as pd

from .candidates import SiteStudy
from .models import Selection

__all__ = ["with_sites"]


def with_sites(analysis, study: SiteStudy, selection: Selection):
    """The analysis "as if" the selected rooms were built: they join the facilities of the category (with their
    floor area and the applied standard's subcategory) and coverage and gaps are recomputed on the same terms —
    the same measure, an OD cost table included (a selected room is found in it by its candidate id)."""
    from dataclasses import replace

    import geopandas as gpd

    from ..coverage import compute_coverage

    chosen = study.candidates.iloc[selection.selected]
    added = gpd.GeoDataFrame({
        "facility_id": "candidate:" + chosen["candidate_id"].astype(str),
        "name": chosen["name"].astype(str),
        "category": study.check.category,
        "subcategory": study.check.subcategory,
        "floor_area_m2": chosen["floor_area_m2"].astype(float),
        "cost_id": chosen["located_at"].astype(str) if "located_at" in chosen else chosen["candidate_id"].astype(str),
        "source_file": chosen.get("source_file", ""),
        "source_row": chosen.get("source_row", 0),
    }, geometry=chosen.geometry.values, crs=analysis.crs)
    facilities = gpd.GeoDataFrame(pd.concat([analysis.facilities, added], ignore_index=True), crs=analysis.crs)
    base = analysis.communities[["community_id", "community", "town", "population", "households", "approximate",
                                 "geometry"]]
    demand = analysis.demand[["demand_id", "community_id", "weight", "geometry"]]
    picks: dict = {}
    comm, dem = compute_coverage(base, demand, facilities, analysis.checks,
                                 coverage_target=analysis.settings.get("coverage_target", 1.0),
                                 measure=analysis.measure,
                                 category_measures=getattr(analysis, "category_measures", None), picks=picks)
    comm = comm.sort_values(["town", "community_id"], kind="stable").reset_index(drop=True)
    settings = {**analysis.settings, "study": f"{analysis.settings.get('study', '')}（拟建房源后 with selected sites）"}
    return replace(analysis, communities=comm, demand=dem, facilities=facilities, settings=settings,
                   service_areas=None, coverage_picks=picks)
