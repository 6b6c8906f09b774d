"""Daily decision instants in a local time zone, and the bar each decision may see.

A daily study decides once per local calendar date at a wall-clock hour in an IANA time zone
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

from coinfactor.core.errors import ConfigError, DataError
from coinfactor.core.time import freq_to_timedelta
from coinfactor.data._schema import TS_DTYPE

__all__ = ["BarGrid", "anchor_decisions", "bar_grid", "check_time_zone", "decision_times"]

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


class BarGrid:
    """The regular bar grid of a panel: ``origin + i * freq`` for ``i = 0 .. n_bars - 1``.

    Parameters
    ----------
    origin_us : int
        First bar open time, microseconds since the epoch (UTC).
    step_us : int
        Bar length in microseconds.
    n_bars : int
        Number of grid bars (through the last bar of the panel).
    """

    def __init__(self, origin_us: int, step_us: int, n_bars: int) -> None:
        self.origin_us = origin_us
        self.step_us = step_us
        self.n_bars = n_bars

    @property
    def ts(self) -> pl.Series:
        """Bar open times as ``Datetime("us", "UTC")``, length ``n_bars``."""
        values = self.origin_us + self.step_us * np.arange(self.n_bars, dtype=np.int64)
        return pl.Series("ts", values, dtype=pl.Int64).cast(TS_DTYPE)

    def __repr__(self) -> str:
        return (
            f"BarGrid(origin_us={self.origin_us}, step_us={self.step_us}, n_bars={self.n_bars})"
        )


def bar_grid(panel: pl.DataFrame, freq: str) -> BarGrid:
    """Build the regular grid spanning a panel's bars, checking every bar is on it.

    Parameters
    ----------
    panel : pl.DataFrame
        Canonical panel (non-empty).
    freq : str
        Its bar frequency, e.g. ``"4h"``.

    Returns
    -------
    BarGrid

    Raises
    ------
    DataError
        If some bar does not start a whole number of bars after the first bar (symbols on
        shifted grids).
    """
    step_us = int(freq_to_timedelta(freq).total_seconds() * 1_000_000)
    ts_us = panel.get_column("ts").dt.epoch("us")
    origin = int(ts_us.min())  # type: ignore[arg-type]
    end = int(ts_us.max())  # type: ignore[arg-type]
    off = panel.filter(((ts_us - origin) % step_us) != 0)
    if off.height:
        raise DataError(
            f"expected every bar on one {freq} grid starting at the first bar, found "
            f"{off.height} bar(s) off it",
            column="ts",
            rows=off.select("symbol", "ts").head(5),
            fix="resample the panel (coinfactor.data.resample) so all symbols share bar times",
        )
    return BarGrid(origin, step_us, (end - origin) // step_us + 1)


def anchor_decisions(decisions: pl.Series, grid: BarGrid) -> pl.DataFrame:
    """Map decision instants to their anchor bars on a grid.

    The anchor of decision ``d`` is the last grid bar with ``ts + freq <= d``; its index is
    ``floor((d - origin - freq) / freq)``. Decisions whose anchor falls outside the grid are
    dropped, and so is a decision that shares its anchor with the previous one (possible only
    when bars are about as long as the spacing between decisions): it would see no new data.

    Parameters
    ----------
    decisions : pl.Series
        Strictly increasing UTC instants.
    grid : BarGrid
        The panel's bar grid.

    Returns
    -------
    pl.DataFrame
        ``decision`` (UTC instant), ``anchor`` (anchor bar open time, UTC) and ``bar``
        (anchor index on the grid, Int64), one row per kept decision, increasing.
    """
    d_us = decisions.dt.epoch("us").to_numpy().astype(np.int64)
    idx = np.floor_divide(d_us - grid.origin_us - grid.step_us, grid.step_us)
    keep = (idx >= 0) & (idx < grid.n_bars)
    keep[1:] &= idx[1:] != idx[:-1]
    idx = idx[keep]
    return pl.DataFrame(
        {
            "decision": decisions.filter(pl.Series(keep)),
            "anchor": pl.Series(grid.origin_us + grid.step_us * idx, dtype=pl.Int64).cast(
                TS_DTYPE
            ),
            "bar": pl.Series(idx, dtype=pl.Int64),
        }
    )
