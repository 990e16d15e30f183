"""Progress reporting for long runs (tqdm on stderr)."""
from __future__ import annotations

import sys

__all__ = ["progress_bar", "AUTO_PROGRESS_MIN_N"]

AUTO_PROGRESS_MIN_N = 20_000


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
