"""Backend 'numpy' (NumPy alone, for small input) and how backend='auto' chooses it.

Its Z is the CPU backend's bit for bit, ties included: the ``numpy`` executor of the parity
suite (``_executors.py``) checks that on every method, both kinds of input and tied data; its
building blocks are compared with the compiled ones in ``test_building_blocks.py``. Here: what
it takes and refuses, the faults it reports, and the plan's choice.
"""
from __future__ import annotations

import numpy as np
import pytest
import scipy.spatial.distance as ssd

import gpuhclust
from _helpers import METHODS, tie_heavy
from gpuhclust import MergeOverflowError, _memory, _plan
from gpuhclust._linkage import last_plan


def _backend_of(y, method="average", **kwargs) -> str:
    gpuhclust.linkage(y, method, **kwargs)
    return last_plan().backend.name


@pytest.fixture
def no_gpu(monkeypatch):
    """backend='auto' as in a fresh process on a machine without a GPU."""
    monkeypatch.setattr(_plan, "auto_backend_name", lambda: "cpu")
    monkeypatch.setattr(_plan, "cpu_backend_loaded", lambda: False)


@pytest.fixture
def X():
    return tie_heavy(60, 3, seed=4) + 1.0  # no zero row: cosine is defined


def test_is_listed_and_always_usable():
    assert "numpy" in gpuhclust.available_backends()


@pytest.mark.parametrize("method", METHODS)
def test_auto_takes_small_input_to_numpy(no_gpu, X, method):
    assert _backend_of(X, method) == "numpy"
    assert _backend_of(ssd.pdist(X), method) == "numpy"
    if not gpuhclust.METHODS[method].euclidean_only:
        assert _backend_of(X, method, metric="cityblock") == "numpy"


@pytest.mark.parametrize("kwargs, why", [
    ({"dtype": np.float32}, "float32 storage"),
    ({"metric": "cosine"}, "a metric SciPy computes in other bits"),
    ({"metric": "hamming"}, "a boolean-style metric"),
    ({"engine": "vector", "method": "ward"}, "the vector engine"),
    ({"algorithm": "scipy", "method": "ward"}, "SciPy's chain"),
    ({"algorithm": "nn_chain"}, "SciPy's chain"),
])
def test_auto_leaves_to_the_cpu_what_numpy_does_not_take(no_gpu, X, kwargs, why):
    kwargs = {"method": "average", **kwargs}
    assert _backend_of(X, **kwargs) == "cpu", why


def test_auto_takes_small_input_to_the_cpu_once_it_is_loaded(no_gpu, X, monkeypatch):
    monkeypatch.setattr(_plan, "cpu_backend_loaded", lambda: True)
    assert _backend_of(X) == "cpu"


def test_auto_takes_large_input_to_the_cpu(no_gpu, X, monkeypatch):
    monkeypatch.setattr(_plan, "SMALL_INPUT_N", len(X) - 1)
    assert _backend_of(X) == "cpu"
    monkeypatch.setattr(_plan, "SMALL_INPUT_N", len(X))
    assert _backend_of(X) == "numpy"


def test_auto_leaves_to_the_cpu_a_matrix_that_does_not_fit(no_gpu, X, monkeypatch):
    """The CPU backend then offers float32 or the vector engine (or says so)."""
    monkeypatch.setattr(_memory, "available_bytes", lambda: 1000)
    with pytest.raises(MemoryError, match="dtype=numpy.float32"):
        gpuhclust.linkage(X, "average")
    assert last_plan().backend.name == "cpu"


@pytest.mark.parametrize("kwargs, match", [
    ({"dtype": np.float32}, "float64 only.*backend='cpu'"),
    ({"metric": "cosine"}, "metric 'cosine'.*backend='cpu'"),
    ({"algorithm": "nn_chain"}, "'nn_chain' is not available.*'numpy'"),
    ({"engine": "vector"}, "engine='vector' is not available on backend 'numpy'"),
])
def test_explicit_numpy_refuses_clearly(X, kwargs, match):
    with pytest.raises(ValueError, match=match):
        gpuhclust.linkage(X, "average", backend="numpy", **kwargs)


@pytest.mark.parametrize("method", ["average", "weighted", "ward", "centroid"])
def test_an_update_beyond_float64_is_the_cpus_fault(method):
    """The same merge, the same observations, the same message as the CPU backend."""
    y = np.array([1.7e308, 1.6e308, 1.0e308])
    outcomes = []
    for backend in ("numpy", "cpu"):
        try:
            outcomes.append(gpuhclust.linkage(y, method, backend=backend).tobytes())
        except MergeOverflowError as exc:
            outcomes.append((str(exc), exc.step, exc.observations, exc.other))
    assert outcomes[0] == outcomes[1]
    if method in ("average", "weighted"):  # the sum overflows; ward and centroid scale
        assert isinstance(outcomes[0], tuple)


def test_caller_arrays_untouched(X):
    y = ssd.pdist(X)
    before_X, before_y = X.copy(), y.copy()
    X.flags.writeable = False
    for method in METHODS:
        gpuhclust.linkage(X, method, backend="numpy")
        gpuhclust.linkage(y, method, backend="numpy")
    np.testing.assert_array_equal(X, before_X)
    np.testing.assert_array_equal(y, before_y)


def test_pdist_is_scipys(X):
    for metric in ("euclidean", "cityblock"):
        np.testing.assert_array_equal(gpuhclust.pdist(X, metric, backend="numpy"),
                                      ssd.pdist(X, metric))
