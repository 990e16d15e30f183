"""How many distances the GPU rounds read down a column, counted on the CPU at sizes the kernel
simulator cannot reach (a count, not a timing; no GPU).

The device rows (``kernels/rounds.cu``) keep the distance between two clusters in the row of the
younger one (the later mark), so a rescan of row r reads the distances of the live clusters
younger than r down their rows' column r, one 32-byte sector each (a gather), and a merge reads
those younger than x and than y likewise. The CPU rounds make the same merges and are asked for
the same rows (the one driver), so counting, round by round, the live clusters younger than
each row the driver asks for and than each merged pair's ends gives the device's gathers;
marks reset when the device store would gather the live rows (half dead, from
``COMPACT_MIN_WIDTH`` wide). The cost model counts them on the simulator at n <= 501, without
such gathers of the matrix (they start at 512): comparing the two per n^2 shows whether the
model's extrapolation of them holds.

    python benchmarks/rounds_gathers.py --n 501 20000 --methods average complete --json OUT
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

import gpuhclust
from gpuhclust.cpu import _round_rows
from gpuhclust.cuda import _round_rows as device_rows


class GatherCount:
    """Wraps ``LocalRows.run_round`` and counts, with the device store's marks and compaction
    rule, the entries rescans and merges read along rows and down columns."""

    def __init__(self, n: int, compact_from: int):
        self.mark = np.full(n, -1, dtype=np.int64)
        self.live = np.ones(n, dtype=bool)
        self.width = n
        self.compact_from = compact_from
        self.counts = dict(rescan_entries=0, rescan_gathers=0, merge_entries=0, merge_gathers=0,
                           compactions=0, rounds=0)

    def before_round(self, xs, ys, k0: int, rescan) -> None:
        live, mark, c = self.live, self.mark, self.counts
        m = int(live.sum())
        if self.width >= self.compact_from and 2 * m <= self.width:  # DeviceRoundRows' rule
            mark[live] = -1
            self.width = m
            c["compactions"] += 1
        marks = np.sort(mark[live])
        if len(xs):
            def younger(of):
                return len(marks) - np.searchsorted(marks, of, side="right")

            c["merge_entries"] += 2 * len(xs) * m
            c["merge_gathers"] += int(younger(mark[xs]).sum() + younger(mark[ys]).sum())
            mark[xs] = mark[ys] = np.arange(k0, k0 + len(xs))
            live[xs] = False
        marks = np.sort(mark[live])
        rows = np.asarray(rescan, dtype=np.int64)
        c["rescan_entries"] += len(rows) * len(marks)
        c["rescan_gathers"] += int((len(marks) - np.searchsorted(marks, mark[rows],
                                                                  side="right")).sum())
        c["rounds"] += 1


def count(n: int, method: str, d: int, seed: int, compact_from: int) -> dict:
    X = np.random.default_rng(seed).standard_normal((n, d))
    counter = GatherCount(n, compact_from)
    run_round = _round_rows.LocalRows.run_round

    def counted(self, entries, k0, rescan):
        counter.before_round(entries[0], entries[1], k0, rescan)
        return run_round(self, entries, k0, rescan)

    _round_rows.LocalRows.run_round = counted
    try:  # float32 storage: the rounds at n = 20,000 in 1.6 GB
        gpuhclust.linkage(X, method, dtype=np.float32, algorithm="rounds")
    finally:
        _round_rows.LocalRows.run_round = run_round
    c = counter.counts
    return {"n": n, "d": d, "method": method, "compact_from": compact_from, **c,
            "rescan_gathers_per_n2": c["rescan_gathers"] / n**2,
            "merge_gathers_per_n2": c["merge_gathers"] / n**2,
            "gathered_share": (c["rescan_gathers"] + c["merge_gathers"])
            / max(c["rescan_entries"] + c["merge_entries"], 1)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, nargs="+", default=[501, 20000])
    ap.add_argument("--methods", nargs="+", default=["complete", "average", "weighted", "ward"])
    ap.add_argument("--d", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    rows = []
    for method in args.methods:
        for n in args.n:
            r = count(n, method, args.d, args.seed, device_rows.COMPACT_MIN_WIDTH)
            rows.append(r)
            print(f"{method:9s} n = {n:>7,d}: per n^2, rescans read {r['rescan_entries'] / n**2:.2f} "
                  f"(gathered {r['rescan_gathers_per_n2']:.3f}), merges read "
                  f"{r['merge_entries'] / n**2:.2f} (gathered {r['merge_gathers_per_n2']:.3f}); "
                  f"gathered share {r['gathered_share']:.2f}; {r['rounds']} rounds, "
                  f"{r['compactions']} compactions", flush=True)
    if args.json:
        args.json.write_text(json.dumps({"what": __doc__.split("\n\n")[0], "d": args.d,
                                         "seed": args.seed, "rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
