"""Trailing-window kernels on grid-aligned ``(n_bars, n_symbols)`` arrays (NaN missing).

The machinery of the rolling signals and universes.

Window rule (every rolling signal): a window of ``w`` bars at ``ts`` covers the ``w`` bars of
the regular grid ``ts - (w - 1) * freq, ..., ts``; missing bars (gaps, bars before listing,
filled bars, null inputs) are missing values. The statistic is computed from the values
present and is defined only when at least ``min_periods`` of them are present
(``min_periods=None`` means ``w``: every bar of the window must be there).
"""

from __future__ import annotations

import numpy as np

from coinfactor.core.errors import ConfigError
from coinfactor.rolling._sums import trailing_window_sums


def check_window(window: int, name: str = "window") -> int:
    """Validate a window length in bars."""
    if isinstance(window, bool) or not isinstance(window, int) or window < 1:
        raise ConfigError(f"expected {name} to be a whole number of bars >= 1, got {window!r}")
    return window


def min_count(window: int, min_periods: int | None) -> int:
    """Resolve ``min_periods`` (None -> ``window``) and check ``1 <= min_periods <= window``."""
    if min_periods is None:
        return window
    if isinstance(min_periods, bool) or not isinstance(min_periods, int) or not (
        1 <= min_periods <= window
    ):
        raise ConfigError(
            f"expected min_periods in 1..window={window} (or None for a full window), "
            f"got {min_periods!r}"
        )
    return min_periods


def shift(x: np.ndarray, k: int) -> np.ndarray:
    """Shift rows down by ``k >= 0`` (``out[t] = x[t - k]``), NaN-filled; up when ``k < 0``."""
    out = np.full_like(x, np.nan)
    if k == 0:
        out[:] = x
    elif k > 0 and k < x.shape[0]:
        out[k:] = x[:-k]
    elif k < 0 and -k < x.shape[0]:
        out[:k] = x[-k:]
    return out


_BLOCK = 4096  # rows per prefix-sum block (bounds the rounding of long histories)
_DIRECT_MAX = 128  # windows up to this many rows are summed directly (no cancellation)


def rolling_sum(x: np.ndarray, window: int, *,
                overwrite: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Trailing window sums and counts of the finite values of ``x`` along axis 0.

    Windows of up to 128 rows are summed directly (one vectorised add per lag), so a sum only
    carries the rounding of its own ``window`` values. Longer windows use prefix sums restarted
    every ``max(4096, window)`` rows (each block's prefix starts ``window`` rows before the
    block): their absolute error is about ``eps`` times the largest partial sum of the block,
    which matters only when a window's values are many orders of magnitude below values that
    left it. Either way the value at row ``t`` depends on rows ``<= t`` only and is
    bit-identical on a truncated array.

    Parameters
    ----------
    x : ndarray of shape (n_bars, n_symbols)
        Values, NaN missing.
    window : int
        Window length in rows.
    overwrite : bool, default False
        ``x`` (float64) may be used as scratch space and is clobbered (the same sums, one
        ``(n_bars, n_symbols)`` array less).

    Returns
    -------
    sums, counts : ndarray of shape (n_bars, n_symbols)
        Sum of the finite values in rows ``t - window + 1 .. t`` and how many there are.
    """
    sums, counts = _window_sums(x, window, overwrite=overwrite)
    return sums, counts.astype(np.int64, copy=False)


_ROW_BLOCK = 128  # rows per block of the direct sums (source and sums stay in cache)


def _window_sums(x: np.ndarray, window: int, *, overwrite: bool = False
                 ) -> tuple[np.ndarray, np.ndarray]:
    """:func:`rolling_sum` with the counts in the smallest exact integer type used.

    ``overwrite=True`` lets the direct sums zero the missing values of ``x`` in place and
    read it as their source (a float64 array the caller no longer needs).
    """
    if window <= _DIRECT_MAX:
        ok = np.isfinite(x)
        if overwrite:
            xz = x
            np.copyto(xz, 0.0, where=~ok)
            sums = xz.copy()
        else:
            sums = np.where(ok, x, 0.0)
            xz = sums.copy()
        n = x.shape[0]
        # sums[t] = x[t] + x[t-1] + ... + x[t-window+1], added in that order; in blocks of
        # rows so that each block's rows and their look-back stay in cache across the lags
        for a in range(0, n, _ROW_BLOCK):
            b = min(n, a + _ROW_BLOCK)
            blk = sums[a:b]
            for lag in range(1, min(window, b)):
                lo = max(a, lag)
                blk[lo - a:] += xz[lo - lag: b - lag]
        if window <= 32:  # a few small integer adds beat a 64-bit prefix sum (exact either way)
            ok8 = ok.view(np.uint8)
            c16 = ok8.astype(np.int16)
            for lag in range(1, min(window, n)):
                c16[lag:] += ok8[:-lag]
            return sums, c16
        cc = np.cumsum(ok, axis=0, dtype=np.int64)  # integer prefix sums are exact
        counts = cc.copy()
        if window < n:
            counts[window:] -= cc[:-window]
        return sums, counts
    ok = np.isfinite(x)
    xz = np.where(ok, x, 0.0)
    n = x.shape[0]
    sums = np.empty_like(xz)
    counts = np.empty(x.shape, dtype=np.int64)
    block = max(_BLOCK, window)
    for start in range(0, n, block):
        lo, hi = max(0, start - window), min(n, start + block)
        a = start - lo  # local row of the block's first output
        first = max(a, window)  # first local row with a full look-back inside the segment
        for src, dst in ((xz, sums), (ok, counts)):
            cs = np.cumsum(src[lo:hi], axis=0, dtype=dst.dtype)
            out = dst[start:hi]
            out[:] = cs[a:]
            if first < hi - lo:
                out[first - a:] -= cs[first - window: hi - lo - window]
    return sums, counts


def rolling_mean(x: np.ndarray, window: int, min_periods: int, *,
                 overwrite: bool = False) -> np.ndarray:
    """Trailing mean of the finite values, NaN where fewer than ``min_periods`` are present.

    ``overwrite=True``: ``x`` (float64) may be used as scratch space and is clobbered.
    """
    sums, counts = _window_sums(x, window, overwrite=overwrite)
    with np.errstate(invalid="ignore", divide="ignore"):
        np.divide(sums, counts, out=sums)  # small integer counts convert exactly
    np.copyto(sums, np.nan, where=counts < min_periods)
    return sums


def blocked_rolling_mean(x: np.ndarray, window: int, min_periods: int) -> np.ndarray:
    """Trailing mean of the finite values in O(1) per cell, computed in ``x`` (float64).

    :func:`rolling_mean` from prefix sums that restart every ``window`` rows, counted from
    the first row (see ``coinfactor.rolling._sums.trailing_window_sums``): every window sum
    is formed from at most
    ``2 * window`` terms wherever it sits, so rounding does not grow with the series, and a
    row's value depends on rows ``<= t`` only (bit-identical on a truncated array). It may
    differ from :func:`rolling_mean`'s in the last bits; its absolute error is about ``eps``
    times the largest sum over two blocks, which matters only when a window's values are many
    orders of magnitude below values of the ``window`` rows before it. Counts are exact.

    Parameters
    ----------
    x : ndarray of float64, shape (n_bars, n_symbols)
        Values, NaN (or infinite) missing; overwritten by the result.
    window : int
        Window length in rows (``<= 32767``).
    min_periods : int
        Finite values required in the window.

    Returns
    -------
    ndarray of shape (n_bars, n_symbols)
        ``x``: the mean of the finite values in rows ``t - window + 1 .. t``; NaN where fewer
        than ``min_periods`` are present.
    """
    ok = np.isfinite(x)
    np.copyto(x, 0.0, where=~ok)
    counts = trailing_window_sums(ok.astype(np.int16), window)  # small integers: exact
    sums = trailing_window_sums(x, window)
    with np.errstate(invalid="ignore", divide="ignore"):
        np.divide(sums, counts, out=sums)
    np.copyto(sums, np.nan, where=counts < min_periods)
    return sums


def log_returns(close: np.ndarray) -> np.ndarray:
    """``log(close[t] / close[t-1])`` on the grid; NaN when either bar is missing."""
    out = _ratio(close)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.log(out, out=out)


def simple_returns(close: np.ndarray) -> np.ndarray:
    """``close[t] / close[t-1] - 1`` on the grid; NaN when either bar is missing."""
    out = _ratio(close)
    out -= 1.0
    return out


def _ratio(close: np.ndarray) -> np.ndarray:
    """``close[t] / close[t-1]`` (NaN in the first row), in one new array."""
    out = shift(close, 1)
    np.divide(close, out, out=out)
    return out
