"""Synthetic cities for benchmarks and scale tests, deterministic by seed.

A city is a jittered street grid of ``n_nodes_side``² intersections ``spacing_m`` apart (each displaced by up to
15 % of the spacing, about 5 % of the street links dropped, so there are dead ends, detours and the odd island),
square communities of ``block_side`` × ``block_side`` grid cells grouped 4 × 4 into towns, homes clustered around
a few Gaussian centres over a uniform background, each within 60 m of a street, and ``facilities_per_category``
facilities of each of the seven categories near the streets.

Everything is vectorised: a 500 × 500 grid (250,000 nodes, ~475,000 street links) with 200,000 homes is generated
in a few seconds.

>>> from geofacility.synth import synthetic_city
>>> city = synthetic_city(n_nodes_side=30, n_demand=2_000, facilities_per_category=5, seed=1)
>>> city.write("output/synthetic")   # communities.gpkg, demand.csv, facilities.csv, streets.gpkg
>>> city.write("output/synthetic_pq", format="parquet")   # the same as GeoParquet: *.parquet
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from .atomic import atomic_path
from .network import _NODE_PRECISION_M, Network
from .standards import CATEGORIES, default_check, load_standards

__all__ = ["SyntheticCity", "synthetic_city", "JITTER_SHARE", "DROP_SHARE", "MAX_DEMAND_OFFSET_M"]

#: largest displacement of an intersection, as a share of the grid spacing
JITTER_SHARE = 0.15
#: share of street links dropped
DROP_SHARE = 0.05
#: homes lie within this distance (metres) of the street link they were placed along
MAX_DEMAND_OFFSET_M = 55.0
#: facilities lie within this distance (metres) of their street link
MAX_FACILITY_OFFSET_M = 30.0
#: floor area (m²) a facility is drawn around when its standard sets no minimum size
_FALLBACK_AREA_M2 = {"community_service": 300.0, "sports": 300.0, "canteen": 150.0}


@dataclass
class SyntheticCity:
    """A generated city; all geometry in :attr:`crs` (metric). See :func:`synthetic_city`."""

    streets: gpd.GeoDataFrame
    network: Network
    communities: gpd.GeoDataFrame
    demand: gpd.GeoDataFrame
    facilities: gpd.GeoDataFrame
    crs: CRS

    def segment_coords(self) -> np.ndarray:
        """(segments, 2, 2) end coordinates of the network's segments, in order (what the streets hold)."""
        return np.stack([self.network.xy[self.network.u], self.network.xy[self.network.v]], axis=1)

    def write(self, folder, *, format: str = "gpkg", streets: bool = True) -> dict[str, Path]:
        """Write the inputs of ``geofacility analyze``; returns the paths by role.

        ``format="gpkg"``: ``communities.gpkg`` and ``streets.gpkg`` (in :attr:`crs`), ``demand.csv`` and
        ``facilities.csv`` with WGS84 ``lon``/``lat`` columns. ``format="parquet"``: ``communities.parquet``,
        ``streets.parquet``, ``demand.parquet`` and ``facilities.parquet``, GeoParquet in :attr:`crs` with a bbox
        covering column; the homes in Hilbert-curve order in row groups of 65,536, so that a batch group reading
        its area by bounding box reads a few row groups, not the whole file. ``streets=False``: no street file
        (a straight-line study)."""
        if format not in ("gpkg", "parquet"):
            raise ValueError(f"format {format!r}: use gpkg or parquet")
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        if format == "parquet":
            paths = {"communities": folder / "communities.parquet", "demand": folder / "demand.parquet",
                     "facilities": folder / "facilities.parquet"}
            order = np.argsort(self.demand.geometry.hilbert_distance().to_numpy(), kind="stable")
            frames = [("communities", self.communities), ("demand", self.demand.iloc[order]),
                      ("facilities", self.facilities)]
            if streets:
                paths["network"] = folder / "streets.parquet"
                frames.append(("network", self.streets))
            for role, frame in frames:
                with atomic_path(paths[role]) as tmp:
                    frame.to_parquet(tmp, index=False, compression="zstd", write_covering_bbox=True,
                                     schema_version="1.1.0", row_group_size=65_536)
            return paths
        paths = {"communities": folder / "communities.gpkg", "demand": folder / "demand.csv",
                 "facilities": folder / "facilities.csv"}
        if streets:
            paths["network"] = folder / "streets.gpkg"
            with atomic_path(paths["network"]) as tmp:
                self.streets.to_file(tmp, driver="GPKG", layer="streets")
        with atomic_path(paths["communities"]) as tmp:
            self.communities.to_file(tmp, driver="GPKG", layer="communities")
        for role, frame in (("demand", self.demand), ("facilities", self.facilities)):
            wgs = frame.geometry.to_crs(4326)
            table = pd.DataFrame(frame.drop(columns="geometry"))
            table["lon"] = wgs.x.to_numpy()
            table["lat"] = wgs.y.to_numpy()
            with atomic_path(paths[role]) as tmp:
                table.to_csv(tmp, index=False, float_format="%.9f")
        return paths


def _name_width(count: int) -> int:
    return max(2, len(str(count)))


def _runs(kept: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For a (lines, links) mask of kept links along each grid line: the run (street) number of every kept link
    in row-major order, and whether the link ends its run."""
    lines, links = kept.shape
    prev = np.zeros_like(kept)
    prev[:, 1:] = kept[:, :-1]
    nxt = np.zeros_like(kept)
    nxt[:, :-1] = kept[:, 1:]
    starts = (kept & ~prev).ravel()
    flat = kept.ravel()
    run = np.cumsum(starts)[flat] - 1
    last = (kept & ~nxt).ravel()[flat]
    return run, last


def _street_lines(node_xy: np.ndarray, start: np.ndarray, end: np.ndarray, run: np.ndarray, last: np.ndarray
                  ) -> np.ndarray:
    """LineStrings, one per run of consecutive kept links: the start node of every link, plus the end node of
    the last link of each run (the links come in order along their run)."""
    nodes = np.concatenate([start, end[last]])
    line = np.concatenate([run, run[last]])
    pos = np.concatenate([np.arange(len(start)), np.flatnonzero(last) + 0.5])
    order = np.lexsort((pos, line))
    return shapely.linestrings(node_xy[nodes[order]], indices=line[order])


def _grid_network(node_xy: np.ndarray, u: np.ndarray, v: np.ndarray, crs: CRS) -> Network:
    """The network ``network_from_lines(streets, node=False)`` gives, built from the grid arrays: nodes are the
    used intersections in the order of their millimetre-rounded (x, y) keys, segments in street order."""
    touched = np.zeros(len(node_xy), dtype=bool)
    touched[u] = True
    touched[v] = True
    used = np.flatnonzero(touched)
    keys = np.round(node_xy[used] / _NODE_PRECISION_M).astype(np.int64)
    order = used[np.lexsort((keys[:, 1], keys[:, 0]))]
    index = np.full(len(node_xy), -1, dtype=np.int64)
    index[order] = np.arange(len(order))
    xy = node_xy[order]
    nu, nv = index[u], index[v]
    length = np.hypot(*(xy[nv] - xy[nu]).T)
    return Network(xy=xy, u=nu, v=nv, length=length, crs=crs, source="synthetic")


def _along_links(rng: np.random.Generator, node_xy: np.ndarray, u: np.ndarray, v: np.ndarray, link: np.ndarray,
                 min_offset: float, max_offset: float) -> np.ndarray:
    """A point beside each chosen link: a random position along it, moved sideways by a random offset."""
    a, b = node_xy[u[link]], node_xy[v[link]]
    t = rng.uniform(0.05, 0.95, len(link))[:, None]
    d = b - a
    normal = np.column_stack([-d[:, 1], d[:, 0]]) / np.hypot(d[:, 0], d[:, 1])[:, None]
    side = np.where(rng.random(len(link)) < 0.5, -1.0, 1.0)
    offset = (side * rng.uniform(min_offset, max_offset, len(link)))[:, None]
    return a + d * t + normal * offset


def synthetic_city(*, n_nodes_side: int = 100, spacing_m: float = 100.0, n_demand: int = 10_000,
                   facilities_per_category: int = 30, block_side: int = 5, seed: int = 0,
                   origin=(440_000.0, 4_420_000.0), crs="EPSG:32650", town_side: int = 4) -> SyntheticCity:
    """A synthetic city (see the module docstring); the same arguments always give the same city.

    - ``streets``: ``street_id``, ``name``, LineString geometry — one line per run of consecutive grid links
      (a row or column street up to a dropped link); ``network`` is the :class:`~geofacility.network.Network`
      ``network_from_lines(streets.geometry, crs, node=False)`` gives, built directly from the arrays;
    - ``communities``: ``community_id``, ``community``, ``town``, ``population`` (sum of its demand weights),
      ``households`` (population / 2.5, rounded), square polygons of ``block_side`` × ``block_side`` cells (the
      outer ones reach past the grid's edge so that every home is in one); towns are ``town_side`` ×
      ``town_side`` communities (4 × 4 by default; the province preset of ``geofacility synth`` takes 7 × 7);
    - ``demand``: ``demand_id``, ``population`` (integers 1–200), points within 60 m of a street;
    - ``facilities``: ``facility_id``, ``name``, ``category``, ``subcategory`` (the category's default),
      ``floor_area_m2`` (0.7–2 × the standard's minimum size, so about a fifth are below it), points within
      30 m of a street.
    """
    if n_nodes_side < 2:
        raise ValueError("n_nodes_side must be at least 2")
    if block_side < 1 or town_side < 1:
        raise ValueError("block_side and town_side must be at least 1")
    crs = CRS.from_user_input(crs)
    rng = np.random.default_rng(seed)
    n = int(n_nodes_side)
    s = float(spacing_m)
    x0, y0 = float(origin[0]), float(origin[1])
    width = (n - 1) * s

    # intersections: node k = row * n + col, displaced by up to JITTER_SHARE × spacing in a random direction
    col, row = np.meshgrid(np.arange(n), np.arange(n))
    radius = JITTER_SHARE * s * np.sqrt(rng.random(n * n))
    angle = rng.uniform(0.0, 2.0 * np.pi, n * n)
    node_xy = np.column_stack([x0 + col.ravel() * s + radius * np.cos(angle),
                               y0 + row.ravel() * s + radius * np.sin(angle)])

    # links: east-west along each row (row-major), then north-south along each column (column-major)
    ids = np.arange(n * n).reshape(n, n)  # [row, col]
    h_kept = rng.random((n, n - 1)) >= DROP_SHARE  # [row, link along the row]
    v_kept = rng.random((n, n - 1)) >= DROP_SHARE  # [col, link along the column]
    h_start, h_end = ids[:, :-1][h_kept], ids[:, 1:][h_kept]
    v_start, v_end = ids[:-1, :].T[v_kept], ids[1:, :].T[v_kept]
    h_run, h_last = _runs(h_kept)
    v_run, v_last = _runs(v_kept)
    h_lines = _street_lines(node_xy, h_start, h_end, h_run, h_last)
    v_lines = _street_lines(node_xy, v_start, v_end, v_run, v_last)
    h_row = row[:, :-1][h_kept][np.r_[True, np.diff(h_run) > 0]] if len(h_run) else np.empty(0, dtype=np.int64)
    v_col = col[:-1, :].T[v_kept][np.r_[True, np.diff(v_run) > 0]] if len(v_run) else np.empty(0, dtype=np.int64)
    w_row, w_col = _name_width(n), _name_width(n)
    names = np.concatenate([
        np.char.add("Row Street ", np.char.zfill(h_row.astype(str), w_row)),
        np.char.add("Column Street ", np.char.zfill(v_col.astype(str), w_col)),
    ]) if len(h_lines) + len(v_lines) else np.empty(0, dtype=str)
    n_streets = len(h_lines) + len(v_lines)
    streets = gpd.GeoDataFrame(
        {"street_id": np.char.add("S", np.char.zfill(np.arange(1, n_streets + 1).astype(str),
                                                     _name_width(n_streets))),
         "name": names},
        geometry=np.concatenate([h_lines, v_lines]), crs=crs)
    u = np.concatenate([h_start, v_start])
    v = np.concatenate([h_end, v_end])
    network = _grid_network(node_xy, u, v, crs)

    # where people live: a few Gaussian centres over a uniform background, sampled per link
    mid = (node_xy[u] + node_xy[v]) / 2.0
    n_centres = max(3, int(round(width / 4000.0)))
    centres = np.column_stack([rng.uniform(x0 + 0.1 * width, x0 + 0.9 * width, n_centres),
                               rng.uniform(y0 + 0.1 * width, y0 + 0.9 * width, n_centres)])
    sigma = rng.uniform(0.04, 0.12, n_centres) * max(width, s)
    strength = rng.lognormal(0.0, 0.5, n_centres)
    density = np.zeros(len(u))
    for c in range(n_centres):  # a handful of centres, each a vectorised pass over all links
        d2 = ((mid - centres[c]) ** 2).sum(axis=1)
        density += strength[c] * np.exp(-d2 / (2.0 * sigma[c] ** 2))
    clustered = density / density.sum() if density.sum() > 0 else np.full(len(u), 1.0 / len(u))
    uniform = np.full(len(u), 1.0 / len(u))
    p_home = 0.75 * clustered + 0.25 * uniform
    home_link = rng.choice(len(u), size=n_demand, p=p_home / p_home.sum())
    home_xy = _along_links(rng, node_xy, u, v, home_link, 5.0, MAX_DEMAND_OFFSET_M)
    people = np.clip(np.rint(rng.lognormal(np.log(25.0), 0.9, n_demand)), 1, 200).astype(np.int64)
    demand = gpd.GeoDataFrame(
        {"demand_id": np.char.add("D", np.char.zfill(np.arange(1, n_demand + 1).astype(str),
                                                     _name_width(n_demand))),
         "population": people},
        geometry=shapely.points(home_xy), crs=crs)

    # facilities: half follow people, half anywhere on the street grid
    table = load_standards()
    p_fac = 0.5 * clustered + 0.5 * uniform
    p_fac = p_fac / p_fac.sum()
    n_fac = facilities_per_category * len(CATEGORIES)
    fac_link = rng.choice(len(u), size=n_fac, p=p_fac)
    fac_xy = _along_links(rng, node_xy, u, v, fac_link, 0.0, MAX_FACILITY_OFFSET_M)
    area_factor = rng.uniform(0.7, 2.0, n_fac)
    checks = [default_check(table, c) for c in CATEGORIES]
    category = np.repeat(np.array(CATEGORIES, dtype=object), facilities_per_category)
    base = np.repeat([c.min_building_m2 or _FALLBACK_AREA_M2.get(c.category, 200.0) for c in checks],
                     facilities_per_category)
    number = np.tile(np.arange(1, facilities_per_category + 1), len(CATEGORIES))
    facilities = gpd.GeoDataFrame(
        {"facility_id": np.char.add("F", np.char.zfill(np.arange(1, n_fac + 1).astype(str), _name_width(n_fac))),
         "name": np.char.add(np.repeat([c.name_zh + " " for c in checks], facilities_per_category),
                             number.astype(str)),
         "category": category,
         "subcategory": np.repeat(np.array([c.subcategory for c in checks], dtype=object), facilities_per_category),
         "floor_area_m2": np.round(base * area_factor),
         },
        geometry=shapely.points(fac_xy), crs=crs)

    # communities: block_side × block_side cells; the outer ones reach past the jittered edge and the homes
    block = block_side * s
    nb = max(1, math.ceil((n - 1) / block_side))
    margin = JITTER_SHARE * s + MAX_DEMAND_OFFSET_M + 10.0
    edges = x0 + np.arange(nb + 1) * block
    edges[-1] = x0 + width
    lo = edges[:-1].copy()
    hi = edges[1:].copy()
    lo[0] -= margin
    hi[-1] += margin
    edges_y = edges - x0 + y0
    lo_y, hi_y = edges_y[:-1].copy(), edges_y[1:].copy()
    lo_y[0] -= margin
    hi_y[-1] += margin
    bc, br = np.meshgrid(np.arange(nb), np.arange(nb))  # community k = br * nb + bc
    bc, br = bc.ravel(), br.ravel()
    polys = shapely.box(lo[bc], lo_y[br], hi[bc], hi_y[br])
    home_c = np.clip(np.floor((home_xy[:, 0] - x0) / block), 0, nb - 1).astype(np.int64)
    home_r = np.clip(np.floor((home_xy[:, 1] - y0) / block), 0, nb - 1).astype(np.int64)
    population = np.bincount(home_r * nb + home_c, weights=people, minlength=nb * nb)
    n_towns_side = math.ceil(nb / town_side)
    town_no = (br // town_side) * n_towns_side + bc // town_side + 1
    width_c = _name_width(nb * nb)
    number_c = np.char.zfill(np.arange(1, nb * nb + 1).astype(str), width_c)
    communities = gpd.GeoDataFrame(
        {"community_id": np.char.add("C", number_c),
         "community": np.char.add("Community ", number_c),
         "town": np.char.add("Town ", np.char.zfill(town_no.astype(str), _name_width(n_towns_side ** 2))),
         "population": population,
         "households": np.round(population / 2.5)},
        geometry=polys, crs=crs)
    return SyntheticCity(streets=streets, network=network, communities=communities, demand=demand,
                         facilities=facilities, crs=crs)
