"""The compiled account loop equals the NumPy loop it is written from, bit for bit.

Reference: :func:`coinfactor.backtest._simulate.simulate_loop`, the readable per-bar NumPy
loop (its accounting is itself checked by hand in ``test_accounting_by_hand.py``). Random
books over ragged panels (listings, gaps, delistings, missing funding), with every path of
the loop: decisions and every-bar rebalancing, coins without a price at a decision (pending
fills), liquidation by margin and by bankruptcy, linear and square-root costs (k = 0 too),
a maker rebate, and an unknown spread where a trade happens.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coinfactor.backtest import Fees, HalfSpread, MarketData, SquareRootImpact
from coinfactor.backtest._simulate import Ledger, simulate, simulate_loop
from coinfactor.core.errors import DataError
from coinfactor.data import Grid

FIELDS = ("held", "pre_trade", "trades", "cost", "nav", "ret_price", "ret_funding", "ret_cost",
          "mark_price")


def _market(close: np.ndarray, seed: int) -> MarketData:
    n_t, n_s = close.shape
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    ts = pl.datetime_range(t0, t0 + (n_t - 1) * timedelta(hours=1), "1h", eager=True,
                           time_zone="UTC", time_unit="us")
    grid = Grid(ts, "1h", tuple(f"S{j}" for j in range(n_s)), np.empty(0, np.int64),
                np.empty(0, np.int64), None)
    qv = np.random.default_rng(seed).lognormal(12, 1, close.shape)
    qv[np.isnan(close)] = np.nan
    return MarketData(grid, close, qv)


def _case(seed: int, n_t: int, n_s: int) -> dict:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.05, (n_t, n_s)), axis=0))
    close[rng.random(close.shape) < 0.1] = np.nan  # gaps
    for j in range(n_s):
        if rng.random() < 0.3:
            close[: rng.integers(0, max(1, n_t // 2)), j] = np.nan  # late listing
        if rng.random() < 0.3:
            close[rng.integers(n_t // 2, n_t):, j] = np.nan  # delisting
    funding = rng.normal(1e-4, 3e-4, close.shape)
    funding[rng.random(close.shape) < 0.1] = np.nan
    decision = rng.random(n_t) < 0.4
    decision[0] = True
    target = rng.normal(0, rng.choice([0.2, 3.0]), (n_t, n_s))  # 3.0: liquidation territory
    target[rng.random(target.shape) < 0.2] = 0.0
    return {"close": close, "funding": funding, "decision": decision, "target": target}


def _assert_same(a: Ledger, b: Ledger) -> None:
    for name in FIELDS:
        x, y = getattr(a, name), getattr(b, name)
        assert x.tobytes() == y.tobytes(), name  # bit for bit, signed zeros and NaN included
    assert (a.liquidated, a.liquidation_reason) == (b.liquidated, b.liquidation_reason)


COSTS = {
    "fees": Fees(4.5),
    "rebate": Fees(1.0, maker_bps=-1.5, maker_share=0.8),
    "fees+spread+impact": Fees(4.5) + HalfSpread(2e-4) + SquareRootImpact(1.0, 2.0),
    "impact k=0": HalfSpread(1e-4) + SquareRootImpact(0.0, 2.0),
    "impact only": SquareRootImpact(0.5, 1.0) + SquareRootImpact(2.0, 3.0),
}


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31), n_t=st.integers(2, 60), n_s=st.integers(1, 6),
       cost=st.sampled_from(sorted(COSTS)), every_bar=st.booleans(),
       margin=st.sampled_from([0.0, 0.05, 0.3]), gap=st.sampled_from(["mark", "skip"]),
       first=st.integers(0, 5))
def test_kernel_equals_the_numpy_loop(seed: int, n_t: int, n_s: int, cost: str,
                                      every_bar: bool, margin: float, gap: str,
                                      first: int) -> None:
    case = _case(seed, n_t, n_s)
    kwargs = dict(first=min(first, n_t), initial_nav=1e6,
                  rebalance="every_bar" if every_bar else "decisions", gap=gap,
                  maintenance_margin=margin)
    args = (case["target"], case["decision"], case["close"], case["funding"], COSTS[cost])
    try:
        ref = simulate_loop(*args, _market(case["close"], seed), **kwargs)
    except DataError as err:  # an unknown impact rate where a trade happens: both refuse
        with pytest.raises(DataError) as got:
            simulate(*args, _market(case["close"], seed), **kwargs)
        assert str(got.value) == str(err)
        return
    _assert_same(simulate(*args, _market(case["close"], seed), **kwargs), ref)


def test_both_loops_liquidate_and_refuse_alike() -> None:
    case = _case(7, 80, 5)
    market = _market(case["close"], 7)
    for scale, margin, reason in ((20.0, 0.0, "bankrupt"), (5.0, 0.5, "maintenance_margin")):
        args = (case["target"] * scale, case["decision"], case["close"], case["funding"],
                Fees(4.5))
        ref = simulate_loop(*args, market, first=0, initial_nav=1.0, maintenance_margin=margin)
        got = simulate(*args, market, first=0, initial_nav=1.0, maintenance_margin=margin)
        assert ref.liquidated >= 0 and ref.liquidation_reason == reason
        _assert_same(got, ref)
    # a spread unknown where a trade happens: the same error, naming the same cell
    hs = np.full(case["close"].shape, 1e-4)
    hs[10:, 2] = np.nan
    args = (case["target"], np.ones(80, dtype=bool), np.nan_to_num(case["close"], nan=50.0),
            case["funding"], Fees(4.5) + HalfSpread(hs) + SquareRootImpact(1.0, 1.0))
    market = _market(np.nan_to_num(case["close"], nan=50.0), 7)
    with pytest.raises(DataError) as ref_err:
        simulate_loop(*args, market, first=30, initial_nav=1.0, labels=(market.grid.ts,
                                                                        market.grid.symbols))
    with pytest.raises(DataError) as got_err:
        simulate(*args, market, first=30, initial_nav=1.0, labels=(market.grid.ts,
                                                                   market.grid.symbols))
    assert str(got_err.value) == str(ref_err.value) and "'S2'" in str(got_err.value)


def test_loading_the_compiled_loops_changes_no_result() -> None:
    from coinfactor.backtest import load_compiled_loop
    from coinfactor.portfolio import load_compiled_allocator

    case = _case(11, 30, 4)
    args = (case["target"], case["decision"], case["close"], case["funding"], Fees(4.5))
    before = simulate(*args, _market(case["close"], 11), first=0, initial_nav=1.0)
    load_compiled_loop()
    load_compiled_allocator()
    _assert_same(simulate(*args, _market(case["close"], 11), first=0, initial_nav=1.0), before)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31), n_t=st.integers(2, 60), n_s=st.integers(1, 6),
       cost=st.sampled_from(sorted(COSTS)), lag=st.integers(0, 3), every_bar=st.booleans())
def test_targets_read_in_place_equal_the_copied_targets(seed: int, n_t: int, n_s: int,
                                                         cost: str, lag: int,
                                                         every_bar: bool) -> None:
    """Decision rows read through ``target_rows`` (NaN as flat) equal a copy to every bar.

    The backtest once copied the decided rows out to every bar (NaN set to 0, shifted by the
    lag); it now passes the decisions and the row each bar carries. Gaps, delistings and
    missing funding come from ``_case``.
    """
    case = _case(seed, n_t, n_s)
    rng = np.random.default_rng(seed + 1)
    raw = np.where(case["decision"][:, None], case["target"], np.nan)
    raw[rng.random(raw.shape) < 0.2] = np.nan  # a NaN cell of a decision row: flat
    decision = ~np.isnan(raw).all(axis=1)
    carry = np.maximum.accumulate(np.where(decision, np.arange(n_t), 0))
    copied = np.nan_to_num(raw[carry], nan=0.0)  # the former copy
    copied = np.vstack([np.zeros((lag, n_s)), copied])[:n_t]
    rows = np.concatenate([np.full(lag, -1), carry])[:n_t]
    lagged = np.concatenate([np.zeros(lag, dtype=bool), decision])[:n_t]
    first = int(np.flatnonzero(decision)[0]) + lag if decision.any() else n_t
    kwargs = dict(first=min(first, n_t), initial_nav=1e6,
                  rebalance="every_bar" if every_bar else "decisions")
    for run in (simulate, simulate_loop):
        args = (lagged, case["close"], case["funding"], COSTS[cost])
        try:
            ref = run(copied, *args, _market(case["close"], seed), **kwargs)
        except DataError as err:
            with pytest.raises(DataError) as got:
                run(raw, *args, _market(case["close"], seed), target_rows=rows, **kwargs)
            assert str(got.value) == str(err)
            continue
        _assert_same(run(raw, *args, _market(case["close"], seed), target_rows=rows,
                         **kwargs), ref)
