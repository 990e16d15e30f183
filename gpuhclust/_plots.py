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
from scipy.cluster.hierarchy import dendrogram, maxdists

__all__ = ["plot_clusters", "plot_dendrogram", "cut_height", "recursion_limit",
           "check_image_path"]

_ABOVE_CUT = "#555555"  # links that join different flat clusters
# Leaves shown by a truncated dendrogram, and the size above which it is truncated: beyond a
# few dozen leaves the labels overlap and the picture stops being readable.
TRUNCATE_P = 30
TRUNCATE_ABOVE = 50


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
    fig.savefig(path, dpi=120)
    return path


def plot_clusters(X, labels, path, *, title: str = "", xlabel: str | None = None,
                  ylabel: str | None = None) -> str:
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
    if len(clusters) <= 10:
        # One call per cluster gives the legend its entries. A tiny cluster (an outlier that
        # single linkage split off, say) gets big points so that it can be found at all.
        for k, count in zip(clusters, sizes):
            mask = labels == k
            ax.scatter(x[mask], y[mask], color=_cluster_color(k, palette),
                       s=size if count > 20 else max(size, 20.0),
                       label=f"cluster {k} ({count})", **common)
        legend = ax.legend(loc="best", fontsize="small")
        # Same-sized legend markers, whatever the point sizes ('legendHandles' before 3.7).
        handles = getattr(legend, "legend_handles", None)
        for handle in handles if handles is not None else legend.legendHandles:
            handle.set_sizes([30.0])
    else:
        colors = [_cluster_color(k, palette) for k in clusters]
        ax.scatter(x, y, c=np.asarray(colors)[np.searchsorted(clusters, labels)], s=size,
                   **common)
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
