"""Figures, stage outputs: the bar chart of people not covered per street/town (:func:`town_bar_figure`).

Holds the chart: grouped horizontal bars per town and surveyed category (the map's category colours), worst town
at the top, A4 landscape (taller for many towns); its numbers are :func:`~geofacility.figures.town_numbers`.
"""
from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from ..maps import CATEGORY_COLOURS
from .fonts import _Text
from .numbers import _town_table
from .style import A4_LANDSCAPE, _MARGIN, _attribution, _category_label, _figure, _plain, _width_em, _wrap

def town_bar_figure(analysis) -> Figure:
    """People not covered per street/town and surveyed category: grouped horizontal bars (one colour per
    category, as on the map), towns sorted worst first (most people not covered, summed over categories) from
    the top; A4 landscape (taller for many towns)."""
    t = _Text()
    settings = analysis.settings or {}
    table = _town_table(analysis)
    categories = list(table.columns)
    n = len(table)
    size = (A4_LANDSCAPE[0], max(A4_LANDSCAPE[1], 2.2 + 0.32 * n * max(1, len(categories)) ** 0.5))
    fig = _figure(size)
    pw, ph = size

    names = [t.data(v) for v in table.index.tolist()]
    numbered = not all(names)
    if numbered:  # no CJK font: numbered in the ledger's order (by name), so a reader can look them up
        number = {town: i + 1 for i, town in enumerate(sorted(table.index.tolist()))}
        names = [name or f"town {number[town]}" for name, town in zip(names, table.index.tolist())]
    label_w = min(2.6, max(0.8, max((_width_em(s) * 8.0 / 72 for s in names), default=0.8) + 0.15))
    left, right, top, bottom = _MARGIN + label_w, 0.5, 1.05, 0.95
    ax = fig.add_axes(((left) / pw, bottom / ph, (pw - left - right) / pw, (ph - top - bottom) / ph), gid="bars")

    study = t.data(settings.get("study"))
    title = t.bi("各街道未覆盖人口", "People not covered by street/town")
    fig.text(0.5, 1 - 0.32 / ph, f"{study} — {title}" if study else title, ha="center", va="top",
             fontproperties=t.font(15, "bold"), parse_math=False, gid="title")
    if len(categories) > 1:
        note = t.bi("按各类未覆盖人口之和排序，最差在上；同一人缺多类时在每类中计入",
                    "sorted by people not covered (summed over categories), worst first; a person short of several "
                    "categories counts in each")
    else:
        note = t.bi("按未覆盖人口排序，最差在上", "sorted by people not covered, worst first")
    fig.text(0.5, 1 - 0.62 / ph, _wrap(note, 8.5, pw - 2 * _MARGIN), ha="center", va="top",
             fontproperties=t.font(8.5), color="#444444", parse_math=False, gid="subtitle")

    if not categories or not n:
        ax.set_axis_off()
        ax.text(0.5, 0.5, t.bi("无已调查类别", "no surveyed category") if not categories else
                t.bi("无社区", "no communities"), ha="center", va="center", transform=ax.transAxes,
                fontproperties=t.font(11), parse_math=False)
        _attribution(fig, t, settings)
        return fig

    k = len(categories)
    height = 0.8 / k
    ypos = np.arange(n)[::-1].astype(float)  # worst at the top
    most = float(table.to_numpy().max()) if table.size else 0.0
    font_small = t.font(6.5 if n * k > 60 else 7.5)
    for j, category in enumerate(categories):
        values = table[category].to_numpy(dtype=float)
        offset = (k - 1) / 2 * height - j * height
        bars = ax.barh(ypos + offset, values, height=height * 0.92, color=CATEGORY_COLOURS.get(category, "#1f78b4"),
                       label=_category_label(t, category), gid=f"bars_{category}")
        texts = ax.bar_label(bars, labels=[f"{v:,.0f}" for v in values.tolist()], padding=2,
                             fontproperties=font_small, color="#333333")
        _plain(texts)
    ax.set_yticks(ypos, names, fontproperties=t.font(8.5 if n <= 30 else 7))
    ax.set_ylim(-0.6, n - 0.4)
    ax.set_xlim(0, most * 1.12 if most > 0 else 1.0)
    ax.set_xlabel(t.bi("未覆盖人口（人）", "population not covered (people)"), fontproperties=t.font(9))
    ax.xaxis.set_major_formatter(lambda value, pos: f"{value:,.0f}")
    for label in ax.get_xticklabels():
        label.set_fontproperties(t.font(8))
    ax.tick_params(axis="y", length=0)
    ax.grid(axis="x", color="#dddddd", linewidth=0.6)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    legend = ax.legend(loc="lower right", prop=t.font(8), frameon=False,
                       title=t.bi("类别", "category"), title_fontproperties=t.font(8.5, "bold"))
    _plain([*legend.get_texts(), legend.get_title(), *ax.get_yticklabels()])
    if numbered:
        fig.text(_MARGIN / pw, 0.34 / ph, "Town names need a CJK font (e.g. fonts-noto-cjk); towns are numbered in "
                                          "the ledger's order (sorted by name).", fontproperties=t.font(6.5),
                 color="#555555", parse_math=False, gid="note")
    _attribution(fig, t, settings)
    return fig
