"""Solves of the normal equations of :func:`coinfactor.rolling.rolling_ols`, batched.

:func:`invert_moments` turns every window's ``Z'Z`` into its (pseudo-)inverse and rank, and
:func:`solve_chunk` gives the coefficients and fit statistics of a chunk of windows from it.
Below them, a batched pseudo-inverse of small symmetric positive semi-definite matrices
(:func:`sym_pinv_lastaxis`), to solve the normal equations of every window at once. The
matrices are stacked on the *last* axis, ``(k, k, B)``, so that every step of the
factorisation is one vector operation over the whole stack (about twice as fast as LAPACK
called matrix by matrix for ``k`` around 10). The correlation-scaled matrices are inverted
through their Cholesky factors; a matrix in which some column's variance is explained by the
others up to a share ``1 - tol`` (variance inflation factor above ``1 / tol``) is *rank
deficient* and gets the Moore-Penrose pseudo-inverse from its eigendecomposition instead, so
that ``G @ b`` is the minimum-norm least-squares solution. Every matrix of a stack is computed
on its own: results do not depend on how matrices are batched.
"""

from __future__ import annotations

import numpy as np


def sym_pinv_lastaxis(s: np.ndarray, tol: float) -> tuple[np.ndarray, np.ndarray]:
    """Pseudo-inverse and numerical rank of symmetric PSD matrices stacked on the last axis.

    Parameters
    ----------
    s : ndarray of shape (k, k, B)
        Symmetric positive semi-definite matrices; the lower triangle is read.
    tol : float
        Rank tolerance. The matrix is scaled to unit diagonal (a correlation matrix); it is
        treated as full rank when, for every column, the share of its variance not explained
        by the other columns (``1 / VIF``, from the diagonal of the inverse) exceeds ``tol``.
        Otherwise the eigenvalues of the unscaled matrix below ``tol * max(eigenvalue)`` are
        treated as zero.

    Returns
    -------
    g : ndarray of shape (k, k, B)
        Inverse or pseudo-inverse; NaN where ``s`` is not finite.
    rank : ndarray of int32, shape (B,)
        Numerical rank; 0 where ``s`` is not finite.
    """
    k, n = s.shape[0], s.shape[-1]
    finite = np.isfinite(s).all(axis=(0, 1))
    if not finite.all():
        s = np.where(finite, s, 0.0)
    diag = np.einsum("iib->ib", s)
    pos = diag > 0
    d = np.where(pos, 1.0 / np.sqrt(np.where(pos, diag, 1.0)), 0.0)       # (k, B)
    dd = d[:, None, :] * d[None, :, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        g, pivots = spd_inverse_lastaxis(s * dd)
        # a pivot at most tol (a column's variance left after regressing it on the previous
        # columns) means a variance inflation factor of at least 1 / tol; non-positive
        # pivots (NaN) mark matrices that are not positive definite
        deficient = ~(pos.all(axis=0) & (pivots > tol).all(axis=0))
        # diag of the inverse correlation matrix = 1 / (1 - R² of a column on the others)
        vif = np.einsum("iib->ib", g)
        deficient |= ~((vif > 0.0) & (vif * tol < 1.0)).all(axis=0)
        g *= dd
    rank = np.full(n, k, dtype=np.int32)
    deficient &= finite
    if deficient.any():
        w, v = np.linalg.eigh(np.moveaxis(s[..., deficient], -1, 0))
        top = w[..., -1:]
        keep = (w > tol * top) & (top > 0)
        inv_w = np.where(keep, 1.0 / np.where(keep, w, 1.0), 0.0)
        g[..., deficient] = np.einsum("bik,bk,bjk->ijb", v, inv_w, v)
        rank[deficient] = keep.sum(axis=-1)
    if not finite.all():
        g[..., ~finite] = np.nan
        rank[~finite] = 0
    return g, rank


def spd_inverse_lastaxis(s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of symmetric positive definite matrices stacked on the last axis, by Cholesky.

    Parameters
    ----------
    s : ndarray of shape (k, k, B)
        Symmetric positive definite matrices; the lower triangle is read.

    Returns
    -------
    g : ndarray of shape (k, k, B)
        ``inv(s)``, symmetric; meaningless (NaN or inf) where a pivot is not positive.
    pivots : ndarray of shape (k, B)
        Cholesky pivots, ``L[j, j] ** 2``: the variance of column ``j`` left after regressing
        it on the previous columns (for a correlation matrix); NaN once a previous pivot was
        not positive.

    Notes
    -----
    ``s = L L'`` column by column, ``M = inv(L)`` by forward substitution, and
    ``inv(s) = M' M``: each step is a vector operation across the stack. Callers check the
    pivots (and silence floating-point warnings) where matrices may be singular.
    """
    k = s.shape[0]
    low = np.zeros_like(s)
    pivots = np.empty(s.shape[1:])
    for j in range(k):
        row = low[j, :j]
        pivots[j] = s[j, j] - np.einsum("ib,ib->b", row, row)
        low[j, j] = root = np.sqrt(pivots[j])
        if j + 1 < k:
            low[j + 1 :, j] = (s[j + 1 :, j] - np.einsum("rib,ib->rb", low[j + 1 :, :j], row)) \
                / root
    m = np.zeros_like(low)                                  # inv(L), lower triangular
    for i in range(k):
        inv_d = 1.0 / low[i, i]
        m[i, i] = inv_d
        if i:
            m[i, :i] = np.einsum("jb,jcb->cb", low[i, :i], m[:i, :i]) * -inv_d
    g = np.empty_like(m)
    for a in range(k):    # row a of M'M: sum over i >= a of M[i, a] M[i, :]
        np.einsum("ib,icb->cb", m[a:, a], m[a:], out=g[a])
    return g, pivots


def invert_moments(packed: np.ndarray, unpack: np.ndarray, *, add_constant: bool,
                   rank_tol: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(Pseudo-)inverse of window ``Z'Z`` from its packed upper triangle, windows on the last axis.

    ``packed`` (P, W) holds the upper triangle of each of ``W`` windows' ``Z'Z`` (``unpack``
    (p, p) gives the row of each entry); returns the inverse (p, p, W), its rank and the
    window's row count (W,). With a constant, the slopes' block is inverted centred (rank
    deficiency is judged on the centred regressors) and the full inverse is rebuilt from it,
    so that ``G @ Z'y`` gives the constant and the minimum-norm slopes.
    """
    tol = rank_tol
    if not add_constant:
        g, rk = sym_pinv_lastaxis(packed[unpack], tol)
        return g, rk, np.empty(packed.shape[1:])
    inner = unpack[1:, 1:]
    with np.errstate(divide="ignore", invalid="ignore"):
        n = packed[unpack[0, 0]]
        s_x = packed[unpack[0, 1:]]                          # (k, W)
        xbar = s_x / n
        raw = packed[inner]                                  # (k, k, W)
        sxx = raw - s_x[:, None, :] * xbar[None, :, :]
        # a regressor constant over the window leaves only rounding after centring
        diag = np.einsum("iiw->iw", sxx)
        flat = diag <= tol * np.einsum("iiw->iw", raw)
        if flat.any():
            sxx[flat[:, None, :] | flat[None, :, :]] = 0.0
        g_x, rk = sym_pinv_lastaxis(sxx, tol)
        p = unpack.shape[0]
        g = np.empty((p, p, packed.shape[1]))
        g[1:, 1:] = g_x
        gx = np.einsum("ijw,jw->iw", g_x, xbar) * -1.0
        g[1:, 0] = gx
        g[0, 1:] = gx
        g[0, 0] = 1.0 / n - np.einsum("iw,iw->w", xbar, gx)
    return g, rk + 1, n


def solve_chunk(g: np.ndarray, n: np.ndarray, s_zy: np.ndarray, s_yy: np.ndarray,
                 mean_sq: np.ndarray | None, sx: np.ndarray, sy: np.ndarray,
                 add_constant: bool, params: np.ndarray, rsq: np.ndarray, ssr: np.ndarray,
                 sel: np.ndarray, blank: np.ndarray | None) -> None:
    """Coefficients and fit statistics of one chunk from window sums of the shifted data.

    ``g`` (L, B, p, p) inverse of ``Z'Z``, ``n`` (L, B) its row count,
    ``s_zy`` (L, N, p), ``s_yy`` (L, N), ``mean_sq`` (L, N) the ``n * mean(y)**2`` term of a
    centred R² without an added constant (else None); writes ``params`` (L, N, p), ``rsq``,
    ``ssr`` (L, N); NaN in ``blank`` cells (None: all outside ``sel``).
    """
    const = add_constant
    with np.errstate(divide="ignore", invalid="ignore"):
        if g.shape[1] == 1:
            np.matmul(s_zy, g[:, 0], out=params)       # g is symmetric
        else:
            np.einsum("...ij,...j->...i", g, s_zy, out=params)
        fitted = np.einsum("...i,...i->...", params, s_zy)
        if const:
            s_y = s_zy[..., 0]
            mean_sq = s_y * s_y / np.broadcast_to(n, s_y.shape)
            if not sx.any():
                params[..., 0] += sy
            elif sx.shape[0] == 1:
                params[..., 0] += sy - params[..., 1:] @ sx[0]
            else:
                params[..., 0] += sy - np.einsum("...i,...i->...", params[..., 1:], sx)
        if mean_sq is None:
            tss, explained = s_yy, fitted
        else:
            tss, explained = s_yy - mean_sq, fitted - mean_sq
        np.divide(explained, tss, out=rsq)
        np.maximum(np.subtract(tss, explained, out=ssr), 0.0, out=ssr)
        flat = tss <= 0.0      # (a NaN total already gives a NaN R²)
        if flat.any():
            rsq[flat] = np.nan
    if not sel.all():
        off = ~sel if blank is None else blank
        params[off] = np.nan
        rsq[off] = np.nan
        ssr[off] = np.nan
