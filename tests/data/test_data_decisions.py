"""Decision times, anchor bars, forward returns and baskets of the reversion study.

References: decision instants from ``zoneinfo`` datetimes (Python's own DST rules), anchors and
forward returns from the naive per-date, per-symbol loop in ``_reversion_reference`` (plain
Python over row dicts), basket membership from a per-date sort in plain Python.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from coinfactor.core.errors import ConfigError, DataError
from coinfactor.core.time import freq_to_timedelta
from coinfactor.data import Grid, anchor_decisions, decision_times
from coinfactor.portfolio import assign_baskets, hold_weights
from coinfactor.signals import attach_forward_returns, cross_section_at
from support.reversion_reference import close_equal, dst_panel, naive_cross_section, naive_decisions

SPRING = datetime(2025, 3, 3, tzinfo=UTC)  # New York springs forward on 2025-03-09
AUTUMN = datetime(2025, 10, 27, tzinfo=UTC)  # ... and falls back on 2025-11-02


@pytest.mark.parametrize("tz", ["America/New_York", "Europe/London", "Australia/Sydney", "UTC"])
@pytest.mark.parametrize("hour", [0, 1, 2, 3, 20, 23])
def test_decision_times_match_zoneinfo(tz: str, hour: int) -> None:
    # zoneinfo with fold=0 is the reference for every date across both 2025 DST changes.
    got = decision_times(date(2025, 1, 1), date(2025, 12, 31), hour=hour, tz=tz).to_list()
    assert got == naive_decisions(date(2025, 1, 1), date(2025, 12, 31), hour, tz)


def test_new_york_20h_is_midnight_utc_in_summer_one_am_in_winter() -> None:
    got = decision_times(date(2025, 3, 8), date(2025, 3, 10), hour=20, tz="America/New_York")
    assert got.to_list() == [
        datetime(2025, 3, 9, 1, tzinfo=UTC),  # EST, UTC-5
        datetime(2025, 3, 10, 0, tzinfo=UTC),  # EDT, UTC-4
        datetime(2025, 3, 11, 0, tzinfo=UTC),
    ]


def test_anchor_is_last_bar_closed_by_the_decision() -> None:
    # Hand-computed on a 4h grid from 2025-03-01 00:00 UTC: winter 20:00 EST = 01:00 UTC sees
    # the 20:00 UTC bar (closes 00:00), not the 00:00 UTC bar (closes 04:00); summer 20:00 EDT
    # = 00:00 UTC sees the same 20:00 UTC bar, which closes exactly at the decision.
    panel = dst_panel(datetime(2025, 3, 1, tzinfo=UTC), 12, holes=False)
    grid = Grid.from_panel(panel, "4h")
    dec = decision_times(date(2025, 3, 7), date(2025, 3, 10), hour=20, tz="America/New_York")
    anchors = anchor_decisions(dec, grid)
    assert anchors["anchor"].to_list() == [
        datetime(2025, 3, d, 20, tzinfo=UTC) for d in (7, 8, 9, 10)
    ]
    # 23:00 New York: 04:00 UTC in winter (the 00:00 bar closes at 04:00), 03:00 UTC in summer
    # (back to the 20:00 bar): the anchor moves with DST.
    dec = decision_times(date(2025, 3, 7), date(2025, 3, 10), hour=23, tz="America/New_York")
    assert anchor_decisions(dec, grid)["anchor"].to_list() == [
        datetime(2025, 3, 8, 0, tzinfo=UTC), datetime(2025, 3, 9, 0, tzinfo=UTC),
        datetime(2025, 3, 9, 20, tzinfo=UTC), datetime(2025, 3, 10, 20, tzinfo=UTC),
    ]


def _machinery_xs(panel: pl.DataFrame, hour: int, tz: str, freq: str) -> pl.DataFrame:
    grid = Grid.from_panel(panel, freq)
    step = freq_to_timedelta(grid.freq)
    t0 = panel["ts"].min()
    t1 = panel["ts"].max()
    first = t0.astimezone(__import__("zoneinfo").ZoneInfo(tz)).date()  # type: ignore[union-attr]
    last = (t1 + step).astimezone(__import__("zoneinfo").ZoneInfo(tz)).date()  # type: ignore
    anchors = anchor_decisions(decision_times(first, last, hour=hour, tz=tz), grid)
    feats = panel.select("ts", "symbol", pl.col("close").alias("f_close"))
    xs = cross_section_at(panel, anchors, feats, ["f_close"])
    return attach_forward_returns(xs, panel, anchors, grid)


@pytest.mark.parametrize("start", [SPRING, AUTUMN], ids=["spring", "autumn"])
@pytest.mark.parametrize(("hour", "freq"), [(20, "4h"), (23, "4h"), (2, "4h"), (1, "1h")])
def test_anchors_and_forward_returns_equal_naive_loop(start: datetime, hour: int,
                                                      freq: str) -> None:
    # Reference: naive_cross_section, a per-date x per-symbol walk over the bars.
    step = timedelta(hours=int(freq[:-1]))
    panel = dst_panel(start, 14, step=step, seed=hour)
    tz = "America/New_York"
    got = _machinery_xs(panel, hour, tz, freq)
    ref = naive_cross_section(panel, hour=hour, tz=tz, step=step,
                              feature_fn=lambda h, a: {"f_close": h[-1]["close"]})
    assert got.height == len(ref)
    assert got["decision"].n_unique() >= 12
    assert got.filter(pl.col("fwd_price_return").is_null())["decision"].n_unique() > 1
    for g, r in zip(got.iter_rows(named=True), ref, strict=True):
        assert (g["decision"], g["anchor"], g["symbol"]) == (r["decision"], r["anchor"],
                                                             r["symbol"])
        assert g["close"] == r["close"] == g["f_close"]
        assert close_equal(g["fwd_price_return"], r["fwd_price_return"])
        assert close_equal(g["fwd_funding"], r["fwd_funding"])


def test_filled_bar_is_never_a_price() -> None:
    panel = dst_panel(SPRING, 14, seed=3)
    filled = panel.filter(pl.col("filled"))
    assert filled.height == 1
    got = _machinery_xs(panel, 20, "America/New_York", "4h")
    # The filled bar never appears as an entry, and no forward return spans it.
    sym, ts = filled["symbol"][0], filled["ts"][0]
    assert got.filter((pl.col("symbol") == sym) & (pl.col("anchor") == ts)).height == 0
    spans = got.filter(pl.col("symbol") == sym).with_columns(
        pl.col("anchor").shift(-1).alias("next")
    ).filter((pl.col("anchor") < ts) & (pl.col("next") >= ts))
    assert spans["fwd_price_return"].null_count() == spans.height


def test_grid_rejects_shifted_symbols() -> None:
    panel = dst_panel(SPRING, 3, holes=False)
    shifted = panel.filter(pl.col("symbol") == "AAA").with_columns(
        pl.col("ts") + timedelta(hours=1), pl.lit("ZZZ").alias("symbol"))
    with pytest.raises(DataError, match="grid"):
        Grid.from_panel(pl.concat([panel, shifted]), "4h")


@pytest.mark.parametrize("bad", [-1, 24, 7.5])
def test_decision_times_bad_hour(bad: object) -> None:
    with pytest.raises(ConfigError, match="hour"):
        decision_times(date(2025, 1, 1), date(2025, 1, 2), hour=bad, tz="UTC")  # type: ignore


def test_decision_times_bad_zone() -> None:
    with pytest.raises(ConfigError, match="IANA"):
        decision_times(date(2025, 1, 1), date(2025, 1, 2), hour=1, tz="America/Gotham")


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
