"""gpuhclust.linkage against scipy.cluster.hierarchy.linkage: same Z, every method and metric."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.cluster.hierarchy as sch
import scipy.cluster.tests.hierarchy_test_data as ref
import scipy.spatial.distance as ssd
from hypothesis import given, settings
from hypothesis import strategies as st

import gpuhclust
from _helpers import (EUCLIDEAN_ONLY, METHODS, assert_same_as_scipy, assert_valid_merges, blobs,
                      tie_heavy)

SIZES = (2, 3, 17, 150)
GENERAL_METHODS = tuple(m for m in METHODS if m not in EUCLIDEAN_ONLY)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("kind", ["observations", "condensed"])
def test_tie_free_equals_scipy(method, n, kind):
    X = np.random.default_rng(n).standard_normal((n, 5))
    y = X if kind == "observations" else ssd.pdist(X)
    assert_same_as_scipy(gpuhclust.linkage(y, method), sch.linkage(y, method))


@pytest.mark.parametrize("method", METHODS)
def test_a_few_thousand_points(method):
    X = blobs(2500, 8, seed=3)
    Z = gpuhclust.linkage(X, method)
    assert_same_as_scipy(Z, sch.linkage(X, method))


@pytest.mark.parametrize("method", GENERAL_METHODS)
@pytest.mark.parametrize("metric,kwargs", [
    ("sqeuclidean", {}), ("cityblock", {}), ("chebyshev", {}), ("minkowski", {"p": 3.0}),
    ("cosine", {}), ("correlation", {}), ("canberra", {}), ("braycurtis", {}),
    ("seuclidean", {}), ("mahalanobis", {}), ("jensenshannon", {}),
    ("minkowski", {"p": 1.5, "w": np.linspace(0.5, 2, 6)}),
])
def test_metrics_equal_scipy(method, metric, kwargs):
    X = np.abs(np.random.default_rng(7).standard_normal((60, 6))) + 0.1
    Z = gpuhclust.linkage(X, method, metric, **kwargs)
    Z_ref = sch.linkage(ssd.pdist(X, metric, **kwargs), method)
    assert_same_as_scipy(Z, Z_ref, rtol=1e-10)


@pytest.mark.parametrize("method", GENERAL_METHODS)
@pytest.mark.parametrize("metric", ["hamming", "jaccard", "dice", "rogerstanimoto",
                                    "russellrao", "sokalsneath", "yule"])
def test_boolean_metrics_give_valid_merges(method, metric):
    # boolean data has many equal distances: SciPy's exact choice among ties is reproduced
    # only when the distances are bit-identical, so check the invariant and the heights
    X = np.random.default_rng(11).random((40, 12)) < 0.5
    X[:, 0] = True  # no all-false rows (dice/sokalsneath would divide 0 by 0)
    y = ssd.pdist(X, metric)
    assert_valid_merges(gpuhclust.linkage(X, method, metric), y, method)
    Z = gpuhclust.linkage(X, method, metric, algorithm="scipy")
    assert_valid_merges(Z, y, method)
    np.testing.assert_allclose(np.sort(Z[:, 2]), np.sort(sch.linkage(y, method)[:, 2]),
                               rtol=1e-12)


def test_callable_metric():
    X = np.random.default_rng(5).random((30, 3))
    metric = lambda u, v: np.abs(u - v).sum() ** 0.5  # noqa: E731
    assert_same_as_scipy(gpuhclust.linkage(X, "average", metric),
                         sch.linkage(X, "average", metric))


@pytest.mark.parametrize("method", ["single", "complete", "average", "weighted"])
def test_scipy_reference_ytdist(method):
    Z = gpuhclust.linkage(ref.ytdist, method)
    np.testing.assert_allclose(Z, getattr(ref, f"linkage_ytdist_{method}"), rtol=1e-10)


@pytest.mark.parametrize("method", ["centroid", "median", "ward"])
def test_scipy_reference_X(method):
    Z = gpuhclust.linkage(ref.X, method)
    np.testing.assert_allclose(Z, getattr(ref, f"linkage_X_{method}"), rtol=1e-7)  # stored to 8 digits


def test_scipy_reference_optimal_ordering():
    Z = gpuhclust.linkage(ref.ytdist, "single", optimal_ordering=True)
    np.testing.assert_allclose(Z, ref.linkage_ytdist_single_olo, rtol=1e-10)
    Z = gpuhclust.linkage(ref.X, "ward", optimal_ordering=True)
    np.testing.assert_allclose(Z, ref.linkage_X_ward_olo, rtol=1e-7)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("seed", range(4))
def test_ties_follow_scipy_exactly(method, seed):
    """With many equal distances algorithm='scipy' follows SciPy's tie rule: Z is identical,
    not just valid."""
    X = tie_heavy(60 + 20 * seed, 2, seed)
    y = ssd.pdist(X)
    Z = gpuhclust.linkage(y, method, algorithm="scipy")
    assert_valid_merges(Z, y, method)
    np.testing.assert_array_equal(Z, sch.linkage(y, method))


@pytest.mark.parametrize("method", METHODS)
def test_rounded_distances_valid_merges(method):
    """fastcluster's check: rounded distances force ties; every merge is a minimum merge."""
    X = np.random.default_rng(42).random((120, 3))
    y = np.round(ssd.pdist(X), 1)
    assert_valid_merges(gpuhclust.linkage(y, method), y, method)


@pytest.mark.parametrize("method", METHODS)
def test_same_input_same_output(method):
    X = tie_heavy(80, 2, 9)
    Z1 = gpuhclust.linkage(X, method)
    Z2 = gpuhclust.linkage(X.copy(), method)
    np.testing.assert_array_equal(Z1, Z2)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("kind", ["observations", "condensed"])
def test_float32_mode(method, kind):
    """float32 storage: Z stays float64; the merges are valid on the float32-rounded distances
    and on tie-free well-separated data the tree is SciPy's."""
    X = blobs(200, 4, seed=1)
    y64 = ssd.pdist(X)
    data = X if kind == "observations" else y64
    Z = gpuhclust.linkage(data, method, dtype=np.float32)
    assert Z.dtype == np.float64
    if method != "single" or kind == "condensed":
        assert_valid_merges(Z, y64.astype(np.float32), method, rtol=1e-5)
    Z_ref = sch.linkage(y64, method)
    np.testing.assert_allclose(Z[:, 2], Z_ref[:, 2], rtol=1e-5)


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.uint8, np.float32, np.bool_])
def test_input_dtypes(dtype):
    X = (np.random.default_rng(3).random((40, 5)) * 5).astype(dtype)
    Z = gpuhclust.linkage(X, "average", algorithm="scipy")  # integers: ties, SciPy's outcome
    assert_same_as_scipy(Z, sch.linkage(X, "average"))


def test_list_and_dataframe_input():
    pd = pytest.importorskip("pandas")
    X = np.random.default_rng(2).random((25, 3))
    Z_ref = sch.linkage(X, "ward")
    assert_same_as_scipy(gpuhclust.linkage(X.tolist(), "ward"), Z_ref)
    assert_same_as_scipy(gpuhclust.linkage(pd.DataFrame(X, columns=list("abc")), "ward"), Z_ref)
    assert_same_as_scipy(gpuhclust.linkage(list(ssd.pdist(X)), "ward"), Z_ref)


def test_non_contiguous_input():
    X = np.random.default_rng(4).random((50, 6))
    view = X[::2, ::2]
    assert_same_as_scipy(gpuhclust.linkage(view, "complete"), sch.linkage(view, "complete"))
    Xf = np.asfortranarray(X)
    assert_same_as_scipy(gpuhclust.linkage(Xf, "centroid"), sch.linkage(X, "centroid"))


@settings(max_examples=40, deadline=None)
@given(n=st.integers(2, 40), d=st.integers(1, 4), levels=st.integers(2, 6),
       method=st.sampled_from(METHODS), seed=st.integers(0, 2**32 - 1))
def test_property_valid_and_scipy_equal(n, d, levels, method, seed):
    X = np.random.default_rng(seed).integers(0, levels, size=(n, d)).astype(float)
    y = ssd.pdist(X)
    assert_valid_merges(gpuhclust.linkage(y, method), y, method)
    Z = gpuhclust.linkage(y, method, algorithm="scipy")
    assert_valid_merges(Z, y, method)
    np.testing.assert_array_equal(Z, sch.linkage(y, method))
