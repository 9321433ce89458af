"""The what-if workbench's page in a real browser: headless Chromium (tests/cdp.py, the DevTools protocol over a
pipe, no network but the loopback) drives the page served by the real app over the real Workbench on the Xicheng
sample (community_service as in docs/candidate-rooms.md): load, pick the category, click a candidate room, check
the panel against the API and `geofacility sites evaluate`, drop a room, undo, export and compare with the API's
export; no console error or uncaught exception on the way. Skipped where Chromium is missing (failed under CI)."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import browser
from test_workbench_server import CATEGORY, Running, evaluated, listening, sample_workbench  # noqa: F401

HOSTILE = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">'


@pytest.fixture(scope="module")
def chromium():
    import cdp

    if browser.find_chromium() is None:
        if os.environ.get("CI", "").strip().lower() in ("1", "true", "yes"):
            pytest.fail(f"{browser.SKIP_REASON} (required under CI)", pytrace=False)
        pytest.skip(browser.SKIP_REASON)
    with cdp.Browser() as chrome:
        yield chrome


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    running = Running(sample_workbench(tmp_path_factory.mktemp("workbench")))
    yield running
    running.stop()
    assert not listening(running.port)


def js(call: str) -> str:
    """``call`` (a promise), then the panel as read back from the page."""
    return f"({call}).then(function (r) {{ return {{result: r, panel: window.workbench.panel()}}; }})"


def test_the_page_drives_the_workbench(chromium, served, evaluated):  # noqa: F811
    page = chromium.open(served.url)
    page.evaluate("window.workbench.ready")
    assert "token=" not in page.evaluate("location.href")  # taken out of the address bar
    panel = page.evaluate(js(f"window.workbench.setCategory({json.dumps(CATEGORY)})"))["panel"]
    state = served.request("GET", f"/api/state?category={CATEGORY}")[1]
    assert panel["baseline"] == {k: state["baseline"][k] for k in panel["baseline"]}
    assert panel["scenario"] == panel["baseline"] and panel["built"] == [] and not panel["can_undo"]

    # a selectable room, clicked on the map (the Leaflet marker's own click)
    candidates = page.evaluate("window.workbench.candidates()")
    selectable = [cid for cid, p in candidates.items() if p["selectable"]]
    assert "XCR038" in selectable and not candidates["XCR038"]["built"]
    panel = page.evaluate(js("window.workbench.clickCandidate('XCR038')"))["panel"]
    state = served.request("GET", f"/api/state?category={CATEGORY}")[1]
    assert state["built"] == ["XCR038"] and panel["built"] == ["XCR038"]
    for side in ("baseline", "scenario"):
        assert panel[side] == {k: state[side][k] for k in panel[side]}, side
    newly = int(evaluated.loc["XCR038", "newly_covered_population"])  # the CLI's figure for the room
    assert panel["change"]["covered_population"] == newly == 8975
    assert panel["change"]["communities_short"] == -1 and panel["change"]["gap_m2"] == -350
    assert panel["changed"] == [c["community_id"] for c in state["changed"]] == [evaluated.loc["XCR038", "community_id"]]
    assert panel["ledger_rows"] == 1 and panel["can_undo"]
    # the ledger row as ledger.xlsx's 台账 sheet heads and writes it (its Chinese headings, its cell texts)
    assert panel["ledger_headers"][:3] == ["镇办", "社区", "户数\\人口"] and "现状" in panel["ledger_headers"]
    assert not any(h.isascii() for h in panel["ledger_headers"])  # no machine column names
    off = served.workbench.toggle(CATEGORY, "XCR038")["ledger_sheet"]  # the model, off and on again
    sheet = served.workbench.toggle(CATEGORY, "XCR038")["ledger_sheet"]
    assert off["status"] == ["gap"] and sheet["status"] == ["ok"]
    assert panel["ledger_cells"] == [[v or "" for v in row] for row in sheet["rows"]]
    assert panel["ledger_cells"][0][sheet["status_column"]].startswith("达标人口 8,975/8,975 人")
    assert panel["ledger_cells"][0][-1] == evaluated.loc["XCR038", "community_id"]

    # a room dropped on the map (mode on, a click, the form), with a hostile name: shown as text only
    room = {"lon": 116.36, "lat": 39.92, "floor_area_m2": 400, "name": HOSTILE, "categories": [CATEGORY]}
    panel = page.evaluate(js(f"window.workbench.dropRoom({json.dumps(room)})"))["panel"]
    state = served.request("GET", f"/api/state?category={CATEGORY}")[1]
    assert len(state["built"]) == 2 and panel["built"] == state["built"]
    assert panel["scenario"] == {k: state["scenario"][k] for k in panel["scenario"]}
    assert panel["scenario"]["covered_population"] > newly
    assert page.evaluate("String(window.__pwned)") == "undefined"
    assert page.evaluate("document.querySelectorAll('img[src=x], #wb-panel script').length") == 0
    assert HOSTILE in page.evaluate("document.getElementById('wb-built').textContent")

    # undo: the dropped room is gone again
    panel = page.evaluate(js("window.workbench.undo()"))["panel"]
    state = served.request("GET", f"/api/state?category={CATEGORY}")[1]
    assert state["built"] == ["XCR038"] and panel["built"] == ["XCR038"] and panel["can_redo"]
    assert panel["change"]["covered_population"] == newly

    # export from the page, then the same scenario through the API: the same files, the same tables
    result = page.evaluate(js("window.workbench.exportScenario('浏览器导出')"))
    folder = Path(served.workbench.out) / result["result"]["folder"]
    assert result["panel"]["export_folder"] == result["result"]["folder"]
    assert (folder / CATEGORY / "selection.json").is_file() and (folder / CATEGORY / "ledger_after").is_dir()
    status, api_export, _ = served.request("POST", "/api/export", {"name": "接口导出"})
    assert status == 200
    other = Path(served.workbench.out) / api_export["folder"]
    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(other).as_posix() for p in other.rglob("*") if p.is_file())
    for name in files:
        if name.endswith(".csv"):
            assert (folder / name).read_bytes() == (other / name).read_bytes(), name
    picked = json.loads((folder / CATEGORY / "selection.json").read_text(encoding="utf-8"))
    assert picked == json.loads((other / CATEGORY / "selection.json").read_text(encoding="utf-8"))
    assert page.errors == [], page.errors


def test_hostile_names_from_the_data_stay_inert(chromium, tmp_path, grid_communities, grid_facilities):
    """The map tests' hostile names (tests/test_browser.py) as community, town and room names: tooltips, the
    changed-communities list and the ledger rows show them as text; nothing runs."""
    import geopandas as gpd
    import shapely

    from conftest import centre, write_grid_files
    from geofacility import analyze
    from geofacility.workbench.model import Workbench

    communities = grid_communities.copy()
    communities.loc[communities["community_id"] == "C11", "community"] = HOSTILE
    communities.loc[communities["community_id"] == "C13", "town"] = HOSTILE
    comm, fac = write_grid_files(tmp_path, communities, grid_facilities)
    analysis = analyze(communities=comm, facilities=[fac])
    rooms = gpd.GeoDataFrame({"candidate_id": ["R1"], "name": [HOSTILE], "floor_area_m2": [5000.0],
                              "categories": [["education"]], "reviewed": [True]},
                             geometry=[shapely.Point(centre(1, 1))], crs=grid_communities.crs)
    from geofacility.read import read_candidates

    csv = tmp_path / "rooms.csv"
    wgs = rooms.to_crs(4326)
    import pandas as pd

    pd.DataFrame({"candidate_id": ["R1"], "name": [HOSTILE], "建筑面积": [5000], "可用类别": ["教育"], "预审": ["是"],
                  "lon": wgs.geometry.x, "lat": wgs.geometry.y}).to_csv(csv, index=False)
    running = Running(Workbench(analysis, read_candidates(csv), out=tmp_path / "wb"))
    try:
        page = chromium.open(running.url)
        page.evaluate("window.workbench.ready")
        page.evaluate("window.workbench.setCategory('education')")
        panel = page.evaluate(js("window.workbench.clickCandidate('R1')"))["panel"]
        assert panel["built"] == ["R1"]
        assert "C11" in panel["changed"]  # the hostile-named community closes its gap: listed by name
        page.evaluate("""(function () {
            var layers = []; window.workbench.map.eachLayer(function (l) { layers.push(l); });
            layers.forEach(function (l) { if (l.getTooltip && l.getTooltip()) { l.openTooltip(); l.closeTooltip(); } });
            return layers.length; })()""", await_promise=False)
        assert page.evaluate("String(window.__pwned)") == "undefined"
        assert page.evaluate("document.querySelectorAll('img[src=x], [onerror]').length") == 0
        text = page.evaluate("document.getElementById('wb-panel').textContent")
        assert HOSTILE in text  # the name, as text
        assert page.errors == [], page.errors
    finally:
        running.stop()
