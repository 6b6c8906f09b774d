"""The demo: runs the registered studies, writes their reports and an index, prints a table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from coinfactor import studies
from coinfactor.cli import app
from coinfactor.core.errors import ConfigError
from coinfactor.studies._demo import DEFAULT_OUT, DemoResult, run_demo

BROKEN_STUDY = '''
from dataclasses import dataclass

@dataclass(frozen=True)
class Config:
    x: int = 1

DEFAULT_DATA = {"dataset": "hyperliquid-perp-1d", "symbols": ["BTC"]}

def run(config, panel):
    raise RuntimeError("broken on purpose")
'''

# a cheap study (metrics only, no figures) that must still run after the broken one
METRICS_ONLY_STUDY = '''
from dataclasses import dataclass
from coinfactor.studies import StudyResult

@dataclass(frozen=True)
class Config:
    x: int = 1

DEFAULT_DATA = {"dataset": "hyperliquid-perp-1d", "symbols": ["BTC"]}

def run(config, panel):
    return StudyResult(study="zz_ok", config={},
                       metrics={"sharpe_ratio": 1.25, "bars": panel.height})
'''


def test_demo_writes_runs_reports_and_index(demo: DemoResult) -> None:
    assert demo.ok and [r.study for r in demo.runs] == ["tiny"]
    run = demo.runs[0]
    assert run.run_dir == demo.out_dir / "tiny"
    for name in ("config.toml", "metrics.json", "data_summary.json", "nav.parquet",
                 "weights.parquet", "report.html", "versions.json"):
        assert (run.run_dir / name).exists(), name
    assert json.loads((run.run_dir / "metrics.json").read_text())["sharpe_ratio"] == pytest.approx(
        run.metrics["sharpe_ratio"])
    # the resolved config is the study's default config and DEFAULT_DATA
    config = (run.run_dir / "config.toml").read_text()
    assert 'study = "tiny"' in config and 'long = "BTC"' in config
    index = demo.index.read_text("utf-8")
    assert demo.index == demo.out_dir / "demo.html"
    assert 'href="tiny/report.html"' in index
    assert index.count("<img ") == 2  # the NAV thumbnail and the funding chart
    assert list(run.headline()) == ["annual_return", "annual_volatility", "sharpe_ratio",
                                    "max_drawdown"]
    assert "tiny" in demo.summary()


def test_demo_reports_progress(
    demo_with_progress: tuple[DemoResult, list[tuple[str, float]]],
) -> None:
    _, seen = demo_with_progress
    fracs = [f for n, f in seen if n == "tiny"]
    assert fracs[-1] == 1.0 and fracs == sorted(fracs)
    assert len(fracs) > 3  # tiny's run(progress=...) reports intermediate fractions


def test_demo_rejects_unknown_studies(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown study"):
        run_demo(tmp_path, studies=["nope"])


def test_cli_demo_goes_on_after_a_failing_study(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "broken_study.py").write_text(BROKEN_STUDY)
    (tmp_path / "ok_study.py").write_text(METRICS_ONLY_STUDY)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(studies, "STUDIES", {"broken": "broken_study", "zz_ok": "ok_study"})
    out = tmp_path / "d"
    res = CliRunner().invoke(app, ["demo", "--out", str(out)])
    assert res.exit_code == 1, res.output  # a failed study fails the command ...
    assert (out / "zz_ok" / "report.html").exists()  # ... after the others ran
    assert "key metrics" in res.output and "1.25" in res.output  # sharpe_ratio -> Sharpe
    assert "failed" in res.output  # the message itself is in the index (the table wraps)
    index = (out / "demo.html").read_text()
    assert "failed: RuntimeError: broken on purpose" in index
    assert 'href="zz_ok/report.html"' in index and 'href="broken/report.html"' not in index


def test_cli_demo_default_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(studies, "STUDIES", {})
    res = CliRunner().invoke(app, ["demo"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / DEFAULT_OUT / "demo.html").exists()
    assert str(DEFAULT_OUT) == "coinfactor-demo"
