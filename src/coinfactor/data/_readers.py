"""Readers for bar and funding files: CSV (plain or gzip), Parquet, Feather.

Column names are mapped to the canonical panel from a table of common aliases (seed and
exchange shapes: ``origin_time``, ``ticker``, ``coin``/``date``, Binance ``open_time`` in
epoch ms, freqtrade feather files whose symbol is in the file name); an explicit ``mapping``
overrides them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import polars as pl

from coinfactor.core.errors import DataError
from coinfactor.data._funding import attach_funding, validate_funding_events
from coinfactor.data._schema import PANEL_SCHEMA, infer_freq, validate_panel

ALIASES: dict[str, tuple[str, ...]] = {
    "ts": ("ts", "open_time", "origin_time", "timestamp", "time", "date", "datetime",
           "funding_time", "fundingtime"),
    "symbol": ("symbol", "ticker", "coin", "pair", "instrument"),
    "open": ("open", "o"),
    "high": ("high", "h"),
    "low": ("low", "l"),
    "close": ("close", "c"),
    "volume": ("volume", "v", "base_volume"),
    "quote_volume": ("quote_volume", "quote_asset_volume", "dollar_volume", "notional",
                     "volume_notional", "quotevolume"),
    "trades": ("trades", "number_of_trades", "trade_count", "count", "num_trades"),
    "funding_rate": ("funding_rate", "fundingrate", "rate"),
    "open_interest": ("open_interest", "sum_open_interest_value", "oi_usd"),
}
"""Canonical column -> accepted source names (case-insensitive), first match wins."""

_FREQTRADE_NAME = re.compile(r"^(?P<base>[A-Za-z0-9]+)_(?P<quote>[A-Za-z]+)(?:_[A-Za-z]+)?-")


def _read_any(path: Path) -> pl.DataFrame:
    name = path.name.lower()
    if name.endswith((".parquet", ".pq")):
        return pl.read_parquet(path)
    if name.endswith((".feather", ".arrow", ".ipc")):
        return pl.read_ipc(path)
    if name.endswith((".csv", ".csv.gz", ".txt", ".tsv")):
        sep = "\t" if name.endswith(".tsv") else ","
        return pl.read_csv(path, separator=sep, try_parse_dates=False, infer_schema_length=10000)
    raise DataError(
        f"read: expected a .csv, .csv.gz, .parquet or .feather file, got {path.name!r}",
        fix="convert the file or pass one of the supported formats",
    )


def _rename(df: pl.DataFrame, mapping: Mapping[str, str] | None) -> pl.DataFrame:
    if mapping:
        absent = [src for src in mapping if src not in df.columns]
        if absent:
            raise DataError(
                f"read: mapping names column(s) {absent} that the file lacks; got {df.columns}",
                fix="map from columns the file has: {source_name: canonical_name}",
            )
        df = df.rename(dict(mapping))
    lower = {c.lower(): c for c in df.columns}
    renames: dict[str, str] = {}
    for canonical, aliases in ALIASES.items():
        if canonical in df.columns:
            continue
        for alias in aliases:
            src = lower.get(alias)
            if src is not None and src not in renames and src not in PANEL_SCHEMA:
                renames[src] = canonical
                break
    return df.rename(renames)


def symbol_from_filename(path: str | Path) -> str | None:
    """Symbol of a per-symbol file (``BTC_USDT_USDT-1h-futures.feather`` -> ``BTCUSDT``).

    Returns None when the name does not follow the freqtrade pattern.
    """
    m = _FREQTRADE_NAME.match(Path(path).name)
    if not m:
        return None
    base, quote = m.group("base"), m.group("quote")
    return base if quote.upper() == "USDC" else f"{base}{quote}".upper()


def read_bars(
    path: str | Path,
    *,
    mapping: Mapping[str, str] | None = None,
    symbol: str | None = None,
    tz: str = "UTC",
    freq: str | None = None,
) -> pl.DataFrame:
    """Read a bar file into a validated canonical panel.

    Parameters
    ----------
    path : str or Path
        CSV (``.csv`` or ``.csv.gz``), Parquet or Feather file, long (with a symbol column) or
        one symbol per file.
    mapping : mapping of str to str, optional
        ``{source column: canonical column}``; applied before the built-in aliases.
    symbol : str, optional
        Symbol for a single-symbol file without a symbol column (default: parsed from a
        freqtrade file name such as ``BTC_USDT_USDT-1h-futures.feather``).
    tz : str, default "UTC"
        Time zone of naive timestamps in the file; converted to UTC.
    freq : str, optional
        Expected bar frequency (inferred when omitted).

    Returns
    -------
    pl.DataFrame
        Canonical panel sorted by (symbol, ts); unmapped extra columns are dropped.
    """
    p = Path(path)
    if not p.exists():
        raise DataError(f"read: no such file {str(p)!r}", fix="check the path")
    df = _rename(_read_any(p), mapping)
    if "symbol" not in df.columns:
        sym = symbol or symbol_from_filename(p)
        if sym is None:
            raise DataError(
                f"read: {p.name!r} has no symbol column (got {df.columns}) and its name does "
                "not tell the symbol",
                column="symbol",
                fix="pass symbol='BTCUSDT' or mapping={'<your column>': 'symbol'}",
            )
        df = df.with_columns(pl.lit(sym).alias("symbol"))
    if "ts" in df.columns:
        dtype = df.schema["ts"]
        if isinstance(dtype, pl.Datetime) and dtype.time_zone is None:
            df = df.with_columns(
                pl.col("ts").dt.replace_time_zone(tz).dt.convert_time_zone("UTC")
            )
        elif dtype == pl.String and tz != "UTC":
            df = df.with_columns(
                pl.col("ts").str.to_datetime(time_unit="us")
                .dt.replace_time_zone(tz).dt.convert_time_zone("UTC")
            )
    keep = [c for c in PANEL_SCHEMA if c in df.columns]
    df = df.select(keep)
    df = validate_panel(df.sort("symbol", "ts") if "ts" in df.columns else df, freq=freq)
    return df


def read_funding(
    path: str | Path,
    *,
    mapping: Mapping[str, str] | None = None,
    symbol: str | None = None,
) -> pl.DataFrame:
    """Read a funding-event file into ``symbol, ts, funding_rate`` (one row per event).

    Accepts epoch-ms times (Binance ``fundingTime``), tz-aware datetimes and freqtrade funding
    feathers (rate in the ``open`` column, symbol in the file name).
    """
    p = Path(path)
    if not p.exists():
        raise DataError(f"read_funding: no such file {str(p)!r}", fix="check the path")
    raw = _read_any(p)
    if "funding_rate" not in raw.columns and "open" in raw.columns and mapping is None:
        raw = raw.rename({"open": "funding_rate"})  # freqtrade stores the rate in 'open'
    df = _rename(raw, mapping)
    if "symbol" not in df.columns:
        sym = symbol or symbol_from_filename(p)
        if sym is None:
            raise DataError(
                f"read_funding: {p.name!r} has no symbol column and its name does not tell one",
                fix="pass symbol=...",
            )
        df = df.with_columns(pl.lit(sym).alias("symbol"))
    return validate_funding_events(df)


def read_panel_with_funding(
    bars_path: str | Path,
    funding_path: str | Path,
    *,
    freq: str | None = None,
) -> pl.DataFrame:
    """Read bars and funding events and join them into one panel (see :func:`attach_funding`)."""
    panel = read_bars(bars_path, freq=freq)
    events = read_funding(funding_path)
    return attach_funding(panel, events, freq or infer_freq(panel))
