"""The immutable result of a backtest: NAV, P&L split, holdings, trades, exposures, vol."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

import numpy as np
import polars as pl

from coinfactor.core.metrics import nav_metrics


@dataclass(frozen=True)
class FundingCoverage:
    """How many held position-bars of a backtest had funding data.

    Attributes
    ----------
    position_bars : int
        (bar, symbol) cells held over a bar of a perp panel.
    missing_bars : int
        Those without a funding rate (booked as 0).
    first_ts, first_symbol : datetime or None, str or None
        The first such cell (the bar over which it was held).
    """

    position_bars: int
    missing_bars: int
    first_ts: datetime | None
    first_symbol: str | None

    @property
    def missing_share(self) -> float:
        """``missing_bars / position_bars`` (0 when nothing was held)."""
        return self.missing_bars / self.position_bars if self.position_bars else 0.0


@dataclass(frozen=True)
class BacktestResult:
    """Outputs of :func:`coinfactor.backtest.backtest`.

    All frames are indexed by ``ts``, the bar OPEN time of the panel. ``nav`` at ts is the NAV
    at the close of bar ts; ``ret`` at ts is the return earned over bar ts by the weights
    decided at the previous bar's close. Weights, holdings and trades at ts are those set at
    the close of bar ts (after ``lag``), held over the next bar.

    Attributes
    ----------
    nav : pl.DataFrame
        ``ts, nav, ret, ret_price, ret_funding, ret_cost, turnover``: NAV in quote currency,
        the bar's return and its split (fractions of the previous NAV;
        ``ret = ret_price + ret_funding + ret_cost``, ``ret_cost <= 0``) and Σ|trade| at the
        close (weight units).
    weights : pl.DataFrame
        ``ts, symbol, weight``: weights held after the close of bar ts (drifted with prices
        between decisions): non-zero weights and the zeros of positions closed at ts.
    holdings : pl.DataFrame
        ``ts, symbol, weight, notional, quantity, price``: the same positions in quote currency
        (``weight * nav``) and in coins (``notional / price``, price = last observed close).
    trades : pl.DataFrame
        ``ts, symbol, weight_before, weight_after, trade, notional, quantity, price, cost``:
        the trades actually made at the close of bar ts, from the drifted weight to the new
        one (``trade = weight_after - weight_before``), their quote and coin size at the
        mark price, and their cost in quote currency (charged over the next bar).
    turnover : pl.DataFrame
        ``ts, turnover``: Σ |trade| in weight units at each close (the trades made).
    exposure : pl.DataFrame
        ``ts, gross, net, long, short, n_long, n_short`` of the held weights.
    drawdown : pl.DataFrame
        ``ts, drawdown``: NAV / running max NAV - 1 (<= 0).
    vol : pl.DataFrame
        ``ts, forecast_vol, realized_vol``: annualised ex-ante portfolio vol (null when no
        forecast was given) and the rolling realised vol of ``ret`` over ``vol_window`` bars
        ending at ts.
    freq : str
        Bar frequency of the panel (``"1d"``).
    settings : dict
        The arguments of the run (costs, initial_nav, rebalance, lag, gap, margins,
        funding_missing, vol_window).
    funding : FundingCoverage
        Held position-bars and those without funding data.
    liquidated_at : datetime or None
        The close at which the book was liquidated, if it was.
    liquidation_reason : str or None
        ``"maintenance_margin"`` (equity at the margin) or ``"bankrupt"`` (NAV reached 0).
    """

    nav: pl.DataFrame
    turnover: pl.DataFrame
    vol: pl.DataFrame
    freq: str
    settings: dict[str, Any]
    funding: FundingCoverage
    liquidated_at: datetime | None
    liquidation_reason: str | None
    build_weights: Callable[[], pl.DataFrame] = field(repr=False, compare=False)
    """Builds :attr:`weights` on first access (a sweep's trials never read it)."""
    build_trades: Callable[[], pl.DataFrame] = field(repr=False, compare=False)
    """Builds :attr:`trades` on first access."""
    build_exposure: Callable[[], pl.DataFrame] = field(repr=False, compare=False)
    """Builds :attr:`exposure` on first access."""
    build_drawdown: Callable[[], pl.DataFrame] = field(repr=False, compare=False)
    """Builds :attr:`drawdown` on first access."""
    build_holdings: Callable[[], pl.DataFrame] = field(repr=False, compare=False)
    """Builds :attr:`holdings` on first access (most callers never read it)."""
    build_weight_matrix: Callable[[], np.ndarray] = field(repr=False, compare=False)
    """Builds :meth:`weight_matrix` (for :func:`coinfactor.analytics.summary`)."""

    def weight_matrix(self) -> np.ndarray:
        """Held weights as a dense array: :attr:`weights` pivoted, with no round trip.

        Returns
        -------
        ndarray of shape (n_bars, n_held)
            One row per ``nav`` row, one column per symbol of :attr:`weights` (sorted);
            0.0 where flat.
        """
        return self.build_weight_matrix()

    @cached_property
    def weights(self) -> pl.DataFrame:
        """``ts, symbol, weight`` (see the class docstring)."""
        return self.build_weights()

    @cached_property
    def trades(self) -> pl.DataFrame:
        """``ts, symbol, weight_before, weight_after, trade, ...`` (see the class docstring)."""
        return self.build_trades()

    @cached_property
    def exposure(self) -> pl.DataFrame:
        """``ts, gross, net, long, short, n_long, n_short`` (see the class docstring)."""
        return self.build_exposure()

    @cached_property
    def drawdown(self) -> pl.DataFrame:
        """``ts, drawdown`` (see the class docstring)."""
        return self.build_drawdown()

    @cached_property
    def holdings(self) -> pl.DataFrame:
        """``ts, symbol, weight, notional, quantity, price`` (see the class docstring)."""
        return self.build_holdings()

    @cached_property
    def metrics(self) -> dict[str, float]:
        """Headline numbers: exactly :func:`coinfactor.analytics.summary` of this result.

        Both call :func:`coinfactor.core.metrics.nav_metrics` (keys named after the
        :mod:`coinfactor.analytics` functions, annualised from :attr:`freq`). The first NAV row
        is the decision bar: nothing is held before it, so its ``ret`` of 0 is not a return
        earned and is left out; ``n_bars`` counts the bars after it. Turnover is that of the
        trades made. Then ``funding_missing_bars``, ``funding_missing_share`` (of held
        position-bars) and ``liquidated`` (1.0 if the book was liquidated).
        """
        nav = self.nav
        out = nav_metrics(nav.get_column("ret"), nav.get_column("ret_price"),
                          nav.get_column("ret_funding"), nav.get_column("ret_cost"),
                          self.freq, weights=self.weight_matrix(),
                          turnover=nav.get_column("turnover"),
                          forecast_vol=self.vol.get_column("forecast_vol"))
        out.update(self.execution_metrics())
        return out

    def execution_metrics(self) -> dict[str, float]:
        """``funding_missing_bars``, ``funding_missing_share`` and ``liquidated`` (0 or 1)."""
        return {"funding_missing_bars": float(self.funding.missing_bars),
                "funding_missing_share": self.funding.missing_share,
                "liquidated": float(self.liquidated_at is not None)}

    def summary(self) -> str:
        """Plain-text table of :attr:`metrics`."""
        width = max(len(k) for k in self.metrics)
        lines = [f"BacktestResult ({self.freq} bars)"]
        lines += [f"  {k:<{width}}  {v:.6g}" for k, v in self.metrics.items()]
        return "\n".join(lines)

    def __repr__(self) -> str:
        m = self.metrics
        return (f"BacktestResult(freq={self.freq!r}, n_bars={int(m['n_bars'])}, "
                f"total_return={m.get('total_return', math.nan):.4g})")
