"""The command line's study options, declared once: the option types (``Annotated`` typer options), the
:data:`_STUDY_PARAMETERS` every study command takes through :func:`study_options`, the parsers of their values
(``CATEGORY=VALUE`` pairs, categories by any of their names, --radius, --standard, --coords, --facilities), and their
translation into :func:`geofacility.study.prepare` arguments (:func:`_prepare_kwargs`) and a run of the analysis
(:func:`_study`). Radii and distances in metres."""
from __future__ import annotations

import functools
import inspect
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import InputError
from .output import console


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
    from ..read import category_key, category_names

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


def _input_path(text):
    """An input option's value: a path, or a PostGIS table (``postgresql://…``, ``PG:…``) kept as its text (a Path
    would fold its ``//``), its password masked wherever it is shown (geofacility.read.postgis)."""
    from ..read.postgis import is_database, source

    if text is None:
        return None
    return source(text) if is_database(text) else Path(text)


def _facility_args(values: list[str]) -> list:
    from ..read import category_key, category_names
    from ..read.postgis import is_database

    items = []
    for text in values:
        key, sep, value = text.partition("=")
        if is_database(text):
            items.append(_input_path(text))
        elif sep and category_key(key) is not None:
            items.append((_input_path(value), category_key(key)))
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

Communities = Annotated[Optional[str], typer.Option(
    help="Community (社区) boundaries: GeoJSON/GPKG/Shapefile with name, town, population, households. "
         "Example: --communities 社区.shp. Name the layer of a file with several as PATH:LAYER (any input, e.g. "
         "数据.gpkg:社区), a PostGIS table as postgresql://[USER@]HOST[:PORT]/DB?table=SCHEMA.TABLE or "
         "PG:\"dbname=DB host=HOST table=SCHEMA.TABLE\" (any input; the password from PGPASSWORD, ~/.pgpass or a "
         "service file). Without it, the bundled Beijing Xicheng sample is analysed.")]
Facilities = Annotated[Optional[list[str]], typer.Option(
    help="Existing facilities, [CATEGORY=]PATH, repeatable. The file needs a category column (类别) unless "
         "CATEGORY is given, which also marks the category as surveyed (a CSV with only a header: surveyed, "
         "none exist). Example: --facilities education=schools.csv --facilities 设施.xlsx")]
Demand = Annotated[Optional[str], typer.Option(
    help="Where people live: points or grid cells with a population column (人口). Without it each "
         "community's population is spread over its polygon. Example: --demand compounds.csv")]
Towns = Annotated[Optional[str], typer.Option(
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
    from ..study import sample_inputs

    communities, demand, towns = (_input_path(v) for v in (communities, demand, towns))
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


#: ``--format`` of the commands that write the coverage layer (analyze, batch): geofacility.ledger.GEO_FORMATS
GeoFormat = Annotated[str, typer.Option(
    "--format", help="Format of the coverage layer: gpkg (coverage.gpkg, default), parquet (coverage.parquet, "
                     "GeoParquet: the communities layer), or both: gpkg,parquet.")]


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
    from ..outputs import current_set
    from ..pipeline import analyze as run_analysis

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


def _float(text: str, where: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise InputError(f"{where}: not a number of metres") from None
