"""Rolling kernels on dense arrays: rolling OLS for many series in one call."""

from coinfactor.rolling._ols import rolling_ols
from coinfactor.rolling._result import RollingOLSResult
from coinfactor.rolling._sums import trailing_window_sums

__all__ = ["RollingOLSResult", "rolling_ols", "trailing_window_sums"]
