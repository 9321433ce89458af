"""Static figures for printed special plans (专项规划): one A4-landscape map per surveyed category and a bar chart
of the people not covered per street/town, as PNG and PDF.

The category map (:func:`category_figure`) is drawn in the analysis' metric CRS, offline (no web tiles):
communities filled by the category's status with the on-screen map's colours (:mod:`geofacility.maps`: ok green,
gap red, not surveyed grey hatched, no population light grey), street/town outlines and names, the people not
covered as dots sized by people (aggregated to grid cells by :func:`~geofacility.maps.uncovered_cells` when there
are many), the existing facilities with their service-radius circles (or walking catchments), optionally the
candidate sites of a siting study; beside the map a panel with the standard applied, the legend and a summary;
below it a scale bar in metres and a north arrow; the data attribution in small print.

Every layer is one matplotlib collection (communities, hatched not-surveyed communities, town outlines, circles or
catchments, dots, facilities), built from shapely's vectorised coordinate functions. Figures are plain
:class:`matplotlib.figure.Figure` objects on the Agg canvas: no pyplot, no global rcParams changed.

Text is bilingual (``教育 education``) in the Chinese font installed with geofacility (Noto Sans CJK SC from the
PyPI package ``mpl-font``, registered at run time: :func:`cjk_font`); should it be missing, an installed CJK font is
used, and without any the labels are English only and Chinese names from the data are left out (towns numbered), so matplotlib never warns
about missing glyphs. :func:`write_figures` writes the files atomically and deterministically: the same analysis
gives byte-identical PNG and PDF files (no dates, no software stamp).
"""
from __future__ import annotations

import functools
import io
import math
import re
import unicodedata
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import shapely
from matplotlib import font_manager
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import EllipseCollection, PatchCollection
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, PathPatch, Rectangle
from matplotlib.path import Path as MplPath
from matplotlib import patheffects

from .atomic import atomic_path
from .maps.facilities import _facility_radius  # the radius each facility is drawn with, as on screen
from .maps import (CATEGORY_COLOURS, MANY_POINTS, NO_POPULATION_COLOUR, NOT_SURVEYED_COLOUR, fill_palette,
                   uncovered_cells, uncovered_demand)
from .coverage import NO_RADIUS_MEANING_EN, NO_RADIUS_MEANING_ZH, category_totals
from .standards import CATEGORIES, CATEGORY_SHORT_ZH, Check, status_short_zh

__all__ = [
    "category_figure",
    "figure_numbers",
    "town_numbers",
    "town_bar_figure",
    "write_figures",
    "cjk_font",
    "packaged_cjk_fonts",
    "PACKAGED_CJK_FAMILY",
    "PlanFigure",
    "CJK_FONT_FAMILIES",
    "OK_FILL",
    "GAP_FILL",
    "NOT_SURVEYED_FILL",
    "NO_POPULATION_FILL",
    "FORMATS",
]

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

#: CJK-capable families tried first, in order (Simplified Chinese faces before the others)
CJK_FONT_FAMILIES: tuple[str, ...] = (
    "Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "Source Han Sans CN", "Source Han Sans",
    "WenQuanYi Zen Hei", "WenQuanYi Micro Hei", "Microsoft YaHei", "PingFang SC", "Hiragino Sans GB", "SimHei",
    "Heiti SC", "STHeiti", "Sarasa Gothic SC", "Noto Sans CJK TC", "Noto Sans CJK JP", "Noto Serif CJK SC",
    "Source Han Serif SC", "SimSun", "AR PL UMing CN", "AR PL UKai CN", "Droid Sans Fallback",
)
_CJK_NAME_HINTS = ("CJK", "Han Sans", "Han Serif", "WenQuanYi", "YaHei", "PingFang", "Hei", "Song", "Kai", "Ming",
                   "Fang", "Gothic", "Mincho", "Sarasa", "Fallback")
#: characters a font must have to be used for the Chinese labels
_CJK_PROBE = "北京市西城区街道社区教育养老医疗卫生体育食堂未覆盖人口达标缺口调查服务半径图例比例尺单位米人（）、："
_LATIN_FAMILY = "DejaVu Sans"  # ships with matplotlib


# ---------------------------------------------------------------------------------------------- fonts


def _font_file(family: str):
    """The font file matplotlib uses for ``family`` (None when it has no such font)."""
    try:
        return font_manager.fontManager.findfont(FontProperties(family=family), fallback_to_default=False,
                                                 rebuild_if_missing=False)
    except (ValueError, RuntimeError):
        return None


@functools.lru_cache(maxsize=None)
def _charmap(family: str) -> frozenset[int]:
    path = _font_file(family)
    if path is None:
        return frozenset()
    try:
        return frozenset(font_manager.get_font(path).get_charmap())
    except (OSError, RuntimeError, ValueError):
        return frozenset()


#: the Chinese font that comes with geofacility's install: Noto Sans CJK SC (SIL Open Font License 1.1), Regular and
#: Bold, as the PyPI package ``mpl-font`` ships them (57 MB; mplfonts, 85 MB, also bundles the proprietary SimHei;
#: notojp-matplotlib, 14 MB, draws Japanese glyph forms: 户, 说, 骨, 直 look wrong in a Chinese plan)
PACKAGED_CJK_FAMILY = "Noto Sans CJK SC"
_PACKAGED_FONT_PACKAGE = "mpl_font"
_PACKAGED_FONT_FILES = ("fonts/noto/NotoSansCJKsc-Regular.otf", "fonts/noto/NotoSansCJKsc-Bold.otf")


def packaged_cjk_fonts() -> list[Path]:
    """The font files of :data:`PACKAGED_CJK_FAMILY` installed with geofacility (found without importing the
    package, whose import would change matplotlib's global rcParams); empty when they are missing."""
    import importlib.util

    spec = importlib.util.find_spec(_PACKAGED_FONT_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return []
    root = Path(next(iter(spec.submodule_search_locations)))
    return [root / name for name in _PACKAGED_FONT_FILES if (root / name).is_file()]


def _register_packaged_fonts() -> bool:
    """Add the packaged font files to matplotlib's font manager, ahead of any system font of the same family name,
    so figures look the same (and are byte-identical) on every machine, whatever fonts it has or had cached."""
    files = packaged_cjk_fonts()
    if not files:
        return False
    manager = font_manager.fontManager
    known = {entry.fname for entry in manager.ttflist}
    for path in files:
        if str(path) not in known:
            manager.addfont(str(path))
    ours = [entry for entry in manager.ttflist if entry.fname in {str(p) for p in files}]
    manager.ttflist[:] = ours + [entry for entry in manager.ttflist if entry not in ours]
    getattr(manager._findfont_cached, "cache_clear", lambda: None)()  # earlier lookups must not stick
    return any(entry.name == PACKAGED_CJK_FAMILY for entry in ours)


@functools.lru_cache(maxsize=1)
def cjk_font() -> str | None:
    """The family name of the font used for Chinese text: the packaged :data:`PACKAGED_CJK_FAMILY`, registered
    with matplotlib's font manager on first use; if that package is missing, an installed font with the characters
    the figures use (:data:`CJK_FONT_FAMILIES` first, then any family whose name suggests CJK); None when there is
    none (the figures are then English only)."""
    if _register_packaged_fonts():
        getattr(_charmap, "cache_clear", lambda: None)()
        charmap = _charmap(PACKAGED_CJK_FAMILY)
        if charmap and all(ord(ch) in charmap for ch in _CJK_PROBE):
            return PACKAGED_CJK_FAMILY
    names = {entry.name for entry in font_manager.fontManager.ttflist}
    preferred = [name for name in CJK_FONT_FAMILIES if name in names]
    others = sorted(name for name in names - set(CJK_FONT_FAMILIES)
                    if any(hint in name for hint in _CJK_NAME_HINTS) and "Mono" not in name)
    for name in preferred + others:
        charmap = _charmap(name)
        if charmap and all(ord(ch) in charmap for ch in _CJK_PROBE):
            return name
    return None


class _Text:
    """The fonts of one figure, and its text: bilingual with a CJK font, English only without."""

    def __init__(self):
        self.cjk_family = cjk_font()
        self.cjk = self.cjk_family is not None
        self.families = [self.cjk_family, _LATIN_FAMILY] if self.cjk else [_LATIN_FAMILY]
        glyphs = set(_charmap(_LATIN_FAMILY))
        if self.cjk:
            glyphs |= _charmap(self.cjk_family)
        self.glyphs = frozenset(glyphs)

    def font(self, size: float, weight: str = "normal") -> FontProperties:
        return FontProperties(family=self.families, size=size, weight=weight)

    def bi(self, zh: str, en: str) -> str:
        """``zh en`` with a CJK font, ``en`` without."""
        return f"{zh} {en}".strip() if self.cjk else en

    def data(self, value) -> str:
        """Text from the input data, without the characters the fonts lack (all Chinese without a CJK font)."""
        if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
            return ""
        text = "".join(ch for ch in str(value) if ord(ch) in self.glyphs or ch in "\n ")
        text = re.sub(r"\s+", " ", text).strip()
        return text if any(ch.isalnum() for ch in text) else ""


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


# ---------------------------------------------------------------------------------------------- geometry


def _oriented(geoms: np.ndarray) -> np.ndarray:
    """Exteriors counter-clockwise, holes clockwise: matplotlib fills with the non-zero rule."""
    if hasattr(shapely, "orient_polygons"):  # shapely ≥ 2.1
        return shapely.orient_polygons(geoms)
    from shapely.geometry.polygon import orient

    out = np.asarray(geoms, dtype=object).copy()
    for i, g in enumerate(out.tolist()):
        if g is not None and not g.is_empty and g.geom_type == "Polygon":
            out[i] = orient(g)
        elif g is not None and not g.is_empty and g.geom_type == "MultiPolygon":
            out[i] = shapely.multipolygons([orient(p) for p in g.geoms])
    return out


def _polygon_paths(geoms) -> list[MplPath]:
    """One compound matplotlib path per geometry (its polygons' rings; other parts left out), vectorised: the
    coordinates of every ring are read at once and cut per geometry."""
    geoms = np.asarray(geoms, dtype=object)
    n = len(geoms)
    if not n:
        return []
    parts, owner = shapely.get_parts(geoms, return_index=True)
    polygons = (shapely.get_type_id(parts) == 3) & ~shapely.is_empty(parts)
    parts, owner = _oriented(parts[polygons]), owner[polygons]
    rings, ring_part = shapely.get_rings(parts, return_index=True)
    coords, ring_of = shapely.get_coordinates(rings, return_index=True)
    codes = np.full(len(coords), MplPath.LINETO, dtype=MplPath.code_type)
    if len(coords):
        starts = np.flatnonzero(np.r_[True, np.diff(ring_of) != 0])
        codes[starts] = MplPath.MOVETO
        codes[np.r_[starts[1:] - 1, len(coords) - 1]] = MplPath.CLOSEPOLY
    geom_of = owner[ring_part[ring_of]] if len(coords) else np.zeros(0, dtype=np.intp)
    cuts = np.searchsorted(geom_of, np.arange(n + 1))
    return [MplPath(coords[a:b], codes[a:b]) for a, b in zip(cuts[:-1].tolist(), cuts[1:].tolist())]


def _collection(geoms, **style) -> PatchCollection:
    return PatchCollection([PathPatch(p) for p in _polygon_paths(geoms)], **style)


def _xy(frame) -> tuple[np.ndarray, np.ndarray]:
    geoms = np.asarray(frame.geometry.values)
    points = shapely.get_type_id(geoms) == 0
    x = np.where(points, shapely.get_x(np.where(points, geoms, None)), np.nan)
    y = np.where(points, shapely.get_y(np.where(points, geoms, None)), np.nan)
    return x, y


def _nice(value: float, steps=(1.0, 2.0, 2.5, 5.0)) -> float:
    """The largest 1/2/2.5/5 × 10^k not above ``value`` (> 0)."""
    if not value > 0:
        return 0.0
    exp = math.floor(math.log10(value))
    return max(s * 10 ** e for e in (exp - 1, exp) for s in steps if s * 10 ** e <= value * (1 + 1e-9))


def _scale_length(width_m: float) -> float:
    """A round scale-bar length near a fifth of the map width."""
    target = width_m / 5.0
    exp = math.floor(math.log10(target))
    options = [s * 10 ** e for e in (exp - 1, exp, exp + 1) for s in (1.0, 2.0, 2.5, 5.0)]
    return min(options, key=lambda v: (abs(math.log(v / target)), v))


def _bounds(analysis) -> tuple[float, float, float, float]:
    """The study area: communities and towns (else demand, facilities), padded 3 %."""
    frames = [analysis.communities, analysis.towns]
    boxes = [f.total_bounds for f in frames if f is not None and len(f) and np.isfinite(f.total_bounds).all()]
    if not boxes:
        boxes = [f.total_bounds for f in (analysis.demand, analysis.facilities)
                 if f is not None and len(f) and np.isfinite(f.total_bounds).all()]
    if not boxes:
        return 0.0, 0.0, 1000.0, 1000.0
    b = np.array(boxes)
    minx, miny, maxx, maxy = b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max()
    span = max(maxx - minx, maxy - miny, 100.0)
    pad = 0.03 * span
    cx, cy = (minx + maxx) / 2, (miny + maxy) / 2
    half_w, half_h = max(maxx - minx, 50.0) / 2 + pad, max(maxy - miny, 50.0) / 2 + pad
    return cx - half_w, cy - half_h, cx + half_w, cy + half_h


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


# ---------------------------------------------------------------------------------------------- map layers


def _community_classes(communities, category: str) -> np.ndarray:
    """``ok``, ``gap``, ``not_surveyed`` or ``no_population`` per community (no population wins, as on screen)."""
    status = communities[f"{category}_status"].astype(object).to_numpy() if f"{category}_status" in \
        communities.columns else np.full(len(communities), "not_surveyed", dtype=object)
    classes = np.where(status == "gap", "gap", np.where(status == "ok", "ok", "not_surveyed")).astype(object)
    return np.where(_numbers(communities, "population") > 0, classes, "no_population").astype(object)


def _draw_communities(ax, communities, category: str) -> dict[str, int]:
    classes = _community_classes(communities, category)
    paths = _polygon_paths(communities.geometry.values)
    fills = {"ok": OK_FILL, "gap": GAP_FILL, "no_population": NO_POPULATION_FILL}
    plain = np.flatnonzero(classes != "not_surveyed")
    colours = [fills[c] for c in classes[plain].tolist()]
    ax.add_collection(PatchCollection(
        [PathPatch(paths[i]) for i in plain.tolist()], facecolors=colours, edgecolors="#ffffff", linewidths=0.35,
        zorder=1, gid="communities", label="communities"), autolim=False)
    hatched = np.flatnonzero(classes == "not_surveyed")
    if len(hatched):
        ax.add_collection(PatchCollection(
            [PathPatch(paths[i]) for i in hatched.tolist()], facecolors=NOT_SURVEYED_FILL,
            edgecolors=_HATCH_COLOUR, linewidths=0.35, hatch="////", zorder=1, gid="communities_not_surveyed",
            label="communities not surveyed"), autolim=False)
    return {k: int((classes == k).sum()) for k in ("ok", "gap", "not_surveyed", "no_population")}


def _draw_towns(ax, towns, t: _Text, map_width_in: float, width_m: float) -> int:
    if towns is None or not len(towns):
        return 0
    ax.add_collection(_collection(towns.geometry.values, facecolors="none", edgecolors=_TOWN_COLOUR,
                                  linewidths=1.1, zorder=4, gid="towns"), autolim=False)
    if not t.cjk and not any(t.data(v) for v in towns["town"].tolist()):
        return len(towns)
    # names at a point inside each town, with a white halo; small towns (narrower than ~0.5 inch) unlabelled
    geoms = np.asarray(towns.geometry.values)
    ok = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    inside = shapely.point_on_surface(geoms[ok])
    minx, _, maxx, _ = shapely.bounds(geoms[ok]).T
    wide = (maxx - minx) / width_m * map_width_in > 0.5
    names = towns["town"].to_numpy(dtype=object)[ok]
    halo = [patheffects.withStroke(linewidth=2.2, foreground="white")]
    font = t.font(6.5)
    for p, name, show in zip(inside.tolist(), names.tolist(), wide.tolist()):
        text = t.data(name)
        if show and text:
            ax.text(p.x, p.y, text, ha="center", va="center", fontproperties=font, color="#111111",
                    path_effects=halo, zorder=8, clip_on=True, parse_math=False, gid="town_label")
    return len(towns)


def _draw_service(ax, analysis, category: str, facilities, checks: list[Check], colour: str) -> str | None:
    """Walking catchments (when the analysis has them for this category) or circles of the service radius;
    which was drawn."""
    areas = getattr(analysis, "service_areas", None)
    if areas is not None and len(areas) and {"category", "kind"} <= set(areas.columns):
        mine = areas[(areas["category"] == category) & (areas["kind"] == "facility")]
        if len(mine):
            ax.add_collection(_collection(mine.geometry.values, facecolors=[to_rgba(colour, 0.10)],
                                          edgecolors=[to_rgba(colour, 0.7)], linewidths=0.5, zorder=2,
                                          gid="catchments"), autolim=False)
            return "catchment"
    if not len(facilities):
        return None
    radius = _facility_radius(facilities["subcategory"].to_numpy(dtype=object), checks)
    x, y = _xy(facilities)
    keep = np.isfinite(radius) & np.isfinite(x) & np.isfinite(y)
    if not keep.any():
        return None
    ax.add_collection(EllipseCollection(
        2 * radius[keep], 2 * radius[keep], np.zeros(int(keep.sum())), units="xy",
        offsets=np.column_stack([x[keep], y[keep]]), offset_transform=ax.transData,
        facecolors=[to_rgba(colour, 0.06)], edgecolors=[to_rgba(colour, 0.95)], linewidths=0.9, zorder=2,
        gid="service_circles"), autolim=False)
    return "circle"


class _Dots(NamedTuple):
    count: int
    people: float
    cell_m: float | None
    key: list[tuple[float, float]]  # (people, marker area in pt²) for the legend


_DOT_MAX_PT2 = 70.0  # marker area of the largest dot (≈ 8.4 pt across)
_DOT_MIN_PT2 = 1.5


def _dot_area(people: np.ndarray, most: float) -> np.ndarray:
    return np.maximum(_DOT_MIN_PT2, _DOT_MAX_PT2 * people / max(most, 1e-9))


def _draw_uncovered(ax, analysis, category: str) -> _Dots:
    """People not covered: one dot per demand point, or per grid cell (:func:`uncovered_cells`) when there are
    more than :data:`~geofacility.maps.MANY_POINTS`; dot area ∝ people."""
    points = uncovered_demand(analysis, category)
    if not len(points):
        return _Dots(0, 0.0, None, [])
    cell_m = None
    if len(points) > MANY_POINTS:
        cells, cell_m = uncovered_cells(points, max_cells=MANY_POINTS)
        x, y = _xy(cells)
        people = cells["people"].to_numpy(dtype=float)
    else:
        x, y = _xy(points)
        people = np.nan_to_num(_numbers(points, "weight"))
        order = np.argsort(-people, kind="stable")  # large dots below small ones
        x, y, people = x[order], y[order], people[order]
    keep = np.isfinite(x) & np.isfinite(y)
    x, y, people = x[keep], y[keep], people[keep]
    most = float(people.max()) if len(people) else 0.0
    ax.scatter(x, y, s=_dot_area(people, most), c=[_DOT_COLOUR], linewidths=0, zorder=5, gid="uncovered")
    key = []
    for value in (_nice(most), _nice(most / 4), _nice(most / 20)):
        if value > 0 and all(abs(value - v) > 1e-9 for v, _ in key):
            key.append((value, float(_dot_area(np.array([value]), most)[0])))
    return _Dots(len(people), float(people.sum()), cell_m, key)


def _draw_facilities(ax, facilities, colour: str) -> int:
    if not len(facilities):
        return 0
    x, y = _xy(facilities)
    keep = np.isfinite(x) & np.isfinite(y)
    ax.scatter(x[keep], y[keep], s=26, marker="o", c=[colour], edgecolors="white", linewidths=0.8, zorder=6,
               gid="facilities")
    return int(keep.sum())


def _draw_sites(ax, analysis, category: str, sites) -> tuple[int, int, str | None]:
    """Candidate sites of a siting study ``(study, selection)``: the selected ones green with their service
    radius (or walking catchment), the others grey."""
    study, selection = sites
    if study.check.category != category:
        raise ValueError(f"the sites are for {study.check.category}, not {category}")
    cands = study.candidates
    chosen = np.isin(np.arange(len(cands)), [] if selection is None else np.asarray(selection.selected))
    x, y = _xy(cands)
    located = np.isfinite(x) & np.isfinite(y)
    radius = study.check.radius_m
    drawn = None
    if radius and (chosen & located).any():
        measure = getattr(analysis, "measure", None)
        if getattr(measure, "method", "") == "network":
            from .network import service_areas, snap_points

            snap = snap_points(measure.network, cands.geometry.values[chosen & located], measure.max_snap_m)
            _, polys = service_areas(measure.network, snap, radius,
                                     buffer_m=(analysis.settings or {}).get("buffer_m") or 50.0)
            if len(polys):
                ax.add_collection(_collection(np.asarray(polys), facecolors=[to_rgba(_SELECTED_COLOUR, 0.10)],
                                              edgecolors=[_SELECTED_COLOUR], linewidths=0.8, linestyles="--",
                                              zorder=3, gid="site_catchments"), autolim=False)
                drawn = "catchment"
        if drawn is None:
            sel = chosen & located
            ax.add_collection(EllipseCollection(
                np.full(int(sel.sum()), 2.0 * radius), np.full(int(sel.sum()), 2.0 * radius),
                np.zeros(int(sel.sum())), units="xy", offsets=np.column_stack([x[sel], y[sel]]),
                offset_transform=ax.transData, facecolors=[to_rgba(_SELECTED_COLOUR, 0.08)],
                edgecolors=[_SELECTED_COLOUR], linewidths=0.9, linestyles="--", zorder=3, gid="site_circles"),
                autolim=False)
            drawn = "circle"
    other = ~chosen & located
    if other.any():
        ax.scatter(x[other], y[other], s=14, marker="s", c=[_CANDIDATE_COLOUR], edgecolors="white",
                   linewidths=0.5, zorder=6, gid="candidates")
    sel = chosen & located
    if sel.any():
        ax.scatter(x[sel], y[sel], s=48, marker="s", c=[_SELECTED_COLOUR], edgecolors="black", linewidths=0.9,
                   zorder=7, gid="selected_sites")
    return int(sel.sum()), int(other.sum()), drawn


def _draw_scale_and_north(fig, layout: _Layout, bounds, t: _Text) -> float:
    """Under the map: a scale bar in metres (alternating segments, a round length near a fifth of the map
    width), the print scale at A4, and a north arrow. The strip shares the map's x range and width, so its
    metres are the map's. Returns the bar length."""
    minx, _, maxx, _ = bounds
    strip = fig.add_axes(layout.strip, gid="scale_strip")
    strip.set_xlim(minx, maxx)
    strip.set_ylim(0.0, 1.0)
    strip.set_axis_off()
    width = maxx - minx
    length = _scale_length(width)
    n = 4 if (length / 4) == round(length / 4) else 2
    seg = length / n
    x0 = minx + 0.01 * width
    for i in range(n):
        strip.add_patch(Rectangle((x0 + i * seg, 0.46), seg, 0.13, facecolor="black" if i % 2 == 0 else "white",
                                  edgecolor="black", linewidth=0.7, gid="scale_bar"))
    font = t.font(7)
    for value in (0.0, length / 2, length):
        strip.text(x0 + value, 0.64, f"{value:,.0f}", ha="center", va="bottom", fontproperties=font,
                   parse_math=False, gid="scale_label")
    strip.text(x0 + length + 0.012 * width, 0.525, t.bi("米", "m") if t.cjk else "m", ha="left", va="center",
               fontproperties=font, parse_math=False, gid="scale_unit")
    denominator = width / (layout.map_width_in * 0.0254)
    strip.text(x0, 0.34, _print_scale_text(t, denominator), ha="left", va="top", fontproperties=t.font(6.5),
               color="#444444", parse_math=False, gid="print_scale")
    # north arrow (grid north of the metric CRS)
    xa = maxx - 0.03 * width
    strip.annotate("", xy=(xa, 0.98), xytext=(xa, 0.30), xycoords="data",
                   arrowprops={"arrowstyle": "-|>,head_width=0.35,head_length=0.7", "color": "black", "lw": 1.4})
    strip.text(xa - 0.012 * width, 0.62, t.bi("北", "N") if t.cjk else "N", ha="right", va="center",
               fontproperties=t.font(9, "bold"), parse_math=False, gid="north")
    return length


def _print_scale_text(t: _Text, denominator: float) -> str:
    """The scale of the map printed on A4 at 100 %, to two significant figures, e.g. 1:45,000."""
    step = 10.0 ** max(0, math.floor(math.log10(max(denominator, 1.0))) - 1)
    rounded = round(denominator / step) * step
    return t.bi(f"比例尺约 1:{rounded:,.0f}（A4 打印）", f"scale ≈ 1:{rounded:,.0f} printed on A4")


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


def figure_numbers(analysis, category: str) -> dict:
    """The numbers :func:`category_figure` prints for ``category``: the legend's community counts (``ok``,
    ``gap``, ``not_surveyed``, ``no_population``) and its summary — :func:`geofacility.coverage.category_totals`
    of the communities table (``population``, ``covered``, ``not_covered``, ``communities_short``, …,
    ``meaning`` for a standard without a radius), the same numbers the ledger, the terminal and the map give."""
    _check_category(analysis, category)
    classes = _community_classes(analysis.communities, category)
    counts = {k: int((classes == k).sum()) for k in ("ok", "gap", "not_surveyed", "no_population")}
    return {**category_totals(analysis.communities, category), "legend": counts}


def _summary_lines(t: _Text, analysis, category: str, counts: dict, settings: dict) -> list:
    comm = analysis.communities
    numbers = category_totals(comm, category)
    total, lost = numbers["population"], numbers["not_covered"]
    share = f" ({lost / total:.0%})" if total > 0 else ""
    grey = "#444444"
    lines = [
        (t.bi("概况", "Summary"), 8.5, "bold", "#333333"),
        (t.bi("未覆盖人口", "people not covered:") + f" {lost:,.0f} / {total:,.0f}{share} " + t.bi("人", "people"),
         7.5, "normal", "#111111"),
        (t.bi("缺口社区", "communities with a gap:") + f" {numbers['communities_short']} / "
         f"{numbers['communities_surveyed']}", 7.5, "normal", "#111111"),
    ]
    if numbers["meaning"]:
        lines.append((t.bi(NO_RADIUS_MEANING_ZH, NO_RADIUS_MEANING_EN), 6.5, "normal", grey))
    notes = [t.bi("单位：米、人", "units: metres, people")]
    crs = analysis.crs
    name = getattr(crs, "name", "") if crs is not None else ""
    epsg = crs.to_epsg() if crs is not None and hasattr(crs, "to_epsg") else None
    if epsg or name:
        notes.append(t.bi("坐标系", "CRS") + " " + (f"EPSG:{epsg}" if epsg else "")
                     + (f" ({t.data(name)})" if name else ""))
    if settings.get("distance") == "network":
        notes.append(t.bi("距离：步行网络", "distance: walking network"))
    elif settings.get("distance"):
        notes.append(t.bi("距离：直线", "distance: straight line"))
    target = settings.get("coverage_target")
    if isinstance(target, (int, float)) and not isinstance(target, bool) and not math.isnan(target):
        notes.append(t.bi("达标＝覆盖率 ≥", "ok = covered share ≥") + f" {target * 100:g}%")
    if "approximate" in comm.columns and comm["approximate"].fillna(False).astype(bool).any():
        notes.append(t.bi("社区边界为推算", "approximate community boundaries"))
    if not t.cjk:
        notes.append("Chinese names omitted: no CJK font installed (e.g. fonts-noto-cjk)")
    lines.append(("; ".join(notes), 6.5, "normal", grey))
    return lines


def _attribution(fig, t: _Text, settings: dict) -> None:
    text = t.data(settings.get("attribution"))
    if not text:
        return
    pw, ph = fig.get_size_inches()
    size = 5.5
    fig.text(_MARGIN / pw, 0.12 / ph, _wrap(t.bi("数据", "Data:") + " " + text, size, pw - 2 * _MARGIN),
             ha="left", va="bottom", fontproperties=t.font(size), color="#555555", parse_math=False,
             linespacing=1.2, gid="attribution")


def town_numbers(analysis) -> pd.DataFrame:
    """The numbers :func:`town_bar_figure` draws: people not covered (``<category>_uncovered_population`` of the
    communities table, summed) per town (rows, worst first) and surveyed category (columns)."""
    return _town_table(analysis)


def _town_table(analysis) -> pd.DataFrame:
    """People not covered per town (rows, worst first) and surveyed category (columns)."""
    comm = analysis.communities
    categories = [c for c in _surveyed(analysis) if f"{c}_uncovered_population" in comm.columns]
    towns = comm["town"].astype(object).where(comm["town"].notna(), "未知街道") if "town" in comm.columns else \
        pd.Series("未知街道", index=comm.index, dtype=object)
    frame = pd.DataFrame({c: np.nan_to_num(_numbers(comm, f"{c}_uncovered_population")) for c in categories},
                         index=comm.index)
    frame["_town"] = towns.astype(str).to_numpy()
    table = frame.groupby("_town", sort=True)[categories].sum() if categories else \
        pd.DataFrame(index=pd.Index(sorted(frame["_town"].unique()), name="_town"))
    table["_total"] = table[categories].sum(axis=1) if categories else 0.0
    table["_name"] = table.index
    table = table.sort_values(["_total", "_name"], ascending=[False, True], kind="mergesort")
    return table.drop(columns=["_total", "_name"])


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


# ---------------------------------------------------------------------------------------------- writing


def _save(fig: Figure, stem: Path, formats, dpi: float, title: str) -> dict[str, Path]:
    written = {}
    for fmt in formats:
        path = stem.with_name(f"{stem.name}.{fmt}")
        metadata = dict(FORMATS[fmt])
        if fmt == "pdf":
            metadata["Title"] = title
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=fmt, dpi=dpi, metadata=metadata, facecolor="white")
        written[path.name] = path
    return written


def _title_of(fig: Figure) -> str:
    return next((text.get_text() for text in fig.texts if text.get_gid() == "title"), "")


def write_figures(analysis, out_dir, *, category: str | None = None, formats=("png", "pdf"), dpi: float = 200,
                  sites=None) -> dict[str, Path]:
    """Write ``{category}_map.{png,pdf}`` for ``category`` (every surveyed category when None) and
    ``town_uncovered.{png,pdf}`` into ``out_dir``, atomically and deterministically (no dates or software stamp:
    the same analysis gives byte-identical files). ``sites``: ``(study, selection)`` added to the map of its
    category. Returns the paths by file name."""
    formats = (formats,) if isinstance(formats, str) else tuple(dict.fromkeys(formats))
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise ValueError(f"figure formats {', '.join(unknown) or '(none)'}: use {', '.join(FORMATS)}")
    out = Path(out_dir)
    if category is not None:
        _check_category(analysis, category)
    categories = [category] if category is not None else _surveyed(analysis)
    written: dict[str, Path] = {}
    for c in categories:
        mine = sites if sites is not None and sites[0].check.category == c else None
        fig = category_figure(analysis, c, sites=mine)
        written.update(_save(fig, out / f"{c}_map", formats, dpi, _title_of(fig)))
    fig = town_bar_figure(analysis)
    written.update(_save(fig, out / "town_uncovered", formats, dpi, _title_of(fig)))
    return written
