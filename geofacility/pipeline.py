"""Evaluating a study — the stage after :mod:`geofacility.study` (inputs read, placed, standards chosen): coverage
and gaps per community (:mod:`geofacility.coverage`), capacity (:mod:`geofacility.capacity`), the stage of each
problem (:mod:`geofacility.stages`) and, on foot, the service areas (drawn when first read), as an
:class:`Analysis` the outputs (ledger, maps, figures) are written from. :func:`analyze` runs both stages: :func:`geofacility.study.prepare`, then
:func:`evaluate`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from .capacity import apply_capacity
from .coverage import compute_coverage, facility_checks
from .distance import StraightLineDistance
from .errors import WarningLog
from .network import Network, WalkingDistance, service_areas, snap_points
from .standards import CATEGORY_SHORT_ZH, Check
from .study import Study, prepare

__all__ = ["Analysis", "analyze", "evaluate", "stranded_demand", "ledger_frame"]


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
    #: walking catchments when distances were measured on a network: ``facility_id`` (None for a category's
    #: union), ``category``, ``subcategory``, ``radius_m``, ``kind`` (``facility``/``category``), geometry; drawn
    #: on first read (:class:`PendingServiceAreas`), so an analysis whose outputs do not show them never draws them
    service_areas: gpd.GeoDataFrame | None = None
    #: the distance measure used (StraightLineDistance or WalkingDistance), for siting on the same terms
    measure: object | None = field(default=None, repr=False)
    #: categories measured otherwise, e.g. by an OD cost table (geofacility.costs.CostMatrixDistance)
    category_measures: dict = field(default_factory=dict, repr=False)
    #: one row per facility whose category's capacity split was computed (geofacility.capacity): capacity, where
    #: it came from, demand within reach, load
    facility_load: pd.DataFrame | None = None
    #: per input file: rows read = rows used + rows reported (see :func:`geofacility.study.input_accounting`)
    accounting: pd.DataFrame | None = None
    #: per surveyed category, by ``community_id``, the position among the category's checks of the one whose
    #: coverage the category's columns give (its weakest; see :func:`geofacility.coverage.compute_coverage`)
    coverage_picks: dict = field(default_factory=dict, repr=False)
    #: facilities whose ``status`` is 规划/在建/未移交: not current provision, they name the stage of a problem
    #: (geofacility.stages); same columns as :attr:`facilities`
    not_in_use: gpd.GeoDataFrame | None = None
    #: per category, the area its facility data cover (``--survey-extent``; a shapely geometry in :attr:`crs`):
    #: whatever recomputes coverage (``sites select``'s ledger after, the workbench) keeps the communities
    #: outside it not surveyed
    extents: dict = field(default_factory=dict, repr=False)


class PendingServiceAreas:
    """Walking catchments not drawn yet (:func:`_service_areas` of these arguments): an :class:`Analysis` holds
    one until :attr:`Analysis.service_areas` is first read, then the drawn table. Drawing them — buffering and
    dissolving every reachable street piece — costs more than the whole walking analysis, and only the map and
    coverage.gpkg show them."""

    def __init__(self, network: Network, facilities: gpd.GeoDataFrame, checks: list[Check], *, max_snap_m: float,
                 buffer_m: float) -> None:
        self.args = (network, facilities, checks)
        self.options = {"max_snap_m": max_snap_m, "buffer_m": buffer_m}

    def draw(self) -> gpd.GeoDataFrame:
        return _service_areas(*self.args, **self.options)


def _get_service_areas(self: Analysis) -> gpd.GeoDataFrame | None:
    areas = self.__dict__.get("service_areas")
    if isinstance(areas, PendingServiceAreas):
        areas = self.__dict__["service_areas"] = areas.draw()
    return areas


def _set_service_areas(self: Analysis, areas) -> None:
    self.__dict__["service_areas"] = areas


# a data descriptor over the field of the same name: the dataclass's __init__, replace() and Analysis(**vars(a))
# work unchanged, and the areas are drawn on first read (a copy made by Analysis(**vars(a)) stays undrawn)
Analysis.service_areas = property(_get_service_areas, _set_service_areas,
                                  doc="walking catchments (drawn on first read); see the field's comment")


def evaluate(study: Study, *, progress=None) -> Analysis:
    """Coverage and gaps of a prepared :class:`~geofacility.study.Study` (and, on foot, the service areas, drawn
    when an output first reads them)."""
    step = progress or (lambda message: None)
    log = WarningLog()
    log.extend_from(study.log)
    walk = study.walk
    step("computing coverage")
    picks: dict = {}
    comm, dem = compute_coverage(study.communities, study.demand, study.facilities, study.checks,
                                 coverage_target=study.settings["coverage_target"], measure=walk,
                                 survey_extent=study.extents, category_measures=study.category_measures,
                                 picks=picks)
    if walk is not None:
        _report_unreachable(dem, study.stranded or stranded_demand(walk, study.facilities, study.checks), log,
                            label=study.settings.get("network") or "network")
    comm = comm.sort_values(["town", "community_id"], kind="stable").reset_index(drop=True)
    dem_cols = ["demand_id", "community_id", "weight"] + [c for c in dem.columns if c.startswith("dist_")]
    dem = dem[dem_cols + ["geometry"]]
    analysis = Analysis(
        communities=comm,
        demand=dem,
        facilities=study.facilities,
        towns=study.towns,
        checks=study.checks,
        warnings=log.to_frame(),
        crs=study.crs,
        surveyed=study.surveyed,
        settings=dict(study.settings),
        measure=walk if walk is not None else StraightLineDistance(dem.geometry.values),
        category_measures=dict(study.category_measures),
        accounting=study.accounting,
        coverage_picks=picks,
        extents=dict(study.extents or {}),
    )
    method = study.settings.get("capacity_method", "allocate")
    if method != "none":
        analysis = apply_capacity(analysis, method=method, log=log, progress=step, precomputed=study.capacity)
        analysis.warnings = log.to_frame()
    from .stages import classify

    step("naming the stage of each problem")
    analysis.communities = classify(analysis.communities, study.not_in_use, study.checks, demand=analysis.demand,
                                    measure=analysis.measure, category_measures=analysis.category_measures)
    analysis.not_in_use = study.not_in_use
    if walk is not None:  # drawn when an output first needs them (the map, coverage.gpkg), not here
        analysis.service_areas = PendingServiceAreas(walk.network, study.facilities, study.checks,
                                                     max_snap_m=walk.max_snap_m, buffer_m=study.settings["buffer_m"])
    return analysis


def analyze(*, progress=None, **kwargs) -> Analysis:
    """Run the analysis: :func:`~geofacility.study.prepare` the inputs, then :func:`evaluate` them. Keyword
    arguments are those of :func:`~geofacility.study.prepare`.

    ``facilities``: paths, or ``(path, category)`` pairs (the category applies to rows without one, and marks
    the category as surveyed even when the file holds none of it). ``coords``: one coordinate system for all
    inputs, or a dict by role (``communities``, ``facilities``, ``demand``, ``towns``, ``network``, ``*``).
    ``radius``: service-radius overrides by category, in metres. ``network``: an OSM file or street centre lines;
    with it ``distance`` defaults to ``"network"``. ``study``: the name in titles (``""``: none; ``None``: named
    from the communities file, :func:`geofacility.study.study_name`, as the command line does).
    """
    return evaluate(prepare(progress=progress, **kwargs), progress=progress)


def stranded_demand(walk: WalkingDistance, facilities: gpd.GeoDataFrame, checks: list[Check]) -> dict[str, np.ndarray]:
    """Per category checked, the demand points with no walking path to any of its facilities."""
    return {category: walk.stranded(facilities.loc[facilities["category"] == category].geometry.values)
            for category in dict.fromkeys(c.category for c in checks)}


def _report_unreachable(demand: gpd.GeoDataFrame, stranded_by_category: dict[str, np.ndarray],
                        log: WarningLog, *, label: str = "network") -> None:
    """Homes with no walking path to any facility of a category (too far from a street, or on a part of the
    network not connected to one)."""
    for category, stranded in stranded_by_category.items():
        if stranded.any():
            log.add(label, None, f"{int(stranded.sum())} demand points ({demand.loc[stranded, 'weight'].sum():,.0f}"
                                     f" people) have no walking path to any {category} facility (too far from a "
                                     "street, or on a part of the network not connected to one); not covered",
                    zh=f"{int(stranded.sum())} 个需求点（{demand.loc[stranded, 'weight'].sum():,.0f} 人）没有步行路径可达任何"
                       f"{CATEGORY_SHORT_ZH.get(category, category)}设施（距道路太远，或所在路网与之不相连）：按未覆盖计")


def _service_areas(net: Network, facilities: gpd.GeoDataFrame, checks: list[Check], *, max_snap_m: float,
                   buffer_m: float) -> gpd.GeoDataFrame:
    """Walking catchments per facility and their union per check."""
    masks = facility_checks(facilities, checks)
    frames = []
    for check in checks:  # one multi-source search per standard, as for the distances
        if not check.radius_m:
            continue
        fac = facilities.loc[masks[check]].reset_index(drop=True)
        idx, polys = service_areas(net, snap_points(net, fac.geometry.values, max_snap_m), check.radius_m,
                                   buffer_m=buffer_m)
        if not len(polys):
            continue
        frames.append(pd.DataFrame({
            "kind": ["facility"] * len(idx) + ["category"],
            "category": check.category,
            "subcategory": check.subcategory,
            "facility_id": [*fac["facility_id"].to_numpy()[idx], None],
            "name": [*fac["name"].to_numpy()[idx], check.name_zh],
            "radius_m": check.radius_m,
            "geometry": [*polys, shapely.union_all(polys)],
        }))
    columns = ["kind", "category", "subcategory", "facility_id", "name", "radius_m", "geometry"]
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)
    return gpd.GeoDataFrame(table[columns], geometry="geometry", crs=net.crs)


def ledger_frame(analysis: Analysis) -> pd.DataFrame:
    """The communities table without geometry (what ledger.csv holds)."""
    return pd.DataFrame(analysis.communities.drop(columns="geometry"))

