"""The workbench's export, shared with ``sites select``: :func:`write_selection` writes what ``sites select``
writes for a selection (sites.csv/xlsx, selection.json, ledger_after/, the map), :func:`read_rooms` reads a rooms
file as ``sites`` does (its warnings added to the study's), and :func:`export_scenario` writes a workbench
scenario per category exactly as ``geofacility sites select --choose`` would."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..standards import CATEGORY_SHORT_ZH

__all__ = ["SELECT_OUTPUTS", "write_selection", "read_rooms", "export_scenario"]


#: what ``sites select`` writes into its --out folder (and the workbench's export, per category)
SELECT_OUTPUTS = ("sites.csv", "sites.xlsx", "selection.json", "sites_map.html", "ledger_after/ledger.xlsx",
                  "ledger_after/ledger.csv", "ledger_after/coverage.gpkg", "run.json")


def write_selection(analysis, site_study, selection, out: Path, *, k=None, budget=None, status=None):
    """What ``sites select`` writes for a selection, inside the open output set on ``out``: sites.csv/xlsx,
    selection.json, the ledger as if the rooms were built (ledger_after/) and the map. Returns (paths, the
    analysis after). The workbench's export calls it too, so that both write the same files."""
    from ..ledger import write_ledger, write_sites
    from ..maps import write_map
    from ..siting import with_sites

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

    from ..errors import WarningLog
    from ..read import read_candidates

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


def export_scenario(wb, name=None) -> dict:
    """Per category with built rooms, ``<out>/scenarios/<slug>/<category>/``: exactly what ``geofacility sites
    select --category C --choose ID,… --out that folder`` writes (the same functions, under an output set).
    Rooms added on the map go with the original rooms into that folder's ``rooms.csv`` (the command's
    ``--candidates``), and the rooms are then evaluated from that file, as the command would."""
    from ..outputs import output_set
    from ..siting import evaluate_candidates, given_selection
    from .scenarios import slug

    label = str(name if name is not None else (wb._name or "export"))
    folder = wb.out / "scenarios" / slug(label)
    files = []
    for category, cat in sorted(wb._cats.items()):
        if not cat.built:
            continue
        ids = cat.study.candidates["candidate_id"].astype(str).to_numpy()
        chosen = [str(ids[i]) for i in sorted(cat.built)]
        target = folder / category
        with output_set(target, expected=(*SELECT_OUTPUTS, "rooms.csv")) as outputs:
            outputs.note_settings(wb.analysis.settings)
            study = wb._original_study(category)
            live = [(cid, room) for cid, room in cat.added if wb._position_or_none(category, cid) is not None]
            if live:
                rooms = _write_rooms(wb, target / "rooms.csv", live)
                outputs.note_inputs("candidates", target / "rooms.csv")
                study = evaluate_candidates(wb.analysis, rooms, category,
                                            include_unreviewed=wb.include_unreviewed)
            selection = given_selection(study, chosen)
            paths, _ = write_selection(wb.analysis, study, selection, target)
        files += [str(p.relative_to(wb.out)) for p in [*paths.values(), target / "run.json"]]
    return {"folder": str(folder.relative_to(wb.out)), "files": sorted(set(files))}

def _write_rooms(wb, path, live):
    """rooms.csv: the original rooms and those added on the map (WGS84 lon/lat), read back as the command
    would read it."""
    from ..atomic import atomic_path
    from ..read import read_candidates

    rooms = wb.rooms
    frames = []
    if rooms is not None and len(rooms):
        pts = rooms.geometry.to_crs(4326)
        frames.append(pd.DataFrame({
            "candidate_id": rooms["candidate_id"].astype(str).to_numpy(), "name": rooms["name"].to_numpy(),
            "建筑面积": rooms["floor_area_m2"].to_numpy(),
            "可用类别": [t if isinstance(t, str) and t else ";".join(c or []) for t, c in
                      zip(rooms.get("categories_text", pd.Series([None] * len(rooms))), rooms["categories"])],
            "取得方式": rooms.get("acquisition_text", rooms["acquisition"]).to_numpy(),
            "预审": rooms.get("reviewed_text", rooms["reviewed"]).to_numpy(),
            "楼层": rooms["floor"].to_numpy() if "floor" in rooms else np.nan,
            "成本": rooms["cost"].to_numpy() if "cost" in rooms else np.nan,
            "lon": pts.x.to_numpy(), "lat": pts.y.to_numpy()}))
    frames.append(pd.DataFrame({
        "candidate_id": [cid for cid, _ in live], "name": [r["name"] for _, r in live],
        "建筑面积": [r["floor_area_m2"] for _, r in live],
        "可用类别": [";".join(CATEGORY_SHORT_ZH.get(c, c) for c in r["categories"]) for _, r in live],
        "取得方式": None, "预审": "是", "楼层": np.nan, "成本": np.nan,
        "lon": [r["lon"] for _, r in live], "lat": [r["lat"] for _, r in live]}))
    table = pd.concat(frames, ignore_index=True)
    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=False, encoding="utf-8-sig", float_format="%.9f")
    return read_candidates(tmp)
