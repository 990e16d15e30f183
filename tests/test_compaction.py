"""The matrix engine's compaction of dead slots (``gpuhclust.cpu._lazy_matrix.Compactor``):
merges and tie outcomes must be exactly those without it, and it must really happen."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.cluster.hierarchy as sch
import scipy.spatial.distance as ssd

import gpuhclust
from _helpers import METHODS, assert_same_as_scipy, blobs, tie_heavy
from gpuhclust.cpu import _lazy_matrix

MATRIX_METHODS = tuple(m for m in METHODS if m != "single")  # single runs Prim, no log


@pytest.fixture
def compactions(monkeypatch):
    """The widths of the matrices compacted during the test, in order."""
    calls = []
    original = _lazy_matrix.Compactor.compact

    def counted(self, *args):
        calls.append(self.width)
        return original(self, *args)

    monkeypatch.setattr(_lazy_matrix.Compactor, "compact", counted)
    return calls


@pytest.fixture
def count_compactions(compactions, monkeypatch):
    """Compact from width 8 up (instead of only wide matrices) and count the compactions."""
    monkeypatch.setattr(_lazy_matrix, "COMPACT_MIN_WIDTH", 8)
    return compactions


@pytest.mark.parametrize("method", MATRIX_METHODS)
def test_ties_identical_to_scipy_through_compactions(method, count_compactions):
    y = ssd.pdist(tie_heavy(300, 2, seed=5))
    Z = gpuhclust.linkage(y, method, engine="matrix", backend="cpu", algorithm="scipy")
    np.testing.assert_array_equal(Z, sch.linkage(y, method))
    assert len(count_compactions) >= 4  # 300 -> 150 -> 75 -> ... -> 8


@pytest.mark.parametrize("method", MATRIX_METHODS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_compaction_changes_nothing(method, dtype, monkeypatch):
    """Bit for bit the Z of the run without compaction, ties and float32 rounding included."""
    y = ssd.pdist(tie_heavy(300, 2, seed=6))
    monkeypatch.setattr(_lazy_matrix, "COMPACT_MIN_WIDTH", 10**9)
    Z_plain = gpuhclust.linkage(y, method, dtype=dtype, engine="matrix", backend="cpu")
    monkeypatch.setattr(_lazy_matrix, "COMPACT_MIN_WIDTH", 8)
    np.testing.assert_array_equal(gpuhclust.linkage(y, method, dtype=dtype, engine="matrix",
                                                    backend="cpu"),
                                  Z_plain)


@pytest.mark.parametrize("method", MATRIX_METHODS)
def test_tie_free_equals_scipy_through_compactions(method, count_compactions):
    X = blobs(257, 6, seed=11)
    Z = gpuhclust.linkage(X, method, engine="matrix", backend="cpu")
    assert_same_as_scipy(Z, sch.linkage(X, method))
    assert count_compactions


@pytest.mark.parametrize("method", ["average", "centroid"])
def test_default_threshold_compacts_wide_matrices(method, compactions):
    """With the shipped threshold a matrix of 1100 slots is compacted (twice) and Z is SciPy's."""
    X = blobs(1100, 4, seed=2)
    Z = gpuhclust.linkage(X, method, engine="matrix", backend="cpu", algorithm="scipy")
    assert_same_as_scipy(Z, sch.linkage(X, method))
    assert compactions[0] == 1100 and len(compactions) == 2


@pytest.mark.parametrize("width,keep", [(9, [0, 2, 3, 7, 8]), (9, list(range(9))),
                                        (1000, "half"), (1000, "few"), (1000, "last")])
def test_gather_square_in_place(width, keep):
    """The rows go in parallel waves: no entry may be overwritten before it is read."""
    rng = np.random.default_rng(0)
    M = rng.random((width, width))
    if keep == "half":
        live = np.sort(rng.choice(width, width // 2, replace=False))
    elif keep == "few":
        live = np.sort(rng.choice(width, 37, replace=False))
    elif keep == "last":
        live = np.arange(width // 2, width)
    else:
        live = np.asarray(keep)
    m = len(live)
    flat = M.copy().reshape(-1)
    _lazy_matrix.gather_square(flat, width, live)
    np.testing.assert_array_equal(flat[:m * m].reshape(m, m), M[np.ix_(live, live)])
