"""Point-in-time factor returns: market and bucket factors (liquidity, beta, momentum).

Bucket memberships are formed on a schedule (default daily) from trailing windows that end
at the formation bar, and applied to the bars after it: the factor return at ``ts`` uses the
coins' returns at ``ts`` and memberships decided from data strictly before ``ts``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import get_args

import numpy as np
import polars as pl

from coinfactor.core.errors import ConfigError, DataError
from coinfactor.core.time import freq_to_timedelta
from coinfactor.core.typing import FactorFamily, FactorSet, LiquidityMeasure, MarketWeighting
from coinfactor.data import Grid, infer_freq
from coinfactor.risk._volatility import bar_returns


def bucket_labels(n_buckets: int) -> tuple[str, ...]:
    """Return bucket names, lowest first: low/med/high for 3, low/high for 2, else q1..qn."""
    if n_buckets == 3:
        return ("low", "med", "high")
    if n_buckets == 2:
        return ("low", "high")
    return tuple(f"q{i + 1}" for i in range(n_buckets))


@dataclass(frozen=True, eq=False)
class FactorReturns:
    """Factor returns with the memberships and coin returns they were built from.

    Attributes
    ----------
    returns : pl.DataFrame
        ``ts`` plus one Float64 column per factor: ``market``, ``<family>_<bucket>`` and
        ``<family>_hml`` (highest minus lowest bucket); one row per bar of a regular grid,
        NaN where undefined. Fractions per bar.
    memberships : pl.DataFrame
        ``ts, symbol`` and one Int8 column per family: the bucket (0 = lowest) that the coin's
        return at ``ts`` enters, decided at the last formation bar before ``ts``; null when
        unassigned. Rows where the coin has any membership.
    asset_returns : ndarray of shape (T, N)
        Coin bar returns ``close(t) / close(t-1) - 1`` (fractions) on :attr:`grid`; NaN where
        undefined.
    market_weights : ndarray of shape (T, N)
        Weight of each coin in the market return at each bar (0 where out of it).
    families : tuple of str
        Families built.
    n_buckets : int
        Buckets per family.
    grid : Grid
        The panel's regular grid (first to last bar, one bar apart): ``grid.ts`` is the
        ``ts`` of :attr:`returns`, ``grid.symbols`` the columns of :attr:`asset_returns`.
    """

    returns: pl.DataFrame
    memberships: pl.DataFrame
    asset_returns: np.ndarray
    market_weights: np.ndarray
    families: tuple[str, ...]
    n_buckets: int
    grid: Grid

    def factor_names(self, factor_set: FactorSet = "spreads") -> tuple[str, ...]:
        """Column names of a factor set (market first)."""
        if factor_set == "spreads":
            return ("market", *(f"{f}_hml" for f in self.families))
        if factor_set == "buckets":
            labels = bucket_labels(self.n_buckets)
            return ("market", *(f"{f}_{b}" for f in self.families for b in labels))
        raise ConfigError(f"factor_set must be one of {list(get_args(FactorSet))}, "
                          f"got {factor_set!r}")

    def annualized(self, periods_per_year: float) -> dict[str, tuple[float, float]]:
        """Annualised mean and volatility of each factor return (finite bars only).

        Parameters
        ----------
        periods_per_year : float
            Bars per 365-day year (:func:`coinfactor.core.time.periods_per_year`).

        Returns
        -------
        dict of str to (float, float)
            Per factor column of :attr:`returns`: ``(mean * periods_per_year,
            std(ddof=1) * sqrt(periods_per_year))``, fractions per year; NaN with too few
            bars (none for the mean, fewer than two for the volatility).
        """
        out: dict[str, tuple[float, float]] = {}
        for name in self.returns.columns[1:]:
            v = self.returns.get_column(name).to_numpy()
            v = v[np.isfinite(v)]
            vol = float(v.std(ddof=1) * math.sqrt(periods_per_year)) if v.size > 1 else math.nan
            out[name] = (float(v.mean() * periods_per_year) if v.size else math.nan, vol)
        return out

    def summary(self) -> str:
        """Plain-text summary: grid, coins, and each factor's mean and volatility per bar."""
        lines = ["FactorReturns",
                 f"  bars x coins  {self.grid.shape[0]} x {self.grid.shape[1]}",
                 f"  families      {', '.join(self.families) or '-'} "
                 f"({self.n_buckets} buckets)",
                 "  factor                 mean/bar       vol/bar     bars"]
        for name in self.returns.columns[1:]:
            v = self.returns.get_column(name).to_numpy()
            v = v[np.isfinite(v)]
            mean = float(v.mean()) if v.size else math.nan
            vol = float(v.std(ddof=1)) if v.size > 1 else math.nan
            lines.append(f"  {name:<20} {mean:>12.3e} {vol:>12.3e} {v.size:>8d}")
        return "\n".join(lines)


def factor_returns(
    panel: pl.DataFrame,
    *,
    families: Sequence[FactorFamily] = ("liquidity", "beta", "momentum"),
    n_buckets: int = 3,
    rebalance: str = "1d",
    market: MarketWeighting = "equal",
    liquidity: LiquidityMeasure = "trades",
    liquidity_window: int = 168,
    beta_window: int = 168,
    momentum_windows: Sequence[int] = (24, 72, 168),
    min_coverage: float = 0.5,
) -> FactorReturns:
    """Market and bucket factor returns, point in time.

    Parameters
    ----------
    panel : pl.DataFrame
        Canonical panel (one bar frequency).
    families : sequence of {"liquidity", "beta", "momentum"}
        Bucket families to build (may be empty: market only).
    n_buckets : int, default 3
        Buckets per family (low / med / high).
    rebalance : str, default "1d"
        Formation schedule, a whole number of bars: memberships are formed at every bar whose
        close falls on a multiple of ``rebalance`` since the Unix epoch (UTC midnight for
        ``"1d"``), from data through that bar, and apply to the following bars.
    market : {"equal", "quote_volume"}, default "equal"
        Market weighting: equal, or by the previous bar's quote notional
        (``coalesce(quote_volume, volume * close)``, known before the bar's return).
    liquidity : {"trades", "notional"}, default "trades"
        Liquidity characteristic: mean trades per bar, or mean quote notional per bar
        (``coalesce(quote_volume, volume * close)``), over ``liquidity_window`` bars.
    liquidity_window, beta_window : int, default 168
        Trailing windows in bars (168 hourly bars = one week).
    momentum_windows : sequence of int, default (24, 72, 168)
        Momentum is the mean over these windows of the sum of bar returns in each.
    min_coverage : float, default 0.5
        Share of a trailing window that must hold valid values for a characteristic.

    Returns
    -------
    FactorReturns

    Notes
    -----
    * Coin return at ``ts``: ``close(ts) / close(ts - freq) - 1``, never across a missing or
      filled bar. The market return is the weighted mean of the coins with a return at ``ts``.
    * Beta of a coin (characteristic) is ``cov(r, m) / var(m)`` over the rows where both are
      valid: the coin regressed on the market.
    * Buckets: at a formation bar, coins with a valid characteristic are ranked ascending;
      tied values share the lowest rank of their group ("min" ranking, so ties never split
      across buckets), and bucket ``floor(rank * n_buckets / count)``. Fewer valid coins than
      buckets: no memberships until the next formation. A bucket return is the equal-weighted
      mean return of its members with a return at ``ts``; ``<family>_hml`` is the highest
      bucket minus the lowest.
    """
    fams = _check_options(families, n_buckets, market, liquidity, liquidity_window,
                          beta_window, momentum_windows, min_coverage)
    if panel.height == 0:
        raise DataError("factor_returns: the panel is empty", fix="pass a panel with bars")
    freq_name = infer_freq(panel)
    freq = freq_to_timedelta(freq_name)
    period = freq_to_timedelta(rebalance)
    if period < freq or period % freq:
        raise ConfigError(f"rebalance {rebalance!r} must be a whole number of bars "
                          f"({freq} each)")
    grid = Grid.from_panel(panel, freq_name)
    ts = grid.ts
    opts = FactorOptions(fams, n_buckets, period // freq, market, liquidity,
                         liquidity_window, beta_window, tuple(momentum_windows), min_coverage)
    if "liquidity" in fams and liquidity == "trades":
        check_trades(panel.get_column("trades").null_count() == panel.height)
    ret, weights, liq = block_inputs(lambda c: grid.wide(panel, c), opts)
    ends = ts.dt.epoch("us").to_numpy() + freq // timedelta(microseconds=1)
    columns, members = factor_arrays(ends, period // timedelta(microseconds=1), ret, weights,
                                     liq, opts)
    returns = pl.DataFrame({"ts": ts, **columns})
    return FactorReturns(
        returns=returns,
        memberships=_memberships_frame(ts, grid.symbols, members),
        asset_returns=ret,
        market_weights=weights,
        families=fams,
        n_buckets=n_buckets,
        grid=grid,
    )


def _check_options(families: Sequence[str], n_buckets: int, market: str, liquidity: str,
                   liquidity_window: int, beta_window: int, momentum_windows: Sequence[int],
                   min_coverage: float) -> tuple[str, ...]:
    fams = tuple(families)
    allowed = get_args(FactorFamily)
    bad = [f for f in fams if f not in allowed]
    if bad or len(set(fams)) != len(fams):
        raise ConfigError(f"families must be distinct values of {list(allowed)}, got {fams}")
    if isinstance(n_buckets, bool) or not isinstance(n_buckets, int) or n_buckets < 2:
        raise ConfigError(f"n_buckets must be an integer >= 2, got {n_buckets!r}")
    if market not in get_args(MarketWeighting):
        raise ConfigError(f"market must be one of {list(get_args(MarketWeighting))}, "
                          f"got {market!r}")
    if liquidity not in get_args(LiquidityMeasure):
        raise ConfigError(f"liquidity must be one of {list(get_args(LiquidityMeasure))}, "
                          f"got {liquidity!r}")
    checks: list[tuple[str, object]] = [("liquidity_window", liquidity_window),
                                        ("beta_window", beta_window)]
    checks += [("momentum_windows", w) for w in momentum_windows]
    for name, w in checks:
        if isinstance(w, bool) or not isinstance(w, int) or w < 2:
            raise ConfigError(f"{name} must be integers >= 2 bars, got {w!r}")
    if not momentum_windows:
        raise ConfigError("momentum_windows must hold at least one window")
    if not 0.0 < min_coverage <= 1.0:
        raise ConfigError(f"min_coverage must be in (0, 1], got {min_coverage!r}")
    return fams


def check_trades(all_null: bool) -> None:
    """Raise when liquidity by trades is asked of a panel without trade counts."""
    if all_null:
        raise DataError(
            "factor_returns: liquidity='trades' needs the trades column, which is all null "
            "in this panel (Hyperliquid data has no trade counts)",
            column="trades", fix="use liquidity='notional'")


NOTIONAL = pl.coalesce("quote_volume", pl.col("volume") * pl.col("close"))
"""Quote notional of a bar: ``coalesce(quote_volume, volume * close)``."""


@dataclass(frozen=True)
class FactorOptions:
    """Checked settings of :func:`factor_returns` (``period`` in bars)."""

    families: tuple[str, ...]
    n_buckets: int
    period: int
    market: str
    liquidity: str
    liquidity_window: int
    beta_window: int
    momentum_windows: tuple[int, ...]
    min_coverage: float

    def warmup(self) -> int:
        """Bars before a block's first row that its factor returns read.

        A membership at row ``r`` comes from the last formation bar before ``r`` (at most
        ``period`` bars back), whose characteristic reads the trailing window (at most the
        longest window), of bar returns (one more bar of prices).
        """
        windows = [self.liquidity_window, self.beta_window, *self.momentum_windows]
        longest = max(windows) if self.families else 0
        return self.period + longest + 1


def block_inputs(wide: Callable[[str | pl.Expr], np.ndarray], opts: FactorOptions,
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Coin returns, market weights and the liquidity measure on one grid, each (T, N).

    ``wide(column)`` pivots a panel column or expression onto the grid (NaN where missing).
    The liquidity measure is None when the liquidity family is not built.
    """
    ret = bar_returns(wide("close"))
    notional = wide(NOTIONAL) if (opts.market != "equal" or (
        "liquidity" in opts.families and opts.liquidity != "trades")) else None
    weights = market_weights(ret, notional, opts.market)
    liq = None
    if "liquidity" in opts.families:
        liq = wide("trades") if opts.liquidity == "trades" else notional
    return ret, weights, liq


def market_weights(ret: np.ndarray, notional: np.ndarray | None, market: str) -> np.ndarray:
    """Weight of each coin in the market return, (T, N): 1, or the previous bar's notional."""
    has_ret = np.isfinite(ret)
    if market == "equal" or notional is None:
        return has_ret.astype(np.float64)
    prev = np.full_like(notional, np.nan)
    prev[1:] = notional[:-1]
    ok = has_ret & np.isfinite(prev) & (prev > 0)
    return np.where(ok, prev, 0.0)


def market_return(ret: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted mean return of the coins with a return at each bar, shape (T,)."""
    wsum = weights.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(wsum > 0, np.nansum(weights * np.nan_to_num(ret), axis=1) / wsum,
                        np.nan)


def factor_arrays(ends_us: np.ndarray, period_us: int, ret: np.ndarray, weights: np.ndarray,
                  liq: np.ndarray | None, opts: FactorOptions,
                  ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Factor return columns and memberships on one grid (the kernel of factor_returns).

    Parameters
    ----------
    ends_us : ndarray of int64, shape (T,)
        Close time of each bar, microseconds since the epoch.
    period_us : int
        Formation period in microseconds.
    ret, weights : ndarray of shape (T, N)
        Coin returns and market weights (:func:`block_inputs`).
    liq : ndarray of shape (T, N) or None
        Liquidity measure.
    opts : FactorOptions
        Settings.

    Returns
    -------
    (dict, dict)
        Factor columns (each (T,)) and memberships per family ((T, N) int8, -1 unassigned).
        Every value at row ``t`` reads rows ``t - opts.warmup() + 1 .. t`` only, and the
        coin axis whole: a block of rows with that warm-up gives the whole grid's values
        bit for bit.
    """
    mkt = market_return(ret, weights)
    form_rows = np.flatnonzero(ends_us % period_us == 0)
    labels = bucket_labels(opts.n_buckets)
    columns: dict[str, np.ndarray] = {"market": mkt}
    members: dict[str, np.ndarray] = {}
    for fam in opts.families:
        if fam == "liquidity":
            if liq is None:
                raise ValueError("factor_arrays: the liquidity family needs its measure")
            char = _liquidity_char(liq, opts.liquidity_window, form_rows, opts.min_coverage)
        elif fam == "beta":
            char = _beta_char(ret, mkt, opts.beta_window, form_rows, opts.min_coverage)
        else:
            char = _momentum_char(ret, opts.momentum_windows, form_rows, opts.min_coverage)
        buckets = assign_buckets(char, opts.n_buckets)
        member = _apply_schedule(buckets, form_rows, ret.shape[0])
        members[fam] = member
        bucket_ret = [_mean_where(ret, member == b) for b in range(opts.n_buckets)]
        for label, r in zip(labels, bucket_ret, strict=True):
            columns[f"{fam}_{label}"] = r
        columns[f"{fam}_hml"] = bucket_ret[-1] - bucket_ret[0]
    return columns, members


def _window_rows(f: int, window: int) -> slice:
    return slice(max(0, f - window + 1), f + 1)


def _liquidity_char(values: np.ndarray, window: int, form_rows: np.ndarray,
                    min_coverage: float) -> np.ndarray:
    need = math.ceil(min_coverage * window)
    out = np.full((form_rows.size, values.shape[1]), np.nan)
    for i, f in enumerate(form_rows):
        block = values[_window_rows(f, window)]
        count = np.isfinite(block).sum(axis=0)
        with np.errstate(invalid="ignore"):
            mean = np.nansum(block, axis=0) / count
        out[i] = np.where(count >= need, mean, np.nan)
    return out


def _beta_char(ret: np.ndarray, mkt: np.ndarray, window: int, form_rows: np.ndarray,
               min_coverage: float) -> np.ndarray:
    need = max(2, math.ceil(min_coverage * window))
    out = np.full((form_rows.size, ret.shape[1]), np.nan)
    for i, f in enumerate(form_rows):
        rows = _window_rows(f, window)
        r, m = ret[rows], mkt[rows, None]
        ok = np.isfinite(r) & np.isfinite(m)
        count = ok.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            r_mean = np.where(ok, r, 0.0).sum(axis=0) / count
            m_mean = np.where(ok, m, 0.0).sum(axis=0) / count
            dm = np.where(ok, m - m_mean, 0.0)
            dr = np.where(ok, r - r_mean, 0.0)
            var_m = (dm * dm).sum(axis=0)
            beta = (dr * dm).sum(axis=0) / var_m
        out[i] = np.where((count >= need) & (var_m > 0), beta, np.nan)
    return out


def _momentum_char(ret: np.ndarray, windows: Sequence[int], form_rows: np.ndarray,
                   min_coverage: float) -> np.ndarray:
    out = np.zeros((form_rows.size, ret.shape[1]))
    for w in windows:
        need = math.ceil(min_coverage * w)
        for i, f in enumerate(form_rows):
            block = ret[_window_rows(f, w)]
            count = np.isfinite(block).sum(axis=0)
            total = np.nansum(block, axis=0)
            out[i] += np.where(count >= need, total, np.nan)
    return out / len(windows)


def assign_buckets(values: np.ndarray, n_buckets: int) -> np.ndarray:
    """Bucket index of each value along the last axis (0 = lowest), -1 where unassigned.

    Values are ranked ascending among the finite ones; tied values share the lowest rank of
    their group ("min" ranking, so ties never split across buckets); the bucket is
    ``floor(rank * n_buckets / count)``. A row with fewer finite values than buckets is left
    unassigned.

    Parameters
    ----------
    values : ndarray of shape (..., n_assets)
        Characteristic per asset (NaN for missing).
    n_buckets : int
        Number of buckets.

    Returns
    -------
    ndarray of int8, same shape as ``values``

    Examples
    --------
    >>> assign_buckets(np.array([3.0, 1.0, 2.0, np.nan, 1.0, 5.0]), 3)
    array([ 1,  0,  1, -1,  0,  2], dtype=int8)
    """
    arr = np.asarray(values, dtype=np.float64)
    flat = arr.reshape(-1, arr.shape[-1]) if arr.ndim else arr.reshape(1, 1)
    out = np.full(flat.shape, -1, dtype=np.int8)
    for i, row in enumerate(flat):
        valid = np.isfinite(row)
        count = int(valid.sum())
        if count < n_buckets:
            continue
        vals = row[valid]
        rank_min = np.searchsorted(np.sort(vals), vals, side="left")
        out[i, valid] = (rank_min * n_buckets) // count
    return out.reshape(arr.shape)


def _apply_schedule(buckets: np.ndarray, form_rows: np.ndarray, n_rows: int) -> np.ndarray:
    """Membership at each row: that of the last formation row strictly before it."""
    idx = np.searchsorted(form_rows, np.arange(n_rows), side="left") - 1
    out = np.full((n_rows, buckets.shape[1]), -1, dtype=np.int8)
    has = idx >= 0
    out[has] = buckets[idx[has]]
    return out


def _mean_where(ret: np.ndarray, member: np.ndarray) -> np.ndarray:
    ok = member & np.isfinite(ret)
    count = ok.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, np.where(ok, ret, 0.0).sum(axis=1) / count, np.nan)


def _memberships_frame(ts: pl.Series, symbols: tuple[str, ...],
                       members: dict[str, np.ndarray]) -> pl.DataFrame:
    n_rows, n_sym = len(ts), len(symbols)
    frame = pl.DataFrame({
        "ts": pl.Series("ts", np.tile(ts.to_numpy(), n_sym)).cast(ts.dtype),
        "symbol": pl.Series("symbol", list(symbols), dtype=pl.String).gather(
            np.repeat(np.arange(n_sym), n_rows)),
        **{fam: pl.Series(fam, m.T.reshape(-1), dtype=pl.Int8) for fam, m in members.items()},
    })
    if not members:
        return frame.clear()
    frame = frame.with_columns(pl.when(pl.col(f) >= 0).then(pl.col(f)).alias(f)
                               for f in members)
    return frame.filter(pl.any_horizontal(pl.col(f).is_not_null() for f in members))
