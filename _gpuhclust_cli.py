"""The ``gpuhclust`` command's entry point.

It lives outside the package on purpose: importing anything inside ``gpuhclust`` first runs
the package's ``__init__`` (NumPy, SciPy, Numba: seconds on a cold start), and a Ctrl-C there
would end in a Python traceback. Here the import happens inside ``main``, which turns it into
the command line's one line and exit status 130.
"""
import sys


def main() -> int:
    """Import the command line and run it; exit status 130 when interrupted meanwhile."""
    try:
        from gpuhclust.cli import main as run
    except KeyboardInterrupt:
        print("gpuhclust: interrupted", file=sys.stderr)
        return 130
    return run()


if __name__ == "__main__":
    sys.exit(main())
