"""``--set key=value`` overrides and the [sweep] table accepted by ``coinfactor run``."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
import tomli_w
from typer.testing import CliRunner

from coinfactor.cli import app
from coinfactor.core.errors import ConfigError
from coinfactor.studies import apply_overrides, carry, config_from_dict, parse_value, run_config
from support.sweeps import SMALL_CARRY, carry_panel

runner = CliRunner()
RAW = {"study": "carry", "data": {"dataset": "hyperliquid-perp-1d"},
       "params": {"vol_target": 0.2, "costs": {"impact": 1.0}}}


def test_values_are_typed_by_the_config() -> None:
    out = apply_overrides(RAW, ["vol_target=0.3", "carry_window=14", "exit=decay",
                                "open_new_fully=false", "costs.impact=0.5"])
    cfg = config_from_dict(carry.Config, out["params"])
    assert (cfg.vol_target, cfg.carry_window, cfg.exit, cfg.open_new_fully) == \
        (0.3, 14, "decay", False)
    assert cfg.costs.impact == 0.5 and cfg.costs.venue == carry.Config().costs.venue
    assert RAW["params"]["vol_target"] == 0.2  # the input is not modified
    assert parse_value("[1, 2]") == [1, 2] and parse_value("decay") == "decay"
    assert apply_overrides(RAW, ["vol_target=1"])["params"]["vol_target"] == 1


@pytest.mark.parametrize(("item", "match"), [
    ("vol_targt=0.3", r"unknown parameter 'vol_targt'; expected one of \[.*'vol_target'"),
    ("costs.impakt=1", r"unknown parameter 'impakt' of \[params.costs\]"),
    ("vol_target.x=1", "is not a table"),
    ("carry_window=abc", "expected an integer"),
    ("exit=sideways", r"expected one of \['close', 'decay'\]"),
    ("novalue", "expected key=value"),
])
def test_bad_overrides_are_rejected(item: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        apply_overrides(RAW, [item])


def test_run_config_accepts_a_sweep_table_and_runs_the_base_params(tmp_path: Path) -> None:
    path = tmp_path / "panel.parquet"
    panel = carry_panel()
    panel.write_parquet(path)
    raw = {"study": "carry", "data": {"parquet": str(path)}, "params": SMALL_CARRY,
           "sweep": {"grid": {"vol_target": [0.1, 0.3]}}}
    res = run_config(raw)
    assert res.metrics == carry.run(carry.Config(**SMALL_CARRY), panel).metrics
    with pytest.raises(ConfigError, match="optionally \\[sweep\\]"):
        run_config({**raw, "swep": {}})


def test_cli_run_with_set_equals_run_with_those_params(tmp_path: Path) -> None:
    """Reference: ``carry.run`` on the same panel with the overridden Config."""
    path = tmp_path / "panel.parquet"
    panel = carry_panel()
    panel.write_parquet(path)
    cfg_file = tmp_path / "carry.toml"
    cfg_file.write_text(tomli_w.dumps({"study": "carry", "data": {"parquet": str(path)},
                                       "params": SMALL_CARRY,
                                       "sweep": {"grid": {"vol_target": [0.1]}}}))
    out = tmp_path / "run"
    res = runner.invoke(app, ["run", str(cfg_file), "--out", str(out), "--set",
                              "risk_aversion=4.0", "--set", "carry_window=4"])
    assert res.exit_code == 0, res.output
    ref = carry.run(carry.Config(**{**SMALL_CARRY, "risk_aversion": 4.0, "carry_window": 4}),
                    panel)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["sharpe_ratio"] == ref.metrics["sharpe_ratio"]
    assert metrics["annual_return"] == ref.metrics["annual_return"]
    written = tomllib.loads((out / "config.toml").read_text())
    assert written["params"]["risk_aversion"] == 4.0 and written["params"]["carry_window"] == 4
    bad = runner.invoke(app, ["run", str(cfg_file), "--out", str(tmp_path / "r2"), "--set",
                              "risk_aversio=4"])
    assert bad.exit_code == 2 and "risk_aversion" in bad.output
