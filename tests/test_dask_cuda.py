"""backend='dask' with CUDA shards (``DaskBackend(shard_compute=...)``): the same Z as the Numba
shards, bit for bit, ties included.

Here the CUDA shards run on the kernel simulator ('cuda-sim': the very host code and kernels of
'cuda', with NumPy arrays): in the other schedules, on three shards, with negative distances and
signed zeros; the Z parity of every method and input (and on a real device, executor
'dask-gpu') is in test_parity.py. Also: the choice of compute, and a worker lost while the
shards start."""
from __future__ import annotations

import threading

import numpy as np
import pytest
import scipy.cluster.hierarchy as sch
import scipy.spatial.distance as ssd

distributed = pytest.importorskip("distributed")

import gpuhclust  # noqa: E402
from gpuhclust import _sim  # noqa: E402
from gpuhclust.cuda._context import SimContext, cuda_usable  # noqa: E402
from gpuhclust.dask import DaskBackend, WorkerLostError  # noqa: E402
from _helpers import (DASK_WARNINGS, REDUCIBLE, assert_same_as_scipy,  # noqa: E402
                      assert_valid_merges, blobs, local_cluster, tie_heavy)

pytestmark = DASK_WARNINGS + [pytest.mark.usefixtures("simulator")]


def _run(y, method, client, compute, **kw):
    """Z and the compute each shard reported."""
    from gpuhclust.dask import backend

    Z = gpuhclust.linkage(y, method, backend=DaskBackend(shard_compute=compute), client=client,
                          **kw)
    return Z, dict(backend.last_run)


def _same_as_cpu_shards(y, method, client, compute="cuda-sim", **kw):
    Z, stats = _run(y, method, client, compute, **kw)
    assert stats["shard_compute"] == [compute] * stats["workers"]  # no silent fallback
    Z_cpu, cpu_stats = _run(y, method, client, "cpu", **kw)
    assert cpu_stats["shard_compute"] == ["cpu"] * cpu_stats["workers"]
    np.testing.assert_array_equal(Z, Z_cpu)
    return Z, stats


def _data(kind, ties, n=48):
    X = tie_heavy(n, 2, 3) if ties else blobs(n, 3, seed=11)
    return X if kind == "observations" else ssd.pdist(X)


# -- parity with the Numba shards (the forward schedule, every method and input: test_parity.py)
@pytest.mark.parametrize("method", REDUCIBLE)
@pytest.mark.parametrize("schedule", ["reverse", "random"])
def test_other_schedules(dask_client, method, schedule, monkeypatch):
    """Threads run in another order between barriers: a missing __syncthreads shows up here.
    (The forward schedule runs in test_parity.py, executor 'dask-sim'.)"""
    monkeypatch.setenv("GPUHCLUST_SIM_SCHEDULE", schedule)
    _, stats = _same_as_cpu_shards(_data("observations", True, n=40), method, dask_client,
                                   dtype=np.float32)
    if method != "single":
        assert stats["rows_moved"] > 0  # rows merged across shards: the foreign-row path ran


@pytest.mark.parametrize("method", ["average", "ward", "single"])
def test_three_shards(dask_client, dask_client3, method):
    X = tie_heavy(60, 2, 4)
    Z, stats = _run(X, method, dask_client3, "cuda-sim")
    assert stats["workers"] == 3 and stats["shard_compute"] == ["cuda-sim"] * 3
    np.testing.assert_array_equal(Z, _run(X, method, dask_client, "cpu")[0])


@pytest.mark.parametrize("method", ["complete", "average", "weighted", "single"])
def test_negative_distances(dask_client, method):
    """Negative condensed distances (the argmin cannot assume non-negative values)."""
    y = np.round(ssd.pdist(np.random.default_rng(5).random((36, 2))), 1) - 0.3
    _same_as_cpu_shards(y, method, dask_client)


@pytest.mark.parametrize("method", ["average", "single"])
def test_signed_zeros(dask_client, method):
    """-0.0 and +0.0 among tied distances (the Numba shards' integer-keyed argmin would tell
    them apart; both shards make -0.0 +0.0 on the way in)."""
    y = np.round(ssd.pdist(np.random.default_rng(3).random((36, 2))), 1)
    y[::3] = np.where(y[::3] == 0, -0.0, y[::3])
    y[::5] = 0.0
    y[1::5] = -0.0
    Z, _ = _same_as_cpu_shards(y, method, dask_client)
    assert_valid_merges(Z, y, method)


def test_non_finite_distance_is_reported_like_cpu_shards(dask_client):
    X = np.random.default_rng(0).random((30, 3))
    X[17] = 0.0  # cosine distance to a zero vector is 0/0
    messages = []
    for compute in ("cuda-sim", "cpu"):
        with pytest.raises(ValueError, match="non-finite distance") as info:
            _run(X, "average", dask_client, compute, metric="cosine")
        messages.append(str(info.value))
    assert messages[0] == messages[1]  # the same pair


def test_sim_kernels_ran(dask_client, monkeypatch):
    """The shards' kernels ran (the compute the shards report is not just a label)."""
    launched = []
    original = SimContext.kernel

    def kernel(self, family, name, cooperative=False):
        run = original(self, family, name, cooperative)

        def launch(*args):
            launched.append(name.split("<")[0])
            return run(*args)
        return launch

    monkeypatch.setattr(SimContext, "kernel", kernel)  # the workers share this process
    _same_as_cpu_shards(_data("observations", False, n=30), "average", dask_client)
    assert {"shard_fill_rows", "shard_rescan", "shard_merge"} <= set(launched)
    launched.clear()
    _same_as_cpu_shards(_data("condensed", False, n=30), "single", dask_client)
    assert {"shard_unpack_condensed", "shard_boruvka"} <= set(launched)


_TSAN_SNIPPET = """
import contextlib
import numpy as np, scipy.spatial.distance as ssd
import gpuhclust
from gpuhclust.dask import backend
from gpuhclust.dask._cluster import ShardSet
from gpuhclust.dask._shard import Shard


class InProcessShards(ShardSet):  # the shards as plain objects in this process, no Dask

    def __init__(self, client, n, dtype, compute):
        bounds = np.linspace(0, n, 3).astype(np.int64)
        self.shards = [Shard("run", int(a), int(b), n, np.dtype(dtype).name, compute)
                       for a, b in zip(bounds[:-1], bounds[1:])]
        self.owner = np.repeat(np.arange(2), np.diff(bounds))
        self._futures = []

    def call_some(self, calls):
        return {i: getattr(self.shards[i], m)("run", self.shards[i].calls, *args)
                for i, (m, *args) in calls.items()}


class Client:
    as_current = staticmethod(contextlib.nullcontext)


backend.resolve_client = lambda client: Client()
backend.ShardSet = InProcessShards
X = np.random.default_rng(0).integers(0, 4, (20, 2)).astype(float)
out = {}
for method, kind in CASES:
    y = X if kind == "observations" else ssd.pdist(X)
    out[f"{method}-{kind}"] = gpuhclust.linkage(
        y, method, backend=backend.DaskBackend(shard_compute=COMPUTE))
np.savez(OUT, **out)
"""
_TSAN_CASES = [("single", "observations"), ("complete", "observations"),
               ("average", "condensed"), ("ward", "observations")]


@pytest.mark.slow
def test_shard_kernels_are_race_free_under_thread_sanitizer(dask_client, tmp_path):
    """Every CUDA thread a real thread, under ThreadSanitizer (fibers hide races). The shards
    run in the subprocess without Dask (an in-process stand-in for the driver's ShardSet, same
    protocol); the Numba shards' Z is computed here, outside."""
    if _sim.tsan_runtime() is None:
        pytest.skip("the C++ compiler ships no ThreadSanitizer runtime")
    out = tmp_path / "z.npz"
    code = f"CASES = {_TSAN_CASES!r}\nCOMPUTE = 'cuda-sim'\nOUT = {str(out)!r}\n" + _TSAN_SNIPPET
    result = _sim.run_under_tsan(code, timeout=600, env={"NUMBA_NUM_THREADS": "1",
                                                        "GPUHCLUST_SIM_SCHEDULE": "threads"})
    assert result.returncode == 0, result.stderr[-4000:]
    Z = np.load(out)
    X = np.random.default_rng(0).integers(0, 4, (20, 2)).astype(float)
    for method, kind in _TSAN_CASES:
        y = X if kind == "observations" else ssd.pdist(X)
        np.testing.assert_array_equal(Z[f"{method}-{kind}"],
                                      _run(y, method, dask_client, "cpu")[0])


# -- choosing the compute -------------------------------------------------------------------
def test_auto_takes_the_gpu_only_where_there_is_one(dask_client):
    _, stats = _run(blobs(20, 2, seed=1), "average", dask_client, "auto")
    assert stats["shard_compute"] == ["cuda" if cuda_usable() else "cpu"] * 2


def test_cuda_without_a_device_is_a_clear_error(dask_client):
    if cuda_usable():
        pytest.skip("this machine has a CUDA device")
    with pytest.raises(ValueError, match="CuPy or a CUDA device is not usable"):
        _run(blobs(20, 2, seed=1), "average", dask_client, "cuda")


def test_unknown_shard_compute():
    with pytest.raises(ValueError, match="shard_compute must be one of"):
        DaskBackend(shard_compute="gpu")


# -- faults: errors, never a hang ------------------------------------------------------------
def _outcome(call, seconds=30):
    """What `call()` returned or raised, run in a thread; fails the test if it hangs."""
    outcome = []

    def run():
        try:
            outcome.append(call())
        except Exception as exc:  # noqa: BLE001 - inspected by the caller
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert outcome, "the call hung"
    return outcome[0]


def test_worker_lost_before_its_shard_starts():
    """A worker listed by the scheduler leaves before its shard's task runs: the task, pinned
    to that worker, would wait for it forever; the call must fail with WorkerLostError."""
    cluster, c = local_cluster(False, 2)
    try:
        victim = sorted(c.scheduler_info(n_workers=-1)["workers"])[1]
        original = c.scheduler_info

        def scheduler_info(*args, **kwargs):  # the worker leaves right after being listed
            info = original(*args, **kwargs)
            if victim in c.nthreads():
                c.retire_workers([victim], close_workers=True)
            return info

        c.scheduler_info = scheduler_info
        error = _outcome(lambda: gpuhclust.linkage(blobs(40, 2, seed=0), "average",
                                                   backend="dask", client=c))
        assert isinstance(error, WorkerLostError), error
        assert victim in str(error)
        del c.scheduler_info
        X = blobs(30, 2, seed=1)  # the client still works, on the worker left
        assert_same_as_scipy(gpuhclust.linkage(X, "average", backend="dask", client=c),
                             sch.linkage(X, "average"))
    finally:
        c.close()
        cluster.close()


@pytest.mark.parametrize("compute", ["cpu", "cuda-sim"])
def test_no_finite_distance_left_is_an_error(dask_client, compute):
    """Average of 1e308 and 1.7e308 overflows to +inf: no cluster has a finite neighbour, so
    no reciprocal pair can ever form; the rounds stop with a ValueError that says so (issue 15:
    a ValueError, as on the other backends) instead of looping."""
    y = np.array([1e308, 1e308, 1.7e308])
    error = _outcome(lambda: _run(y, "average", dask_client, compute))
    assert isinstance(error, gpuhclust.MergeOverflowError), error
    assert "no finite distance" in str(error) and "float64's range" in str(error), error
