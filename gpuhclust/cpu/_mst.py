"""Single linkage as Prim's minimum spanning tree, a port of SciPy's ``mst_single_linkage``
(start at 0, strict ``<``, lowest index wins a tie), parallel over the candidates of each step.

Two sources of distances: rows of a square matrix, or the observations themselves (no matrix at
all: each step computes the distances from the newest tree vertex on the fly, with the same
``pair_distance`` as ``pdist`` so the heights are bit-identical).
"""
from __future__ import annotations

import numba
import numpy as np

from ._distances import BLOCK, block_distances
from ._rows import first_argmin


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


@numba.njit(cache=True, error_model="numpy", parallel=True)
def _relax_from_observations(X, Xt, code, p, aux, weights, vi, x, best, merged, nchunks,
                             bad_pair):
    n = best.shape[0]
    step = (n + nchunks - 1) // nchunks
    for c in numba.prange(nchunks):
        acc = np.empty(BLOCK)
        for j0 in range(c * step, min(n, (c + 1) * step), BLOCK):
            j1 = min(n, (c + 1) * step, j0 + BLOCK)
            # computing the merged columns too is cheaper than skipping them: it vectorises
            block_distances(code, X, x, Xt, j0, j1, acc, p, aux, weights, vi)
            for i in range(j0, j1):
                d = acc[i - j0]
                if merged[i] == 0:
                    if best[i] > d:
                        best[i] = d
                    elif not d < np.inf:  # NaN or inf: SciPy refuses such distances
                        bad_pair[0] = x
                        bad_pair[1] = i


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


@numba.njit(cache=True, error_model="numpy")
def mst_steps_observations(X, code, p, aux, weights, vi, best, merged, state, merges, k_stop,
                           nchunks, bad_pair):
    """Prim's steps computing distances from the observations `X` (float64) on the fly.

    A non-finite distance stops the loop with the pair in `bad_pair` (else left at -1)."""
    keys = best.view(np.int64)
    Xt = np.ascontiguousarray(X.T)
    k = state[0]
    x = state[1]
    while k < k_stop and bad_pair[0] < 0:
        merged[x] = 1
        best[x] = np.inf
        _relax_from_observations(X, Xt, code, p, aux, weights, vi, x, best, merged, nchunks,
                                 bad_pair)
        y = first_argmin(best, keys, 0, True)
        merges[k, 0] = x
        merges[k, 1] = y
        merges[k, 2] = best[y]
        x = y
        k += 1
    state[0] = k
    state[1] = x
