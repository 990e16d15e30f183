// The local GPU rounds' row store (gpuhclust/cuda/_round_rows.py): the whole square n x n
// matrix (+inf on the diagonal) on one device, D[i * n + j], every live row kept up to date at
// merge time, so a rescan reads its row as it is (no replay of the merge log).
//
// The values are those of the lazy rows (kernels/shard.cu, gpuhclust/cpu/_lazy_matrix.py),
// bit for bit: there, row j replays log entry k (x merged into y, height h, sizes na and nb) as
//     row_j[y] = LW(row_j[x], row_j[y], h, na, nb, size of j),   row_j[x] = +inf,
// and the merge computes row_y[j] = LW(row_x[j], row_y[j], h, na, nb, size of j) from both rows
// brought up to entry k. The live part of the matrix stays exactly symmetric, so both are the
// same expression on the same operands: writing the merge's value into column y too is the
// replay done at once. The replay's +inf in column x is not written: a dead cluster's column is
// skipped by every reader (its size is 0), which saves the merge one of its two scattered
// (column) writes per element. The entries of a round merge disjoint pairs and apply in log order;
// entry k reads the columns of the round's other pairs as the entries before k left them. Only
// the 2 x 2 block of D between two pairs t < u of the round depends on both entries, and on
// nothing else of the round: one thread computes it, entry t then entry u, as the replay would.
// Every other element (pair t, column j outside the round) depends on entry t alone.
//
// mark[j] is the log entry that merged cluster j (as either end), -1 before any: entries
// k0..k0+count-1 are the round being applied, smaller ones past rounds' (so it is never reset).
// size[j] is cluster j's size (0: dead); a dead cluster's row and column are never read again
// (the merge and the rescan skip them; the gather leaves them out). Both are 32-bit (n x n
// elements fit in memory, so n < 2^31): every thread of a merge reads them, and they are half
// its reads.
#include "lance_williams.cuh"

// The round's pairs take their marks and their sizes after the round (the merge reads the
// round's own sizes from the entries, and only other clusters' from `size`).
extern "C" __global__ void round_mark(int* mark, int* size, long long k0,
                                      const long long* xs, const long long* ys,
                                      const long long* nas, const long long* nbs,
                                      long long count) {
    for (long long t = blockIdx.x * (long long)blockDim.x + threadIdx.x; t < count;
         t += (long long)gridDim.x * blockDim.x) {
        mark[xs[t]] = (int)(k0 + t);
        mark[ys[t]] = (int)(k0 + t);
        size[xs[t]] = 0;
        size[ys[t]] = (int)(nas[t] + nbs[t]);
    }
}

// The 2 x 2 block between pairs t < u of a round ((x, y) merged at entry t, then (xu, yu)):
// entry t makes row y's columns xu, yu (a, b, stored as T), entry u combines them into the
// distance between the two unions, as row y's replay of entry u and row yu's merge both do.
template <typename T>
__device__ void merge_two_pairs(T* D, long long n, int method, long long x, long long y,
                                double h, long long na, long long nb, long long xu,
                                long long yu, double hu, long long nau, long long nbu) {
    const T a = (T)lance_williams(method, (double)D[x * n + xu], (double)D[y * n + xu], h, na,
                                  nb, nau);
    const T b = (T)lance_williams(method, (double)D[x * n + yu], (double)D[y * n + yu], h, na,
                                  nb, nbu);
    const T c = (T)lance_williams(method, (double)a, (double)b, hu, nau, nbu, na + nb);
    D[y * n + yu] = c;
    D[yu * n + y] = c;
}

// Apply the round's log entries (xs, ys, hs, nas, nbs)[0:count], the first being entry k0,
// after round_mark. One thread per (pair t, column j): pairs over blockIdx.y, columns over
// blockIdx.x and the threads, both grid-stride (no 64-bit division splits a linear index). j
// outside the round gets row y's value in row y and column y; j = y_u of a later pair u of the
// round takes the 2 x 2 block of pairs t and u; the round's other columns are dead ones.
template <typename T>
__global__ void round_merge(T* D, long long n, int method, const int* size, const int* mark,
                            long long k0, const long long* xs, const long long* ys,
                            const double* hs, const long long* nas, const long long* nbs,
                            long long count) {
    for (long long t = blockIdx.y; t < count; t += gridDim.y) {
        for (long long j = blockIdx.x * (long long)blockDim.x + threadIdx.x; j < n;
             j += (long long)gridDim.x * blockDim.x) {
            const long long x = xs[t];
            const long long y = ys[t];
            const long long u = (long long)mark[j] - k0;
            if (u >= 0 && u < count) {  // j is one end of a pair of this round
                // the block of pairs t, u is thread (t, y_u)'s
                if (j == ys[u] && u > t) {
                    merge_two_pairs(D, n, method, x, y, hs[t], nas[t], nbs[t], xs[u], j, hs[u],
                                    nas[u], nbs[u]);
                }
                continue;
            }
            const long long size_j = (long long)size[j];
            if (size_j == 0) continue;
            const T value = (T)lance_williams(method, (double)D[x * n + j], (double)D[y * n + j],
                                              hs[t], nas[t], nbs[t], size_j);
            D[y * n + j] = value;
            D[j * n + y] = value;
        }
    }
}

// Rows rows[0:count]: their nearest live neighbour (lowest index among equals, -1 when every
// live entry is +inf or NaN) and its distance. One block per row, grid-stride; `size` is in
// L2 for any n whose matrix fits, so skipping the dead columns costs the scan little.
template <typename T>
__global__ void round_rescan(const T* D, long long n, const int* size, const long long* rows,
                             long long count, long long* nn, double* dist) {
    for (long long t = blockIdx.x; t < count; t += gridDim.x) {
        const T* row = D + rows[t] * n;
        ArgMin a = argmin_none();
        for (long long j = threadIdx.x; j < n; j += blockDim.x) {
            if (size[j] != 0) argmin_take(a, (double)row[j], j);
        }
        const ArgMin best = block_argmin(a);
        if (threadIdx.x == 0) {
            nn[t] = best.index;
            dist[t] = best.value;  // +inf when index is -1
        }
    }
}

// The live rows and columns `live[0:m]` (ascending) of the n x n matrix D gathered into the
// m x m matrix out (another allocation): rows and columns keep their order, so the lowest
// index among equal distances is the same cluster before and after. One block per row
// (grid-stride), its columns across the threads: no 64-bit division splits a linear index.
template <typename T>
__global__ void round_gather(const T* D, long long n, const long long* live, long long m,
                             T* out) {
    for (long long r = blockIdx.x; r < m; r += gridDim.x) {
        const T* row = D + live[r] * n;
        for (long long c = threadIdx.x; c < m; c += blockDim.x) {
            out[r * m + c] = row[live[c]];
        }
    }
}
