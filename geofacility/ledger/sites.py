"""Ledger stage, candidate rooms (房源): ``sites.csv``, ``sites.xlsx`` and ``selection.json`` of a ``sites``
run (:func:`write_sites`), and the sentence saying when fewer rooms could be chosen than asked
(:func:`shortage_note`). Areas in m², people as whole persons.
"""
from __future__ import annotations

import contextlib
import math
from pathlib import Path

import numpy as np
import pandas as pd
from openpyxl import Workbook

from ..atomic import atomic_path
from ..standards import CATEGORY_SHORT_ZH
from .table import safe_cell_text
from .workbook import _fill_table_sheet, _warning_rows


# --------------------------------------------------------------------------------------------- candidate sites

SITES_CSV = "sites.csv"
SITES_XLSX = "sites.xlsx"
SELECTION_JSON = "selection.json"

SITE_COLUMNS = [
    "rank", "candidate_id", "name", "floor_area_m2", "categories", "acquisition", "reviewed", "floor", "cost",
    "community_id", "town", "hosts_category", "area_rule", "area_note", "ground_floor_note", "review_note",
    "newly_covered_population", "communities_served", "gap_closed_m2", "selectable", "selectable_reason", "selected",
    "lon", "lat",
]
_SITE_HEADER_ZH = {
    "rank": "排序", "candidate_id": "房源编号", "name": "名称", "floor_area_m2": "建筑面积 m²", "categories": "可用类别",
    "acquisition": "取得方式", "reviewed": "安全预审", "floor": "楼层", "cost": "成本", "community_id": "所在社区编号",
    "town": "街道/镇", "hosts_category": "可设本类设施", "area_rule": "面积规则", "area_note": "面积说明",
    "ground_floor_note": "楼层说明", "review_note": "预审说明", "newly_covered_population": "新增覆盖人口",
    "communities_served": "服务社区", "gap_closed_m2": "弥补本社区面积缺口 m²", "selectable": "可选", "selectable_reason": "可否选用及原因",
    "selected": "选中",
    "lon": "经度 WGS84", "lat": "纬度 WGS84",
}


#: the area rule of a room, as sites.xlsx writes it (sites.csv keeps the keys)
AREA_RULE_ZH = {"meets": "达标", "too_small": "面积不足", "combine": "须与本社区房源合并", "n/a": "无面积要求"}
#: the yes/no columns of sites.csv (True/False there), written 是/否 in sites.xlsx
SITE_FLAG_COLUMNS = ("hosts_category", "selectable", "selected")


def _categories_text(cands) -> list[str]:
    """Each room's 可用类别 as the planner wrote it (``养老;社区用房``); where the file gave none for the room (or for a
    combined set of rooms), the Chinese names of its category keys (``养老、社区用房``; '' = any category)."""
    typed = cands["categories_text"] if "categories_text" in cands.columns else pd.Series(None, index=cands.index)
    return [text.strip() if isinstance(text, str) and text.strip() else
            "、".join(CATEGORY_SHORT_ZH.get(c, c) for c in cats)
            for text, cats in zip(typed, cands["categories"])]


def sites_table(study, selection) -> pd.DataFrame:
    """One row per candidate, best rank first: the evaluation and whether it was selected. 可用类别, 预审 and 取得方式
    as the planner wrote them; ``hosts_category``/``selectable``/``selected`` True/False and ``area_rule`` its key
    (sites.xlsx writes them 是/否 and in Chinese: :func:`sites_sheet_rows`)."""
    cands = study.candidates
    pts = cands.geometry.to_crs(4326)
    table = pd.DataFrame({
        **{c: cands[c] for c in SITE_COLUMNS if c in cands.columns},
        "categories": _categories_text(cands),
        # pre-review and acquisition as the planner wrote them (是/否, 租赁/置换/共享/购买); the normalised values
        # (True/False, lease/swap/…) stay in the study for the selection
        **{c: cands[f"{c}_text"].where(cands[f"{c}_text"].notna(), cands[c]) if f"{c}_text" in cands.columns
           else cands[c] for c in ("reviewed", "acquisition")},
        "selected": np.isin(np.arange(len(cands)), selection.selected if selection is not None else []),
        "lon": pts.x.round(7).to_numpy(), "lat": pts.y.round(7).to_numpy(),
    })
    # people whole, as the ledger writes them (a share of a spread-out community is not a person to a planner)
    table["newly_covered_population"] = table["newly_covered_population"].round(0).astype("Int64")
    table["gap_closed_m2"] = table["gap_closed_m2"].round(1)
    return table[SITE_COLUMNS].sort_values("rank", kind="stable").reset_index(drop=True)


def sites_sheet_rows(table: pd.DataFrame):
    """The rows of sites.xlsx's 房源 sheet: :func:`sites_table` with its yes/no columns 是/否 and the area rule in
    Chinese (达标/面积不足/须与本社区房源合并/无面积要求)."""
    shown = table.copy()
    for col in SITE_FLAG_COLUMNS:
        shown[col] = shown[col].map(lambda v: "是" if v is True or v == True else "否")  # noqa: E712
    shown["area_rule"] = shown["area_rule"].map(lambda v: AREA_RULE_ZH.get(v, v))
    return shown.itertuples(index=False)


#: the selection methods as sites.xlsx names them
METHOD_ZH = {"mclp": "最大覆盖模型（MCLP）", "lscp": "集合覆盖模型（LSCP）", "pmedian": "P 中位模型（PMP）",
             "mclp-lp": "最大覆盖模型（MCLP，线性松弛）", "greedy": "贪心算法（最大覆盖近似）",
             "given": "规划人员指定（--choose）"}


def shortage_note(study, k) -> str | None:
    """``只有 3 处房源可选，少于 k=5`` when fewer rooms can be taken than were asked for (else None)."""
    n = int(len(study.eligible))
    if k is None or n >= int(k):
        return None
    rest = len(study.candidates) - n
    return f"只有 {n} 处房源可选，少于 k={int(k)}" + (f"；其余 {rest} 处不可选的原因见“可否选用及原因”列" if rest else "")


def selection_summary(study, selection, settings: dict) -> dict:
    """What selection.json holds: method, k/budget, radius, objective, populations, selected ids, solver."""
    ids = study.candidates["candidate_id"].to_numpy()
    already = float(study.weights[~study.uncovered].sum())
    od = settings.get("cost_matrix")  # the OD table measuring this category: file, columns, hash
    od = od if od and od.get("category") == study.check.category else None
    return {
        "category": study.check.category,
        "standard": study.check.label,
        "radius_m": study.check.radius_m,
        "distance": "cost-matrix" if od else settings.get("distance"),
        "cost_matrix": od,
        "method": selection.method,
        "k": settings.get("k"),
        "budget": settings.get("budget"),
        "objective": round(float(selection.objective), 6),
        "newly_covered_population": round(float(selection.covered_weight), 3),
        "uncovered_population_before": round(float(selection.total_weight), 3),
        "already_covered_population": round(already, 3),
        "total_population": round(float(study.weights.sum()), 3),
        "uncoverable_population": round(float(selection.uncoverable_weight), 3),
        "selected": [str(i) for i in ids[selection.selected]],
        "solver_status": selection.status,
        "optimality_gap": None if selection.gap is None or math.isnan(selection.gap) else round(selection.gap, 6),
        "bound": None if selection.bound is None else round(float(selection.bound), 6),
        "candidates": int(len(ids)),
        "selectable": int(len(study.eligible)),
        "note": shortage_note(study, settings.get("k")),
    }


def write_sites(study, selection, out_dir: str | Path, settings: dict | None = None,
                warnings: pd.DataFrame | None = None) -> dict[str, Path]:
    """Write ``sites.csv``, ``sites.xlsx`` (with a 警告 warnings sheet: the study's and the rooms' input
    warnings) and (when a selection was made) ``selection.json``, atomically."""
    import json

    out_dir = Path(out_dir)
    table = sites_table(study, selection)
    paths = {"sites_csv": out_dir / SITES_CSV, "sites_xlsx": out_dir / SITES_XLSX}
    if selection is not None:
        paths["selection"] = out_dir / SELECTION_JSON
    with contextlib.ExitStack() as stack:
        tmp = {kind: stack.enter_context(atomic_path(path)) for kind, path in paths.items()}
        csv_frame = table.copy()
        for col in ("candidate_id", "name", "community_id", "town", "area_note", "communities_served", "categories",
                    "reviewed", "acquisition", "selectable_reason"):
            csv_frame[col] = csv_frame[col].map(safe_cell_text)
        csv_frame.to_csv(tmp["sites_csv"], index=False, encoding="utf-8-sig", lineterminator="\n")
        wb = Workbook()
        ws = wb.active
        ws.title = "房源 sites"
        _fill_table_sheet(ws, [f"{_SITE_HEADER_ZH[c]}\n{c}" for c in SITE_COLUMNS], sites_sheet_rows(table))
        ws.freeze_panes = "C2"
        ws.auto_filter.ref = ws.dimensions
        if selection is not None:
            note = shortage_note(study, (settings or {}).get("k"))
            rows = [["候选房源 candidates", len(table)], ["可选房源 selectable", int(len(study.eligible))],
                    ["方法 method", METHOD_ZH.get(selection.method, selection.method)],
                    ["选址数量 k", (settings or {}).get("k")],
                    ["选中 selected", int(len(selection.selected))],
                    ["新增覆盖人口 newly covered", round(float(selection.covered_weight), 1)]]
            if note:
                rows.insert(0, ["说明 note", note])
            _fill_table_sheet(wb.create_sheet("选址说明 selection"), ["项目 item", "值 value"], rows, widths=[28, 70])
        if warnings is not None:
            _fill_table_sheet(wb.create_sheet("警告 warnings"), ["文件 file", "行 row", "级别 severity", "说明 message"],
                              _warning_rows(warnings), widths=[28, 8, 12, 80])
        wb.save(tmp["sites_xlsx"])
        if selection is not None:
            summary = selection_summary(study, selection, settings or {})
            tmp["selection"].write_text(json.dumps(summary, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return paths
