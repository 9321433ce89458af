"""Errors and the warnings table.

User mistakes raise :class:`InputError` with a one-line message naming the file, the row and the fix; the CLI
prints it and exits with code 2, never a traceback. What can be repaired is repaired and recorded in a
:class:`WarningLog`, which becomes the ledger's warnings sheet.
"""
from __future__ import annotations

import pandas as pd

__all__ = ["InputError", "WarningLog", "WARNING_COLUMNS"]

WARNING_COLUMNS = ["file", "row", "severity", "message"]


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

    def add(self, file: str, row, message: str, *, severity: str = "warning") -> None:
        self._rows.append(
            {"file": str(file), "row": "" if row is None else str(row), "severity": severity, "message": message}
        )

    def extend_from(self, other: "WarningLog") -> None:
        """Append another log's rows (e.g. the input warnings of a prepared study)."""
        self._rows.extend(other._rows)
        self.read_rows.update(other.read_rows)

    def extend(self, file: str, rows, message: str, *, severity: str = "warning") -> None:
        for row in rows:
            self.add(file, row, message, severity=severity)

    def __len__(self) -> int:
        return len(self._rows)

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(self._rows, columns=WARNING_COLUMNS)
