// The local GPU rounds' row store (gpuhclust/cuda/_round_rows.py): the whole square n x n
// matrix (+inf on the diagonal) on one device, D[i * n + j]. A merge writes its union's row and
// nothing else; no row replays the merge log when read.
//
// Where a distance lives. mark[j] is the log entry that formed the cluster in slot j (the entry
// that merged it, as either end; -1 for an observation never merged, and every slot after a
// gather): for a live slot, its birth. The current distance between live clusters i and j is
// held by the row of the younger one, the later mark:
//     d(i, j) = mark[j] > mark[i] ? D[j * n + i] : D[i * n + j]      (held)
// and by both rows where the marks are equal (only -1: the fill and the gather write both). A
// merge (x into y at entry k) writes the union's row y in full, so the union, the youngest
// cluster, owns all its distances; the old entries in column y of the other rows are stale and
// never read again. So a merge writes one row (whole 32-byte sectors) instead of its row and
// its column (one sector written in part per live row), and a read of row i gathers the
// entries of younger clusters down their rows' column i instead.
//
// The values are those of the lazy rows (kernels/shard.cu, gpuhclust/cpu/_lazy_matrix.py),
// bit for bit: there, row j replays log entry k (x merged into y, height h, sizes na and nb) as
//     row_j[y] = LW(row_j[x], row_j[y], h, na, nb, size of j),   row_j[x] = +inf,
// and the merge computes row_y[j] = LW(row_x[j], row_y[j], h, na, nb, size of j) from both rows
// brought up to entry k: the same expression on the same operands, which the owner rule reads
// (the matrix of owned distances is the lazy rows' live part, symmetric). The entries of a
// round merge disjoint pairs and apply in log order; entry k reads the distances of the round's
// other pairs as the entries before k left them. Only the 2 x 2 block between two pairs t < u of
// the round depends on both entries, and on nothing else of the round: one thread computes it,
// entry t then entry u, as the replay would. Every other element (pair t, column j outside the
// round) depends on entry t alone. The merge reads the round's own clusters' marks as they were
// before the round (`prior`, saved by round_mark).
//
// mark is never reset but by a gather (entries k0..k0+count-1 are the round being applied,
// smaller ones past rounds'). size[j] is cluster j's size (0: dead); a dead cluster's distances
// are never read again (the merge and the rescan skip them; the gather leaves them out). Both
// are 32-bit (n x n elements fit in memory, so n < 2^31): every thread of a merge reads them.
#include "kept.cuh"
#include "lance_williams.cuh"

// The round's pairs take their marks and their sizes after the round (the merge reads the
// round's own sizes from the entries, and only other clusters' from `size`); prior[t] and
// prior[count + t] keep the marks of xs[t] and ys[t] from before.
extern "C" __global__ void round_mark(int* mark, int* size, int* prior, long long k0,
                                      const long long* xs, const long long* ys,
                                      const long long* nas, const long long* nbs,
                                      long long count) {
    for (long long t = blockIdx.x * (long long)blockDim.x + threadIdx.x; t < count;
         t += (long long)gridDim.x * blockDim.x) {
        prior[t] = mark[xs[t]];
        prior[count + t] = mark[ys[t]];
        mark[xs[t]] = (int)(k0 + t);
        mark[ys[t]] = (int)(k0 + t);
        size[xs[t]] = 0;
        size[ys[t]] = (int)(nas[t] + nbs[t]);
    }
}

// The distance between live clusters i and j (marks mark_i, mark_j) from the row that holds it:
// row i where i is strictly the younger, row j otherwise (on equal marks both rows hold it, so
// the caller picks the row by the order of the arguments).
template <typename T>
__device__ __forceinline__ T held(const T* D, long long n, long long i, int mark_i, long long j,
                                  int mark_j) {
    return mark_i > mark_j ? D[i * n + j] : D[j * n + i];
}

// The distance between the unions of two pairs of a round, (x1, y1) merged at its entry and
// then (x2, y2) at a later one (marks from before the round): entry 1 makes the distances from
// its union to x2 and y2 (a, b, stored as T), entry 2 combines them, as row y1's replay of entry
// 2 and row y2's merge both do. Which row each operand is read from matters (see round_merge):
// on equal marks, d(y1, x2) from row x2, d(x1, y2) from row x1, d(y1, y2) from row y2.
template <typename T>
__device__ T union_to_union(const T* D, long long n, int method, long long x1, int mx1,
                            long long y1, int my1, double h1, long long na1, long long nb1,
                            long long x2, int mx2, long long y2, int my2, double h2,
                            long long na2, long long nb2) {
    const T a = (T)lance_williams(method, (double)held(D, n, x1, mx1, x2, mx2),
                                  (double)held(D, n, y1, my1, x2, mx2), h1, na1, nb1, na2);
    const T b = (T)lance_williams(method, (double)held(D, n, y2, my2, x1, mx1),
                                  (double)held(D, n, y1, my1, y2, my2), h1, na1, nb1, nb2);
    return (T)lance_williams(method, (double)a, (double)b, h2, na2, nb2, na1 + nb1);
}

// Apply the round's log entries (xs, ys, hs, nas, nbs)[0:count], the first being entry k0,
// after round_mark. One thread per (pair t, column j): pairs over blockIdx.y, columns over
// blockIdx.x and the threads, both grid-stride (no 64-bit division splits a linear index).
// Thread (t, j) writes D[y * n + j] and nothing else, so each row y is written in whole
// sectors (a warp's consecutive columns) unless a value there must be kept for another thread:
// - j outside the round: the union's distance to j (its operands held by rows x and y, or by
//   row j where j is the younger); +inf where j is dead (never read: it keeps the sectors
//   whole);
// - j = y_u of an earlier pair u: the distance between the two unions (union_to_union, pair u
//   first), which row y, the younger union's, holds from now on;
// - j = x or y itself, x_u of another pair or y_u of a later one: +inf (x and x_u die; row y_u
//   holds the unions' distance), except where union_to_union of the pairs t and u reads this
//   element (row y strictly younger than j before the round), which is left as it is.
// So no thread writes what another reads: rows x and rows outside the round are read only,
// and of row y, the elements other threads read are the ones left as they are.
template <typename T>
__global__ void round_merge(T* D, long long n, int method, const int* size, const int* mark,
                            const int* prior, long long k0, const long long* xs,
                            const long long* ys, const double* hs, const long long* nas,
                            const long long* nbs, long long count) {
    for (long long t = blockIdx.y; t < count; t += gridDim.y) {
        const long long x = xs[t];
        const long long y = ys[t];
        const int mx = prior[t];
        const int my = prior[count + t];
        for (long long j = blockIdx.x * (long long)blockDim.x + threadIdx.x; j < n;
             j += (long long)gridDim.x * blockDim.x) {
            const int mark_j = mark[j];
            const long long u = (long long)mark_j - k0;
            T value = (T)gh_inf();
            if (u >= 0 && u < count) {  // j is one end of a pair of this round
                if (u != t) {
                    const bool second = j == ys[u];
                    if (second && u < t) {
                        value = union_to_union(D, n, method, xs[u], prior[u], j,
                                               prior[count + u], hs[u], nas[u], nbs[u], x, mx,
                                               y, my, hs[t], nas[t], nbs[t]);
                    } else if (my > (second ? prior[count + u] : prior[u])) {
                        continue;  // union_to_union of pairs t and u reads it
                    }
                }
            } else {
                const long long size_j = (long long)size[j];
                if (size_j != 0) {
                    value = (T)lance_williams(method, (double)held(D, n, j, mark_j, x, mx),
                                              (double)held(D, n, j, mark_j, y, my), hs[t],
                                              nas[t], nbs[t], size_j);
                }
            }
            D[y * n + j] = value;
        }
    }
}

// Rows rows[0:count]: their nearest live neighbour (lowest index among equals, -1 when every
// live entry is +inf or NaN) and its distance, each distance read where its younger end holds
// it. One block per row, grid-stride; `size` and `mark` are in L2 for any n whose matrix fits,
// so skipping the dead columns costs the scan little.
template <typename T>
__global__ void round_rescan(const T* D, long long n, const int* size, const int* mark,
                             const long long* rows, long long count, long long* nn,
                             double* dist) {
    for (long long t = blockIdx.x; t < count; t += gridDim.x) {
        const long long r = rows[t];
        const int mark_r = mark[r];
        ArgMin a = argmin_none();
        for (long long j = threadIdx.x; j < n; j += blockDim.x) {
            if (size[j] != 0) argmin_take(a, (double)held(D, n, j, mark[j], r, mark_r), j);
        }
        const ArgMin best = block_argmin(a);
        if (threadIdx.x == 0) {
            nn[t] = best.index;
            dist[t] = best.value;  // +inf when index is -1
        }
    }
}

// A distance's key for the kept lists (kept.cuh): its bits as a signed integer, as the CPU rows
// read their storage (gpuhclust/cpu/_lazy_matrix.py, int_keys).
__device__ __forceinline__ long long distance_key(float v) { return (long long)__float_as_int(v); }
__device__ __forceinline__ long long distance_key(double v) { return __double_as_longlong(v); }

// round_rescan for rows of non-negative distances, keeping each row's GH_KEPT + 1 smallest
// entries too (kept.cuh's order, the CPU rows' smallest_keys), in two launches. Here block
// (s, t) scans split s of row t, the columns [s chunk, (s + 1) chunk), so that a round with few
// rows to scan still fills the device: each warp folds its lanes' entries (in column order) into
// a list of its own, then thread 0 merges the warps' lists into the split's,
// part_key/part_pos[(t splits + s) GH_KEPT_LIST + e]. Splits over blockIdx.x, rows over
// blockIdx.y, grid-stride.
template <typename T>
__global__ void round_rescan_kept(const T* D, long long n, const int* size, const int* mark,
                                  const long long* rows, long long count, long long splits,
                                  long long chunk, long long* part_key, long long* part_pos) {
    __shared__ long long s_key[32 * GH_KEPT_LIST];
    __shared__ long long s_pos[32 * GH_KEPT_LIST];
    const int lane = threadIdx.x & 31;
    const int warp = threadIdx.x >> 5;
    const int nwarps = (blockDim.x + 31) >> 5;
    for (long long t = blockIdx.y; t < count; t += gridDim.y) {
        for (long long s = blockIdx.x; s < splits; s += gridDim.x) {
            const long long r = rows[t];
            const int mark_r = mark[r];
            const long long lo = s * chunk;
            const long long hi = lo + chunk < n ? lo + chunk : n;
            for (int e = threadIdx.x; e < nwarps * GH_KEPT_LIST; e += blockDim.x) {
                s_key[e] = GH_NO_KEY;
                s_pos[e] = -1;
            }
            __syncthreads();
            for (long long base = lo; base < hi; base += blockDim.x) {  // every lane folds
                const long long j = base + threadIdx.x;
                long long key = GH_NO_KEY;
                if (j < hi && size[j] != 0) key = distance_key(held(D, n, j, mark[j], r, mark_r));
                fold_kept(key, j, s_key + warp * GH_KEPT_LIST, s_pos + warp * GH_KEPT_LIST,
                          lane);
            }
            __syncthreads();
            if (threadIdx.x == 0) {
                const long long out = (t * splits + s) * GH_KEPT_LIST;
                merge_kept_lists(s_key, s_pos, nwarps, part_key + out, part_pos + out);
            }
            __syncthreads();  // the lists are cleared for the next item after thread 0 read them
        }
    }
}

// The second launch: thread t merges row t's splits into its list, list_key/list_pos[t
// GH_KEPT_LIST + e], and its first minimum, the first entry where its distance is below +inf
// (`inf_key`, +inf's key in the storage type), else -1 (and +inf).
template <typename T>
__global__ void round_pick_kept(const T* D, long long n, const int* mark, const long long* rows,
                                long long count, long long splits, const long long* part_key,
                                const long long* part_pos, long long inf_key, long long* nn,
                                double* dist, long long* list_key, long long* list_pos) {
    for (long long t = blockIdx.x * (long long)blockDim.x + threadIdx.x; t < count;
         t += (long long)gridDim.x * blockDim.x) {
        const KeptEntry first = merge_kept_lists(
            part_key + t * splits * GH_KEPT_LIST, part_pos + t * splits * GH_KEPT_LIST, splits,
            list_key + t * GH_KEPT_LIST, list_pos + t * GH_KEPT_LIST);
        const long long r = rows[t];
        const bool found = first.pos >= 0 && first.key < inf_key;
        nn[t] = found ? first.pos : -1;
        dist[t] = found ? (double)held(D, n, first.pos, mark[first.pos], r, mark[r]) : gh_inf();
    }
}

// The distances between the live clusters a[t] and b[t] (slots), where the younger holds each:
// the kept lists' entries that follow a round's merges (their clusters merged into unions).
template <typename T>
__global__ void round_pairs(const T* D, long long n, const int* mark, const long long* a,
                            const long long* b, long long count, T* out) {
    for (long long t = blockIdx.x * (long long)blockDim.x + threadIdx.x; t < count;
         t += (long long)gridDim.x * blockDim.x) {
        out[t] = held(D, n, a[t], mark[a[t]], b[t], mark[b[t]]);
    }
}

// The live rows and columns `live[0:m]` (ascending) of the n x n matrix D gathered into the
// m x m matrix out (another allocation), each distance read where its younger end holds it and
// written into both rows (the host then resets every mark to -1): rows and columns keep their
// order, so the lowest index among equal distances is the same cluster before and after. One
// block per row (grid-stride), its columns across the threads: no 64-bit division splits a
// linear index.
template <typename T>
__global__ void round_gather(const T* D, long long n, const int* mark, const long long* live,
                             long long m, T* out) {
    for (long long r = blockIdx.x; r < m; r += gridDim.x) {
        const long long i = live[r];
        const int mark_i = mark[i];
        for (long long c = threadIdx.x; c < m; c += blockDim.x) {
            const long long j = live[c];
            out[r * m + c] = held(D, n, j, mark[j], i, mark_i);
        }
    }
}
