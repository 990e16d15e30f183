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

# Metric codes; keep in step with gpuhclust._metrics.NUMBA_METRICS.
EUCLIDEAN, SQEUCLIDEAN, CITYBLOCK, CHEBYSHEV, MINKOWSKI = 0, 1, 2, 3, 4
COSINE, CANBERRA, BRAYCURTIS, SEUCLIDEAN, MAHALANOBIS = 5, 6, 7, 8, 9
HAMMING, JACCARD, DICE, ROGERSTANIMOTO, RUSSELLRAO, SOKALSNEATH, YULE = 10, 11, 12, 13, 14, 15, 16


@numba.njit(cache=True, inline="always")
def _boolean_counts(u, v):
    ntt = 0
    ntf = 0
    nft = 0
    for k in range(u.shape[0]):
        a = u[k] != 0.0
        b = v[k] != 0.0
        ntt += a and b
        ntf += a and not b
        nft += b and not a
    nff = u.shape[0] - ntt - ntf - nft
    return float(ntt), float(ntf), float(nft), float(nff)


@numba.njit(cache=True)
def pair_distance(code, u, v, p, aux_u, aux_v, weights, vi):
    """Distance between two observations `u` and `v` (float64 vectors) under metric `code`."""
    d = u.shape[0]
    if code == EUCLIDEAN or code == SQEUCLIDEAN:
        s = 0.0
        for k in range(d):
            t = u[k] - v[k]
            s += t * t
        return math.sqrt(s) if code == EUCLIDEAN else s
    if code == CITYBLOCK:
        s = 0.0
        for k in range(d):
            s += abs(u[k] - v[k])
        return s
    if code == CHEBYSHEV:
        s = 0.0
        for k in range(d):
            t = abs(u[k] - v[k])
            if t > s:
                s = t
        return s
    if code == MINKOWSKI:
        s = 0.0
        for k in range(d):
            s += abs(u[k] - v[k]) ** p
        return s ** (1.0 / p)
    if code == COSINE:
        s = 0.0
        for k in range(d):
            s += u[k] * v[k]
        c = s / (aux_u * aux_v)
        if abs(c) > 1.0:
            c = math.copysign(1.0, c)
        return 1.0 - c
    if code == CANBERRA:
        s = 0.0
        for k in range(d):
            den = abs(u[k]) + abs(v[k])
            if den > 0.0:
                s += abs(u[k] - v[k]) / den
        return s
    if code == BRAYCURTIS:
        num = 0.0
        den = 0.0
        for k in range(d):
            num += abs(u[k] - v[k])
            den += abs(u[k] + v[k])
        return num / den
    if code == SEUCLIDEAN:
        s = 0.0
        for k in range(d):
            t = u[k] - v[k]
            s += t * t / weights[k]
        return math.sqrt(s)
    if code == MAHALANOBIS:
        s = 0.0
        for a in range(d):
            t = 0.0
            for b in range(d):
                t += vi[a, b] * (u[b] - v[b])
            s += (u[a] - v[a]) * t
        return math.sqrt(s)
    if code == HAMMING:
        s = 0.0
        for k in range(d):
            s += u[k] != v[k]
        return s / d
    if code == JACCARD:
        num = 0.0
        den = 0.0
        for k in range(d):
            nz = u[k] != 0.0 or v[k] != 0.0
            den += nz
            num += nz and u[k] != v[k]
        return num / den if den != 0.0 else 0.0
    ntt, ntf, nft, nff = _boolean_counts(u, v)
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


@numba.njit(cache=True)
def _condensed_row(X, i, code, p, aux, weights, vi, out):
    n = X.shape[0]
    base = n * i - (i * (i + 1)) // 2 - i - 1
    for j in range(i + 1, n):
        out[base + j] = pair_distance(code, X[i], X[j], p, aux[i], aux[j], weights, vi)


@numba.njit(cache=True)
def _square_row(X, i, code, p, aux, weights, vi, out):
    n = X.shape[0]
    out[i, i] = np.inf
    for j in range(i + 1, n):
        out[i, j] = pair_distance(code, X[i], X[j], p, aux[i], aux[j], weights, vi)


@numba.njit(cache=True, parallel=True)
def condensed_distances(X, code, p, aux, weights, vi, out):
    """Fill `out` (length n(n-1)/2, SciPy's order) with the distances between rows of `X`.

    Rows are processed in pairs (t, n-1-t) so that both threads get the same triangle area.
    """
    n = X.shape[0]
    for t in numba.prange((n + 1) // 2):
        _condensed_row(X, t, code, p, aux, weights, vi, out)
        if n - 1 - t != t:
            _condensed_row(X, n - 1 - t, code, p, aux, weights, vi, out)


@numba.njit(cache=True, parallel=True)
def square_from_observations(X, code, p, aux, weights, vi, out):
    """Fill the square matrix `out` (n, n) with distances, the diagonal with +inf.

    The upper triangle is computed row by row; `mirror_upper` copies it below the diagonal.
    """
    n = X.shape[0]
    for t in numba.prange((n + 1) // 2):
        _square_row(X, t, code, p, aux, weights, vi, out)
        if n - 1 - t != t:
            _square_row(X, n - 1 - t, code, p, aux, weights, vi, out)
    mirror_upper(out)


@numba.njit(cache=True, parallel=True)
def square_from_condensed(y, out):
    """Expand a condensed matrix into the square `out`, diagonal +inf, -0.0 turned into +0.0."""
    n = out.shape[0]
    for i in numba.prange(n):
        out[i, i] = np.inf
        base = n * i - (i * (i + 1)) // 2 - i - 1
        for j in range(i + 1, n):
            out[i, j] = y[base + j] + 0.0
    mirror_upper(out)


@numba.njit(cache=True, parallel=True)
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
