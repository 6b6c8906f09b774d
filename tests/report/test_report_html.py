"""report.html: self-contained, complete, rebuildable from the run directory's files alone."""

from __future__ import annotations

import json
import re
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from coinfactor.cli import app
from coinfactor.core.errors import ConfigError
from coinfactor.report import write_report
from coinfactor.report._html import format_value

EXTERNAL = re.compile(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", re.IGNORECASE)
# figures the tiny run allows: nav (NAV, drawdown, rolling, attribution), weights (exposure),
# bootstrap, exposures, factor_returns, funding, rolling_corr; 'percentiles' is a table
EXPECTED_FIGURES = 10


def _html(run_dir: Path) -> str:
    return (run_dir / "report.html").read_text("utf-8")


def test_study_write_builds_a_complete_report(run_dir: Path) -> None:
    html = _html(run_dir)
    assert html.count("<img ") == EXPECTED_FIGURES
    assert html.count('src="data:image/png;base64,') == EXPECTED_FIGURES
    for heading in ("Metrics", "Performance", "Positions", "Study tables", "Data", "Config",
                    "Versions"):
        assert f"<h2>{heading}</h2>" in html
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert format_value("sharpe_ratio", metrics["sharpe_ratio"]) in html
    assert format_value("max_drawdown", metrics["max_drawdown"]) in html
    versions = json.loads((run_dir / "versions.json").read_text())
    assert versions["polars"] == pl.__version__ and f">{pl.__version__}<" in html
    assert "could not" not in html  # every table of the tiny study was drawn


def test_report_loads_nothing_from_the_network(run_dir: Path) -> None:
    html = _html(run_dir)
    assert not EXTERNAL.search(html)
    assert "<link" not in html and "<script" not in html and "@import" not in html
    # the check itself can fail: an external image would be caught
    assert EXTERNAL.search('<img src="https://example.com/x.png">')
    assert EXTERNAL.search("<a href='//cdn.example.com/a.css'>")


def test_report_is_rebuilt_from_the_files_alone(run_dir: Path, tmp_path: Path) -> None:
    """`coinfactor report DIR` on a copy without report.html gives the same bytes."""
    copy = tmp_path / run_dir.name  # the directory name is in the page's subtitle
    shutil.copytree(run_dir, copy)
    (copy / "report.html").unlink()
    res = CliRunner().invoke(app, ["report", str(copy)])
    assert res.exit_code == 0, res.output
    assert "wrote" in res.output
    assert _html(copy) == _html(run_dir)  # same bytes: deterministic and file-driven


def test_report_is_tolerant(tmp_path: Path) -> None:
    d = tmp_path / "partial"
    d.mkdir()
    (d / "metrics.json").write_text(json.dumps({"ic_mean": 0.02, "nested": {"a": 1}}))
    (d / "garbage.parquet").write_bytes(b"not parquet")
    pl.DataFrame({"ts": [1, 2], "label": ["a", "b"]}).write_parquet(d / "odd.parquet")
    pl.DataFrame({"x": [1.0]}).head(0).write_parquet(d / "empty.parquet")
    path = write_report(d)
    assert path == d / "report.html"
    html = path.read_text("utf-8")
    assert "could not read garbage.parquet" in html
    assert "empty table" in html
    assert "nested.a" in html and "no config.toml" in html and "no data_summary.json" in html
    assert "<img" not in html
    # a second NAV table (NAV + drawdown) and a table timed by another Datetime column
    t = [datetime(2024, 1, 1, tzinfo=UTC) + timedelta(days=i) for i in range(5)]
    pl.DataFrame({"ts": t, "nav": [1.0, 1.1, 1.0, 1.2, 1.3], "ret": [0.0, 0.1, -1 / 11, 0.2,
                                                                    1 / 12]}
                 ).write_parquet(d / "nav_unhedged.parquet")
    pl.DataFrame({"decision": t * 2, "symbol": ["A"] * 5 + ["B"] * 5,
                  "x": list(range(10))}).write_parquet(d / "cross_section.parquet")
    pl.DataFrame({"x": [1.0]}).write_parquet(d / "nav.parquet")  # not a NAV: a note
    # tearsheet-shaped tables stacking two horizons: the shortest is drawn
    pl.DataFrame({"horizon": [1] * 5 + [5] * 5, "ts": t * 2, "n": [10] * 10,
                  "ic": [0.1, -0.2, 0.05, 0.0, 0.3] * 2}).write_parquet(d / "tearsheet_ic.parquet")
    pl.DataFrame({"horizon": [1, 1, 5, 5], "quantile": [1, 2, 1, 2],
                  "mean_return": [-0.01, 0.02, -0.03, 0.05]}).write_parquet(d / "qret.parquet")
    html = write_report(d).read_text("utf-8")
    assert html.count("<img ") == 5
    assert "could not draw the NAV figures" in html
    assert "tearsheet ic (horizon 1): information coefficient" in html
    assert "qret (horizon 1): mean_return by quantile (mean over periods)" in html


def test_report_notes_a_table_it_cannot_draw(tmp_path: Path) -> None:
    d = tmp_path / "bad_nav"
    d.mkdir()
    (d / "config.toml").write_text('study = "x"\n')
    pl.DataFrame({"ts": [1, 2], "ret": [0.1, 0.2]}).write_parquet(d / "nav.parquet")
    html = write_report(d).read_text("utf-8")
    assert "could not draw the NAV figures" in html


def test_report_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        write_report(tmp_path / "missing")
    with pytest.raises(ConfigError, match=r"neither config\.toml nor metrics\.json"):
        write_report(tmp_path)
    (tmp_path / "metrics.json").write_text("{oops")
    with pytest.raises(ConfigError, match="not valid JSON"):
        write_report(tmp_path)
    (tmp_path / "metrics.json").write_text("{}")
    (tmp_path / "config.toml").write_text("study = ")
    with pytest.raises(ConfigError, match="not valid TOML"):
        write_report(tmp_path)


def test_cli_report_error(tmp_path: Path) -> None:
    res = CliRunner().invoke(app, ["report", str(tmp_path / "nope")])
    assert res.exit_code == 2
    assert "does not exist" in " ".join(res.output.split())  # rich wraps long lines
