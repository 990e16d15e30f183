"""The Dask shards as a row store of the shared rounds driver (``gpuhclust._rounds``: the
algorithm, the round order and the tie rule are stated there), and the shard-side kernels.

A round on the shards (:class:`ShardStore`):

1. each pair whose rows sit on different shards needs row x on y's shard: x's shard replays
   row x up to that merge and sends its live entries (``export_rows``), in batches of at most
   ``transfer_bytes`` through the driver;
2. every shard applies the round's log entries in order (``apply_merges``): rows it holds that
   are merge targets become the Lance-Williams combination of both rows, sizes are updated
   entry by entry; every other row stays lazy;
3. every shard replays and rescans its rows among those the driver asks for (``rescan_rows``).

Nothing depends on the number of shards or on timing.
"""
from __future__ import annotations

import numba
import numpy as np

from ..cpu._lance_williams import merge_rows
from ..cpu._lazy_matrix import first_argmin, replay

__all__ = ["ShardStore", "apply_merges", "export_rows", "rescan_rows"]


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


class ShardStore:
    """The rows of a ``_cluster.ShardSet`` as a ``gpuhclust._rounds.RowStore``.

    Parameters
    ----------
    shards : ShardSet
        The shards, filled.
    n, code, nonneg : int, int, bool
        Observations, the method code, whether every distance is non-negative.
    itemsize : int
        Bytes per stored distance.
    transfer_bytes : int
        The most the driver holds in flight (rows moving between shards).
    stats : gpuhclust._rounds.RoundStats
        Receives the rows moved and their bytes.
    """

    name = "backend='dask'"

    def __init__(self, shards, n: int, code: int, nonneg: bool, itemsize: int,
                 transfer_bytes: int, stats):
        self.shards, self.n, self.code, self.nonneg = shards, n, code, nonneg
        self.itemsize, self.transfer_bytes, self.stats = itemsize, transfer_bytes, stats

    def scan_all(self):
        nn = np.empty(self.n, dtype=np.int64)
        nnd = np.empty(self.n)
        found = self.shards.call_all("scan_all", self.nonneg, self.code)
        for s, (nn_s, d_s) in zip(self.shards, found):
            nn[s.r0:s.r1] = nn_s
            nnd[s.r0:s.r1] = d_s
        return nn, nnd

    def run_round(self, entries, k0: int, rescan: np.ndarray):
        limit = max(1, self.transfer_bytes // (self.itemsize * (self.n - k0)))
        nn = np.empty(len(rescan), dtype=np.int64)
        nnd = np.empty(len(rescan))
        _round(self.shards, entries, k0, rescan, self.shards.owner, self.nonneg, self.code,
               limit, nn, nnd, self.stats)
        return nn, nnd


def _round(shards, entries, k0, rescan, owner, nonneg, code, limit, nn, nnd, stats):
    """One round's calls: exports and merges batch by batch, rescans with the last batch;
    ``nn[t], nnd[t]`` receive row ``rescan[t]``'s neighbour and distance."""
    xs, ys = entries[0], entries[1]
    spans = _batches(xs, owner[xs] != owner[ys], limit)
    for b, (t0, t1) in enumerate(spans):
        part = tuple(e[t0:t1] for e in entries)
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
            at = np.searchsorted(rescan, calls[s][5])
            nn[at] = nn_s
            nnd[at] = d_s
