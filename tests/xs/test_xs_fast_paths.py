"""Oracle tests of the row kernels (``coinfactor.xs._rows``): each equals the straightforward
computation it replaces.

References: the polars ``xs`` expressions (per-ts ``.over``), and average ranks from
``scipy.stats.rankdata`` in exact fractions for the buckets (rows with heavy ties, all-equal,
one-value and all-NaN rows, -0.0 and 0.0, sparse rows of a wide grid).
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import polars as pl
import pytest
from scipy.stats import rankdata

from coinfactor import xs
from coinfactor.xs._rows import (
    row_bucket_at_least,
    row_buckets,
    row_winsorize,
    row_winsorize_zscore_buckets,
    row_zscore,
)


def _nan_rows(seed: int, ties: bool) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(int(rng.integers(1, 25)), int(rng.integers(1, 40))))
    if ties:
        x = np.round(x, 1)
    x[rng.random(x.shape) < rng.random() * 0.8] = np.nan
    return x


@pytest.mark.parametrize("seed", range(40))
def test_row_kernels_equal_the_polars_expressions(seed: int) -> None:
    """Reference: xs.buckets / winsorize / zscore evaluated .over("ts") on the long frame."""
    x = _nan_rows(seed, ties=seed % 2 == 0)
    ii, jj = np.nonzero(~np.isnan(x))
    long = pl.DataFrame({"ts": ii, "x": x[ii, jj]})
    ref = long.select(
        xs.buckets(pl.col("x"), 10).alias("b"),
        xs.winsorize(pl.col("x"), lower=0.1, upper=0.85).alias("w"),
        xs.zscore(pl.col("x")).alias("z"))
    np.testing.assert_array_equal(row_buckets(x, 10)[ii, jj], ref["b"].to_numpy())
    np.testing.assert_array_equal(row_winsorize(x, lower=0.1, upper=0.85)[ii, jj],
                                  ref["w"].to_numpy())
    # NumPy and polars add in different orders: a few ulps
    np.testing.assert_allclose(row_zscore(x)[ii, jj], ref["z"].to_numpy(), rtol=0, atol=1e-13)
    assert (row_buckets(x, 10)[np.isnan(x)] == 0).all()
    assert np.isnan(row_zscore(x)[np.isnan(x)]).all()


@pytest.mark.parametrize("seed", range(20))
def test_one_sort_pipeline_equals_the_three_calls(seed: int) -> None:
    x = _nan_rows(100 + seed, ties=True)
    score, bucket = row_winsorize_zscore_buckets(x, 7, lower=0.05, upper=0.9)
    ref = row_zscore(row_winsorize(x, lower=0.05, upper=0.9))
    np.testing.assert_array_equal(score, ref)
    np.testing.assert_array_equal(bucket, row_buckets(ref, 7))


@pytest.mark.parametrize("seed", range(15))
def test_bucket_threshold_equals_full_buckets(seed: int) -> None:
    """Reference: row_buckets (itself checked against xs.buckets above) compared to level."""
    x = _nan_rows(200 + seed, ties=seed % 3 == 0)
    for level in range(0, 12):
        np.testing.assert_array_equal(row_bucket_at_least(x, 10, level),
                                      row_buckets(x, 10) >= max(level, 1))


def test_row_kernels_edge_cases() -> None:
    assert row_buckets(np.empty((0, 3)), 10).shape == (0, 3)
    np.testing.assert_array_equal(row_buckets(np.array([[np.nan, 2.0, -0.0, 0.0]]), 4),
                                  [[0, 4, 2, 2]])  # -0.0 ties with 0.0
    np.testing.assert_array_equal(row_zscore(np.array([[3.0, 3.0, np.nan]])), [[0, 0, np.nan]])


def _naive_buckets(x: np.ndarray, n: int) -> np.ndarray:
    """ceil(n·r/m) with r the average rank (scipy), in exact fractions; 0 where NaN."""
    out = np.zeros(x.shape, dtype=np.int64)
    for i, row in enumerate(x):
        ok = ~np.isnan(row)
        m = int(ok.sum())
        if m == 0:
            continue
        ranks = rankdata(row[ok] + 0.0, method="average")  # -0.0 ties with 0.0
        out[i, ok] = [math.ceil(Fraction(n) * Fraction(r) / m) for r in ranks]
    return out


def _tied_rows(seed: int) -> np.ndarray:
    """Rows with heavy ties, all-equal rows, one-value rows, all-NaN rows, -0.0 and 0.0."""
    rng = np.random.default_rng(seed)
    n_t, n_s = int(rng.integers(1, 30)), int(rng.integers(1, 25))
    x = rng.integers(-2, 3, (n_t, n_s)).astype(float)
    x[rng.random(x.shape) < rng.random() * 0.7] = np.nan
    if n_t > 3:
        x[0] = 1.5  # all equal
        x[1] = np.nan  # empty
        x[2] = np.nan
        x[2, int(rng.integers(0, n_s))] = 4.0  # one value
        x[3, ::2] = -0.0
    return x


@pytest.mark.parametrize("seed", range(30))
def test_buckets_equal_average_rank_fractions(seed: int) -> None:
    x = _tied_rows(seed)
    for n in (1, 2, 3, 4, 7, 10):
        ref = _naive_buckets(x, n)
        np.testing.assert_array_equal(row_buckets(x, n), ref)
        for level in range(0, n + 2):
            np.testing.assert_array_equal(row_bucket_at_least(x, n, level),
                                          ref >= max(level, 1))


@pytest.mark.parametrize("seed", range(20))
def test_one_sort_pipeline_on_flat_and_tiny_rows(seed: int) -> None:
    """Reference: the separate row_winsorize -> row_zscore -> naive buckets."""
    x = _tied_rows(100 + seed)
    score, bucket = row_winsorize_zscore_buckets(x, 5, lower=0.1, upper=0.9)
    ref = row_zscore(row_winsorize(x, lower=0.1, upper=0.9))
    np.testing.assert_array_equal(score, ref)
    np.testing.assert_array_equal(bucket, _naive_buckets(ref, 5))


@pytest.mark.parametrize("seed", range(8))
def test_one_sort_pipeline_on_sparse_rows(seed: int) -> None:
    """A few values per row of a wide grid (packed before sorting): same as the separate
    calls (row_winsorize -> row_zscore -> naive average-rank buckets)."""
    rng = np.random.default_rng(300 + seed)
    x = np.round(rng.normal(size=(40, 90)), 1)
    x[rng.random(x.shape) < 0.85] = np.nan
    x[3] = np.nan
    x[5, :] = np.nan
    x[5, 7] = -0.0
    score, bucket = row_winsorize_zscore_buckets(x, 10)
    ref = row_zscore(row_winsorize(x))
    assert 2 * (~np.isnan(x)).sum(axis=1).max() <= x.shape[1]  # the packed path
    np.testing.assert_array_equal(score, ref)
    np.testing.assert_array_equal(bucket, _naive_buckets(ref, 10))
