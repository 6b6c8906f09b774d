"""Figures (matplotlib, Agg canvas): each function takes computed frames and returns a Figure.

Nothing is shown and pyplot's global state is never touched; save with
``fig.savefig(path)`` or embed with :mod:`coinfactor.report`.
"""

from coinfactor.plots._base import PALETTE, new_figure, times, values
from coinfactor.plots._factors import (
    plot_cumulative,
    plot_exposures,
    plot_ic,
    plot_quantile_returns,
)
from coinfactor.plots._market import (
    plot_bootstrap,
    plot_funding_by_coin,
    plot_rolling_correlation,
)
from coinfactor.plots._performance import (
    plot_attribution,
    plot_capacity,
    plot_drawdown,
    plot_exposure,
    plot_nav,
    plot_rolling,
)
from coinfactor.plots._sweeps import (
    plot_pbo_logits,
    plot_sharpe_distribution,
    plot_sweep_heatmap,
    plot_walk_forward,
)

__all__ = [
    "PALETTE",
    "new_figure",
    "plot_attribution",
    "plot_bootstrap",
    "plot_capacity",
    "plot_cumulative",
    "plot_drawdown",
    "plot_exposure",
    "plot_exposures",
    "plot_funding_by_coin",
    "plot_ic",
    "plot_nav",
    "plot_pbo_logits",
    "plot_quantile_returns",
    "plot_rolling",
    "plot_rolling_correlation",
    "plot_sharpe_distribution",
    "plot_sweep_heatmap",
    "plot_walk_forward",
    "times",
    "values",
]
