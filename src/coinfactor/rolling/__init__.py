"""Rolling kernels on dense arrays: rolling OLS for many series in one call.

``rolling_ols`` is the fast kernel; ``rolling_ols_reference`` fits the same model window by
window in plain NumPy (slow, readable: the oracle the kernel is tested against).
"""

from coinfactor.rolling._levels import LevelParts, aligned_start
from coinfactor.rolling._ols import rolling_ols
from coinfactor.rolling._ols_reference import rolling_ols_reference
from coinfactor.rolling._result import RollingOLSResult
from coinfactor.rolling._solve import DEFAULT_RANK_TOL
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
    "DEFAULT_RANK_TOL",
    "LevelParts",
    "RollingOLSResult",
    "aligned_start",
    "blocked_rolling_mean",
    "check_window",
    "log_returns",
    "min_count",
    "rolling_mean",
    "rolling_ols",
    "rolling_ols_reference",
    "rolling_sum",
    "shift",
    "simple_returns",
    "trailing_window_sums",
]
