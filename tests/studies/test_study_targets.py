"""Today's book equals the backtest's: ``target(config, panel, as_of)`` of each study that
holds a book gives, bit for bit, the weights ``run`` decides at that bar.

References: the ``run`` of the same study (its held weights, or its decision table), on the
embedded datasets, and a hand check of the complete-bar cut.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from coinfactor import datasets
from coinfactor.core.errors import DataError, DataWarning
from coinfactor.studies import carry, complete_bars, hedge_basket, reversion


def _quiet(module):
    base = module.Config()
    return dataclasses.replace(base, costs=dataclasses.replace(base.costs, capacity_navs=()))


def _nonzero(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.filter(pl.col("weight") != 0).select("symbol", "weight").sort("symbol")


def test_carry_target_is_the_run_book_at_the_last_bar() -> None:
    panel = datasets.load("hyperliquid-perp-1d")
    cfg = _quiet(carry)
    for day in (400, 650):
        ts = sorted(panel["ts"].unique().to_list())[day]
        cut = panel.filter(pl.col("ts") <= ts)
        held = carry.run(cfg, cut).tables["weights"].filter(pl.col("ts") == ts)
        # as_of inside the next bar: that bar is not complete, ts is the last complete one
        book = carry.target(cfg, panel, as_of=ts + timedelta(days=1, hours=5))
        assert book.decided_at == ts
        assert book.weights.height > 0
        assert book.weights.equals(_nonzero(held))


def test_reversion_target_is_the_run_decision() -> None:
    panel = datasets.load("binance-perp-4h")
    cfg = _quiet(reversion)
    with pytest.warns(DataWarning):  # no funding before 2026-01-12
        res = reversion.run(cfg, panel)
    trades = res.tables["trades"]
    # a decision bar of the run (after which the book drifts): its post-trade weights
    ts = sorted(trades["ts"].unique().to_list())[200]
    book = reversion.target(cfg, panel, as_of=ts + timedelta(hours=4))
    assert book.decided_at == ts
    held = res.tables["weights"].filter(pl.col("ts") == ts)
    assert book.weights.equals(_nonzero(held))
    # hours later, before the next decision, the book in force is still that decision's
    later = reversion.target(cfg, panel, as_of=ts + timedelta(hours=12))
    assert later.decided_at == ts and later.weights.equals(book.weights)


def test_hedge_target_is_the_run_decision() -> None:
    panel = datasets.load("hyperliquid-perp-1h")
    cfg = dataclasses.replace(_quiet(hedge_basket), end="2025-04-15T00:00:00",
                              bootstrap_sims=50)
    res = hedge_basket.run(cfg, panel)
    targets = res.tables["targets"]
    ts = sorted(targets["ts"].unique().to_list())[-1]
    book = hedge_basket.target(cfg, panel, as_of=ts + timedelta(hours=1))
    assert book.decided_at == ts
    assert book.weights.equals(_nonzero(targets.filter(pl.col("ts") == ts)))


def test_complete_bars_cuts_at_the_clock() -> None:
    panel = datasets.load("hyperliquid-perp-1d").filter(pl.col("symbol") == "BTC")
    day = datetime(2025, 1, 10, tzinfo=UTC)
    # the bar of 01-10 closes at 01-11 00:00: complete at that instant, not a second before
    assert complete_bars(panel, day + timedelta(days=1))["ts"].max() == day
    assert complete_bars(panel, day + timedelta(days=1, seconds=-1))["ts"].max() \
        == day - timedelta(days=1)
    with pytest.raises(DataError, match="timezone-aware"):
        complete_bars(panel, datetime(2025, 1, 10))
    with pytest.raises(DataError, match="no bar is complete"):
        complete_bars(panel, datetime(2020, 1, 1, tzinfo=UTC))
