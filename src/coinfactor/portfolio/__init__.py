"""Portfolio layer: signal -> target mapping, sizing, vol target, allocators, baskets, hedges."""

from coinfactor.core.typing import ExitRule
from coinfactor.portfolio._allocator import (
    AllocationInputs,
    AllocationResult,
    BufferedAllocator,
    load_compiled_allocator,
)
from coinfactor.portfolio._allocator_reference import allocate_reference
from coinfactor.portfolio._baskets import (
    Basket,
    Weighting,
    assign_baskets,
    hold_weights,
    rebalance_bars,
    rebalance_rows,
)
from coinfactor.portfolio._buckets import BucketTargets, bucket_targets
from coinfactor.portfolio._hedge import HedgeBasket, HedgeMode, PCAClean
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
    "Basket",
    "BucketTargets",
    "BufferedAllocator",
    "CovarianceMethod",
    "ExitRule",
    "HedgeBasket",
    "HedgeBasketResult",
    "HedgeMode",
    "HedgeWalkForward",
    "PCAClean",
    "VolInputs",
    "Weighting",
    "allocate_reference",
    "assign_baskets",
    "bucket_alpha",
    "bucket_targets",
    "hold_weights",
    "inverse_vol_weights",
    "linear_alpha",
    "load_compiled_allocator",
    "portfolio_vol",
    "portfolio_vol_from",
    "rank_alpha",
    "rebalance_bars",
    "rebalance_rows",
    "sigmoid_target",
    "standardized_returns",
    "top_bottom_alpha",
    "vol_inputs",
    "vol_target_scale",
]
