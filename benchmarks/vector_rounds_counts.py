"""Counts (no timing) of ward on engine='vector', CPU: the rounds against the chain, and what
the kept entries save.

For each n: the rounds' rounds, rows rescanned per merge and (query, centroid) dissimilarities
computed per merge; the chain's queries per merge and dissimilarities per merge. A
dissimilarity costs the same in both (d subtractions, products and sums), so the last ratio
is the rounds' extra work, before the threads share it.

``--device-scans``: instead, the scans the CUDA store makes (every scan a scan per query, so
the first scan computes each pair twice and keeps full lists; ``test_vector_rounds`` checks
that the CPU store then scans what the GPU store scans, pair for pair), with the kept entries
and without (as the CUDA store ran before it kept them): the pairs each computes, what the GPU
time of its scans (``vector_round_nearest``) scales with. ``--json`` writes the rows.

    python benchmarks/vector_rounds_counts.py [--d 16] [--sizes 2000 5000 10000 20000]
    python benchmarks/vector_rounds_counts.py --device-scans --d 32 --sizes 5000 50000 200000
"""
from __future__ import annotations

import argparse
import hashlib
import json
import time
from pathlib import Path

import numpy as np

import gpuhclust
from gpuhclust._engines import centroid_frame
from gpuhclust.cpu import _centroid_rows, _vector
from gpuhclust.cpu import backend as cpu_backend


def chain_counts(X: np.ndarray) -> tuple[int, int]:
    """Queries and dissimilarities of the chain (``_vector.ward_steps`` with its counters)."""
    n = X.shape[0]
    arrays = _vector.new_state(centroid_frame(X), 1)
    state = np.array([0, 0, n, 0, 0, 0], dtype=np.int64)
    _vector.ward_steps(*arrays, np.zeros(n + 1, dtype=np.int64), state, np.empty((n - 1, 3)),
                       n - 1)
    return int(state[4]), int(state[5])


def device_scan_counts(X: np.ndarray, kept: bool) -> dict:
    """The CUDA store's scans, counted on the CPU store (see the module docstring)."""
    plain_init, plain_cap = _centroid_rows.CentroidRows.__init__, _centroid_rows.FIRST_SCAN_MAX_BYTES

    def init(self, *args, **kwargs):
        plain_init(self, *args, **kwargs, kept=kept)

    _centroid_rows.FIRST_SCAN_MAX_BYTES = 0
    _centroid_rows.CentroidRows.__init__ = init
    try:
        t = time.perf_counter()
        Z = gpuhclust.linkage(X, "ward", engine="vector", backend="cpu")
        seconds = time.perf_counter() - t
    finally:
        _centroid_rows.CentroidRows.__init__ = plain_init
        _centroid_rows.FIRST_SCAN_MAX_BYTES = plain_cap
    run = cpu_backend.last_run
    n = X.shape[0]
    return {"kept": kept, "pairs": run["pairs"], "pairs_per_n2": run["pairs"] / n ** 2,
            "rounds": run["rounds"], "rescans": run["rescans"],
            "settled_by_kept": run["settled_by_kept"], "scans_per_merge": run["scans_per_merge"],
            "z_md5": hashlib.md5(Z.tobytes()).hexdigest(), "cpu_seconds": seconds}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--d", type=int, default=16)
    ap.add_argument("--sizes", type=int, nargs="+", default=[2000, 5000, 10000, 20000])
    ap.add_argument("--device-scans", action="store_true")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    rows = []
    if args.device_scans:
        print(f"{'n':>7s} {'rounds':>7s} {'rescans/merge':>14s} {'scans/merge':>12s} "
              f"{'pairs/n^2 kept':>15s} {'pairs/n^2 before':>17s} {'ratio':>6s}")
    else:
        print(f"{'n':>7s} {'rounds':>7s} {'rescans/merge':>14s} {'pairs/merge':>12s} "
              f"{'chain queries/merge':>20s} {'chain pairs/merge':>18s} {'pairs ratio':>12s}")
    for n in args.sizes:
        # the data of benchmarks/gpu_calibrate.py's runs on the device
        X = np.random.default_rng(n + args.d if args.device_scans else n).standard_normal(
            (n, args.d))
        m = n - 1
        if args.device_scans:
            kept, before = device_scan_counts(X, True), device_scan_counts(X, False)
            assert kept["z_md5"] == before["z_md5"]
            ratio = kept["pairs"] / before["pairs"]
            rows.append({"n": n, "d": args.d, "with_kept": kept, "without_kept": before,
                         "pairs_ratio": ratio})
            print(f"{n:>7d} {kept['rounds']:>7d} {kept['rescans'] / m:>14.2f} "
                  f"{kept['scans_per_merge']:>12.2f} {kept['pairs_per_n2']:>15.3f} "
                  f"{before['pairs_per_n2']:>17.3f} {ratio:>6.3f}")
            continue
        gpuhclust.linkage(X, "ward", engine="vector")
        run = dict(cpu_backend.last_run)
        queries, chain_pairs = chain_counts(X)
        rows.append({"n": n, "d": args.d, **run, "chain_queries": queries,
                     "chain_pairs": chain_pairs})
        print(f"{n:>7d} {run['rounds']:>7d} {run['rescans_per_merge']:>14.2f} "
              f"{run['pairs'] / m:>12.0f} {queries / m:>20.2f} {chain_pairs / m:>18.0f} "
              f"{run['pairs'] / chain_pairs:>12.2f}")
    if args.json:
        args.json.write_text(json.dumps({"device_scans": args.device_scans, "rows": rows,
                                         "gpuhclust": gpuhclust.__version__}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
