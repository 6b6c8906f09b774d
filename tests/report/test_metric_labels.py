"""Reports speak to people: metrics in words with units and formats, grouped (issue 16).

Before: the report's metrics section was three columns of raw keys in the order of
``metrics.json`` (``max_drawdown_duration_bars``, ``funding_missing_share``), a CAGR shown as
a bare percentage, ``liquidated`` as ``0``, and nothing said in words what the run's result was.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from coinfactor.report import format_value, metric_label, study_reading
from coinfactor.report._html import kv_grid, page
from support import FIXTURES

BASELINE = FIXTURES / "study_baseline"
ADDED_KEYS = {"risk_model": ("rank_deficient_share_spreads", "max_abs_factor_correlation",
                             "max_abs_factor_correlation_pair", "mean_abs_factor_correlation")}
"""Metrics added since the baseline was recorded (``test_study_baseline.ADDED``)."""
STUDIES = ("carry", "carry_seed_parity", "hedge_basket", "reversion", "risk_model")


def _metrics(name: str) -> dict[str, object]:
    data: dict[str, object] = json.loads((BASELINE / name / "metrics.json").read_text("utf-8"))
    return data


@pytest.mark.parametrize("name", STUDIES)
def test_every_metric_a_study_writes_has_a_label(name: str) -> None:
    """Every key of every study's ``metrics.json`` is shown in words, not by its key."""
    keys = [*_metrics(name), *ADDED_KEYS.get(name, ())]
    unlabelled = [k for k in keys if metric_label(k) is None]
    assert unlabelled == []
    for key in keys:
        label = metric_label(key)
        assert label is not None and " " in label.text and "_" not in label.text.split("(")[0]


@pytest.mark.parametrize(("key", "value", "shown"), [
    ("annual_return", -0.19831404233812255, "-19.83%/yr"),
    ("annual_cost_return", -0.2151557, "-21.52%/yr"),
    ("sharpe_ratio", -0.9554748467704509, "-0.96"),
    ("max_drawdown", -0.42220933917058, "-42.22%"),
    ("max_drawdown_duration_days", 360.8333333333333, "361"),
    ("funding_missing_bars", 37528.0, "37,528"),
    ("funding_missing_share", 0.859649524682167, "85.96%"),
    ("annual_turnover", 60.68204211513493, "60.7×"),
    ("liquidated", 0.0, "no"),
    ("seed_parity", True, "yes"),
    ("mean_rank_ic", -0.039135940645659395, "-0.039"),
    ("oos_correlation", 0.6996441539137025, "0.70"),
    ("n_bars", 2189.0, "2,189"),
    ("ann_vol_liquidity_hml", 0.48571213136976904, "48.57%/yr"),
    ("max_abs_factor_correlation_pair", "market & beta_hml", "market &amp; beta_hml"),
    ("sharpe_ratio", float("nan"), "n/a"),
])
def test_format_value_writes_units(key: str, value: object, shown: str) -> None:
    """Before: ``-19.83%`` for a CAGR (no unit), ``0`` for "not liquidated", ``3.608e+02``
    for a duration in days."""
    assert format_value(key, value) == shown


def test_labels_name_the_unit() -> None:
    label = metric_label("max_drawdown_duration_days")
    assert label is not None and label.text == "Max drawdown duration (days)"
    assert getattr(metric_label("max_drawdown_duration_bars"), "text", "") == \
        "Max drawdown duration (bars)"
    assert getattr(metric_label("funding_missing_share"), "text", "") == \
        "Funding missing (share of held position-bars)"
    assert getattr(metric_label("annual_return"), "text", "") == "Annual return (CAGR)"
    assert getattr(metric_label("sharpe_ratio"), "text", "") == "Sharpe ratio"
    assert getattr(metric_label("ann_mean_momentum_hml"), "text", "") == \
        "Factor momentum high−low: annual mean return"


def _section(html: str, group: str) -> str:
    m = re.search(rf"<h3>{re.escape(group)}</h3><table>(.*?)</table>", html)
    assert m, f"no group {group!r}"
    return m.group(1)


def test_metrics_section_is_grouped_and_labelled() -> None:
    """The carry study's metrics, as the report's metrics section renders them."""
    html = kv_grid(_metrics("carry"))
    groups = re.findall(r"<h3>(.*?)</h3>", html)
    assert groups[:5] == ["Returns", "Risk", "Costs and funding", "Exposure", "Trading"]
    assert "Sharpe ratio</td><td>-0.96<" in _section(html, "Risk")
    assert "Max drawdown duration (days)</td><td>784<" in _section(html, "Risk")
    assert "Funding missing (share of held position-bars)</td><td>0.00%<" in \
        _section(html, "Costs and funding")
    assert "Turnover (× NAV per year)</td><td>60.7×<" in _section(html, "Trading")
    assert "Gross exposure, mean (share of NAV)" in _section(html, "Exposure")
    assert ">max_drawdown_duration_days<" not in html  # the key only as a tooltip
    assert 'title="max_drawdown_duration_days"' in html
    assert "<h3>Other</h3>" not in html


def test_metrics_section_keeps_unknown_keys_under_other() -> None:
    html = kv_grid({"sharpe_ratio": 1.0, "my_own_metric": 0.25, "nested": {"a": 1}})
    assert "my_own_metric" in _section(html, "Other") and "nested.a" in _section(html, "Other")


def test_report_written_by_a_study_has_the_grouped_section(run_dir: Path) -> None:
    html = (run_dir / "report.html").read_text("utf-8")
    assert "<h3>Returns</h3>" in html and "<h3>Risk</h3>" in html
    assert "Annual return (CAGR)" in html and "Sharpe ratio" in html


@pytest.mark.parametrize(("name", "expected"), [
    ("carry", "loses 19.8%/yr after 21.5%/yr costs (funding +9.4%/yr); Sharpe -0.96, "
              "max drawdown -42%"),
    ("reversion", "loses 61.2%/yr after 96.5%/yr costs (funding +0.5%/yr); Sharpe -3.55, "
                  "max drawdown -62%; funding missing on 86% of held position-bars (booked "
                  "as zero); mean rank IC -0.039 (t = -3.0)"),
    ("hedge_basket", "the hedge cuts BERA's volatility by 25% (133% → 100%/yr, "
                     "out-of-sample correlation 0.70); the hedged book loses 98.6%/yr after "
                     "47.9%/yr costs (funding +60.4%/yr); Sharpe -3.79, max drawdown -87%"),
])
def test_study_reading_says_the_result_in_one_line(name: str, expected: str) -> None:
    assert study_reading(name, _metrics(name)) == expected


def test_risk_model_reading_gives_fit_and_factor_correlation() -> None:
    metrics = {**_metrics("risk_model"), "rank_deficient_share_spreads": 0.0,
               "max_abs_factor_correlation": 0.698, "max_abs_factor_correlation_pair":
               "market & beta_hml"}
    assert study_reading("risk_model", metrics) == (
        "market + spread factors explain 68% of coins' bar-return variance (mean R², 0% of "
        "windows rank-deficient); the seed's bucket set 72% with 100% of windows "
        "rank-deficient; largest factor correlation 0.70 (market & beta_hml)")


def test_study_reading_of_an_unknown_study_without_pnl_is_empty() -> None:
    assert study_reading("other", {"bars": 3}) == ""
    assert study_reading("other", {"annual_return": 0.1, "liquidated": 1.0}) == \
        "earns 10.0%/yr; liquidated"


def test_page_shows_the_reading_in_its_header() -> None:
    html = page("coinfactor · carry", "dataset x", [], lead="loses <1%/yr")
    assert '<header><h1>coinfactor · carry</h1><p>dataset x</p><p class="lead">loses &lt;1%/yr' \
           "</p></header>" in html
    assert 'class="lead"' not in page("t", "s", [])
