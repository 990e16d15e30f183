"""Reading observation files for the command line: ``.csv``, ``.tsv``, ``.txt`` and ``.npy``,
each also gzip-compressed (``.csv.gz``, ...).

Every problem is raised as :class:`InputError` with a one-line message that names the file and,
for text files, the row and column as a user sees them in an editor (1-based line numbers that
count the header, blank and comment lines), so the CLI can print it unchanged. The same row
numbers are kept for every observation (:meth:`Observations.row`), so that later messages
about an observation can use them too.
"""
from __future__ import annotations

import csv
import gzip
import math
import os
from array import array
from dataclasses import dataclass

import numpy as np

__all__ = ["InputError", "Observations", "read_observations", "SUPPORTED_EXTENSIONS",
           "parse_column_list"]

SUPPORTED_EXTENSIONS = (".csv", ".tsv", ".txt", ".npy")
SNIFFED_DELIMITERS = ",;\t|"
_SNIFF_BYTES = 64 * 1024


class InputError(ValueError):
    """A problem with an input file, described in one line that names the file."""


@dataclass(frozen=True)
class Observations:
    """Observations read from a file.

    Attributes
    ----------
    X : ndarray of float64, shape (n, d)
        The values of the data columns, all finite.
    columns : list of str
        The data columns as the user knows them: header names, or "column k" (1-based).
    path : str
        The file, as the user named it.
    lines : ndarray of int64, shape (n,) or None
        The 1-based line of the file each observation was read from (text files), or None
        when observation i is row i + 1 (``.npy``).
    labels : ndarray, shape (n,) or None
        The values of the label column (``label_column``), or None.
    label_name : str or None
        That column, as the user knows it.
    delimiter : str or None
        The column separator of a delimited text file (None: ``.txt`` whitespace or ``.npy``).
    header : bool
        Whether the first row was a header.
    """

    X: np.ndarray
    columns: list[str]
    path: str
    lines: np.ndarray | None = None
    labels: np.ndarray | None = None
    label_name: str | None = None
    delimiter: str | None = None
    header: bool = False

    def row(self, i: int) -> int:
        """The 1-based row (file line) of observation `i` (0-based), as file errors count."""
        return int(self.lines[i]) if self.lines is not None else int(i) + 1


def parse_column_list(text: str) -> list[str]:
    """Split an option value such as ``'id,2,5'`` into items (names or 1-based numbers)."""
    items = [item.strip() for item in text.split(",")]
    if not all(items):
        raise ValueError(f"{text!r}: an empty column name or number")
    return items


def _split_extension(name: str) -> tuple[str, bool]:
    """The data extension (lower case) and whether the file is gzip-compressed."""
    base, ext = os.path.splitext(name)
    compressed = ext.lower() == ".gz"
    if compressed:
        ext = os.path.splitext(base)[1]
    return ext.lower(), compressed


def read_observations(path, *, min_rows: int = 2, columns=None, exclude=None,
                      label_column=None, delimiter=None) -> Observations:
    """Read an (n, d) array of observations from a ``.csv``, ``.tsv``, ``.txt`` or ``.npy`` file.

    Parameters
    ----------
    path : str or os.PathLike
        ``.csv``: delimited, the delimiter sniffed (``csv.Sniffer``) among comma, semicolon,
        tab and ``|`` (comma when it cannot tell). ``.tsv``: tab separated. ``.txt``:
        whitespace separated, ``#`` starts a comment. Text files have a header row when any
        data cell of their first non-blank row is not a number. ``.npy``: a 1-D (one column)
        or 2-D numeric array. Any of them may be gzip-compressed (``.csv.gz``). Extensions are
        matched case-insensitively.
    min_rows : int
        Fewer observations than this is an error (clustering needs 2).
    columns, exclude : list of str, optional
        The data columns (default: all), or the columns left out; each item a header name or a
        1-based column number. Only the data columns are parsed as numbers.
    label_column : str, optional
        A column (name or number) of known classes, kept out of the data and returned as
        ``labels`` (strings; numbers for ``.npy``).
    delimiter : str, optional
        The separator of a ``.csv`` or ``.tsv`` file, instead of the sniffed or default one.

    Returns
    -------
    Observations
        The float64 values, the column names, the rows they came from and the labels.

    Raises
    ------
    InputError
        Missing or unreadable file, unknown extension, empty file, a cell that is not a number
        or not finite, rows of different lengths, too few rows, an unknown column. The message
        is one line.
    """
    name = os.fspath(path)
    ext, compressed = _split_extension(name)
    if ext not in SUPPORTED_EXTENSIONS:
        shown = ext + ".gz" if compressed else ext
        kind = f"unknown file type {shown!r}" if shown else "no file extension"
        raise InputError(f"{name}: {kind}; expected one of "
                         + ", ".join(SUPPORTED_EXTENSIONS) + " (optionally .gz)")
    if delimiter is not None and ext not in (".csv", ".tsv"):
        raise InputError(f"{name}: --delimiter applies to .csv and .tsv files")
    select = _Selection(name, columns, exclude, label_column)
    try:
        if ext == ".npy":
            obs = _read_npy(name, compressed, select)
        else:
            obs = _read_text(name, compressed, select, ext, delimiter)
    except OSError as exc:
        raise InputError(f"{name}: {_describe_os_error(exc)}") from None
    except EOFError:
        raise InputError(f"{name}: the compressed file is truncated") from None
    except MemoryError:
        raise InputError(f"{name}: not enough memory to read the file") from None
    if obs.X.shape[0] < min_rows:
        raise InputError(f"{name}: needs at least {min_rows} observations (rows), "
                         f"found {obs.X.shape[0]}")
    return obs


class _Selection:
    """--columns / --exclude / --label-column, resolved against a file's width and header."""

    def __init__(self, name: str, columns, exclude, label_column):
        if columns is not None and exclude is not None:
            raise InputError("--columns and --exclude cannot be combined")
        self.name = name
        self.columns = list(columns) if columns is not None else None
        self.exclude = list(exclude) if exclude is not None else []
        self.label = label_column
        items = (self.columns or []) + self.exclude + ([label_column] if label_column else [])
        self.needs_header = any(not item.isdigit() for item in items)

    def _index(self, item: str, header: list[str] | None, width: int, option: str) -> int:
        if item.isdigit():
            k = int(item)
            if not 1 <= k <= width:
                raise InputError(f"{self.name}: {option} {item}: the file has columns 1 to "
                                 f"{width}")
            return k - 1
        if header is None:
            raise InputError(f"{self.name}: {option} {item!r}: the file has no header row, "
                             "so columns are chosen by number (1-based)")
        if header.count(item) != 1:
            what = "is not" if item not in header else "is more than one"
            raise InputError(f"{self.name}: {option} {item!r} {what} a column of the header "
                             "(" + ", ".join(repr(h) for h in header) + ")")
        return header.index(item)

    def label_index(self, header, width: int) -> int | None:
        if self.label is None:
            return None
        return self._index(self.label, header, width, "--label-column")

    def data_indices(self, header, width: int) -> list[int]:
        """The data columns (0-based, in the file's order unless --columns says otherwise)."""
        label = self.label_index(header, width)
        if self.columns is not None:
            chosen = [self._index(c, header, width, "--columns") for c in self.columns]
            if len(set(chosen)) != len(chosen):
                raise InputError(f"{self.name}: --columns names a column twice")
            if label is not None and label in chosen:
                raise InputError(f"{self.name}: the label column is also one of --columns")
        else:
            dropped = {self._index(c, header, width, "--exclude") for c in self.exclude}
            chosen = [j for j in range(width) if j not in dropped and j != label]
        if not chosen:
            raise InputError(f"{self.name}: no data columns are left")
        return chosen

    def first_row_is_header(self, cells: list[str]) -> bool:
        """Today's rule, on the data cells only: a header when any of them is not a number
        (so a text id or label column does not make the first data row a header)."""
        if self.needs_header:
            return True
        width = len(cells)
        try:
            data = self.data_indices(None, width)
        except InputError:
            data = range(width)  # reported properly once the header question is settled
        return not all(_is_number(cells[j]) for j in data)


def _describe_os_error(exc: OSError) -> str:
    if isinstance(exc, gzip.BadGzipFile):
        return "not a gzip file, although its name ends in .gz"
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


def _records(f, name: str, delimiter: str | None):
    """Yield (line number, cells) for every non-blank record (`delimiter` None: whitespace
    separated with # comments)."""
    if delimiter is not None:
        reader = csv.reader(f, delimiter=delimiter)
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


def _open_text(name: str, compressed: bool, delimited: bool):
    # errors='replace': a stray Latin-1 byte in a header name or an id column should not stop
    # the run; in a data cell it still fails, as "not a number", at the right row and column.
    kwargs = dict(newline="" if delimited else None, encoding="utf-8-sig", errors="replace")
    if compressed:
        return gzip.open(name, "rt", **kwargs)
    return open(name, **kwargs)


def _sniff_delimiter(f) -> str:
    sample = f.read(_SNIFF_BYTES)
    f.seek(0)
    if len(sample) == _SNIFF_BYTES and "\n" in sample:
        sample = sample[:sample.rindex("\n")]  # whole lines only
    try:
        return csv.Sniffer().sniff(sample, delimiters=SNIFFED_DELIMITERS).delimiter
    except csv.Error:  # one column, or nothing to tell the candidates apart
        return ","


def _read_text(name: str, compressed: bool, select: _Selection, ext: str,
               delimiter: str | None) -> Observations:
    values = array("d")  # flat and compact: a list of Python floats would cost ~4x the memory
    lines = array("q")
    labels = []
    header = None
    width = width_line = None
    with _open_text(name, compressed, delimited=ext != ".txt") as f:
        if ext == ".csv" and delimiter is None:
            delimiter = _sniff_delimiter(f)
        elif ext == ".tsv" and delimiter is None:
            delimiter = "\t"
        for line, cells in _records(f, name, delimiter):
            if width is None:
                width, width_line = len(cells), line
                if select.first_row_is_header(cells):
                    header = [c.strip() for c in cells]
                data = select.data_indices(header, width)
                label = select.label_index(header, width)
                if header is not None:
                    continue
            if len(cells) != width:
                what = "the header" if header is not None else "the first row"
                raise InputError(f"{name}: row {line} has {len(cells)} columns but {what} "
                                 f"(row {width_line}) has {width}")
            try:
                row = [float(cells[j]) for j in data]
                ok = math.isfinite(sum(row))  # cheap screen; an overflowing sum is re-checked
            except ValueError:
                ok = False
            if not ok:
                # Slow path, only to say which cell is wrong (it raises unless the screen above
                # was a false alarm).
                row = [_parse_cell(cells[j], name, line, j + 1) for j in data]
            values.extend(row)
            lines.append(line)
            if label is not None:
                labels.append(cells[label].strip())
    if width is None:
        raise InputError(f"{name}: the file is empty (no data rows)")
    n = len(lines)
    if n == 0:
        raise InputError(f"{name}: no data rows after the header (row {width_line})")
    X = np.frombuffer(values, dtype=np.float64).reshape(n, len(data))
    return Observations(
        X, _column_names(header, data), name, lines=np.frombuffer(lines, dtype=np.int64),
        labels=np.array(labels) if label is not None else None,
        label_name=_column_names(header, [label])[0] if label is not None else None,
        delimiter=delimiter, header=header is not None)


def _column_names(header, indices) -> list[str]:
    if header is None:
        return [f"column {j + 1}" for j in indices]
    return [header[j] or f"column {j + 1}" for j in indices]


def _load_npy(name: str, compressed: bool) -> np.ndarray:
    opener = gzip.open if compressed else open
    with opener(name, "rb") as f:
        magic = f.read(6)
        # np.load falls back to unpickling anything without the .npy magic, and its refusal
        # then talks about trusting pickles, which misleads for a mislabelled text file.
        if magic != b"\x93NUMPY":
            raise InputError(f"{name}: not a .npy file (it does not start with the NumPy "
                             "header)")
        f.seek(0)
        try:
            return np.load(f, allow_pickle=False)
        except ValueError as exc:
            if "pickle" in str(exc):
                raise InputError(f"{name}: the array holds Python objects, not numbers") from None
            raise InputError(f"{name}: not a readable .npy array ({_one_line(exc)})") from None
        except EOFError:
            raise InputError(f"{name}: the .npy file is truncated") from None


def _read_npy(name: str, compressed: bool, select: _Selection) -> Observations:
    arr = _load_npy(name, compressed)
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
    if select.needs_header:
        raise InputError(f"{name}: a .npy file has no column names; choose columns by number "
                         "(1-based)")
    data = select.data_indices(None, arr.shape[1])
    label = select.label_index(None, arr.shape[1])
    X = np.asarray(arr[:, data] if len(data) < arr.shape[1] else arr, dtype=np.float64)
    bad = ~np.isfinite(X)
    if bad.any():
        i, k = np.argwhere(bad)[0]
        j = data[k]
        raise InputError(f"{name}: row {i + 1}, column {j + 1} (index [{i}, {j}]): "
                         f"{float(X[i, k])!r} is not a finite number")
    return Observations(X, _column_names(None, data), name,
                        labels=arr[:, label] if label is not None else None,
                        label_name=f"column {label + 1}" if label is not None else None)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
