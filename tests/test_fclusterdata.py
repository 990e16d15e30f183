"""gpuhclust.fclusterdata: SciPy's results, computed with gpuhclust.linkage."""
import numpy as np
import pytest
import scipy.cluster.hierarchy as sch

import gpuhclust
from _helpers import blobs, tie_heavy

CASES = [
    # (data, t, criterion, metric, depth, method)
    ("blobs", 1.0, "inconsistent", "euclidean", 2, "single"),
    ("blobs", 0.8, "inconsistent", "cityblock", 3, "average"),
    ("blobs", 4, "maxclust", "euclidean", 2, "ward"),
    ("blobs", 3, "maxclust", "cosine", 2, "complete"),
    ("blobs", 2.5, "distance", "euclidean", 2, "centroid"),
    ("blobs", 2.5, "distance", "chebyshev", 2, "median"),  # a Euclidean-only method, as SciPy
    ("blobs", 5, "maxclust", "cityblock", 2, "ward"),
    ("ties", 1.5, "distance", "euclidean", 2, "weighted"),
    ("ties", 1.2, "inconsistent", "euclidean", 1, "single"),
    ("ties", 6, "maxclust", "sqeuclidean", 2, "average"),
]


def _data(kind, seed):
    return blobs(60, 3, seed) if kind == "blobs" else tie_heavy(50, 3, seed)


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("kind,t,criterion,metric,depth,method", CASES)
def test_same_as_scipy(kind, t, criterion, metric, depth, method, seed):
    """SciPy's T: with the default algorithm on tie-free data, with algorithm='scipy' on ties
    (the default's rounds may pick another valid merge among tied distances)."""
    X = _data(kind, seed)
    before = X.copy()
    T = gpuhclust.fclusterdata(X, t, criterion=criterion, metric=metric, depth=depth,
                               method=method, algorithm="scipy" if kind == "ties" else None)
    T_ref = sch.fclusterdata(X, t, criterion=criterion, metric=metric, depth=depth,
                             method=method)
    np.testing.assert_array_equal(T, T_ref)
    assert T.dtype == T_ref.dtype
    np.testing.assert_array_equal(X, before)


def test_given_inconsistency_matrix_and_options():
    X = blobs(40, 2, 3)
    Z = sch.linkage(X, "average")
    R = sch.inconsistent(Z, 3)
    T = gpuhclust.fclusterdata(X, 0.9, method="average", R=R, backend="cpu", dtype=np.float64,
                               engine="matrix")
    np.testing.assert_array_equal(T, sch.fclusterdata(X, 0.9, method="average", R=R))


def test_uses_gpuhclust_linkage(monkeypatch):
    calls = []
    real = gpuhclust._fclusterdata.linkage
    monkeypatch.setattr(gpuhclust._fclusterdata, "linkage",
                        lambda *a, **k: calls.append(k) or real(*a, **k))
    gpuhclust.fclusterdata(blobs(20, 2, 0), 2, "maxclust", backend="cuda-sim")
    assert calls and calls[0]["backend"] == "cuda-sim"


def test_not_2d_is_scipys_type_error():
    with pytest.raises(TypeError, match="n by m array"):
        gpuhclust.fclusterdata(np.arange(5.0), 1)


def test_docstring_example():
    import doctest

    import gpuhclust._fclusterdata

    result = doctest.testmod(gpuhclust._fclusterdata, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
