"""Sweeps in this process: ledger, tables, statistics, resume, failures, directory rules,
walk-forward against a naive loop, and trials equal to separate ``carry.run`` calls."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pytest

from coinfactor.analytics import probability_of_backtest_overfitting, sharpe_ratio
from coinfactor.core.errors import ConfigError
from coinfactor.studies import STUDIES, carry
from coinfactor.sweeps import returns_matrix, run_sweep
from support.sweeps import SMALL_CARRY, carry_panel, carry_sweep_config

GRID = {"grid": {"carry_window": [2, 3], "risk_aversion": [1.0, 4.0]}}


@pytest.fixture(scope="module")
def swept(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, object]:
    tmp = tmp_path_factory.mktemp("sweep")
    cfg = carry_sweep_config(tmp / "panel.parquet", GRID)
    res = run_sweep(cfg, tmp / "out", spa_reps=100, walk_forward_spec="train=60d,test=30d")
    return tmp, cfg, res


def test_trials_equal_separate_runs(swept: tuple) -> None:
    """Reference: ``carry.run`` with each trial's parameters, on the same panel."""
    tmp, _, _ = swept
    panel = carry_panel()
    trials = pl.read_parquet(tmp / "out" / "trials.parquet")
    returns = pl.read_parquet(tmp / "out" / "returns.parquet")
    assert trials.height == 4 and (trials["status"] == "done").all()
    assert returns.columns == ["ts", "trial_id", "return"]
    for row in trials.iter_rows(named=True):
        cfg = carry.Config(**{**SMALL_CARRY, "carry_window": row["param.carry_window"],
                              "risk_aversion": row["param.risk_aversion"]})
        ref = carry.run(cfg, panel)
        for key, value in ref.metrics.items():
            got = row[key]
            assert got == (float(value) if not isinstance(value, float) or value == value
                           else None) or (got is None and value != value), key
        mine = returns.filter(pl.col("trial_id") == row["trial_id"])
        np.testing.assert_array_equal(mine["return"].to_numpy(),
                                      ref.tables["nav"]["ret"].to_numpy()[1:])


def test_outputs_and_ledger(swept: tuple) -> None:
    tmp, _, res = swept
    out = tmp / "out"
    names = {p.name for p in out.iterdir()}
    assert {"ledger.duckdb", "trials.parquet", "returns.parquet", "overfitting.json",
            "compute.json", "report.html", "manifest.json", "sweep.toml",
            "walk_forward.parquet"} <= names
    stats = json.loads((out / "overfitting.json").read_text())
    for key in ("n_trials", "best_trial", "sharpe_best", "psr", "dsr", "pbo", "spa_pvalue"):
        assert key in stats
    assert stats["n_trials"] == 4
    trials = res.trials
    best = trials.sort("sharpe_ratio", descending=True).row(0, named=True)
    assert stats["best_trial"] == best["trial_id"] and stats["sharpe_best"] == \
        best["sharpe_ratio"]
    con = duckdb.connect(str(out / "ledger.duckdb"), read_only=True)
    rows = con.execute("SELECT trial_id, status, seconds, params FROM trials").fetchall()
    con.close()
    assert len(rows) == 4 and all(r[1] == "done" and r[2] > 0 for r in rows)
    assert json.loads(rows[0][3]).keys() == {"carry_window", "risk_aversion"}
    compute = json.loads((out / "compute.json").read_text())
    assert compute["stages"]["universe"] == {"computed": 1, "reused": 3}
    html = (out / "report.html").read_text()
    for text in ("PBO", "DSR", "SPA", "Walk-forward", "Heatmaps of sharpe_ratio", "Compute"):
        assert text in html


def test_pbo_of_the_sweep_equals_cscv_on_the_returns(swept: tuple) -> None:
    """Reference: the analytics function on the pivoted returns, called directly."""
    tmp, _, res = swept
    returns = pl.read_parquet(tmp / "out" / "returns.parquet")
    ids = res.trials["trial_id"].to_list()
    _, mat = returns_matrix(returns, ids)
    direct = probability_of_backtest_overfitting(mat, n_partitions=16)
    assert res.overfitting["pbo"] == direct.pbo


def test_walk_forward_equals_a_naive_loop(swept: tuple) -> None:
    """Reference: windows walked by hand over the pivoted returns (train 60d, test 30d)."""
    tmp, _, res = swept
    returns = pl.read_parquet(tmp / "out" / "returns.parquet")
    ids = res.trials["trial_id"].to_list()
    ts, mat = returns_matrix(returns, ids)
    t = ts.to_list()
    day = t[1] - t[0]
    start, expected = t[0], []
    while True:
        train = [i for i, x in enumerate(t) if start <= x < start + 60 * day]
        test = [i for i, x in enumerate(t) if start + 60 * day <= x < start + 90 * day]
        if not train or train[-1] == len(t) - 1:
            break
        if len(train) >= 2 and test:
            scores = [sharpe_ratio(mat[train, j], periods_per_year=365.0)
                      for j in range(len(ids))]
            j = int(np.nanargmax(scores))
            expected.extend(mat[test, j].tolist())
        start += 30 * day
    got = res.walk_forward.returns["return"].to_list()
    assert got == expected


def test_rerun_recomputes_nothing_and_a_new_trial_only_itself(swept: tuple) -> None:
    tmp, cfg, _ = swept
    again = run_sweep(cfg, tmp / "out", spa_reps=100, report=False)
    assert again.n_computed == 0 and again.compute["skipped"] == 4
    more = {**cfg, "sweep": {"grid": {"carry_window": [2, 3],
                                      "risk_aversion": [1.0, 4.0, 8.0]}}}
    bigger = run_sweep(more, tmp / "out", spa_reps=100, report=False, resume=True)
    assert bigger.n_computed == 2 and bigger.trials.height == 6


def test_failing_trials_are_recorded_and_the_sweep_goes_on(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(STUDIES, "toy", "support.sweeps")
    carry_panel(n_s=2, n_t=60).write_parquet(tmp_path / "p.parquet")
    cfg = {"study": "toy", "data": {"parquet": str(tmp_path / "p.parquet")}, "params": {},
           "sweep": {"grid": {"seed": [1, 2, 3], "fail": [False, True]}}}
    res = run_sweep(cfg, tmp_path / "out", spa_reps=50)
    status = dict(zip(res.trials["param.fail"].to_list(), res.trials["status"].to_list(),
                      strict=False))
    assert status == {False: "done", True: "failed"}
    failed = res.trials.filter(pl.col("status") == "failed")
    assert failed.height == 3 and failed["error"].str.contains("asked to fail").all()
    assert res.overfitting["n_trials"] == 3 and res.overfitting["n_failed"] == 3
    bad = {**cfg, "sweep": {"grid": {"seed": ["x", 1]}}}  # a config that cannot be built
    res2 = run_sweep(bad, tmp_path / "out2", spa_reps=50, report=False)
    assert res2.trials.filter(pl.col("status") == "failed")["error"].str.contains(
        "ConfigError").all()


def test_directory_rules(tmp_path: Path) -> None:
    cfg = carry_sweep_config(tmp_path / "panel.parquet", {"grid": {"lag": [0]}})
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="not a coinfactor sweep directory"):
        run_sweep(cfg, other)
    with pytest.raises(ConfigError, match="holds no sweep to resume"):
        run_sweep(cfg, tmp_path / "new", resume=True)
    with pytest.raises(ConfigError, match=r"no \[sweep\] table"):
        run_sweep({k: v for k, v in cfg.items() if k != "sweep"}, tmp_path / "x")
    with pytest.raises(ConfigError, match="exclude each other"):
        run_sweep(cfg, tmp_path / "x", workers=2, scheduler="tcp://127.0.0.1:1")
    assert not (tmp_path / "x").exists() and (other / "notes.txt").read_text() == "mine"


def test_chunks_pack_small_groups_and_cut_large_ones() -> None:
    """Reference: the chunks written out by hand for groups of sizes 5, 1, 1, 2, 1 (size 3)."""
    from coinfactor.sweeps import TrialTask
    from coinfactor.sweeps._sweep import _chunks

    sizes = [5, 1, 1, 2, 1]
    groups = {}
    tasks = []
    for g, k in enumerate(sizes):
        for _ in range(k):
            tid = f"t{len(tasks)}"
            groups[tid] = g
            tasks.append(TrialTask(tid, len(tasks), {}, {}))
    got = [(label, [t.trial_id for t in chunk]) for label, chunk in _chunks(tasks, groups, 3)]
    assert got == [(0, ["t0", "t1", "t2"]), (0, ["t3", "t4"]),  # group 0, cut: one unit
                   (5, ["t5", "t6"]),  # groups 1 and 2 packed whole (group 3 would not fit)
                   (6, ["t7", "t8", "t9"])]  # groups 3 and 4
