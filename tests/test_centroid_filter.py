"""The float32 filter of ward's rescans on the vector engine (``gpuhclust.cpu._centroid_filter``):
it never rules out a column whose exact w is at or below the bound, it rules out most columns on
ordinary data, and scans and Z are the same with and without it, bit for bit."""
from __future__ import annotations

import numba
import numpy as np
import pytest

from gpuhclust._centroid_rounds import ward_rounds
from gpuhclust._engines import centroid_frame
from gpuhclust.cpu import _centroid_filter as filt
from gpuhclust.cpu._centroid_rows import (KEPT, CentroidRows, nearest, pair_dissimilarities)
from _helpers import blobs, tie_heavy


@numba.njit(cache=True)
def _gaps_of_query(C32, terms, constants, p, n_q, bounds, out):
    """The filter's gap of every column for query position p, each column against its own
    bound ``bounds[j]`` (as a scan would meet it with that bound); the dot products as the
    scans take them, four queries per pass (here four copies of the query)."""
    width = C32.shape[1]
    d = C32.shape[0]
    x = np.empty((4, d), dtype=np.float32)
    for k in range(d):
        x[:, k] = C32[k, p]
    dots = np.empty((4, width), dtype=np.float32)
    filt.dot_block_quad(C32, x, np.int64(0), width, dots)
    gap = np.empty(1, dtype=np.float32)
    for j in range(width):
        slope, base = filt.line(bounds[j], n_q, terms[0, p], constants)
        out[j] = -np.inf
        for r in range(4):  # every copy of the query: the largest gap
            filt.gaps(dots[r, j:j + 1], terms[0, p], terms[0, j:j + 1], terms[1, j:j + 1],
                      terms[2, j:j + 1], slope, base, 1, gap)
            out[j] = max(out[j], gap[0])


def _far_from_the_origin(n, d, seed):
    # a spread of 1e-3 at 1e4 from the origin: the Gram form cancels about fourteen digits
    rng = np.random.default_rng(seed)
    return 1e4 + 1e-3 * rng.normal(size=(n, d))


def _tiny(n, d, seed):
    # coordinates about 3e-16: squared distances about 1e-30, near the line's floor (2**-100)
    return 3e-16 * np.random.default_rng(seed).normal(size=(n, d))


def _near_the_coordinate_cap(n, d, seed):
    # unit spread 5e14 from the origin, just inside FILTER_MAX_COORDINATE
    return 5e14 + np.random.default_rng(seed).normal(size=(n, d))


def _state(X, sizes_seed=None, largest_size=50):
    """Centroids features first and sizes (1, or 1 to `largest_size` with a few dead
    positions)."""
    Ct = np.ascontiguousarray(X.T, dtype=np.float64)
    sz = np.ones(Ct.shape[1])
    if sizes_seed is not None:
        rng = np.random.default_rng(sizes_seed)
        sz = rng.integers(1, largest_size + 1, size=len(sz)).astype(np.float64)
        sz[rng.choice(len(sz), len(sz) // 10, replace=False)] = 0.0
    return Ct, sz


@pytest.mark.parametrize("sizes, largest_size", [(None, 1), (5, 50), (6, 10 ** 9)],
                         ids=["sizes-1", "sizes-1-to-50", "sizes-to-1e9"])
@pytest.mark.parametrize("make, d", [(blobs, 16), (blobs, 3), (tie_heavy, 5), (blobs, 37),
                                     (_far_from_the_origin, 8), (_tiny, 16),
                                     (_near_the_coordinate_cap, 4)])
def test_a_column_at_or_below_the_bound_is_never_ruled_out(make, d, sizes, largest_size):
    # every column tested against a bound equal to its own exact w, the hardest case: the
    # filter must let it through (gap <= 0), whatever the cancellation or the magnitudes
    X = make(400, d, 3)
    Ct, sz = _state(X, sizes, largest_size)
    constants = filt.filter_constants(d, np.abs(Ct).max())
    assert constants[0] > 0
    C32 = Ct.astype(np.float32)
    terms = filt.column_terms(C32, sz, Ct.shape[1], constants)
    cols = np.arange(Ct.shape[1])
    out = np.empty(len(cols), dtype=np.float32)
    for p in np.flatnonzero(sz > 0)[:40]:
        w = np.empty(len(cols))
        pair_dissimilarities(Ct.T.copy(), sz, np.full(len(cols), p), cols, w)
        live = (sz > 0) & (cols != p)
        _gaps_of_query(C32, terms, constants, p, sz[p], w, out)
        assert np.all(out[live] <= 0), (p, np.flatnonzero(live & (out > 0)))


def test_the_filter_rules_out_most_columns_on_ordinary_data():
    # the 9th smallest w as the bound: on Gaussian data nearly every column lies well above it
    X = centroid_frame(np.random.default_rng(0).normal(size=(3000, 16)))
    Ct, sz = _state(X)
    constants = filt.filter_constants(16, np.abs(Ct).max())
    C32 = Ct.astype(np.float32)
    terms = filt.column_terms(C32, sz, Ct.shape[1], constants)
    cols = np.arange(Ct.shape[1])
    out = np.empty(len(cols), dtype=np.float32)
    through = []
    for p in range(0, 3000, 100):
        w = np.empty(len(cols))
        pair_dissimilarities(Ct.T.copy(), sz, np.full(len(cols), p), cols, w)
        w[p] = np.inf
        bound = np.sort(w)[KEPT]
        _gaps_of_query(C32, terms, constants, p, 1.0, np.full(len(cols), bound), out)
        through.append(np.count_nonzero(out <= 0))
    assert np.mean(through) < 0.02 * len(cols)


@pytest.mark.parametrize("largest, d", [(1e16, 4), (np.inf, 4), (1.0, 0), (1.0, 5000)])
def test_the_filter_does_not_run_beyond_float32s_comfort(largest, d):
    assert not filt.filter_constants(d, largest)[0] > 0


@pytest.mark.parametrize("queries", [3, 20, 300])
@pytest.mark.parametrize("make, d", [(tie_heavy, 3), (blobs, 16), (blobs, 17),
                                     (_far_from_the_origin, 4), (tie_heavy, 1)])
def test_filtered_scans_equal_exact_scans(make, d, queries):
    # several blocks of candidates (the filter starts once a query has a finite bound), dead
    # positions and sizes up to 50; the minimum, its position and the kept entries all agree
    X = make(1500, d, queries)
    Ct, sz = _state(X, sizes_seed=queries)
    rng = np.random.default_rng(queries)
    q = np.sort(rng.choice(np.flatnonzero(sz), queries, replace=False))
    constants = filt.filter_constants(d, np.abs(Ct).max())
    answers = []
    for filtered in (None, (Ct.astype(np.float32), constants)):
        keys = np.empty((queries, KEPT + 1), dtype=np.int64)
        pos = np.empty((queries, KEPT + 1), dtype=np.int64)
        nn, w = nearest(Ct, sz, Ct.shape[1], q, 2, (keys, pos), filtered)
        answers.append((nn, w, keys, pos))
    for exact, fast in zip(*answers):
        np.testing.assert_array_equal(exact, fast)


def _first_scan(Ct, sz, filtered):
    from gpuhclust.cpu._centroid_rows import nearest_all

    keys = np.empty((Ct.shape[1], KEPT + 1), dtype=np.int64)
    pos = np.empty((Ct.shape[1], KEPT + 1), dtype=np.int64)
    nn, w = nearest_all(Ct, sz, (keys, pos), filtered)
    return nn, w, keys, pos


# widths: tiles of BLOCK = 256 positions, the last of 1 (left to the exact tile), 2, or full
@pytest.mark.parametrize("n", [513, 514, 700, 1024])
@pytest.mark.parametrize("make, d", [(tie_heavy, 3), (blobs, 16), (blobs, 17), (blobs, 300),
                                     (tie_heavy, 1), (_far_from_the_origin, 4), (_tiny, 5),
                                     (_near_the_coordinate_cap, 3)])
def test_filtered_first_scan_equals_the_exact_one(make, d, n):
    # the first scan's tiles through the filter (gpuhclust.cpu._filtered_tiles): every row's
    # and column's minimum, position and second smallest, hence the kept entries, unchanged;
    # with sizes other than 1 the tiles stay exact. The filter runs on the first four data
    # sets (test_a_filtered_tile_equals_the_exact_tile checks that it does), more features
    # than a tile has positions included; on the others it gives up and the exact tile runs
    X = make(n, d, n)
    for sizes_seed in (None, 3):
        Ct, sz = _state(X, sizes_seed)
        constants = filt.filter_constants(d, np.abs(Ct).max())
        exact = _first_scan(Ct, sz, None)
        fast = _first_scan(Ct, sz, (Ct.astype(np.float32), constants))
        for a, b in zip(exact, fast):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("make, d, expect", [(blobs, 16, True), (blobs, 17, True),
                                             (tie_heavy, 3, True), (blobs, 300, True),
                                             (_far_from_the_origin, 4, False)])
def test_a_filtered_tile_equals_the_exact_tile(make, d, expect):
    # one tile directly: it is taken through the filter where that pays (not only left to the
    # exact tile), and its entries are the exact tile's
    from gpuhclust.cpu._centroid_rows import _tile_pair
    from gpuhclust.cpu._filtered_tiles import filtered_tile, tile_scratch

    Ct, sz = _state(make(700, d, 5))
    C32 = Ct.astype(np.float32)
    constants = filt.filter_constants(d, np.abs(Ct).max())
    terms = filt.column_terms(C32, sz, Ct.shape[1], constants)
    parts = [(np.full((3, 700), np.nan), np.full((3, 700), -7, dtype=np.int64),
              np.full((3, 700), -7, dtype=np.int64)) for _ in range(2)]  # (tiles, positions)
    _tile_pair(Ct, sz, np.int64(0), np.int64(2), *parts[0])
    ran = filtered_tile(np.ascontiguousarray(Ct.T), C32, terms, constants, 0, 256, 512, 700,
                        *parts[1], 0, 2, *tile_scratch(d))
    assert ran == expect
    if ran:
        for exact, fast in zip(*parts):
            np.testing.assert_array_equal(exact, fast)
        # a tile of a few rows (its products in fours, the last group short; the columns'
        # updates in pairs, the last single): the rows' entries are those of the exact tile
        for rows in (6, 7):
            few = tuple(np.full_like(a, -7) for a in parts[1])
            assert filtered_tile(np.ascontiguousarray(Ct.T), C32, terms, constants, 0, rows,
                                 512, 700, *few, 0, 2, *tile_scratch(d))
            for exact, fast in zip(parts[0], few):
                np.testing.assert_array_equal(exact[2, :rows], fast[2, :rows])


class _Bar:
    def update(self, k):
        pass


def _store(X, filtered=True):
    return CentroidRows(np.array(centroid_frame(X).T, dtype=np.float64, order="C"), 2,
                        filtered=filtered)


@pytest.mark.parametrize("make, n, d", [(tie_heavy, 1200, 3), (blobs, 1500, 16),
                                        (_far_from_the_origin, 900, 5)])
def test_ward_on_the_vector_engine_is_the_same_with_and_without_the_filter(make, n, d):
    X = make(n, d, 1)
    store = _store(X)
    merges = ward_rounds(store, n, _Bar(), {})
    assert store.filtered[1][0] > 0  # it ran to the end
    np.testing.assert_array_equal(merges, ward_rounds(_store(X, False), n, _Bar(), {}))


def _tight_and_far(n, d, seed):
    # eight clusters of standard deviation 1e-3 about 1,000 apart
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=1000.0, size=(8, d))
    return centres[rng.integers(0, 8, n)] + 1e-3 * rng.normal(size=(n, d))


@pytest.mark.parametrize("make, on", [(_tight_and_far, False), (blobs, True),
                                      (tie_heavy, True)])
def test_the_filter_stays_on_only_where_it_pays(make, on):
    # its rounding term against the first scan's nearest distances: tight clusters far apart
    # would pass whole clusters (it turns off); ordinary data and duplicates keep it
    X = make(1200, 6, 2)
    store = _store(X)
    store.scan_all()
    assert (store.filtered[1][0] > 0) == on
    # and a run that turns it off after the first scan gives the unfiltered run's Z
    np.testing.assert_array_equal(ward_rounds(_store(X), 1200, _Bar(), {}),
                                  ward_rounds(_store(X, False), 1200, _Bar(), {}))
