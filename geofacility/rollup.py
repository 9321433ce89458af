"""The batch's roll-up, a reduction over its groups' results: each group returns its summary rows and its ledger
table (a few kB); nothing a group wrote is read back here. :func:`summary_frame` orders the rows,
:func:`write_rollup` writes ``summary.csv``/``.xlsx`` and ``index.html``, :func:`rollup_layer` is the whole
run's ``coverage.gpkg``/``.parquet`` layer (the groups' ledger rows with the community outlines),
:func:`input_tables`/:func:`write_inputs` the input accounting (``inputs.csv``, ``warnings.csv``: for a partitioned batch the demand file's rows from its
groups), :func:`manifest_record` what ``manifest.json`` keeps per group.
"""
from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from .atomic import atomic_path
from .standards import CATEGORIES

__all__ = ["SUMMARY_COLUMNS", "jsonable_rows", "summary_rows", "summary_frame", "manifest_record", "write_rollup", "rollup_layer",
           "input_tables", "write_inputs"]

SUMMARY_COLUMNS = ["group", "folder", "status", "category", "communities", "communities_surveyed",
                   "communities_short", "population", "population_not_covered", "floor_area_gap_m2", "error"]


def summary_rows(analysis, group: str, folder: str) -> list[dict]:
    """One group's rows of the summary, one per category (what summary.csv holds for it)."""
    from .coverage import category_totals

    comm = analysis.communities
    rows = []
    for category in CATEGORIES:
        in_extent = comm[f"{category}_status"] != "not_surveyed"
        # a category is surveyed in a group when its facility data cover at least one of the group's communities
        surveyed = category in analysis.surveyed and bool(in_extent.any())
        comm_s = comm.loc[in_extent]
        rows.append({
            "group": group, "folder": folder, "status": "ok", "category": category,
            "communities": len(comm), "communities_surveyed": int(in_extent.sum()),
            "communities_short": int((comm_s[f"{category}_status"] == "gap").sum()) if surveyed else None,
            "population": float(comm["population"].sum()),
            # the same total as the terminal, the figures and the map (geofacility.coverage.category_totals)
            "population_not_covered": category_totals(comm, category)["not_covered"] if surveyed else None,
            "floor_area_gap_m2": float(comm_s[f"{category}_gap_m2"].sum(min_count=1)) if surveyed else None,
            "error": "",
        })
    return rows


def summary_frame(rows: list[dict], names: list[str]) -> pd.DataFrame:
    """The groups' rows as summary.csv holds them: in group then category order, people and counts whole."""
    order = {g: i for i, g in enumerate(names)}
    summary = pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
    summary = summary.sort_values(["group", "category"], key=lambda s: s.map(order) if s.name == "group" else
                                  s.map({c: i for i, c in enumerate(CATEGORIES)}), kind="stable",
                                  na_position="first").reset_index(drop=True)
    summary["floor_area_gap_m2"] = pd.to_numeric(summary["floor_area_gap_m2"], errors="coerce").astype("float64")
    # people and counts are whole numbers in summary.csv/.xlsx (4709, not 4709.0); people rounded to the nearest
    for col in ("communities", "communities_surveyed", "communities_short", "population", "population_not_covered"):
        summary[col] = pd.to_numeric(summary[col], errors="coerce").astype("float64").round().astype("Int64")
    summary["error"] = summary["error"].fillna("")
    return summary


def manifest_record(summary: pd.DataFrame, by: str, names: list[str], folders: dict, hashes: dict) -> dict:
    """``manifest.json``: per group, the hash of everything its results depend on, its status, folder and rows."""
    failed = set(summary.loc[summary["status"] == "failed", "group"])
    record = {"by": by, "groups": {}}
    for group in names:
        group_rows = [r for r in summary.to_dict("records") if r["group"] == group]
        record["groups"][group] = {"hash": hashes[group], "status": "failed" if group in failed else "ok",
                                   "folder": folders[group], "rows": jsonable_rows(group_rows)}
    return record


def jsonable_rows(rows: list[dict]) -> list[dict]:
    """Summary rows as JSON takes them (NaN as null)."""
    clean = []
    for row in rows:
        clean.append({k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in row.items()})
    return clean


def write_rollup(summary: pd.DataFrame, study, by: str, folders: dict, out: Path, title: str) -> dict:
    from openpyxl import Workbook

    paths = {"summary_csv": out / "summary.csv", "summary_xlsx": out / "summary.xlsx", "index": out / "index.html"}
    with atomic_path(paths["summary_csv"]) as tmp:
        summary.to_csv(tmp, index=False, encoding="utf-8-sig", lineterminator="\n", float_format="%.1f")
    wb = Workbook()
    ws = wb.active
    ws.title = "汇总 summary"
    header = ["组 group", "文件夹 folder", "状态 status", "类别 category", "社区数 communities",
              "已调查社区 communities surveyed", "未达标社区 communities short", "人口 population", "未覆盖人口 population not covered",
              "面积缺口 m² floor-area gap", "错误 error"]
    ws.append(header)
    from .ledger import safe_cell_text

    for record in summary.itertuples(index=False):
        ws.append([safe_cell_text(v) if isinstance(v, str) else (None if pd.isna(v) else v) for v in record])
    ws.freeze_panes = "A2"
    ws.auto_filter.ref = ws.dimensions
    with atomic_path(paths["summary_xlsx"]) as tmp:
        wb.save(tmp)
    from .maps import write_overview

    write_overview(study.communities, summary, by=by, folders=folders, path=paths["index"], title=title)
    return paths


def input_tables(study, results: dict, demand) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The batch's input accounting (per input file: rows read = rows used + rows reported) and every input
    warning, once. A partitioned batch's demand file is accounted from its groups: the rows a group used, those a
    group reported, and those no group read or kept — farther than the snapping distance from every community, or
    without coordinates — listed here."""
    from .read.files import count_rows
    from .study import ACCOUNTING_COLUMNS

    log_frame = study.log.to_frame()
    accounting = study.accounting if study.accounting is not None else pd.DataFrame(columns=ACCOUNTING_COLUMNS)
    frames = [log_frame]
    if demand is not None:
        label = str(demand)
        used = np.unique(np.concatenate([np.asarray(r.get("used", []), dtype=np.int64) for r in results.values()]
                                        or [np.arange(0)]))
        warned = pd.concat([r["warnings"] for r in results.values() if r.get("warnings") is not None] or
                           [pd.DataFrame(columns=log_frame.columns)], ignore_index=True).drop_duplicates()
        reported = set(pd.to_numeric(warned["row"], errors="coerce").dropna().astype(int)) - set(used.tolist())
        total = count_rows(demand)
        lost = np.setdiff1d(np.arange(1, total + 1), np.r_[used, np.fromiter(reported, dtype=np.int64)])
        extra = pd.DataFrame({"file": label, "row": lost.astype(str), "severity": "warning",
                              "message": "in no group: more than the snapping distance outside every community, or "
                                         "without coordinates; row not used",
                              "message_zh": "不属于任何组：距所有社区超过吸附距离，或没有坐标；本行未采用"})
        frames += [warned, extra]
        accounting = pd.concat([accounting, pd.DataFrame([{
            "file": label, "rows_read": total, "rows_used": len(used), "rows_reported": len(reported) + len(lost),
            "rows_unaccounted": 0}])], ignore_index=True)
    return accounting, pd.concat(frames, ignore_index=True).drop_duplicates(ignore_index=True)


def write_inputs(accounting: pd.DataFrame, warnings: pd.DataFrame, out: Path) -> dict:
    """``inputs.csv`` and ``warnings.csv`` (:func:`input_tables`) at the roll-up."""
    paths = {"inputs": out / "inputs.csv", "warnings": out / "warnings.csv"}
    with atomic_path(paths["inputs"]) as tmp:
        accounting.to_csv(tmp, index=False, encoding="utf-8-sig", lineterminator="\n")
    with atomic_path(paths["warnings"]) as tmp:
        warnings.to_csv(tmp, index=False, encoding="utf-8-sig", lineterminator="\n")
    return paths


def rollup_layer(study, failed: list[str], done: dict) -> gpd.GeoDataFrame:
    """The batch's ``communities`` layer: every group's ledger rows (as the groups returned them: a skipped group's
    read back from its ledger.csv where it ran) with the group and the community boundary."""
    tables = []
    for group, table in done.items():  # in the groups' order
        if group in failed:
            continue
        tables.append(table.assign(group=group)[["group", *table.columns]])
    columns = ["group", *(tables[0].columns[1:] if tables else [])]
    table = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=columns)
    geometry = pd.Series(study.communities.geometry.to_numpy(), index=study.communities["community_id"].astype(str))
    return gpd.GeoDataFrame(table, geometry=table["community_id"].astype(str).map(geometry).to_numpy(),
                            crs=study.crs)
