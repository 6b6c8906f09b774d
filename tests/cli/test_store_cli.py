"""``coinfactor store info|export|import`` and ``[data] store = {...}`` in study configs."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from coinfactor.cli import app
from coinfactor.cli._app import console
from coinfactor.core.errors import ConfigError
from coinfactor.data.store import Store
from coinfactor.studies import load_study_data
from support.panels import store_panel

runner = CliRunner()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("COINFACTOR_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(console, "width", 200)  # no wrapping of table cells
    return tmp_path


def test_cli_import_info_export(home: Path) -> None:
    src = home / "in.parquet"
    store_panel().write_parquet(src)
    for _ in range(2):
        res = runner.invoke(app, ["store", "import", str(src), "--exchange", "binanceusdm",
                                  "--freq", "1h"])
        assert res.exit_code == 0, res.output
    assert "(0 new)" in res.output
    assert Store().query_bars().height == store_panel().height
    res = runner.invoke(app, ["store", "info"])
    assert res.exit_code == 0, res.output
    assert "BUSDT" in res.output and "binanceusdm" in res.output
    out = home / "out.parquet"
    res = runner.invoke(app, ["store", "export", "--out", str(out), "--exchange", "binanceusdm",
                              "--freq", "1h", "--symbols", "AUSDT,CUSDT"])
    assert res.exit_code == 0, res.output
    assert pl.read_parquet(out).equals(store_panel().filter(pl.col("symbol").is_in(["AUSDT",
                                                                               "CUSDT"])))


def test_cli_errors_are_clean(home: Path) -> None:
    res = runner.invoke(app, ["store", "export", "--out", str(home / "o.parquet")])
    assert res.exit_code == 2
    assert "has no bars matching" in res.output
    res = runner.invoke(app, ["store", "export", "--out", str(home / "o.parquet"),
                              "--symbols", "x;drop"])
    assert res.exit_code == 2 and "invalid symbol" in res.output


def test_study_data_from_store(home: Path) -> None:
    Store().write_bars(store_panel(), exchange="binanceusdm", market="swap", freq="1h")
    panel, source = load_study_data({"store": {"exchange": "binanceusdm", "freq": "1h",
                                               "symbols": ["AUSDT"]}})
    assert panel.equals(store_panel().filter(pl.col("symbol") == "AUSDT"))
    assert source.startswith("store ")
    db = home / "home" / "coinfactor.duckdb"
    panel2, _ = load_study_data({"store": {"path": str(db)}, "start": "2024-01-01 02:00"})
    assert panel2.equals(store_panel().filter(pl.col("ts") >= pl.datetime(2024, 1, 1, 2,
                                                                     time_zone="UTC")))
    with pytest.raises(ConfigError, match="unknown key"):
        load_study_data({"store": {"exchang": "x"}})
    with pytest.raises(ConfigError, match="exactly one of"):
        load_study_data({"store": {}, "dataset": "x"})
