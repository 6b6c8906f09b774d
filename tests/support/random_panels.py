"""Random ragged canonical panels: :func:`ragged_panel` (hourly, for the signal, universe and
tearsheet tests of issue 4) and :func:`ragged_daily_panel` (daily perps, for the fast paths)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl

from coinfactor.core.time import timedelta_to_freq
from coinfactor.data import regularize, validate_panel

START = datetime(2024, 1, 1, tzinfo=UTC)


def ragged_panel(
    seed: int,
    *,
    n_symbols: int = 5,
    n_bars: int = 60,
    step: timedelta = timedelta(hours=1),
    gap_prob: float = 0.08,
    quote_volume: bool = True,
    ties: bool = False,
) -> pl.DataFrame:
    """A panel with late listings, delistings, random gaps (missing bars) and null funding.

    Prices follow a random walk; high/low bracket open and close; volume varies (some zero);
    quote_volume is present on most bars (null on some, or on all when quote_volume=False);
    funding_rate is null on a few bars; with ties=True volumes and funding repeat values.
    """
    rng = np.random.default_rng(seed)
    rows = []
    for j in range(n_symbols):
        sym = f"S{j:02d}"
        first = int(rng.integers(0, n_bars // 4))
        last = int(rng.integers(3 * n_bars // 4, n_bars + 1))
        price = float(rng.uniform(0.5, 200.0))
        for i in range(first, last):
            ret = float(rng.normal(0.0, 0.03))
            o = price
            c = price * float(np.exp(ret))
            price = c
            if rng.random() < gap_prob:
                continue
            hi = max(o, c) * float(np.exp(abs(rng.normal(0.0, 0.01))))
            lo = min(o, c) * float(np.exp(-abs(rng.normal(0.0, 0.01))))
            vol = float(rng.choice([0.0, 1.0, 2.0])) if ties else float(rng.lognormal(5.0, 1.0))
            if rng.random() < 0.03:
                vol = 0.0
            qv = vol * (hi + lo) / 2 if quote_volume and rng.random() > 0.1 else None
            fr = (float(rng.choice([1e-4, -5e-5, 1e-4])) if ties
                  else float(rng.normal(5e-5, 2e-4)))
            rows.append({
                "ts": START + i * step, "symbol": sym, "open": o, "high": hi, "low": lo,
                "close": c, "volume": vol, "quote_volume": qv,
                "trades": int(rng.integers(1, 1000)),
                "funding_rate": None if rng.random() < 0.05 else fr,
            })
    schema = {"quote_volume": pl.Float64, "funding_rate": pl.Float64}
    frame = pl.DataFrame(rows, schema_overrides=schema).sort("symbol", "ts")
    return validate_panel(frame, freq=timedelta_to_freq(step))


def lookup(panel: pl.DataFrame) -> dict[tuple[str, datetime], dict]:
    """Map (symbol, ts) -> row dict, for naive per-row reference loops."""
    return {(r["symbol"], r["ts"]): r for r in panel.iter_rows(named=True)}


def ragged_daily_panel(n_s: int = 24, n_t: int = 140, seed: int = 0, *, filled: bool = False
                       ) -> pl.DataFrame:
    """Daily perp panel: staggered listings, ~8% missing bars, some null funding."""
    rng = np.random.default_rng(seed)
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    rows = []
    for j in range(n_s):
        start = 0 if j < n_s // 2 else int(rng.integers(0, n_t // 3))
        close = 50 * np.exp(np.cumsum(rng.normal(0, 0.04, n_t)))
        level = rng.normal(1e-4, 3e-4)
        for t in range(start, n_t):
            if t > start and rng.random() < 0.08:
                continue
            c = float(close[t])
            fund = None if rng.random() < 0.03 else float(level + rng.normal(0, 2e-4))
            rows.append({"ts": t0 + timedelta(days=t), "symbol": f"S{j:02d}", "open": c,
                         "high": c * 1.01, "low": c * 0.99, "close": c,
                         "volume": float(np.exp(rng.normal(12, 1.0))), "funding_rate": fund})
    panel = validate_panel(pl.DataFrame(rows).sort("symbol", "ts"))
    return regularize(panel) if filled else panel
