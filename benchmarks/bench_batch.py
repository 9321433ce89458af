"""Batch benchmark: a synthetic city of ~5,000 communities, 1,000,000 population points and 7 × 2,000
facilities in 100 towns, run with `geofacility.batch.batch` (straight-line distance) on 1 and 2 Dask workers.

    python benchmarks/bench_batch.py            # the full size (a few minutes on 2 cores)
    python benchmarks/bench_batch.py --quick    # a small city, for a smoke run

Prints wall time and peak memory (this process and, for the Dask run, its worker processes) per run, and
`ratio 1worker/2workers: X.X`.
"""
from __future__ import annotations

import argparse
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from geofacility.batch import batch  # noqa: E402
from geofacility.synth import synthetic_city  # noqa: E402


def make_city(folder: Path, *, side: int, demand: int, facilities: int, towns_side: int) -> dict:
    city = synthetic_city(n_nodes_side=side, n_demand=demand, facilities_per_category=facilities, seed=7)
    comm = city.communities
    # regroup the communities into towns_side × towns_side towns by position
    c = comm.geometry.centroid
    xs = np.floor((c.x - c.x.min()) / (c.x.max() - c.x.min() + 1e-9) * towns_side).astype(int)
    ys = np.floor((c.y - c.y.min()) / (c.y.max() - c.y.min() + 1e-9) * towns_side).astype(int)
    comm["town"] = [f"Town {y:02d}-{x:02d}" for x, y in zip(xs, ys)]
    city.communities = comm
    paths = city.write(folder)
    return {"communities": paths["communities"], "facilities": [paths["facilities"]],
            "demand": paths["demand"], "n_communities": len(comm), "n_towns": comm["town"].nunique(),
            "n_demand": len(city.demand), "n_facilities": len(city.facilities)}


def peak_mb(who) -> float:
    return resource.getrusage(who).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--keep", type=Path, default=None, help="keep the city and outputs in this folder")
    args = parser.parse_args()
    size = dict(side=60, demand=50_000, facilities=100, towns_side=4) if args.quick else \
        dict(side=356, demand=1_000_000, facilities=2_000, towns_side=10)
    root = args.keep or Path(tempfile.mkdtemp(prefix="gf-bench-batch-"))
    root.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    info = make_city(root / "city", **size)
    print(f"city: {info['n_communities']:,} communities, {info['n_towns']} towns, {info['n_demand']:,} population "
          f"points, {info['n_facilities']:,} facilities; generated and written in {time.perf_counter() - t:.1f} s")
    inputs = {k: info[k] for k in ("communities", "facilities", "demand")}
    times = {}
    for workers in (1, 2):
        out = root / f"out_{workers}"
        shutil.rmtree(out, ignore_errors=True)
        t = time.perf_counter()
        result = batch(by="town", out=out, workers=workers, force=True, **inputs)
        times[workers] = time.perf_counter() - t
        print(f"{workers} worker{'s' if workers > 1 else ''}: {times[workers]:.1f} s wall, "
              f"{result.summary['group'].nunique()} groups, {len(result.failed)} failed; peak RSS main "
              f"{peak_mb(resource.RUSAGE_SELF):,.0f} MB, workers {peak_mb(resource.RUSAGE_CHILDREN):,.0f} MB")
    same = all((root / "out_1" / f.name / "ledger.csv").read_bytes() == (f / "ledger.csv").read_bytes()
               for f in (root / "out_2").iterdir() if f.is_dir())
    print(f"ledgers identical with 1 and 2 workers: {same}")
    print(f"ratio 1worker/2workers: {times[1] / times[2]:.1f}")
    if args.keep is None:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
