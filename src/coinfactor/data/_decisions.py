"""Daily decision instants in a local time zone, and the bar each decision may see.

A daily strategy decides once per local calendar date at a wall-clock hour in an IANA time zone
(seed 001: 20:00 ``America/New_York``). This module turns that rule into UTC instants and maps
each instant to its *anchor bar*: the last bar that has closed by the decision, i.e. the last
bar with ``ts + freq <= decision`` (bar ``ts`` is its open time; its values are known at its
close). Features at a decision use bars up to and including the anchor bar; nothing later.

Daylight saving time
--------------------
The decision instant moves in UTC when the zone changes offset. 20:00 New York is 00:00 UTC in
summer (EDT, UTC-4) and 01:00 UTC in winter (EST, UTC-5). On a 4h grid aligned to 00:00 UTC
the last bar closed by 00:00 UTC is the 20:00 UTC bar (it closes exactly at 00:00), and the last
bar closed by 01:00 UTC is the same bar: 01:00 is not on the grid, the 00:00 UTC bar only closes
at 04:00. So the winter decision sees prices that are one hour old; no finer price exists in
4h bars. Seed 001 instead read the bar that *opens* at the local decision hour (a price four
hours after the decision in summer) and skipped four hours of the forward return in winter.

Local times that do not exist (the spring-forward gap) or exist twice (the autumn fall-back
hour) follow Python's :mod:`zoneinfo` with ``fold=0``: a time in the gap is read with the UTC
offset in force before the gap (02:30 on the New York spring-forward day = 07:30 UTC = 03:30
EDT), an ambiguous time is its first occurrence (01:30 on the fall-back day = 05:30 UTC).
"""

from __future__ import annotations

import zoneinfo
from datetime import date, timedelta

import numpy as np
import polars as pl

from coinfactor.core.errors import ConfigError
from coinfactor.core.time import freq_to_timedelta
from coinfactor.data._grid import Grid
from coinfactor.data._schema import TS_DTYPE

__all__ = ["anchor_decisions", "check_time_zone", "decision_times"]

_GAP_PROBE = timedelta(hours=3)
"""How far back a non-existent local time is moved to find the pre-gap offset (DST gaps in the
tz database are at most 2 hours; whole skipped days are dropped)."""


def check_time_zone(tz: str) -> None:
    """Raise a :class:`ConfigError` unless ``tz`` is an IANA time zone name.

    Parameters
    ----------
    tz : str
        For example ``"America/New_York"``, ``"Europe/London"`` or ``"UTC"``.
    """
    try:
        zoneinfo.ZoneInfo(tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError) as exc:
        raise ConfigError(
            f"timezone: expected an IANA time zone name such as 'America/New_York' or 'UTC', "
            f"got {tz!r}; see zoneinfo.available_timezones() for the list"
        ) from exc


def decision_times(first: date, last: date, *, hour: int, tz: str) -> pl.Series:
    """UTC decision instants at ``hour``:00 local time for each local date in [first, last].

    Parameters
    ----------
    first, last : date
        First and last local calendar dates (inclusive).
    hour : int
        Local wall-clock hour, 0 to 23.
    tz : str
        IANA time zone name.

    Returns
    -------
    pl.Series
        ``decision`` of dtype ``Datetime("us", "UTC")``, strictly increasing, one per local
        date (a date whose local time does not exist at all, as when a zone skips a whole
        day, is dropped). Gap and fold times follow ``zoneinfo`` with ``fold=0`` (module notes).

    Raises
    ------
    ConfigError
        If ``hour`` is outside 0..23 or ``tz`` is not a time zone.
    """
    if isinstance(hour, bool) or not isinstance(hour, int) or not 0 <= hour <= 23:
        raise ConfigError(f"hour: expected a local hour from 0 to 23, got {hour!r}")
    check_time_zone(tz)
    if last < first:
        return pl.Series("decision", [], dtype=TS_DTYPE)
    naive = pl.date_range(first, last, "1d", eager=True).cast(pl.Datetime("us")) + timedelta(
        hours=hour
    )
    frame = pl.DataFrame({"naive": naive})
    local = pl.col("naive").dt.replace_time_zone(tz, ambiguous="earliest", non_existent="null")
    # A time in a spring-forward gap: localise a time before the gap, then add the distance back
    # in absolute time, which applies the pre-gap offset (zoneinfo fold=0).
    before_gap = (pl.col("naive") - _GAP_PROBE).dt.replace_time_zone(
        tz, ambiguous="earliest", non_existent="null"
    )
    out = frame.select(
        pl.coalesce(
            local.dt.convert_time_zone("UTC"),
            before_gap.dt.convert_time_zone("UTC") + _GAP_PROBE,
        )
        .cast(TS_DTYPE)
        .alias("decision")
    )
    # A zone that skips a whole day can map two dates to one instant; keep it once.
    return out.get_column("decision").drop_nulls().unique(maintain_order=True)


def anchor_decisions(decisions: pl.Series, grid: Grid) -> pl.DataFrame:
    """Map decision instants to their anchor bars on a grid.

    The anchor of decision ``d`` is the last grid bar with ``ts + freq <= d``; its index is
    ``floor((d - ts[0] - freq) / freq)``. Decisions whose anchor falls outside the grid are
    dropped, and so is a decision that shares its anchor with the previous one (possible only
    when bars are about as long as the spacing between decisions): it would see no new data.

    Parameters
    ----------
    decisions : pl.Series
        Strictly increasing UTC instants.
    grid : Grid
        The panel's regular bar grid (:meth:`Grid.from_panel`).

    Returns
    -------
    pl.DataFrame
        ``decision`` (UTC instant), ``anchor`` (anchor bar open time, UTC) and ``bar``
        (anchor index on the grid, Int64), one row per kept decision, increasing.
    """
    n_bars = grid.shape[0]
    step_us = freq_to_timedelta(grid.freq) // timedelta(microseconds=1)
    origin_us = int(grid.ts.cast(pl.Int64)[0]) if n_bars else 0  # empty grid: nothing kept
    d_us = decisions.dt.epoch("us").to_numpy().astype(np.int64)
    idx = np.floor_divide(d_us - origin_us - step_us, step_us)
    keep = (idx >= 0) & (idx < n_bars)
    keep[1:] &= idx[1:] != idx[:-1]
    idx = idx[keep]
    return pl.DataFrame(
        {
            "decision": decisions.filter(pl.Series(keep)),
            "anchor": pl.Series(origin_us + step_us * idx, dtype=pl.Int64).cast(TS_DTYPE),
            "bar": pl.Series(idx, dtype=pl.Int64),
        }
    )
