"""Pairwise distances with Numba, summed in feature order without FMA so that the common metrics
match ``scipy.spatial.distance.pdist`` to the last bit (euclidean, sqeuclidean, cityblock,
chebyshev) or to a few ulps (the others).

Every metric is one branch of :func:`pair_distance`; the metric code comes from
``gpuhclust._metrics``. ``aux`` holds one float per observation (a norm for
cosine/correlation), ``weights`` one per feature (the variances V for seuclidean), ``vi`` the
inverse covariance (mahalanobis).

Each metric compiles on its own: the three functions that branch on the metric
(:func:`pair_distance`, :func:`block_distances_cols`, :func:`block_distances_rows`) are Numba
overloads that take the code as
a compile-time constant (a literal) and compile that metric's branch only, and the drivers above
them pass the literal on. The host enters through :func:`for_metric`, whose compiled entry points
hold the code as a constant. (With a run-time code every one of the metrics' loops compiled, and
was optimised, for the one in use: seconds of a newcomer's first call.)
"""
from __future__ import annotations

import functools
import math
from typing import Any, NamedTuple

import numba
import numpy as np
from numba.core import errors, types
from numba.extending import overload

from .._metrics import METRIC_CODES
from .._validation import condensed_row_start
from ._lazy_matrix import int_keys

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


_JIT = {"error_model": "numpy"}


def _constant_code(code, function: str) -> int:
    """The metric code an overload of `function` compiles for: `code` must be a literal."""
    if not isinstance(code, types.IntegerLiteral):
        raise errors.TypingError(
            f"{function}: the metric code must be a compile-time constant (a literal int, "
            f"passed down from an entry point of for_metric), got {code}")
    return code.literal_value


def pair_distance(code, X, i, Y, j, p, aux_u, aux_v, weights, vi):
    """Distance between observations ``X[i]`` and ``Y[j]`` (float64) under metric `code`.

    Rows are indexed, never sliced: a slice per pair costs a reference count update, which two
    threads then fight over. In compiled code `code` must be a constant; from Python this runs
    the compiled kernel of that metric.
    """
    return for_metric(code).pair(X, i, Y, j, p, aux_u, aux_v, weights, vi)


@overload(pair_distance, prefer_literal=True, jit_options=_JIT)
def _pair_distance(code, X, i, Y, j, p, aux_u, aux_v, weights, vi):
    metric = _constant_code(code, "pair_distance")  # a constant below: one branch compiles

    def pair_distance_of_metric(code, X, i, Y, j, p, aux_u, aux_v, weights, vi):
        d = X.shape[1]
        if metric == EUCLIDEAN or metric == SQEUCLIDEAN:
            s = 0.0
            for k in range(d):
                t = X[i, k] - Y[j, k]
                s += t * t
            return math.sqrt(s) if metric == EUCLIDEAN else s
        if metric == CITYBLOCK:
            s = 0.0
            for k in range(d):
                s += abs(X[i, k] - Y[j, k])
            return s
        if metric == CHEBYSHEV:
            s = 0.0
            for k in range(d):
                t = abs(X[i, k] - Y[j, k])
                if t > s:
                    s = t
            return s
        if metric == MINKOWSKI:
            s = 0.0
            for k in range(d):
                s += abs(X[i, k] - Y[j, k]) ** p
            return s ** (1.0 / p)
        if metric == COSINE:
            s = 0.0
            for k in range(d):
                s += X[i, k] * Y[j, k]
            c = s / (aux_u * aux_v)
            if abs(c) > 1.0:
                c = math.copysign(1.0, c)
            return 1.0 - c
        if metric == CANBERRA:
            s = 0.0
            for k in range(d):
                den = abs(X[i, k]) + abs(Y[j, k])
                if den > 0.0:
                    s += abs(X[i, k] - Y[j, k]) / den
            return s
        if metric == BRAYCURTIS:
            num = 0.0
            den = 0.0
            for k in range(d):
                num += abs(X[i, k] - Y[j, k])
                den += abs(X[i, k] + Y[j, k])
            return num / den
        if metric == SEUCLIDEAN:
            s = 0.0
            for k in range(d):
                t = X[i, k] - Y[j, k]
                s += t * t / weights[k]
            return math.sqrt(s)
        if metric == MAHALANOBIS:
            s = 0.0
            for a in range(d):
                t = 0.0
                for b in range(d):
                    t += vi[a, b] * (X[i, b] - Y[j, b])
                s += (X[i, a] - Y[j, a]) * t
            return math.sqrt(s)
        if metric == HAMMING:
            s = 0.0
            for k in range(d):
                s += X[i, k] != Y[j, k]
            return s / d
        if metric == JACCARD:
            num = 0.0
            den = 0.0
            for k in range(d):
                nz = X[i, k] != 0.0 or Y[j, k] != 0.0
                den += nz
                num += nz and X[i, k] != Y[j, k]
            return num / den if den != 0.0 else 0.0
        ntt, ntf, nft, nff = _boolean_counts(X, i, Y, j)
        if metric == DICE:
            return (ntf + nft) / (2.0 * ntt + ntf + nft)
        if metric == ROGERSTANIMOTO:
            r = 2.0 * (ntf + nft)
            return r / (ntt + nff + r)
        if metric == RUSSELLRAO:
            return (d - ntt) / d
        if metric == SOKALSNEATH:
            r = 2.0 * (ntf + nft)
            return r / (ntt + r)
        # YULE
        half_r = ntf * nft
        if half_r == 0.0:
            return 0.0
        return 2.0 * half_r / (ntt * nff + half_r)

    return pair_distance_of_metric


#: Rows per call of :func:`block_distances_rows`: each column's features, loaded once, serve
#: this many rows (the loads, not the arithmetic, bound the one-row loop).
ROWS = 4

#: The metrics whose distance is a sum of one term per feature (:func:`_term`), then
#: :func:`_finish`: :func:`block_distances_rows` computes them :data:`ROWS` rows at a time, the
#: others one row at a time.
GROUPED = (EUCLIDEAN, SQEUCLIDEAN, CITYBLOCK, COSINE)


@numba.njit(cache=True, error_model="numpy", inline="always")
def _term(metric, x, c):
    """One feature's term of a pair's sum: cityblock, cosine (the dot product), else the
    squared difference (euclidean, sqeuclidean)."""
    if metric == CITYBLOCK:
        return abs(x - c)
    if metric == COSINE:
        return x * c
    t = x - c
    return t * t


@numba.njit(cache=True, error_model="numpy", inline="always")
def _add4(metric, s, x0, x1, x2, x3, c0, c1, c2, c3):
    """`s` plus four features' terms, added in feature order."""
    s += _term(metric, x0, c0)
    s += _term(metric, x1, c1)
    s += _term(metric, x2, c2)
    s += _term(metric, x3, c3)
    return s


@numba.njit(cache=True, error_model="numpy", inline="always")
def _finish(metric, a, aux, i, aux_cols, j0):
    """The sums `a` of row i against columns ``j0:`` (its terms added) into distances: the root
    for euclidean, one less the clamped cosine (``aux[i]``, ``aux_cols[j0:]``: the norms of the
    row and of the columns, read for cosine only: the others may pass empty arrays)."""
    if metric == EUCLIDEAN:
        for jj in range(a.shape[0]):
            a[jj] = math.sqrt(a[jj])
    elif metric == COSINE:
        aux_i = aux[i]
        ac = aux_cols[j0:j0 + a.shape[0]]
        for jj in range(a.shape[0]):
            c = a[jj] / (aux_i * ac[jj])
            if abs(c) > 1.0:
                c = math.copysign(1.0, c)
            a[jj] = 1.0 - c


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


def block_distances_cols(code, X, i, Ct, auxc, rows, j0, j1, acc, p, aux, weights, vi):
    """Distances from ``X[i]`` to the candidates in columns ``j0:j1`` of `Ct` into
    ``acc[:j1-j0]``: the arithmetic of :func:`pair_distance`, bit for bit.

    `Ct` holds candidate observations features first (``X.T`` itself, or a compacted copy of some
    of its columns); ``auxc[j]`` is the `aux` value of column j. Metrics without a vectorised
    branch read the candidate's row of `X`: row ``rows[j]``, or row j when `rows` is empty.

    Compiled code only, `code` a constant.
    """
    raise TypeError("block_distances_cols runs in compiled code only")


@overload(block_distances_cols, prefer_literal=True, jit_options=_JIT)
def _block_distances_cols(code, X, i, Ct, auxc, rows, j0, j1, acc, p, aux, weights, vi):
    metric = _constant_code(code, "block_distances_cols")

    def block_distances_cols_of_metric(code, X, i, Ct, auxc, rows, j0, j1, acc, p, aux,
                                       weights, vi):
        m = j1 - j0
        d = X.shape[1]
        a = acc[:m]  # 1-D slices (not 2-D indexing) let LLVM vectorise these loops
        if metric in GROUPED:
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
                for jj in range(m):
                    a[jj] = _add4(metric, a[jj], x0, x1, x2, x3, r0[jj], r1[jj], r2[jj], r3[jj])
                k += 4
            while k < d:
                xik = X[i, k]
                row = Ct[k, j0:j1]
                for jj in range(m):
                    a[jj] += _term(metric, xik, row[jj])
                k += 1
            _finish(metric, a, aux, i, auxc, j0)
        elif metric == SEUCLIDEAN:
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
        elif metric == CHEBYSHEV:
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
                acc[jj] = pair_distance(metric, X, i, X, j, p, aux[i], aux[j], weights, vi)

    return block_distances_cols_of_metric


def block_distances_rows(code, X, i, rows, Xt, j0, j1, acc, p, aux, weights, vi):
    """Distances from each of ``X[i:i+rows]`` (`rows` at most :data:`ROWS`) to ``X[j0:j1]``
    into ``acc[r, :j1-j0]`` (row ``i + r``): :func:`block_distances` of each row, bit for bit
    (every pair still sums its features in order, without FMA). For the metrics of
    :data:`GROUPED` and a whole group of :data:`ROWS` rows, one vectorised loop reads each
    column's features once for all of them.

    Compiled code only, `code` a constant.
    """
    raise TypeError("block_distances_rows runs in compiled code only")


@overload(block_distances_rows, prefer_literal=True, jit_options=_JIT)
def _block_distances_rows(code, X, i, rows, Xt, j0, j1, acc, p, aux, weights, vi):
    metric = _constant_code(code, "block_distances_rows")
    grouped = metric in GROUPED

    def block_distances_rows_of_metric(code, X, i, rows, Xt, j0, j1, acc, p, aux, weights,
                                       vi):
        if not grouped or rows < ROWS:
            for r in range(rows):
                block_distances(metric, X, i + r, Xt, j0, j1, acc[r], p, aux, weights, vi)
            return
        m = j1 - j0
        a0 = acc[0, :m]  # 1-D slices (not 2-D indexing) let LLVM vectorise the loop
        a1 = acc[1, :m]
        a2 = acc[2, :m]
        a3 = acc[3, :m]
        a0[:] = 0.0
        a1[:] = 0.0
        a2[:] = 0.0
        a3[:] = 0.0
        d = X.shape[1]
        k = 0
        while k + 4 <= d:  # four features per pass over acc, each column's loaded once
            c0 = Xt[k, j0:j1]
            c1 = Xt[k + 1, j0:j1]
            c2 = Xt[k + 2, j0:j1]
            c3 = Xt[k + 3, j0:j1]
            x00, x01, x02, x03 = X[i, k], X[i, k + 1], X[i, k + 2], X[i, k + 3]
            x10, x11, x12, x13 = X[i + 1, k], X[i + 1, k + 1], X[i + 1, k + 2], X[i + 1, k + 3]
            x20, x21, x22, x23 = X[i + 2, k], X[i + 2, k + 1], X[i + 2, k + 2], X[i + 2, k + 3]
            x30, x31, x32, x33 = X[i + 3, k], X[i + 3, k + 1], X[i + 3, k + 2], X[i + 3, k + 3]
            for jj in range(m):
                v0 = c0[jj]
                v1 = c1[jj]
                v2 = c2[jj]
                v3 = c3[jj]
                a0[jj] = _add4(metric, a0[jj], x00, x01, x02, x03, v0, v1, v2, v3)
                a1[jj] = _add4(metric, a1[jj], x10, x11, x12, x13, v0, v1, v2, v3)
                a2[jj] = _add4(metric, a2[jj], x20, x21, x22, x23, v0, v1, v2, v3)
                a3[jj] = _add4(metric, a3[jj], x30, x31, x32, x33, v0, v1, v2, v3)
            k += 4
        while k < d:
            c0 = Xt[k, j0:j1]
            x00, x10, x20, x30 = X[i, k], X[i + 1, k], X[i + 2, k], X[i + 3, k]
            for jj in range(m):
                v0 = c0[jj]
                a0[jj] += _term(metric, x00, v0)
                a1[jj] += _term(metric, x10, v0)
                a2[jj] += _term(metric, x20, v0)
                a3[jj] += _term(metric, x30, v0)
            k += 1
        for r in range(ROWS):
            _finish(metric, acc[r, :m], aux, i + r, aux, j0)

    return block_distances_rows_of_metric


@numba.njit(cache=True, error_model="numpy")
def _condensed_rows(X, Xt, i, code, p, aux, weights, vi, out, acc):
    """Rows ``i:i+ROWS`` (fewer at the end) of the condensed matrix: each row's entries
    within the group one row at a time, then the columns after the group for all its rows."""
    n = X.shape[0]
    rows = min(ROWS, n - i)
    end = i + rows
    for r in range(i, end - 1):
        base = row_start(r, n) - r - 1
        block_distances(code, X, r, Xt, r + 1, end, acc[0], p, aux, weights, vi)
        for j in range(r + 1, end):
            out[base + j] = acc[0, j - r - 1]
    for j0 in range(end, n, BLOCK):
        j1 = min(n, j0 + BLOCK)
        block_distances_rows(code, X, i, rows, Xt, j0, j1, acc, p, aux, weights, vi)
        for r in range(rows):
            base = row_start(i + r, n) - i - r - 1
            for j in range(j0, j1):
                out[base + j] = acc[r, j - j0]


def condensed_distances(X, code, p, aux, weights, vi, out):
    """Fill `out` (length n(n-1)/2, SciPy's order) with the distances between rows of `X`.

    Rows go in groups of :data:`ROWS` (:func:`block_distances_rows`), groups in pairs (t,
    last - t) so that every thread gets the same triangle area.
    """
    for_metric(code).condensed(X, p, aux, weights, vi, out)


@numba.njit(cache=True, error_model="numpy", parallel=True)
def _condensed_distances(X, code, p, aux, weights, vi, out):
    n = X.shape[0]
    Xt = np.ascontiguousarray(X.T)
    groups = (n + ROWS - 1) // ROWS
    for t in numba.prange((groups + 1) // 2):
        acc = np.empty((ROWS, BLOCK))
        _condensed_rows(X, Xt, np.int64(t) * ROWS, code, p, aux, weights, vi, out, acc)
        if groups - 1 - t != t:
            _condensed_rows(X, Xt, (groups - 1 - t) * ROWS, code, p, aux, weights, vi, out,
                            acc)


def square_from_observations(X, code, p, aux, weights, vi, out, block_min=None):
    """Fill the square matrix `out` (n, n) with distances, the diagonal with +inf.

    The metrics of :data:`GROUPED` compute every row whole, :data:`ROWS` rows at a time
    (:func:`square_rows`): each distance twice, but every store runs along a row, and their
    arithmetic is cheap. The others compute each distance once and store it at (i, j) and
    (j, i) in the same pass (:func:`_square_column_block`). The distances are symmetric to
    the bit either way (each metric's arithmetic is; but see NaN below).

    With `block_min` (int64, (n, :func:`column_blocks`)), also the smallest key
    (``_lazy_matrix.int_keys``) of each row's :data:`BLOCK` columns ``c * BLOCK:(c + 1) *
    BLOCK`` into ``block_min[i, c]``, taken while the values are in cache: a first scan that
    reads only the blocks able to hold a row's smallest entries
    (``_round_rows.smallest_keys_in_blocks``) instead of the whole matrix again.

    NaN: the symmetry to the bit holds for finite observations. NaN propagates the sign of the
    first NaN operand, so with NaNs of both signs the triangles of the whole-row fill may
    differ in NaN's sign bit (the engines refuse non-finite observations before the fill).
    """
    if block_min is None:
        block_min = np.empty((0, 0), dtype=np.int64)
    for_metric(code).square(X, p, aux, weights, vi, out, int_keys(out), block_min)


def column_blocks(n: int) -> int:
    """Blocks of :data:`BLOCK` columns in a row of n entries."""
    return (n + BLOCK - 1) // BLOCK


SQUARE_TILE = 256  # rows per tile of the tiled square fill (the metrics outside GROUPED, see
# _square_column_block): a whole block, so that each row a tile writes gets 2 KiB at once (fewer
# pages per store than with tiles of 32 rows; the tile, 0.5 MiB, stays in L2)
assert BLOCK % SQUARE_TILE == 0  # a tile lies in one column block (the block minima)
# The tile buffer's row length: BLOCK columns plus one cache line, so that a column of the
# buffer (read for the transposed stores) spans different cache sets instead of a few.
_TILE_STRIDE = BLOCK + 8


@numba.njit(cache=True, error_model="numpy")
def _square_column_block(X, Xt, j0, j1, code, p, aux, weights, vi, out, acc, tile, keys,
                         block_min):
    """Columns ``j0:j1`` of the upper triangle of `out` and, transposed, rows ``j0:j1`` of the
    lower one; the diagonal entries of these rows become +inf.

    Why tiles: filling the upper triangle row by row and then copying it below the diagonal is a
    second pass over the matrix that walks down its columns, about as costly as the distances.
    Here tiles of SQUARE_TILE rows ``i0:i1`` meet the block, top to bottom: each row's distances
    (one ``block_distances`` call per row and block: the bits of the condensed matrix)
    go to ``out[i, j0:j1]`` and into `tile`, which stays in cache; from it ``out[j, i0:i1]`` is
    written for each column j. Every store runs along a row of `out`, each value is stored twice
    while it is in cache, and since the tiles go down in order, each row j of the block is
    written left to right, a stream, as ``out[i, j0:j1]`` is within one tile.

    `out` and `tile` are indexed, never sliced: a view of `out` costs a reference count update
    on the array both threads share.

    Block minima (when ``block_min`` has rows): the entries of row i in column block c are all
    stored by the call for the column block ``max(c, i // BLOCK)`` (a tile lies in one block:
    BLOCK is a multiple of SQUARE_TILE), so each ``block_min[i, c]`` has one writer; its
    minimum is taken over the keys once the block's last one is stored (read back from L1 or
    L2: rows above the block as they are written, the block's rows after each earlier block's
    last tile and after the block itself).
    """
    minima = block_min.shape[0] > 0
    for j in range(j0, j1):
        out[j, j] = np.inf
    for i0 in range(0, j1 - 1, SQUARE_TILE):  # the last tile holds the block's own triangle
        i1 = min(j1 - 1, i0 + SQUARE_TILE)
        for i in range(i0, i1):
            start = max(j0, i + 1)
            block_distances(code, X, i, Xt, start, j1, acc, p, aux, weights, vi)
            for j in range(start, j1):
                value = acc[j - start]
                out[i, j] = value
                tile[i - i0, j - j0] = value
            if minima and i < j0:  # row i's entries in this block, just stored
                block_min[i, j0 // BLOCK] = _min_key(keys, i, j0, j1)
        for j in range(max(j0, i0 + 1), j1):
            for i in range(i0, min(i1, j)):  # the tile's rows above the diagonal of column j
                out[j, i] = tile[i - i0, j - j0]
        if minima and i1 <= j0 and i1 % BLOCK == 0:  # the last tile of an earlier column block
            for j in range(j0, j1):
                block_min[j, i1 // BLOCK - 1] = _min_key(keys, j, i1 - BLOCK, i1)
    if minima:  # the block's own rows, every entry of the block now stored
        for j in range(j0, j1):
            block_min[j, j0 // BLOCK] = _min_key(keys, j, j0, j1)


@numba.njit(cache=True, error_model="numpy", inline="always")
def _min_key(keys, i, j0, j1):
    """The smallest of ``keys[i, j0:j1]`` as an int64 (int64's largest when empty): as
    ``_lazy_matrix.min_key`` on row i, indexed rather than sliced (see above)."""
    low = np.iinfo(np.int64).max
    for j in range(j0, j1):
        k = np.int64(keys[i, j])
        low = k if k < low else low
    return low


@numba.njit(cache=True, error_model="numpy")
def square_rows(X, Xt, i, end, first, code, p, aux, weights, vi, out, acc, keys, block_min):
    """Rows ``i:min(i+ROWS, end)`` of the square distance matrix of `X`, whole, into `out`
    from its row ``i - first`` on, +inf on the diagonal. With `block_min` (rows, indexed as
    `out`'s), each row's smallest key per block of columns (as
    :func:`square_from_observations`), read back from the values just stored through `keys`
    (``_lazy_matrix.int_keys(out)``)."""
    n = X.shape[0]
    rows = min(ROWS, end - i)
    minima = block_min.shape[0] > 0
    for j0 in range(0, n, BLOCK):
        j1 = min(n, j0 + BLOCK)
        block_distances_rows(code, X, i, rows, Xt, j0, j1, acc, p, aux, weights, vi)
        for r in range(rows):
            o = i + r - first
            for j in range(j0, j1):
                out[o, j] = acc[r, j - j0]
            if j0 <= i + r < j1:
                out[o, i + r] = np.inf
            if minima:
                block_min[o, j0 // BLOCK] = _min_key(keys, o, j0, j1)


@numba.njit(cache=True, error_model="numpy", parallel=True)
def _square_from_observations(X, code, p, aux, weights, vi, out, keys, block_min):
    n = X.shape[0]
    Xt = np.ascontiguousarray(X.T)
    if code in GROUPED:
        for g in numba.prange((n + ROWS - 1) // ROWS):
            acc = np.empty((ROWS, BLOCK))
            square_rows(X, Xt, np.int64(g) * ROWS, n, np.int64(0), code, p, aux, weights, vi,
                        out, acc, keys, block_min)
        return
    blocks = (n + BLOCK - 1) // BLOCK
    # Block b's columns meet about (b + 1/2) BLOCK rows: blocks b and blocks-1-b together are
    # about the same work for every b, so equal shares of pairs are equal shares of work.
    for b in numba.prange((blocks + 1) // 2):
        acc = np.empty(BLOCK)
        tile = np.empty((SQUARE_TILE, _TILE_STRIDE))
        j0 = np.int64(b) * BLOCK
        _square_column_block(X, Xt, j0, min(n, j0 + BLOCK), code, p, aux, weights, vi, out, acc,
                             tile, keys, block_min)
        c = blocks - 1 - b
        if c != b:
            j0 = c * BLOCK
            _square_column_block(X, Xt, j0, min(n, j0 + BLOCK), code, p, aux, weights, vi, out,
                                 acc, tile, keys, block_min)


class MetricKernels(NamedTuple):
    """The compiled entry points of one metric for the host (see :func:`for_metric`); each
    takes the arguments of the function it names less `code`."""

    pair: Any  # pair_distance
    block: Any  # block_distances
    condensed: Any  # condensed_distances
    square: Any  # square_from_observations


@functools.cache
def for_metric(code: int) -> MetricKernels:
    """The entry points of metric `code` (``gpuhclust._metrics.METRIC_CODES``).

    The code is a constant of each (a closure variable, which Numba's cache key includes):
    the kernels below them get it as a literal and compile this metric's arithmetic only. Each
    compiles on its first call.
    """
    if code not in METRIC_CODES.values():
        raise ValueError(f"no compiled metric has code {code}")
    code = int(code)

    @numba.njit(cache=True, error_model="numpy")
    def pair(X, i, Y, j, p, aux_u, aux_v, weights, vi):
        return pair_distance(code, X, i, Y, j, p, aux_u, aux_v, weights, vi)

    @numba.njit(cache=True, error_model="numpy")
    def block(X, i, Xt, j0, j1, acc, p, aux, weights, vi):
        block_distances(code, X, i, Xt, j0, j1, acc, p, aux, weights, vi)

    @numba.njit(cache=True, error_model="numpy")
    def condensed(X, p, aux, weights, vi, out):
        _condensed_distances(X, code, p, aux, weights, vi, out)

    @numba.njit(cache=True, error_model="numpy")
    def square(X, p, aux, weights, vi, out, keys, block_min):
        _square_from_observations(X, code, p, aux, weights, vi, out, keys, block_min)

    return MetricKernels(pair, block, condensed, square)


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


#: Rows per tile of the square matrix filled from a condensed one (see
#: :func:`_square_from_condensed`).
CONDENSED_TILE = 32


def square_from_condensed(y, out, block_min=None):
    """Expand the condensed matrix `y` (float64 or float32) into the square `out` (float64 or
    float32): +inf on the diagonal, -0.0 turned into +0.0. With `block_min` (int64,
    (n, :func:`column_blocks`)), also each row's smallest key per block of columns, as
    :func:`square_from_observations` records them."""
    if block_min is None:
        block_min = np.empty((0, 0), dtype=np.int64)
    _square_from_condensed(y, out, int_keys(out), block_min)


@numba.njit(cache=True, error_model="numpy", parallel=True)
def _square_from_condensed(y, out, keys, block_min):
    """Tiles of CONDENSED_TILE rows ``i0:i1``, each written whole, in parallel.

    Why tiles: row i's entries left of the diagonal lie one per row of `y` (column j < i of row
    i is ``y[row_start(j) + i - j - 1]``), so filling rows one at a time reads a cache line of
    `y` per entry; for a tile, column j's entries are ``i1 - i0`` consecutive values of `y`,
    read at once. Each row is written left to right (the tile's rows side by side below the
    tile, then each row from its tile to its end), and each block's minimum is taken from the
    keys just stored, while they are in cache (block c of a row with its last entry)."""
    n = out.shape[0]
    minima = block_min.shape[0] > 0
    blocks = (n + BLOCK - 1) // BLOCK
    for t in numba.prange((n + CONDENSED_TILE - 1) // CONDENSED_TILE):
        i0 = np.int64(t) * CONDENSED_TILE
        i1 = min(n, i0 + CONDENSED_TILE)
        for j0 in range(0, i0, BLOCK):  # the columns left of the tile
            j1 = min(i0, j0 + BLOCK)
            for j in range(j0, j1):
                base = row_start(j, n) + i0 - j - 1
                for i in range(i0, i1):
                    out[i, j] = y[base + i - i0] + 0.0
            if minima and j1 == j0 + BLOCK:  # a block of columns wholly left of the tile
                for i in range(i0, i1):
                    block_min[i, j0 // BLOCK] = _min_key(keys, i, j0, j1)
        for i in range(i0, i1):
            for j in range(i0, i):  # the tile's own lower triangle
                out[i, j] = y[row_start(j, n) + i - j - 1] + 0.0
            out[i, i] = np.inf
            base = row_start(i, n) - i - 1
            for c in range(i0 // BLOCK, blocks):  # the rest of row i, block by block
                hi = min(n, (c + 1) * BLOCK)
                for j in range(max(i + 1, c * BLOCK), hi):
                    out[i, j] = y[base + j] + 0.0
                if minima:
                    block_min[i, c] = _min_key(keys, i, c * BLOCK, hi)
