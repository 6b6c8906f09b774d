"""Ranked baskets at decision times and the weights held between decisions, all at once.

Tie rule (deterministic, documented): within a decision, the eligible symbols are put in one
total order, by the signal (``vwap_distance``) descending and, among equal values, by symbol
name ascending. The short basket is the first ``n`` of that order, the long basket the last
``n``. So at a tied cut-off the alphabetically first symbols are shorted and the alphabetically
last are bought, and the two legs never overlap (a decision trades only with ``2 n`` eligible
symbols or more).
"""

from __future__ import annotations

import numpy as np
import polars as pl

from coinfactor.core.typing import Basket, Weighting
from coinfactor.data import TS_DTYPE, Grid

__all__ = ["Basket", "Weighting", "assign_baskets", "hold_weights", "rebalance_bars",
           "rebalance_rows"]

def assign_baskets(
    xs: pl.DataFrame,
    *,
    signal: str,
    vol: str,
    eligible: pl.Expr,
    basket: Basket,
    n: int,
    weighting: Weighting,
    gross: float,
) -> pl.DataFrame:
    """Add ``side`` (-1 short, +1 long, 0 out) and ``weight`` (signed fraction of NAV).

    A decision trades only if it has at least ``2 * n`` eligible symbols, so that a basket is
    never more than half the cross-section; otherwise it is flat (every weight 0). Each leg
    carries ``gross`` (``long`` or ``short``) or ``gross / 2`` (``long_short``, so longs and
    shorts net to zero) of NAV, split equally or in proportion to ``1 / vol``.

    Parameters
    ----------
    xs : pl.DataFrame
        Cross-section with ``decision``, ``symbol``, ``signal`` and ``vol`` columns.
    signal : str
        Column ranked to pick the baskets (higher = more extended = short side).
    vol : str
        Volatility column for ``inverse_vol`` weights (must be > 0 where eligible).
    eligible : pl.Expr
        Boolean expression: rows that may enter a basket.
    basket : {"short", "long", "long_short"}
        Which legs to hold.
    n : int
        Symbols per leg.
    weighting : {"equal", "inverse_vol"}
        Weights within a leg.
    gross : float
        Gross exposure (sum of absolute weights) of the whole book when it trades.

    Returns
    -------
    pl.DataFrame
        ``xs`` (same row order) with ``side`` (Int8) and ``weight`` (Float64) added.
    """
    ordered = xs.with_row_index("_row").with_columns(eligible.fill_null(False).alias("_elig"))
    elig = ordered.filter(pl.col("_elig"))
    desc = elig.sort(["decision", signal, "symbol"], descending=[False, True, False])
    desc = desc.with_columns(
        pl.int_range(pl.len()).over("decision").alias("_pos_desc"),
        pl.int_range(pl.len(), 0, -1).over("decision").alias("_pos_asc"),
    )
    pos = desc.select("_row", "_pos_desc", (pl.col("_pos_asc") - 1).alias("_pos_asc"))
    ordered = ordered.join(pos, on="_row", how="left", maintain_order="left")
    trades = pl.col("_elig").sum().over("decision") >= 2 * n
    short = trades & pl.col("_elig") & (pl.col("_pos_desc") < n)
    long = trades & pl.col("_elig") & (pl.col("_pos_asc") < n)
    if basket == "short":
        side = pl.when(short).then(-1).otherwise(0)
    elif basket == "long":
        side = pl.when(long).then(1).otherwise(0)
    else:
        side = pl.when(short).then(-1).when(long).then(1).otherwise(0)
    leg_gross = gross / 2 if basket == "long_short" else gross
    ordered = ordered.with_columns(side.cast(pl.Int8).alias("side"))
    raw = pl.lit(1.0) if weighting == "equal" else 1.0 / pl.col(vol)
    raw = pl.when(pl.col("side") != 0).then(raw).otherwise(0.0)
    weight = (
        pl.col("side").cast(pl.Float64)
        * leg_gross
        * raw
        / raw.sum().over("decision", "side")
    )
    ordered = ordered.with_columns(
        pl.when(pl.col("side") != 0).then(weight).otherwise(0.0).alias("weight")
    )
    return ordered.drop("_row", "_elig", "_pos_desc", "_pos_asc")


def hold_weights(xs: pl.DataFrame, anchors: pl.DataFrame, grid: Grid, *,
                 at: np.ndarray | None = None) -> pl.DataFrame:
    """Hold each decision's weights over the bars until the next decision.

    Decision k uses data through its anchor bar ``a_k``; by the backtest convention a weight
    at bar ``ts`` is executed at that bar's close and held over the next bar. So the weights
    of decision k are set at bars ``a_k .. a_{k+1} - 1`` (the last decision: to the end of the
    grid), and change only at anchor bars. Every symbol ever held gets a row at every bar from
    the first decision on (0 when out), so exits are explicit.

    Parameters
    ----------
    xs : pl.DataFrame
        Cross-section with ``decision``, ``symbol`` and ``weight``.
    anchors : pl.DataFrame
        ``decision, anchor, bar`` (increasing), from :func:`coinfactor.data.anchor_decisions`.
    grid : Grid
        The panel's regular grid, the one ``anchors`` are on; its symbols include the held
        ones.
    at : ndarray of int, optional
        Increasing grid rows to keep (those before the first decision are dropped), e.g.
        :func:`rebalance_bars`: the same rows as filtering the whole frame, without building
        it. Default: every bar from the first decision on.

    Returns
    -------
    pl.DataFrame
        ``ts, symbol, weight`` (signed fraction of NAV) sorted by (symbol, ts); empty if
        nothing is ever held.
    """
    held = xs.filter(pl.col("weight") != 0)
    empty = pl.DataFrame(schema={"ts": TS_DTYPE, "symbol": pl.String, "weight": pl.Float64})
    if held.height == 0 or anchors.height == 0:
        return empty
    symbols = sorted(held.get_column("symbol").unique().to_list())
    k_idx = anchors.select("decision").with_row_index("k")
    s_idx = pl.DataFrame({"symbol": symbols}).with_row_index("j")
    located = held.join(k_idx, on="decision").join(s_idx, on="symbol")
    per_decision = np.zeros((anchors.height, len(symbols)))
    per_decision[located.get_column("k").to_numpy(), located.get_column("j").to_numpy()] = (
        located.get_column("weight").to_numpy()
    )
    bars = anchors.get_column("bar").to_numpy()
    first = int(bars[0])
    grid_bars = (np.arange(first, grid.shape[0]) if at is None
                 else np.asarray(at, dtype=np.int64)[np.asarray(at) >= first])
    k_of_bar = np.searchsorted(bars, grid_bars, side="right") - 1
    wide = per_decision[k_of_bar]
    n_t = len(grid_bars)
    cols = np.asarray([grid.column(s) for s in symbols], dtype=np.int64)
    return grid.frame(np.tile(grid_bars, len(symbols)), np.repeat(cols, n_t),
                      {"weight": wide.T.reshape(-1)})


def rebalance_bars(anchors: pl.DataFrame, grid: Grid) -> np.ndarray:
    """Grid rows of the first panel bar of each decision's holding period.

    Normally the anchor bar; if no symbol has a bar there, the next panel bar before the
    following anchor (when the book can trade again); none if there is no such bar.

    Parameters
    ----------
    anchors : pl.DataFrame
        ``decision, anchor, bar`` (increasing).
    grid : Grid
        The panel's regular grid (a grid row is a panel bar when some symbol has a row there,
        real or filled).

    Returns
    -------
    ndarray of int64
        Increasing grid rows, at most one per decision.
    """
    present = np.flatnonzero((grid.bars | grid.filled_bars).any(axis=1))
    axis_us = grid.ts.gather(pl.Series(present, dtype=pl.UInt32)).dt.epoch("us").to_numpy()
    anchor_us = anchors.get_column("anchor").dt.epoch("us").to_numpy()
    idx = np.searchsorted(axis_us, anchor_us, side="left")
    nxt = np.append(anchor_us[1:], np.iinfo(np.int64).max)
    ok = idx < len(axis_us)
    ok[ok] &= axis_us[idx[ok]] < nxt[ok]
    return present[idx[ok]].astype(np.int64)


def rebalance_rows(held: pl.DataFrame, anchors: pl.DataFrame, grid: Grid) -> pl.DataFrame:
    """Keep the held weights at the first panel bar of each decision's holding period.

    For :func:`coinfactor.backtest.backtest` a ts present in the weights frame is a decision
    and any other bar is not: these rows are the decisions (the book trades to each
    decision's weights once, then drifts with prices until the next one). Traded back to
    target at every bar (``rebalance="every_bar"``) they give the same book as the full held
    frame, with far fewer rows. The bars are those of :func:`rebalance_bars`;
    ``hold_weights(xs, anchors, grid, at=rebalance_bars(anchors, grid))`` gives the same
    rows without the whole held frame.

    Parameters
    ----------
    held : pl.DataFrame
        ``ts, symbol, weight`` from :func:`hold_weights`.
    anchors, grid : pl.DataFrame, Grid
        As for :func:`rebalance_bars`.

    Returns
    -------
    pl.DataFrame
        The rows of ``held`` at those bars, in ``held``'s order.
    """
    starts = grid.ts.gather(pl.Series(rebalance_bars(anchors, grid), dtype=pl.UInt32))
    return held.filter(pl.col("ts").is_in(starts.implode()))
