"""The regular grid of a panel: the one boundary between long frames and dense arrays.

Kernels work on dense ``(n_bars, n_symbols)`` float arrays, NaN for missing; frames stay long.
A :class:`Grid` is built once from a canonical panel and places every panel row on the
regular time axis of its bar frequency (first bar to last, one ``freq`` apart, so a bar
missing for every symbol is still a row) and the sorted symbols. :meth:`Grid.wide` pivots a
column onto it (a filler bar is never let through as a value) and :meth:`Grid.long` melts
arrays back into long frames: the only two conversions in the package.

Rows are placed by index arithmetic, not joins: the row of a time is ``(t - t0) // step``
and the column of a symbol its run's position in the sorted symbol column.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import polars as pl

from coinfactor.core.errors import ConfigError, DataError
from coinfactor.core.time import freq_to_timedelta, timedelta_to_freq
from coinfactor.data._schema import FILLED_COLUMN, TS_DTYPE, infer_freq, mode_step

__all__ = ["Grid", "shared_grid"]


@dataclass(frozen=True, eq=False)
class Grid:
    """A regular time axis x sorted symbols, and the cell of every row of one panel.

    Build it with :meth:`from_panel`; pass it with the panel to array kernels.

    Attributes
    ----------
    ts : pl.Series
        Time axis, ``Datetime("us", "UTC")``, strictly increasing, one ``freq`` apart;
        length ``n_bars``.
    freq : str
        Bar frequency (``"1h"``).
    symbols : tuple of str
        Symbol axis, sorted; length ``n_symbols``.
    rows, cols : ndarray of int32, shape (n_rows,)
        Grid row and column of each panel row; a row is off the grid where either is -1 (a
        symbol not on the axis, its column -1, or a time past the axis's end, its row -1,
        when the axes were chosen by the caller).
    filled : ndarray of bool, shape (n_rows,), or None
        True for panel rows flagged ``filled`` (filler bars, never used as values).

    Examples
    --------
    >>> from datetime import UTC, datetime
    >>> panel = pl.DataFrame({"ts": [datetime(2024, 1, d, tzinfo=UTC) for d in (1, 3)],
    ...                       "symbol": "A", "close": [1.0, 2.0]})
    >>> grid = Grid.from_panel(panel, "1d")
    >>> grid.shape, grid.wide(panel, "close").ravel().tolist()
    ((3, 1), [1.0, nan, 2.0])
    """

    ts: pl.Series
    freq: str
    symbols: tuple[str, ...]
    rows: np.ndarray
    cols: np.ndarray
    filled: np.ndarray | None
    keys: pl.DataFrame | None = field(default=None, repr=False)
    """The panel's ``ts, symbol`` columns (zero-copy), for :meth:`long`'s default rows."""

    @property
    def shape(self) -> tuple[int, int]:
        """``(n_bars, n_symbols)``."""
        return (self.ts.len(), len(self.symbols))

    @functools.cached_property
    def on_grid(self) -> np.ndarray:
        """Bool ``(n_rows,)``: the panel row has a cell on the grid."""
        return (self.rows >= 0) & (self.cols >= 0)

    @functools.cached_property
    def _all_on_grid(self) -> bool:
        return bool(self.on_grid.all())

    @property
    def cells(self) -> np.ndarray:
        """Flat index ``row * n_symbols + col`` of each panel row (-1 off the grid).

        Computed on each call, not kept: int64 per panel row is the largest array of a grid,
        and computing it costs less than one pivot's scatter.
        """
        flat = self.rows.astype(np.int64)
        flat *= len(self.symbols)
        flat += self.cols
        return flat if self._all_on_grid else np.where(self.on_grid, flat, -1)

    @functools.cached_property
    def bars(self) -> np.ndarray:
        """Bool ``(n_bars, n_symbols)``: the panel has a real (unfilled) bar there; read only."""
        keep = self.on_grid if self.filled is None else self.on_grid & ~self.filled
        return self._mask(keep)

    @functools.cached_property
    def filled_bars(self) -> np.ndarray:
        """Bool ``(n_bars, n_symbols)``: the panel has a filler bar there; read only."""
        keep = np.zeros(self.rows.size, dtype=bool) if self.filled is None else (
            self.on_grid & self.filled)
        return self._mask(keep)

    def _mask(self, keep: np.ndarray) -> np.ndarray:
        out = np.zeros(self.shape, dtype=bool)
        flat = out.reshape(-1)
        for lo, cells in self._cell_blocks():
            flat[cells[keep[lo:lo + cells.size]]] = True
        out.flags.writeable = False
        return out

    # -- construction -------------------------------------------------------------------------

    @classmethod
    def from_panel(
        cls,
        panel: pl.DataFrame,
        freq: str | None = None,
        *,
        symbols: Sequence[str] | None = None,
        end: datetime | None = None,
    ) -> Grid:
        """Place a panel's rows on the regular grid of its bar frequency.

        Parameters
        ----------
        panel : pl.DataFrame
            Canonical panel (``ts``, ``symbol``; ``filled`` if it has filler bars).
        freq : str, optional
            Bar frequency (default: inferred, :func:`coinfactor.data.infer_freq`'s rule).
        symbols : sequence of str, optional
            Symbol axis (default: the panel's sorted symbols). Rows of other symbols are
            off the grid.
        end : datetime, optional
            Extend (or cut) the axis to the last grid time ``<= end`` (default: the last
            bar), so that a panel cut at ``end`` has the same grid as the whole panel up to
            ``end``. Rows after it are off the grid.

        Returns
        -------
        Grid

        Raises
        ------
        DataError
            If a bar time is not on the grid anchored at the first bar (mixed bar offsets),
            or no frequency can be inferred.
        """
        shared = _SHARED.get()
        if (shared is not None and shared[0] is panel and symbols is None and end is None
                and (freq is None or shared[1].freq == freq)):
            return shared[1]
        ts = panel.get_column("ts") if "ts" in panel.columns else None
        codes = None
        if panel.height and ts is not None and ts.dtype == TS_DTYPE and not ts.null_count():
            codes = _sorted_symbol_codes(panel.get_column("symbol"))
        if codes is None or ts is None:
            return _from_unsorted(panel, freq if freq is not None else infer_freq(panel),
                                  symbols, end)
        t_int = ts.cast(pl.Int64).to_numpy()
        if freq is None:
            freq = _freq_from_codes(panel, t_int, codes[1])
        return _from_sorted(panel, freq, codes, t_int, symbols, end)

    @classmethod
    def on_axes(cls, ts: pl.Series, symbols: Sequence[str], freq: str = "") -> Grid:
        """Build a grid of given axes with no panel rows (to melt arrays computed elsewhere).

        Parameters
        ----------
        ts : pl.Series
            Time axis (length ``n_bars``; any dtype, e.g. bar numbers).
        symbols : sequence of str
            Symbol axis.
        freq : str, optional
            Bar frequency, if known.

        Notes
        -----
        For :meth:`long` and :meth:`frame` only: :meth:`locate` and :meth:`scatter` place
        times by arithmetic on a regular time axis.
        """
        empty = np.empty(0, dtype=np.int32)
        return cls(ts.alias("ts"), freq, tuple(symbols), empty, empty, None)

    # -- long <-> wide ------------------------------------------------------------------------

    def wide(self, panel: pl.DataFrame, column: str | pl.Expr, *,
             mask_filled: bool = True) -> np.ndarray:
        """Pivot a column or expression of the panel onto the grid.

        Parameters
        ----------
        panel : pl.DataFrame
            The panel the grid was built from (or a frame with the same rows in the same
            order).
        column : str or pl.Expr
            Column name, or an expression evaluated on the panel's rows (cast to Float64).
        mask_filled : bool, default True
            Set the values of filler bars to NaN, so a filler bar is never used as a price.

        Returns
        -------
        ndarray of float64, shape (n_bars, n_symbols)
            NaN where the panel has no row, the value is null, or the bar is a filler bar.
        """
        if panel.height != self.rows.size:
            raise DataError(
                f"Grid.wide: expected the grid's panel ({self.rows.size} rows), got a frame of "
                f"{panel.height} rows", fix="build the grid from this panel (Grid.from_panel)")
        if isinstance(column, str) and column not in panel.columns:
            raise DataError(f"expected column {column!r} in the panel, got {panel.columns}",
                            column=column, fix="compute or attach the column first")
        col = panel.get_column(column) if isinstance(column, str) else None
        if col is not None and col.dtype == pl.Float64 and not col.null_count():
            v = col  # already what the expression gives: no query
        else:
            expr = pl.col(column) if isinstance(column, str) else column
            v = panel.select(expr.cast(pl.Float64).fill_null(np.nan).alias("v")).get_column("v")
        out = np.full(self.shape, np.nan)
        flat = out.reshape(-1)
        values = v.to_numpy()
        mask = self.filled if mask_filled else None
        # the cells of a block of rows at a time (int64 per panel row is as large as a
        # pivot), each placed in the panel's order
        for lo, cells in self._cell_blocks():
            hi = lo + cells.size
            if self._all_on_grid:
                flat[cells] = values[lo:hi]
            else:
                ok = cells >= 0
                flat[cells[ok]] = values[lo:hi][ok]
            if mask is not None:
                flat[cells[mask[lo:hi] & (cells >= 0)]] = np.nan
        return out

    def _cell_blocks(self, block: int = 1 << 20) -> Iterator[tuple[int, np.ndarray]]:
        """``(first row, cells)`` of the panel rows in blocks of ``block`` rows (:attr:`cells`)."""
        n_sym = len(self.symbols)
        for lo in range(0, self.rows.size, block):
            rows, cols = self.rows[lo:lo + block], self.cols[lo:lo + block]
            flat = rows.astype(np.int64)
            flat *= n_sym
            flat += cols
            yield lo, flat if self._all_on_grid else np.where((rows >= 0) & (cols >= 0), flat, -1)

    def long(self, arrays: Mapping[str, np.ndarray], *,
             where: np.ndarray | None = None, order: str = "symbol") -> pl.DataFrame:
        """Melt ``(n_bars, n_symbols)`` arrays into a long frame ``ts, symbol, <names>``.

        Parameters
        ----------
        arrays : mapping of str to ndarray of shape (n_bars, n_symbols)
            Output columns (floats as Float64, integer and bool arrays keep their type); with
            the default rows, NaN and infinite values come out as null.
        where : ndarray of bool, shape (n_bars, n_symbols), optional
            Cells to output. Default: exactly the panel's rows (on the grid), in the
            panel's order: a signal's output.
        order : {"symbol", "ts"}, default "symbol"
            With ``where``: rows sorted by (symbol, ts) (canonical) or by (ts, symbol).

        Returns
        -------
        pl.DataFrame
        """
        for name, values in arrays.items():
            if values.shape != self.shape:
                raise DataError(
                    f"Grid.long: {name!r} has shape {values.shape}, expected the grid's "
                    f"{self.shape} (n_bars, n_symbols)", fix="pass arrays on this grid")
        if where is None:
            if self.keys is not None and self._all_on_grid:
                return self.keys.with_columns(
                    pl.Series(n, _finite(np.ravel(v)[self.cells]),
                              dtype=pl.Float64).fill_nan(None)
                    for n, v in arrays.items())
            cells = self.cells if self._all_on_grid else self.cells[self.on_grid]
            i = cells // max(len(self.symbols), 1)
            j = cells - i * len(self.symbols)
            return self.frame(i, j, {n: np.take(np.ravel(v), cells) for n, v in arrays.items()},
                              finite=True)
        if order not in ("symbol", "ts"):
            raise ConfigError(f"Grid.long: order must be 'symbol' or 'ts', got {order!r}")
        if order == "symbol":  # symbol-major cells: one scan of a contiguous transpose
            by_symbol = np.flatnonzero(np.ascontiguousarray(where.T))
            j, i = np.divmod(by_symbol, self.shape[0]) if self.shape[0] else (by_symbol,) * 2
        else:
            i, j = np.nonzero(where)
        flat = i * self.shape[1] + j
        return self.frame(i, j, {n: np.take(np.ravel(v), flat) for n, v in arrays.items()})

    def frame(self, i: np.ndarray, j: np.ndarray, columns: Mapping[str, np.ndarray], *,
              finite: bool = False) -> pl.DataFrame:
        """Long frame ``ts, symbol, <columns>`` of cells ``(i, j)`` with one value each.

        Parameters
        ----------
        i, j : ndarray of int, shape (n,)
            Row and column of each output row.
        columns : mapping of str to ndarray of shape (n,)
            Values, in the order of ``i`` and ``j`` (floats as Float64; integer and bool
            arrays keep their type).
        finite : bool, default False
            Write NaN and infinite values as null (otherwise kept as they are).
        """
        data: dict[str, pl.Series] = {
            "ts": self.ts.gather(pl.Series(i, dtype=pl.UInt32)) if i.size else self.ts.clear(),
            # gathering from the symbols' Series copies no Python strings
            "symbol": pl.Series("symbol", self.symbols, dtype=pl.String).gather(
                pl.Series(j, dtype=pl.UInt32)),
        }
        for name, values in columns.items():
            if values.dtype.kind in "biu":  # flags and counts keep their type
                data[name] = pl.Series(name, values)
                continue
            v = np.asarray(values, dtype=np.float64)
            if finite:
                data[name] = pl.Series(name, _finite(v), dtype=pl.Float64).fill_nan(None)
            else:
                data[name] = pl.Series(name, v, dtype=pl.Float64)
        return pl.DataFrame(data)

    def locate(self, frame: pl.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Row and column on this grid of each row of another frame (``ts``, ``symbol``).

        Returns
        -------
        rows, cols : ndarray of int64, shape (n,)
            Grid row and column (-1 where off the grid).
        on_grid : ndarray of bool, shape (n,)
            Rows whose ts is a grid time and whose symbol is on the axis.
        """
        t = frame.get_column("ts").cast(TS_DTYPE).cast(pl.Int64).to_numpy()
        i, ok_t = _time_rows(self.ts.cast(pl.Int64).to_numpy(), t)
        j = _symbol_index(frame.get_column("symbol"), self.symbols)
        ok = ok_t & (j >= 0)
        return np.where(ok, i, -1), np.where(ok, j, -1), ok

    def scatter(self, frame: pl.DataFrame, column: str) -> np.ndarray:
        """Dense array of another frame's ``column`` (rows off the grid dropped, NaN elsewhere).

        For frames that are not the grid's panel (weights, spreads); at most one row per cell.
        """
        i, j, ok = self.locate(frame)
        v = frame.get_column(column).cast(pl.Float64).fill_null(np.nan).to_numpy()
        out = np.full(self.shape[0] * self.shape[1], np.nan)
        out[(i * self.shape[1] + j)[ok]] = v[ok]
        return out.reshape(self.shape)

    def slice(self, start: int, stop: int | None = None) -> Grid:
        """Return the grid of axis rows ``start:stop`` (same symbols); other rows are off it."""
        if start == 0 and (stop is None or stop >= self.ts.len()):
            return self  # the whole axis: no copy of the row index
        ts = self.ts[start:stop]
        rows = self.rows - start
        rows = np.where((rows >= 0) & (rows < ts.len()), rows, -1)
        return Grid(ts, self.freq, self.symbols, rows, self.cols, self.filled)

    def subset(self, symbols: Sequence[str]) -> Grid:
        """Return this grid on another symbol axis (rows of other symbols are off it).

        The same as ``Grid.from_panel(panel, freq, symbols=symbols)`` for the grid's panel,
        without reading the panel again.
        """
        if tuple(symbols) == self.symbols:
            return self  # the same axis: no copy of the row and column index
        sym, cols = _restrict(self.symbols, self.cols, symbols)
        # the row index is shared: a row whose column is -1 is off the grid
        return Grid(self.ts, self.freq, sym, self.rows, cols, self.filled, self.keys)

    def has_duplicates(self, rows: np.ndarray, cols: np.ndarray) -> bool:
        """Whether two of the cells ``(rows, cols)`` (from :meth:`locate`, on the grid) coincide.

        O(rows + cells), no sort.
        """
        if rows.size == 0:
            return False
        flat = rows.astype(np.int64) * max(len(self.symbols), 1) + cols
        return bool((np.bincount(flat) > 1).any())

    def row_at(self, at: datetime) -> int:
        """Row of the last grid time ``<= at``."""
        stamp = pl.Series([at]).cast(TS_DTYPE)[0]
        idx = int(self.ts.search_sorted(stamp, side="right")) - 1
        if idx < 0:
            raise DataError(f"no bar at or before {at}; the grid starts at {self.ts[0]}",
                            fix="ask for a later time")
        return idx

    def column(self, symbol: str) -> int:
        """Column of a symbol."""
        try:
            return self.symbols.index(symbol)
        except ValueError:
            raise DataError(
                f"symbol {symbol!r} is not in the panel; it has {len(self.symbols)} symbols, "
                f"e.g. {list(self.symbols[:5])}",
                fix="check the symbol name (case-sensitive, venue id)",
            ) from None


_SHARED: ContextVar[tuple[pl.DataFrame, Grid] | None] = ContextVar(
    "coinfactor_shared_grid", default=None)


@contextmanager
def shared_grid(panel: pl.DataFrame, freq: str | None = None) -> Iterator[Grid]:
    """Build ``Grid.from_panel(panel, freq)`` once and reuse it for this very frame in the block.

    For callers that compute several signals of one panel in a row: inside the ``with``
    block, :meth:`Grid.from_panel` on the same frame object (same ``freq`` or none, default
    axes) returns this grid instead of building it again.
    """
    grid = Grid.from_panel(panel, freq)
    token = _SHARED.set((panel, grid))
    try:
        yield grid
    finally:
        _SHARED.reset(token)


# -- building blocks ------------------------------------------------------------------------


def _finite(v: np.ndarray) -> np.ndarray:
    """``v`` with infinite values as NaN (written as null)."""
    return np.where(np.isfinite(v), v, np.nan)


def _freq_from_codes(panel: pl.DataFrame, t_int: np.ndarray, cols: np.ndarray) -> str:
    """Most common positive step between consecutive bars of one symbol (infer_freq's rule)."""
    d = np.diff(t_int)
    steps = d[(cols[1:] == cols[:-1]) & (d > 0)]
    if steps.size == 0:
        return infer_freq(panel)  # raises: no symbol has two bars
    return timedelta_to_freq(mode_step(pl.Series("step", steps).cast(pl.Duration("us"))))


def _step_us(freq: str) -> int:
    step = freq_to_timedelta(freq) // timedelta(microseconds=1)
    if step <= 0:
        raise ConfigError(f"expected a positive bar frequency, got {freq!r}")
    return int(step)


def _axis(first: int, last: int, step: int) -> pl.Series:
    return pl.Series("ts", np.arange(first, last + 1, step, dtype=np.int64)).cast(TS_DTYPE)


def _end_us(end: datetime | None, first: int, last: int, step: int) -> int:
    """Last axis time: the last bar, or the last grid time ``<= end``."""
    if end is None:
        return last
    e = int(pl.Series([end]).cast(TS_DTYPE).cast(pl.Int64)[0])
    return first + ((e - first) // step) * step


def _time_rows_of(t_int: np.ndarray, freq: str, end: datetime | None
                  ) -> tuple[pl.Series, np.ndarray]:
    """Return the regular axis from the first time (to the last, or ``end``) and each row.

    Raises the off-grid error when a time is not ``first + k * step``; times after the
    axis's end get row -1.
    """
    step = _step_us(freq)
    first, last = int(t_int.min()), int(t_int.max())
    stop = _end_us(end, first, last, step)
    offset = t_int - first
    rows = (offset // step).astype(np.int32)  # < 2**31 bars: an axis longer fails in _axis
    offset %= step
    if offset.any():
        _off_grid(freq, first, int(np.count_nonzero(offset)))
    del offset
    if stop < last:
        rows = np.where(t_int <= stop, rows, -1)
    return _axis(first, stop, step), rows


def _from_sorted(panel: pl.DataFrame, freq: str, codes: tuple[tuple[str, ...], np.ndarray],
                 t_int: np.ndarray, symbols: Sequence[str] | None,
                 end: datetime | None) -> Grid:
    """Build the grid of a panel sorted by symbol, from its times in microseconds."""
    sym, cols = codes
    axis, rows = _time_rows_of(t_int, freq, end)
    if symbols is not None:
        sym, cols = _restrict(sym, cols, symbols)
    return _made(panel, freq, axis, sym, rows, cols)


def _from_unsorted(panel: pl.DataFrame, freq: str, symbols: Sequence[str] | None,
                   end: datetime | None) -> Grid:
    """Build the grid of any frame with ``ts`` and ``symbol`` (the general, slower path)."""
    if panel.height == 0:
        empty = np.empty(0, dtype=np.int32)
        return Grid(pl.Series("ts", [], dtype=TS_DTYPE), freq,
                    tuple(symbols) if symbols is not None else (), empty, empty, None)
    _step_us(freq)  # a bad frequency is named before anything else
    t_int = panel.get_column("ts").cast(TS_DTYPE).cast(pl.Int64).to_numpy()
    axis, rows = _time_rows_of(t_int, freq, end)
    sym = (tuple(symbols) if symbols is not None
           else tuple(panel.get_column("symbol").unique().sort().to_list()))
    cols = _symbol_index(panel.get_column("symbol"), sym)
    return _made(panel, freq, axis, sym, rows, cols)


def _made(panel: pl.DataFrame, freq: str, axis: pl.Series, symbols: tuple[str, ...],
          rows: np.ndarray, cols: np.ndarray) -> Grid:
    filled = None
    if FILLED_COLUMN in panel.columns:
        filled = panel.get_column(FILLED_COLUMN).fill_null(False).to_numpy().astype(bool)
    rows, cols = rows.astype(np.int32, copy=False), cols.astype(np.int32, copy=False)
    off = (rows < 0) | (cols < 0)
    if off.any():
        rows, cols = np.where(off, -1, rows), np.where(off, -1, cols)
    keys = panel.select("ts", "symbol") if panel.schema["ts"] == TS_DTYPE else None
    return Grid(axis, freq, symbols, rows, cols, filled, keys)


def _off_grid(freq: str, first: int, n_off: int) -> None:
    anchor = pl.Series([first]).cast(TS_DTYPE)[0]
    raise DataError(
        f"expected every bar on one {freq} grid anchored at {anchor}, found {n_off} bar(s) "
        "off it",
        column="ts",
        fix="resample the panel (coinfactor.data.resample) or pass the right freq=",
    )


def _restrict(sym: tuple[str, ...], cols: np.ndarray,
              symbols: Sequence[str]) -> tuple[tuple[str, ...], np.ndarray]:
    """Re-map symbol codes onto a caller's symbol axis (-1 for symbols not on it, or off)."""
    wanted = tuple(symbols)
    pos = {s: n for n, s in enumerate(wanted)}
    # one slot more: code -1 (a row already off the axis) stays -1
    remap = np.array([*(pos.get(s, -1) for s in sym), -1], dtype=np.int32)
    return wanted, remap[cols] if cols.size else cols


def _time_rows(axis_int: np.ndarray, t_int: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row of each time on a sorted axis and whether it is a value of the axis."""
    if axis_int.size == 0:
        return np.zeros(t_int.size, dtype=np.int64), np.zeros(t_int.size, dtype=bool)
    if axis_int.size >= 2:
        step = axis_int[1] - axis_int[0]
        i = (t_int - axis_int[0]) // step
    else:
        i = np.searchsorted(axis_int, t_int)
    i_c = np.clip(i, 0, axis_int.size - 1)
    return i, (i >= 0) & (i < axis_int.size) & (axis_int[i_c] == t_int)


def _sorted_symbol_codes(col: pl.Series) -> tuple[tuple[str, ...], np.ndarray] | None:
    """Sorted unique symbols and each row's position among them, for a sorted column.

    One run-length encoding: when the runs' values are strictly increasing (the column is
    sorted, as in a canonical panel), they are the sorted unique symbols and each row's code
    is its run's index. Returns None otherwise (unsorted, or nulls).
    """
    if col.len() == 0 or col.null_count():
        return None
    runs = col.rle()
    values = runs.struct.field("value").to_list()
    if any(a >= b for a, b in itertools.pairwise(values)):
        return None
    lengths = runs.struct.field("len").to_numpy()
    return tuple(values), np.repeat(np.arange(len(values), dtype=np.int32), lengths)


def _symbol_index(col: pl.Series, symbols: tuple[str, ...]) -> np.ndarray:
    """Position of each value of a String column in ``symbols`` (unique), -1 if absent."""
    if col.len() == 0:
        return np.empty(0, dtype=np.int64)
    lookup = {s: n for n, s in enumerate(symbols)}
    if col.null_count() == 0 and col.is_sorted():
        runs = col.rle()
        values = runs.struct.field("value").to_list()
        codes = np.fromiter((lookup.get(v, -1) for v in values), dtype=np.int64,
                            count=len(values))
        return np.repeat(codes, runs.struct.field("len").to_numpy())
    if len(lookup) == len(symbols):
        try:
            return (col.cast(pl.Enum(list(symbols))).to_physical().cast(pl.Int64)
                    .fill_null(-1).to_numpy())
        except pl.exceptions.PolarsError:  # a value not in symbols
            pass
    return col.replace_strict(list(symbols), list(range(len(symbols))), default=-1,
                              return_dtype=pl.Int64).to_numpy()
