"""The pipeline: read → demand → distance → coverage and gaps → ledger and map, wired in :func:`analyze`."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from . import read
from .capacity import METHODS as CAPACITY_METHODS, apply_capacity
from .coverage import compute_coverage, select_checks
from .read import choose_metric_crs
from .read.rows import _logged_rows
from .coverage import facility_checks
from .distance import StraightLineDistance
from .demand import assign_communities, complete_demand, spread_population
from .errors import InputError, WarningLog
from .network import (DEFAULT_BUFFER_M, DEFAULT_MAX_SNAP_M, Network, WalkingDistance, read_network, service_areas,
                      snap_points)
from .standards import CATEGORIES, CATEGORY_SHORT_ZH, Check, jurisdiction_levels, load_standards

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
    #: per surveyed category, by ``community_id``, the position among the category's checks of the one whose
    #: coverage the category's columns give (its weakest; see :func:`geofacility.coverage.compute_coverage`)
    coverage_picks: dict = field(default_factory=dict, repr=False)
    #: facilities whose ``status`` is 规划/在建/未移交: not current provision, they name the stage of a problem
    #: (geofacility.stages); same columns as :attr:`facilities`
    not_in_use: gpd.GeoDataFrame | None = None


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
    #: facilities planned, under construction or not handed over (``status`` other than 在用): not counted as
    #: provision; they name the stage of a community's problem (geofacility.stages)
    not_in_use: gpd.GeoDataFrame | None = None


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


#: words that name the kind of file, not the place: a title from ``社区.geojson`` or ``张店区社区边界.shp`` drops them
#: (else 社区 + 社区配套设施排查台账 reads 社区社区配套设施…); longest first, stripped from the end repeatedly
_GENERIC_NAME_WORDS = sorted({
    "社区", "社区边界", "社区范围", "社区面", "社区数据", "社区图层", "社区界线", "居委会", "居委", "村居", "边界", "范围",
    "界线", "数据", "图层", "原始数据", "输入", "资料", "communities", "community", "boundaries", "boundary",
    "polygons", "polygon", "data", "input", "inputs", "raw", "gis", "shp", "shapefile", "layers", "layer", "wgs84",
    "gcj02", "cgcs2000"}, key=len, reverse=True)
_NAME_SEPARATORS = " _-.·—()（）[]【】"


def _place_part(name: str) -> str:
    """``name`` without the generic words at its end (``张店区社区`` → 张店区, ``communities`` → '')."""
    text = name.strip(_NAME_SEPARATORS)
    while True:
        word = next((w for w in _GENERIC_NAME_WORDS if text.lower().endswith(w) and len(text) >= len(w)), None)
        if word is None:
            return text
        text = text[: len(text) - len(word)].strip(_NAME_SEPARATORS)


def study_name(communities, towns=None) -> str:
    """The study's name for titles when none is given (``--study``): from the communities file's layer or name
    without generic words (``张店区社区.shp`` → 张店区); for a generic name (``社区.geojson``,
    ``communities.gpkg``) the one town/street all communities lie in, else the folder holding the file
    (``张店区/社区.shp`` → 张店区); else '' (the titles then read 社区配套设施… alone)."""
    path, layer = read.split_layer(communities)
    for name in (layer, path.stem):
        if name and _place_part(name):
            return _place_part(name)
    names = pd.Series(towns if towns is not None else [], dtype=object).dropna().astype(str).unique()
    if len(names) == 1 and names[0].strip():
        return names[0].strip()
    folder = path.resolve().parent.name if path.name else ""
    return _place_part(folder)


def _role_coords(coords: dict | str | None, role: str):
    if coords is None or isinstance(coords, str):
        return coords
    return coords.get(role, coords.get("*"))


#: the study area of a study without community polygons: the demand points' convex hull widened by this much
STUDY_AREA_MARGIN_M = 100.0
#: its one row in the ledger
STUDY_AREA_ID = "研究范围"


def study_area(demand: gpd.GeoDataFrame, name: str) -> gpd.GeoDataFrame:
    """The study of demand points alone (no community polygons, as PySAL spopt users work): one unit, the demand's
    extent — their convex hull widened by :data:`STUDY_AREA_MARGIN_M` — holding every point's people. ``demand``
    in a metric CRS."""
    pts = np.asarray(demand.geometry.values)
    hull = shapely.convex_hull(shapely.union_all(pts)).buffer(STUDY_AREA_MARGIN_M)
    households = pd.to_numeric(demand["households"], errors="coerce") if "households" in demand else None
    return gpd.GeoDataFrame({
        "community_id": [STUDY_AREA_ID], "community": [STUDY_AREA_ID], "town": [name or STUDY_AREA_ID],
        "population": [float(demand["weight"].sum())],
        "households": [float(households.sum()) if households is not None and households.notna().any() else np.nan],
        "approximate": [False], "source_row": [None],
    }, geometry=[hull], crs=demand.crs)


def prepare(
    *,
    communities=None,
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
    study: str | None = "",
    attribution: str = "",
    progress=None,
    allow_overlap: bool = False,
    cost_matrix: dict | None = None,
    demand_columns: dict | None = None,
    none_exist: tuple | list = (),
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
    smaller one's area or more are refused unless True (see :func:`geofacility.read.check_overlaps`).

    ``communities=None``: a study of the ``demand`` points alone, whose extent is the study (:func:`study_area`:
    one unit holding everybody). ``demand_columns``: the demand file's columns for roles
    (``{"population": "POP2000", "demand_id": "NAME"}``). ``none_exist``: categories surveyed although no
    facility file names them (siting where none exist yet): said in the warnings when none is found.
    ``jurisdiction``: where the study lies, e.g. ``"北京市"`` or ``"山东省淄博市"``: national standards always apply,
    a province's or a city's only there, the most local one of a standard winning (``"全国"``: national ones only;
    None: every row, the Python API's default — the CLI always chooses one).
    """
    if communities is None and demand is None:
        raise InputError("give --communities (community polygons) or --demand (demand points), or neither for the "
                         "bundled sample")
    step = progress or (lambda message: None)
    log = WarningLog()
    alias_map = read.load_aliases(aliases)
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

    comm = None
    if communities is not None:
        step("reading communities")
        comm = read.read_communities(communities, coords=_role_coords(coords, "communities"), encoding=encoding,
                                     aliases=alias_map, log=log)
    town_layer = None
    if towns is not None:
        step("reading towns")
        town_layer = read.read_towns(towns, coords=_role_coords(coords, "towns"), encoding=encoding,
                                     aliases=alias_map, log=log)
    step("reading facilities")
    fac_frames, declared = [], set()
    for item in facilities:
        path, category = (item if isinstance(item, tuple) else (item, None))
        if category is not None:
            declared.add(category)
        fac_frames.append(read.read_facilities(path, category=category, coords=_role_coords(coords, "facilities"),
                                               encoding=encoding, aliases=alias_map, log=log))
    dem = None
    if demand is not None:
        step("reading demand")
        dem = read.read_demand(demand, coords=_role_coords(coords, "demand"), encoding=encoding, aliases=alias_map,
                               log=log, columns=demand_columns)

    if comm is None:  # the demand's extent is the study
        if dem.empty:
            raise InputError(f"{demand}: no demand point with a population; nothing to study")
        metric = choose_metric_crs(dem.geometry, crs)
        comm = study_area(dem.to_crs(metric), study or Path(str(demand)).stem)
        log.add(str(demand), None, "no community polygons given: the study is the demand points' extent (convex hull "
                                   f"widened by {STUDY_AREA_MARGIN_M:g} m), one unit '{STUDY_AREA_ID}' of "
                                   f"{comm['population'].iloc[0]:,.0f} people", severity="info",
                zh=f"未给社区边界：研究范围为需求点的范围（凸包外扩 {STUDY_AREA_MARGIN_M:g} m），作为一个单元"
                   f"“{STUDY_AREA_ID}”，共 {comm['population'].iloc[0]:,.0f} 人")
    else:
        metric = choose_metric_crs(comm.geometry, crs)
        comm = comm.to_crs(metric)
        read.check_overlaps(comm, label=str(communities), log=log, allow=allow_overlap)
    fac_cols = ["facility_id", "name", "category", "subcategory", "floor_area_m2", "capacity", "status",
                "source_file", "source_row", "geometry"]
    if fac_frames:
        fac = gpd.GeoDataFrame(pd.concat([f[fac_cols].to_crs(metric) for f in fac_frames], ignore_index=True),
                               crs=metric)
        dup = fac["facility_id"].duplicated(keep=False)
        if dup.any():
            files = fac.loc[dup, "source_file"].unique()
            fac.loc[dup, "facility_id"] = fac.loc[dup, "source_file"].map(lambda f: Path(f).stem) + ":" + \
                fac.loc[dup, "facility_id"]
            log.add(", ".join(files), None, "the same facility ids occur in several files; ids prefixed with the "
                                            "file name", severity="info",
                    zh="多个文件中出现相同的设施编号：编号前已加上文件名")
    else:
        fac = gpd.GeoDataFrame({c: [] for c in fac_cols[:-1]}, geometry=[], crs=metric)
    used_rows = {str(communities): comm["source_row"]} if communities is not None else {}
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
                   severity="info", zh="该社区没有所属街道（镇）：列在“未知街道”下")
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
                       "population missing: taken as the sum of the demand points inside", severity="info",
                       zh="人口缺失：取社区内各需求点之和")
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
                                        f"{cell_m:g} m grid inside it", severity="info",
                zh=f"未提供需求点：各社区人口均匀分布在其内部 {cell_m:g} m 网格上")

    extents = {}
    for category, path in (survey_extent or {}).items():
        if category not in CATEGORIES:
            raise InputError(f"--survey-extent {category}=…: unknown category; use one of {', '.join(CATEGORIES)}")
        step(f"reading the {category} survey extent")
        area = read.read_extent(path, coords=_role_coords(coords, "towns"), encoding=encoding, log=log)
        # the features are dissolved: each row is used unless reported
        n_read, first = log.read_rows.get(str(path), (0, 1))
        used_rows[str(path)] = [r for r in range(first, first + n_read) if r not in _logged_rows(log, str(path))]
        extents[category] = gpd.GeoSeries([area], crs=4326).to_crs(metric).iloc[0]
    for category in none_exist:
        if category not in CATEGORIES:
            raise InputError(f"unknown category {category!r}; use one of {', '.join(CATEGORIES)}")
        declared.add(category)
        if not (fac["category"] == category).any():
            log.add(str(demand if communities is None else communities), None,
                    f"no existing {category} facilities given (--facilities {category}=FILE): as if none exist, "
                    "nobody is covered", severity="info",
                    zh=f"未给现有{CATEGORY_SHORT_ZH[category]}设施（--facilities {category}=FILE）：按现状无此类设施计，"
                       "所有人均未覆盖")
    surveyed = [c for c in CATEGORIES if c in declared or (fac["category"] == c).any()]
    checks = select_checks(fac, table, surveyed, standard_choices, jurisdiction=jurisdiction, log=log)
    if radius:
        checks = [replace(c, radius_m=float(radius[c.category])) if c.category in radius else c for c in checks]
    fac, not_in_use = _split_in_use(fac, log)
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
                                        "extract covers the whole area and its bridges and crossings",
                    zh=f"步行路网分成 {n_major} 个互不相连的部分（无道路相连）：一部分上的住户无法步行到另一部分的设施；"
                       "请检查路网是否覆盖整个区域及其桥梁、过街设施")
        if n_minor:
            log.add(str(network), None, f"{n_minor} small disconnected pieces of the network ({n_seg} segments, "
                                        f"{km:.1f} km) are not snapped to", severity="info",
                    zh=f"路网中有 {n_minor} 个孤立小段（{n_seg} 段，共 {km:.1f} km），不作为接入点")
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
        "study": study if study is not None else study_name(communities, comm["town"]),
        "jurisdiction": jurisdiction,
        "attribution": attribution,
        "crs": metric.to_string(),
        "inputs": {
            "communities": None if communities is None else str(communities),
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
                 category_measures=category_measures, not_in_use=not_in_use)


def _split_in_use(fac: gpd.GeoDataFrame, log: WarningLog) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """(facilities in use, the others): only those in use are current provision (coverage, counts, floor area,
    capacity); the ones planned, under construction or not handed over are said once per file."""
    from .stages import IN_USE, STATUSES

    in_use = (fac["status"].fillna(IN_USE) == IN_USE).to_numpy()
    others = fac.loc[~in_use].reset_index(drop=True)
    for file, rows in others.groupby("source_file", sort=False):
        counts = rows["status"].value_counts()
        listed = "、".join(f"{s} {int(counts[s])}" for s in STATUSES if s in counts.index)
        log.add(file, None, f"{len(rows)} facilities not in use ({listed}) are not counted as current provision; "
                            "they name the stage of 存在问题 where they lie",
                severity="info", zh=f"{len(rows)} 处设施尚未在用（{listed}），不计入现状配置；在其所在或服务半径内的社区，"
                                    "存在问题按其状态归入建设或移交")
    return fac.loc[in_use].reset_index(drop=True), others


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
            log.add(file, row, "row not used and no reason recorded; please report this as a geofacility bug",
                    zh="本行未采用且未记录原因：请作为 geofacility 的缺陷报告")
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
    picks: dict = {}
    comm, dem = compute_coverage(study.communities, study.demand, study.facilities, study.checks,
                                 coverage_target=study.settings["coverage_target"], measure=walk,
                                 survey_extent=study.extents, category_measures=study.category_measures,
                                 picks=picks)
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
        coverage_picks=picks,
    )
    method = study.settings.get("capacity_method", "allocate")
    if method != "none":
        analysis = apply_capacity(analysis, method=method, log=log, progress=step, precomputed=study.capacity)
        analysis.warnings = log.to_frame()
    from .stages import classify

    analysis.communities = classify(analysis.communities, study.not_in_use, study.checks, demand=analysis.demand,
                                    measure=analysis.measure, category_measures=analysis.category_measures)
    analysis.not_in_use = study.not_in_use
    return analysis


def analyze(*, progress=None, **kwargs) -> Analysis:
    """Run the analysis: :func:`prepare` the inputs, then :func:`evaluate` them. Keyword arguments are those of
    :func:`prepare`.

    ``facilities``: paths, or ``(path, category)`` pairs (the category applies to rows without one, and marks
    the category as surveyed even when the file holds none of it). ``coords``: one coordinate system for all
    inputs, or a dict by role (``communities``, ``facilities``, ``demand``, ``towns``, ``network``, ``*``).
    ``radius``: service-radius overrides by category, in metres. ``network``: an OSM file or street centre lines;
    with it ``distance`` defaults to ``"network"``. ``study``: the name in titles (``""``: none; ``None``: named
    from the communities file, :func:`study_name`, as the command line does).
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
    from .read import to_wgs84

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
                             "if so, give --coords ROLE=gcj02 (e.g. --coords demand=gcj02)",
                zh=f"按 WGS84 读取时 {as_read:.0%} 的点落在所有社区之外，按 GCJ-02 读取则只有 {shifted:.0%}：坐标很可能是 "
                   "GCJ-02（高德/腾讯）；如是，请用 --coords 角色=gcj02 指定（如 --coords demand=gcj02）")


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
                "far outside the study area: check its coordinates (and --coords); kept, it serves no community",
                zh=f"设施 '{facilities['name'].iloc[i]}' 距最近的社区 {dist[i] / 1000:,.0f} km，远在研究范围之外：请核对其坐标"
                   "（及 --coords）；已保留，但不服务任何社区")
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
                        severity="info", zh=f"{check.name_zh}未提供建筑面积，而其标准有面积要求：面积缺口显示为“面积未知”，不作核算")
            continue
        for i in missing:  # some have it, these not: an omission to fill in
            log.add(facilities["source_file"].iloc[i], facilities["source_row"].iloc[i],
                    f"no floor area (建筑面积) for {facilities['name'].iloc[i]}, although {check.name_zh} "
                    f"({check.subcategory}) sets floor-area rules: its community's floor area reads 面积未知 and the "
                    "area gap is not checked; fill in the floor area",
                    zh=f"'{facilities['name'].iloc[i]}' 没有建筑面积，而{check.name_zh}标准有面积要求：所在社区面积显示为"
                       "“面积未知”，不核算面积缺口；请补填建筑面积")


def _report_snapping(walk: WalkingDistance, demand: gpd.GeoDataFrame, facilities: gpd.GeoDataFrame, net: Network,
                     *, log: WarningLog, demand_label: str) -> None:
    """Homes and facilities too far from every street are reported: homes count as not covered, facilities
    cover nobody on foot."""
    far = ~walk.demand.ok
    rows = demand["source_row"] if "source_row" in demand.columns else demand["demand_id"]
    for row, weight in zip(rows[far], demand.loc[far, "weight"]):
        log.add(demand_label, row, f"more than {walk.max_snap_m:g} m from every walkable street: its "
                                   f"{weight:,.0f} people count as not covered on foot",
                zh=f"距所有可步行道路超过 {walk.max_snap_m:g} m：其 {weight:,.0f} 人按步行未覆盖计")
    fac_snap = snap_points(net, facilities.geometry.values, walk.max_snap_m)
    stranded = facilities.loc[~fac_snap.ok]
    for file, row, name in zip(stranded["source_file"], stranded["source_row"], stranded["name"]):
        log.add(file, row, f"facility {name} is more than {walk.max_snap_m:g} m from every walkable street: it "
                           "reaches nobody on foot",
                zh=f"设施 '{name}' 距所有可步行道路超过 {walk.max_snap_m:g} m：步行无法到达任何人")


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

