// A grid-wide argmin inside one launch, for loops whose every step is one launch (run as nodes
// of a CUDA graph, so no step may need the host): each block publishes its candidate, and the
// last block to finish (a ticket counter, as in CUDA's threadFenceReduction sample) reduces
// them and carries out the step's sequential part. Candidates are (value, index) pairs under
// argmin_take's total order, so which block comes last never changes the result.
#pragma once
#include "common.cuh"

// A start that lets +inf candidates in (NaN still never enters): the lowest index among them
// wins when no candidate is finite, for a loop that must name a slot even then.
__device__ __forceinline__ ArgMin argmin_none_or_inf() {
    ArgMin a;
    a.value = gh_inf();
    a.index = 0x7fffffffffffffffLL;
    return a;
}

// Thread 0 leaves the block's candidate in part_*[blockIdx.x].
__device__ __forceinline__ void publish_candidate(ArgMin candidate, double* part_value,
                                                  long long* part_index) {
    if (threadIdx.x == 0) {
        part_value[blockIdx.x] = candidate.value;
        part_index[blockIdx.x] = candidate.index;
    }
}

// After every publish_candidate of the block: takes the block's ticket and returns, to every
// thread, whether it is the last block of the grid to finish. Every thread must call it, once
// per launch; the last block resets the ticket (grid_step_done) before it returns.
__device__ bool grid_last_block(unsigned int* ticket) {
    __shared__ int s_last;
    if (threadIdx.x == 0) {
        __threadfence();  // the block's candidates are visible to the grid before its ticket
        s_last = atomicAdd(ticket, 1u) == gridDim.x - 1;
    }
    __syncthreads();
    const bool last = s_last;
    if (last) __threadfence();
    return last;
}

// In the last block: the argmin of every block's candidate, to every thread.
__device__ ArgMin grid_parts_argmin(const double* part_value, const long long* part_index,
                                    ArgMin none) {
    // volatile: other blocks' candidates, never a value this SM may hold in L1
    const volatile double* values = part_value;
    const volatile long long* indices = part_index;
    ArgMin a = none;
    for (long long q = threadIdx.x; q < gridDim.x; q += blockDim.x) {
        argmin_take(a, values[q], indices[q]);
    }
    return block_argmin(a, none);
}

// The last block's thread 0, when the step's sequential part is done: the next step starts
// from a zero ticket.
__device__ __forceinline__ void grid_step_done(unsigned int* ticket) {
    if (threadIdx.x == 0) *ticket = 0;
}

// -- reductions for a loop whose every step ends at a grid barrier (tournament_loop) -----------
// Fewer __syncthreads than block_argmin / grid_parts_argmin, which stay as they are for the
// kernels that use them: a block's candidate only needs to reach the thread that publishes it,
// and the grid barrier between two steps already orders one step's reads of the shared staging
// before the next step's writes. So each helper below has ONE __syncthreads, and between two
// calls of the same helper the block must pass another barrier (a grid barrier in a loop's
// step) after the call's readers are done. Two candidates travel together (four shuffles per
// level, independent of each other), and the tie rule is argmin_take's throughout.

// Two warp argmins at once; lane 0 ends with both.
__device__ __forceinline__ void warp_argmin_pair(ArgMin& a, ArgMin& b) {
    for (int offset = 16; offset > 0; offset >>= 1) {
        const double a_value = __shfl_down_sync(GH_FULL_MASK, a.value, offset);
        const long long a_index = __shfl_down_sync(GH_FULL_MASK, a.index, offset);
        const double b_value = __shfl_down_sync(GH_FULL_MASK, b.value, offset);
        const long long b_index = __shfl_down_sync(GH_FULL_MASK, b.index, offset);
        argmin_take(a, a_value, a_index);
        argmin_take(b, b_value, b_index);
    }
}

// block_argmin_lead for two candidates at once (a from none_a, b from none_b).
__device__ void block_argmin_pair_lead(ArgMin& a, ArgMin& b, ArgMin none_a, ArgMin none_b) {
    __shared__ double s_value[2][32];
    __shared__ long long s_index[2][32];
    const int lane = threadIdx.x & 31;
    const int warp = threadIdx.x >> 5;
    warp_argmin_pair(a, b);
    if (lane == 0) {
        s_value[0][warp] = a.value;
        s_index[0][warp] = a.index;
        s_value[1][warp] = b.value;
        s_index[1][warp] = b.index;
    }
    __syncthreads();
    if (warp == 0) {
        a = none_a;
        b = none_b;
        if (lane < (int)(blockDim.x >> 5)) {
            a.value = s_value[0][lane];
            a.index = s_index[0][lane];
            b.value = s_value[1][lane];
            b.index = s_index[1][lane];
        }
        warp_argmin_pair(a, b);
    }
}

// After the grid barrier that follows every block's publish_candidate of both: the argmins of
// the published candidates a_*[0 .. gridDim.x) and b_*[0 .. gridDim.x), to every thread. a and
// b hold their `none` on entry. Warp 0 alone reads the parts (the other warps would only
// repeat its reads of the same L2 lines) and hands the result on through shared memory.
__device__ void grid_parts_argmin_pair(const double* a_value, const long long* a_index,
                                       const double* b_value, const long long* b_index,
                                       ArgMin& a, ArgMin& b) {
    __shared__ double s_value[2];
    __shared__ long long s_index[2];
    if (threadIdx.x < 32) {
        // volatile: other blocks' candidates, never a value this SM may hold in L1
        const volatile double* av = a_value;
        const volatile long long* ai = a_index;
        const volatile double* bv = b_value;
        const volatile long long* bi = b_index;
        for (unsigned int q = threadIdx.x; q < gridDim.x; q += 32) {
            argmin_take(a, av[q], ai[q]);
            argmin_take(b, bv[q], bi[q]);
        }
        warp_argmin_pair(a, b);
        if (threadIdx.x == 0) {
            s_value[0] = a.value;
            s_index[0] = a.index;
            s_value[1] = b.value;
            s_index[1] = b.index;
        }
    }
    __syncthreads();
    a.value = s_value[0];
    a.index = s_index[0];
    b.value = s_value[1];
    b.index = s_index[1];
}
