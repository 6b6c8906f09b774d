"""Carry's declared stages: every parameter in a stage, a stage cache that reuses upstream
outputs, and results equal to separate runs bit for bit (reference: ``carry.run`` with no
cache, one config at a time)."""

from __future__ import annotations

import dataclasses

import numpy as np
import polars as pl
import pytest

from coinfactor.core.errors import ConfigError
from coinfactor.studies import Stage, StageCache, carry, stage_keys
from support.sweeps import SMALL_CARRY, carry_panel


@pytest.fixture(scope="module")
def panel() -> pl.DataFrame:
    return carry_panel()


def test_every_config_field_is_declared_by_a_stage() -> None:
    declared = {p for s in carry.PIPELINE for p in s.params}
    fields = {f.name for f in dataclasses.fields(carry.Config)}
    assert fields == declared, sorted(fields ^ declared)
    names = [s.name for s in carry.PIPELINE]
    assert names == ["universe", "signal", "volatility", "sizing", "costs", "allocation",
                     "backtest"]


def test_stage_keys_change_only_downstream() -> None:
    a = stage_keys(carry.PIPELINE, carry.Config(**SMALL_CARRY))
    b = stage_keys(carry.PIPELINE, carry.Config(**{**SMALL_CARRY, "risk_aversion": 5.0}))
    assert [s for s in a if a[s] != b[s]] == ["allocation", "backtest"]
    c = stage_keys(carry.PIPELINE, carry.Config(**{**SMALL_CARRY, "carry_window": 4}))
    assert [s for s in a if a[s] != c[s]] == ["signal", "sizing", "costs", "allocation",
                                              "backtest"]


def test_undeclared_field_counts_in_every_stage() -> None:
    @dataclasses.dataclass(frozen=True)
    class Cfg:
        a: int = 1
        b: int = 2
        new: int = 0

    stages = (Stage("one", ("a",)), Stage("two", ("b",), after=("one",)))
    k0, k1 = stage_keys(stages, Cfg()), stage_keys(stages, Cfg(new=1))
    assert k0["one"] != k1["one"] and k0["two"] != k1["two"]
    with pytest.raises(ConfigError, match="unknown config field"):
        stage_keys((Stage("x", ("nope",)),), Cfg())
    with pytest.raises(ConfigError, match="not declared before it"):
        stage_keys((Stage("x", ("a",), after=("y",)),), Cfg())


CONFIGS = [
    {},
    {"risk_aversion": 0.5},
    {"risk_aversion": 8.0, "max_weight": 0.1},
    {"carry_window": 5},
    {"carry_window": 5, "turnover_cap": 0.5},
    {"vol_target": 0.4},
    {"vol_short_span": 3.0, "risk_aversion": 0.5},
    {"lag": 1},
]


def test_cached_evaluations_equal_separate_runs(panel: pl.DataFrame) -> None:
    """One cache across eight configs; each equals its own uncached ``run`` bit for bit."""
    cache = StageCache()
    for params in CONFIGS:
        cfg = carry.Config(**{**SMALL_CARRY, **params})
        ev = carry.evaluate(cfg, panel, cache=cache)
        ref = carry.run(cfg, panel)
        assert ev.metrics == ref.metrics, params
        nav = ref.tables["nav"]
        assert ev.returns.equals(nav.select("ts", "ret").slice(1))
    counts = cache.counts()
    assert counts["universe"] == {"computed": 1, "reused": len(CONFIGS) - 1}
    assert counts["signal"]["computed"] == 2  # carry_window 3 and 5
    assert counts["allocation"]["computed"] == len(CONFIGS) - 1  # lag reuses the default's


def test_evaluate_without_cache_equals_run(panel: pl.DataFrame) -> None:
    cfg = carry.Config(**SMALL_CARRY)
    assert carry.evaluate(cfg, panel).metrics == carry.run(cfg, panel).metrics


def test_cached_outputs_are_read_only_and_bound_to_one_panel(panel: pl.DataFrame) -> None:
    cache = StageCache()
    carry.evaluate(carry.Config(**SMALL_CARRY), panel, cache=cache)
    sizing = next(iter(cache._store["sizing"].values()))
    assert not sizing.desired.flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        sizing.desired[0, 0] = 1.0
    with pytest.raises(ConfigError, match="one panel"):
        carry.evaluate(carry.Config(**SMALL_CARRY), panel.clone(), cache=cache)


def test_cache_is_bounded_per_stage(panel: pl.DataFrame) -> None:
    cache = StageCache(max_entries=2)
    for ra in (0.5, 1.0, 2.0, 4.0):
        carry.evaluate(carry.Config(**{**SMALL_CARRY, "risk_aversion": ra}), panel,
                       cache=cache)
    assert len(cache._store["allocation"]) == 2
    assert np.isfinite(next(iter(cache._store["volatility"].values()))).any()
