"""engine='vector' on the CUDA backend (issue 5): single linkage by Prim from the observations,
ward, centroid and median from cluster centroids and sizes (kernels/vector.cu), in O(n*d) device
memory.

Many compactions, observation dtypes and other launch shapes give the CPU vector engine's Z;
the engine choice against the free device memory; refusals; a clean Ctrl-C. Its Z on every
method and input (the CPU vector engine's bit for bit, ties included, and SciPy's on tie-free
data; simulator in two thread orders, a real GPU when there is one) is checked in
test_parity.py.
"""
from __future__ import annotations

import contextlib
import types
import warnings

import numpy as np
import pytest
import scipy.cluster.hierarchy as sch
import scipy.spatial.distance as ssd

import gpuhclust
from gpuhclust import _sim
from gpuhclust.cuda import backend as cuda_backend
from gpuhclust.cpu import backend as cpu_backend
from gpuhclust.cuda._context import SimContext
from gpuhclust.cuda._kernels import VECTOR_QUERIES
from gpuhclust.cuda.backend import CudaBackend, SimBackend
from _helpers import EUCLIDEAN_ONLY, VECTOR_METHODS, assert_same_as_scipy, blobs

pytestmark = pytest.mark.usefixtures("simulator")
CENTROID_METHODS = tuple(m for m in VECTOR_METHODS if m in EUCLIDEAN_ONLY)


def vector(X, method, backend, metric="euclidean", **kwargs):
    return gpuhclust.linkage(X, method, metric, backend=backend, engine="vector", **kwargs)


def cpu_vector(X, method, metric="euclidean", **kwargs):
    return vector(X, method, "cpu", metric, **kwargs)


def _star(d: int) -> np.ndarray:
    """2d arms (+-e_k, each stretched by its own tiny amount: tie-free), then a centre and a
    point just beside it: the arms' nearest higher neighbours are the last two points."""
    arms = np.vstack([np.eye(d), -np.eye(d)]) * (1 + 1e-6 * np.arange(1, 2 * d + 1))[:, None]
    centre = np.zeros((1, d))
    beside = centre.copy()
    beside[0, 0] = 1e-3
    return np.vstack([arms, centre, beside])


@pytest.mark.parametrize("method", CENTROID_METHODS)
def test_tournament_rescan_pass_wider_than_a_tile_of_queries(cuda_schedule_backend, method):
    # The first merge is the centre with the point beside it. The merged centroid is farther
    # from every arm than the arm's cached neighbour was, so all 2d = 48 arms turn stale and
    # the next step rescans them in one pass: more queries than one tile of VECTOR_QUERIES
    d = 24
    X = _star(d)
    Z = vector(X, method, cuda_schedule_backend)
    ref = cpu_vector(X, method)
    stats = cpu_backend.last_run
    assert Z[0, :2].tolist() == [2 * d, 2 * d + 1]
    assert stats["rescans_per_merge"] * (len(X) - 1) >= 2 * d > VECTOR_QUERIES
    np.testing.assert_array_equal(Z, ref)
    assert_same_as_scipy(Z, sch.linkage(X, method), rtol=1e-10)


# -- parity --------------------------------------------------------------------------------
@pytest.mark.parametrize("method", VECTOR_METHODS)
def test_blobs_with_many_compactions(sim_or_gpu_backend, method):
    # 150 merges: the host compacts the centroids every few rounds, mid-chain and between a
    # merge and its heap update; positions move, slots and results must not
    X = blobs(150, 3, seed=7)
    Z = vector(X, method, sim_or_gpu_backend)
    np.testing.assert_array_equal(Z, cpu_vector(X, method))
    assert_same_as_scipy(Z, sch.linkage(X, method))


@pytest.mark.parametrize("method", VECTOR_METHODS)
@pytest.mark.parametrize("obs_dtype", [np.float32, np.float64, np.int64])
def test_observation_dtypes(sim_or_gpu_backend, method, obs_dtype):
    X = (blobs(60, 4, seed=3) * 10).astype(obs_dtype)
    Z = vector(X, method, sim_or_gpu_backend)
    np.testing.assert_array_equal(Z, cpu_vector(X, method))
    if obs_dtype != np.int64:  # integer data has ties, where SciPy may merge another pair
        assert_same_as_scipy(Z, sch.linkage(X, method))


def test_other_launch_shapes_and_random_schedule():
    # one block, a warp count that is not a power of two, shuffled threads
    backend = SimBackend(SimContext(schedule="random", seed=3, threads=96, max_blocks=1))
    X = blobs(70, 3, seed=5)
    for method in CENTROID_METHODS:
        np.testing.assert_array_equal(vector(X, method, backend), cpu_vector(X, method))


# -- refusals --------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["complete", "average", "weighted"])
def test_refuses_other_methods(method):
    with pytest.raises(ValueError, match=r"engine='vector' computes single, ward, centroid and "
                                         rf"median linkage, not '{method}'"):
        vector(np.random.default_rng(0).random((10, 2)), method, "cuda-sim")


def test_refuses_condensed_input_and_metrics_computed_by_scipy():
    X = np.random.default_rng(0).random((10, 3))
    with pytest.raises(ValueError, match="engine='vector' clusters observations"):
        vector(ssd.pdist(X), "single", "cuda-sim")
    with pytest.raises(ValueError, match="engine='vector' computes the distances itself"):
        vector(X, "single", "cuda-sim", "jensenshannon")


@pytest.mark.parametrize("method", CENTROID_METHODS)
def test_overflow_refused(method):
    X = np.random.default_rng(0).random((20, 3)) * 1e200
    with pytest.raises(ValueError, match="overflow"):
        vector(X, method, "cuda-sim")


# -- the memory plan (device memory, through the context's free_bytes seam) ------------------
N_PLAN, D_PLAN = 100, 4


def _short_of_memory(monkeypatch, method, free):
    """Observations, and a simulated device with ``free(matrix, vector)`` bytes free, where
    matrix and vector are what the two engines need for them."""
    X = blobs(N_PLAN, D_PLAN, seed=1)
    matrix = 8 * N_PLAN * N_PLAN + X.nbytes
    backend = SimBackend(SimContext())
    vec = backend.vector_bytes(N_PLAN, D_PLAN, gpuhclust.METHODS[method])
    assert vec < matrix
    monkeypatch.setattr(backend.ctx, "free_bytes", lambda: free(matrix, vec))
    return X, backend


@pytest.mark.parametrize("method", CENTROID_METHODS)
def test_auto_takes_vector_engine_when_the_matrix_does_not_fit_the_device(monkeypatch, method):
    X, backend = _short_of_memory(monkeypatch, method, lambda matrix, vec: matrix - 1)
    with pytest.warns(UserWarning, match=r"distance matrix needs .* of cuda-sim device memory "
                                         r"is available; using engine='vector'") as record:
        Z = gpuhclust.linkage(X, method, backend=backend)
    assert record[0].filename == __file__  # the warning points at the caller's line
    np.testing.assert_array_equal(Z, cpu_vector(X, method))


def test_auto_takes_the_matrix_when_it_fits(monkeypatch):
    X, backend = _short_of_memory(monkeypatch, "ward", lambda matrix, vec: matrix)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Z = gpuhclust.linkage(X, "ward", backend=backend)
    np.testing.assert_array_equal(Z, gpuhclust.linkage(X, "ward", backend="cpu",
                                                       engine="matrix"))


def test_auto_memory_error_naming_device_memory_when_neither_fits(monkeypatch):
    X, backend = _short_of_memory(monkeypatch, "ward", lambda matrix, vec: vec - 1)
    with pytest.raises(MemoryError, match=rf"engine='vector' on {N_PLAN} observations in "
                                          rf"{D_PLAN} dimensions.*cuda-sim device memory"):
        gpuhclust.linkage(X, "ward", backend=backend)
    assert backend.ctx.held_bytes() == 0  # refused before allocating
    with pytest.raises(MemoryError, match=r"distance matrix.*cuda-sim device memory"):
        gpuhclust.linkage(X, "average", backend=backend)  # no vector engine for average


@pytest.mark.parametrize("method", VECTOR_METHODS)
def test_explicit_vector_engine_checks_device_memory(monkeypatch, method):
    X, backend = _short_of_memory(monkeypatch, method, lambda matrix, vec: vec - 1)
    with pytest.raises(MemoryError, match="cuda-sim device memory"):
        vector(X, method, backend)
    assert backend.ctx.held_bytes() == 0


def test_single_needs_no_matrix_and_matrix_engine_on_request(monkeypatch):
    X, backend = _short_of_memory(monkeypatch, "single", lambda matrix, vec: vec)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Z = gpuhclust.linkage(X, "single", backend=backend)  # 'auto': Prim, no matrix
    np.testing.assert_array_equal(Z, cpu_vector(X, "single"))
    with pytest.raises(MemoryError, match="distance matrix"):
        gpuhclust.linkage(X, "single", backend=backend, engine="matrix")
    monkeypatch.undo()
    np.testing.assert_array_equal(gpuhclust.linkage(X, "single", backend=backend,
                                                    engine="matrix"), Z)


# -- progress and Ctrl-C ---------------------------------------------------------------------
def _record_progress(monkeypatch, interrupt_at=0):
    """Make the backend's progress bar record each update (merges per chunk) in the list returned,
    raising KeyboardInterrupt (Ctrl-C between chunks) at update number `interrupt_at`."""
    updates = []

    def update(k):
        updates.append(k)
        if len(updates) == interrupt_at:
            raise KeyboardInterrupt

    bar = types.SimpleNamespace(update=update)
    monkeypatch.setattr(cuda_backend, "progress_bar",
                        lambda *args, **kwargs: contextlib.nullcontext(bar))
    return updates


@pytest.mark.parametrize("method", VECTOR_METHODS)
def test_keyboard_interrupt_frees_device_memory(monkeypatch, sim_or_gpu_backend, method):
    X = blobs(150, 3, seed=6)
    held_before = sim_or_gpu_backend.ctx.held_bytes()
    updates = _record_progress(monkeypatch, interrupt_at=3)
    with pytest.raises(KeyboardInterrupt) as excinfo:
        vector(X, method, sim_or_gpu_backend)
    assert len(updates) == 3
    # the exception (and its traceback) is still held here: its frames no longer hold the run's
    # device arrays
    assert excinfo.value is not None
    assert sim_or_gpu_backend.ctx.held_bytes() == held_before
    monkeypatch.undo()
    np.testing.assert_array_equal(vector(X, method, sim_or_gpu_backend), cpu_vector(X, method))


def test_progress_counts_every_merge(monkeypatch):
    updates = _record_progress(monkeypatch)
    for method in VECTOR_METHODS:
        updates.clear()
        vector(blobs(40, 2, seed=2), method, "cuda-sim")
        assert sum(updates) == 39


_TSAN_SNIPPET = """
import sys
import numpy as np
import gpuhclust
from gpuhclust.cuda.backend import SimBackend
from gpuhclust.cuda._context import SimContext
backend = SimBackend(SimContext(schedule="threads", threads=32, max_blocks=2))
for family, name in [("vector", "vector_scan"), ("generic", "generic_heapify")]:
    backend.ctx.kernel(family, name)  # load every module first: TSan symbolises only those
X = np.random.default_rng(0).integers(0, 4, (16, 2)).astype(float)
out = {f"{m}-{a}": gpuhclust.linkage(X, m, backend=backend, engine="vector", algorithm=a)
       for m, a in CASES}
np.savez(OUT, **out)
"""


@pytest.mark.slow
def test_vector_kernels_are_race_free_under_thread_sanitizer(tmp_path):
    # every CUDA thread a real thread: the scan's candidate lists, the one-block steps' shared
    # state, the tournament's tiled pass, collected rescans and last block, and the centroid
    # merges under ThreadSanitizer (CPU comparison outside: Numba's OpenMP pool is not
    # instrumented)
    if _sim.tsan_runtime() is None:
        pytest.skip("the C++ compiler ships no ThreadSanitizer runtime")
    out = tmp_path / "z.npz"
    # every kernel of the family (median shares centroid's); tied data
    cases = (("ward", None), ("centroid", None), ("centroid", "generic"))
    code = f"CASES = {cases!r}\nOUT = {str(out)!r}\n" + _TSAN_SNIPPET
    result = _sim.run_under_tsan(code, timeout=600, env={"NUMBA_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-4000:]
    Z = np.load(out)
    X = np.random.default_rng(0).integers(0, 4, (16, 2)).astype(float)
    for method, algorithm in cases:
        np.testing.assert_array_equal(Z[f"{method}-{algorithm}"],
                                      cpu_vector(X, method, algorithm=algorithm))
