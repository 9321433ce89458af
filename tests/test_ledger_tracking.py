"""Re-running into a folder with an earlier ledger.xlsx keeps everything the planner typed into it."""
from __future__ import annotations

import datetime as dt

import openpyxl
import pytest

from conftest import write_grid_files
from geofacility.errors import InputError
from geofacility.ledger import PREVIOUS_XLSX, REMOVED_SHEET, read_planner_entries, write_ledger
from geofacility.pipeline import analyze

FIRST_ROW = 4


def _rows_by_community(ws, data) -> dict:
    """community name (社区 column) → ledger row number."""
    return {ws.cell(row=r, column=3).value: r for r in range(FIRST_ROW, ws.max_row + 1) if ws.cell(row=r, column=3).value}


def _column(ws, heading: str) -> int:
    for col in range(1, ws.max_column + 1):
        if heading in (ws.cell(row=r, column=col).value for r in (2, 3, 4)):
            return col
    raise AssertionError(heading)


def _plan(tmp_path, grid_communities, grid_facilities, **kw):
    tmp_path.mkdir(parents=True, exist_ok=True)
    comm, fac = write_grid_files(tmp_path, grid_communities, grid_facilities)
    return analyze(communities=comm, facilities=[fac], radius={"education": 520}, **kw)


def test_planner_entries_survive_a_rerun(tmp_path, grid_communities, grid_facilities):
    out = tmp_path / "ledger"
    write_ledger(_plan(tmp_path / "a", grid_communities, grid_facilities), out)
    wb = openpyxl.load_workbook(out / "ledger.xlsx")
    ws = wb.worksheets[0]
    rows = _rows_by_community(ws, wb["明细 data"])
    lead, due, note = _column(ws, "牵头单位"), _column(ws, "完成时限"), _column(ws, "备注（需区领导小组解决问题）")
    ws.cell(row=rows["社区32"], column=lead, value="区教委")
    ws.cell(row=rows["社区32"], column=due, value=dt.datetime(2027, 6, 30))
    ws.cell(row=rows["社区11"], column=note, value="=需协调用地")
    extra = ws.max_column + 1
    ws.cell(row=2, column=extra, value="进展 progress")
    ws.cell(row=rows["社区11"], column=extra, value="已选址")
    wb.save(out / "ledger.xlsx")

    # facilities change (school B closes) and the ledger is written again into the same folder
    changed = _plan(tmp_path / "b", grid_communities, grid_facilities.iloc[:1])
    write_ledger(changed, out)
    assert (out / PREVIOUS_XLSX).exists()
    wb = openpyxl.load_workbook(out / "ledger.xlsx")
    ws = wb.worksheets[0]
    rows = _rows_by_community(ws, wb["明细 data"])
    assert ws.cell(row=rows["社区32"], column=_column(ws, "牵头单位")).value == "区教委"
    assert ws.cell(row=rows["社区32"], column=_column(ws, "完成时限")).value == dt.datetime(2027, 6, 30)
    # the planner's cell is theirs, byte for byte (here what openpyxl stores for a typed "=…": a formula)
    assert ws.cell(row=rows["社区11"], column=_column(ws, "备注（需区领导小组解决问题）")).value == "=需协调用地"
    assert ws.cell(row=rows["社区11"], column=_column(ws, "进展 progress")).value == "已选址"
    assert ws.cell(row=rows["社区22"], column=_column(ws, "牵头单位")).value is None
    entries = read_planner_entries(out / "ledger.xlsx")  # and again, unchanged: text read back as typed
    assert entries.values.loc["C11", "备注（需区领导小组解决问题）"] == "=需协调用地"
    assert sorted(entries.values.index) == ["C11", "C32"]


def test_entries_of_a_community_that_disappears_are_kept(tmp_path, grid_communities, grid_facilities):
    out = tmp_path / "ledger"
    write_ledger(_plan(tmp_path / "a", grid_communities, grid_facilities), out)
    wb = openpyxl.load_workbook(out / "ledger.xlsx")
    ws = wb.worksheets[0]
    ws.cell(row=_rows_by_community(ws, None)["社区33"], column=_column(ws, "责任单位"), value="西街道办")
    wb.save(out / "ledger.xlsx")
    fewer = grid_communities[grid_communities["community_id"] != "C33"]
    for run in ("b", "c"):  # kept on the removed sheet, and still there a run later
        write_ledger(_plan(tmp_path / run, fewer, grid_facilities), out)
        wb = openpyxl.load_workbook(out / "ledger.xlsx")
        removed = [r for r in wb[REMOVED_SHEET].iter_rows(min_row=2, values_only=True)]
        assert [(r[0], r[2]) for r in removed] == [("C33", "社区33")]
        assert "西街道办" in removed[0]


def test_an_unreadable_earlier_ledger_is_not_overwritten(tmp_path, grid_communities, grid_facilities):
    out = tmp_path / "ledger"
    out.mkdir()
    (out / "ledger.xlsx").write_bytes(b"not a workbook")
    with pytest.raises(InputError, match="would be lost"):
        write_ledger(_plan(tmp_path / "a", grid_communities, grid_facilities), out)
    assert (out / "ledger.xlsx").read_bytes() == b"not a workbook"
