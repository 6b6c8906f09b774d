"""The [sweep] table: Cartesian grids, seeded random ranges typed by the Config, errors."""

from __future__ import annotations

import math

import pytest

from coinfactor.core.errors import ConfigError
from coinfactor.studies import carry
from coinfactor.sweeps import Range, expand, parse_sweep, trial_params


def test_grid_is_cartesian_in_sorted_key_order_last_fastest() -> None:
    spec = parse_sweep({"grid": {"vol_target": [0.1, 0.2], "carry_window": [3, 7, 14]}},
                       carry.Config)
    pts = expand(spec, carry.Config)
    assert len(pts) == 6 and spec.select == "sharpe_ratio"
    assert pts[:3] == [{"carry_window": 3, "vol_target": 0.1},
                       {"carry_window": 3, "vol_target": 0.2},
                       {"carry_window": 7, "vol_target": 0.1}]
    assert spec.swept == ["carry_window", "vol_target"]


def test_random_draws_are_seeded_typed_and_in_range() -> None:
    table = {"grid": {"exit": ["close", "decay"]},
             "random": {"n": 50, "seed": 3, "risk_aversion": {"low": 0.5, "high": 8.0,
                                                              "log": True},
                        "carry_window": {"low": 3, "high": 30},
                        "spread_window": {"low": 5, "high": 50, "log": True},
                        "covariance": ["diagonal", "correlation"],
                        "costs.impact": {"low": 0.0, "high": 2.0}}}
    spec = parse_sweep(table, carry.Config)
    pts = expand(spec, carry.Config)
    assert pts == expand(parse_sweep(table, carry.Config), carry.Config)  # reproducible
    assert len(pts) == 100  # 2 grid points x 50 draws
    assert pts[0]["exit"] == "close" and pts[50]["exit"] == "decay"
    assert [{k: v for k, v in p.items() if k != "exit"} for p in pts[:50]] == \
        [{k: v for k, v in p.items() if k != "exit"} for p in pts[50:]]
    for p in pts:
        assert 0.5 <= p["risk_aversion"] <= 8.0
        assert isinstance(p["carry_window"], int) and 3 <= p["carry_window"] <= 30
        assert isinstance(p["spread_window"], int) and 5 <= p["spread_window"] <= 50
        assert p["covariance"] in ("diagonal", "correlation")
    logs = [math.log(p["risk_aversion"]) for p in pts[:50]]
    assert min(logs) < math.log(1.0) and max(logs) > math.log(4.0)  # spread on a log scale
    assert isinstance(spec.ranges["risk_aversion"], Range)
    other = expand(parse_sweep({**table, "random": {**table["random"], "seed": 4}},
                               carry.Config), carry.Config)
    assert other != pts


def test_trial_params_set_nested_keys_without_touching_the_base() -> None:
    base = {"vol_target": 0.2, "costs": {"venue": "hyperliquid", "impact": 1.0}}
    p = trial_params(base, {"costs.impact": 0.5, "lag": 1})
    assert p == {"vol_target": 0.2, "costs": {"venue": "hyperliquid", "impact": 0.5}, "lag": 1}
    assert base["costs"]["impact"] == 1.0


@pytest.mark.parametrize(("table", "match"), [
    ({"grid": {"vol_targt": [0.1]}}, r"unknown parameter 'vol_targt'.*'vol_target'"),
    ({"grid": {"vol_target": []}}, "non-empty list"),
    ({"grid": {"vol_target": 0.1}}, "non-empty list"),
    ({"grdi": {}}, r"unknown key\(s\) \['grdi'\]"),
    ({}, "needs a grid"),
    ({"random": {"n": 0, "vol_target": {"low": 0.1, "high": 0.2}}}, "random.n"),
    ({"random": {"n": 5}}, "no parameter to draw"),
    ({"random": {"n": 5, "vol_target": {"low": 0.3, "high": 0.2}}}, "low <= high"),
    ({"random": {"n": 5, "vol_target": {"low": 0.0, "high": 0.2, "log": True}}}, "low > 0"),
    ({"grid": {"lag": [0]}, "random": {"n": 2, "lag": [0, 1]}}, "both in grid and random"),
    ({"grid": {"lag": [0]}, "select": 3}, "select"),
])
def test_bad_sweep_tables_are_rejected(table: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        parse_sweep(table, carry.Config)
