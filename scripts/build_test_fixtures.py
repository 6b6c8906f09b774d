"""Cut the small venue fixtures the ingestion tests serve from ../shared/data/raw.

Run from the repository root: ``python scripts/build_test_fixtures.py [RAW_DIR]``. It writes
``tests/fixtures/*.parquet`` and ``tests/fixtures/README.md``. Every price, volume, trade count,
funding rate and open interest is a real value from the raw files (see SOURCES.md there); the
test server (tests/support/fakevenue.py) only reshapes them into each venue's wire format.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

_ROOT = Path(__file__).resolve().parents[1]
_CANDIDATES = [_ROOT.parent / "shared" / "data" / "raw",
               _ROOT.parents[1] / "shared" / "data" / "raw"]
RAW = Path(sys.argv[1]) if len(sys.argv) > 1 else next(
    (c for c in _CANDIDATES if c.is_dir()), _CANDIDATES[0])
OUT = Path(__file__).resolve().parents[1] / "tests" / "fixtures"

BINANCE_SYMBOLS = ["1000PEPEUSDT", "BTCUSDT", "ETHUSDT", "HYPEUSDT"]
BINANCE_WINDOW = (datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 5, tzinfo=UTC))
HL_COINS = ["BERA", "BTC", "ETH"]
HL_WINDOW = (datetime(2025, 7, 1, tzinfo=UTC), datetime(2025, 7, 5, tzinfo=UTC))
TIINGO_TICKERS = {"btcusdt": "BTCUSDT", "ethusdt": "ETHUSDT"}


def _ms(dt: datetime) -> int:
    return int(dt.timestamp() * 1000)


def _binance_cut(table: str, time_col: str, out: str, *, bar_open: bool = False) -> None:
    """Write the fixture symbols' rows of one Binance raw table in the window, sorted.

    ``bar_open``: the time is a bar's open, so the bar starting at the window's end is left out.
    """
    lo, hi = (_ms(t) for t in BINANCE_WINDOW)
    pl.read_parquet(RAW / "binance_um_gravestone" / f"{table}.parquet").filter(
        pl.col("symbol").is_in(BINANCE_SYMBOLS)
        & pl.col(time_col).is_between(lo, hi - 1 if bar_open else hi)
    ).sort("symbol", time_col).write_parquet(OUT / out)


def binance() -> None:
    _binance_cut("klines_1h_top100", "open_time", "binance_klines_1h.parquet", bar_open=True)
    _binance_cut("funding_rates", "funding_time", "binance_funding.parquet")
    _binance_cut("open_interest_1d", "timestamp", "binance_open_interest_1d.parquet")
    _binance_cut("open_interest_4h", "timestamp", "binance_open_interest_4h.parquet")


def hyperliquid() -> None:
    lo, hi = HL_WINDOW
    k = pl.read_parquet(RAW / "hyperliquid_freqtrade" / "ohlcv_1h.parquet").filter(
        pl.col("coin").is_in(HL_COINS) & (pl.col("date") >= lo) & (pl.col("date") < hi)
    ).with_columns(pl.col("date").dt.cast_time_unit("ms")).sort("coin", "date")
    k.write_parquet(OUT / "hyperliquid_ohlcv_1h.parquet")
    f = pl.read_parquet(RAW / "hyperliquid_freqtrade" / "funding_rate_1h.parquet").filter(
        pl.col("coin").is_in(HL_COINS) & (pl.col("date") > lo) & (pl.col("date") <= hi)
    ).with_columns(pl.col("date").dt.cast_time_unit("ms")).sort("coin", "date")
    f.write_parquet(OUT / "hyperliquid_funding_1h.parquet")
    oi = pl.read_parquet(RAW / "multivenue_finm33150" / "open_interest.parquet").filter(
        (pl.col("venue") == "hyperliquid") & pl.col("coin").is_in(HL_COINS)
    ).sort("coin", "timestamp").group_by("coin", maintain_order=True).first()
    oi.select("coin", "timestamp", "oi_usd").write_parquet(OUT / "hyperliquid_oi_usd.parquet")


def tiingo() -> None:
    lo, hi = (_ms(t) for t in BINANCE_WINDOW)
    k = pl.read_parquet(RAW / "binance_um_gravestone" / "klines_1h_top100.parquet").filter(
        pl.col("symbol").is_in(list(TIINGO_TICKERS.values()))
        & pl.col("open_time").is_between(lo, hi - 1)
    )
    back = {v: k for k, v in TIINGO_TICKERS.items()}
    k = k.with_columns(pl.col("symbol").replace_strict(back).alias("ticker")).select(
        "ticker", "open_time", "open", "high", "low", "close", "volume", "quote_volume",
        "trades").sort("ticker", "open_time")
    k.write_parquet(OUT / "tiingo_binance_1h.parquet")


README = """# Test fixtures (real data, cut by scripts/build_test_fixtures.py)

| file | source (../shared/data/raw) | rows |
|---|---|---|
| binance_klines_1h.parquet | binance_um_gravestone/klines_1h_top100 ({b}, 2026-03-01..05) | {n1} |
| binance_funding.parquet | binance_um_gravestone/funding_rates (same symbols and window) | {n2} |
| binance_open_interest_1d.parquet | binance_um_gravestone/open_interest_1d | {n3} |
| binance_open_interest_4h.parquet | binance_um_gravestone/open_interest_4h | {n8} |
| hyperliquid_ohlcv_1h.parquet | hyperliquid_freqtrade/ohlcv_1h ({h}, 2025-07-01..05) | {n4} |
| hyperliquid_funding_1h.parquet | hyperliquid_freqtrade/funding_rate_1h (same) | {n5} |
| hyperliquid_oi_usd.parquet | multivenue_finm33150/open_interest (first Hyperliquid row \
per coin; a later date than the bars) | {n6} |
| tiingo_binance_1h.parquet | the Binance klines of btcusdt/ethusdt, served in Tiingo's \
format as its BINANCE exchange data | {n7} |

Licences: binance_um_gravestone has none stated (Binance API data), hyperliquid_freqtrade is
GPL-3.0, multivenue_finm33150 is the Unlicense. The fixtures are test data only and are not
shipped in the package. Fields a wire format needs but the raw files lack are filled by the test
server and documented there (Binance markPrice = the close of the bar ending at settlement,
Hyperliquid premium = 0, Hyperliquid maxLeverage/szDecimals = the venue's published settings,
Binance 4h and 1d klines = the 1h klines aggregated, the still-open bar with provisional
values).
"""


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    binance()
    hyperliquid()
    tiingo()
    n = {f"n{i}": pl.read_parquet(OUT / name).height for i, name in enumerate([
        "binance_klines_1h.parquet", "binance_funding.parquet",
        "binance_open_interest_1d.parquet", "hyperliquid_ohlcv_1h.parquet",
        "hyperliquid_funding_1h.parquet", "hyperliquid_oi_usd.parquet",
        "tiingo_binance_1h.parquet", "binance_open_interest_4h.parquet"], start=1)}
    (OUT / "README.md").write_text(README.format(b=", ".join(BINANCE_SYMBOLS),
                                                 h=", ".join(HL_COINS), **n))
    for p in sorted(OUT.glob("*.parquet")):
        print(p.name, p.stat().st_size)


if __name__ == "__main__":
    main()
