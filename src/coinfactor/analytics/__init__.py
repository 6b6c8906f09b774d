"""Analytics: performance metrics, rolling statistics, factor tearsheet, bootstrap, overfitting.

Metrics annualise from the bar frequency with 365-day years; the tearsheet gives IC, quantile
returns, spread and turnover; ``block_bootstrap`` gives distributions of annual performance;
the overfitting statistics (PSR, MinTRL, deflated Sharpe ratio, PBO by CSCV, SPA / reality
check) say whether the best of many trials is more than luck.
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
from coinfactor.analytics._overfitting import (
    PBOResult,
    SPAResult,
    deflated_sharpe_ratio,
    expected_maximum_sharpe,
    minimum_track_record_length,
    probabilistic_sharpe_ratio,
    probability_of_backtest_overfitting,
    spa_test,
)
from coinfactor.analytics._rolling import annualized_funding, rolling_correlation, rolling_stats
from coinfactor.analytics._tearsheet import FactorTearsheet, factor_tearsheet

__all__ = [
    "DEFAULT_NAVS",
    "BootstrapMethod",
    "BootstrapResult",
    "FactorTearsheet",
    "PBOResult",
    "SPAResult",
    "annual_return",
    "annual_volatility",
    "annualized_funding",
    "block_bootstrap",
    "calmar_ratio",
    "capacity",
    "conditional_value_at_risk",
    "deflated_sharpe_ratio",
    "drawdown",
    "expected_maximum_sharpe",
    "factor_tearsheet",
    "hit_rate",
    "kurtosis",
    "max_drawdown",
    "max_drawdown_duration",
    "minimum_track_record_length",
    "probabilistic_sharpe_ratio",
    "probability_of_backtest_overfitting",
    "rolling_correlation",
    "rolling_stats",
    "sharpe_ratio",
    "skewness",
    "sortino_ratio",
    "spa_test",
    "summary",
    "total_return",
    "value_at_risk",
]
