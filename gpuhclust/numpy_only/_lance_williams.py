"""Lance-Williams updates of whole rows in NumPy: ``gpuhclust.cpu._lance_williams`` written for
arrays, the same operations in the same order, so the same bits element for element (the
building-block tests compare the two on hard operands).

`d_xi`, `d_yi` and `size_i` are arrays over the third clusters i; `d_xy`, `size_x` and `size_y`
scalars. Sizes are int64, as in the compiled code (integer sums and products where SciPy has
them).
"""
from __future__ import annotations

import numpy as np

from .._methods import DBL_MAX, METHODS, SQRT_TINY, WARD_SQUARED

__all__ = ["update_row"]

SINGLE, COMPLETE, AVERAGE, CENTROID, MEDIAN, WARD, WEIGHTED = (
    METHODS[name].code
    for name in ("single", "complete", "average", "centroid", "median", "ward", "weighted"))


def _positive_nan(r):
    return np.where(np.isnan(r), np.abs(r), r)


def _radicand(code, d_xi, d_yi, d_xy, size_x, size_y, size_i):
    if code == CENTROID:
        return ((((size_x * d_xi * d_xi) + (size_y * d_yi * d_yi))
                 - (size_x * size_y * d_xy * d_xy) / (size_x + size_y))
                / (size_x + size_y))
    if code == MEDIAN:
        return 0.5 * (d_xi * d_xi + d_yi * d_yi) - 0.25 * d_xy * d_xy
    t = 1.0 / (size_x + size_y + size_i)
    return ((size_i + size_x) * t * d_xi * d_xi
            + (size_i + size_y) * t * d_yi * d_yi
            - size_i * t * d_xy * d_xy)


def _squared_method(code, d_xi, d_yi, d_xy, size_x, size_y, size_i):
    q = _radicand(code, d_xi, d_yi, d_xy, size_x, size_y, size_i)
    s = np.where(d_xi > d_yi, d_xi, d_yi)
    s = np.where(s > d_xy, s, d_xy)
    scale = (~(q <= DBL_MAX) & (s < np.inf)) | ((s > 0.0) & (s < SQRT_TINY))
    out = _positive_nan(np.sqrt(q))
    if scale.any():
        i = np.flatnonzero(scale)
        si = s[i]
        inv = 1.0 / si
        q = _radicand(code, d_xi[i] * inv, d_yi[i] * inv, d_xy * inv, size_x, size_y,
                      size_i[i] if np.ndim(size_i) else size_i)
        out[i] = si * _positive_nan(np.sqrt(q))
    return out


def _ward_squared(d_xi, d_yi, d_xy, size_x, size_y, size_i):
    q = (((size_i + size_x) * d_xi + (size_i + size_y) * d_yi - size_i * d_xy)
         / (size_x + size_y + size_i))
    return np.where(q < 0.0, np.nan, q)


def update_row(code, d_xi, d_yi, d_xy, size_x, size_y, size_i):
    """Distances from every cluster i to the union of x and y (float64 arrays in, float64 out).

    `size_i` is read by ward only (an int64 array, or a scalar); `code` may be
    ``WARD_SQUARED`` (ward on squared distances)."""
    size_x, size_y = np.int64(size_x), np.int64(size_y)
    d_xy = np.float64(d_xy)
    with np.errstate(all="ignore"):  # inf - inf and sqrt(-tiny) give NaN, as compiled
        if code == SINGLE:
            return np.where(d_yi < d_xi, d_yi, d_xi)
        if code == COMPLETE:
            return np.where(d_yi > d_xi, d_yi, d_xi)
        if code == AVERAGE:
            return (size_x * d_xi + size_y * d_yi) / (size_x + size_y)
        if code in (CENTROID, MEDIAN, WARD):
            return _squared_method(code, d_xi, d_yi, d_xy, size_x, size_y, size_i)
        if code == WARD_SQUARED:
            return _ward_squared(d_xi, d_yi, d_xy, size_x, size_y, size_i)
        return 0.5 * (d_xi + d_yi)  # WEIGHTED
