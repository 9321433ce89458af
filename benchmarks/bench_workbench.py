"""Workbench update times: per toggle (median, p95 over ~50 clicks on random selectable rooms) and per add_room,
for (a) the Xicheng sample, community_service (Beijing's community-room rule), and (b) a synthetic city of
200,000 homes, straight line; with ``--helsinki``, (c) central Helsinki on foot (data/helsinki, the real OSM
walking network; health, r=300 m), every 16th building standing in as a candidate room. Prints what each click
recomputed (demand rows, communities).

    python benchmarks/bench_workbench.py [--homes 200000] [--clicks 50] [--helsinki]
"""
from __future__ import annotations

import argparse
import tempfile
import time

import geopandas as gpd
import numpy as np
import pandas as pd


def run(label, wb, category, clicks, rng, add_points):
    study = wb._cat(category).study
    ids = study.candidates["candidate_id"].astype(str).to_numpy()[study.eligible]
    times, rows, comms = [], [], []
    for _ in range(clicks):
        t = time.perf_counter()
        u = wb.toggle(category, str(rng.choice(ids)))
        times.append((time.perf_counter() - t) * 1000)
        rows.append(u["recomputed"]["demand_rows"])
        comms.append(u["recomputed"]["communities"])
    add = []
    for lon, lat, area in add_points:
        t = time.perf_counter()
        wb.add_room(category, lon=lon, lat=lat, floor_area_m2=area, name="bench")
        add.append((time.perf_counter() - t) * 1000)
    print(f"{label}: toggle median {np.median(times):.0f} ms, p95 {np.percentile(times, 95):.0f} ms "
          f"({clicks} clicks); add_room median {np.median(add):.0f} ms; per click recomputed "
          f"{np.median(rows):.0f} demand rows (max {max(rows)}), {np.median(comms):.0f} communities (max {max(comms)})")


def xicheng(clicks, rng):
    from geofacility.cli.sites import read_rooms
    from geofacility.pipeline import analyze
    from geofacility.study import sample_dir, sample_inputs
    from geofacility.workbench.model import Workbench

    d = sample_dir()
    kw = sample_inputs()
    kw["facilities"] = kw["facilities"] + [(d / "community_rooms_existing.csv", "community_service")]
    analysis = analyze(**kw, standard_choices={"community_service": ["community_rooms_beijing"]})
    analysis, rooms = read_rooms(analysis, d / "candidate_rooms.csv", "community_service")
    t = time.perf_counter()
    wb = Workbench(analysis, rooms, out=tempfile.mkdtemp())
    wb._cat("community_service")
    print(f"xicheng: open {time.perf_counter() - t:.2f} s")
    c = analysis.communities.geometry.representative_point().to_crs(4326)
    run("xicheng community_service", wb, "community_service", clicks, rng,
        [(c.x.iloc[i], c.y.iloc[i], 400.0) for i in range(5)])


def helsinki(clicks, rng, category="health"):
    """On foot: each click's subset is measured over the whole walking network (one search per standard from the
    category's facilities and built rooms), and the state draws each newly built room's walking catchment."""
    from pathlib import Path

    from geofacility.pipeline import analyze
    from geofacility.workbench.model import Workbench

    d = Path(__file__).resolve().parents[1] / "data" / "helsinki"
    t = time.perf_counter()
    analysis = analyze(communities=d / "blocks.geojson", facilities=[d / "facilities.csv"],
                       demand=d / "buildings.csv", network=d / "helsinki.osm.pbf")
    print(f"helsinki on foot: {len(analysis.demand):,} buildings, {len(analysis.communities)} blocks; analyze "
          f"{time.perf_counter() - t:.2f} s")
    b = pd.read_csv(d / "buildings.csv").iloc[::16]
    rooms = gpd.GeoDataFrame({"candidate_id": "H" + b["building_id"].str[1:], "name": "房源", "floor_area_m2": 400.0,
                              "categories": [[category]] * len(b), "acquisition": None, "reviewed": True,
                              "cost": np.nan, "floor": np.nan},
                             geometry=gpd.points_from_xy(b["lon"], b["lat"]), crs=4326).to_crs(analysis.crs)
    t = time.perf_counter()
    wb = Workbench(analysis, rooms, out=tempfile.mkdtemp())
    wb._cat(category)
    print(f"helsinki: open {time.perf_counter() - t:.2f} s ({len(rooms)} rooms)")
    t = time.perf_counter()
    wb.layers(category)
    print(f"helsinki: first layers (draws the facilities' walking catchments) {time.perf_counter() - t:.2f} s")
    c = analysis.communities.geometry.representative_point().to_crs(4326)
    run(f"helsinki on foot {category}", wb, category, clicks, rng,
        [(c.x.iloc[i], c.y.iloc[i], 400.0) for i in range(5)])


def city(homes, clicks, rng, category):
    from geofacility.pipeline import analyze
    from geofacility.synth import synthetic_city
    from geofacility.workbench.model import Workbench

    side = int(np.sqrt(homes / 20)) + 1  # about 20 homes per grid node
    c = synthetic_city(n_nodes_side=side, n_demand=homes, seed=3)
    folder = tempfile.mkdtemp()
    paths = c.write(folder, streets=False)
    t = time.perf_counter()
    analysis = analyze(communities=paths["communities"], demand=paths["demand"], facilities=[paths["facilities"]],
                       demand_columns={"weight": "population"}, study="")
    print(f"city: {len(analysis.demand):,} homes, {len(analysis.communities):,} communities; analyze "
          f"{time.perf_counter() - t:.1f} s")
    check = next(ch for ch in analysis.checks if ch.category == category)
    pick = rng.choice(len(c.demand), 200, replace=False)
    pts = c.demand.geometry.iloc[pick]
    rooms = gpd.GeoDataFrame({"candidate_id": [f"R{i}" for i in range(200)], "name": "房源",
                              "floor_area_m2": float(check.min_building_m2 or 300) * 1.2, "categories": [[]] * 200,
                              "acquisition": None, "reviewed": True, "cost": np.nan, "floor": np.nan},
                             geometry=pts.values, crs=c.crs)
    t = time.perf_counter()
    wb = Workbench(analysis, rooms, out=folder)
    wb._cat(category)
    print(f"city: open {time.perf_counter() - t:.1f} s ({category}, radius {check.radius_m} m, scope {check.scope})")
    w = c.demand.geometry.iloc[rng.choice(len(c.demand), 5)].to_crs(4326)
    run(f"city {homes:,} homes {category}", wb, category, clicks, rng,
        [(p.x, p.y, float(check.min_building_m2 or 300) * 1.2) for p in w])


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--homes", type=int, default=200_000)
    parser.add_argument("--clicks", type=int, default=50)
    parser.add_argument("--category", default="elderly_care")
    parser.add_argument("--skip-city", action="store_true")
    parser.add_argument("--helsinki", action="store_true", help="only central Helsinki on foot")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    if args.helsinki:
        helsinki(args.clicks, rng)
        raise SystemExit(0)
    xicheng(args.clicks, rng)
    if not args.skip_city:
        city(args.homes, args.clicks, rng, args.category)
