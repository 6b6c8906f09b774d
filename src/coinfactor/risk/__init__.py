"""Risk layer: factor returns, rolling exposures, PCA, covariance, volatility forecasts."""

from coinfactor.risk._pca import PCA, PCAResult, RollingPCAResult, pca
from coinfactor.risk._volatility import (
    bar_returns,
    ema_blend_variance,
    ema_blend_vol,
    ewma_variance,
    realized_vol,
    regular_axis,
)

__all__ = [
    "PCA",
    "PCAResult",
    "RollingPCAResult",
    "bar_returns",
    "ema_blend_variance",
    "ema_blend_vol",
    "ewma_variance",
    "pca",
    "realized_vol",
    "regular_axis",
]
