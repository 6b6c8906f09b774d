"""Funding events snap to their symbol's settlement schedule (``snap_funding_events``).

References: settlement times worked out by hand from each case's schedule; a naive per-event
Python loop (``datetime`` and ``math.gcd``, one event at a time) that applies the documented
rule; a naive per-bar loop summing the events that settle in ``(ts, ts + freq]``; and, on the
real raw exchange files, the stamps themselves (every real stamp is at or a little after its
hour, so the old floor-to-the-second rule misplaced exactly the stamps one second or more late).
"""

from __future__ import annotations

import math
import os
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from coinfactor.data import attach_funding, funding_to_bars, snap_funding_events
from coinfactor.errors import DataError

T0 = datetime(2024, 1, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)
MS = timedelta(milliseconds=1)
MIN = timedelta(minutes=1)


def _events(rows: list[tuple[str, datetime, float]]) -> pl.DataFrame:
    return pl.DataFrame({"symbol": [r[0] for r in rows], "ts": [r[1] for r in rows],
                         "funding_rate": [r[2] for r in rows]},
                        schema_overrides={"ts": pl.Datetime("us", "UTC")})


def _settled(rows: list[tuple[str, datetime, float]]) -> list[datetime]:
    return snap_funding_events(_events(rows))["ts"].to_list()


# --- hand-computed cases ----------------------------------------------------------------

def test_millisecond_jitter_on_an_8h_schedule() -> None:
    """Binance stamps 08:00:00.105 for 08:00; an early stamp 23:59:59.997 settles at 24:00."""
    stamps = [T0 + 8 * HOUR + 105 * MS, T0 + 16 * HOUR + 7 * MS, T0 + 24 * HOUR - 3 * MS,
              T0 + 32 * HOUR + 11 * MS]
    out = snap_funding_events(_events([("BTC", s, 1e-4) for s in stamps]))
    assert out["ts"].to_list() == [T0 + h * HOUR for h in (8, 16, 24, 32)]
    # by hand: the inner events sit between 8h neighbours (gcd(24, 8, 0) = 8, spacing 8h)
    assert out["interval"].to_list() == [HOUR, 8 * HOUR, 8 * HOUR, HOUR]
    assert out["stamp"].to_list() == stamps


def test_multi_minute_jitter_hourly_and_8h() -> None:
    """Hyperliquid: 10:14:47 on the hourly schedule is the 10:00 settlement; 08:23:53 and
    08:40 on the 8h schedule (neighbours at 00:00 and 16:00) are the 08:00 settlement."""
    hourly = [T0 + 9 * HOUR, T0 + 10 * HOUR + 14 * MIN + 47_645 * MS, T0 + 11 * HOUR + 40 * MS]
    assert _settled([("HYPE", s, 1e-5) for s in hourly]) == [T0 + h * HOUR for h in (9, 10, 11)]
    for late in (23 * MIN + 53_040 * MS, 40 * MIN):
        eight = [T0, T0 + 8 * HOUR + late, T0 + 16 * HOUR]
        out = snap_funding_events(_events([("ETH", s, 1e-4) for s in eight]))
        assert out["ts"].to_list() == [T0, T0 + 8 * HOUR, T0 + 16 * HOUR]
        # by hand: gcd(24, 0, 16) = 8; the nearer neighbour is 7h20m or 7h36m away, so the
        # 8h grid is lowered to 4h (40 min) or kept (23 min): 08:00 either way
        assert out["interval"][1] == (4 * HOUR if late == 40 * MIN else 8 * HOUR)


def test_interval_changes() -> None:
    """8h -> 4h (Binance), 8h -> 1h (Hyperliquid, 2023-06-08) and 1h -> 4h with a 3h step
    (Binance ANIMEUSDT 17:00 -> 20:00) each keep every event at its own hour."""
    cases = {
        "A": [0, 8, 16, 20, 24, 28],
        "B": [0, 8, 16, 17, 18, 19],
        "C": [14, 15, 16, 17, 20, 24, 28],
        "D": [0, 1, 3, 4, 5],  # one hourly event missing (a 2h step)
    }
    rows = [(sym, T0 + h * HOUR + 23 * MS, 1e-4) for sym, hs in cases.items() for h in hs]
    out = snap_funding_events(_events(rows))
    for sym, hs in cases.items():
        got = out.filter(pl.col("symbol") == sym)
        assert got["ts"].to_list() == [T0 + h * HOUR for h in hs]
    # by hand: A's 16:00 sits between 08:00 and 20:00, gcd(24, 8, 20) = 4; C's 20:00 between
    # 17:00 and 00:00, gcd(24, 17, 0) = 1; D's 03:00 between 01:00 and 04:00, gcd = 1
    intervals = dict(zip(zip(out["symbol"], out["ts"], strict=True), out["interval"],
                         strict=True))
    assert intervals[("A", T0 + 16 * HOUR)] == 4 * HOUR
    assert intervals[("A", T0 + 8 * HOUR)] == 8 * HOUR
    assert intervals[("C", T0 + 20 * HOUR)] == HOUR
    assert intervals[("D", T0 + 3 * HOUR)] == HOUR


def test_off_midnight_schedule_and_lone_events() -> None:
    """BitMEX settles at 04:00, 12:00, 20:00 (gcd(24, 4, 20) = 4: a 4h grid holds them); a
    symbol's lone event and its end events take the nearest hour."""
    stamps = [T0 + h * HOUR + 31 * MIN for h in (3, 11, 19)]  # 29 minutes early
    rows = [("XBT", T0 + 4 * HOUR, 1.0), ("XBT", T0 + 12 * HOUR + 40 * MIN, 2.0),
            ("XBT", T0 + 20 * HOUR, 3.0), ("ONE", stamps[0], 4.0)]
    out = snap_funding_events(_events(rows))
    assert out["ts"].to_list() == [T0 + 4 * HOUR, T0 + 4 * HOUR, T0 + 12 * HOUR,
                                   T0 + 20 * HOUR]
    assert out["symbol"].to_list() == ["ONE", "XBT", "XBT", "XBT"]


def test_bars_take_the_settlement_time() -> None:
    """The 10:14:47 stamp (Hyperliquid 2025-07-19) belongs to the 09:00 bar (09:00, 10:00];
    the old floor rule put it in the 10:00 bar."""
    stamps = [T0 + h * HOUR + 50 * MS for h in (8, 9, 11)] + [T0 + 10 * HOUR + 14 * MIN]
    ev = _events([("BERA", s, r) for s, r in zip(stamps, (1e-5, 2e-5, 4e-5, 3e-5),
                                                   strict=True)])
    bars = funding_to_bars(ev, "1h")
    assert bars["ts"].to_list() == [T0 + h * HOUR for h in (7, 8, 9, 10)]
    assert bars["funding_rate"].to_list() == [1e-5, 2e-5, 3e-5, 4e-5]
    daily = funding_to_bars(ev, "1d")
    assert daily["funding_rate"].to_list() == pytest.approx([1e-4], rel=1e-12)


def test_two_events_on_one_settlement_raise() -> None:
    rows = [("A", T0 + h * HOUR, 1e-4) for h in range(5)] + [("A", T0 + 2 * HOUR + 5 * MIN, 1.0)]
    with pytest.raises(DataError, match="expected one event per settlement time") as err:
        snap_funding_events(_events(rows))
    assert "fix:" in str(err.value) and "sub-hourly" in str(err.value)


def test_tolerance_rejects_far_stamps() -> None:
    rows = [("A", T0, 1.0), ("A", T0 + 8 * HOUR + 40 * MIN, 2.0), ("A", T0 + 16 * HOUR, 3.0)]
    assert snap_funding_events(_events(rows), tolerance="1h")["ts"][1] == T0 + 8 * HOUR
    with pytest.raises(DataError, match=r"within 30m of its settlement time, found 1 farther"):
        snap_funding_events(_events(rows), tolerance="30m")
    with pytest.raises(DataError, match="within 1s"):
        attach_funding(pl.DataFrame(), _events(rows), "1h", tolerance=timedelta(seconds=1))


# --- naive references ---------------------------------------------------------------------

def _naive_snap(rows: list[tuple[str, datetime, float]]) -> list[tuple[str, datetime, int]]:
    """The documented rule, one event at a time."""
    def nearest_hour_of_day(t: datetime) -> int:
        return (t + timedelta(minutes=30)).hour

    out = []
    for sym in sorted({r[0] for r in rows}):
        ts = sorted(r[1] for r in rows if r[0] == sym)
        for i, t in enumerate(ts):
            hours = 1
            if 0 < i < len(ts) - 1:
                grid = math.gcd(24, nearest_hour_of_day(ts[i - 1]),
                                nearest_hour_of_day(ts[i + 1]))
                spacing = min(t - ts[i - 1], ts[i + 1] - t)
                cap = max(1, math.floor(spacing / HOUR + 0.5))
                hours = max(d for d in range(1, grid + 1) if grid % d == 0 and d <= cap)
            midnight = t.replace(hour=0, minute=0, second=0, microsecond=0)
            k = math.floor((t - midnight) / (hours * HOUR) + 0.5)
            out.append((sym, midnight + k * hours * HOUR, hours))
    return out


def _random_schedules(seed: int) -> list[tuple[str, datetime, float]]:
    """Per symbol: runs of 1h/2h/4h/8h schedules, events dropped at random, stamps late by
    milliseconds or minutes (on 4h/8h schedules up to 55 minutes, where the learnt schedule,
    not the nearest hour, decides), or a few milliseconds early."""
    rng = random.Random(seed)
    rows = []
    for s in range(6):
        t = T0 + rng.randrange(24) * HOUR
        for _ in range(rng.randrange(1, 5)):
            step = rng.choice([1, 2, 4, 8])
            t = t + (-(t - T0) // HOUR % step) * HOUR  # next point of the new grid
            for _ in range(rng.randrange(1, 30)):
                if rng.random() > 0.1:
                    jitter = rng.choice([rng.randrange(0, 40) * MS, -rng.randrange(1, 5) * MS,
                                         rng.randrange(1, 25) * MIN,
                                         rng.randrange(35, 55) * MIN * (step >= 4)])
                    rows.append((f"S{s}", t + jitter, rng.uniform(-1e-3, 1e-3)))
                t = t + step * HOUR
    return rows


@pytest.mark.parametrize("seed", range(8))
def test_matches_a_naive_per_event_loop(seed: int) -> None:
    rows = _random_schedules(seed)
    out = snap_funding_events(_events(rows))
    expected = _naive_snap(rows)
    got = list(zip(out["symbol"], out["ts"], (d // HOUR for d in out["interval"]), strict=True))
    assert got == expected


@pytest.mark.parametrize(("seed", "freq"), [(0, "1h"), (1, "4h"), (2, "8h"), (3, "1d")])
def test_bars_match_a_naive_per_bar_loop(seed: int, freq: str) -> None:
    rows = _random_schedules(seed)
    settled = _naive_snap(rows)
    step = {"1h": HOUR, "4h": 4 * HOUR, "8h": 8 * HOUR, "1d": 24 * HOUR}[freq]
    bars = funding_to_bars(_events(rows), freq)
    by_sym: dict[str, list[tuple[datetime, float]]] = {}
    for (sym, tau, _), (_, _, rate) in zip(settled, sorted(rows, key=lambda r: r[:2]),
                                           strict=True):
        by_sym.setdefault(sym, []).append((tau, rate))
    expected = []
    for sym, evs in sorted(by_sym.items()):
        ts = T0 - 2 * step
        while ts <= max(tau for tau, _ in evs):
            inside = [r for tau, r in evs if ts < tau <= ts + step]
            if inside:
                expected.append((sym, ts, sum(inside), len(inside)))
            ts += step
    assert bars["symbol"].to_list() == [e[0] for e in expected]
    assert bars["ts"].to_list() == [e[1] for e in expected]
    assert bars["funding_rate"].to_list() == pytest.approx([e[2] for e in expected], abs=1e-15)
    assert bars["funding_events"].to_list() == [e[3] for e in expected]


# --- the real raw files -------------------------------------------------------------------

def _raw_dir() -> Path | None:
    here = Path(__file__).resolve().parents[2]
    env = os.environ.get("COINFACTOR_RAW")
    for cand in ([Path(env)] if env else []) + [here.parent / "shared" / "data" / "raw",
                                                 here.parents[1] / "shared" / "data" / "raw"]:
        if cand.is_dir():
            return cand
    return None


RAW = _raw_dir()
REAL = {  # file, time column, symbol column; events whose 1h bar moves vs. the floor rule
    "hyperliquid": ("hyperliquid_freqtrade/funding_rate_1h.parquet", "date", "coin", 1083),
    "binance": ("binance_um_gravestone/funding_rates.parquet", "funding_time", "symbol", 0),
    "binance-long": ("binance_funding_pietroc21/funding_rate_8h_15symbols.parquet", "datetime",
                     "symbol", 0),
}


@pytest.mark.skipif(RAW is None, reason="the raw exchange files (shared/data/raw) are absent")
@pytest.mark.parametrize("name", list(REAL))
def test_real_files_snap_within_half_an_interval(name: str) -> None:
    assert RAW is not None
    file, time_col, sym_col, moved = REAL[name]
    ev = pl.read_parquet(RAW / file).select(
        pl.col(sym_col).alias("symbol"), pl.col(time_col).alias("ts"), "funding_rate")
    out = snap_funding_events(ev)  # no two events of a symbol share a settlement
    assert out.height == ev.height
    off = (pl.col("ts") - pl.col("stamp")).abs()
    assert out.filter(off > pl.col("interval") / 2).height == 0
    # every real stamp is within half an hour of its settlement (at most 23m53s late), so
    # the settlement is its nearest hour and the learnt schedule never overrides it
    assert out.filter(pl.col("ts") != pl.col("stamp").dt.round("1h")).height == 0
    assert out.filter(off >= timedelta(minutes=30)).height == 0
    # bar moves vs. the old rule (floor to 1s, then (ts, ts + 1h]): the stamps >= 1s late
    one_us = timedelta(microseconds=1)
    old = (pl.col("stamp").dt.truncate("1s") - one_us).dt.truncate("1h")
    new = (pl.col("ts") - one_us).dt.truncate("1h")
    n_moved = out.filter(old != new).height
    late = out.filter(pl.col("stamp") - pl.col("ts") >= timedelta(seconds=1)).height
    assert n_moved == late == moved


def test_documented_limit_off_grid_event_and_tolerance() -> None:
    """An hourly 10:00 settlement with 05-09 and 11-15 missing sits between 04:00 and 16:00;
    by hand gcd(24, 4, 16) = 4, spacing 6h, so the 4h grid, and the stamp 10:00:00.005 is
    5 ms nearer 12:00 than 08:00. A tolerance rejects the move."""
    rows = [("A", T0 + h * HOUR + 5 * MS, 1.0) for h in (4, 10, 16)]
    assert _settled(rows)[1] == T0 + 12 * HOUR
    with pytest.raises(DataError, match="within 30m"):
        snap_funding_events(_events(rows), tolerance="30m")
