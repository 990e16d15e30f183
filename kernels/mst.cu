// Single linkage as Prim's minimum spanning tree, SciPy's mst_single_linkage: start at vertex 0,
// each step adds the vertex nearest to the tree (strict '<', the lowest index wins a tie).
// One step is two launches and no host round trip: prim_relax_* (the whole grid) relaxes the
// distances from the newest tree vertex and leaves one candidate per block; prim_choose (one
// block) picks the winner, records the merge and makes it the newest vertex.
// state[0] is the newest tree vertex.
#include "metrics.cuh"

// Adds vertex x (state[0]) to the tree, relaxes every other vertex's distance to the tree with
// distance_to(j), the distance from x to j, and leaves each block's candidate in part_*.
template <typename DistanceTo>
__device__ void prim_relax(long long n, const long long* state, DistanceTo distance_to,
                           double* best, unsigned char* in_tree, double* part_value,
                           long long* part_index) {
    const long long x = state[0];
    ArgMin candidate = argmin_none();
    for (long long j = blockIdx.x * (long long)blockDim.x + threadIdx.x; j < n;
         j += (long long)gridDim.x * blockDim.x) {
        if (j == x) {
            in_tree[j] = 1;
            best[j] = gh_inf();
        } else if (!in_tree[j]) {
            const double d = distance_to(x, j);
            if (best[j] > d) best[j] = d;
            argmin_take(candidate, best[j], j);
        }
    }
    candidate = block_argmin(candidate);
    if (threadIdx.x == 0) {
        part_value[blockIdx.x] = candidate.value;
        part_index[blockIdx.x] = candidate.index;
    }
}

// Distances from the rows of the square matrix D.
template <typename T>
__global__ void prim_relax_matrix(const T* D, long long n, const long long* state, double* best,
                                  unsigned char* in_tree, double* part_value,
                                  long long* part_index) {
    const auto distance_to = [=](long long x, long long j) { return (double)D[x * n + j]; };
    prim_relax(n, state, distance_to, best, in_tree, part_value, part_index);
}

// Distances computed from the observations on the fly: no matrix at all. A NaN or infinite
// distance is reported through *bad = step * n + j (the smallest such key wins).
extern "C" __global__ void prim_relax_observations(
    const double* X, long long n, int d, int metric, double p, const double* aux,
    const double* weights, const double* vi, const long long* state, long long step,
    double* best, unsigned char* in_tree, double* part_value, long long* part_index,
    unsigned long long* bad) {
    const Metric m = make_metric(metric, d, p, aux, weights, vi);
    const auto distance_to = [=](long long x, long long j) {
        const double dist = pair_distance(m, X, x, j);
        if (!(dist < gh_inf())) atomicMin(bad, (unsigned long long)(step * n + j));
        return dist;
    };
    prim_relax(n, state, distance_to, best, in_tree, part_value, part_index);
}

// One block: the winner among the blocks' candidates becomes merge `step` and the newest vertex.
extern "C" __global__ void prim_choose(long long step, int nparts, const double* part_value,
                                       const long long* part_index, long long* state,
                                       double* merges) {
    ArgMin candidate = argmin_none();
    for (int q = threadIdx.x; q < nparts; q += blockDim.x) {
        argmin_take(candidate, part_value[q], part_index[q]);
    }
    candidate = block_argmin(candidate);
    if (threadIdx.x == 0) {
        const long long x = state[0];
        merges[3 * step] = (double)x;
        merges[3 * step + 1] = (double)candidate.index;
        merges[3 * step + 2] = candidate.value;
        if (candidate.index >= 0) state[0] = candidate.index;
    }
}
