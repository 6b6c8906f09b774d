"""Cut the real one-minute test fixture from ../shared/data/raw (Binance perps, July 2023).

Run from the repository root: ``python scripts/build_minute_fixture.py [RAW_DIR]``. It writes
``tests/fixtures/minutes_1m/<SYMBOL>.csv.gz``, one file per symbol in seed 000's layout (bar
open in ``origin_time`` as ``YYYY-MM-DD HH:MM:SS`` UTC, then ``symbol, open, high, low,
close, volume``), for :data:`SYMBOLS` over :data:`WINDOW`, a window that crosses a month end
(so the store's month partitions and daily rollups meet a boundary). Every value is a real
Binance USD-M kline from ``binance_um_freqtrade_2023/ohlcv_1m.parquet`` (freqtrade download,
repository Alpergulsen/freqtrade, GPL-3.0; see SOURCES.md there): rows are only selected and
the times written as text, nothing else is changed. The gzip stream is written with
``mtime=0``, so a rebuild gives the same bytes.
"""

from __future__ import annotations

import gzip
import sys
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

_ROOT = Path(__file__).resolve().parents[1]
_CANDIDATES = [_ROOT.parent / "shared" / "data" / "raw",
               _ROOT.parents[1] / "shared" / "data" / "raw"]
RAW = Path(sys.argv[1]) if len(sys.argv) > 1 else next(
    (c for c in _CANDIDATES if c.is_dir()), _CANDIDATES[0])
OUT = _ROOT / "tests" / "fixtures" / "minutes_1m"

SYMBOLS = ["BTCUSDT", "DASHUSDT", "ETHUSDT", "XMRUSDT"]
WINDOW = (datetime(2023, 7, 31, tzinfo=UTC), datetime(2023, 8, 2, tzinfo=UTC))


def main() -> None:
    lo, hi = WINDOW
    bars = pl.read_parquet(RAW / "binance_um_freqtrade_2023" / "ohlcv_1m.parquet").filter(
        pl.col("symbol").is_in(SYMBOLS) & (pl.col("date") >= lo) & (pl.col("date") < hi)
    ).sort("symbol", "date")
    OUT.mkdir(parents=True, exist_ok=True)
    for (symbol,), frame in bars.group_by("symbol", maintain_order=True):
        text = frame.select(
            pl.col("date").dt.strftime("%Y-%m-%d %H:%M:%S").alias("origin_time"),
            "symbol", "open", "high", "low", "close", "volume",
        ).write_csv()
        with (OUT / f"{symbol}.csv.gz").open("wb") as raw, \
                gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=9, mtime=0) as gz:
            gz.write(text.encode())
        print(f"{symbol}: {frame.height} minutes")


if __name__ == "__main__":
    main()
