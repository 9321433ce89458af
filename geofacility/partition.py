"""Placing a batch group's own demand where the group runs (a Dask worker or the batch's process).

A partitioned batch (:func:`geofacility.batch.batch`) reads the communities, towns, facilities and standards once,
but not the homes: each group reads from the demand file only the homes within its communities' bounding box
plus the 50 m a home may lie outside its community (a bounding-box filter: GeoPackage and Shapefile through
their spatial index, GeoParquet through its row groups' bbox statistics), and places them exactly as the whole
study would (:func:`geofacility.demand.assign_communities`): against its own communities and the halo of
neighbouring ones within twice that distance, so a home near a border goes to the same community as in a whole
run, and a group keeps only the homes of its own communities. Without a demand file, the group spreads its own
communities' people (:func:`geofacility.demand.spread_population`).

What a group reports back for the roll-up's accounting of the demand file is the rows it used; the rows no
group used (farther than the snapping distance from every community, or without coordinates) are listed by the
batch with the reason.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS, Transformer

from .demand import assign_communities, complete_demand, spread_population
from .errors import WarningLog

__all__ = ["DemandSource", "BBOX_SUFFIXES", "can_partition", "halo_communities", "place_group_demand", "group_study",
           "demand_coords", "aliases_of", "group_warnings"]

#: demand files a group can read by bounding box alone (the others are read whole, once, by the batch)
BBOX_SUFFIXES = (".gpkg", ".parquet", ".geoparquet", ".fgb", ".shp")


@dataclass(frozen=True)
class DemandSource:
    """Where a group reads its homes: the demand file (None: each community's people spread over a grid) and how
    to read it, as :func:`geofacility.study.prepare` was given."""

    path: object
    coords: object = None
    encoding: str | None = None
    aliases: dict | None = None
    columns: dict | None = None
    snap_m: float = 50.0
    cell_m: float = 100.0


def can_partition(demand, *, network=None, cost_matrix=None) -> bool:
    """Whether a batch can leave the demand to its groups: a demand file read by bounding box (or none: people
    spread per community), straight-line distance (on foot the network is clipped per group from the whole one)
    and no OD cost table (keyed by every home's id)."""
    if network is not None or cost_matrix:
        return False
    if demand is None:
        return True
    text = str(demand)
    if text.startswith(("postgresql://", "postgres://", "PG:")):
        return True
    from .read.files import split_layer

    path, _ = split_layer(demand)
    return path.suffix.lower() in BBOX_SUFFIXES


def halo_communities(communities: gpd.GeoDataFrame, group: np.ndarray, snap_m: float) -> np.ndarray:
    """Positions of the communities a group's homes may be assigned to or compared with: its own (``group``, a
    boolean mask) and every other within ``2 × snap_m`` of its bounding box (a home read within ``snap_m`` of the
    box may be up to ``snap_m`` from a community outside it)."""
    minx, miny, maxx, maxy = communities.geometry.values[group].total_bounds
    pad = 2 * snap_m + 1.0
    box = shapely.box(minx - pad, miny - pad, maxx + pad, maxy + pad)
    near = communities.sindex.query(box, predicate="intersects")
    keep = group.copy()
    keep[near] = True
    return np.flatnonzero(keep)


def _lonlat_bbox(bounds, crs: CRS, pad: float) -> tuple[float, float, float, float]:
    minx, miny, maxx, maxy = bounds
    to_ll = Transformer.from_crs(crs, 4326, always_xy=True)
    return to_ll.transform_bounds(minx - pad, miny - pad, maxx + pad, maxy + pad, densify_pts=21)


def _read_demand_box(source: DemandSource, bbox, log: WarningLog) -> gpd.GeoDataFrame:
    from . import read

    return read.read_demand(source.path, coords=source.coords, encoding=source.encoding, aliases=source.aliases,
                            log=log, columns=source.columns, bbox=bbox)


def place_group_demand(communities: gpd.GeoDataFrame, halo: gpd.GeoDataFrame, source: DemandSource, crs: CRS, *,
                       log: WarningLog) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, np.ndarray]:
    """The homes of a group's ``communities`` (metric CRS ``crs``), placed as :func:`geofacility.study.place_demand`
    places the whole study's, and the communities with a missing population filled from their homes.

    Parameters
    ----------
    communities
        The group's communities (placed: metric CRS, ``community_id``, ``population``).
    halo
        The communities within reach of the group's box (:func:`halo_communities`), the group's own included.
    source
        The demand file and how to read it.
    crs
        The study's metric CRS.
    log
        Receives the warnings about the group's homes (and rows read but used by no group: the batch keeps the
        first report of each row).

    Returns
    -------
    (demand, communities, used rows)
        The group's homes in ``crs`` (file order, then one point per community with people but none), its
        communities, and the demand file's rows it uses (its ``source_row``).
    """
    communities = communities.copy()
    label = str(source.path)
    if source.path is None:
        return spread_population(communities, cell_m=source.cell_m), communities, np.arange(0)
    bbox = _lonlat_bbox(communities.total_bounds, crs, source.snap_m + 1.0)
    raw = _read_demand_box(source, bbox, log)
    dem = raw.to_crs(crs)
    placing = WarningLog()  # a home near the box's edge may be a neighbour's: its placing is said by its own group
    dem = assign_communities(dem, halo, snap_m=source.snap_m, log=placing, label=label)
    mine = dem["community_id"].isin(set(communities["community_id"])).to_numpy()
    rows_mine = {str(r) for r in dem.loc[mine, "source_row"].tolist()}
    log.extend_from(placing.kept(lambda file, row: row in rows_mine))
    dem = dem.loc[mine].sort_values("source_row", kind="stable").reset_index(drop=True)
    weights = dem.groupby("community_id")["weight"].sum()
    no_pop = communities["population"].isna()
    if no_pop.any():
        communities.loc[no_pop, "population"] = communities.loc[no_pop, "community_id"].map(weights).fillna(0.0)
        log.extend(str(communities["source_file"].iloc[0]) if "source_file" in communities.columns else "communities",
                   communities.loc[no_pop, "source_row"], "population missing: taken as the sum of the demand points "
                                                         "inside", severity="info", zh="人口缺失：取社区内各需求点之和")
    dem = complete_demand(dem, communities, log=log, label=label)
    used = dem["source_row"].dropna().to_numpy(dtype=np.int64) if "source_row" in dem.columns else np.arange(0)
    dem["source"] = dem.get("source", "input")
    return dem, communities, used


def group_study(study, rows: np.ndarray, halo: np.ndarray, source: DemandSource):
    """A group's :class:`~geofacility.study.Study` (of ``study`` prepared without the demand): its communities
    (positions ``rows``) with their homes read and placed here (``halo``: the communities they may be assigned
    to, :func:`halo_communities`), its towns' outlines; and the demand file's rows it uses."""
    comm = study.communities.iloc[rows].reset_index(drop=True)
    log = WarningLog()
    log.extend_from(study.log)
    dem, comm, used = place_group_demand(comm, study.communities.iloc[halo], source, study.crs, log=log)
    towns = study.towns
    if towns is not None:
        towns = towns.loc[towns["town"].isin(set(comm["town"]))].reset_index(drop=True)
    return replace(study, communities=comm, demand=dem, towns=towns, log=log), used


def demand_coords(coords):
    """The coordinate system given for the demand (``coords`` as :func:`geofacility.study.prepare` takes it)."""
    from .study import _role_coords

    return _role_coords(coords, "demand")


def aliases_of(aliases):
    """Column aliases as a dict (``aliases``: a dict, a file, or None)."""
    from .read.columns import load_aliases

    if aliases is None or isinstance(aliases, dict):
        return aliases
    return load_aliases(aliases)


def group_warnings(part, facility_positions) -> WarningLog:
    """The warnings a group's ledger shows: about its own communities, its homes and the facilities that can serve
    it (``facility_positions``), and those about no row or about other inputs (towns, standards …) — not every
    row of the whole city (the roll-up's warnings.csv has them all). A city of 35,000 facilities would otherwise
    write its facility warnings into each of its thousand ledgers."""
    fac = part.facilities.iloc[facility_positions]
    owned, allowed = set(), set()
    for frame in (part.communities, part.demand, fac, part.facilities, part.not_in_use):
        if frame is not None and "source_file" in frame.columns:
            owned.update(str(f) for f in frame["source_file"].dropna().unique())
    for frame in (part.communities, part.demand, fac, part.not_in_use):
        if frame is not None and "source_file" in frame.columns and "source_row" in frame.columns:
            rows = frame["source_row"].to_numpy()
            ok = pd.notna(rows)
            allowed.update(zip(frame["source_file"].astype(str).to_numpy()[ok],
                               pd.Series(rows[ok]).astype("int64").astype(str)))
    return part.log.kept(lambda file, row: row == "" or file not in owned or (file, row) in allowed)
