"""The command line: ``gpuhclust demo`` and ``gpuhclust cluster``, run in-process through
``gpuhclust.cli.main`` (plus one real ``python -m gpuhclust`` to check the entry point)."""
from __future__ import annotations

import os
import re
import subprocess
import sys

import numpy as np
import pytest
import scipy.cluster.hierarchy as sch
from scipy.cluster.vq import whiten

import gpuhclust
from gpuhclust._linkage import last_plan
from gpuhclust._plots import plot_dendrogram, recursion_limit

from _cli_helpers import assert_png, run, summary_sizes, summary_value

# ----------------------------------------------------------------------------------- basics

def test_version(capsys):
    code, out, _ = run(capsys, "--version")
    assert code == 0
    assert out.strip() == f"gpuhclust {gpuhclust.__version__}"


@pytest.mark.parametrize("argv", [["--help"], ["demo", "--help"], ["cluster", "--help"]])
def test_help(capsys, argv):
    code, out, _ = run(capsys, *argv)
    assert code == 0
    assert out.startswith("usage: gpuhclust")


# ------------------------------------------------------------------------------------- demo

def test_demo_writes_pngs_and_prints_summary(tmp_path, capsys):
    out_dir = tmp_path / "new" / "folder"  # does not exist yet: the demo must create it
    code, out, err = run(capsys, "demo", "--out", out_dir)
    assert code == 0, err
    sizes = summary_sizes(out)
    assert len(sizes) == 3 and sum(sizes) == 300
    # The blobs are well separated: ward finds them, roughly 100 each.
    assert all(80 <= s <= 120 for s in sizes)
    assert summary_value(out, "n") == "300"
    assert summary_value(out, "method") == "ward"
    # what ran, not what was asked: 'auto' takes 300 points to 'numpy' in a fresh process
    assert summary_value(out, "backend") == last_plan().backend.name
    assert summary_value(out, "engine") == "matrix"  # what ward on 300 points runs
    assert re.fullmatch(r"[\d.]+ m?s \(linkage\)", summary_value(out, "time"))
    for name in ("clusters.png", "dendrogram.png"):
        assert_png(out_dir / name)
        assert f"wrote {out_dir / name}" in out


def test_demo_matches_scipy(tmp_path, capsys):
    from gpuhclust._demo import make_blobs

    code, out, err = run(capsys, "demo", "--out", tmp_path, "--n", 90, "--method", "average",
                         "--seed", 7, "--backend", "cpu")
    assert code == 0, err
    X = whiten(make_blobs(90, 7)[0])
    expected = sch.fcluster(sch.linkage(X, "average"), 3, "maxclust")
    assert summary_sizes(out) == np.bincount(expected)[1:].tolist()
    assert summary_value(out, "backend") == "cpu"


def test_demo_large_n_dendrogram(tmp_path, capsys):
    code, out, err = run(capsys, "demo", "--out", tmp_path, "--n", 3000, "--method", "single")
    assert code == 0, err
    assert "RecursionError" not in err
    assert sum(summary_sizes(out)) == 3000
    assert_png(tmp_path / "dendrogram.png")
    assert_png(tmp_path / "clusters.png")


def test_demo_rejects_tiny_n(tmp_path, capsys):
    code, _, err = run(capsys, "demo", "--out", tmp_path, "--n", 2)
    assert code == 2
    assert err.count("\n") == 1 and "--n" in err


def _chain_linkage(n: int) -> np.ndarray:
    # Gaps that grow along the line: single linkage adds one point at a time, so the tree is
    # n levels deep, the worst case for SciPy's recursive dendrogram.
    X = np.cumsum(np.arange(1.0, n + 1.0)).reshape(-1, 1)
    return sch.linkage(X, "single")


def test_deep_tree_needs_the_recursion_limit_and_it_is_restored(tmp_path):
    Z = _chain_linkage(5000)
    before = sys.getrecursionlimit()
    # The premise: SciPy alone cannot walk this tree at the default limit.
    with pytest.raises(RecursionError):
        sch.dendrogram(Z, no_plot=True)
    assert sys.getrecursionlimit() == before
    plot_dendrogram(Z, tmp_path / "full.png", truncate=False, title="chain")
    plot_dendrogram(Z, tmp_path / "truncated.png", title="chain")
    assert sys.getrecursionlimit() == before
    assert_png(tmp_path / "full.png")
    assert_png(tmp_path / "truncated.png")


def test_recursion_limit_restored_after_an_error():
    before = sys.getrecursionlimit()
    with pytest.raises(KeyError):
        with recursion_limit(10_000):
            assert sys.getrecursionlimit() == max(before, 10 * 10_000 + 1000)
            raise KeyError("boom")
    assert sys.getrecursionlimit() == before


def test_python_m_gpuhclust_demo(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "gpuhclust", "demo", "--out", str(tmp_path),
                           "--n", "60"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert sum(summary_sizes(proc.stdout)) == 60
    assert_png(tmp_path / "clusters.png")
    assert_png(tmp_path / "dendrogram.png")


# ---------------------------------------------------------------------------------- cluster

@pytest.fixture(scope="module")
def data() -> np.ndarray:
    rng = np.random.default_rng(42)
    centres = np.array([[0.0, 0.0, 0.0], [6.0, 1.0, -2.0], [2.0, 7.0, 3.0]])
    return np.concatenate([rng.normal(c, 1.0, size=(15, 3)) for c in centres])


def write_input(tmp_path, X, kind: str):
    """Write `X` in one of the input formats; 17 significant digits round-trip exactly."""
    if kind == "csv-header":
        path = tmp_path / "data.csv"
        np.savetxt(path, X, delimiter=",", fmt="%.17g", header="x,y,z", comments="")
    elif kind == "csv":
        path = tmp_path / "data.csv"
        np.savetxt(path, X, delimiter=",", fmt="%.17g")
    elif kind == "txt":
        path = tmp_path / "data.txt"
        np.savetxt(path, X, fmt="%.17g", header="made by np.savetxt")  # a '#' comment line
    elif kind == "npy":
        path = tmp_path / "data.npy"
        np.save(path, X)
    else:
        raise AssertionError(kind)
    return path


def read_labels(path) -> np.ndarray:
    with open(path) as f:
        lines = f.read().splitlines()
    assert lines[0] == "label"
    return np.array([int(v) for v in lines[1:]])


@pytest.mark.parametrize("kind,method,k", [
    ("csv-header", "ward", 3),
    ("csv", "single", 3),
    ("npy", "average", 4),
    ("txt", "complete", 2),
])
def test_cluster_formats_match_scipy(tmp_path, capsys, data, kind, method, k):
    path = write_input(tmp_path, data, kind)
    labels_path, z_path = tmp_path / "labels.csv", tmp_path / "Z.npy"
    code, out, err = run(capsys, "cluster", path, "--method", method, "--maxclust", k,
                         "--out", labels_path, "--linkage-out", z_path)
    assert code == 0, err
    Z_ref = sch.linkage(data, method)
    labels = read_labels(labels_path)
    assert labels.shape == (len(data),)
    np.testing.assert_array_equal(labels, sch.fcluster(Z_ref, k, "maxclust"))
    Z = np.load(z_path)
    np.testing.assert_array_equal(Z[:, [0, 1, 3]], Z_ref[:, [0, 1, 3]])
    np.testing.assert_allclose(Z[:, 2], Z_ref[:, 2], rtol=1e-12, atol=0)
    assert summary_value(out, "n") == str(len(data))
    assert summary_value(out, "d") == "3"
    assert summary_sizes(out) == np.bincount(labels)[1:].tolist()


def test_cluster_distance_whiten_and_options(tmp_path, capsys, data):
    path = write_input(tmp_path, data, "csv-header")
    labels_path = tmp_path / "labels.csv"
    code, out, err = run(capsys, "cluster", path, "--method", "average", "--distance", 1.0,
                         "--whiten", "--out", labels_path, "--dtype", "float64",
                         "--no-progress", "--backend", "cpu")
    assert code == 0, err
    expected = sch.fcluster(sch.linkage(whiten(data), "average"), 1.0, "distance")
    np.testing.assert_array_equal(read_labels(labels_path), expected)
    assert summary_value(out, "backend") == "cpu"


@pytest.mark.parametrize("method,backend", [
    ("ward", "cpu"), ("centroid", "cpu"), ("single", "cpu"), ("ward", "cuda-sim"),
    ("median", "cuda-sim"),
])
def test_cluster_vector_engine(tmp_path, capsys, data, method, backend):
    path = write_input(tmp_path, data, "npy")
    z_path = tmp_path / "Z.npy"
    code, out, err = run(capsys, "cluster", path, "--method", method, "--maxclust", 3,
                         "--engine", "vector", "--backend", backend, "--linkage-out", z_path)
    assert code == 0, err
    assert summary_value(out, "engine") == "vector"
    Z = np.load(z_path)
    np.testing.assert_array_equal(Z, gpuhclust.linkage(data, method, backend="cpu",
                                                       engine="vector"))
    Z_ref = sch.linkage(data, method)
    np.testing.assert_array_equal(Z[:, [0, 1, 3]], Z_ref[:, [0, 1, 3]])
    assert summary_sizes(out) == np.bincount(sch.fcluster(Z_ref, 3, "maxclust"))[1:].tolist()


def test_cluster_engine_reaches_linkage(tmp_path, capsys, data, monkeypatch):
    seen = []

    def spy(*args, **kwargs):
        seen.append((len(args[0]), kwargs.get("engine")))  # the timing's warm-up has 8 rows
        return sch.linkage(args[0], args[1])

    monkeypatch.setattr(gpuhclust, "linkage", spy)
    path = write_input(tmp_path, data, "csv")
    for engine in ("matrix", "auto"):
        assert run(capsys, "cluster", path, "--maxclust", 2, "--engine", engine)[0] == 0
    assert run(capsys, "cluster", path, "--maxclust", 2)[0] == 0
    assert [engine for n, engine in seen if n == len(data)] == ["matrix", "auto", "auto"]


def test_cluster_float32_and_many_clusters(tmp_path, capsys, data):
    path = write_input(tmp_path, data, "npy")
    plot, dendro = tmp_path / "scatter.png", tmp_path / "tree.png"
    code, out, err = run(capsys, "cluster", path, "--distance", 0, "--dtype", "float32",
                         "--metric", "cityblock", "--progress", "--plot", plot,
                         "--dendrogram", dendro)
    assert code == 0, err
    # Cutting at 0 leaves every observation alone; the summary lists 20 and counts the rest.
    assert summary_value(out, "clusters") == str(len(data))
    assert f"({len(data) - 20} more)" in summary_value(out, "sizes")
    assert_png(plot)  # more clusters than legend entries: one scatter call, no legend
    assert_png(dendro)


def test_cluster_without_out_writes_no_file(tmp_path, capsys, data, monkeypatch):
    path = write_input(tmp_path, data, "csv")
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, "cluster", path.name, "--maxclust", 3)
    assert code == 0, err
    assert sorted(os.listdir(tmp_path)) == ["data.csv"]
    assert sum(summary_sizes(out)) == len(data)
    assert "wrote" not in out


@pytest.mark.parametrize("columns", [3, 1])
def test_cluster_plots(tmp_path, capsys, data, columns):
    path = write_input(tmp_path, data[:, :columns], "csv-header" if columns == 3 else "csv")
    plot, dendro = tmp_path / "plots" / "scatter.png", tmp_path / "plots" / "tree.png"
    code, out, err = run(capsys, "cluster", path, "--maxclust", 3, "--plot", plot,
                         "--dendrogram", dendro)
    assert code == 0, err
    assert_png(plot)
    assert_png(dendro)
    assert f"wrote {plot}" in out and f"wrote {dendro}" in out


# ----------------------------------------------------------------------------------- errors

def _write(path, content):
    if isinstance(content, np.ndarray):
        np.save(path, content)
    else:
        path.write_text(content)


ERROR_CASES = [
    # file name, content (None: do not create), what the message must contain
    ("missing.csv", None, ["no such file"]),
    ("data.xlsx", "1,2\n3,4\n", ["unknown file type '.xlsx'"]),
    ("bad.csv", "x,y\n1,2\n3,abc\n4,5\n", ["row 3, column 2", "'abc' is not a number"]),
    ("bad.txt", "1 2\n\n3 4\n5 x7\n", ["row 4, column 2", "'x7' is not a number"]),
    ("nan.csv", "1,2\n3,4\n5,nan\n", ["row 3, column 2", "not a finite number"]),
    ("inf.csv", "a,b\n1,inf\n3,4\n", ["row 2, column 2", "not a finite number"]),
    ("inf.npy", np.array([[1.0, 2.0], [3.0, -np.inf]]), ["row 2, column 2", "not a finite"]),
    ("empty.csv", "", ["empty"]),
    ("empty.txt", "# nothing but a comment\n\n", ["empty"]),
    ("empty.npy", np.zeros((0, 2)), ["empty"]),
    ("header_only.csv", "x,y\n", ["no data rows"]),
    ("single.csv", "x,y\n1,2\n", ["at least 2", "found 1"]),
    ("single.npy", np.ones((1, 3)), ["at least 2", "found 1"]),
    ("ragged.csv", "1,2\n3,4\n5,6,7\n", ["row 3", "3 columns", "has 2"]),
    ("ragged.txt", "1 2\n3\n", ["row 2", "1 columns", "has 2"]),
    ("blank_cell.csv", "1,2\n3,\n", ["row 2, column 2", "empty cell"]),
    ("strings.npy", np.array(["a", "b"]), ["not real numbers"]),
    ("text.npy", "1,2\n3,4\n", ["not a .npy file"]),
]


@pytest.mark.parametrize("name,content,expected", ERROR_CASES,
                         ids=[case[0] for case in ERROR_CASES])
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, name, content, expected):
    path = tmp_path / name
    if content is not None:
        _write(path, content)
    code, out, err = run(capsys, "cluster", path, "--maxclust", 2)
    assert code == 2
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"gpuhclust: {path}: ")
    for fragment in expected:
        assert fragment in lines[0]
    assert out == ""


@pytest.mark.parametrize("options,expected", [
    (["--maxclust", "0"], "--maxclust"),
    (["--maxclust", "-3"], "--maxclust"),
    (["--distance", "-1"], "--distance"),
    (["--distance", "nan"], "--distance"),
    (["--maxclust", "2", "--plot", "out.xyz"], "out.xyz"),
    (["--maxclust", "2", "--backend", "no-such-backend"], "no-such-backend"),
])
def test_bad_option_values_are_one_line_and_exit_2(tmp_path, capsys, data, options, expected):
    path = write_input(tmp_path, data, "csv")
    code, _, err = run(capsys, "cluster", path, *options)
    assert code == 2
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    assert err.startswith("gpuhclust: ") and expected in err


@pytest.mark.parametrize("options,expected", [
    (["--method", "ward", "--metric", "cityblock"], "Euclidean"),
    (["--metric", "no-such-metric"], "no-such-metric"),
    (["--method", "average", "--engine", "vector"],
     "engine='vector' computes single, ward, centroid and median linkage, not 'average'"),
])
def test_linkage_value_errors_are_one_line(tmp_path, capsys, data, options, expected):
    path = write_input(tmp_path, data, "csv")
    code, _, err = run(capsys, "cluster", path, "--maxclust", 2, *options)
    assert code == 2
    assert len(err.splitlines()) == 1, err
    assert err.startswith(f"gpuhclust: {path}: ") and expected in err


def test_linkage_memory_error_is_one_line(tmp_path, capsys, data, monkeypatch):
    def out_of_memory(*args, **kwargs):
        raise MemoryError("the 45 x 45 float64 distance matrix needs\n16.2 KiB")

    monkeypatch.setattr(gpuhclust, "linkage", out_of_memory)
    path = write_input(tmp_path, data, "csv")
    code, _, err = run(capsys, "cluster", path, "--maxclust", 2)
    assert code == 2
    assert len(err.splitlines()) == 1, err
    assert err.startswith(f"gpuhclust: {path}: not enough memory") and "16.2 KiB" in err


@pytest.mark.parametrize("argv", [
    ["cluster", "data.csv"],                                       # no --maxclust/--distance
    ["cluster", "data.csv", "--maxclust", "2", "--distance", "1"],  # both
    ["cluster", "data.csv", "--maxclust", "two"],
    ["cluster", "data.csv", "--maxclust", "2", "--method", "nope"],
    ["cluster", "data.csv", "--maxclust", "2", "--engine", "vectors"],
    ["demo", "--n", "many"],
    [],
])
def test_usage_errors_exit_2(capsys, argv):
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert "usage: gpuhclust" in err and "Traceback" not in err
