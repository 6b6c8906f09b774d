"""``coinfactor sweep FILE --out DIR``: a small carry sweep, its files, clean errors."""

from __future__ import annotations

import json
from pathlib import Path

import tomli_w
from typer.testing import CliRunner

from coinfactor.cli import app
from support.sweeps import carry_sweep_config

runner = CliRunner()


def test_cli_sweep_writes_the_sweep_directory(tmp_path: Path) -> None:
    cfg = carry_sweep_config(tmp_path / "panel.parquet",
                             {"grid": {"risk_aversion": [1.0, 4.0]}, "select": "sharpe_ratio"})
    path = tmp_path / "sweep.toml"
    path.write_text(tomli_w.dumps(cfg))
    out = tmp_path / "out"
    res = runner.invoke(app, ["sweep", str(path), "--out", str(out), "--set", "carry_window=4",
                              "--walk-forward", "train=60d,test=30d"])
    assert res.exit_code == 0, res.output
    assert "sweep of carry: 2 trials" in res.output and "walk-forward sharpe" in res.output
    stats = json.loads((out / "overfitting.json").read_text())
    assert stats["n_trials"] == 2
    trials = (out / "sweep.toml").read_text()
    assert "carry_window = 4" in trials  # the --set is part of the recorded config
    again = runner.invoke(app, ["sweep", str(path), "--out", str(out), "--set",
                                "carry_window=4", "--resume"])
    assert again.exit_code == 0 and "0 computed, 2 already done" in again.output
    bad = runner.invoke(app, ["sweep", str(path), "--out", str(tmp_path / "o2"),
                              "--walk-forward", "train=60d"])
    assert bad.exit_code == 2 and "needs both train= and test=" in bad.output
    run_dir = runner.invoke(app, ["run", str(path), "--out", str(tmp_path / "run")])
    assert run_dir.exit_code == 0, run_dir.output
    refused = runner.invoke(app, ["sweep", str(path), "--out", str(tmp_path / "run")])
    assert refused.exit_code == 2 and "study 'carry'" in refused.output
