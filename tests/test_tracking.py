"""ledger diff: gaps closed (销号), opened and changed between two ledgers; overdue items; progress per town."""
from __future__ import annotations

import datetime as dt

import openpyxl
import pandas as pd

from conftest import write_grid_files
from geofacility.ledger import write_ledger
from geofacility.pipeline import analyze
from geofacility.tracking import ledger_diff, write_progress


def _ledger(folder, communities, facilities):
    folder.mkdir(parents=True, exist_ok=True)
    comm, fac = write_grid_files(folder, communities, facilities)
    analysis = analyze(communities=comm, facilities=[fac], radius={"education": 520})
    write_ledger(analysis, folder / "ledger")
    return analysis, folder / "ledger"


def test_closed_opened_and_overdue(tmp_path, grid_communities, grid_facilities):
    old_a, old = _ledger(tmp_path / "old", grid_communities, grid_facilities.iloc[:1])  # only school A
    new_a, new = _ledger(tmp_path / "new", grid_communities, grid_facilities)  # school B opens in C33
    before = old_a.communities.set_index("community_id")["education_status"]
    after = new_a.communities.set_index("community_id")["education_status"]
    closed = sorted(before.index[(before == "gap") & (after == "ok")])
    assert closed  # B fixes some gaps
    # the planner set a deadline on a community still short in the new ledger
    still = sorted(after.index[after == "gap"])[0]
    wb = openpyxl.load_workbook(new / "ledger.xlsx")
    ws = wb.worksheets[0]
    due_col = next(c for c in range(1, ws.max_column + 1) if ws.cell(row=4, column=c).value == "完成时限")
    data = pd.read_excel(new / "ledger.xlsx", sheet_name="明细 data", dtype=str)
    row = 5 + list(data["community_id"]).index(still)
    ws.cell(row=row, column=due_col, value=dt.datetime(2026, 10, 31))
    wb.save(new / "ledger.xlsx")

    changes, overdue = ledger_diff(old, new, today=dt.date(2026, 11, 26))
    assert sorted(changes.loc[changes["change"] == "closed", "community_id"]) == closed
    assert (changes.loc[changes["change"] == "closed", "category"] == "education").all()
    assert not (changes["change"] == "opened").any()
    assert list(overdue["community_id"]) == [still] and overdue["days_overdue"].iloc[0] == 26
    reverse, _ = ledger_diff(new, old, today=dt.date(2026, 11, 26))
    assert sorted(reverse.loc[reverse["change"] == "opened", "community_id"]) == closed

    paths = write_progress(old, new, tmp_path / "report", today=dt.date(2026, 11, 26))
    towns = pd.read_excel(paths["xlsx"], sheet_name="进展 by town")
    assert towns["closed"].sum() == len(closed)
    assert towns.set_index("town")["open_gaps"].sum() == int((after == "gap").sum())
    assert f"销号 closed: {len(closed)}" in paths["md"].read_text(encoding="utf-8")


def test_ledger_diff_command(tmp_path, grid_communities, grid_facilities):
    import subprocess
    import sys

    _, old = _ledger(tmp_path / "old", grid_communities, grid_facilities.iloc[:1])
    _, new = _ledger(tmp_path / "new", grid_communities, grid_facilities)
    result = subprocess.run([sys.executable, "-m", "geofacility.cli", "ledger", "diff", str(old), str(new), "--out",
                             str(tmp_path / "report"), "--today", "2026-11-26"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "销号 closed" in result.stderr and (tmp_path / "report" / "progress.xlsx").exists()
    bad = subprocess.run([sys.executable, "-m", "geofacility.cli", "ledger", "diff", str(old), str(tmp_path / "x.xlsx")],
                         capture_output=True, text=True, cwd=tmp_path)
    assert bad.returncode == 2 and "not found" in bad.stderr
    assert not (tmp_path / "output").exists()  # the default --out folder is not left behind, empty


def test_names_from_the_data_cannot_become_formulas_in_the_report(tmp_path, grid_communities, grid_facilities):
    evil = grid_communities.copy()
    evil["community"] = '=HYPERLINK("http://x","点我")'
    evil["town"] = evil["town"].where(evil["town"] != "东街道", "东|街道")  # a pipe would break the Markdown table
    _, old = _ledger(tmp_path / "old", evil, grid_facilities.iloc[:1])
    _, new = _ledger(tmp_path / "new", evil, grid_facilities)
    paths = write_progress(old, new, tmp_path / "report", today=dt.date(2026, 11, 26))
    raw = paths["changes"].read_text(encoding="utf-8-sig")
    assert "'=HYPERLINK" in raw and ",=HYPERLINK" not in raw
    assert "| 东\\|街道 |" in paths["md"].read_text(encoding="utf-8")
    cells = [c.value for row in openpyxl.load_workbook(paths["xlsx"])["变化 changes"].iter_rows() for c in row]
    assert not any(isinstance(v, str) and v.startswith("=") for v in cells)


def test_deadlines_typed_in_the_earlier_ledger_count(tmp_path, grid_communities, grid_facilities):
    """The README's monthly cycle with a fresh folder for 十一月: the planner typed 完成时限 only in 十月's ledger.
    Overdue items still show, and say which file each deadline came from; one typed in the later ledger wins."""
    _, old = _ledger(tmp_path / "十月", grid_communities, grid_facilities.iloc[:1])
    new_a, new = _ledger(tmp_path / "十一月", grid_communities, grid_facilities.iloc[:1])
    short = sorted(new_a.communities.loc[new_a.communities["education_status"] == "gap", "community_id"])[:2]
    for folder, cid, due in ((old, short[0], dt.datetime(2026, 9, 30)), (old, short[1], dt.datetime(2026, 8, 31)),
                             (new, short[1], dt.datetime(2026, 12, 31))):
        wb = openpyxl.load_workbook(folder / "ledger.xlsx")
        ws = wb["台账 ledger"]
        id_col = next(c for c in range(1, ws.max_column + 1) if ws.cell(row=2, column=c).value == "社区编码")
        due_col = next(c for c in range(1, ws.max_column + 1) if ws.cell(row=4, column=c).value == "完成时限")
        row = next(r for r in range(5, ws.max_row + 1) if ws.cell(row=r, column=id_col).value == cid)
        ws.cell(row=row, column=due_col, value=due)
        wb.save(folder / "ledger.xlsx")
    _, overdue = ledger_diff(old, new, today=dt.date(2026, 11, 26))
    assert overdue.set_index("community_id")["deadline"].to_dict() == {short[0]: "2026-09-30"}  # short[1]: Dec
    assert overdue["deadline_from"].tolist() == [str(old / "ledger.xlsx")]
    assert overdue["days_overdue"].tolist() == [57]


def test_the_report_says_which_runs_and_what_differs(tmp_path, grid_communities, grid_facilities):
    """A gap closed by a larger radius is not a facility built: the report lists the changed standard and input."""
    folder = tmp_path / "a"
    folder.mkdir()
    comm, fac = write_grid_files(folder, grid_communities, grid_facilities)
    from geofacility.outputs import output_set

    for name, radius in (("old", 520), ("new", 900)):
        analysis = analyze(communities=comm, facilities=[fac], radius={"education": radius})
        with output_set(tmp_path / name):
            write_ledger(analysis, tmp_path / name)
    paths = write_progress(tmp_path / "old", tmp_path / "new", tmp_path / "report", today=dt.date(2026, 11, 26))
    md = paths["md"].read_text(encoding="utf-8")
    assert "setting standards_applied: ['education/primary_school r=520 m'] → ['education/primary_school r=900 m']" \
        in md
    assert "不一定来自设施建设" in md and "run " in md
    runs = [c.value for c in openpyxl.load_workbook(paths["xlsx"])["对比 runs"]["A"]]
    assert any("r=900 m" in str(v) for v in runs)
