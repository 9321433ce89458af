"""Ledger stage, writing: :func:`write_ledger` writes ``ledger.csv``, ``ledger.xlsx`` and ``coverage.gpkg`` from
an :class:`~geofacility.pipeline.Analysis`. The three files are written to temporary names first and renamed only
when all three are complete, so an interrupted run leaves the previous ledger (or nothing) behind, never a
half-written file or a mixed set.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import geopandas as gpd
import pandas as pd

from ..atomic import atomic_path
from .table import COVERAGE_GPKG, LEDGER_CSV, LEDGER_XLSX, _sorted_communities, _typed, _write_csv
from .workbook import PREVIOUS_XLSX, _new_workbook


# --------------------------------------------------------------------------------------------- GeoPackage


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


def write_ledger(analysis, out_dir: str | Path, *, gpkg: bool = True) -> dict[str, Path]:
    """Write ``ledger.csv``, ``ledger.xlsx`` and (unless ``gpkg=False``) ``coverage.gpkg`` into ``out_dir``;
    return their paths by kind (``csv``, ``xlsx``, ``gpkg``).

    With an earlier ``ledger.xlsx`` in ``out_dir``, the new figures are written into that workbook, so everything
    the planner typed or set there stays (see :mod:`geofacility.ledger.roundtrip`); the earlier file is kept as
    ``ledger.previous.xlsx``. The files (and those of the rest of the run, inside an open
    :func:`~geofacility.outputs.output_set`) replace the earlier ones together or not at all.
    """
    from ..outputs import output_set

    out_dir = Path(out_dir)
    paths = {"csv": out_dir / LEDGER_CSV, "xlsx": out_dir / LEDGER_XLSX, "gpkg": out_dir / COVERAGE_GPKG}
    if not gpkg:
        del paths["gpkg"]
    with output_set(out_dir, expected=[p.name for p in paths.values()]) as outputs:
        outputs.note_settings(getattr(analysis, "settings", None))
        outputs.note_settings({"standards_applied": [
            f"{c.category}/{c.subcategory}" + (f" r={c.radius_m:g} m" if c.radius_m else "") for c in analysis.checks]})
        ordered = _sorted_communities(analysis.communities)
        table = _typed(ordered)
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
        if gpkg:
            with atomic_path(paths["gpkg"]) as tmp:
                _write_gpkg(analysis, table, ordered.geometry.to_numpy(), tmp)
    return paths

