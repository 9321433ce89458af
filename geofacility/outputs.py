"""One run, one set of outputs: every file a command writes replaces the earlier one together, or none does.

A command opens an :func:`output_set` on its output folder before it starts the work. Opening it

* completes a set an earlier run had committed but not finished renaming (it was killed), and removes the temporary
  files of runs killed before their commit (:func:`recover`);
* takes the folder's lock (another geofacility run writing into the same folder stops with a clear message);
* checks that the folder can be written and that the files it will replace can be (a ``ledger.xlsx`` open in Excel,
  a read-only file or folder, ``--out`` naming a file, a path through a symbolic-link loop): a planner learns it
  before waiting for the analysis, not after.

While the set is open, every writer's :func:`~geofacility.atomic.atomic_path` writes to a temporary file beside its
target (``.ledger.gf-<run>.xlsx``) and nothing is replaced. When the command has written everything, the set
commits: it checks again that every target can be replaced (stopping with exit 2 and nothing replaced if one
cannot), writes ``run.json`` (version, command line, settings, input and output file hashes, times), then a journal
listing the renames — the commit point — and renames the temporary files onto their targets.

A ``kill -9`` before the journal leaves the old set untouched (the temporary files are removed by the next run); a
kill after it leaves the journal, and the next geofacility command on that folder (any command writing there, or
``ledger diff`` reading it) completes the renames first, so the folder holds the complete new set. The window between
the journal and the last rename is a few milliseconds.

Over the house's ~500 lines (about 560): the commit protocol — preflight, staging, journal, recovery, lock —
is one piece that must be read as a whole to be trusted.
"""
from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import errno
import hashlib
import json
import os
import re
import secrets
import shutil
import stat
import sys
from pathlib import Path

from .errors import InputError
from .masking import mask_secrets

__all__ = ["OutputSet", "output_set", "current_set", "recover", "recover_for_reading", "read_run_info", "RUN_JSON",
           "file_sha256"]

RUN_JSON = "run.json"
#: the run.json of the run a run replaced (it describes ledger.previous.xlsx)
RUN_PREVIOUS_JSON = "run.previous.json"
JOURNAL = ".geofacility-commit.json"
LOCK = ".geofacility.lock"
#: temporary files of a set: ``.<stem>.gf-<8 hex>.<suffix>`` beside their target
_TEMP = re.compile(r"^\..*\.gf-[0-9a-f]{8}(\.[^.]*)?$")
_NO_SPACE = (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))
_NO_SPACE_TEXT = ("no space left", "disk is full", "disk full", "not enough space", "quota exceeded")

_active: contextvars.ContextVar["OutputSet | None"] = contextvars.ContextVar("geofacility_output_set", default=None)


def _hook(stage: str) -> None:
    """Called as each file starts being written (``stage:<name>``) and at each step of a commit (``staged``,
    ``journal``, ``renamed:<n>``, ``committed``): a no-op that the tests replace to kill the process there."""


def current_set() -> "OutputSet | None":
    """The output set open in this context (None outside one)."""
    return _active.get()


def file_sha256(path: str | os.PathLike) -> str:
    """The file's SHA-256, hex; remembered by (path, size, modification time) in this process, so that a batch's
    groups (each with its run.json naming the inputs) hash a 10-million-home demand file once per worker."""
    stat = os.stat(path)
    key = (os.path.abspath(path), stat.st_size, stat.st_mtime_ns)
    if key not in _SHA256:
        _SHA256[key] = _sha256(path)
    return _SHA256[key]


_SHA256: dict = {}


def _sha256(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# --------------------------------------------------------------------------------------------- checks


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


def _folder_error(root: Path, exc: OSError) -> InputError:
    if exc.errno == errno.ELOOP:
        what = "passes through a symbolic link that points back at itself (a symlink loop)"
        fix = "remove or repair the link, or choose another --out"
    elif exc.errno == errno.ENOTDIR:
        what = "has a file where a folder should be"
        fix = "choose another --out"
    elif exc.errno in _NO_SPACE:
        what = "is on a disk with no space left"
        fix = "free some space, or choose another --out"
    elif exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        what = "cannot be written (read-only folder or disk, or no permission)"
        fix = "make it writable, or choose another --out"
    else:
        what = f"cannot be used ({_reason(exc)})"
        fix = "choose another --out"
    return InputError(f"{root}: the output folder {what}; {fix}; nothing was written")


def _read_only_by_mode(path: Path) -> bool:
    """A file or folder whose permissions deny writing to everyone (root ignores them, a planner's Excel does not:
    such a file is treated as locked, as on Windows)."""
    try:
        return not (path.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    except OSError:
        return False


def check_folder(root: Path) -> None:
    """Create the output folder if needed; InputError when it is a file, unreachable or cannot be written."""
    root = Path(root)
    try:
        if root.is_symlink() and not root.exists():
            os.stat(root)  # raises ELOOP for a loop, ENOENT for a dangling link
        if root.exists() and not root.is_dir():
            raise InputError(f"{root}: --out names a file, not a folder; give a folder (it is created if missing); "
                             "nothing was written")
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _folder_error(root, exc) from None
    if _read_only_by_mode(root) or not os.access(root, os.W_OK):
        raise InputError(f"{root}: the output folder is read-only; make it writable, or choose another --out; "
                         "nothing was written")


def blocked_targets(targets) -> list[str]:
    """The targets that exist and could not be replaced: ``name (why)`` for each."""
    blocked = []
    for target in targets:
        target = Path(target)
        try:
            if not target.exists() and not target.is_symlink():
                continue
            if target.is_dir() and not target.is_symlink():
                blocked.append(f"{target.name} (a folder of that name is in the way)")
                continue
            if _read_only_by_mode(target):
                blocked.append(f"{target.name} (read-only, or open in Excel or another program)")
                continue
            if target.is_file():
                with open(target, "r+b"):  # fails for a file Excel holds open (Windows) or an immutable file
                    pass
        except OSError as exc:
            blocked.append(f"{target.name} (open in Excel or another program, or locked: {_reason(exc)})")
    return blocked


def _blocked_error(root: Path, blocked: list[str]) -> InputError:
    names = ", ".join(blocked)
    first = blocked[0].split(" (")[0]
    return InputError(f"{root}: cannot replace {names}; close {first} in Excel (or the program that has it open) "
                      "or make it writable, then run again; nothing was replaced")


def _no_space(exc: BaseException, folder: Path | None = None) -> bool:
    """Did ``exc`` come from a full disk? By its errno or words, or — writers such as GDAL report a full disk in
    their own terms ("no such table: gpkg_contents") — by the space left on ``folder``'s disk."""
    if isinstance(exc, OSError) and exc.errno in _NO_SPACE:
        return True
    if any(text in str(exc).lower() for text in _NO_SPACE_TEXT):
        return True
    if folder is not None:
        with contextlib.suppress(OSError):
            return shutil.disk_usage(folder).free < _FULL_BELOW
    return False


#: a disk with less free space than this after a failed write is taken as full
_FULL_BELOW = 1 << 20


# --------------------------------------------------------------------------------------------- recovery


def _fsync_dir(path: Path) -> None:
    if os.name != "posix":
        return
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def recover(root: str | os.PathLike) -> list[Path]:
    """Complete a set whose commit was interrupted (its journal is there) and remove temporary files of runs killed
    before their commit; the targets completed."""
    root = Path(root)
    done: list[Path] = []
    if not root.is_dir():
        return done
    journal = root / JOURNAL
    keep = set()
    if journal.exists():
        try:
            moves = json.loads(journal.read_text(encoding="utf-8"))["moves"]
        except (OSError, ValueError, KeyError, TypeError):
            moves = []  # a journal is written atomically: unreadable means not ours; the old set stands
        for tmp_rel, final_rel in moves:
            tmp, final = root / tmp_rel, root / final_rel
            keep.add(tmp)
            if tmp.exists():
                os.replace(tmp, final)
                done.append(final)
        journal.unlink(missing_ok=True)
        _fsync_dir(root)
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in files:
            if _TEMP.match(name) and Path(folder, name) not in keep:
                with contextlib.suppress(OSError):
                    os.unlink(Path(folder, name))
    return done


def recover_for_reading(folder: str | os.PathLike) -> list[Path]:
    """Before reading an output folder: complete an interrupted commit there, unless a run is writing into it now
    (its lock is held); the targets completed."""
    folder = Path(folder)
    if not (folder / JOURNAL).exists():
        return []
    lock = _Lock(folder)
    try:
        lock.acquire()
    except InputError:
        return []
    try:
        return recover(folder)
    finally:
        lock.release(remove=True)


def read_run_info(folder: str | os.PathLike, *, previous: bool = False) -> dict | None:
    """The ``run.json`` of an output folder (or of the folder above, for ``ledger_after/``), None if absent;
    ``previous``: the run before it (``run.previous.json``, kept beside ``ledger.previous.xlsx``)."""
    folder = Path(folder)
    name = RUN_PREVIOUS_JSON if previous else RUN_JSON
    for candidate in (folder / name, folder.parent / name):
        if candidate.is_file():
            try:
                return json.loads(candidate.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                return None
    return None


# --------------------------------------------------------------------------------------------- the set


class _Lock:
    """An exclusive lock on a folder's lock file for the life of a set (released when the process dies)."""

    def __init__(self, root: Path):
        self.path = root / LOCK
        self.handle = None

    def acquire(self) -> None:
        try:
            self.handle = open(self.path, "a+b")
        except OSError as exc:
            raise _folder_error(self.path.parent, exc) from None
        try:
            if os.name == "nt":  # pragma: no cover - Windows
                import msvcrt

                msvcrt.locking(self.handle.fileno(), msvcrt.LK_NBLCK, 1)
            else:
                import fcntl

                fcntl.flock(self.handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self.handle.close()
            self.handle = None
            raise InputError(f"{self.path.parent}: another geofacility run is writing into this folder; wait for it "
                             "to finish, or choose another --out") from None

    def release(self, *, remove: bool) -> None:
        if self.handle is None:
            return
        if remove:  # the run is over: its lock file is not left behind in the planner's folder
            with contextlib.suppress(OSError):
                self.path.unlink()
        self.handle.close()
        self.handle = None


class OutputSet:
    """The files one run writes into ``root`` (and folders under it), replaced together at :meth:`commit`."""

    def __init__(self, root: str | os.PathLike, *, command: list[str] | None = None):
        self.root = Path(root)
        self.run_id = secrets.token_hex(4)
        self.command = list(command) if command is not None else list(sys.argv)
        self.started = dt.datetime.now(dt.timezone.utc)
        self.staged: dict[Path, Path] = {}  # target → temporary file, in the order written
        self.settings: dict = {}
        self.inputs: dict[str, list[str]] = {}
        self.writing: Path | None = None
        #: lines for the terminal about the outputs (e.g. what happened to the planner's workbook)
        self.notes: list[str] = []
        self._lock = _Lock(self.root)

    # ---- opening

    def open(self, expected=()) -> "OutputSet":
        self.created = []  # the folders this set creates (deepest last): removed again if the run writes nothing
        folder = Path(os.path.abspath(self.root))
        while not folder.exists() and folder.parent != folder:
            self.created.append(folder)
            folder = folder.parent
        check_folder(self.root)
        self._lock.acquire()
        #: targets an interrupted earlier run had committed, completed now (the command says so)
        self.recovered = recover(self.root)
        blocked = blocked_targets(self.root / name for name in expected)
        if blocked:
            self.close()
            raise _blocked_error(self.root, blocked)
        return self

    def contains(self, path: Path) -> bool:
        try:
            Path(os.path.abspath(path)).relative_to(os.path.abspath(self.root))
        except ValueError:
            return False
        return True

    # ---- staging

    def stage(self, target: str | os.PathLike) -> Path:
        """A temporary path for ``target`` (not created: writers create it), replacing ``target`` at the commit."""
        target = Path(os.path.abspath(target))
        if target in self.staged:
            self.unstage(target)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _folder_error(target.parent, exc) from None
        tmp = target.with_name(f".{target.stem}.gf-{self.run_id}{target.suffix}")
        self.staged[target] = tmp
        self.writing = target
        _hook(f"stage:{target.name}")
        return tmp

    def unstage(self, target: str | os.PathLike) -> None:
        target = Path(os.path.abspath(target))
        tmp = self.staged.pop(target, None)
        if tmp is not None:
            _remove(tmp)

    def note_settings(self, settings: dict | None) -> None:
        """The settings of the analysis behind the outputs, for ``run.json``."""
        if settings:
            self.settings.update({k: v for k, v in settings.items() if k != "inputs"})
            for role, value in (settings.get("inputs") or {}).items():
                self.note_inputs(role, value)

    def note_inputs(self, role: str, paths) -> None:
        """Input files of ``role`` (a path, a list of paths, or a dict of them), hashed into ``run.json``."""
        if paths is None:
            return
        if isinstance(paths, dict):
            for key, value in paths.items():
                self.note_inputs(f"{role}:{key}", value)
            return
        items = paths if isinstance(paths, (list, tuple)) else [paths]
        listed = self.inputs.setdefault(role, [])
        for item in items:
            if item is not None and str(item) not in listed:
                listed.append(str(item))

    # ---- committing

    def run_info(self) -> dict:
        """What ``run.json`` will hold, as of now (the outputs staged so far): for a copy elsewhere (``--out-db``)."""
        return self._run_info(dt.datetime.now(dt.timezone.utc))

    def _run_info(self, finished: dt.datetime) -> dict:
        from . import __version__

        previous = read_run_info(self.root) if (self.root / RUN_JSON).is_file() else None
        outputs = []
        for target, tmp in self.staged.items():
            if target.name in (RUN_JSON, RUN_PREVIOUS_JSON) and target.parent == Path(os.path.abspath(self.root)):
                continue
            outputs.append({"file": target.relative_to(os.path.abspath(self.root)).as_posix(),
                            "bytes": tmp.stat().st_size, "sha256": file_sha256(tmp)})
        return {
            "geofacility_version": __version__,
            "run_id": self.run_id,
            "command": [mask_secrets(arg) for arg in self.command],  # a database password never written
            "working_folder": os.getcwd(),
            "started": self.started.isoformat(timespec="seconds"),
            "finished": finished.isoformat(timespec="seconds"),
            "settings": _jsonable(self.settings),
            "inputs": [{"role": role, **_describe_input(path)} for role, paths in self.inputs.items()
                       for path in paths],
            "outputs": outputs,
            "previous_run": None if previous is None else {k: previous.get(k) for k in ("run_id", "finished")},
        }

    def commit(self) -> None:
        """Replace every target by its temporary file; InputError (nothing replaced) when one cannot be."""
        missing = [t.name for t, tmp in self.staged.items() if not tmp.exists()]
        if missing:
            raise RuntimeError(f"output set: {', '.join(missing)} staged but never written")
        if not self.staged:
            return
        blocked = blocked_targets(self.staged)
        if blocked:
            raise _blocked_error(self.root, blocked)
        run_json = Path(os.path.abspath(self.root / RUN_JSON))
        if run_json.is_file():  # the run replaced: kept, as ledger.previous.xlsx is
            with contextlib.suppress(OSError):
                shutil.copyfile(run_json, self.stage(run_json.with_name(RUN_PREVIOUS_JSON)))
        info = self._run_info(dt.datetime.now(dt.timezone.utc))
        tmp = self.stage(run_json)
        tmp.write_text(json.dumps(info, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        for tmp in self.staged.values():
            _fsync_file(tmp)
        _hook("staged")
        base = Path(os.path.abspath(self.root))
        moves = [[tmp.relative_to(base).as_posix(), target.relative_to(base).as_posix()]
                 for target, tmp in self.staged.items()]
        journal_tmp = base / f"{JOURNAL}.{self.run_id}"
        journal_tmp.write_text(json.dumps({"run_id": self.run_id, "moves": moves}), encoding="utf-8")
        _fsync_file(journal_tmp)
        os.replace(journal_tmp, base / JOURNAL)  # the commit point
        _fsync_dir(base)
        _hook("journal")
        for i, (target, tmp) in enumerate(self.staged.items(), start=1):
            os.replace(tmp, target)
            _hook(f"renamed:{i}")
        for folder in {t.parent for t in self.staged}:
            _fsync_dir(folder)
        (base / JOURNAL).unlink()
        _fsync_dir(base)
        self.staged.clear()
        _hook("committed")

    def abort(self) -> None:
        """Remove every temporary file; the targets stay as they were."""
        for tmp in self.staged.values():
            _remove(tmp)
        self.staged.clear()

    def close(self) -> None:
        self._lock.release(remove=True)
        for folder in getattr(self, "created", []):  # a run that stopped before writing leaves no empty folder
            try:
                folder.rmdir()  # only when empty, deepest first
            except OSError:
                break


def _remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()


def _fsync_file(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _describe_input(path: str) -> dict:
    """An input file for run.json: path, size, SHA-256 (a Shapefile with its side files; ``file.gpkg:layer`` by
    its file; a folder by its files)."""
    text = mask_secrets(path)
    if text.startswith(("postgresql://", "postgres://", "PG:")):  # a PostGIS table: named, not hashed
        return {"path": text, "database": True}
    file = Path(text)
    if not file.exists() and ":" in text:  # file.gpkg:layer
        head = Path(text.rsplit(":", 1)[0])
        file = head if head.exists() else file
    record = {"path": text}
    try:
        if file.is_dir():
            members = sorted(p for p in file.rglob("*") if p.is_file())
        elif file.suffix.lower() == ".shp":
            members = sorted(p for p in file.parent.glob(f"{file.stem}.*") if p.is_file())
        elif file.is_file():
            members = [file]
        else:
            return {**record, "missing": True}
        h = hashlib.sha256()
        size = 0
        for member in members:
            h.update(member.name.encode("utf-8"))
            h.update(bytes.fromhex(file_sha256(member)))
            size += member.stat().st_size
        digest = file_sha256(file) if members == [file] else h.hexdigest()
        return {**record, "bytes": size, "sha256": digest}
    except OSError as exc:
        return {**record, "error": _reason(exc)}


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return str(value)


@contextlib.contextmanager
def output_set(root: str | os.PathLike, *, expected=(), command: list[str] | None = None, join: bool = True):
    """Open an :class:`OutputSet` on ``root`` for the block; commit it when the block ends without an error, remove
    its temporary files (replacing nothing) when it raises.

    ``expected``: names of files the run will replace, checked before the work starts. With ``join`` (default), a
    set already open on a folder containing ``root`` takes the files instead (one run, one set); a batch group opens
    its own with ``join=False``. A full disk while writing becomes an InputError naming the file."""
    outer = _active.get()
    if join and outer is not None and outer.contains(Path(root)):
        for name in expected:
            target = Path(root) / name
            blocked = blocked_targets([target])
            if blocked:
                raise _blocked_error(Path(root), blocked)
        yield outer
        return
    outputs = OutputSet(root, command=command).open(expected)
    token = _active.set(outputs)
    try:
        try:
            yield outputs
        except BaseException as exc:
            writing = outputs.writing
            full = not isinstance(exc, (InputError, KeyboardInterrupt)) and _no_space(exc, outputs.root)
            outputs.abort()
            if full:
                where = f" while writing {writing.name}" if writing is not None else ""
                raise InputError(f"{outputs.root}: no space left on the disk{where}; free some space (or choose "
                                 "another --out), then run again; nothing was replaced") from None
            raise
        try:
            outputs.commit()
        except BaseException as exc:
            if (outputs.root / JOURNAL).exists():
                raise  # past the commit point: the next run completes it
            full = not isinstance(exc, (InputError, KeyboardInterrupt)) and _no_space(exc, outputs.root)
            outputs.abort()
            if full:
                raise InputError(f"{outputs.root}: no space left on the disk while finishing the outputs; free some "
                                 "space (or choose another --out), then run again; nothing was replaced") from None
            raise
    finally:
        _active.reset(token)
        outputs.close()
