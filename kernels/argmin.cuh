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
