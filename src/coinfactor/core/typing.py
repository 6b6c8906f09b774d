"""Typed options shared across modules: every ``Literal`` alias of coinfactor lives here.

Modules import their option types from here, and every check of an option against its allowed
values derives the allowed set from the alias with ``typing.get_args`` (no second list).
"""

from __future__ import annotations

from typing import Literal

PartialBars = Literal["drop", "mark"]
"""What resampling does with a coarse bar built from fewer fine bars than it spans."""

FailurePolicy = Literal["raise", "keep_previous", "fallback"]
"""What a walk-forward optimiser does when one solve fails."""

ReturnKind = Literal["simple", "log"]
"""Simple returns ``p1/p0 - 1`` or log returns ``log(p1/p0)``."""

BootstrapMethod = Literal["moving", "stationary"]
"""Block scheme: fixed-length moving blocks or geometric-length (stationary) blocks."""

BootstrapMetric = Literal["annual_return", "annual_volatility", "sharpe_ratio", "max_drawdown"]
"""A bootstrap distribution, named after the :mod:`coinfactor.analytics` function."""

GapPolicy = Literal["mark", "skip"]
"""How a position held through missing bars is marked when the price comes back.

``"mark"`` (default): the bar where the price reappears books the move since the last observed
price (the position was held all along, so that move is real P&L). ``"skip"``: returns are only
ever ``close(t+1)/close(t) - 1`` with both bars present; a move across a gap is never booked.
"""

CleanMode = Literal["keep", "remove"]
"""``"keep"``: the top-k reconstruction (mean included); ``"remove"``: the residual after it."""

FactorFamily = Literal["liquidity", "beta", "momentum"]
"""A bucket-factor family: trailing liquidity, beta to the market, or momentum."""

MarketWeighting = Literal["equal", "quote_volume"]
"""Equal weights, or weights proportional to each coin's previous-bar quote notional."""

LiquidityMeasure = Literal["trades", "notional"]
"""Mean trade count per bar, or mean quote notional per bar."""

FactorSet = Literal["spreads", "buckets"]
"""``"spreads"``: market + one high-minus-low spread per family (well-posed, the default);
``"buckets"``: market + every bucket (seed 000's set; exactly collinear)."""

ExitRule = Literal["close", "decay"]
"""What happens to a position whose symbol leaves the universe (see
:class:`coinfactor.portfolio.BufferedAllocator`)."""

CovarianceMethod = Literal["diagonal", "correlation"]
"""Portfolio variance model for vol targeting.

``"diagonal"``: ``Σ = diag(σ²)``, ignoring correlation (the seed's choice; for a long-short
book of correlated coins it overstates the variance and undershoots the target).
``"correlation"``: ``Σ = D C D`` with ``D = diag(σ)`` the current vol forecasts and ``C`` the
mean of ``e eᵀ`` over the last ``window`` bars of standardised returns ``e = r / σ_prev``.
"""

HedgeMode = Literal["long_only", "long_short"]
"""``long_only``: ``0 ≤ w_i ≤ cap_i``; ``long_short``: ``-cap_i ≤ w_i ≤ cap_i``."""

PCAClean = Literal["none", "top_k", "residual"]
"""Which candidate returns the hedge's tracking term uses (see
:class:`coinfactor.portfolio.HedgeBasket`)."""

Solver = Literal["CLARABEL", "OSQP"]
"""QP solvers used through cvxpy."""

HedgeAction = Literal["optimal", "kept_previous", "fallback"]
"""What produced a basket: the optimiser, the previous basket, or the fallback rule."""

Basket = Literal["short", "long", "long_short"]
"""``short``: short the ``n`` most extended above VWAP (seed 001); ``long``: long the ``n``
most below; ``long_short``: both, dollar-neutral."""

Weighting = Literal["equal", "inverse_vol"]
"""Equal weights within a leg, or weights proportional to 1 / realized vol."""

SpreadModel = Literal["constant", "corwin_schultz", "abdi_ranaldo", "half_range"]
"""Half-spread estimate for costs and the buffer. On daily bars the range-based estimators
mostly measure volatility (median half-spread ~1% Corwin-Schultz, ~4% half-range on the
Hyperliquid top deciles against a few bps quoted), so a constant is the default."""

Status = Literal["ok", "incomplete", "skipped", "failed"]
"""Outcome of ingesting one symbol (:mod:`coinfactor.data.sources`): ``ok``, fetched to the end
with bars; ``incomplete``, no bars yet or stopped at the symbol's deadline (``update`` continues
it); ``skipped``, not attempted (the reason says why); ``failed``, an error stopped it (what was
fetched before is kept)."""

Rebalance = Literal["decisions", "every_bar"]
"""When a backtest trades: ``"decisions"`` (default), only at bars present in the weights (the
holdings drift with prices in between); ``"every_bar"``: back to the last targets at every bar,
paying for those trades."""

FundingMissing = Literal["warn", "error", "zero"]
"""What a backtest does with a held position on a bar without funding data: count it and warn
(default), raise a :class:`~coinfactor.core.errors.DataError` naming the first such cell, or book
it as zero funding (counted, no warning)."""

Venue = Literal["hyperliquid", "binance-usdm"]
"""A venue with cost and margin presets (:func:`coinfactor.backtest.venue_preset`)."""

MetricKind = Literal["percent", "percent_yr", "ratio", "number", "count", "multiple", "flag",
                     "text", "corr"]
"""How a report writes a metric's value (:mod:`coinfactor.report`): ``percent`` (a fraction:
-0.198 -> -19.80%), ``percent_yr`` (a fraction per year: -19.80%/yr), ``ratio`` and ``corr``
(two decimals), ``number`` (four significant digits), ``count`` (a whole number with thousands
separators), ``multiple`` (× NAV), ``flag`` (yes / no), ``text``."""

MinuteFileFormat = Literal["parquet", "csv", "csv.gz"]
"""File format of synthetic per-symbol minute files (:mod:`coinfactor.datasets`)."""
