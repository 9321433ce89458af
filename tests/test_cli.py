"""The CLI end to end on the bundled Beijing Xicheng sample, and its handling of user mistakes."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from urllib.parse import quote

import geopandas as gpd
import openpyxl
import pandas as pd
import pyogrio
import pytest

from geofacility.study import sample_dir
from geofacility.standards import CATEGORIES


def run_cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "geofacility.cli", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=600)


@pytest.fixture(scope="module")
def xicheng_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("xicheng")
    result = run_cli("analyze", "--out", str(out))
    assert result.returncode == 0, result.stderr
    return out, result


def test_writes_the_four_outputs(xicheng_run):
    """Every output holds what it should: 264 communities in the ledger (csv, workbook, GeoPackage), the 1,421
    compounds and 54 schools in the GeoPackage and on the map; run.json lists them with their hashes."""
    out, result = xicheng_run
    for name in ("ledger.xlsx", "ledger.csv", "coverage.gpkg", "map.html", "run.json"):
        assert str(out / name) in result.stdout
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary files left
    assert len(pd.read_csv(out / "ledger.csv", encoding="utf-8-sig")) == 264
    ws = openpyxl.load_workbook(out / "ledger.xlsx")["台账 ledger"]
    assert sum(1 for r in range(4, ws.max_row + 1) if ws.cell(row=r, column=24).value) == 264
    layers = dict(pyogrio.list_layers(out / "coverage.gpkg"))
    assert {name: pyogrio.read_info(out / "coverage.gpkg", layer=name)["features"] for name in layers} == \
        {"communities": 264, "demand": 1421, "facilities": 54}
    html = (out / "map.html").read_text(encoding="utf-8")
    popups = " ".join(f["properties"].get("popup", "") for blob in re.findall(r"geo_json_\w+_add\((\{.*?\})\);", html)
                      for f in json.loads(blob)["features"] if f["geometry"]["type"] == "Point")
    schools = pd.read_csv(sample_dir() / "primary_schools.csv")["name"]
    assert [name for name in schools if f"<b>{name}</b>" not in popups] == []  # every school on the map
    run = json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert sorted(o["file"] for o in run["outputs"]) == ["coverage.gpkg", "ledger.csv", "ledger.xlsx", "map.html"]


def test_capacity_and_input_rows_on_the_sample(xicheng_run):
    """Primary schools: served within capacity, over capacity, out of reach add up to the population; every input
    row is accounted for; the facility load sheet lists the 54 schools."""
    out, result = xicheng_run
    ledger = pd.read_csv(out / "ledger.csv", encoding="utf-8-sig")
    parts = ledger[["education_served_population", "education_over_capacity_population",
                    "education_out_of_reach_population"]].sum(axis=1)
    assert parts.to_numpy() == pytest.approx(ledger["population"].to_numpy(), abs=0.2)
    assert ledger["education_over_capacity_population"].sum() == pytest.approx(38931, abs=1)
    # the summary's worst communities say why, in the ledger's words: the stage, people not covered, over capacity
    assert re.search(r"教育【使用】[\d,]+ 人未覆盖（覆盖率 \d+%），超容量 [\d,]+ 人", result.stderr)
    rows = pd.read_excel(out / "ledger.xlsx", sheet_name="输入核对 input rows")
    assert len(rows) == 4 and (rows.iloc[:, 1] == rows.iloc[:, 2] + rows.iloc[:, 3]).all()
    assert rows.iloc[:, 1].tolist() == [264, 15, 54, 1421]
    load = pd.read_excel(out / "ledger.xlsx", sheet_name="设施负荷 facility load")
    assert len(load) == 54 and set(load["容量来源 capacity source"]) == {"按标准服务人口"}


def test_one_ledger_row_per_community(xicheng_run):
    out, _ = xicheng_run
    ledger = pd.read_csv(out / "ledger.csv", encoding="utf-8-sig")
    communities = gpd.read_file(sample_dir() / "communities.geojson")
    assert len(ledger) == len(communities)
    assert sorted(ledger["community_id"]) == sorted(communities["community_id"])
    assert ledger["population"].sum() == pytest.approx(1_314_427)


def test_primary_school_coverage_is_real(xicheng_run):
    out, _ = xicheng_run
    ledger = pd.read_csv(out / "ledger.csv", encoding="utf-8-sig")
    share = ledger["education_covered_share"]
    assert share.between(0, 1).all()
    assert 0.05 < (share == 1).mean() < 0.95  # neither trivially all covered …
    assert (share < 1).sum() > 10  # … nor none short
    district_share = ledger["education_covered_population"].sum() / ledger["population"].sum()
    assert 0.5 < district_share < 0.99
    assert set(ledger["education_status"]) == {"ok", "gap"}
    assert (ledger["education_radius_m"] == 500).all()
    for category in CATEGORIES:
        if category != "education":
            assert (ledger[f"{category}_status"] == "not_surveyed").all()


def test_gpkg_layers_and_demand_distances(xicheng_run):
    out, _ = xicheng_run
    layers = {name for name, _ in pyogrio.list_layers(out / "coverage.gpkg")}
    assert {"communities", "demand"} <= layers
    demand = gpd.read_file(out / "coverage.gpkg", layer="demand")
    assert len(demand) >= 1421  # every compound is a demand point
    assert demand["weight"].sum() == pytest.approx(1_314_427)
    assert "dist_education_m" in demand.columns
    assert (demand["dist_education_m"] >= 0).all()


def test_ledger_workbook_has_the_attachment_3_header(xicheng_run):
    out, _ = xicheng_run
    ws = openpyxl.load_workbook(out / "ledger.xlsx").worksheets[0]
    headers = {str(c.value) for row in ws.iter_rows(min_row=1, max_row=4) for c in row if c.value}
    for text in ("序号", "镇办", "社区", "户数\\人口", "既有社区配套设施排查摸底情况", "标准", "现状", "牵头单位", "责任单位",
                 "完成时限"):
        assert any(text in h for h in headers), text
    assert ws.freeze_panes is not None


def test_map_has_leaflet_and_layers(xicheng_run):
    """The map's communities are the ledger's: one polygon per community, coloured short/ok as the ledger says."""
    out, _ = xicheng_run
    html = (out / "map.html").read_text(encoding="utf-8")
    assert "L.map(" in html and "primary_school" in html
    ledger = pd.read_csv(out / "ledger.csv", encoding="utf-8-sig").set_index("community_id")
    polygons = [f for blob in re.findall(r"geo_json_\w+_add\((\{.*?\})\);", html)
                for f in json.loads(blob)["features"] if f["geometry"]["type"] in ("Polygon", "MultiPolygon")
                and "110102" in json.dumps(f["properties"], ensure_ascii=False)]
    shown = {cid for f in polygons for cid in re.findall(r"110102\d{3}-\d{3}", json.dumps(f["properties"]))}
    assert shown == set(ledger.index)


def test_summary_names_the_worst_communities(xicheng_run):
    """The terminal's five worst communities are the ledger's, in its order (most categories short, then most
    people not covered, then id); the other six categories read not surveyed."""
    out, result = xicheng_run
    text = result.stderr.replace("\n", " ")
    ledger = pd.read_csv(out / "ledger.csv", encoding="utf-8-sig")
    worst = ledger.assign(unc=ledger["education_uncovered_population"]).sort_values(
        ["n_categories_short", "unc", "community_id"], ascending=[False, False, True]).head(5)["community_id"]
    positions = [text.find(f"({cid})") for cid in worst]
    assert all(p > text.find("Five worst communities") > 0 for p in positions) and positions == sorted(positions)
    assert text.count("not surveyed") == 6
    # each one's problems are the ledger's 存在问题 cell word for word (one text, not a second wording)
    from openpyxl import load_workbook

    sheet = load_workbook(out / "ledger.xlsx").worksheets[0]
    header = {cell.value: cell.column for row in sheet.iter_rows(min_row=2, max_row=4) for cell in row
              if isinstance(cell.value, str)}
    cells = {sheet.cell(r, header["社区编码"]).value: sheet.cell(r, header["存在问题（规划、建设、移交、使用）"]).value
             for r in range(5, sheet.max_row + 1)}
    squeezed = re.sub(r"\s+", "", result.stderr)
    for cid in worst:
        assert f"({cid})" in squeezed and re.sub(r"\s+", "", cells[cid]) in squeezed, cid


def test_user_mistake_is_one_line_and_exit_2(tmp_path):
    bad = tmp_path / "c.csv"
    bad.write_text("community,population,lon,lat\n")
    result = run_cli("analyze", "--communities", str(bad), "--out", str(tmp_path / "o"))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "no data rows" in result.stderr and str(bad) in result.stderr


def test_unknown_radius_category_is_a_clear_error(tmp_path):
    # (was schools=500: 'schools' names education in facility files, so it is accepted on the command line too)
    result = run_cli("analyze", "--radius", "公厕=500", "--out", str(tmp_path / "o"))
    assert result.returncode == 2 and "--radius 公厕=…: unknown category" in result.stderr
    assert "elderly_care (养老)" in result.stderr  # the list names the Chinese spelling too


def test_radius_override_changes_coverage(tmp_path, xicheng_run):
    out, _ = xicheng_run
    result = run_cli("analyze", "--radius", "education=1000", "--out", str(tmp_path / "o"), "--quiet")
    assert result.returncode == 0, result.stderr
    wide = pd.read_csv(tmp_path / "o" / "ledger.csv", encoding="utf-8-sig")
    base = pd.read_csv(out / "ledger.csv", encoding="utf-8-sig")
    assert (wide["education_covered_share"].to_numpy() >= base["education_covered_share"].to_numpy()).all()
    assert wide["education_covered_population"].sum() > base["education_covered_population"].sum()
    assert (wide["education_radius_m"] == 1000).all()


def test_same_input_gives_byte_identical_ledger_csv_and_map(tmp_path, xicheng_run):
    out, _ = xicheng_run
    result = run_cli("analyze", "--out", str(tmp_path), "--quiet")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "ledger.csv").read_bytes() == (out / "ledger.csv").read_bytes()
    assert (tmp_path / "map.html").read_bytes() == (out / "map.html").read_bytes()


def test_standards_command_lists_the_table():
    result = run_cli("standards", "--csv")
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert lines[0].startswith("category,subcategory,name_zh,level,radius_m")
    # header + 33 rows: 31 standards, of which the vegetable market and the convenience store have a national
    # (GB 50180-2018) and a Beijing (2018 commerce rules) row (issue 14)
    assert len(lines) == 34
    assert any(line.startswith("education,primary_school,小学,10min,500") for line in lines)
    beijing = run_cli("standards", "--csv", "--jurisdiction", "北京市").stdout.splitlines()
    national = run_cli("standards", "--csv", "--jurisdiction", "全国").stdout.splitlines()
    assert [line.split(",")[7] for line in beijing if line.startswith("commerce,vegetable_market,")] == ["500"]
    assert [line.split(",")[7] for line in national if line.startswith("commerce,vegetable_market,")] == ["750"]
    assert not any("北京市" in line.split(",")[-2] for line in national[1:])


def test_sites_select_on_the_xicheng_sample(tmp_path):
    """Beijing's 350 m² rule with no existing rooms recorded: every community short before; the selection takes
    the selectable rooms (singly ≥ 350 m², or a community's combinable set) and the ledger after shows as many
    communities fixed as units taken."""
    d = sample_dir()
    result = run_cli("sites", "select", "--candidates", str(d / "candidate_rooms.csv"), "--category",
                     "community_service", "--facilities", f"community_service={d / 'community_rooms_existing.csv'}",
                     "--standard", "community_service=community_rooms_beijing", "--k", "5", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    summary = json.loads((tmp_path / "selection.json").read_text(encoding="utf-8"))
    assert summary["solver_status"] == "Optimal" and len(summary["selected"]) == 5
    sites = pd.read_csv(tmp_path / "sites.csv", encoding="utf-8-sig")
    assert sites["selected"].sum() == 5
    assert (sites.loc[sites["selected"], "selectable"]).all()
    assert set(sites.loc[sites["selected"], "area_rule"]) == {"meets"}
    before = pd.read_csv(tmp_path / "ledger_after" / "ledger.csv", encoding="utf-8-sig")
    assert (before["community_service_status"] == "ok").sum() == 5
    # the population they serve is what MCLP maximised
    assert summary["newly_covered_population"] == pytest.approx(
        before.loc[before["community_service_status"] == "ok", "population"].sum())
    html = (tmp_path / "sites_map.html").read_text(encoding="utf-8")
    assert "candidate sites (" in html
    # the map colours communities by the category sited (community rooms, with the rooms built), not by the
    # count of categories short: the five fixed communities share the "ok" fill although some lack schools
    fills = {f["properties"]["community_id"]: f["properties"]["fill"]
             for blob in re.findall(r"geo_json_\w+_add\((\{.*?\})\);", html) for f in json.loads(blob)["features"]
             if "community_id" in f["properties"] and "fill" in f["properties"]}
    assert len(fills) == 264
    fixed = set(before.loc[before["community_service_status"] == "ok", "community_id"])
    assert (before.loc[before["community_id"].isin(fixed), "education_status"] == "gap").any()
    assert len({fills[c] for c in fixed}) == 1
    assert {fills[c] for c in fixed}.isdisjoint(v for c, v in fills.items() if c not in fixed)
    assert "选中房源 selected room" in html and "候选房源 candidate room" in html


def test_sites_evaluate_ranks_and_flags(tmp_path):
    d = sample_dir()
    result = run_cli("sites", "evaluate", "--candidates", str(d / "candidate_rooms.csv"), "--category",
                     "education", "--out", str(tmp_path), "--quiet")
    assert result.returncode == 0, result.stderr
    sites = pd.read_csv(tmp_path / "sites.csv", encoding="utf-8-sig")
    assert list(sites["rank"]) == list(range(1, len(sites) + 1))
    # rooms that can be taken come first (issue 14), each group by the people it newly covers
    n = int(sites["selectable"].sum())
    assert 0 < n < len(sites) and sites["selectable"].iloc[:n].all() and not sites["selectable"].iloc[n:].any()
    for part in (sites.iloc[:n], sites.iloc[n:]):
        assert part["newly_covered_population"].is_monotonic_decreasing
    assert (sites.loc[sites["review_note"].notna(), "selectable"] == False).all()  # noqa: E712
    # each row says why it can or cannot be taken, in Chinese
    assert (sites.iloc[:n]["selectable_reason"].str.startswith("可选")).all()
    assert (sites.iloc[n:]["selectable_reason"].str.startswith("不可选：")).all()
    assert (sites.loc[sites["review_note"] == "未通过预审", "selectable_reason"].str.contains("未通过预审")).all()


def test_batch_per_street_on_the_sample(tmp_path, xicheng_run):
    """`geofacility batch --by town` on Xicheng: 15 street folders whose rows add up to the whole-area ledger."""
    out = tmp_path / "batch"
    result = run_cli("batch", "--by", "town", "--out", str(out), "--quiet")
    assert result.returncode == 0, result.stderr
    whole = pd.read_csv(xicheng_run[0] / "ledger.csv", encoding="utf-8-sig", dtype=str, keep_default_na=False)
    folders = sorted(p for p in out.iterdir() if p.is_dir())
    assert len(folders) == 15 == whole["town"].nunique()
    parts = pd.concat([pd.read_csv(f / "ledger.csv", encoding="utf-8-sig", dtype=str, keep_default_na=False)
                       for f in folders])
    pd.testing.assert_frame_equal(parts.sort_values("community_id").reset_index(drop=True),
                                  whole.sort_values("community_id").reset_index(drop=True))
    summary = pd.read_csv(out / "summary.csv", encoding="utf-8-sig")
    assert len(summary) == 15 * 7 and (summary["status"] == "ok").all()
    edu = summary[summary["category"] == "education"]
    # as in the whole-area run: 131 short by distance, 7 more whose people in reach exceed the schools' capacity
    # (tests/test_xicheng_reference.py; 8 before the allocation's classes were per community, issue 16)
    assert edu["communities_short"].sum() == 138
    uncovered = pd.to_numeric(whole["education_uncovered_population"]).sum()
    assert edu["population_not_covered"].sum() == pytest.approx(uncovered, abs=1.0)
    assert len(gpd.read_file(out / "coverage.gpkg", layer="communities")) == 264
    index = (out / "index.html").read_text(encoding="utf-8")
    assert all(f"{quote(f.name)}/map.html" in index for f in folders)
    again = run_cli("batch", "--by", "town", "--out", str(out))
    assert "15 unchanged (skipped)" in again.stderr.replace("\n", " ")


def test_synth_writes_a_city_the_batch_runs_on_foot(tmp_path):
    city = tmp_path / "city"
    result = run_cli("synth", "--side", "24", "--demand", "1500", "--facilities-per-category", "4", "--out", str(city))
    assert result.returncode == 0, result.stderr
    again = tmp_path / "again"
    run_cli("synth", "--side", "24", "--demand", "1500", "--facilities-per-category", "4", "--out", str(again))
    assert (city / "demand.csv").read_bytes() == (again / "demand.csv").read_bytes()  # the same seed, the same city
    out = tmp_path / "out"
    result = run_cli("batch", "--communities", str(city / "communities.gpkg"), "--demand", str(city / "demand.csv"),
                     "--facilities", str(city / "facilities.csv"), "--network", str(city / "streets.gpkg"),
                     "--out", str(out), "--quiet")
    assert result.returncode == 0, result.stderr
    summary = pd.read_csv(out / "summary.csv", encoding="utf-8-sig")
    assert (summary["status"] == "ok").all() and summary["group"].nunique() >= 2
    assert pd.read_csv(out / summary["folder"].iloc[0] / "ledger.csv", encoding="utf-8-sig")[
        "distance_method"].eq("network").all()


def test_survey_extent_option(tmp_path):
    out = tmp_path / "out"
    result = run_cli("analyze", "--survey-extent", "education=" + str(sample_dir() / "streets.geojson"),
                     "--out", str(out), "--quiet")
    assert result.returncode == 0, result.stderr
    # the streets file covers the whole district: every community is inside the extent, nothing turns not surveyed
    ledger = pd.read_csv(out / "ledger.csv", encoding="utf-8-sig")
    assert set(ledger["education_status"]) == {"ok", "gap"} and (ledger["education_status"] == "gap").sum() == 138
    bad = run_cli("analyze", "--survey-extent", "公厕=x.geojson", "--out", str(out), "--quiet")
    assert bad.returncode == 2 and "unknown category" in bad.stderr


def test_map_command_writes_online_offline_and_printable_maps(tmp_path):
    import re

    out = tmp_path / "maps"
    result = run_cli("map", "--category", "education", "--out", str(out), "--quiet")
    assert result.returncode == 0, result.stderr
    for name in ("education_map.html", "education_map_offline.html", "education_map.png", "education_map.pdf",
                 "town_uncovered.png", "town_uncovered.pdf"):
        assert (out / name).stat().st_size > 10_000, name
    offline = (out / "education_map_offline.html").read_text(encoding="utf-8")
    assert not re.findall(r'<(?:script|link)[^>]*(?:src|href)="https?:', offline)
    online = (out / "education_map.html").read_text(encoding="utf-8")
    assert "tile.openstreetmap.org" in online and "教育 education 专项" in online
    assert (out / "education_map.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    bad = run_cli("map", "--category", "health", "--out", str(out))
    assert bad.returncode == 2 and "no facility data" in bad.stderr
    bad = run_cli("map", "--basemap", "google", "--out", str(out))
    assert bad.returncode == 2 and "--basemap" in bad.stderr


def test_map_with_candidate_sites(tmp_path):
    d = sample_dir()
    out = tmp_path / "maps"
    result = run_cli("map", "--category", "community_service", "--facilities",
                     f"community_service={d / 'community_rooms_existing.csv'}", "--standard",
                     "community_service=community_rooms_beijing", "--candidates", str(d / "candidate_rooms.csv"),
                     "--k", "5", "--no-offline", "--no-figures", "--out", str(out), "--quiet")
    assert result.returncode == 0, result.stderr
    import re

    html = re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)),
                  (out / "community_service_map.html").read_text(encoding="utf-8"))  # JSON's \uXXXX escapes
    assert "房源 candidate sites" in html and html.count("✔ 选中 selected") == 5
    bad = run_cli("map", "--candidates", str(d / "candidate_rooms.csv"), "--out", str(out))
    assert bad.returncode == 2 and "exactly one --category" in bad.stderr


def test_category_aliases_on_every_option(tmp_path, grid_communities):
    """The names a facility file's 类别 column accepts (养老, 教育, 医疗, 商业, 体育, 食堂, 社区用房 …) are accepted by
    every option that takes a category: --facilities CATEGORY=PATH, --radius, --standard, --survey-extent (analyze,
    batch, review) and --category (map, sites)."""
    import shapely

    from conftest import block, centre, write_grid_files

    # one facility of each of six categories at the centre of C22 (the grid's middle block)
    names = ["教育", "医疗", "养老", "商业", "体育", "社区用房"]
    fac = gpd.GeoDataFrame({"facility_id": [f"F{i}" for i in range(6)], "name": names, "类别": names},
                           geometry=[shapely.Point(centre(2, 2))] * 6, crs=grid_communities.crs)
    comm_path, fac_path = write_grid_files(tmp_path, grid_communities, fac)
    canteen = tmp_path / "canteens.csv"  # surveyed, none exist: given as 食堂=PATH
    canteen.write_text("name,lon,lat\n", encoding="utf-8")
    extent = tmp_path / "east.geojson"  # the sports survey covers the east street (columns 1–2) only
    gpd.GeoDataFrame(geometry=[shapely.union_all([block(c, r) for c in (1, 2) for r in (1, 2, 3)])],
                     crs=grid_communities.crs).to_crs(4326).to_file(extent)
    study = ["--communities", str(comm_path), "--facilities", str(fac_path), "--facilities", f"食堂={canteen}",
             "--radius", "养老=800", "--radius", "Elderly Care=800", "--radius", "医疗=1000",
             "--standard", "社区用房=community_rooms_beijing", "--survey-extent", f"体育={extent}", "--quiet",
             "--jurisdiction", "北京市"]  # the grid lies in Beijing: Beijing's community-rooms standard applies
    out = tmp_path / "out"
    result = run_cli("analyze", *study, "--out", str(out))
    assert result.returncode == 0, result.stderr
    ledger = pd.read_csv(out / "ledger.csv", encoding="utf-8-sig").set_index("community_id")
    assert (ledger["elderly_care_radius_m"] == 800).all() and (ledger["health_radius_m"] == 1000).all()
    assert (ledger["commerce_radius_m"] == 500).all()  # untouched: the vegetable market's 500 m
    # the elderly day-care centre at C22's centre, 800 m: C11's 25 homes lie 300–700 m from it in x and y, the
    # 17 with dx² + dy² ≤ 800² counted by hand (rows dy=300: dx 300..700 → 5; 400: 4; 500: 4; 600: 3; 700: 1)
    assert ledger.loc["C11", "elderly_care_covered_share"] == pytest.approx(17 / 25)
    assert (ledger["canteen_status"] == "gap").all() and (ledger["canteen_current_count"] == 0).all()
    assert ledger.loc["C31", "sports_status"] == "not_surveyed" and ledger.loc["C11", "sports_status"] != \
        "not_surveyed"
    applied = json.loads((out / "run.json").read_text(encoding="utf-8"))["settings"]["standards_applied"]
    assert "community_service/community_rooms_beijing" in " ".join(applied)

    maps_out = tmp_path / "maps"
    result = run_cli("map", *study, "--category", "养老", "--category", "医疗卫生", "--no-figures", "--no-offline",
                     "--out", str(maps_out))
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in maps_out.glob("*.html")) == ["elderly_care_map.html", "health_map.html"]

    batch_out = tmp_path / "batch"
    result = run_cli("batch", *study, "--by", "town", "--out", str(batch_out))
    assert result.returncode == 0, result.stderr
    parts = pd.concat([pd.read_csv(f, encoding="utf-8-sig") for f in sorted(batch_out.glob("*/ledger.csv"))])
    assert (parts["elderly_care_radius_m"] == 800).all() and len(parts) == 9

    rooms = tmp_path / "rooms.csv"
    lon, lat = gpd.GeoSeries([shapely.Point(centre(1, 1))], crs=grid_communities.crs).to_crs(4326).iloc[0].coords[0]
    rooms.write_text(f"房源编号,建筑面积,lon,lat\nR1,400,{lon},{lat}\n", encoding="utf-8")
    result = run_cli("sites", "evaluate", *study, "--candidates", str(rooms), "--category", "食堂",
                     "--out", str(tmp_path / "sites"))
    assert result.returncode == 0, result.stderr
    assert "canteen" in (tmp_path / "sites" / "run.json").read_text(encoding="utf-8")

    bad = run_cli("map", *study, "--category", "公厕", "--out", str(tmp_path / "bad"))
    assert bad.returncode == 2 and "--category 公厕: unknown category" in bad.stderr
    bad = run_cli("analyze", *study, "--radius", "养老=800", "--radius", "elderly_care=500", "--out", str(tmp_path / "b"))
    assert bad.returncode == 2 and "elderly_care given twice" in bad.stderr


def test_study_named_after_a_generic_file_is_not_titled_twice(tmp_path):
    """The bundled communities copied as 西城区/社区.geojson: the ledger, the map and the figures are titled
    西城区社区配套设施…, never 社区社区配套设施… (the file's name is generic: the folder names the place)."""
    import shutil

    d = sample_dir()
    folder = tmp_path / "西城区"
    folder.mkdir()
    shutil.copy(d / "communities.geojson", folder / "社区.geojson")
    out = tmp_path / "out"
    result = run_cli("analyze", "--communities", str(folder / "社区.geojson"), "--facilities",
                     f"教育={d / 'primary_schools.csv'}", "--demand", str(d / "compounds.csv"), "--towns",
                     str(d / "streets.geojson"), "--out", str(out), "--quiet")
    assert result.returncode == 0, result.stderr
    title = openpyxl.load_workbook(out / "ledger.xlsx").worksheets[0]["A1"].value
    assert title.startswith("西城区社区配套设施排查台账\n"), title
    page = (out / "map.html").read_text(encoding="utf-8")
    assert "<title>西城区 — 社区配套设施缺口</title>" in page and "社区社区" not in page
    assert json.loads((out / "run.json").read_text(encoding="utf-8"))["settings"]["study"] == "西城区"
    named = run_cli("analyze", "--communities", str(folder / "社区.geojson"), "--facilities",
                    f"教育={d / 'primary_schools.csv'}", "--study", "社区试点", "--out", str(tmp_path / "o2"),
                    "--quiet")
    assert named.returncode == 0, named.stderr  # a name given with --study is kept as typed
    assert json.loads((tmp_path / "o2" / "run.json").read_text(encoding="utf-8"))["settings"]["study"] == "社区试点"
