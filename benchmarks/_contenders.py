"""The contenders of the benchmark suite: what each runs, where it applies, and its data.

Each contender turns observations X (n x d, float64) into a SciPy-style linkage matrix Z; those
that take a condensed distance matrix as SciPy's ``linkage`` does (``Contender.condensed``) get
``pdist(X, metric)`` instead with ``--input condensed`` (:func:`input_data`; the metric
argument then does not apply, as in SciPy). Libraries are imported inside the run functions, so
that a child process measuring one contender loads only that contender's library.
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Callable

import numpy as np

METHODS = ("single", "complete", "average", "weighted", "ward", "centroid", "median")
EUCLIDEAN_ONLY = ("ward", "centroid", "median")
VECTOR_METHODS = ("single", "ward", "centroid", "median")  # fastcluster and gpuhclust alike
SKLEARN_METHODS = ("single", "complete", "average", "ward")


def make_data(n: int, d: int, seed: int) -> np.ndarray:
    """The benchmark data: standard normal observations, the same for every contender."""
    return np.random.default_rng(seed).standard_normal((n, d))


#: What the contenders get (suite.py --input): the observations, or their condensed distance
#: matrix, computed before the clock starts.
INPUTS = ("observations", "condensed")


def input_data(X: np.ndarray, kind: str, metric: str) -> np.ndarray:
    """The data a contender runs on: X itself, or its condensed distances under `metric`
    (SciPy's ``pdist``)."""
    if kind == "observations":
        return X
    import scipy.spatial.distance as ssd

    return ssd.pdist(X, metric)


def input_bytes(n: int, kind: str) -> int:
    """Memory the input adds beside the observations while a call runs: the condensed float64
    distances (8 n (n - 1) / 2 bytes), or nothing."""
    return 8 * (n * (n - 1) // 2) if kind == "condensed" else 0


def z_from_children(children: np.ndarray, heights: np.ndarray | None) -> np.ndarray:
    """A SciPy linkage matrix from merge-ordered children (scikit-learn, cuML): ids sorted in
    each row, sizes counted; heights NaN when the library returns none."""
    children = np.asarray(children, dtype=np.int64)
    m = children.shape[0]
    n = m + 1
    size = np.ones(n + m, dtype=np.int64)
    Z = np.empty((m, 4), dtype=np.float64)
    Z[:, 0] = children.min(axis=1)
    Z[:, 1] = children.max(axis=1)
    Z[:, 2] = np.nan if heights is None else heights
    for k, (a, b) in enumerate(children):
        size[n + k] = size[a] + size[b]
    Z[:, 3] = size[n:]
    return Z


# -- run functions (called in the child) ---------------------------------------------------

def _scipy(X, method, metric):
    import scipy.cluster.hierarchy as sch

    return sch.linkage(X, method, metric)


def _fastcluster_metric(metric):
    return {"chebyshev": "chebychev"}.get(metric, metric)  # fastcluster's spelling


def _fastcluster(X, method, metric):
    import fastcluster

    return fastcluster.linkage(X, method, _fastcluster_metric(metric))


def _fastcluster_vector(X, method, metric):
    import fastcluster

    return fastcluster.linkage_vector(X, method, _fastcluster_metric(metric))


def _sklearn(X, method, metric):
    from sklearn.cluster import AgglomerativeClustering

    model = AgglomerativeClustering(n_clusters=1, linkage=method, metric=metric,
                                    compute_distances=True).fit(X)
    return z_from_children(model.children_, model.distances_)


def _cuml(X, method, metric):
    from cuml import AgglomerativeClustering

    model = AgglomerativeClustering(n_clusters=1, linkage=method, metric=metric,
                                    output_type="numpy").fit(X.astype(np.float32))
    children = np.asarray(model.children_)
    if children.shape[0] == 2 and children.shape[1] != 2:
        children = children.T
    return z_from_children(children, None)  # cuML returns no merge heights


def _gpuhclust(backend, engine, dtype):
    def run(X, method, metric):
        import gpuhclust

        return gpuhclust.linkage(X, method, metric, backend=backend, engine=engine,
                                 dtype=np.dtype(dtype))
    return run


# -- where they apply ------------------------------------------------------------------------

def _metric_ok(method, metric):
    return method not in EUCLIDEAN_ONLY or metric == "euclidean"


def _applies_all(method, metric):
    return "" if _metric_ok(method, metric) else f"{method} needs the Euclidean metric"


def _applies_vector(method, metric):
    if method not in VECTOR_METHODS:
        return f"the vector engines run {', '.join(VECTOR_METHODS)} only"
    return _applies_all(method, metric)


def _applies_sklearn(method, metric):
    if method not in SKLEARN_METHODS:
        return f"AgglomerativeClustering offers {', '.join(SKLEARN_METHODS)} only"
    return _applies_all(method, metric)


def _applies_cuml(method, metric):
    return "" if method == "single" else "cuML's AgglomerativeClustering is single linkage only"


def _installed(module):
    def check():
        return "" if importlib.util.find_spec(module) is not None else f"{module} is not installed"
    return check


def _cuda_usable():
    try:
        from gpuhclust.cuda.backend import CudaBackend

        return "" if CudaBackend.usable() else "no usable CUDA device (CuPy) on this machine"
    except Exception as exc:  # noqa: BLE001 - any import failure means 'not usable'
        return f"CUDA backend unavailable: {exc}"


@dataclass(frozen=True)
class Contender:
    name: str
    library: str          # distribution name, for the version
    run: Callable         # (X, method, metric) -> Z
    applies: Callable     # (method, metric) -> '' or why not
    available: Callable   # () -> '' or why not (checked once, in the parent)
    backend: str = "-"
    engine: str = "-"
    dtype: str = "float64"
    heights: bool = True  # False: the library returns no merge heights
    condensed: bool = True  # takes a condensed distance matrix (--input condensed)
    memory: Callable = lambda n, d: 8 * n * n  # rough peak bytes, for the scaling budget


def _matrix_bytes(itemsize):
    return lambda n, d: itemsize * n * n


def _vector_bytes(n, d):
    return 8 * n * d + 15 * 8 * n


CONTENDERS = {c.name: c for c in [
    Contender("scipy", "scipy", _scipy, _applies_all, _installed("scipy")),
    Contender("fastcluster", "fastcluster", _fastcluster, _applies_all,
              _installed("fastcluster"), memory=_matrix_bytes(4)),
    Contender("fastcluster-vector", "fastcluster", _fastcluster_vector, _applies_vector,
              _installed("fastcluster"), memory=_vector_bytes, condensed=False),
    Contender("sklearn", "scikit-learn", _sklearn, _applies_sklearn, _installed("sklearn"),
              condensed=False),
    Contender("cuml", "cuml", _cuml, _applies_cuml, _installed("cuml"), dtype="float32",
              heights=False, memory=_matrix_bytes(4), condensed=False),
    # what a user gets by default; the worker records the engine 'auto' chose
    Contender("gpuhclust-cpu-auto", "gpuhclust", _gpuhclust("cpu", "auto", "float64"),
              _applies_all, _installed("gpuhclust"), "cpu", "auto", "float64"),
    Contender("gpuhclust-cpu", "gpuhclust", _gpuhclust("cpu", "matrix", "float64"),
              _applies_all, _installed("gpuhclust"), "cpu", "matrix", "float64"),
    Contender("gpuhclust-cpu-f32", "gpuhclust", _gpuhclust("cpu", "matrix", "float32"),
              _applies_all, _installed("gpuhclust"), "cpu", "matrix", "float32",
              memory=_matrix_bytes(4)),
    # the vector engine stores no distances and computes in float64 whatever dtype says
    Contender("gpuhclust-cpu-vector", "gpuhclust", _gpuhclust("cpu", "vector", "float64"),
              _applies_vector, _installed("gpuhclust"), "cpu", "vector", "float64",
              memory=_vector_bytes, condensed=False),
    Contender("gpuhclust-cuda", "gpuhclust", _gpuhclust("cuda", "matrix", "float64"),
              _applies_all, _cuda_usable, "cuda", "matrix", "float64"),
    Contender("gpuhclust-cuda-f32", "gpuhclust", _gpuhclust("cuda", "matrix", "float32"),
              _applies_all, _cuda_usable, "cuda", "matrix", "float32",
              memory=_matrix_bytes(4)),
]}

#: Groups accepted by --contenders besides the names.
GROUPS = {
    "all": list(CONTENDERS),
    "peers": ["scipy", "fastcluster", "fastcluster-vector", "sklearn", "cuml"],
    "gpuhclust": [n for n in CONTENDERS if n.startswith("gpuhclust")],
}
