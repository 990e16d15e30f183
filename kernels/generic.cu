// Centroid and median: SciPy's fast_linkage (Müllner's generic algorithm). These methods have
// inversions, so merges happen one at a time at the global minimum. Each slot caches a nearest
// neighbour among the higher slots and the distance to it.
// algorithm='generic' (generic_loop): the cache in a binary heap with SciPy's sift rules (so ties
// go the way SciPy's go); one block runs the loop on the device, its threads sharing the row
// scans and updates while thread 0 keeps the heap. algorithm='tournament': below.
//
// state = [merges done, heap size]; Z receives SciPy's rows (ids, height, size) in merge order.
// fault as in nn_chain.cu: the loop stops early with it set when the heap's top has no finite
// neighbour left (its argmin is -1) or a merge's update overflows.
#include "argmin.cuh"
#include "grid.cuh"
#include "heap.cuh"
#include "lance_williams.cuh"

// The nearest higher neighbour of every slot x < n-1: one block per row (grid-stride).
template <typename T>
__global__ void generic_neighbours(const T* D, long long n, long long* neighbor,
                                   double* min_dist) {
    for (long long x = blockIdx.x; x < n - 1; x += gridDim.x) {
        const ArgMin nearest = block_row_argmin(D + x * n, x + 1, n);
        if (threadIdx.x == 0) {
            neighbor[x] = nearest.index;
            min_dist[x] = nearest.index >= 0 ? (double)D[x * n + nearest.index] : gh_inf();
        }
    }
}

// One thread: the heap over min_dist[0 .. n-2] (SciPy's heapify).
extern "C" __global__ void generic_heapify(long long n, const double* min_dist, double* values,
                                           long long* key_by_index, long long* index_by_key) {
    if (threadIdx.x != 0 || blockIdx.x != 0) return;
    const Heap h = {values, key_by_index, index_by_key};
    heap_build(h, min_dist, n - 1);
}

// 1024 threads: the host's loop_threads (gpuhclust/cuda/_context.py); the bound keeps the
// registers within what a block of that size can have.
template <typename T>
__global__ void __launch_bounds__(1024) generic_loop(T* D, long long n, int method, long long* size,
                             long long* cluster_id, long long* neighbor, double* min_dist,
                             double* heap_values, long long* key_by_index,
                             long long* index_by_key, unsigned char* flags, long long* improved,
                             long long* state,
                             double* Z, long long k_stop, long long* fault) {
    __shared__ long long s_k, s_heap_size, s_x, s_y;
    __shared__ double s_dist;
    __shared__ int s_stale, s_fault;
    const Heap h = {heap_values, key_by_index, index_by_key};
    if (threadIdx.x == 0) {
        s_k = state[0];
        s_heap_size = state[1];
        s_fault = 0;
    }
    __syncthreads();
    while (s_k < k_stop && !s_fault) {
        // The heap top, after refreshing stale cached neighbours (at most n - k times, as SciPy).
        for (long long attempt = 0; attempt < n - s_k; ++attempt) {
            if (threadIdx.x == 0) {
                s_x = key_by_index[0];
                s_dist = heap_values[0];
                s_y = neighbor[s_x];
                s_stale = !(s_y >= 0 && s_dist == (double)D[s_x * n + s_y]);
            }
            __syncthreads();
            if (!s_stale) break;
            const ArgMin nearest = block_row_argmin(D + s_x * n, s_x + 1, n);
            if (threadIdx.x == 0) {
                s_y = nearest.index;
                s_dist = nearest.index >= 0 ? (double)D[s_x * n + s_y] : gh_inf();
                neighbor[s_x] = s_y;
                min_dist[s_x] = s_dist;
                heap_change(h, s_heap_size, s_x, s_dist);
            }
            __syncthreads();
        }
        if (threadIdx.x == 0 && s_y < 0) {
            set_fault(fault, GH_FAULT_NO_CANDIDATE, s_k, s_x, -1, -1);
            s_fault = 1;
        }
        __syncthreads();
        if (s_fault) break;
        const long long x = s_x;
        const long long y = s_y;
        const double dist = s_dist;
        const long long size_x = size[x];
        const long long size_y = size[y];
        if (threadIdx.x == 0) {
            s_heap_size = heap_remove_min(h, s_heap_size);
            write_z_row(Z, s_k, cluster_id[x], cluster_id[y], dist, size_x + size_y);
        }
        const long long overflow = merge_into(D, n, method, x, y, dist, size);
        if (threadIdx.x == 0) {
            size[x] = 0;
            size[y] = size_x + size_y;
            cluster_id[y] = n + s_k;
            if (overflow >= 0) {
                set_fault(fault, GH_FAULT_OVERFLOW, s_k, x, y, overflow);
                s_fault = 1;
                s_k += 1;
            }
        }
        __syncthreads();
        if (s_fault) break;

        // Slots below y: those that pointed at x now point at y, and those now nearer to y than
        // to their cached neighbour take y. Each thread takes a contiguous range of slots so
        // that the improved ones can be listed in slot order, which the heap updates need.
        const long long per_thread = (y + blockDim.x - 1) / blockDim.x;
        const long long z_begin = threadIdx.x * per_thread;
        const long long z_end = z_begin + per_thread < y ? z_begin + per_thread : y;
        long long count = 0;
        for (long long z = z_begin; z < z_end; ++z) {
            flags[z] = 0;
            if (size[z] == 0) continue;
            if (z < x && neighbor[z] == x) neighbor[z] = y;
            const double d_zy = (double)D[y * n + z];
            if (d_zy < min_dist[z]) {
                neighbor[z] = y;
                min_dist[z] = d_zy;
                flags[z] = 1;
                count += 1;
            }
        }
        long long total;
        long long slot = block_exclusive_scan(count, &total);
        for (long long z = z_begin; z < z_end && count > 0; ++z) {
            if (flags[z]) {
                improved[slot++] = z;
                count -= 1;
            }
        }
        __syncthreads();
        if (threadIdx.x == 0) {
            for (long long q = 0; q < total; ++q) {
                const long long z = improved[q];
                heap_change(h, s_heap_size, z, min_dist[z]);
            }
        }
        __syncthreads();
        if (y < n - 1) {
            const ArgMin nearest = block_row_argmin(D + y * n, y + 1, n);
            if (threadIdx.x == 0 && nearest.index >= 0) {
                neighbor[y] = nearest.index;
                min_dist[y] = (double)D[y * n + nearest.index];
                heap_change(h, s_heap_size, y, min_dist[y]);
            }
        }
        if (threadIdx.x == 0) s_k += 1;
        __syncthreads();
    }
    if (threadIdx.x == 0) {
        state[0] = s_k;
        state[1] = s_heap_size;
    }
}

// ---------------------------------------------------------------------------------------------
// algorithm='tournament' (the default for centroid and median): the same nearest-neighbour cache
// and the same arithmetic as above, but the global minimum is a tournament argmin over the cache
// (the lowest slot wins a tie) instead of SciPy's heap, so every part of a step is parallel.
// A step does one of:
//   MERGE (x, y at height state: the tournament's winner and its fresh cached neighbour): every
//     live z gets the Lance-Williams update of its distance to y (row and column y), then, as
//     SciPy's loops, z < x with neighbour x takes y, z < y nearer to y than its cached bound
//     takes y, and z > y competes to be y's nearest higher neighbour;
//   RESCAN (x: the winner, whose cached neighbour is stale): x's nearest higher neighbour;
//   TOP (the first step): nothing but the tournament.
// Every step ends with the tournament over the live slots below n-1 (those SciPy's heap holds),
// each block over its own slots after its own updates, then the slot the step updated. On
// tie-free data the winners are the heap's, so Z is SciPy's bit for bit; on any data the CPU's
// (gpuhclust/cpu/_fast_linkage.py).
//
// The loop runs on the device: ONE cooperative launch of tournament_loop (every block resident
// at once) makes the steps of a progress chunk, until k_stop merges are done or the loop ends.
// Each block publishes its two candidates (y's nearest higher neighbour, the tournament's top),
// waits at a grid barrier (grid.cuh), then reads all the candidates and takes the step's
// decisions itself, every block the same; block 0 writes Z, cluster_id, the fault and, at the
// end, the state. A step's latency is mostly its reductions, so they are lean (argmin.cuh's
// step reductions): the block's candidates reach thread 0 with one __syncthreads, and warp 0
// reduces the parts and shares the winners with one more. A RESCAN step changes one cache
// entry, so only the block that owns the rescanned slot redoes its top; the others republish
// the top they kept (thread 0's registers, valid within a launch). A value that a decision
// writes after the barrier is written by the thread that owns its slot (slot z belongs to the
// thread whose grid-stride loop visits z, the one that reads it in the next step), and every
// block keeps what it needs of it (the merged cluster's size, the updated slot's neighbour and
// bound) in registers: no block reads another's write before the next barrier. So the
// candidates alternate between two halves of the parts, and the overflow word between three
// (the one a step will use is reset two steps ahead).
//
// state = [merges done, phase, x, y] (GH_TOURNAMENT_*); *height = the next merge's height;
// overflow (3 words, ~0 before the first launch): the lowest slot whose update overflowed (~0:
// none); parts: 2 gridDim.x each. fault as in generic_loop: the loop stops with it set when the
// winner is at +inf (no finite distance left) or an update overflows. The host starts from
// state = 0 (TOP, no merge done).

#define GH_TOURNAMENT_TOP 0
#define GH_TOURNAMENT_MERGE 1
#define GH_TOURNAMENT_RESCAN 2
#define GH_TOURNAMENT_DONE 3

// Whether slot s is among this block's (a grid-stride loop of `stride` threads visits it).
__device__ __forceinline__ bool slot_here(long long s, long long stride) {
    return (s % stride) / blockDim.x == blockIdx.x;
}

template <typename T>
__global__ void tournament_loop(T* D, long long n, int method, long long* size,
                                long long* cluster_id, long long* neighbor, double* min_dist,
                                long long* state, double* height, double* part_value,
                                long long* part_index, double* top_value, long long* top_index,
                                unsigned int* barrier, unsigned long long* overflow, double* Z,
                                long long* fault, long long k_stop) {
    long long phase = state[1];
    if (phase == GH_TOURNAMENT_DONE) return;
    long long k = state[0];
    long long x = state[2];
    long long y = state[3];
    double dist = *height;
    long long size_x = phase == GH_TOURNAMENT_MERGE ? size[x] : 0;
    long long size_y = phase == GH_TOURNAMENT_MERGE ? size[y] : 0;
    const double inf = gh_inf();
    const bool lead = blockIdx.x == 0 && threadIdx.x == 0;
    const long long stride = (long long)gridDim.x * blockDim.x;
    const long long first = blockIdx.x * (long long)blockDim.x + threadIdx.x;
    // the cache entry of the slot the previous step updated (-1: none), every thread's
    long long updated = -1, updated_neighbor = -1;
    double updated_bound = inf;
    // thread 0's: the top this block published at the previous step of this launch
    ArgMin kept = argmin_none_or_inf();
    for (long long t = 0; phase != GH_TOURNAMENT_DONE && k < k_stop; ++t) {
        const bool merge = phase == GH_TOURNAMENT_MERGE;
        const bool rescan = phase == GH_TOURNAMENT_RESCAN;
        unsigned long long* over = overflow + t % 3;
        // A RESCAN changes x's cache entry alone, so a block's top is the one it published at
        // the previous step, with that step's updated slot taken in: unless x is among its
        // slots (x was its top), when it redoes its part of the tournament. The others only
        // scan their share of row x, and reduce one candidate instead of two.
        const bool keep_top = rescan && t > 0 && (!slot_here(x, stride) || x == updated);
        ArgMin nearest = argmin_none();
        ArgMin top = argmin_none_or_inf();
        long long z = first;
        if (keep_top && first <= x) z += ((x - first) / stride + 1) * stride;  // the first z > x
        for (; z < n; z += stride) {
            const long long size_z = size[z];
            if (size_z == 0 || ((merge || rescan) && z == x) || (merge && z == y)) continue;
            if (merge) {
                const double d_xz = (double)D[x * n + z];
                const T value = (T)lance_williams(method, d_xz, (double)D[y * n + z], dist,
                                                  size_x, size_y, size_z);
                if ((double)value == inf && d_xz < inf) atomicMin(over, (unsigned long long)z);
                D[y * n + z] = value;
                D[z * n + y] = value;
                if (z < x && neighbor[z] == x) neighbor[z] = y;
                if (z < y) {
                    if ((double)value < min_dist[z]) {
                        neighbor[z] = y;
                        min_dist[z] = (double)value;
                    }
                } else {
                    argmin_take(nearest, (double)value, z);
                }
            } else if (rescan && z > x) {
                argmin_take(nearest, (double)D[x * n + z], z);
            }
            if (!keep_top && z < n - 1) argmin_take(top, min_dist[z], z);
        }
        // thread 0 publishes the block's candidates (one __syncthreads), keeps its top
        if (keep_top) {
            nearest = block_argmin_lead(nearest, argmin_none());
            if (threadIdx.x == 0) {
                top = kept;
                if (updated >= 0 && updated != x && slot_here(updated, stride))
                    argmin_take(top, updated_bound, updated);
            }
        } else {
            block_argmin_pair_lead(nearest, top, argmin_none(), argmin_none_or_inf());
        }
        if (threadIdx.x == 0) kept = top;
        const long long half = (t & 1) * gridDim.x;
        publish_candidate(nearest, part_value + half, part_index + half);
        publish_candidate(top, top_value + half, top_index + half);
        grid_sync(barrier);
        nearest = argmin_none();
        top = argmin_none_or_inf();
        grid_parts_argmin_pair(part_value + half, part_index + half, top_value + half,
                               top_index + half, nearest, top);
        const unsigned long long overflowed = *(volatile unsigned long long*)over;
        if (lead) overflow[(t + 2) % 3] = ~0ull;  // every block read it two barriers ago
        // the cache entry of the slot this step updated (y merged, or x rescanned)
        updated = -1;
        updated_neighbor = -1;
        updated_bound = inf;
        long long k_next = k;
        bool stop = false;
        const bool y_owned = y >= first && (y - first) % stride == 0;
        const bool x_owned = x >= first && (x - first) % stride == 0;
        if (merge) {
            if (lead) {
                write_z_row(Z, k, cluster_id[x], cluster_id[y], dist, size_x + size_y);
                cluster_id[y] = n + k;
            }
            if (x_owned) size[x] = 0;
            if (y_owned) size[y] = size_x + size_y;
            k_next = k + 1;
            if (overflowed != ~0ull) {
                if (lead) set_fault(fault, GH_FAULT_OVERFLOW, k, x, y, (long long)overflowed);
                stop = true;
            } else if (y < n - 1) {
                updated = y;
                if (nearest.index >= 0) {
                    updated_neighbor = nearest.index;
                    updated_bound = nearest.value;
                    if (y_owned) {
                        neighbor[y] = nearest.index;
                        min_dist[y] = nearest.value;
                    }
                } else {  // nothing live above y: its cache stays (nobody writes it now)
                    updated_neighbor = neighbor[y];
                    updated_bound = min_dist[y];
                }
                argmin_take(top, updated_bound, y);
            }
        } else if (rescan) {
            updated = x;
            updated_neighbor = nearest.index;
            updated_bound = nearest.index >= 0 ? nearest.value : inf;
            if (x_owned) {
                neighbor[x] = nearest.index;
                min_dist[x] = updated_bound;
            }
            argmin_take(top, updated_bound, x);
        }
        const long long merged = merge ? y : -1;
        const long long merged_size = size_x + size_y;
        k = k_next;
        if (stop || k >= n - 1) {
            phase = GH_TOURNAMENT_DONE;
        } else if (!(top.value < inf)) {  // every cached bound is +inf: nothing finite is left
            if (lead) set_fault(fault, GH_FAULT_NO_CANDIDATE, k, top.index, -1, -1);
            phase = GH_TOURNAMENT_DONE;
        } else {
            x = top.index;
            const long long next_y = x == updated ? updated_neighbor : neighbor[x];
            if (next_y >= 0 && top.value == (double)D[x * n + next_y]) {
                phase = GH_TOURNAMENT_MERGE;
                y = next_y;
                dist = top.value;
                // a size written after this barrier is the writer's alone until the next one
                size_x = x == merged ? merged_size : size[x];
                size_y = y == merged ? merged_size : size[y];
            } else {
                phase = GH_TOURNAMENT_RESCAN;
            }
        }
    }
    if (lead) {
        state[0] = k;
        state[1] = phase;
        state[2] = x;
        state[3] = y;
        *height = dist;
    }
}
