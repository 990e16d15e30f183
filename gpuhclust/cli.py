"""The ``gpuhclust`` command: ``demo`` (the tutorial) and ``cluster`` (a data file).

Every expected failure (a bad file, a bad option value, an input ``linkage`` rejects, too
little memory) becomes one line on stderr and exit status 2, the status argparse uses for
usage errors, so scripts can tell "your input" from "crashed". Anything else is a bug and keeps
its traceback.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
from contextlib import contextmanager

import numpy as np

__all__ = ["main"]

PROG = "gpuhclust"
_MAX_SIZES_SHOWN = 20


class UsageError(Exception):
    """An expected failure, reported as ``gpuhclust: <message>`` and exit status 2."""


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _build_parser() -> argparse.ArgumentParser:
    from . import METHODS, __version__, available_backends

    methods = sorted(METHODS)
    backends = ", ".join(["auto"] + available_backends())
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

    cl = sub.add_parser(
        "cluster", help="cluster the rows of a .csv, .txt or .npy file",
        description="Read observations (rows) from INPUT, cluster them with gpuhclust.linkage "
                    "and cut the tree with scipy's fcluster. Prints a summary; writes labels, "
                    "Z and plots only where asked.")
    cl.add_argument("input", metavar="INPUT",
                    help=".csv (comma separated, header row optional), .txt (whitespace "
                         "separated, # comments) or .npy (1-D or 2-D numeric array)")
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
                    help="scatter plot of the first two columns (d == 1: against the row), "
                         "coloured by cluster")
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
    from ._backends import get_backend

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


@contextmanager
def _linkage_errors(name: str):
    """Turn what ``linkage`` raises for bad input into one-line UsageErrors naming `name`."""
    try:
        yield
    except MemoryError as exc:
        raise UsageError(f"{name}: not enough memory: {_one_line(exc)}") from None
    except ValueError as exc:
        raise UsageError(f"{name}: {_one_line(exc)}") from None


@contextmanager
def _writing(path: str):
    """Turn a failure to write `path` into a one-line UsageError."""
    try:
        yield
    except OSError as exc:
        raise UsageError(f"{path}: cannot write: {exc.strerror or _one_line(exc)}") from None


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
                    ("time", _format_seconds(result.seconds) + " (linkage)")], result.labels)
    for path in result.paths:
        print(f"wrote {path}")
    return 0


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


def _prepare_outputs(args) -> None:
    # Before clustering, which may take long: create missing folders and refuse a folder as a
    # file name, so the run does not end in a write error.
    for option in ("out", "linkage_out", "plot", "dendrogram"):
        path = getattr(args, option)
        if path is None:
            continue
        if os.path.isdir(path):
            raise UsageError(f"{path}: is a directory; --{option.replace('_', '-')} needs a "
                             "file name")
        parent = os.path.dirname(path)
        if parent:
            with _writing(parent):
                os.makedirs(parent, exist_ok=True)


def _cmd_cluster(args) -> int:
    from . import fcluster, whiten
    from ._demo import timed_linkage
    from ._io import InputError, read_observations
    from ._plots import cut_height, plot_clusters, plot_dendrogram

    _check_cluster_options(args)
    backend = _resolve_backend(args.backend)
    try:
        obs = read_observations(args.input)
    except InputError as exc:
        raise UsageError(str(exc)) from None
    _prepare_outputs(args)
    X = obs.X
    n, d = X.shape
    if args.whiten:
        X = whiten(X)
    with _linkage_errors(obs.path):
        Z, seconds = timed_linkage(X, args.method, backend=backend, metric=args.metric,
                                   dtype=args.dtype, progress=args.progress,
                                   engine=args.engine)
    if args.maxclust is not None:
        labels = fcluster(Z, args.maxclust, "maxclust")
        cut = cut_height(Z, args.maxclust)
    else:
        labels = fcluster(Z, args.distance, "distance")
        cut = args.distance

    _print_summary([("input", obs.path), ("n", n), ("d", d), ("method", args.method),
                    ("metric", args.metric), ("backend", backend), ("engine", args.engine),
                    ("time", _format_seconds(seconds) + " (linkage)")], labels)
    written = []
    if args.out is not None:
        with _writing(args.out), open(args.out, "w") as f:
            np.savetxt(f, labels, fmt="%d", header="label", comments="")
        written.append(args.out)
    if args.linkage_out is not None:
        # Through a file object so the name is used as given (np.save would append .npy).
        with _writing(args.linkage_out), open(args.linkage_out, "wb") as f:
            np.save(f, Z)
        written.append(args.linkage_out)
    if args.plot is not None:
        if d > 1:
            xlabel, ylabel = obs.columns[:2] if obs.columns else ("column 1", "column 2")
        else:
            xlabel, ylabel = "row", obs.columns[0] if obs.columns else "column 1"
        if args.whiten:
            ylabel += " (whitened)"
            if d > 1:
                xlabel += " (whitened)"
        title = f"{args.method} linkage, n = {n}: {len(np.unique(labels))} clusters"
        if d > 2:
            title += f" (columns 1-2 of {d})"
        with _writing(args.plot):
            written.append(plot_clusters(X, labels, args.plot, title=title, xlabel=xlabel,
                                         ylabel=ylabel))
    if args.dendrogram is not None:
        with _writing(args.dendrogram):
            written.append(plot_dendrogram(Z, args.dendrogram, labels=labels, cut=cut,
                                           title=f"{args.method} linkage, n = {n}"))
    for path in written:
        print(f"wrote {path}")
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
    parser = _build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors: argparse already printed
        return exc.code if isinstance(exc.code, int) else 2
    try:
        return args.func(args)
    except UsageError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
