// Lance-Williams updates, the same expressions in the same order as SciPy's
// _hierarchy_distance_update.pxi and gpuhclust/cpu/_lance_williams.py (integer sums and products
// where SciPy has them, float64 arithmetic whatever the storage type); GH_WARD_SQUARED, ward on
// squared distances for the rounds, is gpuhclust's own (gpuhclust/_methods.py). Compiled with
// --fmad=false, they give the CPU backend's values to the last bit.
#pragma once
#include "common.cuh"

// Below this, the square of a distance is subnormal (or 0): sqrt of float64's smallest normal.
#define GH_SQRT_TINY 1.4916681462400413e-154
#define GH_DBL_MAX 1.7976931348623157e308

__device__ __forceinline__ double lw_radicand(int method, double d_xi, double d_yi, double d_xy,
                                              long long size_x, long long size_y,
                                              long long size_i) {
    switch (method) {
    case GH_CENTROID:
        return (((double)size_x * d_xi * d_xi) + ((double)size_y * d_yi * d_yi)
                - ((double)(size_x * size_y) * d_xy * d_xy) / (double)(size_x + size_y))
               / (double)(size_x + size_y);
    case GH_MEDIAN:
        return 0.5 * (d_xi * d_xi + d_yi * d_yi) - 0.25 * d_xy * d_xy;
    default: {  // GH_WARD
        const double t = 1.0 / (double)(size_x + size_y + size_i);
        return (double)(size_i + size_x) * t * d_xi * d_xi
               + (double)(size_i + size_y) * t * d_yi * d_yi
               - (double)size_i * t * d_xy * d_xy;
    }
    }
}

// Centroid, median, ward: the square root of the squared update. Where the squares leave
// float64's range (an overflow makes the radicand +inf or NaN for finite operands; operands below
// GH_SQRT_TINY square to subnormals) the operands are multiplied by 1/s, s the largest of them,
// and the root by s: finite whenever the true distance is. Ordinary magnitudes take the unscaled
// expression, SciPy's (the first pass: multiplying by 1.0 changes no bit). +inf operands (dead
// clusters) stay +inf. One loop for both passes keeps the rare one from costing the merge loops
// registers; gpuhclust/cpu/_lance_williams.py computes the same values.
__device__ __forceinline__ double lw_squared_method(int method, double d_xi, double d_yi,
                                                    double d_xy, long long size_x,
                                                    long long size_y, long long size_i) {
    double scale = 1.0;
    double inv = 1.0;
    double q;
#pragma unroll 1
    for (int pass = 0;; ++pass) {
        q = lw_radicand(method, d_xi * inv, d_yi * inv, d_xy * inv, size_x, size_y, size_i);
        if (pass > 0) break;
        double s = d_xi > d_yi ? d_xi : d_yi;
        s = s > d_xy ? s : d_xy;
        if (!((!(q <= GH_DBL_MAX) && s < gh_inf()) || (s > 0.0 && s < GH_SQRT_TINY))) break;
        scale = s;
        inv = 1.0 / s;
    }
    return scale * sqrt(q);
}

// Ward on squared distances (GH_WARD_SQUARED, not one of SciPy's codes: gpuhclust._methods):
// ward's radicand on the squares themselves, NaN where rounding makes it negative.
__device__ __forceinline__ double lw_ward_squared(double d_xi, double d_yi, double d_xy,
                                                  long long size_x, long long size_y,
                                                  long long size_i) {
    const double q = ((double)(size_i + size_x) * d_xi + (double)(size_i + size_y) * d_yi
                      - (double)size_i * d_xy)
                     / (double)(size_x + size_y + size_i);
    return q < 0.0 ? gh_nan() : q;
}

__device__ __forceinline__ double lance_williams(int method, double d_xi, double d_yi,
                                                 double d_xy, long long size_x,
                                                 long long size_y, long long size_i) {
    switch (method) {
    case GH_SINGLE:
        return d_yi < d_xi ? d_yi : d_xi;
    case GH_COMPLETE:
        return d_yi > d_xi ? d_yi : d_xi;
    case GH_AVERAGE:
        return ((double)size_x * d_xi + (double)size_y * d_yi) / (double)(size_x + size_y);
    case GH_CENTROID:
    case GH_MEDIAN:
    case GH_WARD:
        return lw_squared_method(method, d_xi, d_yi, d_xy, size_x, size_y, size_i);
    case GH_WARD_SQUARED:
        return lw_ward_squared(d_xi, d_yi, d_xy, size_x, size_y, size_i);
    default:  // GH_WEIGHTED
        return 0.5 * (d_xi + d_yi);
    }
}

// Merge cluster x into slot y of the square matrix D (symmetric, +inf on the diagonal and in
// dead clusters' rows and columns): row and column y get the distances to the union, row and
// column x become +inf. Every thread of the block calls it with the same arguments; `size`
// still holds the sizes before the merge. Returns, to every thread, the lowest live cluster i
// whose distance to the union became +inf (in T) while its distance to x was finite (an
// overflow of the update or of the storage type), or -1.
template <typename T>
__device__ long long merge_into(T* D, long long n, int method, long long x, long long y,
                                double d_xy, const long long* size) {
    __shared__ unsigned long long s_overflow;
    const long long size_x = size[x];
    const long long size_y = size[y];
    const double inf = gh_inf();
    if (threadIdx.x == 0) s_overflow = ~0ull;
    __syncthreads();
    for (long long i = threadIdx.x; i < n; i += blockDim.x) {
        if (i == x || i == y || size[i] == 0) continue;
        const double d_xi = (double)D[x * n + i];
        const T value = (T)lance_williams(method, d_xi, (double)D[y * n + i], d_xy, size_x,
                                          size_y, size[i]);
        if ((double)value == inf && d_xi < inf) atomicMin(&s_overflow, (unsigned long long)i);
        D[y * n + i] = value;
        D[i * n + y] = value;
        D[x * n + i] = (T)inf;
        D[i * n + x] = (T)inf;
    }
    if (threadIdx.x == 0) {
        D[x * n + y] = (T)inf;
        D[y * n + x] = (T)inf;
    }
    __syncthreads();
    const unsigned long long overflow = s_overflow;
    __syncthreads();  // read by all before the next call resets it
    return overflow == ~0ull ? -1 : (long long)overflow;
}
