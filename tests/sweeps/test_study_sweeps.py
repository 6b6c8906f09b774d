"""Sweeps of ``reversion`` and ``hedge_basket`` (small, on synthetic panels): every trial
equals a separate ``run`` of its parameters bit for bit (metrics and per-bar returns), and the
trials reuse the upstream stages they share (counted in ``compute.json``)."""

from __future__ import annotations

import dataclasses
import math
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from coinfactor.studies import (
    CostConfig,
    config_from_dict,
    config_to_dict,
    hedge_basket,
    reversion,
)
from coinfactor.sweeps import expand, parse_sweep, run_sweep
from support import ROOT
from support.hedge import SMALL, hedge_panel
from support.reversion_reference import dst_panel

QUIET = CostConfig(venue="binance-usdm", half_spread_bps=1.0, impact=0.0,
                   funding_missing="zero")  # see tests/studies/test_study_stages.py


def check_trials_equal_runs(out: Path, module: Any, base: Any, panel: pl.DataFrame,
                            swept: list[str]) -> None:
    """Each done trial's metrics and returns against ``module.run`` of its parameters."""
    trials = pl.read_parquet(out / "trials.parquet")
    returns = pl.read_parquet(out / "returns.parquet")
    assert (trials["status"] == "done").all(), trials["error"].to_list()
    for row in trials.iter_rows(named=True):
        cfg = dataclasses.replace(base, **{k: row[f"param.{k}"] for k in swept})
        ref = module.run(cfg, panel)
        for key, value in ref.metrics.items():
            if not isinstance(value, int | float):
                continue  # text metrics (the hedge's target) are not in the trials table
            got, want = row[key], float(value)
            assert got == want or (got is None and math.isnan(want)), key
        mine = returns.filter(pl.col("trial_id") == row["trial_id"])
        np.testing.assert_array_equal(mine["return"].to_numpy(),
                                      ref.tables["nav"]["ret"].to_numpy()[1:])


def test_reversion_sweep_equals_separate_runs(tmp_path: Path) -> None:
    panel = dst_panel(datetime(2025, 2, 24, tzinfo=UTC), 30,
                      symbols=tuple(f"S{i:02d}" for i in range(10)), seed=11)
    panel.write_parquet(tmp_path / "panel.parquet")
    base = reversion.Config(n=3, costs=QUIET)
    grid = {"n": [2, 3], "basket": ["short", "long_short"], "hour": [8, 20]}
    cfg = {"study": "reversion", "data": {"parquet": str(tmp_path / "panel.parquet")},
           "params": config_to_dict(base), "sweep": {"grid": grid}}
    res = run_sweep(cfg, tmp_path / "out", spa_reps=50, report=False)
    assert res.trials.height == 8
    stages = res.compute["stages"]
    assert stages["decisions"] == {"computed": 2, "reused": 6}  # one per hour
    assert stages["features"]["computed"] == 2 and stages["baskets"]["computed"] == 8
    check_trials_equal_runs(tmp_path / "out", reversion, base, panel, list(grid))


def test_hedge_sweep_equals_separate_runs(tmp_path: Path) -> None:
    panel = hedge_panel()
    panel.write_parquet(tmp_path / "panel.parquet")
    grid = {"lambda_funding": [0.0, 0.1], "target_weight": [0.5, 1.0]}
    cfg = {"study": "hedge_basket", "data": {"parquet": str(tmp_path / "panel.parquet")},
           "params": config_to_dict(SMALL), "sweep": {"grid": grid}}
    res = run_sweep(cfg, tmp_path / "out", spa_reps=50, report=False)
    assert res.trials.height == 4
    assert res.compute["stages"]["walk_forward"] == {"computed": 2, "reused": 2}
    check_trials_equal_runs(tmp_path / "out", hedge_basket, SMALL, panel, list(grid))


@pytest.mark.parametrize(("name", "module", "at_least"),
                         [("reversion", reversion, 12), ("hedge_basket", hedge_basket, 6)])
def test_example_sweep_files(name: str, module: Any, at_least: int) -> None:
    """``studies/<name>_sweep.toml``: the base of ``studies/<name>.toml``, a valid grid over
    parameters of more than one stage (so the sweep reuses the upstream ones)."""
    raw = tomllib.loads((ROOT / "studies" / f"{name}_sweep.toml").read_text())
    base = tomllib.loads((ROOT / "studies" / f"{name}.toml").read_text())
    assert raw["study"] == name and raw["params"] == base["params"]
    assert raw["data"] == base["data"]
    spec = parse_sweep(raw["sweep"], module.Config)
    points = expand(spec, module.Config)
    assert len(points) >= at_least
    for p in points:
        config_from_dict(module.Config, {**raw["params"], **p})  # every trial builds
    stage_of = {p: s.name for s in module.PIPELINE for p in s.params}
    assert len({stage_of[k] for k in spec.swept}) >= 2


def test_reversion_example_trials_equal_run_with_set() -> None:
    """Two trials of ``studies/reversion_sweep.toml`` run the sweep's way (one stage cache)
    equal ``coinfactor run studies/reversion.toml --set ...`` for their parameters."""
    from coinfactor.core.errors import DataWarning
    from coinfactor.studies import STUDIES, apply_overrides, load_study_data, run_config
    from coinfactor.sweeps import TrialTask, data_fingerprint, run_chunk
    from coinfactor.sweeps import trial_params as sweep_params

    raw = tomllib.loads((ROOT / "studies" / "reversion_sweep.toml").read_text())
    base = tomllib.loads((ROOT / "studies" / "reversion.toml").read_text())
    points = expand(parse_sweep(raw["sweep"], reversion.Config), reversion.Config)
    sample = [p for p in points if p["hour"] == 20 and p["basket"] == "long_short"][:2]
    panel, _ = load_study_data(raw["data"])
    tasks = [TrialTask(f"t{i}", i, p, sweep_params(raw["params"], p))
             for i, p in enumerate(sample)]
    # binance-perp-4h has no funding before 2026-01-12: every backtest says so
    with pytest.warns(DataWarning):
        records, counts = run_chunk(STUDIES["reversion"], data_fingerprint(panel), panel,
                                    tasks)
    assert counts["features"] == {"computed": 1, "reused": 1}
    for rec, values in zip(records, sample, strict=True):
        assert rec.status == "done", rec.error
        sets = [f"{k}={v}" for k, v in values.items()]
        with pytest.warns(DataWarning):
            ref = run_config(apply_overrides(base, sets))
        assert rec.metrics.keys() == ref.metrics.keys()
        for key, value in ref.metrics.items():
            assert rec.metrics[key] == value or (math.isnan(value) and math.isnan(
                rec.metrics[key])), (sets, key)
