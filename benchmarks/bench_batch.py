"""Batch benchmark: a synthetic city run with `geofacility.batch.batch` (straight-line distance, capacity
allocation on), each group reading and placing its own homes from a GeoParquet file.

    python benchmarks/bench_batch.py              # the 1M city: ~5,000 communities, 100 towns, 1,000,000 homes,
                                                  # 7 × 2,000 facilities; 1 and 2 workers
    python benchmarks/bench_batch.py --quick      # a small city, for a smoke run
    python benchmarks/bench_batch.py --province --workers 2    # 10,000,000 homes, 50,176 communities, 1,024 towns
    python benchmarks/bench_batch.py --workers 1 4 16          # on a bigger machine

Prints per run the wall time, the driver time not overlapped with the workers (reading the communities,
facilities and standards, joining the capacity classes, the roll-up) and the serial share (driver time ÷ the
1-worker wall time, or ÷ this run's wall time when 1 worker is not run), the peak memory of this process and of
the workers (largest), and the speed-up against 1 worker; finally whether the ledgers are identical across runs.
"""
from __future__ import annotations

import argparse
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from geofacility.batch import batch  # noqa: E402


def make_city(folder: Path, preset: str) -> dict:
    """``geofacility synth --preset`` in its own process (its few GB of memory are not this process's)."""
    import subprocess

    import geopandas as gpd
    import pyarrow.parquet as pq

    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "geofacility.cli", "synth", "--preset", preset, "--out", str(folder)],
                   check=True, capture_output=True)
    comm = gpd.read_parquet(folder / "communities.parquet", columns=["town", "geometry"])
    return {"communities": folder / "communities.parquet", "facilities": [folder / "facilities.parquet"],
            "demand": folder / "demand.parquet", "n_communities": len(comm), "n_towns": comm["town"].nunique(),
            "n_demand": pq.ParquetFile(folder / "demand.parquet").metadata.num_rows,
            "n_facilities": pq.ParquetFile(folder / "facilities.parquet").metadata.num_rows,
            "written_s": time.perf_counter() - t}


def neighbourhood_check(inputs: dict, out: Path, group: str, work: Path, *, margin_m: float = 4000.0) -> tuple[int, list]:
    """A batch group's ledger rows against a whole-area run of its neighbourhood: the communities within
    ``margin_m`` of the group's (and their homes, read by bounding box), every facility, the same settings.
    Returns the communities compared and the (community, column) pairs that differ."""
    import geopandas as gpd
    import pandas as pd
    import shapely

    from geofacility.ledger import write_ledger
    from geofacility.pipeline import analyze
    from geofacility.read import read_layer

    comm = gpd.read_file(inputs["communities"]) if str(inputs["communities"]).endswith(".gpkg") else \
        gpd.read_parquet(inputs["communities"])
    mine = comm["town"] == group
    minx, miny, maxx, maxy = comm.loc[mine].total_bounds
    area = shapely.box(minx - margin_m, miny - margin_m, maxx + margin_m, maxy + margin_m)
    near = comm.loc[comm.intersects(area)]
    work.mkdir(parents=True, exist_ok=True)
    near.to_file(work / "communities.gpkg", driver="GPKG")
    lonlat = gpd.GeoSeries([area], crs=comm.crs).to_crs(4326).total_bounds
    homes = read_layer(inputs["demand"], bbox=tuple(lonlat)).drop(columns=["source_file", "source_row"])
    homes.to_file(work / "demand.gpkg", driver="GPKG")
    whole = analyze(communities=work / "communities.gpkg", demand=work / "demand.gpkg",
                    facilities=inputs["facilities"])
    write_ledger(whole, work / "out", gpkg=False)
    ref = pd.read_csv(work / "out" / "ledger.csv", encoding="utf-8-sig", dtype=str).set_index("community_id")
    got = pd.read_csv(out / group / "ledger.csv", encoding="utf-8-sig", dtype=str).set_index("community_id")
    ref = ref.loc[got.index]
    differ = [(c, col) for col in got.columns for c in got.index[got[col].fillna("") != ref[col].fillna("")]]
    return len(got), differ


def peak_mb(who) -> float:
    return resource.getrusage(who).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true")
    size.add_argument("--province", action="store_true")
    parser.add_argument("--workers", type=int, nargs="+", default=None, help="worker counts to run (default 1 2)")
    parser.add_argument("--keep", type=Path, default=None, help="keep the city and outputs in this folder")
    args = parser.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="gf-bench-batch-"))
    root.mkdir(parents=True, exist_ok=True)
    if args.quick:
        from geofacility.synth import synthetic_city

        city = synthetic_city(n_nodes_side=60, n_demand=50_000, facilities_per_category=100, seed=7)
        paths = city.write(root / "city", format="parquet", streets=False)
        info = {"communities": paths["communities"], "facilities": [paths["facilities"]], "demand": paths["demand"],
                "n_communities": len(city.communities), "n_towns": city.communities["town"].nunique(),
                "n_demand": len(city.demand), "n_facilities": len(city.facilities), "written_s": 0.0}
    else:
        info = make_city(root / "city", "province" if args.province else "city")
    print(f"city: {info['n_communities']:,} communities, {info['n_towns']} towns, {info['n_demand']:,} homes, "
          f"{info['n_facilities']:,} facilities; generated and written in {info['written_s']:.1f} s")
    inputs = {k: info[k] for k in ("communities", "facilities", "demand")}
    walls, outs = {}, {}
    for workers in args.workers or [1, 2]:
        out = root / f"out_{workers}"
        shutil.rmtree(out, ignore_errors=True)
        result = batch(by="town", out=out, workers=workers, force=True, **inputs)
        t = result.timings
        walls[workers], outs[workers] = t["wall"], out
        base = walls.get(1, t["wall"])
        print(f"{workers} worker{'s' if workers > 1 else ''}: {t['wall']:.1f} s wall (prepare {t['prepare']:.1f}, "
              f"groups {t['groups']:.1f}, roll-up {t['rollup']:.1f}); driver {t['driver']:.1f} s, serial share "
              f"{t['driver'] / base:.1%}; {result.summary['group'].nunique()} groups, {len(result.failed)} failed; "
              f"peak RSS main {peak_mb(resource.RUSAGE_SELF):,.0f} MB, workers {peak_mb(resource.RUSAGE_CHILDREN):,.0f} MB"
              + (f"; speed-up {walls[1] / t['wall']:.2f}×" if 1 in walls and workers > 1 else ""))
    if args.province or args.quick:  # sampled groups against a whole-area run of their neighbourhood
        towns = sorted(p.name for p in next(iter(outs.values())).iterdir() if p.is_dir())
        for group in (towns[len(towns) // 3], towns[2 * len(towns) // 3]):
            n, differ = neighbourhood_check(inputs, next(iter(outs.values())), group, root / "check" / group)
            print(f"{group}: {n} communities equal to a whole-area run of their neighbourhood: {not differ}"
                  + (f" (differ: {differ[:5]})" if differ else ""))
    first = next(iter(outs.values()))
    same = all((first / f.name / "ledger.csv").read_bytes() == (f / "ledger.csv").read_bytes()
               for o in outs.values() for f in o.iterdir() if f.is_dir())
    print(f"ledgers identical across runs: {same}")
    if args.keep is None:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
