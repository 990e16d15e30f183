// SciPy's binary heap of fast_linkage (the generic algorithm for centroid and median): the
// minimum on top, sift rules as SciPy's, so equal values leave the heap in SciPy's order. Used
// by one thread at a time (generic.cu, vector.cu).
#pragma once
#include "common.cuh"

struct Heap {
    double* values;           // heap order
    long long* key_by_index;  // slot at each heap position
    long long* index_by_key;  // heap position of each slot
};

__device__ void heap_swap(Heap h, long long i, long long j) {
    const double value = h.values[i];
    h.values[i] = h.values[j];
    h.values[j] = value;
    const long long key_i = h.key_by_index[i];
    const long long key_j = h.key_by_index[j];
    h.key_by_index[i] = key_j;
    h.key_by_index[j] = key_i;
    h.index_by_key[key_i] = j;
    h.index_by_key[key_j] = i;
}

__device__ void heap_sift_up(Heap h, long long index) {
    long long parent = (index - 1) >> 1;
    while (index > 0 && h.values[parent] > h.values[index]) {
        heap_swap(h, index, parent);
        index = parent;
        parent = (index - 1) >> 1;
    }
}

__device__ void heap_sift_down(Heap h, long long size, long long index) {
    long long child = (index << 1) + 1;
    while (child < size) {
        if (child + 1 < size && h.values[child + 1] < h.values[child]) child += 1;
        if (h.values[index] > h.values[child]) {
            heap_swap(h, index, child);
            index = child;
            child = (index << 1) + 1;
        } else {
            break;
        }
    }
}

__device__ void heap_change(Heap h, long long size, long long key, double value) {
    const long long index = h.index_by_key[key];
    const double old = h.values[index];
    h.values[index] = value;
    if (value < old) {
        heap_sift_up(h, index);
    } else {
        heap_sift_down(h, size, index);
    }
}

// SciPy's remove_min: the top leaves the heap of `size` entries; returns the new size.
__device__ long long heap_remove_min(Heap h, long long size) {
    heap_swap(h, 0, size - 1);
    heap_sift_down(h, size - 1, 0);
    return size - 1;
}

// SciPy's heapify: the heap over min_dist[0 .. size-1], keys the slots (cpu/_heap.py's heapify).
__device__ void heap_build(Heap h, const double* min_dist, long long size) {
    for (long long i = 0; i < size; ++i) {
        h.values[i] = min_dist[i];
        h.key_by_index[i] = i;
        h.index_by_key[i] = i;
    }
    for (long long i = size / 2 - 1; i >= 0; --i) heap_sift_down(h, size, i);
}
