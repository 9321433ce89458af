"""The ``batch`` command: the analysis per town/street (or any column), a thin layer over
:mod:`geofacility.batch`."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .options import GeoFormat, _prepare_kwargs, study_options
from .output import _outputs, console, out_console


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
    formats: GeoFormat = "gpkg",
    out_db: Annotated[Optional[str], typer.Option(
        help="Also write the roll-up layer, the summary, the warnings and the input accounting into a PostGIS "
             "schema, replacing the earlier set there as one: postgresql://[USER@]HOST[:PORT]/DB?schema=NAME "
             "(the password from PGPASSWORD, ~/.pgpass or a service file).")] = None,
    **options,
) -> None:
    """The analysis per town/street (or any column): each group's ledger and map, a roll-up, an overview and one
    coverage.gpkg.

    Facilities of neighbouring groups and outside the study area count (on foot, over the network around each
    group), so each group's rows equal a whole-area run. Re-running skips unchanged groups.
    Example: geofacility batch --by town --workers 2
    """
    from rich.progress import Progress

    from ..batch import batch as run_batch
    from ..masking import mask_secrets
    from ..ledger import geo_files, geo_formats

    formats = geo_formats(formats)
    kwargs = _prepare_kwargs(**options)
    with _outputs(out, "summary.csv", "summary.xlsx", "index.html", *geo_files(formats), "inputs.csv",
                  "warnings.csv", "manifest.json", "run.json") as outputs, Progress(console=console, disable=options["quiet"]) as bar:
        for role in ("communities", "facilities", "demand", "towns", "network", "standards", "aliases"):
            value = kwargs.get(role)
            outputs.note_inputs(role, [v[0] if isinstance(v, tuple) else v for v in value]
                                if isinstance(value, list) else value)
        task = bar.add_task("groups", total=None)

        def step(done, total, group):
            bar.update(task, completed=done, total=total, description=f"{group}")

        result = run_batch(by=by, out=out, workers=workers, scheduler=scheduler, force=force, progress=step,
                           formats=formats, out_db=out_db, **kwargs)
        outputs.note_settings({"by": by, "workers": workers, "scheduler": scheduler, "force": force,
                               **({"out_db": mask_secrets(out_db)} if out_db else {})})
    if not options["quiet"]:
        groups = result.summary["group"].nunique()
        console.print(f"{groups} groups by {by}: {groups - len(result.skipped) - len(result.failed)} run, "
                      f"{len(result.skipped)} unchanged (skipped), {len(result.failed)} failed"
                      + (f": {', '.join(result.failed)}" if result.failed else ""), highlight=False)
    for name, path in {**result.paths, "run": out / "run.json"}.items():
        out_console.print(f"{name}: {path}")
