"""The CPU backend's merge loops in NumPy, one vectorised pass per merge on the square matrix D
(+inf on the diagonal), each the eager form of its compiled counterpart:

* :func:`prim` is ``gpuhclust.cpu._mst.mst_steps_matrix`` (SciPy's Prim, SciPy's ties);
* :class:`EagerRows` is the rounds' row store (``gpuhclust._rounds``; compiled:
  ``gpuhclust.cpu._round_rows``). The compiled rows replay the merge log lazily; here every log
  entry is applied at once to row y and, by symmetry, to column y. A lazy replay of entry k
  computes the same Lance-Williams expression on the same operands (row i's distances to x
  and y, both up to entry k; ward's size of i as after the entries before k), so every value
  is the same bits;
* :func:`tournament` is ``gpuhclust.cpu._fast_linkage.generic_steps`` with
  ``tournament=True`` (centroid and median): the lowest cached bound over the live slots, the
  lowest slot winning a tie.

A cluster keeps the higher slot of a merge and slots are observations (no compaction), so the
faults name observations directly.
"""
from __future__ import annotations

import numpy as np

from .._validation import MergeOverflowError
from ._lance_williams import WARD, WARD_SQUARED, update_row

__all__ = ["first_minima", "prim", "EagerRows", "tournament"]


def first_minima(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each row of `rows` (2-D): the index of its first minimum and the value there; -1 and
    +inf when every entry is +inf or NaN (NaN never wins), as ``_lazy_matrix.first_argmin``."""
    values = np.where(np.isnan(rows), np.inf, rows)
    j = np.argmin(values, axis=1)
    best = values[np.arange(len(values)), j]
    found = best < np.inf
    return np.where(found, j, -1).astype(np.int64), np.where(found, best, np.inf)


def prim(D: np.ndarray, bar) -> np.ndarray:
    """Prim's minimum spanning tree from observation 0: raw merges (x, y, height)."""
    n = D.shape[0]
    best = np.full(n, np.inf)
    merged = np.zeros(n, dtype=bool)
    merges = np.empty((n - 1, 3))
    x = 0
    for k in range(n - 1):
        merged[x] = True
        best[x] = np.inf
        row = D[x]
        relax = ~merged & (best > row)
        best[relax] = row[relax]
        (y,), (height,) = first_minima(best[None, :])
        merges[k] = (x, y, height)
        x = y
        bar.update(1)
    return merges


def _merge(D, code, size, x, y, height, method_name, k):
    """Log entry k: cluster x merges into slot y, row and column y updated, x dead. Raises
    MergeOverflowError where the compiled ``first_overflow`` reports one."""
    nx, ny = size[x], size[y]
    row_x = D[x]
    sizes = size if code in (WARD, WARD_SQUARED) else 0
    new = update_row(code, row_x, D[y], height, nx, ny, sizes)
    over = np.flatnonzero((new == np.inf) & (row_x < np.inf))
    over = over[(over != x) & (over != y)]
    if len(over):
        raise MergeOverflowError.of(True, method_name, np.float64, k, x, y, int(over[0]))
    new[y] = np.inf  # the diagonal (row and column x die below)
    D[y] = new
    D[:, y] = new
    D[x] = np.inf
    D[:, x] = np.inf
    size[y] = nx + ny
    size[x] = 0


class EagerRows:
    """The square matrix `D` (taken over) as a ``gpuhclust._rounds.RowStore``."""

    name = "backend='numpy' (rounds)"

    def __init__(self, D: np.ndarray, method):
        self.D, self.code, self.method_name = D, method.code, method.name
        self.size = np.ones(D.shape[0], dtype=np.int64)

    def scan_all(self):
        return first_minima(self.D)

    def run_round(self, entries, k0: int, rescan: np.ndarray):
        xs, ys, heights = entries[:3]
        for t in range(len(xs)):
            _merge(self.D, self.code, self.size, int(xs[t]), int(ys[t]), heights[t],
                   self.method_name, k0 + t)
        return first_minima(self.D[rescan])


def _first_live_min(values: np.ndarray, live: np.ndarray) -> int:
    """The live slot of the lowest value, the lowest slot winning a tie; when none is finite the
    lowest live slot at +inf; NaN never wins; -1 when none (``_fast_linkage.tournament_top``)."""
    candidate = live & ~np.isnan(values)
    if not candidate.any():
        return -1
    masked = np.where(candidate, values, np.inf)
    x = int(np.argmin(masked))
    return x if masked[x] < np.inf else int(np.argmax(candidate))


def tournament(D: np.ndarray, method, bar) -> np.ndarray:
    """The generic algorithm (centroid, median) with the tournament's minimum: Z rows (cluster
    ids, height, size) in merge order."""
    n = D.shape[0]
    code = method.code
    size = np.ones(n, dtype=np.int64)
    cluster_id = np.arange(n, dtype=np.int64)
    Z = np.empty((n - 1, 4))
    # each slot's candidate nearest higher slot and the bound of its distance (the last slot
    # has none)
    upper = np.where(np.tri(n, dtype=bool), np.inf, D)[:n - 1]
    neighbor, min_dist = first_minima(upper)
    for k in range(n - 1):
        live = size[:n - 1] > 0
        x = y = 0
        dist = 0.0
        for _ in range(n - k):
            x = _first_live_min(min_dist, live)
            dist = min_dist[x]
            y = neighbor[x]
            if not dist < np.inf:
                y = -1
                break
            if y >= 0 and dist == D[x, y]:
                break
            (y,), (dist,) = first_minima(D[x, x + 1:][None, :])
            y = y + x + 1 if y >= 0 else -1
            neighbor[x] = y
            min_dist[x] = dist
        if y < 0:
            raise MergeOverflowError.of(False, method.name, np.float64, k, x, -1, -1)
        nx, ny = size[x], size[y]
        a, b = sorted((cluster_id[x], cluster_id[y]))
        Z[k] = (a, b, dist, nx + ny)
        _merge(D, code, size, x, y, dist, method.name, k)
        cluster_id[y] = n + k
        row_y = D[y]
        if y < n - 1:
            (z,), (d,) = first_minima(row_y[None, y + 1:])
            if z >= 0:
                neighbor[y] = z + y + 1
                min_dist[y] = d
        below = np.flatnonzero(size[:y] > 0)  # the live slots below y (x is dead now)
        neighbor[below[neighbor[below] == x]] = y
        nearer = below[row_y[below] < min_dist[below]]
        neighbor[nearer] = y
        min_dist[nearer] = row_y[nearer]
        bar.update(1)
    return Z
