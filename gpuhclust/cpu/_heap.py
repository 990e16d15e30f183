"""SciPy's binary min-heap of the generic algorithm (``_hierarchy.pyx``'s ``Heap``), with its
exact sift rules, so that the same values give the same heap and the same winners among ties.

`values[i]` is the value at heap position i, `key_by_index[i]` its key (a slot), and
`index_by_key[k]` the position of key k. ``kernels/heap.cuh`` is the same structure on the GPU.
"""
from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, error_model="numpy", inline="always")
def swap(values, key_by_index, index_by_key, i, j):
    values[i], values[j] = values[j], values[i]
    key_i = key_by_index[i]
    key_j = key_by_index[j]
    key_by_index[i] = key_j
    key_by_index[j] = key_i
    index_by_key[key_i] = j
    index_by_key[key_j] = i


@numba.njit(cache=True, error_model="numpy")
def sift_up(values, key_by_index, index_by_key, index):
    parent = (index - 1) >> 1
    while index > 0 and values[parent] > values[index]:
        swap(values, key_by_index, index_by_key, index, parent)
        index = parent
        parent = (index - 1) >> 1


@numba.njit(cache=True, error_model="numpy")
def sift_down(values, key_by_index, index_by_key, size, index):
    child = (index << 1) + 1
    while child < size:
        if child + 1 < size and values[child + 1] < values[child]:
            child += 1
        if values[index] > values[child]:
            swap(values, key_by_index, index_by_key, index, child)
            index = child
            child = (index << 1) + 1
        else:
            break


@numba.njit(cache=True, error_model="numpy")
def change_value(values, key_by_index, index_by_key, size, key, value):
    index = index_by_key[key]
    old = values[index]
    values[index] = value
    if value < old:
        sift_up(values, key_by_index, index_by_key, index)
    else:
        sift_down(values, key_by_index, index_by_key, size, index)


@numba.njit(cache=True, error_model="numpy")
def remove_min(values, key_by_index, index_by_key, size):
    """SciPy's ``remove_min``: the top leaves the heap of `size` entries (moved to position
    ``size - 1``); returns the new size."""
    swap(values, key_by_index, index_by_key, 0, size - 1)
    size -= 1
    sift_down(values, key_by_index, index_by_key, size, np.int64(0))  # not a literal: one variant
    return size


@numba.njit(cache=True, error_model="numpy")
def heapify(min_dist, heap_values, key_by_index, index_by_key, size):
    """SciPy's heap over ``min_dist[:size]`` (keys are the slots)."""
    for i in range(size):
        heap_values[i] = min_dist[i]
        key_by_index[i] = i
        index_by_key[i] = i
    for i in range(size // 2 - 1, -1, -1):
        sift_down(heap_values, key_by_index, index_by_key, size, i)
