"""Bid-ask spread estimates from bar highs, lows and closes."""

from __future__ import annotations

import numpy as np
import polars as pl

from coinfactor import rolling as k
from coinfactor.data import Grid
from coinfactor.signals._registry import register, register_array

_CS_K = 3.0 - 2.0 * np.sqrt(2.0)


@register
def half_range_spread(
    panel: pl.DataFrame,
    *,
    window: int = 1,
    min_periods: int | None = None,
    freq: str | None = None,
) -> pl.DataFrame:
    """Seed 004's half-spread proxy: half the bar's range relative to its mid-range.

    ``h(t) = 0.5 * (high - low) / ((high + low) / 2) = (high - low) / (high + low)``, averaged
    over the window (default one bar: the bar's own value). An upper bound on the half-spread
    that also contains volatility. Window rule: see :mod:`coinfactor.signals`.

    Parameters
    ----------
    panel : pl.DataFrame
        Canonical panel.
    window : int, default 1
        Window in bars.
    min_periods : int, optional
        Bars required in the window (default ``window``).
    freq : str, optional
        Bar frequency (default: inferred).

    Returns
    -------
    pl.DataFrame
        ``ts, symbol, half_range_spread`` (half-spread as a fraction of price).
    """
    grid = Grid.from_panel(panel, freq)
    return grid.long({"half_range_spread": _half_range_spread(panel, grid, window=window,
                                                              min_periods=min_periods)})


@register_array("half_range_spread")
def _half_range_spread(panel: pl.DataFrame, grid: Grid, *, window: int = 1,
                       min_periods: int | None = None) -> np.ndarray:
    k.check_window(window)
    need = k.min_count(window, min_periods)
    rng = grid.wide(panel, (pl.col("high") - pl.col("low")) / (pl.col("high") + pl.col("low")))
    return k.rolling_mean(rng, window, need)


@register
def corwin_schultz(
    panel: pl.DataFrame,
    *,
    window: int = 20,
    min_periods: int | None = None,
    freq: str | None = None,
) -> pl.DataFrame:
    """Corwin–Schultz (2012) high-low spread estimator, averaged over a window.

    For each pair of consecutive bars ``(t-1, t)``::

        beta  = ln(H[t-1] / L[t-1])^2 + ln(H[t] / L[t])^2
        gamma = ln(max(H[t-1], H[t]) / min(L[t-1], L[t]))^2
        alpha = (sqrt(2 beta) - sqrt(beta)) / (3 - 2 sqrt 2) - sqrt(gamma / (3 - 2 sqrt 2))
        S     = 2 (exp(alpha) - 1) / (1 + exp(alpha))

    negative two-bar estimates are set to zero (as in the paper), and the estimate at ``t`` is
    the mean of ``S`` over the pairs ending in the window's bars. No overnight adjustment
    (crypto trades around the clock). A pair needs both bars. Window rule: see
    :mod:`coinfactor.signals`.

    Parameters
    ----------
    panel : pl.DataFrame
        Canonical panel.
    window : int, default 20
        Window in two-bar estimates.
    min_periods : int, optional
        Two-bar estimates required in the window (default ``window``).
    freq : str, optional
        Bar frequency (default: inferred).

    Returns
    -------
    pl.DataFrame
        ``ts, symbol, corwin_schultz`` (FULL proportional spread; halve it for a half-spread).

    References
    ----------
    Corwin, S. A. and Schultz, P. (2012). A simple way to estimate bid-ask spreads from daily
    high and low prices. Journal of Finance 67(2), 719-760.
    """
    grid = Grid.from_panel(panel, freq)
    return grid.long({"corwin_schultz": _corwin_schultz(panel, grid, window=window,
                                                        min_periods=min_periods)})


@register_array("corwin_schultz")
def _corwin_schultz(panel: pl.DataFrame, grid: Grid, *, window: int = 20,
                    min_periods: int | None = None) -> np.ndarray:
    k.check_window(window)
    need = k.min_count(window, min_periods)
    high = grid.wide(panel, "high")
    low = grid.wide(panel, "low")
    h = high
    h0, l0 = k.shift(h, 1), k.shift(low, 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        beta = np.log(h0 / l0) ** 2 + np.log(h / low) ** 2
        gamma = np.log(np.fmax(h0, h) / np.fmin(l0, low)) ** 2
        gamma = np.where(np.isfinite(h0) & np.isfinite(h), gamma, np.nan)
        alpha = (np.sqrt(2.0 * beta) - np.sqrt(beta)) / _CS_K - np.sqrt(gamma / _CS_K)
        s = 2.0 * np.expm1(alpha) / (1.0 + np.exp(alpha))
    s = np.where(np.isfinite(s), np.maximum(s, 0.0), np.nan)
    return k.rolling_mean(s, window, need)


@register
def abdi_ranaldo(
    panel: pl.DataFrame,
    *,
    window: int = 20,
    min_periods: int | None = None,
    freq: str | None = None,
) -> pl.DataFrame:
    """Abdi–Ranaldo (2017) close-high-low spread estimator over a window.

    With ``c = ln close`` and the log mid-range ``eta = (ln high + ln low) / 2``, each pair of
    consecutive bars gives ``s2(t) = 4 (c[t-1] - eta[t-1]) (c[t-1] - eta[t])``; the estimate is
    ``sqrt(max(mean of s2 over the window, 0))`` (the paper's averaged-then-rooted version,
    negative means set to zero). A pair needs both bars. Window rule: see
    :mod:`coinfactor.signals`.

    Parameters
    ----------
    panel : pl.DataFrame
        Canonical panel.
    window : int, default 20
        Window in two-bar terms.
    min_periods : int, optional
        Two-bar terms required in the window (default ``window``).
    freq : str, optional
        Bar frequency (default: inferred).

    Returns
    -------
    pl.DataFrame
        ``ts, symbol, abdi_ranaldo`` (FULL proportional spread; halve it for a half-spread).

    References
    ----------
    Abdi, F. and Ranaldo, A. (2017). A simple estimation of bid-ask spreads from daily close,
    high, and low prices. Review of Financial Studies 30(12), 4437-4480.
    """
    grid = Grid.from_panel(panel, freq)
    return grid.long({"abdi_ranaldo": _abdi_ranaldo(panel, grid, window=window,
                                                    min_periods=min_periods)})


@register_array("abdi_ranaldo")
def _abdi_ranaldo(panel: pl.DataFrame, grid: Grid, *, window: int = 20,
                  min_periods: int | None = None) -> np.ndarray:
    k.check_window(window)
    need = k.min_count(window, min_periods)
    close = grid.wide(panel, "close")
    mid2 = grid.wide(panel, "high") * grid.wide(panel, "low")
    c0 = k.shift(close, 1)
    # c - eta = log(close / sqrt(high * low)), taken as a log of a price ratio (scale-free and
    # accurate near zero, where the square root of the mean amplifies rounding)
    with np.errstate(invalid="ignore", divide="ignore"):
        s2 = np.log(c0 * c0 / k.shift(mid2, 1)) * np.log(c0 * c0 / mid2)
    mean = k.rolling_mean(s2, window, need)
    return np.sqrt(np.maximum(mean, 0.0))
