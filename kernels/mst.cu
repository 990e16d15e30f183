// Single linkage as Prim's minimum spanning tree, SciPy's mst_single_linkage: start at vertex 0,
// each step adds the vertex nearest to the tree (strict '<', the lowest index wins a tie).
//
// The loop runs on the device: ONE cooperative launch of prim_loop_* (every block resident at
// once) makes the steps of one progress chunk, with a grid barrier (grid.cuh) between a step's two
// phases: each block relaxes its share of the distances from the newest tree vertex and publishes
// its candidate; after the barrier every block reads all candidates and takes the same winner, so
// the next step starts without another barrier (the candidates alternate between two halves of
// the parts, so a step's writes never meet the previous step's reads). Block 0 logs the merges and,
// at the chunk's end, the state; the host reads the device once per chunk.
//
// state = [newest tree vertex, merges done]; merges receives (x, y, height) per step; parts hold
// 2 gridDim.x candidates; barrier: two unsigned ints, 0 before the first launch. fault as in
// nn_chain.cu: when no vertex outside the tree is at a finite distance (a row of inf or NaN), the
// step logs y = -1 and sets GH_FAULT_NO_CANDIDATE, and the loop stops (later launches return at
// once).
#include "argmin.cuh"
#include "grid.cuh"
#include "metrics.cuh"

template <typename DistanceTo>
__device__ void prim_loop(long long n, long long k_stop, long long* state, DistanceTo distance_to,
                          double* best, unsigned char* in_tree, double* part_value,
                          long long* part_index, unsigned int* barrier, double* merges,
                          long long* fault) {
    // state and fault are written by block 0 at the end only: every block reads the same
    if (fault[0] != 0) return;
    long long x = state[0];
    long long k = state[1];
    const long long stop = k_stop < n - 1 ? k_stop : n - 1;
    for (; k < stop; ++k) {
        ArgMin candidate = argmin_none();
        for (long long j = blockIdx.x * (long long)blockDim.x + threadIdx.x; j < n;
             j += (long long)gridDim.x * blockDim.x) {
            if (j == x) {
                in_tree[j] = 1;
                best[j] = gh_inf();
            } else if (!in_tree[j]) {
                const double d = distance_to(x, j, k);
                if (best[j] > d) best[j] = d;
                argmin_take(candidate, best[j], j);
            }
        }
        const long long half = (k & 1) * gridDim.x;
        publish_candidate(block_argmin(candidate), part_value + half, part_index + half);
        grid_sync(barrier);
        const ArgMin winner = grid_parts_argmin(part_value + half, part_index + half,
                                                argmin_none());
        if (blockIdx.x == 0 && threadIdx.x == 0) {
            merges[3 * k] = (double)x;
            merges[3 * k + 1] = (double)winner.index;
            merges[3 * k + 2] = winner.value;
            if (winner.index < 0) set_fault(fault, GH_FAULT_NO_CANDIDATE, k, x, -1, -1);
        }
        if (winner.index < 0) break;  // the same in every block
        x = winner.index;
    }
    if (blockIdx.x == 0 && threadIdx.x == 0) {
        state[0] = x;
        state[1] = k;
    }
}

// Distances from the rows of the square matrix D.
template <typename T>
__global__ void prim_loop_matrix(const T* D, long long n, long long k_stop, long long* state,
                                 double* best, unsigned char* in_tree, double* part_value,
                                 long long* part_index, unsigned int* barrier, double* merges,
                                 long long* fault) {
    const auto distance_to = [=](long long x, long long j, long long) {
        return (double)D[x * n + j];
    };
    prim_loop(n, k_stop, state, distance_to, best, in_tree, part_value, part_index, barrier,
              merges, fault);
}

// Distances computed from the observations on the fly: no matrix at all. A NaN or infinite
// distance is reported through *bad = step * n + j (the smallest such key wins).
extern "C" __global__ void prim_loop_observations(
    const double* X, long long n, int d, int metric, double p, const double* aux,
    const double* weights, const double* vi, long long k_stop, long long* state, double* best,
    unsigned char* in_tree, double* part_value, long long* part_index, unsigned int* barrier,
    double* merges, long long* fault, unsigned long long* bad) {
    const Metric m = make_metric(metric, d, p, aux, weights, vi);
    const auto distance_to = [=](long long x, long long j, long long step) {
        const double dist = pair_distance(m, X, x, j);
        if (!(dist < gh_inf())) atomicMin(bad, (unsigned long long)(step * n + j));
        return dist;
    };
    prim_loop(n, k_stop, state, distance_to, best, in_tree, part_value, part_index, barrier,
              merges, fault);
}
