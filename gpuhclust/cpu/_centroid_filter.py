"""A float32 filter for the rescans of ward's rounds over centroids (``_centroid_rows``): it rules
out, with a proof rather than a tolerance, the columns whose exact w lies above a query's bound,
so that only the few others are computed exactly. The answer is the exact scan's, bit for bit.

A scan keeps each query's KEPT + 1 smallest w so far; the last of them is the *bound*. A
column whose w is above the bound is neither kept nor a minimum. Once a query has a finite
bound, each block of columns is first measured in float32 as a Gram product,
``S32 = |a|^2 + |b|^2 - 2 a.b`` (one fused multiply-add per feature, eight lanes per AVX2
vector, where the exact sum of squared differences costs three float64 operations on four), and
a column is ruled out when ``S32`` lies above the *line* ``slope / n_j + e_j + base``
(:func:`line`, :func:`column_terms`), which :func:`filter_constants` proves to put the exact
w above the bound. The rest of the block is computed exactly, in position order.
"""
from __future__ import annotations

import numba
import numpy as np

__all__ = ["filter_constants", "column_terms", "update_column_terms", "column_term",
           "dot_block_quad", "line", "gap", "gaps", "count_through", "no_filter", "filter_bytes",
           "FILTER_MOST", "FILTER_PAUSE", "FILTER_NOISE_MAX"]

#: Largest centroid coordinate (after ``_engines.centroid_frame``'s shift) for which the filter
#: runs: its squares and sums then stay far inside float32's range.
FILTER_MAX_COORDINATE = 1e15
#: The most features for which the filter runs: its proof takes ``(d + 4) 2**-24`` as small.
FILTER_MAX_FEATURES = 4096
#: More columns of a block than this let through (a bound still loose), and the block is
#: computed exactly as a whole (one vectorised pass) rather than column by column.
FILTER_MOST = 16
#: Blocks a tile of queries scans without the filter after one where it let through more
#: than :data:`FILTER_MOST` columns per query on average (then it did not pay).
FILTER_PAUSE = 8
#: The filter stays on for a run only where its rounding term for a typical pair (``k_norm``
#: times twice the median float32 norm) is below this fraction of the median positive squared
#: distance to a nearest neighbour after the first scan: beyond, it would let whole clusters
#: through.
FILTER_NOISE_MAX = 0.25
#: Relative margin by which the line's float32 constants are raised: it covers the line's own
#: float32 roundings (three, of 2**-24 each, all terms positive) and the float64 ones before.
FILTER_SLACK = 2.0 ** -18
#: The least `base` of a line: float32 products that underflow are off by at most 2**-149.
BASE_FLOOR = 2.0 ** -100


def filter_constants(d: int, largest: float) -> np.ndarray:
    """``[k_bound, k_norm, k_abs]`` (float64) of the filter for d features and coordinates of
    at most `largest` in magnitude; all zero where it does not run (no features, more than
    :data:`FILTER_MAX_FEATURES`, or coordinates beyond :data:`FILTER_MAX_COORDINATE`, where
    float32 squares could overflow).

    The proof, with ``u = 2**-24`` (float32's roundoff), a and b two float64 centroids, a' and
    b' their float32 roundings, ``Q = |a|^2 + |b|^2`` and ``N_a``, ``N_b`` the float32 norms
    of a' and b' as computed; cluster sizes are integers below 2**53, so their products and
    sums are exact, and ``(d + 4) u`` is small (d at most :data:`FILTER_MAX_FEATURES`):

    * ``|a' - a| <= u |a|`` coordinate-wise, plus 2**-150 where a' is subnormal, so
      ``|(a' - b') - (a - b)| <= u (|a| + |b|)`` plus ``2**-149 sqrt(d)`` (in ``k_abs``);
    * the computed ``S32`` (dot product in any order, with or without fused multiply-adds, the
      norms likewise, then ``N_a + N_b - 2 a.b`` rounded twice) is within
      ``(2d + 8) u Q'`` of ``|a' - b'|^2`` (``Q'`` as Q for a', b');
    * with ``(x - y)^2 >= (1 - e) x^2 - y^2 / e`` (``e = 2**-12``), the exact
      ``S = |a - b|^2 >= (1 - e) S32 - G (N_a + N_b) - k_abs'``, where G bounds
      ``(1 - e) (2d + 8) u`` plus ``4 u^2 / e`` (``2 u^2 Q / e`` would do), each times what
      turns ``N_a + N_b`` into an upper bound of Q and Q' (the code applies the factors a
      little differently; the slack of ``2d + 8`` over the ``2d + 3`` roundings needed covers
      the difference);
    * the exact scan's w (float64, feature-order sum, size factor) is at least
      ``S n_q n_j / (n_q + n_j) (1 - (2d + 4) 2**-53)``.

    So a column with ``S32 > k_bound B (1 / n_j + 1 / n_q) + k_norm (N_a + N_b) + k_abs`` has a
    computed w above B, for ``k_bound = (1 + (2d + 8) 2**-53) / (1 - e)``,
    ``k_norm = G / (1 - e)`` and ``k_abs = k_abs' / (1 - e)``, each raised by 2**-30 for their
    own rounding. :func:`line` and :func:`column_terms` evaluate that in float32, rounding up.
    """
    M = float(largest)
    if not 1 <= d <= FILTER_MAX_FEATURES or not M <= FILTER_MAX_COORDINATE:
        return np.zeros(3)
    u = 2.0 ** -24
    e = 2.0 ** -12
    up = 1 + 2.0 ** -30
    # N_a + N_b is within (d + 1) u of |a'|^2 + |b'|^2, and those within (1 + u)^2 of Q
    to_q = (1 + (d + 4) * u) * up
    G = ((1 - e) * (2 * d + 8) * u * (1 + u) ** 2 + 4 * u * u / e) * to_q
    k_bound = (1 + (2 * d + 8) * 2.0 ** -53) / (1 - e) * up
    k_norm = G / (1 - e) * up
    k_abs = 4 * (d + 1) * 2.0 ** -140 / (1 - e)  # subnormal roundings, with a wide margin
    return np.array([k_bound, k_norm, k_abs])


def filter_bytes(n: int, d: int) -> int:
    """Memory the filter adds for n centroids in d features: their float32 copy and the
    column terms (:func:`column_terms`, 12 bytes per position, and its temporaries, up to 52
    more while it runs)."""
    return 4 * n * d + 64 * n


def no_filter(d: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(C32, terms, constants)`` that turn the filter off."""
    return (np.zeros((d, 0), dtype=np.float32), np.zeros((3, 0), dtype=np.float32),
            np.zeros(3))


def column_terms(C32: np.ndarray, sz: np.ndarray, width: int, constants: np.ndarray) -> np.ndarray:
    """Per position of ``[0, width)``, in float32: the norm ``N_j`` of its float32 centroid,
    ``1 / n_j`` rounded up (0 for a dead position: the exact scan never keeps one either)
    and ``k_norm N_j`` raised by :data:`FILTER_SLACK`, rounded up; shape (3, width)
    (:func:`update_column_terms` of every position)."""
    terms = np.empty((3, width), dtype=np.float32)
    update_column_terms(C32, sz, np.arange(width), constants[1], terms)
    return terms


@numba.njit(cache=True, error_model="numpy")
def update_column_terms(C32, sz, positions, k_norm, terms):
    """:func:`column_terms` of the columns `positions`, into `terms`."""
    for t in range(positions.shape[0]):
        column_term(C32, sz, positions[t], k_norm, terms)


@numba.njit(cache=True, error_model="numpy", inline="always")
def column_term(C32, sz, j, k_norm, terms):
    """:func:`column_terms` of column j, into ``terms[:, j]`` (a store keeps them up to date as
    its centroids merge: the norm is summed here, in feature order, wherever it is computed,
    so that the filter's S32 and its error term use the same one)."""
    norm = np.float32(0.0)
    for k in range(C32.shape[0]):
        v = C32[k, j]
        norm += v * v
    terms[0, j] = norm
    terms[1, j] = _float32_above(1.0 / sz[j]) if sz[j] > 0 else np.float32(0.0)
    terms[2, j] = _float32_above(k_norm * np.float64(norm) * (1 + FILTER_SLACK))


@numba.njit(cache=True, error_model="numpy", fastmath={"contract"})
def dot_block_quad(C32, q, b0, b1, acc):
    """Dot products of the four queries ``q[0:4]`` (float32, shape (4, d)) with columns
    ``b0:b1`` of `C32` into ``acc[0:4, :b1 - b0]`` (fused multiply-adds where the processor
    has them, the sums in any order: the filter's bound holds for every one); each column is
    loaded once for the four, four features per pass (sixteen query values and four sums stay
    in registers). The filter's only product kernel: the rescans' query tiles and the first
    scan's filtered tiles take their rows four at a time."""
    m = b1 - b0
    d = C32.shape[0]
    a0 = acc[0, :m]
    a1 = acc[1, :m]
    a2 = acc[2, :m]
    a3 = acc[3, :m]
    a0[:] = 0.0
    a1[:] = 0.0
    a2[:] = 0.0
    a3[:] = 0.0
    k = 0
    while k + 4 <= d:
        x0, x1, x2, x3 = q[0, k], q[0, k + 1], q[0, k + 2], q[0, k + 3]
        y0, y1, y2, y3 = q[1, k], q[1, k + 1], q[1, k + 2], q[1, k + 3]
        z0, z1, z2, z3 = q[2, k], q[2, k + 1], q[2, k + 2], q[2, k + 3]
        w0, w1, w2, w3 = q[3, k], q[3, k + 1], q[3, k + 2], q[3, k + 3]
        r0 = C32[k, b0:b1]
        r1 = C32[k + 1, b0:b1]
        r2 = C32[k + 2, b0:b1]
        r3 = C32[k + 3, b0:b1]
        for jj in range(m):
            v0, v1, v2, v3 = r0[jj], r1[jj], r2[jj], r3[jj]
            a0[jj] = a0[jj] + x0 * v0 + x1 * v1 + x2 * v2 + x3 * v3
            a1[jj] = a1[jj] + y0 * v0 + y1 * v1 + y2 * v2 + y3 * v3
            a2[jj] = a2[jj] + z0 * v0 + z1 * v1 + z2 * v2 + z3 * v3
            a3[jj] = a3[jj] + w0 * v0 + w1 * v1 + w2 * v2 + w3 * v3
        k += 4
    while k < d:
        x, y, z, w = q[0, k], q[1, k], q[2, k], q[3, k]
        row = C32[k, b0:b1]
        for jj in range(m):
            v = row[jj]
            a0[jj] += x * v
            a1[jj] += y * v
            a2[jj] += z * v
            a3[jj] += w * v
        k += 1


@numba.njit(cache=True, error_model="numpy")
def _float32_above(value):
    """The least float32 at or above the float64 `value` (+inf beyond float32's range)."""
    t = np.float32(value)
    if np.float64(t) < value:
        t = np.nextafter(t, np.float32(np.inf))
    return t


@numba.njit(cache=True, error_model="numpy", inline="always")
def line(bound, n_q, norm_q, constants):
    """``(slope, base)`` in float32 of a query of size `n_q` and float32 norm `norm_q` whose
    bound is `bound`: :func:`filter_constants`' inequality with its constants raised by
    :data:`FILTER_SLACK` and `base` at least :data:`BASE_FLOOR`."""
    k_bound = constants[0]
    slope = _float32_above(k_bound * bound * (1.0 + FILTER_SLACK))
    base = _float32_above((k_bound * bound / n_q + constants[1] * np.float64(norm_q)
                           + constants[2]) * (1.0 + FILTER_SLACK))
    return slope, max(base, np.float32(BASE_FLOOR))


@numba.njit(cache=True, error_model="numpy", inline="always")
def gap(s32, slope_term, error, base):
    """One column's float32 squared distance `s32` less its line, the line's terms summed in
    the order :func:`filter_constants`' rounding margin assumes (`slope_term`: the slope
    times the column's inverse size); the column passes where this is not positive."""
    return s32 - ((slope_term + error) + base)


@numba.njit(cache=True, error_model="numpy", inline="always")
def gaps(dots, norm_q, norms, inverse_sizes, errors, slope, base, m, out):
    """``out[:m]``: each column's float32 squared distance (from the query's dot product with
    it) less its line; a column passes the filter where that is not positive, i.e. where its
    integer key (``out.view(np.int32)``) is at most 0 (-0.0 is the least int32). The column
    terms as 1-D slices of the block (a loop without branches that vectorises)."""
    two = np.float32(2.0)
    for jj in range(m):
        s32 = (norm_q + norms[jj]) - two * dots[jj]
        out[jj] = gap(s32, slope * inverse_sizes[jj], errors[jj], base)


@numba.njit(cache=True, error_model="numpy", inline="always")
def count_through(gap_keys, m):
    """How many of the block's columns pass (``gap_keys[:m]`` at most 0, see :func:`gaps`): a
    loop without branches that vectorises."""
    through = np.int32(0)
    for jj in range(m):
        # an int32 sum, eight lanes (Numba would compute it in int64: four)
        through = np.int32(through + (gap_keys[jj] <= 0))
    return np.int64(through)
