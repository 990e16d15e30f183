"""The CPU backend: Numba kernels for distances and the three linkage algorithms."""
from .. import _compile_notice, _numba_cache

_compile_notice.install()  # one line on stderr when Numba compiles (first run only)
_numba_cache.install()  # before the kernels are defined: their caches follow their imports
