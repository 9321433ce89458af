"""The ``synth`` command: a synthetic city for trials, benchmarks and scale tests, a thin layer over
:mod:`geofacility.synth`."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import InputError
from .output import _outputs, console, out_console


#: ``--preset``: the benchmark's 1M city and the 10M province (benchmarks/bench_batch.py)
PRESETS = {"city": {"side": 356, "demand": 1_000_000, "facilities": 2_000, "town_side": 7},
           "province": {"side": 1121, "demand": 10_000_000, "facilities": 5_000, "town_side": 7}}


def synth_command(
    out: Annotated[Path, typer.Option(help="Folder for communities.gpkg, demand.csv, facilities.csv and "
                                           "streets.gpkg (or their .parquet with --format parquet).")]
    = Path("output/synthetic"),
    side: Annotated[int, typer.Option(help="Street intersections per side of the square street grid.")] = 100,
    spacing: Annotated[float, typer.Option(help="Metres between neighbouring intersections.")] = 100.0,
    demand: Annotated[int, typer.Option(help="Population points (homes).")] = 10_000,
    facilities_per_category: Annotated[int, typer.Option(help="Facilities of each of the seven categories.")] = 30,
    block_side: Annotated[int, typer.Option(help="Grid cells per side of a community.")] = 5,
    town_side: Annotated[int, typer.Option(help="Communities per side of a town (4: towns of 4 × 4 communities).")]
    = 4,
    streets: Annotated[bool, typer.Option(help="Write the street grid (--no-streets: a straight-line study).")]
    = True,
    preset: Annotated[Optional[str], typer.Option(
        help="city: 1,000,000 homes, 5,041 communities in 121 towns, 7 × 2,000 facilities; province: 10,000,000 "
             "homes, 50,176 communities in 1,024 towns, 7 × 5,000 facilities (both GeoParquet, no streets; a few "
             "GB of memory while generating). Overrides the sizes.")] = None,
    seed: Annotated[int, typer.Option(help="The same seed always gives the same city.")] = 0,
    format: Annotated[str, typer.Option(help="gpkg (communities.gpkg and streets.gpkg, demand.csv and "
                                             "facilities.csv with lon/lat) or parquet (the four as GeoParquet: "
                                             "*.parquet).")] = "gpkg",
) -> None:
    """A synthetic city for trials, benchmarks and scale tests, deterministic by seed: communities in towns,
    homes with population, facilities of all seven categories and a walking street grid.

    Example: geofacility synth --side 200 --demand 100000 --out city && geofacility batch --communities
    city/communities.gpkg --demand city/demand.csv --facilities city/facilities.csv --network city/streets.gpkg
    """
    from ..synth import synthetic_city

    if preset is not None:
        sizes = PRESETS.get(preset.strip().lower())
        if sizes is None:
            raise InputError(f"--preset {preset}: use {' or '.join(PRESETS)}")
        side, demand, facilities_per_category, town_side = (sizes[k] for k in ("side", "demand", "facilities",
                                                                              "town_side"))
        format, streets = "parquet", False
    for name, value in (("--side", side), ("--demand", demand), ("--block-side", block_side)):
        if value < 2:
            raise InputError(f"{name} {value}: give at least 2")
    if spacing <= 0 or facilities_per_category < 0:
        raise InputError("--spacing must be positive and --facilities-per-category at least 0")
    format = format.strip().lower()
    if format not in ("gpkg", "parquet"):
        raise InputError(f"--format {format}: use gpkg or parquet")
    files = ("communities.gpkg", "demand.csv", "facilities.csv", "streets.gpkg") if format == "gpkg" else \
        ("communities.parquet", "demand.parquet", "facilities.parquet", "streets.parquet")
    files = files if streets else files[:3]
    with _outputs(out, *files, "run.json") as outputs, console.status("generating…", spinner="dots"):
        outputs.note_settings({"side": side, "spacing": spacing, "demand": demand, "seed": seed, "block_side": block_side,
                               "facilities_per_category": facilities_per_category, "format": format,
                               "town_side": town_side, "streets": streets, "preset": preset})
        city = synthetic_city(n_nodes_side=side, spacing_m=spacing, n_demand=demand,
                              facilities_per_category=facilities_per_category, block_side=block_side, seed=seed,
                              town_side=town_side)
        paths = city.write(out, format=format, streets=streets)
    console.print(f"{len(city.communities):,} communities in {city.communities['town'].nunique()} towns, "
                  f"{len(city.demand):,} homes (population {city.demand['population'].sum():,.0f}), "
                  f"{len(city.facilities):,} facilities, {city.network.n_segments:,} street segments",
                  highlight=False)
    for name, path in paths.items():
        out_console.print(f"{name}: {path}")
