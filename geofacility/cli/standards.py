"""The ``standards`` command: the standards table listed (built-in or merged with a CSV), a thin layer over
:mod:`geofacility.standards`. Radii in metres, floor areas in m²."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from ..standards import check_from_row, load_standards
from .output import out_console


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
    from ..standards import applicable_standards, status_zh

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
