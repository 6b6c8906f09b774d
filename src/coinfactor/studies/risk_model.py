"""Factor risk model study (seed 000), point in time.

Market plus liquidity, beta and momentum bucket factors (low / med / high) as factor returns,
then rolling per-coin exposures (alpha, betas, R², adjusted R²) for every coin. Hourly and
one-minute panels (``studies/risk_model.toml``, ``studies/risk_model_1m.toml``) take one
path: time blocks (and coin blocks) of :func:`coinfactor.risk.risk_model_blocks`, equal bit
for bit to the whole-panel computation, with the exposures and memberships written as
Parquet parts (``exposures/``, ``memberships/`` in the run directory) and summarised per day
for the report (``exposures_daily``); ``--scheduler`` runs the blocks on a Dask cluster,
otherwise they run here, a block's factor task beside the exposure task of the block
before (two threads, :data:`coinfactor.risk._chunked.LOCAL_THREADS`).

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

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

import numpy as np
import polars as pl

from coinfactor.core.errors import ConfigError
from coinfactor.core.time import periods_per_year
from coinfactor.core.typing import FactorFamily, LiquidityMeasure, MarketWeighting
from coinfactor.risk import risk_model_blocks
from coinfactor.studies._base import StudyResult, summarize_panel
from coinfactor.studies._params import Bars, Duration, Params, Range, check_data

DEFAULT_DATA: dict[str, Any] = {"dataset": "binance-perp-1h"}
LAZY_PANEL = True
"""``run`` accepts a lazy panel (a Parquet scan), read block by block."""
KEY_METRICS: tuple[str, ...] = (
    "mean_rsquared_spreads", "rank_deficient_share_spreads", "mean_rsquared_buckets",
    "rank_deficient_share_buckets", "max_abs_factor_correlation", "mean_abs_factor_correlation",
    "n_symbols")
"""The metrics the demo shows for this study (:mod:`coinfactor.studies._demo`): it has no
P&L, so its fit (mean R², rank-deficient windows) and its factors' correlations."""


@dataclass(frozen=True)
class Config(Params):
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
    n_buckets: Annotated[int, Range(2, 10)] = 3
    rebalance: Annotated[str, Duration()] = "1d"
    market: MarketWeighting = "equal"
    liquidity: LiquidityMeasure = "trades"
    liquidity_window: Annotated[int, Bars(2)] = 168
    beta_window: Annotated[int, Bars(2)] = 168
    momentum_windows: tuple[Annotated[int, Bars(2)], ...] = (24, 72, 168)
    window: Annotated[int, Bars(2)] = 168
    min_nobs: Annotated[int, Bars(2)] = 84
    leave_one_out: bool = False
    compare_buckets: bool = True
    rank_tol: Annotated[float, Range(0, 1, low_open=True, high_open=True)] = 1e-4

    def check(self) -> None:
        """Check distinct families, at least one momentum window and ``min_nobs <= window``."""
        if len(set(self.families)) != len(self.families):
            raise ConfigError(f"[params] families: expected distinct names, got "
                              f"{list(self.families)}; fix: list each family once")
        if not self.momentum_windows:
            raise ConfigError("[params] momentum_windows: expected at least one window in "
                              "bars; fix: e.g. momentum_windows = [24, 72, 168] (the default)")
        if self.min_nobs > self.window:
            raise ConfigError(f"[params] min_nobs = {self.min_nobs} is more than window = "
                              f"{self.window}: a regression window cannot hold that many bars;"
                              " fix: lower min_nobs (e.g. window / 2) or widen window")


def _factor_correlations(returns: pl.DataFrame, names: tuple[str, ...]) -> dict[str, Any]:
    """Largest and mean absolute correlation between the fitted factors' returns.

    Computed over the bars where every factor has a return; NaN with fewer than three such
    bars or a single factor. The pair is named ``"a & b"`` (the first largest in factor order).
    """
    x = returns.select(names).to_numpy().astype(np.float64)
    x = x[np.isfinite(x).all(axis=1)]
    out: dict[str, Any] = {"max_abs_factor_correlation": math.nan,
                           "max_abs_factor_correlation_pair": "",
                           "mean_abs_factor_correlation": math.nan}
    if len(names) < 2 or x.shape[0] < 3 or not (x.std(axis=0) > 0).all():
        return out
    corr = np.corrcoef(x, rowvar=False)
    i, j = np.triu_indices(len(names), k=1)
    pairs = np.abs(corr[i, j])
    best = int(np.argmax(pairs))
    out.update({"max_abs_factor_correlation": float(pairs[best]),
                "max_abs_factor_correlation_pair": f"{names[i[best]]} & {names[j[best]]}",
                "mean_abs_factor_correlation": float(pairs.mean())})
    return out


def _annualized(returns: pl.DataFrame, ppy: float) -> dict[str, tuple[float, float]]:
    """Annualised mean and volatility of each factor (:meth:`FactorReturns.annualized`)."""
    out: dict[str, tuple[float, float]] = {}
    for name in returns.columns[1:]:
        v = returns.get_column(name).to_numpy()
        v = v[np.isfinite(v)]
        vol = float(v.std(ddof=1) * math.sqrt(ppy)) if v.size > 1 else math.nan
        out[name] = (float(v.mean() * ppy) if v.size else math.nan, vol)
    return out


def _lazy_summary(panel: pl.LazyFrame, n_ts: int, n_symbols: int) -> dict[str, Any]:
    """:func:`summarize_panel` of a panel read lazily (one aggregate query)."""
    agg = panel.select(pl.len().alias("bars"), pl.col("ts").min().alias("start"),
                       pl.col("ts").max().alias("end")).collect(engine="streaming")
    bars = int(agg.item(0, "bars"))
    return {"source": "risk_model study input", "symbols": n_symbols, "bars": bars,
            "start": agg.item(0, "start"), "end": agg.item(0, "end"),
            "coverage": bars / max(n_ts * n_symbols, 1)}


def run(config: Config, panel: pl.DataFrame | pl.LazyFrame, *,
        progress: Callable[[float], None] | None = None,
        scheduler: str | None = None) -> StudyResult:
    """Build factor returns and rolling exposures for every coin of ``panel``, in blocks.

    Hourly and one-minute panels take the same path: time blocks (and coin blocks) of
    :func:`coinfactor.risk.risk_model_blocks`, whose values equal the whole-panel
    computation bit for bit; the exposures and memberships go to Parquet parts as they are
    computed and are read lazily.

    Parameters
    ----------
    config : Config
        Study settings.
    panel : pl.DataFrame or pl.LazyFrame
        Canonical panel (windows are in bars), in memory or a lazy scan (e.g. a folder of
        per-symbol Parquet files, ``[data] parquet_dir``), read block by block.
    progress : callable, optional
        Called with the fraction of tasks done (0..1).
    scheduler : str, optional
        Address of a Dask scheduler to run the block tasks on (``tcp://host:8786``);
        without one they run in this process, on two threads.

    Returns
    -------
    StudyResult
        Tables ``factor_returns`` (ts + one column per factor, per-bar fractions),
        ``exposures`` (ts, symbol, alpha, beta_<factor>, rsquared, rsquared_adj, resid_std,
        nobs, rank, condition_number; Parquet parts, read lazily), ``memberships`` (ts,
        symbol, bucket per family, 0 = low; parts) and ``exposures_daily`` (per UTC day and
        coin, means of the fitted bars: what the report draws); metrics with the mean R² of
        each factor set, the share of rank-deficient windows of each
        (``rank_deficient_share_spreads``, ``..._buckets``), the largest and mean absolute
        correlation between the fitted factors' returns (``max_abs_factor_correlation``
        with its ``..._pair``, ``mean_abs_factor_correlation``) and annualised factor means
        and vols.

    Raises
    ------
    DataError
        On an empty panel.
    ConfigError
        If a window is longer than the panel's bars or ``n_buckets`` exceeds its symbols.
    """
    if isinstance(panel, pl.DataFrame):
        check_data(config, panel, "risk_model")  # windows against the panel, before work
        n_symbols = panel.get_column("symbol").n_unique()
    else:
        n_symbols = int(panel.select(pl.col("symbol").n_unique())
                        .collect(engine="streaming").item())
    if config.families and config.n_buckets > n_symbols:
        raise ConfigError(
            f"[params] n_buckets = {config.n_buckets} buckets need at least as many coins, but "
            f"the panel has {n_symbols} symbols; fix: lower n_buckets or add symbols")
    sets = ("spreads", "buckets") if config.compare_buckets and config.families else (
        "spreads",)

    def tick(done: int, total: int, _elapsed: float) -> None:
        if progress is not None:
            progress(0.95 * done / total)

    res = risk_model_blocks(
        panel, families=config.families, n_buckets=config.n_buckets,
        rebalance=config.rebalance, market=config.market, liquidity=config.liquidity,
        liquidity_window=config.liquidity_window, beta_window=config.beta_window,
        momentum_windows=config.momentum_windows, window=config.window, factor_sets=sets,
        tables=("spreads",),
        leave_one_out=config.leave_one_out, min_nobs=config.min_nobs,
        rank_tol=config.rank_tol, scheduler=scheduler, progress=tick)
    ppy = periods_per_year(res.freq)
    spreads = res.fit["spreads"]
    metrics: dict[str, Any] = {
        "n_symbols": len(res.symbols),
        "n_bars": res.factor_returns.height,
        "window_bars": config.window,
        "factors": list(res.factors["spreads"]),
        "mean_rsquared_spreads": spreads["mean_rsquared"],
        "mean_rsquared_adj_spreads": spreads["mean_rsquared_adj"],
        "exposure_cells": int(spreads["cells"]),
        "mean_beta_market": spreads["mean_beta_market"],
        "rank_deficient_share_spreads": spreads["rank_deficient_share"],
        **_factor_correlations(res.factor_returns, res.factors["spreads"]),
    }
    if "buckets" in res.fit:
        buckets = res.fit["buckets"]
        metrics["mean_rsquared_buckets"] = buckets["mean_rsquared"]
        metrics["mean_rsquared_adj_buckets"] = buckets["mean_rsquared_adj"]
        metrics["rank_deficient_share_buckets"] = buckets["rank_deficient_share"]
    for fam, share in res.lookahead.items():
        metrics[f"lookahead_mismatch_{fam}"] = share
    for name, (ann_mean, ann_vol) in _annualized(res.factor_returns, ppy).items():
        metrics[f"ann_vol_{name}"] = ann_vol
        metrics[f"ann_mean_{name}"] = ann_mean
    daily = res.daily
    summary = (summarize_panel(panel, "risk_model study input")
               if isinstance(panel, pl.DataFrame)
               else _lazy_summary(panel, res.n_bars, len(res.symbols)))
    if progress is not None:
        progress(1.0)
    return StudyResult(
        study="risk_model",
        config={"study": "risk_model", "data": DEFAULT_DATA, "params": {}},
        metrics=metrics,
        tables={"factor_returns": res.factor_returns, "exposures": res.exposures["spreads"],
                "memberships": res.memberships, "exposures_daily": daily},
        data_summary=summary,
    )
