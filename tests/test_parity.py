"""Parity: every executor gives SciPy's Z, and the Z of the executor it mirrors bit for bit.

Each test asks for the ``executor`` fixture (conftest.py, ``_executors.EXECUTORS``) and so runs
on the CPU's matrix and vector engines, the CUDA backend on the kernel simulator (threads forward
and in reverse; shuffled for the rounds), a real GPU when there is one (marked ``gpu``) and Dask
(Numba and simulated CUDA shards), over the methods, inputs and sizes each one takes. On tie-free
data Z is SciPy's (heights to rounding); on tied data the merges are valid minimum merges, and an
executor with a reference (the simulator: the CPU engine it mirrors; Dask: the CPU rounds) gives
its reference's Z bit for bit.

The CPU's own larger and property-based checks are at the end.
"""
from __future__ import annotations

import numpy as np
import pytest
import scipy.cluster.hierarchy as sch
import scipy.spatial.distance as ssd
from hypothesis import given, settings
from hypothesis import strategies as st

import gpuhclust
from _executors import BOOLEAN_METRICS, METRICS
from _helpers import (EUCLIDEAN_ONLY, METHODS, assert_same_as_scipy, assert_valid_merges, blobs,
                      tie_heavy)

# Centroid and median heights of the vector engine come from centroids, those of the replay
# from the Lance-Williams update, which subtracts squares: for nearby clusters its rounding
# error relative to the small result is ~1e-15 * (d_Ai/d)^2, more than 1e-12 relative; 1e-9 is
# still far below any real gap.
VECTOR_RTOL = {"centroid": 1e-9, "median": 1e-9}


def _input(X, kind):
    return X if kind == "observations" else ssd.pdist(X)


def _assert_same_as_reference(executor, Z, y, method, metric="euclidean", **kwargs):
    """Z is the reference executor's, bit for bit (signed zeros included)."""
    Z_ref = executor.reference(y, method, metric, **kwargs)
    if Z_ref is not None:
        assert Z.tobytes() == Z_ref.tobytes(), (Z, Z_ref)


def _rtol(executor, method, default=1e-12):
    return VECTOR_RTOL.get(method, default) if executor.engine == "vector" else default


# -- tie-free data: SciPy's Z ----------------------------------------------------------------
def test_tie_free_same_z_as_scipy(executor, method, kind, n):
    y = _input(np.random.default_rng(n).standard_normal((n, 5)), kind)
    before = y.copy()
    Z = executor.linkage(y, method)
    assert_same_as_scipy(Z, sch.linkage(y, method))
    np.testing.assert_array_equal(y, before)  # the caller's array is untouched
    _assert_same_as_reference(executor, Z, y, method)


@pytest.mark.executor_cases(kinds=("observations",), only=lambda spec: spec.engine == "vector")
def test_one_dimension_far_from_the_origin(executor, method):
    # d = 1: X.T is contiguous already (the vector engine's centroids must still be a copy);
    # both vector engines shift the centroids by the same centroid_frame
    n = executor.spec.sizes[-1]
    X = 100.0 + np.random.default_rng(n).standard_normal((n, 1))
    before = X.copy()
    Z = executor.linkage(X, method)
    assert_same_as_scipy(Z, sch.linkage(X, method))
    np.testing.assert_array_equal(X, before)
    _assert_same_as_reference(executor, Z, X, method)


@pytest.mark.executor_cases(only=lambda spec: spec.float32)
def test_float32_storage(executor, method, kind):
    """dtype=float32 stores the distances in float32 (the vector engine stores none): Z stays
    float64, the merges are valid on the float32-rounded distances, the heights SciPy's to
    float32's precision; on tied data Z is the reference's."""
    X = blobs(executor.spec.sizes[-1], 4, seed=1)
    y = _input(X, kind)
    Z = executor.linkage(y, method, dtype=np.float32)
    assert Z.dtype == np.float64
    y64 = ssd.pdist(X)
    if executor.engine == "vector":
        assert_same_as_scipy(Z, sch.linkage(y64, method))
    elif not (method == "single" and kind == "observations" and executor.spec.backend == "cpu"):
        # (the CPU's single linkage from observations is Prim on float64 distances)
        assert_valid_merges(Z, y64.astype(np.float32), method, rtol=1e-5)
    np.testing.assert_allclose(Z[:, 2], sch.linkage(y64, method)[:, 2], rtol=1e-5)
    _assert_same_as_reference(executor, Z, y, method, dtype=np.float32)
    # and float32 ties resolved as the reference resolves them (condensed: the same rows as
    # from observations, once filled)
    y = ssd.pdist(tie_heavy(executor.spec.ties_n, 2, 3))
    Z_ref = executor.reference(y, method, dtype=np.float32) if kind == "condensed" else None
    if Z_ref is not None:
        assert executor.linkage(y, method, dtype=np.float32).tobytes() == Z_ref.tobytes()


# -- ties --------------------------------------------------------------------------------------
def test_ties_valid_merges_same_z_as_reference(executor, method, kind, seed):
    """Integer coordinates: many equal distances and merge heights. Every merge is a minimum
    merge (fastcluster's replay), single linkage's heights are SciPy's (every minimum spanning
    tree has the same), and the executor resolves the ties as its reference does."""
    y = _input(tie_heavy(executor.spec.ties_n, 2, seed), kind)
    Z = executor.linkage(y, method)
    y_condensed = ssd.pdist(y) if kind == "observations" else y
    assert_valid_merges(Z, y_condensed, method, rtol=_rtol(executor, method))
    if method == "single":
        np.testing.assert_array_equal(Z[:, 2], sch.linkage(y_condensed, "single")[:, 2])
    Z_ref = executor.reference(y, method)
    if Z_ref is None:  # the same input, the same Z
        np.testing.assert_array_equal(executor.linkage(y.copy(), method), Z)
    else:
        assert Z.tobytes() == Z_ref.tobytes(), (Z, Z_ref)


@pytest.mark.executor_cases(kinds=("condensed",), only=lambda spec: spec.backend != "sim")
def test_rounded_distances_valid_merges(executor, method):
    """fastcluster's check: distances rounded to one digit force ties (the simulator's ties are
    the integer data's above)."""
    y = np.round(ssd.pdist(np.random.default_rng(42).random((executor.spec.ties_n, 3))), 1)
    Z = executor.linkage(y, method)
    assert_valid_merges(Z, y, method)
    _assert_same_as_reference(executor, Z, y, method)


@pytest.mark.executor_cases(only=lambda spec: spec.scipy_algorithm)
def test_scipy_algorithm_gives_scipys_z_with_ties(executor, method, seed):
    """algorithm='scipy' runs SciPy's sequential algorithm and its tie rule: Z is SciPy's,
    merge for merge."""
    y = ssd.pdist(tie_heavy(executor.spec.ties_n, 2, seed))
    Z = executor.linkage(y, method, algorithm="scipy")
    np.testing.assert_array_equal(Z, sch.linkage(y, method))
    assert_valid_merges(Z, y, method)


# -- metrics -----------------------------------------------------------------------------------
@pytest.mark.executor_cases(metric=True, kinds=("observations",))
def test_metrics_same_z_as_scipy(executor, method, metric):
    metric, kwargs, _ = METRICS[metric]
    X = np.abs(np.random.default_rng(3).standard_normal((36, 7))) + 0.1
    Z = executor.linkage(X, method, metric, **kwargs)
    assert_same_as_scipy(Z, sch.linkage(ssd.pdist(X, metric, **kwargs), method), rtol=1e-10)
    if executor.on_device and metric == "minkowski":
        # CUDA's pow is not correctly rounded
        np.testing.assert_allclose(Z, executor.reference(X, method, metric, **kwargs),
                                   rtol=1e-13)
    else:
        _assert_same_as_reference(executor, Z, X, method, metric, **kwargs)


@pytest.mark.executor_cases(metric=True, kinds=("observations",),
                            only=lambda spec: spec.metric_cases is None)
@pytest.mark.parametrize("boolean_metric", BOOLEAN_METRICS)
def test_boolean_metrics_valid_merges(executor, method, boolean_metric):
    # boolean data has many equal distances: SciPy's exact choice among ties is reproduced
    # only when the distances are bit-identical, so check the invariant and the heights
    X = np.random.default_rng(11).random((40, 12)) < 0.5
    X[:, 0] = True  # no all-false rows (dice/sokalsneath would divide 0 by 0)
    metric = boolean_metric
    y = ssd.pdist(X, metric)
    Z = executor.linkage(X, method, metric)
    assert_valid_merges(Z, y, method)
    _assert_same_as_reference(executor, Z, X, method, metric)
    if executor.spec.scipy_algorithm and executor.reference(X, method, metric) is None:
        Z = executor.linkage(X, method, metric, algorithm="scipy")
        assert_valid_merges(Z, y, method)
        np.testing.assert_allclose(np.sort(Z[:, 2]), np.sort(sch.linkage(y, method)[:, 2]),
                                   rtol=1e-12)


# -- SciPy's stored reference results ----------------------------------------------------------
@pytest.mark.executor_cases(kinds=("observations",))
def test_scipy_reference_X(executor, method, ref):
    Z = executor.linkage(ref.X, method)
    assert_same_as_scipy(Z, sch.linkage(ref.X, method))
    stored = getattr(ref, f"linkage_X_{method}", None)
    if stored is not None:
        np.testing.assert_allclose(Z, stored, rtol=1e-7)  # stored to 8 digits
    _assert_same_as_reference(executor, Z, ref.X, method)


@pytest.mark.executor_cases(kinds=("condensed",),
                            methods=tuple(m for m in METHODS if m not in EUCLIDEAN_ONLY))
def test_scipy_reference_ytdist(executor, method, ref):
    Z = executor.linkage(ref.ytdist, method)
    np.testing.assert_allclose(Z, getattr(ref, f"linkage_ytdist_{method}"), rtol=1e-10)


@pytest.mark.executor_cases(methods=("single",), kinds=("condensed",))
def test_scipy_reference_optimal_ordering_ytdist(executor, method, ref):
    Z = executor.linkage(ref.ytdist, method, optimal_ordering=True)
    np.testing.assert_allclose(Z, ref.linkage_ytdist_single_olo, rtol=1e-10)


@pytest.mark.executor_cases(methods=("ward",), kinds=("observations",))
def test_scipy_reference_optimal_ordering_X(executor, method, ref):
    Z = executor.linkage(ref.X, method, optimal_ordering=True)
    np.testing.assert_allclose(Z, ref.linkage_X_ward_olo, rtol=1e-7)  # stored to 8 digits


# -- the CPU: larger sizes, callables, property-based ------------------------------------------
@pytest.mark.parametrize("method", METHODS)
def test_a_few_thousand_points(method):
    X = blobs(2500, 8, seed=3)
    Z = gpuhclust.linkage(X, method)
    assert_same_as_scipy(Z, sch.linkage(X, method))


@settings(max_examples=40, deadline=None)
@given(n=st.integers(2, 40), d=st.integers(1, 4), levels=st.integers(2, 6),
       method=st.sampled_from(METHODS), seed=st.integers(0, 2**32 - 1))
def test_property_valid_and_scipy_equal(n, d, levels, method, seed):
    X = np.random.default_rng(seed).integers(0, levels, size=(n, d)).astype(float)
    y = ssd.pdist(X)
    Z = gpuhclust.linkage(y, method, backend="cpu")
    assert_valid_merges(Z, y, method)
    assert gpuhclust.linkage(y, method, backend="numpy").tobytes() == Z.tobytes()
    Z = gpuhclust.linkage(y, method, algorithm="scipy", backend="cpu")
    assert_valid_merges(Z, y, method)
    np.testing.assert_array_equal(Z, sch.linkage(y, method))
