"""Dense inputs and candidate diagnostics for :class:`~coinfactor.portfolio.HedgeBasket`.

The panel is pivoted once onto its regular time grid (a :class:`coinfactor.data.Grid`: a bar
missing for every symbol is still a gap), and each fit reads a window of rows ending at its
decision bar. Notional is ``coalesce(quote_volume, volume * close)`` (Hyperliquid panels have no
quote volume).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import polars as pl

from coinfactor.core.errors import DataError
from coinfactor.core.time import bars_per_day, freq_to_timedelta, periods_per_year
from coinfactor.data import Grid, infer_freq


@dataclass(frozen=True)
class HedgeData:
    """A panel as dense arrays on its regular grid (rows = bars, columns = symbols).

    Attributes
    ----------
    grid : Grid
        The panel's regular bar grid (first bar to the last, or to ``end``), shape
        ``(n_bars, n_symbols)``.
    returns : ndarray of shape (n_bars, n_symbols)
        ``close(t) / close(t-1) - 1``; NaN when either bar is missing or filled.
    notional : ndarray of shape (n_bars, n_symbols)
        Bar notional in quote currency, ``coalesce(quote_volume, volume * close)``.
    funding : ndarray of shape (n_bars, n_symbols)
        ``funding_rate`` (fraction per bar, ``> 0``: longs pay); NaN when unknown.
    open_interest : ndarray of shape (n_bars, n_symbols)
        Open interest in quote units; NaN when unknown.
    """

    grid: Grid
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
    freq = infer_freq(panel) if freq is None else freq
    grid = Grid.from_panel(panel, freq, end=end)
    notional_expr = pl.col("volume") * pl.col("close")
    if "quote_volume" in panel.columns:
        notional_expr = pl.coalesce(pl.col("quote_volume"), notional_expr)
    close = grid.wide(panel, "close")
    prev = np.vstack([np.full((1, grid.shape[1]), np.nan), close[:-1]])
    with np.errstate(invalid="ignore"):
        returns = close / prev - 1.0
    unknown = np.full(grid.shape, np.nan)
    return HedgeData(
        grid=grid,
        returns=returns,
        notional=grid.wide(panel, notional_expr),
        funding=grid.wide(panel, "funding_rate") if "funding_rate" in panel.columns else unknown,
        open_interest=(grid.wide(panel, "open_interest") if "open_interest" in panel.columns
                       else unknown.copy()),
    )


def _nanmean(a: np.ndarray) -> np.ndarray:
    count = (~np.isnan(a)).sum(axis=0)
    total = np.nansum(a, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def _last_valid(a: np.ndarray) -> np.ndarray:
    out = np.full(a.shape[1], np.nan)
    for j in range(a.shape[1]):
        col = a[:, j]
        ok = np.flatnonzero(~np.isnan(col))
        if len(ok):
            out[j] = col[ok[-1]]
    return out


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
    oi = _last_valid(data.open_interest[: row + 1])
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
    listed = np.asarray(data.grid.bars[: row + 1].any(axis=0), dtype=bool)
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
