"""The one method table every backend shares.

Each linkage method is described once: SciPy's method code, the algorithm SciPy computes it
with, the algorithms gpuhclust can compute it with and its default among them, whether
Lance-Williams needs Euclidean input, and whether the merges are sorted by height afterwards
(SciPy sorts for every method except centroid and median, whose heights may decrease).

Algorithms (the values of ``linkage(..., algorithm=...)``):

* ``'mst'``: a minimum spanning tree (Prim's, as SciPy; on Dask, Boruvka's);
* ``'nn_chain'``: the nearest-neighbour chain (SciPy's, for the reducible methods);
* ``'generic'``: the global minimum each step with a nearest-neighbour cache (SciPy's, for
  centroid and median), the minimum kept in SciPy's binary heap;
* ``'tournament'``: the same cache and arithmetic, the global minimum found by an argmin over the
  cache (a tournament, parallel on a GPU) in which the lowest slot wins a tie: SciPy's Z on
  tie-free data, and the same Z on every backend;
* ``'rounds'``: reciprocal-nearest-neighbour rounds (``gpuhclust._rounds``): every reciprocal
  pair merges at once, in parallel; the same hierarchy as the chain on tie-free data.
"""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Method", "METHODS", "ALGORITHMS", "WARD_SQUARED", "get_method"]

#: Centroid, median and ward square their Euclidean operands in the Lance-Williams update: where
#: the largest operand is below SQRT_TINY (the square root of float64's smallest normal, so a
#: square would be subnormal) or a square overflows past DBL_MAX, the update is evaluated on
#: scaled operands (``gpuhclust.cpu._lance_williams``, ``gpuhclust.numpy_only``).
SQRT_TINY = 1.4916681462400413e-154
DBL_MAX = 1.7976931348623157e308

#: The Lance-Williams code (not one of SciPy's) of ward on *squared* Euclidean distances:
#: ``((n_i + n_x) D_xi + (n_i + n_y) D_yi - n_i D_xy) / (n_x + n_y + n_i)``, ward's radicand on
#: the squares, with one division and no root (a negative result, which only rounding can
#: give, is NaN, as the root of one would be). Ward's rounds use it when the plan keeps
#: squares (``gpuhclust._plan.keeps_squares``); the heights' roots are taken once, at the end.
WARD_SQUARED = 7

#: Every algorithm name ``linkage(..., algorithm=...)`` accepts besides None and 'scipy'.
ALGORITHMS = ("mst", "nn_chain", "generic", "rounds", "tournament")


@dataclass(frozen=True)
class Method:
    """How one linkage method is computed.

    Attributes
    ----------
    name : str
        SciPy's name for the method.
    code : int
        SciPy's method code (``scipy.cluster.hierarchy._LINKAGE_METHODS``); the compiled
        Lance-Williams update dispatches on it. (A plan whose rounds keep squared distances
        carries ward's entry with :data:`WARD_SQUARED` instead: ``gpuhclust._plan``.)
    scipy_algorithm : str
        The algorithm SciPy uses: ``'mst'``, ``'nn_chain'`` or ``'generic'``
        (``algorithm='scipy'`` is this one).
    algorithms : tuple of str
        Every algorithm that computes the method (the first is the default).
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
    scipy_algorithm: str
    algorithms: tuple[str, ...]
    euclidean_only: bool
    reducible: bool

    @property
    def default_algorithm(self) -> str:
        return self.algorithms[0]

    @property
    def sorted_output(self) -> bool:
        return self.reducible


_MST = ("mst",)
_REDUCIBLE = ("rounds", "nn_chain")
_GENERIC = ("tournament", "generic")

METHODS: dict[str, Method] = {
    m.name: m
    for m in (
        Method("single", 0, "mst", _MST, euclidean_only=False, reducible=True),
        Method("complete", 1, "nn_chain", _REDUCIBLE, euclidean_only=False, reducible=True),
        Method("average", 2, "nn_chain", _REDUCIBLE, euclidean_only=False, reducible=True),
        Method("centroid", 3, "generic", _GENERIC, euclidean_only=True, reducible=False),
        Method("median", 4, "generic", _GENERIC, euclidean_only=True, reducible=False),
        Method("ward", 5, "nn_chain", _REDUCIBLE, euclidean_only=True, reducible=True),
        Method("weighted", 6, "nn_chain", _REDUCIBLE, euclidean_only=False, reducible=True),
    )
}


def get_method(name: str) -> Method:
    """Return the table entry for `name`, or raise a ValueError listing the valid names."""
    try:
        return METHODS[name]
    except (KeyError, TypeError):
        valid = ", ".join(sorted(METHODS))
        raise ValueError(f"Invalid method: {name!r}; expected one of {valid}") from None
