"""The stages of ``reversion`` and ``hedge_basket``: every parameter in a stage, a stage cache
that reuses upstream outputs, and results equal to separate runs bit for bit (reference:
each study's ``run`` with no cache, one config at a time)."""

from __future__ import annotations

import dataclasses
import math
from datetime import UTC, datetime
from typing import Any

import polars as pl
import pytest

from coinfactor.studies import CostConfig, StageCache, hedge_basket, reversion, stage_keys
from support.hedge import SMALL, hedge_panel
from support.reversion_reference import dst_panel

# dst_panel has funding on every other bar (accepted as 0, no warning, as in its own tests)
# and 30 days: too short for the impact model's 30-day trailing window (impact off)
QUIET = CostConfig(venue="binance-usdm", half_spread_bps=1.0, impact=0.0, funding_missing="zero")
REVERSION = reversion.Config(n=3, costs=QUIET)


def same_metrics(got: dict[str, Any], ref: dict[str, Any]) -> bool:
    """Equal keys and values, bit for bit (NaN equal to NaN)."""
    def eq(a: Any, b: Any) -> bool:
        if isinstance(a, float) and isinstance(b, float) and math.isnan(a):
            return math.isnan(b)
        return bool(a == b) and type(a) is type(b)
    return got.keys() == ref.keys() and all(eq(got[k], ref[k]) for k in ref)


@pytest.fixture(scope="module")
def rev_panel() -> pl.DataFrame:
    return dst_panel(datetime(2025, 2, 24, tzinfo=UTC), 30,
                     symbols=tuple(f"S{i:02d}" for i in range(10)), seed=11)


@pytest.mark.parametrize("module", [reversion, hedge_basket], ids=["reversion", "hedge"])
def test_every_config_field_is_declared_by_a_stage(module: Any) -> None:
    declared = {p for s in module.PIPELINE for p in s.params}
    fields = {f.name for f in dataclasses.fields(module.Config)}
    assert fields == declared, sorted(fields ^ declared)


def test_reversion_stage_keys_change_only_downstream() -> None:
    a = stage_keys(reversion.PIPELINE, REVERSION)
    b = stage_keys(reversion.PIPELINE, dataclasses.replace(REVERSION, n=4))
    assert [s for s in a if a[s] != b[s]] == ["baskets", "backtest"]
    c = stage_keys(reversion.PIPELINE, dataclasses.replace(REVERSION, lookback="12h"))
    assert [s for s in a if a[s] != c[s]] == ["features", "baskets", "backtest"]


REVERSION_CONFIGS = [
    {},
    {"n": 2},
    {"basket": "short"},
    {"weighting": "inverse_vol"},
    {"gross": 0.5, "include_funding": False},
    {"initial_nav": 1e5},
    {"lookback": "12h"},
    {"hour": 8},
]


def evaluate_all(module: Any, base: Any, configs: list[dict[str, Any]],
                 panel: pl.DataFrame) -> dict[str, dict[str, int]]:
    """Evaluate every config with one cache, each against its own uncached ``run``."""
    cache = StageCache()
    for params in configs:
        cfg = dataclasses.replace(base, **params)
        ev = module.evaluate(cfg, panel, cache=cache)
        ref = module.run(cfg, panel)
        assert same_metrics(ev.metrics, ref.metrics), params
        assert ev.returns.equals(ref.tables["nav"].select("ts", "ret").slice(1)), params
    return cache.counts()


def test_reversion_cached_evaluations_equal_separate_runs(rev_panel: pl.DataFrame) -> None:
    """One cache across eight configs; each equals its own uncached ``run`` bit for bit."""
    counts = evaluate_all(reversion, REVERSION, REVERSION_CONFIGS, rev_panel)
    assert counts["decisions"] == {"computed": 2, "reused": 6}  # hour 20 and 8
    assert counts["features"] == {"computed": 3, "reused": 5}  # + lookback 12h
    assert counts["baskets"]["computed"] == 7  # initial_nav reuses the default's baskets


def test_hedge_cached_evaluations_equal_separate_runs() -> None:
    configs = [{}, {"target_weight": 0.5}, {"bootstrap_seed": 3, "corr_window": "2d"},
               {"lambda_funding": 1.0}]
    counts = evaluate_all(hedge_basket, SMALL, configs, hedge_panel())
    assert counts["walk_forward"] == {"computed": 2, "reused": 2}
    assert counts["backtest"] == {"computed": 3, "reused": 1}  # the bootstrap seed reuses it
