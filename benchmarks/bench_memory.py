"""Peak memory of ``validate_panel`` and ``store import`` on a large canonical panel.

    PYTHONPATH=src python benchmarks/bench_memory.py [--rows 20000000] [--symbols 500]
                                                     [--dir DIR] [--keep]

Builds (once, in ``--dir``, default a temporary directory) a synthetic canonical panel of
``--rows`` hourly bars over ``--symbols`` symbols: a geometric random walk per symbol with every
optional column set (quote volume, trades, funding, open interest), sorted by (symbol, ts) and
written as one zstd Parquet file (about 1.1 GB at 20 M rows). Then each step runs in a fresh
subprocess, which reports its peak resident set (``VmHWM`` of ``/proc/self/status``, the
high-water mark of the process, so the interpreter and imports are included):

1. ``baseline``: import coinfactor, polars and duckdb (the floor of every step);
2. ``read``: ``pl.read_parquet`` of the file (the size of the panel in memory);
3. ``validate_panel``: read the file and validate it (``coinfactor.data.validate_panel``);
4. ``store import``: ``Store(tmp).import_parquet(file, exchange=...)`` into a new store, the
   call behind ``coinfactor store import``;
5. ``store re-import``: the same import twice, the second replacing every stored row (the
   peak of both);
6. ``risk_model``: the hourly ``risk_model`` study (recommended settings, both factor sets)
   on the panel read into memory and validated, as ``coinfactor run`` with ``[data] file``
   (it computes in time blocks, exposures written as Parquet parts);
7. ``risk_model scan``: the same study on a lazy scan of the file (``[data] parquet_dir``),
   read block by block;
8. ``carry``, ``reversion``, ``hedge_basket``: ``coinfactor run`` of the study on the file
   (``[data] file``, default parameters; hedge_basket hedges ``C0001USDT`` from its third
   year, with its liquidity floors lowered to 1e5 USD for the synthetic volumes), the run
   directory written (``run_config_file``, as the CLI does).

Each line gives the peak RSS in GB and its ratio to the Parquet file's size; the target of
issue 16 is at most 3x for ``validate_panel``, ``store import`` and the studies (the
``risk_model`` study peaked at 13.9 GB, 12.6x, before it computed in blocks).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _vmhwm import PEAK_KB  # benchmarks/ is the script's directory

ROOT = Path(__file__).resolve().parents[1]

_PRELUDE = """
import sys
sys.path[:0] = [SRC]
import polars as pl
import duckdb
import coinfactor.data
from coinfactor.data import validate_panel
from coinfactor.data.store import Store

""" + PEAK_KB

STEPS: dict[str, str] = {
    "baseline": "",
    "read": "df = pl.read_parquet(FILE)\n",
    "validate_panel": "df = validate_panel(pl.read_parquet(FILE))\n",
    "store import": (
        "import tempfile, pathlib\n"
        "with tempfile.TemporaryDirectory(dir=DIR) as tmp:\n"
        "    with Store(pathlib.Path(tmp) / 'db.duckdb') as s:\n"
        "        c = s.import_parquet(FILE, exchange='binanceusdm', market='swap')\n"
        "    assert c.bars_new == ROWS, c\n"
    ),
    "store re-import": (
        "import tempfile, pathlib\n"
        "with tempfile.TemporaryDirectory(dir=DIR) as tmp:\n"
        "    with Store(pathlib.Path(tmp) / 'db.duckdb') as s:\n"
        "        s.import_parquet(FILE, exchange='binanceusdm', market='swap')\n"
        "        c = s.import_parquet(FILE, exchange='binanceusdm', market='swap')\n"
        "    assert c.bars_new == 0 and c.bars_rows == ROWS, c\n"
    ),
    "risk_model": (
        "from coinfactor.studies.risk_model import Config, run\n"
        "r = run(Config(), validate_panel(pl.read_parquet(FILE)))\n"
        "assert r.metrics['exposure_cells'] > 0\n"
    ),
    "risk_model scan": (
        "from coinfactor.studies.risk_model import Config, run\n"
        "r = run(Config(), pl.scan_parquet(FILE))\n"
        "assert r.metrics['exposure_cells'] > 0\n"
    ),
}


_STUDY_RUN = (
    "import tempfile, pathlib\n"
    "from coinfactor.studies import run_config_file\n"
    "toml = pathlib.Path(DIR) / 'STUDY.toml'\n"
    "toml.write_text(TOML.format(file=FILE))\n"
    "with tempfile.TemporaryDirectory(dir=DIR) as tmp:\n"
    "    r = run_config_file(toml, pathlib.Path(tmp) / 'run')\n"
    "assert r.metrics, r\n"
)
_TOMLS = {
    "carry": 'study = "carry"\n[data]\nfile = "{file}"\n',
    "reversion": 'study = "reversion"\n[data]\nfile = "{file}"\n',
    "hedge_basket": ('study = "hedge_basket"\n[data]\nfile = "{file}"\n'
                     '[params]\nstart = "2016-01-04T12:00"\ntarget = "C0001USDT"\n'
                     'min_daily_volume_usd = 1e5\nmin_open_interest_usd = 1e5\n'),
}
for _study, _toml in _TOMLS.items():
    STEPS[_study] = f"TOML = {_toml!r}\n" + _STUDY_RUN.replace("STUDY", _study)


def build_panel(path: Path, rows: int, symbols: int, seed: int = 7) -> None:
    """Write the synthetic canonical panel (``rows`` hourly bars over ``symbols`` symbols)."""
    import numpy as np
    import polars as pl

    per = rows // symbols
    rng = np.random.default_rng(seed)
    parts = []
    for i in range(symbols):
        ret = rng.normal(0.0, 0.01, per)
        close = 100.0 * np.exp(np.cumsum(ret))
        open_ = np.concatenate([[close[0]], close[:-1]])
        wick = np.abs(rng.normal(0.0, 0.003, per))
        high = np.maximum(open_, close) * (1 + wick)
        low = np.minimum(open_, close) * (1 - wick)
        volume = rng.gamma(2.0, 500.0, per)
        parts.append(pl.DataFrame({
            "ts": pl.datetime_range(pl.datetime(2014, 1, 1, time_zone="UTC"),
                                    pl.datetime(2014, 1, 1, time_zone="UTC")
                                    + pl.duration(hours=per - 1),
                                    "1h", eager=True, time_unit="us"),
            "symbol": f"C{i:04d}USDT",
            "open": open_, "high": high, "low": low, "close": close, "volume": volume,
            "quote_volume": volume * close,
            "trades": rng.integers(0, 5000, per),
            "funding_rate": rng.normal(1e-5, 1e-4, per),
            "open_interest": rng.gamma(2.0, 1e6, per),
        }))
    pl.concat(parts).sort("symbol", "ts").write_parquet(path, compression="zstd")


def run_step(name: str, file: Path, rows: int, workdir: Path,
             src: Path) -> tuple[float, float]:
    """Run one step in a fresh interpreter; return (peak RSS in bytes, seconds)."""
    code = (f"SRC = {str(src)!r}\n" + _PRELUDE
            + f"FILE = {str(file)!r}\nDIR = {str(workdir)!r}\nROWS = {rows}\n"
            + STEPS[name] + "print(peak_kb())\n")
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=False)
    seconds = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"step {name!r} failed:\n{done.stderr}")
    return int(done.stdout.strip().splitlines()[-1]) * 1024.0, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000_000)
    parser.add_argument("--symbols", type=int, default=500)
    parser.add_argument("--dir", type=Path, default=None,
                        help="Directory for the panel and the stores (default: a temp dir).")
    parser.add_argument("--src", type=Path, default=ROOT / "src",
                        help="coinfactor source tree to measure (default: this checkout's).")
    parser.add_argument("--keep", action="store_true", help="Keep the panel file.")
    parser.add_argument("--steps", default=",".join(STEPS),
                        help=f"Comma-separated steps among {list(STEPS)}.")
    args = parser.parse_args()
    workdir = args.dir or Path(tempfile.mkdtemp(prefix="coinfactor-mem-"))
    workdir.mkdir(parents=True, exist_ok=True)
    file = workdir / f"panel_{args.rows}.parquet"
    try:
        if not file.exists():
            t0 = time.perf_counter()
            build_panel(file, args.rows, args.symbols)
            print(f"built {file} in {time.perf_counter() - t0:.0f} s")
        size = file.stat().st_size
        rows = (args.rows // args.symbols) * args.symbols
        print(f"panel: {rows:,} rows, {args.symbols} symbols, {size / 1e9:.2f} GB Parquet")
        print(f"{'step':<16} {'peak RSS':>10} {'x file':>7} {'time':>8}")
        for name in args.steps.split(","):
            peak, seconds = run_step(name.strip(), file, rows, workdir, args.src)
            print(f"{name:<16} {peak / 1e9:>8.2f} GB {peak / size:>6.2f}x {seconds:>6.1f} s",
                  flush=True)
    finally:
        if not args.keep and args.dir is None:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
