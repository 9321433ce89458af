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
* **What is replaced** on a community's row: 镇办, 社区, 户数\\人口, each category's 标准 and 现状, 存在问题 and
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
"""
from __future__ import annotations

import unicodedata
import warnings as _warnings
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from openpyxl.cell.cell import MergedCell
from openpyxl.formatting.formatting import ConditionalFormattingList
from openpyxl.styles import PatternFill
from openpyxl.worksheet.cell_range import CellRange, MultiCellRange

from .errors import InputError
from .standards import CATEGORIES, CATEGORY_LABELS_ZH
from .ledger import (_STATUS_FILL, GENERATED_SHEETS, ID_HEADING, LEDGER_SHEET, PLANNER_FIELDS, REMOVED_SHEET,
                     WRITTEN_SHEET, _add_generated_sheets, _coverage_target, _generated_sheets, _id_header,
                     _ledger_layout, _ledger_row, _named_styles, _title, _title_text, _workbook_settings,
                     record_written, safe_cell_text, unescape_cell_text, UMBRELLA_HEADING)

__all__ = ["PlannerEntries", "read_planner_entries", "update_ledger_workbook", "LedgerRows"]

_REMOVED_TEXT = "已移除：本次运行的社区数据中没有此社区（整治方案、备注保留在本行）"
_MAX_LISTED = 8  # problems named in one error line
_OUR_FILLS = {None, *(("solid", f.fgColor.rgb[-6:].upper()) for f in _STATUS_FILL.values())}
#: openpyxl's warnings on loading that mean part of the workbook will not be written back
_LOSS_WORDS = ("will be removed", "not supported", "cannot be", "lost", "ignored")


# --------------------------------------------------------------------------------------------- normalising


class _Note(str):
    """A note for the 警告 sheet and the terminal: English text (the str), with its Chinese in ``zh``."""

    zh: str = ""


def _note(en: str, zh: str) -> _Note:
    note = _Note(en)
    note.zh = zh
    return note


def _text(value) -> str:
    """A cell or data value as text: numbers without a spurious ``.0``, None as ``""``."""
    if value is None:
        return ""
    if isinstance(value, float):
        if value != value:  # NaN
            return ""
        if value.is_integer():
            return str(int(value))
    return str(value)


def norm(value) -> str:
    """How ids and names are compared: NFKC (full-width → half-width), no whitespace or control characters
    anywhere (stray spaces, line breaks, zero-width marks a paste left)."""
    text = unicodedata.normalize("NFKC", _text(value))
    return "".join(ch for ch in text if not (ch.isspace() or unicodedata.category(ch) in ("Cc", "Cf")))


def _cell_norm(value) -> str:
    """A cell written by geofacility, compared as the data value it came from (formula escape undone)."""
    return norm(unescape_cell_text(value) if isinstance(value, str) else value)


def _fill_key(fill) -> tuple | None:
    if fill is None or fill.fill_type is None:
        return None
    colour = fill.fgColor
    rgb = colour.rgb if getattr(colour, "type", None) == "rgb" and isinstance(colour.rgb, str) else None
    return (fill.fill_type, rgb[-6:].upper() if rgb else f"{colour.type}:{colour.value}")


# --------------------------------------------------------------------------------------------- the sheet


@dataclass
class LedgerRows:
    """The 台账 sheet of a planner's workbook, read: where its columns are and what each data row holds."""

    ws: object
    header_row: int
    first_row: int
    #: layout column key (heading, sub-heading or None) → column number
    columns: dict
    id_col: int | None
    #: columns whose cells belong to the planner (整治方案, 备注, any added column) → their heading
    planner: dict[int, str]
    #: per data row: row number → (id, 镇办, 社区, 序号) as normalised text, raw 序号
    rows: dict[int, tuple] = field(default_factory=dict)
    blank: set = field(default_factory=set)
    #: header rows from ``header_row``: 3 with the umbrella 既有社区配套设施排查摸底情况 row, 2 in ledgers written
    #: before it (they keep their header as it is: inserting a row would move the planner's formulas' targets)
    depth: int = 2


def _layout_keys() -> list[tuple[str, str | None]]:
    return [(norm(top), norm(sub) if sub else None) for top, sub, _ in _ledger_layout()]


def _status_columns() -> dict[int, str]:
    """Layout index of each category's 现状 column → the category (its status colours that cell)."""
    return {i: next(c for c in CATEGORIES if top.startswith(CATEGORY_LABELS_ZH[c]))
            for i, (top, sub, _) in enumerate(_ledger_layout()) if sub == "现状"}


def _header_rows(ws) -> int | None:
    for r in range(1, min(ws.max_row, 30) + 1):
        for c in range(1, min(ws.max_column, 8) + 1):
            if norm(ws.cell(row=r, column=c).value) == "序号":
                return r
    return None


def read_sheet(ws) -> LedgerRows | None:
    """Parse a 台账 sheet; None when ``ws`` does not look like one (no 序号 … 存在问题 header)."""
    header = _header_rows(ws)
    if header is None:
        return None
    umbrella = norm(UMBRELLA_HEADING)
    depth = 3 if any(norm(ws.cell(row=header, column=c).value) == umbrella
                     for c in range(1, ws.max_column + 1)) else 2
    last = header + depth - 1
    anchors = {}
    for rng in ws.merged_cells.ranges:
        if rng.min_row <= last and rng.max_row >= header:
            for r in range(max(rng.min_row, header), min(rng.max_row, last) + 1):
                for c in range(rng.min_col, rng.max_col + 1):
                    anchors[(r, c)] = (rng.min_row, rng.min_col)

    def value(r, c):
        ar, ac = anchors.get((r, c), (r, c))
        return ws.cell(row=ar, column=ac).value

    wanted = _layout_keys()
    columns: dict = {}
    headings: dict[int, str] = {}
    duplicates = []
    for c in range(1, ws.max_column + 1):
        # the column's headings from the top, each merged cell once, the umbrella over the categories left out
        texts, raw, seen = [], [], set()
        for r in range(header, last + 1):
            anchor = anchors.get((r, c), (r, c))
            if anchor in seen:
                continue
            seen.add(anchor)
            text = norm(value(r, c))
            if text and text != umbrella:
                texts.append(text)
                raw.append(value(r, c))
        key = (texts[0] if texts else "", texts[1] if len(texts) > 1 else None)
        if key in wanted:
            if key in columns:
                duplicates.append(key[1] or key[0])
            columns.setdefault(key, c)
        headings[c] = _text(raw[-1]) if raw else f"列{c}"
    problem = next(k for k in wanted if k[0].startswith("存在问题"))
    if problem not in columns and ws.title != LEDGER_SHEET:
        return None  # not a ledger (a sheet of the planner's with a 序号 column)
    id_key = (norm(ID_HEADING), None)
    planner_keys = {k for k in wanted if (k[1] or k[0]) in {norm(f) for f in PLANNER_FIELDS}}
    planner = {c: headings[c] for c in range(1, ws.max_column + 1)
               if c not in columns.values() or any(columns.get(k) == c for k in planner_keys)}
    sheet = LedgerRows(ws=ws, header_row=header, first_row=header + depth, columns=columns,
                       id_col=columns.get(id_key), planner=planner, depth=depth)
    sheet.duplicates = duplicates  # type: ignore[attr-defined]
    if any(k not in columns for k in wanted if k[0] != norm(ID_HEADING)):
        return sheet  # columns missing: _find_sheet says which
    town_c, comm_c, seq_c = columns[("镇办", None)], columns[("社区", None)], columns[("序号", None)]
    for r, row in enumerate(ws.iter_rows(min_row=sheet.first_row, max_row=ws.max_row, values_only=True),
                            start=sheet.first_row):
        if all(v is None or (isinstance(v, str) and not v.strip()) for v in row):
            sheet.blank.add(r)
            continue
        get = lambda c: row[c - 1] if c - 1 < len(row) else None  # noqa: E731
        raw = get(sheet.id_col) if sheet.id_col else None
        formula = isinstance(raw, str) and raw.startswith("=")  # the planner's own (a count in a totals row)
        cid = "" if formula else _cell_norm(raw)
        sheet.rows[r] = (cid, _cell_norm(get(town_c)), _cell_norm(get(comm_c)), get(seq_c))
    return sheet


def _find_sheet(wb, path: Path) -> LedgerRows:
    order = ([wb[LEDGER_SHEET]] if LEDGER_SHEET in wb.sheetnames else []) + \
        [ws for ws in wb.worksheets if ws.title not in (LEDGER_SHEET, *GENERATED_SHEETS)]
    for ws in order:
        sheet = read_sheet(ws)
        if sheet is not None:
            missing = [sub or top for (top, sub) in _layout_keys()
                       if (top, sub) not in sheet.columns and top != norm(ID_HEADING)]
            if missing:
                raise InputError(f"{path}, sheet {ws.title}: column(s) {'、'.join(missing)} are missing (deleted?); "
                                 "geofacility writes its figures into your workbook and needs every column it made: "
                                 "restore them (copy them from ledger.previous.xlsx), or move the workbook away to "
                                 "start a fresh ledger; nothing was written")
            if sheet.duplicates:  # type: ignore[attr-defined]
                raise InputError(f"{path}, sheet {ws.title}: column(s) {'、'.join(sheet.duplicates)} appear twice; "
                                 "delete the copy, then run again; nothing was written")
            return sheet
    raise InputError(f"{path}: no 台账 sheet (a sheet with the headings 序号, 镇办, 社区 … 存在问题) in this workbook; "
                     "the planner's entries in it would be lost — move it away or restore the sheet, then run again; nothing "
                     "was written")


def _data_names(wb) -> dict[str, tuple[str, str]]:
    """community id → (town, community) as the 明细 data sheet of the same workbook lists them (the run that wrote
    the workbook); empty when the sheet is gone."""
    if "明细 data" not in wb.sheetnames:
        return {}
    rows = wb["明细 data"].iter_rows(values_only=True)
    header = [norm(v) for v in next(rows, [])]
    if not {"community_id", "town", "community"} <= set(header):
        return {}
    i, t, c = header.index("community_id"), header.index("town"), header.index("community")
    names = {}
    for row in rows:
        if i < len(row) and row[i] is not None:
            names[_cell_norm(row[i])] = (_cell_norm(row[t]) if t < len(row) else "",
                                         _cell_norm(row[c]) if c < len(row) else "")
    return names


def _data_order(wb) -> list[str]:
    """The community ids of the 明细 data sheet in its row order (for ledgers without a 社区编码 column)."""
    if "明细 data" not in wb.sheetnames:
        return []
    rows = wb["明细 data"].iter_rows(values_only=True)
    header = [norm(v) for v in next(rows, [])]
    if "community_id" not in header:
        return []
    i = header.index("community_id")
    return [_cell_norm(row[i]) if i < len(row) else "" for row in rows]


# --------------------------------------------------------------------------------------------- matching


@dataclass
class Match:
    """Rows of the 台账 sheet and the communities they belong to."""

    rows: dict[int, str]  # row → community id (this run's spelling), matched
    removed: dict[int, str]  # row → id of a community not in this run
    new: list[str]  # ids of this run without a row
    problems: list[str]
    notes: list[str]
    added: dict = field(default_factory=dict)  # row → id of the rows added for ``new``


def _names_fit(row_names: tuple[str, str], *known: tuple[str, str] | None) -> bool:
    town, community = row_names
    if not community and not town:
        return True  # nothing on the row to disagree with
    for names in known:
        if names is None:
            continue
        if community == names[1] and town in (names[0], ""):
            return True
    return False


def _shown(names: tuple[str, str]) -> str:
    return " ".join(n for n in names if n) or "(no names)"


def match_rows(sheet: LedgerRows, ids: list[str], names: dict[str, tuple[str, str]],
               previous: dict[str, tuple[str, str]], order: list[str] | None = None) -> Match:
    """Match the sheet's rows to this run's communities (``ids``, with their normalised ``names``) by community
    id, checking the names on each row; ``previous``: the names the workbook's own run gave each (normalised) id;
    ``order``: the ids of its 明细 sheet in row order, for ledgers without a 社区编码 column."""
    by_norm = {norm(i): i for i in ids}
    by_names: dict[tuple[str, str], list[str]] = {}
    by_community: dict[str, list[str]] = {}
    for cid in ids:
        by_names.setdefault(names[cid], []).append(cid)
        by_community.setdefault(names[cid][1], []).append(cid)

    def named(row_names: tuple[str, str]) -> list[str]:
        """This run's communities the names on a row point to."""
        town, community = row_names
        if not community:
            return []
        return by_names.get(row_names, []) if town else by_community.get(community, [])

    legacy = sheet.id_col is None
    problems, notes = [], []
    rows_by_id: dict[str, list[int]] = {}
    if not legacy:
        for r, (cid, *_rest) in sheet.rows.items():
            if cid:
                rows_by_id.setdefault(cid, []).append(r)
        for cid, rows in rows_by_id.items():
            if len(rows) > 1:
                problems.append(f"rows {', '.join(map(str, rows))} have the same 社区编码 {cid}")

    def legacy_id(r: int, row_names: tuple[str, str], seq) -> str | None:
        """An older ledger's row: its community by 序号 and the 明细 sheet when the names agree, else by the
        names alone; "" for the planner's own rows; None when ambiguous (reported)."""
        if order and isinstance(seq, (int, float)) and float(seq).is_integer() and 1 <= int(seq) <= len(order):
            candidate = order[int(seq) - 1]
            if candidate and _names_fit(row_names, names.get(by_norm.get(candidate, "")), previous.get(candidate)):
                return candidate
        candidates = named(row_names)
        if len(candidates) == 1:
            return norm(candidates[0])
        if len(candidates) > 1:
            problems.append(f"row {r} ({_shown(row_names)}): several communities of this run have these names; "
                            "add a column 社区编码 with each row's community id")
            return None
        gone = [i for i, n in previous.items() if n == row_names and i not in by_norm]
        return gone[0] if len(gone) == 1 else ""

    matched: dict[int, str] = {}
    removed: dict[int, str] = {}
    claimed: dict[str, int] = {}
    for r, (cid, town, community, seq) in sheet.rows.items():
        row_names = (town, community)
        if legacy:
            cid = legacy_id(r, row_names, seq)
            if not cid:
                continue
        elif not cid:
            candidates = named(row_names)
            if len(candidates) == 1:
                problems.append(f"row {r}: no 社区编码, but the row shows {_shown(row_names)} (社区编码 "
                                f"{candidates[0]})")
            continue  # else: the planner's own row (a totals row, a note), left as it is
        if len(rows_by_id.get(cid, [])) > 1:
            continue  # reported above
        data_id = by_norm.get(cid)
        if data_id is not None:
            if data_id in claimed:
                problems.append(f"rows {claimed[data_id]} and {r} both belong to community {data_id}")
            elif _names_fit(row_names, names[data_id], previous.get(cid)):
                matched[r] = data_id
                claimed[data_id] = r
                if previous.get(cid) and previous[cid] != names[data_id] and row_names == previous[cid]:
                    notes.append(_note(f"row {r}: community {data_id} is now {_shown(names[data_id])} (was "
                                       f"{_shown(previous[cid])}); its entries stay on its row",
                                       f"第 {r} 行：社区 {data_id} 现为 {_shown(names[data_id])}（原为 "
                                       f"{_shown(previous[cid])}），其填报内容仍在本行"))
            else:
                other = named(row_names)
                whose = f" (the names of 社区编码 {other[0]})" if len(other) == 1 else ""
                problems.append(f"row {r}: 社区编码 {data_id} is {_shown(names[data_id])} but the row shows "
                                f"{_shown(row_names)}{whose}")
            continue
        candidates = [i for i in named(row_names) if norm(i) not in rows_by_id]
        if len(candidates) == 1:
            problems.append(f"row {r}: 社区编码 {cid} is not a community of this run, but the row shows "
                            f"{_shown(row_names)} (社区编码 {candidates[0]})")
            continue
        if cid in previous or community:
            removed[r] = cid  # a community of the earlier run that this run's data no longer has
        else:
            notes.append(_note(f"row {r}: 社区编码 {cid} is not a community of this run or of the earlier one, and "
                               "the row names none; left as it is",
                               f"第 {r} 行：社区编码 {cid} 既不是本次也不是上次运行的社区，且本行未写社区名称，保持原样"))
    new = [i for i in ids if i not in claimed]
    return Match(rows=matched, removed=removed, new=new, problems=problems, notes=notes)


def _refuse(path: Path, sheet: LedgerRows, problems: list[str]) -> InputError:
    listed = "; ".join(problems[:_MAX_LISTED])
    more = f"; and {len(problems) - _MAX_LISTED} more" if len(problems) > _MAX_LISTED else ""
    return InputError(f"{path}, sheet {sheet.ws.title}: rows and their 社区编码 disagree, so the planner's entries "
                      f"cannot be put back safely: {listed}{more}; undo the change in Excel (sort whole rows, 社区编码 "
                      "included) or copy the right 社区编码 back from ledger.previous.xlsx, then run again; nothing "
                      "was written")


# --------------------------------------------------------------------------------------------- reading entries


@dataclass
class PlannerEntries:
    """What a planner typed into a ledger.xlsx, per community id: the cells of 整治方案/备注 and of any column they
    added (``columns`` in sheet order; ``values`` indexed by community id), with the names the row showed and the
    row it is on."""

    columns: list[str]
    values: pd.DataFrame
    names: pd.DataFrame  # community_id → 镇办, 社区, 行 row


def _load(path: Path, *, read_only: bool = False):
    from openpyxl import load_workbook

    with _warnings.catch_warnings(record=True) as caught:
        _warnings.simplefilter("always")
        try:
            wb = load_workbook(path, rich_text=not read_only)
        except Exception as exc:  # openpyxl raises many types for unreadable files
            raise InputError(f"{path}: an earlier ledger that cannot be read ({exc}); the planner's entries in it "
                             "would be lost — move it away or repair it, then run again") from None
    losses = sorted({str(w.message).splitlines()[0] for w in caught
                     if any(word in str(w.message).lower() for word in _LOSS_WORDS)})
    return wb, losses


def _entries_of(sheet: LedgerRows, rows: dict[int, str]) -> tuple[list[str], dict, dict]:
    ws = sheet.ws
    columns = [sheet.planner[c] for c in sorted(sheet.planner)]
    values, names = {}, {}
    for r, cid in rows.items():
        cells = []
        for c in sorted(sheet.planner):
            v = ws.cell(row=r, column=c).value
            cells.append(unescape_cell_text(v) if isinstance(v, str) else (str(v) if hasattr(v, "as_list") else v))
        if any(v not in (None, "") for v in cells):
            values[cid] = cells
            names[cid] = (ws.cell(row=r, column=sheet.columns[("镇办", None)]).value,
                          ws.cell(row=r, column=sheet.columns[("社区", None)]).value, r)
    return columns, values, names


def read_planner_entries(path: str | Path) -> PlannerEntries:
    """The planner's entries in a ``ledger.xlsx``, by community id (its 社区编码 column, checked against the names
    its 明细 sheet gives each id; older ledgers by 明细 and 序号). InputError naming the rows where ids and names
    disagree."""
    path = Path(path)
    wb, _ = _load(path)
    sheet = _find_sheet(wb, path)
    previous = _data_names(wb)
    if sheet.id_col is None and not previous:
        raise InputError(f"{path}: the 台账 sheet has no 社区编码 column and the 明细 data sheet is gone, so its rows "
                         "cannot be matched to communities; restore the 明细 sheet from ledger.previous.xlsx")
    ids = list(previous) or sorted({cid for cid, *_ in sheet.rows.values() if cid})
    names = {i: previous.get(i, ("", "")) for i in ids}
    if not previous:  # no 明细 to check against: the names on the rows are all there is
        names = {cid: (t, c) for cid, t, c, _ in sheet.rows.values() if cid}
    match = match_rows(sheet, ids, names, previous, _data_order(wb))
    if match.problems:
        raise _refuse(path, sheet, match.problems)
    columns, values, shown = _entries_of(sheet, {**match.rows, **match.removed})
    frame = pd.DataFrame.from_dict(values, orient="index", columns=columns)
    if REMOVED_SHEET in wb.sheetnames and sheet.id_col is None:  # older ledgers kept removed entries there
        _legacy_removed(wb[REMOVED_SHEET], frame, shown)
        columns = list(frame.columns)
    return PlannerEntries(columns=columns, values=frame,
                          names=pd.DataFrame.from_dict(shown, orient="index", columns=["镇办", "社区", "行 row"]))


def _legacy_removed(ws, frame: pd.DataFrame, shown: dict) -> None:
    rows = ws.iter_rows(values_only=True)
    header = list(next(rows, []))
    for row in rows:
        cid = _cell_norm(row[0]) if row and row[0] is not None else ""
        if not cid or cid in frame.index:
            continue
        for col, value in zip(header[3:], row[3:]):
            frame.loc[cid, str(col)] = value
        shown[cid] = (row[1], row[2], None)


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
    from .outputs import current_set

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
