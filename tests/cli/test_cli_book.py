"""``coinfactor book``: a study's book from the CLI, with markets as ccxt structures.

References: ``build_book`` on the same inputs (the CLI only parses and prints) and the exit
code of a blocking check.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from coinfactor import datasets
from coinfactor.cli import app
from support import ROOT


def _markets(tmp: Path, panel: pl.DataFrame, when_ms: int) -> Path:
    market = {"precision": {"amount": 0.001, "price": 0.0001},
              "limits": {"amount": {"min": 0.001}, "cost": {"min": 10.0},
                         "leverage": {"max": 20}}, "contractSize": 1.0, "active": True}
    spec = {"precisionMode": 4, "timestamp": when_ms,
            "markets": {s: market for s in panel["symbol"].unique().to_list()}}
    path = tmp / "markets.json"
    path.write_text(json.dumps(spec))
    return path


def test_book_command_writes_orders_and_blocks_on_stale_data(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COINFACTOR_HOME", str(tmp_path / "home"))
    panel = datasets.load("hyperliquid-perp-1d")
    config = tmp_path / "carry.toml"
    text = (ROOT / "studies" / "carry.toml").read_text("utf-8")
    config.write_text(text.replace("impact_window_days = 30.0",
                                   "impact_window_days = 30.0\ncapacity_navs = []"))
    as_of = panel["ts"].max() + timedelta(days=1)
    markets = _markets(tmp_path, panel, int(as_of.timestamp() * 1000) - 3_600_000)
    positions = tmp_path / "positions.csv"
    positions.write_text("symbol,quantity\nBTC,0.25\n")
    runner = CliRunner()
    args = ["book", str(config), "--nav", "500000", "--markets", str(markets),
            "--positions", str(positions), "--as-of", as_of.isoformat()]
    res = runner.invoke(app, [*args, "--out", str(tmp_path / "b1")])
    assert res.exit_code == 0, res.output
    orders = pl.read_csv(tmp_path / "b1" / "orders.csv")
    assert orders.height > 0 and "no order is sent" in " ".join(res.output.split())
    summary = json.loads((tmp_path / "b1" / "book.json").read_text())
    assert summary["blocked"] is False and summary["nav"] == 500000.0
    late = (as_of + timedelta(days=5)).isoformat()
    res = runner.invoke(app, ["book", str(config), "--nav", "500000", "--markets",
                              str(markets), "--as-of", late, "--out", str(tmp_path / "b2")])
    assert res.exit_code == 3, res.output
    assert "stale_data" in res.output
    assert pl.read_csv(tmp_path / "b2" / "orders.csv").height == 0
    res = runner.invoke(app, [*args, "--out", str(tmp_path / "b1")])  # exists
    assert res.exit_code == 2 and "--overwrite" in res.output
