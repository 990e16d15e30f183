// Pairwise distances: tiled through shared memory, into a square matrix (+inf on the diagonal,
// the working matrix of the linkage loops) or a condensed one (pdist). Plus the conversion of a
// condensed input into the square matrix, and the check for non-finite distances.
#include "metrics.cuh"

// Each thread sums the features of GH_PAIRS x GH_PAIRS pairs: rows ty + GH_TILE * a of the
// block's first set, rows tx + GH_TILE * b of its second; a value read from shared memory
// serves GH_PAIRS pairs. Acc is the metric's per-feature step (acc_feature, or the squared
// difference alone for euclidean and sqeuclidean: the same operations).
#define GH_PAIRS (GH_PAIR_TILE / GH_TILE)
typedef double StagedRows[GH_TILE + 1];  // +1: no bank conflicts on column reads

struct AnyMetric {
    __device__ __forceinline__ static void add(const Metric& m, PairAcc& s, double x, double y,
                                               int k) {
        acc_feature(m, s, x, y, k);
    }
};

struct SquaredDifference {
    __device__ __forceinline__ static void add(const Metric&, PairAcc& s, double x, double y,
                                               int) {
        const double t = x - y;
        s.a += t * t;
    }
};

template <typename Acc>
__device__ __forceinline__ void tile_sums(const Metric& m, const double* X, long long n, int d,
                                          long long i0, long long j0, StagedRows* rows_i,
                                          StagedRows* rows_j, PairAcc (&s)[GH_PAIRS][GH_PAIRS]) {
    const int tx = threadIdx.x;
    const int ty = threadIdx.y;
    for (int k0 = 0; k0 < d; k0 += GH_TILE) {
        const int k = k0 + tx;
        for (int r = ty; r < GH_PAIR_TILE; r += GH_TILE) {
            rows_i[r][tx] = (i0 + r < n && k < d) ? X[(i0 + r) * d + k] : 0.0;
            rows_j[r][tx] = (j0 + r < n && k < d) ? X[(j0 + r) * d + k] : 0.0;
        }
        __syncthreads();
        const int k_end = d - k0 < GH_TILE ? d - k0 : GH_TILE;
        for (int kk = 0; kk < k_end; ++kk) {
            double xi[GH_PAIRS], xj[GH_PAIRS];
#pragma unroll
            for (int a = 0; a < GH_PAIRS; ++a) xi[a] = rows_i[ty + GH_TILE * a][kk];
#pragma unroll
            for (int b = 0; b < GH_PAIRS; ++b) xj[b] = rows_j[tx + GH_TILE * b][kk];
#pragma unroll
            for (int a = 0; a < GH_PAIRS; ++a) {
#pragma unroll
                for (int b = 0; b < GH_PAIRS; ++b) Acc::add(m, s[a][b], xi[a], xj[b], k0 + kk);
            }
        }
        __syncthreads();
    }
}

// One block of GH_TILE x GH_TILE threads computes the GH_PAIR_TILE x GH_PAIR_TILE pairs of rows
// ti*GH_PAIR_TILE.. and tj*GH_PAIR_TILE.. (blockIdx.y = ti, blockIdx.x = tj), features staged
// through shared memory GH_TILE at a time; only tiles with tj >= ti do work. Each pair's
// features are summed in order, as on the CPU. The square layout's mirrored half goes through
// shared memory as well, so both halves are written a row segment at a time rather than one
// element per row.
template <typename T>
__global__ void __launch_bounds__(GH_TILE * GH_TILE)
pairwise_tiles(const double* X, long long n, int d, int metric, double p, const double* aux,
               const double* weights, const double* vi, T* out, int condensed) {
    constexpr int STAGED = 2 * GH_PAIR_TILE * (GH_TILE + 1);
    constexpr int MIRROR = GH_PAIR_TILE * (GH_PAIR_TILE + 1);
    __shared__ double smem[STAGED > MIRROR ? STAGED : MIRROR];
    const long long ti = blockIdx.y;
    const long long tj = blockIdx.x;
    if (tj < ti) return;  // the whole block leaves together
    const int tx = threadIdx.x;
    const int ty = threadIdx.y;
    const long long i0 = ti * GH_PAIR_TILE;
    const long long j0 = tj * GH_PAIR_TILE;
    const Metric m = make_metric(metric, d, p, aux, weights, vi);
    StagedRows* rows_i = reinterpret_cast<StagedRows*>(smem);
    StagedRows* rows_j = rows_i + GH_PAIR_TILE;

    PairAcc s[GH_PAIRS][GH_PAIRS];
#pragma unroll
    for (int a = 0; a < GH_PAIRS; ++a) {
#pragma unroll
        for (int b = 0; b < GH_PAIRS; ++b) acc_init(s[a][b]);
    }
    if (metric == GH_EUCLIDEAN || metric == GH_SQEUCLIDEAN) {
        tile_sums<SquaredDifference>(m, X, n, d, i0, j0, rows_i, rows_j, s);
    } else if (metric != GH_MAHALANOBIS) {
        tile_sums<AnyMetric>(m, X, n, d, i0, j0, rows_i, rows_j, s);
    }
    // The staged rows are done with (tile_sums ends on a barrier): smem now holds the block's
    // values transposed, mirror[j - j0][i - i0], for the square layout's lower half.
    double (*mirror)[GH_PAIR_TILE + 1] = reinterpret_cast<double (*)[GH_PAIR_TILE + 1]>(smem);
#pragma unroll
    for (int a = 0; a < GH_PAIRS; ++a) {
#pragma unroll
        for (int b = 0; b < GH_PAIRS; ++b) {
            const long long i = i0 + ty + GH_TILE * a;
            const long long j = j0 + tx + GH_TILE * b;
            if (i >= n || j >= n) continue;
            if (i == j) {
                if (!condensed) out[i * n + i] = (T)gh_inf();
                continue;
            }
            if (j < i) continue;
            const double value = metric == GH_MAHALANOBIS
                                     ? mahalanobis(m, X + i * d, X + j * d)
                                     : acc_finish(m, s[a][b], i, j);
            if (condensed) {
                out[n * i - i * (i + 1) / 2 + (j - i - 1)] = (T)value;
            } else {
                out[i * n + j] = (T)value;
                mirror[tx + GH_TILE * b][ty + GH_TILE * a] = value;
            }
        }
    }
    if (condensed) return;  // block-uniform: no thread waits at the barrier below
    __syncthreads();
#pragma unroll
    for (int a = 0; a < GH_PAIRS; ++a) {
#pragma unroll
        for (int b = 0; b < GH_PAIRS; ++b) {
            const int r = ty + GH_TILE * a;  // row j0 + r, column i0 + c: pair (i0 + c, j0 + r)
            const int c = tx + GH_TILE * b;
            const long long row = j0 + r;
            const long long col = i0 + c;
            if (row < n && col < row) out[row * n + col] = (T)mirror[r][c];
        }
    }
}

// The square working matrix from a condensed float64 matrix y (+inf on the diagonal). One block
// per row (grid-stride), its columns across the threads: no 64-bit division splits a linear
// index.
template <typename T>
__global__ void condensed_to_square(const double* y, long long n, T* D) {
    for (long long i = blockIdx.x; i < n; i += gridDim.x) {
        for (long long j = threadIdx.x; j < n; j += blockDim.x) {
            if (i == j) {
                D[i * n + j] = (T)gh_inf();
            } else {
                const long long a = i < j ? i : j;
                const long long b = i < j ? j : i;
                // + 0.0 turns -0.0 into +0.0, as the CPU's expansion does (a -0.0 would sort
                // before +0.0 in the rounds' integer-keyed lists)
                D[i * n + j] = (T)(y[n * a - a * (a + 1) / 2 + (b - a - 1)] + 0.0);
            }
        }
    }
}

// The first (row-major) entry above the diagonal that is NaN or infinite: its linear index goes
// to *first (which the host sets to all ones). atomicMin keeps the answer independent of timing.
// One row per block (grid-stride over rows), its entries right of the diagonal across the
// threads: only the upper triangle is read, and no 64-bit division splits a linear index.
template <typename T>
__global__ void first_non_finite(const T* D, long long n, unsigned long long* first) {
    for (long long i = blockIdx.x; i < n; i += gridDim.x) {
        for (long long j = i + 1 + threadIdx.x; j < n; j += blockDim.x) {
            if (!(fabs((double)D[i * n + j]) < gh_inf())) {
                atomicMin(first, (unsigned long long)(i * n + j));
            }
        }
    }
}
