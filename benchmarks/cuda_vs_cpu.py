"""First timings of the CUDA backend against the CPU backend (run it where a GPU is present).

    python benchmarks/cuda_vs_cpu.py --n 10000,50000,100000 --d 32 --cpu-max-n 10000

For each n and method: the CUDA backend (float32 and float64 where the matrix fits), timed with
the device synchronised, and the CPU backend up to --cpu-max-n, with both Z compared. The kernel
compile (NVRTC, cached by CuPy afterwards) is timed apart. Results go to
benchmarks/results/cuda-<device>-<date>.json.
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
from gpuhclust.cuda.backend import CudaBackend

METHODS = ("single", "complete", "average", "weighted", "ward", "centroid", "median")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", default="10000,50000,100000")
    ap.add_argument("--d", type=int, default=32)
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--dtypes", default="float32,float64")
    ap.add_argument("--cpu-max-n", type=int, default=10000)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = ap.parse_args(argv)

    import cupy

    backend = CudaBackend()
    device = cupy.cuda.runtime.getDeviceProperties(backend.ctx.device.id)["name"].decode()
    t0 = time.perf_counter()
    for m in METHODS:
        gpuhclust.linkage(np.random.default_rng(0).random((64, 3)), m, backend=backend)
    compile_s = time.perf_counter() - t0

    rows = []
    for n in map(int, args.n.split(",")):
        X = np.random.default_rng(n).standard_normal((n, args.d))
        for method in args.methods.split(","):
            row = {"n": n, "d": args.d, "method": method}
            Z_ref = None
            if n <= args.cpu_max_n:
                t = time.perf_counter()
                Z_ref = gpuhclust.linkage(X, method, backend="cpu")
                row["cpu_float64_s"] = time.perf_counter() - t
            for dtype in args.dtypes.split(","):
                try:
                    t = time.perf_counter()
                    Z = gpuhclust.linkage(X, method, backend=backend, dtype=dtype)
                    backend.ctx.synchronize()
                    row[f"cuda_{dtype}_s"] = time.perf_counter() - t
                    if dtype == "float64" and Z_ref is not None:
                        row["same_z_as_cpu"] = bool(np.array_equal(Z, Z_ref))
                except MemoryError as exc:
                    row[f"cuda_{dtype}_s"] = None
                    row[f"cuda_{dtype}_error"] = str(exc)
                cupy.get_default_memory_pool().free_all_blocks()
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


if __name__ == "__main__":
    main()
