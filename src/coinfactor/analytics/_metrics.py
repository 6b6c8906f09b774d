"""Performance metrics of a return series, annualised from the bar frequency (365-day years).

Every function takes *simple* per-bar returns (a 1-d ndarray or a polars Series; ``0.01`` is
+1 %) and ``periods_per_year``, the number of bars in a 365-day year; get it from the bar
frequency with :func:`coinfactor.core.time.periods_per_year` (``8760`` for ``"1h"``,
``365`` for ``"1d"``), never from a 252-day equity calendar.

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
"""

from __future__ import annotations

import math
from typing import Any, Protocol

import numpy as np
import polars as pl

from coinfactor.core.errors import DataError
from coinfactor.core.time import periods_per_year as _periods_per_year
from coinfactor.data import TS_DTYPE, infer_freq

__all__ = [
    "annual_return",
    "annual_volatility",
    "calmar_ratio",
    "conditional_value_at_risk",
    "drawdown",
    "hit_rate",
    "kurtosis",
    "max_drawdown",
    "max_drawdown_duration",
    "sharpe_ratio",
    "skewness",
    "sortino_ratio",
    "summary",
    "total_return",
    "value_at_risk",
]

NAV_COLUMNS = ("ts", "nav", "ret", "ret_price", "ret_funding", "ret_cost")


class BacktestLike(Protocol):
    """What :func:`summary` needs from a backtest result: ``nav`` and ``weights`` frames."""

    @property
    def nav(self) -> pl.DataFrame:
        """Frame with columns ts, nav, ret, ret_price, ret_funding, ret_cost."""
        ...

    @property
    def weights(self) -> pl.DataFrame:
        """Frame with columns ts, symbol, weight."""
        ...


def _as_array(returns: Any) -> np.ndarray:
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


def _check_ppy(periods_per_year: float) -> float:
    ppy = float(periods_per_year)
    if not math.isfinite(ppy) or ppy <= 0:
        raise DataError(
            f"periods_per_year must be a positive number, got {periods_per_year!r}",
            fix="use coinfactor.core.time.periods_per_year(freq), e.g. 365.0 for '1d'",
        )
    return ppy


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
    arr = _as_array(returns)
    if _valid(arr).size == 0:
        return float("nan")
    return float(np.prod(1.0 + np.nan_to_num(arr, nan=0.0)) - 1.0)


def annual_return(returns: Any, periods_per_year: float) -> float:
    """Compound annual growth rate (CAGR).

    ``(1 + total_return) ** (periods_per_year / n_bars) - 1`` with ``n_bars`` counting NaN bars.

    Parameters
    ----------
    returns : ndarray of shape (n_bars,) or pl.Series
        Simple per-bar returns.
    periods_per_year : float
        Bars per 365-day year.

    Returns
    -------
    float
        NaN for an empty or all-NaN series; ``-1`` if the NAV was wiped out.
    """
    ppy = _check_ppy(periods_per_year)
    arr = _as_array(returns)
    growth = total_return(arr) + 1.0
    if math.isnan(growth):
        return float("nan")
    if growth <= 0:
        return -1.0
    return float(growth ** (ppy / arr.size) - 1.0)


def annual_volatility(returns: Any, periods_per_year: float) -> float:
    """Annualised standard deviation, ``std(r, ddof=1) * sqrt(periods_per_year)``.

    Parameters
    ----------
    returns : ndarray of shape (n_bars,) or pl.Series
        Simple per-bar returns.
    periods_per_year : float
        Bars per 365-day year.

    Returns
    -------
    float
        NaN with fewer than two non-NaN returns.
    """
    ppy = _check_ppy(periods_per_year)
    valid = _valid(_as_array(returns))
    if valid.size < 2:
        return float("nan")
    return float(np.std(valid, ddof=1) * math.sqrt(ppy))


def sharpe_ratio(returns: Any, periods_per_year: float) -> float:
    """Annualised Sharpe ratio, ``mean(r) / std(r, ddof=1) * sqrt(periods_per_year)``.

    The risk-free rate is zero: returns are already excess returns for a funded perp book.

    Parameters
    ----------
    returns : ndarray of shape (n_bars,) or pl.Series
        Simple per-bar returns.
    periods_per_year : float
        Bars per 365-day year.

    Returns
    -------
    float
        NaN with fewer than two non-NaN returns or a zero standard deviation.
    """
    ppy = _check_ppy(periods_per_year)
    valid = _valid(_as_array(returns))
    if valid.size < 2:
        return float("nan")
    sd = float(np.std(valid, ddof=1))
    if sd == 0.0:
        return float("nan")
    return float(np.mean(valid) / sd * math.sqrt(ppy))


def sortino_ratio(returns: Any, periods_per_year: float) -> float:
    """Annualised Sortino ratio against a zero target.

    ``mean(r) * ppy / (sqrt(mean(min(r, 0)**2)) * sqrt(ppy))``: the downside deviation is the
    root mean square of the negative part over *all* non-NaN bars (empyrical's definition).

    Parameters
    ----------
    returns : ndarray of shape (n_bars,) or pl.Series
        Simple per-bar returns.
    periods_per_year : float
        Bars per 365-day year.

    Returns
    -------
    float
        NaN with fewer than two non-NaN returns or no losing bar.
    """
    ppy = _check_ppy(periods_per_year)
    valid = _valid(_as_array(returns))
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
    return _drawdown(_as_array(returns))


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
    arr = _as_array(returns)
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
    under = _drawdown(_as_array(returns)) < 0
    if not under.any():
        return 0
    edges = np.diff(np.concatenate(([0], under.astype(np.int8), [0])))
    return int((np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)).max())


def calmar_ratio(returns: Any, periods_per_year: float) -> float:
    """Calmar ratio, ``annual_return / |max_drawdown|`` over the whole series.

    Parameters
    ----------
    returns : ndarray of shape (n_bars,) or pl.Series
        Simple per-bar returns.
    periods_per_year : float
        Bars per 365-day year.

    Returns
    -------
    float
        NaN when there is no drawdown (all-positive series) or no data.
    """
    mdd = max_drawdown(returns)
    if math.isnan(mdd) or mdd >= 0:
        return float("nan")
    return annual_return(returns, periods_per_year) / abs(mdd)


def hit_rate(returns: Any) -> float:
    """Share of non-NaN bars with a strictly positive return (NaN if none)."""
    valid = _valid(_as_array(returns))
    return float(np.mean(valid > 0)) if valid.size else float("nan")


def skewness(returns: Any) -> float:
    """Sample skewness with the small-sample correction (``scipy.stats.skew(bias=False)``).

    NaN with fewer than three non-NaN returns or a zero standard deviation.
    """
    valid = _valid(_as_array(returns))
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
    valid = _valid(_as_array(returns))
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
    valid = _valid(_as_array(returns))
    if not 0 < cutoff < 1:
        raise DataError(f"cutoff must lie in (0, 1), got {cutoff!r}", fix="e.g. cutoff=0.05")
    return float(np.percentile(valid, 100 * cutoff)) if valid.size else float("nan")


def conditional_value_at_risk(returns: Any, cutoff: float = 0.05) -> float:
    """Compute the expected shortfall: the mean of the worst ``floor((n-1)*cutoff) + 1`` returns.

    Same sign convention as :func:`value_at_risk` (empyrical's definition). NaN if empty.
    """
    valid = _valid(_as_array(returns))
    if not 0 < cutoff < 1:
        raise DataError(f"cutoff must lie in (0, 1), got {cutoff!r}", fix="e.g. cutoff=0.05")
    if valid.size == 0:
        return float("nan")
    k = int((valid.size - 1) * cutoff)
    return float(np.mean(np.sort(valid)[: k + 1]))


def _nav_frame(result: Any) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    if isinstance(result, pl.DataFrame):
        return result, None
    nav = getattr(result, "nav", None)
    if not isinstance(nav, pl.DataFrame):
        raise DataError(
            f"summary expected a BacktestResult or a nav frame, got {type(result).__name__}",
            fix="pass backtest(...) output, or pl.read_parquet('<run>/nav.parquet')",
        )
    weights = getattr(result, "weights", None)
    return nav, weights if isinstance(weights, pl.DataFrame) else None


def _infer_nav_freq(ts: pl.Series) -> str:
    frame = pl.DataFrame({"ts": ts, "symbol": ["nav"] * ts.len()})
    return infer_freq(frame)


def _weight_stats(weights: pl.DataFrame, nav_ts: pl.Series, years: float) -> dict[str, float]:
    missing = [c for c in ("ts", "symbol", "weight") if c not in weights.columns]
    if missing:
        raise DataError(
            f"weights frame lacks column(s) {missing}; got {weights.columns}",
            fix="pass the long weights frame with columns ts, symbol, weight",
        )
    if weights.height == 0:
        return {"turnover_annual": 0.0, "gross_exposure_mean": 0.0, "gross_exposure_max": 0.0,
                "net_exposure_mean": 0.0, "long_exposure_mean": 0.0,
                "short_exposure_mean": 0.0, "positions_mean": 0.0}
    w = weights.select("ts", "symbol", pl.col("weight").cast(pl.Float64).fill_nan(0.0)
                       .fill_null(0.0))
    # a nav bar without weight rows is a flat book (BacktestResult keeps non-zero rows only)
    grid = pl.concat([nav_ts.rename("ts").cast(TS_DTYPE), w["ts"].cast(TS_DTYPE)]).unique().sort()
    symbols = w["symbol"].unique().sort().to_list()
    # every row is on these axes by construction: its time's position and its symbol's
    rows = grid.search_sorted(w["ts"].cast(TS_DTYPE)).to_numpy().astype(np.int64)
    cols = w["symbol"].replace_strict(symbols, list(range(len(symbols))),
                                      return_dtype=pl.Int64).to_numpy()
    flat = rows * len(symbols) + cols
    # bincount sums duplicate (ts, symbol) rows, like a pivot with aggregate "sum"
    mat = np.bincount(flat, weights=w["weight"].to_numpy(),
                      minlength=len(grid) * len(symbols)).reshape(len(grid), len(symbols))
    return _matrix_stats(mat, years)


def _matrix_stats(mat: np.ndarray, years: float) -> dict[str, float]:
    """:func:`_weight_stats` of a dense ``(bars, symbols)`` weight matrix (0 = flat).

    The matrix is the one the frame path builds: every nav bar as a row, the symbols that
    have a weight row (sorted) as columns.
    """
    if mat.shape[1] == 0:
        return {"turnover_annual": 0.0, "gross_exposure_mean": 0.0, "gross_exposure_max": 0.0,
                "net_exposure_mean": 0.0, "long_exposure_mean": 0.0,
                "short_exposure_mean": 0.0, "positions_mean": 0.0}
    change = np.abs(np.diff(np.vstack([np.zeros((1, mat.shape[1])), mat]), axis=0)).sum(axis=1)
    gross = np.abs(mat).sum(axis=1)
    return {
        "turnover_annual": float(change.sum() / years) if years > 0 else float("nan"),
        "gross_exposure_mean": float(gross.mean()),
        "gross_exposure_max": float(gross.max()),
        "net_exposure_mean": float(mat.sum(axis=1).mean()),
        "long_exposure_mean": float(np.clip(mat, 0, None).sum(axis=1).mean()),
        "short_exposure_mean": float(np.clip(mat, None, 0).sum(axis=1).mean()),
        "positions_mean": float((mat != 0).sum(axis=1).mean()),
    }


def summary(
    result: BacktestLike | pl.DataFrame,
    *,
    weights: pl.DataFrame | None = None,
    freq: str | None = None,
) -> dict[str, float]:
    """Headline metrics of a backtest: returns, risk, drawdown, attribution, turnover, exposure.

    Parameters
    ----------
    result : BacktestResult or pl.DataFrame
        An object with ``.nav`` (columns ts, nav, ret, ret_price, ret_funding, ret_cost) and
        ``.weights`` (ts, symbol, weight) frames, such as
        :class:`coinfactor.backtest.BacktestResult`, or the ``nav`` frame itself (e.g. read
        from a run directory's ``nav.parquet``). The ``ret_*`` columns are contributions
        to ``ret`` (``ret = ret_price + ret_funding + ret_cost``; costs and paid funding are
        negative).
    weights : pl.DataFrame, optional
        Long weights (ts, symbol, weight); overrides ``result.weights``. Without weights the
        turnover and exposure entries are left out.
    freq : str, optional
        Bar frequency (``"1d"``); default ``result.freq`` if the result has one, else
        inferred from the nav timestamps (most common step).

    Returns
    -------
    dict of str to float
        ``total_return``, ``annual_return`` (CAGR), ``annual_volatility``, ``sharpe``,
        ``sortino``, ``max_drawdown``, ``max_drawdown_duration_bars``,
        ``max_drawdown_duration_days``, ``calmar``, ``hit_rate``, ``best_period``,
        ``worst_period``, ``skew``, ``kurtosis`` (excess), ``var_95``, ``cvar_95`` (per-bar
        returns), ``price_return_annual``, ``funding_return_annual``, ``cost_return_annual``
        (arithmetic: mean per-bar component times bars per year, so the three add up to the
        mean return annualised), ``funding_total`` and ``cost_total`` (sums), ``n_bars``,
        ``periods_per_year``; with weights also ``turnover_annual`` (sum over rebalances of
        ``sum_i |w_t - w_prev|``, from an empty book, per year of the nav span),
        ``gross_exposure_mean/max``, ``net_exposure_mean``, ``long_exposure_mean``,
        ``short_exposure_mean`` and ``positions_mean`` (averaged over the nav bars and any
        other weight timestamps). Weights are the held weights per bar: a nav bar without
        weight rows counts as a flat book, as in ``BacktestResult.weights``.

    Raises
    ------
    DataError
        If the nav frame lacks a column or has fewer than two bars and no ``freq``.
    """
    nav, own_weights = _nav_frame(result)
    weights = weights if weights is not None else own_weights
    missing = [c for c in NAV_COLUMNS if c not in nav.columns]
    if missing:
        raise DataError(
            f"nav frame lacks column(s) {missing}; expected {list(NAV_COLUMNS)}, "
            f"got {nav.columns}",
            fix="pass the backtest's nav frame (or a run directory's nav.parquet)",
        )
    nav = nav.sort("ts")
    if freq is None:
        own = getattr(result, "freq", None)
        freq = own if isinstance(own, str) else _infer_nav_freq(nav["ts"])
    ppy = _periods_per_year(freq)
    ret = _as_array(nav["ret"])
    n = ret.size
    bars_per_day = ppy / 365.0
    dd_bars = max_drawdown_duration(ret)
    out: dict[str, float] = {
        "total_return": total_return(ret),
        "annual_return": annual_return(ret, ppy),
        "annual_volatility": annual_volatility(ret, ppy),
        "sharpe": sharpe_ratio(ret, ppy),
        "sortino": sortino_ratio(ret, ppy),
        "max_drawdown": max_drawdown(ret),
        "max_drawdown_duration_bars": float(dd_bars),
        "max_drawdown_duration_days": dd_bars / bars_per_day,
        "calmar": calmar_ratio(ret, ppy),
        "hit_rate": hit_rate(ret),
        "best_period": float(np.nanmax(ret)) if _valid(ret).size else float("nan"),
        "worst_period": float(np.nanmin(ret)) if _valid(ret).size else float("nan"),
        "skew": skewness(ret),
        "kurtosis": kurtosis(ret),
        "var_95": value_at_risk(ret, 0.05),
        "cvar_95": conditional_value_at_risk(ret, 0.05),
    }
    for part in ("price", "funding", "cost"):
        comp = _as_array(nav[f"ret_{part}"])
        out[f"{part}_return_annual"] = (
            float(np.nanmean(comp) * ppy) if _valid(comp).size else float("nan")
        )
    out["funding_total"] = float(np.nansum(_as_array(nav["ret_funding"])))
    out["cost_total"] = float(np.nansum(_as_array(nav["ret_cost"])))
    out["n_bars"] = float(n)
    out["periods_per_year"] = ppy
    if weights is not None:
        dense = getattr(result, "weight_matrix", None) if weights is own_weights else None
        if callable(dense) and nav["ts"].equals(result.nav["ts"]):  # type: ignore[union-attr]
            # the result's held weights as a dense matrix: the same numbers as its long
            # ``weights`` frame pivoted back, without the round trip
            out.update(_matrix_stats(dense(), n / ppy))
        else:
            out.update(_weight_stats(weights, nav["ts"], n / ppy))
    return out
