"""Backend 'numpy': the CPU backend's matrix algorithms in NumPy alone (``_loops``), for small
inputs: nothing to compile, nothing to load but NumPy and SciPy.

It takes what it can compute with the CPU backend's very values: float64 storage; a condensed
matrix, or observations under a metric whose distances ``scipy.spatial.distance.pdist``
computes exactly as the compiled kernels do (euclidean, sqeuclidean, cityblock, chebyshev:
tested bit for bit) or that the CPU backend hands to SciPy anyway (callables, weights,
jensenshannon); the matrix engine; the default algorithms ('mst', 'rounds', 'tournament').
Anything else is a ValueError naming backend 'cpu'.
"""
from __future__ import annotations

import numpy as np
import scipy.spatial.distance as ssd

from .. import _memory
from .. import _rounds as rounds_driver
from .._backends import Backend, register_backend
from .._memory import check_fits
from .._metrics import METRIC_CODES, PreparedMetric
from .._progress import progress_bar
from .._validation import LinkageInput, validate_computed
from . import _loops

__all__ = ["NumPyBackend"]

#: Compiled metric code -> SciPy's name, for the metrics whose compiled distances equal SciPy's
#: pdist bit for bit (``tests/test_pdist.py``).
SCIPY_EXACT = {METRIC_CODES[name]: name
               for name in ("euclidean", "sqeuclidean", "cityblock", "chebyshev")}


class NumPyBackend(Backend):
    """NumPy and SciPy on the CPU, one thread; always usable."""

    name = "numpy"
    algorithms = {"matrix": ("mst", "rounds", "tournament")}

    def refusal(self, data: LinkageInput, metric: PreparedMetric | None, dtype) -> str:
        if np.dtype(dtype) != np.float64:
            return (f"backend 'numpy' stores distances in float64 only (dtype="
                    f"{np.dtype(dtype).name}); use backend='cpu'")
        if metric is not None and metric.code is not None and metric.code not in SCIPY_EXACT:
            return (f"backend 'numpy' does not compute metric {metric.name!r} (only those "
                    "SciPy computes exactly as the compiled backends); use backend='cpu'")
        return ""

    def available_bytes(self) -> int:
        return _memory.available_bytes()

    @staticmethod
    def matrix_bytes(data: LinkageInput, metric: PreparedMetric | None, dtype) -> int:
        """The square matrix, and the condensed one it is made from."""
        n = data.n
        return 8 * n * n + (8 * (n * (n - 1) // 2) if data.condensed is None else 0)

    def pdist(self, metric: PreparedMetric, dtype) -> np.ndarray:
        if metric.code is None:
            return ssd.pdist(metric.X, metric.scipy_metric, **metric.scipy_kwargs).astype(
                dtype, copy=False)
        return ssd.pdist(metric.X, SCIPY_EXACT[metric.code]).astype(dtype, copy=False)

    def square_matrix(self, data: LinkageInput, metric: PreparedMetric | None) -> np.ndarray:
        """The working matrix: square, +inf on the diagonal, -0.0 turned into +0.0."""
        n = data.n
        check_fits(self.matrix_bytes(data, metric, np.float64),
                   f"the {n} x {n} float64 distance matrix")
        y = data.condensed
        if y is None:
            y = self.pdist(metric, np.float64)
            validate_computed(y, n, np.float64)
        D = ssd.squareform(np.asarray(y, dtype=np.float64), checks=False)  # a new array
        D += 0.0  # -0.0 becomes +0.0, as the CPU's square_from_condensed makes it
        np.fill_diagonal(D, np.inf)
        return D

    def run(self, plan, data, metric, progress) -> np.ndarray:
        n = data.n
        method = plan.method
        with progress_bar(progress, n - 1, f"gpuhclust {method.name}") as bar:
            D = self.square_matrix(data, metric)
            if plan.algorithm == "mst":
                return _loops.prim(D, bar)
            if plan.algorithm == "tournament":
                return _loops.tournament(D, method, bar)
            return rounds_driver.rnn_rounds(_loops.EagerRows(D, method), n, bar,
                                            rounds_driver.RoundStats(), method.name)


register_backend("numpy", NumPyBackend, auto_priority=-5)
