"""The simulator's counters (gpuhclust._sim.counting) on kernels whose counts are known exactly
(tests/sim_kernels/counters.cu), on the CUDA backend's host syncs, and the cost model's rules."""
from __future__ import annotations

import ctypes
import json
from pathlib import Path

import numpy as np
import pytest

import gpuhclust
from gpuhclust import _sim
from gpuhclust._progress import chunk_ends
from gpuhclust._sim import cost_model
from gpuhclust.cuda._context import SimContext
from gpuhclust.cuda.backend import SimBackend

KERNELS = Path(__file__).parent / "sim_kernels"
SOURCE = (KERNELS / "counters.cu").read_text()

pytestmark = pytest.mark.skipif(not _sim.compiler_available(), reason="no C++ compiler for the kernel simulator")


def _counted(kernel, grid, block, args, source=SOURCE, schedule="forward"):
    """The counters of one launch of `kernel` in a counting build."""
    with _sim.counting() as c:
        module = _sim.load_module(source, schedule=schedule, filename=str(KERNELS / "counters.cu"))
        module.get_function(kernel)(grid, block, args)
    (launch,) = c.records
    assert launch.kernel == kernel and launch.grid == (grid[0], 1, 1)
    return launch.counters


@pytest.mark.parametrize("n", [32, 64, 200])
def test_row_by_row_float32_matrix_writes_n2_times_4_over_32_sectors(n):
    out = np.zeros((n, n), np.float32)
    c = _counted("write_rows", (n,), (64,), (out, np.int32(n)))
    assert np.array_equal(out, np.tile(np.arange(n, dtype=np.float32), (n, 1)))
    assert c["sectors_written"] == n * n * 4 // 32
    assert c["warp_sectors_written"] == n * n * 4 // 32
    assert c["bytes_written"] == n * n * 4
    assert c["write_instructions"] == n * -(-n // 32)  # each row: one store per warp pass
    assert c["sectors_read"] == c["read_instructions"] == 0


def test_breaking_coalescing_costs_one_sector_per_lane():
    n = 64
    good = _counted("write_rows", (n,), (64,), (np.zeros((n, n), np.float32), np.int32(n)))
    # the mutation: the same kernel with the row and column indices swapped
    mutated = SOURCE.replace("out[(long long)blockIdx.x * n + j]", "out[(long long)j * n + blockIdx.x]")
    assert mutated != SOURCE
    out = np.zeros((n, n), np.float32)
    bad = _counted("write_rows", (n,), (64,), (out, np.int32(n)), source=mutated)
    assert np.array_equal(out.T, np.tile(np.arange(n, dtype=np.float32), (n, 1)))
    assert good["sectors_written"] == n * n // 8
    assert bad["sectors_written"] == n * n  # a float every n * 4 bytes: one sector per lane
    assert bad["write_instructions"] == good["write_instructions"]
    assert bad["bytes_written"] == good["bytes_written"]
    cols = _counted("write_cols", (n,), (64,), (np.zeros((n, n), np.float32), np.int32(n)))
    assert cols["sectors_written"] == n * n


@pytest.mark.parametrize("stride,sectors", [(1, 8), (2, 16), (4, 32), (64, 32)])
def test_strided_reads_cost_distinct_sectors_per_warp(stride, sectors):
    threads = 64
    a = np.arange(threads * 64, dtype=np.float64)
    out = np.zeros(threads)
    c = _counted("read_strided", (1,), (threads,), (a, out, np.int32(stride)))
    assert np.array_equal(out, a[::stride][:threads])
    assert c["read_instructions"] == 2  # two warps, one load each
    assert c["sectors_read"] == 2 * sectors
    assert c["sectors_written"] == 2 * 8  # out[i]: 32 doubles per warp


def test_sectors_are_counted_as_for_a_device_allocation():
    # a 256-byte aligned allocation whatever NumPy's alignment; a view keeps its offset into it
    x = np.ones(129, np.float32)
    whole = _counted("warp_sum", (2,), (64,), (x[:128].copy(), np.zeros(4, np.float32)))
    shifted = _counted("warp_sum", (2,), (64,), (x[1:], np.zeros(4, np.float32)))
    assert whole["sectors_read"] == 4 * 4
    assert shifted["sectors_read"] == 4 * 5  # 128 bytes from byte 4 of a sector: 5 sectors


@pytest.mark.parametrize("blocks,rounds", [(1, 1), (3, 5), (4, 17)])
def test_block_barriers_exact(blocks, rounds):
    out = np.zeros(blocks, np.float32)
    c = _counted("barriers", (blocks,), (64,), (np.int32(rounds), out))
    assert np.all(out == rounds - 1)
    assert c["block_barriers"] == blocks * rounds
    assert c["shared_accesses"] == blocks * (64 * rounds + 1)  # the tile is not global memory
    assert c["sectors_written"] == blocks and c["sectors_read"] == 0


def test_warp_operations_exact():
    blocks, threads = 3, 96
    x = np.ones(blocks * threads, np.float32)
    out = np.zeros(blocks * threads // 32, np.float32)
    c = _counted("warp_sum", (blocks,), (threads,), (x, out))
    assert np.all(out == 32)
    assert c["warp_ops"] == blocks * (threads // 32) * 6  # five shuffles and a ballot per warp
    assert c["block_barriers"] == 0


def test_atomics_exact_global_and_shared():
    total = np.zeros(1, np.int32)
    c = _counted("count_threads", (5,), (64,), (total,))
    assert total[0] == 5 * 64
    assert c["atomics"] == 5 * 64
    assert c["shared_atomics"] == 5 * 64


@pytest.mark.parametrize("steps", [1, 40])
def test_serial_section_in_thread_zero(steps):
    blocks = 2
    nxt = np.arange(1, 101, dtype=np.int32)
    out = np.zeros(blocks, np.int32)
    c = _counted("serial_walk", (blocks,), (64,), (nxt, np.int32(steps), out))
    assert np.all(out == steps)
    assert c["serial_reads"] == blocks * steps
    assert c["serial_accesses"] == blocks * (steps + 1)  # and the store of the result
    # a round where every thread touches memory is not serial
    parallel = _counted("write_rows", (4,), (64,), (np.zeros((4, 64), np.float32), np.int32(64)))
    assert parallel["serial_accesses"] == 0


def test_counts_do_not_depend_on_the_schedule():
    n = 48
    counts = [_counted("write_cols", (n,), (64,), (np.zeros((n, n), np.float32), np.int32(n)), schedule=s)
              for s in ("forward", "reverse", "random")]
    assert counts[0] == counts[1] == counts[2]


def test_ordinary_builds_carry_no_instrumentation():
    plain = _sim.load_module(SOURCE)
    with _sim.counting():
        counting = _sim.load_module(SOURCE)
    assert not plain.counting and counting.counting
    assert plain._lib is not counting._lib  # cached under separate keys

    def exports(lib, name):
        try:
            getattr(lib, name)
            return True
        except AttributeError:
            return False

    for name in ("gpusim_count_take", "__tsan_read4", "__tsan_write8"):
        assert exports(counting._lib, name)
        assert not exports(plain._lib, name)
    # a plain module launched inside counting() records nothing, and nothing leaks out of a session
    with _sim.counting() as c:
        plain.get_function("write_rows")((2,), (32,), (np.zeros((2, 32), np.float32), np.int32(32)))
    assert c.launches == 0
    counting.get_function("write_rows")((2,), (32,), (np.zeros((2, 32), np.float32), np.int32(32)))
    assert not _sim._counters.active()


def test_counting_needs_the_fiber_build():
    with _sim.counting(), pytest.raises(ValueError, match="fiber build"):
        _sim.load_module(SOURCE, schedule="threads")


def _chunks(n):
    class Bar:
        def update(self, _):
            pass

    return sum(1 for _ in chunk_ends(n - 1, Bar()))


@pytest.mark.parametrize("method,algorithm,loop", [("average", "nn_chain", "nn_chain_loop"),
                                                   ("centroid", "generic", "generic_loop")])
def test_linkage_counts_launches_and_host_syncs(method, algorithm, loop):
    n = 40
    X = np.random.default_rng(3).standard_normal((n, 3))
    plain = gpuhclust.linkage(X, method, backend="cuda-sim", engine="matrix", algorithm=algorithm)
    with _sim.counting() as c:
        Z = gpuhclust.linkage(X, method, backend="cuda-sim", engine="matrix", algorithm=algorithm)
    assert np.array_equal(Z, plain)  # counting does not change results
    chunks = _chunks(n)
    assert c.kernels[f"{loop}<double>"].launches == chunks
    assert c.kernels[f"{loop}<double>"].grid_barriers == 0
    assert c.kernels["pairwise_tiles<double>"].launches == 1
    # a stream sync after each chunk's loop, and the read of the merges at the end
    assert c.host_syncs == chunks + 1
    assert c.launches == sum(k.launches for k in c.kernels.values())
    assert c.total("sectors_written") > 0 and c.kernels[f"{loop}<double>"].serial_accesses > 0


def test_linkage_prim_runs_one_launch_per_chunk_and_a_grid_barrier_per_merge():
    n = 100
    X = np.random.default_rng(4).standard_normal((n, 2))
    with _sim.counting() as c:
        gpuhclust.linkage(X, "single", backend=SimBackend(SimContext(loop_threads=32)),
                          engine="vector")
    loop = c.kernels["prim_loop_observations"]
    assert loop.launches == c.host_launches == _chunks(n) and c.graph_launches == 0
    assert loop.grid_barriers == n - 1
    assert {r.grid for r in c.records} == {(4, 1, 1)}  # every block of the grid at each barrier


# ----------------------------------------------------------------------------- the cost model


def test_bandwidth_one_block_one_sm_full_device_from_64_blocks():
    device = cost_model.load_device()
    assert cost_model.bandwidth(1, device) == device["one_block_bandwidth"] == 50e9
    assert cost_model.bandwidth(64, device) == cost_model.bandwidth(1000, device) == 4.0e12
    mid = [cost_model.bandwidth(b, device) for b in (2, 16, 32, 63)]
    assert all(50e9 < x < 4.0e12 for x in mid) and mid == sorted(mid)


def test_one_block_launch_is_bandwidth_bound_at_one_sm():
    device = cost_model.load_device()
    sectors = 1e6
    p = cost_model.LaunchProfile(blocks=1, threads_per_block=1024, sectors_read=sectors, sectors_written=0,
                                 dram_sectors_read=sectors, dram_sectors_written=0, memory_ops=1e6,
                                 warp_ops=0, block_barriers=0, serial_reads=0)
    one = cost_model.launch_seconds(p, device, "float32")
    assert one["bound"] == "memory"
    assert one["memory"] == pytest.approx(32 * sectors / 50e9)
    wide = cost_model.launch_seconds(cost_model.LaunchProfile(**{**p.__dict__, "blocks": 128}), device, "float32")
    assert wide["memory"] == pytest.approx(32 * sectors / 4.0e12)


def test_sectors_written_in_part_are_counted_per_warp():
    """A column write leaves every sector partly unwritten, in float32 and float64 alike; whole
    rows (32-byte aligned) and a lane filling its own sector over eight stores leave none."""
    n = 64
    cols = _counted("write_cols", (n,), (64,), (np.zeros((n, n), np.float32), np.int32(n)))
    assert cols["warp_partial_sectors_written"] == cols["warp_sectors_written"] == n * n
    wide = _counted("write_cols_double", (n,), (64,), (np.zeros((n, n)), np.int32(n)))
    assert wide["warp_partial_sectors_written"] == n * n
    rows = _counted("write_rows", (n,), (64,), (np.zeros((n, n), np.float32), np.int32(n)))
    assert rows["warp_partial_sectors_written"] == 0
    own = _counted("fill_own_sector", (1,), (32,), (np.zeros(32 * 8, np.float32),))
    assert own["warp_sectors_written"] == 32 and own["warp_partial_sectors_written"] == 0
    # rows of 36 floats (144 bytes) start mid-sector: their end sectors are shared by two rows
    odd = _counted("write_rows", (4,), (64,), (np.zeros((4, 36), np.float32), np.int32(36)))
    assert 0 < odd["warp_partial_sectors_written"] < odd["warp_sectors_written"]


@pytest.mark.parametrize("stride, gathered", [(1, 0), (2, 0), (4, 0), (32, 2 * 32), (64, 2 * 32)])
def test_sectors_read_in_part_by_a_spread_load_are_gathers(stride, gathered):
    """A load whose lanes' sectors lie far apart is a gather: each sector read for 8 of its 32
    bytes (stride 32 and 64 doubles, 8 and 16 sectors apart). Stride 1 reads 8 whole sectors
    per warp; strides 2 and 4 use part of each of 16 and 32 adjacent sectors, a stretch the
    device streams. A value broadcast to the warp is one sector per load, not a gather."""
    threads = 64
    a = np.arange(threads * 64, dtype=np.float64)
    c = _counted("read_strided", (1,), (threads,), (a, np.zeros(threads), np.int32(stride)))
    assert c["warp_partial_sectors_read"] == gathered
    b = _counted("read_broadcast", (4,), (64,), (a, np.zeros(4 * 64)))
    assert b["warp_sectors_read"] == 4 * 2 and b["warp_partial_sectors_read"] == 0


def test_gathered_sectors_cost_the_device_rate_for_them():
    """Within the memory term, gathered sectors are charged at the device's rate for them and
    the launch's other sectors at its bandwidth; gathers cost more than the same sectors
    streamed."""
    device = cost_model.load_device()
    sectors, gathered = 1e8, 4e7
    base = dict(blocks=1056, threads_per_block=256, sectors_read=sectors, sectors_written=0,
                dram_sectors_read=sectors, dram_sectors_written=0, memory_ops=sectors,
                warp_ops=0, block_barriers=0, serial_reads=0)
    streamed = cost_model.launch_seconds(cost_model.LaunchProfile(**base), device, "float32")
    mixed = cost_model.launch_seconds(cost_model.LaunchProfile(
        **base, partial_sectors_read=gathered), device, "float32")
    assert mixed["memory"] == pytest.approx(32 * (sectors - gathered) / device["hbm_bandwidth"]
                                            + gathered / device["gathered_sector_reads"])
    assert mixed["bound"] == "memory" and mixed["memory"] > streamed["memory"]
    # one block's gathers are no faster than its bandwidth
    one = cost_model.launch_seconds(cost_model.LaunchProfile(
        **{**base, "blocks": 1}, partial_sectors_read=gathered), device, "float32")
    assert one["memory"] == pytest.approx(32 * sectors / device["one_block_bandwidth"])


def test_sectors_written_in_part_cost_the_device_rate():
    """Such sectors are charged at the device's rate for them; the same sectors written whole
    are not charged that term at all."""
    device = cost_model.load_device()
    sectors = 1e8
    base = dict(blocks=1056, threads_per_block=256, sectors_read=0, sectors_written=sectors,
                dram_sectors_read=0, dram_sectors_written=sectors, memory_ops=32 * sectors,
                warp_ops=0, block_barriers=0, serial_reads=0)
    column = cost_model.launch_seconds(cost_model.LaunchProfile(
        **base, partial_sectors_written=sectors), device, "float32")
    assert column["bound"] == "partial"
    assert column["partial"] == pytest.approx(sectors / device["partial_sector_writes"])
    whole = cost_model.launch_seconds(cost_model.LaunchProfile(**base), device, "float32")
    assert whole["partial"] == 0.0 and whole["bound"] != "partial"
    assert whole["seconds"] < column["seconds"]


def test_calibration_file_replaces_figures_and_refuses_unknown_ones(tmp_path):
    good = tmp_path / "cal.json"
    good.write_text(json.dumps({"figures": {"launch_host": 5e-6, "one_block_bandwidth": 60e9}}))
    device = cost_model.load_device(good)
    assert device["launch_host"] == 5e-6 and device["one_block_bandwidth"] == 60e9
    assert device["hbm_bandwidth"] == cost_model.H200["hbm_bandwidth"]
    assert "calibrated" in device["source"]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"figures": {"warp_speed": 9}}))
    with pytest.raises(ValueError, match="warp_speed"):
        cost_model.load_device(bad)


def test_ctypes_layout_matches_the_counter_list():
    from gpuhclust._sim import loader

    assert [f[0] for f in loader._Counters._fields_] == list(_sim._counters.LAUNCH_COUNTERS)
    assert ctypes.sizeof(loader._Counters) == 8 * len(_sim._counters.LAUNCH_COUNTERS)
