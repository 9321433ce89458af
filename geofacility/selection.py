"""A selection of candidate rooms written as ``geofacility sites select`` writes it — :func:`write_selection`
(sites.csv/xlsx, selection.json, the ledger as if the rooms were built in ledger_after/, the map) — and the rooms
file read as ``sites`` reads it (:func:`read_rooms`: its warnings joined to the study's). ``sites select`` and the
workbench's export (:mod:`geofacility.workbench.export`) both call them, so that both write the same files."""
from __future__ import annotations

from pathlib import Path

__all__ = ["SELECT_OUTPUTS", "write_selection", "read_rooms"]


#: what ``sites select`` writes into its --out folder (and the workbench's export, per category)
SELECT_OUTPUTS = ("sites.csv", "sites.xlsx", "selection.json", "sites_map.html", "ledger_after/ledger.xlsx",
                  "ledger_after/ledger.csv", "ledger_after/coverage.gpkg", "run.json")


def write_selection(analysis, site_study, selection, out: Path, *, k=None, budget=None, status=None):
    """What ``sites select`` writes for a selection, inside the open output set on ``out``: sites.csv/xlsx,
    selection.json, the ledger as if the rooms were built (ledger_after/) and the map. Returns (paths, the
    analysis after). The workbench's export calls it too, so that both write the same files."""
    from .ledger import write_ledger, write_sites
    from .maps import write_map
    from .siting import with_sites

    category = site_study.check.category
    paths = write_sites(site_study, selection, out, {**analysis.settings, "k": k, "budget": budget},
                        warnings=analysis.warnings)
    if status is not None:
        status.update("recomputing the ledger with the selected sites…")
    after = with_sites(analysis, site_study, selection)
    after_paths = write_ledger(after, out / "ledger_after")
    paths.update({f"after_{k_}": v for k_, v in after_paths.items()})
    paths["map"] = write_map(after, out / "sites_map.html", sites=(site_study, selection), category=category)
    return paths, after


def read_rooms(analysis, candidates, category: str, *, coords=None, encoding=None,
               candidate_id_column: str | None = None):
    """The candidate rooms file read for ``category`` as ``sites`` reads it, and the analysis with the rooms'
    warnings added (sites.xlsx and ledger_after show them with the study's); the workbench opens its rooms the
    same way, so that its export equals ``sites select``."""
    from dataclasses import replace

    import pandas as pd

    from .errors import WarningLog
    from .read import read_candidates

    log = WarningLog()  # the rooms' warnings go into sites.xlsx with the study's
    check = next((c for c in analysis.checks if c.category == category), None)
    rooms = read_candidates(candidates, coords=coords, encoding=encoding, log=log,
                            columns={"candidate_id": candidate_id_column},
                            require_area=check is None or bool(check.min_building_m2))
    od = analysis.category_measures.get(category)
    if od is not None:
        missing = set(od.missing(rooms["candidate_id"].astype(str)))
        for file, row, cid in zip(rooms["source_file"], rooms["source_row"], rooms["candidate_id"].astype(str)):
            if cid in missing:
                log.add(file, row, f"candidate {cid} is not a destination of the cost table: it reaches nobody "
                                   "(it is not measured in a straight line instead); add its rows to the table",
                        zh=f"候选房源 {cid} 不是成本表的终点：不能到达任何人（不改按直线距离计）；请在表中补充其各行")
    if len(log):
        analysis = replace(analysis, warnings=pd.concat([analysis.warnings, log.to_frame()], ignore_index=True))
    return analysis, rooms
