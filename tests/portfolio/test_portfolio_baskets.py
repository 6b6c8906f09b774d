"""Baskets of the reversion study: membership against a per-date sort in plain Python, held
weights carried to the next anchor (hand computed), and the held weights at the rebalance bars
against the whole held frame filtered."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from coinfactor.data import Grid
from coinfactor.portfolio import assign_baskets, hold_weights, rebalance_bars, rebalance_rows
from support.reversion_reference import SPRING, dst_panel


def _naive_baskets(xs: pl.DataFrame, basket: str, n: int, weighting: str,
                   gross: float) -> dict[tuple, float]:
    """Plain-Python reference: per decision, sort with (value, symbol) keys, slice, weight."""
    out: dict[tuple, float] = {}
    for d in sorted(set(xs["decision"].to_list())):
        rows = [r for r in xs.iter_rows(named=True) if r["decision"] == d and r["sig"] is not None]
        if len(rows) < 2 * n:
            continue
        order = sorted(rows, key=lambda r: (-r["sig"], r["symbol"]))
        shorts, longs = order[:n], order[-n:]
        legs = {"short": [(shorts, -1)], "long": [(longs, 1)],
                "long_short": [(shorts, -1), (longs, 1)]}[basket]
        leg_gross = gross / len(legs)
        for members, sign in legs:
            raw = [1.0 if weighting == "equal" else 1.0 / r["vol"] for r in members]
            for r, w in zip(members, raw, strict=True):
                out[(d, r["symbol"])] = sign * leg_gross * w / sum(raw)
    return out


@pytest.mark.parametrize("basket", ["short", "long", "long_short"])
@pytest.mark.parametrize("weighting", ["equal", "inverse_vol"])
def test_baskets_equal_naive_sort(basket: str, weighting: str) -> None:
    rng = np.random.default_rng(1)
    n_dec, syms = 30, [f"S{i:02d}" for i in range(9)]
    xs = pl.DataFrame({
        "decision": np.repeat(np.arange(n_dec), len(syms)),
        "symbol": syms * n_dec,
        # rounded values: many ties at the cut-off exercise the tie rule
        "sig": np.round(rng.normal(size=n_dec * len(syms)), 0),
        "vol": rng.uniform(0.1, 1.0, n_dec * len(syms)),
    }).with_columns(
        pl.when(pl.int_range(pl.len()) % 7 == 3).then(None).otherwise(pl.col("sig")).alias("sig")
    )
    got = assign_baskets(xs, signal="sig", vol="vol", eligible=pl.col("sig").is_not_null(),
                         basket=basket, n=3, weighting=weighting, gross=2.0)  # type: ignore
    ref = _naive_baskets(xs, basket, 3, weighting, 2.0)
    assert got.select("decision", "symbol").equals(xs.select("decision", "symbol"))
    for r in got.iter_rows(named=True):
        expected = ref.get((r["decision"], r["symbol"]), 0.0)
        assert r["weight"] == pytest.approx(expected, rel=1e-12, abs=0)
        assert r["side"] == int(np.sign(expected))
    sums = got.group_by("decision").agg(pl.col("weight").sum(), pl.col("weight").abs().sum()
                                        .alias("g"))
    if basket == "long_short":
        assert np.allclose(sums["weight"].to_numpy(), 0.0, atol=1e-15)
    assert set(np.round(sums["g"].to_numpy(), 12)) <= {0.0, 2.0}


def test_hold_weights_carries_decision_weights_to_next_anchor() -> None:
    panel = dst_panel(SPRING, 6, holes=False)
    grid = Grid.from_panel(panel, "4h")
    anchors = pl.DataFrame({
        "decision": [datetime(2025, 3, 4, tzinfo=UTC), datetime(2025, 3, 5, 1, tzinfo=UTC)],
        "anchor": [datetime(2025, 3, 3, 20, tzinfo=UTC), datetime(2025, 3, 4, 20, tzinfo=UTC)],
        "bar": [5, 11],
    })
    xs = pl.DataFrame({
        "decision": [anchors["decision"][0]] * 2 + [anchors["decision"][1]] * 2,
        "symbol": ["AAA", "BBB", "AAA", "CCC"],
        "weight": [0.5, -0.5, 0.0, 1.0],
    })
    held = hold_weights(xs, anchors, grid)
    wide = held.pivot(on="symbol", index="ts", values="weight").sort("ts")
    # Hand computation: bars 5..10 hold decision 0, bars 11.. the end hold decision 1.
    assert wide["ts"][0] == grid.ts[5]
    assert wide["ts"].to_list() == grid.ts[5:].to_list()
    assert wide["AAA"].to_list() == [0.5] * 6 + [0.0] * (grid.shape[0] - 11)
    assert wide["BBB"].to_list() == [-0.5] * 6 + [0.0] * (grid.shape[0] - 11)
    assert wide["CCC"].to_list() == [0.0] * 6 + [1.0] * (grid.shape[0] - 11)


def test_hold_weights_at_rebalance_bars_equals_the_filtered_whole_frame() -> None:
    # Reference: rebalance_rows of the whole held frame (every bar from the first decision).
    # Holes: random missing bars, and no symbol at all at one anchor bar, whose holding period
    # then starts at the next panel bar; a decision without a next bar before the following
    # anchor has no row.
    panel = dst_panel(SPRING, 8)
    grid0 = Grid.from_panel(panel, "4h")
    gone = {grid0.ts[11], *grid0.ts[17:23]}  # anchor 11: starts at 12; anchor 17: no bar
    panel = panel.filter(~pl.col("ts").is_in(list(gone)))
    grid = Grid.from_panel(panel, "4h")
    bars = [5, 11, 17, 23, 29, 35]
    anchors = pl.DataFrame({
        "decision": [grid.ts[b] + timedelta(hours=5) for b in bars],
        "anchor": [grid.ts[b] for b in bars],
        "bar": bars,
    })
    rng = np.random.default_rng(3)
    xs = pl.DataFrame({
        "decision": [d for d in anchors["decision"] for _ in grid.symbols],
        "symbol": list(grid.symbols) * len(bars),
        "weight": np.where(rng.uniform(size=len(bars) * len(grid.symbols)) < 0.5, 0.0,
                           rng.normal(size=len(bars) * len(grid.symbols))),
    })
    starts = rebalance_bars(anchors, grid)
    assert starts.tolist() == [5, 12, 23, 29, 35]
    whole = rebalance_rows(hold_weights(xs, anchors, grid), anchors, grid)
    assert hold_weights(xs, anchors, grid, at=starts).equals(whole)
    assert whole.height == 5 * whole["symbol"].n_unique()
