"""Rebuild coinfactor's embedded datasets from the raw exchange files.

Usage::

    python scripts/build_datasets.py [--raw ../shared/data/raw]

Reads the raw Parquet files described in ``shared/data/SOURCES.md`` and writes
``src/coinfactor/datasets/data/<name>.parquet`` plus ``catalog.json``. Every dataset is passed
through :func:`coinfactor.data.validate_panel` before it is written. The rules (which symbols,
which window, what is dropped) are in the ``DATASETS`` specs below and copied into the catalog.
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from coinfactor.data import attach_funding, validate_panel
from coinfactor.datasets import funding_coverage

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "src" / "coinfactor" / "datasets" / "data"
_RAW_CANDIDATES = (ROOT.parent / "shared" / "data" / "raw",
                   ROOT.parents[1] / "shared" / "data" / "raw")  # a checkout or a worktree
DEFAULT_RAW = next((c for c in _RAW_CANDIDATES if c.is_dir()), _RAW_CANDIDATES[0])

HL_SOURCE = (
    "Hyperliquid info API via freqtrade; repo hippocritical/freqtrade_hyperliquid_download-data "
    "@1ca28f43b845f94ecf028d4756d498f505dbfea2"
)
HL_LICENCE = (
    "repository GPL-3.0; the data are Hyperliquid API output under Hyperliquid's terms of use"
)
BN_SOURCE = (
    "Binance USD-M futures REST API (klines, fundingRate); repo silertrades/gravestone-data "
    "@e6c3307d89bdb3b477cdd21f44e9556fb5741f9c"
)
BN_LICENCE = (
    "repository states no licence; the data are Binance market data under Binance's API terms"
)
FT_SOURCE = (
    "Binance USD-M futures klines and funding via freqtrade; repo Alpergulsen/freqtrade "
    "@4b7ca2f0f9a9117f006a5ece5b1fb128f0061788"
)
FT_LICENCE = (
    "repository GPL-3.0; the data are Binance market data under Binance's API terms"
)
BN_1M_WINDOW = (datetime(2023, 7, 19, tzinfo=UTC), datetime(2023, 8, 2, tzinfo=UTC))
"""The UTC days every one of the 18 one-minute symbols covers (their windows differ)."""
FUNDING_RULE = (
    "each funding event placed at its settlement time (coinfactor.data.snap_funding_events: "
    "the nearest point, from UTC midnight, of the whole-hour schedule its neighbours sit on) "
    "and summed into the bar (ts, ts+freq] it settles in; 0 between settlements"
)
HL_1H_SELECTED_BEFORE = datetime(2025, 3, 3, tzinfo=UTC)
"""The hourly Hyperliquid coins are chosen on bars before this (the hedge study's first
decision is 2025-03-03 12:00), so the universe holds no coin known only from later data."""


def _hl_bars(raw: Path, file: str) -> pl.DataFrame:
    df = pl.read_parquet(raw / "hyperliquid_freqtrade" / file).rename(
        {"coin": "symbol", "date": "ts"}
    )
    # pre-listing reference candles: drop every row before a coin's first traded bar
    first_trade = df.filter(pl.col("volume") > 0).group_by("symbol").agg(
        pl.col("ts").min().alias("_first")
    )
    df = df.join(first_trade, on="symbol", how="inner").filter(pl.col("ts") >= pl.col("_first"))
    return df.drop("_first").with_columns(pl.col("ts").dt.cast_time_unit("us")).sort("symbol", "ts")


def _drop_broken_ohlc(df: pl.DataFrame) -> tuple[pl.DataFrame, int]:
    ok = (
        (pl.col("high") >= pl.col("low"))
        & pl.col("open").is_between(pl.col("low"), pl.col("high"))
        & pl.col("close").is_between(pl.col("low"), pl.col("high"))
    )
    return df.filter(ok), df.filter(~ok).height


def _hl_funding(raw: Path) -> pl.DataFrame:
    return pl.read_parquet(raw / "hyperliquid_freqtrade" / "funding_rate_1h.parquet").rename(
        {"coin": "symbol", "date": "ts"}
    )


def _bn_bars(raw: Path, file: str) -> pl.DataFrame:
    df = pl.read_parquet(raw / "binance_um_gravestone" / file)
    df = df.with_columns(
        pl.from_epoch("open_time", time_unit="ms").dt.replace_time_zone("UTC")
        .dt.cast_time_unit("us").alias("ts")
    ).drop("open_time", "close_time")
    # the snapshot was taken intraday: the last bar of every series is incomplete
    last = df.group_by("symbol").agg(pl.col("ts").max().alias("_last"))
    df = df.join(last, on="symbol").filter(pl.col("ts") < pl.col("_last")).drop("_last")
    return df.sort("symbol", "ts")


def _bn_funding(raw: Path) -> pl.DataFrame:
    return pl.read_parquet(raw / "binance_um_gravestone" / "funding_rates.parquet").rename(
        {"funding_time": "ts"}
    )


def _top_by_median_notional(df: pl.DataFrame, n: int, must: tuple[str, ...] = ()) -> list[str]:
    notional = pl.col("quote_volume") if "quote_volume" in df.columns else (
        pl.col("volume") * pl.col("close")
    )
    daily = (
        df.with_columns(notional.alias("_n"), pl.col("ts").dt.truncate("1d").alias("_d"))
        .group_by("symbol", "_d").agg(pl.col("_n").sum())
        .group_by("symbol").agg(pl.col("_n").median().alias("med"))
        .sort(["med", "symbol"], descending=[True, False])
    )
    ranked = daily["symbol"].to_list()
    chosen = [s for s in must if s in ranked]
    for s in ranked:
        if len(chosen) >= n:
            break
        if s not in chosen:
            chosen.append(s)
    return sorted(chosen)


def build_hyperliquid_1d(raw: Path) -> tuple[pl.DataFrame, dict]:
    df, broken = _drop_broken_ohlc(_hl_bars(raw, "ohlcv_1d.parquet"))
    panel = attach_funding(validate_panel(df, freq="1d"), _hl_funding(raw), "1d")
    return panel, {
        "name": "hyperliquid-perp-1d",
        "description": "Every Hyperliquid perp (delisted coins kept), daily OHLCV with daily "
        "funding (sum of the hourly, earlier 8h, settlements in (ts, ts+1d]); no quote volume "
        "or trade count (the venue export has none)",
        "source": HL_SOURCE,
        "licence": HL_LICENCE,
        "rule": "ohlcv_1d.parquet: rows before each coin's first bar with volume > 0 dropped "
        f"(pre-listing reference candles); {broken} bar(s) breaking OHLC ordering dropped; "
        f"funding from funding_rate_1h.parquet, {FUNDING_RULE}, null before a coin's first "
        "funding event",
    }


def build_hyperliquid_1h(raw: Path) -> tuple[pl.DataFrame, dict]:
    start, end = datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 7, 26, tzinfo=UTC)
    df = _hl_bars(raw, "ohlcv_1h.parquet").filter(pl.col("ts").is_between(start, end,
                                                                           closed="left"))
    df, broken = _drop_broken_ohlc(df)
    before = df.filter(pl.col("ts") < HL_1H_SELECTED_BEFORE)
    if "BERA" not in set(before["symbol"].to_list()):
        raise SystemExit(f"BERA has no bar before {HL_1H_SELECTED_BEFORE:%Y-%m-%d}: the forced "
                         "member of hyperliquid-perp-1h is not listed yet")
    symbols = _top_by_median_notional(before, 40, must=("BERA",))
    bera_listed = before.filter(pl.col("symbol") == "BERA")["ts"].min()
    df = df.filter(pl.col("symbol").is_in(symbols))
    panel = attach_funding(validate_panel(df, freq="1h"), _hl_funding(raw), "1h")
    return panel, {
        "name": "hyperliquid-perp-1h",
        "description": "The 40 most liquid Hyperliquid perps before 2025-03-03 (BERA "
        "included), hourly OHLCV with hourly funding, 2025-01-01 to 2025-07-25",
        "source": HL_SOURCE,
        "licence": HL_LICENCE,
        "rule": "ohlcv_1h.parquet from 2025-01-01; pre-listing rows dropped; "
        f"{broken} bar(s) breaking OHLC ordering dropped; coins chosen on information "
        "available before the hedge study's first decision (2025-03-03 12:00): ranked by "
        "median daily notional (volume x close, UTC days) over their bars from 2025-01-01 to "
        "2025-03-02 (coins listed later cannot be chosen), top 40 kept, BERA (listed "
        f"{bera_listed:%Y-%m-%d}) forced in; every bar of the chosen coins to 2025-07-25 "
        f"kept; funding from funding_rate_1h.parquet, {FUNDING_RULE}",
    }


def _build_binance(raw: Path, file: str, freq: str, n: int, days: int | None,
                   name: str, desc: str) -> tuple[pl.DataFrame, dict]:
    df = _bn_bars(raw, file)
    if days is not None:
        end = df["ts"].max()
        df = df.filter(pl.col("ts") > end - pl.duration(days=days))
    symbols = _top_by_median_notional(df, n)
    df = df.filter(pl.col("symbol").is_in(symbols))
    panel = attach_funding(validate_panel(df, freq=freq), _bn_funding(raw), freq)
    return panel, {
        "name": name,
        "description": desc,
        "source": BN_SOURCE,
        "licence": BN_LICENCE,
        "rule": f"{file}: last (incomplete) bar of each symbol dropped; "
        + (f"last {days} days; " if days else "")
        + f"top {n} symbols by median daily quote volume; funding from funding_rates.parquet, "
        f"{FUNDING_RULE} (only the last 200 events per symbol exist: funding is null before "
        "2026-01-12); survivorship-biased (symbols trading on 2026-03-19 only)",
    }


def build_binance_1m(raw: Path) -> tuple[pl.DataFrame, dict]:
    lo, hi = BN_1M_WINDOW
    folder = raw / "binance_um_freqtrade_2023"
    df = pl.read_parquet(folder / "ohlcv_1m.parquet").rename({"date": "ts"}).filter(
        (pl.col("ts") >= lo) & (pl.col("ts") < hi)
    ).with_columns(pl.col("ts").dt.cast_time_unit("us")).sort("symbol", "ts")
    df, broken = _drop_broken_ohlc(df)
    funding = pl.read_parquet(folder / "funding_rate_8h.parquet").rename({"date": "ts"})
    panel = attach_funding(validate_panel(df, freq="1m"), funding, "1m")
    return panel, {
        "name": "binance-perp-1m",
        "description": "18 Binance USD-M perps, one-minute OHLCV (base volume) with 8-hourly "
        f"funding, {lo:%Y-%m-%d} to {hi:%Y-%m-%d} (the days all 18 cover); no quote volume or "
        "trade count (the freqtrade export has none)",
        "source": FT_SOURCE,
        "licence": FT_LICENCE,
        "rule": f"ohlcv_1m.parquet, bars opening {lo:%Y-%m-%d} 00:00 to {hi:%Y-%m-%d} 00:00 "
        f"UTC (exclusive); {broken} bar(s) breaking OHLC ordering dropped; funding from "
        f"funding_rate_8h.parquet, {FUNDING_RULE}",
    }


def build_all(raw: Path) -> list[tuple[pl.DataFrame, dict]]:
    return [
        build_hyperliquid_1d(raw),
        build_hyperliquid_1h(raw),
        _build_binance(raw, "klines_4h_top150.parquet", "4h", 60, 365, "binance-perp-4h",
                       "The 60 most liquid Binance USD-M perps, 4h bars with quote volume and "
                       "trades, one year to 2026-03-19"),
        _build_binance(raw, "klines_1h_top100.parquet", "1h", 40, None, "binance-perp-1h",
                       "The 40 most liquid Binance USD-M perps, hourly bars with quote volume "
                       "and trades, 2025-09-13 to 2026-03-19"),
        build_binance_1m(raw),
    ]


def _entry(panel: pl.DataFrame, meta: dict) -> dict:
    """Catalog entry of a built dataset (all but its file size)."""
    return {
        **meta,
        "file": f"{meta['name']}.parquet",
        "freq": {"1d": "1d", "1h": "1h", "4h": "4h", "1m": "1m"}[meta["name"].rsplit("-", 1)[1]],
        "symbols": panel["symbol"].n_unique(),
        "rows": panel.height,
        "start": panel["ts"].min().isoformat(),  # type: ignore[union-attr]
        "end": panel["ts"].max().isoformat(),  # type: ignore[union-attr]
        **funding_coverage(panel),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--raw", type=Path, default=DEFAULT_RAW)
    parser.add_argument("--check", action="store_true",
                        help="rebuild in memory and compare with the committed files")
    args = parser.parse_args()
    if args.check:
        catalog = {d["name"]: d for d in json.loads((OUT / "catalog.json").read_text())}
        for panel, meta in build_all(args.raw):
            committed = pl.read_parquet(OUT / f"{meta['name']}.parquet")
            entry = {k: v for k, v in catalog.get(meta["name"], {}).items() if k != "bytes"}
            same = committed.equals(panel) and entry == _entry(panel, meta)
            print(f"{meta['name']}: {'identical' if same else 'DIFFERENT'}")
            if not same:
                raise SystemExit(1)
        return
    OUT.mkdir(parents=True, exist_ok=True)
    catalog_out = []
    for panel, meta in build_all(args.raw):
        file = f"{meta['name']}.parquet"
        panel.write_parquet(OUT / file, compression="zstd", compression_level=19,
                            statistics=False)
        catalog_out.append({**_entry(panel, meta), "bytes": (OUT / file).stat().st_size})
        print(f"{meta['name']}: {panel.height} rows, {panel['symbol'].n_unique()} symbols, "
              f"{(OUT / file).stat().st_size / 1e6:.1f} MB")
    (OUT / "catalog.json").write_text(json.dumps(catalog_out, indent=2) + "\n")


if __name__ == "__main__":
    main()
