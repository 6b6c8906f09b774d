"""``replay``: recorded books marked to later bars against the study's backtest.

Reference: the backtest of the study's own decisions over the same bars (the same engine,
independently fed from ``run``'s tables); the books come from ``carry.target`` at each bar.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import polars as pl

from coinfactor import datasets
from coinfactor.book import replay
from coinfactor.studies import carry


def test_replay_of_the_backtest_decisions_reproduces_its_nav() -> None:
    panel = datasets.load("hyperliquid-perp-1d")
    base = carry.Config()
    cfg = dataclasses.replace(base, costs=dataclasses.replace(base.costs, capacity_navs=()))
    days = sorted(panel["ts"].unique().to_list())
    start, end = days[-33], days[-25]
    cut = panel.filter(pl.col("ts") <= days[-20])
    books = []
    for day in [d for d in days if start <= d <= end]:
        book = carry.target(cfg, cut, as_of=day + timedelta(days=1))
        books.append(book.weights.with_columns(pl.lit(book.decided_at).alias("decided_at")))
    ledger = pl.concat(books)
    run = carry.run(cfg, cut.filter(pl.col("ts") <= end))
    # the run's decisions over the same days (its held weights at each decision bar)
    decisions = run.tables["weights"].filter(pl.col("ts") >= start)
    execution = {"costs": cfg.costs.model(), **cfg.costs.backtest_settings()}
    rep = replay(ledger, cut.filter(pl.col("ts") <= end), nav=1e6,
                 reference=decisions.filter(pl.col("weight") != 0), **execution)
    t = rep.tracking
    assert t is not None and t.height == len([d for d in days if start <= d <= end])
    assert t["difference"].abs().max() < 1e-10 * 1e6
    assert rep.summary()["max_abs_nav_difference"] < 1e-4
    # books recorded every other day only: the paper book drifts on the missing days and
    # the tracking difference says so (price and cost parts)
    sparse = ledger.filter(pl.col("decided_at").is_in(
        sorted(ledger["decided_at"].unique().to_list())[::2]))
    gap = replay(sparse, cut.filter(pl.col("ts") <= end), nav=1e6,
                 reference=decisions.filter(pl.col("weight") != 0), **execution)
    assert gap.tracking is not None and gap.tracking["difference"].abs().max() > 1.0
    parts = gap.summary()
    assert abs(parts["cost_difference_total"]) > 0
