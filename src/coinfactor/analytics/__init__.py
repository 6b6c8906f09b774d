"""Analytics: factor tearsheet (IC, quantile returns, spread, turnover)."""

from coinfactor.analytics._tearsheet import FactorTearsheet, factor_tearsheet

__all__ = ["FactorTearsheet", "factor_tearsheet"]
