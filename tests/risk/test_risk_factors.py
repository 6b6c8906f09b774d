"""Factor returns and exposures: hand-computed cases, statsmodels references, truncation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from statsmodels.regression.rolling import RollingOLS

from coinfactor import datasets
from coinfactor.core.errors import ConfigError, DataError
from coinfactor.risk import assign_buckets, exposures, factor_returns
from support.panels import make_panel

START = datetime(2024, 1, 1, tzinfo=UTC)


def _paths(n_coins: int, n_bars: int, seed: int, betas=None) -> dict[str, list[float | None]]:
    rng = np.random.default_rng(seed)
    driver = 0.01 * rng.standard_normal(n_bars)
    betas = np.linspace(0.5, 3.0, n_coins) if betas is None else np.asarray(betas)
    paths = {}
    for i in range(n_coins):
        r = betas[i] * driver + 0.002 * rng.standard_normal(n_bars)
        paths[f"C{i}"] = list(100.0 * np.cumprod(1.0 + r))
    return paths


def _with_trades(panel: pl.DataFrame, trades: dict[str, int]) -> pl.DataFrame:
    return panel.with_columns(
        pl.col("symbol").replace_strict(trades, return_dtype=pl.Int64).alias("trades"))


def test_hand_computed_liquidity_buckets_and_market():
    """Six coins with trades 1..6: terciles {C0,C1}, {C2,C3}, {C4,C5} formed at the first
    midnight close and applied from the next bar; returns computed by hand from closes."""
    paths = _paths(6, 60, seed=1)
    panel = _with_trades(make_panel(paths), {f"C{i}": i + 1 for i in range(6)})
    fr = factor_returns(panel, families=("liquidity",), liquidity_window=10)
    closes = np.array([paths[f"C{i}"] for i in range(6)]).T        # (60, 6)
    r = np.vstack([np.full(6, np.nan), closes[1:] / closes[:-1] - 1])
    out = fr.returns
    np.testing.assert_allclose(out["market"].to_numpy()[1:], r[1:].mean(axis=1), rtol=1e-15)
    # formation bar: ts 23:00 (closes at midnight) -> row 23; buckets apply from row 24
    low = out["liquidity_low"].to_numpy()
    high = out["liquidity_high"].to_numpy()
    assert np.isnan(low[:24]).all()
    np.testing.assert_allclose(low[24:], r[24:, [0, 1]].mean(axis=1), rtol=1e-15)
    np.testing.assert_allclose(out["liquidity_med"].to_numpy()[24:],
                               r[24:, [2, 3]].mean(axis=1), rtol=1e-15)
    np.testing.assert_allclose(high[24:], r[24:, [4, 5]].mean(axis=1), rtol=1e-15)
    np.testing.assert_allclose(out["liquidity_hml"].to_numpy()[24:], high[24:] - low[24:])
    m = fr.memberships.filter(pl.col("ts") == START + timedelta(hours=24)).sort("symbol")
    assert m["liquidity"].to_list() == [0, 0, 1, 1, 2, 2]
    assert fr.memberships["ts"].min() == START + timedelta(hours=24)


def test_assign_buckets_matches_scipy_min_rank():
    """Reference: scipy.stats.rankdata(method="min") on the finite values, then
    floor(rank0 * n / count)."""
    from scipy.stats import rankdata

    rng = np.random.default_rng(12)
    values = np.round(rng.standard_normal((50, 17)), 1)       # rounding makes ties
    values[rng.random(values.shape) < 0.2] = np.nan
    got = assign_buckets(values, 4)
    for row, out in zip(values, got, strict=True):
        ok = np.isfinite(row)
        expect = np.full(row.shape, -1)
        if ok.sum() >= 4:
            rank0 = rankdata(row[ok], method="min") - 1
            expect[ok] = (rank0 * 4) // ok.sum()
        np.testing.assert_array_equal(out, expect)


def test_ties_share_a_bucket():
    """Equal trade counts: every coin ties, so all take the lowest rank (bucket 0)."""
    panel = make_panel(_paths(6, 40, seed=2))            # make_panel: trades = 10 everywhere
    fr = factor_returns(panel, families=("liquidity",), liquidity_window=10)
    assert set(fr.memberships["liquidity"].to_list()) == {0}
    assert np.isnan(fr.returns["liquidity_high"].to_numpy()).all()


def test_beta_buckets_follow_coin_on_market_beta():
    """Coins built with betas 0.5..3 to a common driver: the high-beta bucket holds the two
    largest betas (the seed's inverted cov/var(r) would order them the other way)."""
    panel = make_panel(_paths(6, 80, seed=3))
    fr = factor_returns(panel, families=("beta",), beta_window=24)
    last = fr.memberships.filter(pl.col("ts") == pl.col("ts").max()).sort("symbol")
    assert last["beta"].to_list() == [0, 0, 1, 1, 2, 2]


def test_quote_volume_weighted_market_uses_previous_bar_notional():
    paths = _paths(3, 30, seed=4)
    panel = make_panel(paths)
    rng = np.random.default_rng(5)
    qv = rng.uniform(1.0, 10.0, panel.height)
    panel = panel.with_columns(pl.Series("quote_volume", qv))
    fr = factor_returns(panel, families=(), market="quote_volume")
    closes = np.array([paths[f"C{i}"] for i in range(3)]).T
    r = closes[1:] / closes[:-1] - 1
    w = qv.reshape(3, 30).T[:-1]              # panel sorted by (symbol, ts); bar t-1
    expect = (w * r).sum(axis=1) / w.sum(axis=1)
    np.testing.assert_allclose(fr.returns["market"].to_numpy()[1:], expect, rtol=1e-14)


def _real(n_symbols: int = 12, days: int = 25) -> pl.DataFrame:
    panel = datasets.load("binance-perp-1h")
    syms = sorted(panel["symbol"].unique().to_list())
    syms = [*syms[: n_symbols - 1], "RIVERUSDT"]          # includes a late listing
    start = panel["ts"].min()
    return panel.filter(pl.col("symbol").is_in(syms),
                        pl.col("ts") < start + timedelta(days=days))  # type: ignore[operator]


def test_truncation_invariance_of_factors_memberships_and_exposures():
    """Cutting the data at T leaves factor returns, memberships and exposures at ts <= T
    unchanged. Factor returns and memberships are bit-identical; exposures within 1e-12
    (batched solves may group cells differently, see test_rolling_ols)."""
    panel = _real(days=40)
    kwargs = {"liquidity_window": 48, "beta_window": 48, "momentum_windows": (6, 24)}
    full = factor_returns(panel, **kwargs)
    full_x = exposures(full, window=72, leave_one_out=True)
    t_max = panel["ts"].max()
    for hours in (24 * 10 + 5, 24 * 25, 24 * 34 + 23):
        cut = panel["ts"].min() + timedelta(hours=hours)  # type: ignore[operator]
        part_panel = panel.filter(pl.col("ts") <= cut)
        part = factor_returns(part_panel, **kwargs)
        assert cut < t_max
        pre = pl.col("ts") <= cut
        assert part.returns.equals(full.returns.filter(pre))
        assert part.memberships.equals(full.memberships.filter(pre))
        px = exposures(part, window=72, leave_one_out=True).table
        fx = full_x.table.filter(pre).filter(pl.col("symbol").is_in(px["symbol"].unique()))
        assert px.select("ts", "symbol", "nobs", "rank").equals(
            fx.select("ts", "symbol", "nobs", "rank"))
        for c in ("alpha", "beta_market", "beta_momentum_hml", "rsquared"):
            np.testing.assert_allclose(px[c].to_numpy(), fx[c].to_numpy(), rtol=1e-12,
                                       atol=1e-15)


def test_exposures_match_statsmodels_per_coin():
    panel = _real(n_symbols=6)
    fr = factor_returns(panel, liquidity_window=48, beta_window=48, momentum_windows=(6, 24))
    ex = exposures(fr, window=96)
    names = fr.factor_names("spreads")
    x = np.column_stack([np.ones(fr.returns.height), fr.returns.select(names).to_numpy()])
    for j, sym in enumerate(fr.grid.symbols):
        y = fr.asset_returns[:, j]
        with np.errstate(divide="ignore", invalid="ignore"):
            ref = RollingOLS(y, x, window=96, missing="drop").fit()
        params = np.asarray(ref.params)
        ok = np.isfinite(params[:, 0])
        got = ex.table.filter(pl.col("symbol") == sym)
        assert got.height == ok.sum()
        cols = ["alpha", *(f"beta_{n}" for n in names)]
        np.testing.assert_allclose(got.select(cols).to_numpy(), params[ok], rtol=1e-8,
                                   atol=1e-12)
        np.testing.assert_allclose(got["rsquared"].to_numpy(), np.asarray(ref.rsquared)[ok],
                                   rtol=1e-8)


def test_leave_one_out_market_matches_hand_built_regression():
    """Reference: statsmodels RollingOLS of each coin on the mean of the other coins."""
    panel = make_panel(_paths(4, 120, seed=6) | {"C9": [None] * 50 + _paths(1, 70, 7)["C0"]})
    fr = factor_returns(panel, families=())
    ex = exposures(fr, window=30, factor_set=["market"], leave_one_out=True)
    r = fr.asset_returns
    for j, sym in enumerate(fr.grid.symbols):
        others = np.delete(r, j, axis=1)
        with np.errstate(invalid="ignore"), pytest.warns(RuntimeWarning, match="empty"):
            loo = np.nanmean(others, axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            ref = RollingOLS(r[:, j], np.column_stack([np.ones(len(loo)), loo]),
                             window=30).fit()
        ok = np.isfinite(np.asarray(ref.params)[:, 0])
        got = ex.table.filter(pl.col("symbol") == sym)
        np.testing.assert_allclose(got.select("alpha", "beta_market").to_numpy(),
                                   np.asarray(ref.params)[ok], rtol=1e-8, atol=1e-12)


def test_bucket_factor_set_is_rank_deficient_but_rsquared_well_defined():
    """With complete data and fixed buckets, market = mean of each family's buckets: the
    'buckets' set is exactly collinear. R² does not depend on which least-squares solution
    is taken: checked against np.linalg.lstsq on one window."""
    panel = make_panel(_paths(6, 200, seed=8))
    panel = _with_trades(panel, {f"C{i}": i + 1 for i in range(6)})
    fr = factor_returns(panel, families=("liquidity",), liquidity_window=10)
    ex = exposures(fr, window=48, factor_set="buckets")
    t = fr.returns.height - 1
    row = ex.table.filter(pl.col("ts") == pl.col("ts").max(), pl.col("symbol") == "C0")
    # 5 coefficients; market = (low + med + high) / 3 leaves const + 3 directions
    assert row["rank"].item() == 4
    names = fr.factor_names("buckets")
    x = fr.returns.select(names).to_numpy()[t - 47 : t + 1]
    y = fr.asset_returns[t - 47 : t + 1, 0]
    z = np.column_stack([np.ones(48), x])
    beta = np.linalg.lstsq(z, y, rcond=None)[0]
    resid = y - z @ beta
    r2 = 1 - resid @ resid / np.sum((y - y.mean()) ** 2)
    np.testing.assert_allclose(row["rsquared"].item(), r2, rtol=1e-9)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"families": ("size",)}, "families"), ({"families": ("beta", "beta")}, "families"),
     ({"n_buckets": 1}, "n_buckets"), ({"market": "cap"}, "market"),
     ({"liquidity": "volume"}, "liquidity"), ({"beta_window": 1}, "beta_window"),
     ({"momentum_windows": ()}, "momentum_windows"), ({"min_coverage": 0.0}, "min_coverage"),
     ({"rebalance": "90m"}, "rebalance")],
    ids=["families=size", "families=beta,beta", "n_buckets=1", "market=cap", "liquidity=volume",
         "beta_window=1", "momentum_windows=()", "min_coverage=0.0", "rebalance=90m"],
)
def test_bad_options_raise_config_error(kwargs, match):
    panel = make_panel(_paths(3, 10, seed=9))
    with pytest.raises(ConfigError, match=match):
        factor_returns(panel, **kwargs)


def test_trades_liquidity_without_trades_raises_data_error():
    panel = make_panel(_paths(3, 10, seed=10)).with_columns(pl.lit(None, pl.Int64)
                                                            .alias("trades"))
    with pytest.raises(DataError, match="notional"):
        factor_returns(panel, families=("liquidity",))
    fr = factor_returns(panel, families=("liquidity",), liquidity="notional",
                        liquidity_window=4)
    assert "liquidity_hml" in fr.returns.columns


def test_unknown_factor_in_exposures_raises_config_error():
    fr = factor_returns(make_panel(_paths(3, 30, seed=11)), families=("beta",),
                        beta_window=5)
    with pytest.raises(ConfigError, match="unknown factor"):
        exposures(fr, window=10, factor_set=["market", "size_hml"])
    with pytest.raises(ConfigError, match="leave_one_out"):
        exposures(fr, window=10, factor_set=["beta_hml"], leave_one_out=True)
    assert "FactorReturns" in fr.summary()
    assert "ExposureResult" in exposures(fr, window=10).summary()
