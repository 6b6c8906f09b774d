"""Resampling to a coarser bar and explicit grid regularisation."""

from __future__ import annotations

from datetime import timedelta
from typing import get_args

import polars as pl

from coinfactor.core.errors import DataError
from coinfactor.core.time import freq_to_timedelta, timedelta_to_freq
from coinfactor.core.typing import PartialBars
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
    n_real = (
        (~pl.col(FILLED_COLUMN)).sum() if FILLED_COLUMN in panel.columns else pl.len()
    )
    extras = [c for c in panel.columns if c not in PANEL_SCHEMA and c != FILLED_COLUMN]
    if extras:
        panel = panel.drop(extras)
    # the panel is sorted by (symbol, ts): each coarse bar is a run of rows, windows of
    # ``freq`` aligned as dt.truncate aligns them (the epoch; weeks on Mondays)
    out = (
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
    if partial == "drop":
        out = out.filter(pl.col(COMPLETE_COLUMN)).drop(COMPLETE_COLUMN)
    return out


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
