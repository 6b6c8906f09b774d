"""Wall time and peak memory of the one-minute risk_model study (issue 19, compute stages).

    PYTHONPATH=src python benchmarks/bench_scale_compute.py [--coins 100,500]
                                                            [--bars 525600] [--dir DIR]

For each coin count, builds (once, in ``--dir``, default a temporary directory) a synthetic
panel of ``--bars`` one-minute bars per coin, one Parquet file per symbol (small row groups,
so that a time range reads little): correlated geometric Brownian motion with a market
factor, ``r_i = beta_i m + e_i``, with volume, quote volume and trade counts. (A local
generator: the shared synthetic minute-panel generator replaces it when it lands.) Then each
stage runs in a fresh subprocess, which reports its peak resident set (``VmHWM``, so the
interpreter and imports are included), with the parameters of ``studies/risk_model_1m.toml``
and the folder as ``[data] parquet_dir``:

1. ``factor returns``: :func:`coinfactor.risk.risk_model_blocks` without exposures (factor
   returns, memberships written as parts, look-ahead statistics);
2. ``+ exposures``: the study's ``run`` (factor returns, both factor sets' rolling
   exposures, the spreads' table written as parts, metrics, the per-day summary);
3. ``whole study``: ``run_config_file`` end to end (scan, run, run directory with
   report.html), as ``coinfactor run studies/risk_model_1m.toml``.

Each line gives the wall time, the time of the stage itself (the difference to the stage
before), the CPU time of the stage's process (user + system, all its threads), the peak RSS
and the one-minute load average when the stage ended (the machine may be shared: a load
above the CPU count means the wall times are inflated). The targets of issue 19 are a whole
study within 60 s and 4 GB at 100 coins x 525,600 bars, and the same memory bound (time
growing at most linearly) at 500 coins, whose ratio is printed.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

from _vmhwm import PEAK_KB  # benchmarks/ is the script's directory

ROOT = Path(__file__).resolve().parents[1]

_PRELUDE = """
import sys, tomllib, pathlib
sys.path[:0] = [SRC]
import polars as pl

raw = tomllib.loads(pathlib.Path(TOML).read_text())
raw['data'] = {'parquet_dir': FOLDER}
""" + PEAK_KB

STAGES: dict[str, str] = {
    "factor returns": (
        "from coinfactor.risk import risk_model_blocks\n"
        "from coinfactor.studies._data import load_study_data\n"
        "p = raw['params']\n"
        "lazy, _ = load_study_data(raw['data'], lazy=True)\n"
        "res = risk_model_blocks(lazy, families=p['families'], n_buckets=p['n_buckets'],\n"
        "    rebalance=p['rebalance'], liquidity=p['liquidity'],\n"
        "    liquidity_window=p['liquidity_window'], beta_window=p['beta_window'],\n"
        "    momentum_windows=p['momentum_windows'], window=p['window'], factor_sets=())\n"
        "assert res.factor_returns.height == BARS\n"
    ),
    "+ exposures": (
        "from coinfactor.studies import config_from_dict\n"
        "from coinfactor.studies._data import load_study_data\n"
        "from coinfactor.studies.risk_model import Config, run\n"
        "lazy, _ = load_study_data(raw['data'], lazy=True)\n"
        "result = run(config_from_dict(Config, raw['params']), lazy)\n"
        "assert result.metrics['exposure_cells'] > 0\n"
    ),
    "whole study": (
        "import tomli_w\n"
        "from coinfactor.studies import run_config_file\n"
        "cfg = pathlib.Path(DIR) / 'risk_model_1m.toml'\n"
        "cfg.write_text(tomli_w.dumps(raw))\n"
        "out = pathlib.Path(DIR) / 'run'\n"
        "run_config_file(cfg, out, overwrite=out.exists())\n"
        "assert (out / 'report.html').is_file()\n"
    ),
}


def build_folder(folder: Path, coins: int, bars: int, seed: int = 19) -> None:
    """Write one Parquet file per coin (correlated GBM with a market factor)."""
    import numpy as np
    import polars as pl

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    market = rng.normal(0.0, 6e-4, bars)          # per-minute market return
    start = pl.datetime(2024, 1, 1, time_zone="UTC")
    ts = pl.datetime_range(start, start + pl.duration(minutes=bars - 1), "1m", eager=True,
                           time_unit="us")
    for i in range(coins):
        beta = rng.uniform(0.4, 1.8)
        ret = beta * market + rng.normal(0.0, 9e-4, bars)
        close = rng.uniform(0.05, 5e4) * np.exp(np.cumsum(ret))
        open_ = np.concatenate([[close[0]], close[:-1]])
        wick = np.abs(rng.normal(0.0, 2e-4, bars))
        volume = rng.gamma(2.0, 50.0 * rng.uniform(0.1, 10.0), bars)
        pl.DataFrame({
            "ts": ts, "symbol": f"C{i:04d}USDT", "open": open_,
            "high": np.maximum(open_, close) * (1 + wick),
            "low": np.minimum(open_, close) * (1 - wick), "close": close,
            "volume": volume, "quote_volume": volume * close,
            "trades": rng.poisson(40.0 * rng.uniform(0.2, 5.0), bars).astype(np.int64),
        }).write_parquet(folder / f"C{i:04d}USDT.parquet", compression="zstd",
                         row_group_size=14_400)


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run_stage(name: str, folder: Path, bars: int, workdir: Path,
              src: Path) -> tuple[float, float, float]:
    """Run one stage in a fresh interpreter; return (peak RSS in bytes, seconds, CPU s)."""
    code = (f"SRC = {str(src)!r}\nTOML = {str(ROOT / 'studies/risk_model_1m.toml')!r}\n"
            f"FOLDER = {str(folder)!r}\nDIR = {str(workdir)!r}\nBARS = {bars}\n"
            + _PRELUDE + STAGES[name] + "print(peak_kb())\n")
    t0, c0 = time.perf_counter(), _children_cpu()
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=False)
    seconds, cpu = time.perf_counter() - t0, _children_cpu() - c0
    if done.returncode != 0:
        raise SystemExit(f"stage {name!r} failed:\n{done.stderr}")
    return int(done.stdout.strip().splitlines()[-1]) * 1024.0, seconds, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--coins", default="100,500", help="Comma-separated coin counts.")
    parser.add_argument("--bars", type=int, default=525_600, help="One-minute bars per coin.")
    parser.add_argument("--dir", type=Path, default=None,
                        help="Directory for the panels and runs (default: a temp dir).")
    parser.add_argument("--src", type=Path, default=ROOT / "src",
                        help="coinfactor source tree to measure (default: this checkout's).")
    parser.add_argument("--keep", action="store_true", help="Keep the panels.")
    parser.add_argument("--stages", default=",".join(STAGES),
                        help=f"Comma-separated stages among {list(STAGES)}.")
    args = parser.parse_args()
    params = tomllib.loads((ROOT / "studies/risk_model_1m.toml").read_text())["params"]
    workdir = args.dir or Path(tempfile.mkdtemp(prefix="coinfactor-scale-"))
    workdir.mkdir(parents=True, exist_ok=True)
    whole: dict[int, float] = {}
    try:
        for coins in [int(c) for c in args.coins.split(",")]:
            folder = workdir / f"minute_{coins}x{args.bars}"
            if not folder.exists():
                t0 = time.perf_counter()
                build_folder(folder, coins, args.bars)
                print(f"built {folder} in {time.perf_counter() - t0:.0f} s", flush=True)
            size = sum(p.stat().st_size for p in folder.glob("*.parquet"))
            print(f"\n{coins} coins x {args.bars:,} one-minute bars = {coins * args.bars:,} "
                  f"rows, {size / 1e9:.2f} GB Parquet; window {params['window']} bars, "
                  f"factor sets spreads + buckets")
            print(f"{'stage':<16} {'wall':>8} {'stage':>8} {'CPU':>8} {'peak RSS':>10} "
                  f"{'load':>6}  (load before: {os.getloadavg()[0]:.2f}, {os.cpu_count()} "
                  f"CPUs)")
            before = 0.0
            run_dir = workdir / f"run_{coins}"
            run_dir.mkdir(exist_ok=True)
            for name in args.stages.split(","):
                peak, seconds, cpu = run_stage(name.strip(), folder, args.bars, run_dir,
                                               args.src)
                print(f"{name:<16} {seconds:>6.1f} s {seconds - before:>6.1f} s "
                      f"{cpu:>6.1f} s {peak / 1e9:>7.2f} GB {os.getloadavg()[0]:>6.2f}",
                      flush=True)
                before = seconds
                whole[coins] = seconds
            shutil.rmtree(run_dir, ignore_errors=True)
            if not args.keep and args.dir is None:
                shutil.rmtree(folder, ignore_errors=True)
        if len(whole) > 1:
            (c0, t0), *rest = sorted(whole.items())
            for c, t in rest:
                print(f"\ntime ratio {c} / {c0} coins: {t / t0:.2f} (coins ratio "
                      f"{c / c0:.1f})")
    finally:
        if not args.keep and args.dir is None:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
