"""Compile every kernel family with NVRTC for a given architecture, without a GPU or a driver
(CuPy's low-level NVRTC binding needs neither), and read back what ptxas says about each
kernel: registers, shared memory, spills.

Run ``python -m gpuhclust.cuda._compile_check`` for the report.
"""
from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field

from ._kernels import FAMILIES, nvrtc_options, source

__all__ = ["KernelResources", "CompileResult", "compile_family", "nvrtc_available"]

ARCHES = ("sm_90", "sm_80")


@dataclass
class KernelResources:
    """What ptxas reported for one kernel."""

    mangled: str
    registers: int = 0
    shared_bytes: int = 0
    spill_stores: int = 0
    spill_loads: int = 0
    stack_bytes: int = 0


@dataclass
class CompileResult:
    family: str
    arch: str
    log: str
    cubin_bytes: int
    lowered: dict[str, str]                      # name expression -> mangled name
    kernels: dict[str, KernelResources] = field(default_factory=dict)  # by name expression

    def resources(self, name: str) -> KernelResources:
        return self.kernels[name]


def nvrtc_available() -> bool:
    """True when CuPy's NVRTC binding can be imported and loads libnvrtc."""
    try:
        from cupy_backends.cuda.libs import nvrtc
        nvrtc.getVersion()
        return True
    except Exception:  # noqa: BLE001 - any failure means: not available
        return False


_FUNCTION = re.compile(r"Compiling entry function '(\S+)' for '(\w+)'")
_STACK = re.compile(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads")
_USED = re.compile(r"Used (\d+) registers(.*)")
_SMEM = re.compile(r"(\d+) bytes smem")


def _parse_ptxas(log: str) -> dict[str, KernelResources]:
    by_mangled: dict[str, KernelResources] = {}
    current = None
    for line in log.splitlines():
        if (m := _FUNCTION.search(line)):
            current = by_mangled.setdefault(m.group(1), KernelResources(m.group(1)))
        elif current is not None and (m := _STACK.search(line)):
            current.stack_bytes, current.spill_stores, current.spill_loads = map(int, m.groups())
        elif current is not None and (m := _USED.search(line)):
            current.registers = int(m.group(1))
            if (s := _SMEM.search(m.group(2))):
                current.shared_bytes = int(s.group(1))
    return by_mangled


def compile_family(family: str, arch: str = "sm_90") -> CompileResult:
    """Compile one family with NVRTC to a cubin for `arch`.

    Raises
    ------
    RuntimeError
        With NVRTC's log when the source does not compile.
    """
    from cupy_backends.cuda.libs import nvrtc

    fam = FAMILIES[family]
    program = nvrtc.createProgram(source(family), fam.filename, [], [])
    try:
        for expr in fam.name_expressions:
            nvrtc.addNameExpression(program, expr)
        options = list(nvrtc_options(arch)) + ["-Xptxas=-v"]
        try:
            nvrtc.compileProgram(program, options)
        except Exception as exc:
            raise RuntimeError(f"NVRTC could not compile kernels/{fam.filename} for {arch}:\n"
                               + nvrtc.getProgramLog(program)) from exc
        log = nvrtc.getProgramLog(program)
        cubin = nvrtc.getCUBIN(program)
        lowered = {expr: nvrtc.getLoweredName(program, expr) for expr in fam.name_expressions}
        lowered.update({name: name for name in fam.plain})
    finally:
        nvrtc.destroyProgram(program)
    parsed = _parse_ptxas(log)
    kernels = {expr: parsed.get(mangled, KernelResources(mangled))
               for expr, mangled in lowered.items()}
    return CompileResult(family, arch, log, len(cubin), lowered, kernels)


def main(argv=None) -> int:
    arches = (argv or sys.argv[1:]) or list(ARCHES)
    print(f"{'arch':6} {'kernel':42} {'regs':>5} {'smem':>6} {'stack':>6} {'spill st/ld':>12}")
    for arch in arches:
        for family in FAMILIES:
            result = compile_family(family, arch)
            for name, r in result.kernels.items():
                print(f"{arch:6} {name:42} {r.registers:5d} {r.shared_bytes:6d} "
                      f"{r.stack_bytes:6d} {r.spill_stores:5d}/{r.spill_loads:<5d}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
