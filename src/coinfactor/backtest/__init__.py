"""Backtesting: target weights -> NAV with drifting holdings, cost models, funding, liquidation.

DESIGN.md, "Backtest accounting". :func:`backtest` trades at decision bars from the drifted
holdings to the targets and charges a :class:`CostModel` (``Fees + HalfSpread +
SquareRootImpact``) on the trades actually made; :func:`venue_preset` gives base-tier fees and
a maintenance margin per venue.
"""

from coinfactor.backtest._backtest import DEFAULT_COSTS, backtest
from coinfactor.backtest._costs import (
    CostModel,
    CostSum,
    Fees,
    HalfSpread,
    MarketData,
    SquareRootImpact,
    VenuePreset,
    venue_preset,
)
from coinfactor.backtest._result import BacktestResult, FundingCoverage
from coinfactor.backtest._simulate import load_compiled_loop
from coinfactor.core.typing import FundingMissing, GapPolicy, Rebalance

__all__ = [
    "DEFAULT_COSTS",
    "BacktestResult",
    "CostModel",
    "CostSum",
    "Fees",
    "FundingCoverage",
    "FundingMissing",
    "GapPolicy",
    "HalfSpread",
    "MarketData",
    "Rebalance",
    "SquareRootImpact",
    "VenuePreset",
    "backtest",
    "load_compiled_loop",
    "venue_preset",
]
