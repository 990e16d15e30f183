"""Reciprocal-nearest-neighbour rounds, the default for complete, average, weighted and ward on
the CPU (``gpuhclust._rounds`` over ``gpuhclust.cpu._round_rows``), and the ``algorithm=``
choice the plan makes (``gpuhclust._plan``)."""
from __future__ import annotations

import numba
import numpy as np
import pytest
import scipy.cluster.hierarchy as sch
import scipy.spatial.distance as ssd

import gpuhclust
from _helpers import ROUNDS_METHODS, assert_same_as_scipy, assert_valid_merges, blobs, tie_heavy
from gpuhclust.cpu import _lazy_matrix, _round_rows
from gpuhclust.cpu._distances import BLOCK
from gpuhclust.cpu import backend as cpu_backend
from gpuhclust.numpy_only._lance_williams import update_row

EXACT_HEIGHTS = ("single", "complete")  # min and max do not round


def _stats():
    return dict(cpu_backend.last_run)


@pytest.mark.parametrize("method", ("single",) + ROUNDS_METHODS)
@pytest.mark.parametrize("n", (2, 3, 40, 700))
@pytest.mark.parametrize("kind", ["observations", "condensed"])
def test_default_tie_free_is_scipys_hierarchy(method, n, kind):
    X = np.random.default_rng(n).standard_normal((n, 4))
    y = X if kind == "observations" else ssd.pdist(X)
    Z, Z_ref = gpuhclust.linkage(y, method), sch.linkage(y, method)
    if method in EXACT_HEIGHTS:
        np.testing.assert_array_equal(Z, Z_ref)
    else:
        assert_same_as_scipy(Z, Z_ref, rtol=1e-13)


@pytest.mark.parametrize("method", ["complete", "ward"])
@pytest.mark.parametrize("case, squares", [
    ({}, True),
    ({"dtype": np.float32}, False),             # float32 storage keeps the distances
    ({"algorithm": "nn_chain"}, False),         # SciPy's algorithm, SciPy's arithmetic
    ({"input": "condensed"}, False),            # the squares of given distances may overflow
    ({"scale": 1e120}, False),                  # far from overflow only below 1e100
])
def test_rounds_keep_squares_only_where_planned(method, case, squares):
    """Complete's and ward's rounds keep squared distances from observations with the
    Euclidean metric in float64 (``_plan.keeps_squares``): the backend computes 'sqeuclidean'
    and updates with the code on squares (``WARD_SQUARED`` for ward), the roots are taken at
    the end; SciPy's hierarchy either way, complete's heights bit for bit."""
    from gpuhclust._linkage import last_plan
    from gpuhclust._plan import SQUARED_METHODS

    case = dict(case)
    X = np.random.default_rng(2).standard_normal((300, 4)) * case.pop("scale", 1.0)
    y = ssd.pdist(X) if case.pop("input", "") == "condensed" else X
    Z = gpuhclust.linkage(y, method, backend="cpu", **case)
    plan = last_plan()
    assert plan.squares is squares and plan.method.name == method
    code = SQUARED_METHODS[method] if squares else gpuhclust.METHODS[method].code
    assert plan.method.code == code
    Z_ref = sch.linkage(X, method)
    if method == "complete" and "dtype" not in case:
        np.testing.assert_array_equal(Z, Z_ref)
    else:
        assert_same_as_scipy(Z, Z_ref, rtol=1e-6 if "dtype" in case else 1e-13)
    if method == "ward":
        Zv = gpuhclust.linkage(X, method, backend="cpu", engine="vector")
        assert not last_plan().squares  # centroids, not a matrix
        assert_same_as_scipy(Zv, Z_ref, rtol=1e-12)


@pytest.mark.parametrize("method", ROUNDS_METHODS)
def test_rounds_merge_many_pairs_at_once(method):
    n = 1000
    Z = gpuhclust.linkage(blobs(n, 3, seed=4), method, backend="cpu")
    stats = _stats()
    assert stats["method"] == method and stats["n"] == n and stats["merges"] == n - 1
    assert stats["rounds"] < n // 5  # one round per merge would be the chain
    assert stats["rescans_per_merge"] == stats["rescans"] / (n - 1)
    assert stats["compactions"] >= 1  # 1000 slots: compacted once half of them are dead
    assert_same_as_scipy(Z, sch.linkage(blobs(n, 3, seed=4), method), rtol=1e-13)


@pytest.mark.parametrize("method", ROUNDS_METHODS)
@pytest.mark.parametrize("seed", range(3))
def test_ties_give_valid_deterministic_merges(method, seed):
    X = tie_heavy(150 + 50 * seed, 2, seed)
    y = ssd.pdist(X)
    Z = gpuhclust.linkage(y, method)
    assert_valid_merges(Z, y, method)
    np.testing.assert_array_equal(gpuhclust.linkage(y.copy(), method), Z)
    if method == "ward":  # from observations the rounds keep squares: other roundings
        assert_valid_merges(gpuhclust.linkage(X, method), y, method)
    else:
        np.testing.assert_array_equal(gpuhclust.linkage(X, method), Z)  # observations: same Z


@pytest.mark.parametrize("method", ROUNDS_METHODS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_same_z_on_one_and_two_threads(method, dtype, monkeypatch):
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("Numba runs one thread here")
    monkeypatch.setattr(_lazy_matrix, "COMPACT_MIN_WIDTH", 8)  # compactions in the run as well
    y = ssd.pdist(tie_heavy(400, 2, seed=7))
    before = numba.get_num_threads()
    try:
        out = []
        for threads in (1, 2):
            numba.set_num_threads(threads)
            out.append(gpuhclust.linkage(y, method, dtype=dtype, backend="cpu"))
            assert _stats()["threads"] == threads
    finally:
        numba.set_num_threads(before)
    np.testing.assert_array_equal(out[0], out[1])


@pytest.mark.parametrize("method", ROUNDS_METHODS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("data", ["ties", "blobs"])
def test_kept_entries_answer_as_a_scan_would(method, dtype, data, monkeypatch):
    # a row settled by its kept entries gets the first minimum a scan finds: the same Z as
    # with every asked row scanned (no kept entries), compactions included
    monkeypatch.setattr(_lazy_matrix, "COMPACT_MIN_WIDTH", 8)
    X = tie_heavy(500, 2, seed=5) if data == "ties" else blobs(500, 3, seed=5)
    y = ssd.pdist(X)
    Z = gpuhclust.linkage(y, method, dtype=dtype, backend="cpu")
    stats = _stats()
    assert stats["settled_by_kept"] > 0
    assert stats["scans_per_merge"] < stats["rescans_per_merge"]
    monkeypatch.setattr(_round_rows, "KeptEntries", lambda n, dtype: None)
    np.testing.assert_array_equal(gpuhclust.linkage(y, method, dtype=dtype, backend="cpu"), Z)
    assert _stats()["settled_by_kept"] == 0


@pytest.mark.parametrize("method", ROUNDS_METHODS + ("ward_squared",))
def test_an_update_lands_at_most_the_slack_below_its_nearer_part(method):
    # what the kept entries' lowered bound assumes (gpuhclust.cpu._round_rows): parts equal
    # or a few units apart, at every magnitude; average does land below its parts. Ward on
    # squares (WARD_SQUARED) too: its operands are squares, with the same order.
    from gpuhclust._methods import WARD_SQUARED

    code = WARD_SQUARED if method == "ward_squared" else gpuhclust.METHODS[method].code
    rng = np.random.default_rng(1)
    worst = 0.0
    for _ in range(300):
        size_x, size_y = (int(v) for v in rng.integers(1, 10 ** rng.integers(1, 7, 2)))
        base = np.exp(rng.uniform(-300, 300))
        d_xi = base * (1 + rng.integers(0, 4, 500) * 2.0 ** -52)
        d_yi = base * np.where(rng.random(500) < 0.5, 1.0, np.exp(rng.uniform(0, 3, 500)))
        d_xy = base * rng.uniform(0, 1)  # x and y are each other's nearest
        size_i = rng.integers(1, 10 ** 6, 500)
        nearer = np.minimum(d_xi, d_yi)
        v = update_row(code, d_xi, d_yi, d_xy, size_x, size_y, size_i)
        worst = max(worst, float(np.max((nearer - v) / nearer)) / 2.0 ** -53)
    assert worst <= _round_rows.BOUND_SLACK
    if method == "average":  # the slack is needed
        assert worst > 0


@pytest.mark.parametrize("width", [1, 3, _round_rows.KEPT + 1, 64, 65, 300])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_smallest_keys_in_first_minimum_order(width, dtype):
    rng = np.random.default_rng(width)
    row = rng.integers(0, 6, width).astype(dtype)  # many equal values
    row[rng.random(width) < 0.2] = np.inf
    keys = _lazy_matrix.int_keys(row)
    kept_keys = np.empty(_round_rows.KEPT + 1, dtype=np.int64)
    kept_cols = np.empty(_round_rows.KEPT + 1, dtype=np.int64)
    _round_rows.smallest_keys(keys, kept_keys, kept_cols)
    order = np.lexsort((np.arange(width), row))[:_round_rows.KEPT + 1]  # value, then index
    found = kept_cols >= 0
    np.testing.assert_array_equal(kept_cols[found], order)
    np.testing.assert_array_equal(kept_keys[found], keys[order])
    assert np.count_nonzero(found) == min(width, _round_rows.KEPT + 1)


def _block_minima(keys):
    """Each block's smallest key (``_distances.BLOCK`` entries), as the fill records them."""
    blocks = -(-keys.shape[0] // BLOCK)
    padded = np.full(blocks * BLOCK, np.iinfo(np.int64).max)
    padded[:keys.shape[0]] = keys
    return padded.reshape(blocks, BLOCK).min(axis=1)


@pytest.mark.parametrize("width", [3, 2 * BLOCK, (_round_rows.KEPT + 1) * BLOCK + 1, 4000])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("values", [6, 3000])
def test_smallest_keys_in_blocks_is_the_full_scans_list(width, dtype, values):
    """Reading only the blocks whose minimum is at most the L-th smallest block minimum gives
    the full scan's list, ties included (few distinct values: ties across many blocks)."""
    rng = np.random.default_rng(width + values)
    row = rng.integers(0, values, width).astype(dtype)
    row[rng.random(width) < 0.2] = np.inf
    keys = _lazy_matrix.int_keys(row)
    expected = [np.empty(_round_rows.KEPT + 1, dtype=np.int64) for _ in range(2)]
    _round_rows.smallest_keys(keys, *expected)
    found = [np.empty(_round_rows.KEPT + 1, dtype=np.int64) for _ in range(2)]
    read = _round_rows.smallest_keys_in_blocks(keys, _block_minima(keys), *found)
    np.testing.assert_array_equal(found[0], expected[0])
    np.testing.assert_array_equal(found[1], expected[1])
    blocks = -(-width // BLOCK)
    if blocks > _round_rows.KEPT + 1 and values > 6:
        assert read < width  # it skipped blocks
    assert read <= width


@pytest.mark.parametrize("method", ROUNDS_METHODS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_first_scan_by_block_minima_gives_the_same_z(method, dtype, monkeypatch):
    """From observations, and from the condensed distances, the first scan reads only the
    blocks its block minima allow; without them it reads every row whole: the same Z, ties
    included (ward's squares aside: from observations in float64 the rounds keep squares,
    which its condensed distances are not)."""
    from gpuhclust._linkage import last_plan

    n = (_round_rows.KEPT + 2) * BLOCK
    X = tie_heavy(n, 3, seed=5)
    Z = gpuhclust.linkage(X, method, backend="cpu", dtype=dtype)
    squares = last_plan().squares
    read = _stats()["entries_read"]
    assert read > 0
    if not squares:  # the same distances: the same minima, the same entries read
        Z_condensed = gpuhclust.linkage(ssd.pdist(X), method, backend="cpu", dtype=dtype)
        np.testing.assert_array_equal(Z, Z_condensed)
        assert _stats()["entries_read"] == read
    run_rounds = cpu_backend._run_rounds
    monkeypatch.setattr(cpu_backend, "_run_rounds",
                        lambda D, nonneg, method, bar, block_min=None:
                        run_rounds(D, nonneg, method, bar))
    np.testing.assert_array_equal(gpuhclust.linkage(X, method, backend="cpu", dtype=dtype), Z)
    assert _stats()["entries_read"] > n * n  # whole rows this time


@pytest.mark.parametrize("algorithm", ["scipy", "nn_chain"])
@pytest.mark.parametrize("method", ROUNDS_METHODS)
def test_scipys_algorithm_stays_scipys_z_with_ties(algorithm, method):
    y = ssd.pdist(tie_heavy(120, 2, seed=3))
    np.testing.assert_array_equal(gpuhclust.linkage(y, method, algorithm=algorithm),
                                  sch.linkage(y, method))


@pytest.mark.parametrize("method,algorithm", [("single", "mst"), ("centroid", "generic"),
                                              ("median", "generic")])
def test_explicit_scipy_algorithms(method, algorithm):
    y = ssd.pdist(tie_heavy(120, 2, seed=4))
    Z_ref = sch.linkage(y, method)
    np.testing.assert_array_equal(gpuhclust.linkage(y, method, algorithm=algorithm), Z_ref)
    np.testing.assert_array_equal(gpuhclust.linkage(y, method, algorithm="scipy"), Z_ref)
    Z = gpuhclust.linkage(y, method)
    if gpuhclust.METHODS[method].default_algorithm == algorithm:  # single: Prim, SciPy's
        np.testing.assert_array_equal(Z, Z_ref)
    else:  # centroid, median: the tournament, another valid merge among ties
        assert_valid_merges(Z, y, method)


# -- the plan's refusals ----------------------------------------------------------------------
X10 = np.random.default_rng(0).random((10, 2))


@pytest.mark.parametrize("method,algorithm,match", [
    ("average", "mst", r"algorithm='mst' does not compute average linkage; average takes "
                       r"'rounds', 'nn_chain'"),
    ("single", "rounds", "does not compute single linkage"),
    ("centroid", "rounds", "does not compute centroid linkage"),
    ("ward", "generic", "does not compute ward linkage"),
    ("ward", "fastest", "algorithm must be None, 'scipy', 'mst'"),
    ("ward", 3, "algorithm must be None"),
])
def test_algorithm_that_does_not_fit_the_method(method, algorithm, match):
    with pytest.raises(ValueError, match=match):
        gpuhclust.linkage(X10, method, algorithm=algorithm)


def test_the_vector_engine_runs_ward_by_rounds_too():
    # its ward runs the rounds over centroids by default (issue 14), the chain on request: the
    # same Z on tie-free data (tests/test_vector_rounds.py tests them)
    Z = gpuhclust.linkage(X10, "ward", engine="vector")
    np.testing.assert_array_equal(Z, gpuhclust.linkage(X10, "ward", engine="vector",
                                                       algorithm="rounds"))
    np.testing.assert_array_equal(Z, gpuhclust.linkage(X10, "ward", engine="vector",
                                                       algorithm="nn_chain"))


def test_algorithm_is_checked_before_the_input():
    with pytest.raises(ValueError, match="algorithm must be"):
        gpuhclust.linkage(np.full((10, 2), np.nan), "ward", algorithm="bogus")
