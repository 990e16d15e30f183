"""The BLAS screen of ward's rounds on the CPU (``gpuhclust.cpu._centroid_screen``): the exact
scan's nearest centroid and w bit for bit, from far fewer exact dissimilarities.

The reference is the exact scan (``_centroid_rows.nearest``). Cases: standard normal data in
1 to 40 features, exact ties (grid data, duplicated points), near ties far from the origin
(wide bounds), mixed and dead sizes, positions
past the width, centroids whose products overflow or underflow, non-finite ones, one and two
threads, one and several query tiles.
"""
from __future__ import annotations

import zlib

import numba
import numpy as np
import pytest
import scipy.spatial.distance as ssd

import gpuhclust
from gpuhclust.cpu import _centroid_screen as screen
from gpuhclust.cpu import backend as cpu_backend
from gpuhclust.cpu._centroid_rows import nearest
from _helpers import assert_same_bits, assert_valid_merges, blobs, tie_heavy

THREADS = [1, pytest.param(2, marks=pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2,
                                                       reason="Numba has one thread"))]


def centroids(kind: str, n: int, d: int, rng) -> np.ndarray:
    """Features-first centroids (d, n) of a kind of data."""
    if kind == "normal":
        X = rng.standard_normal((n, d))
    elif kind == "grid":  # small integers: exact sums, many equal w
        X = rng.integers(0, 3, (n, d)).astype(np.float64)
    elif kind == "duplicates":  # every point about eight times: w = 0 and equal w
        X = rng.standard_normal((max(1, n // 8), d))[rng.integers(0, max(1, n // 8), n)]
    elif kind == "near-ties":  # far from the origin against their spread: the approximate sq
        # is off by a good part of its value, the bounds are wide, the order is decided exactly
        X = 1.0 + 3e-7 * rng.standard_normal((n, d))
    elif kind == "huge":  # products near and past overflow: screened, unscreened, w = inf
        X = rng.standard_normal((n, d)) * 10.0 ** rng.choice([150, 152, 153, 154], (n, 1))
    elif kind == "tiny":  # products that underflow to subnormals and to zero
        X = rng.standard_normal((n, d)) * 10.0 ** rng.choice([-160, -155, -165, -300], (n, 1))
    elif kind == "non-finite":  # a few centroids with inf or NaN coordinates
        X = rng.standard_normal((n, d))
        X[rng.choice(n, max(1, n // 50), replace=False), 0] = np.inf
        X[rng.choice(n, max(1, n // 50), replace=False), -1] = np.nan
    else:
        raise AssertionError(kind)
    return np.ascontiguousarray(X.T)


def sizes(kind: str, n: int, rng) -> np.ndarray:
    if kind == "ones":
        return np.ones(n)
    if kind == "mixed":  # as after merges, with dead positions (size 0)
        return rng.choice([0.0, 1.0, 1.0, 1.0, 2.0, 3.0, 7.0, 40.0, 1000.0], n)
    raise AssertionError(kind)


def assert_screen_equals_exact_scan(Ct, sz, width, queries, threads, gram=screen.GRAM):
    nn, w, exact, _ = screen.screened_nearest(Ct, sz, width, queries, threads, gram)
    ref_nn, ref_w = nearest(Ct, sz, width, queries, threads)
    np.testing.assert_array_equal(nn, ref_nn)
    assert_same_bits(w, ref_w, "w")
    assert 0 <= exact <= len(queries) * width
    return exact


@pytest.mark.parametrize("gram", [np.float32, np.float64])
@pytest.mark.parametrize("threads", THREADS)
@pytest.mark.parametrize("size_kind", ["ones", "mixed"])
@pytest.mark.parametrize("kind, d", [("normal", 1), ("normal", 2), ("normal", 16),
                                     ("normal", 40), ("grid", 2), ("grid", 16),
                                     ("duplicates", 3), ("duplicates", 16), ("near-ties", 16),
                                     ("near-ties", 40), ("huge", 16),
                                     ("tiny", 16), ("tiny", 3), ("non-finite", 16)])
def test_screen_equals_the_exact_scan(kind, d, size_kind, threads, gram):
    rng = np.random.default_rng(zlib.crc32(f"{kind} {d} {size_kind}".encode()))
    n = 700
    Ct = centroids(kind, n, d, rng)
    sz = sizes(size_kind, n, rng)
    width = n - 13  # positions past the width are not candidates
    sz[width:] = rng.choice([0.0, 1.0], n - width)
    live = np.flatnonzero(sz[:width] > 0)
    queries = rng.permutation(live)[: max(2, len(live) // 3)]  # any order
    assert_screen_equals_exact_scan(Ct, sz, width, queries, threads, gram)


@pytest.mark.parametrize("threads", THREADS)
@pytest.mark.parametrize("kind", ["normal", "grid"])
@pytest.mark.parametrize("width", [40, 3000])
def test_screen_over_one_and_several_query_tiles(kind, width, threads):
    # 3000 positions: a tile holds max(MIN_TILE, TILE_ELEMENTS // 3000) queries, and every
    # live position is a query: several tiles; 40 positions: fewer queries than one tile
    rng = np.random.default_rng(width)
    Ct = centroids(kind, width, 8, rng)
    sz = sizes("mixed", width, rng)
    queries = np.flatnonzero(sz > 0)
    tile = max(screen.MIN_TILE, screen.TILE_ELEMENTS // width)
    assert (len(queries) > tile) == (width == 3000)
    assert_screen_equals_exact_scan(Ct, sz, width, queries, threads)


@pytest.mark.parametrize("threads", THREADS)
def test_equal_w_at_several_positions_the_lowest_wins(threads):
    # the query's nearest centroids are copies at known positions: the lowest must win, also
    # after positions of lower w at the other copies' sizes (a bigger size, a bigger w)
    rng = np.random.default_rng(7)
    n, d = 400, 16
    Ct = np.ascontiguousarray(rng.standard_normal((n, d)).T)
    near = Ct[:, 0] + 1e-3
    for j in (37, 90, 91, 300):
        Ct[:, j] = near
    sz = np.ones(n)
    sz[90] = 2.0  # same sq, larger w: not a minimum
    nn, w, *_ = screen.screened_nearest(Ct, sz, n, np.array([0, 91]), threads)
    ref_nn, ref_w = nearest(Ct, sz, n, np.array([0, 91]), threads)
    np.testing.assert_array_equal(nn, ref_nn)
    assert_same_bits(w, ref_w)
    assert nn[0] == 37  # the lowest of 37, 91, 300 (90: the same sq, a larger w)
    assert nn[1] == 37  # from the copy at 91: w = 0 at 37, 90 and 300


@pytest.mark.parametrize("threads", THREADS)
@pytest.mark.parametrize("others", ["dead", "non-finite"])
def test_a_query_without_a_finite_candidate(others, threads):
    rng = np.random.default_rng(11)
    n, d = 300, 16
    Ct = np.ascontiguousarray(rng.standard_normal((n, d)).T)
    sz = np.ones(n)
    if others == "dead":  # every other position dead: no candidate at all
        sz[:] = 0.0
        sz[5] = 1.0
        queries = np.array([5])
    else:  # every other centroid overflows: w is inf everywhere
        Ct[:, 1:] = np.inf
        queries = np.array([0])
    nn, w, *_ = screen.screened_nearest(Ct, sz, n, queries, threads)
    ref_nn, ref_w = nearest(Ct, sz, n, queries, threads)
    np.testing.assert_array_equal(nn, ref_nn)
    assert_same_bits(w, ref_w)
    assert nn[0] == -1 and w[0] == np.inf


@pytest.mark.parametrize("gram", [np.float32, np.float64])
@pytest.mark.parametrize("d", [16, 40])
def test_the_screen_computes_few_exact_dissimilarities(d, gram):
    # standard normal data: each query's exact check is down to a handful of positions
    rng = np.random.default_rng(d)
    n = 2000
    Ct = np.ascontiguousarray(rng.standard_normal((n, d)).T)
    sz = np.ones(n)
    queries = np.arange(n)
    exact = assert_screen_equals_exact_scan(Ct, sz, n, queries, 2, gram)
    assert exact < 4 * n  # against n * n for the exact scan


def test_the_rule_screens_many_features_and_pairs_only():
    assert screen.screen_pays(16, 200, 200)
    assert not screen.screen_pays(2, 200, 200)  # the exact sq is as cheap as the bounds
    assert not screen.screen_pays(16, 1, 20000)  # one query: the norms cost a scan
    assert not screen.screen_pays(16, 10, 10)


# -- through linkage ---------------------------------------------------------------------------
@pytest.mark.parametrize("make, n, d", [(blobs, 600, 16), (blobs, 300, 40), (tie_heavy, 500, 12)])
def test_screened_rounds_equal_the_chain_and_count_their_pairs(make, n, d):
    X = make(n, d, 3)
    Z = gpuhclust.linkage(X, "ward", backend="cpu", engine="vector", algorithm="rounds")
    run = dict(cpu_backend.last_run)
    assert run["screened"] > 0  # the screen ran
    if make is blobs:  # tie-free: the chain's Z bit for bit
        np.testing.assert_array_equal(
            Z, gpuhclust.linkage(X, "ward", backend="cpu", engine="vector",
                                 algorithm="nn_chain"))
        assert run["pairs"] < run["screened"] / 4
    else:
        assert_valid_merges(Z, ssd.pdist(X), "ward", rtol=1e-9)


@pytest.mark.parametrize("offset, gram", [(20.0, "float32"), (1000.0, "float64")])
def test_tight_clusters_far_apart_move_the_screen_to_float64(offset, gram):
    # two clusters: after centring one sits `offset` from the origin, and float32's bounds
    # (~1e-5 of the squared norms) exceed its squared distances when that is far
    rng = np.random.default_rng(5)
    X = rng.standard_normal((400, 16))
    X[200:] += offset
    Z = gpuhclust.linkage(X, "ward", backend="cpu", engine="vector", algorithm="rounds")
    run = dict(cpu_backend.last_run)
    assert run["screen_gram"] == gram
    assert run["pairs"] < run["screened"] / 4
    np.testing.assert_array_equal(Z, gpuhclust.linkage(X, "ward", backend="cpu",
                                                       engine="vector", algorithm="nn_chain"))


def test_few_features_keep_the_exact_scan():
    X = blobs(300, 3, 2)
    gpuhclust.linkage(X, "ward", backend="cpu", engine="vector")
    assert cpu_backend.last_run["screened"] == 0
    assert cpu_backend.last_run["pairs"] >= 300 * 299  # the first scan alone


def test_screened_rounds_equal_the_simulator_bit_for_bit(cuda_schedule_backend):
    # tie-heavy data in 12 features: the CPU screens, the simulated kernels scan everything
    X = tie_heavy(90, 12, 8)
    Z = gpuhclust.linkage(X, "ward", backend=cuda_schedule_backend, engine="vector")
    np.testing.assert_array_equal(Z, gpuhclust.linkage(X, "ward", backend="cpu",
                                                       engine="vector"))
    assert cpu_backend.last_run["screened"] > 0
