"""factor_tearsheet's sample accounting: rows, rows dropped (no forward return, no funding), used.

References: counts worked out by hand on a hand-built panel (in the test's docstring), and a
naive loop over the factor rows of a random ragged panel that looks up every bar of each
horizon.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import polars as pl
import pytest

from coinfactor.analytics import factor_tearsheet
from coinfactor.core.errors import DataWarning
from support.panels import make_panel
from support.random_panels import ragged_panel

COLS = ["horizon", "rows", "dropped_no_forward_return", "dropped_no_funding", "rows_used"]


def _hand_panel() -> pl.DataFrame:
    """Four symbols, eight hourly bars; funding null on bars 0-2 of every symbol; B misses
    bar 5."""
    closes = {s: [100.0 + i + k for i in range(8)] for k, s in enumerate("ACD")}
    closes["B"] = [50.0 + i for i in range(8)]
    closes["B"][5] = None
    funding = {s: [None, None, None] + [1e-4] * 5 for s in "ABCD"}
    return make_panel(dict(sorted(closes.items())), funding=funding)


def _factor(panel: pl.DataFrame, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    return panel.select("ts", "symbol").with_columns(
        pl.Series("f", rng.standard_normal(panel.height)))


def test_hand_counts_with_funding_warn_and_match_the_tables():
    """31 factor rows (A, C, D: 8 bars; B: 7). A net h-bar forward return at bar t needs bars
    t .. t+h and funding on bars t+1 .. t+h, i.e. t >= 2.
    h=1: A, C, D have a price return at t=0..6 (1 without), funded at t=2..6 (2 unfunded, 5
    used); B at t=0,1,2,3,6 (2 without), funded at 2,3,6 (2 unfunded, 3 used):
    5 / 8 / 18. h=2: A, C, D at t=0..5 (2 without), funded 2..5 (2 unfunded, 4 used); B at
    t=0,1,2 (4 without), funded at 2 (2 unfunded, 1 used): 10 / 8 / 13."""
    panel = _hand_panel()
    with pytest.warns(DataWarning, match=r"h=1: 8 of 26.*h=2: 8 of 21") as record:
        ts = factor_tearsheet(_factor(panel), panel, horizons=(1, 2), quantiles=2,
                              include_funding=True)
    assert len(record) == 1
    assert "2024-01-01 00:00:00" in str(record[0].message)       # first unfunded row
    assert "include_funding=False" in str(record[0].message)
    assert ts.sample.columns == COLS
    assert ts.sample.rows() == [(1, 31, 5, 8, 18), (2, 31, 10, 8, 13)]
    # the statistics use exactly rows_used rows
    used = ts.ic.group_by("horizon").agg(pl.col("n").sum()).sort("horizon")
    assert used["n"].to_list() == [18, 13]


def test_hand_counts_without_funding_do_not_warn():
    """Without funding the same rows lose only their missing price returns: h=1 26 used,
    h=2 21 used, none dropped for funding, no warning (pytest turns warnings into errors)."""
    panel = _hand_panel()
    ts = factor_tearsheet(_factor(panel), panel, horizons=(1, 2), quantiles=2)
    assert ts.sample.rows() == [(1, 31, 5, 0, 26), (2, 31, 10, 0, 21)]
    assert ts.sample.schema == dict.fromkeys(COLS, pl.Int64)


def test_fully_funded_panel_does_not_warn():
    panel = _hand_panel().with_columns(pl.col("funding_rate").fill_null(1e-4))
    ts = factor_tearsheet(_factor(panel), panel, horizons=(1, 2), quantiles=2,
                          include_funding=True)
    assert ts.sample["dropped_no_funding"].to_list() == [0, 0]
    assert ts.sample["rows_used"].to_list() == [26, 21]


def _naive_counts(panel: pl.DataFrame, factor: pl.DataFrame, h: int) -> tuple[int, ...]:
    """Loop over factor rows; look up bars t .. t+h (present?) and their funding (null?)."""
    step = timedelta(hours=1)
    bars = {(r["symbol"], r["ts"]): r["funding_rate"] for r in panel.iter_rows(named=True)}
    no_price = no_funding = used = 0
    for r in factor.iter_rows(named=True):
        keys = [(r["symbol"], r["ts"] + i * step) for i in range(h + 1)]
        if not all(k in bars for k in keys):
            no_price += 1
        elif any(bars[k] is None for k in keys[1:]):
            no_funding += 1
        else:
            used += 1
    return (h, factor.height, no_price, no_funding, used)


@pytest.mark.parametrize("seed", [1, 2])
def test_ragged_panel_counts_match_a_naive_loop(seed):
    """Random ragged panels (late listings, delistings, gaps, 5% null funding): every count
    equals the naive loop's, with and without funding, and the universe filter counts only
    rows in the universe."""
    panel = ragged_panel(seed, n_symbols=6, n_bars=80)
    factor = _factor(panel, seed)
    with pytest.warns(DataWarning, match="null funding"):
        net = factor_tearsheet(factor, panel, horizons=(1, 3), quantiles=3,
                               include_funding=True)
    assert net.sample.rows() == [_naive_counts(panel, factor, h) for h in (1, 3)]
    gross = factor_tearsheet(factor, panel, horizons=(1, 3), quantiles=3)
    expect = []
    for h in (1, 3):
        _, rows, no_price, no_funding, used = _naive_counts(panel, factor, h)
        expect.append((h, rows, no_price, 0, used + no_funding))
    assert gross.sample.rows() == expect
    uni = panel.select("ts", "symbol", (pl.col("symbol") <= "S02").alias("in_universe"))
    with pytest.warns(DataWarning):
        part = factor_tearsheet(factor, panel, horizons=(1,), quantiles=3,
                                include_funding=True, universe=uni)
    inside = factor.filter(pl.col("symbol") <= "S02")
    assert part.sample.rows() == [_naive_counts(panel, inside, 1)]
