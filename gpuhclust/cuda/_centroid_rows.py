"""The GPU store of ward's rounds over centroids (engine='vector'; the algorithm, the arithmetic
and the tie rule are stated in ``gpuhclust._centroid_rounds``): the centroids features first in
device memory, the kernels of ``kernels/vector.cu``.

A round is one upload, three or four launches and one read back:

1. the host packs the round's request into one int64 array (the positions and sizes of the
   pairs, the positions to keep when the centroids are compacted, the query positions);
2. ``vector_round_merge`` merges the pairs' centroids (one thread per pair and feature);
3. when an eighth of the positions are dead, ``vector_gather`` copies the live centroids and
   sizes to the front of the second buffer, which becomes the current one;
4. ``vector_round_nearest`` computes the queries' nearest neighbours as tiled products (a tile
   of queries in shared memory, the candidates streamed past it, each read once per tile), over
   every SM: the candidates are split in ranges so that tiles x ranges fill the grid;
   ``vector_round_pick`` combines the ranges;
5. the neighbours and their values come back in one read: the round's only host sync.

Nothing waits for the host per merge; the host holds O(n) (the driver's state and the slots).
"""
from __future__ import annotations

import numpy as np

from .._centroid_rounds import CentroidSlots
from ._kernels import VECTOR_QUERIES

__all__ = ["DeviceCentroidRows"]


def _i64(v) -> np.int64:
    return np.int64(v)


class DeviceCentroidRows:
    """The centroids `Ct` (features first, float64, host array) on `backend`'s device as a
    ``gpuhclust._rounds.RowStore`` for ward."""

    def __init__(self, backend, Ct: np.ndarray):
        ctx = self.ctx = backend.ctx
        track, xp = ctx.track, ctx.xp
        self.name = f"backend={backend.name!r} engine='vector' (rounds)"
        self.d, n = Ct.shape
        self.ld = n
        self.C = [ctx.device_array(np.ascontiguousarray(Ct)), track(xp.empty(Ct.shape))]
        self.sz = [track(xp.ones(n)), track(xp.zeros(n))]
        self.cur = 0
        self.slots = CentroidSlots(n)
        self.compactions = 0
        self.grid_blocks = backend._grid_blocks

    def _launch(self, name: str, blocks: int, *args) -> None:
        self.ctx.kernel("vector", name)((max(1, blocks),), (self.ctx.threads,), args)

    def _centroids(self):
        return self.C[self.cur], _i64(self.ld), np.int32(self.d), self.sz[self.cur]

    def _nearest(self, queries, nq: int):
        """Nearest neighbour (original slot, -1 when none) and w of the `nq` query positions in
        the device array `queries`."""
        if nq == 0:
            return np.empty(0, dtype=np.int64), np.empty(0)
        ctx, xp = self.ctx, self.ctx.xp
        width = self.slots.width
        tiles = -(-nq // VECTOR_QUERIES)
        # enough work items for every block (the results do not depend on them)
        splits = max(1, min(-(-ctx.max_blocks // tiles), width))
        span = -(-width // splits)
        part_value = xp.empty(nq * splits)
        part_index = xp.empty(nq * splits, dtype=np.int64)
        self._launch("vector_round_nearest", min(ctx.max_blocks, tiles * splits),
                     *self._centroids(), queries, _i64(nq), _i64(splits), _i64(span),
                     _i64(width), part_value, part_index)
        found = xp.empty(2 * nq, dtype=np.int64)
        self._launch("vector_round_pick", self.grid_blocks(nq), part_value, part_index,
                     _i64(nq), _i64(splits), found)
        host = ctx.asnumpy(found)  # the round's one host sync
        return self.slots.slots(host[:nq]), host[nq:].view(np.float64)

    def scan_all(self):
        n = self.ld
        queries = self.ctx.device_array(np.arange(n, dtype=np.int64))
        return self._nearest(queries, n)

    def run_round(self, entries, k0: int, rescan: np.ndarray):
        count = len(entries[0])
        pieces = []
        if count:
            px, py, na, nb = self.slots.merge(entries)
            pieces += [px, py, np.asarray(entries[3], dtype=np.int64),
                       np.asarray(entries[4], dtype=np.int64)]
        keep = self.slots.compaction()
        if keep is not None:
            pieces.append(keep)
        queries = self.slots.positions(rescan)
        pieces.append(queries)
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
            at += w
        return self._nearest(request[at:], len(queries))
