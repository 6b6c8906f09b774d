"""The per-cell solves of :func:`coinfactor.rolling.rolling_ols`, compiled by numba.

:func:`solve_cells` does for a piece of rows what :func:`coinfactor.rolling._solve.solve_chunk`
(its plain NumPy reference, which the tests hold it equal to bit for bit) does: per cell
(row ``l``, series ``n``), with ``G`` the window's (pseudo-)inverse of ``Z'Z`` and ``s`` its
``Z'y``::

    b       = G s                    (b_i = G_i0 s_0 + G_i1 s_1 + ..., added in that order)
    fitted  = b . s                  (b_0 s_0 + b_1 s_1 + ..., in order)
    b      -= E b                    (rank-deficient windows: the minimum-norm correction)
    b_0    += sy - b[1:] . sx        (the constant back from the shifted data; += sy unshifted)
    tss     = s_yy - m,  explained = fitted - m,   m = s_0² / n (with a constant)
    R²      = explained / tss (NaN when tss <= 0),  SSR = max(tss - explained, 0)

with each product rounded before it is added (no fused multiply-add), so a cell's bits do
not depend on how many cells are solved together. The kernel keeps the cells of a row in
registers and lays the series on the innermost loop (vectorised across series), where the
reference makes one pass over its arrays per term; the cells outside ``sel`` are not solved
and get NaN.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _row_matvec(a: np.ndarray, t: int, v: np.ndarray,
                out: np.ndarray) -> None:  # pragma: no cover - compiled
    """``out[i, j] = a[t, j', i, 0] v[0, j] + a[t, j', i, 1] v[1, j] + ...``, in that order.

    ``a`` (L, B, p, p), ``v`` and ``out`` (p, N); ``j'`` is ``j`` when ``B > 1``, else 0.
    """
    p, n_series = v.shape
    n_x = a.shape[1]
    for i in range(p):
        for j in range(n_series):
            bj = j if n_x > 1 else 0
            out[i, j] = a[t, bj, i, 0] * v[0, j]
        for m in range(1, p):
            for j in range(n_series):
                bj = j if n_x > 1 else 0
                out[i, j] += a[t, bj, i, m] * v[m, j]


@numba.njit(cache=True, nogil=True, error_model="numpy")
def solve_cells(g: np.ndarray, n: np.ndarray, s_zy: np.ndarray, s_yy: np.ndarray,
                mean_sq: np.ndarray, has_mean_sq: bool, sx: np.ndarray, sy: np.ndarray,
                add_constant: bool, shifted: bool, e: np.ndarray, e_where: np.ndarray,
                has_fix: bool, sel: np.ndarray, params: np.ndarray, rsq: np.ndarray,
                ssr: np.ndarray) -> None:  # pragma: no cover - compiled
    """Solve the cells of ``L`` rows and ``N`` series (see the module docstring).

    Parameters
    ----------
    g : ndarray of shape (L, B, p, p)
        Inverse of each window's ``Z'Z`` (``B`` is 1, shared by the series, or ``N``).
    n : ndarray of shape (L, B)
        Rows of each window (read with a constant).
    s_zy : ndarray of shape (L, N, p)
        ``Z'y`` of each cell, shifted data.
    s_yy : ndarray of shape (L, N)
        ``y'y`` of each cell.
    mean_sq : ndarray of shape (L, N)
        ``n mean(y)²`` of a centred R² without an added constant; read if ``has_mean_sq``.
    sx : ndarray of shape (S, p - 1)
        Regressor shifts (``S`` is 1 or ``N``); read if ``add_constant`` and ``shifted``.
    sy : ndarray of shape (N,)
        Series shifts.
    e : ndarray of shape (L, B, p, p)
        Corrections ``E`` of rank-deficient windows, where ``e_where`` (L, B); read if
        ``has_fix``.
    sel : ndarray of bool, shape (L, N)
        Cells to solve; the others get NaN.
    params, rsq, ssr : ndarray of shape (L, N, p), (L, N), (L, N)
        Outputs.
    """
    n_rows, n_series, p = s_zy.shape
    n_x = g.shape[1]
    n_sx = sx.shape[0]
    s = np.empty((p, n_series))      # Z'y of the row, series innermost
    b = np.empty((p, n_series))
    c = np.empty((p, n_series))
    fitted = np.empty(n_series)
    nan = np.nan
    for t in range(n_rows):
        for j in range(n_series):
            for i in range(p):
                s[i, j] = s_zy[t, j, i]
        _row_matvec(g, t, s, b)
        for j in range(n_series):
            fitted[j] = b[0, j] * s[0, j]
        for i in range(1, p):
            for j in range(n_series):
                fitted[j] += b[i, j] * s[i, j]
        if has_fix and (n_x > 1 or e_where[t, 0]):
            _row_matvec(e, t, b, c)
            for i in range(p):
                for j in range(n_series):
                    bj = j if n_x > 1 else 0
                    if e_where[t, bj]:
                        b[i, j] -= c[i, j]
        for j in range(n_series):
            if not sel[t, j]:
                for i in range(p):
                    params[t, j, i] = nan
                rsq[t, j] = nan
                ssr[t, j] = nan
                continue
            tss = s_yy[t, j]
            explained = fitted[j]
            if add_constant:
                bj = j if n_x > 1 else 0
                m_sq = s[0, j] * s[0, j] / n[t, bj]
                if shifted:
                    sj = j if n_sx > 1 else 0
                    d = b[1, j] * sx[sj, 0]
                    for i in range(2, p):
                        d += b[i, j] * sx[sj, i - 1]
                    b[0, j] += sy[j] - d
                else:
                    b[0, j] += sy[j]
                tss = tss - m_sq
                explained = explained - m_sq
            elif has_mean_sq:
                tss = tss - mean_sq[t, j]
                explained = explained - mean_sq[t, j]
            for i in range(p):
                params[t, j, i] = b[i, j]
            rsq[t, j] = explained / tss if tss > 0.0 or tss != tss else nan
            rest = tss - explained
            ssr[t, j] = rest if rest > 0.0 or rest != rest else 0.0
