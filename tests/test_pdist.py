"""gpuhclust.pdist, and the CPU backend's square distance matrix, against
scipy.spatial.distance.pdist."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.spatial.distance as ssd

import gpuhclust
from _helpers import assert_same_bits
from gpuhclust._metrics import prepare_metric
from gpuhclust.cpu._distances import (BLOCK, CONDENSED_TILE, column_blocks,
                                      condensed_distances, square_from_condensed,
                                      square_from_observations)
from gpuhclust.cpu._lazy_matrix import int_keys

# metrics whose compiled kernels sum in SciPy's order: equal to the last bit
BIT_EXACT = ["euclidean", "sqeuclidean", "cityblock", "chebyshev"]
NUMERIC = BIT_EXACT + ["minkowski", "cosine", "correlation", "canberra", "braycurtis",
                       "seuclidean", "mahalanobis", "hamming", "jaccard", "jensenshannon"]
BOOLEAN = ["dice", "rogerstanimoto", "russellrao", "sokalsneath", "yule", "hamming", "jaccard"]


@pytest.fixture(scope="module")
def X():
    X = np.abs(np.random.default_rng(0).standard_normal((301, 7)))
    X[5] = X[3]  # a duplicate row: zero distances, cosine of identical rows
    X[9, 2] = 0.0
    return X


@pytest.mark.parametrize("metric", BIT_EXACT)
def test_bit_exact_metrics(X, metric):
    np.testing.assert_array_equal(gpuhclust.pdist(X, metric), ssd.pdist(X, metric))


@pytest.mark.parametrize("metric", NUMERIC)
def test_numeric_metrics(X, metric):
    np.testing.assert_allclose(gpuhclust.pdist(X, metric), ssd.pdist(X, metric),
                               rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("metric", BOOLEAN)
def test_boolean_metrics(metric):
    B = np.random.default_rng(1).random((80, 9)) < 0.4
    B[:, 0] = True
    np.testing.assert_allclose(gpuhclust.pdist(B, metric), ssd.pdist(B, metric), rtol=1e-12)


@pytest.mark.parametrize("alias,name", [("eu", "euclidean"), ("cblock", "cityblock"),
                                        ("cheb", "chebyshev"), ("matching", "hamming")])
def test_aliases(X, alias, name):
    np.testing.assert_array_equal(gpuhclust.pdist(X, alias), ssd.pdist(X, name))


@pytest.mark.parametrize("p", [0.5, 1.0, 2.0, 3.0, np.inf])
def test_minkowski_p(X, p):
    np.testing.assert_allclose(gpuhclust.pdist(X, "minkowski", p=p),
                               ssd.pdist(X, "minkowski", p=p), rtol=1e-12)


def test_metric_options(X):
    V = np.linspace(0.5, 3.0, X.shape[1])
    np.testing.assert_allclose(gpuhclust.pdist(X, "seuclidean", V=V),
                               ssd.pdist(X, "seuclidean", V=V), rtol=1e-12)
    VI = np.linalg.inv(np.cov(X.T) + np.eye(X.shape[1]))
    np.testing.assert_allclose(gpuhclust.pdist(X, "mahalanobis", VI=VI),
                               ssd.pdist(X, "mahalanobis", VI=VI), rtol=1e-12)
    w = np.linspace(0.1, 1.0, X.shape[1])
    np.testing.assert_allclose(gpuhclust.pdist(X, "minkowski", p=3, w=w),
                               ssd.pdist(X, "minkowski", p=3, w=w), rtol=1e-12)


def test_float32_result(X):
    y = gpuhclust.pdist(X, dtype=np.float32)
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y, ssd.pdist(X).astype(np.float32))


def test_mahalanobis_one_feature():
    X = np.random.default_rng(3).standard_normal((12, 1))
    np.testing.assert_allclose(gpuhclust.pdist(X, "mahalanobis"), ssd.pdist(X, "mahalanobis"),
                               rtol=1e-12)


def test_mahalanobis_too_few_observations():
    with pytest.raises(ValueError, match="at least 4 observations"):
        gpuhclust.pdist(np.random.rand(3, 3), "mahalanobis")


def test_pdist_needs_2d():
    with pytest.raises(ValueError, match="2-dimensional"):
        gpuhclust.pdist(np.ones(5))


def test_bad_minkowski_p(X):
    with pytest.raises(ValueError, match="p must be greater than 0"):
        gpuhclust.pdist(X, "minkowski", p=0)


# Sizes on both sides of the square fills' blocks of columns and tiles of rows (both 256) and of
# the whole-row fill's groups of 4 rows: one row, a partial tile, one tile and a bit, several
# blocks with partial ones at the end.
SQUARE_SIZES = [1, 2, 31, 33, 65, 255, 256, 257, 300, 512, 513, 600]
# (metric, storage): bit-exact metrics against SciPy, cosine (a few ulps from SciPy) against
# the condensed kernel, which the square fill must equal bit for bit all the same; chebyshev
# takes the tiled fill, the others the whole-row fill
SQUARE_CASES = [("euclidean", np.float64), ("cityblock", np.float64), ("chebyshev", np.float64),
                ("cosine", np.float64), ("euclidean", np.float32)]


def _check_square(metric, dtype, n, d):
    """Every entry of the square matrix is the condensed distance of its pair (SciPy's, for the
    bit-exact metrics), both triangles bit for bit, +inf on the diagonal, and the block
    minima are those of the stored values."""
    X = np.random.default_rng(n + d).standard_normal((n, d))
    if n > 8:
        X[7] = X[3]  # a zero distance
    prepared = prepare_metric(X, metric, {})
    if metric in BIT_EXACT:
        y = ssd.pdist(X, metric)
    else:
        y = np.empty(n * (n - 1) // 2)
        condensed_distances(prepared.X, *prepared.kernel_args, y)
    expected = ssd.squareform(y).astype(dtype)
    np.fill_diagonal(expected, np.inf)
    D = np.full((n, n), -1.0, dtype)  # an invalid distance wherever the fill misses
    block_min = np.empty((n, column_blocks(n)), dtype=np.int64)
    square_from_observations(prepared.X, *prepared.kernel_args, D, block_min)
    _check_filled(D, block_min, expected, f"{metric} n={n} d={d}")


def _check_filled(D, block_min, expected, what):
    """A square fill's matrix is `expected` bit for bit, and its block minima those of the
    stored values."""
    assert_same_bits(D, expected, what)
    keys = int_keys(expected)
    for c in range(column_blocks(D.shape[0])):  # each row's smallest key per block of columns
        np.testing.assert_array_equal(block_min[:, c],
                                      keys[:, c * BLOCK:(c + 1) * BLOCK].min(axis=1))
    assert_same_bits(np.tril(D, -1), np.tril(D.T, -1), "lower triangle vs transposed upper")


@pytest.mark.parametrize("metric,dtype", SQUARE_CASES,
                         ids=[f"{m}-{np.dtype(t).name}" for m, t in SQUARE_CASES])
@pytest.mark.parametrize("n", SQUARE_SIZES)
def test_square_from_observations_is_squareform(metric, dtype, n):
    _check_square(metric, dtype, n, 5)


@pytest.mark.parametrize("dtype,y_dtype", [(np.float64, np.float64), (np.float32, np.float64),
                                           (np.float64, np.float32)])
@pytest.mark.parametrize("n", SQUARE_SIZES + [CONDENSED_TILE + 1, 2 * BLOCK + CONDENSED_TILE - 1])
def test_square_from_condensed_is_squareform(dtype, y_dtype, n):
    """The square matrix expanded from a condensed one (tiles of rows against blocks of
    columns; float32 distances as they are): squareform's, -0.0 stored as +0.0, +inf on the
    diagonal, and its block minima."""
    y = ssd.pdist(np.random.default_rng(n).standard_normal((n, 3))).astype(y_dtype)
    y[::7] = -0.0
    expected = ssd.squareform(y + 0.0).astype(dtype)
    np.fill_diagonal(expected, np.inf)
    D = np.full((n, n), -1.0, dtype)
    block_min = np.empty((n, column_blocks(n)), dtype=np.int64)
    square_from_condensed(y, D, block_min)
    _check_filled(D, block_min, expected, f"condensed n={n}")
    assert not np.signbit(D).any()


# The whole-row fill's kernels add four features per pass and the rest one at a time (storage
# types as compiled above, but sqeuclidean's: each new one is a compilation of the fill)
FEATURE_CASES = [("sqeuclidean", np.float64), ("correlation", np.float64),
                 ("cityblock", np.float64), ("euclidean", np.float32)]


@pytest.mark.parametrize("metric,dtype", FEATURE_CASES,
                         ids=[f"{m}-{np.dtype(t).name}" for m, t in FEATURE_CASES])
@pytest.mark.parametrize("d", [1, 2, 3, 4, 8])
@pytest.mark.parametrize("n", [5, 259])
def test_square_fill_for_any_number_of_features(metric, dtype, d, n):
    _check_square(metric, dtype, n, d)


@pytest.mark.parametrize("r0,r1", [(0, 3), (171, 344), (257, 259), (255, 513)])
def test_dask_shard_rows_are_the_square_rows(r0, r1):
    """A Dask shard's rows (any start and length, groups of 4 rows across a block of columns)
    are those rows of the square matrix, bit for bit."""
    from gpuhclust.dask._shard import _fill_rows_for
    n = 515
    X = np.random.default_rng(3).standard_normal((n, 6))
    prepared = prepare_metric(X, "euclidean", {})
    square = np.empty((n, n))
    square_from_observations(prepared.X, *prepared.kernel_args, square)
    shard = np.full((r1 - r0, n), -1.0)
    _fill_rows_for(prepared.code)(prepared.X, np.ascontiguousarray(prepared.X.T), r0,
                                  *prepared.kernel_args[1:], shard)
    assert_same_bits(shard, square[r0:r1], f"rows {r0}:{r1}")
