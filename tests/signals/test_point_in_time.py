"""Truncation invariance: every registered signal and every universe, plus forward returns.

Point-in-time rule (DESIGN.md): computing on data cut at T gives the same values at ts <= T as
computing on all data. Checked bit for bit on ragged panels (listings, delistings, gaps) at
several cut points.
"""

from __future__ import annotations

from datetime import timedelta

import polars as pl
import pytest

from coinfactor import signals, universe
from support.random_panels import START, ragged_panel

CUTS = [7, 23, 41]  # bars after the start; the panel has 48 bars


@pytest.fixture(scope="module")
def panel() -> pl.DataFrame:
    return ragged_panel(21, n_symbols=6, n_bars=48, gap_prob=0.1)


def _assert_truncation_invariant(fn, panel: pl.DataFrame) -> None:
    full = fn(panel)
    assert full.select("ts", "symbol").equals(panel.select("ts", "symbol"))
    for cut in CUTS:
        t_cut = START + timedelta(hours=cut)
        part = panel.filter(pl.col("ts") <= t_cut)
        want = full.filter(pl.col("ts") <= t_cut)
        got = fn(part)
        assert got.equals(want), f"differs when truncated at {t_cut}"


# freq is passed so that a very short truncated panel does not need to infer it
SHORT = {"window": 3}
PARAMS = {
    "momentum": {"windows": (1, 2, 4)},
    "returns": {},
    "funding_carry": SHORT,
}


@pytest.mark.parametrize("name", signals.available())
def test_signal_is_point_in_time(name: str, panel: pl.DataFrame) -> None:
    params = {**PARAMS.get(name, SHORT), "freq": "1h"}
    _assert_truncation_invariant(lambda p: signals.compute(name, p, **params), panel)


UNIVERSES = {
    "volume_decile": lambda p: universe.volume_decile(p, window=3, min_decile=6, freq="1h"),
    "volume_decile_min_periods": lambda p: universe.volume_decile(
        p, window=5, min_periods=2, freq="1h"),
    "top_n": lambda p: universe.top_n(p, 3, window=4, freq="1h"),
    "min_listing_age": lambda p: universe.min_listing_age(p, 5, freq="1h"),
}


@pytest.mark.parametrize("name", sorted(UNIVERSES))
def test_universe_is_point_in_time(name: str, panel: pl.DataFrame) -> None:
    _assert_truncation_invariant(UNIVERSES[name], panel)


@pytest.mark.parametrize("include_funding", [False, True], ids=["price", "funding"])
def test_forward_returns_contract(panel: pl.DataFrame, include_funding: bool) -> None:
    """forward_returns is forward-looking by design (not a registered signal, so not above).

    Its own contract: the h-bar label at ts depends only on rows in [ts, ts + h bars], so
    truncating at T leaves every label at ts <= T - h unchanged, and the label at T is null.
    """
    horizons = (1, 3)
    full = signals.forward_returns(panel, horizons, include_funding=include_funding, freq="1h")
    for cut in CUTS:
        t_cut = START + timedelta(hours=cut)
        got = signals.forward_returns(panel.filter(pl.col("ts") <= t_cut), horizons,
                                      include_funding=include_funding, freq="1h")
        for h in horizons:
            col = signals.forward_return_column(h)
            safe = pl.col("ts") <= t_cut - timedelta(hours=h)
            assert got.filter(safe).select("ts", "symbol", col).equals(
                full.filter(safe).select("ts", "symbol", col))
            assert got.filter(pl.col("ts") == t_cut).get_column(col).null_count() == \
                got.filter(pl.col("ts") == t_cut).height
