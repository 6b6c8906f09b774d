"""A small synthetic hedge panel and ``hedge_basket`` settings that fit it.

Four hourly perps driven by one market factor and a target ``T`` made of A and C plus noise;
every bar has a price and a funding rate (no missing data, so no warnings).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl

from coinfactor.data import validate_panel
from coinfactor.studies import hedge_basket as hbs

START = datetime(2025, 1, 1, tzinfo=UTC)

SMALL = hbs.Config(
    target="T", start="2025-01-15T12:00:00", lookback="10d", volume_lookback="3d",
    basket_usd=1e6, min_daily_volume_usd=0.0, bootstrap_sims=50, bootstrap_horizon="30d",
    bootstrap_block="2d", pca_diagnostic_components=2,
)
"""Hedge settings for :func:`hedge_panel` (short windows, a small bootstrap)."""


def hedge_panel(n_bars: int = 24 * 40, seed: int = 0) -> pl.DataFrame:
    """Hourly perps A-D (market factor plus noise) and the target T = 0.6 A + 0.4 C + noise."""
    rng = np.random.default_rng(seed)
    names = ["A", "B", "C", "D"]
    m = rng.normal(0, 0.01, n_bars)
    rets = {s: m * (0.7 + 0.2 * i) + rng.normal(0, 0.005, n_bars) for i, s in enumerate(names)}
    rets["T"] = 0.6 * rets["A"] + 0.4 * rets["C"] + rng.normal(0, 0.004, n_bars)
    rows = []
    for k, (s, r) in enumerate(rets.items()):
        close = 50 * np.cumprod(1 + r)
        for i in range(n_bars):
            c = float(close[i])
            rows.append({"ts": START + timedelta(hours=i), "symbol": s, "open": c, "high": c,
                         "low": c, "close": c, "volume": (2e5 + 1e5 * k) / c,
                         "funding_rate": 1e-5 * (k - 2)})
    return validate_panel(pl.DataFrame(rows).sort("symbol", "ts"))
