"""The GPU store of ward's rounds over centroids (engine='vector'; the algorithm, the arithmetic
and the tie rule are stated in ``gpuhclust._centroid_rounds``): the centroids features first in
device memory, the kernels of ``kernels/vector.cu``.

A round is two uploads, at most six launches and two reads back:

1. the host packs the round's merges into one int64 array (the positions and sizes of the
   pairs, the positions to keep when the centroids are compacted);
2. ``vector_round_merge`` merges the pairs' centroids (one thread per pair and feature);
3. when an eighth of the positions are dead, ``vector_gather`` copies the live centroids and
   sizes to the front of the second buffer, which becomes the current one;
4. the kept entries (``gpuhclust.cpu._centroid_rows.CentroidKept``, on the host, as on the
   CPU) follow the merges: ``vector_pair_w`` computes w from each row to the union its kept
   entry merged into, and from each union to the clusters its two parts' entries hold, read
   back (the first sync, when any is needed); a row they settle, a union included, has its
   answer without a rescan, the same answer, so Z is unchanged;
5. the other rows go up as queries: ``vector_round_nearest`` computes their nearest neighbours
   and kept lists (the KEPT + 1 smallest w) as tiled products (a tile of queries in shared
   memory, the candidates streamed past it, each read once per tile), over every SM: the
   candidates are split in ranges so that tiles x ranges fill the grid; ``vector_round_pick``
   merges the ranges' lists;
6. the lists come back in one read (the second sync); their first entries are the answers.

Nothing waits for the host per merge; the host holds O(n) (the driver's state, the slots and
the kept entries).
"""
from __future__ import annotations

import numpy as np

from .._centroid_rounds import CentroidSlots
from .._rounds import KEPT
from ..cpu._centroid_rows import CentroidKept
from ._kernels import VECTOR_NEAREST_THREADS, VECTOR_QUERIES

__all__ = ["DeviceCentroidRows", "kept_device_bytes"]

_LIST = KEPT + 1
_INF_KEY = int(np.array(np.inf).view(np.int64))


def kept_device_bytes(n: int, max_blocks: int) -> int:
    """Device memory of the kept lists of a scan of `n` queries (the ranges' lists and the
    merged ones, keys and positions): at most ``n + VECTOR_QUERIES * max_blocks`` (query,
    range) lists, plus one list per query."""
    return 16 * _LIST * (2 * n + VECTOR_QUERIES * max_blocks)


def _i64(v) -> np.int64:
    return np.int64(v)


class DeviceCentroidRows:
    """The centroids `Ct` (features first, float64, host array) on `backend`'s device as a
    ``gpuhclust._rounds.RowStore`` for ward."""

    def __init__(self, backend, Ct: np.ndarray, kept: bool = True):
        ctx = self.ctx = backend.ctx
        track, xp = ctx.track, ctx.xp
        self.name = f"backend={backend.name!r} engine='vector' (rounds)"
        self.d, n = Ct.shape
        self.ld = n
        self.C = [ctx.device_array(np.ascontiguousarray(Ct)), track(xp.empty(Ct.shape))]
        self.sz = [track(xp.ones(n)), track(xp.zeros(n))]
        self.size = np.ones(n)  # by slot, on the host
        self.cur = 0
        self.slots = CentroidSlots(n)
        self.compactions = 0
        self.pairs = 0  # (query, position) dissimilarities computed
        self.grid_blocks = backend._grid_blocks
        self.kept = None
        if kept:
            self.kept = CentroidKept(n, self.d, float(np.abs(Ct).max()) if Ct.size else 0.0)

    def _launch(self, name: str, blocks: int, *args, threads: int | None = None) -> None:
        self.ctx.kernel("vector", name)((max(1, blocks),), (threads or self.ctx.threads,), args)

    def _centroids(self):
        return self.C[self.cur], _i64(self.ld), np.int32(self.d), self.sz[self.cur]

    def _nearest(self, slots: np.ndarray, k: int):
        """Nearest neighbour (original slot, -1 when none) and w of the live clusters `slots`;
        their kept lists recorded as scanned after log entry k - 1."""
        nq = len(slots)
        if nq == 0:
            return np.empty(0, dtype=np.int64), np.empty(0)
        ctx, xp = self.ctx, self.ctx.xp
        width = self.slots.width
        self.pairs += nq * width
        queries = ctx.device_array(self.slots.positions(slots))
        tiles = -(-nq // VECTOR_QUERIES)
        # enough work items for every block (the results do not depend on them)
        splits = max(1, min(-(-ctx.max_blocks // tiles), width))
        span = -(-width // splits)
        part_key = xp.empty(nq * splits * _LIST, dtype=np.int64)
        part_pos = xp.empty(nq * splits * _LIST, dtype=np.int64)
        self._launch("vector_round_nearest", min(ctx.max_blocks, tiles * splits),
                     *self._centroids(), queries, _i64(nq), _i64(splits), _i64(span),
                     _i64(width), part_key, part_pos,
                     threads=min(ctx.threads, VECTOR_NEAREST_THREADS))
        found = xp.empty(2 * nq * _LIST, dtype=np.int64)
        self._launch("vector_round_pick", self.grid_blocks(nq), part_key, part_pos, _i64(nq),
                     _i64(splits), found)
        host = ctx.asnumpy(found)  # the scan's one host sync
        keys = host[:nq * _LIST].reshape(nq, _LIST)
        cols = self.slots.slots(host[nq * _LIST:].reshape(nq, _LIST))
        if self.kept is not None:
            self.kept.record(slots, keys, cols, k)
        # the first entry is the first minimum when finite (a scan's answer: -1 and +inf else)
        first = keys[:, 0] < _INF_KEY
        nn = np.where(first, cols[:, 0], -1)
        dist = np.where(first, keys[:, 0].view(np.float64), np.inf)
        return nn, dist

    def scan_all(self):
        return self._nearest(np.arange(self.ld, dtype=np.int64), 0)

    def _union_w(self, new: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """w from each cluster of `rows` to the one of `new` (slots), computed on the device
        with a scan's arithmetic."""
        count = len(rows)
        pairs = self.ctx.device_array(np.concatenate([self.slots.positions(rows),
                                                      self.slots.positions(new)]))
        out = self.ctx.xp.empty(count)
        self._launch("vector_pair_w", self.grid_blocks(count), *self._centroids(),
                     pairs[:count], pairs[count:], _i64(count), out)
        return self.ctx.asnumpy(out)

    def run_round(self, entries, k0: int, rescan: np.ndarray):
        xs, ys = entries[0], entries[1]
        count = len(xs)
        k1 = k0 + count
        pieces = []
        if count:
            px, py, na, nb = self.slots.merge(entries)
            pieces += [px, py, np.asarray(entries[3], dtype=np.int64),
                       np.asarray(entries[4], dtype=np.int64)]
            self.size[ys] = na + nb
            self.size[xs] = 0.0
        keep = self.slots.compaction()
        if keep is not None:
            pieces.append(keep)
        if pieces:
            request = self.ctx.device_array(np.concatenate(pieces).astype(np.int64, copy=False))
        at = 0
        if count:
            C, ld, d, sz = self._centroids()
            self._launch("vector_round_merge", self.grid_blocks(count * self.d), C, ld, d, sz,
                         request, _i64(count))
            at = 4 * count
        if keep is not None:
            w = len(keep)
            C, ld, d, sz = self._centroids()
            other = 1 - self.cur
            self._launch("vector_gather", self.grid_blocks(w * self.d), C, ld, d, sz,
                         request[at:], _i64(w), self.C[other], self.sz[other])
            self.cur = other
            self.compactions += 1
        if self.kept is None:
            return self._nearest(rescan, k1)
        found = np.empty(len(rescan), dtype=np.int64)
        dist = np.empty(len(rescan))
        full = self.kept.settle_round(self.slots, entries, k1, rescan, self.size[rescan],
                                      self._union_w, found, dist)
        found[full], dist[full] = self._nearest(rescan[full], k1)
        return found, dist
