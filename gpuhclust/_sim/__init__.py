"""CPU simulator for gpuhclust's CUDA kernels (testing without a GPU).

The ``.cu`` kernel files are compiled with the host C++ compiler, with
``gpusim.h`` force-included, and run on the CPU with CuPy's ``RawKernel``
calling convention::

    from gpuhclust._sim import load_module
    mod = load_module(code, name_expressions=["reduce<float>"], schedule="random", seed=1)
    mod.get_function("reduce<float>")((blocks,), (256,), (x, out, np.int32(n)))

See ``loader.py`` for details and ``gpusim.h`` for what is simulated.

``with counting() as c:`` counts what the kernels launched inside it do (``_counters.py``).
"""

from ._counters import Counts, KernelCounts, Launch, counting
from .loader import (
    SimKernel,
    SimModule,
    SimulatorCompileError,
    SimulatorError,
    SimulatorUnavailable,
    TsanResult,
    compiler_available,
    find_extern_c_kernels,
    load_module,
    run_under_tsan,
    tsan_active,
    tsan_runtime,
)

__all__ = [
    "Counts",
    "KernelCounts",
    "Launch",
    "counting",
    "SimKernel",
    "SimModule",
    "SimulatorCompileError",
    "SimulatorError",
    "SimulatorUnavailable",
    "TsanResult",
    "compiler_available",
    "find_extern_c_kernels",
    "load_module",
    "run_under_tsan",
    "tsan_active",
    "tsan_runtime",
]
