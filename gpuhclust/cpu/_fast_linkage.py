"""Centroid and median linkage: a port of SciPy's ``fast_linkage`` (Müllner's generic algorithm).

Each cluster caches a candidate nearest neighbour among the higher slots and a lower bound of the
distance to it; the global minimum is taken one merge at a time (these methods have inversions,
so no merges can be batched). Two ways to find it, with the same cache and arithmetic otherwise:

* ``'generic'``: the bounds kept in a binary heap with SciPy's exact sift rules: the same heap on
  the same values gives SciPy's merges, ties included;
* ``'tournament'``: the lowest bound over the live slots by a scan, the lowest slot winning a tie
  (the CPU mirror of the CUDA backend's tournament argmin, ``kernels/generic.cu``, whose every
  step is parallel): the same winners as the heap when no two bounds tie, so SciPy's Z on
  tie-free data, and on tied data the same Z as the CUDA backend. A winner at +inf (no finite
  distance left) is a fault, never a merge.
 Rows are brought up to date lazily
through the merge log (see ``_lazy_matrix``); the one column SciPy reads (distances to the new
cluster y) is read from row y instead, which holds the same values by symmetry.
"""
from __future__ import annotations

import numba
import numpy as np

from ._heap import change_value, heapify, remove_min
from ._lazy_matrix import (NO_CANDIDATE, OVERFLOW, first_argmin, merge_and_log, replay,
                           set_fault, write_z_row)


@numba.njit(cache=True, error_model="numpy")
def generic_init(D, keys, nonneg, neighbor, min_dist, heap_values, key_by_index, index_by_key):
    """Nearest higher neighbour of every slot, and the heap over those distances."""
    n = D.shape[0]
    for x in range(n - 1):
        y = first_argmin(D[x], keys[x], x + 1, nonneg)
        neighbor[x] = y
        min_dist[x] = D[x, y] if y >= 0 else np.inf
    heapify(min_dist, heap_values, key_by_index, index_by_key, n - 1)


@numba.njit(cache=True, error_model="numpy")
def tournament_top(min_dist, size, m):
    """The live slot below `m` with the lowest cached bound, the lowest slot winning a tie; when
    no bound is finite, the lowest live slot (NaN never wins)."""
    best = np.inf
    x = -1
    for z in range(m):
        d = min_dist[z]
        if size[z] > 0 and (d < best or (x < 0 and d == best)):
            best = d
            x = z
    return x


@numba.njit(cache=True, error_model="numpy")
def generic_steps(D, keys, nonneg, code, size, cluster_id, log, neighbor, min_dist, heap_values,
                  key_by_index, index_by_key, state, Z, n_obs, k_stop, original, fault,
                  tournament):
    """Merges ``state[0]`` .. `k_stop` - 1 of `n_obs` observations; ``state = [k, heap_size]``.
    With `tournament`, the minimum is :func:`tournament_top`'s and the heap is left alone
    (heap_size 0). Stops early, with `fault` filled in observation numbers
    (``original[slot]``), when the minimum has no finite distance left or a merge's update
    overflows.
    Writes Z rows directly (ids, height, size) in merge order, as SciPy does for these methods.
    The matrix may have been compacted (``_lazy_matrix.Compactor``): slots are its rows,
    `cluster_id` names the cluster in each."""
    n = D.shape[0]
    k = state[0]
    heap_size = state[1]
    while k < k_stop:
        x = 0
        y = 0
        dist = 0.0
        for _ in range(n_obs - k):
            if tournament:
                x = tournament_top(min_dist, size, n - 1)
                dist = min_dist[x]
            else:
                x = key_by_index[0]
                dist = heap_values[0]
            y = neighbor[x]
            replay(D, x, k, log, size[x], code)
            if tournament and not dist < np.inf:
                y = -1
                break
            if y >= 0 and dist == D[x, y]:
                break
            y = first_argmin(D[x], keys[x], x + 1, nonneg)
            dist = D[x, y] if y >= 0 else np.inf
            neighbor[x] = y
            min_dist[x] = dist
            if not tournament:
                change_value(heap_values, key_by_index, index_by_key, heap_size, x, dist)
        if y < 0:
            set_fault(fault, NO_CANDIDATE, k, original[x], -1, -1)
            break
        if not tournament:
            heap_size = remove_min(heap_values, key_by_index, index_by_key, heap_size)

        replay(D, y, k, log, size[y], code)
        id_x = cluster_id[x]
        id_y = cluster_id[y]
        nx = size[x]
        ny = size[y]
        write_z_row(Z, k, id_x, id_y, dist, np.float64(nx + ny))
        over = merge_and_log(D, code, x, y, dist, size, k, log)
        cluster_id[y] = n_obs + k
        k += 1
        if over >= 0:
            set_fault(fault, OVERFLOW, k - 1, original[x], original[y], original[over])
            break

        for z in range(x):
            if size[z] > 0 and neighbor[z] == x:
                neighbor[z] = y
        row_y = D[y]
        for z in range(y):
            if size[z] == 0:
                continue
            d = row_y[z]
            if d < min_dist[z]:
                neighbor[z] = y
                min_dist[z] = d
                if not tournament:
                    change_value(heap_values, key_by_index, index_by_key, heap_size, z, d)
        if y < n - 1:
            z = first_argmin(row_y, keys[y], y + 1, nonneg)
            if z != -1:
                neighbor[y] = z
                min_dist[y] = row_y[z]
                if not tournament:
                    change_value(heap_values, key_by_index, index_by_key, heap_size, y,
                                  min_dist[y])
    state[0] = k
    state[1] = heap_size


@numba.njit(cache=True, error_model="numpy")
def renumber(new_slot, neighbor, heap_size, key_by_index, index_by_key):
    """Rename the slots in the nearest-neighbour cache and the heap keys after a compaction
    (``new_slot[old]``, -1 for the dead). Heap positions and values stay, so the heap evolves
    exactly as before: its sift rules compare values only. Only live slots are in the heap (a
    merged-away slot left it as the minimum)."""
    for pos in range(heap_size):
        key = new_slot[key_by_index[pos]]
        key_by_index[pos] = key
        index_by_key[key] = pos
    for i in range(neighbor.shape[0]):
        if neighbor[i] >= 0:
            neighbor[i] = new_slot[neighbor[i]]
