"""Risk: factor returns, rolling exposures, covariance estimators."""

from coinfactor.risk._covariance import (
    EWMACovariance,
    FactorModelCovariance,
    LedoitWolfCovariance,
    SampleCovariance,
)
from coinfactor.risk._exposures import ExposureResult, exposures
from coinfactor.risk._factors import (
    FactorFamily,
    FactorReturns,
    FactorSet,
    LiquidityMeasure,
    MarketWeighting,
    assign_buckets,
    bucket_labels,
    factor_returns,
)
from coinfactor.rolling import RollingOLSResult, rolling_ols

__all__ = [
    "EWMACovariance",
    "ExposureResult",
    "FactorFamily",
    "FactorModelCovariance",
    "FactorReturns",
    "FactorSet",
    "LedoitWolfCovariance",
    "LiquidityMeasure",
    "MarketWeighting",
    "RollingOLSResult",
    "SampleCovariance",
    "assign_buckets",
    "bucket_labels",
    "exposures",
    "factor_returns",
    "rolling_ols",
]
