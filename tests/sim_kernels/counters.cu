// Kernels whose counts are known exactly (tests/test_sim_counters.py).

// One block per row, one thread per column: each warp writes 32 consecutive floats (4 sectors).
extern "C" __global__ void write_rows(float* out, int n) {
    for (int j = threadIdx.x; j < n; j += blockDim.x) out[(long long)blockIdx.x * n + j] = (float)j;
}

// The same matrix written column-wise: lane j writes row j, so a warp's 32 stores are n floats
// apart (one sector each when n >= 8).
extern "C" __global__ void write_cols(float* out, int n) {
    for (int i = threadIdx.x; i < n; i += blockDim.x) out[(long long)i * n + blockIdx.x] = (float)i;
}

// Reads a[i * stride] for i = thread index: stride 1 is coalesced, larger strides are not.
extern "C" __global__ void read_strided(const double* a, double* out, int stride) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    out[i] = a[(long long)i * stride];
}

// `rounds` block barriers per block; the shared tile is not global memory.
extern "C" __global__ void barriers(int rounds, float* out) {
    __shared__ float tile[256];
    for (int r = 0; r < rounds; ++r) {
        tile[threadIdx.x] = (float)r;
        __syncthreads();
    }
    if (threadIdx.x == 0) out[blockIdx.x] = tile[blockDim.x - 1];
}

// A warp reduction: five shuffles per warp, then one __ballot_sync per warp.
extern "C" __global__ void warp_sum(const float* x, float* out) {
    float v = x[blockIdx.x * blockDim.x + threadIdx.x];
    for (int d = 16; d > 0; d >>= 1) v += __shfl_down_sync(0xffffffffu, v, d);
    const unsigned any = __ballot_sync(0xffffffffu, v > 0.f);
    if ((threadIdx.x & 31) == 0) out[(blockIdx.x * blockDim.x + threadIdx.x) / 32] = any ? v : 0.f;
}

// Every thread adds one to a global counter and one to a shared one.
extern "C" __global__ void count_threads(int* total) {
    __shared__ int local;
    if (threadIdx.x == 0) local = 0;
    __syncthreads();
    atomicAdd(&local, 1);
    atomicAdd(total, 1);
}

// A serial section: thread 0 walks `steps` dependent entries of a list while the block waits.
extern "C" __global__ void serial_walk(const int* next, int steps, int* out) {
    if (threadIdx.x == 0) {
        int i = 0;
        for (int s = 0; s < steps; ++s) i = next[i];
        out[blockIdx.x] = i;
    }
    __syncthreads();
}

// Each lane fills its own sector (8 floats) over 8 stores: every sector written whole in the end.
extern "C" __global__ void fill_own_sector(float* x) {
    for (int k = 0; k < 8; ++k) x[threadIdx.x * 8 + k] = 1.f;
}

// The column write of write_cols in float64: 8 of each sector's 32 bytes.
extern "C" __global__ void write_cols_double(double* out, int n) {
    for (int i = threadIdx.x; i < n; i += blockDim.x) out[(long long)i * n + blockIdx.x] = (double)i;
}

// Every thread of block b reads the same element a[b] (a broadcast to the warp) and writes it.
extern "C" __global__ void read_broadcast(const double* a, double* out) {
    out[blockIdx.x * blockDim.x + threadIdx.x] = a[blockIdx.x];
}
