"""Demand: where people live, as weighted points in the metric CRS.

Either the planner's points (compounds, buildings, a population grid) assigned to communities, or — when none
are given — each community's population spread over its polygon on a regular grid, weights summing exactly to
the community's population. Demand outside every community is reported, never dropped.
"""
from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .errors import InputError, WarningLog

__all__ = ["spread_population", "assign_communities", "complete_demand"]


def spread_population(communities: gpd.GeoDataFrame, *, cell_m: float = 100.0) -> gpd.GeoDataFrame:
    """Spread each community's ``population`` over a ``cell_m`` grid clipped to its polygon.

    One demand point per grid-cell piece (a point inside the piece), weighted by the piece's share of the
    community's area, so the weights of a community sum to its population (up to float rounding). A community
    smaller than a cell gets one point. Vectorised: one STRtree query of all cells against all communities.
    """
    if communities.crs is None or not communities.crs.is_projected:
        raise ValueError("spread_population needs communities in a projected (metric) CRS")
    # the cells over each community's own bounding box (not the whole study's: communities far apart would make
    # a grid of the empty land between them), each cell once
    bounds = communities.geometry.bounds.to_numpy()
    ix0, iy0 = np.floor(bounds[:, 0] / cell_m), np.floor(bounds[:, 1] / cell_m)
    nx = np.maximum(np.ceil(bounds[:, 2] / cell_m) - ix0, 1).astype(np.int64)
    ny = np.maximum(np.ceil(bounds[:, 3] / cell_m) - iy0, 1).astype(np.int64)
    counts = nx * ny
    total_cells = int(counts.sum())
    _check_grid(total_cells, cell_m, communities, counts)
    owner = np.repeat(np.arange(len(counts)), counts)
    k = np.arange(total_cells) - np.repeat(np.cumsum(counts) - counts, counts)
    cx = (ix0[owner] + k % nx[owner]).astype(np.int64)
    cy = (iy0[owner] + k // nx[owner]).astype(np.int64)
    cells_xy = np.unique(np.column_stack([cx, cy]), axis=0)
    gx, gy = cells_xy[:, 0] * cell_m, cells_xy[:, 1] * cell_m
    cells = shapely.box(gx, gy, gx + cell_m, gy + cell_m)
    polys = np.asarray(communities.geometry.values)
    tree = shapely.STRtree(cells)
    poly_idx, cell_idx = tree.query(polys, predicate="intersects")
    # a cell wholly inside its community is its own piece; only cells on a boundary are cut (cutting every cell
    # of a district against its detailed boundary took minutes for Beijing's 16,000 km²)
    inside_poly, inside_cell = tree.query(polys, predicate="contains")
    whole = np.isin(poly_idx * len(cells) + cell_idx, inside_poly * len(cells) + inside_cell)
    pieces = cells[cell_idx].copy()
    pieces[~whole] = shapely.intersection(cells[cell_idx[~whole]], polys[poly_idx[~whole]])
    area = shapely.area(pieces)
    # slivers from boundaries a hair off the grid (reprojection noise) would add points carrying ~0 people:
    # pieces under 0.1 % of a cell are dropped unless they are all a community has
    keep = area > 1e-3 * cell_m * cell_m
    has_piece = np.bincount(poly_idx[keep], minlength=len(polys)) > 0
    keep |= (area > 0) & ~has_piece[poly_idx]
    poly_idx, pieces, area = poly_idx[keep], pieces[keep], area[keep]
    total = np.bincount(poly_idx, weights=area, minlength=len(polys))
    population = communities["population"].fillna(0).to_numpy(dtype="float64")
    weight = population[poly_idx] * area / total[poly_idx]
    ids = communities["community_id"].to_numpy()
    demand = gpd.GeoDataFrame(
        {
            "community_id": ids[poly_idx],
            "weight": weight,
        },
        geometry=shapely.point_on_surface(pieces),
        crs=communities.crs,
    )
    order = np.lexsort((np.arange(len(demand)), poly_idx))
    demand = demand.iloc[order].reset_index(drop=True)
    demand.insert(0, "demand_id", demand["community_id"].astype(str) + ":"
                  + demand.groupby("community_id").cumcount().astype(str))
    demand["source"] = "spread"
    return demand


#: bytes of memory one grid cell of :func:`spread_population` takes at most (box, pieces, points, indexes)
BYTES_PER_CELL = 1_500


def _check_grid(total_cells: int, cell_m: float, communities: gpd.GeoDataFrame, counts: np.ndarray) -> None:
    """Refuse, before allocating it, a grid that would not fit in memory."""
    from .read.files import available_memory

    need, free = total_cells * BYTES_PER_CELL, available_memory()
    if free is not None and need > free:
        worst = int(np.argmax(counts))
        cid = communities["community_id"].iloc[worst] if "community_id" in communities.columns else worst
        raise InputError(
            f"communities: spreading the population over a {cell_m:g} m grid needs {total_cells:,} cells (about "
            f"{need / 1e9:.1f} GB; {free / 1e9:.1f} GB available); the largest is community {cid} "
            f"({counts[worst]:,} cells): check that the boundaries are in metres-sized units and the right place, "
            "or give the population as points (--demand)")


def assign_communities(demand: gpd.GeoDataFrame, communities: gpd.GeoDataFrame, *, snap_m: float = 50.0,
                       log: WarningLog | None = None, label: str = "demand") -> gpd.GeoDataFrame:
    """Give every demand point the ``community_id`` of the community containing it.

    A point on a shared boundary goes to the first community in ``community_id`` order (deterministic). A point
    outside every community but within ``snap_m`` metres of one is assigned to the nearest (warning); farther
    points keep ``community_id`` None and are reported, never dropped.
    """
    log = log if log is not None else WarningLog()
    demand = demand.copy()
    order = np.argsort(communities["community_id"].to_numpy(), kind="stable")
    polys = np.asarray(communities.geometry.values)[order]
    ids = communities["community_id"].to_numpy()[order]
    tree = shapely.STRtree(polys)
    points = np.asarray(demand.geometry.values)
    pt_idx, poly_idx = tree.query(points, predicate="intersects")
    first = np.full(len(points), len(polys))
    np.minimum.at(first, pt_idx, poly_idx)  # lowest id among the containing communities
    inside = first < len(polys)
    assigned = np.full(len(demand), None, dtype=object)
    assigned[inside] = ids[first[inside]]
    outside = np.flatnonzero(pd.isna(assigned))
    if len(outside):
        near_pt, near_poly = tree.query_nearest(points[outside], max_distance=snap_m, all_matches=False)
        dist = shapely.distance(points[outside][near_pt], polys[near_poly])
        rows = demand["source_row"].to_numpy() if "source_row" in demand.columns else demand.index.to_numpy()
        for p, c, d in zip(outside[near_pt], near_poly, dist):
            assigned[p] = ids[c]
            log.add(label, rows[p], f"point lies {d:.0f} m outside every community; assigned to the nearest, "
                                    f"{ids[c]}", zh=f"该点在所有社区之外 {d:.0f} m，归入最近的社区 {ids[c]}")
        far = np.setdiff1d(np.arange(len(outside)), near_pt)
        for p in outside[far]:
            log.add(label, rows[p], f"point lies more than {snap_m:g} m outside every community; kept as demand "
                                    "outside the communities (counted in no community)",
                    zh=f"该点在所有社区之外超过 {snap_m:g} m，作为社区外需求保留（不计入任何社区）")
    demand["community_id"] = assigned
    return demand


def complete_demand(demand: gpd.GeoDataFrame, communities: gpd.GeoDataFrame, *,
                    log: WarningLog | None = None, label: str = "demand") -> gpd.GeoDataFrame:
    """Communities with a population but no demand point get one point inside them carrying that population."""
    log = log if log is not None else WarningLog()
    have = demand["community_id"].dropna().unique()
    lacking = communities[~communities["community_id"].isin(have) & (communities["population"].fillna(0) > 0)]
    if lacking.empty:
        return demand
    for cid in lacking["community_id"]:
        log.add(label, None, f"community {cid} has population but no demand point; its population is placed at "
                             "one point inside it", zh=f"社区 {cid} 有人口但没有需求点：其人口放在社区内的一点")
    extra = gpd.GeoDataFrame(
        {
            "demand_id": [f"{c}:centre" for c in lacking["community_id"]],
            "community_id": lacking["community_id"].to_numpy(),
            "weight": lacking["population"].to_numpy(dtype="float64"),
            "source": "community centre",
        },
        geometry=lacking.geometry.representative_point().values,
        crs=communities.crs,
    )
    return pd.concat([demand, extra], ignore_index=True)
