"""Plain per-window least squares: the readable reference of :func:`rolling_ols`.

:func:`rolling_ols_reference` fits every window of every series on its own, with the rank rule
of :func:`coinfactor.rolling.rolling_ols` written out step by step, in a Python loop over
windows (in the manner of arch's ``recursions_python.py`` beside its compiled recursions). It
is slow (one small ``numpy.linalg`` call per window and series) and exists to be read and to
check the fast kernel against: the two agree to rounding (the fast kernel solves from window
sums of cross products, this one from the window's rows).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from coinfactor.core.errors import ConfigError, DataError
from coinfactor.rolling._counts import DenseCounts
from coinfactor.rolling._result import RollingOLSResult
from coinfactor.rolling._solve import DEFAULT_RANK_TOL, FLAT_TOL


def rolling_ols_reference(
    y: Any,
    X: Any,
    window: int,
    *,
    min_nobs: int | None = None,
    add_constant: bool = True,
    rank_tol: float = DEFAULT_RANK_TOL,
) -> RollingOLSResult:
    """Fit rolling OLS window by window, series by series (slow, readable reference).

    Same inputs, rules and result as :func:`coinfactor.rolling.rolling_ols`, which see.

    Parameters
    ----------
    y : array_like of shape (T,) or (T, N)
        Dependent series, NaN (or inf) for missing.
    X : array_like of shape (T, k) or (T, N, k)
        Regressors shared by all series, or one set per series (then ``y`` is ``(T, N)``).
    window : int
        Window length in rows (>= 1); row ``t`` is fitted on rows ``t - window + 1 .. t``.
    min_nobs : int, optional
        Fewest valid rows in a window for a fit; default the number of coefficients ``p``.
    add_constant : bool, default True
        Prepend a constant (intercept) column.
    rank_tol : float, default 1e-4
        Relative rank tolerance in (0, 1) (see Notes).

    Returns
    -------
    RollingOLSResult
        ``params`` (T, N, p), ``rsquared`` (T, N), ``ssr`` (T, N; squared units of ``y``),
        ``nobs`` and ``rank`` (T, N; int32), ``condition_number`` (T, N; always computed
        here), and the derived ``rsquared_adj`` and ``resid_std`` (units of ``y``); without
        the ``N`` axis for ``y`` of shape ``(T,)``.

    Raises
    ------
    DataError
        On arrays of the wrong dimension or mismatched lengths.
    ConfigError
        On a bad ``window`` or ``min_nobs``.

    Notes
    -----
    In each window, rows with a missing ``y`` or regressor are dropped (statsmodels'
    ``missing="drop"``). With ``nobs`` valid rows, the window is fitted when it is complete
    (``t >= window - 1``) and ``nobs >= min_nobs``; otherwise its cells are NaN, rank 0.

    The rank rule, on the window's regressors ``A`` (n, k), centred on the window's means
    when a constant is added, raw otherwise:

    1. with a constant, a regressor whose centred sum of squares is at most ``1e-10`` times
       its raw one is constant in the window: its column of ``A`` is zeroed (slope 0);
    2. ``A`` is standardised, ``As = A / std`` (column norms 1; a zero column stays zero),
       and ``C = As' As`` is eigendecomposed, ``C = V diag(w) V'``; eigenvalues at most
       ``rank_tol * max(w)`` are dropped, and the condition number is ``max(w) / min(w)``
       (inf when ``min(w) <= 0``);
    3. with none dropped, the slopes solve ``A'A b = A'y`` (``np.linalg.solve``);
    4. otherwise the design is replaced by its kept directions, ``A_K = As V_K V_K' *
       std``, a matrix of rank ``len(K)``, and the slopes are its minimum-norm least-squares
       solution (from its singular value decomposition, the ``len(K)`` largest singular
       values kept); the rank is ``len(K)``, and R² is that of the fit on ``A_K``.

    With a constant, the constant is ``mean(y) - mean(x) b`` and counts 1 in the rank.
    R² is ``1 - SSR / TSS``, ``TSS`` centred when the model has a constant (added, or a
    column of ``X`` that is one non-zero value on every valid row), else ``y'y``; NaN when
    ``TSS <= 0``.
    """
    y_arr = np.asarray(y, dtype=np.float64)
    x_arr = np.asarray(X, dtype=np.float64)
    single = y_arr.ndim == 1
    y2 = y_arr[:, None] if single else y_arr
    if y2.ndim != 2 or x_arr.ndim not in (2, 3) or (x_arr.ndim == 3 and single):
        raise DataError(f"rolling_ols_reference: expected y (T,) or (T, N) and X (T, k) or "
                        f"(T, N, k), got y {y_arr.shape} and X {x_arr.shape}")
    n_rows, n_series = y2.shape
    # one (T, N, k) regressor array, a view when X is shared
    x3 = (np.broadcast_to(x_arr[:, None, :], (n_rows, n_series, x_arr.shape[-1]))
          if x_arr.ndim == 2 else x_arr)
    if x3.shape[:2] != (n_rows, n_series):
        raise DataError(f"rolling_ols_reference: X {x_arr.shape} does not match y "
                        f"{y_arr.shape}")
    k = x3.shape[2]
    p = k + int(add_constant)
    min_nobs = p if min_nobs is None else int(min_nobs)
    if not 1 <= window or not p <= min_nobs <= window:
        raise ConfigError(f"rolling_ols_reference: need window >= 1 and p ({p}) <= min_nobs "
                          f"<= window, got window {window!r}, min_nobs {min_nobs!r}")

    valid = np.isfinite(y2) & np.isfinite(x3).all(axis=2)          # (T, N)
    has_constant = add_constant or _has_constant_column(x3, np.asarray(np.isfinite(x3).all(axis=2)))
    params = np.full((n_rows, n_series, p), np.nan)
    rsquared = np.full((n_rows, n_series), np.nan)
    ssr = np.full((n_rows, n_series), np.nan)
    nobs = np.zeros((n_rows, n_series), dtype=np.int32)
    rank = np.zeros((n_rows, n_series), dtype=np.int32)
    cond = np.full((n_rows, n_series), np.nan)
    for t in range(n_rows):
        lo = max(0, t - window + 1)
        for j in range(n_series):
            ok = valid[lo : t + 1, j]
            nobs[t, j] = ok.sum()
            if t < window - 1 or nobs[t, j] < min_nobs:
                continue
            ys, xs = y2[lo : t + 1, j][ok], x3[lo : t + 1, j][ok]
            params[t, j], rank[t, j], cond[t, j], ssr[t, j] = _window_fit(
                ys, xs, add_constant, rank_tol)
            tss = np.sum((ys - ys.mean()) ** 2) if has_constant else ys @ ys
            rsquared[t, j] = 1.0 - ssr[t, j] / tss if tss > 0 else np.nan

    def shape(a: np.ndarray) -> np.ndarray:
        return a[:, 0] if single else a

    return RollingOLSResult(
        params=shape(params), rsquared=shape(rsquared), ssr=shape(ssr),
        counts=DenseCounts(nobs, rank, cond), single=single, window=int(window), min_nobs=min_nobs,
        add_constant=add_constant, has_constant=has_constant,
    )


def _window_fit(ys: np.ndarray, xs: np.ndarray, add_constant: bool,
                rank_tol: float) -> tuple[np.ndarray, int, float, float]:
    """Fit one window: coefficients (p,), rank, condition number and SSR.

    The regression of ``ys`` (n,) on ``xs`` (n, k).
    """
    if not add_constant:
        slopes, rank, cond, resid = _solve(xs, ys, rank_tol)
        return slopes, rank, cond, float(resid @ resid)
    xbar, ybar = xs.mean(axis=0), ys.mean()
    a, yc = xs - xbar, ys - ybar
    flat = (a * a).sum(axis=0) <= FLAT_TOL * (xs * xs).sum(axis=0)    # constant here
    a[:, flat] = 0.0
    slopes, rank, cond, resid = _solve(a, yc, rank_tol)
    return (np.concatenate([[ybar - xbar @ slopes], slopes]), rank + 1, cond,
            float(resid @ resid))


def _solve(a: np.ndarray, y: np.ndarray, rank_tol: float) -> tuple[np.ndarray, int, float,
                                                                        np.ndarray]:
    """Least squares of ``y`` (n,) on ``a`` (n, m): slopes, rank, condition number, residuals.

    Exactly at full rank, else minimum-norm on the design's kept directions (see Notes).
    """
    m = a.shape[1]
    std = np.sqrt((a * a).sum(axis=0))
    a_std = a / np.where(std > 0, std, 1.0)            # a zero column stays zero
    w, v = np.linalg.eigh(a_std.T @ a_std)             # ascending
    keep = (w > rank_tol * w[-1]) & (w[-1] > 0)
    cond = float(w[-1] / w[0]) if w[0] > 0 else np.inf
    if keep.all():
        b = np.linalg.solve(a.T @ a, a.T @ y)
        return b, m, cond, y - a @ b
    r = int(keep.sum())
    a_kept = (a_std @ v[:, keep] @ v[:, keep].T) * std          # rank r
    u, sv, vt = np.linalg.svd(a_kept, full_matrices=False)      # descending
    b = vt[:r].T @ ((u[:, :r].T @ y) / sv[:r])
    return b, r, cond, y - a_kept @ b


def _has_constant_column(x3: np.ndarray, valid: np.ndarray) -> bool:
    """Whether a regressor is one non-zero value on every valid row (statsmodels' test)."""
    for j in range(x3.shape[2]):
        vals = x3[..., j][valid]
        if vals.size and vals[0] != 0 and (vals == vals[0]).all():
            return True
    return False
