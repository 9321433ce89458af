"""The bundled Xicheng (西城区) sample in data/xicheng: counts, population sums, the approximate community
partition, and that scripts/prepare_xicheng.py reproduces the committed files byte for byte."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geofacility.read import gcj02_to_wgs84

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "data" / "xicheng"
SCRIPT = REPO / "scripts" / "prepare_xicheng.py"
METRIC = "EPSG:32650"
OUTPUTS = (
    "streets.geojson",
    "compounds.csv",
    "communities.geojson",
    "primary_schools.csv",
    "SOURCE.md",
    "ODbL_ATTRIBUTION.txt",
)
XICHENG_WORLDPOP = 1_314_427


@pytest.fixture(scope="module")
def streets() -> gpd.GeoDataFrame:
    return gpd.read_file(DATA / "streets.geojson")


@pytest.fixture(scope="module")
def compounds() -> pd.DataFrame:
    return pd.read_csv(
        DATA / "compounds.csv",
        dtype={"compound_id": str, "community_id": str, "households_listed": "Int64", "households_filled": str},
    )


@pytest.fixture(scope="module")
def communities() -> gpd.GeoDataFrame:
    return gpd.read_file(DATA / "communities.geojson")


@pytest.fixture(scope="module")
def communities_m(communities) -> gpd.GeoDataFrame:
    return communities.to_crs(METRIC)


def test_streets(streets):
    assert len(streets) == 15
    assert list(streets.columns) == ["town", "adcode", "osm_relation_id", "population", "geometry"]
    assert streets.crs.to_epsg() == 4326
    assert streets["population"].sum() == XICHENG_WORLDPOP
    assert streets["town"].is_unique and streets["adcode"].is_unique
    assert streets["town"].str.endswith("街道").all()
    assert streets["adcode"].str.fullmatch(r"110102\d{3}").all()
    assert streets.is_valid.all()
    assert abs(streets.to_crs(METRIC).area.sum() / 1e6 - 50.54) < 0.01


def test_compounds(compounds, streets):
    assert len(compounds) == 1421
    assert list(compounds.columns) == [
        "compound_id", "name", "town", "community_id", "households_listed", "households_filled",
        "households", "population", "gcj02_lng", "gcj02_lat",
    ]
    assert compounds["compound_id"].is_unique
    assert set(compounds["households_filled"]) == {"true", "false"}
    assert ((compounds["households_filled"] == "true") == compounds["households_listed"].isna()).all()
    assert compounds["households_listed"].isna().sum() == 250
    # population: integers that add up exactly to each street's WorldPop total
    per_street = compounds.groupby("town")["population"].sum()
    expected = streets.set_index("town")["population"]
    assert per_street.sort_index().to_dict() == expected.sort_index().to_dict()
    assert (compounds["population"] >= 0).all()
    # households: population / 2.31, each street summing to round(street population / 2.31)
    hh = compounds.groupby("town")["households"].sum()
    assert all(hh[t] == round(p / 2.31) for t, p in expected.items())
    assert (np.abs(compounds["households"] - compounds["population"] / 2.31) < 1).all()


def test_primary_schools():
    schools = pd.read_csv(DATA / "primary_schools.csv", dtype=str)
    assert len(schools) == 54
    assert list(schools.columns) == [
        "facility_id", "name", "category", "subcategory", "education_district", "school_level", "address",
        "gcj02_lng", "gcj02_lat",
    ]
    assert schools["facility_id"].is_unique
    assert (schools["category"] == "education").all() and (schools["subcategory"] == "primary_school").all()
    # GCJ-02 as given: converted, every school lies inside Xicheng
    lon, lat = gcj02_to_wgs84(schools["gcj02_lng"].astype(float), schools["gcj02_lat"].astype(float))
    outline = shapely.union_all(gpd.read_file(DATA / "streets.geojson").geometry.values)
    assert shapely.contains_xy(outline, lon, lat).all()


def test_communities_fields(communities, compounds):
    assert 200 <= len(communities) <= 300
    assert list(communities.columns) == [
        "community_id", "community", "town", "population", "households", "n_compounds", "approximate", "geometry",
    ]
    assert communities.crs.to_epsg() == 4326
    assert communities["community_id"].is_unique and communities["community"].is_unique
    assert communities["community_id"].str.fullmatch(r"110102\d{3}-\d{3}").all()
    assert communities["community"].str.endswith("片区（推算）").all()
    assert communities["approximate"].all()
    assert communities.is_valid.all()
    assert set(communities.geom_type) <= {"Polygon", "MultiPolygon"}
    # the sums over the compounds
    per = compounds.groupby("community_id").agg(
        population=("population", "sum"), households=("households", "sum"), n=("compound_id", "size"),
        town=("town", "first"), towns=("town", "nunique"),
    )
    c = communities.set_index("community_id")
    assert set(per.index) == set(c.index)
    per = per.reindex(c.index)
    assert (per["towns"] == 1).all() and (per["town"] == c["town"]).all()
    assert (per["population"] == c["population"]).all()
    assert (per["households"] == c["households"]).all()
    assert (per["n"] == c["n_compounds"]).all() and (c["n_compounds"] >= 1).all()
    # numbering restarts in each street: <adcode>-001 …
    streets = gpd.read_file(DATA / "streets.geojson").set_index("town")["adcode"]
    for town, ids in communities.groupby("town")["community_id"]:
        assert sorted(ids) == [f"{streets[town]}-{k:03d}" for k in range(1, len(ids) + 1)]


def test_communities_partition_streets(communities_m, streets):
    street_area = streets.to_crs(METRIC).set_index("town").area
    area = communities_m.assign(a=communities_m.area).groupby("town")["a"].sum()
    assert set(area.index) == set(street_area.index)
    rel = (area / street_area.reindex(area.index) - 1).abs()
    assert (rel < 1e-4).all(), rel.sort_values().tail()
    # no overlaps within a street beyond 1 m² (across streets: centimetre slivers from the 7-decimal rounding)
    geoms = communities_m.geometry.values
    left, right = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    pair = left < right
    left, right = left[pair], right[pair]
    overlap = shapely.area(shapely.intersection(geoms[left], geoms[right]))
    town = communities_m["town"].to_numpy()
    same = town[left] == town[right]
    assert (overlap[same] <= 1.0).all()
    assert overlap[~same].sum() < 100.0


def test_compounds_near_their_community(compounds, communities_m):
    lon, lat = gcj02_to_wgs84(compounds["gcj02_lng"].to_numpy(), compounds["gcj02_lat"].to_numpy())
    pts = gpd.GeoSeries(gpd.points_from_xy(lon, lat), crs="EPSG:4326").to_crs(METRIC).values
    own = communities_m.set_index("community_id").geometry.reindex(compounds["community_id"]).values
    assert not shapely.is_missing(own).any()
    dist = shapely.distance(own, pts)
    assert dist.max() <= 20.0, compounds.loc[dist > 20, ["compound_id", "community_id"]]
    # all but the two compounds just outside Xicheng lie inside their polygon (up to the rounding)
    assert (dist > 0.05).sum() == 2


def test_community_population_range(communities, compounds):
    """1,000–15,000 people per community wherever the street has enough compounds, i.e. wherever Lianjia covers
    the housing well enough that no single compound carries more than twice the 5,000 target. In the hutong-heavy
    streets one compound can carry 10,000–19,000 people; it then forms a community of its own (above 15,000) or
    leaves a small remainder group beside it (below 1,000)."""
    heavy = compounds.groupby("town")["population"].max() > 10_000
    assert 5 <= heavy.sum() <= 8  # 西长安街, 金融街, 什刹海, 大栅栏, 天桥, 陶然亭
    regular = ~communities["town"].map(heavy)
    assert regular.sum() >= 100
    assert communities.loc[regular, "population"].between(1_000, 15_000).all()
    # everywhere: above 15,000 only as a single compound; the median near the 5,000 target
    assert (communities.loc[communities["population"] > 15_000, "n_compounds"] == 1).all()
    assert communities["population"].min() >= 500
    assert 4_000 <= communities["population"].median() <= 6_000


def test_prepare_script_is_deterministic(tmp_path):
    out = tmp_path / "xicheng"
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--out", str(out)], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    for name in OUTPUTS:
        assert (out / name).read_bytes() == (DATA / name).read_bytes(), f"{name} differs from the committed file"
    assert sorted(p.name for p in out.iterdir()) == sorted(OUTPUTS)


def test_source_md_keeps_attribution(communities):
    text = (DATA / "SOURCE.md").read_text(encoding="utf-8")
    for needle in ("© OpenStreetMap contributors", "ODbL", "MIT", "none stated", "research/test fixtures only",
                   "19%", "什刹海", "大栅栏"):
        assert needle in text
    assert re.search(rf"\b{len(communities)} APPROXIMATE community", text)
    assert (DATA / "ODbL_ATTRIBUTION.txt").read_bytes() == (DATA / "raw" / "ODbL_ATTRIBUTION.txt").read_bytes()
