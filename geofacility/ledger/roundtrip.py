"""The planner's ledger workbook: a re-run writes its new figures into it, so what the planner typed or set stays.

A district office types its 整治方案 (牵头单位, 责任单位, 完成时限) and 备注 into ``ledger.xlsx``, sorts and
renumbers the rows, merges cells, colours them, comments on them, adds sheets (领导批示), columns, data validation
and print settings — and re-runs geofacility every month. A run into a folder with an earlier ``ledger.xlsx``
therefore does not write a fresh workbook: it opens the planner's and replaces only what geofacility computes.

* **Rows are matched by community id**, the 社区编码 column of the 台账 sheet (its last column), never by position or
  序号: sorting, renumbering, filtering, blank rows and a totals row are harmless. The 镇办/社区 names on each row
  are checked against the id (this run's names, or the earlier run's from its 明细 sheet when the community was
  renamed). A row whose id and names disagree (e.g. rows sorted with the 社区编码 column left behind), two rows with
  one id, or a row showing a community of this run without its id stop the run with a message naming the rows
  (:class:`~geofacility.errors.InputError`, exit 2): geofacility never guesses whose entries they are.
* **What is replaced** on a community's row: 镇办, 社区, 户数\人口, each category's 标准 and 现状, 存在问题 and
  社区编码 — values only; the planner's fonts, borders and fills stay (the status colour of a 现状 cell is updated
  unless the planner coloured it). 序号, 整治方案, 备注 and every column the planner added are never written.
  Cells the planner merged in a computed column stay merged while their communities share the value.
* **Communities new to this run** get rows after the last community row (rows below it, such as a totals row,
  move down with their formatting; formulas that refer to moved cells are not rewritten: a warning says so).
* **Communities no longer in the data** keep their row and everything typed on it; their figures read ``—`` and
  存在问题 says why; they are also listed on the 已移除 removed sheet. The planner deletes such a row when done.
* **Everything else in the workbook is kept**: other sheets, comments, colours and fonts, column widths, row
  heights, data validation, conditional formatting, print settings, freeze panes. geofacility's own sheets
  (警告, 采用标准, 输入核对, 设施负荷, 明细, 已移除) are written anew at the places they had.

openpyxl cannot keep every Excel feature (shapes, some validation extensions); when loading reports such a loss,
the run says so and keeps the untouched earlier file as ``ledger.previous.xlsx`` (the run's outputs keep both).
Ledgers written before the 社区编码 column existed are matched by their 明细 sheet and 序号, checked against the
names (or by the names alone, where they are unique), and get the column.

The rows are read and matched in :mod:`geofacility.ledger.match`; this module writes the new figures in.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd
from openpyxl.cell.cell import MergedCell
from openpyxl.formatting.formatting import ConditionalFormattingList
from openpyxl.styles import PatternFill
from openpyxl.worksheet.cell_range import CellRange, MultiCellRange

from .table import safe_cell_text
from .texts import _coverage_target, _title, _title_text
from .workbook import (_STATUS_FILL, GENERATED_SHEETS, ID_HEADING, PLANNER_FIELDS, WRITTEN_SHEET,
                       _add_generated_sheets, _generated_sheets, _id_header, _ledger_layout, _ledger_row,
                       _named_styles, _workbook_settings, record_written)
from .match import (LedgerRows, Match, _cell_norm, _data_names, _data_order, _fill_key, _find_sheet, _layout_keys,
                    _load, _note, _refuse, _status_columns, _text, match_rows, norm)

_REMOVED_TEXT = "已移除：本次运行的社区数据中没有此社区（整治方案、备注保留在本行）"
_OUR_FILLS = {None, *(("solid", f.fgColor.rgb[-6:].upper()) for f in _STATUS_FILL.values())}


# --------------------------------------------------------------------------------------------- writing


def _shift_ranges(ranges, at: int, n: int) -> list[str]:
    out = []
    for rng in ranges:
        rng = CellRange(str(rng))
        if rng.min_row >= at:
            rng.shift(row_shift=n)
        elif rng.max_row >= at - 1:
            rng.expand(down=n)  # a range reaching the last community row grows over the new rows
        out.append(rng.coord)
    return out


def _insert_rows(ws, at: int, n: int) -> bool:
    """Insert ``n`` rows before row ``at``, moving what lies below with its merges, validation, conditional formats,
    heights and links; True when a formula sits in the moved rows (it is not rewritten)."""
    formulas = any(isinstance(c.value, str) and c.value.startswith("=")
                   for row in ws.iter_rows(min_row=at) for c in row)
    below = [rng for rng in ws.merged_cells.ranges if rng.max_row >= at]
    for rng in below:
        ws.merged_cells.remove(rng)
    heights = {r: d.height for r, d in ws.row_dimensions.items() if r >= at and d.height is not None}
    ws.insert_rows(at, n)
    for rng in below:
        rng = CellRange(rng.coord)
        if rng.min_row >= at:
            rng.shift(row_shift=n)
        else:
            rng.expand(down=n)
        ws.merge_cells(rng.coord)
    for r in sorted(heights, reverse=True):
        ws.row_dimensions[r + n].height = heights[r]
        ws.row_dimensions[r].height = None
    _rewrite_ranges(ws, lambda ranges: _shift_ranges(ranges, at, n))
    for link in getattr(ws, "_hyperlinks", []):
        if link.ref and CellRange(link.ref).min_row >= at:
            rng = CellRange(link.ref)
            rng.shift(row_shift=n)
            link.ref = rng.coord
    return formulas


def _rewrite_ranges(ws, rewrite) -> None:
    """Apply ``rewrite`` (a list of ranges → a list of range texts) to the sheet's data validation, conditional
    formats and filter: the parts openpyxl does not move when rows are inserted."""
    for dv in ws.data_validations.dataValidation:
        dv.sqref = MultiCellRange(" ".join(rewrite(dv.sqref.ranges)))
    formats = ConditionalFormattingList()
    for cf in ws.conditional_formatting:
        for rule in cf.rules:
            formats.add(" ".join(rewrite(cf.sqref.ranges)), rule)
    ws.conditional_formatting = formats
    if ws.auto_filter.ref:
        ws.auto_filter.ref = rewrite([ws.auto_filter.ref])[0]


def _grow_to(ws, last_row: int, new_last: int) -> None:
    """Validation, conditional formats and the filter that end on the last community row reach the new rows."""
    def grown(ranges):
        out = []
        for rng in ranges:
            rng = CellRange(str(rng))
            if rng.max_row == last_row and rng.min_row <= last_row:
                rng.expand(down=new_last - last_row)
            out.append(rng.coord)
        return out

    _rewrite_ranges(ws, grown)


def _status_fill(status: str | None):
    return _STATUS_FILL.get(status, PatternFill(fill_type=None))


def update_ledger_workbook(path: str | Path, analysis, table: pd.DataFrame):
    """The planner's ``ledger.xlsx`` at ``path`` with this run's figures written in (an openpyxl Workbook, not
    saved): see the module docstring. ``table``: the ledger table (:func:`geofacility.ledger.ledger_table`).

    What the planner should know (new and removed communities, rows moved, cells unmerged or typed over, workbook
    features openpyxl could not keep) goes to the workbook's 警告 sheet, after the run's own warnings, and to the open
    output set's ``notes`` for the terminal."""
    from ..outputs import current_set

    path = Path(path)
    wb, losses = _load(path)
    sheet = _find_sheet(wb, path)
    ws = sheet.ws
    ids = table["community_id"].astype(str).tolist()
    names = {cid: (norm(t), norm(c)) for cid, t, c in zip(ids, table["town"], table["community"])}
    previous = _data_names(wb)
    match = match_rows(sheet, ids, names, previous, _data_order(wb))
    if match.problems:
        raise _refuse(path, sheet, match.problems)
    notes = list(match.notes)
    settings = _workbook_settings(analysis)
    checks = list(analysis.checks)
    target = _coverage_target(settings)
    keys = _layout_keys()
    id_key = (norm(ID_HEADING), None)
    if sheet.id_col is None:  # an older ledger: the 社区编码 column is added after its last column
        sheet.id_col = ws.max_column + 1
        sheet.columns[id_key] = sheet.id_col
        _id_header(ws.cell(row=sheet.header_row, column=sheet.id_col))
        if ws.max_row >= sheet.header_row + 1:
            ws.merge_cells(start_row=sheet.header_row, start_column=sheet.id_col,
                           end_row=sheet.header_row + sheet.depth - 1, end_column=sheet.id_col)
        notes.append(_note("the 台账 sheet had no 社区编码 column: added as its last column, so later runs match rows "
                           "by id", "台账表原无社区编码列：已添加为最后一列，今后按编码对应各行"))
    planner_keys = {k for k in keys if (k[1] or k[0]) in {norm(f) for f in PLANNER_FIELDS}}
    computed = [(i, sheet.columns[k]) for i, k in enumerate(keys) if k not in planner_keys and k[0] != "序号"]
    category_of = {sheet.columns[keys[i]]: category for i, category in _status_columns().items()}
    records = table.set_index("community_id", drop=False).to_dict("index")
    writes: dict[tuple[int, int], object] = {}
    fills: dict[tuple[int, int], str | None] = {}
    for r, cid in match.rows.items():
        values = _ledger_row(0, records[cid], checks, target)
        for i, c in computed:
            writes[(r, c)] = values[i]
        for c, category in category_of.items():
            fills[(r, c)] = records[cid][f"{category}_status"]
    for r, cid in match.removed.items():
        for i, c in computed:
            top, sub = keys[i]
            if sub in ("标准", "现状"):
                writes[(r, c)] = "—"
            elif top.startswith("存在问题"):
                writes[(r, c)] = _REMOVED_TEXT
            elif (top, sub) == id_key:
                writes[(r, c)] = safe_cell_text(cid)
        for c in category_of:
            fills[(r, c)] = "not_surveyed"
    _keep_hand_edits(wb, ws, match, writes, computed, notes)
    _write_merged_aware(ws, writes, sheet, notes)
    for (r, c), status in fills.items():
        cell = ws.cell(row=r, column=c)
        if _fill_key(cell.fill) in _OUR_FILLS:  # a colour the planner chose stays
            cell.fill = _status_fill(status)
    if match.removed:
        gone = "、".join(sorted(match.removed.values())[:10])
        notes.append(_note(f"{len(match.removed)} communities of the earlier ledger are not in this run's data "
                           f"(社区编码 {gone.replace('、', ', ')}): their rows and entries are kept, marked 已移除",
                           f"上次台账中有 {len(match.removed)} 个社区不在本次数据中（社区编码 {gone}）：其行及填报内容保留，"
                           "标为已移除"))
    if match.new:
        _add_rows(ws, sheet, match, records, checks, target, notes)
    title_cell = ws.cell(row=max(1, sheet.header_row - 1), column=1)
    if sheet.header_row > 1 and not isinstance(title_cell, MergedCell) and isinstance(title_cell.value, str) \
            and norm(title_cell.value.split("\n")[0]) == norm(_title(settings)):
        title_cell.value = _title_text(settings, checks, table)
    notes += [_note(f"openpyxl could not keep part of the workbook ({loss}); the untouched earlier file is kept as "
                    "ledger.previous.xlsx", f"工作簿中有部分内容无法保留（{loss}）；未改动的原文件已另存为 "
                    "ledger.previous.xlsx") for loss in losses]
    if sheet.depth == 2:
        notes.append(_note("this ledger was written by an earlier version: its header is kept as it is (without the "
                           "row 既有社区配套设施排查摸底情况 over the categories); move the workbook away to get a "
                           "fresh ledger with it",
                           "本台账由早期版本生成：表头保持原样（无“既有社区配套设施排查摸底情况”一行）；"
                           "如需新表头，请将该工作簿移走后重新生成"))
    warnings = analysis.warnings
    if notes:
        warnings = pd.concat([warnings, pd.DataFrame([{"file": str(path), "row": "", "severity": "warning",
                                                       "message": str(note), "message_zh": getattr(note, "zh", "")}
                                                      for note in notes])], ignore_index=True)
        outputs = current_set()
        if outputs is not None:
            outputs.notes.extend(f"ledger.xlsx: {note}" for note in notes)
    _regenerate(wb, table, analysis, warnings, settings, match, sheet)
    record_written(wb, ws, {**match.rows, **match.removed, **match.added},
                   {"|".join(_layout_key_text(i)): sheet.columns[keys[i]] for i, _ in computed if keys[i] != id_key})
    return wb


def _layout_key_text(i: int) -> tuple[str, str]:
    top, sub, _ = _ledger_layout()[i]
    return top, sub or ""


def _written(wb) -> dict[str, dict[str, object]]:
    """What geofacility wrote in each computed cell last time, per normalised community id (empty when the hidden
    sheet is missing, e.g. in a ledger of an older version)."""
    if WRITTEN_SHEET not in wb.sheetnames:
        return {}
    rows = wb[WRITTEN_SHEET].iter_rows(values_only=True)
    header = [_text(v) for v in next(rows, [])]  # text: a re-save in LibreOffice or WPS may make it rich text
    out = {}
    for row in rows:
        if row and row[0] is not None:
            out[_cell_norm(row[0])] = {key: _text(v) for key, v in zip(header[1:], row[1:])}
    return out


def _keep_hand_edits(wb, ws, match: Match, writes: dict, computed, notes: list[str]) -> None:
    """A computed cell the planner typed over (its value is not what geofacility wrote there last time): the new
    figure is written, and the planner's text is kept in a note on the cell and listed — never silently lost."""
    from openpyxl.comments import Comment

    written = _written(wb)
    if not written:
        return
    edited = []
    for r, cid in {**match.rows, **match.removed}.items():
        before = written.get(norm(cid))
        if before is None:
            continue
        for i, c in computed:
            key = "|".join(_layout_key_text(i))
            if key not in before:
                continue  # the 社区编码 column: compared with the names instead
            cell = ws.cell(row=r, column=c)
            if isinstance(cell, MergedCell) or cell.value in (None, "") or key not in before:
                continue
            if _text(cell.value) != _text(before[key]) and _text(cell.value) != _text(writes.get((r, c))):
                text = f"规划人员在此格填写的内容（geofacility 每次运行重写本列，说明请写在备注）：\n{_text(cell.value)}"
                old = cell.comment.text + "\n\n" if cell.comment is not None else ""
                comment = Comment(old + text, "geofacility")
                comment.width, comment.height = 300, 150
                cell.comment = comment
                edited.append(f"{ws.cell(row=r, column=c).coordinate}")
    if edited:
        cells = f"{', '.join(edited[:10])}{' …' if len(edited) > 10 else ''}"
        notes.append(_note(f"cells {cells} had been typed over by hand; they hold this run's figures again, and what "
                           "was typed is kept in a note on each cell (write remarks in 备注)",
                           f"单元格 {cells} 曾被手工改写：已重新写入本次结果，手写内容保留在各单元格的批注中"
                           "（说明请写在备注列）"))


def _write_merged_aware(ws, writes: dict, sheet: LedgerRows, notes: list[str]) -> None:
    """Write the computed cells; a range the planner merged stays merged while every row in it gets the same
    value (镇办 merged over a town's communities), and is unmerged, with a note, when they now differ."""
    for rng in list(ws.merged_cells.ranges):
        if rng.max_row < sheet.first_row:
            continue
        cells = [(r, c) for r in range(rng.min_row, rng.max_row + 1) for c in range(rng.min_col, rng.max_col + 1)]
        hit = [rc for rc in cells if rc in writes]
        if not hit:
            continue
        anchor = (rng.min_row, rng.min_col)
        values = {_text(writes[rc]) for rc in hit}
        shown = _text(writes[anchor]) if anchor in writes else _text(ws.cell(row=anchor[0], column=anchor[1]).value)
        same = rng.min_col == rng.max_col and values == {shown}
        if same:
            for rc in cells:
                if rc != anchor:
                    writes.pop(rc, None)
        else:
            ws.unmerge_cells(rng.coord)
            notes.append(_note(f"cells {rng.coord} were merged across communities whose figures now differ: unmerged",
                               f"单元格 {rng.coord} 跨社区合并，但各社区结果已不同：已取消合并"))
    for (r, c), value in writes.items():
        ws.cell(row=r, column=c).value = value


def _add_rows(ws, sheet: LedgerRows, match: Match, records: dict, checks, target, notes: list[str]) -> None:
    """Rows for this run's new communities, after the last community row, styled as geofacility styles its rows."""
    community_rows = sorted({*match.rows, *match.removed})
    last = community_rows[-1] if community_rows else sheet.first_row - 1
    at = last + 1
    n = len(match.new)
    occupied = any(r >= at for r in sheet.rows)
    if occupied:
        if _insert_rows(ws, at, n):
            notes.append(_note(f"rows {at}–{at + n - 1} inserted for new communities; formulas of yours below them "
                               "were not rewritten: check the ranges they sum over",
                               f"为新增社区插入第 {at}–{at + n - 1} 行；其下方您的公式未改写，请核对其求和范围"))
    numbers = [seq for (_, _, _, seq) in sheet.rows.values() if isinstance(seq, (int, float))]
    start = int(max(numbers)) + 1 if numbers else 1
    styles = _named_styles(ws.parent)
    keys = _layout_keys()
    status_of = _status_columns()
    for offset, cid in enumerate(match.new):
        r = at + offset
        match.added[r] = cid
        values = _ledger_row(start + offset, records[cid], checks, target)
        for i, key in enumerate(keys):
            cell = ws.cell(row=r, column=sheet.columns[key])
            cell.value = values[i]
            style = styles["id"] if key[0] == norm(ID_HEADING) else styles[None]
            if i in status_of:
                style = styles.get(records[cid][f"{status_of[i]}_status"], styles[None])
            cell.style = style
    if not occupied:
        _grow_to(ws, last, at + n - 1)
    shown = ", ".join(match.new[:10]) + (f" and {n - 10} more" if n > 10 else "")
    shown_zh = "、".join(match.new[:10]) + (f" 等另 {n - 10} 个" if n > 10 else "")
    notes.append(_note(f"{n} communities new to the ledger (社区编码 {shown}): rows {at}–{at + n - 1}",
                       f"台账新增 {n} 个社区（社区编码 {shown_zh}）：第 {at}–{at + n - 1} 行"))


def _regenerate(wb, table: pd.DataFrame, analysis, warnings: pd.DataFrame, settings: dict, match: Match,
                sheet: LedgerRows) -> None:
    """Write geofacility's own sheets anew, where they were; the planner's sheets and order stay."""
    order = list(wb.sheetnames)
    active = wb.active.title if wb.active is not None else None
    for title in GENERATED_SHEETS:
        if title in wb.sheetnames:
            wb.remove(wb[title])
    removed_rows, header = None, None
    if match.removed:
        ws = sheet.ws
        planner_cols = sorted(sheet.planner)
        header = ["社区编号 community_id", "镇办", "社区", "台账行 row", *[safe_cell_text(sheet.planner[c])
                                                                   for c in planner_cols]]
        removed_rows = []
        for r, cid in sorted(match.removed.items()):
            row = [cid, ws.cell(row=r, column=sheet.columns[("镇办", None)]).value,
                   ws.cell(row=r, column=sheet.columns[("社区", None)]).value, r]
            row += [ws.cell(row=r, column=c).value for c in planner_cols]
            removed_rows.append([str(v) if hasattr(v, "as_list") else v for v in row])
    sheets = _generated_sheets(table, list(analysis.checks), warnings, settings,
                               getattr(analysis, "facility_load", None), removed_rows, header)
    _add_generated_sheets(wb, sheets)
    wanted = [t for t in order if t in wb.sheetnames]
    wanted += [t for t in wb.sheetnames if t not in wanted]
    # a generated sheet the earlier workbook lacked goes after the generated ones it had
    for i, title in enumerate(wanted):
        wb.move_sheet(title, offset=i - wb.sheetnames.index(title))
    if active in wb.sheetnames:
        wb.active = wb.sheetnames.index(active)
