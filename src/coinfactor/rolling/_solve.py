"""Batched pseudo-inverse of small symmetric positive semi-definite matrices.

Used by :func:`coinfactor.rolling.rolling_ols` to solve the normal equations of every window
at once. Full-rank matrices go through a vectorised Cholesky factorisation of the
correlation-scaled matrix; a matrix whose Cholesky pivot falls below ``tol`` is *rank
deficient* and gets the Moore-Penrose pseudo-inverse from its eigendecomposition instead, so
that ``G @ b`` is the minimum-norm least-squares solution.
"""

from __future__ import annotations

import numpy as np


def sym_pinv(s: np.ndarray, tol: float) -> tuple[np.ndarray, np.ndarray]:
    """Pseudo-inverse and numerical rank of a stack of symmetric PSD matrices.

    Parameters
    ----------
    s : ndarray of shape (..., k, k)
        Symmetric positive semi-definite matrices (cross-product matrices ``X'X``).
    tol : float
        Rank tolerance. The matrix is scaled to unit diagonal (a correlation matrix); it is
        treated as full rank when every Cholesky pivot (the share of a column's variance not
        explained by the columns before it) exceeds ``tol``. Otherwise the eigenvalues of the
        unscaled matrix below ``tol * max(eigenvalue)`` are treated as zero.

    Returns
    -------
    g : ndarray of shape (..., k, k)
        Inverse (full rank) or pseudo-inverse (rank deficient); NaN where ``s`` is not finite.
    rank : ndarray of int32, shape (...)
        Numerical rank; 0 where ``s`` is not finite.
    """
    k = s.shape[-1]
    batch = s.shape[:-2]
    finite = np.isfinite(s).all(axis=(-2, -1))
    s = np.where(finite[..., None, None], s, 0.0)
    diag = np.diagonal(s, axis1=-2, axis2=-1)
    pos = diag > 0
    d = np.where(pos, 1.0 / np.sqrt(np.where(pos, diag, 1.0)), 0.0)
    c = s * d[..., :, None] * d[..., None, :]
    deficient = ~pos.all(axis=-1)
    lo = np.zeros_like(c)
    for j in range(k):
        row = lo[..., j, :j]
        piv = c[..., j, j] - np.einsum("...i,...i->...", row, row)
        bad = ~(piv > tol)
        deficient |= bad
        root = np.sqrt(np.where(bad, 1.0, piv))
        lo[..., j, j] = root
        if j + 1 < k:
            below = c[..., j + 1 :, j] - (lo[..., j + 1 :, :j] @ row[..., :, None])[..., 0]
            lo[..., j + 1 :, j] = below / root[..., None]
    inv_lo = np.zeros_like(c)
    for j in range(k):
        acc = -(lo[..., j : j + 1, :j] @ inv_lo[..., :j, :])[..., 0, :]
        acc[..., j] += 1.0
        inv_lo[..., j, :] = acc / lo[..., j, j, None]
    g = np.swapaxes(inv_lo, -1, -2) @ inv_lo
    g *= d[..., :, None] * d[..., None, :]
    rank = np.full(batch, k, dtype=np.int32)
    deficient &= finite
    if deficient.any():
        w, v = np.linalg.eigh(s[deficient])
        top = w[..., -1:]
        keep = (w > tol * top) & (top > 0)
        inv_w = np.where(keep, 1.0 / np.where(keep, w, 1.0), 0.0)
        g[deficient] = (v * inv_w[..., None, :]) @ np.swapaxes(v, -1, -2)
        rank[deficient] = keep.sum(axis=-1)
    g[~finite] = np.nan
    rank[~finite] = 0
    return g, rank
