"""The immutable result of a backtest: NAV, P&L split, holdings, trades, exposures, vol."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import polars as pl

from coinfactor.core.time import periods_per_year


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
        ``ts, nav, ret, ret_price, ret_funding, ret_cost`` (fractions of NAV;
        ``ret = ret_price + ret_funding + ret_cost``, ``ret_cost <= 0``).
    weights : pl.DataFrame
        ``ts, symbol, weight``: weights held after the close of bar ts: non-zero weights and
        the zeros of positions closed at ts (passing it back to ``backtest`` reproduces the
        run).
    holdings : pl.DataFrame
        ``ts, symbol, weight, notional, quantity, price``: the same positions in quote currency
        (``weight * nav``) and in coins (``notional / price``, price = last observed close).
    trades : pl.DataFrame
        ``ts, symbol, trade, notional, quantity, cost``: weight change at the close of bar ts,
        its quote and coin size, and its cost in quote currency (non-zero trades only).
    turnover : pl.DataFrame
        ``ts, turnover``: Σ |trade| in weight units at each close.
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
        The arguments of the run (fee_bps, lag, gap, initial_nav, vol_window).
    """

    nav: pl.DataFrame
    weights: pl.DataFrame
    trades: pl.DataFrame
    turnover: pl.DataFrame
    exposure: pl.DataFrame
    drawdown: pl.DataFrame
    vol: pl.DataFrame
    freq: str
    settings: dict[str, Any]
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
    def holdings(self) -> pl.DataFrame:
        """``ts, symbol, weight, notional, quantity, price`` (see the class docstring)."""
        return self.build_holdings()

    @cached_property
    def metrics(self) -> dict[str, float]:
        """Headline numbers (annualised with :func:`coinfactor.core.time.periods_per_year`).

        ``ret`` series start at the first bar after the first decision; the first NAV row (the
        decision bar) is excluded from means and standard deviations.
        """
        ppy = periods_per_year(self.freq)
        rets = self.nav.get_column("ret").to_numpy()[1:]
        n = rets.size
        nav = self.nav.get_column("nav").to_numpy()
        out: dict[str, float] = {"n_bars": float(n)}
        if n == 0:
            return out
        total = float(nav[-1] / nav[0] - 1.0)
        std = float(np.std(rets, ddof=1)) if n > 1 else math.nan
        mean = float(np.mean(rets))
        years = n / ppy
        out["total_return"] = total
        out["annual_return"] = (
            float((nav[-1] / nav[0]) ** (1.0 / years) - 1.0) if nav[-1] > 0 else -1.0
        )
        out["annual_volatility"] = std * math.sqrt(ppy)
        out["sharpe_ratio"] = mean / std * math.sqrt(ppy) if std > 0 else math.nan
        out["max_drawdown"] = float(self.drawdown.get_column("drawdown").to_numpy().min())
        for part in ("ret_price", "ret_funding", "ret_cost"):
            out[f"annual_{part.removeprefix('ret_')}_pnl"] = float(
                self.nav.get_column(part).to_numpy()[1:].mean() * ppy)
        turnover = self.turnover.get_column("turnover").to_numpy()
        out["mean_turnover"] = float(turnover.mean()) if turnover.size else 0.0
        out["annual_turnover"] = out["mean_turnover"] * ppy
        out["mean_gross"] = float(self.exposure.get_column("gross").to_numpy().mean())
        out["mean_net"] = float(self.exposure.get_column("net").to_numpy().mean())
        fc = self.vol.get_column("forecast_vol").drop_nulls()
        if fc.len():
            out["mean_forecast_vol"] = float(fc.mean())  # type: ignore[arg-type]
        return out

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
