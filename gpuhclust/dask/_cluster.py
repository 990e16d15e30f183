"""The driver's view of the cluster: which client, one shard actor per worker, calls that
either return the shard's answer or fail with :class:`WorkerLostError`.

A worker that leaves while the shards start (its shard's task, pinned to it, would wait for it
forever) is noticed by polling the scheduler's worker list. Once running, a lost worker is
detected three ways: a call that cannot reach the actor's worker (Dask raises
``OSError``/``CommClosedError`` or "Worker holding Actor was lost"), an actor future that is no
longer 'finished' (Dask is rebuilding it from its lineage), and a shard that answers with
``StaleShard`` (it was rebuilt: fresh state, none of the merges). In every case no Z is
returned; the actors are released so the cluster's memory comes back, and the client stays
usable.
"""
from __future__ import annotations

import uuid

import numpy as np

from .._memory import check_fits
from . import WorkerLostError
from ._shard import Shard, ShardComputeUnavailable, StaleShard

__all__ = ["resolve_client", "ShardSet", "WorkerLostError"]

POLL_S = 0.5  # how often a waiting call checks that the shards' workers are still there


def resolve_client(client):
    """`client`, or the current ``distributed.Client``; ValueError when there is none."""
    import distributed

    if client is not None:
        if not isinstance(client, distributed.Client):
            raise TypeError(f"client must be a distributed.Client, not {type(client).__name__}")
        return client
    try:
        return distributed.default_client()
    except ValueError:
        raise ValueError("backend='dask' needs a running distributed.Client: create one first "
                         "(e.g. client = distributed.Client(n_workers=2)) or pass client=") \
            from None


#: How long a run waits for a worker when the cluster has none: a loaded worker that missed its
#: heartbeats is dropped by the scheduler and re-registers moments later.
WORKER_WAIT_S = 10.0


def _workers(client) -> dict:
    """The scheduler's workers (address -> info); waits up to :data:`WORKER_WAIT_S` for one when
    there are none, then raises a ValueError."""
    info = client.scheduler_info(n_workers=-1)["workers"]
    if info:
        return info
    try:
        client.wait_for_workers(1, timeout=WORKER_WAIT_S)
    except TimeoutError:
        pass
    info = client.scheduler_info(n_workers=-1)["workers"]
    if not info:
        raise ValueError(f"backend='dask': the client's cluster has no workers (waited "
                         f"{WORKER_WAIT_S:g} s for one)")
    return info


class _ShardRef:
    """An actor handle and the rows it holds."""

    def __init__(self, future, actor, r0, r1, address):
        self.future, self.actor = future, actor
        self.r0, self.r1, self.address = r0, r1, address
        self.calls = 0


class ShardSet:
    """One :class:`~gpuhclust.dask._shard.Shard` per worker, rows split evenly, as a context
    manager that releases the actors on exit.

    Parameters
    ----------
    client : distributed.Client
    n : int
        Number of observations.
    dtype : numpy.dtype
        Storage of the distances.
    """

    def __init__(self, client, n: int, dtype, compute: str = "cpu"):
        self.client = client
        self.token = uuid.uuid4().hex
        info = _workers(client)
        workers = sorted(info)
        p = min(len(workers), max(1, n // 2))
        bounds = np.linspace(0, n, p + 1).astype(np.int64)
        itemsize = np.dtype(dtype).itemsize
        for w, (r0, r1) in zip(workers, zip(bounds[:-1], bounds[1:])):
            limit = info[w].get("memory_limit") or 0
            if limit and compute != "cuda":  # CUDA shards hold their rows in device memory
                check_fits(itemsize * (r1 - r0) * n + 40 * n,
                           f"rows {r0}:{r1} of the {n} x {n} {np.dtype(dtype).name} distance "
                           f"matrix", "add workers or pass dtype=numpy.float32",
                           available=limit, where=f"the memory limit of Dask worker {w}")
        self.owner = np.repeat(np.arange(p), np.diff(bounds))
        self.shards: list[_ShardRef] = []
        futures = [client.submit(Shard, self.token, int(r0), int(r1), n,
                                 np.dtype(dtype).name, compute, actor=True, workers=[w],
                                 pure=False)
                   for w, r0, r1 in zip(workers, bounds[:-1], bounds[1:])]
        self._futures = futures
        try:
            for f, w, r0, r1 in zip(futures, workers, bounds[:-1], bounds[1:]):
                self.shards.append(_ShardRef(f, self._wait_actor(f, w, r0, r1), int(r0),
                                             int(r1), w))
        except BaseException:
            self.release()  # the shards already started, and the tasks still queued
            raise

    def _wait_actor(self, future, address, r0, r1):
        """The actor of `future`, polling: a task pinned to a worker that has left would wait
        for it forever, so a worker gone (or a shard already started that lost its worker)
        is a :class:`WorkerLostError`. Errors of the shard's constructor (no usable CUDA
        device, device memory) are raised as they are."""
        while True:
            try:
                return future.result(timeout=POLL_S)
            except TimeoutError:
                pass
            except (ShardComputeUnavailable, MemoryError):
                raise
            except Exception as exc:  # noqa: BLE001 - a failed actor creation is a lost worker
                raise WorkerLostError(f"backend='dask': could not start a shard on a worker "
                                      f"({type(exc).__name__}: {exc})") from exc
            self._check_alive()
            if address not in self.client.scheduler_info(n_workers=-1)["workers"]:
                raise self._lost(_ShardRef(future, None, r0, r1, address),
                                 RuntimeError("the worker left before its shard started"))

    def __iter__(self):
        return iter(self.shards)

    def __len__(self):
        return len(self.shards)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()

    def release(self) -> None:
        """Drop the actors (their rows are freed on the workers)."""
        futures, self._futures = self._futures, []
        for s in self.shards:
            s.actor = None
        if futures:
            try:
                self.client.cancel(futures, force=True)
            except Exception:  # noqa: BLE001 - the client may be closing; nothing to free then
                pass

    # -- calls ----------------------------------------------------------------------------
    def call_all(self, method: str, *args) -> list:
        """Call `method` on every shard with the same arguments; results in shard order."""
        res = self.call_some({i: (method, *args) for i in range(len(self.shards))})
        return [res[i] for i in range(len(self.shards))]

    def call_some(self, calls: dict) -> dict:
        """``{shard index: (method, *args)}`` -> ``{shard index: result}``, run concurrently."""
        pending = {}
        for i, (method, *args) in calls.items():
            s = self.shards[i]
            self._check_alive()
            try:
                pending[i] = getattr(s.actor, method)(self.token, s.calls, *args)
            except (OSError, RuntimeError) as exc:
                raise self._lost(s, exc) from exc
            s.calls += 1
        return {i: self._result(self.shards[i], af) for i, af in pending.items()}

    def _result(self, shard, af):
        while True:
            try:
                return af.result(timeout=POLL_S)
            except TimeoutError:
                self._check_alive()
            except StaleShard as exc:
                raise self._lost(shard, exc) from exc
            except OSError as exc:
                raise self._lost(shard, exc) from exc

    def _check_alive(self) -> None:
        for s in self.shards:
            if s.future.status != "finished":
                raise self._lost(s, RuntimeError(f"actor status {s.future.status!r}"))

    def _lost(self, shard, exc) -> WorkerLostError:
        return WorkerLostError(
            f"backend='dask': the worker {shard.address} holding rows {shard.r0}:{shard.r1} of "
            f"the distance matrix was lost during the run ({type(exc).__name__}: {exc}). The "
            "merges computed so far are discarded (no partial or wrong Z is returned); the "
            "client is still usable: run the call again once the cluster has its workers back.")
