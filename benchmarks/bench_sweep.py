"""Benchmark parameter sweeps: stage reuse, Dask workers, executor overhead, 1,000 trials.

Run:  PYTHONPATH=src:tests python benchmarks/bench_sweep.py [--quick]

Prints, measured in one run on the embedded ``hyperliquid-perp-1d`` panel:
  (a) a 200-trial carry sweep varying only allocation parameters (in-process, stage reuse)
      against 200 separate ``carry.run`` calls in one process (target >= 5x);
  (b) a sweep over signal parameters on a 2-worker LocalCluster against 1 worker (in this
      process) (target >= 1.6x);
  (c) executor overhead per trivial trial (the test-only ``toy`` study, in-process and on
      2 workers) (target <= 5 ms);
  (d) 1,000 carry trials (10 signal x 100 allocation settings) on 2 workers (target <= 60 s).
``--quick`` runs a tenth of each for a smoke test. Timings are wall clock: on a shared or busy
machine they vary by tens of percent between runs.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from coinfactor import datasets
from coinfactor.studies import STUDIES, carry
from coinfactor.sweeps import run_sweep

DATA = {"dataset": "hyperliquid-perp-1d"}
ALLOCATION_GRID = {"risk_aversion": [0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0],
                   "max_weight": [0.1, 0.15, 0.2, 0.25, 0.3],
                   "turnover_cap": [0.2, 0.3, 0.5, 1.0]}  # 200 trials


def _sweep(grid: dict, out: Path, **kw: object) -> tuple[float, object]:
    cfg = {"study": "carry", "data": DATA, "params": {}, "sweep": {"grid": grid}}
    t = time.perf_counter()
    res = run_sweep(cfg, out, report=False, spa_reps=200, **kw)  # type: ignore[arg-type]
    return time.perf_counter() - t, res


def bench_reuse(tmp: Path, quick: bool) -> None:
    grid = dict(ALLOCATION_GRID)
    if quick:
        grid = {"risk_aversion": grid["risk_aversion"][:5], "max_weight": [0.1, 0.2, 0.3],
                "turnover_cap": [0.3]}
    n = len(grid["risk_aversion"]) * len(grid["max_weight"]) * len(grid["turnover_cap"])
    panel = datasets.load("hyperliquid-perp-1d")
    # both paths warmed first in this process (the compiled loops' cache, the sweep's
    # imports: arch for SPA), so each side is timed at its steady cost
    carry.run(carry.Config(), panel)
    _sweep({"risk_aversion": [1.0, 2.0]}, tmp / "warm")
    t, cpu = time.perf_counter(), time.process_time()
    for ra in grid["risk_aversion"]:
        for mw in grid["max_weight"]:
            for tc in grid["turnover_cap"]:
                carry.run(carry.Config(risk_aversion=ra, max_weight=mw, turnover_cap=tc), panel)
    separate, separate_cpu = time.perf_counter() - t, time.process_time() - cpu
    cpu = time.process_time()
    swept, res = _sweep(grid, tmp / "a")
    swept_cpu = time.process_time() - cpu
    c = res.compute  # type: ignore[attr-defined]
    phases = c["phase_seconds"]
    print(f"(a) {n} allocation-only trials: {n} separate carry.run {separate:.1f} s, "
          f"sweep {swept:.1f} s (stage reuse {c['stages'].get('sizing')}) -> "
          f"{separate / swept:.1f}x (target >= 5x); in CPU seconds of this process (steadier "
          f"on a shared machine) {separate_cpu:.1f} s vs {swept_cpu:.1f} s -> "
          f"{separate_cpu / swept_cpu:.1f}x")
    print(f"    the sweep: load {phases['load']:.1f} s, plan and trials "
          f"{phases['plan_and_execute']:.1f} s ({c['seconds_per_trial'] * 1e3:.0f} ms a trial; "
          f"{separate / n * 1e3:.0f} ms a separate run), statistics {phases['statistics']:.1f} s "
          "(both sides warmed first: the numba cache and the imports); trials alone "
          f"{separate / c['execute_seconds']:.1f}x")


def bench_workers(tmp: Path, quick: bool) -> None:
    grid = {"carry_window": [3, 5, 7, 10, 14, 21, 30, 45] if not quick else [3, 7],
            "sigmoid_k": [1.0, 2.0, 4.0], "n_buckets": [5, 10], "winsor_lower": [0.01, 0.05]}
    one, res1 = _sweep(grid, tmp / "b1")
    two, res2 = _sweep(grid, tmp / "b2", workers=2)
    same = res1.trials.drop("seconds").equals(res2.trials.drop("seconds"))  # type: ignore[attr-defined]
    e1 = res1.compute["execute_seconds"]  # type: ignore[attr-defined]
    e2 = res2.compute["execute_seconds"]  # type: ignore[attr-defined]
    print(f"(b) {res1.trials.height} signal trials: trials executed in {e1:.1f} s on 1 worker, "  # type: ignore[attr-defined]
          f"{e2:.1f} s on 2 -> {e1 / e2:.2f}x (target >= 1.6x); whole sweep wall {one:.1f} s "
          f"vs {two:.1f} s with the LocalCluster start -> {one / two:.2f}x; identical "
          f"results: {same}")
    ms1 = res1.compute["seconds_per_trial"] * 1e3  # type: ignore[attr-defined]
    ms2 = res2.compute["seconds_per_trial"] * 1e3  # type: ignore[attr-defined]
    print(f"    {_busy(tmp / 'b2', e2)}; a trial took {ms1:.0f} ms in-process, {ms2:.0f} ms "
          "on a worker")
    bench_machine()


def _busy(out: Path, execute: float) -> str:
    """Each worker's seconds inside trials over the executing wall time (from the ledger).

    Both near 100% with slower trials than in-process: the cores are shared (a loaded
    machine); well below 100%: the workers waited (dispatch, an uneven split).
    """
    import duckdb

    con = duckdb.connect(str(out / "ledger.duckdb"), read_only=True)
    rows = con.execute("SELECT worker, count(*), sum(seconds) FROM trials GROUP BY worker "
                       "ORDER BY worker").fetchall()
    con.close()
    parts = [f"{n} trials, {secs / execute:.0%} busy" for _, n, secs in rows]
    return "workers: " + "; ".join(parts)


def _trial_seconds(offset: int) -> float:
    """Mean seconds of 12 carry trials (distinct signals) in this process, warm."""
    from coinfactor.studies import config_to_dict
    from coinfactor.sweeps import TrialTask, data_fingerprint, run_chunk

    panel = datasets.load("hyperliquid-perp-1d")
    fp = data_fingerprint(panel)

    def tasks(off: int) -> list[TrialTask]:
        return [TrialTask(f"t{i}", i, {}, config_to_dict(carry.Config(carry_window=3 + i + off)))
                for i in range(12)]

    run_chunk(STUDIES["carry"], fp, panel, tasks(offset + 100))
    recs, _ = run_chunk(STUDIES["carry"], fp, panel, tasks(offset))
    return sum(r.seconds for r in recs) / len(recs)


def bench_machine() -> None:
    """How much parallel CPU the machine gives right now: plain processes, no Dask."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    with ctx.Pool(1) as pool:
        alone = pool.map(_trial_seconds, [0])
    with ctx.Pool(2) as pool:
        pair = pool.map(_trial_seconds, [0, 50])
    print(f"    machine now: a carry trial takes {alone[0] * 1e3:.0f} ms in a process alone, "
          f"{max(pair) * 1e3:.0f} ms when two processes run at once (no Dask): a ratio near "
          "2 means one core's worth is free, and no 2-worker speed-up can show")


def bench_overhead(tmp: Path, quick: bool) -> None:
    """Executor overhead: the executor loop's wall time (dispatch, results, ledger writes)
    minus the time spent inside the trials, per trial (``compute.json`` execute_seconds)."""
    STUDIES["toy"] = "support.sweeps"
    n = 200 if quick else 2000
    cfg = {"study": "toy", "data": {"dataset": "hyperliquid-perp-1d", "symbols": ["BTC"]},
           "params": {}, "sweep": {"grid": {"seed": list(range(n))}}}
    res = run_sweep(cfg, tmp / "c1", report=False, spa_reps=10)
    loop = res.compute["execute_seconds"]
    work = float(res.trials["seconds"].sum())
    print(f"(c) {n} trivial trials in-process: executor loop {loop:.2f} s, {work:.2f} s inside "
          f"the trials -> overhead {(loop - work) / n * 1e3:.2f} ms per trial "
          f"(target <= 5 ms)")
    res = run_sweep(cfg, tmp / "c2", report=False, spa_reps=10, workers=2)
    loop2 = res.compute["execute_seconds"]
    work2 = float(res.trials["seconds"].sum())
    print(f"    on a 2-worker LocalCluster: executor loop {loop2:.2f} s ({loop2 / n * 1e3:.2f} ms "
          f"wall per trial; {(2 * loop2 - work2) / n * 1e3:.2f} worker-ms per trial of "
          "overhead, the first tasks' imports on each worker included)")


def bench_thousand(tmp: Path, quick: bool) -> None:
    grid = {"carry_window": [3, 5, 7, 10, 14], "sigmoid_k": [1.0, 4.0],
            "risk_aversion": [0.5, 1.0, 2.0, 4.0, 8.0], "max_weight": [0.1, 0.2, 0.3, 0.4],
            "turnover_cap": [0.2, 0.3, 0.5, 1.0, 2.0]}
    if quick:
        grid = {**grid, "carry_window": [7], "sigmoid_k": [2.0]}
    wall, res = _sweep(grid, tmp / "d", workers=2)
    print(f"(d) {res.trials.height} carry trials on 2 workers: {wall:.1f} s wall "  # type: ignore[attr-defined]
          f"(target <= 60 s); failed {res.compute['failed']}")  # type: ignore[attr-defined]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", default="abcd")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench_sweep_"))
    try:
        for key, fn in (("a", bench_reuse), ("b", bench_workers), ("c", bench_overhead),
                        ("d", bench_thousand)):
            if key in args.only:
                fn(tmp, args.quick)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
