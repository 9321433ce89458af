"""The Xicheng primary-school figures the CLI tests pin (138 communities short, 38,931 people within reach but over
capacity) derived independently from the input files (issue 18, part 4): GCJ-02 undone with the published forward
formula and a fixed-point inversion, pyproj for UTM 50N, a KD-tree for the nearest school, the compounds' own
community ids, and networkx's maximum flow for the seats (25,000 residents per school, GB 50180's upper figure).
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from pyproj import Transformer
from scipy.spatial import cKDTree

from conftest import need
from geofacility.pipeline import analyze
from geofacility.study import sample_dir, sample_inputs

RADIUS = 500.0
SEATS = 25_000.0


def _gcj02_forward(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """WGS84 → GCJ-02, the formula published with the Chinese datum's "encryption" (Krasovsky ellipsoid)."""
    a, ee = 6378245.0, 0.00669342162296594323
    x, y = lon - 105.0, lat - 35.0
    dlat = (-100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
            + (20.0 * np.sin(6.0 * x * math.pi) + 20.0 * np.sin(2.0 * x * math.pi)) * 2.0 / 3.0
            + (20.0 * np.sin(y * math.pi) + 40.0 * np.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
            + (160.0 * np.sin(y / 12.0 * math.pi) + 320 * np.sin(y * math.pi / 30.0)) * 2.0 / 3.0)
    dlon = (300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
            + (20.0 * np.sin(6.0 * x * math.pi) + 20.0 * np.sin(2.0 * x * math.pi)) * 2.0 / 3.0
            + (20.0 * np.sin(x * math.pi) + 40.0 * np.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
            + (150.0 * np.sin(x / 12.0 * math.pi) + 300.0 * np.sin(x / 30.0 * math.pi)) * 2.0 / 3.0)
    rad = lat / 180.0 * math.pi
    magic = 1 - ee * np.sin(rad) ** 2
    sqrt_magic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((a * (1 - ee)) / (magic * sqrt_magic) * math.pi)
    dlon = (dlon * 180.0) / (a / sqrt_magic * np.cos(rad) * math.pi)
    return lon + dlon, lat + dlat


def _from_gcj02(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """GCJ-02 → WGS84 by fixed-point iteration on the forward formula (converges to well under a millimetre)."""
    wlon, wlat = lon.copy(), lat.copy()
    for _ in range(30):
        glon, glat = _gcj02_forward(wlon, wlat)
        wlon, wlat = wlon - (glon - lon), wlat - (glat - lat)
    return wlon, wlat


def _utm(frame: pd.DataFrame) -> np.ndarray:
    lon, lat = _from_gcj02(frame["gcj02_lng"].to_numpy(float), frame["gcj02_lat"].to_numpy(float))
    x, y = Transformer.from_crs(4326, 32650, always_xy=True).transform(lon, lat)
    return np.column_stack([x, y])


@pytest.fixture(scope="module")
def reference():
    homes = pd.read_csv(sample_dir() / "compounds.csv", dtype={"community_id": str})
    schools = pd.read_csv(sample_dir() / "primary_schools.csv")
    home_xy, school_xy = _utm(homes), _utm(schools)
    dist, _ = cKDTree(school_xy).query(home_xy)
    within = cKDTree(school_xy).query_ball_point(home_xy, RADIUS)
    nx = need("networkx")
    g = nx.DiGraph()
    for i, (people, reach) in enumerate(zip(homes["population"].to_numpy(float), within)):
        if reach:
            g.add_edge("source", ("home", i), capacity=people)
            for j in reach:
                g.add_edge(("home", i), ("school", j))  # no capacity: unbounded
    for j in range(len(schools)):
        g.add_edge(("school", j), "sink", capacity=SEATS)
    seated, flow = nx.maximum_flow(g, "source", "sink")
    return homes.assign(dist=dist, reached=[bool(r) for r in within]), seated, flow, within


def test_communities_short_of_primary_schools_by_distance(reference):
    homes, *_ = reference
    short_by_distance = homes.loc[homes["dist"] > RADIUS, "community_id"].nunique()
    assert short_by_distance == 131
    analysis = analyze(**sample_inputs())
    comm = analysis.communities.set_index("community_id")
    far = set(homes.loc[homes["dist"] > RADIUS, "community_id"])
    assert set(comm.index[comm["education_covered_share"] < 1]) == far  # the same 131 communities
    covered = homes.loc[homes["dist"] <= RADIUS].groupby("community_id")["population"].sum()
    np.testing.assert_allclose(comm["education_covered_population"].to_numpy(),
                               covered.reindex(comm.index).fillna(0).to_numpy(), atol=0.05)


def test_people_over_capacity_and_the_seven_more_communities(reference):
    """Over capacity = people within 500 m of a school − the most seats a school-by-school allocation can fill
    (a maximum flow): 38,931. The 7 communities short only by capacity each hold a compound whose schools within
    reach are all full — the only way a maximum flow leaves anyone unseated.

    Which communities bear the 38,931 is one of several maximum flows (the least total distance of the classes,
    each community's homes that reach the same schools, geofacility.allocation): 7 since the classes are per
    community (8 when homes of different communities were one group); the total is the same."""
    homes, seated, flow, within = reference
    reached = homes.loc[homes["reached"], "population"].sum()
    assert reached - seated == pytest.approx(38_931, abs=1)
    analysis = analyze(**sample_inputs())
    comm = analysis.communities.set_index("community_id")
    assert comm["education_over_capacity_population"].sum() == pytest.approx(reached - seated, abs=1)
    assert comm["education_served_population"].sum() == pytest.approx(seated, abs=1)
    short = set(comm.index[comm["education_status"] == "gap"])
    far = set(homes.loc[homes["dist"] > RADIUS, "community_id"])
    by_capacity = short - far
    assert len(short) == 138 and len(by_capacity) == 7
    school_flow = {node[1]: sum(flow[node].values()) for node in flow if isinstance(node, tuple)
                   and node[0] == "school"}
    full = {j for j, f in school_flow.items() if f >= SEATS - 1e-6}
    for cid in by_capacity:
        rows = np.flatnonzero((homes["community_id"] == cid).to_numpy())
        assert any(within[i] and set(within[i]) <= full for i in rows), cid
