"""Boruvka rounds for single linkage: the minimum spanning tree in at most log2(n) rounds.

Single linkage is the minimum spanning tree sorted by height (SciPy computes it with Prim's
algorithm). Boruvka fits row shards: in a round every component picks its cheapest edge to
another component, and all picked edges join the tree at once, so the number of components at
least halves.

Edges are ordered by (distance, lower end, higher end), a strict total order, so the picked
edges never form a cycle and the tree does not depend on the number of shards or on timing. For
one row that order means: the smallest distance, then the lowest column. Each row caches its
cheapest edge and rescans only when the far end has joined its own component (the candidate set
only shrinks, so a cached edge whose far end is still outside stays the cheapest).

On tie-free distances the tree is unique, hence SciPy's; the heights are the distances
themselves, bit for bit. With ties it is a minimum spanning tree, which gives valid
single-linkage merges.

Communication per round: the driver sends the component labels (8n bytes) to every shard;
each shard returns one edge per component present among its rows (4 numbers each).
"""
from __future__ import annotations

import numba
import numpy as np

from .._numba_cache import install

__all__ = ["boruvka_rounds", "scan_rows", "cheapest_per_component", "first_per_group"]

install()  # before the kernels are defined (see gpuhclust._numba_cache)


@numba.njit(cache=True, error_model="numpy")
def scan_rows(D, r0, comp, best_d, best_c):
    """Refresh each row's cheapest edge to another component (lowest column among equals);
    ``best_c`` is -1 when every other observation is in the row's component."""
    for i in range(D.shape[0]):
        r = r0 + i
        cr = comp[r]
        c = best_c[i]
        if c >= 0 and comp[c] != cr:
            continue
        row = D[i]
        bd = np.inf
        bc = -1
        for j in range(row.shape[0]):
            if row[j] < bd and comp[j] != cr:
                bd = row[j]
                bc = j
        best_d[i] = bd
        best_c[i] = bc


def first_per_group(cid, d, lo, hi):
    """For each component id in `cid`, the edge smallest in (d, lo, hi)."""
    order = np.lexsort((hi, lo, d, cid))
    cid, d, lo, hi = cid[order], d[order], lo[order], hi[order]
    first = np.ones(len(cid), dtype=bool)
    first[1:] = cid[1:] != cid[:-1]
    return cid[first], d[first], lo[first], hi[first]


def cheapest_per_component(r0, comp, best_d, best_c):
    """The cheapest edge of every component among rows ``r0:r0+len(best_c)``."""
    ok = best_c >= 0
    rows = np.arange(r0, r0 + len(best_c), dtype=np.int64)[ok]
    cols = best_c[ok]
    return first_per_group(comp[rows], best_d[ok].astype(np.float64),
                           np.minimum(rows, cols), np.maximum(rows, cols))


def _roots(parent):
    """Point every entry of a union-find forest at its root (pointer jumping)."""
    while True:
        nxt = parent[parent]
        if np.array_equal(nxt, parent):
            return parent
        parent = nxt


def boruvka_rounds(shards, n: int, bar, stats) -> np.ndarray:
    """Run the rounds on `shards` (a ``_cluster.ShardSet``); raw merges (u, v, height), tree
    edges between observations in the order they were found, for
    ``gpuhclust._finalise.finalise``."""
    comp = np.arange(n, dtype=np.int64)
    merges = np.empty((max(n - 1, 0), 3))
    k = 0
    while k < n - 1:
        parts = shards.call_all("boruvka", comp)
        cid, d, lo, hi = (np.concatenate(a) for a in zip(*parts))
        _, d, lo, hi = first_per_group(cid, d, lo, hi)
        order = np.lexsort((hi, lo, d))
        d, lo, hi = d[order], lo[order], hi[order]
        parent = comp.copy()
        k_round = k
        for t in range(len(d)):
            a, b = int(lo[t]), int(hi[t])
            ra, rb = parent[a], parent[b]
            while parent[ra] != ra:
                ra = parent[ra]
            while parent[rb] != rb:
                rb = parent[rb]
            if ra == rb:
                continue  # the same edge picked by both of its components
            parent[max(ra, rb)] = min(ra, rb)
            merges[k] = (a, b, d[t])
            k += 1
        if k == k_round:
            raise RuntimeError("Boruvka round found no edge between components")
        comp = _roots(parent)
        stats.rounds += 1
        bar.update(k - k_round)
    return merges
