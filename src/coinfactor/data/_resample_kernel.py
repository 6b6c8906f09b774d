"""Coarse bars from runs of fine bars, compiled by numba (one pass, rows in order).

The aggregation of :func:`coinfactor.data.resample` for a bar width that divides the UTC day
(every width the store rolls up to): rows sorted by (symbol, ts), a coarse bar is a run of
rows of one symbol with the same ``ts // width``. Its reference is polars'
``group_by_dynamic`` (:func:`coinfactor.data._resample.resample_reference`), which it equals
exactly except for the last bits of the float sums (summed here left to right);
``tests/data/test_resample_kernel.py`` compares the two on panels with gaps, filler bars,
null optional columns and several symbols.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def count_bars(ts: np.ndarray, starts: np.ndarray, width: int) -> int:  # pragma: no cover
    """Count the coarse bars: runs of one symbol and one ``ts // width``."""
    n = 0
    for r in range(starts.shape[0] - 1):
        end = np.int64(0)
        for i in range(starts[r], starts[r + 1]):
            if i == starts[r] or ts[i] >= end:  # (a division per coarse bar, not per row)
                n += 1
                end = (ts[i] // width + 1) * width
    return n


@numba.njit(cache=True, nogil=True)
def coarse_bars(ts: np.ndarray, starts: np.ndarray, width: int, prices: tuple[np.ndarray, ...],
                sums: tuple[np.ndarray, ...], sum_ok: tuple[np.ndarray, ...],
                trades: np.ndarray, trades_ok: np.ndarray, oi: np.ndarray, oi_ok: np.ndarray,
                real: np.ndarray, out_f: np.ndarray, out_ok: np.ndarray, out_i: np.ndarray
                ) -> None:  # pragma: no cover - compiled
    """Fill the coarse bars (rows in order of symbol run, then time).

    Parameters
    ----------
    ts : ndarray of int64, shape (n,)
        Fine bar opens (µs), sorted within each run.
    starts : ndarray of int64, shape (r + 1,)
        First row of each symbol's run, then ``n``.
    width : int
        Coarse bar width (µs); a coarse bar opens at ``(ts // width) * width``.
    prices : tuple of 4 ndarrays of float64
        open, high, low, close: first, max, min, last.
    sums : tuple of 3 ndarrays of float64
        volume (no nulls), quote volume, funding (nulls as 0): summed.
    sum_ok : tuple of 3 ndarrays of bool
        Whether each of ``sums`` is known (volume's is not read); a coarse quote volume or
        funding is null when none of its fine values is known.
    trades, trades_ok : ndarray of int64, ndarray of bool
        Trade counts (nulls as 0), summed, and whether known.
    oi, oi_ok : ndarray of float64, ndarray of bool
        Open interest, last (null when the last fine bar's is).
    real : ndarray of bool
        Whether each fine bar is real (not a filler bar).
    out_f : ndarray of float64, shape (m, 8)
        open, high, low, close, volume, quote volume, funding, open interest.
    out_ok : ndarray of bool, shape (m, 4)
        quote volume, funding, trades, open interest known.
    out_i : ndarray of int64, shape (m, 4)
        coarse ``ts``, run index, trades, real fine bars.
    """
    o, h, lo, c = prices
    vol, quote, funding = sums
    quote_ok, funding_ok = sum_ok[1], sum_ok[2]
    g = 0
    for r in range(starts.shape[0] - 1):
        i = starts[r]
        stop = starts[r + 1]
        while i < stop:  # one coarse bar: rows i .. j - 1
            b = ts[i] // width
            end = (b + 1) * width
            hi, low = h[i], lo[i]
            v = vol[i]
            q, q_ok = (quote[i], True) if quote_ok[i] else (0.0, False)
            f, f_ok = (funding[i], True) if funding_ok[i] else (0.0, False)
            t, t_ok = (trades[i], True) if trades_ok[i] else (np.int64(0), False)
            n_real = np.int64(1) if real[i] else np.int64(0)
            j = i + 1
            while j < stop and ts[j] < end:
                if h[j] > hi:
                    hi = h[j]
                if lo[j] < low:
                    low = lo[j]
                v = v + vol[j]
                if quote_ok[j]:
                    q = q + quote[j]
                    q_ok = True
                if funding_ok[j]:
                    f = f + funding[j]
                    f_ok = True
                if trades_ok[j]:
                    t += trades[j]
                    t_ok = True
                if real[j]:
                    n_real += 1
                j += 1
            out_i[g, 0] = b * width
            out_i[g, 1] = r
            out_i[g, 2] = t
            out_i[g, 3] = n_real
            out_f[g, 0] = o[i]
            out_f[g, 1] = hi
            out_f[g, 2] = low
            out_f[g, 3] = c[j - 1]
            out_f[g, 4] = v
            out_f[g, 5] = q
            out_f[g, 6] = f
            out_f[g, 7] = oi[j - 1]
            out_ok[g, 0] = q_ok
            out_ok[g, 1] = f_ok
            out_ok[g, 2] = t_ok
            out_ok[g, 3] = oi_ok[j - 1]
            g += 1
            i = j
