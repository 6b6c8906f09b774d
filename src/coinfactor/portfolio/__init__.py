"""Portfolio layer: signal -> target mapping, sizing, vol target, allocators, hedge baskets."""

from coinfactor.portfolio._allocator import AllocationResult, BufferedAllocator, ExitRule
from coinfactor.portfolio._mapping import (
    bucket_alpha,
    linear_alpha,
    rank_alpha,
    sigmoid_target,
    top_bottom_alpha,
)
from coinfactor.portfolio._sizing import (
    CovarianceMethod,
    inverse_vol_weights,
    portfolio_vol,
    standardized_returns,
    vol_target_scale,
)

__all__ = [
    "AllocationResult",
    "BufferedAllocator",
    "CovarianceMethod",
    "ExitRule",
    "bucket_alpha",
    "inverse_vol_weights",
    "linear_alpha",
    "portfolio_vol",
    "rank_alpha",
    "sigmoid_target",
    "standardized_returns",
    "top_bottom_alpha",
    "vol_target_scale",
]
