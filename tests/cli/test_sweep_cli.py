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


def test_cli_report_rebuilds_a_sweep_report(tmp_path: Path) -> None:
    """``coinfactor report DIR`` on a sweep directory writes the sweep report (not the study
    report, which would refuse the directory), names a changed file, and refuses a sweep
    that never finished with the command that finishes it."""
    cfg = carry_sweep_config(tmp_path / "panel.parquet", {"grid": {"risk_aversion": [1.0, 4.0]}})
    path = tmp_path / "sweep.toml"
    path.write_text(tomli_w.dumps(cfg))
    out = tmp_path / "out"
    assert runner.invoke(app, ["sweep", str(path), "--out", str(out)]).exit_code == 0
    first = (out / "report.html").read_text()
    (out / "report.html").unlink()
    res = runner.invoke(app, ["report", str(out)])
    assert res.exit_code == 0, res.output
    html = (out / "report.html").read_text()
    assert "Sweep of carry: 2 trials" in html and html == first
    compute = out / "compute.json"
    compute.write_text(compute.read_text().replace('"backend"', '"backend" ', 1))
    res = runner.invoke(app, ["report", str(out)])
    assert res.exit_code == 0, res.output
    assert "compute.json changed since the run was written" in (out / "report.html").read_text()
    (out / "trials.parquet").unlink()  # what a sweep stopped midway leaves: no tables yet
    res = runner.invoke(app, ["report", str(out)])
    assert res.exit_code == 2 and "--resume" in res.output
