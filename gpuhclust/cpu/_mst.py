"""Single linkage as Prim's minimum spanning tree, a port of SciPy's ``mst_single_linkage``
(start at 0, strict ``<``, lowest index wins a tie), parallel over the candidates of each step.

Two sources of distances: rows of a square matrix, or the observations themselves (no matrix at
all, O(n*d) memory: each step computes the distances from the newest tree vertex on the fly, with
the arithmetic of ``pdist`` so the heights are bit-identical). From the observations, the
candidates not yet in the tree are kept compacted, features first and in their original order (so
"first minimum" still means "lowest index"): a step computes distances to the m vertices still
outside the tree only, n^2/2 distances in all instead of n^2. Vertices that join the tree are
marked dead (NaN: it never compares less, and as an integer key it sorts above +inf) and swept
out once they are 1/32 of the candidates.
"""
from __future__ import annotations

import functools
import math

import numba
import numpy as np

from ._distances import BLOCK, EUCLIDEAN, SQEUCLIDEAN, block_distances_cols
from ._lazy_matrix import first_argmin


@numba.njit(cache=True, error_model="numpy", parallel=True)
def _relax_from_matrix(D, x, best, merged, nchunks):
    n = best.shape[0]
    step = (n + nchunks - 1) // nchunks
    for c in numba.prange(nchunks):
        row = D[x]
        for i in range(c * step, min(n, (c + 1) * step)):
            d = row[i]
            if merged[i] == 0 and best[i] > d:
                best[i] = d


@numba.njit(cache=True, error_model="numpy")
def mst_steps_matrix(D, nonneg, best, merged, state, merges, k_stop, nchunks):
    """Prim's steps ``state[0]`` .. `k_stop` - 1 on the square matrix `D`; ``state = [k, x]``."""
    keys = best.view(np.int64)
    k = state[0]
    x = state[1]
    while k < k_stop:
        merged[x] = 1
        best[x] = np.inf
        _relax_from_matrix(D, x, best, merged, nchunks)
        y = first_argmin(best, keys, 0, nonneg)
        merges[k, 0] = x
        merges[k, 1] = y
        merges[k, 2] = best[y]
        x = y
        k += 1
    state[0] = k
    state[1] = x




PARALLEL_MIN = 4096  # fewer candidates than this: one thread (a parallel launch has a cost)
COMPACT_EVERY = 32  # sweep dead candidates out once they are 1/COMPACT_EVERY of them


@numba.njit(cache=True, error_model="numpy")
def _relax_block_range(X, Ct, auxc, rows, code, p, aux, weights, vi, x, best, keys, j0, j1, acc,
                       check, bad_pair, blockmin):
    """Relax candidates ``j0:j1`` (j0 a multiple of BLOCK) against tree vertex `x`; position of
    their first minimum, or -1. ``blockmin[b]`` gets the minimum key of block b.

    With `check`, a NaN or inf distance to a live candidate is reported in `bad_pair`."""
    min_key = np.iinfo(np.int64).max
    min_block = -1
    for b0 in range(j0, j1, BLOCK):
        b1 = min(j1, b0 + BLOCK)
        m = b1 - b0
        block_distances_cols(code, X, x, Ct, auxc, rows, b0, b1, acc, p, aux, weights, vi)
        a = acc[:m]
        bs = best[b0:b1]
        for jj in range(m):
            d = a[jj]
            b = bs[jj]
            bs[jj] = d if d < b else b  # a dead candidate (NaN) stays dead
        if check:
            for jj in range(m):
                if not a[jj] < np.inf and bs[jj] == bs[jj]:
                    bad_pair[0] = x
                    bad_pair[1] = rows[b0 + jj]
        # the block's minimum while it is in L1 (non-negative floats order as integers)
        ks = keys[b0:b1]
        mk = ks[0]
        for jj in range(1, m):
            kk = ks[jj]
            mk = kk if kk < mk else mk
        blockmin[b0 // BLOCK] = mk
        if mk < min_key:
            min_key = mk
            min_block = b0
    if min_block < 0:
        return -1
    for j in range(min_block, min(j1, min_block + BLOCK)):
        if keys[j] == min_key:
            return j if best[j] < np.inf else -1
    return -1


@numba.njit(cache=True, error_model="numpy", parallel=True)
def _relax_parallel(X, Ct, auxc, rows, code, p, aux, weights, vi, x, best, keys, m, acc,
                    check, bad_pair, chunk_pos, blockmin):
    nchunks = chunk_pos.shape[0]
    step = (m + nchunks - 1) // nchunks
    step = (step + BLOCK - 1) // BLOCK * BLOCK
    for c in numba.prange(nchunks):
        chunk_pos[c] = _relax_block_range(X, Ct, auxc, rows, code, p, aux, weights, vi, x, best,
                                          keys, min(m, c * step), min(m, (c + 1) * step), acc[c],
                                          check, bad_pair, blockmin)


@numba.njit(cache=True, error_model="numpy")
def compact_columns(keep, m, Ct, vectors):
    """Move the kept columns of `Ct` and entries of each 1-D array in `vectors` (a tuple of
    arrays of one dtype) to the front, in order; returns how many were kept."""
    w = 0
    for j in range(m):
        if keep[j]:
            for v in vectors:
                v[w] = v[j]
            w += 1
    for k in range(Ct.shape[0]):
        row = Ct[k]
        w2 = 0
        for j in range(m):
            if keep[j]:
                row[w2] = row[j]
                w2 += 1
    return w


def mst_steps_observations(X, code, p, aux, weights, vi, Ct, auxc, rows, best, state, merges,
                           k_stop, nchunks, check, bad_pair):
    """Prim's steps computing distances from the observations `X` (float64) on the fly.

    Caller-owned state: `Ct` (d, n) the candidates features first (initially ``X.T``), `auxc`
    and `rows` their aux values and original indices, `best` their distance to the tree (NaN
    once in it: initially +inf, NaN at 0), ``state = [k, x, m, dead]`` (start [0, 0, n, 1]).
    A non-finite distance stops the loop with the pair in `bad_pair` (else left at -1).

    Euclidean: `best` holds squared distances (no square root per pair); sqrt is monotone, so
    the tree is the same, and a step picks, as SciPy does, the first candidate whose distance
    (the root) is the minimum: the first one whose square is at most the largest double with
    that root (found through the per-block minima)."""
    parallel = bool(nchunks > 1 and state[2] - state[3] >= PARALLEL_MIN)
    _steps_for(code, parallel)(X, p, aux, weights, vi, Ct, auxc, rows, best, state, merges,
                               k_stop, nchunks, check, bad_pair)


@functools.cache
def _steps_for(code: int, parallel: bool):
    """:func:`mst_steps_observations` less `code`, compiled for metric `code` only: the metric
    the scans compute (a literal to the distance kernels, see ``_distances.for_metric``),
    whether heights are roots of it, and whether to relax in parallel while enough candidates
    are left are constants, so Numba compiles none of the branches not taken (the parallel
    relaxation, a slow compilation, is never needed below PARALLEL_MIN observations)."""
    squared = bool(code == EUCLIDEAN)
    scan_code = SQEUCLIDEAN if squared else int(code)
    parallel = bool(parallel)

    @numba.njit(cache=True, error_model="numpy")
    def steps(X, p, aux, weights, vi, Ct, auxc, rows, best, state, merges, k_stop, nchunks,
              check, bad_pair):
        keys = best.view(np.int64)
        blockmin = np.empty((best.shape[0] + BLOCK - 1) // BLOCK + 1, dtype=np.int64)
        bits = np.empty(1)
        bits_key = bits.view(np.int64)
        nthreads = max(1, nchunks)
        acc = np.empty((nthreads, BLOCK))
        chunk_pos = np.empty(nthreads, dtype=np.int64)
        keep = np.empty(best.shape[0], dtype=np.uint8)
        k = state[0]
        x = state[1]
        m = state[2]
        dead = state[3]
        while k < k_stop and bad_pair[0] < 0:
            if parallel and m - dead >= PARALLEL_MIN:
                _relax_parallel(X, Ct, auxc, rows, scan_code, p, aux, weights, vi, x, best, keys, m,
                                acc, check, bad_pair, chunk_pos, blockmin)
                y = -1
                for c in range(nthreads):
                    q = chunk_pos[c]
                    if q >= 0 and (y < 0 or best[q] < best[y]):
                        y = q
            else:
                y = _relax_block_range(X, Ct, auxc, rows, scan_code, p, aux, weights, vi, x, best,
                                       keys, np.int64(0), m, acc[0], check, bad_pair, blockmin)
            if bad_pair[0] >= 0:
                break
            if y < 0:  # every distance is +inf (overflow): refuse, as for NaN
                bad_pair[0] = x
                for j in range(m):
                    if best[j] == best[j]:
                        bad_pair[1] = rows[j]
                        break
                break
            height = best[y]
            if squared:
                height = math.sqrt(height)
                hi = best[y]  # the largest square with the same root
                while True:
                    t = np.nextafter(hi, np.inf)
                    if math.sqrt(t) != height:
                        break
                    hi = t
                if hi != best[y]:
                    bits[0] = hi
                    key_hi = bits_key[0]
                    for b in range(y // BLOCK + 1):
                        if blockmin[b] <= key_hi:
                            for j in range(b * BLOCK, y + 1):
                                if keys[j] <= key_hi:
                                    y = j
                                    break
                            break
            merges[k, 0] = x
            merges[k, 1] = rows[y]
            merges[k, 2] = height
            x = rows[y]
            best[y] = np.nan
            dead += 1
            k += 1
            if dead * COMPACT_EVERY >= m and dead >= 8:
                for j in range(m):
                    keep[j] = best[j] == best[j]
                m = compact_columns(keep, m, Ct, (best, auxc))
                compact_columns(keep, m + dead, Ct[:0], (rows,))
                dead = 0
        state[0] = k
        state[1] = x
        state[2] = m
        state[3] = dead

    return steps
