"""Counts (no timing) of ward on engine='vector', CPU: the rounds against the chain.

For each n: the rounds' rounds, rows rescanned per merge and (query, centroid) dissimilarities
computed per merge; the chain's queries per merge and dissimilarities per merge. A
dissimilarity costs the same in both (d subtractions, products and sums), so the last ratio
is the rounds' extra work, before the threads share it.

    python benchmarks/vector_rounds_counts.py [--d 16] [--sizes 2000 5000 10000 20000]
"""
from __future__ import annotations

import argparse

import numpy as np

import gpuhclust
from gpuhclust._engines import centroid_frame
from gpuhclust.cpu import _vector
from gpuhclust.cpu import backend as cpu_backend


def chain_counts(X: np.ndarray) -> tuple[int, int]:
    """Queries and dissimilarities of the chain (``_vector.ward_steps`` with its counters)."""
    n = X.shape[0]
    arrays = _vector.new_state(centroid_frame(X), 1)
    state = np.array([0, 0, n, 0, 0, 0], dtype=np.int64)
    _vector.ward_steps(*arrays, np.zeros(n + 1, dtype=np.int64), state, np.empty((n - 1, 3)),
                       n - 1)
    return int(state[4]), int(state[5])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--d", type=int, default=16)
    ap.add_argument("--sizes", type=int, nargs="+", default=[2000, 5000, 10000, 20000])
    args = ap.parse_args(argv)
    print(f"{'n':>7s} {'rounds':>7s} {'rescans/merge':>14s} {'pairs/merge':>12s} "
          f"{'chain queries/merge':>20s} {'chain pairs/merge':>18s} {'pairs ratio':>12s}")
    for n in args.sizes:
        X = np.random.default_rng(n).standard_normal((n, args.d))
        gpuhclust.linkage(X, "ward", engine="vector")
        run = dict(cpu_backend.last_run)
        queries, chain_pairs = chain_counts(X)
        m = n - 1
        print(f"{n:>7d} {run['rounds']:>7d} {run['rescans_per_merge']:>14.2f} "
              f"{run['pairs'] / m:>12.0f} {queries / m:>20.2f} {chain_pairs / m:>18.0f} "
              f"{run['pairs'] / chain_pairs:>12.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
