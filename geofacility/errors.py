"""Errors and the warnings table.

User mistakes raise :class:`InputError` with a one-line message naming the file, the row and the fix; the CLI
prints it and exits with code 2, never a traceback. What can be repaired is repaired and recorded in a
:class:`WarningLog`, which becomes the ledger's warnings sheet.
"""
from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pandas as pd

__all__ = ["InputError", "WarningLog", "WARNING_COLUMNS", "NO_USABLE_ROW", "not_used", "reasons_text", "digest",
           "english_sentences", "message_zh"]

#: ``message`` is English (tests and the terminal digest read it); ``message_zh`` the same in Chinese, what the
#: 警告 sheets show first (every warning is given both where it is made; see :meth:`WarningLog.add`)
WARNING_COLUMNS = ["file", "row", "severity", "message", "message_zh"]
#: the words of every row-level warning whose row was set aside ("…; row not used", "…; not used (…)")
NOT_USED = "not used"
#: a file-level warning with these words says that a category a file names got no usable row: printed loudly
NO_USABLE_ROW = "has no usable row"
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")


class InputError(ValueError):
    """Input that cannot be used. The message says where and how to fix it."""


class WarningLog:
    """Collects repaired or reported input problems: one row per file/row/reason."""

    def __init__(self) -> None:
        self._rows: list[dict] = []
        #: rows each input file held when read (file → (count, number of the first row)), for the row accounting
        self.read_rows: dict[str, tuple[int, int]] = {}

    def record_read(self, file: str, n_rows: int, first_row: int = 1) -> None:
        """``file`` held ``n_rows`` data rows numbered from ``first_row`` (2 in a table below its header, 1 for
        the features of a vector file): the numbers warnings use."""
        self.read_rows[str(file)] = (int(n_rows), int(first_row))

    def add(self, file: str, row, message: str, *, severity: str = "warning", zh: str | None = None) -> None:
        """Record one warning: ``message`` in English, ``zh`` the same in Chinese (for the 警告 sheet; a warning
        without one shows its English text there, which the tests catch)."""
        self._rows.append(
            {"file": str(file), "row": "" if row is None else str(row), "severity": severity, "message": message,
             "message_zh": zh if zh is not None else ""}
        )

    def extend_from(self, other: "WarningLog") -> None:
        """Append another log's rows (e.g. the input warnings of a prepared study)."""
        self._rows.extend(other._rows)
        self.read_rows.update(other.read_rows)

    def extend(self, file: str, rows, message: str, *, severity: str = "warning", zh: str | None = None) -> None:
        for row in rows:
            self.add(file, row, message, severity=severity, zh=zh)

    def kept(self, keep) -> "WarningLog":
        """A new log of the warnings for which ``keep(file, row)`` is true (``row`` as written: ``""`` for a
        warning about no row), with the same rows-read record."""
        log = WarningLog()
        log.read_rows = dict(self.read_rows)
        log._rows = [r for r in self._rows if keep(r["file"], r["row"])]
        return log

    def __len__(self) -> int:
        return len(self._rows)

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(self._rows, columns=WARNING_COLUMNS)


def not_used(warnings: pd.DataFrame, file: str | None = None) -> pd.DataFrame:
    """The row-level warnings of rows set aside (not the repairs, not the info rows), of one file or all."""
    if warnings is None or warnings.empty:
        return pd.DataFrame(columns=WARNING_COLUMNS)
    hit = (warnings["row"].astype(str) != "") & (warnings["severity"] != "info") \
        & warnings["message"].str.contains(NOT_USED, regex=False)
    if file is not None:
        hit &= warnings["file"] == str(file)
    return warnings.loc[hit]


def _reason(message: str, separators: str = ";") -> tuple[str, str | None]:
    """'unknown category '公厕'; not used (…)' → ('unknown category {}', "'公厕'"): the words before the first ';'
    (or another of ``separators``) with the first quoted value taken out."""
    head = re.split(f"[{re.escape(separators)}]", message)[0].strip()
    found = _QUOTED.search(head)
    if found is None:
        return head, None
    return head[:found.start()] + "{}" + head[found.end():], found.group(0)


def reasons_text(warnings: pd.DataFrame, *, values: int = 3, reasons: int = 4, column: str = "message") -> str:
    """Why rows were set aside, most common first, with their most common values: ``unknown category '社区医院'
    ×10, '诊所' ×2; missing or non-numeric lon/lat ×3``; in Chinese with ``column="message_zh"`` (``类别 '社区医院'
    无法识别 ×10；…``)."""
    zh = column == "message_zh"
    groups: dict[str, Counter] = {}
    texts = [message_zh(r) for r in warnings.to_dict("records")] if zh else warnings[column]
    for message in texts:
        template, value = _reason(message, "；，;" if zh else ";")
        groups.setdefault(template, Counter())[value] += 1
    ranked = sorted(groups.items(), key=lambda item: (-sum(item[1].values()), item[0]))
    parts = []
    for template, counts in ranked[:reasons]:
        if list(counts) == [None]:
            parts.append(f"{template.replace('{}', '…')} ×{counts[None]}")
            continue
        top = [f"{v} ×{n}" for v, n in counts.most_common(values) if v is not None]
        rest = len([v for v in counts if v is not None]) - len(top)
        if zh:
            listed = "、".join(top) + (f" 等另 {rest} 个值" if rest > 0 else "")
        else:
            listed = ", ".join(top) + (f" and {rest} other value{'s' if rest > 1 else ''}" if rest > 0 else "")
        parts.append(template.replace("{}", listed))
    if len(ranked) > reasons:
        parts.append(f"另有 {len(ranked) - reasons} 种原因" if zh else f"{len(ranked) - reasons} other reasons")
    return ("；" if zh else "; ").join(parts)


def digest(warnings: pd.DataFrame) -> list[str]:
    """The terminal digest of input rows not used, for the end of a run (the 警告 sheet has every row): one line
    per file, ``facilities.csv: 12 rows not used — unknown category '社区医院' ×12``, then one ``WARNING:`` line per
    category that a file names but got no usable row from it (it may read 未调查 not surveyed)."""
    lines = []
    dropped = not_used(warnings)
    for file, rows in dropped.groupby("file", sort=False):
        n = rows["row"].astype(str).nunique()
        lines.append(f"{Path(file).name}: {n:,} row{'s' if n > 1 else ''} not used — {reasons_text(rows)}")
    if warnings is not None and not warnings.empty:
        loud = warnings.loc[(warnings["row"].astype(str) == "")
                            & warnings["message"].str.contains(NO_USABLE_ROW, regex=False)]
        for file, message in zip(loud["file"], loud["message"]):
            lines.append(f"WARNING: {Path(file).name}: {message}")
    return lines


#: a run of three or more English words (letters only, spaces between): an untranslated sentence
_ENGLISH_RUN = re.compile(r"[A-Za-z][A-Za-z'’]*(?:[ ,]+[A-Za-z][A-Za-z'’]*){2,}")
_CJK = re.compile(r"[\u4e00-\u9fff]")


def english_sentences(text: str) -> list[str]:
    """Runs of three or more English words in ``text`` outside quoted values and file paths: what a Chinese
    warning must not contain (file names, column names and quoted input values may be English)."""
    text = _QUOTED.sub("", str(text))
    text = re.sub(r"[\w./\\:-]*[/\\][\w./\\:-]*", "", text)  # paths
    return _ENGLISH_RUN.findall(text)


def message_zh(record: dict) -> str:
    """The Chinese text of a warning row (its ``message_zh``, else its ``message``)."""
    zh = record.get("message_zh")
    if isinstance(zh, str) and zh.strip():
        return zh
    message = record.get("message")
    return "" if message is None or (isinstance(message, float) and message != message) else str(message)
