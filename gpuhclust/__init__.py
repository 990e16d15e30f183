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

    from . import _compile_notice
    from .cpu import backend as _cpu_backend  # noqa: F401  (registers the CPU backend)
    from .cuda import backend as _cuda_backend  # noqa: F401  (registers 'cuda' and 'cuda-sim')
    from .dask import register as _register_dask
    from ._backends import available_backends
    from ._linkage import linkage, pdist
    from ._dendrogram import dendrogram
    from ._fclusterdata import fclusterdata
    from ._methods import METHODS
    from ._warmup import warmup
    from ._validation import DistanceError, MergeOverflowError

    _register_dask()  # backend 'dask', imported (with Dask) only when asked for
    _compile_notice.install()  # one line on stderr when Numba compiles (first run only)

__version__ = "0.1.0"

__all__ = [
    "linkage", "pdist", "available_backends", "METHODS", "warmup", "DistanceError",
    "MergeOverflowError",
    "fcluster", "fclusterdata", "dendrogram", "cophenet", "leaves_list", "to_tree", "cut_tree",
    "optimal_leaf_ordering", "whiten", "__version__",
]


def __getattr__(name):
    # scikit-learn is imported only when its estimator is asked for
    if name == "AgglomerativeClustering":
        from ._sklearn import AgglomerativeClustering

        return AgglomerativeClustering
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), "AgglomerativeClustering"])
