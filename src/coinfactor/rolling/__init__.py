"""Rolling kernels on dense arrays: rolling OLS for many series in one call."""

from coinfactor.rolling._ols import RollingOLSResult, rolling_ols

__all__ = ["RollingOLSResult", "rolling_ols"]
