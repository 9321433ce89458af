"""Static figures for printed special plans (geofacility.figures), on the hand-checkable 3×3 grid and on the
bundled Xicheng sample."""
from __future__ import annotations

import time
import unicodedata
import warnings
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import geopandas as gpd
import numpy as np
import pytest
import shapely
from matplotlib.colors import to_rgba
from matplotlib import font_manager
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.text import Text

from geofacility import figures
from geofacility.pipeline import analyze
from geofacility.study import sample_inputs

from conftest import BLOCK, X0, Y0, centre, write_grid_files

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
PDF_MAGIC = b"%PDF-"


@pytest.fixture
def grid_analysis(tmp_path, grid_communities, grid_facilities):
    """Schools at the centres of C22 and C33, 500 m reach, population spread on a 100 m grid: only C22 and C33
    have every home within 500 m of a school (the far corner cell of any other block is ≥ 728 m from both)."""
    comm, fac = write_grid_files(tmp_path, grid_communities, grid_facilities)
    return analyze(communities=comm, facilities=[(fac, "education")], study="网格区",
                   attribution="© test data; price $5 and $6")


def _communities(fig):
    (ax,) = [a for a in fig.axes if a.get_gid() == "map"]
    return {c.get_gid(): c for c in ax.collections}


def _colour_counts(collection) -> dict[str, int]:
    fills = {"ok": figures.OK_FILL, "gap": figures.GAP_FILL, "no_population": figures.NO_POPULATION_FILL}
    faces = collection.get_facecolor()
    return {k: int(np.all(np.isclose(faces, to_rgba(v)), axis=1).sum()) for k, v in fills.items()}


def _texts(fig) -> list[str]:
    """Every text of the figure, lines joined (long texts are wrapped)."""
    return [t.get_text().replace("\n", " ") for t in fig.findobj(Text) if t.get_text()]


def _legend_texts(fig) -> list[str]:
    return [t.get_text().replace("\n", " ") for legend in fig.legends for t in legend.get_texts()]


def _is_cjk(ch: str) -> bool:
    return unicodedata.east_asian_width(ch) in "WF"


# ---------------------------------------------------------------------------------------------- the map


def test_communities_coloured_by_status(grid_analysis):
    comm = grid_analysis.communities
    ok = set(comm.loc[comm["education_status"] == "ok", "community_id"])
    assert ok == {"C22", "C33"}  # by hand: see the fixture
    assert (comm["education_status"] == "gap").sum() == 7
    layers = _communities(figures.category_figure(grid_analysis, "education"))
    assert "communities_not_surveyed" not in layers
    assert _colour_counts(layers["communities"]) == {"ok": 2, "gap": 7, "no_population": 0}
    assert len(layers["communities"].get_paths()) == 9


def test_not_surveyed_hatched_and_no_population_grey(grid_analysis):
    comm = grid_analysis.communities.copy()
    comm.loc[comm["community_id"] == "C11", "education_status"] = "not_surveyed"
    comm.loc[comm["community_id"] == "C13", "population"] = 0.0
    fig = figures.category_figure(replace(grid_analysis, communities=comm), "education")
    layers = _communities(fig)
    hatched = layers["communities_not_surveyed"]
    assert len(hatched.get_paths()) == 1 and hatched.get_hatch() == "////"
    assert _colour_counts(layers["communities"]) == {"ok": 2, "gap": 5, "no_population": 1}
    legend = " | ".join(_legend_texts(fig))
    assert "not surveyed" in legend and "no population (1)" in legend


def test_polygon_with_hole_keeps_its_hole():
    ring = shapely.Polygon(shapely.box(0, 0, 10, 10).exterior.coords, [shapely.box(3, 3, 7, 7).exterior.coords])
    multi = shapely.MultiPolygon([shapely.box(20, 0, 21, 1), shapely.box(30, 0, 31, 1)])
    paths = figures._polygon_paths(np.array([ring, multi, None, shapely.Point(1, 1)], dtype=object))
    assert len(paths) == 4
    assert len(paths[2].vertices) == 0 and len(paths[3].vertices) == 0
    assert paths[1].contains_point((20.5, 0.5)) and paths[1].contains_point((30.5, 0.5))
    # drawn, the hole stays empty (matplotlib fills with the non-zero rule: the hole runs the other way)
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import PathPatch

    fig = Figure(figsize=(1, 1), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.add_patch(PathPatch(paths[0], facecolor="black", edgecolor="none"))
    ax.set_xlim(0, 10)
    ax.set_ylim(0, 10)
    ax.set_axis_off()
    fig.canvas.draw()
    pixels = np.asarray(fig.canvas.buffer_rgba())
    assert tuple(pixels[50, 50, :3]) == (255, 255, 255)  # the centre: in the hole
    assert tuple(pixels[90, 10, :3]) == (0, 0, 0)  # a corner of the ring


def test_legend_names_the_standard_and_its_radius(grid_analysis):
    fig = figures.category_figure(grid_analysis, "education")
    texts = _texts(fig)
    assert any("primary school, 500 m" in t for t in texts)  # the standard applied
    assert any("service radius 500 m" in t for t in _legend_texts(fig))
    assert any("units: metres, people" in t for t in texts)
    title = next(t.get_text() for t in fig.texts if t.get_gid() == "title")
    assert title.endswith("education coverage")
    attribution = next(t for t in fig.texts if t.get_gid() == "attribution")
    assert "$5 and $6" in attribution.get_text() and not attribution.get_parse_math()

    wider = analyze(**{**_grid_inputs(grid_analysis), "radius": {"education": 800}})
    fig = figures.category_figure(wider, "education")
    assert any("primary school, 800 m" in t for t in _texts(fig))
    circles = _communities(fig)["service_circles"]
    if hasattr(circles, "get_widths"):  # matplotlib ≥ 3.9
        assert np.allclose(circles.get_widths(), 1600.0)


def _grid_inputs(analysis) -> dict:
    inputs = analysis.settings["inputs"]
    return {"communities": inputs["communities"], "facilities": [(inputs["facilities"][0], "education")],
            "study": analysis.settings["study"]}


def test_map_in_metres_with_equal_scale_and_round_scale_bar(grid_analysis):
    fig = figures.category_figure(grid_analysis, "education")
    (ax,) = [a for a in fig.axes if a.get_gid() == "map"]
    (strip,) = [a for a in fig.axes if a.get_gid() == "scale_strip"]
    (x0, y0), (x1, y1) = ax.transData.transform([(X0, Y0), (X0 + 1000, Y0 + 1000)])
    assert x1 - x0 == pytest.approx(y1 - y0, rel=1e-6)  # a metre is as long east as north
    assert strip.get_xlim() == ax.get_xlim()  # the scale bar's metres are the map's
    assert strip.get_position().width == pytest.approx(ax.get_position().width)
    width = ax.get_xlim()[1] - ax.get_xlim()[0]
    bar = [p for p in strip.patches if p.get_gid() == "scale_bar"]
    length = sum(p.get_width() for p in bar)
    assert length in (200.0, 250.0, 500.0) and 0.1 < length / width < 0.4
    labels = [t.get_text() for t in strip.texts if t.get_gid() == "scale_label"]
    assert labels[-1] == f"{length:,.0f}"
    assert [t.get_text() for t in strip.texts if t.get_gid() == "north"]
    # the study area is inside the map
    assert ax.get_xlim()[0] < X0 and ax.get_xlim()[1] > X0 + 3 * BLOCK


@pytest.mark.parametrize("width, expected", [(1_600, 250.0), (6_700, 1_000.0), (10_000, 2_000.0),
                                             (52_000, 10_000.0), (123.0, 25.0)])
def test_scale_length_is_round_near_a_fifth(width, expected):
    assert figures._scale_length(width) == expected


def test_uncovered_dots_sized_by_people(grid_analysis):
    fig = figures.category_figure(grid_analysis, "education")
    dots = _communities(fig)["uncovered"]
    from geofacility.maps import uncovered_demand

    points = uncovered_demand(grid_analysis, "education")
    assert len(dots.get_offsets()) == len(points) > 0
    sizes = dots.get_sizes()
    weights = np.sort(points["weight"].to_numpy())[::-1]
    assert sizes.max() == pytest.approx(figures._DOT_MAX_PT2)
    assert np.allclose(np.sort(sizes)[::-1], np.maximum(figures._DOT_MIN_PT2,
                                                        figures._DOT_MAX_PT2 * weights / weights.max()))
    assert any("people" in t for t in _legend_texts(fig))


def test_many_uncovered_points_drawn_as_cells(grid_analysis, monkeypatch):
    monkeypatch.setattr(figures.layers, "MANY_POINTS", 5)
    fig = figures.category_figure(grid_analysis, "education")
    from geofacility.maps import uncovered_cells, uncovered_demand

    cells, size = uncovered_cells(uncovered_demand(grid_analysis, "education"), max_cells=5)
    assert size > 100.0
    assert len(_communities(fig)["uncovered"].get_offsets()) == len(cells)
    assert any(f"{size:,.0f} m grid cell" in t for t in _legend_texts(fig))


def test_walking_catchments_replace_circles(grid_analysis):
    fac = grid_analysis.facilities
    areas = gpd.GeoDataFrame({"kind": ["facility", "facility", "category"], "category": "education",
                              "radius_m": 500.0},
                             geometry=[*fac.geometry.buffer(300.0), shapely.union_all(fac.geometry.buffer(300.0))],
                             crs=grid_analysis.crs)
    fig = figures.category_figure(replace(grid_analysis, service_areas=areas), "education")
    layers = _communities(fig)
    assert "service_circles" not in layers and len(layers["catchments"].get_paths()) == 2
    assert any("walking catchment, 500 m" in t for t in _legend_texts(fig))


def test_candidate_sites(grid_analysis):
    check = grid_analysis.checks[0]
    candidates = gpd.GeoDataFrame({"candidate_id": ["K1", "K2"]},
                                  geometry=[shapely.Point(centre(1, 1)), shapely.Point(centre(1, 3))],
                                  crs=grid_analysis.crs)
    sites = (SimpleNamespace(check=check, candidates=candidates), SimpleNamespace(selected=np.array([0])))
    fig = figures.category_figure(grid_analysis, "education", sites=sites)
    layers = _communities(fig)
    assert np.allclose(layers["selected_sites"].get_offsets(), [centre(1, 1)])
    assert np.allclose(layers["candidates"].get_offsets(), [centre(1, 3)])
    assert "site_circles" in layers
    legend = " | ".join(_legend_texts(fig))
    assert "selected site (1)" in legend and "other candidate (1)" in legend


def test_unknown_or_unsurveyed_category_is_an_error(grid_analysis, tmp_path):
    with pytest.raises(ValueError, match="unknown category"):
        figures.category_figure(grid_analysis, "schools")
    with pytest.raises(ValueError, match="not surveyed"):
        figures.category_figure(grid_analysis, "health")
    with pytest.raises(ValueError, match="not surveyed"):
        figures.write_figures(grid_analysis, tmp_path, category="health")
    with pytest.raises(ValueError, match="svg"):
        figures.write_figures(grid_analysis, tmp_path, formats=("svg",))


# ---------------------------------------------------------------------------------------------- the bar chart


def _bar_values(fig) -> dict[str, dict[str, float]]:
    """{category: {town label: value}} read back from the chart's bars."""
    (ax,) = [a for a in fig.axes if a.get_gid() == "bars"]
    ticks = dict(zip(ax.get_yticks().tolist(), [t.get_text() for t in ax.get_yticklabels()]))
    out = {}
    for container in ax.containers:
        values = {}
        for patch in container.patches:
            centre_y = patch.get_y() + patch.get_height() / 2
            tick = min(ticks, key=lambda y: abs(y - centre_y))
            values[ticks[tick]] = patch.get_width()
        out[container.get_label()] = values
    return out


def test_bar_values_are_town_sums(grid_analysis):
    fig = figures.town_bar_figure(grid_analysis)
    sums = grid_analysis.communities.groupby("town")["education_uncovered_population"].sum()
    assert set(sums.index) == {"东街道", "西街道"} and (sums > 0).all()
    (values,) = _bar_values(fig).values()
    assert values == pytest.approx(sums.to_dict())
    (ax,) = [a for a in fig.axes if a.get_gid() == "bars"]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    top = labels[int(np.argmax(ax.get_yticks()))]
    assert top == sums.idxmax()  # worst first, at the top
    assert "people" in ax.get_xlabel()


def test_bar_chart_groups_several_categories(grid_analysis):
    comm = grid_analysis.communities.copy()
    comm["health_uncovered_population"] = np.arange(len(comm), dtype=float) * 100.0
    comm["health_status"] = "gap"
    several = replace(grid_analysis, communities=comm, surveyed=["education", "health"])
    bars = _bar_values(figures.town_bar_figure(several))
    assert len(bars) == 2
    for column, values in zip(("education_uncovered_population", "health_uncovered_population"), bars.values()):
        assert values == pytest.approx(comm.groupby("town")[column].sum().to_dict())


# ---------------------------------------------------------------------------------------------- files


def test_write_figures_valid_atomic_and_byte_identical(grid_analysis, tmp_path):
    first = figures.write_figures(grid_analysis, tmp_path / "a", dpi=72)
    assert sorted(first) == ["education_map.pdf", "education_map.png", "town_uncovered.pdf",
                             "town_uncovered.png"]
    for name, path in first.items():
        data = path.read_bytes()
        assert data.startswith(PNG_MAGIC if name.endswith(".png") else PDF_MAGIC), name
        assert len(data) > 5_000
        if name.endswith(".pdf"):
            assert b"/CreationDate" not in data and b"/ModDate" not in data and data.rstrip().endswith(b"%%EOF")
        else:
            assert b"Software" not in data and b"tIME" not in data
    before = {name: path.read_bytes() for name, path in first.items()}
    again = figures.write_figures(grid_analysis, tmp_path / "a", dpi=72)  # over the same files
    for name in first:
        assert again[name].read_bytes() == before[name], name
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == sorted(first)  # no temporary files left


def test_write_one_category_one_format(grid_analysis, tmp_path):
    written = figures.write_figures(grid_analysis, tmp_path, category="education", formats="png", dpi=50)
    assert sorted(written) == ["education_map.png", "town_uncovered.png"]
    from PIL import Image

    with Image.open(written["education_map.png"]) as im:
        width, height = im.size
    assert width / height == pytest.approx(297 / 210, rel=0.01)  # A4 landscape


# ---------------------------------------------------------------------------------------------- fonts


def _render_quietly(fig) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a missing glyph would warn
        fig.canvas.draw()


def test_without_cjk_font_english_only_and_no_glyph_warnings(grid_analysis, monkeypatch):
    monkeypatch.setattr(figures.fonts, "cjk_font", lambda: None)
    for fig in (figures.category_figure(grid_analysis, "education"), figures.town_bar_figure(grid_analysis)):
        _render_quietly(fig)
        texts = _texts(fig)
        assert not [t for t in texts if any(_is_cjk(ch) for ch in t)]
    fig = figures.town_bar_figure(grid_analysis)
    (ax,) = [a for a in fig.axes if a.get_gid() == "bars"]
    assert sorted(t.get_text() for t in ax.get_yticklabels()) == ["town 1", "town 2"]  # 东街道, 西街道 by name
    assert _bar_values(fig)["education"]["town 1"] == pytest.approx(
        grid_analysis.communities.groupby("town")["education_uncovered_population"].sum()["东街道"])
    fig = figures.category_figure(grid_analysis, "education")
    assert next(t.get_text() for t in fig.texts if t.get_gid() == "title") == "education coverage"


def test_with_cjk_font_bilingual(grid_analysis, monkeypatch):
    family = figures.cjk_font()
    assert family == figures.PACKAGED_CJK_FAMILY  # installed with geofacility: no system font needed
    for name in figures.CJK_FONT_FAMILIES[:3]:
        assert isinstance(name, str)
    fig = figures.category_figure(grid_analysis, "education")
    _render_quietly(fig)
    assert next(t.get_text() for t in fig.texts if t.get_gid() == "title") == "网格区 — 教育 education coverage"
    assert any("小学 primary school, 500 m" in t for t in _texts(fig))
    assert family in fig.texts[0].get_fontproperties().get_family()
    bars = figures.town_bar_figure(grid_analysis)
    _render_quietly(bars)
    (ax,) = [a for a in bars.axes if a.get_gid() == "bars"]
    assert {t.get_text() for t in ax.get_yticklabels()} == {"东街道", "西街道"}


def test_the_packaged_font_is_used_whatever_the_system_has():
    """The Chinese font comes with the install (mpl-font's Noto Sans CJK SC) and is registered ahead of any system
    font of the same name, so figures are the same on every machine."""
    files = figures.packaged_cjk_fonts()
    assert [f.name for f in files] == ["NotoSansCJKsc-Regular.otf", "NotoSansCJKsc-Bold.otf"]
    assert figures.cjk_font() == "Noto Sans CJK SC"
    manager = font_manager.fontManager
    for weight in ("normal", "bold"):
        found = manager.findfont(FontProperties(family="Noto Sans CJK SC", weight=weight), fallback_to_default=False)
        assert Path(found) in files
    assert Path(manager.findfont(FontProperties(family="Noto Sans CJK SC", weight="bold"))).name == \
        "NotoSansCJKsc-Bold.otf"


def test_font_finder_checks_the_glyphs(monkeypatch):
    """A family is used only when it has the Chinese characters; none → None."""
    figures.cjk_font.cache_clear()
    try:
        monkeypatch.setattr(figures.fonts, "_charmap", lambda family: frozenset(range(128)))
        assert figures.cjk_font() is None
        figures.cjk_font.cache_clear()
        monkeypatch.setattr(figures.fonts, "_charmap", lambda family: frozenset(range(0x10000)))
        names = {e.name for e in font_manager.fontManager.ttflist}
        assert figures.cjk_font() in names | {None}
    finally:
        figures.cjk_font.cache_clear()


# ---------------------------------------------------------------------------------------------- Xicheng


def test_xicheng_end_to_end(tmp_path):
    analysis = analyze(**sample_inputs())
    start = time.perf_counter()
    fig = figures.category_figure(analysis, "education")
    built = time.perf_counter() - start
    assert built < 3.0
    comm = analysis.communities
    counts = _colour_counts(_communities(fig)["communities"])
    assert counts["ok"] == (comm["education_status"] == "ok").sum()
    assert counts["gap"] == (comm["education_status"] == "gap").sum() > 0
    assert any("小学 primary school, 500 m" in t or "primary school, 500 m" in t for t in _texts(fig))
    bars = _bar_values(figures.town_bar_figure(analysis))["教育 education" if figures.cjk_font() else "education"]
    assert sum(bars.values()) == pytest.approx(comm["education_uncovered_population"].sum())
    assert len(bars) == comm["town"].nunique() == 15
    written = figures.write_figures(analysis, tmp_path, category="education", dpi=100)
    assert written["education_map.png"].read_bytes().startswith(PNG_MAGIC)
    assert written["education_map.pdf"].read_bytes().startswith(PDF_MAGIC)


def test_standard_without_radius(grid_analysis):
    """A standard counted inside the community (no service radius): no circles, no dots, said in the legend."""
    check = replace(grid_analysis.checks[0], radius_m=None)
    comm = grid_analysis.communities.assign(education_radius_m=np.nan)
    fig = figures.category_figure(replace(grid_analysis, checks=[check], communities=comm), "education")
    layers = _communities(fig)
    assert "service_circles" not in layers and "uncovered" not in layers
    assert any("primary school" in t and t.endswith("no service radius") for t in _texts(fig))


def test_figures_show_in_notebooks_without_pyplot(grid_analysis):
    fig = figures.town_bar_figure(grid_analysis)
    assert isinstance(fig, Figure)
    png = fig._repr_png_()
    assert png.startswith(PNG_MAGIC) and png == fig._repr_png_()


def test_no_pyplot():
    """The figures use matplotlib's object API only: importing and drawing never loads pyplot (global state)."""
    import subprocess
    import sys

    code = ("import sys; from geofacility import figures; from geofacility.figures import _figure; "
            "_figure((2, 2)).savefig(__import__('io').BytesIO(), format='png'); "
            "print('matplotlib.pyplot' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
