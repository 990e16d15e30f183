"""gpuhclust.AgglomerativeClustering: scikit-learn's estimator contract and results."""
import subprocess
import sys

import numpy as np
import pytest
import scipy.cluster.hierarchy as sch

sklearn = pytest.importorskip("sklearn")
from sklearn import cluster, datasets  # noqa: E402
from sklearn.metrics import adjusted_rand_score  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

import gpuhclust  # noqa: E402
from _helpers import blobs, tie_heavy  # noqa: E402

AC = gpuhclust.AgglomerativeClustering


@parametrize_with_checks([AC(), AC(linkage="single", backend="cpu"),
                          AC(linkage="average", metric="manhattan"),
                          AC(linkage="centroid", engine="matrix", dtype=np.float32)])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


DATASETS = {name: getattr(datasets, f"load_{name}")().data
            for name in ("iris", "wine", "breast_cancer", "digits")}


@pytest.mark.parametrize("name", list(DATASETS))
@pytest.mark.parametrize("method", ["ward", "complete", "average", "single"])
def test_same_as_sklearn_on_bundled_data(name, method):
    X = DATASETS[name]
    for params in (dict(n_clusters=2), dict(n_clusters=3, compute_distances=True),
                   dict(n_clusters=12), dict(n_clusters=None, distance_threshold=None)):
        if params["n_clusters"] is None:  # a threshold that leaves a few clusters
            ref_tree = cluster.AgglomerativeClustering(linkage=method,
                                                       compute_distances=True).fit(X)
            params["distance_threshold"] = float(np.quantile(ref_tree.distances_, 0.995))
        ref = cluster.AgglomerativeClustering(linkage=method, **params).fit(X)
        ours = AC(linkage=method, **params).fit(X)
        assert ours.n_clusters_ == ref.n_clusters_
        assert ours.n_leaves_ == ref.n_leaves_ == len(X)
        assert ours.n_connected_components_ == ref.n_connected_components_
        assert ours.n_features_in_ == ref.n_features_in_
        assert hasattr(ours, "distances_") == hasattr(ref, "distances_")
        assert adjusted_rand_score(ours.labels_, ref.labels_) == 1.0
        assert ours.labels_.dtype == ref.labels_.dtype
        if method == "single":
            # scikit-learn's own spanning tree orders each pair by visit; same pairs
            np.testing.assert_array_equal(ours.children_, np.sort(ref.children_, axis=1))
            if hasattr(ref, "distances_"):
                np.testing.assert_allclose(ours.distances_, ref.distances_, rtol=1e-12)
        else:
            np.testing.assert_array_equal(ours.labels_, ref.labels_)
            np.testing.assert_array_equal(ours.children_, ref.children_)
            if hasattr(ref, "distances_"):
                np.testing.assert_array_equal(ours.distances_, ref.distances_)


@pytest.mark.parametrize("metric", ["l1", "l2", "manhattan", "cosine", "euclidean",
                                    "precomputed", "callable"])
@pytest.mark.parametrize("method", ["complete", "average"])
def test_same_as_sklearn_for_each_metric(metric, method):
    X = DATASETS["wine"]
    data, kw = X, {}
    if metric == "precomputed":
        data = sklearn.metrics.pairwise_distances(X, metric="cityblock")
    if metric == "callable":
        kw["metric"] = lambda A: sklearn.metrics.pairwise_distances(A, metric="chebyshev")
    else:
        kw["metric"] = metric
    ref = cluster.AgglomerativeClustering(4, linkage=method, compute_distances=True,
                                          **kw).fit(data)
    ours = AC(4, linkage=method, compute_distances=True, **kw).fit(data)
    np.testing.assert_array_equal(ours.labels_, ref.labels_)
    np.testing.assert_array_equal(ours.children_, ref.children_)
    # cosine: 1 - cos computed in another order than SciPy's (differences of ~1 ulp of 1.0)
    np.testing.assert_allclose(ours.distances_, ref.distances_, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("method", ["weighted", "centroid", "median", "ward", "average"])
@pytest.mark.parametrize("data", ["blobs", "ties"])
def test_scipy_methods_give_scipys_tree(method, data):
    X = blobs(80, 3, 5) if data == "blobs" else tie_heavy(80, 3, 5)
    Z_ref = sch.linkage(X, method)
    est = AC(5, linkage=method, compute_distances=True).fit(X)
    np.testing.assert_array_equal(est.linkage_matrix_[:, [0, 1, 3]], Z_ref[:, [0, 1, 3]])
    np.testing.assert_allclose(est.linkage_matrix_[:, 2], Z_ref[:, 2], rtol=1e-12)
    np.testing.assert_array_equal(est.children_, Z_ref[:, :2].astype(np.intp))
    np.testing.assert_array_equal(est.distances_, est.linkage_matrix_[:, 2])
    # the cut undoes the last four merges: the clusters are the subtrees hanging below them
    top = set(range(2 * 80 - 2, 2 * 80 - 2 - 4, -1))
    roots = sorted({int(c) for r in range(80 - 5, 80 - 1) for c in Z_ref[r, :2]} - top)
    assert len(roots) == 5 and len(np.unique(est.labels_)) == 5
    for root in roots:
        members = (sch.to_tree(Z_ref, rd=True)[1][root].pre_order()
                   if root >= 80 else [root])
        assert len(np.unique(est.labels_[members])) == 1
        assert np.count_nonzero(est.labels_ == est.labels_[members[0]]) == len(members)


def test_distance_threshold_counts_merges_at_or_above():
    X = blobs(60, 2, 1)
    est = AC(n_clusters=None, distance_threshold=3.0, linkage="average").fit(X)
    Z = sch.linkage(X, "average")
    assert est.n_clusters_ == np.count_nonzero(Z[:, 2] >= 3.0) + 1
    assert not np.any(Z[:, 2] == 3.0)  # then SciPy's cut (merges <= t kept) is the same
    T = sch.fcluster(Z, 3.0, "distance")
    assert adjusted_rand_score(est.labels_, T) == 1.0


def test_fit_predict_backend_and_linkage_matrix():
    X = blobs(50, 4, 2)
    est = AC(3, linkage="average", backend="cuda-sim")
    labels = est.fit_predict(X)
    np.testing.assert_array_equal(labels, est.labels_)
    np.testing.assert_array_equal(est.linkage_matrix_,
                                  gpuhclust.linkage(X, "average", algorithm="scipy"))


def test_algorithm_none_takes_linkages_default():
    """algorithm=None runs linkage's default (the rounds): on tie-free data the same tree and
    labels as the default 'scipy'."""
    X = blobs(120, 3, 4)
    fast = AC(4, linkage="average", algorithm=None, compute_distances=True).fit(X)
    exact = AC(4, linkage="average", compute_distances=True).fit(X)
    np.testing.assert_array_equal(fast.linkage_matrix_, gpuhclust.linkage(X, "average"))
    np.testing.assert_array_equal(fast.labels_, exact.labels_)
    np.testing.assert_array_equal(fast.children_, exact.children_)
    np.testing.assert_allclose(fast.distances_, exact.distances_, rtol=1e-13)


def test_feature_names_from_a_dataframe():
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame(DATASETS["iris"], columns=["a", "b", "c", "d"])
    est = AC(3).fit(df)
    np.testing.assert_array_equal(est.feature_names_in_, ["a", "b", "c", "d"])
    np.testing.assert_array_equal(est.labels_, AC(3).fit(DATASETS["iris"]).labels_)


def test_memory_caches_the_tree(tmp_path):
    X = blobs(40, 2, 0)
    first = AC(3, memory=str(tmp_path)).fit(X)
    second = AC(4, memory=str(tmp_path)).fit(X)
    np.testing.assert_array_equal(first.children_, second.children_)
    assert any(tmp_path.rglob("*.pkl"))


@pytest.mark.parametrize("params,fit_X,match", [
    (dict(connectivity=np.eye(10)), None, "connectivity is not implemented"),
    (dict(connectivity=lambda X: X), None, "connectivity is not implemented"),
    (dict(n_clusters=None), None, "Exactly one of n_clusters and distance_threshold"),
    (dict(n_clusters=2, distance_threshold=1.0), None, "Exactly one"),
    (dict(n_clusters=0), None, "n_clusters must be"),
    (dict(n_clusters=2.5), None, "n_clusters must be"),
    (dict(n_clusters=None, distance_threshold=-1.0), None, "distance_threshold must be"),
    (dict(n_clusters=None, distance_threshold=1.0, compute_full_tree=False), None,
     "compute_full_tree must be True"),
    (dict(compute_full_tree="yes"), None, "compute_full_tree must be"),
    (dict(linkage="max"), None, "linkage must be one of"),
    (dict(linkage="ward", metric="manhattan"), None, "can only work with euclidean"),
    (dict(linkage="centroid", metric="cosine"), None, "can only work with euclidean"),
    (dict(n_clusters=11), None, "Cannot extract more clusters than samples"),
    (dict(metric="precomputed", linkage="average"), "rect", "should be square"),
    (dict(metric="cosine", linkage="average"), "zeros", "zero vectors"),
    (dict(backend="nope"), None, "backend"),
    (dict(dtype=np.int32), None, "dtype"),
    (dict(engine="fast"), None, "engine"),
])
def test_bad_parameters_are_clear_value_errors(params, fit_X, match):
    X = blobs(10, 3, 0)
    if fit_X == "rect":
        X = X[:, :2]
    elif fit_X == "zeros":
        X[3] = 0
    with pytest.raises(ValueError, match=match):
        AC(**params).fit(X)


def test_input_is_not_modified():
    X = tie_heavy(30, 3, 1)
    D = sklearn.metrics.pairwise_distances(X)
    X0, D0 = X.copy(), D.copy()
    AC(3).fit(X)
    AC(3, metric="precomputed", linkage="complete").fit(D)
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(D, D0)


def test_import_gpuhclust_does_not_import_sklearn():
    code = ("import sys, gpuhclust; assert 'sklearn' not in sys.modules; "
            "gpuhclust.AgglomerativeClustering; assert 'sklearn' in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_without_sklearn_the_estimator_says_how_to_install_it():
    code = ("import sys; sys.modules['sklearn'] = None; import gpuhclust\n"
            "try:\n    gpuhclust.AgglomerativeClustering\n"
            "except ImportError as e:\n    assert \"gpuhclust[sklearn]\" in str(e), e\n"
            "else:\n    raise SystemExit('no ImportError')\n"
            "assert gpuhclust.linkage([[0.0], [1.0]]).shape == (1, 4)")
    subprocess.run([sys.executable, "-c", code], check=True)
