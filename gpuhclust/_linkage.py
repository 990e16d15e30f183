"""The public entry points: ``linkage`` and ``pdist``."""
from __future__ import annotations

from contextvars import ContextVar

import numpy as np
from scipy.cluster.hierarchy import optimal_leaf_ordering

from ._backends import get_backend
from ._methods import get_method
from ._metrics import canonical_metric, prepare_metric
from ._plan import ENGINES, check_algorithm, check_client, plan_for, run_metric
from ._validation import LinkageInput, as_array, check_linkage_input

__all__ = ["linkage", "pdist"]

#: The plan of the last ``linkage`` call in this context (thread, task): what the command line
#: reports as the engine and algorithm that ran.
_LAST_PLAN: ContextVar = ContextVar("gpuhclust_last_plan", default=None)


def last_plan():
    """The ``gpuhclust._plan.Plan`` of the last ``linkage`` call in this context, or None."""
    return _LAST_PLAN.get()

def _working_dtype(dtype) -> np.dtype:
    if dtype is None:
        return np.dtype(np.float64)
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ValueError(f"dtype must be None, numpy.float32 or numpy.float64, got {dtype!r}")
    return dt


def linkage(y, method="single", metric="euclidean", optimal_ordering=False, *,
            backend="auto", dtype=None, progress=None, engine="auto", algorithm=None,
            client=None, **metric_kwargs):
    """Hierarchical (agglomerative) clustering: a drop-in for ``scipy.cluster.hierarchy.linkage``.

    Parameters
    ----------
    y : array_like
        A condensed distance matrix (1-D, length n(n-1)/2, SciPy's order) or n observations in
        d dimensions (2-D, n x d): a list, a NumPy array of any real, integer or boolean dtype,
        a pandas DataFrame, a dask array of observations (computed to the caller: n*d values).
        With ``backend='dask'`` a condensed matrix may also be a 1-D dask array: it is checked
        and packed for the shards on the workers, never whole on the caller (for the other
        backends it is computed to the caller). It is never modified.
    method : {'single', 'complete', 'average', 'weighted', 'centroid', 'median', 'ward'}
        The linkage method, as in SciPy. 'centroid', 'median' and 'ward' need Euclidean
        distances.
    metric : str or callable
        Any metric ``scipy.spatial.distance.pdist`` accepts (its names and aliases, or a
        callable); used only with observations. Its options (``p`` for minkowski, ``V`` for
        seuclidean, ``VI`` for mahalanobis, ``w`` weights) go in `metric_kwargs`.
    optimal_ordering : bool
        Reorder Z with ``scipy.cluster.hierarchy.optimal_leaf_ordering`` (slow for large n).
    backend : str
        'auto' (the fastest usable backend: 'cuda' where it runs, else 'cpu', and for input of
        at most ``gpuhclust._plan.SMALL_INPUT_N`` observations 'numpy', until the CPU backend
        is loaded in the process: the CPU's Z bit for bit, computed by NumPy with nothing to
        compile), or a name from ``gpuhclust.available_backends()`` such as 'cpu'. 'dask'
        spreads the distance matrix over the workers of a ``distributed`` cluster (never
        chosen by 'auto'; see ``gpuhclust.dask.backend``).
    dtype : None, numpy.float64 or numpy.float32
        Storage of the distances while clustering (arithmetic is float64 either way). float32
        halves the memory; heights are then rounded to float32, and near-ties (distances that
        differ only beyond float32 precision) may merge in another order than SciPy's float64.
        float32 holds distances up to ~3.4e38: a larger one (given or computed) is a ValueError
        before clustering, a merge whose update exceeds it a ValueError naming the merge.
        Distances below float32's smallest normal (~1.2e-38) are stored with less precision,
        those below ~1.4e-45 as 0.
        The vector engine stores no distances: it accepts either value and always computes
        and keeps its centroids in float64.
    progress : bool or None
        Show a progress bar on stderr; None shows one for long runs when stderr is a terminal.
    engine : {'auto', 'matrix', 'vector'}
        How the merge loop gets its distances.

        * ``'matrix'``: from the n x n distance matrix (``8 n^2`` bytes in float64, ``4 n^2``
          in float32), every method, observations or a condensed matrix.
        * ``'vector'``: from the observations, in O(n d) memory: 'single' for every compiled
          metric (Prim's minimum spanning tree, distances computed on the fly), and 'ward',
          'centroid', 'median' for the Euclidean metric (clusters as centroids and sizes:
          nearest-neighbour chain for ward, the generic algorithm for centroid and median).
          Any other method, a condensed matrix, a metric computed by SciPy (callables,
          jensenshannon, weights ``w``) or a backend without it: ValueError. Single: SciPy's
          Z. Ward, centroid, median: heights come from centroids, not from SciPy's
          Lance-Williams recurrence, so they agree with SciPy's to ~1e-14 relative on
          spread-out data but only to ~1e-10 for clusters that are tight compared with the
          distances between them, enough to reorder merges whose heights nearly tie; among
          exact ties it may pick another (equally valid) merge.
        * ``'auto'`` (default): the matrix when it fits in the memory available, else the
          vector engine where the method allows it, with a warning (MemoryError when neither
          fits). Single linkage from observations always takes the vector engine (the faster
          one, it needs no matrix, and its heights are SciPy's bit for bit).

        ``optimal_ordering=True`` still needs the condensed distances.
    algorithm : None, 'scipy', 'mst', 'nn_chain', 'generic', 'rounds' or 'tournament'
        The merge algorithm.

        * None (default): 'mst' (Prim's minimum spanning tree) for single, 'rounds' for
          complete, average, weighted and ward, 'tournament' for centroid and median (on
          both engines).
        * 'tournament' (centroid, median; backends 'cpu' and 'cuda', both engines): the
          generic algorithm with the global minimum taken by an argmin over the
          nearest-neighbour cache, the lowest slot winning a tie, instead of SciPy's heap:
          SciPy's Z bit for bit on tie-free data, and the same Z on CPU and GPU, ties
          included.
        * 'scipy': the algorithm SciPy uses for the method ('mst', 'nn_chain' or 'generic'):
          SciPy's Z bit for bit, ties included (not on backend='dask').
        * 'rounds': reciprocal-nearest-neighbour rounds: every pair of clusters that are each
          other's nearest neighbour merges at once, rows updated in parallel over all threads
          (or Dask workers). complete, average, weighted, ward; backends 'cpu' (matrix
          engine) and 'dask'.
        * 'nn_chain' (complete, average, weighted, ward), 'mst' (single; Boruvka's on Dask),
          'generic' (centroid, median): SciPy's sequential algorithms.

        An algorithm that does not compute the method, or that the backend or engine does not
        run, is a ValueError.
    client : distributed.Client or None
        Only with ``backend='dask'``: the cluster to run on (None: the current client).
    **metric_kwargs
        Options of the metric (see `metric`).

    Returns
    -------
    Z : ndarray of float64, shape (n-1, 4)
        SciPy's linkage matrix: row i merges clusters ``Z[i, 0] < Z[i, 1]`` at height
        ``Z[i, 2]`` into cluster n+i of ``Z[i, 3]`` observations. It can be passed to SciPy's
        ``fcluster``, ``dendrogram``, ``cophenet`` and the rest.

    Raises
    ------
    ValueError
        Unknown method, metric, backend, engine or dtype; a non-Euclidean metric with
        centroid, median or ward; non-finite values (the message says where); a condensed
        length that is not n(n-1)/2; fewer than 2 observations; negative distances with
        centroid, median or ward; ``engine='vector'`` with input it cannot run (see `engine`).
        A problem with one distance raises ``DistanceError`` (``.pair``: the two observations,
        0-based; ``.index``: the condensed entry or None); a merge whose Lance-Williams update
        leaves the storage type's range, ``MergeOverflowError`` (``.step``, ``.observations``).
        Ward, centroid and median on distances whose squares leave float64's range (beyond
        ~1e154 or below ~1e-154) are computed on scaled values instead, so Z stays valid.
    MemoryError
        Before allocating, when the distance matrix would not fit in the memory available
        (and, with ``engine='auto'``, the vector engine cannot take over).

    Notes
    -----
    The exactness contract (``engine='vector'`` for ward, centroid and median aside, see
    `engine`):

    * ``algorithm='scipy'``: SciPy's algorithms with SciPy's tie rule (the lowest index wins,
      the previous chain element is preferred, the merged cluster keeps the higher slot): on
      the same distances Z equals SciPy's bit for bit, ties included, on every backend but
      'dask'. So does the default for single, centroid and median, which is SciPy's algorithm.
    * The default for complete, average, weighted and ward ('rounds'), on tie-free data: the
      same hierarchy as SciPy, columns 0, 1 and 3 of Z exactly, heights to ~1e-13 relative
      (single and complete bit for bit; average, weighted and ward evaluate Lance-Williams in
      round order rather than chain order, so they may differ in the last bits). Complete and
      ward from observations with the Euclidean metric in float64 keep squared distances and
      take the heights' roots at the end (docs/exactness.md): complete's heights are the same
      distances and, on tie-free data, its Z the same; ward's heights may differ in the last
      bits from ward on the same observations' ``pdist``.
    * With ties (equal distances): every row of Z is a valid merge at the current minimum
      distance (the replay invariant), deterministically, by one tie rule: a cluster's nearest
      neighbour is the lowest index among equals (among equal squares, where the rounds keep
      squares: two equal distances may have squares a unit apart), found when the cluster's
      row is rescanned, and all pairs of mutual nearest neighbours merge, the merged cluster
      keeping the higher slot. The rounds run the same arithmetic in the same order everywhere, so Z is the same
      bit for bit on 'cpu' (any number of threads) and 'dask' (any number of workers); among
      tied merges it may differ from SciPy's choice.

    Examples
    --------
    >>> import numpy as np, gpuhclust
    >>> X = np.array([[2.], [8.], [0.], [4.], [1.], [9.], [9.], [0.]])
    >>> Z = gpuhclust.linkage(X, 'ward')
    >>> gpuhclust.fcluster(Z, 3, 'maxclust')
    array([2, 1, 2, 3, 2, 1, 1, 2], dtype=int32)
    """
    method_ = get_method(method)
    work_dtype = _working_dtype(dtype)
    if not isinstance(engine, str) or engine not in ENGINES:
        raise ValueError(f"engine must be one of 'auto', 'matrix', 'vector'; got {engine!r}")
    check_algorithm(algorithm)
    metric_name = canonical_metric(metric)
    # 'auto' is resolved by the plan, which knows the input (small input may go to backend
    # 'numpy', and the CPU backend, with Numba, is then never imported); it is never
    # distributed and takes the input as it is
    be = backend if isinstance(backend, str) and backend == "auto" else get_backend(backend)
    check_client(be, client)
    y = _from_dask(y, not isinstance(be, str) and be.distributed, client)
    data = (y if isinstance(y, LinkageInput)  # a condensed dask array for backend='dask'
            else check_linkage_input(as_array(y), method_, metric_name, work_dtype))
    prepared = None
    if data.observations is not None:
        prepared = prepare_metric(data.observations, metric_name, metric_kwargs)
    elif metric_kwargs:
        raise TypeError("metric options (" + ", ".join(sorted(metric_kwargs)) + ") apply only "
                        "to observations, not to a condensed distance matrix")
    if not isinstance(be, str):
        data = be.check_input(data, method_, work_dtype, client)
    plan = plan_for(be, data, prepared, method_, work_dtype, engine, algorithm, client)
    _LAST_PLAN.set(plan)
    be = plan.backend
    raw = be.run(plan, data, run_metric(plan, prepared), progress)
    from ._finalise import finalise  # Numba: imported with the first linkage

    Z = finalise(raw, data.n, method_, squares=plan.squares)
    if optimal_ordering:
        condensed = data.condensed
        if condensed is None:
            condensed = be.to_host(be.pdist(prepared, np.float64))
        Z = optimal_leaf_ordering(Z, np.asarray(condensed, dtype=np.float64))
    return Z


def _from_dask(y, distributed_backend: bool, client):
    """A dask array of observations computed to a NumPy array (n*d values); anything else
    as it is. A condensed matrix as a dask array goes to the distributed backend as it is (a
    ``LinkageInput`` with its length and dtype checked: ``gpuhclust.dask._condensed``) and is
    computed for the others (which hold it anyway)."""
    if not (hasattr(y, "__dask_graph__") and type(y).__module__.split(".")[0] == "dask"):
        return y
    if getattr(y, "ndim", 2) == 1 and distributed_backend:
        from .dask._condensed import lazy_input

        return lazy_input(y)
    return client.compute(y).result() if client is not None else y.compute()


def pdist(X, metric="euclidean", *, backend="auto", dtype=None, **kwargs):
    """Pairwise distances between observations: ``scipy.spatial.distance.pdist``, in parallel.

    Parameters
    ----------
    X : array_like, shape (n, d)
        Observations. Never modified.
    metric : str or callable
        Computed by the backend for euclidean, sqeuclidean, cityblock, chebyshev, minkowski,
        cosine, correlation, canberra, braycurtis, seuclidean, mahalanobis, hamming, jaccard,
        dice, rogerstanimoto, russellrao, sokalsneath and yule. Weighted metrics (``w=``),
        jensenshannon and callables are delegated to ``scipy.spatial.distance.pdist``.
    backend : str
        As for :func:`linkage`.
    dtype : None, numpy.float64 or numpy.float32
        Type of the result (distances are computed in float64).
    **kwargs
        The metric's options: ``p``, ``V``, ``VI``, ``w``.

    Returns
    -------
    y : ndarray, shape (n(n-1)/2,)
        Condensed distances in SciPy's order.
    """
    work_dtype = _working_dtype(dtype)
    arr = as_array(X, "X")
    if arr.ndim != 2:
        raise ValueError(f"A 2-dimensional array must be passed. (Shape was {arr.shape}).")
    prepared = prepare_metric(arr, canonical_metric(metric), kwargs)
    return get_backend(backend).pdist(prepared, work_dtype)
