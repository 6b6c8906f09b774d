"""Rolling kernels on dense arrays: trailing-window sums and means, rolling OLS in one call."""

from coinfactor.rolling._ols import rolling_ols
from coinfactor.rolling._result import RollingOLSResult
from coinfactor.rolling._sums import trailing_window_sums
from coinfactor.rolling._windows import (
    blocked_rolling_mean,
    check_window,
    log_returns,
    min_count,
    rolling_mean,
    rolling_sum,
    shift,
    simple_returns,
)

__all__ = [
    "RollingOLSResult",
    "blocked_rolling_mean",
    "check_window",
    "log_returns",
    "min_count",
    "rolling_mean",
    "rolling_ols",
    "rolling_sum",
    "shift",
    "simple_returns",
    "trailing_window_sums",
]
