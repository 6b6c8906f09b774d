"""Universes: hand cases, a naive reference for volume deciles, snapshot filters, bad input."""

from __future__ import annotations

import math
from datetime import timedelta

import polars as pl
import pytest

from coinfactor import signals, universe
from coinfactor.core.errors import ConfigError, DataError
from support.panels import make_panel
from support.random_panels import ragged_panel


def _members(out: pl.DataFrame) -> dict:
    return {
        (r["ts"].hour, r["symbol"]): r["in_universe"] for r in out.iter_rows(named=True)
    }


def test_volume_decile_hand_case() -> None:
    """Ten coins with notional 100*close: coin k has close k; window 1 -> decile k."""
    panel = make_panel({f"C{k:02d}": [float(k)] * 2 for k in range(1, 11)})
    out = universe.volume_decile(panel, window=1, min_decile=9)
    at1 = out.filter(pl.col("ts") == pl.col("ts").max())
    kept = sorted(at1.filter(pl.col("in_universe")).get_column("symbol").to_list())
    assert kept == ["C09", "C10"]
    assert out.height == panel.height


def test_volume_decile_small_cross_section_keeps_the_top_coin() -> None:
    """Three coins: deciles ceil(10 r / 3) = 4, 7, 10 -> only the top coin has decile >= 9."""
    panel = make_panel({"A": [1.0], "B": [2.0], "C": [3.0]})
    out = universe.volume_decile(panel, window=1, freq="1h")
    assert out.get_column("in_universe").to_list() == [False, False, True]


def test_volume_decile_equals_naive_reference() -> None:
    """Naive reference: trailing notional from avg_notional (itself checked against a loop),
    deciles by an explicit average-rank loop, among coins trading at ts."""
    panel = ragged_panel(5, n_symbols=23, n_bars=40, ties=True)
    got = universe.volume_decile(panel, window=4, min_decile=8)
    stat = signals.avg_notional(panel, window=4)
    want = []
    for _, group in stat.group_by("ts", maintain_order=True):
        vals = group.get_column("avg_notional").to_list()
        present = [v for v in vals if v is not None]
        m = len(present)
        for v in vals:
            if v is None:
                want.append(False)
                continue
            below = sum(1 for x in present if x < v)
            equal = sum(1 for x in present if x == v)
            avg_rank = below + (equal + 1) / 2
            want.append(math.ceil(round(10 * avg_rank / m, 9)) >= 8)
    ref = stat.group_by("ts", maintain_order=True).agg("symbol").explode("symbol")
    ref = ref.with_columns(pl.Series("want", want))
    merged = got.join(ref, on=["ts", "symbol"])
    assert merged.height == got.height
    assert merged.get_column("in_universe").equals(merged.get_column("want").alias("in_universe"))
    assert merged.get_column("in_universe").sum() > 20


def test_volume_decile_keeps_delisted_coins_in_history() -> None:
    panel = make_panel({"OLD": [5.0, 5.0, 5.0, None, None], "NEW": [1.0] * 5})
    out = universe.volume_decile(panel, window=1, freq="1h")
    old = out.filter(pl.col("symbol") == "OLD")
    assert old.height == 3 and old.get_column("in_universe").all()
    assert out.filter(pl.col("symbol") == "NEW").get_column("in_universe").to_list() == [
        False, False, False, True, True]


def test_top_n_ties_broken_by_symbol() -> None:
    panel = make_panel({"B": [2.0, 2.0], "A": [2.0, 2.0], "C": [1.0, 1.0]})
    out = universe.top_n(panel, 1, window=1)
    kept = out.filter(pl.col("in_universe")).get_column("symbol").to_list()
    assert kept == ["A", "A"]
    assert universe.top_n(panel, 5, window=1).get_column("in_universe").all()


def test_top_n_needs_full_window() -> None:
    panel = make_panel({"A": [1.0, 1.0, 1.0], "B": [None, 5.0, 5.0]})
    out = universe.top_n(panel, 1, window=2)
    assert _members(out) == {
        (0, "A"): False, (1, "A"): True, (2, "A"): False, (1, "B"): False, (2, "B"): True,
    }


def test_min_listing_age_hand_case(small_panel) -> None:
    out = universe.min_listing_age(small_panel, 2)
    c = out.filter(pl.col("symbol") == "C").get_column("in_universe").to_list()
    assert c == [False, False, True, True]  # C lists at 02:00; age 2 bars at 04:00
    assert universe.min_listing_age(small_panel, 0).get_column("in_universe").all()


def test_snapshot_filter() -> None:
    snap = pl.DataFrame({
        "symbol": ["BTC", "ETH", "DOGE", "USDC", "NEW"],
        "volume_24h_usd": [1e9, 5e8, 2e6, 1e9, None],
        "open_interest_usd": [2e9, 1e9, 5e6, 1e8, 1e6],
        "max_leverage": [50.0, 50.0, 10.0, 5.0, 3.0],
        "mid": [60000.0, 3000.0, 0.1, 1.0, 2.0],
    })
    out = universe.snapshot_filter(snap, min_volume_usd=1e7, min_open_interest_usd=1e7,
                                   min_max_leverage=5, exclude=["USDC"])
    assert out.columns == ["symbol", "in_universe"]
    assert out.get_column("in_universe").to_list() == [True, True, False, False, False]
    assert universe.snapshot_filter(snap).get_column("in_universe").all()
    inactive = snap.with_columns(pl.Series("active", [True, False, True, True, None]))
    assert universe.snapshot_filter(inactive).get_column("in_universe").to_list() == [
        True, False, True, True, False]
    assert universe.snapshot_filter(inactive, require_active=False).get_column(
        "in_universe").all()
    with pytest.raises(DataError, match="open_interest_usd"):
        universe.snapshot_filter(snap.drop("open_interest_usd"), min_open_interest_usd=1.0)


def test_bad_parameters() -> None:
    panel = make_panel({"A": [1.0, 2.0]})
    with pytest.raises(ConfigError, match="min_decile"):
        universe.volume_decile(panel, min_decile=11)
    with pytest.raises(ConfigError, match="top_n"):
        universe.top_n(panel, 0)
    with pytest.raises(ConfigError, match="bars"):
        universe.min_listing_age(panel, -1)
    with pytest.raises(ConfigError, match="window"):
        universe.volume_decile(panel, window=0)


def test_daily_panel_with_filled_bars_never_counts_a_filler() -> None:
    panel = make_panel({"A": [1.0, 2.0, 3.0], "B": [1.0, 1.0, 1.0]}, step=timedelta(days=1))
    filled = panel.with_columns(
        ((pl.col("symbol") == "A") & (pl.col("ts") == pl.col("ts").max())).alias("filled")
    )
    out = universe.volume_decile(filled, window=1)
    # day 0: A and B tie (average rank 1.5 of 2 -> decile ceil(7.5) = 8, both out);
    # day 1: A is the top coin; day 2: A's bar is a filler, so B is alone and on top
    assert out.get_column("in_universe").to_list() == [False, True, False, False, False, True]
