"""Rows of the square distance matrix on a device, with the kernels of ``kernels/shard.cu``:
a Dask shard's rows on its worker's GPU (the methods of ``gpuhclust.dask._shard.CpuRows``), or
all rows at once (:meth:`DeviceRows.whole`: the lazy rows that the local GPU rounds' store,
``_round_rows``, which keeps its rows up to date instead, is tested against). Everything goes
through the CUDA backend's device seam (``gpuhclust.cuda._context``), so the same code runs on a GPU
through CuPy ('cuda') and on the CPU kernel simulator ('cuda-sim').

Same Z as the Numba shards, bit for bit: the kernels do the Numba shards' float64 arithmetic in
the same order (compiled without FMA contraction), rows replay the merge log lazily in log
order exactly as ``gpuhclust.cpu._lazy_matrix.replay`` does, and every argmin takes the lowest index
among equal distances. Array-module operations are used only for copies, comparisons and
integer bookkeeping (never for distance arithmetic, which CuPy's own kernels might contract).

Device state: the rows (``(r1 - r0) * n`` distances), the merge log (5 arrays of n - 1), the
cluster sizes, each row's replay position and the Boruvka cache. The host keeps the sizes too
(for the live columns) and nothing of size n^2.
"""
from __future__ import annotations

import contextlib
import os

import numpy as np

from .._memory import check_fits
from ._context import CupyContext, SimContext, grid_blocks, metric_arrays, row_blocks
from ._kernels import STORAGE_TYPES

__all__ = ["DeviceRows"]

_NO_INDEX = np.uint64(np.iinfo(np.uint64).max)


def _i64(v) -> np.int64:
    return np.int64(v)


def _on_device(ctx):
    """The context's device made current (Dask may call from another thread)."""
    device = getattr(ctx, "device", None)
    return device if device is not None else contextlib.nullcontext()


class DeviceRows:
    """Rows ``r0:r1`` of the n x n matrix in device memory.

    Parameters
    ----------
    compute : {'cuda', 'cuda-sim'}
        A CuPy device (the worker's current one) or the kernel simulator (schedule from
        ``GPUHCLUST_SIM_SCHEDULE``, as ``backend='cuda-sim'``).
    """

    def __init__(self, compute: str, r0: int, r1: int, n: int, dtype):
        if compute == "cuda":
            ctx = CupyContext()
        else:
            ctx = SimContext(schedule=os.environ.get("GPUHCLUST_SIM_SCHEDULE", "forward"))
        m = r1 - r0
        dtype = np.dtype(dtype)
        check_fits(dtype.itemsize * m * n + self.state_bytes(n, m),
                   f"rows {r0}:{r1} of the {n} x {n} {dtype.name} distance matrix",
                   "add workers, pass dtype=numpy.float32, or shard_compute='cpu'",
                   available=ctx.free_bytes(), where=f"{ctx.name} device memory of this worker")
        with _on_device(ctx):
            D = ctx.xp.empty((m, n), dtype=dtype)
        self._hold(compute, ctx, r0, D)

    @classmethod
    def whole(cls, backend, D) -> "DeviceRows":
        """All rows of the square matrix `D` (+inf on the diagonal), already on the device of
        `backend` (a ``CudaBackend``); `D` is taken over."""
        rows = cls.__new__(cls)
        rows._hold(backend.name, backend.ctx, 0, D)
        return rows

    @staticmethod
    def state_bytes(n: int, m: int) -> int:
        """Device memory beside the rows: the merge log (5 arrays of n - 1), sizes and
        merge positions (n each), replay positions and the Boruvka cache (m each)."""
        return 8 * (5 * max(n - 1, 1) + 3 * n + 3 * m)

    def _hold(self, name: str, ctx, r0: int, D) -> None:
        self.name = name
        self.ctx, self.xp = ctx, ctx.xp
        m, n = D.shape
        self.r0, self.r1, self.n, self.m = r0, r0 + m, n, m
        self.ctype = STORAGE_TYPES[np.dtype(D.dtype).name]
        logn = max(n - 1, 1)
        xp = self.xp
        with self._device():
            self.D = D
            self.log = (xp.zeros(logn, dtype=np.int64), xp.zeros(logn, dtype=np.int64),
                        xp.zeros(logn), xp.zeros(logn, dtype=np.int64),
                        xp.zeros(logn, dtype=np.int64))  # a, b, h, na, nb
            self.last = xp.zeros(m, dtype=np.int64)
            self.dsize = xp.ones(n, dtype=np.int64)
            self.entry_of = xp.full(n, -1, dtype=np.int64)
            self.best_d = xp.full(m, np.inf)
            self.best_c = xp.full(m, -1, dtype=np.int64)
        self.size = np.ones(n, dtype=np.int64)  # host copy: the live columns
        self.entries = None  # the last batch recorded, on the host

    @property
    def dtype(self) -> np.dtype:
        return self.D.dtype

    def _device(self):
        return _on_device(self.ctx)

    def _launch(self, name: str, grid: int, *args) -> None:
        self.ctx.kernel("shard", f"{name}<{self.ctype}>")((grid,), (self.ctx.threads,), args)

    def _shape(self):
        return self.D, _i64(self.n), _i64(self.r0)

    # -- filling ----------------------------------------------------------------------------
    def fill_observations(self, metric) -> None:
        with self._device():
            X, d, code, p, aux, weights, vi = metric_arrays(self.ctx, metric)
            self._launch("shard_fill_rows", grid_blocks(self.ctx, self.m * self.n), X,
                         _i64(self.n), d, code, p, aux, weights, vi, _i64(self.r0),
                         _i64(self.m), self.D)

    def set_rows(self, rows: np.ndarray) -> None:
        with self._device():
            self.D[...] = self.xp.asarray(rows.astype(self.dtype, copy=False))

    def unpack_condensed(self, c0: int, c1: int, packed: np.ndarray) -> None:
        c = np.arange(c0, c1)
        lengths = np.where(c < self.r0, self.m, np.where(c < self.r1, self.n - c - 1, 0))
        offsets = np.concatenate(([0], np.cumsum(lengths)[:-1])).astype(np.int64)
        with self._device():
            xp = self.xp
            self._launch("shard_unpack_condensed", row_blocks(self.ctx, c1 - c0),
                         xp.asarray(np.ascontiguousarray(packed, dtype=np.float64)),
                         xp.asarray(offsets), _i64(self.n), _i64(c0), _i64(c1), _i64(self.r0),
                         _i64(self.m), self.D)

    def set_diagonal(self) -> None:
        with self._device():
            rows = self.xp.arange(self.m)
            self.D[rows, rows + self.r0] = np.inf

    def report(self, check: bool):
        with self._device():
            negative = bool(self.D.min() < 0)
            if not check:
                return negative, (-1, -1)
            first = self.xp.full(1, _NO_INDEX, dtype=np.uint64)
            self._launch("shard_first_non_finite", grid_blocks(self.ctx, self.m * self.n),
                         self.D, _i64(self.n), _i64(self.r0), _i64(self.m), first)
            idx = int(self.ctx.asnumpy(first)[0])
        if idx == int(_NO_INDEX):
            return negative, (-1, -1)
        i, j = divmod(idx, self.n)
        r = self.r0 + i
        return negative, (min(r, j), max(r, j))

    # -- the merge log and the rounds -------------------------------------------------------
    def record(self, entries, k0: int) -> None:
        k1 = k0 + len(entries[0])
        dtypes = (np.int64, np.int64, np.float64, np.int64, np.int64)
        self.entries = tuple(np.asarray(e, dtype=t) for e, t in zip(entries, dtypes))
        if k1 > k0:
            with self._device():
                for dst, src in zip(self.log, self.entries):
                    dst[k0:k1] = self.xp.asarray(src)

    def _log_args(self, code: int):
        return (np.int32(code), self.dsize, self.last, *self.log)

    def export_rows(self, xs, ks, cols, code):
        if len(xs) == 0:
            return np.empty((0, len(cols)), dtype=self.dtype)
        xp = self.xp
        with self._device():
            rows = xp.asarray(xs)
            self._launch("shard_replay", grid_blocks(self.ctx, len(xs)), *self._shape(),
                         *self._log_args(code), rows, _i64(len(xs)), xp.asarray(ks))
            out = self.D[(rows - self.r0)[:, None], xp.asarray(cols)[None, :]]
            return self.ctx.asnumpy(out)

    def apply_merges(self, k0: int, k1: int, full: np.ndarray, pos: np.ndarray, code: int):
        xs, ys, _, na, nb = self.entries
        held = np.flatnonzero((ys >= self.r0) & (ys < self.r1)).astype(np.int64) + k0
        xp = self.xp
        with self._device():
            dxs, dys = xp.asarray(xs), xp.asarray(ys)
            if len(held):
                batch = xp.arange(len(xs), dtype=np.int64)
                self.entry_of[dxs] = batch
                self.entry_of[dys] = batch
                foreign = full if full.shape[0] else np.full((1, 1), np.inf, dtype=self.dtype)
                # both rows of each held entry up to that entry (x only where it is local),
                # then the merges element by element over the whole grid
                local_x = pos[held - k0] < 0
                replay = np.concatenate((ys[held - k0], xs[held - k0][local_x]))
                upto = np.concatenate((held, held[local_x]))
                self._launch("shard_replay", grid_blocks(self.ctx, len(replay)),
                             *self._shape(), *self._log_args(code), xp.asarray(replay),
                             _i64(len(replay)), xp.asarray(upto))
                self._launch("shard_merge", grid_blocks(self.ctx, len(held) * self.n),
                             *self._shape(), *self._log_args(code), _i64(k0), xp.asarray(held),
                             _i64(len(held)), self.entry_of, xp.asarray(foreign),
                             xp.asarray(pos))
                self.entry_of[dxs] = -1
                self.entry_of[dys] = -1
            self.dsize[dxs] = 0
            self.dsize[dys] = xp.asarray(na + nb)
        self.size[xs] = 0
        self.size[ys] = na + nb

    def rescan(self, rows, nonneg, code, upto):
        count = len(rows)
        if count == 0:
            return np.empty(0, dtype=np.int64), np.empty(0)
        xp = self.xp
        with self._device():
            found = xp.empty(2 * count, dtype=np.int64)  # one read back: neighbours, distances
            self._launch("shard_rescan", row_blocks(self.ctx, count), *self._shape(),
                         *self._log_args(code), xp.asarray(rows), _i64(count), _i64(upto),
                         found[:count], found[count:].view(np.float64))
            host = self.ctx.asnumpy(found)
        return host[:count], host[count:].view(np.float64)

    # -- Boruvka ----------------------------------------------------------------------------
    def boruvka(self, comp):
        with self._device():
            self._launch("shard_boruvka", row_blocks(self.ctx, self.m), self.D, _i64(self.n),
                         _i64(self.r0), _i64(self.m),
                         self.xp.asarray(np.asarray(comp, dtype=np.int64)), self.best_d,
                         self.best_c)
            return self.ctx.asnumpy(self.best_d), self.ctx.asnumpy(self.best_c)
