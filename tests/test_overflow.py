"""Distances near the ends of the storage type's range (issue 15): every backend and engine
gives a valid Z, or a ValueError that says where, never a Z with self-merges or NaN heights and
never a crash.

- float32 storage of a distance beyond float32's range: DistanceError before clustering, naming
  the first such distance.
- ward/centroid/median on distances whose squares overflow (or underflow) float64: computed on
  scaled operands, so Z is the Z of the same distances at an ordinary scale.
- an update whose true value is beyond the range (average of near-maximal distances, ward growing
  past float32): MergeOverflowError naming the merge.

cuda-sim runs in a subprocess: before the fix these inputs corrupted the heap of the process.
"""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import scipy.cluster.hierarchy as sch
import scipy.spatial.distance as ssd

import gpuhclust
from _helpers import assert_same_as_scipy, assert_same_bits, assert_valid_merges, blobs, tie_heavy
from gpuhclust import DistanceError, MergeOverflowError
from gpuhclust.cpu import backend as cpu_backend

pytestmark = [
    pytest.mark.filterwarnings("ignore:Couldn't detect a suitable IP address:RuntimeWarning"),
    pytest.mark.filterwarnings("ignore:.*8.8.8.8.*"),
    pytest.mark.filterwarnings("ignore:Port .* is already in use:UserWarning"),
]

BACKENDS = ("cpu", "cuda-sim", "dask")


def backend_method(methods):
    """(backend, method) parameters: every backend and method, but on cuda-sim (a process
    per case, to survive a crash) only the first method in the default lane, the rest slow."""
    return pytest.mark.parametrize("backend,method", [
        pytest.param(backend, method, id=f"{method}-{backend}",
                     marks=pytest.mark.slow if backend == "cuda-sim" and i else ())
        for i, method in enumerate(methods) for backend in BACKENDS])

DTYPES = (np.float64, np.float32)
# the issue's condensed matrices, at an ordinary scale; `scale` moves them out of range
ISSUE_6 = np.array([1.0, 2, 3, 4, 5, 6])
ISSUE_10 = np.array([1.0, 2, 3, 4, 5, 6, 2.5, 3.5, 4.5, 5.5])
ISSUE_OBS = np.array([[0.0], [1e38], [5e38], [2e39]])

_SUBPROCESS = """
import json, sys
import numpy as np
import gpuhclust
y = np.array(json.loads(sys.argv[1]))
kw = json.loads(sys.argv[2])
kw["dtype"] = getattr(np, kw["dtype"])
try:
    Z = gpuhclust.linkage(y, sys.argv[3], backend="cuda-sim", **kw)
    print(json.dumps({"Z": Z.tolist()}))
except ValueError as e:
    print(json.dumps({"error": type(e).__name__, "message": str(e),
                      "attrs": {k: getattr(e, k, None) for k in
                                ("pair", "index", "step", "observations", "other")}}))
"""


class Refused(Exception):
    """A ValueError from a subprocess, with the attributes of the original."""

    def __init__(self, name, message, attrs):
        super().__init__(message)
        self.name = name
        for k, v in attrs.items():
            setattr(self, k, tuple(v) if isinstance(v, list) else v)


def _run(backend, y, method, request, **kw):
    """gpuhclust.linkage(y, method, backend=backend, **kw): Z, or the ValueError raised
    (for cuda-sim a ``Refused`` carrying the same name, message and attributes)."""
    if backend == "cuda-sim":
        kw["dtype"] = np.dtype(kw.get("dtype", np.float64)).name
        res = subprocess.run([sys.executable, "-c", _SUBPROCESS, json.dumps(np.asarray(y).tolist()),
                              json.dumps(kw), method], capture_output=True, text=True,
                             timeout=600)
        assert res.returncode == 0, f"cuda-sim crashed (rc {res.returncode}):\n{res.stderr[-3000:]}"
        out = json.loads(res.stdout.strip().splitlines()[-1])
        if "Z" in out:
            return np.array(out["Z"])
        raise Refused(out["error"], out["message"], out["attrs"])
    if backend == "dask":
        kw["client"] = request.getfixturevalue("dask_client")
    return gpuhclust.linkage(y, method, backend=backend, **kw)


def _refusal(exc_type):
    return pytest.raises((exc_type, Refused))


def _skip_unsupported(backend, method, engine="matrix"):
    if backend == "dask" and method in ("centroid", "median"):
        pytest.skip("backend='dask' runs the reducible methods only")
    if backend == "dask" and engine == "vector":
        pytest.skip("backend='dask' has no vector engine")


def _assert_valid(Z, n):
    """No self-merges, ids of existing clusters, sizes that add up, finite heights."""
    assert Z.shape == (n - 1, 4)
    assert np.isfinite(Z).all(), Z
    size = {i: 1 for i in range(n)}
    for k, (a, b, _, s) in enumerate(Z):
        a, b = int(a), int(b)
        assert a < b and a in size and b in size, (k, Z)
        assert s == size.pop(a) + size.pop(b), (k, Z)
        size[n + k] = int(s)


@backend_method(["average", "ward", "centroid", "complete"])
def test_condensed_beyond_float32(backend, method, request):
    """The issue's [1e39, ..., 6e39] with dtype=float32: refused before clustering, naming the
    first distance; with float64, SciPy's Z."""
    _skip_unsupported(backend, method)
    y = ISSUE_6 * 1e39
    with _refusal(DistanceError) as info:
        _run(backend, y, method, request, dtype=np.float32)
    assert "entry 0 (observations 0 and 1)" in str(info.value)
    assert "dtype=numpy.float64" in str(info.value)
    assert info.value.pair == (0, 1) and info.value.index == 0
    Z = _run(backend, y, method, request, dtype=np.float64)
    assert_same_as_scipy(Z, sch.linkage(y, method), rtol=1e-13)


@pytest.mark.parametrize("engine", ["matrix", "vector"])
@backend_method(["ward", "average", "centroid"])
def test_observations_beyond_float32(backend, engine, method, request):
    """The issue's observations [[0], [1e38], [5e38], [2e39]]: float32 storage of their
    distances is refused (0 and 2 are the first pair beyond it); the vector engine stores no
    distances and the float64 matrix holds them: SciPy's Z."""
    _skip_unsupported(backend, method, engine)
    if engine == "vector" and method == "average":
        pytest.skip("the vector engine runs single, ward, centroid, median")
    expected = sch.linkage(ISSUE_OBS, method)
    _assert_valid(expected, 4)
    for dtype in DTYPES:
        if engine == "matrix" and dtype == np.float32:
            with _refusal(DistanceError) as info:
                _run(backend, ISSUE_OBS, method, request, dtype=dtype, engine=engine)
            assert "observations 0 and 2" in str(info.value)
            assert info.value.pair == (0, 2)
            continue
        Z = _run(backend, ISSUE_OBS, method, request, dtype=dtype, engine=engine)
        _assert_valid(Z, 4)
        np.testing.assert_array_equal(Z[:, [0, 1, 3]], expected[:, [0, 1, 3]])
        np.testing.assert_allclose(Z[:, 2], expected[:, 2], rtol=1e-12)


@backend_method(["ward", "centroid", "median", "average", "complete"])
@pytest.mark.parametrize("scale", [1e200, 1e-200])
def test_squares_beyond_float64(backend, method, scale, request):
    """The issue's ward example: finite float64 distances whose squares overflow (1e200) or
    underflow (1e-200). Z is the Z of the same distances at scale 1 (SciPy's, valid), heights
    times the scale; SciPy's own Z at 1e200 has self-merges and NaN."""
    _skip_unsupported(backend, method)
    Z = _run(backend, ISSUE_10 * scale, method, request)
    expected = sch.linkage(ISSUE_10, method)
    _assert_valid(Z, 5)
    np.testing.assert_array_equal(Z[:, [0, 1, 3]], expected[:, [0, 1, 3]])
    np.testing.assert_allclose(Z[:, 2] / scale, expected[:, 2], rtol=1e-14)


@pytest.mark.parametrize("scale", [1e200, 1e-200])
@pytest.mark.parametrize("data", ["tie_free", "ties"])
def test_ward_rounds_beyond_float64_same_z_as_numpy(scale, data):
    """Ward's rounds on the CPU merge a round's pairs at once, each reading the sizes as they
    are after the pairs before it, in the scaled pass too: the Z of backend 'numpy''s rounds,
    which merges them one by one, bit for bit; on tie-free data SciPy's merges."""
    X = blobs(300, 3, seed=2) if data == "tie_free" else tie_heavy(150, 2, seed=1)
    y = ssd.pdist(X) * scale
    Z = gpuhclust.linkage(y, "ward", backend="cpu")
    assert cpu_backend.last_run["rounds"] < len(Z) // 3  # rounds of several pairs
    assert_same_bits(Z, gpuhclust.linkage(y, "ward", backend="numpy"), "ward")
    if data == "tie_free":
        expected = sch.linkage(y / scale, "ward")
        np.testing.assert_array_equal(Z[:, [0, 1, 3]], expected[:, [0, 1, 3]])
        np.testing.assert_allclose(Z[:, 2] / scale, expected[:, 2], rtol=1e-13)


@backend_method(["average", "weighted", "ward"])
def test_update_beyond_float64(backend, method, request):
    """Merging the two nearest of three points at ~1.7e308: the distance of the third to the
    union is beyond float64 (average, weighted: the sum; ward: its true value): the merge is
    named."""
    _skip_unsupported(backend, method)
    y = np.array([1.7e308, 1.6e308, 1.0e308])
    with _refusal(MergeOverflowError) as info:
        _run(backend, y, method, request)
    assert "float64's range" in str(info.value)
    if backend in ("dask", "cuda-sim"):
        # the device and Dask row stores do not flag an overflow in the merge itself: the
        # +inf spreads through the updates until a cluster has no finite distance left, which
        # the rounds driver names (never a Z with an infinite distance merged)
        assert info.value.step >= 1 and info.value.observations == (0, 0)
    else:
        assert info.value.step == 0 and "merge 0" in str(info.value)
        assert info.value.observations == (1, 2) and info.value.other == 0
        assert "observations 1 and 2" in str(info.value)


@pytest.mark.parametrize("backend", BACKENDS)
def test_ward_beyond_float32(backend, request):
    """Ward distances grow with the clusters: stored distances all within float32, an update
    beyond it. float32 names the merge and suggests float64; float64 gives SciPy's Z."""
    y = np.array([3e38, 3.1e38, 3.2e38, 1e38, 2e38, 3e38])
    with _refusal(MergeOverflowError) as info:
        _run(backend, y, "ward", request, dtype=np.float32)
    assert "dtype=numpy.float64" in str(info.value)
    Z = _run(backend, y, "ward", request)
    assert_same_as_scipy(Z, sch.linkage(y, "ward"), rtol=1e-13)


@pytest.mark.parametrize("method", ["ward", "centroid", "median", "average"])
def test_ordinary_magnitudes_unchanged(method):
    """The scaled path is never taken for ordinary distances: SciPy's Z bit for bit, and the
    replay invariant, on data spread over many orders of magnitude."""
    rng = np.random.default_rng(15)
    X = rng.standard_normal((60, 3)) * np.exp(rng.uniform(-20, 20, size=(60, 1)))
    reference = sch.linkage(X, method)
    Z = gpuhclust.linkage(X, method, backend="cpu", algorithm="scipy")
    np.testing.assert_array_equal(Z, reference)
    assert_valid_merges(Z, gpuhclust.pdist(X), method)
    assert_same_as_scipy(gpuhclust.linkage(X, method, backend="cpu"), reference, rtol=1e-13)
