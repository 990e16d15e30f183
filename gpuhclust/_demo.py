"""The tutorial behind ``gpuhclust demo``: SciPy's hierarchical clustering workflow, with
``gpuhclust.linkage`` in place of ``scipy.cluster.hierarchy.linkage``::

    X = whiten(blobs)                      # unit variance per feature
    Z = gpuhclust.linkage(X, 'ward')       # the same Z as SciPy's
    labels = fcluster(Z, 3, 'maxclust')    # cut the tree into 3 flat clusters
"""
from __future__ import annotations

import os
import sys
import time
import warnings
from dataclasses import dataclass, field

import numpy as np

__all__ = ["make_blobs", "run_demo", "DemoResult", "timed_linkage", "LinkageRun"]

# Three well separated but differently shaped blobs, so ward recovers them and single linkage
# (which chains through sparse regions) visibly behaves differently.
CENTRES = np.array([[0.0, 0.0], [5.0, 6.0], [9.0, 0.5]])
SPREADS = np.array([[1.0, 1.0], [1.4, 0.9], [0.7, 1.2]])


def make_blobs(n: int = 300, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Three 2-D Gaussian blobs.

    Parameters
    ----------
    n : int
        Total number of points (split as evenly as possible, the first blobs get the extra).
    seed : int
        Seed of ``numpy.random.default_rng``; the same seed gives the same points everywhere.

    Returns
    -------
    X : ndarray of float64, shape (n, 2)
        The points, blob by blob.
    truth : ndarray of int, shape (n,)
        The blob (1, 2 or 3) each point was drawn from.
    """
    rng = np.random.default_rng(seed)
    sizes = [n // 3 + (k < n % 3) for k in range(3)]
    X = np.concatenate([rng.normal(c, s, size=(m, 2))
                        for c, s, m in zip(CENTRES, SPREADS, sizes)])
    truth = np.repeat(np.arange(1, 4), sizes)
    return X, truth


@dataclass
class LinkageRun:
    """What :func:`timed_linkage` ran: Z, the time of the timed call, and how it was computed."""

    Z: np.ndarray
    seconds: float
    engine: str
    algorithm: str | None = None
    backend: str | None = None


def timed_linkage(X, method: str, *, backend: str, warm_up: bool = True,
                  **kwargs) -> LinkageRun:
    """Run ``gpuhclust.linkage`` and time it.

    Parameters
    ----------
    X : ndarray, shape (n, d)
        Observations.
    method : str
        Linkage method.
    backend : str
        Backend name (already resolved from 'auto', so the time is attributed correctly).
    warm_up : bool
        First cluster 8 points with the same method, metric, dtype, backend and engine,
        untimed: the first call in a process loads (or JIT-compiles) the kernels, which would
        otherwise dominate the time of a small run (see :func:`_warm_up`).
    **kwargs
        Passed to ``gpuhclust.linkage`` (metric, dtype, progress, engine).

    Returns
    -------
    LinkageRun
        Z, the wall-clock time of the timed call less the time Numba spent compiling in it
        (first run only), and the engine and algorithm the plan chose.
    """
    from . import linkage
    from ._linkage import last_plan

    if warm_up:
        _warm_up(linkage, method, backend, kwargs)
    # The warm-up on 8 points does not reach every kernel (compaction, parallel branches):
    # what the timed call still compiles is not clustering time.
    compiled = _compile_seconds()
    start = time.perf_counter()
    Z = linkage(X, method, backend=backend, **kwargs)
    seconds = time.perf_counter() - start
    seconds = max(0.0, seconds - (_compile_seconds() - compiled))
    plan = last_plan()
    if plan is None:  # a stand-in for linkage (tests) made no plan
        return LinkageRun(Z, seconds, engine="unknown")
    return LinkageRun(Z, seconds, engine=plan.engine, algorithm=plan.algorithm,
                      backend=plan.backend.name)


def _compile_seconds() -> float:
    """Numba's compile time so far in this process: 0 until gpuhclust's compiled code is
    loaded (which installs the listener before anything compiles; backend 'numpy' never
    does, and asking must not import Numba)."""
    notice = sys.modules.get("gpuhclust._compile_notice")
    return notice.compile_seconds() if notice is not None else 0.0


def _warm_up(linkage, method: str, backend, kwargs: dict) -> None:
    """Compile what ``linkage(X, method, backend=backend, **kwargs)`` runs, on 8 points.

    The metric matters (those that can give non-finite distances compile a check), so it is
    the caller's; when 8 random points are degenerate for it (a data-dependent metric), the
    Euclidean metric warms up the rest. With engine='auto' the 8 points take the engine auto
    takes for small inputs. Failures are left to the timed call, which reports them.
    """
    tiny = np.random.default_rng(0).normal(size=(8, 2))
    options = dict(backend=backend, dtype=kwargs.get("dtype"), progress=False,
                   engine=kwargs.get("engine", "auto"))
    for metric in dict.fromkeys([kwargs.get("metric", "euclidean"), "euclidean"]):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # not the user's data: nothing to say
                linkage(tiny, method, metric=metric, **options)
            return
        except (ValueError, ArithmeticError):
            continue


@dataclass
class DemoResult:
    """What :func:`run_demo` computed and wrote."""

    n: int
    method: str
    backend: str
    run: LinkageRun
    labels: np.ndarray
    paths: list[str] = field(default_factory=list)


def run_demo(out_dir=".", *, n: int = 300, method: str = "ward", backend: str = "auto",
             seed: int = 0) -> DemoResult:
    """Cluster three Gaussian blobs and plot the result.

    Parameters
    ----------
    out_dir : str or os.PathLike
        Folder for ``clusters.png`` and ``dendrogram.png``; created if missing.
    n : int
        Number of points, at least 3.
    method : str
        Linkage method.
    backend : str
        'auto' or a backend name.
    seed : int
        Seed for the blobs.

    Returns
    -------
    DemoResult
        Sizes, the linkage run (Z, time, engine), the backend actually used, the labels and
        the files written.
    """
    from . import fcluster, whiten
    from ._plots import cut_height, plot_clusters, plot_dendrogram

    if n < 3:
        raise ValueError(f"--n must be at least 3 (three blobs), got {n}")
    blobs, _ = make_blobs(n, seed)
    X = whiten(blobs)
    run = timed_linkage(X, method, backend=backend)
    Z = run.Z
    labels = fcluster(Z, 3, "maxclust")

    os.makedirs(out_dir, exist_ok=True)
    title = f"{method} linkage, n = {n}: {labels.max()} clusters"
    paths = [
        plot_clusters(X, labels, os.path.join(out_dir, "clusters.png"), title=title,
                      xlabel="feature 1 (whitened)", ylabel="feature 2 (whitened)"),
        plot_dendrogram(Z, os.path.join(out_dir, "dendrogram.png"),
                        title=f"{method} linkage, n = {n}", labels=labels,
                        cut=cut_height(Z, 3)),
    ]
    return DemoResult(n, method, run.backend or backend, run, labels, paths)
