"""Pairwise distances with Numba, summed in feature order without FMA so that the common metrics
match ``scipy.spatial.distance.pdist`` to the last bit (euclidean, sqeuclidean, cityblock,
chebyshev) or to a few ulps (the others).

Every metric is one branch of :func:`pair_distance`; the metric code comes from
``gpuhclust._metrics``. ``aux`` holds one float per observation (a norm for cosine/correlation),
``weights`` one per feature (the variances V for seuclidean), ``vi`` the inverse covariance (mahalanobis).
"""
from __future__ import annotations

import math

import numba
import numpy as np

from .._metrics import METRIC_CODES
from .._validation import condensed_row_start

#: The condensed index where row i starts, compiled: the very function the host code uses.
row_start = numba.njit(cache=True, inline="always")(condensed_row_start)

# Metric codes from the one metric table (compile-time constants to Numba).
(EUCLIDEAN, SQEUCLIDEAN, CITYBLOCK, CHEBYSHEV, MINKOWSKI, COSINE, CANBERRA, BRAYCURTIS, SEUCLIDEAN,
 MAHALANOBIS, HAMMING, JACCARD, DICE, ROGERSTANIMOTO, RUSSELLRAO, SOKALSNEATH, YULE) = (
    METRIC_CODES[name] for name in (
        "euclidean", "sqeuclidean", "cityblock", "chebyshev", "minkowski", "cosine", "canberra",
        "braycurtis", "seuclidean", "mahalanobis", "hamming", "jaccard", "dice",
        "rogerstanimoto", "russellrao", "sokalsneath", "yule"))


@numba.njit(cache=True, error_model="numpy", inline="always")
def _boolean_counts(X, i, Y, j):
    ntt = 0
    ntf = 0
    nft = 0
    for k in range(X.shape[1]):
        a = X[i, k] != 0.0
        b = Y[j, k] != 0.0
        ntt += a and b
        ntf += a and not b
        nft += b and not a
    nff = X.shape[1] - ntt - ntf - nft
    return float(ntt), float(ntf), float(nft), float(nff)


@numba.njit(cache=True, error_model="numpy")
def pair_distance(code, X, i, Y, j, p, aux_u, aux_v, weights, vi):
    """Distance between observations ``X[i]`` and ``Y[j]`` (float64) under metric `code`.

    Rows are indexed, never sliced: a slice per pair costs a reference count update, which two
    threads then fight over.
    """
    d = X.shape[1]
    if code == EUCLIDEAN or code == SQEUCLIDEAN:
        s = 0.0
        for k in range(d):
            t = X[i, k] - Y[j, k]
            s += t * t
        return math.sqrt(s) if code == EUCLIDEAN else s
    if code == CITYBLOCK:
        s = 0.0
        for k in range(d):
            s += abs(X[i, k] - Y[j, k])
        return s
    if code == CHEBYSHEV:
        s = 0.0
        for k in range(d):
            t = abs(X[i, k] - Y[j, k])
            if t > s:
                s = t
        return s
    if code == MINKOWSKI:
        s = 0.0
        for k in range(d):
            s += abs(X[i, k] - Y[j, k]) ** p
        return s ** (1.0 / p)
    if code == COSINE:
        s = 0.0
        for k in range(d):
            s += X[i, k] * Y[j, k]
        c = s / (aux_u * aux_v)
        if abs(c) > 1.0:
            c = math.copysign(1.0, c)
        return 1.0 - c
    if code == CANBERRA:
        s = 0.0
        for k in range(d):
            den = abs(X[i, k]) + abs(Y[j, k])
            if den > 0.0:
                s += abs(X[i, k] - Y[j, k]) / den
        return s
    if code == BRAYCURTIS:
        num = 0.0
        den = 0.0
        for k in range(d):
            num += abs(X[i, k] - Y[j, k])
            den += abs(X[i, k] + Y[j, k])
        return num / den
    if code == SEUCLIDEAN:
        s = 0.0
        for k in range(d):
            t = X[i, k] - Y[j, k]
            s += t * t / weights[k]
        return math.sqrt(s)
    if code == MAHALANOBIS:
        s = 0.0
        for a in range(d):
            t = 0.0
            for b in range(d):
                t += vi[a, b] * (X[i, b] - Y[j, b])
            s += (X[i, a] - Y[j, a]) * t
        return math.sqrt(s)
    if code == HAMMING:
        s = 0.0
        for k in range(d):
            s += X[i, k] != Y[j, k]
        return s / d
    if code == JACCARD:
        num = 0.0
        den = 0.0
        for k in range(d):
            nz = X[i, k] != 0.0 or Y[j, k] != 0.0
            den += nz
            num += nz and X[i, k] != Y[j, k]
        return num / den if den != 0.0 else 0.0
    ntt, ntf, nft, nff = _boolean_counts(X, i, Y, j)
    if code == DICE:
        return (ntf + nft) / (2.0 * ntt + ntf + nft)
    if code == ROGERSTANIMOTO:
        r = 2.0 * (ntf + nft)
        return r / (ntt + nff + r)
    if code == RUSSELLRAO:
        return (d - ntt) / d
    if code == SOKALSNEATH:
        r = 2.0 * (ntf + nft)
        return r / (ntt + r)
    # YULE
    half_r = ntf * nft
    if half_r == 0.0:
        return 0.0
    return 2.0 * half_r / (ntt * nff + half_r)


BLOCK = 256  # columns per block: the accumulators stay in L1


@numba.njit(cache=True, error_model="numpy")
def block_distances(code, X, i, Xt, j0, j1, acc, p, aux, weights, vi):
    """Distances from ``X[i]`` to ``X[j0:j1]`` into ``acc[:j1-j0]``.

    `Xt` is X transposed (features first), so that for one feature the loop over columns reads
    contiguous memory and vectorises across pairs while every pair still sums its features in
    order, without FMA: the result equals :func:`pair_distance` bit for bit.
    """
    # A fresh empty `rows` rather than a module constant: Numba types a global array as
    # read-only, and the minimum spanning tree passes a writable one (two compilations).
    no_rows = np.empty(0, dtype=np.int64)
    block_distances_cols(code, X, i, Xt, aux, no_rows, j0, j1, acc, p, aux, weights, vi)


@numba.njit(cache=True, error_model="numpy")
def block_distances_cols(code, X, i, Ct, auxc, rows, j0, j1, acc, p, aux, weights, vi):
    """Distances from ``X[i]`` to the candidates in columns ``j0:j1`` of `Ct` into
    ``acc[:j1-j0]``: the arithmetic of :func:`pair_distance`, bit for bit.

    `Ct` holds candidate observations features first (``X.T`` itself, or a compacted copy of some
    of its columns); ``auxc[j]`` is the `aux` value of column j. Metrics without a vectorised
    branch read the candidate's row of `X`: row ``rows[j]``, or row j when `rows` is empty.
    """
    m = j1 - j0
    d = X.shape[1]
    a = acc[:m]  # 1-D slices (not 2-D indexing) let LLVM vectorise these loops
    if code == EUCLIDEAN or code == SQEUCLIDEAN or code == CITYBLOCK or code == COSINE:
        a[:] = 0.0
        k = 0
        while k + 4 <= d:  # four features per pass over acc, still summed in feature order
            x0 = X[i, k]
            x1 = X[i, k + 1]
            x2 = X[i, k + 2]
            x3 = X[i, k + 3]
            r0 = Ct[k, j0:j1]
            r1 = Ct[k + 1, j0:j1]
            r2 = Ct[k + 2, j0:j1]
            r3 = Ct[k + 3, j0:j1]
            if code == CITYBLOCK:
                for jj in range(m):
                    s = a[jj]
                    s += abs(x0 - r0[jj])
                    s += abs(x1 - r1[jj])
                    s += abs(x2 - r2[jj])
                    s += abs(x3 - r3[jj])
                    a[jj] = s
            elif code == COSINE:
                for jj in range(m):
                    s = a[jj]
                    s += x0 * r0[jj]
                    s += x1 * r1[jj]
                    s += x2 * r2[jj]
                    s += x3 * r3[jj]
                    a[jj] = s
            else:
                for jj in range(m):
                    s = a[jj]
                    t = x0 - r0[jj]
                    s += t * t
                    t = x1 - r1[jj]
                    s += t * t
                    t = x2 - r2[jj]
                    s += t * t
                    t = x3 - r3[jj]
                    s += t * t
                    a[jj] = s
            k += 4
        while k < d:
            xik = X[i, k]
            row = Ct[k, j0:j1]
            if code == CITYBLOCK:
                for jj in range(m):
                    a[jj] += abs(xik - row[jj])
            elif code == COSINE:
                for jj in range(m):
                    a[jj] += xik * row[jj]
            else:
                for jj in range(m):
                    t = xik - row[jj]
                    a[jj] += t * t
            k += 1
        if code == EUCLIDEAN:
            for jj in range(m):
                a[jj] = math.sqrt(a[jj])
        elif code == COSINE:
            aux_i = aux[i]
            ac = auxc[j0:j1]
            for jj in range(m):
                c = a[jj] / (aux_i * ac[jj])
                if abs(c) > 1.0:
                    c = math.copysign(1.0, c)
                a[jj] = 1.0 - c
    elif code == SEUCLIDEAN:
        a[:] = 0.0
        for k in range(d):
            xik = X[i, k]
            vk = weights[k]
            row = Ct[k, j0:j1]
            for jj in range(m):
                t = xik - row[jj]
                a[jj] += t * t / vk
        for jj in range(m):
            a[jj] = math.sqrt(a[jj])
    elif code == CHEBYSHEV:
        a[:] = 0.0
        for k in range(d):
            xik = X[i, k]
            row = Ct[k, j0:j1]
            for jj in range(m):
                t = abs(xik - row[jj])
                a[jj] = t if t > a[jj] else a[jj]
    else:
        mapped = rows.shape[0] > 0
        for jj in range(m):
            j = rows[j0 + jj] if mapped else j0 + jj
            acc[jj] = pair_distance(code, X, i, X, j, p, aux[i], aux[j], weights, vi)


@numba.njit(cache=True, error_model="numpy")
def _condensed_row(X, Xt, i, code, p, aux, weights, vi, out, acc):
    n = X.shape[0]
    base = row_start(i, n) - i - 1
    for j0 in range(i + 1, n, BLOCK):
        j1 = min(n, j0 + BLOCK)
        block_distances(code, X, i, Xt, j0, j1, acc, p, aux, weights, vi)
        for j in range(j0, j1):
            out[base + j] = acc[j - j0]


@numba.njit(cache=True, error_model="numpy")
def _square_row(X, Xt, i, code, p, aux, weights, vi, out, acc):
    n = X.shape[0]
    out[i, i] = np.inf
    for j0 in range(i + 1, n, BLOCK):
        j1 = min(n, j0 + BLOCK)
        block_distances(code, X, i, Xt, j0, j1, acc, p, aux, weights, vi)
        for j in range(j0, j1):
            out[i, j] = acc[j - j0]


@numba.njit(cache=True, error_model="numpy", parallel=True)
def condensed_distances(X, code, p, aux, weights, vi, out):
    """Fill `out` (length n(n-1)/2, SciPy's order) with the distances between rows of `X`.

    Rows are processed in pairs (t, n-1-t) so that both threads get the same triangle area.
    """
    n = X.shape[0]
    Xt = np.ascontiguousarray(X.T)
    for t in numba.prange((n + 1) // 2):
        acc = np.empty(BLOCK)
        _condensed_row(X, Xt, np.int64(t), code, p, aux, weights, vi, out, acc)
        if n - 1 - t != t:
            _condensed_row(X, Xt, n - 1 - t, code, p, aux, weights, vi, out, acc)


@numba.njit(cache=True, error_model="numpy", parallel=True)
def square_from_observations(X, code, p, aux, weights, vi, out):
    """Fill the square matrix `out` (n, n) with distances, the diagonal with +inf.

    The upper triangle is computed row by row; `mirror_upper` copies it below the diagonal.
    """
    n = X.shape[0]
    Xt = np.ascontiguousarray(X.T)
    for t in numba.prange((n + 1) // 2):
        acc = np.empty(BLOCK)
        _square_row(X, Xt, np.int64(t), code, p, aux, weights, vi, out, acc)
        if n - 1 - t != t:
            _square_row(X, Xt, n - 1 - t, code, p, aux, weights, vi, out, acc)
    mirror_upper(out)


@numba.njit(cache=True, error_model="numpy", parallel=True)
def first_non_finite_upper(D):
    """(i, j) of a non-finite entry above the diagonal of `D` (the lowest such row), or (-1, -1)."""
    n = D.shape[0]
    bad_col = np.full(n, -1, dtype=np.int64)
    for i in numba.prange(n):
        for j in range(i + 1, n):
            if not abs(D[i, j]) < np.inf:
                bad_col[i] = j
                break
    for i in range(n):
        if bad_col[i] >= 0:
            return i, bad_col[i]
    return -1, -1


@numba.njit(cache=True, error_model="numpy", parallel=True)
def square_from_condensed(y, out):
    """Expand a condensed matrix into the square `out`, diagonal +inf, -0.0 turned into +0.0."""
    n = out.shape[0]
    for i in numba.prange(n):
        out[i, i] = np.inf
        base = row_start(i, n) - i - 1
        for j in range(i + 1, n):
            out[i, j] = y[base + j] + 0.0
    mirror_upper(out)


@numba.njit(cache=True, error_model="numpy", parallel=True)
def mirror_upper(out):
    """Copy the upper triangle of `out` below the diagonal, tile by tile (cache friendly)."""
    n = out.shape[0]
    tile = 64
    ntiles = (n + tile - 1) // tile
    for ti in numba.prange(ntiles):
        i0 = ti * tile
        i1 = min(n, i0 + tile)
        for tj in range(ti + 1):
            j0 = tj * tile
            j1 = min(n, j0 + tile)
            # rows i in [i0, i1) get columns j < i from out[j, i]
            for i in range(i0, i1):
                for j in range(j0, min(j1, i)):
                    out[i, j] = out[j, i]
