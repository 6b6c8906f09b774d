"""Synthetic one-minute panels for the chunked risk model tests (a local stand-in for the
shared minute-panel generator): correlated GBM with a market factor, late listings, early
delistings and random missing bars."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from coinfactor.data import validate_panel

START = datetime(2024, 3, 1, 13, 7, tzinfo=UTC)   # not on a day boundary


def minute_panel(n_symbols: int = 8, n_bars: int = 5000, *, seed: int = 0,
                 step: timedelta = timedelta(minutes=1), gap_prob: float = 0.02,
                 ragged: bool = True) -> pl.DataFrame:
    """Canonical panel: r_i = beta_i m + e_i, prices exp(cumsum r); volume, trades, notional.

    With ``ragged``, coins list late (up to a quarter of the span) and delist early (the
    last quarter), and ``gap_prob`` of the bars are missing.
    """
    rng = np.random.default_rng(seed)
    m = rng.normal(0.0, 8e-4, n_bars)
    beta = rng.uniform(0.5, 1.5, n_symbols)
    ret = m[:, None] * beta + rng.normal(0.0, 6e-4, (n_bars, n_symbols))
    close = 100.0 * rng.uniform(0.1, 10.0, n_symbols) * np.exp(np.cumsum(ret, axis=0))
    frames = []
    ts = pl.datetime_range(START, START + (n_bars - 1) * step, step, eager=True,
                           time_zone="UTC").cast(pl.Datetime("us", "UTC"))
    for j in range(n_symbols):
        keep = np.ones(n_bars, dtype=bool)
        if ragged:
            keep[: int(rng.integers(0, n_bars // 4))] = False
            if rng.random() < 0.5:
                keep[int(rng.integers(3 * n_bars // 4, n_bars)):] = False
            keep &= rng.random(n_bars) >= gap_prob
        c = close[:, j]
        o = np.concatenate([[c[0]], c[:-1]])
        vol = rng.lognormal(3.0, 1.0, n_bars)
        frames.append(pl.DataFrame({
            "ts": ts, "symbol": f"C{j:03d}", "open": o,
            "high": np.maximum(o, c) * 1.0005, "low": np.minimum(o, c) * 0.9995,
            "close": c, "volume": vol, "quote_volume": vol * c,
            "trades": rng.integers(1, 500, n_bars).astype(np.int64),
        }).filter(pl.Series(keep)))
    return validate_panel(pl.concat(frames).sort("symbol", "ts"))


def write_folder(panel: pl.DataFrame, folder: Path, *, with_symbol: bool = False) -> Path:
    """One Parquet file per symbol, ``<symbol>.parquet`` (the symbol column dropped)."""
    folder.mkdir(parents=True, exist_ok=True)
    for (sym,), part in panel.group_by(["symbol"], maintain_order=True):
        (part if with_symbol else part.drop("symbol")).write_parquet(folder / f"{sym}.parquet")
    return folder
