"""Backtesting: target weights -> NAV with price, funding and cost P&L (DESIGN.md accounting)."""

from coinfactor.backtest._backtest import backtest
from coinfactor.backtest._result import BacktestResult
from coinfactor.core.typing import GapPolicy

__all__ = ["BacktestResult", "GapPolicy", "backtest"]
