"""Figures of a parameter sweep: metric heatmaps, Sharpe distribution, PBO logits, walk-forward."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
from matplotlib.figure import Figure

from coinfactor.plots._base import PALETTE, new_figure, require, times


def plot_sweep_heatmap(trials: pl.DataFrame, x: str, y: str, metric: str) -> Figure:
    """Mean of ``metric`` over the done trials at each (x, y) pair of parameter values.

    Parameters
    ----------
    trials : pl.DataFrame
        The sweep's trials table (``status``, the parameter and metric columns).
    x, y : str
        Parameter columns (``param.<name>``).
    metric : str
        Metric column.

    Returns
    -------
    Figure
        One cell per pair of values present (blank where no done trial has it), annotated.
    """
    require(trials, [x, y, metric, "status"], "sweep heatmap")
    done = trials.filter(pl.col("status") == "done")
    cells = done.group_by([x, y]).agg(pl.col(metric).mean())
    xs = sorted(done.get_column(x).unique().drop_nulls().to_list())
    ys = sorted(done.get_column(y).unique().drop_nulls().to_list())
    grid = np.full((len(ys), len(xs)), np.nan)
    for row in cells.iter_rows(named=True):
        if row[x] in xs and row[y] in ys and row[metric] is not None:
            grid[ys.index(row[y]), xs.index(row[x])] = row[metric]
    fig, (ax,) = new_figure(height=max(2.6, 0.35 * len(ys) + 1.4), width=7.5, bottom=0.7)
    img = ax.imshow(grid, aspect="auto", origin="lower", cmap="RdYlGn")
    ax.set_xticks(range(len(xs)), [f"{v:g}" if isinstance(v, float) else str(v) for v in xs],
                  fontsize=7, rotation=45 if len(xs) > 8 else 0)
    ax.set_yticks(range(len(ys)), [f"{v:g}" if isinstance(v, float) else str(v) for v in ys],
                  fontsize=7)
    ax.set_xlabel(x.removeprefix("param."), fontsize=8)
    ax.set_ylabel(y.removeprefix("param."), fontsize=8)
    ax.grid(False)
    if grid.size <= 120:
        for (i, j), v in np.ndenumerate(grid):
            if math.isfinite(v):
                ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=6.5)
    fig.colorbar(img, ax=ax, shrink=0.85).ax.tick_params(labelsize=7)
    ax.set_title(f"{metric} by {x.removeprefix('param.')} and {y.removeprefix('param.')} "
                 "(mean over other parameters)", fontsize=9)
    return fig


def plot_sharpe_distribution(sharpes: np.ndarray, expected_max: float | None,
                             best: float | None) -> Figure:
    """Histogram of the trials' annualised Sharpe ratios with the expected maximum under no skill.

    Parameters
    ----------
    sharpes : ndarray of shape (n_trials,)
        Annualised Sharpe ratio of each done trial.
    expected_max : float, optional
        Expected maximum Sharpe ratio of that many skill-less trials (annualised).
    best : float, optional
        The selected trial's Sharpe ratio.

    Returns
    -------
    Figure
    """
    vals = np.asarray(sharpes, dtype=float)
    vals = vals[np.isfinite(vals)]
    fig, (ax,) = new_figure(height=3.0)
    if vals.size:
        ax.hist(vals, bins=min(40, max(5, vals.size // 4)), color=PALETTE[0], alpha=0.8)
    if expected_max is not None and math.isfinite(expected_max):
        ax.axvline(expected_max, color=PALETTE[1], ls="--",
                   label=f"expected max under no skill {expected_max:.2f}")
    if best is not None and math.isfinite(best):
        ax.axvline(best, color=PALETTE[2], label=f"selected trial {best:.2f}")
    ax.set_xlabel("annualised Sharpe ratio", fontsize=8)
    ax.set_ylabel("trials", fontsize=8)
    ax.legend(fontsize=7, frameon=False)
    ax.set_title("Sharpe ratios of the trials", fontsize=9)
    return fig


def plot_pbo_logits(logits: np.ndarray) -> Figure:
    """Histogram of the CSCV logits; mass at or left of 0 is the probability of overfitting."""
    vals = np.asarray(logits, dtype=float)
    vals = vals[np.isfinite(vals)]
    fig, (ax,) = new_figure(height=2.8)
    if vals.size:
        ax.hist(vals, bins=40, color=PALETTE[3], alpha=0.85)
    ax.axvline(0.0, color=PALETTE[1], ls="--")
    ax.set_xlabel("logit of the in-sample best's out-of-sample rank", fontsize=8)
    ax.set_ylabel("combinations", fontsize=8)
    ax.set_title("CSCV logit distribution", fontsize=9)
    return fig


def plot_walk_forward(frame: pl.DataFrame) -> Figure:
    """Walk-forward NAV against the full-sample best trial's over the same test bars.

    Parameters
    ----------
    frame : pl.DataFrame
        ``ts, nav, in_sample_best_nav`` (``walk_forward.parquet``).

    Returns
    -------
    Figure
    """
    require(frame, ["ts", "nav", "in_sample_best_nav"], "walk-forward")
    t = times(frame)
    fig, (ax,) = new_figure(height=3.2)
    ax.plot(t, frame.get_column("nav").to_numpy(), color=PALETTE[0], lw=1.3,
            label="walk-forward (selected in each train window)")
    ax.plot(t, frame.get_column("in_sample_best_nav").to_numpy(), color=PALETTE[1], lw=1.0,
            label="in-sample best (chosen on all data)")
    ax.set_ylabel("NAV (start 1)", fontsize=8)
    ax.legend(fontsize=7, frameon=False)
    ax.set_title("Out-of-sample NAV", fontsize=9)
    return fig
