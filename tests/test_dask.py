"""backend='dask': worker processes, rounds, determinism across worker counts, the local CPU
rounds' Z on one to three shards, refusals, faults, inputs. Its parity with SciPy (tie-free,
ties, metrics, float32) is checked in test_parity.py."""
from __future__ import annotations

import os
import signal
import subprocess
import sys

import numpy as np
import pytest
import scipy.cluster.hierarchy as sch
import scipy.spatial.distance as ssd

distributed = pytest.importorskip("distributed")
da = pytest.importorskip("dask.array")

import gpuhclust  # noqa: E402
from _helpers import (DASK_WARNINGS, REDUCIBLE, assert_same_as_scipy, blobs,  # noqa: E402
                      local_cluster, tie_heavy)

pytestmark = DASK_WARNINGS


def _stats():
    from gpuhclust.dask import backend

    return dict(backend.last_run)


# -- parity -------------------------------------------------------------------------------------
@pytest.mark.parametrize("method", REDUCIBLE)
def test_blobs_in_processes(dask_process_client, method):
    """One run with worker processes (rows and merges really cross process boundaries)."""
    X = blobs(600, 6, seed=5)
    Z = gpuhclust.linkage(X, method, backend="dask", client=dask_process_client)
    assert_same_as_scipy(Z, sch.linkage(X, method))
    stats = _stats()
    assert stats["workers"] == 2
    if method != "single":
        assert stats["rows_moved"] > 0  # pairs whose rows sit on different shards


def test_rounds_are_few(dask_client):
    X = blobs(1000, 8, seed=2)
    gpuhclust.linkage(X, "single", backend="dask", client=dask_client)
    assert _stats()["rounds"] <= np.log2(1000)
    gpuhclust.linkage(X, "average", backend="dask", client=dask_client)
    assert _stats()["rounds"] < 200  # reciprocal rounds, not n - 1 sequential merges


# -- ties and determinism ------------------------------------------------------------------------
@pytest.mark.parametrize("method", REDUCIBLE)
def test_deterministic_across_runs_and_worker_counts(dask_client, dask_client3, method):
    X = tie_heavy(120, 2, 9)
    Z = gpuhclust.linkage(X, method, backend="dask", client=dask_client)
    np.testing.assert_array_equal(Z, gpuhclust.linkage(X, method, backend="dask",
                                                       client=dask_client))
    np.testing.assert_array_equal(Z, gpuhclust.linkage(X, method, backend="dask",
                                                       client=dask_client3))
    assert _stats()["workers"] == 3


@pytest.mark.parametrize("method", REDUCIBLE[1:])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_same_z_as_local_cpu_rounds_on_one_to_three_shards(dask_client1, dask_client,
                                                           dask_client3, method, dtype):
    """One rounds driver, two row stores: the shards give the local rows' Z bit for bit,
    ties and compactions included, whatever the number of shards."""
    from gpuhclust.cpu import _lazy_matrix

    for X in (tie_heavy(600, 2, 10), blobs(300, 3, seed=10)):
        y = ssd.pdist(X)
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(_lazy_matrix, "COMPACT_MIN_WIDTH", 8)
            Z = gpuhclust.linkage(y, method, backend="cpu", dtype=dtype)
        for c in (dask_client1, dask_client, dask_client3):
            np.testing.assert_array_equal(
                gpuhclust.linkage(y, method, backend="dask", client=c, dtype=dtype), Z)


@pytest.mark.parametrize("algorithm", ["scipy", "nn_chain"])
def test_sequential_algorithms_are_refused(algorithm):
    with pytest.raises(ValueError, match="not available .*backend 'dask'"):
        gpuhclust.linkage(np.random.default_rng(0).random((10, 2)), "average",
                          backend="dask", algorithm=algorithm)


# -- refusals and inputs ----------------------------------------------------------------------
@pytest.mark.parametrize("method", ["centroid", "median"])
def test_centroid_median_refused(method):
    with pytest.raises(NotImplementedError, match="not a reducible method") as info:
        gpuhclust.linkage(np.random.default_rng(0).random((10, 2)), method, backend="dask")
    assert "backend='cpu'" in str(info.value) and "engine='vector'" in str(info.value)


def test_no_client_is_a_clear_error():
    if distributed.client._get_global_client() is not None:
        pytest.skip("a default client exists in this process")
    with pytest.raises(ValueError, match="needs a running distributed.Client"):
        gpuhclust.linkage(np.random.default_rng(0).random((10, 2)), "average", backend="dask")


def test_current_client_is_used(dask_client):
    X = np.random.default_rng(1).random((40, 3))
    with dask_client.as_current():
        Z = gpuhclust.linkage(X, "ward", backend="dask")
    assert_same_as_scipy(Z, sch.linkage(X, "ward"))


def test_client_with_another_backend_is_refused(dask_client):
    with pytest.raises(ValueError, match="client= is used only by backend='dask'"):
        gpuhclust.linkage(np.random.default_rng(0).random((10, 2)), "average", backend="cpu",
                          client=dask_client)


def test_validation_comes_first():
    X = np.random.default_rng(0).random((10, 2))
    X[3, 1] = np.nan
    with pytest.raises(ValueError, match="row 3, column 1"):  # before any client is looked up
        gpuhclust.linkage(X, "average", backend="dask")


def test_non_finite_computed_distance(dask_client):
    X = np.random.default_rng(0).random((30, 3))
    X[17] = 0.0  # cosine distance to a zero vector is 0/0
    with pytest.raises(ValueError, match="non-finite distance"):
        gpuhclust.linkage(X, "average", "cosine", backend="dask", client=dask_client)


def test_dask_array_of_observations(dask_client):
    X = blobs(120, 4, seed=3)
    Z = gpuhclust.linkage(da.from_array(X, chunks=(50, 4)), "ward", backend="dask",
                          client=dask_client)
    assert_same_as_scipy(Z, sch.linkage(X, "ward"))


def test_worker_memory_is_checked():
    cluster, c = local_cluster(False, 1, memory_limit="32MiB")
    try:
        X = np.random.default_rng(0).random((3000, 2))  # 72 MB of float64 rows
        with pytest.raises(MemoryError, match="memory limit of Dask worker"):
            gpuhclust.linkage(X, "average", backend="dask", client=c)
    finally:
        c.close()
        cluster.close()


def test_a_cluster_without_workers_is_a_clear_error(monkeypatch):
    from gpuhclust.dask import _cluster

    monkeypatch.setattr(_cluster, "WORKER_WAIT_S", 0.5)
    cluster, c = local_cluster(False, 0)
    try:
        with pytest.raises(ValueError, match=r"has no workers \(waited 0.5 s"):
            gpuhclust.linkage(blobs(20, 2, 0), "average", backend="dask", client=c)
    finally:
        c.close()
        cluster.close()


def test_a_worker_that_registers_while_the_run_starts_is_used():
    """A loaded worker that missed its heartbeats is dropped and re-registers: a run that
    starts in between waits for it instead of failing."""
    import threading

    cluster, c = local_cluster(False, 0)
    X = blobs(40, 3, 1)
    try:
        late = threading.Timer(1.0, cluster.scale, args=(1,))
        late.start()
        Z = gpuhclust.linkage(X, "average", backend="dask", client=c)
        late.join()
        np.testing.assert_array_equal(Z, gpuhclust.linkage(X, "average", backend="cpu"))
    finally:
        c.close()
        cluster.close()


def test_import_does_not_import_dask_and_auto_never_picks_it():
    code = ("import sys, gpuhclust; from gpuhclust._backends import get_backend; "
            "assert 'dask' in gpuhclust.available_backends(); "
            "assert get_backend('auto').name != 'dask'; "
            "assert 'dask' not in sys.modules and 'distributed' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ,
                                                                  "PYTHONWARNINGS": "ignore"})


# -- faults ------------------------------------------------------------------------------------
def _fail_on_call(monkeypatch, nth, action):
    """Run `action(shard_set)` just before the `nth` batch of shard calls."""
    from gpuhclust.dask import _cluster

    original = _cluster.ShardSet.call_some
    count = [0]

    def call_some(self, calls):
        count[0] += 1
        if count[0] == nth:
            action(self)
        return original(self, calls)

    monkeypatch.setattr(_cluster.ShardSet, "call_some", call_some)


def test_rebuilt_shard_is_detected(dask_client, monkeypatch):
    """A shard that lost its state (as one rebuilt from its lineage) refuses to answer."""
    from gpuhclust.dask import WorkerLostError

    def forget(shards):
        shards.shards[1].calls = 0  # the driver now talks to a shard with another history

    _fail_on_call(monkeypatch, 4, forget)
    with pytest.raises(WorkerLostError, match="was lost during the run"):
        gpuhclust.linkage(blobs(300, 3, seed=0), "average", backend="dask", client=dask_client)
    monkeypatch.undo()
    X = blobs(100, 3, seed=1)
    assert_same_as_scipy(gpuhclust.linkage(X, "average", backend="dask", client=dask_client),
                         sch.linkage(X, "average"))


@pytest.mark.parametrize("method", ["average", "single"])
def test_killed_worker(dask_process_client, monkeypatch, method):
    from gpuhclust.dask import WorkerLostError

    killed = []

    def kill(shards):
        address = shards.shards[1].address
        os.kill(dask_process_client.run(os.getpid, workers=[address])[address], signal.SIGKILL)
        killed.append(address)

    # A fresh process worker on a loaded machine can fail to host a shard before anything is
    # killed (distributed's actors then raise UnboundLocalError, dask/distributed#3041): a
    # WorkerLostError that came before the kill is not the one under test, so try again.
    for _ in range(3):
        _fail_on_call(monkeypatch, 3, kill)
        with pytest.raises(WorkerLostError) as lost:
            gpuhclust.linkage(blobs(800, 4, seed=0), method, backend="dask",
                              client=dask_process_client)
        monkeypatch.undo()
        if killed:
            break
    assert killed and "was lost during the run" in str(lost.value)
    assert dask_process_client.submit(sum, [1, 2]).result() == 3  # the client still works
    # the nanny restarts the killed worker: a new process that imports Dask, NumPy and Numba,
    # which takes long on a loaded machine (CI runs the tests on every core)
    dask_process_client.wait_for_workers(2, timeout=240)
    X = blobs(200, 3, seed=4)
    assert_same_as_scipy(gpuhclust.linkage(X, method, backend="dask", client=dask_process_client),
                         sch.linkage(X, method))
