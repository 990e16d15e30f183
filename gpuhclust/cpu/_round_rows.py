"""The local CPU row store of the rounds driver (``gpuhclust._rounds``): the square matrix of
one process, each round's work spread over threads with Numba's ``prange``.

A round has two parallel steps, over disjoint rows (no two threads write the same row):

1. the merges: pair t (log entry k = k0 + t) brings rows x and y up to entry k with the lazy
   replay of ``_lazy_matrix`` and writes the Lance-Williams combination into row y, as the Dask
   shards' ``apply_merges`` does. That one applies the entries in sequence and updates the sizes
   after each; here every pair runs at once, so ward reads the size of column i as it is after the
   entries before k: a cluster merged earlier in the round (``rank[i] < t``) has its new size
   (0 for the one merged away), every other its size before the round. Same operands, same
   expression (``_lance_williams.lance_williams``): the same values, bit for bit. The same
   thread then replays row y through the round's later entries and scans it, while the row it
   has just written is in cache: the union's rescan (every y is rescanned, its neighbour was
   x), the very replay and scan the second step would do, as no other pair reads or writes
   row y;
2. the rescans: each other row the driver asks for replays the round and finds its first
   minimum.

Kept entries (non-negative distances, the usual case): a full scan also keeps the row's
:data:`KEPT` smallest entries (first minima first, as ``first_argmin`` orders them) and the
next smallest value, the *bound*. Every round the host brings the kept entries up to date (an
entry whose cluster merged becomes the union, its distance read from the union's new row, which
holds the very value a replay would compute). A row the driver asks for whose smallest kept
entry lies below the bound then has that entry as its first minimum, which a scan would find:
every other entry was at least the bound when the row was scanned, and a merge never brings a
union closer than the nearer of its parts (reducibility). In floating point an update may land
a few units in the last place below the nearer part, so the bound is lowered by
:data:`BOUND_SLACK` units of float64's roundoff per merge since the scan (storage in float32
rounds such drops back up); a row whose entries come closer to the bound than that is scanned
as before. So the answer is the scan's, bit for bit, and most rows whose neighbour merged need
neither a replay nor a scan.

The first scan of a matrix filled from observations or from a condensed matrix (non-negative)
reads only the blocks of columns that can hold a row's kept entries, found from the block minima
the fill records while the values are in cache (:func:`smallest_keys_in_blocks`): the same
lists as a full scan, from a fraction of the matrix.

Slots and rows: the store works in slots of a ``_lazy_matrix.Compactor``, which gathers the live
rows and columns into a smaller matrix once half the slots are dead, so late rounds scan only live
rows; slots keep the relative order of the original rows (so "lowest index wins" means the same)
and the driver sees original row numbers only.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import NamedTuple

import numba
import numpy as np

from .._rounds import KEPT, NO_KEY
from ._distances import BLOCK
from ._lance_williams import merge_rows
from ._lazy_matrix import (OVERFLOW, Compactor, first_argmin, new_fault, new_merge_log,
                           raise_fault, replay)

__all__ = ["LocalRows"]

_NOT_MERGED = np.iinfo(np.int64).max

#: Units of float64's roundoff (2**-53) by which one Lance-Williams update of complete,
#: average, weighted or ward (on distances, or on squares: ``WARD_SQUARED``) may land below
#: the nearer of its two operands: a few roundings each (ward's radicand is at least half its
#: positive terms, so its subtraction does not amplify them), with a wide margin.
BOUND_SLACK = 64

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


# The prange bodies below call these two (not inlined): Numba 0.68 drops the writes that an
# inlined function makes, inside a prange loop, to an array reached through a namedtuple
# (``log.last[i] = ...`` in ``replay``), while a call keeps them.
@numba.njit(cache=True, error_model="numpy")
def _merge_pair(D, keys, nonneg, code, size, size_after, rank, log, k, t, upto, union_size,
                nn, dist, kept_keys, kept_cols):
    """Log entry k (pair t of its round): row y becomes the union of rows x and y, then is
    replayed up to `upto` (the round's end) and rescanned into ``nn[t]``, ``dist[t]`` and the
    kept lists, as :func:`_rescan_row` would. Returns the first cluster whose distance to the
    union overflowed, or -1."""
    x = log.a[k]
    y = log.b[k]
    nx = log.na[k]
    ny = log.nb[k]
    replay(D, x, k, log, nx, code)
    replay(D, y, k, log, ny, code)
    over = merge_rows(code, D[x], D[y], log.h[k], nx, ny, size, x, y, size_after, rank, t)
    D[y, x] = np.inf
    D[y, y] = np.inf
    log.last[y] = k + 1
    nn[t], dist[t] = _rescan_row(D, keys, nonneg, code, union_size, log, upto, y,
                                 kept_keys[t], kept_cols[t])
    return over


# The two parallel steps of a round are kernels of their own, called from the host: Numba
# re-optimises a function together with every jitted function it calls, so each layer of
# jitted wrappers compiles the whole merge and replay code again, and its parfor passes
# analyse everything else in the function (the round's bookkeeping is a few NumPy operations
# on the host instead).
@numba.njit(cache=True, error_model="numpy", parallel=True)
def merge_pairs(D, keys, nonneg, code, size, size_after, rank, log, k0, union_size, over, nn,
                dist, kept_keys, kept_cols):
    """Apply log entries ``k0:k0+len(over)`` (slots) to `D`: ``over[t]`` is the first cluster
    whose distance to pair t's union overflowed, or -1; and rescan each union (row y of pair
    t, up to date with the whole round) as :func:`rescan_rows` does, into ``nn[t]``,
    ``dist[t]`` and the kept lists. `size_after` and `rank` as in the module docstring; the
    sizes as float64 (see ``_lance_williams.merge_rows``); `union_size`: the sizes after the
    round as int64 (those the rescans replay with)."""
    k1 = k0 + over.shape[0]
    for t in numba.prange(over.shape[0]):
        pair = np.int64(t)  # prange counts unsigned: one compiled variant, not two
        over[pair] = _merge_pair(D, keys, nonneg, code, size, size_after, rank, log, k0 + pair,
                                 pair, k1, union_size, nn, dist, kept_keys, kept_cols)


@numba.njit(cache=True, error_model="numpy", inline="always")
def _insert_kept(kept_keys, kept_cols, key, col):
    """Insert (key, col) into the sorted kept list, behind the equal keys (found earlier)."""
    j = kept_keys.shape[0] - 1
    while j > 0 and kept_keys[j - 1] > key:
        kept_keys[j] = kept_keys[j - 1]
        kept_cols[j] = kept_cols[j - 1]
        j -= 1
    kept_keys[j] = key
    kept_cols[j] = col


@numba.njit(cache=True, error_model="numpy", inline="always")
def insert_unique(values, lo, hi, value):
    """Insert `value` into ``values[lo:hi]`` (ascending, room at `hi`) unless it is there;
    returns whether it was inserted."""
    at = hi
    while at > lo and values[at - 1] > value:
        at -= 1
    if at > lo and values[at - 1] == value:
        return False
    for m in range(hi, at, -1):
        values[m] = values[m - 1]
    values[at] = value
    return True


@numba.njit(cache=True, error_model="numpy", inline="always")
def smallest_keys(keys, kept_keys, kept_cols):
    """The ``len(kept_keys)`` smallest entries of `keys` in increasing (key, index) order
    (``kept_cols`` -1 and ``kept_keys`` :data:`NO_KEY` where the row has fewer). Chunks whose
    minimum cannot enter the list are skipped after a vectorised minimum."""
    kept_keys[:] = NO_KEY
    kept_cols[:] = -1
    _keep_smallest(keys, 0, keys.shape[0], kept_keys, kept_cols)


@numba.njit(cache=True, error_model="numpy", inline="always")
def smallest_keys_in_blocks(keys, block_min, kept_keys, kept_cols):
    """:func:`smallest_keys`, the same list, reading only the blocks of ``BLOCK`` entries
    (``_distances.BLOCK``) that can hold one of its entries: ``block_min[c]`` is the smallest
    key of block c. With L = ``len(kept_keys)``, the L blocks of the smallest minima hold L
    entries at or below the L-th smallest minimum, tau, so no entry of the list lies above
    tau, nor in a block whose minimum does; the others are read in index order, as a full
    scan reads them. Returns the number of entries read."""
    kept_keys[:] = NO_KEY
    kept_cols[:] = -1
    blocks = block_min.shape[0]
    n = keys.shape[0]
    if blocks <= kept_keys.shape[0]:
        _keep_smallest(keys, 0, n, kept_keys, kept_cols)
        return n
    # tau: the L-th smallest block minimum, by insertion into the (still empty) kept keys
    for c in range(blocks):
        if block_min[c] < kept_keys[kept_keys.shape[0] - 1]:
            _insert_kept(kept_keys, kept_cols, block_min[c], c)
    tau = kept_keys[kept_keys.shape[0] - 1]
    kept_keys[:] = NO_KEY
    kept_cols[:] = -1
    read = 0
    for c in range(blocks):
        if block_min[c] <= tau:
            lo, hi = c * BLOCK, min(n, (c + 1) * BLOCK)
            _keep_smallest(keys, lo, hi, kept_keys, kept_cols)
            read += hi - lo
    return read


@numba.njit(cache=True, error_model="numpy", inline="always")
def _keep_smallest(keys, lo, hi, kept_keys, kept_cols):
    """Enter the entries ``lo:hi`` of `keys`, in index order, into the sorted kept list."""
    last = kept_keys.shape[0] - 1
    chunk = 64
    for c0 in range(lo, hi, chunk):
        c1 = min(hi, c0 + chunk)
        m = np.int64(keys[c0])
        for i in range(c0, c1):  # 64 iterations, not 63: no scalar remainder
            k = np.int64(keys[i])
            m = k if k < m else m
        if m >= kept_keys[last]:
            continue
        for i in range(c0, c1):
            k = np.int64(keys[i])
            if k < kept_keys[last]:
                _insert_kept(kept_keys, kept_cols, k, i)


@numba.njit(cache=True, error_model="numpy", inline="always")
def _first_minimum(row, keys, nonneg, kept_keys, kept_cols):
    """``first_argmin`` of the row; for non-negative rows found with, and leaving in
    `kept_keys` / `kept_cols`, the row's ``len(kept_keys)`` smallest entries."""
    if not nonneg:
        return first_argmin(row, keys, 0, nonneg)
    smallest_keys(keys, kept_keys, kept_cols)
    j = kept_cols[0]
    return j if j >= 0 and row[j] < np.inf else -1


@numba.njit(cache=True, error_model="numpy", parallel=True)
def scan_rows(D, keys, nonneg, nn, dist, kept_keys, kept_cols, block_min, read):
    """Nearest neighbour (first minimum, -1 when none) and its distance of every row; for
    non-negative rows their smallest entries too (the last column is the bound's), found
    with the rows' block minima where `block_min` has rows (see
    :func:`smallest_keys_in_blocks`); ``read[i]``: the entries of row i read."""
    for i in numba.prange(D.shape[0]):
        read[i] = D.shape[1]
        if nonneg and block_min.shape[0] > 0:
            read[i] = smallest_keys_in_blocks(keys[i], block_min[i], kept_keys[i],
                                              kept_cols[i])
            j = kept_cols[i, 0]
            j = j if j >= 0 and D[i, j] < np.inf else -1
        else:
            j = _first_minimum(D[i], keys[i], nonneg, kept_keys[i], kept_cols[i])
        nn[i] = j
        dist[i] = D[i, j] if j >= 0 else np.inf


@numba.njit(cache=True, error_model="numpy")
def _rescan_row(D, keys, nonneg, code, size, log, upto, i, kept_keys, kept_cols):
    """Row i replayed up to `upto`: (its first minimum or -1, the distance there)."""
    replay(D, i, upto, log, size[i], code)
    j = _first_minimum(D[i], keys[i], nonneg, kept_keys, kept_cols)
    return j, (D[i, j] if j >= 0 else np.inf)


@numba.njit(cache=True, error_model="numpy", parallel=True)
def rescan_rows(D, keys, nonneg, code, size, log, upto, rows, nn, dist, kept_keys, kept_cols):
    """Replay `rows` (slots) up to `upto` and rescan them: ``nn[t], dist[t]`` for
    ``rows[t]``, and their smallest entries as :func:`scan_rows` keeps them."""
    for t in numba.prange(rows.shape[0]):
        nn[t], dist[t] = _rescan_row(D, keys, nonneg, code, size, log, upto, rows[t],
                                     kept_keys[t], kept_cols[t])


def _kept_buffers(rows: int):
    """Scratch (keys, columns) for the kernels: :data:`KEPT` entries and the bound per row."""
    return (np.empty((rows, KEPT + 1), dtype=np.int64),
            np.empty((rows, KEPT + 1), dtype=np.int64))


@numba.njit(cache=True, error_model="numpy")
def _kept_hits(cols, alive, xs, ys):
    """After a round whose pairs are (`xs`, `ys`): :class:`MergedEntries`."""
    n = cols.shape[0]
    union = np.full(n + 1, -1, dtype=np.int64)  # index -1 (no entry) hits the last
    merged = np.zeros(n + 1, dtype=np.bool_)  # small: the lookups of every entry stay in L1
    follow = alive.copy()
    for t in range(xs.shape[0]):
        union[xs[t]] = ys[t]
        union[ys[t]] = ys[t]
        merged[xs[t]] = True
        merged[ys[t]] = True
        follow[xs[t]] = False
        follow[ys[t]] = False
    live = np.empty(n, dtype=np.int64)
    count = 0
    for r in range(n):
        live[count] = r
        count += follow[r]
    hits = 0
    for r in live[:count]:
        for k in range(cols.shape[1]):
            hits += merged[cols[r, k]]
    # one spare entry: every entry is written, and kept (t advances) where it merged, so that
    # the loop has no branch to mispredict
    rows = np.empty(hits + 1, dtype=np.int64)
    entry = np.empty(hits + 1, dtype=np.int64)
    new = np.empty(hits + 1, dtype=np.int64)
    t = 0
    for r in live[:count]:
        for k in range(cols.shape[1]):
            c = cols[r, k]
            rows[t] = r
            entry[t] = k
            new[t] = union[c]
            t += merged[c]
    return follow, union, rows[:hits], entry[:hits], new[:hits]


class MergedEntries(NamedTuple):
    """What a round's merges did to the kept entries (``_kept_hits``)."""

    follow: np.ndarray  # the rows to follow: alive, not in the round's pairs (a mask)
    union: np.ndarray   # cluster -> the union it merged into in the round, else -1 (n + 1:
    #                     index -1, no entry, hits the last)
    rows: np.ndarray    # the followed rows' entries whose cluster merged: row,
    entry: np.ndarray   # entry index,
    new: np.ndarray     # and union, in row order then entry order


@numba.njit(cache=True, error_model="numpy")
def _settle_rows(cols, keys, rows, entry, new, new_keys, rescan, follow, lowered, inf_key,
                 taken, first, low):
    """Entry ``entry[t]`` of row ``rows[t]`` becomes cluster ``new[t]`` with key
    ``new_keys[t]``; then for each row ``rescan[t]`` that `follow` marks, its least kept key
    ``low[t]``, the lowest cluster holding it ``first[t]``, and whether that settles the row
    (``taken[t]``: below its lowered bound ``lowered[t]``, finite, an entry there). Returns
    how many rows it settles."""
    for t in range(rows.shape[0]):
        cols[rows[t], entry[t]] = new[t]
        keys[rows[t], entry[t]] = new_keys[t]
    settled = 0
    for t in range(rescan.shape[0]):
        r = rescan[t]
        taken[t] = False
        if not follow[r]:
            continue
        lo = keys[r, 0]
        at = cols[r, 0]
        for e in range(1, keys.shape[1]):
            key = keys[r, e]
            col = cols[r, e]
            if key < lo or (key == lo and col < at):
                lo = key
                at = col
        low[t] = lo
        first[t] = at
        ok = lo < lowered[t] and lo < inf_key and at >= 0
        taken[t] = ok
        settled += ok
    return settled


@numba.njit(cache=True, error_model="numpy")
def _record(kept_keys, kept_cols, bound, scanned_at, rows, keys, cols, k):
    """:meth:`KeptEntries.record`."""
    for t in range(rows.shape[0]):
        r = rows[t]
        for e in range(KEPT):
            kept_keys[r, e] = keys[t, e]
            kept_cols[r, e] = cols[t, e]
        bound[r] = keys[t, KEPT]
        scanned_at[r] = k


class KeptEntries:
    """Every row's :data:`KEPT` smallest entries and bound from its last full scan, kept up to
    date from round to round, in original row numbers (see the module docstring)."""

    def __init__(self, n: int, dtype):
        self.cols = np.full((n, KEPT), -1, dtype=np.int64)
        self.keys = np.full((n, KEPT), NO_KEY, dtype=np.int64)
        self.bound = np.full(n, NO_KEY, dtype=np.int64)
        self.scanned_at = np.zeros(n, dtype=np.int64)
        self.float64 = np.dtype(dtype) == np.float64
        self.storage = np.dtype(dtype)
        self.key_type = np.int64 if self.float64 else np.int32
        self.inf_key = int(np.array(np.inf, dtype=self.storage).view(self.key_type))
        self.settled = 0

    def values(self, keys: np.ndarray) -> np.ndarray:
        """The float64 distances whose storage keys are `keys`."""
        return keys.astype(self.key_type).view(self.storage).astype(np.float64)

    def record(self, rows, keys, cols, k: int) -> None:
        """Rows `rows` were scanned after log entry k - 1: their smallest entries (original
        numbers, -1 for none) and, in the last column, their bound."""
        _record(self.keys, self.cols, self.bound, self.scanned_at,
                np.asarray(rows, dtype=np.int64), keys, cols, k)

    def settle(self, xs, ys, alive, rescan, k: int, distances, found, dist) -> np.ndarray:
        """After a round's merges (log entries up to k - 1): the kept entries of the rows
        `alive` marks, other than the round's pairs, follow the merges (an entry of x or y
        becomes y, with the distance ``distances(new, rows)`` from each row to its entry's
        union: the very value a scan would compute), and answer the rows of `rescan` they
        settle, into `found`, `dist`; returns the mask of those still to scan."""
        hits = self.merged_entries(xs, ys, alive)
        values = (distances(hits.new, hits.rows) if len(hits.rows)
                  else np.empty(0, dtype=self.storage))
        return self.follow_and_answer(hits, values, rescan, k, found, dist)

    def merged_entries(self, xs, ys, alive) -> MergedEntries:
        """The first half of :meth:`settle`."""
        return MergedEntries(*_kept_hits(self.cols, alive, np.asarray(xs, dtype=np.int64),
                                         np.asarray(ys, dtype=np.int64)))

    def follow_and_answer(self, hits, values, rescan, k: int, found, dist) -> np.ndarray:
        """The second half of :meth:`settle`, given the distances `values` of the entries
        `hits` (:meth:`merged_entries`) to their unions."""
        new_keys = values.view(self.key_type).astype(np.int64)
        taken = np.empty(len(rescan), dtype=np.bool_)
        first = np.empty(len(rescan), dtype=np.int64)
        low = np.empty(len(rescan), dtype=np.int64)
        self.settled += _settle_rows(self.cols, self.keys, hits.rows, hits.entry, hits.new,
                                     new_keys, rescan, hits.follow,
                                     self._lowered_bound(rescan, k), self.inf_key, taken, first,
                                     low)
        found[taken] = first[taken]
        dist[taken] = self.values(low[taken])
        return ~taken

    def _lowered_bound(self, rows, k: int) -> np.ndarray:
        bound = self.bound[rows]
        if not self.float64:  # float32 storage rounds float64's small drops back up
            return bound
        finite = bound < self.inf_key
        values = np.where(finite, bound, 0).view(np.float64)
        slack = BOUND_SLACK * np.ldexp(1.0, -53) * (k - self.scanned_at[rows] + 1)
        lowered = (values * (1.0 - slack)).view(np.int64)
        return np.where(finite, lowered, np.minimum(bound, self.inf_key))


class LocalRows:
    """The square working matrix `D` (+inf on the diagonal; taken over, compacted in place) as
    a ``gpuhclust._rounds.RowStore``."""

    name = "backend='cpu' (rounds)"

    def __init__(self, D: np.ndarray, nonneg: bool, method, block_min: np.ndarray | None = None):
        n = D.shape[0]
        #: the fill's block minima (``_distances.square_from_observations`` or
        #: ``square_from_condensed``), for the first scan
        self.block_min = np.empty((0, 0), dtype=np.int64) if block_min is None else block_min
        self.work = Compactor(D)
        self.nonneg, self.code, self.method_name = nonneg, method.code, method.name
        self.size = np.ones(n, dtype=np.int64)      # by slot
        self.log = new_merge_log(n)                 # in slots
        self.slot = np.arange(n, dtype=np.int64)    # original row -> slot (-1: merged away)
        self.rank = np.full(n, _NOT_MERGED, dtype=np.int64)
        self.compactions = 0
        #: matrix entries read along rows: the scans, and rows x and y of each merge
        self.entries_read = 0
        self.kept = KeptEntries(n, D.dtype) if nonneg else None

    def _original(self, nn: np.ndarray) -> np.ndarray:
        return np.where(nn >= 0, self.work.original[np.maximum(nn, 0)], -1)

    def scan_all(self):
        n = self.work.width
        nn = np.empty(n, dtype=np.int64)
        dist = np.empty(n)
        keys, cols = _kept_buffers(n)
        read = np.empty(n, dtype=np.int64)
        scan_rows(self.work.D, self.work.keys, self.nonneg, nn, dist, keys, cols, self.block_min,
                  read)
        self.block_min = None  # the matrix changes from here on
        self.entries_read += int(read.sum())
        if self.kept is not None:
            self.kept.record(np.arange(n), keys, self._original(cols), 0)
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
        D, keys = self.work.D, self.work.keys
        merged = 3 * len(xs) * self.work.width  # rows x and y of every pair, and the union's scan
        self.entries_read += merged
        union_nn = np.empty(k1 - k0, dtype=np.int64)
        union_dist = np.empty(k1 - k0)
        union_keys, union_cols = _kept_buffers(k1 - k0)
        with _threads_for(merged):
            merge_pairs(D, keys, self.nonneg, self.code, self.size.astype(np.float64),
                        size_after.astype(np.float64), self.rank, log, k0, size_after, over,
                        union_nn, union_dist, union_keys, union_cols)
        self.rank[a] = self.rank[b] = _NOT_MERGED
        self.size = size_after
        bad = np.flatnonzero(over >= 0)
        if len(bad):  # the round's first pair whose update overflowed
            t = int(bad[0])
            fault = new_fault()
            fault[:] = (OVERFLOW, k0 + t, a[t], b[t], over[t])
            raise_fault(fault, self.method_name, D.dtype, self.work.original)
        found = np.empty(len(rescan), dtype=np.int64)
        dist = np.empty(len(rescan))
        full = np.ones(len(rescan), dtype=bool)
        if self.kept is not None:
            full = self._settled_by_kept(xs, ys, k1, rescan, found, dist)
            self.kept.record(ys, union_keys, self._original(union_cols), k1)
        # the unions were rescanned with their merges: rescan[where] are the ys, pair by pair
        where = np.searchsorted(rescan, ys)
        if not (where < len(rescan)).all() or not np.array_equal(rescan[where], ys):
            raise RuntimeError(f"{self.name}: a merged cluster is missing from the rows to "
                               "rescan (the driver asks for every one)")
        found[where] = self._original(union_nn)
        dist[where] = union_dist
        full[where] = False
        rows = rescan[full]
        nn = np.empty(len(rows), dtype=np.int64)
        row_dist = np.empty(len(rows))
        kept_keys, kept_cols = _kept_buffers(len(rows))
        scanned = len(rows) * self.work.width
        self.entries_read += scanned
        with _threads_for(scanned):
            rescan_rows(D, keys, self.nonneg, self.code, self.size, log, k1, self.slot[rows], nn,
                        row_dist, kept_keys, kept_cols)
        if self.kept is not None:
            self.kept.record(rows, kept_keys, self._original(kept_cols), k1)
        found[full] = self._original(nn)
        dist[full] = row_dist
        self.slot[xs] = -1
        width = self.work.width
        if self.work.due(width - int(np.count_nonzero(self.size[:width] == 0))):
            self._compact(k1)
        return found, dist

    def _settled_by_kept(self, xs, ys, k1, rescan, found, dist) -> np.ndarray:
        """Bring the kept entries up to date after the round's merges and answer the rows of
        `rescan` they settle (into `found`, `dist`); returns the mask of those still to scan."""
        D, slot = self.work.D, self.slot
        return self.kept.settle(xs, ys, slot >= 0, rescan, k1,
                                lambda new, rows: D[slot[new], slot[rows]], found, dist)

    def _compact(self, k: int) -> None:
        live, new_slot = self.work.compact(self.size, k, self.log, self.code)
        self.size = self.size[live]
        self.rank = self.rank[live]
        self.slot = np.where(self.slot >= 0, new_slot[np.maximum(self.slot, 0)], -1)
        self.compactions += 1
