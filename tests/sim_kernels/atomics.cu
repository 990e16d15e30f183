// Atomics (test kernels).
extern "C" __global__ void count_all(unsigned long long* c, int* ci, float* cf) {
    atomicAdd(c, 1ull);
    atomicAdd(ci, 1);
    atomicAdd(cf, 1.0f);
}

extern "C" __global__ void min_max(const int* x, int n, int* mn, int* mx, unsigned long long* umn) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) {
        atomicMin(mn, x[i]);
        atomicMax(mx, x[i]);
        atomicMin(umn, (unsigned long long)(x[i] + 1000));
    }
}

// Each thread claims a slot with atomicCAS: every slot gets exactly one owner.
extern "C" __global__ void claim(int* slots, int nslots, int* failures) {
    const int me = blockIdx.x * blockDim.x + threadIdx.x;
    for (int s = 0; s < nslots; ++s) {
        if (atomicCAS(&slots[s], -1, me) == -1) return;
    }
    atomicAdd(failures, 1);
}

// Plain read-modify-write: a data race between the CUDA threads.
extern "C" __global__ void racy_count(int* c) {
    *c += 1;
}

// Shared-memory histogram with atomics and barriers: race free.
extern "C" __global__ void histogram(const int* x, int n, int* hist) {
    __shared__ int h[16];
    if (threadIdx.x < 16) h[threadIdx.x] = 0;
    __syncthreads();
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x)
        atomicAdd(&h[x[i] & 15], 1);
    __syncthreads();
    if (threadIdx.x < 16) atomicAdd(&hist[threadIdx.x], h[threadIdx.x]);
}

// Dims, types and values for argument checks.
extern "C" __global__ void args_probe(double* out, const float* in, int i32, long long i64, float f,
                                      double d, bool b, unsigned u) {
    if (threadIdx.x == 0 && blockIdx.x == 0) {
        out[0] = in[0]; out[1] = i32; out[2] = (double)i64; out[3] = f; out[4] = d; out[5] = b; out[6] = u;
        out[7] = gridDim.x * 100 + gridDim.y * 10 + gridDim.z;
        out[8] = blockDim.x * 100 + blockDim.y * 10 + blockDim.z;
    }
}

// Records each thread's 3D indices.
extern "C" __global__ void indices(int* out) {
    const int bl = blockIdx.x + gridDim.x * (blockIdx.y + gridDim.y * blockIdx.z);
    const int th = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
    const int i = bl * (blockDim.x * blockDim.y * blockDim.z) + th;
    out[4 * i] = bl; out[4 * i + 1] = threadIdx.x; out[4 * i + 2] = threadIdx.y; out[4 * i + 3] = threadIdx.z;
}

// Each thread takes a ticket: order[ticket] = thread, i.e. the order in which
// the threads of the block ran (no barrier, so each runs to completion).
extern "C" __global__ void ticket(int* counter, int* order) {
    const int t = atomicAdd(counter, 1);
    order[t] = blockIdx.x * blockDim.x + threadIdx.x;
}
