"""The ``hedge_basket`` study (seed 002): hedge one perp with a funding-aware basket.

Long the target (BERA by default), short a basket of liquid perps re-optimised weekly by
:class:`coinfactor.portfolio.HedgeBasket` on data through each decision bar; the out-of-sample
P&L (price, funding and costs) comes from :func:`coinfactor.backtest.backtest`, and a moving
block bootstrap of the hourly hedged and unhedged P&L gives the distribution of a year's
return (the seed's percentile table).

Tables written: ``targets`` (the book at each rebalance: target ``+target_weight``, basket
``-target_weight·w``), ``weights`` (the weights held at each bar, drifting with prices between
the rebalances), ``trades`` (the trades made), ``capacity`` (unless ``costs.capacity_navs`` is
empty), ``basket`` (basket weights with caps, volume shares and funding per
rebalance), ``diagnostics`` (in-sample and out-of-sample statistics per rebalance),
``candidates`` (liquidity filters per rebalance), ``pca`` (PCA of the candidates against the
target per rebalance), ``nav`` (hedged book), ``nav_unhedged`` (target alone),
``rolling_correlation`` (target vs basket, out of sample), ``bootstrap`` (percentile table) and
``bootstrap_samples`` (simulated annual returns).
"""

from __future__ import annotations

import typing
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

import numpy as np
import polars as pl

from coinfactor.analytics import (
    BootstrapResult,
    annual_volatility,
    block_bootstrap,
    rolling_correlation,
)
from coinfactor.analytics import summary as perf_summary
from coinfactor.backtest import BacktestResult, MarketData, backtest
from coinfactor.core.errors import ConfigError
from coinfactor.core.time import freq_to_timedelta, periods_per_year
from coinfactor.core.typing import BootstrapMethod, FailurePolicy, HedgeMode, PCAClean
from coinfactor.data import Grid, infer_freq
from coinfactor.portfolio import HedgeBasket, HedgeWalkForward
from coinfactor.studies._base import StudyResult, summarize_panel
from coinfactor.studies._costs import CostConfig
from coinfactor.studies._params import (
    Duration,
    Params,
    Range,
    Symbol,
    When,
    check_data,
    parse_time,
)
from coinfactor.studies._stages import Stage, StageCache, stage_keys
from coinfactor.studies._target import StudyTarget, complete_bars
from coinfactor.studies._trial import Evaluation

DEFAULT_DATA: dict[str, Any] = {"dataset": "hyperliquid-perp-1h"}
KEY_METRICS: tuple[str, ...] = (
    "vol_reduction", "oos_correlation", "annual_return", "annual_return_unhedged",
    "sharpe_ratio", "annual_funding_return", "annual_cost_return")
"""The metrics the demo shows for this study (:mod:`coinfactor.studies._demo`)."""


_COSTS = CostConfig(venue="hyperliquid", half_spread_bps=2.0)
"""The study's default ``[params.costs]``."""


@dataclass(frozen=True)
class Config(Params):
    """Settings of the ``hedge_basket`` study; the defaults are the recommended run.

    Attributes
    ----------
    target : str
        Perp held long and hedged.
    start : str
        First decision time (ISO, UTC): Monday 2025-03-03 12:00, the seed's first basket.
    end : str, optional
        No decision at or after this time (default: until the data ends).
    rebalance_every : str
        Re-fit interval (weekly).
    lookback, volume_lookback, basket_usd, max_volume_share, lambda_funding, mode,
    turnover_penalty, pca_clean, pca_components, min_daily_volume_usd, min_open_interest_usd,
    min_coverage, exclude, on_failure
        :class:`~coinfactor.portfolio.HedgeBasket` settings. ``pca_clean="none"``: with PCA(1)
        cleaning the basket concentrates in the highest-funding coin (seed-002 defect).
        ``on_failure="keep_previous"`` carries the last good basket through a failed week.
        ``target`` and every name in ``exclude`` must be symbols of the panel (an unknown
        name is an error naming its near matches: a typo would exclude nothing).
    universe : tuple of str, optional
        Allowed basket names, e.g. from a market snapshot through
        :func:`coinfactor.universe.snapshot_filter` (24h volume, open interest, max leverage).
        None (default): every name passing the trailing-data filters; a snapshot taken today
        would bring survivorship into a historical run. Names without data are ignored (a
        snapshot may list coins the panel does not hold).
    target_weight : float
        Long target as a fraction of NAV; the basket is shorted at the same notional.
    costs : CostConfig
        ``[params.costs]``: fees, half-spread, square-root impact and margins of the backtest
        (the NAV is ``basket_usd``).
    corr_window : str
        Window of the out-of-sample rolling correlation (the seed's 7 days).
    pca_diagnostic_components : int
        Components in the per-rebalance PCA table.
    bootstrap_method, bootstrap_block, bootstrap_horizon, bootstrap_sims, bootstrap_seed
        :func:`~coinfactor.analytics.block_bootstrap` settings: weekly moving blocks, one-year
        paths (the seed's 52 weekly chunks).
    """

    target: Annotated[str, Symbol()] = "BERA"
    start: Annotated[str, When()] = "2025-03-03T12:00:00"
    end: Annotated[str, When()] | None = None
    rebalance_every: Annotated[str, Duration()] = "7d"
    lookback: Annotated[str, Duration(window=True)] = "21d"
    volume_lookback: Annotated[str, Duration(window=True)] = "7d"
    basket_usd: Annotated[float, Range(0, 1e15, low_open=True, unit="USD")] = 5_000_000.0
    max_volume_share: Annotated[float, Range(0, 1, low_open=True)] = 0.05
    lambda_funding: Annotated[float, Range(0, 1e6)] = 0.1
    mode: HedgeMode = "long_only"
    turnover_penalty: Annotated[float, Range(0, 1e6)] = 0.0
    pca_clean: PCAClean = "none"
    pca_components: Annotated[int, Range(1, 1000)] = 1
    min_daily_volume_usd: Annotated[float, Range(0, 1e15, unit="USD")] = 5_000_000.0
    min_open_interest_usd: Annotated[float, Range(0, 1e15, unit="USD")] = 10_000_000.0
    min_coverage: Annotated[float, Range(0, 1)] = 0.95
    exclude: tuple[Annotated[str, Symbol()], ...] = ()
    universe: tuple[str, ...] | None = None
    on_failure: FailurePolicy = "keep_previous"
    target_weight: Annotated[float, Range(0, 100, low_open=True)] = 1.0
    costs: CostConfig = _COSTS
    corr_window: Annotated[str, Duration(window=True)] = "7d"
    pca_diagnostic_components: Annotated[int, Range(1, 1000)] = 5
    bootstrap_method: BootstrapMethod = "moving"
    bootstrap_block: Annotated[str, Duration(window=True)] = "7d"
    bootstrap_horizon: Annotated[str, Duration()] = "365d"
    bootstrap_sims: Annotated[int, Range(1, 1_000_000)] = 2000
    bootstrap_seed: Annotated[int, Range(0, 2**63 - 1)] = 0

    def check(self) -> None:
        """Check ``start < end`` and that the target is not excluded."""
        if self.end is not None and parse_time(self.end, "[params] end") <= parse_time(
                self.start, "[params] start"):
            raise ConfigError(f"[params] start = {self.start!r} is not before end = "
                              f"{self.end!r}; fix: move end after start or leave it out")
        if self.target in self.exclude:
            raise ConfigError(f"[params] exclude: lists the target {self.target!r} itself; "
                              "fix: remove it from exclude")

    def estimator(self) -> HedgeBasket:
        """Build the :class:`HedgeBasket` these settings describe."""
        return HedgeBasket(
            self.target, lookback=self.lookback, volume_lookback=self.volume_lookback,
            basket_usd=self.basket_usd, max_volume_share=self.max_volume_share,
            lambda_funding=self.lambda_funding, mode=self.mode,
            turnover_penalty=self.turnover_penalty, pca_clean=self.pca_clean,
            pca_components=self.pca_components, min_daily_volume_usd=self.min_daily_volume_usd,
            min_open_interest_usd=self.min_open_interest_usd, min_coverage=self.min_coverage,
            exclude=tuple(self.exclude),
            universe=None if self.universe is None else tuple(self.universe),
            on_failure=self.on_failure,
        )


def schedule(config: Config, panel: pl.DataFrame, *, through_last: bool = False,
             ) -> list[datetime]:
    """Decision times: ``start``, then every ``rebalance_every``, before the data ends.

    A backtest decision needs at least one later bar to trade on, so times at or after the
    panel's last bar (or ``end``) are dropped; ``through_last`` keeps a time at the last bar
    (today's book is decided at its close).
    """
    first = parse_time(config.start, "[params] start")
    step = freq_to_timedelta(config.rebalance_every)
    last: datetime = panel["ts"].max()  # type: ignore[assignment]
    if config.end is not None:
        last = min(last, parse_time(config.end, "[params] end"))
    times = []
    t = first
    while t < last or (through_last and t == last):
        times.append(t)
        t = t + step
    if not times:
        raise ConfigError(
            f"no decision time: start {first} is not before the end of the data {last}",
            )
    return times


def _leg_returns(hedged: _Held, unhedged: _Held, target: str) -> pl.DataFrame:
    """Return the per-bar returns of the books and of their two legs, after the decision bar.

    Columns ``ts, hedged, funding, unhedged, target, basket``: ``target`` is the target's own
    price return (the unhedged book's price P&L over the weight it held); ``basket`` the price
    return of the basket as the hedged book held it, long (its price P&L over the basket's
    held weight, drifting with prices between the decisions; 0 over a bar with no basket
    held). Both books drift, so the legs are read from each book's held weights, not from
    differences of the books' returns.
    """

    def held(result: _Held, name: str, leg: pl.Expr) -> pl.DataFrame:
        per_bar = (result.weights.filter(leg).group_by("ts")
                   .agg(pl.col("weight").sum().alias(name)))
        return (result.nav.select("ts").join(per_bar, on="ts", how="left")
                .with_columns(pl.col(name).fill_null(0.0).shift(1)))

    w_target = held(unhedged, "w_target", pl.col("symbol") == target)
    w_hedged = held(hedged, "w_hedged", pl.col("symbol") == target).join(
        held(hedged, "w_basket", pl.col("symbol") != target), on="ts")
    frame = (
        hedged.nav.select("ts", pl.col("ret").alias("hedged"),
                          pl.col("ret_funding").alias("funding"), "ret_price")
        .join(unhedged.nav.select("ts", pl.col("ret").alias("unhedged"),
                                  pl.col("ret_price").alias("price_u")), on="ts", how="left")
        .join(w_target, on="ts", how="left").join(w_hedged, on="ts", how="left")
        .tail(-1)  # the first row is the decision bar (no P&L yet)
    )
    tgt = pl.when(pl.col("w_target") != 0).then(pl.col("price_u") / pl.col("w_target"))
    frame = frame.with_columns(tgt.fill_null(0.0).alias("target"))
    bsk = (pl.when(pl.col("w_basket") != 0)
           .then((pl.col("ret_price") - pl.col("w_hedged") * pl.col("target"))
                 / pl.col("w_basket")))
    return frame.with_columns(bsk.fill_null(0.0).alias("basket")).select(
        "ts", "hedged", "funding", "unhedged", "target", "basket")


def panel_columns(config: Config) -> frozenset[str]:
    """Return the panel columns the hedge study reads (the ``[data]`` loader keeps these).

    Close, volume and quote volume, funding and open interest (liquidity filters, costs).
    """
    return frozenset({"close", "volume", "quote_volume", "funding_rate", "open_interest"})


def target(config: Config, panel: pl.DataFrame, *, as_of: datetime | None = None,
           ) -> StudyTarget:
    """Today's book: the hedged book of the last decision at or before the last complete bar.

    The same walk-forward as :func:`run` (each fit on data through its time only, each given
    the previous basket), on the bars complete at ``as_of``, with a decision at the last bar
    if the schedule has one there.

    Parameters
    ----------
    config : Config
        Study settings.
    panel : pl.DataFrame
        Canonical panel holding the target and the candidate perps.
    as_of : datetime, optional
        The clock: bars whose close is after it are left out (default: every bar).

    Returns
    -------
    StudyTarget
        Weights ``+target_weight`` on the target and ``-target_weight·w`` on the basket.
    """
    cut = complete_bars(panel, as_of)
    check_data(config, cut, "hedge_basket")  # target, exclude, windows vs the panel
    times = schedule(config, cut, through_last=True)
    wf = config.estimator().walk_forward(cut, times, trade_costs=_trade_costs(config, cut, times))
    book = wf.positions(target_weight=config.target_weight)
    last = typing.cast(datetime, book.get_column("ts").max())
    rows = book.filter(pl.col("ts") == last)
    return StudyTarget.from_weights("hedge_basket", last, as_of, dict(zip(
        rows.get_column("symbol").to_list(), rows.get_column("weight").to_list(), strict=True)))


def _trade_costs(config: Config, panel: pl.DataFrame, times: list[datetime],
                 ) -> pl.DataFrame | None:
    """Per-cell cost rates of the turnover penalty at the decision bars (None without one).

    The walk-forward reads the rate of its decision bar only, so only those rows are kept
    (``n_decisions x n_symbols``, not a row per panel bar).
    """
    if config.turnover_penalty <= 0:
        return None
    grid = Grid.from_panel(panel)
    rate = config.costs.model().rate(MarketData.from_panel(panel, grid), config.basket_usd)
    decided = np.zeros(grid.shape, dtype=bool)
    rows = sorted({grid.row_at(t) for t in times})
    decided[rows] = grid.bars[rows]
    return grid.long({"cost": rate}, where=decided)


PIPELINE: tuple[Stage, ...] = (
    Stage("schedule", ("start", "end", "rebalance_every")),
    Stage("walk_forward", ("target", "lookback", "volume_lookback", "basket_usd",
                           "max_volume_share", "lambda_funding", "mode", "turnover_penalty",
                           "pca_clean", "pca_components", "min_daily_volume_usd",
                           "min_open_interest_usd", "min_coverage", "exclude", "universe",
                           "on_failure", "costs"), after=("schedule",)),
    Stage("backtest", ("target_weight", "costs", "basket_usd"), after=("walk_forward",)),
    Stage("metrics", ("bootstrap_method", "bootstrap_block", "bootstrap_horizon",
                      "bootstrap_sims", "bootstrap_seed", "corr_window",
                      "pca_diagnostic_components"), after=("backtest",)),
)
"""The hedge study's stages and the parameters each reads (a sweep reuses each distinct
upstream stage): schedule (the decision times); walk_forward (the weekly baskets, fitted on
data through each time; ``costs`` prices the turnover penalty); backtest (the hedged and
unhedged books and their leg returns); metrics (bootstrap, rolling correlation and, in
:func:`run` only, the per-rebalance PCA table of ``pca_diagnostic_components``)."""


@dataclass(frozen=True)
class _Held:
    """What the study reads of one backtest: its nav and held weights, trades, metrics."""

    nav: pl.DataFrame
    weights: pl.DataFrame
    trades: pl.DataFrame
    perf: dict[str, float]
    """:func:`coinfactor.analytics.summary` of the run (its drift, trades and turnover)."""

    @classmethod
    def of(cls, result: BacktestResult) -> _Held:
        """Read the frames off a backtest (the result, and its dense ledger, can then go)."""
        return cls(result.nav, result.weights, result.trades, perf_summary(result))


@dataclass(frozen=True)
class _Books:
    """The hedged book and the target alone, backtested, and their per-bar leg returns."""

    book: pl.DataFrame
    hedged: _Held
    unhedged: _Held
    rets: pl.DataFrame
    capacity: pl.DataFrame | None
    """The capacity table of the hedged book (:func:`run` only; None without NAVs)."""


def _settings(config: Config) -> dict[str, Any]:
    """Backtest settings: the study's cost model, the basket's NAV, margins."""
    return {"costs": config.costs.model(), "initial_nav": config.basket_usd,
            **config.costs.backtest_settings()}


def _books(config: Config, panel: pl.DataFrame, wf: HedgeWalkForward, *,
           capacity: bool = False) -> _Books:
    """Backtest the hedged book (and, with ``capacity``, its capacity table) and the target.

    The hedged runs share one grid of the book's symbols and one :class:`MarketData` (the
    closes, volumes and trailing windows the cost model reads, built once), as
    :func:`~coinfactor.backtest.backtest` would build them; each run's dense ledger is
    dropped once its frames are read, and the grid and market before the target's run.
    """
    book = wf.positions(target_weight=config.target_weight)
    settings = _settings(config)
    execution = {k: v for k, v in settings.items() if k != "initial_nav"}
    grid = Grid.from_panel(panel, symbols=book.get_column("symbol").unique().sort().to_list())
    market = MarketData.from_panel(panel, grid)
    sizes = (config.costs.capacity(panel, book, grid=grid, market=market, **execution)
             if capacity else None)
    hedged = _Held.of(backtest(panel, book, grid=grid, market=market, **settings))
    solo_grid = grid.subset([config.target])
    del grid, market  # the unhedged run needs neither: free them before it
    solo = book.filter(pl.col("symbol") == config.target)
    unhedged = _Held.of(backtest(panel, solo, grid=solo_grid, **settings))
    return _Books(book, hedged, unhedged, _leg_returns(hedged, unhedged, config.target),
                  sizes)


def _walk_forward(config: Config, panel: pl.DataFrame, times: list[datetime], *,
                  pca_components: int, progress: Callable[[float], None] | None = None,
                  ) -> HedgeWalkForward:
    # the penalty prices trades with the backtest's model
    return config.estimator().walk_forward(
        panel, times, pca_components=pca_components,
        trade_costs=_trade_costs(config, panel, times), progress=progress)


def _metrics(config: Config, freq: str, times: list[datetime], wf: HedgeWalkForward,
             b: _Books) -> tuple[dict[str, Any], BootstrapResult, pl.DataFrame, pl.DataFrame]:
    """Compute the metrics, the bootstrap, its percentile table and the diagnostics table."""
    rets = b.rets
    boot = block_bootstrap(
        rets.select("hedged", "unhedged"), freq=freq, method=config.bootstrap_method,
        block=config.bootstrap_block, horizon=config.bootstrap_horizon,
        n_sims=config.bootstrap_sims, seed=config.bootstrap_seed,
    )
    diagnostics = wf.diagnostics().join(wf.out_of_sample(rets, periods_per_year(freq)),
                                        on="ts", how="left")
    vol_h = annual_volatility(rets["hedged"].to_numpy(), freq)
    vol_u = annual_volatility(rets["unhedged"].to_numpy(), freq)
    perf, perf_u = b.hedged.perf, b.unhedged.perf  # the held books: drift, trades, turnover
    table = boot.percentile_table()
    med = table.filter(pl.col("percentile") == 50.0)
    p5 = table.filter(pl.col("percentile") == 5.0)
    metrics: dict[str, Any] = {
        "target": config.target,
        "n_rebalances": len(times),
        "n_failed_fits": int((diagnostics["action"] != "optimal").sum()),
        "oos_correlation": float(np.corrcoef(rets["target"], rets["basket"])[0, 1]),
        "insample_correlation_mean": float(diagnostics["correlation"].mean()),  # type: ignore[arg-type]
        "expected_funding_mean": float(diagnostics["expected_funding"].mean()),  # type: ignore[arg-type]
        "annual_volatility": vol_h,
        "annual_volatility_unhedged": vol_u,
        "vol_reduction": 1.0 - vol_h / vol_u,
        "annual_return": perf["annual_return"],
        "annual_return_unhedged": perf_u["annual_return"],
        "sharpe_ratio": perf["sharpe_ratio"],
        "max_drawdown": perf["max_drawdown"],
        "max_drawdown_unhedged": perf_u["max_drawdown"],
        "annual_funding_return": perf["annual_funding_return"],
        "annual_cost_return": perf["annual_cost_return"],
        "annual_turnover": perf.get("annual_turnover", float("nan")),
        "bootstrap_median_annual_return": float(
            med.filter(pl.col("series") == "hedged")["annual_return"][0]),
        "bootstrap_p5_annual_return": float(
            p5.filter(pl.col("series") == "hedged")["annual_return"][0]),
        "bootstrap_median_annual_return_unhedged": float(
            med.filter(pl.col("series") == "unhedged")["annual_return"][0]),
    }
    return metrics, boot, table, diagnostics


def evaluate(config: Config, panel: pl.DataFrame, *, cache: StageCache | None = None,
             ) -> Evaluation:
    """Metrics and per-bar net returns of one configuration: :func:`run` without its tables.

    The sweep's path: with a ``cache`` bound to ``panel``, each distinct upstream stage
    (:data:`PIPELINE`) is computed once and reused. The walk-forward skips the PCA table
    (a table of :func:`run` only, no metric reads it); the baskets, and so the metrics, equal
    ``run(config, panel).metrics`` bit for bit (the same functions compute them).

    Parameters
    ----------
    config : Config
        Study settings.
    panel : pl.DataFrame
        Canonical panel holding the target and the candidate perps.
    cache : StageCache, optional
        Stage outputs of earlier configs on the same panel.

    Returns
    -------
    Evaluation
        ``metrics`` (those of :func:`run`) and ``returns`` (``ts, ret``: the hedged book's
        net return of each bar earned, its nav frame without the start row).
    """
    check_data(config, panel, "hedge_basket")  # target, exclude, windows vs the panel
    memo = cache if cache is not None else StageCache(max_entries=1)
    memo.bind(panel)
    keys = stage_keys(PIPELINE, config)
    freq = memo.get("data", (), lambda: infer_freq(panel))
    times = memo.get("schedule", keys["schedule"], lambda: schedule(config, panel))
    wf = memo.get("walk_forward", keys["walk_forward"],
                  lambda: _walk_forward(config, panel, times, pca_components=0))
    books = memo.get("backtest", keys["backtest"], lambda: _books(config, panel, wf))
    metrics = _metrics(config, freq, times, wf, books)[0]
    return Evaluation.of_nav(metrics, books.hedged.nav)


def run(
    config: Config,
    panel: pl.DataFrame,
    *,
    progress: Callable[[float], None] | None = None,
) -> StudyResult:
    """Run the study: weekly baskets, out-of-sample P&L, bootstrap.

    Parameters
    ----------
    config : Config
    panel : pl.DataFrame
        Canonical panel holding the target and the candidate perps (hourly by default).
    progress : callable, optional
        Called with the fraction done (the walk-forward is most of the work).

    Returns
    -------
    StudyResult
    """
    check_data(config, panel, "hedge_basket")  # target, exclude, windows vs the panel
    freq = infer_freq(panel)
    times = schedule(config, panel)

    def _progress(frac: float) -> None:
        if progress is not None:
            progress(0.8 * frac)

    wf = _walk_forward(config, panel, times, pca_components=config.pca_diagnostic_components,
                       progress=_progress)
    b = _books(config, panel, wf, capacity=True)
    if progress is not None:
        progress(0.85)
    window = max(round(freq_to_timedelta(config.corr_window) / freq_to_timedelta(freq)), 3)
    roll = rolling_correlation(b.rets, "target", "basket", window=window)
    metrics, boot, table, diagnostics = _metrics(config, freq, times, wf, b)
    if progress is not None:
        progress(1.0)
    return StudyResult(
        study="hedge_basket",
        config={"study": "hedge_basket", "data": dict(DEFAULT_DATA), "params": {}},
        metrics=metrics,
        tables={
            "weights": b.hedged.weights,  # held (drifting between the weekly decisions)
            "targets": b.book,
            "trades": b.hedged.trades,
            **({"capacity": b.capacity} if b.capacity is not None else {}),
            "basket": wf.basket(),
            "diagnostics": diagnostics,
            "candidates": wf.candidates,
            "pca": wf.pca,
            "nav": b.hedged.nav,
            "nav_unhedged": b.unhedged.nav,
            "rolling_correlation": roll,
            "bootstrap": table,
            "bootstrap_samples": boot.samples("annual_return"),
        },
        data_summary=summarize_panel(panel, "panel"),
    )
