// Grid-wide barriers (kernels/grid.cuh) for tests/test_simulator.py. Compile with -I kernels/.
#include "grid.cuh"

// `steps` rounds: each thread writes its slot of a[step % 2] from its left neighbour's slot of
// the other half (another block's, for the first thread of a block), then the grid waits. With
// a barrier each value moves one slot per step: out[i] = i - steps (mod n). Shared memory is
// read back after the barrier, so a block that runs between two of this block's turns must not
// change it.
extern "C" __global__ void shift(long long* a, long long n, int steps, unsigned int* barrier,
                                 long long* out) {
    __shared__ long long s_mine[64];
    const long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x;
    if (i < n) a[i] = i;
    grid_sync(barrier);
    for (int step = 0; step < steps; ++step) {
        const long long* from = a + (step % 2) * n;
        long long* to = a + ((step + 1) % 2) * n;
        long long v = 0;
        if (i < n) v = from[(i + n - 1) % n];
        s_mine[threadIdx.x] = blockIdx.x;
        grid_sync(barrier);
        if (i < n) to[i] = v;
        if (i < n && s_mine[threadIdx.x] != blockIdx.x) to[i] = -1;  // shared memory changed
        grid_sync(barrier);
    }
    if (i < n) out[i] = a[(steps % 2) * n + i];
}

// Block `skip` leaves before the barrier: an error, not a hang.
extern "C" __global__ void skip_barrier(long long skip, unsigned int* barrier) {
    if (blockIdx.x == skip) return;
    grid_sync(barrier);
}

// Thread 0 of every block waits at the grid barrier while the others wait at __syncthreads.
extern "C" __global__ void split_barrier(unsigned int* barrier) {
    if (threadIdx.x == 0) grid_sync(barrier);
    else __syncthreads();
}
