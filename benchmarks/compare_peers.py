"""Side-by-side timing of gpuhclust against SciPy and fastcluster, in one process run.

    python benchmarks/compare_peers.py --n 20000 --d 16 --repeat 1

For each method the contenders run one after another on the same data; every Z gpuhclust
returns is checked against SciPy's (columns 0, 1, 3 exactly, heights to 1e-12; float32 is
checked against the invariant only). Numba's compile/cache load is timed apart, before the runs.
Results go to benchmarks/results/peers-<date>.json and are printed as a table.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import scipy
import scipy.cluster.hierarchy as sch

import gpuhclust

METHODS = ("single", "complete", "average", "weighted", "ward", "centroid", "median")


def _time(fn, repeat):
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--d", type=int, default=16)
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--no-float32", action="store_true")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = ap.parse_args(argv)

    try:
        import fastcluster
    except ImportError:
        fastcluster = None
    X = np.random.default_rng(0).standard_normal((args.n, args.d))

    t0 = time.perf_counter()
    for m in METHODS:
        gpuhclust.linkage(X[:64], m)
    compile_s = time.perf_counter() - t0
    # first touch of fresh memory is slow on some VMs: pay it once for everybody
    np.ones((args.n, args.n)).sum()

    rows = []
    for method in args.methods.split(","):
        row = {"method": method}
        row["scipy_s"], Z_ref = _time(lambda: sch.linkage(X, method), args.repeat)
        if fastcluster is not None:
            row["fastcluster_s"], _ = _time(lambda: fastcluster.linkage(X, method),
                                            args.repeat)
            if method in ("single", "ward", "centroid", "median"):
                row["fastcluster_vector_s"], _ = _time(
                    lambda: fastcluster.linkage_vector(X, method), args.repeat)
        row["gpuhclust_cpu_s"], Z = _time(lambda: gpuhclust.linkage(X, method, backend="cpu"),
                                          args.repeat)
        row["same_Z_as_scipy"] = bool(np.array_equal(Z[:, [0, 1, 3]], Z_ref[:, [0, 1, 3]])
                                      and np.allclose(Z[:, 2], Z_ref[:, 2], rtol=1e-12))
        if not args.no_float32:
            row["gpuhclust_cpu_float32_s"], _ = _time(
                lambda: gpuhclust.linkage(X, method, backend="cpu", dtype=np.float32),
                args.repeat)
        if "fastcluster_s" in row:
            row["speedup_vs_fastcluster"] = row["fastcluster_s"] / row["gpuhclust_cpu_s"]
        row["speedup_vs_scipy"] = row["scipy_s"] / row["gpuhclust_cpu_s"]
        rows.append(row)
        print(json.dumps(row), flush=True)

    result = {
        "date": dt.datetime.now().isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "processor": platform.processor(),
                    "cpus": os.cpu_count()},
        "versions": {"gpuhclust": gpuhclust.__version__, "numpy": np.__version__,
                     "scipy": scipy.__version__,
                     "fastcluster": getattr(fastcluster, "__version__", None)},
        "n": args.n, "d": args.d, "repeat": args.repeat, "numba_compile_s": compile_s,
        "rows": rows,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"peers-n{args.n}-d{args.d}-{dt.date.today().isoformat()}.json"
    path.write_text(json.dumps(result, indent=2))
    print(f"\nnumba compile/cache load: {compile_s:.2f} s")
    print(f"{'method':<10}{'scipy':>9}{'fastcl.':>9}{'fc.vec':>9}{'ours':>9}{'ours32':>9}"
          f"{'x fc':>7}{'x scipy':>9}  same Z")
    for r in rows:
        def f(key):
            return f"{r[key]:9.2f}" if key in r else f"{'-':>9}"
        sp = f"{r['speedup_vs_fastcluster']:7.1f}" if "speedup_vs_fastcluster" in r else "      -"
        print(f"{r['method']:<10}{f('scipy_s')}{f('fastcluster_s')}{f('fastcluster_vector_s')}"
              f"{f('gpuhclust_cpu_s')}{f('gpuhclust_cpu_float32_s')}{sp}"
              f"{r['speedup_vs_scipy']:9.1f}  {r['same_Z_as_scipy']}")
    print(f"written: {path}")


if __name__ == "__main__":
    main()
