"""The memory-saving engine for ward, centroid and median: clusters from their centroids and sizes,
O(n*d) memory, no distance matrix (design.md section 2).

Every cluster is a centroid and a size; the distance between clusters A and B is computed when
needed from them:

* ward: sqrt(2 |A||B| / (|A|+|B|)) * ||c_A - c_B|| (the Lance-Williams ward distance);
* centroid: ||c_A - c_B||, the merged centroid is the size-weighted mean;
* median (WPGMC): ||c_A - c_B||, the merged "centroid" is the midpoint (c_A + c_B) / 2.

Ward is reducible, so it runs the nearest-neighbour chain with SciPy's tie rules (the chain starts
at the lowest live slot, the previous chain element wins a tie, else the lowest slot; the merged
cluster takes the higher slot). Centroid and median are not (inversions): they take the global
minimum at every step with a nearest-neighbour cache over the higher slots, by default kept
exact and searched by a tournament (the lowest slot wins a tie; the section at the end, the
CUDA backend's twin), or with SciPy's binary heap ('generic'), which is SciPy's
``fast_linkage`` (Muellner's generic algorithm) with distances computed from centroids instead
of read from a matrix.

Comparisons use squared quantities (``||c_A - c_B||^2``, ward's ``|A||B|/(|A|+|B|) *
||c_A - c_B||^2``), computed symmetrically so that d(a, b) and d(b, a) are the same bits; heights
are their square roots. The live clusters are kept compacted, centroids features first and in slot
order (so "first minimum" is still "lowest slot"); a dead slot has size 0 and is swept out once
the dead are 1/32 of the slots.
"""
from __future__ import annotations

import math

import numba
import numpy as np

from .._centroid_rounds import overflow_error
from .._engines import centroid_frame, check_vector_scale
from .._progress import chunk_ends
from ._distances import BLOCK, SQEUCLIDEAN, block_distances_cols
from ._heap import change_value, heapify, remove_min
from ._lance_williams import MEDIAN, WARD
from ._mst import COMPACT_EVERY, PARALLEL_MIN, compact_columns
from ._lazy_matrix import first_argmin, write_z_row



# -- distances between centroids ---------------------------------------------------------------


@numba.njit(cache=True, error_model="numpy", inline="always")
def sq_block(Ct, cx, b0, b1, acc):
    """Squared distances from the centroid ``cx[0]`` (shape (1, d)) to columns ``b0:b1`` of
    `Ct` into `acc`, summed in feature order (the pdist kernel)."""
    # Arguments typed as the minimum spanning tree's Euclidean scans type them (the metric a
    # literal, plain int64 indices, writable arrays), so the shared kernel compiles once: a
    # global array is a read-only constant to Numba, a variant of its own. Empty views of `acc`
    # and `Ct` cost no allocation.
    empty = acc[:0]
    block_distances_cols(SQEUCLIDEAN, cx, np.int64(0), Ct, empty,
                         np.empty(0, dtype=np.int64), b0, b1, acc, 2.0, empty, empty, Ct[:0])


@numba.njit(cache=True, error_model="numpy")
def _add_squares(s, t0, t1, t2, t3):
    """``s`` plus the four squares, added one at a time in this order (no FMA)."""
    s += t0 * t0
    s += t1 * t1
    s += t2 * t2
    s += t3 * t3
    return s


@numba.njit(cache=True, error_model="numpy", inline="always")
def sq_block_pair(Ct, x, y, b0, b1, acc_x, acc_y):
    """:func:`sq_block` for two centroids `x` and `y` (shape (d,)) at once, into `acc_x` and
    `acc_y`, bit for bit: each column is loaded once for both, and each sum still runs in
    feature order, four features per pass as in the pdist kernel."""
    m = b1 - b0
    d = Ct.shape[0]
    a = acc_x[:m]
    c = acc_y[:m]
    a[:] = 0.0
    c[:] = 0.0
    k = 0
    while k + 4 <= d:
        x0, x1, x2, x3 = x[k], x[k + 1], x[k + 2], x[k + 3]
        y0, y1, y2, y3 = y[k], y[k + 1], y[k + 2], y[k + 3]
        r0 = Ct[k, b0:b1]
        r1 = Ct[k + 1, b0:b1]
        r2 = Ct[k + 2, b0:b1]
        r3 = Ct[k + 3, b0:b1]
        for jj in range(m):
            v0, v1, v2, v3 = r0[jj], r1[jj], r2[jj], r3[jj]
            a[jj] = _add_squares(a[jj], x0 - v0, x1 - v1, x2 - v2, x3 - v3)
            c[jj] = _add_squares(c[jj], y0 - v0, y1 - v1, y2 - v2, y3 - v3)
        k += 4
    while k < d:
        xk = x[k]
        yk = y[k]
        row = Ct[k, b0:b1]
        for jj in range(m):
            t = xk - row[jj]
            a[jj] += t * t
            t = yk - row[jj]
            c[jj] += t * t
        k += 1


@numba.njit(cache=True, error_model="numpy")
def _scan_range(Ct, sz, cx, nx, ward, skip, j0, j1, acc, vals, keys):
    """Dissimilarities from a cluster (centroid `cx`, size `nx`) to the live columns ``j0:j1``
    into ``vals`` (+inf for dead ones and for position `skip`); position of the first minimum,
    or -1 when none is finite."""
    if j0 >= j1:
        return -1
    for b0 in range(j0, j1, BLOCK):
        b1 = min(j1, b0 + BLOCK)
        sq_block(Ct, cx, b0, b1, acc)
        if ward:
            for jj in range(b1 - b0):
                s = sz[b0 + jj]
                w = acc[jj] * (nx * s / (nx + s))
                vals[b0 + jj] = w if s > 0.0 else np.inf
        else:
            for jj in range(b1 - b0):
                vals[b0 + jj] = acc[jj] if sz[b0 + jj] > 0.0 else np.inf
    if j0 <= skip < j1:
        vals[skip] = np.inf
    i = first_argmin(vals[j0:j1], keys[j0:j1], 0, True)
    return i + j0 if i >= 0 else -1


@numba.njit(cache=True, error_model="numpy", parallel=True)
def _scan_parallel(Ct, sz, cx, nx, ward, skip, j0, j1, acc, vals, keys, chunk_pos):
    nchunks = chunk_pos.shape[0]
    step = (j1 - j0 + nchunks - 1) // nchunks
    step = (step + BLOCK - 1) // BLOCK * BLOCK
    for c in numba.prange(nchunks):
        chunk_pos[c] = _scan_range(Ct, sz, cx, nx, ward, skip, min(j1, j0 + c * step),
                                   min(j1, j0 + (c + 1) * step), acc[c], vals, keys)


@numba.njit(cache=True, error_model="numpy")
def _scan(Ct, sz, cx, nx, ward, skip, j0, j1, acc, vals, keys, chunk_pos, live):
    """First minimum over positions ``j0:j1`` (see `_scan_range`), in parallel when there are
    at least PARALLEL_MIN `live` clusters."""
    if chunk_pos.shape[0] > 1 and live >= PARALLEL_MIN and j1 - j0 >= PARALLEL_MIN:
        _scan_parallel(Ct, sz, cx, nx, ward, skip, j0, j1, acc, vals, keys, chunk_pos)
        q = -1
        for c in range(chunk_pos.shape[0]):
            r = chunk_pos[c]
            if r >= 0 and (q < 0 or vals[r] < vals[q]):
                q = r
        return q
    return _scan_range(Ct, sz, cx, nx, ward, skip, j0, j1, acc[0], vals, keys)


@numba.njit(cache=True, error_model="numpy")
def _merge_step(Z, k, Ct, sz, pos_of, cluster_id, x, y, dist, n, code):
    """Merge k of the loops over centroids: cluster x (slot) into y at squared distance
    `dist`: Z's row, the merged centroid and size in y's column, x's column dead."""
    px = pos_of[x]
    py = pos_of[y]
    nx = sz[px]
    ny = sz[py]
    write_z_row(Z, k, cluster_id[x], cluster_id[y], math.sqrt(dist), np.float64(nx + ny))
    merge_centroids(Ct, px, py, nx, ny, code)
    sz[py] = nx + ny
    sz[px] = 0.0
    cluster_id[y] = n + k


@numba.njit(cache=True, error_model="numpy", inline="always")
def merge_centroids(Ct, pa, pb, na, nb, code):
    """The merged cluster's centroid into column `pb`."""
    for k in range(Ct.shape[0]):
        if code == MEDIAN:
            Ct[k, pb] = (Ct[k, pa] + Ct[k, pb]) * 0.5
        else:
            Ct[k, pb] = (na * Ct[k, pa] + nb * Ct[k, pb]) / (na + nb)


@numba.njit(cache=True, error_model="numpy")
def _compact(Ct, sz, slot, pos_of, m):
    keep = np.empty(m, dtype=np.uint8)
    for j in range(m):
        keep[j] = sz[j] > 0.0
    w = compact_columns(keep, m, Ct, (sz,))
    compact_columns(keep, m, Ct[:0], (slot,))
    for j in range(w):
        pos_of[slot[j]] = j
    return w


def new_state(X: np.ndarray, nchunks: int):
    """Caller-owned working arrays for :func:`ward_steps` / :func:`generic_steps`:
    ``(Ct, sz, slot, pos_of, vals, acc, chunk_pos)``."""
    n = X.shape[0]
    Ct = np.array(X.T, dtype=np.float64, order="C")  # a copy even when X.T is contiguous (d=1)
    sz = np.ones(n)
    slot = np.arange(n, dtype=np.int64)
    pos_of = np.arange(n, dtype=np.int64)
    vals = np.full(n, np.inf)
    acc = np.empty((max(1, nchunks), BLOCK))
    chunk_pos = np.empty(max(1, nchunks), dtype=np.int64)
    return Ct, sz, slot, pos_of, vals, acc, chunk_pos


# -- ward: nearest-neighbour chain -------------------------------------------------------------
@numba.njit(cache=True, error_model="numpy")
def ward_steps(Ct, sz, slot, pos_of, vals, acc, chunk_pos, chain, state, merges, k_stop):
    """NN-chain merges ``state[0]`` .. `k_stop` - 1 over centroids; ``state = [k, chain length,
    m (compacted columns), dead]``, optionally followed by two counters (queries made,
    positions they scanned). Writes raw (slot_a, slot_b, height) merges for finalise.
    Returns False when every dissimilarity overflowed to +inf (no finite minimum)."""
    keys = vals.view(np.int64)
    d = Ct.shape[0]
    cx = np.empty((1, d))
    k = state[0]
    cl = state[1]
    m = state[2]
    dead = state[3]
    ok = True
    while k < k_stop:
        if cl == 0:
            for p in range(m):
                if sz[p] > 0.0:
                    chain[0] = slot[p]
                    break
            cl = 1
        x = 0
        y = 0
        wmin = 0.0
        while True:
            x = chain[cl - 1]
            px = pos_of[x]
            for t in range(d):
                cx[0, t] = Ct[t, px]
            q = _scan(Ct, sz, cx, sz[px], True, px, np.int64(0), m, acc, vals, keys, chunk_pos, m - dead)
            if state.shape[0] > 5:  # counters (benchmarks): queries, positions they scanned
                state[4] += 1
                state[5] += m
            if q < 0:
                ok = False
                break
            y = slot[q]
            wmin = vals[q]
            if cl > 1:
                prev = chain[cl - 2]
                if vals[pos_of[prev]] == wmin:  # the previous element wins a tie
                    y = prev
                    break
            chain[cl] = y
            cl += 1
        if not ok:
            break
        cl -= 2
        a = min(x, y)
        b = max(x, y)
        pa = pos_of[a]
        pb = pos_of[b]
        na = sz[pa]
        nb = sz[pb]
        merges[k, 0] = a
        merges[k, 1] = b
        merges[k, 2] = math.sqrt(2.0 * wmin)
        merge_centroids(Ct, pa, pb, na, nb, WARD)
        sz[pb] = na + nb
        sz[pa] = 0.0
        dead += 1
        k += 1
        if dead * COMPACT_EVERY >= m and dead >= 8:
            m = _compact(Ct, sz, slot, pos_of, m)
            dead = 0
    state[0] = k
    state[1] = cl
    state[2] = m
    state[3] = dead
    return ok


# -- centroid, median: generic algorithm -------------------------------------------------------
@numba.njit(cache=True, error_model="numpy")
def _init_range(Ct, sz, x, acc, neighbor, min_dist, cx):
    n = Ct.shape[1]
    for t in range(Ct.shape[0]):
        cx[0, t] = Ct[t, x]
    best = np.inf
    arg = -1
    for b0 in range(x + 1, n, BLOCK):
        b1 = min(n, b0 + BLOCK)
        sq_block(Ct, cx, b0, b1, acc)
        for jj in range(b1 - b0):
            if acc[jj] < best:
                best = acc[jj]
                arg = b0 + jj
    neighbor[x] = arg
    min_dist[x] = best


@numba.njit(cache=True, error_model="numpy", parallel=True)
def generic_init(Ct, sz, neighbor, min_dist, heap_values, key_by_index, index_by_key):
    """Nearest higher neighbour of every slot (all live, slots == positions), and the heap."""
    n = Ct.shape[1]
    half = (n - 1 + 1) // 2
    for t in numba.prange(half):
        acc = np.empty(BLOCK)
        cx = np.empty((1, Ct.shape[0]))
        _init_range(Ct, sz, np.int64(t), acc, neighbor, min_dist, cx)
        if n - 2 - t != t:
            _init_range(Ct, sz, n - 2 - t, acc, neighbor, min_dist, cx)
    heapify(min_dist, heap_values, key_by_index, index_by_key, n - 1)


@numba.njit(cache=True, error_model="numpy")
def _update_range(Ct, sz, slot, cy, x, y, neighbor, min_dist, j0, j1, acc, cand):
    """For the live clusters z at positions ``j0:j1`` (all below y): redirect a neighbour x to
    y, and take y as the neighbour where it is closer than the cached distance; those z are
    listed in ``cand[j0:]`` in order. Returns how many."""
    cnt = 0
    for b0 in range(j0, j1, BLOCK):
        b1 = min(j1, b0 + BLOCK)
        sq_block(Ct, cy, b0, b1, acc)
        for jj in range(b1 - b0):
            p = b0 + jj
            if sz[p] > 0.0:
                z = slot[p]
                if neighbor[z] == x:
                    neighbor[z] = y
                dz = acc[jj]
                if dz < min_dist[z]:
                    neighbor[z] = y
                    min_dist[z] = dz
                    cand[j0 + cnt] = z
                    cnt += 1
    return cnt


@numba.njit(cache=True, error_model="numpy", parallel=True)
def _update_parallel(Ct, sz, slot, cy, x, y, neighbor, min_dist, j1, acc, cand, starts, counts):
    nchunks = counts.shape[0]
    step = (j1 + nchunks - 1) // nchunks
    step = (step + BLOCK - 1) // BLOCK * BLOCK
    for c in numba.prange(nchunks):
        starts[c] = min(j1, c * step)
        counts[c] = _update_range(Ct, sz, slot, cy, x, y, neighbor, min_dist, starts[c],
                                  min(j1, (c + 1) * step), acc[c], cand)


@numba.njit(cache=True, error_model="numpy")
def _pair_sq(Ct, pa, pb):
    s = 0.0
    for k in range(Ct.shape[0]):
        t = Ct[k, pa] - Ct[k, pb]
        s += t * t
    return s


@numba.njit(cache=True, error_model="numpy")
def generic_steps(Ct, sz, slot, pos_of, vals, acc, chunk_pos, code, cluster_id, neighbor,
                  min_dist, heap_values, key_by_index, index_by_key, cand, state, Z, k_stop):
    """Merges ``state[0]`` .. `k_stop` - 1; ``state = [k, heap size, m, dead]``. Writes Z rows
    (ids, height, size) in merge order, as SciPy does for centroid and median."""
    n = cluster_id.shape[0]
    keys = vals.view(np.int64)
    d = Ct.shape[0]
    cv = np.empty((1, d))
    nchunks = chunk_pos.shape[0]
    starts = np.empty(nchunks, dtype=np.int64)
    counts = np.empty(nchunks, dtype=np.int64)
    k = state[0]
    heap_size = state[1]
    m = state[2]
    dead = state[3]
    while k < k_stop:
        x = 0
        y = 0
        dist = 0.0
        for _ in range(n - k):
            x = key_by_index[0]
            dist = heap_values[0]
            y = neighbor[x]
            if y >= 0 and dist == _pair_sq(Ct, pos_of[x], pos_of[y]):
                break
            px = pos_of[x]
            for t in range(d):
                cv[0, t] = Ct[t, px]
            q = _scan(Ct, sz, cv, sz[px], False, np.int64(-1), px + 1, m, acc, vals, keys, chunk_pos,
                      m - dead)
            y = slot[q] if q >= 0 else -1
            dist = vals[q] if q >= 0 else np.inf
            neighbor[x] = y
            min_dist[x] = dist
            change_value(heap_values, key_by_index, index_by_key, heap_size, x, dist)
        heap_size = remove_min(heap_values, key_by_index, index_by_key, heap_size)

        _merge_step(Z, k, Ct, sz, pos_of, cluster_id, x, y, dist, n, code)
        py = pos_of[y]  # the merged cluster's column
        dead += 1
        k += 1

        for t in range(d):
            cv[0, t] = Ct[t, py]
        if nchunks > 1 and m - dead >= PARALLEL_MIN and py >= PARALLEL_MIN:
            _update_parallel(Ct, sz, slot, cv, x, y, neighbor, min_dist, py, acc, cand, starts,
                             counts)
        else:
            starts[0] = 0
            counts[0] = _update_range(Ct, sz, slot, cv, x, y, neighbor, min_dist, np.int64(0), py, acc[0],
                                      cand)
            for c in range(1, nchunks):
                counts[c] = 0
        for c in range(nchunks):
            for i in range(counts[c]):
                z = cand[starts[c] + i]
                change_value(heap_values, key_by_index, index_by_key, heap_size, z,
                              min_dist[z])
        if y < n - 1:
            q = _scan(Ct, sz, cv, sz[py], False, np.int64(-1), py + 1, m, acc, vals, keys, chunk_pos,
                      m - dead)
            if q >= 0:
                neighbor[y] = slot[q]
                min_dist[y] = vals[q]
                change_value(heap_values, key_by_index, index_by_key, heap_size, y,
                              min_dist[y])
        if dead * COMPACT_EVERY >= m and dead >= 8:
            m = _compact(Ct, sz, slot, pos_of, m)
            dead = 0
    state[0] = k
    state[1] = heap_size
    state[2] = m
    state[3] = dead


# -- centroid, median: the tournament ----------------------------------------------------------
# The generic algorithm's nearest-neighbour cache with the global minimum found by a tournament
# (the CUDA backend's twin: kernels/vector.cu). Every live slot z holds (min_dist[z],
# neighbor[z]) over the live slots above it, either EXACT (the least (squared distance, slot):
# the lowest slot wins a tie; +inf and -1 when none is finite) or STALE (min_dist[z] only a lower
# bound). After x merges into y: a row pointing at x or y, or stale, takes y if y is strictly
# nearer than its bound (then exact: every other slot is at least the bound away), else it is
# stale; an exact row takes y where it is nearer, or as near and a lower slot; y's own row is
# scanned. The merge is the least (min_dist, slot) over the live slots when that row is exact;
# when it is stale, every stale row below the least exact one, (min_dist, slot) < (v, s), is
# rescanned at once (one pass over the centroids for all of them on the GPU), and then the least
# row is exact. So each merge is the global minimum pair, the lowest slot x winning a tie (y the
# lowest among x's nearest): SciPy's merge on tie-free data (its heap finds the same global
# minimum), and the same Z on CPU and GPU, ties included, however the work is split.
#
# On the CPU, each merge is one pass over the live positions, split into chunks of positions
# over the threads from PARALLEL_MIN live clusters on (the generic algorithm's rule for its
# per-merge pass: below it a parallel region costs more than the pass): y's squared distance to
# every one, the rows below y updated, y's nearest above it, and the next tournament over the
# updated rows. Each chunk keeps its first minima and the chunks are combined in order with a
# strict '<': positions are in slot order, so the lowest slot wins a tie however many chunks
# there are. The pass also lists the stale rows that come before the least exact row seen so
# far in their chunk: the rows a rescan needs are among them (the least exact row over all
# is no later than any chunk's). A pass's rescans are independent: every chunk takes a range
# of columns (about as many pairs each) for all the rows at once; and afterwards the least row
# is the least of the rows rescanned and the least exact one, with no other pass.


INIT_ROWS = 8  # rows per pass over the columns at the start: each block is read once for them


@numba.njit(cache=True, error_model="numpy")
def _rescan_tile(Ct, sz, slot, neighbor, min_dist, stale, p0, p1, m, acc):
    """The rows at positions ``p0:p1`` exact, in one pass over the columns above them."""
    nrows = p1 - p0
    d = Ct.shape[0]
    rows_pos = np.arange(p0, p1)
    cq = np.empty((nrows, 1, d))
    for i in range(nrows):
        for t in range(d):
            cq[i, 0, t] = Ct[t, p0 + i]
    found_p = np.empty((nrows, 1), dtype=np.int64)
    found_v = np.empty((nrows, 1))
    _rescan_columns(Ct, sz, cq, rows_pos, p0 + 1, m, acc, found_p, found_v, np.int64(0))
    for i in range(nrows):
        z = slot[p0 + i]
        q = found_p[i, 0]
        neighbor[z] = slot[q] if q >= 0 else -1
        min_dist[z] = found_v[i, 0]
        stale[z] = 0


@numba.njit(cache=True, error_model="numpy", parallel=True)
def tournament_init(Ct, sz, slot, neighbor, min_dist, stale):
    """Every slot's nearest higher neighbour, exact (all live; slots == positions)."""
    n = Ct.shape[1]
    tiles = (n + INIT_ROWS - 1) // INIT_ROWS
    # tiles t and tiles-1-t together: every iteration scans about as many pairs
    for i in numba.prange((tiles + 1) // 2):
        acc = np.empty(BLOCK)
        t = np.int64(i)  # a signed index: one compiled variant of _rescan_tile
        u = tiles - 1 - t
        _rescan_tile(Ct, sz, slot, neighbor, min_dist, stale, t * INIT_ROWS,
                     min(n, (t + 1) * INIT_ROWS), n, acc)
        if u != t:
            _rescan_tile(Ct, sz, slot, neighbor, min_dist, stale, u * INIT_ROWS,
                         min(n, (u + 1) * INIT_ROWS), n, acc)


@numba.njit(cache=True, error_model="numpy")
def _pass_range(Ct, sz, slot, neighbor, min_dist, stale, cq, x, y, py, j0, j1, acc, listed,
                part_p, part_v, c):
    """Chunk `c` of a merge's pass: the live positions ``j0:j1`` but `py` (where x merged into y;
    `py` = -1: no merge, the tournament alone). Below py, a row's cache takes y's squared
    distance ``cq[0]`` to it; above, y's first nearest, ``part_p[c, 0]`` (position) and
    ``part_v[c, 0]``; over all, after the update, the least (min_dist, slot) row and the least
    exact row (slots ``part_p[c, 1]``, ``part_p[c, 2]``, values ``part_v[c, 1]``, ``part_v[c, 2]``)
    and the stale rows below the least exact row before them: ``part_p[c, 3]`` slots from
    ``listed[j0]`` on (``part_p[c, 4]`` = j0)."""
    near = -1
    near_v = np.inf
    top = -1
    top_v = np.inf
    exact = -1
    exact_v = np.inf
    count = 0
    for b0 in range(j0, j1, BLOCK):
        b1 = min(j1, b0 + BLOCK)
        if py >= 0:
            sq_block(Ct, cq, b0, b1, acc)
        for jj in range(b1 - b0):
            p = b0 + jj
            if sz[p] > 0.0 and p != py:
                z = slot[p]
                if p < py:
                    nz = neighbor[z]
                    s = acc[jj]
                    if stale[z] or nz == x or nz == y:
                        if s < min_dist[z]:
                            neighbor[z] = y
                            min_dist[z] = s
                            stale[z] = 0
                        else:
                            stale[z] = 1
                    elif s < min_dist[z] or (s == min_dist[z] and y < nz):
                        neighbor[z] = y
                        min_dist[z] = s
                elif py >= 0 and acc[jj] < near_v:
                    near_v = acc[jj]
                    near = p
                v = min_dist[z]
                if v < top_v:
                    top_v = v
                    top = z
                if stale[z] == 0:
                    if v < exact_v:
                        exact_v = v
                        exact = z
                elif v < exact_v:
                    listed[j0 + count] = z
                    count += 1
    part_p[c, 0] = near
    part_v[c, 0] = near_v
    part_p[c, 1] = top
    part_v[c, 1] = top_v
    part_p[c, 2] = exact
    part_v[c, 2] = exact_v
    part_p[c, 3] = count
    part_p[c, 4] = j0


@numba.njit(cache=True, error_model="numpy", parallel=True)
def _pass_parallel(Ct, sz, slot, neighbor, min_dist, stale, cq, x, y, py, m, acc, listed,
                   part_p, part_v):
    nchunks = part_p.shape[0]
    step = (m + nchunks - 1) // nchunks
    step = (step + BLOCK - 1) // BLOCK * BLOCK
    for c in numba.prange(nchunks):
        j0 = min(m, c * step)
        _pass_range(Ct, sz, slot, neighbor, min_dist, stale, cq, x, y, py, j0, min(m, j0 + step),
                    acc[c], listed, part_p, part_v, np.int64(c))


@numba.njit(cache=True, error_model="numpy")
def _merge_pass(Ct, sz, slot, neighbor, min_dist, stale, cq, x, y, py, m, acc, listed, part_p,
                part_v, parallel):
    """The pass after x merged into y at position `py` (-1: none), in chunks over the threads
    when `parallel`: the cache updated, y's own row, and the slots of the least (min_dist, slot)
    row over the live ones and over the exact ones (-1 when none is finite)."""
    if parallel:
        _pass_parallel(Ct, sz, slot, neighbor, min_dist, stale, cq, x, y, py, m, acc, listed,
                       part_p, part_v)
    else:
        _pass_range(Ct, sz, slot, neighbor, min_dist, stale, cq, x, y, py, np.int64(0), m,
                    acc[0], listed, part_p, part_v, np.int64(0))
        for c in range(1, part_p.shape[0]):
            part_p[c, 3] = 0
    # the later chunks' minima folded into chunk 0's, in position order: first minima
    for c in range(1, part_p.shape[0] if parallel else 1):
        for k in range(3):  # y's nearest above it, the least row, the least exact row
            if part_v[c, k] < part_v[0, k]:
                part_v[0, k] = part_v[c, k]
                part_p[0, k] = part_p[c, k]
    near, near_v = part_p[0, 0], part_v[0, 0]
    top, top_v = part_p[0, 1], part_v[0, 1]
    exact, exact_v = part_p[0, 2], part_v[0, 2]
    if py >= 0:  # y's row, exact, in its place in slot order
        neighbor[y] = slot[near] if near >= 0 else -1
        min_dist[y] = near_v
        stale[y] = 0
        if near_v < top_v or (near_v == top_v and y < top):
            top = y
        if near_v < exact_v or (near_v == exact_v and y < exact):
            exact = y
    return top, exact


@numba.njit(cache=True, error_model="numpy")
def _pairs_before(rows_pos, j):
    """How many (row, column) pairs with a column below j the rescans of the rows at positions
    `rows_pos` scan (each row the columns above it)."""
    total = 0
    for i in range(rows_pos.shape[0]):
        if j > rows_pos[i] + 1:
            total += j - rows_pos[i] - 1
    return total


@numba.njit(cache=True, error_model="numpy")
def _split_columns(rows_pos, m, bounds):
    """Column bounds ``bounds[c]:bounds[c+1]`` of the chunks of a pass of rescans, each chunk
    about as many pairs (`rows_pos` ascending)."""
    nchunks = bounds.shape[0] - 1
    total = _pairs_before(rows_pos, m)
    bounds[0] = rows_pos[0] + 1
    bounds[nchunks] = m
    for c in range(1, nchunks):
        target = total * c // nchunks
        lo = bounds[c - 1]
        hi = m
        while lo < hi:  # the first column with `target` pairs before it
            mid = (lo + hi) // 2
            if _pairs_before(rows_pos, mid) >= target:
                hi = mid
            else:
                lo = mid + 1
        bounds[c] = lo


@numba.njit(cache=True, error_model="numpy")
def _rescan_columns(Ct, sz, cq, rows_pos, j0, j1, acc, part_p, part_v, c):
    """For every row i of a pass of rescans (position ``rows_pos[i]``, centroid ``cq[i]``): its
    first nearest among the live positions above it within ``j0:j1`` into ``part_p[i, c]``,
    ``part_v[i, c]`` (-1, +inf when none is finite). Every block of columns is read once for
    all the rows."""
    nrows = rows_pos.shape[0]
    for i in range(nrows):
        part_p[i, c] = -1
        part_v[i, c] = np.inf
    for b0 in range(j0, j1, BLOCK):
        b1 = min(j1, b0 + BLOCK)
        for i in range(nrows):
            lo = max(b0, rows_pos[i] + 1)
            if lo < b1:
                sq_block(Ct, cq[i], lo, b1, acc)
                best = part_v[i, c]
                arg = part_p[i, c]
                for jj in range(b1 - lo):
                    if sz[lo + jj] > 0.0 and acc[jj] < best:
                        best = acc[jj]
                        arg = lo + jj
                part_v[i, c] = best
                part_p[i, c] = arg


@numba.njit(cache=True, error_model="numpy", parallel=True)
def _rescan_parallel(Ct, sz, cq, rows_pos, bounds, acc, part_p, part_v):
    for c in numba.prange(bounds.shape[0] - 1):
        _rescan_columns(Ct, sz, cq, rows_pos, bounds[c], bounds[c + 1], acc[c], part_p, part_v,
                        np.int64(c))


@numba.njit(cache=True, error_model="numpy")
def _rescan_below(Ct, sz, slot, pos_of, neighbor, min_dist, stale, m, exact, listed, part_p,
                  acc, parallel_min, state):
    """Rescan the listed stale rows below the least exact row `exact` (-1: none), in chunks of
    columns over the threads when they scan at least `parallel_min` pairs; returns the slot of
    the least (min_dist, slot) row after (-1 when none is finite)."""
    v = min_dist[exact] if exact >= 0 else np.inf
    nrows = 0
    for c in range(part_p.shape[0]):  # the listed rows below, in slot order, to the front
        start = part_p[c, 4]
        for i in range(part_p[c, 3]):
            z = listed[start + i]
            if min_dist[z] < v or (min_dist[z] == v and z < exact):
                listed[nrows] = z
                nrows += 1
    state[3] += nrows
    state[4] += 1
    x = -1
    x_v = np.inf
    if nrows > 0:
        d = Ct.shape[0]
        rows_pos = np.empty(nrows, dtype=np.int64)
        cq = np.empty((nrows, 1, d))
        for i in range(nrows):
            p = pos_of[listed[i]]
            rows_pos[i] = p
            for t in range(d):
                cq[i, 0, t] = Ct[t, p]
        nchunks = acc.shape[0]
        if nchunks < 2 or _pairs_before(rows_pos, m) < parallel_min:
            nchunks = 1
        found_p = np.empty((nrows, nchunks), dtype=np.int64)
        found_v = np.empty((nrows, nchunks))
        if nchunks > 1:
            bounds = np.empty(nchunks + 1, dtype=np.int64)
            _split_columns(rows_pos, m, bounds)
            _rescan_parallel(Ct, sz, cq, rows_pos, bounds, acc, found_p, found_v)
        else:
            _rescan_columns(Ct, sz, cq, rows_pos, rows_pos[0] + 1, m, acc[0], found_p, found_v,
                            np.int64(0))
        for i in range(nrows):
            q = -1
            value = np.inf
            for c in range(nchunks):  # in column order: the first minimum
                if found_v[i, c] < value:
                    value = found_v[i, c]
                    q = found_p[i, c]
            z = listed[i]
            neighbor[z] = slot[q] if q >= 0 else -1
            min_dist[z] = value
            stale[z] = 0
            if value < x_v:
                x_v = value
                x = z
    # every row not rescanned is (v, exact) or after it
    if v < x_v or (v == x_v and exact < x):
        x = exact
    return x


@numba.njit(cache=True, error_model="numpy")
def tournament_steps(Ct, sz, slot, pos_of, code, cluster_id, neighbor, min_dist, stale, state,
                     Z, k_stop, nchunks, parallel_min):
    """Merges ``state[0]`` .. `k_stop` - 1; ``state = [k, m, dead, rows rescanned, passes of
    rescans]`` (the last two counters). Writes Z rows (ids, height, size) in merge order. Each
    merge's pass runs in `nchunks` chunks of positions over the threads from `parallel_min` live
    clusters on (the same Z whatever `nchunks`). Returns False, with ``state[0]`` the merge
    that found none, when no finite dissimilarity is left."""
    n = cluster_id.shape[0]
    d = Ct.shape[0]
    nchunks = max(1, nchunks)
    acc = np.empty((nchunks, BLOCK))
    cq = np.empty((1, d))
    listed = np.empty(Ct.shape[1], dtype=np.int64)
    part_p = np.zeros((nchunks, 5), dtype=np.int64)
    part_v = np.empty((nchunks, 3))
    k = state[0]
    m = state[1]
    dead = state[2]
    ok = True
    none = np.int64(-1)
    top, exact = _merge_pass(Ct, sz, slot, neighbor, min_dist, stale, cq, none, none, none, m,
                             acc, listed, part_p, part_v, nchunks > 1 and m - dead >= parallel_min)
    while k < k_stop:
        x = top
        if x >= 0 and stale[x]:
            x = _rescan_below(Ct, sz, slot, pos_of, neighbor, min_dist, stale, m, exact, listed,
                              part_p, acc, parallel_min, state)
        if x < 0:
            ok = False
            break
        y = neighbor[x]
        dist = min_dist[x]
        _merge_step(Z, k, Ct, sz, pos_of, cluster_id, x, y, dist, n, code)
        py = pos_of[y]  # the merged cluster's column
        dead += 1
        k += 1
        for t in range(d):
            cq[0, t] = Ct[t, py]
        top, exact = _merge_pass(Ct, sz, slot, neighbor, min_dist, stale, cq, x, y, py, m, acc,
                                 listed, part_p, part_v, nchunks > 1 and m - dead >= parallel_min)
        if dead * COMPACT_EVERY >= m and dead >= 8:
            m = _compact(Ct, sz, slot, pos_of, m)
            dead = 0
    state[0] = k
    state[1] = m
    state[2] = dead
    return ok


def run_tournament(X: np.ndarray, code: int, bar, stats: dict, chunks: int | None = None,
                   parallel_min: int = PARALLEL_MIN) -> np.ndarray:
    """Centroid or median linkage of the observations `X` by the tournament (Z in merge order);
    `stats` receives the rows rescanned and the passes of rescans, per merge. ValueError when
    no finite dissimilarity is left (centroids that overflow).

    Each merge's pass is split into `chunks` (default: Numba's thread count) from
    `parallel_min` live clusters on; Z is the same whatever the two."""
    n = X.shape[0]
    check_vector_scale(X)
    Ct, sz, slot, pos_of = new_state(centroid_frame(X), 1)[:4]
    neighbor = np.full(n, -1, dtype=np.int64)
    min_dist = np.full(n, np.inf)
    stale = np.zeros(n, dtype=np.uint8)
    tournament_init(Ct, sz, slot, neighbor, min_dist, stale)
    cluster_id = np.arange(n, dtype=np.int64)
    state = np.array([0, n, 0, 0, 0], dtype=np.int64)
    Z = np.empty((n - 1, 4))
    nchunks = numba.get_num_threads() if chunks is None else chunks
    for stop in chunk_ends(n - 1, bar):
        if not tournament_steps(Ct, sz, slot, pos_of, code, cluster_id, neighbor, min_dist,
                                stale, state, Z, stop, nchunks, parallel_min):
            raise overflow_error()
    stats.clear()
    stats.update(n=n, algorithm="tournament", engine="vector",
                 rescans_per_merge=float(state[3]) / max(n - 1, 1),
                 rescan_passes_per_merge=float(state[4]) / max(n - 1, 1))
    return Z
