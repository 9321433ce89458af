"""Siting, the scenario: the study as if the selected candidate rooms were built (:func:`with_sites`) — they join
the category's facilities and coverage, capacity and gaps are recomputed on the same terms, so the ledger, map and
figures can show before and after. :func:`site_facilities` gives the facility rows the rooms become (the
workbench, :mod:`geofacility.workbench`, adds them the same way).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .candidates import SiteStudy
from .models import Selection

__all__ = ["with_sites", "site_facilities", "given_selection"]


def site_facilities(analysis, study: SiteStudy, selected) -> "object":
    """The facility rows the candidate rooms ``selected`` (row positions in ``study.candidates``) become: id
    ``candidate:<id>``, the category and the applied standard's subcategory, their floor area (m²); an OD cost
    table finds them by their candidate id (a combined set by its first room's)."""
    import geopandas as gpd

    chosen = study.candidates.iloc[np.asarray(selected, dtype=np.int64)]
    return gpd.GeoDataFrame({
        "facility_id": "candidate:" + chosen["candidate_id"].astype(str),
        "name": chosen["name"].astype(str),
        "category": study.check.category,
        "subcategory": study.check.subcategory,
        "floor_area_m2": chosen["floor_area_m2"].astype(float),
        "cost_id": chosen["located_at"].astype(str) if "located_at" in chosen else chosen["candidate_id"].astype(str),
        "source_file": chosen.get("source_file", ""),
        "source_row": chosen.get("source_row", 0),
    }, geometry=chosen.geometry.values, crs=analysis.crs)


def given_selection(study: SiteStudy, ids) -> Selection:
    """The planner's own choice of rooms (``sites select --choose``, the workbench's export) as a
    :class:`Selection` of method ``given``: its objective the people newly covered (not covered by an existing
    facility, within reach of a chosen room), status ``given``, gap 0. An id that is not a candidate, or a room
    that cannot be taken (its 可否选用及原因 said), is an InputError naming them."""
    from ..errors import InputError

    cands = study.candidates
    ids = [str(i).strip() for i in ids if str(i).strip()]
    if not ids:
        raise InputError("--choose: give the ids of the rooms to take, separated by commas (--choose A1,A2)")
    known = pd.Index(cands["candidate_id"].astype(str))
    pos = known.get_indexer(ids)
    unknown = [i for i, p in zip(ids, pos) if p < 0]
    if unknown:
        raise InputError(f"--choose: no candidate room {', '.join(unknown)} in the rooms file "
                         f"(候选房源中没有 {'、'.join(unknown)})")
    selectable = cands["selectable"].to_numpy(dtype=bool)
    bad = [(i, p) for i, p in zip(ids, pos) if not selectable[p]]
    if bad:
        reasons = cands["selectable_reason"].to_numpy(dtype=object)
        raise InputError("--choose: these rooms cannot be taken for " + study.check.category + ": "
                         + "; ".join(f"{i}: {reasons[p]}" for i, p in bad))
    selected = np.unique(pos).astype(np.int64)
    rows = np.flatnonzero(study.uncovered)
    reached = np.asarray(study.coverage[rows][:, selected].sum(axis=1)).ravel() > 0
    covered = float(study.weights[rows][reached].sum())
    total = float(study.weights[rows].sum())
    return Selection("given", selected, covered, covered, total, "given", 0.0, covered)


def with_sites(analysis, study: SiteStudy, selection: Selection):
    """The analysis "as if" the selected rooms were built: they join the facilities of the category (with their
    floor area and the applied standard's subcategory) and coverage and gaps are recomputed on the same terms —
    the same measure, an OD cost table included (a selected room is found in it by its candidate id). The
    capacity split of the study's method (``settings["capacity_method"]``, as
    :func:`geofacility.pipeline.evaluate` computes it) is recomputed for every surveyed category, so the people
    served and over capacity are those of the facilities with the rooms built."""
    from dataclasses import replace

    import geopandas as gpd

    from ..coverage import compute_coverage

    added = site_facilities(analysis, study, selection.selected)
    facilities = gpd.GeoDataFrame(pd.concat([analysis.facilities, added], ignore_index=True), crs=analysis.crs)
    base = analysis.communities[["community_id", "community", "town", "population", "households", "approximate",
                                 "geometry"]]
    demand = analysis.demand[["demand_id", "community_id", "weight", "geometry"]]
    picks: dict = {}
    comm, dem = compute_coverage(base, demand, facilities, analysis.checks,
                                 coverage_target=analysis.settings.get("coverage_target", 1.0),
                                 measure=analysis.measure, survey_extent=getattr(analysis, "extents", None),
                                 category_measures=getattr(analysis, "category_measures", None), picks=picks)
    comm = comm.sort_values(["town", "community_id"], kind="stable").reset_index(drop=True)
    settings = {**analysis.settings, "study": f"{analysis.settings.get('study', '')}（拟建房源后 with selected sites）"}
    after = replace(analysis, communities=comm, demand=dem, facilities=facilities, settings=settings,
                    service_areas=None, coverage_picks=picks)
    method = analysis.settings.get("capacity_method", "allocate")
    if method != "none":
        from ..capacity import apply_capacity
        from ..errors import WarningLog

        # the warnings (capacities unknown …) were said in the study itself
        after = apply_capacity(after, method=method, log=WarningLog())
    return after
