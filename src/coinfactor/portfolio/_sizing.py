"""Sizing on wide arrays: inverse-vol weights, portfolio vol forecasts and vol targeting.

Arrays are ``(n_bars, n_symbols)`` with NaN where a symbol has no value; row t only uses data
through bar t.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import get_args

import numpy as np
from threadpoolctl import ThreadpoolController

from coinfactor.core.errors import ConfigError
from coinfactor.core.rowsums import row_sums
from coinfactor.core.typing import CovarianceMethod


def inverse_vol_weights(target: np.ndarray, vol: np.ndarray) -> np.ndarray:
    """Scale targets by inverse vol and normalise each row to unit gross exposure.

    Parameters
    ----------
    target : ndarray of shape (n_bars, n_symbols)
        Target positions (e.g. a sigmoid of alpha), NaN = not in the universe.
    vol : ndarray of shape (n_bars, n_symbols)
        Volatility forecasts (> 0), NaN = unknown.

    Returns
    -------
    ndarray of shape (n_bars, n_symbols)
        ``w = (target/vol) / Σ|target/vol|``; NaN where target or vol is missing or vol <= 0;
        a row whose raw weights are all zero stays all zero. The gross is summed left to
        right over the symbols, so adding symbols without a weight anywhere leaves every
        weight unchanged bit for bit.
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        raw = np.divide(target, vol)
    np.copyto(raw, np.nan, where=~(vol > 0))
    # |raw| (NaN as 0) summed left to right over each row, a block of rows at a time
    gross = row_sums(raw, lambda b: np.where(np.isnan(b), 0.0, np.abs(b)))[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        np.divide(raw, gross, out=raw, where=gross > 0)  # in place: the one array
    return raw


def standardized_returns(returns: np.ndarray, vol: np.ndarray) -> np.ndarray:
    """Divide the returns of bar t by the vol forecast made at bar t - 1 (NaN where unknown)."""
    shape: tuple[int, ...] = np.broadcast_shapes(returns.shape, vol.shape)
    out = np.empty(shape)
    if shape[0] == 0:
        return out
    out[0] = np.nan  # no forecast before the first bar
    with np.errstate(invalid="ignore", divide="ignore"):
        np.divide(returns[1:], vol[:-1], out=out[1:])
    np.copyto(out[1:], np.nan, where=~(vol[:-1] > 0))
    return out


def portfolio_vol(
    weights: np.ndarray,
    vol: np.ndarray,
    returns: np.ndarray | None = None,
    *,
    method: CovarianceMethod = "correlation",
    window: int = 90,
) -> np.ndarray:
    """Ex-ante per-bar volatility of the book held from each bar: ``sqrt(wᵀ Σ(t) w)``.

    Parameters
    ----------
    weights : ndarray of shape (n_bars, n_symbols)
        Positions (NaN read as 0).
    vol : ndarray of shape (n_bars, n_symbols)
        Per-bar vol forecasts made at bar t (NaN: that name contributes nothing).
    returns : ndarray of shape (n_bars, n_symbols), optional
        One-bar returns (needed for ``method="correlation"``).
    method : {"diagonal", "correlation"}, default "correlation"
        See :data:`CovarianceMethod`.
    window : int, default 90
        Bars of standardised returns in the correlation estimate.

    Returns
    -------
    ndarray of shape (n_bars,)
        Per-bar portfolio vol forecast for bar t + 1 (0 for an empty book). With
        ``"correlation"``, rows before ``window`` bars of history use the bars available
        (at least 2), else fall back to the diagonal.

    Notes
    -----
    ``wᵀ D C D w = (1/K) Σ_s ((w ∘ σ) · e_s)²`` over the K = ``window`` bars ending at t, with
    missing standardised returns read as 0, computed for all t at once on a sliding window.
    """
    if method not in get_args(CovarianceMethod):
        raise ConfigError(f"portfolio_vol: method must be one of "
                          f"{list(get_args(CovarianceMethod))}, got {method!r}")
    if method == "correlation" and returns is None:
        raise ConfigError("portfolio_vol: method='correlation' needs returns")
    if method == "correlation" and window < 2:
        raise ConfigError(f"portfolio_vol: window must be >= 2 bars, got {window}")
    inputs = vol_inputs(vol, returns if method == "correlation" else None, window)
    return portfolio_vol_from(weights, inputs, method=method, window=window)


@dataclass(frozen=True)
class VolInputs:
    """What :func:`portfolio_vol` derives from the vols and returns alone (reusable).

    Attributes
    ----------
    sig : ndarray of shape (n_bars, n_symbols)
        Vol forecasts, NaN read as 0.
    e : ndarray of shape (n_bars, n_symbols) or None
        Standardised returns, missing read as 0 (``None`` without returns).
    seen : ndarray of shape (n_bars,) or None
        Bars with an observed standardised return in the window ending at t.
    """

    sig: np.ndarray
    e: np.ndarray | None
    seen: np.ndarray | None


def vol_inputs(vol: np.ndarray, returns: np.ndarray | None, window: int, *,
               columns: np.ndarray | None = None) -> VolInputs:
    """Precompute the weight-free parts of :func:`portfolio_vol` (shared by several books).

    Parameters
    ----------
    vol, returns : ndarray of shape (n_bars, n_symbols)
        As in :func:`portfolio_vol` (``returns`` None for the diagonal method).
    window : int
        Bars in the correlation window.
    columns : ndarray of int, optional
        Keep only these columns (sorted) in ``sig`` and ``e``: the books passed to
        :func:`portfolio_vol_from` then hold just these symbols, with the same results as
        on every column (names never held add nothing). ``seen`` still counts
        observations of every column.

    Returns
    -------
    VolInputs
    """
    vol_c = vol if columns is None else np.take(vol, columns, axis=1)
    e = None if returns is None else standardized_returns(
        returns if columns is None else np.take(returns, columns, axis=1), vol_c)
    sig = np.nan_to_num(vol_c, nan=0.0, copy=columns is None)  # the columns' copy: in place
    del vol_c
    if returns is None or e is None:
        return VolInputs(sig, None, None)
    n_t = vol.shape[0]
    if columns is None:
        any_obs = (~np.isnan(e)).any(axis=1)
    else:
        # observed on every column: vol(t - 1) > 0 and r(t) / vol(t - 1) is a number, i.e.
        # r(t) is not NaN and not an infinity over an infinite vol
        any_obs = np.zeros(n_t, dtype=bool)
        if n_t > 1:
            with np.errstate(invalid="ignore"):
                observed = vol[:-1] > 0
            observed &= ~np.isnan(returns[1:])
            both_inf = np.isinf(returns[1:])
            both_inf &= np.isinf(vol[:-1])
            observed &= ~both_inf
            any_obs[1:] = observed.any(axis=1)
    np.copyto(e, 0.0, where=np.isnan(e))
    # a window with fewer than 2 observed bars carries no correlation information
    any_obs = any_obs.astype(np.int64)
    seen = np.convolve(any_obs, np.ones(window, dtype=np.int64))[:n_t]
    return VolInputs(sig, e, seen)


def portfolio_vol_from(weights: np.ndarray, inputs: VolInputs, *,
                       method: CovarianceMethod = "correlation", window: int = 90
                       ) -> np.ndarray:
    """:func:`portfolio_vol` from precomputed :func:`vol_inputs` (same ``window``).

    Parameters
    ----------
    weights : ndarray of shape (n_bars, n_symbols)
        Positions (NaN read as 0), on the columns of ``inputs``.
    inputs : VolInputs
        From :func:`vol_inputs` (with ``columns=`` when the book holds a subset).
    method : {"diagonal", "correlation"}, default "correlation"
        See :data:`CovarianceMethod`.
    window : int, default 90
        The ``window`` given to :func:`vol_inputs`.

    Returns
    -------
    ndarray of shape (n_bars,)
        Per-bar portfolio vol forecast, as :func:`portfolio_vol`.
    """
    ws = np.nan_to_num(weights, nan=0.0)  # a copy: scaled in place below
    np.multiply(ws, inputs.sig, out=ws)
    # squares summed left to right (flat names change nothing), a block of rows at a time
    diag = np.sqrt(row_sums(ws, np.square))
    if method == "diagonal":
        return diag
    if inputs.e is None or inputs.seen is None:
        raise ConfigError("portfolio_vol: method='correlation' needs returns")
    if window < 2:
        raise ConfigError(f"portfolio_vol: window must be >= 2 bars, got {window}")
    n_t = inputs.e.shape[0]
    active = np.flatnonzero((ws != 0.0).any(axis=0))  # names never held add nothing
    held = ws if active.size == ws.shape[1] else ws[:, active]
    var = _window_quadratic(inputs.e, active, held, window)
    count = np.minimum(np.arange(1, n_t + 1), window)
    out = np.sqrt(var / count)
    return np.where(inputs.seen >= 2, out, diag)


@functools.cache
def _blas_controller() -> ThreadpoolController:
    """One controller for the process (building one scans the loaded libraries, ~5 ms)."""
    return ThreadpoolController()


def _window_quadratic(e_all: np.ndarray, active: np.ndarray, ws: np.ndarray, window: int,
                      block: int = 64) -> np.ndarray:
    """``Σ_{s=t-K+1..t} (ws(t) · e(s))²`` for every t (K = window, e(s<0) = 0).

    ``e`` is ``e_all``'s ``active`` columns (the names ``ws`` holds). Blocks of ``block``
    bars: one BLAS product ``E[a-K+1 : a+B] @ ws[a : a+B]ᵀ`` gives every needed dot product
    of the block, and a band mask keeps the pairs inside each window.
    Cost ``O(n_bars · n_symbols · (K + B))``.
    """
    n_t, n_s = ws.shape
    out = np.zeros(n_t)
    if n_s == 0 or n_t == 0:
        return out
    r = np.arange(window - 1 + block)[:, None]
    c = np.arange(block)[None, :]
    band = (r >= c) & (r <= c + window - 1)
    # The products are small (~150 x 64): BLAS threads only add contention (measured 70x
    # slower with 2 OpenBLAS threads on a busy 2-core machine), so use one.
    with _blas_controller().limit(limits=1, user_api="blas"):
        _blocks(e_all, active, ws, out, band, window, block)
    return out


def _blocks(e_all: np.ndarray, active: np.ndarray, ws: np.ndarray, out: np.ndarray,
            band: np.ndarray, window: int, block: int) -> None:
    """Fill ``out`` block by block (the loop of :func:`_window_quadratic`).

    Each block reads bars ``a-K+1 .. a+b-1`` of the held names' standardised returns, bars
    before the first as rows of zeros (the same matrix whatever the block: no padded copy
    of the whole array).
    """
    n_t = ws.shape[0]
    for a in range(0, n_t, block):
        b = min(block, n_t - a)
        w_blk = ws[a: a + b]
        act = np.flatnonzero((w_blk != 0.0).any(axis=0))  # names held in this block
        lo = a - (window - 1)  # bars a-K+1 .. a+b-1
        if lo >= 0:
            rows = e_all[lo: a + b][:, active[act]]
        else:
            rows = np.zeros((window - 1 + b, act.size))
            rows[-lo:] = e_all[: a + b][:, active[act]]
        m = rows @ w_blk[:, act].T  # (K-1+b, b)
        out[a: a + b] = np.einsum("rc,rc->c", m * m, band[: window - 1 + b, :b])


def vol_target_scale(
    book_vol: np.ndarray,
    target_vol: float,
    *,
    max_scale: float = np.inf,
) -> np.ndarray:
    """Scale factor that brings a book's forecast vol to the target.

    Parameters
    ----------
    book_vol : ndarray of shape (n_bars,)
        Per-bar forecast vol of the unscaled book.
    target_vol : float
        Per-bar target vol (annual target / sqrt(periods per year)).
    max_scale : float, default inf
        Upper bound on the scale (a leverage limit).

    Returns
    -------
    ndarray of shape (n_bars,)
        ``min(target / book_vol, max_scale)``; 0 where the book vol is 0 or unknown.
    """
    if not target_vol > 0:
        raise ConfigError(f"vol target must be > 0, got {target_vol}")
    with np.errstate(invalid="ignore", divide="ignore"):
        s = np.where(book_vol > 0, target_vol / book_vol, 0.0)
    return np.minimum(np.nan_to_num(s, nan=0.0), max_scale)
