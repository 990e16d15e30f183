"""Lance-Williams updates, written exactly as SciPy's ``_hierarchy_distance_update.pxi`` writes
them (same operations in the same order, integer products where SciPy has them), so the CPU
backend reproduces SciPy's heights to the last bit.

Method codes are SciPy's (see ``gpuhclust._methods``). Ward, centroid and median take Euclidean
distances and square them inside the formula, as SciPy does.
"""
from __future__ import annotations

import math

import numba
import numpy as np

SINGLE, COMPLETE, AVERAGE, CENTROID, MEDIAN, WARD, WEIGHTED = 0, 1, 2, 3, 4, 5, 6


@numba.njit(cache=True, error_model="numpy", inline="always")
def _positive_nan(r):
    # The square root of a slightly negative rounding result is NaN, and x86 makes it a NaN with
    # the sign bit set. NaN never wins a comparison, as in SciPy; clearing its sign keeps it
    # above +inf in the integer-keyed argmin of ``_rows.first_argmin`` as well.
    return abs(r) if r != r else r


@numba.njit(cache=True, error_model="numpy", inline="always")
def lance_williams(code, dxi, dyi, dxy, size_x, size_y, size_i):
    """Distance from cluster i to the union of clusters x and y, computed in float64 whatever
    the storage type of the distances."""
    d_xi = np.float64(dxi)
    d_yi = np.float64(dyi)
    d_xy = np.float64(dxy)
    if code == SINGLE:
        return d_yi if d_yi < d_xi else d_xi
    if code == COMPLETE:
        return d_yi if d_yi > d_xi else d_xi
    if code == AVERAGE:
        return (size_x * d_xi + size_y * d_yi) / (size_x + size_y)
    if code == CENTROID:
        return _positive_nan(math.sqrt(
            (((size_x * d_xi * d_xi) + (size_y * d_yi * d_yi))
             - (size_x * size_y * d_xy * d_xy) / (size_x + size_y))
            / (size_x + size_y)
        ))
    if code == MEDIAN:
        return _positive_nan(math.sqrt(0.5 * (d_xi * d_xi + d_yi * d_yi) - 0.25 * d_xy * d_xy))
    if code == WARD:
        t = 1.0 / (size_x + size_y + size_i)
        return _positive_nan(math.sqrt(
            (size_i + size_x) * t * d_xi * d_xi
            + (size_i + size_y) * t * d_yi * d_yi
            - size_i * t * d_xy * d_xy
        ))
    return 0.5 * (d_xi + d_yi)  # WEIGHTED


@numba.njit(cache=True, error_model="numpy")
def merge_rows(code, row_x, row_y, d_xy, size_x, size_y, sizes):
    """Overwrite `row_y` with the distances of the union of x and y to every cluster.

    One loop per method so that each compiles to a tight vectorisable loop (the method branch
    is taken once, not per element). Entries of dead clusters hold +inf and stay +inf.
    """
    n = row_y.shape[0]
    if code == SINGLE:
        for i in range(n):
            row_y[i] = lance_williams(SINGLE, row_x[i], row_y[i], d_xy, size_x, size_y, 0)
    elif code == COMPLETE:
        for i in range(n):
            row_y[i] = lance_williams(COMPLETE, row_x[i], row_y[i], d_xy, size_x, size_y, 0)
    elif code == AVERAGE:
        for i in range(n):
            row_y[i] = lance_williams(AVERAGE, row_x[i], row_y[i], d_xy, size_x, size_y, 0)
    elif code == CENTROID:
        for i in range(n):
            row_y[i] = lance_williams(CENTROID, row_x[i], row_y[i], d_xy, size_x, size_y, 0)
    elif code == MEDIAN:
        for i in range(n):
            row_y[i] = lance_williams(MEDIAN, row_x[i], row_y[i], d_xy, size_x, size_y, 0)
    elif code == WARD:
        for i in range(n):
            row_y[i] = lance_williams(WARD, row_x[i], row_y[i], d_xy, size_x, size_y, sizes[i])
    else:
        for i in range(n):
            row_y[i] = lance_williams(WEIGHTED, row_x[i], row_y[i], d_xy, size_x, size_y, 0)
