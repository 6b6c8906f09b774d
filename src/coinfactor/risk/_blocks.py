"""The tasks of a chunked risk model: factor returns of a time block, exposures of a block.

Rows are bars of the whole panel's regular grid (row 0 = its first bar), columns its sorted
symbols. A time block ``[start, stop)`` reads the rows before ``start`` that its values need
(warm-up) and returns values for its own rows only, equal bit for bit to those of the
whole-panel computation (:func:`coinfactor.risk.factor_returns`,
:func:`coinfactor.risk.exposures`):

* factor returns: every value at row ``t`` reads rows ``t - warmup + 1 .. t`` and the whole
  coin axis (:meth:`FactorOptions.warmup`), so the block reads ``warmup`` rows early;
* exposures: ``rolling_ols`` sums rows in blocks of ``window`` rows counted from row 0, so a
  block starting on a multiple of ``window`` reads one window early
  (:func:`coinfactor.rolling.aligned_start`), and takes the level shifts of the series
  (:class:`coinfactor.rolling.LevelParts`, combined over the blocks up to its own: a column
  without a valid value in those rows has none in the block's rows either, and its shift
  changes nothing there); every solve is done cell by cell in one fixed order, so a block
  of coins gives the same bits as all.

The panel is read once per time block, by its factor task, which also returns the coin
returns (and market weights) of the rows its exposures need; the exposure tasks read no
panel.

Statistics for metrics are returned per *page* (``window`` rows, aligned with the blocks)
and per coin, and summed by the caller in one fixed order, so they do not depend on the
block sizes either.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import polars as pl

from coinfactor.core.errors import DataError
from coinfactor.data import Grid, validate_panel
from coinfactor.risk._exposures import (
    exposure_table,
    leave_one_out_regressors,
    leave_one_out_totals,
)
from coinfactor.risk._factors import (
    FactorOptions,
    _memberships_frame,
    block_inputs,
    factor_arrays,
)
from coinfactor.rolling import LevelParts, aligned_start, rolling_ols

_COLUMNS = ("ts", "symbol", "close", "volume", "quote_volume", "trades", "filled")
"""Panel columns the factor tasks read (those present; validating, also open, high, low)."""


@dataclass(frozen=True)
class Layout:
    """The whole panel's grid and the settings every task shares.

    Attributes
    ----------
    t0_us, step_us : int
        First bar's ``ts`` and the bar length, microseconds.
    n_rows : int
        Bars of the grid.
    freq : str
        Bar frequency.
    symbols : tuple of str
        Coin axis, sorted.
    opts : FactorOptions
        Factor settings.
    window : int
        Regression window (bars); time blocks are whole multiples of it.
    min_nobs : int or None
        Fewest valid bars per regression window.
    rank_tol : float
        Relative rank tolerance.
    factor_sets : tuple of (str, tuple of str)
        Label and factor names of each fitted set (e.g. ``("spreads", ("market", ...))``).
    leave_one_out : bool
        Market without the coin itself.
    condition_number : bool
        Report condition numbers.
    validate : bool
        Validate each block read (a source not validated as a whole).
    tables : tuple of str
        Labels of the factor sets whose exposure tables are built (the others give their
        fit statistics only).
    """

    t0_us: int
    step_us: int
    n_rows: int
    freq: str
    symbols: tuple[str, ...]
    opts: FactorOptions
    window: int
    min_nobs: int | None
    rank_tol: float
    factor_sets: tuple[tuple[str, tuple[str, ...]], ...]
    leave_one_out: bool
    condition_number: bool
    validate: bool = False
    tables: tuple[str, ...] = ()

    def ts_at(self, row: int) -> datetime:
        """``ts`` of grid row ``row`` (UTC)."""
        return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(
            microseconds=self.t0_us + row * self.step_us)

    def ts(self, start: int, stop: int) -> pl.Series:
        """Return the ``ts`` of rows ``start:stop`` (``Datetime("us", "UTC")``)."""
        v = self.t0_us + self.step_us * np.arange(start, stop, dtype=np.int64)
        return pl.Series("ts", v).cast(pl.Datetime("us", "UTC"))


def read_rows(source: pl.LazyFrame, layout: Layout, start: int, stop: int, *,
              check_from: int | None = None) -> pl.DataFrame:
    """Panel rows with ``ts`` on grid rows ``start:stop``, sorted by (symbol, ts).

    The columns the tasks read (those present) are read; with :attr:`Layout.validate`, the
    other canonical price columns too, and the rows from grid row ``check_from`` (default
    ``start``) on are validated: those before, a warm-up, are the rows of an earlier block,
    validated by its task. The rows are returned as read (validation raises on bad rows;
    a source whose columns it would coerce, e.g. integer trade counts of another width, is
    returned coerced, as validated as a whole).
    """
    ts = pl.col("ts")
    names = source.collect_schema().names()
    wanted = (*_COLUMNS, "open", "high", "low") if layout.validate else _COLUMNS
    frame = (source.filter((ts >= layout.ts_at(start)) & (ts < layout.ts_at(stop)))
             .select([c for c in wanted if c in names]).collect())
    if not _is_sorted(frame):   # a scan of per-symbol files comes sorted already
        frame = frame.sort("symbol", "ts")
    if not layout.validate or not frame.height:
        return frame
    first = start if check_from is None else max(start, check_from)
    own = validate_panel(frame if first == start else frame.filter(ts >= layout.ts_at(first)))
    if any(own.schema[c] != dtype for c, dtype in frame.schema.items()):
        return validate_panel(frame)
    return frame


def _is_sorted(frame: pl.DataFrame) -> bool:
    """Whether rows are sorted by (symbol, ts), ``ts`` strictly increasing per symbol."""
    if frame.height < 2:
        return True
    sym, ts = pl.col("symbol"), pl.col("ts")
    ok = frame.select(
        ((sym == sym.shift(1)) & (ts > ts.shift(1)) | (sym > sym.shift(1))).slice(1).all())
    return bool(ok.item())


def pivot(frame: pl.DataFrame, layout: Layout, start: int, n_rows: int,
          symbols: tuple[str, ...]) -> Callable[[str | pl.Expr], np.ndarray]:
    """``wide(column)``: a column of ``frame`` on rows ``start .. start + n_rows`` (T, N)."""
    if frame.height == 0:
        return lambda _column: np.full((n_rows, len(symbols)), np.nan)
    grid = Grid.from_panel(frame, layout.freq, symbols=symbols,
                           end=layout.ts_at(start + n_rows - 1))
    first = int(grid.ts.dt.epoch("us")[0])
    if (first - layout.t0_us) % layout.step_us:
        raise DataError(f"bar time {grid.ts[0]} is not on the panel's {layout.freq} grid "
                        f"anchored at its first bar {layout.ts_at(0)} (mixed bar offsets)",
                        column="ts", fix="resample the panel to one bar offset")
    offset = (first - layout.t0_us) // layout.step_us - start

    def wide(column: str | pl.Expr) -> np.ndarray:
        out = np.full((n_rows, len(symbols)), np.nan)
        out[offset : offset + grid.shape[0]] = grid.wide(frame, column)
        return out

    return wide


@dataclass(frozen=True)
class FactorBlock:
    """What the factor task of one time block returns.

    Attributes
    ----------
    start, stop : int
        Grid rows of the block.
    returns : pl.DataFrame
        ``ts`` and the factor columns of rows ``start:stop``.
    memberships : pl.DataFrame
        Memberships of those rows (:attr:`coinfactor.risk.FactorReturns.memberships`).
    totals : ndarray of shape (L, 2) or None
        Leave-one-out sums (weighted return, weights) per bar.
    y_parts, x_parts : dict of str to LevelParts
        Level-shift parts of the coins' returns and of their regressors (the factor
        returns; leave-one-out, one set per coin) per factor set, of the block's rows.
    pages : dict of str to ndarray
        Per page and coin, shape (n_pages, N): the whole-sample sums of the look-ahead
        comparison (``liq_sum``, ``liq_n``, ``r``, ``m``, ``rm``, ``mm``, ``n``).
    counts : dict of str to ndarray
        Per family, bars of each coin in each bucket, shape (N, n_buckets).
    last : dict of str to ndarray
        Per family, the memberships of the block's last row, shape (N,).
    ret : ndarray of shape (L, N) or None
        Coin returns of rows ``aligned_start(start, window):stop`` (what the block's
        exposures regress); None once handed on.
    weights : ndarray of shape (L, N) or None
        Market weights of those rows (leave-one-out only).
    """

    start: int
    stop: int
    returns: pl.DataFrame
    memberships: pl.DataFrame
    totals: np.ndarray | None
    y_parts: dict[str, LevelParts]
    x_parts: dict[str, LevelParts]
    pages: dict[str, np.ndarray]
    counts: dict[str, np.ndarray]
    last: dict[str, np.ndarray]
    ret: np.ndarray | None = None
    weights: np.ndarray | None = None


def factor_block(source: pl.LazyFrame, layout: Layout, start: int, stop: int) -> FactorBlock:
    """Factor returns, memberships and statistics of grid rows ``start:stop``."""
    opts = layout.opts
    a = aligned_start(start, layout.window)
    first = max(0, min(start - opts.warmup(), a - 1))   # the exposures' returns too
    n = stop - first
    wide = pivot(read_rows(source, layout, first, stop, check_from=start), layout, first, n,
                 layout.symbols)
    ret, weights, liq = block_inputs(wide, opts)
    ends = layout.t0_us + layout.step_us * np.arange(first + 1, stop + 1, dtype=np.int64)
    columns, members = factor_arrays(ends, opts.period * layout.step_us, ret, weights, liq,
                                     opts)
    o = start - first
    ts = layout.ts(start, stop)
    returns = pl.DataFrame({"ts": ts, **{k: v[o:] for k, v in columns.items()}})
    own = {f: m[o:] for f, m in members.items()}
    r, w = ret[o:], weights[o:]
    totals = None
    y_parts: dict[str, LevelParts] = {}
    x_parts: dict[str, LevelParts] = {}
    if layout.leave_one_out:
        total, wsum = leave_one_out_totals(r, w)
        totals = np.concatenate([total, wsum], axis=1)
    finite = np.isfinite(r)
    for label, names in layout.factor_sets:
        x = returns.select(names).to_numpy().astype(np.float64)
        if layout.leave_one_out and totals is not None:
            x3 = leave_one_out_regressors(x, names, r, w, totals[:, :1], totals[:, 1:])
            vx = np.isfinite(x3).all(axis=2)
            x_parts[label] = LevelParts.of(x3, vx, layout.window, start)
        else:
            vx = np.isfinite(x).all(axis=1)[:, None]
            x_parts[label] = LevelParts.of(x[:, None, :], vx, layout.window, start)
        y_parts[label] = LevelParts.of(r, vx & finite, layout.window, start)
    mkt = columns["market"][o:]
    return FactorBlock(
        start, stop, returns, _memberships_frame(ts, layout.symbols, own), totals, y_parts,
        x_parts, _lookahead_pages(r, mkt, None if liq is None else liq[o:], layout.window),
        {f: np.stack([(m == b).sum(axis=0) for b in range(opts.n_buckets)], axis=1)
         for f, m in own.items()},
        {f: m[-1].copy() for f, m in own.items()},
        ret[a - first :] if layout.factor_sets else None,
        weights[a - first :] if layout.factor_sets and layout.leave_one_out else None)


def _lookahead_pages(ret: np.ndarray, mkt: np.ndarray, liq: np.ndarray | None,
                     page: int) -> dict[str, np.ndarray]:
    """Per page of ``page`` rows and coin: sums for the whole-sample bucket rules."""
    n_rows, n_sym = ret.shape
    n_pages = -(-n_rows // page)

    def per_page(v: np.ndarray) -> np.ndarray:
        out = np.zeros((n_pages, n_sym))
        for i in range(n_pages):
            out[i] = v[i * page : (i + 1) * page].sum(axis=0)
        return out

    ok = np.isfinite(ret) & np.isfinite(mkt)[:, None]
    r = np.where(ok, ret, 0.0)
    m = np.where(ok, mkt[:, None], 0.0)
    pages = {"r": per_page(r), "m": per_page(m), "rm": per_page(r * m),
             "mm": per_page(m * m), "n": per_page(ok.astype(np.float64))}
    if liq is not None:
        valid = np.isfinite(liq)
        pages["liq_sum"] = per_page(np.where(valid, liq, 0.0))
        pages["liq_n"] = per_page(valid.astype(np.float64))
    return pages


@dataclass(frozen=True)
class ExposureBlock:
    """What the exposure task of one (time block, coin block) returns.

    Attributes
    ----------
    start, stop : int
        Grid rows.
    cols : tuple of int
        Coin columns (indices into :attr:`Layout.symbols`).
    tables : dict of str to pl.DataFrame
        Per factor set, the fitted cells (:attr:`coinfactor.risk.ExposureResult.table`).
    daily : pl.DataFrame
        Per UTC day and coin of the first factor set, sums (and counts ``n_<column>``) of
        the finite ``alpha``, ``beta_<factor>``, ``rsquared``, ``rsquared_adj`` of the
        fitted bars, and ``bars`` (:func:`daily_means` combines blocks).
    pages : dict of str to dict of str to ndarray
        Per factor set, per statistic, shape (n_pages, len(cols)): sums over each page's
        fitted cells of ``rsquared``, ``rsquared_adj``, ``beta_market`` (with counts
        ``n_<name>`` of finite values), ``cells`` and ``deficient`` (rank below full).
    """

    start: int
    stop: int
    cols: tuple[int, ...]
    tables: dict[str, pl.DataFrame]
    pages: dict[str, dict[str, np.ndarray]]
    daily: pl.DataFrame


def exposure_block(layout: Layout, start: int, stop: int, cols: tuple[int, ...],
                   x: dict[str, np.ndarray], ret: np.ndarray, weights: np.ndarray | None,
                   totals: np.ndarray | None,
                   shifts: dict[str, tuple[np.ndarray, np.ndarray]]) -> ExposureBlock:
    """Fit the rolling exposures of coins ``cols`` on grid rows ``start:stop``.

    ``x`` holds each factor set's returns on rows ``aligned_start(start, window):stop``,
    ``ret`` the returns of coins ``cols`` on those rows (``weights`` their market weights,
    leave-one-out), ``totals`` the leave-one-out sums of those rows, ``shifts`` the level
    shifts per set (regressors, and every coin's) of the series up to ``stop``.
    """
    w = layout.window
    a = aligned_start(start, w)
    symbols = tuple(layout.symbols[c] for c in cols)
    ts = layout.ts(start, stop)
    tables: dict[str, pl.DataFrame] = {}
    pages: dict[str, dict[str, np.ndarray]] = {}
    idx = list(cols)
    # the sets without a table first: their fit is freed before the table's is made
    for label, names in sorted(layout.factor_sets, key=lambda s: s[0] in layout.tables):
        x_in = x[label]
        sx, sy = shifts[label]
        if weights is not None and totals is not None:
            x_in = leave_one_out_regressors(x_in, names, ret, weights, totals[:, :1],
                                            totals[:, 1:])
            sx = sx[idx]
        ols = rolling_ols(ret, x_in, w, min_nobs=layout.min_nobs, rank_tol=layout.rank_tol,
                          condition_number=layout.condition_number,
                          level_shifts=(sx, sy[idx]))
        if label in layout.tables:
            tables[label] = exposure_table(ts, symbols, ols, names,
                                           condition_number=layout.condition_number,
                                           skip=start - a)
        pages[label] = _fit_pages(ols, start - a, w, len(names))
        if label == layout.factor_sets[0][0]:
            daily = _daily_sums(ts, symbols, ols, start - a, names)
        del ols, x_in
    return ExposureBlock(start, stop, cols, tables, pages, daily)


_DAY_US = 86_400_000_000


def _daily_sums(ts: pl.Series, symbols: tuple[str, ...], ols: object, skip: int,
                names: tuple[str, ...]) -> pl.DataFrame:
    """Per UTC day and coin: sums and counts of the fit's finite values (rows in order)."""
    params = ols.params[skip:]  # type: ignore[attr-defined]
    rsq = ols.rsquared[skip:]  # type: ignore[attr-defined]
    fitted = np.isfinite(rsq) | np.isfinite(params[..., 0])
    values = {"alpha": params[..., 0],
              **{f"beta_{n}": params[..., j + 1] for j, n in enumerate(names)},
              "rsquared": rsq, "rsquared_adj": ols.rsquared_adj[skip:]}  # type: ignore[attr-defined]
    day = ts.dt.epoch("us").to_numpy() // _DAY_US
    cuts = np.flatnonzero(np.diff(day)) + 1
    starts = np.concatenate([[0], cuts])
    n_days, n_sym = starts.size, len(symbols)
    cols: dict[str, np.ndarray] = {}
    for name, v in values.items():
        ok = fitted & np.isfinite(v)
        cols[name] = np.add.reduceat(np.where(ok, v, 0.0), starts, axis=0).T.reshape(-1)
        cols[f"n_{name}"] = np.add.reduceat(ok.astype(np.int64), starts, axis=0).T.reshape(-1)
    bars = np.add.reduceat(fitted.astype(np.int64), starts, axis=0).T.reshape(-1)
    frame = pl.DataFrame({
        "ts": pl.Series(np.tile(day[starts] * _DAY_US, n_sym)).cast(pl.Datetime("us", "UTC")),
        "symbol": pl.Series(np.repeat(np.asarray(symbols, dtype=object), n_days),
                            dtype=pl.String),
        **cols, "bars": bars})
    return frame.filter(pl.col("bars") > 0)


def daily_means(parts: list[pl.DataFrame]) -> pl.DataFrame:
    """Combine :attr:`ExposureBlock.daily` sums (in the order given) into daily means.

    Returns
    -------
    pl.DataFrame
        ``ts`` (UTC day), ``symbol``, the mean of each summed column over the day's fitted
        bars (NaN without a finite value) and ``bars``; sorted by (symbol, ts).
    """
    frame = pl.concat([p.with_columns(_order=pl.lit(i)) for i, p in enumerate(parts)])
    frame = frame.sort("symbol", "ts", "_order")
    if frame.height == 0:
        return frame.drop("_order", *(c for c in frame.columns if c.startswith("n_")))
    starts = np.flatnonzero(frame.select(pl.struct("symbol", "ts").is_first_distinct())
                            .to_series().to_numpy())
    out: dict[str, Any] = {"ts": frame.get_column("ts").gather(starts),
                           "symbol": frame.get_column("symbol").gather(starts)}
    names = [c for c in frame.columns if c not in ("ts", "symbol", "bars", "_order")
             and not c.startswith("n_")]
    with np.errstate(invalid="ignore", divide="ignore"):
        for name in names:
            total = np.add.reduceat(frame.get_column(name).to_numpy(), starts)
            count = np.add.reduceat(frame.get_column(f"n_{name}").to_numpy(), starts)
            out[name] = np.where(count > 0, total / count, np.nan)
    out["bars"] = np.add.reduceat(frame.get_column("bars").to_numpy(), starts)
    return pl.DataFrame(out)


def _fit_pages(ols: object, skip: int, page: int, k: int) -> dict[str, np.ndarray]:
    """Per page and coin: sums and counts of the fit statistics of the fitted cells."""
    params = ols.params[skip:]  # type: ignore[attr-defined]
    rsq = ols.rsquared[skip:]  # type: ignore[attr-defined]
    fitted = np.isfinite(rsq) | np.isfinite(params[..., 0])
    values = {"rsquared": rsq, "rsquared_adj": ols.rsquared_adj[skip:],  # type: ignore[attr-defined]
              "beta_market": params[..., 1]}
    deficient = fitted & (ols.rank[skip:] < 1 + k)  # type: ignore[attr-defined]
    n_rows, n_sym = rsq.shape
    n_pages = -(-n_rows // page)
    out = {name: np.zeros((n_pages, n_sym)) for name in
           ("cells", "deficient", *values, *(f"n_{v}" for v in values))}
    for i in range(n_pages):
        rows = slice(i * page, (i + 1) * page)
        out["cells"][i] = fitted[rows].sum(axis=0)
        out["deficient"][i] = deficient[rows].sum(axis=0)
        for name, v in values.items():
            ok = fitted[rows] & np.isfinite(v[rows])
            out[name][i] = np.where(ok, v[rows], 0.0).sum(axis=0)
            out[f"n_{name}"][i] = ok.sum(axis=0)
    return out
