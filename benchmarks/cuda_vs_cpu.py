"""Timings of the CUDA backend against the CPU backend, both engines (run it where a GPU is
present; without one it says so and exits 0).

The issue-5 target on an H200 (n = 10^6, d = 32, single and ward under 60 s each), one command:

    python benchmarks/cuda_vs_cpu.py --engines vector --n 100000,1000000 --d 32 \\
        --methods single,ward --cpu-max-n 20000

The matrix engine, as before:

    python benchmarks/cuda_vs_cpu.py --engines matrix --n 10000,50000,100000 --d 32

For each n, method and engine: the CUDA backend timed with the device synchronised (the matrix
engine in float32 and float64 where the matrix fits; the vector engine computes in float64), and
the CPU backend with the same engine up to --cpu-max-n, both Z compared. A MemoryError is recorded,
not fatal. The kernel compile (NVRTC, cached by CuPy afterwards) is timed apart. Results go to
benchmarks/results/cuda-<device>-<date>.json, one JSON line per row on stdout as they come.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

import gpuhclust
from gpuhclust._engines import VECTOR_METHODS
from gpuhclust.cuda._context import cuda_usable

METHODS = ("single", "complete", "average", "weighted", "ward", "centroid", "median")
TARGET_S = 60.0  # the H200 target for single and ward at n = 10^6, d = 32


def _timed(X, method, backend, **kwargs):
    t = time.perf_counter()
    Z = gpuhclust.linkage(X, method, backend=backend, progress=False, **kwargs)
    if backend != "cpu":
        backend.ctx.synchronize()
    return Z, time.perf_counter() - t


def _cuda_runs(engine, dtypes):
    """(label, linkage kwargs) of the CUDA timings of one row."""
    if engine == "vector":
        return [("cuda", {"engine": "vector"})]
    return [(f"cuda_{dtype}", {"engine": "matrix", "dtype": dtype}) for dtype in dtypes]


def _row(X, method, engine, backend, dtypes, cpu_max_n):
    import cupy

    n, d = X.shape
    row = {"n": n, "d": d, "method": method, "engine": engine}
    Z_ref = None
    if n <= cpu_max_n:
        Z_ref, row["cpu_float64_s"] = _timed(X, method, "cpu", engine=engine)
    for label, kwargs in _cuda_runs(engine, dtypes):
        try:
            Z, row[f"{label}_s"] = _timed(X, method, backend, **kwargs)
            if Z_ref is not None and kwargs.get("dtype", "float64") == "float64":
                row["same_z_as_cpu"] = bool(np.array_equal(Z, Z_ref))
        except MemoryError as exc:
            row[f"{label}_s"] = None
            row[f"{label}_error"] = str(exc)
        cupy.get_default_memory_pool().free_all_blocks()
    if engine == "vector" and n >= 10**6 and method in ("single", "ward"):
        row["under_target_60s"] = bool(row.get("cuda_s") is not None and row["cuda_s"] < TARGET_S)
    return row


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", default="10000,50000,100000")
    ap.add_argument("--d", type=int, default=32)
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--engines", default="matrix,vector",
                    help="matrix, vector or both (vector: single, ward, centroid, median only)")
    ap.add_argument("--dtypes", default="float32,float64", help="matrix engine storage")
    ap.add_argument("--cpu-max-n", type=int, default=10000,
                    help="largest n also run on the CPU backend (for time and Z comparison)")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = ap.parse_args(argv)

    if not cuda_usable():
        print("cuda_vs_cpu: no CUDA device (or no CuPy): nothing to time")
        return 0
    import cupy

    from gpuhclust.cuda.backend import CudaBackend

    backend = CudaBackend()
    device = cupy.cuda.runtime.getDeviceProperties(backend.ctx.device.id)["name"].decode()
    engines = args.engines.split(",")
    t0 = time.perf_counter()
    for m in METHODS:  # compile every kernel family once, untimed
        for engine in engines:
            if engine == "matrix" or m in VECTOR_METHODS:
                gpuhclust.linkage(np.random.default_rng(0).random((64, 3)), m, backend=backend,
                                  engine=engine)
    compile_s = time.perf_counter() - t0

    rows = []
    for n in map(int, args.n.split(",")):
        X = np.random.default_rng(n).standard_normal((n, args.d))
        for method in args.methods.split(","):
            for engine in engines:
                if engine == "vector" and method not in VECTOR_METHODS:
                    continue
                row = _row(X, method, engine, backend, args.dtypes.split(","), args.cpu_max_n)
                print(json.dumps(row), flush=True)
                rows.append(row)

    meta = {"date": dt.datetime.now().isoformat(timespec="seconds"), "device": device,
            "host": platform.node(), "cpus": os.cpu_count(), "compile_s": compile_s,
            "gpuhclust": gpuhclust.__version__, "cupy": cupy.__version__}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    name = f"cuda-{device.replace(' ', '_')}-{dt.date.today().isoformat()}.json"
    (out / name).write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    print(f"wrote {out / name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
