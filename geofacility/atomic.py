"""Atomic output: write to a temporary name in the same folder, then rename, so an interrupted run never
leaves a half-written ledger or map behind.

Inside an open :func:`geofacility.outputs.output_set` the rename waits for the set's commit, so the files of one run
replace the earlier ones together (see :mod:`geofacility.outputs`)."""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

__all__ = ["atomic_path"]


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike):
    """Yield a temporary path beside ``path``; on success it replaces ``path`` in one rename (at the commit of the
    open output set, when there is one)."""
    from .outputs import current_set

    path = Path(path)
    outputs = current_set()
    if outputs is not None and outputs.contains(path):
        tmp = outputs.stage(path)
        try:
            yield tmp
        except BaseException:
            outputs.unstage(path)
            raise
        outputs.writing = None
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    os.unlink(tmp)  # writers (GDAL, openpyxl) want to create the file themselves
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
