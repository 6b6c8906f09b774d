"""Study framework: config parsing errors, data loading, run directory writing, CLI basics."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import polars as pl
import pytest
from typer.testing import CliRunner

from coinfactor.cli import app
from coinfactor.errors import ConfigError
from coinfactor.studies import StudyResult, config_from_dict, load_study_data, run_config
from coinfactor.studies._base import summarize_panel


@dataclass(frozen=True)
class DemoConfig:
    window: int = 30
    scale: float = 1.0
    mode: Literal["a", "b"] = "a"
    windows: tuple[int, ...] = (1, 2)
    label: str | None = None


def test_config_from_dict_coerces() -> None:
    cfg = config_from_dict(DemoConfig, {"window": 10, "scale": 2, "windows": [3, 4]})
    assert cfg == DemoConfig(window=10, scale=2.0, windows=(3, 4))


@pytest.mark.parametrize(("values", "message"), [
    ({"windw": 3}, r"unknown key\(s\) \['windw'\]; expected some of"),
    ({"window": "10"}, "window: expected an integer, got '10'"),
    ({"window": True}, "window: expected an integer, got True"),
    ({"mode": "c"}, r"mode: expected one of \['a', 'b'\], got 'c'"),
    ({"windows": 3}, "windows: expected a list"),
], ids=["unknown_key", "int_from_str", "int_from_bool", "not_a_choice", "list_from_int"])
def test_config_from_dict_errors(values: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        config_from_dict(DemoConfig, values)


def test_nested_table_keeps_the_study_defaults_it_does_not_give() -> None:
    """A partial ``[params.costs]`` overrides only its keys: the reversion study's Binance
    fees and 1 bp half-spread stay (not CostConfig's own Hyperliquid defaults)."""
    from coinfactor.studies import CostConfig, reversion

    cfg = config_from_dict(reversion.Config, {"costs": {"impact": 0.0}})
    assert cfg.costs == CostConfig(venue="binance-usdm", half_spread_bps=1.0, impact=0.0)
    assert cfg.costs == replace(reversion.Config().costs, impact=0.0)
    with pytest.raises(ConfigError, match=r"\[params.costs\] has unknown key"):
        config_from_dict(reversion.Config, {"costs": {"fee_bps": 1.0}})
    for bad, key in (({"taker_bps": -1.0}, "taker_bps"), ({"maker_share": 2.0}, "maker_share"),
                     ({"half_spread_bps": -1.0}, "half_spread_bps")):
        with pytest.raises(ConfigError, match=key):
            config_from_dict(reversion.Config, {"costs": bad})


def test_load_study_data_filters() -> None:
    panel, source = load_study_data({"dataset": "hyperliquid-perp-1d", "symbols": ["BTC", "ETH"],
                                     "start": "2025-01-01", "end": "2025-02-01"})
    assert source == "dataset hyperliquid-perp-1d"
    assert sorted(panel["symbol"].unique().to_list()) == ["BTC", "ETH"]
    assert panel.height == 62


@pytest.mark.parametrize(("spec", "message"), [
    ({}, "expected exactly one of 'dataset'"),
    ({"dataset": "x", "parquet": "y"}, "expected exactly one of 'dataset'"),
    ({"dataset": "hyperliquid-perp-1d", "colour": 1}, r"unknown key\(s\) \['colour'\]"),
    ({"parquet": "/no/such.parquet"}, "does not exist"),
], ids=["no_source", "two_sources", "unknown_key", "missing_file"])
def test_load_study_data_errors(spec: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_study_data(spec)


def test_run_config_rejects_unknown_study_and_keys() -> None:
    with pytest.raises(ConfigError, match="unknown study 'nope'"):
        run_config({"study": "nope"})
    with pytest.raises(ConfigError, match=r"unknown top-level key\(s\) \['extra'\]"):
        run_config({"study": "x", "extra": 1})


def test_study_result_writes_run_dir(tmp_path: Path) -> None:
    panel, _ = load_study_data({"dataset": "hyperliquid-perp-1d", "symbols": ["BTC"]})
    result = StudyResult(
        study="t", config={"study": "t", "params": {"a": [1, 2]}},
        metrics={"sharpe": 1.25, "nan": float("nan"), "n": 3},
        tables={"nav": pl.DataFrame({"x": [1.0]})},
        data_summary=summarize_panel(panel, "dataset hyperliquid-perp-1d"),
    )
    out = result.write(tmp_path / "run")
    assert tomllib.loads((out / "config.toml").read_text())["params"]["a"] == [1, 2]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics == {"sharpe": 1.25, "nan": None, "n": 3}
    assert pl.read_parquet(out / "nav.parquet")["x"].to_list() == [1.0]
    summary = json.loads((out / "data_summary.json").read_text())
    assert summary["symbols"] == 1 and summary["coverage"] == 1.0
    assert not list(out.glob(".*tmp"))
    assert "sharpe  1.25" in result.summary()


def test_cli_help_and_datasets() -> None:
    runner = CliRunner()
    res = runner.invoke(app, ["--help"])
    assert res.exit_code == 0 and "datasets" in res.output
    res = runner.invoke(app, ["datasets"])
    assert res.exit_code == 0
    assert "hyperliquid-perp-1d" in res.output


def test_cli_run_bad_config_exits_2(tmp_path: Path) -> None:
    cfg = tmp_path / "x.toml"
    cfg.write_text('study = "nope"\n')
    res = CliRunner().invoke(app, ["run", str(cfg), "--out", str(tmp_path / "o")])
    assert res.exit_code == 2
    assert "unknown study 'nope'" in res.output


def test_issue_example_prints_validated_panel() -> None:
    """The issue's one-liner works in a fresh interpreter."""
    out = subprocess.run(
        [sys.executable, "-c",
         "import coinfactor as cf; print(cf.datasets.load('hyperliquid-perp-1d'))"],
        capture_output=True, text=True, check=True,
    ).stdout
    assert "shape: (85_757, 11)" in out
    assert "ts" in out and "symbol" in out and "UTC" in out
