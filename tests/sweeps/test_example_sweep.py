"""The committed example ``studies/carry_sweep.toml``: at least 100 trials over signal and
allocation parameters, and a sample of its trials (run the sweep's way: one stage cache
across them) equal ``coinfactor run studies/carry.toml --set ...`` for their parameters."""

from __future__ import annotations

import tomllib

import pytest
from typer.testing import CliRunner

from coinfactor.cli import app
from coinfactor.studies import STUDIES, apply_overrides, carry, load_study_data, run_config
from coinfactor.sweeps import TrialTask, data_fingerprint, expand, parse_sweep, run_chunk
from coinfactor.sweeps import trial_params as sweep_params
from support import ROOT

runner = CliRunner()


def test_example_sweep_trials_equal_run_with_set() -> None:
    raw = tomllib.loads((ROOT / "studies" / "carry_sweep.toml").read_text())
    base = tomllib.loads((ROOT / "studies" / "carry.toml").read_text())
    assert raw["params"] == base["params"] and raw["data"] == base["data"]
    spec = parse_sweep(raw["sweep"], carry.Config)
    points = expand(spec, carry.Config)
    assert len(points) >= 100
    assert {"carry_window", "sigmoid_k"} & set(spec.swept)  # signal parameters
    assert {"risk_aversion", "max_weight"} & set(spec.swept)  # allocation parameters
    panel, _ = load_study_data(raw["data"])
    # three trials sharing their signal (allocation reused) and one of another signal
    sample = [points[0], points[3], points[len(points) - 1]]
    tasks = [TrialTask(f"t{i}", i, p, sweep_params(raw["params"], p))
             for i, p in enumerate(sample)]
    records, counts = run_chunk(STUDIES["carry"], data_fingerprint(panel), panel, tasks)
    assert counts["signal"] == {"computed": 2, "reused": 1}
    for rec, values in zip(records, sample, strict=True):
        assert rec.status == "done", rec.error
        sets = [f"{k}={v}" for k, v in values.items()]
        ref = run_config(apply_overrides(base, sets))  # `coinfactor run carry.toml --set`
        assert rec.metrics == ref.metrics, sets


def test_run_on_the_sweep_file_runs_the_base_params(tmp_path: pytest.TempPathFactory) -> None:
    res = runner.invoke(app, ["run", str(ROOT / "studies" / "carry_sweep.toml"), "--out",
                              str(tmp_path / "run")])  # type: ignore[operator]
    assert res.exit_code == 0, res.output
    base = run_config(tomllib.loads((ROOT / "studies" / "carry.toml").read_text()))
    assert f"{base.metrics['sharpe_ratio']:.6g}" in res.output
