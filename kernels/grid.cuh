// A barrier for the whole grid, for kernels whose loop runs on the device across many steps
// (a persistent kernel) instead of one launch per step.
//
// Only for a cooperative launch (cuLaunchCooperativeKernel: every block of the grid resident at
// once; without that guarantee a block waiting here may keep another from ever starting).
// `barrier`: two unsigned ints in global memory, both 0 before the launch; they are 0 again
// after every barrier but the generation, which only grows. On the kernel simulator the
// blocks take turns between barriers (gpuhclust/_sim/gpusim.h, run_grid), so it has its own
// barrier there, and the cost model charges each one the measured grid barrier.
#pragma once

__device__ __forceinline__ void grid_sync(unsigned int* barrier) {
#ifdef GPUSIM
    (void)barrier;
    __gpusim_grid_sync();
#else
    __syncthreads();  // the block's work before the barrier is done
    if (threadIdx.x == 0 && threadIdx.y == 0 && threadIdx.z == 0) {
        volatile unsigned int* generation = barrier + 1;
        const unsigned int before = *generation;  // it cannot move before this block arrives
        const unsigned int blocks = gridDim.x * gridDim.y * gridDim.z;
        __threadfence();  // the block's writes are visible to the grid before it arrives
        if (atomicAdd(barrier, 1u) == blocks - 1) {
            atomicExch(barrier, 0u);
            __threadfence();
            atomicAdd(barrier + 1, 1u);  // the last to arrive lets every block go
        } else {
            while (*generation == before) {
            }
        }
        __threadfence();
    }
    __syncthreads();
#endif
}
