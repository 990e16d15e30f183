"""How flat clusters agree with known classes, for the command line's ``--label-column``.

The adjusted Rand index is computed here from the contingency table so that scikit-learn
stays optional; it equals ``sklearn.metrics.adjusted_rand_score``.
"""
from __future__ import annotations

import numpy as np
from scipy.special import comb

__all__ = ["adjusted_rand_index"]


def adjusted_rand_index(classes, clusters) -> float:
    """Adjusted Rand index of two labelings of the same observations.

    Parameters
    ----------
    classes, clusters : array_like, shape (n,)
        Any hashable labels (strings, integers); only which observations share a label counts.

    Returns
    -------
    float
        1.0 for identical partitions, about 0.0 for independent ones (it can be negative).
        Two identical trivial partitions (one group, or all singletons) give 1.0.
    """
    classes, clusters = np.asarray(classes), np.asarray(clusters)
    if classes.shape != clusters.shape or classes.ndim != 1:
        raise ValueError(f"two labelings of the same observations are needed, got shapes "
                         f"{classes.shape} and {clusters.shape}")
    _, a = np.unique(classes, return_inverse=True)
    _, b = np.unique(clusters, return_inverse=True)
    n_b = int(b.max()) + 1 if b.size else 0
    table = np.bincount(a.ravel() * n_b + b.ravel())  # contingency counts, zeros included
    pairs_both = comb(table, 2).sum()
    pairs_a = comb(np.bincount(a.ravel()), 2).sum()
    pairs_b = comb(np.bincount(b.ravel()), 2).sum()
    expected = pairs_a * pairs_b / comb(classes.size, 2) if classes.size > 1 else 0.0
    best = 0.5 * (pairs_a + pairs_b)
    if best == expected:
        return 1.0
    return float((pairs_both - expected) / (best - expected))
