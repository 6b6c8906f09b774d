"""Oracle tests of the fast paths: each equals the straightforward computation it replaces.

References: the polars ``xs`` expressions (per-ts ``.over``), ``universe.volume_decile`` /
``signals.funding_carry`` on long frames, the public ``backtest`` on a long weights frame,
``data.Grid.wide``, naive per-bar loops written out below (the code before the rewrite), and
the package's plain allocator loop ``coinfactor.portfolio.allocate_reference``.
Panels are ragged (staggered listings, missing bars, null funding, filled bars).
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from coinfactor import signals, universe, xs
from coinfactor.portfolio import (
    AllocationInputs,
    BufferedAllocator,
    allocate_reference,
    bucket_alpha,
    sigmoid_target,
)
from coinfactor.risk._volatility import ema_blend_variance, ewma_variance
from coinfactor.studies import carry
from coinfactor.xs._rows import (
    row_bucket_at_least,
    row_buckets,
    row_winsorize,
    row_winsorize_zscore_buckets,
    row_zscore,
)
from support.random_panels import ragged_daily_panel


def _nan_rows(seed: int, ties: bool) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(int(rng.integers(1, 25)), int(rng.integers(1, 40))))
    if ties:
        x = np.round(x, 1)
    x[rng.random(x.shape) < rng.random() * 0.8] = np.nan
    return x


@pytest.mark.parametrize("seed", range(40))
def test_row_kernels_equal_the_polars_expressions(seed: int) -> None:
    """Reference: xs.buckets / winsorize / zscore evaluated .over("ts") on the long frame."""
    x = _nan_rows(seed, ties=seed % 2 == 0)
    ii, jj = np.nonzero(~np.isnan(x))
    long = pl.DataFrame({"ts": ii, "x": x[ii, jj]})
    ref = long.select(
        xs.buckets(pl.col("x"), 10).alias("b"),
        xs.winsorize(pl.col("x"), lower=0.1, upper=0.85).alias("w"),
        xs.zscore(pl.col("x")).alias("z"))
    np.testing.assert_array_equal(row_buckets(x, 10)[ii, jj], ref["b"].to_numpy())
    np.testing.assert_array_equal(row_winsorize(x, lower=0.1, upper=0.85)[ii, jj],
                                  ref["w"].to_numpy())
    # NumPy and polars add in different orders: a few ulps
    np.testing.assert_allclose(row_zscore(x)[ii, jj], ref["z"].to_numpy(), rtol=0, atol=1e-13)
    assert (row_buckets(x, 10)[np.isnan(x)] == 0).all()
    assert np.isnan(row_zscore(x)[np.isnan(x)]).all()


@pytest.mark.parametrize("seed", range(20))
def test_one_sort_pipeline_equals_the_three_calls(seed: int) -> None:
    x = _nan_rows(100 + seed, ties=True)
    score, bucket = row_winsorize_zscore_buckets(x, 7, lower=0.05, upper=0.9)
    ref = row_zscore(row_winsorize(x, lower=0.05, upper=0.9))
    np.testing.assert_array_equal(score, ref)
    np.testing.assert_array_equal(bucket, row_buckets(ref, 7))


@pytest.mark.parametrize("seed", range(15))
def test_bucket_threshold_equals_full_buckets(seed: int) -> None:
    """Reference: row_buckets (itself checked against xs.buckets above) compared to level."""
    x = _nan_rows(200 + seed, ties=seed % 3 == 0)
    for level in range(0, 12):
        np.testing.assert_array_equal(row_bucket_at_least(x, 10, level),
                                      row_buckets(x, 10) >= max(level, 1))


def test_row_kernels_edge_cases() -> None:
    assert row_buckets(np.empty((0, 3)), 10).shape == (0, 3)
    np.testing.assert_array_equal(row_buckets(np.array([[np.nan, 2.0, -0.0, 0.0]]), 4),
                                  [[0, 4, 2, 2]])  # -0.0 ties with 0.0
    np.testing.assert_array_equal(row_zscore(np.array([[3.0, 3.0, np.nan]])), [[0, 0, np.nan]])


def _naive_ewma(sq: np.ndarray, span: float) -> np.ndarray:
    lam = 1.0 - 2.0 / (span + 1.0)
    out = np.full_like(sq, np.nan)
    state = np.full(sq.shape[1], np.nan)
    for t in range(sq.shape[0]):
        x = sq[t]
        new = np.where(np.isnan(state), x, lam * state + (1.0 - lam) * x)
        state = np.where(~np.isnan(x), new, state)
        out[t] = state
    return out


def test_ewma_kernels_equal_the_per_column_recursion() -> None:
    """Reference: the recursion written out per bar, one span at a time (bit for bit)."""
    rng = np.random.default_rng(4)
    r = rng.normal(0, 0.03, (150, 9))
    r[rng.random(r.shape) < 0.3] = np.nan
    r[:40, 2] = np.nan
    sq = r * r
    for span in (1.0, 7.0, 90.0):
        np.testing.assert_array_equal(ewma_variance(sq, span), _naive_ewma(sq, span))
    blend = 0.3 * _naive_ewma(sq, 5) + 0.7 * _naive_ewma(sq, 30)
    seen = np.cumsum(~np.isnan(r), axis=0)
    np.testing.assert_array_equal(
        ema_blend_variance(r, short_span=5, long_span=30, blend=0.3, min_periods=10),
        np.where(seen >= 10, blend, np.nan))


@pytest.mark.parametrize("chunk_cells", [1, 18 * 7, 18 * 150])
def test_ewma_chunks_equal_the_per_column_recursion(chunk_cells: int, monkeypatch) -> None:
    """Reference: the per-bar recursion; inputs scaled in chunks of 1, 7 and all 150 bars."""
    from coinfactor.risk import _volatility

    monkeypatch.setattr(_volatility, "_EWMA_CHUNK_CELLS", chunk_cells)
    rng = np.random.default_rng(5)
    r = rng.normal(0, 0.03, (150, 9))
    r[rng.random(r.shape) < 0.3] = np.nan
    r[:40, 2] = np.nan  # a late first observation
    r[:, 5] = np.nan  # never observed
    sq = r * r
    np.testing.assert_array_equal(ewma_variance(sq, 7.0), _naive_ewma(sq, 7.0))
    blend = 0.3 * _naive_ewma(sq, 5) + 0.7 * _naive_ewma(sq, 30)
    seen = np.cumsum(~np.isnan(r), axis=0)
    np.testing.assert_array_equal(
        ema_blend_variance(r, short_span=5, long_span=30, blend=0.3, min_periods=10),
        np.where(seen >= 10, blend, np.nan))


@pytest.mark.parametrize("settings", [
    {"turnover_cap": 0.3, "cost_aversion": 5.0},
    {"turnover_cap": None, "exit": "decay", "open_new_fully": False, "gross_cap": 0.6},
    {"turnover_cap": 0.1, "max_weight": 0.05},
    {"turnover_cap": 0.2, "exit": "decay", "decay": 0.3, "cost_aversion": 20.0},
])
def test_allocator_equals_the_plain_loop(settings: dict) -> None:
    """Reference: coinfactor.portfolio.allocate_reference (the plain per-bar loop), bit for
    bit; names freeze (no price) and leave/enter the universe."""
    rng = np.random.default_rng(7)
    n_t, n_s = 120, 15
    desired = rng.normal(0, 0.2, (n_t, n_s))
    desired[rng.random((n_t, n_s)) < 0.25] = np.nan
    desired[:, 14] = np.nan  # never in the universe
    vol = np.abs(rng.normal(0.8, 0.2, (n_t, n_s)))
    vol[rng.random((n_t, n_s)) < 0.05] = np.nan
    hs = np.full((n_t, n_s), 5e-4)
    trad = rng.random((n_t, n_s)) > 0.1
    trad[:, :3] = True
    a = BufferedAllocator(**settings)
    inputs = AllocationInputs(desired, vol, hs, trad)
    fast, ref = a.fit(inputs), allocate_reference(a, inputs)
    np.testing.assert_array_equal(fast.positions, ref.positions)
    np.testing.assert_array_equal(fast.buffer, ref.buffer)
    np.testing.assert_array_equal(fast.turnover_scale, ref.turnover_scale)
    np.testing.assert_array_equal(fast.gross_scale, ref.gross_scale)


def _reference_signal_frame(cfg: carry.Config, panel: pl.DataFrame) -> pl.DataFrame:
    """The signal stage on long frames: volume_decile, funding_carry, xs over ts, maps."""
    members = universe.volume_decile(panel, window=cfg.universe_window,
                                     min_decile=cfg.min_decile)
    c = signals.funding_carry(panel, window=cfg.carry_window)
    frame = (members.with_columns(c.get_column("funding_carry"))
             .filter(pl.col("in_universe") & pl.col("funding_carry").is_not_null())
             .drop("in_universe"))
    frame = frame.with_columns(xs.zscore(xs.winsorize(
        pl.col("funding_carry"), lower=cfg.winsor_lower, upper=cfg.winsor_upper)).alias("score"))
    frame = frame.with_columns(xs.buckets(pl.col("score"), cfg.n_buckets).alias("decile"))
    frame = frame.with_columns(bucket_alpha("decile", cfg.n_buckets,
                                            reverse=cfg.seed_parity).alias("alpha"))
    frame = frame.with_columns(sigmoid_target(
        "alpha", k=cfg.sigmoid_k, x_offset=cfg.sigmoid_x_offset, y_min=cfg.y_min,
        y_max=cfg.y_max).alias("target"))
    return frame.sort("symbol", "ts")


@pytest.mark.parametrize("filled", [False, True])
@pytest.mark.parametrize("cfg", [carry.Config(universe_window=10, min_decile=5),
                                 carry.Config(universe_window=5, min_decile=3, n_buckets=4,
                                              seed_parity=True, carry_window=3)])
def test_carry_signal_stage_equals_the_long_frame_pipeline(cfg: carry.Config,
                                                           filled: bool) -> None:
    panel = ragged_daily_panel(filled=filled)
    got = carry.signal_frame(cfg, panel)
    ref = _reference_signal_frame(cfg, panel)
    assert got.height > 100
    assert_frame_equal(got.drop("score"), ref.drop("score"))
    np.testing.assert_allclose(got["score"].to_numpy(), ref["score"].to_numpy(), rtol=0,
                               atol=1e-12)  # z-score sums in another order: ulps


@pytest.mark.parametrize("filled", [False, True])
def test_carry_backtest_equals_public_backtest_of_its_weights(filled: bool) -> None:
    """Reference: backtest() of the study's own weights table, as a long frame.

    (With ``lag=0``: the table holds the weights held, so feeding it back with a lag would
    lag it twice.)
    """
    from coinfactor.backtest import backtest

    panel = ragged_daily_panel(seed=3, filled=filled)
    cfg = carry.Config(universe_window=10, min_decile=4, vol_min_periods=5, corr_window=20)
    fast = carry.run(cfg, panel)
    forecast = fast.tables["allocation"].select("ts", "forecast_vol")
    ref = backtest(panel, fast.tables["weights"], fee_bps=cfg.fee_bps,
                   half_spread=cfg.half_spread_bps / 1e4, lag=cfg.lag, forecast_vol=forecast)
    for name in ("nav", "weights", "trades", "exposure", "vol"):
        assert_frame_equal(fast.tables[name], getattr(ref, name))


