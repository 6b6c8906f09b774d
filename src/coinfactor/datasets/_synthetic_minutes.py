"""SYNTHETIC one-minute bar panels for scale benchmarks and tests (not market data).

Nothing here is real: prices follow a correlated geometric Brownian motion with one market
factor, ``r[i, t] = beta_i * m[t] + e[i, t]`` (``m ~ N(0, market_vol)``,
``e ~ N(0, idio_vol_i)``, per minute), with listings (a coin starts late), delistings (a coin
ends early) and gaps (missing runs of minutes). Use the real one-minute data
(``coinfactor.datasets.load("binance-perp-1m")``) for correctness against the market; use this
for size.

The panel is produced one symbol at a time, so 500 coins x 525,600 minutes are never held at
once: :func:`synthetic_minute_symbols` yields one canonical frame per symbol (about 50 MB at
525,600 bars), and :func:`write_minute_files` writes each to its own file in seed 000's
layout (one file per symbol, named after it, bar open time in ``origin_time``), as CSV.gz or
Parquet. The market factor of the whole span is the only series shared by all symbols (8
bytes per minute). Every symbol is generated from its own seed (``seed``, symbol index), so
the frames do not depend on how many symbols are drawn or in which order.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import get_args

import numpy as np
import polars as pl

from coinfactor.core.typing import MinuteFileFormat

_MINUTE_US = 60_000_000
_FUNDING_EVERY = 8 * 60
"""Minutes between synthetic funding settlements (00:00, 08:00, 16:00 UTC)."""


def symbol_name(i: int) -> str:
    """Return the synthetic symbol of index ``i`` (``S0000USDT``); never a real venue id."""
    return f"S{i:04d}USDT"


def _market(n_bars: int, seed: int, market_vol: float) -> np.ndarray:
    return np.random.default_rng([seed, 0xFAC7]).normal(0.0, market_vol, n_bars)


def _one(i: int, market: np.ndarray, start_us: int, seed: int, *, listing_share: float,
         delisting_share: float, gap_share: float) -> pl.DataFrame:
    n = market.size
    rng = np.random.default_rng([seed, i + 1])
    beta = rng.uniform(0.5, 1.5)
    idio = rng.uniform(2e-4, 1.2e-3)
    ret = beta * market + rng.normal(0.0, idio, n)
    close = rng.uniform(0.05, 500.0) * np.exp(np.cumsum(ret))
    open_ = np.empty(n)
    open_[0] = close[0] * np.exp(-ret[0])
    open_[1:] = close[:-1]
    wick = np.abs(rng.normal(0.0, idio / 2, (2, n)))
    high = np.maximum(open_, close) * (1.0 + wick[0])
    low = np.minimum(open_, close) * (1.0 - wick[1])
    volume = rng.gamma(1.5, 200.0, n)
    trades = rng.poisson(40.0, n).astype(np.int64)
    minute = (start_us // _MINUTE_US) + np.arange(n, dtype=np.int64)
    # the 1m bar (ts, ts + 1m] holding a settlement: the one opening a minute before it
    settles = (minute + 1) % _FUNDING_EVERY == 0
    funding = np.where(settles, rng.normal(1e-4, 2e-4, n), 0.0)
    keep = np.ones(n, dtype=bool)
    if rng.random() < listing_share:
        keep[: rng.integers(1, n // 2)] = False
    if rng.random() < delisting_share:
        keep[n - rng.integers(1, n // 3):] = False
    n_gaps = rng.binomial(max(n // 10_000, 1), gap_share) if gap_share > 0 else 0
    for _ in range(n_gaps):
        at = rng.integers(0, n)
        keep[at: at + rng.integers(1, 240)] = False
    if not keep.any():
        keep[n // 2] = True
    ts = pl.Series("ts", minute[keep] * _MINUTE_US, dtype=pl.Int64).cast(
        pl.Datetime("us", "UTC"))
    return pl.DataFrame({
        "ts": ts,
        "symbol": pl.Series("symbol", [symbol_name(i)], dtype=pl.String).new_from_index(
            0, int(keep.sum())),
        "open": open_[keep], "high": high[keep], "low": low[keep], "close": close[keep],
        "volume": volume[keep], "quote_volume": volume[keep] * close[keep],
        "trades": trades[keep], "funding_rate": funding[keep],
        "open_interest": pl.Series("open_interest", [None] * int(keep.sum()),
                                   dtype=pl.Float64),
    })


def synthetic_minute_symbols(
    n_coins: int,
    n_bars: int,
    *,
    start: datetime = datetime(2024, 1, 1, tzinfo=UTC),
    seed: int = 0,
    market_vol: float = 8e-4,
    listing_share: float = 0.2,
    delisting_share: float = 0.1,
    gap_share: float = 0.5,
) -> Iterator[pl.DataFrame]:
    """Yield a SYNTHETIC one-minute canonical panel, one symbol's frame at a time.

    Parameters
    ----------
    n_coins : int
        Number of symbols (``S0000USDT``, ``S0001USDT``, ...).
    n_bars : int
        Minutes in the span from ``start`` (525,600 is a year); a symbol has at most that many.
    start : datetime, default 2024-01-01 UTC
        Open time of the first minute (UTC; truncated to the minute).
    seed : int, default 0
        Seed of the market factor and (with the symbol's index) of each symbol.
    market_vol : float, default 8e-4
        Per-minute standard deviation of the market factor's log return.
    listing_share, delisting_share : float, default 0.2 and 0.1
        Probability that a symbol lists after ``start`` (up to half the span late) or
        delists before the end (up to a third of the span early).
    gap_share : float, default 0.5
        Per 10,000 minutes, the probability of a gap of 1 to 239 missing minutes.

    Yields
    ------
    pl.DataFrame
        Canonical panel of one symbol, sorted by ``ts``: up to ``n_bars`` rows of ``ts``
        (bar open, UTC), ``symbol``, OHLC (quote units), ``volume`` (base), ``quote_volume``,
        ``trades``, ``funding_rate`` (a fraction, nonzero on the bar before each 8-hourly
        settlement, 0 elsewhere) and ``open_interest`` (null).

    Examples
    --------
    >>> frames = list(synthetic_minute_symbols(2, 1_440, seed=1))
    >>> [f.height <= 1_440 for f in frames], frames[0]["symbol"][0]
    ([True, True], 'S0000USDT')
    """
    if n_coins < 1 or n_bars < 1:
        raise ValueError(f"n_coins and n_bars must be >= 1, got {n_coins} and {n_bars}")
    start_us = int(start.astimezone(UTC).timestamp() * 1_000_000) // _MINUTE_US * _MINUTE_US
    market = _market(n_bars, seed, market_vol)
    for i in range(n_coins):
        yield _one(i, market, start_us, seed, listing_share=listing_share,
                   delisting_share=delisting_share, gap_share=gap_share)


def seed_layout(frame: pl.DataFrame) -> pl.DataFrame:
    """Rename a canonical frame to seed 000's per-symbol file columns (``origin_time``)."""
    return frame.rename({"ts": "origin_time"}).select(
        "origin_time", "symbol", "open", "high", "low", "close", "volume", "quote_volume",
        "trades", "funding_rate")


def write_minute_files(
    directory: str | Path,
    n_coins: int,
    n_bars: int,
    *,
    fmt: MinuteFileFormat = "parquet",
    start: datetime = datetime(2024, 1, 1, tzinfo=UTC),
    seed: int = 0,
    compresslevel: int = 1,
) -> list[Path]:
    """Write a SYNTHETIC minute panel as one file per symbol (seed 000's layout).

    Each file is ``<directory>/<SYMBOL>.<fmt>`` with the columns of :func:`seed_layout`:
    ``origin_time`` (bar open; ISO ``YYYY-MM-DD HH:MM:SS`` in UTC in CSV), ``symbol``, OHLC,
    ``volume``, ``quote_volume``, ``trades``, ``funding_rate``. One symbol is in memory at a
    time.

    Parameters
    ----------
    directory : str or Path
        Created if missing.
    n_coins, n_bars, start, seed
        As :func:`synthetic_minute_symbols` (its other settings at their defaults).
    fmt : {"parquet", "csv", "csv.gz"}, default "parquet"
        File format.
    compresslevel : int, default 1
        gzip level of ``csv.gz`` files (1 is fast; seed 000's files are ordinary gzip).

    Returns
    -------
    list of Path
        The files written, in symbol order.
    """
    if fmt not in get_args(MinuteFileFormat):
        raise ValueError(f"fmt must be one of {list(get_args(MinuteFileFormat))}, got {fmt!r}")
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    for frame in synthetic_minute_symbols(n_coins, n_bars, start=start, seed=seed):
        seed_frame = seed_layout(frame)
        path = out / f"{frame['symbol'][0]}.{fmt}"
        if fmt == "parquet":
            seed_frame.write_parquet(path, compression="zstd", compression_level=1)
        else:
            text = seed_frame.with_columns(
                pl.col("origin_time").dt.strftime("%Y-%m-%d %H:%M:%S")).write_csv()
            if fmt == "csv":
                path.write_text(text)
            else:
                with gzip.open(path, "wt", compresslevel=compresslevel) as fh:
                    fh.write(text)
        paths.append(path)
    return paths


def minute_span(n_bars: int, start: datetime = datetime(2024, 1, 1, tzinfo=UTC)
                ) -> tuple[datetime, datetime]:
    """First and last minute open of a synthetic span of ``n_bars`` minutes from ``start``."""
    first = start.astimezone(UTC).replace(second=0, microsecond=0)
    return first, first + timedelta(minutes=n_bars - 1)
