"""The workbench's export: :func:`export_scenario` writes a scenario per category exactly as ``geofacility sites
select --choose`` would, through the same :func:`geofacility.selection.write_selection`."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..selection import SELECT_OUTPUTS, write_selection
from ..standards import CATEGORY_SHORT_ZH

__all__ = ["export_scenario"]


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
    # inside the export's output set the file stays staged at ``tmp`` until the set is committed
    return read_candidates(tmp)
