"""Long frame <-> dense grid by index arithmetic (shared by signals, the allocator and backtester).

Faster than pivoting with joins when several columns of the same rows are needed: the row and
column of every row are found once (binary search on the time axis, a hash map on symbols)
and reused for each column.
"""

from __future__ import annotations

import itertools

import numpy as np
import polars as pl


def cell_index(
    frame: pl.DataFrame, ts_axis: pl.Series, symbols: tuple[str, ...]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row and column of each frame row on a ``(ts_axis, symbols)`` grid.

    Returns
    -------
    i, j : ndarray of int64
        Time and symbol index of every row (-1 where off the grid).
    ok : ndarray of bool
        Rows that sit on the grid.
    """
    i, ok_t = time_cells(frame.get_column("ts"), ts_axis)
    j = symbol_index(frame.get_column("symbol"), symbols)
    ok = ok_t & (j >= 0)
    return np.where(ok, i, -1), j, ok


def time_cells(ts: pl.Series, ts_axis: pl.Series) -> tuple[np.ndarray, np.ndarray]:
    """Row of each time on a sorted ``ts_axis`` and whether it is on the axis.

    Returns
    -------
    i : ndarray of int64
        Position on the axis (meaningless where not ``ok``).
    ok : ndarray of bool
        Times that are values of the axis.
    """
    axis_int = ts_axis.cast(pl.Int64).to_numpy()
    t_int = ts.cast(pl.Int64).to_numpy()
    i = _time_index(axis_int, t_int)
    i_c = np.clip(i, 0, max(axis_int.size - 1, 0))
    ok_t = (i >= 0) & (i < axis_int.size) & (axis_int[i_c] == t_int) if axis_int.size else (
        np.zeros(t_int.size, dtype=bool))
    return i, ok_t


def sorted_symbol_codes(col: pl.Series) -> tuple[tuple[str, ...], np.ndarray] | None:
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
    return tuple(values), np.repeat(np.arange(len(values), dtype=np.int64), lengths)


def _time_index(axis_int: np.ndarray, t_int: np.ndarray) -> np.ndarray:
    """Return the insertion index of each time on a sorted axis (arithmetic if regular)."""
    if axis_int.size >= 2:
        step = axis_int[1] - axis_int[0]
        if step > 0 and bool((np.diff(axis_int) == step).all()):
            # on a regular axis the position is (t - t0) / step; off-grid times are rejected
            # by the caller's equality check, out-of-range ones by the bounds check
            return (t_int - axis_int[0]) // step
    return np.searchsorted(axis_int, t_int)


def symbol_index(col: pl.Series, symbols: tuple[str, ...]) -> np.ndarray:
    """Position of each value of a String column in ``symbols`` (unique), -1 if absent.

    Runs of equal symbols (a frame sorted by symbol) are mapped once per run; otherwise an
    ``Enum`` cast does the lookup, with ``replace_strict`` as the fallback for unknown values.
    """
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


def scatter(n_t: int, n_s: int, i: np.ndarray, j: np.ndarray, ok: np.ndarray,
            values: np.ndarray) -> np.ndarray:
    """Dense ``(n_t, n_s)`` array with ``values`` at ``(i, j)`` where ``ok``, NaN elsewhere."""
    out = np.full(n_t * n_s, np.nan)
    if ok.all():  # flat indices: one gather-free scatter instead of 2-d fancy indexing
        out[i * n_s + j] = values
    else:
        out[i[ok] * n_s + j[ok]] = values[ok]
    return out.reshape(n_t, n_s)


def long_cells(mask: np.ndarray, ts: pl.Series, symbols: tuple[str, ...],
               columns: dict[str, np.ndarray]) -> pl.DataFrame:
    """Long frame ``ts, symbol, <columns>`` of the cells where ``mask`` is True.

    Rows come in row-major order of the grid: sorted by (ts, symbol) when ``symbols`` is.
    """
    i, j = np.nonzero(mask)
    flat = i * mask.shape[1] + j
    return cells_frame(i, j, ts, symbols,
                       {name: np.take(np.ravel(values), flat) for name, values in columns.items()})


def cells_frame(i: np.ndarray, j: np.ndarray, ts: pl.Series, symbols: tuple[str, ...],
                columns: dict[str, np.ndarray]) -> pl.DataFrame:
    """Long frame ``ts, symbol, <columns>`` of grid cells ``(i, j)`` with their values.

    Parameters
    ----------
    i, j : ndarray of int
        Row (into ``ts``) and column (into ``symbols``) of each output row.
    ts : pl.Series
        Time axis.
    symbols : tuple of str
        Symbol axis.
    columns : dict of str to ndarray
        One value per cell, in the order of ``i`` and ``j``.
    """
    data: dict[str, pl.Series] = {
        "ts": ts.gather(pl.Series(i, dtype=pl.UInt32)) if i.size else ts.clear(),
        # gathering from the symbols' Series copies no Python strings
        "symbol": pl.Series("symbol", symbols, dtype=pl.String).gather(
            pl.Series(j, dtype=pl.UInt32)),
    }
    for name, values in columns.items():
        data[name] = pl.Series(name, values, dtype=pl.Float64)
    return pl.DataFrame(data)


def has_duplicate_cells(i: np.ndarray, j: np.ndarray, n_s: int) -> bool:
    """Whether two rows share a grid cell (``i``, ``j`` >= 0), in O(rows + cells)."""
    if i.size == 0:
        return False
    flat = i.astype(np.int64) * max(n_s, 1) + j
    return bool((np.bincount(flat) > 1).any())


def row_sum(values: np.ndarray) -> np.ndarray:
    """Sum a ``(n_bars, n_symbols)`` array over symbols, strictly left to right.

    A sequential sum (``cumsum``) instead of NumPy's pairwise ``sum``: adding all-zero columns
    anywhere (a symbol that never trades) leaves every row sum identical bit for bit, so the
    result does not depend on which flat symbols are on the axis (truncation invariance).
    """
    if values.shape[1] == 0:
        return np.zeros(values.shape[0])
    # On a Fortran-ordered array NumPy reduces axis 1 column by column (sequentially), which
    # gives the same bits as a cumulative sum, without its (n_bars, n_symbols) output.
    return np.asfortranarray(values).sum(axis=1)
