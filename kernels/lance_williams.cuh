// Lance-Williams updates, the same expressions in the same order as SciPy's
// _hierarchy_distance_update.pxi and gpuhclust/cpu/_lance_williams.py (integer sums and products
// where SciPy has them, float64 arithmetic whatever the storage type). Compiled with
// --fmad=false, they give the CPU backend's values to the last bit.
#pragma once
#include "common.cuh"

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
        return sqrt((((double)size_x * d_xi * d_xi) + ((double)size_y * d_yi * d_yi)
                     - ((double)(size_x * size_y) * d_xy * d_xy) / (double)(size_x + size_y))
                    / (double)(size_x + size_y));
    case GH_MEDIAN:
        return sqrt(0.5 * (d_xi * d_xi + d_yi * d_yi) - 0.25 * d_xy * d_xy);
    case GH_WARD: {
        const double t = 1.0 / (double)(size_x + size_y + size_i);
        return sqrt((double)(size_i + size_x) * t * d_xi * d_xi
                    + (double)(size_i + size_y) * t * d_yi * d_yi
                    - (double)size_i * t * d_xy * d_xy);
    }
    default:  // GH_WEIGHTED
        return 0.5 * (d_xi + d_yi);
    }
}

// Merge cluster x into slot y of the square matrix D (symmetric, +inf on the diagonal and in
// dead clusters' rows and columns): row and column y get the distances to the union, row and
// column x become +inf. Every thread of the block calls it with the same arguments; `size`
// still holds the sizes before the merge.
template <typename T>
__device__ void merge_into(T* D, long long n, int method, long long x, long long y,
                           double d_xy, const long long* size) {
    const long long size_x = size[x];
    const long long size_y = size[y];
    const double inf = gh_inf();
    for (long long i = threadIdx.x; i < n; i += blockDim.x) {
        if (i == x || i == y || size[i] == 0) continue;
        const T value = (T)lance_williams(method, (double)D[x * n + i], (double)D[y * n + i],
                                          d_xy, size_x, size_y, size[i]);
        D[y * n + i] = value;
        D[i * n + y] = value;
        D[x * n + i] = (T)inf;
        D[i * n + x] = (T)inf;
    }
    if (threadIdx.x == 0) {
        D[x * n + y] = (T)inf;
        D[y * n + x] = (T)inf;
    }
}
