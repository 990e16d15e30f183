"""The benchmark suite runs end to end (no speed assertions): benchmarks/suite.py --quick."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.spatial.distance as ssd

ROOT = Path(__file__).resolve().parent.parent
SUITE = ROOT / "benchmarks" / "suite.py"
sys.path.insert(0, str(ROOT / "benchmarks"))

import _report  # noqa: E402
import suite  # noqa: E402
from _check import check_z  # noqa: E402

ROW_FIELDS = {"contender", "library", "backend", "engine", "dtype", "n", "d", "method", "metric",
              "times", "median", "compile_s", "warmup_s", "peak_rss_bytes", "peak_rise_bytes",
              "rss_baseline_bytes", "check", "status"}


def _run(tmp_path, *extra):
    res = subprocess.run([sys.executable, str(SUITE), "--quick", "--out", str(tmp_path), *extra],
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    (path,) = tmp_path.glob("*.json")
    return json.loads(path.read_text()), path


def _region(text):
    start = text.index("\n", text.index(_report.BEGIN)) + 1
    return text[:start], text[start:text.index(_report.END)], text[text.index(_report.END):]


@pytest.mark.slow
def test_quick_mode_end_to_end(tmp_path):
    result, path = _run(tmp_path)
    for key in ("machine", "versions", "date", "args", "rows", "skipped", "command"):
        assert key in result
    for key in ("cpu_model", "cores", "memory_bytes"):
        assert result["machine"][key]
    contenders = {r["contender"] for r in result["rows"]}
    assert {"scipy", "fastcluster", "fastcluster-vector", "sklearn", "gpuhclust-cpu-auto",
            "gpuhclust-cpu", "gpuhclust-cpu-f32", "gpuhclust-cpu-vector"} <= contenders
    # the engine each gpuhclust run chose is recorded
    used = {(r["contender"], r["method"]): r["engine_used"] for r in result["rows"]
            if r["contender"].startswith("gpuhclust")}
    assert used[("gpuhclust-cpu-auto", "ward")] == used[("gpuhclust-cpu", "single")] == "matrix"
    assert used[("gpuhclust-cpu-auto", "single")] == used[("gpuhclust-cpu-vector", "ward")] \
        == "vector"
    assert {r["method"] for r in result["rows"]} == {"single", "ward"}
    for r in result["rows"]:
        assert ROW_FIELDS <= set(r), sorted(ROW_FIELDS - set(r))
        assert r["status"] == "ok" and r["check"]["passed"] is True, r
        assert len(r["times"]) == r["repeat"] and r["median"] > 0 and r["peak_rss_bytes"] > 0
    assert path.with_suffix(".png").stat().st_size > 1000
    # the README table was rendered into a copy: the marked region only
    before, after = (ROOT / "README.md").read_text(), (tmp_path / "README.md").read_text()
    b, a = _region(before), _region(after)
    assert a[0] == b[0] and a[2] == b[2]
    assert "| single |" in a[1] and "| ward |" in a[1] and "yes" in a[1]


@pytest.mark.slow
def test_quick_mode_from_condensed_input(tmp_path):
    """--input condensed: the contenders that take a condensed matrix, each Z checked against
    SciPy's from the same distances; the results and the README note say so."""
    result, path = _run(tmp_path, "--input", "condensed")
    assert path.name.startswith("quick-condensed-")
    contenders = {r["contender"] for r in result["rows"]}
    assert {"fastcluster", "gpuhclust-cpu-auto", "gpuhclust-cpu"} <= contenders
    assert not contenders & {"fastcluster-vector", "sklearn", "gpuhclust-cpu-vector"}
    for r in result["rows"]:
        assert r["input"] == "condensed"
        assert r["status"] == "ok" and r["check"]["passed"] is True, r
    assert "from the condensed distances" in (tmp_path / "README.md").read_text()


@pytest.mark.slow
def test_quick_mode_alternates_the_contenders(tmp_path):
    """--alternate 2: two children per contender, in turns; each row pools their calls."""
    res = subprocess.run([sys.executable, str(SUITE), "--quick", "--out", str(tmp_path),
                          "--contenders", "gpuhclust-cpu,fastcluster", "--alternate", "2"],
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    (path,) = tmp_path.glob("*.json")
    result = json.loads(path.read_text())
    turns = [line.split()[:3] for line in res.stdout.splitlines()
             if line.lstrip().startswith("turn ")]
    # per method: gpuhclust, fastcluster, gpuhclust, fastcluster
    assert [t[1:] for t in turns[:4]] == [["1/2", "gpuhclust-cpu:"], ["1/2", "fastcluster:"],
                                          ["2/2", "gpuhclust-cpu:"], ["2/2", "fastcluster:"]]
    for r in result["rows"]:
        assert r["status"] == "ok" and r["check"]["passed"] is True, r
        assert len(r["times"]) == 2 * r["repeat"] and len(r["child_medians"]) == 2
        assert r["median"] == np.median(r["times"])
    readme = (tmp_path / "README.md").read_text()
    assert "median of 2 calls in 2 processes per contender taking turns" in readme


def test_pooled_rows():
    a = {"times": [3.0], "median": 3.0, "compile_s": 1.0, "warmup_s": 0.5,
         "peak_rss_bytes": 10, "peak_rise_bytes": 4}
    b = {"times": [1.0], "median": 1.0, "compile_s": 2.0, "warmup_s": None,
         "peak_rss_bytes": 30, "peak_rise_bytes": 2}
    c = {"times": [2.0, 5.0], "median": 3.5, "compile_s": 3.0, "warmup_s": 1.5,
         "peak_rss_bytes": 20, "peak_rise_bytes": 6}
    row = suite.pooled([a, b, c])
    assert row["times"] == [3.0, 1.0, 2.0, 5.0] and row["median"] == 2.5
    assert row["child_medians"] == [3.0, 1.0, 3.5] and row["processes"] == 3
    assert row["compile_s"] == 2.0 and row["warmup_s"] == 1.0
    assert row["peak_rss_bytes"] == 30 and row["peak_rise_bytes"] == 6
    failed = {"median": None, "status": "error", "error": "boom"}
    assert suite.pooled([dict(a), failed, dict(c)]) is failed
    assert suite.pooled([a]) is a


def test_a_failed_process_ends_its_contenders_turns(tmp_path, monkeypatch):
    """--alternate: after a failure a contender gets no more turns; every process's Z is
    checked (one that differs fails the row), not the last one's only."""
    calls = []
    Z = np.array([[0.0, 1.0, 1.0, 2.0]])

    def one(args, c, n, d, method, metric, tmp, is_reference_only=False):
        calls.append(c)
        turn = calls.count(c)
        if c == "fastcluster" and turn == 1:
            return {"contender": c, "status": "error", "median": None, "error": "boom"}
        z = Z.copy()
        if c == "gpuhclust-cpu" and turn == 1:
            z[0, 2] = 1.5  # the first process's Z differs; the later ones agree
        return {"contender": c, "times": [1.0], "median": 1.0, "compile_s": 0.1,
                "warmup_s": 0.1, "peak_rss_bytes": 1, "peak_rise_bytes": 1, "_Z": z,
                "n": n, "d": d, "method": method, "metric": metric}

    monkeypatch.setattr(suite, "one", one)
    monkeypatch.setattr(suite, "reference_for", lambda *a, **k: "scipy")
    monkeypatch.setattr(suite, "_line", lambda r: "")
    args = suite.parse(["--n", "2", "--methods", "single", "--alternate", "3",
                        "--contenders", "gpuhclust-cpu,fastcluster"])
    rows, references = suite.measure_all(args, ["gpuhclust-cpu", "fastcluster"],
                                         log=lambda *a: None)
    assert calls.count("scipy") == 1 and calls.count("fastcluster") == 1
    assert calls.count("gpuhclust-cpu") == 3
    by = {r["contender"]: r for r in rows}
    assert by["fastcluster"]["status"] == "error"
    assert by["gpuhclust-cpu"]["processes"] == 3
    assert by["gpuhclust-cpu"]["status"] == "check failed"


def test_condensed_input_is_pdist_of_the_observations():
    from _contenders import CONTENDERS, input_data

    X = np.random.default_rng(0).standard_normal((7, 3))
    assert input_data(X, "observations", "cityblock") is X
    np.testing.assert_array_equal(input_data(X, "condensed", "cityblock"),
                                  ssd.pdist(X, "cityblock"))
    assert suite.reference_for(7, 3, "ward", "euclidean", None, None, "condensed") in (
        "scipy", None)
    assert not CONTENDERS["gpuhclust-cpu-vector"].condensed


@pytest.mark.slow
def test_quick_scaling_fits_a_slope(tmp_path):
    result, path = _run(tmp_path, "--scaling")
    assert result["mode"] == "quick"
    (s,) = result["slopes"]
    assert s["method"] == "average" and s["points"] == 3 and np.isfinite(s["slope"])
    assert path.with_suffix(".png").exists()


def test_readme_writer_touches_only_the_marked_region(tmp_path):
    text = ("# title\n\nbefore\n<!-- speed-table:begin (generated) -->\nold | table\n\nold note\n"
            "<!-- speed-table:end -->\nafter\n")
    readme = tmp_path / "README.md"
    readme.write_text(text)
    _report.write_readme(readme, "new table\n\n")
    new = readme.read_text()
    assert new == text.replace("old | table\n\nold note\n", "new table\n")
    with pytest.raises(ValueError):
        _report.replace_region("no markers here", "x")
    with pytest.raises(ValueError):
        _report.replace_region(text + text, "x")


def test_a_different_z_fails_the_check():
    X = np.random.default_rng(1).standard_normal((40, 3))
    import scipy.cluster.hierarchy as sch

    Z = sch.linkage(X, "average")
    ok = check_z(Z.copy(), Z, dtype="float64", heights=True, method="average", reference="scipy")
    assert ok["passed"] is True
    bad = Z.copy()
    bad[5, 2] *= 1 + 1e-9
    assert check_z(bad, Z, dtype="float64", heights=True, method="average",
                   reference="scipy")["passed"] is False
    # float32 tolerance, then the replay invariant for a Z that differs
    assert check_z(bad, Z, dtype="float32", heights=True, method="average", reference="scipy",
                   X=X)["passed"] is True
    swapped = Z.copy()
    swapped[[3, 4]] = swapped[[4, 3]]
    res = check_z(swapped, Z, dtype="float32", heights=True, method="average",
                  reference="scipy", X=X)
    assert res["passed"] is False and "replay" in res["rule"]
    # too large to replay: a few rows in another order with the same heights is undecided
    assert check_z(swapped, Z, dtype="float32", heights=True, method="average",
                   reference="scipy", X=X, replay_max_n=10)["passed"] is None
    assert check_z(bad * [1, 1, 1.001, 1], Z, dtype="float32", heights=True, method="average",
                   reference="scipy", X=X, replay_max_n=10)["passed"] is False
    assert check_z(Z, None, dtype="float64", heights=True, method="average",
                   reference=None)["passed"] is None
    rows = [{"status": "ok"}, {"status": "check failed"}, {"status": "skipped"}]
    assert suite.failures({"rows": rows}) == [rows[1]]


def test_scaling_sizes_fit_the_budget():
    ns = suite.scaling_ns(24 * 10**9 - 2 * 2**30)
    assert ns[0] == 1000 and ns[1] == 2000 and ns == sorted(ns)
    assert 4 * ns[-1] ** 2 + suite.OVERHEAD <= 24 * 10**9 - 2 * 2**30
    assert 4 * (ns[-1] + 1000) ** 2 + suite.OVERHEAD > 24 * 10**9 - 2 * 2**30
    # from condensed input the float64 distances sit beside the matrix
    budget = 24 * 10**9 - 2 * 2**30
    n = suite.scaling_ns(budget, kind="condensed")[-1]
    assert suite.fits("gpuhclust-cpu-f32", n, 16, budget, "condensed")
    assert not suite.fits("gpuhclust-cpu-f32", n + 1000, 16, budget, "condensed")
    assert suite.fits("gpuhclust-cpu-f32", n + 1000, 16, budget)


def test_snapshot_of_a_commit(tmp_path, monkeypatch):
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    monkeypatch.setattr(suite.tempfile, "gettempdir", lambda: str(tmp_path))
    src = suite.snapshot("HEAD")
    assert (Path(src["path"]) / "gpuhclust" / "__init__.py").exists() and src["commit"]


def test_profile_matrix_reports_the_floor_of_its_phases(tmp_path):
    import profile_matrix

    pytest.importorskip("fastcluster")
    result = profile_matrix.main(["--n", "300", "--d", "4", "--methods", "complete,average",
                                  "--repeat", "2", "--out", str(tmp_path)])
    phases = result["phases"]
    # complete's rounds keep squares from observations (their fill is the floor), average's not
    fills = {"complete": "squares_fresh", "average": "distances_fresh"}
    assert [row["method"] for row in result["floor"]] == ["complete", "average"]
    assert result["condensed_floor_s"] == pytest.approx(phases["condensed_fresh"]["wall_s"]
                                                        + phases["one_pass"]["wall_s"] / 2)
    for row in result["floor"]:
        m = row["method"]
        floor = phases[fills[m]]["wall_s"] + phases["one_pass"]["wall_s"]
        assert row["floor_s"] == pytest.approx(floor)
        assert row["beyond_floor_s"] == pytest.approx(phases[f"gpuhclust_{m}"]["wall_s"] - floor)
        assert row["best_ratio_at_floor"] == pytest.approx(phases[f"fastcluster_{m}"]["wall_s"] / floor)
        assert len(result["samples_wall_s"][f"gpuhclust_{m}"]) == 2
        # the first scan reads every entry, each merge two more rows
        assert result["scans"][m]["entries_read"] >= 300 * 300 + 2 * 299 * 2
    assert json.loads(next(tmp_path.glob("profile-matrix-n300-d4-*.json")).read_text())["floor"] == result["floor"]
