"""The ``geofacility`` command: a thin layer over :mod:`geofacility.study`, :mod:`geofacility.pipeline`,
:mod:`geofacility.ledger` and :mod:`geofacility.maps`. User mistakes print one line and exit with code 2; never a traceback."""
from __future__ import annotations

import contextlib
import functools
import inspect
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from .errors import InputError
from .standards import CATEGORIES, CATEGORY_LABELS_ZH, check_from_row, label_zh, load_standards

app = typer.Typer(
    add_completion=False,
    no_args_is_help=False,
    help="geofacility: where community facilities are missing and where to put new ones.",
    rich_markup_mode="rich",
)
console = Console(stderr=True)
out_console = Console()


def _pairs(values: list[str] | None, *, option: str, value_name: str) -> dict[str, str]:
    result: dict[str, str] = {}
    for text in values or []:
        key, sep, value = text.partition("=")
        if not sep or not key or not value:
            raise InputError(f"{option} {text!r}: write it as KEY={value_name}")
        result[key.strip()] = value.strip()
    return result


def _category(text: str, option: str, *, pair: bool = False) -> str:
    """The category key a command-line value names: the key itself or any name a facility file may use for it
    (养老, 教育, 社区养老服务设施 …: geofacility.read.category_key, one table for files and options). ``pair``: the
    value was the CATEGORY of a CATEGORY=VALUE option."""
    from .read import category_key, category_names

    key = category_key(text)
    if key is None:
        raise InputError(f"{option} {text}{'=…' if pair else ''}: unknown category; use one of {category_names()}")
    return key


def _category_pairs(pairs: dict, option: str) -> dict:
    """``CATEGORY=VALUE`` options keyed by category key (养老=… read as elderly_care=…); two spellings of one
    category given different values are refused rather than one silently winning."""
    result: dict = {}
    for text, value in pairs.items():
        key = _category(text, option, pair=True)
        if key in result and result[key] != value:
            raise InputError(f"{option}: {key} given twice ({result[key]} and {value}); give it once")
        result[key] = value
    return result


def _facility_args(values: list[str]) -> list:
    from .read import category_key, category_names

    items = []
    for text in values:
        key, sep, value = text.partition("=")
        if sep and category_key(key) is not None:
            items.append((Path(value), category_key(key)))
        elif sep and key and not Path(text).exists() and "/" not in key and "\\" not in key:
            raise InputError(f"--facilities {text!r}: unknown category {key!r}; use one of {category_names()}")
        else:
            items.append(Path(text))
    return items


def _coords_arg(values: list[str] | None):
    if not values:
        return None
    roles = {"communities", "facilities", "demand", "towns", "network", "candidates", "project"}
    result: dict[str, str] = {}
    for text in values:
        key, sep, value = text.partition("=")
        if sep:
            if key not in roles:
                raise InputError(f"--coords {text!r}: {key!r} is not an input; use one of {', '.join(sorted(roles))}")
            result[key] = value
        else:
            result["*"] = text
    return result


# ---------------------------------------------------------------------------------------------------------
# the study options, shared by every command that runs a study (declared once: see study_options)

Communities = Annotated[Optional[Path], typer.Option(
    help="Community (社区) boundaries: GeoJSON/GPKG/Shapefile with name, town, population, households. "
         "Example: --communities 社区.shp. Name the layer of a file with several as PATH:LAYER (any input, e.g. "
         "数据.gpkg:社区). Without it, the bundled Beijing Xicheng sample is analysed.")]
Facilities = Annotated[Optional[list[str]], typer.Option(
    help="Existing facilities, [CATEGORY=]PATH, repeatable. The file needs a category column (类别) unless "
         "CATEGORY is given, which also marks the category as surveyed (a CSV with only a header: surveyed, "
         "none exist). Example: --facilities education=schools.csv --facilities 设施.xlsx")]
Demand = Annotated[Optional[Path], typer.Option(
    help="Where people live: points or grid cells with a population column (人口). Without it each "
         "community's population is spread over its polygon. Example: --demand compounds.csv")]
Towns = Annotated[Optional[Path], typer.Option(
    help="Street (街道) / town (镇) boundaries, for outlines and for communities without a town column.")]
Standards = Annotated[Optional[Path], typer.Option(
    help="A standards CSV overriding or extending the built-in table (see `geofacility standards`).")]
Standard = Annotated[Optional[list[str]], typer.Option(
    help="Apply this standard to a category, CATEGORY=SUBCATEGORY, repeatable. Example: --standard "
         "community_service=community_rooms_beijing")]
Radius = Annotated[Optional[list[str]], typer.Option(
    help="Override a category's service radius in metres, CATEGORY=METRES; a bare number when the command "
         "names exactly one --category. Example: --radius education=800, or --category education --radius 800")]
WeightColumn = Annotated[Optional[str], typer.Option(
    help="The --demand file's column of people (weights), when not called 人口/population. Example: "
         "--weight-column POP2000")]
IdColumn = Annotated[Optional[str], typer.Option(
    help="The --demand file's column of ids (the origins of a --cost-matrix), when not called demand_id/编号. "
         "Example: --id-column NAME")]
Coords = Annotated[Optional[list[str]], typer.Option(
    help="Coordinate system of inputs whose files do not say: wgs84, cgcs2000, gcj02 (Amap/Tencent), bd09 "
         "(Baidu) or an EPSG code; [ROLE=]SYSTEM with ROLE communities/facilities/demand/towns/network/"
         "candidates. Example: --coords demand=gcj02")]
Crs = Annotated[Optional[str], typer.Option(
    help="Projected CRS (metres) for distance work. Default: the UTM zone of the data. Example: --crs EPSG:4548")]
Encoding = Annotated[Optional[str], typer.Option(
    help="Text encoding of Shapefile/CSV attributes when the file does not say (e.g. gbk).")]
Aliases = Annotated[Optional[Path], typer.Option(
    help="CSV alias,column mapping your column names to geofacility's (e.g. 居委会名称,community).")]
Network = Annotated[Optional[Path], typer.Option(
    help="Walking network: an OSM extract (.osm.pbf, .osm) or street centre lines (GeoJSON/GPKG/Shapefile, "
         "noded at crossings). With it, distances are walking distances. Example: --network city.osm.pbf")]
Distance = Annotated[Optional[str], typer.Option(
    help="euclidean (straight line) or network (walking; needs --network). Default: network when --network "
         "is given.")]
MaxSnap = Annotated[float, typer.Option(
    help="Homes and facilities farther than this many metres from every walkable street are reported and "
         "count as not covered on foot.")]
Buffer = Annotated[float, typer.Option(help="Service areas on foot are the reachable streets buffered by this many "
                                            "metres.")]
SurveyExtent = Annotated[Optional[list[str]], typer.Option(
    help="The area a category's facility data cover, CATEGORY=POLYGON_FILE, repeatable: communities outside it "
         "read 'not surveyed' for that category instead of 'short'. Example: --survey-extent "
         "education=data/xicheng/streets.geojson")]
Target = Annotated[float, typer.Option(
    help="Share of a community's people that must be within the radius for status ok (0–1).")]
CapacityMethod = Annotated[str, typer.Option(
    help="How demand is shared among facilities with limited capacity (容量): allocate (the most people seated "
         "within capacity and radius, nearest first; exact), 2sfca (two-step floating catchment index) or none. "
         "Capacity: the facilities' capacity column (residents), else floor area ÷ the standard's m² per resident, "
         "else the population one facility serves by the standard.")]
AllowOverlap = Annotated[bool, typer.Option(
    help="Go on when two communities overlap by half the smaller one's area or more (refused by default: the same "
         "place drawn twice counts its people twice); each community's people still count once, in its own "
         "polygon, and the overlaps are listed in the warnings.")]
Jurisdiction = Annotated[Optional[str], typer.Option(
    help="Where the study lies, as Chinese administrative names, largest first: national standards (全国) always "
         "apply, a province's or a city's only there, and the more local row of a standard wins. Example: "
         "--jurisdiction 北京市, --jurisdiction 山东省淄博市. Default: 北京市西城区 for the bundled sample, else 全国 "
         "(national standards only).")]
Study = Annotated[Optional[str], typer.Option(help="Name of the study area, used in titles. Default: the communities "
                                                   "file's name without generic words (张店区社区.shp → 张店区), else "
                                                   "its one street, else its folder.")]
Quiet = Annotated[bool, typer.Option(help="Print only the output paths.")]


def _radius_arg(radius: list[str] | None) -> dict[str, float]:
    """``--radius CATEGORY=METRES`` by category key."""
    pairs = _category_pairs(_pairs(radius, option="--radius", value_name="METRES"), "--radius")
    return {k: _float(v, f"--radius {k}={v}") for k, v in pairs.items()}


def _standard_arg(standard: list[str] | None) -> dict[str, list[str]]:
    """``--standard CATEGORY=SUBCATEGORY`` (repeatable) by category key."""
    choices: dict[str, list[str]] = {}
    for text in standard or []:
        key, _, value = text.partition("=")
        if not value:
            raise InputError(f"--standard {text!r}: write it as CATEGORY=SUBCATEGORY")
        choices.setdefault(_category(key, "--standard", pair=True), []).append(value)
    return choices


def _prepare_kwargs(*, communities, facilities, demand, towns, standards, standard, radius, coords, crs, encoding,
                    aliases, coverage_target, study, quiet, network=None, distance=None, max_snap=150.0,
                    service_area_buffer=50.0, survey_extent=None, capacity_method="allocate",
                    allow_overlap=False, weight_column=None, id_column=None, category=None,
                    jurisdiction=None) -> dict:
    """The keyword arguments of :func:`geofacility.study.prepare` the study options describe: the bundled
    sample when neither --communities nor --demand is given (extra --facilities are then added to it); the
    demand points alone, never mixed into the sample, when --demand comes without --communities.
    ``category``: the command's --category (one, or a list): a bare ``--radius 800`` applies to it when there is
    exactly one."""
    from .study import sample_inputs

    if (weight_column or id_column) and demand is None:
        raise InputError("--weight-column/--id-column name columns of the --demand file; give --demand too")
    if communities is None and demand is not None:  # the demand's extent is the study: no sample mixed in
        kwargs = {"communities": None, "facilities": _facility_args(facilities or []), "demand": demand,
                  "towns": towns, "study": Path(str(demand)).stem}
        if not quiet:
            console.print(f"[bold]No --communities given: the study is the extent of the --demand points[/] "
                          f"({demand}); the bundled sample is not used", highlight=False)
    elif communities is None:
        if towns or network:
            raise InputError("--towns/--network given without --communities or --demand; give the community "
                             "polygons (--communities) or the demand points (--demand) too")
        kwargs = sample_inputs()
        kwargs["facilities"] = [*kwargs["facilities"], *_facility_args(facilities or [])]  # added to the sample
        if not quiet:
            console.print(f"[bold]No --communities given: analysing the bundled Beijing Xicheng sample[/] "
                          f"({kwargs['communities'].parent})")
    else:
        kwargs = {"communities": communities, "facilities": _facility_args(facilities or []), "demand": demand,
                  "towns": towns, "study": None}  # None: named from the file (study.study_name)
    if study is not None:
        kwargs["study"] = study
    # the standards that apply where the study lies: the sample's own place, else national ones unless told
    kwargs["jurisdiction"] = jurisdiction if jurisdiction is not None else kwargs.get("jurisdiction", "全国")
    columns = {"population": weight_column, "demand_id": id_column}
    if any(columns.values()):
        kwargs["demand_columns"] = {k: v for k, v in columns.items() if v}
    named = [category] if isinstance(category, str) else list(category or [])
    radius_m = _radius_arg([_bare_radius(text, named) for text in radius or []])
    choices = _standard_arg(standard)
    extents = {k: Path(v) for k, v in _category_pairs(
        _pairs(survey_extent, option="--survey-extent", value_name="PATH"), "--survey-extent").items()}
    return {**kwargs, "survey_extent": extents or None, "standards": standards,
            "standard_choices": choices or None, "radius": radius_m or None,
            "coords": _coords_arg(coords), "crs": crs, "encoding": encoding, "aliases": aliases,
            "coverage_target": coverage_target, "network": network, "distance": distance, "max_snap_m": max_snap,
            "buffer_m": service_area_buffer, "capacity_method": capacity_method, "allow_overlap": allow_overlap}


def _bare_radius(text: str, categories: list[str]) -> str:
    """``--radius 800`` → ``CATEGORY=800`` when the command names exactly one category; CATEGORY=METRES as is."""
    if "=" in text:
        return text
    if len(categories) == 1:
        return f"{categories[0]}={text}"
    raise InputError(f"--radius {text}: say which category, --radius CATEGORY={text} (a bare number is taken for "
                     f"the category when the command names exactly one --category)")


#: the options of every command that runs a study (what _prepare_kwargs turns into prepare() arguments)
_STUDY_PARAMETERS = (
    ("communities", Communities, None), ("facilities", Facilities, None), ("demand", Demand, None),
    ("towns", Towns, None), ("standards", Standards, None), ("standard", Standard, None), ("radius", Radius, None),
    ("coords", Coords, None), ("crs", Crs, None), ("encoding", Encoding, None), ("aliases", Aliases, None),
    ("network", Network, None), ("distance", Distance, None), ("max_snap", MaxSnap, 150.0),
    ("service_area_buffer", Buffer, 50.0), ("coverage_target", Target, 1.0), ("survey_extent", SurveyExtent, None),
    ("capacity_method", CapacityMethod, "allocate"), ("allow_overlap", AllowOverlap, False), ("jurisdiction", Jurisdiction, None),
    ("study", Study, None),
    ("weight_column", WeightColumn, None), ("id_column", IdColumn, None), ("quiet", Quiet, False),
)
_STUDY_OPTIONS = tuple(name for name, _, _ in _STUDY_PARAMETERS)


def study_options(command):
    """Give a command the study options, declared once here: typer sees them after the command's own options,
    and the command receives them as ``**options``."""
    signature = inspect.signature(command, eval_str=True)
    own = [p for p in signature.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
    shared = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)
              for name, annotation, default in _STUDY_PARAMETERS]

    @functools.wraps(command)
    def run(**values):
        options = {name: values.pop(name) for name in _STUDY_OPTIONS}
        return command(**values, **options)

    run.__signature__ = signature.replace(parameters=[*own, *shared])
    run.__annotations__ = {p.name: p.annotation for p in run.__signature__.parameters.values()}
    return run


def _study(*, status=None, cost_matrix: dict | None = None, category=None, sited: str | None = None, **options):
    """Run the analysis the study options describe (its input files go into the open output set's run.json);
    ``cost_matrix``: an OD table measuring one category (geofacility.costs); ``category``: the command's
    --category (for a bare --radius); ``sited``: the category candidate rooms are evaluated for — in a study of
    demand points alone it is surveyed even with no facility file (none exist yet, as in spopt's examples)."""
    from .outputs import current_set
    from .pipeline import analyze as run_analysis

    progress = None if options["quiet"] or status is None else (lambda message: status.update(f"{message}…"))
    kwargs = {**_prepare_kwargs(**options, category=category), "cost_matrix": cost_matrix}
    if sited is not None and kwargs.get("communities") is None and kwargs.get("demand") is not None:
        kwargs["none_exist"] = [sited]
    analysis = run_analysis(**kwargs, progress=progress)
    outputs = current_set()
    if outputs is not None:
        outputs.note_settings(analysis.settings)
        for role in ("network", "standards", "aliases"):
            outputs.note_inputs(role, kwargs.get(role))
        outputs.note_inputs("survey_extent", {k: str(v) for k, v in (kwargs.get("survey_extent") or {}).items()})
        outputs.note_inputs("cost_matrix", (cost_matrix or {}).get("path"))
    return analysis


@contextlib.contextmanager
def _outputs(out: Path, *expected: str):
    """The command's output set on ``out`` (see geofacility.outputs): checked before the work starts, replaced as
    one set at the end; what it has to say about the folder is printed."""
    from .outputs import output_set

    with output_set(out, expected=expected) as outputs:
        if outputs.recovered:
            console.print(f"{out}: completed the outputs of an earlier run that was interrupted while replacing them "
                          f"({', '.join(p.name for p in outputs.recovered)})", highlight=False, markup=False)
        yield outputs
    for note in outputs.notes:
        console.print(f"note: {note}", highlight=False, markup=False)


@app.command()
@study_options
def analyze(
    out: Annotated[Path, typer.Option(help="Output folder for ledger.xlsx, ledger.csv, coverage.gpkg, map.html.")]
    = Path("output"),
    **options,
) -> None:
    """Coverage and gaps per community and category; writes the ledger (台账), the GeoPackage and the map.

    Example: geofacility analyze --communities 社区.gpkg --facilities 设施.csv --coords facilities=gcj02 --out 结果
    """
    import time

    from .ledger import write_ledger
    from .maps import write_map

    started = time.perf_counter()
    with _outputs(out, "ledger.xlsx", "ledger.csv", "coverage.gpkg", "map.html", "ledger.previous.xlsx", "run.json"), \
            console.status("analysing…", spinner="dots") as status:
        analysis = _study(**options, status=status)
        status.update("writing the ledger…")
        paths = write_ledger(analysis, out)
        status.update("drawing the map…")
        paths["map"] = write_map(analysis, out / "map.html")
        status.update("replacing the outputs…")
    paths["run"] = out / "run.json"
    if not options["quiet"]:
        _summary(analysis, time.perf_counter() - started)
    for name, path in paths.items():
        out_console.print(f"{name}: {path}")


@app.command("map")
@study_options
def map_command(
    category: Annotated[Optional[list[str]], typer.Option(
        help="The category of the special-plan map (专项规划), repeatable, as a key or its Chinese name (教育, 养老 …); "
             "default: every surveyed category.")] = None,
    basemap: Annotated[str, typer.Option(
        help="Base map: osm (OpenStreetMap), amap (高德, GCJ-02: the overlays are shifted to match), tianditu "
             "(天地图, needs --tianditu-key or TIANDITU_KEY) or none.")] = "osm",
    tianditu_key: Annotated[Optional[str], typer.Option(envvar="TIANDITU_KEY",
                                                        help="Tianditu API key (tk).")] = None,
    offline: Annotated[bool, typer.Option(
        help="Also write CATEGORY_map_offline.html: Leaflet inlined, no base map, works with no network.")] = True,
    figures: Annotated[bool, typer.Option(
        help="Also write the printable figures: CATEGORY_map.png/.pdf and town_uncovered.png/.pdf.")] = True,
    candidates: Annotated[Optional[Path], typer.Option(
        help="Candidate rooms (房源) to show on the map of the (single) --category, the best --k selected "
             "(exact MCLP) with their service radius.")] = None,
    k: Annotated[int, typer.Option(help="With --candidates: how many sites to select.")] = 10,
    out: Annotated[Path, typer.Option(help="Output folder.")] = Path("output/maps"),
    **options,
) -> None:
    """Per-category maps for special plans: communities by that category's status, its facilities and service
    areas, the people left out, the standard applied; HTML (online and offline) and PNG/PDF figures.

    Example: geofacility map --category education --basemap amap --out 专项图
    """
    from .maps import BASEMAPS, write_map

    if basemap not in BASEMAPS:
        raise InputError(f"--basemap {basemap}: use one of {', '.join(BASEMAPS)}")
    if basemap == "tianditu" and not tianditu_key:
        raise InputError("--basemap tianditu needs a key: --tianditu-key KEY or the TIANDITU_KEY environment variable "
                         "(free from https://console.tianditu.gov.cn)")
    category = list(dict.fromkeys(_category(c, "--category") for c in category or [])) or None
    if candidates is not None and len(category or []) != 1:
        raise InputError("--candidates needs exactly one --category: the category the rooms would host")
    with _outputs(out, *(f"{c}_map.html" for c in category or []), "run.json") as outputs, \
            console.status("analysing…", spinner="dots") as status:
        sites = None
        if candidates is not None:
            outputs.note_inputs("candidates", candidates)
            from .siting import select_sites

            analysis, site_study = _site_study(options, candidates, category[0], False, None, status,
                                               candidate_id_column=None)
            status.update("selecting sites…")
            sites = (site_study, select_sites(site_study, method="mclp", k=k))
        else:
            analysis = _study(**options, status=status, category=category)
        chosen = category or list(analysis.surveyed)
        unsurveyed = [c for c in chosen if c not in analysis.surveyed]
        if unsurveyed:
            raise InputError(f"--category {', '.join(unsurveyed)}: no facility data of that category were given; "
                             "add them with --facilities CATEGORY=PATH")
        paths = {}
        for c in chosen:
            status.update(f"drawing the {c} map…")
            paths[f"{c}_map"] = write_map(analysis, out / f"{c}_map.html", sites, category=c, basemap=basemap,
                                          tianditu_key=tianditu_key)
            if offline:
                paths[f"{c}_map_offline"] = write_map(analysis, out / f"{c}_map_offline.html", sites, category=c,
                                                      basemap="none", offline=True)
        if figures:
            from .figures import write_figures

            for c in chosen:
                status.update(f"drawing the {c} figures…")
                paths.update(write_figures(analysis, out, category=c, sites=sites))  # keyed by file name
    paths["run"] = out / "run.json"
    for name, path in paths.items():
        out_console.print(f"{name}: {path}")


@app.command("batch")
@study_options
def batch_command(
    by: Annotated[str, typer.Option(help="Group communities by this column: town (街道/镇), or e.g. district.")]
    = "town",
    workers: Annotated[int, typer.Option(help="Run groups in parallel on a Dask LocalCluster of this many "
                                              "processes.")] = 1,
    scheduler: Annotated[Optional[str], typer.Option(help="Send the groups to an existing Dask scheduler, e.g. "
                                                          "tcp://10.0.0.5:8786.")] = None,
    force: Annotated[bool, typer.Option(help="Redo every group, even those whose inputs have not changed.")]
    = False,
    out: Annotated[Path, typer.Option(help="Output folder: one sub-folder per group, summary.csv/.xlsx, "
                                           "index.html, manifest.json.")] = Path("output/batch"),
    **options,
) -> None:
    """The analysis per town/street (or any column): each group's ledger and map, a roll-up, an overview and one
    coverage.gpkg.

    Facilities of neighbouring groups and outside the study area count (on foot, over the network around each
    group), so each group's rows equal a whole-area run. Re-running skips unchanged groups.
    Example: geofacility batch --by town --workers 2
    """
    from rich.progress import Progress

    from .batch import batch as run_batch

    kwargs = _prepare_kwargs(**options)
    with _outputs(out, "summary.csv", "summary.xlsx", "index.html", "coverage.gpkg", "manifest.json", "run.json") \
            as outputs, Progress(console=console, disable=options["quiet"]) as bar:
        for role in ("communities", "facilities", "demand", "towns", "network", "standards", "aliases"):
            value = kwargs.get(role)
            outputs.note_inputs(role, [v[0] if isinstance(v, tuple) else v for v in value]
                                if isinstance(value, list) else value)
        task = bar.add_task("groups", total=None)

        def step(done, total, group):
            bar.update(task, completed=done, total=total, description=f"{group}")

        result = run_batch(by=by, out=out, workers=workers, scheduler=scheduler, force=force, progress=step,
                           **kwargs)
        outputs.note_settings({"by": by, "workers": workers, "scheduler": scheduler, "force": force})
    if not options["quiet"]:
        groups = result.summary["group"].nunique()
        console.print(f"{groups} groups by {by}: {groups - len(result.skipped) - len(result.failed)} run, "
                      f"{len(result.skipped)} unchanged (skipped), {len(result.failed)} failed"
                      + (f": {', '.join(result.failed)}" if result.failed else ""), highlight=False)
    for name, path in {**result.paths, "run": out / "run.json"}.items():
        out_console.print(f"{name}: {path}")


@app.command("synth")
def synth_command(
    out: Annotated[Path, typer.Option(help="Folder for communities.gpkg, demand.csv, facilities.csv and "
                                           "streets.gpkg.")] = Path("output/synthetic"),
    side: Annotated[int, typer.Option(help="Street intersections per side of the square street grid.")] = 100,
    spacing: Annotated[float, typer.Option(help="Metres between neighbouring intersections.")] = 100.0,
    demand: Annotated[int, typer.Option(help="Population points (homes).")] = 10_000,
    facilities_per_category: Annotated[int, typer.Option(help="Facilities of each of the seven categories.")] = 30,
    block_side: Annotated[int, typer.Option(help="Grid cells per side of a community; 4 × 4 communities form a "
                                                 "town.")] = 5,
    seed: Annotated[int, typer.Option(help="The same seed always gives the same city.")] = 0,
) -> None:
    """A synthetic city for trials, benchmarks and scale tests, deterministic by seed: communities in towns,
    homes with population, facilities of all seven categories and a walking street grid.

    Example: geofacility synth --side 200 --demand 100000 --out city && geofacility batch --communities
    city/communities.gpkg --demand city/demand.csv --facilities city/facilities.csv --network city/streets.gpkg
    """
    from .synth import synthetic_city

    for name, value in (("--side", side), ("--demand", demand), ("--block-side", block_side)):
        if value < 2:
            raise InputError(f"{name} {value}: give at least 2")
    if spacing <= 0 or facilities_per_category < 0:
        raise InputError("--spacing must be positive and --facilities-per-category at least 0")
    with _outputs(out, "communities.gpkg", "demand.csv", "facilities.csv", "streets.gpkg", "run.json") as outputs, \
            console.status("generating…", spinner="dots"):
        outputs.note_settings({"side": side, "spacing": spacing, "demand": demand, "seed": seed, "block_side": block_side,
                               "facilities_per_category": facilities_per_category})
        city = synthetic_city(n_nodes_side=side, spacing_m=spacing, n_demand=demand,
                              facilities_per_category=facilities_per_category, block_side=block_side, seed=seed)
        paths = city.write(out)
    console.print(f"{len(city.communities):,} communities in {city.communities['town'].nunique()} towns, "
                  f"{len(city.demand):,} homes (population {city.demand['population'].sum():,.0f}), "
                  f"{len(city.facilities):,} facilities, {city.network.n_segments:,} street segments",
                  highlight=False)
    for name, path in paths.items():
        out_console.print(f"{name}: {path}")


ledger_app = typer.Typer(help="Track the ledger over time (问题销号).", no_args_is_help=True)
app.add_typer(ledger_app, name="ledger")


@ledger_app.command("diff")
def ledger_diff_command(
    old: Annotated[Path, typer.Argument(help="The earlier ledger.xlsx (or its folder).")],
    new: Annotated[Path, typer.Argument(help="The later ledger.xlsx (or its folder).")],
    out: Annotated[Path, typer.Option(help="Folder for changes.csv, progress.xlsx and progress.md.")]
    = Path("output/progress"),
    today: Annotated[Optional[str], typer.Option(help="The report date, YYYY-MM-DD (default: today), for "
                                                      "overdue deadlines.")] = None,
) -> None:
    """Gaps closed (销号), opened and changed between two ledgers, overdue items, and progress per town.

    Example: geofacility ledger diff 十月/ledger.xlsx 十一月/ledger.xlsx --out 进展
    """
    import datetime as dt

    import pandas as pd

    from .tracking import write_progress

    try:
        date = dt.date.fromisoformat(today) if today else None
    except ValueError:
        raise InputError(f"--today {today}: write the date as YYYY-MM-DD") from None
    from .tracking import compare_runs

    paths = write_progress(old, new, out, today=date)
    changes = pd.read_csv(paths["changes"], encoding="utf-8-sig")
    counts = changes["change"].value_counts()
    console.print(f"销号 closed {counts.get('closed', 0)}, 新增 opened {counts.get('opened', 0)}, 变化 changed "
                  f"{counts.get('changed', 0)}", highlight=False)
    differences = compare_runs(old, new)
    if differences:
        why = (" (a changed setting changes figures without any facility built)"
               if any(d.startswith("setting ") for d in differences) else "")
        console.print(f"[bold]The two runs differ[/]{why}: " + "; ".join(differences), highlight=False,
                      soft_wrap=True)
    for name, path in paths.items():
        out_console.print(f"{name}: {path}")


sites_app = typer.Typer(help="Candidate rooms (房源): what each would fix, and which k to take.",
                        no_args_is_help=True)
app.add_typer(sites_app, name="sites")

Candidates = Annotated[Path, typer.Option(
    help="Candidate rooms: points or polygons with id (房源编号), name, floor area (建筑面积, m²) and optionally "
         "categories (可用类别, several), acquisition (取得方式: 租赁/置换/共享/购买), pre-review (预审: 是/否), "
         "floor (楼层), cost (成本).")]
Category = Annotated[str, typer.Option(help="The category to site, e.g. community_service, elderly_care, or its "
                                            "Chinese name as in facility files (社区用房, 养老 …).")]
Unreviewed = Annotated[bool, typer.Option(help="Also consider rooms without a passed safety pre-review (预审).")]
CandidateIdColumn = Annotated[Optional[str], typer.Option(
    help="The --candidates file's column of ids (the destinations of a --cost-matrix), when not called "
         "房源编号/candidate_id/编号. Example: --candidate-id-column NAME")]
SitesOut = Annotated[Path, typer.Option(help="Output folder for sites.csv, sites.xlsx, selection.json, "
                                             "sites_map.html and the ledger as if the sites were built.")]


def _site_study(options: dict, candidates: Path, category: str, include_unreviewed: bool, cost: dict | None,
                status, pmedian: bool = False, candidate_id_column: str | None = None):
    """The study and the candidate rooms evaluated for ``category``; with a cost table (``cost["matrix"]``) the
    category is measured by it throughout (geofacility.costs)."""
    from dataclasses import replace

    import pandas as pd

    from .errors import WarningLog
    from .read import read_candidates
    from .siting import evaluate_candidates

    category = _category(category, "--category")
    cost_matrix = None
    if cost and cost.get("matrix"):
        cost_matrix = {"category": category, "path": cost["matrix"], "origin": cost["origin"],
                       "destination": cost["destination"], "value": cost["value"]}
    analysis = _study(**options, status=status, cost_matrix=cost_matrix, category=category, sited=category)
    coords = _coords_arg(options.get("coords"))
    cand_coords = coords.get("candidates", coords.get("*")) if isinstance(coords, dict) else coords
    log = WarningLog()  # the rooms' warnings go into sites.xlsx with the study's
    check = next((c for c in analysis.checks if c.category == category), None)
    rooms = read_candidates(candidates, coords=cand_coords, encoding=options.get("encoding"), log=log,
                            columns={"candidate_id": candidate_id_column},
                            require_area=check is None or bool(check.min_building_m2))
    od = analysis.category_measures.get(category)
    if od is not None:
        missing = set(od.missing(rooms["candidate_id"].astype(str)))
        for file, row, cid in zip(rooms["source_file"], rooms["source_row"], rooms["candidate_id"].astype(str)):
            if cid in missing:
                log.add(file, row, f"candidate {cid} is not a destination of the cost table: it reaches nobody "
                                   "(it is not measured in a straight line instead); add its rows to the table",
                        zh=f"候选房源 {cid} 不是成本表的终点：不能到达任何人（不改按直线距离计）；请在表中补充其各行")
    if len(log):
        analysis = replace(analysis, warnings=pd.concat([analysis.warnings, log.to_frame()], ignore_index=True))
    study = evaluate_candidates(analysis, rooms, category, include_unreviewed=include_unreviewed,
                                pmedian_range=10_000.0 if pmedian else None)
    return analysis, study


Cost = Annotated[Optional[Path], typer.Option(
    help="An OD table of travel costs (e.g. from a routing service), one row per origin, destination, cost: origins "
         "the demand ids, destinations the ids of the category's existing facilities and of the candidate rooms; "
         "in the unit of the radius. The category is then measured by it throughout: existing coverage, the rooms' "
         "reach, the ledger as if built.")]
CostOrigin = Annotated[str, typer.Option(help="Origin (demand id) column of --cost-matrix.")]
CostDestination = Annotated[str, typer.Option(help="Destination (facility or candidate id) column.")]
CostValue = Annotated[str, typer.Option(help="Cost column.")]


@sites_app.command("evaluate")
@study_options
def sites_evaluate(
    candidates: Candidates,
    category: Category,
    include_unreviewed: Unreviewed = False,
    cost_matrix: Cost = None,
    cost_origin: CostOrigin = "origin",
    cost_destination: CostDestination = "destination",
    cost_value: CostValue = "cost",
    candidate_id_column: CandidateIdColumn = None,
    out: SitesOut = Path("output/sites"),
    **options,
) -> None:
    """Rank candidate rooms by what each would fix for one category: area rule (e.g. ≥350 m² with a ≥50 m²
    station; rooms of a community combined), people newly within reach, communities served, gap closed.

    Example: geofacility sites evaluate --candidates 房源.csv --category community_service
    --standard community_service=community_rooms_beijing
    """
    from .ledger import write_sites
    from .maps import write_map

    category = _category(category, "--category")
    with _outputs(out, "sites.csv", "sites.xlsx", "sites_map.html", "run.json") as outputs, \
            console.status("evaluating candidates…", spinner="dots") as status:
        outputs.note_inputs("candidates", candidates)
        cost = {"matrix": cost_matrix, "origin": cost_origin, "destination": cost_destination, "value": cost_value}
        analysis, site_study = _site_study(options, candidates, category, include_unreviewed, cost, status,
                                           candidate_id_column=candidate_id_column)
        paths = write_sites(site_study, None, out, warnings=analysis.warnings)
        paths["map"] = write_map(analysis, out / "sites_map.html", sites=(site_study, None), category=category)
    paths["run"] = out / "run.json"
    if not options["quiet"]:
        top = site_study.candidates.sort_values("rank").head(10)
        console.print(f"[bold]{len(site_study.candidates)} candidates[/], {len(site_study.eligible)} selectable "
                      f"for {category} ({label_zh(site_study.check, key=True)}); best ten:")
        for _, row in top.iterrows():
            console.print(f"  {row['rank']:>3}. {row['candidate_id']} {row['name']}: +{row['newly_covered_population']:,.0f}"
                          f" 人 people; {row['selectable_reason']}", markup=False, highlight=False)
    for name, path in paths.items():
        out_console.print(f"{name}: {path}")


@sites_app.command("select")
@study_options
def sites_select(
    candidates: Candidates,
    category: Category,
    k: Annotated[Optional[int], typer.Option(help="How many sites to open (MCLP, greedy, p-median).")] = None,
    budget: Annotated[Optional[float], typer.Option(help="Spend at most this (needs a cost column); with or "
                                                         "instead of --k.")] = None,
    method: Annotated[str, typer.Option(help="mclp (most people newly covered), lscp (fewest sites covering "
                                             "everyone reachable), pmedian (least weighted distance), greedy "
                                             "(fast MCLP with its optimality gap).")] = "mclp",
    time_limit: Annotated[Optional[float], typer.Option(help="Solver time limit in seconds (the gap is "
                                                             "reported).")] = None,
    cost_matrix: Cost = None,
    cost_origin: CostOrigin = "origin",
    cost_destination: CostDestination = "destination",
    cost_value: CostValue = "cost",
    include_unreviewed: Unreviewed = False,
    candidate_id_column: CandidateIdColumn = None,
    out: SitesOut = Path("output/sites"),
    **options,
) -> None:
    """Choose which candidate rooms to take, keeping existing facilities: MCLP, LSCP, p-median (exact, HiGHS)
    or greedy; writes the selection, the map, and the ledger as if the chosen rooms were built.

    Example: geofacility sites select --candidates 房源.csv --category elderly_care --k 5
    """
    from .ledger import shortage_note, write_ledger, write_sites
    from .maps import write_map
    from .siting import select_sites, with_sites

    category = _category(category, "--category")
    if method not in ("mclp", "lscp", "pmedian", "greedy"):
        raise InputError(f"--method {method}: use mclp, lscp, pmedian or greedy")
    if method in ("mclp", "greedy") and k is None and budget is None:
        raise InputError(f"--method {method} needs --k or --budget")
    if method == "pmedian" and k is None:
        raise InputError("--method pmedian needs --k")
    if k is not None and k < 1:
        raise InputError(f"--k {k}: give at least 1")
    cost = {"matrix": cost_matrix, "origin": cost_origin, "destination": cost_destination, "value": cost_value}
    with _outputs(out, "sites.csv", "sites.xlsx", "selection.json", "sites_map.html", "ledger_after/ledger.xlsx",
                  "ledger_after/ledger.csv", "ledger_after/coverage.gpkg", "run.json") as outputs, \
            console.status("selecting sites…", spinner="dots") as status:
        outputs.note_inputs("candidates", candidates)
        analysis, site_study = _site_study(options, candidates, category, include_unreviewed, cost, status,
                                           pmedian=method == "pmedian", candidate_id_column=candidate_id_column)
        status.update(f"solving ({method})…")
        selection = select_sites(site_study, method=method, k=k, budget=budget, time_limit=time_limit)
        paths = write_sites(site_study, selection, out, {**analysis.settings, "k": k, "budget": budget},
                            warnings=analysis.warnings)
        status.update("recomputing the ledger with the selected sites…")
        after = with_sites(analysis, site_study, selection)
        after_paths = write_ledger(after, out / "ledger_after")
        paths.update({f"after_{k_}": v for k_, v in after_paths.items()})
        paths["map"] = write_map(after, out / "sites_map.html", sites=(site_study, selection), category=category)
    paths["run"] = out / "run.json"
    short = shortage_note(site_study, k)
    if short:  # said even with --quiet: the selection is smaller than asked
        console.print(short, markup=False, highlight=False)
    if not options["quiet"]:
        ids = site_study.candidates["candidate_id"].to_numpy()[selection.selected]
        before_short = int((analysis.communities[f"{category}_status"] == "gap").sum())
        after_short = int((after.communities[f"{category}_status"] == "gap").sum())
        console.print(f"[bold]{method}[/] ({selection.status}, gap {selection.gap:.2%}): selected "
                      f"{', '.join(map(str, ids)) or 'none'}; newly covered {selection.covered_weight:,.0f} of "
                      f"{selection.total_weight:,.0f} people not yet covered; communities short of standard: "
                      f"{before_short} → {after_short}", highlight=False)
    for name, path in paths.items():
        out_console.print(f"{name}: {path}")




def _float(text: str, where: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise InputError(f"{where}: not a number of metres") from None


def _summary(analysis, seconds: float) -> None:
    import pandas as pd

    from .coverage import NO_RADIUS_MEANING_EN, category_totals

    comm = analysis.communities
    population = comm["population"].sum()
    console.print(f"\n[bold]{analysis.settings.get('study') or 'study area'}[/]: {len(comm)} communities in "
                  f"{comm['town'].nunique()} towns/streets, population {population:,.0f}; "
                  f"distance: {analysis.settings['distance']}, CRS {analysis.settings['crs']}; "
                  f"{seconds:.1f} s")
    where = analysis.settings.get("jurisdiction")
    console.print(f"标准适用地区 jurisdiction: {where or '不限 any'}"
                  + ("（仅国家标准；地方标准请用 --jurisdiction 指定所在地，如 --jurisdiction 北京市 / national standards "
                     "only: give --jurisdiction for local ones)" if where == "全国" else ""), highlight=False)
    table = Table(title="Per category", show_lines=False)
    for col in ("category", "standard", "population covered", "served within capacity", "communities short"):
        table.add_column(col)
    for category in CATEGORIES:
        label = f"{category} {CATEGORY_LABELS_ZH[category]}"
        if category not in analysis.surveyed:
            table.add_row(label, "—", "not surveyed", "—", "—")
            continue
        totals = category_totals(comm, category)  # the numbers every output shows (docs/data-model.md)
        people = totals["population"]
        served = totals["served"]
        within = f"{served:,.0f} ({served / people:.1%})" if people and pd.notna(served) else "—"
        covered = totals["covered"]
        checks = [c for c in analysis.checks if c.category == category]
        radius = "; ".join(f"{c.name_zh} r={c.radius_m:g} m" if c.radius_m else c.name_zh for c in checks)
        cover = f"{covered:,.0f} ({covered / people:.1%})" if people else "—"
        if totals["meaning"]:
            cover += f" ({NO_RADIUS_MEANING_EN})"
        table.add_row(label, radius, cover, within,
                      f"{totals['communities_short']} of {totals['communities_surveyed']}")
    console.print(table)
    if analysis.surveyed:
        worst = comm.assign(_unc=sum(comm[f"{c}_uncovered_population"].fillna(0) for c in analysis.surveyed))
        worst = worst.sort_values(["n_categories_short", "_unc", "community_id"],
                                  ascending=[False, False, True]).head(5)
        console.print("[bold]Five worst communities[/] (most categories short, then most people uncovered):")
        from .ledger import problem_text

        target = analysis.settings.get("coverage_target") or 1.0
        for _, row in worst.iterrows():
            problems = problem_text(row.to_dict(), coverage_target=target)  # the ledger's 存在问题 cell, word for word
            console.print(f"  {row['town']} {row['community']} ({row['community_id']}): population "
                          f"{row['population']:,.0f}; {problems or 'no gap'}", markup=False, highlight=False)
    if len(analysis.warnings):
        console.print(f"{len(analysis.warnings)} input warnings: see the 警告 warnings sheet of ledger.xlsx")
    from .errors import digest

    for line in digest(analysis.warnings):  # rows set aside, per file; categories left without a usable row
        console.print(line, style="bold red" if line.startswith("WARNING:") else None, markup=False,
                      highlight=False, soft_wrap=True)


@app.command("review")
@study_options
def review_command(
    project: Annotated[Path, typer.Option(
        help="The residential project: its site polygon (or a point), GeoJSON/GPKG/Shapefile/CSV with lon/lat; "
             "attributes 户数 (households) and/or 人口 (population) unless given below.")],
    households: Annotated[Optional[float], typer.Option(help="Households (户数) of the project.")] = None,
    population: Annotated[Optional[float], typer.Option(help="Population (人口) of the project.")] = None,
    name: Annotated[Optional[str], typer.Option(help="Project name, used in the texts.")] = None,
    planned: Annotated[Optional[Path], typer.Option(
        help="The facilities the project plans: a table with 类别 (category), optional 子类 (subcategory), 建筑面积 "
             "(floor_area_m2), 名称 (name).")] = None,
    as_built: Annotated[Optional[Path], typer.Option(
        "--as-built", help="Completion acceptance (竣工验收): the facilities the completed project has built, same "
                           "columns as --planned; checked against what the standards require.")] = None,
    out: Annotated[Path, typer.Option(help="Output folder.")] = Path("output/review"),
    **options,
) -> None:
    """Development review (配建审查): the facilities a new residential project must build per category — the
    standards' requirement minus the spare capacity of existing facilities within reach — checked against what it
    plans (pass/fail with reasons), and the planning conditions (规划条件) text; --as-built checks a completed
    project (竣工验收).

    Example: geofacility review --project 地块.geojson --households 2000 --planned 配建清单.csv --out 审查
    """
    import pandas as pd

    from .review import read_planned, read_project, review_checks, review_project, write_review
    from .standards import load_standards

    if planned is not None and as_built is not None:
        raise InputError("give --planned (a proposal) or --as-built (a completed project), not both")
    with _outputs(out, "review.csv", "review.xlsx", "review.md", "acceptance.csv", "acceptance.xlsx",
                  "acceptance.md", "run.json") as outputs, \
            console.status("analysing the existing facilities…", spinner="dots") as status:
        outputs.note_inputs("project", project)
        outputs.note_inputs("planned", planned)
        outputs.note_inputs("as_built", as_built)
        analysis = _study(**options, status=status)
        comm = analysis.communities
        hh = comm["households"].sum(min_count=1)
        pph = float(comm["population"].sum() / hh) if pd.notna(hh) and hh > 0 else None
        coords = _coords_arg(options.get("coords"))
        project_coords = coords.get("project", coords.get("*")) if isinstance(coords, dict) else coords
        site = read_project(project, analysis.crs, population=population, households=households, name=name,
                            people_per_household=pph, coords=project_coords, encoding=options.get("encoding"))
        listed = read_planned(as_built or planned, encoding=options.get("encoding"),
                              label_what="built" if as_built else "planned") if (as_built or planned) else None
        choices = _standard_arg(options.get("standard"))
        checks = review_checks(load_standards(options.get("standards")), choices or None, analysis.checks,
                               jurisdiction=analysis.settings.get("jurisdiction"))
        radius = _radius_arg(options.get("radius"))
        if radius:
            from dataclasses import replace

            checks = [replace(c, radius_m=radius[c.category]) if c.category in radius else c for c in checks]
        status.update("reviewing the project…")
        result = review_project(site, checks, analysis=analysis, planned=listed, as_built=as_built is not None)
        paths = write_review(result, out)
    paths["run"] = out / "run.json"
    if not options["quiet"]:
        title = "竣工验收核查 completion check" if as_built else "配建审查 development review"
        table = Table(title=f"{site.name}: {title} — {site.households:,.0f} households, {site.population:,.0f} people")
        for col in ("category", "standard", "required", "provided", "result"):
            table.add_column(col)
        from .review import RESULT_ZH

        for rec in result.table.to_dict("records"):
            need = f"{rec['required_count']:.0f}" + ("" if pd.isna(rec["required_m2"]) else
                                                      f" / {rec['required_m2']:,.0f} m²")
            table.add_row(rec["category_zh"], f"{rec['name_zh']}（{rec['jurisdiction']}）", need,
                          f"{rec['provided_count']} / {rec['provided_m2']:,.0f} m²", RESULT_ZH[rec["result"]])
        console.print(table)
        from .review import conditions_text

        console.print(conditions_text(result), markup=False, highlight=False)
    for kind, path in paths.items():
        out_console.print(f"{kind}: {path}")


@app.command("standards")
def list_standards(
    standards: Annotated[Optional[Path], typer.Option(help="A standards CSV to merge over the built-in table.")]
    = None,
    csv: Annotated[bool, typer.Option("--csv", help="Print the full table as CSV, a starting point for your own "
                                                    "rules: geofacility standards --csv > rules.csv")] = False,
    jurisdiction: Annotated[Optional[str], typer.Option(
        help="Only the standards that apply there, the most local of each (e.g. 北京市, 全国).")] = None,
) -> None:
    """List the standards table (built-in, or merged with --standards): radius, area rules, where it applies,
    source, status."""
    from .standards import applicable_standards, status_zh

    table = load_standards(standards)
    if jurisdiction is not None:
        table = applicable_standards(table, jurisdiction)
    if csv:
        sys.stdout.write(table.to_csv(index=False, lineterminator="\n"))
        return
    view = Table(title="Standards (metres, m²) — `geofacility analyze --standard CATEGORY=SUBCATEGORY` to apply one")
    for col in ("category / subcategory", "名称", "适用地区", "level", "radius", "floor-area rule", "default", "状态"):
        view.add_column(col, overflow="fold")
    for _, row in table.iterrows():
        check = check_from_row(row)
        rules = []
        if check.per_1000_building_m2:
            rules.append(f"{check.per_1000_building_m2:g} m²/1000人")
        if check.per_100hh_building_m2:
            rules.append(f"{check.per_100hh_building_m2:g} m²/100户")
        if check.min_building_m2:
            rules.append(f"≥{check.min_building_m2:g} m² each")
        if check.serves_population:
            rules.append(f"1 per ≤{check.serves_population:,.0f} people")
        view.add_row(f"{check.category} / {check.subcategory}", check.name_zh, check.jurisdiction or "自定", check.level,
                     f"{check.radius_m:g} m" if check.radius_m else "—", "; ".join(rules) or "—",
                     "yes" if check.is_default else "", status_zh(check).split("：")[0].split("（")[0])
    out_console.print(view)


def _usage_error(exc: BaseException) -> bool:
    """A mistake on the command line (unknown option, missing value, bad choice): typer's own exception type —
    typer vendors click, so click itself may not be installed at all."""
    base = getattr(typer, "TyperException", None)
    if base is not None and isinstance(exc, base):
        return True
    return type(exc).__module__.split(".")[0] == "click" and hasattr(exc, "show") and hasattr(exc, "exit_code")


def _report_internal_error(exc: BaseException) -> None:
    """Never a traceback on the planner's screen: one line, the details in a file for the bug report."""
    import tempfile
    import traceback

    with tempfile.NamedTemporaryFile("w", prefix="geofacility-error-", suffix=".log", delete=False,
                                     encoding="utf-8") as report:
        report.write(f"geofacility {' '.join(sys.argv[1:])}\n\n{traceback.format_exc()}")
    first = str(exc).splitlines()[0] if str(exc) else ""
    sys.stderr.write(f"error: internal error ({type(exc).__name__}: {first}); this is a geofacility bug, not "
                     f"your data's fault — please report it with {report.name}\n")


def main() -> None:
    try:
        result = app(standalone_mode=False)
    except InputError as exc:
        sys.stderr.write(f"error: {exc}\n")  # one line, never wrapped: planners paste it into a message
        sys.exit(2)
    except (typer.Abort, KeyboardInterrupt):
        console.print("interrupted: no output was replaced (a run's outputs are replaced together at its end)")
        sys.exit(130)
    except MemoryError:
        sys.stderr.write("error: out of memory: the inputs are too large for this machine; clip them to the study "
                         "area, run per town (geofacility batch), or use a machine with more memory\n")
        sys.exit(2)
    except Exception as exc:
        if _usage_error(exc):
            exc.show()  # typer's usage message: "No such option: --comunities (Possible options: --communities)"
            sys.exit(exc.exit_code)
        _report_internal_error(exc)
        sys.exit(1)
    if isinstance(result, int) and result:  # standalone_mode=False returns the exit code of --help and friends
        sys.exit(result)


def entry() -> None:
    """The ``geofacility`` console script: :func:`main`, then the process ends with its exit code at once, once
    stdout and stderr are flushed. Everything a run opens is closed by then (output sets, Dask clusters); what is
    skipped is the interpreter's teardown of native thread pools (HiGHS, Arrow, GDAL), which under load could abort
    a finished run with "terminate called without an active exception" (exit -6 instead of 0 or 2)."""
    import os

    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if not isinstance(exc.code, (int, type(None))):
            sys.stderr.write(f"{exc.code}\n")
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


if __name__ == "__main__":
    entry()
