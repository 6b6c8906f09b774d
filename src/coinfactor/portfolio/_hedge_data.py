"""Wide inputs and candidate diagnostics for :class:`~coinfactor.portfolio.HedgeBasket`.

The panel is pivoted once onto a regular time grid (so a bar missing for every symbol is still a
gap), and each fit reads a window of rows ending at its decision bar. Notional is
``coalesce(quote_volume, volume * close)`` (Hyperliquid panels have no quote volume).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import polars as pl

from coinfactor.core.errors import DataError
from coinfactor.core.time import bars_per_day, freq_to_timedelta, periods_per_year
from coinfactor.data import infer_freq
from coinfactor.data._wide_compat import to_wide
from coinfactor.data._schema import TS_DTYPE


@dataclass(frozen=True)
class HedgeData:
    """A panel as dense arrays on a regular grid (rows = bars, columns = symbols).

    Attributes
    ----------
    ts : pl.Series
        Regular bar grid from the first to the last bar, length n_bars.
    symbols : tuple of str
    returns : ndarray of shape (n_bars, n_symbols)
        ``close(t) / close(t-1) - 1``; NaN when either bar is missing or filled.
    notional : ndarray of shape (n_bars, n_symbols)
        Bar notional in quote currency, ``coalesce(quote_volume, volume * close)``.
    funding : ndarray of shape (n_bars, n_symbols)
        ``funding_rate`` (fraction per bar, ``> 0``: longs pay); NaN when unknown.
    open_interest : ndarray of shape (n_bars, n_symbols)
        Open interest in quote units; NaN when unknown.
    freq : str
        Bar frequency.
    """

    ts: pl.Series
    symbols: tuple[str, ...]
    returns: np.ndarray
    notional: np.ndarray
    funding: np.ndarray
    open_interest: np.ndarray
    freq: str

    @property
    def periods_per_year(self) -> float:
        """Bars per 365-day year."""
        return periods_per_year(self.freq)

    def row_at(self, at: datetime) -> int:
        """Index of the last bar with ``ts <= at`` (the decision bar)."""
        stamp = pl.Series([at]).cast(TS_DTYPE)[0]
        idx = int(self.ts.search_sorted(stamp, side="right")) - 1
        if idx < 0:
            raise DataError(
                f"no bar at or before {at}; the panel starts at {self.ts[0]}",
                fix="fit at a later time",
            )
        return idx

    def bars(self, duration: str) -> int:
        """Count the bars a duration such as ``"21d"`` spans (at least 1)."""
        n = freq_to_timedelta(duration) / freq_to_timedelta(self.freq)
        return max(round(n), 1)

    def column(self, symbol: str) -> int:
        """Column of a symbol."""
        try:
            return self.symbols.index(symbol)
        except ValueError:
            raise DataError(
                f"symbol {symbol!r} is not in the panel; it has {len(self.symbols)} symbols, "
                f"e.g. {list(self.symbols[:5])}",
                fix="check the target / symbol name (case-sensitive, venue id)",
            ) from None


def build_hedge_data(
    panel: pl.DataFrame, *, freq: str | None = None, end: datetime | None = None
) -> HedgeData:
    """Pivot a canonical panel onto a regular bar grid.

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
    first: datetime = panel["ts"].min()  # type: ignore[assignment]
    last: datetime = (panel["ts"].max() if end is None  # type: ignore[assignment]
                      else pl.Series([end]).cast(TS_DTYPE)[0])
    grid = pl.datetime_range(
        first, last, interval=freq, eager=True, time_unit="us",
        time_zone="UTC",
    ).alias("ts")
    notional_expr = pl.col("volume") * pl.col("close")
    if "quote_volume" in panel.columns:
        notional_expr = pl.coalesce(pl.col("quote_volume"), notional_expr)
    extra = [notional_expr.alias("_notional")]
    for col in ("funding_rate", "open_interest"):
        if col not in panel.columns:
            extra.append(pl.lit(None, dtype=pl.Float64).alias(col))
    frame = panel.with_columns(extra)
    close = to_wide(frame, "close", ts=grid)
    symbols = close.symbols
    prev = np.vstack([np.full((1, len(symbols)), np.nan), close.values[:-1]])
    with np.errstate(invalid="ignore"):
        returns = close.values / prev - 1.0
    return HedgeData(
        ts=grid,
        symbols=symbols,
        returns=returns,
        notional=to_wide(frame, "_notional", ts=grid, symbols=symbols).values,
        funding=to_wide(frame, "funding_rate", ts=grid, symbols=symbols).values,
        open_interest=to_wide(frame, "open_interest", ts=grid, symbols=symbols).values,
        freq=freq,
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
        One row per symbol other than the target, sorted by symbol: ``symbol, coverage,
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
    rows = []
    for j, sym in enumerate(data.symbols):
        if sym == target:
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
