"""Workbench update times: per toggle (median, p95 over ~50 clicks on random selectable rooms) and per add_room,
for (a) the Xicheng sample, community_service (Beijing's community-room rule), and (b) a synthetic city of
200,000 homes, straight line; with ``--helsinki``, (c) central Helsinki on foot (data/helsinki, the real OSM
walking network; health, r=300 m), every 16th building standing in as a candidate room. Prints what each click
recomputed (demand rows, communities).

``--http``: the same clicks through the real server (uvicorn on a free 127.0.0.1 port, as
tests/test_workbench_server.py starts it): POST /api/toggle with the token and Origin, wall time of the request
including reading and decoding the JSON. ``--browser``: the page in headless Chromium (tests/cdp.py): the time, in
the page (performance.now()), from ``window.workbench.clickCandidate(id)`` to the panel showing the new numbers,
and to the next frame painted after it — a click as the planner sees it.

    python benchmarks/bench_workbench.py [--homes 200000] [--clicks 50] [--helsinki] [--http] [--browser]
"""
from __future__ import annotations

import argparse
import http.client
import json
import sys
import tempfile
import time
from pathlib import Path

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
    from geofacility.selection import read_rooms
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
    return wb


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
    return wb


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
    return wb


def _selectable(wb, category):
    """The ids of the category's rooms that can be built (original and dropped, not withdrawn)."""
    cat = wb._cat(category)
    cands = cat.study.candidates
    keep = cands["selectable"].to_numpy(dtype=bool).copy()
    keep[sorted(cat.withdrawn)] = False
    return cands["candidate_id"].astype(str).to_numpy()[keep]


def _Served(wb):
    """The workbench served by uvicorn in a thread on a free loopback port (geofacility.workbench.server)."""
    from geofacility.workbench.server import Background

    return Background(wb, token="bench-" + "t" * 24)


def run_http(label, served, wb, category, clicks, rng):
    """POST /api/toggle over one kept-alive connection (as the browser does): request, answer, JSON decoded."""
    ids = _selectable(wb, category)
    conn = http.client.HTTPConnection("127.0.0.1", served.port, timeout=120)
    headers = {"X-Geofacility-Token": served.token, "Origin": served.origin, "Content-Type": "application/json"}
    times, sizes = [], []
    for _ in range(clicks):
        body = json.dumps({"category": category, "candidate_id": str(rng.choice(ids))})
        t = time.perf_counter()
        conn.request("POST", "/api/toggle", body=body, headers=headers)
        response = conn.getresponse()
        raw = response.read()
        update = json.loads(raw)
        times.append((time.perf_counter() - t) * 1000)
        sizes.append(len(raw))
        assert response.status == 200, update
    conn.close()
    print(f"{label}: HTTP POST /api/toggle median {np.median(times):.0f} ms, p95 {np.percentile(times, 95):.0f} ms "
          f"({clicks} clicks; answer {np.median(sizes) / 1024:.0f} kB)")


#: in the page: the click (the marker's own Leaflet click), the panel updated (the promise the page exposes
#: resolves after the update is applied), then the next frame painted
_CLICK_JS = """(async function () {
  var t0 = performance.now();
  await window.workbench.clickCandidate(%s);
  var t1 = performance.now();
  await new Promise(function (r) { requestAnimationFrame(function () { setTimeout(r, 0); }); });
  var t2 = performance.now();
  var answer = performance.getEntriesByType('resource').filter(function (e) {
    return e.name.indexOf('/api/toggle') >= 0; }).pop();
  performance.clearResourceTimings();
  return [t1 - t0, t2 - t0, window.workbench.panel().built.length, t1 - answer.responseEnd];
})()"""


def run_browser(label, served, wb, category, clicks, rng):
    """Headless Chromium on the page: ``clicks`` clicks on random selectable rooms, timed in the page."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    import cdp

    ids = _selectable(wb, category)
    with cdp.Browser(timeout=300) as chrome:
        t = time.perf_counter()
        page = chrome.open(f"{served.url}&category={category}")
        page.evaluate("window.workbench.ready")
        print(f"{label}: page open (layers drawn) {time.perf_counter() - t:.1f} s")
        panel_ms, frame_ms, own_ms = [], [], []
        for _ in range(clicks):
            cid = str(rng.choice(ids))
            before = wb.state(category)["built"]
            a, b, n, own = page.evaluate(_CLICK_JS % json.dumps(cid))
            assert n == len(wb.state(category)["built"]) != len(before), (cid, n, before)
            panel_ms.append(a)
            frame_ms.append(b)
            own_ms.append(own)
        assert page.errors == [], page.errors
    print(f"{label}: in the page, click to panel updated median {np.median(panel_ms):.0f} ms, "
          f"p95 {np.percentile(panel_ms, 95):.0f} ms; to the next frame painted median {np.median(frame_ms):.0f} ms, "
          f"p95 {np.percentile(frame_ms, 95):.0f} ms ({clicks} clicks); of which the page's own work after the "
          f"answer arrived median {np.median(own_ms):.0f} ms")


def extras(label, wb, category, args, rng):
    if not (args.http or args.browser):
        return
    served = _Served(wb)
    try:
        if args.http:
            run_http(label, served, wb, category, args.clicks, rng)
        if args.browser:
            run_browser(label, served, wb, category, args.browser_clicks, rng)
    finally:
        served.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--homes", type=int, default=200_000)
    parser.add_argument("--clicks", type=int, default=50)
    parser.add_argument("--category", default="elderly_care")
    parser.add_argument("--skip-city", action="store_true")
    parser.add_argument("--skip-xicheng", action="store_true")
    parser.add_argument("--helsinki", action="store_true", help="only central Helsinki on foot")
    parser.add_argument("--http", action="store_true", help="also through the real server (POST /api/toggle)")
    parser.add_argument("--browser", action="store_true", help="also in the page, in headless Chromium")
    parser.add_argument("--browser-clicks", type=int, default=20)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    if args.helsinki:
        extras("helsinki on foot health", helsinki(args.clicks, rng), "health", args, rng)
        raise SystemExit(0)
    if not args.skip_xicheng:
        extras("xicheng community_service", xicheng(args.clicks, rng), "community_service", args, rng)
    if not args.skip_city:
        extras(f"city {args.homes:,} homes {args.category}", city(args.homes, args.clicks, rng, args.category),
               args.category, args, rng)
