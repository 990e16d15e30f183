"""Numba compiles gpuhclust's CPU code on first use: say so once, and keep the time it took.

On a fresh install (empty Numba cache) the first linkage of a method compiles its loops, which
takes seconds where later runs load the machine code from the cache. A user watching a silent
prompt deserves to know why; and a timing (the command line's "linkage took ...") should not
count compilation as clustering. Numba fires its "numba:compile" event only when it really
compiles (a cache miss), so listening to it tells both.
"""
from __future__ import annotations

import sys
import threading
import time

from numba.core import event

__all__ = ["compile_seconds", "install"]

_NOTICE = ("gpuhclust: compiling the CPU code with Numba (first run only; later runs load "
           "it from Numba's cache, or run `gpuhclust warmup` once)")


class _CompileWatch(event.Listener):
    """Sums the wall time of the outermost compilations of gpuhclust's functions."""

    def __init__(self):
        self.seconds = 0.0
        self.announced = False
        self._local = threading.local()

    @staticmethod
    def _ours(ev) -> bool:
        dispatcher = ev.data.get("dispatcher") if isinstance(ev.data, dict) else None
        module = getattr(getattr(dispatcher, "py_func", None), "__module__", "") or ""
        return module.startswith("gpuhclust")

    def on_start(self, ev):
        depth = getattr(self._local, "depth", 0)
        self._local.depth = depth + 1
        if depth > 0:  # a callee compiled as part of the outer compilation
            return
        self._local.ours = self._ours(ev)
        self._local.start = time.perf_counter()
        if self._local.ours and not self.announced:
            self.announced = True
            print(_NOTICE, file=sys.stderr, flush=True)

    def on_end(self, ev):
        self._local.depth -= 1
        if self._local.depth == 0 and self._local.ours:
            self.seconds += time.perf_counter() - self._local.start


_WATCH = _CompileWatch()
_installed = False


def install() -> None:
    """Start listening (idempotent)."""
    global _installed
    if not _installed:
        event.register("numba:compile", _WATCH)
        _installed = True


def compile_seconds() -> float:
    """Wall seconds this process has spent compiling gpuhclust's Numba code so far."""
    return _WATCH.seconds
