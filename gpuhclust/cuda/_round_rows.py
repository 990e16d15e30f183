"""The local GPU row store of the rounds driver (``gpuhclust._rounds``: the algorithm, the round
order and the tie rule are stated there): the whole square matrix on one device, as a single
"shard" of ``_device_rows.DeviceRows`` holding every row, so the kernels are the Dask shards'
(``kernels/shard.cu``) and so is the arithmetic, bit for bit.

A round is a handful of launches and one read back:

1. the round's log entries go to the device; ``shard_replay`` brings both rows of each pair up
   to its entry (one thread per row), then ``shard_merge`` applies them, one thread per
   (pair, column) over the whole grid (pairs are disjoint, so no two threads write the same
   element), ward reading each column's size as it is after the entries before it, exactly as
   the CPU rows (``gpuhclust.cpu._round_rows``) do;
2. ``shard_rescan`` replays and rescans the rows the driver asks for, one block per row
   (grid-stride beyond the device's block cap), lowest index among equal distances, -1 where
   no finite distance is left;
3. their neighbours and distances come back in one device-to-host read: the round's only host
   sync.

No merge waits for the host, and the host holds O(n) (the driver's state).
"""
from __future__ import annotations

import numpy as np

from ._device_rows import DeviceRows

__all__ = ["DeviceRoundRows"]


class DeviceRoundRows:
    """The square working matrix `D` (+inf on the diagonal, on `backend`'s device; taken over)
    as a ``gpuhclust._rounds.RowStore``."""

    def __init__(self, backend, D, code: int):
        self.name = f"backend={backend.name!r} (rounds)"
        self.code = code
        self.rows = DeviceRows.whole(backend, D)

    # ``nonneg`` (True below) only speeds up the CPU rows' comparisons; the kernels ignore it.

    def scan_all(self):
        return self.rows.rescan(np.arange(self.rows.n, dtype=np.int64), True, self.code, 0)

    def run_round(self, entries, k0: int, rescan: np.ndarray):
        rows = self.rows
        count = len(entries[0])
        if count:
            rows.record(entries, k0)
            rows.apply_merges(k0, k0 + count, np.empty((0, 0)),  # no foreign row: x is local
                              np.full(count, -1, dtype=np.int64), self.code)
        return rows.rescan(np.asarray(rescan, dtype=np.int64), True, self.code, k0 + count)
