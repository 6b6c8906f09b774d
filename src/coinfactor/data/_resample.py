"""Resampling to a coarser bar and explicit grid regularisation."""

from __future__ import annotations

from datetime import timedelta
from typing import get_args

import numpy as np
import polars as pl

from coinfactor.core.errors import DataError
from coinfactor.core.time import freq_to_timedelta, timedelta_to_freq
from coinfactor.core.typing import PartialBars
from coinfactor.data._checks import symbol_runs
from coinfactor.data._schema import FILLED_COLUMN, PANEL_SCHEMA, infer_freq

COMPLETE_COLUMN = "complete"


def _null_if_all_null(name: str, agg: pl.Expr) -> pl.Expr:
    return pl.when(pl.col(name).is_not_null().any()).then(agg).otherwise(None).alias(name)


def resample(
    panel: pl.DataFrame,
    freq: str,
    *,
    partial: PartialBars = "drop",
    source_freq: str | None = None,
) -> pl.DataFrame:
    """Aggregate a panel to a coarser bar frequency.

    Coarse bars are aligned to the UTC epoch (a ``1d`` bar opens at 00:00 UTC, a ``4h`` bar at
    00:00, 04:00, ...). Within a coarse bar: open first, high max, low min, close last,
    volume / quote volume / trades / funding summed, open interest last. An optional
    column that is null on every fine bar stays null. Funding stays in DESIGN.md's convention:
    the fine bars' windows (ts, ts + f] tile the coarse window (T, T + F].

    Parameters
    ----------
    panel : pl.DataFrame
        Canonical panel.
    freq : str
        Target frequency; a whole multiple of the source frequency.
    partial : {"drop", "mark"}, default "drop"
        A coarse bar with fewer fine bars than it spans (a gap, a listing, the series end) is
        dropped, or kept with ``complete = False``. It is never passed off as complete.
    source_freq : str, optional
        The panel's frequency; inferred when omitted.

    Returns
    -------
    pl.DataFrame
        Canonical panel at ``freq`` (plus a boolean ``complete`` column if ``partial="mark"``).
    """
    src = freq_to_timedelta(source_freq or infer_freq(panel))
    dst = freq_to_timedelta(freq)
    if dst < src or dst % src != timedelta(0):
        raise DataError(
            f"resample: expected a target frequency that is a whole multiple of the source "
            f"({timedelta_to_freq(src)}), got {freq!r}",
            fix="pick a coarser frequency such as '1d' from '1h'",
        )
    if partial not in get_args(PartialBars):
        raise DataError(f"resample: partial must be one of {list(get_args(PartialBars))}, got "
                        f"{partial!r}")
    per_bar = dst // src
    extras = [c for c in panel.columns if c not in PANEL_SCHEMA and c != FILLED_COLUMN]
    if extras:
        panel = panel.drop(extras)
    if panel.height and timedelta(days=1) % dst == timedelta(0) and \
            _zone(panel.get_column("ts")) in (None, "UTC"):  # windows from the epoch, UTC
        out = coarse_compiled(panel, dst, per_bar)
    else:  # weeks (on Mondays) and other widths: polars' windows
        out = coarse_reference(panel, dst, per_bar)
    if partial == "drop":
        out = out.filter(pl.col(COMPLETE_COLUMN)).drop(COMPLETE_COLUMN)
    return out


def coarse_reference(panel: pl.DataFrame, dst: timedelta, per_bar: int) -> pl.DataFrame:
    """Return the coarse bars of ``panel`` by polars' ``group_by_dynamic`` (the reference).

    Columns :data:`PANEL_SCHEMA` and ``complete`` (``per_bar`` real fine bars), sorted by
    (symbol, ts); windows of ``dst`` aligned as ``dt.truncate`` aligns them (the epoch;
    weeks on Mondays). :func:`coarse_compiled` gives the same bars for a width that divides
    the day.
    """
    n_real = (
        (~pl.col(FILLED_COLUMN)).sum() if FILLED_COLUMN in panel.columns else pl.len()
    )
    # the panel is sorted by (symbol, ts): each coarse bar is a run of rows
    return (
        panel.group_by_dynamic("ts", every=timedelta_to_freq(dst), group_by="symbol",
                               closed="left", label="left", start_by="window")
        .agg(
            pl.col("open").first(),
            pl.col("high").max(),
            pl.col("low").min(),
            pl.col("close").last(),
            pl.col("volume").sum(),
            _null_if_all_null("quote_volume", pl.col("quote_volume").sum()),
            _null_if_all_null("trades", pl.col("trades").sum()),
            _null_if_all_null("funding_rate", pl.col("funding_rate").sum()),
            pl.col("open_interest").last(),
            (n_real == per_bar).alias(COMPLETE_COLUMN),
        )
        .select([*PANEL_SCHEMA, COMPLETE_COLUMN])
        .sort("symbol", "ts")
    )


def coarse_compiled(panel: pl.DataFrame, dst: timedelta, per_bar: int) -> pl.DataFrame:
    """Return the coarse bars of a non-empty ``panel`` in one compiled pass (``dst`` | 1 day).

    What :func:`coarse_reference` gives (sums to the last bits: summed left to right), read
    from the columns in place (:mod:`coinfactor.data._resample_kernel`).
    """
    from coinfactor.data._resample_kernel import coarse_bars, count_bars  # numba: on use

    if panel.n_chunks("all") != [1] * panel.width:  # type: ignore[comparison-overlap]
        panel = panel.rechunk()  # by polars' allocator, which keeps its pages for reuse
    symbols, n = panel.get_column("symbol"), panel.height
    run_rows = symbol_runs(symbols)
    starts = np.append(run_rows, np.int64(n))
    ts_col = panel.get_column("ts")
    ts = _array(ts_col.dt.cast_time_unit("us").to_physical(), np.int64)
    width = dst // timedelta(microseconds=1)

    every = np.ones(n, dtype=np.bool_)
    every.flags.writeable = False

    def values(name: str, dtype: type) -> tuple[np.ndarray, np.ndarray]:
        col = panel.get_column(name)
        ok = _array(col.is_not_null(), np.bool_) if col.null_count() else every
        return _array(col.fill_null(0) if col.null_count() else col, dtype), ok

    volume, volume_ok = values("volume", np.float64)
    quote, quote_ok = values("quote_volume", np.float64)
    funding, funding_ok = values("funding_rate", np.float64)
    trades, trades_ok = values("trades", np.int64)
    oi, oi_ok = values("open_interest", np.float64)
    real = (~_array(panel.get_column(FILLED_COLUMN).fill_null(False), np.bool_)
            if FILLED_COLUMN in panel.columns else every)
    m = count_bars(ts, starts, width)
    out_f, out_ok = np.empty((m, 8)), np.empty((m, 4), dtype=np.bool_)
    out_i = np.empty((m, 4), dtype=np.int64)
    coarse_bars(ts, starts, width,
                tuple(_array(panel.get_column(c), np.float64)
                      for c in ("open", "high", "low", "close")),
                (volume, quote, funding), (volume_ok, quote_ok, funding_ok),
                trades, trades_ok, oi, oi_ok, real, out_f, out_ok, out_i)

    def known(values: np.ndarray, ok: np.ndarray, name: str) -> pl.Series:
        return pl.Series(name, values, dtype=PANEL_SCHEMA[name]).scatter(
            np.flatnonzero(~ok), None)

    out = pl.DataFrame({
        "ts": pl.Series("ts", out_i[:, 0]).cast(pl.Datetime("us", _zone(ts_col)))
              .dt.cast_time_unit(ts_col.dtype.time_unit),  # type: ignore[attr-defined]
        "symbol": symbols.gather(run_rows[out_i[:, 1]]),
        "open": out_f[:, 0], "high": out_f[:, 1], "low": out_f[:, 2], "close": out_f[:, 3],
        "volume": out_f[:, 4],
        "quote_volume": known(out_f[:, 5], out_ok[:, 0], "quote_volume"),
        "trades": known(out_i[:, 2], out_ok[:, 2], "trades"),
        "funding_rate": known(out_f[:, 6], out_ok[:, 1], "funding_rate"),
        "open_interest": known(out_f[:, 7], out_ok[:, 3], "open_interest"),
        COMPLETE_COLUMN: out_i[:, 3] == per_bar,
    })
    return out.select([*PANEL_SCHEMA, COMPLETE_COLUMN])


def _zone(ts: pl.Series) -> str | None:
    return ts.dtype.time_zone  # type: ignore[attr-defined, no-any-return]


def _array(series: pl.Series, dtype: type) -> np.ndarray:
    """``series`` read in place where it can be, read-only (one compiled variant)."""
    from coinfactor.core.compiled import frozen

    return frozen(series.to_numpy(), dtype)


def regularize(panel: pl.DataFrame, *, freq: str | None = None) -> pl.DataFrame:
    """Add the missing bars between each symbol's first and last bar, flagged ``filled``.

    A filled bar is flat at the previous close (open = high = low = close), with zero volume,
    quote volume and trades and null funding and open interest. It exists only so that callers
    who need a regular grid get one; :meth:`coinfactor.data.Grid.wide` masks filled bars to NaN by
    default, so they never serve as prices.

    Parameters
    ----------
    panel : pl.DataFrame
        Canonical panel.
    freq : str, optional
        Grid frequency; inferred when omitted.

    Returns
    -------
    pl.DataFrame
        Canonical panel with a boolean ``filled`` column (False on original bars).
    """
    step = freq or infer_freq(panel)
    freq_to_timedelta(step)
    base = panel.drop(FILLED_COLUMN) if FILLED_COLUMN in panel.columns else panel
    grid = (
        base.group_by("symbol")
        .agg(pl.datetime_ranges(pl.col("ts").min(), pl.col("ts").max(), interval=step)
             .first().alias("ts"))
        .explode("ts")
    )
    merged = (
        grid.join(base, on=["symbol", "ts"], how="left")
        .sort("symbol", "ts")
        .with_columns(pl.col("close").is_null().alias(FILLED_COLUMN))
    )
    prev_close = pl.col("close").forward_fill().over("symbol")
    filled = pl.col(FILLED_COLUMN)
    return merged.with_columns(
        *[pl.when(filled).then(prev_close).otherwise(pl.col(c)).alias(c)
          for c in ("open", "high", "low", "close")],
        *[pl.when(filled).then(pl.lit(0, dtype=PANEL_SCHEMA[c])).otherwise(pl.col(c)).alias(c)
          for c in ("volume", "quote_volume", "trades")],
    ).select([*base.columns, FILLED_COLUMN])
