"""Analytics: performance metrics, rolling statistics, factor tearsheet, bootstrap.

Metrics annualise from the bar frequency with 365-day years; the tearsheet gives IC, quantile
returns, spread and turnover; ``block_bootstrap`` gives distributions of annual performance.
"""

from coinfactor.analytics._bootstrap import BootstrapMethod, BootstrapResult, block_bootstrap
from coinfactor.analytics._capacity import DEFAULT_NAVS, capacity
from coinfactor.analytics._metrics import (
    annual_return,
    annual_volatility,
    calmar_ratio,
    conditional_value_at_risk,
    drawdown,
    hit_rate,
    kurtosis,
    max_drawdown,
    max_drawdown_duration,
    sharpe_ratio,
    skewness,
    sortino_ratio,
    summary,
    total_return,
    value_at_risk,
)
from coinfactor.analytics._rolling import annualized_funding, rolling_correlation, rolling_stats
from coinfactor.analytics._tearsheet import FactorTearsheet, factor_tearsheet

__all__ = [
    "DEFAULT_NAVS",
    "BootstrapMethod",
    "BootstrapResult",
    "FactorTearsheet",
    "annual_return",
    "annual_volatility",
    "annualized_funding",
    "block_bootstrap",
    "calmar_ratio",
    "capacity",
    "conditional_value_at_risk",
    "drawdown",
    "factor_tearsheet",
    "hit_rate",
    "kurtosis",
    "max_drawdown",
    "max_drawdown_duration",
    "rolling_correlation",
    "rolling_stats",
    "sharpe_ratio",
    "skewness",
    "sortino_ratio",
    "summary",
    "total_return",
    "value_at_risk",
]
