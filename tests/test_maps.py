"""The coverage-and-gaps map (geofacility.maps) on a small hand-built Analysis in Beijing (EPSG:32650)."""
from __future__ import annotations

import json
import math
import re

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from pyproj import CRS
from shapely.geometry import Point, box

from geofacility import maps
from geofacility.pipeline import Analysis
from geofacility.standards import CATEGORIES, find_check, load_standards

X0, Y0 = 448_000.0, 4_420_000.0  # UTM 50N, about 39.93 N 116.39 E
EVIL = "<script>alert(1)</script>"
JINJA = "{# x {{ 7*7 }}"  # Jinja syntax: branca re-parses MacroElement output as a template
JINJA_TOWN = "{{ 7*7 }}街道"


def _community_row(cid, name, town, population, approximate, status, covered_share):
    row = {
        "community_id": cid,
        "community": name,
        "town": town,
        "population": population,
        "households": population / 2.5 if population else np.nan,
        "approximate": approximate,
        "n_categories_short": int(status == "gap"),
    }
    for c in CATEGORIES:
        surveyed = c == "education"
        row.update(
            {
                f"{c}_status": status if surveyed else "not_surveyed",
                f"{c}_standard": "primary_school r=500 m" if surveyed else "",
                f"{c}_radius_m": 500.0 if surveyed else np.nan,
                f"{c}_covered_share": covered_share if surveyed else np.nan,
                f"{c}_covered_population": population * covered_share if surveyed else np.nan,
                f"{c}_uncovered_population": population * (1 - covered_share) if surveyed else np.nan,
                f"{c}_required_count": 1.0 if surveyed else np.nan,
                f"{c}_current_count": float(status == "ok") if surveyed else np.nan,
                f"{c}_count_gap": float(status == "gap") if surveyed else np.nan,
                f"{c}_required_m2": np.nan,
                f"{c}_current_m2": np.nan,
                f"{c}_gap_m2": np.nan,
                f"{c}_problem": ("覆盖率低" if status == "gap" else "") if surveyed else "未调查",
            }
        )
    return row


@pytest.fixture
def analysis() -> Analysis:
    crs = CRS.from_epsg(32650)
    rows = [
        # the worst: a gap with 1,200 people uncovered, and a name that tries to inject script
        _community_row("C1", EVIL, "安定门街道", 3000.0, True, "gap", 0.6),
        _community_row("C2", "安华里社区", "安定门街道", 2500.0, False, "ok", 1.0),
        # a smaller gap (200 uncovered), named like a Jinja comment/expression
        _community_row("C3", JINJA, JINJA_TOWN, 1000.0, False, "gap", 0.8),
    ]
    squares = [box(X0 + 500 * i, Y0, X0 + 500 * (i + 1), Y0 + 500) for i in range(3)]
    communities = gpd.GeoDataFrame(pd.DataFrame(rows), geometry=squares, crs=crs)
    towns = gpd.GeoDataFrame(
        {"town": ["安定门街道", JINJA_TOWN], "population": [5500.0, np.nan]},
        geometry=[box(X0, Y0, X0 + 1000, Y0 + 500), box(X0 + 1000, Y0, X0 + 1500, Y0 + 500)],
        crs=crs,
    )
    facilities = gpd.GeoDataFrame(
        {
            "facility_id": ["F1", "F2"],
            "name": ["安华里小学", "和平里<b>小学</b>"],
            "category": ["education", "education"],
            "subcategory": ["primary_school", None],
            "floor_area_m2": [4200.0, np.nan],
            "source_file": ["schools.csv", "schools.csv"],
            "source_row": [2, 3],
        },
        geometry=[Point(X0 + 750, Y0 + 250), Point(X0 + 1400, Y0 + 450)],
        crs=crs,
    )
    centres = [Point(X0 + 50 + 100 * i, Y0 + 250) for i in range(15)]
    fac_xy = np.array([[p.x, p.y] for p in facilities.geometry])
    dist = [float(np.min(np.hypot(*(fac_xy - [p.x, p.y]).T))) for p in centres]
    demand = gpd.GeoDataFrame(
        {
            "demand_id": [f"D{i}" for i in range(15)],
            "community_id": [f"C{1 + i // 5}" for i in range(15)],
            "weight": [400.0] * 5 + [500.0] * 5 + [200.0] * 5,
            "dist_education_m": dist,
        },
        geometry=centres,
        crs=crs,
    )
    check = find_check(load_standards(), "education", "primary_school")
    assert check is not None and check.radius_m == 500
    return Analysis(
        communities=communities,
        demand=demand,
        facilities=facilities,
        towns=towns,
        checks=[check],
        warnings=pd.DataFrame(columns=["file", "row", "severity", "message"]),
        crs=crs,
        surveyed=["education"],
        settings={
            "study": "东城区 <i>test</i>",
            "distance": "euclidean",
            "coverage_target": 0.8,
            "attribution": "© OpenStreetMap contributors (ODbL); WorldPop; Lianjia",
        },
    )


def _unescape_js(text: str) -> str:
    r"""The page as the browser's JS engine sees its strings: folium writes JSON with \uXXXX escapes."""
    return re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), text)


@pytest.fixture
def page(analysis, tmp_path) -> str:
    path = maps.write_map(analysis, tmp_path / "map.html")
    return path.read_text(encoding="utf-8")


def test_leaflet_map_with_expected_layers(page, analysis):
    js = _unescape_js(page)
    assert "L.map(" in page
    assert maps.category_layer_name("education", analysis.checks) in js
    assert "教育 education — 小学 primary_school r=500 m" in js
    assert maps.COMMUNITIES_LAYER in js
    assert maps.TOWNS_LAYER in js
    assert maps.uncovered_layer_name("education") in js
    assert "L.control.layers(" in page


def test_service_radius_circles(page):
    assert "new L.circle(" in page  # folium.Circle
    assert re.search(r'"radius":\s*500(\.0)?\b', page)


def test_legend(page, analysis):
    js = _unescape_js(page)
    legend = js[js.index('id="gf-legend"') :]
    legend = legend[: legend.index("</details>")]
    for c in CATEGORIES[1:]:
        assert c in legend  # listed as not surveyed
    assert "未调查 not surveyed" in legend
    assert "社区边界为推算（approximate community boundaries）" in legend
    assert analysis.checks[0].label.split(" (")[0] in legend  # the standard applied
    assert "metres" in legend
    assert "© OpenStreetMap contributors (ODbL); WorldPop; Lianjia" in legend
    assert "东城区 &lt;i&gt;test&lt;/i&gt;" in legend


def test_text_from_data_is_escaped(page):
    js = _unescape_js(page)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page  # panel (plain HTML)
    assert EVIL not in page
    assert EVIL not in js  # nor in any tooltip/popup string that reaches innerHTML
    assert "和平里&lt;b&gt;小学&lt;/b&gt;" in js
    assert "<b>小学</b>" not in js
    assert "<i>test</i>" not in js


def test_jinja_syntax_in_names_is_inert(page):
    # branca re-renders MacroElement output as a Jinja template: braces must be escaped, not evaluated
    js = _unescape_js(page)
    assert "&#123;# x &#123;&#123; 7*7 &#125;&#125;" in page
    assert "&#123;&#123; 7*7 &#125;&#125;街道" in js
    assert "49街道" not in js and "{{ 7*7 }}" not in js


def test_fill_colours_differ_between_ok_and_gap(page, analysis):
    fill = maps.community_fill(analysis.communities, len(analysis.surveyed))
    ok, gap = fill.iloc[1], fill.iloc[0]
    assert ok != gap
    assert f'"fill": "{ok}"' in page and f'"fill": "{gap}"' in page


def test_fill_palette_and_no_population():
    assert maps.fill_palette(1) == [maps.OK_COLOUR, "#d7301f"]
    palette = maps.fill_palette(4)
    assert palette[:2] == [maps.OK_COLOUR, maps.AMBER] and len(palette) == 5 and len(set(palette)) == 5
    frame = pd.DataFrame({"n_categories_short": [0, 1, 3, 9, 2], "population": [10.0, 10.0, 10.0, 10.0, 0.0]})
    fill = maps.community_fill(frame, 4).tolist()
    assert fill == [palette[0], palette[1], palette[3], palette[4], maps.NO_POPULATION_COLOUR]


def test_map_fitted_to_reprojected_bounds(page):
    calls = re.findall(r"\.fitBounds\(\s*(\[\[[^\]]*\],\s*\[[^\]]*\]\])", page)
    assert calls, "no fitBounds call"
    (south, west), (north, east) = json.loads(calls[-1])  # the map's own call, after the inlined Leaflet
    assert 39.5 < south < north < 40.5
    assert 115.5 < west < east < 117.5


def test_worst_community_first_in_panel(page):
    panel = page[page.index('id="gf-panel"') :]
    items = re.findall(r'<li class="gf-rank".*?</li>', panel)
    assert len(items) == 2  # the ok community is not listed
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in items[0]
    assert "7*7" in items[1]


def test_worst_communities_ranks_categories_before_people():
    frame = gpd.GeoDataFrame(
        {
            "community_id": ["a", "b", "c", "d"],
            "community": ["a", "b", "c", "d"],
            "town": ["t"] * 4,
            "population": [100.0, 9000.0, 500.0, 0.0],
            "n_categories_short": [2, 1, 1, 3],
            "education_uncovered_population": [10.0, 5000.0, 400.0, 0.0],
            "health_uncovered_population": [0.0, 0.0, np.nan, 0.0],
            "education_status": ["gap", "gap", "ok", "gap"],
            "health_status": ["gap", "ok", "gap", "gap"],
        },
        geometry=[box(0, 0, 1, 1)] * 4,
    )
    worst = maps.worst_communities(frame, ["education", "health"])
    assert worst["community_id"].tolist() == ["a", "b", "c"]  # d has nobody
    assert worst["_names"].tolist() == ["教育、医疗卫生", "教育", "医疗卫生"]


def test_uncovered_population_points(analysis):
    points = maps.uncovered_demand(analysis, "education")
    expected = analysis.demand["dist_education_m"] > 500
    assert set(points["demand_id"]) == set(analysis.demand.loc[expected, "demand_id"])
    assert len(points) > 0


def test_popup_contents(analysis):
    props = maps.community_properties(analysis.communities, ["education"])
    popup = props["popup"].iloc[0]
    assert "3,000" in popup and "1,200" in popup and "60%" in popup and "1 / 0" in popup
    assert popup.count("未调查 not surveyed") == len(CATEGORIES) - 1
    assert "边界为推算" in popup
    assert "&lt;script&gt;" in props["tip"].iloc[0]


def test_write_map_is_atomic_and_deterministic(analysis, tmp_path):
    path = maps.write_map(analysis, tmp_path / "out" / "map.html")
    assert [p.name for p in path.parent.iterdir()] == ["map.html"]
    first = path.read_bytes()
    maps.write_map(analysis, path)
    assert path.read_bytes() == first
    assert [p.name for p in path.parent.iterdir()] == ["map.html"]


def test_without_towns(analysis, tmp_path):
    analysis.towns = None
    html = maps.write_map(analysis, tmp_path / "map.html").read_text(encoding="utf-8")
    assert maps.TOWNS_LAYER not in _unescape_js(html)
    assert "L.map(" in html


def test_esc():
    assert maps.esc(None) == "" and maps.esc(math.nan) == ""
    assert maps.esc("a`${b}\\c") == "a&#96;&#36;&#123;b&#125;&#92;c"
    assert maps.esc('<a href="x">') == "&lt;a href=&quot;x&quot;&gt;"


def test_large_uncovered_layer_starts_off(analysis, monkeypatch):
    def uncovered_group(m):
        name = maps.uncovered_layer_name("education")
        return next(c for c in m._children.values() if getattr(c, "layer_name", "") == name)

    assert uncovered_group(maps.build_map(analysis)).show is True
    monkeypatch.setattr(maps.uncovered, "MANY_POINTS", 1)
    assert uncovered_group(maps.build_map(analysis)).show is False


def test_scale_bar_is_metric_only(tmp_path, analysis):
    from geofacility.maps import write_map

    html = write_map(analysis, tmp_path / "m.html").read_text(encoding="utf-8")
    assert "L.control.scale({imperial: false, metric: true" in html


# ---------------------------------------------------------------------------------------------- aggregation


def _uncovered_data(m, category="education") -> dict:
    """The GeoJSON of a category's "uncovered population" layer (and the layer)."""
    name = maps.uncovered_layer_name(category)
    group = next(c for c in m._children.values() if getattr(c, "layer_name", "") == name)
    (layer,) = group._children.values()
    return layer.data, group


def test_uncovered_cells_by_hand():
    """P1 (10, 10) weighs 1 and P2 (90, 10) 3, in one 100 m cell; P3 (150, 50) weighs 2, in the next 100 m cell
    but the same 200 m one; P4 (450, 50) weighs 5, alone in every cell up to 250 m."""
    xy = [(10, 10), (90, 10), (150, 50), (450, 50)]
    points = gpd.GeoDataFrame({"weight": [1.0, 3.0, 2.0, 5.0]},
                              geometry=[Point(X0 + x, Y0 + y) for x, y in xy], crs=32650)

    cells, size = maps.uncovered_cells(points, max_cells=3)  # 100 m gives 3 cells
    assert size == 100
    assert cells["people"].tolist() == [5.0, 4.0, 2.0]  # most people first
    assert cells["homes"].tolist() == [1, 2, 1]
    assert [(p.x - X0, p.y - Y0) for p in cells.geometry] == [
        (450, 50), (pytest.approx((10 * 1 + 90 * 3) / 4), 10), (150, 50)]  # P1-P2 weighted: x = 70

    cells, size = maps.uncovered_cells(points, max_cells=2)  # 100 m: 3 cells; 200 m: 2
    assert size == 200
    assert cells["people"].tolist() == [6.0, 5.0] and cells["homes"].tolist() == [3, 1]
    centre = cells.geometry.iloc[0]
    assert centre.x - X0 == pytest.approx((10 * 1 + 90 * 3 + 150 * 2) / 6)
    assert centre.y - Y0 == pytest.approx((10 * 1 + 10 * 3 + 50 * 2) / 6)
    assert cells.crs == points.crs

    cells, size = maps.uncovered_cells(points, max_cells=1)  # 250 m still 2 cells; 500 m one
    assert size == 500 and cells["people"].tolist() == [11.0] and cells["homes"].tolist() == [4]


@pytest.fixture
def grid_analysis(analysis) -> Analysis:
    """1,200 homes on a 25 m grid (12.5 m from the cell edges) over the three communities (x 0–1,500 m,
    y 0–500 m), all 900 m from a school (radius 500 m): uncovered. A home weighs 1 in C1, 2 in C2, 3 in C3."""
    xs = np.arange(12.5, 1500, 25.0)
    ys = np.arange(12.5, 500, 25.0)
    x, y = (a.ravel() for a in np.meshgrid(xs, ys))
    community = np.array(["C1", "C2", "C3"])[(x // 500).astype(int)]
    analysis.demand = gpd.GeoDataFrame(
        {
            "demand_id": [f"D{i}" for i in range(len(x))],
            "community_id": community,
            "weight": (x // 500 + 1).astype(float),
            "dist_education_m": 900.0,
        },
        geometry=gpd.points_from_xy(X0 + x, Y0 + y),
        crs=analysis.crs,
    )
    assert len(analysis.demand) == 1200
    return analysis


def test_large_uncovered_layer_is_drawn_as_grid_cells(grid_analysis, monkeypatch):
    """At most 20 cells: 100 m cells give 15 × 5 = 75, 200 m 8 × 3 = 24, 250 m 6 × 2 = 12 of 100 homes each."""
    monkeypatch.setattr(maps.uncovered, "MANY_POINTS", 20)
    m = maps.build_map(grid_analysis)
    data, group = _uncovered_data(m)
    assert group.show is False  # a heavy layer still starts off
    features = data["features"]
    assert len(features) == 12
    tips = [f["properties"]["tip"] for f in features]
    assert tips == (["未覆盖 300 人（100 处）/ 300 people not covered (100 homes), 250 m cell"] * 4
                    + ["未覆盖 200 人（100 处）/ 200 people not covered (100 homes), 250 m cell"] * 4
                    + ["未覆盖 100 人（100 处）/ 100 people not covered (100 homes), 250 m cell"] * 4)
    # radius ∝ √people, the largest 12 px
    assert [f["properties"]["r"] for f in features] == [12.0] * 4 + [9.8] * 4 + [6.9] * 4
    # each dot at its cell's centre (homes weigh alike within a cell), in WGS84; most people first, then the
    # cells west to east, south to north: C3's columns 4–5, C2's 2–3, C1's 0–1
    centres = gpd.GeoSeries([Point(X0 + 125 + 250 * i, Y0 + 125 + 250 * j) for i in (4, 5, 2, 3, 0, 1) for j in (0, 1)],
                            crs=grid_analysis.crs).to_crs(4326)
    for feature, centre in zip(features, centres):
        assert feature["geometry"]["coordinates"] == pytest.approx([centre.x, centre.y], abs=1e-6)

    page = maps.render_html(m)
    assert "未覆盖人口按 250 m 网格汇总" in page and "aggregated to 250 m grid cells" in page
    assert "教育 education: 未覆盖人口按 250 m" in page
    assert "最近 nearest" not in _unescape_js(page)  # no single-home tooltips
    assert maps.render_html(maps.build_map(grid_analysis)) == page  # deterministic


def test_uncovered_layer_at_the_threshold_is_not_aggregated(grid_analysis, monkeypatch):
    monkeypatch.setattr(maps.uncovered, "MANY_POINTS", 1200)  # 1,200 homes uncovered: at the threshold
    m = maps.build_map(grid_analysis)
    data, group = _uncovered_data(m)
    assert len(data["features"]) == 1200 and group.show is True
    assert data["features"][0]["properties"]["tip"] == "1 人 people · 最近 nearest 教育 900 m"
    page = maps.render_html(m)
    assert "网格汇总" not in page and "grid cells" not in page

    monkeypatch.setattr(maps.uncovered, "MANY_POINTS", 1199)  # one home more than that: 100 m cells, 75 of 16 homes
    data, group = _uncovered_data(maps.build_map(grid_analysis))
    assert len(data["features"]) == 75 and group.show is False
    assert data["features"][0]["properties"]["tip"] == \
        "未覆盖 48 人（16 处）/ 48 people not covered (16 homes), 100 m cell"


def test_small_uncovered_layer_keeps_one_dot_per_home(analysis):
    uncovered = maps.uncovered_demand(analysis, "education")
    data, _ = _uncovered_data(maps.build_map(analysis))
    assert len(data["features"]) == len(uncovered) > 0
    assert all("最近 nearest 教育" in f["properties"]["tip"] for f in data["features"])


# ---------------------------------------------------------------------------------------------- category maps


def _with_second_category(analysis) -> Analysis:
    """The fixture with health surveyed too: C2 short of health, a clinic F3."""
    from dataclasses import replace

    comm = analysis.communities.copy()
    comm["health_status"] = ["ok", "gap", "ok"]
    comm["health_uncovered_population"] = [0.0, 500.0, 0.0]
    comm["n_categories_short"] = [1, 1, 1]
    fac = pd.concat([analysis.facilities, gpd.GeoDataFrame(
        {"facility_id": ["F3"], "name": ["社区卫生站"], "category": ["health"], "subcategory": [None],
         "floor_area_m2": [300.0], "source_file": ["h.csv"], "source_row": [2]},
        geometry=[Point(X0 + 100, Y0 + 100)], crs=analysis.crs)], ignore_index=True)
    health = find_check(load_standards(), "health", load_standards().query("category == 'health'")
                        ["subcategory"].iloc[0])
    return replace(analysis, communities=comm, facilities=fac, checks=[*analysis.checks, health],
                   surveyed=["education", "health"])


def test_category_map_shows_one_category(analysis):
    both = _with_second_category(analysis)
    html = _unescape_js(maps.render_html(maps.build_map(both, category="education")))
    assert maps.category_layer_name("education", both.checks) in html
    assert maps.uncovered_layer_name("education") in html
    assert "health" not in maps.category_layer_name("education", both.checks)
    assert maps.uncovered_layer_name("health") not in html and "社区卫生站" not in html
    assert "教育 education 专项 category map" in html and "本类别是否达标" in html
    assert "小学 primary school" in html or "primary_school r=500 m" in html  # the standard and its radius
    data = [json.loads(d) for d in re.findall(r"geo_json_\w+_add\((\{.*?\})\);", html)]
    fills = {f["properties"].get("tip", "")[:40]: f["properties"]["fill"] for d in data for f in d["features"]
             if "fill" in f["properties"]}
    assert sorted(fills.values()) == sorted([maps.style._RED_ONE, maps.OK_COLOUR, maps.style._RED_ONE])  # C1, C3 gap; C2 ok
    health = _unescape_js(maps.render_html(maps.build_map(both, category="health")))
    assert "社区卫生站" in health and maps.uncovered_layer_name("education") not in health
    with pytest.raises(ValueError, match="not surveyed"):
        maps.build_map(analysis, category="sports")


def test_category_map_greys_communities_outside_the_survey_extent(analysis):
    from dataclasses import replace

    comm = analysis.communities.copy()
    comm.loc[2, "education_status"] = "not_surveyed"
    html = maps.render_html(maps.build_map(replace(analysis, communities=comm), category="education"))
    assert maps.NOT_SURVEYED_COLOUR in html and "outside the survey extent" in html


def _facility_lonlat(html: str, name: str) -> tuple[float, float]:
    for blob in re.findall(r"geo_json_\w+_add\((\{.*?\})\);", html):
        for feature in json.loads(blob)["features"]:
            if name in json.dumps(feature, ensure_ascii=False) and feature["geometry"]["type"] == "Point":
                return tuple(feature["geometry"]["coordinates"])
    raise AssertionError(f"{name} not on the map")


def test_gcj02_base_map_shifts_overlays_and_says_so(analysis):
    from pyproj import Transformer

    from geofacility.read import wgs84_to_gcj02

    lon, lat = Transformer.from_crs(32650, 4326, always_xy=True).transform(X0 + 750, Y0 + 250)  # F1
    glon, glat = (float(v[0]) for v in wgs84_to_gcj02(np.array([lon]), np.array([lat])))
    to_m = Transformer.from_crs(4326, 32650, always_xy=True)
    amap = maps.render_html(maps.build_map(analysis, basemap="amap"))
    got = to_m.transform(*_facility_lonlat(amap, "安华里小学"))
    assert math.dist(got, to_m.transform(glon, glat)) < 1.0  # where GCJ-02 puts it
    assert math.dist(got, (X0 + 750, Y0 + 250)) > 100  # the shift is real (a few hundred metres in Beijing)
    assert "autonavi" in amap and "GCJ-02" in _unescape_js(amap)
    for basemap in ("osm", "none"):
        plain = maps.render_html(maps.build_map(analysis, basemap=basemap))
        assert math.dist(to_m.transform(*_facility_lonlat(plain, "安华里小学")), (X0 + 750, Y0 + 250)) < 1.0
    tianditu = maps.render_html(maps.build_map(analysis, basemap="tianditu", tianditu_key="k&x"))
    assert "tianditu.gov.cn" in tianditu and "tk=k%26x" in tianditu
    with pytest.raises(ValueError, match="needs a key"):
        maps.build_map(analysis, basemap="tianditu")
    with pytest.raises(ValueError, match="unknown base map"):
        maps.build_map(analysis, basemap="google")


def test_offline_page_has_no_external_assets(analysis):
    html = maps.render_html(maps.build_map(analysis, category="education", basemap="none", offline=True))
    assert not re.findall(r'<(?:script|link)[^>]*(?:src|href)="https?:', html)
    assert not re.search(r"url\(\s*[\"']?https?:|@import", html)  # no CSS fetches either
    assert "L.map(" in html and "leaflet-control-layers" in html  # Leaflet inlined, with its CSS
    assert "data:image/png;base64," in html  # the layer-control icon
    assert EVIL not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in _unescape_js(html)
    online = maps.render_html(maps.build_map(analysis, category="education", offline=False))
    assert 'src="https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.js"' in online


def test_batch_overview_uses_the_community_palette():
    colours = [c for _, c, _ in maps.OVERVIEW_KEY]
    assert colours[0] == maps.OK_COLOUR and colours[1] == maps.AMBER
    assert set(colours[2:]) <= {maps.style._RED_ONE, maps.style._RED_DARK, *maps.fill_palette(7)}


# ---------------------------------------------------------------------------------------------- the package


def test_maps_package_never_imports_batch_or_cli():
    """Arrows run one way: batch → maps (batch calls write_overview), never maps → batch, even inside a function."""
    import ast
    from pathlib import Path

    folder = Path(maps.__file__).parent
    imported = set()
    for path in folder.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                module = node.module or ""
                if node.level == 1:  # .x: inside geofacility.maps
                    imported.add(f"geofacility.maps.{module}")
                elif node.level == 2:  # ..x: geofacility.x
                    imported.add(f"geofacility.{module}" if module else "geofacility")
                    imported.update(f"geofacility.{a.name}" for a in node.names if not module)
                else:
                    imported.add(module)
            elif isinstance(node, ast.Import):
                imported.update(a.name for a in node.names)
    assert "geofacility.standards" in imported  # the walk sees the package's own imports
    assert not {m for m in imported if m.split(".")[:2] in (["geofacility", "batch"], ["geofacility", "cli"])}


def test_group_short_share_is_the_worst_category_share_of_ok_groups():
    summary = pd.DataFrame({
        "group": ["A", "A", "B", "C", "D"],
        "status": ["ok", "ok", "ok", "failed", "ok"],
        "communities_surveyed": [10, 8, 4, np.nan, 0],
        "communities_short": [2, 4, 0, np.nan, 0],
    })
    share = maps.group_short_share(summary)
    assert share["A"] == 0.5 and share["B"] == 0.0  # A: max(2/10, 4/8)
    assert "C" not in share.index and math.isnan(share["D"])  # failed: left out; none surveyed: no share
