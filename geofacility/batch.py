"""Batch: the analysis per town/street (or any column), a district roll-up, and Dask past one machine.

The inputs are read and checked once (:func:`geofacility.study.prepare`). Each group — the communities with one
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

import json
import re
import unicodedata
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import shapely

from .atomic import atomic_path
from .errors import InputError
from .fingerprint import row_hashes, study_hash
from .pipeline import evaluate
from .runner import Runner, client as _client
from .partition import group_warnings
from .rollup import (SUMMARY_COLUMNS, input_tables, jsonable_rows, manifest_record, rollup_layer, summary_frame,
                     summary_rows,
                     write_inputs, write_rollup)
from .study import Study, prepare

__all__ = ["safe_name", "group_studies", "iter_group_studies", "group_names", "run_group", "facilities_within_reach", "batch", "BatchResult", "SUMMARY_COLUMNS"]

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
    return list(iter_group_studies(study, by))


def group_names(study: Study, by: str) -> list[str]:
    """The groups :func:`iter_group_studies` yields, in its order."""
    values = study.communities[by].astype(object).where(study.communities[by].notna(), "未知")
    return [str(v) for v in sorted(values.unique(), key=str)]


def iter_group_studies(study: Study, by: str):
    """:func:`group_studies` one group at a time (a batch holds one group's copy of its data, not all of them).

    On foot, a group gets the network within reach of its communities and the facilities that can reach them;
    its homes are snapped when the group is evaluated (on the worker that runs it)."""
    for name, part, _ in _iter_groups(study, by, hashed=False):
        yield name, part


def _iter_groups(study: Study, by: str, *, hashed: bool = True):
    """(name, study, hash of everything its results depend on — or None) per group."""
    if hashed:
        comm_h, dem_h, fac_h = (row_hashes(f) for f in (study.communities, study.demand, study.facilities))
    if by not in study.communities.columns:
        raise InputError(f"--by {by}: the communities have no such column; use town or one of "
                         f"{', '.join(c for c in study.communities.columns if c != 'geometry')}")
    values = study.communities[by].astype(object).where(study.communities[by].notna(), "未知")
    walk = study.walk
    if walk is not None:
        from .network import WalkingDistance, clip_network
        from .pipeline import stranded_demand

        stranded = study.stranded or stranded_demand(walk, study.facilities, study.checks)
    # each demand point's group, through its community: one pass over the demand, not one per group
    demand_group = study.demand["community_id"].map(pd.Series(values.to_numpy(),
                                                              index=study.communities["community_id"]))
    demand_rows = pd.Series(np.arange(len(study.demand))).groupby(demand_group.to_numpy(), sort=False).indices \
        if len(study.demand) else {}
    for value in sorted(values.unique(), key=str):
        in_comm = (values == value).to_numpy()
        comm = study.communities.loc[in_comm]
        in_group = np.zeros(len(study.demand), dtype=bool)
        in_group[demand_rows.get(value, [])] = True
        dem = study.demand.loc[in_group]
        towns = study.towns  # the outlines of the group's towns only
        if towns is not None:
            towns = towns.loc[towns["town"].isin(set(comm["town"]))].reset_index(drop=True)
        part = replace(study, communities=comm.reset_index(drop=True), demand=dem.reset_index(drop=True),
                       towns=towns)
        fac_rows = slice(None)
        if walk is not None:
            # on foot: the network around the group (distances up to the search limit are the whole network's,
            # see clip_network), the facilities that can reach it, and who is stranded on the whole network
            network = clip_network(walk.network, comm.geometry.values, _network_margin(study))
            fac_rows = facilities_within_reach(part)
            part = replace(part, facilities=study.facilities.iloc[fac_rows].reset_index(drop=True),
                           walk=WalkingDistance(network, part.demand.geometry.values, max_snap_m=walk.max_snap_m,
                                                reach_factor=walk.reach_factor),
                           stranded={k: v[in_group] for k, v in stranded.items()})
        if study.capacity is not None:  # the whole study's allocation: this group's communities and facilities
            from .capacity import group_capacity

            reach = fac_rows if walk is not None else facilities_within_reach(part)
            part = replace(part, capacity=group_capacity(study.capacity, comm["community_id"],
                                                         study.facilities["facility_id"].iloc[reach],
                                                         np.flatnonzero(in_group)))
        key = study_hash(part, (comm_h[in_comm], dem_h[in_group], fac_h[fac_rows])) if hashed else None
        yield str(value), part, key


#: demand points may lie this far outside their community (see :func:`geofacility.demand.assign_communities`)
_DEMAND_OUTSIDE_M = 50.0


def _reach_m(study: Study) -> float:
    """How far from a community a facility can count for it: the largest service radius; on foot, the walking
    search limit plus snapping at both ends."""
    radius = max((c.radius_m for c in study.checks if c.radius_m), default=0.0)
    if study.walk is None:
        return radius
    return study.walk.reach_factor * radius + 2 * study.walk.max_snap_m + _DEMAND_OUTSIDE_M


def _network_margin(study: Study) -> float:
    """The network kept around a group: every walk up to the search limit from any of its homes (which lie up to
    50 m outside their community and snap up to max-snap away), and every segment a facility within reach snaps to."""
    return _reach_m(study) + study.walk.max_snap_m + 10.0


def facilities_within_reach(study: Study) -> np.ndarray:
    """Positions (sorted) of the facilities that can count for ``study``'s communities: within the largest
    service radius of any of them (on foot, within the walking search limit, twice the radius), or inside one of
    their towns (town-scope standards count those)."""
    fac = study.facilities
    if not len(fac) or not len(study.communities):
        return np.arange(0)
    reach = _reach_m(study)
    tree = shapely.STRtree(fac.geometry.values)
    keep = [tree.query(study.communities.geometry.values, predicate="dwithin", distance=reach)[1]]
    if study.towns is not None and len(study.towns):
        towns = study.towns.loc[study.towns["town"].isin(set(study.communities["town"]))]
        keep.append(tree.query(towns.geometry.values, predicate="intersects")[1])
    return np.unique(np.concatenate(keep))


def run_group(group: str, study: Study, folder: Path, *, key: str | None = None, run: str | None = None
              ) -> tuple[list[dict], pd.DataFrame | None]:
    """Evaluate one group and write its ledger and map into ``folder``; the roll-up rows it contributes and its
    ledger table (what ledger.csv holds; a few kB, for the batch's coverage.gpkg). With them, in the same set, the
    group's ``manifest.json``: ``key`` (the hash of what its results depend on), the batch's ``run`` and its rows —
    what tells a re-run (or a task retried after its worker died) that the group is already done.

    Errors become a ``failed`` row (with the message) and no table, instead of stopping the batch."""
    from .ledger import ledger_table, write_ledger
    from .maps import write_map
    from .outputs import output_set

    try:
        study = replace(study, settings={**study.settings, "study": f"{study.settings.get('study', '')} {group}"
                                                                    .strip()})
        analysis = evaluate(study)
        # the group's outputs show the facilities that can serve it, not the whole city's
        analysis = replace(analysis, facilities=analysis.facilities.iloc[facilities_within_reach(study)])
        # each group's folder is replaced as one set, whether it runs here or on a Dask worker: a batch stopped
        # midway leaves every group either as it was or complete, and the re-run redoes the rest
        rows = summary_rows(analysis, group, folder.name)
        with output_set(folder, expected=["ledger.xlsx", "ledger.csv", "map.html", "manifest.json"], join=False):
            table = ledger_table(analysis.communities)
            write_ledger(analysis, folder, gpkg=False, table=table)  # one coverage.gpkg for the whole batch
            write_map(analysis, folder / "map.html")
            with atomic_path(folder / "manifest.json") as tmp:
                tmp.write_text(json.dumps({"hash": key, "run": run, "rows": jsonable_rows(rows)}, ensure_ascii=False,
                                          indent=1, sort_keys=True) + "\n", encoding="utf-8")
        return rows, table
    except Exception as exc:  # one group's bad data must not stop the others: reported in the summary
        return _failed_rows(group, folder.name, len(study.communities), exc), None


@dataclass
class BatchResult:
    """What :func:`batch` did: ``summary`` (the roll-up, one row per group and category, as summary.csv: people
    in residents, floor-area gaps in m²), ``paths`` (the roll-up files written, by role), and the groups
    ``skipped`` (unchanged since the last run) and ``failed``."""

    summary: pd.DataFrame
    paths: dict
    skipped: list[str]
    failed: list[str]
    #: seconds spent: ``prepare`` (reading the communities, facilities and standards here), ``groups`` (the
    #: groups' tasks, with the capacity solve between their rounds), ``rollup`` (the roll-up files), ``wall``, and
    #: ``driver`` — the time this process worked while no group task could run (preparing, joining the capacity
    #: classes, the roll-up): the serial share is ``driver`` ÷ the one-worker ``wall``
    timings: dict = field(default_factory=dict)


def batch(*, by: str = "town", out, workers: int = 1, scheduler: str | None = None, force: bool = False,
          progress=None, formats=("gpkg",), out_db=None, **inputs) -> BatchResult:
    """Run :func:`run_group` for every value of ``by`` and write the roll-up (``summary.csv``/``.xlsx``),
    ``index.html``, ``manifest.json``, ``inputs.csv``/``warnings.csv`` (the input rows accounted) and the roll-up
    layer in ``formats`` (``coverage.gpkg`` and/or ``coverage.parquet``:
    :func:`geofacility.ledger.write_rollup_layer`) into ``out``; ``out_db`` (``postgresql://…?schema=NAME``): the
    roll-up layer, summary, warnings and input accounting into that PostGIS schema too, replaced there as one set.
    ``inputs`` are :func:`geofacility.study.prepare`'s.

    With a demand file read by bounding box (GeoPackage, GeoParquet, Shapefile, FlatGeobuf, PostGIS) or none, at
    straight-line distance, each group reads and places its own homes where it runs (:mod:`geofacility.partition`):
    this process reads the communities, towns, facilities and standards, never the whole demand. Otherwise (a
    CSV or XLSX demand, on foot, an OD cost table) the study is prepared here and each group sent its part."""
    import time

    started = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if workers < 1:
        raise InputError(f"--workers {workers}: give at least 1")
    from .partition import can_partition

    partitioned = inputs.get("communities") is not None and can_partition(
        inputs.get("demand"), network=inputs.get("network"), cost_matrix=inputs.get("cost_matrix"))
    study = prepare(**inputs, demand_by_group=partitioned)
    timings = {"prepare": time.perf_counter() - started, "join": 0.0}
    names = group_names(study, by)
    folders = _folders(names)
    manifest_path = out / "manifest.json"
    import secrets

    # what a group's task needs to know whether it is done already: redo all (force), and this run's id (a task
    # retried after its worker died finds its group written by this run and does not write it again)
    previous = {"force": force, "run": secrets.token_hex(8)}
    step = progress or (lambda done, total, group: None)
    client = cluster = None
    if workers > 1 or scheduler:
        client, cluster = _client(workers, scheduler)
    try:
        runner = Runner(client)
        runner.timings, runner.run = timings, previous["run"]
        groups_started = timings["_groups_started"] = time.perf_counter()
        if partitioned:
            results = _run_partitioned(study, by, names, folders, out, previous, runner, inputs, step)
        else:
            results = _run_prepared(study, by, names, folders, out, previous, runner, step)
    finally:
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()
    rollup_started = time.perf_counter()
    timings["groups"] = rollup_started - groups_started
    timings["group_tasks"] = sum(r.get("seconds", 0.0) for r in results.values())  # the last round's work
    tables = {g: results[g]["table"] for g in names if results[g]["table"] is not None}
    skipped = [g for g in names if results[g]["skipped"]]
    summary = summary_frame([r for g in names for r in results[g]["rows"]], names)
    failed = sorted(set(summary.loc[summary["status"] == "failed", "group"]))
    new_manifest = manifest_record(summary, by, names, folders, {g: results[g]["hash"] for g in names})
    paths = write_rollup(summary, study, by, folders, out, inputs.get("study") or study.settings.get("study", ""))
    from .ledger import write_rollup_layer

    layer = rollup_layer(study, failed, tables)
    paths.update(write_rollup_layer(layer, out, formats=formats))
    accounting, warnings = input_tables(study, results, inputs.get("demand") if partitioned else None)
    paths.update(write_inputs(accounting, warnings, out))
    if out_db is not None:  # the same tables into a PostGIS schema, replaced there as one set
        from .ledger.postgis import write_tables

        tables_db = write_tables(out_db, {"communities": layer, "summary": summary, "warnings": warnings,
                                          "inputs": accounting})
        paths.update({f"db_{name}": table for name, table in tables_db.items()})
    with atomic_path(manifest_path) as tmp:
        tmp.write_text(json.dumps(new_manifest, ensure_ascii=False, indent=1, sort_keys=True) + "\n",
                       encoding="utf-8")
    paths["manifest"] = manifest_path
    end = time.perf_counter()
    timings.update(rollup=end - rollup_started, wall=end - started)
    timings["driver"] = timings["prepare"] + timings["join"] + timings["rollup"]
    timings.pop("_groups_started", None)
    return BatchResult(summary=summary, paths=paths, skipped=skipped, failed=failed, timings=timings)


def _written(folder: Path, key: str | None, previous: dict) -> dict | None:
    """The group's manifest when its outputs need not be written again: written by this run (a retried task), or
    by an earlier one from the same inputs and settings (unless ``force``)."""
    path = folder / "manifest.json"
    if key is None or not path.is_file() or not (folder / "ledger.csv").exists() or \
            not (folder / "map.html").exists():
        return None
    try:
        done = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if done.get("run") == previous.get("run") or (not previous.get("force") and done.get("hash") == key):
        return done
    return None


def _finish_group(group: str, part: Study, key: str | None, folder: Path, previous: dict) -> dict:
    """A group's results for the roll-up: its summary rows and ledger table — from the run, or, when nothing it
    depends on changed since the last run (or this run wrote it already), from its manifest and its own
    ledger.csv (read where it runs)."""
    done = _written(folder, key, previous)
    if done is not None:
        from .ledger import read_ledger_csv

        return {"rows": done["rows"], "table": read_ledger_csv(folder / "ledger.csv"), "hash": key,
                "skipped": done.get("run") != previous.get("run")}
    rows, table = run_group(group, replace(part, log=group_warnings(part, facilities_within_reach(part))), folder,
                            key=key, run=previous.get("run"))
    return {"rows": rows, "table": table, "hash": key, "skipped": False}


def _run_prepared(study: Study, by: str, names: list, folders: dict, out: Path, previous: dict, runner: Runner,
                  step) -> dict:
    """The groups of a study prepared here (demand included): each sent its part, a few in flight per worker."""
    if study.settings.get("capacity_method", "none") != "none":
        from .capacity import study_capacity

        # facilities near a border serve both towns: the allocation sees the whole study, groups take their part
        study = replace(study, capacity=study_capacity(study, method=study.settings["capacity_method"], log=study.log))
    results: dict = {}

    def collect(group: str, result: dict) -> None:
        results[group] = result
        step(len(results), len(names), group)

    if runner.client is None:
        for group, part, key in _iter_groups(study, by):
            collect(group, _finish_group(group, part, key, out / folders[group], previous))
        return results
    from dask.distributed import as_completed

    client = runner.client
    facilities = client.scatter(study.facilities, broadcast=True)
    # a few groups in flight per worker: memory stays bounded however many groups there are
    window = 2 * runner.workers
    running, pending = as_completed(), {}
    for group, part, key in _iter_groups(study, by):
        while len(pending) >= window:
            finished = next(running)
            collect(pending.pop(finished.key), finished.result())
        future = client.submit(_remote_group, group, replace(part, facilities=None), facilities,
                               str(out / folders[group]), key, previous, key=f"group-{key}-{previous['run']}")
        pending[future.key] = group
        running.add(future)
    for finished in running:
        collect(pending.pop(finished.key), finished.result())
    return results


def _run_partitioned(study: Study, by: str, names: list, folders: dict, out: Path, previous: dict, runner: Runner,
                     inputs: dict, step) -> dict:
    """The groups of a study whose demand each group reads and places itself (:mod:`geofacility.partition`).

    With capacity, two rounds: each group lists its homes' classes (:func:`geofacility.capacity.demand_classes`),
    this process joins them and has the reach graph's components solved on the workers, then each group places
    its homes again, seats them and writes its outputs. Without, one round."""
    from .partition import DemandSource, aliases_of, demand_coords, halo_communities

    source = DemandSource(path=inputs.get("demand"),  # as given: a database source keeps its password unprinted
                          coords=demand_coords(inputs.get("coords")), encoding=inputs.get("encoding"),
                          aliases=aliases_of(inputs.get("aliases")), columns=inputs.get("demand_columns"),
                          snap_m=float(inputs.get("snap_m", 50.0)), cell_m=float(inputs.get("cell_m", 100.0)))
    values = study.communities[by].astype(object).where(study.communities[by].notna(), "未知").astype(str)
    members = pd.Series(np.arange(len(values))).groupby(values.to_numpy(), sort=False).indices
    plans = []
    for group in names:
        mine = np.zeros(len(values), dtype=bool)
        mine[members[group]] = True
        plans.append((group, members[group], halo_communities(study.communities, mine, source.snap_m)))
    shared = runner.scatter(replace(study, log=study.log))
    flows = {g: None for g in names}
    states = {g: None for g in names}
    if study.settings.get("capacity_method", "none") != "none":
        from .capacity_groups import solve_across_groups

        flows, states = solve_across_groups(study, plans, shared, source, runner)
    # each group's part of the solve travels inside its task (small: its communities' rows), not scattered to one
    # worker: a task retried after its worker died must find it; its placed homes and classes from round one are
    # a task's result (Dask runs the second round where they are, and recomputes them if their worker died)
    futures, group_of = [], {}
    for group, rows, halo in plans:
        future = runner.submit(_partitioned_group, shared, group, rows, halo, source, flows[group],
                               str(out / folders[group]), previous, states[group],
                               key=f"group-{group}-{previous['run']}")
        futures.append(future)
        group_of[id(future) if runner.client is None else future.key] = group
    results = {}
    for finished in runner.completed(futures):
        group = group_of[id(finished) if runner.client is None else finished.key]
        results[group] = finished.result()
        step(len(results), len(names), group)
    return results


def _partitioned_group(study: Study, group: str, rows, halo, source, flows, folder: str, previous: dict,
                       state=None) -> dict:
    """What a worker runs for one group of a partitioned batch: place its homes (or take them from round one's
    ``state``), take its part of the capacity solve, and evaluate and write it unless nothing it depends on
    changed."""
    import time

    from .partition import group_study

    started = time.perf_counter()
    reach = None
    try:
        if isinstance(state, Exception):
            raise state
        part, used, reach = state if state is not None else (*group_study(study, rows, halo, source), None)
    except Exception as exc:  # a group whose homes cannot be read is reported like one whose evaluation failed
        rows_ = _failed_rows(group, Path(folder).name, len(rows), exc)
        return {"rows": rows_, "table": None, "hash": None, "skipped": False, "used": np.arange(0), "warnings": None}
    if flows is not None:
        from .capacity_groups import group_results

        near = study.facilities["facility_id"].astype(str).iloc[facilities_within_reach(part)]
        part = replace(part, capacity=group_results(part, flows, method=part.settings["capacity_method"],
                                                    all_communities=study.communities, facility_ids=near,
                                                    reach=reach))
    key = study_hash(part)
    result = _finish_group(group, part, key, Path(folder), previous)
    result["used"] = used
    warned = part.log.to_frame()
    warned = warned.loc[(warned["file"] == str(source.path)) & (warned["row"] != "")]
    result["warnings"] = warned.reset_index(drop=True)  # the demand file's rows this group reported
    result["seconds"] = time.perf_counter() - started
    return result


def _failed_rows(group: str, folder: str, n_communities: int, exc: Exception) -> list[dict]:
    message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return [{"group": group, "folder": folder, "status": "failed", "category": None, "communities": n_communities,
             "communities_surveyed": None, "communities_short": None, "population": None,
             "population_not_covered": None, "floor_area_gap_m2": None, "error": f"{type(exc).__name__}: {message}"}]


def _remote_group(group, part, facilities, folder, key, previous):
    """What runs a group of a study prepared in the batch's process: the group with the broadcast facilities
    put back."""
    return _finish_group(group, replace(part, facilities=facilities), key, Path(folder), previous)


