"""Rolling ordinary least squares for many series in one call.

Every window's regression is solved from window sums of cross products (``X'X``, ``X'y``,
``y'y``), built from blocked prefix sums (see :mod:`coinfactor.rolling._sums`), so the cost is
linear in the number of rows and does not depend on the window length, and the result at the
end of a very long series is as exact as at its start.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from coinfactor.core.errors import ConfigError, DataError
from coinfactor.rolling._counts import DenseCounts, SharedCounts
from coinfactor.rolling._pages import PageFiller, result_array
from coinfactor.rolling._result import RollingOLSResult
from coinfactor.rolling._solve import sym_pinv_lastaxis
from coinfactor.rolling._sums import PieceWindowSum, window_count

_PIECE_ELEMENTS = 1 << 18
"""Target number of float64 elements in one piece of the series-side work arrays (~2 MB: a
piece's arrays stay in the shared cache; smaller pieces cost more in per-call overhead)."""

_CHUNK_ELEMENTS = 1 << 20
"""Target number of float64 elements of the work arrays of one chunk of rows (whole blocks):
the unit of the regressor side and of the split between threads."""


def rolling_ols(
    y: Any,
    X: Any,
    window: int,
    *,
    min_nobs: int | None = None,
    add_constant: bool = True,
    rank_tol: float = 1e-10,
    n_threads: int | None = None,
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
    rank_tol : float, default 1e-10
        Rank tolerance, see Notes.
    n_threads : int, optional
        Threads working on consecutive stretches of rows (default: the number of CPUs). The
        result does not depend on it.

    Returns
    -------
    RollingOLSResult
        ``params``, ``rsquared``, ``rsquared_adj``, ``resid_std``, ``nobs``, ``rank``.

    Raises
    ------
    DataError
        On arrays of the wrong dimension or mismatched lengths.
    ConfigError
        On a bad ``window`` or ``min_nobs``.

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

    *Rank deficiency* (e.g. the market factor plus all buckets of one family, which sum to it)
    is detected per window: the centred ``X'X`` is scaled to a correlation matrix, and a
    regressor whose variance is explained by the others up to a share ``1 - rank_tol``
    (variance inflation factor above ``1 / rank_tol``) marks the window rank deficient. Such
    windows get the minimum-norm slopes (eigenvalues of the centred ``X'X`` below
    ``rank_tol`` times the largest are dropped) — with a constant, the norm is that of the
    slopes, the constant being fitted, which equals ``np.linalg.lstsq`` on window-demeaned
    data. A regressor whose centred
    sum of squares in a window is at most ``rank_tol`` times its uncentred one is constant
    there (e.g. an empty bucket) and gets slope 0. R² is the same for every least-squares
    solution; the adjusted R² and residual standard error use the rank.

    R² is computed as explained / total sum of squares, accurate to rounding for small R²;
    for near-perfect fits the residual sum of squares loses relative precision.

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
    out = _Outputs(n_rows, n_series, p, shared=shared)
    plan = _Plan.make(n_rows, window, n_series, 1 if shared else n_series, p, int(threads))
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
        has_const = add_constant or _has_constant_column(x3, vx)
        sx, sy = _shifts(x3, vx, y2, cell, window, enabled=add_constant)
        settings = _Settings(window, add_constant, has_const, rank_tol)
        counts: SharedCounts | DenseCounts
        if shared:
            counts = SharedCounts(vx, finite_y, window, min_nobs, out.rank)
            # windows with a missing y (in a few columns, typically) need their own sums,
            # fitted alongside the shared pass, which leaves their cells alone
            _fit_parallel(x3, vx, y2, cell, counts.nobs_rows, sx, sy, settings, out,
                          counts.masks, plan, filler,
                          also=_own_fit(x3, cell, y2, sx, sy, settings, out, counts))
            out.write_deferred()
        else:
            nobs = window_count(cell, window)
            counts = DenseCounts(nobs, out.rank)
            started = (np.arange(n_rows) >= window - 1)[:, None]
            enough = started & (nobs >= min_nobs)
            _fit_parallel(x3, cell, y2, cell, lambda a, b: nobs[a:b], sx, sy, settings, out,
                          lambda a, b: (enough[a:b], None), plan, filler)

    def shape(a: np.ndarray) -> np.ndarray:
        return a[:, 0] if single else a

    return RollingOLSResult(
        params=shape(out.params), rsquared=shape(out.rsquared), ssr=shape(out.ssr),
        counts=counts, single=single, window=window, min_nobs=min_nobs,
        add_constant=add_constant, has_constant=has_const,
    )


@dataclass(frozen=True)
class _Settings:
    window: int
    add_constant: bool
    has_const: bool
    rank_tol: float


class _Outputs:
    """Output arrays, allocated empty: every cell is written once (value or NaN).

    ``rank`` is one value per row when the regressors are ``shared`` (the rank of their window,
    see :class:`SharedCounts`), else one per cell; ``rank_cols`` maps the columns written by a
    fit of a few columns to columns of ``rank`` (None: the same columns). A fit of a few
    columns runs alongside the shared pass (whose matrix products write whole rows), so it
    keeps its cells in ``deferred`` (output rows, columns and values of ``params``,
    ``rsquared``, ``ssr``), written by :meth:`write_deferred` once that pass is done.
    """

    def __init__(self, n_rows: int, n_series: int, p: int, *, shared: bool) -> None:
        self.params = result_array((n_rows, n_series, p))
        self.rsquared = result_array((n_rows, n_series))
        self.ssr = result_array((n_rows, n_series))
        self.rank = (np.zeros(n_rows, dtype=np.int32) if shared
                     else result_array((n_rows, n_series), dtype=np.int32))
        self.rank_cols: np.ndarray | None = None
        self.deferred: list[tuple[np.ndarray, ...]] = []

    def arrays(self) -> list[np.ndarray]:
        """Return the output arrays."""
        return [self.params, self.rsquared, self.ssr, self.rank]

    def write_deferred(self) -> None:
        """Write the cells kept in :attr:`deferred`, and forget them."""
        for rows, cols, *values in self.deferred:
            for target, val in zip((self.params, self.rsquared, self.ssr), values, strict=True):
                target[rows, cols] = val
        self.deferred.clear()


def _own_fit(x3: np.ndarray, cell: np.ndarray, y2: np.ndarray, sx: np.ndarray, sy: np.ndarray,
             settings: _Settings, out: _Outputs,
             counts: SharedCounts) -> Callable[[], None] | None:
    """Return the fit of the windows with their own sums (:attr:`SharedCounts.own`), or None.

    It may run while the shared pass writes the other cells: it keeps its cells in
    ``out.deferred`` (see :class:`_Outputs`) and writes only its ranks, to
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

    def run() -> None:
        _fit(x3[span], sub, y2[span][:, cols], sub, lambda a, b: n_own[a:b], sx, sy[cols],
             settings, own_out, lambda a, b: (own_span[a:b], None), cols, offset=start)

    return run


def _has_constant_column(x3: np.ndarray, valid: np.ndarray) -> bool:
    """Whether some regressor is one non-zero value on every valid row (statsmodels' test)."""
    for j in range(x3.shape[-1]):
        vals = np.broadcast_to(x3[..., j], valid.shape)[valid]
        if vals.size and vals[0] != 0 and np.all(vals == vals[0]):
            return True
    return False


def _shifts(x3: np.ndarray, vx: np.ndarray, y2: np.ndarray, cell: np.ndarray, window: int, *,
            enabled: bool) -> tuple[np.ndarray, np.ndarray]:
    """Shift of each regressor column (per series) and of each series.

    0, or the first valid observation where the level dominates the variation over the first
    window (see :func:`_level_free`).
    """
    n_x, k = x3.shape[1], x3.shape[2]
    n_series = y2.shape[1]
    if not enabled:
        return np.zeros((n_x, k)), np.zeros(n_series)
    first_x = _first_true(vx)
    sx = np.where((first_x < vx.shape[0])[:, None], x3[first_x % vx.shape[0], np.arange(n_x)],
                  0.0)
    sx[_level_free(x3[:window], np.broadcast_to(vx[:window, :, None], x3[:window].shape))] = 0.0
    first_y = _first_true(cell)
    sy = np.where(first_y < cell.shape[0], y2[first_y % cell.shape[0], np.arange(n_series)],
                  0.0)
    sy[_level_free(y2[:window], cell[:window])] = 0.0
    return sx, sy


def _level_free(values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Whether each column's valid values have ``|mean| <= std`` (at least two of them).

    Shifting such a column would not make its window sums any more accurate.
    """
    n = valid.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        v = np.where(valid, values, 0.0)
        mean = v.sum(axis=0) / n
        var = np.where(valid, (v - mean) ** 2, 0.0).sum(axis=0) / n
        return np.asarray((n >= 2) & (mean * mean <= var))


def _first_true(mask: np.ndarray) -> np.ndarray:
    """Index of the first True row of each column of ``mask`` (T, M); ``T`` when none."""
    first = np.zeros(mask.shape[1], dtype=np.intp)
    late = np.flatnonzero(~mask[0]) if mask.shape[0] else np.arange(mask.shape[1])
    if late.size:
        sub = mask[:, late]
        first[late] = np.where(sub.any(axis=0), np.argmax(sub, axis=0), mask.shape[0])
    return first


def _fit(x3: np.ndarray, xmask: np.ndarray, y2: np.ndarray, ymask: np.ndarray,
         count: Callable[[int, int], np.ndarray], sx: np.ndarray, sy: np.ndarray,
         settings: _Settings, out: _Outputs,
         write: Callable[[int, int], tuple[np.ndarray, np.ndarray | None]],
         cols: np.ndarray | None, *, offset: int = 0,
         skip: int = 0, step: int | None = None,
         ready: Callable[[int], None] | None = None) -> None:
    """Fit every window of the given series; cells ``write`` marks blank get NaN.

    Rows go by chunks of whole blocks (the regressor side: ``Z'Z`` sums and inverses), each in
    pieces of a few rows (the series side), so that work arrays stay in cache.

    ``xmask`` (T, B) says which rows enter the regressor moments; ``B`` is 1 (moments shared by
    all series) or the number of series. ``count(a, b)`` gives the windows' valid rows of
    input rows ``a:b`` (N columns; read only for a centred R² without an added constant).
    ``write(a, b)`` gives the masks of input rows ``a:b`` (called once per piece written, in
    order): the cells to fit, and the cells to set NaN (None: all others). With ``cols``
    given, only those output columns are (over)written, and only where the first mask is
    set. Input row 0 is output row ``offset`` (a multiple of the window, so blocks stay
    aligned with the whole series). The first ``skip`` input rows (whole chunks) only feed
    the running block sums and are not written.
    ``ready(row)`` is called before output rows up to ``row`` are written (it may block until
    their memory pages are allocated).
    """
    n_rows, k = x3.shape[0], x3.shape[2]
    n_series, n_x = y2.shape[1], xmask.shape[1]
    w = settings.window
    const = settings.add_constant
    p = k + int(const)
    if step is None:
        step = _chunk_rows(n_rows, w, n_series, n_x, p)
    centred_tss = settings.has_const and not const
    x_side = _RegressorSide(x3, xmask, sx, settings, step)
    # series side in pieces of a few rows, so that its work arrays stay in cache
    piece = max(1, min(w, _PIECE_ELEMENTS // (n_series * (p + 1))))
    sum_zy = PieceWindowSum(w, piece, (n_series, p + 1))   # the last column: y² for y'y
    sum_y = PieceWindowSum(w, piece, (n_series,) if centred_tss else (0,))
    yc = np.zeros((piece, n_series))
    unshifted = not sy.any()
    for c0 in range(0, n_rows, step):
        c1 = min(n_rows, c0 + step)
        z_c, g_c, rank_c, n_c = x_side.rows(c0, c1)
        r0 = c0
        while r0 < c1:
            r1 = min(c1, r0 + piece, r0 + sum_zy.rows_left_in_block)
            rows, local = slice(r0, r1), slice(r0 - c0, r1 - c0)
            if unshifted and ymask[rows].all():
                yv = y2[rows]
            else:   # shifted, missing values as 0
                yv = yc[: r1 - r0]
                yv[...] = 0.0
                np.subtract(y2[rows], sy, out=yv, where=ymask[rows])
            products = sum_zy.buffer(r1 - r0)
            if n_x == 1:   # outer products: einsum beats broadcasting over a short axis
                np.einsum("ln,lj->lnj", yv, z_c[local, 0], out=products[..., :p])
            else:
                np.multiply(yv[..., None], z_c[local], out=products[..., :p])
            np.multiply(yv, yv, out=products[..., p])
            sums = sum_zy.window_sums(r1 - r0)
            s_zy, s_yy = sums[..., :p], sums[..., p]
            s_y = sum_y.window_sums_of(yv) if centred_tss else None
            if r1 > skip:
                if ready is not None:
                    ready(offset + r1)
                sel, blank = write(r0, r1)
                mean_sq = None
                if s_y is not None:   # a constant column in X: R² is centred, as statsmodels
                    mean_sq = s_y * s_y / count(r0, r1)
                _write(out, cols, offset + r0, sel, blank, g_c[local], rank_c[local],
                       n_c[local], s_zy, s_yy, mean_sq, sx, sy, settings)
            r0 = r1


def _write(out: _Outputs, cols: np.ndarray | None, start: int, sel: np.ndarray,
           blank: np.ndarray | None, g: np.ndarray, rank: np.ndarray, n: np.ndarray,
           s_zy: np.ndarray, s_yy: np.ndarray, mean_sq: np.ndarray | None, sx: np.ndarray,
           sy: np.ndarray, settings: _Settings) -> None:
    """Solve one piece of rows starting at output row ``start`` and write it (see _fit)."""
    n_rows = sel.shape[0]
    if cols is None:
        dest = slice(start, start + n_rows)
        _solve_chunk(g, n, s_zy, s_yy, mean_sq, sx, sy, settings, out.params[dest],
                     out.rsquared[dest], out.ssr[dest], sel, blank)
        if out.rank.ndim == 1:         # one rank per row: the shared regressors' window
            out.rank[dest] = rank[:, 0]
        else:
            np.copyto(out.rank[dest], rank)
            out.rank[dest][~sel] = 0
    elif sel.any():
        n_series, p = s_zy.shape[1], s_zy.shape[2]
        prm = np.empty((n_rows, n_series, p))
        rsq, ssr = np.empty((n_rows, n_series)), np.empty((n_rows, n_series))
        _solve_chunk(g, n, s_zy, s_yy, mean_sq, sx, sy, settings, prm, rsq, ssr, sel, None)
        tt, jj = np.nonzero(sel)
        out.deferred.append((start + tt, cols[jj], prm[tt, jj], rsq[tt, jj], ssr[tt, jj]))
        rank_cols = cols if out.rank_cols is None else out.rank_cols
        out.rank[start + tt, rank_cols[jj]] = np.broadcast_to(rank, sel.shape)[tt, jj]


def _chunk_rows(n_rows: int, window: int, n_series: int, n_x: int, p: int) -> int:
    """Rows per chunk: whole blocks, about ``_CHUNK_ELEMENTS`` elements of work arrays."""
    n_blocks = -(-n_rows // window)
    per_block = window * (n_series * p + n_x * p * p)
    return window * min(n_blocks, max(1, _CHUNK_ELEMENTS // per_block))


@dataclass(frozen=True)
class _Plan:
    """How the rows are cut: chunks of ``step`` rows, consecutive stretches for the threads.

    ``bounds[i]:bounds[i + 1]`` are the rows written by thread ``i``; each starts on a chunk.
    """

    step: int
    bounds: tuple[int, ...]

    @classmethod
    def make(cls, n_rows: int, window: int, n_series: int, n_x: int, p: int,
             threads: int) -> _Plan:
        step = _chunk_rows(n_rows, window, n_series, n_x, p)
        n_chunks = -(-n_rows // step)
        n_parts = max(1, min(threads, n_chunks // 4))
        starts = [step * round(n_chunks * i / n_parts) for i in range(n_parts)]
        return cls(step, (*starts, n_rows))

    def stretches(self) -> list[tuple[int, int]]:
        """Return the rows ``(first, stop)`` written by each thread."""
        return list(zip(self.bounds[:-1], self.bounds[1:], strict=True))


def _fit_parallel(x3: np.ndarray, xmask: np.ndarray, y2: np.ndarray, ymask: np.ndarray,
                  count: Callable[[int, int], np.ndarray], sx: np.ndarray, sy: np.ndarray,
                  settings: _Settings, out: _Outputs,
                  write: Callable[[int, int], tuple[np.ndarray, np.ndarray | None]],
                  plan: _Plan, filler: PageFiller, also: Callable[[], None] | None = None,
                  ) -> None:
    """:func:`_fit` on consecutive stretches of rows in threads (numpy releases the GIL).

    Each stretch but the first starts one chunk early, to rebuild the running block sums it
    continues from; that chunk is not written. Stretches write disjoint output rows, each
    once the page filler has allocated their memory. ``also`` (writing other cells) runs
    in the calling thread meanwhile.
    """
    step, bounds = plan.step, plan.bounds
    n_parts = len(bounds) - 1

    def part(i: int) -> None:
        begin = max(0, bounds[i] - step)
        rows = slice(begin, bounds[i + 1])
        _fit(x3[rows], xmask[rows], y2[rows], ymask[rows],
             lambda a, b: count(begin + a, begin + b), sx, sy, settings, out,
             lambda a, b: write(begin + a, begin + b), None, offset=begin,
             skip=bounds[i] - begin, step=step,
             ready=lambda row: filler.wait(i, row))

    if n_parts == 1:
        part(0)
        if also is not None:
            also()
        return
    with ThreadPoolExecutor(max_workers=n_parts) as pool:
        futures = [pool.submit(part, i) for i in range(n_parts)]
        if also is not None:
            also()
        for future in futures:
            future.result()


class _RegressorSide:
    """Shifted regressor rows and the (pseudo-)inverse of each window's ``Z'Z``, by chunks."""

    def __init__(self, x3: np.ndarray, xmask: np.ndarray, sx: np.ndarray,
                 settings: _Settings, step: int) -> None:
        self.x3, self.xmask, self.sx, self.settings, self.step = x3, xmask, sx, settings, step
        k = x3.shape[2]
        self.p = k + int(settings.add_constant)
        # Z'Z is symmetric: window sums of its upper triangle only, unpacked for the inverse
        self.upper = np.triu_indices(self.p)
        self.unpack = np.zeros((self.p, self.p), dtype=np.intp)
        self.unpack[self.upper] = self.unpack.T[self.upper] = np.arange(self.upper[0].size)
        self.sums = PieceWindowSum(settings.window, settings.window,
                                   (xmask.shape[1], self.upper[0].size))
        self.packed = np.empty((step, xmask.shape[1], self.upper[0].size))
        self.z = np.zeros((step, xmask.shape[1], self.p))
        self.start = -1
        self.stop = -1
        self.g: np.ndarray = np.empty(0)
        self.rank: np.ndarray = np.empty(0)
        self.n: np.ndarray = np.empty(0)

    def rows(self, c0: int, c1: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Shifted regressors (L, B, p), inverse (L, B, p, p), rank (L, B), count (L, B)."""
        if c0 >= self.stop:
            self._advance(c0)
        a, b = c0 - self.start, c1 - self.start
        return self.z[a:b], self.g[a:b], self.rank[a:b], self.n[a:b]

    def _advance(self, c0: int) -> None:
        x3, p, k = self.x3, self.p, self.x3.shape[2]
        c1 = min(x3.shape[0], c0 + self.step)
        rows = slice(c0, c1)
        n_c = c1 - c0
        z = self.z[:n_c]
        z[...] = 0.0
        np.subtract(x3[rows], self.sx, out=z[..., p - k :], where=self.xmask[rows, :, None])
        if self.settings.add_constant:
            z[..., 0] = self.xmask[rows]
        packed = self.packed[:n_c]
        w = self.settings.window
        for b0 in range(0, n_c, w):   # chunks start on a block boundary
            b1 = min(n_c, b0 + w)
            np.multiply(z[b0:b1, :, self.upper[0]], z[b0:b1, :, self.upper[1]],
                        out=self.sums.buffer(b1 - b0))
            packed[b0:b1] = self.sums.window_sums(b1 - b0)
        # one column per window from here on: every step is a vector operation over windows
        by_window = np.ascontiguousarray(packed.reshape(-1, packed.shape[-1]).T)
        g_t, rank, n = _invert(by_window, self.unpack, self.settings)
        self.g = np.ascontiguousarray(np.moveaxis(g_t, -1, 0)).reshape(n_c, -1, p, p)
        self.rank, self.n = rank.reshape(n_c, -1), n.reshape(n_c, -1)
        self.start, self.stop = c0, c1


def _invert(packed: np.ndarray, unpack: np.ndarray, settings: _Settings) -> tuple[
        np.ndarray, np.ndarray, np.ndarray]:
    """(Pseudo-)inverse of window ``Z'Z`` from its packed upper triangle, windows on the last axis.

    ``packed`` (P, W) holds the upper triangle of each of ``W`` windows' ``Z'Z`` (``unpack``
    (p, p) gives the row of each entry); returns the inverse (p, p, W), its rank and the
    window's row count (W,). With a constant, the slopes' block is inverted centred (rank
    deficiency is judged on the centred regressors) and the full inverse is rebuilt from it,
    so that ``G @ Z'y`` gives the constant and the minimum-norm slopes.
    """
    tol = settings.rank_tol
    if not settings.add_constant:
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


def _solve_chunk(g: np.ndarray, n: np.ndarray, s_zy: np.ndarray, s_yy: np.ndarray,
                 mean_sq: np.ndarray | None, sx: np.ndarray, sy: np.ndarray,
                 settings: _Settings, params: np.ndarray, rsq: np.ndarray, ssr: np.ndarray,
                 sel: np.ndarray, blank: np.ndarray | None) -> None:
    """Coefficients and fit statistics of one chunk from window sums of the shifted data.

    ``g`` (L, B, p, p) inverse of ``Z'Z``, ``n`` (L, B) its row count,
    ``s_zy`` (L, N, p), ``s_yy`` (L, N), ``mean_sq`` (L, N) the ``n * mean(y)**2`` term of a
    centred R² without an added constant (else None); writes ``params`` (L, N, p), ``rsq``,
    ``ssr`` (L, N); NaN in ``blank`` cells (None: all outside ``sel``).
    """
    const = settings.add_constant
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
