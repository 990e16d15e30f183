"""Reciprocal-nearest-neighbour rounds for complete, average, weighted and ward linkage: the one
driver every executor shares.

For these reducible methods a pair of clusters that are each other's nearest neighbour stays so
whatever else merges (a merge never brings the union closer to a third cluster than both parts
were), so all reciprocal pairs of a round can merge at once and the set of merges is the
nearest-neighbour chain's; sorted by height it is SciPy's Z (docs/exactness.md).

The driver holds O(n) state, in the original row numbers: every row's nearest neighbour and
distance, cluster sizes, the merge log. The distances live in a *row store*, which executes a
round (:class:`RowStore`): the local CPU rows (``gpuhclust.cpu._round_rows``, all rows in one
process, rows in parallel over threads), the local GPU rows (``gpuhclust.cuda._round_rows``) or
the Dask shards (``gpuhclust.dask._rounds``). A round:

1. the driver finds the reciprocal pairs ``x < y = nn[x]`` with ``nn[y] == x``, in increasing
   ``x``, and appends them to the log in that order (the merged cluster keeps slot y, as in
   SciPy);
2. the store applies the round's log entries in log order: entry k merges x into y; row y
   becomes the Lance-Williams combination of rows x and y, both brought up to entry k (every
   earlier entry applied, those of this round included), with the cluster sizes as they are
   after entries ``< k``; every other row stays lazy (it replays the log when next read,
   ``gpuhclust.cpu._lazy_matrix.replay``), or, in the local GPU store
   (``gpuhclust.cuda._round_rows``), takes the replayed values at once (the same values);
3. the store replays and rescans the rows whose nearest neighbour took part in a merge (the new
   rows among them) and returns their nearest neighbours; the other rows keep theirs, which is
   still a nearest one by reducibility.

Two pairs merging in the same round are handled by the order of the log: each entry is applied
to every row, merged rows included, in log order, so the distance between two clusters formed
in one round is the same sequence of Lance-Williams updates on both of its rows, and the matrix
stays exactly symmetric. Each value is therefore the same expression on the same operands in
every store, for any number of threads or shards: Z is the same bit for bit.

Tie rule: a rescan takes the lowest index among equal distances; a row that is not rescanned
keeps its neighbour even if a new cluster at a lower index is now equally near. If that leaves
no reciprocal pair (neighbour pointers in a cycle of equal distances), every live row is
rescanned once, and lowest-index neighbours always contain a reciprocal pair (the
lexicographically smallest closest pair). When even that finds none, no finite distance is left
(Lance-Williams overflowed to +inf) or the store's rows are not a symmetric matrix:
RuntimeError, rather than rescanning forever.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from ._validation import MergeOverflowError

__all__ = ["RowStore", "RoundStats", "rnn_rounds", "KEPT", "NO_KEY"]

#: Smallest entries a full scan keeps per row, besides the next one (the bound), where a store
#: keeps them (``gpuhclust.cpu._round_rows``, ``gpuhclust.cpu._centroid_rows``, and on the GPU
#: ``vector_round_nearest``): a row whose neighbour merged may then be settled without a rescan.
KEPT = 8
#: The key of an empty kept entry: above every distance's key (the bits of a float64 >= +0
#: as an int64, +inf and NaN included).
NO_KEY = np.iinfo(np.int64).max


class RowStore(Protocol):
    """What the driver needs from the rows (all numbers are original row numbers)."""

    #: Names the store in errors.
    name: str

    def scan_all(self) -> tuple[np.ndarray, np.ndarray]:
        """Nearest neighbour (lowest index among equals, -1 when none) and its distance for
        every row 0..n-1."""

    def run_round(self, entries: tuple, k0: int,
                  rescan: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Apply log entries ``k0:k0+len(xs)`` (``entries = (xs, ys, heights, sizes of x,
        sizes of y)``, possibly empty), then rescan the rows `rescan` (ascending): their
        nearest neighbours and distances."""


@dataclass
class RoundStats:
    """What a run cost: merges, rounds, rows rescanned, full rescans forced by tie cycles,
    and (Dask) rows moved between shards and their bytes."""

    merges: int = 0
    rounds: int = 0
    rescans: int = 0
    full_rescans: int = 0
    rows_moved: int = 0
    bytes_moved: int = 0

    @property
    def rescans_per_merge(self) -> float:
        return self.rescans / max(self.merges, 1)


def rnn_rounds(store: RowStore, n: int, bar, stats: RoundStats, method_name: str = "",
               dtype=np.float64) -> np.ndarray:
    """Run the rounds on `store`; raw merges (x, y, height) in log order, for
    ``gpuhclust._finalise.finalise``. A live cluster left with no finite distance (an update
    that overflowed; `method_name` and the storage `dtype` go into the message) raises
    ``MergeOverflowError``."""
    nn, nnd = store.scan_all()
    nn = np.asarray(nn, dtype=np.int64).copy()
    nnd = np.asarray(nnd, dtype=np.float64).copy()
    size = np.ones(n, dtype=np.int64)
    alive = np.ones(n, dtype=bool)
    touched = np.zeros(n, dtype=bool)  # the round's x and y, cleared after it
    merges = np.empty((max(n - 1, 0), 3))
    # The live rows, ascending: a round costs the host O(live rows), not O(n), and the late
    # rounds, which are most of them, have few.
    live = np.arange(n)
    none = np.zeros(0, dtype=np.int64)
    k = 0
    full_rescan_done = False
    while k < n - 1:
        nn_live = nn[live]
        if (nn_live < 0).any():  # an update overflowed to +inf (or gave NaN) for all its distances
            lost = int(live[np.flatnonzero(nn_live < 0)[0]])
            raise MergeOverflowError.of(False, method_name, dtype, k, lost, -1, -1)
        xs = live[(nn_live > live) & (nn[nn_live] == live)]
        if len(xs) == 0:  # neighbour pointers in a cycle of equal distances
            if full_rescan_done:  # lowest-index neighbours always hold a reciprocal pair
                raise RuntimeError(f"{store.name}: no reciprocal pair after rescanning every "
                                   "row (no finite distance left, or the rows are not a "
                                   "symmetric matrix): stopped instead of looping")
            full_rescan_done = True
            stats.full_rescans += 1
            _rescanned(store.run_round((none, none, np.zeros(0), none, none), k, live),
                       live, nn, nnd, stats)
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
        live = live[alive[live]]
        touched[xs] = True
        touched[ys] = True  # every y is rescanned: its neighbour was x
        rescan = live[touched[nn[live]]]
        touched[xs] = False
        touched[ys] = False
        _rescanned(store.run_round(entries, k, rescan), rescan, nn, nnd, stats)
        stats.rounds += 1
        stats.merges += K
        k += K
        bar.update(K)
    return merges


def _rescanned(found, rescan, nn, nnd, stats) -> None:
    nn_r, d_r = found
    nn[rescan] = nn_r
    nnd[rescan] = d_r
    stats.rescans += len(rescan)
