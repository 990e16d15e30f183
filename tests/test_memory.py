"""The large-array allocator: ordinary pages from an own mapping, and the matrix engine on it."""
import mmap

import numpy as np
import pytest
from scipy.cluster import hierarchy

import gpuhclust
from gpuhclust import _memory

from _helpers import assert_same_as_scipy


def _owner(a):
    """The object that owns an array's memory (through views and memoryviews)."""
    while isinstance(a, (np.ndarray, memoryview)):
        a = a.base if isinstance(a, np.ndarray) else a.obj
    return a


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_large_arrays_get_their_own_writable_mapping(dtype):
    rows = _memory.LARGE_BYTES // (np.dtype(dtype).itemsize * 512) + 1
    a = _memory.empty_large((rows, 512), dtype)
    assert a.shape == (rows, 512) and a.dtype == dtype and a.flags.c_contiguous
    assert isinstance(_owner(a), mmap.mmap)
    a[-1, -1] = 3.0  # writable up to the last byte
    assert a[-1, -1] == 3.0


def test_small_arrays_stay_numpy_allocations():
    a = _memory.empty_large((4, 4), np.float64)
    assert _owner(a) is None and a.shape == (4, 4)


@pytest.mark.parametrize("method", ["average", "ward", "centroid", "single"])
def test_matrix_engine_on_mapped_memory_matches_scipy(monkeypatch, method):
    calls = []
    real = _memory.empty_large

    def counting(shape, dtype):
        calls.append(shape)
        return real(shape, dtype)

    monkeypatch.setattr(_memory, "LARGE_BYTES", 0)  # every matrix takes the mapping path
    monkeypatch.setattr(_memory, "empty_large", counting)
    X = np.random.default_rng(5).standard_normal((150, 4))
    Z = gpuhclust.linkage(X, method, backend="cpu", engine="matrix")
    ref = hierarchy.linkage(X, method)
    assert calls == [(150, 150)]
    assert_same_as_scipy(Z, ref)
