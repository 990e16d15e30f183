"""The lazy matrix of the CPU matrix algorithms: the merge log and its replay, the tie-breaking
argmin, the compaction of dead slots, and the merge loops' faults.

The working matrix is square with +inf on the diagonal and in the columns of dead clusters.
Instead of writing the new distances into every row's column at each merge (scattered writes that
dominate a naive implementation), every merge is appended to a log and each row replays the log
entries it has not seen just before it is read. The replay computes the very same
Lance-Williams expression with the very same operands, so the values are bit-identical to an
eager update.

Two things keep the replay and the scans cheap:

* A long replay first reads the row once in order, one load per cache line. The replay's reads
  and writes land at random positions of the row; done from memory each waits on its own, done
  after the sequential pass they hit the cache. (LLVM's prefetch instruction, tried first, was
  dropped by the processor.)
* Once half the slots of the matrix are dead, the live rows and columns are gathered into a
  smaller square matrix in the same buffer (``compact``). Slots keep their relative order, so
  "lowest index wins" and "the merged cluster takes the larger slot" mean what they meant, and
  the merges come out identical; the caller maps slots back to the original numbering.
"""
from __future__ import annotations

from collections import namedtuple

import numba
import numpy as np

from ._lance_williams import (AVERAGE, COMPLETE, WARD, WARD_SQUARED, WEIGHTED, _average,
                              _ward_squared, lance_williams, merge_rows)

#: The merge log, one entry per merge k: slot a merged into slot b at height h, with sizes na
#: and nb. ``last[i]`` is the first entry row i has not replayed; ``touched[i]`` receives the
#: (meaningless) sum of the sequential pass over row i, so that the compiler keeps the pass.
MergeLog = namedtuple("MergeLog", "last a b h na nb touched")

# Replays longer than this read the row in order first.
TOUCH_MIN_ENTRIES = 32
# Compaction pays off only for matrices wider than this.
COMPACT_MIN_WIDTH = 512


def new_merge_log(n: int) -> MergeLog:
    """An empty log for `n` slots."""
    m = max(n - 1, 1)
    return MergeLog(np.zeros(n, dtype=np.int64), np.zeros(m, dtype=np.int64),
                    np.zeros(m, dtype=np.int64), np.zeros(m), np.zeros(m, dtype=np.int64),
                    np.zeros(m, dtype=np.int64), np.zeros(n))


@numba.njit(cache=True, error_model="numpy", inline="always")
def min_key(keys, start, stop):
    """The least of ``keys[start:stop]`` (``start < stop``): a min reduction that vectorises."""
    m = keys[start]
    for i in range(start + 1, stop):
        k = keys[i]
        m = k if k < m else m
    return m


@numba.njit(cache=True, error_model="numpy", inline="always")
def first_at(keys, start, key):
    """The first index from `start` on holding `key` (which must occur)."""
    i = start
    while keys[i] != key:
        i += 1
    return i


@numba.njit(cache=True, error_model="numpy", inline="always")
def first_min_key(keys, start, stop):
    """Index of the first minimum of ``keys[start:stop]`` (``start < stop``): a min reduction
    that vectorises, then the first index holding it."""
    return first_at(keys, start, min_key(keys, start, stop))


@numba.njit(cache=True, error_model="numpy", inline="always")
def first_argmin(row, keys, start, nonneg):
    """Index of the first minimum of ``row[start:]`` (NaN never wins), or -1 when all are +inf/NaN.

    With `nonneg`, `keys` is `row` reinterpreted as signed integers of the same width: for
    non-negative floats (and NaN with its sign bit clear, which ``lance_williams`` guarantees)
    the integer order is the float order, NaN above +inf, and a signed integer min reduction
    vectorises (AVX2 has no unsigned 64-bit min, nor a float min reduction without fast-math).
    """
    n = row.shape[0]
    if start >= n:
        return -1
    if nonneg:
        i = first_min_key(keys, start, n)
        return i if row[i] < np.inf else -1
    best = np.inf
    idx = -1
    for i in range(start, n):
        if row[i] < best:
            best = row[i]
            idx = i
    return idx


@numba.njit(cache=True, error_model="numpy", inline="always")
def _touch(row):
    """Read `row` in order, one element per cache line (see the module docstring)."""
    step = max(1, 64 // row.itemsize)
    total = 0.0
    for j in range(0, row.shape[0], step):
        total += row[j]
    return total


@numba.njit(cache=True, error_model="numpy", inline="always")
def _replay_entries(code, row, log, start, upto, size_i):
    log_a = log.a
    log_b = log.b
    for t in range(start, upto):
        a = log_a[t]
        b = log_b[t]
        row[b] = lance_williams(code, row[a], row[b], log.h[t], log.na[t], log.nb[t], size_i)
        row[a] = np.inf


@numba.njit(cache=True, error_model="numpy")
def _replay_average(row, log, start, upto):
    """:func:`_replay_entries` for average, as :func:`_replay_ward_squared` for ward: the same
    update on the sizes as float64 (their sum is exact), ``lance_williams``' bits."""
    for t in range(start, upto):
        a = log.a[t]
        b = log.b[t]
        row[b] = _average(np.float64(row[a]), np.float64(row[b]), np.float64(log.na[t]),
                          np.float64(log.nb[t]))
        row[a] = np.inf


@numba.njit(cache=True, error_model="numpy")
def _replay_ward_squared(row, log, start, upto, size_i):
    """:func:`_replay_entries` for ``WARD_SQUARED``, a loop of its own calling the update with
    each size converted to float64 once, where ``lance_williams`` converts three integer sums
    per entry: integers below 2**53 add exactly in float64, so these are ``_ward_squared``'s
    bits (the replay is the lazy rows' inner loop; ``test_building_blocks`` compares the
    two)."""
    f_i = np.float64(size_i)
    for t in range(start, upto):
        a = log.a[t]
        b = log.b[t]
        row[b] = _ward_squared(np.float64(row[a]), np.float64(row[b]), log.h[t],
                               np.float64(log.na[t]), np.float64(log.nb[t]), f_i)
        row[a] = np.inf


@numba.njit(cache=True, error_model="numpy")
def replay(D, i, upto, log, size_i, code):
    """Bring row `i` up to date with log entries ``log.last[i]:upto``; row i's cluster is
    unchanged since then, so `size_i` is its size at every one of those merges."""
    row = D[i]
    start = log.last[i]
    if upto - start > TOUCH_MIN_ENTRIES:
        log.touched[i] = _touch(row)
    # One loop per method, the code a constant in each, as merge_rows does: the method is
    # chosen once per replay instead of once per entry.
    if code == COMPLETE:
        _replay_entries(COMPLETE, row, log, start, upto, size_i)
    elif code == AVERAGE:
        _replay_average(row, log, start, upto)
    elif code == WEIGHTED:
        _replay_entries(WEIGHTED, row, log, start, upto, size_i)
    elif code == WARD:
        _replay_entries(WARD, row, log, start, upto, size_i)
    elif code == WARD_SQUARED:
        _replay_ward_squared(row, log, start, upto, size_i)
    else:
        _replay_entries(code, row, log, start, upto, size_i)
    log.last[i] = upto


@numba.njit(cache=True, error_model="numpy", inline="always")
def merge_and_log(D, code, x, y, height, size, k, log):
    """Merge cluster x into slot y (rows x and y must be up to date): row y gets the new
    distances, x dies, and the merge becomes log entry `k` for the other rows to replay.

    Returns the first slot whose distance to the union overflowed (see
    ``_lance_williams.first_overflow``), or -1. Replays of this entry compute the same values
    from the same operands, so this is the one place an overflow needs to be caught."""
    nx = size[x]
    ny = size[y]
    over = merge_rows(code, D[x], D[y], height, nx, ny, size, x, y)
    D[y, x] = np.inf
    D[y, y] = np.inf
    size[x] = 0
    size[y] = nx + ny
    log.a[k] = x
    log.b[k] = y
    log.h[k] = height
    log.na[k] = nx
    log.nb[k] = ny
    log.last[y] = k + 1
    return over


@numba.njit(cache=True, error_model="numpy")
def write_z_row(Z, k, id_x, id_y, height, size):
    """Row `k` of SciPy's Z as the generic algorithms write it: the smaller cluster id first,
    the height, the merged cluster's size (a float64, as Z holds it)."""
    Z[k, 0] = min(id_x, id_y)
    Z[k, 1] = max(id_x, id_y)
    Z[k, 2] = height
    Z[k, 3] = size


@numba.njit(cache=True, error_model="numpy", inline="always")
def _gather_row(flat, width, live, r):
    m = live.shape[0]
    src = live[r] * width
    dst = r * m
    for c in range(m):
        flat[dst + c] = flat[src + live[c]]


@numba.njit(cache=True, error_model="numpy", parallel=True)
def replay_and_gather(flat, width, live, upto, log, size, code):
    """Bring rows `live` (ascending) of the ``width`` x ``width`` matrix stored in `flat` up to
    log entry `upto`, and move them and their columns to a ``m`` x ``m`` matrix at the start of
    `flat` (m = len(live)), in place. Each row is replayed right before it is moved, while it
    is in cache.

    Entry (r, c) is read from ``live[r] * width + live[c]``. Rows go in waves ``r0:r1``, the
    rows of a wave in parallel: a wave writes below ``r1 * m`` and reads (and replays) from
    ``live[r0] * width >= r0 * width`` up, so with ``r1 <= r0 * width / m`` it overwrites
    nothing it or a later wave still reads (waves double when half the slots are dead). Within
    a row ``live[r] >= r`` and ``live[c] >= c``, so no entry is overwritten before it is read.
    """
    m = live.shape[0]
    D = flat[:width * width].reshape((width, width))
    r0 = 0
    while r0 < m:
        r1 = min(m, max(r0 + 1, (r0 * width) // m))
        for r in numba.prange(r0, r1):
            i = live[r]
            replay(D, i, upto, log, size[i], code)
            _gather_row(flat, width, live, r)
        r0 = r1


def gather_square(flat, width, live) -> None:
    """:func:`replay_and_gather` with nothing to replay."""
    n = max(width, 1)
    replay_and_gather(flat, width, live, 0, new_merge_log(n), np.ones(n, dtype=np.int64),
                      np.int64(AVERAGE))


class Compactor:
    """The working matrix, its flat buffer and the map from its slots to the original ones.

    `D` and `keys` are views of the first ``width**2`` elements of the buffer; :meth:`compact`
    shrinks them to the live slots.
    """

    def __init__(self, D: np.ndarray):
        self.flat = D.reshape(-1)
        self.width = D.shape[0]
        self.original = np.arange(self.width, dtype=np.int64)
        self.D = D
        self.keys = int_keys(D)

    def due(self, live: int) -> bool:
        """True when half the slots are dead and the matrix is wide enough to bother."""
        return self.width >= COMPACT_MIN_WIDTH and 2 * live <= self.width

    def compact(self, size, k, log, code):
        """Bring the live rows up to date, gather them, and return ``(live, new_slot)``: the old
        slots kept (ascending) and the new slot of every old one (-1 for the dead)."""
        live = np.flatnonzero(size[:self.width] > 0).astype(np.int64)
        replay_and_gather(self.flat, self.width, live, k, log, size, code)
        m = live.shape[0]
        new_slot = np.full(self.width, -1, dtype=np.int64)
        new_slot[live] = np.arange(m)
        self.width = m
        self.D = self.flat[:m * m].reshape(m, m)
        self.keys = int_keys(self.D)
        self.original = self.original[live]
        log.last[:m] = k
        return live, new_slot


#: ``fault[0]`` of the merge loops: what stopped them early (0: nothing). The other entries:
#: the merge k, and slots x, y (the merge's clusters) and i (the cluster concerned).
NO_FAULT, OVERFLOW, NO_CANDIDATE = 0, 1, 2


def new_fault() -> np.ndarray:
    """``[kind, k, x, y, i]`` for the merge loops to fill (see :func:`raise_fault`)."""
    return np.zeros(5, dtype=np.int64)


@numba.njit(cache=True, error_model="numpy", inline="always")
def set_fault(fault, kind, k, x, y, i):
    fault[0] = kind
    fault[1] = k
    fault[2] = x
    fault[3] = y
    fault[4] = i


def raise_fault(fault, method_name: str, dtype, original=None) -> None:
    """Turn a fault of a merge loop into :class:`~gpuhclust._validation.MergeOverflowError`
    (or do nothing when there is none). `original` maps slots to observations (a compacted
    matrix); slots are observations otherwise: a slot always holds the cluster that contains
    the observation of the same number."""
    kind, k, x, y, i = (int(v) for v in fault)
    if kind == NO_FAULT:
        return
    if original is not None:
        x, y, i = (int(original[v]) if v >= 0 else v for v in (x, y, i))
    raise merge_fault(kind, method_name, dtype, k, x, y, i)


def merge_fault(kind: int, method_name: str, dtype, k: int, x: int, y: int, i: int):
    """The error for a fault of a merge loop, in observation numbers (see :func:`raise_fault`)."""
    from .._validation import MergeOverflowError

    return MergeOverflowError.of(kind == OVERFLOW, method_name, dtype, k, x, y, i)


def int_keys(D: np.ndarray) -> np.ndarray:
    """Keys for :func:`first_argmin`: the same bits read as signed integers."""
    return D.view(np.int64 if D.dtype == np.float64 else np.int32)
