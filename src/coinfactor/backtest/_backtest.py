"""``backtest(panel, weights, ...)``: drifting holdings, costs on the trades made, funding."""

from __future__ import annotations

import typing
import warnings
from dataclasses import dataclass

import numpy as np
import polars as pl

from coinfactor.backtest._costs import CostModel, Fees, MarketData
from coinfactor.backtest._result import BacktestResult, FundingCoverage
from coinfactor.backtest._simulate import Ledger, simulate
from coinfactor.backtest._weights import check_unique_cells, check_weights_frame
from coinfactor.core.errors import ConfigError, DataError, DataWarning
from coinfactor.core.rowsums import row_blocks, row_sums
from coinfactor.core.time import bars_per_day, periods_per_year
from coinfactor.core.typing import FundingMissing, GapPolicy, Rebalance
from coinfactor.data import TS_DTYPE, Grid

_TS = TS_DTYPE
DEFAULT_COSTS = Fees(4.5)
"""4.5 bps per unit traded: a base-tier taker fee (Hyperliquid's), no spread or impact."""


def backtest(
    panel: pl.DataFrame,
    weights: pl.DataFrame | np.ndarray,
    *,
    grid: Grid | None = None,
    market: MarketData | None = None,
    costs: CostModel = DEFAULT_COSTS,
    initial_nav: float = 1_000_000.0,
    rebalance: Rebalance = "decisions",
    lag: int = 0,
    maintenance_margin: float = 0.0,
    max_leverage: float | None = None,
    funding_missing: FundingMissing = "warn",
    forecast_vol: pl.DataFrame | None = None,
    vol_window: int | None = None,
    gap: GapPolicy = "mark",
    freq: str | None = None,
) -> BacktestResult:
    """Backtest target weights on a canonical panel: drifting holdings, trades, costs, funding.

    Parameters
    ----------
    panel : pl.DataFrame
        Canonical panel (``ts, symbol, close``; ``volume``/``quote_volume`` for impact costs;
        ``funding_rate`` for perpetuals: without the column the panel is spot, no funding).
        Bars flagged ``filled`` are never used as prices.
    weights : pl.DataFrame or ndarray of shape (n_bars, n_symbols)
        Signed target fractions of NAV decided with data through bar ts, traded at the close
        of bar ts (+ ``lag`` bars). A long frame ``ts, symbol, weight``: a ts present in it is
        a decision and gives the whole book (its absent symbols are flat); between decisions
        nothing trades and the holdings drift with prices. Or an array on ``grid``: a row with
        any value is a decision (its NaN cells flat), an all-NaN row is not. Before the first
        decision the book is flat and no NAV is reported.
    grid : Grid, optional
        The panel's grid (``Grid.from_panel(panel)``, built when omitted); required to give
        ``weights`` as an array.
    market : MarketData, optional
        ``MarketData.from_panel(panel, grid)``, built when omitted: pass it (with ``grid``) to
        reuse its trailing volatility and volume across runs on one panel.
    costs : CostModel, default ``Fees(4.5)``
        Prices each trade from its size, the NAV and trailing market data
        (:class:`Fees`, :class:`HalfSpread`, :class:`SquareRootImpact`, summed with ``+``).
    initial_nav : float, default 1,000,000
        NAV at the close of the first decision bar, in quote currency (USD): impact costs
        depend on it.
    rebalance : {"decisions", "every_bar"}, default "decisions"
        ``"every_bar"`` trades back to the last targets at every bar and pays for it.
    lag : int, default 0
        Extra bars between decision and execution.
    maintenance_margin : float, default 0.0
        Liquidate the book (close everything, with costs; flat afterwards) at the first close
        where equity is at most ``maintenance_margin`` × gross notional; NAV reaching 0
        liquidates in any case (see :func:`venue_preset` for venue values).
    max_leverage : float, optional
        Largest allowed target gross exposure (Σ|w|) at a decision; above it is an error.
    funding_missing : {"warn", "error", "zero"}, default "warn"
        What to do with held position-bars whose ``funding_rate`` is null (see
        :data:`coinfactor.core.typing.FundingMissing`); the count is always reported
        (:attr:`BacktestResult.funding`).
    forecast_vol : pl.DataFrame, optional
        ``ts, forecast_vol``: annualised ex-ante vol of the book decided at ts, shifted by
        ``lag`` like the weights and reported next to the realised vol.
    vol_window : int, optional
        Bars in the rolling realised-vol window (default: 30 days of bars).
    gap : {"mark", "skip"}, default "mark"
        How a position held through missing bars is marked when the price reappears.
    freq : str, optional
        Bar frequency; inferred from the panel when omitted (the grid's with ``grid``).

    Returns
    -------
    BacktestResult

    Raises
    ------
    DataError
        On malformed weights (missing columns, NaN, duplicates, an array of another shape,
        no decision), weights on a ts or symbol the panel does not have, a trade the cost model
        cannot price, target gross above ``max_leverage``, or (``funding_missing="error"``) a
        held position-bar without funding.
    ConfigError
        On a negative ``lag``, a non-positive ``initial_nav``, a bad option or margin.

    Notes
    -----
    DESIGN.md, "Backtest accounting": with ``w(t)`` the weights held after the close of bar t
    and ``d(t)`` the drifted weights before its trades::

        pnl(t+1) = Σ w(t)·r(t+1) - Σ w(t)·funding(t+1) - Σ cost(w(t) - d(t))
        d(t+1)   = w(t)·(1 + r(t+1)) / (1 + pnl(t+1))

    The cost of the trades at a close is charged over the next bar (so the costs of trades at
    the last bar's close are not in the NAV). A symbol with no price on a bar cannot trade
    there; its position is held, the move is booked when the price returns (``gap``) and a
    decision it missed is traded at its next price (unless a newer decision came first). A
    delisted symbol (last price before the panel's last bar) is closed at its last close,
    paying costs. Missing funding is booked as 0 but counted (``funding_missing``).

    Examples
    --------
    >>> from datetime import datetime, UTC
    >>> ts = [datetime(2024, 1, d, tzinfo=UTC) for d in (1, 2, 3)]
    >>> panel = pl.DataFrame({"ts": ts, "symbol": "A", "open": 1.0, "high": 2.0, "low": 1.0,
    ...     "close": [1.0, 1.1, 1.21], "volume": 1.0, "funding_rate": [0.0, 0.01, 0.0]})
    >>> w = pl.DataFrame({"ts": ts[:1], "symbol": "A", "weight": 1.0})
    >>> res = backtest(panel, w, costs=Fees(0.0))
    >>> [round(x, 6) for x in res.nav["ret"]]  # bar 3: the weight drifted to 1.1 / 1.09
    [0.0, 0.09, 0.100917]
    """
    _check_settings(lag=lag, initial_nav=initial_nav, rebalance=rebalance,
                    maintenance_margin=maintenance_margin, max_leverage=max_leverage,
                    funding_missing=funding_missing, costs=costs)
    for col in ("ts", "symbol", "close"):
        if col not in panel.columns:
            raise DataError(f"backtest: the panel needs column {col!r}, got {panel.columns}",
                            column=col, fix="pass a canonical panel (coinfactor.data)")
    if grid is None:
        if isinstance(weights, np.ndarray):
            raise DataError("backtest: weights given as an array need the grid they are on",
                            fix="pass grid=Grid.from_panel(panel)")
        # the weighted symbols' columns alone: nothing else is ever held
        weighted = (weights.get_column("symbol").unique().sort().to_list()
                    if "symbol" in weights.columns else None)
        grid = Grid.from_panel(panel, freq, symbols=weighted)
    raw = _target_array(weights, panel, grid)
    if market is None:
        market = MarketData.from_panel(panel, grid)  # a filled bar is never a price
    elif market.grid is not grid:
        raise DataError("backtest: market was built on another grid than the one given",
                        fix="pass market=MarketData.from_panel(panel, grid) with that grid")
    perp = "funding_rate" in panel.columns
    funding = grid.wide(panel, "funding_rate") if perp else np.zeros(grid.shape)
    run = _Run(freq=freq if freq is not None else grid.freq, costs=costs, lag=lag,
               initial_nav=initial_nav, rebalance=rebalance,
               maintenance_margin=maintenance_margin, max_leverage=max_leverage,
               funding_missing=funding_missing, forecast_vol=forecast_vol,
               vol_window=vol_window, gap=gap)
    return run(grid, raw, market, funding, perp=perp)


def _target_array(weights: pl.DataFrame | np.ndarray, panel: pl.DataFrame,
                  grid: Grid) -> np.ndarray:
    """Weights on the grid: decision rows hold values (NaN flat), other rows are all NaN."""
    if isinstance(weights, np.ndarray):
        if weights.shape != grid.shape:
            raise DataError(f"backtest: weights has shape {weights.shape}, expected the grid's "
                            f"{grid.shape} (n_bars, n_symbols)", fix="pass arrays on one grid")
        if np.isnan(weights).all():
            raise DataError("backtest: weights has no decision row (all NaN)",
                            fix="give at least one row of weights; 0.0 means flat")
        return np.asarray(weights, dtype=np.float64)
    w_long = check_weights_frame(weights)
    if w_long.height == 0:
        raise DataError("backtest: the weights frame is empty",
                        fix="pass at least one (ts, symbol, weight) row; 0.0 means flat")
    wi, wj, wok = grid.locate(w_long)
    _check_weights_in_panel(w_long, panel, wok)
    check_unique_cells(w_long, grid, wi, wj)
    return grid.scatter(w_long, "weight")


@dataclass(frozen=True)
class _Run:
    """The settings of one backtest, applied to grid-aligned arrays (after validation)."""

    freq: str
    costs: CostModel
    lag: int
    initial_nav: float
    rebalance: Rebalance
    maintenance_margin: float
    max_leverage: float | None
    funding_missing: FundingMissing
    forecast_vol: pl.DataFrame | None
    vol_window: int | None
    gap: GapPolicy

    def __call__(self, grid: Grid, raw: np.ndarray, market: MarketData, funding: np.ndarray,
                 *, perp: bool) -> BacktestResult:
        """Backtest the decision rows of ``raw`` (any value; NaN cells flat) on ``grid``.

        Parameters
        ----------
        grid : Grid
            The panel's grid.
        raw : ndarray of shape (n_bars, n_symbols)
            Targets: a row with any value is a decision (NaN cells flat), others all NaN.
        market : MarketData
            Closes (NaN: no unfilled bar) and volumes on ``grid``.
        funding : ndarray of shape (n_bars, n_symbols)
            Funding rates, NaN where unknown: this run's own array (its NaN are set to 0
            in place, after their cells are noted).
        perp : bool
            Whether the panel has funding at all (a spot panel has no missing funding).
        """
        ts_axis, symbols = grid.ts, grid.symbols
        n_t = len(ts_axis)
        decision = ~np.isnan(raw).all(axis=1)
        rows = np.flatnonzero(decision)
        # rows after a decision carry its targets (what "every_bar" trades back to): the
        # simulation reads them in place, NaN (no target) as 0
        carry = np.maximum.accumulate(np.where(decision, np.arange(n_t), 0)) if n_t else rows
        self._check_leverage(raw, rows, ts_axis)
        if self.lag:
            carry = np.concatenate([np.full(self.lag, -1), carry])[:n_t]  # -1: flat
            decision = np.concatenate([np.zeros(self.lag, dtype=bool), decision])[:n_t]
        first = int(rows[0]) + self.lag
        # funding is this run's own array: its gaps are kept as a mask and booked as 0 in
        # place (the simulation reads no NaN funding, so it makes no copy)
        no_funding = np.isnan(funding)
        np.copyto(funding, 0.0, where=no_funding)
        ledger = simulate(raw, decision, market.close, funding, self.costs, market,
                          target_rows=carry, first=min(first, n_t), initial_nav=self.initial_nav,
                          rebalance=self.rebalance, gap=self.gap,
                          maintenance_margin=self.maintenance_margin,
                          labels=(ts_axis, symbols))
        coverage = self._funding_coverage(ledger, no_funding, grid, perp=perp)
        return self._result(grid, ledger, coverage)

    def _check_leverage(self, raw: np.ndarray, rows: np.ndarray, ts_axis: pl.Series) -> None:
        if self.max_leverage is None or rows.size == 0:
            return
        gross = np.empty(rows.size)
        for lo in range(0, rows.size, 4096):  # the decision rows, NaN as 0, a block at a time
            part = raw[rows[lo:lo + 4096]]
            np.copyto(part, 0.0, where=np.isnan(part))
            gross[lo:lo + 4096] = np.abs(part).sum(axis=1)
        over = np.flatnonzero(gross > self.max_leverage * (1.0 + 1e-12))
        if over.size:
            i = int(rows[over[0]])
            raise DataError(
                f"backtest: target gross exposure {gross[over[0]]:.4g} at {ts_axis[i]} is above "
                f"max_leverage={self.max_leverage:g} ({over.size} decision(s) above it)",
                fix="scale the weights down (e.g. a gross cap in the allocator) or raise "
                    "max_leverage")

    def _funding_coverage(self, ledger: Ledger, no_funding: np.ndarray, grid: Grid,
                          *, perp: bool) -> FundingCoverage:
        """Count held position-bars without funding; warn or raise as configured."""
        n_t, first = no_funding.shape[0], ledger.start
        if not perp or first >= n_t - 1:
            return FundingCoverage(0, 0, None, None)
        held_before = ledger.held[:-1] != 0.0  # held over bar t + 1 (rows from first)
        gap = held_before & no_funding[first + 1:]
        n_pos, n_gap = int(held_before.sum()), int(gap.sum())
        if not n_gap:
            return FundingCoverage(n_pos, 0, None, None)
        i, j = np.argwhere(gap)[0]
        ts, sym = grid.ts[first + 1 + int(i)], grid.symbols[int(j)]
        coverage = FundingCoverage(n_pos, n_gap, ts, sym)
        message = (f"backtest: {n_gap} of {n_pos} held position-bars "
                   f"({coverage.missing_share:.1%}) have no funding data; the first is {sym!r} "
                   f"at {ts}")
        if self.funding_missing == "error":
            raise DataError(message, column="funding_rate",
                            fix="attach funding for the whole span, cut the panel to the "
                                "funding coverage, or pass funding_missing='zero'")
        if self.funding_missing == "warn":
            warnings.warn(message + " (booked as 0; funding_missing='error' to refuse, "
                          "'zero' to accept silently)", DataWarning, stacklevel=4)
        return coverage

    def _result(self, grid: Grid, ledger: Ledger, coverage: FundingCoverage) -> BacktestResult:
        ts_axis, symbols = grid.ts, grid.symbols
        ts_out = ts_axis[ledger.start:]  # the ledger's bars: from the first decision
        out_grid = Grid.on_axes(ts_out, symbols, grid.freq)  # to melt the ledger's arrays
        ret_price, ret_funding, ret_cost = ledger.ret_price, ledger.ret_funding, ledger.ret_cost
        ret = ret_price + ret_funding + ret_cost
        nav = ledger.nav
        held, pre = ledger.held, ledger.pre_trade  # the trades are held - pre
        cost, price = ledger.cost, ledger.mark_price
        turnover = _turnover(held, pre)
        nav_frame = pl.DataFrame({"ts": ts_out, "nav": nav, "ret": ret, "ret_price": ret_price,
                                  "ret_funding": ret_funding, "ret_cost": ret_cost,
                                  "turnover": turnover})

        def build_holdings() -> pl.DataFrame:
            notional = held * nav[:, None]
            return out_grid.long(
                {"weight": held, "notional": notional, "quantity": notional / price,
                 "price": price}, where=held != 0.0, order="ts")

        def build_trades() -> pl.DataFrame:
            t_i, t_j = np.nonzero(_traded(held, pre))
            trade = held[t_i, t_j] - pre[t_i, t_j]
            trade_notional = trade * nav[t_i]
            return out_grid.frame(
                t_i, t_j,
                {"weight_before": pre[t_i, t_j], "weight_after": held[t_i, t_j],
                 "trade": trade, "notional": trade_notional,
                 "quantity": trade_notional / price[t_i, t_j], "price": price[t_i, t_j],
                 "cost": cost[t_i, t_j] * nav[t_i]})

        ppy = periods_per_year(self.freq)
        window = (self.vol_window if self.vol_window is not None
                  else max(2, round(30 * bars_per_day(self.freq))))
        realized = (nav_frame.select(pl.col("ret").rolling_std(window, min_samples=window))
                    .get_column("ret") * np.sqrt(ppy))
        vol = pl.DataFrame({"ts": ts_out, "realized_vol": realized})
        vol = _attach_forecast(vol, self.forecast_vol, ts_axis, self.lag).select(
            "ts", "forecast_vol", "realized_vol")
        # non-zero weights plus the zeros of positions closed at ts (held before, flat now)
        nonzero = held != 0.0
        in_book = nonzero.copy()
        in_book[1:] |= nonzero[:-1]

        def build_weight_matrix() -> np.ndarray:
            cols = np.flatnonzero(in_book.any(axis=0))
            cols = cols[np.argsort([symbols[c] for c in cols], kind="stable")]
            out = np.take(held, cols, axis=1)
            out += 0.0  # -0.0 as 0.0, in place (one copy of the held columns)
            return out
        liq = ledger.liquidated
        return BacktestResult(
            build_weight_matrix=build_weight_matrix,
            nav=nav_frame,
            build_weights=lambda: out_grid.long({"weight": held}, where=in_book, order="ts"),
            build_holdings=build_holdings,
            build_trades=build_trades,
            turnover=pl.DataFrame({"ts": ts_out, "turnover": turnover}),
            build_exposure=lambda: pl.DataFrame({
                "ts": ts_out,
                "gross": row_sums(held, np.abs),
                "net": row_sums(held),
                "long": row_sums(held, lambda b: np.where(b > 0, b, 0.0)),
                "short": row_sums(held, lambda b: np.where(b < 0, b, 0.0)),
                "n_long": (held > 0).sum(axis=1).astype(np.int64),
                "n_short": (held < 0).sum(axis=1).astype(np.int64),
            }),
            build_drawdown=lambda: pl.DataFrame({
                "ts": ts_out, "drawdown": nav / (np.maximum.accumulate(nav) if nav.size
                                                 else nav) - 1.0}),
            vol=vol,
            freq=self.freq,
            funding=coverage,
            liquidated_at=ts_axis[liq] if liq >= 0 else None,
            liquidation_reason=ledger.liquidation_reason or None,
            settings={"costs": repr(self.costs), "initial_nav": self.initial_nav,
                      "rebalance": self.rebalance, "lag": self.lag, "gap": self.gap,
                      "maintenance_margin": self.maintenance_margin,
                      "max_leverage": self.max_leverage,
                      "funding_missing": self.funding_missing, "vol_window": window},
        )


def _turnover(held: np.ndarray, pre: np.ndarray) -> np.ndarray:
    """Return ``Σ|held - pre|`` of each row, left to right, a block of rows at a time."""
    if held.shape[1] == 0:
        return np.zeros(held.shape[0])
    out = np.empty(held.shape[0])
    for lo, hi in row_blocks(held.shape[0]):
        part = np.abs(held[lo:hi] - pre[lo:hi])
        out[lo:hi] = np.asfortranarray(part).sum(axis=1)
    return out


def _traded(held: np.ndarray, pre: np.ndarray) -> np.ndarray:
    """Return where ``held - pre != 0`` (the cells that trade), a block of rows at a time."""
    out = np.empty(held.shape, dtype=bool)
    for lo in range(0, held.shape[0], 4096):
        np.not_equal(held[lo:lo + 4096] - pre[lo:lo + 4096], 0.0, out=out[lo:lo + 4096])
    return out


def _check_settings(*, lag: int, initial_nav: float, rebalance: str, maintenance_margin: float,
                    max_leverage: float | None, funding_missing: str, costs: object) -> None:
    if not isinstance(lag, int) or lag < 0:
        raise ConfigError(f"backtest: lag must be an integer >= 0 (bars), got {lag!r}")
    if not np.isfinite(initial_nav) or initial_nav <= 0:
        raise ConfigError(f"backtest: initial_nav must be > 0 (quote currency), got "
                          f"{initial_nav!r}")
    for name, value, alias in (("rebalance", rebalance, Rebalance),
                               ("funding_missing", funding_missing, FundingMissing)):
        if value not in typing.get_args(alias):
            raise ConfigError(f"backtest: {name} must be one of {list(typing.get_args(alias))}, "
                              f"got {value!r}")
    if not (np.isfinite(maintenance_margin) and 0.0 <= maintenance_margin < 1.0):
        raise ConfigError("backtest: maintenance_margin must be a fraction in [0, 1) of gross "
                          f"notional, got {maintenance_margin!r}")
    if max_leverage is not None and not (np.isfinite(max_leverage) and max_leverage > 0):
        raise ConfigError(f"backtest: max_leverage must be > 0, got {max_leverage!r}")
    if not isinstance(costs, CostModel):
        raise ConfigError(f"backtest: costs must be a cost model (Fees, HalfSpread, "
                          f"SquareRootImpact or their sum), got {type(costs).__name__}",)


def _check_weights_in_panel(w: pl.DataFrame, panel: pl.DataFrame, on_grid: np.ndarray) -> None:
    known = set(panel.get_column("symbol").unique().to_list())
    unknown = sorted(set(w.get_column("symbol").unique().to_list()) - known)
    if unknown:
        raise DataError(
            f"backtest: weights name symbol(s) {unknown[:5]} that the panel does not have",
            column="symbol",
            rows=w.filter(pl.col("symbol").is_in(unknown[:5])).head(5),
            fix="backtest on a panel that contains every symbol you weight",
        )
    if not on_grid.all():
        bad = w.filter(pl.Series(~on_grid))
        raise DataError(
            f"backtest: {bad.height} weight row(s) sit at ts values that are not bars "
            "of the panel",
            column="ts",
            rows=bad.head(5),
            fix="decide weights on the panel's bar open times",
        )


def _attach_forecast(vol: pl.DataFrame, forecast: pl.DataFrame | None, ts_axis: pl.Series,
                     lag: int) -> pl.DataFrame:
    if forecast is None:
        return vol.with_columns(pl.lit(None, dtype=pl.Float64).alias("forecast_vol"))
    if "ts" not in forecast.columns or "forecast_vol" not in forecast.columns:
        raise DataError(
            f"backtest: forecast_vol needs columns ts, forecast_vol, got {forecast.columns}",
            fix="pass the allocator result's forecast_vol frame")
    fc = forecast.select(pl.col("ts").cast(_TS), pl.col("forecast_vol").cast(pl.Float64))
    if fc.height == len(ts_axis) and fc.get_column("ts").equals(ts_axis.cast(_TS)):
        # already on the axis: shift and keep the reported bars, no join
        values = fc.get_column("forecast_vol").shift(lag)
        return vol.with_columns(values.slice(len(ts_axis) - vol.height).alias("forecast_vol"))
    fc = pl.DataFrame({"ts": ts_axis}).join(fc, on="ts", how="left")
    shifted = fc.with_columns(pl.col("forecast_vol").shift(lag))
    return vol.join(shifted, on="ts", how="left")
