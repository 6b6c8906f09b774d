"""The hedge study's candidate tables name no coin before its first bar.

References: each coin's first bar read straight from the panel (``group_by(symbol).min(ts)``),
and a hand-made panel where one coin lists after the first decision.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl

from coinfactor import datasets
from coinfactor.data import validate_panel
from coinfactor.studies import hedge_basket as hbs

START = datetime(2025, 1, 1, tzinfo=UTC)


def _first_bars(panel: pl.DataFrame) -> pl.DataFrame:
    return panel.group_by("symbol").agg(pl.col("ts").min().alias("first_bar"))


def _check(candidates: pl.DataFrame, panel: pl.DataFrame, lookback: timedelta) -> None:
    joined = candidates.join(_first_bars(panel), on="symbol", how="left")
    assert joined["first_bar"].null_count() == 0
    assert joined.filter(pl.col("ts") < pl.col("first_bar")).height == 0
    # an eligible candidate has real bars over the lookback before its decision
    eligible = joined.filter("eligible")
    assert eligible.filter(pl.col("first_bar") > pl.col("ts") - lookback * 0.95).height == 0


def test_real_dataset_candidates_start_at_first_bars() -> None:
    """hyperliquid-perp-1h with the study's default settings (every weekly decision)."""
    panel = datasets.load("hyperliquid-perp-1h")
    cfg = hbs.Config()
    wf = cfg.estimator().walk_forward(panel, hbs.schedule(cfg, panel))
    cands = wf.candidates
    assert cands["ts"].n_unique() == 21
    _check(cands, panel, timedelta(days=21))
    # the dataset's coins were chosen on bars before the first decision: all are listed then
    first = cands.filter(pl.col("ts") == cands["ts"].min())
    assert first.height == panel["symbol"].n_unique() - 1  # every coin but the target


def _panel_with_late_listing() -> pl.DataFrame:
    rng = np.random.default_rng(3)
    n = 24 * 40
    m = rng.normal(0, 0.01, n)
    rows = []
    for k, s in enumerate(["A", "B", "C", "LATE", "T"]):
        close = 50 * np.cumprod(1 + m * (0.6 + 0.1 * k) + rng.normal(0, 0.004, n))
        first = 24 * 25 if s == "LATE" else 0  # lists on day 25, after two decisions
        for i in range(first, n):
            c = float(close[i])
            rows.append({"ts": START + timedelta(hours=i), "symbol": s, "open": c, "high": c,
                         "low": c, "close": c, "volume": 3e5 / c, "funding_rate": 1e-5})
    return validate_panel(pl.DataFrame(rows).sort("symbol", "ts"))


def test_a_coin_listed_later_is_no_candidate_before_its_first_bar() -> None:
    panel = _panel_with_late_listing()
    cfg = replace(hbs.Config(), target="T", start="2025-01-15T12:00:00", lookback="10d",
                  volume_lookback="3d", basket_usd=1e6, min_daily_volume_usd=0.0)
    wf = cfg.estimator().walk_forward(panel, hbs.schedule(cfg, panel))
    cands = wf.candidates
    listed = datetime(2025, 1, 26, tzinfo=UTC)
    decisions = cands["ts"].unique().sort().to_list()
    assert decisions[:2] == [datetime(2025, 1, 15, 12, tzinfo=UTC),
                             datetime(2025, 1, 22, 12, tzinfo=UTC)]
    by_time = {t: set(cands.filter(pl.col("ts") == t)["symbol"]) for t in decisions}
    assert by_time[decisions[0]] == by_time[decisions[1]] == {"A", "B", "C"}
    # once listed it is a candidate, ineligible until its coverage fills the lookback
    late = cands.filter(pl.col("symbol") == "LATE").sort("ts")
    assert late["ts"].min() > listed
    assert late["reason"][0] == "coverage"
    _check(cands, panel, timedelta(days=10))
