"""Where the matrix engine's time goes, phase by phase, against the floor of its layout.

    python benchmarks/profile_matrix.py --n 20000 --d 16 --methods complete,average,weighted,ward

Every phase is timed --repeat times in one process, the phases taking turns (the host is noisy
and its memory costs depend on what ran just before), and the median is reported (wall and
process CPU seconds):

* ``distances_fresh``: the square Euclidean matrix from the observations written into a fresh
  matrix, allocated as the engine allocates its own (``gpuhclust._memory.empty_large``), on
  all threads: the first write of the memory and the distances, as the engine pays them; the
  matrix is then freed as the engine frees it (``release``);
* ``squares_fresh``: the same with the squared distances ('sqeuclidean'), which the rounds of
  complete and ward keep from observations (``gpuhclust._plan.keeps_squares``);
* ``condensed_fresh``: the same for the condensed layout, the one fastcluster and SciPy use
  (n (n - 1) / 2 entries, ``_distances.condensed_distances``);
* ``first_write`` / ``first_write_condensed``: a fresh matrix of either layout written once
  with zeros on one thread, the page faults alone (for reference);
* ``distances``: the square matrix again, into written memory (the distances alone);
* ``one_pass``: one full scan of that matrix (``scan_rows``, all threads), the first step of
  the rounds and the least any algorithm must read;
* ``row_scans_square`` / ``row_scans_condensed``: the minimum of --scan-rows random rows
  (all threads), read from the square matrix and from a condensed one, where half of each
  row runs down a column: what every rescan and merge of a row would pay in that layout
  (``scan_ns_per_entry``);
* ``loop_<method>``: the merge loop alone on a copy of the matrix (of the squares, for complete
  and ward, with the update code the plan gives them), the method's default algorithm;
* ``gpuhclust_<method>``: ``gpuhclust.linkage`` end to end from the observations;
* ``fastcluster_<method>``, ``scipy_pdist``: the peers, same data, same process.

The floor of the square layout is ``distances_fresh + one_pass`` (``squares_fresh + one_pass``
for complete and ward): no engine that keeps the square
float64 matrix can beat it. ``fastcluster / floor`` is therefore the best ratio to fastcluster
the layout allows here, and ``gpuhclust - floor`` is what the engine spends beyond it (freeing
the matrix included). The condensed layout's floor is ``condensed_fresh + one_pass / 2`` (its
first scan can be one pass over the triangle).

The condensed layout halves the memory written, but its rows cost several times as much to
read; ``scan_ns_per_entry`` and the entries the rounds read along rows (``scans``) size that
trade for an engine that reads rows as this one does (an engine built around passes over the
triangle would pay differently).

The JSON goes to benchmarks/results/profile-matrix-n<n>-d<d>-<date>.json (--out: another folder).
"""
from __future__ import annotations

import argparse
from dataclasses import replace
import datetime as dt
import json
import os
import statistics
import time
from pathlib import Path

import numba
import numpy as np
import scipy.spatial.distance as ssd

import gpuhclust
from gpuhclust._memory import empty_large, release_large
from gpuhclust._methods import get_method
from gpuhclust._plan import SQUARED_METHODS
from gpuhclust._metrics import prepare_metric
from gpuhclust._progress import progress_bar
from gpuhclust.cpu import _distances, _round_rows
from gpuhclust.cpu import backend as cpu_backend

RESULTS = Path(__file__).resolve().parent / "results"


def _timed(fn):
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, {"wall_s": time.perf_counter() - wall, "cpu_s": time.process_time() - cpu}


def _first_write(shape, record):
    """A fresh matrix of `shape`, allocated as the engine allocates its own, written once with
    zeros on one thread (timed into `record`) and freed."""
    D, t = _timed(lambda: empty_large(shape, np.float64))
    _, fill = _timed(lambda: D.fill(0.0))
    record("first_write" if len(shape) == 2 else "first_write_condensed",
           {k: t[k] + fill[k] for k in t})


def _fresh_distances(prepared, squares, n, record):
    """The distances into fresh memory in either layout, as the engine (square) or a condensed
    engine would write them, timed into `record`; the square matrix is freed as the engine
    frees it, and that is timed too ('release'). And the squared distances into a fresh square
    matrix, as the rounds of complete and ward write them (`squares`, 'squares_fresh')."""
    def square(metric=prepared):
        D = empty_large((n, n), np.float64)
        _distances.square_from_observations(metric.X, *metric.kernel_args, D)
        return D

    held, t = _timed(lambda: [square(squares)])
    record("squares_fresh", t)
    release_large(held[0], cpu_backend._threads())
    held.clear()

    def condensed():
        y = empty_large((n * (n - 1) // 2,), np.float64)
        _distances.condensed_distances(prepared.X, *prepared.kernel_args, y)
        return y

    y, t = _timed(condensed)
    record("condensed_fresh", t)
    del y
    held, t = _timed(lambda: [square()])
    record("distances_fresh", t)

    def release():
        release_large(held[0], cpu_backend._threads())
        held.clear()  # the last reference: the mapping is unmapped here

    record("release", _timed(release)[1])


def _one_pass(D):
    """The rounds' first scan of the matrix (``LocalRows.scan_all``)."""
    _round_rows.LocalRows(D, True, get_method("complete")).scan_all()


@numba.njit(parallel=True, cache=True)
def _scan_square(D, rows, out):
    for t in numba.prange(rows.shape[0]):
        r, low = rows[t], np.inf
        for j in range(D.shape[1]):
            low = min(low, D[r, j])
        out[t] = low


@numba.njit(parallel=True, cache=True)
def _scan_condensed(C, n, rows, out):
    """Row minima of SciPy's condensed matrix: entry (j, r), j < r, is at
    ``n j - j (j + 1) / 2 + r - j - 1``, one column step apart per j; the rest of the row is
    contiguous."""
    for t in numba.prange(rows.shape[0]):
        r, low = rows[t], np.inf
        at = r - 1
        for j in range(r):
            low = min(low, C[at])
            at += n - j - 2
        start = n * r - r * (r + 1) // 2
        for j in range(n - r - 1):
            low = min(low, C[start + j])
        out[t] = low


def _row_scans(D, condensed, rows, record):
    out = np.empty(len(rows))
    record("row_scans_square", _timed(lambda: _scan_square(D, rows, out))[1])
    square = out.copy()
    record("row_scans_condensed", _timed(lambda: _scan_condensed(condensed, D.shape[0], rows, out))[1])
    if not np.array_equal(square, out):
        raise AssertionError("the two layouts' row minima differ")


def _method_as_run(name):
    """The method table entry as the plan hands it to the rounds from observations (float64,
    Euclidean): with the update code on squares where they keep squares."""
    method = get_method(name)
    if name in SQUARED_METHODS:
        method = replace(method, code=SQUARED_METHODS[name])
    return method


def _loop(D, method):
    run = {"nn_chain": cpu_backend._run_nn_chain, "rounds": cpu_backend._run_rounds,
           "generic": lambda *a: cpu_backend._run_generic(*a, tournament=False),
           "tournament": lambda *a: cpu_backend._run_generic(*a, tournament=True),
           "mst": lambda D, nonneg, method, bar: cpu_backend._run_mst_matrix(D, nonneg, bar)}
    with progress_bar(False, D.shape[0] - 1, "") as bar:
        return run[method.default_algorithm](D, True, method, bar)


def _median(samples: list[dict]) -> dict:
    return {k: statistics.median(s[k] for s in samples) for k in samples[0]}


def floor_table(phases: dict, methods: list[str]) -> list[dict]:
    """Per method: gpuhclust and fastcluster end to end, the square layout's floor, and the
    ratios (see the module docstring)."""
    rows = []
    for m in methods:
        fill = "squares_fresh" if m in SQUARED_METHODS else "distances_fresh"
        floor = phases[fill]["wall_s"] + phases["one_pass"]["wall_s"]
        ours = phases[f"gpuhclust_{m}"]["wall_s"]
        peer = phases.get(f"fastcluster_{m}", {}).get("wall_s")
        rows.append({"method": m, "gpuhclust_s": ours, "fastcluster_s": peer, "floor_s": floor,
                     "ratio": peer / ours if peer else None,
                     "best_ratio_at_floor": peer / floor if peer else None,
                     "beyond_floor_s": ours - floor})
    return rows


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--d", type=int, default=16)
    ap.add_argument("--methods", default="complete,average,weighted,ward")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--scan-rows", type=int, default=4000)
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    n, d, methods = args.n, args.d, args.methods.split(",")
    X = np.random.default_rng(0).standard_normal((n, d))
    for m in methods:  # Numba cache loads, not timed below
        gpuhclust.linkage(X[:300], m)
    small = ssd.squareform(ssd.pdist(X[:8]))
    np.fill_diagonal(small, np.inf)  # as the engine's matrix
    _row_scans(small, ssd.pdist(X[:8]), np.arange(8), lambda *_: None)
    try:
        import fastcluster
    except ImportError:
        fastcluster = None
    prepared = prepare_metric(X, "euclidean", {})
    squares = prepare_metric(X, "sqeuclidean", {})
    samples: dict[str, list[dict]] = {}
    scans: dict[str, dict] = {}
    rows = np.random.default_rng(1).integers(0, n, args.scan_rows)

    def record(name, t):
        samples.setdefault(name, []).append(t)

    for _ in range(args.repeat):
        _fresh_distances(prepared, squares, n, record)
        _first_write((n, n), record)
        _first_write((n * (n - 1) // 2,), record)
        D = empty_large((n, n), np.float64)
        D.fill(0.0)
        _, t = _timed(lambda: _distances.square_from_observations(prepared.X, *prepared.kernel_args, D))
        record("distances", t)
        record("one_pass", _timed(lambda: _one_pass(D))[1])
        condensed = ssd.squareform(D, checks=False, force="tovector")
        _row_scans(D, condensed, rows, record)
        del condensed
        work = np.empty_like(D)
        for m in methods:
            if m in SQUARED_METHODS:  # the squares, as the plan has the rounds keep them
                _distances.square_from_observations(squares.X, *squares.kernel_args, work)
            else:
                work[:] = D
            record(f"loop_{m}", _timed(lambda: _loop(work, _method_as_run(m)))[1])
        del work, D
        for m in methods:
            record(f"gpuhclust_{m}", _timed(lambda: gpuhclust.linkage(X, m))[1])
            run = cpu_backend.last_run
            scans[m] = {key: run.get(key) for key in ("merges", "scans_per_merge", "entries_read")}
            if fastcluster is not None:
                record(f"fastcluster_{m}", _timed(lambda: fastcluster.linkage(X, m))[1])
        record("scipy_pdist", _timed(lambda: ssd.pdist(X))[1])
    phases = {name: _median(s) for name, s in samples.items()}
    table = floor_table(phases, methods)
    result = {"n": n, "d": d, "repeat": args.repeat,
              "date": dt.datetime.now().isoformat(timespec="seconds"),
              "cpus": os.cpu_count(), "threads": cpu_backend._threads(),
              "load_average_1min": os.getloadavg()[0], "phases": phases,
              "samples_wall_s": {k: [s["wall_s"] for s in v] for k, v in samples.items()},
              "floor": table, "scans": scans,
              "scan_ns_per_entry": {layout: phases[f"row_scans_{layout}"]["wall_s"] * 1e9 / (len(rows) * n)
                                    for layout in ("square", "condensed")}}
    for key, value in phases.items():
        print(f"{key:24s} wall {value['wall_s']:7.2f} s   cpu {value['cpu_s']:7.2f} s")
    condensed_floor = phases["condensed_fresh"]["wall_s"] + phases["one_pass"]["wall_s"] / 2
    result["condensed_floor_s"] = condensed_floor
    one_pass = phases["one_pass"]["wall_s"]
    print(f"\nfloor of the square layout (distances_fresh + one_pass): "
          f"{phases['distances_fresh']['wall_s'] + one_pass:.2f} s, of the squares (squares_fresh "
          f"+ one_pass, complete and ward): {phases['squares_fresh']['wall_s'] + one_pass:.2f} s; "
          f"of the condensed layout: {condensed_floor:.2f} s")
    for row in table:
        peer = row["fastcluster_s"]
        print(f"{row['method']:9s} floor {row['floor_s']:5.2f} s  gpuhclust {row['gpuhclust_s']:5.2f} s  "
              + (f"fastcluster {peer:6.2f} s  ratio {row['ratio']:4.1f}x  "
                 f"best at the floor {row['best_ratio_at_floor']:4.1f}x  " if peer else "")
              + f"beyond the floor {row['beyond_floor_s']:5.2f} s")
    per_entry = result["scan_ns_per_entry"]
    print(f"a row scan costs {per_entry['square']:.2f} ns per entry in the square matrix, "
          f"{per_entry['condensed']:.2f} in the condensed one")
    saved = phases["distances_fresh"]["wall_s"] - phases["condensed_fresh"]["wall_s"]
    for m, run in scans.items():
        if run["entries_read"]:
            extra = (run["entries_read"] - n * n) * (per_entry["condensed"] - per_entry["square"]) * 1e-9
            print(f"{m:9s} rows read: {run['entries_read'] / n**2:.2f} n^2 entries; read from the condensed "
                  f"layout the rows after the first scan would cost {extra:.2f} s more, against "
                  f"{saved:.2f} s saved by its fresh distances")
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"profile-matrix-n{n}-d{d}-{dt.date.today().isoformat()}.json"
    path.write_text(json.dumps(result, indent=1))
    print(f"wrote {path}")
    return result


if __name__ == "__main__":
    main()
