"""``gpuhclust.warmup()``: compile every CPU code path once, ahead of the first real call."""
from __future__ import annotations

import numpy as np

from . import _compile_notice, _finalise
from ._backends import get_backend
from ._engines import VECTOR_METHODS
from ._linkage import linkage, pdist
from ._methods import METHODS

__all__ = ["warmup"]

# Enough observations for the matrix to compact (the lazy matrix compacts from 512 slots on),
# so that every function a real run can reach is compiled; the runs themselves take moments.
_N = 600


def warmup(backend: str = "cpu") -> float:
    """Compile the Numba code of every method, engine and storage type now.

    Numba compiles on first use and caches the machine code on disk, so this is needed once
    per install (and after an upgrade); later processes load the code in a fraction of a
    second. Without it the first call of each method compiles what it needs. Distances are
    compiled per metric: this prepares the default, Euclidean; another metric compiles its own
    kernels on its first use.

    Parameters
    ----------
    backend : str
        The backend whose code to prepare ('cpu'; the CUDA backend compiles its kernels through
        CuPy, which caches them itself).

    Returns
    -------
    seconds : float
        Wall seconds spent compiling (0 when everything was cached already).
    """
    before = _compile_notice.compile_seconds()
    X = np.random.default_rng(0).normal(size=(_N, 3))
    y = pdist(X, backend=backend)
    vector_algorithms = get_backend(backend).algorithms.get("vector", ())
    for method in METHODS.values():
        engines = ("matrix", "vector") if method.name in VECTOR_METHODS else ("matrix",)
        for engine in engines:
            for dtype in (np.float64, np.float32):
                linkage(X, method.name, backend=backend, engine=engine, dtype=dtype)
        for algorithm in method.algorithms:
            if algorithm in vector_algorithms and method.name in VECTOR_METHODS:
                linkage(X, method.name, backend=backend, engine="vector", algorithm=algorithm)
            linkage(y, method.name, backend=backend, algorithm=algorithm)
            linkage(y.astype(np.float32), method.name, backend=backend, dtype=np.float32,
                    algorithm=algorithm)
    # float32 distances stored as float64: the square fill reads them as they are (a variant
    # of its own)
    linkage(y.astype(np.float32), "average", backend=backend)
    # the union-find of the finalisation runs compiled only beyond this warm-up's size
    Z = np.array([[0.0, 1.0, 1.0, 0.0]])
    _finalise.compiled_label()(Z, 2)
    if backend == "cpu":
        # the minimum spanning tree relaxes in parallel from PARALLEL_MIN candidates on (a
        # variant of its own, compiled only where it runs)
        from .cpu._mst import PARALLEL_MIN

        many = np.random.default_rng(1).normal(size=(PARALLEL_MIN + 1, 3))
        linkage(many, "single", backend=backend, engine="vector", algorithm="mst")
    return _compile_notice.compile_seconds() - before
