"""Factor returns and exposures in time and coin blocks (:func:`risk_model_blocks`).

Reference: the whole-panel computation (:func:`factor_returns` then :func:`exposures` on the
panel in memory); every table must be equal bit for bit (``DataFrame.equals``: same values,
NaN where NaN) for every block size, coin block and source (frame in memory, lazy Parquet
folder), and the metrics equal the whole-panel ones (to 1e-12: sums in another order).
Point in time: a panel cut at T gives the same values at ts <= T. statsmodels ``RollingOLS``
checks sampled coins of the chunked exposures to 1e-8.
"""

from __future__ import annotations

import math
from datetime import timedelta

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coinfactor.core.errors import ConfigError
from coinfactor.risk import exposures, factor_returns, lookahead_mismatch, risk_model_blocks
from support.minute_panels import minute_panel, write_folder
from support.random_panels import ragged_panel

FACTORS = {"families": ("liquidity", "beta", "momentum"), "liquidity_window": 30,
           "beta_window": 40, "momentum_windows": (10, 25), "rebalance": "1d"}
WINDOW = 24


def _whole(panel: pl.DataFrame, *, window: int = WINDOW, leave_one_out: bool = False,
           market: str = "equal", **kw: object) -> dict[str, object]:
    opts = {**FACTORS, **kw}
    fr = factor_returns(panel, market=market, **opts)  # type: ignore[arg-type]
    out: dict[str, object] = {"fr": fr}
    sets = ("spreads",) if leave_one_out else ("spreads", "buckets")
    for s in sets:
        out[s] = exposures(fr, window=window, factor_set=s, leave_one_out=leave_one_out,
                           min_nobs=window // 2)
    return out


def _chunked(panel: pl.DataFrame | pl.LazyFrame, *, window: int = WINDOW,
             leave_one_out: bool = False, market: str = "equal", **kw: object):
    opts = {**FACTORS, **kw}
    sets = ("spreads",) if leave_one_out else ("spreads", "buckets")
    return risk_model_blocks(panel, market=market, window=window, factor_sets=sets,
                             leave_one_out=leave_one_out, min_nobs=window // 2,
                             **opts)  # type: ignore[arg-type]


def _assert_equal(whole: dict[str, object], res) -> None:
    fr = whole["fr"]
    assert res.factor_returns.equals(fr.returns)           # type: ignore[attr-defined]
    assert res.memberships.collect().equals(fr.memberships)  # type: ignore[attr-defined]
    for s, table in res.exposures.items():
        assert table.collect().equals(whole[s].table), s    # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def hourly() -> pl.DataFrame:
    return ragged_panel(3, n_symbols=9, n_bars=400, gap_prob=0.05)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(blocks=st.integers(1, 6), per_factor=st.integers(1, 3), coins=st.integers(1, 9),
       seed=st.integers(0, 3), leave_one_out=st.booleans(),
       market=st.sampled_from(["equal", "quote_volume"]))
def test_blocks_equal_the_whole_panel_bit_for_bit(blocks: int, per_factor: int, coins: int,
                                                   seed: int, leave_one_out: bool,
                                                   market: str) -> None:
    panel = ragged_panel(seed, n_symbols=9, n_bars=300, gap_prob=0.06)
    whole = _whole(panel, leave_one_out=leave_one_out, market=market)
    res = risk_model_blocks(panel, **FACTORS, market=market, window=WINDOW,  # type: ignore[arg-type]
                            factor_sets=("spreads",) if leave_one_out else ("spreads", "buckets"),
                            leave_one_out=leave_one_out, min_nobs=WINDOW // 2,
                            block_rows=WINDOW * blocks,
                            factor_rows=WINDOW * blocks * per_factor, coin_block=coins)
    _assert_equal(whole, res)


@pytest.mark.parametrize("threads", [1, 2])
def test_threads_and_a_window_past_the_factor_warmup_equal_the_whole_panel(
        hourly: pl.DataFrame, threads: int) -> None:
    """Tasks on two threads; a regression window longer than the factors' warm-up (the
    factor tasks then read further back, for the returns their blocks' fits need)."""
    window = 96   # > period (24) + longest characteristic window (40) + 1
    whole = _whole(hourly, window=window)
    res = risk_model_blocks(hourly, **FACTORS, window=window,  # type: ignore[arg-type]
                            factor_sets=("spreads", "buckets"), min_nobs=window // 2,
                            block_rows=window, coin_block=4, threads=threads)
    _assert_equal(whole, res)
    one = _chunked(hourly, window=window, block_rows=window)
    assert res.fit == one.fit and res.daily.equals(one.daily)


def test_metrics_and_lookahead_equal_the_whole_panel(hourly: pl.DataFrame) -> None:
    whole = _whole(hourly)
    fr = whole["fr"]
    for block_rows in (WINDOW, WINDOW * 7, None):
        res = risk_model_blocks(hourly, **FACTORS, window=WINDOW,  # type: ignore[arg-type]
                                factor_sets=("spreads", "buckets"), min_nobs=WINDOW // 2,
                                block_rows=block_rows, coin_block=4)
        for s in ("spreads", "buckets"):
            ex = whole[s]
            fit = res.fit[s]
            assert math.isclose(fit["mean_rsquared"], ex.mean_rsquared(), rel_tol=1e-12)
            assert math.isclose(fit["mean_rsquared_adj"], ex.mean("rsquared_adj"),
                                rel_tol=1e-12)
            assert math.isclose(fit["mean_beta_market"], ex.mean("beta_market"),
                                rel_tol=1e-12)
            assert fit["cells"] == ex.table.height
            deficient = ex.table.filter(pl.col("rank") < 1 + len(ex.factors)).height
            assert fit["rank_deficient_share"] == deficient / ex.table.height
        assert res.lookahead == pytest.approx(lookahead_mismatch(fr, hourly), abs=0)


def test_daily_summary_is_the_mean_of_each_day(hourly: pl.DataFrame) -> None:
    """Reference: polars group-by means of the whole-panel table (to 1e-12: another order)."""
    table = _whole(hourly)["spreads"].table
    res = _chunked(hourly)
    want = (table.with_columns(pl.col("ts").dt.truncate("1d"))
            .group_by("ts", "symbol")
            .agg(pl.col("alpha", "beta_market", "rsquared").fill_nan(None).mean(),
                 bars=pl.len()).sort("symbol", "ts"))
    got = res.daily
    assert got.select("ts", "symbol").equals(want.select("ts", "symbol"))
    assert got.get_column("bars").cast(pl.Int64).to_list() == want.get_column("bars").to_list()
    for c in ("alpha", "beta_market", "rsquared"):
        np.testing.assert_allclose(got.get_column(c).to_numpy(),
                                   want.get_column(c).fill_null(np.nan).to_numpy(),
                                   rtol=1e-12)
    # the same bits on every run and for any blocks (sums in block order: run-to-run only)
    assert _chunked(hourly).daily.equals(got)


def test_lazy_parquet_folder_equals_the_frame(tmp_path) -> None:
    panel = minute_panel(6, 3000, seed=1)
    folder = write_folder(panel, tmp_path / "bars")
    from coinfactor.studies._data import load_study_data
    lazy, source = load_study_data({"parquet_dir": str(folder)}, lazy=True)
    assert isinstance(lazy, pl.LazyFrame) and source.startswith("parquet_dir")
    kw = {"liquidity_window": 120, "beta_window": 120, "momentum_windows": (30, 60),
          "rebalance": "6h"}
    a = _chunked(panel, window=120, **kw)
    b = risk_model_blocks(lazy, **{**FACTORS, **kw}, window=120,  # type: ignore[arg-type]
                          factor_sets=("spreads", "buckets"), min_nobs=60, block_rows=360)
    _assert_equal({"fr": _whole(panel, window=120, **kw)["fr"],
                   "spreads": _whole(panel, window=120, **kw)["spreads"],
                   "buckets": _whole(panel, window=120, **kw)["buckets"]}, b)
    assert a.factor_returns.equals(b.factor_returns)


@pytest.mark.parametrize("bad_row", [0, 359, 360, 361, 2999])
def test_a_bad_bar_of_a_lazy_source_is_caught_in_any_block(tmp_path, bad_row: int) -> None:
    """Each block validates its own rows (the warm-up rows it reads are an earlier block's):
    a bar with high < low raises wherever it sits, on or next to a block boundary."""
    from coinfactor.core.errors import DataError

    panel = minute_panel(4, 3000, seed=3, ragged=False)
    ts = panel.get_column("ts").unique().sort()[bad_row]
    bad = panel.with_columns(
        low=pl.when((pl.col("ts") == ts) & (pl.col("symbol") == "C002"))
        .then(pl.col("high") * 1.01).otherwise(pl.col("low")))
    folder = write_folder(bad, tmp_path / "bars", with_symbol=True)
    lazy = pl.scan_parquet(sorted(folder.glob("*.parquet")))
    with pytest.raises(DataError, match="high >= low"):
        risk_model_blocks(lazy, **{**FACTORS, "rebalance": "6h", "liquidity_window": 120,
                                   "beta_window": 120, "momentum_windows": (30, 60)},
                          window=120, factor_sets=("spreads",), block_rows=360)


@pytest.mark.parametrize("cut", [130, 257, 399])
def test_point_in_time_by_truncation(hourly: pl.DataFrame, cut: int) -> None:
    t_cut = hourly.get_column("ts").min() + timedelta(hours=cut)
    full = _chunked(hourly)
    part = _chunked(hourly.filter(pl.col("ts") <= t_cut))
    assert part.factor_returns.equals(full.factor_returns.filter(pl.col("ts") <= t_cut))
    for s in ("spreads", "buckets"):
        want = full.exposures[s].collect().filter(pl.col("ts") <= t_cut)
        assert part.exposures[s].collect().equals(want), s
    assert part.memberships.collect().equals(
        full.memberships.collect().filter(pl.col("ts") <= t_cut))


def test_exposures_match_statsmodels_rolling_ols_on_sampled_coins() -> None:
    """Reference: statsmodels ``RollingOLS(missing="drop")`` on the factor returns, to 1e-8."""
    sm = pytest.importorskip("statsmodels.regression.rolling")
    import statsmodels.api as sm_api

    panel = minute_panel(7, 2500, seed=2)
    kw = {"liquidity_window": 120, "beta_window": 120, "momentum_windows": (30, 60),
          "rebalance": "6h"}
    res = _chunked(panel, window=180, **kw)
    fr = res.factor_returns
    names = res.factors["spreads"]
    table = res.exposures["spreads"].collect()
    close = panel.pivot(on="symbol", index="ts", values="close")
    grid = fr.select("ts").join(close, on="ts", how="left")
    for sym in ("C001", "C004"):
        c = grid.get_column(sym).to_numpy()
        y = c / np.concatenate([[np.nan], c[:-1]]) - 1.0
        x = sm_api.add_constant(fr.select(names).to_numpy())
        ref = sm.RollingOLS(y, x, window=180, min_nobs=90, missing="drop").fit()
        got = table.filter(pl.col("symbol") == sym)
        rows = fr.select(pl.col("ts").is_in(got.get_column("ts").implode())).to_series()
        want = ref.params[rows.to_numpy()]
        np.testing.assert_allclose(got.select("alpha", *(f"beta_{n}" for n in names))
                                   .to_numpy(), want, rtol=1e-8, atol=1e-8)
        np.testing.assert_allclose(got.get_column("rsquared").to_numpy(),
                                   ref.rsquared[rows.to_numpy()], rtol=1e-8, atol=1e-8)


def test_block_rows_must_be_whole_windows(hourly: pl.DataFrame) -> None:
    with pytest.raises(ConfigError, match="multiple of window"):
        risk_model_blocks(hourly, **FACTORS, window=WINDOW, block_rows=WINDOW + 1)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="leave_one_out"):
        risk_model_blocks(hourly, **FACTORS, window=WINDOW, leave_one_out=True,  # type: ignore[arg-type]
                          factor_sets=("spreads", "buckets"))


def test_parts_are_removed_with_the_result(hourly: pl.DataFrame) -> None:
    res = _chunked(hourly)
    root = res.work_dir
    table = res.exposures["spreads"]
    del res
    assert root.exists()           # the table keeps the parts alive
    del table
    import gc
    gc.collect()
    assert not root.exists()
