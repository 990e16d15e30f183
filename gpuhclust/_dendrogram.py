"""``dendrogram``: SciPy's dendrogram for trees of any size.

SciPy's ``dendrogram`` walks the tree recursively and fails with RecursionError on deep trees
(single linkage at n = 50,000: scipy#6109). This walks it with an explicit stack, in SciPy's
order (left child, colour decision, right child, link), so that every list it returns equals
SciPy's, and draws with one LineCollection per colour and no per-tick artists of its own.
"""
from __future__ import annotations

import numbers

import numpy as np
from scipy.cluster import hierarchy as _hierarchy

__all__ = ["dendrogram"]

_ORIENTATIONS = ("top", "left", "bottom", "right")
# SciPy's leaf-label font sizes and rotations by number of leaves (scipy.cluster.hierarchy)
_TEXT_SIZES = ((20, 12), (30, 10), (50, 8), (85, 6), (np.inf, 5))
_ROTATIONS = ((20, 0), (40, 45), (np.inf, 90))
_DEFAULT_PALETTE = ("C1", "C2", "C3", "C4", "C5", "C6", "C7", "C8", "C9")


def _palette():
    """The colours below the threshold: SciPy's global palette, so that
    ``scipy.cluster.hierarchy.set_link_color_palette`` applies here too."""
    return list(getattr(_hierarchy, "_link_line_colors", _DEFAULT_PALETTE))


def dendrogram(Z, p=30, truncate_mode=None, color_threshold=None, get_leaves=True,
               orientation="top", labels=None, count_sort=False, distance_sort=False,
               show_leaf_counts=True, no_plot=False, no_labels=False, leaf_font_size=None,
               leaf_rotation=None, leaf_label_func=None, show_contracted=False,
               link_color_func=None, ax=None, above_threshold_color="C0"):
    """Plot (or only compute) a dendrogram: ``scipy.cluster.hierarchy.dendrogram`` for any n.

    Takes SciPy's parameters with SciPy's meaning and returns SciPy's dictionary; the
    difference is that the tree is walked without recursion, so deep trees (single linkage on
    tens of thousands of observations) work, and drawing adds one line collection per colour
    (SciPy's grouping) with tick marks hidden in one call.

    Parameters
    ----------
    Z : ndarray
        A linkage matrix (``gpuhclust.linkage`` or SciPy's).
    p : int or float
        The ``p`` of `truncate_mode` (truncated to an int).
    truncate_mode : {None, 'none', 'lastp', 'level', 'mtica'}
        'lastp': only the last p merges are drawn (the others become leaves labelled with
        their size); 'level' (alias 'mtica'): no more than p levels below the root.
    color_threshold : float, 'default' or None
        Links below it are coloured by subtree from SciPy's palette
        (``scipy.cluster.hierarchy.set_link_color_palette``); at or above it (or when it
        is <= 0) they get `above_threshold_color`. None or 'default': 0.7 * max(Z[:, 2]).
    get_leaves : bool
        Return the leaves in ``'leaves'`` (otherwise None; SciPy then fails computing
        ``leaves_color_list``, which this computes anyway).
    orientation : {'top', 'bottom', 'left', 'right'}
        Where the root is drawn.
    labels : sequence or None
        A label per observation (length n).
    count_sort, distance_sort : bool or {'ascending', 'descending'}
        Order of each node's two children by their size or height (count_sort first).
    show_leaf_counts : bool
        Label truncated leaves with their size in parentheses.
    no_plot : bool
        Compute the dictionary only.
    no_labels : bool
        Draw no leaf labels.
    leaf_font_size, leaf_rotation : float or None
        Leaf label size and rotation (None: SciPy's choice by number of leaves).
    leaf_label_func : callable or None
        ``leaf_label_func(cluster_id) -> str`` for every leaf, called in leaf order.
    show_contracted : bool
        Mark the heights of the merges hidden inside truncated leaves.
    link_color_func : callable or None
        ``link_color_func(cluster_id) -> str`` colours each link (called in SciPy's order:
        post-order); overrides the threshold colouring.
    ax : matplotlib Axes or None
        Where to draw (None: the current axes of pyplot).
    above_threshold_color : str
        Colour of the links at or above `color_threshold`.

    Returns
    -------
    R : dict
        SciPy's keys: ``'icoord'``, ``'dcoord'`` (four coordinates per link, links in
        post-order), ``'ivl'`` (leaf labels), ``'leaves'`` (leaf cluster ids),
        ``'color_list'`` (a colour per link), ``'leaves_color_list'`` (a colour per leaf).
        Every list equals SciPy's where SciPy's recursion does not fail.

    Raises
    ------
    ValueError
        Invalid Z (SciPy's checks and messages), orientation, truncation mode, or labels of
        the wrong length.
    TypeError
        `p` is not a number; `link_color_func` returns something other than a str.

    Notes
    -----
    Drawing many leaf labels stays slow in matplotlib itself (one text per tick at draw
    time); pass ``no_labels=True`` for thousands of leaves.

    Examples
    --------
    >>> import numpy as np, gpuhclust
    >>> X = np.array([[0.], [1.], [5.], [6.], [20.]])
    >>> R = gpuhclust.dendrogram(gpuhclust.linkage(X, 'single'), no_plot=True)
    >>> R['ivl'], R['color_list']
    (['4', '0', '1', '2', '3'], ['C1', 'C1', 'C1', 'C0'])
    """
    Z = np.asarray(Z, order="C")
    if orientation not in _ORIENTATIONS:
        raise ValueError("orientation must be one of 'top', 'left', 'bottom', or 'right'")
    if labels is not None:
        try:
            len_labels = len(labels)
        except (TypeError, AttributeError):
            len_labels = labels.shape[0]
        if Z.shape[0] + 1 != len_labels:
            raise ValueError("Dimensions of Z and labels must be consistent.")
    _hierarchy.is_valid_linkage(Z, throw=True, name="Z")
    n = Z.shape[0] + 1
    if isinstance(p, numbers.Real):  # SciPy takes int and float (not NumPy's integers)
        p = int(p)
    else:
        raise TypeError("The second argument must be a number")
    if truncate_mode not in ("lastp", "mtica", "level", "none", None):
        raise ValueError("Invalid truncation mode.")
    if truncate_mode == "lastp" and (p > n or p == 0):
        p = n
    if truncate_mode == "mtica":
        truncate_mode = "level"
    if truncate_mode == "level" and p <= 0:
        p = np.inf
    if color_threshold is None or (isinstance(color_threshold, str)
                                   and color_threshold == "default"):
        color_threshold = np.max(Z[:, 2]) * 0.7

    walk = _Walk(Z, n, p, truncate_mode, _child_order(Z, n, count_sort, distance_sort),
                 color_threshold, above_threshold_color, _palette(), show_contracted)
    walk.run()

    ivl = _leaf_labels(Z, n, walk.leaves, labels, leaf_label_func, show_leaf_counts)
    if link_color_func is not None:
        color_list = []
        for i in walk.link_nodes:
            v = link_color_func(int(i))
            if not isinstance(v, str):
                raise TypeError("link_color_func must return a matplotlib color string!")
            color_list.append(v)
    else:
        color_list = walk.colors
    icoord = walk.icoord.tolist()
    dcoord = walk.dcoord.tolist()

    if not no_plot:
        _plot(walk.icoord, walk.dcoord, ivl, float(np.max(Z[:, 2])), orientation, no_labels,
              color_list, leaf_font_size, leaf_rotation, walk.contraction_marks, ax,
              above_threshold_color)

    return {"icoord": icoord, "dcoord": dcoord, "ivl": ivl,
            "leaves": [int(i) for i in walk.leaves] if get_leaves else None,
            "color_list": color_list,
            "leaves_color_list": _leaves_color_list(walk.icoord, walk.dcoord, color_list,
                                                    len(walk.leaves))}


def _child_order(Z, n, count_sort, distance_sort):
    """(first, second): the child of each merge drawn on the left and on the right, by SciPy's
    rules (count_sort before distance_sort; ties keep Z's order)."""
    a = Z[:, 0].astype(np.int64)
    b = Z[:, 1].astype(np.int64)

    def size_and_height(c):
        inner = c >= n
        rows = np.where(inner, c - n, 0)
        return np.where(inner, Z[rows, 3], 1.0), np.where(inner, Z[rows, 2], 0.0)

    na, da = size_and_height(a)
    nb, db = size_and_height(b)
    if count_sort == "ascending" or count_sort is True:
        swap = na > nb
    elif count_sort == "descending":
        swap = ~(na > nb)
    elif distance_sort == "ascending" or distance_sort is True:
        swap = da > db
    elif distance_sort == "descending":
        swap = ~(da > db)
    else:
        swap = np.zeros(len(a), dtype=bool)
    return np.where(swap, b, a).tolist(), np.where(swap, a, b).tolist()


class _Walk:
    """SciPy's recursive walk (``_dendrogram_calculate_info``) as a loop over an explicit
    stack. A node's colour is decided after its left subtree is walked and its link is
    appended after its right subtree, as in SciPy, since both orders show in the output."""

    def __init__(self, Z, n, p, truncate_mode, order, color_threshold, above_color, palette,
                 show_contracted):
        self.Z, self.n, self.p, self.mode = Z, n, p, truncate_mode
        self.first, self.second = order
        self.heights = Z[:, 2].tolist()
        self.threshold, self.above, self.palette = color_threshold, above_color, palette
        self.contraction_marks = [] if show_contracted else None
        self.leaves = []
        self.colors = []
        self.link_nodes = []

    def _is_leaf(self, i, level):
        n = self.n
        if i < n:
            return True
        if self.mode == "lastp":
            return 2 * n - self.p > i
        if self.mode == "level":
            return i > n and level > self.p  # SciPy's '>': cluster n is never truncated
        return False

    def run(self):
        n, heights, first, second = self.n, self.heights, self.first, self.second
        links_x, links_y = [], []
        current_color, below = 0, False
        # frames: [node, iv, level, state, left result...]; results: (x, width, height)
        stack = [(2 * n - 2, 0.0, 0, 0, None)]
        result = None
        while stack:
            i, iv, level, state, saved = stack.pop()
            if state == 0:
                if self._is_leaf(i, level):
                    self.leaves.append(i)
                    if i >= n and self.contraction_marks is not None:
                        self._mark_contracted(iv + 5.0, i)
                    result = (iv + 5.0, 10.0, 0.0)
                    continue
                stack.append((i, iv, level, 1, None))
                stack.append((first[i - n], iv, level + 1, 0, None))
            elif state == 1:
                h = heights[i - n]
                if h >= self.threshold or self.threshold <= 0:
                    c = self.above
                    if below:
                        current_color = (current_color + 1) % len(self.palette)
                    below = False
                else:
                    below = True
                    c = self.palette[current_color]
                stack.append((i, iv, level, 2, (result, c)))
                stack.append((second[i - n], iv + result[1], level + 1, 0, None))
            else:
                (xa, wa, ha), c = saved
                xb, wb, hb = result
                h = heights[i - n]
                links_x.append((xa, xa, xb, xb))
                links_y.append((ha, h, h, hb))
                self.colors.append(c)
                self.link_nodes.append(i)
                result = ((xa + xb) / 2, wa + wb, h)
        self.icoord = np.array(links_x, dtype=np.float64).reshape(-1, 4)
        self.dcoord = np.array(links_y, dtype=np.float64).reshape(-1, 4)

    def _mark_contracted(self, x, i):
        """The heights of the merges inside truncated leaf i, in SciPy's pre-order."""
        n, Z = self.n, self.Z
        pending = [int(Z[i - n, 1]), int(Z[i - n, 0])]
        while pending:
            c = pending.pop()
            if c >= n:
                self.contraction_marks.append((x, Z[c - n, 2]))
                pending.append(int(Z[c - n, 1]))
                pending.append(int(Z[c - n, 0]))


def _leaf_labels(Z, n, leaves, labels, leaf_label_func, show_leaf_counts):
    """SciPy's ``ivl``: leaf_label_func, else the label (or the id) of an observation, else the
    size of a truncated cluster in parentheses (or '')."""
    if leaf_label_func:
        return [leaf_label_func(int(i)) for i in leaves]
    out = []
    for i in leaves:
        if i < n:
            # SciPy writes labels[i - n], the same element of a sequence of length n; a
            # pandas Series with a RangeIndex takes only labels[i]
            out.append(labels[int(i)] if labels is not None else str(int(i)))
        elif show_leaf_counts:
            out.append("(" + str(int(Z[i - n, 3])) + ")")
        else:
            out.append("")
    return out


def _leaves_color_list(icoord, dcoord, color_list, n_leaves):
    """SciPy's rule: a link point at height 0 whose coordinate is an odd multiple of 5 is
    leaf (x - 5) / 10 and takes the link's colour; later links win."""
    out = [None] * n_leaves
    if len(color_list) == 0:
        return out
    x, y = icoord.ravel(), dcoord.ravel()
    hit = np.flatnonzero((y == 0.0) & (x % 5 == 0) & (x % 2 == 1))
    leaf = (x[hit].astype(np.int64) - 5) // 10
    # the last hit of each leaf (hits are in link order)
    last = np.unique(leaf[::-1], return_index=True)
    for lf, k in zip(last[0].tolist(), (len(hit) - 1 - last[1]).tolist()):
        out[lf] = color_list[hit[k] // 4]
    return out


def _text_size(count):
    return next(size for limit, size in _TEXT_SIZES if count <= limit)


def _rotation(count):
    return next(rot for limit, rot in _ROTATIONS if count <= limit)


def _plot(icoord, dcoord, ivl, mh, orientation, no_labels, color_list, leaf_font_size,
          leaf_rotation, contraction_marks, ax, above_threshold_color):
    """SciPy's ``_plot_dendrogram`` (same limits, ticks, labels, colour grouping and
    drawing order), with the segments handed to matplotlib as arrays."""
    try:
        import matplotlib.collections
        import matplotlib.patches
        import matplotlib.ticker
        if ax is None:
            import matplotlib.pyplot as plt
    except ImportError as e:
        raise ImportError("You must install the matplotlib library to plot the dendrogram. "
                          "Use no_plot=True to calculate the dendrogram without plotting.") from e
    trigger_redraw = ax is None
    if ax is None:
        ax = plt.gca()
    ivw = len(ivl) * 10
    dvw = mh + mh * 0.05
    iv_ticks = np.arange(5, len(ivl) * 10 + 5, 10)
    vertical = orientation in ("top", "bottom")
    if vertical:
        ax.set_ylim([0, dvw] if orientation == "top" else [dvw, 0])
        ax.set_xlim([0, ivw])
        xlines, ylines, axis = icoord, dcoord, ax.xaxis
    else:
        ax.set_xlim([dvw, 0] if orientation == "left" else [0, dvw])
        ax.set_ylim([0, ivw])
        xlines, ylines, axis = dcoord, icoord, ax.yaxis
    if no_labels:
        axis.set_ticks([])
        axis.set_ticklabels([])
    else:
        # a locator, a formatter and tick_params instead of set_ticks/set_ticklabels: those
        # build every tick (and SciPy then hides each tick mark) before anything is drawn
        axis.set_major_locator(matplotlib.ticker.FixedLocator(iv_ticks))
        axis.set_major_formatter(matplotlib.ticker.FixedFormatter(ivl))
        axis.set_ticks_position({"top": "bottom", "bottom": "top", "left": "right",
                                 "right": "left"}[orientation])
        style = {"length": 0,  # tick marks would cover the links
                 "labelsize": (float(_text_size(len(ivl))) if leaf_font_size is None
                               else leaf_font_size)}
        if vertical:
            style["labelrotation"] = (float(_rotation(len(ivl))) if leaf_rotation is None
                                      else leaf_rotation)
        elif leaf_rotation is not None:
            style["labelrotation"] = leaf_rotation
        ax.tick_params(axis="x" if vertical else "y", **style)

    segments = np.stack([xlines, ylines], axis=-1)  # (links, 4 points, x and y)
    colors = np.asarray(color_list, dtype=object)
    used = list(dict.fromkeys(color_list))
    # links below the threshold first, then the ones above it (SciPy's drawing order)
    for color in [c for c in used if c != above_threshold_color] + \
            [c for c in used if c == above_threshold_color]:
        ax.add_collection(matplotlib.collections.LineCollection(
            segments[colors == color], colors=(color,)))

    if contraction_marks:
        ellipses = []
        for x, y in contraction_marks:
            if vertical:
                ellipses.append(matplotlib.patches.Ellipse((x, y), width=1.0, height=dvw / 100))
            else:
                ellipses.append(matplotlib.patches.Ellipse((y, x), width=dvw / 100, height=1.0))
        ax.add_collection(matplotlib.collections.PatchCollection(
            ellipses, facecolor="k", alpha=0.5, edgecolor="none"))
    if trigger_redraw:
        plt.draw_if_interactive()
