"""Funding events -> the bar ``funding_rate`` (DESIGN.md funding convention).

A funding event settles at a point of its symbol's settlement schedule; venues stamp it a
little late (milliseconds on Binance, up to ~24 minutes on Hyperliquid).
:func:`snap_funding_events` places each event at its settlement time (the rule is in its
docstring), and an event settling at ``tau`` belongs to the bar with ``ts < tau <= ts + freq``;
the bar's ``funding_rate`` is the sum of its events. Schedules differ by venue and symbol and
change over time (Binance 8h -> 4h, 1h/2h/4h/8h symbols; Hyperliquid 8h, then hourly since
2023-06-08): nothing here assumes one.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TypeVar

import numpy as np
import polars as pl

from coinfactor.core.errors import DataError
from coinfactor.core.time import freq_to_timedelta, timedelta_to_freq
from coinfactor.data._schema import TS_DTYPE

FrameT = TypeVar("FrameT", pl.DataFrame, pl.LazyFrame)

FUNDING_EVENT_SCHEMA: dict[str, pl.DataType] = {
    "symbol": pl.String(),
    "ts": TS_DTYPE,
    "funding_rate": pl.Float64(),
}
"""One row per settled funding event: symbol, settlement time, rate per event (fraction)."""

_HOUR_US = 3_600_000_000
_DAY_HOURS = 24
_DAY_DIVISORS = (1, 2, 3, 4, 6, 8, 12, 24)
"""Settlement intervals in hours: the whole-hour divisors of a day (a schedule anchored at UTC
midnight repeats every day only if its interval divides 24 hours)."""
_GRID = np.gcd.outer(np.gcd(_DAY_HOURS, np.arange(_DAY_HOURS)), np.arange(_DAY_HOURS))
"""``_GRID[a, b] = gcd(24, a, b)``: the coarsest midnight-anchored grid holding hours a, b."""
_CAPPED = np.array([[max(d for d in _DAY_DIVISORS if g % d == 0 and d <= max(c, 1))
                     for c in range(_DAY_HOURS + 1)] for g in range(_DAY_HOURS + 1)])
"""``_CAPPED[g, c]``: the largest divisor of ``g`` not above ``max(c, 1)`` (c up to 24)."""


def validate_funding_events(events: pl.DataFrame) -> pl.DataFrame:
    """Check and coerce a funding-event frame (``symbol, ts, funding_rate``).

    Raises
    ------
    DataError
        On missing columns, null, NaN or infinite rates, or naive times.
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
    bad = out.filter(pl.col("funding_rate").is_null() | ~pl.col("funding_rate").is_finite())
    if bad.height:
        raise DataError(
            f"funding events: expected a rate on every event, found {bad.height} "
            "null, NaN or infinite",
            column="funding_rate",
            rows=bad.head(5),
            fix="drop events without a usable rate (an infinite rate is a broken feed)",
        )
    return out.sort("symbol", "ts")


def _local_interval_hours(t: np.ndarray, run: np.ndarray) -> np.ndarray:
    """Settlement interval (whole hours) of each event; see :func:`snap_funding_events`.

    ``t`` holds the stamps in microseconds since the epoch and ``run`` the symbol of each
    event as a run id, both of shape ``(n_events,)`` and sorted by (symbol, stamp).
    """
    n = t.size
    interval = np.ones(n, dtype=np.int64)
    if n < 3:
        return interval
    inner = np.flatnonzero((run[1:-1] == run[:-2]) & (run[1:-1] == run[2:])) + 1
    if inner.size == 0:
        return interval
    hour_of_day = (t + _HOUR_US // 2) // _HOUR_US % _DAY_HOURS
    grid = _GRID[hour_of_day[inner - 1], hour_of_day[inner + 1]]
    spacing = np.minimum(t[inner] - t[inner - 1], t[inner + 1] - t[inner])
    cap = np.clip((spacing + _HOUR_US // 2) // _HOUR_US, 1, _DAY_HOURS)
    interval[inner] = _CAPPED[grid, cap]
    return interval


def snap_funding_events(
    events: pl.DataFrame, *, tolerance: str | timedelta | None = None
) -> pl.DataFrame:
    """Place each funding event at its settlement time on its symbol's schedule.

    Settlement schedules are whole UTC hours spaced by an interval that divides a day (1, 2,
    3, 4, 6, 8, 12 or 24 hours) and counted from UTC midnight. The interval is learnt per
    symbol and per event from the event's neighbours, never from its own (jittered) stamp:

    1. each stamp's *hour* is the stamp rounded to the nearest whole UTC hour;
    2. an event with a previous and a next event of its symbol sits on the coarsest
       midnight-anchored grid holding both neighbours' hours, ``gcd(24, h_prev, h_next)``
       hours (``h`` = hour of day), lowered to the largest divisor of that not above its
       spacing to the nearer neighbour rounded to whole hours (at least 1h): a schedule
       cannot be coarser than its events are apart;
    3. the first and the last event of a symbol (one neighbour only) get a 1h interval;
    4. the event settles at the multiple of its interval (from UTC midnight) nearest to its
       stamp, the later one on a tie. So every event moves by at most half its interval.

    Examples of the interval: 8h neighbours at 00:00 and 16:00 give 8h, so a stamp of 08:40
    settles at 08:00; an hourly schedule gives 1h; a change of schedule (8h -> 4h, 1h -> 4h
    with a 3h step at 17:00 -> 20:00, a missing hourly event) gives the finer grid, because
    the neighbours' hours share only its factor.

    Limits: a symbol's first and last event land on their nearest hour, even if stamped half
    an hour or more late; an event off the grid of its neighbours (e.g. an hourly settlement
    with several settlements missing on either side) moves onto that grid. Pass
    ``tolerance`` to reject such moves. On the raw Binance and Hyperliquid files every event
    settles at its nearest hour and no two share a settlement.

    Parameters
    ----------
    events : pl.DataFrame
        ``symbol, ts, funding_rate`` with one row per event (``ts`` the venue's stamp,
        ``Datetime`` UTC or epoch ms; rate per event, a fraction), ``n_events`` rows.
    tolerance : str or timedelta, optional
        Largest accepted distance between a stamp and its settlement time, e.g. ``"1s"``
        for a venue known to stamp within milliseconds. Default: half the interval (every
        event is placed).

    Returns
    -------
    pl.DataFrame
        ``symbol, ts, funding_rate, stamp, interval``, ``n_events`` rows sorted by (symbol,
        ts): ``ts`` is the settlement time, ``stamp`` the venue's time and ``interval`` (a
        ``Duration``) the learnt settlement interval.

    Raises
    ------
    DataError
        When two events of a symbol settle at the same time (duplicates, or stamps closer
        together than a whole hour, which this rule does not support), or when a stamp is
        farther than ``tolerance`` from its settlement time.

    Examples
    --------
    >>> from datetime import UTC, datetime
    >>> ev = pl.DataFrame({"symbol": "BTC", "funding_rate": [1e-5, 2e-5, 3e-5],
    ...                    "ts": [datetime(2025, 7, 19, h, m, tzinfo=UTC)
    ...                           for h, m in ((9, 0), (10, 14), (11, 0))]})
    >>> snap_funding_events(ev)["ts"].dt.strftime("%H:%M").to_list()
    ['09:00', '10:00', '11:00']
    """
    ev = validate_funding_events(events)
    t = ev["ts"].dt.epoch("us").to_numpy()
    run = ev["symbol"].rle_id().to_numpy()
    interval = _local_interval_hours(t, run) * _HOUR_US
    settle = (t + interval // 2) // interval * interval
    order = np.lexsort((settle, run))  # the identity unless a schedule reorders events
    same = (run[order][1:] == run[order][:-1]) & (settle[order][1:] == settle[order][:-1])
    out = ev.select(
        "symbol",
        pl.Series("ts", settle).cast(pl.Datetime("us")).dt.replace_time_zone("UTC"),
        "funding_rate",
        pl.col("ts").alias("stamp"),
        pl.Series("interval", interval).cast(pl.Duration("us")),
    )[order]
    if tolerance is not None:
        limit = freq_to_timedelta(tolerance)
        far = out.filter((pl.col("ts") - pl.col("stamp")).abs() > limit)
        if far.height:
            raise DataError(
                f"funding events: expected every stamp within {timedelta_to_freq(limit)} of "
                f"its settlement time, found {far.height} farther",
                column="ts",
                rows=far.head(5),
                fix="pass a larger tolerance if the venue stamps this late, or drop the events",
            )
    if same.any():
        clash = np.flatnonzero(np.r_[same, False] | np.r_[False, same])
        raise DataError(
            f"funding events: expected one event per settlement time, found {clash.size} "
            "events sharing a settlement time with another event of their symbol",
            column="ts",
            rows=out[clash[:6]],
            fix="drop duplicate events; settlements are placed on whole UTC hours, so "
            "sub-hourly schedules are not supported",
        )
    return out


def funding_to_bars(
    events: pl.DataFrame, freq: str, *, tolerance: str | timedelta | None = None
) -> pl.DataFrame:
    """Sum funding events into the bars they settle in.

    Parameters
    ----------
    events : pl.DataFrame
        ``symbol, ts, funding_rate`` with one row per event (rate per event, a fraction).
    freq : str
        Bar frequency.
    tolerance : str or timedelta, optional
        See :func:`snap_funding_events`, which places every event at its settlement time.

    Returns
    -------
    pl.DataFrame
        ``symbol, ts, funding_rate, funding_events`` with ``ts`` the open of the bar
        ``(ts, ts + freq]`` holding the settlements, sorted by (symbol, ts). Bars without
        events are absent.

    Examples
    --------
    An event stamped 08:00:00.105 settles at 08:00, so on 1h bars it belongs to the bar that
    opens at 07:00 (it covers (07:00, 08:00]); on Hyperliquid's hourly schedule an event
    stamped 10:14:47 settles at 10:00 and belongs to the 09:00 bar.
    """
    step = timedelta_to_freq(freq_to_timedelta(freq))
    one_us = timedelta(microseconds=1)
    return (
        snap_funding_events(events, tolerance=tolerance)
        .with_columns((pl.col("ts") - one_us).dt.truncate(step).alias("ts"))
        .group_by("symbol", "ts", maintain_order=True)
        .agg(pl.col("funding_rate").sum(), pl.len().cast(pl.Int64).alias("funding_events"))
        .sort("symbol", "ts")
    )


def attach_funding(
    panel: FrameT, events: pl.DataFrame, freq: str, *,
    tolerance: str | timedelta | None = None, keep: bool = False,
) -> FrameT:
    """Set a panel's ``funding_rate`` from funding events.

    Within each symbol's funding coverage (from the bar holding its first settlement to the
    bar holding its last) a bar without an event gets 0 (no settlement in that bar, e.g. the
    hours between 8h settlements); outside the coverage it gets null (unknown).

    Parameters
    ----------
    panel : pl.DataFrame or pl.LazyFrame
        Canonical panel at ``freq`` (a lazy one stays lazy: the events are joined to it).
    events : pl.DataFrame
        Funding events (``symbol, ts, funding_rate``), placed by :func:`snap_funding_events`.
    freq : str
        The panel's bar frequency.
    tolerance : str or timedelta, optional
        See :func:`snap_funding_events`.
    keep : bool, default False
        Keep a bar's own ``funding_rate`` where it has one (the events fill the nulls).

    Returns
    -------
    pl.DataFrame or pl.LazyFrame
        The panel with ``funding_rate`` replaced (or filled); rows and order unchanged.
    """
    bars = funding_to_bars(events, freq, tolerance=tolerance)
    coverage = bars.group_by("symbol").agg(
        pl.col("ts").min().alias("_first"), pl.col("ts").max().alias("_last")
    )
    columns = panel.collect_schema().names()
    rates = bars.select("symbol", "ts", pl.col("funding_rate").alias("_rate"))
    own = pl.col("funding_rate") if keep else pl.lit(None, dtype=pl.Float64)
    out = (
        panel.lazy()
        .join(rates.lazy(), on=["symbol", "ts"], how="left", maintain_order="left")
        .join(coverage.lazy(), on="symbol", how="left", maintain_order="left")
        .with_columns(
            pl.when(own.is_not_null()).then(own)
            .when(pl.col("_rate").is_not_null()).then(pl.col("_rate"))
            .when((pl.col("ts") >= pl.col("_first")) & (pl.col("ts") <= pl.col("_last")))
            .then(0.0)
            .otherwise(None)
            .alias("funding_rate")
        )
        .select(columns)
    )
    return out if isinstance(panel, pl.LazyFrame) else out.collect()
