"""Lance-Williams updates, written exactly as SciPy's ``_hierarchy_distance_update.pxi`` writes
them (same operations in the same order, integer products where SciPy has them), so the CPU
backend reproduces SciPy's heights to the last bit.

Method codes are SciPy's (see ``gpuhclust._methods``). Ward, centroid and median take Euclidean
distances and square them inside the formula, as SciPy does. Where those squares leave float64's
range (distances beyond ~1e154 overflow, below ~1e-154 lose precision as subnormals) the same
expression is evaluated on the operands multiplied by 1/s, s the largest of them, and the root
by s: exact up to rounding, and finite whenever the true distance is. Only then: on ordinary
magnitudes the unscaled expression, SciPy's, is the one evaluated. ``kernels/lance_williams.cuh``
is the same arithmetic, branch for branch.

One code is not SciPy's: ``WARD_SQUARED`` (``gpuhclust._methods``), ward on squared distances
for the rounds, which keep the squares when the plan allows (no squares, no root, no scaling).
"""
from __future__ import annotations

import math

import numba
import numpy as np

from .._methods import DBL_MAX, METHODS, SQRT_TINY, WARD_SQUARED

# Method codes from the one method table (compile-time constants to Numba).
SINGLE, COMPLETE, AVERAGE, CENTROID, MEDIAN, WARD, WEIGHTED = (
    METHODS[name].code
    for name in ("single", "complete", "average", "centroid", "median", "ward", "weighted"))


@numba.njit(cache=True, error_model="numpy")
def _positive_nan(r):
    # The square root of a slightly negative rounding result is NaN, and x86 makes it a NaN with
    # the sign bit set. NaN never wins a comparison, as in SciPy; clearing its sign keeps it
    # above +inf in the integer-keyed argmin of ``_lazy_matrix.first_argmin`` as well.
    return abs(r) if r != r else r


@numba.njit(cache=True, error_model="numpy")
def _centroid_radicand(d_xi, d_yi, d_xy, size_x, size_y):
    return ((((size_x * d_xi * d_xi) + (size_y * d_yi * d_yi))
             - (size_x * size_y * d_xy * d_xy) / (size_x + size_y))
            / (size_x + size_y))


@numba.njit(cache=True, error_model="numpy")
def _median_radicand(d_xi, d_yi, d_xy):
    return 0.5 * (d_xi * d_xi + d_yi * d_yi) - 0.25 * d_xy * d_xy


@numba.njit(cache=True, error_model="numpy")
def _ward_radicand(d_xi, d_yi, d_xy, size_x, size_y, size_i):
    t = 1.0 / (size_x + size_y + size_i)
    return ((size_i + size_x) * t * d_xi * d_xi
            + (size_i + size_y) * t * d_yi * d_yi
            - size_i * t * d_xy * d_xy)


@numba.njit(cache=True, error_model="numpy")
def _average(d_xi, d_yi, size_x, size_y):
    return (size_x * d_xi + size_y * d_yi) / (size_x + size_y)


@numba.njit(cache=True, error_model="numpy")
def _ward_squared(d_xi, d_yi, d_xy, size_x, size_y, size_i):
    """Ward on squared distances (``_methods.WARD_SQUARED``): the radicand on the squares
    themselves, divided once (three products fewer than :func:`_ward_radicand`), NaN where
    rounding makes it negative."""
    q = (((size_i + size_x) * d_xi + (size_i + size_y) * d_yi - size_i * d_xy)
         / (size_x + size_y + size_i))
    return np.nan if q < 0.0 else q


@numba.njit(cache=True, error_model="numpy")
def _radicand(code, d_xi, d_yi, d_xy, size_x, size_y, size_i):
    if code == CENTROID:
        return _centroid_radicand(d_xi, d_yi, d_xy, size_x, size_y)
    if code == MEDIAN:
        return _median_radicand(d_xi, d_yi, d_xy)
    return _ward_radicand(d_xi, d_yi, d_xy, size_x, size_y, size_i)


@numba.njit(cache=True, error_model="numpy")
def _largest(d_xi, d_yi, d_xy):
    s = d_xi if d_xi > d_yi else d_yi
    return s if s > d_xy else d_xy


@numba.njit(cache=True, error_model="numpy")
def _needs_scaling(q, s):
    # q is NaN or +inf for finite operands only when a square overflowed (inf - inf, inf);
    # +inf operands (dead clusters) stay +inf unscaled
    return (not (q <= DBL_MAX) and s < np.inf) or (s > 0.0 and s < SQRT_TINY)


@numba.njit(cache=True, error_model="numpy")
def _squared_method(code, d_xi, d_yi, d_xy, size_x, size_y, size_i):
    """Centroid, median or ward: sqrt of the squared update, scaled where the squares leave
    float64's range (see the module docstring)."""
    q = _radicand(code, d_xi, d_yi, d_xy, size_x, size_y, size_i)
    s = _largest(d_xi, d_yi, d_xy)
    if _needs_scaling(q, s):
        inv = 1.0 / s
        q = _radicand(code, d_xi * inv, d_yi * inv, d_xy * inv, size_x, size_y, size_i)
        return s * _positive_nan(math.sqrt(q))
    return _positive_nan(math.sqrt(q))


# How this module compiles (the arithmetic is unaffected: LLVM inlines these small functions
# into their callers' loops and folds the constant method code there). Numba types an integer
# constant passed to a jitted function as a literal, and every literal is a compilation of
# its own; and ``inline="always"`` re-runs Numba's front end on the callee at every call
# site, which for nested helpers multiplied into minutes of first-run compilation. So the
# helpers are plain functions taking an int64 code (one compilation each), and only the thin
# :func:`lance_williams` is inlined: it turns a literal code back into an int64.
@numba.njit(cache=True, error_model="numpy")
def _update(code, d_xi, d_yi, d_xy, size_x, size_y, size_i):
    if code == SINGLE:
        return d_yi if d_yi < d_xi else d_xi
    if code == COMPLETE:
        return d_yi if d_yi > d_xi else d_xi
    if code == AVERAGE:
        return _average(d_xi, d_yi, size_x, size_y)
    if code == CENTROID or code == MEDIAN or code == WARD:
        return _squared_method(code, d_xi, d_yi, d_xy, size_x, size_y, size_i)
    if code == WARD_SQUARED:
        return _ward_squared(d_xi, d_yi, d_xy, size_x, size_y, size_i)
    return 0.5 * (d_xi + d_yi)  # WEIGHTED


@numba.njit(cache=True, error_model="numpy", inline="always")
def lance_williams(code, dxi, dyi, dxy, size_x, size_y, size_i):
    """Distance from cluster i to the union of clusters x and y, computed in float64 whatever
    the storage type of the distances."""
    return _update(np.int64(code), np.float64(dxi), np.float64(dyi), np.float64(dxy),
                   np.int64(size_x), np.int64(size_y), np.int64(size_i))


@numba.njit(cache=True, error_model="numpy")
def _third_size(sizes, size_after, rank, t, i):
    """Ward's size of cluster i: `sizes[i]`, or within a round of the rounds driver (`rank`
    given, see ``_round_rows``) `size_after[i]` where ``rank[i] < t``."""
    if rank is None:
        return sizes[i]
    before = sizes[i]
    after = size_after[i]  # both loaded: a select, not a branch, so the loop vectorises
    return after if rank[i] < t else before


@numba.njit(cache=True, error_model="numpy")
def _is_marked(v):
    return math.copysign(1.0, v) < 0.0


# The two loops of :func:`merge_rows`, each compiled once per method code (the code a literal
# there: the branch on it is taken once, not per element). Each returns the number of entries
# that became +inf from a finite `row_x` entry: overflows, or entry y itself (row_x[y] is d_xy,
# row_y[y] the diagonal's +inf), which `first_overflow` tells apart.
@numba.njit(cache=True, error_model="numpy")
def _squared_loop(code, row_x, row_y, d_xy, size_x, size_y, sizes, size_after=None, rank=None,
                  t=0):
    """Centroid, median, ward (its sizes as :func:`_third_size` has them). The vectorised loop
    computes the unscaled expression only (computing the scaled one too for every entry would
    double its divisions and roots). An entry that needs scaling keeps its operand as a mark
    for the pass below: negated, or -inf for a zero (-0.0 would not be told from +0.0).
    Results here are never negative (these methods refuse negative input:
    method.euclidean_only; sqrt gives +0 and _positive_nan)."""
    suspects = 0
    n = row_y.shape[0]
    plain_code = np.int64(code)
    dxy = np.float64(d_xy)  # a float32 height would be a compilation of the helpers of its own
    marked = 0
    for i in range(n):
        a = np.float64(row_x[i])
        b = row_y[i]
        size_i = _third_size(sizes, size_after, rank, t, i) if code == WARD else np.int64(0)
        q = _radicand(plain_code, a, np.float64(b), dxy, size_x, size_y, size_i)
        scale = _needs_scaling(q, _largest(a, np.float64(b), dxy))
        marked += scale
        row_y[i] = (-b if b != 0 else -np.inf) if scale else _positive_nan(math.sqrt(q))
        suspects += (row_y[i] == np.inf) & (a < np.inf)  # as stored: float32 may overflow
    if marked > 0:
        for i in range(n):
            v = row_y[i]
            if _is_marked(v):
                size_i = _third_size(sizes, size_after, rank, t, i) if code == WARD else 0
                row_y[i] = lance_williams(code, row_x[i], 0.0 if v == -np.inf else -v,
                                          d_xy, size_x, size_y, size_i)
                suspects += 1  # let first_overflow look
    return suspects


@numba.njit(cache=True, error_model="numpy")
def _ward_squared_loop(row_x, row_y, d_xy, size_x, size_y, sizes, size_after, rank, t):
    """Ward on squared distances (its sizes as :func:`_third_size` has them): nothing to
    scale."""
    suspects = 0
    dxy = np.float64(d_xy)
    for i in range(row_y.shape[0]):
        a = row_x[i]
        size_i = _third_size(sizes, size_after, rank, t, i)
        row_y[i] = _ward_squared(np.float64(a), np.float64(row_y[i]), dxy, size_x, size_y,
                                 size_i)
        suspects += (row_y[i] == np.inf) & (a < np.inf)
    return suspects


@numba.njit(cache=True, error_model="numpy")
def _simple_loop(code, row_x, row_y, d_xy, size_x, size_y):
    """Single, complete, average, weighted."""
    suspects = 0
    for i in range(row_y.shape[0]):
        a = row_x[i]
        row_y[i] = lance_williams(code, a, row_y[i], d_xy, size_x, size_y, 0)
        suspects += (row_y[i] == np.inf) & (a < np.inf)
    return suspects


@numba.njit(cache=True, error_model="numpy")
def first_overflow(row_x, row_y, x, y):
    """The first cluster i (not x or y) whose distance to the union, `row_y[i]`, became +inf
    although its distance to x, `row_x[i]`, is finite (an overflow of the update or of the
    storage type), or -1. Dead clusters hold +inf in `row_x` and are never reported."""
    for i in range(row_y.shape[0]):
        if i != x and i != y and row_y[i] == np.inf and row_x[i] < np.inf:
            return i
    return -1


@numba.njit(cache=True, error_model="numpy")
def merge_rows(code, row_x, row_y, d_xy, size_x, size_y, sizes, x, y, size_after=None,
               rank=None, t=0):
    """Overwrite `row_y` with the distances of the union of x and y to every cluster; returns
    :func:`first_overflow` (-1 when nothing overflowed). Ward reads cluster i's size as
    :func:`_third_size` has it (`size_after`, `rank` and `t`: within a round of the rounds
    driver); the other methods do not read the third cluster's size. `sizes` (and
    `size_after`) may hold the sizes as int64 or as float64, with the same result (integers
    below 2**53 are exact in float64, and so are their sums); float64 lets ward's loop
    vectorise, as AVX2 has no vector conversion from int64 to float64.

    One loop per method so that each compiles to a tight vectorisable loop (the method branch
    is taken once, not per element). Entries of dead clusters hold +inf and stay +inf.
    """
    if code == SINGLE:
        suspects = _simple_loop(SINGLE, row_x, row_y, d_xy, size_x, size_y)
    elif code == COMPLETE:
        suspects = _simple_loop(COMPLETE, row_x, row_y, d_xy, size_x, size_y)
    elif code == AVERAGE:
        suspects = _simple_loop(AVERAGE, row_x, row_y, d_xy, size_x, size_y)
    elif code == CENTROID:
        suspects = _squared_loop(CENTROID, row_x, row_y, d_xy, size_x, size_y, sizes)
    elif code == MEDIAN:
        suspects = _squared_loop(MEDIAN, row_x, row_y, d_xy, size_x, size_y, sizes)
    elif code == WARD:
        suspects = _squared_loop(WARD, row_x, row_y, d_xy, size_x, size_y, sizes, size_after,
                                 rank, t)
    elif code == WARD_SQUARED:
        suspects = _ward_squared_loop(row_x, row_y, d_xy, size_x, size_y, sizes, size_after,
                                      rank, t)
    else:
        suspects = _simple_loop(WEIGHTED, row_x, row_y, d_xy, size_x, size_y)
    # entries x and y are never reported (row_x[y] is d_xy, row_y[y] the diagonal's +inf: every
    # merge counts y): scan only when some other entry is suspect
    suspects -= (((row_y[x] == np.inf) & (row_x[x] < np.inf))
                 + ((row_y[y] == np.inf) & (row_x[y] < np.inf)))
    if suspects <= 0:
        return -1
    return first_overflow(row_x, row_y, x, y)
