// Pairwise distances: tiled through shared memory, into a square matrix (+inf on the diagonal,
// the working matrix of the linkage loops) or a condensed one (pdist). Plus the conversion of a
// condensed input into the square matrix, and the check for non-finite distances.
#include "metrics.cuh"

// One block computes the GH_TILE x GH_TILE pairs of rows ti*GH_TILE.. and tj*GH_TILE..
// (blockIdx.y = ti, blockIdx.x = tj), features staged through shared memory GH_TILE at a time.
// Only tiles with tj >= ti do work; the square layout mirrors each pair.
template <typename T>
__global__ void pairwise_tiles(const double* X, long long n, int d, int metric, double p,
                               const double* aux, const double* weights, const double* vi,
                               T* out, int condensed) {
    __shared__ double rows_i[GH_TILE][GH_TILE + 1];  // +1: no bank conflicts on column reads
    __shared__ double rows_j[GH_TILE][GH_TILE + 1];
    const long long ti = blockIdx.y;
    const long long tj = blockIdx.x;
    if (tj < ti) return;  // the whole block leaves together
    const int tx = threadIdx.x;
    const int ty = threadIdx.y;
    const long long i = ti * GH_TILE + ty;
    const long long j = tj * GH_TILE + tx;
    const Metric m = make_metric(metric, d, p, aux, weights, vi);

    PairAcc s;
    acc_init(s);
    if (metric != GH_MAHALANOBIS) {
        for (int k0 = 0; k0 < d; k0 += GH_TILE) {
            const int k = k0 + tx;
            const long long load_i = ti * GH_TILE + ty;
            const long long load_j = tj * GH_TILE + ty;
            rows_i[ty][tx] = (load_i < n && k < d) ? X[load_i * d + k] : 0.0;
            rows_j[ty][tx] = (load_j < n && k < d) ? X[load_j * d + k] : 0.0;
            __syncthreads();
            const int k_end = d - k0 < GH_TILE ? d - k0 : GH_TILE;
            for (int kk = 0; kk < k_end; ++kk) {
                acc_feature(m, s, rows_i[ty][kk], rows_j[tx][kk], k0 + kk);
            }
            __syncthreads();
        }
    }
    if (i >= n || j >= n) return;
    if (i == j) {
        if (!condensed) out[i * n + i] = (T)gh_inf();
        return;
    }
    if (j < i) return;
    const double value = metric == GH_MAHALANOBIS ? mahalanobis(m, X + i * d, X + j * d)
                                                  : acc_finish(m, s, i, j);
    if (condensed) {
        out[n * i - i * (i + 1) / 2 + (j - i - 1)] = (T)value;
    } else {
        out[i * n + j] = (T)value;
        out[j * n + i] = (T)value;
    }
}

// The square working matrix from a condensed float64 matrix y (+inf on the diagonal).
template <typename T>
__global__ void condensed_to_square(const double* y, long long n, T* D) {
    const long long total = n * n;
    for (long long idx = blockIdx.x * (long long)blockDim.x + threadIdx.x; idx < total;
         idx += (long long)gridDim.x * blockDim.x) {
        const long long i = idx / n;
        const long long j = idx - i * n;
        if (i == j) {
            D[idx] = (T)gh_inf();
        } else {
            const long long a = i < j ? i : j;
            const long long b = i < j ? j : i;
            D[idx] = (T)y[n * a - a * (a + 1) / 2 + (b - a - 1)];
        }
    }
}

// The first (row-major) entry above the diagonal that is NaN or infinite: its linear index goes
// to *first (which the host sets to all ones). atomicMin keeps the answer independent of timing.
template <typename T>
__global__ void first_non_finite(const T* D, long long n, unsigned long long* first) {
    const long long total = n * n;
    for (long long idx = blockIdx.x * (long long)blockDim.x + threadIdx.x; idx < total;
         idx += (long long)gridDim.x * blockDim.x) {
        const long long i = idx / n;
        const long long j = idx - i * n;
        if (i < j && !(fabs((double)D[idx]) < gh_inf())) {
            atomicMin(first, (unsigned long long)idx);
        }
    }
}
