"""coinfactor.risk volatility forecasts: arch reference, gaps, truncation, realised vol."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import polars as pl
import pytest
from arch.univariate import EWMAVariance

from coinfactor.core.errors import ConfigError
from coinfactor.risk import bar_returns, ema_blend_vol, ewma_variance, rolling_bar_vol
from support.panels import make_panel

T0 = datetime(2024, 1, 1, tzinfo=UTC)
DAY = timedelta(days=1)


def _arch_ewma(r: np.ndarray, span: float) -> np.ndarray:
    """arch's RiskMetrics variance; sigma2[t] uses r[..t-1]. Backcast r[0]^2 = our start."""
    lam = 1.0 - 2.0 / (span + 1.0)
    s2 = np.empty(r.size)
    EWMAVariance(lam=lam).compute_variance(np.array([]), r, s2, r[0] ** 2,
                                           np.zeros((r.size, 2)))
    return s2


def test_ema_blend_matches_arch_ewma() -> None:
    """Blend of two EMAs == the same blend of arch EWMAVariance, one bar ahead (no look-ahead)."""
    rng = np.random.default_rng(7)
    closes = list(100 * np.exp(np.cumsum(rng.normal(0, 0.03, 200))))
    panel = make_panel({"A": closes}, step=DAY, start=T0)
    got = ema_blend_vol(panel, short_span=10, long_span=40, blend=0.3, min_periods=1)
    r = np.diff(np.log(closes))
    ref_var = 0.3 * _arch_ewma(r, 10) + 0.7 * _arch_ewma(r, 40)
    # arch's sigma2[t+1] is built from r[..t]: the forecast we publish at bar t (returns r[0]
    # is bar 1's). So our vol at bar k (k = 1..199) equals sqrt(ref_var[k]) for k < 199.
    vol = got["vol"].to_numpy()
    assert got["ts"][0] == T0 + DAY  # first return is bar 1's
    np.testing.assert_allclose(vol[:-1] ** 2, ref_var[1:], rtol=1e-12)


def test_gap_is_never_crossed_and_state_carries() -> None:
    """A missing bar gives no return for it nor for the next bar; the EMA skips them.

    Bar 3 has no row (no forecast); bar 4 has a price but no return: it carries v2.
    """
    closes: list[float | None] = [100.0, 101.0, 99.0, None, 100.0, 102.0, 101.0]
    panel = make_panel({"A": closes}, step=DAY, start=T0)
    got = ema_blend_vol(panel, short_span=3, long_span=3, blend=1.0, min_periods=1,
                        kind="simple")
    r1, r2, r5, r6 = 101 / 100 - 1, 99 / 101 - 1, 102 / 100 - 1, 101 / 102 - 1
    lam = 0.5  # span 3
    v1 = r1**2
    v2 = lam * v1 + (1 - lam) * r2**2
    v5 = lam * v2 + (1 - lam) * r5**2  # bar 4 (100 after the gap) has no return
    v6 = lam * v5 + (1 - lam) * r6**2
    assert got["ts"].to_list() == [T0 + i * DAY for i in (1, 2, 4, 5, 6)]
    np.testing.assert_allclose(got["vol"] ** 2, [v1, v2, v2, v5, v6], rtol=1e-14)


def test_truncation_invariance() -> None:
    rng = np.random.default_rng(1)
    closes = {s: list(100 * np.exp(np.cumsum(rng.normal(0, 0.03, 60)))) for s in "ABC"}
    closes["C"][:10] = [None] * 10
    closes["B"][30] = None
    panel = make_panel(closes, step=DAY, start=T0)
    full = ema_blend_vol(panel, min_periods=5)
    for cut in (15, 31, 45):
        t = T0 + cut * DAY
        part = ema_blend_vol(panel.filter(pl.col("ts") <= t), min_periods=5)
        assert part.equals(full.filter(pl.col("ts") <= t))
        rv_full = rolling_bar_vol(panel, window=5)
        assert rolling_bar_vol(panel.filter(pl.col("ts") <= t), window=5).equals(
            rv_full.filter(pl.col("ts") <= t))


def test_min_periods_and_annualize() -> None:
    rng = np.random.default_rng(2)
    panel = make_panel({"A": list(100 * np.exp(np.cumsum(rng.normal(0, 0.03, 30))))},
                       step=DAY, start=T0)
    base = ema_blend_vol(panel, min_periods=10)
    assert base.height == 29 - 9  # 29 returns, forecast from the 10th
    ann = ema_blend_vol(panel, min_periods=10, annualize=True)
    np.testing.assert_allclose(ann["vol"], base["vol"] * np.sqrt(365), rtol=1e-15)


def test_rolling_bar_vol_matches_pandas_rolling_std() -> None:
    """Reference: pandas rolling(window).std() (ddof=1) on the log returns."""
    rng = np.random.default_rng(3)
    closes = list(100 * np.exp(np.cumsum(rng.normal(0, 0.02, 50))))
    panel = make_panel({"A": closes}, step=DAY, start=T0)
    got = rolling_bar_vol(panel, window=7)
    ref = pd.Series(np.log(closes)).diff().rolling(7).std().dropna()
    np.testing.assert_allclose(got["rolling_bar_vol"], ref.to_numpy(), rtol=1e-10)


def test_bar_returns_kinds() -> None:
    close = np.array([[1.0, np.nan], [1.1, 2.0], [1.21, 2.2]])
    simple = bar_returns(close)
    assert np.isnan(simple[0]).all() and np.isnan(simple[1, 1])
    np.testing.assert_allclose(simple[1:, 0], [0.1, 0.1])
    np.testing.assert_allclose(bar_returns(close, kind="log")[2], np.log([1.1, 1.1]))


def test_bad_settings() -> None:
    panel = make_panel({"A": [1.0, 1.1, 1.2]}, step=DAY, start=T0)
    with pytest.raises(ConfigError, match="short_span"):
        ema_blend_vol(panel, short_span=50, long_span=10)
    with pytest.raises(ConfigError, match="blend"):
        ema_blend_vol(panel, blend=1.5)
    with pytest.raises(ConfigError, match="window"):
        rolling_bar_vol(panel, window=1)
    with pytest.raises(ConfigError, match="span"):
        ewma_variance(np.ones((3, 1)), span=0.5)
