"""The CUDA backend: distances, and the merge loop of the method table's algorithm, as CuPy raw
kernels (``kernels/*.cu``). All host code talks to the device through a ``DeviceContext``, so the
same code runs on a GPU ('cuda') and on the CPU kernel simulator ('cuda-sim').

The loops are the CPU backend's algorithms (Prim, the nearest-neighbour chain, the generic
algorithm) with the same tie rule and the same float64 arithmetic, so both backends give the same
Z, ties included:
- single: Prim, two launches per merge and no host round trip (distances from the observations
  on the fly when the metric is compiled, so no matrix at all);
- complete, average, weighted, ward: the nearest-neighbour chain, run by one block on the device;
- centroid, median: the generic algorithm with SciPy's heap, run by one block on the device.
The host splits each loop into chunks of merges for progress and Ctrl-C.
"""
from __future__ import annotations

import numpy as np
import scipy.spatial.distance as ssd

from .._backends import Backend, register_backend
from .._memory import check_fits
from .._methods import Method
from .._metrics import PreparedMetric
from .._progress import chunk_ends, progress_bar
from .._validation import LinkageInput, condensed_pair
from ._context import CupyContext, DeviceContext, SimContext, cuda_usable
from ._kernels import STORAGE_TYPES, TILE

_NO_PAIR = np.uint64(np.iinfo(np.uint64).max)


def _i64(v) -> np.int64:
    return np.int64(v)


def _hint(dtype) -> str:
    return ("pass dtype=numpy.float32 to halve it" if np.dtype(dtype) == np.float64
            else "use fewer observations")


def _raise_non_finite(value, i, j):
    raise ValueError(f"The metric gave a non-finite distance {value} between observations "
                     f"{i} and {j}; linkage needs finite distances (SciPy: 'The condensed "
                     "distance matrix must contain only finite values').")


class CudaBackend(Backend):
    """CuPy raw kernels on a CUDA device, or on the simulator through a ``SimContext``."""

    name = "cuda"

    def __init__(self, context: DeviceContext | None = None):
        self.ctx = context if context is not None else CupyContext()
        self.xp = self.ctx.xp

    @classmethod
    def usable(cls) -> bool:
        return cuda_usable()

    # -- launching -------------------------------------------------------------------------
    def _launch(self, family: str, name: str, grid, block, *args) -> None:
        self.ctx.kernel(family, name)(grid, block, args)

    def _grid_blocks(self, n: int) -> int:
        return max(1, min(self.ctx.max_blocks, -(-n // self.ctx.threads)))

    def _check_fits(self, needed: int, what: str, dtype) -> None:
        check_fits(needed, what, _hint(dtype), available=self.ctx.free_bytes(),
                   where=f"{self.ctx.name} device memory")

    def _metric_arrays(self, metric: PreparedMetric):
        xp = self.xp
        return (xp.asarray(metric.X), np.int32(metric.X.shape[1]), np.int32(metric.code),
                np.float64(metric.p), xp.asarray(np.ascontiguousarray(metric.aux)),
                xp.asarray(np.ascontiguousarray(metric.weights)),
                xp.asarray(np.ascontiguousarray(metric.vi)))

    def _pairwise(self, metric: PreparedMetric, out, condensed: bool) -> None:
        n = metric.X.shape[0]
        X, d, code, p, aux, weights, vi = self._metric_arrays(metric)
        tiles = -(-n // TILE)
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

    def square_matrix(self, data: LinkageInput, metric: PreparedMetric | None, dtype):
        """The working matrix on the device: square, +inf on the diagonal.

        Condensed input, and metrics without a kernel (computed by SciPy on the CPU), are copied
        over as a condensed float64 matrix and expanded on the device."""
        n = data.n
        itemsize = np.dtype(dtype).itemsize
        ctype = STORAGE_TYPES[np.dtype(dtype).name]
        condensed = data.condensed
        if condensed is None and metric.code is None:
            condensed = ssd.pdist(metric.X, metric.scipy_metric, **metric.scipy_kwargs)
            finite = np.isfinite(condensed)
            if not finite.all():
                idx = int(np.flatnonzero(~finite)[0])
                _raise_non_finite(condensed[idx], *condensed_pair(idx, n))
        extra = condensed.size * 8 if condensed is not None else metric.X.nbytes
        self._check_fits(itemsize * n * n + extra,
                         f"the {n} x {n} {np.dtype(dtype).name} distance matrix", dtype)
        D = self.xp.empty((n, n), dtype=dtype)
        if condensed is not None:
            y = self.xp.asarray(np.ascontiguousarray(condensed, dtype=np.float64))
            self._launch("distances", f"condensed_to_square<{ctype}>",
                         (self._grid_blocks(n * n),), (self.ctx.threads,), y, _i64(n), D)
            del y
            return D
        self._pairwise(metric, D, condensed=False)
        if metric.may_give_non_finite:
            first = self.xp.full(1, _NO_PAIR, dtype=np.uint64)
            self._launch("distances", f"first_non_finite<{ctype}>",
                         (self._grid_blocks(n * n),), (self.ctx.threads,), D, _i64(n), first)
            idx = int(self.ctx.asnumpy(first)[0])
            if idx != int(_NO_PAIR):
                i, j = divmod(idx, n)
                _raise_non_finite(self.ctx.asnumpy(D[i, j]), i, j)
        return D

    def linkage(self, data: LinkageInput, metric: PreparedMetric | None, method: Method,
                dtype, progress) -> np.ndarray:
        n = data.n
        with progress_bar(progress, n - 1, f"gpuhclust {method.name} ({self.ctx.name})") as bar:
            if (method.algorithm == "mst" and data.observations is not None
                    and metric.code is not None):
                return self._mst(None, metric, n, bar)
            D = self.square_matrix(data, metric, dtype)
            if method.algorithm == "mst":
                return self._mst(D, None, n, bar)
            if method.algorithm == "nn_chain":
                return self._nn_chain(D, method.code, bar)
            return self._generic(D, method.code, bar)

    # -- the loops -------------------------------------------------------------------------
    def _mst(self, D, metric: PreparedMetric | None, n: int, bar) -> np.ndarray:
        xp = self.xp
        self._check_fits(64 * n + (metric.X.nbytes if metric is not None else 0),
                         "the spanning tree's state", np.float64)
        blocks = self._grid_blocks(n)
        best = xp.full(n, np.inf)
        in_tree = xp.zeros(n, dtype=np.uint8)
        state = xp.zeros(1, dtype=np.int64)
        part_value = xp.empty(blocks)
        part_index = xp.empty(blocks, dtype=np.int64)
        merges = xp.empty((n - 1) * 3)
        grid, block = (blocks,), (self.ctx.threads,)
        if metric is not None:
            arrays = self._metric_arrays(metric)
            X, d, code, p, aux, weights, vi = arrays
            bad = xp.full(1, _NO_PAIR, dtype=np.uint64)
            relax = self.ctx.kernel("mst", "prim_relax_observations")
        else:
            relax = self.ctx.kernel("mst", f"prim_relax_matrix<{STORAGE_TYPES[D.dtype.name]}>")
        choose = self.ctx.kernel("mst", "prim_choose")
        step = 0
        for stop in chunk_ends(n - 1, bar):
            for step in range(step, stop):
                if metric is not None:
                    relax(grid, block, (X, _i64(n), d, code, p, aux, weights, vi, state,
                                        _i64(step), best, in_tree, part_value, part_index, bad))
                else:
                    relax(grid, block, (D, _i64(n), state, best, in_tree, part_value,
                                        part_index))
                choose((1,), block, (_i64(step), np.int32(blocks), part_value, part_index,
                                     state, merges))
            step = stop
            if metric is not None:
                key = int(self.ctx.asnumpy(bad)[0])
                if key != int(_NO_PAIR):
                    k, j = divmod(key, n)
                    x = int(self.ctx.asnumpy(merges[3 * k]))
                    _raise_non_finite("NaN or inf", *sorted((x, j)))
        return self.ctx.asnumpy(merges).reshape(n - 1, 3)

    def _nn_chain(self, D, code: int, bar) -> np.ndarray:
        xp = self.xp
        n = D.shape[0]
        size = xp.ones(n, dtype=np.int64)
        chain = xp.zeros(n + 1, dtype=np.int64)
        state = xp.zeros(2, dtype=np.int64)
        merges = xp.empty((n - 1) * 3)
        loop = self.ctx.kernel("nn_chain", f"nn_chain_loop<{STORAGE_TYPES[D.dtype.name]}>")
        for stop in chunk_ends(n - 1, bar):
            loop((1,), (self.ctx.loop_threads,),
                 (D, _i64(n), np.int32(code), size, chain, state, merges, _i64(stop)))
            self.ctx.synchronize()
        return self.ctx.asnumpy(merges).reshape(n - 1, 3)

    def _generic(self, D, code: int, bar) -> np.ndarray:
        xp = self.xp
        n = D.shape[0]
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
                  key_by_index, index_by_key, flags, improved, state, Z, _i64(stop)))
            self.ctx.synchronize()
        return self.ctx.asnumpy(Z).reshape(n - 1, 4)


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
    def usable(cls) -> bool:
        return True  # SimContext raises SimulatorUnavailable with the reason when it is not


register_backend("cuda", CudaBackend, auto_priority=10)
register_backend("cuda-sim", SimBackend, auto_priority=-10)
