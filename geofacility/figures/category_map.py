"""Figures, stage outputs: the printable A4-landscape map of one category (:func:`category_figure`).

Holds the figure itself — the map axes with its layers (:mod:`.layers`), the title, the attribution — and the
panel beside it: the standard applied, the legends of communities, facilities, people not covered and candidate
sites, and the summary (:mod:`.numbers`), stacked from the top and set smaller when they do not fit.
"""
from __future__ import annotations

import math
from typing import NamedTuple

from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from ..maps import CATEGORY_COLOURS
from ..standards import CATEGORY_SHORT_ZH, status_short_zh
from .fonts import _Text
from .geometry import _bounds
from .layers import (_draw_communities, _draw_facilities, _draw_scale_and_north, _draw_service, _draw_sites,
                     _draw_towns, _draw_uncovered)
from .numbers import _summary_lines
from .style import (A4_LANDSCAPE, GAP_FILL, NO_POPULATION_FILL, NOT_SURVEYED_FILL, OK_FILL, _CANDIDATE_COLOUR,
                    _DOT_COLOUR, _HATCH_COLOUR, _SELECTED_COLOUR, _TOWN_COLOUR, _attribution, _category_label,
                    _check_category, _figure, _human, _layout, _plain, _standard_text, _wrap)

# ---------------------------------------------------------------------------------------------- the panel


class _Block(NamedTuple):
    kind: str        # "text" or "legend"
    title: str
    lines: list      # text: [(text, size, weight, colour)]; legend: [(handle, label)]


def _panel(fig, panel, blocks: list[_Block], t: _Text) -> None:
    """Stack the blocks from the top of the panel (inches: left, bottom, width, height), measuring each; when
    they do not fit, again with smaller type."""
    left, bottom, width, height = panel
    pw, ph = fig.get_size_inches()
    renderer = fig.canvas.get_renderer()
    for scale in (1.0, 0.9, 0.8, 0.7, 0.62):
        artists = []
        y = (bottom + height) / ph  # figure fraction
        for block in blocks:
            if block.kind == "text":
                for text, size, weight, colour in block.lines:
                    size *= scale
                    artist = fig.text(left / pw, y, _wrap(text, size, width), ha="left", va="top",
                                      fontproperties=t.font(size, weight), color=colour, parse_math=False,
                                      linespacing=1.25)
                    artists.append(artist)
                    y -= artist.get_window_extent(renderer).height / fig.bbox.height + 0.004
            else:
                handles = [h for h, _ in block.lines]
                size = 7.5 * scale
                label_w = width - 0.45
                labels = [_wrap(label, size, label_w) for _, label in block.lines]
                legend = fig.legend(handles, labels, loc="upper left", bbox_to_anchor=(left / pw, y),
                                    bbox_transform=fig.transFigure, title=block.title,
                                    prop=t.font(size), title_fontproperties=t.font(8.2 * scale, "bold"),
                                    alignment="left", frameon=False, borderaxespad=0.0, borderpad=0.0,
                                    handlelength=2.0, handleheight=1.1, handletextpad=0.6, labelspacing=0.45,
                                    markerfirst=True)
                _plain([*legend.get_texts(), legend.get_title()])
                artists.append(legend)
                y -= legend.get_window_extent(renderer).height / fig.bbox.height
            y -= 0.018
        if y >= bottom / ph or scale == 0.62:
            return
        for artist in artists:
            artist.remove()


# ---------------------------------------------------------------------------------------------- the figures


def category_figure(analysis, category: str, *, sites=None) -> Figure:
    """The printable A4-landscape map of one category for a special plan (see the module docstring).

    ``analysis``: a :class:`~geofacility.pipeline.Analysis`; ``category``: one of its surveyed categories;
    ``sites``: ``(study, selection)`` from :mod:`geofacility.siting` for that category adds the candidate sites,
    the selected ones with their service radius. Drawn in ``analysis.crs`` (metres); no network access."""
    _check_category(analysis, category)
    t = _Text()
    settings = analysis.settings or {}
    fig = _figure(A4_LANDSCAPE)
    bounds = _bounds(analysis)
    layout = _layout(bounds)
    minx, miny, maxx, maxy = bounds
    colour = CATEGORY_COLOURS.get(category, "#1f78b4")
    checks = [c for c in analysis.checks if c.category == category]
    facilities = analysis.facilities
    facilities = facilities.loc[facilities["category"] == category] if "category" in facilities.columns else \
        facilities.iloc[:0]

    ax = fig.add_axes(layout.map, gid="map")
    ax.set_xlim(minx, maxx)
    ax.set_ylim(miny, maxy)
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_linewidth(0.6)
        spine.set_edgecolor("#777777")

    counts = _draw_communities(ax, analysis.communities, category)
    n_towns = _draw_towns(ax, analysis.towns, t, layout.map_width_in, maxx - minx)
    service = _draw_service(ax, analysis, category, facilities, checks, colour)
    dots = _draw_uncovered(ax, analysis, category)
    n_fac = _draw_facilities(ax, facilities, colour)
    n_sel = n_other = 0
    site_area = None
    if sites is not None:
        n_sel, n_other, site_area = _draw_sites(ax, analysis, category, sites)
    _draw_scale_and_north(fig, layout, bounds, t)

    # title, subtitle, attribution
    label = _category_label(t, category)
    study = t.data(settings.get("study"))
    title = f"{study} — {label} coverage" if study else f"{label} coverage"
    fig.text(0.5, 1 - 0.32 / A4_LANDSCAPE[1], title, ha="center", va="top", fontproperties=t.font(15, "bold"),
             parse_math=False, gid="title")
    subtitle = t.bi("社区配套设施专项规划 · 服务覆盖与缺口", "community facilities special plan: coverage and gaps")
    fig.text(0.5, 1 - 0.62 / A4_LANDSCAPE[1], subtitle, ha="center", va="top", fontproperties=t.font(9),
             color="#444444", parse_math=False, gid="subtitle")
    _attribution(fig, t, settings)

    # the panel: standard, legend, summary
    radius = next((c.radius_m for c in sorted(checks, key=lambda c: not c.is_default) if c.radius_m), None)
    standard_lines = [(_standard_text(t, c), 9.0, "bold", "#111111") for c in checks] or \
        [(t.bi("无标准", "no standard applied"), 9.0, "bold", "#111111")]
    # the status in Chinese with a CJK font (已核实/部分核实/未核实), the table's own word without one
    sources = "; ".join(dict.fromkeys(" · ".join(filter(None, (t.data(c.source),
                                                               status_short_zh(c) if t.cjk else t.data(c.status))))
                                      for c in checks if c.source))
    if sources:
        standard_lines.append((t.bi("依据", "source:") + " " + sources, 6.5, "normal", "#555555"))
    blocks = [_Block("text", "", [(t.bi("标准", "Standard applied"), 8.5, "bold", "#333333"), *standard_lines])]

    comm_items = [(Patch(facecolor=OK_FILL, edgecolor="white"), t.bi("达标", "ok") + f" ({counts['ok']})"),
                  (Patch(facecolor=GAP_FILL, edgecolor="white"), t.bi("缺口", "gap") + f" ({counts['gap']})")]
    if counts["not_surveyed"]:
        comm_items.append((Patch(facecolor=NOT_SURVEYED_FILL, edgecolor=_HATCH_COLOUR, hatch="////", linewidth=0.5),
                           t.bi("未调查", "not surveyed (outside the survey extent)") + f" ({counts['not_surveyed']})"))
    if counts["no_population"]:
        comm_items.append((Patch(facecolor=NO_POPULATION_FILL, edgecolor="white"),
                           t.bi("无人口", "no population") + f" ({counts['no_population']})"))
    if n_towns:
        comm_items.append((Line2D([], [], color=_TOWN_COLOUR, linewidth=1.1), t.bi("街道/镇界", "street/town boundary")))
    blocks.append(_Block("legend", t.bi("社区", "Communities"), comm_items))

    names_zh = "、".join(dict.fromkeys(t.data(c.name_zh) for c in checks if t.data(c.name_zh)))
    names_en = " / ".join(dict.fromkeys(_human(c.subcategory) for c in checks)) or _human(category)
    fac_items = [(Line2D([], [], ls="", marker="o", markersize=5.5, markerfacecolor=colour, markeredgecolor="white",
                         markeredgewidth=0.8),
                  t.bi(f"现状{names_zh or CATEGORY_SHORT_ZH.get(category, '')}", f"existing {names_en}")
                  + f" ({n_fac})")]
    if service == "catchment":
        fac_items.append((Patch(facecolor=to_rgba(colour, 0.10), edgecolor=to_rgba(colour, 0.7)),
                          t.bi("步行服务范围", "walking catchment") + (f", {radius:,.0f} m" if radius else "")))
    elif service == "circle":
        fac_items.append((Line2D([], [], ls="", marker="o", markersize=11, markerfacecolor=to_rgba(colour, 0.06),
                                 markeredgecolor=to_rgba(colour, 0.95), markeredgewidth=0.9),
                          t.bi("服务半径", "service radius") + (f" {radius:,.0f} m" if radius else "")
                          + " (" + t.bi("直线", "straight line") + ")"))
    blocks.append(_Block("legend", t.bi("设施", "Facilities"), fac_items))

    if dots.count:
        size_items = [(Line2D([], [], ls="", marker="o", markersize=math.sqrt(area), markerfacecolor=_DOT_COLOUR,
                              markeredgewidth=0), f"{value:,.0f} " + t.bi("人", "people"))
                      for value, area in dots.key]
        how = (t.bi(f"每 {dots.cell_m:,.0f} m 网格一点，面积 ∝ 人数", f"one dot per {dots.cell_m:,.0f} m grid cell,"
                    " area ∝ people") if dots.cell_m else
               t.bi("每居住点一点，面积 ∝ 人数", "one dot per home location, area ∝ people"))
        size_items.append((Line2D([], [], ls=""), how))
        blocks.append(_Block("legend", t.bi("未覆盖人口", "People not covered"), size_items))

    if sites is not None:
        site_items = [(Line2D([], [], ls="", marker="s", markersize=7, markerfacecolor=_SELECTED_COLOUR,
                              markeredgecolor="black"), t.bi("选中房源", "selected site") + f" ({n_sel})"),
                      (Line2D([], [], ls="", marker="s", markersize=4.5, markerfacecolor=_CANDIDATE_COLOUR,
                              markeredgecolor="white"), t.bi("其他候选", "other candidate") + f" ({n_other})")]
        if site_area:
            site_items.append((Patch(facecolor=to_rgba(_SELECTED_COLOUR, 0.08), edgecolor=_SELECTED_COLOUR,
                                     linestyle="--"),
                               t.bi("新增服务范围", "new service area") + (f", {radius:,.0f} m" if radius else "")))
        blocks.append(_Block("legend", t.bi("拟建房源", "Candidate sites"), site_items))

    blocks.append(_Block("text", "", _summary_lines(t, analysis, category, counts, settings)))
    _panel(fig, layout.panel, blocks, t)
    return fig
