"""The embedded real one-minute dataset (binance-perp-1m) and the store's minute import of it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl
from polars.testing import assert_frame_equal

import coinfactor as cf
from coinfactor.data.store import Store


def test_binance_perp_1m_is_the_fourteen_days_all_eighteen_symbols_cover() -> None:
    panel = cf.datasets.load("binance-perp-1m")
    per = panel.group_by("symbol").agg(pl.len(), pl.col("ts").min().alias("first"),
                                       pl.col("ts").max().alias("last"))
    assert per.height == 18
    assert per["len"].to_list() == [14 * 1440] * 18  # no gaps upstream (SOURCES.md)
    assert per["first"].unique().to_list() == [datetime(2023, 7, 19, tzinfo=UTC)]
    assert per["last"].unique().to_list() == [datetime(2023, 8, 1, 23, 59, tzinfo=UTC)]
    # 8-hourly settlements land on the minute bar (ts, ts + 1m] that holds them: 07:59 ...
    paid = panel.filter(pl.col("funding_rate") != 0)
    assert set(paid["ts"].dt.strftime("%H:%M").unique().to_list()) <= {"07:59", "15:59",
                                                                         "23:59"}
    assert cf.datasets.info("binance-perp-1m")["licence"].startswith("repository GPL-3.0")


def test_the_store_rolls_the_real_minutes_up_as_resample_does(tmp_path: Path) -> None:
    """Reference: coinfactor.data.resample of the whole in-memory panel (partial='mark')."""
    panel = cf.datasets.load("binance-perp-1m").filter(
        pl.col("symbol").is_in(["BTCUSDT", "USDCUSDT"]))
    with Store(tmp_path / "db.duckdb") as store:
        store.write(exchange="binanceusdm", market="swap", freq="1m", bars=panel)
        for freq in ("1h", "1d"):
            got = store.query_bars(exchange="binanceusdm", freq=freq, partial="mark")
            want = cf.data.resample(panel, freq, partial="mark", source_freq="1m")
            # hours: the same polars sums over the same rows, bit for bit; days add the
            # hourly sums (another order of summation: last bits)
            assert_frame_equal(got, want, check_exact=freq == "1h", rel_tol=1e-12, abs_tol=0.0)
