"""The rule of :class:`BufferedAllocator` as a plain per-bar loop: the readable reference.

:func:`allocate_reference` applies the allocator's rule (see
:mod:`coinfactor.portfolio._allocator`) bar after bar with every selection recomputed at
every bar and no preallocated buffers, in the manner of arch's ``recursions_python.py`` beside
its compiled recursions. The fast loop of :meth:`BufferedAllocator.fit` performs the same
floating-point operations in the same order, so the two agree bit for bit; this one is slower
(no chunking, no hoisting) and exists to be read and to test against.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from coinfactor.portfolio._allocator import AllocationInputs, AllocationResult, BufferedAllocator


def allocate_reference(allocator: BufferedAllocator,
                       data: pl.DataFrame | AllocationInputs) -> AllocationResult:
    """Run ``allocator``'s rule bar by bar, plainly (slow, readable reference).

    Parameters
    ----------
    allocator : BufferedAllocator
        The settings (risk and cost aversion, caps, entry and exit rules).
    data : pl.DataFrame or AllocationInputs
        As for :meth:`BufferedAllocator.fit`: desired weights (fractions of NAV, NaN = out of
        the universe), ANNUALISED vol, half-spreads (fractions of price) and tradability, all
        of shape ``(n_bars, n_symbols)``.

    Returns
    -------
    AllocationResult
        Equal, bit for bit, to ``allocator.fit(data)``.

    Notes
    -----
    At bar t, with x the positions after bar t-1 (fractions of NAV)::

        buffer = γ·half_spread / (λ·vol²)          (0 where not finite)
        δ      = desired - x       for a live name (in the universe and tradable), else -x
        trade  = sign(δ)·(|δ| - buffer) if |δ| > buffer, else 0
               = δ                  for a name entering the universe, if open_new_fully
               = -unwind·x          for a tradable name out of the universe (unwind 1 for
                                    exit="close", decay for exit="decay")
        x_cap  = clip(x + trade, ±max_weight); untradable names keep x (frozen)
        gross  : live names scaled by room / live_gross when live_gross > room, where
                 room = max(gross_cap - Σ|frozen x|, 0)
        turnover: trades scaled by turnover_cap / Σ|x_cap - x| when above the cap
        x      = x + trades

    Sums run left to right (cumulative sums), as in the fast loop.
    """
    a = allocator
    inputs = data if isinstance(data, AllocationInputs) else AllocationInputs.from_frame(data)
    inputs = inputs.with_delistings_closed()  # closed at the last tradable bar, as in backtest
    desired, vol, hs = inputs.desired, inputs.vol, inputs.half_spread
    n_t, n_s = desired.shape
    trad = np.ones((n_t, n_s), dtype=bool) if inputs.tradable is None else inputs.tradable
    with np.errstate(invalid="ignore", divide="ignore"):
        buf = a.cost_aversion * hs / (a.risk_aversion * vol * vol)
    buf = np.where(np.isfinite(buf), buf, 0.0)
    in_u = ~np.isnan(desired)
    live = in_u & trad
    d0 = np.where(live, desired, 0.0)
    prev_in = np.vstack([np.zeros((1, n_s), dtype=bool), in_u[:-1]])
    enter = in_u & ~prev_in & trad
    leave = trad & ~in_u
    unwind = 1.0 if a.exit == "close" else a.decay
    x = np.zeros(n_s)
    positions = np.zeros((n_t, n_s))
    t_scale, g_scale = np.ones(n_t), np.ones(n_t)
    for t in range(n_t):
        delta = d0[t] - x * live[t].astype(float)
        excess = np.abs(delta) - buf[t]
        trade = np.where(excess > 0.0, np.copysign(excess, delta), 0.0)
        if a.open_new_fully:
            trade = np.where(enter[t], delta, trade)
        trade = np.where(leave[t], -unwind * x, trade)
        x_cap = np.clip(x + trade, -a.max_weight, a.max_weight)
        can = trad[t]
        x_cap = np.where(can, x_cap, x)
        room = max(a.gross_cap - _left_sum(np.abs(np.where(can, 0.0, x))), 0.0)
        live_gross = _left_sum(np.abs(np.where(can, x_cap, 0.0)))
        if live_gross > room:
            g_scale[t] = room / live_gross
            x_cap = np.where(can, x_cap * g_scale[t], x_cap)
        traded = x_cap - x
        if a.turnover_cap is not None:
            turnover = _left_sum(np.abs(traded))
            if turnover > a.turnover_cap:
                t_scale[t] = a.turnover_cap / turnover
                traded = traded * t_scale[t]
        x = x + traded
        positions[t] = x
    return AllocationResult(positions, buf, t_scale, g_scale, inputs)


def _left_sum(values: np.ndarray) -> float:
    """Sum from left to right (the last cumulative sum); 0 for no values."""
    return float(np.cumsum(values)[-1]) if values.size else 0.0
