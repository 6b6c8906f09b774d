"""Every study's outputs on the embedded data equal the recorded ones, bit for bit.

Reference: ``tests/fixtures/study_baseline``, written by ``scripts/record_study_baseline.py``.
Each column of each table is checked bit for bit through its SHA-256 digest; the sampled rows
kept in the fixture are compared to 1e-12 as well, so a failure shows the first differing
value. Metrics are compared to 1e-12 (relative). ``RENAMED`` lists metric keys renamed since
the recording (old -> new) and ``TABLE_COLUMNS_RENAMED`` table columns; ``CHANGED`` the metrics
whose value changed on purpose (each with its reason) and ``ADDED`` new keys. Nothing else may
change.

History: recorded first on commit 6343c78 (before issue 14's refactor, which then changed no
table bit and renamed or re-based the metrics listed in that commit's version of this file).
Re-recorded after issue 15, whose every change of a number is on purpose: holdings drift
between decisions and costs are charged on the trades made, the studies' cost models include
square-root impact at a NAV in USD, capacity tables, funding events placed at their settlement
times (``hyperliquid-perp-1h`` rebuilt with coins chosen before 2025-03-03), the relative rank
rule of ``rolling_ols`` and delisted names closed by the allocator. ``risk_model`` re-recorded
after issue 19 (chunked computation): ``rolling_ols`` solves each cell in one fixed order of
operations (no BLAS matrix product, whose last bits depend on how many series are solved
together), which moved some exposures in their last bits (at most 1e-11 relative, on betas
near zero); its metrics are now sums in a fixed page order (same values to 1e-15); the
exposures and memberships tables are Parquet parts and a per-day summary table
``exposures_daily`` was added. ``carry``, ``carry_seed_parity``, ``reversion`` and
``hedge_basket`` re-recorded in the same session: the impact model's trailing σ and ADV are
formed from blocked window sums (``coinfactor.rolling.trailing_window_sums``, checked against
pandas' rolling std and mean) instead of polars' rolling kernels, which moved costs in their
last bits; the largest relative change of any metric was 4.8e-16 (carry's Sortino ratio).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import math
import sys
import tomllib
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from coinfactor.core.errors import DataWarning
from coinfactor.studies import run_config
from support import FIXTURES, ROOT

BASELINE = FIXTURES / "study_baseline"

_spec = importlib.util.spec_from_file_location(
    "record_study_baseline", ROOT / "scripts/record_study_baseline.py")
assert _spec is not None and _spec.loader is not None
recorder = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = recorder
_spec.loader.exec_module(recorder)

RENAMED: dict[str, str] = {}
"""Metric keys renamed since the recording (old -> new)."""

TABLE_COLUMNS_RENAMED: dict[str, dict[str, str]] = {}
"""Table columns renamed since the recording, per table name (old -> new)."""

CHANGED: dict[str, dict[str, str]] = {}
"""Metrics whose value changed on purpose, per study config: key -> why. Only these keys skip
the value comparison; they must still be present."""

ADDED: dict[str, dict[str, str]] = {}
"""Metric keys added since the recording, per study config: key -> why."""


def _run(name: str):
    path, overrides = recorder.CONFIGS[name]
    raw = tomllib.loads((ROOT / path).read_text("utf-8"))
    raw["params"] = {**raw.get("params", {}), **overrides}
    # binance-perp-4h has no funding before 2026-01-12: the reversion backtest says so
    with pytest.warns(DataWarning) if name == "reversion" else contextlib.nullcontext():
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
    assert sorted(got_metrics) == sorted([*want_metrics, *ADDED.get(name, {})])
    changed = CHANGED.get(name, {})
    assert set(changed) <= set(want_metrics)
    for key, want in want_metrics.items():
        if key in changed:
            continue
        assert _close(got_metrics[key], want), (key, got_metrics[key], want)
    tables = sorted(p.stem for p in (BASELINE / name).glob("*.json") if p.stem != "metrics")
    assert sorted(result.tables) == tables
    for table in tables:
        meta = json.loads((BASELINE / name / f"{table}.json").read_text("utf-8"))
        renamed = TABLE_COLUMNS_RENAMED.get(table, {})
        meta["schema"] = {renamed.get(c, c): d for c, d in meta["schema"].items()}
        meta["digest"] = {renamed.get(c, c): d for c, d in meta["digest"].items()}
        frame = result.tables[table]
        if not isinstance(frame, pl.DataFrame):   # a table of Parquet parts (risk_model)
            frame = frame.collect()
        assert {c: str(t) for c, t in frame.schema.items()} == meta["schema"], table
        assert frame.height == meta["height"], table
        sample = frame.gather_every(meta["step"])
        want = pl.read_parquet(BASELINE / name / f"{table}.parquet")
        want = want.rename({c: renamed[c] for c in want.columns if c in renamed})
        for col in frame.columns:
            a, b = sample.get_column(col), want.get_column(col)
            if a.dtype.is_float():
                np.testing.assert_allclose(a.to_numpy(), b.to_numpy(), rtol=1e-12, atol=0,
                                           err_msg=f"{name}/{table}.{col}")
            else:
                assert a.equals(b), f"{name}/{table}.{col}"
        digests = {c: recorder.column_digest(frame.get_column(c)) for c in frame.columns}
        assert digests == meta["digest"], f"{name}/{table}: not bit-identical"
