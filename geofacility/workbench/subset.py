"""What a click can change (:func:`affected`): the communities holding demand within the toggled rooms' reach,
the communities they stand in, whole towns for street-level standards, and communities sharing a boundary
facility with those; and the distance measure over that subset's demand (:func:`sub_measure`: straight line, or on
foot over the same network with the demand's snaps sliced)."""
from __future__ import annotations

import numpy as np

__all__ = ["affected", "sub_measure"]


def affected(wb, category: str, rooms) -> np.ndarray:
    """Positions (in the scenario's table) of the communities a change of ``rooms`` can touch."""
    cat = wb._cat(category)
    study = cat.study
    cols = np.asarray(sorted(rooms), dtype=np.int64)
    cov = study.coverage.tocsc()
    rows = np.concatenate([cov.indices[cov.indptr[j]:cov.indptr[j + 1]] for j in cols]) if len(cols) else \
        np.zeros(0, dtype=np.int64)
    pos = wb._dcode[rows]
    own = wb._pos_of.get_indexer(study.candidates["community_id"].iloc[cols].astype(object))
    pos = np.unique(np.r_[pos, own])
    pos = pos[pos >= 0]
    checks = [c for c in wb.analysis.checks if c.category == category]
    table = wb._table
    for _ in range(4):  # closure: whole towns (street-level standards), communities sharing a boundary facility
        before = len(pos)
        if any(c.scope == "town" for c in checks):
            pos = np.flatnonzero(np.isin(wb._town_codes, np.unique(wb._town_codes[pos])))
        fac = wb._facilities(category)
        if len(fac) and len(pos):
            sub = table.iloc[pos]
            f_hit, _k = sub.sindex.query(fac.geometry.values, predicate="intersects")
            if len(f_hit):
                _f2, k_all = table.sindex.query(fac.geometry.values[np.unique(f_hit)], predicate="intersects")
                pos = np.unique(np.r_[pos, k_all])
        if len(pos) == before:
            break
    return pos


def sub_measure(a, category: str, rows: np.ndarray, dem):
    from ..distance import StraightLineDistance
    from ..network import Snap, WalkingDistance

    od = (getattr(a, "category_measures", None) or {}).get(category)
    if od is not None:
        raise _error()("该类别按成本表（OD）计量，工作台暂不支持 / the workbench does not support a category "
                             "measured by a cost table yet")
    m = a.measure
    if isinstance(m, WalkingDistance):
        sub = WalkingDistance(m.network, dem.geometry.values, max_snap_m=m.max_snap_m,
                              reach_factor=m.reach_factor)
        snap = m.demand
        sub.__dict__["demand"] = Snap(segment=snap.segment[rows], along=snap.along[rows],
                                      offset=snap.offset[rows])
        return sub
    return StraightLineDistance(dem.geometry.values)



def _error():
    from .model import WorkbenchError

    return WorkbenchError
