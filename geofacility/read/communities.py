"""Reading: communities (社区): the polygons whose residents the standards serve.

Holds :func:`read_communities` (``community_id``, ``community``, ``town``, ``population``, ``households``; ids
filled from names, invalid polygons repaired) with the checks of what no real community is
(:data:`MIN_COMMUNITY_WIDTH_M`, :data:`MAX_DENSITY_PER_KM2`, more households than people), and
:func:`check_overlaps` (communities drawn over one another, as a share of the smaller one's area in m²: reported
from :data:`OVERLAP_REPORTED`, refused from :data:`OVERLAP_REFUSED`).
"""
from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ..errors import InputError, WarningLog
from .columns import ALIASES, GENERIC_ID, _rename_columns, _string
from .files import read_layer
from .numbers import _numeric
from .rows import _drop_unusable, _repair_polygons, _unique_ids

__all__ = [
    "MAX_DENSITY_PER_KM2",
    "MIN_COMMUNITY_WIDTH_M",
    "OVERLAP_REPORTED",
    "OVERLAP_REFUSED",
    "read_communities",
    "check_overlaps",
]


#: people per km² of a community's polygon (roads, courtyards and parks included) no real place reaches: 2 people on
#: every square metre. The densest neighbourhood ever recorded, Kowloon Walled City (about 33,000 people on 2.6 ha in
#: the 1980s), was about 1.3 million per km²; today's densest, Dharavi in Mumbai and Mong Kok in Hong Kong, are
#: about 0.3 and 0.13 million per km², Beijing's Xicheng district about 22,000 per km². Above it the population is
#: wrong (a unit or typing error) or the polygon is (a sliver, a boundary in the wrong unit).
MAX_DENSITY_PER_KM2 = 2_000_000
#: a community polygon narrower than this on average (2 × area ÷ outline length, in metres) has no area: a line, a
#: point or a sliver, not a place where people live (a street-wide strip is 10–30 m; a line drawn as a polygon and
#: reprojected keeps millimetres of "width")
MIN_COMMUNITY_WIDTH_M = 1.0


def read_communities(path, *, coords=None, encoding=None, layer=None, aliases=None,
                     log: WarningLog | None = None) -> gpd.GeoDataFrame:
    """Community (社区) polygons: ``community_id``, ``community``, ``town``, ``population``, ``households``."""
    log = log if log is not None else WarningLog()
    aliases = aliases or ALIASES
    gdf = read_layer(path, coords=coords, encoding=encoding, layer=layer, log=log, option="--communities")
    label = str(path)
    typed = list(gdf.columns)
    gdf = _rename_columns(gdf, ["community_id", "community", "town", "population", "households"], aliases)
    if "community_id" not in gdf.columns:
        gdf = _rename_columns(gdf, ["community_id"], {"community_id": GENERIC_ID})
    typed = dict(zip(gdf.columns, typed))  # canonical name → the column name in the file
    if "community" not in gdf.columns and "community_id" not in gdf.columns:
        raise InputError(f"{label}: no community name or id column; add a column 社区 (community) or community_id")
    gdf = _drop_unusable(gdf)
    if gdf.empty:
        raise InputError(f"{label}: no community has a geometry")
    was_invalid = ~gdf.geometry.is_valid.to_numpy()
    gdf = _repair_polygons(gdf, label=label, log=log, what="communities")
    if "community_id" not in gdf.columns:
        gdf["community_id"] = _string(gdf["community"])
        log.add(label, None, "no community_id column: the community name is used as the id", severity="info",
                zh="没有社区编码（community_id）列：以社区名称作为编码")
    gdf["community_id"] = _string(gdf["community_id"])
    missing_id = gdf["community_id"].isna()
    if missing_id.any():
        raise InputError(f"{label}, row {gdf.loc[missing_id, 'source_row'].iloc[0]}: empty community id; fill it")
    _unique_ids(gdf, "community_id", label=label)
    if "community" not in gdf.columns:
        gdf["community"] = gdf["community_id"]
    gdf["community"] = _string(gdf["community"]).fillna(gdf["community_id"])
    gdf["town"] = _string(gdf["town"]) if "town" in gdf.columns else None
    for column in ("population", "households"):
        if column in gdf.columns:
            gdf[column] = _numeric(gdf, column, label=label, log=log, required=True)
        else:
            gdf[column] = np.nan
    _check_community_numbers(gdf, label=label, log=log, was_invalid=was_invalid, typed=typed)
    if "approximate" in gdf.columns:
        gdf["approximate"] = gdf["approximate"].astype("string").str.lower().isin(["true", "1", "yes", "是"])
    else:
        gdf["approximate"] = False
    return gdf


def _area_m2(geoms: gpd.GeoSeries) -> tuple[np.ndarray, np.ndarray]:
    """Areas (m²) and mean widths (m: 2 × area ÷ outline length) of polygons in degrees (EPSG:4326). A degree of
    latitude is 111.32 km, one of longitude that times cos(latitude): areas within 1 % at the size of a community;
    outlines are measured as if every degree were 111.32 km, so widths err low by at most cos(latitude). Good for
    limits that are orders of magnitude from real values."""
    arr = np.asarray(geoms.values)
    empty = shapely.is_empty(arr) | shapely.is_missing(arr)
    lat = np.zeros(len(arr))
    lat[~empty] = shapely.get_y(shapely.centroid(arr[~empty]))
    area = np.where(empty, 0.0, np.nan_to_num(shapely.area(arr)) * 111_320.0 ** 2 * np.cos(np.radians(lat)))
    outline = np.where(empty, 0.0, np.nan_to_num(shapely.length(arr)) * 111_320.0)
    width = np.divide(2 * area, outline, out=np.zeros(len(arr)), where=outline > 0)
    return area, width


def _community(gdf: gpd.GeoDataFrame, i: int, where: str = "") -> str:
    """community C11 (社区11, feature 1)"""
    cid, name = gdf["community_id"].iloc[i], gdf["community"].iloc[i]
    inside = ", ".join(part for part in (name if name != cid else "", where) if part)
    return f"community {cid}" + (f" ({inside})" if inside else "")


def _check_community_numbers(gdf: gpd.GeoDataFrame, *, label: str, log: WarningLog, was_invalid: np.ndarray,
                             typed: dict) -> None:
    """What no real community is: a polygon without area, a density no place has, more households than people."""
    where = "feature" if log.read_rows.get(label, (0, 1))[1] == 1 else "row"
    rows = gdf["source_row"].to_numpy()
    area, width = _area_m2(gdf.geometry)
    flat = np.flatnonzero(width < MIN_COMMUNITY_WIDTH_M)
    if len(flat):
        i = flat[0]
        why = ("its outline is a line or a point, and make_valid leaves no polygon of it" if was_invalid[i] or
               not area[i] else f"{area[i]:.2g} m², on average {width[i]:.2g} m wide: a line or a sliver")
        more = f" (and {len(flat) - 1} more features)" if len(flat) > 1 else ""
        raise InputError(f"{label}, {where} {rows[i]}: {_community(gdf, i)} has no area ({why}); its people cannot be "
                         f"placed: redraw its boundary, or remove the feature if it is not a community{more}")
    population = gdf["population"].to_numpy(dtype="float64")
    density = population / (area / 1e6)
    dense = np.flatnonzero(density > MAX_DENSITY_PER_KM2)
    if len(dense):
        i = dense[0]
        raise InputError(
            f"{label}, {where} {rows[i]}: {_community(gdf, i)} has {population[i]:,.0f} people on {area[i]:,.0f} m², "
            f"{density[i]:,.0f} per km²; no place is that dense (the limit is {MAX_DENSITY_PER_KM2:,} per km², more "
            "than the densest neighbourhood ever recorded): fix the population (a typing or unit error?) or the "
            "boundary (a sliver, or coordinates in the wrong unit?)")
    households = gdf["households"].to_numpy(dtype="float64")
    both = np.isfinite(population) & np.isfinite(households)
    over = both & (households > population)
    if not over.any():
        return
    hh_col, pop_col = (typed.get(c, c) + (f" ({c})" if typed.get(c, c) != c else "") for c in ("households",
                                                                                           "population"))
    if over.sum() > 0.5 * both.sum():
        i = int(np.flatnonzero(over)[0])
        raise InputError(
            f"{label}: households exceed population on {int(over.sum())} of {int(both.sum())} rows (e.g. {where} "
            f"{rows[i]}: {households[i]:,.0f} households, {population[i]:,.0f} people), and a household has at least "
            f"one person: the columns {hh_col} and {pop_col} look swapped; swap their names or their values")
    for i in np.flatnonzero(over):
        log.add(label, rows[i], f"households ({households[i]:,.0f}) exceed population ({population[i]:,.0f}), which "
                                "cannot be (a household has at least one person); the numbers are kept as given: "
                                f"check {hh_col} and {pop_col} on this row",
                zh=f"户数（{households[i]:,.0f}）多于人口（{population[i]:,.0f}），不合常理（每户至少一人）；数值按原样保留："
                   f"请核对本行的 {hh_col} 和 {pop_col}")


#: overlaps under this share of the smaller community are digitising noise along shared boundaries: not reported
OVERLAP_REPORTED = 0.01
#: overlaps from this share of the smaller community on are the same place drawn twice, or one community drawn over
#: another: refused unless the planner says they really share the land (allow_overlap, --allow-overlap)
OVERLAP_REFUSED = 0.5


def check_overlaps(communities: gpd.GeoDataFrame, *, label: str, log: WarningLog, allow: bool = False) -> pd.DataFrame:
    """Pairs of communities whose polygons overlap, as a share of the smaller one's area (communities in a metric
    CRS): reported from :data:`OVERLAP_REPORTED`, refused from :data:`OVERLAP_REFUSED` unless ``allow``.

    Vectorised: one STRtree query of the polygons against themselves, the pairs whose interiors meet
    (``relate_pattern`` T********: touching neighbours are not overlaps) intersected at once. Returns the pairs
    reported (positions ``i``, ``j``, ``share``, ``area_m2``)."""
    columns = ["i", "j", "share", "area_m2"]
    polys = np.asarray(communities.geometry.values)
    if len(polys) < 2:
        return pd.DataFrame(columns=columns)
    i, j = shapely.STRtree(polys).query(polys, predicate="intersects")
    i, j = i[i < j], j[i < j]
    inner = shapely.relate_pattern(polys[i], polys[j], "T********")
    i, j = i[inner], j[inner]
    area = shapely.area(polys)
    common = shapely.area(shapely.intersection(polys[i], polys[j]))
    smaller = np.minimum(area[i], area[j])
    share = np.divide(common, smaller, out=np.zeros(len(common)), where=smaller > 0)
    pairs = pd.DataFrame({"i": i, "j": j, "share": share, "area_m2": common})
    pairs = pairs[pairs["share"] >= OVERLAP_REPORTED].sort_values(["i", "j"]).reset_index(drop=True)
    if pairs.empty:
        return pairs[columns]
    rows = communities["source_row"].to_numpy()
    where = "feature" if log.read_rows.get(label, (0, 1))[1] == 1 else "row"
    ids = communities["community_id"].to_numpy()

    def both(k):
        a, b = pairs["i"].iloc[k], pairs["j"].iloc[k]
        return (f"{_community(communities, a, f'{where} {rows[a]}')} and "
                f"{_community(communities, b, f'{where} {rows[b]}')}")

    large = np.flatnonzero(pairs["share"].to_numpy() >= OVERLAP_REFUSED)
    if len(large) and not allow:
        k = int(large[np.argmax(pairs["share"].to_numpy()[large])])
        more = f" (and {len(large) - 1} more such pairs)" if len(large) > 1 else ""
        raise InputError(
            f"{label}, {where}s {rows[pairs['i'].iloc[k]]} and {rows[pairs['j'].iloc[k]]}: {both(k)} overlap by "
            f"{pairs['share'].iloc[k]:.0%} of the smaller one's area ({pairs['area_m2'].iloc[k]:,.0f} m²): the same "
            f"place drawn twice, or one community drawn over another, whose people could be counted twice{more}; fix "
            "the boundaries or remove the duplicate, or give --allow-overlap if the two really share this land")
    for k in range(len(pairs)):
        a, b = pairs["i"].iloc[k], pairs["j"].iloc[k]
        first = min(ids[a], ids[b])
        kept = " kept as given (--allow-overlap):" if pairs["share"].iloc[k] >= OVERLAP_REFUSED else ""
        log.add(label, f"{rows[a]}, {rows[b]}",
                f"{both(k)} overlap by {pairs['share'].iloc[k]:.0%} of the smaller one's area "
                f"({pairs['area_m2'].iloc[k]:,.0f} m²);{kept} each community's population counts once, spread over "
                f"its own polygon, and a demand point in the overlap counts in {first} only: check the boundaries",
                zh=f"社区 {ids[a]} 与社区 {ids[b]} 重叠，重叠面积占较小者的 {pairs['share'].iloc[k]:.0%}"
                   f"（{pairs['area_m2'].iloc[k]:,.0f} m²）；{'按 --allow-overlap 保留原样；' if kept else ''}"
                   f"每个社区的人口只计一次，分布在其自身范围内，重叠处的需求点只计入 {first}：请核对边界")
    return pairs[columns]
