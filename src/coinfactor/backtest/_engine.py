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
from typing import Literal

import numpy as np
import polars as pl

from coinfactor.core.errors import DataError
from coinfactor.portfolio._grid import has_duplicate_cells

GapPolicy = Literal["mark", "skip"]
"""How a position held through missing bars is marked when the price comes back.

``"mark"`` (default): the bar where the price reappears books the move since the last observed
price (the position was held all along, so that move is real P&L). ``"skip"``: returns are only
ever ``close(t+1)/close(t) - 1`` with both bars present; a move across a gap is never booked.
"""


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
    out = np.array(values, dtype=np.float64, copy=True)
    missing = np.isnan(out)
    # one masked copy per row that has a hole (each row is filled from the filled row above)
    for t in (np.flatnonzero(missing[1:].any(axis=1)) + 1).tolist():
        np.copyto(out[t], out[t - 1], where=missing[t])
    return out


def shift_rows(values: np.ndarray, k: int, fill: float = 0.0) -> np.ndarray:
    """Shift a ``(n_bars, n_symbols)`` array down by ``k >= 0`` rows, filling the top."""
    if k == 0:
        return values.copy()
    out = np.full_like(values, fill)
    if k < values.shape[0]:
        out[k:] = values[:-k]
    return out


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
    tgt = np.where(has_price, target, np.nan)
    if n_t:
        # Delisting: a symbol whose last price is before the last bar is closed at that price.
        rev_first = np.argmax(has_price[::-1], axis=0)
        last_idx = n_t - 1 - rev_first
        delisted = has_price.any(axis=0) & (last_idx < n_t - 1)
        cols = np.flatnonzero(delisted)
        tgt[last_idx[cols], cols] = 0.0
    held = ffill_rows(tgt)
    np.nan_to_num(held, copy=False, nan=0.0)
    prev_held = shift_rows(held, 1)
    trades = held - prev_held

    mark_price = ffill_rows(close)
    base = shift_rows(mark_price if gap == "mark" else close, 1, fill=np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        rets = close / base - 1.0
    rets = np.where(np.isfinite(rets), rets, 0.0)
    fund = np.where(np.isnan(funding), 0.0, funding)
    ret_price = row_sum(prev_held * rets)
    ret_funding = -row_sum(prev_held * fund)
    ret_cost = -row_sum(shift_rows(cost_rate * np.abs(trades), 1))
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


def check_unique_cells(w: pl.DataFrame, i: np.ndarray, j: np.ndarray, n_s: int) -> None:
    """Raise if two weight rows sit on the same (ts, symbol) cell."""
    if has_duplicate_cells(i, j, n_s):
        dup = w.filter(pl.struct("ts", "symbol").is_duplicated())
        raise DataError(
            f"backtest: weights have {dup.height} duplicated (ts, symbol) row(s)",
            rows=dup.head(5),
            fix="keep one weight per (ts, symbol), e.g. .unique(['ts', 'symbol'], keep='last')",
        )
