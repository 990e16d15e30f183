"""Metric names and their preparation: SciPy's names and aliases, which of them the compiled
backends compute themselves, and the per-metric data they need (norms, variances, inverse
covariance). Anything else (callables, weights ``w``, jensenshannon) is computed by
``scipy.spatial.distance.pdist``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

__all__ = ["PreparedMetric", "prepare_metric", "canonical_metric", "COMPILED_METRICS",
           "METRIC_CODES"]

# canonical name -> (code shared by the compiled kernels, aliases SciPy accepts, boolean input)
_TABLE: dict[str, tuple[int | None, tuple[str, ...], bool]] = {
    "euclidean": (0, ("e", "eu", "euclid"), False),
    "sqeuclidean": (1, ("sqe", "sqeuclid"), False),
    "cityblock": (2, ("c", "cb", "cblock"), False),
    "chebyshev": (3, ("ch", "cheb", "cheby", "chebychev"), False),
    "minkowski": (4, ("m", "mi", "pnorm"), False),
    "cosine": (5, ("cos",), False),
    "correlation": (5, ("co",), False),  # cosine of the row-centred data
    "canberra": (6, (), False),
    "braycurtis": (7, (), False),
    "seuclidean": (8, ("s", "se"), False),
    "mahalanobis": (9, ("mah", "mahal"), False),
    "hamming": (10, ("h", "ha", "hamm", "matching"), False),
    "jaccard": (11, ("j", "ja", "jacc"), True),  # SciPy compares u != 0, v != 0
    "dice": (12, (), True),
    "rogerstanimoto": (13, (), True),
    "russellrao": (14, (), True),
    "sokalsneath": (15, (), True),
    "yule": (16, (), True),
    "jensenshannon": (None, ("js",), False),
}
_ALIASES = {alias: name for name, (_, aka, _) in _TABLE.items() for alias in (name, *aka)}
COMPILED_METRICS = tuple(name for name, (code, _, _) in _TABLE.items() if code is not None)
# canonical name -> code, for the compiled metrics (the CUDA kernels get these as defines)
METRIC_CODES = {name: code for name, (code, _, _) in _TABLE.items() if code is not None}
# metrics whose value is finite for any finite observations of moderate size
_SAFE_FROM_FINITE = {"euclidean", "sqeuclidean", "cityblock", "chebyshev", "minkowski", "hamming",
                     "jaccard", "russellrao", "rogerstanimoto", "yule", "canberra"}
_OPTIONS = {"minkowski": {"p", "w"}, "seuclidean": {"V"}, "mahalanobis": {"VI"}}


def canonical_metric(metric: str | Callable) -> str | Callable:
    """SciPy's canonical name for `metric` (a callable is returned as it is)."""
    if callable(metric):
        return metric
    if not isinstance(metric, str):
        raise TypeError(f"metric must be a string or a callable, not {type(metric).__name__}")
    try:
        return _ALIASES[metric.lower()]
    except KeyError:
        valid = ", ".join(sorted(_TABLE))
        raise ValueError(f"Unknown distance metric {metric!r}; expected one of {valid}, "
                         "or a callable") from None


@dataclass
class PreparedMetric:
    """A metric ready for a backend.

    ``code`` is the compiled metric code, or None when SciPy must compute the distances
    (``scipy_metric`` and ``scipy_kwargs`` are then what to pass it). ``X`` is the float64
    (or 0/1 for boolean metrics) C-contiguous copy the kernels read.
    """

    name: str
    code: int | None
    X: np.ndarray
    p: float = 2.0
    aux: np.ndarray = field(default_factory=lambda: np.zeros(0))
    weights: np.ndarray = field(default_factory=lambda: np.zeros(0))
    vi: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    scipy_metric: Any = None
    scipy_kwargs: dict = field(default_factory=dict)

    def __post_init__(self):
        # The kernels get private writable arrays: the caller's data is never at risk, and
        # Numba compiles one variant per argument type (read-only arrays are another type, with
        # slower loops).
        for name in ("X", "aux", "weights", "vi"):
            value = getattr(self, name)
            if isinstance(value, np.ndarray) and not value.flags.writeable:
                setattr(self, name, value.copy())

    @property
    def may_give_non_finite(self) -> bool:
        """Whether finite observations can still give NaN or inf distances (0/0 in a ratio,
        an indefinite VI, a zero variance, overflow of very large values), so that the
        computed distances must be checked before clustering."""
        if self.name in _SAFE_FROM_FINITE:
            return not (self.X.size == 0 or np.abs(self.X).max() < 1e100)
        return True

    @property
    def kernel_args(self) -> tuple:
        """(code, p, aux, weights, vi): what ``pair_distance`` takes after the two rows."""
        return (self.code, self.p, self.aux, self.weights, self.vi)


def _scipy(name, X, kwargs) -> PreparedMetric:
    return PreparedMetric(name if isinstance(name, str) else "callable", None,
                          np.ascontiguousarray(X), scipy_metric=name, scipy_kwargs=dict(kwargs))


def prepare_metric(X: np.ndarray, metric: str | Callable, kwargs: dict) -> PreparedMetric:
    """Resolve `metric` for observations `X` (2-D, validated) with SciPy's keyword options."""
    name = canonical_metric(metric)
    if callable(name):
        return _scipy(name, X, kwargs)
    code, _, boolean = _TABLE[name]
    unknown = set(kwargs) - _OPTIONS.get(name, set()) - {"w"}
    if unknown:
        raise TypeError(f"metric {name!r} got unexpected keyword argument(s) "
                        f"{', '.join(sorted(unknown))}")
    if code is None or kwargs.get("w") is not None:
        return _scipy(name, X, kwargs)
    if boolean:
        data = np.ascontiguousarray(X != 0, dtype=np.float64)
    else:
        data = np.ascontiguousarray(X, dtype=np.float64)
    n, d = data.shape
    prepared = PreparedMetric(name, code, data)
    if name == "minkowski":
        p = float(kwargs.get("p", 2.0) if kwargs.get("p") is not None else 2.0)
        if p <= 0:
            raise ValueError(f"minkowski: p must be greater than 0, got {p}")
        # SciPy computes these p through the dedicated metrics.
        special = {1.0: 2, 2.0: 0, np.inf: 3}
        prepared.code = special.get(p, code)
        prepared.p = p
    elif name in ("cosine", "correlation"):
        if name == "correlation":
            data = data - data.mean(axis=1, keepdims=True)
            prepared.X = np.ascontiguousarray(data)
        prepared.aux = np.sqrt(np.einsum("ij,ij->i", prepared.X, prepared.X))
    elif name == "seuclidean":
        V = kwargs.get("V")
        V = np.var(data, axis=0, ddof=1) if V is None else np.asarray(V, dtype=np.float64)
        if V.shape != (d,):
            raise ValueError(f"seuclidean: V must have shape ({d},), got {V.shape}")
        prepared.weights = np.ascontiguousarray(V)
    elif name == "mahalanobis":
        VI = kwargs.get("VI")
        if VI is None:
            if n <= d:
                raise ValueError(
                    f"mahalanobis: the number of observations ({n}) is too small; the "
                    f"covariance matrix is singular. For observations with {d} dimensions, "
                    f"at least {d + 1} observations are required (or pass VI=)")
            VI = np.linalg.inv(np.atleast_2d(np.cov(data.T))).T  # d = 1: a 0-d cov
        VI = np.asarray(VI, dtype=np.float64)
        if VI.shape != (d, d):
            raise ValueError(f"mahalanobis: VI must have shape ({d}, {d}), got {VI.shape}")
        prepared.vi = np.ascontiguousarray(VI)
    return prepared
