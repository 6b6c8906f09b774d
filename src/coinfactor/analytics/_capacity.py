"""Capacity: one book backtested at a range of NAVs, so impact costs show how much it can run."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import polars as pl

from coinfactor.backtest import MarketData, backtest
from coinfactor.core.errors import ConfigError, DataWarning
from coinfactor.data import Grid

DEFAULT_NAVS: tuple[float, ...] = (1e5, 1e6, 1e7, 1e8, 1e9)
"""NAVs (quote currency) of a capacity table: 100 thousand to 1 billion USD."""

CAPACITY_COLUMNS = ("initial_nav", "annual_return", "sharpe_ratio", "annual_cost_return",
                    "annual_turnover", "total_return", "max_drawdown", "liquidated")


def capacity(
    panel: pl.DataFrame,
    weights: pl.DataFrame | np.ndarray,
    *,
    navs: Sequence[float] = DEFAULT_NAVS,
    **backtest_options: Any,
) -> pl.DataFrame:
    """Backtest the same target weights at each NAV and tabulate net return, Sharpe and costs.

    The weights are held fixed (decided once, e.g. by an allocator run at one NAV); only the
    execution changes with size: a cost model with square-root impact (see
    :class:`coinfactor.backtest.SquareRootImpact`) charges more per unit traded as the NAV
    grows against the same trailing volume.

    Parameters
    ----------
    panel : pl.DataFrame
        Canonical panel, as for :func:`coinfactor.backtest.backtest`.
    weights : pl.DataFrame or ndarray
        Target weights, as for :func:`coinfactor.backtest.backtest`.
    navs : sequence of float, default 1e5, 1e6, 1e7, 1e8, 1e9
        Initial NAVs in quote currency, each > 0.
    **backtest_options
        Passed to :func:`coinfactor.backtest.backtest` (``costs``, ``grid``, ``lag``, ...),
        except ``initial_nav``. A funding-coverage warning is emitted once, not per NAV;
        the grid and the market data (trailing volatility and volume) are built once.

    Returns
    -------
    pl.DataFrame
        One row per NAV: ``initial_nav``, ``annual_return`` (CAGR), ``sharpe_ratio``,
        ``annual_cost_return`` (the cost drag, mean cost per bar × bars per year, <= 0),
        ``annual_turnover``, ``total_return``, ``max_drawdown`` and ``liquidated`` (bool):
        the :attr:`coinfactor.backtest.BacktestResult.metrics` of each run.

    Raises
    ------
    ConfigError
        On an empty ``navs``, a non-positive NAV, or ``initial_nav`` among the options.
    """
    if "initial_nav" in backtest_options:
        raise ConfigError("capacity: pass the NAVs as navs=[...], not initial_nav")
    levels = [float(x) for x in navs]
    if not levels or not all(math.isfinite(x) and x > 0 for x in levels):
        raise ConfigError(f"capacity: navs must be positive numbers, got {list(navs)!r}",)
    grid = backtest_options.pop("grid", None)
    if grid is None:
        weighted = (None if isinstance(weights, np.ndarray)
                    else weights.get_column("symbol").unique().sort().to_list())
        grid = Grid.from_panel(panel, backtest_options.get("freq"), symbols=weighted)
    market = backtest_options.pop("market", None) or MarketData.from_panel(panel, grid)
    rows = []
    for k, nav in enumerate(levels):
        with warnings.catch_warnings():
            if k:  # the coverage does not depend on the NAV: warn once
                warnings.simplefilter("ignore", DataWarning)
            m = backtest(panel, weights, initial_nav=nav, grid=grid, market=market,
                         **backtest_options).metrics
        rows.append({"initial_nav": nav, **{c: m.get(c, math.nan) for c in CAPACITY_COLUMNS[1:]}})
    return pl.DataFrame(rows, schema={c: pl.Float64 for c in CAPACITY_COLUMNS}).with_columns(
        pl.col("liquidated") > 0)
