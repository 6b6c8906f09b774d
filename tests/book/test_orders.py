"""Orders after each market's precision and limits: worked examples and a hypothesis property.

References: hand-worked lots and minimums; ccxt's own ``decimal_to_precision`` (the venue's
rounding) to check that every emitted quantity and price is on its grid; a sequential replay
of the emitted orders for the risk and the post-trade position.
"""

from __future__ import annotations

import math

import pytest
from ccxt.base.decimal_to_precision import (
    DECIMAL_PLACES,
    NO_PADDING,
    ROUND,
    SIGNIFICANT_DIGITS,
    TICK_SIZE,
    decimal_to_precision,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from coinfactor.book import MarketRules, orders
from coinfactor.core.errors import ConfigError, DataError


def _rows(frame) -> list[dict]:
    return frame.to_dicts()


def test_hand_worked_lots_minimums_and_flip() -> None:
    # A: tick 0.001 contracts, min 0.01 contracts, min notional 5 USD
    a = MarketRules("A", TICK_SIZE, 0.001, 0.01, 0.01, 5.0)
    # adding risk rounds toward zero: 0.5 -> 1.2345 buys 0.734 (not 0.735)
    out = _rows(orders({"A": 1.2345}, {"A": 0.5}, {"A": 100.0}, {"A": a}))
    assert [(r["side"], r["quantity"], r["reason"]) for r in out] == [("buy", 0.734,
                                                                      "increase")]
    # reducing rounds away from zero: 1.0 -> 0.4565 sells 0.544 (ends at 0.456 <= target)
    out = _rows(orders({"A": 0.4565}, {"A": 1.0}, {"A": 100.0}, {"A": a}))
    assert [(r["quantity"], r["reduce_only"]) for r in out] == [(pytest.approx(0.544), True)]
    # below the minimum notional: 0.004 contracts * 100 = 0.4 USD < 5
    out = _rows(orders({"A": 1.004}, {"A": 1.0}, {"A": 100.0}, {"A": a}))
    assert [(r["status"], r["reason"]) for r in out] == [("skipped", "below_min_amount")]
    out = _rows(orders({"A": 1.04}, {"A": 1.0}, {"A": 100.0}, {"A": a}))
    assert [(r["status"], r["reason"]) for r in out] == [("skipped", "below_min_notional")]
    # a flip: a reduce-only close of the long, then a short valid on its own
    out = _rows(orders({"A": -0.3}, {"A": 0.2}, {"A": 100.0}, {"A": a}))
    assert [(r["side"], r["quantity"], r["reduce_only"], r["reason"]) for r in out] == [
        ("sell", 0.2, True, "flip_close"), ("sell", 0.3, False, "flip_open")]
    # the net delta (0.205 contracts, 20.5 USD) would pass a 10 USD minimum, but the closing
    # leg (0.005, 0.5 USD) does not: both legs are skipped, the book is not flipped halfway
    b = MarketRules("B", TICK_SIZE, 0.001, 0.01, 0.001, 10.0)
    out = _rows(orders({"B": -0.2}, {"B": 0.005}, {"B": 100.0}, {"B": b}))
    assert [(r["status"], r["reason"]) for r in out] == [
        ("skipped", "below_min_notional"), ("skipped", "flip_close_skipped")]


def test_significant_digits_price_and_inactive_market() -> None:
    # Hyperliquid-like: prices to 5 significant figures, amounts to 2 decimals, 10 USD minimum
    m = MarketRules("H", SIGNIFICANT_DIGITS, 4, 5, None, 10.0)  # amount to 4 digits
    out = _rows(orders({"H": 12.3456}, {}, {"H": 3.14159265}, {"H": m}))
    assert out[0]["price_ref"] == 3.1416 and out[0]["quantity"] == 12.34
    off = MarketRules("X", TICK_SIZE, 0.1, 0.01, None, None, active=False)
    out = _rows(orders({"X": 5.0}, {"X": 2.0}, {"X": 1.0}, {"X": off}))
    assert [(r["side"], r["quantity"], r["reduce_only"], r["reason"]) for r in out] == [
        ("sell", 2.0, True, "market_inactive")]


def test_notional_cap_splits_orders() -> None:
    m = MarketRules("A", TICK_SIZE, 0.01, 0.01, 0.01, 5.0)
    out = _rows(orders({"A": 10.0}, {}, {"A": 100.0}, {"A": m}, max_order_notional=300.0))
    assert [r["quantity"] for r in out] == [3.0, 3.0, 3.0, 1.0]
    assert all(r["notional"] <= 300.0 for r in out)


def test_from_ccxt_market_structure_and_bad_input() -> None:
    market = {"precision": {"amount": 0.001, "price": 0.1},
              "limits": {"amount": {"min": 0.001, "max": 1000}, "cost": {"min": 5.0},
                         "leverage": {"max": 125}},
              "contractSize": 1.0, "active": True}
    m = MarketRules.from_ccxt("BTCUSDT", market, TICK_SIZE)
    assert (m.amount_precision, m.price_precision, m.min_amount, m.min_cost, m.max_leverage) \
        == (0.001, 0.1, 0.001, 5.0, 125.0)
    with pytest.raises(DataError, match="no market rules for 'Z'"):
        orders({"Z": 1.0}, {}, {"Z": 1.0}, {})
    with pytest.raises(DataError, match="positive reference price"):
        orders({"BTCUSDT": 1.0}, {}, {"BTCUSDT": 0.0}, {"BTCUSDT": m})
    with pytest.raises(ConfigError, match="precision_mode"):
        MarketRules("A", 7)


def _on_grid(x: float, precision: float | None, mode: int) -> bool:
    if precision is None:
        return True
    prec = precision if mode == TICK_SIZE else int(precision)
    snapped = float(decimal_to_precision(repr(abs(x)), ROUND, prec, mode, NO_PADDING))
    x = abs(x)
    return math.isclose(snapped, x, rel_tol=1e-9, abs_tol=1e-12)


def _lot(x: float, m: MarketRules) -> float:
    """One amount step at the magnitude of x (for significant digits: of the trade x)."""
    p = m.amount_precision
    if p is None:
        return 0.0
    if m.precision_mode == TICK_SIZE:
        return p
    if m.precision_mode == DECIMAL_PLACES:
        return 10.0 ** -p
    return 10.0 ** (math.floor(math.log10(max(abs(x), 1e-12))) - int(p) + 1)


@st.composite
def markets(draw: st.DrawFn) -> MarketRules:
    mode = draw(st.sampled_from([DECIMAL_PLACES, SIGNIFICANT_DIGITS, TICK_SIZE]))
    if mode == TICK_SIZE:
        amount = draw(st.sampled_from([1.0, 0.1, 0.01, 0.001, 0.5, 5.0, 0.0001]))
        price = draw(st.sampled_from([0.01, 0.1, 0.5, 0.0001]))
    elif mode == DECIMAL_PLACES:
        amount, price = float(draw(st.integers(0, 5))), float(draw(st.integers(0, 6)))
    else:
        amount, price = float(draw(st.integers(1, 6))), float(draw(st.integers(2, 6)))
    return MarketRules("S", mode, amount, price,
                       min_amount=draw(st.sampled_from([None, 0.001, 0.01, 1.0])),
                       min_cost=draw(st.sampled_from([None, 5.0, 10.0, 100.0])),
                       contract_size=draw(st.sampled_from([1.0, 0.001, 10.0, 100.0])),
                       active=draw(st.booleans()) or draw(st.booleans()))


@settings(max_examples=300, deadline=None)
@given(m=markets(), target=st.floats(-1e4, 1e4, allow_subnormal=False),
       current_raw=st.floats(-1e4, 1e4, allow_subnormal=False),
       price=st.floats(1e-3, 1e5), cap=st.sampled_from([None, 1e3, 5e4]))
def test_every_order_is_valid_and_never_exceeds_the_target_risk(
        m: MarketRules, target: float, current_raw: float, price: float,
        cap: float | None) -> None:
    current = m.round_amount(current_raw)  # venue positions sit on the lot grid
    out = _rows(orders({"S": target}, {"S": current}, {"S": price}, {"S": m},
                       max_order_notional=cap))
    want = target if m.active else 0.0
    eps = 1e-9 * max(abs(current), abs(want), 1.0)  # float error of the replayed sums
    pos, skipped = current, False
    for r in out:
        if r["status"] == "skipped":
            skipped = True
            assert r["reason"]
            continue
        q = r["quantity"]
        assert q > 0 and _on_grid(q, m.amount_precision, m.precision_mode), r
        assert _on_grid(r["price_ref"], m.price_precision, m.precision_mode), r
        assert m.check(q, r["price_ref"]) == "", r
        if cap is not None:
            assert r["notional"] <= cap * (1 + 1e-9), r
        before = pos
        pos = pos + (q if r["side"] == "buy" else -q)
        if r["reduce_only"]:  # never past flat
            assert abs(pos) <= abs(before) + eps and (pos * before >= 0 or abs(pos) <= eps), r
        else:  # opening or adding: never beyond the target
            assert (pos * want >= 0 or abs(pos) <= eps) and abs(pos) <= abs(want) + eps, r
    # the post-trade position is within one lot of the target, or a skip says why
    if not skipped:
        size = want - current if m.precision_mode == SIGNIFICANT_DIGITS else (want or current)
        tol = _lot(size, m) * (1 + 1e-9) + eps
        assert abs(pos - want) <= tol, (pos, want, out)
