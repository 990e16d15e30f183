"""The command line on real files: id and label columns, other delimiters, .tsv and .gz; what
the summary and the scatter report (engine, agreement with the labels, PCA); non-finite
distances named by row."""
from __future__ import annotations

import gzip

import numpy as np
import pytest
import scipy.cluster.hierarchy as sch

import gpuhclust
import gpuhclust._plots
from gpuhclust._plots import principal_components
from gpuhclust._scores import adjusted_rand_index

from _cli_helpers import assert_png, run, summary_value


@pytest.fixture(scope="module")
def table():
    """Three blobs in 3-D with an id column and the blob each row came from."""
    rng = np.random.default_rng(11)
    centres = np.array([[0.0, 0.0, 0.0], [5.0, 1.0, -2.0], [1.0, 6.0, 2.0]])
    species = np.repeat(["setosa", "versicolor", "virginica"], 12)
    X = np.concatenate([rng.normal(c, 1.2, size=(12, 3)) for c in centres])
    ids = [f"s{k:03d}" for k in range(len(X))]
    return ids, X, species


def write_table(path, table, delimiter: str, header: bool = True) -> None:
    ids, X, species = table
    lines = [delimiter.join(["id", "a", "b", "c", "species"])] if header else []
    lines += [delimiter.join([i, *(f"{v:.17g}" for v in row), s])
              for i, row, s in zip(ids, X, species)]
    text = "\n".join(lines) + "\n"
    if str(path).endswith(".gz"):
        with gzip.open(path, "wt") as f:
            f.write(text)
    else:
        path.write_text(text)


def read_labels(path) -> np.ndarray:
    return np.loadtxt(path, skiprows=1, dtype=int)


@pytest.mark.parametrize("name,delimiter", [
    ("t.csv", ","), ("t.csv", ";"), ("t.csv", "\t"), ("t.csv", "|"), ("t.tsv", "\t"),
    ("t.csv.gz", ";"), ("t.tsv.gz", "\t"),
])
def test_id_and_label_columns_with_any_delimiter(tmp_path, capsys, table, name, delimiter):
    path = tmp_path / name
    write_table(path, table, delimiter)
    code, out, err = run(capsys, "cluster", path, "--method", "average", "--maxclust", 3,
                         "--exclude", "id", "--label-column", "species", "--out",
                         tmp_path / "labels.csv")
    assert code == 0, err
    _, X, species = table
    expected = sch.fcluster(sch.linkage(X, "average"), 3, "maxclust")
    np.testing.assert_array_equal(read_labels(tmp_path / "labels.csv"), expected)
    assert summary_value(out, "d") == "3"
    assert summary_value(out, "columns") == "a, b, c"
    ari = adjusted_rand_index(species, expected)
    assert summary_value(out, "label column") == (
        f"'species', 3 classes: adjusted Rand index {ari:.3f} against the clusters")


@pytest.mark.parametrize("options", [
    ["--columns", "a,b,c", "--label-column", "species"],
    ["--columns", "2,3,4", "--label-column", "5"],
    ["--exclude", "1", "--label-column", "5"],
])
def test_columns_by_name_or_number(tmp_path, capsys, table, options):
    path = tmp_path / "t.csv"
    write_table(path, table, ",")
    code, out, err = run(capsys, "cluster", path, "--maxclust", 3, "--linkage-out",
                         tmp_path / "Z.npy", *options)
    assert code == 0, err
    np.testing.assert_array_equal(np.load(tmp_path / "Z.npy"),
                                  gpuhclust.linkage(table[1], "single", backend="cpu"))


def test_columns_by_number_without_header(tmp_path, capsys, table):
    # The id and label cells are text; the data cells decide that row 1 is data.
    path = tmp_path / "t.csv"
    write_table(path, table, ",", header=False)
    code, out, err = run(capsys, "cluster", path, "--maxclust", 3, "--columns", "3,2",
                         "--label-column", "5", "--linkage-out", tmp_path / "Z.npy")
    assert code == 0, err
    assert summary_value(out, "n") == str(len(table[1]))
    assert summary_value(out, "columns") == "column 3, column 2"
    np.testing.assert_array_equal(np.load(tmp_path / "Z.npy"),
                                  gpuhclust.linkage(table[1][:, [1, 0]], "single",
                                                    backend="cpu"))


@pytest.mark.parametrize("options,expected", [
    (["--columns", "a,zz"], "--columns 'zz' is not a column of the header"),
    (["--exclude", "9"], "--exclude 9: the file has columns 1 to 5"),
    (["--columns", "a,b", "--label-column", "b"], "the label column is also one of --columns"),
    (["--exclude", "id,a,b,c", "--label-column", "species"], "no data columns are left"),
    (["--columns", "id,a"], "row 2, column 1: 's000' is not a number"),
    (["--label-column", "kind"], "--label-column 'kind' is not a column"),
])
def test_bad_column_choices_are_one_line(tmp_path, capsys, table, options, expected):
    path = tmp_path / "t.csv"
    write_table(path, table, ",")
    code, out, err = run(capsys, "cluster", path, "--maxclust", 3, *options)
    assert code == 2
    assert len(err.splitlines()) == 1, err
    assert err.startswith(f"gpuhclust: {path}: ") and expected in err


def _gzip_bytes(text: str) -> bytes:
    return gzip.compress(text.encode(), mtime=0)


_RANDOM_CSV = "".join(f"{a!r},{b!r}\n"
                      for a, b in np.random.default_rng(0).normal(size=(500, 2)))


@pytest.mark.parametrize("name,content,expected", [
    ("plain.csv.gz", b"1,2\n3,4\n", "not a gzip file"),
    ("cut.csv.gz", _gzip_bytes(_RANDOM_CSV)[:2000], "the compressed file is truncated"),
    ("data.gz", _gzip_bytes("1,2\n3,4\n"), "unknown file type '.gz'"),
    ("data.xlsx.gz", _gzip_bytes("1,2\n3,4\n"), "unknown file type '.xlsx.gz'"),
    ("bad.tsv.gz", _gzip_bytes("a\tb\n1\t2\n3\tx\n"), "row 3, column 2: 'x' is not a number"),
], ids=["plain", "cut", "gz", "xlsx.gz", "bad.tsv.gz"])
def test_bad_compressed_input_is_one_line(tmp_path, capsys, name, content, expected):
    path = tmp_path / name
    path.write_bytes(content)
    code, out, err = run(capsys, "cluster", path, "--maxclust", 2)
    assert code == 2
    assert len(err.splitlines()) == 1, err
    assert err.startswith(f"gpuhclust: {path}: ") and expected in err


def test_names_need_a_header(tmp_path, capsys, table):
    path = tmp_path / "t.npy"
    np.save(path, table[1])
    code, _, err = run(capsys, "cluster", path, "--maxclust", 3, "--columns", "a")
    assert code == 2 and "no column names" in err


def test_npy_columns_and_label_by_number(tmp_path, capsys, table):
    _, X, species = table
    path = tmp_path / "t.npy.gz"
    classes = np.unique(species, return_inverse=True)[1].astype(float)
    with gzip.open(path, "wb") as f:
        np.save(f, np.column_stack([X, classes]))
    code, out, err = run(capsys, "cluster", path, "--maxclust", 3, "--label-column", 4)
    assert code == 0, err
    assert summary_value(out, "d") == "3"
    labels = sch.fcluster(sch.linkage(X, "single"), 3, "maxclust")
    assert f"{adjusted_rand_index(classes, labels):.3f}" in summary_value(out, "label column")


# ------------------------------------------------------------------------ what is reported

@pytest.mark.parametrize("seed", range(4))
def test_adjusted_rand_index_matches_scikit_learn(seed):
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 200))
    a = rng.integers(0, int(rng.integers(1, 6)), n)
    b = np.where(rng.random(n) < 0.7, a, rng.integers(0, 4, n))  # partly agreeing
    names = np.array(["x", "y", "z", "w", "v", "u"])[a]  # strings count like numbers
    assert adjusted_rand_index(names, b) == pytest.approx(metrics.adjusted_rand_score(a, b),
                                                          abs=1e-12)


@pytest.mark.parametrize("a,b,expected", [
    ([1, 1, 2, 2], [5, 5, 7, 7], 1.0),        # the same partition, other names
    ([1, 1, 1], [2, 2, 2], 1.0),              # one group each
    ([1, 2, 3], [3, 1, 2], 1.0),              # singletons each
    ([1, 1, 1, 1], [1, 2, 3, 4], 0.0),
])
def test_adjusted_rand_index_special_cases(a, b, expected):
    assert adjusted_rand_index(a, b) == expected


def test_principal_components_match_an_svd():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(200, 4)) @ rng.normal(size=(4, 4)) + 10.0
    scores, explained = principal_components(X)
    centred = X - X.mean(axis=0)
    U, s, Vt = np.linalg.svd(centred, full_matrices=False)
    np.testing.assert_allclose(explained, s[:2] ** 2 / (s ** 2).sum(), rtol=1e-10)
    for k in range(2):  # the same axis, up to its sign
        np.testing.assert_allclose(np.abs(scores[:, k]), np.abs(U[:, k] * s[k]), rtol=1e-8,
                                   atol=1e-8)
    assert np.abs(scores[:, 0]).max() > 0


def test_plot_shows_principal_components_and_classes(tmp_path, capsys, table, monkeypatch):
    calls = []
    original = gpuhclust._plots.plot_clusters

    def spy(X, labels, path, **kwargs):
        calls.append((X, kwargs))
        return original(X, labels, path, **kwargs)

    monkeypatch.setattr(gpuhclust._plots, "plot_clusters", spy)
    path = tmp_path / "t.csv"
    write_table(path, table, ",")
    plot = tmp_path / "scatter.png"
    code, out, err = run(capsys, "cluster", path, "--maxclust", 3, "--exclude", "id",
                         "--label-column", "species", "--plot", plot)
    assert code == 0, err
    assert_png(plot)
    (shown, kwargs), = calls
    scores, explained = principal_components(table[1])
    np.testing.assert_allclose(shown, scores)
    assert kwargs["xlabel"] == f"PC 1 ({100 * explained[0]:.0f}% of variance)"
    assert kwargs["ylabel"] == f"PC 2 ({100 * explained[1]:.0f}% of variance)"
    assert "PCA of the 3 columns" in kwargs["title"]
    np.testing.assert_array_equal(kwargs["classes"], table[2])
    assert kwargs["class_name"] == "species"


@pytest.mark.parametrize("method,options,engine", [
    ("single", [], "vector (chosen by auto)"),
    ("ward", [], "matrix (chosen by auto)"),
    ("ward", ["--engine", "vector"], "vector"),
    ("average", ["--engine", "matrix"], "matrix"),
])
def test_summary_reports_the_engine_used(tmp_path, capsys, table, method, options, engine):
    path = tmp_path / "t.npy"
    np.save(path, table[1])
    code, out, err = run(capsys, "cluster", path, "--maxclust", 3, "--method", method,
                         "--backend", "cpu", *options)
    assert code == 0, err
    assert summary_value(out, "engine") == engine
    # the algorithm the library plans for this method on that engine, as the summary says
    gpuhclust.linkage(table[1], method, backend="cpu", engine=engine.split()[0])
    assert summary_value(out, "algorithm") == gpuhclust._linkage.last_plan().algorithm


@pytest.mark.parametrize("options", [
    ["--method", "ward", "--engine", "vector"],
    ["--method", "complete", "--metric", "cosine", "--dtype", "float32"],
    ["--method", "single", "--metric", "cityblock", "--engine", "matrix"],
])
def test_timing_warms_up_what_it_times(tmp_path, capsys, table, monkeypatch, options):
    seen = []

    def spy(X, method, **kwargs):
        seen.append((len(X), method, kwargs.get("metric"), kwargs.get("dtype"),
                     kwargs.get("engine")))
        return sch.linkage(X, method)

    monkeypatch.setattr(gpuhclust, "linkage", spy)
    path = tmp_path / "t.npy"
    np.save(path, table[1])
    code, _, err = run(capsys, "cluster", path, "--maxclust", 3, *options)
    assert code == 0, err
    # The untimed warm-up (8 points) runs what the timed call runs, so it compiles it.
    (n_warm, *warm), (n, *timed) = seen
    assert (n_warm, n) == (8, len(table[1]))
    assert warm == timed


def test_non_finite_distance_names_file_rows(tmp_path, capsys):
    # correlation is 0/0 for a constant row: every pair with it is NaN. Blank and comment-free
    # CSV lines shift the file rows away from the 0-based observation indices.
    rng = np.random.default_rng(2)
    X = rng.normal(size=(8, 3))
    X[5] = 1.0
    lines = ["a,b,c", ""] + [",".join(f"{v:.17g}" for v in row) for row in X]
    lines.insert(5, "")
    path = tmp_path / "t.csv"
    path.write_text("\n".join(lines) + "\n")
    code, out, err = run(capsys, "cluster", path, "--maxclust", 2, "--metric", "correlation")
    assert code == 2
    assert len(err.splitlines()) == 1, err
    # Observation 0 is on line 3; observation 5 on line 9 (the header, two blank lines).
    line_of = [i + 1 for i, text in enumerate(lines) if text and text != "a,b,c"]
    assert f"between rows {line_of[0]} and {line_of[5]} is not finite" in err
    assert "observations" not in err


@pytest.mark.parametrize("method,backend", [("average", "cpu"), ("ward", "cuda-sim")])
def test_progress_bar_names_the_distance_phase(tmp_path, capsys, table, method, backend):
    path = tmp_path / "t.npy"
    np.save(path, table[1])
    code, _, err = run(capsys, "cluster", path, "--maxclust", 3, "--method", method,
                       "--backend", backend, "--progress")
    assert code == 0, err
    # The bar is drawn as it opens (before the distances) and once it closes.
    shown = [part for part in err.replace("\r", "\n").splitlines() if "gpuhclust" in part]
    assert shown and "gpuhclust" in shown[0] and ": distances" in shown[0], err
    assert any(": merges" in part for part in shown), err
