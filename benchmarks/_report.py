"""The README's speed table, made from a results JSON of the suite.

Only the region between the two marker lines of README.md is ever written: the begin marker
line and everything before it, and the end marker line and everything after it, stay as they
are byte for byte.
"""
from __future__ import annotations

import statistics
from pathlib import Path

BEGIN = "<!-- speed-table:begin"
END = "<!-- speed-table:end -->"

PEERS = [("scipy", "SciPy"), ("fastcluster", "fastcluster"),
         ("fastcluster-vector", "fastcluster vector")]
DEFAULT = "gpuhclust-cpu-auto"  # 'gpuhclust cpu': the defaults (engine='auto', float64)
VECTOR = "gpuhclust-cpu-vector"
ENGINES = ("gpuhclust-cpu", VECTOR)  # each engine on request, checked too
FLOAT32 = "gpuhclust-cpu-f32"


def replace_region(text: str, body: str, begin: str = BEGIN, end: str = END) -> str:
    """`text` with the lines between the begin and end markers replaced by `body`."""
    if text.count(begin) != 1 or text.count(end) != 1:
        raise ValueError(f"README must hold exactly one {begin!r}... line and one {end!r}")
    start = text.index("\n", text.index(begin)) + 1
    stop = text.index(end)
    if stop < start:
        raise ValueError("the end marker comes before the begin marker")
    return text[:start] + body.rstrip("\n") + "\n" + text[stop:]


def write_readme(readme: Path, body: str, begin: str = BEGIN, end: str = END) -> None:
    readme = Path(readme)
    readme.write_text(replace_region(readme.read_text(), body, begin, end))


def _pick(result: dict, n: int | None):
    rows = [r for r in result["rows"] if r.get("median") is not None]
    metrics = {r["metric"] for r in rows}
    metric = "euclidean" if "euclidean" in metrics else sorted(metrics)[0]
    d = min(r["d"] for r in rows if r["metric"] == metric)
    if n is None:
        with_scipy = [r["n"] for r in rows if r["contender"] == "scipy" and r["d"] == d
                      and r["metric"] == metric]
        n = max(with_scipy or [r["n"] for r in rows])
    return n, d, metric, [r for r in result["rows"]
                          if r["n"] == n and r["d"] == d and r["metric"] == metric]


def _ok(r):
    return r is not None and r.get("status") == "ok"


def _s(seconds):
    return f"{seconds:.2f}" if seconds >= 1 else f"{seconds:.3g}"


def _secs(r):
    if r is None or r.get("status") == "skipped":
        return "-"
    if r.get("median") is None:
        return "error"
    return _s(r["median"]) + {"ok": "", "unchecked": " (unchecked)"}.get(r["status"],
                                                                         " (Z differs)")


def _ratio(a, b):
    return f"{a / b:.1f}x" if a is not None and b else "-"


def _mem(r, ref):
    if not (_ok(r) and _ok(ref)) or not ref["peak_rise_bytes"]:
        return "-"
    ratio = r["peak_rise_bytes"] / ref["peak_rise_bytes"]
    return f"{ratio:.2f}" if ratio >= 0.01 else "<0.01"


def _vector(r, fc):
    if not _ok(r):
        return _secs(r)
    return f"{_s(r['median'])} ({_ratio(fc['median'] if _ok(fc) else None, r['median'])})"


def _timed(r) -> str:
    """How a row's figure was taken: the median of its timed calls, and in how many
    processes taking turns (``suite.py --alternate``)."""
    calls = len(r["times"])
    processes = r.get("processes") or len(r.get("child_medians") or ()) or 1
    return (f"median of {calls} call{'s' * (calls != 1)}"
            + (f" in {processes} processes per contender taking turns" if processes > 1
               else ""))


def table(result: dict, n: int | None = None) -> str:
    """The Markdown table (per method) and its footnote for the rows at one n."""
    n, d, metric, rows = _pick(result, n)
    by = {(r["method"], r["contender"]): r for r in rows}
    methods = [m for m in result["args"]["methods"] if any(k[0] == m for k in by)]
    head = ("| method | " + " | ".join(t for _, t in PEERS)
            + " | gpuhclust cpu | gpuhclust cpu float32 | vs fastcluster | vs SciPy "
            "| engine='vector' (vs fastcluster) "
            "| peak memory vs SciPy (cpu / float32) | same Z as SciPy |")
    lines = [head, "|" + "---|" * 11]
    for m in methods:
        scipy, fc = by.get((m, "scipy")), by.get((m, "fastcluster"))
        best = by.get((m, DEFAULT)) if _ok(by.get((m, DEFAULT))) else None
        f32 = by.get((m, FLOAT32))
        shown = [r for r in (by.get((m, DEFAULT)), f32, *[by.get((m, c)) for c in ENGINES])
                 if r is not None]
        bad = sorted({r["contender"] for r in shown
                      if r.get("status") in ("check failed", "error")})
        undecided = sorted({r["contender"] for r in shown if r.get("status") == "unchecked"})
        replayed = any("replay" in r["check"].get("rule", "") for r in shown if _ok(r))
        same = ("NO: " + ", ".join(bad) if bad
                else "unchecked: " + ", ".join(undecided) if undecided
                else "yes (float32: replay)" if replayed else "yes")
        if not shown:
            same = "-"
        ours_s = f"{_s(best['median'])} ({best.get('engine_used') or best['engine']})" \
            if best else "-"
        lines.append(
            f"| {m} | " + " | ".join(_secs(by.get((m, c))) for c, _ in PEERS)
            + f" | {ours_s} | {_secs(f32)}"
            + f" | {_ratio(fc['median'] if _ok(fc) else None, best and best['median'])}"
            + f" | {_ratio(scipy['median'] if _ok(scipy) else None, best and best['median'])}"
            + f" | {_vector(by.get((m, VECTOR)), fc)}"
            + f" | {_mem(best, scipy)} / {_mem(f32, scipy)} | {same} |")
    a, mach, v = result["args"], result["machine"], result["versions"]
    compile_s = [r["compile_s"] for r in rows
                 if r["contender"].startswith("gpuhclust") and r.get("compile_s") is not None]
    versions = ", ".join(f"{k} {v[k]}" for k in ("gpuhclust", "numpy", "scipy", "numba",
                                                  "fastcluster", "scikit-learn") if v.get(k))
    ways = sorted({_timed(r) for r in rows if _ok(r)})
    timed = ("; ".join(ways) + (" (by row: see the note)" if len(ways) > 1 else "")
             if ways else f"median of {a['repeat']}")
    lines += ["", (
        f"n = {n}, d = {d}, {metric}, seconds ({timed}; each process after a warm-up on "
        f"{min(n, a['warmup_n'])} points), from "
        + ("the condensed distances (computed beforehand)" if a.get("input") == "condensed"
           else "observations")
        + " to Z, each contender in its own "
        f"process; {result['date'][:10]}; {mach['cpu_model']}, {mach['cores']} cores, "
        f"{mach['memory_bytes'] / 2**30:.0f} GiB; {versions}"
        + (f" (commit {result['gpuhclust_source']['commit']})"
           if (result.get("gpuhclust_source") or {}).get("commit") else "")
        + ". gpuhclust cpu: the defaults (engine='auto', float64; the engine it chose in "
        "brackets); float32: engine='matrix', dtype=float32"
        + (f"; Numba compile/cache load {statistics.median(compile_s):.2f} s per process, "
           "not included" if compile_s else "")
        + ". Peak memory: the rise of peak RSS during the call, as a fraction of SciPy's. "
        "Same Z: columns 0, 1, 3 exact and heights to 1e-12 (float32: 1e-5, or the replay "
        f"invariant where near-ties merge in another order). "
        f"From `benchmarks/results/{result.get('file', '?')}`."
        + (f" Note: {result['note']}" if result.get("note") else ""))]
    return "\n".join(lines)
