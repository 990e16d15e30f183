"""Compile CUDA kernel files with the host C++ compiler and run them on the CPU.

The kernel source is compiled as C++20 with ``gpusim.h`` force-included (it maps
the CUDA built-ins onto fibers or threads), plus generated ``extern "C"``
launch wrappers, into a shared library that is cached on disk and loaded with
:mod:`ctypes`.  Kernels are then called with CuPy's ``RawKernel`` convention.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import NamedTuple

import numpy as np

from . import _counters as _counting

__all__ = [
    "SimulatorError",
    "SimulatorCompileError",
    "SimulatorUnavailable",
    "SimModule",
    "SimKernel",
    "TsanResult",
    "compiler_available",
    "load_module",
    "run_under_tsan",
    "tsan_active",
]

_HERE = Path(__file__).resolve().parent
_HEADER = _HERE / "gpusim.h"
SCHEDULES = {"forward": 0, "reverse": 1, "random": 2, "threads": 0}

# g++ ignores __attribute__((section)) on static locals of templates and inline
# functions (they go to COMDAT ".bss._ZZ..." sections), so this augmenting linker
# script gathers them where the runtime can poison them with 0xFF.
_LINKER_SCRIPT = """SECTIONS {
  gpusim_shared_tpl : {
    PROVIDE_HIDDEN(__start_gpusim_shared_tpl = .);
    *(.bss._ZZ*)
    PROVIDE_HIDDEN(__stop_gpusim_shared_tpl = .);
  }
} INSERT BEFORE .bss;
"""

# Hidden visibility and -fno-gnu-unique: every module keeps its own copy of the
# runtime (g_pool, threadIdx, inline functions).  With default visibility the
# dynamic linker binds them across all loaded modules, so a fiber build and a
# threads build loaded together would share (and corrupt) one runtime.
_BASE_FLAGS = ["-std=c++20", "-fPIC", "-shared", "-ffp-contract=off", "-fno-strict-aliasing",
               "-fvisibility=hidden", "-fvisibility-inlines-hidden", "-fno-gnu-unique", "-Wl,-Bsymbolic",
               "-DGPUSIM=1", "-w"]
_FIBER_FLAGS = ["-O1"]
_TSAN_FLAGS = ["-O1", "-g", "-fsanitize=thread", "-DGPUSIM_THREADS=1"]
_THREAD_FLAGS = ["-O1", "-pthread", "-DGPUSIM_THREADS=1"]
# Counting builds (gpuhclust._sim.counting, _counters.py): the fiber build with GCC's ThreadSanitizer
# instrumentation, whose hooks gpusim.h implements itself (so it is compiled, then linked
# without libtsan; -z defs makes a hook it lacks a build error rather than a load error).
_COUNT_FLAGS = ["-O1", "-fsanitize=thread", "--param=tsan-instrument-func-entry-exit=0", "-DGPUSIM_COUNT=1"]
_COUNT_LINK_FLAGS = ["-shared", "-Wl,-Bsymbolic", "-Wl,-z,defs"]


class SimulatorError(RuntimeError):
    """A simulated kernel failed: deadlock, divergent barrier, bad launch, ``__trap``."""


class SimulatorCompileError(SimulatorError):
    """The host compiler rejected the kernel source (the message holds its output)."""


class SimulatorUnavailable(RuntimeError):
    """No C++ compiler (``$CXX`` or ``g++``) is available to build simulated kernels."""


# --------------------------------------------------------------------------- compiler


def _compiler() -> str | None:
    """Path of the C++ compiler to use, or None."""
    cxx = os.environ.get("CXX") or "g++"
    return shutil.which(cxx)


def compiler_available() -> bool:
    """Whether a C++ compiler for the simulator is present.

    Returns
    -------
    bool
        True when ``$CXX`` (or ``g++`` if unset) resolves to an executable.
    """
    return _compiler() is not None


def _clean_env() -> dict:
    # The compiler must not inherit a ThreadSanitizer LD_PRELOAD (see run_under_tsan).
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    return env


_version_cache: dict[str, str] = {}


def _compiler_version(cxx: str) -> str:
    if cxx not in _version_cache:
        out = subprocess.run([cxx, "--version"], capture_output=True, text=True, env=_clean_env())
        _version_cache[cxx] = out.stdout.strip()
    return _version_cache[cxx]


def _cache_dir() -> Path:
    d = os.environ.get("GPUHCLUST_SIM_CACHE")
    path = Path(d) if d else Path.home() / ".cache" / "gpuhclust" / "sim"
    path.mkdir(parents=True, exist_ok=True)
    return path


def tsan_active() -> bool:
    """Whether ThreadSanitizer's runtime is loaded in this process.

    Returns
    -------
    bool
        True inside :func:`run_under_tsan` (libtsan preloaded).
    """
    try:
        ctypes.CDLL(None).__tsan_init  # noqa: B018  (resolving the symbol is the test)
        return True
    except AttributeError:
        return False


# --------------------------------------------------------------------------- source

_COMMENTS = re.compile(r"//[^\n]*|/\*.*?\*/", re.S)
# extern "C" __global__ [__launch_bounds__(...)] void [__launch_bounds__(...)] name(
_EXTERN_C_KERNEL = re.compile(
    r'extern\s+"C"\s+(?:__\w+__\s+)*__global__\s+(?:__\w+__(?:\s*\([^)]*\))?\s+)*void\s+'
    r'(?:__launch_bounds__\s*\([^)]*\)\s*)?(\w+)\s*\(')


def find_extern_c_kernels(code: str) -> list[str]:
    """Names of the ``extern "C" __global__`` kernels defined in ``code``.

    Parameters
    ----------
    code : str
        CUDA C++ source.

    Returns
    -------
    list of str
        Kernel names in order of appearance (comments are ignored).
    """
    names = []
    for m in _EXTERN_C_KERNEL.finditer(_COMMENTS.sub(" ", code)):
        if m.group(1) not in names:
            names.append(m.group(1))
    return names


def _wrappers(exprs: list[str]) -> str:
    lines = ['\n#line 1 "gpusim_wrappers"']
    for i, e in enumerate(exprs):
        lines.append(
            f'extern "C" GPUSIM_EXPORT int gpusim_launch_{i}(const gpusim::LaunchConfig* cfg, void** args, char* err, '
            f"std::size_t errlen) {{ return gpusim::launch(&{e}, cfg, args, err, errlen); }}")
        lines.append(
            f'extern "C" GPUSIM_EXPORT int gpusim_sig_{i}(gpusim::ParamInfo* out, int maxn)'
            f" {{ return gpusim::signature(&{e}, out, maxn); }}")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- ctypes


class _LaunchConfig(ctypes.Structure):
    _fields_ = [("grid", ctypes.c_uint * 3), ("block", ctypes.c_uint * 3), ("schedule", ctypes.c_int),
                ("pad", ctypes.c_int), ("seed", ctypes.c_ulonglong)]


class _ParamInfo(ctypes.Structure):
    _fields_ = [("size", ctypes.c_int), ("is_pointer", ctypes.c_int), ("kind", ctypes.c_int),
                ("pointee_size", ctypes.c_int), ("pointee_kind", ctypes.c_int), ("pointee_const", ctypes.c_int)]


_KIND_NAMES = {0: "other", 1: "integer", 2: "floating", 3: "bool"}
_NUMPY_KIND = {"i": 1, "u": 1, "f": 2, "b": 3}
_SCALARS = (np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64,
            np.float32, np.float64, np.bool_)

_libs: dict[str, tuple[ctypes.CDLL, threading.Lock]] = {}
_libs_lock = threading.Lock()


def _describe_param(p: _ParamInfo) -> str:
    if p.is_pointer:
        target = (f"{_KIND_NAMES[p.pointee_kind]} of {p.pointee_size} bytes" if p.pointee_size
                  else "non-arithmetic")
        return f"a pointer ({'const ' if p.pointee_const else ''}{target}; pass a numpy array)"
    kind = _KIND_NAMES[p.kind]
    return f"{'an' if kind[0] in 'aeiou' else 'a'} {kind} value of {p.size} bytes"


def _describe_arg(a) -> str:
    if isinstance(a, np.ndarray):
        return f"ndarray of dtype {a.dtype} (itemsize {a.dtype.itemsize})"
    if isinstance(a, np.generic):
        return f"{type(a).__name__} ({a.dtype.itemsize} bytes)"
    return f"{type(a).__name__}"


class SimKernel:
    """One simulated kernel, callable like ``cupy.RawKernel``.

    Obtain it from :meth:`SimModule.get_function`.
    """

    def __init__(self, module: "SimModule", name: str, index: int):
        self.module = module
        self.name = name
        lib = module._lib
        # lib[name] makes a function object of our own; lib.name would return the one the
        # library caches and shares with every module built from the same source. Setting
        # argtypes on a shared one from another thread (Dask workers in one process) frees the
        # converters a running call still reads.
        self._launch = lib[f"gpusim_launch_{index}"]
        self._launch.restype = ctypes.c_int
        self._launch.argtypes = [ctypes.POINTER(_LaunchConfig), ctypes.POINTER(ctypes.c_void_p),
                                 ctypes.c_char_p, ctypes.c_size_t]
        sig = lib[f"gpusim_sig_{index}"]
        sig.restype = ctypes.c_int
        sig.argtypes = [ctypes.POINTER(_ParamInfo), ctypes.c_int]
        n = sig(None, 0)
        self.params = (_ParamInfo * max(n, 1))()
        sig(self.params, n)
        self.nparams = n

    def __repr__(self):
        return f"<SimKernel {self.name} ({self.nparams} parameters, schedule={self.module.schedule!r})>"

    @staticmethod
    def _dims(v, what: str) -> tuple[int, int, int]:
        if isinstance(v, (int, np.integer)):
            v = (int(v),)
        v = tuple(int(x) for x in v)
        if not 1 <= len(v) <= 3 or any(x < 1 for x in v):
            raise ValueError(f"{what} must be a positive int or a tuple of 1-3 positive ints, got {v!r}")
        return v + (1,) * (3 - len(v))

    def _convert(self, i: int, a, p: _ParamInfo, keep: list) -> int:
        """Address of the storage holding argument ``i`` (validated against ``p``)."""

        def bad(why: str = ""):
            raise TypeError(f"kernel {self.name}: argument {i} expects {_describe_param(p)}, "
                            f"got {_describe_arg(a)}{': ' + why if why else ''}")

        if p.is_pointer:
            if not isinstance(a, np.ndarray):
                bad()
            if not a.flags.c_contiguous:
                bad("the array is not C-contiguous")
            if not p.pointee_const and not a.flags.writeable:
                bad("the array is read-only but the kernel parameter is not const")
            if p.pointee_size and (a.dtype.itemsize != p.pointee_size
                                   or _NUMPY_KIND.get(a.dtype.kind) != p.pointee_kind):
                bad("element type differs")
            cell = ctypes.c_void_p(a.ctypes.data)
            keep.append(cell)
            return ctypes.addressof(cell)
        if isinstance(a, np.ndarray):
            bad()
        if isinstance(a, (bool, np.bool_)):
            val = np.bool_(a)
        elif isinstance(a, np.generic):
            if not isinstance(a, _SCALARS):
                bad("unsupported scalar type")
            val = a
        elif isinstance(a, int):
            val = np.int64(a)  # CuPy passes a Python int as long long
        elif isinstance(a, float):
            val = np.float64(a)  # ... and a Python float as double
        else:
            bad()
        if val.dtype.itemsize != p.size or _NUMPY_KIND.get(val.dtype.kind) != p.kind:
            bad()
        buf = np.array(val)  # owns a copy of the value bytes
        keep.append(buf)
        return buf.ctypes.data

    def __call__(self, grid, block, args, *, shared_mem: int = 0, stream=None):
        """Launch the kernel on ``grid`` x ``block`` threads (CuPy's ``RawKernel`` call).

        Parameters
        ----------
        grid, block : int or tuple of int
            Grid and block dimensions (1-3 entries; the block holds at most 1024 threads).
        args : tuple
            Kernel arguments: numpy arrays for pointers (written in place), numpy
            scalars or Python ``int``/``float``/``bool`` (passed as ``long long``,
            ``double``, ``bool`` like CuPy does) for values.
        shared_mem : int, optional
            Dynamic shared memory; must be 0 (not simulated).
        stream : ignored
            Accepted for compatibility; launches are synchronous.

        Raises
        ------
        TypeError
            The arguments do not match the kernel's parameter list.
        SimulatorError
            Deadlock, divergent ``__syncthreads``, ``__trap``, or an invalid launch.
        """
        if shared_mem:
            raise SimulatorError(f"kernel {self.name}: dynamic shared memory is not simulated")
        g = self._dims(grid, "grid")
        b = self._dims(block, "block")
        if b[0] * b[1] * b[2] > 1024 or b[2] > 64:
            raise SimulatorError(f"kernel {self.name}: block {b} exceeds CUDA's limits (1024 threads, z <= 64)")
        args = tuple(args)
        if len(args) != self.nparams:
            raise TypeError(f"kernel {self.name} takes {self.nparams} arguments, {len(args)} given")
        keep: list = []
        ptrs = (ctypes.c_void_p * max(len(args), 1))()
        for i, (a, p) in enumerate(zip(args, self.params)):
            ptrs[i] = self._convert(i, a, p, keep)
        mod = self.module
        cfg = _LaunchConfig()
        cfg.grid[:] = g
        cfg.block[:] = b
        cfg.schedule = SCHEDULES[mod.schedule]
        with mod._lock:  # one launch at a time per library: its counters and ranges are global
            if mod.counting:
                _set_ranges(mod._lib, args)
            # A fresh, reproducible stream of random decisions per launch.
            digest = hashlib.blake2b(f"{mod.seed}:{mod._launches}".encode(), digest_size=8).digest()
            cfg.seed = int.from_bytes(digest, "little")
            mod._launches += 1
            err = ctypes.create_string_buffer(1024)
            rc = self._launch(ctypes.byref(cfg), ptrs, err, len(err))
            if mod.counting:
                _counting.record_launch(self.name, g, b, _take_counters(mod._lib))
        if rc != 0:
            raise SimulatorError(f"kernel {self.name}: {err.value.decode(errors='replace')}")


class SimModule:
    """A compiled set of simulated kernels (the analogue of ``cupy.RawModule``)."""

    def __init__(self, lib: ctypes.CDLL, lock: threading.Lock, exprs: list[str], schedule: str, seed: int,
                 counting: bool = False):
        self._lib = lib
        self.counting = counting  # a counting build: every launch is recorded (see _counters.py)
        self._lock = lock
        self._index = {e: i for i, e in enumerate(exprs)}
        self._kernels: dict[str, SimKernel] = {}
        self.schedule = schedule
        self.seed = int(seed)
        self._launches = 0

    def get_function(self, name: str) -> SimKernel:
        """The kernel for a name expression or an ``extern "C"`` kernel name.

        Parameters
        ----------
        name : str
            Exactly as passed in ``name_expressions`` (e.g. ``"prim_step<float>"``),
            or the name of an ``extern "C" __global__`` function.

        Returns
        -------
        SimKernel
        """
        if name not in self._kernels:
            if name not in self._index:
                raise KeyError(f"no kernel {name!r} in this module; known: {sorted(self._index)}")
            self._kernels[name] = SimKernel(self, name, self._index[name])
        return self._kernels[name]


class _Counters(ctypes.Structure):
    _fields_ = [(name, ctypes.c_ulonglong) for name in _counting.LAUNCH_COUNTERS]


def _set_ranges(lib: ctypes.CDLL, args) -> None:
    """Tell a counting build which addresses are the launch's arrays (its global memory).

    Each array's owner (the array a view was taken from) is placed at its own 2**40-aligned
    virtual address, so that sectors are counted as for a device allocation (256-byte aligned),
    whatever the alignment NumPy gave the host memory."""
    rows = []
    for i, a in enumerate(x for x in args if isinstance(x, np.ndarray) and x.nbytes):
        owner = a
        while isinstance(owner.base, np.ndarray):
            owner = owner.base
        lo = a.ctypes.data
        shift = ((i + 1) << 40) - owner.ctypes.data
        rows.append((lo, lo + a.nbytes, shift % (1 << 64)))
    table = np.array(rows, dtype=np.uint64).ravel()
    lib.gpusim_count_set_ranges(table.ctypes.data_as(ctypes.c_void_p), ctypes.c_int(len(rows)))


def _take_counters(lib: ctypes.CDLL) -> dict:
    out = _Counters()
    n = lib.gpusim_count_take(ctypes.byref(out))
    if n != len(_Counters._fields_):
        raise SimulatorError(f"counting build reports {n} counters, the loader knows {len(_Counters._fields_)}")
    return {name: int(getattr(out, name)) for name in _counting.LAUNCH_COUNTERS}


def _build(cxx: str, source: str, flags: list[str], key: str) -> Path:
    cache = _cache_dir()
    so = cache / f"{key}.so"
    if so.exists():
        return so
    src = cache / f"{key}.cpp"
    ld = cache / "gpusim_shared.ld"
    if not ld.exists() or ld.read_text() != _LINKER_SCRIPT:
        _atomic_write(ld, _LINKER_SCRIPT.encode())
    _atomic_write(src, source.encode())
    fd, tmp = tempfile.mkstemp(prefix=f".{key}.", suffix=".so", dir=cache)
    os.close(fd)
    compile_cmd = [cxx, *flags, "-include", str(_HEADER), "-I", str(_HERE), "-x", "c++", str(src), "-x", "none"]
    if "-DGPUSIM_COUNT=1" in flags:
        # compile with the instrumentation, link without libtsan (gpusim.h defines the hooks)
        obj = tmp + ".o"
        cmds = [compile_cmd + ["-c", "-o", obj], [cxx, *_COUNT_LINK_FLAGS, obj, f"-Wl,-T,{ld}", "-o", tmp]]
    else:
        obj = None
        cmds = [compile_cmd + [f"-Wl,-T,{ld}", "-o", tmp]]
    try:
        for cmd in cmds:
            res = subprocess.run(cmd, capture_output=True, text=True, env=_clean_env())
            if res.returncode != 0:
                raise SimulatorCompileError(f"compiling simulated kernels failed:\n{' '.join(cmd)}\n{res.stderr}")
        os.replace(tmp, so)  # atomic: parallel test processes may build the same key
    finally:
        for path in (tmp, obj):
            if path and os.path.exists(path):
                os.unlink(path)
    return so


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def load_module(code: str, name_expressions=(), include_dirs=(), defines: dict | None = None,
                schedule: str = "forward", seed: int = 0, filename: str = "kernel.cu") -> SimModule:
    """Compile CUDA source for the CPU simulator (the analogue of ``cupy.RawModule``).

    Parameters
    ----------
    code : str
        CUDA C++ source as given to NVRTC.  ``gpusim.h`` is force-included, so it
        needs no change; ``GPUSIM`` is defined to 1.
    name_expressions : sequence of str
        Kernels to instantiate, e.g. ``"prim_step<float>"`` (templates and C++
        linkage kernels).  ``extern "C" __global__`` kernels are found by themselves.
    include_dirs : sequence of str
        Extra ``-I`` directories.
    defines : dict of str to str, optional
        Extra ``-Dname=value`` macros.
    schedule : {"forward", "reverse", "random", "threads"}
        Order in which the CUDA threads of a block run between synchronisation
        points (fibers), or ``"threads"``: one ``std::thread`` per CUDA thread,
        built with ``-fsanitize=thread`` when ThreadSanitizer is loaded (see
        :func:`run_under_tsan`), else a plain threaded build.
    seed : int
        Seed of the ``"random"`` schedule; the same seed and the same sequence of
        launches give the same orders (blocks and threads are both shuffled).
    filename : str
        Name given to the source in compiler messages and TSan reports.

    Inside :func:`gpuhclust._sim.counting` the module is a counting build (cached under its
    own key) whose launches are recorded; outside, the ordinary build, with no instrumentation.

    Returns
    -------
    SimModule

    Raises
    ------
    SimulatorUnavailable
        No C++ compiler was found.
    SimulatorCompileError
        The source does not compile.
    """
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {sorted(SCHEDULES)}, got {schedule!r}")
    cxx = _compiler()
    if cxx is None:
        raise SimulatorUnavailable(
            f"the CUDA kernel simulator needs a C++20 compiler; {os.environ.get('CXX') or 'g++'!r} was not found "
            "(install g++ or set $CXX)")
    exprs = list(dict.fromkeys(list(name_expressions) + find_extern_c_kernels(code)))
    counting = _counting.active()
    if counting and schedule == "threads":
        raise ValueError("counting runs the fiber build: use schedule 'forward', 'reverse' or 'random'")
    if schedule == "threads":
        flags = _BASE_FLAGS + (_TSAN_FLAGS if tsan_active() else _THREAD_FLAGS)
    elif counting:
        flags = _BASE_FLAGS + _COUNT_FLAGS
    else:
        flags = _BASE_FLAGS + _FIBER_FLAGS
    flags = flags + [f"-I{d}" for d in include_dirs]
    flags += [f"-D{k}" if v is None or v == "" else f"-D{k}={v}" for k, v in (defines or {}).items()]
    fname = filename.replace("\\", "/").replace('"', "'")
    source = f'#line 1 "{fname}"\n' + code + _wrappers(exprs)
    h = hashlib.sha256()
    for part in (_HEADER.read_text(), _LINKER_SCRIPT, source, "\0".join(flags), cxx, _compiler_version(cxx)):
        h.update(part.encode())
        h.update(b"\0\1")
    # the headers the source may include: an edit to one is a new library, never a stale one
    for d in include_dirs:
        for header in sorted(p for p in Path(d).glob("*") if p.suffix in (".h", ".cuh", ".hpp")):
            h.update(header.name.encode() + b"\0" + header.read_bytes() + b"\0\1")
    key = h.hexdigest()[:32]
    with _libs_lock:
        if key not in _libs:
            so = _build(cxx, source, flags, key)
            _libs[key] = (ctypes.CDLL(str(so)), threading.Lock())
        lib, lock = _libs[key]
    return SimModule(lib, lock, exprs, schedule, seed, counting=counting)


# --------------------------------------------------------------------------- ThreadSanitizer


class TsanResult(NamedTuple):
    """Outcome of :func:`run_under_tsan`."""

    returncode: int
    stderr: str
    stdout: str

    @property
    def data_race(self) -> bool:
        """Whether ThreadSanitizer reported a data race."""
        return "WARNING: ThreadSanitizer: data race" in self.stderr


def tsan_runtime() -> str | None:
    """Path of the compiler's ThreadSanitizer runtime (``libtsan.so``), or None."""
    cxx = _compiler()
    if cxx is None:
        return None
    out = subprocess.run([cxx, "-print-file-name=libtsan.so"], capture_output=True, text=True, env=_clean_env())
    path = out.stdout.strip()
    return os.path.realpath(path) if path and os.path.isabs(path) and os.path.exists(path) else None


def _is_script(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(2) == b"#!"
    except OSError:
        return False


def _interpreter() -> str:
    """The interpreter for the TSan subprocess: this one, as it was started.

    ``sys.executable`` itself, not its real path: a virtual environment's ``bin/python`` is a
    link to the base interpreter, and only through the link does Python find the environment's
    ``pyvenv.cfg`` (and its packages). A wrapper script in its place (a pyenv shim) would run
    a shell under ``LD_PRELOAD=libtsan``, which crashes: then the binary running this process.
    """
    exe = sys.executable
    if exe and not _is_script(exe):
        return exe
    running = "/proc/self/exe"
    return os.path.realpath(running if os.path.exists(running) else exe)


def run_under_tsan(python_code: str, timeout: float = 300.0, env: dict | None = None) -> TsanResult:
    """Run a Python snippet in a subprocess with ThreadSanitizer preloaded.

    Inside the snippet, ``load_module(..., schedule="threads")`` builds the kernels
    with ``-fsanitize=thread`` and runs every CUDA thread of a block as a
    ``std::thread``, so races between CUDA threads are reported.  TSan must be
    present from process start, hence the subprocess with ``LD_PRELOAD``.

    Parameters
    ----------
    python_code : str
        Code to run (``python -c``); it should import ``gpuhclust._sim``.
    timeout : float
        Seconds before the subprocess is killed (``subprocess.TimeoutExpired``).
    env : dict, optional
        Extra environment variables.

    Returns
    -------
    TsanResult
        ``(returncode, stderr, stdout)``; the exit code is 66 when TSan reported
        anything, and ``.data_race`` tells whether a data race was among it.

    Raises
    ------
    SimulatorUnavailable
        No compiler, or the compiler ships no ``libtsan.so``.

    Notes
    -----
    Load every module before the first launch: TSan symbolises only the modules
    that were loaded when it printed its first report (races in modules loaded
    later are still reported, with ``<null>`` frames).  Blocks run one after
    another, so only races between threads of the same block are visible.
    The simulator's own bookkeeping is hidden from TSan; the happens-before
    edges of ``__syncthreads`` and of warp ``*_sync`` operations (among the
    lanes of the mask) are declared to it explicitly.
    """
    lib = tsan_runtime()
    if lib is None:
        raise SimulatorUnavailable("ThreadSanitizer runtime (libtsan.so) not found for the C++ compiler")
    e = dict(os.environ)
    e.update(env or {})
    e["LD_PRELOAD"] = lib
    # exitcode: a report makes the run fail; Python is not instrumented, so the
    # checks about its own allocations and signals are switched off.
    e["TSAN_OPTIONS"] = ("exitcode=66 halt_on_error=0 report_signal_unsafe=0 "
                         "report_thread_leaks=0 " + e.get("TSAN_OPTIONS", ""))
    root = str(_HERE.parent.parent)
    e["PYTHONPATH"] = root + os.pathsep + e.get("PYTHONPATH", "") if e.get("PYTHONPATH") else root
    exe = _interpreter()
    res = subprocess.run([exe, "-c", python_code], capture_output=True, text=True, env=e, timeout=timeout)
    return TsanResult(res.returncode, res.stderr, res.stdout)
