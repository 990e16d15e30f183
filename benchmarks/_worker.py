"""One measurement of the benchmark suite, in its own process (started by suite.py).

    python benchmarks/_worker.py '{"contender": "scipy", "n": 2000, "d": 16, ...}'

The child imports the contender's library, makes the data from the seed (nothing big crosses
the process boundary; with ``"input": "condensed"`` each call gets the condensed distances of its
observations, computed before the clock starts), then:
1. calls the contender once on 64 observations: the import of its compiled code, and for
   gpuhclust Numba's compile or cache load, timed apart (``compile_s``);
2. warms up on the first ``warmup_n`` observations (not timed into the figures);
3. runs ``repeat`` times under the clock. Before each run the kernel's peak-RSS mark is reset
   (``/proc/self/clear_refs``), so the peak of that run is its own; ``peak_rise_bytes`` is the
   largest rise of the peak over the resident memory just before a run.
It saves the last Z to ``z_out`` and prints one JSON line.
"""
from __future__ import annotations

import json
import resource
import statistics
import sys
import time

import numpy as np

from _contenders import CONTENDERS, input_data, make_data


def _status_bytes(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(field)


def _reset_peak() -> bool:
    """Reset the kernel's high-water mark of resident memory to the current RSS (Linux)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _record_engines() -> list:
    """The engines gpuhclust's backends choose from now on, in call order (engine='auto'
    decides per call; the table names the engine that ran)."""
    chosen = []
    try:
        from gpuhclust import _linkage
    except ImportError:
        return chosen
    plan_for = _linkage.plan_for

    def recording(*args, **kwargs):
        plan = plan_for(*args, **kwargs)
        chosen.append(plan.engine)
        return plan

    _linkage.plan_for = recording
    return chosen


def measure(spec: dict) -> dict:
    contender = CONTENDERS[spec["contender"]]
    chosen = _record_engines() if contender.library == "gpuhclust" else []
    n, d, method, metric = spec["n"], spec["d"], spec["method"], spec["metric"]
    X = make_data(n, d, spec["seed"])
    kind = spec.get("input", "observations")

    data = input_data(X[:min(n, 64)], kind, metric)
    t0 = time.perf_counter()
    contender.run(data, method, metric)
    compile_s = time.perf_counter() - t0

    warmup_n = min(n, spec["warmup_n"])
    warmup_s = None
    if warmup_n >= 2:
        data = input_data(X[:warmup_n], kind, metric)
        t0 = time.perf_counter()
        contender.run(data, method, metric)
        warmup_s = time.perf_counter() - t0
    data = input_data(X, kind, metric)

    exact_peak = _reset_peak()
    times, peaks, rises, Z = [], [], [], None
    baseline = _status_bytes("VmRSS")
    for _ in range(spec["repeat"]):
        Z = None
        _reset_peak()
        before = _status_bytes("VmRSS")
        t0 = time.perf_counter()
        Z = contender.run(data, method, metric)
        times.append(time.perf_counter() - t0)
        peak = (_status_bytes("VmHWM") if exact_peak
                else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
        peaks.append(peak)
        rises.append(max(0, peak - before))
    np.save(spec["z_out"], np.asarray(Z, dtype=np.float64))
    return {"times": times, "median": statistics.median(times), "compile_s": compile_s,
            "warmup_n": warmup_n, "warmup_s": warmup_s, "rss_baseline_bytes": baseline,
            "peak_rss_bytes": max(peaks), "peak_rise_bytes": max(rises),
            "peak_method": "VmHWM reset per run" if exact_peak else "ru_maxrss (whole child)",
            "engine_used": chosen[-1] if chosen else None}


if __name__ == "__main__":
    print(json.dumps(measure(json.loads(sys.argv[1]))), flush=True)
