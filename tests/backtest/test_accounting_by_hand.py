"""Drift-aware accounting against a computation written out by hand (DESIGN.md accounting).

Three coins, seven daily bars, decisions at bars 0 and 3, funding on every bar, a missing bar
(B has no bar 2) and a delisting (C's last bar is bar 4). Costs are a flat 15 bps per unit
traded (10 bps fee + 5 bps half-spread). The hand computation below applies, bar by bar::

    pnl(t) = Σ w(t-1)·r(t) - Σ w(t-1)·f(t) - cost(t-1)
    d(t)   = w(t-1)·(1 + r(t)) / (1 + pnl(t))
    w(t)   = target (where the coin has a price) at a trade, else d(t);  C closed at bar 4

with plain Python floats, one line per quantity, never calling the library.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from coinfactor.backtest import Fees, HalfSpread, backtest

DAYS = [datetime(2024, 1, 1, tzinfo=UTC) + timedelta(days=i) for i in range(7)]
CLOSE = {
    "A": [100.0, 110.0, 99.0, 99.0, 108.9, 100.0, 105.0],
    "B": [50.0, 55.0, None, 60.5, 55.0, 60.0, 66.0],   # no bar 2
    "C": [20.0, 21.0, 22.0, 20.0, 19.0, None, None],   # delisted after bar 4
}
FUNDING = {"A": 0.001, "B": 0.002, "C": -0.001}      # on every bar it has
TARGETS = {0: {"A": 0.5, "B": -0.3, "C": 0.2}, 3: {"A": 0.2, "B": 0.4, "C": -0.1}}
RATE = 0.0010 + 0.0005                               # fee + half-spread per unit traded
NAV0 = 1000.0


def _panel() -> pl.DataFrame:
    rows = [{"ts": DAYS[t], "symbol": s, "open": c, "high": c, "low": c, "close": c,
             "volume": 1.0, "funding_rate": FUNDING[s]}
            for s, closes in CLOSE.items() for t, c in enumerate(closes) if c is not None]
    return pl.DataFrame(rows).sort("symbol", "ts")


def _weights() -> pl.DataFrame:
    return pl.DataFrame([{"ts": DAYS[t], "symbol": s, "weight": w}
                         for t, book in TARGETS.items() for s, w in book.items()])


def _hand(every_bar: bool) -> dict[str, list]:
    """The accounts of the seven bars, computed by hand (see the module docstring)."""
    sym = ["A", "B", "C"]
    px = {s: CLOSE[s] for s in sym}

    def ret(s: str, t: int) -> float:
        """close(t) / last observed close before t - 1; 0 without a bar at t."""
        if px[s][t] is None:
            return 0.0
        prev = next(px[s][u] for u in range(t - 1, -1, -1) if px[s][u] is not None)
        return px[s][t] / prev - 1.0

    out: dict[str, list] = {"nav": [], "price": [], "funding": [], "cost": [], "w": [],
                            "trade": []}
    # bar 0: first decision, nothing held before it
    nav = NAV0
    w = dict(TARGETS[0])
    trade = dict(w)
    owed = RATE * (abs(trade["A"]) + abs(trade["B"]) + abs(trade["C"]))
    out["nav"].append(nav)
    out["price"].append(0.0)
    out["funding"].append(0.0)
    out["cost"].append(0.0)
    out["w"].append(dict(w))
    out["trade"].append(dict(trade))
    target = dict(TARGETS[0])
    for t in range(1, 7):
        r = {s: ret(s, t) for s in sym}
        f = {s: (FUNDING[s] if px[s][t] is not None else 0.0) for s in sym}  # B bar 2: none
        price = w["A"] * r["A"] + w["B"] * r["B"] + w["C"] * r["C"]
        funding = -(w["A"] * f["A"] + w["B"] * f["B"] + w["C"] * f["C"])
        cost = -owed
        pnl = price + funding + cost
        nav = nav * (1.0 + pnl)
        d = {s: w[s] * (1.0 + r[s]) / (1.0 + pnl) for s in sym}
        if t in TARGETS:
            target = dict(TARGETS[t])
        trading = every_bar or t in TARGETS
        new = {s: (target[s] if trading and px[s][t] is not None else d[s]) for s in sym}
        if t == 4:  # C's last bar: closed at its last close
            new["C"] = 0.0
        trade = {s: new[s] - d[s] for s in sym}
        owed = RATE * (abs(trade["A"]) + abs(trade["B"]) + abs(trade["C"]))
        w = new
        out["nav"].append(nav)
        out["price"].append(price)
        out["funding"].append(funding)
        out["cost"].append(cost)
        out["w"].append(dict(w))
        out["trade"].append(dict(trade))
    return out


@pytest.mark.parametrize("mode", ["decisions", "every_bar"])
def test_backtest_equals_the_hand_computation(mode: str) -> None:
    res = backtest(_panel(), _weights(), costs=Fees(10.0) + HalfSpread(0.0005),
                   initial_nav=NAV0, rebalance=mode, funding_missing="zero")  # type: ignore[arg-type]
    hand = _hand(mode == "every_bar")
    nav = res.nav
    np.testing.assert_allclose(nav["nav"].to_numpy(), hand["nav"], rtol=0, atol=1e-12 * NAV0)
    np.testing.assert_allclose(nav["ret_price"].to_numpy(), hand["price"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(nav["ret_funding"].to_numpy(), hand["funding"], rtol=0,
                               atol=1e-12)
    np.testing.assert_allclose(nav["ret_cost"].to_numpy(), hand["cost"], rtol=0, atol=1e-12)
    # trades at each close: the engine lists non-zero trades only
    got = {(r["ts"], r["symbol"]): r["trade"] for r in res.trades.iter_rows(named=True)}
    for t, trade in enumerate(hand["trade"]):
        for s, value in trade.items():
            assert got.get((DAYS[t], s), 0.0) == pytest.approx(value, abs=1e-12), (t, s)
    # held weights at every bar
    held = {(r["ts"], r["symbol"]): r["weight"] for r in res.weights.iter_rows(named=True)}
    for t, w in enumerate(hand["w"]):
        for s, value in w.items():
            assert held.get((DAYS[t], s), 0.0) == pytest.approx(value, abs=1e-12), (t, s)
    # B held over its missing bar 2: one position-bar without funding, counted
    assert res.funding.missing_bars == 1
    assert (res.funding.first_ts, res.funding.first_symbol) == (DAYS[2], "B")


def test_drift_is_not_rebalanced_for_free() -> None:
    """Between decisions the book drifts: no trades, unlike every-bar rebalancing."""
    drift = backtest(_panel(), _weights(), costs=Fees(10.0), funding_missing="zero")
    rebal = backtest(_panel(), _weights(), costs=Fees(10.0), rebalance="every_bar",
                     funding_missing="zero")
    traded_at = set(drift.trades["ts"].to_list())
    assert traded_at == {DAYS[0], DAYS[3], DAYS[4]}  # the two decisions and C's delisting
    assert rebal.turnover["turnover"].sum() > drift.turnover["turnover"].sum()
