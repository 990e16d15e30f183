"""Parallel efficiency of the CPU rounds: the same linkage on 1 and on 2 Numba threads.

Each timed call runs in a process of its own with ``NUMBA_NUM_THREADS`` set, the thread counts
alternating (1, 2, 1, 2, ...) so that drift of a shared machine hits both alike; the figure is
the median per method and thread count, end to end from the observations (distances, the
matrix's first write, the rounds). Also recorded: rounds and row rescans per merge
(``gpuhclust.cpu.backend.last_run``), and that Z is identical on 1 and 2 threads.

Usage::

    python benchmarks/rounds_threads.py [--n 20000] [--d 16] [--repeat 3] [--json PATH]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

METHODS = ("complete", "average", "weighted", "ward")
RESULTS = Path(__file__).resolve().parent / "results"

CHILD = """
import hashlib, json, sys, time
import numpy as np
import gpuhclust
from gpuhclust.cpu import backend
n, d, method = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
X = np.random.default_rng(0).standard_normal((n, d))
gpuhclust.linkage(X[:2000], method, backend="cpu")  # cache load and every code path, untimed
t = time.perf_counter()
Z = gpuhclust.linkage(X, method, backend="cpu")
seconds = time.perf_counter() - t
print(json.dumps({"seconds": seconds, "z_sha1": hashlib.sha1(Z.tobytes()).hexdigest(),
                  "rounds": backend.last_run.get("rounds"),
                  "rescans_per_merge": backend.last_run.get("rescans_per_merge"),
                  "scans_per_merge": backend.last_run.get("scans_per_merge"),
                  "threads": backend.last_run.get("threads")}))
"""


def _one(n: int, d: int, method: str, threads: int) -> dict:
    env = {**os.environ, "NUMBA_NUM_THREADS": str(threads)}
    out = subprocess.run([sys.executable, "-c", CHILD, str(n), str(d), method], env=env,
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--d", type=int, default=16)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    rows = []
    for method in args.methods.split(","):
        runs = {1: [], 2: []}
        for _ in range(args.repeat):
            for threads in (1, 2):
                runs[threads].append(_one(args.n, args.d, method, threads))
        t1 = statistics.median(r["seconds"] for r in runs[1])
        t2 = statistics.median(r["seconds"] for r in runs[2])
        same_z = len({r["z_sha1"] for r in runs[1] + runs[2]}) == 1
        row = {"method": method, "seconds_1_thread": t1, "seconds_2_threads": t2,
               "ratio_2_over_1": t2 / t1, "same_z_on_1_and_2_threads": same_z,
               "rounds": runs[2][0]["rounds"],
               "rescans_per_merge": runs[2][0]["rescans_per_merge"],
               "scans_per_merge": runs[2][0]["scans_per_merge"],
               "runs": {str(k): v for k, v in runs.items()}}
        rows.append(row)
        print(f"{method:<9} 1 thread {t1:6.2f} s   2 threads {t2:6.2f} s   "
              f"2/1 = {t2 / t1:.2f}   rounds {row['rounds']}   "
              f"rows asked/merge {row['rescans_per_merge']:.2f}   "
              f"scanned/merge {row['scans_per_merge']:.2f}   same Z: {same_z}", flush=True)
    result = {"n": args.n, "d": args.d, "repeat": args.repeat, "date": time.strftime("%Y-%m-%d"),
              "cpus": os.cpu_count(), "python": platform.python_version(),
              "load_average_1min_at_end": os.getloadavg()[0], "rows": rows}
    path = args.json or RESULTS / f"rounds-threads-n{args.n}-d{args.d}-{result['date']}.json"
    path.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
