"""coinfactor.backtest: hand-computed P&L, funding sign, gaps, delistings, lag, bad input.

Holdings drift between decisions (DESIGN.md): with w the weights held after a close,
``d = w·(1 + r)/(1 + pnl)`` is the pre-trade weight at the next close; the hand computations
below write that out.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from coinfactor.backtest import Fees, HalfSpread, backtest
from coinfactor.core.errors import ConfigError, DataError
from support.panels import make_panel

T0 = datetime(2024, 1, 1, tzinfo=UTC)
DAY = timedelta(days=1)


def _ts(i: int) -> datetime:
    return T0 + i * DAY


def _weights(rows: list[tuple[int, str, float]]) -> pl.DataFrame:
    return pl.DataFrame(
        {"ts": [_ts(i) for i, _, _ in rows], "symbol": [s for _, s, _ in rows],
         "weight": [w for _, _, w in rows]},
        schema={"ts": pl.Datetime("us", "UTC"), "symbol": pl.String, "weight": pl.Float64},
    )


def test_hand_computed_price_funding_cost() -> None:
    """Two coins over three bars, a decision at every bar; worked out by hand."""
    panel = make_panel(
        {"A": [100.0, 110.0, 99.0, 99.0], "B": [10.0, 10.0, 12.0, 12.0]},
        funding={"A": [0.0, 0.001, 0.002, 0.0], "B": [0.0, -0.003, 0.0, 0.0]},
        step=DAY, start=T0,
    )
    w = _weights([(0, "A", 0.5), (0, "B", -0.5), (1, "A", 0.25), (1, "B", -0.5),
                  (2, "A", 0.0), (2, "B", 0.0)])
    res = backtest(panel, w, costs=Fees(10.0) + HalfSpread(0.001), initial_nav=1.0)
    nav = res.nav
    c = 10.0 / 1e4 + 0.001  # cost per unit traded
    # bar 1: held A +0.5, B -0.5 from close 0. r_A = 0.10, r_B = 0
    #   price 0.5*0.10 = 0.05; funding -(0.5*0.001 + -0.5*-0.003) = -0.002
    #   cost of the opening trades at close 0: c*(0.5 + 0.5)
    pnl1 = 0.05 - 0.002 - c
    # drifted at close 1: A 0.5*1.1/(1+pnl1), B -0.5/(1+pnl1); traded to 0.25 and -0.5
    d1a, d1b = 0.5 * 1.1 / (1 + pnl1), -0.5 / (1 + pnl1)
    t1 = abs(0.25 - d1a) + abs(-0.5 - d1b)
    # bar 2: held A 0.25, B -0.5. r_A = 99/110 - 1 = -0.1, r_B = 0.2
    #   price 0.25*-0.1 + -0.5*0.2 = -0.125; funding -(0.25*0.002) = -0.0005
    pnl2 = -0.125 - 0.0005 - c * t1
    # drifted at close 2 and closed: trades |d2|
    d2a, d2b = 0.25 * 0.9 / (1 + pnl2), -0.5 * 1.2 / (1 + pnl2)
    t2 = abs(d2a) + abs(d2b)
    # bar 3: flat since close 2: price 0, funding 0, cost c*t2
    np.testing.assert_allclose(nav["ret_price"], [0.0, 0.05, -0.125, 0.0], atol=1e-15)
    np.testing.assert_allclose(nav["ret_funding"], [0.0, -0.002, -0.0005, 0.0], atol=1e-15)
    np.testing.assert_allclose(nav["ret_cost"], [0.0, -c, -c * t1, -c * t2], atol=1e-15)
    expected = np.cumprod([1.0, 1 + pnl1, 1 + pnl2, 1 - c * t2])
    np.testing.assert_allclose(nav["nav"], expected, rtol=1e-14)
    np.testing.assert_allclose(res.turnover["turnover"], [1.0, t1, t2, 0.0], rtol=1e-14)
    assert res.exposure["gross"].to_list() == [1.0, 0.75, 0.0, 0.0]
    assert res.exposure["net"].to_list() == [0.0, -0.25, 0.0, 0.0]
    # trades: cost in quote currency = |Δw| * NAV * c
    tr1 = res.trades.filter(pl.col("ts") == _ts(1)).sort("symbol")
    assert tr1["symbol"].to_list() == ["A", "B"]
    np.testing.assert_allclose(tr1["trade"], [0.25 - d1a, -0.5 - d1b], rtol=1e-14)
    np.testing.assert_allclose(tr1["cost"], np.abs([0.25 - d1a, -0.5 - d1b]) * expected[1] * c,
                               rtol=1e-14)
    # holdings in coins: notional / price at the close
    h0 = res.holdings.filter(pl.col("ts") == _ts(0)).sort("symbol")
    np.testing.assert_allclose(h0["quantity"], [0.5 / 100.0, -0.5 / 10.0])


@pytest.mark.parametrize("weight", [0.7, -0.7], ids=["long", "short"])
def test_funding_sign_long_pays_short_receives(weight: float) -> None:
    """Flat price, positive funding: the P&L is exactly -Σ w·funding_rate (DESIGN.md)."""
    rates = [0.0, 0.0001, 0.0003, 0.0002, 0.0005]
    panel = make_panel({"A": [50.0] * 5}, funding={"A": rates}, step=DAY, start=T0)
    # rebalanced every bar (free: no costs), the weight stays exactly `weight`
    res = backtest(panel, _weights([(0, "A", weight)]), costs=Fees(0.0), rebalance="every_bar")
    funding_pnl = res.nav["ret_funding"].to_numpy()
    np.testing.assert_allclose(funding_pnl, [-weight * r for r in rates], atol=1e-18)
    assert (funding_pnl[1:].sum() < 0) == (weight > 0)
    assert res.nav["ret_price"].abs().max() == 0.0


def test_missing_price_keeps_position_and_earns_nothing() -> None:
    """B has no bar 2: it earns nothing over bar 2, cannot trade at close 2, keeps its weight."""
    panel = make_panel({"A": [10.0] * 5, "B": [10.0, 11.0, None, 13.2, 13.2]},
                       funding={"A": [0.0] * 5, "B": [0.0, 0.0, None, 0.01, 0.0]},
                       step=DAY, start=T0)
    # target for B changes at bar 2 (no price there): ignored; applied again at bar 3.
    w = _weights([(0, "B", 0.5), (2, "B", 0.1), (3, "B", 0.2)])
    marked = backtest(panel, w, costs=Fees(0.0), funding_missing="zero")
    b = marked.weights.filter(pl.col("symbol") == "B")
    # bar 1: +0.5*0.1 = 0.05, so B drifts to 0.5*1.1/1.05; bar 2: nothing moves
    d1 = 0.5 * 1.1 / 1.05
    np.testing.assert_allclose(b["weight"], [0.5, d1, d1, 0.2, 0.2], rtol=1e-15)
    # bar 3: the move since the last price 11 -> 13.2 (+20%) and its funding; bar 4: 0.2 * 0
    np.testing.assert_allclose(marked.nav["ret_price"], [0.0, 0.05, 0.0, d1 * 0.2, 0.0],
                               atol=1e-15)
    np.testing.assert_allclose(marked.nav["ret_funding"], [0, 0, 0, -d1 * 0.01, 0], atol=1e-15)
    # B was held over its missing bar 2, whose funding is unknown: counted
    assert marked.funding.missing_bars == 1 and marked.funding.first_ts == _ts(2)
    skipped = backtest(panel, w, costs=Fees(0.0), gap="skip", funding_missing="zero")
    np.testing.assert_allclose(skipped.nav["ret_price"], [0.0, 0.05, 0.0, 0.0, 0.0], atol=1e-15)


def test_delisted_symbol_closed_at_last_price_with_costs() -> None:
    """B's last bar is bar 2 of 5: it is closed at close 2 and pays the cost of closing."""
    panel = make_panel({"A": [10.0] * 5, "B": [10.0, 12.0, 9.0, None, None]},
                       step=DAY, start=T0)
    res = backtest(panel, _weights([(0, "B", -0.4)]), costs=Fees(20.0))
    c = 20.0 / 1e4
    # bar 1: -0.4 * 0.2 and the opening cost; B drifts to -0.4*1.2/(1+pnl1)
    pnl1 = -0.4 * 0.2 - 0.4 * c
    d1 = -0.4 * 1.2 / (1 + pnl1)
    # bar 2: d1 * (9/12 - 1); at its close B (drifted to d2) is closed
    pnl2 = d1 * -0.25
    d2 = d1 * 0.75 / (1 + pnl2)
    b = res.weights.filter(pl.col("symbol") == "B")
    assert b["ts"].to_list() == [_ts(0), _ts(1), _ts(2)]  # closed (0.0) at close 2
    np.testing.assert_allclose(b["weight"], [-0.4, d1, 0.0], rtol=1e-15)
    np.testing.assert_allclose(res.nav["ret_price"], [0.0, -0.4 * 0.2, pnl2, 0.0, 0.0],
                               atol=1e-15)
    np.testing.assert_allclose(res.nav["ret_cost"], [0.0, -0.4 * c, 0.0, d2 * c, 0.0],
                               atol=1e-15)
    closing = res.trades.filter(pl.col("ts") == _ts(2))
    assert closing["trade"].to_list() == [pytest.approx(-d2, rel=1e-15)]


def test_lag_equals_shifted_weights() -> None:
    """lag=1 on weights decided at bar t == lag=0 on the same weights stamped at bar t+1."""
    rng = np.random.default_rng(3)
    closes = {s: list(100 * np.exp(np.cumsum(rng.normal(0, 0.02, 8)))) for s in "ABC"}
    fund = {s: list(rng.normal(0, 1e-3, 8)) for s in "ABC"}
    panel = make_panel(closes, funding=fund, step=DAY, start=T0)
    rows = [(i, s, float(rng.normal())) for i in range(6) for s in "ABC"]
    costs = Fees(4.5) + HalfSpread(0.0005)
    lagged = backtest(panel, _weights(rows), lag=1, costs=costs)
    shifted = backtest(panel, _weights([(i + 1, s, w) for i, s, w in rows]), lag=0,
                       costs=costs)
    # both start at the first execution bar (decision bar + lag)
    assert lagged.nav["ts"][0] == _ts(1)
    assert lagged.nav.equals(shifted.nav)
    assert lagged.weights.equals(shifted.weights)


def test_target_rows_define_whole_book_and_carry_forward() -> None:
    """A ts in `weights` without a symbol means flat; a ts absent from `weights` carries."""
    panel = make_panel({"A": [10.0] * 4, "B": [10.0] * 4}, step=DAY, start=T0)
    res = backtest(panel, _weights([(0, "A", 0.3), (0, "B", 0.2), (2, "A", 0.1)]),
                   costs=Fees(0.0))
    held = {(r["ts"], r["symbol"]): r["weight"] for r in res.weights.iter_rows(named=True)}
    assert held == {(_ts(0), "A"): 0.3, (_ts(0), "B"): 0.2, (_ts(1), "A"): 0.3,
                    (_ts(1), "B"): 0.2, (_ts(2), "A"): 0.1, (_ts(2), "B"): 0.0,
                    (_ts(3), "A"): 0.1}
    # the weights table round-trips (flat prices: no drift)
    again = backtest(panel, res.weights, costs=Fees(0.0))
    assert again.nav.equals(res.nav) and again.weights.equals(res.weights)


def test_half_spread_frame_is_used_per_symbol() -> None:
    """Cost of a trade = (fee + that symbol's half-spread at the trade bar) x |Δw|."""
    panel = make_panel({"A": [10.0] * 3, "B": [10.0] * 3}, step=DAY, start=T0)
    hs = pl.DataFrame({"ts": [_ts(0), _ts(0)], "symbol": ["A", "B"], "half_spread": [0.01, 0.002]})
    res = backtest(panel, _weights([(0, "A", 0.5), (0, "B", -0.25)]),
                   costs=Fees(1.0) + HalfSpread(hs))
    expected = -(0.5 * (1e-4 + 0.01) + 0.25 * (1e-4 + 0.002))
    assert res.nav["ret_cost"][1] == pytest.approx(expected, rel=1e-14)


def test_forecast_vol_is_reported_with_lag() -> None:
    panel = make_panel({"A": [10.0, 11.0, 10.0, 11.0]}, step=DAY, start=T0)
    fc = pl.DataFrame({"ts": [_ts(i) for i in range(4)], "forecast_vol": [0.1, 0.2, 0.3, 0.4]})
    res = backtest(panel, _weights([(0, "A", 1.0)]), forecast_vol=fc, lag=1, vol_window=2)
    # the NAV starts at the first execution bar (ts 1), whose book was decided at ts 0
    assert res.vol["ts"][0] == _ts(1)
    assert res.vol["forecast_vol"].to_list() == [0.1, 0.2, 0.3]
    r = res.nav["ret"].to_numpy()
    assert res.vol["realized_vol"][2] == pytest.approx(np.std(r[1:3], ddof=1) * np.sqrt(365))
    assert "mean_forecast_vol" in res.metrics
    assert "sharpe_ratio" in res.summary()


def test_metrics_reference_values() -> None:
    """Annualisation uses 365-day years; Sharpe is mean/std(ddof=1)*sqrt(365) (hand formula)."""
    panel = make_panel({"A": [10.0, 11.0, 10.5, 11.5, 11.0]}, step=DAY, start=T0)
    # held at weight 1 from an all-in start: a one-coin long book never drifts off 1
    res = backtest(panel, _weights([(0, "A", 1.0)]), costs=Fees(0.0))
    r = np.array([0.1, 10.5 / 11 - 1, 11.5 / 10.5 - 1, 11 / 11.5 - 1])
    m = res.metrics
    assert m["sharpe_ratio"] == pytest.approx(r.mean() / r.std(ddof=1) * np.sqrt(365))
    assert m["total_return"] == pytest.approx(np.prod(1 + r) - 1)
    assert m["max_drawdown"] == pytest.approx(10.5 / 11 - 1)


def test_bad_inputs_raise_clear_errors() -> None:
    panel = make_panel({"A": [10.0] * 3}, step=DAY, start=T0)
    good = _weights([(0, "A", 1.0)])
    with pytest.raises(DataError, match="missing"):
        backtest(panel, good.drop("weight"))
    with pytest.raises(DataError, match="empty"):
        backtest(panel, good.clear())
    with pytest.raises(DataError, match="finite"):
        backtest(panel, _weights([(0, "A", float("nan"))]))
    with pytest.raises(DataError, match="duplicated"):
        backtest(panel, pl.concat([good, good]))
    with pytest.raises(DataError, match="does not have"):
        backtest(panel, _weights([(0, "Z", 1.0)]))
    with pytest.raises(DataError, match="not bars"):
        backtest(panel, good.with_columns(pl.col("ts") + timedelta(hours=1)))
    with pytest.raises(ConfigError, match="lag"):
        backtest(panel, good, lag=-1)
    with pytest.raises(ConfigError, match="taker_bps"):
        Fees(-1.0)
    with pytest.raises(ConfigError, match="HalfSpread"):
        HalfSpread(-0.1)
    with pytest.raises(ConfigError, match="cost model"):
        backtest(panel, good, costs=4.5)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="initial_nav"):
        backtest(panel, good, initial_nav=0.0)
    with pytest.raises(ConfigError, match="rebalance must be one of"):
        backtest(panel, good, rebalance="weekly")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="funding_missing must be one of"):
        backtest(panel, good, funding_missing="ignore")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="maintenance_margin"):
        backtest(panel, good, maintenance_margin=1.5)
    hs = pl.DataFrame({"ts": [_ts(2)], "symbol": ["A"], "half_spread": [0.001]})
    with pytest.raises(DataError, match="cannot price the trade of 'A' at 2024-01-01"):
        backtest(panel, good, costs=Fees(4.5) + HalfSpread(hs))
