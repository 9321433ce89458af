"""Ledger stage, writing: :func:`write_ledger` writes ``ledger.csv``, ``ledger.xlsx`` and ``coverage.gpkg`` (and/or
``coverage.parquet``: :data:`GEO_FORMATS`) from an :class:`~geofacility.pipeline.Analysis`. The files are written to
temporary names first and renamed only when all are complete, so an interrupted run leaves the previous ledger (or
nothing) behind, never a half-written file or a mixed set. :func:`write_rollup_layer` writes a batch's roll-up layer
in the same formats.
"""
from __future__ import annotations

import shutil
from collections.abc import Iterable
from pathlib import Path

import geopandas as gpd
import pandas as pd

from ..atomic import atomic_path
from ..errors import InputError
from .table import COVERAGE_GPKG, LEDGER_CSV, LEDGER_XLSX, _sorted_communities, _typed, _write_csv
from .workbook import PREVIOUS_XLSX, _new_workbook


# --------------------------------------------------------------------------------------------- GeoPackage, GeoParquet

#: the formats of the geodata a run writes: ``gpkg`` (coverage.gpkg: communities, demand, facilities and service
#: areas as layers) and ``parquet`` (coverage.parquet: the communities layer as GeoParquet 1.1, with a bbox
#: covering column)
GEO_FORMATS = ("gpkg", "parquet")
COVERAGE_PARQUET = "coverage.parquet"
_FILES = {"gpkg": COVERAGE_GPKG, "parquet": COVERAGE_PARQUET}


def geo_formats(formats: str | Iterable[str] | None) -> tuple[str, ...]:
    """``"gpkg,parquet"`` (or a list) → ``("gpkg", "parquet")``, checked, in :data:`GEO_FORMATS` order; ``""``,
    ``"none"`` or None → no geodata."""
    if formats is None:
        return ()
    items = formats.split(",") if isinstance(formats, str) else list(formats)
    names = {str(f).strip().lower() for f in items} - {"", "none"}
    names = {"parquet" if n == "geoparquet" else n for n in names}
    unknown = sorted(names - set(GEO_FORMATS))
    if unknown:
        raise InputError(f"--format {', '.join(unknown)}: unknown; use gpkg, parquet or gpkg,parquet")
    return tuple(f for f in GEO_FORMATS if f in names)


def geo_files(formats) -> list[str]:
    """The file names the geodata ``formats`` write (``coverage.gpkg``, ``coverage.parquet``)."""
    return [_FILES[f] for f in geo_formats(formats)]


def _write_parquet(frame: gpd.GeoDataFrame, path: Path) -> None:
    """GeoParquet 1.1 with its CRS and a bbox covering column (readers filter by box without decoding geometry);
    no index column, no creation time: the same frame gives the same bytes."""
    frame.to_parquet(path, index=False, compression="zstd", write_covering_bbox=True, schema_version="1.1.0")


def write_rollup_layer(frame: gpd.GeoDataFrame, out: str | Path, *, formats=("gpkg",)) -> dict[str, Path]:
    """A batch's roll-up ``communities`` layer (every group's ledger rows with their boundaries) as
    ``out/coverage.gpkg`` and/or ``out/coverage.parquet``, each written atomically (inside an open
    :func:`~geofacility.outputs.output_set`, as part of its set); their paths by format."""
    paths = {}
    for fmt in geo_formats(formats):
        paths[fmt] = Path(out) / _FILES[fmt]
        with atomic_path(paths[fmt]) as tmp:
            if fmt == "gpkg":
                _write_layer(frame, tmp, "communities", "MultiPolygon")
            else:
                _write_parquet(frame, tmp)
    return paths


def _write_layer(frame: gpd.GeoDataFrame, path: Path, layer: str, geometry_type: str | None = None) -> None:
    kwargs = {"geometry_type": geometry_type} if frame.empty and geometry_type else {}
    frame.to_file(path, driver="GPKG", layer=layer, **kwargs)


def _write_gpkg(analysis, table: pd.DataFrame, geometry, path: Path) -> None:
    communities = gpd.GeoDataFrame(table, geometry=geometry, crs=analysis.crs)
    _write_layer(communities, path, "communities")
    _write_layer(analysis.demand, path, "demand", "Point")
    from ..capacity import facilities_with_load

    # each facility's capacity (residents), where it came from, and its load
    _write_layer(facilities_with_load(analysis.facilities, getattr(analysis, "facility_load", None)), path,
                 "facilities", "Point")
    areas = getattr(analysis, "service_areas", None)
    if areas is not None:
        _write_layer(areas, path, "service_areas", "MultiPolygon")


# --------------------------------------------------------------------------------------------- entry point


def write_ledger(analysis, out_dir: str | Path, *, gpkg: bool = True, formats=("gpkg",),
                 table: pd.DataFrame | None = None) -> dict[str, Path]:
    """Write ``ledger.csv``, ``ledger.xlsx`` and the geodata in ``formats`` into ``out_dir``; return their paths by
    kind (``csv``, ``xlsx``, ``gpkg``, ``parquet``).

    ``formats`` (:data:`GEO_FORMATS`): ``"gpkg"`` (default) writes ``coverage.gpkg`` (layers communities, demand,
    facilities, service_areas), ``"parquet"`` writes ``coverage.parquet`` (the communities layer: the ledger's
    columns and the boundaries, GeoParquet in the analysis CRS); both, or none (``()``). ``gpkg=False`` leaves out
    the GeoPackage whatever ``formats`` says (a batch writes one for all its groups). ``table``: the analysis's
    :func:`~geofacility.ledger.table.ledger_table` when the caller has it already.

    With an earlier ``ledger.xlsx`` in ``out_dir``, the new figures are written into that workbook, so everything
    the planner typed or set there stays (see :mod:`geofacility.ledger.roundtrip`); the earlier file is kept as
    ``ledger.previous.xlsx``. The files (and those of the rest of the run, inside an open
    :func:`~geofacility.outputs.output_set`) replace the earlier ones together or not at all.
    """
    from ..outputs import output_set

    out_dir = Path(out_dir)
    geo = [f for f in geo_formats(formats) if gpkg or f != "gpkg"]
    paths = {"csv": out_dir / LEDGER_CSV, "xlsx": out_dir / LEDGER_XLSX, **{f: out_dir / _FILES[f] for f in geo}}
    with output_set(out_dir, expected=[p.name for p in paths.values()]) as outputs:
        outputs.note_settings(getattr(analysis, "settings", None))
        outputs.note_settings({"standards_applied": [
            f"{c.category}/{c.subcategory}" + (f" r={c.radius_m:g} m" if c.radius_m else "") for c in analysis.checks]})
        ordered = _sorted_communities(analysis.communities)
        table = _typed(ordered) if table is None else table
        if paths["xlsx"].exists():  # an earlier ledger: what the planner typed and set there is never lost
            from .roundtrip import update_ledger_workbook

            workbook = update_ledger_workbook(paths["xlsx"], analysis, table)
            with atomic_path(out_dir / PREVIOUS_XLSX) as tmp:
                shutil.copyfile(paths["xlsx"], tmp)
        else:
            workbook = _new_workbook(analysis, table)
        with atomic_path(paths["csv"]) as tmp:
            _write_csv(table, tmp)
        with atomic_path(paths["xlsx"]) as tmp:
            workbook.save(tmp)
        if "gpkg" in paths:
            with atomic_path(paths["gpkg"]) as tmp:
                _write_gpkg(analysis, table, ordered.geometry.to_numpy(), tmp)
        if "parquet" in paths:
            with atomic_path(paths["parquet"]) as tmp:
                _write_parquet(gpd.GeoDataFrame(table, geometry=ordered.geometry.to_numpy(), crs=analysis.crs), tmp)
    return paths

