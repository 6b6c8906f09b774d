"""Rolling performance statistics and funding summaries, computed for figures and reports."""

from __future__ import annotations

import math

import polars as pl

from coinfactor.core.errors import DataError
from coinfactor.core.metrics import resolve_periods_per_year
from coinfactor.core.time import periods_per_year as _periods_per_year
from coinfactor.data import infer_freq

__all__ = ["annualized_funding", "rolling_correlation", "rolling_stats"]


def _require(frame: pl.DataFrame, columns: list[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(
            f"{what} lacks column(s) {missing}; got {frame.columns}",
            fix=f"pass a frame with columns {columns}",
        )


def rolling_stats(
    nav: pl.DataFrame,
    *,
    window: int,
    freq: str | None = None,
    periods_per_year: float | None = None,
    column: str = "ret",
) -> pl.DataFrame:
    """Trailing annualised volatility and Sharpe ratio of a return column.

    Parameters
    ----------
    nav : pl.DataFrame
        Frame with ``ts`` and the return column, one row per bar, sorted by ``ts``.
    window : int
        Bars per window (>= 2). A window with a NaN/null return is null.
    freq : str, optional
        Bar frequency (``"1d"``), annualised with :func:`coinfactor.core.time.periods_per_year`;
        inferred from ``ts`` when omitted.
    periods_per_year : float, optional
        Bars per year, overriding ``freq``.
    column : str
        Return column.

    Returns
    -------
    pl.DataFrame
        ``ts, rolling_vol, rolling_sharpe``: at ``ts`` the statistics of the ``window`` bars
        ending at ``ts`` (sample std, ddof=1; Sharpe = mean / std * sqrt(periods_per_year));
        null for the first ``window - 1`` bars. Point in time: uses rows with ts' <= ts only.
    """
    _require(nav, ["ts", column], "nav frame")
    if window < 2:
        raise DataError(f"window must be >= 2 bars, got {window}", fix="e.g. window=30")
    if freq is None and periods_per_year is None:
        freq = infer_freq(nav.select("ts").with_columns(symbol=pl.lit("nav")))
    scale = math.sqrt(resolve_periods_per_year(freq, periods_per_year))
    r = pl.col(column).cast(pl.Float64).fill_nan(None)
    sd = r.rolling_std(window_size=window, min_samples=window)
    mean = r.rolling_mean(window_size=window, min_samples=window)
    return nav.sort("ts").select(
        "ts",
        (sd * scale).alias("rolling_vol"),
        pl.when(sd > 0).then(mean / sd * scale).alias("rolling_sharpe"),
    )


def rolling_correlation(
    frame: pl.DataFrame, x: str, y: str, *, window: int
) -> pl.DataFrame:
    """Trailing Pearson correlation of two return columns.

    Parameters
    ----------
    frame : pl.DataFrame
        ``ts`` plus columns ``x`` and ``y``, one row per bar.
    x, y : str
        Column names.
    window : int
        Bars per window (>= 3); a window with a missing value is null.

    Returns
    -------
    pl.DataFrame
        ``ts, corr``; point in time (uses rows with ts' <= ts).
    """
    _require(frame, ["ts", x, y], "frame")
    if window < 3:
        raise DataError(f"window must be >= 3 bars, got {window}", fix="e.g. window=168")
    a = pl.col(x).cast(pl.Float64).fill_nan(None)
    b = pl.col(y).cast(pl.Float64).fill_nan(None)
    both = a.is_not_null() & b.is_not_null()
    n = both.cast(pl.Int64).rolling_sum(window_size=window)
    corr = pl.rolling_corr(a, b, window_size=window, min_samples=window)
    return frame.sort("ts").select("ts", pl.when(n == window).then(corr).alias("corr"))


def annualized_funding(panel: pl.DataFrame, *, freq: str | None = None) -> pl.DataFrame:
    """Mean funding rate per symbol, annualised (the seed's "annualised funding" bar chart).

    Parameters
    ----------
    panel : pl.DataFrame
        Canonical panel (``ts, symbol, funding_rate``); null funding bars are left out.
    freq : str, optional
        Bar frequency; inferred from the panel if omitted.

    Returns
    -------
    pl.DataFrame
        ``symbol, funding_annual`` (a fraction per year; > 0 means longs pay), sorted by
        ``funding_annual`` descending then ``symbol`` ascending (deterministic ties).
    """
    _require(panel, ["ts", "symbol", "funding_rate"], "panel")
    ppy = _periods_per_year(freq or infer_freq(panel))
    return (
        panel.group_by("symbol")
        .agg((pl.col("funding_rate").mean() * ppy).alias("funding_annual"))
        .drop_nulls("funding_annual")
        .sort(["funding_annual", "symbol"], descending=[True, False])
    )
