"""Travel costs from an OD table (``--cost-matrix``): walking or driving times from a routing service, metres from
a planner's own network model — whatever the table says, in the unit of the radius.

The table is long-form: one row per (origin, destination, cost), origins the demand ids, destinations the ids of
the existing facilities of the category and of the candidate rooms. With a cost table a category is measured by
it *throughout*: who the existing facilities already cover, which candidates would cover whom, the capacity
split, and the ledger "as if" the selected rooms were built. A pair the table does not list is unreachable
(routing services list what they can reach). A demand point, an existing facility or a candidate the table does
not mention at all is reported — it reaches nobody — and never silently measured in a straight line; a table
that mentions none of the category's existing facilities is refused (it was made for the candidates only).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import InputError, WarningLog

__all__ = ["CostTable", "CostMatrixDistance", "read_cost_table", "cost_ids"]


def cost_ids(facilities: pd.DataFrame) -> np.ndarray:
    """The id the cost table knows each facility by: its ``cost_id`` (a selected candidate room in the ledger "as
    if built" is known by its candidate id, or a combined set by its first room's), else its ``facility_id``."""
    ids = facilities["facility_id"].astype(str)
    if "cost_id" in facilities:
        ids = facilities["cost_id"].astype(object).where(facilities["cost_id"].notna(), ids).astype(str)
    return ids.to_numpy()


@dataclass
class CostTable:
    """An OD cost table as read: origin and destination ids (text), costs (≥ 0, finite), and where it came from."""

    origin: np.ndarray
    destination: np.ndarray
    cost: np.ndarray
    path: str
    columns: dict[str, str]
    sha256: str

    def describe(self) -> dict:
        """What ``selection.json`` and ``run.json`` record: the file, its columns, its hash, its size."""
        return {"file": self.path, "columns": dict(self.columns), "sha256": self.sha256, "rows": int(len(self.cost)),
                "origins": int(len(np.unique(self.origin))), "destinations": int(len(np.unique(self.destination)))}


def read_cost_table(path, *, origin: str = "origin", destination: str = "destination", value: str = "cost",
                    encoding: str | None = None) -> CostTable:
    """Read and check an OD table: the three columns must exist, every cost be a number ≥ 0 (as every input number
    is read: ``12,34`` and ``inf`` refused), and no (origin, destination) pair appear twice with two costs."""
    from .read.encodings import _read_csv
    from .read.numbers import number_problem, parse_numbers
    from .outputs import file_sha256

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: file not found; give the OD cost table (--cost-matrix)")
    table = _read_csv(path, encoding)
    columns = {"origin": origin, "destination": destination, "value": value}
    for key, column in columns.items():
        if column not in table.columns:
            raise InputError(f"{path}: no column {column!r} (--cost-{key}); its columns are "
                             f"{', '.join(map(str, table.columns))}")
    if table.empty:
        raise InputError(f"{path}: the cost table has no rows")
    o = table[origin].astype("string").str.strip()
    d = table[destination].astype("string").str.strip()
    parsed = parse_numbers(table[value])
    cost = parsed.values
    bad = o.isna().to_numpy() | d.isna().to_numpy() | ~np.isfinite(cost) | (cost < 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        cell = table[value].iloc[i]
        problem = None if parsed.problem is None else parsed.problem[i]
        why = ("an origin or destination is empty" if o.isna().iloc[i] or d.isna().iloc[i] else
               f"cost {number_problem(cell, problem)}" if problem is not None else f"cost {cell!r} is not a number ≥ 0")
        raise InputError(f"{path}, row {i + 2}: {why}; fix the row (a decimal point, no thousands separators)"
                         + (f" (and {int(bad.sum()) - 1} more rows)" if bad.sum() > 1 else ""))
    frame = pd.DataFrame({"o": o.to_numpy(dtype=object), "d": d.to_numpy(dtype=object), "c": cost})
    twice = frame.duplicated(["o", "d"], keep=False)
    if twice.any():
        first = frame.loc[twice].iloc[0]
        rows = ", ".join(str(i + 2) for i in np.flatnonzero(((frame["o"] == first["o"]) &
                                                              (frame["d"] == first["d"])).to_numpy()))
        raise InputError(f"{path}, rows {rows}: the pair {first['o']} → {first['d']} is listed more than once; keep "
                         "one cost per pair")
    return CostTable(origin=frame["o"].to_numpy(), destination=frame["d"].to_numpy(), cost=cost.astype("float64"),
                     path=str(path), columns=columns, sha256=file_sha256(path))


class CostMatrixDistance:
    """The distance measure of a category measured by an OD table (used where a StraightLineDistance or a
    WalkingDistance would be): costs between the demand points, by their ``demand_id``, and facilities or
    candidates, by their id."""

    method = "cost-matrix"
    by_id = True

    def __init__(self, table: CostTable, demand_ids) -> None:
        self.table = table
        demand_ids = pd.Index(pd.Series(demand_ids).astype(str).to_numpy())
        self.n_demand = len(demand_ids)
        row = demand_ids.get_indexer(table.origin)
        keep = row >= 0
        self._row = row[keep].astype(np.int64)
        self._dest = pd.Index(table.destination[keep])
        self._cost = table.cost[keep]
        #: demand points the table never mentions as an origin
        self.missing_demand = np.setdiff1d(np.arange(self.n_demand), self._row)
        #: origins of the table that are not demand points of the study
        self.unknown_origins = np.unique(table.origin[~keep])
        self._destinations = set(self._dest)

    def _columns(self, ids) -> np.ndarray:
        """The position in ``ids`` of each table row's destination (−1: not one of them; the first where an id
        repeats)."""
        ids = pd.Series(ids).astype(str)
        if ids.duplicated().any():
            position = pd.Series(np.arange(len(ids)), index=ids.to_numpy()).groupby(level=0).min()
            return position.reindex(self._dest).fillna(-1).to_numpy(dtype=np.int64)
        return pd.Index(ids.to_numpy()).get_indexer(self._dest).astype(np.int64)

    def missing(self, ids) -> np.ndarray:
        """The ids (facilities or candidates) the table never mentions as a destination."""
        ids = pd.Series(ids).astype(str)
        return ids[~ids.isin(self._destinations)].to_numpy()

    def pairs(self, ids, max_cost: float = np.inf) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(demand index, index into ``ids``, cost) for every listed pair costing at most ``max_cost``."""
        col = self._columns(ids)
        keep = (col >= 0) & (self._cost <= max_cost)
        return self._row[keep], col[keep], self._cost[keep]

    def nearest(self, facility_points=None, radius_m: float | None = None, *, ids=None
                ) -> tuple[np.ndarray, np.ndarray]:
        """Per demand point the least cost to one of the facilities ``ids`` and its position (inf, −1: none
        listed). Ties go to the first of ``ids``. Costs are in the table's unit, that of the radius (metres for
        distances); ``radius_m`` is not needed here."""
        if ids is None:
            raise ValueError("a cost-matrix measure finds facilities by their ids")
        dist = np.full(self.n_demand, np.inf)
        nearest = np.full(self.n_demand, -1, dtype=np.int64)
        d, f, c = self.pairs(ids)
        if len(d):
            order = np.lexsort((f, c, d))
            d, f, c = d[order], f[order], c[order]
            first = np.r_[True, d[1:] != d[:-1]]
            dist[d[first]] = c[first]
            nearest[d[first]] = f[first]
        return dist, nearest

    def report(self, facilities: pd.DataFrame, category: str, log: WarningLog) -> None:
        """Say what the table does not cover: demand points, existing facilities of ``category``; refuse a table
        that mentions none of the demand points, or none of the existing facilities."""
        path = self.table.path
        if self.n_demand and len(self.missing_demand) == self.n_demand:
            raise InputError(f"{path}: none of the {self.n_demand} demand ids of this study is an origin of the cost "
                             "table; its origins must be the demand ids (the --demand file's id column)")
        fac_ids = cost_ids(facilities)
        missing = self.missing(fac_ids)
        if len(fac_ids) and len(missing) == len(fac_ids):
            raise InputError(f"{path}: none of the {len(fac_ids)} existing {category} facilities (ids "
                             f"{', '.join(fac_ids[:5])}{' …' if len(fac_ids) > 5 else ''}) is a destination of the "
                             "cost table; with --cost-matrix the existing facilities are measured with it too: add "
                             "their rows (origin: demand id, destination: facility id)")
        missing = set(missing)
        for file, row, fid in zip(facilities["source_file"], facilities["source_row"], fac_ids):
            if fid in missing:
                log.add(file, row, f"{category} facility {fid} is not in the cost table {Path(path).name}: it "
                                   "reaches nobody in this study (it is not measured in a straight line instead); "
                                   "add its rows to the table",
                        zh=f"设施 {fid} 不在成本表 {Path(path).name} 中：在本研究中不能到达任何人（不改按直线距离计）；"
                           "请在表中补充其各行")
        if len(self.missing_demand):
            log.add(path, None, f"{len(self.missing_demand)} demand points are not origins of the cost table: they "
                                f"count as not reached by any {category} facility or candidate (not measured in a "
                                "straight line); add their rows", severity="warning",
                    zh=f"{len(self.missing_demand)} 个需求点不是成本表的起点：按任何设施或候选房源均不可达计（不改按直线距离计）；"
                       "请补充其各行")
        if len(self.unknown_origins):
            shown = ", ".join(map(str, self.unknown_origins[:5]))
            log.add(path, None, f"{len(self.unknown_origins)} origins of the cost table are not demand ids of this "
                                f"study (e.g. {shown}); their rows are not used", severity="warning",
                    zh=f"成本表有 {len(self.unknown_origins)} 个起点不是本研究的需求点编号（如 {shown}）：这些行未采用")
