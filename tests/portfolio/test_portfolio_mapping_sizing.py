"""Position maps (alpha, sigmoid, rank, top/bottom) and sizing (inverse vol, vol target)."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import polars as pl
import pytest
from scipy.stats import rankdata

from coinfactor.core.errors import ConfigError, DataError
from coinfactor.portfolio import (
    bucket_alpha,
    inverse_vol_weights,
    linear_alpha,
    portfolio_vol,
    rank_alpha,
    sigmoid_target,
    top_bottom_alpha,
    vol_target_scale,
)

T = datetime(2024, 1, 1, tzinfo=UTC)


def test_bucket_alpha_direction() -> None:
    """Bucket 1 (lowest carry) -> -1 (short), bucket 10 (highest carry) -> +1 (long)."""
    df = pl.DataFrame({"b": [1, 4, 10]})
    got = df.select(bucket_alpha("b", 10).alias("a"), bucket_alpha("b", 10, reverse=True)
                    .alias("r"))
    np.testing.assert_allclose(got["a"], [-1.0, 2 * 3 / 9 - 1, 1.0])
    np.testing.assert_allclose(got["r"], [1.0, -(2 * 3 / 9 - 1), -1.0])


def test_sigmoid_hand_values() -> None:
    df = pl.DataFrame({"a": [-1.0, 0.0, 1.0]})
    got = df.select(sigmoid_target("a", k=2.0, x_offset=0.5, y_min=-0.9, y_max=0.9))["a"]
    expected = [-0.9 + 1.8 / (1 + np.exp(-2 * (a - 0.5))) for a in (-1.0, 0.0, 1.0)]
    np.testing.assert_allclose(got, expected, rtol=1e-15)
    # symmetric default: alpha 0 -> 0, monotone increasing
    sym = df.select(sigmoid_target("a"))["a"].to_numpy()
    assert sym[1] == 0.0 and sym[0] < 0 < sym[2]


def test_linear_alpha_clips() -> None:
    got = pl.DataFrame({"z": [-5.0, -1.0, 0.5, 3.0]}).select(linear_alpha("z", scale=2.0))["z"]
    assert got.to_list() == [-1.0, -0.5, 0.25, 1.0]


def test_rank_alpha_matches_scipy_average_ranks() -> None:
    scores = [3.0, 1.0, 3.0, 2.0, None]
    df = pl.DataFrame({"ts": [T] * 5, "symbol": list("ABCDE"), "s": scores})
    got = rank_alpha(df, "s")["alpha"].to_list()
    r = rankdata([3.0, 1.0, 3.0, 2.0], method="average")  # reference ranks
    assert got[:4] == pytest.approx(list(2 * (r - 1) / 3 - 1))
    assert got[4] is None


def test_top_bottom_tie_rule_is_alphabetical() -> None:
    df = pl.DataFrame({"ts": [T] * 5, "symbol": ["E", "B", "A", "D", "C"],
                       "s": [5.0, 5.0, 5.0, 1.0, 1.0]})
    got = top_bottom_alpha(df, "s", 1)
    assert dict(zip(got["symbol"], got["alpha"], strict=True)) == {
        "A": 1.0, "B": 0.0, "C": 0.0, "D": -1.0, "E": 0.0}
    # input row order is kept
    assert got["symbol"].to_list() == ["E", "B", "A", "D", "C"]
    # fewer than 2n names: floor(count/2) each side
    small = top_bottom_alpha(df.head(3), "s", 5)
    assert sorted(small["alpha"].to_list()) == [-1.0, 0.0, 1.0]


def test_mapping_errors() -> None:
    with pytest.raises(ConfigError):
        bucket_alpha("b", 1)
    with pytest.raises(ConfigError):
        sigmoid_target("a", k=-1.0)
    with pytest.raises(ConfigError):
        sigmoid_target("a", y_min=1.0, y_max=0.0)
    with pytest.raises(DataError, match="missing"):
        rank_alpha(pl.DataFrame({"ts": [T]}), "s")
    with pytest.raises(ConfigError):
        top_bottom_alpha(pl.DataFrame({"ts": [T], "symbol": ["A"], "s": [1.0]}), "s", 0)


def test_inverse_vol_unit_gross() -> None:
    target = np.array([[0.5, -0.5, 0.2, np.nan], [0.0, 0.0, 0.0, 0.0]])
    vol = np.array([[0.1, 0.2, 0.4, 0.3], [0.1, 0.1, 0.1, 0.1]])
    w = inverse_vol_weights(target, vol)
    raw = np.array([5.0, -2.5, 0.5])
    np.testing.assert_allclose(w[0, :3], raw / 8.0)
    assert np.isnan(w[0, 3])
    np.testing.assert_array_equal(w[1], 0.0)


def test_portfolio_vol_diagonal_and_correlation_reference() -> None:
    """Correlation method == explicit D C D with C the mean of e eᵀ over the window (loop)."""
    rng = np.random.default_rng(4)
    n_t, n_s, k = 40, 4, 10
    z = rng.normal(size=(n_t, 1))
    rets = 0.02 * (0.7 * z + 0.7 * rng.normal(size=(n_t, n_s)))
    rets[5, 2] = np.nan
    vol = np.full((n_t, n_s), 0.02)
    w = rng.normal(0, 0.3, (n_t, n_s))
    diag = portfolio_vol(w, vol, method="diagonal")
    np.testing.assert_allclose(diag, np.sqrt(((w * vol) ** 2).sum(axis=1)))
    got = portfolio_vol(w, vol, rets, method="correlation", window=k)
    for t in range(2, n_t):
        lo = max(0, t - k + 1)
        e = np.nan_to_num(rets[lo:t + 1] / 0.02)  # standardised by the previous forecast
        if lo == 0:
            e[0] = 0.0  # the first bar has no previous forecast
        c = e.T @ e / min(t + 1, k)
        d = np.diag(vol[t])
        ref = np.sqrt(w[t] @ d @ c @ d @ w[t])
        assert got[t] == pytest.approx(ref, rel=1e-12)


def test_vol_target_scale() -> None:
    s = vol_target_scale(np.array([0.01, 0.0, np.nan, 0.001]), 0.02, max_scale=5.0)
    np.testing.assert_allclose(s, [2.0, 0.0, 0.0, 5.0])
    with pytest.raises(ConfigError):
        vol_target_scale(np.array([0.1]), 0.0)
    with pytest.raises(ConfigError):
        portfolio_vol(np.zeros((2, 2)), np.zeros((2, 2)), method="correlation")
