"""The suite's plot: time against n, log-log, one panel per method, one line per contender
(and per d and metric when the run has several); scaling fits drawn dashed with their slope."""
from __future__ import annotations

import math
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def plot(result: dict, path) -> None:
    rows = [r for r in result["rows"] if r.get("median") is not None]
    methods = [m for m in result["args"]["methods"] if any(r["method"] == m for r in rows)]
    several = len({(r["d"], r["metric"]) for r in rows}) > 1
    cols = min(4, max(1, len(methods)))
    nrows = max(1, math.ceil(len(methods) / cols))
    fig, axes = plt.subplots(nrows, cols, figsize=(4.2 * cols, 3.6 * nrows), squeeze=False)
    keys = sorted({(r["contender"], r["d"], r["metric"]) for r in rows})
    palette = plt.get_cmap("tab10" if len(keys) <= 10 else "tab20")
    color = {k: palette(i % palette.N) for i, k in enumerate(keys)}  # the same in every panel
    slopes = {(s["contender"], s["method"], s["d"], s["metric"]): s
              for s in result.get("slopes", [])}
    for ax, method in zip(axes.flat, methods):
        lines = defaultdict(list)
        for r in rows:
            if r["method"] == method:
                lines[(r["contender"], r["d"], r["metric"])].append(r)
        for (contender, d, metric), pts in sorted(lines.items()):
            pts.sort(key=lambda r: r["n"])
            label = contender + (f" d={d} {metric}" if several else "")
            s = slopes.get((contender, method, d, metric))
            if s:
                label += f" (slope {s['slope']:.2f})"
            ns, ts = [r["n"] for r in pts], [r["median"] for r in pts]
            (line,) = ax.plot(ns, ts, marker="o", ms=3, label=label,
                              color=color[(contender, d, metric)])
            bad = [(r["n"], r["median"]) for r in pts if r.get("status") != "ok"]
            if bad:
                ax.plot(*zip(*bad), "x", color="red", ms=8)
            if s:
                fit = [math.exp(s["intercept"]) * n ** s["slope"] for n in (s["n_min"],
                                                                           s["n_max"])]
                ax.plot([s["n_min"], s["n_max"]], fit, "--", color=line.get_color(), lw=0.8)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(method)
        ax.set_xlabel("n")
        ax.set_ylabel("seconds")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=6)
    for ax in list(axes.flat)[len(methods):]:
        ax.set_visible(False)
    mach = result["machine"]
    source = (", from condensed distances" if result["args"].get("input") == "condensed"
              else "")
    fig.suptitle(f"gpuhclust benchmark suite ({result['mode']}{source}), {result['date'][:10]}, "
                 f"{mach['cpu_model']}, {mach['cores']} cores (red x: Z check failed)",
                 fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
