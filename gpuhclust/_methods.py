"""The one method table every backend shares.

Each linkage method is described once: SciPy's method code, the algorithm family that computes
it, whether Lance-Williams needs Euclidean input, and whether the merges are sorted by height
afterwards (SciPy sorts for every method except centroid and median, whose heights may decrease).
"""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Method", "METHODS", "get_method"]


@dataclass(frozen=True)
class Method:
    """How one linkage method is computed.

    Attributes
    ----------
    name : str
        SciPy's name for the method.
    code : int
        SciPy's method code (``scipy.cluster.hierarchy._LINKAGE_METHODS``); the compiled
        Lance-Williams update dispatches on it.
    algorithm : str
        ``'mst'`` (minimum spanning tree), ``'nn_chain'`` (reducible methods) or ``'generic'``
        (global minimum each step with a nearest-neighbour cache).
    euclidean_only : bool
        The update formula assumes Euclidean distances (centroid, median, ward).
    reducible : bool
        Merging two clusters never brings them closer to a third one (no inversions).
    sorted_output : bool
        Rows of Z are stably sorted by height and relabelled (SciPy does this for every method
        except centroid and median, which stay in merge order).
    """

    name: str
    code: int
    algorithm: str
    euclidean_only: bool
    reducible: bool

    @property
    def sorted_output(self) -> bool:
        return self.algorithm != "generic"


METHODS: dict[str, Method] = {
    m.name: m
    for m in (
        Method("single", 0, "mst", euclidean_only=False, reducible=True),
        Method("complete", 1, "nn_chain", euclidean_only=False, reducible=True),
        Method("average", 2, "nn_chain", euclidean_only=False, reducible=True),
        Method("centroid", 3, "generic", euclidean_only=True, reducible=False),
        Method("median", 4, "generic", euclidean_only=True, reducible=False),
        Method("ward", 5, "nn_chain", euclidean_only=True, reducible=True),
        Method("weighted", 6, "nn_chain", euclidean_only=False, reducible=True),
    )
}


def get_method(name: str) -> Method:
    """Return the table entry for `name`, or raise a ValueError listing the valid names."""
    try:
        return METHODS[name]
    except (KeyError, TypeError):
        valid = ", ".join(sorted(METHODS))
        raise ValueError(f"Invalid method: {name!r}; expected one of {valid}") from None
