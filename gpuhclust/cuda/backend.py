"""The CUDA backend: distances, and the merge loop of the method table's algorithm, as CuPy raw
kernels (``kernels/*.cu``). All host code talks to the device through a ``DeviceContext``, so the
same code runs on a GPU ('cuda') and on the CPU kernel simulator ('cuda-sim').

The loops are the CPU backend's algorithms (Prim, the nearest-neighbour chain, the generic
algorithm) with the same tie rule and the same float64 arithmetic, so both backends give the same
Z, ties included:
- single: Prim, one multi-block launch per merge (relax, and the last block to finish picks the
  next vertex), the merges of each progress chunk run as one CUDA graph: one host launch and one
  host read per chunk (distances from the observations on the fly when the metric is compiled,
  so no matrix at all);
- complete, average, weighted, ward: reciprocal-nearest-neighbour rounds (the default: the
  shared driver ``gpuhclust._rounds`` over the device rows of ``_round_rows``, every round's
  merges and rescans spread over all blocks, one host read per round), or the
  nearest-neighbour chain, run by one block on the device;
- centroid, median: the generic algorithm's nearest-neighbour cache with the global minimum by a
  tournament argmin over the cache ('tournament', the default: every step one multi-block launch,
  run as CUDA graphs like single's), or with SciPy's heap run by one block ('generic').

Two engines, as on the CPU: 'matrix' (the n x n matrix in device memory, every method) and
'vector' (from the observations in O(n*d) device memory: single linkage is the Prim above, which
needs no matrix anyway; ward, centroid and median work on cluster centroids and sizes, see
``kernels/vector.cu``). 'auto' takes the matrix when it fits in the free device memory, else the
vector engine with a warning (decided by the plan, ``gpuhclust._plan``).

On the vector engine ward runs the same rounds by default (the driver over the device
centroids of ``_centroid_rows``: nearest neighbours as tiled products over every SM, one host
read per round), or the nearest-neighbour chain (a grid-wide scan and a one-block step per
query) on request. Centroid and median run the tournament over centroids there by default (two
graph nodes per merge: the rows to rescan collected, then one tiled pass for the merged cluster
and every rescan, the tournament and the next merge; one host read per chunk), or SciPy's heap
in one block ('generic').

The host splits each loop into chunks of merges for progress and Ctrl-C. An interrupted run
(KeyboardInterrupt, or any error) drops its device arrays and hands the memory back to the
device before the exception leaves :meth:`CudaBackend.linkage`, even though the caller keeps
the traceback.
"""
from __future__ import annotations

import traceback
from dataclasses import asdict

import numpy as np
import scipy.spatial.distance as ssd

from .. import _centroid_rounds as centroid_rounds
from .. import _rounds as rounds_driver
from .._backends import Backend, register_backend
from .._engines import centroid_frame, check_vector_scale
from .._memory import check_fits, smaller_storage_hint
from .._methods import METHODS, Method
from .._metrics import PreparedMetric
from .._progress import chunk_ends, progress_bar
from .._validation import LinkageInput, raise_non_finite, validate_computed
from ..cpu._mst import COMPACT_EVERY  # the same compaction rule as the CPU centroids
from ..cpu._lazy_matrix import raise_fault
from ..cpu.backend import raise_computed
from ._centroid_rows import DeviceCentroidRows, kept_device_bytes
from ._context import (CupyContext, DeviceContext, SimContext, cuda_unusable_reason, grid_blocks,
                       metric_arrays, row_blocks)
from ._kernels import (PAIR_TILE, COOPERATIVE_THREADS, STORAGE_TYPES, TILE, VECTOR_PHASES,
                       VECTOR_QUERIES, VECTOR_STATE)
from ._round_rows import DeviceRoundRows

_NO_PAIR = np.uint64(np.iinfo(np.uint64).max)
_VS = {name: i for i, name in enumerate(VECTOR_STATE)}    # vector engine state entries
_VP = {name: i for i, name in enumerate(VECTOR_PHASES)}   # and phases
_WARD = METHODS["ward"].code

#: Statistics of the last rounds run in this process (see ``gpuhclust._rounds.RoundStats``).
last_run: dict = {}


def _i64(v) -> np.int64:
    return np.int64(v)


class CudaBackend(Backend):
    """CuPy raw kernels on a CUDA device, or on the simulator through a ``SimContext``."""

    name = "cuda"
    algorithms = {"matrix": ("mst", "nn_chain", "generic", "rounds", "tournament"),
                  "vector": ("mst", "nn_chain", "generic", "rounds", "tournament")}

    def __init__(self, context: DeviceContext | None = None):
        self.ctx = context if context is not None else CupyContext()
        self.xp = self.ctx.xp

    @classmethod
    def unusable_reason(cls) -> str:
        return cuda_unusable_reason()

    @property
    def memory_where(self) -> str:
        return f"{self.ctx.name} device memory"

    def available_bytes(self) -> int:
        return self.ctx.free_bytes()

    def to_host(self, a) -> np.ndarray:
        """A device array (from :meth:`pdist`) copied to a NumPy array (``np.asarray``
        refuses a CuPy array)."""
        return self.ctx.asnumpy(a)

    # -- launching -------------------------------------------------------------------------
    def _launch(self, family: str, name: str, grid, block, *args) -> None:
        self.ctx.kernel(family, name)(grid, block, args)

    def _grid_blocks(self, n: int) -> int:
        return grid_blocks(self.ctx, n)

    def _check_fits(self, needed: int, what: str, dtype) -> None:
        check_fits(needed, what, smaller_storage_hint(dtype), available=self.ctx.free_bytes(),
                   where=f"{self.ctx.name} device memory")

    def _pairwise(self, metric: PreparedMetric, out, condensed: bool) -> None:
        n = metric.X.shape[0]
        X, d, code, p, aux, weights, vi = metric_arrays(self.ctx, metric)
        tiles = -(-n // PAIR_TILE)
        ctype = STORAGE_TYPES[np.dtype(out.dtype).name]
        self._launch("distances", f"pairwise_tiles<{ctype}>", (tiles, tiles), (TILE, TILE),
                     X, _i64(n), d, code, p, aux, weights, vi, out, np.int32(condensed))

    # -- Backend API -----------------------------------------------------------------------
    def pdist(self, metric: PreparedMetric, dtype):
        """Condensed distances as a device array (a CuPy array on a GPU). Metrics without a
        kernel (weights ``w``, jensenshannon, callables) are computed by SciPy on the CPU and
        copied to the device."""
        n = metric.X.shape[0]
        m = n * (n - 1) // 2
        if metric.code is None:
            out = ssd.pdist(metric.X, metric.scipy_metric, **metric.scipy_kwargs)
            return self.xp.asarray(out.astype(dtype, copy=False))
        self._check_fits(np.dtype(dtype).itemsize * m + metric.X.nbytes,
                         f"the condensed distances of {n} observations", dtype)
        out = self.xp.empty(m, dtype=dtype)
        self._pairwise(metric, out, condensed=True)
        return out

    @staticmethod
    def matrix_bytes(data: LinkageInput, metric: PreparedMetric | None, dtype) -> int:
        """Device memory of the matrix engine: the square matrix, and beside it while it is
        filled the condensed float64 matrix (given, or computed by SciPy) or the observations."""
        n = data.n
        if data.condensed is not None:
            extra = data.condensed.size * 8
        elif metric.code is None:
            extra = 8 * (n * (n - 1) // 2)
        else:
            extra = metric.X.nbytes
        return np.dtype(dtype).itemsize * n * n + extra

    def vector_bytes(self, n: int, d: int, method: Method) -> int:
        """Device memory of engine='vector'. single: Prim's state (8 arrays of n) and the
        observations. ward, centroid, median: the centroids twice (compaction gathers the live
        ones into a new array) and up to 18 arrays of n (sizes, slots, positions, the heap and
        neighbour cache, the merges, compaction's index arrays); ward's rounds also the kept
        lists of a scan of every row."""
        if method.name == "single":
            return 64 * n + 8 * n * d
        kept = kept_device_bytes(n, self.ctx.max_blocks) if method.name == "ward" else 0
        return 16 * n * d + 8 * 18 * n + kept

    def square_matrix(self, data: LinkageInput, metric: PreparedMetric | None, dtype):
        """The working matrix on the device: square, +inf on the diagonal.

        Condensed input, and metrics without a kernel (computed by SciPy on the CPU), are copied
        over as a condensed float64 matrix and expanded on the device."""
        n = data.n
        ctype = STORAGE_TYPES[np.dtype(dtype).name]
        condensed = data.condensed
        if condensed is None and metric.code is None:
            condensed = ssd.pdist(metric.X, metric.scipy_metric, **metric.scipy_kwargs)
            validate_computed(condensed, n, dtype)
        self._check_fits(self.matrix_bytes(data, metric, dtype),
                         f"the {n} x {n} {np.dtype(dtype).name} distance matrix", dtype)
        D = self.xp.empty((n, n), dtype=dtype)
        if condensed is not None:
            y = self.xp.asarray(np.ascontiguousarray(condensed, dtype=np.float64))
            self._launch("distances", f"condensed_to_square<{ctype}>",
                         (row_blocks(self.ctx, n),), (self.ctx.threads,), y, _i64(n), D)
            del y
            return D
        self._pairwise(metric, D, condensed=False)
        if metric.may_give_non_finite or D.dtype == np.float32:  # float32: beyond its range
            first = self.xp.full(1, _NO_PAIR, dtype=np.uint64)
            self._launch("distances", f"first_non_finite<{ctype}>", (row_blocks(self.ctx, n),),
                         (self.ctx.threads,), D, _i64(n), first)
            idx = int(self.ctx.asnumpy(first)[0])
            if idx != int(_NO_PAIR):
                raise_computed(metric, *sorted(divmod(idx, n)))
        return D

    def run(self, plan, data: LinkageInput, metric: PreparedMetric | None,
            progress) -> np.ndarray:
        try:
            return self._run(plan, data, metric, progress)
        except BaseException as exc:
            # The traceback keeps every frame of the run alive, and with them its device arrays,
            # for as long as the caller holds the exception (an interactive session keeps the
            # last one): clear those frames and give the memory back to the device now.
            traceback.clear_frames(exc.__traceback__)
            self.ctx.release()
            raise

    def _run(self, plan, data, metric, progress) -> np.ndarray:
        n = data.n
        method = plan.method
        with progress_bar(progress, n - 1, f"gpuhclust {method.name} ({self.ctx.name})") as bar:
            if plan.engine == "vector":
                if plan.algorithm == "mst":
                    return self._mst(None, metric, n, bar)
                if plan.algorithm == "rounds":
                    return self._vector_ward_rounds(metric.X, method, bar)
                if plan.algorithm == "tournament":
                    return self._vector_tournament(metric.X, method, bar)
                return self._vector(metric.X, method, bar)
            if plan.algorithm == "rounds":  # the store alone holds the matrix (it compacts it)
                # the kept entries need non-negative distances: those of the metrics computed
                # here, or a condensed input without negative entries
                nonneg = (not data.has_negative if data.condensed is not None
                          else metric.code is not None)
                return self._rounds(self.square_matrix(data, metric, plan.dtype), method, bar,
                                    nonneg)
            D = self.square_matrix(data, metric, plan.dtype)
            if plan.algorithm == "mst":
                return self._mst(D, None, n, bar)
            if plan.algorithm == "nn_chain":
                return self._nn_chain(D, method, bar)
            if plan.algorithm == "tournament":
                return self._tournament(D, method, bar)
            return self._generic(D, method, bar)

    # -- the loops -------------------------------------------------------------------------
    def _mst(self, D, metric: PreparedMetric | None, n: int, bar) -> np.ndarray:
        """Prim on the device (``kernels/mst.cu``): one cooperative launch per progress chunk
        makes the chunk's steps, a grid barrier per step; the host reads the device once per
        chunk."""
        xp = self.xp
        self._check_fits(64 * n + (metric.X.nbytes if metric is not None else 0),
                         "the spanning tree's state", np.float64)
        blocks, threads = self._cooperative_grid(n)
        track = self.ctx.track
        best = track(xp.full(n, np.inf))
        in_tree = track(xp.zeros(n, dtype=np.uint8))
        part_value = track(xp.empty(2 * blocks))
        part_index = track(xp.empty(2 * blocks, dtype=np.int64))
        barrier = track(xp.zeros(2, dtype=np.uint32))
        merges = track(xp.empty((n - 1) * 3))
        # [newest tree vertex, merges done], the fault, and from the observations the first
        # non-finite distance: one array, so that each chunk reads the device once
        status = track(xp.asarray(np.array([0, 0, 0, 0, 0, 0, 0, -1], dtype=np.int64)))
        state, fault, bad = status[:2], status[2:7], status[7:].view(np.uint64)
        common = (state, best, in_tree, part_value, part_index, barrier, merges, fault)
        if metric is not None:
            X, d, code, p, aux, weights, vi = metric_arrays(self.ctx, metric)
            loop = self.ctx.kernel("mst", "prim_loop_observations", cooperative=True)
            head, tail = (X, _i64(n), d, code, p, aux, weights, vi), (*common, bad)
        else:
            loop = self.ctx.kernel("mst", f"prim_loop_matrix<{STORAGE_TYPES[D.dtype.name]}>",
                                   cooperative=True)
            head, tail = (D, _i64(n)), common


        def check() -> int:
            host = self.ctx.asnumpy(status)
            key = int(host[7:].view(np.uint64)[0])
            if key != int(_NO_PAIR):
                k, j = divmod(key, n)
                x = int(self.ctx.asnumpy(merges[3 * k]))
                raise_non_finite("NaN or inf", *sorted((x, j)))
            raise_fault(host[2:7], "single", np.float64)
            return int(host[1])

        self._device_loop(loop, blocks, threads, lambda stop: (*head, _i64(stop), *tail), n, bar,
                          check)
        return self.ctx.asnumpy(merges).reshape(n - 1, 3)

    def _rounds(self, D, method: Method, bar, nonneg: bool) -> np.ndarray:
        n = D.shape[0]
        self._check_fits(DeviceRoundRows.state_bytes(n, self.ctx.max_blocks),
                         "the rounds' sizes and round state",
                         np.float64)
        store = DeviceRoundRows(self, D, method.code, nonneg)
        dtype = D.dtype
        del D  # the store's now: it gathers the live rows into a smaller matrix as they die
        stats = rounds_driver.RoundStats()
        merges = rounds_driver.rnn_rounds(store, n, bar, stats, method.name, dtype)
        last_run.clear()
        settled = store.kept.settled if store.kept is not None else 0
        last_run.update(asdict(stats), n=n, method=method.name, backend=self.name,
                        rescans_per_merge=stats.rescans_per_merge,
                        compactions=store.compactions, settled_by_kept=settled,
                        scans_per_merge=(stats.rescans - settled) / max(n - 1, 1))
        return merges

    def _nn_chain(self, D, method: Method, bar) -> np.ndarray:
        xp = self.xp
        n = D.shape[0]
        code = method.code
        fault = xp.zeros(5, dtype=np.int64)
        size = xp.ones(n, dtype=np.int64)
        chain = xp.zeros(n + 1, dtype=np.int64)
        state = xp.zeros(2, dtype=np.int64)
        merges = xp.empty((n - 1) * 3)
        loop = self.ctx.kernel("nn_chain", f"nn_chain_loop<{STORAGE_TYPES[D.dtype.name]}>")
        for stop in chunk_ends(n - 1, bar):
            loop((1,), (self.ctx.loop_threads,),
                 (D, _i64(n), np.int32(code), size, chain, state, merges, _i64(stop), fault))
            # reading the fault waits for the launch: the chunk's one host synchronisation
            raise_fault(self.ctx.asnumpy(fault), method.name, D.dtype)
        return self.ctx.asnumpy(merges).reshape(n - 1, 3)

    def _generic(self, D, method: Method, bar) -> np.ndarray:
        xp = self.xp
        n = D.shape[0]
        code = method.code
        fault = xp.zeros(5, dtype=np.int64)
        m = max(n - 1, 1)
        ctype = STORAGE_TYPES[D.dtype.name]
        size = xp.ones(n, dtype=np.int64)
        cluster_id = xp.arange(n, dtype=np.int64)
        neighbor = xp.zeros(m, dtype=np.int64)
        min_dist = xp.zeros(m)
        heap_values = xp.zeros(m)
        key_by_index = xp.zeros(m, dtype=np.int64)
        index_by_key = xp.zeros(m, dtype=np.int64)
        flags = xp.zeros(n, dtype=np.uint8)
        improved = xp.zeros(n, dtype=np.int64)
        state = xp.asarray(np.array([0, n - 1], dtype=np.int64))
        Z = xp.empty((n - 1) * 4)
        self._launch("generic", f"generic_neighbours<{ctype}>",
                     (max(1, min(n - 1, self.ctx.max_blocks)),), (self.ctx.loop_threads,),
                     D, _i64(n), neighbor, min_dist)
        self._launch("generic", "generic_heapify", (1,), (32,), _i64(n), min_dist,
                     heap_values, key_by_index, index_by_key)
        loop = self.ctx.kernel("generic", f"generic_loop<{ctype}>")
        for stop in chunk_ends(n - 1, bar):
            loop((1,), (self.ctx.loop_threads,),
                 (D, _i64(n), np.int32(code), size, cluster_id, neighbor, min_dist, heap_values,
                  key_by_index, index_by_key, flags, improved, state, Z, _i64(stop), fault))
            # reading the fault waits for the launch: the chunk's one host synchronisation
            raise_fault(self.ctx.asnumpy(fault), method.name, D.dtype)
        return self.ctx.asnumpy(Z).reshape(n - 1, 4)

    def _cooperative_grid(self, n: int) -> tuple[int, int]:
        """(blocks, threads) of a cooperative loop over n slots: every block resident at once."""
        threads = min(self.ctx.loop_threads, COOPERATIVE_THREADS)
        return max(1, min(self.ctx.cooperative_blocks, -(-n // threads))), threads

    @staticmethod
    def _device_loop(kernel, blocks: int, threads: int, args, n: int, bar, check) -> None:
        """Run a merge loop that lives on the device (a cooperative kernel with grid barriers)
        over the n - 1 merges: one launch per progress chunk, ``args(stop)`` its arguments for
        the chunk that ends at merge `stop`; ``check()`` then reads the device (the chunk's one
        host synchronisation), raises on a fault and returns the merges done."""
        for stop in chunk_ends(n - 1, bar):
            kernel((blocks,), (threads,), args(stop))
            if check() != stop:
                raise RuntimeError("gpuhclust: the device's merge loop stopped short of its chunk")

    def _tournament(self, D, method: Method, bar) -> np.ndarray:
        """The tournament on the device (``kernels/generic.cu``): one cooperative launch per
        progress chunk makes the chunk's steps, a grid barrier per step; the host reads the
        device once per chunk."""
        xp, track = self.xp, self.ctx.track
        n = D.shape[0]
        ctype = STORAGE_TYPES[D.dtype.name]
        blocks, threads = self._cooperative_grid(n)
        m = max(n - 1, 1)
        size = track(xp.ones(n, dtype=np.int64))
        cluster_id = track(xp.arange(n, dtype=np.int64))
        neighbor = track(xp.zeros(m, dtype=np.int64))
        min_dist = track(xp.zeros(m))
        # [merges done, phase (0: the first tournament), x, y] and the fault: one host read
        status = track(xp.zeros(9, dtype=np.int64))
        height = track(xp.zeros(1))
        parts = tuple(track(xp.empty(2 * blocks, dtype=t))
                      for t in (np.float64, np.int64, np.float64, np.int64))
        barrier = track(xp.zeros(2, dtype=np.uint32))
        overflow = track(xp.full(3, _NO_PAIR, dtype=np.uint64))
        Z = track(xp.empty((n - 1) * 4))
        self._launch("generic", f"generic_neighbours<{ctype}>",
                     (max(1, min(n - 1, self.ctx.max_blocks)),), (self.ctx.loop_threads,),
                     D, _i64(n), neighbor, min_dist)
        loop = self.ctx.kernel("generic", f"tournament_loop<{ctype}>", cooperative=True)
        args = (D, _i64(n), np.int32(method.code), size, cluster_id, neighbor, min_dist,
                status[:4], height, *parts, barrier, overflow, Z, status[4:])

        def check() -> int:
            host = self.ctx.asnumpy(status)
            raise_fault(host[4:], method.name, D.dtype)
            return int(host[0])

        self._device_loop(loop, blocks, threads, lambda stop: (*args, _i64(stop)), n, bar, check)
        return self.ctx.asnumpy(Z).reshape(n - 1, 4)

    # -- engine='vector': ward, centroid, median from centroids (kernels/vector.cu) -----------
    def _vector_checks(self, X: np.ndarray, method: Method) -> None:
        """ValueError when squared distances could overflow; MemoryError when the engine does
        not fit the device."""
        n, d = X.shape
        check_vector_scale(X)
        check_fits(self.vector_bytes(n, d, method),
                   f"engine='vector' ({method.name}) on {n} observations in {d} dimensions",
                   "use fewer observations or dimensions", available=self.ctx.free_bytes(),
                   where=f"{self.ctx.name} device memory")

    def _vector_ward_rounds(self, X: np.ndarray, method: Method, bar) -> np.ndarray:
        n = X.shape[0]
        self._vector_checks(X, method)
        store = DeviceCentroidRows(self, np.ascontiguousarray(centroid_frame(X).T))
        return centroid_rounds.ward_rounds(store, n, bar, last_run, backend=self.name)

    def _vector(self, X: np.ndarray, method: Method, bar) -> np.ndarray:
        n, d = X.shape
        self._vector_checks(X, method)
        track, xp = self.ctx.track, self.xp
        # centroids features first (one row per feature), slots in position order
        C = self.ctx.device_array(np.ascontiguousarray(centroid_frame(X).T))
        sz = track(xp.ones(n))
        slot = track(xp.arange(n, dtype=np.int64))
        pos_of = track(xp.arange(n, dtype=np.int64))
        blocks = self._grid_blocks(n)  # the most any scan uses: live_end only shrinks
        parts = (track(xp.empty(blocks)), track(xp.empty(blocks, dtype=np.int64)),
                 track(xp.empty(blocks, dtype=np.int64)), track(xp.empty(blocks, dtype=np.int64)))
        prev_value = track(xp.zeros(1))
        cluster = (C, np.int64(n), np.int32(d))
        if method.code == _WARD:
            return self._vector_ward(n, cluster, sz, slot, pos_of, parts, prev_value, bar)
        return self._vector_generic(n, method.code, cluster, sz, slot, pos_of, parts,
                                    prev_value, bar)

    def _vector_tournament(self, X: np.ndarray, method: Method, bar) -> np.ndarray:
        """Centroid or median by the tournament (kernels/vector.cu): a first pass gives every
        slot's nearest higher neighbour and the first merge, then every step is two graph
        nodes (a merge, or the rescans before one); the host launches about one graph per
        progress chunk (again when its rescans left it short), reads the state after each and
        compacts the centroids between graphs."""
        n, d = X.shape
        self._vector_checks(X, method)
        track, xp = self.ctx.track, self.xp
        C = self.ctx.device_array(np.ascontiguousarray(centroid_frame(X).T))
        sz = track(xp.ones(n))
        slot, pos_of, cluster_id = (track(xp.arange(n, dtype=np.int64)) for _ in range(3))
        neighbor = track(xp.full(n, -1, dtype=np.int64))
        min_dist = track(xp.full(n, np.inf))
        stale = track(xp.ones(n, dtype=np.uint8))  # the first pass: every row, every slot
        queries = track(xp.arange(n, dtype=np.int64))
        blocks = self._grid_blocks(n)
        width = max(n, VECTOR_QUERIES * blocks)
        parts = (track(xp.empty(width)), track(xp.empty(width, dtype=np.int64)),
                 track(xp.empty(2 * blocks)), track(xp.empty(2 * blocks, dtype=np.int64)))
        ticket = track(xp.zeros(1, dtype=np.uint32))
        Z = track(xp.empty((n - 1) * 4))
        state = self._vector_state(phase="rescan", live_end=n, queries=n,
                                   limit_value=np.float64(np.inf).view(np.int64),
                                   limit_slot=np.iinfo(np.int64).max)
        collect = self.ctx.kernel("vector", "vector_tournament_collect")
        step = self.ctx.kernel("vector", "vector_tournament_pass")
        grid, block = (blocks,), (self.ctx.threads,)
        step_args = (C, np.int64(n), np.int32(d), np.int64(n), np.int32(method.code), sz, slot,
                     pos_of, cluster_id, neighbor, min_dist, stale, state, queries, *parts,
                     ticket, Z)
        collect_args = (sz, slot, min_dist, stale, state, queries)

        def steps(count):
            for _ in range(count):
                collect(grid, block, collect_args)
                step(grid, block, step_args)

        def read():
            host = self.ctx.asnumpy(state)
            if host[_VS["phase"]] == _VP["no_pair"]:
                raise centroid_rounds.overflow_error()
            return host

        step(grid, block, step_args)  # the first merge
        host = read()
        graphs, start = {}, 0
        for stop in chunk_ends(n - 1, bar):
            # a graph per chunk length (a few): 3 steps per 2 merges, as rescans go (a graph
            # may run into the next chunk, and past the last merge as steps that do nothing)
            size = max(2, -(-3 * (stop - start) // 2))
            start = stop
            while host[_VS["k"]] < stop:
                k, live_end, dead = (int(host[_VS[q]]) for q in ("k", "live_end", "dead"))
                if dead >= 8 and dead * COMPACT_EVERY >= live_end:
                    self._compact(state, live_end, C, sz, slot, pos_of)
                if size not in graphs:
                    graphs[size] = self.ctx.capture(lambda: steps(size))
                graphs[size].launch()
                host = read()
                if host[_VS["k"]] == k:  # two steps make at least one merge
                    raise RuntimeError("gpuhclust: the vector engine's kernels made no progress")
        return self.ctx.asnumpy(Z).reshape(n - 1, 4)

    def _vector_state(self, **values):
        state = np.zeros(len(VECTOR_STATE), dtype=np.int64)
        for name, value in values.items():
            state[_VS[name]] = _VP[value] if name == "phase" else value
        return self.ctx.device_array(state)

    def _vector_ward(self, n, cluster, sz, slot, pos_of, parts, prev_value, bar) -> np.ndarray:
        track, xp = self.ctx.track, self.xp
        C, ld, d = cluster
        chain = track(xp.zeros(n + 1, dtype=np.int64))  # chain[0] = slot 0, the lowest live
        merges = track(xp.empty((n - 1) * 3))
        state = self._vector_state(phase="query", live_end=n, chain_length=1, center=0, prev=-1)
        unused = (track(xp.zeros(1, dtype=np.int64)), track(xp.zeros(1)))  # neighbour cache
        scan = self.ctx.kernel("vector", "vector_scan")
        step = self.ctx.kernel("vector", "ward_step")
        threads = (self.ctx.threads,)

        def one_step(blocks, stop):
            scan((blocks,), threads, (*cluster, np.int32(_WARD), sz, slot, pos_of, *unused,
                                      state, prev_value, *parts, unused[0]))
            step((1,), threads, (*cluster, np.int64(n), sz, slot, pos_of, chain, state,
                                 prev_value, parts[0], parts[1], np.int32(blocks), merges,
                                 np.int64(stop)))

        self._vector_rounds(n, state, (C, sz, slot, pos_of), one_step, bar)
        return self.ctx.asnumpy(merges).reshape(n - 1, 3)

    def _vector_generic(self, n, code, cluster, sz, slot, pos_of, parts, prev_value,
                        bar) -> np.ndarray:
        track, xp = self.ctx.track, self.xp
        C, ld, d = cluster
        m = max(n - 1, 1)
        neighbor = track(xp.zeros(m, dtype=np.int64))
        min_dist = track(xp.zeros(m))
        heap = (track(xp.zeros(m)), track(xp.zeros(m, dtype=np.int64)),
                track(xp.zeros(m, dtype=np.int64)))
        cluster_id = track(xp.arange(n, dtype=np.int64))
        cand = track(xp.zeros(n, dtype=np.int64))
        Z = track(xp.empty((n - 1) * 4))
        self._launch("vector", "vector_nearest_higher", (max(1, min(n - 1, self.ctx.max_blocks)),),
                     (self.ctx.threads,), *cluster, np.int64(n), neighbor, min_dist)
        self._launch("generic", "generic_heapify", (1,), (32,), np.int64(n), min_dist, *heap)
        state = self._vector_state(phase="top", live_end=n, heap_size=n - 1, prev=-1)
        scan = self.ctx.kernel("vector", "vector_scan")
        step = self.ctx.kernel("vector", "generic_step")
        threads = (self.ctx.threads,)

        def one_step(blocks, stop):
            scan((blocks,), threads, (*cluster, np.int32(code), sz, slot, pos_of, neighbor,
                                      min_dist, state, prev_value, *parts, cand))
            step((1,), threads, (*cluster, np.int64(n), np.int32(code), sz, slot, pos_of,
                                 cluster_id, neighbor, min_dist, *heap, *parts,
                                 np.int32(blocks), cand, state, Z, np.int64(stop)))

        self._vector_rounds(n, state, (C, sz, slot, pos_of), one_step, bar)
        return self.ctx.asnumpy(Z).reshape(n - 1, 4)

    def _vector_rounds(self, n, state, columns, one_step, bar) -> None:
        """Run `one_step` (a scan and a one-block step, at most one merge) until every chunk's
        merges are done. The host reads the state once per round, launches as many steps as
        merges remain (at most 1/32 of the live positions, so that compaction keeps up) and
        compacts the centroids between rounds."""
        stalled, last_k = 0, -1
        for stop in chunk_ends(n - 1, bar):
            while True:
                host = self.ctx.asnumpy(state)
                if host[_VS["phase"]] == _VP["no_pair"]:
                    raise centroid_rounds.overflow_error()
                k, live_end, dead = (int(host[_VS[name]]) for name in ("k", "live_end", "dead"))
                if k >= stop:
                    break
                if dead >= 8 and dead * COMPACT_EVERY >= live_end:
                    live_end = self._compact(state, live_end, *columns)
                # a step without a merge is a rescan (at most n - k in a row) or, after a
                # chunk's end, the look at the heap's top: more means the kernels are stuck
                stalled, last_k = (stalled + 1 if k == last_k else 0), k
                if stalled > n + 2:
                    raise RuntimeError("gpuhclust: the vector engine's kernels made no progress")
                blocks = self._grid_blocks(live_end)
                for _ in range(min(stop - k, max(16, live_end // COMPACT_EVERY))):
                    one_step(blocks, stop)

    def _compact(self, state, live_end, C, sz, slot, pos_of) -> int:
        """Move the live clusters to the front of the positions, in order (results do not
        change: the order of the slots is kept, see kernels/vector.cu). Returns their count."""
        xp = self.xp
        keep = xp.flatnonzero(sz[:live_end] > 0)
        w = int(keep.size)
        C[:, :w] = C[:, keep]
        sz[:w] = sz[keep]
        slot[:w] = slot[keep]
        pos_of[slot[:w]] = xp.arange(w, dtype=np.int64)
        state[_VS["live_end"]] = w
        state[_VS["dead"]] = 0
        state[_VS["first_live"]] = 0
        return w


class SimBackend(CudaBackend):
    """backend='cuda-sim': the CUDA backend's host code with NumPy arrays and the kernels run by
    the CPU simulator (for tests; small n). The schedule comes from GPUHCLUST_SIM_SCHEDULE."""

    name = "cuda-sim"

    def __init__(self, context: DeviceContext | None = None):
        if context is None:
            import os

            context = SimContext(schedule=os.environ.get("GPUHCLUST_SIM_SCHEDULE", "forward"))
        super().__init__(context)

    @classmethod
    def unusable_reason(cls) -> str:
        from .. import _sim

        if not _sim.compiler_available():
            return ("backend 'cuda-sim' compiles the CUDA kernels with a C++ compiler, and none "
                    "was found (set CXX or install g++)")
        return ""


register_backend("cuda", CudaBackend, auto_priority=10)
register_backend("cuda-sim", SimBackend, auto_priority=-10)
