"""engine='vector': clustering from the observations in O(n*d) memory (issue 5, CPU backend).

Single linkage is Prim's MST with distances computed on the fly; ward, centroid and median work on
cluster centroids and sizes. Same Z as fastcluster.linkage_vector and the matrix engine at
sizes where the scans run in parallel and compactions sweep dead slots, input untouched, clear
refusals, and engine='auto' falling back to it (with a warning) when the matrix would not fit.
Its parity with SciPy on every method, metric and tied data is checked in test_parity.py.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.cluster.hierarchy as sch
import scipy.spatial.distance as ssd

import gpuhclust
from gpuhclust import _memory
from gpuhclust._backends import Backend
from gpuhclust._engines import centroid_frame
from gpuhclust.cpu import backend as cpu_backend
from _helpers import VECTOR_METHODS, assert_same_as_scipy, assert_valid_merges, blobs

fastcluster = pytest.importorskip("fastcluster")


def vector(X, method, metric="euclidean", **kwargs):
    return gpuhclust.linkage(X, method, metric, engine="vector", **kwargs)


@pytest.mark.parametrize("method", VECTOR_METHODS)
def test_a_few_thousand_points_equal_scipy(method):
    # more merges than the compaction threshold: dead slots are swept out many times
    X = blobs(2000, 8, seed=3)
    assert_same_as_scipy(vector(X, method), sch.linkage(X, method))


@pytest.mark.parametrize("method", VECTOR_METHODS)
def test_parallel_sizes_equal_fastcluster_linkage_vector(method):
    # above PARALLEL_MIN live clusters, the scans run in parallel chunks
    X = np.random.default_rng(5).standard_normal((6000, 4))
    Z = vector(X, method)
    assert_same_as_scipy(Z, fastcluster.linkage_vector(X, method), rtol=1e-10)


@pytest.mark.parametrize("method", VECTOR_METHODS)
def test_equals_fastcluster_linkage_vector(method):
    X = blobs(800, 6, seed=9)
    assert_same_as_scipy(vector(X, method), fastcluster.linkage_vector(X, method), rtol=1e-10)


@pytest.mark.parametrize("method", VECTOR_METHODS)
def test_equals_matrix_engine(method):
    X = blobs(700, 3, seed=2)
    Z_matrix = gpuhclust.linkage(X, method, engine="matrix")
    assert_same_as_scipy(vector(X, method), Z_matrix)


@pytest.mark.parametrize("method", VECTOR_METHODS)
def test_identical_points(method):
    X = np.ones((30, 4))
    Z = vector(X, method)
    assert_valid_merges(Z, ssd.pdist(X), method)
    assert (Z[:, 2] == 0).all()


@pytest.mark.parametrize("method", VECTOR_METHODS)
@pytest.mark.parametrize("layout", ["float64", "fortran", "int", "float32", "list"])
def test_input_untouched(method, layout):
    base = np.random.default_rng(3).integers(0, 50, size=(120, 5))
    X = {"float64": base.astype(np.float64), "fortran": np.asfortranarray(base, np.float64),
         "int": base.copy(), "float32": base.astype(np.float32),
         "list": base.tolist()}[layout]
    before = np.array(X, copy=True)
    writeable = getattr(X, "flags", None) and X.flags.writeable
    vector(X, method)
    np.testing.assert_array_equal(np.asarray(X), before)
    if writeable:
        assert X.flags.writeable


# -- refusals ----------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["complete", "average", "weighted"])
def test_refuses_other_methods(method):
    with pytest.raises(ValueError, match=r"engine='vector' computes single, ward, centroid and "
                                         rf"median linkage, not '{method}'"):
        vector(np.random.default_rng(0).random((10, 2)), method)


def test_refuses_condensed_input():
    y = ssd.pdist(np.random.default_rng(0).random((10, 2)))
    with pytest.raises(ValueError, match="engine='vector' clusters observations"):
        gpuhclust.linkage(y, "single", engine="vector")


@pytest.mark.parametrize("metric,kwargs", [
    (lambda u, v: float(np.abs(u - v).sum()), {}), ("jensenshannon", {}),
    ("minkowski", {"p": 3.0, "w": np.ones(3)})])
def test_refuses_metrics_computed_by_scipy(metric, kwargs):
    X = np.random.default_rng(0).random((10, 3))
    with pytest.raises(ValueError, match="engine='vector' computes the distances itself"):
        vector(X, "single", metric, **kwargs)


@pytest.mark.parametrize("method", ["ward", "centroid", "median"])
def test_refuses_non_euclidean_for_centroid_methods(method):
    with pytest.raises(ValueError, match="requires the distance metric to be Euclidean"):
        vector(np.random.default_rng(0).random((10, 2)), method, "cityblock")


def test_refuses_unknown_engine():
    with pytest.raises(ValueError, match="engine must be one of 'auto', 'matrix', 'vector'"):
        gpuhclust.linkage(np.random.default_rng(0).random((10, 2)), engine="vectors")


class _MatrixOnly(Backend):
    """A backend without the vector engine (as the CUDA backend is today)."""

    name = "matrix-only"

    def pdist(self, metric, dtype):
        return ssd.pdist(metric.X).astype(dtype)

    def run(self, plan, data, metric, progress):
        assert plan.engine == "matrix"
        return cpu_backend.CPUBackend().run(plan, data, metric, progress)


def test_backend_without_vector_engine():
    X = np.random.default_rng(0).random((10, 2))
    with pytest.raises(ValueError, match="engine='vector' is not available on backend "
                                         "'matrix-only'"):
        gpuhclust.linkage(X, "ward", backend=_MatrixOnly(), engine="vector")
    # 'auto' and 'matrix' plan the matrix engine
    Z = gpuhclust.linkage(X, "ward", backend=_MatrixOnly())
    assert_same_as_scipy(Z, sch.linkage(X, "ward"))


def test_non_finite_distance_refused():
    X = np.random.default_rng(0).random((20, 3))
    X[7] = 0.0  # cosine distance to a zero vector is 0/0
    with pytest.raises(ValueError, match="non-finite distance"):
        vector(X, "single", "cosine")


@pytest.mark.parametrize("method", ["ward", "centroid", "median"])
def test_overflow_refused(method):
    X = np.random.default_rng(0).random((20, 3)) * 1e200
    with pytest.raises(ValueError, match="overflow"):
        vector(X, method)


# -- engine='auto' -----------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["ward", "centroid", "median"])
def test_auto_takes_vector_engine_with_a_warning_when_memory_is_short(monkeypatch, method):
    X = blobs(300, 4, seed=1)
    n = X.shape[0]
    monkeypatch.setattr(_memory, "available_bytes", lambda: 8 * n * n - 1)
    with pytest.warns(UserWarning, match=r"distance matrix needs .* using engine='vector'"):
        Z = gpuhclust.linkage(X, method)
    np.testing.assert_array_equal(Z, vector(X, method))


@pytest.mark.parametrize("method", ["ward", "single"])
def test_auto_without_warning_when_the_matrix_fits(monkeypatch, method):
    X = blobs(300, 4, seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Z = gpuhclust.linkage(X, method)
    assert_same_as_scipy(Z, sch.linkage(X, method))


def test_auto_single_needs_no_matrix(monkeypatch):
    X = blobs(300, 4, seed=1)
    monkeypatch.setattr(_memory, "available_bytes", lambda: 10 ** 6)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Z = gpuhclust.linkage(X, "single")
    assert_same_as_scipy(Z, sch.linkage(X, "single"))


def test_auto_memory_error_when_neither_fits(monkeypatch):
    X = blobs(300, 4, seed=1)
    monkeypatch.setattr(_memory, "available_bytes", lambda: 1000)
    with pytest.raises(MemoryError, match="engine='vector' on 300 observations"):
        gpuhclust.linkage(X, "ward")
    with pytest.raises(MemoryError, match="300 x 300 float64 distance matrix"):
        gpuhclust.linkage(X, "average")  # no vector engine for average


def test_matrix_engine_still_refuses_when_short(monkeypatch):
    X = blobs(300, 4, seed=1)
    monkeypatch.setattr(_memory, "available_bytes", lambda: 1000)
    with pytest.raises(MemoryError, match="distance matrix"):
        gpuhclust.linkage(X, "ward", engine="matrix")


def _forbid_vector_engine(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("engine='auto' ran the vector engine")
    for name in ("_run_vector_ward", "_run_vector_generic"):
        monkeypatch.setattr(cpu_backend, name, refuse)
    monkeypatch.setattr(cpu_backend._vector, "run_tournament", refuse)


@pytest.mark.parametrize("method", ["ward", "centroid", "median"])
def test_auto_keeps_the_matrix_for_centroid_methods_when_it_fits(monkeypatch, method):
    # the vector engine is faster in few dimensions, but its heights round differently (see
    # the next test), so 'auto' takes it only when the matrix does not fit
    X = blobs(300, 2, seed=2)
    _forbid_vector_engine(monkeypatch)
    np.testing.assert_array_equal(gpuhclust.linkage(X, method, algorithm="scipy"),
                                  sch.linkage(X, method))


@pytest.mark.parametrize("method", ["ward", "centroid", "median"])
@pytest.mark.parametrize("offset", [0.0, 100.0, -1e4])
def test_centroids_far_from_the_origin_keep_their_digits(method, offset):
    # data spread 0.01 around `offset`: without the shift of centroid_frame the heights of
    # offset data were 1e-11..1e-10 relative from SciPy's
    rng = np.random.default_rng(3)
    X = offset + 0.01 * rng.standard_normal((800, 2))
    assert_same_as_scipy(vector(X, method), sch.linkage(X, method))


@pytest.mark.parametrize("method", ["centroid", "median"])
@pytest.mark.parametrize("algorithm", [None, "tournament", "generic", "scipy"])
def test_centroid_methods_by_the_tournament_and_by_scipys_heap(method, algorithm):
    # the default (the tournament over an exact nearest-neighbour cache) and SciPy's heap find
    # the same merges on tie-free data, past many compactions; every row rescanned is counted
    X = blobs(1500, 3, seed=4)
    cpu_backend.last_run.clear()
    Z = vector(X, method, algorithm=algorithm)
    assert_same_as_scipy(Z, sch.linkage(X, method), rtol=1e-10)
    if algorithm in (None, "tournament"):
        run = cpu_backend.last_run
        assert run["algorithm"] == "tournament" and 0.5 < run["rescans_per_merge"] < 10
        assert 0.0 < run["rescan_passes_per_merge"] < 1.0  # the rescans go in groups


def test_centroid_frame_is_a_shifted_copy_that_keeps_integers_exact():
    X = np.array([[3, 10], [1, 30], [2, 20], [9, 40]])
    F = centroid_frame(X)
    np.testing.assert_array_equal(F, X - np.array([3, 30]))  # middle values 3 and 30
    assert F.dtype == np.float64 and not np.shares_memory(F, X)


# -- progress and Ctrl-C -----------------------------------------------------------------------
class _Interrupting:
    def __init__(self, after):
        self.after = after
        self.updates = 0

    def update(self, k):
        self.updates += 1
        if self.updates >= self.after:
            raise KeyboardInterrupt

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None


@pytest.mark.parametrize("method", VECTOR_METHODS)
def test_keyboard_interrupt_leaves_no_state(monkeypatch, method):
    X = blobs(500, 4, seed=6)
    expected = sch.linkage(X, method)
    bar = _Interrupting(after=3)
    monkeypatch.setattr(cpu_backend, "progress_bar", lambda *a, **k: bar)
    with pytest.raises(KeyboardInterrupt):
        vector(X, method)
    assert bar.updates == 3
    monkeypatch.undo()
    assert_same_as_scipy(vector(X, method), expected)


def test_progress_bar_counts_every_merge(monkeypatch):
    seen = []

    class Bar(_Interrupting):
        def update(self, k):
            seen.append(k)

    monkeypatch.setattr(cpu_backend, "progress_bar", lambda *a, **k: Bar(0))
    for method in VECTOR_METHODS:
        seen.clear()
        vector(blobs(400, 3, seed=2), method)
        assert sum(seen) == 399


def test_single_euclidean_breaks_root_ties_like_scipy():
    # Prim compares squared distances; two candidates whose squares differ but whose roots are
    # equal are a tie for SciPy, which takes the lower index: so must the vector engine
    from gpuhclust._metrics import prepare_metric
    from gpuhclust._progress import progress_bar

    rng = np.random.default_rng(1)
    while True:
        a, b = rng.random(2) + 1
        b2 = np.nextafter(b, 2)
        if a * a + b * b != a * a + b2 * b2 and np.sqrt(a * a + b * b) == np.sqrt(a * a + b2 * b2):
            break
    X = np.array([[0, 0], [a, b2], [a, b], [5, 5], [-3, 1]])  # 2 is nearer in squares only
    raw = cpu_backend._run_mst_observations(prepare_metric(X, "euclidean", {}), 5,
                                            progress_bar(False, 4, ""))
    assert raw[0, :2].tolist() == [0, 1]
    assert_same_as_scipy(vector(X, "single"), sch.linkage(X, "single"))
