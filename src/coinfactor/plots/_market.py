"""Market figures: annualised funding by coin, rolling correlation, bootstrap distributions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import polars as pl
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

from coinfactor.core.errors import DataError
from coinfactor.plots._base import PALETTE, new_figure, percent_axis, require, times, values

__all__ = ["plot_bootstrap", "plot_funding_by_coin", "plot_rolling_correlation"]


def plot_funding_by_coin(funding: pl.DataFrame, *, value: str = "funding_annual",
                         top: int | None = 40,
                         title: str = "Annualised funding rate") -> Figure:
    """Bar chart of annualised funding per coin, highest first (seed 002's chart).

    Parameters
    ----------
    funding : pl.DataFrame
        ``symbol`` and ``value`` (a fraction per year, > 0 = longs pay), e.g. from
        :func:`coinfactor.analytics.annualized_funding`.
    top : int, optional
        Draw at most this many coins: the ``top // 2`` highest and the rest lowest (all if
        None). Ties are ordered by symbol.

    Returns
    -------
    Figure
        One axes with one bar per coin, sorted descending; positive bars in one colour,
        negative in another.
    """
    require(funding, ["symbol", value], "funding frame")
    f = (funding.select("symbol", pl.col(value).cast(pl.Float64)).drop_nulls().filter(
        pl.col(value).is_not_nan()).sort([value, "symbol"], descending=[True, False]))
    if top is not None and f.height > top:
        f = pl.concat([f.head(top // 2), f.tail(top - top // 2)])
    fig, (ax,) = new_figure(height=3.4, width=max(6.0, 0.22 * f.height + 2), bottom=1.0)
    h = values(f, value)
    ax.bar(f["symbol"].to_list(), h, color=[PALETTE[1] if v > 0 else PALETTE[0] for v in h])
    ax.axhline(0.0, color="grey", lw=0.6)
    ax.tick_params(axis="x", rotation=90, labelsize=7)
    percent_axis(ax, decimals=0)
    ax.set_title(f"{title} (> 0: longs pay)", loc="left", fontsize=11)
    return fig


def plot_rolling_correlation(corr: pl.DataFrame, *, columns: Sequence[str] | None = None,
                             title: str = "Rolling correlation") -> Figure:
    """Plot rolling correlations over time.

    Parameters
    ----------
    corr : pl.DataFrame
        ``ts`` plus one correlation column per pair (e.g. ``corr`` from
        :func:`coinfactor.analytics.rolling_correlation`).
    columns : sequence of str, optional
        Columns to draw (default every numeric column).

    Returns
    -------
    Figure
        One axes, y from -1 to 1, one line per column.
    """
    require(corr, ["ts"], "correlation frame")
    cols = list(columns) if columns is not None else [
        c for c, d in corr.schema.items() if c != "ts" and d.is_numeric()]
    if not cols:
        raise DataError("correlation frame has no numeric column", fix="pass columns=[...]")
    require(corr, cols, "correlation frame")
    corr = corr.sort("ts")
    fig, (ax,) = new_figure(height=2.8)
    for i, col in enumerate(cols):
        ax.plot(times(corr), values(corr, col), color=PALETTE[i % len(PALETTE)], lw=1.1,
                label=col)
    ax.set_ylim(-1.05, 1.05)
    ax.axhline(0.0, color="grey", lw=0.6)
    if len(cols) > 1:
        ax.legend(fontsize=8, frameon=False, loc="lower left")
    ax.set_title(title, loc="left", fontsize=11)
    return fig


def plot_bootstrap(samples: Mapping[str, np.ndarray] | pl.DataFrame, *, bins: int = 50,
                   percentiles: Sequence[float] = (5.0, 50.0, 95.0),
                   title: str = "Bootstrap distribution", as_percent: bool = True) -> Figure:
    """Overlaid histograms of bootstrap samples with percentile markers.

    Parameters
    ----------
    samples : mapping of str to ndarray, or pl.DataFrame
        One 1-d sample per name (or one numeric column per name); NaN values are dropped.
    bins : int
        Histogram bins, shared by all samples.
    percentiles : sequence of float
        Percentiles (0-100) marked by vertical lines for every sample.
    as_percent : bool
        Format the x axis as percentages.

    Returns
    -------
    Figure
        One axes with one histogram (a bar container) per sample and one vertical line per
        sample and percentile.
    """
    if isinstance(samples, pl.DataFrame):
        data = {c: values(samples, c) for c, d in samples.schema.items() if d.is_numeric()}
    else:
        data = {k: np.asarray(v, dtype=np.float64).ravel() for k, v in samples.items()}
    data = {k: v[np.isfinite(v)] for k, v in data.items()}
    data = {k: v for k, v in data.items() if v.size}
    if not data:
        raise DataError("no finite bootstrap samples to plot",
                        fix="pass a mapping name -> 1-d array of sampled statistics")
    lo = min(float(v.min()) for v in data.values())
    hi = max(float(v.max()) for v in data.values())
    edges = np.linspace(lo, hi if hi > lo else lo + 1e-12, bins + 1)
    fig, (ax,) = new_figure(height=3.0)
    for i, (name, v) in enumerate(data.items()):
        color = PALETTE[i % len(PALETTE)]
        ax.hist(v, bins=list(edges), alpha=0.45, color=color, label=name)
        for p in percentiles:
            ax.axvline(float(np.percentile(v, p)), color=color, lw=0.8, ls="--")
    if as_percent:
        ax.xaxis.set_major_formatter(PercentFormatter(xmax=1.0))
    ax.legend(fontsize=8, frameon=False)
    ax.set_ylabel("count")
    ax.set_title(f"{title} (dashed: percentiles {', '.join(f'{p:g}' for p in percentiles)})",
                 loc="left", fontsize=11)
    return fig
