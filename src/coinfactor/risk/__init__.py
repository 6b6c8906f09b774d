"""Risk: volatility forecasts (and, from other modules, factor models and covariances)."""

from coinfactor.risk._volatility import (
    bar_returns,
    ema_blend_variance,
    ema_blend_vol,
    ewma_variance,
    realized_vol,
    regular_axis,
)

__all__ = [
    "bar_returns",
    "ema_blend_variance",
    "ema_blend_vol",
    "ewma_variance",
    "realized_vol",
    "regular_axis",
]
