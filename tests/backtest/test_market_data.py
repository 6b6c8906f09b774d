"""MarketData's trailing volatility and volume, against pandas' rolling std and mean.

Reference: ``pandas.DataFrame.rolling(n, min_periods).std()`` / ``.mean()`` (NaN skipped,
ddof=1) on the same log returns and quote volumes, with gaps, a late listing and an empty
column; truncation: the value at a bar is the same on the series cut after it.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import polars as pl
import pytest

from coinfactor.backtest import MarketData
from coinfactor.data import Grid


def _market(n_t: int, n_s: int, seed: int, freq: str = "1h") -> MarketData:
    rng = np.random.default_rng(seed)
    close = 50 * np.exp(np.cumsum(rng.normal(0, 0.02, (n_t, n_s)), axis=0))
    close[rng.random(close.shape) < 0.15] = np.nan
    close[: n_t // 3, 1] = np.nan  # listed late
    close[:, 2] = np.nan  # never traded
    qv = rng.lognormal(14, 1.0, close.shape)
    qv[np.isnan(close)] = np.nan
    step = {"1h": timedelta(hours=1), "1d": timedelta(days=1)}[freq]
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    ts = pl.datetime_range(t0, t0 + (n_t - 1) * step, freq, eager=True, time_zone="UTC",
                           time_unit="us")
    grid = Grid(ts, freq, tuple(f"S{j}" for j in range(n_s)), np.empty(0, np.int64),
                np.empty(0, np.int64), None)
    return MarketData(grid, close, qv)


@pytest.mark.parametrize(("freq", "window_days"), [("1h", 2.0), ("1h", 0.5), ("1d", 30.0)])
def test_trailing_vol_and_adv_equal_pandas_rolling(freq: str, window_days: float) -> None:
    m = _market(400, 5, 3, freq)
    bpd = 24.0 if freq == "1h" else 1.0
    n = max(2, round(window_days * bpd))
    first = max(2, min(n, math.ceil(bpd)))
    with np.errstate(invalid="ignore", divide="ignore"):
        lr = np.full(m.close.shape, np.nan)
        lr[1:] = np.log(m.close[1:] / m.close[:-1])
    ref_sd = pd.DataFrame(lr).rolling(n, min_periods=first).std().to_numpy() * math.sqrt(bpd)
    np.testing.assert_allclose(m.daily_vol(window_days), ref_sd, rtol=1e-9, atol=1e-14)
    n_adv = max(1, round(window_days * bpd))
    first_adv = max(1, min(n_adv, math.ceil(bpd)))
    ref_adv = (pd.DataFrame(m.quote_volume).rolling(n_adv, min_periods=first_adv).mean()
               .to_numpy() * bpd)
    np.testing.assert_allclose(m.adv(window_days), ref_adv, rtol=1e-12)
    assert np.isnan(m.daily_vol(window_days)[:, 2]).all()


def test_trailing_vol_and_adv_are_point_in_time() -> None:
    whole = _market(300, 4, 5)
    for cut in (37, 150, 299):
        part = MarketData(whole.grid.slice(0, cut), whole.close[:cut], whole.quote_volume[:cut])
        np.testing.assert_array_equal(part.daily_vol(2.0), whole.daily_vol(2.0)[:cut])
        np.testing.assert_array_equal(part.adv(2.0), whole.adv(2.0)[:cut])
