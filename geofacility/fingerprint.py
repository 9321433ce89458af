"""The fingerprint of a batch group: a hash of everything its results depend on (its communities and demand, the
facilities, the standards, the settings, on foot its network, the capacity split it takes part in), stored in the
group's manifest.json: a re-run whose fingerprint is unchanged does not write the group again."""
from __future__ import annotations

import hashlib
import json

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .study import Study

__all__ = ["row_hashes", "shared_row_hashes", "study_hash"]


#: the row hashes of frames hashed whole more than once in a process (the city's facilities, in every group's
#: :func:`_hash`): id → (a weak reference to the frame, its hashes); an entry counts only while its frame lives
_HASHED: dict = {}


def shared_row_hashes(frame: gpd.GeoDataFrame) -> np.ndarray:
    """:func:`row_hashes` of a frame many groups share (the facilities), computed once per process."""
    import weakref

    known = _HASHED.get(id(frame))
    if known is not None and known[0]() is frame:
        return known[1]
    hashes = row_hashes(frame)
    for key in [k for k, (ref, _) in _HASHED.items() if ref() is None]:
        del _HASHED[key]
    _HASHED[id(frame)] = (weakref.ref(frame), hashes)
    return hashes


def row_hashes(frame: gpd.GeoDataFrame) -> np.ndarray:
    """A 64-bit hash of every row: its values, their column names and types, and its geometry (WKB)."""
    table = pd.DataFrame(frame.drop(columns="geometry"))
    table.columns = [f"{c}:{t}" for c, t in table.dtypes.items()]
    table["geometry"] = shapely.to_wkb(np.asarray(frame.geometry.values), hex=True)
    return pd.util.hash_pandas_object(table, index=False, categorize=False).to_numpy()


def study_hash(study: Study, rows: tuple | None = None) -> str:
    """Everything a group's results depend on: its communities and demand, the facilities, the standards
    applied and the settings (and on foot its part of the network). ``rows``: the row hashes of the three
    frames when already known (a batch hashes the whole city's rows once, then takes each group's)."""
    h = hashlib.sha256()
    for frame, hashes in zip((study.communities, study.demand, study.facilities), rows or (None, None, None)):
        h.update(",".join(f"{c}:{t}" for c, t in frame.dtypes.items()).encode())
        if hashes is None:  # the facilities are the whole city's, the same frame in every group
            hashes = shared_row_hashes(frame) if frame is study.facilities else row_hashes(frame)
        h.update(np.ascontiguousarray(hashes).tobytes())
    h.update(repr(study.checks).encode())
    if study.not_in_use is not None and len(study.not_in_use):  # they name the stage of the group's problems
        h.update(np.ascontiguousarray(row_hashes(study.not_in_use)).tobytes())
    if study.walk is not None:  # the network around the group, not just its file name
        net = study.walk.network
        for array in (net.xy, net.u, net.v, net.snappable, net.component):
            h.update(np.ascontiguousarray(array).tobytes())
    h.update(json.dumps(study.settings, sort_keys=True, default=str).encode())
    for category in sorted(study.extents):  # the survey extents themselves, not just their file names
        h.update(category.encode() + shapely.to_wkb(study.extents[category]))
    for category in sorted(study.capacity or {}):  # shared facilities: neighbours' demand changes a group's split
        result = study.capacity[category]
        for frame in (result.communities, result.facilities):
            h.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return h.hexdigest()
