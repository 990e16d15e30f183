"""The ``gpuhclust`` command: ``demo`` (the tutorial) and ``cluster`` (a data file).

Every expected failure (a bad file, a bad option value, an input ``linkage`` rejects, too
little memory) becomes one line on stderr and exit status 2, the status argparse uses for
usage errors, so scripts can tell "your input" from "crashed". Anything else is a bug and keeps
its traceback. Ctrl-C gives one line and exit status 130.

No file is destroyed: an output that is the input or another output (however spelled) is
refused before anything runs, and each output is written under a temporary name and renamed
into place when complete (``gpuhclust._outputs``).
"""
from __future__ import annotations

import argparse
import math
import os
import sys
from contextlib import contextmanager

import numpy as np

from ._startup import INTERRUPTED

__all__ = ["main"]

PROG = "gpuhclust"
_MAX_SIZES_SHOWN = 20


class UsageError(Exception):
    """An expected failure, reported as ``gpuhclust: <message>`` and exit status 2."""


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _column_list(text: str) -> list[str]:
    from ._io import parse_column_list

    try:
        return parse_column_list(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _delimiter(text: str) -> str:
    text = "\t" if text.lower() in ("tab", "\\t") else text
    if len(text) != 1:
        raise argparse.ArgumentTypeError(f"{text!r}: one character (or 'tab')")
    return text


def _build_parser() -> argparse.ArgumentParser:
    from . import METHODS, __version__
    from ._backends import registered_backends

    methods = sorted(METHODS)
    # the registered names: asking each whether it runs here would import them all (Numba,
    # Dask) on every invocation; an unusable one is refused with its reason when asked for
    backends = ", ".join(["auto"] + registered_backends())
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Exact hierarchical clustering on CUDA GPUs and fast CPUs; the linkage "
                    "matrix equals scipy.cluster.hierarchy.linkage's.")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    demo = sub.add_parser(
        "demo", help="cluster three Gaussian blobs and plot them (SciPy's tutorial workflow)",
        description="Three 2-D Gaussian blobs -> whiten -> gpuhclust.linkage -> "
                    "fcluster(Z, 3, 'maxclust'); prints the cluster sizes and the linkage time "
                    "and writes clusters.png and dendrogram.png.")
    demo.add_argument("--out", metavar="DIR", default=".",
                      help="folder for the two PNGs, created if missing (default: the current "
                           "folder)")
    demo.add_argument("--n", type=int, default=300, metavar="N",
                      help="number of points, at least 3 (default: 300)")
    demo.add_argument("--method", choices=methods, default="ward", metavar="METHOD",
                      help="linkage method: " + ", ".join(methods) + " (default: ward)")
    demo.add_argument("--backend", default="auto",
                      help=f"backend: {backends} (default: auto)")
    demo.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    demo.set_defaults(func=_cmd_demo)

    warm = sub.add_parser(
        "warmup", help="compile the CPU code of every method now (once per install)",
        description="Numba compiles gpuhclust's CPU code on first use and caches it on disk; "
                    "this compiles every method, engine and storage type up front, so that "
                    "no later first call waits for it.")
    warm.set_defaults(func=_cmd_warmup)

    cl = sub.add_parser(
        "cluster", help="cluster the rows of a .csv, .tsv, .txt or .npy file (or .gz)",
        description="Read observations (rows) from INPUT, cluster them with gpuhclust.linkage "
                    "and cut the tree with scipy's fcluster. Prints a summary; writes labels, "
                    "Z and plots only where asked.")
    cl.add_argument("input", metavar="INPUT",
                    help=".csv (delimiter sniffed: comma, semicolon, tab or |; header row "
                         "optional), .tsv (tab separated), .txt (whitespace separated, # "
                         "comments) or .npy (1-D or 2-D numeric array); any of them gzipped "
                         "(.csv.gz, ...)")
    pick = cl.add_mutually_exclusive_group()
    pick.add_argument("--columns", metavar="LIST", type=_column_list,
                      help="the data columns, comma separated header names or 1-based "
                           "numbers, e.g. 'x,y' or '2,3,5' (default: all but --label-column)")
    pick.add_argument("--exclude", metavar="LIST", type=_column_list,
                      help="columns to leave out (an id column, say), names or 1-based numbers")
    cl.add_argument("--label-column", metavar="COLUMN",
                    help="a column of known classes (name or 1-based number): kept out of the "
                         "data, compared with the clusters (adjusted Rand index) and shown by "
                         "marker in --plot")
    cl.add_argument("--delimiter", metavar="CHAR", type=_delimiter,
                    help="the separator of a .csv or .tsv file (default: sniffed for .csv, "
                         "tab for .tsv); 'tab' for a tab")
    cl.add_argument("--method", choices=methods, default="single", metavar="METHOD",
                    help="linkage method: " + ", ".join(methods) + " (default: single)")
    cl.add_argument("--metric", default="euclidean",
                    help="any scipy.spatial.distance.pdist metric name (default: euclidean; "
                         "centroid, median and ward need euclidean)")
    cut = cl.add_mutually_exclusive_group(required=True)
    cut.add_argument("--maxclust", type=int, metavar="K",
                     help="at most K flat clusters: fcluster(Z, K, 'maxclust')")
    cut.add_argument("--distance", type=float, metavar="T",
                     help="cut at height T: fcluster(Z, T, 'distance')")
    cl.add_argument("--whiten", action="store_true",
                    help="scale every column to unit variance first (scipy's whiten)")
    cl.add_argument("--out", metavar="CSV",
                    help="write the labels (header 'label', one per row) to this CSV file")
    cl.add_argument("--linkage-out", metavar="NPY",
                    help="save the linkage matrix Z with numpy.save to this file")
    cl.add_argument("--plot", metavar="PNG",
                    help="scatter plot coloured by cluster: the two columns (d == 2), the "
                         "first two principal components (d > 2) or the values against the "
                         "row (d == 1)")
    cl.add_argument("--dendrogram", metavar="PNG",
                    help="dendrogram, truncated to the last 30 merges when n > 50")
    cl.add_argument("--backend", default="auto", help=f"backend: {backends} (default: auto)")
    cl.add_argument("--dtype", choices=["float32", "float64"],
                    help="storage of the distances: float32 halves the memory (default: "
                         "float64)")
    cl.add_argument("--engine", choices=["auto", "matrix", "vector"], default="auto",
                    help="matrix: the n x n distance matrix (every method); vector: from the "
                         "observations in O(n*d) memory (single, and ward/centroid/median with "
                         "the euclidean metric), for data whose matrix does not fit; auto: the "
                         "matrix when it fits, else vector (default: auto)")
    cl.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                    help="show a progress bar on stderr (default: only for long runs when "
                         "stderr is a terminal)")
    cl.set_defaults(func=_cmd_cluster)
    return parser


def _resolve_backend(name: str) -> str:
    """`name` checked ('auto' stays: the plan chooses, knowing the input; the summary
    reports the backend that ran)."""
    from ._backends import get_backend

    if name == "auto":
        return name
    try:
        return get_backend(name).name
    except (ValueError, RuntimeError) as exc:
        raise UsageError(_one_line(exc)) from None


def _format_seconds(seconds: float) -> str:
    return f"{seconds * 1e3:.3g} ms" if seconds < 1 else f"{seconds:.3g} s"


def _format_sizes(labels: np.ndarray) -> str:
    clusters, sizes = np.unique(labels, return_counts=True)
    shown = ", ".join(f"{k}: {s}" for k, s in
                      zip(clusters[:_MAX_SIZES_SHOWN], sizes[:_MAX_SIZES_SHOWN]))
    if len(clusters) > _MAX_SIZES_SHOWN:
        shown += f", ... ({len(clusters) - _MAX_SIZES_SHOWN} more)"
    return shown


def _print_summary(rows: list[tuple[str, object]], labels: np.ndarray) -> None:
    rows = rows + [("clusters", len(np.unique(labels))), ("sizes", _format_sizes(labels))]
    width = max(len(k) for k, _ in rows) + 2
    for key, value in rows:
        print(f"{key + ':':<{width}}{value}")


class _LinkageValueError(UsageError):
    """linkage refused the input; ``__cause__`` is its ValueError."""


@contextmanager
def _linkage_errors(name: str):
    """Turn what ``linkage`` raises for bad input into one-line UsageErrors naming `name`."""
    try:
        yield
    except MemoryError as exc:
        raise UsageError(f"{name}: not enough memory: {_one_line(exc)}") from None
    except ValueError as exc:
        raise _LinkageValueError(f"{name}: {_one_line(exc)}") from exc


@contextmanager
def _writing(path: str):
    """Turn a failure to write `path` into a one-line UsageError."""
    try:
        yield
    except OSError as exc:
        raise UsageError(f"{path}: cannot write: {exc.strerror or _one_line(exc)}") from None


def _cmd_warmup(args) -> int:
    from ._warmup import warmup

    seconds = warmup()
    print(f"gpuhclust warmup: compiled in {_format_seconds(seconds)}" if seconds > 0 else
          "gpuhclust warmup: everything was compiled already")
    return 0


def _cmd_demo(args) -> int:
    from ._demo import run_demo

    backend = _resolve_backend(args.backend)
    if args.n < 3:
        raise UsageError(f"--n must be at least 3 (three blobs), got {args.n}")
    with _linkage_errors("demo"), _writing(args.out):
        result = run_demo(args.out, n=args.n, method=args.method, backend=backend,
                          seed=args.seed)
    print(f"gpuhclust demo: three Gaussian blobs (seed {args.seed}), whiten, linkage, "
          "fcluster(Z, 3, 'maxclust')")
    _print_summary([("n", result.n), ("method", result.method), ("backend", result.backend),
                    *_run_rows(result.run)], result.labels)
    for path in result.paths:
        print(f"wrote {path}")
    return 0


def _run_rows(run, requested_engine: str | None = None) -> list[tuple[str, object]]:
    """Summary rows saying how linkage ran: what the backend reports, not what was asked."""
    engine = run.engine + (" (chosen by auto)" if requested_engine == "auto" else "")
    rows = [("engine", engine)]
    if run.algorithm is not None:
        rows.append(("algorithm", run.algorithm))
    return rows + [("time", _format_seconds(run.seconds) + " (linkage)")]


def _check_cluster_options(args) -> None:
    if args.maxclust is not None and args.maxclust < 1:
        raise UsageError(f"--maxclust must be a positive integer, got {args.maxclust}")
    if args.distance is not None and not (math.isfinite(args.distance) and args.distance >= 0):
        raise UsageError(f"--distance must be a finite number >= 0, got {args.distance}")
    from ._plots import check_image_path

    for option in ("plot", "dendrogram"):
        path = getattr(args, option)
        if path is not None:
            try:
                check_image_path(path)
            except ValueError as exc:
                raise UsageError(f"--{option} {exc}") from None


_OUTPUT_OPTIONS = ("out", "linkage_out", "plot", "dendrogram")


def _option(name: str) -> str:
    return "--" + name.replace("_", "-")


def _check_distinct_files(args) -> None:
    """Refuse an output that is the input or another output, however it is spelled: writing
    it would destroy the data or one of the results."""
    from ._outputs import same_file_clashes

    paths = [("the input", args.input)] + [
        (_option(o), getattr(args, o)) for o in _OUTPUT_OPTIONS if getattr(args, o) is not None]
    for role, path, earlier_role, earlier_path in same_file_clashes(paths):
        spelled = "" if path == earlier_path else f" ({earlier_path})"
        raise UsageError(f"{role} {path} is the same file as {earlier_role}{spelled}; choose "
                         "another name (nothing was written)")


def _prepare_outputs(args) -> None:
    # Before clustering, which may take long: create missing folders and refuse a folder as a
    # file name, so the run does not end in a write error.
    for option in _OUTPUT_OPTIONS:
        path = getattr(args, option)
        if path is None:
            continue
        if os.path.isdir(path):
            raise UsageError(f"{path}: is a directory; {_option(option)} needs a file name")
        parent = os.path.dirname(path)
        if parent:
            with _writing(parent):
                os.makedirs(parent, exist_ok=True)


class Interrupted(Exception):
    """Ctrl-C while the outputs were written; the message lists those completed."""


def _read_input(args):
    from ._io import InputError, read_observations

    try:
        return read_observations(args.input, columns=args.columns, exclude=args.exclude,
                                 label_column=args.label_column, delimiter=args.delimiter)
    except InputError as exc:
        raise UsageError(str(exc)) from None


def _non_finite_message(exc: ValueError, obs, X, metric: str) -> str | None:
    """linkage's refusal of a non-finite distance, naming the rows as file errors do.

    The pair comes from the exception when the library attaches it (``exc.pair``, 0-based),
    otherwise from a search of the observations: the message is only recognised by its
    phrase "non-finite distance", never parsed for numbers. None: not this error, or the
    search found no such pair (the library's own message is then shown).
    """
    pair = getattr(exc, "pair", None)
    value = getattr(exc, "value", None)
    if pair is None:
        if "non-finite distance" not in str(exc):
            return None
        from ._nonfinite import first_non_finite_pair

        found = first_non_finite_pair(X, metric)
        if found is None:
            return None
        *pair, value = found
    i, j = (int(v) for v in pair)
    shown = f" ({value})" if value is not None else ""
    return (f"{obs.path}: the {metric} distance between rows {obs.row(i)} and {obs.row(j)} is "
            f"not finite{shown}; linkage needs finite distances (another metric, or leave "
            "those rows out)")


def _plot_axes(obs, X, whitened: bool):
    """What the scatter shows: the columns (d <= 2) or the first two principal components."""
    n, d = X.shape
    suffix = " (whitened)" if whitened else ""
    if d == 1:
        return X, "row", obs.columns[0] + suffix, ""
    if d == 2:
        return X, obs.columns[0] + suffix, obs.columns[1] + suffix, ""
    from ._plots import principal_components

    scores, explained = principal_components(X)
    of = f"of the {d} whitened columns" if whitened else f"of the {d} columns"
    return (scores, f"PC 1 ({100 * explained[0]:.0f}% of variance)",
            f"PC 2 ({100 * explained[1]:.0f}% of variance)", f" (PCA {of})")


def _label_rows(obs, labels) -> list[tuple[str, object]]:
    if obs.labels is None:
        return []
    from ._scores import adjusted_rand_index

    classes = len(np.unique(obs.labels))
    return [("label column", f"{obs.label_name!r}, {classes} classes: adjusted Rand index "
             f"{adjusted_rand_index(obs.labels, labels):.3f} against the clusters")]


def _write_outputs(args, obs, X, Z, labels, cut, written: list) -> None:
    """Write what was asked for, each file complete or not at all, appending to `written`."""
    from ._outputs import replacing
    from ._plots import plot_clusters, plot_dendrogram

    def done(path):
        written.append(path)
        print(f"wrote {path}", flush=True)

    n = X.shape[0]
    if args.out is not None:
        with _writing(args.out), replacing(args.out, "w") as f:
            np.savetxt(f, labels, fmt="%d", header="label", comments="")
        done(args.out)
    if args.linkage_out is not None:
        # Through a file object so the name is used as given (np.save would append .npy).
        with _writing(args.linkage_out), replacing(args.linkage_out, "wb") as f:
            np.save(f, Z)
        done(args.linkage_out)
    if args.plot is not None:
        shown, xlabel, ylabel, what = _plot_axes(obs, X, args.whiten)
        title = f"{args.method} linkage, n = {n}: {len(np.unique(labels))} clusters{what}"
        with _writing(args.plot):
            plot_clusters(shown, labels, args.plot, title=title, xlabel=xlabel, ylabel=ylabel,
                          classes=obs.labels, class_name=obs.label_name or "class")
        done(args.plot)
    if args.dendrogram is not None:
        with _writing(args.dendrogram):
            plot_dendrogram(Z, args.dendrogram, labels=labels, cut=cut,
                            title=f"{args.method} linkage, n = {n}")
        done(args.dendrogram)


def _cmd_cluster(args) -> int:
    from . import fcluster, whiten
    from ._demo import timed_linkage
    from ._plots import cut_height

    _check_cluster_options(args)
    _check_distinct_files(args)
    backend = _resolve_backend(args.backend)
    obs = _read_input(args)
    _prepare_outputs(args)
    X = obs.X
    n, d = X.shape
    if args.whiten:
        X = whiten(X)
    try:
        with _linkage_errors(obs.path):
            run = timed_linkage(X, args.method, backend=backend, metric=args.metric,
                                dtype=args.dtype, progress=args.progress, engine=args.engine)
    except _LinkageValueError as exc:
        raise UsageError(_non_finite_message(exc.__cause__, obs, X, args.metric)
                         or str(exc)) from None
    Z = run.Z
    if args.maxclust is not None:
        labels = fcluster(Z, args.maxclust, "maxclust")
        cut = cut_height(Z, args.maxclust)
    else:
        labels = fcluster(Z, args.distance, "distance")
        cut = args.distance

    rows = [("input", obs.path), ("n", n), ("d", d)]
    if args.columns or args.exclude or args.label_column:
        rows.append(("columns", ", ".join(obs.columns)))
    rows += [("method", args.method), ("metric", args.metric),
             ("backend", run.backend or backend),
             *_run_rows(run, args.engine), *_label_rows(obs, labels)]
    _print_summary(rows, labels)
    written = []
    try:
        _write_outputs(args, obs, X, Z, labels, cut, written)
    except KeyboardInterrupt:
        raise Interrupted("completed before it: " + ", ".join(written) if written
                          else "no output file was completed") from None
    return 0


def main(argv=None) -> int:
    """Run the ``gpuhclust`` command line.

    Parameters
    ----------
    argv : list of str, optional
        Arguments without the program name; default ``sys.argv[1:]``.

    Returns
    -------
    int
        Exit status: 0 on success, 2 for a usage error or bad input (one line on stderr),
        130 when interrupted.
    """
    try:
        parser = _build_parser()
        try:
            args = parser.parse_args(argv)
        except SystemExit as exc:  # --help, --version, usage errors: argparse already printed
            return exc.code if isinstance(exc.code, int) else 2
        return args.func(args)
    except UsageError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    except Interrupted as exc:
        print(f"{PROG}: interrupted; {exc}", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print(INTERRUPTED, file=sys.stderr)
        return 130
