"""Reading observation files for the command line: ``.csv``, ``.txt`` and ``.npy``.

Every problem is raised as :class:`InputError` with a one-line message that names the file and,
for text files, the row and column as a user sees them in an editor (1-based line numbers that
count the header, blank and comment lines), so the CLI can print it unchanged.
"""
from __future__ import annotations

import csv
import math
import os
from array import array
from dataclasses import dataclass

import numpy as np

__all__ = ["InputError", "Observations", "read_observations", "SUPPORTED_EXTENSIONS"]

SUPPORTED_EXTENSIONS = (".csv", ".txt", ".npy")


class InputError(ValueError):
    """A problem with an input file, described in one line that names the file."""


@dataclass(frozen=True)
class Observations:
    """Observations read from a file.

    Attributes
    ----------
    X : ndarray of float64, shape (n, d)
        The values, all finite.
    columns : list of str or None
        The names in the header row, or None when the file has none.
    path : str
        The file, as the user named it.
    """

    X: np.ndarray
    columns: list[str] | None
    path: str


def read_observations(path, *, min_rows: int = 2) -> Observations:
    """Read an (n, d) array of observations from a ``.csv``, ``.txt`` or ``.npy`` file.

    Parameters
    ----------
    path : str or os.PathLike
        ``.csv``: comma separated, with or without a header row (the first non-blank row is a
        header when any of its cells is not a number). ``.txt``: whitespace separated, ``#``
        starts a comment, header detected the same way. ``.npy``: a 1-D (one column) or 2-D
        numeric array. The extension is matched case-insensitively.
    min_rows : int
        Fewer observations than this is an error (clustering needs 2).

    Returns
    -------
    Observations
        The float64 values, the header's column names (or None) and the path.

    Raises
    ------
    InputError
        Missing or unreadable file, unknown extension, empty file, a cell that is not a number
        or not finite, rows of different lengths, too few rows. The message is one line.
    """
    name = os.fspath(path)
    ext = os.path.splitext(name)[1].lower()
    if ext not in SUPPORTED_EXTENSIONS:
        kind = f"unknown file type {ext!r}" if ext else "no file extension"
        raise InputError(f"{name}: {kind}; expected one of "
                         + ", ".join(SUPPORTED_EXTENSIONS))
    try:
        if ext == ".npy":
            X, columns = _read_npy(name), None
        else:
            X, columns = _read_text(name, csv_format=(ext == ".csv"))
    except OSError as exc:
        raise InputError(f"{name}: {_describe_os_error(exc)}") from None
    except MemoryError:
        raise InputError(f"{name}: not enough memory to read the file") from None
    if X.shape[0] < min_rows:
        raise InputError(f"{name}: needs at least {min_rows} observations (rows), "
                         f"found {X.shape[0]}")
    return Observations(X, columns, name)


def _describe_os_error(exc: OSError) -> str:
    if isinstance(exc, FileNotFoundError):
        return "no such file"
    if isinstance(exc, IsADirectoryError):
        return "is a directory, not a file"
    if isinstance(exc, PermissionError):
        return "permission denied"
    return exc.strerror or str(exc)


def _parse_cell(cell: str, name: str, line: int, col: int) -> float:
    text = cell.strip()
    try:
        value = float(text)
    except ValueError:
        if not text:
            raise InputError(f"{name}: row {line}, column {col}: empty cell") from None
        raise InputError(f"{name}: row {line}, column {col}: {text!r} is not a number") from None
    if not math.isfinite(value):
        raise InputError(f"{name}: row {line}, column {col}: {text!r} is not a finite number")
    return value


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _records(f, name: str, csv_format: bool):
    """Yield (line number, cells) for every non-blank record."""
    if csv_format:
        reader = csv.reader(f)
        try:
            for cells in reader:
                # line_num is where the record ends, i.e. the line an editor shows for it
                # (quoted newlines aside, which numeric data does not have).
                if len(cells) <= 1 and all(not c.strip() for c in cells):
                    continue
                yield reader.line_num, cells
        except csv.Error as exc:
            raise InputError(f"{name}: row {reader.line_num}: {_one_line(exc)}") from None
    else:
        for line_no, line in enumerate(f, 1):
            cells = line.split("#", 1)[0].split()
            if cells:
                yield line_no, cells


def _read_text(name: str, csv_format: bool):
    values = array("d")  # flat and compact: a list of Python floats would cost ~4x the memory
    columns = None
    width = width_line = None
    n = 0
    # errors='replace': a stray Latin-1 byte in a header name should not stop the run; in a
    # data cell it still fails, as "not a number", at the right row and column.
    with open(name, newline="" if csv_format else None, encoding="utf-8-sig",
              errors="replace") as f:
        for line, cells in _records(f, name, csv_format):
            if width is None:
                width, width_line = len(cells), line
                if not all(_is_number(c) for c in cells):
                    columns = [c.strip() for c in cells]
                    continue
            if len(cells) != width:
                what = "the header" if columns is not None else "the first row"
                raise InputError(f"{name}: row {line} has {len(cells)} columns but {what} "
                                 f"(row {width_line}) has {width}")
            try:
                row = [float(c) for c in cells]
                ok = math.isfinite(sum(row))  # cheap screen; an overflowing sum is re-checked
            except ValueError:
                ok = False
            if not ok:
                # Slow path, only to say which cell is wrong (it raises unless the screen above
                # was a false alarm).
                row = [_parse_cell(c, name, line, j) for j, c in enumerate(cells, 1)]
            values.extend(row)
            n += 1
    if width is None:
        raise InputError(f"{name}: the file is empty (no data rows)")
    if n == 0:
        raise InputError(f"{name}: no data rows after the header (row {width_line})")
    return np.frombuffer(values, dtype=np.float64).reshape(n, width), columns


def _read_npy(name: str) -> np.ndarray:
    with open(name, "rb") as f:
        magic = f.read(6)
    # np.load falls back to unpickling anything without the .npy magic, and its refusal then
    # talks about trusting pickles, which misleads for a mislabelled text file.
    if magic != b"\x93NUMPY":
        raise InputError(f"{name}: not a .npy file (it does not start with the NumPy header)")
    try:
        arr = np.load(name, allow_pickle=False)
    except ValueError as exc:
        if "pickle" in str(exc):
            raise InputError(f"{name}: the array holds Python objects, not numbers") from None
        raise InputError(f"{name}: not a readable .npy array ({_one_line(exc)})") from None
    except EOFError:
        raise InputError(f"{name}: the .npy file is truncated") from None
    if arr.dtype.kind not in "biuf":
        raise InputError(f"{name}: the array has dtype {arr.dtype}, which is not real numbers")
    if arr.ndim == 1:
        arr = arr.reshape(-1, 1)
    if arr.ndim != 2:
        raise InputError(f"{name}: expected a 1-D or 2-D array, got shape {arr.shape}")
    if arr.shape[0] == 0:
        raise InputError(f"{name}: the array is empty (shape {arr.shape})")
    if arr.shape[1] == 0:
        raise InputError(f"{name}: the array has no columns (shape {arr.shape})")
    X = np.asarray(arr, dtype=np.float64)
    bad = ~np.isfinite(X)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise InputError(f"{name}: row {i + 1}, column {j + 1} (index [{i}, {j}]): "
                         f"{float(X[i, j])!r} is not a finite number")
    return X


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
