"""The compiled coarse bars of ``resample`` equal polars' ``group_by_dynamic`` (the reference).

:func:`coinfactor.data._resample.coarse_compiled` (one numba pass) against
:func:`~coinfactor.data._resample.coarse_reference` (polars' windows): on ragged panels with
late listings, delistings, gaps, filler bars (``regularize``), null optional columns (some
coarse bars with none of a column known), several symbols, frames of several chunks, and
bar widths from 5 minutes to a day. Everything is equal exactly except the float sums
(volume, quote volume, funding), summed left to right here and by polars' own kernel there:
those to 1e-12 relative, and exactly on the small groups where polars also sums in order.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from coinfactor.data import regularize, resample
from coinfactor.data._resample import coarse_compiled, coarse_reference
from support.random_panels import ragged_panel

SUMS = ["volume", "quote_volume", "funding_rate"]


def _with_nulls(panel: pl.DataFrame, seed: int) -> pl.DataFrame:
    """Null trades and open interest on some bars; open interest known on others."""
    rng = np.random.default_rng(seed)
    n = panel.height
    return panel.with_columns(
        pl.Series("trades", panel["trades"].to_numpy()).scatter(
            np.flatnonzero(rng.random(n) < 0.3), None),
        pl.Series("open_interest", rng.uniform(1e5, 1e6, n)).scatter(
            np.flatnonzero(rng.random(n) < 0.5), None),
    )


def _compare(panel: pl.DataFrame, width: timedelta, per_bar: int) -> None:
    want = coarse_reference(panel, width, per_bar)
    got = coarse_compiled(panel, width, per_bar)
    assert got.schema == want.schema
    assert_frame_equal(got.drop(SUMS), want.drop(SUMS))
    assert_frame_equal(got.select(SUMS), want.select(SUMS), check_exact=False,
                       rel_tol=1e-12, abs_tol=1e-18)
    for name in SUMS:  # a sum is null exactly where the reference's is
        assert got[name].is_null().equals(want[name].is_null())


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize(("fine", "coarse"), [
    (timedelta(minutes=1), timedelta(minutes=5)),
    (timedelta(minutes=1), timedelta(hours=1)),
    (timedelta(hours=1), timedelta(hours=4)),
    (timedelta(hours=1), timedelta(days=1)),
])
def test_compiled_coarse_bars_equal_polars_windows(seed: int, fine: timedelta,
                                                    coarse: timedelta) -> None:
    panel = _with_nulls(ragged_panel(seed, n_symbols=4, n_bars=300, step=fine), seed)
    per_bar = coarse // fine
    _compare(panel, coarse, per_bar)
    _compare(regularize(panel), coarse, per_bar)  # filler bars count as missing
    chunked = pl.concat([panel.slice(i, 37) for i in range(0, panel.height, 37)],
                        rechunk=False)
    assert chunked["close"].n_chunks() > 1
    _compare(chunked, coarse, per_bar)
    _compare(panel.filter(pl.col("symbol") == "S01"), coarse, per_bar)  # one symbol


def test_small_groups_sum_exactly_as_polars() -> None:
    panel = ragged_panel(3, n_symbols=3, n_bars=400, step=timedelta(minutes=1))
    want = coarse_reference(panel, timedelta(hours=1), 60)
    got = coarse_compiled(panel, timedelta(hours=1), 60)
    assert_frame_equal(got, want)  # 60-minute groups: polars sums them in order too


def test_resample_takes_the_compiled_bars_for_widths_that_divide_a_day() -> None:
    panel = ragged_panel(1, n_symbols=3, n_bars=24 * 30, step=timedelta(hours=1))
    daily = resample(panel, "1d", partial="mark")
    assert_frame_equal(daily, coarse_compiled(panel, timedelta(days=1), 24))
    weekly = resample(panel, "1w", partial="mark")  # weeks open on Mondays: polars' windows
    assert_frame_equal(weekly, coarse_reference(panel, timedelta(weeks=1), 24 * 7))
    assert weekly["ts"].dt.weekday().unique().to_list() == [1]
    assert resample(panel.head(0), "1d", source_freq="1h").height == 0
