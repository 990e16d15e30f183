"""One shard of the distance matrix: a Dask actor that lives on one worker and holds the rows
``r0:r1`` of the square n x n matrix (full width, +inf on the diagonal).

The driver only ever calls the methods below; each call carries the run's token and the
number of calls the shard has answered so far. A shard that Dask rebuilt from its lineage after
its worker died (a fresh actor, with none of the merges applied) therefore refuses the next call
with :class:`StaleShard` instead of answering from the wrong state.

What a shard computes with is decided when it starts on its worker (:func:`make_rows`): its
rows in host memory with the CPU backend's Numba kernels (:class:`CpuRows`), or in the worker's
GPU memory with the kernels of ``kernels/shard.cu`` (``gpuhclust.cuda._device_rows.DeviceRows``);
both give the same values, bit for bit. The shard keeps the token and call count; the rows
object keeps the distances, the sizes and the merge log.

Distances are computed on the worker: compiled metrics with the backend's kernels (bit for bit
``pdist``), the others with ``scipy.spatial.distance.cdist`` called in ``pdist``'s argument
order (:func:`scipy_rows`, on the host). A condensed matrix arrives in pieces packed by
:func:`pack_condensed`.
"""
from __future__ import annotations

import functools

import numba
import numpy as np

from ..cpu._distances import BLOCK, ROWS, row_start, square_rows
from ..cpu._lazy_matrix import new_merge_log
from . import _boruvka, _rounds

__all__ = ["Shard", "StaleShard", "CpuRows", "SHARD_COMPUTES", "ShardComputeUnavailable",
           "make_rows", "pack_condensed"]


class StaleShard(RuntimeError):
    """The shard is not the one the driver has been talking to (rebuilt after a worker loss),
    or it missed a call."""


# -- distances --------------------------------------------------------------------------------
@functools.cache
def _fill_rows_for(code: int):
    """:func:`_fill_rows` less `code`, compiled for metric `code` only (the code a constant, as
    in ``cpu._distances.for_metric``)."""
    code = int(code)

    @numba.njit(cache=True, error_model="numpy")
    def fill_rows(X, Xt, r0, p, aux, weights, vi, D):
        _fill_rows(X, Xt, r0, code, p, aux, weights, vi, D)

    return fill_rows


@numba.njit(cache=True, error_model="numpy")
def _fill_rows(X, Xt, r0, code, p, aux, weights, vi, D):
    """Rows ``r0:r0+len(D)`` of the square distance matrix of `X`, diagonal +inf."""
    acc = np.empty((ROWS, BLOCK))
    no_minima = np.empty((0, 0), dtype=np.int64)
    end = r0 + D.shape[0]
    for i in range(r0, end, ROWS):
        square_rows(X, Xt, i, end, r0, code, p, aux, weights, vi, D, acc, no_minima, no_minima)


@numba.njit(cache=True, error_model="numpy")
def _first_non_finite(D, r0):
    """(i, j), i < j, of a non-finite entry off the diagonal, or (-1, -1)."""
    for i in range(D.shape[0]):
        r = r0 + i
        for j in range(D.shape[1]):
            if j != r and not abs(D[i, j]) < np.inf:
                return min(r, j), max(r, j)
    return -1, -1


@numba.njit(cache=True, error_model="numpy", inline="always")
def _needed_columns(c, s, lo, hi, n, r0, r1):
    """Columns ``a:b`` of condensed row c (which starts at condensed index s) whose entries lie
    in ``lo:hi`` and are needed by the shard of rows ``r0:r1``: all of them for its own rows,
    columns r0:r1 for rows above it, none below."""
    a = c + 1 + max(lo - s, 0)
    b = c + 1 + min(hi - s, n - c - 1)
    if c < r0:
        a = max(a, r0)
        b = min(b, r1)
    elif c >= r1:
        b = a
    return a, max(a, b)


@numba.njit(cache=True, error_model="numpy")
def pack_condensed(chunk, base, lo, hi, c, n, r0, r1, out):
    """Copy the condensed entries ``lo:hi`` (c: the row of entry lo; entry 0 of `chunk` is
    condensed index `base`) that the shard of rows ``r0:r1`` needs into `out`, row after row,
    columns ascending; returns how many there are (with an empty `out` it only counts them).

    The entries of whole rows ``c0:c1`` packed at once, or range by range in condensed order
    and concatenated, give the same array: what ``Shard.fill_condensed`` takes."""
    w = 0
    s = row_start(c, n)
    write = out.shape[0] > 0
    while s < hi and c < r1:
        a, b = _needed_columns(c, s, lo, hi, n, r0, r1)
        if write:
            for j in range(a, b):
                out[w + j - a] = chunk[s + j - c - 1 - base]
        w += b - a
        s += n - c - 1
        c += 1
    return w


@numba.njit(cache=True, error_model="numpy")
def _unpack_condensed(packed, n, c0, c1, r0, D):
    """Shard side of :func:`pack_condensed`: place the pieces of whole rows ``c0:c1`` (both
    D[c, j] and its mirror D[j, c] where they are rows of this shard); -0.0 becomes +0.0."""
    r1 = r0 + D.shape[0]
    w = 0
    for c in range(c0, c1):
        if c < r0:
            for j in range(r0, r1):
                D[j - r0, c] = packed[w] + 0.0
                w += 1
        elif c < r1:
            D[c - r0, c] = np.inf
            for j in range(c + 1, n):
                v = packed[w] + 0.0
                D[c - r0, j] = v
                if j < r1:
                    D[j - r0, c] = v
                w += 1


def scipy_rows(metric, r0: int, r1: int, n: int) -> np.ndarray:
    """Rows ``r0:r1`` of the square float64 matrix for a metric without a compiled kernel
    (``scipy.spatial.distance.cdist``), diagonal +inf, -0.0 made +0.0 (as for condensed input:
    the shards' argmins then agree however they compare)."""
    import scipy.spatial.distance as ssd

    X = metric.X
    # pdist calls metric(X[i], X[j]) with i < j: keep that order on both sides of the
    # diagonal so that the matrix is exactly symmetric even for a callable
    upper = ssd.cdist(X[r0:r1], X, metric.scipy_metric, **metric.scipy_kwargs)
    lower = ssd.cdist(X[:r1], X[r0:r1], metric.scipy_metric, **metric.scipy_kwargs).T
    cols = np.arange(n)
    rows = np.arange(r0, r1)[:, None]
    out = np.empty((r1 - r0, n))
    out[:, :r1] = np.where(cols[:r1] > rows, upper[:, :r1], lower)
    out[:, r1:] = upper[:, r1:]
    out += 0.0
    out[np.arange(r1 - r0), np.arange(r0, r1)] = np.inf
    return out


def live_rows_full(foreign: np.ndarray, cols: np.ndarray, n: int, dtype) -> np.ndarray:
    """Rows that arrived with their live entries only (at `cols`), widened to n with +inf."""
    full = np.full((foreign.shape[0], n), np.inf, dtype=dtype)
    if foreign.shape[0]:
        full[:, cols] = foreign
    return full


class CpuRows:
    """The shard's rows in host memory, computed with the CPU backend's Numba kernels (one
    thread per call). :class:`gpuhclust.cuda._device_rows.DeviceRows` has the same methods and
    gives the same values on a GPU."""

    name = "cpu"

    def __init__(self, r0: int, r1: int, n: int, dtype):
        self.r0, self.r1, self.n = r0, r1, n
        self.D = np.empty((r1 - r0, n), dtype=np.dtype(dtype))
        self.size = np.ones(n, dtype=np.int64)
        # the merge log of the whole run, with per-row fields for this shard's rows only
        self.log = new_merge_log(n)._replace(last=np.zeros(r1 - r0, dtype=np.int64),
                                             touched=np.zeros(r1 - r0))
        self.log_fields = (self.log.a, self.log.b, self.log.h, self.log.na, self.log.nb)
        self.best_d = np.full(r1 - r0, np.inf)
        self.best_c = np.full(r1 - r0, -1, dtype=np.int64)

    @property
    def dtype(self) -> np.dtype:
        return self.D.dtype

    def fill_observations(self, metric) -> None:
        X = metric.X
        _fill_rows_for(metric.code)(X, np.ascontiguousarray(X.T), self.r0,
                                    *metric.kernel_args[1:], self.D)

    def set_rows(self, rows: np.ndarray) -> None:
        self.D[...] = rows

    def unpack_condensed(self, c0: int, c1: int, packed: np.ndarray) -> None:
        _unpack_condensed(packed, self.n, c0, c1, self.r0, self.D)

    def set_diagonal(self) -> None:
        self.D[np.arange(self.r1 - self.r0), np.arange(self.r0, self.r1)] = np.inf

    def report(self, check: bool):
        bad = _first_non_finite(self.D, self.r0) if check else (-1, -1)
        return bool(self.D.min() < 0), (int(bad[0]), int(bad[1]))

    def record(self, entries, k0: int) -> None:
        k1 = k0 + len(entries[0])
        for dst, src in zip(self.log_fields, entries):
            dst[k0:k1] = src

    def export_rows(self, xs, ks, cols, code):
        out = np.empty((len(xs), len(cols)), dtype=self.D.dtype)
        _rounds.export_rows(self.D, self.r0, code, self.size, self.log, xs, ks, cols, out)
        return out

    def apply_merges(self, k0: int, k1: int, full: np.ndarray, pos: np.ndarray, code: int):
        _rounds.apply_merges(self.D, self.r0, code, self.size, self.log, k0, k1, full, pos)

    def rescan(self, rows, nonneg, code, upto):
        nn = np.empty(len(rows), dtype=np.int64)
        dist = np.empty(len(rows))
        keys = self.D.view(np.int64 if self.D.dtype == np.float64 else np.int32)
        _rounds.rescan_rows(self.D, keys, self.r0, nonneg, code, self.size, self.log,
                            upto, rows, nn, dist)
        return nn, dist

    def boruvka(self, comp):
        _boruvka.scan_rows(self.D, self.r0, comp, self.best_d, self.best_c)
        return self.best_d, self.best_c


#: Values of ``DaskBackend(shard_compute=...)``: what the shards compute with.
SHARD_COMPUTES = ("auto", "cpu", "cuda", "cuda-sim")


class ShardComputeUnavailable(ValueError):
    """``shard_compute='cuda'`` on a worker where CuPy or a CUDA device is not usable."""


def make_rows(compute: str, r0: int, r1: int, n: int, dtype):
    """The rows of a shard with the compute asked for: 'cpu' (Numba), 'cuda' (CuPy raw kernels
    on the worker's current CUDA device), 'cuda-sim' (the same kernels on the CPU kernel
    simulator, for tests) or 'auto' ('cuda' when CuPy sees a device on this worker, else
    'cpu')."""
    if compute not in SHARD_COMPUTES:
        raise ValueError(f"shard_compute must be one of {SHARD_COMPUTES}, got {compute!r}")
    if compute == "cpu":
        return CpuRows(r0, r1, n, dtype)
    from ..cuda._context import cuda_usable

    if compute == "auto":
        if not cuda_usable():
            return CpuRows(r0, r1, n, dtype)
        compute = "cuda"
    if compute == "cuda" and not cuda_usable():
        raise ShardComputeUnavailable(
            "shard_compute='cuda': CuPy or a CUDA device is not usable on this Dask worker "
            "(use shard_compute='auto' to compute on the CPU where there is no GPU)")
    from ..cuda._device_rows import DeviceRows

    return DeviceRows(compute, r0, r1, n, dtype)


class Shard:
    """Rows ``r0:r1`` of the distance matrix and a mirror of the driver's O(n) bookkeeping
    (cluster sizes, the merge log), as a Dask actor.

    Parameters
    ----------
    token : str
        Identifies the run; every call must present it.
    r0, r1 : int
        The rows this shard holds.
    n : int
        Number of observations.
    dtype : str
        'float64' or 'float32': storage of the distances.
    compute : str
        One of :data:`SHARD_COMPUTES` (see :func:`make_rows`); the attribute `compute` then
        says which one the shard uses ('cpu', 'cuda' or 'cuda-sim'), and the fill calls report
        it to the driver.
    """

    def __init__(self, token: str, r0: int, r1: int, n: int, dtype: str, compute: str = "cpu"):
        self.token = token
        self.calls = 0
        self.r0, self.r1, self.n = r0, r1, n
        self.rows = make_rows(compute, r0, r1, n, dtype)
        self.compute = self.rows.name

    def _check(self, token: str, calls: int) -> None:
        if token != self.token or calls != self.calls:
            raise StaleShard(f"shard of rows {self.r0}:{self.r1} has answered {self.calls} "
                             f"calls of run {self.token}, the driver expected {calls} of run "
                             f"{token}: it was rebuilt after its worker was lost")
        self.calls += 1

    # -- filling ------------------------------------------------------------------------------
    def fill_observations(self, token, calls, metric, check: bool):
        """Distances from the observations in `metric` (a ``PreparedMetric``). Returns
        (has_negative, (i, j) of a non-finite distance or (-1, -1), the compute used)."""
        self._check(token, calls)
        if metric.code is not None:
            self.rows.fill_observations(metric)
        else:
            self.rows.set_rows(scipy_rows(metric, self.r0, self.r1, self.n))
        return self._report(check)

    def fill_condensed(self, token, calls, c0: int, c1: int, packed: np.ndarray):
        """Place the pieces of condensed rows ``c0:c1`` packed by :func:`pack_condensed`."""
        self._check(token, calls)
        self.rows.unpack_condensed(c0, c1, packed)

    def finish_condensed(self, token, calls):
        """(has_negative, (-1, -1), the compute used) once every piece is in (validated on
        the driver)."""
        self._check(token, calls)
        self.rows.set_diagonal()
        return self._report(False)

    def _report(self, check: bool):
        return (*self.rows.report(check), self.compute)

    # -- reciprocal nearest-neighbour rounds --------------------------------------------------
    def scan_all(self, token, calls, nonneg: bool, code: int):
        """Nearest neighbour (lowest index among equals) and its distance for every row."""
        self._check(token, calls)
        rows = np.arange(self.r0, self.r1, dtype=np.int64)
        return self.rows.rescan(rows, nonneg, code, 0)

    def export_rows(self, token, calls, entries, k0: int, xs: np.ndarray, ks: np.ndarray,
                    code: int):
        """Rows `xs` (merged away at log positions `ks`) brought up to their merge, restricted
        to the clusters alive before log entry `k0`: what the shards of their partners need."""
        self._check(token, calls)
        self.rows.record(entries, k0)
        cols = np.flatnonzero(self.rows.size > 0)
        return self.rows.export_rows(np.asarray(xs, dtype=np.int64),
                                     np.asarray(ks, dtype=np.int64), cols, code)

    def apply_merges(self, token, calls, entries, k0: int, foreign_k: np.ndarray,
                     foreign: np.ndarray, rescan: np.ndarray, nonneg: bool, code: int):
        """Apply log entries ``k0:k0+len(entries[0])``: merge the rows this shard holds (rows
        merged away on another shard come in `foreign`, entry ``foreign_k[t]`` for row t), then
        rescan the rows in `rescan`. Returns their (nearest neighbour, distance)."""
        self._check(token, calls)
        self.rows.record(entries, k0)
        k1 = k0 + len(entries[0])
        cols = np.flatnonzero(self.rows.size > 0)
        if len(foreign_k) and foreign.shape[1] != len(cols):
            raise StaleShard(f"shard of rows {self.r0}:{self.r1}: a row merged on another "
                             f"shard has {foreign.shape[1]} live entries, this shard "
                             f"counts {len(cols)} live clusters")
        full = live_rows_full(foreign, cols, self.n, self.rows.dtype)
        pos = np.full(k1 - k0, -1, dtype=np.int64)
        pos[np.asarray(foreign_k, dtype=np.int64) - k0] = np.arange(len(foreign_k))
        self.rows.apply_merges(k0, k1, full, pos, code)
        return self.rows.rescan(np.asarray(rescan, dtype=np.int64), nonneg, code, k1)

    # -- Boruvka (single linkage) -------------------------------------------------------------
    def boruvka(self, token, calls, comp: np.ndarray):
        """For every component among this shard's rows, its cheapest edge to another component
        under the order (distance, lower end, higher end): arrays (component, d, lo, hi)."""
        self._check(token, calls)
        best_d, best_c = self.rows.boruvka(comp)
        return _boruvka.cheapest_per_component(self.r0, comp, best_d, best_c)
