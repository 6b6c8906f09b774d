"""The chunked risk model on a Dask LocalCluster (2 worker processes on 127.0.0.1).

Reference: the same computation in this process; every table must be identical bit for bit
(the tasks are pure functions of their arguments), and progress is reported once per task.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from coinfactor.risk import risk_model_blocks
from support.random_panels import ragged_panel

distributed = pytest.importorskip("distributed")

KW = {"families": ("liquidity", "beta", "momentum"), "liquidity_window": 30,
      "beta_window": 40, "momentum_windows": (10, 25), "window": 24, "min_nobs": 12,
      "factor_sets": ("spreads", "buckets"), "block_rows": 72, "factor_rows": 144,
      "coin_block": 4}


@pytest.fixture(scope="module")
def scheduler() -> Iterator[str]:
    import dask

    # as the sweeps' executor: no MALLOC_TRIM_THRESHOLD_ on the workers, no profiler
    env = dict(dask.config.get("distributed.nanny.pre-spawn-environ", {}) or {})
    env.pop("MALLOC_TRIM_THRESHOLD_", None)
    with dask.config.set({"distributed.nanny.pre-spawn-environ": env,
                          "distributed.worker.profile.enabled": False}):
        cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                           host="127.0.0.1", dashboard_address=None,
                                           scheduler_kwargs={"dashboard": False,
                                                             "dashboard_address": "127.0.0.1:0"})
    try:
        yield cluster.scheduler_address
    finally:
        cluster.close()


def test_cluster_equals_local_bit_for_bit(scheduler: str) -> None:
    panel = ragged_panel(5, n_symbols=9, n_bars=300, gap_prob=0.05)
    local = risk_model_blocks(panel, **KW)  # type: ignore[arg-type]
    seen: list[tuple[int, int]] = []
    remote = risk_model_blocks(panel, **KW, scheduler=scheduler,  # type: ignore[arg-type]
                               progress=lambda done, total, _t: seen.append((done, total)))
    assert remote.tasks == local.tasks == len(seen) and seen[-1] == (remote.tasks,) * 2
    assert [d for d, _ in seen] == list(range(1, remote.tasks + 1))
    assert remote.factor_returns.equals(local.factor_returns)
    assert remote.memberships.collect().equals(local.memberships.collect())
    for s in ("spreads", "buckets"):
        assert remote.exposures[s].collect().equals(local.exposures[s].collect()), s
    assert remote.fit == local.fit and remote.lookahead == local.lookahead
    assert remote.daily.equals(local.daily)


def test_cli_run_with_scheduler_equals_the_local_run(scheduler: str, tmp_path) -> None:
    """``coinfactor run ... --scheduler ADDRESS`` writes the tables of the local run."""
    import polars as pl
    from typer.testing import CliRunner

    from coinfactor.cli import app

    cfg = tmp_path / "rm.toml"
    cfg.write_text('study = "risk_model"\n[data]\ndataset = "binance-perp-4h"\n'
                   'start = "2025-06-01"\n', "utf-8")
    runner = CliRunner()
    local = runner.invoke(app, ["run", str(cfg), "--out", str(tmp_path / "local")])
    assert local.exit_code == 0, local.output
    remote = runner.invoke(app, ["run", str(cfg), "--out", str(tmp_path / "remote"),
                                 "--scheduler", scheduler])
    assert remote.exit_code == 0, remote.output
    for name in ("exposures", "memberships"):
        a = pl.read_parquet(tmp_path / "local" / name / "*.parquet")
        b = pl.read_parquet(tmp_path / "remote" / name / "*.parquet")
        assert a.equals(b), name
    for name in ("factor_returns", "exposures_daily"):
        assert pl.read_parquet(tmp_path / "local" / f"{name}.parquet").equals(
            pl.read_parquet(tmp_path / "remote" / f"{name}.parquet")), name
    assert ((tmp_path / "local" / "metrics.json").read_text()
            == (tmp_path / "remote" / "metrics.json").read_text())
    # a study without block tasks refuses the option
    carry = tmp_path / "carry.toml"
    carry.write_text('study = "carry"\n[data]\ndataset = "hyperliquid-perp-1d"\n', "utf-8")
    res = runner.invoke(app, ["run", str(carry), "--out", str(tmp_path / "c"),
                              "--scheduler", scheduler])
    assert res.exit_code != 0 and "does not run on Dask" in res.output
