"""Study configs are checked by type and range before any work (issue 16).

Each test names the input of a defect found in issue 16, what happened before, and the clear
error now: booleans and strings are not numbers, strings are not lists, numbers are finite and
inside the range each parameter declares (the range and the default in the message), windows
are bounded by the panel, symbols are in the panel (near matches named), and a Python caller's
``Config(...)`` gets the same checks as a TOML ``[params]`` table.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import re
import typing
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from coinfactor.cli import app
from coinfactor.core.errors import ConfigError
from coinfactor.studies import (
    CostConfig,
    carry,
    config_from_dict,
    hedge_basket,
    reversion,
    risk_model,
)
from support.panels import make_panel
from support.random_panels import ragged_daily_panel

CONFIGS = (carry.Config, reversion.Config, risk_model.Config, hedge_basket.Config, CostConfig)


def _ids(classes: tuple[type, ...]) -> list[str]:
    return [f"{c.__module__.rsplit('.', 1)[-1]}.{c.__name__}" for c in classes]


@pytest.mark.parametrize(("cls", "key", "value"), [
    (carry.Config, "vol_target", True),
    (carry.Config, "n_buckets", True),
    (hedge_basket.Config, "basket_usd", False),
    (risk_model.Config, "window", True),
    (CostConfig, "impact", True),
], ids=["vol_target", "n_buckets", "basket_usd", "window", "costs.impact"])
def test_a_boolean_is_not_a_number(cls: type, key: str, value: bool) -> None:
    """Before: ``vol_target = true`` ran as 1.0 (and ``impact = true`` as k = 1)."""
    message = rf"{key}: expected .*got {value} \(a boolean\) \(booleans are not numbers\)"
    with pytest.raises(ConfigError, match=message):
        config_from_dict(cls, {key: value})
    with pytest.raises(ConfigError, match=message):
        cls(**{key: value})


@pytest.mark.parametrize(("cls", "key", "value"), [
    (carry.Config, "vol_target", "0.2"),
    (carry.Config, "corr_window", "90"),
    (reversion.Config, "gross", "1"),
    (CostConfig, "half_spread_bps", "2"),
], ids=["vol_target", "corr_window", "gross", "costs.half_spread_bps"])
def test_a_string_is_not_a_number(cls: type, key: str, value: str) -> None:
    """Before: ``vol_target = "0.2"`` gave "'>' not supported between 'str' and 'int'"."""
    message = rf"{key}: expected .*got '{value}' \(a string\) \(write the number without quotes\)"
    with pytest.raises(ConfigError, match=message):
        config_from_dict(cls, {key: value})
    with pytest.raises(ConfigError, match=message):  # before: a TypeError from Python
        cls(**{key: value})


@pytest.mark.parametrize(("cls", "key", "value", "fix"), [
    (hedge_basket.Config, "exclude", "BTC", 'exclude = ["BTC"]'),
    (risk_model.Config, "families", "beta", 'families = ["beta"]'),
    (risk_model.Config, "momentum_windows", 24, "momentum_windows = [24]"),
    (CostConfig, "capacity_navs", 1e6, "capacity_navs = [1000000.0]"),
], ids=["exclude", "families", "momentum_windows", "costs.capacity_navs"])
def test_a_string_or_number_is_not_a_list(cls: type, key: str, value: object, fix: str) -> None:
    """Before: ``Config(exclude="BTC")`` was iterated letter by letter ('B', 'T', 'C')."""
    message = rf"{key}: expected a list of .*\(a single value is a list of one: {re.escape(fix)}\)"
    with pytest.raises(ConfigError, match=message):
        cls(**{key: value})
    with pytest.raises(ConfigError, match=message):
        config_from_dict(cls, {key: value})


@pytest.mark.parametrize(("cls", "key", "value", "allowed"), [
    (carry.Config, "vol_target", math.inf, r"\(0, 10\]"),
    (carry.Config, "initial_nav", 1e300, r"\(0, 1e15\] USD"),
    (reversion.Config, "gross", math.inf, r"\(0, 100\]"),
    (hedge_basket.Config, "basket_usd", 1e300, r"\(0, 1e15\] USD"),
    (risk_model.Config, "rank_tol", math.nan, r"\(0, 1\)"),
    (CostConfig, "taker_bps", math.inf, r"\[0, 1000\] bps"),
], ids=["vol_target=inf", "initial_nav=1e300", "gross=inf", "basket_usd=1e300",
        "rank_tol=nan", "costs.taker_bps=inf"])
def test_numbers_are_finite_and_bounded(cls: type, key: str, value: float, allowed: str) -> None:
    """Before: ``vol_target = inf`` and ``initial_nav = 1e300`` were accepted."""
    with pytest.raises(ConfigError, match=rf"\[params[.a-z]*\] {key}: expected a number in "
                                          rf"{allowed}.*got {re.escape(repr(value))}"):
        config_from_dict(cls, {key: value})


@pytest.mark.parametrize(("cls", "key", "value", "allowed", "default"), [
    (carry.Config, "n_buckets", 100_000, r"\[2, 100\]", "10"),
    (carry.Config, "corr_window", 0, r"\[2, 10,000,000\] bars", "90"),
    (carry.Config, "universe_window", 10**9, r"\[1, 10,000,000\] bars", "30"),
    (carry.Config, "lag", -1, r"\[0, 10,000,000\] bars", "0"),
    (risk_model.Config, "n_buckets", 100_000, r"\[2, 10\]", "3"),
    (reversion.Config, "hour", 24, r"\[0, 23\]", "20"),
    (hedge_basket.Config, "bootstrap_sims", 10**9, r"\[1, 1,000,000\]", "2000"),
    (hedge_basket.Config, "max_volume_share", 2.0, r"\(0, 1\]", "0.05"),
], ids=["carry.n_buckets", "corr_window", "universe_window", "lag", "risk_model.n_buckets",
        "hour", "bootstrap_sims", "max_volume_share"])
def test_ranges_are_enforced_with_the_range_and_default_in_the_message(
        cls: type, key: str, value: object, allowed: str, default: str) -> None:
    """Before: ``n_buckets = 100000``, ``corr_window = 0`` ran; ``universe_window = 1e9``
    tried to allocate 346 GiB. The message gives the allowed range and the default."""
    message = rf"{key}: expected an? \w+ in {allowed}.*got {value}.*fix: e\.g\. {key} = " \
              rf"{default} \(the default\)"
    with pytest.raises(ConfigError, match=message):
        config_from_dict(cls, {key: value})
    with pytest.raises(ConfigError, match=message):  # the same check for Python callers
        dataclasses.replace(cls(), **{key: value})


def _numeric(hint: object) -> list[object]:
    """The int/float members of a hint (Optional and tuple elements included)."""
    out = []
    for option in typing.get_args(hint) if typing.get_origin(hint) in (typing.Union,
                                                                      type(int | None)) \
            else (hint,):
        if typing.get_origin(option) is tuple:
            option = typing.get_args(option)[0]
        base = typing.get_args(option)[0] if typing.get_origin(option) is typing.Annotated \
            else option
        if base in (int, float):
            out.append(option)
    return out


@pytest.mark.parametrize("cls", CONFIGS, ids=_ids(CONFIGS))
def test_every_number_declares_its_range_and_the_docstring_lists_it(cls: type) -> None:
    """Ranges are documented per parameter: every numeric field declares a :class:`Range`
    (checked on construction) and ``help(Config)`` lists every field's allowed values."""
    from coinfactor.studies._params import Range

    hints = typing.get_type_hints(cls, include_extras=True)
    doc = inspect.getdoc(cls) or ""
    for f in dataclasses.fields(cls):
        for option in _numeric(hints[f.name]):
            marks = typing.get_args(option)[1:] if typing.get_origin(option) is \
                typing.Annotated else ()
            assert any(isinstance(m, Range) for m in marks), f"{cls.__name__}.{f.name}"
        assert f"``{f.name}``: " in doc, f"{cls.__name__}.{f.name} missing from the docstring"
    assert "Allowed values" in doc


@pytest.mark.parametrize(("cls", "values", "message"), [
    (carry.Config, {"winsor_lower": 0.9, "winsor_upper": 0.1},
     "winsor_lower = 0.9 and winsor_upper = 0.1: expected winsor_lower < winsor_upper"),
    (carry.Config, {"y_min": 1.0, "y_max": -1.0}, "expected y_min < y_max"),
    (risk_model.Config, {"window": 50, "min_nobs": 84}, "min_nobs = 84 is more than window = 50"),
    (risk_model.Config, {"families": ("beta", "beta")}, "families: expected distinct names"),
    (hedge_basket.Config, {"end": "2025-01-01"}, "start = '2025-03-03T12:00:00' is not before"),
    (hedge_basket.Config, {"start": "yesterday"}, "start: expected an ISO date or time"),
], ids=["winsor", "sigmoid_range", "min_nobs", "families", "end_before_start", "start_date"])
def test_rules_across_fields_and_dates_are_checked_when_the_config_is_built(
        cls: type, values: dict[str, object], message: str) -> None:
    """Before: these were accepted when the config was built (and failed, if at all, deep
    inside the run: ``start = "yesterday"`` only once the walk-forward was scheduled)."""
    with pytest.raises(ConfigError, match=message):
        cls(**values)


def test_unknown_keys_and_choices_name_their_near_match() -> None:
    """Before: a typo listed all keys without saying which one was meant."""
    with pytest.raises(ConfigError, match=r"'vol_targt': did you mean 'vol_target'\?"):
        config_from_dict(carry.Config, {"vol_targt": 0.2})
    with pytest.raises(ConfigError, match=r"covariance: expected one of \['diagonal', "
                                          r"'correlation'\].*did you mean 'correlation'\?"):
        config_from_dict(carry.Config, {"covariance": "corelation"})


def test_toml_datetimes_are_accepted_for_times() -> None:
    """Before: an unquoted TOML time (``start = 2025-03-03T12:00:00``) was "expected str"."""
    cfg = config_from_dict(hedge_basket.Config, {"start": datetime(2025, 3, 3, 12),
                                                 "end": date(2025, 6, 1)})
    assert (cfg.start, cfg.end) == ("2025-03-03T12:00:00", "2025-06-01")


def test_python_configs_are_normalised_like_toml_ones() -> None:
    """Integers for floats and lists for tuples give the config a TOML file gives."""
    cfg = carry.Config(vol_target=1, initial_nav=2_000_000)
    assert isinstance(cfg.vol_target, float) and isinstance(cfg.initial_nav, float)
    rm = risk_model.Config(momentum_windows=[24, 48])  # type: ignore[arg-type]
    assert rm.momentum_windows == (24, 48)
    assert rm == config_from_dict(risk_model.Config, {"momentum_windows": [24, 48]})
    assert carry.Config(vol_target=np.float64(0.3)).vol_target == 0.3


# -- windows and symbols against the panel, before any work ------------------------------------


def _daily_carry_panel():
    return ragged_daily_panel(n_s=24, n_t=140, seed=3)


@pytest.mark.parametrize(("values", "message"), [
    ({"corr_window": 200}, "corr_window = 200 bars is longer than the panel"),
    ({"lag": 100_000}, "lag = 100000 bars is longer than the panel"),
    ({"universe_window": 1_000_000}, "universe_window = 1000000 bars is longer than the panel"),
], ids=["corr_window", "lag", "universe_window"])
def test_carry_windows_are_bounded_by_the_panel(values: dict[str, int], message: str) -> None:
    """Before: ``lag = 100000`` and windows longer than the data ran (or tried to allocate
    arrays of the window's size); now the error names the window and the panel's bars."""
    panel = _daily_carry_panel()
    n_bars = panel["ts"].n_unique()
    with pytest.raises(ConfigError, match=rf"{message} \(.* UTC\), which has {n_bars} bars; "
                                          rf"fix: lower \w+ to at most {n_bars}"):
        carry.run(carry.Config(**values), panel)


def test_risk_model_window_is_checked_before_any_work(monkeypatch: pytest.MonkeyPatch) -> None:
    """Before: a one-week window on two days of bars built every factor first."""
    panel = make_panel({s: [100.0 + i + j for i in range(48)] for j, s in
                        enumerate(("A", "B", "C", "D"))})

    def no_work(*args: object, **kwargs: object) -> None:
        raise AssertionError("the factor returns ran before the config was checked")

    monkeypatch.setattr(risk_model, "risk_model_blocks", no_work)
    with pytest.raises(ConfigError, match=r"liquidity_window = 168 bars is longer than the "
                                          r"panel .* which has 48 bars"):
        risk_model.run(risk_model.Config(), panel)


def _hedge_panel(days: int = 12):
    start = datetime(2025, 1, 1, tzinfo=UTC)
    return make_panel({s: [10.0 * (j + 1) + 0.01 * i for i in range(24 * days)]
                       for j, s in enumerate(("BTC", "ETH", "SOL", "T"))}, start=start)


def test_hedge_lookback_is_bounded_by_the_panel_span() -> None:
    """Before: a lookback longer than the data gave no basket and a late, unrelated error."""
    with pytest.raises(ConfigError, match=r"lookback = '21d' is longer than the panel .* "
                                          r"which spans 12\.0 days"):
        hedge_basket.run(hedge_basket.Config(target="T"), _hedge_panel())


@pytest.mark.parametrize(("values", "message"), [
    ({"target": "BTCC"}, r"target: 1 name\(s\) not in the hedge_basket panel: 'BTCC' "
                         r"\(did you mean 'BTC'\?\)"),
    ({"target": "T", "exclude": ("ETHH",)}, r"exclude: 1 name\(s\) not in the hedge_basket "
                                            r"panel: 'ETHH' \(did you mean 'ETH'\?\)"),
], ids=["target", "exclude"])
def test_hedge_symbols_are_in_the_panel_with_near_matches(values: dict[str, object],
                                                          message: str) -> None:
    """Before: an unknown target said only "not in the data"; an unknown name in
    ``exclude`` was silently ignored (nothing excluded)."""
    with pytest.raises(ConfigError, match=message):
        hedge_basket.run(hedge_basket.Config(lookback="3d", volume_lookback="1d", **values),
                         _hedge_panel())


def test_reversion_lookback_is_bounded_by_the_panel_span() -> None:
    panel = make_panel({s: [10.0 + i for i in range(30)] for s in ("A", "B", "C", "D")},
                       step=timedelta(hours=4))
    with pytest.raises(ConfigError, match=r"lookback = '7d' is longer than the panel .* "
                                          r"which spans 5\.0 days"):
        reversion.run(reversion.Config(lookback="7d", n=1), panel)


def test_cli_run_rejects_a_bad_parameter_before_writing_anything(tmp_path: Path) -> None:
    """Before: ``vol_target = true`` ran the whole study (as 1.0) and wrote the run."""
    cfg = tmp_path / "carry.toml"
    cfg.write_text('study = "carry"\n[data]\ndataset = "hyperliquid-perp-1d"\n'
                   '[params]\nvol_target = true\n')
    out = tmp_path / "run"
    res = CliRunner().invoke(app, ["run", str(cfg), "--out", str(out)])
    assert res.exit_code == 2, res.output
    assert "booleans are not numbers" in res.output
    assert not out.exists()
