"""Resampling, grid regularisation and funding placement."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from coinfactor.data import (
    attach_funding,
    funding_to_bars,
    regularize,
    resample,
    validate_panel,
)
from coinfactor.errors import DataError
from support.panels import make_panel

T0 = datetime(2024, 1, 1, tzinfo=UTC)


# --- resample ---------------------------------------------------------------------------

def _hourly_two_days() -> pl.DataFrame:
    rng = np.random.default_rng(7)
    rows = []
    for sym in ("X", "Y"):
        price = 100.0
        for i in range(48):
            o = price
            c = o * (1 + rng.normal(0, 0.01))
            rows.append({"ts": T0 + timedelta(hours=i), "symbol": sym, "open": o,
                         "high": max(o, c) * 1.002, "low": min(o, c) * 0.998, "close": c,
                         "volume": float(i + 1), "quote_volume": float(i + 1) * c,
                         "trades": i + 1, "funding_rate": 1e-5 * (i % 8 == 7),
                         "open_interest": 1000.0 + i})
            price = c
    return validate_panel(pl.DataFrame(rows))


def test_resample_1h_to_1d_equals_hand_aggregate() -> None:
    """Reference: a hand aggregation of each day's 24 hourly rows in plain Python."""
    hourly = _hourly_two_days()
    daily = resample(hourly, "1d")
    assert daily.height == 4
    for sym in ("X", "Y"):
        for day in range(2):
            rows = hourly.filter(pl.col("symbol") == sym).slice(24 * day, 24).to_dicts()
            got = daily.filter((pl.col("symbol") == sym)
                               & (pl.col("ts") == T0 + timedelta(days=day))).to_dicts()[0]
            assert got["open"] == rows[0]["open"]
            assert got["close"] == rows[-1]["close"]
            assert got["high"] == max(r["high"] for r in rows)
            assert got["low"] == min(r["low"] for r in rows)
            assert got["volume"] == pytest.approx(sum(r["volume"] for r in rows), rel=1e-15)
            assert got["quote_volume"] == pytest.approx(sum(r["quote_volume"] for r in rows),
                                                        rel=1e-14)
            assert got["trades"] == sum(r["trades"] for r in rows)
            assert got["funding_rate"] == pytest.approx(3e-5, rel=1e-12)  # 3 settlements/day
            assert got["open_interest"] == rows[-1]["open_interest"]


def test_resample_partial_bar_dropped_or_marked() -> None:
    hourly = _hourly_two_days().filter(~((pl.col("symbol") == "X")
                                         & (pl.col("ts") == T0 + timedelta(hours=30))))
    dropped = resample(hourly, "1d")
    assert dropped.height == 3
    marked = resample(hourly, "1d", partial="mark")
    assert marked.height == 4
    row = marked.filter((pl.col("symbol") == "X") & (pl.col("ts") == T0 + timedelta(days=1)))
    assert row["complete"].to_list() == [False]


def test_resample_gives_the_same_bits_however_the_panel_is_chunked_or_cut() -> None:
    """Same input, same output: memory layout (chunks, offsets) never moves a float sum.

    The store rolls a month up from frames assembled in different ways (a whole file, a
    batch, a merge with stored minutes); the bits must not depend on it. The bars' windows
    are those of ``dt.truncate`` (the reference: the truncated bar opens, weeks included).
    """
    rng = np.random.default_rng(11)
    n = 3 * 1440 + 17
    minutes = validate_panel(pl.DataFrame({
        "ts": [T0 + timedelta(minutes=i) for i in range(n)] * 2,
        "symbol": ["X"] * n + ["Y"] * n,
        "open": 100.0, "high": 101.0, "low": 99.0, "close": 100.0,
        "volume": rng.gamma(1.5, 200.0, 2 * n), "quote_volume": rng.gamma(1.5, 2e4, 2 * n),
        "funding_rate": rng.normal(0.0, 1e-4, 2 * n),
    }), freq="1m")
    cuts = [0, 7, 1000, 1441, n + 3, 2 * n]
    pieces = pl.concat([minutes.slice(a, b - a) for a, b in itertools.pairwise(cuts)],
                       rechunk=False)
    padded = pl.concat([minutes.head(5).with_columns(pl.lit("A").alias("symbol")), minutes])
    for every in ("1h", "4h", "1d", "1w"):
        whole = resample(minutes, every, partial="mark", source_freq="1m")
        assert whole.equals(resample(pieces, every, partial="mark", source_freq="1m"))
        assert whole.equals(resample(padded, every, partial="mark", source_freq="1m")
                            .filter(pl.col("symbol") != "A"))
        opens = minutes.select("symbol", pl.col("ts").dt.truncate(every)).unique(
            maintain_order=True)
        assert whole.select("symbol", "ts").equals(opens)


def test_resample_null_optional_stays_null(small_panel: pl.DataFrame) -> None:
    no_oi = resample(small_panel, "2h", partial="mark")
    assert no_oi["open_interest"].is_null().all()


def test_resample_rejects_finer_target() -> None:
    with pytest.raises(DataError, match="whole multiple of the source"):
        resample(_hourly_two_days(), "30m")


# --- regularize -------------------------------------------------------------------------

def test_regularize_adds_only_missing_bars_flagged(small_panel: pl.DataFrame) -> None:
    grid = regularize(small_panel)
    assert grid.height == small_panel.height + 1  # only B's one-bar gap; C's pre-listing not
    added = grid.filter(pl.col("filled"))
    assert added.select("symbol", "close", "volume").to_dicts() == [
        {"symbol": "B", "close": 10.5, "volume": 0.0}
    ]
    assert validate_panel(grid).height == grid.height
    assert grid.filter(~pl.col("filled")).drop("filled").equals(small_panel)


# --- funding placement ------------------------------------------------------------------

def _ev(symbol: str, when: datetime, rate: float) -> dict[str, object]:
    return {"symbol": symbol, "ts": when, "funding_rate": rate}


def test_funding_jitter_lands_in_bar_ending_at_settlement() -> None:
    """An event at 08:00:00.105 settles at 08:00: on 1h bars it is the 07:00 bar's."""
    events = pl.DataFrame([
        _ev("BTC", T0 + timedelta(hours=8, milliseconds=105), 1e-4),
        _ev("BTC", T0 + timedelta(hours=16, milliseconds=7), 2e-4),
        _ev("BTC", T0 + timedelta(hours=24) - timedelta(milliseconds=3), 3e-4),  # early jitter
    ])
    bars = funding_to_bars(events, "1h")
    assert bars["ts"].to_list() == [T0 + timedelta(hours=7), T0 + timedelta(hours=15),
                                    T0 + timedelta(hours=23)]
    assert bars["funding_rate"].to_list() == [1e-4, 2e-4, 3e-4]


def test_funding_interval_change_8h_to_1h() -> None:
    """Hyperliquid moved from 8h to hourly settlements: both regimes map bar by bar."""
    events = [_ev("ETH", T0 + timedelta(hours=h, milliseconds=50), 8e-5) for h in (8, 16, 24)]
    events += [_ev("ETH", T0 + timedelta(hours=h, milliseconds=11), 1e-5) for h in range(25, 31)]
    ev = pl.DataFrame(events)
    hourly = funding_to_bars(ev, "1h")
    assert hourly.height == 9
    daily = funding_to_bars(ev, "1d")
    # day 0 covers (00:00, 24:00]: the 08, 16 and 24h events; day 1 the six hourly ones
    assert daily["funding_rate"].to_list() == pytest.approx([2.4e-4, 6e-5], rel=1e-12)
    assert daily["funding_events"].to_list() == [3, 6]
    four_h = funding_to_bars(ev, "4h")
    assert four_h.filter(pl.col("ts") == T0 + timedelta(hours=24))["funding_rate"].item() \
        == pytest.approx(4e-5)


def test_attach_funding_zero_inside_coverage_null_outside() -> None:
    panel = make_panel({"BTC": [100.0 + i for i in range(12)]})
    events = pl.DataFrame([_ev("BTC", T0 + timedelta(hours=h), 1e-4) for h in (3, 7)])
    out = attach_funding(panel, events, "1h")
    rates = out["funding_rate"].to_list()
    assert rates[:2] == [None, None]  # before the first settlement bar: unknown
    assert rates[2] == 1e-4 and rates[6] == 1e-4
    assert rates[3:6] == [0.0, 0.0, 0.0]
    assert rates[7:] == [None] * 5
    assert out.drop("funding_rate").equals(panel.drop("funding_rate"))


def test_funding_events_need_a_rate() -> None:
    with pytest.raises(DataError, match="expected a rate on every event"):
        funding_to_bars(pl.DataFrame([_ev("A", T0, float("nan"))]), "1h")


