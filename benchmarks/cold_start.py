"""Time to the first linkage matrix in a new process: cold (empty Numba cache) and warm.

Each case runs in its own Python process with ``NUMBA_CACHE_DIR`` pointing at a folder of its
own, so "cold" means what a fresh install sees: every Numba function the call needs is
compiled. Reported per case: wall seconds from process start to Z (import included) and the
CPU seconds the process used (compilation is single-threaded, so CPU time is the steadier
figure on a busy machine). Warm cases reuse a cache filled by a previous process and are
compared with SciPy's import plus first call.

Usage::

    python benchmarks/cold_start.py [--n 500] [--repeat 3] [--json PATH]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

METHODS = ("single", "complete", "average", "weighted", "ward", "centroid", "median")

# Runs in the child: import, make data, one linkage per method; prints the seconds to Z.
CHILD = """
import time, sys
t0 = time.perf_counter()
import numpy as np
lib = sys.argv[1]
if lib == "scipy":
    from scipy.cluster.hierarchy import linkage
else:
    from gpuhclust import linkage
n = int(sys.argv[2])
X = np.random.default_rng(0).normal(size=(n, 4))
for method in sys.argv[3].split(","):
    linkage(X, method)
print(time.perf_counter() - t0)
"""


def _run(lib: str, n: int, methods: str, cache: str) -> tuple[float, float]:
    """(wall seconds to Z inside the child, CPU seconds of the child)."""
    env = {**os.environ, "NUMBA_CACHE_DIR": cache}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run([sys.executable, "-c", CHILD, lib, str(n), methods], env=env,
                         check=True, capture_output=True, text=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return float(out.stdout.strip().splitlines()[-1]), cpu


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--repeat", type=int, default=3, help="warm runs per case (median kept)")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    methods = args.methods.split(",")
    rows = []

    def record(case, lib, names, cache, repeat):
        runs = [_run(lib, args.n, names, cache) for _ in range(repeat)]
        wall = statistics.median(r[0] for r in runs)
        cpu = statistics.median(r[1] for r in runs)
        rows.append({"case": case, "library": lib, "methods": names, "wall_s": wall,
                     "cpu_s": cpu, "runs": len(runs)})
        print(f"{case:<28} {lib:<9} {names:<52} wall {wall:6.2f} s  cpu {cpu:6.2f} s",
              flush=True)

    with tempfile.TemporaryDirectory(prefix="gpuhclust-cold-") as tmp:
        for m in methods:  # cold, one method per fresh cache
            record("cold, one method", "gpuhclust", m, tempfile.mkdtemp(dir=tmp), 1)
        every = tempfile.mkdtemp(dir=tmp)
        record("cold, all methods", "gpuhclust", ",".join(methods), every, 1)
        for m in methods:  # the cache `every` now holds everything
            record("warm, one method", "gpuhclust", m, every, args.repeat)
            record("warm, one method", "scipy", m, every, args.repeat)
    if args.json:
        args.json.write_text(json.dumps({
            "n": args.n, "d": 4, "python": platform.python_version(),
            "cpus": os.cpu_count(), "date": time.strftime("%Y-%m-%d"), "rows": rows},
            indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
