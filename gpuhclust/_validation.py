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

__all__ = ["DistanceError", "LinkageInput", "MergeOverflowError", "as_array",
           "check_linkage_input", "condensed_pair", "condensed_row_start", "first_in_chunks",
           "first_non_finite", "n_from_condensed"]

#: Elements checked at a time: the boolean temporaries of a check stay this small whatever n.
CHECK_CHUNK = 1 << 20
#: Elements per chunk of :func:`first_non_finite`: 1 MiB of float64, which stays in a core's
#: cache between the chunk's two reductions.
RANGE_CHUNK = 1 << 17
FLOAT32_MAX = float(np.finfo(np.float32).max)


class DistanceError(ValueError):
    """A ValueError about the distance between two observations.

    Attributes
    ----------
    pair : tuple of int
        The two observations (i, j), i < j, numbered from 0 as NumPy rows are.
    index : int or None
        The entry of the condensed matrix, when the distance came from one.
    """

    def __init__(self, message: str, pair: tuple[int, int], index: int | None = None):
        super().__init__(message)
        self.pair = (int(pair[0]), int(pair[1]))
        self.index = index


class MergeOverflowError(ValueError):
    """A merge whose distances cannot be represented: a Lance-Williams update beyond the
    range of the storage type, or a cluster left with no finite distance to any other.

    Attributes
    ----------
    step : int
        The merge, numbered from 0 in the order the algorithm made them (for the
        nearest-neighbour chain methods Z's rows are sorted by height afterwards).
    observations : tuple of int
        An observation of each of the two clusters merged (0-based).
    other : int or None
        An observation of the cluster whose distance to the union overflowed, or None.
    """

    def __init__(self, message: str, step: int, observations: tuple[int, int],
                 other: int | None):
        super().__init__(message)
        self.step = step
        self.observations = observations
        self.other = other

    @classmethod
    def of(cls, overflow: bool, method_name: str, dtype, k: int, x: int, y: int, i: int):
        """The error for merge `k` of clusters holding observations `x` and `y`: with
        `overflow`, the distance to the cluster holding observation `i` overflowed; otherwise
        the cluster holding `x` had no finite distance left (`y` and `i` unused, may be -1)."""
        name = np.dtype(dtype).name
        if np.dtype(dtype) == np.float32:
            hint = ("pass dtype=numpy.float64 (float32 holds distances up to "
                    f"{FLOAT32_MAX:.4g})")
        else:
            hint = "rescale the distances (float64 holds up to 1.798e+308)"
        if not overflow:
            return cls(f"method={method_name!r}: before merge {k}, the cluster holding "
                       f"observation {x} has no finite distance to any other cluster (a "
                       f"Lance-Williams update overflowed {name}'s range, or gave NaN); "
                       f"{hint}", k, (x, x), None)
        a, b = sorted((x, y))
        return cls(f"method={method_name!r}: merge {k} (of the clusters holding observations "
                   f"{a} and {b}) gives the cluster holding observation {i} a distance beyond "
                   f"{name}'s range; {hint}", k, (a, b), i)


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
    return read_only(arr)


def read_only(a: np.ndarray) -> np.ndarray:
    """A read-only view of `a`: the caller's array is never written through it, and the
    compiled kernels see one kind of array (Numba compiles a function once per kind; a copy to
    make it writable would cost more than the view)."""
    view = a.view()
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


def condensed_row_start(i, n):
    """Index of the entry (i, i+1), where row i starts, in a condensed matrix of n observations.

    Plain arithmetic, so the compiled kernels use this very function (Numba compiles it where
    they call it); ``kernels/distances.cu`` writes the same formula."""
    return n * i - (i * (i + 1)) // 2


def condensed_pair(index: int, n: int) -> tuple[int, int]:
    """The (i, j), i < j, of entry `index` of a condensed matrix of n observations."""
    # invert the quadratic condensed_row_start(i, n) = index, then correct rounding
    i = int(n - 0.5 - math.sqrt((n - 0.5) ** 2 - 2 * index))
    i = max(0, min(i, n - 2))
    while i > 0 and condensed_row_start(i, n) > index:
        i -= 1
    while condensed_row_start(i + 1, n) <= index:
        i += 1
    j = index - condensed_row_start(i, n) + i + 1
    return i, j


@dataclass
class LinkageInput:
    """Validated input: either a condensed matrix or observations (one of the two is None)."""

    n: int
    condensed: np.ndarray | None
    observations: np.ndarray | None
    has_negative: bool = False


def first_bad(mask: np.ndarray) -> int:
    """Flat index of the first True in `mask` (which has one)."""
    return int(np.flatnonzero(mask.ravel())[0])


def first_in_chunks(a: np.ndarray, bad) -> int:
    """Index of the first element of the 1-D `a` where ``bad(chunk)`` is True, or -1; `bad`
    sees `a` :data:`CHECK_CHUNK` elements at a time, so no temporary is as large as `a`."""
    for lo in range(0, a.shape[0], CHECK_CHUNK):
        mask = bad(a[lo:lo + CHECK_CHUNK])
        if mask.any():
            return lo + first_bad(mask)
    return -1


def first_non_finite(a: np.ndarray) -> tuple[int, float]:
    """``(index, least)`` of the 1-D numeric `a`: the index of its first element that is not
    finite (-1 if none), and its least element (meaningful where all are finite). One pass,
    :data:`RANGE_CHUNK` elements at a time: each chunk's least and largest (NaN propagates
    to both, +-inf lies at one end; the second reduction reads the chunk from cache), the
    chunk searched element by element only where one of them is not finite."""
    least = np.inf
    for lo in range(0, a.shape[0], RANGE_CHUNK):
        chunk = a[lo:lo + RANGE_CHUNK]
        low, high = chunk.min(), chunk.max()
        if not (np.isfinite(low) and np.isfinite(high)):
            return lo + first_bad(~np.isfinite(chunk)), least
        least = min(least, low)
    return -1, least


def beyond_float32(a: np.ndarray) -> np.ndarray:
    """Where float32 storage turns the (finite) values of `a` into +-inf."""
    if a.dtype.itemsize <= 4 and not np.issubdtype(a.dtype, np.integer):
        return np.zeros(a.shape, dtype=bool)
    with np.errstate(over="ignore"):
        return np.isinf(a.astype(np.float32))


def float32_range_error(value, i: int, j: int, idx: int | None = None) -> DistanceError:
    """The error for a finite distance that float32 storage cannot hold."""
    where = f"entry {idx} (observations {i} and {j})" if idx is not None else \
        f"the distance between observations {i} and {j}"
    return DistanceError(
        f"dtype=float32 cannot store {where}: {value} is beyond float32's range "
        f"(up to {FLOAT32_MAX:.4g}); pass dtype=numpy.float64", (i, j), idx)


def raise_non_finite(value, i: int, j: int):
    """Raise for a non-finite distance the metric gave between observations i and j."""
    raise DistanceError(f"The metric gave a non-finite distance {value} between observations "
                        f"{i} and {j}; linkage needs finite distances (SciPy: 'The condensed "
                        "distance matrix must contain only finite values').", (i, j))


def validate_computed(y: np.ndarray, n: int, dtype) -> None:
    """Raise for the first distance of the computed condensed matrix `y` (n observations) that
    is not finite, or with float32 storage beyond float32's range."""
    idx, _ = first_non_finite(y)
    if idx >= 0:
        raise_non_finite(y[idx], *condensed_pair(idx, n))
    if np.dtype(dtype) == np.float32:
        idx = first_in_chunks(y, beyond_float32)
        if idx >= 0:
            raise float32_range_error(y[idx], *condensed_pair(idx, n))


def check_linkage_input(y: np.ndarray, method: Method, metric, dtype=None) -> LinkageInput:
    """Check `y` (from :func:`as_array`) for :func:`gpuhclust.linkage`; `dtype` is the storage
    type of the distances (None: float64)."""
    if y.ndim == 1:
        if y.size == 0:
            raise ValueError("The condensed distance matrix is empty: linkage needs at least "
                             "2 observations (1 distance)")
        n = n_from_condensed(y.size)
        idx, least = first_non_finite(y)
        if idx >= 0:
            i, j = condensed_pair(idx, n)
            raise DistanceError(
                "The condensed distance matrix must contain only finite values: "
                f"entry {idx} (observations {i} and {j}) is {y[idx]}.", (i, j), idx)
        has_negative = bool(least < 0)
        if has_negative and method.euclidean_only:  # centroid, median, ward
            idx = first_in_chunks(y, lambda c: c < 0)
            i, j = condensed_pair(idx, n)
            raise DistanceError(
                f"method={method.name!r} needs non-negative (Euclidean) distances: entry {idx} "
                f"(observations {i} and {j}) is {y[idx]}.", (i, j), idx)
        if dtype is not None and np.dtype(dtype) == np.float32:
            idx = first_in_chunks(y, beyond_float32)
            if idx >= 0:
                raise float32_range_error(y[idx], *condensed_pair(idx, n), idx)
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
            rows = max(1, CHECK_CHUNK // d)
            for r0 in range(0, n, rows):
                block = ~np.isfinite(y[r0:r0 + rows])
                if block.any():
                    row, col = divmod(first_bad(block), d)
                    row += r0
                    break
            else:
                row = -1
            if row >= 0:
                raise ValueError(f"The observations must contain only finite values: row {row}, "
                                 f"column {col} is {y[row, col]}.")
        if (n == d and np.allclose(np.diagonal(y), 0) and np.all(y >= 0)
                and np.allclose(y, y.T)):
            warnings.warn("The symmetric non-negative hollow observation matrix looks "
                          "suspiciously like an uncondensed distance matrix",
                          ClusterWarning, stacklevel=3)
        return LinkageInput(n, None, y)
    raise ValueError(f"`y` must be 1 or 2 dimensional, got {y.ndim} dimensions (shape {y.shape})")
