"""Measurements for a real CUDA device (run by benchmarks/gpu_session.sh; needs CuPy and a GPU).

Subcommands:

- ``calibrate --out FILE``: microbenchmarks of the cost model's device figures
  (``gpuhclust/_sim/cost_model.py``: launch cost, one-block and full-device bandwidth, the blocks
  needed for full bandwidth, the grid barrier of kernels/grid.cuh in a cooperative launch,
  scattered sector writes from one SM, sectors written in part by the whole device (a column
  write into a matrix beyond L2), host sync, __syncthreads, shuffle, a dependent access,
  FP32/FP64 rates), written
  as the calibration file ``gpu_model.py --calibration`` reads. Each figure is measured on its
  own; one that fails is reported under "errors" and keeps the table's value.
- ``time --model FILE --out FILE [--budget S]``: times ``linkage`` at the issues' target sizes
  (matrix n = 100,000, d = 64, every method, float32 and float64; vector n = 10^6, d = 32),
  after a check group at n = 10,000 that compares Z with backend='cpu'; each group in its own
  process with a timeout; one JSON line per run, appended as it finishes, then each row gets
  the model's estimate for the same method, size, dtype and algorithm.
- ``group NAME --out FILE``: one group's runs in this process (used by ``time``).
- ``readme FILE... [--model FILE]``: README.md's table of the measured times.
- ``profile METHOD N D ENGINE DTYPE --out FILE``: one linkage taken apart: device time per
  kernel, host time per function, the run's counters.
- ``sanitize-target``: a small linkage through every kernel family (run under compute-sanitizer).

Every subcommand takes ``--dry-run``: print the plan, import no CuPy, touch nothing.
"""
from __future__ import annotations

import argparse
import datetime
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

STREAM_BYTES = 1 << 30        # the array streamed by the bandwidth tests (1 GiB: beyond L2)
BANDWIDTH_BLOCKS = (1, 2, 4, 8, 16, 32, 64, 128, 264, 1056)
REPEAT = 2000                 # launches / syncs averaged over
COLUMN_BYTES = 2 << 30        # the matrix of the column writes (beyond L2)
SMS_BLOCKS = 8                # blocks per SM of the device-wide microbenchmarks
CHECK_N = 10_000              # the check group: Z on the GPU against backend='cpu'
MATRIX_TARGET = (100_000, 64)  # n, d of the matrix targets (issues 13 and 14)
VECTOR_TARGET = (1_000_000, 32)  # n, d of the vector engine's targets (issue 14)
MATRIX_METHODS = ("complete", "average", "weighted", "ward", "single", "centroid", "median")
VECTOR_METHODS = ("ward", "single", "centroid", "median")
GROUP_TIMEOUT = {"check": 90, "check-vector": 60, "matrix-float32": 60, "matrix-float64": 70,
                 "vector": 150}

MICRO_SOURCE = r"""
extern "C" __global__ void empty() {}

extern "C" __global__ void stream_sum(const float4* x, long long n4, float* out) {
    float s = 0.f;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n4;
         i += (long long)gridDim.x * blockDim.x) {
        const float4 v = x[i];
        s += v.x + v.y + v.z + v.w;
    }
    if (s == -1.f) out[0] = s;  // keeps the loads; never true for the data used
}

// One block writes one float into each of `count` sectors in a scattered order.
extern "C" __global__ void scattered_writes(float* x, const int* order, int count) {
    for (int i = threadIdx.x; i < count; i += blockDim.x) x[(long long)order[i] * 8] = 1.f;
}

// The grid writes one float into each of `ncols` columns of every row of a row-major matrix far
// larger than L2 (`ld` floats per row, not a power of two, as a matrix of n = 100,003), as a
// merge writes its column: the lanes of a warp write consecutive rows, so each store is a sector
// of its own, written in part.
extern "C" __global__ void column_writes(float* x, long long ld, long long rows, const int* cols,
                                         int ncols) {
    const long long total = rows * ncols;
    for (long long t = blockIdx.x * (long long)blockDim.x + threadIdx.x; t < total;
         t += (long long)gridDim.x * blockDim.x)
        x[(t % rows) * ld + cols[t / rows]] = 1.f;
}

// The same columns read instead (the rounds' rescans and merges read a younger cluster's
// distances down its row's column): each load a sector of its own, fetched whole for 4 bytes.
extern "C" __global__ void column_reads(const float* x, long long ld, long long rows,
                                        const int* cols, int ncols, float* out) {
    const long long total = rows * ncols;
    float s = 0.f;
    for (long long t = blockIdx.x * (long long)blockDim.x + threadIdx.x; t < total;
         t += (long long)gridDim.x * blockDim.x)
        s += x[(t % rows) * ld + cols[t / rows]];
    if (s == -1.f) out[0] = s;  // keeps the loads; never true for the data used
}

extern "C" __global__ void syncthreads_loop(int k, float* out) {
    __shared__ float s[1024];
    float v = threadIdx.x;
    for (int i = 0; i < k; ++i) { s[threadIdx.x] = v; __syncthreads(); v = s[(threadIdx.x + 1) % blockDim.x]; }
    if (v == -1.f) out[0] = v;
}

extern "C" __global__ void shuffle_loop(int k, float* out) {
    float v = threadIdx.x;
    for (int i = 0; i < k; ++i) v = __shfl_xor_sync(0xffffffffu, v, 1 + (i & 15)) + 1.f;
    if (v == -1.f) out[0] = v;
}

// One thread follows a cycle through `next`: each load depends on the one before.
extern "C" __global__ void chase(const int* next, int steps, int* out) {
    int i = 0;
    for (int s = 0; s < steps; ++s) i = next[i];
    out[0] = i;
}

template <typename T>
__global__ void arith(int k, T* out) {
    T a = (T)threadIdx.x, b = (T)1.0001, c = (T)0.5;
    for (int i = 0; i < k; ++i) { a = a * b; a = a + c; }
    if (a == (T)-1) out[0] = a;
}
template __global__ void arith<float>(int, float*);
template __global__ void arith<double>(int, double*);
"""

# the barrier the kernels use (kernels/grid.cuh), 512 threads a block as Prim's loop
GRID_SYNC_SOURCE = r"""
#include "grid.cuh"
extern "C" __global__ void grid_sync_loop(int k, unsigned int* barrier, int* out) {
    for (int i = 0; i < k; ++i) grid_sync(barrier);
    if (blockIdx.x == 0 && threadIdx.x == 0) out[0] = k;
}
"""


def _plan_calibrate():
    return [
        f"launch_host / launch_gap: {REPEAT} empty launches (host submit time; device time by events)",
        f"one_block_bandwidth / hbm_bandwidth: stream {STREAM_BYTES >> 20} MiB with 1 and 1056 blocks",
        f"blocks_for_full_bandwidth: fewest of {BANDWIDTH_BLOCKS} reaching 90% of the full bandwidth",
        "grid_barrier: 1000 grid_sync() (kernels/grid.cuh) in a cooperative launch of 132 blocks",
        "scattered_sector_writes_per_sm: one block writes 1M floats in distinct sectors, shuffled",
        f"partial_sector_writes: {SMS_BLOCKS} blocks per SM write one float per row in 2048 "
        f"columns of a {COLUMN_BYTES >> 30} GiB row-major matrix (a merge's column writes), 10 times",
        f"gathered_sector_reads: the same grid reads one float per row in those columns "
        "(a rescan's reads down a column), 10 times",
        f"host_sync: {REPEAT} reads of one scalar back to the host",
        "block_barrier / warp_op: 10^5 __syncthreads / shuffles in one block",
        "dependent_access: one thread chases 10^5 pointers through a 1 MiB cycle (L2-resident)",
        f"fp32_rate / fp64_rate: 2 * 4096 dependent mul/add per thread over {SMS_BLOCKS} blocks per SM",
    ]


def _events_ms(cp, fn, repeat=1):
    start, stop = cp.cuda.Event(), cp.cuda.Event()
    fn()  # warm-up
    cp.cuda.Device().synchronize()
    start.record()
    for _ in range(repeat):
        fn()
    stop.record()
    stop.synchronize()
    return cp.cuda.get_elapsed_time(start, stop) / repeat


def calibrate(out: Path) -> dict:
    import cupy as cp

    dev = cp.cuda.Device()
    props = cp.cuda.runtime.getDeviceProperties(dev.id)
    sms = int(dev.attributes["MultiProcessorCount"])
    mod = cp.RawModule(code=MICRO_SOURCE, options=("-std=c++17",),
                       name_expressions=["arith<float>", "arith<double>"])
    k = {name: mod.get_function(name) for name in
         ("empty", "stream_sum", "scattered_writes", "column_writes", "column_reads", "syncthreads_loop",
          "shuffle_loop", "chase")}
    figures, raw, errors = {}, {}, {}
    sink = cp.zeros(1, cp.float32)

    def measure(name, fn):
        try:
            fn()
        except Exception as exc:  # noqa: BLE001 - one failed figure must not lose the others
            errors[name] = f"{type(exc).__name__}: {exc}"

    def launches():
        k["empty"]((1,), (32,), ())
        dev.synchronize()
        t = time.perf_counter()
        for _ in range(REPEAT):
            k["empty"]((1,), (32,), ())
        figures["launch_host"] = (time.perf_counter() - t) / REPEAT
        dev.synchronize()
        figures["launch_gap"] = _events_ms(cp, lambda: k["empty"]((1,), (32,), ()), REPEAT) / 1e3

    def bandwidths():
        x = cp.ones(STREAM_BYTES // 4, cp.float32)
        n4 = x.size // 4
        per = {}
        for blocks in BANDWIDTH_BLOCKS:
            ms = _events_ms(cp, lambda: k["stream_sum"]((blocks,), (1024,), (x, cp.int64(n4), sink)), 3)
            per[blocks] = STREAM_BYTES / (ms / 1e3)
        raw["bandwidth_by_blocks"] = per
        figures["one_block_bandwidth"] = per[1]
        full = max(per.values())
        figures["hbm_bandwidth"] = full
        figures["blocks_for_full_bandwidth"] = min(b for b, v in per.items() if v >= 0.9 * full)

    def grid_barrier():
        from gpuhclust.cuda._kernels import kernel_dir

        gmod = cp.RawModule(code=GRID_SYNC_SOURCE, options=("-std=c++17", f"-I{kernel_dir()}"),
                            enable_cooperative_groups=True)
        fn = gmod.get_function("grid_sync_loop")
        flag = cp.zeros(1, cp.int32)
        barrier = cp.zeros(2, cp.uint32)
        reps = 1000
        ms = _events_ms(cp, lambda: fn((sms,), (512,), (cp.int32(reps), barrier, flag)))
        base = _events_ms(cp, lambda: fn((sms,), (512,), (cp.int32(0), barrier, flag)))
        figures["grid_barrier"] = (ms - base) / 1e3 / reps

    def scattered():
        count = 1 << 20
        x = cp.zeros(count * 8, cp.float32)
        order = cp.random.permutation(count).astype(cp.int32)
        ms = _events_ms(cp, lambda: k["scattered_writes"]((1,), (1024,), (x, order, cp.int32(count))), 3)
        figures["scattered_sector_writes_per_sm"] = count / (ms / 1e3)

    def partial():
        ld = 100_003  # floats per row: not a power of two (no partition camping)
        rows = COLUMN_BYTES // 4 // ld
        x = cp.zeros(rows * ld, cp.float32)
        ncols = 2048  # about 11M sectors, 350 MB of them: far beyond L2
        cols = (cp.random.permutation(ld // 8)[:ncols] * 8).astype(cp.int32)  # one sector each
        ms = _events_ms(cp, lambda: k["column_writes"]((sms * SMS_BLOCKS,), (256,), (
            x, cp.int64(ld), cp.int64(rows), cols, cp.int32(ncols))), 10)
        figures["partial_sector_writes"] = rows * ncols / (ms / 1e3)
        flag = cp.zeros(1, cp.float32)
        ms = _events_ms(cp, lambda: k["column_reads"]((sms * SMS_BLOCKS,), (256,), (
            x, cp.int64(ld), cp.int64(rows), cols, cp.int32(ncols), flag)), 10)
        figures["gathered_sector_reads"] = rows * ncols / (ms / 1e3)

    def host_sync():
        y = cp.ones(1, cp.float64)
        float(y[0])
        t = time.perf_counter()
        for _ in range(REPEAT):
            float(y[0])
        figures["host_sync"] = (time.perf_counter() - t) / REPEAT

    def latencies():
        reps = 100_000
        figures["block_barrier"] = _events_ms(
            cp, lambda: k["syncthreads_loop"]((1,), (1024,), (cp.int32(reps), sink))) / 1e3 / reps
        figures["warp_op"] = _events_ms(
            cp, lambda: k["shuffle_loop"]((1,), (1024,), (cp.int32(reps), sink))) / 1e3 / reps
        size = (1 << 20) // 4
        perm = cp.random.permutation(size).astype(cp.int32)
        nxt = cp.empty(size, cp.int32)
        nxt[perm] = cp.roll(perm, -1)  # one cycle through every entry
        out = cp.zeros(1, cp.int32)
        figures["dependent_access"] = _events_ms(
            cp, lambda: k["chase"]((1,), (1,), (nxt, cp.int32(reps), out))) / 1e3 / reps

    def rates():
        iters, blocks, threads = 4096, sms * SMS_BLOCKS, 256
        for ctype, key in (("float", "fp32_rate"), ("double", "fp64_rate")):
            fn = mod.get_function(f"arith<{ctype}>")
            dt = cp.float32 if ctype == "float" else cp.float64
            o = cp.zeros(1, dt)
            ms = _events_ms(cp, lambda: fn((blocks,), (threads,), (cp.int32(iters), o)), 3)
            figures[key] = 2.0 * iters * blocks * threads / (ms / 1e3)

    for name, fn in (("launches", launches), ("bandwidth", bandwidths), ("grid_barrier", grid_barrier),
                     ("scattered", scattered), ("partial", partial), ("host_sync", host_sync),
                     ("latencies", latencies),
                     ("rates", rates)):
        measure(name, fn)
    name = props["name"].decode() if isinstance(props["name"], bytes) else str(props["name"])
    result = {"device": name, "sms": sms, "date": datetime.datetime.now(datetime.timezone.utc).isoformat(),
              "figures": figures, "raw": raw, "errors": errors}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1, default=str) + "\n")
    return result


# --------------------------------------------------------------------------- timed linkage


def _groups(scale: str):
    """The timed runs, one process per group, in the order they run: checks at n = 10,000
    (every method on each engine, Z compared with backend='cpu'), then the issues' targets
    (matrix n = 100,000, d = 64, float32 then float64; vector n = 10^6, d = 32). When the
    budget runs out, what is lost is the last groups."""
    small = scale == "small"
    check_n, matrix_n, vector_n = ((120, 150, 200) if small
                                   else (CHECK_N, MATRIX_TARGET[0], VECTOR_TARGET[0]))
    yield "check", [(m, check_n, 64, "matrix", dt, True) for dt in ("float64", "float32")
                    for m in MATRIX_METHODS]
    yield "check-vector", [(m, check_n, 16, "vector", "float64", True) for m in VECTOR_METHODS]
    for dt in ("float32", "float64"):
        yield f"matrix-{dt}", [(m, matrix_n, MATRIX_TARGET[1], "matrix", dt, False)
                               for m in MATRIX_METHODS]
    yield "vector", [(m, vector_n, VECTOR_TARGET[1], "vector", "float64", False)
                     for m in VECTOR_METHODS]


def _z_difference(Z, ref) -> dict:
    import numpy as np

    same_tree = bool(np.array_equal(Z[:, [0, 1, 3]], ref[:, [0, 1, 3]]))
    scale = np.maximum(np.abs(ref[:, 2]), np.finfo(float).tiny)
    return {"same_z_as_cpu": bool(np.array_equal(Z, ref)), "same_tree_as_cpu": same_tree,
            "height_rel_diff": float(np.max(np.abs(Z[:, 2] - ref[:, 2]) / scale))}


def _warm_up(X, method: str, backend: str, kw: dict) -> None:
    """What a process pays once, left out of the times: the kernels' compilation (or CuPy's
    cache) and Numba's (the finalisation runs compiled past INTERPRETED_MAX_N observations)."""
    import gpuhclust
    from gpuhclust._finalise import INTERPRETED_MAX_N

    gpuhclust.linkage(X[:INTERPRETED_MAX_N + 1], method, backend=backend, **kw)


def run_group(runs, backend: str, out: Path) -> None:
    """Each run of a group in this process: a warm-up (:func:`_warm_up`), one timed call,
    and where asked the same call on backend='cpu' to compare Z."""
    import hashlib

    import numpy as np

    import gpuhclust
    from gpuhclust._linkage import last_plan

    sync = (lambda: None)
    if backend == "cuda":
        import cupy as cp
        sync = cp.cuda.Device().synchronize
    for method, n, d, engine, dtype, check in runs:
        row = {"method": method, "n": n, "d": d, "engine": engine, "dtype": dtype,
               "backend": backend}
        try:
            X = np.random.default_rng(n + d).standard_normal((n, d))
            kw = dict(engine=engine, dtype=np.dtype(dtype))
            _warm_up(X, method, backend, kw)
            sync()
            t = time.perf_counter()
            Z = gpuhclust.linkage(X, method, backend=backend, **kw)
            sync()
            row["seconds"] = time.perf_counter() - t
            row["algorithm"] = last_plan().algorithm
            row["z_md5"] = hashlib.md5(np.ascontiguousarray(Z).tobytes()).hexdigest()
            if check:
                row.update(_z_difference(Z, gpuhclust.linkage(X, method, backend="cpu", **kw)))
        except Exception as exc:  # noqa: BLE001 - one failed run must not lose the others
            row["error"] = f"{type(exc).__name__}: {exc}"[-2000:]
        with out.open("a") as f:
            f.write(json.dumps(row) + "\n")
        print(json.dumps(row), flush=True)


def _estimate(model: dict | None, row: dict):
    """The model's seconds for the run of `row` (its label of the algorithm is gpu_model's)."""
    from gpu_model import ALGORITHMS

    label = ALGORITHMS.get((row["engine"], row.get("algorithm")), (None,))[0]
    for e in (model or {}).get("estimates", ()):
        if (all(e.get(k) == row.get(k) for k in ("method", "n", "engine", "dtype"))
                and e.get("algorithm") == label):
            return e["seconds"]
    return None


def time_all(model_path: Path | None, out: Path, dry_run: bool, budget: float,
             backend: str = "cuda", scale: str = "target") -> None:
    """Run the groups, each in its own process with what is left of `budget` seconds (at most
    GROUP_TIMEOUT), then add the model's estimate (same method, n, engine, dtype and
    algorithm) to every row of `out`."""
    t0 = time.perf_counter()
    out.parent.mkdir(parents=True, exist_ok=True)
    for name, runs in _groups(scale):
        left = budget - (time.perf_counter() - t0)
        limit = min(GROUP_TIMEOUT[name], left)
        cmd = [sys.executable, __file__, "group", name, "--out", str(out), "--backend", backend,
               "--scale", scale]
        if dry_run:
            print(f"[dry-run] timeout {GROUP_TIMEOUT[name]}s: group {name}: "
                  + ", ".join(f"{m} {e} n={n} {dt}" for m, n, _, e, dt, _ in runs))
            continue
        if limit < 5:
            print(f"group {name}: skipped, the budget is spent", flush=True)
            continue
        done = len(out.read_text().splitlines()) if out.exists() else 0
        try:
            subprocess.run(cmd, timeout=limit)
        except subprocess.TimeoutExpired:
            finished = (len(out.read_text().splitlines()) if out.exists() else 0) - done
            with out.open("a") as f:
                for method, n, d, engine, dtype, _ in runs[finished:]:
                    row = {"method": method, "n": n, "d": d, "engine": engine, "dtype": dtype,
                           "backend": backend,
                           "error": f"group {name} timed out after {limit:.0f} s"}
                    f.write(json.dumps(row) + "\n")
            print(f"group {name}: timed out after {limit:.0f} s", flush=True)
    if dry_run or not out.exists():
        return
    model = json.loads(model_path.read_text()) if model_path and model_path.exists() else None
    rows = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
    for row in rows:
        row["model_estimate_s"] = _estimate(model, row)
    out.write_text("".join(json.dumps(r) + "\n" for r in rows))


def profile(method: str, n: int, d: int, engine: str, dtype: str, top: int = 25) -> dict:
    """One linkage on the GPU, taken apart: the device time of each kernel (CUDA events around
    every launch outside a graph capture; a graph's kernels count in the time of its launch),
    the host's time by function (cProfile: a round's device-to-host read waits for the
    device, so its time there is device time the host did not hide), and the run's counters
    (``gpuhclust.cuda.backend.last_run``)."""
    import cProfile
    import io
    import pstats
    from collections import defaultdict

    import numpy as np

    import cupy as cp
    import gpuhclust
    from gpuhclust.cuda import _context, backend as cuda_backend

    events = []
    plain = _context.CupyContext.kernel

    def timed(self, family, name, cooperative=False):
        fn = plain(self, family, name, cooperative)

        def launch(grid, block, args):
            if cp.cuda.get_current_stream().is_capturing():
                return fn(grid, block, args)
            start, stop = cp.cuda.Event(), cp.cuda.Event()
            start.record()
            fn(grid, block, args)
            stop.record()
            events.append((name, start, stop))
        return launch

    X = np.random.default_rng(n + d).standard_normal((n, d))
    kw = dict(engine=engine, dtype=np.dtype(dtype))
    _warm_up(X, method, "cuda", kw)
    _context.CupyContext.kernel = timed
    try:
        events.clear()
        cp.cuda.Device().synchronize()
        prof = cProfile.Profile()
        t = time.perf_counter()
        prof.enable()
        gpuhclust.linkage(X, method, backend="cuda", **kw)
        cp.cuda.Device().synchronize()
        prof.disable()
        seconds = time.perf_counter() - t
    finally:
        _context.CupyContext.kernel = plain
    per_kernel = defaultdict(lambda: [0, 0.0])
    for name, start, stop in events:
        per_kernel[name][0] += 1
        per_kernel[name][1] += cp.cuda.get_elapsed_time(start, stop) / 1e3
    text = io.StringIO()
    pstats.Stats(prof, stream=text).sort_stats("tottime").print_stats(top)
    return {"method": method, "n": n, "d": d, "engine": engine, "dtype": dtype,
            "seconds": seconds, "last_run": dict(cuda_backend.last_run),
            "kernels": {k: {"launches": c, "seconds": s} for k, (c, s) in
                        sorted(per_kernel.items(), key=lambda kv: -kv[1][1])},
            "host_profile": text.getvalue()}


# The issues' GPU targets on an H200 (seconds): issue 13 for the rounds, issue 14 for the rest.
TARGETS = {("matrix", m): 0.5 for m in ("complete", "average", "weighted", "ward", "single")}
TARGETS.update({("matrix", "centroid"): 3.0, ("matrix", "median"): 3.0,
                ("vector", "single"): 40.0, ("vector", "ward"): 20.0,
                ("vector", "centroid"): 120.0, ("vector", "median"): 120.0})
README_BEGIN, README_END = "<!-- gpu-measured:begin", "<!-- gpu-measured:end -->"


def readme_table(files: list[Path], model: dict | None) -> str:
    """Markdown: the timed runs at the target sizes in `files` (JSON lines of ``time`` or
    ``group``; a later file's run replaces an earlier one's), float32 / float64 in each cell,
    next to the model's estimate and the issue's target."""
    runs = {}
    for f in files:
        for line in f.read_text().splitlines():
            r = json.loads(line)
            if "seconds" in r and r["n"] in (MATRIX_TARGET[0], VECTOR_TARGET[0]):
                runs[r["method"], r["engine"], r["dtype"]] = (r, f.parent.name)
    keys = sorted({(m, e) for m, e, _ in runs},
                  key=lambda k: (k[1], MATRIX_METHODS.index(k[0])))

    def cell(values):
        return " / ".join("-" if v is None else f"{v:.3g} s" for v in values)

    out = ["| method | engine (algorithm) | n, d | measured | model | target | run |",
           "|---|---|---|---|---|---|---|"]
    for method, engine in keys:
        pair = [runs.get((method, engine, dt)) for dt in ("float32", "float64")]
        first = next(r for r, _ in filter(None, pair))
        measured = [x[0]["seconds"] if x else None for x in pair]
        modelled = [_estimate(model, dict(first, dtype=dt)) for dt in ("float32", "float64")]
        sources = ", ".join(sorted({src for _, src in filter(None, pair)}))
        out.append(f"| {method} | {engine} ({first['algorithm']}) | {first['n']:,}, "
                   f"{first['d']} | {cell(measured)} | {cell(modelled)} | "
                   f"< {TARGETS.get((engine, method), float('nan')):g} s | {sources} |")
    out.append("")
    out.append("Each cell: float32 / float64 storage (the vector engine computes in float64 "
               "whatever the dtype: timed in float64), one call after a warm-up that compiles "
               "the kernels, data from a standard normal distribution, the distance matrix "
               "included. Measured on one NVIDIA H200 through the `device` tool: the runs' "
               "files are `benchmarks/results/<run>/`. Generated by `python "
               "benchmarks/gpu_calibrate.py readme FILE...`.")
    return "\n".join(out)


def sanitize_target() -> None:
    """Small linkages that launch every kernel family the single-GPU backend uses (distances,
    mst, nn_chain, generic, vector); shard kernels need a Dask GPU cluster and are not run."""
    import numpy as np

    import gpuhclust

    import scipy.spatial.distance as ssd

    X = np.random.default_rng(0).standard_normal((96, 5))
    for method, engine in (("single", "matrix"), ("single", "vector"), ("average", "matrix"),
                           ("centroid", "matrix"), ("ward", "vector"), ("median", "vector")):
        gpuhclust.linkage(X, method, backend="cuda", engine=engine)
    gpuhclust.pdist(X, backend="cuda")  # pairwise_tiles, condensed
    gpuhclust.linkage(ssd.pdist(X), "complete", backend="cuda")  # condensed_to_square


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    c = sub.add_parser("calibrate")
    c.add_argument("--out", type=Path, required=True)
    c.add_argument("--dry-run", action="store_true")
    t = sub.add_parser("time")
    t.add_argument("--model", type=Path)
    t.add_argument("--out", type=Path, required=True)
    t.add_argument("--budget", type=float, default=sum(GROUP_TIMEOUT.values()))
    t.add_argument("--dry-run", action="store_true")
    for p in (t, g := sub.add_parser("group")):
        p.add_argument("--backend", default="cuda",
                       help="'cuda'; 'cuda-sim' with --scale small checks this script "
                            "without a GPU")
        p.add_argument("--scale", choices=("target", "small"), default="target")
    g.add_argument("name", choices=tuple(GROUP_TIMEOUT))
    g.add_argument("--out", type=Path, required=True)
    pr = sub.add_parser("profile")
    for name in ("method", "n", "d", "engine", "dtype"):
        pr.add_argument(name)
    pr.add_argument("--out", type=Path, required=True, help="JSON lines, appended")
    rd = sub.add_parser("readme", help="regenerate README.md's measured GPU table")
    rd.add_argument("files", type=Path, nargs="+", help="timings JSON lines, later ones win")
    rd.add_argument("--model", type=Path, help="the model's results JSON")
    s = sub.add_parser("sanitize-target")
    s.add_argument("--dry-run", action="store_true")
    args = ap.parse_args(argv)
    if args.command == "calibrate":
        if args.dry_run:
            print("\n".join(f"[dry-run] {line}" for line in _plan_calibrate()))
            print(f"[dry-run] would write {args.out}")
            return 0
        result = calibrate(args.out)
        print(json.dumps({"figures": result["figures"], "errors": result["errors"]}, indent=1))
        return 0
    if args.command == "time":
        time_all(None if str(args.model) == "none" else args.model, args.out, args.dry_run,
                 args.budget, args.backend, args.scale)
        return 0
    if args.command == "readme":
        from _report import write_readme

        model = json.loads(args.model.read_text()) if args.model else None
        write_readme(ROOT / "README.md", readme_table(args.files, model), README_BEGIN,
                     README_END)
        return 0
    if args.command == "profile":
        result = profile(args.method, int(args.n), int(args.d), args.engine, args.dtype)
        with args.out.open("a") as f:
            f.write(json.dumps(result, default=str) + "\n")
        print(result.pop("host_profile"))
        print(json.dumps(result, indent=1, default=str))
        return 0
    if args.command == "group":
        run_group(dict(_groups(args.scale))[args.name], args.backend, args.out)
        return 0
    if args.dry_run:
        print("[dry-run] linkage n = 96 on backend='cuda': single (matrix, vector), average, "
              "centroid (matrix), ward and median (vector), complete from pdist")
        return 0
    sanitize_target()
    return 0


if __name__ == "__main__":
    sys.exit(main())
