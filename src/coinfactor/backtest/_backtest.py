"""``backtest(panel, weights, ...)``: the funding-aware, cost-aware weights backtester."""

from __future__ import annotations

from collections.abc import Sequence

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
from coinfactor.data import infer_freq, time_axis
from coinfactor.data._grid import cell_index, cells_frame, long_cells, scatter
from coinfactor.data._schema import FILLED_COLUMN

_TS = pl.Datetime("us", "UTC")


def backtest(
    panel: pl.DataFrame,
    weights: pl.DataFrame,
    *,
    fee_bps: float = 4.5,
    half_spread: float | pl.DataFrame | None = None,
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
    weights : pl.DataFrame
        Long frame ``ts, symbol, weight``: signed target fractions of NAV decided with data
        through bar ts, traded at the close of bar ts (+ ``lag`` bars) and held over the next
        bar. A ts present in ``weights`` gives the whole book: its absent symbols are flat. A
        panel ts absent from ``weights`` keeps the previous targets. Before the first ts in
        ``weights`` the book is flat and no NAV is reported.
    fee_bps : float, default 4.5
        Fee per unit of traded notional, in basis points (4.5 bps = a typical taker fee).
    half_spread : None, float or pl.DataFrame, default None
        Half bid-ask spread paid per unit traded, as a fraction of price: ``None`` for none, a
        constant, or a frame ``ts, symbol, half_spread`` (the value at the trade's bar is used,
        carried forward over missing bars).
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
        Bar frequency; inferred from the panel when omitted.

    Returns
    -------
    BacktestResult

    Raises
    ------
    DataError
        On malformed weights (missing columns, NaN, duplicates), weights on a ts or symbol the
        panel does not have, or trades where no half-spread is known.
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
    _check_settings(fee_bps=fee_bps, lag=lag, initial_nav=initial_nav, half_spread=half_spread)
    for col in ("ts", "symbol", "close"):
        if col not in panel.columns:
            raise DataError(f"backtest: the panel needs column {col!r}, got {panel.columns}",
                            column=col, fix="pass a canonical panel (coinfactor.data)")
    w_long = check_weights_frame(weights)
    if w_long.height == 0:
        raise DataError("backtest: the weights frame is empty",
                        fix="pass at least one (ts, symbol, weight) row; 0.0 means flat")
    bar_freq = freq if freq is not None else infer_freq(panel)
    ts_axis = time_axis(panel)
    symbols = tuple(sorted(w_long.get_column("symbol").unique().to_list()))
    n_t, n_s = len(ts_axis), len(symbols)
    wi, wj, wok = cell_index(w_long, ts_axis, symbols)
    _check_weights_in_panel(w_long, panel, wok)
    check_unique_cells(w_long, wi, wj, n_s)

    pi, pj, pok = cell_index(panel, ts_axis, symbols)
    if FILLED_COLUMN in panel.columns:  # a filled bar is never a price
        pok &= ~panel.get_column(FILLED_COLUMN).fill_null(False).to_numpy()
    close = scatter(n_t, n_s, pi, pj, pok, panel.get_column("close").to_numpy())
    funding = (scatter(n_t, n_s, pi, pj, pok,
                       panel.get_column("funding_rate").fill_null(np.nan).to_numpy())
               if "funding_rate" in panel.columns else np.zeros((n_t, n_s)))

    # Targets: rows present in `weights` define the book (absent symbols flat); others carry.
    raw = scatter(n_t, n_s, wi, wj, wok, w_long.get_column("weight").to_numpy())
    return _from_targets(
        ts_axis, symbols, raw, close, funding,
        _half_spread_wide(half_spread, ts_axis, symbols, n_t, n_s), freq=bar_freq,
        fee_bps=fee_bps, half_spread=half_spread, lag=lag, initial_nav=initial_nav,
        forecast_vol=forecast_vol, vol_window=vol_window, gap=gap)


def backtest_wide(
    ts: pl.Series,
    symbols: Sequence[str],
    weights: np.ndarray,
    close: np.ndarray,
    funding: np.ndarray | None = None,
    *,
    freq: str,
    fee_bps: float = 4.5,
    half_spread: float | np.ndarray | None = None,
    lag: int = 0,
    initial_nav: float = 1.0,
    forecast_vol: pl.DataFrame | None = None,
    vol_window: int | None = None,
    gap: GapPolicy = "mark",
) -> BacktestResult:
    """Backtest target weights given as aligned wide arrays: :func:`backtest` without frames.

    For pipelines that already hold ``(n_bars, n_symbols)`` arrays on the panel's bars (a
    study's allocator output): the same accounting and result as :func:`backtest` on the
    equivalent long frames.

    Parameters
    ----------
    ts : pl.Series
        Bar times of the rows, sorted, length ``n_bars`` (the panel's bars).
    symbols : sequence of str
        Column labels, length ``n_symbols``.
    weights : ndarray of shape (n_bars, n_symbols)
        Target weights (fractions of NAV) decided at each bar's close. A row with any value
        is a decision (its NaN cells are flat); an all-NaN row keeps the previous targets
        (like a ts absent from :func:`backtest`'s weights frame).
    close : ndarray of shape (n_bars, n_symbols)
        Close prices, NaN where the symbol has no (unfilled) bar.
    funding : ndarray of shape (n_bars, n_symbols), optional
        Funding rate of each bar (fraction; r > 0: longs pay); NaN is read as 0. None: no
        funding.
    freq : str
        Bar frequency (``"1d"``).
    fee_bps : float, default 4.5
        Fee per unit of traded notional, in basis points.
    half_spread : None, float or ndarray of shape (n_bars, n_symbols), default None
        Half bid-ask spread per unit traded (fraction of price); NaN cells are unknown (an
        error where a trade happens).
    lag, initial_nav, forecast_vol, vol_window, gap
        As in :func:`backtest`.

    Returns
    -------
    BacktestResult

    Raises
    ------
    DataError
        On arrays of another shape, no decision row, or a negative half-spread.
    ConfigError
        On a negative ``lag``, fee or spread, or a non-positive ``initial_nav``.
    """
    hs_scalar = None if isinstance(half_spread, np.ndarray) else half_spread
    _check_settings(fee_bps=fee_bps, lag=lag, initial_nav=initial_nav, half_spread=hs_scalar)
    shape = (len(ts), len(symbols))
    arrays = {"weights": weights, "close": close, "funding": funding,
              "half_spread": half_spread if isinstance(half_spread, np.ndarray) else None}
    for name, arr in arrays.items():
        if arr is not None and arr.shape != shape:
            raise DataError(f"backtest_wide: {name} has shape {arr.shape}, expected {shape} "
                            "(len(ts), len(symbols))", fix="pass arrays on one grid")
    if np.isnan(weights).all():
        raise DataError("backtest_wide: weights has no decision row (all NaN)",
                        fix="give at least one row of weights; 0.0 means flat")
    if isinstance(half_spread, np.ndarray):
        if (half_spread[~np.isnan(half_spread)] < 0).any():
            raise DataError("backtest_wide: half_spread values must be >= 0",
                            column="half_spread", fix="clip negative spread estimates at 0")
        hs_wide: float | np.ndarray = np.asarray(half_spread, dtype=np.float64)
    else:
        hs_wide = 0.0 if half_spread is None else float(half_spread)
    return _from_targets(
        ts, tuple(symbols), np.asarray(weights, dtype=np.float64), close,
        np.zeros(shape) if funding is None else funding, hs_wide, freq=freq, fee_bps=fee_bps,
        half_spread="array" if isinstance(half_spread, np.ndarray) else half_spread, lag=lag,
        initial_nav=initial_nav, forecast_vol=forecast_vol, vol_window=vol_window, gap=gap)


def _from_targets(
    ts_axis: pl.Series, symbols: tuple[str, ...], raw: np.ndarray, close: np.ndarray,
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
    return backtest_arrays(
        ts_axis, symbols, target, close, funding, cost_rate,
        first_decision=int(np.argmax(decision_rows)) + lag, freq=freq, fee_bps=fee_bps,
        half_spread=half_spread, lag=lag, initial_nav=initial_nav, forecast_vol=forecast_vol,
        vol_window=vol_window, gap=gap)


def backtest_arrays(
    ts_axis: pl.Series,
    symbols: tuple[str, ...],
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
    ts_axis : pl.Series
        The panel's bar times (``time_axis(panel)``), length ``n_bars``.
    symbols : tuple of str
        Column labels, length ``n_symbols``.
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
        return long_cells(
            held != 0.0, ts_out, symbols,
            {"weight": held, "notional": notional, "quantity": notional / price,
             "price": price})
    # the traded cells only: the same products as on the whole grid, cell by cell
    t_i, t_j = np.nonzero(trades != 0.0)
    t_flat = t_i * trades.shape[1] + t_j
    trade = np.take(trades.reshape(-1), t_flat)
    trade_notional = trade * nav[t_i]
    trades_frame = cells_frame(
        t_i, t_j, ts_out, symbols,
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
        weights=long_cells(in_book, ts_out, symbols, {"weight": held}),
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


def _half_spread_wide(half_spread: float | pl.DataFrame | None, ts_axis: pl.Series,
                      symbols: tuple[str, ...], n_t: int, n_s: int) -> np.ndarray:
    if half_spread is None:
        return np.zeros((n_t, n_s))
    if isinstance(half_spread, pl.DataFrame):
        missing = [c for c in ("ts", "symbol", "half_spread") if c not in half_spread.columns]
        if missing:
            raise DataError(
                f"backtest: a half_spread frame needs columns ts, symbol, half_spread; missing "
                f"{missing}", fix="pass a frame like signals 'half_range_spread' renamed")
        frame = half_spread.select(pl.col("ts").cast(_TS), pl.col("symbol").cast(pl.String),
                                   pl.col("half_spread").cast(pl.Float64).fill_null(np.nan))
        i, j, ok = cell_index(frame, ts_axis, symbols)
        hs = scatter(n_t, n_s, i, j, ok, frame.get_column("half_spread").to_numpy())
        if (hs[~np.isnan(hs)] < 0).any():
            raise DataError("backtest: half_spread values must be >= 0", column="half_spread",
                            fix="clip negative spread estimates at 0")
        return ffill_rows(hs)
    return np.full((n_t, n_s), float(half_spread))


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
