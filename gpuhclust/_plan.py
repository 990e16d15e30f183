"""The one planning step of ``linkage``: before any backend runs, decide the engine, the
algorithm, the backend (and its Dask client), the storage dtype, and the bytes the engine needs
against the bytes available. Every backend then gets the same call:
``backend.run(plan, data, metric, progress)``.

What fits what is read from two tables, never decided in a backend: the method table
(``gpuhclust._methods``: which algorithms compute a method, and its default) and each backend's
``algorithms`` (which algorithms it runs on each engine). Where a backend lacks a method's
default, :data:`FALLBACK` names what runs instead.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, replace

import numpy as np

from ._backends import Backend, auto_backend_name, get_backend
from ._engines import choose_engine
from ._methods import ALGORITHMS, METHODS as METHODS_TABLE, WARD_SQUARED, Method
from ._metrics import METRIC_CODES, PreparedMetric
from ._validation import LinkageInput

__all__ = ["Plan", "make_plan", "plan_for", "check_client", "check_algorithm", "ENGINES",
           "FALLBACK", "SMALL_INPUT_N", "keeps_squares", "run_metric"]

ENGINES = ("auto", "matrix", "vector")

#: The default algorithm a backend runs when it lacks the method table's default.
#: ``'rounds' -> 'nn_chain'``: for a backend whose engine offers no rounds (the built-in
#: backends run them on both engines, ward's vector engine included).
FALLBACK = {"rounds": "nn_chain"}

#: With backend='auto', input of at most this many observations that the CPU backend would
#: run goes to backend 'numpy' where it takes it (``gpuhclust.numpy_only``), until the CPU
#: backend is loaded in the process: the same Z, and at this size the whole run takes about
#: as long as Numba needs to load the compiled code (a first run on a fresh install compiles
#: nothing); once loaded, the compiled code is the faster.
SMALL_INPUT_N = 1500


@dataclass(frozen=True)
class Plan:
    """What one ``linkage`` call runs.

    Attributes
    ----------
    backend : Backend
        Where it runs.
    method : Method
        The method table entry; where `squares` holds, with the update code on squares
        (:data:`SQUARED_METHODS`), which every backend's Lance-Williams update dispatches on.
    engine : str
        'matrix' (the n x n distance matrix) or 'vector' (from the observations).
    algorithm : str
        One of ``gpuhclust._methods.ALGORITHMS``.
    dtype : numpy.dtype
        Storage of the distances.
    needed_bytes : int
        Memory the engine needs (0 where the backend plans it elsewhere, e.g. Dask workers).
    available_bytes : int or None
        Memory available to it (None where not known on the caller).
    client : object
        The ``distributed.Client`` of a distributed backend (None: the current one).
    squares : bool
        The matrix holds squared distances (:func:`keeps_squares`): the backend gets the
        'sqeuclidean' metric (:func:`run_metric`), and the heights it reports are squares,
        whose roots the finalisation takes.
    """

    backend: Backend
    method: Method
    engine: str
    algorithm: str
    dtype: np.dtype
    needed_bytes: int = 0
    available_bytes: int | None = None
    client: object = None
    squares: bool = False


def check_client(backend: Backend | str, client) -> None:
    """ValueError for ``client=`` with a backend that does not take one ('auto' never
    chooses a distributed backend)."""
    name = backend if isinstance(backend, str) else backend.name
    if client is not None and (isinstance(backend, str) or not backend.distributed):
        raise ValueError(f"client= is used only by backend='dask', not backend={name!r}")


def check_algorithm(algorithm) -> None:
    """ValueError for an algorithm name that is not None, 'scipy' or one of ALGORITHMS."""
    if algorithm is not None and (not isinstance(algorithm, str)
                                  or algorithm not in ("scipy",) + ALGORITHMS):
        raise ValueError("algorithm must be None, 'scipy', "
                         + ", ".join(repr(a) for a in ALGORITHMS) + f"; got {algorithm!r}")


def _engine(backend: Backend, engine: str, data: LinkageInput, metric, method: Method,
            dtype) -> str:
    if not isinstance(engine, str) or engine not in ENGINES:
        raise ValueError(f"engine must be one of 'auto', 'matrix', 'vector'; got {engine!r}")
    if "vector" not in backend.algorithms:
        if engine == "vector":
            raise ValueError(f"engine='vector' is not available on backend {backend.name!r}; "
                             "use backend='cpu' (or engine='matrix')")
        return "matrix"
    available = backend.available_bytes
    return choose_engine(engine, data, metric, method, dtype,
                         matrix_bytes=lambda: backend.matrix_bytes(data, metric, dtype),
                         vector_bytes=lambda: backend.vector_bytes(*data.observations.shape,
                                                                   method),
                         available=available, where=backend.memory_where,
                         stacklevel=6)  # the caller of linkage: via plan_for, make_plan


def _algorithm(backend: Backend, engine: str, method: Method, algorithm) -> str:
    offered = backend.algorithms[engine]
    where = (f"backend {backend.name!r}" if engine == "matrix"
             else f"engine='vector' on backend {backend.name!r}")
    if algorithm is None:
        chosen = method.default_algorithm
        if chosen not in offered:
            chosen = FALLBACK.get(chosen, chosen)
        if chosen not in offered:
            raise ValueError(f"{where} computes {method.name} linkage with none of its "
                             f"algorithms ({', '.join(method.algorithms)})")
        return chosen
    if algorithm == "scipy":
        if not backend.scipy_exact:
            raise ValueError(f"algorithm='scipy' (SciPy's sequential algorithms, SciPy's Z bit "
                             f"for bit) is not available on backend {backend.name!r}; use "
                             "algorithm=None (its default) or backend='cpu'")
        chosen = method.scipy_algorithm
    else:
        chosen = algorithm
    if chosen not in method.algorithms:
        raise ValueError(f"algorithm={algorithm!r} does not compute {method.name} linkage; "
                         f"{method.name} takes " + ", ".join(repr(a) for a in method.algorithms)
                         + " (or None, 'scipy')")
    if chosen not in offered:
        raise ValueError(f"algorithm={chosen!r} is not available for {method.name} linkage on "
                         f"{where}, which runs " + ", ".join(repr(a) for a in offered)
                         + " (use algorithm=None for its default)")
    return chosen


#: The methods whose rounds may keep squared distances (:func:`keeps_squares`), and the update
#: code each then runs (complete's maximum works on squares as it is).
SQUARED_METHODS = {"complete": METHODS_TABLE["complete"].code, "ward": WARD_SQUARED}


def keeps_squares(method: Method, algorithm: str, engine: str, dtype, data: LinkageInput,
                  metric: PreparedMetric | None) -> bool:
    """Whether the rounds keep squared distances: complete or ward, from observations with the
    compiled Euclidean metric, float64 storage, the matrix engine.

    The squares are what the Euclidean fill computes before its root, so the fill skips its
    roots, and the heights' roots, taken at the end, are the very distances it would have
    stored. Complete's maximum picks the same operand on squares, so on tie-free data its Z is
    the same bit for bit (where two squares differ but their roots are equal, the rounds see
    no tie, and may merge in another order than on the distances: still a valid merge at the
    minimum). Ward's update on squares (``WARD_SQUARED``) is its own less
    the squares, the root and the scaling that keeps them in range (heights to ~1e-15
    relative). The guard on the observations' magnitude (below 1e100, where the metric needs no
    check for non-finite distances) keeps every square and update far from overflow. Condensed
    input (its squares could leave float64's range) and float32 storage keep the distances.
    The same decision for every backend, so Z is the same on all of them.
    """
    return (method.name in SQUARED_METHODS and algorithm == "rounds" and engine == "matrix"
            and np.dtype(dtype) == np.float64 and data.observations is not None
            and metric is not None and metric.name == "euclidean"
            and metric.code == METRIC_CODES["euclidean"] and not metric.may_give_non_finite)


def run_metric(plan: Plan, metric: PreparedMetric | None) -> PreparedMetric | None:
    """The metric the plan's backend computes: 'sqeuclidean' on the same observations where
    the plan keeps squares, else `metric` itself."""
    if not plan.squares:
        return metric
    return PreparedMetric("sqeuclidean", METRIC_CODES["sqeuclidean"], metric.X)


def make_plan(backend: Backend, data: LinkageInput, metric: PreparedMetric | None,
              method: Method, dtype, engine: str = "auto", algorithm=None,
              client=None) -> Plan:
    """The plan for one ``linkage`` call (see the module docstring).

    Raises
    ------
    ValueError
        An unknown engine or algorithm; an algorithm that does not compute `method`, or that
        the backend or engine does not run; engine='vector' with input it cannot run.
    NotImplementedError
        The backend does not compute `method` at all (``Backend.cannot_run``).
    MemoryError
        engine='auto' when neither engine fits (before anything is allocated).
    """
    check_algorithm(algorithm)
    refusal = backend.cannot_run(method)
    if refusal:
        raise NotImplementedError(refusal)
    refusal = backend.refusal(data, metric, dtype)
    if refusal:
        raise ValueError(refusal)
    engine_ = _engine(backend, engine, data, metric, method, dtype)
    algorithm_ = _algorithm(backend, engine_, method, algorithm)
    if engine_ == "vector":
        needed = backend.vector_bytes(*data.observations.shape, method)
    else:
        needed = backend.matrix_bytes(data, metric, dtype)
    squares = keeps_squares(method, algorithm_, engine_, dtype, data, metric)
    if squares:
        method = replace(method, code=SQUARED_METHODS[method.name])
    return Plan(backend, method, engine_, algorithm_, np.dtype(dtype), needed,
                backend.available_bytes() if needed else None, client, squares)



def cpu_backend_loaded() -> bool:
    """Whether this process has imported the CPU backend (and Numba with it)."""
    return "gpuhclust.cpu.backend" in sys.modules


def plan_for(requested: Backend | str, data: LinkageInput, metric: PreparedMetric | None,
             method: Method, dtype, engine: str = "auto", algorithm=None,
             client=None) -> Plan:
    """:func:`make_plan` for the backend `requested` (a name or a backend); 'auto' is
    ``get_backend('auto')``, except that small input the CPU backend would run goes to
    backend 'numpy' (see :data:`SMALL_INPUT_N`) unless that backend refuses it or the CPU
    backend is loaded already."""
    if isinstance(requested, str) and requested == "auto":
        requested = auto_backend_name()
        if requested == "cpu" and data.n <= SMALL_INPUT_N and not cpu_backend_loaded():
            try:
                plan = make_plan(get_backend("numpy"), data, metric, method, dtype, engine,
                                 algorithm, client)
            except (ValueError, NotImplementedError, MemoryError):
                plan = None  # what it does not take, the CPU backend runs (or explains)
            if plan is not None and plan.needed_bytes <= plan.available_bytes:
                return plan
    return make_plan(get_backend(requested), data, metric, method, dtype, engine, algorithm,
                     client)
