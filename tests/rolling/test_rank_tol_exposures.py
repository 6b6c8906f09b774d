"""rank_tol from the risk_model config through coinfactor.risk.exposures to rolling_ols.

Data: twelve embedded Binance perpetuals over 25 days (a late listing included), whose
market + bucket factor set is exactly collinear in most windows and nearly collinear where
bucket sizes change inside a window. References: ``rolling_ols`` called directly with the
same tolerance (the exposures are its output), ``np.linalg.lstsq`` on a window's rows (the
full-rank fit a tiny tolerance gives) and ``np.linalg.cond`` of ``np.corrcoef`` of the
window's factor rows (condition numbers).
"""

from __future__ import annotations

import tomllib
from datetime import timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from coinfactor import datasets
from coinfactor.core.errors import ConfigError
from coinfactor.risk import exposures, factor_returns
from coinfactor.rolling import DEFAULT_RANK_TOL, rolling_ols
from coinfactor.studies import config_from_dict
from coinfactor.studies.risk_model import Config, run

TOML = Path(__file__).resolve().parents[2] / "studies" / "risk_model.toml"
WINDOW = 96


@pytest.fixture(scope="module")
def panel() -> pl.DataFrame:
    full = datasets.load("binance-perp-1h")
    syms = sorted(full["symbol"].unique().to_list())
    syms = [*syms[:11], "RIVERUSDT"]
    start = full["ts"].min()
    return full.filter(pl.col("symbol").is_in(syms),
                       pl.col("ts") < start + timedelta(days=25))  # type: ignore[operator]


@pytest.fixture(scope="module")
def factors(panel):
    return factor_returns(panel, liquidity_window=48, beta_window=48, momentum_windows=(6, 24))


def _betas(table: pl.DataFrame) -> np.ndarray:
    return table.select(pl.selectors.starts_with("beta_")).to_numpy()


def test_rank_tol_reaches_the_kernel_and_changes_nearly_collinear_windows(factors):
    """Default vs 1e-10 on the bucket set: the same cells, the exactly collinear windows
    alike (rank 8), the nearly collinear ones fitted at full rank (rank 11, betas above 50)
    only with 1e-10; each table is rolling_ols's output at that tolerance, and a full-rank
    window's betas equal np.linalg.lstsq on its rows."""
    tight = exposures(factors, window=WINDOW, factor_set="buckets")
    loose = exposures(factors, window=WINDOW, factor_set="buckets", rank_tol=1e-10)
    assert tight.rank_tol == DEFAULT_RANK_TOL and loose.rank_tol == 1e-10
    a, b = tight.table, loose.table
    assert a.select("ts", "symbol", "nobs").equals(b.select("ts", "symbol", "nobs"))
    assert a["rank"].max() <= 9 and (b["rank"] == 11).sum() > 500
    changed = (a["rank"] != b["rank"]).to_numpy()
    same = ~changed
    np.testing.assert_allclose(_betas(a)[same & (a["rank"] == 8).to_numpy()],
                               _betas(b)[same & (b["rank"] == 8).to_numpy()],
                               rtol=1e-6, atol=1e-9)
    assert np.abs(_betas(a)).max() < 50 < np.abs(_betas(b)[changed]).max()

    names = factors.factor_names("buckets")
    x = factors.returns.select(names).to_numpy()
    y = factors.asset_returns
    for ex, tol in ((tight, DEFAULT_RANK_TOL), (loose, 1e-10)):
        direct = rolling_ols(y, x, WINDOW, rank_tol=tol)
        np.testing.assert_array_equal(ex.ols.params, direct.params)
        np.testing.assert_array_equal(ex.ols.rank, direct.rank)

    row = b.filter(pl.col("rank") == 11).row(0, named=True)
    t = factors.grid.ts.to_list().index(row["ts"])
    j = list(factors.grid.symbols).index(row["symbol"])
    xs, ys = x[t - WINDOW + 1 : t + 1], y[t - WINDOW + 1 : t + 1, j]
    ok = np.isfinite(ys) & np.isfinite(xs).all(axis=1)
    z = np.column_stack([np.ones(ok.sum()), xs[ok]])
    ref = np.linalg.lstsq(z, ys[ok], rcond=None)[0]
    got = np.array([row["alpha"], *(row[f"beta_{n}"] for n in names)])
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-8)
    cond = np.linalg.cond(np.corrcoef(xs[ok], rowvar=False))
    np.testing.assert_allclose(row["condition_number"], cond, rtol=1e-5)
    assert row["condition_number"] >= 1.0 / DEFAULT_RANK_TOL     # deficient by default


def test_exposure_table_has_condition_numbers_next_to_rank(factors):
    """Well-posed spreads: rank 5 everywhere, condition numbers of the factor correlation
    matrix (np.linalg.cond of np.corrcoef on one window's rows) far below 1 / rank_tol."""
    ex = exposures(factors, window=WINDOW)
    cols = ex.table.columns
    assert cols[cols.index("rank") + 1] == "condition_number"
    assert (ex.table["rank"] == 5).all()
    cond = ex.table["condition_number"].to_numpy()
    assert np.isfinite(cond).all() and cond.max() < 1.0 / DEFAULT_RANK_TOL
    last = ex.table.filter(pl.col("ts") == pl.col("ts").max()).row(0, named=True)
    x = factors.returns.select(factors.factor_names("spreads")).to_numpy()[-WINDOW:]
    np.testing.assert_allclose(last["condition_number"],
                               np.linalg.cond(np.corrcoef(x, rowvar=False)), rtol=1e-8)


def test_condition_numbers_can_be_left_out(factors):
    """condition_number=False: the same table without that column."""
    with_cond = exposures(factors, window=WINDOW).table
    without = exposures(factors, window=WINDOW, condition_number=False).table
    assert "condition_number" not in without.columns
    assert without.equals(with_cond.drop("condition_number"))


def test_bad_rank_tol_in_exposures_raises_config_error(factors):
    with pytest.raises(ConfigError, match="rank_tol"):
        exposures(factors, window=WINDOW, rank_tol=0.0)


def test_risk_model_config_takes_rank_tol_from_toml_params_and_passes_it_on(panel):
    """``rank_tol`` is a [params] key (the shipped TOML states the default); a tolerance
    that keeps the nearly collinear bucket windows at full rank changes the study's bucket
    metrics, while the well-posed spreads table stays the same."""
    raw = tomllib.loads(TOML.read_text("utf-8"))
    assert raw["params"]["rank_tol"] == Config().rank_tol == DEFAULT_RANK_TOL
    loose_cfg = config_from_dict(Config, {**raw["params"], "rank_tol": 1e-10, "window": 96,
                                          "min_nobs": 48})
    assert loose_cfg.rank_tol == 1e-10
    base_cfg = config_from_dict(Config, {**raw["params"], "window": 96, "min_nobs": 48})
    base, loose = run(base_cfg, panel), run(loose_cfg, panel)
    assert (loose.metrics["rank_deficient_share_buckets"]
            < base.metrics["rank_deficient_share_buckets"])
    assert loose.metrics["mean_rsquared_buckets"] != base.metrics["mean_rsquared_buckets"]
    assert base.tables["exposures"].collect().equals(loose.tables["exposures"].collect())
    for bad in ([1e-4], 0.0, 1.5, "1e-4"):
        with pytest.raises(ConfigError, match="rank_tol"):
            config_from_dict(Config, {"rank_tol": bad})
