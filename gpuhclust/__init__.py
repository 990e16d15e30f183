"""gpuhclust: exact hierarchical clustering on CUDA GPUs and fast CPUs.

``gpuhclust.linkage`` returns the same linkage matrix as ``scipy.cluster.hierarchy.linkage``;
SciPy's functions that consume it are re-exported so that the tutorial workflow needs only one
import.
"""
from scipy.cluster.hierarchy import (
    cophenet,
    cut_tree,
    dendrogram,
    fcluster,
    fclusterdata,
    leaves_list,
    optimal_leaf_ordering,
    to_tree,
)
from scipy.cluster.vq import whiten

from .cpu import backend as _cpu_backend  # noqa: F401  (registers the CPU backend)
from .cuda import backend as _cuda_backend  # noqa: F401  (registers 'cuda' and 'cuda-sim')
from .dask import register as _register_dask
from ._backends import available_backends
from ._linkage import linkage, pdist
from ._methods import METHODS
from ._validation import DistanceError, MergeOverflowError

_register_dask()  # backend 'dask', imported (with Dask) only when asked for

__version__ = "0.1.0"

__all__ = [
    "linkage", "pdist", "available_backends", "METHODS", "DistanceError", "MergeOverflowError",
    "fcluster", "fclusterdata", "dendrogram", "cophenet", "leaves_list", "to_tree", "cut_tree",
    "optimal_leaf_ordering", "whiten", "__version__",
]
