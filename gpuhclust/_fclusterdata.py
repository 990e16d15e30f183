"""``fclusterdata``: SciPy's one-call workflow (distances, linkage, flat clusters) on gpuhclust."""
from __future__ import annotations

import warnings

import numpy as np
from scipy.cluster.hierarchy import ClusterWarning, fcluster, inconsistent

from ._linkage import linkage, pdist
from ._methods import get_method
from ._metrics import canonical_metric

__all__ = ["fclusterdata"]


def fclusterdata(X, t, criterion="inconsistent", metric="euclidean", depth=2, method="single",
                 R=None, *, backend="auto", dtype=None, engine="auto", algorithm=None):
    """Cluster observations into flat clusters: ``scipy.cluster.hierarchy.fclusterdata`` with
    gpuhclust's linkage.

    Parameters
    ----------
    X : array_like, shape (n, m)
        n observations in m dimensions.
    t : scalar
        The threshold for the criteria 'inconsistent', 'distance' and 'monocrit'; the largest
        number of clusters for 'maxclust' and 'maxclust_monocrit'.
    criterion : str
        How flat clusters are formed (see ``scipy.cluster.hierarchy.fcluster``).
    metric : str or callable
        Any metric ``scipy.spatial.distance.pdist`` accepts.
    depth : int
        The depth of the inconsistency calculation (``scipy.cluster.hierarchy.inconsistent``).
    method : str
        The linkage method (see ``gpuhclust.linkage``).
    R : ndarray or None
        The inconsistency matrix; computed from the linkage when needed and not given.
    backend, dtype, engine, algorithm
        Passed to ``gpuhclust.linkage`` (keyword only; SciPy's function has no such options).
        ``algorithm='scipy'`` gives SciPy's T on any data; the default (linkage's) gives it on
        data without tied distances.

    Returns
    -------
    T : ndarray of int32, shape (n,)
        ``T[i]`` is the flat cluster of observation i.

    Raises
    ------
    TypeError
        `X` is not 2-D (SciPy's message).
    ValueError
        What ``gpuhclust.linkage`` or ``fcluster`` refuses.

    Notes
    -----
    SciPy computes the condensed distances and clusters them; so does this function where a
    Euclidean-only method ('centroid', 'median', 'ward') meets another metric (SciPy accepts
    that combination on condensed input, so the result is the same). Otherwise the
    observations go to ``gpuhclust.linkage`` directly, which may then avoid the distance
    matrix (single linkage). Same T as SciPy's wherever ``gpuhclust.linkage`` gives SciPy's Z.

    Examples
    --------
    >>> import gpuhclust
    >>> X = [[0, 0], [0, 1], [1, 0], [0, 4], [0, 3], [1, 4],
    ...      [4, 0], [3, 0], [4, 1], [4, 4], [3, 4], [4, 3]]
    >>> gpuhclust.fclusterdata(X, t=1)
    array([3, 3, 3, 4, 4, 4, 2, 2, 2, 1, 1, 1], dtype=int32)
    """
    X = np.asarray(X, order="C", dtype=np.float64)
    if X.ndim != 2:
        raise TypeError("The observation matrix X must be an n by m array.")
    options = {"backend": backend, "dtype": dtype, "engine": engine, "algorithm": algorithm}
    if get_method(method).euclidean_only and canonical_metric(metric) != "euclidean":
        y = pdist(X, metric, backend=backend)
        Z = linkage(y, method, **options)
    else:
        with warnings.catch_warnings():
            # SciPy clusters the condensed distances, so it never warns that X looks like a
            # distance matrix; neither does this
            warnings.simplefilter("ignore", ClusterWarning)
            Z = linkage(X, method, metric, **options)
    if R is None:
        R = inconsistent(Z, d=depth)
    else:
        R = np.asarray(R, order="C")
    return fcluster(Z, criterion=criterion, depth=depth, R=R, t=t)
