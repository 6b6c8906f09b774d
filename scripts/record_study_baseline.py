"""Record every study's outputs on the embedded data, as a reference for refactors.

Run:  PYTHONPATH=src python scripts/record_study_baseline.py [--out tests/fixtures/study_baseline]

For each config in ``CONFIGS`` the study runs on its embedded dataset; the script writes
``<name>/metrics.json`` (as the run directory has it) and, per result table, ``<name>/<table>.json``
with the table's schema, height, a SHA-256 digest of each column's values (bit-for-bit
identity) and ``<name>/<table>.parquet``: every k-th row (k chosen so that at most 4,000 rows
are kept), the rows ``tests/studies/test_study_baseline.py`` compares values on (to 1e-12).
Run it on the code *before* a refactor (the test then runs the code after it), or after a
change of numbers made on purpose, saying why in the test's docstring.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import tempfile
import tomllib
from pathlib import Path

import polars as pl

from coinfactor.studies import run_config

ROOT = Path(__file__).resolve().parents[1]
CONFIGS: dict[str, tuple[str, dict[str, object]]] = {
    "carry": ("studies/carry.toml", {}),
    "carry_seed_parity": ("studies/carry.toml", {"seed_parity": True}),
    "risk_model": ("studies/risk_model.toml", {}),
    "reversion": ("studies/reversion.toml", {}),
    "hedge_basket": ("studies/hedge_basket.toml", {}),
}
MAX_ROWS = 4000


def column_digest(s: pl.Series) -> str:
    """SHA-256 of a column's values (nulls marked), stable across polars versions."""
    h = hashlib.sha256()
    h.update(str(s.dtype).encode())
    h.update(s.is_null().to_numpy().tobytes())
    if s.dtype.is_numeric() or s.dtype == pl.Boolean:
        h.update(s.fill_null(0).to_numpy().tobytes())
    elif s.dtype.is_temporal():
        h.update(s.to_physical().fill_null(0).to_numpy().tobytes())
    else:
        h.update("\x00".join("" if v is None else str(v) for v in s.to_list()).encode())
    return h.hexdigest()


def sample_step(height: int) -> int:
    """Every k-th row so that at most ``MAX_ROWS`` rows are kept."""
    return max(1, math.ceil(height / MAX_ROWS))


def record(out: Path, only: list[str] | None = None) -> None:
    """Run every config (or those in ``only``) and write its reference files under ``out``."""
    for name, (path, overrides) in CONFIGS.items():
        if only and name not in only:
            continue
        raw = tomllib.loads((ROOT / path).read_text("utf-8"))
        raw["params"] = {**raw.get("params", {}), **overrides}
        result = run_config(raw, base_dir=(ROOT / path).parent)
        dest = out / name
        dest.mkdir(parents=True, exist_ok=True)
        for old in dest.iterdir():
            old.unlink()
        with tempfile.TemporaryDirectory() as tmp:
            result.write(tmp)
            (dest / "metrics.json").write_text(
                (Path(tmp) / "metrics.json").read_text("utf-8"), "utf-8")
        for table, frame in sorted(result.tables.items()):
            if not isinstance(frame, pl.DataFrame):   # a table of Parquet parts
                frame = frame.collect()
            step = sample_step(frame.height)
            meta = {
                "height": frame.height,
                "step": step,
                "schema": {c: str(t) for c, t in frame.schema.items()},
                "digest": {c: column_digest(frame.get_column(c)) for c in frame.columns},
            }
            (dest / f"{table}.json").write_text(json.dumps(meta, indent=1) + "\n", "utf-8")
            frame.gather_every(step).write_parquet(dest / f"{table}.parquet",
                                                   compression="zstd", compression_level=19)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "tests/fixtures/study_baseline")
    parser.add_argument("--only", nargs="*", help="record these configs only")
    args = parser.parse_args()
    record(args.out, args.only)


if __name__ == "__main__":
    main()
