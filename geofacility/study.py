"""Preparing a study — the stage between reading the files (:mod:`geofacility.read`) and measuring coverage and gaps
(:mod:`geofacility.pipeline`): every input read, checked and placed in one metric CRS, the standards chosen and, on
foot, the walking network built, as a :class:`Study`.

:func:`prepare` is a short sequence of named steps, each a function usable alone (a workbench re-runs one step;
a distributed run prepares once and evaluates by group). All steps write their warnings into one
:class:`~geofacility.errors.WarningLog`, in the order the steps run.

1. :func:`check_options` — the options checked, the column aliases and the standards table read, before any long
   read (:class:`Options`);
2. :func:`read_inputs` — the communities, towns, facilities and demand files read (:class:`Inputs`);
3. :func:`metric_crs` — the projected CRS, in metres, all distances are measured in;
4. :func:`place_demand` — the communities (or the demand points' :func:`study_area`), facilities and towns in that
   CRS, the demand points assigned to communities or each community's people spread over a grid (:class:`Placed`);
5. :func:`choose_standards` — survey extents, the surveyed categories (``none_exist`` too), the standards that
   apply in the jurisdiction, radius overrides (:class:`Standards`); :func:`facilities_in_use` sets aside the
   facilities planned, under construction or not handed over;
6. :func:`build_walking_network` — on foot: the walking network read, the homes and facilities snapped to it;
7. :func:`cost_tables` — the categories measured by an OD cost table (:class:`CostTables`);
8. :func:`study_settings` — what the study was run with; :func:`input_accounting` — every input row used or
   reported.

Also here: the bundled Xicheng sample (:func:`sample_inputs`, :func:`sample_dir`) and the study's name for titles
(:func:`study_name`).

Why one module of about 1,100 lines (over the house's ~500): some 390 of them are the steps' docstrings, and the
steps are kept together so that their order — which is also the order of the warnings a planner reads — shows in
one place. The input reports the steps make (:func:`_suspect_gcj02`, :func:`_report_facilities`,
:func:`_report_snapping`, about 110 lines) are the part to move out first if it grows.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, NamedTuple

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from . import read
from .read.rows import _logged_rows
from .capacity import METHODS as CAPACITY_METHODS
from .coverage import facility_checks, select_checks
from .read import choose_metric_crs
from .demand import assign_communities, complete_demand, spread_population
from .errors import InputError, WarningLog
from .network import DEFAULT_BUFFER_M, DEFAULT_MAX_SNAP_M, Network, WalkingDistance, read_network, snap_points
from .standards import CATEGORIES, CATEGORY_SHORT_ZH, Check, jurisdiction_levels, load_standards

__all__ = ["Study", "Options", "Inputs", "Placed", "Standards", "CostTables", "prepare", "check_options",
           "read_inputs", "metric_crs", "place_demand", "choose_standards", "facilities_in_use",
           "build_walking_network", "cost_tables", "study_settings", "input_accounting", "sample_inputs",
           "sample_dir", "study_name", "study_area"]

#: a step's progress callback: called with a short message (e.g. ``"reading communities"``) as each part starts
Progress = Callable[[str], None] | None


@dataclass
class Study:
    """Inputs read, checked and placed, in the metric CRS: what :func:`geofacility.pipeline.evaluate` needs (and
    what a batch splits by group). ``log`` holds the input warnings so far; ``walk`` the walking-distance measure
    when on foot."""

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
    if read.is_database(communities):  # a PostGIS table: its name
        path, layer = Path(), read.source_stem(communities)
    else:
        path, layer = read.split_layer(communities)
    for name in (layer, path.stem):
        if name and _place_part(name):
            return _place_part(name)
    names = pd.Series(towns if towns is not None else [], dtype=object).dropna().astype(str).unique()
    if len(names) == 1 and names[0].strip():
        return names[0].strip()
    folder = path.resolve().parent.name if path.name else ""
    return _place_part(folder)


def _sources(communities, demand, towns, facilities):
    """The inputs with each PostGIS table's text as a :class:`geofacility.read.DatabaseSource` (shown masked)."""
    facilities = [(read.source(i[0]), *i[1:]) if isinstance(i, tuple) else read.source(i) for i in facilities or ()]
    return read.source(communities), read.source(demand), read.source(towns), facilities


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
    demand_by_group: bool = False,
) -> Study:
    """Read and check every input, place demand in communities, choose the standards: a :class:`Study` ready to
    be evaluated (see :func:`geofacility.pipeline.analyze`, which runs both steps).

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

    The steps, each usable alone (see the module docstring): :func:`check_options`, :func:`read_inputs`,
    :func:`metric_crs`, :func:`place_demand`, :func:`choose_standards`, :func:`facilities_in_use`,
    :func:`build_walking_network`, :func:`study_settings`, :func:`cost_tables`, :func:`input_accounting`.

    ``demand_by_group``: the ``demand`` file is not read here: each batch group reads and places its own part
    (:mod:`geofacility.partition`); the study's ``demand`` is empty and communities keep a missing population
    until their group fills it.
    """
    # a PostGIS table's text is kept masked wherever it is shown (labels, warnings, settings)
    communities, demand, towns, facilities = _sources(communities, demand, towns, facilities)
    options = check_options(communities=communities, demand=demand, aliases=aliases, coverage_target=coverage_target,
                            radius=radius, distance=distance, network=network, max_snap_m=max_snap_m,
                            capacity_method=capacity_method, standards=standards, jurisdiction=jurisdiction)
    log = WarningLog()
    inputs = read_inputs(communities=communities, facilities=facilities, demand=None if demand_by_group else demand,
                         towns=towns, coords=coords, encoding=encoding, aliases=options.aliases,
                         demand_columns=demand_columns, log=log, progress=progress)
    if demand_by_group:
        inputs.demand_file = demand
    metric = metric_crs(inputs, crs)
    placed = place_demand(inputs, metric, study=study, allow_overlap=allow_overlap, snap_m=snap_m, cell_m=cell_m,
                          coords=coords, log=log, progress=progress, by_group=demand_by_group)
    chosen = choose_standards(placed.facilities, options.standards, metric, declared=inputs.declared,
                              survey_extent=survey_extent, none_exist=none_exist, standard_choices=standard_choices,
                              radius=radius, jurisdiction=jurisdiction, coords=coords, encoding=encoding,
                              label=str(demand if communities is None else communities), log=log, progress=progress)
    fac, not_in_use = facilities_in_use(placed.facilities, placed.communities, chosen.checks, log=log)
    walk = None
    if options.distance == "network":
        walk = build_walking_network(network, metric, placed.demand, fac, max_snap_m=max_snap_m, coords=coords,
                                     encoding=encoding, demand_label=str(demand) if demand is not None else "demand",
                                     log=log, progress=progress)
    settings = study_settings(inputs, placed.communities, metric, distance=options.distance, network=network,
                              max_snap_m=max_snap_m, buffer_m=buffer_m, coverage_target=coverage_target,
                              capacity_method=capacity_method, survey_extent=survey_extent, study=study,
                              jurisdiction=jurisdiction, attribution=attribution)
    costs = cost_tables(cost_matrix, placed.demand, fac, encoding=encoding, log=log, progress=progress)
    if costs.settings is not None:
        settings["cost_matrix"] = costs.settings
    accounting = input_accounting(log, {**placed.used_rows, **chosen.used_rows})
    return Study(communities=placed.communities, demand=placed.demand, facilities=fac, towns=placed.towns,
                 checks=chosen.checks, surveyed=chosen.surveyed, crs=metric, settings=settings, log=log, walk=walk,
                 extents=chosen.extents, accounting=accounting, category_measures=costs.measures,
                 not_in_use=not_in_use)


class Options(NamedTuple):
    """The options of a study, checked (:func:`check_options`)."""

    #: how distances are measured: ``"euclidean"`` (straight line) or ``"network"`` (walking)
    distance: str
    #: the standards table: the built-in rows, with the planner's file's rows overriding or extending them
    standards: pd.DataFrame
    #: column aliases by role column (built-in ones and the planner's file), for the readers
    aliases: dict[str, list[str]]


def check_options(*, communities=None, demand=None, aliases=None, coverage_target: float = 1.0,
                  radius: dict[str, float] | None = None, distance: str | None = None, network=None,
                  max_snap_m: float = DEFAULT_MAX_SNAP_M, capacity_method: str = "allocate", standards=None,
                  jurisdiction: str | None = None) -> Options:
    """Check a study's options and read its small tables (column aliases, standards) before any long read, so
    that a mistyped option stops the run at once.

    Parameters
    ----------
    communities, demand
        The community polygons' and the demand points' files (paths; only whether given is checked): one of
        them is needed.
    aliases
        A file of column aliases, or None for the built-in ones only.
    coverage_target
        The share of a community's people that must be covered, in (0, 1].
    radius
        Service-radius overrides by category, in metres (each > 0).
    distance
        ``"euclidean"``, ``"network"`` or None (``"network"`` when a ``network`` is given, else ``"euclidean"``).
    network
        The walking network's file, or None.
    max_snap_m
        How far a home or facility may lie from a walkable street and still be snapped to it, in metres (> 0).
    capacity_method
        One of :data:`geofacility.capacity.METHODS`, or ``"none"``.
    standards
        A standards file overriding or extending the built-in table, or None.
    jurisdiction
        Where the study lies (``"北京市"``, ``"全国"``…); a name that cannot be read is refused here.

    Returns
    -------
    Options
        The distance measure chosen, the standards table and the column aliases.

    Raises
    ------
    InputError
        For the first option that cannot be used, saying which and what to give instead.
    """
    if communities is None and demand is None:
        raise InputError("give --communities (community polygons) or --demand (demand points), or neither for the "
                         "bundled sample")
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
    return Options(distance=distance, standards=table, aliases=alias_map)


@dataclass
class Inputs:
    """The input files as read and checked (:func:`read_inputs`), in WGS84 (EPSG:4326), not yet placed."""

    #: the community polygons (:func:`geofacility.read.read_communities`), or None for a study of demand points alone
    communities: gpd.GeoDataFrame | None
    #: the towns/streets polygons (:func:`geofacility.read.read_towns`), or None
    towns: gpd.GeoDataFrame | None
    #: one frame per facility file (:func:`geofacility.read.read_facilities`), in the order given
    facilities: list[gpd.GeoDataFrame]
    #: the demand points (:func:`geofacility.read.read_demand`), or None (each community's people then spread)
    demand: gpd.GeoDataFrame | None
    #: the categories named with their facility file (``(path, category)``): surveyed even if the file holds none
    declared: set[str]
    #: the files as given (paths or ``path:layer`` text; None when not given): they name the warnings' ``file``
    communities_file: object = None
    towns_file: object = None
    demand_file: object = None
    facility_files: list = field(default_factory=list)


def read_inputs(*, communities=None, facilities=(), demand=None, towns=None, coords: dict | str | None = None,
                encoding: str | None = None, aliases: dict | None = None, demand_columns: dict | None = None,
                log: WarningLog, progress: Progress = None) -> Inputs:
    """Read and check the communities, towns, facilities and demand files, in that order.

    Parameters
    ----------
    communities, towns, demand
        The files (a path, or ``path:layer``), or None when not given.
    facilities
        Paths, or ``(path, category)`` pairs: the category applies to rows without one and marks it as surveyed.
    coords
        The coordinate system of all inputs (``"wgs84"``, ``"gcj02"``, ``"bd09"``, an EPSG code…), or a dict by
        role (``communities``, ``facilities``, ``demand``, ``towns``, ``*``); None: told from the files.
    encoding
        The text encoding of the files, or None to detect it.
    aliases
        Column aliases by role column (:attr:`Options.aliases`).
    demand_columns
        The demand file's columns for roles (``{"population": "POP2000", "demand_id": "NAME"}``).
    log
        Receives a warning per row set aside or repaired, and each file's rows read.
    progress
        Called with ``"reading communities"`` and so on as each file is read.

    Returns
    -------
    Inputs
        The frames as read, in WGS84, with the files they came from.

    Raises
    ------
    InputError
        For a file that cannot be used; for a study of demand points alone whose file holds no point with people.
    """
    step = progress or (lambda message: None)
    communities, demand, towns, facilities = _sources(communities, demand, towns, facilities)
    comm = None
    if communities is not None:
        step("reading communities")
        comm = read.read_communities(communities, coords=_role_coords(coords, "communities"), encoding=encoding,
                                   aliases=aliases, log=log)
    town_layer = None
    if towns is not None:
        step("reading towns")
        town_layer = read.read_towns(towns, coords=_role_coords(coords, "towns"), encoding=encoding,
                                   aliases=aliases, log=log)
    step("reading facilities")
    fac_frames, declared = [], set()
    for item in facilities:
        path, category = (item if isinstance(item, tuple) else (item, None))
        if category is not None:
            declared.add(category)
        fac_frames.append(read.read_facilities(path, category=category, coords=_role_coords(coords, "facilities"),
                                             encoding=encoding, aliases=aliases, log=log))
    dem = None
    if demand is not None:
        step("reading demand")
        dem = read.read_demand(demand, coords=_role_coords(coords, "demand"), encoding=encoding, aliases=aliases,
                             log=log, columns=demand_columns)
    if comm is None and dem.empty:  # the demand's extent would be the study
        raise InputError(f"{demand}: no demand point with a population; nothing to study")
    return Inputs(communities=comm, towns=town_layer, facilities=fac_frames, demand=dem, declared=declared,
                  communities_file=communities, towns_file=towns, demand_file=demand,
                  facility_files=[item[0] if isinstance(item, tuple) else item for item in facilities])


def metric_crs(inputs: Inputs, crs=None) -> CRS:
    """The projected CRS, in metres, the study is measured in (:func:`geofacility.read.choose_metric_crs`).

    Parameters
    ----------
    inputs
        The inputs read; the CRS is chosen for the communities, or for the demand points when there are none.
    crs
        The planner's ``--crs`` (must be projected in metres), or None for the UTM zone at the data's centre.

    Returns
    -------
    pyproj.CRS
        E.g. EPSG:32650 (UTM 50N) for Beijing.
    """
    if inputs.communities is None:
        return choose_metric_crs(inputs.demand.geometry, crs)
    return choose_metric_crs(inputs.communities.geometry, crs)


class Placed(NamedTuple):
    """The inputs placed in the metric CRS (:func:`place_demand`)."""

    #: one row per community (or the one :func:`study_area`): ``town`` and ``population`` filled
    communities: gpd.GeoDataFrame
    #: the demand points, each with its ``community_id`` and ``weight`` (people); or the population grid
    demand: gpd.GeoDataFrame
    #: all facilities, whatever their ``status``, ids unique across files
    facilities: gpd.GeoDataFrame
    #: one row per town/street: ``town``, ``population`` (people), geometry
    towns: gpd.GeoDataFrame
    #: per input file (its name as given), the rows used: for :func:`input_accounting`
    used_rows: dict


def place_demand(inputs: Inputs, metric: CRS, *, study: str | None = "", allow_overlap: bool = False,
                 snap_m: float = 50.0, cell_m: float = 100.0, coords: dict | str | None = None, log: WarningLog,
                 progress: Progress = None, by_group: bool = False) -> Placed:
    """Place everything in the metric CRS and the people in communities.

    The communities are projected and checked for overlaps — or, without community polygons, the demand points'
    extent becomes the study (:func:`study_area`, one unit). The facility files are joined (ids repeated across
    files are prefixed with the file name); each community without a town/street gets the one its representative
    point lies in (else 未知街道). Points that look like GCJ-02 read as WGS84 are reported. Then each demand point is
    assigned to the community it lies in (or one within ``snap_m``), and a community without a population gets
    the sum of its points; without demand points each community's population is spread over a ``cell_m`` grid.

    Parameters
    ----------
    inputs
        The inputs read (:func:`read_inputs`); not changed.
    metric
        The projected CRS in metres (:func:`metric_crs`).
    study
        The study's name; without community polygons it names the study area's town (None or '': the demand
        file's name).
    allow_overlap
        Keep communities overlapping by half the smaller one's area or more (else refused).
    snap_m
        How far outside every community a demand point may lie and still be assigned to the nearest, in metres.
    cell_m
        The grid spacing the population is spread over when no demand points are given, in metres.
    coords
        The coordinate systems given (as for :func:`read_inputs`): points of a role given none are checked for
        GCJ-02.
    log
        Receives the warnings.
    progress
        Called with ``"placing demand"``.
    by_group
        The demand is placed later, by each batch group (:mod:`geofacility.partition`): no demand here, and a
        missing population is left for the group to fill.

    Returns
    -------
    Placed
        Communities, demand, facilities and towns in ``metric``, and the rows used per file.

    Raises
    ------
    InputError
        For overlapping communities (unless allowed); for a community without population when no demand points
        are given.
    """
    step = progress or (lambda message: None)
    communities, demand = inputs.communities_file, inputs.demand_file
    comm = _place_communities(inputs, metric, study=study, allow_overlap=allow_overlap, log=log)
    fac = _join_facilities(inputs.facilities, metric, log=log)
    used_rows = {str(communities): comm["source_row"]} if communities is not None else {}
    for file in inputs.facility_files:  # every facility file, even one whose rows were all set aside
        used_rows[str(file)] = []
    for file, rows in fac.groupby("source_file")["source_row"]:
        used_rows[str(file)] = rows
    town_layer = inputs.towns
    if town_layer is not None:
        used_rows[str(inputs.towns_file)] = town_layer["source_row"]
        town_layer = town_layer.to_crs(metric)
    _fill_towns(comm, town_layer, label=str(communities), log=log)

    dem = inputs.demand
    for frame, role, label in ((dem, "demand", str(demand)), *((f, "facilities", None) for f in inputs.facilities)):
        if frame is not None and _role_coords(coords, role) is None:
            _suspect_gcj02(frame, comm, metric, label or str(frame["source_file"].iloc[0]) if len(frame) else "",
                           log)
    step("placing demand")
    if by_group:  # each group places its own (geofacility.partition); a missing population is still refused here
        no_pop = comm["population"].isna()
        if demand is None and no_pop.any():
            row = comm.loc[no_pop, "source_row"].iloc[0]
            raise InputError(f"{communities}, row {row}: population missing and no --demand given; fill the "
                             "population (人口) column or give demand points")
        dem = gpd.GeoDataFrame({"demand_id": pd.Series(dtype=object), "community_id": pd.Series(dtype=object),
                                "weight": pd.Series(dtype="float64"), "source": pd.Series(dtype=object)},
                               geometry=gpd.GeoSeries([], crs=metric), crs=metric)
    elif dem is not None:
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
    if town_layer is None:
        town_layer = comm.dissolve(by="town", as_index=False)[["town", "geometry"]]
        town_layer["population"] = comm.groupby("town")["population"].sum().to_numpy()
    else:
        town_layer = town_layer[["town", "population", "geometry"]]
    return Placed(communities=comm, demand=dem, facilities=fac, towns=town_layer, used_rows=used_rows)


def _place_communities(inputs: Inputs, metric: CRS, *, study: str | None, allow_overlap: bool,
                       log: WarningLog) -> gpd.GeoDataFrame:
    """The communities in ``metric``, checked for overlaps; without them, the demand points' :func:`study_area`."""
    communities, demand = inputs.communities_file, inputs.demand_file
    if inputs.communities is None:  # the demand's extent is the study
        comm = study_area(inputs.demand.to_crs(metric), study or Path(str(demand)).stem)
        log.add(str(demand), None, "no community polygons given: the study is the demand points' extent (convex hull "
                                   f"widened by {STUDY_AREA_MARGIN_M:g} m), one unit '{STUDY_AREA_ID}' of "
                                   f"{comm['population'].iloc[0]:,.0f} people", severity="info",
                zh=f"未给社区边界：研究范围为需求点的范围（凸包外扩 {STUDY_AREA_MARGIN_M:g} m），作为一个单元"
                   f"“{STUDY_AREA_ID}”，共 {comm['population'].iloc[0]:,.0f} 人")
    else:
        comm = inputs.communities.to_crs(metric)
        read.check_overlaps(comm, label=str(communities), log=log, allow=allow_overlap)
    return comm


#: the facility columns a study keeps
FACILITY_COLUMNS = ["facility_id", "name", "category", "subcategory", "floor_area_m2", "capacity", "status",
                    "source_file", "source_row", "geometry"]


def _join_facilities(fac_frames: list[gpd.GeoDataFrame], metric: CRS, *, log: WarningLog) -> gpd.GeoDataFrame:
    """The facility files' rows in one frame in ``metric``; ids repeated across files prefixed with the file name."""
    fac_cols = FACILITY_COLUMNS
    if fac_frames:
        fac = gpd.GeoDataFrame(pd.concat([f[fac_cols].to_crs(metric) for f in fac_frames], ignore_index=True),
                               crs=metric)
        dup = fac["facility_id"].duplicated(keep=False)
        if dup.any():
            files = fac.loc[dup, "source_file"].unique()
            fac.loc[dup, "facility_id"] = fac.loc[dup, "source_file"].map(read.source_stem) + ":" + \
                fac.loc[dup, "facility_id"]
            log.add(", ".join(files), None, "the same facility ids occur in several files; ids prefixed with the "
                                            "file name", severity="info",
                    zh="多个文件中出现相同的设施编号：编号前已加上文件名")
    else:
        fac = gpd.GeoDataFrame({c: [] for c in fac_cols[:-1]}, geometry=[], crs=metric)
    return fac


def _fill_towns(comm: gpd.GeoDataFrame, town_layer: gpd.GeoDataFrame | None, *, label: str,
                log: WarningLog) -> None:
    """In place: each community without a town/street gets the first town its representative point lies in, else
    未知街道 (said in the warnings)."""
    if town_layer is not None:
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
        log.extend(label, rows, "no town/street for this community; listed under 未知街道",
                   severity="info", zh="该社区没有所属街道（镇）：列在“未知街道”下")
        comm["town"] = comm["town"].fillna("未知街道")


class Standards(NamedTuple):
    """The standards a study applies (:func:`choose_standards`)."""

    #: one per standard applied (a category's subcategories, each with its radius in metres and area rules)
    checks: list[Check]
    #: the categories surveyed, in :data:`geofacility.standards.CATEGORIES` order
    surveyed: list[str]
    #: per category given a survey extent, the area its facility data cover (a polygon in the metric CRS)
    extents: dict
    #: per survey-extent file, the rows used: for :func:`input_accounting`
    used_rows: dict


def choose_standards(facilities: gpd.GeoDataFrame, table: pd.DataFrame, metric: CRS, *, declared=(),
                     survey_extent: dict | None = None, none_exist=(), standard_choices: dict | None = None,
                     radius: dict[str, float] | None = None, jurisdiction: str | None = None,
                     coords: dict | str | None = None, encoding: str | None = None, label: str = "",
                     log: WarningLog, progress: Progress = None) -> Standards:
    """The categories surveyed and the standards applied to them.

    A category is surveyed when a facility file names it (``declared``), when ``none_exist`` names it, or when a
    facility of it was read. Its standards are those that apply in the ``jurisdiction``
    (:func:`geofacility.coverage.select_checks`), or the ones ``standard_choices`` names; ``radius`` then
    overrides their service radius.

    Parameters
    ----------
    facilities
        All facilities, whatever their status (:attr:`Placed.facilities`).
    table
        The standards table (:attr:`Options.standards`).
    metric
        The study's metric CRS: the survey extents are projected into it.
    declared
        The categories named with their facility files (:attr:`Inputs.declared`); not changed.
    survey_extent
        Per category, a polygon file of the area its facility data cover.
    none_exist
        Categories surveyed although no facility file names them (siting where none exist yet).
    standard_choices
        Per category, the standards (subcategories) to apply instead of all that apply.
    radius
        Service-radius overrides by category, in metres.
    jurisdiction
        Where the study lies (``"北京市"``, ``"全国"``, None: every row).
    coords, encoding
        As for :func:`read_inputs`; a survey extent is read with the ``towns`` role's coordinates.
    label
        The file a ``none_exist`` category's warning names (the communities', or the demand's).
    log
        Receives the warnings.
    progress
        Called as each survey extent is read.

    Returns
    -------
    Standards
        The checks, the surveyed categories, the survey extents and their rows used.

    Raises
    ------
    InputError
        For an unknown category.
    """
    step = progress or (lambda message: None)
    fac = facilities
    declared = set(declared)
    extents, used_rows = {}, {}
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
            log.add(label, None,
                    f"no existing {category} facilities given (--facilities {category}=FILE): as if none exist, "
                    "nobody is covered", severity="info",
                    zh=f"未给现有{CATEGORY_SHORT_ZH[category]}设施（--facilities {category}=FILE）：按现状无此类设施计，"
                       "所有人均未覆盖")
    surveyed = [c for c in CATEGORIES if c in declared or (fac["category"] == c).any()]
    checks = select_checks(fac, table, surveyed, standard_choices, jurisdiction=jurisdiction, log=log)
    if radius:
        checks = [replace(c, radius_m=float(radius[c.category])) if c.category in radius else c for c in checks]
    return Standards(checks=checks, surveyed=surveyed, extents=extents, used_rows=used_rows)


def facilities_in_use(facilities: gpd.GeoDataFrame, communities: gpd.GeoDataFrame, checks: list[Check], *,
                      log: WarningLog) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Set aside the facilities not in use, and report facilities far from the study or without the floor area
    their standard needs.

    Parameters
    ----------
    facilities
        All facilities (:attr:`Placed.facilities`), in the metric CRS.
    communities
        The communities, in the same CRS: a facility more than :data:`FAR_FROM_STUDY_M` metres from all of them is
        reported.
    checks
        The standards applied (:attr:`Standards.checks`): a facility of one with floor-area rules needs its floor
        area (m²).
    log
        Receives the warnings.

    Returns
    -------
    (in use, not in use) : tuple of GeoDataFrame
        The facilities whose ``status`` is 在用 (or empty), current provision; and those planned, under
        construction or not handed over (:mod:`geofacility.stages`). Same columns, fresh indexes.
    """
    fac, not_in_use = _split_in_use(facilities, log)
    _report_facilities(fac, communities, checks, log)
    return fac, not_in_use


def build_walking_network(network, metric: CRS, demand: gpd.GeoDataFrame, facilities: gpd.GeoDataFrame, *,
                          max_snap_m: float = DEFAULT_MAX_SNAP_M, coords: dict | str | None = None,
                          encoding: str | None = None, demand_label: str = "demand", log: WarningLog,
                          progress: Progress = None) -> WalkingDistance:
    """Read the walking network and snap the demand points to it: the walking-distance measure.

    Parameters
    ----------
    network
        An OSM file (``.osm.pbf``, ``.osm``) or street centre lines.
    metric
        The study's metric CRS: the network is projected into it.
    demand
        The demand points, in ``metric``: snapped once, here.
    facilities
        The facilities in use, in ``metric``: those too far from every street are reported.
    max_snap_m
        How far a home or facility may lie from a walkable street and still be snapped to it, in metres.
    coords, encoding
        As for :func:`read_inputs` (the ``network`` role).
    demand_label
        The file the warnings about homes far from every street name.
    log
        Receives the warnings: the network in separate parts, small disconnected pieces, homes and facilities
        too far from every street.
    progress
        Called with ``"reading the walking network"``, then ``"snapping homes to the walking network"``.

    Returns
    -------
    geofacility.network.WalkingDistance
        The walking-distance measure, demand snapped.

    Raises
    ------
    InputError
        When no demand point lies within ``max_snap_m`` of a walkable street of the network.
    """
    step = progress or (lambda message: None)
    dem, fac = demand, facilities
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
    step("snapping homes to the walking network")
    walk = WalkingDistance(net, dem.geometry.values, max_snap_m=max_snap_m)
    if not walk.demand.ok.any():
        raise InputError(f"{network}: none of the {len(dem)} demand points is within {max_snap_m:g} m of a "
                         "walkable street of this network; is it the network of the study area?")
    _report_snapping(walk, dem, fac, net, log=log, demand_label=demand_label)
    return walk


def study_settings(inputs: Inputs, communities: gpd.GeoDataFrame, metric: CRS, *, distance: str, network=None,
                   max_snap_m: float = DEFAULT_MAX_SNAP_M, buffer_m: float = DEFAULT_BUFFER_M,
                   coverage_target: float = 1.0, capacity_method: str = "allocate",
                   survey_extent: dict | None = None, study: str | None = "", jurisdiction: str | None = None,
                   attribution: str = "") -> dict:
    """What the study was run with: :attr:`Study.settings`, carried into the analysis and written with it
    (``run.json``, the ledger's notes).

    Parameters
    ----------
    inputs
        The inputs read: their files are listed.
    communities
        The communities placed (:attr:`Placed.communities`): their towns name the study when ``study`` is None.
    metric
        The study's metric CRS.
    distance
        ``"euclidean"`` or ``"network"`` (:attr:`Options.distance`).
    network
        The walking network's file, or None.
    max_snap_m, buffer_m
        The snapping distance and the service areas' buffer, in metres (kept on foot only).
    coverage_target
        The share of a community's people that must be covered.
    capacity_method
        How facility capacity is split (:mod:`geofacility.capacity`), or ``"none"``.
    survey_extent
        Per category, the survey extent's file.
    study
        The name in titles (``""``: none; None: :func:`study_name`).
    jurisdiction
        Where the study lies.
    attribution
        The data sources' credits, for maps and figures.

    Returns
    -------
    dict
        ``distance``, ``network``, ``max_snap_m``, ``buffer_m``, ``coverage_target``, ``capacity_method``,
        ``survey_extent``, ``study``, ``jurisdiction``, ``attribution``, ``crs`` and ``inputs``, in that order
        (:func:`prepare` adds ``cost_matrix`` when one is used).
    """
    communities_file, comm = inputs.communities_file, communities
    return {
        "distance": distance,
        "network": None if network is None else str(network),
        "max_snap_m": max_snap_m if distance == "network" else None,
        "buffer_m": buffer_m if distance == "network" else None,
        "coverage_target": coverage_target,
        "capacity_method": capacity_method,
        "survey_extent": {k: str(v) for k, v in (survey_extent or {}).items()},
        "study": study if study is not None else study_name(communities_file, comm["town"]),
        "jurisdiction": jurisdiction,
        "attribution": attribution,
        "crs": metric.to_string(),
        "inputs": {
            "communities": None if communities_file is None else str(communities_file),
            "facilities": [str(f) for f in inputs.facility_files],
            "demand": None if inputs.demand_file is None else str(inputs.demand_file),
            "towns": None if inputs.towns_file is None else str(inputs.towns_file),
        },
    }


class CostTables(NamedTuple):
    """The categories measured by an OD cost table (:func:`cost_tables`)."""

    #: per category, its measure (:class:`geofacility.costs.CostMatrixDistance`)
    measures: dict
    #: the table's description for :attr:`Study.settings` (``category``, ``file``, ``columns``, ``sha256``,
    #: ``rows``…), or None
    settings: dict | None


def cost_tables(cost_matrix: dict | None, demand: gpd.GeoDataFrame, facilities: gpd.GeoDataFrame, *,
                encoding: str | None = None, log: WarningLog, progress: Progress = None) -> CostTables:
    """Read the OD cost table a category is measured by (instead of straight-line or walking distance).

    Parameters
    ----------
    cost_matrix
        ``{"category": …, "path": …}`` and optionally the table's ``origin``, ``destination`` and ``value``
        column names (default ``origin``, ``destination``, ``cost``); None or empty: none.
    demand
        The demand points: origins are matched by ``demand_id``.
    facilities
        The facilities in use: the category's destinations are matched by ``facility_id``, those missing
        reported.
    encoding
        The table's text encoding, or None to detect it.
    log
        Receives the warnings.
    progress
        Called with ``"reading the cost table"``.

    Returns
    -------
    CostTables
        The measures by category (empty without a table) and the description for the settings.
    """
    step = progress or (lambda message: None)
    dem, fac = demand, facilities
    category_measures = {}
    if not cost_matrix:
        return CostTables(measures=category_measures, settings=None)
    from .costs import CostMatrixDistance, read_cost_table

    category = cost_matrix["category"]
    step("reading the cost table")
    table = read_cost_table(cost_matrix["path"], origin=cost_matrix.get("origin", "origin"),
                            destination=cost_matrix.get("destination", "destination"),
                            value=cost_matrix.get("value", "cost"), encoding=encoding)
    od = CostMatrixDistance(table, dem["demand_id"].to_numpy())
    od.report(fac.loc[fac["category"] == category], category, log)
    category_measures[category] = od
    return CostTables(measures=category_measures, settings={"category": category, **table.describe()})


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
    unaccounted, which the tests require to be 0.

    Parameters
    ----------
    log
        The study's warnings so far, with each file's rows read (its ``read_rows``);
        receives a warning per row lost.
    used
        Per input file (its name as given), the rows used (:attr:`Placed.used_rows`, :attr:`Standards.used_rows`).
        A file read but not listed (the walking network, reported in its own terms) is left out.

    Returns
    -------
    pandas.DataFrame
        One row per file: ``file``, ``rows_read``, ``rows_used``, ``rows_reported``, ``rows_unaccounted`` (counts
        of rows).
    """
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

