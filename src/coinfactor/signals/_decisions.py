"""Cross-sections of signals at decision times, and forward returns between decisions.

A daily strategy decides at instants mapped to *anchor bars* on the panel's grid
(:func:`coinfactor.data.anchor_decisions`): features are per-bar signals read at each
decision's anchor bar, forward returns come from dense ``(n_bars, n_symbols)`` arrays on the
grid indexed by the anchor bars. Everything is computed for all decisions and all symbols at
once: no loop over dates or symbols.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

from coinfactor.data import FILLED_COLUMN, TS_DTYPE, Grid
from coinfactor.signals._registry import compute_array

__all__ = ["attach_forward_returns", "cross_section_at", "features_at"]


def features_at(panel: pl.DataFrame, names: Sequence[str], at: pl.Series, *, window: int,
                freq: str, grid: Grid | None = None) -> pl.DataFrame:
    """Signals by name (:func:`coinfactor.signals.compute`), kept at the bars ``at``.

    Each signal is computed on the whole panel's grid (it only looks back, on one shared
    grid), then read at the panel rows whose ``ts`` is in ``at``: the rows of
    ``compute(name, panel, ...)`` there, without its long frame of every panel row.

    Parameters
    ----------
    panel : pl.DataFrame
        Canonical panel (only the columns the signals need, for speed).
    names : sequence of str
        Signal names (:func:`coinfactor.signals.available`).
    at : pl.Series
        Bar open times to keep (e.g. the ``anchor`` column of
        :func:`coinfactor.data.anchor_decisions`).
    window : int
        ``window`` of every signal, in bars.
    freq : str
        Bar frequency of the panel.
    grid : Grid, optional
        ``Grid.from_panel(panel, freq)`` (or the grid of a frame with the same rows in the
        same order), built when omitted.

    Returns
    -------
    pl.DataFrame
        ``ts, symbol`` and one column per name (the signal's unit, null where undefined), one
        row per panel row at a time of ``at``, in the panel's row order.
    """
    if grid is None:
        grid = Grid.from_panel(panel, freq)
    keep = panel.select(pl.col("ts").is_in(at.implode())).to_series()
    out = panel.select("ts", "symbol").filter(keep)
    cells = grid.cells[keep.to_numpy()]  # the kept rows' cells, in the panel's order
    for name in names:
        values = compute_array(name, panel, grid, window=window).reshape(-1)[cells]
        # as Grid.long writes a signal: a value that is not finite is null
        np.copyto(values, np.nan, where=~np.isfinite(values))
        out = out.with_columns(pl.Series(name, values, dtype=pl.Float64).fill_nan(None))
    return out


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
        ``decision, anchor, bar`` from :func:`coinfactor.data.anchor_decisions`.
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
    # the panel rows at anchor bars (a few columns: no copy of the whole panel)
    real = pl.col("ts").is_in(anchors.get_column("anchor").implode())
    flags = [FILLED_COLUMN] if FILLED_COLUMN in panel.columns else []
    if flags:
        real = real & ~pl.col(FILLED_COLUMN)
    bars = panel.select("ts", "symbol", "close", *flags).filter(real).drop(flags)
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
    grid: Grid,
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
        Canonical panel (with ``close`` and ``funding_rate``).
    anchors : pl.DataFrame
        ``decision, anchor, bar`` (increasing), from :func:`coinfactor.data.anchor_decisions`.
    grid : Grid
        The panel's regular grid (``Grid.from_panel(panel, freq)``), the one ``anchors`` are
        on; its symbols include those of ``xs``.

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
    cols = [grid.column(s) for s in symbols]

    def wide(column: str) -> np.ndarray:
        values = grid.wide(panel, column)
        return values if cols == list(range(grid.shape[1])) else values[:, cols]

    close = wide("close")
    funding = np.nan_to_num(wide("funding_rate"), copy=False)
    bars = anchors.get_column("bar").to_numpy()
    a0, a1 = bars[:-1], bars[1:]
    # Real bars at every grid bar from a_k to a_{k+1}: count them with a cumulative sum
    # (present[t] = real bars before grid bar t).
    present = np.zeros((close.shape[0] + 1, len(symbols)), dtype=np.int32)
    np.cumsum(np.isfinite(close), axis=0, out=present[1:])
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
