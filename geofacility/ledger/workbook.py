"""Ledger stage, the workbook: the layout of ``ledger.xlsx`` after 张店区既有社区配套设施整治工作台账
(张政办字〔2020〕13号 附件3) and the sheets geofacility generates beside the 台账 (警告 warnings, 采用标准 standards,
输入核对 input rows, 设施负荷 facility load, 明细 data), for a folder that has no workbook yet.

* row 1: title and the standards / distance / coverage-target note (no run date, so reruns compare cleanly);
* rows 2–4: 序号, 镇办, 社区, 户数\\人口, per category (标准, 现状), 存在问题, 整治方案 (牵头单位, 责任单位, 完成时限),
  备注 — 整治方案 and 备注 are left empty for the planner — and 社区编码, the id a re-run matches rows by;
* one row per community, sorted by town, then community_id.

A re-run into the planner's workbook is :mod:`geofacility.ledger.roundtrip`.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter

from ..errors import WARNING_COLUMNS, message_zh
from ..standards import CATEGORIES, CATEGORY_LABELS_ZH, LEVEL_ZH, SCOPE_ZH, Check, status_zh
from .table import _isnan, safe_cell_text
from .texts import _coverage_target, _title_text, current_text, households_population_text, problem_text, standard_text


_STATUS_FILL = {
    "gap": PatternFill("solid", fgColor="FFC7CE"),
    "ok": PatternFill("solid", fgColor="C6EFCE"),
    "not_surveyed": PatternFill("solid", fgColor="D9D9D9"),
}


_SOURCE_ZH = {"data": "数据", "floor area": "按面积折算", "standard": "按标准服务人口", "unknown": "未知"}
_LOAD_HEADER = ["设施编号 facility_id", "名称 name", "类别 category", "子类 subcategory", "所在社区 community_id",
                "容量（人） capacity", "容量来源 capacity source", "半径内需求（人） demand in reach",
                "已分配（人） allocated", "负荷 load", "状态 state"]


def _whole(value):
    """People as whole persons (NaN stays empty, an unlimited capacity reads 不限)."""
    if value is None or _isnan(value):
        return None
    return int(round(float(value))) if math.isfinite(float(value)) else "不限"


def _load_rows(load: pd.DataFrame | None, checks: list[Check] | None = None) -> list[list]:
    """The facility load sheet: one row per facility whose category's capacity split was computed, in Chinese:
    the category's Chinese name, the standard's name (幼儿园) for the subcategory, people as whole persons, the load
    as a percentage of the capacity (the cell holds the share, formatted 0.0%) and the state (有余量/满/超负荷)."""
    if load is None or not len(load):
        return [["", "未计算容量", "", "", "", None, "", None, None, None, ""]]
    names = {(c.category, c.subcategory): c.name_zh for c in checks or []}
    rows = []
    for rec in load.to_dict("records"):
        value = rec["load"]
        state = "" if value is None or _isnan(value) else ("超负荷" if value > 1 + 1e-9 else
                                                           "满" if value >= 1 - 1e-9 else "有余量")
        sub = rec["subcategory"]
        sub_text = "" if sub is None or _isnan(sub) else names.get((rec["category"], sub), safe_cell_text(sub))
        rows.append([safe_cell_text(rec["facility_id"]), safe_cell_text(rec["name"]),
                     CATEGORY_LABELS_ZH.get(rec["category"], safe_cell_text(rec["category"])), sub_text,
                     safe_cell_text(rec["community_id"] or ""), _whole(rec["capacity"]),
                     _SOURCE_ZH.get(rec["capacity_source"], rec["capacity_source"]),
                     _whole(rec["demand_in_reach"]), _whole(rec["allocated"]),
                     _excel_value(None if _isnan(value) else round(float(value), 4)), state])
    return rows


#: the load column of the facility load sheet (1-based), written as a percentage
_LOAD_PERCENT_COLUMN = 10


# --------------------------------------------------------------------------------------------- workbook

_THIN = Side(style="thin", color="808080")
_BORDER = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)
_WRAP = Alignment(wrap_text=True, vertical="top")
_CENTER = Alignment(wrap_text=True, horizontal="center", vertical="center")
_BOLD = Font(bold=True)
_HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")

#: rows 2–4: the header (序号 … in row 2, the umbrella 既有社区配套设施排查摸底情况 over the category columns, each
#: category's heading in row 3, 标准/现状 in row 4), as Attachment 3
_HEADER_ROWS = 3
_FIRST_DATA_ROW = 2 + _HEADER_ROWS
_N_LEAD = 4  # 序号, 镇办, 社区, 户数\人口
#: Attachment 3's heading over the per-category (标准、现状) columns
UMBRELLA_HEADING = "既有社区配套设施排查摸底情况"
#: the last column of the 台账 sheet: the community id its row belongs to, by which a re-run puts the planner's entries
#: back on the right community however the rows were sorted or renumbered (geofacility.ledger.match)
ID_HEADING = "社区编码"
ID_NOTE = ("社区编码：geofacility 按此编码把整治方案、备注留在对应社区的行上，请勿修改。排序时请选中整行（含本列）。\n"
           "Community id: geofacility keeps your entries on the row of this id when it re-runs; do not edit it, and "
           "sort whole rows (this column included).")
_ID_FONT = Font(color="808080")


#: the columns geofacility leaves empty for the planner (kept on re-runs, geofacility.ledger.roundtrip)
PLAN_HEADING = "整治方案"
NOTE_HEADING = "备注（需区领导小组解决问题）"


def _ledger_layout() -> list[tuple[str, str | None, float]]:
    """The header as (heading, sub-heading or None, column width) per column, in sheet order."""
    columns: list[tuple[str, str | None, float]] = [
        ("序号", None, 6),
        ("镇办", None, 12),
        ("社区", None, 16),
        ("户数\\人口", None, 16),
    ]
    for category in CATEGORIES:
        heading = f"{CATEGORY_LABELS_ZH[category]}（标准、现状）"
        columns += [(heading, "标准", 22), (heading, "现状", 24)]
    columns += [
        ("存在问题（规划、建设、移交、使用）", None, 40),
        (PLAN_HEADING, "牵头单位", 12),
        (PLAN_HEADING, "责任单位", 12),
        (PLAN_HEADING, "完成时限", 10),
        (NOTE_HEADING, None, 20),
        (ID_HEADING, None, 14),
    ]
    return columns


def _write_header(ws, columns) -> None:
    """Rows 1–4 (:data:`_HEADER_ROWS` below the title): a heading without sub-heading spans rows 2–4; the category
    headings sit in row 3 under :data:`UMBRELLA_HEADING` (row 2) with 标准/现状 in row 4; 整治方案 spans rows 2–3
    over its sub-headings."""
    n = len(columns)
    top, bottom = 2, 1 + _HEADER_ROWS
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=n)
    categories = [i for i, (_, sub, _) in enumerate(columns) if sub in ("标准", "现状")]
    if categories:
        ws.cell(row=top, column=categories[0] + 1, value=UMBRELLA_HEADING)
        ws.merge_cells(start_row=top, start_column=categories[0] + 1, end_row=top, end_column=categories[-1] + 1)
    i = 0
    while i < n:
        heading, sub, _ = columns[i]
        span = 1
        while i + span < n and sub is not None and columns[i + span][0] == heading:
            span += 1
        if sub is None:
            ws.cell(row=top, column=i + 1, value=heading)
            ws.merge_cells(start_row=top, start_column=i + 1, end_row=bottom, end_column=i + 1)
        else:
            first = top + 1 if i in categories else top
            ws.cell(row=first, column=i + 1, value=heading)
            if span > 1 or first < bottom - 1:
                ws.merge_cells(start_row=first, start_column=i + 1, end_row=bottom - 1, end_column=i + span)
            for j in range(span):
                ws.cell(row=bottom, column=i + j + 1, value=columns[i + j][1])
        i += span
    for col, (_, _, width) in enumerate(columns, start=1):
        ws.column_dimensions[get_column_letter(col)].width = width
        for row in range(top, bottom + 1):
            cell = ws.cell(row=row, column=col)
            cell.font, cell.alignment, cell.fill = _BOLD, _CENTER, _HEADER_FILL


def _ledger_row(number: int, row: dict, checks: list[Check], coverage_target: float) -> list:
    values: list = [
        number,
        safe_cell_text(row["town"]),
        safe_cell_text(row["community"]),
        households_population_text(row["households"], row["population"]),
    ]
    for category in CATEGORIES:
        values += [standard_text(row, category, checks, coverage_target=coverage_target), current_text(row, category)]
    values += [problem_text(row, coverage_target=coverage_target), None, None, None, None,
               safe_cell_text(row["community_id"])]
    return values


def sheet_rows(table: pd.DataFrame, checks: list[Check], settings: dict, category: str) -> dict:
    """The 台账 sheet's columns that bear on ``category``, headed and written exactly as the sheet heads and writes
    them, for the rows of ``table`` (a :func:`~geofacility.ledger.table.ledger_table`): 镇办, 社区, 户数\\人口, the
    category's 标准 and 现状, 存在问题, 社区编码 — not 序号, other categories, nor the columns the planner fills in.
    ``{"headers": [[heading, sub-heading or None], …], "rows": [[text, …], …], "status": [status per row],
    "status_column": k}``: the sheet shows the status as the fill of the 现状 cell, column ``k`` here. The
    workbench's panel shows the rows a click changed so."""
    columns = _ledger_layout()
    own = f"{CATEGORY_LABELS_ZH[category]}（标准、现状）"
    records = table.to_dict("records")
    coverage_target = _coverage_target(settings)
    cells = [_ledger_row(0, row, checks, coverage_target) for row in records]
    keep = [i for i, (heading, sub, _) in enumerate(columns)
            if i > 0 and heading not in (PLAN_HEADING, NOTE_HEADING) and (sub is None or heading == own)]
    filled = _N_LEAD + 2 * list(CATEGORIES).index(category) + 1  # the category's 现状, as _fill_ledger_sheet fills it
    return {"headers": [[columns[i][0], columns[i][1]] for i in keep],
            "rows": [[row[i] for i in keep] for row in cells],
            "status": [row.get(f"{category}_status") for row in records], "status_column": keep.index(filled)}


def _fill_ledger_sheet(ws, table: pd.DataFrame, checks: list[Check], settings: dict) -> None:
    columns = _ledger_layout()
    _write_header(ws, columns)
    title = ws.cell(row=1, column=1, value=_title_text(settings, checks, table))
    title.font, title.alignment = Font(bold=True, size=14), _CENTER
    ws.row_dimensions[1].height = 20 * (title.value.count("\n") + 1) + 8
    coverage_target = _coverage_target(settings)
    status_columns = {c: _N_LEAD + 2 * i + 2 for i, c in enumerate(CATEGORIES)}  # the 现状 column of each
    styles = _named_styles(ws.parent)
    for offset, row in enumerate(table.to_dict("records")):
        r = _FIRST_DATA_ROW + offset
        for col, value in enumerate(_ledger_row(offset + 1, row, checks, coverage_target), start=1):
            ws.cell(row=r, column=col, value=value).style = styles[None]
        for category, col in status_columns.items():
            status = row[f"{category}_status"]
            if status in _STATUS_FILL:
                ws.cell(row=r, column=col).style = styles[status]
    id_col = len(columns)
    for r in range(_FIRST_DATA_ROW, _FIRST_DATA_ROW + len(table)):
        ws.cell(row=r, column=id_col).style = styles["id"]
    _id_header(ws.cell(row=2, column=id_col))
    for cells in ws.iter_rows(min_row=2, max_row=1 + _HEADER_ROWS, max_col=len(columns)):
        for cell in cells:
            cell.border = _BORDER
    ws.freeze_panes = ws.cell(row=_FIRST_DATA_ROW, column=_N_LEAD)  # below the header, right of 社区
    ws.print_title_rows = f"2:{1 + _HEADER_ROWS}"
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A3
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True


def _named_styles(wb) -> dict:
    """One named style per cell kind (wrap + border, and the status fills), registered once per workbook:
    assigning a named style is one id per cell, where setting font/fill/border/alignment objects cell by cell
    made openpyxl hash styles tens of thousands of times."""
    from openpyxl.styles import NamedStyle

    names = {None: "gf_cell", **{status: f"gf_{status}" for status in _STATUS_FILL}, "id": "gf_id"}
    existing = set(wb.named_styles)
    for status, name in names.items():
        if name not in existing:
            style = NamedStyle(name=name, alignment=_WRAP, border=_BORDER)
            if status in _STATUS_FILL:
                style.fill = _STATUS_FILL[status]
            if status == "id":
                style.font = _ID_FONT
            wb.add_named_style(style)
    return names


def _id_header(cell) -> None:
    """The 社区编码 heading, with a note saying what the column is for."""
    from openpyxl.comments import Comment

    cell.value = ID_HEADING
    comment = Comment(ID_NOTE, "geofacility")
    comment.width, comment.height = 320, 120
    cell.comment = comment


def _excel_value(value):
    """A Python value openpyxl writes safely: text escaped, NaN empty, numpy scalars unwrapped."""
    if _isnan(value):
        return None
    if isinstance(value, str):
        return safe_cell_text(value)
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else ("inf" if value > 0 else "-inf")
    return safe_cell_text(value)


def _fill_table_sheet(ws, header: list[str], rows, *, widths: list[float] | None = None) -> None:
    ws.append(header)
    for cell in ws[1]:
        cell.font, cell.fill = _BOLD, _HEADER_FILL
    for row in rows:
        ws.append([_excel_value(v) for v in row])
    ws.freeze_panes = "A2"
    for col, width in enumerate(widths or [], start=1):
        ws.column_dimensions[get_column_letter(col)].width = width


#: the severity of a warning as the 警告 sheets write it (the warnings table keeps info/warning)
SEVERITY_ZH = {"info": "提示", "warning": "警告"}
#: what a warning names in place of a file, in Chinese: the standards table, the capacity split
_WARNING_SOURCE_ZH = {"standards": "标准表", "capacity": "容量计算"}


def _warning_rows(warnings: pd.DataFrame) -> list[list]:
    if warnings is None or warnings.empty:
        return [["", "", SEVERITY_ZH["info"], "无警告"]]
    rows = []
    for record in warnings.reindex(columns=WARNING_COLUMNS).to_dict("records"):
        row = "" if _isnan(record["row"]) else str(record["row"])
        severity = "" if _isnan(record["severity"]) else str(record["severity"])
        rows.append([_WARNING_SOURCE_ZH.get(record["file"], record["file"]), int(row) if row.isdigit() else row,
                     SEVERITY_ZH.get(severity, severity), _warning_text(record)])
    return rows


def _warning_text(record: dict) -> str:
    """A warning as the 警告 sheet shows it: Chinese first, then the English (for a bug report), on its own line."""
    zh, en = message_zh(record), "" if _isnan(record.get("message")) else str(record["message"])
    return zh if not en or zh == en else f"{zh}\n{en}"


_STANDARDS_HEADER = [
    "设施类别",
    "名称",
    "适用地区",
    "层级",
    "统计范围",
    "服务半径 m",
    "每千人建筑面积 m²",
    "每百户建筑面积 m²",
    "单处最小建筑面积 m²",
    "单处服务人口上限",
    "来源",
    "状态",
    "备注",
    "类别代码 category",
    "子类代码 subcategory",
]
_STANDARDS_WIDTHS = [18, 24, 12, 14, 12, 10, 12, 12, 12, 12, 60, 60, 50, 18, 28]


def _standards_rows(checks: list[Check], jurisdiction: str | None = None) -> list[list]:
    """The 采用标准 sheet: every standard applied, where it applies, its source and, in Chinese, whether its figures
    were found in the source (已核实（来源…）/ 部分核实 / 未核实：未找到原文); then where the study lies."""
    if not checks:
        rows = [["无（未调查任何类别）"] + [None] * (len(_STANDARDS_HEADER) - 1)]
    else:
        rows = [
            [
                CATEGORY_LABELS_ZH.get(check.category, ""),
                check.name_zh,
                check.jurisdiction or "自定",
                LEVEL_ZH.get(check.level, check.level),
                SCOPE_ZH.get(check.scope, check.scope),
                check.radius_m,
                check.per_1000_building_m2,
                check.per_100hh_building_m2,
                check.min_building_m2,
                check.serves_population,
                check.source,
                status_zh(check),
                check.note,
                check.category,
                check.subcategory,
            ]
            for check in checks
        ]
    where = jurisdiction or "不限（所有标准）"
    rows += [[None] * len(_STANDARDS_HEADER),
             [f"本研究所在地：{where}。国家标准（全国）均适用；省、市标准仅适用于其辖区；同一设施有多级标准时采用最具体的一级。"
              "状态为“未核实”或“部分核实”的指标未找到原文，使用前请核对。"] + [None] * (len(_STANDARDS_HEADER) - 1)]
    return rows


#: the sub-headings (row 3) or headings (row 2) of the columns the planner fills in (Attachment 3's 整治方案, 备注)
PLANNER_FIELDS = ("牵头单位", "责任单位", "完成时限", NOTE_HEADING)
LEDGER_SHEET = "台账 ledger"
REMOVED_SHEET = "已移除 removed"
PREVIOUS_XLSX = "ledger.previous.xlsx"
#: the sheets geofacility writes anew on every run, in workbook order (a planner's notes belong on the 台账 sheet or
#: on sheets of their own, which are kept)
GENERATED_SHEETS = ("警告 warnings", "采用标准 standards", "输入核对 input rows", "设施负荷 facility load", "明细 data",
                    REMOVED_SHEET, "geofacility_written")
#: a very hidden sheet holding what geofacility wrote in each computed cell of the 台账, so that a re-run can tell a
#: cell the planner typed over (their text is then kept in a note on the cell) from one it wrote itself
WRITTEN_SHEET = "geofacility_written"


def computed_columns() -> list[tuple[int, str]]:
    """(layout index, key) of the 台账 columns geofacility computes and rewrites on every run."""
    out = []
    for i, (top, sub, _) in enumerate(_ledger_layout()):
        if (sub or top) in PLANNER_FIELDS or top in ("序号", ID_HEADING):
            continue
        out.append((i, f"{top}|{sub or ''}"))
    return out


def record_written(wb: Workbook, ws, rows: dict[int, str], columns: dict[str, int]) -> None:
    """(Re)write the hidden :data:`WRITTEN_SHEET`: per community id (``rows``: sheet row → id), the value of each
    computed column (``columns``: key → sheet column) as it stands now."""
    if WRITTEN_SHEET in wb.sheetnames:
        wb.remove(wb[WRITTEN_SHEET])
    sheet = wb.create_sheet(WRITTEN_SHEET)
    sheet.sheet_state = "veryHidden"
    keys = list(columns)
    sheet.append(["community_id", *keys])
    for r, cid in sorted(rows.items()):
        sheet.append([safe_cell_text(cid), *[ws.cell(row=r, column=columns[k]).value for k in keys]])


def _generated_sheets(table: pd.DataFrame, checks: list[Check], warnings: pd.DataFrame, settings: dict,
                      facility_load: pd.DataFrame | None, removed: list[list] | None,
                      removed_header: list[str] | None) -> list[tuple[str, list, list, list | None]]:
    """(title, header, rows, widths) of each generated sheet this run has, in :data:`GENERATED_SHEETS` order."""
    sheets = [("警告 warnings", ["文件 file", "行 row", "级别 severity", "说明 message"], _warning_rows(warnings),
               [28, 8, 12, 80]),
              ("采用标准 standards", _STANDARDS_HEADER, _standards_rows(checks, settings.get("jurisdiction")),
               _STANDARDS_WIDTHS)]
    accounting = settings.get("_accounting")
    if accounting is not None and len(accounting):
        sheets.append(("输入核对 input rows", ["文件 file", "读入行 rows read", "采用 used",
                                           "未采用并已说明 reported (see 警告)", "未说明 unaccounted"],
                       [[safe_cell_text(r.file), r.rows_read, r.rows_used, r.rows_reported, r.rows_unaccounted]
                        for r in accounting.itertuples(index=False)], [60, 14, 12, 30, 14]))
    if settings.get("capacity_method") not in (None, "none"):
        sheets.append(("设施负荷 facility load", _LOAD_HEADER, _load_rows(facility_load, checks),
                       [14, 28, 12, 18, 16, 12, 16, 16, 14, 10, 16]))
    sheets.append(("明细 data", list(table.columns), table.itertuples(index=False), None))
    if removed:
        sheets.append((REMOVED_SHEET, removed_header, removed, [16, 12, 16, 10] + [14] * (len(removed_header) - 4)))
    return sheets


def _add_generated_sheets(wb: Workbook, sheets, positions: dict[str, int] | None = None) -> None:
    """Create the generated sheets (at the positions they had in an earlier workbook, else at the end)."""
    for title, header, rows, widths in sheets:
        index = None if positions is None else positions.get(title)
        ws = wb.create_sheet(title, index)
        _fill_table_sheet(ws, header, rows, widths=widths)
        if title == "明细 data":
            ws.auto_filter.ref = ws.dimensions
        if title == "设施负荷 facility load":
            for (cell,) in ws.iter_rows(min_row=2, min_col=_LOAD_PERCENT_COLUMN, max_col=_LOAD_PERCENT_COLUMN):
                cell.number_format = "0.0%"


def _workbook_settings(analysis) -> dict:
    return {**(analysis.settings or {}), "_accounting": getattr(analysis, "accounting", None)}


def _new_workbook(analysis, table: pd.DataFrame) -> Workbook:
    """The ledger workbook of a folder that has none yet."""
    settings = _workbook_settings(analysis)
    wb = Workbook()
    ledger = wb.active
    ledger.title = LEDGER_SHEET
    _fill_ledger_sheet(ledger, table, list(analysis.checks), settings)
    _add_generated_sheets(wb, _generated_sheets(table, list(analysis.checks), analysis.warnings, settings,
                                                getattr(analysis, "facility_load", None), None, None))
    record_written(wb, ledger, {_FIRST_DATA_ROW + i: cid for i, cid in enumerate(table["community_id"])},
                   {key: i + 1 for i, key in computed_columns()})
    return wb

