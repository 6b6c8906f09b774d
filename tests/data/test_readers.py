"""Readers: the file shapes of the seeds and of the raw exchange exports."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from coinfactor.data import read_bars, read_funding, read_panel_with_funding
from coinfactor.data._readers import symbol_from_filename
from coinfactor.errors import DataError

T0 = datetime(2024, 1, 30, tzinfo=UTC)


def _bars(n: int = 3) -> pl.DataFrame:
    return pl.DataFrame({
        "ts": [T0 + timedelta(minutes=i) for i in range(n)],
        "open": [1.0, 1.1, 1.2][:n], "high": [1.2, 1.3, 1.4][:n], "low": [0.9, 1.0, 1.1][:n],
        "close": [1.1, 1.2, 1.3][:n], "volume": [10.0, 11.0, 12.0][:n],
    })


def test_seed000_gzip_csv_origin_time(tmp_path: Path) -> None:
    """Seed 000 reads per-coin gzip CSVs with origin_time, symbol and trades."""
    df = _bars().rename({"ts": "origin_time"}).with_columns(
        pl.col("origin_time").dt.strftime("%Y-%m-%d %H:%M:%S"), pl.lit("BTC-USDT").alias("symbol"),
        pl.lit(7).alias("trades"))
    path = tmp_path / "BTC-USDT.csv.gz"
    with gzip.open(path, "wb") as fh:
        df.write_csv(fh)
    out = read_bars(path)
    assert out["ts"].to_list() == [T0 + timedelta(minutes=i) for i in range(3)]
    assert out["trades"].to_list() == [7, 7, 7]
    assert out["symbol"].unique().to_list() == ["BTC-USDT"]


def test_seed004_csv_ticker_date_dollar_volume(tmp_path: Path) -> None:
    df = pl.DataFrame({
        "date": ["2024-01-01", "2024-01-02"], "ticker": ["ETHUSDT", "ETHUSDT"],
        "open": [1.0, 2.0], "high": [2.0, 2.5], "low": [1.0, 1.5], "close": [2.0, 2.2],
        "volume": [3.0, 4.0], "dollar_volume": [6.0, 8.8]})
    path = tmp_path / "binance_perp_daily.csv"
    df.write_csv(path)
    out = read_bars(path)
    assert out["quote_volume"].to_list() == [6.0, 8.8]
    assert out["ts"][1] == datetime(2024, 1, 2, tzinfo=UTC)


def test_binance_open_time_ms_parquet(tmp_path: Path) -> None:
    df = _bars().with_columns(pl.col("ts").dt.epoch("ms").alias("open_time"),
                              pl.lit("SOLUSDT").alias("symbol"),
                              (pl.col("ts").dt.epoch("ms") + 59_999).alias("close_time"),
                              pl.lit(5.0).alias("quote_volume"), pl.lit(3).alias("trades"),
                              ).drop("ts")
    path = tmp_path / "klines.parquet"
    df.write_parquet(path)
    out = read_bars(path)
    assert out["ts"][0] == T0
    assert "close_time" not in out.columns


def test_hyperliquid_coin_date_parquet(tmp_path: Path) -> None:
    df = _bars().rename({"ts": "date"}).with_columns(pl.lit("HYPE").alias("coin"),
                                                     pl.col("date").dt.cast_time_unit("ns"))
    path = tmp_path / "ohlcv.parquet"
    df.write_parquet(path)
    assert read_bars(path)["symbol"].to_list() == ["HYPE"] * 3


def test_freqtrade_feather_symbol_from_name(tmp_path: Path) -> None:
    path = tmp_path / "BTC_USDT_USDT-1m-futures.feather"
    _bars().rename({"ts": "date"}).write_ipc(path)
    out = read_bars(path)
    assert out["symbol"].to_list() == ["BTCUSDT"] * 3
    assert symbol_from_filename("kPEPE_USDC_USDC-1h-futures.feather") == "kPEPE"


def test_naive_times_with_declared_zone(tmp_path: Path) -> None:
    df = _bars().with_columns(pl.col("ts").dt.replace_time_zone(None), pl.lit("A").alias("symbol"))
    path = tmp_path / "ny.parquet"
    df.write_parquet(path)
    out = read_bars(path, tz="America/New_York")
    assert out["ts"][0] == T0 + timedelta(hours=5)  # EST = UTC-5 in January


def test_explicit_mapping(tmp_path: Path) -> None:
    df = _bars().rename({"close": "last", "ts": "when"}).with_columns(pl.lit("A").alias("sym"))
    path = tmp_path / "odd.parquet"
    df.write_parquet(path)
    out = read_bars(path, mapping={"last": "close", "when": "ts", "sym": "symbol"})
    assert out["close"].to_list() == [1.1, 1.2, 1.3]
    with pytest.raises(DataError, match=r"mapping names column\(s\) \['nope'\]"):
        read_bars(path, mapping={"nope": "close"})


def test_missing_symbol_needs_help(tmp_path: Path) -> None:
    path = tmp_path / "bars.parquet"
    _bars().write_parquet(path)
    with pytest.raises(DataError, match="has no symbol column") as e:
        read_bars(path)
    assert "symbol='BTCUSDT'" in str(e.value)
    assert read_bars(path, symbol="X")["symbol"][0] == "X"


def test_missing_file_and_format(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file"):
        read_bars(tmp_path / "nope.csv")
    bad = tmp_path / "x.xlsx"
    bad.write_text("x")
    with pytest.raises(DataError, match=r"expected a \.csv, \.csv\.gz, \.parquet or \.feather"):
        read_bars(bad)


def test_binance_funding_ms_and_freqtrade_funding(tmp_path: Path) -> None:
    ms = int(T0.timestamp() * 1000) + 8 * 3_600_000 + 7
    pl.DataFrame({"symbol": ["BTCUSDT"], "fundingTime": [ms], "fundingRate": [1e-4]}) \
        .write_parquet(tmp_path / "f.parquet")
    ev = read_funding(tmp_path / "f.parquet")
    assert ev["ts"][0] == T0 + timedelta(hours=8, milliseconds=7)
    ft = tmp_path / "ETH_USDT_USDT-8h-funding_rate.feather"
    pl.DataFrame({"date": [T0], "open": [2e-4]}).write_ipc(ft)
    ev2 = read_funding(ft)
    assert ev2.to_dicts() == [{"symbol": "ETHUSDT", "ts": T0, "funding_rate": 2e-4}]


def test_read_panel_with_funding(tmp_path: Path) -> None:
    bars = pl.DataFrame({
        "date": [T0 + timedelta(hours=h) for h in range(4)], "coin": "BTC",
        "open": 1.0, "high": 1.0, "low": 1.0, "close": 1.0, "volume": 1.0})
    bars.write_parquet(tmp_path / "b.parquet")
    pl.DataFrame({"coin": ["BTC", "BTC"],
                  "date": [T0 + timedelta(hours=1, milliseconds=40),
                           T0 + timedelta(hours=3, milliseconds=2)],
                  "funding_rate": [1e-5, 2e-5]}).write_parquet(tmp_path / "f.parquet")
    out = read_panel_with_funding(tmp_path / "b.parquet", tmp_path / "f.parquet")
    assert out["funding_rate"].to_list() == [1e-5, 0.0, 2e-5, None]
