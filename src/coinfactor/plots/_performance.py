"""Figures of a backtest: NAV, drawdown, rolling risk, exposure and P&L attribution."""

from __future__ import annotations

import numpy as np
import polars as pl
from matplotlib.figure import Figure

from coinfactor.analytics import drawdown, rolling_stats
from coinfactor.plots._base import (
    PALETTE,
    new_figure,
    percent_axis,
    ratio_axis,
    require,
    times,
    values,
)

__all__ = ["plot_attribution", "plot_capacity", "plot_drawdown", "plot_exposure", "plot_nav",
           "plot_rolling"]


def plot_nav(nav: pl.DataFrame, *, title: str = "Net asset value", log: bool = False) -> Figure:
    """Plot the NAV (equity curve) of a backtest.

    Parameters
    ----------
    nav : pl.DataFrame
        ``ts, nav`` (NAV at the close of each bar, in any unit: drawn as growth of 1).
    title : str
        Axes title.
    log : bool
        Log-scale y axis.

    Returns
    -------
    Figure
        One axes with one line: ``nav`` divided by its first value against ``ts``.
    """
    require(nav, ["ts", "nav"], "nav frame")
    nav = nav.sort("ts")
    fig, (ax,) = new_figure()
    level = values(nav, "nav")
    start = level[0] if level.size and np.isfinite(level[0]) and level[0] > 0 else 1.0
    ax.plot(times(nav), level / start, color=PALETTE[0], lw=1.4, label="NAV")
    ax.axhline(1.0, color="grey", lw=0.6, ls=":")
    if log:
        ax.set_yscale("log")
    ax.set_title(title, loc="left", fontsize=11)
    ax.set_ylabel("growth of 1")
    return fig


def plot_drawdown(nav: pl.DataFrame, *, title: str = "Drawdown") -> Figure:
    """Plot the drawdown from the running NAV peak (from ``ret``; start NAV of 1 is a peak).

    Returns
    -------
    Figure
        One axes with a filled area and one line holding the drawdown fractions.
    """
    require(nav, ["ts", "ret"], "nav frame")
    nav = nav.sort("ts")
    dd = drawdown(values(nav, "ret"))
    fig, (ax,) = new_figure(height=2.6)
    t = times(nav)
    ax.fill_between(t, dd, 0.0, color=PALETTE[1], alpha=0.3, lw=0)
    ax.plot(t, dd, color=PALETTE[1], lw=1.0, label="drawdown")
    percent_axis(ax)
    ax.set_title(title, loc="left", fontsize=11)
    return fig


def plot_rolling(nav: pl.DataFrame, *, window: int, freq: str | None = None,
                 periods_per_year: float | None = None, title: str | None = None) -> Figure:
    """Plot trailing annualised volatility and Sharpe ratio of ``ret``.

    Parameters
    ----------
    nav : pl.DataFrame
        ``ts, ret``.
    window : int
        Bars per window.
    freq : str, optional
        Bar frequency (``"1d"``); inferred from ``ts`` when omitted.
    periods_per_year : float, optional
        Bars per year, overriding ``freq``.
    title : str, optional
        Figure title (default mentions the window).

    Returns
    -------
    Figure
        Two axes: rolling volatility (fraction per year), rolling Sharpe ratio.
    """
    stats = rolling_stats(nav, window=window, freq=freq, periods_per_year=periods_per_year)
    fig, (ax_v, ax_s) = new_figure(2, height=2.4)
    t = times(stats)
    ax_v.plot(t, values(stats, "rolling_vol"), color=PALETTE[0], lw=1.1, label="volatility")
    percent_axis(ax_v, decimals=0)
    ax_v.set_ylabel("ann. volatility")
    ax_s.plot(t, values(stats, "rolling_sharpe"), color=PALETTE[2], lw=1.1, label="Sharpe")
    ax_s.axhline(0.0, color="grey", lw=0.6)
    ratio_axis(ax_s)
    ax_s.set_ylabel("ann. Sharpe")
    fig.suptitle(title or f"Rolling {window}-bar volatility and Sharpe ratio", x=0.01,
                 ha="left", fontsize=11)
    return fig


def _exposures(weights: pl.DataFrame) -> pl.DataFrame:
    w = pl.col("weight").cast(pl.Float64).fill_nan(0.0).fill_null(0.0)
    return (
        weights.group_by("ts")
        .agg(
            w.abs().sum().alias("gross"),
            w.sum().alias("net"),
            w.clip(lower_bound=0.0).sum().alias("long"),
            w.clip(upper_bound=0.0).sum().alias("short"),
        )
        .sort("ts")
    )


def plot_exposure(weights: pl.DataFrame, *, title: str = "Exposure") -> Figure:
    """Plot gross, net, long and short exposure of a weights frame.

    Parameters
    ----------
    weights : pl.DataFrame
        Long ``ts, symbol, weight`` (signed fractions of NAV).

    Returns
    -------
    Figure
        One axes with four lines labelled gross, net, long, short (sums over symbols per ts).
    """
    require(weights, ["ts", "symbol", "weight"], "weights frame")
    exp = _exposures(weights)
    fig, (ax,) = new_figure()
    t = times(exp)
    for i, col in enumerate(("gross", "net", "long", "short")):
        ax.plot(t, values(exp, col), color=PALETTE[i], lw=1.2 if i < 2 else 0.8,
                ls="-" if i < 2 else "--", label=col)
    ax.axhline(0.0, color="grey", lw=0.6)
    ax.legend(fontsize=8, ncols=4, loc="upper left", frameon=False)
    ax.set_ylabel("fraction of NAV")
    ax.set_title(title, loc="left", fontsize=11)
    return fig


def plot_attribution(nav: pl.DataFrame, *, title: str = "P&L attribution") -> Figure:
    """Plot the cumulative (summed) return contributions of price, funding and costs.

    Parameters
    ----------
    nav : pl.DataFrame
        ``ts, ret, ret_price, ret_funding, ret_cost`` (contributions to ``ret``).

    Returns
    -------
    Figure
        One axes with four lines: cumulative sums of ``ret_price``, ``ret_funding``,
        ``ret_cost`` and ``ret`` (labels price, funding, costs, total); null bars add zero.
    """
    require(nav, ["ts", "ret", "ret_price", "ret_funding", "ret_cost"], "nav frame")
    nav = nav.sort("ts")
    fig, (ax,) = new_figure()
    t = times(nav)
    for i, (col, label) in enumerate((("ret_price", "price"), ("ret_funding", "funding"),
                                      ("ret_cost", "costs"), ("ret", "total"))):
        cum = np.cumsum(np.nan_to_num(values(nav, col), nan=0.0))
        ax.plot(t, cum, color="black" if label == "total" else PALETTE[i],
                lw=1.5 if label == "total" else 1.1, label=label)
    ax.axhline(0.0, color="grey", lw=0.6)
    percent_axis(ax, decimals=0)
    ax.legend(fontsize=8, ncols=4, loc="upper left", frameon=False)
    ax.set_ylabel("cumulative return (sum)")
    ax.set_title(title, loc="left", fontsize=11)
    return fig


def plot_capacity(table: pl.DataFrame, *, title: str = "Capacity") -> Figure:
    """Plot net annual return, cost drag and Sharpe ratio against the NAV traded.

    Parameters
    ----------
    table : pl.DataFrame
        :func:`coinfactor.analytics.capacity` output: ``initial_nav, annual_return,
        annual_cost_return, sharpe_ratio``.
    title : str
        Title of the first axes.

    Returns
    -------
    Figure
        Two axes over a log NAV axis: returns (net and cost drag, fractions per year) and the
        Sharpe ratio.
    """
    require(table, ["initial_nav", "annual_return", "annual_cost_return", "sharpe_ratio"],
            "capacity table")
    table = table.sort("initial_nav")
    nav = values(table, "initial_nav")
    fig, (ax, ax2) = new_figure(2)
    ax.plot(nav, values(table, "annual_return"), marker="o", color=PALETTE[0],
            label="net annual return")
    ax.plot(nav, values(table, "annual_cost_return"), marker="s", color=PALETTE[1],
            label="cost drag (annual)")
    ax.axhline(0.0, color="grey", lw=0.6, ls=":")
    ax.set_xscale("log")
    percent_axis(ax)
    ax.set_title(title, loc="left", fontsize=11)
    ax.legend(fontsize=8)
    ax2.plot(nav, values(table, "sharpe_ratio"), marker="o", color=PALETTE[2])
    ax2.axhline(0.0, color="grey", lw=0.6, ls=":")
    ax2.set_xscale("log")
    ax2.set_ylabel("Sharpe ratio")
    ax2.set_xlabel("NAV (quote currency)")
    return fig
