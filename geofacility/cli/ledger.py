"""The ``ledger`` sub-app: ``ledger diff``, the ledger tracked over time (问题销号), a thin layer over
:mod:`geofacility.tracking`."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import InputError
from .output import console, out_console


ledger_app = typer.Typer(help="Track the ledger over time (问题销号).", no_args_is_help=True)


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

    from ..tracking import write_progress

    try:
        date = dt.date.fromisoformat(today) if today else None
    except ValueError:
        raise InputError(f"--today {today}: write the date as YYYY-MM-DD") from None
    from ..tracking import compare_runs

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
