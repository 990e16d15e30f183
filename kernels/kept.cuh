// The kept lists of the rounds' scans (gpuhclust/_rounds.py, KEPT; kernels/rounds.cu and
// kernels/vector.cu): a row's GH_KEPT + 1 smallest entries in increasing (key, position) order,
// where an entry's key is the bits of its non-negative value as a signed integer (so keys order
// as values, +inf and NaN above every finite one) and an empty entry is (GH_NO_KEY, -1). The
// first entry is the first minimum when its key is finite; the last is the row's bound. The
// CPU's lists (gpuhclust/cpu/_round_rows.py, smallest_keys) are in the same order.
#pragma once
#include "common.cuh"

#define GH_KEPT_LIST (GH_KEPT + 1)

// (key a, position pa) before (key b, position pb): the lists' total order.
__device__ __forceinline__ bool kept_before(long long a, long long pa, long long b, long long pb) {
    return a < b || (a == b && pa < pb);
}

// (key, pos) joins the sorted list list_key/list_pos[0:GH_KEPT_LIST) (one thread's).
__device__ __forceinline__ void kept_insert(long long* list_key, long long* list_pos,
                                            long long key, long long pos) {
    int j = GH_KEPT_LIST - 1;
    if (!kept_before(key, pos, list_key[j], list_pos[j])) return;
    while (j > 0 && kept_before(key, pos, list_key[j - 1], list_pos[j - 1])) {
        list_key[j] = list_key[j - 1];
        list_pos[j] = list_pos[j - 1];
        --j;
    }
    list_key[j] = key;
    list_pos[j] = pos;
}

// One query's candidate (key, p) of every lane joins its warp's list. A warp's candidates come
// in increasing position (lanes in order, passes in order), so a strict '<' on keys puts a new
// entry behind the equal ones, in (key, position) order. The lanes whose key lies below the
// list's last (usually none, once the list has filled) go in one at a time, lane order: lane e
// < GH_KEPT_LIST holds entry e in registers and takes its predecessor's (a shuffle up) when the
// new key goes before it. Every lane must call it.
__device__ __forceinline__ void fold_kept(long long key, long long p, long long* list_key,
                                          long long* list_pos, int lane) {
    unsigned below = __ballot_sync(GH_FULL_MASK, key < list_key[GH_KEPT_LIST - 1]);
    if (below == 0) return;  // the same in every lane
    long long ek = lane < GH_KEPT_LIST ? list_key[lane] : GH_NO_KEY;
    long long ep = lane < GH_KEPT_LIST ? list_pos[lane] : -1;
    while (below != 0) {
        const int src = __ffs((int)below) - 1;
        below &= below - 1;
        const long long k = __shfl_sync(GH_FULL_MASK, key, src);
        const long long kp = __shfl_sync(GH_FULL_MASK, p, src);
        const long long prev_k = __shfl_up_sync(GH_FULL_MASK, ek, 1);
        const long long prev_p = __shfl_up_sync(GH_FULL_MASK, ep, 1);
        if (k < ek) {
            const bool shifted = lane > 0 && k < prev_k;
            ek = shifted ? prev_k : k;
            ep = shifted ? prev_p : kp;
        }
    }
    __syncwarp();  // every lane read the last entry before it is rewritten
    if (lane < GH_KEPT_LIST) {
        list_key[lane] = ek;
        list_pos[lane] = ep;
    }
    __syncwarp();
}


// `lists` sorted lists stored one after another from src_key/src_pos, merged: the GH_KEPT_LIST
// smallest entries of them all, in the lists' order (a total order, so the result does not
// depend on how the entries were split into lists), written to dst_key/dst_pos[0:GH_KEPT_LIST);
// returns the first of them.
struct KeptEntry {
    long long key, pos;
};
__device__ __forceinline__ KeptEntry merge_kept_lists(const long long* src_key,
                                                      const long long* src_pos, long long lists,
                                                      long long* dst_key, long long* dst_pos) {
    long long key[GH_KEPT_LIST], pos[GH_KEPT_LIST];
    for (int e = 0; e < GH_KEPT_LIST; ++e) {
        key[e] = GH_NO_KEY;
        pos[e] = -1;
    }
    for (long long l = 0; l < lists; ++l) {
        const long long at = l * GH_KEPT_LIST;
        for (int e = 0; e < GH_KEPT_LIST; ++e) {  // a list is sorted: stop at the first entry
            if (!kept_before(src_key[at + e], src_pos[at + e], key[GH_KEPT_LIST - 1],
                             pos[GH_KEPT_LIST - 1])) {
                break;                          // that cannot enter
            }
            kept_insert(key, pos, src_key[at + e], src_pos[at + e]);
        }
    }
    for (int e = 0; e < GH_KEPT_LIST; ++e) {
        dst_key[e] = key[e];
        dst_pos[e] = pos[e];
    }
    return KeptEntry{key[0], pos[0]};
}
