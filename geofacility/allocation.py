"""Capacity allocation decomposed by the reach graph, in three steps a batch can spread over its groups.

The transport problem of :func:`geofacility.capacity.capacity_split` (``allocate``: the most people served within
every facility's capacity and radius, then the least total distance) falls apart into independent problems:
homes and facilities that can reach each other form the **components** of the reach graph, and no flow crosses
from one component to another. So:

1. :func:`demand_classes` — the homes of a set of communities grouped into **classes**: homes of the same community
   that reach exactly the same facilities (by ``facility_id``). A class never spans two communities, so a batch
   group (whole communities) computes exactly its rows of the whole city's class table, whatever other
   communities the group holds.
2. :func:`solve_classes` — the class table of the whole city (the groups' tables concatenated, in any order):
   the connected components of the bipartite class ↔ facility graph, each component's transport problem solved
   with :func:`allocate` (small components packed into one block-diagonal LP, which has the same optimum), on
   workers when a ``map`` is given. The classes and facilities are put in a canonical order first (classes by
   ``(community_id, class_no)``, facilities by ``facility_id``), so the flows do not depend on how the table was
   assembled.
3. :func:`seat_homes` — a group's homes' people served, from its classes' flows: within a class, the homes
   nearest to the facilities the class was allocated are seated first (as the transport problem on the homes
   themselves would).

``capacity_split`` runs 1 → 2 → 3 on the whole analysis, so a whole run and a batch give the same numbers by
construction. Units: residents (people), metres.

The (home, facility) pairs within the radius come from :mod:`geofacility.reach`.
"""
from __future__ import annotations

import builtins
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .errors import InputError

__all__ = ["CLASS_COLUMNS", "DemandClasses", "ClassFlows", "allocate", "demand_classes", "solve_classes",
           "seat_homes"]

#: the columns of a class table (:func:`demand_classes`), one row per (class, facility)
CLASS_COLUMNS = ["community_id", "class_no", "facility_id", "people", "distance_m"]
#: (class, facility) rows per LP when small components are packed together (:func:`solve_classes`)
CHUNK_PAIRS = 2_000


def allocate(d_idx: np.ndarray, f_idx: np.ndarray, dist: np.ndarray, demand: np.ndarray, supply: np.ndarray,
             *, time_limit: float | None = None) -> np.ndarray:
    """The flow on each pair: the most demand served within the facilities' capacities (max flow), then the least
    total distance among such allocations. Solved exactly by HiGHS (two LPs; transport problems have integral
    optima for integral data).

    Parameters
    ----------
    d_idx, f_idx : array of int
        Each pair's demand point and facility (positions in ``demand`` and ``supply``).
    dist : array of float
        Each pair's distance, metres.
    demand, supply : array of float
        People at each demand point; each facility's capacity (residents).
    time_limit : float, optional
        Seconds HiGHS may spend on each LP.

    Returns
    -------
    numpy.ndarray
        People sent along each pair (residents).
    """
    from .siting.models import _highs, _solve

    demand = np.asarray(demand, dtype="float64")
    supply = np.asarray(supply, dtype="float64")
    n_pairs = len(d_idx)
    if n_pairs == 0:
        return np.zeros(0)
    # rows: one per demand point (Σⱼ x ≤ Dᵢ), one per facility (Σᵢ x ≤ Sⱼ); columns: the pairs
    n_d, n_f = len(demand), len(supply)
    rows = np.concatenate([d_idx, n_d + f_idx])
    cols = np.concatenate([np.arange(n_pairs), np.arange(n_pairs)])
    a = sp.csc_matrix((np.ones(2 * n_pairs), (rows, cols)), shape=(n_d + n_f, n_pairs))
    upper_rows = np.concatenate([demand, supply])

    def solve(cost, at_least=None):
        h, highspy = _highs()
        # interior point with crossover: a vertex (integral for integral data) of these transport problems in a
        # fraction of the dual simplex's time (degenerate pivots), e.g. 1.1 s against 6.9 s on 42,000 pairs
        h.setOptionValue("solver", "ipm")
        matrix, row_lower, row_upper = a, np.zeros(a.shape[0]), upper_rows
        if at_least is not None:  # Σ x ≥ the most that can be served
            matrix = sp.vstack([a, sp.csc_matrix(np.ones((1, n_pairs)))]).tocsc()
            row_lower, row_upper = np.r_[row_lower, at_least], np.r_[row_upper, highspy.kHighsInf]
        status, _, values, _, _ = _solve(h, highspy, cost=cost, lower=np.zeros(n_pairs),
                                         upper=np.full(n_pairs, highspy.kHighsInf), integer=None, a_csc=matrix,
                                         row_lower=row_lower, row_upper=row_upper, maximise=False,
                                         time_limit=time_limit)
        if status != "Optimal":
            raise InputError(f"capacity allocation: the solver stopped ({status}); use --capacity-method 2sfca")
        return values

    most = solve(-np.ones(n_pairs))
    # nearest first among the allocations that serve that many (HiGHS' feasibility tolerance absorbs the round-off
    # of the first solve; a hair of slack only if it does not)
    try:
        flow = solve(np.asarray(dist, dtype="float64"), at_least=float(most.sum()))
    except InputError:
        flow = solve(np.asarray(dist, dtype="float64"), at_least=float(most.sum()) * (1 - 1e-9) - 1e-6)
    return np.clip(flow, 0.0, None)


# ------------------------------------------------------------------------------------------ 1. demand classes

@dataclass
class DemandClasses:
    """The classes of a set of homes (:func:`demand_classes`).

    Attributes
    ----------
    table : pandas.DataFrame
        One row per (class, facility): ``community_id``, ``class_no``, ``facility_id``, ``people`` (the class's
        residents), ``distance_m`` (their people-weighted mean distance to the facility, metres; the plain mean
        where the class weighs nothing). Sorted by community, class, facility.
    home_community : numpy.ndarray
        Each home's community (as given; NaN for a home in none).
    home_class : numpy.ndarray of int
        Each home's ``class_no`` within its community; −1 for a home that reaches no facility.
    """

    table: pd.DataFrame
    home_community: np.ndarray
    home_class: np.ndarray
    # for seat_homes: the pairs in canonical order (home rank, facility id) — home, metres, table row — the homes'
    # people, their rank (home_id order) and class (its place in the table's order of classes, −1 none), and
    # each table row's class
    _pair_home: np.ndarray
    _pair_dist: np.ndarray
    _pair_row: np.ndarray
    _weight: np.ndarray
    _home_rank: np.ndarray
    _home_class_index: np.ndarray
    _row_class: np.ndarray


def _rank(values) -> np.ndarray:
    """Each value's position in the stable sort of ``values`` as strings."""
    order = np.argsort(np.asarray(values).astype(str), kind="stable")
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    return rank


def demand_classes(d_idx, f_idx, dist, weight, community_id, facility_id, *, home_id=None) -> DemandClasses:
    """Group homes into classes keyed by (community, the set of facilities they reach).

    Parameters
    ----------
    d_idx, f_idx : array of int
        The (home, facility) pairs within the radius: positions in ``weight`` and ``facility_id``.
    dist : array of float
        Each pair's distance, metres.
    weight : array of float
        People at each home (residents).
    community_id : array
        Each home's community (None or NaN: in no community; those homes form classes of their own).
    facility_id : array of str
        Each facility's id (unique). Classes name facilities by id, never by position, so any subset of the
        facilities that holds those the homes reach gives the same table.
    home_id : array, optional
        Each home's id: homes are taken in the order of their ids (else in the order given), so that any subset
        of the communities gives, bit for bit, the rows of the whole city's table.

    Returns
    -------
    DemandClasses
        The long table (one row per (class, facility)) and each home's class. ``class_no`` numbers the classes
        of a community in the order of their sorted facility-id tuples, so it depends on nothing else.
    """
    d_idx = np.asarray(d_idx, dtype=np.int64)
    f_idx = np.asarray(f_idx, dtype=np.int64)
    dist = np.asarray(dist, dtype="float64")
    weight = np.asarray(weight, dtype="float64")
    fid = np.asarray(facility_id).astype(str)
    n, n_fac = len(weight), len(fid)
    if len(np.unique(fid)) != n_fac:
        raise InputError("capacity allocation: facility ids are not unique")
    f_rank = _rank(fid)
    h_rank = _rank(home_id) if home_id is not None else np.arange(n, dtype=np.int64)
    comm_code, comm_values = pd.factorize(np.asarray(community_id, dtype=object), sort=True,
                                          use_na_sentinel=False)
    comm_code = np.asarray(comm_code, dtype=np.int64)
    # pairs in canonical order: by home (id order), then facility (id order)
    order = np.lexsort((f_rank[f_idx], h_rank[d_idx]))
    pd_, pf, pdist = d_idx[order], f_rank[f_idx[order]], dist[order]  # pf: facility by rank from here on
    count = np.bincount(pd_, minlength=n)
    start = np.zeros(n, dtype=np.int64)
    homes_by_rank = np.argsort(h_rank)  # home positions in rank order
    start[homes_by_rank] = np.r_[0, np.cumsum(count[homes_by_rank])[:-1]]
    # a class per distinct (community, facility set): homes with c facilities as rows of c + 1 numbers, made
    # unique per c, then all classes sorted by (community, facility tuple) — a shorter tuple first (−1 padding)
    found = []  # per c: (homes, class row of each, unique rows)
    for c in np.unique(count[count > 0]):
        homes = homes_by_rank[count[homes_by_rank] == c]
        rows = np.column_stack([comm_code[homes], pf[start[homes][:, None] + np.arange(c)]])
        by_row = np.lexsort(rows.T[::-1])  # (np.unique(axis=0) sorts structured rows: several times slower)
        ordered = rows[by_row]
        new = np.r_[True, (ordered[1:] != ordered[:-1]).any(axis=1)]
        inverse = np.empty(len(rows), dtype=np.int64)
        inverse[by_row] = np.cumsum(new) - 1
        found.append((homes, inverse, ordered[new]))
    width = 1 + max((u.shape[1] - 1 for _, _, u in found), default=0)
    padded = np.full((sum(len(u) for _, _, u in found), width), -1, dtype=np.int64)
    at = 0
    for _, _, uniq in found:
        padded[at:at + len(uniq), :uniq.shape[1]] = uniq
        at += len(uniq)
    class_order = np.lexsort(padded.T[::-1])
    position = np.empty(len(class_order), dtype=np.int64)
    position[class_order] = np.arange(len(class_order))  # each found class's place in the sorted list
    k_comm = padded[class_order, 0]
    first = np.r_[True, k_comm[1:] != k_comm[:-1]] if len(k_comm) else np.zeros(0, dtype=bool)
    k_no = np.arange(len(k_comm)) - np.maximum.accumulate(np.where(first, np.arange(len(k_comm)), 0))
    home_k = np.full(n, -1, dtype=np.int64)  # each home's class: its place in the sorted list
    at = 0
    for homes, inverse, uniq in found:
        home_k[homes] = position[at + inverse]
        at += len(uniq)
    # rows: (class, facility), in that order; people-weighted mean distance
    pk = home_k[pd_]
    keys, pair_row = np.unique(pk * max(n_fac, 1) + pf, return_inverse=True)
    pair_row = pair_row.ravel()
    w = weight[pd_]
    k_people = np.bincount(home_k[homes_by_rank][home_k[homes_by_rank] >= 0],
                           weights=weight[homes_by_rank][home_k[homes_by_rank] >= 0], minlength=len(k_comm))
    w_sum = np.bincount(pair_row, weights=w, minlength=len(keys))
    counts = np.bincount(pair_row, minlength=len(keys))
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.where(w_sum > 0, np.bincount(pair_row, weights=w * pdist, minlength=len(keys)) / w_sum,
                        np.bincount(pair_row, weights=pdist, minlength=len(keys)) / counts)
    row_k, row_f = keys // max(n_fac, 1), keys % max(n_fac, 1)
    by_rank = np.empty(n_fac, dtype=object)
    by_rank[f_rank] = fid
    table = pd.DataFrame({
        "community_id": np.asarray(comm_values, dtype=object)[k_comm[row_k]] if len(keys) else np.empty(0, object),
        "class_no": k_no[row_k].astype(np.int64),
        "facility_id": by_rank[row_f].astype(object) if len(keys) else np.empty(0, object),
        "people": k_people[row_k].astype("float64"),
        "distance_m": mean,
    })
    home_class = np.where(home_k >= 0, k_no[np.clip(home_k, 0, None)] if len(k_no) else -1, -1).astype(np.int64)
    home_community = np.asarray(comm_values, dtype=object)[comm_code] if n else np.empty(0, dtype=object)
    return DemandClasses(table=table, home_community=home_community, home_class=home_class, _pair_home=pd_,
                         _pair_dist=pdist, _pair_row=pair_row, _weight=weight, _home_rank=h_rank,
                         _home_class_index=home_k, _row_class=row_k)


# --------------------------------------------------------------------------------------- 2. solve the classes

@dataclass
class ClassFlows:
    """The solved classes (:func:`solve_classes`).

    Attributes
    ----------
    classes : pandas.DataFrame
        The class table given, in its row order, with ``flow``: the people of the class seated at the facility
        (residents).
    allocated : pandas.Series
        People seated at each facility (residents), indexed by ``facility_id`` (every facility of the
        capacities, 0 where none).
    n_components : int
        Connected components of the class ↔ facility graph.
    n_problems : int
        Transport problems solved (components packed into chunks).
    """

    classes: pd.DataFrame
    allocated: pd.Series
    n_components: int
    n_problems: int


def _class_keys(*frames: pd.DataFrame) -> list[np.ndarray]:
    """Per frame, an integer key of each row's (community_id, class_no, facility_id), the same across frames,
    whose order is the canonical one: community, class, facility id."""
    comm, _ = pd.factorize(pd.concat([f["community_id"] for f in frames], ignore_index=True).to_numpy(dtype=object),
                           sort=True, use_na_sentinel=False)
    fac, _ = pd.factorize(pd.concat([f["facility_id"] for f in frames], ignore_index=True).astype(str).to_numpy(),
                          sort=True)
    no = pd.concat([f["class_no"] for f in frames], ignore_index=True).to_numpy(dtype=np.int64)
    n_no, n_fac = int(no.max(initial=0)) + 1, int(fac.max(initial=0)) + 1
    key = (comm.astype(np.int64) * n_no + no) * n_fac + fac
    bounds = np.cumsum([0] + [len(f) for f in frames])
    return [key[a:b] for a, b in zip(bounds[:-1], bounds[1:])]


def _solve_chunk(payload) -> np.ndarray:
    """One LP (a component, or several packed block-diagonally): the flows of its pairs."""
    k, j, dist, people, capacity, time_limit = payload
    return allocate(k, j, dist, people, capacity, time_limit=time_limit)


def solve_classes(classes: pd.DataFrame, capacity_by_facility_id, *, map=None, time_limit: float | None = None,
                  chunk_pairs: int = CHUNK_PAIRS) -> ClassFlows:
    """Solve the transport problem of a class table component by component.

    Parameters
    ----------
    classes : pandas.DataFrame
        A class table (:func:`demand_classes`), or the tables of several groups of whole communities
        concatenated in any order. A (community, class, facility) row given twice is an error.
    capacity_by_facility_id : mapping or pandas.Series
        Each facility's capacity (residents), by ``facility_id``; every facility of the table needs one.
    map : callable, optional
        ``map(func, chunks)`` returning the results in order, like the builtin (the default); e.g. a function
        that calls a Dask client's ``map`` and ``gather``, to solve the chunks on workers.
    time_limit : float, optional
        Seconds HiGHS may spend on each LP.
    chunk_pairs : int
        Components are packed, in their canonical order, into LPs of about this many (class, facility) rows
        (a component is never split; a block-diagonal LP has the optimum of its blocks).

    Returns
    -------
    ClassFlows
        The table with a ``flow`` column, the people allocated to each facility, and the counts of components
        and LPs.

    Notes
    -----
    No flow crosses between components, so the most people served is the sum of the components' maxima, and
    the least distance among such flows is the sum of theirs: the optimum of the whole-city problem.
    """
    table = classes.reset_index(drop=True)
    capacity = pd.Series(capacity_by_facility_id, dtype="float64")
    capacity.index = capacity.index.astype(str)
    fids = table["facility_id"].astype(str).to_numpy()
    key = _class_keys(table)[0]
    if len(np.unique(key)) != len(key):
        raise InputError("capacity allocation: a (community, class, facility) row is given twice — a community "
                         "in two groups?")
    # canonical order: classes by (community, class_no), facilities by id
    comm, _ = pd.factorize(table["community_id"].to_numpy(dtype=object), sort=True, use_na_sentinel=False)
    no = table["class_no"].to_numpy(dtype=np.int64)
    k_of_row = np.unique(comm.astype(np.int64) * (int(no.max(initial=0)) + 1) + no, return_inverse=True)[1].ravel()
    fac_ids, j_of_row = np.unique(fids, return_inverse=True)
    j_of_row = j_of_row.ravel()
    missing = ~pd.Index(fac_ids).isin(capacity.index)
    if missing.any():
        raise InputError(f"capacity allocation: no capacity for facility {fac_ids[missing][0]}")
    cap = capacity.reindex(fac_ids).to_numpy(dtype="float64")
    n_k, n_j = int(k_of_row.max(initial=-1)) + 1, len(fac_ids)
    people = np.zeros(n_k)
    people[k_of_row] = table["people"].to_numpy(dtype="float64")
    graph = sp.csr_matrix((np.ones(len(table)), (k_of_row, n_k + j_of_row)), shape=(n_k + n_j, n_k + n_j))
    from scipy.sparse.csgraph import connected_components

    n_comp, label = connected_components(graph, directed=False)
    # components in the order of their first class (every component holds a class)
    first = np.full(n_comp, n_k, dtype=np.int64)
    np.minimum.at(first, label[:n_k], np.arange(n_k))
    comp_rank = np.empty(n_comp, dtype=np.int64)
    comp_rank[np.argsort(first, kind="stable")] = np.arange(n_comp)
    row_comp = comp_rank[label[k_of_row]] if len(table) else np.zeros(0, dtype=np.int64)
    order = np.lexsort((j_of_row, k_of_row, row_comp))
    # pack whole components into chunks of about chunk_pairs rows, in their order
    comp_rows = np.bincount(row_comp, minlength=n_comp)
    chunk_of_comp = np.r_[0, np.cumsum(comp_rows)[:-1]] // max(int(chunk_pairs), 1)
    row_chunk = chunk_of_comp[row_comp[order]]
    bounds = np.flatnonzero(np.r_[True, row_chunk[1:] != row_chunk[:-1], True]) if len(order) else np.array([0])
    dist = table["distance_m"].to_numpy(dtype="float64")
    payloads = []
    for a, b in zip(bounds[:-1], bounds[1:]):
        rows = order[a:b]
        k_local, k = np.unique(k_of_row[rows], return_inverse=True)
        j_local, j = np.unique(j_of_row[rows], return_inverse=True)
        payloads.append((k.ravel(), j.ravel(), dist[rows], people[k_local], cap[j_local], time_limit))
    results = list((map or builtins.map)(_solve_chunk, payloads))
    flow = np.zeros(len(table))
    for (a, b), values in zip(zip(bounds[:-1], bounds[1:]), results):
        flow[order[a:b]] = values
    allocated = pd.Series(np.bincount(j_of_row[order], weights=flow[order], minlength=n_j).astype("float64"),
                          index=fac_ids)
    allocated = allocated.reindex(capacity.index.union(pd.Index(fac_ids)), fill_value=0.0)
    allocated.index.name = "facility_id"
    return ClassFlows(classes=table.assign(flow=flow), allocated=allocated, n_components=int(n_comp),
                      n_problems=len(payloads))


# ------------------------------------------------------------------------------------------ 3. seat the homes

def seat_homes(classes: DemandClasses, flows: pd.DataFrame) -> np.ndarray:
    """People served at each home, from its class's flows.

    Parameters
    ----------
    classes : DemandClasses
        The homes' classes (:func:`demand_classes`, on the group's homes).
    flows : pandas.DataFrame
        Solved classes (``ClassFlows.classes``) holding at least this group's rows: ``community_id``,
        ``class_no``, ``facility_id``, ``flow``.

    Returns
    -------
    numpy.ndarray
        People served at each home (residents), in the order of the homes given to :func:`demand_classes`.

    Notes
    -----
    A class's seats go to its homes nearest to the facilities it was allocated (each home's distances weighted
    by the class's flow to each facility), nearest first; ties by home id (or position).
    """
    table = classes.table
    mine, theirs = _class_keys(table, flows)
    where = pd.Index(theirs).get_indexer(mine)
    if (where < 0).any():
        raise InputError("capacity allocation: a class of these homes has no solved flow")
    flow = flows["flow"].to_numpy(dtype="float64")[where]  # per row of this table
    weight, home_k = classes._weight, classes._home_class_index
    n_k = int(home_k.max(initial=-1)) + 1
    row_k = classes._row_class
    k_served = np.bincount(row_k, weights=flow, minlength=n_k)
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.where(k_served[row_k] > 0, flow / k_served[row_k], 0.0)
    score = np.bincount(classes._pair_home, weights=frac[classes._pair_row] * classes._pair_dist,
                        minlength=len(weight))
    homes = np.flatnonzero(home_k >= 0)
    order = homes[np.lexsort((classes._home_rank[homes], score[homes], home_k[homes]))]
    k = home_k[order]
    w = weight[order]
    cum = np.cumsum(w)
    start = np.r_[True, k[1:] != k[:-1]]
    before = cum - w - np.maximum.accumulate(np.where(start, cum - w, 0.0))  # seated earlier in the same class
    served = np.zeros(len(weight))
    served[order] = np.clip(k_served[k] - before, 0.0, w)
    return served
