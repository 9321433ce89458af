"""The ``review`` command: development review (配建审查) and completion acceptance (竣工验收) of a residential
project, a thin layer over :mod:`geofacility.review`."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from ..errors import InputError
from .options import _coords_arg, _radius_arg, _standard_arg, _study, study_options
from .output import _outputs, console, out_console


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

    from ..review import read_planned, read_project, review_checks, review_project, write_review
    from ..standards import load_standards

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
        site = read_project(project, crs=analysis.crs, population=population, households=households, name=name,
                            people_per_household=pph, coords=project_coords, encoding=options.get("encoding"))
        listed = read_planned(as_built or planned, encoding=options.get("encoding"),
                              label_what="built" if as_built else "planned") if (as_built or planned) else None
        choices = _standard_arg(options.get("standard"))
        checks = review_checks(load_standards(options.get("standards")), choices=choices or None,
                               surveyed=analysis.checks, jurisdiction=analysis.settings.get("jurisdiction"))
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
        from ..review import RESULT_ZH

        for rec in result.table.to_dict("records"):
            need = f"{rec['required_count']:.0f}" + ("" if pd.isna(rec["required_m2"]) else
                                                      f" / {rec['required_m2']:,.0f} m²")
            table.add_row(rec["category_zh"], f"{rec['name_zh']}（{rec['jurisdiction']}）", need,
                          f"{rec['provided_count']} / {rec['provided_m2']:,.0f} m²", RESULT_ZH[rec["result"]])
        console.print(table)
        from ..review import conditions_text

        console.print(conditions_text(result), markup=False, highlight=False)
    for kind, path in paths.items():
        out_console.print(f"{kind}: {path}")
