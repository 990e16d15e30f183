"""The memory-saving engine side by side: gpuhclust engine='vector', fastcluster.linkage_vector
and gpuhclust engine='matrix', seconds and peak memory, one run.

    python benchmarks/vector_engine.py --n 20000 --d 16
    python benchmarks/vector_engine.py --n 200000 --d 16 --methods single,ward --contenders vector

Every (method, contender) runs in a fresh child process, so that its peak resident memory
(``ru_maxrss``) is its own: the child imports, makes the data (same seed everywhere), warms up
Numba (not timed), records its resident memory, runs once under the clock and
reports the time, the peak and the rise during the run. The warm-up clusters min(n, 6000) points
first (not timed): the parallel kernels only run above 4096 live clusters, and loading them from
Numba's cache on first use (~0.3 s) is a one-off per process, not part of the algorithm. Z is checked against
fastcluster.linkage_vector where that ran (columns 0, 1, 3 exactly, heights to 1e-10), else
against gpuhclust's matrix engine. Results go to benchmarks/results/vector-n<n>-d<d>-<date>.json.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CONTENDERS = ("vector", "fastcluster_vector", "matrix")
METHODS = ("single", "ward", "centroid", "median")


def _rss_now() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def child(args) -> None:
    import gpuhclust

    X = np.random.default_rng(0).standard_normal((args.n, args.d))
    warm = X[:min(args.n, 6000)]
    if args.contender == "fastcluster_vector":
        import fastcluster

        run = lambda: fastcluster.linkage_vector(X, args.method)  # noqa: E731
        fastcluster.linkage_vector(warm, args.method)
    else:
        engine = args.contender
        run = lambda: gpuhclust.linkage(X, args.method, engine=engine)  # noqa: E731
        gpuhclust.linkage(warm, args.method, engine=engine)
    before = _rss_now()
    t0 = time.perf_counter()
    Z = run()
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    np.save(args.z_out, Z)
    print(json.dumps({"seconds": seconds, "peak_rss_bytes": peak, "rss_before_bytes": before,
                      "peak_rise_bytes": max(0, peak - before)}))


def run_child(n, d, method, contender, z_out, timeout):
    cmd = [sys.executable, __file__, "--child", "--n", str(n), "--d", str(d), "--method", method,
           "--contender", contender, "--z-out", z_out]
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timeout after {timeout} s"}
    if res.returncode != 0:
        return {"error": res.stderr.strip().splitlines()[-1] if res.stderr.strip() else
                f"exit {res.returncode}"}
    return json.loads(res.stdout.strip().splitlines()[-1])


def same_Z(Z, Z_ref) -> bool:
    return bool(np.array_equal(Z[:, [0, 1, 3]], Z_ref[:, [0, 1, 3]])
                and np.allclose(Z[:, 2], Z_ref[:, 2], rtol=1e-10, atol=0))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--d", type=int, default=16)
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--contenders", default=",".join(CONTENDERS))
    ap.add_argument("--timeout", type=float, default=1200)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results"))
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--method", help=argparse.SUPPRESS)
    ap.add_argument("--contender", help=argparse.SUPPRESS)
    ap.add_argument("--z-out", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        return child(args)

    import fastcluster
    import numba
    import scipy

    import gpuhclust

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for method in args.methods.split(","):
            Zs = {}
            for contender in args.contenders.split(","):
                z_out = os.path.join(tmp, f"{method}-{contender}.npy")
                r = run_child(args.n, args.d, method, contender, z_out, args.timeout)
                r.update(method=method, contender=contender)
                if "error" not in r:
                    Zs[contender] = np.load(z_out)
                rows.append(r)
                print(json.dumps(r), flush=True)
            ref = Zs.get("fastcluster_vector", Zs.get("matrix"))
            for r in rows:
                if r["method"] == method and r["contender"] in Zs and ref is not None:
                    r["same_Z_as_reference"] = same_Z(Zs[r["contender"]], ref)
                    r["reference"] = ("fastcluster_vector" if "fastcluster_vector" in Zs
                                      else "matrix")
    result = {
        "date": dt.datetime.now().isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                    "numba_threads": numba.get_num_threads()},
        "versions": {"gpuhclust": getattr(gpuhclust, "__version__", "?"),
                     "numpy": np.__version__, "scipy": scipy.__version__,
                     "numba": numba.__version__, "fastcluster": fastcluster.__version__},
        "n": args.n, "d": args.d, "rows": rows,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"vector-n{args.n}-d{args.d}-{dt.date.today().isoformat()}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\n{'method':9} {'contender':19} {'seconds':>8} {'peak MiB':>9} {'rise MiB':>9}  same Z")
    for r in rows:
        if "error" in r:
            print(f"{r['method']:9} {r['contender']:19} {r['error']}")
            continue
        print(f"{r['method']:9} {r['contender']:19} {r['seconds']:8.3f} "
              f"{r['peak_rss_bytes'] / 2**20:9.1f} {r['peak_rise_bytes'] / 2**20:9.1f}  "
              f"{r.get('same_Z_as_reference', '-')}")
    print(f"written to {path}")


if __name__ == "__main__":
    main()
