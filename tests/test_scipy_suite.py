"""SciPy's own test suite for ``scipy.cluster.hierarchy`` (``test_hierarchy.py``, shipped with
SciPy) with every ``linkage`` call routed to ``gpuhclust.linkage`` (the plugin in
``scipy_suite/``), in a subprocess: all of it passes with ``algorithm='scipy'`` (SciPy's Z bit
for bit, ties included) and with the default algorithm (no test there depends on SciPy's own
choice among tied merges)."""
from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import pytest
import scipy

SUITE = pathlib.Path(scipy.__file__).parent / "cluster" / "tests" / "test_hierarchy.py"
PLUGIN_DIR = pathlib.Path(__file__).parent / "scipy_suite"


@pytest.mark.slow
@pytest.mark.parametrize("algorithm", ["scipy", None])
def test_scipy_hierarchy_suite_passes(algorithm, tmp_path):
    if not SUITE.exists():
        pytest.skip(f"this SciPy ships no {SUITE}")
    calls = tmp_path / "calls"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(PLUGIN_DIR)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]),
        GPUHCLUST_SCIPY_SUITE_ALGORITHM=algorithm or "", GPUHCLUST_SCIPY_SUITE_CALLS=str(calls))
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p",
         "gpuhclust_linkage_plugin", "--rootdir", str(tmp_path), str(SUITE)],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    assert int(calls.read_text()) > 50  # the calls really went to gpuhclust
