"""SciPy's tutorial workflow with gpuhclust: Z flows into SciPy's functions, the re-exports are
SciPy's, and the backend registry behaves."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.cluster.hierarchy as sch
import scipy.spatial.distance as ssd

import gpuhclust
from _helpers import METHODS, blobs


@pytest.mark.parametrize("method", METHODS)
def test_tutorial_workflow(method):
    X = gpuhclust.whiten(blobs(300, 2, seed=0))
    Z = gpuhclust.linkage(X, method)
    assert sch.is_valid_linkage(Z)
    labels = gpuhclust.fcluster(Z, 3, "maxclust")
    np.testing.assert_array_equal(labels, sch.fcluster(sch.linkage(X, method), 3, "maxclust"))
    c, coph = gpuhclust.cophenet(Z, ssd.pdist(X))
    c_ref, _ = sch.cophenet(sch.linkage(X, method), ssd.pdist(X))
    assert c == pytest.approx(c_ref, rel=1e-12)
    tree = gpuhclust.dendrogram(Z, no_plot=True)
    assert sorted(tree["leaves"]) == list(range(300))
    assert list(gpuhclust.leaves_list(Z)) == tree["leaves"]
    assert gpuhclust.to_tree(Z).count == 300
    assert gpuhclust.cut_tree(Z, n_clusters=3).shape == (300, 1)


def test_reexports_are_scipys():
    # fclusterdata and dendrogram are gpuhclust's own (tests/test_fclusterdata.py,
    # tests/test_dendrogram.py)
    for name in ("fcluster", "cophenet", "leaves_list", "to_tree", "cut_tree",
                 "optimal_leaf_ordering"):
        assert getattr(gpuhclust, name) is getattr(sch, name)
    from scipy.cluster.vq import whiten

    assert gpuhclust.whiten is whiten


def test_three_blobs_are_found():
    X = blobs(600, 3, seed=4)
    labels = gpuhclust.fcluster(gpuhclust.linkage(X, "ward"), 3, "maxclust")
    assert sorted(np.bincount(labels)[1:]) == sorted(np.bincount(
        sch.fcluster(sch.linkage(X, "ward"), 3, "maxclust"))[1:])
    assert len(set(labels)) == 3


@pytest.mark.parametrize("method", ["single", "average", "ward"])
def test_optimal_ordering_matches_scipy(method):
    X = np.random.default_rng(6).random((40, 3))
    np.testing.assert_allclose(gpuhclust.linkage(X, method, optimal_ordering=True),
                               sch.linkage(X, method, optimal_ordering=True), rtol=1e-12)


def test_backend_registry():
    assert "cpu" in gpuhclust.available_backends()
    X = np.random.default_rng(0).random((30, 2))
    np.testing.assert_array_equal(gpuhclust.linkage(X, "average", backend="cpu"),
                                  gpuhclust.linkage(X, "average", backend="auto"))


def test_progress_bar_reaches_total(capsys):
    X = np.random.default_rng(0).random((500, 2))
    gpuhclust.linkage(X, "average", progress=True)
    err = capsys.readouterr().err
    assert "gpuhclust average" in err


def test_keyboard_interrupt_between_chunks(monkeypatch):
    """Ctrl-C is honoured between chunks: the call stops, and the next call works."""
    from gpuhclust.cpu import backend as cpu_backend

    calls = {"n": 0}
    real = cpu_backend._nn_chain.nn_chain_steps

    def interrupted(*args):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(cpu_backend._nn_chain, "nn_chain_steps", interrupted)
    X = np.random.default_rng(0).random((400, 2))
    with pytest.raises(KeyboardInterrupt):
        gpuhclust.linkage(X, "average", algorithm="nn_chain")
    monkeypatch.undo()
    np.testing.assert_array_equal(gpuhclust.linkage(X, "average", algorithm="nn_chain"),
                                  sch.linkage(X, "average"))
