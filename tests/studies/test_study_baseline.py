"""Every study's outputs on the embedded data equal those recorded before the refactor.

Reference: ``tests/fixtures/study_baseline``, written by ``scripts/record_study_baseline.py``
on the code of commit 6343c78 (before issue 14). Each column of each table is checked bit for
bit through its SHA-256 digest; the sampled rows kept in the fixture are compared to 1e-12 as
well, so a failure shows the first differing value. Metrics are compared to 1e-12 (relative).
``RENAMED`` lists metric keys renamed since (old -> new) and ``TABLE_COLUMNS_RENAMED`` table
columns; ``CHANGED`` the metrics whose value changed on purpose (each with its reason) and
``ADDED`` new keys. Nothing else may change.
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
from support import FIXTURES, ROOT

BASELINE = FIXTURES / "study_baseline"

_spec = importlib.util.spec_from_file_location(
    "record_study_baseline", ROOT / "scripts/record_study_baseline.py")
assert _spec is not None and _spec.loader is not None
recorder = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = recorder
_spec.loader.exec_module(recorder)

RENAMED: dict[str, str] = {
    # one vocabulary (issue 14): metric keys are the coinfactor.analytics function names
    "sharpe": "sharpe_ratio",
    "sortino": "sortino_ratio",
    "calmar": "calmar_ratio",
    "skew": "skewness",
    "var_95": "value_at_risk",
    "cvar_95": "conditional_value_at_risk",
    "max_drawdown_duration_bars": "max_drawdown_duration",
    # no function: one name everywhere (BacktestResult.metrics used these already)
    "turnover_annual": "annual_turnover",
    "price_return_annual": "annual_price_return",
    "funding_return_annual": "annual_funding_return",
    "cost_return_annual": "annual_cost_return",
    "vol_unhedged": "annual_volatility_unhedged",
}
"""Metric keys renamed since the baseline (old -> new)."""

TABLE_COLUMNS_RENAMED: dict[str, dict[str, str]] = {
    # bootstrap percentile tables: columns named after the analytics functions
    "bootstrap": {"volatility": "annual_volatility", "sharpe": "sharpe_ratio"},
}
"""Table columns renamed since the baseline, per table name (old -> new)."""

_EARNED = ("one bar set: metrics use the returns earned, without the decision bar (nav row 0, "
           "ret 0 by construction), as BacktestResult.metrics did; n_bars counts those bars")
_SUMMARY_CHANGED = ("annual_return", "annual_volatility", "sharpe_ratio", "sortino_ratio",
                    "calmar_ratio", "hit_rate", "skewness", "kurtosis", "value_at_risk",
                    "conditional_value_at_risk", "annual_price_return", "annual_funding_return",
                    "annual_cost_return", "n_bars", "annual_turnover")
CHANGED: dict[str, dict[str, str]] = {
    "carry": {**dict.fromkeys(_SUMMARY_CHANGED, _EARNED),
              "realized_vol_over_target": _EARNED + " (annual_volatility / vol_target)"},
    "carry_seed_parity": {**dict.fromkeys(_SUMMARY_CHANGED, _EARNED),
                          "realized_vol_over_target": _EARNED + " (annual_volatility / target)"},
    # annual_volatility and max_drawdown were already on the earned bars here
    "hedge_basket": dict.fromkeys(("annual_return", "annual_return_unhedged", "sharpe_ratio",
                                   "annual_funding_return", "annual_cost_return",
                                   "annual_turnover"), _EARNED),
    # conditional_value_at_risk: the worst floor((n-1)*5%)+1 = 110 bars either way, same mean
    "reversion": dict.fromkeys(set(_SUMMARY_CHANGED) - {"conditional_value_at_risk"}, _EARNED),
}
"""Metrics whose value changed on purpose, per study config: key -> why. Only these keys skip
the value comparison; they must still be present."""

ADDED: dict[str, dict[str, str]] = {
    "carry": {"mean_forecast_vol": "analytics.summary of a BacktestResult with a vol forecast "
                                   "now has every key of BacktestResult.metrics"},
    "carry_seed_parity": {"mean_forecast_vol": "as for carry"},
}
"""Metric keys added since the baseline, per study config: key -> why."""


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
