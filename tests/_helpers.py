"""Test helpers: the method tables (from ``gpuhclust.METHODS``), data generators, SciPy
comparison, fastcluster's replay invariant, the simulator/GPU backends and Dask clusters the
fixtures of conftest.py are made of."""
from __future__ import annotations

import os
import warnings

import numpy as np
import pytest
import scipy.spatial.distance as ssd

import gpuhclust
from gpuhclust._engines import VECTOR_METHODS

# the method tables, from the package's one table
METHODS = tuple(gpuhclust.METHODS)
EUCLIDEAN_ONLY = tuple(name for name, m in gpuhclust.METHODS.items() if m.euclidean_only)
REDUCIBLE = tuple(name for name, m in gpuhclust.METHODS.items() if m.reducible)
ROUNDS_METHODS = tuple(name for name, m in gpuhclust.METHODS.items() if "rounds" in m.algorithms)


def lance_williams_reference(method, d_xi, d_yi, d_xy, nx, ny, ni):
    """Independent (vectorised, plain NumPy) statement of the Lance-Williams updates."""
    if method == "single":
        return np.minimum(d_xi, d_yi)
    if method == "complete":
        return np.maximum(d_xi, d_yi)
    if method == "average":
        return (nx * d_xi + ny * d_yi) / (nx + ny)
    if method == "weighted":
        return 0.5 * (d_xi + d_yi)
    if method == "centroid":
        s = nx + ny
        return np.sqrt((nx * d_xi**2 + ny * d_yi**2 - nx * ny * d_xy**2 / s) / s)
    if method == "median":
        return np.sqrt(0.5 * (d_xi**2 + d_yi**2) - 0.25 * d_xy**2)
    if method == "ward":
        t = nx + ny + ni
        return np.sqrt(((ni + nx) * d_xi**2 + (ni + ny) * d_yi**2 - ni * d_xy**2) / t)
    raise AssertionError(method)


def assert_valid_merges(Z, y, method, rtol=1e-12):
    """fastcluster's invariant: replaying Z's rows in order over the distances, every row merges
    two existing clusters (lower id first) at the current global minimum, with the right size.

    Holds for any valid tie resolution, so it is the check for tie-heavy data.
    """
    y = np.asarray(y, dtype=np.float64)
    n = ssd.num_obs_y(y)
    Z = np.asarray(Z)
    assert Z.shape == (n - 1, 4) and Z.dtype == np.float64
    D = ssd.squareform(y)
    np.fill_diagonal(D, np.inf)
    slot_of = {i: i for i in range(n)}  # cluster id -> row of D
    size = np.ones(n)
    active = np.ones(n, dtype=bool)
    for k, (a, b, h, s) in enumerate(Z):
        a, b = int(a), int(b)
        assert a == Z[k, 0] and b == Z[k, 1], f"row {k}: ids are not integers"
        assert a < b, f"row {k}: ids not ordered ({a}, {b})"
        assert a in slot_of and b in slot_of, f"row {k}: merges a cluster that does not exist"
        x, yy = slot_of.pop(a), slot_of.pop(b)
        sub = D[np.ix_(active, active)]
        current_min = sub.min()
        tol = rtol * max(abs(current_min), 1e-300) + 1e-14
        assert abs(h - current_min) <= tol, (
            f"row {k}: height {h!r} is not the current minimum {current_min!r}")
        assert abs(D[x, yy] - h) <= tol, f"row {k}: height {h!r} != distance {D[x, yy]!r}"
        assert s == size[x] + size[yy], f"row {k}: size {s} != {size[x] + size[yy]}"
        new = lance_williams_reference(method, D[x], D[yy], D[x, yy], size[x], size[yy], size)
        D[yy, :] = new
        D[:, yy] = new
        D[yy, yy] = np.inf
        active[x] = False
        D[x, :] = np.inf
        D[:, x] = np.inf
        size[yy] += size[x]
        slot_of[n + k] = yy
    assert len(slot_of) == 1


def assert_same_as_scipy(Z, Z_ref, rtol=1e-12):
    """Columns 0, 1, 3 exactly, heights to `rtol`."""
    assert Z.shape == Z_ref.shape and Z.dtype == np.float64
    np.testing.assert_array_equal(Z[:, [0, 1, 3]], Z_ref[:, [0, 1, 3]])
    np.testing.assert_allclose(Z[:, 2], Z_ref[:, 2], rtol=rtol, atol=0)


def blobs(n, d, seed):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=5.0, size=(3, d))
    return centres[rng.integers(0, 3, n)] + rng.normal(size=(n, d))


def tie_heavy(n, d, seed):
    """Small integer coordinates: many equal distances, and equal merge heights."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 3, size=(n, d)).astype(np.float64)


# -- the kernel simulator and the GPU --------------------------------------------------------
def require_simulator():
    """Skip the calling test without a C++ compiler for the kernel simulator (fail under CI,
    which must run it)."""
    from gpuhclust import _sim

    if not _sim.compiler_available():
        if os.environ.get("CI"):
            pytest.fail("CI must run the kernel simulator: no C++ compiler found")
        pytest.skip("no C++ compiler for the kernel simulator")


def sim_backend(schedule: str = "forward"):
    """The CUDA backend on the simulator: threads run 'forward', in 'reverse', or shuffled
    ('random') with launch shapes unlike the device's (96-thread blocks, at most 2 blocks)."""
    from gpuhclust.cuda._context import SimContext
    from gpuhclust.cuda.backend import SimBackend

    require_simulator()
    if schedule == "random":
        return SimBackend(SimContext(schedule="random", seed=3, threads=96, max_blocks=2))
    return SimBackend(SimContext(schedule=schedule))


def gpu_backend():
    """The CUDA backend on the device (skips without one)."""
    from gpuhclust.cuda._context import cuda_usable
    from gpuhclust.cuda.backend import CudaBackend

    if not cuda_usable():
        pytest.skip("no CUDA device")
    return CudaBackend()


# -- Dask ------------------------------------------------------------------------------------
#: The warnings of an offline in-process LocalCluster; Dask test modules set
#: ``pytestmark = DASK_WARNINGS``.
DASK_WARNINGS = [
    pytest.mark.filterwarnings("ignore:Couldn't detect a suitable IP address:RuntimeWarning"),
    pytest.mark.filterwarnings("ignore:.*8.8.8.8.*"),  # offline (dask/distributed#8559)
    pytest.mark.filterwarnings("ignore:Port .* is already in use:UserWarning"),  # dashboards
]


def local_cluster(processes: bool = False, n_workers: int = 2, **kwargs):
    """A LocalCluster (one thread per worker, no dashboard) and a Client of it, not set as
    the default; skips without distributed."""
    distributed = pytest.importorskip("distributed")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*8.8.8.8.*")  # offline: dask/distributed#8559
        warnings.filterwarnings("ignore", message=".*suitable IP address.*")
        cluster = distributed.LocalCluster(processes=processes, n_workers=n_workers,
                                           threads_per_worker=1, dashboard_address=None,
                                           **kwargs)
    return cluster, distributed.Client(cluster, set_as_default=False)


__all__ = ["METHODS", "EUCLIDEAN_ONLY", "REDUCIBLE", "ROUNDS_METHODS", "VECTOR_METHODS",
           "assert_valid_merges", "assert_same_as_scipy", "blobs", "tie_heavy",
           "lance_williams_reference", "require_simulator", "sim_backend", "gpu_backend",
           "DASK_WARNINGS", "local_cluster"]


def assert_same_bits(actual, expected, what=""):
    """The same floats bit for bit (-0.0 is not 0.0), any NaN equal to any NaN."""
    actual = np.asarray(actual)
    expected = np.asarray(expected)
    assert actual.shape == expected.shape and actual.dtype == expected.dtype, what
    ints = np.int64 if actual.dtype == np.float64 else np.int32
    same = (actual.view(ints) == expected.view(ints)) | (np.isnan(actual) & np.isnan(expected))
    bad = np.flatnonzero(~same.reshape(-1))
    assert bad.size == 0, (f"{what}: {bad.size} of {same.size} differ, the first at {bad[0]}: "
                           f"{actual.reshape(-1)[bad[0]]!r} != {expected.reshape(-1)[bad[0]]!r}")
