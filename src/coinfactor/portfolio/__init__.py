"""Portfolio layer: signal -> target mapping, sizing, vol target, allocators, hedge baskets."""

from coinfactor.portfolio._allocator import (
    AllocationInputs,
    AllocationResult,
    BufferedAllocator,
    ExitRule,
)
from coinfactor.portfolio._allocator_reference import allocate_reference
from coinfactor.portfolio._hedge import HedgeBasket
from coinfactor.portfolio._hedge_result import HedgeBasketResult, HedgeWalkForward
from coinfactor.portfolio._mapping import (
    bucket_alpha,
    linear_alpha,
    rank_alpha,
    sigmoid_target,
    top_bottom_alpha,
)
from coinfactor.portfolio._sizing import (
    CovarianceMethod,
    VolInputs,
    inverse_vol_weights,
    portfolio_vol,
    portfolio_vol_from,
    standardized_returns,
    vol_inputs,
    vol_target_scale,
)

__all__ = [
    "AllocationInputs",
    "AllocationResult",
    "BufferedAllocator",
    "CovarianceMethod",
    "ExitRule",
    "HedgeBasket",
    "HedgeBasketResult",
    "HedgeWalkForward",
    "VolInputs",
    "allocate_reference",
    "bucket_alpha",
    "inverse_vol_weights",
    "linear_alpha",
    "portfolio_vol",
    "portfolio_vol_from",
    "rank_alpha",
    "sigmoid_target",
    "standardized_returns",
    "top_bottom_alpha",
    "vol_inputs",
    "vol_target_scale",
]
