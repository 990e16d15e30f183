"""Ward on the vector engine by reciprocal-nearest-neighbour rounds over centroids: the host half
that the CPU store (``gpuhclust.cpu._centroid_rows``) and the GPU store
(``gpuhclust.cuda._centroid_rows``) share, on top of the one rounds driver
(``gpuhclust._rounds.rnn_rounds``).

Every cluster is a centroid and a size. The dissimilarity the rounds minimise is the chain's
(``gpuhclust.cpu._vector.ward_steps``, ``kernels/vector.cu``):

    w(A, B) = ||c_A - c_B||^2 * (n_A * n_B / (n_A + n_B)),

the squared distance summed in feature order from 0.0, each term ``t * t`` with
``t = c_A[k] - c_B[k]``; it is symmetric bit for bit (``(a - b)^2 == (b - a)^2``, products and
sums of two sizes commute), so the row of A and the row of B agree on it. The height of a merge
is ``sqrt(2 w)``, the merged centroid ``(n_x c_x + n_y c_y) / (n_x + n_y)`` with x the lower slot,
as in the chain. A merged centroid depends only on its subtree, so on tie-free data the rounds
make the chain's merges with the chain's bits: Z is the same, bit for bit.

The driver's round (``gpuhclust._rounds``) maps onto centroids directly: the merges of a round
touch disjoint pairs (the centroid of y becomes the union's, x dies); a row is "rescanned" by
computing w from its centroid to every live centroid. Tie rule: the driver's (a rescan takes the
lowest slot among equal dissimilarities; a row that is not rescanned keeps its neighbour; a
cycle of equal dissimilarities rescans every live row once). The stores keep the live centroids
in slot order at positions ``[0, width)`` (:class:`CentroidSlots`), so "lowest position" is
"lowest slot", and gather them to the front between rounds once an eighth are dead.
"""
from __future__ import annotations

from dataclasses import asdict

import numpy as np

from ._rounds import RoundStats, rnn_rounds
from ._validation import MergeOverflowError

__all__ = ["CentroidSlots", "ward_rounds", "COMPACT_FRACTION"]

#: Gather the live centroids to the front once this fraction of the positions is dead (a
#: compaction copies every live centroid once, what one rescan reads).
COMPACT_FRACTION = 1 / 8


class CentroidSlots:
    """Where each live cluster's centroid is: original slot <-> position, positions
    ``[0, width)`` in slot order (dead ones have size 0 in the store until compacted)."""

    def __init__(self, n: int):
        self.position = np.arange(n, dtype=np.int64)  # slot -> position (-1: merged away)
        self.slot = np.arange(n, dtype=np.int64)      # position -> slot
        self.width = n
        self.dead = 0

    def merge(self, entries) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Positions of a round's pairs (x, y) and their sizes as float64 (the centroid
        arithmetic's type); x dies."""
        xs, ys, _, na, nb = entries
        px, py = self.position[xs], self.position[ys]
        self.position[xs] = -1
        self.dead += len(xs)
        return px, py, np.asarray(na, dtype=np.float64), np.asarray(nb, dtype=np.float64)

    def positions(self, slots: np.ndarray) -> np.ndarray:
        return self.position[np.asarray(slots, dtype=np.int64)]

    def slots(self, positions: np.ndarray) -> np.ndarray:
        """Original slots of `positions` (-1 stays -1)."""
        return np.where(positions >= 0, self.slot[np.maximum(positions, 0)], -1)

    def compaction(self) -> np.ndarray | None:
        """The positions to keep (ascending), when enough are dead to gather the live ones to
        the front (the maps are updated: the store must move its centroids and sizes
        accordingly); else None."""
        if self.dead < 8 or self.dead < COMPACT_FRACTION * self.width:
            return None
        keep = np.flatnonzero(self.position[self.slot[:self.width]] >= 0)
        self.slot = self.slot[keep]
        self.position[self.slot] = np.arange(len(keep), dtype=np.int64)
        self.width = len(keep)
        self.dead = 0
        return keep


def overflow_error() -> ValueError:
    """The error when no live cluster has a finite dissimilarity left (every engine over
    centroids on the CUDA backend, and the CPU rounds)."""
    return ValueError("engine='vector': every remaining dissimilarity overflowed float64; "
                      "rescale the observations")


def ward_rounds(store, n: int, bar, last_run: dict, **about) -> np.ndarray:
    """Run the rounds on a centroid store; raw merges (slot x, slot y, height) for
    ``gpuhclust._finalise.finalise``. `last_run` receives the statistics (rounds, rescans per
    merge, rows the kept entries settled, scans per merge, pairs computed, compactions) and
    `about`. The store has ``kept`` (None or a ``CentroidKept``), ``pairs`` and
    ``compactions``."""
    stats = RoundStats()
    try:
        merges = rnn_rounds(store, n, bar, stats, "ward", np.float64)
    except MergeOverflowError:  # a cluster with no finite dissimilarity left
        raise overflow_error() from None
    merges[:, 2] = np.sqrt(2.0 * merges[:, 2])  # the chain's height: sqrt(2 w), rounded once
    settled = store.kept.settled if store.kept is not None else 0
    last_run.clear()
    last_run.update(asdict(stats), n=n, method="ward", engine="vector",
                    rescans_per_merge=stats.rescans_per_merge, compactions=store.compactions,
                    pairs=store.pairs, settled_by_kept=settled,
                    scans_per_merge=(stats.rescans - settled) / max(n - 1, 1), **about)
    return merges
