"""Where the matrix engine's time goes, phase by phase, for the speed issue's profile.

    python benchmarks/profile_matrix.py --n 20000 --d 16 --methods average,ward,centroid

Phases, each timed on its own (wall and process CPU seconds):

* ``first_touch``: writing once to a fresh n x n float64 array, allocated as the engine does
  (``gpuhclust._memory.empty_large``: ordinary pages); page faults, 1.7-2.5 s for 3.2 GB here;
* ``distances``: the square Euclidean matrix from the observations (Numba, all threads);
* ``loop``: the merge loop alone on a copy of that matrix, the method's default algorithm
  (reciprocal-nearest-neighbour rounds on all threads for complete, average, weighted and
  ward; the generic algorithm on one thread, except the compactions, for centroid and median);
* ``scipy_pdist``, ``fastcluster``: the peers' figures for the same data in the same process.

The JSON goes to benchmarks/results/profile-matrix-n<n>-d<d>-<date>.json.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import time
from pathlib import Path

import numpy as np
import scipy.spatial.distance as ssd

import gpuhclust
from gpuhclust._memory import empty_large
from gpuhclust._methods import get_method
from gpuhclust._metrics import prepare_metric
from gpuhclust._progress import progress_bar
from gpuhclust.cpu import _distances
from gpuhclust.cpu import backend as cpu_backend

RESULTS = Path(__file__).resolve().parent / "results"


def _timed(fn):
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, {"wall_s": time.perf_counter() - wall, "cpu_s": time.process_time() - cpu}


def _fresh_matrix(n):
    """A fresh n x n matrix written once, allocated as the matrix engine allocates its own."""
    D = empty_large((n, n), np.float64)
    D.fill(0.0)
    return D


def _loop(D, method):
    run = {"nn_chain": cpu_backend._run_nn_chain, "rounds": cpu_backend._run_rounds,
           "generic": lambda *a: cpu_backend._run_generic(*a, tournament=False),
           "tournament": lambda *a: cpu_backend._run_generic(*a, tournament=True),
           "mst": lambda D, nonneg, method, bar: cpu_backend._run_mst_matrix(D, nonneg, bar)}
    with progress_bar(False, D.shape[0] - 1, "") as bar:
        return run[method.default_algorithm](D, True, method, bar)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--d", type=int, default=16)
    ap.add_argument("--methods", default="average,ward,centroid")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    n, d = args.n, args.d
    X = np.random.default_rng(0).standard_normal((n, d))
    gpuhclust.linkage(X[:300], "average")  # Numba cache load, not timed below
    for m in args.methods.split(","):
        gpuhclust.linkage(X[:300], m)
    prepared = prepare_metric(X, "euclidean", {})
    phases = {}
    D, phases["first_touch"] = _timed(lambda: _fresh_matrix(n))
    _, phases["distances"] = _timed(
        lambda: _distances.square_from_observations(prepared.X, *prepared.kernel_args, D))
    work = _fresh_matrix(n)
    for name in args.methods.split(","):
        work[:] = D
        _, phases[f"loop_{name}"] = _timed(lambda: _loop(work, get_method(name)))
    del work, D
    _, phases["scipy_pdist"] = _timed(lambda: ssd.pdist(X))
    try:
        import fastcluster
    except ImportError:
        fastcluster = None
    if fastcluster is not None:
        for name in args.methods.split(","):
            _, phases[f"fastcluster_{name}"] = _timed(lambda: fastcluster.linkage(X, name))
    result = {"n": n, "d": d, "date": dt.datetime.now().isoformat(timespec="seconds"),
              "cpus": os.cpu_count(), "load_average_1min": os.getloadavg()[0],
              "phases": phases}
    for key, value in phases.items():
        print(f"{key:24s} wall {value['wall_s']:7.2f} s   cpu {value['cpu_s']:7.2f} s")
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"profile-matrix-n{n}-d{d}-{dt.date.today().isoformat()}.json"
    path.write_text(json.dumps(result, indent=1))
    print(f"wrote {path}")
    return result


if __name__ == "__main__":
    main()
