"""The workbench's model: after any sequence of clicks its scenario equals with_sites (what `sites select` writes
to ledger_after/) recomputed whole; a hand-checkable grid; the export equals `sites select --choose`."""
from __future__ import annotations

import json
import subprocess
import sys

import geopandas as gpd
import numpy as np
import openpyxl
import pandas as pd
import pytest
import shapely

from geofacility.selection import read_rooms
from geofacility.ledger import ledger_table
from geofacility.pipeline import analyze
from geofacility.read import read_candidates
from geofacility.siting import evaluate_candidates, select_sites
from geofacility.study import sample_dir, sample_inputs
from geofacility.workbench.model import Workbench, WorkbenchError

X0, Y0, CRS = 440_000.0, 4_420_000.0, "EPSG:32650"


def _wgs(xy):
    s = gpd.GeoSeries([shapely.Point(X0 + x, Y0 + y) for x, y in xy], crs=CRS).to_crs(4326)
    return s.x.to_numpy(), s.y.to_numpy()


@pytest.fixture
def grid(tmp_path):
    """3×3 blocks of 1 km, C<col><row>; one home at each block's centre with 100 × (reading order 1..9) people
    (C11 100, C21 200, C31 300, C12 400, C22 500, C32 600, C13 700, C23 800, C33 900); one clinic F at C11's
    centre; health radius 900 m, so F covers C11's home only. Rooms: X at (2050, 1900) m reaches the homes of C22
    (680 m), C32 (602 m), C23 (814 m) and C33 (750 m): 2,800 people; Y at C33's centre reaches C33's (900); W at
    C12's centre reaches C12's (400)."""
    blocks, homes = [], []
    k = 0
    for row in (1, 2, 3):
        for col in (1, 2, 3):
            k += 1
            x, y = (col - 1) * 1000.0, (row - 1) * 1000.0
            blocks.append({"community_id": f"C{col}{row}", "community": f"社区{col}{row}", "town": "一街道",
                           "population": 100.0 * k, "households": 40.0 * k,
                           "geometry": shapely.box(X0 + x, Y0 + y, X0 + x + 1000, Y0 + y + 1000)})
            homes.append((f"h{col}{row}", 100 * k, x + 500, y + 500))
    gpd.GeoDataFrame(blocks, crs=CRS).to_crs(4326).to_file(tmp_path / "c.geojson")
    lon, lat = _wgs([(x, y) for _, _, x, y in homes])
    pd.DataFrame({"demand_id": [h[0] for h in homes], "population": [h[1] for h in homes], "lon": lon,
                  "lat": lat}).to_csv(tmp_path / "homes.csv", index=False)
    lon, lat = _wgs([(500, 500)])
    pd.DataFrame({"facility_id": ["F"], "name": ["诊所F"], "lon": lon, "lat": lat}).to_csv(
        tmp_path / "clinics.csv", index=False)
    lon, lat = _wgs([(2050, 1900), (2500, 2500), (500, 1500)])
    pd.DataFrame({"candidate_id": ["X", "Y", "W"], "name": ["甲", "乙", "丙"], "建筑面积": [500, 500, 500],
                  "可用类别": ["医疗", "医疗", "医疗"], "预审": ["是", "是", "是"], "lon": lon, "lat": lat}) \
        .to_csv(tmp_path / "rooms.csv", index=False)
    analysis = analyze(communities=tmp_path / "c.geojson", demand=tmp_path / "homes.csv",
                       facilities=[(tmp_path / "clinics.csv", "health")], radius={"health": 900})
    return analysis, read_candidates(tmp_path / "rooms.csv"), tmp_path


def _same_as_reference(wb, category):
    ref = wb.reference(category)
    pd.testing.assert_frame_equal(ledger_table(wb.table()), ledger_table(ref.communities))


def test_grid_clicks_by_hand(grid):
    analysis, rooms, tmp = grid
    wb = Workbench(analysis, rooms, out=tmp / "out")
    evaluated = evaluate_candidates(analysis, rooms, "health").candidates.set_index("candidate_id")
    assert evaluated["newly_covered_population"].to_dict() == {"X": 2800, "Y": 900, "W": 400}
    s = wb.state("health")
    assert s["baseline"]["population"] == 4500 and s["baseline"]["covered_population"] == 100
    u = wb.toggle("health", "X")
    assert u["scenario"]["covered_population"] == 100 + 2800 and u["scenario"]["uncovered_population"] == 1600
    assert u["built"] == ["X"]
    # recomputed: the four communities X reaches (one home each), nothing else
    assert u["recomputed"]["communities"] == 4 and u["recomputed"]["demand_rows"] == 4
    shares = {r["community_id"]: r["covered_share"] for r in u["communities"]}
    assert {c: shares.get(c) for c in ("C22", "C32", "C23", "C33")} == {c: 1.0 for c in ("C22", "C32", "C23", "C33")}
    assert {r["community_id"] for r in u["ledger_rows"]} >= {"C22", "C32", "C23", "C33"}
    _same_as_reference(wb, "health")
    u = wb.toggle("health", "Y")  # Y adds nobody: C33 is already covered by X
    assert u["scenario"]["covered_population"] == 2900
    u = wb.toggle("health", "W")
    assert u["scenario"]["covered_population"] == 3300 and u["recomputed"]["communities"] == 1
    _same_as_reference(wb, "health")
    u = wb.undo()
    assert u["scenario"]["covered_population"] == 2900 and u["can_redo"]
    u = wb.redo()
    assert u["scenario"]["covered_population"] == 3300
    u = wb.toggle("health", "X")
    assert u["scenario"]["covered_population"] == 100 + 900 + 400 and not u["can_redo"]
    _same_as_reference(wb, "health")
    # a room dropped on the map at C21's centre reaches C21 (200) and C11 (already covered): +200
    lon, lat = _wgs([(1500, 500)])
    u = wb.add_room("health", lon=lon[0], lat=lat[0], floor_area_m2=300, name="新房源")
    assert u["built"] == ["Y", "W", "new-1"] and u["scenario"]["covered_population"] == 1600
    _same_as_reference(wb, "health")
    cands = {f["properties"]["candidate_id"]: f["properties"] for f in wb.layers("health")["candidates"]["features"]}
    assert cands["new-1"]["added"] and cands["new-1"]["built"] and cands["new-1"]["newly_covered_population"] == 200
    assert wb.candidate_ids("health") == ["X", "Y", "W", "new-1"]
    u = wb.undo()  # the room is withdrawn
    assert "new-1" not in u["built"] and u["scenario"]["covered_population"] == 1400
    assert wb.candidate_ids("health") == ["X", "Y", "W"]
    assert "new-1" not in {f["properties"]["candidate_id"] for f in wb.layers("health")["candidates"]["features"]}
    with pytest.raises(WorkbenchError):
        wb.toggle("health", "nope")
    with pytest.raises(WorkbenchError):
        wb.state("canteen")
    # suggest k=1: the MCLP picks X (2,800 people), as `sites select --k 1`
    u = wb.suggest("health", 1)
    assert u["picks"] == ["X"] and u["built"] == ["X"] and u["scenario"]["covered_population"] == 2900
    _same_as_reference(wb, "health")
    json.dumps(wb.layers("health"), allow_nan=False)


def test_grid_ledger_rows_as_the_ledger_writes_them(grid):
    """The panel's changed ledger rows are the 台账 sheet's own: its Chinese headings and cell texts, cell for cell
    what ledger.xlsx (with_sites, written by write_ledger) holds for those communities, the category's columns only.
    By hand: building X (500 m², in C32) covers C22's 500 people (200 households) and closes C32's gap."""
    import openpyxl

    from geofacility.ledger import write_ledger
    from geofacility.ledger.workbook import LEDGER_SHEET

    analysis, rooms, tmp = grid
    wb = Workbench(analysis, rooms, out=tmp / "out")
    u = wb.toggle("health", "X")
    sheet = u["ledger_sheet"]
    headers = [h if sub is None else f"{h}/{sub}" for h, sub in sheet["headers"]]
    assert headers == ["镇办", "社区", "户数\\人口", "医疗卫生服务设施（标准、现状）/标准",
                       "医疗卫生服务设施（标准、现状）/现状",
                       "存在问题（规划、建设、移交、使用）", "社区编码"]
    assert sheet["status_column"] == 4
    rows = {r[-1]: r for r in sheet["rows"]}
    assert set(rows) == {r["community_id"] for r in u["ledger_rows"]} >= {"C22", "C32", "C23", "C33"}
    assert rows["C22"][:3] == ["一街道", "社区22", "200户\\500人"]
    assert rows["C22"][4] == "覆盖 100%（500/500 人）；容量内 500 人；现有 0 处；面积 0 m²"  # covered, no facility of its own
    assert rows["C22"][5] == "医疗卫生【规划】缺 1 处，面积缺口 150 m²"
    assert rows["C32"][4] == "覆盖 100%（600/600 人）；容量内 600 人；现有 1 处；面积 500 m²" and rows["C32"][5] == ""
    status = dict(zip([r[-1] for r in sheet["rows"]], sheet["status"]))
    assert status["C32"] == "ok" and status["C22"] == "gap"  # X stands in C32: its gap closes
    json.dumps(sheet, allow_nan=False)
    # cell for cell the ledger sheet of with_sites
    write_ledger(wb.reference("health"), tmp / "after", formats=())
    ws = openpyxl.load_workbook(tmp / "after" / "ledger.xlsx")[LEDGER_SHEET]
    top = [c.value for c in ws[2]]
    mid = [c.value for c in ws[3]]
    sub = [c.value for c in ws[4]]
    where = {}
    for k in range(len(top)):
        if sub[k] in ("标准", "现状"):
            where[f"{mid[k] if mid[k] else next(m for m in mid[k::-1] if m)}/{sub[k]}"] = k
        elif top[k]:
            where[top[k]] = k
    filed = {r[where["社区编码"]].value: r for r in ws.iter_rows(min_row=5)}
    for cid, row in rows.items():
        assert [filed[cid][where[h]].value or "" for h in headers] == [v or "" for v in row], cid


def test_grid_outside_the_survey_extent_stays_not_surveyed(grid):
    """Clinics surveyed in columns 1–2 only (--survey-extent): C31–C33 are not surveyed in the ledger, and stay so
    in the workbench and in with_sites (``sites select``'s ledger after) when X, which reaches C32 and C33, is built:
    only C22 (500) and C23 (800) become covered — 100 + 1,300 of the 2,700 people surveyed."""
    analysis, rooms, tmp = grid
    extent = tmp / "extent.geojson"
    gpd.GeoDataFrame(geometry=[shapely.box(X0, Y0, X0 + 2000, Y0 + 3000)], crs=CRS).to_file(extent)
    analysis = analyze(communities=tmp / "c.geojson", demand=tmp / "homes.csv",
                       facilities=[(tmp / "clinics.csv", "health")], radius={"health": 900},
                       survey_extent={"health": extent})
    outside = ["C31", "C32", "C33"]
    filed = analysis.communities.set_index("community_id")["health_status"]
    assert (filed[outside] == "not_surveyed").all()
    wb = Workbench(analysis, rooms, out=tmp / "out")
    pd.testing.assert_frame_equal(ledger_table(wb.table()), ledger_table(analysis.communities))
    u = wb.toggle("health", "X")
    assert u["scenario"]["population"] == 2700 and u["scenario"]["covered_population"] == 100 + 500 + 800
    now = wb.table().set_index("community_id")
    assert (now.loc[outside, "health_status"] == "not_surveyed").all()
    assert now.loc[outside, "health_covered_share"].isna().all()
    assert (now.loc[["C22", "C23"], "health_covered_share"] == 1.0).all()
    _same_as_reference(wb, "health")


def test_grid_scenarios_saved_and_loaded(grid):
    analysis, rooms, tmp = grid
    wb = Workbench(analysis, rooms, out=tmp / "out")
    wb.toggle("health", "W")
    lon, lat = _wgs([(1500, 500)])
    wb.add_room("health", lon=lon[0], lat=lat[0], floor_area_m2=300, name="新房源")
    wb.save("方案一/../x")
    files = list((tmp / "out" / "scenarios").glob("*.json"))
    assert len(files) == 1 and ".." not in files[0].name and "/" not in files[0].stem
    assert files[0].name.startswith("方案一-x-")  # named as the planner named it, bar the path-like parts
    assert [s["name"] for s in wb.scenarios()] == ["方案一/../x"]
    fresh = Workbench(analysis, rooms, out=tmp / "out")
    u = fresh.load("方案一/../x")
    assert u["built"] == ["W", "new-1"] and u["scenario"]["covered_population"] == 100 + 400 + 200
    _same_as_reference(fresh, "health")
    with pytest.raises(WorkbenchError):
        fresh.load("没有")


@pytest.fixture(scope="module")
def xicheng():
    d = sample_dir()
    kw = sample_inputs()
    kw["facilities"] = kw["facilities"] + [(d / "community_rooms_existing.csv", "community_service")]
    analysis = analyze(**kw, standard_choices={"community_service": ["community_rooms_beijing"]})
    return read_rooms(analysis, d / "candidate_rooms.csv", "community_service")  # as `sites` reads them


def test_xicheng_random_clicks_equal_with_sites(xicheng, tmp_path):
    analysis, rooms = xicheng
    wb = Workbench(analysis, rooms, out=tmp_path)
    # before any click the scenario is the ledger the planner filed, figure for figure (education: 138 of 264
    # communities short, 878,069 served and 38,931 over capacity, as ledger.xlsx says)
    pd.testing.assert_frame_equal(ledger_table(wb.table()), ledger_table(analysis.communities))
    base = wb.state("education")["baseline"]
    assert (base["communities_short"], base["served_population"], base["over_capacity_population"]) == \
        (138, 878_069, 38_931)
    study = wb._cat("community_service").study
    ids = study.candidates["candidate_id"].to_numpy()[study.eligible]
    rng = np.random.default_rng(17)
    for step in range(12):
        u = wb.toggle("community_service", str(rng.choice(ids)))
        assert u["recomputed"]["communities"] >= 1
        if step % 4 == 3:
            _same_as_reference(wb, "community_service")
    wb.undo()
    wb.undo()
    wb.redo()
    _same_as_reference(wb, "community_service")
    # the scenario's totals are the ledger's columns summed
    led = ledger_table(wb.table())
    s = wb.state("community_service")["scenario"]
    assert s["covered_population"] == led["community_service_covered_population"].sum()
    assert s["communities_short"] == (led["community_service_status"] == "gap").sum()
    assert s["served_population"] == led["community_service_served_population"].sum()
    # the other categories are untouched by community rooms
    assert (led["education_status"] == ledger_table(wb._baseline)["education_status"]).all()
    # suggest = sites select --k 3
    u = wb.suggest("community_service", 3)
    sel = select_sites(evaluate_candidates(analysis, rooms, "community_service"), method="mclp", k=3)
    assert sorted(u["picks"]) == sorted(str(i) for i in study.candidates["candidate_id"].to_numpy()[sel.selected])
    _same_as_reference(wb, "community_service")


def test_with_sites_fills_the_capacity_split(xicheng):
    """ledger_after shows people served and over capacity (the study's method): the schools' split equals the
    study's own where nothing changed for them."""
    from geofacility.siting import with_sites
    from geofacility.siting.models import Selection

    analysis, rooms = xicheng
    study = evaluate_candidates(analysis, rooms, "community_service")
    after = with_sites(analysis, study, Selection("given", np.array([int(study.eligible[0])]), 0, 0, 0, "given"))
    before, now = ledger_table(analysis.communities), ledger_table(after.communities)
    assert now["education_served_population"].notna().all()
    assert (now["education_served_population"] == before["education_served_population"]).all()
    assert now["community_service_served_population"].sum() == now["community_service_covered_population"].sum() > 0


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "geofacility.cli", *args], capture_output=True, text=True,
                          timeout=600)


def _xicheng_args():
    d = sample_dir()
    return ["--candidates", str(d / "candidate_rooms.csv"), "--category", "community_service", "--facilities",
            f"community_service={d / 'community_rooms_existing.csv'}", "--standard",
            "community_service=community_rooms_beijing"]


def test_sites_select_choose(tmp_path, xicheng):
    result = run_cli("sites", "select", *_xicheng_args(), "--choose", "XCR052,XCR051+XCR121", "--out",
                     str(tmp_path / "a"))
    assert result.returncode == 0, result.stderr
    summary = json.loads((tmp_path / "a" / "selection.json").read_text(encoding="utf-8"))
    assert summary["method"] == "given" and summary["solver_status"] == "given"
    assert sorted(summary["selected"]) == ["XCR051+XCR121", "XCR052"] and summary["optimality_gap"] == 0
    sites = pd.read_csv(tmp_path / "a" / "sites.csv", encoding="utf-8-sig")
    assert set(sites.loc[sites["selected"], "candidate_id"]) == {"XCR052", "XCR051+XCR121"}
    after = pd.read_csv(tmp_path / "a" / "ledger_after" / "ledger.csv", encoding="utf-8-sig")
    assert (after["community_service_status"] == "ok").sum() == 2
    # the objective: the people of the two communities the rooms fix (no radius: a room serves its community)
    assert summary["newly_covered_population"] == pytest.approx(
        after.loc[after["community_service_status"] == "ok", "population"].sum(), abs=1)
    bad = run_cli("sites", "select", *_xicheng_args(), "--choose", "XCR000,XYZ", "--out", str(tmp_path / "b"))
    assert bad.returncode != 0 and "XYZ" in bad.stderr and "Traceback" not in bad.stderr
    bad = run_cli("sites", "select", *_xicheng_args(), "--choose", "XCR000", "--out", str(tmp_path / "b"))
    assert bad.returncode != 0 and "XCR000" in bad.stderr and "不可选" in bad.stderr


def _cells(path):
    wb = openpyxl.load_workbook(path)
    return {ws.title: [[c.value for c in row] for row in ws.iter_rows()] for ws in wb.worksheets}


def test_export_equals_sites_select_choose(tmp_path, xicheng):
    analysis, rooms = xicheng
    wb = Workbench(analysis, rooms, out=tmp_path / "wb")
    for cid in ("XCR052", "XCR051+XCR121", "XCR038"):
        wb.toggle("community_service", cid)
    exported = wb.export("方案 A")
    folder = tmp_path / "wb" / exported["folder"] / "community_service"
    result = run_cli("sites", "select", *_xicheng_args(), "--choose", "XCR052,XCR051+XCR121,XCR038", "--out",
                     str(tmp_path / "cli"))
    assert result.returncode == 0, result.stderr
    cli = tmp_path / "cli"
    for name in ("sites.csv", "ledger_after/ledger.csv"):
        assert (folder / name).read_bytes() == (cli / name).read_bytes(), name
    assert json.loads((folder / "selection.json").read_text(encoding="utf-8")) == \
        json.loads((cli / "selection.json").read_text(encoding="utf-8"))
    for name in ("ledger_after/ledger.xlsx", "sites.xlsx"):
        assert _cells(folder / name) == _cells(cli / name), name


def test_export_with_a_room_dropped_on_the_map_is_reproduced_by_sites_select(tmp_path, xicheng):
    """A room dropped on the map goes into the export's rooms.csv: `sites select --candidates rooms.csv --choose`
    with the same rooms writes the same files (the room's WGS84 position survives the file)."""
    analysis, rooms = xicheng
    wb = Workbench(analysis, rooms, out=tmp_path / "wb")
    wb.toggle("community_service", "XCR038")
    where = gpd.GeoSeries([analysis.communities.geometry.iloc[0].representative_point()],
                          crs=analysis.crs).to_crs(4326)
    u = wb.add_room("community_service", lon=float(where.x[0]), lat=float(where.y[0]), floor_area_m2=420,
                    name="临街商铺", categories=["community_service"])
    assert u["built"] == ["XCR038", "new-1"]
    exported = wb.export("加一处")
    folder = tmp_path / "wb" / exported["folder"] / "community_service"
    assert (folder / "rooms.csv").is_file()
    d = sample_dir()
    result = run_cli("sites", "select", "--candidates", str(folder / "rooms.csv"), "--category", "community_service",
                     "--facilities", f"community_service={d / 'community_rooms_existing.csv'}", "--standard",
                     "community_service=community_rooms_beijing", "--choose", "XCR038,new-1",
                     "--out", str(tmp_path / "cli"))
    assert result.returncode == 0, result.stderr
    cli = tmp_path / "cli"
    for name in ("sites.csv", "ledger_after/ledger.csv"):
        assert (folder / name).read_bytes() == (cli / name).read_bytes(), name
    sites = pd.read_csv(folder / "sites.csv", encoding="utf-8-sig").set_index("candidate_id")
    assert bool(sites.loc["new-1", "selected"]) and sites.loc["new-1", "floor_area_m2"] == 420
    # the scenario the planner saw is the ledger written: the communities short of community rooms
    led = pd.read_csv(folder / "ledger_after" / "ledger.csv", encoding="utf-8-sig")
    assert (led["community_service_status"] == "gap").sum() == \
        wb.state("community_service")["scenario"]["communities_short"]
