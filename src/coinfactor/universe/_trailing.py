"""Universes from trailing bar data: volume deciles, top-N by notional, listing age.

Every universe returns ``ts, symbol, in_universe`` (Boolean, never null) with one row per
panel row, in the panel's order, so delisted coins stay in history (out of the universe once
they stop trading, in it while they traded). Membership at ``ts`` uses rows with
``ts' <= ts`` only. A coin is a candidate at ``ts`` only if it has a bar at ``ts`` (a filled
bar does not count) and a defined trailing statistic.
"""

from __future__ import annotations

from typing import overload

import numpy as np
import polars as pl

from coinfactor import rolling as k
from coinfactor.core.errors import ConfigError
from coinfactor.core.time import freq_to_timedelta
from coinfactor.data import FILLED_COLUMN, Grid, infer_freq
from coinfactor.signals import avg_notional, notional_expr
from coinfactor.xs import row_bucket_at_least

_STAT = "__trailing_notional__"


def _trading(panel: pl.DataFrame) -> pl.Expr:
    if FILLED_COLUMN in panel.columns:
        return ~pl.col(FILLED_COLUMN).fill_null(False)
    return pl.lit(True)


def _trailing(
    panel: pl.DataFrame, window: int, min_periods: int | None, freq: str | None
) -> pl.DataFrame:
    stat = avg_notional(panel, window=window, min_periods=min_periods, freq=freq)
    trading = panel.select(_trading(panel).alias("__trading__")).get_column("__trading__")
    return stat.with_columns(
        pl.when(trading).then(pl.col("avg_notional")).otherwise(None).alias(_STAT)
    ).drop("avg_notional")


def check_min_decile(min_decile: int) -> int:
    """Validate ``min_decile`` of :func:`volume_decile` (a whole number in ``1..10``)."""
    if isinstance(min_decile, bool) or not isinstance(min_decile, int) or not (
        1 <= min_decile <= 10
    ):
        raise ConfigError(f"volume_decile: expected min_decile in 1..10, got {min_decile!r}")
    return min_decile


def trailing_notional(panel: pl.DataFrame, grid: Grid, window: int,
                      min_periods: int | None) -> np.ndarray:
    """Trailing mean notional on the panel's grid, NaN where the coin has no bar at ts.

    The universes' candidate statistic: defined at a panel row that is not a filled bar and
    has a defined, finite trailing mean (as ``signals.avg_notional``).

    Returns
    -------
    ndarray of float64, shape (n_bars, n_symbols)
        Quote currency per bar.
    """
    need = k.min_count(window, min_periods)
    notional = grid.wide(panel, notional_expr(panel))
    # O(1) per cell (blocked prefix sums); the notional array is ours to clobber
    values = k.blocked_rolling_mean(notional, window, need)
    np.copyto(values, np.nan, where=~(grid.bars & np.isfinite(values)))
    return values


@overload
def volume_decile(panel: pl.DataFrame, window: int = ..., min_decile: int = ..., *,
                  min_periods: int | None = ..., freq: str | None = ...,
                  grid: None = ...) -> pl.DataFrame: ...
@overload
def volume_decile(panel: pl.DataFrame, window: int = ..., min_decile: int = ..., *,
                  min_periods: int | None = ..., freq: str | None = ...,
                  grid: Grid) -> np.ndarray: ...
def volume_decile(
    panel: pl.DataFrame,
    window: int = 30,
    min_decile: int = 9,
    *,
    min_periods: int | None = None,
    freq: str | None = None,
    grid: Grid | None = None,
) -> pl.DataFrame | np.ndarray:
    """Coins in the top notional-volume deciles, point in time (seed 004's universe).

    Per coin, the trailing mean notional over its last ``window`` bars
    (``notional = coalesce(quote_volume, volume * close)``; window rule of
    :mod:`coinfactor.signals`: by default all ``window`` bars must be present, so a new listing
    joins after ``window`` bars). At each ``ts`` the coins trading at ``ts`` with a defined
    trailing mean are ranked into deciles by :func:`coinfactor.xs.buckets`: decile 10 = highest
    volume, ``decile = ceil(10 * r / m)`` with ``r`` the ascending average rank among the ``m``
    candidates. Ties share a decile. With fewer than 10 candidates the deciles spread over
    ``1..10`` with the highest coin always in decile 10 (one candidate: decile 10).
    ``in_universe = decile >= min_decile``.

    Parameters
    ----------
    panel : pl.DataFrame
        Canonical panel.
    window : int, default 30
        Trailing window in bars.
    min_decile : int, default 9
        Lowest decile kept (``1..10``; 9 keeps the top 20%).
    min_periods : int, optional
        Bars required in the window (default ``window``).
    freq : str, optional
        Bar frequency (default: inferred; ignored with ``grid``).
    grid : Grid, optional
        The panel's grid (:meth:`coinfactor.data.Grid.from_panel`). When given, the result
        is the array on the grid instead of a frame (the kernel the frame is melted from).

    Returns
    -------
    pl.DataFrame or ndarray
        ``ts, symbol, in_universe``, one row per panel row; with ``grid``, an ndarray of bool
        of shape ``(n_bars, n_symbols)`` (False where the coin has no bar).
    """
    check_min_decile(min_decile)
    k.check_window(window)
    k.min_count(window, min_periods)
    g = Grid.from_panel(panel, freq) if grid is None else grid
    member = row_bucket_at_least(trailing_notional(panel, g, window, min_periods), 10,
                                 min_decile)
    if grid is not None:
        return member
    flat = member.reshape(-1)[g.cells] if panel.height else np.empty(0, bool)
    return panel.select("ts", "symbol", pl.Series("in_universe", flat, dtype=pl.Boolean))


def top_n(
    panel: pl.DataFrame,
    n: int,
    window: int = 30,
    *,
    min_periods: int | None = None,
    freq: str | None = None,
) -> pl.DataFrame:
    """Select the ``n`` coins with the highest trailing mean notional at each ``ts``.

    Trailing mean notional as in :func:`volume_decile`. Candidates are ranked by it
    descending; ties are broken by symbol ascending (deterministic), so exactly
    ``min(n, candidates)`` coins are in the universe at each ``ts``.

    Parameters
    ----------
    panel : pl.DataFrame
        Canonical panel.
    n : int
        Universe size, ``>= 1``.
    window : int, default 30
        Trailing window in bars.
    min_periods : int, optional
        Bars required in the window (default ``window``).
    freq : str, optional
        Bar frequency (default: inferred).

    Returns
    -------
    pl.DataFrame
        ``ts, symbol, in_universe``, one row per panel row.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError(f"top_n: expected n >= 1 coins, got {n!r}")
    k.check_window(window)
    trailing = _trailing(panel, window, min_periods, freq).with_row_index("__row__")
    ranked = (
        trailing.drop_nulls(_STAT)
        .sort(["ts", _STAT, "symbol"], descending=[False, True, False])
        .with_columns(pl.int_range(pl.len()).over("ts").alias("__rank__"))
        .select("__row__", (pl.col("__rank__") < n).alias("in_universe"))
    )
    return (
        trailing.join(ranked, on="__row__", how="left", maintain_order="left")
        .select("ts", "symbol", pl.col("in_universe").fill_null(False))
    )


def min_listing_age(panel: pl.DataFrame, bars: int, *, freq: str | None = None) -> pl.DataFrame:
    """Coins listed for at least ``bars`` bars.

    A coin's age at ``ts`` is ``(ts - first_ts) / freq`` with ``first_ts`` its first bar in the
    panel (its first bar has age 0; gaps do not reset it). ``in_universe = age >= bars`` and the
    coin trades at ``ts``. A coin already listed before the panel starts counts from the
    panel's first bar.

    Parameters
    ----------
    panel : pl.DataFrame
        Canonical panel.
    bars : int
        Minimum age in bars, ``>= 0``.
    freq : str, optional
        Bar frequency (default: inferred).

    Returns
    -------
    pl.DataFrame
        ``ts, symbol, in_universe``, one row per panel row.
    """
    if isinstance(bars, bool) or not isinstance(bars, int) or bars < 0:
        raise ConfigError(f"min_listing_age: expected bars >= 0, got {bars!r}")
    step = freq_to_timedelta(freq if freq is not None else infer_freq(panel))
    first = pl.col("ts").min().over("symbol")
    age_ok = (pl.col("ts") - first) >= step * bars
    return panel.select("ts", "symbol", (age_ok & _trading(panel)).alias("in_universe"))
