"""The map's words and colours (outputs stage, map): escaping of text from the data, the numpy helpers that build
popup and tooltip HTML a column at a time, the community fill palette, the facility colours and the layer names.

Every text that comes from input data is HTML-escaped by :func:`esc`, which also neutralises the characters
that would be live inside folium's JavaScript template literals (`` ` ``, ``$``, ``\\``) and in Jinja (``{``,
``}``). Nothing here draws; the layer modules (:mod:`.communities`, :mod:`.facilities`, :mod:`.uncovered`) and the
legend (:mod:`.legend`) use it.
"""
from __future__ import annotations

import html
import math

import numpy as np
import pandas as pd

from ..standards import CATEGORIES, CATEGORY_SHORT_ZH, Check

#: Facility marker / radius colours: blues, purples and browns, kept apart from the green-amber-red fill.
CATEGORY_COLOURS: dict[str, str] = {
    "education": "#1f78b4",
    "health": "#e7298a",
    "community_service": "#6a3d9a",
    "elderly_care": "#8c510a",
    "commerce": "#01665e",
    "sports": "#3f4fbf",
    "canteen": "#525252",
}
OK_COLOUR = "#1a9850"
AMBER = "#f5a300"
NO_POPULATION_COLOUR = "#bdbdbd"
NOT_SURVEYED_COLOUR = "#f0f0f0"
_RED_LIGHT, _RED_DARK, _RED_ONE = "#ef3b2c", "#67000d", "#d7301f"
COMMUNITIES_LAYER = "社区 communities（按缺口类别数着色 / by categories short）"
TOWNS_LAYER = "街道/镇 streets & towns"
_JS_SAFE = str.maketrans({"`": "&#96;", "$": "&#36;", "\\": "&#92;", "{": "&#123;", "}": "&#125;"})


def esc(value) -> str:
    """HTML-escape text from input data; also defuse `` ` `` ``$`` ``\\`` (folium puts popups and tooltips in
    JavaScript template literals) and ``{`` ``}`` (branca re-parses MacroElement output as a Jinja template).
    None/NaN → empty string."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return ""
    return html.escape(str(value), quote=True).translate(_JS_SAFE)


def _objects(values) -> np.ndarray:
    """Any column or sequence as a numpy object array (Python scalars; missing values as NaN/None/NA)."""
    if isinstance(values, pd.Series):
        return values.to_numpy(dtype=object)
    return np.asarray(values, dtype=object)


def _esc_a(values) -> np.ndarray:
    """:func:`esc` of every value, as an object array (element-wise ``+`` then concatenates strings)."""
    values = _objects(values)
    out = np.empty(len(values), dtype=object)
    out[:] = [esc(v) for v in values.tolist()]
    return out


def _floats(values) -> np.ndarray:
    """Numbers as a float array; anything else NaN (``pd.to_numeric(errors="coerce")``)."""
    dtype = getattr(values, "dtype", None)
    if isinstance(dtype, np.dtype) and dtype.kind in "fiub":
        return np.asarray(values, dtype=float)
    series = values if isinstance(values, pd.Series) else pd.Series(_objects(values), dtype=object)
    return pd.to_numeric(series, errors="coerce").astype(float).to_numpy()


def _fmt(values, fmt: str = "{:,.0f}", scale: float = 1.0, missing: str = "—") -> np.ndarray:
    """Numbers formatted with ``fmt`` (after multiplying by ``scale``), ``missing`` for NaN; an object array."""
    numbers = _floats(values) * scale
    out = np.full(len(numbers), missing, dtype=object)
    present = ~np.isnan(numbers)
    out[present] = [fmt.format(v) for v in numbers[present].tolist()]
    return out


def _pick(condition, yes, no) -> np.ndarray:
    """``np.where`` for strings, as an object array."""
    return np.where(condition, yes, no).astype(object)


def _esc_s(series: pd.Series) -> pd.Series:
    return pd.Series(_esc_a(series), index=series.index, dtype=object)


def _num_s(series: pd.Series, fmt: str = "{:,.0f}", scale: float = 1.0, missing: str = "—") -> pd.Series:
    return pd.Series(_fmt(series, fmt, scale, missing), index=series.index, dtype=object)


def _col_a(frame: pd.DataFrame, name: str) -> np.ndarray:
    """A column as an object array, or NaN when the frame lacks it (e.g. a category column of a partial ledger)."""
    if name not in frame.columns:
        return np.full(len(frame), np.nan, dtype=object)
    return frame[name].to_numpy(dtype=object)


def _col_f(frame: pd.DataFrame, name: str) -> np.ndarray:
    """A column as floats (:func:`_floats`), or NaN when the frame lacks it."""
    return _floats(frame[name]) if name in frame.columns else np.full(len(frame), np.nan)


class _Table:
    """The columns of a frame as numpy arrays, each read from pandas once: a column read costs ~0.1 ms and the
    community layer, its popups and the panel use ~50 columns. Columns the frame lacks read as NaN, except
    ``required`` ones (KeyError)."""

    def __init__(self, frame: pd.DataFrame):
        self.frame, self.n = frame, len(frame)
        self._names = set(frame.columns)
        self._cache: dict[tuple[str, str], np.ndarray] = {}

    def __contains__(self, name: str) -> bool:
        return name in self._names

    def _read(self, kind: str, name: str, required: bool, read) -> np.ndarray:
        key = (kind, name)
        if key not in self._cache:
            if name in self._names or required:
                self._cache[key] = read(self.frame[name])
            else:
                self._cache[key] = np.full(self.n, np.nan, dtype=object if kind == "o" else float)
        return self._cache[key]

    def obj(self, name: str, required: bool = False) -> np.ndarray:
        return self._read("o", name, required, lambda s: s.to_numpy(dtype=object))

    def num(self, name: str, required: bool = False) -> np.ndarray:
        return self._read("f", name, required, _floats)


def _ramp(start: str, end: str, n: int) -> list[str]:
    a = np.array([int(start[i : i + 2], 16) for i in (1, 3, 5)], dtype=float)
    b = np.array([int(end[i : i + 2], 16) for i in (1, 3, 5)], dtype=float)
    return ["#" + "".join(f"{round(v):02x}" for v in a + (b - a) * t) for t in np.linspace(0.0, 1.0, n)]


def fill_palette(n_surveyed: int) -> list[str]:
    """Fill colour by number of categories short (list index): 0 green, 1 amber, 2… red shades darkening to
    ``n_surveyed``. With one surveyed category the map is two-colour: ok green, gap red."""
    if n_surveyed <= 0:
        return [OK_COLOUR]
    if n_surveyed == 1:
        return [OK_COLOUR, _RED_ONE]
    reds = [_RED_ONE] if n_surveyed == 2 else _ramp(_RED_LIGHT, _RED_DARK, n_surveyed - 1)
    return [OK_COLOUR, AMBER, *reds]


def _has_people_a(table: _Table) -> np.ndarray:
    return table.num("population", required=True) > 0  # NaN is not > 0


def _short_a(table: _Table) -> np.ndarray:
    short = table.num("n_categories_short", required=True)
    return np.where(np.isnan(short), 0.0, short).astype(int)


def _fill_a(table: _Table, n_surveyed: int) -> np.ndarray:
    palette = np.asarray(fill_palette(n_surveyed), dtype=object)
    colours = palette[_short_a(table).clip(0, len(palette) - 1)]
    # a category map leaves the count empty where the category was not surveyed (outside its survey extent)
    colours = _pick(np.isnan(table.num("n_categories_short", required=True)), NOT_SURVEYED_COLOUR, colours)
    return _pick(_has_people_a(table), colours, NO_POPULATION_COLOUR)


def community_fill(communities: pd.DataFrame, n_surveyed: int) -> pd.Series:
    """The fill colour of each community (vectorised): by ``n_categories_short``; grey without population."""
    return pd.Series(_fill_a(_Table(communities), n_surveyed), index=communities.index, dtype=object)


def _colour_key(n_surveyed: int) -> list[tuple[str, str]]:
    def label(n: int) -> str:
        if n == 0:
            return "全部达标 all surveyed categories ok" if n_surveyed > 1 else "达标 ok"
        if n_surveyed == 1:
            return "缺口 gap"
        return f"缺 {n} 类 {n} categor{'y' if n == 1 else 'ies'} short"

    key = [(colour, label(n)) for n, colour in enumerate(fill_palette(n_surveyed))]
    return key + [(NO_POPULATION_COLOUR, "无人口 no population")]


def _check_text(check: Check) -> str:
    radius = f"r={check.radius_m:g} m" if check.radius_m else "no radius"
    return f"{check.name_zh} {check.subcategory} {radius}"


def category_layer_name(category: str, checks: list[Check]) -> str:
    """E.g. ``教育 education — 小学 primary_school r=500 m`` (escaped: Leaflet shows layer names as HTML)."""
    applied = "; ".join(_check_text(c) for c in checks if c.category == category) or "no standard"
    return esc(f"{CATEGORY_SHORT_ZH.get(category, category)} {category} — {applied}")


def uncovered_layer_name(category: str) -> str:
    """The layer-control name of ``category``'s layer of people outside every facility's radius (HTML-escaped; the browser tests find layers by
    it)."""
    return esc(f"未覆盖人口 Uncovered population — {CATEGORY_SHORT_ZH.get(category, category)} {category}")


def catchment_layer_name(category: str) -> str:
    """The layer-control name of ``category``'s layer of walking catchments (on foot) (HTML-escaped; the browser tests find layers by
    it)."""
    return esc(f"步行服务范围 Walking catchments — {CATEGORY_SHORT_ZH.get(category, category)} {category}")


def worst_category(communities: pd.DataFrame, surveyed: list[str]) -> str | None:
    """The surveyed category that leaves the most people uncovered (the ledger's ``<category>_uncovered_population``
    summed over the communities surveyed for it); on a tie the first in :data:`CATEGORIES` order. The on-foot map
    shows this category's walking catchments and uncovered people when it opens; the others are in the layer
    control, off."""
    best, most = None, -1.0
    for category in surveyed:
        column = f"{category}_uncovered_population"
        total = float(pd.to_numeric(communities[column], errors="coerce").sum()) if column in communities else 0.0
        if total > most:
            best, most = category, total
    return best


def _surveyed(analysis) -> list[str]:
    return [c for c in CATEGORIES if c in set(analysis.surveyed)]


def _primary_radius(checks: list[Check], category: str) -> float | None:
    return next((c.radius_m for c in checks if c.category == category and c.radius_m), None)


#: the outline of a facility over its capacity, and the colour of people within reach of full facilities only
OVER_CAPACITY_RING = "#b2182b"
OVER_CAPACITY_COLOUR = "#e66101"


def over_capacity_layer_name(category: str) -> str:
    """The layer-control name of ``category``'s layer of people within reach whose facilities are full (HTML-escaped; the browser tests find layers by
    it)."""
    return esc(f"可达但超容量 Within reach, over capacity — {CATEGORY_SHORT_ZH.get(category, category)} {category}")


SITES_LAYER = "房源 candidate sites (选中 selected / 未选 not selected)"
