// Centroid and median: SciPy's fast_linkage (Müllner's generic algorithm). These methods have
// inversions, so merges happen one at a time at the global minimum. Each slot caches a nearest
// neighbour among the higher slots and the distance to it, in a binary heap with SciPy's sift
// rules (so ties go the way SciPy's go); one block runs the loop on the device, its threads
// sharing the row scans and updates while thread 0 keeps the heap.
//
// state = [merges done, heap size]; Z receives SciPy's rows (ids, height, size) in merge order.
// fault as in nn_chain.cu: the loop stops early with it set when the heap's top has no finite
// neighbour left (its argmin is -1) or a merge's update overflows.
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
    const long long size = n - 1;
    for (long long i = 0; i < size; ++i) {
        values[i] = min_dist[i];
        key_by_index[i] = i;
        index_by_key[i] = i;
    }
    for (long long i = size / 2 - 1; i >= 0; --i) heap_sift_down(h, size, i);
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
            heap_swap(h, 0, s_heap_size - 1);  // remove the minimum
            s_heap_size -= 1;
            heap_sift_down(h, s_heap_size, 0);
            const long long id_x = cluster_id[x];
            const long long id_y = cluster_id[y];
            Z[4 * s_k] = (double)(id_x < id_y ? id_x : id_y);
            Z[4 * s_k + 1] = (double)(id_x < id_y ? id_y : id_x);
            Z[4 * s_k + 2] = dist;
            Z[4 * s_k + 3] = (double)(size_x + size_y);
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
