"""The HTML maps in a real browser: headless Chromium from its command line (tests/browser.py), no network.

A map page normally loads Leaflet from CDNs, which a test machine cannot reach, so the pages here are written with
``write_map(..., offline=True, basemap="none")`` (Leaflet inlined from geofacility/assets/); until the map writer
has that option these tests skip. The whole module skips when Chromium is not installed (``apt-get install
chromium``).

Checked, on the 3×3 grid (conftest.py) with two categories surveyed and on the bundled Xicheng sample: the
page runs without an uncaught exception, ``console.error`` or a failed load; Leaflet made its map (the
``leaflet-container``), the layer control lists the layers geofacility.maps names, every community is an SVG
path, the title, legend and panel are there; the screenshot is not blank and shows the green, amber and red
fills. A community whose name is HTML and JavaScript creates no element and runs nothing, in the panel, the
tooltips or the popups, each opened in turn.
"""
from __future__ import annotations

import html
import inspect
import re

import pandas as pd
import pytest
import shapely

import browser

if browser.find_chromium() is None:
    pytest.skip(browser.SKIP_REASON, allow_module_level=True)

import geopandas as gpd  # noqa: E402

from conftest import centre, write_grid_files  # noqa: E402
from geofacility import maps  # noqa: E402
from geofacility.pipeline import analyze  # noqa: E402
from geofacility.study import sample_inputs  # noqa: E402
from geofacility.standards import CATEGORIES  # noqa: E402

HOSTILE = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">'
# a name that would break out of a JavaScript template literal, were one to hold it raw (folium.Popup does; the
# GeoJSON tooltips and popups of these maps read names from data at run time)
HOSTILE_LITERAL = "`+(window.__pwned=3)+`${window.__pwned=4}"
FILL_OPACITY = 0.72  # geofacility.maps: a populated community's fillOpacity


def _offline_options() -> dict:
    parameters = {**inspect.signature(maps.write_map).parameters, **inspect.signature(maps.build_map).parameters}
    if "offline" not in parameters:
        pytest.skip("geofacility.maps.write_map has no offline=True yet: the page would load Leaflet from a CDN, "
                    "which a test without network cannot reach")
    return {"offline": True, **({"basemap": "none"} if "basemap" in parameters else {})}


def write_offline_map(analysis, path):
    """The map page with Leaflet inlined and no base map: it needs no network at all."""
    path = maps.write_map(analysis, path, **_offline_options())
    external = browser.external_urls(path.read_text(encoding="utf-8"))
    assert not external, f"an offline map still loads {external}"
    return path


def _two_category_grid(tmp_path, grid_communities, grid_facilities):
    """The 3×3 grid with schools A (C22) and B (C33) and health stations (300 m) at the centres of C11, C22, C33
    and C13: C22 and C33 short of nothing (green), C11 short of schools only (amber), the rest short of both
    (red)."""
    points = [centre(1, 1), centre(2, 2), centre(3, 3), centre(1, 3)]
    health = gpd.GeoDataFrame(
        {"facility_id": [f"H{i}" for i in range(len(points))], "name": [f"卫生站{i}" for i in range(len(points))],
         "category": "health", "subcategory": "community_health_station", "floor_area_m2": float("nan")},
        geometry=[shapely.Point(p) for p in points], crs=grid_facilities.crs)
    facilities = pd.concat([grid_facilities, health], ignore_index=True)
    comm, fac = write_grid_files(tmp_path, grid_communities, facilities)
    return analyze(communities=comm, facilities=[fac])


def _expected_layers(analysis) -> list[str]:
    names = [maps.COMMUNITIES_LAYER]
    surveyed = [c for c in CATEGORIES if c in set(analysis.surveyed)]
    names += [maps.uncovered_layer_name(c) for c in surveyed]
    names += [maps.category_layer_name(c, analysis.checks) for c in surveyed]
    return names


def _layer_control_names(dom: browser.Dom) -> list[str]:
    """The layer names as the layer control shows them (text, whitespace trimmed)."""
    control = dom.find_all(cls="leaflet-control-layers")
    assert control, "no layer control"
    labels = [e for e in dom.inside(control[0]) if e.tag == "label"]
    return [dom.text(label).strip() for label in labels]


def check_map_page(page: browser.Page, analysis) -> None:
    """What every geofacility map must show once its scripts ran."""
    dom = page.dom
    assert not page.errors, "the page reported errors:\n" + "\n".join(page.errors)
    assert page.probe.get("maps") == 1, "no Leaflet map object on the page"
    assert [e for e in dom.find_all("div") if "leaflet-container" in e.classes], "Leaflet made no map container"
    shown = _layer_control_names(dom)
    for name in _expected_layers(analysis):
        assert html.unescape(name).strip() in shown, f"layer {name!r} not in the layer control: {shown}"
    paths = [e for e in dom.find_all("path") if "leaflet-interactive" in e.classes]
    assert len(paths) >= len(analysis.communities), f"{len(paths)} SVG paths for {len(analysis.communities)} " \
                                                    "communities"
    for dom_id in ("gf-title", "gf-legend", "gf-panel"):
        element = dom.by_id(dom_id)
        assert element is not None, f"#{dom_id} missing"
        assert dom.text(element).strip(), f"#{dom_id} is empty"
    assert "leaflet-control-scale" in {c for e in dom.elements for c in e.classes}


def check_screenshot(png, analysis, min_share: float = 0.005, tolerance: float = 20) -> dict[str, float]:
    """The screenshot is not blank and each community fill used by a tenth of the communities or more shows on a
    meaningful share of the pixels (at least 7,000 of 1.4 million); the share of each fill colour. The colour
    looked for is the fill at its opacity over Leaflet's grey (#ddd); ``tolerance`` (per channel) lets the faint
    service-radius circles drawn over it count."""
    pixels = browser.read_png(png)
    if pixels is None:
        pytest.skip("neither Pillow nor matplotlib is installed to read the screenshot")
    assert pixels.shape[:2] == (browser.WINDOW[1], browser.WINDOW[0])
    assert pixels.std() > 25, f"a blank page? pixel standard deviation {pixels.std():.1f}"
    assert browser.distinct_colours(pixels) > 500, "a blank page? too few distinct colours"
    surveyed = len(set(analysis.surveyed))
    fills = maps.community_fill(analysis.communities, surveyed)
    used = fills[analysis.communities["population"].fillna(0) > 0].value_counts(normalize=True)
    shares = {}
    for colour, communities_share in used.items():
        shares[colour] = browser.colour_share(pixels, browser.blend(colour, FILL_OPACITY), tolerance)
        if communities_share >= 0.1:
            assert shares[colour] >= min_share, f"fill {colour} ({communities_share:.0%} of the communities) on " \
                                                f"only {shares[colour]:.2%} of the pixels"
    return shares


# ---------------------------------------------------------------------------------------------- the helper


def test_console_errors_and_failed_loads_are_seen(tmp_path):
    """The helper itself, on this machine's Chromium: otherwise 'no errors' could pass by not seeing them."""
    page = tmp_path / "broken.html"
    page.write_text(
        "<!doctype html><html><head><title>t</title><link rel=stylesheet href=missing.css></head><body>\n"
        "<div id=a>before</div>\n"
        "<script>console.log('中文 \"q\"\\nsecond line'); console.error('explicit', 42);</script>\n"
        "<script src=missing.js></script>\n"
        "<script>undefinedFunction();</script>\n"
        "<script>Promise.reject(new Error('rejected'));</script>\n"
        "<script>document.getElementById('a').textContent = 'after';</script>\n"
        "</body></html>", encoding="utf-8")
    plain = browser.load(page, probe=False)
    assert plain.dom.text(plain.dom.by_id("a")) == "after"
    texts = [m.text for m in plain.console]
    assert '中文 "q"\nsecond line' in texts  # a message over two lines, non-ASCII, quotes
    uncaught = [m for m in plain.console if m.uncaught]
    assert [m.text for m in uncaught] == ["Uncaught ReferenceError: undefinedFunction is not defined",
                                          "Uncaught (in promise) Error: rejected"]
    assert uncaught[0].source == page.resolve().as_uri() and uncaught[0].line == 5
    assert len(plain.errors) == 2

    probed = browser.load(page, expressions={"two": "1 + 1", "title": "document.title"})
    errors = "\n".join(probed.errors)
    for expected in ("console.error: explicit 42", "resource: link", "missing.css", "resource: script",
                     "missing.js", "undefinedFunction is not defined", "rejection: Error: rejected"):
        assert expected in errors
    assert len(probed.errors) == 5, errors  # the exception once, though both console and probe saw it
    assert "broken.html:5" in errors  # the probe, on one line, keeps the page's line numbers
    assert probed.values == {"two": 2, "title": "t"}
    assert ".probe-" not in errors  # messages name the page, not its probe copy
    assert [p.name for p in tmp_path.iterdir()] == ["broken.html"]  # the copy is gone


# ---------------------------------------------------------------------------------------------- the maps


def test_grid_map_in_the_browser(tmp_path, grid_communities, grid_facilities):
    analysis = _two_category_grid(tmp_path, grid_communities, grid_facilities)
    assert sorted(analysis.communities["n_categories_short"].tolist()) == [0, 0, 1, 2, 2, 2, 2, 2, 2]
    path = write_offline_map(analysis, tmp_path / "map.html")
    page = browser.load(path)
    check_map_page(page, analysis)
    assert len(_layer_control_names(page.dom)) == len(_expected_layers(analysis)) + 1  # + streets & towns

    png, _ = browser.screenshot(path, tmp_path / "map.png")
    shares = check_screenshot(png, analysis)
    assert set(shares) == set(maps.fill_palette(2))  # green, amber, red
    # 2 green blocks, 1 amber, 6 red, less what the overlays, outlines and dots cover (the radius circles shade)
    assert min(shares.values()) > 0.01, shares


def test_xicheng_sample_map_in_the_browser(tmp_path):
    analysis = analyze(**sample_inputs())
    path = write_offline_map(analysis, tmp_path / "map.html")
    page = browser.load(path)
    check_map_page(page, analysis)
    png, _ = browser.screenshot(path, tmp_path / "map.png")
    shares = check_screenshot(png, analysis)
    assert sum(shares.values()) > 0.03  # the district fills a good part of the window


def test_hostile_community_names_create_nothing(tmp_path, grid_communities, grid_facilities):
    communities = grid_communities.copy()
    communities.loc[communities["community_id"] == "C11", "community"] = HOSTILE  # short of schools: in the panel
    communities.loc[communities["community_id"] == "C12", "community"] = HOSTILE_LITERAL
    communities.loc[communities["community_id"] == "C13", "town"] = HOSTILE
    comm, fac = write_grid_files(tmp_path, communities, grid_facilities)
    analysis = analyze(communities=comm, facilities=[fac])
    assert HOSTILE in set(analysis.communities["community"])
    path = write_offline_map(analysis, tmp_path / "map.html")
    page = browser.load(path, open_popups=True, expressions={"pwned": "String(window.__pwned)"})

    assert page.values["pwned"] == "undefined", f"a name's script ran: window.__pwned = {page.values['pwned']}"
    assert "__pwned" not in page.title()
    # every community popup and tooltip opened; none holds an element made from a name, all show it as text
    assert len(page.popups) >= len(analysis.communities) and len(page.tooltips) >= len(analysis.communities)
    for dom in [page.dom, *page.popups, *page.tooltips]:
        assert not dom.find_all("img", src="x")
        assert not [e for e in dom.elements if "onerror" in e.attrs]
        assert not [e for e in dom.find_all("script") if "__pwned" in dom.text(e) and "=1" in dom.text(e)
                    and len(dom.text(e)) < 100]
    assert not page.errors, "\n".join(page.errors)
    panel = page.dom.text(page.dom.by_id("gf-panel"))
    assert HOSTILE in panel  # the name, shown as text
    popup_text = [dom.text(dom.elements[0]) for dom in page.popups if dom.elements]
    tooltip_text = [dom.text(dom.elements[0]) for dom in page.tooltips if dom.elements]
    for name in (HOSTILE, HOSTILE_LITERAL):
        assert any(name in text for text in popup_text), f"{name!r} in no popup"
        assert any(name in text for text in tooltip_text), f"{name!r} in no tooltip"


# ---------------------------------------------------------------------------------------------- the batch overview

#: the hosts a page may ask for with no harm when offline: base-map tile servers (the tiles then stay grey)
TILE_HOSTS = ("tile.openstreetmap.org", "autonavi.com", "tianditu.gov.cn")
#: links a person may click (attribution), never loaded by the page itself
LINK_HOSTS = ("openstreetmap.org/copyright", "leafletjs.com")


def test_batch_overview_renders_offline(tmp_path, grid_communities, grid_facilities):
    """index.html of a batch, opened with the network cut off (every host name unresolvable): Leaflet is inlined,
    so the two street polygons are drawn in their colours and link their maps; the only http(s) URLs the page
    holds are the tile server's and the attribution links, and the only requests it makes are for tiles."""
    from geofacility.batch import batch

    # 西街道 (column 3) gets a school at the centre of each of its blocks: every home within 354 m of one, none
    # short (green); 东街道 (columns 1–2) keeps school A (centre of C22) only: its corner blocks C11 and C13 have
    # 3 and 1 of their 25 homes within 500 m (12 %, 4 %), so it is short in more than a quarter of its communities
    schools = pd.concat([grid_facilities.iloc[[0]], gpd.GeoDataFrame(
        {"facility_id": ["W1", "W2", "W3"], "name": ["西校1", "西校2", "西校3"], "category": "education",
         "subcategory": "primary_school", "floor_area_m2": float("nan")},
        geometry=[shapely.Point(centre(3, r)) for r in (1, 2, 3)], crs=grid_facilities.crs)], ignore_index=True)
    comm, fac = write_grid_files(tmp_path, grid_communities, schools)
    result = batch(by="town", out=tmp_path / "batch", communities=comm, facilities=[fac])
    summary = result.summary[result.summary["category"] == "education"].set_index("group")
    assert summary.loc["西街道", "communities_short"] == 0
    short_east = summary.loc["东街道", "communities_short"] / 6
    assert short_east >= 2 / 6
    east_colour = next(c for limit, c, _ in maps.OVERVIEW_KEY[1:] if short_east <= limit)
    path = result.paths["index"]
    source = path.read_text(encoding="utf-8")
    assert not browser.external_urls(source), browser.external_urls(source)
    leaflet_js, leaflet_css = maps.page._leaflet_inline()
    assert leaflet_js in source and leaflet_css in source  # inlined; their text names an SVG namespace and a bug
    # report (comments), nothing they load
    urls = set(re.findall(r"https?://[^\s\"'<>)\\]+", source.replace(leaflet_js, "").replace(leaflet_css, "")))
    stray = {u for u in urls if not any(h in u for h in TILE_HOSTS + LINK_HOSTS)}
    assert not stray, f"index.html refers to {sorted(stray)}"

    page = browser.load(path, offline=True, expressions={
        "requested": "performance.getEntriesByType('resource').map(function (e) { return e.name; })"})
    assert not page.errors, "\n".join(page.errors)
    assert page.probe.get("maps") == 1
    requested = [u for u in page.values["requested"] if re.match(r"^https?:", u)]
    assert all(any(h in u for h in TILE_HOSTS) for u in requested), requested
    assert page.failed_tiles or requested  # the tiles were asked for and, offline, did not come
    paths = [e for e in page.dom.find_all("path") if "leaflet-interactive" in e.classes]
    assert len(paths) == 2  # one polygon per street
    fills = sorted(e.attrs.get("fill") for e in paths)
    assert fills == sorted([maps.OK_COLOUR, east_colour]), fills
    assert "batch overview" in page.dom.text(page.dom.by_id("gf-legend"))
    png, _ = browser.screenshot(path, tmp_path / "index.png", offline=True)
    pixels = browser.read_png(png)
    if pixels is not None:
        for colour in (maps.OK_COLOUR, east_colour):  # the two streets fill a good part of the window
            assert browser.colour_share(pixels, browser.blend(colour, 0.75), 20) > 0.05, colour
