"""Ward's nearest live centroid by a BLAS screen and an exact check (the CPU rounds' rescans,
``gpuhclust.cpu._centroid_rows``): the exact scan's answer, bit for bit, from far fewer exact
dissimilarities.

Contract. For each query position p, :func:`screened_nearest` returns what the exact scan
returns: the first minimum (lowest position among equal values, strict '<' in position order)
of

    w(p, j) = sq(p, j) * (n_p * s_j / (n_p + s_j))

over the live positions j != p of ``[0, width)`` (s_j = sz[j] > 0), sq the squared distance
summed in feature order by ``_vector.sq_block``; -1 and +inf when no w is finite. Ties,
infinities and NaN included: every w it compares is computed by that same code and expression,
in position order, and a position it skips provably has a larger w than the one it returns.

The screen. With G = Cq^T C from NumPy's matmul (BLAS) in the type :data:`GRAM` (unit
roundoff u_g: 2^-24 for float32, u = 2^-53 for float64; the coordinates rounded to it) and the
squared norms N_p, N_j of the centroids in float64 (any summation order), the approximation
``a = (N_p + N_j) - 2 G[p, j]`` (float64) of sq is within E = K (N_p + N_j) + TAU of the exact
scan's sq, K = (5 u_g + 17 u) (d + 2), TAU = 8 (d + 2) times G's smallest normal number,
whenever both norms are at most NORM_MAX (2^124 for float32, 2^1020 for float64: two of them sum
to an eighth of G's overflow threshold), so that no product, sum or bound overflows:

* |2 G - 2 p.c_j| <= 1.02 (d + 2) u_g (N_p + N_j): rounding the coordinates to G's type costs
  (2 u_g + u_g^2) |p_k c_jk| per term, the dot product (any order, FMA or not) gamma^g_d
  sum |p_k c_jk|, and sum |p_k c_jk| <= (N_p + N_j) / 2;
* the norms are within gamma_d of theirs, and the two roundings of `a` cost at most
  3u (N_p + N_j);
* |sq_ref - sq_true| <= gamma_{d+2} sq_true <= 2 gamma_{d+2} (N_p + N_j) (each term is the
  square of a rounded difference, summed in order);
* gamma_m = m u / (1 - m u) <= 1.01 m u, so the total is at most (1.02 u_g + 4.04 u) (d + 2)
  (N_p + N_j): K is four times that or more, with room for the roundings of ``a - E`` and
  ``a + E`` (at most u |a| + u E, |a| <= 2.1 (N_p + N_j)); TAU covers what underflows (at most
  G's smallest normal per product, flushed or not; coordinates rounded below it err by at
  most half G's smallest subnormal, eta_g, which adds at most 2 eta_g sqrt(d) (N_p + N_j + 2)
  to the error, shared between K and TAU).

So ``lo = a - E <= sq_ref <= hi = a + E`` as computed (IEEE double, round to nearest, no
flush of subnormal inputs to zero in BLAS). Rounding is monotone and the size factor f_c =
n_p s / (n_p + s) is the exact scan's own bits, so ``fl(lo f_c) <= w <= fl(hi f_c)``, overflow
included. Per query:

* U = fl(hi_m f_c(m)), m the first position of the least hi: U >= w(p, m) >= w*, the minimum;
* a position is skipped when ``lo > U' (1/n_p + 1/s_j)``, U' = U (1 + 2^-47), and lo > 2^-960
  (no division per pair): then w > U >= w*, since 1 + 2^-47 = 1 + 64u covers the nine
  roundings involved (1/n_p, 1/s_j, their sum, U', the product, f_c's three, w's own) and w
  stays clear of underflow;
* of the others, a position is skipped when fl(lo f_c) exceeds U or the least w computed so far
  (at a lower position): then it is not the first minimum either;
* the positions left get the exact w, in position order, strict '<'.

The first minimum is never skipped, so the answer is the exact scan's. A centroid whose squared
norm is above NORM_MAX or not finite (NaN, inf) takes no part in U and is never skipped; a
query's own such norm turns its screen off (U = +inf: every live position gets the exact w).
"""
from __future__ import annotations

import numba
import numpy as np

from ._vector import sq_block

__all__ = ["screened_nearest", "screen_pays", "bound_terms", "TILE_ELEMENTS"]

#: Entries of one tile's product G (queries x width): a few MB, read back from cache.
TILE_ELEMENTS = 1 << 19
#: Positions per block of the per-query passes (a block's bounds stay in L1).
SCREEN_BLOCK = 128
#: The fewest queries in a tile (work for the threads; G's size then grows with the width: 16
#: MB of float32 at a million positions).
MIN_TILE = 4
#: The screen runs from this many features (fewer: the exact sq costs about what the screen's
#: bounds cost) ...
SCREEN_MIN_FEATURES = 8
#: ... and this many (query, position) pairs in a call (the norms cost one pass over width).
SCREEN_MIN_PAIRS = 1 << 12
#: The type of G: float32 halves BLAS's work and G's bytes, for bounds 2^29 times wider
#: (still far below the gaps between neighbours on ordinary data); float64 is the alternative.
GRAM = np.float32
#: Bounds above this are clear of underflow when multiplied by a size factor (>= 1/2).
TINY = 2.0 ** -960
#: U' = U * MARGIN in the division-free test: covers its roundings and the size factor's with
#: room (module docstring).
MARGIN = 1.0 + 2.0 ** -47


def bound_terms(d: int, gram=GRAM) -> tuple[float, float, float]:
    """(K, TAU, NORM_MAX) of the screen's error bound E = K (N_p + N_j) + TAU for `d`
    features and G of type `gram` (module docstring)."""
    info = np.finfo(gram)
    u_g = float(info.eps) / 2
    K = (5.0 * u_g + 17.0 * 2.0 ** -53) * (d + 2)
    # two norms up to NORM_MAX sum to an eighth of G's overflow threshold 2^maxexp: no
    # product, sum or bound overflows
    norm_max = 2.0 ** (info.maxexp - 4)
    return K, 8.0 * (d + 2) * float(info.smallest_normal), norm_max


def screen_pays(d: int, queries: int, width: int) -> bool:
    """Whether the screen replaces the exact scan (a rule on counts: features and pairs)."""
    return d >= SCREEN_MIN_FEATURES and queries >= 2 and queries * width >= SCREEN_MIN_PAIRS


@numba.njit(cache=True, error_model="numpy")
def _column_terms(Ct, sz, width, norm_max, terms):
    """Per position, the rows of `terms`: the squared norm, 1/s (0 when dead), and the
    penalties added to hi (0 when the position may bound the minimum, else +inf) and to lo (0:
    screened, -inf: never skipped, +inf: dead)."""
    nc2, inv_sz, hpen, lpen = terms[0], terms[1], terms[2], terms[3]
    for j in range(width):
        nc2[j] = 0.0
    for k in range(Ct.shape[0]):
        row = Ct[k, :width]
        for j in range(width):
            nc2[j] += row[j] * row[j]
    for j in range(width):
        s = sz[j]
        bounded = nc2[j] <= norm_max  # False for NaN
        inv_sz[j] = 1.0 / s if s > 0.0 else 0.0
        hpen[j] = 0.0 if s > 0.0 and bounded else np.inf
        lpen[j] = np.inf if s <= 0.0 else (0.0 if bounded else -np.inf)


# The per-position passes take a block's slices and index them from 0 (as the distance kernels
# do): LLVM then vectorises them.
@numba.njit(cache=True, error_model="numpy")
def _uppers(g, nc2, hpen, nq2, K, tau, buf):
    """hi over a block (slices `g`, `nc2`, `hpen`) into `buf`; +inf where it bounds nothing
    (dead, not screened, non-finite): non-negative doubles, ordered as their bits."""
    for jj in range(g.shape[0]):
        N = nq2 + nc2[jj]
        v = (N - 2.0 * g[jj]) + (N * K + tau) + hpen[jj]
        buf[jj] = v if v < np.inf else np.inf  # a select: no branch, NaN -> +inf


@numba.njit(cache=True, error_model="numpy")
def _least_upper(g, nc2, hpen, nq2, K, tau, p, width, buf):
    """The least hi over the positions other than `p`, and its first position (-1 when no hi
    is finite). Each block's least is an integer minimum over the bits (vectorised); the block
    holding the least is computed again to find its position."""
    bits = buf.view(np.int64)
    least = np.int64(0x7FF0000000000000)  # +inf
    where = -1
    for b0 in range(0, width, SCREEN_BLOCK):
        b1 = min(width, b0 + SCREEN_BLOCK)
        _uppers(g[b0:b1], nc2[b0:b1], hpen[b0:b1], nq2, K, tau, buf)
        if b0 <= p < b1:
            buf[p - b0] = np.inf
        m = least
        for jj in range(b1 - b0):
            if bits[jj] < m:
                m = bits[jj]
        if m < least:
            least = m
            where = b0
    if where < 0:
        return np.inf, -1
    b1 = min(width, where + SCREEN_BLOCK)
    _uppers(g[where:b1], nc2[where:b1], hpen[where:b1], nq2, K, tau, buf)
    if where <= p < b1:
        buf[p - where] = np.inf
    for jj in range(b1 - where):
        if bits[jj] == least:
            return buf[jj], where + jj
    return np.inf, -1  # not reached: the block holds `least`


@numba.njit(cache=True, error_model="numpy")
def _kept(g, nc2, lpen, inv_sz, nq2, K, tau, Up, iq):
    """How many positions of a block (slices) the division-free test keeps (no branch)."""
    count = 0
    for jj in range(g.shape[0]):
        N = nq2 + nc2[jj]
        lo = (N - 2.0 * g[jj]) - (N * K + tau) + lpen[jj]
        skip = (lo > Up * (iq + inv_sz[jj])) & (lo > TINY)
        count += 0 if skip else 1
    return count


@numba.njit(cache=True, error_model="numpy")
def _screen_query(g, Ct, cq, acc, buf, sz, terms, p, width, K, tau, norm_max, out_p, out_w,
                  exact, i):
    """Query position `p` (row `g` of G, centroid ``cq[0]``): the exact scan's first minimum
    into ``out_p[i]``, ``out_w[i]``; the exact dissimilarities it computed into ``exact[i]``."""
    nc2, inv_sz, hpen, lpen = terms[0], terms[1], terms[2], terms[3]
    nq2 = nc2[p]
    n_q = sz[p]
    screened = nq2 <= norm_max  # False for NaN
    U = np.inf
    if screened:
        hi, m = _least_upper(g, nc2, hpen, nq2, K, tau, p, width, buf)
        if m >= 0:
            s = sz[m]
            U = hi * (n_q * s / (n_q + s))  # >= w(p, m): rounding is monotone
    Up = U * MARGIN
    iq = 1.0 / n_q
    best_w = np.inf
    best_p = -1
    count = 0
    for b0 in range(0, width, SCREEN_BLOCK):
        b1 = min(width, b0 + SCREEN_BLOCK)
        # the query's own position is always kept (lo <= sq(p, p) = 0, or not screened)
        own = 1 if b0 <= p < b1 else 0
        if _kept(g[b0:b1], nc2[b0:b1], lpen[b0:b1], inv_sz[b0:b1], nq2, K, tau, Up,
                 iq) == own:
            continue
        for j in range(b0, b1):  # the same test, then the exact w, in position order
            N = nq2 + nc2[j]
            lo = (N - 2.0 * g[j]) - (N * K + tau) + lpen[j]
            if lo > Up * (iq + inv_sz[j]) and lo > TINY:
                continue
            s = sz[j]
            if s > 0.0 and j != p:
                f = n_q * s / (n_q + s)
                if screened and lpen[j] == 0.0 and lo * f > min(U, best_w):
                    continue
                sq_block(Ct, cq, j, j + 1, acc)
                count += 1
                w = acc[0] * f
                if w < best_w:
                    best_w = w
                    best_p = j
    out_p[i] = best_p
    out_w[i] = best_w
    exact[i] = count


@numba.njit(cache=True, error_model="numpy", parallel=True)
def _tile_parallel(G, Ct, cq, acc, buf, sz, terms, pos, width, K, tau, norm_max, out_p, out_w,
                   exact):
    for i in numba.prange(pos.shape[0]):
        _screen_query(G[i], Ct, cq[i], acc[i], buf[i], sz, terms, pos[i], width, K, tau,
                      norm_max, out_p, out_w, exact, np.int64(i))


@numba.njit(cache=True, error_model="numpy")
def _tile_serial(G, Ct, cq, acc, buf, sz, terms, pos, width, K, tau, norm_max, out_p, out_w,
                 exact):
    for i in range(pos.shape[0]):
        _screen_query(G[i], Ct, cq[i], acc[i], buf[i], sz, terms, pos[i], width, K, tau,
                      norm_max, out_p, out_w, exact, np.int64(i))


def screened_nearest(Ct: np.ndarray, sz: np.ndarray, width: int, queries: np.ndarray,
                     threads: int, gram=GRAM):
    """The exact scan's (position, w) for each query position (module docstring), the number
    of exact dissimilarities computed, and G's type at the end: `gram` (float32 or float64),
    float64 from the first tile whose queries needed more than :func:`too_many_exact` exact
    dissimilarities in float32 (the answer is the same in either type; float64's narrower
    bounds leave less exact work on tight clusters far from the origin).

    The queries go in tiles of at least :data:`MIN_TILE`, sized so that G holds about
    :data:`TILE_ELEMENTS`; BLAS computes a tile's G (its own threads), then the tile's queries
    are screened over Numba's threads: one after the other, never both at once.
    """
    d = Ct.shape[0]
    width = int(width)
    queries = np.ascontiguousarray(queries, dtype=np.int64)
    nq = len(queries)
    terms = np.empty((4, width))
    K, tau, norm_max, C = _gram_terms(Ct, sz, width, gram, terms)
    tile = max(MIN_TILE, TILE_ELEMENTS // max(width, 1))
    nn = np.empty(nq, dtype=np.int64)
    dist = np.empty(nq)
    exact = np.empty(nq, dtype=np.int64)
    run = _tile_parallel if threads > 1 else _tile_serial
    for q0 in range(0, nq, tile):
        pos = queries[q0:q0 + tile]
        t = len(pos)
        cq = np.ascontiguousarray(Ct[:, pos].T).reshape(t, 1, d)  # cq[i]: (1, d), as sq_block
        with np.errstate(all="ignore"):  # overflowing or non-finite centroids: never screened
            G = np.matmul(np.ascontiguousarray(C[:, pos].T), C)
        run(G, Ct, cq, np.empty((t, 1)), np.empty((t, SCREEN_BLOCK)), sz, terms, pos,
            np.int64(width), K, tau, norm_max, nn[q0:q0 + t], dist[q0:q0 + t],
            exact[q0:q0 + t])
        if gram != np.float64 and exact[q0:q0 + t].sum() > too_many_exact(t, width):
            gram = np.float64
            K, tau, norm_max, C = _gram_terms(Ct, sz, width, gram, terms)
    return nn, dist, int(exact.sum()), gram


def too_many_exact(queries: int, width: int) -> int:
    """Exact dissimilarities past which a tile's queries move G to float64."""
    return queries * max(8, width // 32)


def _gram_terms(Ct, sz, width, gram, terms):
    """The bound's terms for G of type `gram`, the per-position terms, and the centroids in
    that type."""
    K, tau, norm_max = bound_terms(Ct.shape[0], gram)
    _column_terms(Ct, sz, np.int64(width), norm_max, terms)
    with np.errstate(all="ignore"):  # centroids out of G's range: never screened
        return K, tau, norm_max, np.asarray(Ct[:, :width], dtype=gram)
