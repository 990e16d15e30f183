// Complete, average, weighted and ward: SciPy's nearest-neighbour chain, as one block that runs
// the whole loop on the device (no host round trip per merge; the host only splits the run into
// chunks of merges, for progress and Ctrl-C).
//
// The same chain on the same values gives SciPy's merges, ties included: the chain starts at
// the lowest active slot, the previous chain element wins a tie for the nearest neighbour,
// otherwise the lowest index wins, and the union takes the larger of the two slots.
//
// state = [merges done, chain length]; merges receives (x, y, height) per merge in slot numbers.
// fault = [kind, merge, x, y, i] (gpuhclust.cpu._lazy_matrix: GH_FAULT_*): the loop stops early
// with it set when the chain's end has no finite distance left (a row of +inf/NaN: its argmin is
// -1 and must not be used as an index) or a merge's update overflows.
#include "lance_williams.cuh"

template <typename T>
__global__ void nn_chain_loop(T* D, long long n, int method, long long* size, long long* chain,
                              long long* state, double* merges, long long k_stop,
                              long long* fault) {
    __shared__ long long s_k, s_length, s_x, s_y;
    __shared__ double s_height;
    __shared__ int s_grow, s_fault;
    if (threadIdx.x == 0) {
        s_k = state[0];
        s_length = state[1];
        s_fault = 0;
    }
    __syncthreads();
    while (s_k < k_stop && !s_fault) {
        if (s_length == 0) {
            ArgMin first = argmin_none();
            for (long long i = threadIdx.x; i < n; i += blockDim.x) {
                if (size[i] > 0) argmin_take(first, 0.0, i);
            }
            first = block_argmin(first);
            if (threadIdx.x == 0) {
                chain[0] = first.index;
                s_length = 1;
            }
            __syncthreads();
        }
        // Grow the chain until its last two elements are each other's nearest neighbours.
        while (true) {
            const long long x = chain[s_length - 1];
            const ArgMin nearest = block_row_argmin(D + x * n, 0, n);
            if (threadIdx.x == 0 && nearest.index < 0) {
                set_fault(fault, GH_FAULT_NO_CANDIDATE, s_k, x, -1, -1);
                s_fault = 1;
            }
            __syncthreads();
            if (s_fault) break;
            if (threadIdx.x == 0) {
                long long y = nearest.index;
                double height = nearest.value;
                s_grow = 1;
                if (s_length > 1) {
                    const long long previous = chain[s_length - 2];
                    const double to_previous = (double)D[x * n + previous];
                    if (!(nearest.value < to_previous)) {
                        y = previous;
                        height = to_previous;
                        s_grow = 0;
                    }
                }
                if (s_grow) {
                    chain[s_length] = y;
                    s_length += 1;
                }
                s_x = x < y ? x : y;
                s_y = x < y ? y : x;
                s_height = height;
            }
            __syncthreads();
            if (!s_grow) break;
        }
        if (s_fault) break;
        if (threadIdx.x == 0) {
            s_length -= 2;
            merges[3 * s_k] = (double)s_x;
            merges[3 * s_k + 1] = (double)s_y;
            merges[3 * s_k + 2] = s_height;
        }
        const long long overflow = merge_into(D, n, method, s_x, s_y, s_height, size);
        if (threadIdx.x == 0) {
            size[s_y] += size[s_x];
            size[s_x] = 0;
            if (overflow >= 0) {
                set_fault(fault, GH_FAULT_OVERFLOW, s_k, s_x, s_y, overflow);
                s_fault = 1;
            }
            s_k += 1;
        }
        __syncthreads();
    }
    if (threadIdx.x == 0) {
        state[0] = s_k;
        state[1] = s_length;
    }
}
