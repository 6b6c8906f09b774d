"""Funding carry: the annualised funding a long position receives."""

from __future__ import annotations

import math

import numpy as np
import polars as pl

from coinfactor import rolling as k
from coinfactor.core.errors import DataError
from coinfactor.core.time import bars_per_day, periods_per_year
from coinfactor.data import Grid
from coinfactor.signals._registry import register, register_array


@register
def funding_carry(
    panel: pl.DataFrame,
    *,
    window: int | None = None,
    min_periods: int | None = None,
    freq: str | None = None,
) -> pl.DataFrame:
    """Annualised funding carry of a long position; positive when a long RECEIVES funding.

    The panel's ``funding_rate`` is the sum of the funding settled over a bar, with
    ``r > 0`` meaning longs pay. Normalised to a rate per hour (divided by the bar length in
    hours, so venues with 1h, 4h or 8h settlement intervals compare) and annualised over a
    365-day year, then signed for the long side::

        carry(t) = -mean_{j < window} funding_rate(t - j) / hours_per_bar * 8760
                 = -mean_{j < window} funding_rate(t - j) * periods_per_year(freq)

    A bar inside the funding coverage with no settlement has ``funding_rate = 0`` and counts;
    a null ``funding_rate`` (no funding data) is missing. Window rule: see
    :mod:`coinfactor.signals`. (Seed 004 used ``+funding_rate`` and so had the sign inverted.)

    Parameters
    ----------
    panel : pl.DataFrame
        Canonical panel with ``funding_rate``.
    window : int, optional
        Trailing window in bars. Default: the bars in one day (24 on 1h, 6 on 4h, 1 on 1d), so
        every 8h settlement cycle is averaged whole.
    min_periods : int, optional
        Funding values required in the window (default ``window``).
    freq : str, optional
        Bar frequency (default: inferred).

    Returns
    -------
    pl.DataFrame
        ``ts, symbol, funding_carry`` (annualised fraction, 0.10 = 10% a year received by a
        long), one row per panel row.
    """
    grid = Grid.from_panel(panel, freq)
    return grid.long({"funding_carry": _funding_carry(panel, grid, window=window,
                                                      min_periods=min_periods)})


@register_array("funding_carry")
def _funding_carry(panel: pl.DataFrame, grid: Grid, *, window: int | None = None,
                   min_periods: int | None = None) -> np.ndarray:
    if "funding_rate" not in panel.columns:
        raise DataError(
            f"funding_carry: expected a 'funding_rate' column in the panel, got {panel.columns}",
            column="funding_rate",
            fix="attach funding with coinfactor.data.attach_funding (perpetuals only)",
        )
    f = grid.freq
    w = max(1, math.ceil(bars_per_day(f))) if window is None else k.check_window(window)
    return carry_from_rate(grid.wide(panel, "funding_rate"), f, w, k.min_count(w, min_periods))


def carry_from_rate(rate: np.ndarray, freq: str, window: int,
                    min_periods: int | None = None) -> np.ndarray:
    """:func:`funding_carry` from a wide funding-rate array (the array kernel).

    Parameters
    ----------
    rate : ndarray of shape (n_bars, n_symbols)
        Funding rate per bar on the panel's grid (fraction, r > 0: longs pay), NaN missing
        (``Grid.from_panel(panel).wide(panel, "funding_rate")``).
    freq : str
        Bar frequency.
    window : int
        Bars averaged.
    min_periods : int, optional
        Bars required in the window (default ``window``).

    Returns
    -------
    ndarray of shape (n_bars, n_symbols)
        Annualised carry of a long: ``-mean(rate) * periods_per_year(freq)``, NaN where
        undefined.
    """
    window = k.check_window(window)
    values = k.rolling_mean(rate, window, k.min_count(window, min_periods))  # a new array
    np.negative(values, out=values)
    values *= periods_per_year(freq)
    np.copyto(values, 0.0, where=values == 0.0)  # no negative zero
    return values
