"""Nearest-neighbour chain for the reducible methods (complete, average, weighted, ward).

A faithful port of SciPy's ``nn_chain``: the chain starts at the lowest active index, the
previous chain element wins a tie for the nearest neighbour, otherwise the lowest index wins,
and the merged cluster takes the larger of the two slots. Running the same chain on the same
values gives SciPy's merges, ties included. What differs is the storage (a square matrix with
contiguous rows) and the lazy update through the merge log (see ``_lazy_matrix``).

The loop runs in chunks (`k_stop`) so that the caller can report progress, honour Ctrl-C and
compact the matrix between chunks; all state lives in arrays owned by the caller.
"""
from __future__ import annotations

import numba

from ._lazy_matrix import NO_CANDIDATE, OVERFLOW, first_argmin, merge_and_log, replay, set_fault


@numba.njit(cache=True, error_model="numpy")
def nn_chain_steps(D, keys, nonneg, code, size, log, chain, state, merges, original, k_stop,
                   fault):
    """Run merges ``state[0]`` .. `k_stop` - 1. ``state = [k, chain_length]``. Stops early,
    with `fault` filled (``_lazy_matrix.set_fault``), when a cluster has no finite distance left
    or a merge's update overflows.

    `merges` receives (x, y, height) per merge in original slot numbers (``original[slot]``;
    the matrix may have been compacted), unsorted (as SciPy's nn_chain before its final sort).
    """
    n = D.shape[0]
    k = state[0]
    chain_length = state[1]
    while k < k_stop:
        if chain_length == 0:
            chain_length = 1
            for i in range(n):
                if size[i] > 0:
                    chain[0] = i
                    break
        while True:
            x = chain[chain_length - 1]
            replay(D, x, k, log, size[x], code)
            idx = first_argmin(D[x], keys[x], 0, nonneg)
            if idx < 0:
                set_fault(fault, NO_CANDIDATE, k, original[x], -1, -1)
                state[0] = k
                return
            m = D[x, idx]
            if chain_length > 1:
                y = chain[chain_length - 2]
                current_min = D[x, y]
                if m < current_min:
                    y = idx
                    current_min = m
                else:
                    break
            else:
                y = idx
                current_min = m
            chain[chain_length] = y
            chain_length += 1
        chain_length -= 2
        if x > y:
            x, y = y, x
        replay(D, x, k, log, size[x], code)
        replay(D, y, k, log, size[y], code)
        merges[k, 0] = original[x]
        merges[k, 1] = original[y]
        merges[k, 2] = current_min
        over = merge_and_log(D, code, x, y, current_min, size, k, log)
        k += 1
        if over >= 0:
            set_fault(fault, OVERFLOW, k - 1, original[x], original[y], original[over])
            break
    state[0] = k
    state[1] = chain_length
