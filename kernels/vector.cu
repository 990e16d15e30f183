// The vector engine for ward, centroid and median: every cluster is a centroid and a size, in
// O(n*d) device memory, and dissimilarities are computed from them when needed (no distance
// matrix). The CPU twin is gpuhclust/cpu/_vector.py: the same algorithms, the same float64
// operations in the same order (compiled without FMA contraction), the same tie rule, so both
// give the same Z.
//
// - ward: reciprocal-nearest-neighbour rounds (the default; the kernels at the end of this file,
//   the round loop on the host: gpuhclust/_centroid_rounds.py) or the nearest-neighbour chain,
//   both on |A||B|/(|A|+|B|) * ||c_A - c_B||^2 (half the squared Lance-Williams ward distance;
//   the height is its root times sqrt 2). The chain starts at the lowest live slot, the
//   previous chain element wins a tie, else the lowest slot; the merged cluster takes the
//   higher slot.
// - centroid, median: the generic algorithm on ||c_A - c_B||^2 with an exact cache of every
//   slot's nearest higher neighbour and the global minimum by a tournament argmin over it (the
//   default, 'tournament': the kernels at the end of this file, every step two grid-wide graph
//   nodes), or SciPy's fast_linkage with the cache in SciPy's heap (heap.cuh) run by one block
//   ('generic').
//
// Layout. C holds the centroids features first: C[k * ld + p] is feature k of the cluster at
// position p, so the threads of a warp read consecutive addresses. Positions [0, live_end) hold
// clusters in slot order (slot[p], pos_of[slot]); sz[p] == 0 marks a dead one. The host compacts
// the live ones to the front between rounds, keeping their order, so the lowest position is the
// lowest slot and argmin's lowest-index rule (common.cuh) is the slot rule. Compaction therefore
// never changes a result, only how much a scan reads.
//
// The chain and the generic algorithm: a step is two launches, as in mst.cu: vector_scan (the whole grid) computes the dissimilarities
// from one cluster to the live ones and leaves one argmin per block; ward_step or generic_step
// (one block) finishes the argmin, runs the chain or the heap, merges, and writes the next request
// into state (layout: VECTOR_STATE in gpuhclust/cuda/_kernels.py, GH_VS_* here). A pair of
// launches makes at most one merge, so the host launches as many pairs as merges remain, with no
// host round trip per merge.
#include "argmin.cuh"
#include "heap.cuh"
#include "kept.cuh"

// Squared Euclidean distance between the centroids at positions a and b, features summed in
// order: the CPU's _sq_block and _pair_sq, bit for bit. (x - y)^2 == (y - x)^2 exactly, so the
// scan and the one-block checks agree on every pair.
__device__ __forceinline__ double centroid_sq(const double* C, long long ld, int d, long long a,
                                              long long b) {
    double s = 0.0;
    for (int k = 0; k < d; ++k) {
        const double t = C[k * ld + a] - C[k * ld + b];
        s += t * t;
    }
    return s;
}

// The merged cluster's centroid into position pb (the whole block, one feature per thread).
__device__ void merge_centroids(double* C, long long ld, int d, long long pa, long long pb,
                                double na, double nb, int method) {
    for (int k = threadIdx.x; k < d; k += blockDim.x) {
        const double a = C[k * ld + pa];
        const double b = C[k * ld + pb];
        C[k * ld + pb] = method == GH_MEDIAN ? (a + b) * 0.5 : (na * a + nb * b) / (na + nb);
    }
}

// The whole grid: the request in state, for the cluster at position c = pos_of[center].
//   query (ward): argmin over every live position but c of the ward dissimilarity;
//   rescan:       argmin over the live positions above c of the squared distance;
//   update:       below c, every live z: a cached neighbour x becomes y (the merged cluster is
//                 y now), and y becomes z's neighbour where it is nearer than the cached one (z is
//                 then listed in cand, see below); above c, the argmin of rescan.
// Each block takes one contiguous range of positions and leaves its argmin in part_value/index.
// The improved z of a block are written to cand[part_start[b] ...] in position order
// (part_count[b] of them), so that generic_step changes the heap in the CPU's order.
// *prev_value receives the dissimilarity to position pos_of[prev] (ward's tie rule).
extern "C" __global__ void vector_scan(const double* C, long long ld, int d, int method,
                                       const double* sz, const long long* slot,
                                       const long long* pos_of, long long* neighbor,
                                       double* min_dist, const long long* state,
                                       double* prev_value, double* part_value,
                                       long long* part_index, long long* part_start,
                                       long long* part_count, long long* cand) {
    const long long phase = state[GH_VS_PHASE];
    const bool active = phase == GH_VP_QUERY || phase == GH_VP_RESCAN || phase == GH_VP_UPDATE;
    const long long m = state[GH_VS_LIVE_END];
    const long long c = active ? pos_of[state[GH_VS_CENTER]] : -1;
    const long long lo = phase == GH_VP_QUERY ? 0 : c + 1;  // the argmin's positions [lo, m)
    const long long update_end = phase == GH_VP_UPDATE ? c : 0;
    const long long prev = phase == GH_VP_QUERY && state[GH_VS_PREV] >= 0
                               ? pos_of[state[GH_VS_PREV]] : -1;
    const long long x = state[GH_VS_X];
    const long long y = state[GH_VS_Y];
    const double size_c = active ? sz[c] : 0.0;

    const long long begin = !active ? m : (update_end > 0 ? 0 : lo);
    const long long span = m - begin;
    const long long per_block =
        ((span + gridDim.x - 1) / gridDim.x + blockDim.x - 1) / blockDim.x * blockDim.x;
    const long long start = begin + blockIdx.x * per_block;
    const long long end = start + per_block < m ? start + per_block : m;

    ArgMin best = argmin_none();
    long long count = 0;  // improved z listed so far by this block (the same in every thread)
    for (long long base = start; base < end; base += blockDim.x) {
        const long long p = base + threadIdx.x;
        int improved = 0;
        if (p < end && p != c && sz[p] > 0.0) {
            const double s = centroid_sq(C, ld, d, c, p);
            if (p < update_end) {
                const long long z = slot[p];
                if (neighbor[z] == x) neighbor[z] = y;
                if (s < min_dist[z]) {
                    neighbor[z] = y;
                    min_dist[z] = s;
                    improved = 1;
                }
            } else if (p >= lo) {
                double value = s;
                if (method == GH_WARD) {
                    const double size_p = sz[p];
                    value = s * (size_c * size_p / (size_c + size_p));
                }
                if (p == prev) *prev_value = value;
                argmin_take(best, value, p);
            }
        }
        if (base < update_end) {  // the same in every thread: the scan's barriers are safe
            long long total;
            const long long offset = block_exclusive_scan(improved, &total);
            if (improved) cand[start + count + offset] = p;
            count += total;
        }
    }
    best = block_argmin(best);
    if (threadIdx.x == 0) {
        part_value[blockIdx.x] = best.value;
        part_index[blockIdx.x] = best.index;
        part_start[blockIdx.x] = start;
        part_count[blockIdx.x] = count;
    }
}

// centroid/median, before the loop: the nearest higher neighbour of every slot x < n-1 (all live,
// positions == slots), one block per slot (grid-stride); strict '<', the lowest slot wins a tie.
extern "C" __global__ void vector_nearest_higher(const double* C, long long ld, int d,
                                                 long long n, long long* neighbor,
                                                 double* min_dist) {
    for (long long x = blockIdx.x; x < n - 1; x += gridDim.x) {
        ArgMin best = argmin_none();
        for (long long j = x + 1 + threadIdx.x; j < n; j += blockDim.x) {
            argmin_take(best, centroid_sq(C, ld, d, x, j), j);
        }
        best = block_argmin(best);
        if (threadIdx.x == 0) {
            neighbor[x] = best.index;
            min_dist[x] = best.value;
        }
    }
}

// The winner among the blocks' candidates of the last vector_scan (every thread gets it).
__device__ ArgMin parts_argmin(const double* part_value, const long long* part_index,
                               int nparts) {
    ArgMin best = argmin_none();
    for (int q = threadIdx.x; q < nparts; q += blockDim.x) {
        argmin_take(best, part_value[q], part_index[q]);
    }
    return block_argmin(best);
}

// The lowest live position at or above `from` (the whole block), or -1.
__device__ long long block_first_live(const double* sz, long long from, long long m) {
    for (long long base = from; base < m; base += blockDim.x) {
        ArgMin first = argmin_none();
        const long long p = base + threadIdx.x;
        if (p < m && sz[p] > 0.0) argmin_take(first, 0.0, p);
        first = block_argmin(first);
        if (first.index >= 0) return first.index;
    }
    return -1;
}

// ward, one block: the nearest neighbour y of the chain's last element x (state center) from the
// scan; x and the previous element merge when that one is as near as y (it wins the tie), else y
// joins the chain. Then the next query: the chain's last element, or a new chain at the lowest
// live slot. merges receives (slot a < slot b, height) per merge.
extern "C" __global__ void ward_step(double* C, long long ld, int d, long long n, double* sz,
                                     const long long* slot, const long long* pos_of,
                                     long long* chain, long long* state,
                                     const double* prev_value, const double* part_value,
                                     const long long* part_index, int nparts, double* merges,
                                     long long k_stop) {
    __shared__ int s_merge;
    __shared__ long long s_pa, s_pb;
    __shared__ double s_na, s_nb;
    const bool run = state[GH_VS_PHASE] == GH_VP_QUERY && state[GH_VS_K] < k_stop;
    const ArgMin nearest = parts_argmin(part_value, part_index, nparts);  // barriers: all read
    if (!run) return;                                                       // state first
    if (threadIdx.x == 0) {
        const long long length = state[GH_VS_CHAIN_LENGTH];
        const long long x = chain[length - 1];
        s_merge = 0;
        if (nearest.index < 0) {
            state[GH_VS_PHASE] = GH_VP_NO_PAIR;  // every dissimilarity overflowed to +inf
        } else {
            long long y = slot[nearest.index];
            if (length > 1 && *prev_value == nearest.value) {
                y = chain[length - 2];
                s_merge = 1;
            }
            if (!s_merge) {
                chain[length] = y;
                state[GH_VS_CHAIN_LENGTH] = length + 1;
            } else {
                const long long a = x < y ? x : y;
                const long long b = x < y ? y : x;
                const long long k = state[GH_VS_K];
                s_pa = pos_of[a];
                s_pb = pos_of[b];
                s_na = sz[s_pa];
                s_nb = sz[s_pb];
                merges[3 * k] = (double)a;
                merges[3 * k + 1] = (double)b;
                merges[3 * k + 2] = sqrt(2.0 * nearest.value);
                state[GH_VS_CHAIN_LENGTH] = length - 2;
            }
        }
    }
    __syncthreads();
    if (state[GH_VS_PHASE] == GH_VP_NO_PAIR) return;
    if (s_merge) {
        merge_centroids(C, ld, d, s_pa, s_pb, s_na, s_nb, GH_WARD);
        __syncthreads();
        if (threadIdx.x == 0) {
            sz[s_pb] = s_na + s_nb;
            sz[s_pa] = 0.0;
            state[GH_VS_DEAD] += 1;
            state[GH_VS_K] += 1;
        }
        __syncthreads();
        if (state[GH_VS_CHAIN_LENGTH] == 0 && state[GH_VS_K] < n - 1) {
            // dead slots never come back: the lowest live position only moves up (the host
            // resets first_live when it compacts)
            const long long first =
                block_first_live(sz, state[GH_VS_FIRST_LIVE], state[GH_VS_LIVE_END]);
            if (threadIdx.x == 0) {
                state[GH_VS_FIRST_LIVE] = first;
                chain[0] = slot[first];
                state[GH_VS_CHAIN_LENGTH] = 1;
            }
        }
    }
    __syncthreads();
    if (threadIdx.x == 0) {
        const long long length = state[GH_VS_CHAIN_LENGTH];
        if (length > 0) {
            state[GH_VS_CENTER] = chain[length - 1];
            state[GH_VS_PREV] = length > 1 ? chain[length - 2] : -1;
        }
    }
}

// centroid/median, one block. First it takes in the last scan: a rescan gives the slot's new
// neighbour; an update lists the slots whose neighbour became the merged cluster y (their heap
// entries change, in slot order) and gives y's own nearest higher neighbour. Then, while merges
// remain in this chunk, it looks at the heap's top x: a cached neighbour still at the cached
// distance means x merges into it now (Z row, centroid, sizes) and an update scan follows; a stale
// one asks for a rescan of x. Thread 0 keeps the heap, as in SciPy.
extern "C" __global__ void generic_step(double* C, long long ld, int d, long long n, int method,
                                        double* sz, const long long* slot,
                                        const long long* pos_of, long long* cluster_id,
                                        long long* neighbor, double* min_dist,
                                        double* heap_values, long long* key_by_index,
                                        long long* index_by_key, const double* part_value,
                                        const long long* part_index,
                                        const long long* part_start,
                                        const long long* part_count, int nparts,
                                        const long long* cand, long long* state, double* Z,
                                        long long k_stop) {
    __shared__ int s_merge;
    __shared__ long long s_px, s_py;
    __shared__ double s_nx, s_ny;
    const long long phase = state[GH_VS_PHASE];
    const ArgMin nearest = parts_argmin(part_value, part_index, nparts);  // barriers: all read
    if (phase == GH_VP_NO_PAIR) return;                                     // phase first
    if (threadIdx.x == 0) {
        const Heap h = {heap_values, key_by_index, index_by_key};
        long long heap_size = state[GH_VS_HEAP_SIZE];
        const long long k = state[GH_VS_K];
        if (phase == GH_VP_RESCAN) {
            const long long x = state[GH_VS_X];
            const long long y = nearest.index >= 0 ? slot[nearest.index] : -1;
            neighbor[x] = y;
            min_dist[x] = nearest.value;  // +inf when there is none
            heap_change(h, heap_size, x, nearest.value);
            state[GH_VS_ATTEMPTS] += 1;
        } else if (phase == GH_VP_UPDATE) {
            for (int b = 0; b < nparts; ++b) {
                for (long long i = 0; i < part_count[b]; ++i) {
                    const long long z = slot[cand[part_start[b] + i]];
                    heap_change(h, heap_size, z, min_dist[z]);
                }
            }
            const long long y = state[GH_VS_Y];
            if (y < n - 1 && nearest.index >= 0) {
                neighbor[y] = slot[nearest.index];
                min_dist[y] = nearest.value;
                heap_change(h, heap_size, y, nearest.value);
            }
        }
        state[GH_VS_PHASE] = GH_VP_TOP;
        s_merge = 0;
        if (k < k_stop) {
            const long long x = key_by_index[0];
            const double dist = heap_values[0];
            const long long y = neighbor[x];
            const bool valid = y >= 0 && dist == centroid_sq(C, ld, d, pos_of[x], pos_of[y]);
            if (!valid && state[GH_VS_ATTEMPTS] > n - k) {
                // every slot was rescanned and still none is valid: only non-finite values do
                // that (SciPy's loop gives up after n - k attempts too)
                state[GH_VS_PHASE] = GH_VP_NO_PAIR;
            } else if (!valid) {
                state[GH_VS_X] = x;
                state[GH_VS_CENTER] = x;
                state[GH_VS_PHASE] = GH_VP_RESCAN;
            } else {
                heap_size = heap_remove_min(h, heap_size);
                s_px = pos_of[x];
                s_py = pos_of[y];
                s_nx = sz[s_px];
                s_ny = sz[s_py];
                write_z_row(Z, k, cluster_id[x], cluster_id[y], sqrt(dist), s_nx + s_ny);
                cluster_id[y] = n + k;
                state[GH_VS_K] = k + 1;
                state[GH_VS_DEAD] += 1;
                state[GH_VS_ATTEMPTS] = 0;
                state[GH_VS_X] = x;
                state[GH_VS_Y] = y;
                state[GH_VS_CENTER] = y;
                state[GH_VS_PHASE] = GH_VP_UPDATE;
                s_merge = 1;
            }
        }
        state[GH_VS_HEAP_SIZE] = heap_size;
    }
    __syncthreads();
    if (s_merge) {
        merge_centroids(C, ld, d, s_px, s_py, s_nx, s_ny, method);
        if (threadIdx.x == 0) {  // sizes are not read by merge_centroids
            sz[s_py] = s_nx + s_ny;
            sz[s_px] = 0.0;
        }
    }
}

// -- ward by reciprocal-nearest-neighbour rounds (gpuhclust/_centroid_rounds.py) ----------------
// The host (the rounds driver) decides each round's merges and which clusters need their nearest
// neighbour again; the device merges the centroids and computes those nearest neighbours, with
// the chain's arithmetic: w = sum_k (c_q[k] - c_p[k])^2 (from 0.0, in feature order) times
// (n_q * n_p / (n_q + n_p)), the first minimum over the live positions other than the query.
// Positions [0, width) hold the live clusters in slot order (the host gathers them to the front
// with vector_gather), so the lowest position is the lowest slot: the driver's tie rule.

// Features of the query tile staged in shared memory at a time.
#define GH_VR_FEATURES 32

// A round's merges, disjoint pairs: request[0:count) the positions of x, [count, 2 count) those
// of y, then the sizes of x and of y. The centroid of y becomes the union's, x dies (size 0).
// One thread per (pair, feature), pairs fastest.
extern "C" __global__ void vector_round_merge(double* C, long long ld, int d, double* sz,
                                              const long long* request, long long count) {
    const long long total = count * d;
    for (long long idx = blockIdx.x * (long long)blockDim.x + threadIdx.x; idx < total;
         idx += (long long)gridDim.x * blockDim.x) {
        const long long t = idx % count;
        const long long k = idx / count;
        const long long pa = request[t];
        const long long pb = request[count + t];
        const double na = (double)request[2 * count + t];
        const double nb = (double)request[3 * count + t];
        const double a = C[k * ld + pa];
        const double b = C[k * ld + pb];
        C[k * ld + pb] = (na * a + nb * b) / (na + nb);  // _merge_centroids, bit for bit
        if (k == 0) {
            sz[pb] = na + nb;
            sz[pa] = 0.0;
        }
    }
}

// Each warp's best candidate per query starts empty ([warp][query] in shared memory).
__device__ __forceinline__ void clear_warp_candidates(double* s_best_value,
                                                      long long* s_best_index, int nwarps) {
    for (int e = threadIdx.x; e < nwarps * GH_VECTOR_QUERIES; e += blockDim.x) {
        s_best_value[e] = gh_inf();
        s_best_index[e] = -1;
    }
}

// Features k0:k0+kn of the queries' centroids (columns s_pos[0:held]) into shared memory.
__device__ __forceinline__ void load_queries(const double* C, long long ld,
                                             const long long* s_pos, int held, int k0, int kn,
                                             double* s_query) {
    for (int e = threadIdx.x; e < held * kn; e += blockDim.x) {
        const int q = e / kn;
        const int k = e % kn;
        s_query[q * GH_VR_FEATURES + k] = C[(k0 + k) * ld + s_pos[q]];
    }
}

// acc[q]: the squared distance from centroid p to query q (features summed in order, as the
// CPU does), for the threads with a centroid (`mine`). With `resident` the queries' features
// are all in shared memory already; otherwise they come in chunks of GH_VR_FEATURES and every
// thread of the block must call it (it synchronises).
__device__ __forceinline__ void tile_distances(const double* C, long long ld, int d,
                                               bool resident, const long long* s_pos,
                                               int held, bool mine, long long p,
                                               double* s_query,
                                               double (&acc)[GH_VECTOR_QUERIES]) {
#pragma unroll
    for (int q = 0; q < GH_VECTOR_QUERIES; ++q) acc[q] = 0.0;
    for (int k0 = 0; k0 < d; k0 += GH_VR_FEATURES) {
        const int kn = d - k0 < GH_VR_FEATURES ? d - k0 : GH_VR_FEATURES;
        if (!resident) {
            __syncthreads();
            load_queries(C, ld, s_pos, held, k0, kn, s_query);
            __syncthreads();
        }
        if (mine) {
            for (int k = 0; k < kn; ++k) {
                const double c = C[(k0 + k) * ld + p];
#pragma unroll
                for (int q = 0; q < GH_VECTOR_QUERIES; ++q) {
                    if (q < held) {  // the same in every thread (unrolled, predicated)
                        const double t = s_query[q * GH_VR_FEATURES + k] - c;
                        acc[q] += t * t;
                    }
                }
            }
        }
    }
}

// Tiles of queries (vector_round_nearest, vector_tournament_pass): each warp keeps its best
// candidate per query in shared memory, [warp][query]. One query's candidate `a` of this lane
// joins its warp's best (lowest position among equal values). Every lane must call it.
__device__ __forceinline__ void fold_warp_candidate(ArgMin a, double* s_best_value,
                                                    long long* s_best_index, int warp, int lane,
                                                    int q) {
    a = warp_argmin(a);
    if (lane == 0) {
        const int e = warp * GH_VECTOR_QUERIES + q;
        ArgMin b;
        b.value = s_best_value[e];
        b.index = s_best_index[e];
        argmin_take(b, a.value, a.index);
        s_best_value[e] = b.value;
        s_best_index[e] = b.index;
    }
}

// After a barrier: thread q < held writes query q's best over the warps as this block's part
// (split `split` of `splits`) of query q0 + q.
__device__ __forceinline__ void write_query_minima(const double* s_best_value,
                                                   const long long* s_best_index, int nwarps,
                                                   int held, long long q0, long long splits,
                                                   long long split, double* part_value,
                                                   long long* part_index) {
    if (threadIdx.x >= held) return;
    const int q = threadIdx.x;
    ArgMin best = argmin_none();
    for (int w = 0; w < nwarps; ++w) {
        argmin_take(best, s_best_value[w * GH_VECTOR_QUERIES + q],
                    s_best_index[w * GH_VECTOR_QUERIES + q]);
    }
    part_value[(q0 + q) * splits + split] = best.value;
    part_index[(q0 + q) * splits + split] = best.index;
}

// The kept lists of vector_round_nearest (kept.cuh): per query the GH_KEPT + 1 smallest
// candidates in increasing (key, position) order, a candidate's key the bits of its w as an int64
// (w >= +0, so keys order as values; +inf and NaN above every finite w).
#define GH_VR_WARPS (GH_VR_THREADS / 32)

// Each warp's list per query starts empty ([warp][query][entry] in shared memory).
__device__ __forceinline__ void clear_kept_lists(long long* s_key, long long* s_pos, int nwarps) {
    for (int e = threadIdx.x; e < nwarps * GH_VECTOR_QUERIES * GH_KEPT_LIST; e += blockDim.x) {
        s_key[e] = GH_NO_KEY;
        s_pos[e] = -1;
    }
}

// After a barrier: thread q < held merges query q's lists over the warps into this block's part
// (split `split` of `splits`) of query q0 + q: part_key/part_pos[((q0 + q) splits + split)
// GH_KEPT_LIST + e].
__device__ __forceinline__ void write_query_lists(const long long* s_key, const long long* s_pos,
                                                  int nwarps, int held, long long q0,
                                                  long long splits, long long split,
                                                  long long* part_key, long long* part_pos) {
    if (threadIdx.x >= held) return;
    const int q = threadIdx.x;
    long long key[GH_KEPT_LIST], pos[GH_KEPT_LIST];
    for (int e = 0; e < GH_KEPT_LIST; ++e) {
        key[e] = GH_NO_KEY;
        pos[e] = -1;
    }
    for (int w = 0; w < nwarps; ++w) {
        const int at = (w * GH_VECTOR_QUERIES + q) * GH_KEPT_LIST;
        for (int e = 0; e < GH_KEPT_LIST; ++e) kept_insert(key, pos, s_key[at + e], s_pos[at + e]);
    }
    const long long out = ((q0 + q) * splits + split) * GH_KEPT_LIST;
    for (int e = 0; e < GH_KEPT_LIST; ++e) {
        part_key[out + e] = key[e];
        part_pos[out + e] = pos[e];
    }
}

// Nearest live neighbours of each query position queries[0:nq), as tiled products, with each
// query's kept list (above): a work item is a tile of GH_VECTOR_QUERIES queries and one of
// `splits` ranges of `span` candidate positions. The block stages the tile's centroids in shared
// memory (all of them when d <= GH_VR_FEATURES, else GH_VR_FEATURES features at a time) and
// streams the range's candidates past it, one per thread, so each candidate centroid is read
// from global memory once per tile of queries; the accumulators of the tile stay in registers.
// After each pass every warp folds its candidates into its lists (fold_kept); the item ends with
// the lists merged over the warps in part_key/part_pos; vector_round_pick merges the ranges.
// Launch with blockDim.x a multiple of 32, at most GH_VR_THREADS (the lists' shared memory).
extern "C" __global__ void vector_round_nearest(const double* C, long long ld, int d,
                                                const double* sz, const long long* queries,
                                                long long nq, long long splits, long long span,
                                                long long width, long long* part_key,
                                                long long* part_pos) {
    __shared__ double s_query[GH_VECTOR_QUERIES * GH_VR_FEATURES];
    __shared__ long long s_qpos[GH_VECTOR_QUERIES];
    __shared__ double s_size[GH_VECTOR_QUERIES];
    __shared__ long long s_key[GH_VR_WARPS * GH_VECTOR_QUERIES * GH_KEPT_LIST];  // [warp][query][entry]
    __shared__ long long s_pos[GH_VR_WARPS * GH_VECTOR_QUERIES * GH_KEPT_LIST];
    const int lane = threadIdx.x & 31;
    const int warp = threadIdx.x >> 5;
    const int nwarps = blockDim.x >> 5;
    const long long tiles = (nq + GH_VECTOR_QUERIES - 1) / GH_VECTOR_QUERIES;
    const bool resident = d <= GH_VR_FEATURES;  // the tile's features staged once per item
    for (long long item = blockIdx.x; item < tiles * splits; item += gridDim.x) {
        const long long tile = item / splits;
        const long long split = item % splits;
        const long long q0 = tile * GH_VECTOR_QUERIES;
        const int held = nq - q0 < GH_VECTOR_QUERIES ? (int)(nq - q0) : GH_VECTOR_QUERIES;
        __syncthreads();  // the previous item is done with the shared arrays
        if (threadIdx.x < GH_VECTOR_QUERIES) {
            const long long p = threadIdx.x < held ? queries[q0 + threadIdx.x] : -1;
            s_qpos[threadIdx.x] = p;
            s_size[threadIdx.x] = p >= 0 ? sz[p] : 0.0;
        }
        clear_kept_lists(s_key, s_pos, nwarps);
        __syncthreads();
        if (resident) {
            load_queries(C, ld, s_qpos, held, 0, d, s_query);
            __syncthreads();
        }
        const long long lo = split * span;
        const long long hi = lo + span < width ? lo + span : width;
        for (long long base = lo; base < hi; base += blockDim.x) {  // the same in every thread
            const long long p = base + threadIdx.x;
            const bool mine = p < hi;
            double acc[GH_VECTOR_QUERIES];  // registers: every index below is a constant
            tile_distances(C, ld, d, resident, s_qpos, held, mine, p, s_query, acc);
            const double size_p = mine ? sz[p] : 0.0;
#pragma unroll
            for (int q = 0; q < GH_VECTOR_QUERIES; ++q) {
                if (q >= held) continue;  // the same in every thread: the shuffles are safe
                long long key = GH_NO_KEY;
                if (size_p > 0.0 && p != s_qpos[q]) {
                    const double size_q = s_size[q];
                    key = __double_as_longlong(acc[q] * (size_q * size_p / (size_q + size_p)));
                }
                const int at = (warp * GH_VECTOR_QUERIES + q) * GH_KEPT_LIST;
                fold_kept(key, p, s_key + at, s_pos + at, lane);
            }
        }
        __syncthreads();
        write_query_lists(s_key, s_pos, nwarps, held, q0, splits, split, part_key, part_pos);
    }
}

// Per query, the splits' lists merged (the lists' order is total, so the result does not depend
// on the splits): found[0:nq GH_KEPT_LIST) the keys, found[nq GH_KEPT_LIST:2 nq GH_KEPT_LIST) the
// positions, GH_KEPT_LIST per query (one read back).
extern "C" __global__ void vector_round_pick(const long long* part_key,
                                             const long long* part_pos, long long nq,
                                             long long splits, long long* found) {
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < nq;
         i += (long long)gridDim.x * blockDim.x) {
        merge_kept_lists(part_key + i * splits * GH_KEPT_LIST, part_pos + i * splits * GH_KEPT_LIST,
                         splits, found + i * GH_KEPT_LIST, found + (nq + i) * GH_KEPT_LIST);
    }
}

// w from the centroid at position rows[t] (the query) to the one at cols[t], for t < count:
// a scan's arithmetic (tile_distances, then the size factor), bit for bit. The host's kept
// entries (gpuhclust.cpu._centroid_rows.CentroidKept) follow merged clusters with it.
extern "C" __global__ void vector_pair_w(const double* C, long long ld, int d, const double* sz,
                                         const long long* rows, const long long* cols,
                                         long long count, double* out) {
    for (long long t = blockIdx.x * (long long)blockDim.x + threadIdx.x; t < count;
         t += (long long)gridDim.x * blockDim.x) {
        const long long r = rows[t];
        const long long c = cols[t];
        double acc = 0.0;
        for (int k = 0; k < d; ++k) {
            const double diff = C[k * ld + r] - C[k * ld + c];
            acc += diff * diff;
        }
        const double size_q = sz[r];
        const double size_p = sz[c];
        out[t] = acc * (size_q * size_p / (size_q + size_p));
    }
}

// The live clusters gathered to the front: position i of (C_out, sz_out) receives position
// keep[i] of (C, sz), keep ascending (slot order kept). One thread per (position, feature).
extern "C" __global__ void vector_gather(const double* C, long long ld, int d, const double* sz,
                                         const long long* keep, long long count, double* C_out,
                                         double* sz_out) {
    const long long total = count * d;
    for (long long idx = blockIdx.x * (long long)blockDim.x + threadIdx.x; idx < total;
         idx += (long long)gridDim.x * blockDim.x) {
        const long long i = idx % count;
        const long long k = idx / count;
        C_out[k * ld + i] = C[k * ld + keep[i]];
        if (k == 0) sz_out[i] = sz[keep[i]];
    }
}

// -- centroid, median by the tournament (algorithm='tournament', the default) ------------------
// The CPU twin is tournament_steps in gpuhclust/cpu/_vector.py, whose comment states the
// algorithm: the generic algorithm's nearest-neighbour cache, each row exact or stale (a lower
// bound), the merge the least (min_dist, slot) over the live rows when that row is exact, THE
// LOWEST SLOT WINNING A TIE; else every stale row below the least exact one is rescanned at
// once. Every rule is a total order: how the work is split never changes the result.
//
// A step is two graph nodes with arguments that never change (the host captures a chunk of
// steps as one CUDA graph and reads the state once per chunk):
//   vector_tournament_collect: in phase 'rescan', lists the stale rows to rescan;
//   vector_tournament_pass: one tiled pass over the live centroids for all the queries at once
//     (each centroid is read once per tile of GH_VECTOR_QUERIES queries): in phase 'update'
//     the one query is the merged cluster y, whose distances update the other rows' cache; in
//     phase 'rescan' the listed rows. Then the tournament, and in the last block to finish
//     (argmin.cuh) the next merge, or phase 'rescan' when the least row is stale.
// State: GH_VS_* (k, phase, live_end, dead, x, y, queries, limit_value, limit_slot). The host
// starts in phase 'rescan' with every row stale at +inf, every slot listed and the limit
// (+inf, the largest slot): the first pass scans every row. 'done' after the last merge,
// 'no_pair' when no finite dissimilarity is left (no merge then: the host raises a ValueError).

// A stale row is rescanned when (bound, slot) comes before the limit.
__device__ __forceinline__ bool below_limit(double bound, long long z, double limit_value,
                                            long long limit_slot) {
    return bound < limit_value || (bound == limit_value && z < limit_slot);
}

// Phase 'rescan': the stale live rows below the limit join the queries.
extern "C" __global__ void vector_tournament_collect(const double* sz, const long long* slot,
                                                     const double* min_dist,
                                                     const unsigned char* stale,
                                                     long long* state, long long* queries) {
    if (state[GH_VS_PHASE] != GH_VP_RESCAN) return;
    const long long m = state[GH_VS_LIVE_END];
    const double limit_value = __longlong_as_double(state[GH_VS_LIMIT_VALUE]);
    const long long limit_slot = state[GH_VS_LIMIT_SLOT];
    for (long long p = blockIdx.x * (long long)blockDim.x + threadIdx.x; p < m;
         p += (long long)gridDim.x * blockDim.x) {
        if (!(sz[p] > 0.0)) continue;
        const long long z = slot[p];
        if (stale[z] && below_limit(min_dist[z], z, limit_value, limit_slot)) {
            // the list's order varies from run to run; each row's result does not depend on it
            const unsigned long long at =
                atomicAdd((unsigned long long*)&state[GH_VS_QUERIES], 1ull);
            queries[at] = z;
        }
    }
}

// The pass. Work items are (tile of queries, range of positions): `splits` ranges, so that
// tile 0's ranges are the first blocks' own (block b < splits takes range b of tile 0). The
// block that holds range b of tile 0 also, in phase 'update', updates the cache of the rows in
// it below y from y's distances, and enters every row of its range that is not a query in the
// tournament (two argmins: every row, the exact rows); the queried rows enter it in the last
// block, after their ranges' minima are reduced. Launch with blockDim.x a multiple of 32, at
// most 1024; part_value/part_index hold max(n, GH_VECTOR_QUERIES * gridDim.x) entries,
// top_value/top_index 2 gridDim.x.
extern "C" __global__ void vector_tournament_pass(double* C, long long ld, int d, long long n,
                                                  int method, double* sz,
                                                  const long long* slot,
                                                  const long long* pos_of,
                                                  long long* cluster_id, long long* neighbor,
                                                  double* min_dist, unsigned char* stale,
                                                  long long* state, long long* queries,
                                                  double* part_value, long long* part_index,
                                                  double* top_value, long long* top_index,
                                                  unsigned int* ticket, double* Z) {
    __shared__ double s_query[GH_VECTOR_QUERIES * GH_VR_FEATURES];
    __shared__ long long s_pos[GH_VECTOR_QUERIES];
    __shared__ double s_best_value[32 * GH_VECTOR_QUERIES];  // [warp][query]
    __shared__ long long s_best_index[32 * GH_VECTOR_QUERIES];
    __shared__ int s_merge;
    __shared__ long long s_px, s_py;
    __shared__ double s_nx, s_ny;
    const long long phase = state[GH_VS_PHASE];
    if (phase != GH_VP_UPDATE && phase != GH_VP_RESCAN) return;  // every block: no ticket
    const long long m = state[GH_VS_LIVE_END];
    const long long nq = state[GH_VS_QUERIES];
    const long long x = state[GH_VS_X];
    const long long y = state[GH_VS_Y];
    const long long k = state[GH_VS_K];
    const double limit_value = __longlong_as_double(state[GH_VS_LIMIT_VALUE]);
    const long long limit_slot = state[GH_VS_LIMIT_SLOT];
    const bool update = phase == GH_VP_UPDATE;
    const int lane = threadIdx.x & 31;
    const int warp = threadIdx.x >> 5;
    const int nwarps = blockDim.x >> 5;
    const long long tiles = (nq + GH_VECTOR_QUERIES - 1) / GH_VECTOR_QUERIES;
    const long long splits = tiles >= gridDim.x ? 1 : gridDim.x / tiles;
    const long long span = (m + splits - 1) / splits;
    const bool resident = d <= GH_VR_FEATURES;
    ArgMin top = argmin_none();    // every row: (bound, slot)
    ArgMin exact = argmin_none();  // the exact rows
    for (long long item = blockIdx.x; item < tiles * splits; item += gridDim.x) {
        const long long tile = item / splits;
        const long long split = item % splits;
        const long long q0 = tile * GH_VECTOR_QUERIES;
        const int held = nq - q0 < GH_VECTOR_QUERIES ? (int)(nq - q0) : GH_VECTOR_QUERIES;
        __syncthreads();  // the previous item is done with the shared arrays
        if (threadIdx.x < GH_VECTOR_QUERIES) {
            s_pos[threadIdx.x] = threadIdx.x < held ? pos_of[queries[q0 + threadIdx.x]] : -1;
        }
        clear_warp_candidates(s_best_value, s_best_index, nwarps);
        __syncthreads();
        if (resident) {
            load_queries(C, ld, s_pos, held, 0, d, s_query);
            __syncthreads();
        }
        const long long py = update ? s_pos[0] : -1;  // phase 'update': the one query is y
        const long long lo = split * span;
        const long long hi = lo + span < m ? lo + span : m;
        for (long long base = lo; base < hi; base += blockDim.x) {  // the same in every thread
            const long long p = base + threadIdx.x;
            const bool mine = p < hi && sz[p] > 0.0;
            double acc[GH_VECTOR_QUERIES];  // registers: every index below is a constant
            tile_distances(C, ld, d, resident, s_pos, held, mine, p, s_query, acc);
            if (tile == 0 && mine) {  // the row is this thread's alone unless it is a query
                const long long z = slot[p];
                double bound = min_dist[z];
                bool is_stale = stale[z];
                bool listed = !update && is_stale && below_limit(bound, z, limit_value, limit_slot);
                if (update && p == py) listed = true;
                if (update && p < py) {
                    const double s = acc[0];
                    const long long nz = neighbor[z];
                    if (is_stale || nz == x || nz == y) {
                        is_stale = !(s < bound);  // y strictly nearer than the bound: exact
                        if (!is_stale) {
                            neighbor[z] = y;
                            min_dist[z] = s;
                            bound = s;
                        }
                        stale[z] = is_stale;
                    } else if (s < bound || (s == bound && y < nz)) {
                        neighbor[z] = y;
                        min_dist[z] = s;
                        bound = s;
                    }
                }
                if (!listed) {
                    argmin_take(top, bound, z);
                    if (!is_stale) argmin_take(exact, bound, z);
                }
            }
#pragma unroll
            for (int q = 0; q < GH_VECTOR_QUERIES; ++q) {
                if (q >= held) continue;  // the same in every thread: the shuffles are safe
                ArgMin a = argmin_none();
                if (mine && p > s_pos[q]) argmin_take(a, acc[q], p);
                fold_warp_candidate(a, s_best_value, s_best_index, warp, lane, q);
            }
        }
        __syncthreads();
        write_query_minima(s_best_value, s_best_index, nwarps, held, q0, splits, split,
                           part_value, part_index);
    }
    publish_candidate(block_argmin(top), top_value, top_index);
    publish_candidate(block_argmin(exact), top_value + gridDim.x, top_index + gridDim.x);
    if (!grid_last_block(ticket)) return;
    // The last block: the queried rows' nearest higher neighbours, then the tournament.
    const volatile double* values = part_value;  // other blocks' results, never from L1
    const volatile long long* indices = part_index;
    top = argmin_none();
    exact = argmin_none();
    for (long long q = threadIdx.x; q < nq; q += blockDim.x) {
        ArgMin a = argmin_none();
        for (long long s = 0; s < splits; ++s) {
            argmin_take(a, values[q * splits + s], indices[q * splits + s]);
        }
        const long long z = queries[q];
        neighbor[z] = a.index >= 0 ? slot[a.index] : -1;
        min_dist[z] = a.value;
        stale[z] = 0;
        argmin_take(top, a.value, z);
        argmin_take(exact, a.value, z);
    }
    const volatile double* top_values = top_value;
    const volatile long long* top_indices = top_index;
    for (long long b = threadIdx.x; b < gridDim.x; b += blockDim.x) {
        argmin_take(top, top_values[b], top_indices[b]);
        argmin_take(exact, top_values[gridDim.x + b], top_indices[gridDim.x + b]);
    }
    top = block_argmin(top);
    exact = block_argmin(exact);
    if (threadIdx.x == 0) {
        s_merge = 0;
        if (top.index < 0) {
            state[GH_VS_PHASE] = GH_VP_NO_PAIR;  // every dissimilarity overflowed to +inf
        } else if (stale[top.index]) {  // rescan the stale rows below the least exact one
            state[GH_VS_LIMIT_VALUE] = __double_as_longlong(exact.value);
            state[GH_VS_LIMIT_SLOT] = exact.index;
            state[GH_VS_QUERIES] = 0;
            state[GH_VS_PHASE] = GH_VP_RESCAN;
        } else {
            const long long wx = top.index;
            const long long wy = neighbor[wx];
            s_px = pos_of[wx];
            s_py = pos_of[wy];
            s_nx = sz[s_px];
            s_ny = sz[s_py];
            write_z_row(Z, k, cluster_id[wx], cluster_id[wy], sqrt(top.value), s_nx + s_ny);
            cluster_id[wy] = n + k;
            sz[s_py] = s_nx + s_ny;
            sz[s_px] = 0.0;
            queries[0] = wy;
            state[GH_VS_QUERIES] = 1;
            state[GH_VS_K] = k + 1;
            state[GH_VS_DEAD] += 1;
            state[GH_VS_X] = wx;
            state[GH_VS_Y] = wy;
            state[GH_VS_PHASE] = k + 1 >= n - 1 ? GH_VP_DONE : GH_VP_UPDATE;
            s_merge = 1;
        }
    }
    __syncthreads();
    if (s_merge) merge_centroids(C, ld, d, s_px, s_py, s_nx, s_ny, method);
    grid_step_done(ticket);
}
