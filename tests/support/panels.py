"""Hand-made canonical panels: :func:`make_panel` from close paths, and the store tests' panel."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl

from coinfactor.data import validate_panel


def make_panel(
    closes: dict[str, list[float | None]],
    *,
    start: datetime = datetime(2024, 1, 1, tzinfo=UTC),
    step: timedelta = timedelta(hours=1),
    funding: dict[str, list[float | None]] | None = None,
    volume: float = 100.0,
) -> pl.DataFrame:
    """Build a canonical panel from per-symbol close paths; None marks a missing bar.

    Bars are flat except that open = previous close, so high/low bracket open and close.
    """
    rows = []
    for sym, path in closes.items():
        prev = None
        for i, c in enumerate(path):
            if c is None:
                prev = None
                continue
            o = prev if prev is not None else c
            rows.append({
                "ts": start + i * step, "symbol": sym, "open": o, "high": max(o, c),
                "low": min(o, c), "close": c, "volume": volume, "quote_volume": volume * c,
                "trades": 10,
                "funding_rate": (funding or {}).get(sym, [0.0] * len(path))[i],
            })
            prev = c
    return validate_panel(pl.DataFrame(rows).sort("symbol", "ts"))


def store_panel() -> pl.DataFrame:
    """Three USDT symbols (a gap in B, a late listing of C) with every optional column set."""
    p = make_panel({
        "AUSDT": [100.0, 101.0, 102.0, 101.0, 103.0, 104.0],
        "BUSDT": [10.0, 10.5, None, 10.2, 10.4, 10.1],
        "CUSDT": [None, None, 5.0, 5.5, 5.25, 5.5],
    })
    # keep every optional column non-trivial; funding null so the store fills it
    return p.with_columns(
        pl.lit(None, pl.Float64).alias("funding_rate"),
        (pl.col("close") * 1000).alias("open_interest"),
    )
