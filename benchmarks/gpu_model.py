"""Estimated H200 times of gpuhclust's CUDA backend, from counts of what its kernels do (a model:
no GPU runs here).

Every configuration (method x engine x algorithm x dtype) runs ``linkage`` on backend 'cuda-sim'
inside ``gpuhclust._sim.counting()`` at several small n; each count (per kernel: launches,
blocks, sectors read and written, barriers, serial accesses, ...; per call: host syncs) is
fitted against n by non-negative least squares on the terms of [chunks(n), n, n log2 n, n^2]
that best predict the largest measured n from the smaller ones
(chunks(n): the host's progress chunks, ~100 for every n >= 101; launches and host syncs are
fitted on [1, chunks(n), n] instead: per call, per chunk, per merge), the fits' residuals are
reported, and the counts extrapolated to n = 10,000 / 50,000 / 100,000 at d = 64 (matrix engine)
and n = 10^6 at d = 32 (vector engine) go through ``gpuhclust._sim.cost_model``.

The rounds (complete, average, weighted, ward) launch a fixed number of kernels per round, and
rounds grow far slower than n (a few dozen at n = 100, a few hundred at n = 10^4): their
launches and host syncs are fitted on [1, rounds(n)] instead, rounds(n) a power law fitted to
round counts measured on the CPU backend at n up to ROUND_SIZES[-1] (the rounds are the same on
every executor: the same merges in the same order), with the simulator's own counts at small n.

    python benchmarks/gpu_model.py [--quick] [--json PATH] [--calibration FILE]
    python benchmarks/gpu_model.py --readme [--results FILE]

Measurement shapes (SHAPES): grid-stride kernels run with 32-thread blocks and at most 4 blocks,
so that their grids are capped at every measured n as the device's are at the sizes estimated
(a grid-stride kernel's traffic does not depend on its grid, but the work of a kernel that
reduces another's per-block results does: with the device's cap the fits would extrapolate it
as growing with n); a kernel capped when measured gets the device's ``max_blocks`` blocks, one
whose grid grows with n (the distance tiles) the extrapolation of its fit, capped likewise; the
one-block loops run with 256 threads instead of the device's 1024 (4x fewer fibers to simulate;
their memory traffic, barriers and serial sections do not depend on it, their warp operations
are 4x fewer).
The vector engine computes in float64 whatever the dtype, so it is measured once and reported
for both dtypes.
"""
from __future__ import annotations

import argparse
import datetime
import itertools
import json
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.optimize import nnls

import gpuhclust
from gpuhclust._engines import VECTOR_METHODS
from gpuhclust._methods import METHODS
from gpuhclust._progress import chunk_ends
from gpuhclust._sim import counting
from gpuhclust._sim.cost_model import LaunchProfile, call_seconds, launch_seconds, load_device
from gpuhclust.cpu import backend as cpu_backend
from gpuhclust.cuda import backend as cuda_backend
from gpuhclust.cuda._context import SimContext
from gpuhclust.cuda.backend import SimBackend

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
README = ROOT / "README.md"
README_START, README_END = "<!-- gpu-model:start", "<!-- gpu-model:end -->"

# How each engine runs each algorithm of the method table (METHODS[...].algorithms) that the
# CUDA backend offers on it (CudaBackend.algorithms): the label in the JSON and the extra
# linkage() keywords that select it. A new algorithm or engine is one more entry here.
ALGORITHMS = {
    ("matrix", "mst"): ("mst", {"algorithm": "mst"}),
    ("matrix", "rounds"): ("rounds", {"algorithm": "rounds"}),
    ("matrix", "nn_chain"): ("nn_chain", {"algorithm": "nn_chain"}),
    ("matrix", "generic"): ("generic", {"algorithm": "generic"}),
    ("matrix", "tournament"): ("tournament", {"algorithm": "tournament"}),
    ("vector", "mst"): ("mst", {"algorithm": "mst"}),
    ("vector", "nn_chain"): ("vector_chain", {"algorithm": "nn_chain"}),
    ("vector", "rounds"): ("vector_rounds", {"algorithm": "rounds"}),
    ("vector", "generic"): ("vector_generic", {"algorithm": "generic"}),
    ("vector", "tournament"): ("vector_tournament", {"algorithm": "tournament"}),
}
# Per engine: dimension, sizes estimated, dtypes reported, and which dtypes need their own
# measurement (the vector engine works in float64 whatever the dtype).
ENGINES = {
    "matrix": {"d": 64, "targets": (10_000, 50_000, 100_000), "dtypes": ("float32", "float64"),
               "measured_dtypes": ("float32", "float64")},
    "vector": {"d": 32, "targets": (1_000_000,), "dtypes": ("float32", "float64"),
               "measured_dtypes": ("float64",)},
}
SIZES = (101, 126, 151, 201, 251)   # n - 1 >= 100: the host runs ~100 chunks, as at large n
QUICK_SIZES = (101, 151, 201)
# Larger n where the law is hard to pin at small n: the generic algorithm's serial heap work
# grows slowly with n (about log n per merge), which a few n <= 251 cannot tell from n^2; the
# tournament's rescans per merge (each one more graph node) likewise.
EXTRA_SIZES = {"generic": (501, 1001), "vector_generic": (501, 1001), "rounds": (501,),
               "tournament": (501, 1001), "vector_tournament": (501, 1001)}
HOLDOUT_SLACK = 0.05
QUICK = (("average", "matrix", "nn_chain", "float32"), ("average", "matrix", "rounds", "float32"),
         ("single", "vector", "mst", "float64"))
SHAPES = {"threads": 32, "loop_threads": 256, "max_blocks": 4}
WORK_BASIS = ("chunks", "n", "n_log2_n", "n^2")
CALL_BASIS = ("1", "chunks", "n")  # launches and host syncs: per call, per chunk, per merge
ROUND_BASIS = ("1", "rounds")  # launches and host syncs of the rounds: per call, per round
ROUND_SIZES = (1000, 2000, 4000, 8000, 16000)  # round counts measured on the CPU backend
QUICK_ROUND_SIZES = (1000, 2000)
FITTED = ("launches", "blocks", "threads", "sectors_read", "sectors_written", "warp_sectors_read",
          "warp_sectors_written", "thread_accesses",
          "shared_accesses", "atomics", "shared_atomics", "warp_ops", "block_barriers",
          "grid_barriers", "serial_accesses", "serial_reads", "warp_partial_sectors_written",
          "warp_partial_sectors_read")
LABEL = "model estimate (H200)"


@dataclass(frozen=True)
class Config:
    """One measured configuration; `dtypes` are the dtypes its counts stand for."""

    method: str
    engine: str
    algorithm: str
    dtype: str
    dtypes: tuple
    kwargs: dict = field(default_factory=dict, hash=False, compare=False)

    @property
    def d(self) -> int:
        return ENGINES[self.engine]["d"]


def configurations(quick: bool = False) -> list[Config]:
    """Every (method, engine, algorithm, dtype) the CUDA backend runs today, read from the
    method table, the backend's algorithms, the vector engine's methods and :data:`ALGORITHMS`."""
    out = []
    for name, method in METHODS.items():
        for engine, spec in ENGINES.items():
            if engine == "vector" and name not in VECTOR_METHODS:
                continue
            for family in method.algorithms:
                if family not in SimBackend.algorithms[engine]:
                    continue
                algorithm, kwargs = ALGORITHMS[engine, family]
                for dtype in spec["measured_dtypes"]:
                    if quick and (name, engine, algorithm, dtype) not in QUICK:
                        continue
                    reported = spec["dtypes"] if len(spec["measured_dtypes"]) == 1 else (dtype,)
                    out.append(Config(name, engine, algorithm, dtype, reported, kwargs))
    return out


def chunks(n: int) -> int:
    """Progress chunks the host splits n - 1 merges into (gpuhclust._progress)."""

    class _Bar:
        def update(self, _):
            pass

    return sum(1 for _ in chunk_ends(n - 1, _Bar()))


def basis(n: float, names=WORK_BASIS, rounds: float | None = None) -> np.ndarray:
    terms = {"1": 1.0, "chunks": chunks(int(n)), "n": n, "n_log2_n": n * math.log2(n), "n^2": n * n,
             "rounds": rounds}
    return np.array([terms[b] for b in names], dtype=float)


def _observations(config: Config, n: int) -> np.ndarray:
    return np.random.default_rng(n).standard_normal((n, config.d))


def count_rounds(config: Config, ns) -> dict:
    """Rounds of `config` at each n in `ns`, run on the CPU backend (same data as
    :func:`measure`): ``{n: rounds}``."""
    out = {}
    for n in ns:
        gpuhclust.linkage(_observations(config, n), config.method, backend="cpu",
                          engine=config.engine, dtype=np.dtype(config.dtype), **config.kwargs)
        out[n] = int(cpu_backend.last_run["rounds"])
    return out


def round_law(counts: dict) -> dict:
    """rounds(n) = a * n^b, least squares on log rounds against log n."""
    ns = np.array(sorted(counts), dtype=float)
    r = np.array([counts[k] for k in sorted(counts)], dtype=float)
    b, log_a = np.polyfit(np.log(ns), np.log(r), 1)
    rel = np.abs(np.exp(log_a) * ns ** b - r) / r
    return {"a": float(np.exp(log_a)), "b": float(b), "max_rel_residual": float(rel.max()),
            "counts": {str(k): v for k, v in sorted(counts.items())}}


def predict_rounds(law: dict, n: float) -> float:
    return law["a"] * n ** law["b"]


def measure(config: Config, n: int) -> dict:
    """Counts of one linkage call on the simulator."""
    X = _observations(config, n)
    backend = SimBackend(SimContext(schedule="forward", **SHAPES))
    cuda_backend.last_run.clear()
    with counting() as c:
        gpuhclust.linkage(X, config.method, backend=backend, engine=config.engine,
                          dtype=np.dtype(config.dtype), **config.kwargs)
    rounds = {q: cuda_backend.last_run[q] for q in ("rounds", "rescans_per_merge")
              if q in cuda_backend.last_run}  # measured, not estimated: the rounds' own counts
    kernels = {}
    for name, k in c.kernels.items():
        threads = sum(r.threads_per_block for r in c.records if r.kernel == name)
        one_block = all(r.blocks == 1 for r in c.records if r.kernel == name)
        # capped: most launches at the grid-stride limit (scans over shrinking ranges end below it)
        capped = 2 * sum(r.blocks == SHAPES["max_blocks"] for r in c.records if r.kernel == name) > k.launches
        kernels[name] = {"launches": k.launches, "graph_nodes": k.graph_nodes,
                         "blocks": k.blocks, "threads": threads,
                         "one_block": one_block, "capped": capped and not one_block, **k.totals}
    return {"n": n, "launches": c.launches, "host_launches": c.host_launches,
            "graph_launches": c.graph_launches, "host_syncs": c.host_syncs, "kernels": kernels,
            **rounds}


def _solve(A: np.ndarray, y: np.ndarray, exact: bool) -> tuple[np.ndarray, float]:
    scale = A.max(axis=0)
    scale[scale == 0] = 1.0
    if exact:  # small exact relations such as 2 (n - 1) launches: plain least squares
        coef = np.linalg.lstsq(A / scale, y, rcond=None)[0]
    else:  # work only adds up: no negative terms, which would swing the extrapolation
        coef = nnls(A / scale, y)[0]
    coef = coef / scale
    err = np.abs(A @ coef - y)
    rel = np.where(y != 0, err / np.maximum(np.abs(y), 1e-300), err)
    return coef, float(rel.max()) if len(rel) else 0.0


# Counts that are one block's latency (its barriers, warp operations and dependent reads),
# summed over the simulated blocks. In a cooperative kernel every block passes them in every
# step (a grid barrier apart), but the simulator runs it on 1 block at n <= 251, 2 at 501 and 4
# at 1,001 (the grid grows with the rows): summed, they grow as steps times blocks, and a fit
# against n would extrapolate them as n^2. They are charged per block and step instead: one
# block's count per grid barrier at the largest n counted (the most blocks, as on a device,
# where the reduction over the blocks' parts is longer), times the device's blocks and the
# grid barriers fitted.
PER_BLOCK = ("block_barriers", "warp_ops", "serial_reads")


def _per_step(per: list, q: str) -> dict:
    """One block's count `q` per grid barrier, from the largest n counted (`per`: a cooperative
    kernel's counts per n, ascending; every launch of it has the same grid)."""
    ratios = [p[q] * p["launches"] / max(p["blocks"], 1) / max(p["grid_barriers"], 1)
              for p in per if p]
    ratio = ratios[-1]
    # how far the smaller n (fewer blocks) are from it, relative to the largest ratio
    spread = max(abs(r - ratio) for r in ratios) / max(max(ratios), 1e-300)
    return {"per_grid_step": ratio, "coefficients": {"per grid step": ratio},
            "per_grid_step_by_n": ratios, "max_rel_residual": spread}


def fit(ns, values, names=WORK_BASIS, rounds=None) -> dict:
    """Least squares of `values` on the basis `names` at `ns`.

    Launches and host syncs (:data:`CALL_BASIS`): plain least squares on every term. Work
    (:data:`WORK_BASIS`): non-negative least squares on the subset of terms that best predicts
    the largest n from the smaller ones (ties go to fewer terms), then refitted on every n: a
    few small n cannot tell n^2 from a mix of n and n log n, and the law chosen is the one that
    extrapolates best where it can be checked; among those within :data:`HOLDOUT_SLACK` of the
    best, the one with the fewest terms. ``holdout_rel_error`` says how well it did.
    """
    rounds = rounds if rounds is not None else [None] * len(ns)
    A = np.array([basis(n, names, r) for n, r in zip(ns, rounds)])
    y = np.asarray(values, dtype=float)
    if names in (CALL_BASIS, ROUND_BASIS) or len(ns) < 3:
        coef, rel = _solve(A, y, exact=names in (CALL_BASIS, ROUND_BASIS))
        return {"coefficients": dict(zip(names, coef.tolist())), "max_rel_residual": rel}
    trials = []
    for size in range(1, len(names) + 1):
        for subset in itertools.combinations(range(len(names)), size):
            cols = list(subset)
            coef, _ = _solve(A[:-1, cols], y[:-1], exact=False)
            err = abs(float(A[-1, cols] @ coef) - y[-1]) / max(abs(y[-1]), 1e-300)
            trials.append((size, err, cols))
    least = min(err for _, err, _ in trials)
    # the fewest terms that predict about as well as the best (a tiny n^2 term that gains a
    # fraction of a percent at n ~ 10^3 would dominate at 10^6)
    _, holdout, cols = min(t for t in trials if t[1] <= least + HOLDOUT_SLACK)
    coef, rel = _solve(A[:, cols], y, exact=False)
    full = np.zeros(len(names))
    full[cols] = coef
    return {"coefficients": dict(zip(names, full.tolist())), "max_rel_residual": rel,
            "holdout_rel_error": holdout}


def predict(f: dict, n: float, rounds: float | None = None) -> float:
    names = tuple(f["coefficients"])
    return float(basis(n, names, rounds) @ np.array([f["coefficients"][b] for b in names]))


def estimate(config: Config, runs: list[dict], device: dict,
             law: dict | None = None) -> tuple[list[dict], list[dict]]:
    """Estimates at the engine's target sizes, and the fits they come from; `law` (rounds
    only) is the fitted round count, see :func:`round_law`."""
    ns = [r["n"] for r in runs]
    # per call and per round for the rounds, else per call, per chunk and per merge
    calls = ROUND_BASIS if law else CALL_BASIS
    measured_rounds = [r.get("rounds") for r in runs] if law else None
    names = sorted({k for r in runs for k in r["kernels"]})
    head = {"method": config.method, "engine": config.engine, "algorithm": config.algorithm,
            "dtype": config.dtype, "d": config.d, "ns": ns}
    fits, kernel_fits = [], {}
    for name in names:
        per = [r["kernels"].get(name) for r in runs]
        # a kernel with grid barriers is launched cooperatively: one block per SM on a device
        # (CupyContext.cooperative_blocks), whatever grid the small simulated n gave it
        cooperative = any(p["grid_barriers"] > 0 for p in per if p)
        kernel_fits[name] = {}
        for q in FITTED:
            if any(p is not None and q not in p for p in per):  # counts from before q was
                kernel_fits[name][q] = None                      # counted (an older --counts)
                continue
            if cooperative and q in PER_BLOCK:
                f = _per_step(per, q)
                fits.append({**head, "quantity": f"{name}.{q} (one block's, per grid step)", **f})
            else:
                # per call, chunk and merge like the launches: the steps of a device loop
                per_call = q in ("launches", "threads", "grid_barriers")
                f = fit(ns, [p[q] if p else 0 for p in per], calls if per_call else WORK_BASIS,
                        measured_rounds if per_call else None)
                fits.append({**head, "quantity": f"{name}.{q}", **f})
            kernel_fits[name][q] = f
        kernel_fits[name]["one_block"] = all(p["one_block"] for p in per if p)
        kernel_fits[name]["capped"] = per[-1] is not None and per[-1]["capped"]
        kernel_fits[name]["cooperative"] = cooperative
    # counts from before graphs (--counts of an older JSON): every kernel run was a host launch
    call_fits = {q: fit(ns, [r.get(q, r["launches"]) for r in runs], calls, measured_rounds)
                 for q in ("host_syncs", "launches", "host_launches")}
    fits += [{**head, "quantity": q, **f} for q, f in call_fits.items()]

    estimates = []
    for n in ENGINES[config.engine]["targets"]:
        kernels, total = {}, 0.0
        rounds = predict_rounds(law, n) if law else None
        for name, kf in kernel_fits.items():
            value = {q: max(predict(kf[q], n, rounds), 0.0) for q in FITTED
                     if kf[q] is not None and not (kf["cooperative"] and q in PER_BLOCK)}
            launches = value["launches"]
            if launches < 0.5:
                continue
            if kf["cooperative"]:
                blocks = float(device["sms"])
            elif kf["one_block"]:
                blocks = 1.0
            elif kf["capped"]:
                blocks = float(device["max_blocks"])
            else:
                blocks = min(max(value["blocks"] / launches, 1.0), device["max_blocks"])
            if kf["cooperative"]:  # one block's per step, and every block pays them
                for q in PER_BLOCK:
                    value[q] = kf[q]["per_grid_step"] * value["grid_barriers"] * blocks
            # none where the counts predate the count (an older --counts)
            partial = value.get("warp_partial_sectors_written", 0.0)
            gathered = value.get("warp_partial_sectors_read", 0.0)
            profile = LaunchProfile(
                blocks=blocks, threads_per_block=value["threads"] / launches,
                sectors_read=value["sectors_read"] / launches,
                sectors_written=value["sectors_written"] / launches,
                dram_sectors_read=value["warp_sectors_read"] / launches,
                dram_sectors_written=value["warp_sectors_written"] / launches,
                memory_ops=(value["thread_accesses"] + value["shared_accesses"] + value["atomics"]
                            + value["shared_atomics"]) / launches,
                warp_ops=value["warp_ops"] / launches,
                block_barriers=value["block_barriers"] / launches,
                serial_reads=value["serial_reads"] / launches,
                partial_sectors_written=partial / launches,
                partial_sectors_read=gathered / launches)
            one = launch_seconds(profile, device, config.dtype)
            seconds = launches * one["seconds"]
            total += seconds
            kernels[name] = {"launches": round(launches), "sectors_read": value["sectors_read"],
                             "sectors_written": value["sectors_written"],
                             "partial_sectors_written": partial,
                             "partial_sectors_read": gathered,
                             "seconds": seconds,
                             "dram_bytes": 32.0 * (value["warp_sectors_read"]
                                                   + value["warp_sectors_written"]),
                             "blocks_per_launch": blocks, "bound": one["bound"],
                             "block_barriers": value["block_barriers"],
                             "serial_accesses": value["serial_accesses"],
                             "grid_barriers": value["grid_barriers"]}
        launches = sum(k["launches"] for k in kernels.values())
        host_launches = max(predict(call_fits["host_launches"], n, rounds), 0.0)
        host_syncs = max(predict(call_fits["host_syncs"], n, rounds), 0.0)
        grid_barriers = sum(k["grid_barriers"] for k in kernels.values())
        seconds = call_seconds(total, host_launches, host_syncs, grid_barriers, device)
        for dtype in config.dtypes:
            estimates.append({
                "method": config.method, "engine": config.engine, "algorithm": config.algorithm,
                "dtype": dtype, "n": n, "d": config.d, "seconds": seconds, "launches": launches,
                "host_launches": round(host_launches),
                "host_syncs": round(host_syncs), "grid_barriers": round(grid_barriers),
                "block_barriers": sum(k["block_barriers"] for k in kernels.values()),
                "dram_bytes": sum(k["dram_bytes"] for k in kernels.values()),
                "kernels": kernels, "measured_dtype": config.dtype,
                **({"rounds": round(rounds)} if law else {})})
    return estimates, fits


ROUNDS_ALGORITHMS = ("rounds", "vector_rounds")  # whose launches and syncs follow the rounds


def run(quick: bool, device: dict, log=print, counts: dict | None = None,
        reuse: dict | None = None) -> dict:
    """Measure (or take from `counts`, a previous result's JSON) and estimate. With `reuse`
    (results JSON in the same shape), configurations it holds take its counts, the others
    are simulated."""
    sizes = tuple(counts["sizes"]) if counts else QUICK_SIZES if quick else SIZES
    earlier = {(m["method"], m["engine"], m["algorithm"], m["dtype"]): m["runs"]
               for m in (counts or {}).get("measured", ())}
    earlier_laws = {(m["method"], m["engine"], m["algorithm"], m["dtype"]): m
                    for m in (counts or {}).get("round_laws", ())}
    reused = {(m["method"], m["engine"], m["algorithm"], m["dtype"]): m["runs"]
              for m in (reuse or {}).get("measured", ())}
    reused_laws = {(m["method"], m["engine"], m["algorithm"], m["dtype"]): m
                   for m in (reuse or {}).get("round_laws", ())}
    earlier_laws = {**reused_laws, **earlier_laws}
    estimates, fits, measured, laws = [], [], [], []
    for config in configurations(quick):
        t0 = time.perf_counter()
        key = (config.method, config.engine, config.algorithm, config.dtype)
        if counts and key not in earlier:
            continue
        ns = sizes if quick else sizes + EXTRA_SIZES.get(config.algorithm, ())
        runs = (earlier[key] if counts else reused[key] if key in reused
                else [measure(config, n) for n in ns])
        law = None
        if config.algorithm in ROUNDS_ALGORITHMS:
            cpu_counts = (earlier_laws[key]["counts"] if key in earlier_laws
                          else count_rounds(config, QUICK_ROUND_SIZES if quick else ROUND_SIZES))
            law = round_law({**{int(k): v for k, v in cpu_counts.items()},
                             **{r["n"]: r["rounds"] for r in runs}})
            laws.append({"method": config.method, "engine": config.engine,
                         "algorithm": config.algorithm, "dtype": config.dtype, **law})
        est, f = estimate(config, runs, device, law)
        estimates += est
        fits += f
        measured.append({"method": config.method, "engine": config.engine,
                         "algorithm": config.algorithm, "dtype": config.dtype, "runs": runs})
        log(f"counted {config.method:9s} {config.engine:6s} {config.algorithm:14s} "
            f"{config.dtype:7s} at n = {', '.join(str(r['n']) for r in runs)} "
            f"({time.perf_counter() - t0:.0f} s of simulation)")
    return {"label": LABEL, "device": device, "estimates": estimates, "fits": fits,
            "measured": measured, "round_laws": laws, "sizes": list(sizes), "shapes": SHAPES,
            "quick": quick, "reused": sorted({"/".join(k) for k in reused} & {
                "/".join((m["method"], m["engine"], m["algorithm"], m["dtype"]))
                for m in measured}),
            "date": datetime.date.today().isoformat(),
            "generated": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "gpuhclust": gpuhclust.__version__}


def format_table(result: dict) -> str:
    lines = [f"gpuhclust on {result['device']['name']}: {LABEL}; every figure below is a model "
             "estimate, not a measurement",
             f"{'method':9s} {'engine':6s} {'algorithm':14s} {'dtype':7s} {'n':>9s} "
             f"{'est. seconds':>14s} {'est. launches':>13s} {'est. syncs':>10s} "
             f"{'est. DRAM GB':>12s}  slowest kernel (est.)"]
    for e in result["estimates"]:
        slow = max(e["kernels"].items(), key=lambda kv: kv[1]["seconds"])
        lines.append(
            f"{e['method']:9s} {e['engine']:6s} {e['algorithm']:14s} {e['dtype']:7s} {e['n']:>9,d} "
            f"{e['seconds']:>10.3g} est {e['launches']:>13,d} {e['host_syncs']:>10,d} "
            f"{e['dram_bytes'] / 1e9:>12.3g}  {slow[0]} ~{slow[1]['seconds']:.3g} s est, "
            f"{slow[1]['bound']}-bound at {slow[1]['blocks_per_launch']:.0f} block(s)"
            + (f"; {e['rounds']:,d} rounds (fitted)" if "rounds" in e else ""))
    for law in result.get("round_laws", ()):
        lines.append(f"rounds of {law['method']} {law['dtype']}: {law['a']:.3g} * n^{law['b']:.3f} "
                     f"(largest relative residual {law['max_rel_residual']:.2g}; counted at n = "
                     f"{', '.join(law['counts'])})")
    worst = max((f for f in result["fits"]), key=lambda f: f["max_rel_residual"], default=None)
    if worst:
        lines.append(f"largest relative fit residual: {worst['max_rel_residual']:.2g} "
                     f"({worst['method']} {worst['engine']} {worst['dtype']} {worst['quantity']})")
    return "\n".join(lines)


# --------------------------------------------------------------------------- README


def latest_results() -> Path:
    """The newest full (not --quick) results file, by its own date and generation time (file
    names with suffixes do not sort by age)."""
    def age(path):
        result = json.loads(path.read_text())
        return (not result.get("quick"), result.get("date", ""), result.get("generated", ""))

    files = sorted(RESULTS.glob("gpu-model-*.json"), key=age)
    if not files:
        raise SystemExit("no benchmarks/results/gpu-model-*.json: run the full model first")
    return files[-1]


def default_label(method: str, engine: str) -> str:
    """The label (as in the results) of the algorithm `method` runs by default on `engine`."""
    return ALGORITHMS[engine, METHODS[method].default_algorithm][0]


def readme_table(result: dict, source: str) -> str:
    """Markdown: method x engine rows of the default algorithms (the others stay in the results
    file and docs/gpu.md), the target sizes as columns, float32 / float64 in each cell."""
    sizes = sorted({e["n"] for e in result["estimates"]})
    dtypes = sorted({e["dtype"] for e in result["estimates"]})
    seconds = {(e["method"], e["engine"], e["algorithm"], e["dtype"], e["n"]): e["seconds"]
               for e in result["estimates"]}
    rows = sorted({(e["method"], e["engine"], e["algorithm"])
                   for e in result["estimates"]
                   if e["algorithm"] == default_label(e["method"], e["engine"])},
                  key=lambda r: (list(METHODS).index(r[0]), r[1], r[2]))
    head = ("| method | engine (algorithm) | "
            + " | ".join(f"n = {n:,}" for n in sizes) + " |")
    out = [head, "|" + "---|" * (2 + len(sizes))]
    for method, engine, algorithm in rows:
        cells = []
        for n in sizes:
            found = [seconds.get((method, engine, algorithm, dt, n)) for dt in dtypes]
            cells.append("" if all(s is None for s in found) else " / ".join(
                "-" if s is None else f"~{s:.3g} s" for s in found))
        out.append(f"| {method} | {engine} ({algorithm}) | " + " | ".join(cells) + " |")
    d = {e["engine"]: e["d"] for e in result["estimates"]}
    extra = {}
    for m in result.get("measured", ()):
        more = sorted({r["n"] for r in m["runs"]} - set(result["sizes"]))
        if more:
            extra.setdefault(", ".join(map(str, more)), set()).add(m["algorithm"])
    also = "".join(f" ({', '.join(sorted(algs))} also at n = {ns})" for ns, algs in extra.items())
    out.append("")
    out.append(f"Each cell: {' / '.join(dtypes)} storage. "
               "Each method's default algorithm; SciPy's sequential ones are in the results file. "
               f"Model estimates for one {result['device']['name']}, not measurements (the "
               f"measured times are in the table above). Counts of what each kernel does (memory sectors, barriers, "
               f"serial accesses, launches, host syncs) measured on the kernel simulator at "
               f"n = {', '.join(map(str, result['sizes']))}{also}, fitted against n, n log n, n^2 "
               f"and extrapolated (matrix d = {d.get('matrix')}, vector d = {d.get('vector')}; the "
               f"vector engine computes in float64 whatever the dtype); the model is "
               f"`gpuhclust/_sim/cost_model.py`. From `{source}`, generated by "
               "`python benchmarks/gpu_model.py --readme`.")
    return "\n".join(out)


def update_readme(results: Path) -> None:
    from _report import write_readme

    result = json.loads(results.read_text())
    write_readme(README, readme_table(result, results.relative_to(ROOT).as_posix()),
                 README_START, README_END)


def _merged(paths) -> dict:
    """The measured counts and round laws of several results files, later files winning."""
    measured, laws = {}, {}
    for path in paths:
        result = json.loads(Path(path).read_text())
        for m in result.get("measured", ()):
            measured[m["method"], m["engine"], m["algorithm"], m["dtype"]] = m
        for m in result.get("round_laws", ()):
            laws[m["method"], m["engine"], m["algorithm"], m["dtype"]] = m
    return {"measured": list(measured.values()), "round_laws": list(laws.values())}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="a few configurations at small n (CI)")
    ap.add_argument("--json", type=Path, help="write the results here")
    ap.add_argument("--calibration", type=Path, help="device figures from benchmarks/gpu_calibrate.py")
    ap.add_argument("--readme", action="store_true", help="regenerate README.md's GPU (modelled) table")
    ap.add_argument("--results", type=Path, help="results JSON for --readme (default: the newest)")
    ap.add_argument("--counts", type=Path,
                    help="reuse the counts of an earlier --json output instead of simulating "
                         "(e.g. with --calibration)")
    ap.add_argument("--reuse", type=Path, nargs="+", default=(),
                    help="earlier --json outputs whose counts stand for configurations whose "
                         "kernels have not changed since (later files win); the rest is "
                         "simulated, and the output lists what was reused")
    args = ap.parse_args(argv)
    if args.readme:
        update_readme((args.results or latest_results()).resolve())
        return 0
    counts = json.loads(args.counts.read_text()) if args.counts else None
    result = run(args.quick or bool(counts and counts.get("quick")), load_device(args.calibration),
                 log=lambda s: print(s, file=sys.stderr, flush=True), counts=counts,
                 reuse=_merged(args.reuse))
    print(format_table(result))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
