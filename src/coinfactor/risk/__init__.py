"""Risk: factor returns, rolling exposures, PCA, covariance estimators, volatility forecasts."""

from coinfactor.core.typing import FactorFamily, FactorSet, LiquidityMeasure, MarketWeighting
from coinfactor.risk._chunked import ChunkedRiskModel, risk_model_blocks
from coinfactor.risk._covariance import (
    CovarianceResult,
    EWMACovariance,
    FactorCovarianceResult,
    FactorModelCovariance,
    LedoitWolfCovariance,
    SampleCovariance,
)
from coinfactor.risk._exposures import ExposureResult, exposures
from coinfactor.risk._factors import (
    FactorReturns,
    assign_buckets,
    bucket_labels,
    factor_returns,
)
from coinfactor.risk._lookahead import lookahead_mismatch
from coinfactor.risk._pca import PCA, CleanMode, PCAResult, RollingPCAResult
from coinfactor.risk._volatility import (
    bar_returns,
    ema_blend_variance,
    ema_blend_vol,
    ewma_variance,
    rolling_bar_vol,
)
from coinfactor.rolling import RollingOLSResult, rolling_ols

__all__ = [
    "PCA",
    "ChunkedRiskModel",
    "CleanMode",
    "CovarianceResult",
    "EWMACovariance",
    "ExposureResult",
    "FactorCovarianceResult",
    "FactorFamily",
    "FactorModelCovariance",
    "FactorReturns",
    "FactorSet",
    "LedoitWolfCovariance",
    "LiquidityMeasure",
    "MarketWeighting",
    "PCAResult",
    "RollingOLSResult",
    "RollingPCAResult",
    "SampleCovariance",
    "assign_buckets",
    "bar_returns",
    "bucket_labels",
    "ema_blend_variance",
    "ema_blend_vol",
    "ewma_variance",
    "exposures",
    "factor_returns",
    "lookahead_mismatch",
    "risk_model_blocks",
    "rolling_bar_vol",
    "rolling_ols",
]
