"""Backtesting: target weights -> NAV with price, funding and cost P&L (DESIGN.md accounting)."""

from coinfactor.backtest._backtest import backtest
from coinfactor.backtest._engine import GapPolicy
from coinfactor.backtest._result import BacktestResult

__all__ = ["BacktestResult", "GapPolicy", "backtest"]
