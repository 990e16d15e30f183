"""Row primitives shared by the CPU algorithms: the tie-breaking argmin and the merge log.

The working matrix is square with +inf on the diagonal and in the columns of dead clusters.
Instead of writing the new distances into every row's column at each merge (scattered writes that
dominate a naive implementation), every merge is appended to a log and each row replays the log
entries it has not seen just before it is read. The replay computes the very same
Lance-Williams expression with the very same operands, so the values are bit-identical to an
eager update.
"""
from __future__ import annotations

import numba
import numpy as np

from ._lance_williams import lance_williams, merge_rows


@numba.njit(cache=True, error_model="numpy", inline="always")
def first_argmin(row, keys, start, nonneg):
    """Index of the first minimum of ``row[start:]`` (NaN never wins), or -1 when all are +inf/NaN.

    With `nonneg`, `keys` is `row` reinterpreted as signed integers of the same width: for
    non-negative floats (and NaN with its sign bit clear, which ``lance_williams`` guarantees)
    the integer order is the float order, NaN above +inf, and a signed integer min reduction
    vectorises (AVX2 has no unsigned 64-bit min, nor a float min reduction without fast-math).
    """
    n = row.shape[0]
    if start >= n:
        return -1
    if nonneg:
        m = keys[start]
        for i in range(start + 1, n):
            k = keys[i]
            m = k if k < m else m
        for i in range(start, n):
            if keys[i] == m:
                return i if row[i] < np.inf else -1
        return -1
    best = np.inf
    idx = -1
    for i in range(start, n):
        if row[i] < best:
            best = row[i]
            idx = i
    return idx


@numba.njit(cache=True, error_model="numpy", inline="always")
def replay(D, i, upto, last, log_a, log_b, log_h, log_na, log_nb, size_i, code):
    """Bring row `i` up to date with log entries ``last[i]:upto``; row i's cluster is unchanged
    since then, so `size_i` is its size at every one of those merges."""
    row = D[i]
    for t in range(last[i], upto):
        a = log_a[t]
        b = log_b[t]
        row[b] = lance_williams(code, row[a], row[b], log_h[t], log_na[t], log_nb[t], size_i)
        row[a] = np.inf
    last[i] = upto


@numba.njit(cache=True, error_model="numpy", inline="always")
def merge_and_log(D, code, x, y, height, size, k, last, log_a, log_b, log_h, log_na, log_nb):
    """Merge cluster x into slot y (rows x and y must be up to date): row y gets the new
    distances, x dies, and the merge becomes log entry `k` for the other rows to replay."""
    nx = size[x]
    ny = size[y]
    merge_rows(code, D[x], D[y], height, nx, ny, size)
    D[y, x] = np.inf
    D[y, y] = np.inf
    size[x] = 0
    size[y] = nx + ny
    log_a[k] = x
    log_b[k] = y
    log_h[k] = height
    log_na[k] = nx
    log_nb[k] = ny
    last[y] = k + 1
