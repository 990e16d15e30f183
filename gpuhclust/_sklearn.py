"""``AgglomerativeClustering``: scikit-learn's estimator on gpuhclust's linkage.

Imported only when ``gpuhclust.AgglomerativeClustering`` is first used, so that scikit-learn
stays an optional extra (``pip install gpuhclust[sklearn]``).
"""
from __future__ import annotations

from heapq import heappush, heappushpop
from numbers import Integral, Real

import numpy as np
from scipy.spatial.distance import squareform

try:
    from sklearn.base import BaseEstimator, ClusterMixin
    from sklearn.utils.validation import check_memory
except ImportError as e:
    raise ImportError("gpuhclust.AgglomerativeClustering needs scikit-learn: "
                      "pip install 'gpuhclust[sklearn]'") from e
try:
    from sklearn.utils.validation import validate_data
except ImportError:  # scikit-learn < 1.6
    def validate_data(estimator, X, **kwargs):
        return estimator._validate_data(X, **kwargs)

from ._linkage import linkage as _linkage
from ._methods import METHODS, get_method

__all__ = ["AgglomerativeClustering"]

# scikit-learn's metric names that SciPy spells differently
_SKLEARN_METRICS = {"l2": "euclidean", "l1": "cityblock", "manhattan": "cityblock"}


class AgglomerativeClustering(ClusterMixin, BaseEstimator):
    """Agglomerative clustering: ``sklearn.cluster.AgglomerativeClustering`` computed with
    ``gpuhclust.linkage``.

    Parameters
    ----------
    n_clusters : int or None, default=2
        The number of clusters to find; None when `distance_threshold` is given.
    metric : str or callable, default='euclidean'
        'euclidean', 'l2', 'l1', 'manhattan', 'cosine', any other metric
        ``scipy.spatial.distance.pdist`` accepts, or 'precomputed' (`X` is then a square
        distance matrix, of which the upper triangle is used, as in scikit-learn). A callable
        follows scikit-learn: ``metric(X)`` returns the square distance matrix. 'ward',
        'centroid' and 'median' need 'euclidean' (or 'l2'), or precomputed distances taken as
        Euclidean.
    memory : str, joblib.Memory-like or None, default=None
        Caches the linkage computation (scikit-learn's ``check_memory``).
    connectivity : None, default=None
        scikit-learn's structured clustering; not implemented: anything but None raises
        ValueError.
    compute_full_tree : 'auto' or bool, default='auto'
        Accepted for compatibility; the full tree is always computed (scikit-learn also does
        so without `connectivity`). Must not be False with `distance_threshold`.
    linkage : {'ward', 'complete', 'average', 'single', 'weighted', 'centroid', 'median'}, \
default='ward'
        The linkage method: scikit-learn's four and SciPy's other three.
    distance_threshold : float or None, default=None
        Merges at or above this height are not made; `n_clusters` must then be None.
    compute_distances : bool, default=False
        Set `distances_` even without `distance_threshold`.
    backend : str, default='auto'
        ``gpuhclust.linkage``'s backend ('auto', 'cpu', 'cuda', ...).
    engine : {'auto', 'matrix', 'vector'}, default='auto'
        ``gpuhclust.linkage``'s engine.
    dtype : None, numpy.float32 or numpy.float64, default=None
        ``gpuhclust.linkage``'s storage of the distances.
    algorithm : str or None, default='scipy'
        ``gpuhclust.linkage``'s algorithm. 'scipy' (SciPy's sequential algorithms) breaks ties
        as scikit-learn does, so the labels, `children_` and `distances_` are scikit-learn's on
        any data; None takes linkage's default (parallel rounds for complete, average,
        weighted and ward: the same tree on tie-free data, faster on many cores, and another
        valid tree where distances tie).

    Attributes
    ----------
    n_clusters_ : int
        The number of clusters found.
    labels_ : ndarray of shape (n_samples,)
        The cluster of each sample, numbered as scikit-learn numbers them.
    n_leaves_ : int
        Number of leaves of the tree (n_samples).
    n_connected_components_ : int
        Always 1 (no connectivity).
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of the features, when `X` has string column names (a DataFrame).
    children_ : ndarray of shape (n_samples - 1, 2)
        Row i merges ``children_[i]`` into node ``n_samples + i`` (values below n_samples
        are samples).
    distances_ : ndarray of shape (n_samples - 1,)
        The height of each merge; set when `distance_threshold` or `compute_distances` is.
    linkage_matrix_ : ndarray of shape (n_samples - 1, 4)
        SciPy's linkage matrix Z (``children_`` is its first two columns, ``distances_``
        its third).

    Raises
    ------
    ValueError
        From `fit`: `connectivity` given; both or neither of `n_clusters` and
        `distance_threshold`; invalid parameter values; a non-Euclidean metric with ward,
        centroid or median; 'precomputed' with a non-square `X`; more clusters than samples;
        what ``gpuhclust.linkage`` refuses (backend, engine, dtype, metric).

    Notes
    -----
    Where scikit-learn's definitions agree (no connectivity; ward, complete and average; the
    same metric), ``children_``, ``distances_`` and ``labels_`` equal scikit-learn's, ties
    included: scikit-learn builds these trees with ``scipy.cluster.hierarchy.linkage``,
    whose Z ``gpuhclust.linkage`` reproduces, and its ward distances are then SciPy's ward
    heights too. The differences:

    * 'single': scikit-learn runs its own minimum spanning tree, which writes each merged
      pair in the order its algorithm visited them (here: the smaller node first, as in Z)
      and computes distances with its own metric code (last bits may differ). The partition
      is the same; the numbers given to the clusters may differ.
    * 'weighted', 'centroid', 'median' exist only here. centroid and median trees can have
      inversions (a merge lower than an earlier one); clusters are still cut as scikit-learn
      cuts them (undoing the last merges), and `distance_threshold` counts the merges at or
      above it.
    * 'precomputed' is accepted with every method (scikit-learn refuses it for ward).
    """

    def __init__(self, n_clusters=2, *, metric="euclidean", memory=None, connectivity=None,
                 compute_full_tree="auto", linkage="ward", distance_threshold=None,
                 compute_distances=False, backend="auto", engine="auto", dtype=None,
                 algorithm="scipy"):
        self.n_clusters = n_clusters
        self.distance_threshold = distance_threshold
        self.memory = memory
        self.connectivity = connectivity
        self.compute_full_tree = compute_full_tree
        self.linkage = linkage
        self.metric = metric
        self.compute_distances = compute_distances
        self.backend = backend
        self.engine = engine
        self.dtype = dtype
        self.algorithm = algorithm

    def fit(self, X, y=None):
        """Fit the hierarchical clustering from features, or a distance matrix.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, n_samples)
            Samples, or distances between them with ``metric='precomputed'``.
        y : Ignored
            Not used, present for API consistency.

        Returns
        -------
        self : AgglomerativeClustering
            The fitted estimator.
        """
        self._check_params()
        X = validate_data(self, X, ensure_min_samples=2)
        n_samples = X.shape[0]
        if self.n_clusters is not None and self.n_clusters > n_samples:
            raise ValueError("Cannot extract more clusters than samples: "
                             f"{self.n_clusters} clusters were given for a tree with "
                             f"{n_samples} leaves.")
        metric = _SKLEARN_METRICS.get(self.metric, self.metric)
        if isinstance(metric, str) and metric == "cosine" and np.any(~np.any(X, axis=1)):
            raise ValueError("Cosine affinity cannot be used when X contains zero vectors")
        if (isinstance(metric, str) and metric == "precomputed"
                and X.shape[0] != X.shape[1]):
            raise ValueError(f"Distance matrix should be square, got matrix of shape {X.shape}")

        Z = check_memory(self.memory).cache(_linkage_matrix)(
            X, self.linkage, metric, self.backend, self.engine, self.dtype, self.algorithm)
        self.linkage_matrix_ = Z
        self.children_ = Z[:, :2].astype(np.intp)
        self.n_connected_components_ = 1
        self.n_leaves_ = n_samples
        if self.distance_threshold is not None or self.compute_distances:
            self.distances_ = Z[:, 2].copy()
        if self.distance_threshold is not None:
            self.n_clusters_ = int(np.count_nonzero(self.distances_ >= self.distance_threshold)
                                   + 1)
        else:
            self.n_clusters_ = self.n_clusters
        self.labels_ = _cut(self.n_clusters_, self.children_, n_samples)
        return self

    def fit_predict(self, X, y=None):
        """Fit (see `fit` for the parameters) and return `labels_`, the cluster of each
        sample."""
        return super().fit_predict(X, y)

    def _check_params(self):
        """The parameters' values, checked before any data is looked at."""
        if self.connectivity is not None:
            raise ValueError("connectivity is not implemented in gpuhclust."
                             "AgglomerativeClustering (unstructured clustering only); use "
                             "connectivity=None or sklearn.cluster.AgglomerativeClustering")
        n_clusters, threshold = self.n_clusters, self.distance_threshold
        if (n_clusters is None) == (threshold is None):
            raise ValueError("Exactly one of n_clusters and distance_threshold has to be set, "
                             "and the other needs to be None.")
        if n_clusters is not None and (not isinstance(n_clusters, Integral)
                                       or isinstance(n_clusters, bool) or n_clusters < 1):
            raise ValueError(f"n_clusters must be an int >= 1 or None, got {n_clusters!r}")
        if threshold is not None and (not isinstance(threshold, Real)
                                      or isinstance(threshold, bool)
                                      or not threshold >= 0):
            raise ValueError("distance_threshold must be a number >= 0 or None, got "
                             f"{threshold!r}")
        full = self.compute_full_tree
        if not (isinstance(full, (bool, np.bool_)) or (isinstance(full, str) and full == "auto")):
            raise ValueError(f"compute_full_tree must be 'auto' or a bool, got {full!r}")
        if threshold is not None and not full:
            raise ValueError("compute_full_tree must be True if distance_threshold is set.")
        if not isinstance(self.compute_distances, (bool, np.bool_)):
            raise ValueError("compute_distances must be a bool, got "
                             f"{self.compute_distances!r}")
        if not isinstance(self.linkage, str) or self.linkage not in METHODS:
            raise ValueError(f"linkage must be one of {sorted(METHODS)}, got {self.linkage!r}")
        metric = self.metric
        if not (callable(metric) or isinstance(metric, str)):
            raise ValueError(f"metric must be a str or a callable, got {metric!r}")
        if (get_method(self.linkage).euclidean_only
                and not (isinstance(metric, str)
                         and metric in ("euclidean", "l2", "precomputed"))):
            raise ValueError(f"{metric} was provided as metric. {self.linkage} can only work "
                             "with euclidean distances (i.e. 'euclidean' and 'l2') or "
                             "precomputed ones.")

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.pairwise = isinstance(self.metric, str) and self.metric == "precomputed"
        return tags

    def _more_tags(self):  # scikit-learn < 1.6
        return {"pairwise": isinstance(self.metric, str) and self.metric == "precomputed"}


def _linkage_matrix(X, method, metric, backend, engine, dtype, algorithm):
    """SciPy's Z for the samples `X` (or the square distance matrix, or metric(X))."""
    options = {"backend": backend, "engine": engine, "dtype": dtype, "algorithm": algorithm}
    if callable(metric):
        X = np.asarray(metric(X))
        metric = "precomputed"
    if metric == "precomputed":
        # the upper triangle, as scikit-learn takes it
        y = squareform(np.ascontiguousarray(X, dtype=np.float64), checks=False)
        return _linkage(y, method, **options)
    return _linkage(X, method, metric, **options)


def _cut(n_clusters, children, n_leaves):
    """scikit-learn's ``_hc_cut``: undo the last n_clusters - 1 merges (the highest nodes
    first) and number each remaining subtree by its place in scikit-learn's heap, so that
    labels are numbered as scikit-learn numbers them."""
    nodes = [-(int(max(children[-1])) + 1)]
    for _ in range(n_clusters - 1):
        pair = children[-nodes[0] - n_leaves]
        heappush(nodes, -int(pair[0]))
        heappushpop(nodes, -int(pair[1]))
    owner = [-1] * (2 * n_leaves - 1)
    for k, node in enumerate(nodes):
        owner[-node] = k
    pairs = children.tolist()
    for row in range(n_leaves - 2, -1, -1):  # parents before children
        k = owner[n_leaves + row]
        if k >= 0:
            a, b = pairs[row]
            owner[a] = owner[b] = k
    return np.array(owner[:n_leaves], dtype=np.intp)
