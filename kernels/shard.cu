// Row shards of the distributed engine (gpuhclust/dask/_shard.py) on a worker's GPU: rows
// r0:r0+m of the square n x n matrix (+inf on the diagonal), stored as D[(r - r0) * n + j].
//
// The arithmetic and the order of operations are the Numba shards' (gpuhclust/dask/_rounds.py,
// _boruvka.py, gpuhclust/cpu/_lazy_matrix.py), so with --fmad=false both give the same Z, bit for
// bit:
// - distances: pair_distance(r, j) of metrics.cuh, the pair in the Numba shard's order;
// - rows stay lazy: a row replays the merge log entries it has not seen, in log order, with the
//   Lance-Williams expression of lance_williams.cuh, just before it is read (shard_rescan,
//   shard_replay, which also runs just before shard_merge), as gpuhclust.cpu._lazy_matrix.replay
//   does;
// - argmins take the lowest index among equal distances (block_argmin of common.cuh).
//
// The merge log is five arrays indexed by entry k: slot log_a[k] merged into slot log_b[k] at
// height log_h[k], with sizes log_na[k] and log_nb[k]. last[i] is the first entry row i has not
// replayed; size[c] is the size of cluster c (0: dead) before the entries being applied.
#include "metrics.cuh"
#include "lance_williams.cuh"

// Bring one row up to date with log entries [*last, upto); its cluster has kept size `size_i`
// all along. One thread: each entry reads the value the one before it may have written.
template <typename T>
__device__ void replay_row(T* row, long long* last, long long upto, const long long* log_a,
                           const long long* log_b, const double* log_h,
                           const long long* log_na, const long long* log_nb, long long size_i,
                           int method) {
    for (long long t = *last; t < upto; ++t) {
        const long long a = log_a[t];
        const long long b = log_b[t];
        row[b] = (T)lance_williams(method, (double)row[a], (double)row[b], log_h[t], log_na[t],
                                   log_nb[t], size_i);
        row[a] = (T)gh_inf();
    }
    if (upto > *last) *last = upto;
}

// Rows r0:r0+m of the distance matrix of the observations X (n x d, row-major).
template <typename T>
__global__ void shard_fill_rows(const double* X, long long n, int d, int metric, double p,
                                const double* aux, const double* weights, const double* vi,
                                long long r0, long long m, T* D) {
    const Metric mt = make_metric(metric, d, p, aux, weights, vi);
    for (long long idx = blockIdx.x * (long long)blockDim.x + threadIdx.x; idx < m * n;
         idx += (long long)gridDim.x * blockDim.x) {
        const long long r = r0 + idx / n;
        const long long j = idx % n;
        D[idx] = (T)(j == r ? gh_inf() : pair_distance(mt, X, r, j));
    }
}

// Place the pieces of condensed rows c0:c1 packed by gpuhclust.dask._shard.pack_condensed
// (offsets[c - c0]: where row c's piece starts in `packed`): D[c, j] and its mirror D[j, c]
// where they are rows of this shard. Adding +0.0 turns -0.0 into +0.0, as the Numba shard does.
template <typename T>
__global__ void shard_unpack_condensed(const double* packed, const long long* offsets,
                                       long long n, long long c0, long long c1, long long r0,
                                       long long m, T* D) {
    const long long r1 = r0 + m;
    for (long long c = c0 + blockIdx.x; c < c1; c += gridDim.x) {
        const double* piece = packed + offsets[c - c0];
        if (c < r0) {
            for (long long j = r0 + threadIdx.x; j < r1; j += blockDim.x) {
                D[(j - r0) * n + c] = (T)(piece[j - r0] + 0.0);
            }
        } else if (c < r1) {
            if (threadIdx.x == 0) D[(c - r0) * n + c] = (T)gh_inf();
            for (long long j = c + 1 + threadIdx.x; j < n; j += blockDim.x) {
                const T value = (T)(piece[j - c - 1] + 0.0);
                D[(c - r0) * n + j] = value;
                if (j < r1) D[(j - r0) * n + c] = value;
            }
        }
    }
}

// The first entry (row-major over the shard) off the diagonal that is NaN or infinite: its
// linear index in the shard goes to *first (which the host sets to all ones).
template <typename T>
__global__ void shard_first_non_finite(const T* D, long long n, long long r0, long long m,
                                       unsigned long long* first) {
    for (long long idx = blockIdx.x * (long long)blockDim.x + threadIdx.x; idx < m * n;
         idx += (long long)gridDim.x * blockDim.x) {
        if (idx % n != r0 + idx / n && !(fabs((double)D[idx]) < gh_inf())) {
            atomicMin(first, (unsigned long long)idx);
        }
    }
}

// Rows rows[0:count] brought up to log entry uptos[t] (one thread per row).
template <typename T>
__global__ void shard_replay(T* D, long long n, long long r0, int method, const long long* size,
                             long long* last, const long long* log_a, const long long* log_b,
                             const double* log_h, const long long* log_na,
                             const long long* log_nb, const long long* rows, long long count,
                             const long long* uptos) {
    for (long long t = blockIdx.x * (long long)blockDim.x + threadIdx.x; t < count;
         t += (long long)gridDim.x * blockDim.x) {
        const long long i = rows[t] - r0;
        replay_row(D + i * n, last + i, uptos[t], log_a, log_b, log_h, log_na, log_nb,
                   size[rows[t]], method);
    }
}

// Rows rows[0:count] brought up to log entry `upto`, then their nearest neighbour (lowest index
// among equals, -1 when every entry is +inf or NaN) and its distance: one block per row.
template <typename T>
__global__ void shard_rescan(T* D, long long n, long long r0, int method, const long long* size,
                             long long* last, const long long* log_a, const long long* log_b,
                             const double* log_h, const long long* log_na,
                             const long long* log_nb, const long long* rows, long long count,
                             long long upto, long long* nn, double* dist) {
    for (long long t = blockIdx.x; t < count; t += gridDim.x) {
        const long long i = rows[t] - r0;
        if (threadIdx.x == 0) {
            replay_row(D + i * n, last + i, upto, log_a, log_b, log_h, log_na, log_nb,
                       size[rows[t]], method);
        }
        __syncthreads();
        const ArgMin best = block_row_argmin(D + i * n, 0, n);
        if (threadIdx.x == 0) {
            nn[t] = best.index;
            dist[t] = best.value;  // +inf when index is -1
        }
    }
}

// Size of cluster j as log entry k sees it, while entries k0.. of a batch are applied at once:
// entry_of[j] is the batch offset of the entry that merges j (as either end), or -1. Entries
// of one batch merge disjoint pairs, so only an earlier entry of the batch can have changed j.
__device__ __forceinline__ long long size_at(long long j, long long k, long long k0,
                                             const long long* size, const long long* entry_of,
                                             const long long* log_b, const long long* log_na,
                                             const long long* log_nb) {
    const long long e = entry_of[j];
    if (e < 0 || k0 + e >= k) return size[j];
    return j == log_b[k0 + e] ? log_na[k0 + e] + log_nb[k0 + e] : 0;
}

// Apply the log entries ks[0:count] of the batch starting at entry k0 whose target row y is
// held here: row y becomes the Lance-Williams combination with row x (this shard's row, or
// foreign[pos[k - k0]] from x's shard), and entries x and y of it become +inf, as
// gpuhclust.dask._rounds.apply_merges does. Both rows must already be replayed up to entry k
// (shard_replay, launched just before). One thread per (entry, column), grid-stride: the
// entries of a batch merge disjoint pairs and each element of row y is read and written by
// its own thread only, so every block of the device works on the round's merges.
template <typename T>
__global__ void shard_merge(T* D, long long n, long long r0, int method, const long long* size,
                            long long* last, const long long* log_a, const long long* log_b,
                            const double* log_h, const long long* log_na,
                            const long long* log_nb, long long k0, const long long* ks,
                            long long count, const long long* entry_of, const T* foreign,
                            const long long* pos) {
    for (long long idx = blockIdx.x * (long long)blockDim.x + threadIdx.x; idx < count * n;
         idx += (long long)gridDim.x * blockDim.x) {
        const long long t = idx / n;
        const long long j = idx % n;
        const long long k = ks[t];
        const long long x = log_a[k];
        const long long y = log_b[k];
        const long long p = pos[k - k0];
        T* row_y = D + (y - r0) * n;
        const T* row_x = p >= 0 ? foreign + p * n : D + (x - r0) * n;
        if (j == x || j == y) {
            row_y[j] = (T)gh_inf();
        } else {
            const long long size_j = size_at(j, k, k0, size, entry_of, log_b, log_na, log_nb);
            row_y[j] = (T)lance_williams(method, (double)row_x[j], (double)row_y[j], log_h[k],
                                         log_na[k], log_nb[k], size_j);
        }
        if (j == 0) last[y - r0] = k + 1;  // replayed up to k by shard_replay, now merged
    }
}

// Boruvka: each row's cheapest edge to another component (lowest column among equals), kept
// while its far end is still in another component, as gpuhclust.dask._boruvka.scan_rows does.
// best_c[i] = -1 when every other observation is in row i's component. One block per row.
template <typename T>
__global__ void shard_boruvka(const T* D, long long n, long long r0, long long m,
                              const long long* comp, double* best_d, long long* best_c) {
    for (long long i = blockIdx.x; i < m; i += gridDim.x) {
        const long long cr = comp[r0 + i];
        const long long cached = best_c[i];
        if (cached >= 0 && comp[cached] != cr) continue;  // the whole block skips the row
        const T* row = D + i * n;
        ArgMin a = argmin_none();
        for (long long j = threadIdx.x; j < n; j += blockDim.x) {
            if (comp[j] != cr) argmin_take(a, (double)row[j], j);
        }
        a = block_argmin(a);
        if (threadIdx.x == 0) {
            best_d[i] = a.value;
            best_c[i] = a.index;
        }
    }
}
