"""The pipeline: read → demand → distance → coverage and gaps → ledger and map, wired in :func:`analyze`."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from . import io
from .capacity import METHODS as CAPACITY_METHODS, apply_capacity
from .coverage import compute_coverage, select_checks
from .crs import choose_metric_crs
from .coverage import facility_checks
from .distance import StraightLineDistance
from .demand import assign_communities, complete_demand, spread_population
from .errors import InputError, WarningLog
from .network import (DEFAULT_BUFFER_M, DEFAULT_MAX_SNAP_M, Network, WalkingDistance, read_network, service_areas,
                      snap_points)
from .standards import CATEGORIES, Check, jurisdiction_levels, load_standards

__all__ = ["Analysis", "Study", "analyze", "prepare", "evaluate", "sample_inputs", "sample_dir", "ledger_frame"]


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
    #: union), ``category``, ``subcategory``, ``radius_m``, ``kind`` (``facility``/``category``), geometry
    service_areas: gpd.GeoDataFrame | None = None
    #: the distance measure used (StraightLineDistance or WalkingDistance), for siting on the same terms
    measure: object | None = field(default=None, repr=False)
    #: categories measured otherwise, e.g. by an OD cost table (geofacility.costs.CostMatrixDistance)
    category_measures: dict = field(default_factory=dict, repr=False)
    #: one row per facility whose category's capacity split was computed (geofacility.capacity): capacity, where
    #: it came from, demand within reach, load
    facility_load: pd.DataFrame | None = None
    #: per input file: rows read = rows used + rows reported (see :func:`input_accounting`)
    accounting: pd.DataFrame | None = None


@dataclass
class Study:
    """Inputs read, checked and placed, in the metric CRS: what :func:`evaluate` needs (and what a batch splits
    by group). ``log`` holds the input warnings so far; ``walk`` the walking-distance measure when on foot."""

    communities: gpd.GeoDataFrame
    demand: gpd.GeoDataFrame
    facilities: gpd.GeoDataFrame
    towns: gpd.GeoDataFrame
    checks: list[Check]
    surveyed: list[str]
    crs: CRS
    settings: dict
    log: WarningLog
    walk: WalkingDistance | None = None
    #: on foot, per category, the demand points with no walking path to any of its facilities, when already known
    #: (a batch group works on a clipped network and takes these from the whole one)
    stranded: dict[str, np.ndarray] | None = None
    #: per category, the area its facility data cover (metric CRS); communities outside are not surveyed for it
    extents: dict = field(default_factory=dict)
    #: per category, the capacity split computed on the whole study (a batch group takes its part of it)
    capacity: dict | None = None
    #: per input file: rows read, used, reported (see :func:`input_accounting`)
    accounting: pd.DataFrame | None = None
    #: categories measured otherwise, e.g. by an OD cost table (geofacility.costs.CostMatrixDistance)
    category_measures: dict = field(default_factory=dict)


ROLES = ("communities", "facilities", "demand", "towns")


def sample_dir() -> Path:
    """The bundled Beijing Xicheng sample: inside the installed package, or ``data/xicheng`` of a checkout."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "sample_data" / "xicheng", here.parent / "data" / "xicheng"):
        if (candidate / "communities.geojson").exists():
            return candidate
    raise InputError("the bundled Xicheng sample is not installed; give --communities and --facilities")


def sample_inputs() -> dict:
    """Keyword arguments of :func:`analyze` for the bundled Xicheng sample."""
    d = sample_dir()
    return {
        "communities": d / "communities.geojson",
        "facilities": [(d / "primary_schools.csv", "education")],
        "demand": d / "compounds.csv",
        "towns": d / "streets.geojson",
        "study": "北京市西城区",
        "jurisdiction": "北京市西城区",  # Beijing's rows (西政办发〔2011〕10号, the 2018 commerce rules…) apply
        "attribution": "Streets © OpenStreetMap contributors (ODbL 1.0); population WorldPop via tsinghua-fib-lab/"
                       "mosstool (MIT); compounds Lianjia and schools via Yu-zhang-ssci/XIcheng-Education-research "
                       "(research use); community boundaries approximate (derived)",
    }


def _role_coords(coords: dict | str | None, role: str):
    if coords is None or isinstance(coords, str):
        return coords
    return coords.get(role, coords.get("*"))


def prepare(
    *,
    communities,
    facilities=(),
    demand=None,
    towns=None,
    standards=None,
    standard_choices: dict[str, list[str]] | None = None,
    radius: dict[str, float] | None = None,
    coords: dict | str | None = None,
    crs=None,
    encoding: str | None = None,
    aliases=None,
    coverage_target: float = 1.0,
    network=None,
    distance: str | None = None,
    max_snap_m: float = DEFAULT_MAX_SNAP_M,
    buffer_m: float = DEFAULT_BUFFER_M,
    cell_m: float = 100.0,
    snap_m: float = 50.0,
    survey_extent: dict | None = None,
    capacity_method: str = "allocate",
    study: str = "",
    attribution: str = "",
    progress=None,
    allow_overlap: bool = False,
    cost_matrix: dict | None = None,
    jurisdiction: str | None = None,
) -> Study:
    """Read and check every input, place demand in communities, choose the standards: a :class:`Study` ready to
    be evaluated (see :func:`analyze`, which runs both steps).

    ``facilities``: paths, or ``(path, category)`` pairs (the category applies to rows without one, and marks
    the category as surveyed even when the file holds none of it). ``coords``: one coordinate system for all
    inputs, or a dict by role (``communities``, ``facilities``, ``demand``, ``towns``, ``*``).
    ``radius``: service-radius overrides by category, in metres. ``survey_extent``: per category, a polygon
    file of the area its facility data cover; communities outside it are ``not_surveyed`` for that category.
    ``network``: an OSM file or street centre lines; with it ``distance`` defaults to ``"network"`` (walking
    distance, snapping homes and facilities within ``max_snap_m`` metres of a street) and service areas are drawn
    as the reachable streets buffered by ``buffer_m``. ``allow_overlap``: communities overlapping by half the
    smaller one's area or more are refused unless True (see :func:`geofacility.io.check_overlaps`).
    ``jurisdiction``: where the study lies, e.g. ``"北京市"`` or ``"山东省淄博市"``: national standards always apply,
    a province's or a city's only there, the most local one of a standard winning (``"全国"``: national ones only;
    None: every row, the Python API's default — the CLI always chooses one).
    """
    step = progress or (lambda message: None)
    log = WarningLog()
    alias_map = io.load_aliases(aliases)
    if not 0 < coverage_target <= 1:
        raise InputError(f"--coverage-target {coverage_target}: give a share in (0, 1], e.g. 0.9")
    for category, value in (radius or {}).items():
        if category not in CATEGORIES:
            raise InputError(f"--radius {category}={value}: unknown category; use one of {', '.join(CATEGORIES)}")
        if not value > 0:
            raise InputError(f"--radius {category}={value}: the radius must be > 0 metres")
    distance = distance or ("network" if network is not None else "euclidean")
    if distance not in ("euclidean", "network"):
        raise InputError(f"--distance {distance}: use euclidean (straight line) or network (walking)")
    if distance == "network" and network is None:
        raise InputError("--distance network needs a walking network: give --network FILE (.osm.pbf, .osm, or "
                         "street centre lines)")
    if not max_snap_m > 0:
        raise InputError(f"--max-snap {max_snap_m}: give a distance > 0 metres")
    if capacity_method not in (*CAPACITY_METHODS, "none"):
        raise InputError(f"--capacity-method {capacity_method}: use one of {', '.join(CAPACITY_METHODS)} or none")
    table = load_standards(standards)
    jurisdiction_levels(jurisdiction)  # a place name that cannot be read stops here, before any work

    step("reading communities")
    comm = io.read_communities(communities, coords=_role_coords(coords, "communities"), encoding=encoding,
                               aliases=alias_map, log=log)
    town_layer = None
    if towns is not None:
        step("reading towns")
        town_layer = io.read_towns(towns, coords=_role_coords(coords, "towns"), encoding=encoding,
                                   aliases=alias_map, log=log)
    step("reading facilities")
    fac_frames, declared = [], set()
    for item in facilities:
        path, category = (item if isinstance(item, tuple) else (item, None))
        if category is not None:
            declared.add(category)
        fac_frames.append(io.read_facilities(path, category=category, coords=_role_coords(coords, "facilities"),
                                             encoding=encoding, aliases=alias_map, log=log))
    dem = None
    if demand is not None:
        step("reading demand")
        dem = io.read_demand(demand, coords=_role_coords(coords, "demand"), encoding=encoding, aliases=alias_map,
                             log=log)

    metric = choose_metric_crs(comm.geometry, crs)
    comm = comm.to_crs(metric)
    io.check_overlaps(comm, label=str(communities), log=log, allow=allow_overlap)
    fac_cols = ["facility_id", "name", "category", "subcategory", "floor_area_m2", "capacity", "source_file",
                "source_row", "geometry"]
    if fac_frames:
        fac = gpd.GeoDataFrame(pd.concat([f[fac_cols].to_crs(metric) for f in fac_frames], ignore_index=True),
                               crs=metric)
        dup = fac["facility_id"].duplicated(keep=False)
        if dup.any():
            files = fac.loc[dup, "source_file"].unique()
            fac.loc[dup, "facility_id"] = fac.loc[dup, "source_file"].map(lambda f: Path(f).stem) + ":" + \
                fac.loc[dup, "facility_id"]
            log.add(", ".join(files), None, "the same facility ids occur in several files; ids prefixed with the "
                                            "file name", severity="info")
    else:
        fac = gpd.GeoDataFrame({c: [] for c in fac_cols[:-1]}, geometry=[], crs=metric)
    used_rows = {str(communities): comm["source_row"]}
    for item in facilities:  # every facility file, even one whose rows were all set aside
        used_rows[str(item[0] if isinstance(item, tuple) else item)] = []
    for file, rows in fac.groupby("source_file")["source_row"]:
        used_rows[str(file)] = rows
    if town_layer is not None:
        used_rows[str(towns)] = town_layer["source_row"]
        town_layer = town_layer.to_crs(metric)
        if comm["town"].isna().any():
            missing = comm["town"].isna()
            pts = comm.loc[missing].geometry.representative_point()
            c_idx, t_idx = town_layer.sindex.query(pts.values, predicate="intersects")
            first = pd.Series(t_idx).groupby(c_idx).min()
            filled = pd.Series(None, index=pts.index, dtype=object)
            filled.iloc[first.index.to_numpy()] = town_layer["town"].to_numpy()[first.to_numpy()]
            comm.loc[missing, "town"] = filled
    if comm["town"].isna().any():
        rows = comm.loc[comm["town"].isna(), "source_row"]
        log.extend(str(communities), rows, "no town/street for this community; listed under 未知街道",
                   severity="info")
        comm["town"] = comm["town"].fillna("未知街道")

    for frame, role, label in ((dem, "demand", str(demand)), *((f, "facilities", None) for f in fac_frames)):
        if frame is not None and _role_coords(coords, role) is None:
            _suspect_gcj02(frame, comm, metric, label or str(frame["source_file"].iloc[0]) if len(frame) else "",
                           log)
    step("placing demand")
    if dem is not None:
        dem = dem.to_crs(metric)
        dem = assign_communities(dem, comm, snap_m=snap_m, log=log, label=str(demand))
        weights = dem.groupby("community_id")["weight"].sum()
        no_pop = comm["population"].isna()
        if no_pop.any():
            comm.loc[no_pop, "population"] = comm.loc[no_pop, "community_id"].map(weights).fillna(0.0)
            log.extend(str(communities), comm.loc[no_pop, "source_row"],
                       "population missing: taken as the sum of the demand points inside", severity="info")
        dem = complete_demand(dem, comm, log=log, label=str(demand))
        used_rows[str(demand)] = dem["source_row"].dropna() if "source_row" in dem.columns else []
        dem["source"] = dem.get("source", "input")
    else:
        no_pop = comm["population"].isna()
        if no_pop.any():
            row = comm.loc[no_pop, "source_row"].iloc[0]
            raise InputError(f"{communities}, row {row}: population missing and no --demand given; fill the "
                             "population (人口) column or give demand points")
        dem = spread_population(comm, cell_m=cell_m)
        log.add(str(communities), None, f"no demand points given: each community's population spread over a "
                                        f"{cell_m:g} m grid inside it", severity="info")

    extents = {}
    for category, path in (survey_extent or {}).items():
        if category not in CATEGORIES:
            raise InputError(f"--survey-extent {category}=…: unknown category; use one of {', '.join(CATEGORIES)}")
        step(f"reading the {category} survey extent")
        area = io.read_extent(path, coords=_role_coords(coords, "towns"), encoding=encoding, log=log)
        # the features are dissolved: each row is used unless reported
        n_read, first = log.read_rows.get(str(path), (0, 1))
        used_rows[str(path)] = [r for r in range(first, first + n_read) if r not in io._logged_rows(log, str(path))]
        extents[category] = gpd.GeoSeries([area], crs=4326).to_crs(metric).iloc[0]
    surveyed = [c for c in CATEGORIES if c in declared or (fac["category"] == c).any()]
    checks = select_checks(fac, table, surveyed, standard_choices, jurisdiction=jurisdiction, log=log)
    if radius:
        checks = [replace(c, radius_m=float(radius[c.category])) if c.category in radius else c for c in checks]
    _report_facilities(fac, comm, checks, log)
    walk = None
    if distance == "network":
        step("reading the walking network")
        net = read_network(network, metric, coords=_role_coords(coords, "network"), encoding=encoding, log=log)
        n_minor, n_seg, km = net.minor_parts()
        n_major = int(len(np.unique(net.component[net.u[net.snappable]])))
        if n_major > 1:
            log.add(str(network), None, f"the walking network is in {n_major} separate parts (no street joins them): "
                                        "homes on one part cannot walk to facilities on another; check that the "
                                        "extract covers the whole area and its bridges and crossings")
        if n_minor:
            log.add(str(network), None, f"{n_minor} small disconnected pieces of the network ({n_seg} segments, "
                                        f"{km:.1f} km) are not snapped to", severity="info")
        walk = WalkingDistance(net, dem.geometry.values, max_snap_m=max_snap_m)
        if not walk.demand.ok.any():
            raise InputError(f"{network}: none of the {len(dem)} demand points is within {max_snap_m:g} m of a "
                             "walkable street of this network; is it the network of the study area?")
        _report_snapping(walk, dem, fac, net, log=log, demand_label=str(demand) if demand is not None else "demand")
    if town_layer is None:
        town_layer = comm.dissolve(by="town", as_index=False)[["town", "geometry"]]
        town_layer["population"] = comm.groupby("town")["population"].sum().to_numpy()
    else:
        town_layer = town_layer[["town", "population", "geometry"]]
    settings = {
        "distance": distance,
        "network": None if network is None else str(network),
        "max_snap_m": max_snap_m if distance == "network" else None,
        "buffer_m": buffer_m if distance == "network" else None,
        "coverage_target": coverage_target,
        "capacity_method": capacity_method,
        "survey_extent": {k: str(v) for k, v in (survey_extent or {}).items()},
        "study": study,
        "jurisdiction": jurisdiction,
        "attribution": attribution,
        "crs": metric.to_string(),
        "inputs": {
            "communities": str(communities),
            "facilities": [str(f[0] if isinstance(f, tuple) else f) for f in facilities],
            "demand": None if demand is None else str(demand),
            "towns": None if towns is None else str(towns),
        },
    }
    category_measures = {}
    if cost_matrix:
        from .costs import CostMatrixDistance, read_cost_table

        category = cost_matrix["category"]
        step("reading the cost table")
        table = read_cost_table(cost_matrix["path"], origin=cost_matrix.get("origin", "origin"),
                                destination=cost_matrix.get("destination", "destination"),
                                value=cost_matrix.get("value", "cost"), encoding=encoding)
        od = CostMatrixDistance(table, dem["demand_id"].to_numpy())
        od.report(fac.loc[fac["category"] == category], category, log)
        category_measures[category] = od
        settings["cost_matrix"] = {"category": category, **table.describe()}
    accounting = input_accounting(log, used_rows)
    return Study(communities=comm, demand=dem, facilities=fac, towns=town_layer, checks=checks, surveyed=surveyed,
                 crs=metric, settings=settings, log=log, walk=walk, extents=extents, accounting=accounting,
                 category_measures=category_measures)


ACCOUNTING_COLUMNS = ["file", "rows_read", "rows_used", "rows_reported", "rows_unaccounted"]


def input_accounting(log: WarningLog, used: dict) -> pd.DataFrame:
    """Per input file: rows read = rows used + rows reported (not used, with a warning saying why). A row neither
    used nor reported would be silently lost: it is reported here ("no reason recorded") and counted as
    unaccounted, which the tests require to be 0."""
    warnings = log.to_frame()
    rows_out = []
    for file, (n_read, first) in log.read_rows.items():
        if file not in used:  # the walking network: its lines are reported in its own terms (pieces, islands)
            continue
        used_set = {int(r) for r in pd.to_numeric(pd.Series(list(used.get(file, []))), errors="coerce").dropna()}
        logged = warnings.loc[warnings["file"] == file, "row"]
        reported = {int(r) for r in pd.to_numeric(logged, errors="coerce").dropna()} - used_set
        all_rows = set(range(first, first + n_read))
        lost = sorted(all_rows - used_set - reported)
        for row in lost:
            log.add(file, row, "row not used and no reason recorded; please report this as a geofacility bug")
        rows_out.append({"file": file, "rows_read": n_read, "rows_used": len(used_set & all_rows),
                         "rows_reported": len(reported & all_rows), "rows_unaccounted": len(lost)})
    return pd.DataFrame(rows_out, columns=ACCOUNTING_COLUMNS)


def evaluate(study: Study, *, progress=None) -> Analysis:
    """Coverage and gaps of a prepared :class:`Study` (and, on foot, the service areas)."""
    step = progress or (lambda message: None)
    log = WarningLog()
    log.extend_from(study.log)
    walk = study.walk
    step("computing coverage")
    comm, dem = compute_coverage(study.communities, study.demand, study.facilities, study.checks,
                                 coverage_target=study.settings["coverage_target"], measure=walk,
                                 survey_extent=study.extents, category_measures=study.category_measures)
    areas = None
    if walk is not None:
        _report_unreachable(dem, study.stranded or stranded_demand(walk, study.facilities, study.checks), log,
                            label=study.settings.get("network") or "network")
        step("drawing service areas")
        areas = _service_areas(walk.network, study.facilities, study.checks, max_snap_m=walk.max_snap_m,
                               buffer_m=study.settings["buffer_m"])
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
        service_areas=areas,
        measure=walk if walk is not None else StraightLineDistance(dem.geometry.values),
        category_measures=dict(study.category_measures),
        accounting=study.accounting,
    )
    method = study.settings.get("capacity_method", "allocate")
    if method != "none":
        analysis = apply_capacity(analysis, method=method, log=log, progress=step, precomputed=study.capacity)
        analysis.warnings = log.to_frame()
    return analysis


def analyze(*, progress=None, **kwargs) -> Analysis:
    """Run the analysis: :func:`prepare` the inputs, then :func:`evaluate` them. Keyword arguments are those of
    :func:`prepare`.

    ``facilities``: paths, or ``(path, category)`` pairs (the category applies to rows without one, and marks
    the category as surveyed even when the file holds none of it). ``coords``: one coordinate system for all
    inputs, or a dict by role (``communities``, ``facilities``, ``demand``, ``towns``, ``network``, ``*``).
    ``radius``: service-radius overrides by category, in metres. ``network``: an OSM file or street centre lines;
    with it ``distance`` defaults to ``"network"``.
    """
    return evaluate(prepare(progress=progress, **kwargs), progress=progress)


def _outside_share(lon: np.ndarray, lat: np.ndarray, communities: gpd.GeoDataFrame, metric) -> float:
    pts = gpd.GeoSeries(gpd.points_from_xy(lon, lat), crs=4326).to_crs(metric)
    hit = np.unique(communities.sindex.query(pts.values, predicate="intersects")[0])
    return 1.0 - len(hit) / max(len(pts), 1)


def _suspect_gcj02(points: gpd.GeoDataFrame, communities: gpd.GeoDataFrame, metric, label: str,
                   log: WarningLog, *, sample: int = 20_000) -> None:
    """Points read as WGS84 that are probably GCJ-02 (Amap/Tencent coordinates labelled WGS84): GCJ-02 cannot be
    told from WGS84 by the coordinates alone, but when many points lie outside every community as read, and far
    fewer would if they were GCJ-02, the warning says so (docs/bad-inputs.md)."""
    from .crs import to_wgs84

    if not len(points) or not label:
        return
    frame = log.to_frame()
    if frame.loc[frame["file"] == label, "message"].str.contains("GCJ02|BD09").any():
        return  # already converted
    geoms = points.geometry
    ok = (geoms.notna() & ~geoms.is_empty).to_numpy()
    if not ok.any() or not (geoms[ok].geom_type == "Point").all():
        return
    lon, lat = geoms[ok].x.to_numpy(), geoms[ok].y.to_numpy()
    if len(lon) > sample:  # evenly spaced rows: deterministic
        keep = np.linspace(0, len(lon) - 1, sample).astype(np.int64)
        lon, lat = lon[keep], lat[keep]
    in_china = (lon > 73) & (lon < 136) & (lat > 18) & (lat < 54)
    if in_china.mean() < 0.9 or len(lon) < 5:
        return
    as_read = _outside_share(lon, lat, communities, metric)
    if as_read < 0.05:
        return
    shifted = _outside_share(*to_wgs84(lon, lat, "gcj02"), communities, metric)
    if shifted <= as_read / 2:
        log.add(label, None, f"{as_read:.0%} of the points lie outside every community as read (WGS84), only "
                             f"{shifted:.0%} if read as GCJ-02: the coordinates are probably GCJ-02 (Amap/Tencent); "
                             "if so, give --coords ROLE=gcj02 (e.g. --coords demand=gcj02)")


#: a facility farther than this from every community is reported (a coordinate error, or another city's data)
FAR_FROM_STUDY_M = 10_000.0


def _report_facilities(facilities: gpd.GeoDataFrame, communities: gpd.GeoDataFrame, checks: list[Check],
                       log: WarningLog) -> None:
    """Facilities far outside the study area, and facilities without the floor area their standard needs."""
    if not len(facilities):
        return
    _, dist = communities.sindex.nearest(facilities.geometry.values, return_distance=True, return_all=False)
    far = np.flatnonzero(dist > FAR_FROM_STUDY_M)
    for i in far:
        log.add(facilities["source_file"].iloc[i], facilities["source_row"].iloc[i],
                f"facility {facilities['name'].iloc[i]} lies {dist[i] / 1000:,.0f} km from the nearest community, "
                "far outside the study area: check its coordinates (and --coords); kept, it serves no community")
    masks = facility_checks(facilities, checks)
    area = facilities["floor_area_m2"].to_numpy(dtype="float64")
    for check in checks:
        if not check.has_area_rule or check.scope == "reach":
            continue
        missing = np.flatnonzero(masks[check] & np.isnan(area))
        if len(missing) and len(missing) == int(masks[check].sum()):  # no floor area surveyed at all: say it once
            for file in dict.fromkeys(facilities["source_file"].iloc[missing]):
                log.add(file, None, f"no floor areas (建筑面积) given for {check.name_zh} ({check.subcategory}), whose "
                                    "standard sets floor-area rules: the area gaps read 面积未知 and are not checked",
                        severity="info")
            continue
        for i in missing:  # some have it, these not: an omission to fill in
            log.add(facilities["source_file"].iloc[i], facilities["source_row"].iloc[i],
                    f"no floor area (建筑面积) for {facilities['name'].iloc[i]}, although {check.name_zh} "
                    f"({check.subcategory}) sets floor-area rules: its community's floor area reads 面积未知 and the "
                    "area gap is not checked; fill in the floor area")


def _report_snapping(walk: WalkingDistance, demand: gpd.GeoDataFrame, facilities: gpd.GeoDataFrame, net: Network,
                     *, log: WarningLog, demand_label: str) -> None:
    """Homes and facilities too far from every street are reported: homes count as not covered, facilities
    cover nobody on foot."""
    far = ~walk.demand.ok
    rows = demand["source_row"] if "source_row" in demand.columns else demand["demand_id"]
    for row, weight in zip(rows[far], demand.loc[far, "weight"]):
        log.add(demand_label, row, f"more than {walk.max_snap_m:g} m from every walkable street: its "
                                   f"{weight:,.0f} people count as not covered on foot")
    fac_snap = snap_points(net, facilities.geometry.values, walk.max_snap_m)
    stranded = facilities.loc[~fac_snap.ok]
    for file, row, name in zip(stranded["source_file"], stranded["source_row"], stranded["name"]):
        log.add(file, row, f"facility {name} is more than {walk.max_snap_m:g} m from every walkable street: it "
                           "reaches nobody on foot")


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
                                     "street, or on a part of the network not connected to one); not covered")


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

