"""The demo table speaks to people: a reading per study and its key metrics (issue 16).

Before: the table had one column per P&L metric; the risk_model row was all dashes with no
word of why (its own numbers printed below under raw keys), and nothing said in words what a
study's result was.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from coinfactor import studies
from coinfactor.cli import app
from coinfactor.cli._app import console
from coinfactor.studies import risk_model
from coinfactor.studies._demo import run_demo

# a study without P&L, shaped like risk_model (metrics only, a KEY_METRICS of its own)
RISK_LIKE_STUDY = '''
from dataclasses import dataclass
from coinfactor.studies import StudyResult

@dataclass(frozen=True)
class Config:
    x: int = 1

DEFAULT_DATA = {"dataset": "hyperliquid-perp-1d", "symbols": ["BTC"]}
KEY_METRICS = ("mean_rsquared_spreads", "rank_deficient_share_spreads",
               "max_abs_factor_correlation")

def run(config, panel):
    return StudyResult(study="risk_model", config={}, metrics={
        "n_symbols": 40, "mean_rsquared_spreads": 0.6833, "rank_deficient_share_spreads": 0.0,
        "max_abs_factor_correlation": 0.698,
        "max_abs_factor_correlation_pair": "market & beta_hml"})
'''

# a P&L study without a KEY_METRICS of its own (the default key metrics apply)
PNL_STUDY = '''
from dataclasses import dataclass
from coinfactor.studies import StudyResult

@dataclass(frozen=True)
class Config:
    x: int = 1

DEFAULT_DATA = {"dataset": "hyperliquid-perp-1d", "symbols": ["BTC"]}

def run(config, panel):
    return StudyResult(study="pnl", config={}, metrics={
        "annual_return": -0.198, "annual_volatility": 0.21, "sharpe_ratio": -0.96,
        "max_drawdown": -0.42, "annual_cost_return": -0.215, "annual_funding_return": 0.094})
'''


@pytest.fixture()
def fake_studies(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "risk_like_study.py").write_text(RISK_LIKE_STUDY)
    (tmp_path / "pnl_study.py").write_text(PNL_STUDY)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(studies, "STUDIES", {"pnl": "pnl_study",
                                             "risk_model": "risk_like_study"})
    return tmp_path


def test_demo_table_gives_a_reading_and_key_metrics_for_every_study(
        fake_studies: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(console, "width", 200)  # a wide terminal: no cell wraps
    res = CliRunner().invoke(app, ["demo", "--out", str(fake_studies / "d")])
    assert res.exit_code == 0, res.output
    out = res.output
    assert "loses 19.8%/yr after 21.5%/yr costs (funding +9.4%/yr); Sharpe -0.96, max " \
           "drawdown -42%" in out
    assert "Sharpe ratio: -0.96" in out and "Annual return (CAGR): -19.80%/yr" in out
    # the study without P&L: its own key metrics, in words, and a reading
    assert "Mean R², market + spreads: 68.33%" in out
    assert "Rank-deficient windows, market + spreads: 0.00%" in out
    assert "Largest factor correlation (absolute): 0.70" in out
    assert "market + spread factors explain 68% of coins' bar-return variance" in out
    row = next(line for line in out.splitlines()
               if line.lstrip().startswith("risk_model") and "explain" in line)
    assert " - " not in row  # before: "risk_model  12  -  -  -  -  -  -"
    assert "mean_rsquared_spreads" not in out  # no raw keys


def test_demo_index_shows_the_reading_and_labelled_metrics(fake_studies: Path) -> None:
    result = run_demo(fake_studies / "d")
    runs = {r.study: r for r in result.runs}
    assert runs["risk_model"].reading.startswith("market + spread factors explain 68%")
    assert list(runs["risk_model"].headline(limit=None)) == [
        "mean_rsquared_spreads", "rank_deficient_share_spreads", "max_abs_factor_correlation"]
    index = result.index.read_text("utf-8")
    assert "market + spread factors explain 68%" in index
    assert ">Mean R², market + spreads</span>: 68.33%" in index
    assert "loses 19.8%/yr after 21.5%/yr costs" in index
    assert "risk_model" in result.summary() and "explain 68%" in result.summary()


def test_risk_model_reports_its_key_metrics() -> None:
    """Before: risk_model had no rank-deficient share of its default factor set and no
    factor correlations, so the demo had nothing to show for it."""
    from coinfactor import datasets

    panel = datasets.load("binance-perp-1h")
    keep = sorted(panel["symbol"].unique().to_list())[:12]
    panel = panel.filter(panel["symbol"].is_in(keep))
    metrics = risk_model.run(risk_model.Config(), panel).metrics
    assert set(risk_model.KEY_METRICS) <= set(metrics)
    assert 0.0 <= metrics["rank_deficient_share_spreads"] <= 1.0
    assert 0.0 <= metrics["mean_abs_factor_correlation"] <= metrics[
        "max_abs_factor_correlation"] <= 1.0
    assert " & " in metrics["max_abs_factor_correlation_pair"]
