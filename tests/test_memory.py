"""The large-array allocator: ordinary pages from an own mapping, and the matrix engine on it."""
import mmap
import sys

import numpy as np
import pytest
from scipy.cluster import hierarchy

import gpuhclust
from gpuhclust import _memory

from _helpers import assert_same_as_scipy


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_large_arrays_get_their_own_writable_mapping(dtype):
    rows = _memory.LARGE_BYTES // (np.dtype(dtype).itemsize * 512) + 1
    a = _memory.empty_large((rows, 512), dtype)
    assert a.shape == (rows, 512) and a.dtype == dtype and a.flags.c_contiguous
    assert isinstance(_memory._own_mapping(a), mmap.mmap)
    a[-1, -1] = 3.0  # writable up to the last byte
    assert a[-1, -1] == 3.0


def test_small_arrays_stay_numpy_allocations():
    a = _memory.empty_large((4, 4), np.float64)
    assert _memory._own_mapping(a) is None and a.shape == (4, 4)


@pytest.mark.parametrize("method", ["average", "ward", "centroid", "single"])
def test_matrix_engine_on_mapped_memory_matches_scipy(monkeypatch, method):
    calls = []
    real = _memory.empty_large

    def counting(shape, dtype):
        calls.append(shape)
        return real(shape, dtype)

    released = []
    real_release = _memory.release_large

    def releasing(array, threads):
        released.append(array.shape)
        real_release(array, threads)

    monkeypatch.setattr(_memory, "LARGE_BYTES", 0)  # every matrix takes the mapping path
    monkeypatch.setattr(_memory, "empty_large", counting)
    monkeypatch.setattr(_memory, "release_large", releasing)
    X = np.random.default_rng(5).standard_normal((150, 4))
    Z = gpuhclust.linkage(X, method, backend="cpu", engine="matrix")
    ref = hierarchy.linkage(X, method)
    assert calls == [(150, 150)]
    assert released == [(150, 150)]  # given back once the merges are done
    assert_same_as_scipy(Z, ref)


def _mapped(value):
    rows = _memory.LARGE_BYTES // (8 * 512) + 3
    a = _memory.empty_large((rows, 512), np.float64)
    a[:] = value
    return a


@pytest.mark.skipif(not sys.platform.startswith("linux"),
                    reason="MADV_DONTNEED frees at once on Linux")
@pytest.mark.parametrize("threads", [2, 3])
def test_release_large_gives_every_page_back(threads):
    a = _mapped(2.0)
    _memory.release_large(a, threads)
    assert not a.any()  # anonymous pages given back read as zeros: every part was released
    a[:] = 5.0  # and the array stays usable until it is freed
    assert (a == 5.0).all()


def test_release_large_leaves_other_arrays_alone():
    a = _mapped(2.0)
    _memory.release_large(a, 1)  # one thread: nothing to gain, the array is kept as it is
    _memory.release_large(a[1:], 2)  # not the whole mapping
    small = np.full((4, 4), 2.0)
    _memory.release_large(small, 2)  # NumPy's own allocation
    assert (a == 2.0).all() and (small == 2.0).all()
