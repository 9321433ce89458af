"""Ledger stage, reading the planner's workbook: finding the 台账 sheet and its columns in an earlier
``ledger.xlsx``, matching its rows to communities by id (checked against the names), and the planner's entries
(:func:`read_planner_entries`). How a re-run uses them is described in :mod:`geofacility.ledger.roundtrip`.
"""
from __future__ import annotations

import unicodedata
import warnings as _warnings
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..errors import InputError
from ..standards import CATEGORIES, CATEGORY_LABELS_ZH
from .table import unescape_cell_text
from .workbook import (GENERATED_SHEETS, ID_HEADING, LEDGER_SHEET, PLANNER_FIELDS, REMOVED_SHEET, UMBRELLA_HEADING,
                       _ledger_layout)

_MAX_LISTED = 8  # problems named in one error line
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


