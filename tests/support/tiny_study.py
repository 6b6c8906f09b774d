"""A TEST-ONLY study (never registered in the package): long one coin, short another, daily.

It produces the common run-directory artefacts (nav, weights) and a few study-specific tables
of different shapes so the report's tolerant drawing is exercised. Its P&L follows DESIGN.md's
accounting (price + funding - costs) by a plain loop: the book is opened at the first close
(``fee_bps`` on the traded gross, charged over the next bar) and then held, its weights
drifting with prices (issue 15; a bar without a price earns nothing).
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
    turnover = np.zeros(n)
    turnover[0] = sum(abs(v) for v in w.values())  # opened at the first close
    if n > 1:
        cost[1] = -config.fee_bps * 1e-4 * turnover[0]
    rets, rates = {}, {}
    for k, sym in enumerate(w):
        c = wide[sym].fill_null(np.nan).to_numpy()
        rets[sym] = np.concatenate([[0.0], np.nan_to_num(c[1:] / c[:-1] - 1, nan=0.0)])
        rates[sym] = fund[sym].fill_null(0.0).to_numpy()
        if progress is not None:
            progress((k + 1) / (len(w) + 1))
    held = np.zeros((n, len(w)))
    held[0] = list(w.values())
    for i in range(1, n):
        price[i] = sum(w[s] * rets[s][i] for s in w)
        funding[i] = -sum(w[s] * rates[s][i] for s in w)
        pnl = price[i] + funding[i] + cost[i]
        w = {s: w[s] * (1 + rets[s][i]) / (1 + pnl) for s in w}  # the holdings drift
        held[i] = list(w.values())
    ret = price + funding + cost
    nav = pl.DataFrame({"ts": ts, "nav": np.cumprod(1 + ret), "ret": ret, "ret_price": price,
                        "ret_funding": funding, "ret_cost": cost, "turnover": turnover})
    weights = pl.DataFrame({
        "ts": [t for t in ts for _ in w], "symbol": [s for _ in ts for s in w],
        "weight": held.reshape(-1),
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
