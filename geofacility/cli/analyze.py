"""The commands that analyse a study: ``analyze`` (the ledger, the GeoPackage and the map) and ``map`` (the
per-category special-plan maps and figures), thin layers over :mod:`geofacility.pipeline`, :mod:`geofacility.ledger`,
:mod:`geofacility.maps` and :mod:`geofacility.figures`."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import InputError
from .options import GeoFormat, _category, _study, study_options
from .output import _outputs, _summary, console, out_console
from .sites import _site_study


@study_options
def analyze(
    out: Annotated[Path, typer.Option(help="Output folder for ledger.xlsx, ledger.csv, coverage.gpkg, map.html.")]
    = Path("output"),
    out_db: Annotated[Optional[str], typer.Option(
        help="Also write the ledger layer, the warnings and the run into a PostGIS schema, replacing the earlier "
             "set there as one: postgresql://[USER@]HOST[:PORT]/DB?schema=NAME (default schema geofacility; the "
             "password from PGPASSWORD, ~/.pgpass or a service file).")] = None,
    formats: GeoFormat = "gpkg",
    **options,
) -> None:
    """Coverage and gaps per community and category; writes the ledger (台账), the GeoPackage and the map.

    Example: geofacility analyze --communities 社区.gpkg --facilities 设施.csv --coords facilities=gcj02 --out 结果
    """
    import time

    from ..ledger import geo_files, geo_formats, write_ledger
    from ..maps import write_map

    started = time.perf_counter()
    formats = geo_formats(formats)
    with _outputs(out, "ledger.xlsx", "ledger.csv", *geo_files(formats), "map.html", "ledger.previous.xlsx",
                  "run.json") as outputs, console.status("analysing…", spinner="dots") as status:
        analysis = _study(**options, status=status)
        status.update("writing the ledger…")
        paths = write_ledger(analysis, out, formats=formats)
        status.update("drawing the map…")
        paths["map"] = write_map(analysis, out / "map.html")
        if out_db is not None:  # before the files are replaced: a database that cannot be written replaces nothing
            status.update("writing to the database…")
            paths.update(_write_db(analysis, out_db, outputs))
        status.update("replacing the outputs…")
    paths["run"] = out / "run.json"
    if not options["quiet"]:
        _summary(analysis, time.perf_counter() - started)
    for name, path in paths.items():
        out_console.print(f"{name}: {path}")


def _write_db(analysis, url: str, outputs) -> dict:
    """``--out-db``: the ledger layer, warnings and run (run.json's contents) into the PostGIS schema; the tables
    written by name, shown as DATABASE#SCHEMA.TABLE with the password masked."""
    from ..ledger import write_postgis
    from ..read import DatabaseSource

    target = DatabaseSource(url)
    outputs.note_settings({"out_db": str(target)})
    tables = write_postgis(analysis, target, run=outputs.run_info())
    base = str(target).split("?", 1)[0]
    return {f"db_{name}": f"{base}#{table}" for name, table in tables.items()}


@study_options
def map_command(
    category: Annotated[Optional[list[str]], typer.Option(
        help="The category of the special-plan map (专项规划), repeatable, as a key or its Chinese name (教育, 养老 …); "
             "default: every surveyed category.")] = None,
    basemap: Annotated[str, typer.Option(
        help="Base map: osm (OpenStreetMap), amap (高德, GCJ-02: the overlays are shifted to match), tianditu "
             "(天地图, needs --tianditu-key or TIANDITU_KEY) or none.")] = "osm",
    tianditu_key: Annotated[Optional[str], typer.Option(envvar="TIANDITU_KEY",
                                                        help="Tianditu API key (tk).")] = None,
    offline: Annotated[bool, typer.Option(
        help="Also write CATEGORY_map_offline.html: Leaflet inlined, no base map, works with no network.")] = True,
    figures: Annotated[bool, typer.Option(
        help="Also write the printable figures: CATEGORY_map.png/.pdf and town_uncovered.png/.pdf.")] = True,
    candidates: Annotated[Optional[str], typer.Option(
        help="Candidate rooms (房源) to show on the map of the (single) --category, the best --k selected "
             "(exact MCLP) with their service radius.")] = None,
    k: Annotated[int, typer.Option(help="With --candidates: how many sites to select.")] = 10,
    out: Annotated[Path, typer.Option(help="Output folder.")] = Path("output/maps"),
    **options,
) -> None:
    """Per-category maps for special plans: communities by that category's status, its facilities and service
    areas, the people left out, the standard applied; HTML (online and offline) and PNG/PDF figures.

    Example: geofacility map --category education --basemap amap --out 专项图
    """
    from ..maps import BASEMAPS, write_map

    if basemap not in BASEMAPS:
        raise InputError(f"--basemap {basemap}: use one of {', '.join(BASEMAPS)}")
    if basemap == "tianditu" and not tianditu_key:
        raise InputError("--basemap tianditu needs a key: --tianditu-key KEY or the TIANDITU_KEY environment variable "
                         "(free from https://console.tianditu.gov.cn)")
    category = list(dict.fromkeys(_category(c, "--category") for c in category or [])) or None
    if candidates is not None and len(category or []) != 1:
        raise InputError("--candidates needs exactly one --category: the category the rooms would host")
    with _outputs(out, *(f"{c}_map.html" for c in category or []), "run.json") as outputs, \
            console.status("analysing…", spinner="dots") as status:
        sites = None
        if candidates is not None:
            outputs.note_inputs("candidates", candidates)
            from ..siting import select_sites

            analysis, site_study = _site_study(options, candidates, category[0], False, None, status,
                                               candidate_id_column=None)
            status.update("selecting sites…")
            sites = (site_study, select_sites(site_study, method="mclp", k=k))
        else:
            analysis = _study(**options, status=status, category=category)
        chosen = category or list(analysis.surveyed)
        unsurveyed = [c for c in chosen if c not in analysis.surveyed]
        if unsurveyed:
            raise InputError(f"--category {', '.join(unsurveyed)}: no facility data of that category were given; "
                             "add them with --facilities CATEGORY=PATH")
        paths = {}
        for c in chosen:
            status.update(f"drawing the {c} map…")
            paths[f"{c}_map"] = write_map(analysis, out / f"{c}_map.html", sites=sites, category=c, basemap=basemap,
                                          tianditu_key=tianditu_key)
            if offline:
                paths[f"{c}_map_offline"] = write_map(analysis, out / f"{c}_map_offline.html", sites=sites, category=c,
                                                      basemap="none", offline=True)
        if figures:
            from ..figures import write_figures

            for c in chosen:
                status.update(f"drawing the {c} figures…")
                paths.update(write_figures(analysis, out, category=c, sites=sites))  # keyed by file name
    paths["run"] = out / "run.json"
    for name, path in paths.items():
        out_console.print(f"{name}: {path}")
