"""TEMPORARY compatibility for modules not yet on Grid (removed before merge)."""


from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from coinfactor.core.errors import DataError
from coinfactor.data._schema import FILLED_COLUMN, TS_DTYPE


@dataclass(frozen=True)
class Wide:
    """A dense wide array with its axes.

    Attributes
    ----------
    values : ndarray of shape (n_bars, n_symbols)
        Float64 values, NaN where the panel has no row (or a null, or a filled bar).
    ts : pl.Series
        The time axis, ``Datetime("us", "UTC")``, strictly increasing, length n_bars.
    symbols : tuple of str
        The symbol axis, sorted, length n_symbols.
    name : str
        The column the values came from.
    """

    values: np.ndarray
    ts: pl.Series
    symbols: tuple[str, ...]
    name: str

    @property
    def shape(self) -> tuple[int, int]:
        """``(n_bars, n_symbols)``."""
        return (len(self.ts), len(self.symbols))


def time_axis(panel: pl.DataFrame) -> pl.Series:
    """Sorted unique bar times of a panel (the union over symbols)."""
    return panel.get_column("ts").unique().sort().alias("ts")


def cell_index(
    panel: pl.DataFrame, ts: pl.Series, symbols: Sequence[str]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Locate each panel row on a wide grid, without a join.

    Parameters
    ----------
    panel : pl.DataFrame
        Long frame with ``ts`` and ``symbol``.
    ts : pl.Series
        Strictly increasing time axis.
    symbols : sequence of str
        Symbol axis (unique).

    Returns
    -------
    rows, cols : ndarray of int64, shape (n_rows,)
        Position of each panel row on the time and symbol axes (0 where off the grid).
    on_grid : ndarray of bool, shape (n_rows,)
        Whether the row's ts and symbol are both on the axes.

    Examples
    --------
    Gather a wide result back onto the panel's rows: ``values[rows, cols]`` masked by
    ``on_grid``.
    """
    frame = panel.select(pl.col("ts").cast(TS_DTYPE), "symbol")
    from coinfactor.data._grid import _symbol_index, _time_rows
    i, ok_t = _time_rows(ts.cast(TS_DTYPE).cast(pl.Int64).to_numpy(),
                         frame.get_column("ts").cast(pl.Int64).to_numpy())
    cols = _symbol_index(frame.get_column("symbol"), tuple(symbols))
    on_grid = ok_t & (cols >= 0)
    rows = i
    return np.where(on_grid, rows, 0), np.where(on_grid, cols, 0), on_grid


def to_wide(
    panel: pl.DataFrame,
    column: str,
    *,
    ts: pl.Series | None = None,
    symbols: Sequence[str] | None = None,
    mask_filled: bool = True,
) -> Wide:
    """Pivot one column of a long panel into a dense ``(n_bars, n_symbols)`` array.

    Parameters
    ----------
    panel : pl.DataFrame
        Long frame with ``ts``, ``symbol`` and ``column``, at most one row per (symbol, ts).
    column : str
        Numeric column to pivot.
    ts : pl.Series, optional
        Time axis to use (default: all bar times in the panel). Rows at other times are dropped.
    symbols : sequence of str, optional
        Symbol axis to use (default: sorted unique symbols). Other symbols are dropped.
    mask_filled : bool, default True
        Set values of bars flagged ``filled`` to NaN, so a filler bar is never used as a price.

    Returns
    -------
    Wide
        Values as float64 with NaN for missing.
    """
    if column not in panel.columns:
        raise DataError(
            f"to_wide: expected column {column!r} in the panel, got {panel.columns}",
            column=column,
            fix="compute the column first or pick one that exists",
        )
    ts_axis = time_axis(panel) if ts is None else ts.cast(TS_DTYPE).alias("ts")
    sym_axis = (
        tuple(sorted(panel.get_column("symbol").unique().to_list()))
        if symbols is None
        else tuple(symbols)
    )
    value = pl.col(column).cast(pl.Float64)
    if mask_filled and FILLED_COLUMN in panel.columns:
        value = pl.when(pl.col(FILLED_COLUMN)).then(None).otherwise(value)
    v = panel.select(value.fill_null(np.nan)).to_series().to_numpy()
    rows, cols, on_grid = cell_index(panel, ts_axis, sym_axis)
    out = np.full((len(ts_axis), len(sym_axis)), np.nan)
    out[rows[on_grid], cols[on_grid]] = v[on_grid]
    return Wide(values=out, ts=ts_axis, symbols=sym_axis, name=column)


def from_wide(
    values: np.ndarray,
    ts: pl.Series,
    symbols: Sequence[str],
    name: str,
    *,
    drop_missing: bool = True,
) -> pl.DataFrame:
    """Melt a dense ``(n_bars, n_symbols)`` array back into a long frame.

    Parameters
    ----------
    values : ndarray of shape (n_bars, n_symbols)
        Values; NaN means missing.
    ts : pl.Series
        Time axis of length n_bars.
    symbols : sequence of str
        Symbol axis of length n_symbols.
    name : str
        Name of the value column.
    drop_missing : bool, default True
        Drop NaN cells (the usual case: no output row for a (symbol, ts) with no value).

    Returns
    -------
    pl.DataFrame
        Columns ``ts, symbol, <name>``, sorted by (symbol, ts).
    """
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 2 or arr.shape != (len(ts), len(symbols)):
        raise DataError(
            f"from_wide: expected values of shape (len(ts), len(symbols)) = "
            f"({len(ts)}, {len(symbols)}), got {arr.shape}",
            fix="pass the axes returned by to_wide",
        )
    n_t, n_s = arr.shape
    ts_cast = ts.cast(TS_DTYPE)
    out = pl.DataFrame(
        {
            "ts": pl.Series("ts", np.tile(ts_cast.to_numpy(), n_s)).cast(TS_DTYPE)
            if n_t
            else pl.Series("ts", [], dtype=TS_DTYPE),
            "symbol": pl.Series("symbol", np.repeat(np.asarray(symbols, dtype=object), n_t),
                                dtype=pl.String),
            name: arr.T.reshape(-1),
        }
    )
    if drop_missing:
        out = out.filter(pl.col(name).is_not_nan())
    else:
        out = out.with_columns(pl.col(name).fill_nan(None))
    return out
