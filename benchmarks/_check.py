"""Is the Z a contender returned SciPy's? The check of every timed run in the suite.

- float64 results: columns 0, 1 and 3 exactly equal to the reference's, heights to 1e-12
  relative (``RTOL64``).
- float32 storage (gpuhclust dtype=float32, cuML): the same with heights to 1e-5 relative
  (``RTOL32``; distances rounded to float32 carry ~6e-8 relative error each). Near-ties may
  merge in another order than SciPy's float64; where the Z differs and n <= ``replay_max_n``,
  fastcluster's replay invariant decides: replaying Z's rows over the float32-rounded
  distances (Lance-Williams updates in float64, stored in float32, as gpuhclust does), every
  row merges two live clusters, lower id first, with the right size, at a distance equal to
  the current global minimum to 1e-5: the order is then a valid one. (:func:`replay` keeps
  per-row minima, so it costs O(n^2) memory and about O(n^2) time, not the O(n^3) of the
  tests' plain statement.) Above that size a Z that differs in at most max(10, n/1000) rows
  and whose sorted heights agree to 1e-5 is reported unchecked (undecided), else it fails.
- a library that returns no heights (cuML): columns 0, 1, 3 only.
The reference is SciPy's Z for the same data; where SciPy does not fit in memory (scaling
mode) fastcluster.linkage_vector's, else none (the row says unchecked).
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import scipy.spatial.distance as ssd

# the replay invariant lives with the tests; the suite runs from a checkout
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from _helpers import lance_williams_reference  # noqa: E402

RTOL64 = 1e-12
RTOL32 = 1e-5


def check_z(Z, Z_ref, *, dtype: str, heights: bool, method: str, reference: str | None,
            X=None, metric="euclidean", replay_max_n=20000) -> dict:
    """{'passed': True/False/None, 'rule', 'reference', 'detail'} for one Z."""
    out = {"passed": None, "reference": reference, "rule": "", "detail": ""}
    if Z_ref is None:
        out["detail"] = "no reference Z (SciPy did not run or does not fit)"
        return out
    Z = np.asarray(Z, dtype=np.float64)
    if Z.shape != Z_ref.shape:
        out.update(passed=False, detail=f"shape {Z.shape} != {Z_ref.shape}")
        return out
    rtol = RTOL64 if dtype == "float64" else RTOL32
    out["rule"] = f"columns 0, 1, 3 exact, heights {rtol:g} relative"
    if not heights:
        out["rule"] = "columns 0, 1, 3 exact (no heights returned)"
    same_ids = np.array_equal(Z[:, [0, 1, 3]], Z_ref[:, [0, 1, 3]])
    same_heights = not heights or bool(np.allclose(Z[:, 2], Z_ref[:, 2], rtol=rtol, atol=0))
    if same_ids and same_heights:
        out["passed"] = True
        return out
    rows = int(np.count_nonzero(np.any(Z[:, [0, 1, 3]] != Z_ref[:, [0, 1, 3]], axis=1)
                                | (heights & ~np.isclose(Z[:, 2], Z_ref[:, 2], rtol=rtol,
                                                         atol=0))))
    out["detail"] = f"{rows} of {len(Z)} rows differ from {reference}'s Z"
    if dtype == "float64" or not heights:
        out["passed"] = False
        return out
    n = len(Z) + 1
    if X is None or n > replay_max_n:
        # too large to replay: a few rows in another order with the same heights is
        # undecided (None), anything more a failure
        few = rows <= max(10, n // 1000)
        heights_agree = bool(np.allclose(np.sort(Z[:, 2]), np.sort(Z_ref[:, 2]), rtol=rtol,
                                         atol=0))
        out["passed"] = None if few and heights_agree else False
        out["detail"] += (f"; n > {replay_max_n}, too large for the replay check"
                          + ("; sorted heights agree" if heights_agree else
                             "; sorted heights differ"))
        return out
    out["rule"] = "replay invariant on float32-rounded distances (heights 1e-5 relative)"
    problem = replay(Z, square_float32(X, metric), method, RTOL32)
    out["passed"] = not problem
    out["detail"] += ("; replay invariant: " + problem if problem
                      else " (near-ties merged in another, valid, order)")
    return out


def square_float32(X, metric, block=1024) -> np.ndarray:
    """The n x n distances rounded to float32, +inf on the diagonal, built in row blocks."""
    n = len(X)
    D = np.empty((n, n), dtype=np.float32)
    for i in range(0, n, block):
        D[i:i + block] = ssd.cdist(X[i:i + block], X, metric)
    np.fill_diagonal(D, np.inf)
    return D


def replay(Z, D, method, rtol) -> str:
    """'' when Z's rows, replayed in order over the square distances D (overwritten), each
    merge two live clusters at the current global minimum; else what went wrong."""
    n = len(D)
    size = np.ones(n)
    slot_of = dict(zip(range(n), range(n)))
    live = np.ones(n, dtype=bool)
    rowmin = D.min(axis=1)
    for k, (a, b, h, s) in enumerate(Z):
        if not (a == int(a) and b == int(b) and a < b):
            return f"row {k}: ids ({a}, {b}) are not ordered integers"
        if int(a) not in slot_of or int(b) not in slot_of:
            return f"row {k}: merges a cluster that does not exist"
        x, y = slot_of.pop(int(a)), slot_of.pop(int(b))
        current = float(rowmin.min())
        tol = rtol * max(abs(current), 1e-300) + 1e-14
        if abs(h - current) > tol:
            return f"row {k}: height {h!r} is not the current minimum {current!r}"
        if abs(float(D[x, y]) - h) > tol:
            return f"row {k}: height {h!r} != distance {float(D[x, y])!r}"
        if s != size[x] + size[y]:
            return f"row {k}: size {s} != {size[x] + size[y]}"
        old_x, old_y = D[x].copy(), D[y].copy()  # = the columns (D is symmetric)
        new = lance_williams_reference(method, old_x.astype(np.float64),
                                       old_y.astype(np.float64), float(D[x, y]), size[x],
                                       size[y], size).astype(D.dtype)
        new[~live] = np.inf
        new[[x, y]] = np.inf
        D[y, :] = new
        D[:, y] = new
        D[x, :] = np.inf
        D[:, x] = np.inf
        live[x] = False
        size[y] += size[x]
        slot_of[n + k] = y
        # rows whose minimum was at column x or y and is not at y any more: recompute; the
        # others keep their minimum or find a lower one at y
        stale = live & ((rowmin == old_x) | (rowmin == old_y)) & (new > rowmin)
        stale[y] = True
        rowmin = np.minimum(rowmin, new)
        rowmin[x] = np.inf
        idx = np.flatnonzero(stale)
        rowmin[idx] = D[idx].min(axis=1)
    return ""
