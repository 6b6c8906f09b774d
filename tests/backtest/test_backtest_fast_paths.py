"""Oracle tests of the backtest's fast paths: dense weights on a grid equal long frames.

References: a per-column forward-fill loop, ``backtest()`` on the same weights, funding and
spreads as long frames, and the same forecast joined in another row order.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import polars as pl
import pytest

from coinfactor.core.errors import DataError
from support.random_panels import ragged_daily_panel


def test_ffill_rows_equals_the_per_column_loop() -> None:
    from coinfactor.backtest._simulate import ffill_rows

    rng = np.random.default_rng(3)
    x = rng.normal(size=(200, 7))
    x[rng.random(x.shape) < 0.4] = np.nan
    x[:50, 2] = np.nan
    x[:, 5] = np.nan
    ref = x.copy()
    for j in range(x.shape[1]):
        last = np.nan
        for t in range(x.shape[0]):
            last = x[t, j] if not np.isnan(x[t, j]) else last
            ref[t, j] = last
    got = ffill_rows(x)
    np.testing.assert_array_equal(got, ref)
    assert not np.shares_memory(got, x)
    assert ffill_rows(np.empty((0, 3))).shape == (0, 3)


def _book_frame(panel: pl.DataFrame, seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    ts = panel.get_column("ts").unique().sort().to_list()
    return pl.DataFrame([{"ts": t, "symbol": s, "weight": float(rng.normal(0, 0.2))}
                         for t in ts[4::2] for s in ("S00", "S02", "S05", "S13", "S19")
                         if rng.random() < 0.6])


@pytest.mark.parametrize("lag", [0, 2], ids=lambda lag: f"lag{lag}")
def test_backtest_array_weights_equal_long_frames(lag: int) -> None:
    """Reference: backtest() on the same weights, funding and spreads as long frames."""
    from coinfactor.backtest import Fees, HalfSpread, backtest
    from coinfactor.data import Grid

    panel = ragged_daily_panel(seed=12, filled=True)
    weights = _book_frame(panel, 1)
    grid = Grid.from_panel(panel)
    w = grid.scatter(weights, "weight")
    hs = panel.select("ts", "symbol", (pl.col("close") * 0 + 7e-4).alias("half_spread"))
    opts = {"lag": lag, "funding_missing": "zero"}
    ref = backtest(panel, weights, costs=Fees(3.0) + HalfSpread(hs), freq="1d", **opts)
    hs_wide = grid.scatter(hs, "half_spread")
    hs_filled = np.where(np.isnan(hs_wide), 7e-4, hs_wide)  # backtest() carries spreads
    got = backtest(panel, w, grid=grid, costs=Fees(3.0) + HalfSpread(hs_filled), **opts)
    for name in ("nav", "weights", "trades", "turnover", "exposure", "drawdown", "vol"):
        assert getattr(got, name).equals(getattr(ref, name)), name
    const = backtest(panel.drop("funding_rate"), w, grid=grid, costs=HalfSpread(5e-4), lag=lag)
    ref_const = backtest(panel.drop("funding_rate"), weights, costs=HalfSpread(5e-4), lag=lag,
                         freq="1d")
    assert const.nav.equals(ref_const.nav)


def test_backtest_array_bad_input() -> None:
    from coinfactor.backtest import Fees, HalfSpread, backtest
    from coinfactor.data import Grid

    ts = [datetime(2024, 1, d, tzinfo=UTC) for d in (1, 2, 3)]
    panel = pl.DataFrame({"ts": ts * 2, "symbol": ["A"] * 3 + ["B"] * 3, "close": 1.0},
                         schema_overrides={"ts": pl.Datetime("us", "UTC")})
    grid = Grid.from_panel(panel)
    with pytest.raises(DataError, match="need the grid"):
        backtest(panel, np.zeros((3, 2)))
    with pytest.raises(DataError, match="shape"):
        backtest(panel, np.zeros((3, 3)), grid=grid)
    with pytest.raises(DataError, match="no decision row"):
        backtest(panel, np.full((3, 2), np.nan), grid=grid)
    with pytest.raises(DataError, match=">= 0"):
        HalfSpread(np.full((3, 2), -1e-4))
    with pytest.raises(DataError, match="expected the grid's"):
        backtest(panel, np.zeros((3, 2)), grid=grid, costs=HalfSpread(np.zeros((2, 2))))
    unknown = np.full((3, 2), np.nan)
    with pytest.raises(DataError, match="cannot price the trade of 'A'"):
        backtest(panel, np.array([[0.5, 0.0], [np.nan] * 2, [0.1, 0.0]]), grid=grid,
                 costs=Fees(1.0) + HalfSpread(unknown))


def test_forecast_on_the_axis_equals_the_joined_forecast() -> None:
    """Reference: the same forecast passed in another row order (joined on ts)."""
    from coinfactor.backtest import backtest
    from coinfactor.data import Grid

    panel = ragged_daily_panel(seed=14)
    weights = _book_frame(panel, 4)
    ts = Grid.from_panel(panel).ts
    fc = pl.DataFrame({"ts": ts, "forecast_vol": np.linspace(0.1, 0.3, ts.len())})
    fc = fc.with_columns(pl.when(pl.int_range(pl.len()) % 7 == 0).then(None)
                         .otherwise(pl.col("forecast_vol")).alias("forecast_vol"))
    for lag in (0, 1, 3):
        fast = backtest(panel, weights, lag=lag, forecast_vol=fc, funding_missing="zero")
        slow = backtest(panel, weights, lag=lag, forecast_vol=fc.reverse(),
                        funding_missing="zero")
        assert fast.vol.equals(slow.vol)
        assert fast.vol["forecast_vol"].null_count() > 0
