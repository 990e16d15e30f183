"""Ward on engine='vector' by reciprocal-nearest-neighbour rounds over centroids (issue 14; the
algorithm: ``gpuhclust._centroid_rounds``): the default there, on the CPU (Numba) and the CUDA
backend (kernels/vector.cu, on the simulator).

SciPy's hierarchy on tie-free data, the chain's Z bit for bit on tie-free data, the replay
invariant with ties, the same Z on the CPU and the simulator (ties included, three schedules),
for any thread count, and a round costs a bounded number of launches and one host sync.
"""
from __future__ import annotations

import numba
import numpy as np
import pytest
import scipy.cluster.hierarchy as sch
import scipy.spatial.distance as ssd

import gpuhclust
from gpuhclust import _sim
from gpuhclust._centroid_rounds import ward_rounds
from gpuhclust._linkage import last_plan
from gpuhclust.cpu import backend as cpu_backend
from gpuhclust.cuda import backend as cuda_backend
from gpuhclust.cuda._context import SimContext
from gpuhclust.cuda.backend import SimBackend
from _helpers import (assert_same_as_scipy, assert_same_bits, assert_valid_merges, blobs,
                      tie_heavy)


def vector(X, backend="cpu", **kwargs):
    return gpuhclust.linkage(X, "ward", backend=backend, engine="vector", **kwargs)


def _simulator():
    if not _sim.compiler_available():
        pytest.skip("no C++ compiler for the kernel simulator")


# -- the plan ------------------------------------------------------------------------------
@pytest.mark.parametrize("backend", ["cpu", "cuda-sim"])
def test_rounds_is_the_default_and_the_chain_stays_available(backend):
    if backend == "cuda-sim":
        _simulator()
    X = blobs(20, 3, seed=1)
    for asked, runs in ((None, "rounds"), ("rounds", "rounds"), ("nn_chain", "nn_chain")):
        vector(X, backend, algorithm=asked)
        assert last_plan().algorithm == runs


# -- exactness -----------------------------------------------------------------------------
@pytest.mark.parametrize("n, d", [(2, 1), (3, 2), (40, 1), (200, 3), (700, 16)])
def test_cpu_rounds_give_scipys_hierarchy_on_tie_free_data(n, d):
    X = np.random.default_rng(n + d).standard_normal((n, d))
    Z = vector(X)
    assert_same_as_scipy(Z, sch.linkage(X, "ward"), rtol=1e-13)


@pytest.mark.parametrize("n, d", [(60, 2), (300, 5), (1500, 7)])
def test_cpu_rounds_equal_the_chain_bit_for_bit_on_tie_free_data(n, d):
    X = blobs(n, d, seed=n)
    cpu_backend.last_run.clear()
    Z = vector(X, algorithm="rounds")
    assert cpu_backend.last_run["engine"] == "vector"  # the rounds ran, not the chain
    assert cpu_backend.last_run["rounds"] < (n - 1) / 4
    np.testing.assert_array_equal(Z, vector(X, algorithm="nn_chain"))


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("n, d", [(60, 2), (400, 3)])
def test_cpu_rounds_with_ties_make_a_minimum_merge_at_every_step(seed, n, d):
    X = tie_heavy(n, d, seed)
    Z = vector(X)
    assert_valid_merges(Z, ssd.pdist(X), "ward", rtol=1e-9)


def test_identical_points_and_two_points():
    X = np.zeros((30, 3))
    Z = vector(X)
    assert_valid_merges(Z, ssd.pdist(X), "ward")
    np.testing.assert_array_equal(vector(np.array([[0.0], [2.0]])), [[0, 1, 2, 2]])


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="Numba has one thread")
@pytest.mark.parametrize("make", [tie_heavy, blobs])
def test_cpu_rounds_do_not_depend_on_the_thread_count(make):
    X = make(900, 3, 4)  # 900 queries x 900 centroids: the first rounds run in parallel
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = vector(X)
        numba.set_num_threads(2)
        two = vector(X)
    finally:
        numba.set_num_threads(before)
    np.testing.assert_array_equal(one, two)


@pytest.mark.parametrize("backend", ["cpu", "cuda-sim"])
def test_float32_storage_gives_the_float64_result(backend):
    # the vector engine stores centroids, not distances: dtype changes nothing
    if backend == "cuda-sim":
        _simulator()
    X = tie_heavy(50, 2, seed=5)
    np.testing.assert_array_equal(vector(X, backend, dtype=np.float32), vector(X, backend))


def test_a_cluster_left_without_a_finite_dissimilarity_is_a_value_error():
    class Overflowed:  # what a store reports when every w of a row overflowed to +inf
        name = "test"

        def scan_all(self):
            return np.array([-1, -1]), np.array([np.inf, np.inf])

    with pytest.raises(ValueError, match="overflowed float64"):
        ward_rounds(Overflowed(), 2, None, {})


# -- the CUDA backend (simulated) ----------------------------------------------------------
@pytest.mark.parametrize("make, n, d", [(tie_heavy, 60, 2), (tie_heavy, 130, 3),
                                        (blobs, 150, 4), (blobs, 70, 40)])
def test_simulator_equals_cpu_bit_for_bit(cuda_schedule_backend, make, n, d):
    # ties resolved alike (lowest slot on rescans); d = 40 stages the queries' features in two
    # pieces; 150 points compact the centroids several times
    X = make(n, d, 6)
    Z = vector(X, cuda_schedule_backend)
    np.testing.assert_array_equal(Z, vector(X))
    if make is tie_heavy:
        assert_valid_merges(Z, ssd.pdist(X), "ward", rtol=1e-9)


def test_simulator_rounds_equal_the_chain_and_scipy_on_tie_free_data():
    _simulator()
    X = np.random.default_rng(9).standard_normal((120, 5))
    Z = vector(X, "cuda-sim")
    np.testing.assert_array_equal(Z, vector(X, "cuda-sim", algorithm="nn_chain"))
    assert_same_as_scipy(Z, sch.linkage(X, "ward"), rtol=1e-13)


@pytest.mark.parametrize("n", [40, 160])
def test_a_round_costs_at_most_five_launches_and_two_host_syncs(n):
    _simulator()
    X = blobs(n, 3, seed=n)
    backend = SimBackend(SimContext(schedule="forward"))
    with _sim.counting() as c:
        vector(X, backend)
    rounds = cuda_backend.last_run["rounds"]
    full = cuda_backend.last_run["full_rescans"]
    assert rounds < (n - 1) / 4  # many merges per round: no launch per merge
    # the first scan (2 launches, 1 read), then per round: merge, gather (when compacting),
    # the kept entries' unions (one launch, one read), nearest and pick (one read)
    assert c.host_syncs <= 1 + 2 * (rounds + full)
    assert c.launches <= 2 + 5 * (rounds + full)
    assert set(c.kernels) == {"vector_round_merge", "vector_gather", "vector_round_nearest",
                              "vector_round_pick", "vector_pair_w"}


def _reference_lists(Ct, sz, queries):
    """Each query's KEPT + 1 smallest (key, position) over the live positions other than its
    own, in (key, position) order, padded with (NO_KEY, -1): w with a scan's arithmetic."""
    from gpuhclust._rounds import KEPT, NO_KEY
    from gpuhclust.cpu._centroid_rows import pair_dissimilarities

    width = Ct.shape[1]
    keys = np.full((len(queries), KEPT + 1), NO_KEY, dtype=np.int64)
    pos = np.full((len(queries), KEPT + 1), -1, dtype=np.int64)
    for i, q in enumerate(queries):
        cols = np.array([p for p in range(width) if p != q and sz[p] > 0], dtype=np.int64)
        w = np.empty(len(cols))
        pair_dissimilarities(Ct.T.copy(), sz, np.full(len(cols), q, dtype=np.int64), cols,
                             w)
        k = w.view(np.int64)
        order = np.lexsort((cols, k))[:KEPT + 1]
        keys[i, :len(order)] = k[order]
        pos[i, :len(order)] = cols[order]
    return keys, pos


@pytest.mark.parametrize("nq", [1, 3, 70])
def test_simulator_kept_lists_are_the_smallest_in_key_then_position_order(cuda_schedule_backend,
                                                                        nq):
    # ties (small integer coordinates, equal sizes), dead positions, sizes other than one, one
    # query (the candidates split over every block) to three tiles of them
    from gpuhclust.cuda._centroid_rows import DeviceCentroidRows

    rng = np.random.default_rng(nq)
    n, d = 90, 3
    Ct = np.ascontiguousarray(tie_heavy(n, d, nq).T)
    sz = rng.choice([0.0, 1.0, 2.0, 3.0], size=n, p=[0.2, 0.5, 0.2, 0.1])
    store = DeviceCentroidRows(cuda_schedule_backend, Ct)
    store.sz[0] = store.ctx.device_array(sz)
    queries = np.sort(rng.choice(np.flatnonzero(sz > 0), size=nq, replace=False))
    nn, w = store._nearest(queries, 0)
    keys, pos = _reference_lists(Ct, sz, queries)
    np.testing.assert_array_equal(store.kept.keys[queries], keys[:, :-1])
    np.testing.assert_array_equal(store.kept.cols[queries], pos[:, :-1])
    np.testing.assert_array_equal(store.kept.bound[queries], keys[:, -1])
    np.testing.assert_array_equal(nn, pos[:, 0])
    np.testing.assert_array_equal(w, keys[:, 0].view(np.float64))


@pytest.mark.parametrize("backend", ["cpu", "cuda-sim"])
@pytest.mark.parametrize("make", [tie_heavy, blobs])
def test_kept_entries_settle_rows_and_leave_z_unchanged(backend, make, monkeypatch):
    # the kept entries answer as a scan would: the same Z (ties included) with and without
    from gpuhclust.cpu import _centroid_rows
    from gpuhclust.cuda import _centroid_rows as _device_rows

    if backend == "cuda-sim":
        _simulator()
    last_run = cpu_backend.last_run if backend == "cpu" else cuda_backend.last_run
    store = (_centroid_rows.CentroidRows if backend == "cpu"
             else _device_rows.DeviceCentroidRows)
    X = make(700 if backend == "cpu" else 200, 3, 6)
    Z = vector(X, backend)
    assert last_run["settled_by_kept"] > 0
    assert last_run["scans_per_merge"] < last_run["rescans_per_merge"]
    plain = store.__init__

    def without_kept(self, *args, **kwargs):
        plain(self, *args, **kwargs, kept=False)

    monkeypatch.setattr(store, "__init__", without_kept)
    np.testing.assert_array_equal(vector(X, backend), Z)
    assert last_run["settled_by_kept"] == 0


def test_simulator_scans_what_the_cpu_scans_with_a_scan_per_query(monkeypatch):
    # with the first scan a scan per query (full kept lists, as on the GPU) the CPU store
    # settles and scans the same rows: the CPU's counts stand for the GPU's at sizes the
    # simulator cannot reach (benchmarks, the closing notes)
    from gpuhclust.cpu import _centroid_rows

    _simulator()
    X = blobs(300, 4, seed=3)
    Z = vector(X, "cuda-sim")
    device = dict(cuda_backend.last_run)
    monkeypatch.setattr(_centroid_rows, "FIRST_SCAN_MAX_BYTES", 0)
    np.testing.assert_array_equal(vector(X), Z)
    for key in ("rounds", "rescans", "settled_by_kept", "pairs"):
        assert cpu_backend.last_run[key] == device[key], key


@pytest.mark.slow
def test_rounds_kernels_are_race_free_under_thread_sanitizer(tmp_path):
    # every CUDA thread a real thread: the shared query tile, the block argmins, the merges and
    # the gather; the chain's kernels too (ward's default no longer runs them)
    _simulator()
    if _sim.tsan_runtime() is None:
        pytest.skip("the C++ compiler ships no ThreadSanitizer runtime")
    out = tmp_path / "z.npz"
    code = f"""
import numpy as np
import gpuhclust
from gpuhclust.cuda.backend import SimBackend
from gpuhclust.cuda._context import SimContext
backend = SimBackend(SimContext(schedule="threads", threads=32, max_blocks=2))
backend.ctx.kernel("vector", "vector_scan")  # load the module first: TSan symbolises only it
X = np.random.default_rng(0).integers(0, 4, (40, 2)).astype(float)
out = {{a: gpuhclust.linkage(X, "ward", backend=backend, engine="vector", algorithm=a)
       for a in ("rounds", "nn_chain")}}
np.savez({str(out)!r}, **out)
"""
    result = _sim.run_under_tsan(code, timeout=600, env={"NUMBA_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-4000:]
    Z = np.load(out)
    X = np.random.default_rng(0).integers(0, 4, (40, 2)).astype(float)
    for algorithm in ("rounds", "nn_chain"):
        np.testing.assert_array_equal(Z[algorithm], vector(X, algorithm=algorithm))


@pytest.mark.parametrize("queries", [3, 20])
def test_cpu_nearest_over_candidate_chunks_takes_the_first_minimum(queries):
    # few queries over 4,096 centroids: the candidates split in chunks (threads=2), whose
    # minima must combine to the lowest position among equal values; integer coordinates give
    # many exact ties and exact sums, so NumPy's first argmin is the reference
    from gpuhclust.cpu._centroid_rows import nearest

    rng = np.random.default_rng(queries)
    width, d = 4096, 3
    Ct = rng.integers(0, 4, size=(d, width)).astype(np.float64)
    sz = np.ones(width)
    sz[rng.choice(width, 500, replace=False)] = 0.0  # dead positions
    q = np.sort(rng.choice(np.flatnonzero(sz), queries, replace=False))
    nn, w = nearest(Ct, sz, width, q, threads=2)
    for i, p in enumerate(q):
        ref = ((Ct - Ct[:, [p]]) ** 2).sum(axis=0) * 0.5
        ref[sz == 0] = np.inf
        ref[p] = np.inf
        assert nn[i] == np.argmin(ref) and w[i] == ref.min()


@pytest.mark.parametrize("filtered", [False, True], ids=["exact", "filtered"])
@pytest.mark.parametrize("queries", [3, 40])
def test_cpu_nearest_seeded_with_known_entries_answers_as_without(queries, filtered):
    # seeds (entries a query is known to have, with a scan's keys; some twice, some of dead
    # clusters, some missing) start the kept entries and the minimum: the same first minimum
    # (the lowest position among equal w, the seeds lying anywhere) and the same kept keys.
    # Integer coordinates: many exact ties; few queries split the candidates in chunks
    from gpuhclust._rounds import KEPT, NO_KEY
    from gpuhclust.cpu._centroid_filter import filter_constants
    from gpuhclust.cpu._centroid_rows import nearest

    rng = np.random.default_rng(queries)
    width, d = 3000, 4
    Ct = rng.integers(0, 5, size=(d, width)).astype(np.float64)
    sz = rng.integers(1, 3, size=width).astype(np.float64)
    sz[rng.choice(width, 300, replace=False)] = 0.0  # dead positions
    position = np.where(sz > 0, np.arange(width), -1)  # slot = position here
    q = np.sort(rng.choice(np.flatnonzero(sz), queries, replace=False))
    filt = None
    if filtered:
        filt = (Ct.astype(np.float32), filter_constants(d, float(np.abs(Ct).max())))
    keys, pos = (np.empty((queries, KEPT + 1), dtype=np.int64) for _ in range(2))
    nn, w = nearest(Ct, sz, width, q, 2, (keys, pos), filt)
    seed_keys = np.full((width, KEPT), NO_KEY, dtype=np.int64)
    seed_cols = np.full((width, KEPT), -1, dtype=np.int64)
    tied = 0
    for i, p in enumerate(q):
        ref = ((Ct - Ct[:, [p]]) ** 2).sum(axis=0) * (sz[p] * sz / (sz[p] + sz))
        ref[p] = np.inf
        cols = rng.choice(np.flatnonzero(np.arange(width) != p), KEPT)  # dead ones, twice
        ties = np.flatnonzero((ref == ref[nn[i]]) & (sz > 0))
        cols[0] = ties[-1]  # an equal minimum further on where there is one: nn[i] is first
        seed_cols[p] = np.where(rng.random(KEPT) < 0.8, cols, -1)
        seed_cols[p, 0] = cols[0]
        tied += len(ties) > 1
        seed_keys[p] = np.where(seed_cols[p] >= 0, ref[cols].view(np.int64), NO_KEY)
    seeded_keys, seeded_pos = (np.empty((queries, KEPT + 1), dtype=np.int64) for _ in range(2))
    nn_s, w_s = nearest(Ct, sz, width, q, 2, (seeded_keys, seeded_pos), filt,
                        (seed_keys, seed_cols, position, q))
    np.testing.assert_array_equal(nn_s, nn)
    np.testing.assert_array_equal(w_s, w)
    np.testing.assert_array_equal(seeded_keys, keys)  # keys in order; ties may swap positions
    for i in range(queries):
        for key in np.unique(keys[i][keys[i] < keys[i, KEPT]]):
            assert set(seeded_pos[i][seeded_keys[i] == key]) == set(pos[i][keys[i] == key])
    assert tied > 0


@pytest.mark.parametrize("d", [3, 6])
@pytest.mark.parametrize("unit", [True, False], ids=["sizes-1", "sizes-1-to-4"])
@pytest.mark.parametrize("width", [1, 2, 300, 700])
def test_cpu_first_scan_computing_each_pair_once_equals_a_scan_per_query(width, unit, d):
    # the first scan takes w(i, j) for w(j, i) across tiles of BLOCK positions, two rows per
    # pass (an odd row left over); integer coordinates (many exact ties) check the tie rule
    # and the symmetry, sizes 1 the first scan's own factor and other sizes the general one
    from gpuhclust.cpu._centroid_rows import KEPT, nearest, nearest_all

    rng = np.random.default_rng(width)
    Ct = rng.integers(0, 4, size=(d, width)).astype(np.float64)
    sz = np.ones(width) if unit else rng.integers(1, 5, size=width).astype(np.float64)
    keys = np.empty((width, KEPT + 1), dtype=np.int64)
    pos = np.empty((width, KEPT + 1), dtype=np.int64)
    nn, w = nearest_all(Ct, sz, (keys, pos))
    ref_nn, ref_w = nearest(Ct, sz, width, np.arange(width), threads=2)
    np.testing.assert_array_equal(nn, ref_nn)
    np.testing.assert_array_equal(w, ref_w)
    # its kept entries: true values, every entry left out at least the bound
    for i in range(width):
        ref = ((Ct - Ct[:, [i]]) ** 2).sum(axis=0) * (sz[i] * sz / (sz[i] + sz))
        ref[i] = np.inf
        held = pos[i, :KEPT][pos[i, :KEPT] >= 0]
        np.testing.assert_array_equal(keys[i, :len(held)], ref[held].view(np.int64))
        assert np.all(np.diff(keys[i, :len(held)]) >= 0)
        rest = np.setdiff1d(np.arange(width), np.append(held, i))
        assert np.all(ref[rest].view(np.int64) >= keys[i, KEPT])


@pytest.mark.parametrize("d", [1, 3, 4, 6, 16, 17])
def test_two_centroid_squared_distances_equal_one_at_a_time(d):
    # the rounds' scans compute two queries per pass over a block: the same bits as the pdist
    # kernel's one query at a time (features summed in the same order)
    from gpuhclust.cpu._vector import sq_block, sq_block_pair

    rng = np.random.default_rng(d)
    Ct = rng.normal(size=(d, 300)) * np.logspace(-3, 3, d)[:, None]
    x, y = Ct[:, 7].copy(), Ct[:, 123].copy()
    pair = np.empty((2, 300))
    sq_block_pair(Ct, x, y, 5, 290, pair[0], pair[1])
    for row, q in zip(pair, (x, y)):
        one = np.empty(300)
        sq_block(Ct, q[None, :], 5, 290, one)
        assert_same_bits(row[:285], one[:285])
    assert pair[0, 2] == 0.0 and pair[1, 118] == 0.0


def test_first_scan_beyond_its_memory_cap_scans_per_query(monkeypatch):
    # past FIRST_SCAN_MAX_BYTES the per-tile minima would grow as n**2: the first scan is then
    # a scan per query (counted: n**2 pairs instead of n(n+1)/2), with the same Z, ties included
    from gpuhclust.cpu import _centroid_rows

    X = tie_heavy(600, 2, 4)
    Z = vector(X)
    pairs = cpu_backend.last_run["pairs"]
    monkeypatch.setattr(_centroid_rows, "FIRST_SCAN_MAX_BYTES", 0)
    np.testing.assert_array_equal(vector(X), Z)
    assert cpu_backend.last_run["pairs"] - pairs == 600 * 600 - 600 * 601 // 2


def _far_triangles(seed, d=4, count=3000):
    """Three centroids (features first) at the corners of an almost equilateral triangle,
    1e-6 to 1 across, at coordinates ~1e3 (where rounding a union's centroid matters most):
    `count` of them, each rotated at random."""
    rng = np.random.default_rng(seed)
    corners = np.zeros((3, d))
    corners[1, 0] = 1.0
    corners[2, :2] = 0.5, np.sqrt(3) / 2
    for _ in range(count):
        rotation = np.linalg.qr(rng.normal(size=(d, d)))[0]
        shape = (corners + 1e-9 * rng.normal(size=(3, d))) @ rotation
        pts = rng.uniform(-1e3, 1e3, size=d) + 10.0 ** rng.uniform(-6, 0) * shape
        yield rng, np.ascontiguousarray(pts.T)


def _w(Ct, sz, r, c):
    """w from centroid r to c with a scan's arithmetic."""
    from gpuhclust.cpu._centroid_rows import pair_dissimilarities

    out = np.empty(1)
    pair_dissimilarities(Ct.T.copy(), sz, np.array([r]), np.array([c]), out)
    return out[0]


def test_centroid_bound_lowering_covers_merges_far_from_the_origin():
    # a merged pair's union, its centroid rounded, must not come closer to a third cluster
    # than the lowered bound allows. Tight cases: three clusters of one size at the corners of
    # an almost equilateral triangle (there Lance-Williams gives the union exactly the parts'
    # distance), 1e-6 across at coordinates ~1e3, where rounding the centroid moves w by
    # ~1e-7 relative (the delta term)
    from gpuhclust.cpu._centroid_rows import CentroidKept
    from gpuhclust.cpu._vector import WARD, merge_centroids

    checked = 0
    for rng, Ct in _far_triangles(0):
        sz = np.full(3, float(rng.integers(1, 50)))
        w_ra, w_rb, w_ab, w_ba = (_w(Ct, sz, 0, 1), _w(Ct, sz, 0, 2), _w(Ct, sz, 1, 2),
                                  _w(Ct, sz, 2, 1))
        if not (w_ab <= _w(Ct, sz, 1, 0) and w_ba <= _w(Ct, sz, 2, 0)):
            continue  # rounds merge reciprocal nearest neighbours only
        kept = CentroidKept(3, Ct.shape[0], float(np.abs(Ct).max()))
        kept.bound[0] = np.float64(min(w_ra, w_rb)).view(np.int64)
        kept.valid[0] = True
        kept.row_size[0] = sz[0]
        lowered = kept._lowered_bound(np.array([0]), 0)[0]  # one merge since the scan
        merge_centroids(Ct, 1, 2, sz[1], sz[2], WARD)
        sz[2], sz[1] = sz[1] + sz[2], 0.0
        assert np.float64(_w(Ct, sz, 0, 2)).view(np.int64) >= lowered
        checked += 1
    assert checked > 500


def test_union_bound_covers_every_cluster_outside_its_parts_kept_entries():
    # a union settled from its parts' kept entries: a cluster r held by neither lies at or
    # above each part's bound, and the union's w to it must not fall below union_bounds.
    # Tight cases: r exactly at both bounds, almost equilateral triangles (Lance-Williams then
    # makes the union's w the weighted sum the bound takes), r of size 1 (the bound's least
    # case) or any, 1e-6 across at coordinates ~1e3 (the rounding of the union's centroid)
    from gpuhclust.cpu._centroid_rows import CentroidKept
    from gpuhclust.cpu._vector import WARD, merge_centroids

    checked = 0
    for rng, Ct in _far_triangles(1):
        sz = rng.integers(1, 50, size=3).astype(float)
        if rng.random() < 0.5:
            sz[0] = 1.0
        w_xy = _w(Ct, sz, 1, 2)
        if not (w_xy <= _w(Ct, sz, 1, 0) and _w(Ct, sz, 2, 1) <= _w(Ct, sz, 2, 0)):
            continue  # rounds merge reciprocal nearest neighbours only
        kept = CentroidKept(3, Ct.shape[0], float(np.abs(Ct).max()))
        for part in (1, 2):  # r just at the part's bound: not among its kept entries
            kept.bound[part] = np.float64(_w(Ct, sz, part, 0)).view(np.int64)
            kept.valid[part] = True
        bound = kept.union_bounds(np.array([1]), np.array([2]), 1, sz[1:2], sz[2:3],
                                  np.array([w_xy]))[0]
        assert bound > 0
        merge_centroids(Ct, 1, 2, sz[1], sz[2], WARD)
        sz[2], sz[1] = sz[1] + sz[2], 0.0
        assert np.float64(_w(Ct, sz, 2, 0)).view(np.int64) >= bound
        checked += 1
    assert checked > 500


def test_union_bound_is_open_where_a_part_kept_every_finite_entry_but_not_every_cluster():
    # a part whose bound is +inf (the clusters it does not hold lie at +inf: w overflowed)
    # bounds nothing for the union, whose w to them may be finite; a part that held every
    # live cluster (no bound at all) leaves no other cluster to bound
    from gpuhclust._rounds import NO_KEY
    from gpuhclust.cpu._centroid_rows import CentroidKept

    kept = CentroidKept(3, 2, 1.0)
    kept.valid[:] = True
    kept.bound[1] = np.float64(2.0).view(np.int64)
    sizes, heights = np.array([1.0]), np.array([0.5])
    for bound, expected in ((kept.inf_key, -1), (NO_KEY, kept.inf_key)):
        kept.bound[2] = bound
        got = kept.union_bounds(np.array([1]), np.array([2]), 1, sizes, sizes, heights)[0]
        assert got == expected
    kept.bound[2] = np.float64(3.0).view(np.int64)
    finite = kept.union_bounds(np.array([1]), np.array([2]), 1, sizes, sizes, heights)[0]
    assert 0 < finite < kept.inf_key


def _tight_blobs(n, d, seed):
    # three blobs of standard deviation 1e-4 about 5 apart: centroids close to each other
    # compared with their coordinates, where rounding them matters most
    rng = np.random.default_rng(seed)
    centers = 5.0 * rng.normal(size=(3, d))
    return centers[rng.integers(0, 3, size=n)] + 1e-4 * rng.normal(size=(n, d))


@pytest.mark.parametrize("make", [tie_heavy, _tight_blobs])
def test_cpu_kept_entries_settle_a_row_as_its_rescan_would(make, monkeypatch):
    # each row the kept entries settle gets what a rescan of it would return, bit for bit,
    # the unions among them (settled from their parts' entries) included
    from gpuhclust.cpu import _centroid_rows

    settle = _centroid_rows.CentroidRows._settled_by_kept
    checked = []
    unions = []  # settled from the kept entries of their two parts

    def settle_and_check(self, entries, k1, rescan, found, dist):
        full = settle(self, entries, k1, rescan, found, dist)
        rows = rescan[~full]
        unions.append(np.count_nonzero(np.isin(rows, entries[1])))
        if len(rows):
            nn, w = _centroid_rows.nearest(self.Ct, self.sz, self.slots.width,
                                           self.slots.positions(rows), 2)
            np.testing.assert_array_equal(found[~full], self.slots.slots(nn))
            np.testing.assert_array_equal(dist[~full], w)
            checked.append(len(rows))
        return full

    monkeypatch.setattr(_centroid_rows.CentroidRows, "_settled_by_kept", settle_and_check)
    vector(make(600, 3, 8))
    assert sum(checked) > 100
    assert sum(unions) > 10
