"""Tests of the CPU kernel simulator (gpuhclust._sim) with the kernels in tests/sim_kernels."""

import time
from pathlib import Path

import numpy as np
import pytest

from gpuhclust import _sim
from gpuhclust._sim import (SimulatorCompileError, SimulatorError, SimulatorUnavailable, compiler_available,
                            load_module)

KERNELS = Path(__file__).parent / "sim_kernels"
SCHEDULES = [("forward", 0), ("reverse", 0), ("random", 1), ("random", 2)]

pytestmark = pytest.mark.skipif(not compiler_available(), reason="no C++ compiler for the kernel simulator")


def _src(name):
    return (KERNELS / name).read_text()


def _load(name, exprs=(), **kw):
    return load_module(_src(name), list(exprs), filename=str(KERNELS / name), **kw)


REDUCE_EXPRS = ["block_sum<float>", "block_sum<double>", "block_sum_racy<float>", "read_uninit_tpl<float>",
                "read_uninit_tpl<int>"]
SHFL_TYPES = {"float": np.float32, "double": np.float64, "int": np.int32, "unsigned int": np.uint32,
              "long long": np.int64, "unsigned long long": np.uint64}


# ----------------------------------------------------------------------------- reductions, schedules


@pytest.mark.parametrize("schedule,seed", SCHEDULES)
@pytest.mark.parametrize("ctype,dtype", [("float", np.float32), ("double", np.float64)])
def test_block_sum_correct_in_every_schedule(schedule, seed, ctype, dtype):
    mod = _load("reduce.cu", REDUCE_EXPRS, schedule=schedule, seed=seed)
    rng = np.random.default_rng(5)
    n = 8 * 256 - 37  # a ragged last block
    x = rng.random(n).astype(dtype)
    out = np.full(8, -1, dtype)
    mod.get_function(f"block_sum<{ctype}>")((8,), (256,), (x, out, np.int32(n)))
    expect = np.add.reduceat(x.astype(np.float64), np.arange(0, n, 256))
    np.testing.assert_allclose(out, expect, rtol=1e-5 if dtype == np.float32 else 1e-12)


def test_missing_syncthreads_is_caught_by_some_schedule():
    x = np.arange(4 * 128, dtype=np.float32)
    expect = np.roll(x.reshape(4, 128), -1, axis=1).ravel()
    wrong = {}
    for schedule, seed in SCHEDULES:
        mod = _load("reduce.cu", REDUCE_EXPRS, schedule=schedule, seed=seed)
        out = np.zeros_like(x)
        mod.get_function("shift_nosync")((4,), (128,), (x, out))
        wrong[schedule, seed] = int(np.sum(out != expect))
        # the racy reduction: the tile is read before the other threads stored it
        xs = np.ones(256, np.float32)
        s = np.zeros(1, np.float32)
        mod.get_function("block_sum_racy<float>")((1,), (256,), (xs, s, np.int32(256)))
        wrong[schedule, seed, "sum"] = int(s[0] != 256)
    assert wrong[("forward", 0)] > 100  # each thread reads its right neighbour before it stored
    assert wrong[("reverse", 0)] >= 1   # only the wrap-around read misses
    assert wrong[("forward", 0, "sum")] or wrong[("reverse", 0, "sum")]


def test_random_schedule_is_reproducible_and_orders_differ():
    def order(schedule, seed, launches=1):
        mod = _load("atomics.cu", schedule=schedule, seed=seed)
        k = mod.get_function("ticket")
        res = []
        for _ in range(launches):
            counter = np.zeros(1, np.int32)
            o = np.full(3 * 64, -1, np.int32)
            k((3,), (64,), (counter, o))
            res.append(o)
        return res

    fwd = order("forward", 0)[0]
    np.testing.assert_array_equal(fwd, np.arange(192))
    rev = order("reverse", 0)[0]
    np.testing.assert_array_equal(rev, np.arange(192)[::-1])
    a1, a2 = order("random", 7, launches=2)
    b1, b2 = order("random", 7, launches=2)
    np.testing.assert_array_equal(a1, b1)
    np.testing.assert_array_equal(a2, b2)
    assert not np.array_equal(a1, a2)  # each launch draws new orders
    assert sorted(a1) == list(range(192))
    c1 = order("random", 8)[0]
    assert not np.array_equal(a1, c1)
    assert not np.array_equal(a1, fwd)


# ----------------------------------------------------------------------------- shared memory poison


def test_uninitialised_shared_memory_is_poisoned():
    mod = _load("reduce.cu", REDUCE_EXPRS)
    f = np.zeros(64, np.float32)
    k = np.zeros(64, np.int32)
    mod.get_function("read_uninit")((2,), (64,), (f, k))
    assert f[0] == 1.0 and k[0] == 7
    assert np.isnan(f[1:]).all()
    assert (k[1:] == -1).all()
    # static locals of template kernels live elsewhere (COMDAT); they are poisoned too
    tf = np.zeros(32, np.float32)
    ti = np.zeros(32, np.int32)
    mod.get_function("read_uninit_tpl<float>")((1,), (32,), (tf,))
    mod.get_function("read_uninit_tpl<int>")((1,), (32,), (ti,))
    assert tf[0] == 3 and np.isnan(tf[1:]).all()
    assert ti[0] == 3 and (ti[1:] == -1).all()


# ----------------------------------------------------------------------------- warp intrinsics


def _shfl_model(v, op, arg, width):
    """CUDA's documented shuffle semantics, written independently of the simulator."""
    out = np.empty_like(v)
    for i in range(v.size):
        lane = i % 32
        base = i - lane
        seg = lane - lane % width
        if op == 0:  # __shfl_sync: lane srcLane % width of my segment
            src = seg + arg % width
        elif op == 1:  # up: own value when the source falls before my segment
            src = lane - arg if lane % width >= arg else lane
        elif op == 2:  # down: own value when the source falls past my segment
            src = lane + arg if lane % width + arg < width else lane
        else:  # xor: earlier segments may be read, later ones give the own value
            src = lane ^ arg
            if src // width > lane // width or src > 31:
                src = lane
        out[i] = v[base + src]
    return out


@pytest.fixture(scope="module")
def warp_mod():
    return _load("warp.cu", [f"shfl_all<{t}>" for t in SHFL_TYPES], schedule="random", seed=3)


@pytest.mark.parametrize("ctype", list(SHFL_TYPES))
def test_shuffles_match_numpy_model(warp_mod, ctype):
    dtype = SHFL_TYPES[ctype]
    k = warp_mod.get_function(f"shfl_all<{ctype}>")
    rng = np.random.default_rng(0)
    n = 2 * 64
    if np.issubdtype(dtype, np.floating):
        v = (rng.standard_normal(n) * 1e3).astype(dtype)
    else:
        v = rng.integers(0, np.iinfo(dtype).max // 2, n, dtype=dtype, endpoint=True)
    cases = [(0, a, w) for w in (4, 8, 16, 32) for a in (0, 3, 5, 37)]
    cases += [(op, d, w) for op in (1, 2) for w in (4, 8, 16, 32) for d in (0, 1, 3, 4, 9, 31)]
    cases += [(3, m, w) for w in (4, 8, 16, 32) for m in (1, 2, 3, 5, 8, 16, 31)]
    for op, arg, width in cases:
        out = np.zeros_like(v)
        k((2,), (64,), (v, out, np.int32(op), np.int32(arg), np.int32(width)))
        np.testing.assert_array_equal(out, _shfl_model(v, op, arg, width), err_msg=f"op={op} arg={arg} w={width}")


def test_shuffle_with_bad_width_raises(warp_mod):
    v = np.zeros(32, np.float32)
    with pytest.raises(SimulatorError, match="width 6"):
        warp_mod.get_function("shfl_all<float>")((1,), (32,), (v, v.copy(), np.int32(0), np.int32(1), np.int32(6)))


def test_ballot_any_all(warp_mod):
    rng = np.random.default_rng(1)
    pred = (rng.random(128) < 0.5).astype(np.int32)
    pred[64:96] = 1  # a warp where all are true
    pred[96:128] = 0  # and one where none is
    ballot = np.zeros(128, np.uint32)
    anyv = np.zeros(128, np.int32)
    allv = np.zeros(128, np.int32)
    warp_mod.get_function("votes")((2,), (64,), (pred, ballot, anyv, allv))
    for w in range(4):
        p = pred[32 * w:32 * w + 32]
        expect = sum(1 << i for i in range(32) if p[i])
        assert (ballot[32 * w:32 * w + 32] == expect).all()
        assert (anyv[32 * w:32 * w + 32] == int(p.any())).all()
        assert (allv[32 * w:32 * w + 32] == int(p.all())).all()


def test_syncthreads_count_or_and(warp_mod):
    k = warp_mod.get_function("sync_count")
    for pred in (np.arange(96) % 3 == 0, np.ones(96, bool), np.zeros(96, bool)):
        p = pred.astype(np.int32)
        out = np.zeros(3 * 96, np.int32)
        k((1,), (96,), (p, out))
        assert (out[0::3] == p.sum()).all()
        assert (out[1::3] == int(p.any())).all()
        assert (out[2::3] == int(p.all())).all()


def test_warp_shuffle_reduction_with_atomic(warp_mod):
    x = np.random.default_rng(2).random(1000)
    total = np.zeros(1)
    warp_mod.get_function("warp_sum")((4,), (256,), (x, total, np.int32(1000)))
    assert total[0] == pytest.approx(x.sum(), rel=1e-12)


# ----------------------------------------------------------------------------- deadlocks and divergence


def test_divergent_syncthreads_raises_not_hangs(warp_mod):
    out = np.zeros(32, np.int32)
    t = time.perf_counter()
    with pytest.raises(SimulatorError, match=r"divergent_sync.*divergent __syncthreads.*block \(0,0,0\) thread"):
        warp_mod.get_function("divergent_sync")((1,), (32,), (out,))
    with pytest.raises(SimulatorError, match=r"two_barriers.*divergent __syncthreads.*warp.cu:\d+.*warp.cu:\d+"):
        warp_mod.get_function("two_barriers")((1,), (32,), (out,))
    assert time.perf_counter() - t < 5
    # the module is still usable after an abandoned launch
    test_ballot_any_all(warp_mod)


def test_warp_op_with_exited_lane_raises(warp_mod):
    out = np.zeros(32, np.int32)
    with pytest.raises(SimulatorError, match=r"shfl_exited.*__shfl_sync.*lane 0 .*has exited"):
        warp_mod.get_function("shfl_exited")((1,), (32,), (out,))


def test_partial_warp_full_mask_raises(warp_mod):
    v = np.zeros(48, np.float32)
    with pytest.raises(SimulatorError, match="do not exist"):
        warp_mod.get_function("shfl_all<float>")((1,), (48,), (v, v.copy(), np.int32(0), np.int32(1),
                                                                np.int32(32)))


# ----------------------------------------------------------------------------- atomics


@pytest.fixture(scope="module")
def atomics_mod():
    return _load("atomics.cu", schedule="random", seed=11)


def test_atomic_add_counts_exactly(atomics_mod):
    c = np.zeros(1, np.uint64)
    ci = np.zeros(1, np.int32)
    cf = np.zeros(1, np.float32)
    atomics_mod.get_function("count_all")((8,), (256,), (c, ci, cf))
    assert c[0] == 2048 and ci[0] == 2048 and cf[0] == 2048.0


def test_atomic_min_max_cas(atomics_mod):
    x = np.random.default_rng(4).integers(-500, 500, 1000).astype(np.int32)
    mn = np.array([2**31 - 1], np.int32)
    mx = np.array([-2**31], np.int32)
    umn = np.array([2**64 - 1], np.uint64)
    atomics_mod.get_function("min_max")((4,), (256,), (x, np.int32(1000), mn, mx, umn))
    assert mn[0] == x.min() and mx[0] == x.max() and umn[0] == x.min() + 1000
    slots = np.full(100, -1, np.int32)
    failures = np.zeros(1, np.int32)
    atomics_mod.get_function("claim")((2,), (64,), (slots, np.int32(100), failures))
    assert failures[0] == 28
    assert sorted(slots) == list(range(100)) or len(set(slots)) == 100
    hist = np.zeros(16, np.int32)
    atomics_mod.get_function("histogram")((3,), (64,), (x, np.int32(1000), hist))
    np.testing.assert_array_equal(hist, np.bincount(x & 15, minlength=16))


def test_three_dimensional_indices(atomics_mod):
    grid, block = (2, 3, 2), (4, 2, 3)
    nb, nt = 12, 24
    out = np.full(4 * nb * nt, -7, np.int32)
    atomics_mod.get_function("indices")(grid, block, (out,))
    o = out.reshape(nb * nt, 4)
    np.testing.assert_array_equal(o[:, 0], np.repeat(np.arange(nb), nt))
    tz, ty, tx = np.meshgrid(np.arange(3), np.arange(2), np.arange(4), indexing="ij")
    np.testing.assert_array_equal(o[:nt, 1], tx.ravel())
    np.testing.assert_array_equal(o[:nt, 2], ty.ravel())
    np.testing.assert_array_equal(o[:nt, 3], tz.ravel())


# ----------------------------------------------------------------------------- arguments


def test_arguments_by_value_and_pointer(atomics_mod):
    k = atomics_mod.get_function("args_probe")
    out = np.zeros(9)
    inp = np.array([2.5], np.float32)
    k((2, 3), (4, 5, 6), (out, inp, np.int32(-3), 2**40, np.float32(1.5), 0.25, True, np.uint32(4000000000)))
    np.testing.assert_array_equal(out, [2.5, -3, 2**40, 1.5, 0.25, 1, 4000000000, 231, 456])
    ro = inp.copy()
    ro.flags.writeable = False  # fine for a const pointer
    k(1, 1, (out, ro, np.int32(1), np.int64(2), np.float32(3), np.float64(4), np.bool_(False), np.uint32(5)))
    assert out[:7].tolist() == [2.5, 1, 2, 3, 4, 0, 5]


@pytest.mark.parametrize("position,bad,message", [
    (2, 3, r"argument 2 expects an integer value of 4 bytes, got int"),  # Python int is long long
    (4, 1.5, r"argument 4 expects a floating value of 4 bytes, got float"),
    (3, np.int32(1), r"argument 3 expects an integer value of 8 bytes, got int32"),
    (5, np.float32(1), r"argument 5 expects a floating value of 8 bytes"),
    (7, np.float32(1), r"argument 7 expects an integer value of 4 bytes"),
    (2, np.zeros(1, np.int32), r"argument 2 expects .* value .* got ndarray"),
    (0, np.float64(0), r"argument 0 expects a pointer"),
    (0, np.zeros(9, np.float32), r"argument 0 .* element type differs"),
    (1, np.zeros(9, np.int32), r"argument 1 .* element type differs"),
    (0, np.zeros((9, 2))[:, 0], r"argument 0 .*not C-contiguous"),
])
def test_argument_validation(atomics_mod, position, bad, message):
    args = [np.zeros(9), np.zeros(1, np.float32), np.int32(1), np.int64(2), np.float32(3), np.float64(4),
            np.bool_(True), np.uint32(5)]
    args[position] = bad
    with pytest.raises(TypeError, match=r"kernel args_probe: " + message):
        atomics_mod.get_function("args_probe")((1,), (1,), tuple(args))


def test_argument_count_and_readonly(atomics_mod):
    k = atomics_mod.get_function("args_probe")
    with pytest.raises(TypeError, match="args_probe takes 8 arguments, 2 given"):
        k((1,), (1,), (np.zeros(9), np.zeros(1, np.float32)))
    ro = np.zeros(1, np.int32)
    ro.flags.writeable = False
    with pytest.raises(TypeError, match="read-only"):
        atomics_mod.get_function("racy_count")((1,), (1,), (ro,))
    with pytest.raises(SimulatorError, match="exceeds"):
        atomics_mod.get_function("racy_count")((1,), (33, 32), (np.zeros(1, np.int32),))
    with pytest.raises(KeyError, match="no kernel"):
        atomics_mod.get_function("nope")


def test_modules_on_one_library_keep_their_own_ctypes_functions(atomics_mod):
    # Modules built from the same source share one loaded library. Their kernels must not
    # share ctypes function objects: each sets argtypes on its own, and a shared one set from
    # another thread (Dask workers in one process) freed the converters of a call in flight.
    other = _load("atomics.cu", schedule="random", seed=11)
    assert other._lib is atomics_mod._lib
    mine, theirs = atomics_mod.get_function("count_all"), other.get_function("count_all")
    assert mine._launch is not theirs._launch
    theirs._launch.argtypes = None  # what a second module may do to its own function
    assert mine._launch.argtypes is not None
    c, ci, cf = np.zeros(1, np.uint64), np.zeros(1, np.int32), np.zeros(1, np.float32)
    mine((2,), (32,), (c, ci, cf))
    assert c[0] == 64 and ci[0] == 64 and cf[0] == 64.0


def test_compile_error_is_reported(tmp_path, monkeypatch):
    monkeypatch.setenv("GPUHCLUST_SIM_CACHE", str(tmp_path))
    with pytest.raises(SimulatorCompileError, match="broken.cu:2"):
        load_module('extern "C" __global__ void k(int* x) {\n  x[0] = undeclared;\n}\n', filename="broken.cu")


def test_simulator_unavailable_without_compiler(tmp_path, monkeypatch):
    monkeypatch.setenv("GPUHCLUST_SIM_CACHE", str(tmp_path))
    monkeypatch.setenv("CXX", str(tmp_path / "no-such-compiler"))
    assert not compiler_available()
    with pytest.raises(SimulatorUnavailable, match="no-such-compiler"):
        load_module('extern "C" __global__ void k(int* x) { x[0] = 1; }\n// unique 1\n')
    assert not list(tmp_path.iterdir())


def test_extern_c_kernel_discovery():
    code = ('/* extern "C" __global__ void commented(int*) */\n'
            'extern "C" __global__ void __launch_bounds__(256) a(int* x) {}\n'
            'extern "C" __global__ __launch_bounds__(128, 2) void b(int* x) {}\n'
            'template <class T> __global__ void c(T* x) {}\n'
            'extern "C" __device__ void d(int* x) {}\n')
    assert _sim.find_extern_c_kernels(code) == ["a", "b"]


def test_launch_cost(atomics_mod):
    k = atomics_mod.get_function("racy_count")  # trivial kernel
    c = np.zeros(1, np.int32)
    k((8,), (256,), (c,))
    t = time.perf_counter()
    for _ in range(5):
        k((8,), (256,), (c,))
    per_launch = (time.perf_counter() - t) / 5
    assert c[0] == 6 * 2048  # fibers never interleave inside a plain read-modify-write
    assert per_launch < 0.25, per_launch  # ~5-15 ms expected; generous for loaded CI machines


# ----------------------------------------------------------------------------- std::thread build


def test_threads_build_runs_correct_kernels():
    mod = _load("reduce.cu", ["block_sum<double>"], schedule="threads")
    x = np.random.default_rng(6).random(4 * 128)
    out = np.zeros(4)
    mod.get_function("block_sum<double>")((4,), (128,), (x, out, np.int32(x.size)))
    np.testing.assert_allclose(out, x.reshape(4, -1).sum(1), rtol=1e-12)
    wm = _load("warp.cu", schedule="threads")
    with pytest.raises(SimulatorError, match="divergent __syncthreads"):
        wm.get_function("divergent_sync")((1,), (32,), (np.zeros(32, np.int32),))
    total = np.zeros(1)
    wm.get_function("warp_sum")((2,), (64,), (x, total, np.int32(128)))
    assert total[0] == pytest.approx(x[:128].sum(), rel=1e-12)


# ----------------------------------------------------------------------------- grid-wide barriers

KERNEL_DIR = Path(__file__).resolve().parent.parent / "kernels"


def _grid(**kw):
    return load_module(_src("grid.cu"), include_dirs=[str(KERNEL_DIR)],
                       filename=str(KERNELS / "grid.cu"), **kw)


@pytest.mark.parametrize("schedule,seed", SCHEDULES)
@pytest.mark.parametrize("blocks,n", [(1, 50), (3, 150), (4, 256)])
def test_grid_sync_orders_every_block_in_every_schedule(schedule, seed, blocks, n):
    # each step moves every value one slot, across blocks: only a barrier of the whole grid
    # gives out[i] = i - steps; each block's shared memory survives the others' turns
    mod = _grid(schedule=schedule, seed=seed)
    steps = 5
    a = np.full(2 * n, -7, dtype=np.int64)
    out = np.zeros(n, dtype=np.int64)
    barrier = np.zeros(2, dtype=np.uint32)
    mod.get_function("shift")((blocks,), (64,), (a, np.int64(n), np.int32(steps), barrier, out))
    np.testing.assert_array_equal(out, (np.arange(n) - steps) % n)


@pytest.mark.parametrize("skip", [0, 2])
def test_grid_sync_that_a_block_skips_raises_not_hangs(skip):
    mod = _grid()
    with pytest.raises(SimulatorError, match="divergent grid sync"):
        mod.get_function("skip_barrier")((3,), (32,), (np.int64(skip), np.zeros(2, np.uint32)))


def test_grid_sync_against_syncthreads_raises():
    mod = _grid()
    with pytest.raises(SimulatorError, match="divergent grid sync.*__syncthreads"):
        mod.get_function("split_barrier")((2,), (64,), (np.zeros(2, np.uint32),))


def test_threads_build_runs_grid_sync_in_one_block_only():
    mod = _grid(schedule="threads")
    n = 60
    out = np.zeros(n, dtype=np.int64)
    mod.get_function("shift")((1,), (64,), (np.zeros(2 * n, np.int64), np.int64(n), np.int32(3),
                                            np.zeros(2, np.uint32), out))
    np.testing.assert_array_equal(out, (np.arange(n) - 3) % n)
    with pytest.raises(SimulatorError, match="threads build"):
        mod.get_function("skip_barrier")((2,), (32,), (np.int64(-1), np.zeros(2, np.uint32)))


def test_grid_barriers_are_counted():
    with _sim.counting() as c:
        mod = _grid()
        n = 100
        mod.get_function("shift")((2,), (64,), (np.zeros(2 * n, np.int64), np.int64(n), np.int32(3),
                                                np.zeros(2, np.uint32), np.zeros(n, np.int64)))
    assert c.kernels["shift"].grid_barriers == 1 + 2 * 3


def test_an_edited_header_is_a_new_library(tmp_path):
    # the cache key covers the headers of the include directories, not the source alone
    source = '#include "value.h"\nextern "C" __global__ void k(int* x) { x[0] = VALUE; }\n'
    out = np.zeros(1, dtype=np.int32)
    for value in (1, 2):
        (tmp_path / "value.h").write_text(f"#define VALUE {value}\n")
        load_module(source, include_dirs=[str(tmp_path)]).get_function("k")((1,), (1,), (out,))
        assert out[0] == value


_TSAN_PRELUDE = """
import numpy as np, pathlib
from gpuhclust._sim import load_module, tsan_active
assert tsan_active()
K = pathlib.Path({kernels!r})
def load(name, exprs=()):
    return load_module((K / name).read_text(), list(exprs), schedule="threads", filename=str(K / name))
"""


def _tsan(body):
    if _sim.tsan_runtime() is None:
        pytest.skip("the C++ compiler has no ThreadSanitizer runtime")
    return _sim.run_under_tsan(_TSAN_PRELUDE.format(kernels=str(KERNELS)) + body, timeout=240)


@pytest.mark.slow
def test_tsan_correct_kernels_run_clean():
    r = _tsan("""
m = load("reduce.cu", ["block_sum<float>"])
x = np.random.rand(512).astype(np.float32); out = np.zeros(2, np.float32)
m.get_function("block_sum<float>")((2,), (256,), (x, out, np.int32(512)))
assert np.allclose(out, x.reshape(2, -1).sum(1), rtol=1e-5)
w = load("warp.cu")
xd = np.random.rand(256); total = np.zeros(1)
w.get_function("warp_sum")((2,), (128,), (xd, total, np.int32(256)))
assert abs(total[0] - xd.sum()) < 1e-9
a = load("atomics.cu")
xi = np.arange(300, dtype=np.int32); hist = np.zeros(16, np.int32)
a.get_function("histogram")((2,), (64,), (xi, np.int32(300), hist))
assert (hist == np.bincount(xi & 15, minlength=16)).all()
print("clean-ok")
""")
    assert r.returncode == 0, r.stderr[-4000:]
    assert "clean-ok" in r.stdout
    assert "ThreadSanitizer" not in r.stderr


@pytest.mark.slow
def test_tsan_reports_races():
    # Both modules are loaded before the first report: TSan symbolises only the
    # modules that were loaded when it printed its first report.
    r = _tsan("""
a = load("atomics.cu")
m = load("reduce.cu", ["block_sum_racy<float>"])
c = np.zeros(1, np.int32)
a.get_function("racy_count")((1,), (64,), (c,))
x = np.ones(256, np.float32); out = np.zeros(1, np.float32)
m.get_function("block_sum_racy<float>")((1,), (256,), (x, out, np.int32(256)))
print("ran")
""")
    assert "ran" in r.stdout, r.stderr[-4000:]
    assert r.returncode == 66 and r.data_race
    assert "racy_count" in r.stderr
    # the missing barrier after the load is found too: the barrier edges are precise
    assert "block_sum_racy" in r.stderr


def test_cuda_builtins_and_math_constants():
    mod = _load("builtins.cu")
    out = np.zeros(11)
    fout = np.zeros(64, np.float32)
    fout[40] = 2.0
    mod.get_function("builtins")((1,), (64,), (out, fout, np.array([0, 42], np.int32)))
    assert out[0] == 3 and out[1] == 2.0 and out[2] == 1.0 and np.isinf(out[3]) and np.isinf(out[4])
    assert out[5] == 8 + 400 and out[6] == 42 and out[7] == 0x3FF00000 and out[8] == 7 and out[9] == 32
    assert out[10] == 3.0
    assert fout[0] == 1.0 and np.isnan(fout[1:32]).all()
    assert fout[40] == 5.0 and fout[41] == 2.0
