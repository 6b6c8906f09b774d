"""``backtest(panel, weights, ...)``: the funding-aware, cost-aware weights backtester."""

from __future__ import annotations

import numpy as np
import polars as pl

from coinfactor.backtest._engine import (
    GapPolicy,
    check_unique_cells,
    check_weights_frame,
    ffill_rows,
    ffill_rows_inplace,
    run_accounts,
    shift_rows,
)
from coinfactor.backtest._result import BacktestResult
from coinfactor.core.errors import ConfigError, DataError
from coinfactor.core.time import bars_per_day, periods_per_year
from coinfactor.data import TS_DTYPE, Grid

_TS = TS_DTYPE


def backtest(
    panel: pl.DataFrame,
    weights: pl.DataFrame | np.ndarray,
    *,
    grid: Grid | None = None,
    fee_bps: float = 4.5,
    half_spread: float | pl.DataFrame | np.ndarray | None = None,
    lag: int = 0,
    initial_nav: float = 1.0,
    forecast_vol: pl.DataFrame | None = None,
    vol_window: int | None = None,
    gap: GapPolicy = "mark",
    freq: str | None = None,
) -> BacktestResult:
    """Backtest target weights on a canonical panel with price, funding and cost P&L.

    Parameters
    ----------
    panel : pl.DataFrame
        Canonical panel (``ts, symbol, close``; ``funding_rate`` if present, else no funding).
        Bars flagged ``filled`` are never used as prices.
    weights : pl.DataFrame or ndarray of shape (n_bars, n_symbols)
        Signed target fractions of NAV decided with data through bar ts, traded at the close
        of bar ts (+ ``lag`` bars) and held over the next bar. A long frame
        ``ts, symbol, weight``: a ts present in it gives the whole book (its absent symbols
        are flat) and a bar absent from it keeps the previous targets. Or an array on the
        panel's ``grid``: a row with any value is a decision (its NaN cells flat), an
        all-NaN row keeps the previous targets. Before the first decision the book is flat
        and no NAV is reported.
    grid : Grid, optional
        The panel's grid (``Grid.from_panel(panel)``, built when omitted); required to give
        ``weights`` or ``half_spread`` as arrays on it.
    fee_bps : float, default 4.5
        Fee per unit of traded notional, in basis points (4.5 bps = a typical taker fee).
    half_spread : None, float, pl.DataFrame or ndarray, default None
        Half bid-ask spread paid per unit traded, as a fraction of price: ``None`` for none, a
        constant, a frame ``ts, symbol, half_spread`` (the value at the trade's bar is used,
        carried forward over missing bars), or an array on the grid (NaN: unknown, an error
        where a trade happens).
    lag : int, default 0
        Extra bars between decision and execution (0: trade at the decision bar's close).
    initial_nav : float, default 1.0
        NAV at the close of the first decision bar.
    forecast_vol : pl.DataFrame, optional
        ``ts, forecast_vol``: annualised ex-ante portfolio volatility of the book decided at ts
        (for instance from :class:`coinfactor.portfolio.BufferedAllocator`), shifted by ``lag``
        like the weights and reported next to the realised vol.
    vol_window : int, optional
        Bars in the rolling realised-vol window (default: 30 days of bars).
    gap : {"mark", "skip"}, default "mark"
        How a position held through missing bars is marked when the price reappears (see
        :data:`coinfactor.backtest.GapPolicy`).
    freq : str, optional
        Bar frequency; inferred from the panel when omitted (the grid's with ``grid``).

    Returns
    -------
    BacktestResult

    Raises
    ------
    DataError
        On malformed weights (missing columns, NaN, duplicates, an array of another shape,
        no decision), weights on a ts or symbol the panel does not have, or trades where no
        half-spread is known.
    ConfigError
        On a negative ``lag``, fee or spread, or a non-positive ``initial_nav``.

    Notes
    -----
    Accounting (DESIGN.md), with ``h(t)`` the weights held after the close of bar t::

        ret(t+1) = Σ h(t)·r(t+1) - Σ h(t)·funding(t+1) - Σ c(t)·|h(t) - h(t-1)|

    where ``c = fee_bps / 1e4 + half_spread``. Weights are targets: the book is rebalanced to
    them at every close (no drift between bars), so ``h(t-1)`` is the previous target, not
    the previous target drifted by returns. A symbol with no price on bar t cannot trade: it
    keeps ``h(t-1)`` and, over a missing bar, earns neither price return nor funding. A
    delisted symbol (last price before the panel's last bar) is closed at its last close,
    paying costs, whatever its target. The costs of trades at the last bar's close are not
    in the NAV (there is no later bar to charge them to).

    Examples
    --------
    >>> from datetime import datetime, UTC
    >>> ts = [datetime(2024, 1, d, tzinfo=UTC) for d in (1, 2, 3)]
    >>> panel = pl.DataFrame({"ts": ts, "symbol": "A", "open": 1.0, "high": 2.0, "low": 1.0,
    ...     "close": [1.0, 1.1, 1.21], "volume": 1.0, "funding_rate": [0.0, 0.01, 0.0]})
    >>> w = pl.DataFrame({"ts": ts[:1], "symbol": "A", "weight": 1.0})
    >>> res = backtest(panel, w, fee_bps=0.0)
    >>> [round(x, 6) for x in res.nav["ret"]]
    [0.0, 0.09, 0.1]
    """
    hs_scalar = None if isinstance(half_spread, np.ndarray) else half_spread
    _check_settings(fee_bps=fee_bps, lag=lag, initial_nav=initial_nav, half_spread=hs_scalar)
    for col in ("ts", "symbol", "close"):
        if col not in panel.columns:
            raise DataError(f"backtest: the panel needs column {col!r}, got {panel.columns}",
                            column=col, fix="pass a canonical panel (coinfactor.data)")
    if grid is None:
        if isinstance(weights, np.ndarray) or isinstance(half_spread, np.ndarray):
            raise DataError("backtest: weights or half_spread given as an array need the "
                            "grid they are on", fix="pass grid=Grid.from_panel(panel)")
        # the weighted symbols' columns alone: nothing else is ever held
        weighted = (weights.get_column("symbol").unique().sort().to_list()
                    if "symbol" in weights.columns else None)
        grid = Grid.from_panel(panel, freq, symbols=weighted)
    raw = _target_array(weights, panel, grid)
    close = grid.wide(panel, "close")  # a filled bar is never a price
    funding = (grid.wide(panel, "funding_rate") if "funding_rate" in panel.columns
               else np.zeros(grid.shape))
    return _from_targets(
        grid, raw, close, funding, _half_spread_array(half_spread, grid),
        freq=freq if freq is not None else grid.freq, fee_bps=fee_bps,
        half_spread="array" if isinstance(half_spread, np.ndarray) else half_spread, lag=lag,
        initial_nav=initial_nav, forecast_vol=forecast_vol, vol_window=vol_window, gap=gap)


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


def _from_targets(
    grid: Grid, raw: np.ndarray, close: np.ndarray,
    funding: np.ndarray, half_spread_wide: float | np.ndarray, *, freq: str, fee_bps: float,
    half_spread: float | str | pl.DataFrame | None, lag: int, initial_nav: float,
    forecast_vol: pl.DataFrame | None, vol_window: int | None, gap: GapPolicy,
) -> BacktestResult:
    """Decision rows of ``raw`` (any value) define the book, NaN flat; other rows carry it.

    ``half_spread_wide`` is an array on the grid or one constant for every cell.
    """
    missing = np.isnan(raw)
    decision_rows = ~missing.all(axis=1)
    target = np.array(raw, dtype=np.float64, copy=True)
    np.copyto(target, 0.0, where=missing & decision_rows[:, None])
    np.nan_to_num(ffill_rows_inplace(target), copy=False, nan=0.0)
    if lag:
        target = shift_rows(target, lag)
    cost_rate = (fee_bps / 1e4 + half_spread_wide if isinstance(half_spread_wide, np.ndarray)
                 else np.full(target.shape, fee_bps / 1e4 + half_spread_wide))
    return _run(
        grid, target, close, funding, cost_rate,
        first_decision=int(np.argmax(decision_rows)) + lag, freq=freq, fee_bps=fee_bps,
        half_spread=half_spread, lag=lag, initial_nav=initial_nav, forecast_vol=forecast_vol,
        vol_window=vol_window, gap=gap)


def _run(
    grid: Grid,
    target: np.ndarray,
    close: np.ndarray,
    funding: np.ndarray,
    cost_rate: np.ndarray,
    *,
    first_decision: int,
    freq: str,
    fee_bps: float,
    half_spread: float | str | pl.DataFrame | None,
    lag: int,
    initial_nav: float,
    forecast_vol: pl.DataFrame | None,
    vol_window: int | None,
    gap: GapPolicy,
) -> BacktestResult:
    """Backtest on aligned wide arrays (the kernel of :func:`backtest`, after validation).

    Parameters
    ----------
    grid : Grid
        The panel's grid.
    target : ndarray of shape (n_bars, n_symbols)
        Target weights at each close, already lagged; 0 where flat, no NaN.
    close, funding : ndarray of shape (n_bars, n_symbols)
        Close prices (NaN: no unfilled bar) and funding rates (NaN read as 0).
    cost_rate : ndarray of shape (n_bars, n_symbols)
        Fee plus half-spread per unit traded (NaN: unknown; an error where a trade happens).
    first_decision : int
        Axis row of the first decision, plus ``lag``: the first reported bar.
    freq, fee_bps, half_spread, lag, initial_nav, forecast_vol, vol_window, gap
        As in :func:`backtest` (``fee_bps`` and ``half_spread`` are only recorded).

    Returns
    -------
    BacktestResult
    """
    ts_axis, symbols = grid.ts, grid.symbols
    n_t = len(ts_axis)
    bar_freq = freq
    unknown_cost = np.isnan(cost_rate)
    has_unknown = bool(unknown_cost.any())
    acc = run_accounts(target, close, funding,
                       np.nan_to_num(cost_rate, nan=0.0) if has_unknown else cost_rate, gap=gap)
    if has_unknown and (unknown_cost & (acc.trades != 0.0)).any():
        i, j = np.argwhere((acc.trades != 0.0) & unknown_cost)[0]
        raise DataError(
            f"backtest: no half_spread known for {symbols[j]!r} at {ts_axis[int(i)]} where it "
            "trades",
            column="half_spread",
            fix="give a half_spread row for every (ts, symbol) that can trade, or a constant",
        )

    keep = slice(min(first_decision, n_t), n_t)
    ts_out = ts_axis[keep]
    out_grid = grid.slice(keep.start)
    ret_price = acc.ret_price[keep].copy()
    ret_funding = acc.ret_funding[keep].copy()
    ret_cost = acc.ret_cost[keep].copy()
    if ret_price.size:  # the decision bar itself earns nothing (nothing was held before it)
        ret_price[0] = ret_funding[0] = ret_cost[0] = 0.0
    ret = ret_price + ret_funding + ret_cost
    nav = initial_nav * np.cumprod(1.0 + ret)
    nav_frame = pl.DataFrame({"ts": ts_out, "nav": nav, "ret": ret, "ret_price": ret_price,
                              "ret_funding": ret_funding, "ret_cost": ret_cost})

    held = acc.held[keep]
    trades = acc.trades[keep]
    price = acc.mark_price[keep]

    def build_holdings() -> pl.DataFrame:
        notional = held * nav[:, None]
        return out_grid.long(
            {"weight": held, "notional": notional, "quantity": notional / price,
             "price": price}, where=held != 0.0, order="ts")
    # the traded cells only: the same products as on the whole grid, cell by cell
    t_i, t_j = np.nonzero(trades != 0.0)
    t_flat = t_i * trades.shape[1] + t_j
    trade = np.take(trades.reshape(-1), t_flat)
    trade_notional = trade * nav[t_i]
    trades_frame = out_grid.frame(
        t_i, t_j,
        {"trade": trade, "notional": trade_notional,
         "quantity": trade_notional / np.take(price.reshape(-1), t_flat),
         "cost": np.abs(trade_notional) * np.take(acc.cost_rate[keep].reshape(-1), t_flat)})
    window = vol_window if vol_window is not None else max(2, round(30 * bars_per_day(bar_freq)))
    realized = (nav_frame.select(pl.col("ret").rolling_std(window, min_samples=window))
                .get_column("ret") * np.sqrt(periods_per_year(bar_freq)))
    vol = pl.DataFrame({"ts": ts_out, "realized_vol": realized})
    vol = _attach_forecast(vol, forecast_vol, ts_axis, lag).select(
        "ts", "forecast_vol", "realized_vol")
    running_max = np.maximum.accumulate(nav) if nav.size else nav
    # non-zero weights plus the zeros of positions closed at ts (held before, flat now)
    nonzero = held != 0.0
    in_book = nonzero.copy()
    in_book[1:] |= nonzero[:-1]
    # sums over symbols left to right (row_sum), through one Fortran-ordered buffer
    buf = np.empty(held.shape, order="F")
    is_long, is_short = held > 0, held < 0

    def sums(*, of: np.ndarray | None = None, where: np.ndarray | None = None) -> np.ndarray:
        """Row sums of ``|of|``, or of ``held`` where ``where`` (0 elsewhere)."""
        if held.shape[1] == 0:
            return np.zeros(held.shape[0])
        if of is not None:
            np.absolute(of, out=buf)
        else:
            buf[...] = 0.0
            np.copyto(buf, held, where=True if where is None else where)
        return buf.sum(axis=1)

    def build_weight_matrix() -> np.ndarray:
        # the columns and zeros of `weights` pivoted back: symbols with a weight row, sorted,
        # -0.0 read as 0.0 (as a sum would)
        cols = np.flatnonzero(in_book.any(axis=0))
        cols = cols[np.argsort([symbols[c] for c in cols], kind="stable")]
        return np.take(held, cols, axis=1) + 0.0

    return BacktestResult(
        build_weight_matrix=build_weight_matrix,
        nav=nav_frame,
        # feeding `weights` back to backtest() reproduces the run (absent bars carry the book)
        weights=out_grid.long({"weight": held}, where=in_book, order="ts"),
        build_holdings=build_holdings,
        trades=trades_frame,
        turnover=pl.DataFrame({"ts": ts_out, "turnover": sums(of=trades)}),
        exposure=pl.DataFrame({
            "ts": ts_out,
            "gross": sums(of=held),
            "net": sums(),
            "long": sums(where=is_long),
            "short": sums(where=is_short),
            "n_long": is_long.sum(axis=1).astype(np.int64),
            "n_short": is_short.sum(axis=1).astype(np.int64),
        }),
        drawdown=pl.DataFrame({"ts": ts_out, "drawdown": nav / running_max - 1.0}),
        vol=vol,
        freq=bar_freq,
        settings={"fee_bps": fee_bps, "lag": lag, "gap": gap, "initial_nav": initial_nav,
                  "vol_window": window,
                  "half_spread": half_spread if not isinstance(half_spread, pl.DataFrame)
                  else "frame"},
    )


def _check_settings(*, fee_bps: float, lag: int, initial_nav: float,
                    half_spread: float | pl.DataFrame | None) -> None:
    if not isinstance(lag, int) or lag < 0:
        raise ConfigError(f"backtest: lag must be an integer >= 0 (bars), got {lag!r}")
    if not np.isfinite(fee_bps) or fee_bps < 0:
        raise ConfigError(f"backtest: fee_bps must be a finite number >= 0, got {fee_bps!r}")
    if not np.isfinite(initial_nav) or initial_nav <= 0:
        raise ConfigError(f"backtest: initial_nav must be > 0, got {initial_nav!r}")
    if isinstance(half_spread, int | float) and (not np.isfinite(half_spread) or half_spread < 0):
        raise ConfigError(
            f"backtest: half_spread must be a fraction >= 0 (0.0005 = 5 bps), got {half_spread!r}")


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


def _half_spread_array(half_spread: float | pl.DataFrame | np.ndarray | None,
                       grid: Grid) -> float | np.ndarray:
    """Half-spread per grid cell (an array) or one constant for every cell."""
    if half_spread is None:
        return 0.0
    if isinstance(half_spread, np.ndarray):
        if half_spread.shape != grid.shape:
            raise DataError(f"backtest: half_spread has shape {half_spread.shape}, expected the "
                            f"grid's {grid.shape}", fix="pass arrays on one grid")
        if (half_spread[~np.isnan(half_spread)] < 0).any():
            raise DataError("backtest: half_spread values must be >= 0",
                            column="half_spread", fix="clip negative spread estimates at 0")
        return np.asarray(half_spread, dtype=np.float64)
    if isinstance(half_spread, pl.DataFrame):
        missing = [c for c in ("ts", "symbol", "half_spread") if c not in half_spread.columns]
        if missing:
            raise DataError(
                f"backtest: a half_spread frame needs columns ts, symbol, half_spread; missing "
                f"{missing}", fix="pass a frame like signals 'half_range_spread' renamed")
        hs = grid.scatter(half_spread, "half_spread")
        if (hs[~np.isnan(hs)] < 0).any():
            raise DataError("backtest: half_spread values must be >= 0", column="half_spread",
                            fix="clip negative spread estimates at 0")
        return ffill_rows(hs)
    return float(half_spread)


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
