"""Oracle tests of the kernels rewritten for the carry pipeline's speed (issue 6).

Each fast kernel is compared with an independent, plainly written computation: average ranks
from ``scipy.stats.rankdata`` and exact fractions for the buckets, per-row/per-window loops for
the rolling sums, a polars ``group_by`` for the most common step, ``unique().sort()`` and
``replace_strict`` for the symbol codes, and the unhinted call for the panel summary.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from fractions import Fraction

import numpy as np
import polars as pl
import pytest
from scipy.stats import rankdata

from coinfactor.data import infer_freq
from coinfactor.data._schema import mode_step
from coinfactor.portfolio._grid import sorted_symbol_codes, symbol_index
from coinfactor.signals import _kernels as k
from coinfactor.studies._base import summarize_panel
from coinfactor.xs._rows import (
    row_bucket_at_least,
    row_buckets,
    row_winsorize,
    row_winsorize_zscore_buckets,
    row_zscore,
)


def _naive_buckets(x: np.ndarray, n: int) -> np.ndarray:
    """ceil(n·r/m) with r the average rank (scipy), in exact fractions; 0 where NaN."""
    out = np.zeros(x.shape, dtype=np.int64)
    for i, row in enumerate(x):
        ok = ~np.isnan(row)
        m = int(ok.sum())
        if m == 0:
            continue
        ranks = rankdata(row[ok] + 0.0, method="average")  # -0.0 ties with 0.0
        out[i, ok] = [math.ceil(Fraction(n) * Fraction(r) / m) for r in ranks]
    return out


def _tied_rows(seed: int) -> np.ndarray:
    """Rows with heavy ties, all-equal rows, one-value rows, all-NaN rows, -0.0 and 0.0."""
    rng = np.random.default_rng(seed)
    n_t, n_s = int(rng.integers(1, 30)), int(rng.integers(1, 25))
    x = rng.integers(-2, 3, (n_t, n_s)).astype(float)
    x[rng.random(x.shape) < rng.random() * 0.7] = np.nan
    if n_t > 3:
        x[0] = 1.5  # all equal
        x[1] = np.nan  # empty
        x[2] = np.nan
        x[2, int(rng.integers(0, n_s))] = 4.0  # one value
        x[3, ::2] = -0.0
    return x


@pytest.mark.parametrize("seed", range(30))
def test_buckets_equal_average_rank_fractions(seed: int) -> None:
    x = _tied_rows(seed)
    for n in (1, 2, 3, 4, 7, 10):
        ref = _naive_buckets(x, n)
        np.testing.assert_array_equal(row_buckets(x, n), ref)
        for level in range(0, n + 2):
            np.testing.assert_array_equal(row_bucket_at_least(x, n, level),
                                          ref >= max(level, 1))


@pytest.mark.parametrize("seed", range(20))
def test_one_sort_pipeline_on_flat_and_tiny_rows(seed: int) -> None:
    """Reference: the separate row_winsorize -> row_zscore -> naive buckets."""
    x = _tied_rows(100 + seed)
    score, bucket = row_winsorize_zscore_buckets(x, 5, lower=0.1, upper=0.9)
    ref = row_zscore(row_winsorize(x, lower=0.1, upper=0.9))
    np.testing.assert_array_equal(score, ref)
    np.testing.assert_array_equal(bucket, _naive_buckets(ref, 5))


def _naive_window(x: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Sums (added newest first, as the kernel documents) and counts, cell by cell."""
    n_t, n_s = x.shape
    sums, counts = np.zeros((n_t, n_s)), np.zeros((n_t, n_s), dtype=np.int64)
    for t in range(n_t):
        for j in range(n_s):
            acc = 0.0
            for lag in range(min(window, t + 1)):
                v = x[t - lag, j]
                acc += v if np.isfinite(v) else 0.0
                counts[t, j] += bool(np.isfinite(v))
            sums[t, j] = acc
    return sums, counts


@pytest.mark.parametrize("window", [1, 2, 7, 30, 33, 128])
def test_rolling_sum_and_mean_equal_the_plain_window_loop(window: int) -> None:
    rng = np.random.default_rng(window)
    x = rng.normal(size=(300, 4)) * 10.0 ** rng.uniform(-3, 3, 4)  # crosses row blocks
    x[rng.random(x.shape) < 0.25] = np.nan
    x[rng.random(x.shape) < 0.02] = np.inf  # non-finite counts as missing
    sums, counts = k.rolling_sum(x, window)
    ref_s, ref_c = _naive_window(x, window)
    assert counts.dtype == np.int64
    np.testing.assert_array_equal(counts, ref_c)
    np.testing.assert_array_equal(sums, ref_s)  # the same additions in the same order
    need = max(1, window // 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        ref_mean = np.where(ref_c >= need, ref_s / ref_c, np.nan)
    np.testing.assert_array_equal(k.rolling_mean(x, window, need), ref_mean)


def _durations(values: list[int]) -> pl.Series:
    return pl.Series("step", values, dtype=pl.Int64).cast(pl.Duration("us"))


@pytest.mark.parametrize("values", [
    [60] * 5 + [120] * 2,  # a majority
    [60, 120, 60, 120, 180],  # a tie: the smallest wins
    [180, 120, 120, 60, 60, 60, 180, 180, 180],  # no majority, a clear mode
    [3_600_000_000] * 3000 + [60] * 2000 + [7] * 1500,  # the sample's mode is no majority
    [7] * 1100 + [5] * 2000,  # the sample sees only one value
    [42],
])
def test_mode_step_equals_group_by(values: list[int]) -> None:
    steps = _durations(values)
    ref = (steps.to_frame().group_by("step").len()
           .sort(["len", "step"], descending=[True, False])["step"][0])
    assert mode_step(steps) == ref


def test_infer_freq_on_a_panel_with_gaps() -> None:
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    hours = [0, 1, 2, 3, 5, 6, 9]
    panel = pl.DataFrame({"ts": [t0 + timedelta(hours=h) for h in hours] * 2,
                          "symbol": ["A"] * 7 + ["B"] * 7})
    assert infer_freq(panel) == "1h"


def test_sorted_symbol_codes_equal_unique_and_index() -> None:
    """Reference: unique().sort() and replace_strict on the same column."""
    for col in (["A", "A", "B", "C", "C", "C"], ["X"], ["B", "B", "A"], ["A", "B", "A"],
                ["A", None, "B"], []):
        s = pl.Series("symbol", col, dtype=pl.String)
        got = sorted_symbol_codes(s)
        sorted_runs = s.null_count() == 0 and s.len() > 0 and s.is_sorted()
        if not sorted_runs:
            assert got is None
            continue
        assert got is not None
        symbols, codes = got
        assert symbols == tuple(s.unique().sort().to_list())
        np.testing.assert_array_equal(codes, symbol_index(s, symbols))


def test_layout_fast_path_equals_the_general_one(monkeypatch: pytest.MonkeyPatch) -> None:
    from test_fast_paths import _ragged

    panel = _ragged(seed=2, filled=True)
    fast = k.layout(panel, "1d")
    monkeypatch.setattr(k, "sorted_symbol_codes", lambda col: None)
    slow = k.layout(panel, "1d")
    assert fast.symbols == slow.symbols
    for a, b in ((fast.rows, slow.rows), (fast.cols, slow.cols), (fast.filled, slow.filled)):
        np.testing.assert_array_equal(a, b)
    assert fast.axis.equals(slow.axis)


def test_summarize_panel_with_known_counts_equals_counting() -> None:
    from coinfactor.studies import carry
    from test_fast_paths import _ragged

    panel = _ragged(seed=4)
    res = carry.run(carry.Config(universe_window=10, min_decile=4, vol_min_periods=5,
                                 corr_window=20), panel)
    assert res.data_summary == summarize_panel(panel, "carry study input")


def test_ffill_rows_equals_the_per_column_loop() -> None:
    from coinfactor.backtest._engine import ffill_rows

    rng = np.random.default_rng(3)
    x = rng.normal(size=(200, 7))
    x[rng.random(x.shape) < 0.4] = np.nan
    x[:50, 2] = np.nan
    x[:, 5] = np.nan
    ref = x.copy()
    for j in range(x.shape[1]):
        last = np.nan
        for t in range(x.shape[0]):
            last = x[t, j] if not np.isnan(x[t, j]) else last
            ref[t, j] = last
    got = ffill_rows(x)
    np.testing.assert_array_equal(got, ref)
    assert not np.shares_memory(got, x)
    assert ffill_rows(np.empty((0, 3))).shape == (0, 3)
