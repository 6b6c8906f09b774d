"""Funding events -> the bar ``funding_rate`` (DESIGN.md funding convention).

An event at time tau with rate r belongs to the bar with ``ts < tau <= ts + freq``; the bar's
``funding_rate`` is the sum of its events. Venue timestamps carry millisecond jitter
(``08:00:00.105`` for the 08:00 settlement), so event times are floored to ``jitter`` (default
one second) before they are placed. Intervals may change over time (8h -> 1h); nothing here
assumes a fixed interval.
"""

from __future__ import annotations

from datetime import timedelta

import polars as pl

from coinfactor.core.errors import DataError
from coinfactor.core.time import freq_to_timedelta, timedelta_to_freq
from coinfactor.data._schema import TS_DTYPE

FUNDING_EVENT_SCHEMA: dict[str, pl.DataType] = {
    "symbol": pl.String(),
    "ts": TS_DTYPE,
    "funding_rate": pl.Float64(),
}
"""One row per settled funding event: symbol, settlement time, rate per event (fraction)."""


def validate_funding_events(events: pl.DataFrame) -> pl.DataFrame:
    """Check and coerce a funding-event frame (``symbol, ts, funding_rate``).

    Raises
    ------
    DataError
        On missing columns, null or NaN rates, or naive times.
    """
    missing = [c for c in FUNDING_EVENT_SCHEMA if c not in events.columns]
    if missing:
        raise DataError(
            f"funding events: missing column(s) {missing}; expected {list(FUNDING_EVENT_SCHEMA)},"
            f" got {events.columns}",
            fix="rename the time column to 'ts' and the rate column to 'funding_rate'",
        )
    ts_dtype = events.schema["ts"]
    if ts_dtype.is_integer():
        events = events.with_columns(
            pl.from_epoch("ts", time_unit="ms").dt.replace_time_zone("UTC").alias("ts")
        )
    elif isinstance(ts_dtype, pl.Datetime) and ts_dtype.time_zone is None:
        raise DataError(
            "funding events: expected tz-aware UTC times in 'ts', got naive datetimes",
            column="ts",
            fix="pl.col('ts').dt.replace_time_zone('UTC') if they are UTC",
        )
    out = events.select(
        pl.col("symbol").cast(pl.String),
        pl.col("ts").dt.convert_time_zone("UTC").dt.cast_time_unit("us"),
        pl.col("funding_rate").cast(pl.Float64),
    )
    bad = out.filter(pl.col("funding_rate").is_null() | pl.col("funding_rate").is_nan())
    if bad.height:
        raise DataError(
            f"funding events: expected a rate on every event, found {bad.height} null/NaN",
            column="funding_rate",
            rows=bad.head(5),
            fix="drop events without a rate",
        )
    return out.sort("symbol", "ts")


def funding_to_bars(
    events: pl.DataFrame, freq: str, *, jitter: str | timedelta = "1s"
) -> pl.DataFrame:
    """Sum funding events into the bars they settle in.

    Parameters
    ----------
    events : pl.DataFrame
        ``symbol, ts, funding_rate`` with one row per event (rate per event, a fraction).
    freq : str
        Bar frequency.
    jitter : str or timedelta, default "1s"
        Event times are floored to this before placement, removing settlement jitter.

    Returns
    -------
    pl.DataFrame
        ``symbol, ts, funding_rate, funding_events`` with ``ts`` the open of the bar
        ``(ts, ts + freq]`` holding the events, sorted by (symbol, ts). Bars without events
        are absent.

    Examples
    --------
    An event stamped 08:00:00.105 settles at 08:00, so on 1h bars it belongs to the bar that
    opens at 07:00 (it covers (07:00, 08:00]).
    """
    step = freq_to_timedelta(freq)
    floor = timedelta_to_freq(freq_to_timedelta(jitter))
    ev = validate_funding_events(events)
    one_us = timedelta(microseconds=1)
    return (
        ev.with_columns(
            (pl.col("ts").dt.truncate(floor) - one_us)
            .dt.truncate(timedelta_to_freq(step))
            .alias("ts")
        )
        .group_by("symbol", "ts", maintain_order=True)
        .agg(pl.col("funding_rate").sum(), pl.len().cast(pl.Int64).alias("funding_events"))
        .sort("symbol", "ts")
    )


def attach_funding(
    panel: pl.DataFrame, events: pl.DataFrame, freq: str, *, jitter: str | timedelta = "1s"
) -> pl.DataFrame:
    """Set a panel's ``funding_rate`` from funding events.

    Within each symbol's funding coverage (from the bar holding its first event to the bar
    holding its last) a bar without an event gets 0 (no settlement in that bar, e.g. the
    hours between 8h settlements); outside the coverage it gets null (unknown).

    Parameters
    ----------
    panel : pl.DataFrame
        Canonical panel at ``freq``.
    events : pl.DataFrame
        Funding events (``symbol, ts, funding_rate``).
    freq : str
        The panel's bar frequency.
    jitter : str or timedelta, default "1s"
        See :func:`funding_to_bars`.

    Returns
    -------
    pl.DataFrame
        The panel with ``funding_rate`` replaced; rows and order unchanged.
    """
    bars = funding_to_bars(events, freq, jitter=jitter)
    coverage = bars.group_by("symbol").agg(
        pl.col("ts").min().alias("_first"), pl.col("ts").max().alias("_last")
    )
    return (
        panel.drop("funding_rate")
        .join(bars.select("symbol", "ts", "funding_rate"), on=["symbol", "ts"], how="left")
        .join(coverage, on="symbol", how="left")
        .with_columns(
            pl.when(pl.col("funding_rate").is_not_null())
            .then(pl.col("funding_rate"))
            .when((pl.col("ts") >= pl.col("_first")) & (pl.col("ts") <= pl.col("_last")))
            .then(0.0)
            .otherwise(None)
            .alias("funding_rate")
        )
        .select(panel.columns)
    )
