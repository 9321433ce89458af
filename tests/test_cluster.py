"""A real Dask cluster: ``dask scheduler`` and two ``dask worker`` processes on 127.0.0.1, started here.

The batch sent to it (``--scheduler tcp://127.0.0.1:PORT``) writes what one process writes, byte for byte; a
worker killed mid-run has its groups retried on the other, and no group is lost or written twice."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import need

need("distributed")

from geofacility.synth import synthetic_city  # noqa: E402

@pytest.fixture(scope="module")
def city(tmp_path_factory):
    """16 towns of 4 × 4 communities, 20,000 homes in a GeoPackage (each group reads its own by bounding box)."""
    root = tmp_path_factory.mktemp("cluster_city")
    c = synthetic_city(n_nodes_side=80, n_demand=20_000, facilities_per_category=40, seed=11)
    paths = c.write(root)
    c.demand.to_file(root / "demand.gpkg", driver="GPKG", layer="demand")
    return {"communities": str(paths["communities"]), "facilities": [str(paths["facilities"])],
            "demand": str(root / "demand.gpkg")}


def _start(args: list[str], log: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", *args], stdout=log.open("w"), stderr=subprocess.STDOUT,
                            start_new_session=True)


@pytest.fixture
def cluster(tmp_path):
    """A scheduler on a free port of 127.0.0.1 and two single-threaded workers; all stopped afterwards."""
    info = tmp_path / "scheduler.json"
    procs = [_start(["distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                     "--scheduler-file", str(info)], tmp_path / "scheduler.log")]
    try:
        deadline = time.monotonic() + 60
        while not info.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert info.exists(), (tmp_path / "scheduler.log").read_text()
        address = json.loads(info.read_text())["address"]
        workers = [_start(["distributed.cli.dask_worker", address, "--nthreads", "1", "--nworkers", "1",
                           "--no-dashboard", "--host", "127.0.0.1", "--memory-limit", "0",
                           "--local-directory", str(tmp_path / f"w{i}")], tmp_path / f"worker{i}.log")
                   for i in range(2)]
        procs += workers
        from distributed import Client

        with Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=120)
        yield {"address": address, "workers": workers}
    finally:
        for proc in reversed(procs):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from compare_outputs import compared, same  # noqa: E402


def _differences(a: Path, b: Path) -> list[str]:
    """Files only one batch wrote, and files that differ — byte for byte, or for a workbook cell by cell and for
    a GeoPackage row by row (scripts/compare_outputs.py: their bytes hold the time of writing); run.json (times)
    and manifest.json (compared by its groups' hashes) aside."""
    left, right = compared(a), compared(b)
    return sorted(str(p) for p in left ^ right) + [str(p) for p in sorted(left & right)
                                                    if not same(a / p, b / p, ("", ""))]


def test_cluster_equals_one_process_and_a_killed_worker_loses_nothing(tmp_path, city, cluster):
    """One process, then the cluster: the same files. Then the cluster again with a worker killed mid-run: every
    group completes on the other, none is lost, half-written or written twice (its manifest's run id), and the
    files are again the same."""
    args = [sys.executable, "-m", "geofacility.cli", "batch", "--by", "town", "--communities", city["communities"],
            "--facilities", city["facilities"][0], "--demand", city["demand"]]
    reference = subprocess.run([*args, "--out", str(tmp_path / "one")], capture_output=True, text=True)
    assert reference.returncode == 0, reference.stdout + reference.stderr
    many = subprocess.run([*args, "--out", str(tmp_path / "many"), "--scheduler", cluster["address"]],
                          capture_output=True, text=True)
    assert many.returncode == 0, many.stdout + many.stderr
    groups = json.loads((tmp_path / "one" / "manifest.json").read_text())["groups"]
    assert len(groups) == 16 and all(g["status"] == "ok" for g in groups.values())
    assert _differences(tmp_path / "one", tmp_path / "many") == []
    hashes = [{g: v["hash"] for g, v in json.loads((tmp_path / d / "manifest.json").read_text())["groups"].items()}
              for d in ("one", "many")]
    assert hashes[0] == hashes[1]

    out = tmp_path / "killed"
    run = subprocess.Popen([*args, "--out", str(out), "--scheduler", cluster["address"]], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
    # kill a worker once groups are being written (the first group's ledger exists): others are in flight
    deadline = time.monotonic() + 300
    while not list(out.glob("*/ledger.csv")) and time.monotonic() < deadline and run.poll() is None:
        time.sleep(0.05)
    victim = cluster["workers"][0]
    written = len(list(out.glob("*/ledger.csv")))
    assert run.poll() is None and 0 < written < 16  # killed mid-run: groups written, others still to do
    os.killpg(victim.pid, signal.SIGKILL)
    victim.wait()
    output, _ = run.communicate(timeout=600)
    assert run.returncode == 0, output
    groups = json.loads((out / "manifest.json").read_text())["groups"]
    assert len(groups) == 16 and all(g["status"] == "ok" for g in groups.values())
    # no group missing, none half-written, no temporary file or ledger.previous.xlsx left behind, the same results
    assert _differences(tmp_path / "one", out) == []
