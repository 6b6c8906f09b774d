"""Liquidity signals: average notional and mean trade count."""

from __future__ import annotations

from typing import get_args

import numpy as np
import polars as pl

from coinfactor import rolling as k
from coinfactor.core.errors import ConfigError, DataError
from coinfactor.core.typing import LiquidityMeasure
from coinfactor.data import Grid
from coinfactor.signals._registry import register, register_array


def notional_expr(panel: pl.DataFrame) -> pl.Expr:
    """Quote notional of a bar: ``coalesce(quote_volume, volume * close)``.

    Venues without a quote volume (Hyperliquid) get base volume times close, an approximation
    of the traded notional (exact for a bar traded at one price).
    """
    approx = pl.col("volume") * pl.col("close")
    if "quote_volume" in panel.columns:
        return pl.coalesce(pl.col("quote_volume"), approx)
    return approx


@register
def avg_notional(
    panel: pl.DataFrame,
    *,
    window: int = 30,
    min_periods: int | None = None,
    freq: str | None = None,
) -> pl.DataFrame:
    """Trailing mean traded notional per bar.

    ``avg_notional(t) = mean_j notional(j)`` over the bars of the window, with
    ``notional = coalesce(quote_volume, volume * close)`` (Hyperliquid has no quote volume).
    Window rule: see :mod:`coinfactor.signals`.

    Parameters
    ----------
    panel : pl.DataFrame
        Canonical panel.
    window : int, default 30
        Window in bars.
    min_periods : int, optional
        Bars required in the window (default ``window``).
    freq : str, optional
        Bar frequency (default: inferred).

    Returns
    -------
    pl.DataFrame
        ``ts, symbol, avg_notional`` (quote currency, usually USD, per bar).
    """
    grid = Grid.from_panel(panel, freq)
    return grid.long({"avg_notional": _avg_notional(panel, grid, window=window,
                                                    min_periods=min_periods)})


@register_array("avg_notional")
def _avg_notional(panel: pl.DataFrame, grid: Grid, *, window: int = 30,
                  min_periods: int | None = None) -> np.ndarray:
    k.check_window(window)
    need = k.min_count(window, min_periods)
    return k.rolling_mean(grid.wide(panel, notional_expr(panel)), window, need, overwrite=True)


@register
def liquidity(
    panel: pl.DataFrame,
    *,
    measure: LiquidityMeasure = "trades",
    window: int = 30,
    min_periods: int | None = None,
    freq: str | None = None,
) -> pl.DataFrame:
    """Trailing mean trade count (seed 000) or notional per bar.

    ``liquidity(t) = mean_j trades(j)`` (``measure="trades"``) or the mean of
    ``coalesce(quote_volume, volume * close)`` (``measure="notional"``) over the bars of the
    window. Window rule: see :mod:`coinfactor.signals`.

    Parameters
    ----------
    panel : pl.DataFrame
        Canonical panel.
    measure : {"trades", "notional"}, default "trades"
        What to average.
    window : int, default 30
        Window in bars.
    min_periods : int, optional
        Bars required in the window (default ``window``).
    freq : str, optional
        Bar frequency (default: inferred).

    Returns
    -------
    pl.DataFrame
        ``ts, symbol, liquidity`` (trades per bar, or quote currency per bar).

    Raises
    ------
    DataError
        If ``measure="trades"`` and the panel has no trade counts (e.g. Hyperliquid).
    """
    grid = Grid.from_panel(panel, freq)
    return grid.long({"liquidity": _liquidity(panel, grid, measure=measure, window=window,
                                              min_periods=min_periods)})


@register_array("liquidity")
def _liquidity(panel: pl.DataFrame, grid: Grid, *, measure: LiquidityMeasure = "trades",
               window: int = 30, min_periods: int | None = None) -> np.ndarray:
    if measure not in get_args(LiquidityMeasure):
        raise ConfigError(f"liquidity: expected measure in {list(get_args(LiquidityMeasure))}, "
                          f"got {measure!r}")
    k.check_window(window)
    need = k.min_count(window, min_periods)
    if measure == "trades" and (
        "trades" not in panel.columns or panel.get_column("trades").null_count() == panel.height
    ):
        raise DataError(
            "liquidity: measure='trades' expected trade counts in column 'trades', "
            "but the panel has none",
            column="trades",
            fix="use measure='notional' (Hyperliquid data has no trade counts)",
        )
    source = grid.wide(panel, "trades" if measure == "trades" else notional_expr(panel))
    return k.rolling_mean(source, window, need)
