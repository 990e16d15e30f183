"""Centroid and median linkage: a port of SciPy's ``fast_linkage`` (Müllner's generic algorithm).

Each cluster caches a candidate nearest neighbour among the higher slots and a lower bound of the
distance to it; the global minimum is taken one merge at a time (these methods have inversions,
so no merges can be batched). Two ways to find it, with the same cache and arithmetic otherwise:

* ``'generic'``: the bounds kept in a binary heap with SciPy's exact sift rules: the same heap on
  the same values gives SciPy's merges, ties included;
* ``'tournament'``: the lowest bound over the live slots, the lowest slot winning a tie, from
  the tops of blocks of slots that a merge's pass (in chunks over the threads) and a rescan
  keep up to date (the CPU mirror of the CUDA backend's tournament argmin,
  ``kernels/generic.cu``, whose every step is parallel): the same winners as the heap when
  no two bounds tie, so SciPy's Z on tie-free data, and on tied data the same Z as the CUDA
  backend. A winner at +inf (no finite distance left) is a fault, never a merge.
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


TOP_BLOCK = 256  # slots per block of the tournament: a rescan recomputes one block's top


@numba.njit(cache=True, error_model="numpy")
def _update_blocks(row_y, x, y, size, neighbor, min_dist, m, b0, b1, block_value, block_top):
    """For the blocks ``b0:b1`` of the live slots below `m`: the rows below `y` (where x merged
    into y; -1: none) redirected from x to y and taking y where it is nearer (`row_y`), then
    each block's top: its live slot with the lowest cached bound, the lowest slot winning a tie;
    when no bound is finite, the lowest live slot (NaN never wins); -1 when none."""
    for b in range(b0, b1):
        best = np.inf
        top = -1
        for z in range(b * TOP_BLOCK, min(m, (b + 1) * TOP_BLOCK)):
            if size[z] > 0:
                if z < y:
                    if neighbor[z] == x:  # only below x: a neighbour is a higher slot
                        neighbor[z] = y
                    d = row_y[z]
                    if d < min_dist[z]:
                        neighbor[z] = y
                        min_dist[z] = d
                v = min_dist[z]
                if v < best or (top < 0 and v == best):
                    best = v
                    top = z
        block_value[b] = best
        block_top[b] = top


@numba.njit(cache=True, error_model="numpy", parallel=True)
def _update_blocks_parallel(row_y, x, y, size, neighbor, min_dist, m, b1, block_value,
                            block_top, nchunks):
    step = (b1 + nchunks - 1) // nchunks
    for c in numba.prange(nchunks):
        _update_blocks(row_y, x, y, size, neighbor, min_dist, m, min(b1, c * step),
                       min(b1, (c + 1) * step), block_value, block_top)


@numba.njit(cache=True, error_model="numpy")
def tournament_top(block_value, block_top):
    """The top over the blocks' tops (see :func:`_update_blocks`), in slot order: the same
    slot as one scan over the live slots."""
    best = np.inf
    x = -1
    for b in range(block_top.shape[0]):
        t = block_top[b]
        if t >= 0 and (block_value[b] < best or (x < 0 and block_value[b] == best)):
            best = block_value[b]
            x = t
    return x


@numba.njit(cache=True, error_model="numpy")
def generic_steps(D, keys, nonneg, code, size, cluster_id, log, neighbor, min_dist, heap_values,
                  key_by_index, index_by_key, state, Z, n_obs, k_stop, original, fault,
                  tournament, nchunks, parallel_min):
    """Merges ``state[0]`` .. `k_stop` - 1 of `n_obs` observations; ``state = [k, heap_size]``.
    With `tournament`, the minimum is :func:`tournament_top`'s over the tops of blocks of
    TOP_BLOCK slots and the heap is left alone (heap_size 0); the rows below the merged slot
    and their blocks are brought up to date in `nchunks` chunks over the threads when there are
    `parallel_min` or more (the same Z whatever the two). Stops early, with `fault` filled in
    observation numbers (``original[slot]``), when the minimum has no finite distance left or a
    merge's update overflows.
    Writes Z rows directly (ids, height, size) in merge order, as SciPy does for these methods.
    The matrix may have been compacted (``_lazy_matrix.Compactor``): slots are its rows,
    `cluster_id` names the cluster in each."""
    n = D.shape[0]
    k = state[0]
    heap_size = state[1]
    nblocks = (n - 1 + TOP_BLOCK - 1) // TOP_BLOCK  # the last slot has no cache
    block_value = np.empty(nblocks)
    block_top = np.empty(nblocks, dtype=np.int64)
    none = np.int64(-1)
    if tournament:
        _update_blocks(D[0], none, none, size, neighbor, min_dist, n - 1, np.int64(0), nblocks,
                       block_value, block_top)
    while k < k_stop:
        x = 0
        y = 0
        dist = 0.0
        for _ in range(n_obs - k):
            if tournament:
                x = tournament_top(block_value, block_top)
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
            if tournament:
                b = x // TOP_BLOCK
                _update_blocks(D[0], none, none, size, neighbor, min_dist, n - 1, b, b + 1,
                               block_value, block_top)
            else:
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

        row_y = D[y]
        if tournament:
            if y < n - 1:
                z = first_argmin(row_y, keys[y], y + 1, nonneg)
                if z != -1:
                    neighbor[y] = z
                    min_dist[y] = row_y[z]
            b1 = min(nblocks, y // TOP_BLOCK + 1)  # the blocks above y's are unchanged
            if nchunks > 1 and y >= parallel_min:
                _update_blocks_parallel(row_y, x, y, size, neighbor, min_dist, n - 1, b1,
                                        block_value, block_top, nchunks)
            else:
                _update_blocks(row_y, x, y, size, neighbor, min_dist, n - 1, np.int64(0), b1,
                               block_value, block_top)
            continue
        for z in range(x):
            if size[z] > 0 and neighbor[z] == x:
                neighbor[z] = y
        for z in range(y):
            if size[z] == 0:
                continue
            d = row_y[z]
            if d < min_dist[z]:
                neighbor[z] = y
                min_dist[z] = d
                change_value(heap_values, key_by_index, index_by_key, heap_size, z, d)
        if y < n - 1:
            z = first_argmin(row_y, keys[y], y + 1, nonneg)
            if z != -1:
                neighbor[y] = z
                min_dist[y] = row_y[z]
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
