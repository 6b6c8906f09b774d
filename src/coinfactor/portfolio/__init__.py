"""Portfolio layer: signal -> target mapping, sizing, vol target, allocators, hedge baskets."""

from coinfactor.portfolio._hedge import HedgeBasket
from coinfactor.portfolio._hedge_result import HedgeBasketResult, HedgeWalkForward

__all__ = ["HedgeBasket", "HedgeBasketResult", "HedgeWalkForward"]
