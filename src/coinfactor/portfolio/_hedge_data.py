"""Dense inputs and candidate diagnostics for :class:`~coinfactor.portfolio.HedgeBasket`.

The panel is pivoted once onto its regular time grid (a :class:`coinfactor.data.Grid`: a bar
missing for every symbol is still a gap), and each fit reads a window of rows ending at its
decision bar. Notional is ``coalesce(quote_volume, volume * close)`` (Hyperliquid panels have no
quote volume).

Memory: four ``(n_bars, n_symbols)`` float arrays are kept (returns, notional, funding, open
interest); returns and open interest are computed in place of their pivots (no second copy),
only the grid's axes are kept (not its index of the panel's rows), and a column the panel
lacks costs nothing (a read-only NaN view).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import polars as pl

from coinfactor.core.errors import DataError
from coinfactor.core.time import bars_per_day, freq_to_timedelta, periods_per_year
from coinfactor.data import Grid


@dataclass(frozen=True)
class HedgeData:
    """A panel as dense arrays on its regular grid (rows = bars, columns = symbols).

    Attributes
    ----------
    grid : Grid
        The axes of the panel's regular bar grid (first bar to the last, or to ``end``), shape
        ``(n_bars, n_symbols)``: :meth:`Grid.on_axes`, without the panel's row index.
    first_bar : ndarray of int64, shape (n_symbols,)
        Row of each symbol's first real (unfilled) bar; ``n_bars`` for a symbol without one.
    returns : ndarray of shape (n_bars, n_symbols)
        ``close(t) / close(t-1) - 1``; NaN when either bar is missing or filled.
    notional : ndarray of shape (n_bars, n_symbols)
        Bar notional in quote currency, ``coalesce(quote_volume, volume * close)``.
    funding : ndarray of shape (n_bars, n_symbols)
        ``funding_rate`` (fraction per bar, ``> 0``: longs pay); NaN when unknown.
    open_interest : ndarray of shape (n_bars, n_symbols)
        Last known open interest at or before each bar, in quote units (forward-filled over
        bars without one); NaN before a symbol's first value.
    """

    grid: Grid
    first_bar: np.ndarray
    returns: np.ndarray
    notional: np.ndarray
    funding: np.ndarray
    open_interest: np.ndarray

    @property
    def ts(self) -> pl.Series:
        """Bar open times of the grid, ``Datetime("us", "UTC")``, length ``n_bars``."""
        return self.grid.ts

    @property
    def symbols(self) -> tuple[str, ...]:
        """Symbols of the grid's columns, sorted."""
        return self.grid.symbols

    @property
    def freq(self) -> str:
        """Bar frequency."""
        return self.grid.freq

    @property
    def periods_per_year(self) -> float:
        """Bars per 365-day year."""
        return periods_per_year(self.freq)

    def row_at(self, at: datetime) -> int:
        """Index of the last bar with ``ts <= at`` (the decision bar)."""
        return self.grid.row_at(at)

    def bars(self, duration: str) -> int:
        """Count the bars a duration such as ``"21d"`` spans (at least 1)."""
        n = freq_to_timedelta(duration) / freq_to_timedelta(self.freq)
        return max(round(n), 1)

    def column(self, symbol: str) -> int:
        """Column of a symbol."""
        return self.grid.column(symbol)


def build_hedge_data(
    panel: pl.DataFrame, *, freq: str | None = None, end: datetime | None = None
) -> HedgeData:
    """Pivot a canonical panel onto its regular bar grid.

    Parameters
    ----------
    panel : pl.DataFrame
        Canonical panel (validated).
    freq : str, optional
        Bar frequency (default: inferred).
    end : datetime, optional
        Extend the grid to the last grid time ``<= end`` (default: the last bar), so that a
        panel cut at ``end`` has the same grid as the full panel up to ``end``.

    Returns
    -------
    HedgeData
    """
    if panel.height == 0:
        raise DataError("hedge: the panel is empty", fix="pass a panel with bars")
    grid = Grid.from_panel(panel, freq, end=end)  # infers the frequency (infer_freq's rule)
    notional_expr = pl.col("volume") * pl.col("close")
    if "quote_volume" in panel.columns:
        notional_expr = pl.coalesce(pl.col("quote_volume"), notional_expr)
    unknown = np.broadcast_to(np.float64(np.nan), grid.shape)  # read only, no memory
    bars = grid.bars
    listed = bars.any(axis=0)
    first_bar = np.where(listed, np.argmax(bars, axis=0), grid.shape[0]).astype(np.int64)
    return HedgeData(
        grid=Grid.on_axes(grid.ts, grid.symbols, grid.freq),
        first_bar=first_bar,
        returns=_bar_returns(grid.wide(panel, "close")),
        notional=grid.wide(panel, notional_expr),
        funding=grid.wide(panel, "funding_rate") if "funding_rate" in panel.columns else unknown,
        open_interest=(_forward_fill(grid.wide(panel, "open_interest"))
                       if "open_interest" in panel.columns else unknown),
    )


_BLOCK = 4096
"""Rows per step of the in-place kernels below (their scratch memory)."""


def _bar_returns(close: np.ndarray) -> np.ndarray:
    """Turn closes into ``close(t) / close(t-1) - 1`` in place (row 0: NaN); returns ``close``.

    Blocks of rows from the last one up, each divided by a copy of the rows above it (the
    same two operations per cell as ``close / prev - 1.0``, without a second array).
    """
    n = close.shape[0]
    scratch = np.empty((min(_BLOCK, n), close.shape[1]))
    with np.errstate(invalid="ignore"):
        for stop in range(n, 1, -_BLOCK):
            start = max(stop - _BLOCK, 1)
            prev = scratch[: stop - start]
            np.copyto(prev, close[start - 1 : stop - 1])
            block = close[start:stop]
            np.divide(block, prev, out=block)
            np.subtract(block, 1.0, out=block)
    close[:1] = np.nan
    return close


def _forward_fill(values: np.ndarray) -> np.ndarray:
    """Replace each NaN, in place, by the last value above it in its column; returns it."""
    for start in range(0, values.shape[0], _BLOCK):
        block = values[start : start + _BLOCK]
        holes = np.isnan(block)
        for i in np.flatnonzero(holes.any(axis=1)).tolist():
            if start + i:
                np.copyto(values[start + i], values[start + i - 1], where=holes[i])
    return values


def _nanmean(a: np.ndarray) -> np.ndarray:
    count = (~np.isnan(a)).sum(axis=0)
    total = np.nansum(a, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def candidate_table(
    data: HedgeData,
    *,
    row: int,
    target: str,
    lookback: str,
    volume_lookback: str,
    min_daily_volume_usd: float,
    min_open_interest_usd: float,
    min_coverage: float,
    exclude: Sequence[str],
    universe: Sequence[str] | None,
) -> pl.DataFrame:
    """Per-symbol liquidity and correlation diagnostics at a decision bar (data through it).

    Returns
    -------
    pl.DataFrame
        One row per symbol other than the target with a real bar at or before the decision
        bar (a coin not listed yet is no candidate: naming it would leak the later
        universe; a delisted one stays, ineligible), sorted by symbol: ``symbol, coverage,
        daily_volume_usd, open_interest_usd, funding_annual, correlation, eligible, reason``.
        ``funding_annual`` is the mean ``funding_rate`` over the lookback times bars per year
        (``> 0``: longs pay, shorts receive; bars with unknown funding are skipped, and a
        name with none at all gets 0). ``daily_volume_usd`` is the mean bar notional over
        ``volume_lookback`` times bars per day (missing bars skipped). ``open_interest_usd``
        is the last known value; a symbol with none passes the open-interest filter (the
        data cannot judge it) and is flagged by ``reason = "ok (no open interest)"``.
    """
    t_col = data.column(target)
    lo = max(row + 1 - data.bars(lookback), 0)
    vlo = max(row + 1 - data.bars(volume_lookback), 0)
    rets = data.returns[lo : row + 1]
    y = rets[:, t_col]
    coverage = (~np.isnan(rets)).sum(axis=0) / max(rets.shape[0], 1)
    daily_volume = _nanmean(data.notional[vlo : row + 1]) * bars_per_day(data.freq)
    oi = data.open_interest[row]  # the last value at or before the decision bar
    funding = np.nan_to_num(_nanmean(data.funding[lo : row + 1]), nan=0.0)
    funding = funding * data.periods_per_year
    corr = np.full(len(data.symbols), np.nan)
    for j in range(len(data.symbols)):
        ok = ~np.isnan(y) & ~np.isnan(rets[:, j])
        if ok.sum() >= 3:
            a, b = rets[ok, j], y[ok]
            if a.std() > 0 and b.std() > 0:
                corr[j] = float(np.corrcoef(a, b)[0, 1])
    allowed = None if universe is None else set(universe)
    excluded = set(exclude)
    listed = data.first_bar <= row
    rows = []
    for j, sym in enumerate(data.symbols):
        if sym == target or not listed[j]:
            continue
        if sym in excluded:
            reason = "excluded"
        elif allowed is not None and sym not in allowed:
            reason = "not in universe"
        elif coverage[j] < min_coverage:
            reason = "coverage"
        elif not daily_volume[j] >= min_daily_volume_usd:
            reason = "volume"
        elif not np.isnan(oi[j]) and oi[j] < min_open_interest_usd:
            reason = "open interest"
        else:
            reason = "ok" if not np.isnan(oi[j]) else "ok (no open interest)"
        rows.append({
            "symbol": sym, "coverage": float(coverage[j]),
            "daily_volume_usd": float(daily_volume[j]), "open_interest_usd": float(oi[j]),
            "funding_annual": float(funding[j]), "correlation": float(corr[j]),
            "eligible": reason.startswith("ok"), "reason": reason,
        })
    schema = {"symbol": pl.String, "coverage": pl.Float64, "daily_volume_usd": pl.Float64,
              "open_interest_usd": pl.Float64, "funding_annual": pl.Float64,
              "correlation": pl.Float64, "eligible": pl.Boolean, "reason": pl.String}
    return pl.DataFrame(rows, schema=schema).with_columns(
        pl.col(pl.Float64).fill_nan(None)
    ).sort("symbol")
