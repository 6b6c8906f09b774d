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

from coinfactor import rolling as k
from coinfactor.core.errors import DataError
from coinfactor.data import infer_freq
from coinfactor.data._schema import mode_step
from coinfactor.studies._base import summarize_panel
from coinfactor.xs._rows import (
    row_bucket_at_least,
    row_buckets,
    row_winsorize,
    row_winsorize_zscore_buckets,
    row_zscore,
)
from support.random_panels import ragged_daily_panel


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


@pytest.mark.parametrize(("n_rows", "window"), [(300, 1), (300, 7), (300, 30), (301, 30),
                                             (29, 30), (30, 30), (61, 30), (300, 33)])
def test_blocked_rolling_mean_equals_the_plain_window_loop(n_rows: int, window: int) -> None:
    """Reference: the cell-by-cell window loop (exact counts, sums to rounding).

    Row counts on and off a block boundary (and shorter than one block); the tolerance is a
    few ulps of the largest value of two blocks, the documented error of blocked prefix sums.
    """
    rng = np.random.default_rng(n_rows + window)
    x = rng.lognormal(14, 0.3, size=(n_rows, 4)) * 10.0 ** rng.uniform(-3, 3, 4)
    x[rng.random(x.shape) < 0.1] = np.nan
    x[rng.random(x.shape) < 0.02] = np.inf  # non-finite counts as missing
    need = max(1, window // 2)
    ref_s, ref_c = _naive_window(x, window)
    with np.errstate(invalid="ignore", divide="ignore"):
        ref_mean = np.where(ref_c >= need, ref_s / ref_c, np.nan)
    got = k.blocked_rolling_mean(x.copy(), window, need)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(ref_mean))  # exact counts
    scale = np.nanmax(np.where(np.isfinite(x), x, np.nan), axis=0)  # per column
    err = np.abs(got - ref_mean)[~np.isnan(ref_mean)]
    assert (err <= np.broadcast_to(64 * 2.3e-16 * scale, got.shape)[~np.isnan(ref_mean)]).all()
    # point in time: a truncated array gives the same values bit for bit
    for cut in (1, window - 1, window, window + 1, n_rows // 2):
        if 0 < cut <= n_rows:
            part = k.blocked_rolling_mean(x[:cut].copy(), window, need)
            np.testing.assert_array_equal(part, got[:cut])


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


def test_summarize_panel_with_known_counts_equals_counting() -> None:
    from coinfactor.studies import carry

    panel = ragged_daily_panel(seed=4)
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


def test_sizing_ignores_flat_columns_bit_for_bit() -> None:
    """Inserting symbols that are never weighted changes no weight and no book vol.

    Reference for the values: the plain pairwise formulas (``nansum``, ``einsum``), which
    sum in another order (a few ulps).
    """
    from coinfactor.portfolio import (
        inverse_vol_weights,
        portfolio_vol,
        portfolio_vol_from,
        vol_inputs,
    )

    rng = np.random.default_rng(11)
    n_t, n_s = 160, 9
    target = rng.uniform(-1, 1, (n_t, n_s))
    target[rng.random(target.shape) < 0.3] = np.nan
    vol = rng.uniform(0.01, 0.05, (n_t, n_s))
    vol[rng.random(vol.shape) < 0.05] = np.nan
    rets = rng.normal(0, 0.03, (n_t, n_s))
    rets[rng.random(rets.shape) < 0.1] = np.nan
    w = inverse_vol_weights(target, vol)
    with np.errstate(invalid="ignore", divide="ignore"):
        raw = np.where(vol > 0, target / vol, np.nan)
    gross = np.nansum(np.abs(raw), axis=1, keepdims=True)
    np.testing.assert_allclose(w, raw / gross, rtol=1e-15, atol=0)
    # the same book on a grid with 5 more symbols that are never weighted
    wide_cols = np.sort(rng.choice(n_s + 5, n_s, replace=False))
    big_t = np.full((n_t, n_s + 5), np.nan)
    big_t[:, wide_cols] = target
    big_v = rng.uniform(0.01, 0.05, (n_t, n_s + 5))
    big_v[:, wide_cols] = vol
    big_r = rng.normal(0, 0.03, (n_t, n_s + 5))
    big_r[:, wide_cols] = rets
    extra = np.setdiff1d(np.arange(n_s + 5), wide_cols)
    big_v[:30, extra] = 0.0  # zero or missing forecasts: no standardised return there
    big_v[30:40, extra] = np.nan
    big_v[40:60, extra[0]] = np.inf  # r / inf = 0 is observed, inf / inf is not
    big_r[41:61:2, extra[0]] = np.inf
    np.testing.assert_array_equal(inverse_vol_weights(big_t, big_v)[:, wide_cols], w)
    wz = np.nan_to_num(w)
    big_w = np.zeros((n_t, n_s + 5))
    big_w[:, wide_cols] = wz
    for method in ("diagonal", "correlation"):
        ref = portfolio_vol(big_w, big_v, big_r, method=method, window=20)
        inputs = vol_inputs(big_v, big_r, 20, columns=wide_cols)
        got = portfolio_vol_from(wz, inputs, method=method, window=20)
        np.testing.assert_array_equal(got, ref)
    ws = wz * np.nan_to_num(vol)
    np.testing.assert_allclose(portfolio_vol(wz, vol, method="diagonal"),
                               np.sqrt(np.einsum("ij,ij->i", ws, ws)), rtol=1e-15)


def test_summary_from_the_dense_weights_equals_the_frame_path() -> None:
    """Reference: analytics.summary fed the result's long weights frame explicitly."""
    from coinfactor.analytics import summary
    from coinfactor.backtest import backtest

    panel = ragged_daily_panel(seed=9, filled=True)
    rng = np.random.default_rng(2)
    ts = panel.get_column("ts").unique().sort()
    rows = [{"ts": t, "symbol": s, "weight": float(rng.normal(0, 0.2))}
            for t in ts.to_list()[5::3] for s in ("S01", "S03", "S07", "S20")
            if rng.random() < 0.7]
    res = backtest(panel, pl.DataFrame(rows), fee_bps=5.0, half_spread=5e-4)
    fast = summary(res)
    slow = summary(res, weights=res.weights.clone())
    assert fast == slow
    mat = res.weight_matrix()
    assert mat.shape == (res.nav.height, res.weights["symbol"].n_unique())


def _book_frame(panel: pl.DataFrame, seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    ts = panel.get_column("ts").unique().sort().to_list()
    return pl.DataFrame([{"ts": t, "symbol": s, "weight": float(rng.normal(0, 0.2))}
                         for t in ts[4::2] for s in ("S00", "S02", "S05", "S13", "S19")
                         if rng.random() < 0.6])


@pytest.mark.parametrize("lag", [0, 2])
def test_backtest_array_weights_equal_long_frames(lag: int) -> None:
    """Reference: backtest() on the same weights, funding and spreads as long frames."""
    from coinfactor.backtest import backtest
    from coinfactor.data import Grid

    panel = ragged_daily_panel(seed=12, filled=True)
    weights = _book_frame(panel, 1)
    grid = Grid.from_panel(panel)
    w = grid.scatter(weights, "weight")
    hs = panel.select("ts", "symbol", (pl.col("close") * 0 + 7e-4).alias("half_spread"))
    ref = backtest(panel, weights, fee_bps=3.0, half_spread=hs, lag=lag, freq="1d")
    hs_wide = grid.scatter(hs, "half_spread")
    hs_filled = np.where(np.isnan(hs_wide), 7e-4, hs_wide)  # backtest() carries spreads
    got = backtest(panel, w, grid=grid, fee_bps=3.0, half_spread=hs_filled, lag=lag)
    for name in ("nav", "weights", "trades", "turnover", "exposure", "drawdown", "vol"):
        assert getattr(got, name).equals(getattr(ref, name)), name
    const = backtest(panel.drop("funding_rate"), w, grid=grid, half_spread=5e-4, lag=lag)
    ref_const = backtest(panel.drop("funding_rate"), weights, half_spread=5e-4, lag=lag,
                         freq="1d")
    assert const.nav.equals(ref_const.nav)


def test_backtest_array_bad_input() -> None:
    from coinfactor.backtest import backtest
    from coinfactor.data import Grid

    ts = [datetime(2024, 1, d, tzinfo=UTC) for d in (1, 2, 3)]
    panel = pl.DataFrame({"ts": ts * 2, "symbol": ["A"] * 3 + ["B"] * 3, "close": 1.0},
                         schema_overrides={"ts": pl.Datetime("us", "UTC")})
    grid = Grid.from_panel(panel)
    with pytest.raises(DataError, match="need the grid"):
        backtest(panel, np.zeros((3, 2)))
    with pytest.raises(DataError, match="shape"):
        backtest(panel, np.zeros((3, 3)), grid=grid)
    with pytest.raises(DataError, match="no decision row"):
        backtest(panel, np.full((3, 2), np.nan), grid=grid)
    with pytest.raises(DataError, match=">= 0"):
        backtest(panel, np.zeros((3, 2)), grid=grid, half_spread=np.full((3, 2), -1e-4))
    unknown = np.full((3, 2), np.nan)
    with pytest.raises(DataError, match="no half_spread known"):
        backtest(panel, np.array([[0.5, 0.0], [np.nan] * 2, [0.1, 0.0]]), grid=grid,
                 half_spread=unknown)


def test_universe_and_carry_kernels_equal_their_frame_functions() -> None:
    """Reference: universe.volume_decile and signals.funding_carry (long frames)."""
    from coinfactor import signals, universe
    from coinfactor.core.errors import ConfigError
    from coinfactor.data import Grid

    panel = ragged_daily_panel(seed=13, filled=True)
    grid = Grid.from_panel(panel, "1d")
    member = universe.volume_decile(panel, 10, 6, grid=grid)
    ref = universe.volume_decile(panel, window=10, min_decile=6)
    np.testing.assert_array_equal(member[grid.rows, grid.cols], ref["in_universe"].to_numpy())
    rate = grid.wide(panel, "funding_rate")
    carry = signals.carry_from_rate(rate, "1d", 5)
    ref_c = signals.funding_carry(panel, window=5)["funding_carry"].fill_null(np.nan)
    np.testing.assert_array_equal(carry[grid.rows, grid.cols], ref_c.to_numpy())
    with pytest.raises(ConfigError):
        signals.carry_from_rate(rate, "1d", 0)
    with pytest.raises(ConfigError):
        universe.volume_decile(panel, 10, 11, grid=grid)


def test_forecast_on_the_axis_equals_the_joined_forecast() -> None:
    """Reference: the same forecast passed in another row order (joined on ts)."""
    from coinfactor.backtest import backtest
    from coinfactor.data import Grid

    panel = ragged_daily_panel(seed=14)
    weights = _book_frame(panel, 4)
    ts = Grid.from_panel(panel).ts
    fc = pl.DataFrame({"ts": ts, "forecast_vol": np.linspace(0.1, 0.3, ts.len())})
    fc = fc.with_columns(pl.when(pl.int_range(pl.len()) % 7 == 0).then(None)
                         .otherwise(pl.col("forecast_vol")).alias("forecast_vol"))
    for lag in (0, 1, 3):
        fast = backtest(panel, weights, lag=lag, forecast_vol=fc)
        slow = backtest(panel, weights, lag=lag, forecast_vol=fc.reverse())
        assert fast.vol.equals(slow.vol)
        assert fast.vol["forecast_vol"].null_count() > 0


@pytest.mark.parametrize("settings", [
    {"turnover_cap": 4.0, "gross_cap": 10.0, "max_weight": 1.0},  # binds on ~4% of bars
    {"turnover_cap": 1.5, "cost_aversion": 5.0},  # on ~60%
    {"turnover_cap": 0.05, "max_weight": 0.1},  # on every bar
    {"turnover_cap": None, "gross_cap": 0.8, "exit": "decay"},  # the gross cap, ~90%
    {"turnover_cap": None, "gross_cap": 100.0},  # never: whole chunks
])
def test_chunked_allocation_equals_the_plain_loop(settings: dict) -> None:
    """Reference: coinfactor.portfolio.allocate_reference, the plain per-bar loop (bit for
    bit), on a long book with staggered listings (untradable before), a delisting (frozen
    with a position) and gaps."""
    from coinfactor.portfolio import AllocationInputs, BufferedAllocator, allocate_reference

    rng = np.random.default_rng(21)
    n_t, n_s = 420, 12
    desired = rng.normal(0, 0.25, (n_t, n_s))
    desired[rng.random((n_t, n_s)) < 0.15] = np.nan
    vol = np.abs(rng.normal(0.8, 0.2, (n_t, n_s)))
    hs = np.full((n_t, n_s), 5e-4)
    trad = np.ones((n_t, n_s), dtype=bool)
    listing = rng.integers(0, 150, n_s)
    listing[:4] = 0
    trad[np.arange(n_t)[:, None] < listing[None, :]] = False
    desired[~trad] = np.nan
    trad[300:, 5] = False  # delisted while held: frozen from bar 300
    trad[200:203, 1] = False  # a three-bar gap
    a = BufferedAllocator(**settings)
    inputs = AllocationInputs(desired, vol, hs, trad)
    fast, ref = a.fit(inputs), allocate_reference(a, inputs)
    np.testing.assert_array_equal(fast.positions, ref.positions)
    np.testing.assert_array_equal(fast.turnover_scale, ref.turnover_scale)
    np.testing.assert_array_equal(fast.gross_scale, ref.gross_scale)
    assert (fast.turnover_scale <= 1).all() and (fast.gross_scale <= 1).all()


@pytest.mark.parametrize("seed", range(8))
def test_one_sort_pipeline_on_sparse_rows(seed: int) -> None:
    """A few values per row of a wide grid (packed before sorting): same as the separate
    calls (row_winsorize -> row_zscore -> naive average-rank buckets)."""
    rng = np.random.default_rng(300 + seed)
    x = np.round(rng.normal(size=(40, 90)), 1)
    x[rng.random(x.shape) < 0.85] = np.nan
    x[3] = np.nan
    x[5, :] = np.nan
    x[5, 7] = -0.0
    score, bucket = row_winsorize_zscore_buckets(x, 10)
    ref = row_zscore(row_winsorize(x))
    assert 2 * (~np.isnan(x)).sum(axis=1).max() <= x.shape[1]  # the packed path
    np.testing.assert_array_equal(score, ref)
    np.testing.assert_array_equal(bucket, _naive_buckets(ref, 10))


def test_vol_inputs_counts_observations_of_every_column() -> None:
    """Reference: vol_inputs on every column (standardised returns formed everywhere)."""
    from coinfactor.portfolio import vol_inputs

    n_t = 12
    vol = np.full((n_t, 3), np.nan)
    ret = np.full((n_t, 3), np.nan)
    # column 2 (outside the book) alone has observations: each kind of edge, one bar each
    vol[:, 2] = [1.0, 0.0, np.inf, np.inf, 2.0, np.nan, 1.0, -1.0, 1.0, np.inf, 3.0, 1.0]
    ret[:, 2] = [0.1, 0.2, 0.3, np.inf, -np.inf, 0.1, 0.2, np.nan, 0.1, 0.5, np.inf, 0.2]
    for window in (2, 3, 5):
        full = vol_inputs(vol, ret, window)
        book = vol_inputs(vol, ret, window, columns=np.array([0, 1]))
        np.testing.assert_array_equal(book.seen, full.seen)
        assert full.seen is not None and full.seen.max() > 0
