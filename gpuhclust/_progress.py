"""Progress reporting for long runs (tqdm on stderr)."""
from __future__ import annotations

import sys

__all__ = ["progress_bar", "chunk_ends", "AUTO_PROGRESS_MIN_N", "CHUNKS"]

AUTO_PROGRESS_MIN_N = 20_000
CHUNKS = 100  # progress updates per run
DISTANCE_PHASE = "distances"
MERGE_PHASE = "merges"


class _Silent:
    def merging(self) -> None:
        pass

    def update(self, k: int) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        pass


class _Phased:
    """A tqdm bar that names its phase: "distances" from its creation (backends open it before
    they compute the distances, which can take as long as the merges) until the first merges
    are reported, then "merges"."""

    def __init__(self, bar, desc: str):
        self._bar, self._desc = bar, desc

    def merging(self) -> None:
        """The distances are done (a backend that knows may say so; otherwise the first
        ``update`` does)."""
        if self._desc is not None:
            self._bar.set_description_str(f"{self._desc}: {MERGE_PHASE}")  # drawn at once
            self._desc = None

    def update(self, k: int) -> None:
        self.merging()
        self._bar.update(k)

    def close(self) -> None:
        self._bar.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def progress_bar(progress: bool | None, total: int, desc: str):
    """A context manager with ``update(k)``: tqdm when asked for (or, with None, when stderr is
    a terminal and the run is long), otherwise silent. The bar's label says which phase runs:
    the distances until the first merges are reported, then the merges."""
    if progress is None:
        progress = total >= AUTO_PROGRESS_MIN_N and sys.stderr.isatty()
    if not progress:
        return _Silent()
    from tqdm.auto import tqdm

    bar = tqdm(total=total, desc=f"{desc}: {DISTANCE_PHASE}", unit="merge", file=sys.stderr,
               leave=False, mininterval=0.5)
    return _Phased(bar, desc)


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
