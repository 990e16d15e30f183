"""The CPU backend: Numba kernels for distances and the three linkage algorithms."""
