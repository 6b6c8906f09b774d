"""``studies/risk_model_1m.toml``: seed 000's design on one-minute bars, end to end.

The data source is a parameter (``minute_data``: a ``[data]`` table and the panel it holds);
a synthetic one-minute panel written as one Parquet file per symbol, and the real embedded
one-minute Binance bars (``binance-perp-1m``, the TOML's own data). References: the
whole-panel computation (:func:`factor_returns` then :func:`exposures` on the panel in
memory) for every exposure, bit for bit; statsmodels
``RollingOLS`` for sampled coins to 1e-8.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from coinfactor.risk import exposures, factor_returns
from coinfactor.studies import config_from_dict, run_config_file
from coinfactor.studies.risk_model import Config
from support import ROOT
from support.minute_panels import minute_panel, write_folder

TOML = ROOT / "studies" / "risk_model_1m.toml"


@pytest.fixture(scope="module", params=["synthetic", "binance-perp-1m"])
def minute_data(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
                ) -> tuple[dict[str, object], pl.DataFrame]:
    """A ``[data]`` table of one-minute bars and the panel it selects: a synthetic folder
    (read lazily, block by block) or the real embedded Binance minutes (the TOML's own)."""
    if request.param == "binance-perp-1m":
        from coinfactor import datasets

        return {"dataset": "binance-perp-1m"}, datasets.load("binance-perp-1m")
    panel = minute_panel(8, 4 * 1440 + 300, seed=7)
    folder = write_folder(panel, tmp_path_factory.mktemp("minute") / "bars")
    return {"parquet_dir": str(folder)}, panel


def _run(data: dict[str, object], out: Path) -> dict[str, object]:
    raw = tomllib.loads(TOML.read_text("utf-8"))
    raw["data"] = data
    cfg = out.parent / "risk_model_1m.toml"
    import tomli_w
    cfg.write_text(tomli_w.dumps(raw), "utf-8")
    run_config_file(cfg, out)
    return raw


def test_one_minute_study_end_to_end(minute_data, tmp_path: Path) -> None:
    data, panel = minute_data
    out = tmp_path / "run"
    raw = _run(data, out)
    config = config_from_dict(Config, raw["params"])
    assert config.window == 1440 and config.momentum_windows == (60, 120, 180, 360, 720)
    metrics = json.loads((out / "metrics.json").read_text())
    factors = pl.read_parquet(out / "factor_returns.parquet")
    expo = pl.read_parquet(out / "exposures" / "*.parquet").sort("symbol", "ts")
    members = pl.read_parquet(out / "memberships" / "*.parquet").sort("symbol", "ts")
    daily = pl.read_parquet(out / "exposures_daily.parquet")
    # the whole-panel computation, bit for bit
    fr = factor_returns(panel, families=config.families, n_buckets=config.n_buckets,
                        rebalance=config.rebalance, liquidity=config.liquidity,
                        liquidity_window=config.liquidity_window,
                        beta_window=config.beta_window,
                        momentum_windows=config.momentum_windows)
    ex = exposures(fr, window=config.window, min_nobs=config.min_nobs,
                   rank_tol=config.rank_tol)
    assert factors.equals(fr.returns)
    assert members.equals(fr.memberships)
    assert expo.equals(ex.table)
    assert metrics["exposure_cells"] == expo.height > 0
    assert metrics["n_symbols"] == panel.get_column("symbol").n_unique()
    assert 0.0 < metrics["mean_rsquared_spreads"] < metrics["mean_rsquared_buckets"] <= 1.0
    # the report draws the per-day summary; full resolution stays in the parts
    assert daily.get_column("bars").max() <= 1440
    html = (out / "report.html").read_text("utf-8")
    assert "exposures_daily" in html
    # statsmodels RollingOLS on two coins
    import statsmodels.api as sm
    from statsmodels.regression.rolling import RollingOLS

    names = ex.factors
    close = fr.returns.select("ts").join(panel.pivot(on="symbol", index="ts", values="close"),
                                         on="ts", how="left")
    x = sm.add_constant(fr.returns.select(names).to_numpy())
    symbols = sorted(set(expo.get_column("symbol").to_list()))
    for sym in (symbols[1], symbols[-2]):
        c = close.get_column(sym).to_numpy()
        y = c / np.concatenate([[np.nan], c[:-1]]) - 1.0
        ref = RollingOLS(y, x, window=1440, min_nobs=720, missing="drop").fit()
        got = expo.filter(pl.col("symbol") == sym)
        rows = fr.returns.select(pl.col("ts").is_in(got.get_column("ts").implode())
                                 ).to_series().to_numpy()
        np.testing.assert_allclose(got.select("alpha", *(f"beta_{n}" for n in names))
                                   .to_numpy(), ref.params[rows], rtol=1e-8, atol=1e-8)
