"""What the engines can run, shared by every backend that offers engine='vector'.

'matrix' works on the n x n distance matrix (every method, any input); 'vector' works from the
observations in O(n*d) memory (single for every compiled metric, ward, centroid and median for
Euclidean). A backend decides between them with :func:`vector_refusal` (why 'vector' cannot run
an input) and :func:`vector_bytes` (what it needs).
"""
from __future__ import annotations

from ._methods import Method
from ._metrics import PreparedMetric
from ._validation import LinkageInput

__all__ = ["VECTOR_METHODS", "vector_refusal", "vector_bytes"]


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
