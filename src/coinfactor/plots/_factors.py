"""Figures of factors and signals: quantile returns, IC over time, exposures, cumulative returns."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl
from matplotlib.figure import Figure

from coinfactor.core.errors import DataError
from coinfactor.plots._base import PALETTE, new_figure, percent_axis, require, times, values

__all__ = ["plot_cumulative", "plot_exposures", "plot_ic", "plot_quantile_returns"]


def _numeric(frame: pl.DataFrame, exclude: Sequence[str]) -> list[str]:
    return [c for c, d in frame.schema.items() if c not in exclude and d.is_numeric()]


def plot_quantile_returns(table: pl.DataFrame, *, quantile: str = "quantile",
                          value: str = "mean_return",
                          title: str = "Mean return by quantile") -> Figure:
    """Bar chart of the mean forward return per signal quantile.

    Parameters
    ----------
    table : pl.DataFrame
        Columns ``quantile`` and ``value``; several rows per quantile (e.g. one per ts) are
        averaged (nulls skipped).
    quantile, value : str
        Column names.

    Returns
    -------
    Figure
        One axes with one bar per quantile (ascending), heights the mean values.
    """
    require(table, [quantile, value], "quantile table")
    agg = (table.group_by(quantile).agg(pl.col(value).cast(pl.Float64).fill_nan(None).mean())
           .sort(quantile))
    fig, (ax,) = new_figure(height=3.0)
    heights = values(agg, value)
    labels = [str(q) for q in agg[quantile].to_list()]
    colors = [PALETTE[2] if h >= 0 else PALETTE[1] for h in np.nan_to_num(heights)]
    ax.bar(labels, heights, color=colors)
    ax.axhline(0.0, color="grey", lw=0.6)
    percent_axis(ax)
    ax.set_xlabel(quantile)
    ax.set_title(title, loc="left", fontsize=11)
    return fig


def plot_ic(ic: pl.DataFrame, *, column: str = "ic", window: int = 30,
            title: str = "Information coefficient") -> Figure:
    """Plot the per-period IC and its trailing mean.

    Parameters
    ----------
    ic : pl.DataFrame
        ``ts`` and ``column`` (e.g. rank correlation of signal and forward return per ts).
    window : int
        Bars of the trailing mean line (null until ``window`` values are seen).

    Returns
    -------
    Figure
        One axes: a bar per ts (the IC) and a line (its trailing mean); the title carries
        the mean IC.
    """
    require(ic, ["ts", column], "IC frame")
    ic = ic.sort("ts")
    v = values(ic, column)
    roll = values(ic.select(pl.col(column).cast(pl.Float64).fill_nan(None)
                            .rolling_mean(window_size=window, min_samples=window)), column)
    fig, (ax,) = new_figure()
    t = times(ic)
    ax.bar(t, v, color=PALETTE[5], alpha=0.5, width=_bar_width(t), label=column)
    ax.plot(t, roll, color=PALETTE[0], lw=1.4, label=f"{window}-period mean")
    ax.axhline(0.0, color="grey", lw=0.6)
    ax.legend(fontsize=8, frameon=False, loc="upper left")
    mean = float(np.nanmean(v)) if np.isfinite(v).any() else float("nan")
    ax.set_title(f"{title} (mean {mean:.3f})", loc="left", fontsize=11)
    return fig


def _bar_width(t: np.ndarray) -> float:
    if t.size < 2:
        return 1.0
    step = np.median(np.diff(t)).astype("timedelta64[us]").astype(np.int64) / 86_400e6
    return float(step) * 0.9


def plot_exposures(exposures: pl.DataFrame, *, columns: Sequence[str] | None = None,
                   symbols: Sequence[str] = (), max_panels: int = 6,
                   title: str = "Exposures over time") -> Figure:
    """Plot per-symbol exposures over time: cross-sectional median and interquartile band.

    Parameters
    ----------
    exposures : pl.DataFrame
        Long ``ts, symbol`` plus numeric exposure columns (betas, R², ...).
    columns : sequence of str, optional
        Exposure columns to draw (default: every numeric column, at most ``max_panels``).
    symbols : sequence of str
        Symbols drawn as their own lines on top of the band.

    Returns
    -------
    Figure
        One axes per column, each with the median line, the 25-75 % band and one line per
        requested symbol.
    """
    require(exposures, ["ts", "symbol"], "exposures frame")
    cols = list(columns) if columns is not None else _numeric(exposures, ["ts", "symbol"])
    cols = cols[:max_panels]
    if not cols:
        raise DataError("exposures frame has no numeric exposure column",
                        fix="pass columns=[...] naming the exposure columns")
    require(exposures, cols, "exposures frame")
    fig, axes = new_figure(len(cols), height=2.2)
    for ax, col in zip(axes, cols, strict=True):
        x = pl.col(col).cast(pl.Float64).fill_nan(None)
        q = (exposures.group_by("ts")
             .agg(x.quantile(0.25).alias("q25"), x.median().alias("med"),
                  x.quantile(0.75).alias("q75"))
             .sort("ts"))
        t = times(q)
        ax.fill_between(t, values(q, "q25"), values(q, "q75"), color=PALETTE[0], alpha=0.2,
                        lw=0)
        ax.plot(t, values(q, "med"), color=PALETTE[0], lw=1.2, label="median")
        for i, sym in enumerate(symbols):
            s = exposures.filter(pl.col("symbol") == sym).sort("ts")
            ax.plot(times(s), values(s, col), color=PALETTE[(i + 1) % len(PALETTE)], lw=0.9,
                    label=sym)
        ax.set_ylabel(col, fontsize=8)
    axes[0].legend(fontsize=8, frameon=False, loc="upper left", ncols=4)
    fig.suptitle(title, x=0.01, ha="left", fontsize=11)
    return fig


def plot_cumulative(returns: pl.DataFrame, *, columns: Sequence[str] | None = None,
                    title: str = "Cumulative return", max_lines: int = 12) -> Figure:
    """Plot compounded cumulative returns of several return columns (factor returns, P&L).

    Parameters
    ----------
    returns : pl.DataFrame
        Wide ``ts`` plus one simple-return column per series; NaN/null bars are flat.
    columns : sequence of str, optional
        Columns to draw (default: every numeric column, at most ``max_lines``).

    Returns
    -------
    Figure
        One axes with one line per column: ``prod(1 + r) - 1`` up to each ts.
    """
    require(returns, ["ts"], "returns frame")
    cols = list(columns) if columns is not None else _numeric(returns, ["ts"])[:max_lines]
    if not cols:
        raise DataError("returns frame has no numeric column", fix="pass columns=[...]")
    require(returns, cols, "returns frame")
    returns = returns.sort("ts")
    fig, (ax,) = new_figure()
    t = times(returns)
    for i, col in enumerate(cols):
        cum = np.cumprod(1.0 + np.nan_to_num(values(returns, col), nan=0.0)) - 1.0
        ax.plot(t, cum, color=PALETTE[i % len(PALETTE)], lw=1.1, label=col)
    ax.axhline(0.0, color="grey", lw=0.6)
    percent_axis(ax, decimals=0)
    ax.legend(fontsize=8, frameon=False, loc="upper left", ncols=min(len(cols), 4))
    ax.set_title(title, loc="left", fontsize=11)
    return fig
