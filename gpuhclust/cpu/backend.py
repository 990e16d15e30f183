"""The CPU backend: Numba distances, and for the merge loop the algorithm the plan names
(``gpuhclust._plan``): Prim's MST, reciprocal-nearest-neighbour rounds on all threads (the
shared driver ``gpuhclust._rounds`` over the local rows of ``_round_rows``), SciPy's
nearest-neighbour chain, or the generic algorithm; the sequential loops run in chunks and the
rounds one round at a time, so that progress is reported and Ctrl-C is honoured between them.

Two engines: 'matrix' works on the square n x n distance matrix (every method, any input);
'vector' works from the observations in O(n*d) memory (single for every compiled metric, ward,
centroid and median for Euclidean; see ``_vector``). There ward runs the same rounds (the driver
over the centroids of ``_centroid_rows``) or SciPy's chain over centroids. The plan chooses
between the engines.

:data:`last_run` holds the statistics of the last rounds run in this process (rounds, rescans
per merge, compactions).
"""
from __future__ import annotations

from dataclasses import asdict
from typing import NamedTuple

import numba
import numpy as np
import scipy.spatial.distance as ssd

from .. import _memory
from .. import _centroid_rounds as centroid_rounds
from .. import _rounds as rounds_driver
from .._engines import centroid_frame, check_vector_scale, vector_bytes, vector_overflow_error
from .._backends import Backend, register_backend
from .._memory import check_fits, smaller_storage_hint
from .._methods import Method
from .._metrics import PreparedMetric
from .._progress import chunk_ends as _chunks
from .._progress import progress_bar
from .._validation import (LinkageInput, float32_range_error, raise_non_finite, read_only,
                           validate_computed)
from . import (_centroid_filter, _centroid_rows, _distances, _fast_linkage, _lazy_matrix, _mst,
               _nn_chain, _round_rows, _vector)

#: Statistics of the last rounds run in this process (see ``gpuhclust._rounds.RoundStats``).
last_run: dict = {}


class CPUBackend(Backend):
    """Numba on the CPU; always usable."""

    name = "cpu"
    algorithms = {"matrix": ("mst", "nn_chain", "generic", "rounds", "tournament"),
                  "vector": ("mst", "nn_chain", "generic", "rounds", "tournament")}

    def pdist(self, metric: PreparedMetric, dtype) -> np.ndarray:
        n = metric.X.shape[0]
        m = n * (n - 1) // 2
        if metric.code is None:
            check_fits(8 * m, f"the condensed distances of {n} observations")
            out = ssd.pdist(metric.X, metric.scipy_metric, **metric.scipy_kwargs)
            return out.astype(dtype, copy=False)
        check_fits(np.dtype(dtype).itemsize * m, f"the condensed distances of {n} observations",
                   smaller_storage_hint(dtype))
        out = np.empty(m, dtype=dtype)
        _distances.condensed_distances(metric.X, *metric.kernel_args, out)
        return out

    def available_bytes(self) -> int:
        return _memory.available_bytes()

    def vector_bytes(self, n: int, d: int, method: Method) -> int:
        kept = 0
        if method.name == "ward":  # the rounds' store (kept entries, scratch) and filter
            kept = _centroid_rows.store_bytes(n, d) + _centroid_filter.filter_bytes(n, d)
        return vector_bytes(n, d) + kept

    @staticmethod
    def matrix_bytes(data: LinkageInput, metric: PreparedMetric | None, dtype) -> int:
        """Memory the matrix engine needs: the square matrix, the rows' block minima of the
        rounds' first scan (8 bytes per row and block of 256 columns, 1/256 of a float64
        matrix; counted for every algorithm: the engine is chosen before the algorithm), and
        SciPy's condensed result while the matrix is filled when SciPy computes the metric, or
        the float64 copy of a condensed input the fill cannot read as it is."""
        n = data.n
        extra = 8 * n * _distances.column_blocks(n)
        if data.condensed is None and metric.code is None:
            extra += 8 * (n * (n - 1) // 2)  # SciPy's condensed float64 result, freed afterwards
        elif data.condensed is not None and _condensed_for_fill(data.condensed) is None:
            extra += 8 * data.condensed.shape[0]  # its float64 copy
        return np.dtype(dtype).itemsize * n * n + extra

    def square_matrix(self, data: LinkageInput, metric: PreparedMetric | None, dtype,
                      block_minima: bool = False):
        """The working matrix: square, +inf on the diagonal. Returns (D, nonneg, block_min):
        with `block_minima`, the block minima of its rows as the fill records them
        (``_distances.square_from_observations``, ``square_from_condensed``) where every
        distance is non-negative (the minima are taken on the bits read as integers), else
        None."""
        n = data.n
        check_fits(self.matrix_bytes(data, metric, dtype),
                   f"the {n} x {n} {np.dtype(dtype).name} distance matrix",
                   smaller_storage_hint(dtype))
        D = _memory.empty_large((n, n), dtype)
        if data.condensed is not None or metric.code is None:
            if data.condensed is not None:
                y = _condensed_for_fill(data.condensed)
                if y is None:
                    y = np.ascontiguousarray(data.condensed, dtype=np.float64)
                nonneg = not data.has_negative
            else:
                y = ssd.pdist(metric.X, metric.scipy_metric, **metric.scipy_kwargs)
                validate_computed(y, n, dtype)
                nonneg = not bool(y.min() < 0)
            block_min = _block_minima(n) if block_minima and nonneg else None
            _distances.square_from_condensed(read_only(y), D, block_min)
            return D, nonneg, block_min
        block_min = _block_minima(n) if block_minima else None
        _distances.square_from_observations(metric.X, *metric.kernel_args, D, block_min)
        if metric.may_give_non_finite or D.dtype == np.float32:
            i, j = _distances.first_non_finite_upper(D)
            if i >= 0:
                raise_computed(metric, i, j)
        return D, True, block_min

    def run(self, plan, data, metric, progress) -> np.ndarray:
        n = data.n
        method, algorithm = plan.method, plan.algorithm
        with progress_bar(progress, n - 1, f"gpuhclust {method.name}") as bar:
            if plan.engine == "vector":
                if algorithm == "mst":
                    return _run_mst_observations(metric, n, bar)
                if algorithm == "rounds":
                    return _run_vector_ward_rounds(metric.X, bar)
                if algorithm == "nn_chain":
                    return _run_vector_ward(metric.X, bar)
                if algorithm == "tournament":
                    return _vector.run_tournament(metric.X, method.code, bar, last_run)
                return _run_vector_generic(metric.X, method.code, bar)
            D, nonneg, block_min = self.square_matrix(data, metric, plan.dtype,
                                                      block_minima=algorithm == "rounds")
            try:
                if algorithm == "mst":
                    return _run_mst_matrix(D, nonneg, bar)
                if algorithm == "rounds":
                    return _run_rounds(D, nonneg, method, bar, block_min)
                if algorithm == "nn_chain":
                    return _run_nn_chain(D, nonneg, method, bar)
                return _run_generic(D, nonneg, method, bar,
                                    tournament=algorithm == "tournament")
            finally:  # the matrix never leaves this method: free it on every thread
                _memory.release_large(D, _threads())


def pair_value(metric: PreparedMetric, i: int, j: int) -> float:
    """The float64 distance between observations i and j (for messages)."""
    X = np.ascontiguousarray(metric.X[:max(i, j) + 1])
    acc = np.empty(_distances.BLOCK)
    _distances.for_metric(metric.code).block(X, i, np.ascontiguousarray(X.T), j, j + 1, acc,
                                             *metric.kernel_args[1:])
    return float(acc[0])


def raise_computed(metric: PreparedMetric, i: int, j: int):
    """Raise for the non-finite stored distance between observations i < j computed with a
    compiled metric: finite in float64, it is beyond the float32 storage's range."""
    value = pair_value(metric, i, j)
    if np.isfinite(value):
        raise float32_range_error(value, i, j)
    raise_non_finite(value, i, j)


def _threads() -> int:
    return numba.get_num_threads()


class LoopState:
    """The int64 vector in which a merge loop keeps its scalars between chunks, its entries
    named in the loop's order (as ``cuda._kernels.VECTOR_STATE`` names the CUDA vector
    engine's): ``state.array`` goes to the loop, ``state["k"]`` reads an entry back."""

    def __init__(self, **entries: int):
        self.names = tuple(entries)
        self.array = np.array(list(entries.values()), dtype=np.int64)

    def __getitem__(self, name: str) -> int:
        return int(self.array[self.names.index(name)])


class NeighbourHeap(NamedTuple):
    """The generic algorithm's nearest-neighbour cache and SciPy's heap over it, one entry per
    slot below the last (``_heap``'s arrays)."""

    neighbor: np.ndarray
    min_dist: np.ndarray
    heap_values: np.ndarray
    key_by_index: np.ndarray
    index_by_key: np.ndarray

    @classmethod
    def empty(cls, n: int) -> "NeighbourHeap":
        m = max(n - 1, 1)
        return cls(np.zeros(m, dtype=np.int64), np.zeros(m), np.zeros(m),
                   np.zeros(m, dtype=np.int64), np.zeros(m, dtype=np.int64))


class Centroids(NamedTuple):
    """The vector engine's working arrays, in ``_vector.new_state``'s order."""

    features_first: np.ndarray  # (d, n) centroids, compacted in place
    sizes: np.ndarray
    slot: np.ndarray
    pos_of: np.ndarray
    values: np.ndarray
    acc: np.ndarray
    chunk_pos: np.ndarray

    @classmethod
    def of(cls, X: np.ndarray) -> "Centroids":
        return cls(*_vector.new_state(centroid_frame(X), _threads()))


def _run_mst_observations(metric: PreparedMetric, n: int, bar) -> np.ndarray:
    # Numba's code for a read-only array (the caller's, seen through as_array) runs this loop
    # slower: work on a private copy (n*d floats, like the candidates)
    X = metric.X if metric.X.flags.writeable else metric.X.copy()
    # the candidates, features first, compacted in place: a copy even where X.T is contiguous
    candidates = np.array(X.T, order="C")
    candidate_aux = metric.aux.copy() if metric.aux.shape[0] == n else np.zeros(n)
    aux = metric.aux if metric.aux.shape[0] == n else candidate_aux
    rows = np.arange(n, dtype=np.int64)
    best = np.full(n, np.inf)
    best[0] = np.nan  # observation 0 starts the tree
    state = LoopState(k=0, x=0, columns=n, dead=1)
    merges = np.empty((n - 1, 3))
    bad_pair = np.full(2, -1, dtype=np.int64)
    check = metric.may_give_non_finite
    for stop in _chunks(n - 1, bar):
        _mst.mst_steps_observations(X, metric.code, metric.p, aux, metric.weights, metric.vi,
                                    candidates, candidate_aux, rows, best, state.array, merges,
                                    stop, _threads(), check, bad_pair)
        if bad_pair[0] >= 0:
            i, j = sorted(int(v) for v in bad_pair)
            raise_non_finite("NaN or inf", i, j)
    return merges


def _run_vector_ward(X: np.ndarray, bar) -> np.ndarray:
    n = X.shape[0]
    check_vector_scale(X)
    centroids = Centroids.of(X)
    chain = np.zeros(n + 1, dtype=np.int64)
    state = LoopState(k=0, chain_length=0, columns=n, dead=0)
    merges = np.empty((n - 1, 3))
    for stop in _chunks(n - 1, bar):
        if not _vector.ward_steps(*centroids, chain, state.array, merges, stop):
            raise vector_overflow_error(X)
    return merges


def _run_vector_ward_rounds(X: np.ndarray, bar) -> np.ndarray:
    n = X.shape[0]
    check_vector_scale(X)
    features_first = np.array(centroid_frame(X).T, dtype=np.float64, order="C")
    store = _centroid_rows.CentroidRows(features_first, _threads())
    return centroid_rounds.ward_rounds(store, n, bar, last_run, threads=_threads())


def _run_vector_generic(X: np.ndarray, code: int, bar) -> np.ndarray:
    n = X.shape[0]
    check_vector_scale(X)
    centroids = Centroids.of(X)
    heap = NeighbourHeap.empty(n)
    _vector.generic_init(centroids.features_first, centroids.sizes, *heap)
    cluster_id = np.arange(n, dtype=np.int64)
    candidates = np.zeros(n, dtype=np.int64)
    state = LoopState(k=0, heap_size=n - 1, columns=n, dead=0)
    Z = np.empty((n - 1, 4))
    for stop in _chunks(n - 1, bar):
        _vector.generic_steps(*centroids, code, cluster_id, *heap, candidates, state.array, Z,
                              stop)
    return Z


def _run_mst_matrix(D, nonneg, bar) -> np.ndarray:
    n = D.shape[0]
    best = np.full(n, np.inf)
    merged = np.zeros(n, dtype=np.uint8)
    state = LoopState(k=0, x=0)
    merges = np.empty((n - 1, 3))
    for stop in _chunks(n - 1, bar):
        _mst.mst_steps_matrix(D, nonneg, best, merged, state.array, merges, stop, _threads())
    return merges


def _run_nn_chain(D, nonneg, method: Method, bar) -> np.ndarray:
    n = D.shape[0]
    code = method.code
    fault = _lazy_matrix.new_fault()
    work = _lazy_matrix.Compactor(D)
    size = np.ones(n, dtype=np.int64)
    log = _lazy_matrix.new_merge_log(n)
    chain = np.zeros(n + 1, dtype=np.int64)
    state = LoopState(k=0, chain_length=0)
    merges = np.empty((n - 1, 3))
    for stop in _chunks(n - 1, bar):
        _nn_chain.nn_chain_steps(work.D, work.keys, nonneg, code, size, log, chain, state.array,
                                 merges, work.original, stop, fault)
        _lazy_matrix.raise_fault(fault, method.name, D.dtype)
        k = state["k"]
        if k < n - 1 and work.due(n - k):
            live, new_slot = work.compact(size, k, log, code)
            size = size[live]
            length = state["chain_length"]
            chain[:length] = new_slot[chain[:length]]
    return merges


def _block_minima(n: int) -> np.ndarray:
    """Room for the block minima of n rows (``_distances.square_from_observations``,
    ``square_from_condensed``)."""
    return np.empty((n, _distances.column_blocks(n)), dtype=np.int64)


def _condensed_for_fill(y: np.ndarray) -> np.ndarray | None:
    """`y` as the square fill takes it without a copy (float64 or float32, contiguous: their
    values are the same in float64), else None (integers and booleans, strided views: a
    float64 copy)."""
    if y.dtype in (np.float64, np.float32) and y.flags.c_contiguous:
        return y
    return None


def _run_rounds(D, nonneg, method: Method, bar, block_min=None) -> np.ndarray:
    n = D.shape[0]
    store = _round_rows.LocalRows(D, nonneg, method, block_min)
    stats = rounds_driver.RoundStats()
    merges = rounds_driver.rnn_rounds(store, n, bar, stats, method.name, D.dtype)
    last_run.clear()
    settled = store.kept.settled if store.kept is not None else 0
    last_run.update(asdict(stats), n=n, method=method.name, threads=_threads(),
                    compactions=store.compactions, entries_read=store.entries_read,
                    rescans_per_merge=stats.rescans_per_merge, settled_by_kept=settled,
                    scans_per_merge=(stats.rescans - settled) / max(stats.merges, 1))
    return merges


def _run_generic(D, nonneg, method: Method, bar, tournament: bool, chunks: int | None = None,
                 parallel_min: int = _mst.PARALLEL_MIN) -> np.ndarray:
    """The generic algorithm on the matrix, by SciPy's heap or by the tournament (whose
    per-merge pass runs in `chunks`, default the thread count, from `parallel_min` rows on:
    the same Z whatever the two)."""
    n = D.shape[0]
    code = method.code
    fault = _lazy_matrix.new_fault()
    work = _lazy_matrix.Compactor(D)
    size = np.ones(n, dtype=np.int64)
    cluster_id = np.arange(n, dtype=np.int64)
    log = _lazy_matrix.new_merge_log(n)
    heap = NeighbourHeap.empty(n)
    neighbor, min_dist = heap.neighbor, heap.min_dist
    _fast_linkage.generic_init(D, work.keys, nonneg, *heap)
    state = LoopState(k=0, heap_size=0 if tournament else n - 1)
    Z = np.empty((n - 1, 4))
    for stop in _chunks(n - 1, bar):
        _fast_linkage.generic_steps(work.D, work.keys, nonneg, code, size, cluster_id, log,
                                    *heap, state.array, Z, n, stop, work.original, fault,
                                    tournament, _threads() if chunks is None else chunks,
                                    parallel_min)
        _lazy_matrix.raise_fault(fault, method.name, D.dtype)
        k = state["k"]
        if k < n - 1 and work.due(n - k):
            had_cache = work.original < n - 1  # the original last slot has no neighbour cache
            live, new_slot = work.compact(size, k, log, code)
            size, cluster_id = size[live], cluster_id[live]
            m = live.shape[0]
            cached = np.minimum(live, n - 2)
            neighbor[:m] = np.where(had_cache[live], neighbor[cached], -1)
            min_dist[:m] = np.where(had_cache[live], min_dist[cached], np.inf)
            _fast_linkage.renumber(new_slot, neighbor[:m], state["heap_size"],
                                   heap.key_by_index, heap.index_by_key)
    return Z


register_backend("cpu", CPUBackend, auto_priority=0)
