"""The workbench's model: one planner's session of "what if these rooms were built".

Per category, the candidate rooms are evaluated once (:func:`geofacility.siting.evaluate_candidates`, a
:class:`~geofacility.siting.SiteStudy`, built on first use). The scenario is what
:func:`geofacility.siting.with_sites` gives for the built rooms — the reference ``sites select`` writes to
``ledger_after/`` — but a click recomputes only what it can change: the communities holding demand within the
toggled room's reach (its column of the coverage matrix), the community it stands in, and for a street-level
(town-scope) standard that whole town (plus, for exactness, any community sharing a boundary facility with those).
Their rows are recomputed with :func:`geofacility.coverage.compute_coverage` on that subset (their demand, the
category's facilities with the built rooms, the category's standards, the same measure over the subset's points)
and spliced into the scenario's communities table; then the category's capacity split is recomputed
(:func:`geofacility.capacity.apply_capacity`, the study's method), as ``with_sites`` does.

All answers are JSON-able (no NaN: None). Errors a user can cause are :class:`WorkbenchError`.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ..capacity import CAPACITY_METRICS
from ..coverage import METRICS, category_totals, compute_coverage
from ..errors import InputError
from ..standards import CATEGORIES, CATEGORY_SHORT_ZH

__all__ = ["Workbench", "WorkbenchError"]

_BASE = ["community_id", "community", "town", "population", "households", "approximate", "geometry"]


class WorkbenchError(InputError):
    """A request the workbench cannot do (unknown category or room, a room that cannot be taken …); the message
    is Chinese, then English."""


def _clean(value):
    """A JSON-able scalar: NaN/NA → None, numpy numbers → Python numbers."""
    if value is None or value is pd.NA:
        return None
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if not np.isfinite(value) else float(value)
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_clean(v) for v in value]
    return value


def _records(frame: pd.DataFrame) -> list[dict]:
    return [{k: _clean(v) for k, v in row.items()} for row in frame.to_dict("records")]


@dataclass
class _Category:
    """One category's rooms: the study (original rooms, then rooms added on the map), which are built, which
    added rooms are withdrawn (an undone add)."""

    study: object
    n_original: int
    built: set = field(default_factory=set)
    withdrawn: set = field(default_factory=set)
    added: list = field(default_factory=list)  # (candidate_id, dict of what add_room was given)
    reach: list | None = None  # per room: demand rows within its reach (coverage column)
    catchments: dict = field(default_factory=dict)  # per room position: its walking catchment (on foot), drawn once


class Workbench:
    """A session on one analysis and its candidate rooms (see the module docstring and docs of the interface)."""

    def __init__(self, analysis, rooms=None, *, out, include_unreviewed: bool = False):
        from pathlib import Path

        self.analysis = analysis
        self.rooms = rooms
        self.out = Path(out)
        self.include_unreviewed = include_unreviewed
        self._cats: dict[str, _Category] = {}
        self._undo: list[dict] = []
        self._redo: list[dict] = []
        self._name: str | None = None
        self._new = 0
        self._built_fac: dict[str, gpd.GeoDataFrame] = {}
        self._init_scenario()

    # ------------------------------------------------------------------------------------------ the scenario

    def _init_scenario(self) -> None:
        """The scenario with nothing built: with_sites's computation (coverage of every category, then the
        capacity split), keeping each category's coverage-only columns and picks for the updates."""
        a = self.analysis
        facilities = a.facilities
        base = a.communities[_BASE]
        demand = a.demand[["demand_id", "community_id", "weight", "geometry"]]
        picks: dict = {}
        comm, dem = compute_coverage(base, demand, facilities, a.checks,
                                     coverage_target=a.settings.get("coverage_target", 1.0), measure=a.measure,
                                     survey_extent=getattr(a, "extents", None),
                                     category_measures=getattr(a, "category_measures", None), picks=picks)
        comm = comm.sort_values(["town", "community_id"], kind="stable").reset_index(drop=True)
        self._cov = comm.copy()  # coverage only (no capacity split)
        self._picks = picks
        self._demand = dem
        self._view = replace(a, communities=comm, demand=dem, facilities=facilities, service_areas=None,
                             coverage_picks=picks)
        self._table = self._capacity(comm, self.analysis.surveyed)
        self._baseline = self._table.copy()
        ids = self._table["community_id"].to_numpy()
        self._pos_of = pd.Index(ids)
        self._dcode = self._pos_of.get_indexer(a.demand["community_id"]).astype(np.int64)
        self._dorder = np.argsort(self._dcode, kind="stable")
        self._dstart = np.searchsorted(self._dcode[self._dorder], np.arange(len(ids) + 1))
        self._town_codes, _ = pd.factorize(self._table["town"].astype(object).fillna("").to_numpy())

    def _capacity(self, comm: gpd.GeoDataFrame, categories) -> gpd.GeoDataFrame:
        """``comm`` (coverage columns) with the capacity split of ``categories`` applied as with_sites does."""
        method = self.analysis.settings.get("capacity_method", "allocate")
        if method == "none" or not categories:
            return comm
        from ..capacity import apply_capacity
        from ..errors import WarningLog

        view = replace(self._view, communities=comm, surveyed=list(categories), coverage_picks=self._picks,
                       facilities=self._facilities())
        return apply_capacity(view, method=method, log=WarningLog()).communities

    def _facilities(self, category: str | None = None) -> gpd.GeoDataFrame:
        fac = self.analysis.facilities
        if category is not None:
            fac = fac.loc[(fac["category"] == category).to_numpy()]
        extra = [f for c, f in self._built_fac.items() if (category is None or c == category) and len(f)]
        if not extra:
            return fac
        return gpd.GeoDataFrame(pd.concat([fac, *extra], ignore_index=True), crs=self.analysis.crs)

    def _recompute(self, category: str, rooms) -> dict:
        """Recompute the category's rows the change of ``rooms`` can touch; returns what was recomputed."""
        from .subset import affected, sub_measure

        start = time.perf_counter()
        a = self.analysis
        pos = affected(self, category, rooms)
        self._built_fac[category] = self._built_rows(category)
        checks = [c for c in a.checks if c.category == category]
        rows = np.concatenate([self._dorder[self._dstart[p]:self._dstart[p + 1]] for p in pos]) if len(pos) else \
            np.zeros(0, dtype=np.int64)
        rows = np.sort(rows)
        if len(pos):
            sub = self._table.iloc[pos][_BASE]
            dem = a.demand.iloc[rows][["demand_id", "community_id", "weight", "geometry"]]
            measure = sub_measure(self.analysis, category, rows, dem)
            picks: dict = {}
            comm, _ = compute_coverage(sub, dem, self._facilities(category), checks,
                                       coverage_target=a.settings.get("coverage_target", 1.0), measure=measure,
                                       survey_extent=getattr(a, "extents", None), picks=picks)
            cols = [f"{category}_{m}" for m in METRICS]
            for col in cols:
                values = comm[col].to_numpy()
                target = self._cov[col]
                if target.dtype == object or values.dtype == object:
                    arr = target.to_numpy(dtype=object).copy()
                else:
                    arr = target.to_numpy().copy()
                arr[pos] = values
                self._cov[col] = arr
            ids = self._table["community_id"].to_numpy()[pos]
            new = self._picks[category].copy()
            new.loc[ids] = picks[category].reindex(ids).to_numpy()
            self._picks[category] = new
        before = self._table
        comm = before.copy()
        for col in [f"{category}_{m}" for m in METRICS]:
            comm[col] = self._cov[col].to_numpy()
        for m in CAPACITY_METRICS:
            comm[f"{category}_{m}"] = np.nan
        comm["n_categories_short"] = self._n_short(comm)
        comm = self._capacity(comm, [category])
        comm["n_categories_short"] = self._n_short(comm)
        self._table = comm
        changed = self._changed_rows(before, comm, category)
        ms = (time.perf_counter() - start) * 1000.0
        return {"positions": np.union1d(pos, changed), "recomputed": {
            "demand_rows": int(len(rows)), "communities": int(len(pos)), "ms": round(ms, 1)}}

    @staticmethod
    def _n_short(comm) -> np.ndarray:
        return np.sum([(comm[f"{c}_status"] == "gap").to_numpy() for c in CATEGORIES], axis=0).astype(np.int64)

    @staticmethod
    def _changed_rows(before, after, category) -> np.ndarray:
        cols = [f"{category}_{m}" for m in (*METRICS, *CAPACITY_METRICS)]
        diff = np.zeros(len(before), dtype=bool)
        for col in cols:
            x, y = before[col].to_numpy(dtype=object), after[col].to_numpy(dtype=object)
            same = (x == y) | (pd.isna(x) & pd.isna(y))
            diff |= ~same
        return np.flatnonzero(diff)

    def _built_rows(self, category: str) -> gpd.GeoDataFrame:
        from ..siting import site_facilities

        cat = self._cat(category)
        return site_facilities(self.analysis, cat.study, sorted(cat.built))

    # ------------------------------------------------------------------------------------------ categories

    def _check(self, category: str):
        checks = [c for c in self.analysis.checks if c.category == category]
        if category not in self.analysis.surveyed or not checks:
            raise WorkbenchError(f"未知或未调查的类别 {category!r} / unknown or unsurveyed category {category!r}")
        return checks[0]

    def _cat(self, category: str) -> _Category:
        self._check(category)
        if category not in self._cats:
            from ..siting import evaluate_candidates

            if self.rooms is None or not len(self.rooms):
                rooms = gpd.GeoDataFrame({"candidate_id": pd.Series([], dtype=object),
                                          "name": pd.Series([], dtype=object),
                                          "floor_area_m2": pd.Series([], dtype="float64"),
                                          "categories": pd.Series([], dtype=object),
                                          "acquisition": pd.Series([], dtype=object),
                                          "reviewed": pd.Series([], dtype=object),
                                          "cost": pd.Series([], dtype="float64")},
                                         geometry=gpd.GeoSeries([], crs=self.analysis.crs), crs=self.analysis.crs)
            else:
                rooms = self.rooms
            study = evaluate_candidates(self.analysis, rooms, category, include_unreviewed=self.include_unreviewed)
            self._cats[category] = _Category(study=study, n_original=len(study.candidates))
        return self._cats[category]

    def categories(self) -> list[dict]:
        out = []
        distance = self.analysis.settings.get("distance") or getattr(self.analysis.measure, "method", None)
        for category in CATEGORIES:
            checks = [c for c in self.analysis.checks if c.category == category]
            if category not in self.analysis.surveyed or not checks:
                continue
            out.append({"category": category, "name_zh": CATEGORY_SHORT_ZH.get(category, category),
                        "radius_m": _clean(checks[0].radius_m), "standard": "; ".join(c.label for c in checks),
                        "distance": distance})
        return out

    def candidate_ids(self, category: str) -> list[str]:
        """The ids of the rooms of ``category`` that can be toggled now: the original rooms and those dropped on
        the map, less the withdrawn (an undone drop) — without drawing any layer."""
        cat = self._cat(category)
        ids = cat.study.candidates["candidate_id"].astype(str).to_numpy()
        if cat.withdrawn:
            ids = np.delete(ids, sorted(cat.withdrawn))
        return ids.tolist()

    def _position(self, category: str, candidate_id) -> int:
        cat = self._cat(category)
        ids = cat.study.candidates["candidate_id"].astype(str).to_numpy()
        hit = np.flatnonzero(ids == str(candidate_id))
        if not len(hit) or int(hit[0]) in cat.withdrawn:
            raise WorkbenchError(f"没有候选房源 {candidate_id!r} / no candidate room {candidate_id!r}")
        return int(hit[0])

    # ------------------------------------------------------------------------------------------ answers

    def _props(self, category: str, table: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({
            "community_id": table["community_id"].to_numpy(dtype=object),
            "community": table["community"].to_numpy(dtype=object),
            "town": table["town"].to_numpy(dtype=object),
            "population": table["population"].to_numpy(dtype="float64"),
            "status": table[f"{category}_status"].to_numpy(dtype=object),
            "covered_share": table[f"{category}_covered_share"].to_numpy(dtype="float64"),
            "uncovered_population": np.round(table[f"{category}_uncovered_population"].to_numpy(dtype="float64")),
            "count_gap": table[f"{category}_count_gap"].to_numpy(dtype="float64"),
            "gap_m2": table[f"{category}_gap_m2"].to_numpy(dtype="float64"),
            "problem": table[f"{category}_problem"].to_numpy(dtype=object),
        })

    def layers(self, category: str) -> dict:
        """The map's layers of ``category`` (:func:`.views.layers`)."""
        from .views import layers

        return layers(self, category)

    def _totals(self, table, category: str) -> dict:
        t = category_totals(table, category)
        surveyed = (table[f"{category}_status"] != "not_surveyed").to_numpy()
        count_gap = np.round(table[f"{category}_count_gap"].to_numpy(dtype="float64"))[surveyed]
        gap_m2 = np.round(table[f"{category}_gap_m2"].to_numpy(dtype="float64"), 1)[surveyed]
        return {"communities": t["communities_surveyed"], "communities_short": t["communities_short"],
                "population": _clean(t["population"]), "covered_population": _clean(t["covered"]),
                "uncovered_population": _clean(t["not_covered"]),
                "served_population": _clean(t["served"]), "over_capacity_population": _clean(t["over_capacity"]),
                "count_gap": _clean(float(np.nansum(count_gap))),
                "gap_m2": _clean(round(float(np.nansum(gap_m2)), 1))}

    def state(self, category: str) -> dict:
        cat = self._cat(category)
        base, now = self._baseline, self._table
        s0 = base[f"{category}_status"].to_numpy(dtype=object)
        s1 = now[f"{category}_status"].to_numpy(dtype=object)
        changed = np.flatnonzero(s0 != s1)
        rows = []
        for i in changed:
            rows.append({"community_id": _clean(now["community_id"].iloc[i]), "community": _clean(now["community"].iloc[i]),
                         "town": _clean(now["town"].iloc[i]), "status_before": s0[i], "status_after": s1[i],
                         **{f"{f}_{w}": _clean(t[f"{category}_{f}"].iloc[i]) for f in ("covered_share", "count_gap", "gap_m2")
                            for w, t in (("before", base), ("after", now))}})
        ids = cat.study.candidates["candidate_id"].astype(str).to_numpy()
        from .views import built_catchments

        return {"category": category, "baseline": self._totals(base, category),
                "scenario": self._totals(now, category), "built": [str(ids[i]) for i in sorted(cat.built)],
                "changed": rows, "can_undo": bool(self._undo), "can_redo": bool(self._redo),
                "scenario_name": self._name, "built_catchments": built_catchments(self, category)}

    def _update(self, category: str, result: dict) -> dict:
        from ..ledger import ledger_table
        from .views import ledger_sheet

        pos = result["positions"]
        table = self._table.iloc[pos]
        props = _records(self._props(category, table))
        frame = ledger_table(table) if len(pos) else pd.DataFrame()
        return {**self.state(category), "communities": props, "ledger_rows": _records(frame),
                "ledger_sheet": ledger_sheet(self, category, frame), "recomputed": result["recomputed"]}

    # ------------------------------------------------------------------------------------------ actions

    def _set_built(self, category: str, built: set) -> dict:
        cat = self._cat(category)
        changed = cat.built ^ set(built)
        cat.built = set(built)
        return self._recompute(category, changed)

    def _do(self, action: dict, *, record: bool = True) -> dict:
        kind = action["kind"]
        if kind == "set":
            category = action["category"]
            result = self._set_built(category, action["after"])
        elif kind == "add":
            category = action["category"]
            cat = self._cat(category)
            cat.withdrawn.discard(action["position"])
            result = self._set_built(category, cat.built | {action["position"]})
        else:
            raise ValueError(kind)
        if record:
            self._undo.append(action)
            self._redo.clear()
        return self._update(category, result)

    def toggle(self, category: str, candidate_id) -> dict:
        cat = self._cat(category)
        j = self._position(category, candidate_id)
        if j not in cat.built and not bool(cat.study.candidates["selectable"].iloc[j]):
            reason = cat.study.candidates["selectable_reason"].iloc[j]
            raise WorkbenchError(f"房源 {candidate_id} 不能选用：{reason} / room {candidate_id} cannot be taken")
        return self._do({"kind": "set", "category": category, "before": set(cat.built),
                         "after": cat.built ^ {j}})

    def undo(self) -> dict:
        if not self._undo:
            raise WorkbenchError("没有可撤销的操作 / nothing to undo")
        action = self._undo.pop()
        self._redo.append(action)
        category = action["category"]
        cat = self._cat(category)
        if action["kind"] == "add":
            result = self._set_built(category, cat.built - {action["position"]})
            cat.withdrawn.add(action["position"])
        else:
            result = self._set_built(category, action["before"])
        return self._update(category, result)

    def redo(self) -> dict:
        if not self._redo:
            raise WorkbenchError("没有可重做的操作 / nothing to redo")
        action = self._redo.pop()
        self._undo.append(action)
        return self._do(action, record=False)

    def add_room(self, category: str, *, lon: float, lat: float, floor_area_m2: float, name: str,
                 categories=None, candidate_id: str | None = None) -> dict:
        from ..siting import evaluate_candidates

        cat = self._cat(category)
        try:
            lon, lat, area = float(lon), float(lat), float(floor_area_m2)
        except (TypeError, ValueError):
            raise WorkbenchError("经纬度与面积须为数字 / lon, lat and floor area must be numbers") from None
        if not (np.isfinite(lon) and np.isfinite(lat) and -180 <= lon <= 180 and -90 <= lat <= 90):
            raise WorkbenchError("经纬度无效 / invalid lon/lat")
        if not np.isfinite(area) or area <= 0:
            raise WorkbenchError("建筑面积须为正数（m²）/ the floor area must be a positive number of m²")
        cats = [str(c) for c in (categories or [])]
        unknown = [c for c in cats if c not in CATEGORIES]
        if unknown:
            raise WorkbenchError(f"未知类别 {'、'.join(unknown)} / unknown categories {', '.join(unknown)}")
        if candidate_id is None:
            self._new += 1
            candidate_id = f"new-{self._new}"
        room = gpd.GeoDataFrame({
            "candidate_id": [candidate_id], "name": [str(name)[:200]], "floor_area_m2": [area],
            "categories": [cats], "acquisition": [None], "reviewed": [True], "floor": [np.nan], "cost": [np.nan],
            "source_file": ["workbench"], "source_row": [0],
        }, geometry=[shapely.Point(lon, lat)], crs=4326)
        one = evaluate_candidates(self.analysis, room, category, include_unreviewed=True)
        row = one.candidates.iloc[[0]]
        if not bool(row["selectable"].iloc[0]):
            raise WorkbenchError(f"新房源不能选用：{row['selectable_reason'].iloc[0]} / the new room cannot be taken "
                                 "(category or area rule)")
        study = cat.study
        j = len(study.candidates)
        d, c, m = one.pairs
        import scipy.sparse as sp

        cands = gpd.GeoDataFrame(pd.concat([study.candidates, row], ignore_index=True), crs=study.candidates.crs)
        cat.study = replace(study, candidates=cands, coverage=sp.hstack([study.coverage, one.coverage]).tocsr(),
                            pairs=(np.r_[study.pairs[0], d], np.r_[study.pairs[1], c + j], np.r_[study.pairs[2], m]),
                            eligible=np.r_[study.eligible, j])
        cat.added.append((candidate_id, {"lon": lon, "lat": lat, "floor_area_m2": area, "name": str(name)[:200],
                                         "categories": cats}))
        return self._do({"kind": "add", "category": category, "position": j})

    def suggest(self, category: str, k: int) -> dict:
        from ..siting import select_sites

        cat = self._cat(category)
        try:
            k = int(k)
        except (TypeError, ValueError):
            raise WorkbenchError("k 须为正整数 / k must be a positive whole number") from None
        if k < 1:
            raise WorkbenchError("k 须为正整数 / k must be a positive whole number")
        original = self._original_study(category)
        selection = select_sites(original, method="mclp", k=k)
        picks = {int(i) for i in selection.selected}
        update = self._do({"kind": "set", "category": category, "before": set(cat.built), "after": picks})
        ids = original.candidates["candidate_id"].astype(str).to_numpy()
        return {**update, "picks": [str(ids[i]) for i in sorted(picks)]}

    def _original_study(self, category: str):
        cat = self._cat(category)
        study = cat.study
        n = cat.n_original
        if len(study.candidates) == n:
            return study
        d, c, m = study.pairs
        keep = c < n
        return replace(study, candidates=study.candidates.iloc[:n], coverage=study.coverage[:, :n],
                       pairs=(d[keep], c[keep], m[keep]), eligible=study.eligible[study.eligible < n])

    # ------------------------------------------------------------------------------------------ reference

    def reference(self, category: str):
        """with_sites for this category's built rooms (what ``sites select --choose`` writes to ledger_after)."""
        from ..siting import given_selection, with_sites

        cat = self._cat(category)
        ids = cat.study.candidates["candidate_id"].astype(str).to_numpy()
        if not cat.built:
            from ..siting.models import Selection

            selection = Selection("given", np.zeros(0, dtype=np.int64), 0.0, 0.0, 0.0, "given")
        else:
            selection = given_selection(cat.study, [ids[i] for i in sorted(cat.built)])
        return with_sites(self.analysis, cat.study, selection)

    def table(self) -> gpd.GeoDataFrame:
        """The scenario's communities table (every category's built rooms)."""
        return self._table

    # ------------------------------------------------------------------------------------------ named scenarios

    def _position_or_none(self, category, cid):
        try:
            return self._position(category, cid)
        except WorkbenchError:
            return None

    def save(self, name) -> dict:
        """Keep the scenario as ``name`` under ``out/scenarios/`` (:func:`.scenarios.save`)."""
        from .scenarios import save

        return save(self, name)

    def scenarios(self) -> list[dict]:
        from .scenarios import list_scenarios

        return list_scenarios(self.out)

    def load(self, name) -> dict:
        """Replay a saved scenario (:func:`.scenarios.load`)."""
        from .scenarios import load

        return load(self, name)

    # ------------------------------------------------------------------------------------------ export

    def export(self, name=None) -> dict:
        """Per category with built rooms, what ``sites select --choose`` writes (:func:`.export.export_scenario`)."""
        from .export import export_scenario

        return export_scenario(self, name)
