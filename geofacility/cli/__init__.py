"""The ``geofacility`` command: a thin layer over :mod:`geofacility.study`, :mod:`geofacility.pipeline`,
:mod:`geofacility.ledger` and :mod:`geofacility.maps`. User mistakes print one line and exit with code 2; never a traceback.

The package, by concern (each module imports only those above it):

- :mod:`.output`: the consoles (messages on stderr, output paths on stdout), the output set a command writes into,
  the summary ``analyze`` prints;
- :mod:`.options`: the study options every study command takes, declared once, their parsers and their translation
  into :func:`geofacility.study.prepare` arguments;
- one module per command or sub-app: :mod:`.sites` (``sites evaluate``/``select``), :mod:`.analyze` (``analyze``,
  ``map``), :mod:`.batch`, :mod:`.synth`, :mod:`.review`, :mod:`.serve` (the what-if workbench),
  :mod:`.standards`, :mod:`.ledger` (``ledger diff``);
- this module: the typer app, every command registered on it in one place in the order ``geofacility --help``
  lists them, and its runners: :func:`main` (errors as one line) and :func:`entry` (the console script,
  ``python -m geofacility.cli``).
"""
from __future__ import annotations

import sys

import typer

from ..errors import InputError
from ..masking import mask_secrets
from .analyze import analyze, map_command
from .batch import batch_command
from .ledger import ledger_app
from .options import _prepare_kwargs  # noqa: F401  (the options as prepare() arguments: tests use it)
from .output import console
from .review import review_command
from .serve import serve_command
from .sites import sites_app
from .standards import list_standards
from .synth import synth_command

__all__ = ["app", "entry", "main"]

app = typer.Typer(
    add_completion=False,
    no_args_is_help=False,
    help="geofacility: where community facilities are missing and where to put new ones.",
    rich_markup_mode="rich",
)

# the commands, in the order `geofacility --help` lists them (the sub-apps after the commands)
app.command()(analyze)
app.command("map")(map_command)
app.command("batch")(batch_command)
app.command("synth")(synth_command)
app.command("review")(review_command)
app.command("serve")(serve_command)
app.command("standards")(list_standards)
app.add_typer(ledger_app, name="ledger")
app.add_typer(sites_app, name="sites")


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
        report.write(mask_secrets(f"geofacility {' '.join(sys.argv[1:])}\n\n{traceback.format_exc()}"))
    first = mask_secrets(str(exc).splitlines()[0]) if str(exc) else ""
    sys.stderr.write(f"error: internal error ({type(exc).__name__}: {first}); this is a geofacility bug, not "
                     f"your data's fault — please report it with {report.name}\n")


def main() -> None:
    try:
        result = app(standalone_mode=False)
    except InputError as exc:
        sys.stderr.write(f"error: {mask_secrets(exc)}\n")  # one line, never wrapped: planners paste it into a message
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
