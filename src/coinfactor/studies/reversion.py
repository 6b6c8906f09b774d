"""``reversion``: daily cross-sectional mean reversion on intraday bars (seed 001, done right).

Once per local calendar day, at a wall-clock hour in an IANA time zone (default 20:00
``America/New_York``, daylight saving handled), the study takes every coin's features from the
trailing ``lookback`` of bars that have *closed* by the decision instant, ranks the distance of
the price from its true (volume-weighted) VWAP, and holds baskets until the next decision:
short the ``n`` most extended above VWAP, long the ``n`` most below, or both (dollar-neutral).
P&L, with fees, half-spread and funding, comes from :func:`coinfactor.backtest.backtest`.

What it fixes in seed 001
-------------------------
- VWAP is ``Σ typical·volume / Σ volume`` (the seed's cancelled volume out).
- Missing bars stay missing: a coin without a real bar at the decision's anchor bar is left
  out that day; a forward return never spans a missing or filled bar.
- The decision sees the last bar with ``open + freq <= decision``
  (:func:`coinfactor.data.anchor_decisions`): in summer 20:00 EDT = 00:00 UTC sees the 20:00
  UTC bar; in winter 20:00 EST = 01:00 UTC is not on the 4h grid and sees the same bar (it
  closed at 00:00 UTC, one hour before the decision). The seed read the bar *opening* at 20:00
  New York time (four hours after the decision in summer).

Features
--------
At each decision, for each coin with a real anchor bar, from :mod:`coinfactor.signals` read at
the anchor bar with ``window`` = ``lookback`` in bars (6 for "1d" on 4h bars):
``vwap_distance`` (close / VWAP - 1) and ``avg_notional`` (quote notional per bar) over the
``window`` bars ending at the anchor bar; ``rolling_return`` (compounded), ``realized_vol`` and
``sharpe_proxy`` (both annualised) over the ``window`` bar returns ending there (so they use
one earlier close). A missing or filled bar inside a window voids that feature, and a coin
missing any feature is not eligible that day (it stays in the table, without a rank).

Outputs
-------
``nav`` (``ts, nav, ret, ret_price, ret_funding, ret_cost, turnover``), ``weights`` (``ts,
symbol, weight``, the held book at each bar, drifting between decisions), ``trades`` (the
trades made), ``capacity`` (unless ``costs.capacity_navs`` is empty) and ``cross_section``:
one row per (decision, coin with a real anchor bar) with the features, eligibility,
``vwap_rank``, basket side and weight, and the forward returns to the next decision. The
``fwd_*`` columns are labels for research: they are known only at the next decision.
"""

from __future__ import annotations

import math
import typing
import zoneinfo
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

import numpy as np
import polars as pl

from coinfactor import signals, xs
from coinfactor.analytics import summary as performance_summary
from coinfactor.backtest import BacktestResult, MarketData, backtest
from coinfactor.core.errors import ConfigError, DataError
from coinfactor.core.time import freq_to_timedelta, timedelta_to_freq
from coinfactor.core.typing import Basket, Weighting
from coinfactor.data import (
    FILLED_COLUMN,
    Grid,
    anchor_decisions,
    check_time_zone,
    decision_times,
    infer_freq,
)
from coinfactor.portfolio import (
    assign_baskets,
    hold_weights,
    rebalance_bars,
)
from coinfactor.studies._base import StudyResult, config_to_dict, summarize_panel
from coinfactor.studies._costs import CostConfig
from coinfactor.studies._params import Duration, Params, Range, check_data
from coinfactor.studies._stages import Stage, StageCache, stage_keys
from coinfactor.studies._target import StudyTarget, complete_bars
from coinfactor.studies._trial import Evaluation

__all__ = ["DEFAULT_DATA", "FEATURES", "KEY_METRICS", "PIPELINE", "Config", "cross_section",
           "evaluate", "run", "target"]

DEFAULT_DATA: dict[str, Any] = {"dataset": "binance-perp-4h"}
"""The ``[data]`` table of ``studies/reversion.toml``."""
KEY_METRICS: tuple[str, ...] = (
    "annual_return", "annual_volatility", "sharpe_ratio", "max_drawdown", "annual_cost_return",
    "annual_turnover", "mean_rank_ic", "funding_missing_share")
"""The metrics the demo shows for this study (:mod:`coinfactor.studies._demo`)."""

FEATURES: tuple[str, ...] = (
    "vwap_distance",
    "realized_vol",
    "avg_notional",
    "rolling_return",
    "sharpe_proxy",
)
"""Per-coin features at each decision, each a signal of :mod:`coinfactor.signals` computed over
the trailing ``lookback`` and read at the anchor bar."""


_COSTS = CostConfig(venue="binance-usdm", half_spread_bps=1.0)
"""The study's default ``[params.costs]``."""


@dataclass(frozen=True)
class Config(Params):
    """Settings of the reversion study; the defaults are the recommended run.

    Parameters
    ----------
    hour : int, default 20
        Local decision hour (0-23) in ``timezone``.
    timezone : str, default "America/New_York"
        IANA time zone of the decision hour (DST handled).
    lookback : str, default "1d"
        Trailing window of the features, a whole number (>= 2) of bars (6 bars of 4h).
    basket : {"short", "long", "long_short"}, default "long_short"
        ``short``: short the ``n`` coins most extended above VWAP (seed 001); ``long``: buy the
        ``n`` most below; ``long_short``: both, dollar-neutral. The default is dollar-neutral
        because the short-only book is mostly a bet on the market falling.
    n : int, default 10
        Coins per basket leg. A decision trades only with at least ``2 n`` eligible coins
        (every feature defined); otherwise it is flat. Ties: coins are ordered by VWAP
        distance descending, then symbol ascending; shorts are the first ``n``, longs the
        last ``n``.
    weighting : {"equal", "inverse_vol"}, default "equal"
        Weights within a leg: equal, or proportional to 1 / realized vol.
    gross : float, default 1.0
        Gross exposure of the book (sum of |weights|), as a fraction of NAV.
    include_funding : bool, default True
        Subtract the funding a long pays from ``fwd_return`` in the cross-section (the
        backtest always includes funding).
    costs : CostConfig, default Binance USD-M base tier, 1 bp half-spread, impact k = 1
        ``[params.costs]``: fees, half-spread, square-root impact and margins of the backtest.
    initial_nav : float, default 1,000,000
        Starting NAV in quote currency (USD): impact costs depend on it.
    """

    hour: Annotated[int, Range(0, 23)] = 20
    timezone: str = "America/New_York"
    lookback: Annotated[str, Duration(window=True)] = "1d"
    basket: Basket = "long_short"
    n: Annotated[int, Range(1, 10_000)] = 10
    weighting: Weighting = "equal"
    gross: Annotated[float, Range(0, 100, low_open=True)] = 1.0
    include_funding: bool = True
    costs: CostConfig = _COSTS
    initial_nav: Annotated[float, Range(0, 1e15, low_open=True, unit="USD")] = 1_000_000.0

    def check(self) -> None:
        """Check that the time zone is an IANA zone."""
        check_time_zone(self.timezone)


def _lookback_bars(lookback: str, freq: str) -> int:
    span, bar = freq_to_timedelta(lookback), freq_to_timedelta(freq)
    bars = span / bar
    if bars != int(bars) or bars < 2:
        raise ConfigError(
            f"lookback: expected a whole number of at least 2 bars of {freq}, got {lookback!r} "
            f"({bars:g} bars); use e.g. {timedelta_to_freq(bar * 6)!r}")
    return int(bars)


_SIGNAL_COLUMNS = ("ts", "symbol", "open", "high", "low", "close", "volume", "quote_volume",
                   FILLED_COLUMN)
_BACKTEST_COLUMNS = ("ts", "symbol", "close", "volume", "quote_volume", "funding_rate",
                     FILLED_COLUMN)


def _columns(panel: pl.DataFrame, names: tuple[str, ...]) -> pl.DataFrame:
    """Select the panel's columns among ``names`` (a slim frame for the signal and P&L code)."""
    return panel.select([c for c in names if c in panel.columns])


PIPELINE: tuple[Stage, ...] = (
    Stage("decisions", ("hour", "timezone")),
    Stage("features", ("lookback",), after=("decisions",)),
    Stage("baskets", ("include_funding", "weighting", "basket", "n", "gross"),
          after=("features",)),
    Stage("backtest", ("costs", "initial_nav"), after=("baskets",)),
)
"""The reversion pipeline's stages and the parameters each reads (a sweep reuses each distinct
upstream stage): decisions (the local decision times and their anchor bars); features (the
cross-section of features and forward returns at each decision); baskets (eligibility, ranks,
baskets and the held book); backtest (P&L and metrics)."""


def cross_section(config: Config, panel: pl.DataFrame) -> pl.DataFrame:
    """Build the daily cross-section of features, ranks, baskets and forward returns.

    Parameters
    ----------
    config : Config
        Study settings.
    panel : pl.DataFrame
        Canonical panel (one bar frequency, all symbols on one grid).

    Returns
    -------
    pl.DataFrame
        One row per (decision, coin with a real anchor bar), sorted by (decision, symbol):
        ``decision, anchor, symbol, close``, the :data:`FEATURES`, ``fwd_price_return,
        fwd_funding, fwd_return, eligible, vwap_rank, n_eligible, side, weight``.

    Raises
    ------
    DataError
        On an empty panel or bars off a common grid.
    ConfigError
        If ``lookback`` is not a whole number of at least 2 bars, or ``2 n`` exceeds the
        number of symbols in the panel.
    """
    return _decide(config, panel).table


@dataclass(frozen=True)
class _Facts:
    """What every config on one panel shares before its checks: frequency, symbol count."""

    freq: str
    n_symbols: int


@dataclass(frozen=True)
class _Base:
    """The panel's grid and the slim frames of the signal and P&L code."""

    grid: Grid
    signal_panel: pl.DataFrame
    slim: pl.DataFrame


@dataclass(frozen=True)
class _Decisions:
    """What the reversion pipeline decides, before any P&L: shared by run, evaluate, target."""

    freq: str
    grid: Grid
    anchors: pl.DataFrame
    table: pl.DataFrame
    held: pl.DataFrame
    slim: pl.DataFrame


def _facts(panel: pl.DataFrame) -> _Facts:
    return _Facts(infer_freq(panel), panel.get_column("symbol").n_unique())


def _base(panel: pl.DataFrame, freq: str) -> _Base:
    return _Base(Grid.from_panel(panel, freq), _columns(panel, _SIGNAL_COLUMNS),
                 _columns(panel, _BACKTEST_COLUMNS))


def _anchors(config: Config, base: _Base, freq: str) -> pl.DataFrame:
    """Return the local decision times and the bar each one sees (``decision, anchor``)."""
    grid = base.grid
    tz = zoneinfo.ZoneInfo(config.timezone)
    first: datetime = grid.ts[0]
    end: datetime = grid.ts[-1] + freq_to_timedelta(freq)
    decisions = decision_times(first.astimezone(tz).date(), end.astimezone(tz).date(),
                               hour=config.hour, tz=config.timezone)
    return anchor_decisions(decisions, grid)


def _features(panel: pl.DataFrame, base: _Base, anchors: pl.DataFrame, window: int,
              freq: str) -> pl.DataFrame:
    """Build the cross-section of features and forward returns at each decision."""
    feats = signals.features_at(base.signal_panel, FEATURES, anchors.get_column("anchor"),
                                window=window, freq=freq, grid=base.grid)
    table = signals.cross_section_at(panel, anchors, feats, FEATURES)
    return signals.attach_forward_returns(table, panel, anchors, base.grid)


def _baskets(config: Config, table: pl.DataFrame, anchors: pl.DataFrame,
             grid: Grid) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Eligibility, VWAP ranks and baskets of the cross-section, and the held book."""
    fwd = pl.col("fwd_price_return")
    if config.include_funding:
        fwd = fwd - pl.col("fwd_funding")
    eligible = pl.all_horizontal(pl.col(f).is_not_null() & pl.col(f).is_finite()
                                 for f in FEATURES)
    if config.weighting == "inverse_vol":
        eligible = eligible & (pl.col("realized_vol") > 0)
    table = table.with_columns(fwd.alias("fwd_return"), eligible.alias("eligible"))
    in_rank = pl.when(pl.col("eligible")).then(pl.col("vwap_distance"))
    table = table.with_columns(
        xs.rank(in_rank, by="decision").alias("vwap_rank"),
        pl.col("eligible").sum().over("decision").alias("n_eligible"),
    )
    table = assign_baskets(
        table, signal="vwap_distance", vol="realized_vol", eligible=pl.col("eligible"),
        basket=config.basket, n=config.n, weighting=config.weighting, gross=config.gross,
    )
    # the held book at the first bar of each holding period only (the backtest's decisions)
    return table, hold_weights(table, anchors, grid, at=rebalance_bars(anchors, grid))


def _decide(config: Config, panel: pl.DataFrame, cache: StageCache | None = None,
            ) -> _Decisions:
    """Decisions, cross-section, baskets and the held book (no P&L).

    With a ``cache`` (for this panel), each stage's output is looked up by its key
    (:data:`PIPELINE`) and computed only when absent; the results are the same bit for bit.
    """
    check_data(config, panel, "reversion")  # an empty panel, lookback vs the panel's span
    memo = cache if cache is not None else StageCache(max_entries=1)
    memo.bind(panel)
    facts = memo.get("data", (), lambda: _facts(panel))
    freq = facts.freq
    window = _lookback_bars(config.lookback, freq)
    if 2 * config.n > facts.n_symbols:
        raise ConfigError(
            f"n: {config.n} coins per leg needs a cross-section of at least {2 * config.n} "
            f"coins, but the panel has {facts.n_symbols} symbols; lower n to at most "
            f"{max(facts.n_symbols // 2, 1)} or add symbols")
    base = memo.get("grid", (), lambda: _base(panel, freq))
    keys = stage_keys(PIPELINE, config)
    anchors = memo.get("decisions", keys["decisions"], lambda: _anchors(config, base, freq))
    raw = memo.get("features", keys["features"],
                   lambda: _features(panel, base, anchors, window, freq))
    table, held = memo.get("baskets", keys["baskets"],
                           lambda: _baskets(config, raw, anchors, base.grid))
    return _Decisions(freq, base.grid, anchors, table, held, base.slim)


def _study_metrics(table: pl.DataFrame, bt: BacktestResult) -> dict[str, Any]:
    ic_rows = pl.col("eligible") & pl.col("fwd_return").is_not_null()
    per_decision = (
        table.group_by("decision")
        .agg(
            pl.col("eligible").sum().alias("n_eligible"),
            (pl.col("weight").abs().sum() > 0).alias("trades"),
            (pl.col("weight") * pl.col("fwd_return")).sum().alias("basket_fwd"),
            pl.col("fwd_return").is_not_null().any().alias("has_fwd"),
            pl.corr(pl.col("vwap_distance").filter(ic_rows), pl.col("fwd_return").filter(ic_rows),
                    method="spearman").alias("rank_ic"),
        )
        .sort("decision")
    )
    trading = per_decision.filter(pl.col("trades") & pl.col("has_fwd"))
    ic = per_decision.get_column("rank_ic").fill_nan(None).drop_nulls()
    out: dict[str, Any] = performance_summary(bt)
    out.update({
        "n_decisions": per_decision.height,
        "n_trading_decisions": int(per_decision.get_column("trades").sum()),
        "mean_eligible": float(per_decision.get_column("n_eligible").cast(pl.Float64).mean()
                               or 0.0),  # type: ignore[arg-type]
        "mean_rank_ic": float(ic.mean()) if ic.len() else math.nan,  # type: ignore[arg-type]
        "rank_ic_t_stat": (float(ic.mean() / ic.std() * np.sqrt(ic.len()))  # type: ignore
                           if ic.len() > 1 and ic.std() else math.nan),
        "mean_basket_fwd_return": (float(trading.get_column("basket_fwd").mean())  # type: ignore
                                   if trading.height else math.nan),
    })
    return out


def panel_columns(config: Config) -> frozenset[str]:
    """Return the panel columns the reversion study reads (the ``[data]`` loader keeps these).

    Those of its features and of its backtest.
    """
    return frozenset(_SIGNAL_COLUMNS + _BACKTEST_COLUMNS)


def target(config: Config, panel: pl.DataFrame, *, as_of: datetime | None = None,
           ) -> StudyTarget:
    """Today's book: the weights of the last decision at or before the last complete bar.

    The same cross-section and baskets as :func:`run`, on the bars complete at ``as_of``;
    ``run`` on those bars trades to these weights at that decision.

    Parameters
    ----------
    config : Config
        Study settings.
    panel : pl.DataFrame
        Canonical panel.
    as_of : datetime, optional
        The clock: bars whose close is after it are left out (default: every bar).

    Returns
    -------
    StudyTarget
        ``decided_at`` is the first bar of the last decision's holding period.
    """
    cut = complete_bars(panel, as_of)
    held = _decide(config, cut).held
    if held.height == 0:
        raise DataError("reversion: no decision yet on these bars (a basket needs "
                        f"{2 * config.n} eligible coins)", fix="use a longer panel")
    last = typing.cast(datetime, held.get_column("ts").max())
    book = held.filter(pl.col("ts") == last)
    return StudyTarget.from_weights("reversion", last, as_of, dict(zip(
        book.get_column("symbol").to_list(), book.get_column("weight").to_list(), strict=True)))


def run(config: Config, panel: pl.DataFrame) -> StudyResult:
    """Run the reversion study.

    Parameters
    ----------
    config : Config
        Study settings.
    panel : pl.DataFrame
        Canonical panel (e.g. ``coinfactor.datasets.load("binance-perp-4h")``).

    Returns
    -------
    StudyResult
        Tables ``nav``, ``weights``, ``cross_section``; metrics from the backtest (annualised
        return, vol, Sharpe, drawdown, P&L split, turnover) plus ``n_decisions``,
        ``n_trading_decisions``, ``mean_eligible``, ``mean_rank_ic`` (mean over decisions of
        the Spearman correlation of VWAP distance with ``fwd_return``; negative = reversion),
        ``rank_ic_t_stat`` and ``mean_basket_fwd_return`` (Σ weight · fwd_return per trading
        decision, before costs; a held coin without a forward return counts as 0).

    Raises
    ------
    DataError
        On an empty panel, bars off a common grid, or no decision with ``2 n`` eligible coins.
    ConfigError
        See :func:`cross_section`.
    """
    data_summary = summarize_panel(panel, "panel")
    d = _decide(config, panel)
    del panel  # the backtests read d.slim: a panel handed over (run_config) frees the rest
    metrics, tables, market = _book(config, d)
    sizes = config.costs.capacity(d.slim, d.held, **_execution(config, d, market))
    return StudyResult(
        study="reversion",
        config={"study": "reversion", "data": dict(DEFAULT_DATA), "params": config_to_dict(config)},
        metrics=metrics,
        tables={**tables, "cross_section": d.table,
                **({"capacity": sizes} if sizes is not None else {})},
        data_summary=data_summary,
    )


def _book(config: Config, d: _Decisions,
          ) -> tuple[dict[str, Any], dict[str, pl.DataFrame], MarketData]:
    """Backtest the book: its metrics, ``nav``, ``weights`` and ``trades`` tables, its market.

    The backtest result (its ``(n_bars, n_symbols)`` ledger) is dropped on return, before the
    capacity runs, which reuse the market data.
    """
    bt, metrics, market = _backtest(config, d)
    return metrics, {"nav": bt.nav, "weights": bt.weights, "trades": bt.trades}, market


def _execution(config: Config, d: _Decisions, market: MarketData) -> dict[str, Any]:
    """Return the execution settings of the backtest and the capacity table."""
    return {"costs": config.costs.model(), "lag": 0, "freq": d.freq, "grid": market.grid,
            "market": market, **config.costs.backtest_settings()}


def _backtest(config: Config, d: _Decisions,
              ) -> tuple[BacktestResult, dict[str, Any], MarketData]:
    """Backtest the held book and compute the study's metrics (shared by run and evaluate).

    Also returns the market data of the held symbols, for the capacity runs.
    """
    if d.held.height == 0:
        raise DataError(
            f"reversion: no decision had the {2 * config.n} eligible coins a basket needs "
            "(every feature defined over a full lookback at the anchor bar)",
            fix="use a longer panel, more symbols, or a smaller n",
        )
    # the held symbols' grid, as the backtest builds it (the panel's grid when every symbol
    # is held): its market data serve the backtest and the capacity runs
    held = d.held.get_column("symbol").unique().sort().to_list()
    market = MarketData.from_panel(d.slim, d.grid.subset(held))
    bt = backtest(d.slim, d.held, initial_nav=config.initial_nav,
                  **_execution(config, d, market))
    return bt, _study_metrics(d.table, bt), market


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
        Canonical panel.
    cache : StageCache, optional
        Stage outputs of earlier configs on the same panel.

    Returns
    -------
    Evaluation
        ``metrics`` (those of :func:`run`) and ``returns`` (``ts, ret``: the net return of
        each bar earned, the nav frame without its start row).
    """
    bt, metrics, _ = _backtest(config, _decide(config, panel, cache))
    return Evaluation.of_nav(metrics, bt.nav)
