// Single linkage as Prim's minimum spanning tree, SciPy's mst_single_linkage: start at vertex 0,
// each step adds the vertex nearest to the tree (strict '<', the lowest index wins a tie).
// One step is two launches and no host round trip: prim_relax_* (the whole grid) relaxes the
// distances from the newest tree vertex and leaves one candidate per block; prim_choose (one
// block) picks the winner, records the merge and makes it the newest vertex.
// state[0] is the newest tree vertex.
#include "metrics.cuh"

// A vertex's distance to the tree, relaxed with d, and the block's candidate updated.
__device__ __forceinline__ void prim_relax_one(long long j, double d, double* best,
                                               ArgMin& candidate) {
    if (best[j] > d) best[j] = d;
    argmin_take(candidate, best[j], j);
}

__device__ __forceinline__ void prim_write_candidate(ArgMin candidate, double* part_value,
                                                     long long* part_index) {
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
    const long long x = state[0];
    ArgMin candidate = argmin_none();
    for (long long j = blockIdx.x * (long long)blockDim.x + threadIdx.x; j < n;
         j += (long long)gridDim.x * blockDim.x) {
        if (j == x) {
            in_tree[j] = 1;
            best[j] = gh_inf();
        } else if (!in_tree[j]) {
            prim_relax_one(j, (double)D[x * n + j], best, candidate);
        }
    }
    prim_write_candidate(candidate, part_value, part_index);
}

// Distances computed from the observations on the fly: no matrix at all. A NaN or infinite
// distance is reported through *bad = step * n + j (the smallest such key wins).
extern "C" __global__ void prim_relax_observations(
    const double* X, long long n, int d, int metric, double p, const double* aux,
    const double* weights, const double* vi, const long long* state, long long step,
    double* best, unsigned char* in_tree, double* part_value, long long* part_index,
    unsigned long long* bad) {
    const Metric m = make_metric(metric, d, p, aux, weights, vi);
    const long long x = state[0];
    ArgMin candidate = argmin_none();
    for (long long j = blockIdx.x * (long long)blockDim.x + threadIdx.x; j < n;
         j += (long long)gridDim.x * blockDim.x) {
        if (j == x) {
            in_tree[j] = 1;
            best[j] = gh_inf();
        } else if (!in_tree[j]) {
            const double dist = pair_distance(m, X, x, j);
            if (!(dist < gh_inf())) atomicMin(bad, (unsigned long long)(step * n + j));
            prim_relax_one(j, dist, best, candidate);
        }
    }
    prim_write_candidate(candidate, part_value, part_index);
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
