"""Gap tracking (问题销号): what changed between two ledgers, and a progress report per town.

:func:`ledger_diff` compares an earlier and a later ``ledger.xlsx`` (their 明细 data sheets) community by
community and category: a gap that is gone is **closed** (销号), a new one is **opened**, one whose problem text
changed is **changed**; a category surveyed in only one of the two is reported as such, never as closed or opened.
Open items whose 完成时限 (deadline) has passed are **overdue**. The planner's entries are read where the planner
typed them: the later ledger's, or, for a community the later ledger has none for (a re-run into a fresh folder),
the earlier ledger's — the overdue table says which file each deadline came from. Both ledgers' ``run.json`` say
which runs are compared; settings or input files that differ between them are listed (a gap closed because the
radius changed is not a facility built).
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd

from .atomic import atomic_path
from .errors import InputError
from .ledger import read_planner_entries, unescape_cell_text
from .outputs import read_run_info, recover_for_reading
from .standards import CATEGORIES, CATEGORY_SHORT_ZH

__all__ = ["ledger_diff", "progress_by_town", "write_progress", "CHANGE_COLUMNS"]

CHANGE_COLUMNS = ["town", "community_id", "community", "category", "change", "old_status", "new_status",
                  "old_problem", "new_problem"]
_CHANGE_ZH = {"closed": "销号 closed", "opened": "新增 opened", "changed": "变化 changed",
              "survey": "调查范围变化 survey changed"}


def _xlsx(path) -> Path:
    path = Path(path)
    return path / "ledger.xlsx" if path.is_dir() else path


def _read(path) -> pd.DataFrame:
    path = _xlsx(path)
    recover_for_reading(path.parent)  # a run killed while replacing its outputs: completed first
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
    overdue = []
    for cid, (date, source) in deadlines(old, new).items():
        if date >= today or cid not in after.index:
            continue
        short = [c for c in CATEGORIES if after.loc[cid].get(f"{c}_status") == "gap"]
        if short:
            overdue.append({"town": after.loc[cid, "town"], "community_id": cid,
                            "community": after.loc[cid, "community"], "deadline": date.isoformat(),
                            "days_overdue": (today - date).days,
                            "open_categories": "、".join(CATEGORY_SHORT_ZH[c] for c in short),
                            "deadline_from": source})
    overdue = pd.DataFrame(overdue, columns=OVERDUE_COLUMNS)
    return changes, overdue


OVERDUE_COLUMNS = ["town", "community_id", "community", "deadline", "days_overdue", "open_categories",
                   "deadline_from"]


def deadlines(old, new) -> dict[str, tuple[dt.date, str]]:
    """Per community id, its 完成时限 and the ledger file it was read from: the later ledger's where it has one,
    else the earlier ledger's (a planner who re-ran into a fresh folder typed it only there)."""
    found: dict[str, tuple[dt.date, str]] = {}
    for path in (_xlsx(new), _xlsx(old)):
        entries = read_planner_entries(path)
        if "完成时限" not in entries.columns:
            continue
        for cid, due in entries.values["完成时限"].items():
            date = _as_date(due)
            if date is not None and cid not in found:
                found[cid] = (date, str(path))
    return found


#: settings whose change between two runs changes the figures without any facility being built or closed
_COMPARED_SETTINGS = ("standards_applied", "distance", "coverage_target", "capacity_method", "max_snap_m",
                      "buffer_m", "crs", "survey_extent")


def _run_info(path) -> dict | None:
    """The run.json of the run that wrote a ledger (``ledger.previous.xlsx``: the run before, run.previous.json)."""
    path = _xlsx(path)
    return read_run_info(path.parent, previous=path.name == "ledger.previous.xlsx")


def compare_runs(old, new) -> list[str]:
    """What differs between the runs behind two ledgers (their run.json): settings that change the figures by
    themselves, and input files whose contents changed; [] when the same or unknown."""
    a, b = _run_info(old), _run_info(new)
    if a is None or b is None:
        missing = [str(_xlsx(p)) for p, info in ((old, a), (new, b)) if info is None]
        return [f"no run.json beside {', '.join(missing)}: the settings of that run are unknown"]
    lines = []
    sa, sb = a.get("settings", {}), b.get("settings", {})
    for key in _COMPARED_SETTINGS:
        if sa.get(key) != sb.get(key):
            lines.append(f"setting {key}: {sa.get(key)} → {sb.get(key)}")
    def by_role(info) -> dict[str, tuple[set, list]]:
        roles: dict[str, tuple[set, list]] = {}
        for item in info.get("inputs", []):
            hashes, names = roles.setdefault(item["role"], (set(), []))
            hashes.add(item.get("sha256"))
            names.append(Path(item["path"]).name)
        return roles

    ra, rb = by_role(a), by_role(b)
    for role in sorted(set(ra) | set(rb)):
        (ha, na), (hb, nb) = ra.get(role, (set(), [])), rb.get(role, (set(), []))
        if ha == hb:
            continue
        if sorted(na) == sorted(nb):
            lines.append(f"input {role} {', '.join(na)}: contents changed")
        else:
            lines.append(f"input {role}: {', '.join(na) or '(none)'} → {', '.join(nb) or '(none)'}")
    return lines


def run_label(path) -> str:
    """``run of 2026-11-30T08:00:00+00:00 (geofacility 0.1.0)`` for a ledger, from its run.json."""
    info = _run_info(path)
    if info is None:
        return f"{_xlsx(path)} (no run.json)"
    return f"{_xlsx(path)}: run {info.get('run_id')} of {info.get('finished')} (geofacility {info.get('geofacility_version')})"


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
    """``changes.csv``, ``progress.xlsx`` (sheets 进展 by town, 变化 changes, 逾期 overdue, 对比 runs) and
    ``progress.md``, replaced together (with ``run.json``)."""
    from .outputs import output_set

    out_dir = Path(out_dir)
    today = today or dt.date.today()
    with output_set(out_dir, expected=["changes.csv", "progress.xlsx", "progress.md", "run.json"]) as outputs:
        outputs.note_inputs("earlier", str(_xlsx(old)))
        outputs.note_inputs("later", str(_xlsx(new)))
        outputs.note_settings({"today": today.isoformat()})
        return _write_progress(old, new, out_dir, today)


def _write_progress(old, new, out_dir: Path, today: dt.date) -> dict[str, Path]:
    from openpyxl import Workbook

    from .ledger import safe_cell_text

    changes, overdue = ledger_diff(old, new, today=today)
    towns = progress_by_town(new, changes, overdue)
    differences = compare_runs(old, new)
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
    runs = wb.create_sheet("对比 runs")
    runs.append(["说明 what"])
    for line in [f"较早 earlier: {run_label(old)}", f"较新 later: {run_label(new)}",
                 *(differences or ["两次运行的设置和输入文件相同 same settings and input files"])]:
        runs.append([safe_cell_text(line)])
    runs.column_dimensions["A"].width = 120
    with atomic_path(paths["xlsx"]) as tmp:
        wb.save(tmp)
    total = {k: int(changes["change"].eq(k).sum()) for k in ("closed", "opened", "changed")}
    lines = [f"# 配套设施缺口整治进展 / progress report — {today.isoformat()}", "",
             f"- 销号 closed: {total['closed']} · 新增 opened: {total['opened']} · 变化 changed: {total['changed']} · "
             f"逾期 overdue communities: {len(overdue)}", "",
             f"- 较早 earlier: {_md(run_label(old))}", f"- 较新 later: {_md(run_label(new))}", ""]
    if differences:
        settings_changed = any(d.startswith("setting ") for d in differences)
        lines += [("**两次运行的设置或输入不同（设置变化也会改变结果，不一定来自设施建设） / the two runs differ in settings "
                   "or inputs (a changed setting changes figures without any facility built):**" if settings_changed
                   else "**两次运行的输入文件不同 / the two runs read different input files:**"), ""] + \
            [f"- {_md(d)}" for d in differences] + [""]
    lines += [
             "| 街道/镇 town | 现有缺口 open | 销号 closed | 新增 opened | 变化 changed | 逾期 overdue |",
             "|---|---|---|---|---|---|"]
    lines += [f"| {_md(r.town)} | {r.open_gaps} | {r.closed} | {r.opened} | {r.changed} | {r.overdue_communities} |"
              for r in towns.itertuples(index=False)]
    if len(overdue):
        lines += ["", "## 逾期 overdue", ""]
        lines += [f"- {_md(r.town)} {_md(r.community)} ({_md(r.community_id)}): 完成时限 {r.deadline}, "
                  f"{r.days_overdue} 天; {r.open_categories} (完成时限 from {_md(r.deadline_from)})"
                  for r in overdue.itertuples(index=False)]
    with atomic_path(paths["md"]) as tmp:
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    paths["run"] = out_dir / "run.json"
    return paths
