"""Every kernel family compiles with NVRTC for the GPUs we target (no GPU or driver needed), and
ptxas reports no register spills and launchable resource use."""
from __future__ import annotations

import os

import pytest

from gpuhclust.cuda import _compile_check
from gpuhclust.cuda._kernels import FAMILIES, LOOP_THREADS, COOPERATIVE_THREADS, TILE

# the block sizes the host launches each kernel with on a real device (CupyContext)
_THREADS = {"pairwise_tiles": TILE * TILE, "nn_chain_loop": LOOP_THREADS,
            "generic_loop": LOOP_THREADS, "generic_neighbours": LOOP_THREADS,
            "prim_loop_matrix": COOPERATIVE_THREADS, "prim_loop_observations": COOPERATIVE_THREADS,
            "tournament_loop": COOPERATIVE_THREADS}
_DEFAULT_THREADS = 256
_REGISTERS_PER_SM = 65536
_SHARED_PER_BLOCK = 48 * 1024


@pytest.fixture(scope="module", autouse=True)
def _nvrtc():
    if not _compile_check.nvrtc_available():
        if os.environ.get("CI"):
            pytest.fail("CI must compile the kernels: install the test extra (cupy + NVRTC)")
        pytest.skip("CuPy's NVRTC binding is not installed (pip install -e '.[test]')")


@pytest.fixture(scope="module")
def compiled():
    cache = {}

    def get(family, arch):
        if (family, arch) not in cache:
            cache[family, arch] = _compile_check.compile_family(family, arch)
        return cache[family, arch]
    return get


# sm_90 (the H200) in the default lane; the other architectures in the slow lane
@pytest.mark.parametrize("arch", [pytest.param(arch, marks=pytest.mark.slow if i else ())
                                  for i, arch in enumerate(_compile_check.ARCHES)])
@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_family_compiles_without_spills(compiled, family, arch):
    result = compiled(family, arch)
    assert result.cubin_bytes > 0
    for name in FAMILIES[family].kernel_names:
        r = result.resources(name)
        threads = _THREADS.get(name.split("<")[0], _DEFAULT_THREADS)
        print(f"{arch} {name}: {r.registers} registers, {r.shared_bytes} B shared, "
              f"{r.stack_bytes} B stack, spills {r.spill_stores}/{r.spill_loads}")
        assert r.registers > 0, f"ptxas said nothing about {name}:\n{result.log}"
        assert r.spill_stores == 0 and r.spill_loads == 0, f"{name} spills registers"
        assert r.registers * threads <= _REGISTERS_PER_SM, (
            f"{name}: {r.registers} registers x {threads} threads cannot launch")
        assert r.shared_bytes <= _SHARED_PER_BLOCK


def test_compile_error_is_reported(monkeypatch):
    from gpuhclust.cuda import _kernels

    monkeypatch.setattr(_kernels, "source", lambda family: "__global__ void k() { oops; }")
    monkeypatch.setattr(_compile_check, "source", _kernels.source)
    with pytest.raises(RuntimeError, match="oops"):
        _compile_check.compile_family("mst", "sm_90")


def test_grid_barrier_compiles_for_the_device():
    # kernels/grid.cuh's device side (the simulator runs its own barrier), in the test kernel
    # that the simulator's tests run
    from pathlib import Path

    from cupy_backends.cuda.libs import nvrtc

    from gpuhclust.cuda._kernels import kernel_dir

    path = Path(__file__).parent / "sim_kernels" / "grid.cu"
    program = nvrtc.createProgram(path.read_text(), path.name, [], [])
    try:
        nvrtc.compileProgram(program, ["-std=c++17", "-arch=sm_90", f"-I{kernel_dir()}"])
        assert len(nvrtc.getCUBIN(program)) > 0
    finally:
        nvrtc.destroyProgram(program)


def test_calibration_microbenchmarks_compile_for_the_device():
    # benchmarks/gpu_calibrate.py's kernels run only on a lent GPU: a typo there would cost
    # that session its calibration
    import sys
    from pathlib import Path

    from cupy_backends.cuda.libs import nvrtc

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
    import gpu_calibrate

    program = nvrtc.createProgram(gpu_calibrate.MICRO_SOURCE, "micro.cu", [], [])
    try:
        nvrtc.compileProgram(program, ["-std=c++17", "-arch=sm_90"])
        assert len(nvrtc.getCUBIN(program)) > 0
    finally:
        nvrtc.destroyProgram(program)
