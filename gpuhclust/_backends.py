"""The backend registry. A backend computes distances and runs the merge loop; validation,
metric preparation and finalisation stay shared. Later backends (CUDA, the kernel simulator,
Dask) register themselves here under their names.
"""
from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from typing import Callable

import numpy as np

from ._methods import Method
from ._metrics import PreparedMetric
from ._validation import LinkageInput

__all__ = ["Backend", "register_backend", "register_deferred_backend", "get_backend",
           "auto_backend_name", "available_backends", "registered_backends"]


class Backend(ABC):
    """What every backend provides. ``gpuhclust._plan`` reads the declarations (`algorithms`,
    `distributed`, `scipy_exact`, the memory hooks) to make one ``Plan``; :meth:`run` carries
    it out."""

    name: str = "?"
    #: Algorithms (``gpuhclust._methods.ALGORITHMS``) the backend runs, per engine: 'matrix'
    #: (the n x n distance matrix) and, where listed, 'vector' (from the observations in
    #: O(n*d) memory).
    algorithms: dict[str, tuple[str, ...]] = {"matrix": ("mst", "nn_chain", "generic")}
    #: Runs on a ``distributed`` cluster: takes ``client=``, keeps condensed dask arrays lazy.
    distributed: bool = False
    #: Its 'mst', 'nn_chain' and 'generic' are SciPy's sequential algorithms, ties included
    #: (what ``algorithm='scipy'`` promises).
    scipy_exact: bool = True
    #: Where `available_bytes` is measured, for messages.
    memory_where: str = "memory"

    @classmethod
    def unusable_reason(cls) -> str:
        """Why this machine cannot run the backend ('' when it can)."""
        return ""

    @classmethod
    def usable(cls) -> bool:
        """True when this machine can run the backend (libraries present, device found)."""
        return not cls.unusable_reason()

    def check_input(self, data: LinkageInput, method: Method, dtype, client) -> LinkageInput:
        """Finish checking input that the caller does not hold (a distributed backend's lazy
        condensed matrix), before the plan; the others return `data` as it is."""
        return data

    def cannot_run(self, method: Method) -> str:
        """Why the backend does not compute `method` at all ('' when it does)."""
        return ""

    def refusal(self, data: LinkageInput, metric: PreparedMetric | None, dtype) -> str:
        """Why the backend does not take this input, metric or storage dtype ('' when it
        does)."""
        return ""

    def matrix_bytes(self, data: LinkageInput, metric: PreparedMetric | None, dtype) -> int:
        """Memory the matrix engine needs; 0 where it is not measured against
        `available_bytes` (planned elsewhere)."""
        return 0

    def vector_bytes(self, n: int, d: int, method: Method) -> int:
        """Memory engine='vector' needs."""
        return 0

    def available_bytes(self) -> int | None:
        """Memory available to the engines (None: not known on the caller)."""
        return None

    def to_host(self, a) -> np.ndarray:
        """`a` (from :meth:`pdist`) as a NumPy array."""
        return np.asarray(a)

    @abstractmethod
    def pdist(self, metric: PreparedMetric, dtype: np.dtype) -> np.ndarray:
        """Condensed distances between the rows of ``metric.X`` (a device array on a GPU:
        :meth:`to_host` brings it over)."""

    @abstractmethod
    def run(self, plan, data: LinkageInput, metric: PreparedMetric | None,
            progress: bool | None) -> np.ndarray:
        """Carry out `plan` (a ``gpuhclust._plan.Plan`` made for this backend): raw merges for
        ``gpuhclust._finalise.finalise``."""


# name -> (factory, priority for 'auto': higher first)
_REGISTRY: dict[str, tuple[Callable[[], Backend], int]] = {}


def register_backend(name: str, factory: Callable[[], Backend], auto_priority: int = 0) -> None:
    """Make `factory` (usually the class) available as ``backend=name``."""
    _REGISTRY[name] = (factory, auto_priority)


class _Deferred:
    """Registry entry of a backend whose module is imported when the backend is first asked
    for (so that ``import gpuhclust`` does not import Numba or the kernel sources): the
    module's own :func:`register_backend` call replaces this entry. `probe` ("module:function",
    a light module) says why the backend cannot run without importing it: on a machine without
    CuPy, 'auto' then never imports the CUDA backend; with `always_usable` nothing is asked
    (the CPU backends: 'auto' then imports Numba only if the CPU backend runs)."""

    def __init__(self, name: str, module: str, probe: str | None = None,
                 always_usable: bool = False):
        self.name, self.module, self.probe = name, module, probe
        self.always_usable = always_usable

    def load(self) -> Callable[[], Backend]:
        importlib.import_module(self.module)
        factory = _REGISTRY[self.name][0]
        if isinstance(factory, _Deferred):
            raise RuntimeError(f"{self.module} did not register backend {self.name!r}")
        return factory

    def unusable_reason(self) -> str:
        if self.always_usable:
            return ""
        if self.probe is not None:
            module, function = self.probe.split(":")
            reason = getattr(importlib.import_module(module), function)()
            if reason:
                return reason
        return _unusable_reason(self.load())

    def __call__(self) -> Backend:
        return self.load()()


def register_deferred_backend(name: str, module: str, auto_priority: int = 0,
                              probe: str | None = None, always_usable: bool = False) -> None:
    """Make ``backend=name`` import `module` (which registers the backend) on first use; a
    backend registered already stays. `probe` ("module:function") returns why the backend
    cannot run ('' if it may), without importing `module`; `always_usable`: it runs
    everywhere (nothing to ask)."""
    if name not in _REGISTRY:
        register_backend(name, _Deferred(name, module, probe, always_usable), auto_priority)


def _unusable_reason(factory) -> str:
    reason = getattr(factory, "unusable_reason", None)
    if reason is not None:
        return reason()
    return "" if getattr(factory, "usable", lambda: True)() else "not usable"


def registered_backends() -> list[str]:
    """Names of every registered backend, usable here or not (asks nothing, imports
    nothing)."""
    return sorted(_REGISTRY)


def available_backends() -> list[str]:
    """Names of the registered backends this machine can run (see
    :meth:`Backend.unusable_reason`)."""
    return sorted(name for name, (factory, _) in _REGISTRY.items()
                  if not _unusable_reason(factory))


def auto_backend_name() -> str:
    """The backend 'auto' stands for: the usable one with the highest priority (found without
    importing a deferred backend that is always usable, or whose probe rules it out)."""
    for candidate, (factory, _) in sorted(_REGISTRY.items(), key=lambda kv: -kv[1][1]):
        if not _unusable_reason(factory):
            return candidate
    raise RuntimeError("no usable backend is registered")


def get_backend(name: str | Backend) -> Backend:
    """The backend called `name`; 'auto' is the usable one with the highest priority."""
    if isinstance(name, Backend):
        return name
    if name == "auto":
        return _REGISTRY[auto_backend_name()][0]()
    try:
        factory, _ = _REGISTRY[name]
    except (KeyError, TypeError):
        raise ValueError(f"Unknown backend {name!r}; available: 'auto', "
                         + ", ".join(repr(b) for b in available_backends())) from None
    reason = _unusable_reason(factory)
    if reason:
        raise ValueError(f"backend {name!r} is not usable on this machine: {reason}")
    return factory()
