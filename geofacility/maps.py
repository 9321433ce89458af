"""The map: one HTML page (Leaflet through folium) that shows a district planner which communities are short of
which facilities, where the facilities are, how far they reach and who is left outside their reach.

Layers (toggled in the layer control): communities filled by the number of surveyed categories in ``gap``
(green 0, amber 1, red shades 2+; grey dashed when the community has no population), street/town outlines,
per surveyed category the uncovered demand points and the facilities with their service-radius circles. Fixed
overlays: a title, a legend (colour key, standards applied, categories not surveyed, boundary note, units,
attribution) and a panel ranking the ten worst-served communities (click one to zoom to it).

A category with more than :data:`MANY_POINTS` uncovered demand points is drawn aggregated
(:func:`uncovered_cells`): square grid cells in the analysis' metric CRS, of the smallest size in
:data:`CELL_SIZES_M` (100, 200, 250, 500 m, 1 km …) giving at most :data:`MANY_POINTS` cells, one dot per cell at the
population-weighted centroid of its points, sized by √people, its tooltip the uncovered people and homes in the
cell; the legend names the aggregated layers and the cell size, and such a layer starts switched off. At or below
the threshold every point is drawn as before. (A town of 17,500 homes: a 1.9 MB page instead of 12 MB.)

Every text that comes from input data is HTML-escaped by :func:`esc`, which also neutralises the characters
that would be live inside folium's JavaScript template literals (`` ` ``, ``$``, ``\\``) and in Jinja (``{``,
``}``). Maps are rendered by :func:`render_html`, which keeps branca from re-parsing each element's rendered output
as a new Jinja template (slow, and live code for any ``{{ }}`` in the data). Element ids are made deterministic
(:func:`stable_ids`), so the same :class:`~geofacility.pipeline.Analysis` always gives byte-identical HTML.
"""
from __future__ import annotations

import functools
import hashlib
import html
import json
import math
import sys
import threading
from contextlib import contextmanager
from pathlib import Path, PureWindowsPath
from urllib.parse import quote_plus
from typing import NamedTuple

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely
from branca.element import Element, MacroElement
from folium.template import Template
from folium.utilities import JsCode

from .atomic import atomic_path
from .capacity import facilities_with_load
from .standards import CATEGORIES, CATEGORY_SHORT_ZH, Check, label_zh

__all__ = [
    "build_map",
    "category_view",
    "BASEMAPS",
    "write_map",
    "esc",
    "fill_palette",
    "community_fill",
    "worst_communities",
    "community_properties",
    "uncovered_demand",
    "legend_totals",
    "legend_standard_totals",
    "uncovered_cells",
    "category_layer_name",
    "uncovered_layer_name",
    "catchment_layer_name",
    "worst_category",
    "stable_ids",
    "COMMUNITIES_LAYER",
    "TOWNS_LAYER",
]


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
#: Above this many uncovered demand points a category's "uncovered population" layer is drawn as grid cells
#: (:func:`uncovered_cells`, at most this many) and starts switched off.
MANY_POINTS = 2000
#: Grid cell sizes (metres in the analysis' metric CRS) tried, smallest first, when aggregating uncovered demand.
CELL_SIZES_M = (100.0, 200.0, 250.0, 500.0, 1_000.0, 2_000.0, 2_500.0, 5_000.0, 10_000.0, 20_000.0, 25_000.0,
                50_000.0, 100_000.0)
_NOT_SURVEYED = "未调查 not surveyed"
_STATUS_HTML = {
    "ok": '<span class="gf-ok">达标 ok</span>',
    "gap": '<span class="gf-gap">缺口 gap</span>',
    "not_surveyed": _NOT_SURVEYED,
}

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


# ---------------------------------------------------------------------------------------------- colours


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


# ---------------------------------------------------------------------------------------------- names


def _check_text(check: Check) -> str:
    radius = f"r={check.radius_m:g} m" if check.radius_m else "no radius"
    return f"{check.name_zh} {check.subcategory} {radius}"


def category_layer_name(category: str, checks: list[Check]) -> str:
    """E.g. ``教育 education — 小学 primary_school r=500 m`` (escaped: Leaflet shows layer names as HTML)."""
    applied = "; ".join(_check_text(c) for c in checks if c.category == category) or "no standard"
    return esc(f"{CATEGORY_SHORT_ZH.get(category, category)} {category} — {applied}")


def uncovered_layer_name(category: str) -> str:
    return esc(f"未覆盖人口 Uncovered population — {CATEGORY_SHORT_ZH.get(category, category)} {category}")


def catchment_layer_name(category: str) -> str:
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


# ---------------------------------------------------------------------------------------------- geometry


@functools.lru_cache(maxsize=16)
def _to_wgs84(crs) -> pyproj.Transformer | None:
    """The transformer from ``crs`` to EPSG:4326 (what ``to_crs(4326)`` uses); None when ``crs`` is EPSG:4326."""
    crs = pyproj.CRS.from_user_input(crs)
    if crs.is_exact_same(pyproj.CRS.from_epsg(4326)):
        return None
    return pyproj.Transformer.from_crs(crs, 4326, always_xy=True)


def _lonlat(x: np.ndarray, y: np.ndarray, crs) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates in EPSG:4326, rounded to 1e-6° (≈0.1 m) to keep the page small."""
    transformer = _to_wgs84(crs)
    if transformer is not None and len(x):
        x, y = transformer.transform(x, y)
    return np.round(np.asarray(x, dtype=float), 6), np.round(np.asarray(y, dtype=float), 6)


def _wgs84_geometries(geoms: np.ndarray, crs) -> np.ndarray:
    return shapely.transform(geoms, lambda xy: np.column_stack(_lonlat(xy[:, 0], xy[:, 1], crs)))


def _wgs84(gdf: gpd.GeoDataFrame | None, crs) -> gpd.GeoDataFrame | None:
    """EPSG:4326 copy without empty geometries, coordinates rounded to 1e-6° (≈0.1 m) to keep the page small.
    ``crs``: that of ``gdf`` when it has none."""
    if gdf is None:
        return None
    geoms = np.asarray(gdf.geometry.values)
    keep = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    out = gdf if keep.all() else gdf[keep]
    rounded = _wgs84_geometries(geoms[keep], gdf.crs if gdf.crs is not None else crs)
    return out.set_geometry(gpd.GeoSeries(rounded, index=out.index, crs=4326))


def _json_values(values) -> list:
    """A column as JSON-ready Python values: numpy scalars unwrapped, NaN/None/NA as null (as pandas writes)."""
    return [None if v is None or v is pd.NA or (isinstance(v, float) and v != v) else v
            for v in np.asarray(values).tolist()]


def _point_geometries(lon: np.ndarray, lat: np.ndarray) -> list[dict]:
    return [{"type": "Point", "coordinates": xy} for xy in np.column_stack([lon, lat]).tolist()]


def _geometries(geoms: np.ndarray) -> list:
    """GeoJSON geometry dicts (None for missing geometries)."""
    geoms = np.asarray(geoms)
    if len(geoms) and (shapely.get_type_id(geoms) == 0).all() and not (shapely.is_empty(geoms)
                                                                        | shapely.has_z(geoms)).any():
        return _point_geometries(shapely.get_x(geoms), shapely.get_y(geoms))  # no JSON text on the way
    text = shapely.to_geojson(geoms)
    return json.loads("[" + ",".join("null" if g is None else g for g in text) + "]")  # one parse, not n


def _features(geometries: list, properties: dict) -> dict:
    """A FeatureCollection of ``geometries`` with ``properties`` (name → one value per feature) and ids 0…n-1
    (folium needs an identifier)."""
    names = list(properties)
    columns = [_json_values(properties[name]) for name in names]
    features = [{"id": str(i), "type": "Feature", "properties": dict(zip(names, values)), "geometry": geometry}
                for i, (geometry, *values) in enumerate(zip(geometries, *columns))]
    return {"type": "FeatureCollection", "features": features}


def _geojson(gdf: gpd.GeoDataFrame, columns: list[str]) -> dict:
    """A FeatureCollection of ``gdf`` with only ``columns`` as properties, read with pandas' JSON writer (numbers
    as pandas writes them) and ids 0…n-1."""
    if columns:
        table = pd.DataFrame({c: gdf[c].to_numpy() for c in columns})
        props = json.loads(table.to_json(orient="records", force_ascii=False, double_precision=15))
    else:
        props = [{} for _ in range(len(gdf))]
    features = [{"id": str(i), "type": "Feature", "properties": p, "geometry": g}
                for i, (p, g) in enumerate(zip(props, _geometries(np.asarray(gdf.geometry.values))))]
    return {"type": "FeatureCollection", "features": features}


def _latlon_bounds(gdf: gpd.GeoDataFrame) -> list[list[float]]:
    minx, miny, maxx, maxy = gdf.total_bounds
    return [[float(miny), float(minx)], [float(maxy), float(maxx)]]


def _study_bounds(*frames: gpd.GeoDataFrame | None) -> list[list[float]] | None:
    """Bounds of the communities; when there are none, of whatever else has geometry."""
    for frame in frames:
        if frame is not None and len(frame):
            return _latlon_bounds(frame)
    return None


# ---------------------------------------------------------------------------------------------- properties


def _short_names(table: _Table, surveyed: list[str]) -> np.ndarray:
    names = np.full(table.n, "", dtype=object)
    for c in surveyed:
        names = names + _pick(table.obj(f"{c}_status") == "gap", CATEGORY_SHORT_ZH[c] + "、", "")
    return _objects([n.rstrip("、") for n in names.tolist()])


def _uncovered_total(table: _Table, surveyed: list[str]) -> np.ndarray:
    total = np.zeros(table.n)
    for c in surveyed:
        people = table.num(f"{c}_uncovered_population")
        total = total + np.where(np.isnan(people), 0.0, people)
    return total


def _short_status(table: _Table, surveyed: list[str]) -> np.ndarray:
    short = _short_a(table)
    text = "缺 " + short.astype(str).astype(object) + " 类 short: " + _short_names(table, surveyed)
    text = _pick(short > 0, text, "达标 ok" if surveyed else "无调查数据 no facility data")
    return _pick(_has_people_a(table), text, "无人口 no population")


def _status_html(values: np.ndarray) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    out[:] = [_STATUS_HTML[v] if isinstance(v, str) and v in _STATUS_HTML else esc(v)
              for v in values.tolist()]
    return out


def _popup_rows(table: _Table, surveyed: list[str]) -> np.ndarray:
    """One table row per surveyed category: status, covered %, uncovered people, count required / current,
    floor-area gap."""
    rows = np.full(table.n, "", dtype=object)
    for c in surveyed:
        rows = (
            rows
            + f"<tr><td>{CATEGORY_SHORT_ZH[c]}</td><td>"
            + _status_html(table.obj(f"{c}_status"))
            + "</td><td>"
            + _fmt(table.num(f"{c}_covered_share"), "{:.0f}%", 100.0)
            + _pick(np.isnan(table.num(f"{c}_radius_m")) & ~np.isnan(table.num(f"{c}_covered_share")),
                    "（无半径，按社区达标 no radius: by the rule）", "")
            + "</td><td>"
            + _fmt(table.num(f"{c}_uncovered_population"))
            + "</td><td>"
            + _fmt(table.num(f"{c}_required_count"))
            + " / "
            + _fmt(table.num(f"{c}_current_count"))
            + "</td><td>"
            + _fmt(table.num(f"{c}_gap_m2"), "{:,.0f} m²")
            + "</td></tr>"
        )
    return rows


def _popup_frame(surveyed: list[str]) -> tuple[str, str]:
    """The parts every community popup shares: the table head, and the not-surveyed rows with the closing tags.
    The map sends them once (in JavaScript) instead of once per community."""
    head = (
        '<table class="gf-t"><tr><th>类别 category</th><th>状态 status</th><th>覆盖 covered</th>'
        "<th>未覆盖人口 uncovered</th><th>数量 需/现 count req./cur.</th><th>面积缺口 floor-area gap</th></tr>"
    )
    missing = "".join(
        f'<tr class="gf-ns"><td>{CATEGORY_SHORT_ZH[c]}</td><td colspan="5">{_NOT_SURVEYED}</td></tr>'
        for c in CATEGORIES
        if c not in surveyed
    )
    return head, missing + "</table></div>"


def _community_props(table: _Table, surveyed: list[str]) -> dict[str, np.ndarray]:
    """The columns :func:`community_properties` adds, as arrays."""
    name, town = _esc_a(table.obj("community", required=True)), _esc_a(table.obj("town", required=True))
    status = _short_status(table, surveyed)
    if "approximate" in table:
        approx = table.frame["approximate"].fillna(False).astype(bool).to_numpy()
    else:
        approx = np.zeros(table.n, dtype=bool)
    note = _pick(approx, '<div class="gf-note">边界为推算 approximate boundary</div>', "")
    head = (
        '<div class="gf-pop"><b>' + name + "</b> · " + town
        + "<br>人口 population " + _fmt(table.num("population", required=True))
        + " · 户数 households " + _fmt(table.num("households"))
        + "<br>" + status + note
    )
    rows = _popup_rows(table, surveyed)
    table_head, tail = _popup_frame(surveyed)
    return {
        "fill": _fill_a(table, len(surveyed)),
        "nopop": ~_has_people_a(table),
        "tip": "<b>" + name + "</b> · " + town + "<br>" + status,
        "pop_head": head,
        "pop_rows": rows,
        "popup": head + table_head + rows + tail,
    }


def community_properties(communities: gpd.GeoDataFrame, surveyed: list[str]) -> gpd.GeoDataFrame:
    """The communities with the map's per-feature properties (vectorised): ``fill``, ``nopop``, ``tip`` (tooltip
    HTML), ``popup`` (the ledger row as an HTML table) and its per-community parts ``pop_head`` and
    ``pop_rows``. All text from the data is escaped."""
    return communities.assign(**_community_props(_Table(communities), surveyed))


def _worst(table: _Table, surveyed: list[str], n: int = 10) -> dict[str, np.ndarray]:
    """:func:`worst_communities` as row positions (``pos``) and their ``_uncovered``, ``_short``, ``_names``."""
    uncovered, short = _uncovered_total(table, surveyed), _short_a(table)
    keys = pd.DataFrame({"_short": short, "_uncovered": uncovered, "community_id": table.obj("community_id"),
                         "_pos": np.arange(table.n)})
    keys = keys[_has_people_a(table) & ((short > 0) | (uncovered > 0))]
    keys = keys.sort_values(["_short", "_uncovered", "community_id"], ascending=[False, False, True],
                            kind="mergesort").head(n)
    pos = keys["_pos"].to_numpy()
    return {"pos": pos, "_uncovered": uncovered[pos], "_short": short[pos],
            "_names": _short_names(table, surveyed)[pos]}


def worst_communities(communities: pd.DataFrame, surveyed: list[str], n: int = 10) -> pd.DataFrame:
    """The ``n`` worst-served populated communities: most categories short, then most uncovered population
    (summed over surveyed categories), then ``community_id``; only those with a gap or uncovered people."""
    worst = _worst(_Table(communities), surveyed, n)
    return communities.iloc[worst.pop("pos")].assign(**worst)


# ---------------------------------------------------------------------------------------------- overlays


class _Overlay(MacroElement):
    """Fixed HTML on the map page (title, legend, panel); ``zoom`` adds click-to-zoom for ``[data-b]`` items."""

    _template = Template(
        """
        {% macro header(this, kwargs) %}{{ this.css }}{% endmacro %}
        {% macro html(this, kwargs) %}{{ this.content }}{% endmacro %}
        {% macro script(this, kwargs) %}
        {%- if this.zoom %}
        document.querySelectorAll('#{{ this.dom_id }} [data-b]').forEach(function (el) {
            el.addEventListener('click', function () {
                {{ this._parent.get_name() }}.fitBounds(JSON.parse(el.getAttribute('data-b')));
            });
        });
        {%- endif %}
        {% endmacro %}
        """
    )

    def __init__(self, content: str, dom_id: str, css: str = "", zoom: bool = False):
        super().__init__()
        self._name = "GfOverlay"
        self.content, self.dom_id, self.css, self.zoom = content, dom_id, css, zoom


_CSS = """<style>
.gf-box{position:fixed;z-index:1000;background:rgba(255,255,255,.94);border-radius:6px;
  box-shadow:0 1px 5px rgba(0,0,0,.4);font:12px/1.4 "Helvetica Neue",Arial,"PingFang SC","Microsoft YaHei",sans-serif;
  padding:6px 10px;color:#222}
.gf-box summary{font-weight:bold;cursor:pointer}
#gf-title{top:10px;left:50%;transform:translateX(-50%);font-size:15px;font-weight:bold;text-align:center;
  max-width:50vw}
#gf-legend{bottom:24px;left:10px;max-width:340px;max-height:55vh;overflow:auto}
#gf-panel{bottom:24px;right:10px;max-width:320px;max-height:40vh;overflow:auto}
#gf-panel li{cursor:pointer;margin-bottom:3px}
#gf-panel li:hover{background:#fee}
.gf-sw{display:inline-block;width:14px;height:11px;margin-right:5px;vertical-align:middle;border:1px solid #fff;
  outline:1px solid #aaa}
.gf-dot{display:inline-block;width:10px;height:10px;border-radius:50%;margin-right:5px;vertical-align:middle}
.gf-nopop{background-image:repeating-linear-gradient(45deg,#999 0 2px,transparent 2px 5px)}
.gf-note{color:#8a4b00;margin-top:3px}
.gf-small{color:#555;font-size:11px}
.gf-pop{font-size:12px}
.gf-t{border-collapse:collapse;margin-top:4px}
.gf-t th,.gf-t td{border:1px solid #ddd;padding:2px 5px;text-align:right;white-space:nowrap}
.gf-t th:first-child,.gf-t td:first-child{text-align:left}
.gf-ns td{color:#888}
.gf-ok{color:#1a7f3c;font-weight:bold}
.gf-gap{color:#b30000;font-weight:bold}
</style>"""


def _legend_html(analysis, surveyed: list[str], communities: pd.DataFrame,
                 cell_sizes: dict[str, float] | None = None, basemap_note: str = "", capacity: bool = False) -> str:
    settings = analysis.settings or {}
    study = esc(settings.get("study") or "")
    lines = [
        f'<details open><summary>{study}{" · " if study else ""}社区配套设施缺口 / community facility gaps</summary>',
        '<div><b>社区填色 community fill</b>（已调查类别中缺口的类别数 / surveyed categories short）</div>'
        if not settings.get("category_map") else
        '<div><b>社区填色 community fill</b>（本类别是否达标 / this category: ok or gap）</div>',
    ]
    key = _colour_key(len(surveyed))
    if "n_categories_short" in communities and communities["n_categories_short"].isna().any():
        key.append((NOT_SURVEYED_COLOUR, "未调查 not surveyed（调查范围外 outside the survey extent）"))
    for colour, label in key:
        hatch = " gf-nopop" if colour == NO_POPULATION_COLOUR else ""
        lines.append(f'<div><span class="gf-sw{hatch}" style="background-color:{colour}"></span>{label}</div>')
    lines.append("<div><b>标准与服务半径 standards &amp; service radius</b></div>")
    from .coverage import NO_RADIUS_MEANING_EN, NO_RADIUS_MEANING_ZH, category_totals
    from .per_standard import standard_totals

    for c in surveyed:
        labels = "；".join(esc(label_zh(ch, key=True)) for ch in analysis.checks if ch.category == c) or "—"
        lines.append(
            f'<div><span class="gf-dot" style="background:{CATEGORY_COLOURS[c]}"></span>'
            f"{CATEGORY_SHORT_ZH[c]} {c}: {labels}</div>"
        )
        totals = category_totals(communities, c)
        meaning = f"（{NO_RADIUS_MEANING_ZH} / {NO_RADIUS_MEANING_EN}）" if totals["meaning"] else ""
        lines.append(f'<div class="gf-small gf-totals" data-category="{c}">{legend_totals(totals)}{meaning}</div>')
        per_standard = legend_standard_totals(standard_totals(communities, c))
        if per_standard:  # several standards: the category's line is the weakest per community; each one here
            lines.append(f'<div class="gf-small gf-standards" data-category="{c}">{per_standard}</div>')
    missing = [c for c in CATEGORIES if c not in surveyed]
    listed = "、".join(f"{CATEGORY_SHORT_ZH[c]} {c}" for c in missing) or "无 none"
    if not settings.get("category_map"):  # a category map is about its category only
        lines.append(f"<div><b>未调查 not surveyed</b>（无设施数据，不计为缺口 / no facility data, not counted as "
                     f"gaps）: {listed}</div>")
    lines.append(
        '<div><span class="gf-dot" style="background:#000;opacity:.5"></span>'
        "未覆盖人口（服务半径外） uncovered population, out of reach（点大小 ∝ √人口 / dot size ∝ √people）</div>"
    )
    if capacity:
        lines.append(
            f'<div><span class="gf-dot" style="background:{OVER_CAPACITY_COLOUR}"></span>可达但超容量 within reach, '
            "but the facilities in reach are full（容量内可服务 = 其余人口 / served = the rest）</div>"
            f'<div><span class="gf-dot" style="background:#fff;border:2px solid {OVER_CAPACITY_RING}"></span>'
            "需求超过容量的设施 facility with more people in reach than its capacity（点击查看容量与负荷 / click for "
            "capacity and load）</div>"
        )
    for size in sorted(set((cell_sizes or {}).values())):
        names = "、".join(f"{CATEGORY_SHORT_ZH[c]} {c}" for c in surveyed if (cell_sizes or {}).get(c) == size)
        text = _cell_size_text(size)
        lines.append(
            f'<div class="gf-small">{names}: 未覆盖人口按 {text} 网格汇总，每格一点（人口加权中心）/ uncovered '
            f"population aggregated to {text} grid cells, one dot per cell at its population-weighted centre</div>"
        )
    approximate = communities["approximate"].fillna(False).astype(bool).any() if "approximate" in communities else False
    if approximate:
        lines.append('<div class="gf-note">社区边界为推算（approximate community boundaries）</div>')
    notes = ["单位：米、平方米 / units: metres, m²"]
    if settings.get("distance") == "network":
        notes.append("距离 distance: 步行网络 walking network; 服务范围 service areas = 半径内可达街道两侧 "
                     f"{esc(settings.get('buffer_m', ''))} m / streets reachable within the radius, buffered")
        worst = worst_category(communities, surveyed)
        if worst is not None and len(surveyed) > 1:
            notes.append(f"打开时显示未覆盖人口最多的类别（{CATEGORY_SHORT_ZH[worst]}）的步行服务范围，其余类别在图层"
                         f"控制中勾选 / shown on opening: the walking catchments of the category with the most "
                         f"people uncovered ({worst}); tick the others in the layer control")
    elif settings.get("distance"):
        notes.append(f"距离 distance: {esc(settings['distance'])}（直线 straight line; circles = radius）")
    target = settings.get("coverage_target")
    if isinstance(target, (int, float)) and not isinstance(target, bool) and not math.isnan(target):
        notes.append(f"覆盖率目标 coverage target {target * 100:g}%")
    lines.append(f'<div class="gf-small">{" · ".join(notes)}</div>')
    if basemap_note:
        lines.append(f'<div class="gf-small gf-basemap">{esc(basemap_note)}</div>')
    if settings.get("attribution"):
        lines.append(f'<div class="gf-small">数据 data: {esc(settings["attribution"])}</div>')
    return '<div id="gf-legend" class="gf-box">' + "".join(lines) + "</details></div>"


def _panel_html(communities_wgs84: gpd.GeoDataFrame, surveyed: list[str], table: _Table | None = None) -> str:
    table = _Table(communities_wgs84) if table is None else table
    worst = _worst(table, surveyed)
    pos, names = worst["pos"], worst["_names"]
    bounds = shapely.bounds(np.asarray(communities_wgs84.geometry.values)[pos])  # minx, miny, maxx, maxy
    items = (
        '<li class="gf-rank" data-b="[['
        + _fmt(bounds[:, 1], "{:.6f}") + "," + _fmt(bounds[:, 0], "{:.6f}") + "],["
        + _fmt(bounds[:, 3], "{:.6f}") + "," + _fmt(bounds[:, 2], "{:.6f}") + ']]"><b>'
        + _esc_a(table.obj("community", required=True)[pos]) + "</b> · "
        + _esc_a(table.obj("town", required=True)[pos])
        + "<br>缺 " + worst["_short"].astype(str).astype(object) + " 类 short"
        + _pick(names != "", ": " + names.astype(str).astype(object), "")
        + " · 人口 population " + _fmt(table.num("population", required=True)[pos]) + " 人</li>"
    )
    body = f"<ol>{''.join(items)}</ol>" if len(pos) else "<div>无缺口 no gaps</div>"
    return (
        '<div id="gf-panel" class="gf-box"><details open><summary>缺口最严重的社区 / worst-served communities'
        f"（前 {len(pos)} / top {len(pos)}）</summary>"
        '<div class="gf-small">按缺口类别数、各类未覆盖人口之和排序；点击定位 / ranked by categories short, then '
        "people uncovered summed over categories; click to zoom</div>" + body + "</details></div>"
    )


def _title_html(analysis) -> str:
    study = esc((analysis.settings or {}).get("study") or "")
    return (
        f'<div id="gf-title" class="gf-box">{study}{"<br>" if study else ""}'
        "社区配套设施缺口 / community facility gaps</div>"
    )


# ---------------------------------------------------------------------------------------------- layers


def _js_literal(text: str) -> str:
    """A JavaScript string literal of our own constant text, safe inside <script> and branca's Jinja re-parse."""
    literal = json.dumps(text, ensure_ascii=False)
    for char in "<>&'{}":
        literal = literal.replace(char, f"\\u{ord(char):04x}")
    return literal


def _communities_layer(communities: gpd.GeoDataFrame, surveyed: list[str],
                       table: _Table | None = None) -> folium.GeoJson:
    table = _Table(communities) if table is None else table
    props = _community_props(table, surveyed)
    table_head, tail = _popup_frame(surveyed)
    columns = {"community_id": table.obj("community_id", required=True),
               **{k: props[k] for k in ("fill", "nopop", "tip", "pop_head", "pop_rows")}}
    return folium.GeoJson(
        _features(_geometries(communities.geometry.values), columns),
        name=COMMUNITIES_LAYER,
        style=JsCode(
            "function (f) { var p = f.properties; return p.nopop"
            " ? {fillColor: p.fill, fillOpacity: 0.45, color: '#777', weight: 1, dashArray: '4 3'}"
            " : {fillColor: p.fill, fillOpacity: 0.72, color: '#ffffff', weight: 1}; }"
        ),
        highlight_function=lambda feature: {"weight": 3, "color": "#222222", "dashArray": ""},
        tooltip=folium.GeoJsonTooltip(fields=["tip"], labels=False, sticky=True),
        on_each_feature=JsCode(
            "function (f, layer) { var p = f.properties; layer.bindPopup(function () { return p.pop_head + "
            f"{_js_literal(table_head)} + p.pop_rows + {_js_literal(tail)}; }}, {{maxWidth: 640}}); }}"
        ),
    )


def _towns_layer(towns: gpd.GeoDataFrame) -> folium.GeoJson:
    tip = "<b>" + _esc_a(towns["town"]) + "</b>"
    if "population" in towns.columns:
        pop = _floats(towns["population"])
        tip = tip + _pick(~np.isnan(pop), "<br>人口 population " + _fmt(pop), "")
    return folium.GeoJson(
        _features(_geometries(towns.geometry.values), {"tip": tip}),
        name=TOWNS_LAYER,
        style_function=lambda feature: {"color": "#222222", "weight": 2.5, "opacity": 0.9, "fill": False},
        tooltip=folium.GeoJsonTooltip(fields=["tip"], labels=False, sticky=True),
    )


class _Facilities(NamedTuple):
    """The facilities (EPSG:4326) as the map draws them: one entry per facility."""

    category: np.ndarray
    subcategory: np.ndarray
    geometries: list
    tip: np.ndarray
    popup: np.ndarray
    #: marker outline: white, or red for a facility over its capacity (capacity split computed)
    ring: np.ndarray | None = None


@functools.lru_cache(maxsize=1)
def _subcategory_names() -> dict[str, str]:
    """The Chinese name of each built-in subcategory key (kindergarten → 幼儿园)."""
    from .standards import load_standards

    table = load_standards()
    return dict(zip(table["subcategory"], table["name_zh"]))


def _subcategory_text(keys: np.ndarray) -> np.ndarray:
    """A facility's type as its popup says it: the Chinese name, then the key (``幼儿园 kindergarten``); a key of no
    built-in standard as it is."""
    keys = pd.Series(keys, dtype=object)
    zh = keys.map(_subcategory_names())
    return np.where(zh.notna(), zh.astype(str) + " " + keys.astype(str), keys).astype(object)


def _facility_data(facilities: gpd.GeoDataFrame) -> _Facilities:
    name = _esc_a(_col_a(facilities, "name"))
    sub = _esc_a(_subcategory_text(_col_a(facilities, "subcategory")))
    # the file's name, not its path: a map is shared, and the same data drawn from another folder draws the same map
    source = _esc_a(pd.Series(_col_a(facilities, "source_file"), dtype=object)
                    .map(lambda v: PureWindowsPath(v).name if isinstance(v, str) else v).to_numpy(dtype=object))
    row = _fmt(_col_f(facilities, "source_row"), "{:.0f}", missing="")
    popup = (
        '<div class="gf-pop"><b>' + name + "</b><br>类型 subcategory: " + _pick(sub != "", sub, "—")
        + "<br>建筑面积 floor area: " + _fmt(_col_f(facilities, "floor_area_m2"), "{:,.0f} m²")
        + _capacity_html(facilities)
        + _pick(source != "", '<br><span class="gf-small">来源 source: ' + source + " " + row + "</span>", "")
        + "</div>"
    )
    full = _oversubscribed(facilities)
    return _Facilities(
        category=_col_a(facilities, "category"),
        subcategory=_col_a(facilities, "subcategory"),
        geometries=_geometries(facilities.geometry.values),
        tip=_pick(name != "", name, "—") + _pick(full, " · 需求超过容量 over capacity", ""),
        popup=popup,
        ring=_pick(full, OVER_CAPACITY_RING, "#ffffff"),
    )


def _oversubscribed(facilities: pd.DataFrame) -> np.ndarray:
    """Facilities with more people within their radius than their capacity (whatever the allocation method)."""
    if "load" not in facilities.columns:
        return np.zeros(len(facilities), dtype=bool)
    return _col_f(facilities, "demand_in_reach") > _col_f(facilities, "capacity_residents") * (1 + 1e-9)


#: the outline of a facility over its capacity, and the colour of people within reach of full facilities only
OVER_CAPACITY_RING = "#b2182b"
OVER_CAPACITY_COLOUR = "#e66101"
_SOURCE_ZH = {"data": "数据 data", "floor area": "按面积 from floor area", "standard": "按标准 from the standard"}


def _capacity_html(facilities: pd.DataFrame) -> np.ndarray:
    """Popup lines of a facility's capacity and load, where the capacity split was computed."""
    if "load" not in facilities.columns:
        return np.full(len(facilities), "", dtype=object)
    capacity = _col_f(facilities, "capacity_residents")
    load = _col_f(facilities, "load")
    source = np.array([_SOURCE_ZH.get(v, "") for v in _col_a(facilities, "capacity_source").tolist()], dtype=object)
    text = ("<br>容量 capacity: " + _fmt(capacity) + " 人 residents（" + source + "）"
            + "<br>半径内需求 demand in reach: " + _fmt(_col_f(facilities, "demand_in_reach")) + " 人"
            + "<br>负荷 load: " + _fmt(load, "{:.0%}")
            + _pick(_oversubscribed(facilities), ' <b style="color:' + OVER_CAPACITY_RING + '">需求超过容量 over '
                                                 'capacity</b>', ""))
    return _pick(np.isfinite(load), text, "")


def _facility_radius(subcategory: np.ndarray, checks: list[Check]) -> np.ndarray:
    """The radius of the check (of the facility's category: ``checks``) whose subcategory the facility has, else
    that of the category's default check — the one such facilities count for — else its first radius."""
    by_sub = {c.subcategory: c.radius_m for c in checks if c.radius_m}
    primary = next((c.radius_m for c in sorted(checks, key=lambda c: not c.is_default) if c.radius_m), np.nan)
    radius = np.array([by_sub.get(v, np.nan) for v in subcategory.tolist()], dtype=float)
    return np.where(np.isnan(radius), primary, radius)


def _catchment_layer(category: str, areas: gpd.GeoDataFrame, show: bool) -> folium.FeatureGroup | None:
    """The walking catchments of one category's facilities (``areas``, EPSG:4326), a layer of their own: drawn
    for every category at once they cover each other, so only the worst category's starts shown. None when the
    category has no catchment (no facility)."""
    colour = CATEGORY_COLOURS[category]
    catchments = areas[(areas["category"] == category) & (areas["kind"] == "facility")]
    if not len(catchments):
        return None
    group = folium.FeatureGroup(name=catchment_layer_name(category), show=show)
    folium.GeoJson(
        _geojson(catchments.assign(radius_m=catchments["radius_m"].astype(float)), ["radius_m"]),
        style_function=lambda feature, c=colour: {"color": c, "weight": 1, "opacity": 0.6,
                                                  "fillColor": c, "fillOpacity": 0.12, "interactive": False},
        control=False,
    ).add_to(group)
    return group


def _category_layer(category: str, facilities: _Facilities, checks: list[Check],
                    areas: gpd.GeoDataFrame | None = None) -> folium.FeatureGroup:
    """Facilities of one category with their service radius circles; with ``areas`` (distances measured on a
    network) no circles: the walking catchments are :func:`_catchment_layer`'s."""
    colour = CATEGORY_COLOURS[category]
    group = folium.FeatureGroup(name=category_layer_name(category, checks), show=True)
    mine = np.flatnonzero(facilities.category == category)
    if not len(mine):
        return group
    geometries = facilities.geometries
    if areas is not None:
        radius = np.full(len(mine), np.nan)  # no circles
    else:
        radius = _facility_radius(facilities.subcategory[mine], [c for c in checks if c.category == category])
    for r in np.unique(radius[~np.isnan(radius)]).tolist():
        these = mine[radius == r]
        folium.GeoJson(
            _features([geometries[i] for i in these], {"radius_m": np.full(len(these), r)}),
            marker=folium.Circle(radius=float(r), color=colour, weight=1, opacity=0.6,
                                 fill_color=colour, fill_opacity=0.08),
            style=JsCode("function (f) { return {interactive: false}; }"),
            control=False,
        ).add_to(group)
    folium.GeoJson(
        _features([geometries[i] for i in mine], {"tip": facilities.tip[mine], "popup": facilities.popup[mine],
                                                  **({} if facilities.ring is None else
                                                     {"ring": facilities.ring[mine]})}),
        marker=folium.CircleMarker(radius=6, color="#ffffff", weight=1.5, fill_color=colour, fill_opacity=0.95),
        **({} if facilities.ring is None or not (facilities.ring[mine] != "#ffffff").any() else {"style": JsCode(
            "function (f) { return f.properties.ring === '#ffffff' ? {} : {color: f.properties.ring, weight: 3}; }")}),
        tooltip=folium.GeoJsonTooltip(fields=["tip"], labels=False),
        popup=folium.GeoJsonPopup(fields=["popup"], labels=False, max_width=360),
        control=False,
    ).add_to(group)
    return group


def legend_totals(totals: dict) -> str:
    """A category's line of numbers in the map legend, from :func:`geofacility.coverage.category_totals`:
    ``未覆盖 397,427 / 1,314,427 人 not covered · 缺口社区 186 / 264 communities short`` (and the people served
    within capacity where the split was computed)."""
    if not totals["surveyed"]:
        return "无已调查社区（调查范围外） no community surveyed (outside the survey extent)"
    text = (f"未覆盖 {totals['not_covered']:,.0f} / {totals['population']:,.0f} 人 not covered · 缺口社区 "
            f"{totals['communities_short']} / {totals['communities_surveyed']} communities short")
    if not math.isnan(totals["served"]) and totals["has_radius"]:
        text += f" · 容量内可服务 {totals['served']:,.0f} 人 served within capacity"
    return text


def legend_standard_totals(per_standard: list[dict]) -> str:
    """Per standard of a category with several (:func:`geofacility.per_standard.standard_totals`), the people not
    covered by it and the communities short of it: ``按标准 by standard：幼儿园 未覆盖 48,611 / 52,500 人，缺口社区 9；
    小学 …``; '' for a category with one standard."""
    if not per_standard:
        return ""
    return "按标准 by standard：" + "；".join(
        f"{esc(t['name'])} 未覆盖 {t['not_covered']:,.0f} / {t['population']:,.0f} 人，缺口社区 {t['communities_short']}"
        for t in per_standard)


def _uncovered_masks(analysis, categories: list[str]) -> dict[str, np.ndarray]:
    """Per category, which demand points :func:`uncovered_demand` returns (the shared work done once)."""
    demand = analysis.demand
    masks = {c: np.zeros(len(demand), dtype=bool) for c in categories}
    measured = [c for c in categories if f"dist_{c}_m" in demand.columns]
    if not measured:
        return masks
    communities = analysis.communities.drop_duplicates("community_id")
    row = pd.Index(communities["community_id"]).get_indexer(demand["community_id"])  # -1: no such community
    has_weight = _floats(demand["weight"]) > 0  # NaN is not
    for category in measured:
        column = f"dist_{category}_m"
        by_community = np.append(_col_f(communities, f"{category}_radius_m"), np.nan)  # [-1] → NaN
        radius = by_community[row]
        radius = np.where(np.isnan(radius), _primary_radius(analysis.checks, category) or np.nan, radius)
        masks[category] = (_floats(demand[column]) > radius) & has_weight
    return masks


def uncovered_demand(analysis, category: str) -> gpd.GeoDataFrame:
    """Demand points farther than the service radius from every facility of ``category``: the radius applied to
    the point's community (``<category>_radius_m``), else the category's first check radius. Empty when the
    category has no radius."""
    return analysis.demand[_uncovered_masks(analysis, [category])[category]]


def _cells(x: np.ndarray, y: np.ndarray, weight: np.ndarray, max_cells: int) -> tuple[np.ndarray, ...]:
    """:func:`uncovered_cells` on coordinate arrays (finite): centroid x and y, people, homes, and the cell size."""
    size, key, inverse = CELL_SIZES_M[-1], np.zeros(0, np.int64), np.zeros(0, np.intp)
    ix = iy = np.zeros(0, np.int64)
    for size in CELL_SIZES_M:
        if not len(x):
            break
        ix, iy = np.floor(x / size).astype(np.int64), np.floor(y / size).astype(np.int64)
        column, row = ix - ix.min(), iy - iy.min()
        key, inverse = np.unique(column * (int(row.max()) + 1) + row, return_inverse=True)
        if len(key) <= max_cells:
            break
    inverse = inverse.reshape(-1)
    n = len(key)
    homes = np.bincount(inverse, minlength=n)
    people = np.bincount(inverse, weights=weight, minlength=n)
    # centroids as offsets from each cell's south-west corner, which keeps the sums precise
    corner_x, corner_y = np.zeros(n), np.zeros(n)
    corner_x[inverse], corner_y[inverse] = ix * size, iy * size
    dx, dy = x - corner_x[inverse], y - corner_y[inverse]
    weighted = people > 0  # else the plain centroid
    total = np.where(weighted, people, np.maximum(homes, 1))
    w = np.where(weighted[inverse], weight, 1.0)
    cx = corner_x + np.bincount(inverse, weights=w * dx, minlength=n) / total
    cy = corner_y + np.bincount(inverse, weights=w * dy, minlength=n) / total
    order = np.lexsort((key, -people))  # most people first (drawn below the small ones), then by cell
    return cx[order], cy[order], people[order], homes[order], float(size)


def uncovered_cells(points: gpd.GeoDataFrame, max_cells: int | None = None) -> tuple[gpd.GeoDataFrame, float]:
    """Demand points aggregated into square grid cells of the points' (metric) CRS, for a lighter map.

    The cell size is the smallest of :data:`CELL_SIZES_M` that gives at most ``max_cells`` (default
    :data:`MANY_POINTS`) non-empty cells (the largest when none does); cells are aligned to the CRS origin. Returns
    one row per cell — ``people`` (summed ``weight``), ``homes`` (number of points), geometry the weighted centroid
    of its points (the plain centroid when they weigh nothing) — most people first, then by cell (west→east, then
    south→north); and the cell size. Points without coordinates are left out. Vectorised and deterministic."""
    geoms = np.asarray(points.geometry.values)
    x, y = shapely.get_x(geoms), shapely.get_y(geoms)
    weight = _floats(points["weight"])
    keep = np.isfinite(x) & np.isfinite(y)
    weight = np.where(np.isnan(weight[keep]), 0.0, weight[keep])
    cx, cy, people, homes, size = _cells(x[keep], y[keep], weight, MANY_POINTS if max_cells is None else max_cells)
    cells = gpd.GeoDataFrame({"people": people, "homes": homes.astype(np.int64)},
                             geometry=gpd.points_from_xy(cx, cy), crs=points.crs)
    return cells, size


def _cell_size_text(size: float) -> str:
    return f"{size:,.0f} m" if size < 1000 else f"{size / 1000:g} km"


def _uncovered_points_props(weight: np.ndarray, dist: np.ndarray, category: str) -> dict[str, np.ndarray]:
    """Dot radius (px, ∝ √people, 2–12) and tooltip of single uncovered demand points."""
    root = np.sqrt(weight)
    px = np.round(2.0 + 10.0 * root / max(float(root.max(initial=0.0)), 1e-9), 1)
    far = _pick(np.isfinite(dist), _fmt(dist, "{:,.0f} m"), "无设施 no facility")
    return {"r": px, "tip": _fmt(weight) + " 人 people · 最近 nearest " + CATEGORY_SHORT_ZH[category] + " " + far}


def _uncovered_cells_props(people: np.ndarray, homes: np.ndarray, cell_m: float) -> dict[str, np.ndarray]:
    """Dot radius (px, ∝ √people, clipped to 3–12) and tooltip of grid cells of uncovered demand."""
    px = np.round(np.clip(12.0 * np.sqrt(people / max(float(people.max(initial=0.0)), 1e-9)), 3.0, 12.0), 1)
    n_people, n_homes = _fmt(people), _fmt(homes)
    tip = ("未覆盖 " + n_people + " 人（" + n_homes + " 处）/ " + n_people + " people not covered (" + n_homes
           + _pick(homes == 1, " home), ", " homes), ") + f"{_cell_size_text(cell_m)} cell")
    return {"r": px, "tip": tip}


def _uncovered_layer(category: str, lon: np.ndarray, lat: np.ndarray, props: dict[str, np.ndarray],
                     show: bool = True) -> folium.FeatureGroup:
    """Uncovered demand of one category: a dot per demand point or grid cell at ``lon``/``lat``."""
    return _dots_layer(uncovered_layer_name(category), lon, lat, props, show)


def over_capacity_layer_name(category: str) -> str:
    return esc(f"可达但超容量 Within reach, over capacity — {CATEGORY_SHORT_ZH.get(category, category)} {category}")


def _dots_layer(name: str, lon: np.ndarray, lat: np.ndarray, props: dict[str, np.ndarray], show: bool = True,
                colour: str = "#000000", opacity: float = 0.45) -> folium.FeatureGroup:
    """A layer of dots sized by ``props["r"]`` with tooltip ``props["tip"]``, one per point or grid cell."""
    group = folium.FeatureGroup(name=name, show=show)
    if not len(lon):
        return group
    folium.GeoJson(
        _features(_point_geometries(lon, lat), props),
        marker=folium.CircleMarker(radius=3, stroke=False, fill_color=colour, fill_opacity=opacity),
        style=JsCode("function (f) { return {radius: f.properties.r}; }"),
        tooltip=folium.GeoJsonTooltip(fields=["tip"], labels=False),
        control=False,
    ).add_to(group)
    return group


def _uncovered_layers(analysis, surveyed: list[str], first: str | None = None
                      ) -> tuple[list[folium.FeatureGroup], dict[str, float]]:
    """The "uncovered population" layer of each surveyed category with a radius, and the cell size of those
    aggregated into grid cells (more than :data:`MANY_POINTS` points). The demand is projected once. ``first``:
    the category shown when the map opens (default the first surveyed)."""
    first = first or (surveyed[0] if surveyed else None)
    categories = [c for c in surveyed if _primary_radius(analysis.checks, c)]
    if not categories:
        return [], {}
    demand = analysis.demand
    crs = demand.crs if demand.crs is not None else analysis.crs
    masks = _uncovered_masks(analysis, categories)
    geoms = np.asarray(demand.geometry.values)
    x, y = shapely.get_x(geoms), shapely.get_y(geoms)
    located = np.isfinite(x) & np.isfinite(y)
    weight = _floats(demand["weight"])
    weight = np.where(np.isnan(weight), 0.0, weight)
    many = {c: int(masks[c].sum()) > MANY_POINTS for c in categories}
    single = np.zeros(len(demand), dtype=bool)
    for category in categories:
        if not many[category]:
            single |= masks[category] & located
    lon, lat = np.full(len(demand), np.nan), np.full(len(demand), np.nan)
    lon[single], lat[single] = _lonlat(x[single], y[single], crs)
    layers, cell_sizes = [], {}
    for category in categories:
        show = category == first and not many[category]  # one at a time reads best; heavy ones start off
        these = masks[category] & located
        if not many[category]:
            props = _uncovered_points_props(weight[these], _col_f(demand, f"dist_{category}_m")[these], category)
            layers.append(_uncovered_layer(category, lon[these], lat[these], props, show))
        else:
            cx, cy, people, homes, size = _cells(x[these], y[these], weight[these], MANY_POINTS)
            cell_sizes[category] = size
            layers.append(_uncovered_layer(category, *_lonlat(cx, cy, crs),
                                           _uncovered_cells_props(people, homes, size), show))
    return layers, cell_sizes


def _over_capacity_layers(analysis, surveyed: list[str], show: bool) -> list[folium.FeatureGroup]:
    """Per category with a capacity split, the people within reach of its facilities whom their capacity cannot
    serve (``over_capacity_<category>`` of the demand): a dot per home, or per grid cell when there are many."""
    demand = analysis.demand
    crs = demand.crs if demand.crs is not None else analysis.crs
    layers = []
    for category in surveyed:
        column = f"over_capacity_{category}"
        if column not in demand.columns:
            continue
        people = np.nan_to_num(_floats(demand[column]))
        geoms = np.asarray(demand.geometry.values)
        x, y = shapely.get_x(geoms), shapely.get_y(geoms)
        these = (people >= 0.5) & np.isfinite(x) & np.isfinite(y)
        if not these.any():
            continue
        cx, cy, total, homes, size = _cells(x[these], y[these], people[these], MANY_POINTS) \
            if these.sum() > MANY_POINTS else (x[these], y[these], people[these], np.ones(int(these.sum())), 0.0)
        root = np.sqrt(total)
        props = {"r": np.round(np.clip(2.0 + 10.0 * root / max(float(root.max()), 1e-9), 3.0, 12.0), 1),
                 "tip": "可达但超容量 " + _fmt(total) + " 人 / " + _fmt(total) + " people within reach of "
                        + CATEGORY_SHORT_ZH[category] + " facilities that are full"
                        + (f"（{_cell_size_text(size)} 网格 cell）" if size else "")}
        layers.append(_dots_layer(over_capacity_layer_name(category), *_lonlat(cx, cy, crs), props,
                                  show=show and category == surveyed[0], colour=OVER_CAPACITY_COLOUR, opacity=0.7))
    return layers


# ---------------------------------------------------------------------------------------------- rendering


class _Verbatim(Element):
    """An element holding already-rendered text, returned as it is.

    branca and folium wrap the rendered header/html/script of every element in ``Element(text)``, which compiles
    ``text`` — embedded GeoJSON and all — as a Jinja template and renders it a second time. Jinja's lexer then
    walks every byte of the data (two thirds of a large map's time), and any ``{{ … }}`` or ``{% … %}`` in the
    data would be evaluated. Only that wrapping is replaced (see :func:`render_html`); an ``Element()`` without
    text is branca's own."""

    def __init__(self, template: str | None = None, template_name: str | None = None):
        super().__init__(template=None, template_name=template_name)
        self._verbatim = template

    def render(self, **kwargs):
        if self._verbatim is None:
            return super().render(**kwargs)
        return self._verbatim


_RENDER_LOCK = threading.Lock()
_TEMPLATES: dict[str, Template] = {}


def _compiled_template(source, *args, **kwargs) -> Template:
    """folium's ``Template(source)``, compiled once per source text: folium compiles some templates inside
    ``render`` (e.g. every GeoJsonTooltip's CSS), a third of a large map's rendering time."""
    if args or kwargs or not isinstance(source, str):
        return Template(source, *args, **kwargs)
    template = _TEMPLATES.get(source)
    if template is None:
        template = Template(source)
        if len(_TEMPLATES) < 64:  # folium's own literals; a bound in case that changes
            _TEMPLATES[source] = template
    return template


@contextmanager
def _verbatim_rendering():
    """While rendering, the name ``Element`` in branca's and folium's modules is :class:`_Verbatim`, and folium's
    ``Template`` is :func:`_compiled_template` (a lock keeps two threads from interleaving the swap)."""
    with _RENDER_LOCK:
        modules = [m for name, m in list(sys.modules.items())
                   if m is not None and name.split(".")[0] in ("branca", "folium")]
        elements = [m for m in modules if getattr(m, "Element", None) is Element]
        templates = [m for m in modules
                     if getattr(m, "Template", None) is Template and m.__name__ != "folium.template"]
        for module in elements:
            module.Element = _Verbatim
        for module in templates:
            module.Template = _compiled_template
        try:
            yield
        finally:
            for module in elements:
                module.Element = Element
            for module in templates:
                module.Template = Template


def render_html(m: folium.Map) -> str:
    """The page of ``m`` as one HTML string (what ``m.save`` writes), rendered once (see :class:`_Verbatim`)."""
    with _verbatim_rendering():
        return m.get_root().render()


def save_html(m: folium.Map, path: str | Path) -> Path:
    """Write :func:`render_html` of ``m`` to ``path`` atomically (UTF-8)."""
    path = Path(path)
    text = render_html(m)
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text, encoding="utf-8")
    return path


# ---------------------------------------------------------------------------------------------- the map


def stable_ids(root: Element, seed: str = "geofacility") -> None:
    """Replace the random ids of ``root`` and every element below it (children and element attributes such as
    a popup's html/script holders) with ids hashed from ``seed`` and the element's depth-first position."""
    seen: set[int] = set()
    stack = [root]
    n = 0
    while stack:
        element = stack.pop()
        if id(element) in seen:
            continue
        seen.add(id(element))
        element._id = hashlib.md5(f"{seed}:{n}".encode()).hexdigest()
        n += 1
        attached = [
            v for k, v in sorted(vars(element).items())
            if isinstance(v, Element) and k not in ("_parent", "parent_map")
        ]
        stack.extend(reversed([*element._children.values(), *attached]))


class _MetricScale(MacroElement):
    """Leaflet's scale bar in metres only (folium's ``control_scale`` also shows feet)."""

    _template = Template(
        "{% macro script(this, kwargs) %}"
        "L.control.scale({imperial: false, metric: true, position: 'bottomleft'}).addTo({{ this._parent.get_name() }});"
        "{% endmacro %}"
    )


SITES_LAYER = "房源 candidate sites (选中 selected / 未选 not selected)"


def _sites_layer(analysis, study, selection) -> folium.FeatureGroup:
    """Candidate rooms: selected ones green with their catchment, the others grey; popups with the evaluation."""
    group = folium.FeatureGroup(name=SITES_LAYER, show=True)
    cands = study.candidates
    chosen = np.isin(np.arange(len(cands)), selection.selected if selection is not None else [])
    radius = study.check.radius_m
    geoms = np.asarray(cands.geometry.values)
    pts = _wgs84(cands, analysis.crs)  # projected once; without the candidates that have no geometry
    chosen_pts = chosen[~(shapely.is_missing(geoms) | shapely.is_empty(geoms))]
    if radius and chosen.any():
        areas = None
        measure = getattr(analysis, "measure", None)
        if getattr(measure, "method", "") == "network":
            from .network import service_areas, snap_points

            snap = snap_points(measure.network, cands.geometry.values[chosen], measure.max_snap_m)
            _, polys = service_areas(measure.network, snap, radius,
                                     buffer_m=(analysis.settings or {}).get("buffer_m") or 50.0)
            areas = gpd.GeoDataFrame(geometry=list(polys), crs=analysis.crs)
        if areas is not None and len(areas):
            folium.GeoJson(_geojson(_wgs84(areas, analysis.crs).assign(k=1), ["k"]),
                           style_function=lambda f: {"color": "#1a9850", "weight": 1, "fillColor": "#1a9850",
                                                     "fillOpacity": 0.15, "interactive": False},
                           control=False).add_to(group)
        else:
            folium.GeoJson(_geojson(pts[chosen_pts].assign(r=float(radius)), ["r"]),
                           marker=folium.Circle(radius=float(radius), color="#1a9850", weight=1,
                                                fill_color="#1a9850", fill_opacity=0.12),
                           style=JsCode("function (f) { return {interactive: false}; }"),
                           control=False).add_to(group)
    popup = (
        '<div class="gf-pop"><b>' + _esc_s(pts["candidate_id"]) + " " + _esc_s(pts["name"]) + "</b><br>"
        + pd.Series(np.where(chosen_pts, "✔ 选中 selected", "未选 not selected"), index=pts.index, dtype=object)
        + "<br>建筑面积 floor area: " + _num_s(pts["floor_area_m2"], "{:,.0f} m²")
        + "<br>面积规则 area rule: " + _esc_s(pts["area_note"])
        + "<br>新增覆盖 newly covered: " + _num_s(pts["newly_covered_population"]) + " 人"
        + "<br>排序 rank: " + _num_s(pts["rank"], "{:.0f}")
        + ("<br>可否选用 selectable: " + _esc_s(pts["selectable_reason"]) if "selectable_reason" in pts else "")
        + pd.Series(np.where(pts["review_note"] != "", "<br>" + _esc_s(pts["review_note"]).astype(str), ""),
                    index=pts.index, dtype=object)
        + "</div>"
    )
    colour = np.where(chosen_pts, "#1a9850", "#888888")
    for flag, fill in ((True, "#1a9850"), (False, "#888888")):
        part = pts.assign(popup=popup, tip=_esc_s(pts["name"]))[colour == fill]
        if len(part):
            folium.GeoJson(
                _geojson(part, ["tip", "popup"]),
                marker=folium.CircleMarker(radius=8 if flag else 5, color="#000000" if flag else "#ffffff",
                                           weight=2 if flag else 1, fill_color=fill, fill_opacity=0.95),
                tooltip=folium.GeoJsonTooltip(fields=["tip"], labels=False),
                popup=folium.GeoJsonPopup(fields=["popup"], labels=False, max_width=360),
                control=False,
            ).add_to(group)
    return group


def _sites_legend_html(study, selection) -> str:
    """The candidate rooms' part of the legend: the symbols of the rooms (selected, not selected, not selectable)
    and of the selected rooms' reach, and what the community fill means on a sites map."""
    category = study.check.category
    label = f"{CATEGORY_SHORT_ZH.get(category, category)} {category}"
    radius = study.check.radius_m
    n_sel = 0 if selection is None else len(selection.selected)
    fill = ("拟建选中房源后" if selection is not None else "现状") + f"{esc(label)} 是否达标"
    lines = [
        f'<div><b>房源 candidate rooms</b>（{len(study.candidates)} 处，可选 {len(study.eligible)} 处'
        + (f"，选中 {n_sel} 处" if selection is not None else "") + "）</div>",
        '<div><span class="gf-dot" style="background:#888888;border:1px solid #ffffff;width:10px;height:10px">'
        "</span>候选房源 candidate room（未选 not selected；点击查看可否选用及原因 / click for why）</div>",
    ]
    if selection is not None:
        lines.append('<div><span class="gf-dot" style="background:#1a9850;border:2px solid #000000;width:14px;'
                     'height:14px"></span>选中房源 selected room</div>')
        if radius:
            lines.append('<div><span class="gf-dot" style="background:rgba(26,152,80,.15);border:1px solid #1a9850;'
                         f'width:16px;height:16px"></span>选中房源服务范围 reach of a selected room（{radius:g} m）</div>')
    lines.append(f'<div class="gf-small">社区填色 community fill: {fill} / {esc(category)}: '
                 + ("with the selected rooms built" if selection is not None else "as surveyed") + "</div>")
    return "".join(lines)


BASEMAPS = ("osm", "amap", "tianditu", "none")
#: base maps whose tiles are in GCJ-02: the overlays are shifted to it to line up
_GCJ_BASEMAPS = {"amap"}


def category_view(analysis, category: str):
    """The analysis as one category's special-plan map shows it: that category's standards, facilities, service
    areas and uncovered people; each community ``gap`` or ``ok`` for it (the count of categories short is 1 or 0,
    and empty where the category was not surveyed, outside its survey extent)."""
    from dataclasses import replace as _replace

    if category not in CATEGORIES:
        raise ValueError(f"unknown category {category!r}; use one of {', '.join(CATEGORIES)}")
    if category not in set(analysis.surveyed):
        raise ValueError(f"{category} was not surveyed: no facility data of that category were given")
    status = analysis.communities[f"{category}_status"]
    short = np.where(status == "not_surveyed", np.nan, (status == "gap").astype(float))
    areas = getattr(analysis, "service_areas", None)
    study = (analysis.settings or {}).get("study") or ""
    label = f"{CATEGORY_SHORT_ZH[category]} {category}"
    return _replace(
        analysis,
        communities=analysis.communities.assign(n_categories_short=short),
        facilities=analysis.facilities.loc[analysis.facilities["category"] == category],
        checks=[c for c in analysis.checks if c.category == category],
        surveyed=[category],
        service_areas=None if areas is None else areas.loc[areas["category"] == category],
        settings={**(analysis.settings or {}), "study": f"{study} · {label} 专项 category map".strip(" ·"),
                  "category_map": category},
    )


def _shift_to_gcj02(analysis, sites):
    """The analysis (and candidate sites) with every geometry moved to GCJ-02, so that overlays line up with a
    GCJ-02 base map (Amap): to WGS84, shifted, back to the analysis' metric CRS (radii in metres unchanged)."""
    from dataclasses import replace as _replace

    from .read.coords import wgs84_to_gcj02

    crs = analysis.crs

    def shift(frame):
        if frame is None or not len(frame):
            return frame
        geoms = np.asarray(frame.geometry.to_crs(4326).values)
        moved = shapely.transform(geoms, lambda xy: np.column_stack(wgs84_to_gcj02(xy[:, 0], xy[:, 1])))
        return frame.set_geometry(gpd.GeoSeries(moved, index=frame.index, crs=4326).to_crs(frame.crs or crs))

    shifted = _replace(analysis, communities=shift(analysis.communities), demand=shift(analysis.demand),
                       facilities=shift(analysis.facilities), towns=shift(analysis.towns),
                       service_areas=shift(getattr(analysis, "service_areas", None)))
    if sites is not None:
        study, selection = sites
        sites = (_replace(study, candidates=shift(study.candidates)), selection)
    return shifted, sites


def _basemap(m: folium.Map, basemap: str, tianditu_key: str | None) -> str:
    """Add the base map's tile layers; the legend's note on it."""
    if basemap == "osm":
        folium.TileLayer("OpenStreetMap", control=False).add_to(m)
        return ""
    if basemap == "amap":
        folium.TileLayer(
            "https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8&x={x}&y={y}&z={z}",
            attr="&copy; 高德地图 AutoNavi", subdomains="1234", max_zoom=18, control=False).add_to(m)
        return ("底图：高德地图（GCJ-02）；所有图层已由 WGS84 偏移至 GCJ-02 以便对齐 / base map Amap (GCJ-02): "
                "every overlay shifted from WGS84 to GCJ-02 to line up")
    if basemap == "tianditu":
        if not tianditu_key:
            raise ValueError("the Tianditu base map needs a key: --tianditu-key KEY or the TIANDITU_KEY environment "
                             "variable (free from https://console.tianditu.gov.cn)")
        for layer in ("vec", "cva"):
            folium.TileLayer(
                f"https://t{{s}}.tianditu.gov.cn/{layer}_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0"
                f"&LAYER={layer}&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={{z}}&TILEROW={{y}}"
                f"&TILECOL={{x}}&tk={quote_plus(tianditu_key)}",
                attr="&copy; 天地图 Tianditu", subdomains="01234567", max_zoom=18, control=False).add_to(m)
        return "底图：天地图（CGCS2000，与 WGS84 相差不足 1 m，未偏移）/ base map Tianditu (CGCS2000, no shift)"
    if basemap == "none":
        return "无底图 no base map"
    raise ValueError(f"unknown base map {basemap!r}; use one of {', '.join(BASEMAPS)}")


def _leaflet_inline() -> tuple[str, str]:
    """Leaflet's JavaScript and CSS (shipped in geofacility/assets/leaflet), the CSS images as data: URIs."""
    import base64

    folder = Path(__file__).resolve().parent / "assets" / "leaflet"
    js = (folder / "leaflet.js").read_text(encoding="utf-8")
    css = (folder / "leaflet.css").read_text(encoding="utf-8")
    for name in ("layers-2x.png", "layers.png", "marker-icon.png"):
        data = base64.b64encode((folder / name).read_bytes()).decode("ascii")
        css = css.replace(f"url(images/{name})", f"url(data:image/png;base64,{data})")
    return js.replace("</script", "<\\/script"), css


def _make_offline(m: folium.Map) -> None:
    """Inline Leaflet instead of the CDN links: the page then needs no network (bar tiles; use basemap none)."""
    m.default_js, m.default_css = [], []  # folium's CDN links (Leaflet, jQuery, Bootstrap, Font Awesome)
    js, css = _leaflet_inline()
    header = m.get_root().header
    header.add_child(_Verbatim(f"<style>{css}</style>"), name="gf_leaflet_css", index=0)
    header.add_child(_Verbatim(f"<script>{js}</script>"), name="gf_leaflet_js", index=0)


def build_map(analysis, sites=None, *, category: str | None = None, basemap: str = "osm", offline: bool = True,
              tianditu_key: str | None = None) -> folium.Map:
    """The coverage-and-gaps map of an :class:`~geofacility.pipeline.Analysis` (see module docstring).

    ``sites``: ``(study, selection)`` from :mod:`geofacility.siting` adds a layer of candidate rooms, the selected
    ones with their service radius (or walking catchment). ``category``: one category's special-plan map
    (:func:`category_view`). ``basemap``: ``osm`` (default), ``amap`` (GCJ-02: overlays are shifted to match),
    ``tianditu`` (needs ``tianditu_key``) or ``none``. ``offline`` (default): Leaflet inlined instead of loaded
    from a CDN, so the overlays show on a machine with no internet (district intranets) — only the base-map tiles
    need the network; ``offline=False`` links folium's CDN copies (a page 150 kB lighter)."""
    if basemap not in BASEMAPS:
        raise ValueError(f"unknown base map {basemap!r}; use one of {', '.join(BASEMAPS)}")
    if category is not None:
        analysis = category_view(analysis, category)
    if basemap in _GCJ_BASEMAPS:
        analysis, sites = _shift_to_gcj02(analysis, sites)
    surveyed = _surveyed(analysis)
    communities = _wgs84(analysis.communities, analysis.crs)
    towns = _wgs84(analysis.towns, analysis.crs)
    facilities = _wgs84(analysis.facilities, analysis.crs)
    bounds = _study_bounds(communities, towns, facilities) or _study_bounds(_wgs84(analysis.demand, analysis.crs))
    centre = [(bounds[0][0] + bounds[1][0]) / 2, (bounds[0][1] + bounds[1][1]) / 2] if bounds else [35.0, 105.0]

    m = folium.Map(location=centre, zoom_start=14 if bounds else 4, tiles=None, control_scale=False,
                   zoom_snap=0.25)  # fractional zoom: fitBounds fills the window instead of half of it
    _MetricScale().add_to(m)
    basemap_note = _basemap(m, basemap, tianditu_key)
    if offline:
        _make_offline(m)
    m.get_root().title = esc(f"{(analysis.settings or {}).get('study') or 'geofacility'} — 社区配套设施缺口")

    table = _Table(communities)  # the community columns, read once for the layer and the panel
    if len(communities):
        _communities_layer(communities, surveyed, table).add_to(m)
    if towns is not None and len(towns):
        _towns_layer(towns).add_to(m)
    areas = _wgs84(getattr(analysis, "service_areas", None), analysis.crs)
    # on foot, each category's catchments cover the map: the worst category's shown, the others in the control
    worst = worst_category(analysis.communities, surveyed) if areas is not None else None
    layers, cell_sizes = _uncovered_layers(analysis, surveyed, first=worst)
    over = _over_capacity_layers(analysis, surveyed, show=bool((analysis.settings or {}).get("category_map")))
    for layer in [*layers, *over]:
        layer.add_to(m)
    facility_data = _facility_data(facilities_with_load(facilities, getattr(analysis, "facility_load", None)))
    for category in surveyed:
        catchments = None if areas is None else _catchment_layer(category, areas, show=category == worst)
        if catchments is not None:
            catchments.add_to(m)
        _category_layer(category, facility_data, analysis.checks, areas).add_to(m)
    if sites is not None:
        _sites_layer(analysis, *sites).add_to(m)
    folium.LayerControl(collapsed=len(surveyed) > 1 or sites is not None).add_to(m)  # a long list covers the map

    _Overlay(_title_html(analysis), "gf-title", css=_CSS).add_to(m)
    legend = _legend_html(analysis, surveyed, communities, cell_sizes, basemap_note, capacity=bool(over))
    if sites is not None:  # the rooms' symbols, inside the legend's box
        head, tail = legend.rsplit("</details></div>", 1)
        legend = head + _sites_legend_html(*sites) + "</details></div>" + tail
    _Overlay(legend, "gf-legend").add_to(m)
    _Overlay(_panel_html(communities, surveyed, table), "gf-panel", zoom=True).add_to(m)
    if bounds:
        m.fit_bounds(bounds)
    stable_ids(m.get_root())
    return m


def write_map(analysis, path: str | Path, sites=None, **options) -> Path:
    """Build the map (``options``: those of :func:`build_map`) and save it as one HTML page at ``path``,
    atomically."""
    return save_html(build_map(analysis, sites, **options), path)


# ---------------------------------------------------------------------------------------------- batch overview

#: the community maps' palette: green none short, amber few, reds more
OVERVIEW_KEY = [(0.0, OK_COLOUR, "无未达标社区 no community short"), (0.25, AMBER, "≤ 25 % 社区未达标 short"),
                (0.5, _RED_ONE, "25–50 %"), (1.01, _RED_DARK, "> 50 %")]


def write_overview(communities: gpd.GeoDataFrame, summary: pd.DataFrame, *, by: str, folders: dict, path,
                   title: str = "") -> Path:
    """``index.html`` of a batch: one polygon per group coloured by the largest share of its communities short
    of standard in any surveyed category (the palette of the community maps), linking each group's map and
    ledger; failed groups grey with their error."""
    from urllib.parse import quote

    from .batch import group_short_share

    path = Path(path)
    crs = communities.crs
    values = communities[by].astype(object).where(communities[by].notna(), "未知").astype(str)
    groups = communities.assign(_g=values).dissolve(by="_g", as_index=False)[["_g", "geometry"]]
    share = group_short_share(summary)
    failed = summary.loc[summary["status"] == "failed"].groupby("group")["error"].first()
    pop = summary.groupby("group")["population"].max()

    def colour(g):
        if g in failed.index:
            return "#bdbdbd"
        value = share.get(g, np.nan)
        if pd.isna(value):
            return "#d9d9d9"
        if value <= 0:
            return OVERVIEW_KEY[0][1]
        return next(c for limit, c, _ in OVERVIEW_KEY[1:] if value <= limit)

    names = groups["_g"]
    folder = names.map(lambda g: quote(folders.get(g, g)))
    popup = (
        "<b>" + _esc_s(names) + "</b><br>"
        + names.map(lambda g: esc(f"失败 failed: {failed[g]}") if g in failed.index else
                    f"未达标社区最多 share short (worst category): {share.get(g, float('nan')):.0%}")
        + "<br>人口 population: " + _num_s(names.map(pop))
        + '<br><a href="' + folder + '/map.html" target="_blank">地图 map</a> · <a href="' + folder
        + '/ledger.xlsx">台账 ledger.xlsx</a> · <a href="' + folder + '/ledger.csv">ledger.csv</a>'
    )
    frame = _wgs84(groups.assign(fill=names.map(colour), tip=_esc_s(names), popup=popup).set_crs(crs,
                                                                                            allow_override=True),
                   crs)
    bounds = _latlon_bounds(frame)
    m = folium.Map(location=[(bounds[0][0] + bounds[1][0]) / 2, (bounds[0][1] + bounds[1][1]) / 2], zoom_start=10,
                   tiles=None, zoom_snap=0.25)
    _MetricScale().add_to(m)
    folium.TileLayer("OpenStreetMap", control=False).add_to(m)
    _make_offline(m)  # Leaflet inlined as in every group's map: the overview opens with no internet, bar tiles
    folium.GeoJson(
        _geojson(frame, ["fill", "tip", "popup"]), name=esc(f"{by} 分组 groups"),
        style_function=lambda f: {"fillColor": f["properties"]["fill"], "color": "#ffffff", "weight": 1.5,
                                  "fillOpacity": 0.75},
        tooltip=folium.GeoJsonTooltip(fields=["tip"], labels=False),
        popup=folium.GeoJsonPopup(fields=["popup"], labels=False, max_width=380),
    ).add_to(m)
    key = "".join(f'<div><span class="gf-sw" style="background:{c}"></span>{esc(label)}</div>'
                  for _, c, label in OVERVIEW_KEY)
    legend = (f'<div id="gf-legend" class="gf-box"><b>{esc(title)} 分组汇总 / batch overview</b><br>'
              "按最差类别的未达标社区比例着色 / coloured by the share of communities short in the worst category"
              f'{key}<div><span class="gf-sw" style="background:#bdbdbd"></span>失败 failed</div>'
              "点击分组打开其地图和台账 / click a group for its map and ledger</div>")
    _Overlay(legend, "gf-legend", css=_CSS).add_to(m)
    m.fit_bounds(bounds)
    stable_ids(m.get_root())
    return save_html(m, path)
