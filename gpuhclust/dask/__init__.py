"""The distributed engine: ``gpuhclust.linkage(..., backend='dask', client=...)``.

Importing this package does not import Dask; :func:`register` adds the backend to the registry
with a negative 'auto' priority (it is used only when asked for by name), and the backend module
is imported when the backend is first requested. See ``gpuhclust.dask.backend`` for the layout,
the algorithms and the communication per round.

``DaskBackend(shard_compute=...)`` (imported from here on first use) chooses what the shards
compute with: ``gpuhclust.linkage(X, 'ward', backend=DaskBackend(shard_compute='cpu'),
client=client)``.
"""
from __future__ import annotations

import importlib.util

__all__ = ["register", "AUTO_PRIORITY", "WorkerLostError", "DaskBackend"]

AUTO_PRIORITY = -100  # 'auto' never picks the distributed engine


class WorkerLostError(RuntimeError):
    """A worker holding a shard of the distance matrix was lost during the run: no Z is
    returned (never one computed from partial or rebuilt state); the client stays usable."""


class _LazyDaskBackend:
    """Registry factory: imports ``gpuhclust.dask.backend`` (and Dask) on first use."""

    @staticmethod
    def unusable_reason() -> str:
        if importlib.util.find_spec("distributed") is None:
            return "the 'distributed' package is not installed (pip install gpuhclust[dask])"
        return ""

    def __call__(self):
        from .backend import DaskBackend

        return DaskBackend()


def register() -> None:
    """Register backend 'dask'."""
    from .._backends import register_backend

    register_backend("dask", _LazyDaskBackend(), auto_priority=AUTO_PRIORITY)


def __getattr__(name):
    if name == "DaskBackend":  # imports Dask: only when asked for
        from .backend import DaskBackend

        return DaskBackend
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
