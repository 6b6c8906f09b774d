"""Rolling ordinary least squares for many series in one call.

Every window's regression is solved from window sums of cross products (``X'X``, ``X'y``,
``y'y``), built from blocked prefix sums (see :mod:`coinfactor.rolling._sums`), so the cost is
linear in the number of rows and does not depend on the window length, and the result at the
end of a very long series is as exact as at its start.

The modules behind it, one concept each: :mod:`~coinfactor.rolling._levels` (shifts of
price-like columns), :mod:`~coinfactor.rolling._fit` (the pass over rows: chunks, pieces,
threads, outputs), :mod:`~coinfactor.rolling._solve` (batched inverses and the solves of the
normal equations), :mod:`~coinfactor.rolling._solve_kernel` (the per-cell solves, compiled),
:mod:`~coinfactor.rolling._counts` (window counts and ranks), :mod:`~coinfactor.rolling._sums`
(drift-free window sums), :mod:`~coinfactor.rolling._pages` (background page allocation).
The plain per-window reference is :func:`coinfactor.rolling.rolling_ols_reference`
(:mod:`~coinfactor.rolling._ols_reference`).
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable
from typing import Any

import numpy as np

from coinfactor.core.errors import ConfigError, DataError
from coinfactor.rolling._counts import DenseCounts, SharedCounts
from coinfactor.rolling._fit import Outputs, Plan, Settings, fit_parallel, fit_rows
from coinfactor.rolling._levels import has_constant_column, shifts
from coinfactor.rolling._pages import PageFiller
from coinfactor.rolling._result import RollingOLSResult
from coinfactor.rolling._solve import DEFAULT_RANK_TOL
from coinfactor.rolling._sums import window_count


def rolling_ols(
    y: Any,
    X: Any,
    window: int,
    *,
    min_nobs: int | None = None,
    add_constant: bool = True,
    rank_tol: float = DEFAULT_RANK_TOL,
    condition_number: bool = False,
    n_threads: int | None = None,
    level_shifts: tuple[np.ndarray, np.ndarray] | None = None,
) -> RollingOLSResult:
    """Fit rolling OLS of one or many series on shared or per-series regressors.

    Row ``t`` is fitted on rows ``t - window + 1 .. t`` (the first ``window - 1`` rows are not
    fitted), dropping rows where ``y`` or any regressor of that row is missing (NaN or inf),
    exactly as statsmodels ``RollingOLS(..., missing="drop")``.

    Parameters
    ----------
    y : array_like of shape (T,) or (T, N)
        Dependent series (e.g. returns of N coins), NaN for missing.
    X : array_like of shape (T, k) or (T, N, k)
        Regressors shared by all series, or one set per series (e.g. a leave-one-out market).
        ``(T, N, k)`` needs ``y`` of shape ``(T, N)``.
    window : int
        Window length in rows (>= 1).
    min_nobs : int, optional
        Fewest valid rows in a window for a fit; default the number of coefficients ``p``.
        Must satisfy ``p <= min_nobs <= window``.
    add_constant : bool, default True
        Prepend a constant (intercept) column.
    rank_tol : float, default 1e-4
        Relative rank tolerance in (0, 1): a window is rank deficient when the reciprocal
        condition number of its regressors' correlation matrix is at most ``rank_tol``
        (eigenvalues at most ``rank_tol`` times the largest are dropped); see Notes.
    condition_number : bool, default False
        Also compute the condition number of every window (``result.condition_number``). It
        costs one symmetric eigenvalue solve per window (with shared ``X``, per row), several
        times the cost of the regressor side of the fit, so it is off by default; the rank
        rule does not need it.
    n_threads : int, optional
        Threads working on consecutive stretches of rows (default: the number of CPUs). The
        result does not depend on it.
    level_shifts : (ndarray, ndarray), optional
        The level shifts to use (see Notes), ``(sx, sy)`` of shapes ``(1, k)`` (shared
        ``X``) or ``(N, k)``, and ``(N,)``, instead of those read from these rows: a caller
        fitting a long series in time blocks passes the shifts of the whole series
        (:class:`coinfactor.rolling.LevelParts`), so each block's fit equals the
        whole-series fit bit for bit (blocks starting on a multiple of ``window`` rows and
        one window early; see :func:`coinfactor.rolling.aligned_start`).

    Returns
    -------
    RollingOLSResult
        ``params``, ``rsquared``, ``rsquared_adj``, ``resid_std``, ``nobs``, ``rank`` and,
        when asked for, ``condition_number``.

    Raises
    ------
    DataError
        On arrays of the wrong dimension or mismatched lengths.
    ConfigError
        On a bad ``window``, ``min_nobs``, ``rank_tol`` or ``n_threads``.

    Notes
    -----
    Window sums of cross products come from prefix sums that restart every ``window`` rows, so
    each is a sum of at most ``2 * window`` terms: no drift along the series. A column whose
    level dominates its variation over the first window (``|mean| > std``; e.g. prices, not
    returns) is first shifted by its first valid observation, which removes the level without
    changing any fitted value (past data only: no window ends before the first one). With a
    constant, the slopes solve the centred normal equations ``Sxx_c b = Sxy_c`` and the
    constant is ``mean(y) - mean(x) b``.

    When ``X`` is shared, ``X'X`` and its factorisation are shared by all series whose window
    has no missing ``y``; only series with missing values inside a window get their own sums,
    and only in those windows.

    *Rank deficiency* (e.g. the market factor plus all buckets of one family, which sum to it
    exactly or nearly) is judged per window on ``C``, the correlation matrix of the window's
    regressors (the centred ``X'X`` scaled to unit diagonal; without a constant, the raw
    ``X'X`` scaled so): its eigenvalues at most ``rank_tol`` times the largest are dropped,
    so the window is rank deficient when ``cond(C) = max(eig C) / min(eig C) >= 1 /
    rank_tol``. The rule does not depend on the units of the regressors. A regressor whose
    centred sum of squares in a window is at most ``1e-10`` times its uncentred one is
    constant there (e.g. an empty bucket): its row of ``C`` is zero (an eigenvalue 0) and
    its slope 0. A rank-deficient window gets the minimum-norm least-squares solution of
    the design with its dropped directions removed: with ``Xs`` the standardised
    (centred, unit-variance) regressors and ``V_K`` the kept eigenvectors of ``C``, the
    design ``X_K = Xs V_K V_K' diag(std)``; the slopes are ``pinv(X_K) y`` (the constant
    being fitted, so the norm is that of the slopes) and ``rank = 1 + len(K)``. When the
    dependency is exact (``X_K = X``), that is ``np.linalg.lstsq`` on window-demeaned data
    and R² is that of every least-squares solution; otherwise R² is that of the fit on
    ``X_K``, lower by what the dropped directions (less than ``rank_tol`` of the largest
    standardised variance) explained. The adjusted R² and residual standard error use the
    rank.

    The default ``rank_tol = 1e-4`` drops directions whose standardised variance is below
    1e-4 of the largest: a condition index ``sqrt(cond(C))`` above 100, where Belsley, Kuh
    and Welsch (*Regression Diagnostics*, 1980) place strong near-dependencies, and where a
    coefficient's standard error along that direction is more than 100 times that along the
    best-determined one. The rounding-level tolerances of least-squares solvers (numpy's
    ``lstsq``: singular values below ``max(T, k) * eps`` of the largest) catch exact
    dependencies only. On hourly Binance perpetuals (the risk_model study: market + nine
    bucket factors, 168-bar windows) the market is a combination of each family's buckets
    up to bucket sizes changing inside a window: the smallest eigenvalue of ``C`` is then
    1e-9 to 9.7e-6 of the largest (at most a tenth of the default), and a fit at full rank
    (as with ``rank_tol = 1e-8`` or below) gives betas of several hundred; the fourth
    smallest eigenvalue (there are three dependencies) is at least 9.8e-4 of the largest in
    every window (about ten times the default).

    The condition number per window is available with ``condition_number=True``. Without
    it, most full-rank windows are proven so without an eigendecomposition (a bound on
    ``cond(C)`` from the Cholesky inverse; the others are decided from their eigenvalues).

    R² is computed as explained / total sum of squares, accurate to rounding for small R²;
    for near-perfect fits the residual sum of squares loses relative precision.

    The plain reference of this kernel, with the same rules written window by window, is
    :func:`coinfactor.rolling.rolling_ols_reference`; the two agree to rounding.

    Memory: the outputs, ``8 * T * N * (p + 2)`` bytes (``params``, ``rsquared``, ``ssr``;
    with shared ``X``, ``nobs`` and ``rank`` are built on first access from per-row values),
    and per thread two blocks of window sums, ``16 * window * N * (p + 1)`` bytes, plus about
    8 MB of chunk buffers (a whole number of windows); time is linear in ``T * N * p²``. The
    memory pages of large outputs are allocated by background threads ahead of the rows being
    computed (see :mod:`coinfactor.rolling._pages`).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((500, 2))
    >>> y = 0.1 + x @ np.array([1.0, -2.0]) + 0.01 * rng.standard_normal((500,))
    >>> res = rolling_ols(y, x, window=100)
    >>> np.round(res.params[-1], 2)
    array([ 0.1,  1. , -2. ])
    """
    y_arr = np.asarray(y, dtype=np.float64)
    x_arr = np.asarray(X, dtype=np.float64)
    single = y_arr.ndim == 1
    if y_arr.ndim not in (1, 2):
        raise DataError(f"rolling_ols: expected y of shape (T,) or (T, N), got {y_arr.shape}")
    y2 = y_arr[:, None] if single else y_arr
    n_rows, n_series = y2.shape
    if x_arr.ndim == 2:
        shared = True
    elif x_arr.ndim == 3 and not single:
        shared = False
        if x_arr.shape[1] != n_series:
            raise DataError(
                f"rolling_ols: X of shape (T, N, k) must have N = {n_series} (y's columns), "
                f"got {x_arr.shape}", fix="pass X with one regressor set per column of y")
    else:
        raise DataError(
            f"rolling_ols: expected X of shape (T, k), or (T, N, k) with y of shape (T, N); "
            f"got X {x_arr.shape} and y {y_arr.shape}")
    if x_arr.shape[0] != n_rows:
        raise DataError(
            f"rolling_ols: y has {n_rows} rows but X has {x_arr.shape[0]}",
            fix="align y and X on the same time axis")
    k = x_arr.shape[-1]
    if k < 1:
        raise DataError("rolling_ols: X has no regressor columns (k = 0)")
    p = k + int(add_constant)
    if isinstance(window, bool) or not isinstance(window, int | np.integer) or window < 1:
        raise ConfigError(f"rolling_ols: window must be an integer >= 1, got {window!r}")
    window = int(window)
    min_nobs = p if min_nobs is None else min_nobs
    if isinstance(min_nobs, bool) or not isinstance(min_nobs, int | np.integer) or not (
            p <= min_nobs <= window):
        raise ConfigError(
            f"rolling_ols: min_nobs must be an integer between the number of coefficients "
            f"({p}) and the window ({window}), got {min_nobs!r}")
    min_nobs = int(min_nobs)

    threads = (os.cpu_count() or 1) if n_threads is None else n_threads
    if isinstance(threads, bool) or not isinstance(threads, int | np.integer) or threads < 1:
        raise ConfigError(f"rolling_ols: n_threads must be an integer >= 1, got {n_threads!r}")
    if isinstance(rank_tol, bool) or not isinstance(rank_tol, float | int | np.floating) or not (
            0.0 < rank_tol < 1.0):
        raise ConfigError(
            f"rolling_ols: expected rank_tol, a relative tolerance, in (0, 1), got "
            f"{rank_tol!r}; fix: keep the default {DEFAULT_RANK_TOL:g} or pass e.g. 1e-8 "
            f"to keep more nearly collinear directions")
    rank_tol = float(rank_tol)
    out = Outputs(n_rows, n_series, p, shared=shared, condition=bool(condition_number))
    plan = Plan.make(n_rows, window, n_series, 1 if shared else n_series, p, int(threads))
    # the memory pages of the outputs are allocated in the background from now on
    with PageFiller(out.arrays(), plan.stretches(), plan.step) as filler:
        finite_y = np.isfinite(y2)
        if shared:
            x3 = x_arr[:, None, :]
            vx = np.asarray(np.isfinite(x_arr).all(axis=1))[:, None]
        else:
            x3 = x_arr
            vx = np.asarray(np.isfinite(x_arr).all(axis=2))
        cell = finite_y if vx.all() else vx & finite_y
        has_const = add_constant or has_constant_column(x3, vx)
        if level_shifts is None:
            sx, sy = shifts(x3, vx, y2, cell, window, enabled=add_constant)
        else:
            sx = np.asarray(level_shifts[0], dtype=np.float64)
            sy = np.asarray(level_shifts[1], dtype=np.float64)
            if sx.shape != (x3.shape[1], k) or sy.shape != (n_series,):
                raise DataError(
                    f"rolling_ols: level_shifts must have shapes {(x3.shape[1], k)} and "
                    f"{(n_series,)}, got {sx.shape} and {sy.shape}")
        settings = Settings(window, add_constant, has_const, rank_tol, bool(condition_number))
        counts: SharedCounts | DenseCounts
        if shared:
            counts = SharedCounts(vx, finite_y, window, min_nobs, out.rank, out.cond)
            # windows with a missing y (in a few columns, typically) need their own sums,
            # fitted alongside the shared pass, which leaves their cells alone
            fit_parallel(x3, vx, y2, cell, counts.nobs_rows, sx, sy, settings, out,
                          counts.masks, plan, filler,
                          also=_own_fit(x3, cell, y2, sx, sy, settings, out, counts))
            out.write_deferred()
        else:
            nobs = window_count(cell, window)
            counts = DenseCounts(nobs, out.rank, out.cond)
            started = (np.arange(n_rows) >= window - 1)[:, None]
            enough = started & (nobs >= min_nobs)
            fit_parallel(x3, cell, y2, cell, lambda a, b: nobs[a:b], sx, sy, settings, out,
                          lambda a, b: (enough[a:b], None), plan, filler)

    def shape(a: np.ndarray) -> np.ndarray:
        return a[:, 0] if single else a

    return RollingOLSResult(
        params=shape(out.params), rsquared=shape(out.rsquared), ssr=shape(out.ssr),
        counts=counts, single=single, window=window, min_nobs=min_nobs,
        add_constant=add_constant, has_constant=has_const,
    )


def _own_fit(x3: np.ndarray, cell: np.ndarray, y2: np.ndarray, sx: np.ndarray, sy: np.ndarray,
             settings: Settings, out: Outputs,
             counts: SharedCounts) -> Callable[[], None] | None:
    """Return the fit of the windows with their own sums (:attr:`SharedCounts.own`), or None.

    It may run while the shared pass writes the other cells: it keeps its cells in
    ``out.deferred`` (see :class:`Outputs`) and writes only its ranks, to
    :attr:`SharedCounts.own_rank`.
    """
    keep = np.asarray(counts.own.any(axis=0))
    if not keep.any():
        return None
    cols, own = counts.cols[keep], counts.own[:, keep]
    # only the blocks holding such windows, from one block before (for the carry)
    busy = np.flatnonzero(own.any(axis=1))
    window = settings.window
    start = max(0, (int(busy[0]) // window - 1) * window)
    span = slice(start, int(busy[-1]) + 1)
    sub, own_span = cell[span][:, cols], own[span]
    n_own = counts.nobs_cols[span][:, keep]
    own_out = copy.copy(out)    # shares out's arrays and deferred list
    own_out.rank, own_out.rank_cols = counts.own_rank, np.flatnonzero(keep)
    own_out.cond = counts.own_cond

    def run() -> None:
        fit_rows(x3[span], sub, y2[span][:, cols], sub, lambda a, b: n_own[a:b], sx, sy[cols],
             settings, own_out, lambda a, b: (own_span[a:b], None), cols, offset=start)

    return run
