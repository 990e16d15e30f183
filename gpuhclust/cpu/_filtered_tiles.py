"""The first scan's tiles through the float32 filter (``_centroid_filter``): a tile's minima, bit
for bit those of the exact tile (``_centroid_rows._tile_pair``), from the exact w of a few
pairs only.

The first scan (every size 1, so w is half the squared distance) needs, per row of a tile of
positions ``i0:i1`` against columns ``j0:j1`` and per column of it, the first minimum of w and
the key of the second smallest. Of any two entries of a row, the larger exact w is at least
the row's second smallest, so it bounds everything the row needs: the minimum, its ties and
the second smallest all lie at or below it. Here the tile is first measured in float32 as a
Gram product (``S32``, the rescans' filter, taken as 0 where rounding makes it negative: that
only lets more through); each row takes two of its smallest ``S32`` (about the two least:
any two would do), computes their exact w, and the larger is its bound; the filter's line for
that bound rules out, with its proof, every column whose exact w lies above it (never those
two), and only the rest are computed exactly: usually none, and the row's answer is the two.
The columns do the same over the rows. Every pair the exact tile would rank is computed with
the exact tile's arithmetic (``_vector.sq_block``'s sum in feature order, then times 0.5), so
the minima, their positions (the lowest among equal w) and the second smallest keys are the
exact tile's.

A tile where the filter lets more than :data:`HITS_PER_LINE` pairs per row and column through
on average (clusters tight against their distance from the data's middle, where float32's
rounding hides the differences) is computed exactly instead: the rows give up as soon as their
average passes it, and the first scan stops trying the filter in a share of its tiles that
gave up more often than not (``_centroid_rows._tile_pairs``).
"""
from __future__ import annotations

import numba
import numpy as np

from ._centroid_filter import FILTER_MOST, dot_block_quad, gap, line
from ._distances import BLOCK
from ._round_rows import NO_KEY

__all__ = ["HITS_PER_LINE", "tile_scratch", "filtered_tile"]

#: Pairs a tile may compute exactly per row and column, on average, before it is left to the
#: exact tile.
HITS_PER_LINE = FILTER_MOST
_NO_ORDER = np.iinfo(np.int32).max
_POSITION_BITS = 8  # BLOCK positions, in the lowest bits of an order key
assert BLOCK <= 1 << _POSITION_BITS


@numba.njit(cache=True, error_model="numpy", inline="always")
def _exact_w(X, i, j):
    """w of positions i and j of size 1: ``_vector.sq_block``'s squared distance (the
    differences ``x_i - x_j`` squared and added in feature order, no FMA) times 0.5; `X` holds
    the centroids position-major."""
    s = 0.0
    for k in range(X.shape[1]):
        t = X[i, k] - X[j, k]
        s += t * t
    return s * 0.5


@numba.njit(cache=True, error_model="numpy", inline="always")
def _about_least(order, m):
    """A position of ``order[:m]`` whose key is the least but for its lowest 8 bits, which
    hold the position instead (one vectorised pass; the bound needs any two entries, so near
    ties may go either way)."""
    best = np.int32(_NO_ORDER)
    high = np.int32(-(1 << _POSITION_BITS))
    for jj in range(m):
        # Numba computes int32 bit operations in int64; cast back, the loop is an int32 minimum
        # on eight lanes (four without the cast)
        v = np.int32((order[jj] & high) | jj)
        best = v if v < best else best
    return np.int64(best & ((1 << _POSITION_BITS) - 1))


@numba.njit(cache=True, error_model="numpy", inline="always")
def _two_least(order, m):
    """Two positions (different) of about the least keys of ``order[:m]`` (m >= 2)."""
    a = _about_least(order, m)
    kept = order[a]
    order[a] = _NO_ORDER
    b = _about_least(order, m)
    order[a] = kept
    return a, b


@numba.njit(cache=True, error_model="numpy", inline="always")
def _rank(key, count):
    """The first minimum (its index in ``0:count``) and the second smallest of the keys
    ``key[:count]`` (exact w as int64, candidates in increasing position)."""
    low = NO_KEY
    second = NO_KEY
    first = 0
    for c in range(count):
        k = key[c]
        if k < low:
            second = low
            low = k
            first = c
        elif k < second:
            second = k
    return first, second


@numba.njit(cache=True, error_model="numpy")
def tile_scratch(d):
    """Scratch of :func:`filtered_tile` for one thread's tiles of centroids in d features:
    S32 (BLOCK, BLOCK) float32; the dot products (4, BLOCK) and four queries (4, d) float32;
    a line's candidates (BLOCK,) int64 and their exact w (float64); the columns' two least
    order keys and rows, their hit counts and a row of no keys (6, BLOCK) int32; their lines
    (2, BLOCK) float32 and two exact w (2, BLOCK) float64; flags (BLOCK,) int32; the rows'
    two least positions (2, BLOCK) int64 and their exact w (2, BLOCK) float64."""
    S = np.empty((BLOCK, BLOCK), dtype=np.float32)
    acc = np.empty((4, BLOCK), dtype=np.float32)
    queries = np.empty((4, max(d, 1)), dtype=np.float32)
    cand = np.empty(BLOCK, dtype=np.int64)
    w = np.empty(BLOCK)
    cols = np.empty((6, BLOCK), dtype=np.int32)
    lines = np.empty((2, BLOCK), dtype=np.float32)
    pair_w = np.empty((2, BLOCK))
    flags = np.empty(BLOCK, dtype=np.int32)
    row_least = np.empty((2, BLOCK), dtype=np.int64)
    row_w = np.empty((2, BLOCK))
    return S, acc, queries, cand, w, cols, lines, pair_w, flags, row_least, row_w


@numba.njit(cache=True, error_model="numpy", inline="always")
def _answer(w, key, cand, count, part_w, part_p, part_k2, row, tile, offset):
    """Row (or column) `row`'s entries of tile `tile` from its candidates' exact w
    ``w[:count]`` (`key`: their int64 view) at positions ``offset + cand[:count]``
    (increasing)."""
    first, second = _rank(key, count)
    part_w[tile, row] = w[first]
    part_p[tile, row] = offset + cand[first] if w[first] < np.inf else -1
    part_k2[tile, row] = second


@numba.njit(cache=True, error_model="numpy", inline="always")
def _candidates(flags, m, cand, a, b, wa, wb, w, X, i, j, column):
    """The flagged positions of ``flags[:m]`` into `cand` in increasing order and their exact w
    into `w` (positions a and b, always among them, with their known wa, wb); returns the
    count. With `column`, positions are rows of `X` against column j; else columns against
    row i."""
    count = 0
    for p in range(m):
        cand[count] = p
        count += flags[p]
    for c in range(count):
        p = cand[c]
        if p == a:
            w[c] = wa
        elif p == b:
            w[c] = wb
        else:
            w[c] = _exact_w(X, i + p, j) if column else _exact_w(X, i, j + p)
    return count


@numba.njit(cache=True, error_model="numpy")
def filtered_tile(X, C32, terms, constants, i0, i1, j0, j1, part_w, part_p, part_k2, tile_i,
                  tile_j, S, acc, queries, cand, w, cols, lines, pair_w, flags, row_least,
                  row_w):
    """Rows ``i0:i1`` against columns ``j0:j1`` (disjoint ranges, every size 1, at least two
    of each) of the first scan: ``part_[wp][tile_j, i]``, ``part_k2[tile_j, i]`` for the rows
    and ``part_[wp][tile_i, j]``, ``part_k2[tile_i, j]`` for the columns, as
    ``_centroid_rows._tile_pair`` has them. Returns False, having written nothing that the
    exact tile does not overwrite, where the filter let too many pairs through.

    `X`: the centroids position-major (float64); `C32`, `terms`, `constants`: the filter's
    (``_centroid_filter``; `terms` of every position); the rest: :func:`tile_scratch`.
    """
    rows = i1 - i0
    m = j1 - j0
    budget = HITS_PER_LINE * (rows + m)
    exact = 0
    norms = terms[0]
    errors = terms[2]
    norms_j = norms[j0:j1]
    errors_j = errors[j0:j1]
    two = np.float32(2.0)
    zero = np.float32(0.0)
    key = w.view(np.int64)
    d = C32.shape[0]
    # non-negative float32: their bits order as the values (signed integers)
    order = S.view(np.int32)
    least, least_at, next_least, next_at, hits, none = (cols[0], cols[1], cols[2], cols[3],
                                                        cols[4], cols[5])
    none[:m] = _NO_ORDER
    least[:m] = _NO_ORDER  # the columns' least order key, its row, the next, its row
    least_at[:m] = 0
    next_least[:m] = _NO_ORDER
    next_at[:m] = 1
    hits[:m] = 0
    # S32 of every pair of the tile, the products four rows per pass over the columns
    for i in range(i0, i1):
        t = i - i0
        if t % 4 == 0:
            for r in range(4):  # float32 centroids, copied: no views of the shared C32
                src = min(i + r, i1 - 1)  # a short last group repeats its last row
                for k in range(d):
                    queries[r, k] = C32[k, src]
            dot_block_quad(C32, queries, j0, j1, acc)
        n_i = norms[i]  # 1-d views: the loops over them vectorise
        s_row = S[t]
        dots = acc[t % 4]
        for jj in range(m):
            s = (n_i + norms_j[jj]) - two * dots[jj]
            s_row[jj] = s if s > zero else zero
        if t % 2 == 0 and i + 1 < i1:
            continue  # the columns take this row with the next
        # the columns' two least, updated by a pair's rows in order (a last, single row:
        # the second is a row of no keys, which changes nothing)
        t -= t % 2
        o_first = order[t]
        o_second = none if t + 1 >= rows else order[t + 1]
        t0 = np.int32(t)  # the arrays' type: the loop stays in 32-bit lanes
        t1 = np.int32(t + 1)
        for jj in range(m):  # every load before the stores, so that the loop vectorises
            low = least[jj]
            at = least_at[jj]
            following = next_least[jj]
            following_at = next_at[jj]
            o = o_first[jj]
            below = o < low
            under = o < following
            following = low if below else (o if under else following)
            following_at = at if below else (t0 if under else following_at)
            low = o if below else low
            at = t0 if below else at
            o = o_second[jj]
            below = o < low
            under = o < following
            next_least[jj] = low if below else (o if under else following)
            next_at[jj] = at if below else (t1 if under else following_at)
            least[jj] = o if below else low
            least_at[jj] = t1 if below else at
    # each row's and each column's bound from its two least S32, their exact w computed in
    # loops of their own (each w is a chain of d dependent additions, and only there do the
    # chains of several rows or columns overlap), and their lines
    for t in range(rows):
        row_least[0, t], row_least[1, t] = _two_least(order[t], m)
    for t in range(rows):
        row_w[0, t] = _exact_w(X, i0 + t, j0 + row_least[0, t])
        row_w[1, t] = _exact_w(X, i0 + t, j0 + row_least[1, t])
    for jj in range(m):
        a = least_at[jj]
        next_at[jj] = next_at[jj] if next_at[jj] != a else (1 if a == 0 else 0)
    for jj in range(m):
        pair_w[0, jj] = _exact_w(X, i0 + least_at[jj], j0 + jj)
        pair_w[1, jj] = _exact_w(X, i0 + next_at[jj], j0 + jj)
    for jj in range(m):
        slope, base = line(max(pair_w[0, jj], pair_w[1, jj]), 1.0, norms[j0 + jj], constants)
        lines[0, jj] = slope
        lines[1, jj] = base
    slopes = lines[0]
    bases = lines[1]
    # one pass over S: what each row's line lets through, answered row by row, and what each
    # column's line lets through, counted
    for i in range(i0, i1):
        t = i - i0
        a, b = row_least[0, t], row_least[1, t]
        wa, wb = row_w[0, t], row_w[1, t]
        slope, base = line(max(wa, wb), 1.0, norms[i], constants)
        s_row = S[t]
        e = errors[i]
        count = np.int32(0)
        for jj in range(m):  # slope times 1 / n_j: every size 1
            s = s_row[jj]
            through = np.int32(gap(s, slope, errors_j[jj], base) <= zero)
            flags[jj] = through
            count = np.int32(count + through)  # an int32 sum (see _about_least)
            hits[jj] += np.int32(gap(s, slopes[jj], e, bases[jj]) <= zero)
        exact += count
        if exact > HITS_PER_LINE * (t + 1):  # give up at the first sign, not at the end
            return False
        if count == 2:  # the usual case: a and b alone
            lo, hi = (a, b) if a < b else (b, a)
            cand[0], cand[1] = lo, hi
            w[0], w[1] = (wa, wb) if a < b else (wb, wa)
        else:
            count = _candidates(flags, m, cand, a, b, wa, wb, w, X, i, j0, False)
        _answer(w, key, cand, count, part_w, part_p, part_k2, i, tile_j, j0)
    for jj in range(m):
        exact += hits[jj]
    if exact > budget:
        return False
    for jj in range(m):
        j = j0 + jj
        a = least_at[jj]
        b = next_at[jj]
        if hits[jj] == 2:
            lo, hi = (a, b) if a < b else (b, a)
            cand[0], cand[1] = lo, hi
            w[0], w[1] = ((pair_w[0, jj], pair_w[1, jj]) if a < b
                          else (pair_w[1, jj], pair_w[0, jj]))
            count = 2
        else:
            for t in range(rows):
                flags[t] = np.int32(gap(S[t, jj], slopes[jj], errors[i0 + t], bases[jj])
                                    <= zero)
            count = _candidates(flags, rows, cand, a, b, pair_w[0, jj], pair_w[1, jj], w, X,
                                i0, j, True)
        _answer(w, key, cand, count, part_w, part_p, part_k2, j, tile_i, i0)
    return True
