"""Reciprocal-nearest-neighbour rounds on the CUDA backend (the shared driver
``gpuhclust._rounds`` over the device rows of ``gpuhclust.cuda._round_rows``): the same Z as the
CPU rounds bit for bit, ties included, under every simulator schedule, one host sync per round."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.spatial.distance as ssd

import gpuhclust
from _helpers import assert_valid_merges, blobs, tie_heavy
from gpuhclust import _sim
from gpuhclust.cuda import backend as cuda_backend
from gpuhclust.cuda._context import SimContext
from gpuhclust.cuda.backend import SimBackend

ROUNDS_METHODS = ("complete", "average", "weighted", "ward")
N = 40


def _data(data: str, kind: str) -> np.ndarray:
    X = blobs(N, 3, seed=5) if data == "tie-free" else tie_heavy(N, 2, seed=3)
    return X if kind == "observations" else ssd.pdist(X)


@pytest.mark.parametrize("method", ROUNDS_METHODS)
@pytest.mark.parametrize("data", ["tie-free", "ties"])
@pytest.mark.parametrize("kind", ["observations", "condensed"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_same_z_as_cpu_rounds(cuda_schedule_backend, method, data, kind, dtype):
    y = _data(data, kind)
    cuda_backend.last_run.clear()
    Z = gpuhclust.linkage(y, method, backend=cuda_schedule_backend, dtype=dtype)
    stats = cuda_backend.last_run
    assert stats["backend"] == cuda_schedule_backend.name and stats["merges"] == N - 1
    assert stats["rounds"] < N - 1  # several pairs per round: not the chain in disguise
    Z_cpu = gpuhclust.linkage(y, method, backend="cpu", dtype=dtype)
    assert Z.tobytes() == Z_cpu.tobytes()  # bit for bit, signed zeros included
    if data == "ties":
        assert_valid_merges(Z, ssd.pdist(y) if kind == "observations" else y, method,
                            rtol=1e-6 if dtype == np.float32 else 1e-12)


@pytest.mark.parametrize("method", ROUNDS_METHODS)
def test_one_host_sync_per_round(method):
    # condensed input: filling the matrix reads nothing back, so every sync is the rounds'
    y = ssd.pdist(blobs(60, 3, seed=8))
    with _sim.counting() as counts:
        gpuhclust.linkage(y, method, backend=SimBackend(SimContext()))
    stats = cuda_backend.last_run
    assert stats["rounds"] < 30
    # one read for the first scan, one per round (and per full rescan): nothing per merge
    assert counts.host_syncs == 1 + stats["rounds"] + stats["full_rescans"]
    assert counts.launches == 2 + 3 * stats["rounds"]  # fill, first scan; replay, merge, rescan


def test_no_finite_distance_left_is_an_error():
    # average of 1e308 and 1.7e308 overflows to +inf: no row has a finite neighbour (-1), and
    # the driver names the merge instead of looping or indexing with -1
    y = np.array([1e308, 1e308, 1.7e308])
    with pytest.raises(gpuhclust.MergeOverflowError, match="no finite distance"):
        gpuhclust.linkage(y, "average", backend=SimBackend(SimContext()))
