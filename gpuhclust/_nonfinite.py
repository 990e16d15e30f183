"""Where a metric gives a non-finite distance, found from the observations themselves.

``linkage`` names the pair by 0-based observation index; the command line speaks of rows as
its file errors do. Rather than read the pair out of the library's message, it searches the
observations again here (only after linkage has refused them, in blocks of rows, so memory
stays bounded).
"""
from __future__ import annotations

import numpy as np
from scipy.spatial.distance import cdist

__all__ = ["first_non_finite_pair"]

_BLOCK_VALUES = 1 << 20  # distances per block


def _pdist_options(X: np.ndarray, metric: str) -> dict:
    # cdist would estimate these from both blocks; pdist (what linkage follows) uses all of X.
    if metric == "seuclidean":
        return {"V": np.var(X, axis=0, ddof=1)}
    if metric == "mahalanobis":
        return {"VI": np.linalg.inv(np.cov(X.T)).T}
    return {}


def first_non_finite_pair(X, metric: str):
    """The first pair (i, j), i < j, in SciPy's condensed order whose distance is not finite.

    Parameters
    ----------
    X : ndarray, shape (n, d)
        Observations, as passed to ``linkage``.
    metric : str
        A ``scipy.spatial.distance.pdist`` metric name.

    Returns
    -------
    (int, int, float) or None
        The 0-based pair and its distance, or None when every distance is finite here (or
        SciPy cannot compute this metric or its options).
    """
    X = np.asarray(X, dtype=np.float64)
    n = X.shape[0]
    try:
        options = _pdist_options(X, metric)
    except (ValueError, np.linalg.LinAlgError):
        return None
    step = max(1, _BLOCK_VALUES // max(n, 1))
    with np.errstate(all="ignore"):
        for start in range(0, n - 1, step):
            stop = min(n - 1, start + step)
            try:
                D = cdist(X[start:stop], X[start + 1:], metric, **options)
            except ValueError:  # a name linkage accepts and SciPy's cdist does not
                return None
            # Row r of the block is observation start + r; its pairs j > start + r are
            # columns r..; the ones left of that are the lower triangle.
            bad = ~np.isfinite(D) & (np.arange(D.shape[1]) >= np.arange(D.shape[0])[:, None])
            if bad.any():
                r, c = np.argwhere(bad)[0]
                return int(start + r), int(start + 1 + c), float(D[r, c])
    return None
