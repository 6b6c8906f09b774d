"""Every study's outputs on the embedded data equal those recorded before the refactor.

Reference: ``tests/fixtures/study_baseline``, written by ``scripts/record_study_baseline.py``
on the code of commit 6343c78 (before issue 14). Each column of each table is checked bit for
bit through its SHA-256 digest; the sampled rows kept in the fixture are compared to 1e-12 as
well, so a failure shows the first differing value. Metrics are compared to 1e-12 (relative).
``RENAMED`` lists metric keys renamed since (old -> new); nothing else may change.
"""

from __future__ import annotations

import importlib.util
import json
import math
import sys
import tomllib
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from coinfactor.studies import run_config

ROOT = Path(__file__).resolve().parents[2]
BASELINE = ROOT / "tests/fixtures/study_baseline"

_spec = importlib.util.spec_from_file_location(
    "record_study_baseline", ROOT / "scripts/record_study_baseline.py")
assert _spec is not None and _spec.loader is not None
recorder = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = recorder
_spec.loader.exec_module(recorder)

RENAMED: dict[str, str] = {}
"""Metric keys renamed since the baseline (old -> new)."""


def _run(name: str):
    path, overrides = recorder.CONFIGS[name]
    raw = tomllib.loads((ROOT / path).read_text("utf-8"))
    raw["params"] = {**raw.get("params", {}), **overrides}
    return run_config(raw, base_dir=(ROOT / path).parent)


def _close(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b)) or math.isclose(
            a, b, rel_tol=1e-12, abs_tol=1e-300)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b, strict=True))
    return a == b


@pytest.mark.parametrize("name", sorted(recorder.CONFIGS))
def test_study_outputs_unchanged(name: str, tmp_path: Path) -> None:
    result = _run(name)
    result.write(tmp_path)
    got_metrics = json.loads((tmp_path / "metrics.json").read_text("utf-8"))
    want_metrics = json.loads((BASELINE / name / "metrics.json").read_text("utf-8"))
    want_metrics = {RENAMED.get(k, k): v for k, v in want_metrics.items()}
    assert sorted(got_metrics) == sorted(want_metrics)
    for key, want in want_metrics.items():
        assert _close(got_metrics[key], want), (key, got_metrics[key], want)
    tables = sorted(p.stem for p in (BASELINE / name).glob("*.json") if p.stem != "metrics")
    assert sorted(result.tables) == tables
    for table in tables:
        meta = json.loads((BASELINE / name / f"{table}.json").read_text("utf-8"))
        frame = result.tables[table]
        assert {c: str(t) for c, t in frame.schema.items()} == meta["schema"], table
        assert frame.height == meta["height"], table
        sample = frame.gather_every(meta["step"])
        want = pl.read_parquet(BASELINE / name / f"{table}.parquet")
        for col in frame.columns:
            a, b = sample.get_column(col), want.get_column(col)
            if a.dtype.is_float():
                np.testing.assert_allclose(a.to_numpy(), b.to_numpy(), rtol=1e-12, atol=0,
                                           err_msg=f"{name}/{table}.{col}")
            else:
                assert a.equals(b), f"{name}/{table}.{col}"
        digests = {c: recorder.column_digest(frame.get_column(c)) for c in frame.columns}
        assert digests == meta["digest"], f"{name}/{table}: not bit-identical"
