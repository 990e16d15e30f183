"""The one finalisation step every backend shares: raw merges in, SciPy's Z out.

For single, complete, average, weighted and ward, backends report merges as (slot_a, slot_b,
height) in the order they were found; SciPy stably sorts them by height and renumbers the clusters
with a union-find (``_hierarchy.label``). Centroid and median are reported directly as Z rows in
merge order and are left as they are.
"""
from __future__ import annotations

import numpy as np

from ._methods import Method

__all__ = ["finalise", "label", "compiled_label"]

#: Up to this many observations the union-find runs in the interpreter (milliseconds): a
#: first ``linkage`` on small input then needs no Numba at all (backend 'numpy'); above it,
#: the same function compiled.
INTERPRETED_MAX_N = 4096


def label(Z, n):
    """SciPy's ``label``: rename slot numbers to cluster ids, lower id first, and fill sizes.

    Plain Python that Numba compiles unchanged (:func:`compiled_label`); the union-find
    compresses paths as SciPy's ``LinkageUnionFind`` does.
    """
    parent = np.arange(2 * n - 1)
    sizes = np.ones(2 * n - 1, dtype=np.int64)
    roots = np.empty(2, dtype=np.int64)
    next_label = n
    for i in range(n - 1):
        for side in range(2):
            x = int(Z[i, side])
            root = x
            while parent[root] != root:
                root = parent[root]
            while parent[x] != root:
                nxt = parent[x]
                parent[x] = root
                x = nxt
            roots[side] = root
        root_x = roots[0]
        root_y = roots[1]
        Z[i, 0] = min(root_x, root_y)
        Z[i, 1] = max(root_x, root_y)
        parent[root_x] = next_label
        parent[root_y] = next_label
        sizes[next_label] = sizes[root_x] + sizes[root_y]
        Z[i, 3] = sizes[next_label]
        next_label += 1


_compiled = []


def compiled_label():
    """:func:`label` compiled (and cached) by Numba, announced once like the CPU backend's
    compilations."""
    if not _compiled:
        import numba

        from . import _compile_notice, _numba_cache

        _compile_notice.install()
        _numba_cache.install()
        _compiled.append(numba.njit(cache=True, error_model="numpy")(label))
    return _compiled[0]


def finalise(raw: np.ndarray, n: int, method: Method, squares: bool = False) -> np.ndarray:
    """Turn a backend's raw merges into SciPy's linkage matrix.

    Parameters
    ----------
    raw : ndarray
        For methods with ``method.sorted_output``: shape (n-1, >=3) with slot numbers and heights
        in discovery order. Otherwise: finished Z rows (n-1, 4) in merge order.
    n : int
        Number of observations.
    method : Method
        The method table entry.
    squares : bool
        The heights are squares (``gpuhclust._plan.keeps_squares``): their roots, taken
        first, are the heights that are sorted and reported.

    Returns
    -------
    Z : ndarray of float64, shape (n-1, 4)
    """
    raw = np.asarray(raw, dtype=np.float64)
    if squares:
        raw = raw.copy()
        raw[:, 2] = np.sqrt(raw[:, 2])
    if not method.sorted_output:
        return np.ascontiguousarray(raw[:, :4])
    order = np.argsort(raw[:, 2], kind="mergesort")
    Z = np.zeros((n - 1, 4), dtype=np.float64)
    Z[:, :3] = raw[order, :3]
    (label if n <= INTERPRETED_MAX_N else compiled_label())(Z, n)
    return Z
