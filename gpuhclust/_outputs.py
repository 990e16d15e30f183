"""The command line's output files: never the input or each other, and never half written.

:func:`same_file_clashes` finds an output that names the input or another output, however it
is spelled (``./x`` and ``x``, a symbolic link, a hard link). :func:`replacing` writes a file
under a temporary name in the destination's folder and renames it into place only when it is
complete, so an interrupted or failed write leaves the previous file as it was and no
truncated one behind.
"""
from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager

__all__ = ["same_file_clashes", "replacing"]


def _identity(path: str):
    """What makes two names the same file: the resolved path, and for an existing file its
    device and inode (hard links resolve to different paths but share the inode)."""
    resolved = os.path.normcase(os.path.realpath(path))
    try:
        st = os.stat(path)
    except OSError:
        return resolved, None
    return resolved, (st.st_dev, st.st_ino)


def _same(a, b) -> bool:
    return a[0] == b[0] or (a[1] is not None and a[1] == b[1])


def same_file_clashes(paths: list[tuple[str, str]]) -> list[tuple[str, str, str, str]]:
    """Pairs of entries of `paths` that name the same file.

    Parameters
    ----------
    paths : list of (role, path)
        The files in the order they are given, the input first, e.g.
        ``[('INPUT', 'data.csv'), ('--out', './data.csv')]``.

    Returns
    -------
    list of (role, path, earlier role, earlier path)
        Each later entry that is the same file as an earlier one, with the first such earlier
        entry.
    """
    seen = []
    clashes = []
    for role, path in paths:
        ident = _identity(path)
        for earlier_role, earlier_path, earlier in seen:
            if _same(ident, earlier):
                clashes.append((role, path, earlier_role, earlier_path))
                break
        seen.append((role, path, ident))
    return clashes


def _new_file_mode(destination: str) -> int:
    try:
        return os.stat(destination).st_mode & 0o7777  # keep the replaced file's permissions
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask  # what open() would have given a new file


@contextmanager
def replacing(path, mode: str = "w", **open_kwargs):
    """Open a temporary file next to `path` for writing; rename it to `path` on success.

    Parameters
    ----------
    path : str or os.PathLike
        The file to (re)place. A symbolic link is followed: its target is replaced, the link
        stays.
    mode : {'w', 'wb'}
        Text or binary.
    **open_kwargs
        Passed to ``open`` (``newline``, ``encoding``).

    Yields
    ------
    file object
        The temporary file. On any exception, ``KeyboardInterrupt`` included, it is removed
        and `path` is left untouched.
    """
    destination = os.path.realpath(os.fspath(path))
    folder, name = os.path.split(destination)
    fd, temporary = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=folder)
    try:
        with open(fd, mode, **open_kwargs) as f:
            yield f
        os.chmod(temporary, _new_file_mode(destination))
        os.replace(temporary, destination)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise
