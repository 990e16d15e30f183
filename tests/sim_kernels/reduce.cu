// Tiled shared-memory sum reduction: one partial sum per block (test kernel).
template <typename T>
__global__ void block_sum(const T* __restrict__ x, T* __restrict__ out, int n) {
    __shared__ T tile[256];
    const int tid = threadIdx.x;
    const int i = blockIdx.x * blockDim.x + tid;
    tile[tid] = i < n ? x[i] : T(0);
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1) {
        if (tid < s) tile[tid] += tile[tid + s];
        __syncthreads();
    }
    if (tid == 0) out[blockIdx.x] = tile[0];
}

// The same without the barrier after the load: threads read neighbours'
// tiles that may not be written yet.
template <typename T>
__global__ void block_sum_racy(const T* __restrict__ x, T* __restrict__ out, int n) {
    __shared__ T tile[256];
    const int tid = threadIdx.x;
    const int i = blockIdx.x * blockDim.x + tid;
    tile[tid] = i < n ? x[i] : T(0);
    for (int s = blockDim.x / 2; s > 0; s >>= 1) {
        if (tid < s) tile[tid] += tile[tid + s];
        __syncthreads();
    }
    if (tid == 0) out[blockIdx.x] = tile[0];
}

// Neighbour exchange without a barrier: out[i] = tile[(tid+1) % blockDim].
extern "C" __global__ void shift_nosync(const float* x, float* out) {
    __shared__ float tile[128];
    const int tid = threadIdx.x;
    tile[tid] = x[blockIdx.x * blockDim.x + tid];
    out[blockIdx.x * blockDim.x + tid] = tile[(tid + 1) % blockDim.x];
}

// Reads shared memory no thread wrote (poison check), float and int.
extern "C" __global__ void read_uninit(float* f, int* k) {
    __shared__ float sf[64];
    __shared__ int si[64];
    if (threadIdx.x == 0) { sf[0] = 1.0f; si[0] = 7; }
    __syncthreads();
    f[threadIdx.x] = sf[threadIdx.x];
    k[threadIdx.x] = si[threadIdx.x];
}

template <typename T>
__global__ void read_uninit_tpl(T* out) {
    __shared__ T s[32];
    if (threadIdx.x == 0) s[0] = T(3);
    __syncthreads();
    out[threadIdx.x] = s[threadIdx.x];
}
