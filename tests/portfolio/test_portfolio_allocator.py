"""BufferedAllocator: hand-computed buffer, caps, turnover cap on positions, exits, oracle."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coinfactor.core.errors import ConfigError, DataError
from coinfactor.portfolio import AllocationInputs, BufferedAllocator

NAN = np.nan


def _alloc(desired, vol=None, spread=None, tradable=None, **kw):
    d = np.asarray(desired, dtype=float)
    v = np.ones_like(d) if vol is None else np.asarray(vol, dtype=float)
    s = np.zeros_like(d) if spread is None else np.asarray(spread, dtype=float)
    tr = None if tradable is None else np.asarray(tradable, dtype=bool)
    res = BufferedAllocator(**kw).fit(AllocationInputs(d, v, s, tr))
    return res.positions, res.buffer, res.turnover_scale, res.gross_scale


def test_buffer_hand_computed() -> None:
    """buffer = γ·spread/(λσ²) = 1·0.02/(2·0.5²) = 0.04; trades stop at the buffer's edge."""
    desired = [[0.10], [0.13], [0.20], [0.00]]
    vol = [[0.5]] * 4
    spread = [[0.02]] * 4
    pos, buf, _, _ = _alloc(desired, vol, spread, open_new_fully=False, max_weight=1.0)
    np.testing.assert_allclose(buf, 0.04)
    # t0: δ=0.10 > 0.04 -> x = 0.10 - 0.04 = 0.06
    # t1: δ=0.13-0.06=0.07 -> x = 0.06 + 0.03 = 0.09
    # t2: δ=0.20-0.09=0.11 -> x = 0.09 + 0.07 = 0.16
    # t3: δ=-0.16 -> x = 0.16 - 0.12 = 0.04
    np.testing.assert_allclose(pos[:, 0], [0.06, 0.09, 0.16, 0.04], atol=1e-15)


def test_no_trade_inside_buffer_and_open_new_fully() -> None:
    desired = [[0.10], [0.12], [0.08]]
    spread = [[0.02]] * 3  # buffer 0.04 with vol 0.5, λ=2
    pos, *_ = _alloc(desired, [[0.5]] * 3, spread, open_new_fully=True, max_weight=1.0)
    # entering: opened fully to 0.10; then |δ| = 0.02 <= 0.04 twice: no trade
    np.testing.assert_allclose(pos[:, 0], [0.10, 0.10, 0.10])


def test_per_asset_cap() -> None:
    pos, *_ = _alloc([[0.5, -0.4, 0.1]], max_weight=0.2)
    np.testing.assert_allclose(pos[0], [0.2, -0.2, 0.1])


def test_gross_cap_scales_book() -> None:
    pos, _, _, g = _alloc([[0.5, -0.3, 0.2]], max_weight=1.0, gross_cap=0.5)
    # gross 1.0 -> scaled by 0.5
    np.testing.assert_allclose(pos[0], [0.25, -0.15, 0.10])
    assert g[0] == pytest.approx(0.5)


def test_turnover_cap_scales_positions_not_only_reported_turnover() -> None:
    """Trades of 0.4 total under a 0.1 cap: positions move a quarter of the way."""
    desired = [[0.2, -0.2], [0.0, 0.0]]
    pos, _, ts, _ = _alloc(desired, max_weight=1.0, turnover_cap=0.1)
    np.testing.assert_allclose(pos[0], [0.05, -0.05])  # 0.4 of trades scaled by 0.25
    assert ts[0] == pytest.approx(0.25)
    # next bar: names leave the universe? no, desired 0 in universe: trade back 0.1 total
    np.testing.assert_allclose(pos[1], [0.0, 0.0])
    realised = np.abs(np.diff(np.vstack([np.zeros(2), pos]), axis=0)).sum(axis=1)
    assert (realised <= 0.1 + 1e-15).all()


def test_turnover_cap_consistent_after_caps() -> None:
    """Turnover cap applies to the final (capped) trades; caps still hold afterwards."""
    desired = [[0.1, 0.1], [0.9, -0.9]]
    pos, _, ts, g = _alloc(desired, max_weight=0.3, gross_cap=0.5, turnover_cap=0.2)
    # t0: trades 0.2 total, cap 0.2 -> no scaling
    np.testing.assert_allclose(pos[0], [0.1, 0.1])
    # t1: clip -> [0.3, -0.3], gross 0.6 > 0.5 -> [0.25, -0.25]; trades [0.15, -0.35] = 0.5
    #     turnover cap 0.2 -> s = 0.4 -> x = [0.1 + 0.06, 0.1 - 0.14] = [0.16, -0.04]
    assert g[1] == pytest.approx(0.5 / 0.6)
    assert ts[1] == pytest.approx(0.4)
    np.testing.assert_allclose(pos[1], [0.16, -0.04], atol=1e-15)


def test_exit_close_and_decay() -> None:
    desired = [[0.2], [NAN], [NAN]]
    closed, *_ = _alloc(desired, max_weight=1.0, exit="close")
    np.testing.assert_allclose(closed[:, 0], [0.2, 0.0, 0.0])
    decayed, *_ = _alloc(desired, max_weight=1.0, exit="decay", decay=0.5)
    np.testing.assert_allclose(decayed[:, 0], [0.2, 0.1, 0.05])


def test_untradable_name_is_frozen_and_counts_in_gross() -> None:
    # issue 15: a name untradable up to the last bar is now delisted (closed at its last
    # tradable bar, see the next test), so the gap is temporary here: A trades again at bar 2
    desired = [[0.3, 0.3], [0.0, 0.5], [0.0, 0.5]]
    tradable = [[True, True], [False, True], [True, True]]
    pos, *_ = _alloc(desired, tradable=tradable, max_weight=1.0, gross_cap=0.6)
    np.testing.assert_allclose(pos[0], [0.3, 0.3])
    # A cannot trade (keeps 0.3); B wants 0.5 but only 0.6 - 0.3 = 0.3 of gross is left
    np.testing.assert_allclose(pos[1], [0.3, 0.3])
    # A tradable again: it goes to 0 and frees the gross, B reaches 0.5
    np.testing.assert_allclose(pos[2], [0.0, 0.5])


def test_name_whose_data_end_is_closed_at_its_last_tradable_bar() -> None:
    """A's data end after bar 1: it is closed there in full, with no buffer (as the backtest
    closes a delisted name at its last price), instead of being frozen to the end."""
    from coinfactor.portfolio import allocate_reference

    desired = np.array([[0.3, 0.3], [0.3, 0.3], [0.3, 0.5], [0.3, 0.5]])
    vol = np.ones((4, 2))
    spread = np.array([[0.1, 0.0]] * 4)  # A's buffer: 1 x 0.1 / (2 x 1²) = 0.05
    tradable = np.array([[True, True], [True, True], [False, True], [False, True]])
    a = BufferedAllocator(max_weight=1.0, gross_cap=0.6)
    inputs = AllocationInputs(desired, vol, spread, tradable)
    res = a.fit(inputs)
    # hand: bar 0 both open fully; bar 1 A's last tradable bar: 0.3 -> 0 exactly (a buffered
    # trade would stop at 0.05; frozen, A would hold 0.3 and cap B at 0.3); then B 0.5
    np.testing.assert_array_equal(res.positions, [[0.3, 0.3], [0.0, 0.3], [0.0, 0.5],
                                                  [0.0, 0.5]])
    ref = allocate_reference(a, inputs)
    for name in ("positions", "buffer", "turnover_scale", "gross_scale"):
        np.testing.assert_array_equal(getattr(res, name), getattr(ref, name), err_msg=name)
    # the same from a long frame where A simply has no rows after bar 1
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    frame = pl.DataFrame([
        {"ts": t0 + timedelta(days=t), "symbol": s, "desired": desired[t, j], "vol": 1.0,
         "half_spread": spread[t, j]}
        for t in range(4) for j, s in enumerate("AB") if tradable[t, j]])
    from_frame = a.fit(frame)
    np.testing.assert_array_equal(from_frame.positions, res.positions)
    np.testing.assert_array_equal(allocate_reference(a, frame).positions, res.positions)
    # a gap that ends (A tradable again at bar 3) is frozen, not closed: bar 2 A keeps 0.3
    # and B gets the 0.3 left; bar 3 both live, gross 0.8 scaled to 0.6 (x 0.75)
    gap = tradable.copy()
    gap[3, 0] = True
    frozen = a.fit(AllocationInputs(desired, vol, spread, gap))
    np.testing.assert_allclose(frozen.positions, [[0.3, 0.3], [0.3, 0.3], [0.3, 0.3],
                                                  [0.225, 0.375]], rtol=1e-15)
    np.testing.assert_array_equal(allocate_reference(
        a, AllocationInputs(desired, vol, spread, gap)).positions, frozen.positions)


def _naive(desired, vol, spread, *, lam, gamma, cap, gross, tcap):
    """Per-symbol scalar loop of the documented rule (all names tradable, open_new_fully)."""
    n_t, n_s = desired.shape
    x = [0.0] * n_s
    out = np.zeros((n_t, n_s))
    was_in = [False] * n_s
    for t in range(n_t):
        pre = []
        for j in range(n_s):
            d = desired[t, j]
            if np.isnan(d):
                pre.append(0.0)
                continue
            b = gamma * spread[t, j] / (lam * vol[t, j] ** 2)
            delta = d - x[j]
            if not was_in[j]:
                tr = delta
            elif abs(delta) <= b:
                tr = 0.0
            else:
                tr = np.sign(delta) * (abs(delta) - b)
            pre.append(min(max(x[j] + tr, -cap), cap))
        g = sum(abs(v) for v in pre)
        if g > gross:
            pre = [v * gross / g for v in pre]
        turn = sum(abs(pre[j] - x[j]) for j in range(n_s))
        s = tcap / turn if turn > tcap else 1.0
        x = [x[j] + s * (pre[j] - x[j]) for j in range(n_s)]
        out[t] = x
        was_in = [not np.isnan(desired[t, j]) for j in range(n_s)]
    return out


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_matches_naive_loop(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_t, n_s = 25, 6
    desired = rng.normal(0, 0.2, (n_t, n_s))
    desired[rng.random((n_t, n_s)) < 0.2] = NAN
    vol = rng.uniform(0.3, 1.5, (n_t, n_s))
    spread = rng.uniform(0.0, 0.02, (n_t, n_s))
    got = BufferedAllocator(risk_aversion=2.0, cost_aversion=1.0, max_weight=0.25, gross_cap=1.0,
                            turnover_cap=0.3).fit(AllocationInputs(desired, vol, spread)).positions
    ref = _naive(desired, vol, spread, lam=2.0, gamma=1.0, cap=0.25, gross=1.0, tcap=0.3)
    np.testing.assert_allclose(got, ref, atol=1e-14)


def test_run_on_frame_and_truncation() -> None:
    rng = np.random.default_rng(0)
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    rows = [{"ts": t0 + timedelta(days=i), "symbol": s,
             "desired": float(rng.normal(0, 0.2)) if rng.random() > 0.2 else None,
             "vol": float(rng.uniform(0.3, 1.0)), "half_spread": 0.002}
            for i in range(30) for s in "ABCD" if not (s == "D" and i < 10)]
    frame = pl.DataFrame(rows)
    alloc = BufferedAllocator(turnover_cap=0.5)
    full = alloc.fit(frame)
    dense = alloc.fit(AllocationInputs.from_frame(frame))
    assert dense.weights.equals(full.weights)
    assert not full.positions.flags.writeable
    for cut in (12, 20):
        t = t0 + timedelta(days=cut)
        part = alloc.fit(frame.filter(pl.col("ts") <= t))
        assert part.weights.equals(full.weights.filter(pl.col("ts") <= t))
    assert (full.diagnostics["turnover"] <= 0.5 + 1e-12).all()
    assert "turnover cap bound" in full.summary()
    # D has no rows before day 10: it never holds a position there
    assert full.weights.filter((pl.col("symbol") == "D") & (pl.col("ts") < t0 + timedelta(10))
                               ).height == 0


def test_bad_settings_and_frames() -> None:
    with pytest.raises(ConfigError, match="turnover_cap"):
        _alloc([[0.1]], turnover_cap=0.0)
    with pytest.raises(ConfigError, match="max_weight"):
        _alloc([[0.1]], max_weight=-1.0)
    with pytest.raises(ConfigError, match="exit"):
        _alloc([[0.1]], exit="hold")
    with pytest.raises(DataError, match="missing column"):
        BufferedAllocator().fit(pl.DataFrame({"ts": [], "symbol": []}))
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    row = {"ts": [t0], "symbol": ["A"], "desired": [0.1], "vol": [0.5], "half_spread": [0.0]}
    with pytest.raises(DataError, match="duplicated"):
        BufferedAllocator().fit(pl.concat([pl.DataFrame(row), pl.DataFrame(row)]))
    with pytest.raises(DataError, match="shape"):
        AllocationInputs(np.zeros((2, 2)), np.zeros((2, 3)), np.zeros((2, 2)))
