"""The CUDA backend's device loops as CUDA graphs (issue 14): each merge is graph nodes, never a
host launch; the host launches one graph and reads the device once per progress chunk.

On the kernel simulator ('cuda-sim', two thread schedules and a shuffled one, see the fixture
``cuda_schedule_backend``), against the CPU backend and SciPy, bit for bit, ties included."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.cluster.hierarchy as sch
import scipy.spatial.distance as ssd

import gpuhclust
import gpuhclust._progress
from gpuhclust import _sim
from gpuhclust._progress import chunk_ends
from gpuhclust._validation import MergeOverflowError
from gpuhclust.cuda._context import SimContext
from gpuhclust.cuda.backend import SimBackend

from _helpers import blobs, tie_heavy

pytestmark = pytest.mark.skipif(not _sim.compiler_available(),
                                reason="no C++ compiler for the kernel simulator")


def _chunks(n: int) -> int:
    class _Bar:
        def update(self, _):
            pass

    return sum(1 for _ in chunk_ends(n - 1, _Bar()))


class _NoBar:
    def update(self, _):
        pass


# -- the seam: graphs on the simulator ----------------------------------------------------------
def test_sim_graph_records_at_capture_and_runs_at_each_launch():
    ctx = SimContext()
    n = 40
    X = np.arange(2.0 * n).reshape(n, 2)
    D = np.empty((n, n))
    empty = np.zeros(1)
    args = (X, np.int64(n), np.int32(2), np.int32(gpuhclust._metrics.METRIC_CODES["euclidean"]),
            np.float64(2.0), empty, empty, empty, D, np.int32(0))
    tiles = -(-n // 16)
    with _sim.counting() as c:
        kernel = ctx.kernel("distances", "pairwise_tiles<double>")  # a counting build
        graph = ctx.capture(lambda: kernel((tiles, tiles), (16, 16), args))
        assert c.launches == 0 and c.graph_launches == 0  # captured, not run
        D[:] = 7.0
        graph.launch()
        graph.launch()
    np.testing.assert_allclose(D, ssd.squareform(ssd.pdist(X)) + np.diag(np.full(n, np.inf)),
                               rtol=1e-15)
    assert c.graph_launches == 2 and c.graph_nodes == 2 and c.launches == 2
    assert c.host_launches == 2  # the two graphs; their nodes cost the host nothing
    assert all(r.graph for r in c.records)


# -- single linkage: Prim, one graph node per merge ----------------------------------------------
@pytest.mark.parametrize("data", ["blobs", "ties"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_single_matrix_is_scipys_bit_for_bit(cuda_schedule_backend, data, dtype):
    X = blobs(70, 3, seed=5) if data == "blobs" else tie_heavy(70, 2, seed=6)
    y = ssd.pdist(X)
    Z = gpuhclust.linkage(y, "single", backend=cuda_schedule_backend, dtype=dtype)
    cpu = gpuhclust.linkage(y, "single", backend="cpu", dtype=dtype)
    np.testing.assert_array_equal(Z, cpu)
    if dtype == np.float64:
        np.testing.assert_array_equal(Z, sch.linkage(y, "single"))


@pytest.mark.parametrize("engine", ["matrix", "vector"])
def test_single_from_observations_is_scipys_bit_for_bit(cuda_schedule_backend, engine):
    X = tie_heavy(60, 3, seed=7)
    Z = gpuhclust.linkage(X, "single", backend=cuda_schedule_backend, engine=engine)
    np.testing.assert_array_equal(Z, sch.linkage(X, "single"))


@pytest.mark.parametrize("engine", ["matrix", "vector"])
def test_single_launches_nothing_per_merge(engine):
    for n in (120, 250):
        X = blobs(n, 2, seed=n)
        with _sim.counting() as c:
            gpuhclust.linkage(X, "single", backend=SimBackend(SimContext()), engine=engine)
        step = [name for name in c.kernels if name.startswith("prim_step")]
        assert len(step) == 1
        k = c.kernels[step[0]]
        assert k.launches == k.graph_nodes == n - 1  # one multi-block node per merge
        chunks = _chunks(n)
        assert c.graph_launches == chunks
        # per call: the distances (matrix engine); per chunk: one graph; per merge: none
        assert c.host_launches == chunks + (engine == "matrix")
        assert c.host_syncs == chunks + 1  # the chunk's fault read, then the merges


@pytest.mark.parametrize("bad", [np.inf, np.nan])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_single_row_without_finite_distance_sets_the_fault(bad, dtype):
    # vertex 0's row (and column) holds no finite distance: Prim's first step has no candidate
    backend = SimBackend(SimContext(max_blocks=3))
    n = 50
    D = ssd.squareform(ssd.pdist(blobs(n, 2, seed=1))).astype(dtype)
    D[0, 1:] = D[1:, 0] = bad
    np.fill_diagonal(D, np.inf)
    with pytest.raises(MergeOverflowError, match="before merge 0, the cluster holding "
                                                 "observation 0 has no finite distance") as e:
        backend._mst(D, None, n, _NoBar())
    assert e.value.step == 0


def test_single_fault_stops_every_later_step(monkeypatch):
    # a finite tree over 0..29, then nothing: the fault is merge 29, and the steps after it in
    # the same graph (two chunks of 22 merges) do nothing
    monkeypatch.setattr(gpuhclust._progress, "CHUNKS", 2)
    backend = SimBackend(SimContext(max_blocks=2))
    n = 45
    D = ssd.squareform(ssd.pdist(blobs(n, 2, seed=2)))
    D[:30, 30:] = D[30:, :30] = np.inf
    np.fill_diagonal(D, np.inf)
    with _sim.counting() as c, pytest.raises(MergeOverflowError) as e:
        backend._mst(D, None, n, _NoBar())
    assert e.value.step == 29
    # every block of every later node returned at once: no global memory touched past the checks
    assert c.graph_launches == 2 and c.launches == 44
    late = c.records[30:]
    assert all(r.counters["bytes_written"] == 0 for r in late)
    assert all(r.counters["bytes_written"] > 0 for r in c.records[:30])
