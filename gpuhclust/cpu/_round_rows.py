"""The local CPU row store of the rounds driver (``gpuhclust._rounds``): the square matrix of
one process, each round's work spread over threads with Numba's ``prange``.

A round has two parallel steps, over disjoint rows (no two threads write the same row):

1. the merges: pair t (log entry k = k0 + t) brings rows x and y up to entry k with the lazy
   replay of ``_lazy_matrix`` and writes the Lance-Williams combination into row y, as the Dask
   shards' ``apply_merges`` does. That one applies the entries in sequence and updates the sizes
   after each; here every pair runs at once, so ward reads the size of column i as it is after the
   entries before k: a cluster merged earlier in the round (``rank[i] < t``) has its new size
   (0 for the one merged away), every other its size before the round. Same operands, same
   expression (``_lance_williams.lance_williams``): the same values, bit for bit;
2. the rescans: each row the driver asks for replays the round and finds its first minimum.

Slots and rows: the store works in slots of a ``_lazy_matrix.Compactor``, which gathers the live
rows and columns into a smaller matrix once half the slots are dead, so late rounds scan only live
rows; slots keep the relative order of the original rows (so "lowest index wins" means the same)
and the driver sees original row numbers only.
"""
from __future__ import annotations

from contextlib import contextmanager

import numba
import numpy as np

from ._lance_williams import WARD, first_overflow, lance_williams, merge_rows
from ._lazy_matrix import (OVERFLOW, Compactor, first_argmin, new_fault, new_merge_log,
                           raise_fault, replay)

__all__ = ["LocalRows"]

_NOT_MERGED = np.iinfo(np.int64).max

#: A round that touches fewer matrix entries than this runs on one thread: waking the other
#: threads twice per round costs more than the work (late rounds rescan a handful of rows), and
#: on a busy machine a descheduled thread stalls the whole round. The values do not depend on
#: the thread count.
SERIAL_MAX_ENTRIES = 1 << 20


@contextmanager
def _threads_for(entries: int):
    """One Numba thread for the calls inside when `entries` is small, else all of them."""
    if entries >= SERIAL_MAX_ENTRIES:
        yield
        return
    before = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        yield
    finally:
        numba.set_num_threads(before)


@numba.njit(cache=True, error_model="numpy", inline="always")
def _merge_in_round(code, row_x, row_y, d_xy, size_x, size_y, size, size_after, rank, t,
                    x, y):
    """``merge_rows`` for pair t of a round (see the module docstring for the sizes): the
    first cluster whose distance to the union overflowed, or -1."""
    return merge_rows(code, row_x, row_y, d_xy, size_x, size_y, size, x, y, size_after, rank, t)


# The prange bodies below call these two (not inlined): Numba 0.68 drops the writes that an
# inlined function makes, inside a prange loop, to an array reached through a namedtuple
# (``log.last[i] = ...`` in ``replay``), while a call keeps them.
@numba.njit(cache=True, error_model="numpy")
def _merge_pair(D, code, size, size_after, rank, log, k, t):
    """Log entry k (pair t of its round): row y becomes the union of rows x and y. Returns
    the first cluster whose distance to the union overflowed, or -1."""
    x = log.a[k]
    y = log.b[k]
    nx = log.na[k]
    ny = log.nb[k]
    replay(D, x, k, log, nx, code)
    replay(D, y, k, log, ny, code)
    over = _merge_in_round(code, D[x], D[y], log.h[k], nx, ny, size, size_after, rank, t,
                           x, y)
    D[y, x] = np.inf
    D[y, y] = np.inf
    log.last[y] = k + 1
    return over


@numba.njit(cache=True, error_model="numpy")
def _rescan_row(D, keys, nonneg, code, size, log, upto, i):
    """Row i replayed up to `upto`: (its first minimum or -1, the distance there)."""
    replay(D, i, upto, log, size[i], code)
    j = first_argmin(D[i], keys[i], 0, nonneg)
    return j, (D[i, j] if j >= 0 else np.inf)


@numba.njit(cache=True, error_model="numpy", parallel=True)
def scan_rows(D, keys, nonneg, nn, dist):
    """Nearest neighbour (first minimum, -1 when none) and its distance of every row."""
    for i in numba.prange(D.shape[0]):
        j = first_argmin(D[i], keys[i], 0, nonneg)
        nn[i] = j
        dist[i] = D[i, j] if j >= 0 else np.inf


# The two parallel steps of a round are kernels of their own, called from the host: Numba
# re-optimises a function together with every jitted function it calls, so each layer of
# jitted wrappers compiles the whole merge and replay code again, and its parfor passes
# analyse everything else in the function (the round's bookkeeping is a few NumPy operations
# on the host instead).
@numba.njit(cache=True, error_model="numpy", parallel=True)
def merge_pairs(D, code, size, size_after, rank, log, k0, over):
    """Apply log entries ``k0:k0+len(over)`` (slots) to `D`: ``over[t]`` is the first cluster
    whose distance to pair t's union overflowed, or -1. `size_after` and `rank` as in the
    module docstring."""
    for t in numba.prange(over.shape[0]):
        pair = np.int64(t)  # prange counts unsigned: one compiled variant, not two
        over[pair] = _merge_pair(D, code, size, size_after, rank, log, k0 + pair, pair)


@numba.njit(cache=True, error_model="numpy", parallel=True)
def rescan_rows(D, keys, nonneg, code, size, log, upto, rows, nn, dist):
    """Replay `rows` (slots) up to `upto` and rescan them: ``nn[t], dist[t]`` for
    ``rows[t]``."""
    for t in numba.prange(rows.shape[0]):
        nn[t], dist[t] = _rescan_row(D, keys, nonneg, code, size, log, upto, rows[t])


class LocalRows:
    """The square working matrix `D` (+inf on the diagonal; taken over, compacted in place) as
    a ``gpuhclust._rounds.RowStore``."""

    name = "backend='cpu' (rounds)"

    def __init__(self, D: np.ndarray, nonneg: bool, method):
        n = D.shape[0]
        self.work = Compactor(D)
        self.nonneg, self.code, self.method_name = nonneg, method.code, method.name
        self.size = np.ones(n, dtype=np.int64)      # by slot
        self.log = new_merge_log(n)                 # in slots
        self.slot = np.arange(n, dtype=np.int64)    # original row -> slot (-1: merged away)
        self.rank = np.full(n, _NOT_MERGED, dtype=np.int64)
        self.compactions = 0

    def _original(self, nn: np.ndarray) -> np.ndarray:
        return np.where(nn >= 0, self.work.original[np.maximum(nn, 0)], -1)

    def scan_all(self):
        n = self.work.width
        nn = np.empty(n, dtype=np.int64)
        dist = np.empty(n)
        scan_rows(self.work.D, self.work.keys, self.nonneg, nn, dist)
        return self._original(nn), dist

    def run_round(self, entries, k0: int, rescan: np.ndarray):
        xs, ys, heights, na, nb = entries
        k1 = k0 + len(xs)
        log = self.log
        log.a[k0:k1] = self.slot[xs]
        log.b[k0:k1] = self.slot[ys]
        log.h[k0:k1] = heights
        log.na[k0:k1] = na
        log.nb[k0:k1] = nb
        a, b = log.a[k0:k1], log.b[k0:k1]
        # pairs are disjoint: rank and size_after as the module docstring has them
        size_after = self.size.copy()
        size_after[a] = 0
        size_after[b] = log.na[k0:k1] + log.nb[k0:k1]
        self.rank[a] = self.rank[b] = np.arange(k1 - k0)
        over = np.empty(k1 - k0, dtype=np.int64)
        nn = np.empty(len(rescan), dtype=np.int64)
        dist = np.empty(len(rescan))
        D, keys = self.work.D, self.work.keys
        with _threads_for((len(rescan) + 2 * len(xs)) * self.work.width):
            merge_pairs(D, self.code, self.size, size_after, self.rank, log, k0, over)
            self.rank[a] = self.rank[b] = _NOT_MERGED
            self.size = size_after
            bad = np.flatnonzero(over >= 0)
            if len(bad):  # the round's first pair whose update overflowed
                t = int(bad[0])
                fault = new_fault()
                fault[:] = (OVERFLOW, k0 + t, a[t], b[t], over[t])
                raise_fault(fault, self.method_name, D.dtype, self.work.original)
            rescan_rows(D, keys, self.nonneg, self.code, self.size, log, k1,
                        self.slot[rescan], nn, dist)
        self.slot[xs] = -1
        found = self._original(nn)
        width = self.work.width
        if self.work.due(width - int(np.count_nonzero(self.size[:width] == 0))):
            self._compact(k1)
        return found, dist

    def _compact(self, k: int) -> None:
        live, new_slot = self.work.compact(self.size, k, self.log, self.code)
        self.size = self.size[live]
        self.rank = self.rank[live]
        self.slot = np.where(self.slot >= 0, new_slot[np.maximum(self.slot, 0)], -1)
        self.compactions += 1
