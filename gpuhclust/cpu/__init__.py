"""The CPU backend: Numba kernels for distances and the three linkage algorithms."""
from .. import _compile_notice

_compile_notice.install()  # one line on stderr when Numba compiles (first run only)
