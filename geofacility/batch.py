"""Batch: the analysis per town/street (or any column), a district roll-up, and Dask past one machine.

The inputs are read and checked once (:func:`geofacility.pipeline.prepare`). Each group — the communities with one
value of ``by`` and their demand — is then evaluated against **all** facilities, so a town's communities count the
facilities of neighbouring towns and outside the study area exactly as a whole-area run does: the per-group
ledgers equal the whole run's rows. Groups run one after another, or in parallel on a ``dask.distributed``
cluster (a LocalCluster of ``workers`` processes, or an existing scheduler). What is sent to a worker is one
group's communities and demand, the facilities and the standards: GeoDataFrames, pickled.

A manifest (``manifest.json``) keeps, per group, a hash of everything its results depend on; a re-run skips the
groups whose hash is unchanged and whose outputs are there (``force`` redoes all). One group failing (bad data)
is reported in the summary and does not stop the others.
"""
from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass, replace
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from .atomic import atomic_path
from .errors import InputError
from .pipeline import Study, evaluate, prepare
from .standards import CATEGORIES

__all__ = ["safe_name", "group_studies", "run_group", "batch", "BatchResult", "SUMMARY_COLUMNS"]

SUMMARY_COLUMNS = ["group", "folder", "status", "category", "communities", "communities_short", "population",
                   "population_not_covered", "floor_area_gap_m2", "error"]
_WINDOWS_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)), *(f"lpt{i}" for i in range(1, 10))}


def safe_name(name) -> str:
    """A folder name for a group: Chinese and other letters kept; path separators, ``..``, control and
    shell-awkward characters replaced by ``_``; never empty, never a reserved device name; at most 80 chars."""
    text = unicodedata.normalize("NFKC", str(name)).strip()
    text = re.sub(r"[\x00-\x1f\x7f/\\:*?\"<>|]", "_", text)
    text = re.sub(r"\.{2,}", "_", text).strip(" .")
    text = text[:80] or "_"
    if text.lower().split(".")[0] in _WINDOWS_RESERVED:
        text = f"_{text}"
    return text


def _folders(values: list) -> dict:
    """Distinct safe folder names per group value (a suffix where two names collide)."""
    seen: dict[str, int] = {}
    out = {}
    for value in values:
        base = safe_name(value)
        n = seen.get(base.lower(), 0)
        seen[base.lower()] = n + 1
        out[value] = base if n == 0 else f"{base}_{n + 1}"
    return out


def group_studies(study: Study, by: str) -> list[tuple[str, Study]]:
    """One :class:`Study` per value of ``by``: its communities and their demand, with all the facilities."""
    if by not in study.communities.columns:
        raise InputError(f"--by {by}: the communities have no such column; use town or one of "
                         f"{', '.join(c for c in study.communities.columns if c != 'geometry')}")
    if study.walk is not None:
        raise InputError("batch runs with straight-line distance for now; drop --network (walking-network batches "
                         "are planned: each group needs the network clipped around it)")
    values = study.communities[by].astype(object).where(study.communities[by].notna(), "未知")
    groups = []
    for value in sorted(values.unique(), key=str):
        comm = study.communities.loc[values == value]
        dem = study.demand.loc[study.demand["community_id"].isin(set(comm["community_id"]))]
        towns = study.towns
        if by == "town" and towns is not None:
            towns = towns.loc[towns["town"] == value]
        groups.append((str(value), replace(study, communities=comm.reset_index(drop=True),
                                           demand=dem.reset_index(drop=True), towns=towns)))
    return groups


def _hash(study: Study) -> str:
    """Everything a group's results depend on: its communities and demand, all facilities, the standards
    applied and the settings."""
    h = hashlib.sha256()
    for frame in (study.communities, study.demand, study.facilities):
        h.update(pd.util.hash_pandas_object(pd.DataFrame(frame.drop(columns="geometry")).astype(str),
                                            index=False).to_numpy().tobytes())
        h.update(b"".join(frame.geometry.to_wkb().to_numpy()) if len(frame) else b"")
    h.update(repr(study.checks).encode())
    h.update(json.dumps(study.settings, sort_keys=True, default=str).encode())
    return h.hexdigest()


def _summary(analysis, group: str, folder: str) -> list[dict]:
    comm = analysis.communities
    rows = []
    for category in CATEGORIES:
        surveyed = category in analysis.surveyed
        rows.append({
            "group": group, "folder": folder, "status": "ok", "category": category,
            "communities": len(comm),
            "communities_short": int((comm[f"{category}_status"] == "gap").sum()) if surveyed else None,
            "population": float(comm["population"].sum()),
            "population_not_covered": float(comm[f"{category}_uncovered_population"].fillna(0).sum())
            if surveyed else None,
            "floor_area_gap_m2": float(comm[f"{category}_gap_m2"].sum(min_count=1)) if surveyed else None,
            "error": "",
        })
    return rows


def run_group(group: str, study: Study, folder: Path) -> list[dict]:
    """Evaluate one group and write its ledger and map into ``folder``; the roll-up rows it contributes.

    Errors become a ``failed`` row (with the message) instead of stopping the batch."""
    from .ledger import write_ledger
    from .maps import write_map

    try:
        study = replace(study, settings={**study.settings, "study": f"{study.settings.get('study', '')} {group}"
                                                                    .strip()})
        analysis = evaluate(study)
        write_ledger(analysis, folder)
        write_map(analysis, folder / "map.html")
        return _summary(analysis, group, folder.name)
    except Exception as exc:  # one group's bad data must not stop the others: reported in the summary
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return [{"group": group, "folder": folder.name, "status": "failed", "category": None, "communities":
                 len(study.communities), "communities_short": None, "population": None,
                 "population_not_covered": None, "floor_area_gap_m2": None, "error": f"{type(exc).__name__}: "
                                                                                     f"{message}"}]


@dataclass
class BatchResult:
    summary: pd.DataFrame
    paths: dict
    skipped: list[str]
    failed: list[str]


def _client(workers: int, scheduler: str | None):
    from dask.distributed import Client, LocalCluster

    if scheduler:
        return Client(scheduler), None
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
    return Client(cluster), cluster


def batch(*, by: str = "town", out, workers: int = 1, scheduler: str | None = None, force: bool = False,
          progress=None, **inputs) -> BatchResult:
    """Run :func:`run_group` for every value of ``by`` and write the roll-up (``summary.csv``/``.xlsx``),
    ``index.html`` and ``manifest.json`` into ``out``. ``inputs`` are :func:`geofacility.pipeline.prepare`'s."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if workers < 1:
        raise InputError(f"--workers {workers}: give at least 1")
    study = prepare(**inputs)
    groups = group_studies(study, by)
    folders = _folders([g for g, _ in groups])
    manifest_path = out / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8")) if manifest_path.exists() else {}
    previous = manifest.get("groups", {})
    todo, rows, skipped = [], [], []
    hashes = {}
    for group, part in groups:
        key = _hash(part)
        hashes[group] = key
        folder = out / folders[group]
        done = previous.get(group, {})
        if not force and done.get("hash") == key and done.get("status") == "ok" and \
                (folder / "ledger.csv").exists() and (folder / "map.html").exists():
            rows.extend(done["rows"])
            skipped.append(group)
        else:
            todo.append((group, part, folder))
    step = progress or (lambda done, total, group: None)
    results: dict[str, list[dict]] = {}
    if todo and (workers > 1 or scheduler):
        client, cluster = _client(workers, scheduler)
        try:
            facilities = client.scatter(study.facilities, broadcast=True)
            futures = {}
            for group, part, folder in todo:
                futures[client.submit(_remote_group, group, replace(part, facilities=None), facilities,
                                      str(folder), key=f"group-{hashes[group]}")] = group
            from dask.distributed import as_completed

            for i, future in enumerate(as_completed(futures), start=1):
                results[futures[future]] = future.result()
                step(i, len(todo), futures[future])
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
    else:
        for i, (group, part, folder) in enumerate(todo, start=1):
            results[group] = run_group(group, part, folder)
            step(i, len(todo), group)
    for group, _, _ in todo:
        rows.extend(results[group])
    order = {g: i for i, (g, _) in enumerate(groups)}
    summary = pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
    summary = summary.sort_values(["group", "category"], key=lambda s: s.map(order) if s.name == "group" else
                                  s.map({c: i for i, c in enumerate(CATEGORIES)}), kind="stable",
                                  na_position="first").reset_index(drop=True)
    for col in ("communities", "population", "population_not_covered", "floor_area_gap_m2"):
        summary[col] = pd.to_numeric(summary[col], errors="coerce").astype("float64")
    summary["communities_short"] = pd.to_numeric(summary["communities_short"], errors="coerce").astype("Int64")
    summary["error"] = summary["error"].fillna("")
    failed = sorted(set(summary.loc[summary["status"] == "failed", "group"]))
    new_manifest = {"by": by, "groups": {}}
    for group, _ in groups:
        group_rows = [r for r in summary.to_dict("records") if r["group"] == group]
        status = "failed" if group in failed else "ok"
        new_manifest["groups"][group] = {"hash": hashes[group], "status": status, "folder": folders[group],
                                         "rows": _jsonable(group_rows)}
    paths = _write_rollup(summary, study, by, folders, out, inputs.get("study") or study.settings.get("study", ""))
    with atomic_path(manifest_path) as tmp:
        tmp.write_text(json.dumps(new_manifest, ensure_ascii=False, indent=1, sort_keys=True) + "\n",
                       encoding="utf-8")
    paths["manifest"] = manifest_path
    return BatchResult(summary=summary, paths=paths, skipped=skipped, failed=failed)


def _remote_group(group, part, facilities, folder):
    """What a Dask worker runs: the group with the broadcast facilities put back."""
    return run_group(group, replace(part, facilities=facilities), Path(folder))


def _jsonable(rows: list[dict]) -> list[dict]:
    clean = []
    for row in rows:
        clean.append({k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in row.items()})
    return clean


def _write_rollup(summary: pd.DataFrame, study: Study, by: str, folders: dict, out: Path, title: str) -> dict:
    from openpyxl import Workbook

    paths = {"summary_csv": out / "summary.csv", "summary_xlsx": out / "summary.xlsx", "index": out / "index.html"}
    with atomic_path(paths["summary_csv"]) as tmp:
        summary.to_csv(tmp, index=False, encoding="utf-8-sig", lineterminator="\n", float_format="%.1f")
    wb = Workbook()
    ws = wb.active
    ws.title = "汇总 summary"
    header = ["组 group", "文件夹 folder", "状态 status", "类别 category", "社区数 communities",
              "未达标社区 communities short", "人口 population", "未覆盖人口 population not covered",
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


def group_short_share(summary: pd.DataFrame) -> pd.Series:
    """Per group, the largest share of its communities short of standard in any surveyed category."""
    ok = summary[(summary["status"] == "ok") & summary["communities_short"].notna()]
    share = ok["communities_short"] / ok["communities"].where(ok["communities"] > 0)
    return share.groupby(ok["group"]).max()

