"""Figures, stage outputs: what the printed figures share — colours, page, text and labels.

Holds the community fills (those of the on-screen map, :mod:`geofacility.maps`), the A4-landscape page and its
layout (map box, scale strip, legend panel; inches), the file formats and their date-free metadata
(:data:`FORMATS`), :class:`PlanFigure` (a figure on the Agg canvas, no pyplot), text wrapping and width, the
category and standard labels, the attribution line, and the checks of a requested category.
"""
from __future__ import annotations

import io
import re
import unicodedata
from typing import NamedTuple

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ..maps import NO_POPULATION_COLOUR, NOT_SURVEYED_COLOUR, fill_palette
from ..standards import CATEGORIES, CATEGORY_SHORT_ZH, Check
from .fonts import _Text

#: the community fills, as on the on-screen category map (:func:`geofacility.maps.fill_palette` of one category)
OK_FILL, GAP_FILL = fill_palette(1)
NOT_SURVEYED_FILL = NOT_SURVEYED_COLOUR
NO_POPULATION_FILL = NO_POPULATION_COLOUR
_HATCH_COLOUR = "#8c8c8c"
_TOWN_COLOUR = "#222222"
_DOT_COLOUR = (0.0, 0.0, 0.0, 0.5)
_SELECTED_COLOUR = "#1a9850"
_CANDIDATE_COLOUR = "#888888"

#: A4 landscape, inches
A4_LANDSCAPE = (297 / 25.4, 210 / 25.4)
#: what :func:`write_figures` writes, with the metadata that keeps the files free of dates and version noise
FORMATS: dict[str, dict] = {
    "png": {"Software": None},
    "pdf": {"CreationDate": None, "ModDate": None, "Creator": "geofacility", "Producer": None},
}


def _width_em(text: str) -> float:
    """Approximate width of ``text`` in ems: CJK characters one em, others about half (a little more, to be
    safe with DejaVu Sans)."""
    return sum(1.0 if unicodedata.east_asian_width(ch) in "WF" else 0.53 for ch in text)


def _wrap(text: str, size_pt: float, width_in: float) -> str:
    """Greedy wrapping of ``text`` to ``width_in`` inches at ``size_pt`` points: at spaces, or between CJK
    characters."""
    limit = width_in * 72.0 / size_pt
    lines = []
    for paragraph in text.split("\n"):
        tokens = re.findall(r"[\u2e80-\u9fff\uf900-\ufaff\uff00-\uffef]|[^\s\u2e80-\u9fff\uf900-\ufaff\uff00-\uffef]+"
                            r"|\s+", paragraph)
        line = ""
        for token in tokens:
            if line and _width_em(line + token) > limit and not token.isspace():
                lines.append(line.rstrip())
                line = token
            elif not (token.isspace() and not line):
                line += token
        lines.append(line.rstrip())
    return "\n".join(lines)


class PlanFigure(Figure):
    """A :class:`~matplotlib.figure.Figure` on the Agg canvas that also shows itself in Jupyter (as PNG, 100 dpi)
    without pyplot or the inline backend."""

    def _repr_png_(self) -> bytes:
        buffer = io.BytesIO()
        self.savefig(buffer, format="png", dpi=100, metadata=FORMATS["png"], facecolor="white")
        return buffer.getvalue()


def _figure(size: tuple[float, float]) -> PlanFigure:
    fig = PlanFigure(figsize=size, dpi=100, facecolor="white")
    FigureCanvasAgg(fig)
    return fig


def _plain(text_artists) -> None:
    """No mathtext: ``$`` in data is a dollar sign."""
    for artist in text_artists:
        artist.set_parse_math(False)


# ---------------------------------------------------------------------------------------------- page layout

_MARGIN = 0.35       # inches, page edges
_TITLE_H = 0.85      # title and subtitle
_FOOT_H = 0.42       # attribution
_STRIP_H = 0.42      # scale bar and north arrow, under the map
_PANEL_W = 3.45      # legend panel
_GAP = 0.25


class _Layout(NamedTuple):
    map: tuple[float, float, float, float]    # figure fractions: left, bottom, width, height
    strip: tuple[float, float, float, float]
    panel: tuple[float, float, float, float]  # left, bottom, width, height in inches
    map_width_in: float


def _layout(bounds, page=A4_LANDSCAPE) -> _Layout:
    """The map box with the data's aspect (equal scale in x and y by construction), centred with the panel."""
    pw, ph = page
    minx, miny, maxx, maxy = bounds
    avail_w = pw - 2 * _MARGIN - _PANEL_W - _GAP
    avail_h = ph - _TITLE_H - _FOOT_H - _STRIP_H - 0.1
    aspect = (maxy - miny) / (maxx - minx)
    w, h = (avail_w, avail_w * aspect) if avail_w * aspect <= avail_h else (avail_h / aspect, avail_h)
    left = max(_MARGIN, (pw - (w + _GAP + _PANEL_W)) / 2)
    top = ph - _TITLE_H
    bottom = top - h
    panel_left = left + w + _GAP
    return _Layout(
        map=(left / pw, bottom / ph, w / pw, h / ph),
        strip=(left / pw, (bottom - _STRIP_H) / ph, w / pw, _STRIP_H / ph),
        panel=(panel_left, _FOOT_H + 0.05, min(_PANEL_W, pw - _MARGIN - panel_left), top - _FOOT_H - 0.05),
        map_width_in=w,
    )


# ---------------------------------------------------------------------------------------------- labels


def _human(identifier) -> str:
    return str(identifier or "").replace("_", " ").strip()


def _category_label(t: _Text, category: str) -> str:
    return t.bi(CATEGORY_SHORT_ZH.get(category, ""), _human(category))


def _standard_text(t: _Text, check: Check) -> str:
    """E.g. ``小学 primary school, 500 m``."""
    name = t.bi(t.data(check.name_zh), _human(check.subcategory))
    radius = f"{check.radius_m:,.0f} m" if check.radius_m else t.bi("无服务半径", "no service radius")
    return f"{name}, {radius}"


def _check_category(analysis, category: str) -> None:
    if category not in CATEGORIES:
        raise ValueError(f"unknown category {category!r}; use one of {', '.join(CATEGORIES)}")
    if category not in set(analysis.surveyed):
        raise ValueError(f"{category} was not surveyed: no facility data of that category were given")


def _surveyed(analysis) -> list[str]:
    return [c for c in CATEGORIES if c in set(analysis.surveyed)]


def _numbers(frame, column: str) -> np.ndarray:
    if column not in frame.columns:
        return np.full(len(frame), np.nan)
    return pd.to_numeric(frame[column], errors="coerce").astype(float).to_numpy()


def _attribution(fig, t: _Text, settings: dict) -> None:
    text = t.data(settings.get("attribution"))
    if not text:
        return
    pw, ph = fig.get_size_inches()
    size = 5.5
    fig.text(_MARGIN / pw, 0.12 / ph, _wrap(t.bi("数据", "Data:") + " " + text, size, pw - 2 * _MARGIN),
             ha="left", va="bottom", fontproperties=t.font(size), color="#555555", parse_math=False,
             linespacing=1.2, gid="attribution")
