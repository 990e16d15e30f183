// gpusim.h - run CUDA kernels on the CPU (gpuhclust's kernel simulator).
//
// This header is force-included (g++ -include gpusim.h) ahead of a kernel
// file written for NVRTC, so the kernel source needs no change.  Each CUDA
// thread of a block is either
//   * a ucontext fiber run by a deterministic scheduler (default build), or
//   * a std::thread (GPUSIM_THREADS build, meant for ThreadSanitizer).
// Blocks run one after another.  Threads only yield at synchronisation points
// (__syncthreads, warp *_sync ops); the scheduler resolves those points only
// when no thread can run any more ("quiescence"), which makes deadlocks and
// divergent barriers detectable instead of hanging.
//
// __shared__ variables are static storage.  Non-template ones go to the ELF
// section "gpusim_shared"; g++ ignores the section attribute for static locals
// of templates and inline functions (they live in COMDAT ".bss._ZZ*" sections),
// so the loader links with a small linker script that gathers those into
// "gpusim_shared_tpl".  Both ranges are filled with 0xFF before every block,
// so reading shared memory nobody wrote gives NaN / -1.
//
// The Python side (loader.py) generates extern "C" wrappers that call
// gpusim::launch / gpusim::signature for every kernel.
#ifndef GPUSIM_H_INCLUDED
#define GPUSIM_H_INCLUDED

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <math.h>
#include <new>
#include <numeric>
#include <type_traits>
#include <utility>
#include <vector>

#ifdef GPUSIM_THREADS
#include <condition_variable>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>
#else
#include <sys/mman.h>
#include <ucontext.h>
#endif

#ifndef GPUSIM
#define GPUSIM 1
#endif
// NVRTC defines these; kernels may test them.
#ifndef __CUDACC__
#define __CUDACC__ 1
#endif
#ifndef __CUDACC_RTC__
#define __CUDACC_RTC__ 1
#endif
#ifndef __CUDA_ARCH__
#define __CUDA_ARCH__ 900
#endif

// ---------------------------------------------------------------- qualifiers
#define GPUSIM_EXPORT __attribute__((visibility("default")))
#define __global__
#define __device__
#define __host__
#define __constant__
#define __managed__
#define __forceinline__ inline __attribute__((always_inline))
#define __noinline__ __attribute__((noinline))
#define __launch_bounds__(...)
#define __align__(n) __attribute__((aligned(n)))
// `used` keeps g++ from folding reads of a never-written static to zero,
// which would hide the 0xFF poison.
#define __shared__ static __attribute__((section("gpusim_shared"), used))

// ---------------------------------------------------------------- vector types
struct uint3 { unsigned int x, y, z; };
struct dim3 {
    unsigned int x, y, z;
    constexpr dim3(unsigned int x_ = 1, unsigned int y_ = 1, unsigned int z_ = 1) : x(x_), y(y_), z(z_) {}
    constexpr dim3(uint3 v) : x(v.x), y(v.y), z(v.z) {}
    constexpr operator uint3() const { return uint3{x, y, z}; }
};
#define GPUSIM_VEC2(T, N) \
    struct N##2 { T x, y; }; \
    inline N##2 make_##N##2(T x, T y) { return N##2{x, y}; }
#define GPUSIM_VEC4(T, N) \
    struct N##4 { T x, y, z, w; }; \
    inline N##4 make_##N##4(T x, T y, T z, T w) { return N##4{x, y, z, w}; }
GPUSIM_VEC2(int, int) GPUSIM_VEC4(int, int)
GPUSIM_VEC2(unsigned int, uint) GPUSIM_VEC4(unsigned int, uint)
GPUSIM_VEC2(float, float) GPUSIM_VEC4(float, float)
GPUSIM_VEC2(double, double) GPUSIM_VEC4(double, double)
GPUSIM_VEC2(long long, longlong)
struct int3 { int x, y, z; };
struct float3 { float x, y, z; };
inline uint3 make_uint3(unsigned x, unsigned y, unsigned z) { return uint3{x, y, z}; }
inline int3 make_int3(int x, int y, int z) { return int3{x, y, z}; }
inline float3 make_float3(float x, float y, float z) { return float3{x, y, z}; }
#undef GPUSIM_VEC2
#undef GPUSIM_VEC4

// Set by the runtime before a CUDA thread runs.  thread_local so that the same
// names work in the std::thread build; in the fiber build all fibers share the
// one OS thread and the scheduler rewrites them before every switch.
inline thread_local uint3 threadIdx;
inline thread_local uint3 blockIdx;
inline thread_local dim3 blockDim;
inline thread_local dim3 gridDim;
constexpr int warpSize = 32;

// ---------------------------------------------------------------- math
using std::isfinite;
using std::isinf;
using std::isnan;

namespace gpusim_detail {
template <class A, class B>
using min_enable = std::enable_if_t<std::is_arithmetic_v<A> && std::is_arithmetic_v<B> &&
                                    !std::is_same_v<A, bool> && !std::is_same_v<B, bool>,
                                    std::common_type_t<A, B>>;
}
// CUDA's global min/max: integer overloads follow the usual arithmetic
// conversions; floating point ones behave like fmin/fmax (NaN is dropped).
template <class A, class B>
__forceinline__ gpusim_detail::min_enable<A, B> min(A a, B b) {
    using C = std::common_type_t<A, B>;
    if constexpr (std::is_floating_point_v<C>) return std::fmin(C(a), C(b));
    else return C(a) < C(b) ? C(a) : C(b);
}
template <class A, class B>
__forceinline__ gpusim_detail::min_enable<A, B> max(A a, B b) {
    using C = std::common_type_t<A, B>;
    if constexpr (std::is_floating_point_v<C>) return std::fmax(C(a), C(b));
    else return C(a) < C(b) ? C(b) : C(a);
}
__forceinline__ float rsqrtf(float x) { return 1.0f / sqrtf(x); }
__forceinline__ double rsqrt(double x) { return 1.0 / sqrt(x); }
__forceinline__ float __fdividef(float a, float b) { return a / b; }
__forceinline__ float __expf(float x) { return expf(x); }
__forceinline__ float __logf(float x) { return logf(x); }
__forceinline__ float __powf(float a, float b) { return powf(a, b); }
__forceinline__ float __saturatef(float x) { return x < 0.f ? 0.f : (x > 1.f ? 1.f : (x == x ? x : 0.f)); }
__forceinline__ int __float2int_rn(float x) { return (int)nearbyintf(x); }
__forceinline__ int __float2int_rz(float x) { return (int)x; }
__forceinline__ int __double2int_rn(double x) { return (int)nearbyint(x); }

template <class To, class From>
__forceinline__ To gpusim_bitcast(From f) {
    static_assert(sizeof(To) == sizeof(From));
    To t;
    std::memcpy(&t, &f, sizeof(To));
    return t;
}
__forceinline__ float __int_as_float(int x) { return gpusim_bitcast<float>(x); }
__forceinline__ int __float_as_int(float x) { return gpusim_bitcast<int>(x); }
__forceinline__ float __uint_as_float(unsigned x) { return gpusim_bitcast<float>(x); }
__forceinline__ unsigned __float_as_uint(float x) { return gpusim_bitcast<unsigned>(x); }
__forceinline__ double __longlong_as_double(long long x) { return gpusim_bitcast<double>(x); }
__forceinline__ long long __double_as_longlong(double x) { return gpusim_bitcast<long long>(x); }
__forceinline__ int __double2hiint(double x) { return (int)(gpusim_bitcast<unsigned long long>(x) >> 32); }
__forceinline__ int __double2loint(double x) { return (int)(gpusim_bitcast<unsigned long long>(x) & 0xffffffffu); }
__forceinline__ double __hiloint2double(int hi, int lo) {
    return gpusim_bitcast<double>(((unsigned long long)(unsigned)hi << 32) | (unsigned)lo);
}
__forceinline__ int __popc(unsigned x) { return __builtin_popcount(x); }
__forceinline__ int __popcll(unsigned long long x) { return __builtin_popcountll(x); }
__forceinline__ int __clz(int x) { return x == 0 ? 32 : __builtin_clz((unsigned)x); }
__forceinline__ int __clzll(long long x) { return x == 0 ? 64 : __builtin_clzll((unsigned long long)x); }
__forceinline__ int __ffs(int x) { return __builtin_ffs(x); }
__forceinline__ int __ffsll(long long x) { return __builtin_ffsll(x); }
__forceinline__ unsigned __brev(unsigned x) {
    unsigned r = 0;
    for (int i = 0; i < 32; ++i) r |= ((x >> i) & 1u) << (31 - i);
    return r;
}
template <class T>
__forceinline__ T __ldg(const T* p) { return *p; }

// ---------------------------------------------------------------- atomics
// Counting builds (GPUSIM_COUNT, see the counters section below) count every atomic operation;
// ordinary builds compile the hook away.
#ifdef GPUSIM_COUNT
namespace gpusim::count {
inline void on_atomic(const void* addr);
inline void on_block_barrier();
inline void on_grid_barrier();
inline void on_warp_op();
inline void on_round_end();
}
#define GPUSIM_ON_ATOMIC(addr) ::gpusim::count::on_atomic(addr)
#define GPUSIM_ON_BLOCK_BARRIER() ::gpusim::count::on_block_barrier()
#define GPUSIM_ON_GRID_BARRIER() ::gpusim::count::on_grid_barrier()
#define GPUSIM_ON_WARP_OP() ::gpusim::count::on_warp_op()
#define GPUSIM_ON_ROUND_END() ::gpusim::count::on_round_end()
#else
#define GPUSIM_ON_ATOMIC(addr) ((void)0)
#define GPUSIM_ON_BLOCK_BARRIER() ((void)0)
#define GPUSIM_ON_GRID_BARRIER() ((void)0)
#define GPUSIM_ON_WARP_OP() ((void)0)
#define GPUSIM_ON_ROUND_END() ((void)0)
#endif
// CUDA atomics are relaxed; std::atomic_ref keeps them visible to TSan.
namespace gpusim_detail {
template <class T, class... U>
inline constexpr bool one_of = (std::is_same_v<T, U> || ...);
template <class T, class F>
__forceinline__ T cas_loop(T* addr, F f) {
    std::atomic_ref<T> a(*addr);
    T old = a.load(std::memory_order_relaxed);
    while (!a.compare_exchange_weak(old, f(old), std::memory_order_relaxed)) {
    }
    return old;
}
}  // namespace gpusim_detail
template <class T>
__forceinline__ T atomicAdd(T* addr, std::type_identity_t<T> v) {
    GPUSIM_ON_ATOMIC(addr);
    static_assert(gpusim_detail::one_of<T, int, unsigned, unsigned long long, float, double>,
                  "atomicAdd: CUDA supports int, unsigned, unsigned long long, float, double");
    return std::atomic_ref<T>(*addr).fetch_add(v, std::memory_order_relaxed);
}
template <class T>
__forceinline__ T atomicSub(T* addr, std::type_identity_t<T> v) {
    GPUSIM_ON_ATOMIC(addr);
    static_assert(gpusim_detail::one_of<T, int, unsigned>, "atomicSub: CUDA supports int, unsigned");
    return std::atomic_ref<T>(*addr).fetch_sub(v, std::memory_order_relaxed);
}
template <class T>
__forceinline__ T atomicExch(T* addr, std::type_identity_t<T> v) {
    GPUSIM_ON_ATOMIC(addr);
    static_assert(gpusim_detail::one_of<T, int, unsigned, unsigned long long, float>,
                  "atomicExch: CUDA supports int, unsigned, unsigned long long, float");
    return std::atomic_ref<T>(*addr).exchange(v, std::memory_order_relaxed);
}
template <class T>
__forceinline__ T atomicMin(T* addr, std::type_identity_t<T> v) {
    GPUSIM_ON_ATOMIC(addr);
    static_assert(gpusim_detail::one_of<T, int, unsigned, long long, unsigned long long>,
                  "atomicMin: CUDA supports int, unsigned, long long, unsigned long long");
    return gpusim_detail::cas_loop(addr, [v](T o) { return v < o ? v : o; });
}
template <class T>
__forceinline__ T atomicMax(T* addr, std::type_identity_t<T> v) {
    GPUSIM_ON_ATOMIC(addr);
    static_assert(gpusim_detail::one_of<T, int, unsigned, long long, unsigned long long>,
                  "atomicMax: CUDA supports int, unsigned, long long, unsigned long long");
    return gpusim_detail::cas_loop(addr, [v](T o) { return v > o ? v : o; });
}
template <class T>
__forceinline__ T atomicCAS(T* addr, std::type_identity_t<T> compare, std::type_identity_t<T> v) {
    GPUSIM_ON_ATOMIC(addr);
    static_assert(gpusim_detail::one_of<T, int, unsigned, unsigned long long, unsigned short>,
                  "atomicCAS: CUDA supports int, unsigned, unsigned long long, unsigned short");
    std::atomic_ref<T>(*addr).compare_exchange_strong(compare, v, std::memory_order_relaxed);
    return compare;  // holds the old value whether or not the exchange happened
}
template <class T>
__forceinline__ T atomicOr(T* addr, std::type_identity_t<T> v) {
    GPUSIM_ON_ATOMIC(addr);
    static_assert(gpusim_detail::one_of<T, int, unsigned, unsigned long long>, "atomicOr: int, unsigned, ull");
    return std::atomic_ref<T>(*addr).fetch_or(v, std::memory_order_relaxed);
}
template <class T>
__forceinline__ T atomicAnd(T* addr, std::type_identity_t<T> v) {
    GPUSIM_ON_ATOMIC(addr);
    static_assert(gpusim_detail::one_of<T, int, unsigned, unsigned long long>, "atomicAnd: int, unsigned, ull");
    return std::atomic_ref<T>(*addr).fetch_and(v, std::memory_order_relaxed);
}
template <class T>
__forceinline__ T atomicXor(T* addr, std::type_identity_t<T> v) {
    GPUSIM_ON_ATOMIC(addr);
    static_assert(gpusim_detail::one_of<T, int, unsigned, unsigned long long>, "atomicXor: int, unsigned, ull");
    return std::atomic_ref<T>(*addr).fetch_xor(v, std::memory_order_relaxed);
}
__forceinline__ unsigned atomicInc(unsigned* addr, unsigned v) {
    GPUSIM_ON_ATOMIC(addr);
    return gpusim_detail::cas_loop(addr, [v](unsigned o) { return o >= v ? 0u : o + 1u; });
}
__forceinline__ unsigned atomicDec(unsigned* addr, unsigned v) {
    GPUSIM_ON_ATOMIC(addr);
    return gpusim_detail::cas_loop(addr, [v](unsigned o) { return (o == 0u || o > v) ? v : o - 1u; });
}
__forceinline__ void __threadfence() { std::atomic_thread_fence(std::memory_order_seq_cst); }
__forceinline__ void __threadfence_block() { std::atomic_thread_fence(std::memory_order_seq_cst); }
__forceinline__ void __threadfence_system() { std::atomic_thread_fence(std::memory_order_seq_cst); }

// ---------------------------------------------------------------- runtime
namespace gpusim {

// Launch configuration filled by the Python loader (layout mirrored there).
struct LaunchConfig {
    unsigned grid[3];
    unsigned block[3];
    int schedule;  // 0 forward, 1 reverse, 2 random (ignored by the threads build)
    int pad;
    unsigned long long seed;
};

// Parameter description for argument validation (layout mirrored in loader.py).
struct ParamInfo {
    int size;           // sizeof the parameter
    int is_pointer;     // 1 for T*
    int kind;           // 0 other, 1 integer, 2 floating, 3 bool
    int pointee_size;   // sizeof(T) for T*, 0 for void* / non-pointers
    int pointee_kind;   // kind of T for T*
    int pointee_const;  // 1 for const T*
};

enum OpKind : int {
    OP_NONE = 0, OP_SYNCTHREADS, OP_SHFL_IDX, OP_SHFL_UP, OP_SHFL_DOWN, OP_SHFL_XOR,
    OP_BALLOT, OP_ANY, OP_ALL, OP_SYNCWARP, OP_GRID_SYNC,
};
inline const char* op_name(int k) {
    switch (k) {
        case OP_SYNCTHREADS: return "__syncthreads";
        case OP_SHFL_IDX: return "__shfl_sync";
        case OP_SHFL_UP: return "__shfl_up_sync";
        case OP_SHFL_DOWN: return "__shfl_down_sync";
        case OP_SHFL_XOR: return "__shfl_xor_sync";
        case OP_BALLOT: return "__ballot_sync";
        case OP_ANY: return "__any_sync";
        case OP_ALL: return "__all_sync";
        case OP_SYNCWARP: return "__syncwarp";
        case OP_GRID_SYNC: return "grid sync";
        default: return "?";
    }
}

enum State : int { RUNNABLE = 0, WAITING = 1, DONE = 2 };

// One CUDA thread.
struct Thr {
    uint3 tid;
    int state;
    int op;                  // OpKind while WAITING
    unsigned mask;           // warp ops
    long long arg;           // srcLane / delta / laneMask, or the barrier predicate
    int width;
    unsigned long long val;  // deposited value (bit pattern)
    unsigned long long res;  // result written by resolve()
    const char* file;
    unsigned line;
#ifdef GPUSIM_THREADS
    unsigned epoch;             // number of warp ops this thread started (TSan tokens)
    unsigned src_epoch[32];     // the epoch each group member released its token at (resolve())
#else
    ucontext_t ctx;
    char* stack;
#endif
};

struct Block {
    Thr* t = nullptr;
    int n = 0;
    int running = 0;             // threads neither waiting nor done
    bool failed = false;
    char* err = nullptr;         // message buffer owned by the caller
    std::size_t errlen = 0;
    unsigned bar_phase = 0;      // completed __syncthreads, for TSan tokens
};

inline Block* g_block = nullptr;

inline void fmt_tid(char* buf, std::size_t n, const Thr& t) {
    std::snprintf(buf, n, "block (%u,%u,%u) thread (%u,%u,%u)", blockIdx.x, blockIdx.y, blockIdx.z,
                  t.tid.x, t.tid.y, t.tid.z);
}

template <class... Ts>
inline void fail(Block& b, const char* fmt, Ts... args) {
    if (!b.failed) {
        b.failed = true;
        if (b.err && b.errlen) std::snprintf(b.err, b.errlen, fmt, args...);
    }
}

// Result of CUDA's shfl.sync for `lane` (PTX semantics with c = (32-width)<<8 | clamp).
inline unsigned long long shfl_result(const Thr* warp, int lane, int nlanes) {
    const Thr& me = warp[lane];
    const long long w = me.width;
    const long long segmask = 32 - w;                 // high lane bits of the segment
    const long long minLane = lane & segmask;
    const long long maxLane = me.op == OP_SHFL_UP ? minLane : (minLane | (w - 1));
    long long j = lane;
    bool ok = false;
    switch (me.op) {
        case OP_SHFL_IDX: j = minLane | (me.arg & (w - 1)); ok = j <= maxLane; break;
        case OP_SHFL_UP: j = lane - me.arg; ok = j >= maxLane; break;
        case OP_SHFL_DOWN: j = lane + me.arg; ok = j <= maxLane; break;
        case OP_SHFL_XOR: j = lane ^ me.arg; ok = j >= 0 && j <= maxLane; break;
    }
    if (!ok) j = lane;
    if (j >= nlanes || !((me.mask >> j) & 1u)) return ~0ull;  // inactive source: undefined -> poison
    return warp[j].val;
}

// Called when no thread can run: complete every warp group and barrier that is
// complete.  Returns the number of threads released; 0 with b.failed set means
// deadlock or divergence (the message says which threads and where).
inline int resolve(Block& b) {
    Thr* t = b.t;
    const int n = b.n;
    int released = 0;
    char who[96], other[96];
    // Warp operations first: a thread at __syncthreads may still be needed by none,
    // but threads in warp ops can only be freed by their group.
    for (int base = 0; base < n; base += 32) {
        const int nl = std::min(32, n - base);
        Thr* w = t + base;
        unsigned handled = 0;
        for (int l = 0; l < nl; ++l) {
            if (w[l].state != WAITING || w[l].op == OP_SYNCTHREADS || w[l].op == OP_GRID_SYNC ||
                ((handled >> l) & 1u))
                continue;
            const unsigned m = w[l].mask;
            if (!((m >> l) & 1u)) {
                fmt_tid(who, sizeof who, w[l]);
                fail(b, "%s calls %s with mask 0x%08x that does not contain its own lane %d (%s:%u)", who,
                     op_name(w[l].op), m, l, w[l].file, w[l].line);
                return 0;
            }
            if (nl < 32 && (m >> nl) != 0) {
                fmt_tid(who, sizeof who, w[l]);
                fail(b, "%s calls %s with mask 0x%08x naming lanes that do not exist (the warp has %d threads) (%s:%u)",
                     who, op_name(w[l].op), m, nl, w[l].file, w[l].line);
                return 0;
            }
            bool complete = true;
            for (int k = 0; k < nl && complete; ++k)
                if ((m >> k) & 1u)
                    complete = w[k].state == WAITING && w[k].op == w[l].op && w[k].mask == m;
            if (!complete) continue;
            unsigned long long ballot = 0;
            for (int k = 0; k < nl; ++k)
                if (((m >> k) & 1u) && w[k].val) ballot |= 1ull << k;
            for (int k = 0; k < nl; ++k) {
                if (!((m >> k) & 1u)) continue;
                Thr& x = w[k];
                switch (x.op) {
                    case OP_BALLOT: x.res = ballot; break;
                    case OP_ANY: x.res = ballot != 0; break;
                    case OP_ALL: x.res = ballot == m; break;
                    case OP_SYNCWARP: x.res = 0; break;
                    default: x.res = shfl_result(w, k, nl); break;
                }
#ifdef GPUSIM_THREADS
                // the epoch each member released its token at: it counted the op on arrival
                for (int q = 0; q < nl; ++q) x.src_epoch[q] = w[q].epoch - 1u;
#endif
            }
            for (int k = 0; k < nl; ++k)
                if ((m >> k) & 1u) { w[k].state = RUNNABLE; w[k].op = OP_NONE; ++released; }
            handled |= m;
            GPUSIM_ON_WARP_OP();
        }
    }
    if (released) return released;

    // __syncthreads: every thread of the block must wait at the same one.
    int first_bar = -1, first_done = -1, first_warp = -1, waiting_bar = 0;
    for (int i = 0; i < n; ++i) {
        if (t[i].state == DONE) { if (first_done < 0) first_done = i; continue; }
        if (t[i].op == OP_SYNCTHREADS) { ++waiting_bar; if (first_bar < 0) first_bar = i; }
        else if (first_warp < 0) first_warp = i;
    }
    if (first_bar >= 0 && waiting_bar == n) {
        const Thr& r = t[first_bar];
        for (int i = 0; i < n; ++i)
            if (t[i].line != r.line || std::strcmp(t[i].file, r.file) != 0) {
                fmt_tid(who, sizeof who, r);
                fmt_tid(other, sizeof other, t[i]);
                fail(b, "divergent __syncthreads: %s waits at %s:%u but %s waits at %s:%u", who, r.file, r.line,
                     other, t[i].file, t[i].line);
                return 0;
            }
        int count = 0;
        for (int i = 0; i < n; ++i) count += t[i].arg != 0;
        for (int i = 0; i < n; ++i) { t[i].res = (unsigned long long)count; t[i].state = RUNNABLE; t[i].op = OP_NONE; }
        ++b.bar_phase;
        GPUSIM_ON_BLOCK_BARRIER();
        return n;
    }
    // Nothing can make progress: explain why.
    if (first_bar >= 0 && first_done >= 0) {
        fmt_tid(who, sizeof who, t[first_bar]);
        fmt_tid(other, sizeof other, t[first_done]);
        fail(b, "divergent __syncthreads: %s waits at %s:%u but %s has exited", who, t[first_bar].file,
             t[first_bar].line, other);
        return 0;
    }
    if (first_warp >= 0 && t[first_warp].op == OP_GRID_SYNC) {  // others wait elsewhere
        const Thr& x = t[first_warp];
        for (int i = 0; i < n; ++i) {
            if (t[i].state == DONE || t[i].op == OP_GRID_SYNC) continue;
            fmt_tid(who, sizeof who, x);
            fmt_tid(other, sizeof other, t[i]);
            fail(b, "divergent grid sync: %s waits at the grid sync at %s:%u but %s waits in %s at %s:%u",
                 who, x.file, x.line, other, op_name(t[i].op), t[i].file, t[i].line);
            return 0;
        }
    }
    if (first_warp >= 0) {
        const Thr& x = t[first_warp];
        const int base = first_warp & ~31, lane = first_warp & 31;
        const int nl = std::min(32, n - base);
        fmt_tid(who, sizeof who, x);
        for (int k = 0; k < nl; ++k) {
            if (!((x.mask >> k) & 1u)) continue;
            const Thr& y = t[base + k];
            fmt_tid(other, sizeof other, y);
            if (y.state == DONE) {
                fail(b, "warp deadlock: %s (lane %d) waits in %s(mask=0x%08x) at %s:%u, but lane %d (%s) has exited",
                     who, lane, op_name(x.op), x.mask, x.file, x.line, k, other);
                return 0;
            }
            if (y.op != x.op || y.mask != x.mask) {
                fail(b, "warp deadlock: %s (lane %d) waits in %s(mask=0x%08x) at %s:%u, but lane %d (%s) waits in "
                        "%s(mask=0x%08x) at %s:%u",
                     who, lane, op_name(x.op), x.mask, x.file, x.line, k, other, op_name(y.op), y.mask, y.file,
                     y.line);
                return 0;
            }
        }
        fail(b, "deadlock: %s waits in %s(mask=0x%08x) at %s:%u", who, op_name(x.op), x.mask, x.file, x.line);
        return 0;
    }
    fail(b, "deadlock in block");
    return 0;
}

inline void run_block_threads(Block& b, void (*fn)(void*), void* ctx);
inline void wait_op(int op, unsigned mask, long long arg, int width, unsigned long long val, const char* file,
                    unsigned line);
inline unsigned long long op_result();
inline int my_linear();

// splitmix64: a tiny PRNG whose sequence does not depend on the C++ library.
inline unsigned long long splitmix(unsigned long long& s) {
    unsigned long long z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

}  // namespace gpusim

extern "C" char __start_gpusim_shared[] __attribute__((weak, visibility("hidden")));
extern "C" char __stop_gpusim_shared[] __attribute__((weak, visibility("hidden")));
extern "C" char __start_gpusim_shared_tpl[] __attribute__((weak, visibility("hidden")));
extern "C" char __stop_gpusim_shared_tpl[] __attribute__((weak, visibility("hidden")));

namespace gpusim {

inline void poison_shared() {
    if (__start_gpusim_shared && __stop_gpusim_shared > __start_gpusim_shared)
        std::memset(__start_gpusim_shared, 0xFF, (std::size_t)(__stop_gpusim_shared - __start_gpusim_shared));
    if (__start_gpusim_shared_tpl && __stop_gpusim_shared_tpl > __start_gpusim_shared_tpl)
        std::memset(__start_gpusim_shared_tpl, 0xFF,
                    (std::size_t)(__stop_gpusim_shared_tpl - __start_gpusim_shared_tpl));
}

#ifndef GPUSIM_THREADS
// ================================================================ fiber build
constexpr std::size_t kStack = 256 * 1024;  // per fiber; a guard page below catches overflow
constexpr int kMaxThreads = 1024;

struct FiberPool {
    Thr t[kMaxThreads];
    char* stacks = nullptr;      // the fibers' stacks, one mapping
    std::size_t stacks_bytes = 0;
    ucontext_t sched;
    int order[kMaxThreads];
    int current = -1;
    void (*fn)(void*) = nullptr;
    void* ctx = nullptr;
};
inline FiberPool* g_pool = nullptr;

inline void fiber_entry() {
    FiberPool& p = *g_pool;
    Thr& me = p.t[p.current];
    try {
        p.fn(p.ctx);
    } catch (...) {
        char who[96];
        fmt_tid(who, sizeof who, me);
        fail(*g_block, "%s: C++ exception escaped the kernel", who);
    }
    me.state = DONE;
    --g_block->running;
    swapcontext(&me.ctx, &p.sched);
    std::abort();  // a finished fiber is never resumed
}

inline int my_linear() { return g_pool->current; }

inline void wait_op(int op, unsigned mask, long long arg, int width, unsigned long long val, const char* file,
                    unsigned line) {
    FiberPool& p = *g_pool;
    Thr& me = p.t[p.current];
    me.state = WAITING; me.op = op; me.mask = mask; me.arg = arg; me.width = width; me.val = val;
    me.file = file; me.line = line;
    --g_block->running;
    swapcontext(&me.ctx, &p.sched);
}
inline unsigned long long op_result() { return g_pool->t[g_pool->current].res; }

inline void fatal_in_thread(const char* what) {
    FiberPool& p = *g_pool;
    Thr& me = p.t[p.current];
    char who[96];
    fmt_tid(who, sizeof who, me);
    fail(*g_block, "%s: %s", who, what);
    swapcontext(&me.ctx, &p.sched);  // the launch is abandoned; never resumed
    std::abort();
}

// The fibers of block b (pool p) start afresh at the kernel's entry.
inline void init_block(Block& b, FiberPool& p, void (*fn)(void*), void* ctx, const unsigned* bd) {
    p.fn = fn; p.ctx = ctx;
    b.t = p.t; b.running = b.n;
    for (int i = 0; i < b.n; ++i) {
        Thr& x = p.t[i];
        x.tid = uint3{i % bd[0], (i / bd[0]) % bd[1], i / (bd[0] * bd[1])};
        x.state = RUNNABLE; x.op = OP_NONE; x.res = 0;
        getcontext(&x.ctx);
        x.ctx.uc_stack.ss_sp = x.stack;
        x.ctx.uc_stack.ss_size = kStack;
        x.ctx.uc_link = nullptr;
        makecontext(&x.ctx, fiber_entry, 0);
    }
}

enum Driven : int { BLOCK_FAILED = -1, BLOCK_DONE = 0, BLOCK_AT_GRID_SYNC = 1 };

// Runs block b's fibers (pool p, which g_pool and g_block name) until every thread has exited
// or every one waits at a grid sync.
inline int drive_block(Block& b, FiberPool& p, int schedule, unsigned long long& rng) {
    int* order = p.order;
    for (;;) {
        int m = 0;
        for (int i = 0; i < b.n; ++i)
            if (p.t[i].state == RUNNABLE) order[m++] = i;
        if (m == 0) {
            GPUSIM_ON_ROUND_END();
            int done = 0, at_grid = 0, first_done = -1;
            for (int i = 0; i < b.n; ++i) {
                if (p.t[i].state == DONE) { ++done; if (first_done < 0) first_done = i; }
                else if (p.t[i].op == OP_GRID_SYNC) ++at_grid;
            }
            if (done == b.n) return BLOCK_DONE;
            if (at_grid > 0 && at_grid + done == b.n) {
                if (done == 0) return BLOCK_AT_GRID_SYNC;
                char who[96], other[96];
                int w = 0;
                while (p.t[w].state == DONE) ++w;
                fmt_tid(who, sizeof who, p.t[w]);
                fmt_tid(other, sizeof other, p.t[first_done]);
                fail(b, "divergent grid sync: %s waits at the grid sync at %s:%u but %s has exited", who,
                     p.t[w].file, p.t[w].line, other);
                return BLOCK_FAILED;
            }
            if (resolve(b) == 0) return BLOCK_FAILED;
            continue;
        }
        if (schedule == 1) std::reverse(order, order + m);
        else if (schedule == 2)
            for (int i = m - 1; i > 0; --i) std::swap(order[i], order[splitmix(rng) % (unsigned)(i + 1)]);
        for (int k = 0; k < m; ++k) {
            Thr& x = p.t[order[k]];
            p.current = order[k];
            threadIdx = x.tid;
            swapcontext(&p.sched, &x.ctx);
            if (b.failed) return BLOCK_FAILED;
        }
    }
}

// A pool with stacks for `nthreads` fibers (each stack mapping is two kernel VMAs with its guard
// page: the process has a limited number of them, vm.max_map_count).
inline FiberPool* new_pool(int nthreads = kMaxThreads) {
    FiberPool* p = new (std::nothrow) FiberPool();
    if (!p) return nullptr;
    const std::size_t page = 4096;
    char* mem = (char*)mmap(nullptr, (kStack + page) * nthreads, PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (mem == MAP_FAILED) { delete p; return nullptr; }
    for (int i = 0; i < nthreads; ++i) {
        char* base = mem + i * (kStack + page);
        mprotect(base, page, PROT_NONE);  // guard page: a stack overflow faults instead of corrupting
        p->t[i].stack = base + page;
    }
    p->stacks = mem;
    p->stacks_bytes = (kStack + page) * nthreads;
    return p;
}

inline void free_pool(FiberPool* p) {
    munmap(p->stacks, p->stacks_bytes);
    delete p;
}

// Blocks that wait at a grid sync keep their fibers, each in a pool of its own while the launch
// runs: pool i for the i-th block to arrive (pool 0 is g_pool, which every launch uses).
constexpr int kMaxGridSyncBlocks = 64;
inline FiberPool* g_pools[kMaxGridSyncBlocks] = {};

inline FiberPool* pool_at(Block& b, int i) {
    if (i == 0) return g_pool;
    if (i >= kMaxGridSyncBlocks) {
        fail(b, "a grid sync in a launch of more than %d blocks is not simulated", kMaxGridSyncBlocks);
        return nullptr;
    }
    if (!g_pools[i]) g_pools[i] = new_pool(b.n);
    if (!g_pools[i]) fail(b, "cannot map fiber stacks");
    return g_pools[i];
}

// The pools of a launch's waiting blocks but the first (g_pool) go back when it ends.
inline void release_pools(std::size_t count) {
    for (std::size_t i = 1; i < count && i < (std::size_t)kMaxGridSyncBlocks; ++i) {
        if (g_pools[i]) free_pool(g_pools[i]);
        g_pools[i] = nullptr;
    }
}

inline bool ensure_pool(Block& b) {
    if (g_pool) return true;
    g_pool = new_pool();
    if (!g_pool) { fail(b, "cannot map fiber stacks"); return false; }
    return true;
}

// The __shared__ sections' contents, kept while a block waits at a grid sync and the others run.
inline std::size_t shared_bytes(int section) {
    if (section == 0)
        return __start_gpusim_shared && __stop_gpusim_shared > __start_gpusim_shared
                   ? (std::size_t)(__stop_gpusim_shared - __start_gpusim_shared) : 0;
    return __start_gpusim_shared_tpl && __stop_gpusim_shared_tpl > __start_gpusim_shared_tpl
               ? (std::size_t)(__stop_gpusim_shared_tpl - __start_gpusim_shared_tpl) : 0;
}
inline void save_shared(std::vector<char>& out) {
    const std::size_t a = shared_bytes(0), t = shared_bytes(1);
    out.resize(a + t);
    if (a) std::memcpy(out.data(), __start_gpusim_shared, a);
    if (t) std::memcpy(out.data() + a, __start_gpusim_shared_tpl, t);
}
inline void restore_shared(const std::vector<char>& in) {
    const std::size_t a = shared_bytes(0), t = shared_bytes(1);
    if (a) std::memcpy(__start_gpusim_shared, in.data(), a);
    if (t) std::memcpy(__start_gpusim_shared_tpl, in.data() + a, t);
}

struct WaitingBlock {
    Block b;
    int pool;
    uint3 idx;
    std::vector<char> shared;
};
#else
// ================================================================ std::thread build
#if defined(__SANITIZE_THREAD__)
extern "C" void AnnotateIgnoreSyncBegin(const char*, int);
extern "C" void AnnotateIgnoreSyncEnd(const char*, int);
extern "C" void AnnotateIgnoreReadsBegin(const char*, int);
extern "C" void AnnotateIgnoreReadsEnd(const char*, int);
extern "C" void AnnotateIgnoreWritesBegin(const char*, int);
extern "C" void AnnotateIgnoreWritesEnd(const char*, int);
extern "C" void __tsan_acquire(void*);
extern "C" void __tsan_release(void*);
// The simulator's own bookkeeping goes through one mutex.  Left visible, that
// mutex would order every pair of threads that ever synchronised, hiding real
// races; so it is hidden from TSan and the happens-before edges that CUDA
// actually gives are declared explicitly with release/acquire on tokens.
struct TsanHide {
    TsanHide() {
        AnnotateIgnoreSyncBegin(__FILE__, __LINE__);
        AnnotateIgnoreReadsBegin(__FILE__, __LINE__);
        AnnotateIgnoreWritesBegin(__FILE__, __LINE__);
    }
    ~TsanHide() {
        AnnotateIgnoreWritesEnd(__FILE__, __LINE__);
        AnnotateIgnoreReadsEnd(__FILE__, __LINE__);
        AnnotateIgnoreSyncEnd(__FILE__, __LINE__);
    }
};
inline void hb_release(void* p) { __tsan_release(p); }
inline void hb_acquire(void* p) { __tsan_acquire(p); }
#else
struct TsanHide {};
inline void hb_release(void*) {}
inline void hb_acquire(void*) {}
#endif

constexpr int kMaxThreads = 1024;
constexpr int kEpochs = 8;  // token slots per thread: a lane may run this many warp ops ahead of a peer

struct Abandon {};  // thrown into waiting threads when the launch failed

struct ThreadPool {
    Thr t[kMaxThreads];
    std::mutex m;
    // One condition variable per thread, each with a single waiter, so that a
    // release wakes only the threads it released.
    std::condition_variable cv[kMaxThreads];
    char bar_token[2];                       // __syncthreads phases alternate between two tokens
    char lane_token[kMaxThreads][kEpochs];   // per-thread warp-op release tokens
};
inline ThreadPool* g_pool = nullptr;
inline thread_local int t_linear = -1;

inline int my_linear() { return t_linear; }

// Under the mutex: when nobody runs, release whatever can be released.
inline void settle(Block& b) {
    while (b.running == 0 && !b.failed) {
        bool any_live = false;
        for (int i = 0; i < b.n; ++i) any_live |= b.t[i].state != DONE;
        if (!any_live) return;
        int r = resolve(b);
        if (r == 0) break;
        b.running += r;
    }
    for (int i = 0; i < b.n; ++i)
        if (b.failed || b.t[i].state == RUNNABLE) g_pool->cv[i].notify_one();
}

inline void wait_op(int op, unsigned mask, long long arg, int width, unsigned long long val, const char* file,
                    unsigned line) {
    ThreadPool& p = *g_pool;
    Block& b = *g_block;
    const int me_i = t_linear;
    bool failed;
    unsigned phase = 0, my_epoch = 0;
    {
        TsanHide hide;
        std::unique_lock<std::mutex> lk(p.m);
        my_epoch = p.t[me_i].epoch;
        phase = b.bar_phase;
    }
    if (op == OP_SYNCTHREADS) hb_release(&p.bar_token[phase & 1]);
    else hb_release(&p.lane_token[me_i][my_epoch % kEpochs]);
    unsigned src_epoch[32];
    unsigned m = 0;
    {
        TsanHide hide;
        std::unique_lock<std::mutex> lk(p.m);
        Thr& me = p.t[me_i];
        me.state = WAITING; me.op = op; me.mask = mask; me.arg = arg; me.width = width; me.val = val;
        me.file = file; me.line = line;
        if (op != OP_SYNCTHREADS) ++me.epoch;
        --b.running;
        settle(b);
        p.cv[me_i].wait(lk, [&] { return me.state == RUNNABLE || b.failed; });
        failed = b.failed && me.state != RUNNABLE;
        if (!failed) { std::memcpy(src_epoch, me.src_epoch, sizeof src_epoch); m = mask; }
    }
    if (failed) throw Abandon{};
    if (op == OP_SYNCTHREADS) hb_acquire(&p.bar_token[phase & 1]);
    else {
        const int base = me_i & ~31;
        for (int k = 0; k < 32; ++k)
            if ((m >> k) & 1u) hb_acquire(&p.lane_token[base + k][src_epoch[k] % kEpochs]);
    }
}
inline unsigned long long op_result() {
    TsanHide hide;
    std::lock_guard<std::mutex> lk(g_pool->m);
    return g_pool->t[t_linear].res;
}

inline void fatal_in_thread(const char* what) {
    {
        TsanHide hide;
        std::lock_guard<std::mutex> lk(g_pool->m);
        char who[96];
        fmt_tid(who, sizeof who, g_pool->t[t_linear]);
        fail(*g_block, "%s: %s", who, what);
        for (int i = 0; i < g_block->n; ++i) g_pool->cv[i].notify_one();
    }
    throw Abandon{};
}

inline bool run_block(Block& b, void (*fn)(void*), void* ctx, const unsigned* bd, int, unsigned long long&) {
    ThreadPool& p = *g_pool;
    b.t = p.t; b.running = b.n;
    for (int i = 0; i < b.n; ++i) {
        Thr& x = p.t[i];
        x.tid = uint3{i % bd[0], (i / bd[0]) % bd[1], i / (bd[0] * bd[1])};
        x.state = RUNNABLE; x.op = OP_NONE; x.res = 0; x.epoch = 0;
    }
    const uint3 bi = blockIdx;
    const dim3 bdim = blockDim, gdim = gridDim;
    std::vector<std::thread> threads;
    threads.reserve(b.n);
    for (int i = 0; i < b.n; ++i) {
        threads.emplace_back([&, i] {
            t_linear = i;
            threadIdx = p.t[i].tid;
            blockIdx = bi; blockDim = bdim; gridDim = gdim;
            try {
                fn(ctx);
            } catch (Abandon&) {
                return;
            } catch (...) {
                TsanHide hide;
                std::lock_guard<std::mutex> lk(p.m);
                char who[96];
                fmt_tid(who, sizeof who, p.t[i]);
                fail(b, "%s: C++ exception escaped the kernel", who);
                for (int q = 0; q < b.n; ++q) p.cv[q].notify_one();
                return;
            }
            TsanHide hide;
            std::lock_guard<std::mutex> lk(p.m);
            p.t[i].state = DONE;
            --b.running;
            settle(b);
        });
    }
    for (auto& th : threads) th.join();
    return !b.failed;
}

inline bool ensure_pool(Block& b) {
    if (!g_pool) g_pool = new (std::nothrow) ThreadPool();
    if (!g_pool) { fail(b, "out of memory"); return false; }
    return true;
}
#endif

}  // namespace gpusim

#ifdef GPUSIM_COUNT
// ================================================================ counters (counting builds only)
// What a launch does, for gpuhclust's GPU cost model.  The kernel file is compiled with GCC's
// -fsanitize=thread instrumentation but linked against the hooks below instead of libtsan, so
// every load and store of the kernel calls __tsan_readN/__tsan_writeN.  Only addresses inside
// the kernel's array arguments (the ranges the loader sets before the launch) count as global
// memory; addresses inside the __shared__ sections count as shared accesses; anything else
// (locals, the runtime's own state) is ignored.
//
// Warp instructions: the i-th global read (or write) of each lane of a warp within one
// scheduling round is one instruction.  A round runs every runnable fiber until it blocks, so it
// spans the code between two synchronisation points.  The distinct 32-byte sectors an
// instruction touches are its memory transactions (coalescing).  A round in which a single
// thread of the block touched global memory is a serial section: its accesses are a chain of
// latencies on a real device.
#ifdef GPUSIM_THREADS
#error "GPUSIM_COUNT needs the fiber build"
#endif
namespace gpusim::count {

// Layout mirrored in loader.py (_Counters).
struct Counters {
    unsigned long long block_barriers;      // completed __syncthreads, summed over blocks
    unsigned long long grid_barriers;       // completed grid-wide syncs (__gpusim_grid_sync)
    unsigned long long warp_ops;            // completed warp-level operations (shuffles, votes, __syncwarp)
    unsigned long long atomics;             // atomic operations on the array arguments (per thread)
    unsigned long long shared_atomics;      // atomic operations on __shared__ memory
    unsigned long long read_instructions;   // warp instructions reading the array arguments
    unsigned long long write_instructions;  // ... writing them
    unsigned long long sectors_read;        // distinct 32-byte sectors per read instruction, summed
    unsigned long long sectors_written;     // ... per write instruction
    unsigned long long bytes_read;          // bytes the threads read from the array arguments
    unsigned long long bytes_written;
    unsigned long long serial_accesses;     // global accesses made in rounds where one thread alone accessed
    unsigned long long serial_sectors;
    unsigned long long shared_accesses;     // loads and stores of __shared__ memory (per thread)
    unsigned long long thread_accesses;     // global loads and stores (per thread)
    unsigned long long rounds;              // scheduling rounds (code between synchronisation points)
    unsigned long long warp_sectors_read;   // distinct sectors each warp read in each round, summed
    unsigned long long warp_sectors_written;  // (what reaches memory when L1 absorbs a warp's re-reads)
    unsigned long long serial_reads;        // the reads among serial_accesses (they wait for memory)
    unsigned long long warp_partial_sectors_written;  // of warp_sectors_written, those whose 32
                                                      // bytes the warp did not all write
    unsigned long long warp_partial_sectors_read;     // of warp_sectors_read, those of whose 32
                                                      // bytes the warp read only some (gathers)
};

// An array argument [lo, hi) and what to add to its addresses so that its allocation starts at a
// 256-byte boundary, as device allocations do (host arrays are only 16-byte aligned).
struct Range { std::uintptr_t lo, hi, shift; };
// key: warp << 33 | is_write << 32 | i; mask: the bytes of the sector the access covers;
// spread: the warp instruction touched other sectors, none of them within 4 sectors of this
// one (a lane's own sector in a gather), not a stretch of a row nor a broadcast
struct Rec { unsigned long long key, sector; unsigned mask; bool spread; };

constexpr int kMaxRanges = 64;
inline Counters g_c{};
inline Range g_ranges[kMaxRanges];
inline int g_nranges = 0;
inline Rec* g_log = nullptr;          // this round's accesses (malloc'd: libc is not instrumented)
inline std::size_t g_log_n = 0, g_log_cap = 0;
inline unsigned g_seq[2][kMaxThreads];
inline int g_touched[kMaxThreads];    // threads whose g_seq is non-zero
inline int g_ntouched = 0;
inline int g_first = -1;              // the first thread that accessed global memory this round
inline bool g_many = false;           // another thread did too
inline bool g_busy = false;           // a hook is running (instrumented library code it calls re-enters)

#define GPUSIM_NOTSAN __attribute__((no_sanitize_thread, noinline))

GPUSIM_NOTSAN inline bool in_shared(std::uintptr_t a) {
    return (__start_gpusim_shared && a >= (std::uintptr_t)__start_gpusim_shared &&
            a < (std::uintptr_t)__stop_gpusim_shared) ||
           (__start_gpusim_shared_tpl && a >= (std::uintptr_t)__start_gpusim_shared_tpl &&
            a < (std::uintptr_t)__stop_gpusim_shared_tpl);
}
// The range holding address a, or null.
GPUSIM_NOTSAN inline const Range* in_args(std::uintptr_t a) {
    for (int i = 0; i < g_nranges; ++i)
        if (a >= g_ranges[i].lo && a < g_ranges[i].hi) return &g_ranges[i];
    return nullptr;
}

GPUSIM_NOTSAN inline void push(unsigned long long key, unsigned long long sector, unsigned mask) {
    if (g_log_n == g_log_cap) {
        std::size_t cap = g_log_cap ? 2 * g_log_cap : 4096;
        Rec* p = (Rec*)std::realloc(g_log, cap * sizeof(Rec));
        if (!p) std::abort();
        g_log = p; g_log_cap = cap;
    }
    g_log[g_log_n++] = Rec{key, sector, mask, false};
}

GPUSIM_NOTSAN inline void access(const volatile void* p, std::size_t size, int is_write) {
    if (g_busy || !g_block || !g_pool) return;
    const std::uintptr_t a = (std::uintptr_t)p;
    if (in_shared(a)) { ++g_c.shared_accesses; return; }
    const Range* r = in_args(a);
    if (!r) return;
    const std::uintptr_t va = a + r->shift;  // where the access lands in a device allocation
    const int me = g_pool->current;
    if (g_first < 0) g_first = me;
    else if (me != g_first) g_many = true;
    unsigned& seq = g_seq[is_write][me];
    if (g_seq[0][me] == 0 && g_seq[1][me] == 0) g_touched[g_ntouched++] = me;
    const unsigned long long key = ((unsigned long long)(me >> 5) << 33) | ((unsigned long long)is_write << 32) | seq;
    ++seq;
    ++g_c.thread_accesses;
    (is_write ? g_c.bytes_written : g_c.bytes_read) += size;
    for (std::uintptr_t s = va >> 5; s <= (va + size - 1) >> 5; ++s) {
        const std::uintptr_t lo = std::max(va, s << 5), hi = std::min(va + size, (s + 1) << 5);
        const unsigned width = (unsigned)(hi - lo);  // 1..32 bytes of this sector
        const unsigned bits = width == 32 ? 0xffffffffu : ((1u << width) - 1u);
        push(key, s, bits << (unsigned)(lo - (s << 5)));
    }
}

GPUSIM_NOTSAN inline bool rec_less(const Rec& x, const Rec& y) {
    return x.key < y.key || (x.key == y.key && x.sector < y.sector);
}

GPUSIM_NOTSAN inline void on_round_end() {
    ++g_c.rounds;
    if (g_log_n) {
        g_busy = true;
        if (g_many) std::sort(g_log, g_log + g_log_n, rec_less);
        // in a serial round the records of one access are adjacent and its sectors distinct
        unsigned long long instr[2] = {0, 0}, sectors[2] = {0, 0};
        unsigned long long distinct = 0;
        for (std::size_t i = 0, start = 0; i < g_log_n; ++i) {
            const Rec& r = g_log[i];
            const int w = (int)((r.key >> 32) & 1u);
            if (i == 0 || r.key != g_log[i - 1].key) {
                ++instr[w]; ++sectors[w]; start = i; distinct = 1;
            } else if (r.sector != g_log[i - 1].sector) {
                ++sectors[w]; ++distinct;
            }
            // at the instruction's last record: which of its sectors (sorted) stand alone, one
            // run of equal sectors at a time
            if (i + 1 == g_log_n || g_log[i + 1].key != r.key) {
                for (std::size_t lo = start; lo <= i;) {
                    std::size_t hi = lo;  // the records of sector g_log[lo].sector: lo..hi
                    while (hi < i && g_log[hi + 1].sector == g_log[lo].sector) ++hi;
                    const bool far_below = lo == start || g_log[lo].sector - g_log[lo - 1].sector > 4;
                    const bool far_above = hi == i || g_log[hi + 1].sector - g_log[lo].sector > 4;
                    const bool spread = distinct > 1 && far_below && far_above;
                    for (std::size_t j = lo; j <= hi; ++j) g_log[j].spread = spread;
                    lo = hi + 1;
                }
            }
        }
        g_c.read_instructions += instr[0]; g_c.write_instructions += instr[1];
        g_c.sectors_read += sectors[0]; g_c.sectors_written += sectors[1];
        if (!g_many) {
            g_c.serial_accesses += instr[0] + instr[1];
            g_c.serial_sectors += sectors[0] + sectors[1];
            g_c.serial_reads += instr[0];
        }
        // the same records keyed by warp and direction alone: the sectors each warp touched,
        // and of those the ones it wrote or read only in part (the union of its accesses'
        // bytes: a device's L2 merges a warp's stores to a sector before it writes it back, and
        // a sector read is fetched whole, whatever the warp uses of it)
        for (std::size_t i = 0; i < g_log_n; ++i) g_log[i].key &= ~0xffffffffull;
        std::sort(g_log, g_log + g_log_n, rec_less);
        // (a read counts as partial only where an instruction spread over several sectors
        // touched it: a broadcast of one value to the warp is served once, from L1 or L2)
        unsigned covered = 0;
        bool spread = false;
        for (std::size_t i = 0; i < g_log_n; ++i) {
            const Rec& r = g_log[i];
            const bool write = (r.key >> 32) & 1u;
            const bool first = i == 0 || r.key != g_log[i - 1].key || r.sector != g_log[i - 1].sector;
            if (first) {
                ++(write ? g_c.warp_sectors_written : g_c.warp_sectors_read);
                covered = 0;
                spread = false;
            }
            covered |= r.mask;
            spread = spread || r.spread;
            const bool last = i + 1 == g_log_n || g_log[i + 1].key != r.key || g_log[i + 1].sector != r.sector;
            if (last && covered != 0xffffffffu) {
                if (write) ++g_c.warp_partial_sectors_written;
                else if (spread) ++g_c.warp_partial_sectors_read;
            }
        }
        g_log_n = 0;
        g_busy = false;
    }
    for (int i = 0; i < g_ntouched; ++i) g_seq[0][g_touched[i]] = g_seq[1][g_touched[i]] = 0;
    g_ntouched = 0; g_first = -1; g_many = false;
}

GPUSIM_NOTSAN inline void on_atomic(const void* addr) {
    const std::uintptr_t a = (std::uintptr_t)addr;
    if (in_shared(a)) ++g_c.shared_atomics;
    else if (in_args(a)) ++g_c.atomics;
}
GPUSIM_NOTSAN inline void on_block_barrier() { ++g_c.block_barriers; }
GPUSIM_NOTSAN inline void on_grid_barrier() { ++g_c.grid_barriers; }
GPUSIM_NOTSAN inline void on_warp_op() { ++g_c.warp_ops; }

}  // namespace gpusim::count

extern "C" {
// ranges: n triples (lo, hi, shift), see Range.
GPUSIM_EXPORT GPUSIM_NOTSAN void gpusim_count_set_ranges(const unsigned long long* ranges, int n) {
    using namespace gpusim::count;
    g_nranges = std::min(n, kMaxRanges);
    for (int i = 0; i < g_nranges; ++i)
        g_ranges[i] = Range{(std::uintptr_t)ranges[3 * i], (std::uintptr_t)ranges[3 * i + 1],
                            (std::uintptr_t)ranges[3 * i + 2]};
}
// Copies the counters since the last call into *out and zeroes them.
GPUSIM_EXPORT GPUSIM_NOTSAN int gpusim_count_take(gpusim::count::Counters* out) {
    using namespace gpusim::count;
    *out = g_c;
    g_c = Counters{};
    g_nranges = 0;
    return (int)(sizeof(Counters) / sizeof(unsigned long long));
}

// The hooks GCC's -fsanitize=thread instrumentation calls, implemented here instead of by
// libtsan.  The atomics do the operation itself (the fibers share one OS thread).
#define GPUSIM_RW(N) \
    GPUSIM_EXPORT GPUSIM_NOTSAN void __tsan_read##N(void* p) { gpusim::count::access(p, N, 0); } \
    GPUSIM_EXPORT GPUSIM_NOTSAN void __tsan_write##N(void* p) { gpusim::count::access(p, N, 1); } \
    GPUSIM_EXPORT GPUSIM_NOTSAN void __tsan_unaligned_read##N(void* p) { gpusim::count::access(p, N, 0); } \
    GPUSIM_EXPORT GPUSIM_NOTSAN void __tsan_unaligned_write##N(void* p) { gpusim::count::access(p, N, 1); } \
    GPUSIM_EXPORT GPUSIM_NOTSAN void __tsan_volatile_read##N(void* p) { gpusim::count::access(p, N, 0); } \
    GPUSIM_EXPORT GPUSIM_NOTSAN void __tsan_volatile_write##N(void* p) { gpusim::count::access(p, N, 1); }
GPUSIM_RW(1) GPUSIM_RW(2) GPUSIM_RW(4) GPUSIM_RW(8) GPUSIM_RW(16)
#undef GPUSIM_RW
GPUSIM_EXPORT GPUSIM_NOTSAN void __tsan_read_range(void* p, unsigned long size) { if (size) gpusim::count::access(p, size, 0); }
GPUSIM_EXPORT GPUSIM_NOTSAN void __tsan_write_range(void* p, unsigned long size) { if (size) gpusim::count::access(p, size, 1); }
GPUSIM_EXPORT GPUSIM_NOTSAN void __tsan_init() {}
GPUSIM_EXPORT GPUSIM_NOTSAN void __tsan_func_entry(void*) {}
GPUSIM_EXPORT GPUSIM_NOTSAN void __tsan_func_exit() {}
GPUSIM_EXPORT GPUSIM_NOTSAN void __tsan_vptr_update(void**, void*) {}
GPUSIM_EXPORT GPUSIM_NOTSAN void __tsan_vptr_read(void**) {}
GPUSIM_EXPORT GPUSIM_NOTSAN void __tsan_atomic_thread_fence(int) { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
GPUSIM_EXPORT GPUSIM_NOTSAN void __tsan_atomic_signal_fence(int) {}
#define GPUSIM_ATOMICS(B, T) \
    GPUSIM_EXPORT GPUSIM_NOTSAN T __tsan_atomic##B##_load(const volatile T* a, int) { return *a; } \
    GPUSIM_EXPORT GPUSIM_NOTSAN void __tsan_atomic##B##_store(volatile T* a, T v, int) { *a = v; } \
    GPUSIM_EXPORT GPUSIM_NOTSAN T __tsan_atomic##B##_exchange(volatile T* a, T v, int) { T o = *a; *a = v; return o; } \
    GPUSIM_EXPORT GPUSIM_NOTSAN T __tsan_atomic##B##_fetch_add(volatile T* a, T v, int) { T o = *a; *a = o + v; return o; } \
    GPUSIM_EXPORT GPUSIM_NOTSAN T __tsan_atomic##B##_fetch_sub(volatile T* a, T v, int) { T o = *a; *a = o - v; return o; } \
    GPUSIM_EXPORT GPUSIM_NOTSAN T __tsan_atomic##B##_fetch_and(volatile T* a, T v, int) { T o = *a; *a = o & v; return o; } \
    GPUSIM_EXPORT GPUSIM_NOTSAN T __tsan_atomic##B##_fetch_or(volatile T* a, T v, int) { T o = *a; *a = o | v; return o; } \
    GPUSIM_EXPORT GPUSIM_NOTSAN T __tsan_atomic##B##_fetch_xor(volatile T* a, T v, int) { T o = *a; *a = o ^ v; return o; } \
    GPUSIM_EXPORT GPUSIM_NOTSAN T __tsan_atomic##B##_fetch_nand(volatile T* a, T v, int) { T o = *a; *a = ~(o & v); return o; } \
    GPUSIM_EXPORT GPUSIM_NOTSAN int __tsan_atomic##B##_compare_exchange_strong(volatile T* a, T* c, T v, int, int) { \
        if (*a == *c) { *a = v; return 1; } *c = *a; return 0; } \
    GPUSIM_EXPORT GPUSIM_NOTSAN int __tsan_atomic##B##_compare_exchange_weak(volatile T* a, T* c, T v, int, int) { \
        if (*a == *c) { *a = v; return 1; } *c = *a; return 0; } \
    GPUSIM_EXPORT GPUSIM_NOTSAN T __tsan_atomic##B##_compare_exchange_val(volatile T* a, T c, T v, int, int) { \
        T o = *a; if (o == c) *a = v; return o; }
GPUSIM_ATOMICS(8, unsigned char) GPUSIM_ATOMICS(16, unsigned short) GPUSIM_ATOMICS(32, unsigned int)
GPUSIM_ATOMICS(64, unsigned long long)
#undef GPUSIM_ATOMICS
}
#endif  // GPUSIM_COUNT

namespace gpusim {

#ifndef GPUSIM_THREADS
// The blocks run one after another until one reaches a grid sync (__gpusim_grid_sync). From
// then on every block must reach it: the blocks that arrive wait there with their fibers and
// __shared__ contents kept aside, and once all have arrived they run again, one after another
// in the schedule's block order, to the next grid sync or to their end. A block that exits
// while others wait at a grid sync is an error (on a device the others would wait forever).
inline int run_waiting_blocks(std::vector<WaitingBlock>& waiting, void (*fn)(void*), int schedule,
                              unsigned long long& rng, Block& outer) {
    const std::size_t nb = waiting.size();
    std::vector<std::size_t> order(nb);
    for (;;) {
        const Thr& first = waiting[0].b.t[0];
        for (auto& w : waiting) {
            const Thr& x = w.b.t[0];
            if (x.line != first.line || std::strcmp(x.file, first.file) != 0) {
                fail(outer, "divergent grid sync: block (%u,%u,%u) waits at %s:%u but block (%u,%u,%u) at %s:%u",
                     waiting[0].idx.x, waiting[0].idx.y, waiting[0].idx.z, first.file, first.line, w.idx.x,
                     w.idx.y, w.idx.z, x.file, x.line);
                return 1;
            }
        }
        GPUSIM_ON_GRID_BARRIER();
        for (std::size_t k = 0; k < nb; ++k) order[k] = k;
        if (schedule == 1) std::reverse(order.begin(), order.end());
        else if (schedule == 2)
            for (std::size_t i = nb - 1; i > 0; --i) std::swap(order[i], order[splitmix(rng) % (i + 1)]);
        std::size_t done = 0, first_done = 0;
        for (std::size_t k = 0; k < nb; ++k) {
            WaitingBlock& w = waiting[order[k]];
            FiberPool& p = *g_pools[w.pool];
            g_pool = &p;
            g_block = &w.b;
            blockIdx = w.idx;
            restore_shared(w.shared);
            for (int i = 0; i < w.b.n; ++i) { p.t[i].state = RUNNABLE; p.t[i].op = OP_NONE; }
            w.b.running = w.b.n;
            const int r = drive_block(w.b, p, schedule, rng);
            if (r == BLOCK_FAILED) return 1;
            if (r == BLOCK_DONE) { if (done++ == 0) first_done = order[k]; }
            else save_shared(w.shared);
        }
        if (done == nb) return 0;
        if (done) {
            const WaitingBlock& d = waiting[first_done];
            fail(outer, "divergent grid sync: block (%u,%u,%u) exited while the others wait at a grid sync",
                 d.idx.x, d.idx.y, d.idx.z);
            return 1;
        }
    }
}
#endif

// Runs the whole grid; returns 0 on success, 1 with a message in err otherwise.
inline int run_grid(const LaunchConfig& cfg, void (*fn)(void*), void* ctx, char* err, std::size_t errlen) {
    Block b;
    b.err = err; b.errlen = errlen;
    if (err && errlen) err[0] = 0;
    const unsigned* bd = cfg.block;
    const unsigned long long nthreads = (unsigned long long)bd[0] * bd[1] * bd[2];
    if (nthreads == 0 || nthreads > (unsigned long long)kMaxThreads) {
        fail(b, "block of %llu threads; CUDA allows 1 to 1024", nthreads);
        return 1;
    }
    b.n = (int)nthreads;
    if (!ensure_pool(b)) return 1;
    g_block = &b;
    gridDim = dim3(cfg.grid[0], cfg.grid[1], cfg.grid[2]);
    blockDim = dim3(bd[0], bd[1], bd[2]);
    const unsigned long long nblocks = (unsigned long long)cfg.grid[0] * cfg.grid[1] * cfg.grid[2];
    unsigned long long rng = cfg.seed;
    // Random schedule: visit the blocks in a random order too.
    unsigned long long stride = 1, offset = 0;
    if (cfg.schedule == 2 && nblocks > 1) {
        // a random odd-ish stride coprime with nblocks gives a permutation without storage
        offset = splitmix(rng) % nblocks;
        do { stride = 1 + splitmix(rng) % nblocks; } while (std::gcd(stride, nblocks) != 1);
    }
#ifndef GPUSIM_THREADS
    std::vector<WaitingBlock> waiting;  // blocks at the first grid sync, in arrival order
    FiberPool* const plain = g_pool;
    g_pools[0] = plain;
    unsigned long long finished = 0;
    int rc = 0;
#endif
    for (unsigned long long k = 0; k < nblocks; ++k) {
        unsigned long long bid = cfg.schedule == 1 ? nblocks - 1 - k
                               : cfg.schedule == 2 ? (offset + k * stride) % nblocks : k;
        blockIdx = uint3{(unsigned)(bid % cfg.grid[0]), (unsigned)((bid / cfg.grid[0]) % cfg.grid[1]),
                         (unsigned)(bid / ((unsigned long long)cfg.grid[0] * cfg.grid[1]))};
        poison_shared();
        b.bar_phase = 0;
#ifdef GPUSIM_THREADS
        if (!run_block(b, fn, ctx, bd, cfg.schedule, rng)) {
            g_block = nullptr;
            return 1;
        }
#else
        // pool i for the i-th block to wait at the grid sync: the next one's until it does
        const int pool = (int)waiting.size();
        FiberPool* p = pool_at(b, pool);
        if (!p) { rc = 1; break; }
        WaitingBlock w{b, pool, blockIdx, {}};
        g_pool = p;
        g_block = &w.b;
        init_block(w.b, *p, fn, ctx, bd);
        const int r = drive_block(w.b, *p, cfg.schedule, rng);
        if (r == BLOCK_FAILED) { rc = 1; break; }
        if (r == BLOCK_DONE) {
            if (!waiting.empty()) {
                fail(b, "divergent grid sync: block (%u,%u,%u) exited while others wait at a grid sync",
                     blockIdx.x, blockIdx.y, blockIdx.z);
                rc = 1;
                break;
            }
            ++finished;
            continue;
        }
        if (finished) {
            fail(b, "divergent grid sync: %llu block(s) exited before block (%u,%u,%u) reached a grid sync",
                 finished, blockIdx.x, blockIdx.y, blockIdx.z);
            rc = 1;
            break;
        }
        if (waiting.empty()) waiting.reserve(nblocks);
        save_shared(w.shared);
        waiting.push_back(std::move(w));
#endif
    }
#ifndef GPUSIM_THREADS
    if (rc == 0 && !waiting.empty()) rc = run_waiting_blocks(waiting, fn, cfg.schedule, rng, b);
    release_pools(waiting.size() + 1);
    g_pool = plain;
    g_block = nullptr;
    return rc;
#else
    g_block = nullptr;
    return 0;
#endif
}

template <class T>
constexpr int kind_of() {
    if constexpr (std::is_same_v<std::remove_cv_t<T>, bool>) return 3;
    else if constexpr (std::is_integral_v<T> || std::is_enum_v<T>) return 1;
    else if constexpr (std::is_floating_point_v<T>) return 2;
    else return 0;
}

template <class... A>
int signature(void (*)(A...), ParamInfo* out, int maxn) {
    int i = 0;
    auto one = [&](auto tag) {
        using T = typename decltype(tag)::type;
        if (i < maxn) {
            ParamInfo& p = out[i];
            p.size = (int)sizeof(T);
            p.is_pointer = std::is_pointer_v<T> ? 1 : 0;
            p.kind = kind_of<T>();
            p.pointee_size = 0; p.pointee_kind = 0; p.pointee_const = 0;
            if constexpr (std::is_pointer_v<T>) {
                using P = std::remove_pointer_t<T>;
                p.pointee_const = std::is_const_v<P> ? 1 : 0;
                if constexpr (!std::is_void_v<P> && std::is_arithmetic_v<std::remove_cv_t<P>>) {
                    p.pointee_size = (int)sizeof(P);
                    p.pointee_kind = kind_of<std::remove_cv_t<P>>();
                }
            }
        }
        ++i;
    };
    (one(std::type_identity<A>{}), ...);
    return (int)sizeof...(A);
}

template <class... A>
struct Call {
    void (*k)(A...);
    void** args;
    template <std::size_t... I>
    void go(std::index_sequence<I...>) { k(*static_cast<std::remove_reference_t<A>*>(args[I])...); }
    static void run(void* self) { static_cast<Call*>(self)->go(std::index_sequence_for<A...>{}); }
};

template <class... A>
int launch(void (*k)(A...), const LaunchConfig* cfg, void** args, char* err, std::size_t errlen) {
    static_assert((!std::is_reference_v<A> && ...), "kernel parameters cannot be references");
    Call<A...> c{k, args};
    return run_grid(*cfg, &Call<A...>::run, &c, err, errlen);
}

}  // namespace gpusim

// ---------------------------------------------------------------- sync and warp ops
// The trailing file/line defaults record the call site (for error messages and
// for telling apart two different __syncthreads).
inline void __syncthreads(const char* file = __builtin_FILE(), unsigned line = __builtin_LINE()) {
    gpusim::wait_op(gpusim::OP_SYNCTHREADS, 0, 0, 0, 0, file, line);
}
inline int __syncthreads_count(int pred, const char* file = __builtin_FILE(), unsigned line = __builtin_LINE()) {
    gpusim::wait_op(gpusim::OP_SYNCTHREADS, 0, pred != 0, 0, 0, file, line);
    return (int)gpusim::op_result();
}
inline int __syncthreads_or(int pred, const char* file = __builtin_FILE(), unsigned line = __builtin_LINE()) {
    return __syncthreads_count(pred, file, line) != 0;
}
inline int __syncthreads_and(int pred, const char* file = __builtin_FILE(), unsigned line = __builtin_LINE()) {
    gpusim::wait_op(gpusim::OP_SYNCTHREADS, 0, pred != 0, 0, 0, file, line);
    return (int)gpusim::op_result() == (int)(blockDim.x * blockDim.y * blockDim.z);
}
inline void __syncwarp(unsigned mask = 0xffffffffu, const char* file = __builtin_FILE(),
                       unsigned line = __builtin_LINE()) {
    gpusim::wait_op(gpusim::OP_SYNCWARP, mask, 0, 32, 0, file, line);
}
// Every thread of the grid waits until every thread of the grid has arrived: the simulator's
// side of kernels/common.cuh's grid_sync (fiber builds; run_grid says how blocks take turns).
inline void __gpusim_grid_sync(const char* file = __builtin_FILE(), unsigned line = __builtin_LINE()) {
#ifdef GPUSIM_THREADS
    // one block: the grid's barrier is the block's
    if ((unsigned long long)gridDim.x * gridDim.y * gridDim.z == 1) {
        gpusim::wait_op(gpusim::OP_SYNCTHREADS, 0, 1, 0, 0, file, line);
        return;
    }
    gpusim::fatal_in_thread("a grid sync in a grid of several blocks is not simulated in the threads build "
                            "(use the fiber schedules)");
#else
    gpusim::wait_op(gpusim::OP_GRID_SYNC, 0, 0, 32, 0, file, line);
#endif
}
inline unsigned __ballot_sync(unsigned mask, int pred, const char* file = __builtin_FILE(),
                              unsigned line = __builtin_LINE()) {
    gpusim::wait_op(gpusim::OP_BALLOT, mask, 0, 32, pred != 0, file, line);
    return (unsigned)gpusim::op_result();
}
inline int __any_sync(unsigned mask, int pred, const char* file = __builtin_FILE(), unsigned line = __builtin_LINE()) {
    gpusim::wait_op(gpusim::OP_ANY, mask, 0, 32, pred != 0, file, line);
    return (int)gpusim::op_result();
}
inline int __all_sync(unsigned mask, int pred, const char* file = __builtin_FILE(), unsigned line = __builtin_LINE()) {
    gpusim::wait_op(gpusim::OP_ALL, mask, 0, 32, pred != 0, file, line);
    return (int)gpusim::op_result();
}
// Lanes of the calling warp that have not exited (the simulator has no notion
// of which lanes are converged, so this is the widest mask CUDA could return).
inline unsigned __activemask() {
#ifdef GPUSIM_THREADS
    gpusim::TsanHide hide;
    std::lock_guard<std::mutex> lk(gpusim::g_pool->m);
#endif
    const int me = gpusim::my_linear();
    const int base = me & ~31;
    const int nl = std::min(32, gpusim::g_block->n - base);
    unsigned m = 0;
    for (int k = 0; k < nl; ++k)
        if (gpusim::g_block->t[base + k].state != gpusim::DONE) m |= 1u << k;
    return m | (1u << (me & 31));
}
inline unsigned __lanemask_lt() { return (1u << (gpusim::my_linear() & 31)) - 1u; }

namespace gpusim {
template <class T>
inline T shfl(int op, unsigned mask, T var, long long arg, int width, const char* file, unsigned line) {
    static_assert(std::is_trivially_copyable_v<T> && sizeof(T) <= 8, "shuffle of a type larger than 8 bytes");
    if (width <= 0 || width > 32 || (width & (width - 1)) != 0) {
        char msg[160];
        std::snprintf(msg, sizeof msg, "%s at %s:%u with width %d (must be a power of 2 <= 32)", op_name(op), file,
                      line, width);
        fatal_in_thread(msg);
    }
    unsigned long long bits = 0;
    std::memcpy(&bits, &var, sizeof(T));
    wait_op(op, mask, arg, width, bits, file, line);
    unsigned long long r = op_result();
    T out;
    std::memcpy(&out, &r, sizeof(T));
    return out;
}
}  // namespace gpusim

template <class T>
inline T __shfl_sync(unsigned mask, T var, int srcLane, int width = warpSize, const char* file = __builtin_FILE(),
                     unsigned line = __builtin_LINE()) {
    return gpusim::shfl(gpusim::OP_SHFL_IDX, mask, var, srcLane, width, file, line);
}
template <class T>
inline T __shfl_up_sync(unsigned mask, T var, unsigned delta, int width = warpSize,
                        const char* file = __builtin_FILE(), unsigned line = __builtin_LINE()) {
    return gpusim::shfl(gpusim::OP_SHFL_UP, mask, var, (long long)delta, width, file, line);
}
template <class T>
inline T __shfl_down_sync(unsigned mask, T var, unsigned delta, int width = warpSize,
                          const char* file = __builtin_FILE(), unsigned line = __builtin_LINE()) {
    return gpusim::shfl(gpusim::OP_SHFL_DOWN, mask, var, (long long)delta, width, file, line);
}
template <class T>
inline T __shfl_xor_sync(unsigned mask, T var, int laneMask, int width = warpSize,
                         const char* file = __builtin_FILE(), unsigned line = __builtin_LINE()) {
    return gpusim::shfl(gpusim::OP_SHFL_XOR, mask, var, laneMask, width, file, line);
}

inline void __trap() { gpusim::fatal_in_thread("__trap() called"); }
inline void __brkpt() { gpusim::fatal_in_thread("__brkpt() called"); }

#endif  // GPUSIM_H_INCLUDED
