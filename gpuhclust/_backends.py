"""The backend registry. A backend computes distances and runs the merge loop; validation,
metric preparation and finalisation stay shared. Later backends (CUDA, the kernel simulator,
Dask) register themselves here under their names.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Callable

import numpy as np

from ._methods import Method
from ._metrics import PreparedMetric
from ._validation import LinkageInput

__all__ = ["Backend", "register_backend", "get_backend", "available_backends"]


class Backend(ABC):
    """What every backend provides."""

    name: str = "?"
    #: Engines the backend runs: 'matrix' (the n x n distance matrix) and, where listed,
    #: 'vector' (from the observations in O(n*d) memory). A backend listing 'vector' receives
    #: ``engine=`` ('auto', 'matrix' or 'vector') in :meth:`linkage`; the others are called
    #: without it and run the matrix engine.
    engines: tuple[str, ...] = ("matrix",)

    @classmethod
    def usable(cls) -> bool:
        """True when this machine can run the backend (libraries present, device found)."""
        return True

    @abstractmethod
    def pdist(self, metric: PreparedMetric, dtype: np.dtype) -> np.ndarray:
        """Condensed distances between the rows of ``metric.X``."""

    @abstractmethod
    def linkage(self, data: LinkageInput, metric: PreparedMetric | None, method: Method,
                dtype: np.dtype, progress: bool | None, engine: str = "matrix") -> np.ndarray:
        """Raw merges for ``gpuhclust._finalise.finalise``. `engine` is passed only to backends
        whose `engines` list 'vector'."""


# name -> (factory, priority for 'auto': higher first)
_REGISTRY: dict[str, tuple[Callable[[], Backend], int]] = {}


def register_backend(name: str, factory: Callable[[], Backend], auto_priority: int = 0) -> None:
    """Make `factory` (usually the class) available as ``backend=name``."""
    _REGISTRY[name] = (factory, auto_priority)


def available_backends() -> list[str]:
    """Names of the registered backends."""
    return sorted(_REGISTRY)


def get_backend(name: str | Backend) -> Backend:
    """The backend called `name`; 'auto' is the usable one with the highest priority."""
    if isinstance(name, Backend):
        return name
    if name == "auto":
        for candidate, (factory, _) in sorted(_REGISTRY.items(), key=lambda kv: -kv[1][1]):
            if getattr(factory, "usable", lambda: True)():
                return factory()
        raise RuntimeError("no usable backend is registered")
    try:
        factory, _ = _REGISTRY[name]
    except (KeyError, TypeError):
        raise ValueError(f"Unknown backend {name!r}; available: 'auto', "
                         + ", ".join(repr(b) for b in available_backends())) from None
    if not getattr(factory, "usable", lambda: True)():
        raise ValueError(f"backend {name!r} is not usable on this machine")
    return factory()
