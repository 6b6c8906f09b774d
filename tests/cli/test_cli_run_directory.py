"""``coinfactor run A --out D; coinfactor run B --out D`` (issue 16, must show).

Today the second run exits 0 into D and leaves A's files beside B's: a risk_model report
showed carry's NAV, tables and versions. Now it is refused (D unchanged) unless
``--overwrite`` is given, and then D holds exactly B's files.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

from typer.testing import CliRunner

from coinfactor.cli import app

CARRY = 'study = "carry"\n[data]\ndataset = "hyperliquid-perp-1d"\nstart = "2025-01-01"\n'
RISK_MODEL = ('study = "risk_model"\n[data]\ndataset = "binance-perp-4h"\n'
              'start = "2025-06-01"\n')
RISK_MODEL_FILES = ["config.toml", "data_summary.json", "exposures", "exposures_daily.parquet",
                    "factor_returns.parquet", "manifest.json", "memberships",
                    "metrics.json", "report.html", "versions.json"]


def _snapshot(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_second_run_into_a_run_directory_needs_overwrite_and_then_replaces_it(
        tmp_path: Path) -> None:
    a, b, d = tmp_path / "a.toml", tmp_path / "b.toml", tmp_path / "D"
    a.write_text(CARRY, "utf-8")
    b.write_text(RISK_MODEL, "utf-8")
    runner = CliRunner()
    res = runner.invoke(app, ["run", str(a), "--out", str(d)])
    assert res.exit_code == 0, res.output
    assert (d / "nav.parquet").exists()
    first = _snapshot(d)

    res = runner.invoke(app, ["run", str(b), "--out", str(d)])
    assert res.exit_code == 2, res.output
    assert "already holds a run (carry" in res.output and "--overwrite" in res.output
    assert _snapshot(d) == first  # D unchanged, byte for byte

    res = runner.invoke(app, ["run", str(b), "--out", str(d), "--overwrite"])
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in d.iterdir()) == RISK_MODEL_FILES  # no file of A left
    listed = [f["path"] for f in json.loads((d / "manifest.json").read_text())["files"]]
    # the exposures and memberships are Parquet parts in their own directories
    assert sorted({p.split("/")[0] for p in [*listed, "manifest.json", "report.html"]}) \
        == RISK_MODEL_FILES
    assert tomllib.loads((d / "config.toml").read_text())["study"] == "risk_model"
    html = (d / "report.html").read_text("utf-8")
    assert "NAV (growth of 1" not in html and "factor_returns" in html  # no carry figure
    assert sorted(p.name for p in tmp_path.iterdir()) == ["D", "a.toml", "b.toml"]
