"""Walk-forward selection over a sweep's trials: choose in each train window, hold over the test.

``train=365d,test=90d[,step=90d]``: the first train window starts at the first bar of the
returns matrix; in each window the trial with the best ``select`` metric on the window's
returns (the first on a tie) is held over the following test window; windows advance by
``step`` (default ``test``). The test windows' returns are stitched into one out-of-sample
series with its own summary, reported next to the full-sample best trial's returns over the
same bars.

Holding a trial means taking its returns from the sweep's full-sample run, which is point in
time (its return at ts depends on bars through ts only); switching between trials at a window
boundary is counted free of trading costs (an approximation the report states).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np
import polars as pl

from coinfactor import analytics
from coinfactor.core.errors import ConfigError
from coinfactor.core.time import freq_to_timedelta


def _sharpe(r: np.ndarray, ppy: float) -> float:
    return analytics.sharpe_ratio(r, periods_per_year=ppy)


SELECT_FROM_RETURNS: dict[str, Callable[[np.ndarray, float], float]] = {
    "sharpe_ratio": _sharpe,
    "sortino_ratio": lambda r, ppy: analytics.sortino_ratio(r, periods_per_year=ppy),
    "annual_return": lambda r, ppy: analytics.annual_return(r, periods_per_year=ppy),
    "calmar_ratio": lambda r, ppy: analytics.calmar_ratio(r, periods_per_year=ppy),
    "total_return": lambda r, ppy: analytics.total_return(r),
    "max_drawdown": lambda r, ppy: analytics.max_drawdown(r),
    "hit_rate": lambda r, ppy: analytics.hit_rate(r),
}
"""Metrics walk-forward can compute on a window of returns (higher is better)."""


@dataclass(frozen=True)
class WalkForwardSpec:
    """Window lengths of a walk-forward selection."""

    train: timedelta
    test: timedelta
    step: timedelta

    def __str__(self) -> str:
        return f"train={_fmt(self.train)},test={_fmt(self.test)},step={_fmt(self.step)}"


def _fmt(d: timedelta) -> str:
    return f"{d.days}d" if d == timedelta(days=d.days) else f"{int(d.total_seconds())}s"


def parse_walk_forward(text: str) -> WalkForwardSpec:
    """Parse ``"train=365d,test=90d[,step=90d]"`` (durations such as ``90d``, ``12h``)."""
    parts: dict[str, timedelta] = {}
    for item in str(text).split(","):
        key, sep, value = item.strip().partition("=")
        if not sep or key not in ("train", "test", "step"):
            raise ConfigError(f"--walk-forward {text!r}: expected train=<dur>,test=<dur>"
                              f"[,step=<dur>], e.g. train=365d,test=90d; got {item!r}")
        try:
            parts[key] = freq_to_timedelta(value.strip())
        except (ValueError, KeyError) as exc:
            raise ConfigError(f"--walk-forward {key}={value!r}: not a duration such as "
                              "90d or 12h") from exc
    if "train" not in parts or "test" not in parts:
        raise ConfigError(f"--walk-forward {text!r}: needs both train= and test=")
    spec = WalkForwardSpec(parts["train"], parts["test"], parts.get("step", parts["test"]))
    if min(spec.train, spec.test, spec.step) <= timedelta(0):
        raise ConfigError(f"--walk-forward {text!r}: durations must be positive")
    return spec


@dataclass(frozen=True)
class WalkForwardResult:
    """Stitched out-of-sample returns of a walk-forward selection.

    Attributes
    ----------
    returns : pl.DataFrame
        ``ts, return, trial_id, window, nav, in_sample_best_return, in_sample_best_nav``: the
        held trial's return per test bar (NAV from 1), and the full-sample best trial's.
    windows : pl.DataFrame
        ``window, train_start, train_end, test_start, test_end, trial_id, train_metric``.
    summary : dict
        ``walk_forward`` and ``in_sample_best`` metrics over the test bars (total and annual
        return, volatility, Sharpe ratio, max drawdown, bars), windows and distinct picks.
    """

    returns: pl.DataFrame
    windows: pl.DataFrame
    summary: dict[str, Any]


def _summary(r: np.ndarray, ppy: float) -> dict[str, float]:
    return {"total_return": analytics.total_return(r),
            "annual_return": analytics.annual_return(r, periods_per_year=ppy),
            "annual_volatility": analytics.annual_volatility(r, periods_per_year=ppy),
            "sharpe_ratio": analytics.sharpe_ratio(r, periods_per_year=ppy),
            "max_drawdown": analytics.max_drawdown(r), "n_bars": float(r.size)}


def walk_forward(ts: pl.Series, matrix: np.ndarray, ids: Sequence[str], spec: WalkForwardSpec,
                 *, select: str, periods_per_year: float, in_sample_best: str | None,
                 ) -> WalkForwardResult:
    """Walk-forward selection on a returns matrix.

    Parameters
    ----------
    ts : pl.Series
        Sorted bar times of the matrix rows.
    matrix : ndarray of shape (n_bars, n_trials)
        Per-bar returns (0 where a trial is flat).
    ids : sequence of str
        Trial id of each column.
    spec : WalkForwardSpec
        Window lengths.
    select : str
        One of :data:`SELECT_FROM_RETURNS`.
    periods_per_year : float
        Bars per year.
    in_sample_best : str, optional
        The full-sample best trial, for comparison.

    Returns
    -------
    WalkForwardResult

    Raises
    ------
    ConfigError
        If ``select`` cannot be computed from returns, or no window fits.
    """
    if select not in SELECT_FROM_RETURNS:
        raise ConfigError(f"walk-forward selects by a metric of returns; select = {select!r} "
                          f"is not one: expected one of {sorted(SELECT_FROM_RETURNS)}")
    metric = SELECT_FROM_RETURNS[select]
    times = ts.to_list()
    if not times or not ids:
        raise ConfigError("walk-forward needs done trials with returns")
    t_arr = ts.cast(pl.Int64).to_numpy()
    us = 1_000_000
    train_us = int(spec.train.total_seconds() * us)
    test_us = int(spec.test.total_seconds() * us)
    step_us = int(spec.step.total_seconds() * us)
    start = int(t_arr[0])
    rows_out: list[np.ndarray] = []
    picks: list[int] = []
    windows: list[dict[str, Any]] = []
    w = 0
    while True:
        train_end = start + train_us
        test_end = train_end + test_us
        lo, mid, hi = np.searchsorted(t_arr, [start, train_end, test_end])
        if mid >= len(t_arr):
            break
        if mid - lo >= 2 and hi > mid:
            scores = np.array([metric(matrix[lo:mid, j], periods_per_year)
                               for j in range(matrix.shape[1])])
            scores = np.where(np.isnan(scores), -np.inf, scores)
            j = int(np.argmax(scores))
            rows_out.append(np.arange(mid, hi))
            picks.append(j)
            windows.append({"window": w, "train_start": times[lo], "train_end": times[mid - 1],
                            "test_start": times[mid], "test_end": times[hi - 1],
                            "trial_id": ids[j], "train_metric": float(scores[j])})
            w += 1
        start += step_us
    if not windows:
        raise ConfigError(f"walk-forward {spec}: no train window followed by a test window "
                          f"fits in the {times[0]} .. {times[-1]} returns; shorten train")
    # overlapping test windows (step < test): a later window takes over its bars
    owner = np.full(len(t_arr), -1)
    for k, rows in enumerate(rows_out):
        owner[rows] = k
    held = np.flatnonzero(owner >= 0)
    cols = np.array([picks[owner[i]] for i in held])
    r = matrix[held, cols]
    best_col = (list(ids).index(in_sample_best)
                if in_sample_best is not None and in_sample_best in ids else None)
    r_best = matrix[held, best_col] if best_col is not None else np.full(held.size, math.nan)
    frame = pl.DataFrame({
        "ts": ts.gather(held), "return": r, "trial_id": [ids[c] for c in cols],
        "window": owner[held].astype(np.int32), "nav": np.cumprod(1.0 + r),
        "in_sample_best_return": r_best, "in_sample_best_nav": np.cumprod(1.0 + r_best)})
    summary = {"spec": str(spec), "select": select, "n_windows": len(windows),
               "distinct_trials": len(set(picks)), "walk_forward": _summary(r, periods_per_year),
               "in_sample_best": (_summary(r_best, periods_per_year)
                                  if best_col is not None else None),
               "in_sample_best_trial": in_sample_best}
    return WalkForwardResult(frame, pl.DataFrame(windows), summary)
