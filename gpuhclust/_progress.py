"""Progress reporting for long runs (tqdm on stderr)."""
from __future__ import annotations

import sys

__all__ = ["progress_bar", "chunk_ends", "AUTO_PROGRESS_MIN_N", "CHUNKS"]

AUTO_PROGRESS_MIN_N = 20_000
CHUNKS = 100  # progress updates per run


class _Silent:
    def update(self, k: int) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        pass


def progress_bar(progress: bool | None, total: int, desc: str):
    """A context manager with ``update(k)``: tqdm when asked for (or, with None, when stderr is
    a terminal and the run is long), otherwise silent."""
    if progress is None:
        progress = total >= AUTO_PROGRESS_MIN_N and sys.stderr.isatty()
    if not progress:
        return _Silent()
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="merge", file=sys.stderr, leave=False,
                mininterval=0.5)


def chunk_ends(total: int, bar):
    """Ends of the chunks a loop of `total` merges runs in (progress is reported and Ctrl-C
    honoured between chunks); advances `bar` after each chunk has run."""
    step = max(1, total // CHUNKS)
    done = 0
    while done < total:
        stop = min(total, done + step)
        yield stop
        bar.update(stop - done)
        done = stop
