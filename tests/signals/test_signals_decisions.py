"""Cross sections at decision anchors and their forward returns (the reversion study's
machinery) against the naive per-date, per-symbol loop in ``support.reversion_reference``; the
features at the anchors against each signal's long frame filtered."""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl
import pytest

from coinfactor import signals
from coinfactor.core.time import freq_to_timedelta
from coinfactor.data import Grid, anchor_decisions, decision_times
from coinfactor.signals import attach_forward_returns, cross_section_at, features_at
from support.reversion_reference import AUTUMN, SPRING, close_equal, dst_panel, naive_cross_section


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
@pytest.mark.parametrize(("hour", "freq"), [(20, "4h"), (23, "4h"), (2, "4h"), (1, "1h")],
                         ids=["20h-4h_bars", "23h-4h_bars", "02h-4h_bars", "01h-1h_bars"])
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


@pytest.mark.parametrize("freq", ["4h", "1h"])
def test_features_at_are_the_signals_long_frames_at_those_bars(freq: str) -> None:
    # Reference: each signal's long frame (signals.compute) kept at the rows whose ts is in
    # ``at``; holes, a multi-bar gap, a late listing, a delisting and a filled bar.
    panel = dst_panel(SPRING, 14, step=timedelta(hours=int(freq[:-1])), seed=4)
    at = panel["ts"].unique().sort().gather_every(5)
    names = [n for n in signals.available() if n not in ("returns", "momentum")]  # windowed
    got = features_at(panel, names, at, window=4, freq=freq)
    keep = pl.col("ts").is_in(at.implode())
    want = panel.select("ts", "symbol").filter(keep)
    for name in names:
        want = want.with_columns(
            signals.compute(name, panel, window=4, freq=freq).filter(keep).get_column(name))
    assert got.height == panel.filter(keep).height > 0
    assert got.equals(want)
    assert got.null_count().sum_horizontal().item() > 0
