"""The CPU store of ward's rounds over centroids (engine='vector'; the algorithm, the arithmetic
and the tie rule are stated in ``gpuhclust._centroid_rounds``): the centroids features first in
one float64 array, a round's rescans spread over threads with Numba's ``prange``.

A rescan computes w from each query centroid to every live centroid. The queries go in tiles of
:data:`QUERY_TILE`, and each block of ``BLOCK`` candidate columns is read from memory once per tile
(``_vector.sq_block_pair`` computes the squared distances of two queries of the tile per
pass, in the chain's own ``sq_block`` order, while the block's columns stay in cache). The work
items are (query tile, candidate chunk) pairs, so that a round with few queries still fills the
threads; each item keeps its first minimum, and the chunks are combined in position order with
a strict '<': the lowest position among equal values wins, whatever the chunks and the
threads.

The first scan computes each pair once (:func:`nearest_all`), and where the float32 filter runs
only the pairs its proof cannot rule out (``_filtered_tiles``: the same minima). Every scan
also keeps each row's :data:`KEPT` smallest dissimilarities and the next one, the bound (as the
matrix rounds do, ``_round_rows``; the first scan may keep fewer, with a lower bound); a row
asked for whose smallest kept entry lies below the bound, lowered for the rounding of merged
centroids (:class:`CentroidKept`), has that entry as its first minimum without a rescan: the
same answer, so Z is unchanged.
"""
from __future__ import annotations

import math

import numba
import numpy as np

from .._centroid_rounds import CentroidSlots
from ._centroid_filter import (FILTER_MOST, FILTER_NOISE_MAX, FILTER_PAUSE, column_term,
                               column_terms, count_through, dot_block_quad, filter_constants,
                               gaps, line, no_filter)
from ._distances import BLOCK
from ._filtered_tiles import filtered_tile, tile_scratch
from ._lazy_matrix import first_at, first_min_key, min_key
from ._round_rows import (KEPT, NO_KEY, KeptEntries, _insert_kept, _kept_buffers,
                          insert_unique)
from ._vector import WARD, merge_centroids, sq_block, sq_block_pair

__all__ = ["CentroidRows", "QUERY_TILE"]

#: Tiles of the first scan a share may give up on before it stops trying the filter (when
#: it gave up more often than not; see :func:`_tile_pairs`).
FILTER_GIVE_UPS = 2
#: Queries whose distances one pass over a block of candidates computes.
QUERY_TILE = 8
#: Fewer (queries x live centroids) than this: one thread (a parallel region costs more).
SERIAL_MAX_PAIRS = 1 << 16
#: The fewest pairs of a share of :func:`pair_dissimilarities` (fewer run on one thread).
PAIRS_PER_SHARE = 512
#: The fewest candidate columns a chunk of a work item takes.
MIN_CHUNK = 4 * BLOCK
#: The most memory the first scan's per-tile minima (:func:`nearest_all`, 24 bytes per position
#: and tile of BLOCK positions, so growing as n**2) may take; beyond it (n above about 26,000)
#: the first scan is a scan per query, and the engine's memory stays O(n*d).
FIRST_SCAN_MAX_BYTES = 64 << 20
#: Memory of the kept entries per observation, for the plan: each row's entries and bound
#: (:class:`CentroidKept`, about 160 bytes) and a round's scratch for as many queries
#: (:func:`nearest` and the slots of its answer, about 512 bytes per query, every row in the
#: worst case).
KEPT_BYTES_PER_ROW = 160 + 512


def first_scan_bytes(n: int) -> int:
    """Scratch of :func:`nearest_all` on n positions (24 bytes per position and tile); 0 when
    the minima pass :data:`FIRST_SCAN_MAX_BYTES` and the first scan is a scan per query."""
    needed = 24 * n * -(-n // BLOCK)
    return needed if needed <= FIRST_SCAN_MAX_BYTES else 0


def store_bytes(n: int, d: int) -> int:
    """Memory of a :class:`CentroidRows` beyond the centroids features first: their
    position-major copy, the kept entries (:data:`KEPT_BYTES_PER_ROW`) and the first scan's
    scratch (:func:`first_scan_bytes`)."""
    return 8 * n * d + KEPT_BYTES_PER_ROW * n + first_scan_bytes(n)


@numba.njit(cache=True, error_model="numpy", inline="always")
def _seeded(seeds, j):
    """Whether position j is among the query's seeds (``seeds``: positions, -1 for none)."""
    for e in range(seeds.shape[0]):
        if seeds[e] == j:
            return True
    return False


@numba.njit(cache=True, error_model="numpy", inline="always")
def _exact_candidates(Ct, sz, cq, n_q, own, b0, m, through, gap_keys, best_w, best_p, kept_keys,
                      kept_pos, one, seeds):
    """The `through` columns of the block at `b0` that the filter lets through (``gap_keys``
    at most 0, see ``_centroid_filter.gaps``), in position order, taken as the exact scan takes
    them: w with a scan's arithmetic (``sq_block``'s sum in feature order, then the size
    factor), the first minimum so far replaced only when strictly smaller, and the kept
    entries. The search stops at the last of them (a few per block: cheaper than looking for
    them group by group)."""
    d = Ct.shape[0]
    found = 0
    for jj in range(m):
        if found == through:
            break
        if gap_keys[jj] > 0:
            continue
        found += 1
        j = b0 + jj
        s = sz[j]
        if s > 0.0 and jj != own:
            acc = 0.0
            for k in range(d):
                t = cq[k] - Ct[k, j]
                acc += t * t
            w = acc * (n_q * s / (n_q + s))
        else:
            w = np.inf
        one[0] = w
        key = one.view(np.int64)[0]
        best = best_w.view(np.int64)[0]  # w >= 0: the integer order is the float order
        if key < best or (key == best and j < best_p[0]):  # (a seed may lie further on)
            best_w[0] = w
            best_p[0] = j
        if key < kept_keys[KEPT] and not _seeded(seeds, j):
            _insert_kept(kept_keys, kept_pos, key, j)


@numba.njit(cache=True, error_model="numpy", inline="always")
def _take_block(a, sz, n_q, own, b0, m, vals, best_w, best_p, kept_keys, kept_pos, seeds):
    """A query's exact squared distances `a` to the block at `b0` (``sq_block``'s): w into
    `vals` (+inf where the column is dead or the query itself, position `own` of the block),
    a loop without branches that vectorises; the block's minimum, found on the same bits read
    as integers (w >= 0, see ``_lazy_matrix.first_argmin``), replaces ``best_w[0]`` when
    smaller, or equal at a lower position (a seed may lie further on: `seeds`, the query's
    seeded positions, -1 for none), with its first position; the kept entries take the
    block's smaller ones in position order, the seeds excepted."""
    keys = vals.view(np.int64)
    for jj in range(m):
        s = sz[b0 + jj]
        w = a[jj] * (n_q * s / (n_q + s))
        vals[jj] = w if s > 0.0 else np.inf
    if 0 <= own < m:
        vals[own] = np.inf
    low = min_key(keys, 0, m)
    # the search for its first position only where the block improves on the minimum so far
    # (a few blocks per query), or ties it (a seed may lie further on)
    best = best_w.view(np.int64)[0]
    if low < best or (low == best and seeds[0] >= 0):
        first = first_at(keys, 0, low)
        if low < best or b0 + first < best_p[0]:
            best_w[0] = vals[first]
            best_p[0] = b0 + first
    if low < kept_keys[KEPT]:
        for jj in range(m):
            if keys[jj] < kept_keys[KEPT] and not _seeded(seeds, b0 + jj):
                _insert_kept(kept_keys, kept_pos, keys[jj], b0 + jj)


@numba.njit(cache=True, error_model="numpy", inline="always")
def _seed(keys, cols, position, j0, j1, best_w, best_p, kept_keys, kept_pos, seeds):
    """A query's seeds (``keys``, ``cols``: its entries, slots) in ``j0:j1`` into its kept
    entries and minimum in position order, each once (see :func:`_nearest`), and their
    positions into `seeds`."""
    count = 0
    for e in range(cols.shape[0]):
        if cols[e] < 0 or position[cols[e]] < 0:
            continue
        j = position[cols[e]]
        if j0 <= j < j1:
            count += insert_unique(seeds, 0, count, j)
    for i in range(count):
        e = 0  # the seed's entry (a duplicate has the same key)
        while cols[e] < 0 or position[cols[e]] != seeds[i]:
            e += 1
        key = keys[e]
        if key < kept_keys[KEPT]:
            _insert_kept(kept_keys, kept_pos, key, seeds[i])
        if key < best_w.view(np.int64)[0]:
            best_w.view(np.int64)[0] = key
            best_p[0] = seeds[i]


@numba.njit(cache=True, error_model="numpy")
def _nearest(Ct, sz, queries, q0, q1, j0, j1, best_w, best_p, kept_keys, kept_pos, C32, terms,
             constants, seed_keys, seed_cols, position, query_slots):
    """For the query positions ``queries[q0:q1]``: the first minimum of w over the live
    positions ``j0:j1`` other than the query itself, into ``best_w[:q1-q0]``,
    ``best_p[:q1-q0]`` (+inf and -1 when none is finite).

    Per query and block, w goes into `vals` (+inf where the column is dead or the query
    itself), a loop without branches that vectorises, and the block's minimum is found on the
    same bits read as integers (w >= 0, see ``_lazy_matrix.first_argmin``); a block replaces
    the minimum so far only when strictly smaller, with its first position holding it, so the
    lowest position wins. Each query's ``KEPT + 1`` smallest (key, position) go to
    ``kept_keys[q]``, ``kept_pos[q]`` (``_round_rows.smallest_keys``' order: blocks in position
    order, equal keys behind).

    The filter (``gpuhclust.cpu._centroid_filter``; `C32`, `terms` and `constants` from there,
    ``constants[0] > 0`` where it runs): once every query of the tile has a finite bound (its
    KEPT + 1 smallest so far), a block is first measured in float32, and only the columns the
    filter cannot rule out are computed exactly (:func:`_exact_candidates`); the others lie
    above the bound, so neither the minimum nor the kept entries would take them. The answer
    is the same, bit for bit. A query whose bound is still loose has the block computed
    exactly as a whole; where that is the tile's usual case (clusters whose spread is tiny
    against their distance from the origin), the filter pauses for FILTER_PAUSE blocks.

    Seeds (`query_slots` empty where there are none): the query of slot ``query_slots[q0 +
    q]`` has entries known before the scan, ``seed_keys[s]``, ``seed_cols[s]`` (slots, -1 for
    none; `position` maps a slot to its position, -1 once merged away), their keys exactly
    those a scan computes. Those in ``j0:j1`` start its kept entries and minimum, so that the
    bound the filter draws after the first block is the tighter (KEPT seeds leave the bound
    itself open), and the scan does not take them again. The same minimum (its ties broken by
    position wherever the seed lies) and the same kept keys; among entries whose key equals
    the bound, which ones are kept may differ from an unseeded scan, and with the chunks
    (the thread count): harmless, as kept entries settle a row only below their bound."""
    d = Ct.shape[0]
    nq = q1 - q0
    filtering = constants[0] > 0.0
    cq = np.empty((nq, 1, d))  # cq[q]: a (1, d) array, as sq_block takes it
    quads = -(-nq // 4) * 4  # the queries in fours, the last padded with zeros
    cq32 = np.empty((quads, d), dtype=np.float32)
    nx = np.empty(nq)
    seeded = query_slots.shape[0] > 0
    seeds = np.full((nq, KEPT), -1, dtype=np.int64)  # those in the range, for _seeded
    for q in range(nq):
        p = queries[q0 + q]
        nx[q] = sz[p]
        for k in range(d):
            cq[q, 0, k] = Ct[k, p]
            cq32[q, k] = C32[k, p] if filtering else 0.0
        best_w[q] = np.inf
        best_p[q] = -1
        kept_keys[q, :] = NO_KEY
        kept_pos[q, :] = -1
        if seeded:
            s = query_slots[q0 + q]
            _seed(seed_keys[s], seed_cols[s], position, j0, j1, best_w[q:q + 1],
                  best_p[q:q + 1], kept_keys[q], kept_pos[q], seeds[q])
    cq32[nq:, :] = 0.0  # the partners of a short tile's last queries
    acc = np.empty((nq, BLOCK))
    acc32 = np.empty((quads, BLOCK), dtype=np.float32)
    gap = np.empty(BLOCK, dtype=np.float32)
    gap_keys = gap.view(np.int32)
    vals = np.empty(BLOCK)
    one = np.empty(1)  # a float64 read as its integer key, and back
    one[0] = np.inf
    finite = one.view(np.int64)[0]
    resume = j0  # the first block where the filter may run
    # each query's line, and the bound it was drawn for (redrawn when the bound moves)
    line_bound = np.full(nq, -1, dtype=np.int64)
    line_slope = np.empty(nq, dtype=np.float32)
    line_base = np.empty(nq, dtype=np.float32)
    for b0 in range(j0, j1, BLOCK):
        b1 = min(j1, b0 + BLOCK)
        m = b1 - b0
        bounded = filtering and b0 >= resume
        for q in range(nq):
            bounded = bounded and kept_keys[q, KEPT] < finite
        if bounded:
            through_tile = 0
            for q in range(0, nq, 4):
                dot_block_quad(C32, cq32[q:q + 4], b0, b1, acc32[q:q + 4])
            for q in range(nq):
                n_q = nx[q]
                p = queries[q0 + q]
                norm_q = terms[0, p]
                if kept_keys[q, KEPT] != line_bound[q]:
                    line_bound[q] = kept_keys[q, KEPT]
                    one.view(np.int64)[0] = kept_keys[q, KEPT]
                    line_slope[q], line_base[q] = line(one[0], n_q, norm_q, constants)
                gaps(acc32[q], norm_q, terms[0, b0:b1], terms[1, b0:b1], terms[2, b0:b1],
                     line_slope[q], line_base[q], m, gap)
                through = count_through(gap_keys, m)
                through_tile += through
                if through == 0:
                    continue
                if through > FILTER_MOST:  # a loose bound yet: the whole block, exactly
                    sq_block(Ct, cq[q], b0, b1, acc[q])
                    _take_block(acc[q], sz, n_q, p - b0, b0, m, vals, best_w[q:q + 1],
                                best_p[q:q + 1], kept_keys[q], kept_pos[q], seeds[q])
                    continue
                _exact_candidates(Ct, sz, cq[q, 0], n_q, p - b0, b0, m, through, gap_keys,
                                  best_w[q:q + 1], best_p[q:q + 1], kept_keys[q], kept_pos[q],
                                  one, seeds[q])
            if through_tile > FILTER_MOST * nq:  # the filter does not pay here: pause it
                resume = b1 + FILTER_PAUSE * BLOCK
            continue
        # the block's columns stay in cache for the whole tile, and each load serves two queries
        for q in range(0, nq - 1, 2):
            sq_block_pair(Ct, cq[q, 0], cq[q + 1, 0], b0, b1, acc[q], acc[q + 1])
        if nq % 2:
            sq_block(Ct, cq[nq - 1], b0, b1, acc[nq - 1])
        for q in range(nq):
            _take_block(acc[q], sz, nx[q], queries[q0 + q] - b0, b0, m, vals, best_w[q:q + 1],
                        best_p[q:q + 1], kept_keys[q], kept_pos[q], seeds[q])


@numba.njit(cache=True, error_model="numpy")
def _item(Ct, sz, queries, width, chunk, t, part_w, part_p, part_k, part_kp, C32, terms,
          constants, seed_keys, seed_cols, position, query_slots):
    nchunks = part_w.shape[1]
    tile, c = t // nchunks, t % nchunks
    q0 = tile * QUERY_TILE
    q1 = min(queries.shape[0], q0 + QUERY_TILE)
    _nearest(Ct, sz, queries, q0, q1, min(width, c * chunk), min(width, (c + 1) * chunk),
             part_w[tile, c], part_p[tile, c], part_k[tile, c], part_kp[tile, c], C32, terms,
             constants, seed_keys, seed_cols, position, query_slots)


@numba.njit(cache=True, error_model="numpy", parallel=True)
def _items_parallel(Ct, sz, queries, width, chunk, part_w, part_p, part_k, part_kp, C32,
                    terms, constants, seed_keys, seed_cols, position, query_slots):
    for t in numba.prange(part_w.shape[0] * part_w.shape[1]):
        _item(Ct, sz, queries, width, chunk, np.int64(t), part_w, part_p, part_k, part_kp, C32,
              terms, constants, seed_keys, seed_cols, position, query_slots)


@numba.njit(cache=True, error_model="numpy")
def _items_serial(Ct, sz, queries, width, chunk, part_w, part_p, part_k, part_kp, C32, terms,
                  constants, seed_keys, seed_cols, position, query_slots):
    for t in range(part_w.shape[0] * part_w.shape[1]):
        _item(Ct, sz, queries, width, chunk, np.int64(t), part_w, part_p, part_k, part_kp, C32,
              terms, constants, seed_keys, seed_cols, position, query_slots)


@numba.njit(cache=True, error_model="numpy")
def _combine(part_w, part_p, part_k, part_kp, nq, nn, dist, kept_keys, kept_pos):
    """Per query, the chunks' minima in position order: strict '<', the lowest position wins;
    and the chunks' smallest entries merged the same way (equal keys behind)."""
    for i in range(nq):
        tile, q = i // QUERY_TILE, i % QUERY_TILE
        best, arg = np.inf, -1
        kept_keys[i, :] = NO_KEY
        kept_pos[i, :] = -1
        for c in range(part_w.shape[1]):
            if part_w[tile, c, q] < best:
                best = part_w[tile, c, q]
                arg = part_p[tile, c, q]
            for e in range(KEPT + 1):
                key = part_k[tile, c, q, e]
                if key < kept_keys[i, KEPT]:
                    _insert_kept(kept_keys[i], kept_pos[i], key, part_kp[tile, c, q, e])
        nn[i] = arg
        dist[i] = best


@numba.njit(cache=True, error_model="numpy", inline="always")
def _tile_row(sz, unit, i, tile_i, tile_j, j0, m, vals, col_k, col_p, col_k2, part_w, part_p,
              part_k2):
    """Row i's part of :func:`_tile_pair`, its squared distances in `vals`: w, the column
    minima of the tile (in increasing i), and the row's first minimum and second smallest."""
    keys = vals.view(np.int64)
    n_i = sz[i]
    if unit:  # 1 * 1 / (1 + 1) is 0.5 exactly: the same bits without a division per pair
        for jj in range(m):
            vals[jj] = vals[jj] * 0.5
    else:
        for jj in range(m):
            s = sz[j0 + jj]
            vals[jj] = vals[jj] * (n_i * s / (n_i + s))
    if j0 <= i < j0 + m:
        vals[i - j0] = np.inf
    if tile_i < tile_j:
        for jj in range(m):  # every load before the stores, so that the loop vectorises
            key = keys[jj]
            best = col_k[jj]
            second = col_k2[jj]
            at = col_p[jj]
            better = key < best
            col_k2[jj] = best if better else (key if key < second else second)
            col_k[jj] = key if better else best
            col_p[jj] = i if better else at
    first = first_min_key(keys, 0, m)
    part_w[tile_j, i] = vals[first]
    part_p[tile_j, i] = j0 + first if vals[first] < np.inf else -1
    low = keys[first]
    keys[first] = NO_KEY
    part_k2[tile_j, i] = min_key(keys, 0, m)  # only its key is needed: no search
    keys[first] = low


@numba.njit(cache=True, error_model="numpy")
def _tile_pair(Ct, sz, tile_i, tile_j, part_w, part_p, part_k2):
    """Tiles ``tile_i <= tile_j`` of the first scan (:func:`nearest_all`): w for every pair
    (i, j), i in tile_i, j in tile_j, i != j, computed once; the first minimum of each row i
    over tile_j goes to ``part_[wp][tile_j, i]``, and of each row j over tile_i (in increasing
    i, a strict '<': the lowest position wins) to ``part_[wp][tile_i, j]``; `part_k2` gets
    the key of the second smallest (``NO_KEY`` when the tile has no other entry)."""
    n = Ct.shape[1]
    d = Ct.shape[0]
    i0 = tile_i * BLOCK
    i1 = min(n, i0 + BLOCK)
    j0 = tile_j * BLOCK
    j1 = min(n, j0 + BLOCK)
    m = j1 - j0
    unit = True  # every size 1, as in the first scan proper
    for i in range(i0, i1):
        unit = unit and sz[i] == 1.0
    for j in range(j0, j1):
        unit = unit and sz[j] == 1.0
    cq = np.empty((2, d))
    vals = np.empty((2, BLOCK))
    col_w = np.full(BLOCK, np.inf)
    col_k = col_w.view(np.int64)
    col_p = np.full(BLOCK, -1, dtype=np.int64)
    col_k2 = np.full(BLOCK, NO_KEY, dtype=np.int64)
    for i in range(i0, i1, 2):
        pair = i + 1 < i1  # two rows per pass over the tile's columns
        for r in range(2 if pair else 1):
            for k in range(d):
                cq[r, k] = Ct[k, i + r]
        if pair:
            sq_block_pair(Ct, cq[0], cq[1], j0, j1, vals[0], vals[1])
        else:
            sq_block(Ct, cq[:1], j0, j1, vals[0])
        for r in range(2 if pair else 1):
            _tile_row(sz, unit, i + r, tile_i, tile_j, j0, m, vals[r], col_k, col_p, col_k2,
                      part_w, part_p, part_k2)
    if tile_i < tile_j:
        for jj in range(m):
            part_w[tile_i, j0 + jj] = col_w[jj]
            part_p[tile_i, j0 + jj] = col_p[jj] if col_w[jj] < np.inf else -1
            part_k2[tile_i, j0 + jj] = col_k2[jj]


@numba.njit(cache=True, error_model="numpy")
def _tile_filtered(Ct, sz, X, C32, terms, constants, tile_i, tile_j, part_w, part_p, part_k2,
                   scratch):
    """A tile of the first scan through the float32 filter
    (``_filtered_tiles.filtered_tile``) where it applies (the filter on, two different tiles
    of at least two positions each, every size 1): 1 where it did, -1 where it gave up, 0
    where it does not apply."""
    n = Ct.shape[1]
    i0 = tile_i * BLOCK
    i1 = min(n, i0 + BLOCK)
    j0 = tile_j * BLOCK
    j1 = min(n, j0 + BLOCK)
    if not (constants[0] > 0 and tile_i < tile_j and i1 - i0 >= 2 and j1 - j0 >= 2):
        return 0
    for i in range(i0, i1):
        if sz[i] != 1.0:
            return 0
    for j in range(j0, j1):
        if sz[j] != 1.0:
            return 0
    if filtered_tile(X, C32, terms, constants, i0, i1, j0, j1, part_w, part_p, part_k2,
                     tile_i, tile_j, *scratch):
        return 1
    return -1


@numba.njit(cache=True, error_model="numpy", parallel=True)
def _tile_pairs(Ct, sz, tiles_i, tiles_j, part_w, part_p, part_k2, X, C32, terms, constants,
                shares):
    # the tiles in interleaved shares, one scratch per share; a share stops trying the filter
    # once it gave up on FILTER_GIVE_UPS tiles and on more than it finished (the data's
    # clusters are too tight for float32 there: the tiles cost their attempt and then the
    # exact tile)
    for c in numba.prange(shares):
        scratch = tile_scratch(C32.shape[0])
        done = 0
        given_up = 0
        for t in range(c, tiles_i.shape[0], shares):
            outcome = 0
            if given_up < FILTER_GIVE_UPS or given_up <= done:
                outcome = _tile_filtered(Ct, sz, X, C32, terms, constants, tiles_i[t],
                                         tiles_j[t], part_w, part_p, part_k2, scratch)
            done += outcome > 0
            given_up += outcome < 0
            if outcome <= 0:
                _tile_pair(Ct, sz, tiles_i[t], tiles_j[t], part_w, part_p, part_k2)


#: Rows per share of :func:`_combine_tiles`.
COMBINE_ROWS = 512


@numba.njit(cache=True, error_model="numpy", parallel=True)
def _combine_tiles(part_w, part_p, part_k2, nn, dist, kept_keys, kept_pos):
    """Per row, the tiles' minima in position order: strict '<', the lowest position wins.
    And kept entries: every other entry of a tile is at least its second smallest, so below
    the least of those (the bound) only tile minima lie; they are kept (up to KEPT, in
    ``smallest_keys``' order), and the bound is lowered to the first one left out. Shares of
    rows in parallel, each writing its own; within a share the tiles go in order, each over
    the share's rows (contiguous in the tile-major parts), so each row still sees its tiles
    in position order."""
    part_k = part_w.view(np.int64)
    tiles, n = part_w.shape
    for share in numba.prange(-(-n // COMBINE_ROWS)):
        lo = np.int64(share) * COMBINE_ROWS
        hi = min(n, lo + COMBINE_ROWS)
        bound = np.full(hi - lo, NO_KEY, dtype=np.int64)
        for i in range(lo, hi):
            dist[i] = np.inf
            nn[i] = -1
            kept_keys[i, :] = NO_KEY
            kept_pos[i, :] = -1
        for c in range(tiles):  # a select per row: the loop vectorises
            for i in range(lo, hi):
                w = part_w[c, i]
                better = w < dist[i]
                nn[i] = part_p[c, i] if better else nn[i]
                dist[i] = w if better else dist[i]
                b = part_k2[c, i]
                bound[i - lo] = b if b < bound[i - lo] else bound[i - lo]
        for c in range(tiles):
            for i in range(lo, hi):
                key = part_k[c, i]
                if key < bound[i - lo] and key < kept_keys[i, KEPT]:
                    _insert_kept(kept_keys[i], kept_pos[i], key, part_p[c, i])
        for i in range(lo, hi):
            kept_keys[i, KEPT] = min(kept_keys[i, KEPT], bound[i - lo])


def _filter_arrays(sz: np.ndarray, width: int, filtered, d: int):
    """``(C32, terms, constants)`` for the scans' kernels: the filter's, with its column terms
    over positions ``[0, width)`` (those `filtered` holds, a store's, or computed here), where
    `filtered` is given and runs, else ``_centroid_filter.no_filter``'s."""
    if filtered is None or not filtered[1][0] > 0:
        return no_filter(d)
    if len(filtered) > 2:
        return filtered[0], filtered[2], filtered[1]
    C32, constants = filtered
    return C32, column_terms(C32, sz, width, constants), constants


def nearest_all(Ct: np.ndarray, sz: np.ndarray, kept=None, filtered=None, X=None):
    """Nearest centroid (position, -1 when none is finite) and w of every position, all of
    them live: :func:`nearest` for every query, with each pair's w computed once instead of
    twice (w is symmetric bit for bit: ``gpuhclust._centroid_rounds``). `kept`: as for
    :func:`nearest`, except that fewer than KEPT entries may be kept, with a lower bound
    (:func:`_combine_tiles`). `filtered`: as for :func:`nearest`; where it is given, the
    tiles whose sizes are all 1 go through the float32 filter (``_filtered_tiles``), with
    the same answer; `X`: the centroids position-major, as they read them (made here when
    not given)."""
    n = Ct.shape[1]
    tiles = -(-n // BLOCK)
    tiles_i, tiles_j = np.triu_indices(tiles)
    # tile-major: a tile's 256 rows (and columns) are contiguous, and no two tiles (nor the
    # threads that compute them) write the same cache line
    part_w = np.empty((tiles, n))
    part_p = np.empty((tiles, n), dtype=np.int64)
    part_k2 = np.empty((tiles, n), dtype=np.int64)
    C32, terms, constants = _filter_arrays(sz, n, filtered, Ct.shape[0])
    # position-major copy for the filtered tiles' exact pairs (none when the filter is off)
    if not constants[0] > 0:
        X = np.empty((0, Ct.shape[0]))
    elif X is None:
        X = np.ascontiguousarray(Ct.T)
    _tile_pairs(Ct, sz, tiles_i.astype(np.int64), tiles_j.astype(np.int64), part_w, part_p,
                part_k2, X, C32, terms, constants,
                max(1, min(len(tiles_i), 4 * numba.get_num_threads())))
    nn = np.empty(n, dtype=np.int64)
    dist = np.empty(n)
    if kept is None:
        kept = (np.empty((n, KEPT + 1), dtype=np.int64),
                np.empty((n, KEPT + 1), dtype=np.int64))
    _combine_tiles(part_w, part_p, part_k2, nn, dist, *kept)
    return nn, dist


@numba.njit(cache=True, error_model="numpy")
def merge_pairs(Ct, sz, px, py, na, nb, X, C32, terms, k_norm):
    """A round's merges (disjoint pairs): the centroid of y becomes the union's, x dies; and
    its position-major copy in `X`, and, when the filter runs (`C32` has columns), its float32
    copy in `C32` and the column terms of both in `terms`."""
    for t in range(px.shape[0]):
        x = px[t]
        y = py[t]
        merge_centroids(Ct, x, y, na[t], nb[t], WARD)
        sz[y] = na[t] + nb[t]
        sz[x] = 0.0
        for k in range(Ct.shape[0]):
            X[y, k] = Ct[k, y]
        if C32.shape[1] > 0:
            for k in range(Ct.shape[0]):
                C32[k, y] = np.float32(Ct[k, y])
            column_term(C32, sz, y, k_norm, terms)
            column_term(C32, sz, x, k_norm, terms)


@numba.njit(cache=True, error_model="numpy")
def gather_front(keep, Ct, X, sz, C32, terms):
    """The positions `keep` (ascending) to the front of every array, in place (position i
    takes ``keep[i]`` >= i: each source is read before anything is written over it); the
    sizes after them become 0. `C32` and `terms` when they have columns."""
    filtered = C32.shape[1] > 0
    for i in range(keep.shape[0]):
        p = keep[i]
        if p == i:
            continue
        for k in range(Ct.shape[0]):
            Ct[k, i] = Ct[k, p]
            X[i, k] = X[p, k]
        sz[i] = sz[p]
        if filtered:
            for k in range(C32.shape[0]):
                C32[k, i] = C32[k, p]
            for k in range(3):
                terms[k, i] = terms[k, p]
    sz[keep.shape[0]:] = 0.0


def nearest(Ct: np.ndarray, sz: np.ndarray, width: int, queries: np.ndarray, threads: int,
            kept=None, filtered=None, seeds=None):
    """Nearest live centroid (position, -1 when none is finite) and w for each query position
    (any order), over positions ``[0, width)``. `kept`: None, or ``(keys, positions)`` arrays
    of shape ``(len(queries), KEPT + 1)`` to receive each query's smallest entries (the keys
    of w, ``_round_rows.smallest_keys``' order; the last column is the bound's). `filtered`:
    None, or ``(C32, constants)``: the centroids rounded to float32 and
    ``_centroid_filter.filter_constants`` (the same answer, computed faster), with a third
    item where the caller keeps the column terms (``_centroid_filter.column_terms``) of every
    position up to date. `seeds`: None, or ``(keys, slots, position, query_slots)``: entries
    of each query known before the scan (see :func:`_nearest`): the query of slot
    ``query_slots[q]`` has ``keys[s]``, ``slots[s]`` (slots, -1 for none; `position` maps a
    slot to its position, -1 once merged away)."""
    nq = len(queries)
    tiles = -(-nq // QUERY_TILE)
    # enough items for every thread; the results do not depend on the chunks
    nchunks = max(1, min(-(-2 * threads // max(tiles, 1)), width // MIN_CHUNK))
    chunk = -(-width // nchunks)
    part_w = np.empty((tiles, nchunks, QUERY_TILE))
    part_p = np.empty((tiles, nchunks, QUERY_TILE), dtype=np.int64)
    part_k = np.empty((tiles, nchunks, QUERY_TILE, KEPT + 1), dtype=np.int64)
    part_kp = np.empty((tiles, nchunks, QUERY_TILE, KEPT + 1), dtype=np.int64)
    queries = np.ascontiguousarray(queries, dtype=np.int64)
    C32, terms, constants = _filter_arrays(sz, width, filtered, Ct.shape[0])
    if seeds is None:
        none = np.empty(0, dtype=np.int64)
        seeds = (np.empty((0, KEPT), dtype=np.int64), np.empty((0, KEPT), dtype=np.int64),
                 none, none)
    args = (Ct, sz, queries, np.int64(width), np.int64(chunk), part_w, part_p, part_k, part_kp,
            C32, terms, constants, *seeds)
    if threads > 1 and nq * width >= SERIAL_MAX_PAIRS:
        _items_parallel(*args)
    else:
        _items_serial(*args)
    nn = np.empty(nq, dtype=np.int64)
    dist = np.empty(nq)
    if kept is None:
        kept = (np.empty((nq, KEPT + 1), dtype=np.int64),
                np.empty((nq, KEPT + 1), dtype=np.int64))
    _combine(part_w, part_p, part_k, part_kp, nq, nn, dist, *kept)
    return nn, dist


@numba.njit(cache=True, error_model="numpy", inline="always")
def _pair_w(X, sz, r, c):
    """w from the centroid at position r (the query) to the one at c, `X` the centroids
    position-major: the arithmetic of a scan (``sq_block``, then the size factor), bit for
    bit."""
    acc = 0.0
    for k in range(X.shape[1]):
        diff = X[r, k] - X[c, k]
        acc += diff * diff
    n_q = sz[r]
    s = sz[c]
    return acc * (n_q * s / (n_q + s))


def pair_dissimilarities(X, sz, rows, cols, out, position=None, threads: int = 1):
    """``out[t]`` = w from the centroid at position ``rows[t]`` (the query) to the one at
    ``cols[t]`` (:func:`_pair_w`; `X` the centroids position-major). With `position` (slot
    -> position), `rows` and `cols` are slots. Shares of :data:`PAIRS_PER_SHARE` pairs or
    more go to `threads` threads."""
    count = len(rows)
    shares = max(1, min(count // PAIRS_PER_SHARE, 2 * threads)) if threads > 1 else 1
    if position is None:
        position = np.empty(0, dtype=np.int64)
    _pair_dissimilarities(X, sz, np.asarray(rows, dtype=np.int64),
                          np.asarray(cols, dtype=np.int64), out, position, shares)


@numba.njit(cache=True, error_model="numpy", parallel=True)
def _pair_dissimilarities(X, sz, rows, cols, out, position, shares):
    count = rows.shape[0]
    slots = position.shape[0] > 0
    for part in numba.prange(shares):
        p = np.int64(part)
        for t in range(p * count // shares, (p + 1) * count // shares):
            r = position[rows[t]] if slots else rows[t]
            c = position[cols[t]] if slots else cols[t]
            out[t] = _pair_w(X, sz, r, c)


@numba.njit(cache=True, error_model="numpy")
def union_candidates(kept_cols, xs, ys, union, alive, bound_keys):
    """The candidates of each union of a round (pair t: x merged into y) whose bound
    ``bound_keys[t]`` is not negative (:meth:`CentroidKept.union_bounds`): the live clusters
    that the kept entries of x and y hold, a cluster merged in the round taken as its union
    (`union`, ``_round_rows.MergedEntries``'), y itself left out; in increasing slot order,
    without duplicates. Returns (starts, slots): pair t's are
    ``slots[starts[t]:starts[t + 1]]``."""
    starts = np.zeros(xs.shape[0] + 1, dtype=np.int64)
    slots = np.empty(2 * KEPT * xs.shape[0], dtype=np.int64)
    count = 0
    for t in range(xs.shape[0]):
        starts[t] = count
        if bound_keys[t] < 0:
            continue
        x = xs[t]
        y = ys[t]
        first = count
        for e in range(2 * KEPT):
            c = kept_cols[x, e] if e < KEPT else kept_cols[y, e - KEPT]
            if union[c] >= 0:
                c = union[c]
            if c >= 0 and c != y and alive[c]:
                count += insert_unique(slots, first, count, c)
    starts[xs.shape[0]] = count
    return starts, slots[:count]


@numba.njit(cache=True, error_model="numpy")
def union_answers(starts, slots, w_keys, bound_keys, taken, found, low, new_keys, new_cols):
    """From the w (as keys) of each union to its candidates (:func:`union_candidates`): where
    the least lies below the bound ``bound_keys[t]`` (every other cluster's w lies above it),
    it is the union's first minimum (``taken[t]``; ``found[t]``, ``low[t]``: the lowest slot
    among equal w, as a scan's lowest position), and ``new_keys[t]``, ``new_cols[t]`` its kept
    entries: the candidates' KEPT smallest, and for the bound the lesser of the next one and
    ``bound_keys[t]``. Returns how many it settles."""
    settled = 0
    for t in range(starts.shape[0] - 1):
        keys = new_keys[t]
        cols = new_cols[t]
        keys[:] = NO_KEY
        cols[:] = -1
        for i in range(starts[t], starts[t + 1]):  # in slot order: equal keys behind
            if w_keys[i] < keys[KEPT]:
                _insert_kept(keys, cols, w_keys[i], slots[i])
        taken[t] = starts[t + 1] > starts[t] and keys[0] < bound_keys[t]
        if taken[t]:
            found[t] = cols[0]
            low[t] = keys[0]
            keys[KEPT] = min(keys[KEPT], bound_keys[t])
            settled += 1
    return settled


class CentroidKept(KeptEntries):
    """Every row's :data:`KEPT` smallest dissimilarities and bound from its last scan, kept
    up to date from round to round in original slots, as
    ``_round_rows.KeptEntries`` keeps them for the matrix; an entry whose cluster merged takes
    the union, its w computed afresh (:func:`pair_dissimilarities`).

    The bound is lowered otherwise, because here a union's centroid is computed, not its
    distances. A row r whose smallest kept w is below the lowered bound has it as its first
    minimum, by this argument (W: w in exact arithmetic on the stored centroids; eps = 2**-53;
    M bounds every coordinate of every centroid; F = r's size):

    * evaluating w (d squares of rounded differences summed, one size factor) is within
      ``g = (d + 6) eps`` of W, relatively (all terms are positive);
    * a merged pair (a, b) were each other's nearest on computed w when each was last scanned,
      so ``W(a, b) <= (1 + g) / (1 - g) * min(W(r, a), W(r, b))`` for every r that existed
      then, and Lance-Williams for the exact mean u' of the stored centroids gives
      ``W(r, u') >= (1 - 2.01 g) min(W(r, a), W(r, b))``;
    * the stored union u differs from u' by at most ``4 eps M`` per coordinate (one product
      each, a sum, a division), ``delta = 4 eps M sqrt(d)`` in all, which moves W by at most
      ``2 delta sqrt(W F) + F delta**2`` (F bounds the size factor: r's size);
    * the clusters not kept at the scan had ``W >= bound / (1 + g)``; each merge lowers that
      by at most one such step, and their computed w is at least ``(1 - g)`` of it.

    The steps are compounded over every merge of the run so far, twice: once for the rounding
    of the union itself, once because r may have formed after a or b was last scanned (then the
    pair's relation to r holds only up to the drops of r's own merges). A drop compounding
    through several such stale relations in a row is covered by the margins alone: the
    constants carry a factor of 2 (g) and 4 (delta) besides, and the drops they bound are
    rare worst cases of rounding. ``test_vector_rounds`` checks a settled answer against a
    rescan of the same row on tie-heavy data and on clusters far from the origin.

    A round's unions, whose rows are new, are settled from the kept entries of their two
    parts (:meth:`union_bounds`, :func:`union_candidates`, :func:`union_answers`): the
    clusters those entries hold are the candidates, and Lance-Williams bounds every other.
    """

    def __init__(self, n: int, d: int, max_coordinate: float):
        super().__init__(n, np.float64)
        self.valid = np.zeros(n, dtype=bool)
        eps = np.ldexp(1.0, -53)
        self.g = 2 * (d + 6) * eps
        # 4 eps M sqrt(d), a factor of 2 on M (a rounded centroid may lie a little outside
        # the observations' range) and a margin of 2
        self.delta = 2 * 4 * eps * 2 * max_coordinate * np.sqrt(d)
        self.row_size = np.ones(n)

    def record(self, rows, keys, cols, k: int) -> None:
        super().record(rows, keys, cols, k)
        self.valid[rows] = True

    def settle_round(self, slots: CentroidSlots, entries, k1: int, rescan, rescan_sizes,
                     union_w, found, dist) -> np.ndarray:
        """As ``_round_rows.LocalRows._settled_by_kept``, for a centroid store after a round's
        merges (`entries`, the driver's; log entries up to k1 - 1; `slots` already updated):
        the kept entries follow the merges and answer the rows of `rescan` (sizes
        `rescan_sizes`) they settle, into `found`, `dist`; so do the kept entries of each
        pair's two parts for its union (:meth:`union_bounds`). The w they need, from each row
        to its entry's union and from each union to its candidates, come from one call of
        ``union_w(new, rows)`` (a scan's arithmetic). Returns the mask of the rows of `rescan`
        still to scan."""
        xs, ys, heights, na, nb = entries
        ys = np.asarray(ys, dtype=np.int64)
        self.row_size[rescan] = rescan_sizes
        alive = slots.position >= 0
        hits = self.merged_entries(xs, ys, alive)
        bounds = self.union_bounds(xs, ys, k1, na, nb, heights)
        starts, candidates = union_candidates(self.cols, np.asarray(xs, dtype=np.int64), ys,
                                              hits.union, alive, bounds)
        followed = len(hits.rows)
        queries = np.repeat(ys, np.diff(starts))
        values = (union_w(np.concatenate([hits.new, candidates]),
                          np.concatenate([hits.rows, queries]))
                  if followed + len(queries) else np.empty(0))
        full = self.follow_and_answer(hits, values[:followed], rescan, k1, found, dist)
        pairs = len(ys)
        taken = np.empty(pairs, dtype=np.bool_)
        first = np.empty(pairs, dtype=np.int64)
        low = np.empty(pairs, dtype=np.int64)
        keys, cols = _kept_buffers(pairs)
        self.settled += union_answers(starts, candidates, values[followed:].view(np.int64),
                                      bounds, taken, first, low, keys, cols)
        # the unions left to scan keep their candidates' entries (not valid as kept entries:
        # no bound), the seeds of their scans (``_nearest``); the others are settled
        self.keys[ys] = keys[:, :KEPT]
        self.cols[ys] = cols[:, :KEPT]
        if taken.any():
            # every y is among the rows to rescan (its neighbour was x)
            where = np.searchsorted(rescan, ys[taken])
            full[where] = False
            found[where] = first[taken]
            dist[where] = low[taken].view(np.float64)
            self.record(ys[taken], keys[taken], cols[taken], k1)
        return full

    def union_bounds(self, xs, ys, k: int, na, nb, heights) -> np.ndarray:
        """For the unions of a round's pairs (x of size `na` merged into y of size `nb` at w
        `heights`; log entries up to k - 1): a lower bound, as a key (-1 for none), of the w
        from each union to every live cluster r that neither x's nor y's kept entries hold
        (:func:`union_candidates`).

        Such an r has ``W(x, r) >= T_x`` and ``W(y, r) >= T_y``, the rows' bounds lowered as
        for a settle (the union's size for F). Lance-Williams for the exact mean u' of the
        stored centroids, ``W(u', r) = ((na + n_r) W(x, r) + (nb + n_r) W(y, r) - n_r W(x, y))
        / (na + nb + n_r)``, is monotone in n_r, so at least the lesser of its values for
        ``n_r = 1`` and ``n_r -> inf`` (``T_x + T_y - W(x, y)``), with W(x, y) taken from above
        (the computed w over ``1 - 2 g``). The stored union lies within delta of u' (the class
        docstring's step), and the computed w is at least ``1 - g`` of W."""
        out = np.empty(len(xs), dtype=np.int64)
        _union_bound_keys(self.bound, self.valid, np.asarray(xs, dtype=np.int64),
                          np.asarray(ys, dtype=np.int64), np.asarray(na, dtype=np.float64),
                          np.asarray(nb, dtype=np.float64),
                          np.asarray(heights, dtype=np.float64), self._lowering(k),
                          self.inf_key, out)
        return out

    def _lowered_bound(self, rows, k: int) -> np.ndarray:
        out = np.empty(len(rows), dtype=np.int64)
        _lowered_keys(self.bound, self.valid, self.row_size, np.asarray(rows, dtype=np.int64),
                      self._lowering(k), self.inf_key, out)
        return out

    def _lowering(self, k: int) -> np.ndarray:
        """``[decay, merges, g, delta]`` of :func:`_true_low` after log entries up to k - 1:
        every merge so far counted twice (the class docstring)."""
        merges = 2.0 * (k + 1)
        decay = math.exp(merges * math.log1p(-2.01 * self.g))
        return np.array([decay, merges, self.g, self.delta])


@numba.njit(cache=True, error_model="numpy", inline="always")
def _true_low(bound, valid, F, lowering, inf_key, one):
    """A lower bound of the exact W from a row (its kept bound the key `bound`, `valid` its
    kept entries) to every live cluster its kept entries do not hold (F bounds the size
    factor; `lowering` as :meth:`CentroidKept._lowering` has it; `one` scratch): +inf where
    they hold every one, -inf where the row has none."""
    if not valid:
        return -np.inf
    if bound >= inf_key:
        return np.inf
    decay, merges, g, delta = lowering[0], lowering[1], lowering[2], lowering[3]
    one.view(np.int64)[0] = bound
    low = one[0] / (1 + g)
    return low * decay - merges * (2 * delta * math.sqrt(low * F) + F * delta * delta)


@numba.njit(cache=True, error_model="numpy", inline="always")
def _as_key(low, inf_key, one):
    """A lower bound of computed w as a key: -1 where not positive (no bound), `inf_key`
    where infinite (`one` scratch)."""
    if low == np.inf:
        return inf_key
    if low > 0:
        one[0] = low
        return one.view(np.int64)[0]
    return np.int64(-1)


@numba.njit(cache=True, error_model="numpy")
def _lowered_keys(bound, valid, row_size, rows, lowering, inf_key, out):
    """``out[t]``: the lowered bound of row ``rows[t]`` as a key
    (:meth:`CentroidKept._lowered_bound`)."""
    g = lowering[2]
    one = np.empty(1)
    for t in range(rows.shape[0]):
        r = rows[t]
        low = _true_low(bound[r], valid[r], row_size[r], lowering, inf_key, one)
        out[t] = _as_key(low * (1 - g), inf_key, one)


@numba.njit(cache=True, error_model="numpy")
def _union_bound_keys(bound, valid, xs, ys, na, nb, heights, lowering, inf_key, out):
    """``out[t]``: :meth:`CentroidKept.union_bounds` of pair t."""
    g, delta = lowering[2], lowering[3]
    one = np.empty(1)
    for t in range(xs.shape[0]):
        n_u = na[t] + nb[t]
        tx = _true_low(bound[xs[t]], valid[xs[t]], n_u, lowering, inf_key, one)
        ty = _true_low(bound[ys[t]], valid[ys[t]], n_u, lowering, inf_key, one)
        if tx == -np.inf or ty == -np.inf:
            out[t] = -1
            continue
        if bound[xs[t]] == NO_KEY or bound[ys[t]] == NO_KEY:
            # one part's entries hold every live cluster: there is no other
            out[t] = inf_key
            continue
        if tx == np.inf or ty == np.inf:
            # a part's bound is +inf: the clusters it does not hold lie at +inf from it (w
            # overflowed) but may not from the union; no bound
            out[t] = -1
            continue
        w_xy = heights[t] / (1 - 2 * g)
        low = min(((na[t] + 1.0) * tx + (nb[t] + 1.0) * ty - w_xy) / (n_u + 1.0),
                  tx + ty - w_xy)
        low -= 2 * delta * math.sqrt(max(low, 0.0) * n_u) + n_u * delta * delta
        out[t] = _as_key(low * (1 - g), inf_key, one)


class CentroidRows:
    """The centroids `Ct` (features first, float64, taken over) as a
    ``gpuhclust._rounds.RowStore`` for ward."""

    name = "backend='cpu' engine='vector' (rounds)"

    def __init__(self, Ct: np.ndarray, threads: int, kept: bool = True, filtered: bool = True):
        n = Ct.shape[1]
        self.Ct = Ct
        #: the centroids position-major, for the exact w of single pairs (a centroid in two
        #: cache lines rather than d) and the first scan's filtered tiles
        self.X = Ct.T.copy()  # a copy even where Ct.T is contiguous (one feature)
        self.sz = np.ones(n)
        self.slots = CentroidSlots(n)
        self.threads = threads
        self.compactions = 0
        self.pairs = 0  # (query, position) dissimilarities computed
        self.kept = None
        largest = float(np.abs(Ct).max()) if Ct.size else 0.0
        if kept:
            self.kept = CentroidKept(n, Ct.shape[0], largest)
        #: the float32 filter of the rescans (``_centroid_filter``): the centroids rounded to
        #: float32, its constants and the column terms, kept up to date (no columns when it
        #: does not run)
        constants = filter_constants(Ct.shape[0], largest) if filtered else np.zeros(3)
        if constants[0] > 0:
            self.C32 = Ct.astype(np.float32)
            self.terms = column_terms(self.C32, self.sz, n, constants)
        else:
            self.C32, self.terms, constants = no_filter(Ct.shape[0])
        self.filtered = (self.C32, constants, self.terms)

    def _nearest(self, slots: np.ndarray, k: int = 0, seeded: bool = False):
        self.pairs += len(slots) * self.slots.width
        keys = np.empty((len(slots), KEPT + 1), dtype=np.int64)
        pos = np.empty((len(slots), KEPT + 1), dtype=np.int64)
        seeds = None
        if seeded and self.kept is not None:
            seeds = (self.kept.keys, self.kept.cols, self.slots.position,
                     np.asarray(slots, dtype=np.int64))
        nn, dist = nearest(self.Ct, self.sz, self.slots.width, self.slots.positions(slots),
                           self.threads, (keys, pos), self.filtered, seeds)
        if self.kept is not None:
            self.kept.record(slots, keys, self.slots.slots(pos), k)
        return self.slots.slots(nn), dist

    def scan_all(self):
        n = self.Ct.shape[1]
        if not first_scan_bytes(n):
            nn, dist = self._nearest(np.arange(n, dtype=np.int64))
            self._keep_filter_if_it_pays(dist)
            return nn, dist
        self.pairs += n * (n + 1) // 2
        keys = np.empty((n, KEPT + 1), dtype=np.int64)
        pos = np.empty((n, KEPT + 1), dtype=np.int64)
        nn, dist = nearest_all(self.Ct, self.sz, (keys, pos), self.filtered, self.X)
        if self.kept is not None:
            self.kept.record(np.arange(n), keys, self.slots.slots(pos), 0)
        self._keep_filter_if_it_pays(dist)
        return nn, dist

    def _keep_filter_if_it_pays(self, dist: np.ndarray) -> None:
        """After the first scan (every size 1, so a squared distance is 2 w): turn the filter
        off where its rounding term for a typical pair is not small against a typical positive
        distance to a nearest neighbour, as for tight clusters far from the data's middle;
        there it would let whole clusters through, and only cost. (Duplicates, at distance 0,
        say nothing about that; with nothing but duplicates it stays on: it rules out every
        other point.)"""
        constants = self.filtered[1]
        positive = dist[np.isfinite(dist) & (dist > 0)]
        if not constants[0] > 0 or not len(positive):
            return
        noise = constants[1] * 2 * float(np.median(self.terms[0]))
        if not noise < FILTER_NOISE_MAX * 2 * float(np.median(positive)):
            self.C32, self.terms, constants = no_filter(self.Ct.shape[0])
            self.filtered = (self.C32, constants, self.terms)

    def run_round(self, entries, k0: int, rescan: np.ndarray):
        xs, ys = entries[0], entries[1]
        k1 = k0 + len(xs)
        if len(xs):
            merge_pairs(self.Ct, self.sz, *self.slots.merge(entries), self.X, self.C32,
                        self.terms, self.filtered[1][1])
        keep = self.slots.compaction()
        if keep is not None:
            gather_front(keep, self.Ct, self.X, self.sz, self.C32, self.terms)
            self.compactions += 1
        if self.kept is None:
            return self._nearest(rescan, k1)
        found = np.empty(len(rescan), dtype=np.int64)
        dist = np.empty(len(rescan))
        full = self._settled_by_kept(entries, k1, rescan, found, dist)
        found[full], dist[full] = self._nearest(rescan[full], k1, seeded=True)
        return found, dist

    def _settled_by_kept(self, entries, k1, rescan, found, dist) -> np.ndarray:
        """The kept entries follow the round's merges and answer the rows of `rescan` they
        settle, unions included (:meth:`CentroidKept.settle_round`); returns the mask of the
        others."""
        def union_w(new, rows):
            out = np.empty(len(rows))
            pair_dissimilarities(self.X, self.sz, rows, new, out, self.slots.position,
                                 self.threads)
            return out

        return self.kept.settle_round(self.slots, entries, k1, rescan,
                                      self.sz[self.slots.positions(rescan)], union_w, found,
                                      dist)
