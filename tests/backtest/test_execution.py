"""Execution on real data: liquidation, missing funding, impact and capacity, cost identities.

References: hand computations of the square-root impact formula, direct polars counts of the
panel's null funding, and the accounting identities of DESIGN.md recomputed from the reported
holdings and trades.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import polars as pl
import pytest

from coinfactor import datasets
from coinfactor.analytics import capacity
from coinfactor.backtest import (
    Fees,
    HalfSpread,
    MarketData,
    SquareRootImpact,
    backtest,
    venue_preset,
)
from coinfactor.core.errors import ConfigError, DataError, DataWarning
from coinfactor.data import Grid


@pytest.fixture(scope="module")
def daily() -> pl.DataFrame:
    panel = datasets.load("hyperliquid-perp-1d")
    keep = ["BTC", "ETH", "SOL", "DOGE", "AVAX", "LINK"]
    return panel.filter(pl.col("symbol").is_in(keep))


def _equal_weights(panel: pl.DataFrame, gross: float, start: str = "2024-01-01") -> pl.DataFrame:
    """Long the first three coins, short the other three, daily, at ``gross``."""
    syms = sorted(panel["symbol"].unique().to_list())
    sign = {s: (1.0 if i < 3 else -1.0) for i, s in enumerate(syms)}
    return (panel.filter(pl.col("ts") >= pl.lit(start).str.to_datetime(time_zone="UTC"))
            .select("ts", "symbol",
                    (pl.col("symbol").replace_strict(sign, return_dtype=pl.Float64)
                     * gross / len(syms)).alias("weight")))


def test_30x_gross_is_liquidated_and_nav_never_negative(daily: pl.DataFrame) -> None:
    w = _equal_weights(daily, 30.0)
    res = backtest(daily, w, costs=Fees(4.5), funding_missing="zero")
    nav = res.nav["nav"].to_numpy()
    assert (nav >= 0).all()
    assert res.liquidated_at is not None
    assert res.liquidation_reason in {"bankrupt", "maintenance_margin"}
    after = res.exposure.filter(pl.col("ts") > res.liquidated_at)
    assert after.height > 0 and (after["gross"] == 0).all()  # flat afterwards
    assert res.metrics["max_drawdown"] >= -1.0
    # with a maintenance margin the book is closed earlier, with equity left
    mm = backtest(daily, w, costs=Fees(4.5), maintenance_margin=0.02, funding_missing="zero")
    assert mm.liquidation_reason == "maintenance_margin"
    assert mm.liquidated_at <= res.liquidated_at
    at = mm.nav.filter(pl.col("ts") == mm.liquidated_at)
    before = mm.exposure.filter(pl.col("ts") < mm.liquidated_at)["gross"].tail(1)
    assert at["nav"][0] > 0 and before[0] > 1.0 / 0.02 * 0.5  # still a leveraged book
    # the liquidation trade closes everything, paying costs over the next bar
    closing = mm.trades.filter(pl.col("ts") == mm.liquidated_at)
    assert (closing["weight_after"] == 0).all() and closing.height > 0
    assert mm.metrics["liquidated"] == 1.0


def test_max_leverage_names_the_bar(daily: pl.DataFrame) -> None:
    w = _equal_weights(daily, 3.0)
    with pytest.raises(DataError, match=r"gross exposure 3 at 2024-01-01.*max_leverage=2"):
        backtest(daily, w, max_leverage=2.0, funding_missing="zero")


def test_missing_funding_on_binance_perp_4h_is_counted_warned_and_refusable() -> None:
    panel = datasets.load("binance-perp-4h").filter(
        pl.col("symbol").is_in(["BTCUSDT", "ETHUSDT", "SOLUSDT"]))
    w = panel.filter(pl.col("ts").dt.hour() == 0).select(
        "ts", "symbol", pl.lit(1 / 3).alias("weight"))
    with pytest.warns(DataWarning, match=r"held position-bars .* have no funding data"):
        res = backtest(panel, w)
    # direct count: cells held over bar t+1 (every bar from the first decision but the
    # first) whose funding_rate is null
    first = w["ts"].min()
    held_bars = panel.filter(pl.col("ts") > first)
    expected = held_bars["funding_rate"].is_null().sum()
    assert res.funding.position_bars == held_bars.height
    assert res.funding.missing_bars == expected > 0
    assert res.metrics["funding_missing_share"] == pytest.approx(expected / held_bars.height)
    first_missing = held_bars.filter(pl.col("funding_rate").is_null()).sort("ts", "symbol")
    with pytest.raises(DataError) as err:
        backtest(panel, w, funding_missing="error")
    assert repr(first_missing["symbol"][0]) in str(err.value)
    assert str(first_missing["ts"][0]) in str(err.value)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        zero = backtest(panel, w, funding_missing="zero")
    assert zero.funding.missing_bars == expected


def test_square_root_impact_equals_the_formula(daily: pl.DataFrame) -> None:
    grid = Grid.from_panel(daily)
    market = MarketData.from_panel(daily, grid)
    model = SquareRootImpact(k=0.8, window_days=10)
    t, j = 200, 2
    close = grid.wide(daily, "close")[:, j]
    qv = grid.wide(daily, "volume")[:, j] * close
    # by hand: std of the last 10 daily log returns, mean of the last 10 daily notionals
    lr = np.log(close[t - 9 : t + 1] / close[t - 10 : t])
    sigma, adv = float(np.std(lr, ddof=1)), float(np.mean(qv[t - 9 : t + 1]))
    trade = np.zeros(grid.shape[1])
    trade[j] = -0.05
    nav = 2e6
    expected = 0.8 * sigma * math.sqrt(0.05 * nav / adv) * 0.05
    got = model.cost(trade, nav, market, t)
    assert got[j] == pytest.approx(expected, rel=1e-12)
    assert got[np.arange(grid.shape[1]) != j].sum() == 0.0
    rate = model.rate(market, nav, size=0.05)[t, j]
    assert rate * 0.05 == pytest.approx(expected, rel=1e-12)
    # trailing only: cutting the panel after bar t changes nothing at t
    cut = daily.filter(pl.col("ts") <= grid.ts[t])
    m2 = MarketData.from_panel(cut, Grid.from_panel(cut))
    assert model.cost(trade, nav, m2, t)[j] == got[j]


def test_cost_models_add_and_presets_are_documented() -> None:
    hl, bn = venue_preset("hyperliquid"), venue_preset("binance-usdm")
    assert (hl.taker_bps, bn.taker_bps) == (4.5, 5.0)
    assert 0 < bn.maintenance_margin < hl.maintenance_margin < 1
    assert "Hyperliquid" in hl.source and "Binance" in bn.source
    model = Fees(4.5) + HalfSpread(0.0002) + SquareRootImpact(1.0)
    assert len(model.models) == 3
    with pytest.raises(ConfigError, match="expected one of"):
        venue_preset("ftx")
    with pytest.raises(ConfigError, match="taker_bps"):
        Fees(-1.0)


def test_capacity_cost_drag_rises_with_nav(daily: pl.DataFrame) -> None:
    w = _equal_weights(daily, 1.0, start="2024-06-01")
    table = capacity(daily, w, navs=[1e5, 1e6, 1e7, 1e8],
                     costs=Fees(4.5) + SquareRootImpact(1.0), funding_missing="zero")
    drag = table["annual_cost_return"].to_numpy()
    assert table["initial_nav"].to_list() == [1e5, 1e6, 1e7, 1e8]
    assert (np.diff(drag) < 0).all()  # more negative with size
    # a single run at 1e7 gives the row of 1e7
    one = backtest(daily, w, initial_nav=1e7, costs=Fees(4.5) + SquareRootImpact(1.0),
                   funding_missing="zero").metrics
    assert table["sharpe_ratio"][2] == one["sharpe_ratio"]


def test_identities_hold_on_a_real_run(daily: pl.DataFrame) -> None:
    """price + funding + costs = ret; booked costs = costs recomputed from the trades."""
    w = _equal_weights(daily, 1.5).filter(pl.col("ts").dt.weekday() == 1)  # weekly
    costs = Fees(4.5) + HalfSpread(0.0003) + SquareRootImpact(1.0)
    res = backtest(daily, w, costs=costs, funding_missing="zero")
    assert_identities(res, daily, costs)


def assert_identities(res, panel: pl.DataFrame, costs) -> None:
    """DESIGN.md identities of one backtest result, recomputed from its frames."""
    nav = res.nav
    parts = nav["ret_price"] + nav["ret_funding"] + nav["ret_cost"]
    assert (nav["ret"] - parts).abs().max() == 0.0
    # NAV compounds the returns
    np.testing.assert_allclose(nav["nav"].to_numpy()[1:],
                               nav["nav"].to_numpy()[:-1] * (1 + nav["ret"].to_numpy()[1:]),
                               rtol=1e-12)
    # every trade moves the drifted weight to the held weight reported for that bar
    tr = res.trades
    assert (tr["trade"] - (tr["weight_after"] - tr["weight_before"])).abs().max() < 1e-15
    held = tr.join(res.weights, on=["ts", "symbol"], how="left")
    assert (held["weight_after"] - held["weight"].fill_null(0.0)).abs().max() == 0.0
    # the booked cost of bar t+1 = Σ cost of the trades at the close of t (recomputed)
    grid = Grid.from_panel(panel, symbols=sorted(set(tr["symbol"].to_list())))
    market = MarketData.from_panel(panel, grid)
    i, j, _ = grid.locate(tr)
    navs = dict(zip(nav["ts"].to_list(), nav["nav"].to_list(), strict=True))
    recomputed = []
    for k, row in enumerate(tr.iter_rows(named=True)):
        trade = np.zeros(grid.shape[1])
        trade[j[k]] = row["trade"]
        recomputed.append(costs.cost(trade, navs[row["ts"]], market, int(i[k]))[j[k]])
    recomputed_q = np.asarray(recomputed) * np.asarray([navs[t] for t in tr["ts"].to_list()])
    np.testing.assert_allclose(tr["cost"].to_numpy(), recomputed_q, rtol=1e-12, atol=1e-9)
    booked = (tr.group_by("ts").agg(pl.col("cost").sum())
              .join(nav.select("ts", "nav"), on="ts").sort("ts"))
    next_cost = nav.select("ts", pl.col("ret_cost").shift(-1), pl.col("ts").shift(-1)
                           .alias("next")).drop_nulls()
    check = booked.join(next_cost, on="ts")
    np.testing.assert_allclose(-check["ret_cost"].to_numpy(),
                               (check["cost"] / check["nav"]).to_numpy(), rtol=1e-12, atol=0)
