"""Bad input gets a clear error before any heavy work, and the caller's arrays are never
modified."""
from __future__ import annotations

import re
import warnings

import numpy as np
import pytest
import scipy.spatial.distance as ssd
from scipy.cluster.hierarchy import ClusterWarning

import gpuhclust
from gpuhclust import _memory
from _helpers import METHODS


def test_unknown_method_lists_valid_ones():
    with pytest.raises(ValueError, match="Invalid method: 'wards'.*average.*ward"):
        gpuhclust.linkage(np.ones(3), "wards")


def test_unknown_metric():
    with pytest.raises(ValueError, match="Unknown distance metric 'euclidian'"):
        gpuhclust.linkage(np.ones((3, 2)), "single", "euclidian")


def test_unknown_backend_lists_available():
    with pytest.raises(ValueError, match="Unknown backend 'gpu'.*'cpu'"):
        gpuhclust.linkage(np.ones(3), "single", backend="gpu")


def test_bad_dtype():
    with pytest.raises(ValueError, match="dtype must be"):
        gpuhclust.linkage(np.ones(3), "single", dtype=np.int32)


@pytest.mark.parametrize("method", ["centroid", "median", "ward"])
def test_euclidean_only_methods_reject_other_metrics(method):
    with pytest.raises(ValueError, match=f"method={method}.*Euclidean"):
        gpuhclust.linkage(np.random.rand(5, 2), method, "cityblock")


@pytest.mark.parametrize("length", [2, 4, 7])
def test_wrong_condensed_length(length):
    with pytest.raises(ValueError, match=f"Incompatible vector size {length}"):
        gpuhclust.linkage(np.ones(length), "single")


def test_empty_condensed():
    with pytest.raises(ValueError, match="empty"):
        gpuhclust.linkage(np.array([]), "single")


@pytest.mark.parametrize("shape", [(1, 3), (0, 3)])
def test_fewer_than_two_observations(shape):
    with pytest.raises(ValueError, match="at least 2 observations"):
        gpuhclust.linkage(np.ones(shape), "single")


def test_no_features():
    with pytest.raises(ValueError, match="no features"):
        gpuhclust.linkage(np.ones((4, 0)), "single")


def test_three_dimensional():
    with pytest.raises(ValueError, match="1 or 2 dimensional"):
        gpuhclust.linkage(np.ones((2, 2, 2)), "single")


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_condensed_says_where(bad):
    y = ssd.pdist(np.random.default_rng(0).random((6, 2)))
    y[7] = bad  # observations (1, 4) of 6
    with pytest.raises(ValueError, match=r"only finite values: entry 7 \(observations 1 and 4\)"):
        gpuhclust.linkage(y, "average")


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("where", [0, 1, "end of a chunk", "start of a chunk", "last"])
def test_first_non_finite_finds_the_first_one(bad, where):
    """The chunked range check finds the first non-finite entry wherever it lies (a NaN, or an
    infinity at either end of its chunk's range), and the least value of finite input."""
    from gpuhclust._validation import RANGE_CHUNK, first_non_finite

    y = np.random.default_rng(1).random(2 * RANGE_CHUNK + 5) + 1.0
    y[RANGE_CHUNK + 3] = -2.5
    assert first_non_finite(y) == (-1, -2.5)
    at = {"end of a chunk": RANGE_CHUNK - 1, "start of a chunk": RANGE_CHUNK,
          "last": y.size - 1}.get(where, where)
    y[at] = bad
    y[-1] = bad  # a later one does not hide the first
    assert first_non_finite(y)[0] == at
    assert first_non_finite(np.arange(5))[0] == -1  # integers are finite


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_observations_say_where(bad):
    X = np.random.default_rng(0).random((6, 3))
    X[4, 2] = bad
    with pytest.raises(ValueError, match="row 4, column 2"):
        gpuhclust.linkage(X, "ward")


@pytest.mark.parametrize("method", ["centroid", "median", "ward"])
def test_negative_distances_rejected_for_euclidean_methods(method):
    # SciPy accepts them for ward and returns NaN heights; these methods need Euclidean distances
    y = np.array([1.0, -2.0, 3.0])
    with pytest.raises(ValueError, match=r"non-negative.*entry 1 \(observations 0 and 2\)"):
        gpuhclust.linkage(y, method)


@pytest.mark.parametrize("method", ["single", "complete", "average", "weighted"])
def test_negative_distances_allowed_elsewhere_as_in_scipy(method):
    from scipy.cluster.hierarchy import linkage

    y = np.array([1.0, -2.0, 3.0, 0.5, -0.25, 2.0])
    np.testing.assert_array_equal(gpuhclust.linkage(y, method), linkage(y, method))


def test_non_numeric_input():
    with pytest.raises(ValueError, match="must hold"):
        gpuhclust.linkage([["a", "b"], ["c", "d"]], "single")
    with pytest.raises(ValueError, match="complex"):
        gpuhclust.linkage(np.ones((3, 2), dtype=complex), "single")


def test_metric_options_on_condensed_input_rejected():
    with pytest.raises(TypeError, match="apply only to observations"):
        gpuhclust.linkage(np.ones(3), "single", p=3)


def test_unknown_metric_option():
    with pytest.raises(TypeError, match="unexpected keyword"):
        gpuhclust.linkage(np.random.rand(4, 2), "single", "euclidean", q=2)


def test_distance_matrix_passed_as_observations_warns_like_scipy():
    D = ssd.squareform(ssd.pdist(np.random.default_rng(1).random((5, 2))))
    with pytest.warns(ClusterWarning, match="uncondensed distance matrix"):
        gpuhclust.linkage(D, "single")


def test_memory_error_before_allocation(monkeypatch):
    monkeypatch.setattr(_memory, "available_bytes", lambda: 1000)
    X = np.random.default_rng(0).random((100, 2))
    # 78.1 KiB of matrix and 800 B of the rows' block minima (the rounds' first scan)
    with pytest.raises(MemoryError, match=r"needs 78\.9 KiB.*100 x 100 float64.*"
                                          r"only 1000 B.*dtype=numpy.float32"):
        gpuhclust.linkage(X, "average")


@pytest.mark.parametrize("dtype,copied", [(np.float64, False), (np.float32, False),
                                          (np.int64, True), (np.bool_, True)])
def test_condensed_input_memory_counts_its_float64_copy(dtype, copied):
    """The CPU fill reads float64 and float32 distances as they are; other types are copied
    to float64 first, and the plan's memory counts that copy."""
    from gpuhclust._validation import LinkageInput
    from gpuhclust.cpu._distances import column_blocks
    from gpuhclust.cpu.backend import CPUBackend

    n = 100
    y = np.ones(n * (n - 1) // 2, dtype=dtype)
    needed = CPUBackend.matrix_bytes(LinkageInput(n, y, None), None, np.float64)
    assert needed == 8 * n * n + 8 * n * column_blocks(n) + (8 * y.size if copied else 0)


def test_single_linkage_from_observations_needs_no_matrix(monkeypatch):
    """Prim's algorithm on the observations allocates O(n) memory only."""
    monkeypatch.setattr(_memory, "available_bytes", lambda: 10_000)
    X = np.random.default_rng(0).random((300, 2))
    from scipy.cluster.hierarchy import linkage

    np.testing.assert_array_equal(gpuhclust.linkage(X, "single"), linkage(X, "single"))


def test_memory_error_when_planned_allocation_exceeds_real_memory():
    """A matrix that cannot fit on any machine: refused at once, nothing allocated."""
    huge = np.broadcast_to(np.float64(1.0), (10**7, 2))  # 16 bytes of real data
    with pytest.raises(MemoryError, match="x 10000000 float64"):
        gpuhclust.linkage(huge, "complete")


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("kind", ["condensed", "observations", "float32", "list"])
def test_input_never_modified(method, kind):
    X = np.random.default_rng(8).random((30, 3))
    if kind == "condensed":
        data = ssd.pdist(X)
    elif kind == "float32":
        data = X.astype(np.float32)
    elif kind == "list":
        data = ssd.pdist(X).tolist()
    else:
        data = X
    before = np.array(data, copy=True)
    gpuhclust.linkage(data, method, dtype=np.float32 if kind == "float32" else None)
    np.testing.assert_array_equal(np.asarray(data), before)


def test_read_only_input_accepted():
    X = np.random.default_rng(8).random((20, 3))
    X.flags.writeable = False
    gpuhclust.linkage(X, "ward")
    y = ssd.pdist(X)
    y.flags.writeable = False
    gpuhclust.linkage(y, "centroid")


def test_no_warning_on_plain_input():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gpuhclust.linkage(np.random.default_rng(0).random((10, 3)), "average")


@pytest.mark.parametrize("method", ["single", "average"])
@pytest.mark.parametrize("metric", ["cosine", "dice", "braycurtis"])
def test_metric_giving_nan_is_refused_with_the_pair(method, metric):
    """Finite observations can still give 0/0 distances (a zero row under cosine, all-false rows
    under dice): SciPy refuses those, and so do we, naming the pair."""
    X = np.random.default_rng(0).random((12, 4)) + 1.0
    X[3] = 0.0
    X[7] = 0.0
    with pytest.raises(ValueError, match=r"non-finite distance") as err:
        gpuhclust.linkage(X, method, metric)
    i, j = map(int, re.search(r"observations (\d+) and (\d+)", str(err.value)).groups())
    # under cosine every pair with a zero row is 0/0; otherwise only the pair (3, 7) is
    assert (i, j) == (3, 7) or (metric == "cosine" and i < j and {i, j} & {3, 7})


def test_overflowing_distances_are_refused():
    X = np.array([[1e200, 0.0], [-1e200, 0.0], [0.0, 1.0]])
    with pytest.raises(ValueError, match="non-finite distance inf between observations 0 and 1"):
        gpuhclust.linkage(X, "complete")


@pytest.mark.parametrize("dtype", [None, np.float32])
def test_condensed_checks_allocate_no_full_size_temporary(dtype):
    """The finite / negative / float32-range checks of a condensed matrix go chunk by chunk: no
    temporary of the matrix's length (a boolean mask of n(n-1)/2 bytes was NumPy's MemoryError
    before gpuhclust's own)."""
    import tracemalloc

    from gpuhclust._methods import get_method
    from gpuhclust._validation import CHECK_CHUNK, check_linkage_input

    n = 5793  # n(n-1)/2 = 16,776,528 entries: 16 chunks
    y = np.ones(n * (n - 1) // 2)
    y[-1] = np.nan  # the last chunk is read, and the first bad entry is found there
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=f"entry {y.size - 1} "):
            check_linkage_input(y, get_method("average"), "euclidean", dtype)
        y[-1] = 1.0
        check_linkage_input(y, get_method("ward"), "euclidean", dtype)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * CHECK_CHUNK < y.size, peak  # float32: a float32 copy of a chunk, 4 bytes each


@pytest.mark.parametrize("backend", ["cpu", "cuda-sim"])
def test_distance_errors_carry_the_pair(backend):
    """One convention per interface: the library names observations 0-based, as NumPy rows,
    in the message and in ``.pair`` (the command line adds 1 to report file rows)."""
    y = ssd.pdist(np.random.default_rng(0).random((6, 2)))
    y[7] = np.nan
    with pytest.raises(gpuhclust.DistanceError) as err:
        gpuhclust.linkage(y, "average", backend=backend)
    assert err.value.pair == (1, 4) and err.value.index == 7
    X = np.random.default_rng(0).random((12, 4)) + 1.0
    X[3] = X[7] = 0.0
    with pytest.raises(gpuhclust.DistanceError) as err:
        gpuhclust.linkage(X, "average", "dice", backend=backend)
    assert err.value.pair == (3, 7) and err.value.index is None
    assert "observations 3 and 7" in str(err.value)
