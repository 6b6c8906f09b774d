"""Volatility forecasts: an EMA blend of squared returns, and the rolling per-bar std.

Returns are one-bar returns ``close(t) / close(t-1) - 1`` (or their log) on a regular time axis,
computed only when both bars exist and neither is a filled bar: never across a gap or a period
a coin was out of the data. The forecast at ts is built from returns through bar ts (known at
its close) and is the forecast for bar t + 1.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from coinfactor.core.errors import ConfigError
from coinfactor.core.time import periods_per_year
from coinfactor.core.typing import ReturnKind
from coinfactor.data import Grid, infer_freq

__all__ = [
    "bar_returns",
    "ema_blend_variance",
    "ema_blend_vol",
    "ewma_variance",
    "rolling_bar_vol",
]


def bar_returns(close: np.ndarray, *, kind: ReturnKind = "simple") -> np.ndarray:
    """One-bar returns of a ``(n_bars, n_symbols)`` close array on a regular time axis.

    Parameters
    ----------
    close : ndarray of shape (n_bars, n_symbols)
        Close prices, NaN where the bar is missing or filled.
    kind : {"simple", "log"}
        ``close(t)/close(t-1) - 1`` or ``log(close(t)/close(t-1))``.

    Returns
    -------
    ndarray of shape (n_bars, n_symbols)
        NaN in the first row and wherever either bar is missing (never across a gap).
    """
    out = np.empty(close.shape, dtype=np.float64)
    out[:1] = np.nan
    if close.shape[0] > 1:  # the ratio, then its log or minus one, in place
        ratio = np.divide(close[1:], close[:-1], out=out[1:])
        if kind == "log":
            np.log(ratio, out=ratio)
        else:
            ratio -= 1.0
    return out


def ewma_variance(sq_returns: np.ndarray, span: float) -> np.ndarray:
    """Exponentially weighted mean of squared returns (RiskMetrics recursion), skipping NaN.

    ``v(t) = λ·v(t-1) + (1-λ)·x(t)`` with ``λ = 1 - 2/(span+1)``, started at the first
    observation (``v = x(first)``). A NaN ``x(t)`` leaves the state unchanged (the estimate at
    t is the one from the last observed bar: nothing is computed across the gap).

    Parameters
    ----------
    sq_returns : ndarray of shape (n_bars, n_symbols)
        Squared returns, NaN where missing.
    span : float
        EMA span in bars (> 1).

    Returns
    -------
    ndarray of shape (n_bars, n_symbols)
        The variance estimate through bar t; NaN before the first observation.
    """
    if span < 1:
        raise ConfigError(f"EMA span must be >= 1 bar, got {span}")
    x = np.asarray(sq_returns, dtype=np.float64)
    (out,) = _ewma_spans(x, (1.0 - 2.0 / (span + 1.0),))
    seen = np.cumsum(~np.isnan(x), axis=0, dtype=np.int32)
    np.copyto(out, np.nan, where=seen == 0)  # before the first observation
    return out


def _ewma_spans(x: np.ndarray, lams: tuple[float, ...], *, square: bool = False
                ) -> list[np.ndarray]:
    """Run the recursion of :func:`ewma_variance` for several decays in one pass over bars.

    Per bar, on the decays side by side: ``v = lam * v + (1 - lam) * x``, ``v = x`` at a
    column's first observation, the state kept where ``x`` is NaN (compiled:
    :func:`coinfactor.risk._ewma_kernel.ewma_recursion`). Bit-identical to the
    column-by-column recursion. Before a column's first observation the state is 0.0
    (callers mask it).

    With ``square=True``, ``x`` holds returns and the recursion runs on ``x * x``.

    Returns
    -------
    list of ndarray of shape (n_bars, n_symbols)
        One per decay (views into one array).
    """
    from coinfactor.risk._ewma_kernel import ewma_recursion  # numba: imported on first use

    n_t, n_s = x.shape
    k = len(lams)
    out = np.zeros((n_t, k * n_s))
    if n_t and n_s:
        ewma_recursion(np.ascontiguousarray(x, dtype=np.float64),
                       np.asarray(lams, dtype=np.float64), square, out)
    return [out[:, i * n_s:(i + 1) * n_s] for i in range(k)]


def ema_blend_variance(
    returns: np.ndarray,
    *,
    short_span: float = 21,
    long_span: float = 90,
    blend: float = 0.5,
    min_periods: int = 21,
) -> np.ndarray:
    """Blend of a short and a long EMA of squared returns, per bar (array kernel).

    Parameters
    ----------
    returns : ndarray of shape (n_bars, n_symbols)
        One-bar returns, NaN where missing.
    short_span, long_span : float
        EMA spans in bars, ``short_span <= long_span``.
    blend : float
        Weight of the short EMA, in [0, 1].
    min_periods : int
        Observed returns a symbol needs (so far) before a forecast is given.

    Returns
    -------
    ndarray of shape (n_bars, n_symbols)
        Per-bar variance forecast for bar t + 1 from the returns observed through bar t
        (carried over bars without a return); NaN until ``min_periods`` returns were seen.
    """
    _check_spans(short_span, long_span, blend, min_periods)
    short, long_ = _ewma_spans(np.asarray(returns, dtype=np.float64),
                               (1.0 - 2.0 / (short_span + 1.0), 1.0 - 2.0 / (long_span + 1.0)),
                               square=True)
    np.multiply(blend, short, out=short)  # the EMAs are ours: scale them in place
    np.multiply(1.0 - blend, long_, out=long_)
    var = np.add(short, long_)
    seen = np.cumsum(~np.isnan(returns), axis=0, dtype=np.int32)
    np.copyto(var, np.nan, where=seen < min_periods)
    return var


def _check_spans(short_span: float, long_span: float, blend: float, min_periods: int) -> None:
    if not 1 <= short_span <= long_span:
        raise ConfigError(
            f"expected 1 <= short_span <= long_span, got short_span={short_span}, "
            f"long_span={long_span}")
    if not 0.0 <= blend <= 1.0:
        raise ConfigError(f"blend (weight of the short EMA) must be in [0, 1], got {blend}")
    if min_periods < 1:
        raise ConfigError(f"min_periods must be >= 1, got {min_periods}")


def _close_wide(panel: pl.DataFrame, freq: str) -> tuple[Grid, np.ndarray]:
    """Build the panel's regular grid (first to last bar) and its close, (n_bars, n_symbols)."""
    grid = Grid.from_panel(panel, freq)
    return grid, grid.wide(panel, "close")


def ema_blend_vol(
    panel: pl.DataFrame,
    *,
    short_span: float = 21,
    long_span: float = 90,
    blend: float = 0.5,
    min_periods: int = 21,
    kind: ReturnKind = "log",
    annualize: bool = False,
    freq: str | None = None,
) -> pl.DataFrame:
    """EMA-blend volatility forecast per (ts, symbol).

    ``vol(t) = sqrt(blend·EMA_short(r²)(t) + (1 - blend)·EMA_long(r²)(t))``, where the EMAs
    run over the symbol's one-bar returns through bar t (never across a gap).

    Parameters
    ----------
    panel : pl.DataFrame
        Canonical panel (``ts, symbol, close``).
    short_span, long_span : float, default 21, 90
        EMA spans in bars.
    blend : float, default 0.5
        Weight of the short EMA.
    min_periods : int, default 21
        Returns needed before the first forecast.
    kind : {"simple", "log"}, default "log"
        Return definition.
    annualize : bool, default False
        Multiply by ``sqrt(periods_per_year(freq))``.
    freq : str, optional
        Bar frequency (inferred when omitted).

    Returns
    -------
    pl.DataFrame
        ``ts, symbol, vol`` sorted by (symbol, ts): the forecast of bar t+1's return standard
        deviation made at the close of bar t (per bar, or annualised). Rows only where the
        symbol has a bar at t and enough history; at the first bar after a gap (no return)
        the forecast is the one carried from before the gap.

    Notes
    -----
    The EMA recursion is RiskMetrics' ``v(t) = λ v(t-1) + (1-λ) r(t)²`` with
    ``λ = 1 - 2/(span + 1)``, started at the first squared return; ``arch``'s
    ``EWMAVariance(lam)`` gives the same numbers shifted by one bar (its variance at t uses
    returns through t - 1).
    """
    bar_freq = freq if freq is not None else infer_freq(panel)
    grid, close = _close_wide(panel, bar_freq)
    var = ema_blend_variance(bar_returns(close, kind=kind), short_span=short_span,
                             long_span=long_span, blend=blend, min_periods=min_periods)
    vol = np.where(np.isnan(close), np.nan, np.sqrt(var))
    if annualize:
        vol = vol * np.sqrt(periods_per_year(bar_freq))
    return grid.long({"vol": vol}, where=~np.isnan(vol))


def rolling_bar_vol(
    panel: pl.DataFrame,
    *,
    window: int = 30,
    kind: ReturnKind = "log",
    annualize: bool = False,
    freq: str | None = None,
) -> pl.DataFrame:
    """Compute the rolling per-bar vol: the sample std (ddof=1) of the last ``window`` returns.

    Centred and per bar by default (``annualize=True`` scales it to a year). Not
    :func:`coinfactor.signals.realized_vol`, the annualised uncentred root mean square of log
    returns: on hourly bars the two differ by about ``sqrt(8760) ~ 94x`` unless annualised.

    Parameters
    ----------
    panel : pl.DataFrame
        Canonical panel (``ts, symbol, close``).
    window : int, default 30
        Bars in the window; a window with a missing return gives no value (no gap crossing).
    kind : {"simple", "log"}, default "log"
        Return definition.
    annualize : bool, default False
        Multiply by ``sqrt(periods_per_year(freq))``.
    freq : str, optional
        Bar frequency (inferred when omitted).

    Returns
    -------
    pl.DataFrame
        ``ts, symbol, rolling_bar_vol`` sorted by (symbol, ts); the value at ts uses returns of
        bars ts - window + 1 .. ts.
    """
    if window < 2:
        raise ConfigError(f"rolling_bar_vol: window must be >= 2 bars, got {window}")
    bar_freq = freq if freq is not None else infer_freq(panel)
    grid, close = _close_wide(panel, bar_freq)
    rets = bar_returns(close, kind=kind)
    frame = pl.DataFrame(rets, schema=[str(i) for i in range(rets.shape[1])], orient="row")
    rolled = frame.fill_nan(None).select(
        pl.all().rolling_std(window, min_samples=window)).fill_null(np.nan).to_numpy()
    if annualize:
        rolled = rolled * np.sqrt(periods_per_year(bar_freq))
    rolled = rolled.reshape(rets.shape)
    return grid.long({"rolling_bar_vol": rolled}, where=~np.isnan(rolled))
