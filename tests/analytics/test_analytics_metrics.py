"""Metrics against empyrical-reloaded (at the same annualisation), scipy and hand computations."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import empyrical as ep
import numpy as np
import polars as pl
import pytest
from scipy import stats

from coinfactor import analytics as an
from coinfactor import datasets
from coinfactor.core.errors import DataError
from coinfactor.core.time import periods_per_year


def _btc_daily() -> np.ndarray:
    """Real BTC daily returns (embedded Hyperliquid panel), never across a missing bar."""
    btc = datasets.load("hyperliquid-perp-1d").filter(pl.col("symbol") == "BTC").sort("ts")
    ret = btc.select(
        pl.when(pl.col("ts").diff() == timedelta(days=1))
        .then(pl.col("close") / pl.col("close").shift(1) - 1)
        .alias("r")
    )["r"].drop_nulls()
    assert ret.len() > 800
    return ret.to_numpy()


def _series() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    with_nan = rng.normal(0.001, 0.03, 400)
    with_nan[[3, 50, 51, 399]] = np.nan
    return {
        "random_normal": rng.normal(0.0005, 0.02, 1000),
        "random_t": 0.01 * rng.standard_t(3, 2000),
        "random_nan": with_nan,
        "btc_daily": _btc_daily(),
    }


SERIES = _series()
PPY = {"1d": periods_per_year("1d"), "1h": periods_per_year("1h")}


@pytest.mark.parametrize("name", sorted(SERIES))
@pytest.mark.parametrize("freq", sorted(PPY))
def test_ratios_equal_empyrical(name: str, freq: str) -> None:
    """Reference: empyrical-reloaded with annualization = our periods_per_year (365-day years)."""
    r = SERIES[name]
    ppy = PPY[freq]
    assert an.sharpe_ratio(r, freq) == pytest.approx(ep.sharpe_ratio(r, annualization=ppy),
                                                    rel=1e-12)
    assert an.sortino_ratio(r, freq) == pytest.approx(ep.sortino_ratio(r, annualization=ppy),
                                                     rel=1e-12)
    assert an.annual_return(r, freq) == pytest.approx(ep.annual_return(r, annualization=ppy),
                                                     rel=1e-12)
    assert an.annual_volatility(r, freq) == pytest.approx(
        ep.annual_volatility(r, annualization=ppy), rel=1e-12)
    assert an.calmar_ratio(r, freq) == pytest.approx(ep.calmar_ratio(r, annualization=ppy),
                                                    rel=1e-12)
    assert an.max_drawdown(r) == pytest.approx(ep.max_drawdown(r), rel=1e-12)
    # the periods_per_year override gives the same numbers as the bar frequency
    assert an.sharpe_ratio(r, periods_per_year=ppy) == an.sharpe_ratio(r, freq)
    assert an.calmar_ratio(r, periods_per_year=ppy) == an.calmar_ratio(r, freq)


@pytest.mark.parametrize("name", sorted(SERIES))
def test_tail_and_moments(name: str) -> None:
    """VaR/CVaR: empyrical; skew/kurtosis: scipy (bias-corrected); total return: np.prod."""
    r = SERIES[name]
    v = r[~np.isnan(r)]
    assert an.value_at_risk(r) == pytest.approx(ep.value_at_risk(v), rel=1e-12)
    assert an.conditional_value_at_risk(r) == pytest.approx(
        ep.conditional_value_at_risk(v), rel=1e-12)
    assert an.skewness(r) == pytest.approx(stats.skew(v, bias=False), rel=1e-10)
    assert an.kurtosis(r) == pytest.approx(stats.kurtosis(v, bias=False), rel=1e-10)
    assert an.total_return(r) == pytest.approx(np.prod(1 + v) - 1, rel=1e-12)
    assert an.hit_rate(r) == pytest.approx(np.sum(v > 0) / v.size)


def test_polars_series_and_null_input() -> None:
    """A polars Series (nulls = NaN) gives the same numbers as the ndarray."""
    r = SERIES["random_nan"]
    s = pl.Series(r).fill_nan(None)
    assert an.sharpe_ratio(s, "1d") == an.sharpe_ratio(r, "1d")
    assert an.max_drawdown(s) == an.max_drawdown(r)


def test_btc_uses_365_days_not_252() -> None:
    """The annualisation differs from empyrical's 252-day default by sqrt(365/252)."""
    r = SERIES["btc_daily"]
    ours = an.sharpe_ratio(r, "1d")
    assert ours == pytest.approx(ep.sharpe_ratio(r) * math.sqrt(365 / 252), rel=1e-12)


def test_drawdown_edge_cases() -> None:
    """Hand-computed: all-positive, single bar, NaN, first-bar loss, empty."""
    up = np.array([0.01, 0.02, 0.005])
    assert an.max_drawdown(up) == 0.0
    assert math.isnan(an.calmar_ratio(up, "1d"))
    assert an.max_drawdown_duration(up) == 0
    assert an.max_drawdown(np.array([0.03])) == 0.0
    assert an.max_drawdown(np.array([-0.05])) == pytest.approx(-0.05)
    assert math.isnan(an.sharpe_ratio(np.array([0.01]), "1d"))
    assert math.isnan(an.max_drawdown(np.array([])))
    assert math.isnan(an.max_drawdown(np.array([np.nan, np.nan])))
    # NaN bars are flat: 1.1 -> 0.99 (peak 1.1) -> NaN -> 1.089 (-1% from peak)
    r = np.array([0.1, -0.1, np.nan, 0.1])
    assert an.max_drawdown(r) == pytest.approx(0.99 / 1.1 - 1)
    assert an.max_drawdown_duration(r) == 3
    np.testing.assert_allclose(an.drawdown(r), [0, 0.99 / 1.1 - 1, 0.99 / 1.1 - 1,
                                                1.089 / 1.1 - 1])
    # recovered: peak 1.1, trough, back above the peak
    assert an.max_drawdown_duration(np.array([0.1, -0.1, 0.05, 0.2, 0.0])) == 2


@pytest.mark.parametrize("name", sorted(SERIES))
def test_drawdown_duration_equals_naive_loop(name: str) -> None:
    """Oracle: a plain loop over the NAV path counting bars below the running peak."""
    r = SERIES[name]
    nav, peak, longest, current = 1.0, 1.0, 0, 0
    for x in np.nan_to_num(r, nan=0.0):
        nav *= 1 + x
        peak = max(peak, nav)
        current = current + 1 if nav < peak else 0
        longest = max(longest, current)
    assert an.max_drawdown_duration(r) == longest


def test_sortino_without_losses_is_nan() -> None:
    """empyrical gives inf here; coinfactor documents NaN (undefined) instead."""
    assert math.isnan(an.sortino_ratio(np.array([0.01, 0.02]), "1d"))
    assert math.isnan(an.sharpe_ratio(np.array([0.01, 0.01, 0.01]), "1d"))


def test_wipeout_annual_return() -> None:
    assert an.annual_return(np.array([0.1, -1.0]), "1d") == -1.0


def test_bad_input() -> None:
    with pytest.raises(DataError, match="1-d"):
        an.sharpe_ratio(np.zeros((3, 2)), "1d")
    with pytest.raises(DataError, match="periods_per_year"):
        an.sharpe_ratio(np.zeros(3), periods_per_year=0)
    with pytest.raises(DataError, match="periods_per_year="):
        an.sharpe_ratio(np.zeros(3), 365.0)  # type: ignore[arg-type]  # a number is no freq
    with pytest.raises(DataError, match="freq"):
        an.annual_volatility(np.zeros(3))
    with pytest.raises(DataError, match="inf"):
        an.max_drawdown(np.array([0.1, np.inf]))
    with pytest.raises(DataError, match="cutoff"):
        an.value_at_risk(np.zeros(3), 1.5)


def _nav_frame(ret: np.ndarray, step: timedelta) -> pl.DataFrame:
    n = ret.size
    price = ret * 0.8
    funding = ret * 0.3
    cost = ret - price - funding
    return pl.DataFrame({
        "ts": [datetime(2024, 1, 1, tzinfo=UTC) + i * step for i in range(n)],
        "nav": np.cumprod(1 + ret),
        "ret": ret, "ret_price": price, "ret_funding": funding, "ret_cost": cost,
    }).with_columns(pl.col("ts").dt.cast_time_unit("us"))


class _Result:
    def __init__(self, nav: pl.DataFrame, weights: pl.DataFrame) -> None:
        self.nav = nav
        self.weights = weights


def test_summary_from_result_and_frames() -> None:
    """summary: same numbers from a result object and from nav/weights frames; hand checks."""
    r = SERIES["random_normal"][:200]
    nav = _nav_frame(r, timedelta(hours=4))
    ts = nav["ts"]
    # held weights per bar; bar 5 has no rows (a flat book), bars 6.. hold A 0.2 / B -0.5
    rows = [(ts[i], "A", 0.5) for i in range(5)] + [(ts[i], "B", -0.5) for i in range(5)]
    rows += [(ts[i], "A", 0.2) for i in range(6, 200)] + [(ts[i], "B", -0.5)
                                                          for i in range(6, 200)]
    weights = pl.DataFrame(rows, schema=["ts", "symbol", "weight"], orient="row")
    s = an.summary(_Result(nav, weights))
    assert s == an.summary(nav, weights=weights)
    ppy = periods_per_year("4h")
    earned = r[1:]  # the first nav row is the start: the 199 bars after it earn the returns
    assert s["periods_per_year"] == ppy == 2190
    assert s["n_bars"] == 199
    assert s["sharpe_ratio"] == pytest.approx(ep.sharpe_ratio(earned, annualization=ppy),
                                              rel=1e-12)
    assert s["annual_return"] == pytest.approx(ep.annual_return(earned, annualization=ppy),
                                               rel=1e-12)
    assert s["max_drawdown_duration_days"] == s["max_drawdown_duration"] / 6
    # attribution: arithmetic, sums to the annualised mean return
    assert (s["annual_price_return"] + s["annual_funding_return"] + s["annual_cost_return"]
            == pytest.approx(np.mean(earned) * ppy, rel=1e-12))
    assert s["funding_total"] == pytest.approx(np.sum(earned * 0.3))
    # hand: open 1.0, close at bar 5 1.0, reopen 0.7 -> 2.7 over 199 / 2190 years
    assert s["annual_turnover"] == pytest.approx(2.7 / (199 / ppy))
    assert s["gross_exposure_mean"] == pytest.approx((5 * 1.0 + 194 * 0.7) / 200)
    assert s["gross_exposure_max"] == pytest.approx(1.0)
    assert s["net_exposure_mean"] == pytest.approx(194 * -0.3 / 200)
    assert s["short_exposure_mean"] == pytest.approx(199 * -0.5 / 200)
    assert s["positions_mean"] == pytest.approx(199 * 2 / 200)
    assert "annual_turnover" not in an.summary(nav)


def test_summary_of_a_backtest_result(small_panel: pl.DataFrame) -> None:
    """On coinfactor.backtest output: turnover equals the engine's traded weight, Sharpe
    equals empyrical's on the nav returns at 8,760 bars a year."""
    from coinfactor.backtest import Fees, backtest

    ts = small_panel["ts"].unique().sort()
    w = pl.DataFrame({"ts": [ts[0], ts[0], ts[3], ts[3]], "symbol": ["A", "B", "A", "C"],
                      "weight": [0.5, -0.5, 0.3, 0.2]})
    # issue 15: ``costs=Fees(10)`` replaces ``fee_bps=10``; B is held over its missing bar 2,
    # whose funding is unknown: accepted as 0 here (the point is the summary), but counted
    res = backtest(small_panel, w, costs=Fees(10), funding_missing="zero")
    s = an.summary(res)
    # position-bars: A over bars 1-5, B over 1-3, C over 4-5; B's bar 2 has no funding
    assert (s["funding_missing_bars"], s["funding_missing_share"]) == (1.0, 0.1)
    assert s["liquidated"] == 0.0
    ret = res.nav["ret"].to_numpy()[1:]  # the decision bar (row 0) earns nothing
    assert res.nav["ret"][0] == 0.0
    assert s["periods_per_year"] == 8760
    assert s["n_bars"] == res.nav.height - 1
    assert s["sharpe_ratio"] == pytest.approx(ep.sharpe_ratio(ret, annualization=8760),
                                              rel=1e-12)
    years = (res.nav.height - 1) / 8760
    assert s["annual_turnover"] == pytest.approx(res.turnover["turnover"].sum() / years)
    assert s["cost_total"] == pytest.approx(res.nav["ret_cost"].sum())
    assert s["gross_exposure_mean"] == pytest.approx(res.exposure["gross"].mean())


def test_backtest_metrics_are_the_summary(small_panel: pl.DataFrame) -> None:
    """One run, one set of numbers: BacktestResult.metrics is analytics.summary, key for key
    and bit for bit, with and without a vol forecast; the keys are the function names."""
    from coinfactor.backtest import Fees, backtest

    ts = small_panel["ts"].unique().sort()
    w = pl.DataFrame({"ts": [ts[0], ts[0], ts[4], ts[4]], "symbol": ["A", "B", "A", "C"],
                      "weight": [0.5, -0.5, 0.3, 0.2]})
    fc = pl.DataFrame({"ts": ts, "forecast_vol": np.linspace(0.1, 0.3, ts.len())})
    for forecast in (None, fc):
        # issue 15: Fees(10) for fee_bps=10; B's missing bar has no funding (accepted as 0)
        res = backtest(small_panel, w, costs=Fees(10), forecast_vol=forecast,
                       funding_missing="zero")
        assert res.metrics == an.summary(res)
        assert ("mean_forecast_vol" in res.metrics) == (forecast is not None)
    for name in ("total_return", "annual_return", "annual_volatility", "sharpe_ratio",
                 "sortino_ratio", "calmar_ratio", "max_drawdown", "max_drawdown_duration",
                 "hit_rate", "skewness", "kurtosis", "value_at_risk",
                 "conditional_value_at_risk"):
        assert callable(getattr(an, name)), name
        assert name in res.metrics, name
    ret = res.nav["ret"].to_numpy()[1:]
    assert res.metrics["sharpe_ratio"] == an.sharpe_ratio(ret, "1h")
    assert res.metrics["annual_volatility"] == an.annual_volatility(ret, "1h")


def test_summary_from_run_directory_files(small_panel: pl.DataFrame, tmp_path: Path) -> None:
    """A run directory's nav.parquet / weights.parquet give the result's summary exactly."""
    from coinfactor.backtest import Fees, backtest

    ts = small_panel["ts"].unique().sort()
    w = pl.DataFrame({"ts": [ts[0], ts[0]], "symbol": ["A", "B"], "weight": [0.6, -0.4]})
    # issue 15: Fees(10) for fee_bps=10; B's missing bar has no funding (accepted as 0). The
    # nav file now carries the traded ``turnover`` column, the summary's turnover source
    res = backtest(small_panel, w, costs=Fees(10), funding_missing="zero")
    res.nav.write_parquet(tmp_path / "nav.parquet")
    res.weights.write_parquet(tmp_path / "weights.parquet")
    from_files = an.summary(pl.read_parquet(tmp_path / "nav.parquet"),
                            weights=pl.read_parquet(tmp_path / "weights.parquet"))
    # the files hold no funding coverage / liquidation: those keys (issue 15) come from the
    # result only, everything else is equal
    full = an.summary(res)
    execution = res.execution_metrics()
    assert from_files == {k: v for k, v in full.items() if k not in execution}
    assert {k: full[k] for k in execution} == execution


def test_summary_infers_frequency_and_rejects_bad_frames() -> None:
    nav = _nav_frame(SERIES["random_normal"][:50], timedelta(days=1))
    assert an.summary(nav)["periods_per_year"] == 365.0
    assert an.summary(nav, freq="1h")["periods_per_year"] == 8760.0
    with pytest.raises(DataError, match="ret_funding"):
        an.summary(nav.drop("ret_funding"))
    with pytest.raises(DataError, match="BacktestResult"):
        an.summary(object())  # type: ignore[arg-type]
    with pytest.raises(DataError, match="weight"):
        an.summary(nav, weights=pl.DataFrame({"ts": nav["ts"]}))
