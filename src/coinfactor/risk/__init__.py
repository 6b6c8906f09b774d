"""Risk layer: factor returns, rolling exposures, PCA, covariance, volatility forecasts."""

from coinfactor.risk._pca import PCA, PCAResult, RollingPCAResult, pca

__all__ = ["PCA", "PCAResult", "RollingPCAResult", "pca"]
