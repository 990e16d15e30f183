// Single linkage as Prim's minimum spanning tree, SciPy's mst_single_linkage: start at vertex 0,
// each step adds the vertex nearest to the tree (strict '<', the lowest index wins a tie).
//
// One step is ONE launch of prim_step_* over the whole grid, with arguments that never change (the
// loop's state lives in device memory), so the host captures a chunk of steps as a CUDA graph and
// launches the chunk at once. Each block relaxes its share of the distances from the newest tree
// vertex and publishes its candidate; the last block to finish (argmin.cuh) picks the winner, logs
// the merge and advances the state.
//
// state = [newest tree vertex, merges done]; ticket[0] = blocks of the current step done (0
// between steps); merges receives (x, y, height) per step. fault as in nn_chain.cu: when no
// vertex outside the tree is at a finite distance (a row of inf or NaN), the step logs y = -1 and
// sets GH_FAULT_NO_CANDIDATE, and every later step returns at once.
#include "argmin.cuh"
#include "metrics.cuh"

template <typename DistanceTo>
__device__ void prim_step(long long n, long long* state, DistanceTo distance_to, double* best,
                          unsigned char* in_tree, double* part_value, long long* part_index,
                          unsigned int* ticket, double* merges, long long* fault) {
    // Nobody writes state or fault before every block has read them (the last block writes
    // them after all tickets are in), so every block of the grid takes the same branch.
    const long long k = state[1];
    if (k >= n - 1 || fault[0] != 0) return;
    const long long x = state[0];
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
    publish_candidate(block_argmin(candidate), part_value, part_index);
    if (!grid_last_block(ticket)) return;
    const ArgMin winner = grid_parts_argmin(part_value, part_index, argmin_none());
    if (threadIdx.x == 0) {
        merges[3 * k] = (double)x;
        merges[3 * k + 1] = (double)winner.index;
        merges[3 * k + 2] = winner.value;
        if (winner.index >= 0) {
            state[0] = winner.index;
            state[1] = k + 1;
        } else {
            set_fault(fault, GH_FAULT_NO_CANDIDATE, k, x, -1, -1);
        }
    }
    grid_step_done(ticket);
}

// Distances from the rows of the square matrix D.
template <typename T>
__global__ void prim_step_matrix(const T* D, long long n, long long* state, double* best,
                                 unsigned char* in_tree, double* part_value,
                                 long long* part_index, unsigned int* ticket, double* merges,
                                 long long* fault) {
    const auto distance_to = [=](long long x, long long j, long long) {
        return (double)D[x * n + j];
    };
    prim_step(n, state, distance_to, best, in_tree, part_value, part_index, ticket, merges,
              fault);
}

// Distances computed from the observations on the fly: no matrix at all. A NaN or infinite
// distance is reported through *bad = step * n + j (the smallest such key wins).
extern "C" __global__ void prim_step_observations(
    const double* X, long long n, int d, int metric, double p, const double* aux,
    const double* weights, const double* vi, long long* state, double* best,
    unsigned char* in_tree, double* part_value, long long* part_index, unsigned int* ticket,
    double* merges, long long* fault, unsigned long long* bad) {
    const Metric m = make_metric(metric, d, p, aux, weights, vi);
    const auto distance_to = [=](long long x, long long j, long long step) {
        const double dist = pair_distance(m, X, x, j);
        if (!(dist < gh_inf())) atomicMin(bad, (unsigned long long)(step * n + j));
        return dist;
    };
    prim_step(n, state, distance_to, best, in_tree, part_value, part_index, ticket, merges,
              fault);
}
