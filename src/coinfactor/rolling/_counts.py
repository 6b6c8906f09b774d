"""Row counts and ranks of rolling windows, kept compact when all series share their regressors.

With shared regressors, a window's count of valid rows is the regressors' count, and its rank
the rank of the regressors' window, except in the few series with a missing value inside the
window. :class:`SharedCounts` keeps the regressors' values (one per row) and the exceptions (a
few columns), and builds the full ``(T, N)`` arrays only when asked: the fit never writes two
full-size integer arrays that most callers do not read. :class:`DenseCounts` holds full arrays
(series with their own regressors).
"""

from __future__ import annotations

import numpy as np

from coinfactor.rolling._sums import count_dtype, window_count


class DenseCounts:
    """Window counts, ranks and condition numbers held as full arrays.

    Parameters
    ----------
    nobs, rank : ndarray of int, shape (T, N)
        Valid rows per window and numerical rank per window (0 where not fitted).
    cond : ndarray of shape (T, N), optional
        Condition number per window (NaN where not fitted); None when not computed.
    """

    def __init__(self, nobs: np.ndarray, rank: np.ndarray,
                 cond: np.ndarray | None = None) -> None:
        self._nobs, self._rank, self._cond = nobs, rank, cond

    def nobs(self) -> np.ndarray:
        """Return the counts, shape (T, N)."""
        return self._nobs

    def rank(self) -> np.ndarray:
        """Return the ranks, shape (T, N)."""
        return self._rank

    def cond(self) -> np.ndarray | None:
        """Return the condition numbers, shape (T, N), or None when not computed."""
        return self._cond


class SharedCounts:
    """Window counts and ranks of series sharing their regressors; which windows to fit together.

    Parameters
    ----------
    x_valid : ndarray of bool, shape (T, 1)
        Rows where every regressor is finite.
    y_finite : ndarray of bool, shape (T, N)
        Finite values of the series.
    window, min_nobs : int
        Window length and fewest valid rows for a fit, in rows.
    rank_rows : ndarray of int32, shape (T,)
        Receives, from the shared fit, the rank of the regressors' window at each row.
    cond_rows : ndarray of shape (T,), optional
        Receives the condition number of the regressors' window at each row (None: not
        computed).

    Attributes
    ----------
    cols : ndarray of int, shape (m,)
        Series with a missing value on some row where the regressors are valid.
    own : ndarray of bool, shape (T, m)
        Windows of those series that have a missing value and enough rows: they need their
        own sums, and are left out of the shared pass (:meth:`masks`).
    nobs_cols : ndarray of int, shape (T, m)
        Counts of those series.
    own_rank : ndarray of int32, shape (T, m)
        Rank of the :attr:`own` windows; written by their fits.
    own_cond : ndarray of shape (T, m) or None
        Condition number of the :attr:`own` windows (with ``cond_rows``); written by their
        fits.
    """

    def __init__(self, x_valid: np.ndarray, y_finite: np.ndarray, window: int,
                 min_nobs: int, rank_rows: np.ndarray,
                 cond_rows: np.ndarray | None = None) -> None:
        n_rows, self.n_series = y_finite.shape
        self.nx = window_count(x_valid, window)
        self.min_nobs = min_nobs
        self.started = (np.arange(n_rows) >= window - 1)[:, None]
        cols = np.flatnonzero(~y_finite.all(axis=0)) if x_valid.all() else np.arange(
            self.n_series)
        miss = x_valid & ~y_finite[:, cols]
        some = np.asarray(miss.any(axis=0))
        self.cols = cols[some]
        missing = window_count(miss[:, some], window)
        self.nobs_cols = self.nx - missing
        self.own = self.started & (self.nobs_cols >= min_nobs) & (missing > 0)
        self.rank_rows = rank_rows
        self.own_rank = np.zeros(self.own.shape, dtype=np.int32)
        self.cond_rows = cond_rows
        self.own_cond = None if cond_rows is None else np.full(self.own.shape, np.nan)

    def masks(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        """Return which windows of rows ``start:stop`` the shared pass fits, and blanks.

        Returns
        -------
        fit : ndarray of bool, shape (stop - start, N)
            Windows that are complete, have at least ``min_nobs`` valid rows, and are not in
            :attr:`own`.
        blank : ndarray of bool, shape (stop - start, N)
            Windows not fitted at all (neither ``fit`` nor :attr:`own`): NaN.
        """
        fit = np.empty((stop - start, self.n_series), dtype=bool)
        fit[...] = (self.nx[start:stop] >= self.min_nobs) & self.started[start:stop]
        blank = ~fit
        if self.cols.size:
            own = self.own[start:stop]
            fit[:, self.cols] = ((self.nobs_cols[start:stop] >= self.min_nobs)
                                 & self.started[start:stop] & ~own)
            blank[:, self.cols] = ~(fit[:, self.cols] | own)
        return fit, blank

    def nobs_rows(self, start: int, stop: int) -> np.ndarray:
        """Return the counts of rows ``start:stop``, shape (stop - start, N)."""
        out = np.empty((stop - start, self.n_series), dtype=count_dtype(self.nx.shape[0]))
        out[...] = self.nx[start:stop]
        if self.cols.size:
            out[:, self.cols] = self.nobs_cols[start:stop]
        return out

    def nobs(self) -> np.ndarray:
        """Return the counts of valid rows of every window, fitted or not, shape (T, N)."""
        return self.nobs_rows(0, self.nx.shape[0])

    def rank(self) -> np.ndarray:
        """Return the rank of every window, 0 where not fitted, shape (T, N)."""
        n_rows = self.nx.shape[0]
        out = np.zeros((n_rows, self.n_series), dtype=np.int32)
        np.copyto(out, self.rank_rows[:, None], where=self.masks(0, n_rows)[0])
        if self.cols.size:
            out[:, self.cols] += np.where(self.own, self.own_rank, 0)
        return out

    def cond(self) -> np.ndarray | None:
        """Return the condition number of every fitted window, shape (T, N), or None.

        NaN where not fitted; None when condition numbers were not computed.
        """
        if self.cond_rows is None or self.own_cond is None:
            return None
        n_rows = self.nx.shape[0]
        out = np.full((n_rows, self.n_series), np.nan)
        np.copyto(out, self.cond_rows[:, None], where=self.masks(0, n_rows)[0])
        if self.cols.size:
            out[:, self.cols] = np.where(self.own, self.own_cond, out[:, self.cols])
        return out
