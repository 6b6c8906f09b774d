"""Headline metrics of a backtest (:func:`summary`) and the return-series metrics it uses.

The return-series functions (:func:`coinfactor.analytics.sharpe_ratio`, ...) are defined in
:mod:`coinfactor.core.metrics` (their conventions are documented there) so that
:attr:`coinfactor.backtest.BacktestResult.metrics` and :func:`summary` share one
implementation, :func:`coinfactor.core.metrics.nav_metrics`: a run has one set of numbers,
computed on the bars that earn a return (the nav frame's first row, the decision bar, is the
starting point and is left out).
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
import polars as pl

from coinfactor.core.errors import DataError
from coinfactor.core.metrics import (
    annual_return,
    annual_volatility,
    calmar_ratio,
    conditional_value_at_risk,
    drawdown,
    hit_rate,
    kurtosis,
    max_drawdown,
    max_drawdown_duration,
    nav_metrics,
    sharpe_ratio,
    skewness,
    sortino_ratio,
    total_return,
    value_at_risk,
    weight_stats,
)
from coinfactor.data import TS_DTYPE, infer_freq

__all__ = [
    "annual_return",
    "annual_volatility",
    "calmar_ratio",
    "conditional_value_at_risk",
    "drawdown",
    "hit_rate",
    "kurtosis",
    "max_drawdown",
    "max_drawdown_duration",
    "sharpe_ratio",
    "skewness",
    "sortino_ratio",
    "summary",
    "total_return",
    "value_at_risk",
]

NAV_COLUMNS = ("ts", "nav", "ret", "ret_price", "ret_funding", "ret_cost")


class BacktestLike(Protocol):
    """What :func:`summary` needs from a backtest result: ``nav`` and ``weights`` frames."""

    @property
    def nav(self) -> pl.DataFrame:
        """Frame with columns ts, nav, ret, ret_price, ret_funding, ret_cost."""
        ...

    @property
    def weights(self) -> pl.DataFrame:
        """Frame with columns ts, symbol, weight."""
        ...


def _nav_frame(result: Any, *, with_weights: bool = True
               ) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    if isinstance(result, pl.DataFrame):
        return result, None
    nav = getattr(result, "nav", None)
    if not isinstance(nav, pl.DataFrame):
        raise DataError(
            f"summary expected a BacktestResult or a nav frame, got {type(result).__name__}",
            fix="pass backtest(...) output, or pl.read_parquet('<run>/nav.parquet')",
        )
    weights = getattr(result, "weights", None) if with_weights else None
    return nav, weights if isinstance(weights, pl.DataFrame) else None


def _infer_nav_freq(ts: pl.Series) -> str:
    frame = pl.DataFrame({"ts": ts, "symbol": ["nav"] * ts.len()})
    return infer_freq(frame)


def _weight_stats(weights: pl.DataFrame, nav_ts: pl.Series, years: float) -> dict[str, float]:
    """:func:`coinfactor.core.metrics.weight_stats` of a long weights frame."""
    return weight_stats(_weight_matrix(weights, nav_ts), years)


def _weight_matrix(weights: pl.DataFrame, nav_ts: pl.Series) -> np.ndarray:
    """Pivot long weights to a dense matrix (0 where flat).

    One row per nav bar and other weight timestamp, one column per symbol with a weight row
    (sorted).
    """
    missing = [c for c in ("ts", "symbol", "weight") if c not in weights.columns]
    if missing:
        raise DataError(
            f"weights frame lacks column(s) {missing}; got {weights.columns}",
            fix="pass the long weights frame with columns ts, symbol, weight",
        )
    if weights.height == 0:
        return np.zeros((nav_ts.len(), 0))
    w = weights.select("ts", "symbol", pl.col("weight").cast(pl.Float64).fill_nan(0.0)
                       .fill_null(0.0))
    # a nav bar without weight rows is a flat book (BacktestResult keeps non-zero rows only)
    grid = pl.concat([nav_ts.rename("ts").cast(TS_DTYPE), w["ts"].cast(TS_DTYPE)]).unique().sort()
    symbols = w["symbol"].unique().sort().to_list()
    # every row is on these axes by construction: its time's position and its symbol's
    rows = grid.search_sorted(w["ts"].cast(TS_DTYPE)).to_numpy().astype(np.int64)
    cols = w["symbol"].replace_strict(symbols, list(range(len(symbols))),
                                      return_dtype=pl.Int64).to_numpy()
    flat = rows * len(symbols) + cols
    # bincount sums duplicate (ts, symbol) rows, like a pivot with aggregate "sum"
    mat: np.ndarray = np.bincount(flat, weights=w["weight"].to_numpy(),
                                  minlength=len(grid) * len(symbols))
    return mat.reshape(len(grid), len(symbols))


def summary(
    result: BacktestLike | pl.DataFrame,
    *,
    weights: pl.DataFrame | None = None,
    freq: str | None = None,
) -> dict[str, float]:
    """Headline metrics of a backtest: returns, risk, drawdown, attribution, turnover, exposure.

    The numbers of :attr:`coinfactor.backtest.BacktestResult.metrics` (the same function,
    :func:`coinfactor.core.metrics.nav_metrics`, computes both). The nav frame's first row is
    the decision bar (initial NAV, no return earned yet) and is left out: the metrics are
    those of the ``n_bars = nav.height - 1`` returns earned.

    Parameters
    ----------
    result : BacktestResult or pl.DataFrame
        An object with ``.nav`` (columns ts, nav, ret, ret_price, ret_funding, ret_cost) and
        ``.weights`` (ts, symbol, weight) frames, such as
        :class:`coinfactor.backtest.BacktestResult`, or the ``nav`` frame itself (e.g. read
        from a run directory's ``nav.parquet``). The ``ret_*`` columns are contributions
        to ``ret`` (``ret = ret_price + ret_funding + ret_cost``; costs and paid funding are
        negative).
    weights : pl.DataFrame, optional
        Long weights (ts, symbol, weight); overrides ``result.weights``. Without weights the
        turnover and exposure entries are left out.
    freq : str, optional
        Bar frequency (``"1d"``); default ``result.freq`` if the result has one, else
        inferred from the nav timestamps (most common step).

    Returns
    -------
    dict of str to float
        Keys named after the :mod:`coinfactor.analytics` functions that compute them:
        ``total_return``, ``annual_return`` (CAGR), ``annual_volatility``, ``sharpe_ratio``,
        ``sortino_ratio``, ``max_drawdown``, ``max_drawdown_duration`` (bars),
        ``calmar_ratio``, ``hit_rate``, ``skewness``, ``kurtosis`` (excess),
        ``value_at_risk``, ``conditional_value_at_risk`` (per-bar returns, 5 % cutoff); and
        ``max_drawdown_duration_days``, ``best_period``, ``worst_period``,
        ``annual_price_return``, ``annual_funding_return``, ``annual_cost_return``
        (arithmetic: mean per-bar component times bars per year, so the three add up to the
        mean return annualised), ``funding_total`` and ``cost_total`` (sums), ``n_bars``,
        ``periods_per_year``; with weights also ``annual_turnover`` (the nav frame's
        ``turnover`` column, Σ|trade| of the trades made, summed and per year of earned bars;
        for a nav frame without that column, ``sum_i |w_t - w_prev|`` of the weights, which
        counts drift as trading),
        ``gross_exposure_mean/max``, ``net_exposure_mean``, ``long_exposure_mean``,
        ``short_exposure_mean`` and ``positions_mean`` (averaged over the nav bars and any
        other weight timestamps). Weights are the held weights per bar: a nav bar without
        weight rows counts as a flat book, as in ``BacktestResult.weights``. A result with a
        ``vol`` frame holding forecasts also gives ``mean_forecast_vol``; a backtest result
        adds ``funding_missing_bars``, ``funding_missing_share`` and ``liquidated``.

    Raises
    ------
    DataError
        If the nav frame lacks a column or has fewer than two bars and no ``freq``.
    """
    dense = getattr(result, "weight_matrix", None) if weights is None else None
    # a result with its own dense weights: the long ``weights`` frame is not needed (it is
    # built on first access)
    nav, own_weights = _nav_frame(result, with_weights=not callable(dense))
    weights = weights if weights is not None else own_weights
    missing = [c for c in NAV_COLUMNS if c not in nav.columns]
    if missing:
        raise DataError(
            f"nav frame lacks column(s) {missing}; expected {list(NAV_COLUMNS)}, "
            f"got {nav.columns}",
            fix="pass the backtest's nav frame (or a run directory's nav.parquet)",
        )
    nav = nav.sort("ts")
    if freq is None:
        own = getattr(result, "freq", None)
        freq = own if isinstance(own, str) else _infer_nav_freq(nav["ts"])
    mat = None
    if callable(dense):
        if nav["ts"].equals(result.nav["ts"]):  # type: ignore[union-attr]
            # the result's held weights as a dense matrix: the same numbers as its long
            # ``weights`` frame pivoted back, without the round trip
            mat = dense()
        else:
            mat = _weight_matrix(result.weights, nav["ts"])  # type: ignore[union-attr]
    elif weights is not None:
        mat = _weight_matrix(weights, nav["ts"])
    vol = getattr(result, "vol", None)
    forecast = (vol.get_column("forecast_vol")
                if isinstance(vol, pl.DataFrame) and "forecast_vol" in vol.columns else None)
    turnover = nav["turnover"] if "turnover" in nav.columns else None
    out = nav_metrics(nav["ret"], nav["ret_price"], nav["ret_funding"], nav["ret_cost"], freq,
                      weights=mat, turnover=turnover, forecast_vol=forecast)
    execution = getattr(result, "execution_metrics", None)
    if callable(execution):  # a backtest result: its funding coverage and liquidation
        out.update(execution())
    return out
