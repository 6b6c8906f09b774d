"""Performance metrics of a return series, annualised from the bar frequency (365-day years).

The definitions behind :mod:`coinfactor.analytics` (which re-exports every public function
here) and :attr:`coinfactor.backtest.BacktestResult.metrics`: they live in the core layer so
that the backtest and the analytics compute every headline number with the same code
(:func:`nav_metrics`).

Every function takes *simple* per-bar returns (a 1-d ndarray or a polars Series; ``0.01`` is
+1 %) and the bar frequency ``freq`` (``"1h"``, ``"1d"``): returns are annualised with
:func:`coinfactor.core.time.periods_per_year` (``8760`` for ``"1h"``, ``365`` for ``"1d"``),
never with a 252-day equity calendar. ``periods_per_year=`` overrides ``freq`` with an
explicit number of bars per year.

Conventions (they match empyrical-reloaded at the same annualisation):

- **NaN** marks a bar whose return is unknown. It is left out of the moment estimates (mean,
  standard deviation, downside deviation, skew, kurtosis, quantiles) and counts as a flat bar
  (zero growth) in compounded paths, so time still passes: ``annual_return`` divides by the
  number of bars including NaN bars.
- **Drawdown** is measured from the starting NAV of 1 as well as from later peaks, so a first
  bar at -5 % is a 5 % drawdown. ``max_drawdown`` is a non-positive fraction (``-0.25`` is a
  25 % fall from the peak). An all-positive series has ``max_drawdown == 0`` and its
  ``calmar_ratio`` is NaN (undefined, not infinite). A single bar has a drawdown of
  ``min(r, 0)``. An empty or all-NaN series gives NaN.
- **Undefined** ratios (fewer than two returns for a standard deviation, a zero standard
  deviation, no downside bar for Sortino) are NaN, never ``inf``. (empyrical returns ``inf``
  for a Sortino ratio with no losing bar; coinfactor returns NaN so tables and JSON stay finite.)
- **Earned bars.** A nav frame (``coinfactor.backtest``'s, or a run's ``nav.parquet``) starts
  at the decision bar: its NAV is the initial NAV and its ``ret`` is 0 by construction, as
  nothing was held before it. :func:`nav_metrics` leaves that row out: every metric is
  computed on the returns actually earned, rows ``1 ..`` of the frame (``n_bars`` counts
  them), and one run has one Sharpe ratio wherever it is reported.
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

import numpy as np
import polars as pl

from coinfactor.core.errors import DataError
from coinfactor.core.rowsums import row_blocks
from coinfactor.core.time import periods_per_year as _periods_per_year

__all__ = [
    "annual_return",
    "annual_volatility",
    "as_returns",
    "calmar_ratio",
    "conditional_value_at_risk",
    "drawdown",
    "hit_rate",
    "kurtosis",
    "max_drawdown",
    "max_drawdown_duration",
    "nav_metrics",
    "resolve_periods_per_year",
    "sharpe_ratio",
    "skewness",
    "sortino_ratio",
    "total_return",
    "value_at_risk",
    "weight_stats",
]


def as_returns(returns: Any) -> np.ndarray:
    """Convert simple returns to a 1-d float64 array (nulls as NaN); reject +/-inf and 2-d."""
    if isinstance(returns, pl.Series):
        arr = returns.cast(pl.Float64).fill_null(float("nan")).to_numpy()
    else:
        arr = np.asarray(returns, dtype=np.float64)
    if arr.ndim != 1:
        raise DataError(
            f"expected a 1-d series of simple returns, got an array of shape {arr.shape}",
            fix="pass one return series (e.g. nav['ret']) per call",
        )
    if not np.isfinite(arr).all() and np.isinf(arr).any():
        raise DataError(
            "returns contain +/-inf",
            fix="check the NAV for zero or negative values before computing returns",
        )
    return arr


def resolve_periods_per_year(
    freq: str | timedelta | None = None, periods_per_year: float | None = None
) -> float:
    """Bars per 365-day year from a bar frequency, or an explicit override.

    Parameters
    ----------
    freq : str or timedelta, optional
        Bar frequency (``"1h"``); gives :func:`coinfactor.core.time.periods_per_year`.
    periods_per_year : float, optional
        Bars per year, used instead of ``freq`` when given.

    Returns
    -------
    float
        A positive, finite number of bars per year.

    Raises
    ------
    DataError
        If neither is given, ``freq`` is a number, or ``periods_per_year`` is not positive.
    """
    if periods_per_year is not None:
        ppy = float(periods_per_year)
        if not math.isfinite(ppy) or ppy <= 0:
            raise DataError(
                f"periods_per_year must be a positive number, got {periods_per_year!r}",
                fix="use coinfactor.core.time.periods_per_year(freq), e.g. 365.0 for '1d'",
            )
        return ppy
    if isinstance(freq, str | timedelta):
        return _periods_per_year(freq)
    raise DataError(
        f"expected a bar frequency such as '1d' (freq), got {freq!r}",
        fix="pass freq='1d', or a number of bars per year as periods_per_year=365.0",
    )


def _valid(arr: np.ndarray) -> np.ndarray:
    nan = np.isnan(arr)
    return arr[~nan] if nan.any() else arr


def _drawdown(arr: np.ndarray) -> np.ndarray:
    nav = np.cumprod(1.0 + np.nan_to_num(arr, nan=0.0))
    peak = np.maximum(np.maximum.accumulate(nav), 1.0)  # the start NAV of 1 is a peak
    return np.asarray(nav / peak - 1.0)


def total_return(returns: Any) -> float:
    """Compounded return over the whole series, ``prod(1 + r) - 1`` (NaN bars flat).

    Parameters
    ----------
    returns : ndarray of shape (n_bars,) or pl.Series
        Simple per-bar returns.

    Returns
    -------
    float
        NaN for an empty or all-NaN series.
    """
    arr = as_returns(returns)
    if _valid(arr).size == 0:
        return float("nan")
    return float(np.prod(1.0 + np.nan_to_num(arr, nan=0.0)) - 1.0)


def annual_return(
    returns: Any, freq: str | timedelta | None = None, *, periods_per_year: float | None = None
) -> float:
    """Compound annual growth rate (CAGR).

    ``(1 + total_return) ** (periods_per_year / n_bars) - 1`` with ``n_bars`` counting NaN bars.

    Parameters
    ----------
    returns : ndarray of shape (n_bars,) or pl.Series
        Simple per-bar returns.
    freq : str or timedelta, optional
        Bar frequency (``"1d"``), annualised with :func:`coinfactor.core.time.periods_per_year`.
    periods_per_year : float, optional
        Bars per year, overriding ``freq`` (one of the two is required).

    Returns
    -------
    float
        NaN for an empty or all-NaN series; ``-1`` if the NAV was wiped out.
    """
    ppy = resolve_periods_per_year(freq, periods_per_year)
    arr = as_returns(returns)
    growth = total_return(arr) + 1.0
    if math.isnan(growth):
        return float("nan")
    if growth <= 0:
        return -1.0
    return float(growth ** (ppy / arr.size) - 1.0)


def annual_volatility(
    returns: Any, freq: str | timedelta | None = None, *, periods_per_year: float | None = None
) -> float:
    """Annualised standard deviation, ``std(r, ddof=1) * sqrt(periods_per_year)``.

    Parameters
    ----------
    returns : ndarray of shape (n_bars,) or pl.Series
        Simple per-bar returns.
    freq : str or timedelta, optional
        Bar frequency (``"1d"``), annualised with :func:`coinfactor.core.time.periods_per_year`.
    periods_per_year : float, optional
        Bars per year, overriding ``freq`` (one of the two is required).

    Returns
    -------
    float
        NaN with fewer than two non-NaN returns.
    """
    ppy = resolve_periods_per_year(freq, periods_per_year)
    valid = _valid(as_returns(returns))
    if valid.size < 2:
        return float("nan")
    return float(np.std(valid, ddof=1) * math.sqrt(ppy))


def sharpe_ratio(
    returns: Any, freq: str | timedelta | None = None, *, periods_per_year: float | None = None
) -> float:
    """Annualised Sharpe ratio, ``mean(r) / std(r, ddof=1) * sqrt(periods_per_year)``.

    The risk-free rate is zero: returns are already excess returns for a funded perp book.

    Parameters
    ----------
    returns : ndarray of shape (n_bars,) or pl.Series
        Simple per-bar returns.
    freq : str or timedelta, optional
        Bar frequency (``"1d"``), annualised with :func:`coinfactor.core.time.periods_per_year`.
    periods_per_year : float, optional
        Bars per year, overriding ``freq`` (one of the two is required).

    Returns
    -------
    float
        NaN with fewer than two non-NaN returns or a zero standard deviation.
    """
    ppy = resolve_periods_per_year(freq, periods_per_year)
    valid = _valid(as_returns(returns))
    if valid.size < 2:
        return float("nan")
    sd = float(np.std(valid, ddof=1))
    if sd == 0.0:
        return float("nan")
    return float(np.mean(valid) / sd * math.sqrt(ppy))


def sortino_ratio(
    returns: Any, freq: str | timedelta | None = None, *, periods_per_year: float | None = None
) -> float:
    """Annualised Sortino ratio against a zero target.

    ``mean(r) * ppy / (sqrt(mean(min(r, 0)**2)) * sqrt(ppy))``: the downside deviation is the
    root mean square of the negative part over *all* non-NaN bars (empyrical's definition).

    Parameters
    ----------
    returns : ndarray of shape (n_bars,) or pl.Series
        Simple per-bar returns.
    freq : str or timedelta, optional
        Bar frequency (``"1d"``), annualised with :func:`coinfactor.core.time.periods_per_year`.
    periods_per_year : float, optional
        Bars per year, overriding ``freq`` (one of the two is required).

    Returns
    -------
    float
        NaN with fewer than two non-NaN returns or no losing bar.
    """
    ppy = resolve_periods_per_year(freq, periods_per_year)
    valid = _valid(as_returns(returns))
    if valid.size < 2:
        return float("nan")
    downside = math.sqrt(float(np.mean(np.minimum(valid, 0.0) ** 2))) * math.sqrt(ppy)
    if downside == 0.0:
        return float("nan")
    return float(np.mean(valid) * ppy / downside)


def drawdown(returns: Any) -> np.ndarray:
    """Drawdown path: NAV over its running peak minus one (the start NAV of 1 is a peak).

    Parameters
    ----------
    returns : ndarray of shape (n_bars,) or pl.Series
        Simple per-bar returns; NaN bars are flat.

    Returns
    -------
    ndarray of shape (n_bars,)
        Non-positive fractions, one per bar (at its close).
    """
    return _drawdown(as_returns(returns))


def max_drawdown(returns: Any) -> float:
    """Largest fall from a running peak, as a non-positive fraction (``-0.25`` = 25 %).

    Parameters
    ----------
    returns : ndarray of shape (n_bars,) or pl.Series
        Simple per-bar returns; NaN bars are flat.

    Returns
    -------
    float
        ``0`` for an all-positive series, ``min(r, 0)`` for one bar, NaN if empty or all NaN.
    """
    arr = as_returns(returns)
    if arr.size == 0 or np.isnan(arr).all():
        return float("nan")
    return float(min(_drawdown(arr).min(), 0.0))


def max_drawdown_duration(returns: Any) -> int:
    """Longest run of bars spent below a previous peak (peak to recovery, or to the end).

    Parameters
    ----------
    returns : ndarray of shape (n_bars,) or pl.Series
        Simple per-bar returns; NaN bars are flat.

    Returns
    -------
    int
        Number of bars; ``0`` if the NAV never falls below a previous peak.
    """
    under = _drawdown(as_returns(returns)) < 0
    if not under.any():
        return 0
    edges = np.diff(np.concatenate(([0], under.astype(np.int8), [0])))
    return int((np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)).max())


def calmar_ratio(
    returns: Any, freq: str | timedelta | None = None, *, periods_per_year: float | None = None
) -> float:
    """Calmar ratio, ``annual_return / |max_drawdown|`` over the whole series.

    Parameters
    ----------
    returns : ndarray of shape (n_bars,) or pl.Series
        Simple per-bar returns.
    freq : str or timedelta, optional
        Bar frequency (``"1d"``), annualised with :func:`coinfactor.core.time.periods_per_year`.
    periods_per_year : float, optional
        Bars per year, overriding ``freq`` (one of the two is required).

    Returns
    -------
    float
        NaN when there is no drawdown (all-positive series) or no data.
    """
    mdd = max_drawdown(returns)
    if math.isnan(mdd) or mdd >= 0:
        return float("nan")
    return annual_return(returns, freq, periods_per_year=periods_per_year) / abs(mdd)


def hit_rate(returns: Any) -> float:
    """Share of non-NaN bars with a strictly positive return (NaN if none)."""
    valid = _valid(as_returns(returns))
    return float(np.mean(valid > 0)) if valid.size else float("nan")


def skewness(returns: Any) -> float:
    """Sample skewness with the small-sample correction (``scipy.stats.skew(bias=False)``).

    NaN with fewer than three non-NaN returns or a zero standard deviation.
    """
    valid = _valid(as_returns(returns))
    n = valid.size
    if n < 3:
        return float("nan")
    d = valid - valid.mean()
    m2 = float(np.mean(d**2))
    if m2 == 0.0:
        return float("nan")
    g1 = float(np.mean(d**3)) / m2**1.5
    return g1 * math.sqrt(n * (n - 1)) / (n - 2)


def kurtosis(returns: Any) -> float:
    """Excess kurtosis with the small-sample correction (``scipy.stats.kurtosis(bias=False)``).

    NaN with fewer than four non-NaN returns or a zero standard deviation.
    """
    valid = _valid(as_returns(returns))
    n = valid.size
    if n < 4:
        return float("nan")
    d = valid - valid.mean()
    m2 = float(np.mean(d**2))
    if m2 == 0.0:
        return float("nan")
    g2 = float(np.mean(d**4)) / m2**2 - 3.0
    return ((n + 1) * g2 + 6.0) * (n - 1) / ((n - 2) * (n - 3))


def value_at_risk(returns: Any, cutoff: float = 0.05) -> float:
    """Historical value at risk: the ``cutoff`` quantile of per-bar returns (linear interpolation).

    A return (typically negative), not a loss: ``-0.03`` means one bar in twenty loses 3 % or
    more. NaN for an empty series.
    """
    valid = _valid(as_returns(returns))
    if not 0 < cutoff < 1:
        raise DataError(f"cutoff must lie in (0, 1), got {cutoff!r}", fix="e.g. cutoff=0.05")
    return float(np.percentile(valid, 100 * cutoff)) if valid.size else float("nan")


def conditional_value_at_risk(returns: Any, cutoff: float = 0.05) -> float:
    """Compute the expected shortfall: the mean of the worst ``floor((n-1)*cutoff) + 1`` returns.

    Same sign convention as :func:`value_at_risk` (empyrical's definition). NaN if empty.
    """
    valid = _valid(as_returns(returns))
    if not 0 < cutoff < 1:
        raise DataError(f"cutoff must lie in (0, 1), got {cutoff!r}", fix="e.g. cutoff=0.05")
    if valid.size == 0:
        return float("nan")
    k = int((valid.size - 1) * cutoff)
    return float(np.mean(np.sort(valid)[: k + 1]))



def nav_metrics(
    ret: Any,
    ret_price: Any,
    ret_funding: Any,
    ret_cost: Any,
    freq: str | timedelta | None = None,
    *,
    periods_per_year: float | None = None,
    weights: np.ndarray | None = None,
    turnover: Any = None,
    forecast_vol: Any = None,
) -> dict[str, float]:
    """Headline metrics of a backtest's nav columns: the one definition of every key.

    Parameters
    ----------
    ret, ret_price, ret_funding, ret_cost : ndarray of shape (n_rows,) or pl.Series
        The nav frame's return columns, sorted by time, the start (decision) row first:
        that row is left out (see the module docstring), the other ``n_rows - 1`` bars are
        the returns earned.
    freq : str or timedelta, optional
        Bar frequency (``"1d"``).
    periods_per_year : float, optional
        Bars per year, overriding ``freq``.
    weights : ndarray of shape (n_rows, n_symbols), optional
        Held weights after each row's close (0 = flat); adds the :func:`weight_stats` keys,
        with the turnover annualised over the earned bars.
    turnover : ndarray of shape (n_rows,) or pl.Series, optional
        Σ|trade| at each row's close (the trades made, start row included); replaces the
        turnover :func:`weight_stats` infers from changes of ``weights``.
    forecast_vol : ndarray or pl.Series, optional
        Annualised ex-ante vol per row (NaN/null where none); adds ``mean_forecast_vol``
        when any is known.

    Returns
    -------
    dict of str to float
        Keys named after the functions that compute them: ``total_return``,
        ``annual_return`` (CAGR), ``annual_volatility``, ``sharpe_ratio``, ``sortino_ratio``,
        ``max_drawdown``, ``max_drawdown_duration`` (bars), ``calmar_ratio``, ``hit_rate``,
        ``skewness``, ``kurtosis`` (excess), ``value_at_risk`` and
        ``conditional_value_at_risk`` (per-bar returns, 5 % cutoff); and
        ``max_drawdown_duration_days``, ``best_period``, ``worst_period``,
        ``annual_price_return``, ``annual_funding_return``, ``annual_cost_return``
        (arithmetic: mean per-bar component times bars per year, so the three add up to the
        mean return annualised), ``funding_total`` and ``cost_total`` (sums), ``n_bars``
        (earned bars) and ``periods_per_year``; then the :func:`weight_stats` keys and
        ``mean_forecast_vol`` when given.
    """
    ppy = resolve_periods_per_year(freq, periods_per_year)
    r = as_returns(ret)[1:]
    n = r.size
    dd_bars = max_drawdown_duration(r)
    any_valid = _valid(r).size > 0
    out: dict[str, float] = {
        "total_return": total_return(r),
        "annual_return": annual_return(r, periods_per_year=ppy),
        "annual_volatility": annual_volatility(r, periods_per_year=ppy),
        "sharpe_ratio": sharpe_ratio(r, periods_per_year=ppy),
        "sortino_ratio": sortino_ratio(r, periods_per_year=ppy),
        "max_drawdown": max_drawdown(r),
        "max_drawdown_duration": float(dd_bars),
        "max_drawdown_duration_days": dd_bars / (ppy / 365.0),
        "calmar_ratio": calmar_ratio(r, periods_per_year=ppy),
        "hit_rate": hit_rate(r),
        "best_period": float(np.nanmax(r)) if any_valid else float("nan"),
        "worst_period": float(np.nanmin(r)) if any_valid else float("nan"),
        "skewness": skewness(r),
        "kurtosis": kurtosis(r),
        "value_at_risk": value_at_risk(r, 0.05),
        "conditional_value_at_risk": conditional_value_at_risk(r, 0.05),
    }
    parts = {"price": ret_price, "funding": ret_funding, "cost": ret_cost}
    comps = {part: as_returns(col)[1:] for part, col in parts.items()}
    for part, comp in comps.items():
        out[f"annual_{part}_return"] = (
            float(np.nanmean(comp) * ppy) if _valid(comp).size else float("nan")
        )
    out["funding_total"] = float(np.nansum(comps["funding"]))
    out["cost_total"] = float(np.nansum(comps["cost"]))
    out["n_bars"] = float(n)
    out["periods_per_year"] = ppy
    if weights is not None:
        out.update(weight_stats(weights, n / ppy))
        if turnover is not None:
            traded = float(np.nansum(as_returns(turnover)))
            out["annual_turnover"] = traded / (n / ppy) if n > 0 else float("nan")
    if forecast_vol is not None:
        fc = _valid(as_returns(forecast_vol))
        if fc.size:
            out["mean_forecast_vol"] = float(fc.mean())
    return out


def weight_stats(mat: np.ndarray, years: float) -> dict[str, float]:
    """Turnover and exposure of a dense ``(bars, symbols)`` matrix of held weights (0 = flat).

    Parameters
    ----------
    mat : ndarray of shape (n_rows, n_symbols)
        The weights held after the close of every nav row (the start row included).
    years : float
        Length of the run in years: the earned bars over bars per year.

    Returns
    -------
    dict of str to float
        ``annual_turnover`` (sum over rows of ``sum_i |w_t - w_prev|`` from an empty book,
        per year), ``gross_exposure_mean``, ``gross_exposure_max``, ``net_exposure_mean``,
        ``long_exposure_mean``, ``short_exposure_mean``, ``positions_mean`` (means over the
        rows).
    """
    if mat.shape[1] == 0:
        return {"annual_turnover": 0.0, "gross_exposure_mean": 0.0, "gross_exposure_max": 0.0,
                "net_exposure_mean": 0.0, "long_exposure_mean": 0.0,
                "short_exposure_mean": 0.0, "positions_mean": 0.0}
    # per-row sums, a block of rows at a time (each row's sum whatever rows come with it)
    n = mat.shape[0]
    change, gross, net, long_, short = (np.empty(n) for _ in range(5))
    count = np.empty(n, dtype=np.int64)
    prev = np.zeros((1, mat.shape[1]))
    for lo, hi in row_blocks(n):
        part = mat[lo:hi]
        change[lo:hi] = np.abs(np.diff(np.vstack([prev, part]), axis=0)).sum(axis=1)
        gross[lo:hi] = np.abs(part).sum(axis=1)
        net[lo:hi] = part.sum(axis=1)
        long_[lo:hi] = np.clip(part, 0, None).sum(axis=1)
        short[lo:hi] = np.clip(part, None, 0).sum(axis=1)
        count[lo:hi] = (part != 0).sum(axis=1)
        prev = part[-1:]
    return {
        "annual_turnover": float(change.sum() / years) if years > 0 else float("nan"),
        "gross_exposure_mean": float(gross.mean()),
        "gross_exposure_max": float(gross.max()),
        "net_exposure_mean": float(net.mean()),
        "long_exposure_mean": float(long_.mean()),
        "short_exposure_mean": float(short.mean()),
        "positions_mean": float(count.mean()),
    }
