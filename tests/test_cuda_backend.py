"""The CUDA backend: pdist as the CPU's, refusals, the memory plan, other launch shapes,
ThreadSanitizer, the plan's algorithms, usability.

Tests with ``sim_or_gpu_backend`` run on the kernel simulator in two schedules (threads forward
and in reverse, which exposes missing barriers), and on a real GPU when one is present (marked
``gpu``). Its Z (the CPU backend's and SciPy's, ties included) is checked in test_parity.py."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.cluster.hierarchy as sch
import scipy.spatial.distance as ssd

import gpuhclust
from gpuhclust import _sim
from gpuhclust.cuda import backend as cuda_backend
from gpuhclust.cuda._context import SimContext, cuda_usable
from gpuhclust.cuda.backend import SimBackend
from _helpers import blobs, tie_heavy

pytestmark = pytest.mark.usefixtures("simulator")  # the backends are the simulator's


def _cpu(y, method, metric="euclidean", algorithm=None, **kw):
    # every algorithm gives the same Z on both backends: compare with the same algorithm
    return gpuhclust.linkage(y, method, metric, backend="cpu", algorithm=algorithm, **kw)


@pytest.mark.parametrize("metric", ["euclidean", "cityblock", "cosine", "jaccard", "canberra"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_pdist_same_as_cpu(sim_or_gpu_backend, metric, dtype):
    X = np.random.default_rng(8).standard_normal((50, 19)) > 0.2 if metric == "jaccard" else \
        np.random.default_rng(8).standard_normal((50, 19))
    out = gpuhclust.pdist(X, metric, backend=sim_or_gpu_backend, dtype=dtype)
    out = sim_or_gpu_backend.ctx.asnumpy(out)
    assert out.dtype == dtype
    np.testing.assert_array_equal(out, gpuhclust.pdist(X, metric, backend="cpu", dtype=dtype))


# Sizes on both sides of pairwise_tiles' blocks of pairs (PAIR_TILE = 64) and features (16)
@pytest.mark.parametrize("n,d", [(1, 3), (2, 1), (63, 16), (65, 17), (130, 37)])
@pytest.mark.parametrize("metric", ["euclidean", "cityblock", "cosine"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_square_matrix_same_as_cpu(sim_or_gpu_backend, metric, dtype, n, d):
    """The device's working matrix, both triangles and the +inf diagonal, is the CPU's bit for
    bit (the euclidean path and the any-metric path of pairwise_tiles)."""
    from gpuhclust._metrics import prepare_metric
    from gpuhclust._validation import LinkageInput
    from gpuhclust.cpu._distances import square_from_observations

    X = np.random.default_rng(n + d).standard_normal((n, d))
    prepared = prepare_metric(X, metric, {})
    D = sim_or_gpu_backend.ctx.asnumpy(sim_or_gpu_backend.square_matrix(
        LinkageInput(n, None, X), prepared, dtype))
    expected = np.full((n, n), -1.0, dtype)
    square_from_observations(prepared.X, *prepared.kernel_args, expected)
    assert D.dtype == dtype
    assert D.tobytes() == expected.tobytes()


@pytest.mark.parametrize("method", ["single", "complete"])
def test_non_finite_metric_values_are_refused(sim_or_gpu_backend, method):
    X = np.random.default_rng(0).random((20, 4))
    X[7] = 0.0  # cosine distance to a zero vector is 0/0
    with pytest.raises(ValueError, match="non-finite distance .* observations? 7|and 7"):
        gpuhclust.linkage(X, method, "cosine", backend=sim_or_gpu_backend)


def test_memory_is_planned_before_allocating(monkeypatch):
    backend = SimBackend(SimContext())
    monkeypatch.setattr(backend.ctx, "free_bytes", lambda: 10_000)
    with pytest.raises(MemoryError, match=r"device memory.*dtype=numpy.float32"):
        gpuhclust.linkage(blobs(100, 3, seed=1), "average", backend=backend)


def test_missing_compiler_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("CXX", "/nonexistent/c++")
    with pytest.raises(ValueError, match="'cuda-sim' is not usable on this machine: .*compiler"):
        gpuhclust.linkage(blobs(10, 2, seed=1), "average", backend="cuda-sim")
    assert "cuda-sim" not in gpuhclust.available_backends()
    with pytest.raises(_sim.SimulatorUnavailable, match="compiler"):  # the context says it too
        SimContext()


def test_auto_prefers_cuda_only_when_usable(monkeypatch):
    from gpuhclust._backends import get_backend

    assert get_backend("auto").name == ("cuda" if cuda_usable() else "cpu")
    if not cuda_usable():
        with pytest.raises(ValueError, match="not usable"):
            get_backend("cuda")


def test_random_schedule_and_other_launch_shapes():
    # a warp count that is not a power of two, one block per grid, and a shuffled thread order
    ctx = SimContext(schedule="random", seed=4, threads=96, loop_threads=160, max_blocks=1)
    X = tie_heavy(50, 3, seed=6)
    for method in ("single", "ward", "median"):
        Z = gpuhclust.linkage(X, method, backend=SimBackend(ctx))
        np.testing.assert_array_equal(Z, _cpu(X, method))


_TSAN_SNIPPET = """
import sys
import numpy as np, scipy.spatial.distance as ssd
import gpuhclust
from gpuhclust.cuda.backend import SimBackend
from gpuhclust.cuda._context import SimContext
backend = SimBackend(SimContext(schedule="threads", threads=64, loop_threads=64, max_blocks=2))
X = np.random.default_rng(0).integers(0, 4, (20, 2)).astype(float)
out = {}
for method, kind, algorithm in CASES:
    y = X if kind == "observations" else ssd.pdist(X)
    out[f"{method}-{kind}-{algorithm}"] = gpuhclust.linkage(y, method, backend=backend,
                                                            algorithm=algorithm)
np.savez(sys.argv[1], **out)
"""
_TSAN_CASES = [("single", "observations", None), ("single", "condensed", None),
               ("average", "observations", "nn_chain"), ("ward", "observations", "nn_chain"),
               ("average", "observations", "rounds"), ("ward", "condensed", "rounds"),
               ("centroid", "observations", None)]


@pytest.mark.slow
def test_kernels_are_race_free_under_thread_sanitizer(tmp_path):
    # every CUDA thread a real thread, every kernel family, under ThreadSanitizer; the CPU
    # backend's comparison runs here, outside, since Numba's OpenMP pool is not instrumented
    if _sim.tsan_runtime() is None:
        pytest.skip("the C++ compiler ships no ThreadSanitizer runtime")
    out = tmp_path / "z.npz"
    code = (f"CASES = {_TSAN_CASES!r}\n" + _TSAN_SNIPPET).replace(
        "np.savez(sys.argv[1]", f"np.savez({str(out)!r}")
    result = _sim.run_under_tsan(code, timeout=600, env={"NUMBA_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-4000:]
    Z = np.load(out)
    X = np.random.default_rng(0).integers(0, 4, (20, 2)).astype(float)
    for method, kind, algorithm in _TSAN_CASES:
        y = X if kind == "observations" else ssd.pdist(X)
        np.testing.assert_array_equal(Z[f"{method}-{kind}-{algorithm}"],
                                      _cpu(y, method, algorithm=algorithm))


# -- the plan: algorithms on the CUDA backend, optimal ordering, usability ----------------------
def test_rounds_are_the_default_and_scipy_stays_available():
    backend = SimBackend(SimContext())
    X = tie_heavy(30, 2, seed=2)
    cuda_backend.last_run.clear()
    Z = gpuhclust.linkage(X, "average", backend=backend)
    assert cuda_backend.last_run["merges"] == 29  # the rounds ran, not the chain
    np.testing.assert_array_equal(Z, _cpu(X, "average"))
    cuda_backend.last_run.clear()
    np.testing.assert_array_equal(gpuhclust.linkage(X, "average", backend=backend,
                                                    algorithm="scipy"),
                                  sch.linkage(X, "average"))  # nn_chain: SciPy's, bit for bit
    assert not cuda_backend.last_run


class _DeviceArray:
    """Stands in for a CuPy array: NumPy may not convert it implicitly."""

    def __init__(self, a):
        self.a = a

    def __array__(self, *args, **kwargs):
        raise TypeError("Implicit conversion to a NumPy array is not allowed")


class _DeviceArraysContext(SimContext):
    """The seam of a GPU: pdist's arrays are device arrays, asnumpy brings them over."""

    def asnumpy(self, a):
        return a.a if isinstance(a, _DeviceArray) else super().asnumpy(a)


def test_optimal_ordering_brings_device_distances_to_the_host(monkeypatch, ref):
    backend = SimBackend(_DeviceArraysContext())
    real = SimBackend.pdist
    monkeypatch.setattr(SimBackend, "pdist",
                        lambda self, *a: _DeviceArray(real(self, *a)))
    Z = gpuhclust.linkage(ref.X, "ward", optimal_ordering=True, backend=backend)
    np.testing.assert_allclose(Z, ref.linkage_X_ward_olo, rtol=1e-7)


def test_unusable_cuda_says_why(monkeypatch):
    from gpuhclust.cuda import backend as cuda_backend

    reason = cuda_backend.cuda_unusable_reason()
    if not reason:
        pytest.skip("CUDA is usable here")
    assert "cuda" not in gpuhclust.available_backends()
    with pytest.raises(ValueError, match="'cuda' is not usable on this machine: .*(CuPy|CUDA)"):
        gpuhclust.linkage(blobs(10, 2, seed=1), "average", backend="cuda")
    for why in ("CuPy is not installed", "no usable CUDA driver", "no device"):
        monkeypatch.setattr(cuda_backend, "cuda_unusable_reason", lambda why=why: why)
        with pytest.raises(ValueError, match=why):
            gpuhclust.linkage(blobs(10, 2, seed=1), "average", backend="cuda")
