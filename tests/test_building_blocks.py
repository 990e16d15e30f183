"""The CPU's building blocks equal the CUDA headers', element by element: each pair (Numba in
``gpuhclust/cpu``, the header in ``kernels/`` run on the simulator through
``tests/sim_kernels/building_blocks.cu``) gets the same inputs, special values included, and
must give the same bits (NaN equal to NaN), so that a difference shows up here rather than
only in a whole Z.

- Lance-Williams (``_lance_williams.py`` / ``lance_williams.cuh``): every method (and ward on
  squared distances, the rounds' ``WARD_SQUARED``), both storage types, NaN, +inf, -0.0, tiny
  and huge operands; the row merge with its overflow report;
- metrics (``_distances.py`` / ``metrics.cuh``): every metric code on random vectors with zero
  rows and repeated rows;
- argmin (``_lazy_matrix.first_argmin`` / ``argmin.cuh``, ``common.cuh``): ties go to the lowest
  index, all-+inf rows have none, in one block and across a grid;
- heap (``_heap.py`` / ``heap.cuh``): sequences of changes, sifts and removals of the top.

Backend 'numpy' mirrors the CPU's blocks in turn (``gpuhclust/numpy_only``): its row update
and its argmin are compared with the compiled ones on the same cases.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from _helpers import METHODS, assert_same_bits
from gpuhclust._methods import METHODS as METHOD_TABLE
from gpuhclust._methods import WARD_SQUARED
from gpuhclust._metrics import METRIC_CODES, prepare_metric
from gpuhclust.cpu import _heap
from gpuhclust.cpu._distances import condensed_distances, pair_distance
from gpuhclust.cpu._lance_williams import lance_williams, merge_rows
from gpuhclust.cpu._lazy_matrix import first_argmin, int_keys, new_merge_log, replay
from gpuhclust.numpy_only._lance_williams import update_row
from gpuhclust.numpy_only._loops import first_minima

KERNEL = Path(__file__).parent / "sim_kernels" / "building_blocks.cu"
DTYPES = {"float32": np.float32, "float64": np.float64}
CTYPES = {np.float32: "float", np.float64: "double"}
TEMPLATED = ("lance_williams_cases", "merge_into_matrix", "row_argmin", "grid_row_argmin",
             "grid_pair_argmin")
SCHEDULES = ("forward", "reverse", "random")
THREADS = 64
#: Every Lance-Williams update code: the methods' and ward's on squared distances.
UPDATE_CODES = {**{m: METHOD_TABLE[m].code for m in METHODS}, "ward_squared": WARD_SQUARED}


@pytest.fixture(scope="module")
def blocks(simulator):
    """The test kernels, compiled for the simulator in each schedule (by name)."""
    from gpuhclust._sim import load_module
    from gpuhclust.cuda._kernels import defines, kernel_dir

    exprs = [f"{k}<{c}>" for k in TEMPLATED for c in CTYPES.values()]
    modules = {}

    def get(schedule="forward"):
        if schedule not in modules:
            modules[schedule] = load_module(KERNEL.read_text(), exprs,
                                            include_dirs=[str(kernel_dir())], defines=defines(),
                                            schedule=schedule, seed=5, filename=str(KERNEL))
        return modules[schedule]
    return get


def _launch(module, name, count, *args):
    blocks = max(1, -(-count // THREADS))
    module.get_function(name)((blocks,), (THREADS,), args)


# -- Lance-Williams --------------------------------------------------------------------------
# Operands that take every branch: the special values, both zeros, and magnitudes whose squares
# overflow or become subnormal (the scaled pass).
SPECIAL = np.array([np.nan, np.inf, -0.0, 0.0, 1e-300, 1e-160, 3e-154, 1.0, 2.5, 1e150, 1e200,
                    1.7e308])


def _lance_williams_cases(dtype, seed=0):
    """Every combination of SPECIAL for (d_xi, d_yi) at a few d_xy, then random operands;
    sizes from 1 to 2**40 (integer products as SciPy's)."""
    rng = np.random.default_rng(seed)
    a, b, c = np.meshgrid(SPECIAL, SPECIAL, SPECIAL[[0, 1, 2, 5, 7, 9, 11]], indexing="ij")
    random = rng.exponential(size=(3, 400)) * 10.0 ** rng.integers(-5, 5, size=(3, 400))
    with np.errstate(over="ignore"):  # float32 storage: huge operands become +inf
        d_xi = np.concatenate([a.ravel(), random[0]]).astype(dtype)
        d_yi = np.concatenate([b.ravel(), random[1]]).astype(dtype)
        d_xy = np.concatenate([c.ravel(), random[2]]).astype(dtype).astype(np.float64)
    m = d_xi.size
    sizes = rng.choice(np.array([1, 2, 3, 7, 1000, 2**40]), size=(3, m)).astype(np.int64)
    return d_xi, d_yi, d_xy, sizes


@pytest.mark.parametrize("dtype", DTYPES.values(), ids=DTYPES.keys())
@pytest.mark.parametrize("method", UPDATE_CODES)
def test_lance_williams_matches_header_bit_for_bit(blocks, method, dtype):
    code = UPDATE_CODES[method]
    d_xi, d_yi, d_xy, (size_x, size_y, size_i) = _lance_williams_cases(dtype)
    m = d_xi.size
    out = np.zeros(m, dtype)
    _launch(blocks(), f"lance_williams_cases<{CTYPES[dtype]}>", m, np.int32(code), np.int64(m),
            d_xi, d_yi, d_xy, size_x, size_y, size_i, out)
    expected = np.array([lance_williams(code, d_xi[t], d_yi[t], d_xy[t], size_x[t], size_y[t],
                                        size_i[t]) for t in range(m)]).astype(dtype)
    assert_same_bits(out, expected, f"{method} {dtype.__name__}")


@pytest.mark.parametrize("method", UPDATE_CODES)
def test_numpy_update_matches_compiled_bit_for_bit(method):
    """Backend 'numpy''s array update, one element at a time: every branch, huge sizes."""
    code = UPDATE_CODES[method]
    d_xi, d_yi, d_xy, (size_x, size_y, size_i) = _lance_williams_cases(np.float64)
    got = np.array([update_row(code, d_xi[t:t + 1], d_yi[t:t + 1], d_xy[t], size_x[t],
                               size_y[t], size_i[t:t + 1])[0] for t in range(d_xi.size)])
    expected = np.array([lance_williams(code, d_xi[t], d_yi[t], d_xy[t], size_x[t], size_y[t],
                                        size_i[t]) for t in range(d_xi.size)])
    assert_same_bits(got, expected, method)


# Scales of the distances: ordinary, squares subnormal, squares beyond float64 (the scaled
# pass), near float32's and near float64's largest (updates overflow).
SCALES = (1.0, 1e-160, 1e200, 3e37, 2e307)


def _square(n, dtype, scale, seed=0):
    """Euclidean distances between random points times `scale`, a few of them distorted
    (negative radicands: NaN), two equal points (a zero distance), +inf on the diagonal and a
    dead cluster (+inf row and column, size 0): the merge loops' input."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    X[6] = X[5]
    D = np.sqrt(((X[:, None, :] - X[None, :, :]) ** 2).sum(axis=-1))
    distort = np.triu(rng.random((n, n)) < 0.05, 1)
    D[distort] *= rng.uniform(0.2, 5.0, size=int(distort.sum()))
    D = np.triu(D, 1)
    with np.errstate(over="ignore"):  # float32 storage: huge distances become +inf
        D = ((D + D.T) * scale).astype(dtype)
    np.fill_diagonal(D, np.inf)
    size = rng.integers(1, 9, size=n).astype(np.int64)
    dead = n - 2
    D[dead, :] = np.inf
    D[:, dead] = np.inf
    size[dead] = 0
    return D, size


@pytest.mark.parametrize("dtype", DTYPES.values(), ids=DTYPES.keys())
@pytest.mark.parametrize("method", UPDATE_CODES)
@pytest.mark.parametrize("scale", SCALES)
def test_row_merge_matches_merge_into(blocks, method, dtype, scale):
    """merge_rows (a vectorised pass, then a scaled one for the marked entries) gives row y
    and the first overflow as merge_into does."""
    code = UPDATE_CODES[method]
    n = 150
    D, size = _square(n, dtype, scale)
    x, y = 3, 70
    d_xy = float(D[x, y])
    device = D.copy()
    overflow = np.zeros(1, np.int64)
    blocks().get_function(f"merge_into_matrix<{CTYPES[dtype]}>")(
        (1,), (THREADS,), (device, np.int64(n), np.int32(code), np.int64(x), np.int64(y),
                           d_xy, size, overflow))
    row_y = D[y].copy()
    first = merge_rows(code, D[x].copy(), row_y, d_xy, size[x], size[y], size, x, y)
    live = np.flatnonzero((size > 0) & (np.arange(n) != x) & (np.arange(n) != y))
    assert_same_bits(device[y, live], row_y[live], f"{method} row y")
    assert int(overflow[0]) == first


def _round_sizes(size, x, y, seed=0):
    """Sizes and ranks for x and y as pair t = 5 of a round (``cpu._round_rows``): clusters of
    the pairs before it (rank < t) have merged, into their new size or 0; those of later pairs
    and the others have not."""
    rng = np.random.default_rng(seed)
    n, t, m = size.shape[0], 5, 60
    rank = np.full(n, np.iinfo(np.int64).max)
    merged = rng.choice(np.setdiff1d(np.arange(n - 2), [x, y]), size=m, replace=False)
    rank[merged] = rng.integers(0, 2 * t, size=m)
    rank[[x, y]] = t
    size_after = size.copy()
    size_after[merged] = np.where(rng.random(m) < 0.3, 0, size[merged] + rng.integers(1, 9, m))
    size_after[x], size_after[y] = 0, size[x] + size[y]
    return size_after, rank, t


@pytest.mark.parametrize("method", UPDATE_CODES)
@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("in_round", [False, True], ids=["merge_rows", "merge_in_round"])
@pytest.mark.parametrize("sizes_as", [np.int64, np.float64], ids=["int64", "float64"])
def test_numpy_row_update_matches_merge_rows(method, scale, in_round, sizes_as):
    """Backend 'numpy' updates a whole row (with ward's sizes per column, a dead cluster and
    NaN from distorted distances) as merge_rows does, and as the rounds' merge of pair t does
    with ward's sizes as they are after the pairs before t (backend 'numpy' merges a round's
    pairs one by one); merge_rows given the sizes as float64 (as the CPU rounds give them)
    gives the same bits."""
    code = UPDATE_CODES[method]
    D, size = _square(150, np.float64, scale)
    x, y = 3, 70
    row_y = D[y].copy()
    if in_round:
        size_after, rank, t = _round_sizes(size, x, y)
        merge_rows(code, D[x].copy(), row_y, D[x, y], size[x], size[y], size.astype(sizes_as),
                   x, y, size_after.astype(sizes_as), rank, t)
        size = np.where(rank < t, size_after, size)
    else:
        merge_rows(code, D[x].copy(), row_y, D[x, y], size[x], size[y], size.astype(sizes_as),
                   x, y)
    got = update_row(code, D[x], D[y], D[x, y], size[x], size[y], size)
    live = np.flatnonzero((size > 0) & (np.arange(150) != x) & (np.arange(150) != y))
    assert_same_bits(got[live], row_y[live], method)


@pytest.mark.parametrize("dtype", DTYPES.values(), ids=DTYPES.keys())
@pytest.mark.parametrize("method", UPDATE_CODES)
def test_replay_matches_the_update_entry_by_entry(method, dtype):
    """The lazy rows' replay (``_lazy_matrix.replay``, with loops of its own for some codes)
    gives, entry after entry of a merge log, the bits of ``lance_williams`` on the row as it
    stands: special values, sizes up to 2**40, a row's own size other than 1."""
    code = UPDATE_CODES[method]
    rng = np.random.default_rng(3)
    n, m = 400, 150
    log = new_merge_log(n)
    slots = rng.permutation(n)[:2 * m]
    log.a[:m], log.b[:m] = slots[:m], slots[m:]
    log.h[:m] = rng.choice(SPECIAL[[3, 5, 7, 8]], size=m) * rng.uniform(0.5, 1.0, m)
    log.na[:m] = rng.choice(np.array([1, 2, 7, 1000, 2**40]), size=m)
    log.nb[:m] = rng.choice(np.array([1, 3, 5, 2**40]), size=m)
    with np.errstate(over="ignore"):  # float32 storage: huge operands become +inf
        row = np.where(rng.random(n) < 0.1, rng.choice(SPECIAL, size=n),
                       rng.exponential(size=n) * 10.0 ** rng.integers(-3, 3, n)).astype(dtype)
    for size_i in (1, 6):
        expected = row.copy()
        for t in range(m):
            a, b = log.a[t], log.b[t]
            expected[b] = lance_williams(code, expected[a], expected[b], log.h[t], log.na[t],
                                         log.nb[t], size_i)
            expected[a] = np.inf
        D = row[None, :].copy()
        log.last[0] = 0
        replay(D, 0, m, log, size_i, code)
        assert_same_bits(D[0], expected, f"{method} size_i={size_i}")


# -- metrics ---------------------------------------------------------------------------------
# minkowski's code takes a general p (1, 2 and inf become other codes, as in SciPy)
METRIC_KWARGS = {"minkowski": {"p": 3.0}}


def _observations(n=14, d=5, seed=1):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    X[rng.random((n, d)) < 0.3] = 0.0  # boolean metrics see both values
    X[2] = 0.0  # a zero row: 0/0 for cosine and braycurtis
    X[5] = 0.0
    X[7] = X[9]  # a repeated row: distance 0
    return X


@pytest.mark.parametrize("name", sorted(METRIC_CODES))
def test_metric_matches_header_bit_for_bit(blocks, name):
    metric = prepare_metric(_observations(), name, METRIC_KWARGS.get(name, {}))
    assert metric.code == METRIC_CODES[name]
    X = metric.X
    n, d = X.shape
    pair_i, pair_j = (v.astype(np.int64) for v in np.triu_indices(n, 1))
    count = pair_i.size
    out = np.zeros(count)
    vi = np.ascontiguousarray(metric.vi).reshape(-1)
    _launch(blocks(), "metric_pairs", count, np.int32(metric.code), np.int32(d),
            np.float64(metric.p), X, metric.aux, metric.weights, vi, np.int64(count), pair_i,
            pair_j, out)
    code, p, aux, weights, vi2 = metric.kernel_args
    pairwise = np.array([pair_distance(code, X, i, X, j, p, aux[i] if aux.size else 0.0,
                                       aux[j] if aux.size else 0.0, weights, vi2)
                         for i, j in zip(pair_i, pair_j)])
    condensed = np.zeros(count)
    condensed_distances(X, code, p, aux, weights, vi2, condensed)
    assert_same_bits(out, pairwise, f"{name}: pair_distance")
    assert_same_bits(out, condensed, f"{name}: condensed_distances")


# -- argmin ----------------------------------------------------------------------------------
def _argmin_rows(dtype):
    """Rows with ties at the minimum, a minimum at either end, NaN, all +inf, and a row whose
    only finite entries come before `start`."""
    rng = np.random.default_rng(2)
    tied = rng.integers(1, 4, size=300).astype(dtype)  # the minimum 1 many times
    first_and_last = np.full(300, 5.0, dtype)
    first_and_last[[0, 299]] = 0.5
    with_nan = rng.random(300).astype(dtype)
    with_nan[rng.random(300) < 0.3] = np.nan
    with_nan[[17, 211]] = np.float64(with_nan[~np.isnan(with_nan)].min())
    zeros = np.zeros(300, dtype)
    all_inf = np.full(300, np.inf, dtype)
    inf_and_nan = all_inf.copy()
    inf_and_nan[::3] = np.nan
    finite_below_start = all_inf.copy()
    finite_below_start[:40] = 1.0
    return {"tied": tied, "first_and_last": first_and_last, "with_nan": with_nan,
            "zeros": zeros, "all_inf": all_inf, "inf_and_nan": inf_and_nan,
            "finite_below_start": finite_below_start}


def _first_argmin(row, start):
    """The CPU's argmin, both paths (integer keys for non-negative rows, floats otherwise),
    which must agree."""
    keys = int_keys(row)
    by_float = first_argmin(row, keys, start, False)
    if np.all(np.isnan(row) | (row >= 0)):
        positive = np.where(np.isnan(row), np.abs(row), row)  # NaN's sign cleared, as merges do
        assert first_argmin(positive, int_keys(positive), start, True) == by_float
    return by_float


@pytest.mark.parametrize("row_name", sorted(_argmin_rows(np.float64)))
def test_numpy_first_minima_match_compiled_argmin(row_name):
    row = _argmin_rows(np.float64)[row_name]
    for start in (0, 1, 40, 299):
        (index,), (value,) = first_minima(row[None, start:])
        expected = _first_argmin(row, start)
        assert (index + start if index >= 0 else -1) == expected
        assert value == (row[expected] if expected >= 0 else np.inf)


@pytest.mark.parametrize("schedule", SCHEDULES)
@pytest.mark.parametrize("dtype", DTYPES.values(), ids=DTYPES.keys())
@pytest.mark.parametrize("row_name", sorted(_argmin_rows(np.float64)))
def test_argmin_matches_header_ties_to_lowest_index(blocks, row_name, dtype, schedule):
    row = _argmin_rows(dtype)[row_name]
    module = blocks(schedule)
    for start in (0, 1, 40, 299):
        expected = _first_argmin(row, start)
        index = np.zeros(1, np.int64)
        value = np.zeros(1)
        module.get_function(f"row_argmin<{CTYPES[dtype]}>")(
            (1,), (THREADS,), (row, np.int64(start), np.int64(row.size), index, value))
        assert int(index[0]) == expected, f"block argmin from {start}"
        grid = 4
        part_value = np.zeros(grid)
        part_index = np.zeros(grid, np.int64)
        ticket = np.zeros(1, np.uint32)
        module.get_function(f"grid_row_argmin<{CTYPES[dtype]}>")(
            (grid,), (THREADS,), (row, np.int64(start), np.int64(row.size), part_value,
                                  part_index, ticket, index, value))
        assert int(index[0]) == expected, f"grid argmin from {start}"
        assert ticket[0] == 0
        if expected >= 0:
            assert value[0] == row[expected]


def _first_argmin_or_inf(row, start):
    """argmin_none_or_inf's order: the first minimum, else the first +inf, else none (the
    largest int64); NaN never enters."""
    i = _first_argmin(row, start)
    if i >= 0:
        return i
    inf = np.flatnonzero(np.isposinf(row[start:]))
    return start + int(inf[0]) if inf.size else np.iinfo(np.int64).max


@pytest.mark.parametrize("schedule", SCHEDULES)
@pytest.mark.parametrize("grid, threads", [(4, THREADS), (37, 32)])
@pytest.mark.parametrize("dtype", DTYPES.values(), ids=DTYPES.keys())
def test_step_reductions_match_the_tie_rule_in_every_thread(blocks, dtype, grid, threads,
                                                             schedule):
    # the one-__syncthreads reductions of tournament_loop (block_argmin_pair_lead,
    # block_argmin_lead, grid_parts_argmin_pair): the same winners as argmin_take's order, in
    # every thread of the grid; 37 blocks: more parts than a warp's lanes, and NaN (which never
    # enters) before the rows, so that the blocks past the 32nd hold the candidates
    pad = 1050
    rows = {name: np.concatenate([np.full(pad, np.nan, dtype), row])
            for name, row in _argmin_rows(dtype).items()}
    names = sorted(rows)
    kernel = blocks(schedule).get_function(f"grid_pair_argmin<{CTYPES[dtype]}>")
    for name_a, name_b in zip(names, names[1:] + names[:1]):
        a, b = rows[name_a], rows[name_b]
        for start in (0, pad + 40, pad + 299):
            index = np.zeros((6, grid * threads), np.int64)
            value = np.zeros((6, grid * threads))
            kernel((grid,), (threads,), (a, b, np.int64(start), np.int64(a.size),
                                        np.zeros(6 * grid), np.zeros(6 * grid, np.int64),
                                        np.zeros(2, np.uint32), index, value))
            expected = [(_first_argmin(a, start), a), (_first_argmin_or_inf(b, start), b),
                        (_first_argmin(a, start), a), (np.iinfo(np.int64).max, None),
                        (_first_argmin(b, start), b), (_first_argmin_or_inf(a, start), a)]
            for j, (want, row) in enumerate(expected):
                where = f"{name_a}/{name_b} from {start}, result {j}"
                assert (index[j] == want).all(), where
                found = row[want] if row is not None and 0 <= want < row.size else np.inf
                assert (value[j] == np.float64(found)).all(), where


# -- heap ------------------------------------------------------------------------------------
def _numba_heap_sequence(size, count, seed):
    """The heap over random `min_dist`, then `count` random valid operations on it (see
    heap_sequence in the test kernel), with the CPU's heap. Values come from a few levels, so
    ties are common, and include +inf (a slot without a finite neighbour). Returns the inputs
    for the kernel and the CPU's arrays and tops."""
    rng = np.random.default_rng(seed)
    levels = np.array([0.0, 1.0, 1.0, 2.0, 3.5, np.inf])
    min_dist = levels[rng.integers(0, levels.size, size=size)]
    values = np.zeros(size)
    key_by_index = np.zeros(size, np.int64)
    index_by_key = np.zeros(size, np.int64)
    heap = (values, key_by_index, index_by_key)
    _heap.heapify(min_dist, *heap, size)
    op = rng.choice(np.array([0, 0, 0, 1, 2, 3], np.int32), size=count)
    arg = np.zeros(count, np.int64)
    val = levels[rng.integers(0, levels.size, size=count)]
    top_key = np.zeros(count, np.int64)
    top_value = np.zeros(count)
    live = size
    for t in range(count):
        position = rng.integers(0, live)
        if op[t] == 3 and live <= 1:
            op[t] = 0
        if op[t] == 0:  # a new value for a key in the heap
            arg[t] = key_by_index[position]
            _heap.change_value(*heap, live, arg[t], val[t])
        elif op[t] == 1:  # a smaller value at a position, sifted up
            arg[t] = position
            val[t] = min(val[t], values[position])
            values[position] = val[t]
            _heap.sift_up(*heap, position)
        elif op[t] == 2:  # a larger value at a position, sifted down
            arg[t] = position
            val[t] = max(val[t], values[position])
            values[position] = val[t]
            _heap.sift_down(*heap, live, position)
        else:  # the top removed
            live = _heap.remove_min(*heap, live)
        top_key[t] = key_by_index[0]
        top_value[t] = values[0]
    return (min_dist, op, arg, val), heap, (top_key, top_value)


@pytest.mark.parametrize("seed", range(4))
def test_heap_sequences_match_header(blocks, seed):
    size, count = 37, 200
    (min_dist, op, arg, val), heap, (top_key, top_value) = _numba_heap_sequence(size, count, seed)
    device = (np.zeros(size), np.zeros(size, np.int64), np.zeros(size, np.int64))
    device_top_key = np.zeros(count, np.int64)
    device_top_value = np.zeros(count)
    blocks().get_function("heap_sequence")(
        (1,), (32,), (np.int64(size), min_dist, *device, np.int64(count), op, arg, val,
                      device_top_key, device_top_value))
    np.testing.assert_array_equal(device_top_key, top_key)
    assert_same_bits(device_top_value, top_value, "tops")
    assert_same_bits(device[0], heap[0], "heap values")
    np.testing.assert_array_equal(device[1], heap[1])
    np.testing.assert_array_equal(device[2], heap[2])
