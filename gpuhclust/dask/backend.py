"""backend='dask': exact hierarchical clustering with the distance matrix spread over the
workers of a ``distributed`` cluster.

Layout: one shard (a Dask actor, ``_shard.Shard``) per worker holds a contiguous block of rows
of the square n x n matrix (``8 n^2 / workers`` bytes each in float64); the driver holds only
O(n) state (nearest neighbours and their distances, cluster sizes, component labels, the merge
log). Distances are computed on the workers from the observations (sent once to each worker:
``8 n d`` bytes), or a condensed matrix is sent in batches of whole condensed rows of at most
``transfer_bytes`` (each entry goes to the two shards holding its row and its column). A NumPy
condensed matrix is packed for the shards on the driver. A condensed matrix as a 1-D dask
array is never whole on the driver (``_condensed``): it is validated chunk by chunk on the
workers (first non-finite and negative entry per chunk), then each chunk's part of a batch is
packed for the shards by a task on the workers, and the driver passes the packed pieces on, one
batch at a time (at most about ``2 * transfer_bytes``: an entry goes to two shards). Its graph
is computed twice (validation, fill): persist it first when its chunks are costly.

Algorithms (docs/distributed.md):

* complete, average, weighted, ward: reciprocal-nearest-neighbour rounds (the shared driver
  ``gpuhclust._rounds`` over the shards as its row store, ``_rounds.ShardStore``).
  Per round, in both directions: the round's log entries (5 numbers per merge) and the list
  of rows to rescan go to every shard; for each merged pair whose two rows sit on different
  shards one row of live entries (``8 m`` bytes, m the live clusters) travels shard -> driver
  -> shard, in batches of at most `transfer_bytes`; every rescanned row sends back its
  neighbour and distance (16 bytes). Two calls per shard per round (one when no row moves).
* single: Boruvka rounds (``_boruvka``), at most log2(n): the component labels (8 n bytes) go to
  every shard, one candidate edge per component comes back.
* centroid, median: refused (not reducible, see :data:`REFUSAL`).

Compute on the workers (``DaskBackend(shard_compute=...)``; each shard decides when it is
created on its worker, and the fill calls report what it uses, see ``last_run['shard_compute']``):

* ``'cpu'``: the CPU backend's Numba kernels (distances of ``gpuhclust.cpu._distances``,
  Lance-Williams of ``gpuhclust.cpu._lance_williams``, the lazy row replay of
  ``gpuhclust.cpu._lazy_matrix``); one thread per shard call.
* ``'cuda'``: the rows in the worker's GPU memory and the kernels of ``kernels/shard.cu``
  (``gpuhclust.cuda._device_rows``), e.g. one worker per GPU under
  ``dask_cuda.LocalCUDACluster``. Same arithmetic in the same order, no FMA contraction, same
  tie rule: the same Z as 'cpu', bit for bit. An error on a worker where CuPy sees no device;
  MemoryError when a shard's rows do not fit in its device's free memory (checked before
  allocating).
* ``'cuda-sim'``: the same CUDA host code and kernels on the CPU kernel simulator (tests).
* ``'auto'`` (default): 'cuda' on workers where CuPy sees a device, 'cpu' elsewhere.

Faults: see ``_cluster``. A lost worker makes the call raise ``WorkerLostError``; no Z is ever
returned from a partial or rebuilt state.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict

import numpy as np

from .. import _rounds as rounds_driver
from .._backends import Backend
from .._methods import Method
from .._metrics import PreparedMetric
from .._progress import progress_bar
from .._validation import LinkageInput
from ..cpu.backend import CPUBackend, raise_computed
from . import _boruvka, _condensed, _rounds
from ._cluster import ShardSet, resolve_client
from ._shard import SHARD_COMPUTES

__all__ = ["DaskBackend", "REFUSAL", "last_run"]

TRANSFER_BYTES = 64 << 20  # the most the driver holds in flight (rows moving between shards)

REFUSAL = (
    "backend='dask' does not compute {method} linkage: {method} is not a reducible method "
    "(merges can come out lower than earlier ones, 'inversions'), so merges must be made one "
    "at a time at the global minimum and cannot be batched into rounds over shards. Use "
    "backend='cpu' or backend='cuda' on one machine, with engine='vector' (O(n*d) memory, from "
    "the observations) when the distance matrix does not fit.")

#: Statistics of the last run in this process (rounds, rescans, rows moved, seconds, the compute
#: of each shard); for the benchmark and the tests.
last_run: dict = {}


class DaskBackend(Backend):
    """The distance matrix in row shards on Dask workers; the merge loop in rounds.

    Parameters
    ----------
    shard_compute : {'auto', 'cpu', 'cuda', 'cuda-sim'}
        What each shard computes with on its worker (see the module docstring): 'auto' takes
        the worker's GPU when CuPy sees one, else the CPU. ``backend='dask'`` is
        ``DaskBackend()``; pass an instance for another choice:
        ``gpuhclust.linkage(X, 'ward', backend=DaskBackend(shard_compute='cpu'), client=c)``.
    """

    name = "dask"
    #: 'mst' is Boruvka's (a minimum spanning tree in at most log2(n) rounds)
    algorithms = {"matrix": ("mst", "rounds")}
    distributed = True
    scipy_exact = False  # Boruvka and the rounds resolve ties in their own (documented) way

    def __init__(self, shard_compute: str = "auto"):
        if shard_compute not in SHARD_COMPUTES:
            raise ValueError(f"shard_compute must be one of {SHARD_COMPUTES}, got "
                             f"{shard_compute!r}")
        self.shard_compute = shard_compute

    @classmethod
    def unusable_reason(cls) -> str:
        try:
            import distributed  # noqa: F401
        except ImportError:
            return "the 'distributed' package is not installed (pip install gpuhclust[dask])"
        return ""

    def check_input(self, data: LinkageInput, method: Method, dtype, client) -> LinkageInput:
        """A condensed dask array is validated chunk by chunk on the workers (for storage
        type `dtype`)."""
        if _condensed.is_lazy(data):
            return _condensed.validate(resolve_client(client), data, method, dtype)
        return data

    def cannot_run(self, method: Method) -> str:
        return "" if method.reducible else REFUSAL.format(method=method.name)

    def pdist(self, metric: PreparedMetric, dtype) -> np.ndarray:
        """On the driver, with the CPU backend (``optimal_ordering`` and ``gpuhclust.pdist``)."""
        return CPUBackend().pdist(metric, dtype)

    def run(self, plan, data: LinkageInput, metric: PreparedMetric | None,
            progress) -> np.ndarray:
        method, dtype = plan.method, plan.dtype
        client = resolve_client(plan.client)
        n = data.n
        t0 = time.perf_counter()
        stats = rounds_driver.RoundStats()
        # actor handles find their client through the current one
        with client.as_current(), ShardSet(client, n, dtype, self.shard_compute) as shards, \
                progress_bar(progress, n - 1, f"gpuhclust dask {method.name}") as bar:
            nonneg, computes = _fill(shards, data, metric, n, dtype)
            t_fill = time.perf_counter() - t0
            if plan.algorithm == "mst":
                raw = _boruvka.boruvka_rounds(shards, n, bar, stats)
            else:
                store = _rounds.ShardStore(shards, n, method.code, nonneg,
                                           np.dtype(dtype).itemsize, TRANSFER_BYTES, stats)
                raw = rounds_driver.rnn_rounds(store, n, bar, stats, method.name, dtype)
        last_run.clear()
        last_run.update(asdict(stats), workers=len(shards), n=n, method=method.name,
                        shard_compute=computes,
                        fill_s=t_fill, total_s=time.perf_counter() - t0,
                        log2_n=math.log2(max(n, 2)))
        return raw


def _fill(shards, data: LinkageInput, metric: PreparedMetric | None, n: int, dtype):
    """Put the distances into the shards (stored as `dtype`); (True when none is negative, the
    compute each shard uses)."""
    if data.condensed is None:
        # float32 storage: a distance beyond its range is stored as +inf
        check = metric.may_give_non_finite or np.dtype(dtype) == np.float32
        reports = shards.call_all("fill_observations", metric, check)
        bad = [pair for _, pair, _ in reports if pair[0] >= 0]
        if bad:
            raise_computed(metric, *min(bad))
        return not any(neg for neg, _, _ in reports), [c for _, _, c in reports]
    bounds = [(s.r0, s.r1) for s in shards]
    rows = max(1, TRANSFER_BYTES // (8 * max(n - 1, 1)))  # whole rows of 8*(n-1) bytes at most
    if _condensed.is_lazy(data):
        batches = _condensed.dask_batches(shards.client, data.condensed, n, bounds, rows)
    else:
        batches = _condensed.numpy_batches(data.condensed, n, bounds, rows)
    for c0, c1, parts in batches:
        calls = {}
        for i in range(len(bounds)):
            pieces = [part[i] for part in parts if part[i] is not None]
            if pieces:
                calls[i] = ("fill_condensed", c0, c1,
                            pieces[0] if len(pieces) == 1 else np.concatenate(pieces))
        shards.call_some(calls)
    reports = shards.call_all("finish_condensed")
    return (not data.has_negative and not any(neg for neg, _, _ in reports),
            [c for _, _, c in reports])
