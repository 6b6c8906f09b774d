"""A TEST-ONLY study (never registered in the package): long one coin, short another, daily.

It produces the common run-directory artefacts (nav, weights) and a few study-specific tables
of different shapes so the report's tolerant drawing is exercised. Its P&L follows DESIGN.md's
accounting (price + funding - costs) by a plain loop.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import polars as pl

from coinfactor import analytics
from coinfactor.studies import StudyResult
from coinfactor.studies._base import summarize_panel


@dataclass(frozen=True)
class Config:
    long: str = "BTC"
    short: str = "ETH"
    fee_bps: float = 5.0


DEFAULT_DATA = {"dataset": "hyperliquid-perp-1d", "symbols": ["BTC", "ETH", "SOL"],
                "start": "2025-01-01"}


def run(config: Config, panel: pl.DataFrame,
        progress: Callable[[float], None] | None = None) -> StudyResult:
    wide = panel.pivot(on="symbol", index="ts", values="close").sort("ts")
    fund = panel.pivot(on="symbol", index="ts", values="funding_rate").sort("ts")
    ts = wide["ts"]
    w = {config.long: 0.5, config.short: -0.5}
    n = wide.height
    price = np.zeros(n)
    funding = np.zeros(n)
    cost = np.zeros(n)
    cost[0] = -config.fee_bps * 1e-4 * sum(abs(v) for v in w.values())
    for k, (sym, wt) in enumerate(w.items()):
        c = wide[sym].fill_null(np.nan).to_numpy()
        r = np.nan_to_num(c[1:] / c[:-1] - 1, nan=0.0)  # no price on a bar: no P&L
        price[1:] += wt * r
        funding[1:] -= wt * np.nan_to_num(fund[sym].fill_null(0.0).to_numpy()[1:])
        if progress is not None:
            progress((k + 1) / (len(w) + 1))
    ret = price + funding + cost
    nav = pl.DataFrame({"ts": ts, "nav": np.cumprod(1 + ret), "ret": ret, "ret_price": price,
                        "ret_funding": funding, "ret_cost": cost})
    weights = pl.DataFrame({
        "ts": [t for t in ts for _ in w], "symbol": [s for _ in ts for s in w],
        "weight": [v for _ in ts for v in w.values()],
    })
    rets = panel.select("ts", "symbol", (pl.col("close") / pl.col("close").shift(1).over(
        "symbol") - 1).alias("ret"))
    factor_returns = rets.rename({"symbol": "factor"}).drop_nulls()
    exposures = rets.with_columns(pl.col("ret").rolling_std(20).over("symbol").alias("vol"))
    rng = np.random.default_rng(0)
    boot = pl.DataFrame({"mean_ret": [float(np.mean(rng.choice(ret, ret.size)))
                                      for _ in range(200)]})
    corr = analytics.rolling_correlation(
        wide.select("ts", pl.col(config.long).pct_change().alias("a"),
                    pl.col(config.short).pct_change().alias("b")), "a", "b", window=30)
    tables = {
        "nav": nav, "weights": weights, "factor_returns": factor_returns,
        "exposures": exposures, "bootstrap": boot, "rolling_corr": corr,
        "funding": analytics.annualized_funding(panel),
        "percentiles": pl.DataFrame({"percentile": [5.0, 50.0, 95.0],
                                     "value": np.percentile(ret, [5, 50, 95])}),
    }
    metrics = analytics.summary(nav, weights=weights)
    return StudyResult(study="tiny", config={}, metrics=metrics, tables=tables,
                       data_summary=summarize_panel(panel, "test"))
