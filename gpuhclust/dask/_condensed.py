"""A condensed distance matrix on its way to the shards: a NumPy array on the driver, or a 1-D
dask array that is never whole on the driver.

Both are sent in batches of whole condensed rows ``c0:c1`` (:func:`row_batches`); for each
batch every shard gets one array, the entries it needs packed by
``_shard.pack_condensed`` (an entry goes to the shard of its row and to that of its column).

A dask array is read where its chunks are:

* :func:`lazy_input` (from ``gpuhclust.linkage``): its length (n(n-1)/2, or SciPy's
  ValueError) and dtype (the rules of NumPy input), without computing anything.
* :func:`validate`: one pass over the chunks on the workers, each returning its first
  non-finite and first negative entry; the driver raises what ``check_linkage_input`` raises
  for the same NumPy array (the condensed index and the pair (i, j)), before any shard exists.
* :func:`dask_batches`: for each batch, each chunk's part of it is packed for every shard by a
  task on the workers (:func:`pack_for_shards`); the driver gathers the pieces (one batch at a
  time, the next one packed meanwhile), joins them per shard and hands them over.

The dask array's graph is computed twice (validation, then the fill): persist it first
(``y = client.persist(y)``) when its chunks are expensive to compute.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np

from .._methods import Method
from .._validation import (DistanceError, LinkageInput, as_array, beyond_float32,
                           condensed_pair, condensed_row_start, first_bad, float32_range_error,
                           n_from_condensed, read_only)
from ._shard import pack_condensed

__all__ = ["row_batches", "pack_for_shards", "numpy_batches", "dask_batches", "is_lazy",
           "lazy_input", "validate"]

_EMPTY = np.empty(0)


def row_batches(n: int, rows: int):
    """(c0, c1, lo, hi): whole condensed rows ``c0:c1``, `rows` at a time, and the condensed
    entries ``lo:hi`` they span."""
    for c0 in range(0, n - 1, rows):
        c1 = min(n - 1, c0 + rows)
        yield c0, c1, condensed_row_start(c0, n), condensed_row_start(c1, n)


def pack_for_shards(block, lo: int, n: int, bounds) -> list:
    """The condensed entries ``lo:lo+len(block)`` of `block`, packed for each shard of rows
    ``bounds[i] = (r0, r1)``: a float64 array, or None where the shard needs none of them.
    Runs on the driver (NumPy input) or as a task on a worker (one chunk of a dask array)."""
    chunk = read_only(np.asarray(block, dtype=np.float64))
    hi = lo + chunk.shape[0]
    if hi == lo:
        return [None] * len(bounds)
    c = condensed_pair(lo, n)[0]
    out = []
    for r0, r1 in bounds:
        need = pack_condensed(chunk, lo, lo, hi, c, n, r0, r1, _EMPTY)
        piece = None
        if need:
            piece = np.empty(need)
            pack_condensed(chunk, lo, lo, hi, c, n, r0, r1, piece)
        out.append(piece)
    return out


def numpy_batches(y: np.ndarray, n: int, bounds, rows: int):
    """(c0, c1, pieces per part) for a NumPy condensed matrix, packed on the driver."""
    for c0, c1, lo, hi in row_batches(n, rows):
        yield c0, c1, [pack_for_shards(y[lo:hi], lo, n, bounds)]


def _chunk_starts(y, lo: int = 0) -> list[int]:
    return [lo + int(s) for s in np.concatenate(([0], np.cumsum(y.chunks[0])[:-1]))]


def _per_chunk(client, y, fn, lo: int, *args) -> list:
    """Futures of ``fn(chunk, its condensed index, *args)`` for every chunk of `y` (whose entry
    0 is condensed index `lo`), run where the chunks are."""
    from dask import delayed

    task = delayed(fn, pure=True)
    return client.compute([task(block, start, *args) for block, start in
                           zip(y.to_delayed().ravel(), _chunk_starts(y, lo))])


def dask_batches(client, y, n: int, bounds, rows: int):
    """(c0, c1, pieces per part) for a condensed dask array `y`: each batch's parts (its
    intersections with the chunks) are packed by tasks on the workers, and gathered to the
    driver one batch at a time while the next batch is packed."""
    batches = list(row_batches(n, rows))

    def submit(k):
        if k == len(batches):
            return None
        _, _, lo, hi = batches[k]
        return _per_chunk(client, y[lo:hi], pack_for_shards, lo, n, bounds)

    pending = submit(0)
    for k, (c0, c1, _, _) in enumerate(batches):
        following = submit(k + 1)
        parts = client.gather(pending)
        pending = None
        yield c0, c1, parts
        pending = following


def is_lazy(data: LinkageInput) -> bool:
    """Whether `data` holds a condensed matrix as a dask array (from :func:`lazy_input`)."""
    return data.condensed is not None and not isinstance(data.condensed, np.ndarray)


def lazy_input(y):
    """A 1-D dask array as the input of backend='dask': its length and dtype checked, nothing
    computed. An empty one comes back as an empty NumPy array (the NumPy checks refuse it)."""
    as_array(np.empty(0, dtype=y.dtype))  # the dtype rules of NumPy input: real numbers
    length = y.shape[0]
    if math.isnan(length):
        raise ValueError("the condensed distance matrix (a dask array) has unknown chunk sizes: "
                         "call y.compute_chunk_sizes() first")
    if length == 0:
        return np.empty(0, dtype=y.dtype)
    return LinkageInput(n_from_condensed(int(length)), y, None)


def _summarise(block, start: int):
    """(index, value) of the chunk's first non-finite entry, of its first negative one and of
    its first one beyond float32's range (index -1: none), indices in the condensed matrix."""
    a = as_array(block)
    found = []
    for bad in (~np.isfinite(a), a < 0, beyond_float32(a)):
        k = first_bad(bad) if bad.any() else -1
        found.append((start + k if k >= 0 else -1, a[k] if k >= 0 else None))
    return found


def _entry_error(what: str, found, n: int) -> ValueError:
    idx, value = found
    i, j = condensed_pair(idx, n)
    return DistanceError(f"{what}: entry {idx} (observations {i} and {j}) is {value}.",
                         (i, j), idx)


def validate(client, data: LinkageInput, method: Method, dtype=np.float64) -> LinkageInput:
    """The checks ``check_linkage_input`` makes on a NumPy condensed matrix for storage type
    `dtype`, made chunk by chunk on the workers (only a few numbers per chunk come back);
    `data` with `has_negative` set."""
    found = client.gather(_per_chunk(client, data.condensed, _summarise, 0))
    non_finite = [f[0] for f in found if f[0][0] >= 0]
    if non_finite:
        raise _entry_error("The condensed distance matrix must contain only finite values",
                           non_finite[0], data.n)
    negative = [f[1] for f in found if f[1][0] >= 0]
    if negative and method.euclidean_only:
        raise _entry_error(f"method={method.name!r} needs non-negative (Euclidean) distances",
                           negative[0], data.n)
    beyond = [f[2] for f in found if f[2][0] >= 0]
    if beyond and np.dtype(dtype) == np.float32:
        idx, value = beyond[0]
        raise float32_range_error(value, *condensed_pair(idx, data.n), idx)
    return dataclasses.replace(data, has_negative=bool(negative))
