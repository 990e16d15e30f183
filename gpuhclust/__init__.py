"""gpuhclust: exact hierarchical clustering on CUDA GPUs and fast CPUs.

``gpuhclust.linkage`` returns the same linkage matrix as ``scipy.cluster.hierarchy.linkage``;
SciPy's functions that consume it are re-exported so that the tutorial workflow needs only one
import.
``gpuhclust.AgglomerativeClustering`` (scikit-learn's estimator on gpuhclust's linkage) is
imported on first use, so that scikit-learn stays optional.
"""
from ._startup import ctrl_c_exits_quietly as _ctrl_c_exits_quietly

with _ctrl_c_exits_quietly():  # `python -m gpuhclust`: a Ctrl-C while importing is one line
    from scipy.cluster.hierarchy import (
        cophenet,
        cut_tree,
        fcluster,
        leaves_list,
        optimal_leaf_ordering,
        to_tree,
    )
    from scipy.cluster.vq import whiten

    from ._backends import available_backends, register_deferred_backend
    from ._linkage import linkage, pdist
    from ._dendrogram import dendrogram
    from ._fclusterdata import fclusterdata
    from ._methods import METHODS
    from ._validation import DistanceError, MergeOverflowError
    from .dask import register as _register_dask

    # Backends are imported when first asked for: importing gpuhclust imports neither Numba
    # nor the kernel sources (the CPU package announces Numba's compilations once imported:
    # gpuhclust.cpu)
    register_deferred_backend("cpu", "gpuhclust.cpu.backend", auto_priority=0,
                              always_usable=True)
    register_deferred_backend("numpy", "gpuhclust.numpy_only.backend", auto_priority=-5,
                              always_usable=True)
    register_deferred_backend("cuda", "gpuhclust.cuda.backend", auto_priority=10,
                              probe="gpuhclust.cuda._context:cuda_unusable_reason")
    register_deferred_backend("cuda-sim", "gpuhclust.cuda.backend", auto_priority=-10)
    _register_dask()  # backend 'dask', imported (with Dask) only when asked for

__version__ = "0.1.0"

__all__ = [
    "linkage", "pdist", "available_backends", "METHODS", "warmup", "DistanceError",
    "MergeOverflowError",
    "fcluster", "fclusterdata", "dendrogram", "cophenet", "leaves_list", "to_tree", "cut_tree",
    "optimal_leaf_ordering", "whiten", "__version__",
]


def __getattr__(name):
    # scikit-learn is imported only when its estimator is asked for, Numba when warmup is
    if name == "AgglomerativeClustering":
        from ._sklearn import AgglomerativeClustering

        return AgglomerativeClustering
    if name == "warmup":
        from ._warmup import warmup

        return warmup
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), "AgglomerativeClustering", "warmup"])
