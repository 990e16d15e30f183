"""The one seam between the CUDA backend's host code and a device: an array module, a kernel
loader and CUDA graphs. ``CupyContext`` runs on a real GPU through CuPy; ``SimContext`` runs the
very same host code on NumPy arrays with the kernels compiled for the CPU by gpuhclust's kernel
simulator.

Graphs (:meth:`DeviceContext.capture`) take the host out of a loop whose every step is the same
few launches with the same arguments (all loop state in device memory): the steps of a chunk are
captured once and the whole chunk costs one host launch. On a GPU that is CUDA stream capture;
the simulator records the launches and replays them, counting them as graph nodes.
"""
from __future__ import annotations

import ctypes
import sys
import weakref
from functools import lru_cache

import numpy as np

from .._memory import available_bytes
from .._sim import _counters as _sim_counters
from ._kernels import FAMILIES, defines, kernel_dir, nvrtc_options, source

__all__ = ["DeviceContext", "CupyContext", "SimContext", "cuda_usable", "cuda_unusable_reason",
           "grid_blocks", "row_blocks", "metric_arrays"]


class Graph:
    """Captured launches, replayed in order by :meth:`launch` (see ``DeviceContext.capture``)."""

    def launch(self) -> None:
        raise NotImplementedError


class DeviceContext:
    """What the backend needs from a device.

    Attributes
    ----------
    xp : module
        The array module (cupy or numpy).
    threads : int
        Threads per block of the grid-wide kernels (a multiple of 32).
    loop_threads : int
        Threads of the one-block loops (a multiple of 32, at most ``LOOP_THREADS``).
    max_blocks : int
        Most blocks of a grid-stride kernel.
    cooperative_blocks : int
        Most blocks of a cooperative launch (a kernel with grid barriers, ``kernels/grid.cuh``):
        all of them resident at once (one per SM on a device).
    """

    name = "?"
    xp = np
    threads = 256
    loop_threads = 1024
    max_blocks = 1024
    cooperative_blocks = 1

    def kernel(self, family: str, name: str, cooperative: bool = False):
        """The kernel `name` (a name expression such as ``'nn_chain_loop<float>'``) of
        ``kernels/<family>.cu``, callable as ``kernel(grid, block, args)``; `cooperative`: for
        a kernel with grid barriers (launched so that every block is resident at once, at most
        ``cooperative_blocks`` blocks)."""
        raise NotImplementedError

    def free_bytes(self) -> int:
        """Memory free for new device arrays."""
        raise NotImplementedError

    def asnumpy(self, a) -> np.ndarray:
        return np.asarray(a)

    def upload(self, dst, src: np.ndarray) -> None:
        """Copy host array `src` into device array `dst` of its shape (a buffer kept between
        uses, where a fresh ``xp.asarray`` would allocate each time)."""
        dst[...] = src

    def synchronize(self) -> None:
        pass

    def capture(self, record) -> Graph:
        """A graph of the kernel launches that ``record()`` makes (through kernels of this
        context), in their order. Launching it runs them again with the same arguments: scalars
        as they were at capture, arrays as they are in device memory at launch."""
        raise NotImplementedError

    # -- memory a run holds ------------------------------------------------------------------
    def device_array(self, a):
        """A device array (copy) of host array `a`, counted in :meth:`held_bytes`."""
        return self.track(self.xp.array(a))

    def track(self, a):
        """Count device array `a` in :meth:`held_bytes` while it lives; returns `a`."""
        return a

    def held_bytes(self) -> int:
        """Device memory held by live arrays (those counted: see :meth:`track`)."""
        raise NotImplementedError

    def release(self) -> None:
        """Hand memory no array uses any more back to the device (after an interrupted run)."""


#: The CUDA driver's library, by platform: without it no device can be used, and looking for
#: it is far cheaper than importing CuPy (which backend='auto' would otherwise do on every
#: machine with CuPy installed and no GPU, before every first linkage).
_DRIVER_LIBRARIES = {"linux": ("libcuda.so.1", "libcuda.so"), "win32": ("nvcuda.dll",)}


def grid_blocks(ctx: DeviceContext, count: int) -> int:
    """Blocks of a grid-stride launch over `count` items on `ctx`: one per ``ctx.threads``
    items, at most ``ctx.max_blocks``."""
    return max(1, min(ctx.max_blocks, -(-count // ctx.threads)))


def row_blocks(ctx: DeviceContext, count: int) -> int:
    """Blocks of a launch with one block per row (or item) of `count`: at most
    ``ctx.max_blocks``, grid-stride beyond."""
    return max(1, min(ctx.max_blocks, count))


def metric_arrays(ctx: DeviceContext, metric) -> tuple:
    """What the distance kernels take for a prepared metric (``gpuhclust._metrics``), on the
    device of `ctx`: ``(X, d, code, p, aux, weights, vi)``."""
    xp = ctx.xp
    return (xp.asarray(metric.X), np.int32(metric.X.shape[1]), np.int32(metric.code),
            np.float64(metric.p), xp.asarray(np.ascontiguousarray(metric.aux)),
            xp.asarray(np.ascontiguousarray(metric.weights)),
            xp.asarray(np.ascontiguousarray(metric.vi)))


def _missing_driver() -> str:
    """'' when the CUDA driver library loads (or the platform is not one we know), else why."""
    names = _DRIVER_LIBRARIES.get(sys.platform)
    if not names:
        return ""
    for name in names:
        try:
            ctypes.CDLL(name)
            return ""
        except OSError:
            continue
    return f"no CUDA driver is installed ({' / '.join(names)} not found)"


@lru_cache(maxsize=1)
def cuda_unusable_reason() -> str:
    """Why CuPy cannot run kernels here ('' when it imports and sees a CUDA device)."""
    missing = _missing_driver()
    if missing:
        return missing
    try:
        import cupy
    except Exception as exc:  # noqa: BLE001 - ImportError, or a broken CuPy install
        return f"CuPy is not installed or does not import ({type(exc).__name__}: {exc})"
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # noqa: BLE001 - CUDARuntimeError, or no libcuda at all
        return f"CuPy finds no usable CUDA driver ({type(exc).__name__}: {exc})"
    if count <= 0:
        return "the CUDA driver reports no device"
    return ""


def cuda_usable() -> bool:
    """CuPy imports and sees at least one CUDA device."""
    return not cuda_unusable_reason()


class CupyContext(DeviceContext):
    """The current CuPy device."""

    name = "cuda"

    def __init__(self):
        import cupy

        self.xp = cupy
        self.device = cupy.cuda.Device()
        sms = self.device.attributes["MultiProcessorCount"]
        self.max_blocks = 8 * sms
        # one block per SM: a grid barrier's cost grows with the blocks that arrive at it
        self.cooperative_blocks = sms

    def kernel(self, family: str, name: str, cooperative: bool = False):
        return _cupy_module(self.device.id, family, cooperative).get_function(name)

    def free_bytes(self) -> int:
        free, _ = self.xp.cuda.runtime.memGetInfo()
        return int(free) + int(self.xp.get_default_memory_pool().free_bytes())

    def asnumpy(self, a) -> np.ndarray:
        return self.xp.asnumpy(a)

    def upload(self, dst, src: np.ndarray) -> None:
        dst.set(src)

    def synchronize(self) -> None:
        self.xp.cuda.get_current_stream().synchronize()

    def capture(self, record) -> Graph:
        # A blocking stream: it is ordered with the legacy default stream every other launch and
        # copy of the backend uses, so the graph needs no extra synchronisation either side.
        stream = self.xp.cuda.Stream()
        with stream:
            stream.begin_capture()
            try:
                record()
            finally:
                graph = stream.end_capture()
        return _CupyGraph(graph, stream)

    def held_bytes(self) -> int:
        return int(self.xp.get_default_memory_pool().used_bytes())  # every CuPy array counts

    def release(self) -> None:
        self.xp.get_default_memory_pool().free_all_blocks()


class _CupyGraph(Graph):
    def __init__(self, graph, stream):
        self._graph, self._stream = graph, stream

    def launch(self) -> None:
        self._graph.launch(self._stream)


@lru_cache(maxsize=None)
def _cupy_module(device_id: int, family: str, cooperative: bool = False):
    # One compiled module per device and family (and launch kind: CuPy launches every kernel of a
    # cooperative module with cuLaunchCooperativeKernel); CuPy keeps the binaries in its own
    # disk cache.
    import cupy

    with cupy.cuda.Device(device_id):
        module = cupy.RawModule(code=source(family), options=nvrtc_options(),
                                name_expressions=FAMILIES[family].name_expressions,
                                enable_cooperative_groups=cooperative)
        module.compile()
    return module


class SimContext(DeviceContext):
    """NumPy arrays and the kernels run by the CPU simulator (``gpuhclust._sim``).

    Parameters
    ----------
    schedule : str
        The simulator's thread order: 'forward', 'reverse', 'random' or 'threads'.
    seed : int
        Seed of the 'random' schedule.
    threads, loop_threads, max_blocks : int
        Launch shapes; small by default, since every simulated thread costs a fiber switch at
        each barrier, and several blocks still run so that block boundaries are exercised.
    """

    name = "cuda-sim"

    def __init__(self, schedule: str = "forward", seed: int = 0, threads: int = 64,
                 loop_threads: int = 64, max_blocks: int = 4):
        from .. import _sim

        if not _sim.compiler_available():
            raise _sim.SimulatorUnavailable(
                "backend 'cuda-sim' compiles the CUDA kernels with a C++ compiler, and none was "
                "found (set CXX or install g++)")
        self.schedule = schedule
        self.seed = seed
        self.threads = threads
        self.loop_threads = loop_threads
        self.max_blocks = max_blocks
        # the threads build runs a grid barrier in a grid of one block only (gpusim.h)
        self.cooperative_blocks = 1 if schedule == "threads" else max_blocks
        self._held = 0  # bytes of the tracked arrays alive (NumPy arrays stand in for the device)
        self._recording: list | None = None  # the launches of a capture in progress

    def kernel(self, family: str, name: str, cooperative: bool = False):
        from .. import _sim

        module = _sim.load_module(source(family), FAMILIES[family].name_expressions,
                                  include_dirs=[str(kernel_dir())], defines=defines(),
                                  schedule=self.schedule, seed=self.seed)
        return _SimLaunch(self, module.get_function(name))

    def capture(self, record) -> Graph:
        if self._recording is not None:
            raise RuntimeError("a graph capture is already in progress")
        self._recording = []
        try:
            record()
            nodes = self._recording
        finally:
            self._recording = None
        return _SimGraph(nodes)

    def free_bytes(self) -> int:
        return available_bytes()

    def asnumpy(self, a) -> np.ndarray:
        _sim_counters.note_host_sync()  # a device-to-host read waits for the device
        return np.array(a)  # a copy, as from a device: a result never aliases device memory

    def synchronize(self) -> None:
        _sim_counters.note_host_sync()

    def track(self, a):
        self._held += a.nbytes
        weakref.finalize(a, self._untrack, a.nbytes)
        return a

    def _untrack(self, nbytes: int) -> None:
        self._held -= nbytes

    def held_bytes(self) -> int:
        return self._held


class _SimLaunch:
    """A simulated kernel that, while its context captures a graph, records its launches
    instead of running them."""

    def __init__(self, ctx: SimContext, kernel):
        self._ctx, self._kernel = ctx, kernel

    def __call__(self, grid, block, args):
        if self._ctx._recording is not None:
            self._ctx._recording.append((self._kernel, grid, block, tuple(args)))
        else:
            self._kernel(grid, block, args)


class _SimGraph(Graph):
    def __init__(self, nodes: list):
        self._nodes = nodes

    def launch(self) -> None:
        _sim_counters.note_graph_launch()
        with _sim_counters.graph_nodes():
            for kernel, grid, block, args in self._nodes:
                kernel(grid, block, args)
