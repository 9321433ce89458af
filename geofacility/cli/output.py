"""The command line's output side: the two consoles (messages on stderr, output paths on stdout), the output set a
command writes into (:func:`_outputs`, over :mod:`geofacility.outputs`) and the analysis summary ``analyze`` prints."""
from __future__ import annotations

import contextlib
from pathlib import Path

from rich.console import Console
from rich.table import Table

from ..standards import CATEGORIES, CATEGORY_LABELS_ZH


console = Console(stderr=True)
out_console = Console()


@contextlib.contextmanager
def _outputs(out: Path, *expected: str):
    """The command's output set on ``out`` (see geofacility.outputs): checked before the work starts, replaced as
    one set at the end; what it has to say about the folder is printed."""
    from ..outputs import output_set

    with output_set(out, expected=expected) as outputs:
        if outputs.recovered:
            console.print(f"{out}: completed the outputs of an earlier run that was interrupted while replacing them "
                          f"({', '.join(p.name for p in outputs.recovered)})", highlight=False, markup=False)
        yield outputs
    for note in outputs.notes:
        console.print(f"note: {note}", highlight=False, markup=False)


def _summary(analysis, seconds: float) -> None:
    import pandas as pd

    from ..coverage import NO_RADIUS_MEANING_EN, category_totals

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
        from ..ledger import problem_text

        target = analysis.settings.get("coverage_target") or 1.0
        for _, row in worst.iterrows():
            problems = problem_text(row.to_dict(), coverage_target=target)  # the ledger's 存在问题 cell, word for word
            console.print(f"  {row['town']} {row['community']} ({row['community_id']}): population "
                          f"{row['population']:,.0f}; {problems or 'no gap'}", markup=False, highlight=False)
    if len(analysis.warnings):
        console.print(f"{len(analysis.warnings)} input warnings: see the 警告 warnings sheet of ledger.xlsx")
    from ..errors import digest

    for line in digest(analysis.warnings):  # rows set aside, per file; categories left without a usable row
        console.print(line, style="bold red" if line.startswith("WARNING:") else None, markup=False,
                      highlight=False, soft_wrap=True)
