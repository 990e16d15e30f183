"""Plots for the command line: a scatter of the flat clusters and a dendrogram.

Figures are built with ``matplotlib.figure.Figure`` on an Agg canvas rather than through
pyplot, so nothing here touches matplotlib's global backend or leaves figures open in a
caller's session. Both plots colour cluster k the same way, so a reader can match the
dendrogram's subtrees to the points.
"""
from __future__ import annotations

import os
import sys
from contextlib import contextmanager

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from scipy.cluster.hierarchy import dendrogram, maxdists

from ._outputs import replacing

__all__ = ["plot_clusters", "plot_dendrogram", "cut_height", "recursion_limit",
           "check_image_path", "principal_components"]

_ABOVE_CUT = "#555555"  # links that join different flat clusters
# Leaves shown by a truncated dendrogram, and the size above which it is truncated: beyond a
# few dozen leaves the labels overlap and the picture stops being readable.
TRUNCATE_P = 30
TRUNCATE_ABOVE = 50
# Known classes (--label-column) are drawn with these markers; with more classes they are not
# drawn, as a dozen marker shapes can no longer be told apart.
CLASS_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">")


def _palette(n_clusters: int) -> list[str]:
    from matplotlib import colormaps

    name = "tab10" if n_clusters <= 10 else "tab20"
    return [to_hex(c) for c in colormaps[name].colors]


def _cluster_color(label: int, palette: list[str]) -> str:
    return palette[(int(label) - 1) % len(palette)]


def check_image_path(path) -> None:
    """Raise ValueError unless matplotlib can write an image with `path`'s extension.

    Parameters
    ----------
    path : str or os.PathLike
        Where a plot will go; checked before a long clustering run rather than after it.
    """
    ext = os.path.splitext(os.fspath(path))[1].lower().lstrip(".")
    supported = FigureCanvasAgg.get_supported_filetypes()
    if ext not in supported:
        raise ValueError(f"{os.fspath(path)}: cannot write a plot with extension {ext!r}; use "
                         + ", ".join("." + e for e in sorted(supported)))


def _save(fig: Figure, path) -> str:
    path = os.fspath(path)
    parent = os.path.dirname(path)
    if parent:
        os.makedirs(parent, exist_ok=True)
    FigureCanvasAgg(fig)
    fmt = os.path.splitext(path)[1].lower().lstrip(".")
    # Under a temporary name first: an interrupted save leaves the previous image intact.
    with replacing(path, "wb") as f:
        fig.savefig(f, format=fmt, dpi=120)
    return path


def principal_components(X, k: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Project observations on their first `k` principal components.

    Parameters
    ----------
    X : array_like, shape (n, d)
        Observations, d >= k.
    k : int
        Number of components.

    Returns
    -------
    scores : ndarray, shape (n, k)
        The centred observations on each component; each component's sign is chosen so that
        its largest loading is positive, so the picture does not flip between runs.
    explained : ndarray, shape (k,)
        The fraction of the total variance along each component (0 when all points coincide).
    """
    X = np.asarray(X, dtype=np.float64)
    centred = X - X.mean(axis=0)
    # The d x d scatter matrix rather than an SVD of the n x d data: n can be millions.
    variances, vectors = np.linalg.eigh(centred.T @ centred)
    order = np.argsort(variances)[::-1][:k]
    vectors = vectors[:, order]
    signs = np.sign(vectors[np.abs(vectors).argmax(axis=0), np.arange(k)])
    vectors = vectors * np.where(signs == 0, 1.0, signs)
    total = float(np.clip(variances, 0, None).sum())
    explained = np.clip(variances[order], 0, None) / total if total > 0 else np.zeros(k)
    return centred @ vectors, explained


def plot_clusters(X, labels, path, *, title: str = "", xlabel: str | None = None,
                  ylabel: str | None = None, classes=None, class_name: str = "class") -> str:
    """Scatter plot of observations coloured by flat cluster.

    Parameters
    ----------
    X : array_like, shape (n, d)
        Observations; the first two columns are plotted, or for d == 1 the values against
        their row index.
    labels : array_like of int, shape (n,)
        Flat cluster labels from ``fcluster`` (1-based).
    path : str or os.PathLike
        Image file to write (the format follows the extension); missing folders are created.
    title : str
        Figure title.
    xlabel, ylabel : str, optional
        Axis labels; default "column 1"/"column 2" (or "row"/"column 1" for d == 1).
    classes : array_like, shape (n,), optional
        Known classes (a label column): each class gets its own marker (up to
        ``len(CLASS_MARKERS)`` classes; more are not drawn), explained in a second legend.
    class_name : str
        What the classes are, for that legend's title.

    Returns
    -------
    str
        The path written.
    """
    X = np.asarray(X, dtype=np.float64)
    labels = np.asarray(labels)
    n, d = X.shape
    if d == 1:
        x, y = np.arange(1, n + 1), X[:, 0]
        xlabel, ylabel = xlabel or "row", ylabel or "column 1"
    else:
        x, y = X[:, 0], X[:, 1]
        xlabel, ylabel = xlabel or "column 1", ylabel or "column 2"
    clusters, sizes = np.unique(labels, return_counts=True)
    palette = _palette(len(clusters))
    # Big points for a few hundred observations, one pixel-ish for a million.
    size = float(np.clip(6000.0 / n, 1.0, 20.0))
    fig = Figure(figsize=(6.4, 5.2))
    ax = fig.add_subplot()
    common = dict(linewidths=0, alpha=0.85, rasterized=n > 20_000)
    class_values, class_of = (np.unique(np.asarray(classes), return_inverse=True)
                              if classes is not None else (None, None))
    markers = class_values is not None and len(class_values) <= len(CLASS_MARKERS)
    # A tiny cluster (an outlier that single linkage split off, say) gets big points so that
    # it can be found at all, where clusters are told apart in the legend.
    of_cluster = np.searchsorted(clusters, labels)
    colors = np.asarray([_cluster_color(k, palette) for k in clusters])[of_cluster]
    point_size = (np.where(sizes[of_cluster] > 20, size, max(size, 20.0))
                  if len(clusters) <= 10 else np.full(n, size))
    if markers:
        for c, marker in enumerate(CLASS_MARKERS[:len(class_values)]):
            mask = class_of.ravel() == c
            ax.scatter(x[mask], y[mask], c=colors[mask], marker=marker, s=point_size[mask],
                       **common)
    else:
        ax.scatter(x, y, c=colors, s=point_size, **common)
    if len(clusters) <= 10:
        # Proxy handles: one legend entry per cluster, whatever the markers.
        handles = [Line2D([], [], linestyle="", marker="o", markersize=6,
                          color=_cluster_color(k, palette), label=f"cluster {k} ({count})")
                   for k, count in zip(clusters, sizes)]
        legend = ax.legend(handles=handles, loc="upper left" if markers else "best",
                           fontsize="small")
        if markers:
            ax.add_artist(legend)
    if markers:
        handles = [Line2D([], [], linestyle="", marker=m, markersize=6, color="#444444",
                          label=str(v)) for v, m in zip(class_values, CLASS_MARKERS)]
        ax.legend(handles=handles, loc="lower right", fontsize="small", title=class_name,
                  title_fontsize="small")
    elif class_values is not None:
        title = f"{title}\n({class_name}: {len(class_values)} classes, too many to draw)"
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    fig.tight_layout()
    return _save(fig, path)


def cut_height(Z, n_clusters: int) -> float | None:
    """Height of a horizontal cut through `Z` that leaves `n_clusters` flat clusters.

    Parameters
    ----------
    Z : ndarray, shape (n-1, 4)
        Linkage matrix.
    n_clusters : int
        Number of clusters, as passed to ``fcluster(Z, n_clusters, 'maxclust')``.

    Returns
    -------
    float or None
        Midway between the last merge kept and the first one cut (on the monotone heights that
        ``fcluster`` uses, so centroid and median inversions are handled), or None when there
        is nothing to cut (1 cluster, or at least n).
    """
    n = Z.shape[0] + 1
    if n_clusters <= 1 or n_clusters >= n:
        return None
    heights = np.sort(maxdists(Z))
    return float(0.5 * (heights[n - n_clusters - 1] + heights[n - n_clusters]))


@contextmanager
def recursion_limit(n: int):
    """Raise Python's recursion limit to at least ``10 * n + 1000`` for the block, then restore.

    SciPy's ``dendrogram`` walks the tree recursively, so an untruncated tree of n leaves can
    be n levels deep (a chain from single linkage); the default limit of 1000 is too low.

    Parameters
    ----------
    n : int
        Number of leaves.
    """
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old, 10 * int(n) + 1000))
    try:
        yield
    finally:
        sys.setrecursionlimit(old)


def _node_labels(Z, labels) -> list[int]:
    """Flat-cluster label of every node of `Z` (leaves, then merges), 0 for a node whose leaves
    are in different clusters."""
    n = Z.shape[0] + 1
    node = [int(v) for v in labels] + [0] * (n - 1)
    # Python lists: indexing numpy scalars in this loop would be several times slower.
    left = Z[:, 0].astype(np.int64).tolist()
    right = Z[:, 1].astype(np.int64).tolist()
    for j in range(n - 1):
        a = node[left[j]]
        node[n + j] = a if a == node[right[j]] else 0
    return node


def plot_dendrogram(Z, path, *, title: str = "", labels=None, cut: float | None = None,
                    truncate: bool | None = None, ylabel: str = "distance") -> str:
    """Dendrogram of a linkage matrix, truncated to its last merges when it is large.

    Parameters
    ----------
    Z : ndarray, shape (n-1, 4)
        Linkage matrix.
    path : str or os.PathLike
        Image file to write; missing folders are created.
    title : str
        Figure title ("(last 30 merges)" is appended when truncated).
    labels : array_like of int, shape (n,), optional
        Flat cluster labels; links inside cluster k get cluster k's colour from
        :func:`plot_clusters`, links between clusters are grey. Without them SciPy's default
        colouring is used.
    cut : float, optional
        Draw a dashed horizontal line at this height (where the tree was cut).
    truncate : bool, optional
        Show only the last ``TRUNCATE_P`` merges (``truncate_mode='lastp'``). Default: when
        n > ``TRUNCATE_ABOVE``.
    ylabel : str
        Label of the height axis.

    Returns
    -------
    str
        The path written.
    """
    Z = np.asarray(Z, dtype=np.float64)
    n = Z.shape[0] + 1
    if truncate is None:
        truncate = n > TRUNCATE_ABOVE
    kwargs = {}
    if truncate and n > TRUNCATE_P:
        kwargs.update(truncate_mode="lastp", p=TRUNCATE_P, show_contracted=True)
        title = f"{title} (last {TRUNCATE_P} merges)".strip()
        shown = TRUNCATE_P
    else:
        shown = n
    if labels is not None:
        node = _node_labels(Z, labels)
        palette = _palette(max(node[:n]))
        kwargs["link_color_func"] = (
            lambda k: _cluster_color(node[k], palette) if node[k] else _ABOVE_CUT)
    if shown > 100:
        kwargs["no_labels"] = True  # thousands of overlapping indices are just a black bar
    else:
        kwargs.update(leaf_rotation=90, leaf_font_size=max(6.0, min(10.0, 600.0 / shown)))
    fig = Figure(figsize=(10, 5))
    ax = fig.add_subplot()
    with recursion_limit(n):
        dendrogram(Z, ax=ax, above_threshold_color=_ABOVE_CUT, **kwargs)
    if cut is not None:
        ax.axhline(cut, color="black", linestyle="--", linewidth=0.8)
    ax.set_ylabel(ylabel)
    ax.set_xlabel("observation (0-based row index), or (number of observations) in a "
                  "contracted subtree" if "truncate_mode" in kwargs
                  else "observation (0-based row index)")
    ax.set_title(title)
    fig.tight_layout()
    return _save(fig, path)
