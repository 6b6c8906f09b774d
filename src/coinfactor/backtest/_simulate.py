"""The account simulation: drifting holdings, trades at decisions, costs, funding, liquidation.

DESIGN.md, "Backtest accounting". Weights are fractions of NAV; with ``w(t)`` the weights held
after the close of bar t and ``d(t)`` the drifted pre-trade weights at that close::

    pnl(t+1) = Σ w(t)·r(t+1)  -  Σ w(t)·funding(t+1)  -  Σ cost(w(t) - d(t))
    d(t+1)   = w(t)·(1 + r(t+1)) / (1 + pnl(t+1))
    NAV(t+1) = NAV(t)·(1 + pnl(t+1))

At a decision bar the book trades from ``d(t)`` to the targets where the symbol has a price; a
symbol without one trades to its target at its next price before the next decision. At any
other bar ``w(t) = d(t)``. :func:`simulate_loop` is that loop over time, each step vectorised
across symbols: the readable reference. :func:`simulate` runs the same operations compiled
(numba, :mod:`coinfactor.backtest._simulate_kernel`) wherever the cost model allows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from coinfactor.backtest._costs import (
    CostModel,
    CostSum,
    Fees,
    HalfSpread,
    MarketData,
    SquareRootImpact,
)
from coinfactor.core.errors import DataError
from coinfactor.core.typing import GapPolicy, Rebalance


@dataclass(frozen=True)
class Ledger:
    """Per-bar arrays of one simulated account, from the bar of its first decision.

    The account is flat and its NAV unknown before bar ``start``: the arrays hold the bars
    ``start, ..., n_bars - 1`` alone (their row ``i`` is bar ``start + i``).

    Attributes
    ----------
    held : ndarray of shape (n_bars, n_symbols)
        Weights held after the close of each bar (post-trade).
    pre_trade : ndarray of shape (n_bars, n_symbols)
        Drifted weights at each close before any trade, ``d(t)``.
    trades : ndarray of shape (n_bars, n_symbols)
        ``held - pre_trade``: the trades made at each close, in weight units (a property,
        computed on each access: the ledger does not keep them).
    cost : ndarray of shape (n_bars, n_symbols)
        Cost of each trade as a fraction of the NAV at that close (charged over the next bar).
    nav : ndarray of shape (n_bars,)
        NAV at each close, in quote currency.
    ret_price, ret_funding, ret_cost : ndarray of shape (n_bars,)
        The P&L split of each bar, as fractions of the previous NAV.
    mark_price : ndarray of shape (n_bars, n_symbols)
        Last observed close (forward-filled), the price positions are valued at.
    liquidated : int
        Bar of the liquidation (a row of the grid, not of the arrays), ``-1`` if none.
    liquidation_reason : str
        ``"maintenance_margin"``, ``"bankrupt"`` or ``""``.
    start : int
        The bar of the arrays' first row (``first``).
    """

    held: np.ndarray
    pre_trade: np.ndarray
    cost: np.ndarray
    nav: np.ndarray
    ret_price: np.ndarray
    ret_funding: np.ndarray
    ret_cost: np.ndarray
    mark_price: np.ndarray
    liquidated: int
    liquidation_reason: str
    start: int = 0

    @property
    def trades(self) -> np.ndarray:
        """``held - pre_trade`` (see the class docstring)."""
        return self.held - self.pre_trade


def bar_price_returns(close: np.ndarray, gap: GapPolicy) -> tuple[np.ndarray, np.ndarray]:
    """Price return of each bar and the forward-filled mark price.

    Parameters
    ----------
    close : ndarray of shape (n_bars, n_symbols)
        Closes, NaN where the symbol has no (unfilled) bar.
    gap : {"mark", "skip"}
        ``"mark"``: the bar where a price reappears books the move since the last observed
        close; ``"skip"``: only ``close(t)/close(t-1) - 1`` with both bars present.

    Returns
    -------
    returns : ndarray of shape (n_bars, n_symbols)
        0 where the return is undefined (no price at t, the first bar, or a gap under "skip").
    mark : ndarray of shape (n_bars, n_symbols)
        Last observed close at or before each bar (NaN before the first).
    """
    mark = ffill_rows(close)
    base = mark if gap == "mark" else close
    rets = np.zeros(close.shape)
    if close.shape[0] > 1:
        with np.errstate(invalid="ignore", divide="ignore"):
            rets[1:] = close[1:] / base[:-1] - 1.0
    rets[~np.isfinite(rets)] = 0.0
    return rets, mark


def ffill_rows(values: np.ndarray) -> np.ndarray:
    """Forward-fill NaN along axis 0 (time) of a ``(n_bars, n_symbols)`` array.

    Returns
    -------
    ndarray of shape (n_bars, n_symbols)
        Each NaN replaced by the last non-NaN value above it in its column (NaN if none).
    """
    out = np.array(values, dtype=np.float64, copy=True)
    missing = np.isnan(out)
    if not missing.any():
        return out
    first = np.where(missing.all(axis=0), out.shape[0], np.argmax(~missing, axis=0))
    holes = missing & (np.arange(out.shape[0])[:, None] > first[None, :])
    for t in np.flatnonzero(holes.any(axis=1)).tolist():
        np.copyto(out[t], out[t - 1], where=holes[t])
    return out


@dataclass(frozen=True)
class _Prepared:
    """What both account loops read, computed once from the inputs."""

    has_price: np.ndarray  # (n_bars, n_symbols) bool
    rets: np.ndarray  # (n_bars, n_symbols) bar price returns, 0 where undefined
    mark: np.ndarray  # (n_bars, n_symbols) last observed close
    fund: np.ndarray  # (n_bars, n_symbols) funding, 0 where unknown
    last_row: np.ndarray  # (n_symbols,) int64: the bar a delisted symbol closes, n_bars never
    rates: np.ndarray | None  # summed rates of the linear cost models: (n_bars, n_symbols),
    # or (1, 1) when every cell has the same rate
    per_bar: tuple[CostModel, ...]  # the other cost models, in order


def _price_paths(close: np.ndarray, gap: GapPolicy
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Whether each cell has a price, bar returns, mark prices, and each symbol's close row."""
    n_t, n_s = close.shape
    has_price = ~np.isnan(close)
    rets, mark = bar_price_returns(close, gap)
    # delisting: a symbol whose last price is before the last bar is closed there
    last_row = np.full(n_s, n_t, dtype=np.int64)
    if n_t:
        seen = has_price.any(axis=0)
        last = n_t - 1 - np.argmax(has_price[::-1], axis=0)
        last_row[seen & (last < n_t - 1)] = last[seen & (last < n_t - 1)]
    for a in (has_price, rets, mark, last_row):
        a.flags.writeable = False  # shared by every run on the market
    return has_price, rets, mark, last_row


def _prepare(close: np.ndarray, funding: np.ndarray, costs: CostModel, market: MarketData,
             initial_nav: float, gap: GapPolicy) -> _Prepared:
    if close is market.close:  # read once per market (a sweep's trials share it)
        has_price, rets, mark, last_row = market.cell_array(
            ("bar_price_returns", gap), lambda: _price_paths(close, gap))
    else:
        has_price, rets, mark, last_row = _price_paths(close, gap)
    missing = np.isnan(funding)
    fund = np.where(missing, 0.0, funding) if missing.any() else funding  # read, never written
    # a linear model is |trade| × rate: its rates are read once for every cell, and only the
    # other models are asked bar by bar
    parts = costs.models if isinstance(costs, CostSum) else (costs,)
    rates: float | np.ndarray | None = None
    for m in parts:
        if m.linear:
            r = _linear_rate(m, market, initial_nav)
            rates = r if rates is None else rates + r
    per_bar = tuple(m for m in parts if not m.linear)
    if isinstance(rates, float):  # one rate for every cell: not spread over the grid
        rates = np.full((1, 1), rates)
    return _Prepared(has_price, rets, mark, fund, last_row, rates, per_bar)


def _linear_rate(model: CostModel, market: MarketData, nav: float) -> float | np.ndarray:
    """Return the rate of a linear model: a float when every cell has the same rate."""
    if isinstance(model, Fees):
        return model.per_unit
    if isinstance(model, HalfSpread) and not isinstance(model.value, pl.DataFrame | np.ndarray):
        return float(model.value)
    return model.rate(market, nav)


def _cost_error(labels: tuple[Any, Sequence[str]] | None, t: int, j: int) -> DataError:
    where = (f"{labels[1][j]!r} at {labels[0][t]}" if labels is not None
             else f"column {j} at row {t}")
    return DataError(
        f"backtest: the cost model cannot price the trade of {where} (a spread, "
        "volatility or volume it needs is unknown there)",
        fix="give a half_spread for every cell that trades, or use a longer panel so "
            "the impact model's trailing window is filled before the first trade")


def simulate(
    target: np.ndarray,
    decision: np.ndarray,
    close: np.ndarray,
    funding: np.ndarray,
    costs: CostModel,
    market: MarketData,
    *,
    first: int,
    initial_nav: float,
    rebalance: Rebalance = "decisions",
    gap: GapPolicy = "mark",
    maintenance_margin: float = 0.0,
    labels: tuple[Any, Sequence[str]] | None = None,
    target_rows: np.ndarray | None = None,
) -> Ledger:
    """Run the account bar by bar from the first decision.

    Parameters
    ----------
    target : ndarray of shape (n_rows, n_symbols)
        Targets at each close (already lagged; rows after a decision carry it): row
        ``target_rows[t]`` is bar t's; NaN is 0 (flat).
    decision : ndarray of shape (n_bars,) of bool
        Bars whose close trades to ``target`` (``rebalance="decisions"``); a symbol without a
        price there trades to it at its next priced bar (before the next decision).
    close : ndarray of shape (n_bars, n_symbols)
        Closes, NaN where the symbol has no (unfilled) bar: no trade and no price there.
    funding : ndarray of shape (n_bars, n_symbols)
        Funding rate of each bar (r > 0: longs pay); NaN is booked as 0 (the caller counts it).
    costs : CostModel
        Prices every trade (fraction of NAV).
    market : MarketData
        What ``costs`` reads.
    first : int
        Row of the first decision: NAV starts there at ``initial_nav`` (quote currency).
    initial_nav : float
        NAV at the close of bar ``first``.
    rebalance : {"decisions", "every_bar"}
        Trade at decision bars only, or back to the targets at every bar.
    gap : {"mark", "skip"}
        See :func:`bar_price_returns`.
    maintenance_margin : float, default 0.0
        The book is liquidated at the first close where equity is at most this share of the
        gross notional (``1 <= mm · Σ|d|``), or when NAV reaches 0.
    labels : (ts axis, symbols), optional
        Names for error messages.
    target_rows : ndarray of shape (n_bars,) of int, optional
        The row of ``target`` of each bar, -1 for flat (default: the bar's own row). A book
        decided at some bars and carried between them is read in place, not copied out to
        every bar.

    Returns
    -------
    Ledger

    Notes
    -----
    When every cost model is linear or a :class:`SquareRootImpact`, the loop runs compiled
    (:func:`coinfactor.backtest._simulate_kernel.account_loop`); otherwise the NumPy loop
    :func:`simulate_loop` runs, the readable reference the kernel equals bit for bit.
    """
    prep = _from_row(_prepare(close, funding, costs, market, initial_nav, gap), first)
    rows = _target_rows(target_rows, close.shape[0], first)
    decision = decision[first:]
    if not all(isinstance(m, SquareRootImpact) for m in prep.per_bar):
        return _loop(prep, target, rows, decision, costs, market, start=first,
                     initial_nav=initial_nav, rebalance=rebalance,
                     maintenance_margin=maintenance_margin, labels=labels)
    from coinfactor.backtest import _simulate_kernel as kernel  # numba: imported on first use

    n_t, n_s = prep.rets.shape  # the bars from the first decision
    live = [m for m in prep.per_bar if isinstance(m, SquareRootImpact) and m.k != 0.0]
    if len(live) == 1 and len(prep.per_bar) == 1:  # the one model's scale itself: no copy
        impact = np.ascontiguousarray(live[0].scale(market)[first:])[np.newaxis]
    else:
        impact = np.zeros((len(prep.per_bar), n_t, n_s))
        for i, m in enumerate(prep.per_bar):
            if isinstance(m, SquareRootImpact) and m.k != 0.0:  # k = 0 costs 0, as its cost()
                impact[i] = m.scale(market)[first:]
    held, pre, cost = (np.zeros((n_t, n_s)) for _ in range(3))
    nav = np.full(n_t, np.nan)
    r_price, r_fund, r_cost = np.zeros(n_t), np.zeros(n_t), np.zeros(n_t)
    trades_at = np.asarray(decision, dtype=bool) | (rebalance == "every_bar")
    rates = prep.rates if prep.rates is not None else np.zeros((0, 0))
    liquidated, code, bad_t, bad_j = kernel.account_loop(
        np.ascontiguousarray(target, dtype=np.float64), rows, trades_at, prep.has_price,
        prep.rets,
        prep.fund, prep.last_row, np.ascontiguousarray(rates), prep.rates is not None,
        impact, 0, float(initial_nav), float(maintenance_margin),
        held, pre, cost, nav, r_price, r_fund, r_cost)
    if bad_t >= 0:
        raise _cost_error(labels, first + bad_t, bad_j)
    reason = {kernel.OK: "", kernel.BANKRUPT: "bankrupt", kernel.MARGIN: "maintenance_margin"}
    return Ledger(held=held, pre_trade=pre, cost=cost, nav=nav,
                  ret_price=r_price, ret_funding=r_fund, ret_cost=r_cost, mark_price=prep.mark,
                  liquidated=liquidated + first if liquidated >= 0 else -1,
                  liquidation_reason=reason[code], start=first)


def simulate_loop(target: np.ndarray, decision: np.ndarray, close: np.ndarray,
                  funding: np.ndarray, costs: CostModel, market: MarketData, *, first: int,
                  initial_nav: float, rebalance: Rebalance = "decisions",
                  gap: GapPolicy = "mark", maintenance_margin: float = 0.0,
                  labels: tuple[Any, Sequence[str]] | None = None,
                  target_rows: np.ndarray | None = None) -> Ledger:
    """:func:`simulate` as a plain NumPy loop over bars: the readable reference.

    Vectorised across symbols, one bar after another, for any :class:`CostModel`. Parameters
    and result as for :func:`simulate`, which equals it bit for bit.
    """
    prep = _from_row(_prepare(close, funding, costs, market, initial_nav, gap), first)
    return _loop(prep, target, _target_rows(target_rows, close.shape[0], first),
                 decision[first:], costs, market, start=first,
                 initial_nav=initial_nav, rebalance=rebalance,
                 maintenance_margin=maintenance_margin, labels=labels)


def _target_rows(rows: np.ndarray | None, n_t: int, first: int) -> np.ndarray:
    """Return the target row of each bar from ``first`` on (int64; -1 for flat)."""
    if rows is None:
        return np.arange(first, n_t, dtype=np.int64)
    return np.ascontiguousarray(rows[first:], dtype=np.int64)


def _from_row(prep: _Prepared, first: int) -> _Prepared:
    """Keep the bars from ``first`` on (views): the account is flat before its first decision."""
    rates = prep.rates
    if rates is not None and rates.shape[0] > 1:
        rates = rates[first:]
    return _Prepared(prep.has_price[first:], prep.rets[first:], prep.mark[first:],
                     prep.fund[first:], prep.last_row - first, rates, prep.per_bar)


def _loop(prep: _Prepared, target: np.ndarray, rows: np.ndarray, decision: np.ndarray,
          costs: CostModel, market: MarketData, *, start: int, initial_nav: float,
          rebalance: Rebalance, maintenance_margin: float,
          labels: tuple[Any, Sequence[str]] | None) -> Ledger:
    """Run the NumPy account loop on the bars from ``start`` (the arrays' row 0)."""
    has_price, rets, mark, fund = prep.has_price, prep.rets, prep.mark, prep.fund
    n_t, n_s = rets.shape
    delist_at: dict[int, np.ndarray] = {}
    for j in np.flatnonzero(prep.last_row < n_t).tolist():
        delist_at.setdefault(int(prep.last_row[j]), np.empty(0, dtype=np.int64))
        delist_at[int(prep.last_row[j])] = np.append(delist_at[int(prep.last_row[j])], j)

    held = np.zeros((n_t, n_s))
    pre = np.zeros((n_t, n_s))
    cost = np.zeros((n_t, n_s))
    trade = np.empty(n_s)  # the trades of the current bar
    size = np.empty(n_s)  # |trade| (and |d| for the margin check) of the current bar
    # sums over symbols run left to right (a cumulative sum), so that columns that are
    # always 0 change no bit of any result
    run = np.empty(n_s)
    acc = np.add.accumulate

    def total(x: np.ndarray) -> float:
        return float(acc(x, out=run)[-1]) if n_s else 0.0
    # price returns and funding of a bar side by side: one product and one row-wise
    # (left to right) cumulative sum give both P&L parts
    moves = np.stack([rets, fund], axis=1)  # (n_bars, 2, n_symbols)
    work2, run2 = np.empty((2, n_s)), np.empty((2, n_s))
    nav = np.full(n_t, np.nan)
    r_price, r_fund, r_cost = np.zeros(n_t), np.zeros(n_t), np.zeros(n_t)
    rates, per_bar = prep.rates, prep.per_bar
    grow = 1.0 + rets
    w = np.zeros(n_s)
    value = initial_nav
    owed = 0.0  # cost of the previous close's trades, charged over this bar
    liquidated, reason = -1, ""
    every_bar = rebalance == "every_bar"
    trades_at = decision | every_bar
    pending = np.zeros(n_s, dtype=bool)  # decided, not yet traded (no price at the decision)
    for t in range(n_t):
        d = pre[t]
        if t > 0:
            if n_s:
                both = acc(np.multiply(w, moves[t], out=work2), axis=1, out=run2)
                p, f = float(both[0, -1]), -float(both[1, -1])
            else:
                p = f = 0.0
            pnl = p + f - owed
            if pnl <= -1.0:  # the move took more than the equity: NAV 0, nothing left to close
                p, pnl = p - (1.0 + pnl), -1.0
                if liquidated < 0:
                    liquidated, reason = start + t, "bankrupt"
            r_price[t], r_fund[t], r_cost[t] = p, f, -owed
            value = value * (1.0 + pnl)
            if pnl > -1.0:
                np.multiply(w, grow[t], out=d)
                d /= 1.0 + pnl
        nav[t] = value
        new = held[t]
        if liquidated >= 0:
            pass  # flat: held[t] stays 0
        elif maintenance_margin > 0.0 and maintenance_margin * float(
                total(np.abs(d, out=size))) >= 1.0:
            liquidated, reason = start + t, "maintenance_margin"
        else:
            np.copyto(new, d)
            if trades_at[t] or pending.any():
                goal = _target_row(target, int(rows[t]))
            if trades_at[t]:
                np.copyto(new, goal, where=has_price[t])
                # a coin without a price cannot trade now: its order waits for its next price
                np.logical_not(has_price[t], out=pending)
            elif pending.any():  # orders of the last decision, filled at the coin's next price
                fill = pending & has_price[t]
                np.copyto(new, goal, where=fill)
                pending &= ~fill
            if t in delist_at:
                new[delist_at[t]] = 0.0
        np.subtract(new, d, out=trade)
        owed = 0.0
        if value > 0.0:
            np.abs(trade, out=size)
            c = cost[t]
            if rates is not None:
                np.multiply(size, rates[t if rates.shape[0] > 1 else 0], out=c)
            for m in per_bar:
                c += m.cost(trade, value, market, start + t)
            owed = total(c)
            if owed != owed:  # NaN: an unknown rate, harmless where nothing trades
                c[size == 0.0] = 0.0
                owed = total(c)
            if owed != owed:
                raise _cost_error(labels, start + t, int(np.flatnonzero(np.isnan(c))[0]))
        w = new
    return Ledger(held=held, pre_trade=pre, cost=cost, nav=nav,
                  ret_price=r_price, ret_funding=r_fund, ret_cost=r_cost, mark_price=mark,
                  liquidated=liquidated, liquidation_reason=reason, start=start)


def _target_row(target: np.ndarray, row: int) -> np.ndarray:
    """Return the targets of one row, NaN as 0 (a row of -1: all flat)."""
    if row < 0:
        return np.zeros(target.shape[1])
    return np.where(np.isnan(target[row]), 0.0, target[row])


def load_compiled_loop() -> None:
    """Load the compiled account loop now (numba compiles it once, then reads its cache).

    For processes that run many backtests (sweep workers): the first backtest then starts
    at its steady speed.
    """
    from coinfactor.backtest import _simulate_kernel as kernel

    z = np.zeros((1, 1))
    kernel.account_loop(z, np.zeros(1, dtype=np.int64), np.ones(1, dtype=bool),
                        np.ones((1, 1), dtype=bool), z, z,
                        np.ones(1, dtype=np.int64), z, True, np.zeros((1, 1, 1)), 0, 1.0, 0.0,
                        z.copy(), z.copy(), z.copy(), np.zeros(1), np.zeros(1),
                        np.zeros(1), np.zeros(1))
