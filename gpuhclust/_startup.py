"""Ctrl-C while ``python -m gpuhclust`` imports the package: one line and exit status 130.

``python -m gpuhclust`` imports the package (NumPy, SciPy, Numba: seconds on a cold start)
before its ``__main__`` runs, so the command line's own handling cannot catch an interrupt
there. The ``gpuhclust`` script avoids this by importing inside its entry point
(``_gpuhclust_cli``); this guard covers the ``-m`` route.
"""
from __future__ import annotations

import contextlib
import signal
import sys
import threading

INTERRUPTED = "gpuhclust: interrupted"


def _exit_130(signum, frame):
    print(INTERRUPTED, file=sys.stderr)
    raise SystemExit(130)


@contextlib.contextmanager
def ctrl_c_exits_quietly(command_line: bool = False):
    """While the body runs, Ctrl-C prints :data:`INTERRUPTED` and exits with status 130.

    Only for the command line: with `command_line`, or when ``python -m`` is importing the
    package (``sys.argv[0]`` is ``'-m'`` until the module is found). Otherwise the body runs
    with the handler untouched: importing a library must not change its user's signal
    handling."""
    from_command_line = command_line or sys.argv[:1] == ["-m"]
    if not from_command_line or threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, _exit_130)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
