"""The benchmark suite: gpuhclust against SciPy, fastcluster, scikit-learn and cuML, in one run.

    python benchmarks/suite.py --n 20000 --d 16 --repeat 3        # the peers, all methods
    python benchmarks/suite.py --n 20000 --at HEAD                 # gpuhclust as committed
    python benchmarks/suite.py --n 20000 --methods ward --contenders gpuhclust-cpu,fastcluster \
        --alternate 3 --repeat 2                                   # two contenders, taking turns
    python benchmarks/suite.py --n 2000,5000 --methods single,ward --contenders scipy,gpuhclust
    python benchmarks/suite.py --scaling --repeat 1                # gpuhclust from n=1k to 24 GB
    python benchmarks/suite.py --readme benchmarks/results/peers-n20000-d16-<date>.json
    python benchmarks/suite.py --quick                             # CI: does the suite run?
    python benchmarks/suite.py --n 20000 --input condensed --methods complete,ward

Contenders (``--contenders``, names or the groups all / peers / gpuhclust): scipy, fastcluster,
fastcluster-vector, sklearn, cuml, gpuhclust-cpu-auto (the defaults), gpuhclust-cpu (engine
'matrix', float64), gpuhclust-cpu-f32 (matrix, float32), gpuhclust-cpu-vector (engine 'vector'),
gpuhclust-cuda, gpuhclust-cuda-f32. Those not installed or not usable here (cuML, CUDA without a device) are
skipped and listed; those that do not apply to a method (the vector engines, scikit-learn's
four methods, cuML's single) are left out of it.

For each d, n, metric and method every contender runs, then the next: each measurement in a
fresh child process (benchmarks/_worker.py) that makes the data from the seed, times a call on
64 points apart (imports, Numba compile or cache load: ``compile_s``), warms up on
min(n, --warmup-n) points, then times --repeat calls and reports their median and the peak
resident memory of a call (the rise of the peak RSS over the RSS just before it). With
--alternate K each contender runs K such children, the contenders taking turns, so that a
slow spell of the machine falls on all of them: its figure is the median of all K x --repeat
timed calls (each child's median is kept as ``child_medians``). SciPy runs
first and its Z is the reference every other Z is checked against (benchmarks/_check.py);
a failing check is shown as a failure, and the exit status is 1.

--input condensed: every call gets ``pdist(X, metric)`` (computed before the clock starts)
instead of the observations, as ``linkage(y, ...)`` takes it; the contenders that take no
condensed matrix (the vector engines, scikit-learn, cuML) are left out. Results:
``<mode>-condensed-n<n>-...``.

--scaling: gpuhclust only (float32 and float64 matrix engine, vector engine), n doubling from
1000 up to the largest n whose float32 square matrix fits --budget-gb (default: this machine's
memory less 2 GiB); contenders whose memory does not fit are skipped at that n; the slope of
log(time) against log(n) per method is fitted (n >= --slope-min-n) and reported.

Results: benchmarks/results/<mode>-n<n>-d<d>-<date>.json and a PNG plot next to it (time
against n, log-log, one panel per method). --readme renders the README speed table from a
results JSON (the one just written when given without a file) into the region between the
speed-table markers of README.md, and nothing else.
"""
from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import importlib.util
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from _check import check_z  # noqa: E402
from _contenders import (CONTENDERS, GROUPS, INPUTS, METHODS, input_bytes,  # noqa: E402
                         make_data)
import _report  # noqa: E402

GiB = 2**30
HEADROOM = 2 * GiB         # kept free by --scaling's default budget
OVERHEAD = 1 * GiB         # interpreter, libraries and data beside a contender's matrix
SCALING_CONTENDERS = ("gpuhclust-cpu-f32", "gpuhclust-cpu", "gpuhclust-cpu-vector")
# --quick: every contender on one tiny n (the scaling preset covers several n and the slope)
QUICK = {"n": [300], "d": [4], "methods": ["single", "ward"], "repeat": 1, "warmup_n": 300}
QUICK_SCALING = {"n": [200, 400, 800], "d": [4], "methods": ["average"], "repeat": 2,
                 "warmup_n": 800, "contenders": ["gpuhclust-cpu-f32"]}


# -- machine and versions ------------------------------------------------------------------

def _meminfo_bytes(field="MemTotal") -> int:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def machine() -> dict:
    model = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            model = next(line.split(":", 1)[1].strip() for line in f
                         if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"cpu_model": model or "?", "cores": os.cpu_count(),
            "cores_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
            else os.cpu_count(),
            "memory_bytes": _meminfo_bytes(), "platform": platform.platform(),
            "python": platform.python_version(),
            "numba_num_threads_env": os.environ.get("NUMBA_NUM_THREADS"),
            "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None}


def versions() -> dict:
    out = {}
    for dist in ("gpuhclust", "numpy", "scipy", "numba", "fastcluster", "scikit-learn",
                 "matplotlib", "cuml"):
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            pass
    for d in importlib.metadata.distributions():
        name = d.metadata["Name"] or ""
        if name.lower().startswith("cupy"):
            out["cupy"] = f"{d.version} ({name})"
    return out


def gpuhclust_source() -> dict:
    """Where the gpuhclust the children import lives, and its commit ('+dirty' when its
    sources differ from the commit)."""
    spec = importlib.util.find_spec("gpuhclust")
    if spec is None or spec.origin is None:
        return {"path": None, "commit": None}
    src = Path(spec.origin).resolve().parent.parent
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=src,
                              capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "gpuhclust", "kernels"],
                               cwd=src, capture_output=True, text=True).stdout.strip()
        return {"path": str(src), "commit": head + ("+dirty" if dirty else "")}
    except (OSError, subprocess.CalledProcessError):
        return {"path": str(src), "commit": None}


# -- the run ---------------------------------------------------------------------------------

def _list(text, kind=str):
    return [kind(x) for x in str(text).split(",") if x.strip()]


def contenders_from(names) -> list[str]:
    out = []
    for name in names:
        for c in GROUPS.get(name, [name]):
            if c not in CONTENDERS:
                raise SystemExit(f"unknown contender {c!r}; known: "
                                 + ", ".join([*CONTENDERS, *GROUPS]))
            if c not in out:
                out.append(c)
    return out


def scaling_ns(budget: int, start=1000, kind="observations") -> list[int]:
    """1000, 2000, 4000, ... and the largest n (a multiple of 1000) whose float32 square
    matrix, with the input (:func:`_contenders.input_bytes`) and OVERHEAD beside it, fits
    `budget` bytes."""
    per_entry = 4 + (4 if kind == "condensed" else 0)  # the condensed float64 input: ~4 n**2
    n_max = int(math.isqrt(max(0, budget - OVERHEAD) // per_entry)) // 1000 * 1000
    ns = []
    n = start
    while n < n_max:
        ns.append(n)
        n *= 2
    if n_max >= start and (not ns or n_max > ns[-1] * 1.15):
        ns.append(n_max)
    elif ns:
        ns[-1] = n_max
    return ns


def snapshot(rev: str) -> dict:
    """gpuhclust's sources at commit `rev`, unpacked once into a temporary folder (kept, so
    that Numba's cache there serves later runs): the children import it instead of the
    working tree, which others may be editing while the suite runs."""
    sha = subprocess.run(["git", "rev-parse", "--short", rev], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout.strip()
    folder = Path(tempfile.gettempdir()) / f"gpuhclust-suite-{sha}"
    if not (folder / "gpuhclust" / "__init__.py").exists():
        folder.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "archive", sha, "gpuhclust"], cwd=ROOT,
                                 capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return {"path": str(folder), "commit": sha}


def run_child(spec: dict, timeout: float, src: str | None = None) -> dict:
    cmd = [sys.executable, str(HERE / "_worker.py"), json.dumps(spec)]
    env = dict(os.environ)
    if src:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [src, env.get("PYTHONPATH")]))
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"error": f"timeout after {timeout:g} s"}
    if res.returncode != 0:
        tail = res.stderr.strip().splitlines()
        return {"error": tail[-1] if tail else f"exit status {res.returncode}"}
    return json.loads(res.stdout.strip().splitlines()[-1])


def fits(contender, n, d, budget, kind="observations") -> bool:
    return budget is None or (CONTENDERS[contender].memory(n, d) + input_bytes(n, kind)
                              + OVERHEAD <= budget)


def reference_for(n, d, method, metric, budget, check_max_n, kind="observations"):
    """Which contender's Z is the reference: SciPy's, or where SciPy does not fit
    fastcluster.linkage_vector's (from observations only); None when neither runs here."""
    if check_max_n is not None and n > check_max_n:
        return None
    for c in ("scipy", "fastcluster-vector"):
        if applies(c, method, metric, kind) and not CONTENDERS[c].available() and fits(
                c, n, d, budget, kind):
            return c
    return None


def applies(c, method, metric, kind="observations") -> bool:
    """Whether contender `c` runs `method` under `metric` on input `kind` (a condensed
    matrix only where it takes one)."""
    if kind == "condensed" and not CONTENDERS[c].condensed:
        return False
    return not CONTENDERS[c].applies(method, metric)  # applies() says why not, or ''



def measure_all(args, names, log=print) -> tuple[list, list]:
    rows, references = [], []
    with tempfile.TemporaryDirectory(prefix="gpuhclust-bench-") as tmp:
        for d in args.d:
            for n in args.n:
                X = make_data(n, d, args.seed) if n <= args.replay_max_n else None
                for metric in args.metrics:
                    for method in args.methods:
                        ref_name = reference_for(n, d, method, metric, args.budget,
                                                 args.check_max_n, args.input)
                        order = [c for c in names if applies(c, method, metric, args.input)]
                        if ref_name:  # first: the others are checked against its Z
                            order = [ref_name] + [c for c in order if c != ref_name]
                        children = {c: [] for c in order}
                        for turn in range(args.alternate):
                            for c in order:
                                done = children[c]
                                if done and (c not in names or done[-1].get("median") is None):
                                    continue  # a reference runs once; a failure ends the turns
                                done.append(one(args, c, n, d, method, metric, tmp,
                                                is_reference_only=c not in names))
                                if args.alternate > 1 and c in names:
                                    log(f"  turn {turn + 1}/{args.alternate} {c}: "
                                        f"{_times(done[-1])}")
                        Z_ref = None
                        for c in order:
                            zs = [z for z in (r.pop("_Z", None) for r in children[c])
                                  if z is not None]
                            row = pooled(children[c])
                            if c == ref_name and zs:
                                Z_ref = zs[0]
                            if c not in names:
                                references.append(row)
                                continue
                            spec = CONTENDERS[c]
                            checks = [check_z(z, Z_ref, dtype=spec.dtype, heights=spec.heights,
                                              method=method, reference=ref_name, X=X,
                                              metric=metric, replay_max_n=args.replay_max_n)
                                      for z in zs]  # every process's Z, not the last only
                            if checks:
                                row["check"] = next(
                                    (ch for ch in checks if ch["passed"] is False), checks[-1])
                                row["status"] = {True: "ok", False: "check failed",
                                                 None: "unchecked"}[row["check"]["passed"]]
                            rows.append(row)
                            log(_line(row))
    return rows, references


def one(args, c, n, d, method, metric, tmp, is_reference_only=False) -> dict:
    spec = CONTENDERS[c]
    row = {"contender": c, "library": spec.library, "backend": spec.backend,
           "engine": spec.engine, "dtype": spec.dtype, "n": n, "d": d, "method": method,
           "metric": metric, "input": args.input, "seed": args.seed, "repeat": args.repeat}
    if not fits(c, n, d, args.budget, args.input):
        needed = spec.memory(n, d) + input_bytes(n, args.input) + OVERHEAD
        row.update(status="skipped", median=None, error=(
            f"needs ~{needed / GiB:.1f} GiB, budget "
            f"{args.budget / GiB:.1f} GiB"))
        return row
    z_out = os.path.join(tmp, f"{c}-{n}-{d}-{metric}-{method}.npy")
    repeat = 1 if is_reference_only else args.repeat
    warmup_n = 0 if is_reference_only else args.warmup_n
    res = run_child({"contender": c, "n": n, "d": d, "method": method, "metric": metric,
                     "input": args.input, "seed": args.seed, "repeat": repeat,
                     "warmup_n": warmup_n, "z_out": z_out}, args.timeout, args.source["path"] if args.at else None)
    row.update(res)
    if "error" in res:
        row.update(status="error", median=None)
        return row
    row["error"] = None
    row["_Z"] = np.load(z_out)
    return row


def pooled(children: list[dict]) -> dict:
    """One row from the children (``--alternate``) of a contender at one setting: the timed
    calls of all of them, their median, each child's median and their number (``processes``);
    the first failure if one failed. Compile and warm-up times are the children's medians,
    the peaks their maxima."""
    if len(children) == 1:
        return children[0]
    failed = [r for r in children if r.get("median") is None]
    if failed:
        return failed[0]
    row = dict(children[-1])
    times = [t for r in children for t in r["times"]]
    row.update(times=times, median=statistics.median(times), processes=len(children),
               child_medians=[r["median"] for r in children],
               compile_s=statistics.median(r["compile_s"] for r in children),
               peak_rss_bytes=max(r["peak_rss_bytes"] for r in children),
               peak_rise_bytes=max(r["peak_rise_bytes"] for r in children))
    warmups = [r["warmup_s"] for r in children if r.get("warmup_s") is not None]
    row["warmup_s"] = statistics.median(warmups) if warmups else None
    return row


def _times(r) -> str:
    if r.get("median") is None:
        return f"{r.get('status')}: {r.get('error')}"
    return " ".join(f"{t:.3f}" for t in r["times"]) + " s"


def _mib(b):
    return f"{b / 2**20:8.1f}" if b is not None else "       -"


def _line(r) -> str:
    head = f"n={r['n']:<7} d={r['d']:<3} {r['metric']:<10} {r['method']:<9} {r['contender']:<21}"
    if r.get("median") is None:
        return f"{head} {r['status']}: {r.get('error')}"
    check = r["check"]
    verdict = {True: "same Z", False: "Z DIFFERS", None: "unchecked"}[check["passed"]]
    return (f"{head} {r['median']:9.3f} s  peak +{_mib(r['peak_rise_bytes'])} MiB  "
            f"compile {r['compile_s']:6.2f} s  {verdict}"
            + (f" ({check['detail']})" if check["detail"] else ""))


# statuses of a run that produced a Z that did not fail its check
RAN = ("ok", "unchecked")


def slopes(rows, min_n) -> list[dict]:
    """Least-squares slope of log(median) against log(n) per (contender, method, d, metric),
    over n >= min_n (all n when fewer than two are that large). Runs whose Z could not be
    checked (no reference fits in memory) count; failed ones do not."""
    groups = {}
    for r in rows:
        if r.get("status") in RAN:
            groups.setdefault((r["contender"], r["method"], r["d"], r["metric"]), []).append(r)
    out = []
    for (c, m, d, metric), pts in sorted(groups.items()):
        use = [r for r in pts if r["n"] >= min_n]
        if len({r["n"] for r in use}) < 2:
            use = pts
        if len({r["n"] for r in use}) < 2:
            continue
        x = np.log([r["n"] for r in use])
        y = np.log([r["median"] for r in use])
        slope, intercept = np.polyfit(x, y, 1)
        out.append({"contender": c, "method": m, "d": d, "metric": metric,
                    "slope": float(slope), "intercept": float(intercept),
                    "n_min": int(min(r["n"] for r in use)),
                    "n_max": int(max(r["n"] for r in use)), "points": len(use)})
    return out


def summary(result) -> str:
    """Medians per method and contender for each (d, n, metric), and the failures."""
    out = []
    rows = result["rows"]
    names = list(dict.fromkeys(r["contender"] for r in rows))
    for key in sorted({(r["d"], r["n"], r["metric"]) for r in rows}):
        out.append(f"\nd={key[0]} n={key[1]} {key[2]}: seconds (median)  [! = Z check failed]")
        out.append(f"{'method':<10}" + "".join(f"{c[:20]:>21}" for c in names))
        for m in result["args"]["methods"]:
            cells = []
            for c in names:
                r = next((r for r in rows if (r["d"], r["n"], r["metric"]) == key
                          and r["method"] == m and r["contender"] == c), None)
                if r is None or r.get("median") is None:
                    cells.append(f"{'-' if r is None else r['status']:>21}")
                else:
                    cells.append(f"{r['median']:20.3f}" + ("!" if r["status"] not in RAN else " "))
            out.append(f"{m:<10}" + "".join(cells))
    for s in result.get("slopes", []):
        out.append(f"slope {s['contender']:<22} {s['method']:<9} d={s['d']} {s['metric']}: "
                   f"{s['slope']:.2f} (n {s['n_min']}..{s['n_max']}, {s['points']} points)")
    return "\n".join(out)


def failures(result) -> list[dict]:
    return [r for r in result["rows"] if r.get("status") in ("check failed", "error")]


def render_readme(results_json: Path, readme: Path, n=None) -> str:
    result = json.loads(Path(results_json).read_text())
    body = _report.table(result, n)
    _report.write_readme(readme, body)
    return body


def parse(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("--n", type=lambda s: _list(s, int), default=None,
                    help="comma-separated n (default 1000,2000,5000,10000,20000; "
                         "--scaling: 1000 doubling up to what fits the budget)")
    ap.add_argument("--d", type=lambda s: _list(s, int), default=[16],
                    help="comma-separated dimensions (default 16)")
    ap.add_argument("--methods", type=_list, default=list(METHODS))
    ap.add_argument("--metrics", type=_list, default=["euclidean"])
    ap.add_argument("--contenders", type=_list, default=None,
                    help="names or groups (all, peers, gpuhclust); default all "
                         "(--scaling: " + ",".join(SCALING_CONTENDERS) + ")")
    ap.add_argument("--repeat", type=int, default=3, help="timed calls per figure (median)")
    ap.add_argument("--alternate", type=int, default=1, metavar="K",
                    help="K children per contender and setting, the contenders taking turns "
                         "(a, b, a, b, ...); the median is over all K x --repeat timed calls "
                         "(default 1)")
    ap.add_argument("--warmup-n", type=int, default=6000,
                    help="warm-up call on min(n, this) points before the timed calls "
                         "(default 6000: every code path of the larger runs; 0: none)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--input", choices=INPUTS, default="observations",
                    help="what each call gets: the observations, or their condensed distances")
    ap.add_argument("--quick", action="store_true",
                    help="CI: tiny n, two methods, into a temporary directory; also renders "
                         "the README table into a temporary copy")
    ap.add_argument("--scaling", action="store_true")
    ap.add_argument("--budget-gb", type=float, default=None,
                    help="memory budget in GiB (--scaling; default: memory less 2 GiB)")
    ap.add_argument("--slope-min-n", type=int, default=4000)
    ap.add_argument("--check-max-n", type=int, default=None,
                    help="no reference Z (no check) above this n (default: where SciPy "
                         "or fastcluster.linkage_vector fits)")
    ap.add_argument("--replay-max-n", type=int, default=20000,
                    help="largest n for the float32 replay check (an n x n float32 matrix "
                         "in this process)")
    ap.add_argument("--at", metavar="REV", default=None,
                    help="time gpuhclust as committed at REV (e.g. HEAD), from a snapshot, "
                         "not the working tree")
    ap.add_argument("--note", default=None, help="a remark stored in the results JSON")
    ap.add_argument("--timeout", type=float, default=3600, help="seconds per child process")
    ap.add_argument("--out", type=Path, default=None,
                    help="results directory (default benchmarks/results; --quick: a "
                         "temporary one)")
    ap.add_argument("--readme", nargs="?", const="", default=None, metavar="RESULTS_JSON",
                    help="render README.md's speed table from RESULTS_JSON (no run), or, "
                         "without a file, from the run's own results")
    ap.add_argument("--readme-file", type=Path, default=ROOT / "README.md")
    ap.add_argument("--readme-n", type=int, default=None,
                    help="the n of the README table (default: the largest with SciPy)")
    args = ap.parse_args(argv)
    if args.quick:
        preset = QUICK_SCALING if args.scaling else QUICK
        args.n = args.n or preset["n"]
        args.d, args.methods = preset["d"], preset["methods"]
        args.repeat, args.warmup_n = preset["repeat"], preset["warmup_n"]
        args.contenders = args.contenders or preset.get("contenders")
    if args.contenders is None:
        args.contenders = list(SCALING_CONTENDERS) if args.scaling else ["all"]
    if args.alternate < 1:
        ap.error("--alternate must be at least 1")
    for m in args.methods:
        if m not in METHODS:
            ap.error(f"unknown method {m!r}")
    budget_default = _meminfo_bytes() - HEADROOM
    args.budget = (int(args.budget_gb * GiB) if args.budget_gb is not None
                   else budget_default if args.scaling else None)
    if args.n is None:
        args.n = (scaling_ns(args.budget, kind=args.input) if args.scaling
                  else [1000, 2000, 5000, 10000, 20000])
    return args


def main(argv=None) -> int:
    args = parse(argv)
    if args.readme:  # render only
        body = render_readme(Path(args.readme), args.readme_file, args.readme_n)
        print(body)
        print(f"rewrote the speed table in {args.readme_file}")
        return 0

    names, skipped = [], []
    for c in contenders_from(args.contenders):
        why = CONTENDERS[c].available()
        if why:
            skipped.append({"contender": c, "reason": why})
            print(f"skipping {c}: {why}")
        else:
            names.append(c)
    mode = "quick" if args.quick else "scaling" if args.scaling else "peers"
    quick_tmp = None
    if args.out is None:
        if args.quick:
            quick_tmp = tempfile.mkdtemp(prefix="gpuhclust-suite-quick-")
            args.out = Path(quick_tmp)
        else:
            args.out = HERE / "results"
    args.out.mkdir(parents=True, exist_ok=True)
    if args.budget is not None:
        print(f"memory budget {args.budget / GiB:.1f} GiB; n = {args.n}")

    args.source = snapshot(args.at) if args.at else gpuhclust_source()
    print(f"gpuhclust from {args.source['path']} (commit {args.source['commit']})")
    started, load_before = dt.datetime.now(), machine()["load_average"]
    rows, references = measure_all(args, names)
    ns = sorted(set(args.n))
    source = "-condensed" if args.input == "condensed" else ""
    stem = (f"{mode}{source}-n{ns[0]}" + (f"-{ns[-1]}" if len(ns) > 1 else "")
            + f"-d{'-'.join(map(str, args.d))}-{started.date().isoformat()}")
    path = args.out / f"{stem}.json"
    k = 2
    while path.exists():
        path = args.out / f"{stem}-{k}.json"
        k += 1
    result = {
        "suite": 1, "mode": mode, "file": path.name,
        "date": started.isoformat(timespec="seconds"),
        "seconds": (dt.datetime.now() - started).total_seconds(),
        "command": "python benchmarks/suite.py " + " ".join(sys.argv[1:] if argv is None
                                                              else argv),
        "note": args.note, "machine": machine(), "versions": versions(),
        "gpuhclust_source": args.source,
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()
                 if k != "source"},
        "load_average_before": load_before, "skipped": skipped, "rows": rows, "references": references,
        "slopes": slopes(rows, args.slope_min_n) if args.scaling or len(args.n) > 2 else [],
        "plot": path.with_suffix(".png").name,
    }
    path.write_text(json.dumps(result, indent=1) + "\n")
    from _plot import plot

    plot(result, path.with_suffix(".png"))
    print(summary(result))
    print(f"written: {path} and {path.with_suffix('.png').name}")

    if args.quick:  # the README table, rendered into a copy: only the region may change
        copy = args.out / "README.md"
        shutil.copyfile(args.readme_file, copy)
        print(render_readme(path, copy))
    elif args.readme is not None:
        print(render_readme(path, args.readme_file, args.readme_n))
        print(f"rewrote the speed table in {args.readme_file}")
    bad = failures(result)
    for r in bad:
        print(f"FAILED: {_line(r)}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
