"""Gap tracking (问题销号): what changed between two ledgers, and a progress report per town.

:func:`ledger_diff` compares an earlier and a later ``ledger.xlsx`` (their 明细 data sheets) community by
community and category: a gap that is gone is **closed** (销号), a new one is **opened**, one whose problem text
changed is **changed**; a category surveyed in only one of the two is reported as such, never as closed or opened.
Open items whose 完成时限 (deadline, from the later ledger's planner entries) has passed are **overdue**.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd

from .atomic import atomic_path
from .errors import InputError
from .ledger import read_planner_entries, unescape_cell_text
from .standards import CATEGORIES, CATEGORY_SHORT_ZH

__all__ = ["ledger_diff", "progress_by_town", "write_progress", "CHANGE_COLUMNS"]

CHANGE_COLUMNS = ["town", "community_id", "community", "category", "change", "old_status", "new_status",
                  "old_problem", "new_problem"]
_CHANGE_ZH = {"closed": "销号 closed", "opened": "新增 opened", "changed": "变化 changed",
              "survey": "调查范围变化 survey changed"}


def _read(path) -> pd.DataFrame:
    path = Path(path)
    if path.is_dir():
        path = path / "ledger.xlsx"
    try:
        table = pd.read_excel(path, sheet_name="明细 data", dtype=str, keep_default_na=False)
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except (ValueError, KeyError):
        raise InputError(f"{path}: not a geofacility ledger.xlsx (no 明细 data sheet)") from None
    except Exception as exc:  # unreadable workbook
        raise InputError(f"{path}: cannot be read as a ledger ({exc})") from None
    return table.map(unescape_cell_text).set_index("community_id", drop=False)


def ledger_diff(old, new, *, today: dt.date | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(changes, overdue) between the ledgers ``old`` and ``new`` (``ledger.xlsx`` files or their folders).

    ``changes``: one row per community × category whose state changed (:data:`CHANGE_COLUMNS`). ``overdue``:
    communities of ``new`` still short of standard whose 完成时限 is before ``today``."""
    before, after = _read(old), _read(new)
    ids = sorted(set(before.index) | set(after.index))
    # names as the later ledger has them, the earlier one's for communities it no longer lists
    names = after[["town", "community"]].combine_first(before[["town", "community"]])
    rows = []
    for category in CATEGORIES:
        s_old = before.get(f"{category}_status", pd.Series(dtype=str)).reindex(ids).fillna("absent")
        s_new = after.get(f"{category}_status", pd.Series(dtype=str)).reindex(ids).fillna("absent")
        p_old = before.get(f"{category}_problem", pd.Series(dtype=str)).reindex(ids).fillna("")
        p_new = after.get(f"{category}_problem", pd.Series(dtype=str)).reindex(ids).fillna("")
        on_old, on_new = s_old.isin(["ok", "gap"]), s_new.isin(["ok", "gap"])
        present = (s_old != "absent") & (s_new != "absent")
        both = on_old & on_new
        change = pd.Series("", index=ids, dtype=object)
        change[both & (s_old == "gap") & (s_new == "ok")] = "closed"
        change[both & (s_old == "ok") & (s_new == "gap")] = "opened"
        change[both & (s_old == "gap") & (s_new == "gap") & (p_old != p_new)] = "changed"
        change[present & (on_old != on_new)] = "survey"  # surveyed in one ledger only: neither closed nor opened
        change[(s_old == "absent") & (s_new == "gap")] = "opened"  # a community new to the ledger, with a gap
        picked = change.index[change != ""]
        rows.append(pd.DataFrame({
            "town": names.loc[picked, "town"].to_numpy(), "community_id": picked,
            "community": names.loc[picked, "community"].to_numpy(), "category": category,
            "change": change[picked].to_numpy(), "old_status": s_old[picked].to_numpy(),
            "new_status": s_new[picked].to_numpy(), "old_problem": p_old[picked].to_numpy(),
            "new_problem": p_new[picked].to_numpy()}))
    changes = pd.concat(rows, ignore_index=True)[CHANGE_COLUMNS].sort_values(
        ["town", "community_id", "category"], key=lambda s: s.map({c: i for i, c in enumerate(CATEGORIES)})
        if s.name == "category" else s, kind="stable").reset_index(drop=True)
    today = today or dt.date.today()
    entries = read_planner_entries(Path(new) / "ledger.xlsx" if Path(new).is_dir() else new)
    overdue = []
    if "完成时限" in entries.columns:
        for cid, due in entries.values["完成时限"].items():
            date = _as_date(due)
            if date is None or date >= today or cid not in after.index:
                continue
            short = [c for c in CATEGORIES if after.loc[cid].get(f"{c}_status") == "gap"]
            if short:
                overdue.append({"town": after.loc[cid, "town"], "community_id": cid,
                                "community": after.loc[cid, "community"], "deadline": date.isoformat(),
                                "days_overdue": (today - date).days,
                                "open_categories": "、".join(CATEGORY_SHORT_ZH[c] for c in short)})
    overdue = pd.DataFrame(overdue, columns=["town", "community_id", "community", "deadline", "days_overdue",
                                             "open_categories"])
    return changes, overdue


def _as_date(value) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str) and value.strip():
        try:
            return pd.Timestamp(value.strip().replace("年", "-").replace("月", "-").rstrip("日")).date()
        except ValueError:
            return None
    return None


def progress_by_town(new, changes: pd.DataFrame, overdue: pd.DataFrame) -> pd.DataFrame:
    """Per town: gaps (community × category) open now, closed, opened, changed since the earlier ledger, overdue."""
    after = _read(new)
    open_now = pd.Series(0, index=sorted(set(after["town"])), dtype="int64")
    for category in CATEGORIES:
        column = f"{category}_status"
        if column in after:
            open_now = open_now.add((after[column] == "gap").groupby(after["town"]).sum(), fill_value=0)
    table = pd.DataFrame({"open_gaps": open_now.astype("int64")})
    for what in ("closed", "opened", "changed"):
        table[what] = changes[changes["change"] == what].groupby("town").size().reindex(table.index).fillna(0) \
            .astype("int64")
    table["overdue_communities"] = overdue.groupby("town").size().reindex(table.index).fillna(0).astype("int64")
    return table.rename_axis("town").reset_index()


def _md(text) -> str:
    """Text from the data inside a Markdown table cell: a ``|`` would end the cell, a newline the row."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def write_progress(old, new, out_dir, *, today: dt.date | None = None) -> dict[str, Path]:
    """``changes.csv``, ``progress.xlsx`` (sheets 进展 by town, 变化 changes, 逾期 overdue) and ``progress.md``."""
    from openpyxl import Workbook

    from .ledger import safe_cell_text

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    today = today or dt.date.today()
    changes, overdue = ledger_diff(old, new, today=today)
    towns = progress_by_town(new, changes, overdue)
    paths = {"changes": out_dir / "changes.csv", "xlsx": out_dir / "progress.xlsx", "md": out_dir / "progress.md"}
    with atomic_path(paths["changes"]) as tmp:  # text from the ledgers (names) can never become a formula
        changes.map(lambda v: safe_cell_text(v) if isinstance(v, str) else v).to_csv(
            tmp, index=False, encoding="utf-8-sig", lineterminator="\n")
    wb = Workbook()
    for ws, frame in ((wb.active, towns), (wb.create_sheet(), changes), (wb.create_sheet(), overdue)):
        ws.append(list(frame.columns))
        for row in frame.itertuples(index=False):
            ws.append([safe_cell_text(v) if isinstance(v, str) else int(v) if hasattr(v, "item") else v
                       for v in row])
        ws.freeze_panes = "A2"
    wb.worksheets[0].title, wb.worksheets[1].title, wb.worksheets[2].title = "进展 by town", "变化 changes", "逾期 overdue"
    with atomic_path(paths["xlsx"]) as tmp:
        wb.save(tmp)
    total = {k: int(changes["change"].eq(k).sum()) for k in ("closed", "opened", "changed")}
    lines = [f"# 配套设施缺口整治进展 / progress report — {today.isoformat()}", "",
             f"- 销号 closed: {total['closed']} · 新增 opened: {total['opened']} · 变化 changed: {total['changed']} · "
             f"逾期 overdue communities: {len(overdue)}", "",
             "| 街道/镇 town | 现有缺口 open | 销号 closed | 新增 opened | 变化 changed | 逾期 overdue |",
             "|---|---|---|---|---|---|"]
    lines += [f"| {_md(r.town)} | {r.open_gaps} | {r.closed} | {r.opened} | {r.changed} | {r.overdue_communities} |"
              for r in towns.itertuples(index=False)]
    if len(overdue):
        lines += ["", "## 逾期 overdue", ""]
        lines += [f"- {r.town} {r.community} ({r.community_id}): 完成时限 {r.deadline}, {r.days_overdue} 天; "
                  f"{r.open_categories}" for r in overdue.itertuples(index=False)]
    with atomic_path(paths["md"]) as tmp:
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return paths
