"""Reciprocal-nearest-neighbour rounds for complete, average, weighted and ward linkage.

For these reducible methods a pair of clusters that are each other's nearest neighbour stays so
whatever else merges (a merge never brings the union closer to a third cluster than both parts
were), so all reciprocal pairs of a round can merge at once and the set of merges is the
nearest-neighbour chain's; sorted by height it is SciPy's Z (design.md section 2).

The driver holds O(n) state: every row's nearest neighbour and distance, cluster sizes, the
merge log. A round:

1. the driver finds the reciprocal pairs ``x < y = nn[x]`` with ``nn[y] == x``, in increasing
   ``x``, and appends them to the log (the merged cluster keeps slot y, as in SciPy);
2. each pair whose rows sit on different shards needs row x on y's shard: x's shard replays
   row x up to that merge and sends its live entries (``export_rows``);
3. every shard applies the round's log entries in order (``apply_merges``): rows it holds that
   are merge targets become the Lance-Williams combination of both rows; every other row stays
   lazy (it replays the log when next read, ``gpuhclust.cpu._rows.replay``);
4. the rows whose nearest neighbour took part in a merge (the new rows among them) are replayed
   and rescanned (``rescan_rows``); the others keep their neighbour, which is still a nearest
   one by reducibility.

Two pairs merging in the same round are handled by the order of the log: each entry is applied
to every row, merged rows included, in log order, so the distance between two clusters formed
in one round is the same sequence of Lance-Williams updates on both of its rows, and the matrix
stays exactly symmetric. Nothing depends on the number of shards or on timing.

Ties: a rescan takes the lowest index among equal distances; a row that is not rescanned keeps
its neighbour even if a new cluster at a lower index is now equally near. If that leaves no
reciprocal pair (neighbour pointers in a cycle of equal distances), every live row is rescanned
once, and lowest-index neighbours always contain a reciprocal pair (the lexicographically
smallest closest pair). When even that finds none, no finite distance is left (Lance-Williams
overflowed to +inf) or the shards disagree: RuntimeError, rather than rescanning forever.
"""
from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from ..cpu._lance_williams import merge_rows
from ..cpu._rows import NO_CANDIDATE, first_argmin, merge_fault, replay

__all__ = ["rnn_rounds", "RoundStats", "apply_merges", "export_rows", "rescan_rows"]


# -- on the shards ----------------------------------------------------------------------------
@numba.njit(cache=True, error_model="numpy")
def export_rows(D, r0, code, size, log, xs, ks, cols, out):
    """``out[t]`` = row ``xs[t]`` replayed up to log entry ``ks[t]`` (its merge), at `cols`."""
    for t in range(xs.shape[0]):
        i = xs[t] - r0
        replay(D, i, ks[t], log, size[xs[t]], code)
        row = D[i]
        o = out[t]
        for c in range(cols.shape[0]):
            o[c] = row[cols[c]]


@numba.njit(cache=True, error_model="numpy")
def apply_merges(D, r0, code, size, log, k0, k1, foreign, pos):
    """Apply log entries ``k0:k1`` to the shard holding rows ``r0:r0+len(D)``.

    Entry k merges x into slot y. When this shard holds row y, it is replayed up to k and
    replaced by the Lance-Williams combination with row x: this shard's own row x, or
    ``foreign[pos[k - k0]]`` (already replayed up to k by its shard) when ``pos`` is >= 0.
    Sizes are updated after each entry, so the sizes seen by entry k are those of the
    sequential algorithm."""
    m = D.shape[0]
    for k in range(k0, k1):
        x = log.a[k]
        y = log.b[k]
        nx = log.na[k]
        ny = log.nb[k]
        if r0 <= y < r0 + m:
            yl = y - r0
            replay(D, yl, k, log, ny, code)
            p = pos[k - k0]
            if p >= 0:
                row_x = foreign[p]
            else:
                xl = x - r0
                replay(D, xl, k, log, nx, code)
                row_x = D[xl]
            # an overflow leaves +inf, which stays +inf under every update of these methods:
            # the row ends with no finite candidate, which the driver reports
            merge_rows(code, row_x, D[yl], log.h[k], nx, ny, size, x, y)
            D[yl, x] = np.inf
            D[yl, y] = np.inf
            log.last[yl] = k + 1
        size[x] = 0
        size[y] = nx + ny


@numba.njit(cache=True, error_model="numpy")
def rescan_rows(D, keys, r0, nonneg, code, size, log, upto, rows, nn, dist):
    """Replay `rows` up to log entry `upto`, then their nearest neighbour (lowest index among
    equals; -1 when no other cluster is left) and its distance."""
    for t in range(rows.shape[0]):
        r = rows[t]
        i = r - r0
        replay(D, i, upto, log, size[r], code)
        j = first_argmin(D[i], keys[i], 0, nonneg)
        nn[t] = j
        dist[t] = D[i, j] if j >= 0 else np.inf


# -- on the driver ----------------------------------------------------------------------------
@dataclass
class RoundStats:
    """What a run cost: rounds, rows rescanned, rows moved between shards and their bytes,
    full rescans forced by tie cycles."""

    rounds: int = 0
    rescans: int = 0
    rows_moved: int = 0
    bytes_moved: int = 0
    full_rescans: int = 0


def _batches(xs, cross, limit):
    """Split the round's entries so that each batch moves at most `limit`
    rows: a list of (start, stop) offsets into the round."""
    bounds = [0]
    moved = 0
    for t in np.flatnonzero(cross):
        if moved == limit:
            bounds.append(int(t))
            moved = 0
        moved += 1
    bounds.append(len(xs))
    return list(zip(bounds[:-1], bounds[1:]))


def rnn_rounds(shards, n: int, code: int, nonneg: bool, itemsize: int, bar,
               transfer_bytes: int, stats: RoundStats, method_name: str = "",
               dtype=np.float64) -> np.ndarray:
    """Run the rounds on `shards` (a ``_cluster.ShardSet``); raw merges (x, y, height) in
    log order, for ``gpuhclust._finalise.finalise``. A live cluster left with no finite
    distance (an update that overflowed) raises ``MergeOverflowError``."""
    nn = np.empty(n, dtype=np.int64)
    nnd = np.empty(n)
    for s, (nn_s, d_s) in zip(shards, shards.call_all("scan_all", nonneg, code)):
        nn[s.r0:s.r1] = nn_s
        nnd[s.r0:s.r1] = d_s
    size = np.ones(n, dtype=np.int64)
    alive = np.ones(n, dtype=bool)
    owner = shards.owner
    merges = np.empty((max(n - 1, 0), 3))
    ids = np.arange(n)
    k = 0
    full_rescan_done = False
    while k < n - 1:
        lost = np.flatnonzero(alive & (nn < 0))
        if len(lost):  # an update overflowed to +inf (or gave NaN) for all its distances
            raise merge_fault(NO_CANDIDATE, method_name, dtype, k, int(lost[0]), -1, -1)
        safe = np.where(nn >= 0, nn, 0)
        xs = np.flatnonzero(alive & (nn > ids) & (nn[safe] == ids))
        if len(xs) == 0:  # neighbour pointers in a cycle of equal distances
            if full_rescan_done:  # lowest-index neighbours always hold a reciprocal pair
                raise RuntimeError("backend='dask': no reciprocal pair after rescanning every "
                                   "row (the shards' rows are not a symmetric matrix): "
                                   "stopped instead of looping")
            full_rescan_done = True
            stats.full_rescans += 1
            rescan = np.flatnonzero(alive)
            _round(shards, [], k, rescan, owner, nonneg, code, 0, nn, nnd, stats)
            continue
        full_rescan_done = False
        ys = nn[xs]
        entries = (xs, ys, nnd[xs].copy(), size[xs].copy(), size[ys].copy())
        K = len(xs)
        merges[k:k + K, 0] = xs
        merges[k:k + K, 1] = ys
        merges[k:k + K, 2] = entries[2]
        size[ys] += size[xs]
        size[xs] = 0
        alive[xs] = False
        touched = np.zeros(n, dtype=bool)
        touched[xs] = True
        touched[ys] = True  # every y is rescanned: its neighbour was x
        rescan = np.flatnonzero(alive & touched[safe])
        live_before = n - k
        limit = max(1, transfer_bytes // (itemsize * live_before))
        _round(shards, entries, k, rescan, owner, nonneg, code, limit, nn, nnd, stats)
        stats.rounds += 1
        k += K
        bar.update(K)
    return merges


def _round(shards, entries, k0, rescan, owner, nonneg, code, limit, nn, nnd, stats):
    """One round's calls: exports and merges batch by batch, rescans with the last batch."""
    if len(entries) == 0:
        spans = [(0, 0)]
        xs = ys = np.zeros(0, dtype=np.int64)
    else:
        xs, ys = entries[0], entries[1]
        cross = owner[xs] != owner[ys]
        spans = _batches(xs, cross, limit)
    for b, (t0, t1) in enumerate(spans):
        part = tuple(e[t0:t1] for e in entries) if len(entries) else (xs,) * 5
        bx, by = xs[t0:t1], ys[t0:t1]
        bk = np.arange(k0 + t0, k0 + t1, dtype=np.int64)
        moving = owner[bx] != owner[by]
        exports = {}
        for s in np.unique(owner[bx[moving]]):
            sel = moving & (owner[bx] == s)
            exports[int(s)] = (bx[sel], bk[sel], by[sel])
        rows_by_owner = {}
        if exports:
            calls = {s: ("export_rows", part, k0 + t0, x, kk, code)
                     for s, (x, kk, _) in exports.items()}
            for s, rows in shards.call_some(calls).items():
                rows_by_owner[s] = rows
                stats.rows_moved += rows.shape[0]
                stats.bytes_moved += rows.nbytes
        last = b == len(spans) - 1
        calls = {}
        for s, shard in enumerate(shards):
            fk, fr = [], []
            for src, (x, kk, y) in exports.items():
                sel = owner[y] == s
                if sel.any():
                    fk.append(kk[sel])
                    fr.append(rows_by_owner[src][sel])
            foreign_k = np.concatenate(fk) if fk else np.zeros(0, dtype=np.int64)
            foreign = np.concatenate(fr) if fr else np.zeros((0, 0))
            mine = rescan[(rescan >= shard.r0) & (rescan < shard.r1)] if last else xs[:0]
            calls[s] = ("apply_merges", part, k0 + t0, foreign_k, foreign, mine, nonneg, code)
        for s, (nn_s, d_s) in shards.call_some(calls).items():
            rows = calls[s][5]
            nn[rows] = nn_s
            nnd[rows] = d_s
            stats.rescans += len(rows)
