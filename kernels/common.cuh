// Helpers shared by every kernel family: portability, the tie-breaking argmin, block reductions.
//
// The method and metric codes (GH_WARD, GH_EUCLIDEAN, ...) and the tile size GH_TILE are not
// written here: the host passes them as -D options generated from gpuhclust's own tables
// (gpuhclust/cuda/_kernels.py), so Python and CUDA cannot disagree about them.
#pragma once

#if !defined(GH_WARD) || !defined(GH_EUCLIDEAN) || !defined(GH_TILE)
#error "compile the gpuhclust kernels with the defines from gpuhclust.cuda._kernels"
#endif

#define GH_FULL_MASK 0xffffffffu

// NVRTC has no standard headers: +inf from its bit pattern.
__device__ __forceinline__ double gh_inf() { return __longlong_as_double(0x7ff0000000000000LL); }
// A quiet NaN with the sign bit clear (above +inf as an integer key, as on the CPU).
__device__ __forceinline__ double gh_nan() { return __longlong_as_double(0x7ff8000000000000LL); }

// What stopped a merge loop early, in fault[0] (the same codes as gpuhclust.cpu._lazy_matrix);
// fault[1:5] are the merge, its two slots and the slot concerned.
#define GH_FAULT_OVERFLOW 1
#define GH_FAULT_NO_CANDIDATE 2

__device__ __forceinline__ void set_fault(long long* fault, int kind, long long k, long long x,
                                          long long y, long long i) {
    fault[0] = kind;
    fault[1] = k;
    fault[2] = x;
    fault[3] = y;
    fault[4] = i;
}

// A candidate for a minimum: its value and its index.
struct ArgMin {
    double value;
    long long index;
};

__device__ __forceinline__ ArgMin argmin_none() {
    ArgMin a;
    a.value = gh_inf();
    a.index = -1;
    return a;
}

// The one tie rule of every argmin: the smaller value wins, equal values go to the lower index.
// Starting from argmin_none(), +inf and NaN never enter (SciPy's strict '<' from +inf), and the
// order (value, index) is total, so the result does not depend on which thread saw what first.
__device__ __forceinline__ void argmin_take(ArgMin& best, double value, long long index) {
    if (value < best.value || (value == best.value && index < best.index)) {
        best.value = value;
        best.index = index;
    }
}

__device__ __forceinline__ ArgMin warp_argmin(ArgMin a) {
    for (int offset = 16; offset > 0; offset >>= 1) {
        double value = __shfl_down_sync(GH_FULL_MASK, a.value, offset);
        long long index = __shfl_down_sync(GH_FULL_MASK, a.index, offset);
        argmin_take(a, value, index);
    }
    return a;
}

// The argmin of `a` over the (1-D) block, in thread 0 only (the other threads get a partial
// result): for a candidate that thread 0 alone publishes. `none` is what every thread started
// from (argmin_none() unless the caller lets +inf candidates in, see argmin.cuh). Every thread
// must call it; blockDim.x a multiple of 32. Its one __syncthreads leaves the staging arrays to
// warp 0, so a caller must pass another barrier before the next call writes them again.
__device__ ArgMin block_argmin_lead(ArgMin a, ArgMin none = argmin_none()) {
    __shared__ double s_value[32];
    __shared__ long long s_index[32];
    const int lane = threadIdx.x & 31;
    const int warp = threadIdx.x >> 5;
    a = warp_argmin(a);
    if (lane == 0) {
        s_value[warp] = a.value;
        s_index[warp] = a.index;
    }
    __syncthreads();
    if (warp == 0) {
        a = none;
        if (lane < (int)(blockDim.x >> 5)) {
            a.value = s_value[lane];
            a.index = s_index[lane];
        }
        a = warp_argmin(a);
    }
    return a;
}

// The argmin over the whole (1-D) block, returned to every thread: block_argmin_lead, then
// thread 0's result for everyone. Every thread of the block must call it; blockDim.x must be a
// multiple of 32. `none` as for block_argmin_lead.
__device__ ArgMin block_argmin(ArgMin a, ArgMin none = argmin_none()) {
    __shared__ double s_value[1];
    __shared__ long long s_index[1];
    a = block_argmin_lead(a, none);
    if (threadIdx.x == 0) {
        s_value[0] = a.value;
        s_index[0] = a.index;
    }
    __syncthreads();
    ArgMin result;
    result.value = s_value[0];
    result.index = s_index[0];
    __syncthreads();  // the next call may overwrite s_value
    return result;
}

// First minimum of row[lo:hi) under the tie rule, or (inf, -1) when no entry is below +inf.
template <typename T>
__device__ ArgMin block_row_argmin(const T* row, long long lo, long long hi) {
    ArgMin a = argmin_none();
    for (long long i = lo + threadIdx.x; i < hi; i += blockDim.x) {
        argmin_take(a, (double)row[i], i);
    }
    return block_argmin(a);
}

// Exclusive prefix sum of `value` over the (1-D) block; `*total` receives the block's sum.
// Every thread must call it; blockDim.x must be a multiple of 32.
__device__ long long block_exclusive_scan(long long value, long long* total) {
    __shared__ long long s_warp_sum[32];
    const int lane = threadIdx.x & 31;
    const int warp = threadIdx.x >> 5;
    const int nwarps = blockDim.x >> 5;
    long long inclusive = value;
    for (int offset = 1; offset < 32; offset <<= 1) {
        long long other = __shfl_up_sync(GH_FULL_MASK, inclusive, offset);
        if (lane >= offset) inclusive += other;
    }
    if (lane == 31) s_warp_sum[warp] = inclusive;
    __syncthreads();
    if (warp == 0) {
        long long w = lane < nwarps ? s_warp_sum[lane] : 0;
        for (int offset = 1; offset < 32; offset <<= 1) {
            long long other = __shfl_up_sync(GH_FULL_MASK, w, offset);
            if (lane >= offset) w += other;
        }
        if (lane < nwarps) s_warp_sum[lane] = w;
    }
    __syncthreads();
    const long long before = (warp > 0 ? s_warp_sum[warp - 1] : 0) + inclusive - value;
    *total = s_warp_sum[nwarps - 1];
    __syncthreads();
    return before;
}

// SciPy's row k of Z (row-major, 4 columns): the two clusters' ids (lower first), the height
// and the new cluster's size (cpu/_lazy_matrix.write_z_row).
__device__ __forceinline__ void write_z_row(double* Z, long long k, long long id_x,
                                            long long id_y, double height, double size) {
    Z[4 * k] = (double)(id_x < id_y ? id_x : id_y);
    Z[4 * k + 1] = (double)(id_x < id_y ? id_y : id_x);
    Z[4 * k + 2] = height;
    Z[4 * k + 3] = size;
}
