"""What simulated kernels do, counted: the simulator's side of gpuhclust's GPU cost model.

Inside ``with counting() as c:`` every simulated module is a counting build (see ``gpusim.h``,
section "counters"): each launch is recorded with its kernel name, grid, block and counters, and
the CUDA backend's host synchronisations (device-to-host reads, stream syncs) are counted by its
``SimContext``. Outside, modules are the ordinary builds, which carry no instrumentation at all.

Kernels run as nodes of a CUDA graph (``SimContext.capture``) are recorded like any other run,
marked ``Launch.graph``; the graph's launches themselves are counted in ``Counts.graph_launches``.
The host pays for a host launch and for a graph launch alike; a graph node costs the device only
(see ``cost_model.call_seconds``).

What is counted per launch (``LAUNCH_COUNTERS``, summed over the blocks):

- ``block_barriers``: completed ``__syncthreads`` (one per block per barrier);
- ``grid_barriers``: grid-wide barriers (``kernels/grid.cuh``), one per barrier of the grid;
- ``warp_ops``: completed warp-level operations (shuffles, votes, ``__syncwarp``), one per warp;
- ``atomics`` / ``shared_atomics``: atomic operations (one per thread) on the kernel's array
  arguments / on ``__shared__`` memory;
- ``read_instructions``, ``write_instructions``: warp memory instructions on the kernel's array
  arguments (the i-th read, or write, of each lane of a warp between two synchronisation points);
- ``sectors_read``, ``sectors_written``: distinct 32-byte sectors per such instruction, summed
  (fully coalesced float32: 4 per 32 lanes; a stride larger than 32 bytes: one per lane);
- ``bytes_read``, ``bytes_written``, ``thread_accesses``: what the threads asked for;
- ``serial_accesses``, ``serial_sectors``: accesses made in a stretch of code (between two
  synchronisation points) where a single thread of the block touched global memory;
- ``shared_accesses``: loads and stores of ``__shared__`` memory (per thread);
- ``rounds``: stretches of code between synchronisation points the scheduler ran;
- ``warp_sectors_read``, ``warp_sectors_written``: distinct sectors each warp touched in each
  such stretch, summed (a lane re-reading the sector it read one instruction earlier costs an
  instruction's sector above, but on a device it hits L1: this is the traffic beyond L1);
- ``serial_reads``: the reads among ``serial_accesses`` (a store does not wait for memory);
- ``warp_partial_sectors_written``: of ``warp_sectors_written``, the sectors whose 32 bytes the
  warp's stores in that stretch did not all cover (a column write: every one; a coalesced row:
  none but a misaligned row's ends). On a device such a sector is read from DRAM and written
  back (``cost_model``'s ``partial`` term);
- ``warp_partial_sectors_read``: of ``warp_sectors_read``, the sectors of whose 32 bytes the
  warp's loads in that stretch used only some, and that a load touched apart from its other
  sectors (none of them within 4 sectors: a gather down a column, every one; a stretch of a
  row, even with lanes skipping entries, none; a value broadcast to the warp, none, as L1
  serves it). The device fetches each whole, one DRAM access per sector instead of a stream of
  them (``cost_model``'s memory term charges them apart).
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field

__all__ = ["LAUNCH_COUNTERS", "Launch", "KernelCounts", "Counts", "counting", "active",
           "record_launch", "note_host_sync", "note_graph_launch", "graph_nodes"]

# In the order of gpusim.h's gpusim::count::Counters.
LAUNCH_COUNTERS = ("block_barriers", "grid_barriers", "warp_ops", "atomics", "shared_atomics",
                   "read_instructions", "write_instructions", "sectors_read", "sectors_written",
                   "bytes_read", "bytes_written", "serial_accesses", "serial_sectors",
                   "shared_accesses", "thread_accesses", "rounds", "warp_sectors_read",
                   "warp_sectors_written", "serial_reads", "warp_partial_sectors_written",
                   "warp_partial_sectors_read")


@dataclass(frozen=True)
class Launch:
    """One recorded kernel run: a host launch, or a node of a launched graph (`graph`)."""

    kernel: str
    grid: tuple[int, int, int]
    block: tuple[int, int, int]
    counters: dict
    graph: bool = False

    @property
    def blocks(self) -> int:
        return self.grid[0] * self.grid[1] * self.grid[2]

    @property
    def threads_per_block(self) -> int:
        return self.block[0] * self.block[1] * self.block[2]


@dataclass
class KernelCounts:
    """The runs of one kernel, summed; counters are attributes (``c.kernels[k].sectors_read``).
    ``launches`` counts every run, ``graph_nodes`` those run as graph nodes."""

    launches: int = 0
    graph_nodes: int = 0
    blocks: int = 0
    totals: dict = field(default_factory=lambda: dict.fromkeys(LAUNCH_COUNTERS, 0))

    def __getattr__(self, name):
        totals = self.__dict__.get("totals", {})
        if name in totals:
            return totals[name]
        raise AttributeError(name)

    def add(self, launch: Launch) -> None:
        self.launches += 1
        self.graph_nodes += launch.graph
        self.blocks += launch.blocks
        for key, value in launch.counters.items():
            self.totals[key] += value


@dataclass
class Counts:
    """Everything counted inside one ``with counting()`` block.

    Attributes
    ----------
    records : list of Launch
        Every run of a simulated kernel, in order (host launches and graph nodes).
    kernels : dict of str to KernelCounts
        The same, summed per kernel name expression (e.g. ``'nn_chain_loop<float>'``).
    host_syncs : int
        Host synchronisations of the CUDA backend (device-to-host reads, stream syncs).
    graph_launches : int
        Launches of captured CUDA graphs (each one host launch, whatever its nodes).
    """

    records: list = field(default_factory=list)
    kernels: dict = field(default_factory=dict)
    host_syncs: int = 0
    graph_launches: int = 0

    @property
    def launches(self) -> int:
        """Kernel runs counted (host launches and graph nodes)."""
        return len(self.records)

    @property
    def graph_nodes(self) -> int:
        """Kernel runs made as nodes of a launched graph."""
        return sum(r.graph for r in self.records)

    @property
    def host_launches(self) -> int:
        """What the host launched: kernels launched one by one, and graphs."""
        return self.launches - self.graph_nodes + self.graph_launches

    def total(self, counter: str) -> int:
        """One counter summed over every launch."""
        return sum(k.totals[counter] for k in self.kernels.values())

    def _add(self, launch: Launch) -> None:
        self.records.append(launch)
        self.kernels.setdefault(launch.kernel, KernelCounts()).add(launch)


_sessions: list[Counts] = []
_graph_depth = 0  # > 0 while a launched graph's nodes run


@contextmanager
def counting():
    """Count what simulated kernels do inside the block.

    Yields
    ------
    Counts
        Filled as kernels run: ``c.launches``, ``c.host_syncs``, ``c.kernels[name]``.

    Examples
    --------
    >>> import numpy as np, gpuhclust
    >>> from gpuhclust._sim import counting
    >>> with counting() as c:                                           # doctest: +SKIP
    ...     Z = gpuhclust.linkage(np.random.rand(50, 3), "average", backend="cuda-sim")
    >>> c.kernels["nn_chain_loop<double>"].sectors_read > 0             # doctest: +SKIP
    True
    """
    counts = Counts()
    _sessions.append(counts)
    try:
        yield counts
    finally:
        _sessions.remove(counts)


def active() -> bool:
    """Whether some ``counting()`` block is open (modules loaded now are counting builds)."""
    return bool(_sessions)


def record_launch(kernel: str, grid, block, counters: dict) -> None:
    """Record a launch of a counting build in every open session."""
    launch = Launch(kernel, tuple(grid), tuple(block), counters, graph=_graph_depth > 0)
    for counts in _sessions:
        counts._add(launch)


def note_host_sync() -> None:
    """Count a host synchronisation in every open session (a no-op when none is open)."""
    for counts in _sessions:
        counts.host_syncs += 1


def note_graph_launch() -> None:
    """Count the launch of a captured graph in every open session."""
    for counts in _sessions:
        counts.graph_launches += 1


@contextmanager
def graph_nodes():
    """Kernels run inside the block are the nodes of a launched graph (no host launch each)."""
    global _graph_depth
    _graph_depth += 1
    try:
        yield
    finally:
        _graph_depth -= 1
