"""Reciprocal-nearest-neighbour rounds on the CUDA backend (the shared driver
``gpuhclust._rounds`` over the device rows of ``gpuhclust.cuda._round_rows``): one host sync per
round, several pairs per round, and no finite distance left is an error. Their Z (the CPU
rounds', bit for bit, ties included, in every simulator schedule) is checked in test_parity.py."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.spatial.distance as ssd

import gpuhclust
from _helpers import ROUNDS_METHODS, blobs
from gpuhclust import _sim
from gpuhclust.cuda import backend as cuda_backend
from gpuhclust.cuda._context import SimContext
from gpuhclust.cuda.backend import SimBackend

@pytest.mark.parametrize("method", ROUNDS_METHODS)
def test_one_host_sync_per_round(method):
    # condensed input: filling the matrix reads nothing back, so every sync is the rounds'
    y = ssd.pdist(blobs(60, 3, seed=8))
    with _sim.counting() as counts:
        gpuhclust.linkage(y, method, backend=SimBackend(SimContext()))
    stats = cuda_backend.last_run
    assert stats["backend"] == "cuda-sim" and stats["merges"] == 59
    assert stats["rounds"] < 30  # several pairs per round: not the chain in disguise
    # one read for the first scan, one per round (and per full rescan): nothing per merge
    assert counts.host_syncs == 1 + stats["rounds"] + stats["full_rescans"]
    assert counts.launches == 2 + 3 * stats["rounds"]  # fill, first scan; replay, merge, rescan


def test_no_finite_distance_left_is_an_error():
    # average of 1e308 and 1.7e308 overflows to +inf: no row has a finite neighbour (-1), and
    # the driver names the merge instead of looping or indexing with -1
    y = np.array([1e308, 1e308, 1.7e308])
    with pytest.raises(gpuhclust.MergeOverflowError, match="no finite distance"):
        gpuhclust.linkage(y, "average", backend=SimBackend(SimContext()))
