"""Solves of the normal equations of :func:`coinfactor.rolling.rolling_ols`, batched.

:func:`invert_moments` turns every window's ``Z'Z`` into its (pseudo-)inverse, rank and
corrections, and :func:`solve_chunk` gives the coefficients and fit statistics of a chunk of
windows from them: the plain NumPy reference of the compiled kernel the fit runs
(:func:`coinfactor.rolling._solve_kernel.solve_cells`, held equal to it bit for bit). Below
them, a batched pseudo-inverse of small symmetric positive semi-definite matrices
(:func:`sym_pinv_lastaxis`), to solve the normal equations of every window at once. The
matrices are stacked on the *last* axis, ``(k, k, B)``, so that every step of the
factorisation is one vector operation over the whole stack (about twice as fast as LAPACK
called matrix by matrix for ``k`` around 10).

The rank rule (one rule, scale-free): a matrix ``S`` is scaled to unit diagonal, ``C = D S D``
with ``D = diag(S)^(-1/2)`` (for centred regressors, their correlation matrix), and its
eigenvalues below ``tol`` times the largest are treated as zero; the matrix is full rank when
there are none, i.e. when its reciprocal condition number ``min(eig C) / max(eig C)`` exceeds
``tol``. Full-rank matrices are inverted through the Cholesky factors of ``C``; a cheap
bound on the condition number (Gershgorin's bound on the largest eigenvalue times the trace of
``inv(C)``, which bounds ``1 / min(eig C)``) proves most of them full rank, and only the
others are eigendecomposed. A rank-deficient matrix gets the pseudo-inverse of ``C`` truncated
to its kept eigenvalues (the least-squares fit in the kept directions), plus a correction in
the dropped directions that makes the solution the minimum-norm one at the original scale
(see :func:`sym_pinv_lastaxis`). Every matrix of a stack is computed on its own: results do
not depend on how matrices are batched.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

DEFAULT_RANK_TOL = 1e-4
"""Default rank tolerance of :func:`coinfactor.rolling.rolling_ols`: eigenvalues of the
correlation-scaled cross-product matrix below ``1e-4`` times the largest count as zero
(condition number above 1e4, a condition index of the standardised design above 100, Belsley,
Kuh & Welsch's mark of a strong near-dependency). See the Notes of ``rolling_ols``."""

FLAT_TOL = 1e-10
"""A regressor whose centred sum of squares over a window is at most ``FLAT_TOL`` times its
uncentred one is constant there (what rounding leaves of a constant after centring)."""


class PseudoInverse(NamedTuple):
    """Output of :func:`sym_pinv_lastaxis` for ``B`` matrices of size ``k``.

    Attributes
    ----------
    g : ndarray of shape (k, k, B)
        Symmetric (pseudo-)inverse: ``g @ b`` is the least-squares solution in the kept
        directions; NaN where the matrix is not finite.
    rank : ndarray of int32, shape (B,)
        Numerical rank; 0 where the matrix is not finite.
    cond : ndarray of shape (B,) or None
        Condition number of the unit-diagonal matrix ``C`` (inf when singular, NaN when not
        finite); None unless asked for.
    fix_at : ndarray of int, shape (m,)
        The rank-deficient matrices, whose solutions need the correction ``fix``.
    fix : ndarray of shape (k, k, m)
        Orthogonal projector on the dropped directions at the original scale: the minimum-norm
        solution is ``(I - fix) @ g @ b``.
    """

    g: np.ndarray
    rank: np.ndarray
    cond: np.ndarray | None
    fix_at: np.ndarray
    fix: np.ndarray


def sym_pinv_lastaxis(s: np.ndarray, tol: float, *, condition: bool = False) -> PseudoInverse:
    """Pseudo-inverse, rank and condition of symmetric PSD matrices stacked on the last axis.

    Parameters
    ----------
    s : ndarray of shape (k, k, B)
        Symmetric positive semi-definite matrices; the lower triangle is read.
    tol : float
        Rank tolerance, in (0, 1). ``S`` is scaled to unit diagonal, ``C = D S D`` with
        ``D = diag(S)^(-1/2)`` (0 for a zero diagonal entry); eigenvalues of ``C`` at most
        ``tol`` times the largest are dropped. The matrix is full rank when none is, i.e.
        when ``1 / cond(C) > tol``.
    condition : bool, default False
        Also return ``cond(C) = max(eig C) / min(eig C)`` of every matrix (one symmetric
        eigenvalue solve per matrix: several times the cost of the inverse).

    Returns
    -------
    PseudoInverse
        ``g, rank, cond, fix_at, fix``. For a full-rank matrix ``g = inv(S)`` (from the
        Cholesky factors of ``C``). Otherwise, with ``C = V diag(w) V'`` and ``K`` the kept
        eigenvalues, ``g = D V_K diag(1 / w_K) V_K' D``: ``g @ b`` fits in the kept
        directions of the scaled problem (the dropped ones carry less than ``tol`` of the
        largest variance). Its dropped directions at the original scale span
        ``N = range(D' V_drop)`` (``D'`` is ``D`` with 1 for a zero diagonal entry), and
        ``fix`` is the orthogonal projector on ``N``: ``(I - fix) @ g @ b`` is the
        minimum-norm vector with the same fit. For an exactly singular ``S`` (a regressor
        that is a linear combination of others, or zero), that is the Moore-Penrose
        solution ``pinv(S) @ b``.
    """
    k, n = s.shape[0], s.shape[-1]
    finite = np.isfinite(s).all(axis=(0, 1))
    if not finite.all():
        s = np.where(finite, s, 0.0)
    diag = np.einsum("iib->ib", s)
    pos = diag > 0
    d = np.where(pos, 1.0 / np.sqrt(np.where(pos, diag, 1.0)), 0.0)       # (k, B)
    dd = d[:, None, :] * d[None, :, :]
    corr = s * dd
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        g, pivots = spd_inverse_lastaxis(corr)
        # diag of inv(C): variance inflation factors, 1 / (1 - R² of a column on the others)
        vif = np.einsum("iib->ib", g)
        inverted = pos.all(axis=0) & (pivots > 0).all(axis=0) & (vif > 0).all(axis=0)
        # cond(C) <= (largest absolute row sum of C, >= max eig) * (trace inv(C), >= 1 / min
        # eig): below 1 / tol, the matrix is full rank without an eigendecomposition
        bound = np.abs(corr).sum(axis=0).max(axis=0) * vif.sum(axis=0)
        proven = inverted & (bound * tol < 1.0)
        g *= dd
    rank = np.full(n, k, dtype=np.int32)
    cond = np.full(n, np.nan) if condition else None
    fix_at, fix = np.empty(0, dtype=np.intp), np.empty((k, k, 0))
    look = finite & ~proven
    if look.any():
        at = np.flatnonzero(look)
        w, v = np.linalg.eigh(np.moveaxis(corr[..., at], -1, 0))          # ascending
        top = w[:, -1:]
        keep = (w > tol * top) & (top > 0)
        if cond is not None:
            cond[at] = _condition(w)
        by_eig = ~keep.all(axis=1) | ~inverted[at]
        at, w, v, keep = at[by_eig], w[by_eig], v[by_eig], keep[by_eig]
        rank[at] = keep.sum(axis=1)
        inv_w = np.where(keep, 1.0 / np.where(keep, w, 1.0), 0.0)
        dv = d[:, at].T[:, :, None] * v                                   # D V, (m, k, k)
        g[..., at] = np.einsum("bik,bk,bjk->ijb", dv, inv_w, dv)
        fix_at, fix = _null_projectors(at, v, keep, np.where(pos, d, 1.0)[:, at])
    if cond is not None and proven.any():
        cond[proven] = _condition(np.linalg.eigvalsh(np.moveaxis(corr[..., proven], -1, 0)))
    if not finite.all():
        g[..., ~finite] = np.nan
        rank[~finite] = 0
    return PseudoInverse(g, rank, cond, fix_at, fix)


def _condition(w: np.ndarray) -> np.ndarray:
    """``max / min`` of ascending eigenvalues (B, k); inf when the smallest is not positive."""
    low, top = w[:, 0], w[:, -1]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(low > 0, top / np.where(low > 0, low, 1.0), np.inf)


def _null_projectors(at: np.ndarray, v: np.ndarray, keep: np.ndarray,
                     d_one: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Projectors on the dropped directions at the original scale, of the deficient matrices.

    ``v`` (m, k, k) eigenvectors of ``C`` (ascending eigenvalues, so the dropped ones come
    first), ``keep`` (m, k), ``d_one`` (k, m) the scaling ``D'``. Returns the positions (from
    ``at``) of the matrices with a dropped direction and their projectors ``Q Q'`` (k, k, .),
    ``Q`` an orthonormal basis of ``D' V_drop`` (QR, grouped by the number dropped).
    """
    k = v.shape[1]
    n_drop = k - keep.sum(axis=1)
    some = n_drop > 0
    v, n_drop, d_one = v[some], n_drop[some], d_one[:, some].T
    out = np.empty((v.shape[0], k, k))
    for m in np.unique(n_drop):
        grp = n_drop == m
        q, _ = np.linalg.qr(d_one[grp][:, :, None] * v[grp][:, :, :m])
        out[grp] = q @ np.swapaxes(q, -1, -2)
    return at[some], np.moveaxis(out, 0, -1)


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


class WindowInverse(NamedTuple):
    """Output of :func:`invert_moments` for ``W`` windows with ``p`` coefficients.

    Attributes
    ----------
    g : ndarray of shape (p, p, W)
        Symmetric (pseudo-)inverse of ``Z'Z``: ``g @ Z'y`` fits in the kept directions.
    rank : ndarray of int32, shape (W,)
        Numerical rank, the constant included.
    n : ndarray of shape (W,)
        Rows of the window (with a constant; empty otherwise).
    cond : ndarray of shape (W,) or None
        Condition number of the unit-diagonal (centred, with a constant) ``Z'Z`` of the
        regressors; None unless asked for.
    fix_at : ndarray of int, shape (m,)
        Rank-deficient windows.
    fix : ndarray of shape (p, p, m)
        Their corrections ``E``: the minimum-norm coefficients are ``(I - E) @ g @ Z'y``.
    """

    g: np.ndarray
    rank: np.ndarray
    n: np.ndarray
    cond: np.ndarray | None
    fix_at: np.ndarray
    fix: np.ndarray


def invert_moments(packed: np.ndarray, unpack: np.ndarray, *, add_constant: bool,
                   rank_tol: float, condition: bool = False) -> WindowInverse:
    """(Pseudo-)inverse of window ``Z'Z`` from its packed upper triangle, windows on the last axis.

    ``packed`` (P, W) holds the upper triangle of each of ``W`` windows' ``Z'Z`` (``unpack``
    (p, p) gives the row of each entry). With a constant, the slopes' block is inverted
    centred (the rank rule sees the correlation matrix of the regressors; a regressor constant
    in the window, see :data:`FLAT_TOL`, is zeroed and gets slope 0) and the full inverse is
    rebuilt from it, so that ``G @ Z'y`` gives the constant and the slopes; the correction
    ``E`` of a deficient window acts on the slopes and moves the constant with them
    (``constant = mean(y) - mean(x) @ slopes``).
    """
    tol = rank_tol
    if not add_constant:
        inv = sym_pinv_lastaxis(packed[unpack], tol, condition=condition)
        return WindowInverse(inv.g, inv.rank, np.empty(packed.shape[1:]), inv.cond,
                             inv.fix_at, inv.fix)
    inner = unpack[1:, 1:]
    with np.errstate(divide="ignore", invalid="ignore"):
        n = packed[unpack[0, 0]]
        s_x = packed[unpack[0, 1:]]                          # (k, W)
        xbar = s_x / n
        raw = packed[inner]                                  # (k, k, W)
        sxx = raw - s_x[:, None, :] * xbar[None, :, :]
        # a regressor constant over the window leaves only rounding after centring
        diag = np.einsum("iiw->iw", sxx)
        flat = diag <= FLAT_TOL * np.einsum("iiw->iw", raw)
        if flat.any():
            sxx[flat[:, None, :] | flat[None, :, :]] = 0.0
        inv = sym_pinv_lastaxis(sxx, tol, condition=condition)
        g_x = inv.g
        p = unpack.shape[0]
        g = np.empty((p, p, packed.shape[1]))
        g[1:, 1:] = g_x
        gx = np.einsum("ijw,jw->iw", g_x, xbar) * -1.0
        g[1:, 0] = gx
        g[0, 1:] = gx
        g[0, 0] = 1.0 / n - np.einsum("iw,iw->w", xbar, gx)
        fix = np.zeros((p, p, inv.fix_at.size))
        fix[1:, 1:] = inv.fix
        fix[0, 1:] = np.einsum("ijw,jw->iw", inv.fix, xbar[:, inv.fix_at]) * -1.0
    return WindowInverse(g, inv.rank + 1, n, inv.cond, inv.fix_at, fix)


def solve_chunk(g: np.ndarray, n: np.ndarray, s_zy: np.ndarray, s_yy: np.ndarray,
                 mean_sq: np.ndarray | None, sx: np.ndarray, sy: np.ndarray,
                 add_constant: bool, params: np.ndarray, rsq: np.ndarray, ssr: np.ndarray,
                 sel: np.ndarray, blank: np.ndarray | None,
                 fix: tuple[np.ndarray, np.ndarray] | None = None) -> None:
    """Coefficients and fit statistics of one chunk from window sums of the shifted data.

    The reference of :func:`coinfactor.rolling._solve_kernel.solve_cells` (which the fit
    runs: the same operations per cell, in registers instead of one pass per term).

    ``g`` (L, B, p, p) inverse of ``Z'Z``, ``n`` (L, B) its row count,
    ``s_zy`` (L, N, p), ``s_yy`` (L, N), ``mean_sq`` (L, N) the ``n * mean(y)**2`` term of a
    centred R² without an added constant (else None); ``fix``: the corrections ``E``
    (L, B, p, p) of the rank-deficient windows and where they are (L, B), or None. Writes
    ``params`` (L, N, p), ``rsq``, ``ssr`` (L, N); NaN in ``blank`` cells (None: all outside
    ``sel``). The explained sum of squares is that of the fit in the kept directions,
    ``b' Z'y`` before the correction (which moves the coefficients along directions the fit
    does not use).
    """
    const = add_constant
    with np.errstate(divide="ignore", invalid="ignore"):
        # one fixed order of operations per cell (see _matvec): the same bits whether a
        # series is solved alone, with others, with shared or with its own regressors
        _matvec(g, s_zy, out=params)
        fitted = _dot(params, s_zy)
        if fix is not None:
            _correct(params, *fix)
        if const:
            s_y = s_zy[..., 0]
            mean_sq = s_y * s_y / np.broadcast_to(n, s_y.shape)
            if not sx.any():
                params[..., 0] += sy
            else:
                params[..., 0] += sy - _dot(params[..., 1:], sx)
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


def _correct(params: np.ndarray, e: np.ndarray, where: np.ndarray) -> None:
    """``params -= E @ params`` in the windows ``where`` (L, B); ``e`` (L, B, p, p)."""
    if not where.any():
        return
    if e.shape[1] == 1:          # shared regressors: whole rows
        rows = where[:, 0]
        params[rows] -= _matvec(e[rows], params[rows])
    else:
        params[where] -= _matvec(e[where], params[where])


def _matvec(a: np.ndarray, v: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Return ``a @ v`` over the last axes (``a`` (..., p, p), ``v`` (..., p), broadcasting).

    Each cell is ``sum_j a[i, j] * v[j]`` added in the order ``j = 0, 1, ..``, by
    element-wise operations only: its bits do not depend on the shape of the batch (BLAS
    kernels and einsum's reductions tile or unroll by shape, so a cell's last bits would
    depend on how many cells are solved together).
    """
    res = np.multiply(a[..., 0], v[..., None, 0], out=out)
    tmp = np.empty_like(res)
    for j in range(1, a.shape[-1]):
        res += np.multiply(a[..., j], v[..., None, j], out=tmp)
    return res


def _dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``sum_i a[..., i] * b[..., i]``, added in order (as :func:`_matvec`), broadcasting."""
    res = np.multiply(a[..., 0], b[..., 0])
    for i in range(1, a.shape[-1]):
        res += a[..., i] * b[..., i]
    return res
