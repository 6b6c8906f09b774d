"""Cross-sectional transforms: hand cases, pandas/NumPy/statsmodels references, bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pytest
import statsmodels.api as sm

from coinfactor import xs
from coinfactor.core.errors import ConfigError, DataError


def _frame(seed: int = 0, n_ts: int = 6, ties: bool = False) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for t in range(n_ts):
        m = int(rng.integers(1, 14))
        for j in range(m):
            v = float(rng.integers(0, 4)) if ties else float(rng.normal())
            rows.append({"ts": t, "symbol": f"S{j}", "x": None if rng.random() < 0.1 else v,
                         "a": float(rng.normal()), "b": float(rng.normal())})
    return pl.DataFrame(rows)


def _by_ts(df: pl.DataFrame, fn) -> np.ndarray:
    """Apply a pandas Series function per ts (the reference), aligned to df's rows."""
    pdf = df.to_pandas()
    return pdf.groupby("ts")["x"].transform(fn).to_numpy(dtype=float)


@pytest.mark.parametrize("ties", [False, True], ids=["distinct", "ties"])
def test_rank_equals_pandas_pct_rank(ties) -> None:
    df = _frame(1, ties=ties)
    got = df.select(xs.rank(pl.col("x"))).to_series().to_numpy().astype(float)
    want = _by_ts(df, lambda s: s.rank(pct=True, method="average"))
    np.testing.assert_allclose(got, want, equal_nan=True, rtol=1e-15)


def test_winsorize_equals_numpy_quantile_clip() -> None:
    df = _frame(2)
    got = df.select(xs.winsorize(pl.col("x"), lower=0.1, upper=0.8)).to_series()

    def ref(s: pd.Series) -> pd.Series:
        v = s.dropna().to_numpy()
        lo, hi = np.quantile(v, [0.1, 0.8], method="linear")
        return s.clip(lo, hi)

    np.testing.assert_allclose(got.to_numpy().astype(float), _by_ts(df, ref), equal_nan=True,
                               rtol=1e-14)


def test_zscore_equals_pandas_and_guards_zero_dispersion() -> None:
    df = _frame(3)
    got = df.select(xs.zscore(pl.col("x"))).to_series().to_numpy().astype(float)

    def ref(s: pd.Series) -> pd.Series:
        if s.nunique() <= 1:
            return s * 0.0
        return (s - s.mean()) / s.std(ddof=1)

    np.testing.assert_allclose(got, _by_ts(df, ref), equal_nan=True, rtol=1e-12, atol=1e-15)
    flat = pl.DataFrame({"ts": [0, 0, 0, 1], "x": [0.1, 0.1, 0.1, 7.0]})
    assert flat.select(xs.zscore(pl.col("x"))).to_series().to_list() == [0.0, 0.0, 0.0, 0.0]
    with_null = pl.DataFrame({"ts": [0, 0], "x": [None, 2.0]})
    assert with_null.select(xs.zscore(pl.col("x"))).to_series().to_list() == [None, 0.0]


def test_demean_hand_case() -> None:
    df = pl.DataFrame({"ts": [0, 0, 0, 1, 1], "x": [1.0, 2.0, None, 4.0, 8.0]})
    assert df.select(xs.demean(pl.col("x"))).to_series().to_list() == [-0.5, 0.5, None, -2, 2]


def test_buckets_hand_cases() -> None:
    df = pl.DataFrame({"ts": [0] * 10 + [1] * 3 + [2] * 5, "x": [
        *[5.0, 1, 2, 3, 4, 10, 9, 8, 7, 6],  # distinct, 10 names in 5 buckets: pairs
        *[1.0, 2.0, 3.0],  # fewer names than buckets: ceil(5 r / 3) = 2, 4, 5
        *[1.0, 1.0, 1.0, 2.0, None],  # tie block of 3 at average rank 2: ceil(5*2/4) = 3
    ]})
    got = df.select(xs.buckets(pl.col("x"), 5)).to_series().to_list()
    assert got[:10] == [3, 1, 1, 2, 2, 5, 5, 4, 4, 3]
    assert got[10:13] == [2, 4, 5]
    assert got[13:] == [3, 3, 3, 5, None]


def test_buckets_match_pandas_qcut_on_distinct_multiples() -> None:
    """With m a multiple of n and no ties, buckets equal pandas.qcut(labels=False) + 1."""
    rng = np.random.default_rng(4)
    x = rng.normal(size=40)
    df = pl.DataFrame({"ts": [0] * 40, "x": x})
    got = df.select(xs.buckets(pl.col("x"), 8)).to_series().to_numpy()
    np.testing.assert_array_equal(got, pd.qcut(x, 8, labels=False) + 1)


def test_buckets_are_permutation_invariant_with_ties() -> None:
    df = _frame(5, ties=True).with_row_index("row")
    a = df.with_columns(xs.buckets(pl.col("x"), 4).alias("b")).sort("row")
    shuffled = df.sample(fraction=1.0, shuffle=True, seed=7)
    b = shuffled.with_columns(xs.buckets(pl.col("x"), 4).alias("b")).sort("row")
    assert a.get_column("b").equals(b.get_column("b"))
    # ties share a bucket
    same = a.drop_nulls("x").group_by("ts", "x").agg(pl.col("b").n_unique().alias("k"))
    assert same.get_column("k").max() == 1


def test_partition_by_other_column() -> None:
    df = pl.DataFrame({"day": [0, 0, 1, 1], "x": [1.0, 3.0, 10.0, 30.0]})
    assert df.select(xs.demean(pl.col("x"), by="day")).to_series().to_list() == [-1, 1, -10, 10]


def test_neutralize_equals_statsmodels_residuals_per_ts() -> None:
    df = _frame(6).with_columns(pl.col("a").alias("c"))
    got = xs.neutralize(df, "x", ["a", "b"])
    for t, group in got.to_pandas().groupby("ts"):
        g = group.dropna(subset=["x"])
        if len(g) <= 3:
            continue
        fit = sm.OLS(g["x"], sm.add_constant(g[["a", "b"]], has_constant="add")).fit()
        np.testing.assert_allclose(g["x_neutral"], fit.resid, atol=1e-12, err_msg=f"ts {t}")
    assert got.filter(pl.col("x").is_null()).get_column("x_neutral").null_count() == \
        got.get_column("x").null_count()


def test_neutralize_rank_deficient_gives_unique_residual() -> None:
    """Collinear regressors (b = 2a): the residual is the projection on [1, a] alone."""
    rng = np.random.default_rng(8)
    a = rng.normal(size=12)
    x = rng.normal(size=12)
    df = pl.DataFrame({"ts": [0] * 12, "x": x, "a": a, "b": 2 * a})
    got = xs.neutralize(df, "x", ["a", "b"], name="r").get_column("r").to_numpy()
    want = sm.OLS(x, sm.add_constant(a)).fit().resid
    np.testing.assert_allclose(got, want, atol=1e-12)


def test_bad_input() -> None:
    df = pl.DataFrame({"ts": [0], "x": [1.0]})
    with pytest.raises(ConfigError, match="buckets"):
        xs.buckets(pl.col("x"), 0)
    with pytest.raises(ConfigError, match="lower"):
        xs.winsorize(pl.col("x"), lower=0.9, upper=0.1)
    with pytest.raises(ConfigError, match="partition"):
        xs.rank(pl.col("x"), by=[])
    with pytest.raises(DataError, match="missing_col"):
        xs.neutralize(df, "x", ["missing_col"])
    with pytest.raises(ConfigError, match="nothing"):
        xs.neutralize(df, "x", [], intercept=False)


def test_nan_is_treated_as_missing() -> None:
    df = pl.DataFrame({"ts": [0, 0, 0, 0], "x": [1.0, float("nan"), 3.0, None]})
    assert df.select(xs.rank(pl.col("x"))).to_series().to_list() == [0.5, None, 1.0, None]
    assert df.select(xs.buckets(pl.col("x"), 2)).to_series().to_list() == [1, None, 2, None]
    assert df.select(xs.zscore(pl.col("x"))).to_series().to_list() == pytest.approx(
        [-2**-0.5, None, 2**-0.5, None])
    assert df.select(xs.demean(pl.col("x"))).to_series().to_list() == [-1.0, None, 1.0, None]
    assert df.select(xs.winsorize(pl.col("x"), lower=0.0, upper=1.0)).to_series().to_list() == [
        1.0, None, 3.0, None]
