"""Issue 14 §2: the numbers never contradict each other.

Covered / served within capacity / over capacity / out of reach are defined once (docs/data-model.md, "Covered,
served, out of reach") and every output prints them from the communities table. On every bundled study — the
Xicheng sample (default ``analyze``, plus the community rooms, a standard without a radius), Helsinki on foot,
the Beijing batch and a synthetic city — this file checks

- per community and category: served ≤ covered ≤ population, served + over capacity = covered, covered + out of
  reach = population;
- totals equal across the terminal summary, ledger.csv, ledger.xlsx 明细, summary.csv/.xlsx (batch), the
  figures' numbers (:func:`geofacility.figures.figure_numbers`, the text the figure prints) and the map legend
  (parsed from map.html), and `sites select`'s "people not yet covered";
- a standard without a radius says what "covered" means for it, everywhere.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys

import geopandas as gpd
import numpy as np
import openpyxl
import pandas as pd
import pytest
import shapely

from conftest import CRS, centre
from geofacility.coverage import NO_RADIUS_MEANING_EN, NO_RADIUS_MEANING_ZH, category_totals, compute_coverage, \
    select_checks
from geofacility.figures import _summary_lines, _Text, figure_numbers
from geofacility.ledger import current_text, ledger_table, read_ledger_csv
from geofacility.per_standard import decode, standard_totals
from geofacility.pipeline import analyze
from geofacility.study import sample_dir, sample_inputs
from geofacility.standards import CATEGORIES, load_standards

TOL = 1e-6  # people, relative to the population, per community

ROOMS = ["--facilities", "community_service=" + str(sample_dir() / "community_rooms_existing.csv"),
         "--standard", "community_service=community_rooms_beijing"]
HELSINKI = "data/helsinki"


def run_cli(*args, cwd=None):
    env = {**os.environ, "COLUMNS": "250"}  # the summary table on one line per category
    result = subprocess.run([sys.executable, "-m", "geofacility.cli", *args], capture_output=True, text=True,
                            cwd=cwd, timeout=600, env=env)
    assert result.returncode == 0, result.stderr
    return result


def _root():
    return sample_dir().parent.parent


@pytest.fixture(scope="module")
def xicheng(tmp_path_factory):
    """The default analyze of the sample with the (empty) survey of community rooms added: CLI outputs, and the
    same study through the API for the figures."""
    out = tmp_path_factory.mktemp("xicheng")
    result = run_cli("analyze", *ROOMS, "--out", str(out))
    kwargs = sample_inputs()
    kwargs["facilities"] = [*kwargs["facilities"], (sample_dir() / "community_rooms_existing.csv", "community_service")]
    analysis = analyze(**kwargs, standard_choices={"community_service": ["community_rooms_beijing"]})
    return analysis, out, result.stdout + result.stderr


@pytest.fixture(scope="module")
def helsinki(tmp_path_factory):
    root = _root() / HELSINKI
    inputs = {"communities": root / "blocks.geojson", "facilities": [root / "facilities.csv"],
              "demand": root / "buildings.csv", "network": root / "helsinki.osm.pbf"}
    out = tmp_path_factory.mktemp("helsinki")
    result = run_cli("analyze", "--communities", str(inputs["communities"]), "--facilities",
                     str(inputs["facilities"][0]), "--demand", str(inputs["demand"]), "--network",
                     str(inputs["network"]), "--distance", "network", "--out", str(out))
    analysis = analyze(**inputs, distance="network", study="blocks")
    return analysis, out, result.stdout + result.stderr


@pytest.fixture(scope="module")
def beijing(tmp_path_factory):
    """The README's Beijing batch (16 districts, 331 units), demand spread on a 1 km grid to keep it quick: the
    identities do not depend on the cell size."""
    from geofacility.batch import batch

    root = _root()
    units = root / "data/beijing/beijing_subdistricts_worldpop.gpkg"
    out = tmp_path_factory.mktemp("beijing")
    batch(by="district", out=out, communities=units, towns=units, aliases=root / "data/beijing/aliases.csv",
          facilities=[(root / "data/xicheng/primary_schools.csv", "education")],
          survey_extent={"education": root / "data/xicheng/streets.geojson"}, study="北京市", cell_m=1000.0)
    return out


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    """A synthetic city (all seven categories, several standards per category), analysed on foot."""
    from geofacility.ledger import write_ledger
    from geofacility.maps import write_map
    from geofacility.synth import synthetic_city

    city = synthetic_city(n_nodes_side=30, n_demand=4_000, facilities_per_category=12, block_side=3, seed=5)
    paths = city.write(tmp_path_factory.mktemp("synth_in"))
    analysis = analyze(communities=paths["communities"], facilities=[paths["facilities"]], demand=paths["demand"],
                       network=paths["network"])
    out = tmp_path_factory.mktemp("synth_out")
    write_ledger(analysis, out, gpkg=False)
    write_map(analysis, out / "map.html")
    return analysis, out


# ------------------------------------------------------------------------------------------------ the checks


def check_identities(table: pd.DataFrame) -> int:
    """served ≤ covered ≤ population, served + over = covered, covered + out of reach = population, per community
    and surveyed category; returns the number of (community, category) pairs checked."""
    checked = 0
    population = table["population"].fillna(0).to_numpy(dtype=float)
    for c in CATEGORIES:
        rows = (table[f"{c}_status"] != "not_surveyed").to_numpy() & (population > 0)
        if not rows.any():
            continue
        pop = population[rows]
        tol = TOL * np.maximum(pop, 1) + 0.06  # the ledger files round people to 0.1
        get = lambda m: table[f"{c}_{m}"].to_numpy(dtype=float)[rows]  # noqa: E731
        covered, out = get("covered_population"), get("out_of_reach_population")
        uncovered, served, over = get("uncovered_population"), get("served_population"), get("over_capacity_population")
        assert not np.isnan(covered).any(), f"{c}: covered missing for a surveyed, populated community"
        assert (covered >= -tol).all() and (covered <= pop + tol).all(), c
        assert (np.abs(covered + uncovered - pop) <= tol).all(), f"{c}: covered + not covered ≠ population"
        split = ~np.isnan(served)
        if split.any():
            assert (served[split] <= covered[split] + tol[split]).all(), f"{c}: served > covered"
            assert (np.abs(served + over - covered)[split] <= 2 * tol[split]).all(), f"{c}: served + over ≠ covered"
            assert (np.abs(covered + out - pop)[split] <= 2 * tol[split]).all(), f"{c}: covered + out of reach ≠ pop"
        checked += int(rows.sum())
    return checked


def check_standards(table: pd.DataFrame) -> int:
    """A category with several standards (``<category>_by_standard``): per community and standard, served ≤
    covered ≤ population, covered + not covered = population, served + over capacity = covered; the category's
    covered, served and over capacity are those of its weakest standard (to the person); the category's count and
    floor area are the standards' sums; the category is short when one of its standards is. Returns the number of
    (community, standard) entries checked."""
    checked = 0
    population = np.round(table["population"].fillna(0).to_numpy(dtype=float))
    for c in CATEGORIES:
        values = table[f"{c}_by_standard"].to_numpy(dtype=object)
        status = table[f"{c}_status"].to_numpy(dtype=object)
        num = lambda m: pd.to_numeric(table[f"{c}_{m}"], errors="coerce").to_numpy(dtype=float)  # noqa: E731
        covered, served, count = num("covered_population"), num("served_population"), num("current_count")
        for i, value in enumerate(values):
            entries = decode(value)
            if status[i] == "not_surveyed":
                assert not entries, (c, i)
                continue
            if not entries or population[i] <= 0:
                continue
            for e in entries:
                assert 0 <= e["covered_population"] <= population[i], (c, i, e)
                assert e["covered_population"] + e["uncovered_population"] == population[i], (c, i, e)
                if e["served_population"] is not None:
                    assert 0 <= e["served_population"] <= e["covered_population"], (c, i, e)
                    assert e["served_population"] + e["over_capacity_population"] == e["covered_population"]
                checked += 1
            weakest = min(entries, key=lambda e: (np.inf if e["covered_share"] is None else e["covered_share"]))
            assert abs(round(covered[i]) - weakest["covered_population"]) <= 1, (c, i)
            if not np.isnan(served[i]):
                assert abs(round(served[i]) - weakest["served_population"]) <= 1, (c, i)
            assert count[i] == sum(e["current_count"] or 0 for e in entries), (c, i)
            assert (status[i] == "gap") == any(e["status"] == "gap" for e in entries), (c, i)
    return checked


def legend_standards(html: str) -> dict[str, dict[str, tuple]]:
    """Per category, the per-standard line of the map legend: name → (not covered, population, short)."""
    found = {}
    for c, text in re.findall(r'class="gf-small gf-standards" data-category="(\w+)">按标准 by standard：(.*?)</div>', html):
        found[c] = {m[0]: (float(m[1].replace(",", "")), float(m[2].replace(",", "")), int(m[3]))
                    for m in re.findall(r"([^\s；]+) 未覆盖 ([\d,]+) / ([\d,]+) 人，缺口社区 (\d+)", text)}
    return found


def totals_of(table: pd.DataFrame) -> dict[str, dict]:
    return {c: category_totals(table, c) for c in CATEGORIES if (table[f"{c}_status"] != "not_surveyed").any()}


def assert_same_totals(a: dict, b: dict, what: str, n: int):
    assert a.keys() == b.keys(), what
    for c in a:
        for key in ("population", "covered", "not_covered", "served", "out_of_reach"):
            x, y = a[c][key], b[c][key]
            assert (np.isnan(x) and np.isnan(y)) or abs(x - y) <= 0.06 * n + 1e-6, (what, c, key, x, y)
        for key in ("communities_short", "communities_surveyed", "meaning"):
            assert a[c][key] == b[c][key], (what, c, key)


def xlsx_table(path) -> pd.DataFrame:
    ws = openpyxl.load_workbook(path, read_only=True)["明细 data"]
    rows = list(ws.iter_rows(values_only=True))
    frame = pd.DataFrame(rows[1:], columns=rows[0])
    for col in frame.columns:
        if col.endswith(("_population", "_count", "_share", "_m2", "_m")) or col == "population":
            frame[col] = pd.to_numeric(frame[col], errors="coerce")
    return frame


def legend_numbers(html: str) -> dict[str, dict]:
    """The totals the map legend prints per category (``gf-totals`` lines)."""
    found = {}
    for c, text in re.findall(r'class="gf-small gf-totals" data-category="(\w+)">(.*?)</div>', html):
        if text.startswith("无已调查社区"):  # surveyed in the study, but outside the survey extent here
            continue
        m = re.match(r"未覆盖 ([\d,]+) / ([\d,]+) 人 not covered · 缺口社区 (\d+) / (\d+)", text)
        assert m, text
        served = re.search(r"容量内可服务 ([\d,]+) 人", text)
        found[c] = {"not_covered": float(m[1].replace(",", "")), "population": float(m[2].replace(",", "")),
                    "communities_short": int(m[3]), "communities_surveyed": int(m[4]),
                    "served": float(served[1].replace(",", "")) if served else None,
                    "meaning": NO_RADIUS_MEANING_ZH in text}
    return found


def assert_map_agrees(html: str, totals: dict[str, dict]):
    legend = legend_numbers(html)
    assert legend.keys() == totals.keys()
    for c, t in totals.items():
        got = legend[c]
        assert got["not_covered"] == round(t["not_covered"]) and got["population"] == round(t["population"]), c
        assert (got["communities_short"], got["communities_surveyed"]) == (t["communities_short"],
                                                                           t["communities_surveyed"]), c
        assert got["meaning"] == bool(t["meaning"]), c
        if got["served"] is not None:
            assert got["served"] == round(t["served"]), c


def terminal_numbers(text: str) -> dict[str, tuple[float | None, float | None, int, int]]:
    """Per surveyed category, the terminal summary's (covered, served, short, of)."""
    found = {}
    for line in text.splitlines():
        m = re.match(r"│ (\w+) .*?│.*?│ ([\d,]+) \([\d.]+%\)(.*?)│ (?:([\d,]+) \([\d.]+%\)|—) *│ (\d+) of (\d+)", line)
        if m and m[1] in CATEGORIES:
            found[m[1]] = (float(m[2].replace(",", "")), float(m[4].replace(",", "")) if m[4] else None,
                           int(m[5]), int(m[6]), m[3])
    return found


def assert_terminal_agrees(text: str, totals: dict[str, dict]):
    printed = terminal_numbers(text)
    assert printed.keys() == totals.keys(), text
    for c, t in totals.items():
        covered, served, short, of, rest = printed[c]
        assert covered == round(t["covered"]), c
        assert (served is None) == bool(np.isnan(t["served"])), c
        if served is not None:
            assert served == round(t["served"]), c
        assert (short, of) == (t["communities_short"], t["communities_surveyed"]), c
        assert (NO_RADIUS_MEANING_EN in rest) == bool(t["meaning"]), c


def assert_figures_agree(analysis, totals: dict[str, dict]):
    t = _Text()
    for c in totals:
        numbers = figure_numbers(analysis, c)
        assert_same_totals({c: numbers}, {c: totals[c]}, f"figure {c}", len(analysis.communities))
        legend = numbers["legend"]
        assert legend["gap"] + legend["ok"] + legend["no_population"] == numbers["communities_surveyed"]
        lines = " ".join(text for text, *_ in _summary_lines(t, analysis, c, legend, analysis.settings))
        assert f"{numbers['not_covered']:,.0f} / {numbers['population']:,.0f}" in lines  # what the figure prints
        assert f"{numbers['communities_short']} / {numbers['communities_surveyed']}" in lines
        assert (NO_RADIUS_MEANING_ZH in lines) == bool(numbers["meaning"])


def assert_outputs_agree(analysis, out, terminal: str | None = None):
    """Identities on the table and on ledger.csv; equal totals in every output of one analysis."""
    n = len(analysis.communities)
    assert check_identities(analysis.communities) > 0
    csv = read_ledger_csv(out / "ledger.csv")
    assert check_identities(csv) > 0
    totals = totals_of(analysis.communities)
    assert_same_totals(totals_of(csv), totals, "ledger.csv", n)
    assert_same_totals(totals_of(xlsx_table(out / "ledger.xlsx")), totals, "ledger.xlsx 明细", n)
    assert_figures_agree(analysis, totals)
    assert_map_agrees((out / "map.html").read_text(encoding="utf-8"), totals)
    # each standard of a category with several: the same identities, and the legend's per-standard line
    assert check_standards(ledger_table(analysis.communities)) == check_standards(csv)
    legend = legend_standards((out / "map.html").read_text(encoding="utf-8"))
    for c in totals:
        per = {t["name"]: (t["not_covered"], t["population"], t["communities_short"])
               for t in standard_totals(csv, c)}
        assert legend.get(c, {}) == per, c
    if terminal is not None:
        assert_terminal_agrees(terminal, totals)
    return totals


# ------------------------------------------------------------------------------------------------ the studies


def test_xicheng_every_output_agrees(xicheng):
    analysis, out, terminal = xicheng
    totals = assert_outputs_agree(analysis, out, terminal)
    edu, rooms = totals["education"], totals["community_service"]
    assert edu["population"] == 1_314_427 and edu["meaning"] is None
    assert edu["covered"] == pytest.approx(edu["served"] + edu["over_capacity"])
    # community rooms: none surveyed, all 264 short, so nobody covered — never "0 not covered"
    assert rooms["communities_short"] == 264 and rooms["not_covered"] == 1_314_427 and rooms["covered"] == 0
    assert rooms["meaning"] == NO_RADIUS_MEANING_ZH


def test_xicheng_ledger_text_explains_itself(xicheng):
    """No 覆盖 0% with 现有 1 处 (a school counts only where it covers somebody); the rooms' 现状 says what
    covered means without a radius."""
    analysis, out, _ = xicheng
    comm = analysis.communities
    reach = comm[(comm["education_covered_share"] == 0) & (comm["population"] > 0)]
    assert len(reach) > 0 and (reach["education_current_count"] == 0).all()
    ws = openpyxl.load_workbook(out / "ledger.xlsx", read_only=True)["台账 ledger"]
    cells = [str(v) for row in ws.iter_rows(min_row=4, values_only=True) for v in row if isinstance(v, str)]
    assert not [v for v in cells if "覆盖 0%" in v and re.search(r"现有 [1-9]", v)]
    rooms_text = current_text(comm.iloc[0].to_dict(), "community_service")
    assert rooms_text.startswith("达标人口 0/") and "无服务半径" in rooms_text


def test_sites_select_counts_the_people_the_ledger_counts(xicheng, tmp_path):
    """`sites select`'s "people not yet covered" is the ledger's people not covered (rooms: all of them)."""
    analysis, _, _ = xicheng
    result = run_cli("sites", "select", "--candidates", str(sample_dir() / "candidate_rooms.csv"), "--category",
                     "community_service", *ROOMS, "--k", "3", "--out", str(tmp_path))
    m = re.search(r"of ([\d,]+) people not yet covered", result.stdout + result.stderr)
    assert m
    assert float(m[1].replace(",", "")) == round(category_totals(analysis.communities, "community_service")
                                                 ["not_covered"])


def test_helsinki_on_foot_every_output_agrees(helsinki):
    """Several standards per category (education: kindergarten, primary, middle school): covered and served are
    those of the same standard, so served ≤ covered (was: covered 0, served 3,834; sports served > covered)."""
    analysis, out, terminal = helsinki
    totals = assert_outputs_agree(analysis, out, terminal)
    assert check_standards(analysis.communities) > 0  # education's three levels, each with its own figures
    for c in ("education", "sports", "commerce", "health"):
        assert not np.isnan(totals[c]["served"]), c  # commerce used to read "—"
        assert totals[c]["served"] <= totals[c]["covered"] + 1e-6, c


def test_beijing_batch_summary_agrees_with_every_group(beijing):
    summary = pd.read_csv(beijing / "summary.csv", encoding="utf-8-sig")
    sheet = pd.read_excel(beijing / "summary.xlsx", sheet_name=0)
    assert len(sheet) == len(summary)
    checked = 0
    for (group, folder), rows in summary.groupby(["group", "folder"]):
        table = read_ledger_csv(beijing / folder / "ledger.csv")
        check_identities(table)
        totals = totals_of(table)
        html = (beijing / folder / "map.html").read_text(encoding="utf-8")
        assert_map_agrees(html, totals)
        for row in rows.itertuples():
            if row.category in totals:
                t = totals[row.category]
                assert row.population_not_covered == pytest.approx(t["not_covered"], abs=0.06 * len(table) + 0.5)
                assert row.communities_short == t["communities_short"]
                checked += 1
            else:
                assert pd.isna(row.population_not_covered)
    assert checked == 1  # education, surveyed in Xicheng only
    xicheng = summary[(summary["group"] == "西城区") & (summary["category"] == "education")].iloc[0]
    assert xicheng["communities_surveyed"] == 15


def test_synthetic_city_on_foot_every_output_agrees(synth):
    analysis, out = synth
    totals = assert_outputs_agree(analysis, out)
    assert set(totals) == set(CATEGORIES)


# ------------------------------------------------------------------------------------------------ by hand


def test_below_minimum_kindergarten_is_named_in_the_current_text(grid_communities):
    """A 2,800 m² kindergarten in C22 (the standard's minimum is 3,150 m²) does not count, and 现状 says why."""
    kg = gpd.GeoDataFrame(
        {"facility_id": ["K1"], "name": ["园1"], "category": ["education"], "subcategory": ["kindergarten"],
         "floor_area_m2": [2800.0]},
        geometry=[shapely.Point(centre(2, 2))], crs=CRS,
    )
    demand = gpd.GeoDataFrame(
        {"demand_id": grid_communities["community_id"], "community_id": grid_communities["community_id"],
         "weight": grid_communities["population"]},
        geometry=grid_communities.geometry.centroid.values, crs=CRS)
    checks = select_checks(kg, load_standards(), ["education"])
    out, _ = compute_coverage(grid_communities, demand, kg, checks)
    row = out.set_index("community_id").loc["C22"]
    assert row["education_current_count"] == 0 and row["education_below_minimum"] == "1 处 2,800 m² 小于 3,150 m² 下限"
    text = current_text({"community_id": "C22", **row.to_dict()}, "education")
    assert "现有 0 处达标（1 处 2,800 m² 小于 3,150 m² 下限）" in text
    assert "面积 2,800 m²" in text
    assert out.set_index("community_id").loc["C11", "education_below_minimum"] == ""


def test_no_radius_covered_means_the_rule_is_met(grid_communities):
    """Community rooms (30 m² per 100 households, no radius): C11 (400 households → 120 m²) has a 200 m² room:
    its 1,000 people are covered; C21 (800 households → 240 m²) has none: its 2,000 are not. The totals say what
    covered means."""
    rooms = gpd.GeoDataFrame(
        {"facility_id": ["R1"], "name": ["活动室"], "category": ["community_service"], "subcategory": [None],
         "floor_area_m2": [200.0]}, geometry=[shapely.Point(centre(1, 1))], crs=CRS)
    demand = gpd.GeoDataFrame(
        {"demand_id": grid_communities["community_id"], "community_id": grid_communities["community_id"],
         "weight": grid_communities["population"]},
        geometry=grid_communities.geometry.centroid.values, crs=CRS)
    checks = select_checks(rooms, load_standards(), ["community_service"])
    out, _ = compute_coverage(grid_communities, demand, rooms, checks)
    totals = category_totals(out, "community_service")
    assert totals["covered"] == 1000 and totals["not_covered"] == 44_000 and totals["population"] == 45_000
    assert totals["meaning"] == NO_RADIUS_MEANING_ZH
    row = out.set_index("community_id").loc["C21"].to_dict()
    assert current_text(row, "community_service").startswith("达标人口 0/2,000 人（无服务半径")
