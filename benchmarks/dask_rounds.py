"""Rounds and time of backend='dask' against the single-machine CPU engine.

For each n, method and number of workers: a ``distributed.LocalCluster`` with worker processes
(one thread each: a shard call runs on one core), the data sent from this process, the wall
time of ``gpuhclust.linkage`` (distances on the workers included), the rounds, rescans and rows
moved between shards, and a check that Z equals the CPU engine's (columns 0, 1, 3 exactly,
heights to 1e-12). The CPU engine (``backend='cpu'``, Numba on every core) runs in this process.

``--shard-compute`` chooses what the shards compute with (``DaskBackend(shard_compute=...)``:
'auto', 'cpu', 'cuda', 'cuda-sim'); ``--cuda-cluster`` starts a ``dask_cuda.LocalCUDACluster``
(one worker per GPU; ``--workers`` is then the number of GPUs used) instead.

    python benchmarks/dask_rounds.py --n 5000 10000 20000 --workers 1 2 \
        --methods single average ward --out benchmarks/results/dask-n5000-20000-d16.json
    python benchmarks/dask_rounds.py --n 20000 --workers 1 --shard-compute cuda --cuda-cluster
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import time
import warnings

import numba
import numpy as np

import gpuhclust


def _blobs(n, d, seed):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=5.0, size=(8, d))
    return centres[rng.integers(0, 8, n)] + rng.normal(size=(n, d))


def _same(Z, Z_ref) -> bool:
    return bool(np.array_equal(Z[:, [0, 1, 3]], Z_ref[:, [0, 1, 3]])
                and np.allclose(Z[:, 2], Z_ref[:, 2], rtol=1e-12, atol=0))


def _timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, nargs="+", default=[5000, 10000, 20000])
    ap.add_argument("--d", type=int, default=16)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--methods", nargs="+", default=["single", "average", "ward"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--shard-compute", default="auto",
                    choices=["auto", "cpu", "cuda", "cuda-sim"])
    ap.add_argument("--cuda-cluster", action="store_true",
                    help="dask_cuda.LocalCUDACluster, one worker per GPU")
    ap.add_argument("--out", default="")
    args = ap.parse_args(argv)

    import distributed
    from gpuhclust.dask import backend as dask_backend

    def dask():
        return dask_backend.DaskBackend(shard_compute=args.shard_compute)

    def local_cluster(w):
        if args.cuda_cluster:
            import dask_cuda

            return dask_cuda.LocalCUDACluster(n_workers=w, dashboard_address=None,
                                              memory_limit=0)
        return distributed.LocalCluster(processes=True, n_workers=w, threads_per_worker=1,
                                        dashboard_address=None, memory_limit=0)

    warnings.filterwarnings("ignore", message=".*8.8.8.8.*")
    warnings.filterwarnings("ignore", message=".*suitable IP address.*")
    warnings.filterwarnings("ignore", message="Port .* is already in use")
    rows = []
    data = {n: _blobs(n, args.d, args.seed) for n in args.n}
    reference = {}
    small = data[args.n[0]][:300]
    for method in args.methods:  # compile outside the timings
        gpuhclust.linkage(small, method, backend="cpu")
    for n in args.n:
        for method in args.methods:
            Z, t = _timed(lambda: gpuhclust.linkage(data[n], method, backend="cpu"))
            reference[n, method] = Z
            rows.append({"n": n, "method": method, "engine": "cpu", "workers": 0,
                         "threads": numba.get_num_threads(), "seconds": round(t, 3)})
            print(rows[-1], flush=True)
    for w in args.workers:
        with local_cluster(w) as cluster, \
                distributed.Client(cluster, set_as_default=False) as client:
            for method in args.methods:  # compile (Numba, or the CUDA kernels) outside
                gpuhclust.linkage(small, method, backend=dask(), client=client)
            for n in args.n:
                for method in args.methods:
                    Z, t = _timed(lambda: gpuhclust.linkage(data[n], method, backend=dask(),
                                                            client=client))
                    st = dict(dask_backend.last_run)
                    cpu_s = next(r["seconds"] for r in rows if r["engine"] == "cpu"
                                 and r["n"] == n and r["method"] == method)
                    rows.append({"n": n, "method": method, "engine": "dask", "workers": w,
                                 "threads": 1, "seconds": round(t, 3),
                                 "shard_compute": st["shard_compute"],
                                 "distances_s": round(st["fill_s"], 3),
                                 "rounds": st["rounds"], "log2_n": round(st["log2_n"], 2),
                                 "rescans": st["rescans"], "rows_moved": st["rows_moved"],
                                 "mib_moved": round(st["bytes_moved"] / 2**20, 1),
                                 "full_rescans": st["full_rescans"],
                                 "vs_cpu": round(t / cpu_s, 2),
                                 "same_Z_as_cpu": _same(Z, reference[n, method])})
                    print(rows[-1], flush=True)
    result = {
        "benchmark": "dask_rounds", "d": args.d, "seed": args.seed,
        "date": datetime.date.today().isoformat(), "machine": platform.machine(),
        "cores": os.cpu_count(),
        "cluster": "LocalCUDACluster" if args.cuda_cluster else "LocalCluster",
        "note": ("LocalCluster(processes=True, threads_per_worker=1) on the same machine as the "
                 "driver; the machine was shared with other work, so timings are noisy; "
                 "'seconds' for dask includes computing the distances on the workers"),
        "rows": rows,
    }
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=1)
        print("wrote", args.out)


if __name__ == "__main__":
    main()
