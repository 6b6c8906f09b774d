"""Every row rule of the canonical panel in one compiled pass (numba): pass or not.

:func:`rows_hold` answers what :func:`coinfactor.data._checks.rows_pass_reference` answers
(whether any row breaks a rule of :mod:`coinfactor.data._checks`), reading each value once
instead of evaluating some thirty polars masks. The polars masks stay the definition of the
rules: when this pass says no, the checks evaluate them to count, show and report the
offending rows; ``tests/data/test_checks_one_pass.py`` holds the two answers equal on panels
with every kind of fault. Nothing is allocated per row except, for a nullable column with
nulls, a copy with the nulls as 0 (a value no rule of such a column refuses).
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def rows_hold(ts: np.ndarray, starts: np.ndarray, step: int, prices: tuple[np.ndarray, ...],
              volume: np.ndarray, nonneg: tuple[np.ndarray, np.ndarray], trades: np.ndarray,
              funding: np.ndarray) -> bool:  # pragma: no cover - compiled
    """Whether every row of one panel keeps the row rules.

    Parameters
    ----------
    ts : ndarray of int64, shape (n,)
        Bar open times (any unit; ``step`` in the same unit).
    starts : ndarray of int64, shape (r + 1,)
        First row of each run of one symbol, then ``n``; the runs' symbols are checked to
        increase by the caller.
    step : int
        The declared bar step (every step within a symbol a positive multiple of it), or 0:
        only strictly increasing times.
    prices : tuple of 4 ndarrays of float64, shape (n,)
        open, high, low, close (no nulls): finite, > 0, low <= open, close <= high.
    volume : ndarray of float64, shape (n,)
        Base volume (no nulls): finite, >= 0.
    nonneg : tuple of 2 ndarrays of float64, shape (n,)
        Quote volume and open interest, nulls as 0: finite, >= 0, not NaN.
    trades : ndarray of int64, shape (n,)
        Trade counts, nulls as 0: >= 0.
    funding : ndarray of float64, shape (n,)
        Funding rates, nulls as 0: finite, not NaN.
    """
    inf = np.inf
    o, h, lo, c = prices
    qv, oi = nonneg
    for r in range(starts.shape[0] - 1):
        for i in range(starts[r] + 1, starts[r + 1]):
            d = ts[i] - ts[i - 1]
            if d <= 0 or (d != step and step > 0 and d % step != 0):
                return False   # (a division only off the usual step)
    for i in range(ts.shape[0]):
        oo, hh, ll, cc = o[i], h[i], lo[i], c[i]
        if not (oo > 0 and hh > 0 and ll > 0 and cc > 0):
            return False   # NaN or not positive
        if hh == inf or ll == inf or oo == inf or cc == inf:
            return False
        if hh < ll or oo < ll or oo > hh or cc < ll or cc > hh:
            return False
        v = volume[i]
        if not (v >= 0) or v == inf:
            return False
        q, x = qv[i], oi[i]
        if not (q >= 0) or q == inf or not (x >= 0) or x == inf:
            return False
        if trades[i] < 0:
            return False
        f = funding[i]
        if f != f or f == inf or f == -inf:
            return False
    return True
