"""Price signals: VWAP distance, realized volatility, Sharpe proxy, rolling market beta."""

from __future__ import annotations

import numpy as np
import polars as pl

from coinfactor import rolling as k
from coinfactor.core.time import periods_per_year
from coinfactor.data import Grid
from coinfactor.signals._registry import register, register_array

_FLAT = 1e-12  # relative variance below which a window counts as having no dispersion
_FLAT_ABS = 1e-20  # per-bar return variance (std 1e-10 = 1e-6 bp) that is rounding noise


@register
def vwap_distance(
    panel: pl.DataFrame,
    *,
    window: int = 6,
    min_periods: int | None = None,
    freq: str | None = None,
) -> pl.DataFrame:
    """Distance of the close from the trailing volume-weighted average price.

    ``VWAP(t) = sum(p_j * v_j) / sum(v_j)`` over the bars ``j`` of the window, with the typical
    price ``p = (high + low + close) / 3`` and ``v`` the base volume;
    ``vwap_distance(t) = close(t) / VWAP(t) - 1``. Null when the window's volume is zero.
    (Seed 001's version cancelled the volume out.) Window rule: see :mod:`coinfactor.signals`.

    Parameters
    ----------
    panel : pl.DataFrame
        Canonical panel.
    window : int, default 6
        Window in bars (6 = one day of 4h bars).
    min_periods : int, optional
        Bars required in the window (default ``window``).
    freq : str, optional
        Bar frequency (default: inferred).

    Returns
    -------
    pl.DataFrame
        ``ts, symbol, vwap_distance`` (fraction; 0.02 = close 2% above VWAP).
    """
    grid = Grid.from_panel(panel, freq)
    return grid.long({"vwap_distance": _vwap_distance(panel, grid, window=window,
                                                      min_periods=min_periods)})


@register_array("vwap_distance")
def _vwap_distance(panel: pl.DataFrame, grid: Grid, *, window: int = 6,
                   min_periods: int | None = None) -> np.ndarray:
    k.check_window(window)
    need = k.min_count(window, min_periods)
    typical = (pl.col("high") + pl.col("low") + pl.col("close")) / 3.0
    spv, n = k.rolling_sum(grid.wide(panel, typical * pl.col("volume")), window,
                           overwrite=True)
    sv, _ = k.rolling_sum(grid.wide(panel, "volume"), window, overwrite=True)
    defined = (n >= need) & (sv > 0)
    del n, _
    with np.errstate(invalid="ignore", divide="ignore"):
        values = np.divide(spv, sv, out=spv)  # VWAP
        del sv
        np.divide(grid.wide(panel, "close"), values, out=values)
    values -= 1.0
    np.copyto(values, np.nan, where=~defined)
    return values


@register
def realized_vol(
    panel: pl.DataFrame,
    *,
    window: int = 30,
    min_periods: int | None = None,
    freq: str | None = None,
) -> pl.DataFrame:
    """Annualised realized volatility from squared log returns.

    ``realized_vol(t) = sqrt(periods_per_year / n * sum_j log(close_j / close_{j-1})^2)`` over
    the ``n`` bar returns present in the window (``n = window`` by default), i.e. the square
    root of the sum of squared log returns, scaled to a year. Uncentred (no mean removed).
    Window rule: see :mod:`coinfactor.signals`.

    Parameters
    ----------
    panel : pl.DataFrame
        Canonical panel.
    window : int, default 30
        Window in bar returns.
    min_periods : int, optional
        Returns required in the window (default ``window``).
    freq : str, optional
        Bar frequency (default: inferred).

    Returns
    -------
    pl.DataFrame
        ``ts, symbol, realized_vol`` (annualised fraction; 0.8 = 80% a year).
    """
    grid = Grid.from_panel(panel, freq)
    return grid.long({"realized_vol": _realized_vol(panel, grid, window=window,
                                                    min_periods=min_periods)})


@register_array("realized_vol")
def _realized_vol(panel: pl.DataFrame, grid: Grid, *, window: int = 30,
                  min_periods: int | None = None) -> np.ndarray:
    k.check_window(window)
    need = k.min_count(window, min_periods)
    r = k.log_returns(grid.wide(panel, "close"))
    sums, n = k.rolling_sum(np.multiply(r, r, out=r), window, overwrite=True)
    del r
    with np.errstate(invalid="ignore", divide="ignore"):
        values = np.maximum(sums, 0.0, out=sums)
        values /= n
        values *= periods_per_year(grid.freq)
        np.sqrt(values, out=values)
    np.copyto(values, np.nan, where=n < need)
    return values


@register
def sharpe_proxy(
    panel: pl.DataFrame,
    *,
    window: int = 30,
    min_periods: int | None = None,
    freq: str | None = None,
) -> pl.DataFrame:
    """Compute the rolling Sharpe ratio of simple bar returns, annualised, no risk-free rate.

    ``sharpe_proxy(t) = mean(r) / std(r) * sqrt(periods_per_year)`` over the bar returns of the
    window (sample std, ddof=1). Null when the window has fewer than two returns or no
    dispersion: a variance below 1e-12 of the mean squared return (equal returns up to
    rounding) or below 1e-20 (a return std under 1e-10 per bar, price moves at the rounding
    level, where the ratio is noise). Window rule: see :mod:`coinfactor.signals`.

    Parameters
    ----------
    panel : pl.DataFrame
        Canonical panel.
    window : int, default 30
        Window in bar returns.
    min_periods : int, optional
        Returns required in the window (default ``window``; at least 2 are always needed).
    freq : str, optional
        Bar frequency (default: inferred).

    Returns
    -------
    pl.DataFrame
        ``ts, symbol, sharpe_proxy`` (annualised, unitless).
    """
    grid = Grid.from_panel(panel, freq)
    return grid.long({"sharpe_proxy": _sharpe_proxy(panel, grid, window=window,
                                                    min_periods=min_periods)})


@register_array("sharpe_proxy")
def _sharpe_proxy(panel: pl.DataFrame, grid: Grid, *, window: int = 30,
                  min_periods: int | None = None) -> np.ndarray:
    k.check_window(window)
    need = max(2, k.min_count(window, min_periods))
    r = k.simple_returns(grid.wide(panel, "close"))
    s1, n = k.rolling_sum(r, window)
    s2, _ = k.rolling_sum(np.multiply(r, r, out=r), window, overwrite=True)
    del r, _
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = s1 / n
        var = np.multiply(s1, mean, out=s1)
        np.subtract(s2, var, out=var)
        var /= n - 1
        # flat: var <= _FLAT * (s2 / n) or var <= _FLAT_ABS
        scale = np.divide(s2, n, out=s2)
        flat = var <= np.multiply(_FLAT, scale, out=scale)
        del s2, scale
        flat |= var <= _FLAT_ABS
        values = np.divide(mean, np.sqrt(var, out=var), out=mean)
    del var
    flat |= n < need
    np.copyto(values, np.nan, where=flat)
    values *= np.sqrt(periods_per_year(grid.freq))
    return values


@register
def rolling_beta(
    panel: pl.DataFrame,
    *,
    window: int = 30,
    min_periods: int | None = None,
    freq: str | None = None,
) -> pl.DataFrame:
    """Compute the rolling beta of each coin to the equal-weighted market.

    The market return of bar ``t`` is the mean simple return of every symbol with a return at
    ``t`` (the coin itself included). Over the bars of the window where the coin has a return,
    ``beta = cov(r_coin, r_mkt) / var(r_mkt)``: the coin regressed on the market (seed 000
    regressed the market on the coin). Null when the market has no variance in the window
    (relative 1e-12, or a per-bar variance below 1e-20: rounding-level moves).
    Window rule: see :mod:`coinfactor.signals`.

    Parameters
    ----------
    panel : pl.DataFrame
        Canonical panel.
    window : int, default 30
        Window in bar returns.
    min_periods : int, optional
        Returns required in the window (default ``window``; at least 2 are always needed).
    freq : str, optional
        Bar frequency (default: inferred).

    Returns
    -------
    pl.DataFrame
        ``ts, symbol, rolling_beta`` (unitless).
    """
    grid = Grid.from_panel(panel, freq)
    return grid.long({"rolling_beta": _rolling_beta(panel, grid, window=window,
                                                    min_periods=min_periods)})


@register_array("rolling_beta")
def _rolling_beta(panel: pl.DataFrame, grid: Grid, *, window: int = 30,
                  min_periods: int | None = None) -> np.ndarray:
    k.check_window(window)
    need = max(2, k.min_count(window, min_periods))
    close = grid.wide(panel, "close")
    r = k.simple_returns(close)
    present = np.isfinite(r)
    with np.errstate(invalid="ignore"):
        counts = present.sum(axis=1)
        total = np.where(present, r, 0.0).sum(axis=1)
        mkt_row = np.where(counts > 0, total / np.maximum(counts, 1), np.nan)
    mkt = np.where(present, mkt_row[:, None], np.nan)
    sx, n = k.rolling_sum(mkt, window)
    sy, _ = k.rolling_sum(r, window)
    sxx, _ = k.rolling_sum(mkt * mkt, window)
    sxy, _ = k.rolling_sum(mkt * r, window)
    with np.errstate(invalid="ignore", divide="ignore"):
        var = sxx - sx * sx / n
        cov = sxy - sx * sy / n
        flat = (var <= _FLAT * sxx) | (var <= _FLAT_ABS * n)
        values = np.where((n >= need) & ~flat, cov / var, np.nan)
    return values
