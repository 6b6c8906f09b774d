"""The sweep's overfitting statistics, from the ledger's trials and returns.

The matrix of trial returns puts every done trial on the union of their bar times; a trial
without a return on a bar (its book not yet opened) counts as flat there (0). PSR and DSR use
the selected trial's own returns (per-bar Sharpe ratio, skewness, kurtosis), the number of
done trials and the variance of their per-bar Sharpe ratios (each over its own bars).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import polars as pl

from coinfactor.analytics import (
    deflated_sharpe_ratio,
    expected_maximum_sharpe,
    kurtosis,
    minimum_track_record_length,
    probabilistic_sharpe_ratio,
    probability_of_backtest_overfitting,
    skewness,
    spa_test,
)
from coinfactor.core.errors import DataError


def returns_matrix(returns: pl.DataFrame, ids: Sequence[str]) -> tuple[pl.Series, np.ndarray]:
    """Pivot long returns to ``(n_bars, n_trials)``, columns in the order of ``ids``.

    Parameters
    ----------
    returns : pl.DataFrame
        ``ts, trial_id, return``.
    ids : sequence of str
        Trials, one column each.

    Returns
    -------
    (pl.Series, ndarray of shape (n_bars, n_trials))
        The sorted union of bar times, and the returns (0 where a trial has no row).
    """
    ts = returns.get_column("ts").unique().sort()
    mat = np.zeros((ts.len(), len(ids)))
    if not ids or returns.height == 0:
        return ts, mat
    col = {t: i for i, t in enumerate(ids)}
    sub = returns.filter(pl.col("trial_id").is_in(list(ids)))
    rows = ts.search_sorted(sub.get_column("ts")).to_numpy()
    cols = np.array([col[t] for t in sub.get_column("trial_id").to_list()], dtype=np.int64)
    mat[rows, cols] = sub.get_column("return").fill_null(0.0).to_numpy()
    return ts, np.nan_to_num(mat, nan=0.0)


def best_trial(trials: pl.DataFrame, select: str) -> int | None:
    """Row of the done trial with the highest ``select`` (lowest sweep index on a tie)."""
    if select not in trials.columns:
        return None
    done = trials.with_row_index("_row").filter(
        (pl.col("status") == "done") & pl.col(select).is_not_null() & pl.col(select).is_not_nan())
    if done.height == 0:
        return None
    top = done.sort([select, "sweep_index"], descending=[True, False]).row(0, named=True)
    return int(top["_row"])


def _per_bar_sharpe(r: np.ndarray) -> float:
    if r.size < 2:
        return math.nan
    sd = float(np.std(r, ddof=1))
    return float(np.mean(r)) / sd if sd > 0 else math.nan


def overfitting_stats(trials: pl.DataFrame, returns: pl.DataFrame, *, select: str,
                      periods_per_year: float, n_partitions: int = 16, spa_reps: int = 1000,
                      seed: int = 0) -> tuple[dict[str, Any], np.ndarray]:
    """PSR, DSR, PBO and SPA of a sweep.

    Parameters
    ----------
    trials : pl.DataFrame
        The trials table (``trial_id, sweep_index, status``, one column per metric).
    returns : pl.DataFrame
        ``ts, trial_id, return`` of the done trials.
    select : str
        Metric that selects the best trial.
    periods_per_year : float
        Bars per year of the panel (for annualised figures).
    n_partitions : int
        CSCV partitions (halved until every block holds two bars).
    spa_reps : int
        Bootstrap replications of the SPA test.
    seed : int
        Seed of the SPA bootstrap.

    Returns
    -------
    (dict, ndarray)
        ``n_trials, n_failed, select, best_trial, select_best, sharpe_best (annualised),
        psr, dsr, pbo, spa_pvalue`` and the details (per-bar figures, expected maximum
        Sharpe ratio under no skill annualised, minimum track record, CSCV degradation,
        reality check); and the CSCV logits (empty if not computed). Missing statistics are
        None (fewer than two trials, too few bars).
    """
    done = trials.filter(pl.col("status") == "done")
    ids = done.get_column("trial_id").to_list()
    out: dict[str, Any] = {
        "n_trials": len(ids), "n_failed": trials.height - done.height, "select": select,
        "best_trial": None, "select_best": None, "sharpe_best": None, "psr": None,
        "dsr": None, "pbo": None, "spa_pvalue": None, "periods_per_year": periods_per_year}
    logits = np.empty(0)
    row = best_trial(trials, select)
    if row is None or not ids:
        return out, logits
    best = trials.row(row, named=True)
    out["best_trial"] = best["trial_id"]
    out["select_best"] = best[select]
    out["sharpe_best"] = best.get("sharpe_ratio")
    own = {t: g.sort("ts").get_column("return").to_numpy()
           for (t,), g in returns.group_by(["trial_id"], maintain_order=True)}
    r_best = own.get(best["trial_id"], np.empty(0))
    sharpes = np.array([_per_bar_sharpe(own.get(t, np.empty(0))) for t in ids])
    finite = sharpes[np.isfinite(sharpes)]
    sr = _per_bar_sharpe(r_best)
    variance = float(np.var(finite, ddof=1)) if finite.size >= 2 else 0.0
    sr0 = expected_maximum_sharpe(len(ids), variance)
    out.update({"sharpe_best_per_bar": sr, "n_obs": int(r_best.size),
                "sharpe_variance_per_bar": variance,
                "expected_max_sharpe": sr0 * math.sqrt(periods_per_year),
                "expected_max_sharpe_per_bar": sr0})
    if math.isfinite(sr) and r_best.size >= 4:
        skew = skewness(r_best)
        kurt = kurtosis(r_best) + 3.0  # plain kurtosis
        out.update({"skewness": skew, "kurtosis": kurt})
        try:
            out["psr"] = probabilistic_sharpe_ratio(sr, r_best.size, skewness=skew,
                                                    kurtosis=kurt)
            out["dsr"] = deflated_sharpe_ratio(sr, r_best.size, n_trials=len(ids),
                                               sharpe_variance=variance, skewness=skew,
                                               kurtosis=kurt)
            trl = minimum_track_record_length(sr, skewness=skew, kurtosis=kurt,
                                              benchmark=sr0)
            out["min_track_record_bars"] = trl if math.isfinite(trl) else None
        except DataError as exc:  # a degenerate variance term: reported, not fatal
            out["psr_error"] = str(exc)
    _, mat = returns_matrix(returns, ids)
    s = n_partitions
    while s > 2 and mat.shape[0] < 2 * s:
        s -= 2
    if len(ids) >= 2 and mat.shape[0] >= 2 * s:
        pbo = probability_of_backtest_overfitting(mat, n_partitions=s)
        logits = pbo.logits
        out.update({"pbo": pbo.pbo, "pbo_partitions": s,
                    "pbo_combinations": pbo.n_combinations, "pbo_slope": pbo.slope,
                    "pbo_intercept": pbo.intercept, "prob_oos_loss": pbo.prob_oos_loss})
    if mat.shape[0] >= 2:
        spa = spa_test(mat, reps=spa_reps, seed=seed)
        out.update({"spa_pvalue": spa.pvalue, "spa_pvalue_lower": spa.pvalue_lower,
                    "spa_pvalue_upper": spa.pvalue_upper,
                    "reality_check_pvalue": spa.reality_check_pvalue,
                    "spa_block_size": spa.block_size, "spa_reps": spa.reps})
    return out, logits
