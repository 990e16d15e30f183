"""The CPU tournament for centroid and median (issue 14) over Numba's threads: every merge's
pass split into chunks whose first minima are combined in chunk order (the lowest slot wins a
tie), so Z is the one-chunk Z bit for bit, ties included, whatever the chunks and threads; and
the vector engine rescans the same rows."""
from __future__ import annotations

import numba
import numpy as np
import pytest

import gpuhclust
from gpuhclust.cpu import _vector
from gpuhclust.cpu import backend as cpu_backend
from _helpers import blobs, tie_heavy


def _integer_grid(n, d, seed):
    """Points on a 30-wide integer grid: equal distances and bounds between many clusters, and
    more stale rows rescanned than on ``tie_heavy``'s 3 values per coordinate."""
    return np.random.default_rng(seed).integers(0, 30, size=(n, d)).astype(np.float64)


def _in_chunks(monkeypatch, engine: str, chunks: int) -> None:
    """Run the tournament of `engine` in `chunks` chunks from the first merge on."""
    if engine == "vector":
        module, name = _vector, "run_tournament"
    else:
        module, name = cpu_backend, "_run_generic"
    original = getattr(module, name)

    def chunked(*args, **kwargs):
        return original(*args, **kwargs, chunks=chunks, parallel_min=1)

    monkeypatch.setattr(module, name, chunked)


@pytest.mark.parametrize("engine", ["vector", "matrix"])
@pytest.mark.parametrize("method", ["centroid", "median"])
@pytest.mark.parametrize("make", [tie_heavy, _integer_grid, blobs])
def test_same_z_in_any_number_of_chunks_and_threads(monkeypatch, engine, method, make):
    X = make(700, 2, 31)

    def tournament():
        cpu_backend.last_run.clear()
        Z = gpuhclust.linkage(X, method, backend="cpu", engine=engine, algorithm="tournament")
        return Z, dict(cpu_backend.last_run)

    one, one_run = tournament()  # 700 clusters: below the parallel threshold, one chunk
    before = numba.get_num_threads()
    try:
        for threads in range(1, min(2, numba.config.NUMBA_NUM_THREADS) + 1):
            numba.set_num_threads(threads)
            for chunks in (2, 3, 8):
                with monkeypatch.context() as patch:
                    _in_chunks(patch, engine, chunks)
                    Z, run = tournament()
                np.testing.assert_array_equal(Z, one)
                assert run == one_run  # the vector engine: the same rows rescanned
    finally:
        numba.set_num_threads(before)
