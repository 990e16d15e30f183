"""Memory planning: say before allocating whether a working set fits in the memory present."""
from __future__ import annotations

import ctypes
import mmap
import os
import sys
import threading

import numpy as np

__all__ = ["available_bytes", "check_fits", "format_bytes", "empty_large", "release_large"]

#: Arrays from this size up come from their own anonymous mapping (see :func:`empty_large`).
LARGE_BYTES = 64 << 20


def format_bytes(nbytes: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(nbytes) < 1024 or unit == "TiB":
            return f"{nbytes:.1f} {unit}" if unit != "B" else f"{int(nbytes)} B"
        nbytes /= 1024
    raise AssertionError


def _cgroup_limit() -> int | None:
    for path, usage in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                        ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
                         "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        try:
            with open(path) as f:
                raw = f.read().strip()
            if raw == "max":
                return None
            limit = int(raw)
            with open(usage) as f:
                used = int(f.read().strip())
            return max(0, limit - used) if limit < 1 << 60 else None
        except (OSError, ValueError):
            continue
    return None


def available_bytes() -> int:
    """Memory a new allocation can use now: MemAvailable, capped by a cgroup limit if any."""
    avail = None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    avail = int(line.split()[1]) * 1024
                    break
    except OSError:
        pass
    if avail is None:
        try:
            avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            avail = 1 << 62  # unknown: do not refuse
    limit = _cgroup_limit()
    return min(avail, limit) if limit is not None else avail


def smaller_storage_hint(dtype) -> str:
    """What to suggest when a distance matrix of `dtype` does not fit."""
    return ("pass dtype=numpy.float32 to halve it" if np.dtype(dtype) == np.float64
            else "use fewer observations")


def check_fits(needed: int, what: str, hint: str = "", available: int | None = None,
               where: str = "memory") -> None:
    """Raise MemoryError (before allocating) when `needed` bytes exceed what is available."""
    available = available_bytes() if available is None else available
    if needed > available:
        msg = (f"gpuhclust needs {format_bytes(needed)} for {what}, but only "
               f"{format_bytes(available)} of {where} is available")
        raise MemoryError(msg + (f"; {hint}" if hint else ""))


def empty_large(shape: tuple[int, ...], dtype) -> np.ndarray:
    """An uninitialised array like ``np.empty``, for the multi-GB working matrices.

    NumPy asks the kernel for transparent huge pages on every large allocation
    (``madvise(MADV_HUGEPAGE)``). Where the kernel's THP defrag policy is 'madvise' (a common
    default), each first write to such memory may stall in synchronous memory compaction, so
    filling a fresh multi-GB matrix can take several times as long as with ordinary pages,
    while the merge loops gain nothing from huge pages. In a virtual machine whose balloon
    device reports free memory to the host, a huge page likely comes from the blocks the host has
    taken back (only such blocks are reported), so its first write faults on the host as well,
    where ordinary pages come from smaller free blocks the host still backs.
    Arrays of at least :data:`LARGE_BYTES` therefore get their own anonymous mapping with huge
    pages declined; it is unmapped when the array is freed.
    """
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if nbytes < LARGE_BYTES or not hasattr(mmap, "MAP_ANONYMOUS"):
        return np.empty(shape, dtype=dtype)
    buf = mmap.mmap(-1, nbytes, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    if hasattr(mmap, "MADV_NOHUGEPAGE"):
        buf.madvise(mmap.MADV_NOHUGEPAGE)
    return np.frombuffer(buf, dtype=dtype).reshape(shape)


def _own_mapping(array: np.ndarray) -> mmap.mmap | None:
    """The mapping :func:`empty_large` made for `array` (through its views), or None."""
    owner = array
    while isinstance(owner, (np.ndarray, memoryview)):
        owner = owner.base if isinstance(owner, np.ndarray) else owner.obj
    return owner if isinstance(owner, mmap.mmap) else None


def release_large(array: np.ndarray, threads: int) -> None:
    """Give the pages of an array from :func:`empty_large` back to the system now, the work
    split over `threads`; its contents are lost (it reads as zeros afterwards).

    Freeing a multi-GB mapping is a single-threaded walk over every page in the kernel
    (``munmap``). ``madvise(MADV_DONTNEED)`` on disjoint parts does the same work and holds
    the address space's lock only for reading, so threads run it side by side; the mapping
    itself is still unmapped when the array is freed, by then with nothing left to free.
    ctypes releases the GIL during the call (``mmap.madvise`` holds it, so its calls from
    threads run one after the other). Does nothing for arrays NumPy allocated, on one
    thread, or where the call is not available (Linux only: elsewhere MADV_DONTNEED may keep
    the pages).
    """
    mapping = _own_mapping(array)
    if (threads < 2 or mapping is None or not sys.platform.startswith("linux")
            or not array.flags.c_contiguous or array.nbytes != len(mapping)):
        return  # only a whole mapping, from its start (page-aligned)
    try:
        madvise = ctypes.CDLL(None, use_errno=True).madvise
    except (OSError, AttributeError):
        return
    madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    madvise.restype = ctypes.c_int
    start, nbytes = array.ctypes.data, array.nbytes
    page = mmap.PAGESIZE
    share = -(-nbytes // threads // page) * page  # whole pages: the mapping starts on one
    parts = [(start + i, min(share, nbytes - i)) for i in range(0, nbytes, share)]
    # Each worker holds the array, so the mapping cannot be unmapped (and its addresses reused)
    # while a call is still running, even if the join below is interrupted.
    workers = [threading.Thread(target=_advise, args=(madvise, array, a, n)) for a, n in parts]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


def _advise(madvise, array: np.ndarray, start: int, nbytes: int) -> None:
    madvise(start, nbytes, mmap.MADV_DONTNEED)
