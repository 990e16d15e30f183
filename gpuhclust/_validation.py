"""Input checks done before any heavy allocation, with messages that say what and where.

Everything SciPy's ``linkage`` checks is checked here too, and in the same words where SciPy has
words; the caller's arrays are only read, never written.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
from scipy.cluster.hierarchy import ClusterWarning

from ._methods import Method

__all__ = ["LinkageInput", "as_array", "check_linkage_input", "condensed_pair", "n_from_condensed"]


def as_array(y, name: str = "y") -> np.ndarray:
    """A read-only NumPy view (or copy) of lists, arrays, pandas objects; real numbers only."""
    if hasattr(y, "to_numpy") and not isinstance(y, np.ndarray):  # pandas
        y = y.to_numpy()
    if hasattr(y, "__cuda_array_interface__") and hasattr(y, "get"):  # CuPy
        y = y.get()
    arr = np.asarray(y)
    if arr.dtype == object:
        try:
            arr = arr.astype(np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"{name} must hold numbers; it holds Python objects that are "
                             "not numeric") from None
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        raise ValueError(f"{name} must hold real numbers, not {arr.dtype}")
    if np.issubdtype(arr.dtype, np.complexfloating):
        raise ValueError(f"{name} must hold real numbers, not complex ({arr.dtype})")
    view = arr.view()
    view.flags.writeable = False
    return view


def n_from_condensed(length: int) -> int:
    """n such that n(n-1)/2 == length, or a ValueError in SciPy's words."""
    n = int(math.ceil(math.sqrt(length * 2)))
    if n * (n - 1) // 2 != length:
        raise ValueError(
            f"Incompatible vector size {length}. A condensed distance matrix must have length "
            "n*(n-1)/2 for some integer n >= 2 (SciPy: 'It must be a binomial coefficient n "
            "choose 2 for some integer n >= 2').")
    return n


def condensed_pair(index: int, n: int) -> tuple[int, int]:
    """The (i, j), i < j, of entry `index` of a condensed matrix of n observations."""
    # row i starts at n*i - i*(i+1)/2; invert the quadratic, then correct rounding
    i = int(n - 0.5 - math.sqrt((n - 0.5) ** 2 - 2 * index))
    i = max(0, min(i, n - 2))
    while i > 0 and n * i - i * (i + 1) // 2 > index:
        i -= 1
    while n * (i + 1) - (i + 1) * (i + 2) // 2 <= index:
        i += 1
    j = index - (n * i - i * (i + 1) // 2) + i + 1
    return i, j


@dataclass
class LinkageInput:
    """Validated input: either a condensed matrix or observations (one of the two is None)."""

    n: int
    condensed: np.ndarray | None
    observations: np.ndarray | None
    has_negative: bool = False


def _first_bad(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask.ravel())[0])


def check_linkage_input(y: np.ndarray, method: Method, metric) -> LinkageInput:
    """Check `y` (from :func:`as_array`) for :func:`gpuhclust.linkage`."""
    if y.ndim == 1:
        if y.size == 0:
            raise ValueError("The condensed distance matrix is empty: linkage needs at least "
                             "2 observations (1 distance)")
        n = n_from_condensed(y.size)
        finite = np.isfinite(y)
        if not finite.all():
            idx = _first_bad(~finite)
            i, j = condensed_pair(idx, n)
            raise ValueError(
                "The condensed distance matrix must contain only finite values: "
                f"entry {idx} (observations {i} and {j}) is {y[idx]}.")
        has_negative = bool(y.size and y.min() < 0)
        if has_negative and method.euclidean_only:  # centroid, median, ward
            idx = _first_bad(y < 0)
            i, j = condensed_pair(idx, n)
            raise ValueError(
                f"method={method.name!r} needs non-negative (Euclidean) distances: entry {idx} "
                f"(observations {i} and {j}) is {y[idx]}.")
        return LinkageInput(n, y, None, has_negative)
    if y.ndim == 2:
        n, d = y.shape
        if method.euclidean_only and metric != "euclidean":
            raise ValueError(f"`method={method.name}` requires the distance metric to be "
                             f"Euclidean, got metric={metric!r}")
        if n < 2:
            raise ValueError(f"linkage needs at least 2 observations, got {n} (shape {y.shape})")
        if d == 0:
            raise ValueError(f"the observations have no features (shape {y.shape})")
        if not np.issubdtype(y.dtype, np.bool_) and not np.issubdtype(y.dtype, np.integer):
            finite = np.isfinite(y)
            if not finite.all():
                row, col = divmod(_first_bad(~finite), d)
                raise ValueError(f"The observations must contain only finite values: row {row}, "
                                 f"column {col} is {y[row, col]}.")
        if (n == d and np.allclose(np.diagonal(y), 0) and np.all(y >= 0)
                and np.allclose(y, y.T)):
            warnings.warn("The symmetric non-negative hollow observation matrix looks "
                          "suspiciously like an uncondensed distance matrix",
                          ClusterWarning, stacklevel=3)
        return LinkageInput(n, None, y)
    raise ValueError(f"`y` must be 1 or 2 dimensional, got {y.ndim} dimensions (shape {y.shape})")
