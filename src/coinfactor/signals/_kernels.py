"""Shared machinery of the signals: a regular time grid, wide arrays and rolling window sums.

Window rule (every rolling signal): a window of ``w`` bars at ``ts`` covers the ``w`` bars of
the regular grid ``ts - (w - 1) * freq, ..., ts``; missing bars (gaps, bars before listing,
filled bars, null inputs) are missing values. The statistic is computed from the values
present and is defined only when at least ``min_periods`` of them are present
(``min_periods=None`` means ``w``: every bar of the window must be there).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import polars as pl

from coinfactor.core.errors import ConfigError, DataError
from coinfactor.core.time import freq_to_timedelta, periods_per_year
from coinfactor.data import Wide, from_wide, infer_freq, to_wide
from coinfactor.data._schema import TS_DTYPE


def resolve_freq(panel: pl.DataFrame, freq: str | None) -> str:
    """Return ``freq`` or the panel's inferred bar frequency."""
    return infer_freq(panel) if freq is None else freq


def grid(panel: pl.DataFrame, freq: str) -> pl.Series:
    """Regular time axis from the panel's first to last bar at ``freq``.

    Raises
    ------
    DataError
        If a bar time is not on the grid anchored at the first bar (mixed bar offsets).
    """
    step = freq_to_timedelta(freq)
    ts = panel.get_column("ts")
    if ts.len() == 0:
        return pl.Series("ts", [], dtype=TS_DTYPE)
    first, last = ts.min(), ts.max()
    assert isinstance(first, datetime) and isinstance(last, datetime)
    axis = pl.Series(
        "ts", pl.datetime_range(first, last, interval=step, eager=True, time_zone="UTC")
    ).cast(TS_DTYPE)
    step_us = step // timedelta(microseconds=1)
    off = panel.select(
        ((pl.col("ts") - pl.lit(first)).dt.total_microseconds() % step_us).alias("off")
    ).get_column("off")
    if (off != 0).any():
        raise DataError(
            f"expected every bar on one {freq} grid anchored at {first}, found bars off it",
            column="ts",
            fix="resample the panel (coinfactor.data.resample) or pass the right freq=",
        )
    return axis


def wide(panel: pl.DataFrame, column: str | pl.Expr, axis: pl.Series) -> Wide:
    """Pivot a column or expression of the panel onto ``axis`` x sorted symbols (NaN missing)."""
    if isinstance(column, pl.Expr):
        frame = panel.with_columns(column.alias("__value__"))
        return to_wide(frame, "__value__", ts=axis)
    return to_wide(panel, column, ts=axis)


def check_window(window: int, name: str = "window") -> int:
    """Validate a window length in bars."""
    if isinstance(window, bool) or not isinstance(window, int) or window < 1:
        raise ConfigError(f"expected {name} to be a whole number of bars >= 1, got {window!r}")
    return window


def min_count(window: int, min_periods: int | None) -> int:
    """Resolve ``min_periods`` (None -> ``window``) and check ``1 <= min_periods <= window``."""
    if min_periods is None:
        return window
    if isinstance(min_periods, bool) or not isinstance(min_periods, int) or not (
        1 <= min_periods <= window
    ):
        raise ConfigError(
            f"expected min_periods in 1..window={window} (or None for a full window), "
            f"got {min_periods!r}"
        )
    return min_periods


def shift(x: np.ndarray, k: int) -> np.ndarray:
    """Shift rows down by ``k >= 0`` (``out[t] = x[t - k]``), NaN-filled; up when ``k < 0``."""
    out = np.full_like(x, np.nan)
    if k == 0:
        out[:] = x
    elif k > 0 and k < x.shape[0]:
        out[k:] = x[:-k]
    elif k < 0 and -k < x.shape[0]:
        out[:k] = x[-k:]
    return out


def rolling_sum(x: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Trailing window sums and counts of the finite values of ``x`` along axis 0.

    Computed from prefix sums, so the value at row ``t`` depends on rows ``<= t`` only (and is
    bit-identical on a truncated array).

    Parameters
    ----------
    x : ndarray of shape (n_bars, n_symbols)
        Values, NaN missing.
    window : int
        Window length in rows.

    Returns
    -------
    sums, counts : ndarray of shape (n_bars, n_symbols)
        Sum of the finite values in rows ``t - window + 1 .. t`` and how many there are.
    """
    ok = np.isfinite(x)
    cs = np.cumsum(np.where(ok, x, 0.0), axis=0)
    cc = np.cumsum(ok, axis=0, dtype=np.int64)
    sums = cs.copy()
    counts = cc.copy()
    if window < x.shape[0]:
        sums[window:] -= cs[:-window]
        counts[window:] -= cc[:-window]
    return sums, counts


def rolling_mean(x: np.ndarray, window: int, min_periods: int) -> np.ndarray:
    """Trailing mean of the finite values, NaN where fewer than ``min_periods`` are present."""
    sums, counts = rolling_sum(x, window)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = sums / counts
    return np.where(counts >= min_periods, out, np.nan)


def log_returns(close: np.ndarray) -> np.ndarray:
    """``log(close[t] / close[t-1])`` on the grid; NaN when either bar is missing."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.log(close / shift(close, 1))


def simple_returns(close: np.ndarray) -> np.ndarray:
    """``close[t] / close[t-1] - 1`` on the grid; NaN when either bar is missing."""
    return close / shift(close, 1) - 1.0


def annualisation(freq: str) -> float:
    """Periods per year of the bar frequency (the one annualisation function)."""
    return periods_per_year(freq)


def to_long(panel: pl.DataFrame, values: np.ndarray, w: Wide, name: str) -> pl.DataFrame:
    """Return ``ts, symbol, <name>`` with exactly the panel's rows, in the panel's order.

    Cells that are NaN or infinite come out as null; grid cells the panel lacks are dropped.
    """
    vals = np.where(np.isfinite(values), values, np.nan)
    long = from_wide(vals, w.ts, w.symbols, name, drop_missing=False)
    keys = panel.select("ts", "symbol")
    return keys.join(long, on=["ts", "symbol"], how="left", maintain_order="left")
