"""Shared machinery of the signals: a regular time grid, wide arrays and rolling window sums.

Window rule (every rolling signal): a window of ``w`` bars at ``ts`` covers the ``w`` bars of
the regular grid ``ts - (w - 1) * freq, ..., ts``; missing bars (gaps, bars before listing,
filled bars, null inputs) are missing values. The statistic is computed from the values
present and is defined only when at least ``min_periods`` of them are present
(``min_periods=None`` means ``w``: every bar of the window must be there).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import polars as pl

from coinfactor.core.errors import ConfigError, DataError
from coinfactor.core.time import freq_to_timedelta, periods_per_year, timedelta_to_freq
from coinfactor.data import Wide, infer_freq
from coinfactor.data._grid import cell_index as grid_cell_index
from coinfactor.data._grid import sorted_symbol_codes, time_cells
from coinfactor.data._schema import FILLED_COLUMN, TS_DTYPE, mode_step
from coinfactor.rolling._sums import trailing_window_sums


def resolve_freq(panel: pl.DataFrame, freq: str | None) -> str:
    """Return ``freq`` or the panel's inferred bar frequency."""
    return infer_freq(panel) if freq is None else freq


@dataclass(frozen=True)
class Layout:
    """Where each panel row sits in the dense ``(n_bars, n_symbols)`` grid.

    Attributes
    ----------
    axis : pl.Series
        Regular time axis, first to last bar of the panel at the bar frequency.
    symbols : tuple of str
        Sorted unique symbols.
    rows, cols : ndarray of shape (n_rows,)
        Grid row and column of each panel row.
    filled : ndarray of shape (n_rows,) or None
        True for bars flagged ``filled`` (never used as values).
    """

    axis: pl.Series
    symbols: tuple[str, ...]
    rows: np.ndarray
    cols: np.ndarray
    filled: np.ndarray | None

    @property
    def shape(self) -> tuple[int, int]:
        """``(n_bars, n_symbols)``."""
        return (self.axis.len(), len(self.symbols))

    @functools.cached_property
    def cells(self) -> np.ndarray:
        """Flat grid index ``row * n_symbols + col`` of each panel row (computed once)."""
        return self.rows * len(self.symbols) + self.cols

    @functools.cached_property
    def bars(self) -> np.ndarray:
        """Bool ``(n_bars, n_symbols)``: the panel has an unfilled bar there (read only)."""
        out = np.zeros(self.shape, dtype=bool)
        cells = self.cells if self.filled is None else self.cells[~self.filled]
        out.reshape(-1)[cells] = True
        out.flags.writeable = False
        return out


_SHARED: ContextVar[tuple[pl.DataFrame, str, Layout] | None] = ContextVar(
    "coinfactor_shared_layout", default=None)


@contextmanager
def shared_layout(panel: pl.DataFrame, freq: str) -> Iterator[Layout]:
    """Compute ``layout(panel, freq)`` once and reuse it for this very frame inside the block.

    For callers that compute several signals of one panel in a row (the layout is the same
    for each; finding it is most of a short signal's time). Only the same frame object with
    the same ``freq`` reuses it, and only inside the ``with`` block.
    """
    lay = layout(panel, freq)
    token = _SHARED.set((panel, freq, lay))
    try:
        yield lay
    finally:
        _SHARED.reset(token)


def layout(panel: pl.DataFrame, freq: str) -> Layout:
    """Place the panel's rows on the regular grid of its bar frequency.

    The grid every signal is computed on: rows are the bars from the panel's first to its
    last ts, one ``freq`` apart; columns are the sorted symbols. Compute it once and pass it
    to :func:`wide` and the array kernels (``universe.volume_decile_wide``, ...).

    Parameters
    ----------
    panel : pl.DataFrame
        Canonical panel.
    freq : str
        Bar frequency (``"1d"``).

    Returns
    -------
    Layout
        Axis, symbols and the grid cell of every panel row.

    Raises
    ------
    DataError
        If a bar time is not on the grid anchored at the first bar (mixed bar offsets).
    """
    shared = _SHARED.get()
    if shared is not None and shared[0] is panel and shared[1] == freq:
        return shared[2]
    if panel.height == 0:
        empty = np.empty(0, dtype=np.int64)
        return Layout(pl.Series("ts", [], dtype=TS_DTYPE), (), empty, empty, None)
    ts = panel.get_column("ts")
    codes = sorted_symbol_codes(panel.get_column("symbol"))  # canonical: sorted by symbol
    if codes is not None and ts.dtype == TS_DTYPE and not ts.null_count():
        return _layout_sorted(panel, freq, codes, ts.cast(pl.Int64).to_numpy())
    step = freq_to_timedelta(freq)
    first = ts.min()
    last = ts.max()
    assert isinstance(first, datetime) and isinstance(last, datetime)
    axis = pl.Series(
        "ts", pl.datetime_range(first, last, interval=step, eager=True, time_zone="UTC")
    ).cast(TS_DTYPE)
    if codes is not None:
        symbols, cols = codes
        rows, on_grid = time_cells(ts, axis)
        rows = np.where(on_grid, rows, -1)
    else:
        symbols = tuple(panel.get_column("symbol").unique().sort().to_list())
        rows, cols, on_grid = grid_cell_index(panel, axis, symbols)
    return _checked_layout(panel, freq, axis, symbols, rows, cols, on_grid)


def _layout_sorted(panel: pl.DataFrame, freq: str,
                   codes: tuple[tuple[str, ...], np.ndarray], t_int: np.ndarray) -> Layout:
    """:func:`layout` of a panel sorted by symbol, from its times in microseconds.

    The axis is ``first + k * step`` (``k = 0 ..``) up to the last time, a row's grid row is
    ``(t - first) // step`` and it is on the grid when that row's time is ``t``.
    """
    symbols, cols = codes
    step = freq_to_timedelta(freq) // timedelta(microseconds=1)
    if step <= 0:
        raise ConfigError(f"expected a positive bar frequency, got {freq!r}")
    first, last = int(t_int.min()), int(t_int.max())
    axis = pl.Series("ts", np.arange(first, last + 1, step, dtype=np.int64)).cast(TS_DTYPE)
    rows = t_int - first
    rows //= step
    on_grid = rows * step + first == t_int
    if not on_grid.all():
        rows = np.where(on_grid, rows, -1)
    return _checked_layout(panel, freq, axis, symbols, rows, cols, on_grid)


def _checked_layout(panel: pl.DataFrame, freq: str, axis: pl.Series, symbols: tuple[str, ...],
                    rows: np.ndarray, cols: np.ndarray, on_grid: np.ndarray) -> Layout:
    """Return the :class:`Layout`, or raise the off-grid error."""
    if not on_grid.all():
        raise DataError(
            f"expected every bar on one {freq} grid anchored at {axis[0]}, found "
            f"{int((~on_grid).sum())} bar(s) off it",
            column="ts",
            fix="resample the panel (coinfactor.data.resample) or pass the right freq=",
        )
    filled = None
    if FILLED_COLUMN in panel.columns:
        filled = panel.get_column(FILLED_COLUMN).fill_null(False).to_numpy().astype(bool)
    return Layout(axis, symbols, rows, cols, filled)


def infer_layout(panel: pl.DataFrame) -> tuple[str, Layout]:
    """``infer_freq(panel)`` and ``layout(panel, freq)``, reading times and symbols once.

    For a canonical panel (sorted by symbol, microsecond UTC times) the steps between
    consecutive bars of one symbol are taken from the same integer times and symbol codes
    that place the rows on the grid; the frequency is their most common positive value
    (:func:`coinfactor.data.infer_freq`'s rule, smallest on a tie). Other panels take the two
    calls.

    Parameters
    ----------
    panel : pl.DataFrame
        Canonical panel.

    Returns
    -------
    freq : str
        Bar frequency, as :func:`coinfactor.data.infer_freq`.
    layout : Layout
        As :func:`layout` ``(panel, freq)``.

    Raises
    ------
    DataError
        As :func:`coinfactor.data.infer_freq` and :func:`layout`.
    """
    ts = panel.get_column("ts") if "ts" in panel.columns else None
    codes = None
    if panel.height and ts is not None and ts.dtype == TS_DTYPE and not ts.null_count():
        codes = sorted_symbol_codes(panel.get_column("symbol"))
    if codes is None or ts is None:
        f = infer_freq(panel)
        return f, layout(panel, f)
    t_int = ts.cast(pl.Int64).to_numpy()
    d = np.diff(t_int)
    cols = codes[1]
    steps = d[(cols[1:] == cols[:-1]) & (d > 0)]
    if steps.size == 0:
        f = infer_freq(panel)  # raises: no symbol has two bars
        return f, layout(panel, f)
    f = timedelta_to_freq(mode_step(pl.Series("step", steps).cast(pl.Duration("us"))))
    shared = _SHARED.get()
    if shared is not None and shared[0] is panel and shared[1] == f:
        return f, shared[2]
    return f, _layout_sorted(panel, f, codes, t_int)


def wide(panel: pl.DataFrame, column: str | pl.Expr, lay: Layout) -> Wide:
    """Pivot a column or expression of the panel onto the grid (NaN missing, fillers masked).

    Parameters
    ----------
    panel : pl.DataFrame
        The panel ``lay`` was computed from (or a frame with the same rows in the same order).
    column : str or pl.Expr
        Column name or expression evaluated on the panel's rows (cast to Float64).
    lay : Layout
        The panel's grid (:func:`layout`).

    Returns
    -------
    Wide
        ``values`` of shape ``(n_bars, n_symbols)``: NaN where the panel has no row, the value
        is null, or the bar is a filled bar.
    """
    expr = pl.col(column) if isinstance(column, str) else column
    if isinstance(column, str) and column not in panel.columns:
        raise DataError(
            f"expected column {column!r} in the panel, got {panel.columns}",
            column=column,
            fix="compute or attach the column first",
        )
    col = panel.get_column(column) if isinstance(column, str) else None
    if col is not None and col.dtype == pl.Float64 and not col.null_count():
        v = col  # already what the expression gives: no query
    else:
        v = panel.select(expr.cast(pl.Float64).fill_null(np.nan).alias("v")).get_column("v")
    out = np.full(lay.shape, np.nan)
    flat = out.reshape(-1)
    flat[lay.cells] = v.to_numpy()
    if lay.filled is not None:
        flat[lay.cells[lay.filled]] = np.nan
    return Wide(values=out, ts=lay.axis, symbols=lay.symbols,
                name=column if isinstance(column, str) else "value")


def check_window(window: int, name: str = "window") -> int:
    """Validate a window length in bars."""
    if isinstance(window, bool) or not isinstance(window, int) or window < 1:
        raise ConfigError(f"expected {name} to be a whole number of bars >= 1, got {window!r}")
    return window


def min_count(window: int, min_periods: int | None) -> int:
    """Resolve ``min_periods`` (None -> ``window``) and check ``1 <= min_periods <= window``."""
    if min_periods is None:
        return window
    if isinstance(min_periods, bool) or not isinstance(min_periods, int) or not (
        1 <= min_periods <= window
    ):
        raise ConfigError(
            f"expected min_periods in 1..window={window} (or None for a full window), "
            f"got {min_periods!r}"
        )
    return min_periods


def shift(x: np.ndarray, k: int) -> np.ndarray:
    """Shift rows down by ``k >= 0`` (``out[t] = x[t - k]``), NaN-filled; up when ``k < 0``."""
    out = np.full_like(x, np.nan)
    if k == 0:
        out[:] = x
    elif k > 0 and k < x.shape[0]:
        out[k:] = x[:-k]
    elif k < 0 and -k < x.shape[0]:
        out[:k] = x[-k:]
    return out


_BLOCK = 4096  # rows per prefix-sum block (bounds the rounding of long histories)
_DIRECT_MAX = 128  # windows up to this many rows are summed directly (no cancellation)


def rolling_sum(x: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Trailing window sums and counts of the finite values of ``x`` along axis 0.

    Windows of up to 128 rows are summed directly (one vectorised add per lag), so a sum only
    carries the rounding of its own ``window`` values. Longer windows use prefix sums restarted
    every ``max(4096, window)`` rows (each block's prefix starts ``window`` rows before the
    block): their absolute error is about ``eps`` times the largest partial sum of the block,
    which matters only when a window's values are many orders of magnitude below values that
    left it. Either way the value at row ``t`` depends on rows ``<= t`` only and is
    bit-identical on a truncated array.

    Parameters
    ----------
    x : ndarray of shape (n_bars, n_symbols)
        Values, NaN missing.
    window : int
        Window length in rows.

    Returns
    -------
    sums, counts : ndarray of shape (n_bars, n_symbols)
        Sum of the finite values in rows ``t - window + 1 .. t`` and how many there are.
    """
    sums, counts = _window_sums(x, window)
    return sums, counts.astype(np.int64, copy=False)


_ROW_BLOCK = 128  # rows per block of the direct sums (source and sums stay in cache)


def _window_sums(x: np.ndarray, window: int, *, overwrite: bool = False
                 ) -> tuple[np.ndarray, np.ndarray]:
    """:func:`rolling_sum` with the counts in the smallest exact integer type used.

    ``overwrite=True`` lets the direct sums zero the missing values of ``x`` in place and
    read it as their source (a float64 array the caller no longer needs).
    """
    if window <= _DIRECT_MAX:
        ok = np.isfinite(x)
        if overwrite:
            xz = x
            np.copyto(xz, 0.0, where=~ok)
            sums = xz.copy()
        else:
            sums = np.where(ok, x, 0.0)
            xz = sums.copy()
        n = x.shape[0]
        # sums[t] = x[t] + x[t-1] + ... + x[t-window+1], added in that order; in blocks of
        # rows so that each block's rows and their look-back stay in cache across the lags
        for a in range(0, n, _ROW_BLOCK):
            b = min(n, a + _ROW_BLOCK)
            blk = sums[a:b]
            for lag in range(1, min(window, b)):
                lo = max(a, lag)
                blk[lo - a:] += xz[lo - lag: b - lag]
        if window <= 32:  # a few small integer adds beat a 64-bit prefix sum (exact either way)
            ok8 = ok.view(np.uint8)
            c16 = ok8.astype(np.int16)
            for lag in range(1, min(window, n)):
                c16[lag:] += ok8[:-lag]
            return sums, c16
        cc = np.cumsum(ok, axis=0, dtype=np.int64)  # integer prefix sums are exact
        counts = cc.copy()
        if window < n:
            counts[window:] -= cc[:-window]
        return sums, counts
    ok = np.isfinite(x)
    xz = np.where(ok, x, 0.0)
    n = x.shape[0]
    sums = np.empty_like(xz)
    counts = np.empty(x.shape, dtype=np.int64)
    block = max(_BLOCK, window)
    for start in range(0, n, block):
        lo, hi = max(0, start - window), min(n, start + block)
        a = start - lo  # local row of the block's first output
        first = max(a, window)  # first local row with a full look-back inside the segment
        for src, dst in ((xz, sums), (ok, counts)):
            cs = np.cumsum(src[lo:hi], axis=0, dtype=dst.dtype)
            out = dst[start:hi]
            out[:] = cs[a:]
            if first < hi - lo:
                out[first - a:] -= cs[first - window: hi - lo - window]
    return sums, counts


def rolling_mean(x: np.ndarray, window: int, min_periods: int, *,
                 overwrite: bool = False) -> np.ndarray:
    """Trailing mean of the finite values, NaN where fewer than ``min_periods`` are present.

    ``overwrite=True``: ``x`` (float64) may be used as scratch space and is clobbered.
    """
    sums, counts = _window_sums(x, window, overwrite=overwrite)
    with np.errstate(invalid="ignore", divide="ignore"):
        np.divide(sums, counts, out=sums)  # small integer counts convert exactly
    np.copyto(sums, np.nan, where=counts < min_periods)
    return sums


def blocked_rolling_mean(x: np.ndarray, window: int, min_periods: int) -> np.ndarray:
    """Trailing mean of the finite values in O(1) per cell, computed in ``x`` (float64).

    :func:`rolling_mean` from prefix sums that restart every ``window`` rows, counted from
    the first row (see ``coinfactor.rolling._sums.trailing_window_sums``): every window sum
    is formed from at most
    ``2 * window`` terms wherever it sits, so rounding does not grow with the series, and a
    row's value depends on rows ``<= t`` only (bit-identical on a truncated array). It may
    differ from :func:`rolling_mean`'s in the last bits; its absolute error is about ``eps``
    times the largest sum over two blocks, which matters only when a window's values are many
    orders of magnitude below values of the ``window`` rows before it. Counts are exact.

    Parameters
    ----------
    x : ndarray of float64, shape (n_bars, n_symbols)
        Values, NaN (or infinite) missing; overwritten by the result.
    window : int
        Window length in rows (``<= 32767``).
    min_periods : int
        Finite values required in the window.

    Returns
    -------
    ndarray of shape (n_bars, n_symbols)
        ``x``: the mean of the finite values in rows ``t - window + 1 .. t``; NaN where fewer
        than ``min_periods`` are present.
    """
    ok = np.isfinite(x)
    np.copyto(x, 0.0, where=~ok)
    counts = trailing_window_sums(ok.astype(np.int16), window)  # small integers: exact
    sums = trailing_window_sums(x, window)
    with np.errstate(invalid="ignore", divide="ignore"):
        np.divide(sums, counts, out=sums)
    np.copyto(sums, np.nan, where=counts < min_periods)
    return sums


def log_returns(close: np.ndarray) -> np.ndarray:
    """``log(close[t] / close[t-1])`` on the grid; NaN when either bar is missing."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.log(close / shift(close, 1))


def simple_returns(close: np.ndarray) -> np.ndarray:
    """``close[t] / close[t-1] - 1`` on the grid; NaN when either bar is missing."""
    return close / shift(close, 1) - 1.0


def annualisation(freq: str) -> float:
    """Periods per year of the bar frequency (the one annualisation function)."""
    return periods_per_year(freq)


def to_long(panel: pl.DataFrame, values: np.ndarray, lay: Layout, name: str) -> pl.DataFrame:
    """Return ``ts, symbol, <name>`` with exactly the panel's rows, in the panel's order.

    Cells that are NaN or infinite come out as null.
    """
    v = values[lay.rows, lay.cols] if panel.height else np.empty(0)
    v = np.where(np.isfinite(v), v, np.nan)
    return panel.select("ts", "symbol").with_columns(pl.Series(name, v).fill_nan(None))
