// The building blocks of kernels/ one element at a time, for tests/test_building_blocks.py to
// compare with their Numba counterparts in gpuhclust/cpu (test kernels: the real headers,
// nothing restated). Compile with -I kernels/ and gpuhclust.cuda._kernels.defines().
#include "argmin.cuh"
#include "grid.cuh"
#include "heap.cuh"
#include "lance_williams.cuh"
#include "metrics.cuh"

// out[t] = lance_williams(method, ...) for every case t, read from and stored in T as
// merge_into does (float64 arithmetic whatever T).
template <typename T>
__global__ void lance_williams_cases(int method, long long count, const T* d_xi, const T* d_yi,
                                     const double* d_xy, const long long* size_x,
                                     const long long* size_y, const long long* size_i, T* out) {
    const long long t = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= count) return;
    out[t] = (T)lance_williams(method, (double)d_xi[t], (double)d_yi[t], d_xy[t], size_x[t],
                               size_y[t], size_i[t]);
}

// merge_into on the square matrix D (n x n, one block); overflow[0] receives its result.
template <typename T>
__global__ void merge_into_matrix(T* D, long long n, int method, long long x, long long y,
                                  double d_xy, const long long* size, long long* overflow) {
    const long long first = merge_into(D, n, method, x, y, d_xy, size);
    if (threadIdx.x == 0) overflow[0] = first;
}

// out[t] = pair_distance of observations pair_i[t] and pair_j[t] of X (n x d, row-major).
extern "C" __global__ void metric_pairs(int code, int d, double p, const double* X,
                                        const double* aux, const double* weights,
                                        const double* vi, long long count,
                                        const long long* pair_i, const long long* pair_j,
                                        double* out) {
    const long long t = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= count) return;
    const Metric m = make_metric(code, d, p, aux, weights, vi);
    out[t] = pair_distance(m, X, pair_i[t], pair_j[t]);
}

// One block: the argmin of row[lo:hi) (block_row_argmin); index -1 when nothing is below +inf.
template <typename T>
__global__ void row_argmin(const T* row, long long lo, long long hi, long long* index,
                           double* value) {
    const ArgMin a = block_row_argmin(row, lo, hi);
    if (threadIdx.x == 0) {
        index[0] = a.index;
        value[0] = a.value;
    }
}

// Every block: the argmin of its stride of row[lo:hi), published; the last block reduces the
// candidates (grid_parts_argmin) and writes the winner.
template <typename T>
__global__ void grid_row_argmin(const T* row, long long lo, long long hi, double* part_value,
                                long long* part_index, unsigned int* ticket, long long* index,
                                double* value) {
    ArgMin a = argmin_none();
    const long long stride = (long long)gridDim.x * blockDim.x;
    for (long long i = lo + (long long)blockIdx.x * blockDim.x + threadIdx.x; i < hi;
         i += stride) {
        argmin_take(a, (double)row[i], i);
    }
    publish_candidate(block_argmin(a), part_value, part_index);
    if (!grid_last_block(ticket)) return;
    const ArgMin best = grid_parts_argmin(part_value, part_index, argmin_none());
    if (threadIdx.x == 0) {
        index[0] = best.index;
        value[0] = best.value;
    }
    grid_step_done(ticket);
}

// The reductions of a loop with a grid barrier per step (argmin.cuh, tournament_loop's), in
// three rounds, each ending with every thread of the grid writing what it got to
// out_*[(round * 2 + j) * threads_in_grid + thread] (j = 0: a's argmin, 1: b's):
//   0: every block's argmins of its stride of a[lo:hi) (from argmin_none) and b[lo:hi) (from
//      argmin_none_or_inf) by block_argmin_pair_lead, published, grid barrier,
//      grid_parts_argmin_pair;
//   1: a alone by block_argmin_lead (b's parts stay none_or_inf);
//   2: round 0 again with a and b's roles swapped (the staging rewritten after a grid barrier).
// parts: 6 gridDim.x each (three rounds, two candidates); barrier: 2 words, 0.
template <typename T>
__global__ void grid_pair_argmin(const T* a, const T* b, long long lo, long long hi,
                                 double* part_value, long long* part_index,
                                 unsigned int* barrier, long long* out_index, double* out_value) {
    const long long stride = (long long)gridDim.x * blockDim.x;
    const long long me = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    for (int round = 0; round < 3; ++round) {
        const T* first = round == 2 ? b : a;
        const T* second = round == 2 ? a : b;
        ArgMin x = argmin_none();
        ArgMin y = argmin_none_or_inf();
        for (long long i = lo + me; i < hi; i += stride) {
            argmin_take(x, (double)first[i], i);
            if (round != 1) argmin_take(y, (double)second[i], i);
        }
        if (round == 1) x = block_argmin_lead(x, argmin_none());
        else block_argmin_pair_lead(x, y, argmin_none(), argmin_none_or_inf());
        double* value = part_value + 2 * round * gridDim.x;
        long long* index = part_index + 2 * round * gridDim.x;
        publish_candidate(x, value, index);
        publish_candidate(y, value + gridDim.x, index + gridDim.x);
        grid_sync(barrier);
        x = argmin_none();
        y = argmin_none_or_inf();
        grid_parts_argmin_pair(value, index, value + gridDim.x, index + gridDim.x, x, y);
        out_index[(2 * round) * stride + me] = x.index;
        out_value[(2 * round) * stride + me] = x.value;
        out_index[(2 * round + 1) * stride + me] = y.index;
        out_value[(2 * round + 1) * stride + me] = y.value;
    }
}

// One thread: the heap over min_dist[:size] (heap_build), then the operations op[t]:
// 0: heap_change(key arg[t], value val[t]); 1: heap_sift_up(position arg[t]) after
// values[arg[t]] = val[t]; 2: the same with heap_sift_down; 3: heap_remove_min. top_key[t] and
// top_value[t] receive the top after operation t.
extern "C" __global__ void heap_sequence(long long size, const double* min_dist, double* values,
                                         long long* key_by_index, long long* index_by_key,
                                         long long count, const int* op, const long long* arg,
                                         const double* val, long long* top_key,
                                         double* top_value) {
    if (threadIdx.x != 0 || blockIdx.x != 0) return;
    const Heap h = {values, key_by_index, index_by_key};
    heap_build(h, min_dist, size);
    for (long long t = 0; t < count; ++t) {
        switch (op[t]) {
        case 0:
            heap_change(h, size, arg[t], val[t]);
            break;
        case 1:
            values[arg[t]] = val[t];
            heap_sift_up(h, arg[t]);
            break;
        case 2:
            values[arg[t]] = val[t];
            heap_sift_down(h, size, arg[t]);
            break;
        default:
            size = heap_remove_min(h, size);
        }
        top_key[t] = key_by_index[0];
        top_value[t] = values[0];
    }
}
