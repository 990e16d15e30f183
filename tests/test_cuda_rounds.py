"""Reciprocal-nearest-neighbour rounds on the CUDA backend (the shared driver
``gpuhclust._rounds`` over the device rows of ``gpuhclust.cuda._round_rows``): one host sync per
round, several pairs per round, the distances where the younger cluster's row holds them equal
to the lazy rows replayed, and no finite distance left is an error. Their Z (the CPU rounds', bit for bit, ties
included, in every simulator schedule) is checked in test_parity.py too."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.spatial.distance as ssd

import gpuhclust
from _helpers import ROUNDS_METHODS, assert_same_bits, blobs, tie_heavy
from gpuhclust import _rounds, _sim
from gpuhclust._methods import METHODS
from gpuhclust.cuda import backend as cuda_backend
from gpuhclust.cuda._context import SimContext
from gpuhclust.cuda._device_rows import DeviceRows
from gpuhclust.cuda import _round_rows
from gpuhclust.cuda._round_rows import DeviceRoundRows
from gpuhclust.cuda.backend import SimBackend

@pytest.fixture
def compact_narrow(monkeypatch):
    """The device rows gathered as clusters die even when narrow (as wide ones are)."""
    monkeypatch.setattr(_round_rows, "COMPACT_MIN_WIDTH", 2)


@pytest.mark.parametrize("method", ROUNDS_METHODS)
def test_at_most_two_host_syncs_per_round(method, compact_narrow):
    # condensed input: filling the matrix reads nothing back, so every sync is the rounds'
    y = ssd.pdist(blobs(60, 3, seed=8))
    with _sim.counting() as counts:
        gpuhclust.linkage(y, method, backend=SimBackend(SimContext()))
    stats = cuda_backend.last_run
    assert stats["backend"] == "cuda-sim" and stats["merges"] == 59
    assert stats["rounds"] < 30  # several pairs per round: not the chain in disguise
    # one read for the first scan; per round (and per full rescan) at most two, the kept
    # entries' distances to the round's unions and the rescans: nothing per merge
    assert counts.host_syncs <= 1 + 2 * stats["rounds"] + stats["full_rescans"]
    # fill, first scan (the rows' splits, their merge); per round mark, merge, pairs and the
    # scan's two; a gather per compaction
    assert counts.launches <= 3 + 5 * stats["rounds"] + stats["compactions"]
    assert stats["compactions"] >= 3  # halving from 60 rows
    assert 0 < stats["settled_by_kept"] and stats["scans_per_merge"] < stats["rescans_per_merge"]


@pytest.mark.parametrize("method", ["complete", "average", "weighted"])
def test_one_host_sync_per_round_without_kept_entries(method, compact_narrow):
    # a negative distance (accepted by these methods) turns the kept entries off: every row
    # asked for is rescanned, and the round reads the device once
    y = ssd.pdist(blobs(60, 3, seed=8))
    y[5] = -1.0
    with _sim.counting() as counts:
        Z = gpuhclust.linkage(y, method, backend=SimBackend(SimContext()))
    stats = cuda_backend.last_run
    assert stats["settled_by_kept"] == 0 and stats["rounds"] < 30
    assert counts.host_syncs == 1 + stats["rounds"] + stats["full_rescans"]
    assert counts.launches == 2 + 3 * stats["rounds"] + stats["compactions"]
    assert Z.tobytes() == gpuhclust.linkage(y, method, backend="cpu").tobytes()


def test_no_finite_distance_left_is_an_error():
    # average of 1e308 and 1.7e308 overflows to +inf: no row has a finite neighbour (-1), and
    # the driver names the merge instead of looping or indexing with -1
    y = np.array([1e308, 1e308, 1.7e308])
    with pytest.raises(gpuhclust.MergeOverflowError, match="no finite distance"):
        gpuhclust.linkage(y, "average", backend=SimBackend(SimContext()))


class _NoBar:
    def update(self, _):
        pass


def _owned(store: DeviceRoundRows, slots: np.ndarray) -> np.ndarray:
    """The distances among `slots` of the device rows, each read from the row of the younger
    cluster (the later mark; either row where the marks are equal), as the kernels read it."""
    D = store.ctx.asnumpy(store.D)[np.ix_(slots, slots)]
    mark = store.ctx.asnumpy(store.mark)[slots]
    return np.where(mark[None, :] > mark[:, None], D.T, D)


class _EagerAgainstLazy:
    """A row store that runs every round on the device rows (``DeviceRoundRows``) and on the
    lazy rows of the Dask shards' kernels (``DeviceRows`` holding every row), and checks after
    each round that the distances among the live clusters, each where its younger end holds
    it, equal the second's replayed rows, bit for bit, and that both find the same
    neighbours."""

    def __init__(self, backend, D, code):
        self.name = "eager and lazy rows"
        self.ctx, self.code = backend.ctx, code
        # with kept entries: the rows they settle must find what the lazy rows' rescans do
        self.eager = DeviceRoundRows(backend, backend.ctx.xp.array(D), code, nonneg=True)
        self.lazy = DeviceRows.whole(backend, backend.ctx.xp.array(D))  # copies
        self.alive = np.ones(D.shape[0], dtype=bool)
        self.rounds_with_pairs = 0
        self.widths = set()

    def scan_all(self):
        return self._same(self.eager.scan_all(),
                          self.lazy.rescan(np.arange(len(self.alive)), True, self.code, 0))

    def run_round(self, entries, k0, rescan):
        count = len(entries[0])
        got = self.eager.run_round(entries, k0, rescan)
        if count:
            self.lazy.record(entries, k0)
            self.lazy.apply_merges(k0, k0 + count, np.empty((0, 0)),
                                   np.full(count, -1, dtype=np.int64), self.code)
        want = self.lazy.rescan(np.asarray(rescan, dtype=np.int64), True, self.code, k0 + count)
        self.alive[entries[0]] = False
        self.rounds_with_pairs += count > 1
        live = np.flatnonzero(self.alive)
        self.lazy.rescan(live, True, self.code, k0 + count)  # every live row replayed
        slots = self.eager.slot[live]  # the eager rows are gathered as clusters die
        self.widths.add(self.eager.width)
        assert_same_bits(_owned(self.eager, slots),
                         self.ctx.asnumpy(self.lazy.D)[np.ix_(live, live)],
                         f"live rows after entry {k0}")
        return self._same(got, want)

    @staticmethod
    def _same(got, want):
        np.testing.assert_array_equal(got[0], want[0])
        assert_same_bits(got[1], want[1], "nearest distances")
        return got


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("method", ROUNDS_METHODS)
def test_owned_distances_equal_the_lazy_rows(sim_or_gpu_backend, method, dtype,
                                                  compact_narrow):
    # integer grid points: equal distances everywhere and several pairs per round, so the
    # round's own 2 x 2 blocks (pairs merged in one round) and ward's sizes are exercised
    X = tie_heavy(40, 2, 5)
    D = ssd.squareform(ssd.pdist(X)).astype(dtype)
    np.fill_diagonal(D, np.inf)
    store = _EagerAgainstLazy(sim_or_gpu_backend, D, METHODS[method].code)
    stats = _rounds.RoundStats()
    _rounds.rnn_rounds(store, len(X), _NoBar(), stats, method, np.dtype(dtype))
    assert store.rounds_with_pairs >= 3 and len(store.widths) >= 3  # compacted twice at least
    assert store.eager.kept.settled > 0
    # and Z is the CPU rounds' bit for bit
    Z = gpuhclust.linkage(X, method, backend=sim_or_gpu_backend, dtype=dtype)
    assert Z.tobytes() == gpuhclust.linkage(X, method, backend="cpu", dtype=dtype).tobytes()


def test_rows_stay_wide_without_room_for_the_gather(simulator, compact_narrow, monkeypatch):
    X = tie_heavy(40, 2, 5)
    D = ssd.squareform(ssd.pdist(X))
    np.fill_diagonal(D, np.inf)

    def run(backend):
        store = DeviceRoundRows(backend, backend.ctx.xp.array(D), METHODS["ward"].code)
        merges = _rounds.rnn_rounds(store, len(X), _NoBar(), _rounds.RoundStats(), "ward")
        return store, merges

    full = SimBackend(SimContext())
    monkeypatch.setattr(full.ctx, "free_bytes", lambda: 0)
    wide, merges_wide = run(full)
    gathered, merges = run(SimBackend(SimContext()))
    assert wide.compactions == 0 and wide.width == len(X) and gathered.compactions >= 3
    assert merges_wide.tobytes() == merges.tobytes()


class _DeadPoisoned(DeviceRoundRows):
    """Zero, nearer than any distance, in every dead cluster's row and column before each
    round's merge and each rescan: a kernel that read one would change the merges."""

    def _poison(self):
        dead = np.flatnonzero(self.host_size == 0)
        self.D[dead, :] = 0.0
        self.D[:, dead] = 0.0

    def run_round(self, entries, k0, rescan):
        self._poison()
        return super().run_round(entries, k0, rescan)

    def _rescan(self, rows, *args):
        self._poison()
        return super()._rescan(rows, *args)


@pytest.mark.parametrize("nonneg", [False, True])
@pytest.mark.parametrize("method", ROUNDS_METHODS)
def test_dead_rows_and_columns_are_never_read(simulator, method, nonneg, monkeypatch):
    # the merge leaves a dead cluster's column as it was (no +inf written): the merge and the
    # rescan must skip it by its size; without the gather every dead column stays in place
    X = tie_heavy(40, 2, 5)
    D = ssd.squareform(ssd.pdist(X))
    np.fill_diagonal(D, np.inf)
    merges = {}
    for store_type in (DeviceRoundRows, _DeadPoisoned):
        backend = SimBackend(SimContext())
        monkeypatch.setattr(backend.ctx, "free_bytes", lambda: 0)
        store = store_type(backend, D.copy(), METHODS[method].code, nonneg)
        merges[store_type] = _rounds.rnn_rounds(store, len(X), _NoBar(), _rounds.RoundStats(),
                                                method)
        assert (store.kept is not None and store.kept.settled > 0) == nonneg
        assert store.compactions == 0
    assert merges[_DeadPoisoned].tobytes() == merges[DeviceRoundRows].tobytes()


def test_a_merge_writes_its_union_row_and_no_column(simulator):
    # a merge that wrote its column too would store into one sector of every live row, a
    # sector written in part (n^2 / 2 of them over the run, ~45,000 here); writing the union's
    # row only, in whole sectors (rows of 300 float64 are 75 sectors, aligned), leaves the
    # round's own columns where a pair's union reads them
    n = 300
    X = np.random.default_rng(1).normal(size=(n, 4))
    with _sim.counting() as counts:
        Z = gpuhclust.linkage(X, "average", backend=SimBackend(SimContext()), dtype=np.float64)
    merge = counts.kernels["round_merge<double>"]
    assert merge.warp_partial_sectors_written < n * n / 8
    assert merge.warp_partial_sectors_written < merge.warp_sectors_written / 4
    assert Z.tobytes() == gpuhclust.linkage(X, "average", backend="cpu").tobytes()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("method", ROUNDS_METHODS)
def test_negative_zero_in_condensed_input_is_zero(simulator, method, dtype):
    # -0.0 is not below 0, so the kept entries run; expanded as it is, its integer key would
    # sort before +0.0's and a higher column would win a tie of zeros (a review's case)
    rng = np.random.default_rng(3)
    for _ in range(10):
        y = rng.choice([0.0, -0.0, 1.0, 2.0], size=66)
        Z = gpuhclust.linkage(y, method, backend=SimBackend(SimContext()), dtype=dtype)
        assert Z.tobytes() == gpuhclust.linkage(y, method, backend="cpu", dtype=dtype).tobytes()
