"""A cost model that turns the simulator's counts into an estimated GPU time (an estimate, never
a measurement).

The device figures live in :data:`H200`, the one table (``../shared/design.md`` section 9); a
calibration file written on a real device (``benchmarks/gpu_calibrate.py``) replaces any of them
through :func:`load_device`, never hand-tuning.

Per launch of a kernel with ``B`` blocks::

    time = max(DRAM bytes / bandwidth(B),
               written sectors / (scattered sector writes per SM * min(B, SMs)),
               sectors written in part / partial sector writes of the device,
               instructions / (instruction rate * min(B, SMs) / SMs),
               serial reads per block * dependent access latency)
           + block barriers per block * __syncthreads cost
           + warp operations per warp * warp operation cost
           + device gap between launches

and for a whole linkage call::

    seconds = max(host launches * host launch cost, sum of the launch times)
              + host synchronisations * host sync cost
              + grid barriers * (grid barrier cost + step's dependent accesses * access latency)

where host launches are the kernels the host launched one by one plus the CUDA graphs it
launched: a kernel run as a node of a graph pays the device gap (in its launch time above) but no
host launch cost, and a graph's launch is charged as one ordinary host launch whatever its node
count (an assumption: a graph launch's host cost does grow a little with its nodes; calibration
replaces it).

Assumptions, all of them:

- DRAM bytes are the distinct 32-byte sectors each warp touches between two synchronisation
  points (read and written): a sector a warp touches again in the same stretch of code is taken
  to hit L1; beyond that no reuse through L1 or L2 is credited (the matrix rows and the
  observations of the sizes modelled are far larger than L2). The scattered-write term counts
  written sectors per warp instruction (each one an L2 transaction).
- A sector written only in part (fewer than its 32 bytes, as a merge's column write stores 4
  or 8 bytes in each of the rows' sectors) costs the device a read of the sector from DRAM
  and its write back: ``partial_sector_writes`` is the whole device's rate for them (many SMs,
  a footprint far beyond L2), far below the one-SM scattered rate times the SMs, which is
  measured into L2. The simulator counts them per warp and stretch of code
  (``warp_partial_sectors_written``: the sectors whose 32 bytes the warp's stores did not all
  cover), as a device's L2 merges a warp's stores to a sector before writing it back.
- A sector read in part by a load spread over many sectors (a gather down a column, one
  sector per lane) is fetched whole, one DRAM access of its own rather than part of a stream:
  such sectors (``warp_partial_sectors_read``) are charged at ``gathered_sector_reads``, the
  whole device's rate for them, within the memory term (never faster than the launch's
  bandwidth allows), and the launch's other sectors at its bandwidth.
- bandwidth(B): one block gets one SM's ``one_block_bandwidth``; ``blocks_for_full_bandwidth``
  or more blocks get the device's ``hbm_bandwidth``; in between it grows linearly with B (each
  extra block adds the same share), an interpolation, not a measurement.
- Instructions are not counted by the simulator; they are taken as ``ops_per_access`` per
  counted thread-level memory operation (global and shared loads and stores, atomics) plus one
  per lane of each warp operation, executed at the FP32 or FP64 rate of the storage type, with
  the share of the device the launch's blocks occupy.
- Serial sections (code between two synchronisation points where one thread alone touched
  global memory) are chains of dependent reads, each costing ``dependent_access`` (an L2
  hit: the state they touch is O(n)); the chains of different blocks overlap, so a launch's
  chain is its serial reads per block. The max() above treats them as overlapping the launch's
  streaming; in a one-block loop they alternate with it, so the estimate is a lower bound there.
- Barriers and warp operations are latency the blocks pay one after another; blocks run
  concurrently (the grids modelled fit in one wave).
- A grid barrier ends a step of a loop on the device (Prim's, the tournament's): after it every
  block reads the parts the blocks published and, having taken the step's decision, the row or
  slot it names, before its next streaming can start. Those ``grid_step_dependent_accesses``
  reads wait one after another, each ``dependent_access`` (an L2 hit), on top of the barrier.
- The host issues launches asynchronously: the device's work and the host's launch costs
  overlap until a host synchronisation, which costs ``host_sync`` on top.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

__all__ = ["H200", "load_device", "bandwidth", "LaunchProfile", "launch_seconds", "call_seconds"]

# design.md section 9; seconds, bytes, per-second rates.
H200 = {
    "name": "NVIDIA H200 (design.md section 9 figures)",
    "sms": 132,
    "max_threads_per_sm": 2048,
    "max_blocks": 8 * 132,                # the CUDA backend's grid-stride limit (8 per SM)
    "hbm_bandwidth": 4.0e12,              # sustained, when >= blocks_for_full_bandwidth stream
    "one_block_bandwidth": 50e9,          # one block alone (one SM)
    "blocks_for_full_bandwidth": 64,
    "l2_bytes": 50e6,
    "l2_bandwidth": 7e12,
    "fp64_rate": 16.7e12,                 # instructions per second, no FMA
    "fp32_rate": 33e12,
    "launch_host": 8e-6,                  # a kernel launch through CuPy, host side
    "launch_gap": 2e-6,                   # ... and the device's gap between kernels (graph nodes
                                          # pay only this; a graph's launch costs launch_host)
    "host_sync": 15e-6,                   # a scalar read back, a stream sync
    "grid_barrier": 3e-6,                 # cooperative launch
    "cluster_barrier": 0.5e-6,
    "block_barrier": 0.03e-6,             # __syncthreads
    "warp_op": 0.005e-6,                  # a shuffle
    "scattered_sector_writes_per_sm": 2e9,
    # Not in design.md's table: sectors written in part per second, the whole device, beyond L2.
    # Provisional, from the one H200 profile (docs/gpu.md, session 12): round_merge, complete,
    # float32, n = 100,000 took 0.329 s for the 4.89e9 sectors the simulator counts it writing
    # in part (its counts fitted to n = 100,000); benchmarks/gpu_calibrate.py measures the
    # figure directly, and a calibration file replaces this one.
    "partial_sector_writes": 1.49e10,
    # Not in design.md's table: sectors gathered (read in part, one per lane) per second, the
    # whole device, beyond L2. Provisional and unmeasured: half the sectors per second of
    # hbm_bandwidth above (a random sector read opens a DRAM row for 32 bytes);
    # benchmarks/gpu_calibrate.py measures it (column_reads), and a calibration file replaces it.
    "gathered_sector_reads": 4.0e12 / 32 / 2,
    # Not in design.md's table (assumptions of this model, to be replaced by calibration):
    "dependent_access": 0.25e-6,          # one thread's dependent global access (an L2 hit)
    "ops_per_access": 2.0,                # instructions per counted memory operation
    "grid_step_dependent_accesses": 2.0,  # dependent reads after each grid barrier (see above)
}


def load_device(calibration: str | Path | None = None) -> dict:
    """The device figures: :data:`H200`, with the entries of a calibration file in place of
    the table's.

    Parameters
    ----------
    calibration : path, optional
        JSON written by ``benchmarks/gpu_calibrate.py``: ``{"figures": {name: value}, ...}``
        (or a flat ``{name: value}``). Names the table lacks are refused.

    Returns
    -------
    dict
        The figures, with ``"source"`` saying where they come from.
    """
    device = dict(H200)
    device["source"] = "design.md section 9 (not calibrated)"
    if calibration is None:
        return device
    data = json.loads(Path(calibration).read_text())
    figures = data.get("figures", data)
    unknown = sorted(set(figures) - set(H200))
    if unknown:
        raise ValueError(f"calibration file {calibration}: unknown device figures {unknown}; "
                         f"known: {sorted(H200)}")
    device.update(figures)
    device["source"] = f"calibrated: {calibration}"
    device["name"] = (f"{data.get('device') or 'device'} "
                      f"(figures measured on it: {Path(calibration).name})")
    return device


def bandwidth(blocks: float, device: dict) -> float:
    """DRAM bandwidth (bytes/s) available to a launch of `blocks` blocks: one block gets one
    SM's figure, ``blocks_for_full_bandwidth`` or more the device's, linear in between."""
    full, one = device["hbm_bandwidth"], device["one_block_bandwidth"]
    k = device["blocks_for_full_bandwidth"]
    b = min(max(blocks, 1.0), k)
    return one + (full - one) * (b - 1.0) / (k - 1.0)


@dataclass(frozen=True)
class LaunchProfile:
    """What one (average) launch of a kernel does, from the simulator's counters."""

    blocks: float
    threads_per_block: float
    sectors_read: float      # per warp instruction (transactions)
    sectors_written: float
    dram_sectors_read: float     # distinct per warp between synchronisation points (beyond L1)
    dram_sectors_written: float
    memory_ops: float        # thread-level global and shared loads/stores and atomics
    warp_ops: float
    block_barriers: float    # summed over the blocks
    serial_reads: float      # reads made while one thread alone accessed memory, summed over blocks
    partial_sectors_written: float = 0.0  # of dram_sectors_written, those written in part
    partial_sectors_read: float = 0.0     # of dram_sectors_read, those gathered (read in part)


def launch_seconds(p: LaunchProfile, device: dict, dtype: str) -> dict:
    """Estimated time of one launch, and which term bounds it.

    Returns
    -------
    dict
        ``seconds`` and its parts: ``memory``, ``scattered``, ``partial``, ``compute``,
        ``serial``, ``latency`` (barriers and warp operations), ``gap``, and ``bound`` (the
        largest of the first five).
    """
    sms = device["sms"]
    active = min(max(p.blocks, 1.0), sms)
    streamed = p.dram_sectors_read - p.partial_sectors_read + p.dram_sectors_written
    launch_bandwidth = bandwidth(p.blocks, device)
    gather_rate = min(device["gathered_sector_reads"], launch_bandwidth / 32.0)
    rate = device["fp32_rate" if dtype == "float32" else "fp64_rate"] * active / sms
    warps = max(p.threads_per_block / 32.0, 1.0)
    terms = {
        "memory": 32.0 * streamed / launch_bandwidth + p.partial_sectors_read / gather_rate,
        "scattered": p.sectors_written / (device["scattered_sector_writes_per_sm"] * active),
        "partial": p.partial_sectors_written / device["partial_sector_writes"],
        "compute": (device["ops_per_access"] * p.memory_ops + 32.0 * p.warp_ops) / rate,
        "serial": p.serial_reads / min(max(p.blocks, 1.0), device["max_blocks"]) * device["dependent_access"],
    }
    bound = max(terms, key=terms.get)
    blocks = max(p.blocks, 1.0)
    latency = (p.block_barriers / blocks * device["block_barrier"]
               + p.warp_ops / (blocks * warps) * device["warp_op"])
    seconds = terms[bound] + latency + device["launch_gap"]
    return {"seconds": seconds, "bound": bound, "latency": latency, "gap": device["launch_gap"],
            **terms}


def call_seconds(kernel_seconds: float, host_launches: float, host_syncs: float,
                 grid_barriers: float, device: dict) -> float:
    """A linkage call: the device's work overlapped with the host's launch costs (kernels and
    graphs the host launched; graph nodes cost the device gap only), plus the host
    synchronisations, and per grid barrier the barrier and the step's dependent reads."""
    step = (device["grid_barrier"]
            + device["grid_step_dependent_accesses"] * device["dependent_access"])
    return (max(host_launches * device["launch_host"], kernel_seconds)
            + host_syncs * device["host_sync"] + grid_barriers * step)
