"""Risk: factor returns, rolling exposures, covariance estimators."""

from coinfactor.rolling import RollingOLSResult, rolling_ols

__all__ = ["RollingOLSResult", "rolling_ols"]
