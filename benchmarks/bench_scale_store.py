"""Minute data at scale, data stages: import, rollup, one-coin-month query (issue 19).

    PYTHONPATH=src python benchmarks/bench_scale_store.py [--coins 100] [--bars 525600]
        [--format parquet|csv.gz] [--baseline 100] [--dir DIR] [--keep]

Writes a SYNTHETIC minute panel (:mod:`coinfactor.datasets._synthetic_minutes`: correlated
GBM with a market factor, listings, delistings, gaps) as one file per symbol in seed 000's
layout, then runs each stage in a fresh subprocess and prints its wall time and peak RSS
(``VmHWM`` of the subprocess, interpreter and imports included; see bench_memory.py):

1. ``import``: ``Store.import_minutes(folder)`` into a new store (validation, Parquet
   partitions, catalog, 1h/1d rollups, one transaction); rows/s against the target of
   5 M rows/s;
2. ``rollup``: ``Store.refresh_rollups`` (every month's 1h and 1d bars rebuilt from the stored
   minutes), the rollup work of the import on its own;
3. ``query``: ``Store.query_bars(freq="1m")`` of one coin over one month (June), the first
   call (cold: opening the store included) and the median of 20 more; target 50 ms;
4. ``scan``: ``Store.scan_minutes`` of every coin, streamed through a per-coin aggregate
   (what a lazy one-minute study does, block by block): rows/s, and a peak RSS set by the
   scan's batches, not by the store's size.

With ``--coins`` above ``--baseline`` (default 100) the baseline is run too and the ratio of
their times printed (the target: growing at most linearly in coins). Files and stores live
under ``--dir`` (default a temporary directory, removed at the end unless ``--keep``). Each
line also shows the stage's CPU time (user + system over all its threads: what the work
costs whatever else runs) and the machine's 1-minute load average when the stage started.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _vmhwm import PEAK_KB  # benchmarks/ is the script's directory

ROOT = Path(__file__).resolve().parents[1]

_PRELUDE = """
import sys, time, statistics
sys.path[:0] = [SRC]
from pathlib import Path
from coinfactor.data.store import Store

import resource

def cpu_s():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime

""" + PEAK_KB

STAGES: dict[str, str] = {
    "import": (
        "t0 = time.perf_counter()\n"
        "with Store(DB) as s:\n"
        "    c = s.import_minutes(FILES, exchange='synthetic', market='swap')\n"
        "seconds = time.perf_counter() - t0\n"
        "extra = f'{c.bars_rows:,} rows, {c.bars_rows / seconds / 1e6:.2f} M rows/s'\n"
    ),
    "rollup": (
        "t0 = time.perf_counter()\n"
        "with Store(DB) as s:\n"
        "    months = s.refresh_rollups(exchange='synthetic', market='swap')\n"
        "    n = s.coverage(freq='1h')['bars'].sum()\n"
        "seconds = time.perf_counter() - t0\n"
        "extra = f'{months:,} symbol-months, {n:,} hourly bars'\n"
    ),
    "query": (
        "t0 = time.perf_counter()\n"
        "q = dict(exchange='synthetic', freq='1m', symbols=['S0000USDT'],\n"
        "         start='2024-06-01', end='2024-07-01')\n"
        "s = Store(DB)\n"
        "panel = s.query_bars(**q)\n"
        "cold = time.perf_counter() - t0\n"
        "warm = []\n"
        "for _ in range(20):\n"
        "    t1 = time.perf_counter(); s.query_bars(**q); warm.append(time.perf_counter() - t1)\n"
        "s.close()\n"
        "seconds = cold + sum(warm)\n"
        "extra = (f'{panel.height:,} bars; cold {cold * 1e3:.1f} ms, warm median '\n"
        "         f'{statistics.median(warm) * 1e3:.1f} ms')\n"
    ),
    "scan": (
        "import polars as pl\n"
        "t0 = time.perf_counter()\n"
        "with Store(DB) as s:\n"
        "    scan = s.scan_minutes(exchange='synthetic')\n"
        "    per_coin = scan.group_by('symbol').agg(pl.len(), pl.col('close').mean(),\n"
        "                                           pl.col('volume').sum())\n"
        "    out = per_coin.collect(engine='streaming')\n"
        "seconds = time.perf_counter() - t0\n"
        "rows = int(out['len'].sum())\n"
        "extra = f'{rows:,} rows of {out.height} coins, {rows / seconds / 1e6:.1f} M rows/s'\n"
    ),
}


def run_stage(name: str, files: Path, db: Path, src: Path
              ) -> tuple[float, float, float, str]:
    """Run one stage in a fresh interpreter; return (seconds, peak RSS bytes, CPU s, details).

    ``seconds`` is timed inside the stage (imports excluded); the CPU time (user + system,
    all threads) is the whole subprocess's.
    """
    code = (f"SRC = {str(src)!r}\n" + _PRELUDE + f"FILES = Path({str(files)!r})\n"
            f"DB = Path({str(db)!r})\n" + STAGES[name]
            + "print(seconds, peak_kb(), cpu_s(), extra, sep='\\t')\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=False)
    if done.returncode != 0:
        raise SystemExit(f"stage {name!r} failed:\n{done.stderr}")
    seconds, kb, cpu, extra = done.stdout.strip().splitlines()[-1].split("\t")
    return float(seconds), int(kb) * 1024.0, float(cpu), extra


def run_size(coins: int, bars: int, fmt: str, workdir: Path, src: Path) -> float:
    """Build the files of ``coins`` symbols, run every stage; return the summed seconds."""
    sys.path[:0] = [str(src)]
    from coinfactor.datasets._synthetic_minutes import write_minute_files

    files = workdir / f"minutes_{coins}x{bars}_{fmt.replace('.', '')}"
    if not files.exists():
        t0 = time.perf_counter()
        write_minute_files(files, coins, bars, fmt=fmt)  # type: ignore[arg-type]
        print(f"wrote {coins} {fmt} files to {files} in {time.perf_counter() - t0:.0f} s",
              flush=True)
    size = sum(p.stat().st_size for p in files.iterdir())
    db = workdir / f"store_{coins}" / "db.duckdb"
    shutil.rmtree(db.parent, ignore_errors=True)
    db.parent.mkdir(parents=True)
    print(f"{coins} coins x {bars:,} minutes ({fmt}, {size / 1e9:.2f} GB of files)")
    print(f"  {'stage':<8} {'time':>8} {'CPU':>8} {'peak RSS':>10} {'load':>5}  details")
    total = 0.0
    for name in STAGES:
        load = os.getloadavg()[0]  # the machine is shared: its 1-minute load when starting
        seconds, peak, cpu, extra = run_stage(name, files, db, src)
        total += seconds if name in ("import", "rollup") else 0.0
        print(f"  {name:<8} {seconds:>6.1f} s {cpu:>6.1f} s {peak / 1e9:>7.2f} GB {load:>5.1f}"
              f"  {extra}", flush=True)
    store_bytes = sum(p.stat().st_size for p in db.parent.rglob("*") if p.is_file())
    print(f"  store on disk: {store_bytes / 1e9:.2f} GB")
    shutil.rmtree(db.parent, ignore_errors=True)
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--coins", type=int, default=100)
    parser.add_argument("--bars", type=int, default=525_600)
    parser.add_argument("--format", default="parquet", choices=["parquet", "csv.gz", "csv"])
    parser.add_argument("--baseline", type=int, default=100,
                        help="Also run this many coins when --coins is larger (time ratio).")
    parser.add_argument("--dir", type=Path, default=None)
    parser.add_argument("--src", type=Path, default=ROOT / "src")
    parser.add_argument("--keep", action="store_true", help="Keep the generated files.")
    args = parser.parse_args()
    workdir = args.dir or Path(tempfile.mkdtemp(prefix="coinfactor-scale-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        sizes = [args.coins] if args.coins <= args.baseline else [args.baseline, args.coins]
        totals = [run_size(n, args.bars, args.format, workdir, args.src) for n in sizes]
        if len(totals) == 2:
            ratio = totals[1] / totals[0]
            print(f"import + rollup time ratio {sizes[1]} / {sizes[0]} coins: {ratio:.2f} "
                  f"(linear: {sizes[1] / sizes[0]:.2f})")
    finally:
        if not args.keep:
            for p in workdir.glob("minutes_*"):
                shutil.rmtree(p, ignore_errors=True)
            if args.dir is None:
                shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
