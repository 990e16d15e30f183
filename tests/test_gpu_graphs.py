"""The CUDA backend's device loops (issue 14): no host launch per merge, and one read of the device
per progress chunk. Prim's loop and the matrix tournament run in one cooperative launch per
chunk, a grid barrier per step; the vector engine's tournament steps are nodes of a CUDA graph
the host launches once per chunk.

On the kernel simulator ('cuda-sim', two thread schedules and a shuffled one, see the fixture
``cuda_schedule_backend``), against the CPU backend and SciPy, bit for bit, ties included."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.cluster.hierarchy as sch
import scipy.spatial.distance as ssd

import gpuhclust
import gpuhclust._methods
import gpuhclust._progress
from gpuhclust import _sim
from gpuhclust._progress import chunk_ends
from gpuhclust._validation import MergeOverflowError
from gpuhclust.cuda._context import SimContext
from gpuhclust.cuda.backend import SimBackend

from _helpers import assert_same_as_scipy, assert_valid_merges, blobs, tie_heavy

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


# -- single linkage: Prim, its loop on the device, a grid barrier per merge ----------------------------------------------
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
        loop = [name for name in c.kernels if name.startswith("prim_loop")]
        assert len(loop) == 1
        k = c.kernels[loop[0]]
        chunks = _chunks(n)
        # one cooperative launch per chunk, a grid barrier per merge
        assert k.launches == chunks and k.grid_barriers == n - 1
        assert c.graph_launches == 0
        # per call: the distances (matrix engine); per chunk: the loop; per merge: none
        assert c.host_launches == chunks + (engine == "matrix")
        assert c.host_syncs == chunks + 1  # the chunk's fault read, then the merges


@pytest.mark.parametrize("bad", [np.inf, np.nan])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_single_row_without_finite_distance_sets_the_fault(bad, dtype):
    # vertex 0's row (and column) holds no finite distance: Prim's first step has no candidate
    backend = SimBackend(SimContext(max_blocks=3, loop_threads=32))
    n = 50
    D = ssd.squareform(ssd.pdist(blobs(n, 2, seed=1))).astype(dtype)
    D[0, 1:] = D[1:, 0] = bad
    np.fill_diagonal(D, np.inf)
    with pytest.raises(MergeOverflowError, match="before merge 0, the cluster holding "
                                                 "observation 0 has no finite distance") as e:
        backend._mst(D, None, n, _NoBar())
    assert e.value.step == 0


def test_single_fault_stops_every_later_step(monkeypatch):
    # a finite tree over 0..29, then nothing: the fault is merge 29, in the second of two
    # chunks of 22 merges, and the loop stops there
    monkeypatch.setattr(gpuhclust._progress, "CHUNKS", 2)
    backend = SimBackend(SimContext(max_blocks=2, loop_threads=32))
    n = 45
    D = ssd.squareform(ssd.pdist(blobs(n, 2, seed=2)))
    D[:30, 30:] = D[30:, :30] = np.inf
    np.fill_diagonal(D, np.inf)
    with _sim.counting() as c, pytest.raises(MergeOverflowError) as e:
        backend._mst(D, None, n, _NoBar())
    assert e.value.step == 29
    assert c.launches == 2
    assert c.total("grid_barriers") == 30  # steps 0..29, none after the fault


# -- centroid, median: the tournament ------------------------------------------------------------
GENERIC_METHODS = ("centroid", "median")


@pytest.mark.parametrize("method", GENERIC_METHODS)
def test_tournament_is_the_default_and_scipys_on_tie_free_data(cuda_schedule_backend, method):
    X = blobs(80, 3, seed=11)
    Z = gpuhclust.linkage(X, method, backend=cuda_schedule_backend, engine="matrix")
    np.testing.assert_array_equal(Z, sch.linkage(X, method))
    np.testing.assert_array_equal(gpuhclust.linkage(X, method, backend="cpu"), Z)
    np.testing.assert_array_equal(
        gpuhclust.linkage(X, method, backend="cpu", algorithm="tournament"), Z)


@pytest.mark.parametrize("method", GENERIC_METHODS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_tournament_ties_go_the_same_way_on_cpu_and_gpu(cuda_schedule_backend, method, dtype):
    X = tie_heavy(90, 2, seed=12)
    y = ssd.pdist(X)
    Z = gpuhclust.linkage(y, method, backend=cuda_schedule_backend, dtype=dtype)
    np.testing.assert_array_equal(Z, gpuhclust.linkage(y, method, backend="cpu", dtype=dtype))
    if dtype == np.float64:
        assert_valid_merges(Z, y, method)  # a valid resolution of every tie


@pytest.mark.parametrize("method", GENERIC_METHODS)
def test_tournament_ties_differ_from_the_heap_and_generic_stays_scipys(method):
    # with ties the lowest slot wins, where SciPy's heap may pick another tied slot;
    # algorithm='generic' (and 'scipy') keeps SciPy's heap, ties included, on both backends
    backend = SimBackend(SimContext())
    differ = 0
    for seed in range(4):
        X = tie_heavy(60, 2, seed=seed)
        ref = sch.linkage(X, method)
        for algorithm in ("generic", "scipy"):
            np.testing.assert_array_equal(
                gpuhclust.linkage(X, method, backend=backend, algorithm=algorithm), ref)
            np.testing.assert_array_equal(
                gpuhclust.linkage(X, method, backend="cpu", algorithm=algorithm), ref)
        differ += not np.array_equal(gpuhclust.linkage(X, method, backend=backend), ref)
    assert differ > 0  # the default is not SciPy's heap under another name


@pytest.mark.parametrize("method", GENERIC_METHODS)
def test_tournament_rescans_keep_the_other_blocks_tops(method):
    # on a rescan step only the block that owns the rescanned slot redoes its part of the
    # tournament; every other block republishes the top it kept, with the previous step's
    # updated slot taken in (these seeds fail when it is not): still the CPU's Z, with ties too
    backend = SimBackend(SimContext(max_blocks=4, loop_threads=32))
    for X in (blobs(150, 3, seed=2), blobs(150, 3, seed=3), tie_heavy(170, 2, seed=3)):
        y = ssd.pdist(X)
        for dtype in (np.float64, np.float32):
            Z = gpuhclust.linkage(y, method, backend=backend, dtype=dtype)
            np.testing.assert_array_equal(Z, gpuhclust.linkage(y, method, backend="cpu",
                                                               dtype=dtype))
    X = blobs(150, 3, seed=2)
    np.testing.assert_array_equal(gpuhclust.linkage(X, method, backend=backend),
                                  sch.linkage(X, method))


@pytest.mark.slow  # counting or larger simulations
def test_tournament_cpu_compaction_keeps_the_gpus_ties():
    # past 512 slots the CPU matrix is compacted: slots are renumbered in order, so "lowest slot"
    # still means the same cluster
    X = tie_heavy(600, 2, seed=13)
    Z = gpuhclust.linkage(X, "median", backend=SimBackend(SimContext(max_blocks=8)))
    np.testing.assert_array_equal(Z, gpuhclust.linkage(X, "median", backend="cpu"))


@pytest.mark.slow  # counting or larger simulations
def test_tournament_launches_nothing_per_merge():
    for n in (120, 250):
        X = blobs(n, 2, seed=n)
        with _sim.counting() as c:
            Z = gpuhclust.linkage(X, "centroid", backend=SimBackend(SimContext(loop_threads=32)),
                                  engine="matrix")
        np.testing.assert_array_equal(Z, sch.linkage(X, "centroid"))
        loop = c.kernels["tournament_loop<double>"]
        chunks = _chunks(n)
        # one cooperative launch per chunk; a grid barrier per step (merges, rescans, the first
        # look), every block of the grid at each
        assert loop.launches == chunks and c.graph_launches == 0
        assert loop.grid_barriers >= n
        assert {r.grid for r in c.records if r.kernel == "tournament_loop<double>"} == {(4, 1, 1)}
        # two __syncthreads per step in each block: its candidates to thread 0, the parts'
        # winners from warp 0 (block_argmin_pair_lead / block_argmin_lead, grid_parts_argmin_pair)
        assert loop.totals["block_barriers"] == 2 * 4 * loop.grid_barriers
        assert not any(name.startswith("generic_loop") for name in c.kernels)
        # per call: the distances and the first neighbours; per chunk: the loop and one read
        assert c.host_launches == chunks + 2
        assert c.host_syncs == chunks + 1


@pytest.mark.parametrize("method", GENERIC_METHODS)
def test_tournament_on_distances_that_are_no_metric(method):
    # random dissimilarities break the triangle inequality (the update's radicand may go
    # negative, gh-21011): still SciPy's Z, the same on both backends
    rng = np.random.default_rng(8)
    y = rng.uniform(0.01, 1.0, 45 * 44 // 2)
    y[:5] = 100.0
    Z = gpuhclust.linkage(y, method, backend=SimBackend(SimContext()))
    np.testing.assert_array_equal(Z, sch.linkage(y, method))
    np.testing.assert_array_equal(Z, gpuhclust.linkage(y, method, backend="cpu"))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_tournament_without_a_finite_distance_sets_the_fault(dtype):
    # two groups at +inf from each other: every merge inside them, then nothing finite is left
    from gpuhclust.cpu import backend as cpu_backend

    n = 30
    D = ssd.squareform(ssd.pdist(blobs(n, 2, seed=4)))
    D[:12, 12:] = D[12:, :12] = np.inf
    np.fill_diagonal(D, np.inf)
    method = gpuhclust._methods.METHODS["centroid"]
    errors = []
    with pytest.raises(MergeOverflowError) as e:
        SimBackend(SimContext(max_blocks=3, loop_threads=32))._tournament(D.astype(dtype), method,
                                                                         _NoBar())
    errors.append((str(e.value), e.value.step, e.value.observations))
    with pytest.raises(MergeOverflowError) as e:
        cpu_backend._run_generic(D.astype(dtype), False, method, _NoBar(), tournament=True)
    errors.append((str(e.value), e.value.step, e.value.observations))
    assert errors[0] == errors[1]
    assert errors[0][1] == n - 2 and "no finite distance" in errors[0][0]


# -- the vector engine's centroid and median: the tournament over centroids ----------------------
def _vector(X, method, backend, **kwargs):
    return gpuhclust.linkage(X, method, backend=backend, engine="vector", **kwargs)


@pytest.mark.parametrize("method", GENERIC_METHODS)
def test_vector_tournament_is_the_default_and_scipys_on_tie_free_data(cuda_schedule_backend,
                                                                      method):
    # 200 merges: the host compacts the centroids between chunks, the CPU inside them
    X = blobs(200, 3, seed=21)
    Z = _vector(X, method, cuda_schedule_backend)
    np.testing.assert_array_equal(Z, _vector(X, method, "cpu"))
    np.testing.assert_array_equal(Z, _vector(X, method, "cpu", algorithm="tournament"))
    assert_same_as_scipy(Z, sch.linkage(X, method), rtol=1e-10)
    # on tie-free data SciPy's heap finds the same merges
    np.testing.assert_array_equal(Z, _vector(X, method, "cpu", algorithm="generic"))


@pytest.mark.parametrize("n,seed", [(90, 22), pytest.param(600, 23, marks=pytest.mark.slow)])
@pytest.mark.parametrize("method", GENERIC_METHODS)
def test_vector_tournament_ties_go_the_same_way_on_cpu_and_gpu(cuda_schedule_backend, method, n,
                                                               seed):
    # equal distances everywhere (600 points on 9 sites: the first pass queries every row, in
    # several tiles of queries per block): the lowest slot wins on both
    X = tie_heavy(n, 2, seed=seed)
    Z = _vector(X, method, cuda_schedule_backend)
    np.testing.assert_array_equal(Z, _vector(X, method, "cpu"))
    assert_valid_merges(Z, ssd.pdist(X), method)  # a valid resolution of every tie


@pytest.mark.parametrize("method", GENERIC_METHODS)
def test_vector_tournament_ties_differ_from_the_heap_and_generic_stays_scipys(method):
    backend = SimBackend(SimContext())
    differ = 0
    for seed in range(4):
        X = tie_heavy(60, 2, seed=seed)
        ref = _vector(X, method, "cpu", algorithm="generic")
        assert_same_as_scipy(ref, sch.linkage(X, method), rtol=1e-10)
        for algorithm in ("generic", "scipy"):
            np.testing.assert_array_equal(_vector(X, method, backend, algorithm=algorithm), ref)
        differ += not np.array_equal(_vector(X, method, backend), ref)
    assert differ > 0  # the default is not SciPy's heap under another name


@pytest.mark.slow  # counting simulations
def test_vector_tournament_launches_nothing_per_merge():
    counts = {}
    for n in (120, 250):
        X = blobs(n, 3, seed=n)
        with _sim.counting() as c:
            Z = _vector(X, "median", SimBackend(SimContext()))
        np.testing.assert_array_equal(Z, _vector(X, "median", "cpu"))
        step = c.kernels["vector_tournament_pass"]
        collect = c.kernels["vector_tournament_collect"]
        # the first pass (every slot's neighbour, the first merge) is the one host launch; then
        # per merge a step, and a step of rescans before some merges (a graph may end with
        # steps that do nothing once the merges are done)
        assert step.launches == step.graph_nodes + 1
        assert collect.launches == collect.graph_nodes == step.graph_nodes
        assert n - 2 <= step.graph_nodes <= 2 * (n - 2) + 2
        assert not {"vector_scan", "generic_step", "vector_nearest_higher"} & set(c.kernels)
        counts[n] = c
    for n, c in counts.items():
        chunks = _chunks(n)
        # per chunk a graph and a read, again when the chunk's rescans left it short (none when
        # the last graph ran past the chunk); per call the first pass, its read and Z's
        assert chunks // 2 <= c.graph_launches <= 2 * chunks
        assert c.host_launches == c.graph_launches + 1
        assert c.host_syncs == c.graph_launches + 2
    # about one host launch per chunk, whatever n: none per merge
    assert counts[250].host_launches < 1.5 * counts[120].host_launches


@pytest.mark.parametrize("row", ["nan", "inf", "huge"])
def test_vector_tournament_without_a_finite_dissimilarity_raises(monkeypatch, row):
    # centroids whose squared distances are NaN or +inf (input validation and the scale check
    # refuse such observations, so they are bypassed here): the merges that stay finite, then
    # a ValueError from the kernels' flag, the same on both backends, never a crash
    from gpuhclust.cpu import _vector as cpu_vector
    from gpuhclust.cuda import backend as cuda_backend

    monkeypatch.setattr(cpu_vector, "check_vector_scale", lambda X: None)
    monkeypatch.setattr(cuda_backend, "check_vector_scale", lambda X: None)
    X = blobs(40, 3, seed=24)
    if row == "huge":
        X = X * 1e200  # every squared distance overflows: not even a first merge
    else:
        X[7] = float(row)
    method = gpuhclust._methods.METHODS["centroid"]
    with pytest.raises(ValueError, match="every remaining dissimilarity overflowed") as gpu:
        SimBackend(SimContext(max_blocks=3))._vector_tournament(X, method, _NoBar())
    with pytest.raises(ValueError) as cpu:
        cpu_vector.run_tournament(X, method.code, _NoBar(), {})
    assert str(gpu.value) == str(cpu.value)
