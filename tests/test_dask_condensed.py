"""backend='dask' with a condensed distance matrix as a 1-D dask array: packed for the shards on
the workers, never whole on the driver; the same Z as the same matrix as a NumPy array, bit for
bit, and the same errors."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.cluster.hierarchy as sch
import scipy.spatial.distance as ssd

distributed = pytest.importorskip("distributed")
da = pytest.importorskip("dask.array")

import gpuhclust  # noqa: E402
from gpuhclust.dask import _condensed  # noqa: E402
from _helpers import (DASK_WARNINGS, REDUCIBLE, assert_same_as_scipy, blobs,  # noqa: E402
                      require_simulator, tie_heavy)

pytestmark = DASK_WARNINGS

N = 48
L = N * (N - 1) // 2  # 1128 entries


def _condensed_data(dtype=np.float64):
    """Tie-heavy distances: a row that arrived in the wrong place would change Z."""
    return ssd.pdist(tie_heavy(N, 2, 5)).astype(dtype)


# chunkings of the 1128 entries (rows of 47, 46, ... entries) and the shards (2 or 3) they go
# to: across row boundaries, several chunks per shard, one chunk over several shards, irregular
# with an empty chunk (chunks of 7: test_small_chunks, one task per chunk costs time)
CHUNKINGS = {"23": (23, 2), "100": (100, 3), "one": (L, 2), "half": (L // 2 + 1, 3),
             "irregular": (((5, 300, 0, 1, 222, 600),), 2)}


def _linkage(y, method, client, dtype=np.float64, **kw):
    return gpuhclust.linkage(y, method, backend="dask", client=client, dtype=dtype, **kw)


_REFERENCE: dict = {}  # Z of the NumPy condensed matrix, per (method, dtype, storage)


def _reference(y, method, client, storage):
    key = (method, y.dtype.name, np.dtype(storage).name)
    if key not in _REFERENCE:
        _REFERENCE[key] = _linkage(y, method, client, storage)
    return _REFERENCE[key]


# -- parity -------------------------------------------------------------------------------------
@pytest.mark.parametrize("method", REDUCIBLE)
@pytest.mark.parametrize("dtype,storage", [
    pytest.param(np.float64, np.float64, id="f64"),
    pytest.param(np.float32, np.float32, id="f32", marks=pytest.mark.slow),
    pytest.param(np.float64, np.float32, id="f64-stored-f32", marks=pytest.mark.slow)])
def test_same_z_as_numpy_condensed(dask_client, dask_client3, method, dtype, storage):
    y = _condensed_data(dtype)
    Z_numpy = _reference(y, method, dask_client, storage)
    for name, (chunks, shards) in CHUNKINGS.items():
        Z = _linkage(da.from_array(y, chunks=chunks), method,
                     dask_client3 if shards == 3 else dask_client, storage)
        assert np.array_equal(Z, Z_numpy), name


@pytest.mark.parametrize("method,dtype", [("average", np.float64), ("single", np.float32)])
def test_small_chunks(dask_client, method, dtype):
    y = _condensed_data(dtype)
    Z = _linkage(da.from_array(y, chunks=7), method, dask_client, dtype)
    assert np.array_equal(Z, _reference(y, method, dask_client, dtype))


@pytest.mark.parametrize("method", REDUCIBLE)
@pytest.mark.parametrize("n", [2, 3, 90])
def test_tie_free_equals_scipy(dask_client, method, n):
    y = ssd.pdist(blobs(n, 4, seed=8))
    Z = _linkage(da.from_array(y, chunks=333 if n > 3 else 1), method, dask_client)
    assert_same_as_scipy(Z, sch.linkage(y, method))


def test_computed_dask_array_and_optimal_ordering(dask_client):
    """A condensed matrix that is a dask computation (chunks made by tasks, rechunked), and
    optimal_ordering=True (which needs the matrix whole on the driver, as for NumPy input)."""
    y = ssd.pdist(blobs(60, 3, seed=2))
    yd = (da.from_array(y, chunks=400) * 2.0 + 1.0).rechunk(177)
    for opt in (False, True):
        Z = _linkage(yd, "average", dask_client, optimal_ordering=opt)
        np.testing.assert_array_equal(Z, _linkage(y * 2.0 + 1.0, "average", dask_client,
                                                  optimal_ordering=opt))


@pytest.mark.parametrize("method", ["complete", "average"])
def test_negative_distances(dask_client, method):
    """Negative entries are accepted as for a NumPy array (and the shards see them: the
    argmin may not assume non-negative values)."""
    y = np.round(ssd.pdist(np.random.default_rng(5).random((36, 2))), 1) - 0.3
    Z = _linkage(da.from_array(y, chunks=50), method, dask_client)
    np.testing.assert_array_equal(Z, _linkage(y, method, dask_client))


def test_cuda_sim_shards(dask_client):
    """CUDA shards (on the kernel simulator) take the joined pieces as the Numba shards do."""
    from gpuhclust.dask import DaskBackend

    require_simulator()
    y = ssd.pdist(tie_heavy(30, 2, 1))
    Z = gpuhclust.linkage(da.from_array(y, chunks=7), "average", client=dask_client,
                          backend=DaskBackend(shard_compute="cuda-sim"))
    np.testing.assert_array_equal(Z, _linkage(y, "average", dask_client))


def test_other_backends_compute_it(dask_client):
    y = _condensed_data()
    Z = gpuhclust.linkage(da.from_array(y, chunks=100), "average", backend="cpu")
    np.testing.assert_array_equal(Z, gpuhclust.linkage(y, "average", backend="cpu"))


# -- packing ------------------------------------------------------------------------------------
@pytest.mark.parametrize("n", [2, 3, 11, 40])
def test_packing_by_ranges_equals_whole_rows(n):
    """Cutting the condensed entries anywhere and joining the pieces gives, for every shard,
    what its rows need (checked against the square matrix)."""
    rng = np.random.default_rng(n)
    y = rng.random(n * (n - 1) // 2)
    D = ssd.squareform(y)
    cuts = np.unique(np.concatenate(([0, len(y)], rng.integers(0, len(y) + 1, 6))))
    shard_bounds = np.unique(np.concatenate(([0, n], rng.integers(0, n + 1, 3))))
    bounds = list(zip(shard_bounds[:-1].tolist(), shard_bounds[1:].tolist()))
    parts = [_condensed.pack_for_shards(y[a:b], int(a), n, bounds)
             for a, b in zip(cuts[:-1], cuts[1:])]
    for s, (r0, r1) in enumerate(bounds):
        pieces = [p[s] for p in parts if p[s] is not None]
        got = np.concatenate(pieces) if pieces else np.empty(0)
        want = [D[c, r0:r1] if c < r0 else D[c, c + 1:] for c in range(min(r1, n - 1))]
        np.testing.assert_array_equal(got, np.concatenate(want) if want else np.empty(0))


# -- errors ---------------------------------------------------------------------------------------
def _numpy_error(y, method, client):
    with pytest.raises(ValueError) as info:
        _linkage(y, method, client)
    return str(info.value)


@pytest.fixture
def no_shards(monkeypatch):
    """Validation must be done before any shard (the heavy allocation) exists."""
    from gpuhclust.dask import backend

    def refuse(*args, **kwargs):
        raise AssertionError("shards were created before the input was validated")

    monkeypatch.setattr(backend, "ShardSet", refuse)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_named_like_numpy(dask_client, no_shards, bad):
    y = _condensed_data()
    y[[700, 1000]] = bad  # the first one is reported: (18, 26)
    y[900] = -1.0
    message = _numpy_error(y, "average", dask_client)
    assert "entry 700 (observations 18 and 26)" in message
    before = y.copy()
    yd = da.from_array(y, chunks=100)
    with pytest.raises(ValueError) as info:
        _linkage(yd, "average", dask_client)
    assert str(info.value) == message
    np.testing.assert_array_equal(y, before)


@pytest.mark.parametrize("method", ["centroid", "median", "ward"])
def test_negative_refused_like_numpy(dask_client, no_shards, method):
    y = _condensed_data()
    y[555] = -0.5
    message = _numpy_error(y, method, dask_client)
    with pytest.raises(ValueError) as info:
        _linkage(da.from_array(y, chunks=40), method, dask_client)
    assert str(info.value) == message and "entry 555 (observations 13 and 36)" in message
    if method != "ward":
        with pytest.raises(NotImplementedError, match="not a reducible method"):
            # as for NumPy input
            _linkage(da.from_array(np.abs(y), chunks=40), method, dask_client)


def test_bad_length_names_it(dask_client):
    with pytest.raises(ValueError, match="Incompatible vector size 11"):
        _linkage(da.from_array(np.ones(11), chunks=3), "average", dask_client)


@pytest.mark.parametrize("y,match", [
    (np.empty(0), "condensed distance matrix is empty"),
    (np.ones(6, dtype=complex), "must hold real numbers, not complex"),
    (np.array(["1", "2", "3"]), "must hold real numbers"),
])
def test_bad_arrays(dask_client, y, match):
    with pytest.raises(ValueError, match=match):
        _linkage(da.from_array(y, chunks=2), "average", dask_client)


def test_unknown_chunk_sizes(dask_client):
    y = da.from_array(_condensed_data(), chunks=100)
    with pytest.raises(ValueError, match="unknown chunk sizes"):
        _linkage(y[y >= 0], "average", dask_client)


# -- never whole on the driver --------------------------------------------------------------------
def _entries(obj) -> int:
    if isinstance(obj, np.ndarray):
        return obj.size
    if isinstance(obj, (list, tuple)):
        return sum(_entries(o) for o in obj)
    return 0


def test_never_whole_on_the_driver(dask_client, monkeypatch):
    """What the driver receives from the workers comes in batches of a few rows; the dask
    array is never computed (np.asarray(y), y.compute(), dask_client.compute(y).result() would
    all fail here); the caller's array is unchanged."""
    from gpuhclust.dask import backend

    y = _condensed_data()
    Z_numpy = _linkage(y, "average", dask_client)
    before = y.copy()
    yd = da.from_array(y, chunks=29) + 0.0  # a graph over the caller's array
    rows = 3
    monkeypatch.setattr(backend, "TRANSFER_BYTES", 8 * rows * (N - 1))
    received = []
    gather = distributed.Client._gather

    async def counting_gather(self, futures, *args, **kwargs):
        result = await gather(self, futures, *args, **kwargs)
        received.append(_entries(result))
        return result

    def refuse(self, *args, **kwargs):
        raise AssertionError("the whole condensed dask array was computed")

    monkeypatch.setattr(distributed.Client, "_gather", counting_gather)
    monkeypatch.setattr(da.Array, "__array__", refuse)
    monkeypatch.setattr(da.Array, "compute", refuse)
    Z = _linkage(yd, "average", dask_client)
    monkeypatch.undo()
    np.testing.assert_array_equal(Z, Z_numpy)
    # the validation's summaries, then one batch of `rows` rows at a time: each entry is
    # packed for at most two shards
    assert len(received) >= (N - 1) // rows
    assert max(received) <= 2 * rows * (N - 1)
    assert sum(received) >= L  # every entry did come through
    np.testing.assert_array_equal(y, before)
    np.testing.assert_array_equal(yd.compute(), before)
