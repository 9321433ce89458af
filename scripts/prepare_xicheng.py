"""Build the bundled real sample for Beijing Xicheng (西城区) from the raw copies in ``data/``.

Run from the repository root::

    python scripts/prepare_xicheng.py            # writes data/xicheng/
    python scripts/prepare_xicheng.py --out DIR  # writes the same files into DIR

Inputs (repository copies only, see ``data/xicheng/SOURCE.md`` for their origin and licences):

- ``data/xicheng/raw/xicheng_subdistricts_osm.geojson``: the 15 subdistrict (街道) polygons, OSM, ODbL 1.0.
- ``data/xicheng/raw/xicheng_residential_compounds.csv``: 1,421 Lianjia residential compounds (小区), GCJ-02.
- ``data/xicheng/raw/xicheng_primary_schools_2021.geojson``: 54 public primary schools.
- ``data/xicheng/raw/ODbL_ATTRIBUTION.txt``: copied unchanged to the output folder.
- ``data/beijing/beijing_subdistricts_worldpop.gpkg``: WorldPop population per Beijing subdistrict (mosstool, MIT).

Outputs (in ``--out``, default ``data/xicheng``): ``streets.geojson``, ``compounds.csv``, ``communities.geojson``,
``primary_schools.csv``, ``SOURCE.md`` and ``ODbL_ATTRIBUTION.txt``.

Method
------
1. Streets: the OSM polygons, with the WorldPop population joined by name (the gpkg's ``subdistrict`` equals the
   OSM ``name`` for all 15; the script asserts it).
2. Compounds: the scraped GCJ-02 coordinates are converted to WGS84 with :func:`geofacility.read.gcj02_to_wgs84`
   and each compound is assigned to the street that contains it; the two compounds that fall a few metres outside
   Xicheng (XC0402 木樨地南里, 6.6 m; XC0975 北小马厂3号院, 15.8 m) go to the nearest street (both: 月坛街道).
   Missing Lianjia household counts are filled with the median of the known counts in the same street. The
   street's WorldPop population is distributed over its compounds in proportion to the filled household counts,
   as integers summing exactly to the street total (largest-remainder rounding, ties broken by compound_id).
   ``households`` = population / 2.31 (Beijing 2020 census persons per family household), rounded the same way
   against round(street population / 2.31). All of this is exact integer arithmetic.
3. Communities (社区, APPROXIMATE: no official polygons are public): per street, n = max(1, round(pop / 5000))
   groups (n = number of distinct compound locations if that is smaller). The compounds (merged when they share
   a location) are split into n groups by recursive coordinate bisection in EPSG:32650: sort along the longer
   extent (x on a tie; then the other coordinate, then compound_id), cut at the position whose cumulative
   population is closest to floor(n/2)/n of the total (the west/south side gets floor(n/2) groups; the first
   such position on a tie; each side keeps at least as many locations as groups), recurse. The Voronoi cells of
   the compound locations (``shapely.voronoi_polygons``, extent covering the street) are clipped to the street
   and dissolved by group. Communities are numbered ``<adcode>-<kkk>`` north to south, then west to east, by the
   mean EPSG:32650 position of their compounds, and named after their most populous compound + ``片区（推算）``.
   Geometry is written in WGS84 rounded to 7 decimals (re-validated with ``shapely.make_valid``).
4. Primary schools: the 54 schools as facilities, with the GCJ-02 coordinates as given.

Everything is sorted and formatted explicitly (no timestamps, no randomness), so two runs give byte-identical
files. The script asserts the partition (areas, overlaps), validity and compound containment before writing.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from geofacility.atomic import atomic_path

import _sample_io  # noqa: E402  (scripts/, beside this file)
from _sample_io import write_csv  # noqa: E402
from geofacility.read import gcj02_to_wgs84

REPO = Path(__file__).resolve().parent.parent
RAW = REPO / "data" / "xicheng" / "raw"
WORLDPOP = REPO / "data" / "beijing" / "beijing_subdistricts_worldpop.gpkg"
DEFAULT_OUT = REPO / "data" / "xicheng"

METRIC = "EPSG:32650"  # UTM 50N
DISTRICT = "西城区"
N_STREETS = 15
N_COMPOUNDS = 1421
N_SCHOOLS = 54
PEOPLE_PER_COMMUNITY = 5000
PERSONS_PER_HH_X100 = 231  # Beijing 2020 census: 2.31 persons per family household
DECIMALS = 7  # ~1 cm in WGS84
OUTSIDE = {"XC0402": "月坛街道", "XC0975": "月坛街道"}  # the two compounds just outside Xicheng, checked below


# ---------------------------------------------------------------------------------------------------- helpers


def largest_remainder(numer: np.ndarray, denom: int, total: int, keys: np.ndarray) -> np.ndarray:
    """Integers summing to ``total`` from the exact quotas ``numer / denom`` (integer arrays, no floats).

    Floors first; the remaining units go to the largest remainders, ties to the smallest key.
    """
    numer = np.asarray(numer, dtype=np.int64)
    floors, rem = np.divmod(numer, denom)
    deficit = int(total - floors.sum())
    if not 0 <= deficit <= len(numer):
        raise AssertionError(f"largest remainder: deficit {deficit} for {len(numer)} items")
    order = np.lexsort((np.asarray(keys), -rem))  # by remainder descending, then key ascending
    out = floors.copy()
    out[order[:deficit]] += 1
    assert out.sum() == total
    return out


def bisect(idx: np.ndarray, xy: np.ndarray, w: np.ndarray, key: np.ndarray, n: int) -> list[np.ndarray]:
    """Recursive coordinate bisection of the sites ``idx`` into ``n`` groups of balanced (integer) weight."""
    if n == 1:
        return [np.sort(idx)]
    pts = xy[idx]
    ext = pts.max(axis=0) - pts.min(axis=0)
    axis = 0 if ext[0] >= ext[1] else 1
    order = np.lexsort((key[idx], pts[:, 1 - axis], pts[:, axis]))
    idx = idx[order]
    n1 = n // 2
    n2 = n - n1
    cw = np.cumsum(w[idx])  # cw[k-1] = weight of the first k sites
    total = int(cw[-1])
    k = np.arange(n1, len(idx) - n2 + 1)  # sites on the first side: at least n1, leaving at least n2
    err = np.abs(cw[k - 1] * n - total * n1)  # |cw/total - n1/n| * n * total, exact integers
    cut = int(k[np.argmin(err)])  # argmin: the first position on a tie
    return bisect(idx[:cut], xy, w, key, n1) + bisect(idx[cut:], xy, w, key, n2)


def polygonal(geoms: np.ndarray) -> np.ndarray:
    """Keep only the polygonal parts of each geometry (drops stray lines/points from overlays)."""
    geoms = np.asarray(geoms, dtype=object)
    types = shapely.get_type_id(geoms)
    if np.isin(types, (3, 6)).all():
        return geoms
    parts, index = shapely.get_parts(geoms, return_index=True)
    keep = np.isin(shapely.get_type_id(parts), (3, 6))
    out = np.empty(len(geoms), dtype=object)
    out[:] = [shapely.union_all(parts[keep & (index == i)]) for i in range(len(geoms))]
    return out


def round_geoms(geoms: np.ndarray) -> np.ndarray:
    """Round coordinates to ``DECIMALS`` decimals; make_valid whatever the rounding broke."""
    out = shapely.transform(np.asarray(geoms, dtype=object), lambda c: np.round(c, DECIMALS))
    bad = ~shapely.is_valid(out)
    if bad.any():
        out[bad] = polygonal(shapely.make_valid(out[bad]))
        out[bad] = shapely.transform(out[bad], lambda c: np.round(c, DECIMALS))
        if not shapely.is_valid(out).all():
            raise AssertionError("geometry still invalid after rounding and make_valid")
    return out


def write_geojson(path: Path, name: str, props: pd.DataFrame, geoms_wgs84: np.ndarray) -> None:
    """GeoJSON (RFC 7946, WGS84), one feature per line, keys in column order, coordinates to 7 decimals."""
    _sample_io.write_geojson(path, name, props, round_geoms(geoms_wgs84), DECIMALS)


def fmt_int(v) -> str:
    return f"{int(v):,}"


# ---------------------------------------------------------------------------------------------------- steps


def load_streets() -> gpd.GeoDataFrame:
    osm = gpd.read_file(RAW / "xicheng_subdistricts_osm.geojson")
    assert len(osm) == N_STREETS and osm.crs.to_epsg() == 4326 and osm.is_valid.all()
    wp = pyogrio.read_dataframe(WORLDPOP, layer="subdistricts", read_geometry=False)
    wp = wp[wp["district"] == DISTRICT]
    assert len(wp) == N_STREETS, len(wp)
    streets = osm.merge(
        wp[["subdistrict", "worldpop_pop"]], left_on="name", right_on="subdistrict", how="left", validate="1:1"
    )
    assert streets["worldpop_pop"].notna().all(), "a street did not join to WorldPop by name"
    streets = gpd.GeoDataFrame(
        {
            "town": streets["name"].astype(str),
            "adcode": streets["adcode"].astype(str),
            "osm_relation_id": streets["osm_relation_id"].astype("int64"),
            "population": streets["worldpop_pop"].astype("int64"),
        },
        geometry=streets.geometry.values,
        crs=osm.crs,
    )
    assert streets["adcode"].is_unique and streets["town"].is_unique
    return streets.sort_values("adcode", ignore_index=True)


def load_compounds(streets: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    raw = pd.read_csv(RAW / "xicheng_residential_compounds.csv", dtype=str, keep_default_na=False)
    assert len(raw) == N_COMPOUNDS and raw["compound_id"].is_unique
    raw = raw.sort_values("compound_id", ignore_index=True)
    lon, lat = gcj02_to_wgs84(raw["gcj02_lng"].astype(float), raw["gcj02_lat"].astype(float))
    pts = gpd.GeoDataFrame(raw, geometry=gpd.points_from_xy(lon, lat), crs="EPSG:4326")
    # point in polygon
    joined = gpd.sjoin(pts, streets[["town", "geometry"]], predicate="within", how="left")
    assert not joined.index.duplicated().any(), "a compound lies in two streets"
    town = joined["town"].reindex(pts.index)
    # the few outside Xicheng: nearest street, in metres
    out = town.isna().to_numpy()
    metric_streets = streets.to_crs(METRIC)
    near = gpd.sjoin_nearest(
        pts.loc[out, ["compound_id", "geometry"]].to_crs(METRIC),
        metric_streets[["town", "geometry"]],
        distance_col="dist_m",
    )
    assert not near.index.duplicated().any()
    town[out] = near["town"].reindex(pts.index[out]).to_numpy()
    outside = dict(zip(near["compound_id"], near["town"]))
    assert outside == OUTSIDE, f"the compounds outside Xicheng changed: {outside} (update OUTSIDE and SOURCE.md)"
    assert (near["dist_m"] < 20).all(), near
    pts["town"] = town.astype(str)
    pts["outside_m"] = 0.0
    pts.loc[out, "outside_m"] = near["dist_m"].reindex(pts.index[out]).to_numpy()

    # households: the listed value, or the street median of the listed values; as doubled integers (the median
    # of an even count can end in .5) so that the population split below is exact
    listed = pd.to_numeric(raw["households"].replace("", np.nan))
    assert listed.dropna().gt(0).all() and (listed.dropna() % 1 == 0).all()
    median = listed.groupby(pts["town"]).transform("median")
    assert median.notna().all(), "a street has no listed household count"
    pts["households_listed"] = raw["households"]
    pts["households_filled"] = listed.isna()
    pts["weight2"] = (2 * listed.fillna(median)).round().astype("int64")
    pts["fill_median"] = median

    pop_by_town = streets.set_index("town")["population"]
    pts["population"] = 0
    pts["households"] = 0
    for town_name, idx in pts.groupby("town", sort=True).groups.items():
        p = int(pop_by_town[town_name])
        sub = pts.loc[idx]
        keys = sub["compound_id"].to_numpy()
        w = sub["weight2"].to_numpy(dtype=np.int64)
        pop = largest_remainder(p * w, int(w.sum()), p, keys)
        hh_total = (200 * p + PERSONS_PER_HH_X100) // (2 * PERSONS_PER_HH_X100)  # round(100 p / 231)
        assert hh_total == round(p / 2.31)
        hh = largest_remainder(100 * pop, PERSONS_PER_HH_X100, hh_total, keys)
        pts.loc[idx, "population"] = pop
        pts.loc[idx, "households"] = hh
    pts["population"] = pts["population"].astype("int64")
    pts["households"] = pts["households"].astype("int64")
    assert pts.groupby("town")["population"].sum().sort_index().equals(pop_by_town.sort_index())
    return pts


def build_communities(
    streets: gpd.GeoDataFrame, compounds: gpd.GeoDataFrame
) -> tuple[gpd.GeoDataFrame, pd.Series]:
    """The approximate community polygons (EPSG:32650) and each compound's community_id."""
    mstreets = streets.to_crs(METRIC).set_index("town")
    mpts = compounds.to_crs(METRIC)
    xy_all = shapely.get_coordinates(mpts.geometry.values)
    rows = []
    community_of = pd.Series(index=compounds.index, dtype=object)
    for town_name in streets["town"]:  # adcode order
        street = mstreets.loc[town_name]
        sel = np.flatnonzero((compounds["town"] == town_name).to_numpy())
        ids = compounds["compound_id"].to_numpy()[sel]
        pop = compounds["population"].to_numpy(dtype=np.int64)[sel]
        hh = compounds["households"].to_numpy(dtype=np.int64)[sel]
        # sites: distinct locations (compounds sharing a scraped coordinate are merged)
        gcj = compounds[["gcj02_lng", "gcj02_lat"]].to_numpy(dtype=float)[sel]
        _, first, site_of = np.unique(gcj, axis=0, return_index=True, return_inverse=True)
        site_of = site_of.ravel()
        n_sites = len(first)
        site_xy = xy_all[sel][first]
        site_key = ids[first]  # np.unique(..., return_index) gives the first occurrence = smallest compound_id
        site_w = np.bincount(site_of, weights=pop, minlength=n_sites).astype(np.int64)

        n = max(1, round(int(street["population"]) / PEOPLE_PER_COMMUNITY))
        n = min(n, n_sites)
        groups = bisect(np.arange(n_sites), site_xy, site_w, site_key, n)
        group_of_site = np.empty(n_sites, dtype=np.int64)
        for g, members in enumerate(groups):
            group_of_site[members] = g

        # Voronoi cells of the sites, clipped to the street
        site_pts = shapely.points(site_xy)
        if n_sites == 1:
            cells = np.array([street.geometry], dtype=object)
        else:
            xmin, ymin, xmax, ymax = shapely.total_bounds(np.append(site_pts, street.geometry))
            extent = shapely.box(xmin - 1000, ymin - 1000, xmax + 1000, ymax + 1000)
            cells = shapely.get_parts(
                shapely.voronoi_polygons(shapely.multipoints(site_pts), extend_to=extent, ordered=True)
            )
            assert len(cells) == n_sites and shapely.contains(cells, site_pts).all()
            cells = polygonal(shapely.intersection(cells, street.geometry))
        polys = np.empty(n, dtype=object)
        polys[:] = [shapely.union_all(cells[group_of_site == g]) for g in range(n)]
        polys = polygonal(polys)
        assert (~shapely.is_empty(polys)).all() and shapely.is_valid(polys).all()

        # number north-to-south, then west-to-east, by the mean position of the group's compounds
        group_of = group_of_site[site_of]
        cx = np.bincount(group_of, weights=xy_all[sel][:, 0], minlength=n) / np.bincount(group_of, minlength=n)
        cy = np.bincount(group_of, weights=xy_all[sel][:, 1], minlength=n) / np.bincount(group_of, minlength=n)
        rank = np.lexsort((cx, -cy))  # rank[k] = group numbered k+1
        number = np.empty(n, dtype=np.int64)
        number[rank] = np.arange(1, n + 1)
        adcode = str(street["adcode"])
        for g in range(n):
            members = np.flatnonzero(group_of == g)
            top = members[np.lexsort((ids[members], -pop[members]))[0]]  # most populous, then smallest id
            cid = f"{adcode}-{number[g]:03d}"
            rows.append(
                {
                    "community_id": cid,
                    "community": f"{compounds['name'].to_numpy()[sel][top]}片区（推算）",
                    "town": town_name,
                    "population": int(pop[members].sum()),
                    "households": int(hh[members].sum()),
                    "n_compounds": int(len(members)),
                    "approximate": True,
                    "geometry": polys[g],
                }
            )
            community_of.iloc[sel[members]] = cid
    comm = gpd.GeoDataFrame(rows, geometry="geometry", crs=METRIC)
    comm = comm.sort_values("community_id", ignore_index=True)
    check_partition(streets, comm, compounds, community_of)
    return comm, community_of


def check_partition(streets, comm, compounds, community_of) -> None:
    mstreets = streets.to_crs(METRIC)
    assert comm["community_id"].is_unique and comm["community"].is_unique
    assert comm.is_valid.all() and (~comm.is_empty).all()
    assert set(comm.geom_type) <= {"Polygon", "MultiPolygon"}
    assert (comm["n_compounds"] >= 1).all()
    # areas: the communities of a street add up to it
    area = comm.assign(a=comm.area).groupby("town")["a"].sum()
    street_area = mstreets.set_index("town").area
    rel = (area.reindex(street_area.index) / street_area - 1).abs()
    assert (rel < 1e-4).all(), rel
    # no overlaps beyond 1 m2
    left, right = comm.sindex.query(comm.geometry, predicate="intersects")
    pair = left < right
    overlap = shapely.area(shapely.intersection(comm.geometry.values[left[pair]], comm.geometry.values[right[pair]]))
    assert (overlap <= 1.0).all(), overlap.max()
    # every compound in its community (the outside ones: nearest to it)
    mpts = compounds.to_crs(METRIC)
    own = comm.set_index("community_id").geometry.reindex(community_of.to_numpy()).values
    d_own = shapely.distance(own, mpts.geometry.values)
    inside = compounds["outside_m"].to_numpy() == 0
    assert (d_own[inside] == 0).all(), compounds.loc[inside & (d_own > 0), "compound_id"]
    if (~inside).any():
        nearest = comm.sindex.nearest(mpts.geometry.values[~inside], return_all=False, return_distance=True)
        (_, tree_idx), dist = nearest
        assert np.allclose(dist, d_own[~inside]), (dist, d_own[~inside])
    # community sizes: 1,000-15,000 wherever no single compound holds more than twice the target (SOURCE.md says so)
    heavy = compounds.groupby("town")["population"].max() > 2 * PEOPLE_PER_COMMUNITY
    regular = ~comm["town"].map(heavy).to_numpy()
    assert comm.loc[regular, "population"].between(1000, 15000).all()
    assert (comm.loc[comm["population"] > 15000, "n_compounds"] == 1).all()
    # totals
    assert comm.groupby("town")["population"].sum().equals(compounds.groupby("town")["population"].sum())
    assert comm["n_compounds"].sum() == len(compounds)


def check_rounded(comm: gpd.GeoDataFrame, rounded_wgs84: np.ndarray) -> np.ndarray:
    """Re-check the partition after rounding to 7 decimals; return the cross-street overlap areas (m²)."""
    geoms = gpd.GeoSeries(rounded_wgs84, crs="EPSG:4326").to_crs(METRIC).values
    assert shapely.is_valid(geoms).all()
    rel = np.abs(shapely.area(geoms) / comm.area.to_numpy() - 1)
    assert rel.max() < 1e-4, rel.max()
    left, right = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    pair = left < right
    left, right = left[pair], right[pair]
    overlap = shapely.area(shapely.intersection(geoms[left], geoms[right]))
    same = comm["town"].to_numpy()[left] == comm["town"].to_numpy()[right]
    assert (overlap[same] <= 1.0).all(), overlap[same].max()
    return overlap[~same]


def load_schools() -> pd.DataFrame:
    raw = json.loads((RAW / "xicheng_primary_schools_2021.geojson").read_text(encoding="utf-8"))
    props = pd.DataFrame([f["properties"] for f in raw["features"]])
    assert len(props) == N_SCHOOLS and props["school_id"].is_unique
    props = props.sort_values("school_id", ignore_index=True)
    return pd.DataFrame(
        {
            "facility_id": props["school_id"],
            "name": props["school"],
            "category": "education",
            "subcategory": "primary_school",
            "education_district": props["education_district"],
            "school_level": props["level"],
            "address": props["address"],
            # repr(float): the shortest text that reads back to the same number, i.e. the value as given
            "gcj02_lng": [repr(float(v)) for v in props["gcj02_lng"]],
            "gcj02_lat": [repr(float(v)) for v in props["gcj02_lat"]],
        }
    )


# ---------------------------------------------------------------------------------------------------- SOURCE.md


def source_md(streets, compounds, comm, schools, slivers: np.ndarray) -> str:
    by_street = (
        compounds.groupby("town")
        .agg(
            compounds=("compound_id", "size"),
            filled=("households_filled", "sum"),
            fill_median=("fill_median", "first"),
            population=("population", "sum"),
            households=("households", "sum"),
            max_compound=("population", "max"),
            weight2=("weight2", "sum"),
        )
        .join(
            comm.groupby("town").agg(
                communities=("community_id", "size"),
                cmin=("population", "min"),
                cmed=("population", "median"),
                cmax=("population", "max"),
            )
        )
    )
    by_street = by_street.reindex(streets["town"])
    by_street["adcode"] = streets["adcode"].to_numpy()
    lines = [
        "| street | adcode | WorldPop population | compounds | households filled (median used) "
        "| people per Lianjia dwelling | households | largest compound | communities "
        "| community population min / median / max |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for town, r in by_street.iterrows():
        ratio = 2 * r["population"] / r["weight2"]
        lines.append(
            f"| {town} | {r['adcode']} | {fmt_int(r['population'])} | {r['compounds']} "
            f"| {int(r['filled'])} ({r['fill_median']:g}) | {ratio:.2f} "
            f"| {fmt_int(r['households'])} | {fmt_int(r['max_compound'])} | {r['communities']} "
            f"| {fmt_int(r['cmin'])} / {fmt_int(r['cmed'])} / {fmt_int(r['cmax'])} |"
        )
    tot = by_street
    lines.append(
        f"| **total** | | **{fmt_int(tot['population'].sum())}** | **{tot['compounds'].sum()}** "
        f"| **{int(tot['filled'].sum())}** | {2 * tot['population'].sum() / tot['weight2'].sum():.2f} "
        f"| **{fmt_int(tot['households'].sum())}** | | **{tot['communities'].sum()}** "
        f"| {fmt_int(comm['population'].min())} / {fmt_int(comm['population'].median())} / "
        f"{fmt_int(comm['population'].max())} |"
    )
    table = "\n".join(lines)
    pop = comm["population"]
    numbers = {
        "n_streets": len(streets),
        "n_compounds": len(compounds),
        "n_communities": len(comm),
        "n_schools": len(schools),
        "population": fmt_int(streets["population"].sum()),
        "households": fmt_int(compounds["households"].sum()),
        "listed_households": fmt_int(pd.to_numeric(compounds["households_listed"].replace("", np.nan)).sum()),
        "n_filled": int(compounds["households_filled"].sum()),
        "cmin": fmt_int(pop.min()),
        "cmed": fmt_int(pop.median()),
        "cmax": fmt_int(pop.max()),
        "c_lt_1000": int((pop < 1000).sum()),
        "c_gt_15000": int((pop > 15000).sum()),
        "c_single": int((comm["n_compounds"] == 1).sum()),
        "table": table,
        "outside": "; ".join(
            f"{r.compound_id} {r.name}: {r.outside_m:.1f} m outside, assigned to {r.town}"
            for r in compounds[compounds["outside_m"] > 0].itertuples()
        ),
        "big": "; ".join(
            f"{r.compound_id} {r.name} ({r.town}, {fmt_int(r.population)} people)"
            for r in compounds[compounds["population"] > 15000].sort_values("population", ascending=False).itertuples()
        ) or "none",
        "multi": int((comm.geom_type == "MultiPolygon").sum()),
        "n_shared": int(compounds[["gcj02_lng", "gcj02_lat"]].astype(float).duplicated(keep=False).sum()),
        "sliver_pairs": int((slivers > 0.01).sum()),
        "sliver_max": f"{slivers.max():.1f}",
        "sliver_total": f"{slivers.sum():.0f}",
        "heavy": ", ".join(
            f"{t} ({fmt_int(m)})" for t, m in by_street["max_compound"].items() if m > 2 * PEOPLE_PER_COMMUNITY
        ),
        "small": "; ".join(
            f"{r.community_id} {r.community} ({fmt_int(r.population)} people, "
            f"{r.n_compounds} compound{'s' if r.n_compounds > 1 else ''})"
            for r in comm[comm["population"] < 1000].itertuples()
        ) or "none",
    }
    return SOURCE_TEMPLATE.format(**numbers)


SOURCE_TEMPLATE = """\
# Beijing Xicheng (西城区): the bundled real sample

**Generated by `scripts/prepare_xicheng.py`. Do not edit by hand: edit the template in the script and re-run it.**

Real data for one central Beijing district: {n_streets} subdistricts (街道), {n_compounds} residential compounds
(小区) as demand points, {n_communities} APPROXIMATE community (社区) polygons derived from them, and {n_schools}
public primary schools as facilities. Xicheng is about 50.5 km² with about 1.1 M residents (2020 census).

## Sources, licences and attribution

The files in `raw/` are unchanged copies of files prepared in the project's shared data folder from two public
GitHub repositories (only data was copied, no code); `../beijing/beijing_subdistricts_worldpop.gpkg` comes from a
third. Their origin notes are kept in full below.

### Subdistrict polygons: OpenStreetMap, ODbL 1.0

**Data © OpenStreetMap contributors, available under the Open Database License (ODbL) 1.0**
(<https://www.openstreetmap.org/copyright>); see `ODbL_ATTRIBUTION.txt`. `streets.geojson` and
`communities.geojson` (clipped to these polygons) are derived from it: keep this attribution and the ODbL terms
with them.

- Repo 1: **Clara-Cui2006/tiaozhanbei111**, path `public/maps/xicheng_15_streets_clean.geojson`. Last commit to
  touch it: `fe5230504d615d2c1346c5b47202485c44fe57cd` (2026-08-10). Snapshot HEAD:
  `18601fb07cebbcf34137de4c92a00c808cd5d892`.
- Licence: the data is © OpenStreetMap contributors under ODbL 1.0, as stated in the file and in
  `ODbL_ATTRIBUTION.txt`. The repository itself states no code licence, which does not matter here because only
  data was copied.
- How it was made: an Overpass query (`public/maps/xicheng_streets.overpassql`) for `boundary=administrative`
  relations with the 15 subdistrict names. The author downloaded it on 2026-08-10 and cleaned it: an inner ring of
  a school at 和平门 was filled (北京市第161中学（和平门校区）, 西长安街街道), and a fragment of 白纸坊 outside Xicheng
  (an exclave at 天津宁河区清河农场) was dropped.
- Original fields: `name` (Chinese subdistrict name), `adcode` (9-digit statistical code, 110102xxx),
  `osm_relation_id`, `admin_level` (8), `admin_type` (subdistrict), `source`, `license`, `downloaded_at`,
  `clean_note`.
- Checks (shared data folder): the total area is 50.54 km² in EPSG:32650; the polygons agree with the independent
  Beijing subdistrict layer of the WorldPop file (per-subdistrict IoU 0.94–0.99, centroid shifts under 50 m).

### Population: WorldPop via tsinghua-fib-lab/mosstool, MIT

- Repo: **tsinghua-fib-lab/mosstool**: shapefile `data/gravitygenerator/Beijing-shp/beijing.{{shp,shx,dbf,prj,cpg}}`
  and population `data/gravitygenerator/worldpop.npy`. Commit that added the files:
  `898b4096cc8466b8d9c3ca0b6c8a18bc6f324599` (2024-05-16). Snapshot HEAD: `aa87cea99ec1ae7038467d3070843829d92f7c5e`.
- Licence: **MIT** (`pyproject.toml`: `license = "MIT"`; the repo has no LICENSE file).
- The population comes from WorldPop, but the repo does not say which year or product. The boundaries predate 2015.
- See `../beijing/SOURCE.md` for the derived `beijing_subdistricts_worldpop.gpkg` (all 331 Beijing units).

### Residential compounds and primary schools: Yu-zhang-ssci/XIcheng-Education-research, no licence stated

- Repo 2: **Yu-zhang-ssci/XIcheng-Education-research**. Commit that added the files:
  `bd770ce6b528bc284245e990cda10cc67d8c6603` (2021-08-21). Snapshot HEAD: `3202b52b381a518d5e26b10e5ab90f5b4dc13725`.
  Paths: `step5_match_school_and_community/village_xicheng_with_roomnum_gcj02ll_wgs84.json` (compounds) and
  `step7_rematch_community_and_school_with_route/District_2021_55_with_score_gcj02ll_wgs84.json` (schools).
- **Licence: none stated.** This was a student research project on Xicheng's 2020 "multi-school zoning" policy.
  **Treat the compound and school files, and everything derived from them here (`compounds.csv`,
  `communities.geojson`, `primary_schools.csv`), as research/test fixtures only; do not redistribute them as
  product data.**
- The compounds were scraped from Lianjia (bj.lianjia.com/xiaoqu/xicheng) in about 2021. The school coordinates
  came from Baidu geocoding, called with `ret_coordtype=gcj02ll`; both are **GCJ-02**. The shared-data check: read
  as GCJ-02, 1419 of 1421 compounds fall inside the OSM Xicheng outline (the 2 others a few metres out); read as
  raw WGS-84, 141 fall outside; read as BD-09, 206.
- The raw CSV `raw/xicheng_residential_compounds.csv` was derived in the shared data folder from the original list
  (fields renamed, `compound_id` XC0000… in the original order, a spatial join added, no other change). Its
  `wgs84_*` columns are the original author's one-step approximate GCJ-02 inverse (within 1.8 m of an exact one);
  they are NOT used here. Of the 1421 `households` (户) values, 250 are missing; the 1171 others sum to 542,552
  (median 224, max 9415).
- The raw schools file `raw/xicheng_primary_schools_2021.geojson` was derived the same way; it also lists the
  residents' committees (社区居委会) in each school's catchment, a community-name gazetteer without geometry.
  Those lists are not used here.

## Derived files

All coordinates are WGS84 (EPSG:4326) except the `gcj02_*` columns, which are GCJ-02 on purpose: the analysis
must load them through geofacility's GCJ-02 path. Sorted by id; UTF-8; CSV with `\\n` line ends.

### `streets.geojson` ({n_streets} Polygon)
`town` (the OSM `name`, e.g. 什刹海街道), `adcode`, `osm_relation_id`, `population` (WorldPop). The geometry is the
OSM polygon unchanged (7 decimals). WorldPop was joined by name: the gpkg's `subdistrict` equals the OSM `name` for
all 15 (asserted). Total population **{population}**.

### `compounds.csv` ({n_compounds} rows, the demand points)
`compound_id`, `name`, `town`, `community_id`, `households_listed` (Lianjia's value, empty where missing),
`households_filled` (`true` where it was missing and filled), `households`, `population`, `gcj02_lng`,
`gcj02_lat` (exactly as scraped, GCJ-02).

1. Street: the GCJ-02 point is converted with `geofacility.read.gcj02_to_wgs84` (exact iterative inverse) and
   joined to the street polygon that contains it. Two compounds fall just outside Xicheng and go to the nearest
   street: {outside}.
2. Missing Lianjia household counts ({n_filled} of {n_compounds}) are filled with the median of the listed counts
   in the same street (the median is only a weight; it is not written out).
3. The street's WorldPop population is distributed over its compounds in proportion to the filled household
   counts, as integers that sum exactly to the street total (largest-remainder rounding, ties broken by
   `compound_id`; exact integer arithmetic).
4. `households` = `population` / 2.31 (Beijing 2020 census: 2.31 persons per family household), rounded the same
   way so that each street's sum is round(street population / 2.31). Total households **{households}** (the
   Lianjia listed counts sum to {listed_households}).

### `communities.geojson` ({n_communities} Polygon/MultiPolygon, APPROXIMATE)
No official community (社区) polygons are public, so these are **derived, not official** (`approximate` = true).
Xicheng really has about 260 communities; these are {n_communities}.

1. Per street, n = max(1, round(street population / 5000)), capped at the number of distinct compound locations
   (compounds sharing a scraped coordinate are merged into one location; {n_shared} compounds share one here).
2. The locations, weighted by population, are split into n groups by recursive coordinate bisection in EPSG:32650:
   sort along the longer extent of the set (x on a tie; then by the other coordinate, then `compound_id`), cut at
   the position whose cumulative population is closest to ⌊n/2⌋/n of the total, the first such position on a tie
   (the west/south side gets ⌊n/2⌋ groups; each side keeps at least as many locations as groups), and recurse.
3. The Voronoi cells of the locations (`shapely.voronoi_polygons`, extent covering the street) are clipped to the
   street polygon and dissolved by group.
4. `community_id` = `<adcode>-<kkk>`, k numbered within the street north to south, then west to east, by the mean
   EPSG:32650 position of the group's compounds. `community` = the name of the group's most populous compound (ties:
   smallest `compound_id`) + `片区（推算）`. `population` and `households` are the sums over its compounds;
   `n_compounds` their count.
5. Written in WGS84 with coordinates rounded to 7 decimals (about 1 cm), re-validated with `shapely.make_valid`.

Checked by the script before writing (EPSG:32650): the communities of each street partition it (sum of areas
within 0.01% of the street area, no pairwise overlap above 1 m²); all valid; every community has at least one
compound; every compound lies in its community polygon (the two outside compounds: their community is the nearest
polygon). {multi} communities are MultiPolygons (a Voronoi group clipped by a street boundary can fall apart).

Community population: min **{cmin}**, median **{cmed}**, max **{cmax}**; {c_single} communities consist of a single
compound. {c_gt_15000} are above 15,000: each is one compound that alone carries that many people (see the caveat on
hutong areas). {c_lt_1000} are below 1,000: {small}. They arise where a very populous compound cannot be split: the
bisection gives it (nearly) a group of its own and what is left beside it comes out small. Both extremes occur only
in streets where one compound carries more than twice the 5,000 target: {heavy}. In the other streets every
community has 1,000–15,000 people.

Per street (households filled: compounds without a Lianjia count, and the street median used for them; people per
Lianjia dwelling: WorldPop population / filled household count, far above 2.31 where Lianjia misses housing):

{table}

### `primary_schools.csv` ({n_schools} rows, the facilities)
`facility_id` (the source `school_id`), `name`, `category` = `education`, `subcategory` = `primary_school`,
`education_district` (学区), `school_level` (the source `level`: 普通, 区重点, 市重点, 全国重点), `address` (the
address used for geocoding), `gcj02_lng`, `gcj02_lat` (the source's GCJ-02 coordinates, unchanged). All 54 lie
inside Xicheng. Public primary schools only (policy years 2020 and 2021).

### `ODbL_ATTRIBUTION.txt`
The attribution note that shipped with the OSM polygons, unchanged.

## Caveats
- **WorldPop runs about 19% above the 2020 census** in Xicheng (1,314,427 vs 1.106 M); for all Beijing the
  WorldPop total is 20,755,648 against 21.89 M in the 2020 census. The WorldPop year and product are not
  documented. All populations and households here inherit that.
- WorldPop gives population per subdistrict only: there is no grid and no per-community figure, so every
  compound and community figure here is an allocation, not an observation.
- **Hutong areas (什刹海, 大栅栏) are under-represented.** Lianjia lists courtyard (平房) housing poorly, so in these streets a
  few compounds with few listed households carry the street's whole WorldPop population (see the people-per-
  dwelling column: about 11 in 什刹海 and 13 in 大栅栏, against 2.31 persons per household), and the real population
  lives in courtyards that are not demand points at all. Compounds above 15,000 people: {big}.
- `households` is population / 2.31, not Lianjia's dwelling count: it is far above the listed counts in the hutong
  streets and below them where WorldPop is low relative to the housing stock (e.g. 月坛, 广安门外).
- The filled household counts are street medians, not observations.
- Community polygons are a Voronoi construction around compound points: their boundaries do not follow real
  community boundaries or streets, and their names are invented (片区（推算）). Use them for testing and for
  illustrating the method, not for planning decisions about a specific 社区.
- Lianjia's scrape is from about 2021 and its coordinates are the listing's map pin, not the compound outline.
- Some Beijing subdistrict and township boundaries have been redrawn over time; the OSM polygons are from
  2026-08-10 and the WorldPop units predate 2015, but the two agree closely in Xicheng (IoU 0.94–0.99).
- Rounding to 7 decimals moves vertices that the clipping inserted on street boundaries by up to about 1 cm, so
  communities of neighbouring streets overlap by thin slivers: {sliver_pairs} pairs, at most {sliver_max} m² each,
  {sliver_total} m² in total. Within a street the communities share their boundaries exactly.
- Not available at all: official community (社区) polygons; POIs for kindergartens, clinics, elderly care,
  markets and the other categories (only primary schools are here); a walkable street network. The source repo's
  hand-digitised education districts (学区, 11 approximate polygons) were not copied.
"""


# ---------------------------------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (default data/xicheng)")
    args = parser.parse_args(argv)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)

    streets = load_streets()
    compounds = load_compounds(streets)
    comm, community_of = build_communities(streets, compounds)
    compounds["community_id"] = community_of
    schools = load_schools()

    write_geojson(
        out / "streets.geojson",
        "streets",
        streets[["town", "adcode", "osm_relation_id", "population"]],
        streets.geometry.values,
    )
    comm_wgs84 = round_geoms(comm.to_crs("EPSG:4326").geometry.values)
    slivers = check_rounded(comm, comm_wgs84)
    write_geojson(
        out / "communities.geojson",
        "communities",
        comm[["community_id", "community", "town", "population", "households", "n_compounds", "approximate"]],
        comm_wgs84,
    )
    csv = compounds[
        ["compound_id", "name", "town", "community_id", "households_listed", "households_filled", "households",
         "population", "gcj02_lng", "gcj02_lat"]
    ].copy()
    csv["households_filled"] = np.where(csv["households_filled"], "true", "false")
    write_csv(out / "compounds.csv", csv)
    write_csv(out / "primary_schools.csv", schools)
    with atomic_path(out / "SOURCE.md") as tmp:
        tmp.write_text(source_md(streets, compounds, comm, schools, slivers), encoding="utf-8")
    with atomic_path(out / "ODbL_ATTRIBUTION.txt") as tmp:
        shutil.copyfile(RAW / "ODbL_ATTRIBUTION.txt", tmp)

    pop = comm["population"]
    print(
        f"{len(streets)} streets, {len(compounds)} compounds, {len(comm)} communities "
        f"(population min {pop.min()}, median {pop.median():g}, max {pop.max()}), {len(schools)} schools -> {out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
