"""The planner's monthly cycle on the real Xicheng sample: write the ledger, let a planner work on it in Excel
(emulated with openpyxl), re-run with changed facilities, and check that every entry sits on the row of the same
community id, byte for byte — whatever the planner did to the workbook (issue 13, part 1).

Run A lacks one community (it is new in run B); run B lacks another (it disappears) and has every fifth school
closed, so statuses change between the runs. Each manipulation is applied to a fresh copy of run A's ledger.
"""
from __future__ import annotations

import datetime as dt
import shutil
from copy import copy

import geopandas as gpd
import openpyxl
import pandas as pd
import pytest
from openpyxl.comments import Comment
from openpyxl.styles import Font, PatternFill
from openpyxl.worksheet.datavalidation import DataValidation

from geofacility.errors import InputError
from geofacility.ledger import REMOVED_SHEET, current_text, ledger_table, write_ledger
from geofacility.ledger.match import norm, read_planner_entries
from geofacility.pipeline import analyze
from geofacility.study import sample_inputs

LEDGER = "台账 ledger"
PLANNER = ("牵头单位", "责任单位", "完成时限", "备注（需区领导小组解决问题）")


# ------------------------------------------------------------------------------------------------ the two runs


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("xicheng")
    sample = sample_inputs()
    comm = gpd.read_file(sample["communities"])
    ids = sorted(comm["community_id"])
    new_id, gone_id = ids[-1], ids[7]
    comm[comm["community_id"] != new_id].to_file(folder / "a.geojson", driver="GeoJSON")
    comm[comm["community_id"] != gone_id].to_file(folder / "b.geojson", driver="GeoJSON")
    schools = pd.read_csv(sample["facilities"][0][0], dtype=str)
    schools[schools.index % 5 != 0].to_csv(folder / "schools_b.csv", index=False)
    common = {"demand": sample["demand"], "towns": sample["towns"], "study": sample["study"]}
    a = analyze(communities=folder / "a.geojson", facilities=sample["facilities"], **common)
    b = analyze(communities=folder / "b.geojson", facilities=[(folder / "schools_b.csv", "education")], **common)
    first = folder / "first"
    write_ledger(a, first, gpkg=False)
    table_a = ledger_table(a.communities)
    # the planner's entries: 24 communities spread over the ledger, one of them the community that disappears
    chosen = list(table_a["community_id"].iloc[::11]) + [gone_id]
    entries = {}
    for i, cid in enumerate(chosen):
        entries[cid] = {"牵头单位": f"区教委{i}", "责任单位": f"街道办事处{i}",
                        "完成时限": dt.datetime(2027, 1 + i % 12, 1 + i % 28),
                        "备注（需区领导小组解决问题）": f"需协调用地 {i}（见附件）\n第二行" if i % 3 else None}
    wb = openpyxl.load_workbook(first / "ledger.xlsx")
    ws = wb[LEDGER]
    rows = _rows_by_id(ws)
    for cid, entry in entries.items():
        for heading, value in entry.items():
            ws.cell(row=rows[cid], column=_col(ws, heading), value=value)
    wb.save(first / "ledger.xlsx")
    return {"a": a, "b": b, "first": first, "entries": entries, "new": new_id, "gone": gone_id,
            "table_b": ledger_table(b.communities).set_index("community_id", drop=False)}


def _col(ws, heading: str) -> int:
    for c in range(1, ws.max_column + 1):
        if heading in (ws.cell(row=r, column=c).value for r in (2, 3, 4)):
            return c
    raise AssertionError(f"no column {heading}")


def _rows_by_id(ws) -> dict[str, int]:
    c = _col(ws, "社区编码")
    return {norm(ws.cell(row=r, column=c).value): r for r in range(4, ws.max_row + 1)
            if ws.cell(row=r, column=c).value not in (None, "") and not str(ws.cell(row=r, column=c).value).startswith("=")}


def _fresh(runs, tmp_path):
    folder = tmp_path / "ledger"
    shutil.copytree(runs["first"], folder)
    return folder


def _rerun(runs, folder):
    write_ledger(runs["b"], folder, gpkg=False)
    return openpyxl.load_workbook(folder / "ledger.xlsx")


def _check_entries(ws, entries: dict, runs) -> None:
    """Every entry on the row of its community id, byte for byte; that row's figures are run B's."""
    rows = _rows_by_id(ws)
    status = _col(ws, "社区教育设施（标准、现状）") + 1
    for cid, entry in entries.items():
        r = rows[cid]
        for heading, value in entry.items():
            assert ws.cell(row=r, column=_col(ws, heading)).value == value, (cid, heading)
        if cid == runs["gone"]:
            assert ws.cell(row=r, column=_col(ws, "存在问题（规划、建设、移交、使用）")).value.startswith("已移除")
        else:
            assert ws.cell(row=r, column=status).value == current_text(runs["table_b"].loc[cid].to_dict(), "education")
    assert runs["new"] in rows and runs["new"] not in entries
    assert set(rows) == set(runs["table_b"].index) | {runs["gone"]}


# ------------------------------------------------------------------------------------------------ manipulations


def _data_rows(ws) -> list[int]:
    id_col = _col(ws, "社区编码")
    return [r for r in range(4, ws.max_row + 1) if ws.cell(row=r, column=id_col).value]


def _sort_rows(ws, key, *, reverse=False, skip_columns=()) -> None:
    """Sort the community rows as Excel does (values, formats and comments move with their row); columns in
    ``skip_columns`` stay where they are (a sort of a selection that missed them)."""
    rows = _data_rows(ws)
    columns = [c for c in range(1, ws.max_column + 1) if c not in skip_columns]
    snapshot = {r: [(ws.cell(row=r, column=c).value, copy(ws.cell(row=r, column=c)._style),
                     ws.cell(row=r, column=c).comment) for c in columns] for r in rows}
    order = sorted(rows, key=lambda r: key(ws, r), reverse=reverse)
    for target, source in zip(rows, order):
        for c, (value, style, comment) in zip(columns, snapshot[source]):
            cell = ws.cell(row=target, column=c)
            cell.value, cell._style = value, copy(style)
            cell.comment = copy(comment) if comment else None


def _renumber(ws) -> None:
    for i, r in enumerate(_data_rows(ws), start=1):
        ws.cell(row=r, column=1, value=i)


def sort_by_community(wb):
    ws = wb[LEDGER]
    _sort_rows(ws, lambda ws, r: str(ws.cell(row=r, column=3).value))
    _renumber(ws)


def sort_by_town_descending(wb):
    ws = wb[LEDGER]
    _sort_rows(ws, lambda ws, r: (str(ws.cell(row=r, column=2).value), str(ws.cell(row=r, column=3).value)),
               reverse=True)
    _renumber(ws)


def sort_by_deadline(wb):
    ws = wb[LEDGER]
    due = _col(ws, "完成时限")
    _sort_rows(ws, lambda ws, r: (ws.cell(row=r, column=due).value or dt.datetime(2100, 1, 1),
                                  str(ws.cell(row=r, column=3).value)))
    _renumber(ws)


def delete_data_sheet(wb):
    sort_by_community(wb)
    del wb["明细 data"]


def sort_and_filter_data_sheet(wb):
    data = wb["明细 data"]
    values = [list(r) for r in data.iter_rows(min_row=2, values_only=True)]
    for i, row in enumerate(reversed(values), start=2):
        for c, v in enumerate(row, start=1):
            data.cell(row=i, column=c, value=v)
    data.auto_filter.ref = data.dimensions
    for r in range(2, data.max_row + 1, 2):
        data.row_dimensions[r].hidden = True
    sort_by_town_descending(wb)


def filter_ledger_rows(wb):
    ws = wb[LEDGER]
    ws.auto_filter.ref = f"A3:{openpyxl.utils.get_column_letter(ws.max_column)}{ws.max_row}"
    for r in _data_rows(ws)[::3]:
        ws.row_dimensions[r].hidden = True


def blank_rows_and_totals(wb):
    ws = wb[LEDGER]
    for at in (40, 20, 6):
        ws.insert_rows(at)
    last = ws.max_row + 1
    ws.cell(row=last, column=2, value="合计")
    ws.cell(row=last, column=4, value=f"=COUNTA(C4:C{last - 1})")
    ws.cell(row=last + 2, column=2, value="填表人：张三　审核人：李四")


def ids_with_stray_characters(wb):
    ws = wb[LEDGER]
    c = _col(ws, "社区编码")
    for k, r in enumerate(_data_rows(ws)):
        value = ws.cell(row=r, column=c).value
        ws.cell(row=r, column=c, value=[f" {value} ", f"{value}\u200b", f"\t{value}\u3000", f"{value}\r\n",
                                        f"\u00a0{value}"][k % 5])


def hidden_id_column(wb):
    ws = wb[LEDGER]
    ws.column_dimensions[openpyxl.utils.get_column_letter(_col(ws, "社区编码"))].hidden = True
    sort_by_community(wb)


def _insert_column_like_excel(ws, at: int) -> None:
    """Insert a column as Excel does: merged ranges right of it move with it."""
    moved = [r for r in ws.merged_cells.ranges if r.max_col >= at]
    for r in moved:
        ws.unmerge_cells(r.coord)
    ws.insert_cols(at)
    for r in moved:
        r.shift(col_shift=1 if r.min_col >= at else 0)
        ws.merge_cells(r.coord)


def columns_added_after_remarks(wb):
    """Two columns of the planner's between 备注 and 社区编码 (and one after it), with values on some rows."""
    ws = wb[LEDGER]
    id_col = _col(ws, "社区编码")
    for heading in ("资金来源", "进展 progress"):
        _insert_column_like_excel(ws, id_col)
        ws.cell(row=2, column=id_col, value=heading)
    ws.cell(row=2, column=ws.max_column + 1, value="联系人")


def _entries_with_added_columns(runs, ws_before) -> dict:
    entries = {cid: dict(e) for cid, e in runs["entries"].items()}
    for i, cid in enumerate(sorted(entries)):
        entries[cid]["资金来源"] = f"区财政{i}" if i % 2 else None
        entries[cid]["进展 progress"] = ["已选址", "已签约", None][i % 3]
        entries[cid]["联系人"] = f"王{i} 1380000{i:04d}"
    return entries


def merged_cells_in_plan(wb):
    """The planner merges 牵头单位 over three neighbouring communities of one town and types one value."""
    ws = wb[LEDGER]
    lead = _col(ws, "牵头单位")
    rows = _data_rows(ws)[30:33]
    for r in rows[1:]:
        ws.cell(row=r, column=lead).value = None
    ws.cell(row=rows[0], column=lead, value="街道统筹")
    ws.merge_cells(start_row=rows[0], start_column=lead, end_row=rows[-1], end_column=lead)


def merged_town_cells(wb):
    """镇办 merged over each town's communities, as district ledgers are often laid out."""
    ws = wb[LEDGER]
    town = _col(ws, "镇办")
    rows = _data_rows(ws)
    start = rows[0]
    for prev, r in zip(rows, rows[1:] + [None]):
        if r is None or ws.cell(row=r, column=town).value != ws.cell(row=start, column=town).value:
            if prev > start:
                ws.merge_cells(start_row=start, start_column=town, end_row=prev, end_column=town)
            start = r


def rich_text_cells(wb):
    """Cells re-saved as rich text (runs with their own fonts), as LibreOffice or WPS may write them: names, ids,
    the hidden record of what geofacility wrote."""
    from openpyxl.cell.rich_text import CellRichText, TextBlock
    from openpyxl.cell.text import InlineFont

    def rich(value):
        text = str(value)
        return CellRichText([TextBlock(InlineFont(b=True), text[:2]), text[2:]]) if len(text) > 2 else value

    ws = wb[LEDGER]
    for r in _data_rows(ws):
        for c in (2, 3, _col(ws, "社区编码")):
            ws.cell(row=r, column=c).value = rich(ws.cell(row=r, column=c).value)
    hidden = wb["geofacility_written"]
    for cell in hidden[1]:
        cell.value = rich(cell.value)
    sort_by_community(wb)


MANIPULATIONS = [rich_text_cells, sort_by_community, sort_by_town_descending, sort_by_deadline, delete_data_sheet,
                 sort_and_filter_data_sheet, filter_ledger_rows, blank_rows_and_totals, ids_with_stray_characters,
                 hidden_id_column, columns_added_after_remarks, merged_cells_in_plan, merged_town_cells]


@pytest.mark.parametrize("manipulate", MANIPULATIONS, ids=lambda f: f.__name__)
def test_entries_stay_on_their_community(runs, tmp_path, manipulate):
    folder = _fresh(runs, tmp_path)
    wb = openpyxl.load_workbook(folder / "ledger.xlsx")
    manipulate(wb)
    entries = {cid: dict(e) for cid, e in runs["entries"].items()}
    if manipulate is columns_added_after_remarks:
        entries = _entries_with_added_columns(runs, wb[LEDGER])
        rows = _rows_by_id(wb[LEDGER])
        for cid, entry in entries.items():
            for heading in ("资金来源", "进展 progress", "联系人"):
                wb[LEDGER].cell(row=rows[cid], column=_col(wb[LEDGER], heading), value=entry[heading])
    merged_before = {str(r) for r in wb[LEDGER].merged_cells.ranges}
    if manipulate is merged_cells_in_plan:
        ws = wb[LEDGER]
        rows = _rows_by_id(ws)
        lead = _col(ws, "牵头单位")
        for cid in entries:
            entries[cid]["牵头单位"] = ws.cell(row=rows[cid], column=lead).value
    wb.save(folder / "ledger.xlsx")
    before = openpyxl.load_workbook(folder / "ledger.xlsx")
    rows_before = _rows_by_id(before[LEDGER])

    after = _rerun(runs, folder)
    ws = after[LEDGER]
    _check_entries(ws, entries, runs)
    rows_after = _rows_by_id(ws)
    # the planner's row order and numbering stay; only the new community is added, after the last community row
    assert {cid: r for cid, r in rows_after.items() if cid != runs["new"]} == rows_before
    assert rows_after[runs["new"]] == max(rows_before.values()) + 1
    if manipulate in (merged_cells_in_plan, merged_town_cells):
        assert merged_before <= {str(r) for r in ws.merged_cells.ranges}
    if manipulate is blank_rows_and_totals:
        totals = next(r for r in range(4, ws.max_row + 1) if ws.cell(row=r, column=2).value == "合计")
        assert totals == rows_after[runs["new"]] + 1  # moved down below the new row, formula and all
        assert ws.cell(row=totals, column=4).value.startswith("=COUNTA(")
        assert ws.cell(row=totals + 2, column=2).value == "填表人：张三　审核人：李四"
    # the removed community: its row and entries kept, listed on the removed sheet too
    removed = list(after[REMOVED_SHEET].iter_rows(min_row=2, values_only=True))
    assert [r[0] for r in removed] == [runs["gone"]]
    # and the entries read back by id (what ledger diff uses) are the same
    read = read_planner_entries(folder / "ledger.xlsx")
    for cid, entry in entries.items():
        for heading, value in entry.items():
            got = read.values.loc[cid, heading] if cid in read.values.index else None
            assert (got is None or got != got) if value is None else got == value


# ------------------------------------------------------------------------------------------------ the planner's own


def _extra_sheet(wb):
    sheet = wb.create_sheet("领导批示", 0)
    sheet["A1"] = "请各街道于月底前报送进展"
    sheet["B2"] = "=COUNTA('台账 ledger'!C4:C300)"
    sheet.column_dimensions["A"].width = 40
    return lambda wb2: (wb2.sheetnames[0] == "领导批示" and wb2["领导批示"]["A1"].value == "请各街道于月底前报送进展"
                        and wb2["领导批示"]["B2"].value == "=COUNTA('台账 ledger'!C4:C300)"
                        and wb2["领导批示"].column_dimensions["A"].width == 40)


def _comments(wb):
    ws = wb[LEDGER]
    rows = _data_rows(ws)
    ws.cell(row=rows[5], column=3).comment = Comment("边界待核实", "李科长")
    ws.cell(row=rows[9], column=_col(ws, "备注（需区领导小组解决问题）")).comment = Comment("已上报", "王主任")
    ids = [ws.cell(row=rows[i], column=_col(ws, "社区编码")).value for i in (5, 9)]

    def check(wb2):
        ws2, by_id = wb2[LEDGER], _rows_by_id(wb2[LEDGER])
        return (ws2.cell(row=by_id[ids[0]], column=3).comment.text == "边界待核实"
                and ws2.cell(row=by_id[ids[1]], column=_col(ws2, "备注（需区领导小组解决问题）")).comment.author == "王主任")
    return check


def _fills_and_fonts(wb):
    ws = wb[LEDGER]
    rows = _data_rows(ws)
    yellow, blue = PatternFill("solid", fgColor="FFFF00"), PatternFill("solid", fgColor="9BC2E6")
    status = _col(ws, "社区教育设施（标准、现状）") + 1
    marked = {}
    for k, (r, col) in enumerate([(rows[2], 3), (rows[3], _col(ws, "牵头单位")), (rows[4], status)]):
        cell = ws.cell(row=r, column=col)
        cell.fill = yellow if k < 2 else blue
        cell.font = Font(bold=True, color="FF0000")
        marked[(ws.cell(row=r, column=_col(ws, "社区编码")).value, col)] = "FFFF00" if k < 2 else "9BC2E6"

    def check(wb2):
        ws2, by_id = wb2[LEDGER], _rows_by_id(wb2[LEDGER])
        for (cid, col), rgb in marked.items():
            cell = ws2.cell(row=by_id[cid], column=col)
            if not (cell.fill.fgColor.rgb.endswith(rgb) and cell.font.bold and cell.font.color.rgb.endswith("FF0000")):
                return False
        return True
    return check


def _column_widths(wb):
    ws = wb[LEDGER]
    ws.column_dimensions["S"].width = 61
    ws.column_dimensions["W"].width = 33
    return lambda wb2: (wb2[LEDGER].column_dimensions["S"].width == 61
                        and wb2[LEDGER].column_dimensions["W"].width == 33)


def _data_validation(wb):
    ws = wb[LEDGER]
    last = max(_data_rows(ws))
    lead = openpyxl.utils.get_column_letter(_col(ws, "牵头单位"))
    due = openpyxl.utils.get_column_letter(_col(ws, "完成时限"))
    units = DataValidation(type="list", formula1='"区教委,区民政局,区卫健委,街道办事处"', allow_blank=True)
    units.add(f"{lead}4:{lead}{last}")
    dates = DataValidation(type="date", operator="greaterThan", formula1="45658")
    dates.add(f"{due}4:{due}{last}")
    ws.add_data_validation(units)
    ws.add_data_validation(dates)

    def check(wb2):
        dvs = {dv.type: str(dv.sqref) for dv in wb2[LEDGER].data_validations.dataValidation}
        # ranges that ended on the last community row now reach the new community's row
        return dvs == {"list": f"{lead}4:{lead}{last + 1}", "date": f"{due}4:{due}{last + 1}"}
    return check


def _print_settings(wb):
    ws = wb[LEDGER]
    ws.page_setup.orientation = "portrait"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.print_area = "A1:W100"
    ws.page_margins.left = 0.3
    ws.oddHeader.center.text = "西城区社区配套设施台账（内部）"
    ws.freeze_panes = "D4"
    return lambda wb2: (wb2[LEDGER].page_setup.orientation == "portrait"
                        and str(wb2[LEDGER].page_setup.paperSize) == str(ws.PAPERSIZE_A4)
                        and "A$1:$W$100" in str(wb2[LEDGER].print_area) and wb2[LEDGER].page_margins.left == 0.3
                        and wb2[LEDGER].oddHeader.center.text == "西城区社区配套设施台账（内部）"
                        and wb2[LEDGER].freeze_panes == "D4")


ADDITIONS = [_extra_sheet, _comments, _fills_and_fonts, _column_widths, _data_validation, _print_settings]


@pytest.mark.parametrize("add", ADDITIONS, ids=lambda f: f.__name__.strip("_"))
def test_the_planners_additions_survive(runs, tmp_path, add):
    folder = _fresh(runs, tmp_path)
    wb = openpyxl.load_workbook(folder / "ledger.xlsx")
    sort_by_community(wb)  # and the rows sorted, as a planner would
    check = add(wb)
    wb.save(folder / "ledger.xlsx")
    after = _rerun(runs, folder)
    assert check(after)
    _check_entries(after[LEDGER], runs["entries"], runs)
    after = _rerun(runs, folder)  # and again: nothing accumulates or drifts
    assert check(after)
    assert after.sheetnames.count("明细 data") == 1 and after.sheetnames.count("警告 warnings") == 1


def test_an_older_ledger_without_the_id_column(runs, tmp_path):
    """A ledger of the earlier version (no 社区编码), sorted and renumbered: matched by its 明细 sheet and the
    names, never by position, and given the column."""
    folder = _fresh(runs, tmp_path)
    wb = openpyxl.load_workbook(folder / "ledger.xlsx")
    ws = wb[LEDGER]
    sort_by_community(wb)
    id_col = _col(ws, "社区编码")
    ids = {r: ws.cell(row=r, column=id_col).value for r in _data_rows(ws)}
    for rng in [r for r in ws.merged_cells.ranges if r.min_col == id_col]:
        ws.unmerge_cells(rng.coord)
    ws.delete_cols(id_col)
    wb.save(folder / "ledger.xlsx")
    after = _rerun(runs, folder)
    ws = after[LEDGER]
    assert {r: cid for cid, r in _rows_by_id(ws).items() if cid != runs["new"]} == ids
    _check_entries(ws, runs["entries"], runs)


# ------------------------------------------------------------------------------------------------ refused


def leave_the_id_column_behind(wb):
    ws = wb[LEDGER]
    _sort_rows(ws, lambda ws, r: str(ws.cell(row=r, column=3).value), skip_columns=(_col(ws, "社区编码"),))


def copy_a_row_over_another(wb):
    ws = wb[LEDGER]
    rows, c = _data_rows(ws), _col(ws, "社区编码")
    for col in range(1, ws.max_column + 1):
        ws.cell(row=rows[3], column=col, value=ws.cell(row=rows[2], column=col).value)
    assert ws.cell(row=rows[3], column=c).value == ws.cell(row=rows[2], column=c).value


def clear_an_id(wb):
    ws = wb[LEDGER]
    ws.cell(row=_data_rows(ws)[4], column=_col(ws, "社区编码")).value = None


def type_another_id(wb):
    ws = wb[LEDGER]
    rows, c = _data_rows(ws), _col(ws, "社区编码")
    ws.cell(row=rows[4], column=c, value=ws.cell(row=rows[5], column=c).value + "X")


def delete_a_figures_column(wb):
    wb[LEDGER].delete_cols(3)


REFUSED = [(leave_the_id_column_behind, "but the row shows"), (copy_a_row_over_another, "have the same 社区编码"),
           (clear_an_id, "no 社区编码, but the row shows"), (type_another_id, "is not a community of this run"),
           (delete_a_figures_column, "are missing")]


@pytest.mark.parametrize("manipulate,text", REFUSED, ids=[f.__name__ for f, _ in REFUSED])
def test_rows_that_cannot_be_matched_stop_the_run(runs, tmp_path, manipulate, text):
    folder = _fresh(runs, tmp_path)
    wb = openpyxl.load_workbook(folder / "ledger.xlsx")
    manipulate(wb)
    wb.save(folder / "ledger.xlsx")
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    with pytest.raises(InputError, match=text) as caught:
        write_ledger(runs["b"], folder, gpkg=False)
    message = str(caught.value)
    assert "\n" not in message and "row" in message and "nothing was written" in message
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before  # nothing replaced, nothing added


def test_a_figure_typed_over_by_hand_and_a_totals_formula(runs, tmp_path):
    """A planner typed over a computed cell (存在问题): the new figure is written and their text kept in a note on the
    cell and in the warnings; a totals row counting the 社区编码 column with a formula is left alone."""
    from geofacility.ledger import problem_text

    folder = _fresh(runs, tmp_path)
    wb = openpyxl.load_workbook(folder / "ledger.xlsx")
    ws = wb[LEDGER]
    rows, problem, id_col = _rows_by_id(ws), _col(ws, "存在问题（规划、建设、移交、使用）"), _col(ws, "社区编码")
    cid = sorted(set(runs["entries"]) - {runs["gone"]})[3]
    ws.cell(row=rows[cid], column=problem).value = "已协调区教委，2027年开学前解决"
    last = ws.max_row + 2
    ws.cell(row=last, column=2, value="合计")
    ws.cell(row=last, column=id_col, value=f"=COUNTA(X4:X{last - 2})")
    wb.save(folder / "ledger.xlsx")
    after = _rerun(runs, folder)
    ws = after[LEDGER]
    cell = ws.cell(row=_rows_by_id(ws)[cid], column=problem)
    assert cell.value == problem_text(runs["table_b"].loc[cid].to_dict())
    assert "已协调区教委，2027年开学前解决" in cell.comment.text
    totals = next(r for r in range(4, ws.max_row + 1) if ws.cell(row=r, column=2).value == "合计")
    assert ws.cell(row=totals, column=id_col).value.startswith("=COUNTA(")
    warnings = [r[3] for r in after["警告 warnings"].iter_rows(min_row=2, values_only=True)]
    assert any("typed over by hand" in str(w) for w in warnings)
    _check_entries(ws, runs["entries"], runs)


def test_the_monthly_cycle_on_the_command_line(tmp_path):
    """The bundled sample through the CLI: analyze, the planner sorts the ledger and types entries, the schools
    change, analyze again into the same folder (the terminal says what happened to the workbook), ledger diff
    between the two."""
    import subprocess
    import sys

    sample = sample_inputs()
    out = tmp_path / "xicheng"
    base = ["--communities", str(sample["communities"]), "--demand", str(sample["demand"]), "--towns",
            str(sample["towns"]), "--study", "北京市西城区", "--out", str(out)]
    schools = pd.read_csv(sample["facilities"][0][0], dtype=str)
    schools[schools.index % 4 != 0].to_csv(tmp_path / "schools_dec.csv", index=False)

    def run(*args):
        result = subprocess.run([sys.executable, "-m", "geofacility.cli", *args], capture_output=True, text=True,
                                cwd=tmp_path, timeout=300)
        assert result.returncode == 0, result.stderr
        return result

    run("analyze", *base, "--facilities", f"education={sample['facilities'][0][0]}")
    wb = openpyxl.load_workbook(out / "ledger.xlsx")
    sort_by_community(wb)
    ws = wb[LEDGER]
    rows = _rows_by_id(ws)
    typed = {cid: f"第{i}批" for i, cid in enumerate(sorted(rows)[::20])}
    for cid, text in typed.items():
        ws.cell(row=rows[cid], column=_col(ws, "牵头单位"), value=text)
        ws.cell(row=rows[cid], column=_col(ws, "完成时限"), value=dt.datetime(2026, 10, 31))
    wb.save(out / "ledger.xlsx")
    second = run("analyze", *base, "--facilities", f"education={tmp_path / 'schools_dec.csv'}")
    assert "run.json" in second.stdout
    ws = openpyxl.load_workbook(out / "ledger.xlsx")[LEDGER]
    rows_after = _rows_by_id(ws)
    assert rows_after == rows  # same rows, the planner's order
    for cid, text in typed.items():
        assert ws.cell(row=rows_after[cid], column=_col(ws, "牵头单位")).value == text
    diff = run("ledger", "diff", str(out / "ledger.previous.xlsx"), str(out / "ledger.xlsx"), "--out",
               str(tmp_path / "进展"), "--today", "2026-12-04")
    assert "新增 opened" in diff.stderr and "input facilities" in diff.stderr  # the schools file changed
    report = (tmp_path / "进展" / "progress.md").read_text(encoding="utf-8")
    assert "逾期 overdue communities:" in report
    # only the schools file changed: said as such, not blamed on a setting
    assert "两次运行的输入文件不同" in report and "设置变化" not in report
    assert "input facilities: primary_schools.csv → schools_dec.csv" in report
    assert "a changed setting" not in diff.stderr


def _as_previous_version(ws) -> None:
    """Give a 台账 sheet the header of the version before issue 14 §3: two rows (headings and 标准/现状), no row
    既有社区配套设施排查摸底情况, data from row 4 — what a district office's ledger filed last month looks like."""
    for rng in [r for r in ws.merged_cells.ranges if r.min_row <= 4]:
        ws.unmerge_cells(rng.coord)
    n = ws.max_column
    for c in range(1, n + 1):
        if ws.cell(row=3, column=c).value is not None:  # the category headings go up into the umbrella row
            ws.cell(row=2, column=c).value = ws.cell(row=3, column=c).value
    ws.delete_rows(3)
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=n)
    c = 1
    while c <= n:
        if ws.cell(row=3, column=c).value is None:
            ws.merge_cells(start_row=2, start_column=c, end_row=3, end_column=c)
            c += 1
            continue
        span = 1
        while c + span <= n and ws.cell(row=2, column=c + span).value is None \
                and ws.cell(row=3, column=c + span).value is not None:
            span += 1
        if span > 1:
            ws.merge_cells(start_row=2, start_column=c, end_row=2, end_column=c + span - 1)
        c += span


def test_a_ledger_of_the_previous_version_without_the_umbrella_row_still_works(runs, tmp_path):
    """Last month's ledger has a two-row header: the re-run finds every column and row in it, keeps its header as
    it is (inserting a row would move what the planner's formulas point at) and says so in the 警告 sheet."""
    folder = _fresh(runs, tmp_path)
    wb = openpyxl.load_workbook(folder / "ledger.xlsx")
    ws = wb[LEDGER]
    _as_previous_version(ws)
    assert ws["E2"].value == "社区教育设施（标准、现状）" and ws["E3"].value == "标准" and ws["T3"].value == "牵头单位"
    first_before = ws.cell(row=4, column=3).value
    wb.save(folder / "ledger.xlsx")
    for _ in range(2):  # and again, into the ledger this re-run wrote
        after = _rerun(runs, folder)
        ws = after[LEDGER]
        assert ws["E2"].value == "社区教育设施（标准、现状）" and ws["E3"].value == "标准"
        assert all(ws.cell(row=2, column=c).value != "既有社区配套设施排查摸底情况" for c in range(1, 25))
        assert ws.cell(row=4, column=3).value == first_before  # data still from row 4
        _check_entries(ws, runs["entries"], runs)
        problem = _col(ws, "存在问题（规划、建设、移交、使用）")
        rows = _rows_by_id(ws)
        cid = next(i for i in runs["table_b"].index if runs["table_b"].loc[i, "education_status"] == "gap")
        assert ws.cell(row=rows[cid], column=problem).value.startswith("教育【")
        warnings = [r[3] for r in after["警告 warnings"].iter_rows(min_row=2, values_only=True)]
        assert any(str(w).startswith("本台账由早期版本生成") for w in warnings)


def test_a_new_ledger_re_run_keeps_the_umbrella_row(runs, tmp_path):
    folder = _fresh(runs, tmp_path)
    after = _rerun(runs, folder)
    ws = after[LEDGER]
    assert ws["E2"].value == "既有社区配套设施排查摸底情况" and ws["E3"].value == "社区教育设施（标准、现状）"
    assert "E2:R2" in {str(r) for r in ws.merged_cells.ranges}
    _check_entries(ws, runs["entries"], runs)
    warnings = [str(r[3]) for r in after["警告 warnings"].iter_rows(min_row=2, values_only=True)]
    assert not any("早期版本" in w for w in warnings)
    assert any(w.startswith("台账新增 1 个社区") for w in warnings)  # Chinese first, English after
