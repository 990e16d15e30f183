// Distances between observations, one metric code at a time, with the operations of
// gpuhclust/cpu/_distances.py in the same order (features summed in order, float64): with
// --fmad=false the results are the CPU backend's, bit for bit (minkowski with a general p goes
// through pow, which CUDA does not round correctly: a few ulps there).
//
// A pair's distance is accumulated feature by feature in a PairAcc, so that the tiled kernel
// (features from shared memory) and the direct one (features from global memory) share it.
#pragma once
#include "common.cuh"

struct PairAcc {
    double a, b, c;  // running sums; what they hold depends on the metric
};

// The metric and what it reads besides the observations: p (minkowski), aux (one float per
// observation: the norms for cosine/correlation), weights (one per feature: seuclidean's V),
// vi (d x d: mahalanobis).
struct Metric {
    int code;
    int d;
    double p;
    const double* aux;
    const double* weights;
    const double* vi;
};

__device__ __forceinline__ Metric make_metric(int code, int d, double p, const double* aux,
                                              const double* weights, const double* vi) {
    Metric m;
    m.code = code;
    m.d = d;
    m.p = p;
    m.aux = aux;
    m.weights = weights;
    m.vi = vi;
    return m;
}

__device__ __forceinline__ void acc_init(PairAcc& s) {
    s.a = 0.0;
    s.b = 0.0;
    s.c = 0.0;
}

__device__ __forceinline__ void acc_feature(const Metric& m, PairAcc& s, double x, double y,
                                            int k) {
    switch (m.code) {
    case GH_EUCLIDEAN:
    case GH_SQEUCLIDEAN: {
        const double t = x - y;
        s.a += t * t;
        break;
    }
    case GH_SEUCLIDEAN: {
        const double t = x - y;
        s.a += t * t / m.weights[k];
        break;
    }
    case GH_CITYBLOCK:
        s.a += fabs(x - y);
        break;
    case GH_CHEBYSHEV: {
        const double t = fabs(x - y);
        s.a = t > s.a ? t : s.a;
        break;
    }
    case GH_MINKOWSKI:
        s.a += pow(fabs(x - y), m.p);
        break;
    case GH_COSINE:
        s.a += x * y;
        break;
    case GH_CANBERRA: {
        const double den = fabs(x) + fabs(y);
        if (den > 0.0) s.a += fabs(x - y) / den;
        break;
    }
    case GH_BRAYCURTIS:
        s.a += fabs(x - y);
        s.b += fabs(x + y);
        break;
    case GH_HAMMING:
        s.a += (x != y) ? 1.0 : 0.0;
        break;
    case GH_JACCARD: {
        const bool nonzero = x != 0.0 || y != 0.0;
        s.b += nonzero ? 1.0 : 0.0;
        s.a += (nonzero && x != y) ? 1.0 : 0.0;
        break;
    }
    default: {  // the boolean metrics count (true, true), (true, false), (false, true)
        const bool u = x != 0.0;
        const bool v = y != 0.0;
        s.a += (u && v) ? 1.0 : 0.0;
        s.b += (u && !v) ? 1.0 : 0.0;
        s.c += (v && !u) ? 1.0 : 0.0;
    }
    }
}

__device__ __forceinline__ double acc_finish(const Metric& m, const PairAcc& s, long long i,
                                             long long j) {
    switch (m.code) {
    case GH_EUCLIDEAN:
    case GH_SEUCLIDEAN:
        return sqrt(s.a);
    case GH_SQEUCLIDEAN:
    case GH_CITYBLOCK:
    case GH_CHEBYSHEV:
    case GH_CANBERRA:
        return s.a;
    case GH_MINKOWSKI:
        return pow(s.a, 1.0 / m.p);
    case GH_COSINE: {
        double c = s.a / (m.aux[i] * m.aux[j]);
        if (fabs(c) > 1.0) c = copysign(1.0, c);
        return 1.0 - c;
    }
    case GH_BRAYCURTIS:
        return s.a / s.b;
    case GH_HAMMING:
        return s.a / (double)m.d;
    case GH_JACCARD:
        return s.b != 0.0 ? s.a / s.b : 0.0;
    default:
        break;
    }
    const double ntt = s.a, ntf = s.b, nft = s.c;
    const double nff = (double)(m.d - (long long)ntt - (long long)ntf - (long long)nft);
    switch (m.code) {
    case GH_DICE:
        return (ntf + nft) / (2.0 * ntt + ntf + nft);
    case GH_ROGERSTANIMOTO: {
        const double r = 2.0 * (ntf + nft);
        return r / (ntt + nff + r);
    }
    case GH_RUSSELLRAO:
        return ((double)m.d - ntt) / (double)m.d;
    case GH_SOKALSNEATH: {
        const double r = 2.0 * (ntf + nft);
        return r / (ntt + r);
    }
    default: {  // GH_YULE
        const double half_r = ntf * nft;
        if (half_r == 0.0) return 0.0;
        return 2.0 * half_r / (ntt * nff + half_r);
    }
    }
}

__device__ double mahalanobis(const Metric& m, const double* u, const double* v) {
    double s = 0.0;
    for (int a = 0; a < m.d; ++a) {
        double t = 0.0;
        for (int b = 0; b < m.d; ++b) t += m.vi[a * m.d + b] * (u[b] - v[b]);
        s += (u[a] - v[a]) * t;
    }
    return sqrt(s);
}

// Distance between observations i and j of X (row-major n x d), features read from global memory.
__device__ double pair_distance(const Metric& m, const double* X, long long i, long long j) {
    const double* u = X + i * m.d;
    const double* v = X + j * m.d;
    if (m.code == GH_MAHALANOBIS) return mahalanobis(m, u, v);
    PairAcc s;
    acc_init(s);
    for (int k = 0; k < m.d; ++k) acc_feature(m, s, u[k], v[k], k);
    return acc_finish(m, s, i, j);
}
