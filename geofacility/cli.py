"""The ``geofacility`` command: a thin layer over :mod:`geofacility.pipeline`, :mod:`geofacility.ledger` and
:mod:`geofacility.maps`. User mistakes print one line and exit with code 2; never a traceback."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from .errors import InputError
from .standards import CATEGORIES, CATEGORY_LABELS_ZH, CATEGORY_SHORT_ZH, check_from_row, load_standards

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


def _facility_args(values: list[str]) -> list:
    items = []
    for text in values:
        key, sep, value = text.partition("=")
        if sep and key in CATEGORIES:
            items.append((Path(value), key))
        elif sep and key and not Path(text).exists() and "/" not in key and "\\" not in key:
            raise InputError(f"--facilities {text!r}: unknown category {key!r}; use one of {', '.join(CATEGORIES)}")
        else:
            items.append(Path(text))
    return items


def _coords_arg(values: list[str] | None):
    if not values:
        return None
    roles = {"communities", "facilities", "demand", "towns", "network"}
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


@app.command()
def analyze(
    communities: Annotated[Optional[Path], typer.Option(
        help="Community (社区) boundaries: GeoJSON/GPKG/Shapefile with name, town, population, households. "
             "Example: --communities 社区.shp. Without it, the bundled Beijing Xicheng sample is analysed.")] = None,
    facilities: Annotated[Optional[list[str]], typer.Option(
        help="Existing facilities, [CATEGORY=]PATH, repeatable. The file needs a category column (类别) unless "
             "CATEGORY is given, which also marks the category as surveyed. Example: --facilities "
             "education=schools.csv --facilities 设施.xlsx")] = None,
    demand: Annotated[Optional[Path], typer.Option(
        help="Where people live: points or grid cells with a population column (人口). Without it each "
             "community's population is spread over its polygon. Example: --demand compounds.csv")] = None,
    towns: Annotated[Optional[Path], typer.Option(
        help="Street (街道) / town (镇) boundaries, for outlines and for communities without a town column.")] = None,
    standards: Annotated[Optional[Path], typer.Option(
        help="A standards CSV overriding or extending the built-in table (see `geofacility standards`).")] = None,
    standard: Annotated[Optional[list[str]], typer.Option(
        help="Apply this standard to a category, CATEGORY=SUBCATEGORY, repeatable. Example: --standard "
             "community_service=community_rooms_beijing")] = None,
    radius: Annotated[Optional[list[str]], typer.Option(
        help="Override a category's service radius in metres, CATEGORY=METRES. Example: --radius education=800")]
    = None,
    coords: Annotated[Optional[list[str]], typer.Option(
        help="Coordinate system of inputs whose files do not say: wgs84, cgcs2000, gcj02 (Amap/Tencent), bd09 "
             "(Baidu) or an EPSG code; [ROLE=]SYSTEM with ROLE communities/facilities/demand/towns. Example: "
             "--coords demand=gcj02")] = None,
    crs: Annotated[Optional[str], typer.Option(
        help="Projected CRS (metres) for distance work. Default: the UTM zone of the data. Example: --crs EPSG:4548")]
    = None,
    encoding: Annotated[Optional[str], typer.Option(
        help="Text encoding of Shapefile/CSV attributes when the file does not say (e.g. gbk).")] = None,
    aliases: Annotated[Optional[Path], typer.Option(
        help="CSV alias,column mapping your column names to geofacility's (e.g. 居委会名称,community).")] = None,
    network: Annotated[Optional[Path], typer.Option(
        help="Walking network: an OSM extract (.osm.pbf, .osm) or street centre lines (GeoJSON/GPKG/Shapefile, "
             "noded at crossings). With it, distances are walking distances. Example: --network city.osm.pbf")]
    = None,
    distance: Annotated[Optional[str], typer.Option(
        help="euclidean (straight line) or network (walking; needs --network). Default: network when --network "
             "is given.")] = None,
    max_snap: Annotated[float, typer.Option(
        help="Homes and facilities farther than this many metres from every walkable street are reported and "
             "count as not covered on foot.")] = 150.0,
    service_area_buffer: Annotated[float, typer.Option(
        help="Service areas on foot are the reachable streets buffered by this many metres.")] = 50.0,
    coverage_target: Annotated[float, typer.Option(
        help="Share of a community's people that must be within the radius for status ok (0–1).")] = 1.0,
    out: Annotated[Path, typer.Option(help="Output folder for ledger.xlsx, ledger.csv, coverage.gpkg, map.html.")]
    = Path("output"),
    study: Annotated[Optional[str], typer.Option(help="Name of the study area, used in titles.")] = None,
    quiet: Annotated[bool, typer.Option(help="Print only the output paths.")] = False,
) -> None:
    """Coverage and gaps per community and category; writes the ledger (台账), the GeoPackage and the map.

    Example: geofacility analyze --communities 社区.gpkg --facilities 设施.csv --coords facilities=gcj02 --out 结果
    """
    import time

    from .ledger import write_ledger
    from .maps import write_map
    from .pipeline import analyze as run_analysis
    from .pipeline import sample_inputs

    started = time.perf_counter()
    if communities is None:
        if facilities or demand or towns or network:
            raise InputError("--facilities/--demand/--towns/--network given without --communities; give "
                             "--communities too")
        kwargs = sample_inputs()
        if not quiet:
            console.print(f"[bold]No --communities given: analysing the bundled Beijing Xicheng sample[/] "
                          f"({kwargs['communities'].parent})")
    else:
        kwargs = {"communities": communities, "facilities": _facility_args(facilities or []), "demand": demand,
                  "towns": towns, "study": communities.stem}
    if study is not None:
        kwargs["study"] = study
    radius_m = {k: _float(v, f"--radius {k}={v}") for k, v in
                _pairs(radius, option="--radius", value_name="METRES").items()}
    choices: dict[str, list[str]] = {}
    for text in standard or []:
        key, _, value = text.partition("=")
        if not value:
            raise InputError(f"--standard {text!r}: write it as CATEGORY=SUBCATEGORY")
        choices.setdefault(key, []).append(value)
    for key in choices:
        if key not in CATEGORIES:
            raise InputError(f"--standard {key}=…: unknown category; use one of {', '.join(CATEGORIES)}")
    with console.status("analysing…", spinner="dots") as status:
        analysis = run_analysis(
            **kwargs, standards=standards, standard_choices=choices or None, radius=radius_m or None,
            coords=_coords_arg(coords), crs=crs, encoding=encoding, aliases=aliases,
            coverage_target=coverage_target, network=network, distance=distance, max_snap_m=max_snap,
            buffer_m=service_area_buffer,
            progress=None if quiet else (lambda message: status.update(f"{message}…")),
        )
        status.update("writing the ledger…")
        paths = write_ledger(analysis, out)
        status.update("drawing the map…")
        paths["map"] = write_map(analysis, out / "map.html")
    if not quiet:
        _summary(analysis, time.perf_counter() - started)
    for name, path in paths.items():
        out_console.print(f"{name}: {path}")


def _float(text: str, where: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise InputError(f"{where}: not a number of metres") from None


def _summary(analysis, seconds: float) -> None:
    comm = analysis.communities
    population = comm["population"].sum()
    console.print(f"\n[bold]{analysis.settings.get('study') or 'study area'}[/]: {len(comm)} communities in "
                  f"{comm['town'].nunique()} towns/streets, population {population:,.0f}; "
                  f"distance: {analysis.settings['distance']}, CRS {analysis.settings['crs']}; "
                  f"{seconds:.1f} s")
    table = Table(title="Per category", show_lines=False)
    for col in ("category", "standard", "population covered", "communities short"):
        table.add_column(col)
    for category in CATEGORIES:
        label = f"{category} {CATEGORY_LABELS_ZH[category]}"
        if category not in analysis.surveyed:
            table.add_row(label, "—", "not surveyed", "—")
            continue
        covered = comm[f"{category}_covered_population"].sum()
        short = int((comm[f"{category}_status"] == "gap").sum())
        checks = [c for c in analysis.checks if c.category == category]
        radius = "; ".join(f"{c.name_zh} r={c.radius_m:g} m" if c.radius_m else c.name_zh for c in checks)
        cover = f"{covered:,.0f} ({covered / population:.1%})" if population else "—"
        table.add_row(label, radius, cover, f"{short} of {len(comm)}")
    console.print(table)
    if analysis.surveyed:
        worst = comm.assign(_unc=sum(comm[f"{c}_uncovered_population"].fillna(0) for c in analysis.surveyed))
        worst = worst.sort_values(["n_categories_short", "_unc", "community_id"],
                                  ascending=[False, False, True]).head(5)
        console.print("[bold]Five worst communities[/] (most categories short, then most people uncovered):")
        for _, row in worst.iterrows():
            problems = "；".join(f"{CATEGORY_SHORT_ZH[c]}：{row[f'{c}_problem']}" for c in analysis.surveyed
                                 if row[f"{c}_problem"])
            console.print(f"  {row['town']} {row['community']} ({row['community_id']}): population "
                          f"{row['population']:,.0f}; {problems or 'no gap'}", markup=False, highlight=False)
    if len(analysis.warnings):
        console.print(f"{len(analysis.warnings)} input warnings: see the 警告 warnings sheet of ledger.xlsx")


@app.command("standards")
def list_standards(
    standards: Annotated[Optional[Path], typer.Option(help="A standards CSV to merge over the built-in table.")]
    = None,
    csv: Annotated[bool, typer.Option("--csv", help="Print the full table as CSV, a starting point for your own "
                                                    "rules: geofacility standards --csv > rules.csv")] = False,
) -> None:
    """List the standards table (built-in, or merged with --standards): radius, area rules, source, status."""
    table = load_standards(standards)
    if csv:
        sys.stdout.write(table.to_csv(index=False, lineterminator="\n"))
        return
    view = Table(title="Standards (metres, m²) — `geofacility analyze --standard CATEGORY=SUBCATEGORY` to apply one")
    for col in ("category / subcategory", "名称", "level", "radius", "floor-area rule", "default", "status"):
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
        view.add_row(f"{check.category} / {check.subcategory}", check.name_zh, check.level,
                     f"{check.radius_m:g} m" if check.radius_m else "—", "; ".join(rules) or "—",
                     "yes" if check.is_default else "", check.status)
    out_console.print(view)


def main() -> None:
    try:
        app(standalone_mode=False)
    except InputError as exc:
        sys.stderr.write(f"error: {exc}\n")  # one line, never wrapped: planners paste it into a message
        sys.exit(2)
    except (typer.Abort, KeyboardInterrupt):
        console.print("interrupted; outputs already written are complete (written atomically)")
        sys.exit(130)
    except Exception as exc:  # click usage errors come as ClickException
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise


if __name__ == "__main__":
    main()
