"""Render a peers-*.json result of compare_peers.py as the Markdown table in the README.

    python benchmarks/report.py benchmarks/results/peers-n20000-d16-<date>.json
"""
from __future__ import annotations

import json
import sys

COLUMNS = [("scipy_s", "SciPy"), ("fastcluster_s", "fastcluster"),
           ("fastcluster_vector_s", "fastcluster vector"), ("gpuhclust_cpu_s", "gpuhclust cpu"),
           ("gpuhclust_cpu_float32_s", "gpuhclust cpu float32")]


def table(result: dict) -> str:
    head = "| method | " + " | ".join(t for _, t in COLUMNS) + " | vs fastcluster | vs SciPy | same Z |"
    lines = [head, "|" + "---|" * (len(COLUMNS) + 4)]
    for r in result["rows"]:
        cells = [f"{r[k]:.2f}" if k in r else "-" for k, _ in COLUMNS]
        fc = f"{r['speedup_vs_fastcluster']:.1f}x" if "speedup_vs_fastcluster" in r else "-"
        lines.append(f"| {r['method']} | " + " | ".join(cells)
                     + f" | {fc} | {r['speedup_vs_scipy']:.1f}x | {r['same_Z_as_scipy']} |")
    lines.append("")
    lines.append(f"n = {result['n']}, d = {result['d']}, median of {result['repeat']}; "
                 f"{result['date']}; {result['machine']['cpus']} CPUs; "
                 + ", ".join(f"{k} {v}" for k, v in result["versions"].items() if v)
                 + f"; Numba compile/cache load {result['numba_compile_s']:.2f} s (not included).")
    return "\n".join(lines)


if __name__ == "__main__":
    for path in sys.argv[1:]:
        with open(path) as f:
            print(table(json.load(f)))
