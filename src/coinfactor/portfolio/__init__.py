"""Portfolio layer: signal -> target mapping, sizing, vol target, allocators, hedge baskets."""

from coinfactor.portfolio._hedge import HedgeBasket, HedgeBasketResult, HedgeWalkForward

__all__ = ["HedgeBasket", "HedgeBasketResult", "HedgeWalkForward"]
