"""gpuhclust.dendrogram: SciPy's dictionary and drawing for any n, without recursion."""
import itertools
import warnings

import matplotlib
import numpy as np
import pytest
import scipy.cluster.hierarchy as sch

import gpuhclust

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

KEYS = ("icoord", "dcoord", "ivl", "leaves", "color_list", "leaves_color_list")


def _random_tree(n, seed):
    """A linkage matrix of random merges at random (tied, sometimes decreasing) heights."""
    rng = np.random.default_rng(seed)
    active, sizes, rows = list(range(n)), {i: 1 for i in range(n)}, []
    for k in range(n - 1):
        a, b = sorted(rng.choice(len(active), 2, replace=False))
        ca, cb = active[a], active[b]
        active.pop(b)
        active.pop(a)
        sizes[n + k] = sizes[ca] + sizes[cb]
        rows.append([min(ca, cb), max(ca, cb), float(rng.integers(0, 5)), sizes[n + k]])
        active.append(n + k)
    return np.array(rows)


def _caterpillar(n):
    """Each merge adds one observation to the previous cluster: a tree n - 1 levels deep."""
    Z = np.empty((n - 1, 4))
    Z[:, 0] = np.arange(1, n)
    Z[:, 1] = np.r_[0, np.arange(n, 2 * n - 2)]
    Z[0, :2] = 0, 1
    Z[:, 2] = np.arange(1, n, dtype=np.float64)
    Z[:, 3] = np.arange(2, n + 1)
    return Z


def _linkages():
    rng = np.random.default_rng(7)
    out = []
    for method in ("single", "complete", "average", "ward", "centroid", "median"):
        X = rng.normal(size=(25, 2))
        out.append((f"{method}-normal", gpuhclust.linkage(X, method)))
        ties = rng.integers(0, 3, size=(25, 2)).astype(np.float64)  # tied heights, zero heights
        out.append((f"{method}-ties", gpuhclust.linkage(ties, method)))
    # near-equilateral triangles far apart: merging two corners brings the third closer
    corners = np.array([[0.0, 0.0], [1.0, 0.0], [0.5, 0.87]])
    X = np.concatenate([corners * rng.uniform(0.8, 1.2) + 10 * k for k in range(10)])
    Zc = gpuhclust.linkage(X + rng.normal(scale=0.01, size=X.shape), "centroid")
    assert np.any(np.diff(Zc[:, 2]) < 0)  # inversions
    out.append(("centroid-inversions", Zc))
    out += [(f"random-{s}", _random_tree(20, s)) for s in range(4)]
    out.append(("caterpillar", _caterpillar(30)))
    return out


LINKAGES = _linkages()

OPTIONS = {
    "truncate_mode": [None, "none", "lastp", "level", "mtica"],
    "p": [0, 1, 2, 5, 30, 100],
    "color_threshold": [None, "default", 0, -1.0, 0.5, 1.5, np.inf],
    "count_sort": [False, True, "ascending", "descending"],
    "distance_sort": [False, True, "ascending", "descending"],
    "show_leaf_counts": [True, False],
    "above_threshold_color": ["C0", "k"],
    "labels": [None, "list", "array"],
    "leaf_label_func": [None, "func"],
    "link_color_func": [None, "func"],
    "orientation": ["top", "left", "bottom", "right"],
    "no_labels": [False, True],
    "show_contracted": [False, True],
}


def _options(seed, n):
    """One random choice per option (materialising labels and callbacks for n leaves)."""
    rng = np.random.default_rng(seed)
    kw = {k: v[rng.integers(len(v))] for k, v in OPTIONS.items()}
    if kw["labels"] == "list":
        kw["labels"] = [f"obs{i}" for i in range(n)]
    elif kw["labels"] == "array":
        kw["labels"] = np.array([f"o{i}" for i in range(n)])
    if kw["leaf_label_func"] == "func":
        kw["leaf_label_func"] = lambda i: f"id{i}" if i < n else f"<{i}>"
    if kw["link_color_func"] == "func":
        kw["link_color_func"] = lambda i: ("r", "g", "b")[i % 3]
    return kw


def _assert_same(R, R_ref):
    assert list(R) == list(R_ref)
    for key in KEYS:
        assert R[key] == R_ref[key], key


@pytest.mark.parametrize("name,Z", LINKAGES, ids=[name for name, _ in LINKAGES])
def test_same_dictionary_as_scipy(name, Z):
    n = len(Z) + 1
    for seed in range(40):
        kw = _options(seed, n)
        R_ref = sch.dendrogram(Z, no_plot=True, **kw)
        _assert_same(gpuhclust.dendrogram(Z, no_plot=True, **kw), R_ref)


@pytest.mark.parametrize("mode,p", [(None, 30), ("lastp", 6), ("level", 2), ("level", 0)])
@pytest.mark.parametrize("count_sort,distance_sort", [(False, False), ("descending", False),
                                                      (False, True)])
def test_every_combination_on_tied_tree(mode, p, count_sort, distance_sort):
    Z = gpuhclust.linkage(np.random.default_rng(3).integers(0, 3, (30, 2)).astype(float),
                          "average")
    for threshold, show in itertools.product([None, 0, 1.0, 2.0], [True, False]):
        kw = dict(truncate_mode=mode, p=p, count_sort=count_sort, distance_sort=distance_sort,
                  color_threshold=threshold, show_leaf_counts=show)
        _assert_same(gpuhclust.dendrogram(Z, no_plot=True, **kw),
                     sch.dendrogram(Z, no_plot=True, **kw))


def test_palette_set_in_scipy_applies():
    Z = LINKAGES[0][1]
    sch.set_link_color_palette(["m", "c"])
    try:
        R = gpuhclust.dendrogram(Z, no_plot=True, color_threshold=0.8)
        assert set(R["color_list"]) <= {"m", "c", "C0"} and "m" in R["color_list"]
        _assert_same(R, sch.dendrogram(Z, no_plot=True, color_threshold=0.8))
    finally:
        sch.set_link_color_palette(None)


def _drawing(ax):
    """What a dendrogram drew on `ax`: limits, ticks, labels, line collections, marks."""
    axis = ax.xaxis if ax.get_xticks().size or ax.get_ylim()[1] > ax.get_xlim()[1] else ax.yaxis
    lines = [(c.get_segments(), c.get_colors().tolist())
             for c in ax.collections if isinstance(c, matplotlib.collections.LineCollection)]
    labels = [(t.get_text(), t.get_rotation(), t.get_fontsize())
              for t in axis.get_ticklabels()]
    return ax.get_xlim(), ax.get_ylim(), axis.get_ticklocs().tolist(), labels, lines


def _ellipses_scipy(ax):
    return [p.get_patch_transform().transform(p.get_path().vertices) for p in ax.patches]


def _ellipses_ours(ax):
    return [path.vertices for c in ax.collections
            if isinstance(c, matplotlib.collections.PatchCollection) for path in c.get_paths()]


@pytest.mark.parametrize("seed", range(12))
def test_same_drawing_as_scipy(seed):
    name, Z = LINKAGES[seed % len(LINKAGES)]
    kw = _options(100 + seed, len(Z) + 1)
    kw["show_contracted"] = True
    fig, (ax_ref, ax) = plt.subplots(1, 2)
    try:
        R_ref = sch.dendrogram(Z, ax=ax_ref, **kw)
        R = gpuhclust.dendrogram(Z, ax=ax, **kw)
        fig.canvas.draw()
        _assert_same(R, R_ref)
        ours, ref = _drawing(ax), _drawing(ax_ref)
        assert ours[:4] == ref[:4]
        assert len(ours[4]) == len(ref[4])
        for (seg, col), (seg_ref, col_ref) in zip(ours[4], ref[4]):
            np.testing.assert_array_equal(np.asarray(seg), np.asarray(seg_ref))
            assert col == col_ref
        marks, marks_ref = _ellipses_ours(ax), _ellipses_scipy(ax_ref)
        assert len(marks) == len(marks_ref)
        for m, m_ref in zip(marks, marks_ref):
            np.testing.assert_allclose(m, m_ref, rtol=1e-12, atol=1e-12)
    finally:
        plt.close(fig)


def test_current_axes_when_no_ax():
    Z = LINKAGES[1][1]
    fig = plt.figure()
    try:
        R = gpuhclust.dendrogram(Z)
        assert plt.gca().collections and plt.gca().get_xticks().size == len(R["leaves"])
    finally:
        plt.close(fig)


def test_deep_tree_where_scipy_recursion_fails():
    n = 50_000
    Z = _caterpillar(n)
    with pytest.raises(RecursionError):
        sch.dendrogram(Z, no_plot=True)
    R = gpuhclust.dendrogram(Z, no_plot=True)
    assert R["leaves"] == sch.leaves_list(Z).tolist()
    assert R["ivl"] == [str(i) for i in R["leaves"]]
    assert len(R["icoord"]) == len(R["dcoord"]) == len(R["color_list"]) == n - 1
    # the root's link spans its children's positions at the root's height
    assert R["dcoord"][-1][1:3] == [Z[-1, 2]] * 2
    # the first link drawn joins the two observations of Z's first row, at their positions
    ka, kb = (R["leaves"].index(int(c)) for c in Z[0, :2])
    assert R["icoord"][0] == [5.0 + 10 * ka] * 2 + [5.0 + 10 * kb] * 2
    assert R["leaves_color_list"][ka] == R["leaves_color_list"][kb] == R["color_list"][0]
    fig, ax = plt.subplots()
    try:
        gpuhclust.dendrogram(Z, ax=ax, no_labels=True, truncate_mode="level", p=0)
        fig.canvas.draw()
        assert sum(len(c.get_segments()) for c in ax.collections) == n - 1
        # with labels: the 50,000 ticks are left to matplotlib's drawing, not built up front
        ax.clear()
        gpuhclust.dendrogram(Z, ax=ax)
        assert len(ax.xaxis.majorTicks) < 10
        assert ax.xaxis.get_major_formatter()(0, n - 1) == str(R["leaves"][-1])
    finally:
        plt.close(fig)


def test_deep_and_wide_random_tree():
    Z = _random_tree(3000, 11)
    R = gpuhclust.dendrogram(Z, no_plot=True, count_sort=True)
    R_plain = gpuhclust.dendrogram(Z, no_plot=True)
    assert R_plain["leaves"] == sch.leaves_list(Z).tolist()
    assert sorted(R["leaves"]) == list(range(3000))
    # heights of links are Z's, whatever the order
    assert sorted(d[1] for d in R["dcoord"]) == sorted(Z[:, 2].tolist())


def test_get_leaves_false_still_colours_leaves():
    Z = LINKAGES[0][1]
    R = gpuhclust.dendrogram(Z, no_plot=True, get_leaves=False)
    assert R["leaves"] is None
    assert R["leaves_color_list"] == sch.dendrogram(Z, no_plot=True)["leaves_color_list"]


@pytest.mark.parametrize("kw,exc,match", [
    (dict(orientation="up"), ValueError, "orientation"),
    (dict(truncate_mode="top"), ValueError, "truncation mode"),
    (dict(p="5"), TypeError, "must be a number"),
    (dict(labels=["a"]), ValueError, "labels must be consistent"),
    (dict(link_color_func=lambda i: 3), TypeError, "color string"),
])
def test_bad_arguments_as_scipy(kw, exc, match):
    Z = LINKAGES[0][1]
    with pytest.raises(exc, match=match):
        sch.dendrogram(Z, no_plot=True, **kw)
    with pytest.raises(exc, match=match):
        gpuhclust.dendrogram(Z, no_plot=True, **kw)


def test_invalid_linkage_refused():
    Z = LINKAGES[0][1].copy()
    Z[0, 1] = len(Z) + 5  # a cluster used before it is formed
    with pytest.raises(ValueError) as ref:
        sch.dendrogram(Z, no_plot=True)
    with pytest.raises(ValueError, match="'Z'") as ours:
        gpuhclust.dendrogram(Z, no_plot=True)
    assert str(ours.value) == str(ref.value)


def test_docstring_example():
    import doctest

    import gpuhclust._dendrogram

    result = doctest.testmod(gpuhclust._dendrogram, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.parametrize("method", ["single", "centroid"])
def test_same_as_scipy_on_a_deep_tree_given_recursion_room(method):
    import sys

    X = np.random.default_rng(5).normal(size=(1500, 2))
    Z = gpuhclust.linkage(X, method)
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old, 20 * len(X)))
    try:
        for kw in ({}, dict(truncate_mode="lastp", p=200, show_leaf_counts=False),
                   dict(count_sort="descending", color_threshold=0.3)):
            R_ref = sch.dendrogram(Z, no_plot=True, **kw)
            _assert_same(gpuhclust.dendrogram(Z, no_plot=True, **kw), R_ref)
    finally:
        sys.setrecursionlimit(old)


# SciPy's own dendrogram tests (shipped with SciPy), run against gpuhclust.dendrogram
with warnings.catch_warnings():
    warnings.simplefilter("ignore", pytest.PytestUnknownMarkWarning)  # SciPy's own marks
    try:
        from scipy.cluster.tests import test_hierarchy as _scipy_tests
    except ImportError:  # a SciPy installed without its tests
        _scipy_tests = None


@pytest.fixture
def xp():
    """SciPy's tests take an array namespace; NumPy's is the one gpuhclust takes."""
    return np


@pytest.mark.skipif(_scipy_tests is None, reason="SciPy's tests are not installed")
class TestScipysDendrogramTests(getattr(_scipy_tests, "TestDendrogram", object)):
    @pytest.fixture(autouse=True)
    def _ours(self, monkeypatch):
        monkeypatch.setattr(_scipy_tests, "dendrogram", gpuhclust.dendrogram)


def test_labels_as_a_series_and_p_as_a_numpy_integer():
    pd = pytest.importorskip("pandas")
    Z = LINKAGES[0][1]
    names = [f"s{i}" for i in range(len(Z) + 1)]
    R = gpuhclust.dendrogram(Z, no_plot=True, labels=pd.Series(names), p=np.int64(5),
                             truncate_mode="lastp")
    R_ref = sch.dendrogram(Z, no_plot=True, labels=names, p=5, truncate_mode="lastp")
    _assert_same(R, R_ref)
