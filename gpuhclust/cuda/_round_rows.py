"""The local GPU row store of the rounds driver (``gpuhclust._rounds``: the algorithm, the round
order and the tie rule are stated there): the whole square matrix on one device, updated by the
kernels of ``kernels/rounds.cu``.

The Dask shards keep their rows lazy (a shard does not hold the other shards' columns, so a row
replays the merge log when it is read, ``kernels/shard.cu``). Here all rows are at hand: a
merge writes its union's row only, and the distance between two clusters is read from the row of
the younger one (by the marks, the log entries that formed them), so a merge needs neither a
replay nor a column write (one 32-byte sector written in part per live row, which the device
pays as a read and a write of the sector). The values are the lazy rows' bit for bit (the
argument is at the top of ``kernels/rounds.cu``), so Z is the CPU rows' and the Dask shards'.

Without kept entries (below) a round is three launches and one read back:

1. the round's log entries and the rows to rescan go to the device in one copy;
   ``round_mark`` marks the round's clusters, keeping their marks from before, and sets their
   sizes after the round;
2. ``round_merge`` applies the entries, one thread per (pair, column) over the whole grid:
   elements outside the round's own rows and columns depend on one entry each, and the 2 x 2
   block between two pairs of the round is one thread's, which applies both entries in log
   order;
3. ``round_rescan`` finds the nearest live neighbours of the rows the driver asks for, one
   block per row (grid-stride beyond the device's block cap), lowest index among equal
   distances, -1 where no finite distance is left; they come back in one device-to-host
   read: the round's only host sync.

Where the distances are non-negative (the usual case) the rows keep their smallest entries, as
the CPU rows do (``gpuhclust.cpu._round_rows.KeptEntries``, on the host): a scan
(``round_rescan_kept``) also returns each row's KEPT smallest entries and the next one, the
bound; after a round's merges the kept entries whose cluster merged take the union, their
distances read from the device (``round_pairs``, one launch and one read back), and a row the
driver asks for whose smallest kept entry lies below its bound has it as its first minimum, the
answer a scan would give. Only the other rows are scanned (each split over several blocks where they are few,
``round_rescan_kept``, then merged, ``round_pick_kept``): a round is then five launches and two
reads back, and far fewer rows are read.

No merge waits for the host, and the host holds O(n) (the driver's state).
"""
from __future__ import annotations

import numpy as np

from .._rounds import KEPT
from ..cpu._lazy_matrix import COMPACT_MIN_WIDTH  # the CPU rows' rule: narrow ones stay
from ..cpu._round_rows import KeptEntries
from ._context import grid_blocks, row_blocks
from ._kernels import STORAGE_TYPES

__all__ = ["DeviceRoundRows"]

_LIST = KEPT + 1  # a kept list and its bound (kernels/kept.cuh)


class DeviceRoundRows:
    """The square working matrix `D` (+inf on the diagonal, on `backend`'s device; taken over)
    as a ``gpuhclust._rounds.RowStore``.

    The matrix is indexed by slots: once half of them hold dead clusters (and it is at least
    ``COMPACT_MIN_WIDTH`` wide, as the CPU rows), the live rows and columns are gathered into
    a smaller matrix (``round_gather``), in their order, so later rounds merge and rescan only
    live columns. That takes a second allocation: where the device
    lacks the memory, the matrix stays as it is (the same values, more of them read). The host
    keeps the maps between slots and the driver's row numbers, and the sizes (O(n)).
    """

    def __init__(self, backend, D, code: int, nonneg: bool = False):
        self.name = f"backend={backend.name!r} (rounds)"
        self.code = np.int32(code)
        self.ctx, self.xp = backend.ctx, backend.ctx.xp
        self.D = D
        n = D.shape[0]
        self.n = n
        self.ctype = STORAGE_TYPES[np.dtype(D.dtype).name]
        self.size = self.xp.ones(n, dtype=np.int32)  # 32-bit: see kernels/rounds.cu
        self.mark = self.xp.full(n, -1, dtype=np.int32)
        self.prior = self.xp.empty(2 * n, dtype=np.int32)  # a round's marks from before it
        self.original = np.arange(n, dtype=np.int64)  # slot -> driver's row
        self.slot = np.arange(n, dtype=np.int64)  # driver's row -> slot (-1: dead)
        self.host_size = np.ones(n, dtype=np.int64)  # by slot
        self.compactions = 0
        # A round's upload and read back go through buffers kept for the run (the late rounds
        # are many and small); the kept scans' splits and the followed entries' pairs come
        # from the device's memory pool.
        self.upload = self.xp.empty(6 * n, dtype=np.int64)
        self.found = self.xp.empty((2 + 2 * _LIST) * n, dtype=np.int64)
        #: every row's kept entries (`nonneg`: the distances are non-negative), on the host
        self.kept = KeptEntries(n, D.dtype) if nonneg else None

    @property
    def width(self) -> int:
        return self.D.shape[0]

    @staticmethod
    def state_bytes(n: int, max_blocks: int) -> int:
        """Device memory beside the matrix: sizes and marks (n 32-bit each), the marks a round
        replaces (2 n 32-bit), the buffer of a round's upload (its entries and the rows to
        rescan, at most 6 n 64-bit) and of its read back (neighbours, distances and kept lists,
        (2 + 2 (KEPT + 1)) n 64-bit), the kept entries that follow a round's merges (at most
        KEPT n pairs of 64-bit slots and their distances) and the scans' lists per split of a
        row (2 (KEPT + 1) 64-bit per row, or per block of the device's cap `max_blocks` when
        fewer rows are scanned, :meth:`_splits`)."""
        return (8 * (6 + 2 + 2 * _LIST + 2 + 3 * KEPT) * n
                + 16 * _LIST * max(n, min(max_blocks, n * n)))

    def _launch(self, name: str, grid, *args) -> None:
        grid = grid if isinstance(grid, tuple) else (grid,)
        self.ctx.kernel("rounds", name)(grid, (self.ctx.threads,), args)

    def _merge_grid(self, count: int) -> tuple[int, int]:
        """round_merge's grid: (blocks along the columns, blocks along the pairs), at most the
        device's block cap in all, and the cap itself whenever the round has that many pairs
        or its rows are that wide (both directions grid-stride)."""
        pairs = min(count, self.ctx.max_blocks)
        columns = -(-self.width // self.ctx.threads)
        return max(1, min(columns, self.ctx.max_blocks // pairs)), pairs

    def scan_all(self):
        rows = self.upload[:self.n]
        self.ctx.upload(rows, np.arange(self.n, dtype=np.int64))
        return self._rescan(rows, np.arange(self.n, dtype=np.int64), 0)

    def run_round(self, entries, k0: int, rescan: np.ndarray):
        self._compact_if_due()
        xs, ys, hs, nas, nbs = entries
        count = len(xs)
        sx, sy = self.slot[xs], self.slot[ys]
        batch = np.concatenate([sx, sy] + [np.asarray(a, dtype=np.int64) for a in (nas, nbs)]
                               + [np.asarray(hs, dtype=np.float64).view(np.int64),
                                  self.slot[np.asarray(rescan, dtype=np.int64)]])
        dev = self.upload[:len(batch)]
        self.ctx.upload(dev, batch)  # the round's one host-to-device copy
        if count:
            d_xs, d_ys, d_nas, d_nbs = (dev[i * count:(i + 1) * count] for i in range(4))
            d_hs = dev[4 * count:5 * count].view(np.float64)
            width, k0 = np.int64(self.width), np.int64(k0)
            self._launch("round_mark", grid_blocks(self.ctx, count), self.mark, self.size,
                         self.prior, k0,
                         d_xs, d_ys, d_nas, d_nbs, np.int64(count))
            self._launch(f"round_merge<{self.ctype}>", self._merge_grid(count),
                         self.D, width, self.code, self.size, self.mark, self.prior, k0, d_xs,
                         d_ys, d_hs,
                         d_nas, d_nbs, np.int64(count))
            self.host_size[sy] = np.asarray(nas) + np.asarray(nbs)
            self.host_size[sx] = 0
        rescan = np.asarray(rescan, dtype=np.int64)
        if self.kept is None:
            if count:
                self.slot[xs] = -1
            return self._rescan(dev[5 * count:], rescan, k0 + count)
        found = np.empty(len(rescan), dtype=np.int64)
        dist = np.empty(len(rescan))
        alive = self.slot >= 0
        if count:
            self.slot[xs] = -1
        full = self.kept.settle(xs, ys, alive, rescan, k0 + count, self._distances, found,
                                dist)
        if full.any():
            rows = rescan[full]
            dev_rows = dev[5 * count:5 * count + len(rows)]
            self.ctx.upload(dev_rows, self.slot[rows])
            found[full], dist[full] = self._rescan(dev_rows, rows, k0 + count)
        return found, dist

    def _distances(self, new: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """The distances (storage type) from each cluster of `rows` to the one of `new` (the
        driver's numbers), read where the younger holds each: one launch, one read back."""
        count = len(rows)
        pairs = self.ctx.device_array(np.concatenate([self.slot[rows], self.slot[new]]))
        out = self.xp.empty(count, dtype=self.D.dtype)
        self._launch(f"round_pairs<{self.ctype}>", grid_blocks(self.ctx, count), self.D,
                     np.int64(self.width), self.mark, pairs[:count], pairs[count:],
                     np.int64(count), out)
        return self.ctx.asnumpy(out)

    def _splits(self, count: int) -> tuple[int, int]:
        """round_rescan_kept's splits of each row and columns per split: enough blocks to fill
        the device's block cap when few rows are scanned, none narrower than a block's pass."""
        width = self.width
        splits = max(1, min(self.ctx.max_blocks // max(count, 1),
                            -(-width // self.ctx.threads)))
        chunk = -(-width // splits)
        return -(-width // chunk), chunk

    def _rescan(self, rows, driver_rows: np.ndarray, k: int):
        """Rescan the slots `rows` (on the device; `driver_rows` on the host, the same rows in
        the driver's numbers), after log entry k - 1: (nearest neighbours, distances), and
        their kept lists recorded where the rows keep them."""
        count = len(rows)
        if count == 0:
            return np.empty(0, dtype=np.int64), np.empty(0)
        if self.kept is None:
            found = self.found[:2 * count]  # one read back: neighbours, distances
            self._launch(f"round_rescan<{self.ctype}>", row_blocks(self.ctx, count), self.D,
                         np.int64(self.width), self.size, self.mark, rows, np.int64(count),
                         found[:count], found[count:].view(np.float64))
        else:  # one read back: neighbours, distances, kept keys and slots
            found = self.found[:(2 + 2 * _LIST) * count]
            lists = found[2 * count:]
            splits, chunk = self._splits(count)
            parts = self.xp.empty(2 * count * splits * _LIST, dtype=np.int64)
            half = count * splits * _LIST
            self._launch(f"round_rescan_kept<{self.ctype}>",
                         (splits, min(count, self.ctx.max_blocks)), self.D,
                         np.int64(self.width), self.size, self.mark, rows, np.int64(count),
                         np.int64(splits), np.int64(chunk), parts[:half], parts[half:])
            self._launch(f"round_pick_kept<{self.ctype}>", grid_blocks(self.ctx, count), self.D,
                         np.int64(self.width), self.mark, rows, np.int64(count),
                         np.int64(splits), parts[:half], parts[half:],
                         np.int64(self.kept.inf_key),
                         found[:count], found[count:2 * count].view(np.float64),
                         lists[:_LIST * count], lists[_LIST * count:])
        host = self.ctx.asnumpy(found)
        nn = host[:count]
        rows_found = np.where(nn >= 0, self.original[np.maximum(nn, 0)], -1)
        if self.kept is not None:
            keys = host[2 * count:(2 + _LIST) * count].reshape(count, _LIST)
            pos = host[(2 + _LIST) * count:].reshape(count, _LIST)
            self.kept.record(driver_rows, keys, np.where(pos >= 0, self.original[
                np.maximum(pos, 0)], -1), k)
        return rows_found, host[count:2 * count].view(np.float64)

    def _compact_if_due(self) -> None:
        live = np.flatnonzero(self.host_size > 0)
        m = len(live)
        if self.width < COMPACT_MIN_WIDTH or 2 * m > self.width or m == 0:
            return
        if self.D.dtype.itemsize * m * m + 16 * m > self.ctx.free_bytes():
            return  # no room for the smaller copy: keep the wide one
        xp = self.xp
        D = xp.empty((m, m), dtype=self.D.dtype)
        self._launch(f"round_gather<{self.ctype}>", row_blocks(self.ctx, m), self.D,
                     np.int64(self.width), self.mark, xp.asarray(live), np.int64(m), D)
        self.D = D
        self.host_size = self.host_size[live]
        self.size = xp.asarray(self.host_size.astype(np.int32))
        self.mark = xp.full(m, -1, dtype=np.int32)
        self.original = self.original[live]
        self.slot[self.original] = np.arange(m)
        self.compactions += 1
