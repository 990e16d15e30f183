"""Every form of input the SciPy API takes gives SciPy's Z: integer, boolean and float32
arrays, lists, DataFrames, strided views and Fortran order."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.cluster.hierarchy as sch
import scipy.spatial.distance as ssd

import gpuhclust
from _helpers import assert_same_as_scipy


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
