"""The account loop of :func:`coinfactor.backtest._simulate.simulate_loop`, compiled by numba.

The same floating-point operations in the same order as the readable NumPy loop
(:func:`~coinfactor.backtest._simulate.simulate_loop`), element by element, so the two agree
bit for bit (``tests/backtest/test_simulate_kernel.py``); the NumPy loop stays the reference
and the path for cost models the kernel does not know. Costs reach the kernel decomposed: the
summed per-unit rates of the linear models, and ``k·σ/√ADV`` of each square-root impact model.

Sums over symbols run left to right from the first element, as ``np.add.accumulate`` does, so
a column that is always 0 changes no bit.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from coinfactor.core.compiled import left_sum as _left_sum

OK, BANKRUPT, MARGIN = 0, 1, 2
"""Liquidation codes returned by :func:`account_loop`."""


@numba.njit(cache=True, inline="always")
def _target(target: np.ndarray, row: int, j: int) -> float:  # pragma: no cover
    """Return the target of column ``j`` in ``target`` row ``row``: 0 for NaN or row -1."""
    if row < 0:
        return 0.0
    x = target[row, j]
    return 0.0 if x != x else x


@numba.njit(cache=True)
def account_loop(target: np.ndarray, target_rows: np.ndarray, trades_at: np.ndarray,
                 has_price: np.ndarray,
                 rets: np.ndarray, fund: np.ndarray, last_row: np.ndarray,
                 rates: np.ndarray, has_rates: bool, impact: np.ndarray,
                 first: int, initial_nav: float, maintenance_margin: float,
                 held: np.ndarray, pre: np.ndarray, cost: np.ndarray,
                 nav: np.ndarray, r_price: np.ndarray, r_fund: np.ndarray,
                 r_cost: np.ndarray) -> tuple[int, int, int, int]:  # pragma: no cover
    """Run the account from bar ``first``, writing the ledger arrays in place.

    Parameters
    ----------
    target : ndarray of shape (n_rows, n_symbols)
        Targets, NaN read as 0 (flat).
    target_rows : ndarray of shape (n_bars,) of int64
        The row of ``target`` of each bar (-1: flat).
    has_price, rets, fund : ndarray of shape (n_bars, n_symbols)
        Whether the bar has a price, price returns and funding (0 for NaN).
    trades_at : ndarray of shape (n_bars,) of bool
        Bars whose close trades to ``target``.
    last_row : ndarray of shape (n_symbols,) of int64
        The bar where a delisted symbol is closed (``n_bars``: never).
    rates : ndarray of shape (n_bars, n_symbols) or (1, 1)
        Summed rates of the linear cost models (read only when ``has_rates``); of shape
        (1, 1) when every cell has the same rate.
    impact : ndarray of shape (n_models, n_bars, n_symbols)
        ``k·σ/√ADV`` of each square-root impact model, in order.
    first, initial_nav, maintenance_margin
        As for ``simulate``.
    held, pre, cost, nav, r_price, r_fund, r_cost
        Outputs (zeros, NaN for ``nav``), filled from ``first``; the trades are
        ``held - pre`` (not kept).

    Returns
    -------
    (liquidated, reason, bad_t, bad_j)
        The liquidation row (-1 if none) and code (:data:`BANKRUPT`, :data:`MARGIN`); the cell
        whose cost is unknown (NaN) where a trade happens, (-1, -1) if none (the loop stops
        there).
    """
    n_t, n_s = has_price.shape
    n_models = impact.shape[0]
    w = np.zeros(n_s)
    work = np.empty(n_s)
    size = np.empty(n_s)
    trade = np.empty(n_s)  # the trades of the current bar
    pending = np.zeros(n_s, dtype=np.bool_)
    value = initial_nav
    owed = 0.0
    liquidated, reason = -1, OK
    for t in range(first, n_t):
        d = pre[t]
        if t > first:
            for j in range(n_s):
                work[j] = w[j] * rets[t, j]
            p = _left_sum(work)
            for j in range(n_s):
                work[j] = w[j] * fund[t, j]
            f = -_left_sum(work) if n_s else 0.0
            pnl = p + f - owed
            if pnl <= -1.0:
                p, pnl = p - (1.0 + pnl), -1.0
                if liquidated < 0:
                    liquidated, reason = t, BANKRUPT
            r_price[t], r_fund[t], r_cost[t] = p, f, -owed
            value = value * (1.0 + pnl)
            if pnl > -1.0:
                for j in range(n_s):
                    d[j] = (w[j] * (1.0 + rets[t, j])) / (1.0 + pnl)
        nav[t] = value
        new = held[t]
        margin_call = False
        if liquidated < 0 and maintenance_margin > 0.0:
            for j in range(n_s):
                size[j] = abs(d[j])
            margin_call = maintenance_margin * _left_sum(size) >= 1.0
            if margin_call:
                liquidated, reason = t, MARGIN
        if liquidated < 0:
            for j in range(n_s):
                new[j] = d[j]
            r = target_rows[t]
            if trades_at[t]:
                for j in range(n_s):
                    if has_price[t, j]:
                        new[j] = _target(target, r, j)
                    pending[j] = not has_price[t, j]
            else:
                for j in range(n_s):
                    if pending[j] and has_price[t, j]:
                        new[j] = _target(target, r, j)
                        pending[j] = False
            for j in range(n_s):
                if last_row[j] == t:
                    new[j] = 0.0
        for j in range(n_s):
            trade[j] = new[j] - d[j]
        owed = 0.0
        if value > 0.0:
            c = cost[t]
            rt = t if rates.shape[0] > 1 else 0  # a (1, 1) rates: one rate for every cell
            cs = 1 if rates.shape[1] > 1 else 0
            for j in range(n_s):
                size[j] = abs(trade[j])
                c[j] = size[j] * rates[rt, j * cs] if has_rates else 0.0
            for m in range(n_models):
                for j in range(n_s):
                    c[j] = c[j] + impact[m, t, j] * math.sqrt(size[j] * value) * size[j]
            owed = _left_sum(c)
            if owed != owed:  # NaN: an unknown rate, harmless where nothing trades
                for j in range(n_s):
                    if size[j] == 0.0:
                        c[j] = 0.0
                owed = _left_sum(c)
            if owed != owed:
                for j in range(n_s):
                    if c[j] != c[j]:
                        return liquidated, reason, t, j
        for j in range(n_s):
            w[j] = new[j]
    return liquidated, reason, -1, -1
