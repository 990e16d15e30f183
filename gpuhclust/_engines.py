"""What the engines can run, shared by every backend that offers engine='vector'.

'matrix' works on the n x n distance matrix (every method, any input); 'vector' works from the
observations in O(n*d) memory (single for every compiled metric, ward, centroid and median for
Euclidean). The plan (``gpuhclust._plan``) decides between them with :func:`choose_engine`,
from :func:`vector_refusal` (why 'vector' cannot run an input) and the memory each engine needs
against the memory the backend has (host memory for the CPU, device memory for CUDA).
"""
from __future__ import annotations

import warnings
from typing import Callable

import numpy as np

from ._memory import check_fits, format_bytes
from ._methods import Method
from ._metrics import PreparedMetric
from ._validation import LinkageInput

__all__ = ["VECTOR_METHODS", "vector_refusal", "vector_bytes", "choose_engine",
           "check_vector_scale", "vector_overflow_error", "centroid_frame"]


VECTOR_METHODS = ("single", "ward", "centroid", "median")


def vector_refusal(data: LinkageInput, metric: PreparedMetric | None, method: Method) -> str:
    """Why engine='vector' cannot run this input ('' when it can)."""
    if method.name not in VECTOR_METHODS:
        return (f"engine='vector' computes single, ward, centroid and median linkage, not "
                f"{method.name!r} (its cluster distances need the distance matrix): use "
                "engine='matrix' or 'auto'")
    if data.observations is None:
        return ("engine='vector' clusters observations (an n x d array); a condensed distance "
                "matrix already holds every distance: use engine='matrix' or 'auto'")
    if metric is None or metric.code is None:
        name = metric.name if metric is not None else "?"
        return (f"engine='vector' computes the distances itself and supports the compiled "
                f"metrics (euclidean, cityblock, cosine, ...), not {name!r} (callables, "
                "jensenshannon and weights w= go through SciPy): use engine='matrix' or 'auto'")
    if method.euclidean_only and metric.name != "euclidean":
        return (f"engine='vector' computes {method.name} linkage for the Euclidean metric only, "
                f"not {metric.name!r}")
    return ""


def vector_bytes(n: int, d: int) -> int:
    """Working memory of the vector engine: the observations features first, and a few arrays
    of n entries (sizes, slots, positions, caches, the heap, the merges)."""
    return 8 * n * d + 15 * 8 * n


def choose_engine(engine: str, data: LinkageInput, metric: PreparedMetric | None, method: Method,
                  dtype, *, matrix_bytes: Callable[[], int], vector_bytes: Callable[[], int],
                  available: Callable[[], int], where: str = "memory",
                  stacklevel: int = 5) -> str:
    """'matrix' or 'vector' for `engine` ('auto', 'matrix' or 'vector').

    'auto' takes the vector engine for single linkage from observations (no matrix, faster, and
    SciPy's heights bit for bit), otherwise the matrix when ``matrix_bytes()`` fits in
    ``available()`` bytes of `where`, else the vector engine with a warning. The callables are
    only called when needed.

    Ward, centroid and median stay on the matrix while it fits although the vector engine is
    faster for them in few dimensions: it computes their heights from centroids, which round differently from SciPy's
    Lance-Williams recurrence, and for clusters that are tight compared with their distance
    from the other clusters the heights then agree with SciPy's only to ~1e-10 relative
    (measured 6e-10 with three blobs of standard deviation 1e-4 about 5 apart), against
    the ~1e-12 that linkage promises.

    Raises
    ------
    ValueError
        engine='vector' with an input it cannot run (:func:`vector_refusal`).
    MemoryError
        engine='auto' when neither engine fits (before anything is allocated). A matrix that
        does not fit, where 'vector' cannot take over, is left to the backend's own check.
    """
    refusal = vector_refusal(data, metric, method)
    if engine == "vector":
        if refusal:
            raise ValueError(refusal)
        return "vector"
    if engine == "matrix" or refusal:
        return "matrix"
    if method.name == "single":
        return "vector"
    n, d = data.observations.shape
    needed = matrix_bytes()
    free = available()
    if needed <= free:
        return "matrix"
    check_fits(vector_bytes(), f"engine='vector' on {n} observations in {d} dimensions (the "
               f"{n} x {n} distance matrix needs {format_bytes(needed)})", available=free,
               where=where)
    warnings.warn(f"gpuhclust: the {n} x {n} {np.dtype(dtype).name} distance matrix needs "
                  f"{format_bytes(needed)} but {format_bytes(free)} of {where} is available; "
                  f"using engine='vector' ({method.name} linkage from the observations in "
                  "O(n*d) memory). Pass engine='vector' to choose it explicitly.",
                  stacklevel=stacklevel)
    return "vector"


#: Largest coordinate magnitude the centroid methods accept: squared distances between larger
#: ones (up to d * (2 * 1e150)^2) could overflow float64.
MAX_CENTROID_MAGNITUDE = 1e150


def check_vector_scale(X: np.ndarray) -> None:
    """ValueError when squared distances between the rows of `X` could overflow float64 (ward,
    centroid and median compare squared distances)."""
    if X.size and not np.abs(X).max() < MAX_CENTROID_MAGNITUDE:
        raise vector_overflow_error(X)


def vector_overflow_error(X: np.ndarray) -> ValueError:
    """The error for observations whose squared distances overflow float64."""
    return ValueError("engine='vector': the squared distances between these observations "
                      f"overflow float64 (largest magnitude {np.abs(X).max():g}); rescale them")


def centroid_frame(X: np.ndarray) -> np.ndarray:
    """The observations as ward, centroid and median on the vector engine see them: a float64
    copy of `X` less, per feature, its middle value (an observed value, so integers stay exact).

    Centroids carry rounding errors proportional to their coordinates, so data far from the
    origin lose digits: three blobs around x = 100 with standard deviation 0.01 gave heights
    1.4e-10 relative from SciPy's, 2.4e-15 after the shift. Every backend calls this, so their
    engines see the same numbers.
    """
    X = np.asarray(X, dtype=np.float64)
    middle = X.shape[0] // 2
    return X - np.partition(X, middle, axis=0)[middle]
