"""Valid rows per window when all series share their regressors, written piece by piece.

With shared regressors, a window's count of valid rows is the regressors' count, except in the
few series with a missing value inside the window. :class:`SharedCounts` keeps the regressors'
count (one column) and the exceptions (a few columns), and writes the full ``(T, N)`` counts
rows at a time, in the threads that fit those rows: no full-size temporary is built up front.
"""

from __future__ import annotations

import numpy as np

from coinfactor.rolling._sums import window_count


class SharedCounts:
    """Window counts of series sharing their regressors, and which windows to fit together.

    Parameters
    ----------
    x_valid : ndarray of bool, shape (T, 1)
        Rows where every regressor is finite.
    y_finite : ndarray of bool, shape (T, N)
        Finite values of the series.
    window, min_nobs : int
        Window length and fewest valid rows for a fit, in rows.
    nobs : ndarray of int, shape (T, N)
        Output: receives the counts, rows at a time (:meth:`write_mask`).

    Attributes
    ----------
    cols : ndarray of int, shape (m,)
        Series with a missing value on some row where the regressors are valid.
    own : ndarray of bool, shape (T, m)
        Windows of those series that have a missing value and enough rows: they need their
        own sums, and are left out of the shared pass (:meth:`write_mask`).
    nobs_cols : ndarray of int, shape (T, m)
        Counts of those series.
    """

    def __init__(self, x_valid: np.ndarray, y_finite: np.ndarray, window: int, min_nobs: int,
                 nobs: np.ndarray) -> None:
        self.nx = window_count(x_valid, window)
        self.nobs = nobs
        self.min_nobs = min_nobs
        self.started = (np.arange(x_valid.shape[0]) >= window - 1)[:, None]
        cols = np.flatnonzero(~y_finite.all(axis=0)) if x_valid.all() else np.arange(
            y_finite.shape[1])
        miss = x_valid & ~y_finite[:, cols]
        some = np.asarray(miss.any(axis=0))
        self.cols = cols[some]
        missing = window_count(miss[:, some], window)
        self.nobs_cols = self.nx - missing
        self.own = self.started & (self.nobs_cols >= min_nobs) & (missing > 0)

    def write_mask(self, start: int, stop: int) -> np.ndarray:
        """Write the counts of rows ``start:stop`` to ``nobs``; return which to fit together.

        Returns
        -------
        ndarray of bool, shape (stop - start, N)
            Windows that are complete, have at least ``min_nobs`` valid rows, and are not in
            :attr:`own`.
        """
        nobs = self.nobs[start:stop]
        nobs[...] = self.nx[start:stop]
        if self.cols.size:
            nobs[:, self.cols] = self.nobs_cols[start:stop]
        sel = nobs >= self.min_nobs
        sel &= self.started[start:stop]
        if self.cols.size:
            sel[:, self.cols] &= ~self.own[start:stop]
        return sel
