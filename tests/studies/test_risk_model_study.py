"""The risk_model study: config file mirrors the defaults; the CLI run writes its tables."""

from __future__ import annotations

import json
import tomllib

import numpy as np
import polars as pl
from typer.testing import CliRunner

from coinfactor.cli import app
from coinfactor.studies import STUDIES, config_from_dict
from coinfactor.studies.risk_model import DEFAULT_DATA, Config
from support import ROOT

TOML = ROOT / "studies" / "risk_model.toml"


def test_toml_mirrors_config_defaults():
    raw = tomllib.loads(TOML.read_text("utf-8"))
    assert raw["study"] == "risk_model"
    assert STUDIES["risk_model"] == "coinfactor.studies.risk_model"
    assert raw["data"] == DEFAULT_DATA
    assert config_from_dict(Config, raw["params"]) == Config()


def test_cli_run_writes_factor_returns_and_exposures(tmp_path):
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["run", str(TOML), "--out", str(out)])
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    factors = pl.read_parquet(out / "factor_returns.parquet")
    expo = pl.read_parquet(out / "exposures" / "*.parquet")
    members = pl.read_parquet(out / "memberships" / "*.parquet")
    daily = pl.read_parquet(out / "exposures_daily.parquet")
    assert daily.columns[:3] == ["ts", "symbol", "alpha"]
    assert factors.columns[:2] == ["ts", "market"]
    assert {"liquidity_hml", "beta_hml", "momentum_hml", "beta_high"} <= set(factors.columns)
    assert expo.columns[:4] == ["ts", "symbol", "alpha", "beta_market"]
    assert {"rsquared", "rsquared_adj", "nobs", "rank"} <= set(expo.columns)
    assert members.columns == ["ts", "symbol", "liquidity", "beta", "momentum"]
    assert metrics["n_symbols"] == 40
    assert metrics["exposure_cells"] == expo.height
    # every fit has at least min_nobs bars; R² within [0, 1]
    assert expo["nobs"].min() >= Config().min_nobs
    r2 = expo["rsquared"].to_numpy()
    assert np.nanmin(r2) >= 0.0 and np.nanmax(r2) <= 1.0
    # the buckets set spans market + every spread, so its R² cannot be lower on average
    assert metrics["mean_rsquared_buckets"] >= metrics["mean_rsquared_spreads"]
    assert 0.0 < metrics["mean_rsquared_spreads"] < 1.0
    assert metrics["ann_vol_market"] > 0
    # the seed's whole-sample buckets disagree with point-in-time ones on a share of bars
    for fam in ("liquidity", "beta", "momentum"):
        assert 0.0 < metrics[f"lookahead_mismatch_{fam}"] < 1.0
