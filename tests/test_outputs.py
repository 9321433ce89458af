"""One run, one set of outputs (issue 13, parts 2 and 3): a run replaces all its files or none, stops before
replacing anything when one cannot be replaced, survives ``kill -9`` at any step of its commit, says in run.json
which run each file came from, and the command line never shows a traceback for a user's mistake."""
from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from conftest import write_grid_files
from geofacility.errors import InputError
from geofacility.ledger import write_ledger
from geofacility.maps import write_map
from geofacility.outputs import JOURNAL, RUN_JSON, file_sha256, output_set, read_run_info, recover
from geofacility.pipeline import analyze

ROOT = Path(__file__).resolve().parent.parent
SET = ["coverage.gpkg", "ledger.csv", "ledger.xlsx", "map.html", "run.json"]


@pytest.fixture
def grid_inputs(tmp_path, grid_communities, grid_facilities):
    """The 3×3 grid as files: two schools (run "new") and one school (run "old")."""
    folder = tmp_path / "inputs"
    folder.mkdir()
    comm, fac = write_grid_files(folder, grid_communities, grid_facilities)
    one = folder / "one_school.csv"
    lines = fac.read_text(encoding="utf-8").splitlines()
    one.write_text("\n".join(lines[:2]) + "\n", encoding="utf-8")
    return {"communities": comm, "two": fac, "one": one}


def _cli(args, *, prelude: str = "", env: dict | None = None, timeout: float = 180) -> subprocess.CompletedProcess:
    """geofacility in a subprocess, optionally with some Python run first (a test hook)."""
    code = f"import sys\n{prelude}\nfrom geofacility.cli import main\nsys.argv = ['geofacility', *{args!r}]\nmain()\n"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def _analyze_args(inputs, facilities: str, out: Path) -> list[str]:
    return ["analyze", "--communities", str(inputs["communities"]), "--facilities", f"education={inputs[facilities]}",
            "--radius", "education=520", "--out", str(out), "--quiet"]


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _consistent(folder: Path) -> dict:
    """The folder holds exactly the set its run.json describes: every output there, byte for byte."""
    info = json.loads((folder / RUN_JSON).read_text(encoding="utf-8"))
    for output in info["outputs"]:
        assert file_sha256(folder / output["file"]) == output["sha256"], output["file"]
    return info


def _api_set(folder: Path, analysis) -> None:
    with output_set(folder, expected=["ledger.xlsx", "ledger.csv", "coverage.gpkg", "map.html"]):
        write_ledger(analysis, folder)
        write_map(analysis, folder / "map.html")


# ------------------------------------------------------------------------------------------------ blocked targets


def _read_only_ledger(folder: Path):
    os.chmod(folder / "ledger.xlsx", 0o444)
    return lambda: os.chmod(folder / "ledger.xlsx", 0o644)


def _immutable_ledger(folder: Path):
    if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(folder / "ledger.xlsx")],
                                                        capture_output=True).returncode:
        pytest.skip("chattr +i is not available here (needs root on a filesystem that supports it)")
    return lambda: subprocess.run(["chattr", "-i", str(folder / "ledger.xlsx")], check=True)


def _read_only_folder(folder: Path):
    os.chmod(folder, 0o555)
    return lambda: os.chmod(folder, 0o755)


def _folder_named_like_an_output(folder: Path):
    (folder / "map.html").unlink()
    (folder / "map.html").mkdir()
    return lambda: None


BLOCKED = [(_read_only_ledger, "close ledger.xlsx in Excel"), (_immutable_ledger, "close ledger.xlsx in Excel"),
           (_read_only_folder, "read-only"), (_folder_named_like_an_output, r"map.html \(a folder of that name")]


@pytest.mark.parametrize("block,text", BLOCKED, ids=[f.__name__.strip("_") for f, _ in BLOCKED])
def test_a_target_that_cannot_be_replaced_stops_the_run_before_anything_changes(tmp_path, grid_inputs, block, text):
    folder = tmp_path / "out"
    old = analyze(communities=grid_inputs["communities"], facilities=[(grid_inputs["one"], "education")],
                  radius={"education": 520})
    new = analyze(communities=grid_inputs["communities"], facilities=[(grid_inputs["two"], "education")],
                  radius={"education": 520})
    _api_set(folder, old)
    undo = block(folder)
    before = _snapshot(folder)
    try:
        with pytest.raises(InputError, match=text) as caught:
            _api_set(folder, new)
        assert "nothing was" in str(caught.value) and "\n" not in str(caught.value)
    finally:
        undo()
    assert _snapshot(folder) == before


def test_excel_lock_through_the_command_line(tmp_path, grid_inputs):
    """The planner's case, end to end: ledger.xlsx open in Excel (emulated by a read-only file) — exit 2 before the
    analysis, one line saying what to do, no traceback, the earlier set untouched (today's bug: a traceback and a
    new coverage.gpkg beside the old ledger)."""
    out = tmp_path / "out"
    assert _cli(_analyze_args(grid_inputs, "one", out)).returncode == 0
    before = _snapshot(out)
    os.chmod(out / "ledger.xlsx", 0o444)
    result = _cli(_analyze_args(grid_inputs, "two", out))
    os.chmod(out / "ledger.xlsx", 0o644)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in result.stderr
    assert "close ledger.xlsx in Excel" in lines[0] and "nothing was replaced" in lines[0]
    assert _snapshot(out) == before


@pytest.mark.parametrize("case", ["out-is-a-file", "symlink-loop", "path-through-a-file"])
def test_unusable_output_folders(tmp_path, grid_inputs, case):
    analysis = analyze(communities=grid_inputs["communities"], facilities=[(grid_inputs["one"], "education")],
                       radius={"education": 520})
    if case == "out-is-a-file":
        out = tmp_path / "report.xlsx"
        out.write_bytes(b"the planner's own file")
        text = "names a file, not a folder"
    elif case == "symlink-loop":
        os.symlink(tmp_path / "loop", tmp_path / "loop")
        out = tmp_path / "loop" / "out"
        text = "symlink loop"
    else:
        (tmp_path / "notes.txt").write_text("x")
        out = tmp_path / "notes.txt" / "out"
        text = "names a file|file where a folder should be"
    with pytest.raises(InputError, match=text):
        _api_set(out, analysis)
    if case == "out-is-a-file":
        assert out.read_bytes() == b"the planner's own file"


# ------------------------------------------------------------------------------------------------ full disk


def test_no_space_while_writing_replaces_nothing(tmp_path, grid_inputs, monkeypatch):
    folder = tmp_path / "out"
    analysis = analyze(communities=grid_inputs["communities"], facilities=[(grid_inputs["one"], "education")],
                       radius={"education": 520})
    _api_set(folder, analysis)
    before = _snapshot(folder)
    real = Path.write_text

    def full(self, *args, **kwargs):
        if self.suffix == ".html":
            self.write_bytes(b"<html>half a map")
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", full)
    with pytest.raises(InputError, match="no space left on the disk while writing map.html"):
        _api_set(folder, analysis)
    assert _snapshot(folder) == before  # and no temporary file left behind


def test_a_really_full_disk(tmp_path, grid_inputs):
    """On a tmpfs just big enough for the earlier set: the new run runs out of space while staging; exit 2, the
    earlier set intact, no temporary file left."""
    old = tmp_path / "old"
    assert _cli(_analyze_args(grid_inputs, "one", old)).returncode == 0
    size = sum(len(b) for b in _snapshot(old).values())
    mount = tmp_path / "small"
    mount.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size + 64 * 1024}", "tmpfs", str(mount)],
                            capture_output=True)
    if result.returncode:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    try:
        out = mount / "out"
        shutil.copytree(old, out)
        before = _snapshot(out)
        run = _cli(_analyze_args(grid_inputs, "two", out))
        assert run.returncode == 2, run.stderr
        assert "no space left" in run.stderr and "Traceback" not in run.stderr
        assert len(run.stderr.strip().splitlines()) == 1
        assert _snapshot(out) == before
    finally:
        subprocess.run(["umount", str(mount)], check=False)


# ------------------------------------------------------------------------------------------------ kill -9

KILL_POINTS = ["stage:ledger.xlsx", "stage:map.html", "staged", "journal", "renamed:1", "renamed:3", "committed"]


def _killed_run(inputs, out: Path, point: str) -> subprocess.CompletedProcess:
    prelude = textwrap.dedent(f"""
        import os, signal
        import geofacility.outputs as outputs
        def hook(stage):
            if stage == {point!r}:
                os.kill(os.getpid(), signal.SIGKILL)
        outputs._hook = hook
    """)
    return _cli(_analyze_args(inputs, "two", out), prelude=prelude)


def test_kill_at_every_step_leaves_the_old_set_or_the_new_one(tmp_path, grid_inputs):
    base = tmp_path / "base"
    assert _cli(_analyze_args(grid_inputs, "one", base)).returncode == 0
    old_info = _consistent(base)
    folders = {point: tmp_path / point.replace(":", "_") for point in KILL_POINTS}
    for folder in folders.values():
        shutil.copytree(base, folder)
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = dict(zip(folders, pool.map(lambda p: _killed_run(grid_inputs, folders[p], p), folders)))
    for point, folder in folders.items():
        assert results[point].returncode == -signal.SIGKILL, (point, results[point].stderr)
        if (folder / JOURNAL).exists():  # past the commit point: the next command completes the new set
            assert point in ("journal", "renamed:1", "renamed:3")
            recover(folder)
            assert _consistent(folder)["run_id"] != old_info["run_id"]
            new = True
        else:  # before it: the old set, byte for byte (temporary files aside)
            assert point in ("stage:ledger.xlsx", "stage:map.html", "staged", "committed")
            new = point == "committed"
            info = _consistent(folder)
            assert (info["run_id"] != old_info["run_id"]) == new
            if not new:
                assert {k: v for k, v in _snapshot(folder).items() if not Path(k).name.startswith(".")} == \
                    _snapshot(base)
        # the new set keeps the earlier ledger and the run.json that describes it
        expected = sorted([*SET, "ledger.previous.xlsx", "run.previous.json"]) if new else SET
        assert sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")) == expected
    # the next run removes what the killed ones left and writes a complete set
    folder = folders["staged"]
    assert any(p.name.startswith(".") for p in folder.iterdir())
    assert _cli(_analyze_args(grid_inputs, "two", folder)).returncode == 0
    assert sorted(p.name for p in folder.iterdir()) == sorted([*SET, "ledger.previous.xlsx", "run.previous.json"])
    _consistent(folder)


# ------------------------------------------------------------------------------------------------ run.json


def test_run_json_says_which_run_each_file_came_from(tmp_path, grid_inputs):
    out = tmp_path / "out"
    args = _analyze_args(grid_inputs, "two", out)
    assert _cli(args).returncode == 0
    info = _consistent(out)
    assert info["command"][1:] == args
    from geofacility import __version__

    assert info["geofacility_version"] == __version__
    assert info["settings"]["distance"] == "euclidean" and info["settings"]["coverage_target"] == 1.0
    assert "education/primary_school r=520 m" in info["settings"]["standards_applied"]
    inputs = {i["role"]: i for i in info["inputs"]}
    assert inputs["communities"]["sha256"] == file_sha256(grid_inputs["communities"])
    assert inputs["facilities"]["sha256"] == file_sha256(grid_inputs["two"])
    assert sorted(o["file"] for o in info["outputs"]) == [f for f in SET if f != "run.json"]
    assert info["started"] <= info["finished"]
    # a second run names the first
    assert _cli(args).returncode == 0
    assert read_run_info(out)["previous_run"]["run_id"] == info["run_id"]


def test_another_run_writing_into_the_same_folder_is_refused(tmp_path):
    with output_set(tmp_path / "out"):
        with pytest.raises(InputError, match="another geofacility run is writing into this folder"):
            with output_set(tmp_path / "out", join=False):
                pass


def test_a_failed_run_leaves_no_new_empty_folder(tmp_path, grid_inputs):
    out = tmp_path / "never"
    result = _cli(["analyze", "--communities", str(tmp_path / "missing.geojson"), "--out", str(out)])
    assert result.returncode == 2 and not out.exists()


# ------------------------------------------------------------------------------------------------ the command line

BLOCK_CLICK = """
import sys


class _NoClick:
    \"\"\"click is not installed after the README's install (typer vendors it): make sure nothing imports it.\"\"\"

    def find_spec(self, name, path=None, target=None):
        if name == "click" or name.startswith("click."):
            raise ModuleNotFoundError(f"No module named {name!r} (blocked by the test: not installed by the README)")
        return None


sys.meta_path.insert(0, _NoClick())
"""


def _console_script() -> str:
    script = Path(sys.executable).parent / "geofacility"
    if not script.exists():
        pytest.skip("the geofacility console script is not installed in this environment")
    return str(script)


@pytest.mark.parametrize("args,code,text", [
    (["analyze", "--comunities", "x"], 2, "No such option: --comunities"),
    (["analyse"], 2, "No such command 'analyse'"),
    (["analyze", "--radius"], 2, "requires an argument"),
    (["sites", "select", "--k", "three"], 2, "Invalid value for '--k'"),
    (["--help"], 0, "Usage: geofacility"),
])
def test_command_line_mistakes_without_click_installed(tmp_path, args, code, text):
    """The installed console script with ``import click`` made impossible, as after the README's install alone:
    a mistyped option is typer's usage error and exit 2, never a traceback."""
    (tmp_path / "sitecustomize.py").write_text(BLOCK_CLICK, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    result = subprocess.run([_console_script(), *args], capture_output=True, text=True, env=env, timeout=120,
                            cwd=tmp_path)
    assert result.returncode == code, result.stderr
    assert text in result.stdout + result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    assert not list(tmp_path.glob("output*"))


def test_the_readme_install_alone(tmp_path):
    """The console script in a virtual environment made only from the README's install command (``pip install
    -e .``, no test extras): a typo is a usage error, the standards table prints, the workbench's server imports.
    Skipped where no package index or cache can give the dependencies."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True)
    pip = venv / "bin" / "pip"
    install = subprocess.run([str(pip), "install", "-q", "-e", str(ROOT)], capture_output=True, text=True,
                             timeout=600)
    if install.returncode:
        pytest.skip(f"pip install -e . failed here (no package index?): {install.stderr.strip()[-300:]}")
    script = venv / "bin" / "geofacility"
    # click now comes with uvicorn (geofacility serve); the console script without it is
    # test_command_line_mistakes_without_click_installed's case. The workbench's web stack comes with the install:
    serve = subprocess.run([str(venv / "bin" / "python"), "-c", "import starlette, uvicorn, geofacility.workbench.server"],
                           capture_output=True, text=True)
    assert serve.returncode == 0, serve.stderr
    typo = subprocess.run([str(script), "analyze", "--comunities", "x"], capture_output=True, text=True, timeout=120)
    assert typo.returncode == 2 and "No such option: --comunities" in typo.stderr + typo.stdout
    assert "Traceback" not in typo.stderr
    standards = subprocess.run([str(script), "standards", "--csv"], capture_output=True, text=True, timeout=120)
    assert standards.returncode == 0 and "primary_school" in standards.stdout
    from contextlib import suppress

    with suppress(OSError):
        shutil.rmtree(venv)
