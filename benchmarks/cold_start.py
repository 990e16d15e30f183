"""Time to the first linkage matrix in a new process: cold (empty Numba cache) and warm.

Each case runs in its own Python process with ``NUMBA_CACHE_DIR`` pointing at a folder of its
own, so "cold" means what a fresh install sees: every Numba function the call needs is
compiled. Reported per case: wall seconds from process start to Z (import included) and the
CPU seconds the process used (user + sys; compilation is single-threaded, so CPU time is the
steadier figure on a busy machine). Warm cases reuse a cache filled by a previous process and
are compared with SciPy's import plus first call.

Each cold process also lists what Numba compiled (its "numba:compile" events): per function
the signatures and the seconds spent in it, callees' compilations excluded; the JSON keeps the
slowest of them per case.

``--tree PATH`` (repeatable) runs the cases against the gpuhclust source tree at PATH (put
first on ``PYTHONPATH``), e.g. a ``git worktree`` of an older commit; with several trees every
case runs for each tree in turn, so that a busy machine slows them alike.

Usage::

    python benchmarks/cold_start.py [--n 500] [--repeat 3] [--alone average,ward]
                                    [--backend auto --backend cpu] [--tree PATH ...]
                                    [--json PATH]
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
TOP = 12  # compiled functions kept per cold case

# Runs in the child: import, make data, one linkage per method; prints one JSON line: the
# seconds to Z, where gpuhclust came from, and what Numba compiled.
CHILD = """
import json, sys, time
t0 = time.perf_counter()
lib = sys.argv[1]
compiled = []
if lib != "scipy":
    # listen to Numba's compilations from the moment Numba is imported, without importing it
    # (backend 'numpy' never does)
    import importlib.abc
    import importlib.util

    def listen(event):
        class Compiles(event.Listener):
            def __init__(self):
                self.stack = []

            def on_start(self, ev):
                self.stack.append([time.perf_counter(), 0.0])

            def on_end(self, ev):
                start, inner = self.stack.pop()
                seconds = time.perf_counter() - start
                if self.stack:
                    self.stack[-1][1] += seconds
                f = getattr(ev.data.get("dispatcher"), "py_func", None)
                name = f"{f.__module__}.{f.__qualname__}" if f else "?"
                compiled.append((name, str(ev.data.get("args")), seconds - inner))

        event.register("numba:compile", Compiles())

    class WhenNumbaLoads(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name != "numba.core.event":
                return None
            sys.meta_path.remove(self)
            spec = importlib.util.find_spec(name)
            run = spec.loader.exec_module

            def exec_module(module):
                run(module)
                listen(module)

            spec.loader.exec_module = exec_module
            return spec

    sys.meta_path.insert(0, WhenNumbaLoads())
import numpy as np
if lib == "scipy":
    from scipy.cluster.hierarchy import linkage
    where = ""
else:
    import gpuhclust
    from gpuhclust import linkage
    where = gpuhclust.__file__
n = int(sys.argv[2])
X = np.random.default_rng(0).normal(size=(n, 4))
kwargs = {} if lib == "scipy" else {"backend": sys.argv[4]}
for method in sys.argv[3].split(","):
    linkage(X, method, **kwargs)
print(json.dumps({"seconds": time.perf_counter() - t0, "module": where,
                  "compiled": compiled, "numba": "numba" in sys.modules}))
"""


def _run(lib: str, n: int, methods: str, cache: str, tree: Path | None,
         backend: str = "auto") -> dict:
    """The child's report, with ``cpu_s``: the CPU seconds (user + sys) of the child."""
    env = {**os.environ, "NUMBA_CACHE_DIR": cache}
    if tree is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(tree), *filter(None, [env.get("PYTHONPATH")])])
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    # run in the cache folder: `python -c` puts the working directory first on sys.path, and
    # a checkout there would shadow the tree
    out = subprocess.run([sys.executable, "-c", CHILD, lib, str(n), methods, backend], env=env,
                         cwd=cache, check=True, capture_output=True, text=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    report = json.loads(out.stdout.strip().splitlines()[-1])
    if tree is not None and lib != "scipy" and not report["module"].startswith(str(tree)):
        raise RuntimeError(f"the child imported {report['module']}, not the tree {tree}")
    report["cpu_s"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return report


def _slowest(compiled: list) -> list[dict]:
    """The functions that took longest to compile (callees excluded), all signatures each."""
    by_name: dict[str, dict] = {}
    for name, signature, seconds in compiled:
        entry = by_name.setdefault(name, {"function": name, "seconds": 0.0, "signatures": []})
        entry["seconds"] += seconds
        entry["signatures"].append(signature)
    ranked = sorted(by_name.values(), key=lambda e: -e["seconds"])
    return [{**e, "seconds": round(e["seconds"], 3)} for e in ranked[:TOP]]


def _describe(tree: Path | None) -> str:
    """The commit of `tree` (with '+changes' when it has uncommitted ones), or 'installed'."""
    if tree is None:
        return "installed"
    git = ["git", "-C", str(tree)]
    commit = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip() or str(tree)
    dirty = subprocess.run([*git, "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()
    return commit + ("+changes" if dirty else "")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--repeat", type=int, default=3, help="warm runs per case (median kept)")
    ap.add_argument("--methods", default=",".join(METHODS),
                    help="the methods of the 'all methods' case")
    ap.add_argument("--alone", default=None,
                    help="the methods run alone, cold and warm (default: --methods)")
    ap.add_argument("--tree", type=Path, action="append", default=None,
                    help="a gpuhclust source tree to run (repeatable; default: the installed)")
    ap.add_argument("--backend", action="append", default=None,
                    help="gpuhclust's backend (repeatable; default: 'auto', which takes small "
                         "input to backend 'numpy' on a machine without a GPU; 'cpu' times "
                         "Numba's compilation)")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    methods = args.methods.split(",")
    alone = args.alone.split(",") if args.alone else methods
    trees = [t.resolve() for t in args.tree] if args.tree else [None]
    labels = {tree: _describe(tree) for tree in trees}
    rows = []

    backends = args.backend or ["auto"]

    def record(case, lib, names, caches, repeat, backend="auto"):
        order = trees[::-1] if len(rows) % 2 else trees  # neither tree always runs first
        for tree in order if lib != "scipy" else [None]:
            runs = [_run(lib, args.n, names, caches[tree], tree, backend)
                    for _ in range(repeat)]
            wall = statistics.median(r["seconds"] for r in runs)
            cpu = statistics.median(r["cpu_s"] for r in runs)
            version = labels[tree] if lib != "scipy" else ""
            row = {"case": case, "library": lib, "version": version, "methods": names,
                   "backend": backend if lib != "scipy" else "",
                   "numba_imported": runs[0].get("numba", False),
                   "wall_s": round(wall, 3), "cpu_s": round(cpu, 3), "runs": len(runs)}
            if case.startswith("cold"):
                row["slowest_compiles"] = _slowest(runs[0]["compiled"])
            rows.append(row)
            save()
            print(f"{case:<18} {lib:<9} {row['backend']:<6} {version:<16} {names:<52} "
                  f"wall {wall:6.2f} s  cpu {cpu:6.2f} s", flush=True)

    def save():  # after every case, so that an interrupted run keeps what it measured
        if args.json:
            args.json.write_text(json.dumps({
                "n": args.n, "d": 4, "python": platform.python_version(),
                "cpus": os.cpu_count(), "date": time.strftime("%Y-%m-%d %H:%M"),
                "load_average": os.getloadavg(), "versions": list(labels.values()),
                "rows": rows}, indent=1) + "\n")

    with tempfile.TemporaryDirectory(prefix="gpuhclust-cold-") as tmp:
        def fresh():
            return {tree: tempfile.mkdtemp(dir=tmp) for tree in trees}

        for backend in backends:
            every = fresh()
            record("cold, all methods", "gpuhclust", ",".join(methods), every, 1, backend)
            for m in alone:  # the caches `every` now hold everything
                record("warm, one method", "gpuhclust", m, every, args.repeat, backend)
                record("warm, one method", "scipy", m, {None: every[trees[0]]}, args.repeat)
            for m in alone:  # cold, one method per fresh cache
                record("cold, one method", "gpuhclust", m, fresh(), 1, backend)
    return 0


if __name__ == "__main__":
    sys.exit(main())
