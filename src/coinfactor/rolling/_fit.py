"""The row pass of :func:`rolling_ols`: window sums by chunks and pieces, threads, outputs.

Rows go by *chunks* of whole blocks (``window`` rows each; the regressor side: ``Z'Z`` window
sums and their (pseudo-)inverses), each chunk in *pieces* of a few rows (the series side:
``Z'y`` and ``y'y`` window sums), so that work arrays stay in the processor's cache. A
:class:`Plan` cuts the rows into consecutive stretches, one per thread; every output cell is
written once (:class:`Outputs`). The solves themselves are in :mod:`coinfactor.rolling._solve`
and, per cell, :mod:`coinfactor.rolling._solve_kernel`.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from coinfactor.rolling._pages import PageFiller, result_array
from coinfactor.rolling._solve import invert_moments
from coinfactor.rolling._sums import PieceWindowSum

_PIECE_ELEMENTS = 1 << 18
"""Target number of float64 elements in one piece of the series-side work arrays (~2 MB: a
piece's arrays stay in the shared cache; smaller pieces cost more in per-call overhead)."""

_CHUNK_ELEMENTS = 1 << 20
"""Target number of float64 elements of the work arrays of one chunk of rows (whole blocks):
the unit of the regressor side and of the split between threads."""


@dataclass(frozen=True)
class Settings:
    """Settings of one call.

    Window (rows), constant added, model has a constant, rank tolerance, condition numbers
    wanted.
    """

    window: int
    add_constant: bool
    has_const: bool
    rank_tol: float
    condition: bool = False


class Outputs:
    """Output arrays, allocated empty: every cell is written once (value or NaN).

    ``rank`` is one value per row when the regressors are ``shared`` (the rank of their window,
    see :class:`SharedCounts`), else one per cell; ``rank_cols`` maps the columns written by a
    fit of a few columns to columns of ``rank`` (None: the same columns). ``cond`` (condition
    numbers, when asked for; else None) is laid out as ``rank``. A fit of a few
    columns runs alongside the shared pass (whose matrix products write whole rows), so it
    keeps its cells in ``deferred`` (output rows, columns and values of ``params``,
    ``rsquared``, ``ssr``), written by :meth:`write_deferred` once that pass is done.
    """

    def __init__(self, n_rows: int, n_series: int, p: int, *, shared: bool,
                 condition: bool = False) -> None:
        self.params = result_array((n_rows, n_series, p))
        self.rsquared = result_array((n_rows, n_series))
        self.ssr = result_array((n_rows, n_series))
        self.rank = (np.zeros(n_rows, dtype=np.int32) if shared
                     else result_array((n_rows, n_series), dtype=np.int32))
        self.cond: np.ndarray | None = None
        if condition:
            self.cond = (np.full(n_rows, np.nan) if shared
                         else result_array((n_rows, n_series)))
        self.rank_cols: np.ndarray | None = None
        self.deferred: list[tuple[np.ndarray, ...]] = []

    def arrays(self) -> list[np.ndarray]:
        """Return the output arrays."""
        return [self.params, self.rsquared, self.ssr, self.rank,
                *([] if self.cond is None else [self.cond])]

    def write_deferred(self) -> None:
        """Write the cells kept in :attr:`deferred`, and forget them."""
        for rows, cols, *values in self.deferred:
            for target, val in zip((self.params, self.rsquared, self.ssr), values, strict=True):
                target[rows, cols] = val
        self.deferred.clear()


def fit_rows(x3: np.ndarray, xmask: np.ndarray, y2: np.ndarray, ymask: np.ndarray,
         count: Callable[[int, int], np.ndarray], sx: np.ndarray, sy: np.ndarray,
         settings: Settings, out: Outputs,
         write: Callable[[int, int], tuple[np.ndarray, np.ndarray | None]],
         cols: np.ndarray | None, *, offset: int = 0,
         skip: int = 0, step: int | None = None,
         ready: Callable[[int], None] | None = None) -> None:
    """Fit every window of the given series; the cells ``write`` does not select get NaN.

    Rows go by chunks of whole blocks (the regressor side: ``Z'Z`` sums and inverses), each in
    pieces of a few rows (the series side), so that work arrays stay in cache.

    ``xmask`` (T, B) says which rows enter the regressor moments; ``B`` is 1 (moments shared by
    all series) or the number of series. ``count(a, b)`` gives the windows' valid rows of
    input rows ``a:b`` (N columns; read only for a centred R² without an added constant).
    ``write(a, b)`` gives the masks of input rows ``a:b`` (called once per piece written, in
    order): the cells to fit (the others get NaN; cells fitted by another pass are written
    after this one, see :class:`Outputs`), and the cells fitted by none (None: all others;
    not read here). With ``cols`` given, only those output columns are written, and only
    where the first mask is set. Input row 0 is output row ``offset`` (a multiple of the
    window, so blocks stay aligned with the whole series). The first ``skip`` input rows
    (whole chunks) only feed the running block sums and are not written.
    ``ready(row)`` is called before output rows up to ``row`` are written (it may block until
    their memory pages are allocated).
    """
    n_rows, k = x3.shape[0], x3.shape[2]
    n_series, n_x = y2.shape[1], xmask.shape[1]
    w = settings.window
    const = settings.add_constant
    p = k + int(const)
    if step is None:
        step = chunk_rows(n_rows, w, n_series, n_x, p)
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
        z_c, g_c, rank_c, n_c, cond_c, fix_c = x_side.rows(c0, c1)
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
                sel = write(r0, r1)[0]
                mean_sq = None
                if s_y is not None:   # a constant column in X: R² is centred, as statsmodels
                    with np.errstate(divide="ignore", invalid="ignore"):   # empty windows
                        mean_sq = s_y * s_y / count(r0, r1)
                _write(out, cols, offset + r0, sel, g_c[local], rank_c[local],
                       n_c[local], s_zy, s_yy, mean_sq, sx, sy, settings,
                       None if cond_c is None else cond_c[local],
                       None if fix_c is None else (fix_c[0][local], fix_c[1][local]))
            r0 = r1


def _write(out: Outputs, cols: np.ndarray | None, start: int, sel: np.ndarray,
           g: np.ndarray, rank: np.ndarray, n: np.ndarray,
           s_zy: np.ndarray, s_yy: np.ndarray, mean_sq: np.ndarray | None, sx: np.ndarray,
           sy: np.ndarray, settings: Settings, cond: np.ndarray | None,
           fix: tuple[np.ndarray, np.ndarray] | None) -> None:
    """Solve one piece of rows starting at output row ``start`` and write it (see fit_rows)."""
    n_rows = sel.shape[0]
    if cols is None:
        dest = slice(start, start + n_rows)
        _solve(g, n, s_zy, s_yy, mean_sq, sx, sy, settings.add_constant, out.params[dest],
               out.rsquared[dest], out.ssr[dest], sel, fix)
        if out.rank.ndim == 1:         # one rank per row: the shared regressors' window
            out.rank[dest] = rank[:, 0]
            if out.cond is not None and cond is not None:
                out.cond[dest] = cond[:, 0]
        else:
            np.copyto(out.rank[dest], rank)
            out.rank[dest][~sel] = 0
            if out.cond is not None and cond is not None:
                np.copyto(out.cond[dest], cond)
                out.cond[dest][~sel] = np.nan
    elif sel.any():
        n_series, p = s_zy.shape[1], s_zy.shape[2]
        prm = np.empty((n_rows, n_series, p))
        rsq, ssr = np.empty((n_rows, n_series)), np.empty((n_rows, n_series))
        _solve(g, n, s_zy, s_yy, mean_sq, sx, sy, settings.add_constant, prm, rsq, ssr, sel,
               fix)
        tt, jj = np.nonzero(sel)
        out.deferred.append((start + tt, cols[jj], prm[tt, jj], rsq[tt, jj], ssr[tt, jj]))
        rank_cols = cols if out.rank_cols is None else out.rank_cols
        out.rank[start + tt, rank_cols[jj]] = np.broadcast_to(rank, sel.shape)[tt, jj]
        if out.cond is not None and cond is not None:
            out.cond[start + tt, rank_cols[jj]] = np.broadcast_to(cond, sel.shape)[tt, jj]


_NO_FIX = (np.empty((0, 0, 0, 0)), np.empty((0, 0), dtype=bool))
_NO_MEAN = np.empty((0, 0))


def _solve(g: np.ndarray, n: np.ndarray, s_zy: np.ndarray, s_yy: np.ndarray,
           mean_sq: np.ndarray | None, sx: np.ndarray, sy: np.ndarray, add_constant: bool,
           params: np.ndarray, rsq: np.ndarray, ssr: np.ndarray, sel: np.ndarray,
           fix: tuple[np.ndarray, np.ndarray] | None) -> None:
    """:func:`~coinfactor.rolling._solve_kernel.solve_cells` (cells outside ``sel``: NaN).

    The cells of a shared pass that are neither fitted nor blank (the windows with their
    own sums) get NaN here and their values from :meth:`Outputs.write_deferred`.
    """
    from coinfactor.rolling import _solve_kernel as kernel  # numba: imported on first use

    e, e_where = _NO_FIX if fix is None else fix
    kernel.solve_cells(g, n, s_zy, s_yy, _NO_MEAN if mean_sq is None else mean_sq,
                       mean_sq is not None, sx, sy, add_constant, bool(sx.any()), e, e_where,
                       fix is not None, sel, params, rsq, ssr)


def chunk_rows(n_rows: int, window: int, n_series: int, n_x: int, p: int) -> int:
    """Rows per chunk: whole blocks, about ``_CHUNK_ELEMENTS`` elements of work arrays."""
    n_blocks = -(-n_rows // window)
    per_block = window * (n_series * p + n_x * p * p)
    return window * min(n_blocks, max(1, _CHUNK_ELEMENTS // per_block))


@dataclass(frozen=True)
class Plan:
    """How the rows are cut: chunks of ``step`` rows, consecutive stretches for the threads.

    ``bounds[i]:bounds[i + 1]`` are the rows written by thread ``i``; each starts on a chunk.
    """

    step: int
    bounds: tuple[int, ...]

    @classmethod
    def make(cls, n_rows: int, window: int, n_series: int, n_x: int, p: int,
             threads: int) -> Plan:
        step = chunk_rows(n_rows, window, n_series, n_x, p)
        n_chunks = -(-n_rows // step)
        n_parts = max(1, min(threads, n_chunks // 4))
        starts = [step * round(n_chunks * i / n_parts) for i in range(n_parts)]
        return cls(step, (*starts, n_rows))

    def stretches(self) -> list[tuple[int, int]]:
        """Return the rows ``(first, stop)`` written by each thread."""
        return list(zip(self.bounds[:-1], self.bounds[1:], strict=True))


def fit_parallel(x3: np.ndarray, xmask: np.ndarray, y2: np.ndarray, ymask: np.ndarray,
                  count: Callable[[int, int], np.ndarray], sx: np.ndarray, sy: np.ndarray,
                  settings: Settings, out: Outputs,
                  write: Callable[[int, int], tuple[np.ndarray, np.ndarray | None]],
                  plan: Plan, filler: PageFiller, also: Callable[[], None] | None = None,
                  ) -> None:
    """:func:`fit_rows` on consecutive stretches of rows in threads (numpy releases the GIL).

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
        fit_rows(x3[rows], xmask[rows], y2[rows], ymask[rows],
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
                 settings: Settings, step: int) -> None:
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
        self.cond: np.ndarray | None = None
        self.fix: tuple[np.ndarray, np.ndarray] | None = None

    def rows(self, c0: int, c1: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray,
                                              np.ndarray | None,
                                              tuple[np.ndarray, np.ndarray] | None]:
        """Return the regressor side of rows ``c0:c1`` (L of them).

        Shifted regressors (L, B, p), inverse (L, B, p, p), rank (L, B), count (L, B),
        condition numbers (L, B) or None, corrections of deficient windows (``E``
        (L, B, p, p) and where (L, B)) or None.
        """
        if c0 >= self.stop:
            self._advance(c0)
        a, b = c0 - self.start, c1 - self.start
        fix = None if self.fix is None else (self.fix[0][a:b], self.fix[1][a:b])
        return (self.z[a:b], self.g[a:b], self.rank[a:b], self.n[a:b],
                None if self.cond is None else self.cond[a:b], fix)

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
        inv = invert_moments(by_window, self.unpack, add_constant=self.settings.add_constant,
                             rank_tol=self.settings.rank_tol,
                             condition=self.settings.condition)
        self.g = np.ascontiguousarray(np.moveaxis(inv.g, -1, 0)).reshape(n_c, -1, p, p)
        self.rank, self.n = inv.rank.reshape(n_c, -1), inv.n.reshape(n_c, -1)
        self.cond = None if inv.cond is None else inv.cond.reshape(n_c, -1)
        self.fix = None
        if inv.fix_at.size:
            e = np.zeros((by_window.shape[1], p, p))
            where = np.zeros(by_window.shape[1], dtype=bool)
            e[inv.fix_at] = np.moveaxis(inv.fix, -1, 0)
            where[inv.fix_at] = True
            self.fix = (e.reshape(n_c, -1, p, p), where.reshape(n_c, -1))
        self.start, self.stop = c0, c1
