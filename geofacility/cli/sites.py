"""The ``sites`` sub-app: candidate rooms (房源) evaluated (``sites evaluate``) and selected (``sites select``),
thin layers over :mod:`geofacility.siting`; :func:`_site_study` (the study and the rooms evaluated for one category)
also serves ``map --candidates``. Distances and radii in metres, areas in m²."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import InputError
from ..standards import label_zh
from .options import _category, _coords_arg, _input_path, _study, study_options
from ..selection import SELECT_OUTPUTS, read_rooms, write_selection
from .output import _outputs, console, out_console


sites_app = typer.Typer(help="Candidate rooms (房源): what each would fix, and which k to take.",
                        no_args_is_help=True)


Candidates = Annotated[str, typer.Option(
    help="Candidate rooms: points or polygons with id (房源编号), name, floor area (建筑面积, m²) and optionally "
         "categories (可用类别, several), acquisition (取得方式: 租赁/置换/共享/购买), pre-review (预审: 是/否), "
         "floor (楼层), cost (成本). A PostGIS table as postgresql://…?table=SCHEMA.TABLE.")]
Category = Annotated[str, typer.Option(help="The category to site, e.g. community_service, elderly_care, or its "
                                            "Chinese name as in facility files (社区用房, 养老 …).")]
Unreviewed = Annotated[bool, typer.Option(help="Also consider rooms without a passed safety pre-review (预审).")]
CandidateIdColumn = Annotated[Optional[str], typer.Option(
    help="The --candidates file's column of ids (the destinations of a --cost-matrix), when not called "
         "房源编号/candidate_id/编号. Example: --candidate-id-column NAME")]
SitesOut = Annotated[Path, typer.Option(help="Output folder for sites.csv, sites.xlsx, selection.json, "
                                             "sites_map.html and the ledger as if the sites were built.")]


def _site_study(options: dict, candidates, category: str, include_unreviewed: bool, cost: dict | None,
                status, pmedian: bool = False, candidate_id_column: str | None = None):
    """The study and the candidate rooms evaluated for ``category``; with a cost table (``cost["matrix"]``) the
    category is measured by it throughout (geofacility.costs)."""
    from ..siting import evaluate_candidates

    category = _category(category, "--category")
    candidates = _input_path(candidates)
    cost_matrix = None
    if cost and cost.get("matrix"):
        cost_matrix = {"category": category, "path": cost["matrix"], "origin": cost["origin"],
                       "destination": cost["destination"], "value": cost["value"]}
    analysis = _study(**options, status=status, cost_matrix=cost_matrix, category=category, sited=category)
    coords = _coords_arg(options.get("coords"))
    cand_coords = coords.get("candidates", coords.get("*")) if isinstance(coords, dict) else coords
    analysis, rooms = read_rooms(analysis, candidates, category, coords=cand_coords,
                                 encoding=options.get("encoding"), candidate_id_column=candidate_id_column)
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
    from ..ledger import write_sites
    from ..maps import write_map

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
    choose: Annotated[Optional[str], typer.Option(help="The planner's own choice instead of a model: room ids "
                                                       "separated by commas (房源编号; a combined set as in sites.csv, "
                                                       "A1+A2). selection.json says method \"given\".")] = None,
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
    or greedy, or the planner's own choice (--choose); writes the selection, the map, and the ledger as if the
    chosen rooms were built.

    Example: geofacility sites select --candidates 房源.csv --category elderly_care --k 5
    """
    from ..ledger import shortage_note
    from ..siting import given_selection, select_sites

    category = _category(category, "--category")
    if choose is not None:
        if k is not None or budget is not None or method != "mclp":
            raise InputError("--choose names the rooms itself: give it without --k, --budget or --method")
    elif method not in ("mclp", "lscp", "pmedian", "greedy"):
        raise InputError(f"--method {method}: use mclp, lscp, pmedian or greedy")
    elif method in ("mclp", "greedy") and k is None and budget is None:
        raise InputError(f"--method {method} needs --k or --budget")
    elif method == "pmedian" and k is None:
        raise InputError("--method pmedian needs --k")
    if k is not None and k < 1:
        raise InputError(f"--k {k}: give at least 1")
    cost = {"matrix": cost_matrix, "origin": cost_origin, "destination": cost_destination, "value": cost_value}
    with _outputs(out, *SELECT_OUTPUTS) as outputs, \
            console.status("selecting sites…", spinner="dots") as status:
        outputs.note_inputs("candidates", candidates)
        analysis, site_study = _site_study(options, candidates, category, include_unreviewed, cost, status,
                                           pmedian=method == "pmedian", candidate_id_column=candidate_id_column)
        if choose is not None:
            selection = given_selection(site_study, choose.split(","))
        else:
            status.update(f"solving ({method})…")
            selection = select_sites(site_study, method=method, k=k, budget=budget, time_limit=time_limit)
        paths, after = write_selection(analysis, site_study, selection, out, k=k, budget=budget, status=status)
    paths["run"] = out / "run.json"
    short = shortage_note(site_study, k)
    if short:  # said even with --quiet: the selection is smaller than asked
        console.print(short, markup=False, highlight=False)
    if not options["quiet"]:
        ids = site_study.candidates["candidate_id"].to_numpy()[selection.selected]
        before_short = int((analysis.communities[f"{category}_status"] == "gap").sum())
        after_short = int((after.communities[f"{category}_status"] == "gap").sum())
        console.print(f"[bold]{selection.method}[/] ({selection.status}, gap {selection.gap:.2%}): selected "
                      f"{', '.join(map(str, ids)) or 'none'}; newly covered {selection.covered_weight:,.0f} of "
                      f"{selection.total_weight:,.0f} people not yet covered; communities short of standard: "
                      f"{before_short} → {after_short}", highlight=False)
    for name, path in paths.items():
        out_console.print(f"{name}: {path}")
