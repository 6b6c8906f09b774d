"""Weights -> P&L on dense ``(n_bars, n_symbols)`` arrays (DESIGN.md backtest accounting).

Over bar t + 1, with ``h`` the weights held from the close of bar t::

    ret(t+1) = Σ h(t)·r(t+1)  -  Σ h(t)·funding(t+1)  -  Σ cost_rate(t)·|h(t) - h(t-1)|
    NAV(t+1) = NAV(t) · (1 + ret(t+1))

Everything is vectorised over time x symbols; the only path dependence is the compounding
``cumprod`` of NAV. The held weights follow the target weights every bar (the book is rebalanced
to its target at every close, as DESIGN.md's formula states), except where no trade is
possible:

* a symbol without a price on bar t cannot trade at its close: it keeps its previous holding;
* a delisted symbol (its last price is before the panel's last bar) is closed at its last
  price, paying costs, whatever the target says.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from coinfactor.core.errors import DataError
from coinfactor.core.typing import GapPolicy
from coinfactor.data import Grid


def ffill_rows(values: np.ndarray) -> np.ndarray:
    """Forward-fill NaN along axis 0 (time) of a ``(n_bars, n_symbols)`` array.

    Parameters
    ----------
    values : ndarray of shape (n_bars, n_symbols)

    Returns
    -------
    ndarray of shape (n_bars, n_symbols)
        Each NaN replaced by the last non-NaN value above it in its column (NaN if none).
    """
    return ffill_rows_inplace(np.array(values, dtype=np.float64, copy=True))


def ffill_rows_inplace(values: np.ndarray) -> np.ndarray:
    """:func:`ffill_rows` writing into ``values`` itself (a float array); returns it."""
    missing = np.isnan(values)
    if not missing.any():
        return values
    # holes: missing cells below a column's first value (leading NaN stay NaN)
    first = np.where(missing.all(axis=0), values.shape[0], np.argmax(~missing, axis=0))
    holes = missing & (np.arange(values.shape[0])[:, None] > first[None, :])
    # one masked copy per row that has a hole (each row is filled from the filled row above)
    for t in np.flatnonzero(holes.any(axis=1)).tolist():
        np.copyto(values[t], values[t - 1], where=holes[t])
    return values


def shift_rows(values: np.ndarray, k: int, fill: float = 0.0) -> np.ndarray:
    """Shift a ``(n_bars, n_symbols)`` array down by ``k >= 0`` rows, filling the top."""
    if k == 0:
        return values.copy()
    out = np.full_like(values, fill)
    if k < values.shape[0]:
        out[k:] = values[:-k]
    return out


@dataclass(frozen=True)
class Accounts:
    """Per-bar arrays of one backtest (all ``(n_bars, n_symbols)`` unless noted)."""

    held: np.ndarray
    trades: np.ndarray
    cost_rate: np.ndarray
    mark_price: np.ndarray
    ret_price: np.ndarray  # (n_bars,)
    ret_funding: np.ndarray  # (n_bars,)
    ret_cost: np.ndarray  # (n_bars,)


def run_accounts(
    target: np.ndarray,
    close: np.ndarray,
    funding: np.ndarray,
    cost_rate: np.ndarray,
    *,
    gap: GapPolicy = "mark",
) -> Accounts:
    """Compute held weights, trades and the P&L split from aligned wide arrays.

    Parameters
    ----------
    target : ndarray of shape (n_bars, n_symbols)
        Target weight at the close of each bar (already lagged), 0 where flat; no NaN.
    close : ndarray of shape (n_bars, n_symbols)
        Close prices, NaN where the symbol has no (unfilled) bar.
    funding : ndarray of shape (n_bars, n_symbols)
        Funding rate of each bar (fraction, r > 0: longs pay); NaN is read as 0.
    cost_rate : ndarray of shape (n_bars, n_symbols)
        Cost per unit of traded weight at the close of each bar (fee + half-spread).
    gap : {"mark", "skip"}
        See :data:`GapPolicy`.

    Returns
    -------
    Accounts
    """
    n_t = close.shape[0]
    has_price = ~np.isnan(close)
    held = np.where(has_price, target, np.nan)
    if n_t:
        # Delisting: a symbol whose last price is before the last bar is closed at that price.
        rev_first = np.argmax(has_price[::-1], axis=0)
        last_idx = n_t - 1 - rev_first
        delisted = has_price.any(axis=0) & (last_idx < n_t - 1)
        cols = np.flatnonzero(delisted)
        held[last_idx[cols], cols] = 0.0
    ffill_rows_inplace(held)
    np.nan_to_num(held, copy=False, nan=0.0)
    # prev_held(t) = held(t - 1), 0 before the first bar; row 0 of each product below is
    # formed with an explicit 0.0, exactly as with a shifted copy
    trades = np.empty_like(held)
    if n_t:
        trades[0] = held[0] - 0.0
        np.subtract(held[1:], held[:-1], out=trades[1:])

    mark_price = ffill_rows(close)
    base = mark_price if gap == "mark" else close  # the previous bar's, row t - 1
    rets = np.empty_like(held)
    if n_t:
        rets[0] = 0.0  # no previous bar: NaN, read as 0
        with np.errstate(invalid="ignore", divide="ignore"):
            np.divide(close[1:], base[:-1], out=rets[1:])
        rets[1:] -= 1.0
    np.copyto(rets, 0.0, where=~np.isfinite(rets))
    # products written in Fortran order, so that each row sum runs left to right (row_sum)
    prod = np.empty(held.shape, order="F")
    sums = []
    for part in ("price", "funding"):
        if part == "funding":  # the return buffer now holds funding, NaN read as 0
            np.copyto(rets, funding)
            np.copyto(rets, 0.0, where=np.isnan(funding))
        if n_t:
            np.multiply(0.0, rets[0], out=prod[0])
            np.multiply(held[:-1], rets[1:], out=prod[1:])
        sums.append(prod.sum(axis=1) if held.shape[1] else np.zeros(n_t))
    if n_t:
        prod[0] = 0.0
        np.absolute(trades[:-1], out=prod[1:])
        np.multiply(cost_rate[:-1], prod[1:], out=prod[1:])
    ret_price, ret_funding = sums[0], -sums[1]
    ret_cost = -(prod.sum(axis=1) if held.shape[1] else np.zeros(n_t))
    return Accounts(
        held=held,
        trades=trades,
        cost_rate=cost_rate,
        mark_price=mark_price,
        ret_price=ret_price,
        ret_funding=ret_funding,
        ret_cost=ret_cost,
    )


def check_weights_frame(weights: pl.DataFrame) -> pl.DataFrame:
    """Validate a long weights frame ``ts, symbol, weight`` and return it cast and sorted."""
    if not isinstance(weights, pl.DataFrame):
        raise DataError(
            f"backtest: expected weights as a polars DataFrame (ts, symbol, weight), "
            f"got {type(weights).__name__}",
            fix="build a long frame with columns ts, symbol, weight",
        )
    missing = [c for c in ("ts", "symbol", "weight") if c not in weights.columns]
    if missing:
        raise DataError(
            f"backtest: weights need columns ts, symbol, weight; missing {missing}, "
            f"got {weights.columns}",
            fix="rename your columns (e.g. .rename({'target': 'weight'}))",
        )
    if not isinstance(weights.schema["ts"], pl.Datetime):
        raise DataError(
            f"backtest: weights column 'ts' must be Datetime, got {weights.schema['ts']}",
            column="ts",
            fix="use the panel's ts values (Datetime('us', 'UTC'))",
        )
    w = weights.select(
        pl.col("ts").cast(pl.Datetime("us", "UTC")),
        pl.col("symbol").cast(pl.String),
        pl.col("weight").cast(pl.Float64),
    )
    bad = w.filter(pl.col("weight").is_null() | ~pl.col("weight").is_finite()
                   | pl.col("symbol").is_null() | pl.col("ts").is_null())
    if bad.height:
        raise DataError(
            f"backtest: weights must be finite numbers; {bad.height} row(s) are null, NaN or inf",
            column="weight",
            rows=bad.head(5),
            fix="drop those rows or fill them with 0.0 (flat)",
        )
    return w


def check_unique_cells(w: pl.DataFrame, grid: Grid, i: np.ndarray, j: np.ndarray) -> None:
    """Raise if two weight rows sit on the same (ts, symbol) cell."""
    if grid.has_duplicates(i, j):
        dup = w.filter(pl.struct("ts", "symbol").is_duplicated())
        raise DataError(
            f"backtest: weights have {dup.height} duplicated (ts, symbol) row(s)",
            rows=dup.head(5),
            fix="keep one weight per (ts, symbol), e.g. .unique(['ts', 'symbol'], keep='last')",
        )
