"""Decision times and anchor bars (the reversion study's machinery in ``coinfactor.data``).

References: decision instants from ``zoneinfo`` datetimes (Python's own DST rules), and anchors
hand-computed on a 4h grid across New York's spring change.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import polars as pl
import pytest

from coinfactor.core.errors import ConfigError, DataError
from coinfactor.data import Grid, anchor_decisions, decision_times
from support.reversion_reference import SPRING, dst_panel, naive_decisions


@pytest.mark.parametrize("tz", ["America/New_York", "Europe/London", "Australia/Sydney", "UTC"])
@pytest.mark.parametrize("hour", [0, 1, 2, 3, 20, 23], ids=lambda hour: f"{hour:02d}h")
def test_decision_times_match_zoneinfo(tz: str, hour: int) -> None:
    # zoneinfo with fold=0 is the reference for every date across both 2025 DST changes.
    got = decision_times(date(2025, 1, 1), date(2025, 12, 31), hour=hour, tz=tz).to_list()
    assert got == naive_decisions(date(2025, 1, 1), date(2025, 12, 31), hour, tz)


def test_new_york_20h_is_midnight_utc_in_summer_one_am_in_winter() -> None:
    got = decision_times(date(2025, 3, 8), date(2025, 3, 10), hour=20, tz="America/New_York")
    assert got.to_list() == [
        datetime(2025, 3, 9, 1, tzinfo=UTC),  # EST, UTC-5
        datetime(2025, 3, 10, 0, tzinfo=UTC),  # EDT, UTC-4
        datetime(2025, 3, 11, 0, tzinfo=UTC),
    ]


def test_anchor_is_last_bar_closed_by_the_decision() -> None:
    # Hand-computed on a 4h grid from 2025-03-01 00:00 UTC: winter 20:00 EST = 01:00 UTC sees
    # the 20:00 UTC bar (closes 00:00), not the 00:00 UTC bar (closes 04:00); summer 20:00 EDT
    # = 00:00 UTC sees the same 20:00 UTC bar, which closes exactly at the decision.
    panel = dst_panel(datetime(2025, 3, 1, tzinfo=UTC), 12, holes=False)
    grid = Grid.from_panel(panel, "4h")
    dec = decision_times(date(2025, 3, 7), date(2025, 3, 10), hour=20, tz="America/New_York")
    anchors = anchor_decisions(dec, grid)
    assert anchors["anchor"].to_list() == [
        datetime(2025, 3, d, 20, tzinfo=UTC) for d in (7, 8, 9, 10)
    ]
    # 23:00 New York: 04:00 UTC in winter (the 00:00 bar closes at 04:00), 03:00 UTC in summer
    # (back to the 20:00 bar): the anchor moves with DST.
    dec = decision_times(date(2025, 3, 7), date(2025, 3, 10), hour=23, tz="America/New_York")
    assert anchor_decisions(dec, grid)["anchor"].to_list() == [
        datetime(2025, 3, 8, 0, tzinfo=UTC), datetime(2025, 3, 9, 0, tzinfo=UTC),
        datetime(2025, 3, 9, 20, tzinfo=UTC), datetime(2025, 3, 10, 20, tzinfo=UTC),
    ]


def test_grid_rejects_shifted_symbols() -> None:
    panel = dst_panel(SPRING, 3, holes=False)
    shifted = panel.filter(pl.col("symbol") == "AAA").with_columns(
        pl.col("ts") + timedelta(hours=1), pl.lit("ZZZ").alias("symbol"))
    with pytest.raises(DataError, match="grid"):
        Grid.from_panel(pl.concat([panel, shifted]), "4h")


@pytest.mark.parametrize("bad", [-1, 24, 7.5])
def test_decision_times_bad_hour(bad: object) -> None:
    with pytest.raises(ConfigError, match="hour"):
        decision_times(date(2025, 1, 1), date(2025, 1, 2), hour=bad, tz="UTC")  # type: ignore


def test_decision_times_bad_zone() -> None:
    with pytest.raises(ConfigError, match="IANA"):
        decision_times(date(2025, 1, 1), date(2025, 1, 2), hour=1, tz="America/Gotham")
