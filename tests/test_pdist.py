"""gpuhclust.pdist against scipy.spatial.distance.pdist."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.spatial.distance as ssd

import gpuhclust

# metrics whose compiled kernels sum in SciPy's order: equal to the last bit
BIT_EXACT = ["euclidean", "sqeuclidean", "cityblock", "chebyshev"]
NUMERIC = BIT_EXACT + ["minkowski", "cosine", "correlation", "canberra", "braycurtis",
                       "seuclidean", "mahalanobis", "hamming", "jaccard", "jensenshannon"]
BOOLEAN = ["dice", "rogerstanimoto", "russellrao", "sokalsneath", "yule", "hamming", "jaccard"]


@pytest.fixture(scope="module")
def X():
    X = np.abs(np.random.default_rng(0).standard_normal((301, 7)))
    X[5] = X[3]  # a duplicate row: zero distances, cosine of identical rows
    X[9, 2] = 0.0
    return X


@pytest.mark.parametrize("metric", BIT_EXACT)
def test_bit_exact_metrics(X, metric):
    np.testing.assert_array_equal(gpuhclust.pdist(X, metric), ssd.pdist(X, metric))


@pytest.mark.parametrize("metric", NUMERIC)
def test_numeric_metrics(X, metric):
    np.testing.assert_allclose(gpuhclust.pdist(X, metric), ssd.pdist(X, metric),
                               rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("metric", BOOLEAN)
def test_boolean_metrics(metric):
    B = np.random.default_rng(1).random((80, 9)) < 0.4
    B[:, 0] = True
    np.testing.assert_allclose(gpuhclust.pdist(B, metric), ssd.pdist(B, metric), rtol=1e-12)


@pytest.mark.parametrize("alias,name", [("eu", "euclidean"), ("cblock", "cityblock"),
                                        ("cheb", "chebyshev"), ("matching", "hamming")])
def test_aliases(X, alias, name):
    np.testing.assert_array_equal(gpuhclust.pdist(X, alias), ssd.pdist(X, name))


@pytest.mark.parametrize("p", [0.5, 1.0, 2.0, 3.0, np.inf])
def test_minkowski_p(X, p):
    np.testing.assert_allclose(gpuhclust.pdist(X, "minkowski", p=p),
                               ssd.pdist(X, "minkowski", p=p), rtol=1e-12)


def test_metric_options(X):
    V = np.linspace(0.5, 3.0, X.shape[1])
    np.testing.assert_allclose(gpuhclust.pdist(X, "seuclidean", V=V),
                               ssd.pdist(X, "seuclidean", V=V), rtol=1e-12)
    VI = np.linalg.inv(np.cov(X.T) + np.eye(X.shape[1]))
    np.testing.assert_allclose(gpuhclust.pdist(X, "mahalanobis", VI=VI),
                               ssd.pdist(X, "mahalanobis", VI=VI), rtol=1e-12)
    w = np.linspace(0.1, 1.0, X.shape[1])
    np.testing.assert_allclose(gpuhclust.pdist(X, "minkowski", p=3, w=w),
                               ssd.pdist(X, "minkowski", p=3, w=w), rtol=1e-12)


def test_float32_result(X):
    y = gpuhclust.pdist(X, dtype=np.float32)
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y, ssd.pdist(X).astype(np.float32))


def test_mahalanobis_too_few_observations():
    with pytest.raises(ValueError, match="at least 4 observations"):
        gpuhclust.pdist(np.random.rand(3, 3), "mahalanobis")


def test_pdist_needs_2d():
    with pytest.raises(ValueError, match="2-dimensional"):
        gpuhclust.pdist(np.ones(5))


def test_bad_minkowski_p(X):
    with pytest.raises(ValueError, match="p must be greater than 0"):
        gpuhclust.pdist(X, "minkowski", p=0)
