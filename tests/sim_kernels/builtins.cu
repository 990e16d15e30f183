// Built-ins a kernel written for NVRTC may use (test kernel).
#include <math_constants.h>

__device__ __forceinline__ float* scratch() {
    __shared__ float buf[32];  // a static local of an inline function (COMDAT): poisoned too
    return buf;
}

extern "C" __global__ void __launch_bounds__(64) builtins(double* out, float* fout, const int* __restrict__ in) {
    const int t = threadIdx.x;
    float* s = scratch();
    if (t == 0) {
        out[0] = min(3, 5u);               // int/unsigned -> unsigned
        out[1] = max(-1.5f, 2.0);          // float/double -> double
        out[2] = fminf(NAN, 1.0f);
        out[3] = CUDART_INF;
        out[4] = CUDART_INF_F;
        out[5] = __popc(0xF0F0u) + __ffs(8) * 100;
        out[6] = __ldg(in + 1);
        out[7] = __double2hiint(1.0);
        out[8] = isnan(NAN) + 2 * isinf(CUDART_INF) + 4 * isfinite(1.0);
        out[9] = warpSize;
        out[10] = __int_as_float(0x3f800000) + __longlong_as_double(0x4000000000000000LL);
        s[0] = 1.0f;
    }
    __syncwarp();
    __syncthreads();
    if (t < 32) fout[t] = s[t];
    float e = 0.0f;
    if (t == 1) e = atomicExch(fout + 40, 5.0f);
    __syncthreads();
    if (t == 1) fout[41] = e;
}
