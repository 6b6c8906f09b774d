"""The ``carry`` study (seed 004): funding carry -> deciles -> sigmoid -> buffered book.

Pipeline, every step point in time (values at ts use bars through ts only):

1. universe: top notional-volume deciles (``universe.volume_decile``);
2. signal: ``signals.funding_carry`` (annualised, positive when a LONG receives funding),
   winsorised, z-scored and bucketed into deciles within the universe at each ts
   (``xs.winsorize/zscore/buckets``);
3. alpha = linear map of the decile onto [-1, 1] (top decile = +1 = long the coins whose longs
   are paid funding), then a sigmoid target position;
4. vol: EMA blend of squared log returns (``risk.ema_blend_variance``), never across gaps;
5. sizing: inverse-vol weights at unit gross, scaled to the annual vol target with a
   correlation-aware portfolio vol forecast;
6. allocation: ``portfolio.BufferedAllocator`` (no-trade buffer, per-asset, gross and turnover
   caps, names leaving the universe closed);
7. backtest: ``backtest.backtest`` with price, funding and cost P&L.

``seed_parity=True`` reproduces the seed's choices for comparison: the inverted decile
direction (decile of highest carry mapped to -1, i.e. short the coins whose shorts are paid), a
diagonal covariance for the vol target, and the buffer in per-bar variance units. Funding stays
in the P&L and the turnover cap stays on positions (those were bugs, not choices).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Annotated, Any

import numpy as np
import polars as pl

from coinfactor import universe
from coinfactor.analytics import summary as performance_summary
from coinfactor.backtest import CostModel, MarketData, backtest
from coinfactor.core.errors import ConfigError, DataError
from coinfactor.core.time import periods_per_year
from coinfactor.core.typing import CovarianceMethod, ExitRule, SpreadModel
from coinfactor.data import FILLED_COLUMN, Grid
from coinfactor.portfolio import (
    AllocationInputs,
    BufferedAllocator,
    bucket_targets,
    inverse_vol_weights,
    portfolio_vol_from,
    vol_inputs,
    vol_target_scale,
)
from coinfactor.risk import bar_returns, ema_blend_variance
from coinfactor.signals import carry_from_rate
from coinfactor.studies._base import StudyResult, summarize_panel
from coinfactor.studies._costs import CostConfig
from coinfactor.studies._params import MAX_BARS, Bars, Params, Range, check_data
from coinfactor.studies._stages import Stage, StageCache, stage_keys
from coinfactor.studies._target import StudyTarget, complete_bars
from coinfactor.studies._trial import Evaluation

DEFAULT_DATA: dict[str, Any] = {"dataset": "hyperliquid-perp-1d"}
KEY_METRICS: tuple[str, ...] = (
    "annual_return", "annual_volatility", "sharpe_ratio", "max_drawdown", "annual_cost_return",
    "annual_funding_return", "annual_turnover", "realized_vol_over_target")
"""The metrics the demo shows for this study (:mod:`coinfactor.studies._demo`)."""


_COSTS = CostConfig(venue="hyperliquid", half_spread_bps=5.0)
"""The study's default ``[params.costs]``."""


@dataclass(frozen=True)
class Config(Params):
    """Settings of the carry study; the defaults are the recommended run.

    Attributes
    ----------
    universe_window : int
        Bars of trailing notional volume for the universe.
    min_decile : int
        Lowest volume decile kept (9: top 20%).
    carry_window : int
        Bars averaged by ``funding_carry`` (7: a week on daily bars, steadier ranks).
    winsor_lower, winsor_upper : float
        Winsorisation quantiles of carry per ts.
    n_buckets : int
        Number of carry buckets (deciles).
    sigmoid_k, sigmoid_x_offset, y_min, y_max : float
        Sigmoid position map of alpha in [-1, 1].
    vol_short_span, vol_long_span : float
        EMA spans (bars) of the variance blend.
    vol_blend : float
        Weight of the short EMA.
    vol_min_periods : int
        Returns required before a coin has a forecast.
    vol_target : float
        Annual volatility target of the book.
    covariance : {"correlation", "diagonal"}
        Portfolio variance model of the vol target.
    corr_window : int
        Bars of standardised returns in the correlation estimate.
    risk_aversion, cost_aversion : float
        λ and γ of the buffer ``γ·cost/(λ·σ²)`` (σ² annualised, cost = fee + half-spread).
        γ = 10 weighs one trade's cost against about 365/10 ≈ 5 weeks of risk; on the
        Hyperliquid top deciles the buffer is then ~0.6% of NAV (~15% of a typical position),
        so the book still trades nearly every day but skips the smallest rebalances.
    max_weight, gross_cap : float
        Per-asset and gross caps.
    turnover_cap : float or None
        Cap on Σ|trade| per bar.
    open_new_fully : bool
        Open names entering the universe at once.
    exit : {"close", "decay"}
        Rule for names leaving the universe.
    costs : CostConfig
        ``[params.costs]``: venue fees, half-spread (the constant, and the fallback where an
        estimator has no value), square-root impact and margins. The same model prices the
        backtest's trades and the allocator's buffer (its rate for a 1%-of-NAV trade).
    initial_nav : float
        Starting NAV in quote currency (USD): impact costs depend on it.
    spread_model : str
        Half-spread estimate (see :data:`SpreadModel`).
    spread_window : int
        Window of the range-based spread estimators.
    lag : int
        Bars between decision and execution.
    seed_parity : bool
        Reproduce the seed's choices (see module docstring).
    """

    universe_window: Annotated[int, Bars(1)] = 30
    min_decile: Annotated[int, Range(1, 10)] = 9
    carry_window: Annotated[int, Bars(1)] = 7
    winsor_lower: Annotated[float, Range(0, 1)] = 0.05
    winsor_upper: Annotated[float, Range(0, 1)] = 0.95
    n_buckets: Annotated[int, Range(2, 100)] = 10
    sigmoid_k: Annotated[float, Range(0, 100, low_open=True)] = 2.0
    sigmoid_x_offset: Annotated[float, Range(-1, 1)] = 0.0
    y_min: Annotated[float, Range(-10, 10)] = -1.0
    y_max: Annotated[float, Range(-10, 10)] = 1.0
    vol_short_span: Annotated[float, Range(1, MAX_BARS, unit="bars")] = 21.0
    vol_long_span: Annotated[float, Range(1, MAX_BARS, unit="bars")] = 90.0
    vol_blend: Annotated[float, Range(0, 1)] = 0.5
    vol_min_periods: Annotated[int, Bars(1)] = 21
    vol_target: Annotated[float, Range(0, 10, low_open=True)] = 0.20
    covariance: CovarianceMethod = "correlation"
    corr_window: Annotated[int, Bars(2)] = 90
    risk_aversion: Annotated[float, Range(0, 1e6, low_open=True)] = 2.0
    cost_aversion: Annotated[float, Range(0, 1e6)] = 10.0
    max_weight: Annotated[float, Range(0, 10, low_open=True)] = 0.20
    gross_cap: Annotated[float, Range(0, 100, low_open=True)] = 2.0
    turnover_cap: Annotated[float, Range(0, 100, low_open=True)] | None = 0.30
    open_new_fully: bool = True
    exit: ExitRule = "close"
    costs: CostConfig = _COSTS
    initial_nav: Annotated[float, Range(0, 1e15, low_open=True, unit="USD")] = 1_000_000.0
    spread_model: SpreadModel = "constant"
    spread_window: Annotated[int, Bars(2)] = 20
    lag: Annotated[int, Bars(0)] = 0
    seed_parity: bool = False

    def check(self) -> None:
        """Check the ordered pairs: winsor quantiles, sigmoid range, EMA spans."""
        for low, high in (("winsor_lower", "winsor_upper"), ("y_min", "y_max"),
                          ("vol_short_span", "vol_long_span")):
            a, b = getattr(self, low), getattr(self, high)
            strict = low != "vol_short_span"
            if a > b or (strict and a == b):
                raise ConfigError(
                    f"[params] {low} = {a} and {high} = {b}: expected {low} "
                    f"{'<' if strict else '<='} {high}; fix: swap or widen them")


PIPELINE: tuple[Stage, ...] = (
    Stage("universe", ("universe_window", "min_decile")),
    Stage("signal", ("carry_window", "winsor_lower", "winsor_upper", "n_buckets", "sigmoid_k",
                     "sigmoid_x_offset", "y_min", "y_max", "seed_parity"), after=("universe",)),
    Stage("volatility", ("vol_short_span", "vol_long_span", "vol_blend", "vol_min_periods")),
    Stage("sizing", ("vol_target", "covariance", "corr_window", "seed_parity"),
          after=("signal", "volatility")),
    Stage("costs", ("costs", "spread_model", "spread_window", "initial_nav"), after=("signal",)),
    Stage("allocation", ("risk_aversion", "cost_aversion", "max_weight", "gross_cap",
                         "turnover_cap", "open_new_fully", "exit", "seed_parity"),
          after=("sizing", "costs")),
    Stage("backtest", ("lag", "costs", "initial_nav"), after=("allocation",)),
)
"""The carry pipeline's stages and the parameters each reads (a sweep reuses each distinct
upstream stage): universe -> signal; volatility (prices only); sizing (signal and volatility:
inverse-vol weights scaled to the vol target); costs (the cost model on the book's columns);
allocation (the buffered book); backtest."""


def signal_frame(config: Config, panel: pl.DataFrame, *, freq: str | None = None,
                 ) -> pl.DataFrame:
    """Universe, carry, winsorised z-score, decile, alpha and sigmoid target per (ts, symbol).

    Returns
    -------
    pl.DataFrame
        ``ts, symbol, funding_carry, score, decile, alpha, target`` for universe members with
        a carry value, sorted by (symbol, ts).
    """
    grid = Grid.from_panel(panel, freq)
    base = _Base(grid, np.empty((0, 0)), np.empty((0, 0)), np.empty(0, dtype=bool))
    sig = _signal(config, panel, base, _universe(config, panel, grid))
    return sig.table


@dataclass(frozen=True)
class _Base:
    """What every trial on one panel shares: the grid, close prices and their log returns."""

    grid: Grid
    close: np.ndarray
    rets: np.ndarray
    bar_rows: np.ndarray


def _base(panel: pl.DataFrame) -> _Base:
    """One grid for every step (raises on off-grid bars), read with the bar frequency."""
    grid = Grid.from_panel(panel)
    close = grid.wide(panel, "close")  # filled bars masked
    bar_rows = np.zeros(grid.shape[0], dtype=bool)  # axis rows where the panel has any bar
    bar_rows[grid.rows] = True  # every row is on the grid (from_panel raises otherwise)
    return _Base(grid, close, bar_rows=bar_rows, rets=bar_returns(close, kind="log"))


def _universe(config: Config, panel: pl.DataFrame, grid: Grid) -> np.ndarray:
    return universe.volume_decile(panel, config.universe_window, config.min_decile, grid=grid)


@dataclass(frozen=True)
class _Signal:
    """Universe members with a carry, the bucket of each cell and its target, the table."""

    member: np.ndarray
    bucket: np.ndarray
    target_of: np.ndarray
    table: pl.DataFrame
    book: np.ndarray
    book_grid: Grid


def _signal(config: Config, panel: pl.DataFrame, base: _Base, in_universe: np.ndarray
            ) -> _Signal:
    grid = base.grid
    # funding is read here alone (no later stage reads it)
    carry = carry_from_rate(grid.wide(panel, "funding_rate"), grid.freq, config.carry_window)
    member = in_universe & np.isfinite(carry)
    np.copyto(carry, np.nan, where=~member)  # only members' carry is used from here on
    targets = bucket_targets(
        carry, config.n_buckets, lower=config.winsor_lower, upper=config.winsor_upper,
        reverse=config.seed_parity, k=config.sigmoid_k, x_offset=config.sigmoid_x_offset,
        y_min=config.y_min, y_max=config.y_max)
    bucket = targets.bucket.astype(np.int32)
    table = grid.long({"funding_carry": carry, "score": targets.score,
                       "decile": bucket, "alpha": targets.alpha,
                       "target": targets.target}, where=member, order="symbol")
    del carry  # the score and the carry live on in the table alone
    # Only universe members are ever held: from here on the arrays keep their columns
    # (``book``) alone. Sums over symbols run left to right and skip nothing but exact zeros,
    # so the results are those of the full grid bit for bit.
    book = np.flatnonzero(member.any(axis=0))
    book_grid = grid.subset([grid.symbols[c] for c in book])  # the book's columns, own grid
    return _Signal(member, bucket, targets.target_of, table, book, book_grid)


def _volatility(config: Config, base: _Base) -> np.ndarray:
    """Per-bar vol forecast (EMA blend), NaN where the coin has no bar."""
    var = ema_blend_variance(base.rets, short_span=config.vol_short_span,
                             long_span=config.vol_long_span, blend=config.vol_blend,
                             min_periods=config.vol_min_periods)
    vol = np.sqrt(var, out=var)
    np.copyto(vol, np.nan, where=np.isnan(base.close))
    return vol


@dataclass(frozen=True)
class _Sizing:
    """Inverse-vol weights of the book's columns scaled to the vol target."""

    vin: Any  # its ``sig``: the book's vols, NaN read as 0
    method: CovarianceMethod
    book_vol: np.ndarray
    scale: np.ndarray
    desired: np.ndarray


def _sizing(config: Config, base: _Base, sig: _Signal, vol: np.ndarray) -> _Sizing:
    ppy = periods_per_year(base.grid.freq)
    book = sig.book
    raw = inverse_vol_weights(sig.target_of[np.take(sig.bucket, book, axis=1)],
                              np.take(vol, book, axis=1))  # C order (not a[:, idx]'s F)
    method: CovarianceMethod = "diagonal" if config.seed_parity else config.covariance
    vin = vol_inputs(vol, base.rets if method == "correlation" else None, config.corr_window,
                     columns=book)
    book_vol = portfolio_vol_from(raw, vin, method=method, window=config.corr_window)
    scale = vol_target_scale(book_vol, config.vol_target / math.sqrt(ppy))
    raw *= scale[:, None]  # the desired weights, in place
    return _Sizing(vin, method, book_vol, scale, raw)


@dataclass(frozen=True)
class _Costs:
    """One cost model for the buffer and the backtest, on the book's columns."""

    market: MarketData
    costs: CostModel
    rate: np.ndarray


def _costs(config: Config, panel: pl.DataFrame, freq: str, book_grid: Grid) -> _Costs:
    costs = config.costs.model(None if config.spread_model == "constant"
                               else config.costs.half_spread_frame(
                                   panel, config.spread_model, config.spread_window, freq))
    market = MarketData.from_panel(panel, book_grid)
    return _Costs(market, costs, costs.rate(market, config.initial_nav))


@dataclass(frozen=True)
class _Allocation:
    """The allocator's book (its inputs and buffers are not kept)."""

    weights: np.ndarray
    forecast_vol: np.ndarray
    last_positions: np.ndarray
    """The book after the close of the last bar (``n_book``,): today's target."""
    turnover_scale: np.ndarray
    gross_scale: np.ndarray
    mean_buffer: float
    """Mean no-trade buffer over the cells with a desired weight (a metric)."""


def _allocation(config: Config, freq: str, bar_rows: np.ndarray, size: _Sizing, cost: _Costs,
                progress: Callable[[float], None] | None) -> _Allocation:
    ppy = periods_per_year(freq)
    # buffer variance units: annualised (ours) or per bar (the seed's); a vol of 0 where it
    # is NaN gives the same buffer (a non-finite buffer is 0)
    vol_buffer = size.vin.sig if config.seed_parity else size.vin.sig * math.sqrt(ppy)
    allocator = BufferedAllocator(
        risk_aversion=config.risk_aversion, cost_aversion=config.cost_aversion,
        max_weight=config.max_weight, gross_cap=config.gross_cap,
        turnover_cap=config.turnover_cap, open_new_fully=config.open_new_fully,
        exit=config.exit)
    # tradable: a price on the book's grid (the market's closes are the panel's, filled
    # bars masked)
    alloc = allocator.fit(AllocationInputs(
        size.desired, vol_buffer, cost.rate, ~np.isnan(cost.market.close)), progress=progress)
    del vol_buffer
    # the cells with a desired weight in row-major order: the same values in the same
    # order whichever flat columns the arrays carry
    desired = size.desired
    mean_buffer = (float(alloc.buffer[~np.isnan(desired)].mean())
                   if np.isfinite(desired).any() else math.nan)
    pos_b, t_scale, g_scale = alloc.positions, alloc.turnover_scale, alloc.gross_scale
    del alloc  # its inputs and buffers: nothing reads them from here on
    fc_vol = portfolio_vol_from(pos_b, size.vin, method=size.method, window=config.corr_window)
    # the cells the book holds or just closed, on bars of the panel
    held_b = pos_b != 0.0
    keep_b = held_b.copy()
    keep_b[1:] |= held_b[:-1]
    keep_b &= bar_rows[:, None]
    if not keep_b.any():
        raise DataError("carry: the book never holds a position (no universe member has a "
                        "carry, vol and price)", fix="use a longer panel with funding")
    # the book's weighted columns on their own grid (nothing else is ever held); a row
    # without any value is no decision (the book is carried); columns never held stay 0
    # and add nothing to any sum
    return _Allocation(np.where(keep_b, pos_b, np.nan), fc_vol, pos_b[-1].copy(), t_scale,
                       g_scale, mean_buffer)


@dataclass(frozen=True)
class _Decisions:
    """What the carry pipeline decides, before any P&L: shared by :func:`run` and :func:`target`.

    Only what the backtest, the tables and the metrics read: the allocator's inputs and
    buffers are not kept past the allocation.
    """

    grid: Grid
    book_grid: Grid
    market: MarketData
    costs: CostModel
    member: np.ndarray
    signal: pl.DataFrame
    last_positions: np.ndarray  # (n_book,): the book after the last bar's close, today's target
    turnover_scale: np.ndarray
    gross_scale: np.ndarray
    mean_buffer: float
    book_vol: np.ndarray
    scale: np.ndarray
    forecast_vol: np.ndarray
    bar_rows: np.ndarray
    weights: np.ndarray
    panel: pl.DataFrame
    """The panel's columns the backtests read (ts, symbol, close, funding)."""
    data_summary: dict[str, Any]


def _decide(config: Config, panel: pl.DataFrame,
            progress: Callable[[float], None] | None = None,
            cache: StageCache | None = None) -> _Decisions:
    """Universe, signal, vol, sizing and allocation: the book at every bar (no P&L).

    With a ``cache`` (for this panel), each stage's output is looked up by its key
    (:data:`PIPELINE`) and computed only when absent; the results are the same bit for bit.
    """
    check_data(config, panel, "carry")  # windows and lag against the panel, before any work
    if "funding_rate" not in panel.columns:
        raise DataError("carry: the panel needs a funding_rate column (perpetual futures)",
                        column="funding_rate", fix="load a perp dataset or attach funding")
    # without a cache nothing is kept: each stage's output is freed after its last use
    memo = cache if cache is not None else StageCache(max_entries=0)
    memo.bind(panel)
    keys = stage_keys(PIPELINE, config)
    base = memo.get("data", (), lambda: _base(panel))
    in_universe = memo.get("universe", keys["universe"],
                           partial(_universe, config, panel, base.grid))
    sig = memo.get("signal", keys["signal"], partial(_signal, config, panel, base, in_universe))
    del in_universe
    vol = memo.get("volatility", keys["volatility"], partial(_volatility, config, base))
    size = memo.get("sizing", keys["sizing"], partial(_sizing, config, base, sig, vol))
    del vol
    grid, bar_rows, book_grid, member, table = (base.grid, base.bar_rows, sig.book_grid,
                                                sig.member, sig.table)
    del base, sig  # closes, returns and buckets: no later stage reads them
    cost = memo.get("costs", keys["costs"], lambda: _costs(config, panel, grid.freq, book_grid))
    summary = summarize_panel(panel, "carry study input", n_symbols=len(grid.symbols),
                              n_ts=int(np.count_nonzero(bar_rows)))
    # no later stage reads the other columns: a panel handed over (run) is freed here
    panel = panel.select(c for c in ("ts", "symbol", "close", "funding_rate", FILLED_COLUMN)
                         if c in panel.columns)
    book = memo.get("allocation", keys["allocation"],
                    lambda: _allocation(config, grid.freq, bar_rows, size, cost, progress))
    return _Decisions(grid, book_grid, cost.market, cost.costs, member, table,
                      book.last_positions, book.turnover_scale, book.gross_scale,
                      book.mean_buffer, size.book_vol, size.scale, book.forecast_vol,
                      bar_rows, book.weights, panel, summary)


def panel_columns(config: Config) -> frozenset[str]:
    """Return the panel columns carry reads (universe, costs, funding; OHLC for bar spreads)."""
    bars = () if config.spread_model == "constant" else ("open", "high", "low")
    return frozenset({"close", "volume", "quote_volume", "funding_rate", *bars})


def target(config: Config, panel: pl.DataFrame, *, as_of: datetime | None = None,
           ) -> StudyTarget:
    """Today's book: the weights decided at the close of the last complete bar.

    The same pipeline as :func:`run` (universe, signal, vol, sizing, allocation), on the bars
    complete at ``as_of``; ``run`` on the same bars holds these weights after that close.

    Parameters
    ----------
    config : Config
        Study settings.
    panel : pl.DataFrame
        Canonical panel with ``funding_rate``.
    as_of : datetime, optional
        The clock: bars whose close (``ts + freq``) is after it are left out (default: use
        every bar).

    Returns
    -------
    StudyTarget
    """
    cut = complete_bars(panel, as_of)
    d = _decide(config, cut)
    last = d.book_grid.shape[0] - 1
    row = d.last_positions
    names = d.book_grid.symbols
    return StudyTarget.from_weights("carry", d.book_grid.ts[last], as_of,
                                    {names[j]: float(row[j]) for j in np.flatnonzero(row)})


def _backtest(config: Config, d: _Decisions) -> tuple[Any, dict[str, Any]]:
    """Backtest the decided book and compute the study's metrics (shared by run and evaluate)."""
    ppy = periods_per_year(d.grid.freq)
    forecast = pl.DataFrame({"ts": d.grid.ts, "forecast_vol": d.forecast_vol * math.sqrt(ppy)})
    result = backtest(d.panel, d.weights, initial_nav=config.initial_nav, forecast_vol=forecast,
                      **_execution(config, d))
    t_scale, g_scale = d.turnover_scale, d.gross_scale
    metrics: dict[str, Any] = performance_summary(result)
    members_per_bar = d.member.sum(axis=1)
    nav = result.nav
    first = nav.get_column("ts")[0]
    traded_days = result.turnover.filter(pl.col("ts") > first).get_column("turnover")
    metrics.update({
        "vol_target": config.vol_target,
        "realized_vol_over_target": metrics.get("annual_volatility", math.nan)
        / config.vol_target,
        "fraction_of_bars_trading": float((traded_days.to_numpy() > 1e-12).mean())
        if traded_days.len() else 0.0,
        "price_total": float(nav.get_column("ret_price").sum()),
        "turnover_cap_bound_fraction": float((t_scale < 1).mean()),
        "gross_cap_bound_fraction": float((g_scale < 1).mean()),
        "mean_buffer": d.mean_buffer,
        "mean_universe_size": float(members_per_bar[members_per_bar > 0].mean())
        if d.signal.height else 0.0,
        "seed_parity": config.seed_parity,
    })
    return result, metrics


def _execution(config: Config, d: _Decisions) -> dict[str, Any]:
    return {"grid": d.book_grid, "market": d.market, "costs": d.costs, "lag": config.lag,
            **config.costs.backtest_settings()}


def evaluate(config: Config, panel: pl.DataFrame, *, cache: StageCache | None = None,
             ) -> Evaluation:
    """Metrics and per-bar net returns of one configuration: :func:`run` without its tables.

    The sweep's path: with a ``cache`` bound to ``panel``, each distinct upstream stage
    (:data:`PIPELINE`) is computed once and reused; the metrics equal ``run(config,
    panel).metrics`` bit for bit (the same functions compute them).

    Parameters
    ----------
    config : Config
        Study settings.
    panel : pl.DataFrame
        Canonical panel with ``funding_rate``.
    cache : StageCache, optional
        Stage outputs of earlier configs on the same panel.

    Returns
    -------
    Evaluation
        ``metrics`` (those of :func:`run`) and ``returns`` (``ts, ret``: the net return of
        each bar earned, the nav frame without its start row).
    """
    d = _decide(config, panel, cache=cache)
    result, metrics = _backtest(config, d)
    return Evaluation.of_nav(metrics, result.nav)


def run(
    config: Config,
    panel: pl.DataFrame,
    *,
    progress: Callable[[float], None] | None = None,
) -> StudyResult:
    """Run the carry study on a canonical panel with funding.

    Parameters
    ----------
    config : Config
        Study settings.
    panel : pl.DataFrame
        Canonical panel with ``funding_rate`` (perpetuals).
    progress : callable, optional
        Called with the fraction of the allocation loop done.

    Returns
    -------
    StudyResult
        Tables ``nav, weights, trades, exposure, vol, signal, allocation``; metrics of the
        backtest plus how often the book trades, realised vs target vol and the funding P&L.
    """
    loaded = [panel]
    del panel  # handed to the decisions, which keep the backtests' columns alone
    d = _decide(config, loaded.pop(), progress)
    # the capacity table first: its backtests are freed before the kept one runs
    sizes = config.costs.capacity(d.panel, d.weights, **_execution(config, d))
    result, metrics = _backtest(config, d)
    ppy = periods_per_year(d.grid.freq)
    allocation = pl.DataFrame({
        "ts": d.grid.ts, "book_vol_unscaled": d.book_vol * math.sqrt(ppy), "vol_scale": d.scale,
        "turnover_scale": d.turnover_scale, "gross_scale": d.gross_scale,
        "forecast_vol": d.forecast_vol * math.sqrt(ppy)})
    signal, data_summary = d.signal, d.data_summary
    del d  # the decisions' arrays are freed before the result's long tables are built
    return StudyResult(
        study="carry",
        config={"study": "carry", "data": DEFAULT_DATA, "params": {}},
        metrics=metrics,
        tables={
            "nav": result.nav,
            "weights": result.weights,
            "trades": result.trades,
            "exposure": result.exposure,
            "vol": result.vol,
            "signal": signal,
            "allocation": allocation,
            **({"capacity": sizes} if sizes is not None else {}),
        },
        data_summary=data_summary,
    )
