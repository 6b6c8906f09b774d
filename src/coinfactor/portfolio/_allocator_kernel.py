"""The bar loop of :class:`~coinfactor.portfolio.BufferedAllocator`, compiled by numba.

The rule of :func:`coinfactor.portfolio.allocate_reference` (the readable per-bar NumPy loop),
written element by element with the same floating-point operations in the same order, so the
two agree bit for bit (``tests/portfolio/test_portfolio_allocator.py``). Sums over symbols run
left to right from the first element, as ``np.cumsum`` does.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from coinfactor.core.compiled import left_sum as _left_sum


@numba.njit(cache=True)
def allocate_bars(desired: np.ndarray, live: np.ndarray, enter: np.ndarray, leave: np.ndarray,
                  can: np.ndarray, buf: np.ndarray, unwind: float, open_new_fully: bool,
                  cap: float, gross_cap: float, turnover_cap: float, has_turnover_cap: bool,
                  t0: int, t1: int, x: np.ndarray, positions: np.ndarray, t_scale: np.ndarray,
                  g_scale: np.ndarray) -> None:  # pragma: no cover - compiled
    """Run bars ``t0 .. t1 - 1`` from positions ``x`` (updated in place).

    Parameters
    ----------
    desired : ndarray of shape (n_bars, n_symbols)
        Desired weights, read at live cells (in the universe and tradable) alone: 0
        elsewhere.
    live, enter, leave, can : ndarray of shape (n_bars, n_symbols) of bool
        Live cells; names entering the universe (tradable); tradable names out of the
        universe; tradable cells.
    buf : ndarray of shape (n_bars, n_symbols)
        No-trade buffers (fractions of NAV), finite.
    unwind, open_new_fully, cap, gross_cap, turnover_cap, has_turnover_cap
        The allocator's settings (``unwind`` 1 for ``exit="close"``, else ``decay``).
    t0, t1 : int
        The bars to run.
    x : ndarray of shape (n_symbols,)
        Positions after bar ``t0 - 1``; after bar ``t1 - 1`` on return.
    positions, t_scale, g_scale
        Outputs: positions ``(n_bars, n_symbols)`` and the per-bar cap scales ``(n_bars,)``.
    """
    n_s = x.shape[0]
    x_cap = np.empty(n_s)
    work = np.empty(n_s)
    for t in range(t0, t1):
        for j in range(n_s):
            d0 = desired[t, j] if live[t, j] else 0.0
            delta = d0 - x[j] * (1.0 if live[t, j] else 0.0)
            excess = abs(delta) - buf[t, j]
            trade = math.copysign(excess, delta) if excess > 0.0 else 0.0
            if open_new_fully and enter[t, j]:
                trade = delta
            if leave[t, j]:
                trade = -unwind * x[j]
            v = x[j] + trade
            if v < -cap:
                v = -cap
            if v > cap:
                v = cap
            x_cap[j] = v if can[t, j] else x[j]
        for j in range(n_s):
            work[j] = 0.0 if can[t, j] else abs(x[j])
        room = gross_cap - _left_sum(work)
        if 0.0 > room:  # max(room, 0.0) as Python's max
            room = 0.0
        for j in range(n_s):
            work[j] = abs(x_cap[j]) if can[t, j] else 0.0
        live_gross = _left_sum(work)
        if live_gross > room:
            g = room / live_gross
            g_scale[t] = g
            for j in range(n_s):
                if can[t, j]:
                    x_cap[j] = x_cap[j] * g
        for j in range(n_s):
            x_cap[j] = x_cap[j] - x[j]  # the trades
        if has_turnover_cap:
            for j in range(n_s):
                work[j] = abs(x_cap[j])
            turnover = _left_sum(work)
            if turnover > turnover_cap:
                s = turnover_cap / turnover
                t_scale[t] = s
                for j in range(n_s):
                    x_cap[j] = x_cap[j] * s
        for j in range(n_s):
            x[j] = x[j] + x_cap[j]
            positions[t, j] = x[j]
