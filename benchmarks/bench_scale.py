"""Minute data at scale, every stage of issue 19 in one run: store, then the risk model.

    PYTHONPATH=src python benchmarks/bench_scale.py [--coins 100,500] [--bars 525600]

Runs, one after the other and each stage in fresh subprocesses (wall time and peak RSS per
stage, ``VmHWM``):

1. ``bench_scale_store.py``: import into the store from per-symbol files (rows/s, target
   >= 5 M rows/s), the 1h/1d rollups, a one-coin-month query (target <= 50 ms); for the
   largest coin count with the smallest as baseline (time ratio printed);
2. ``bench_scale_compute.py``: factor returns, exposures and the whole ``risk_model_1m``
   study with its report (targets: <= 60 s and <= 4 GB peak RSS at 100 coins, the same
   memory bound at 500, time at most linear in coins: ratio printed).

Both write SYNTHETIC minute panels (correlated GBM with a market factor; the store's also
with listings, delistings and gaps) under temporary directories removed at the end. At the
default size the run takes tens of minutes on 2 cores and about 16 GB of disk at 500 coins.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--coins", default="100,500", help="Comma-separated coin counts.")
    parser.add_argument("--bars", type=int, default=525_600, help="One-minute bars per coin.")
    args = parser.parse_args()
    counts = sorted(int(c) for c in args.coins.split(","))
    steps = [
        ("store: import, rollups, query",
         [str(HERE / "bench_scale_store.py"), "--coins", str(counts[-1]), "--baseline",
          str(counts[0]), "--bars", str(args.bars)]),
        ("risk model: factor returns, exposures, whole study",
         [str(HERE / "bench_scale_compute.py"), "--coins", ",".join(map(str, counts)),
          "--bars", str(args.bars)]),
    ]
    failed = []
    for title, cmd in steps:
        print(f"== {title}", flush=True)
        if subprocess.run([sys.executable, *cmd], check=False).returncode:
            failed.append(title)
    if failed:
        raise SystemExit(f"failed: {failed}")


if __name__ == "__main__":
    main()
