"""Sweeps on a Dask LocalCluster (2 worker processes on 127.0.0.1), through its address.

Reference: the same sweep run in this process (one worker, no cluster); the results must be
identical bit for bit. A trial that raises is recorded as failed while the others complete;
a sweep interrupted midway and resumed computes only the missing trials (counted both by the
sweep and by files the toy study's evaluations leave, across processes).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

from coinfactor.studies import STUDIES
from coinfactor.sweeps import run_sweep
from support.sweeps import carry_panel, carry_sweep_config

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def scheduler() -> Iterator[str]:
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       host="127.0.0.1", dashboard_address=None,
                                       scheduler_kwargs={"dashboard": False,
                                                         "dashboard_address": "127.0.0.1:0"})
    try:
        yield cluster.scheduler_address
    finally:
        cluster.close()


@pytest.fixture
def toy(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict:
    monkeypatch.setitem(STUDIES, "toy", "support.sweeps")
    carry_panel(n_s=2, n_t=80).write_parquet(tmp_path / "p.parquet")
    return {"study": "toy", "data": {"parquet": str(tmp_path / "p.parquet")}, "params": {}}


def test_cluster_sweep_equals_in_process(scheduler: str, tmp_path: Path) -> None:
    cfg = carry_sweep_config(tmp_path / "panel.parquet",
                             {"grid": {"carry_window": [2, 4], "risk_aversion": [1.0, 4.0],
                                       "vol_target": [0.2, 0.3]}})
    local = run_sweep(cfg, tmp_path / "local", spa_reps=100, report=False)
    remote = run_sweep(cfg, tmp_path / "remote", scheduler=scheduler, spa_reps=100,
                       report=False, chunk_size=2)
    assert remote.compute["workers"] == 2 and remote.compute["backend"].startswith("scheduler")
    assert local.trials.drop("seconds").equals(remote.trials.drop("seconds"))
    for name in ("returns.parquet",):
        assert pl.read_parquet(tmp_path / "local" / name).equals(
            pl.read_parquet(tmp_path / "remote" / name))
    assert local.overfitting == remote.overfitting
    workers = {w for (w,) in __import__("duckdb").connect(
        str(tmp_path / "remote" / "ledger.duckdb"), read_only=True).execute(
        "SELECT DISTINCT worker FROM trials").fetchall()}
    assert len(workers) == 2  # both worker processes ran trials


def test_a_raising_trial_is_recorded_while_the_others_complete(scheduler: str, toy: dict,
                                                                tmp_path: Path) -> None:
    cfg = {**toy, "sweep": {"grid": {"seed": list(range(6)), "fail": [False, True]}}}
    res = run_sweep(cfg, tmp_path / "out", scheduler=scheduler, spa_reps=50, report=False,
                    chunk_size=3)
    done = res.trials.filter(pl.col("status") == "done")
    failed = res.trials.filter(pl.col("status") == "failed")
    assert done.height == 6 and failed.height == 6
    assert failed["error"].str.starts_with("RuntimeError: toy trial asked to fail").all()


def test_interrupted_sweep_resumes_with_only_the_missing_trials(scheduler: str, toy: dict,
                                                                 tmp_path: Path) -> None:
    counts = tmp_path / "counts"
    counts.mkdir()
    cfg = {**toy, "params": {"count_dir": str(counts)},
           "sweep": {"grid": {"seed": list(range(20))}}}
    calls = []

    def stop_after_two_chunks(done: int, total: int) -> None:
        calls.append(done)
        if len(calls) == 3:  # the initial call, then two chunks
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_sweep(cfg, tmp_path / "out", scheduler=scheduler, chunk_size=2,
                  progress=stop_after_two_chunks, report=False)
    import duckdb

    con = duckdb.connect(str(tmp_path / "out" / "ledger.duckdb"), read_only=True)
    kept = con.execute("SELECT count(*) FROM trials WHERE status = 'done'").fetchone()[0]
    con.close()
    assert 4 <= kept < 20  # the two chunks recorded (more may have landed meanwhile)
    for f in counts.iterdir():
        f.unlink()
    res = run_sweep(cfg, tmp_path / "out", scheduler=scheduler, resume=True, spa_reps=50,
                    report=False)
    assert res.n_computed == 20 - kept
    assert len(list(counts.iterdir())) == 20 - kept  # evaluations run by the workers
    assert res.trials.height == 20 and (res.trials["status"] == "done").all()


def test_local_cluster_from_workers(toy: dict, tmp_path: Path) -> None:
    """``workers=2`` starts (and closes) its own LocalCluster on 127.0.0.1."""
    cfg = {**toy, "sweep": {"grid": {"seed": list(range(8))}}}
    res = run_sweep(cfg, tmp_path / "out", workers=2, spa_reps=50, report=False)
    ref = run_sweep(cfg, tmp_path / "ref", spa_reps=50, report=False)
    assert res.compute["backend"] == "LocalCluster of 2 processes"
    assert res.trials.drop("seconds").equals(ref.trials.drop("seconds"))
