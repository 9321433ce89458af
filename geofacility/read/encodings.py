"""Reading: text encodings and delimiters: what makes a Chinese CSV or Shapefile readable.

Holds ``_read_csv`` (UTF-8, else GBK/GB18030; a file mixing the two is refused rather than garbled; the delimiter
sniffed among comma, tab, semicolon and the full-width comma; Arrow's parser where it gives the same frame) and
``_vector_encoding`` (a Shapefile without a .cpg: its attribute text tried as UTF-8, then GBK).
"""
from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
import pyogrio

from ..errors import InputError, WarningLog


def _sniff_separator(path: Path, encoding: str) -> str:
    """The delimiter of the first line: tab, semicolon or comma (Chinese Excel exports use all three)."""
    with open(path, encoding=encoding, errors="replace") as handle:
        first = handle.readline()
    counts = {sep: first.count(sep) for sep in (",", "\t", ";", "，")}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","


def _mixed_encoding(path: Path) -> str | None:
    """When a file that is not UTF-8 throughout still has UTF-8 rows (rows pasted from two sources), where: reading
    it all as GBK would garble them without a word. Called only once UTF-8 has failed, so a file is read twice
    only when it is not UTF-8."""
    utf8_row = gbk_row = None
    with open(path, "rb") as raw:
        for number, line in enumerate(raw, start=1):
            if line.isascii():
                continue
            try:
                line.decode("utf-8")
                utf8_row = utf8_row or number
            except UnicodeDecodeError:
                gbk_row = gbk_row or number
            if utf8_row and gbk_row:
                return f"row {utf8_row} is UTF-8 but row {gbk_row} is not (GBK?)"  # rows counted as lines, header 1
    return None


def _read_csv(path: Path, encoding: str | None = None) -> pd.DataFrame:
    encodings = [encoding] if encoding else ["utf-8-sig", "gb18030"]
    last = None
    for enc in encodings:
        try:
            sep = "\t" if path.suffix.lower() == ".tsv" else _sniff_separator(path, enc)
            frame = _read_csv_arrow(path, sep) if enc == "utf-8-sig" and sep.isascii() else None
            if frame is not None:
                return frame
            # the C parser: a million rows in about a second (the sniffing python engine took a minute)
            return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""], encoding=enc, sep=sep,
                               engine="c" if len(sep) == 1 and sep.isascii() else "python")
        except UnicodeDecodeError as exc:
            last = exc
            # not UTF-8: before reading it all as GBK, make sure no row of it is UTF-8 (that row would be garbled)
            mixed = _mixed_encoding(path) if encoding is None else None
            if mixed:
                raise InputError(f"{path}: mixed text encodings: {mixed}; save the whole file in one encoding (CSV "
                                 "UTF-8 in Excel), or give --encoding to read it all as one") from None
        except (pd.errors.ParserError, csv.Error) as exc:
            raise InputError(f"{path}: not a readable CSV ({str(exc).splitlines()[0]}); check the delimiter "
                             "and quoting") from None
        except LookupError:
            raise InputError(f"{path}: unknown encoding {enc!r}; use e.g. utf-8 or gbk") from None
    raise InputError(f"{path}: text is neither UTF-8 nor GBK/GB18030 ({last}); give --encoding") from None


def _read_csv_arrow(path: Path, sep: str) -> pd.DataFrame | None:
    """A UTF-8 CSV read by Arrow's parser (multithreaded: a million rows in a quarter of a second), the same
    frame the C parser gives; None, to let the C parser read or report it, when Arrow cannot (ragged rows, bad
    UTF-8) or the file has one column (there only the C parser skips lines of blanks)."""
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""], encoding="utf-8-sig", sep=sep,
                            engine="pyarrow")
    except Exception:  # whatever Arrow rejects, the C parser reads or reports in its own words
        return None
    return frame if frame.shape[1] > 1 else None


def _vector_encoding(path: Path, encoding: str | None, log: WarningLog) -> str | None:
    """Shapefiles without a .cpg: GDAL would read GBK text as Latin-1 mojibake; try UTF-8, then GBK."""
    if encoding or path.suffix.lower() != ".shp" or path.with_suffix(".cpg").exists() \
            or path.with_suffix(".CPG").exists():
        return encoding
    for candidate in ("utf-8", "gb18030"):
        try:
            pyogrio.read_dataframe(path, encoding=candidate, read_geometry=False)
        except UnicodeDecodeError:
            continue
        except Exception:  # other read errors are reported by the real read below
            return None
        if candidate != "utf-8":
            log.add(str(path), None, f"no .cpg file: attribute text read as {candidate.upper()} (detected); "
                                     "give --encoding to override", severity="info",
                    zh=f"无 .cpg 文件：属性文字按检测到的 {candidate.upper()} 编码读取；如有误请用 --encoding 指定")
        return candidate
    return None
