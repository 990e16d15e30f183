// Warp intrinsics (test kernels).  op: 0 idx, 1 up, 2 down, 3 xor.
template <typename T>
__global__ void shfl_all(const T* in, T* out, int op, int arg, int width) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    const T v = in[i];
    T r;
    switch (op) {
        case 0: r = __shfl_sync(0xffffffffu, v, arg, width); break;
        case 1: r = __shfl_up_sync(0xffffffffu, v, (unsigned)arg, width); break;
        case 2: r = __shfl_down_sync(0xffffffffu, v, (unsigned)arg, width); break;
        default: r = __shfl_xor_sync(0xffffffffu, v, arg, width); break;
    }
    out[i] = r;
}

extern "C" __global__ void votes(const int* pred, unsigned* ballot, int* any, int* all) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    const int p = pred[i];
    ballot[i] = __ballot_sync(0xffffffffu, p);
    any[i] = __any_sync(0xffffffffu, p);
    all[i] = __all_sync(0xffffffffu, p);
}

// Warp-shuffle sum reduction with atomicAdd of per-warp sums.
extern "C" __global__ void warp_sum(const double* x, double* total, int n) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    double v = i < n ? x[i] : 0.0;
    for (int off = 16; off > 0; off >>= 1) v += __shfl_down_sync(0xffffffffu, v, off);
    if ((threadIdx.x & 31) == 0) atomicAdd(total, v);
}

// Lane 0 exits; the others shuffle with a full mask -> deadlock.
extern "C" __global__ void shfl_exited(int* out) {
    if (threadIdx.x == 0) return;
    out[threadIdx.x] = __shfl_sync(0xffffffffu, (int)threadIdx.x, 1);
}

// Half of the block skips the barrier by returning early.
extern "C" __global__ void divergent_sync(int* out) {
    if (threadIdx.x >= 16) return;
    __syncthreads();
    out[threadIdx.x] = 1;
}

// Two different barriers.
extern "C" __global__ void two_barriers(int* out) {
    if (threadIdx.x & 1) {
        __syncthreads();
    } else {
        __syncthreads();
    }
    out[threadIdx.x] = 1;
}

extern "C" __global__ void sync_count(const int* pred, int* out) {
    const int p = pred[threadIdx.x];
    const int c = __syncthreads_count(p);
    const int o = __syncthreads_or(p);
    const int a = __syncthreads_and(p);
    out[3 * threadIdx.x] = c;
    out[3 * threadIdx.x + 1] = o;
    out[3 * threadIdx.x + 2] = a;
}
