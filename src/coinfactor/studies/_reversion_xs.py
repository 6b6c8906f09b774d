"""The daily cross-section of the reversion study: features at each decision, forward returns.

Everything is computed for all decisions and all symbols at once: features are per-bar signals
read at each decision's anchor bar (a join), forward returns come from dense
``(n_bars, n_symbols)`` arrays indexed by the anchor bars. No loop over dates or symbols.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

from coinfactor.data._wide_compat import cell_index, to_wide
from coinfactor.data._schema import FILLED_COLUMN, TS_DTYPE
from coinfactor.studies._decision_times import BarGrid

__all__ = ["attach_forward_returns", "cross_section_at"]


def cross_section_at(
    panel: pl.DataFrame,
    anchors: pl.DataFrame,
    features: pl.DataFrame,
    feature_names: Sequence[str],
) -> pl.DataFrame:
    """Rows (decision, symbol) for every symbol with a real bar at the decision's anchor bar.

    Parameters
    ----------
    panel : pl.DataFrame
        Canonical panel. A bar flagged ``filled`` is not a real bar and is left out.
    anchors : pl.DataFrame
        ``decision, anchor, bar`` from :func:`~coinfactor.studies._decision_times.anchor_decisions`.
    features : pl.DataFrame
        ``ts, symbol`` and the feature columns, indexed by bar open time (value known at the
        bar's close).
    feature_names : sequence of str
        Feature columns to read.

    Returns
    -------
    pl.DataFrame
        ``decision, anchor, symbol, close`` (the anchor bar's close, the entry price) and the
        features at the anchor bar (null where a feature is undefined), sorted by
        (decision, symbol). A symbol without a real anchor bar has no row: it is out that day.
    """
    bars = panel.select("ts", "symbol", "close")
    if FILLED_COLUMN in panel.columns:
        bars = panel.filter(~pl.col(FILLED_COLUMN)).select("ts", "symbol", "close")
    out = (
        anchors.select("decision", "anchor")
        .join(bars, left_on="anchor", right_on="ts", how="inner")
        .join(
            features.select("ts", "symbol", *feature_names),
            left_on=["anchor", "symbol"],
            right_on=["ts", "symbol"],
            how="left",
        )
        .with_columns(pl.col(f).fill_nan(None) for f in feature_names)
        .sort("decision", "symbol")
    )
    return out


def attach_forward_returns(
    xs: pl.DataFrame,
    panel: pl.DataFrame,
    anchors: pl.DataFrame,
    grid: BarGrid,
) -> pl.DataFrame:
    """Add the forward return from each decision to the next one.

    For decision k with anchor bar ``a_k`` and the next decision's anchor ``a_{k+1}``:

    - ``fwd_price_return = close[a_{k+1}] / close[a_k] - 1``, defined only when the symbol has
      a real bar at every grid bar ``a_k .. a_{k+1}`` (never across a gap, never from a filled
      bar);
    - ``fwd_funding = sum(funding_rate[a_k + 1 .. a_{k+1}])``, the funding a long pays over the
      holding (null rates, bars with no settlement known, count as 0); defined where the price
      return is;
    - the last decision has no next decision: both are null.

    Parameters
    ----------
    xs : pl.DataFrame
        Cross-section with ``decision`` and ``symbol``.
    panel : pl.DataFrame
        Canonical panel.
    anchors : pl.DataFrame
        ``decision, anchor, bar`` (increasing).
    grid : BarGrid
        The panel's bar grid.

    Returns
    -------
    pl.DataFrame
        ``xs`` with ``fwd_price_return`` and ``fwd_funding`` (fractions) added.
    """
    k = anchors.height
    if k < 2 or xs.height == 0:
        return xs.with_columns(
            pl.lit(None, dtype=pl.Float64).alias("fwd_price_return"),
            pl.lit(None, dtype=pl.Float64).alias("fwd_funding"),
        )
    symbols = tuple(sorted(xs.get_column("symbol").unique().to_list()))
    ts = grid.ts
    close, funding = _wide_columns(panel, ("close", "funding_rate"), ts, symbols)
    funding = np.nan_to_num(funding)
    bars = anchors.get_column("bar").to_numpy()
    a0, a1 = bars[:-1], bars[1:]
    # Real bars at every grid bar from a_k to a_{k+1}: count them with a cumulative sum.
    present = np.vstack([np.zeros((1, len(symbols))), np.cumsum(np.isfinite(close), axis=0)])
    complete = (present[a1 + 1] - present[a0]) == (a1 - a0 + 1)[:, None]
    price = np.where(complete, close[a1] / close[a0] - 1.0, np.nan)
    # Funding over bars a_k + 1 .. a_{k+1}: contiguous segments, summed in time order.
    seg = np.add.reduceat(funding[a0[0] + 1 : a1[-1] + 1], a0 - a0[0], axis=0)
    fund = np.where(complete, seg, np.nan)
    n_sym = len(symbols)
    fwd = pl.DataFrame(
        {
            "decision": pl.Series(
                np.repeat(anchors.get_column("decision").to_numpy()[:-1], n_sym)
            ).cast(TS_DTYPE),
            "symbol": pl.Series(np.tile(np.asarray(symbols, dtype=object), k - 1),
                                dtype=pl.String),
            "fwd_price_return": price.reshape(-1),
            "fwd_funding": fund.reshape(-1),
        }
    ).with_columns(pl.col("fwd_price_return", "fwd_funding").fill_nan(None))
    return xs.join(fwd, on=["decision", "symbol"], how="left", maintain_order="left")


def _wide_columns(panel: pl.DataFrame, columns: Sequence[str], ts: pl.Series,
                  symbols: Sequence[str]) -> list[np.ndarray]:
    """``to_wide(panel, c, ts=ts, symbols=symbols).values`` for each column, one cell index.

    Same values as separate ``to_wide`` calls (filled bars masked, null as NaN); the rows are
    located on the grid once instead of once per column.
    """
    if any(c not in panel.columns for c in columns):
        return [to_wide(panel, c, ts=ts, symbols=symbols).values for c in columns]
    ts_axis = ts.cast(TS_DTYPE).alias("ts")
    rows, cols, on_grid = cell_index(panel, ts_axis, symbols)
    exprs = []
    for c in columns:
        value = pl.col(c).cast(pl.Float64)
        if FILLED_COLUMN in panel.columns:
            value = pl.when(pl.col(FILLED_COLUMN)).then(None).otherwise(value)
        exprs.append(value.fill_null(np.nan).alias(c))
    values = panel.select(exprs)
    r, q = rows[on_grid], cols[on_grid]
    out = []
    for c in columns:
        wide = np.full((len(ts_axis), len(symbols)), np.nan)
        wide[r, q] = values.get_column(c).to_numpy()[on_grid]
        out.append(wide)
    return out
