"""``geofacility serve``: the what-if workbench — the study analysed once, then a local web page to try candidate
rooms (房源) on (:mod:`geofacility.workbench`); a thin layer over :class:`geofacility.workbench.model.Workbench` and
:func:`geofacility.workbench.server.serve`. ``--from FOLDER`` opens a finished run again (its run.json)."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import InputError
from .options import _STUDY_PARAMETERS, _coords_arg, _input_path, _study, study_options
from .output import console, out_console
from ..selection import read_rooms

#: the options of a recorded command that name input files, and how their values hold the path
_PATH_OPTIONS = ("communities", "demand", "towns", "standards", "aliases", "network", "candidates")


@study_options
def serve_command(
    candidates: Annotated[Optional[str], typer.Option(
        help="Candidate rooms (房源) to try (as `sites evaluate --candidates`). Default: the sample's "
             "candidate_rooms.csv when the bundled Xicheng sample is the study, else none (rooms can still be "
             "dropped on the map).")] = None,
    from_run: Annotated[Optional[Path], typer.Option(
        "--from", help="Open a finished run: the output folder of analyze / sites evaluate / sites select (its "
                       "run.json): the same inputs and options, rebuilt. Says when an input file changed since.")]
    = None,
    port: Annotated[int, typer.Option(help="Port to listen on; 0 = a free one.")] = 0,
    host: Annotated[str, typer.Option(
        help="Address to listen on. Default 127.0.0.1: only this computer. Anything else (e.g. 0.0.0.0) lets other "
             "computers reach the workbench (a warning is printed; the URL's token is still required).")]
    = "127.0.0.1",
    browser: Annotated[bool, typer.Option("--browser/--no-browser", help="Open the page in the browser.")] = True,
    include_unreviewed: Annotated[bool, typer.Option(
        help="Also let rooms without a passed safety pre-review (预审) be built.")] = False,
    out: Annotated[Path, typer.Option(help="Output folder: named scenarios (scenarios/) and exports.")]
    = Path("output/workbench"),
    **options,
) -> None:
    """The what-if workbench: a local web page with the map, where clicking a candidate room builds it (or not)
    and the coverage, gaps and ledger rows update; undo/redo, named scenarios, "suggest k rooms" (exact MCLP),
    export as `sites select` writes it. Serves until Ctrl+C.

    Example: geofacility serve --facilities community_service=data/xicheng/community_rooms_existing.csv
    --standard community_service=community_rooms_beijing
    """
    from ..workbench.model import Workbench
    from ..workbench.server import serve

    category = None
    if from_run is not None:
        given = _changed_study_options(options)
        if given:
            raise InputError(f"--from {from_run}: the study comes from that run; do not give "
                             f"{', '.join('--' + n.replace('_', '-') for n in given)} with it")
        quiet = options["quiet"]
        options, recorded = _from_run(from_run)
        options["quiet"] = quiet
        candidates = candidates or recorded.get("candidates")
        include_unreviewed = include_unreviewed or bool(recorded.get("include_unreviewed"))
        category = recorded.get("category")
    sample = options.get("communities") is None and options.get("demand") is None
    if candidates is None and sample:
        from ..study import sample_dir

        default = sample_dir() / "candidate_rooms.csv"
        candidates = str(default) if default.is_file() else None
    with console.status("analysing…", spinner="dots") as status:
        analysis = _study(**options, status=status)
        rooms = None
        if candidates is not None:  # read as `sites` reads them (their warnings join the study's: the export's)
            status.update("reading the candidate rooms…")
            coords = _coords_arg(options.get("coords"))
            cand_coords = coords.get("candidates", coords.get("*")) if isinstance(coords, dict) else coords
            # the floor area is required when a standard of the study sets a minimum one
            sited = category or next((c.category for c in analysis.checks if c.min_building_m2),
                                     next(iter(analysis.surveyed), None))
            analysis, rooms = read_rooms(analysis, _input_path(candidates), sited, coords=cand_coords,
                                         encoding=options.get("encoding"))
        status.update("preparing the workbench…")
        workbench = Workbench(analysis, rooms, out=out, include_unreviewed=include_unreviewed)
    if not options["quiet"]:
        console.print(f"[bold]设施缺口推演工作台 what-if workbench[/]: {len(analysis.communities)} communities, "
                      f"{0 if rooms is None else len(rooms)} candidate rooms; scenarios and exports in {out}. "
                      "Ctrl+C 停止 stops it.", highlight=False)
    try:
        serve(workbench, host=host, port=port, open_browser=browser, category=category,
              echo=lambda url: out_console.print(url, markup=False, highlight=False, soft_wrap=True))
    except KeyboardInterrupt:  # pragma: no cover - uvicorn handles Ctrl+C itself; a second one lands here
        pass


def _changed_study_options(options: dict) -> list[str]:
    """The study options given on the command line (not at their defaults), bar --quiet."""
    return [name for name, _, default in _STUDY_PARAMETERS
            if name != "quiet" and options.get(name) not in (default, None, [], ())]


def _from_run(folder: Path) -> tuple[dict, dict]:
    """The study options of the run in ``folder`` (its run.json's command, parsed by this CLI, its relative paths
    taken from the folder the run was started in) and what else it recorded (candidates, category,
    include_unreviewed); the input files that changed since, or are gone, are said on stderr."""
    from typer.main import get_command

    from ..outputs import file_sha256, read_run_info
    from . import app

    info = read_run_info(folder)
    if info is None:
        raise InputError(f"--from {folder}: no run.json there; give the output folder of a finished run "
                         "(analyze, sites evaluate, sites select)")
    args = [str(a) for a in (info.get("command") or [])[1:]]
    command = get_command(app)
    while args and hasattr(command, "commands") and args[0] in command.commands:
        command = command.commands[args.pop(0)]
    if command is get_command(app) or command.name in ("serve", "batch"):
        raise InputError(f"--from {folder}: its run.json records no study command (analyze, map, sites "
                         "evaluate/select); start the workbench with the study options instead")
    try:
        ctx = command.make_context("geofacility", list(args), resilient_parsing=True)
    except Exception as exc:  # noqa: BLE001 - a run of another version with options this one lacks
        raise InputError(f"--from {folder}: its recorded command cannot be read by this version ({exc})") from None
    params = dict(ctx.params)
    base = Path(info.get("working_folder") or ".")
    for name in _PATH_OPTIONS:
        if params.get(name) is not None:
            params[name] = _rebase(params[name], base)
    params["facilities"] = [_rebase_pair(text, base, facilities=True) for text in params.get("facilities") or []]
    params["survey_extent"] = [_rebase_pair(text, base) for text in params.get("survey_extent") or []]
    options = {name: params.get(name, default) for name, _, default in _STUDY_PARAMETERS}
    recorded = {k: params.get(k) for k in ("candidates", "category", "include_unreviewed")}
    changed = []
    for item in info.get("inputs") or []:
        if not item.get("sha256") or item.get("database"):
            continue
        path = Path(_rebase(item["path"], base))
        try:
            if not path.is_file():
                changed.append(f"{item['path']}（已不存在 gone）")
            elif file_sha256(path) != item["sha256"]:
                changed.append(f"{item['path']}（已改变 changed）")
        except OSError:
            changed.append(f"{item['path']}（无法读取 unreadable）")
    if changed:
        console.print(f"[bold yellow]注意 note[/]: {len(changed)} 个输入文件在该次运行（{info.get('finished')}）之后已改变，"
                      f"工作台按现在的文件重算 / input files changed since that run; the workbench uses them as they "
                      f"are now: {'; '.join(changed)}", highlight=False)
    else:
        console.print(f"--from {folder}: 该次运行的输入未变 the run's inputs are unchanged "
                      f"({info.get('finished')}, run {info.get('run_id')})", highlight=False, markup=False)
    return options, recorded


def _rebase(text, base: Path) -> str:
    """A recorded path relative to the folder the run started in; a PostGIS source as is."""
    from ..read.postgis import is_database

    text = str(text)
    if is_database(text):
        return text
    path = Path(text)
    return str(path if path.is_absolute() else base / path)


def _rebase_pair(text: str, base: Path, facilities: bool = False) -> str:
    """``[CATEGORY=]PATH`` with PATH rebased (a facilities value may be a bare path)."""
    from ..read import category_key
    from ..read.postgis import is_database

    key, sep, value = str(text).partition("=")
    if is_database(text):
        return text
    if sep and category_key(key) is not None:
        return f"{key}={_rebase(value, base)}"
    if facilities:
        return _rebase(text, base)
    raise InputError(f"--survey-extent {text!r} in the recorded command: not CATEGORY=PATH")
