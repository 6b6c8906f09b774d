"""Factor risk model study (seed 000), point in time.

Market plus liquidity, beta and momentum bucket factors (low / med / high) as factor returns,
then rolling per-coin exposures (alpha, betas, R², adjusted R²) for every coin in one call.

What changes from the seed:

* Bucket memberships are re-formed daily from trailing windows that end at the formation bar
  and apply to the following bars (the seed ranks on the whole sample: look-ahead).
* Beta is the coin regressed on the market, ``cov(r, m) / var(m)`` (the seed inverts it).
* Results sit on the row of the window's last bar (the seed writes them 1,441 rows later).
* The default factor set is market + high-minus-low spreads, which is well posed; the seed's
  ten factors are exactly collinear (market = weighted sum of each family's buckets). That set
  is fitted too, for comparison: its betas are minimum-norm and its R² is reported.

Windows for hourly bars: the regression uses 168 bars (one week, ~34 bars per coefficient
with five coefficients; the seed's 1,440 one-minute bars are one day, too few hourly bars),
and a fit needs 84 valid bars (half a window). Characteristics use one week of trailing
bars; momentum averages 1-day, 3-day and 1-week return sums (the seed: 1 to 12 hours of
minute bars).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import polars as pl

from coinfactor.core.errors import ConfigError
from coinfactor.core.time import periods_per_year
from coinfactor.core.typing import FactorFamily, LiquidityMeasure, MarketWeighting
from coinfactor.data import infer_freq
from coinfactor.risk import (
    exposures,
    factor_returns,
    lookahead_mismatch,
)
from coinfactor.studies._base import StudyResult, summarize_panel

DEFAULT_DATA: dict[str, Any] = {"dataset": "binance-perp-1h"}


@dataclass(frozen=True)
class Config:
    """Settings of the risk_model study; the defaults are the recommended run.

    Attributes
    ----------
    families : tuple of str
        Bucket families (liquidity, beta, momentum).
    n_buckets : int
        Buckets per family (3: low / med / high).
    rebalance : str
        Membership re-formation schedule (daily, at UTC midnight).
    market : {"equal", "quote_volume"}
        Market weighting.
    liquidity : {"trades", "notional"}
        Liquidity characteristic (mean trades per bar, as the seed).
    liquidity_window, beta_window : int
        Trailing characteristic windows in bars (168 = one week of hourly bars).
    momentum_windows : tuple of int
        Momentum windows in bars (1 day, 3 days, 1 week).
    window : int
        Exposure regression window in bars.
    min_nobs : int
        Fewest valid bars in a regression window.
    leave_one_out : bool
        Regress each coin on the market without itself.
    compare_buckets : bool
        Also fit the seed's collinear set (market + every bucket) and report its R².
    rank_tol : float
        Relative rank tolerance of the exposure regressions, in (0, 1): in each window,
        factor directions whose share of the largest variance of the factors' correlation
        matrix is at most ``rank_tol`` are dropped (condition number above ``1 / rank_tol``;
        see :func:`coinfactor.rolling.rolling_ols`). The default 1e-4 treats the market and
        its buckets, collinear up to bucket sizes changing inside a window, as collinear.
    """

    families: tuple[FactorFamily, ...] = ("liquidity", "beta", "momentum")
    n_buckets: int = 3
    rebalance: str = "1d"
    market: MarketWeighting = "equal"
    liquidity: LiquidityMeasure = "trades"
    liquidity_window: int = 168
    beta_window: int = 168
    momentum_windows: tuple[int, ...] = (24, 72, 168)
    window: int = 168
    min_nobs: int = 84
    leave_one_out: bool = False
    compare_buckets: bool = True
    rank_tol: float = 1e-4

    def __post_init__(self) -> None:
        tol = self.rank_tol
        if isinstance(tol, bool) or not isinstance(tol, int | float) or not 0.0 < tol < 1.0:
            raise ConfigError(
                f"risk_model: expected rank_tol, a relative rank tolerance, in (0, 1), got "
                f"{tol!r}; fix: keep the default 1e-4 or pass e.g. rank_tol = 1e-8")


def run(config: Config, panel: pl.DataFrame, *,
        progress: Callable[[float], None] | None = None) -> StudyResult:
    """Build factor returns and rolling exposures for every coin of ``panel``.

    Parameters
    ----------
    config : Config
        Study settings.
    panel : pl.DataFrame
        Canonical panel (hourly bars recommended; windows are in bars).
    progress : callable, optional
        Called with the fraction done (0..1).

    Returns
    -------
    StudyResult
        Tables ``factor_returns`` (ts + one column per factor, per-bar fractions),
        ``exposures`` (ts, symbol, alpha, beta_<factor>, rsquared, rsquared_adj, resid_std,
        nobs, rank, condition_number) and ``memberships`` (ts, symbol, bucket per family,
        0 = low); metrics with the mean R² of each factor set and annualised factor means
        and vols.
    """
    step = progress or (lambda _fraction: None)
    fr = factor_returns(
        panel, families=config.families, n_buckets=config.n_buckets,
        rebalance=config.rebalance, market=config.market, liquidity=config.liquidity,
        liquidity_window=config.liquidity_window, beta_window=config.beta_window,
        momentum_windows=config.momentum_windows,
    )
    step(0.3)
    ex = exposures(fr, window=config.window, factor_set="spreads",
                   leave_one_out=config.leave_one_out, min_nobs=config.min_nobs,
                   rank_tol=config.rank_tol)
    step(0.6)
    ppy = periods_per_year(infer_freq(panel))
    metrics: dict[str, Any] = {
        "n_symbols": len(fr.grid.symbols),
        "n_bars": fr.returns.height,
        "window_bars": config.window,
        "factors": list(ex.factors),
        "mean_rsquared_spreads": ex.mean_rsquared(),
        "mean_rsquared_adj_spreads": ex.mean("rsquared_adj"),
        "exposure_cells": ex.table.height,
        "mean_beta_market": ex.mean("beta_market"),
    }
    if config.compare_buckets and config.families:
        bx = exposures(fr, window=config.window, factor_set="buckets",
                       leave_one_out=config.leave_one_out, min_nobs=config.min_nobs,
                       rank_tol=config.rank_tol)
        p = 1 + len(bx.factors)
        metrics["mean_rsquared_buckets"] = bx.mean_rsquared()
        metrics["mean_rsquared_adj_buckets"] = bx.mean("rsquared_adj")
        metrics["rank_deficient_share_buckets"] = (
            bx.table.filter(pl.col("rank") < p).height / max(bx.table.height, 1))
    step(0.9)
    for fam, share in lookahead_mismatch(fr, panel, liquidity=config.liquidity).items():
        metrics[f"lookahead_mismatch_{fam}"] = share
    for name, (ann_mean, ann_vol) in fr.annualized(ppy).items():
        metrics[f"ann_vol_{name}"] = ann_vol
        metrics[f"ann_mean_{name}"] = ann_mean
    step(1.0)
    return StudyResult(
        study="risk_model",
        config={"study": "risk_model", "data": DEFAULT_DATA, "params": {}},
        metrics=metrics,
        tables={"factor_returns": fr.returns, "exposures": ex.table,
                "memberships": fr.memberships},
        data_summary=summarize_panel(panel, "risk_model study input"),
    )
