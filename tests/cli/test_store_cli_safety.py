"""``coinfactor store``: read commands create nothing, damaged or foreign files are errors,
export picks its format from the extension, import refuses a wrong frequency (issue 16)."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import duckdb
import polars as pl
import pytest
from typer.testing import CliRunner

from coinfactor.cli import app
from coinfactor.cli._app import console, err_console
from coinfactor.data import read_bars
from coinfactor.data.store import Store
from support.panels import make_panel, store_panel

runner = CliRunner()
EX = {"exchange": "binanceusdm", "market": "swap"}


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("COINFACTOR_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(console, "width", 300)  # no wrapping of messages
    monkeypatch.setattr(err_console, "width", 300)
    return tmp_path


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def test_store_info_on_a_missing_store_creates_nothing(home: Path) -> None:
    res = runner.invoke(app, ["store", "info"])
    assert res.exit_code == 0, res.output
    assert "there is no store at" in res.output and "nothing was created" in res.output
    res = runner.invoke(app, ["store", "info", "--db", str(home / "a" / "b.duckdb")])
    assert res.exit_code == 0, res.output
    assert _files(home) == []


def test_store_export_of_a_missing_store_creates_nothing(home: Path) -> None:
    res = runner.invoke(app, ["store", "export", "--out", str(home / "o.parquet")])
    assert res.exit_code == 2
    assert _files(home) == []


def test_store_info_on_a_truncated_store_is_an_error(home: Path) -> None:
    db = home / "db.duckdb"
    base = store_panel()
    with Store(db) as store:
        store.write_bars(pl.concat([base.with_columns(pl.col("symbol") + f"{i:04d}")
                                    for i in range(2000)]).sort("symbol", "ts"),
                         **EX, freq="1h")
    with db.open("r+b") as f:
        f.truncate(db.stat().st_size // 2)
    res = runner.invoke(app, ["store", "info", "--db", str(db)])
    assert res.exit_code == 2
    assert "is truncated" in res.output and "AUSDT0000" not in res.output


def test_store_info_on_another_programs_duckdb_file_is_an_error(home: Path) -> None:
    db = home / "app.duckdb"
    con = duckdb.connect(str(db))
    con.execute("CREATE TABLE orders (id INTEGER)")
    con.close()
    before = db.read_bytes()
    for args in (["store", "info"], ["store", "export", "--out", str(home / "o.parquet")]):
        res = runner.invoke(app, [*args, "--db", str(db)])
        assert res.exit_code == 2
        assert "not a coinfactor store" in res.output
    src = home / "in.parquet"
    store_panel().write_parquet(src)
    res = runner.invoke(app, ["store", "import", str(src), "--exchange", "binanceusdm",
                              "--db", str(db)])
    assert res.exit_code == 2 and "not a coinfactor store" in res.output
    assert db.read_bytes() == before
    assert _files(home) == ["app.duckdb", "in.parquet"]


def test_store_info_names_the_process_holding_the_lock(home: Path) -> None:
    db = home / "db.duckdb"
    Store(db).write_bars(store_panel(), **EX, freq="1h")
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys, duckdb; c = duckdb.connect(sys.argv[1]); "
         "print('held', flush=True); sys.stdin.readline()", str(db)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        res = runner.invoke(app, ["store", "info", "--db", str(db)])
    finally:
        proc.communicate("done\n", timeout=30)
    assert res.exit_code == 2
    assert f"(PID {proc.pid})" in res.output and "in use by another process" in res.output


@pytest.fixture
def filled_store(home: Path) -> Path:
    Store().write_bars(store_panel(), **EX, freq="1h")
    return home


def test_store_export_to_csv_writes_csv(filled_store: Path) -> None:
    out = filled_store / "x.csv"
    res = runner.invoke(app, ["store", "export", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert not out.read_bytes().startswith(b"PAR1")
    assert out.read_text().splitlines()[0].startswith("ts,symbol,open,high,low,close")
    assert read_bars(out).equals(store_panel())


@pytest.mark.parametrize("name", ["x.json", "x", "x.parquet.gz"])
def test_store_export_refuses_an_unknown_extension(filled_store: Path, name: str) -> None:
    res = runner.invoke(app, ["store", "export", "--out", str(filled_store / name)])
    assert res.exit_code == 2
    assert "expected one of ['.parquet', '.csv']" in res.output
    assert not (filled_store / name).exists()
    assert not list(filled_store.glob(".x*"))


def test_store_export_replaces_a_file_only_when_complete(filled_store: Path) -> None:
    out = filled_store / "x.parquet"
    out.write_bytes(b"old")
    res = runner.invoke(app, ["store", "export", "--out", str(out), "--symbols", "ZZZ"])
    assert res.exit_code == 2  # nothing matches: the old file stays
    assert out.read_bytes() == b"old"
    res = runner.invoke(app, ["store", "export", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert pl.read_parquet(out).equals(store_panel())
    assert sorted(p.name for p in filled_store.iterdir()) == ["home", "x.parquet"]


def test_store_import_refuses_a_declared_frequency_finer_than_the_file(home: Path) -> None:
    src = home / "4h.parquet"
    make_panel({"AUSDT": [1.0, 2.0, 3.0]}, step=timedelta(hours=4)).write_parquet(src)
    res = runner.invoke(app, ["store", "import", str(src), "--exchange", "binanceusdm",
                              "--freq", "1h"])
    assert res.exit_code == 2
    assert "declared bar frequency '1h', but the data's bars are 4h apart" in res.output
    assert _files(home) == ["4h.parquet"]
    res = runner.invoke(app, ["store", "import", str(src), "--exchange", "binanceusdm"])
    assert res.exit_code == 0, res.output
    assert Store().coverage()["freq"].to_list() == ["4h"]


def test_store_import_stores_one_spelling_of_a_frequency(home: Path) -> None:
    src = home / "in.parquet"
    store_panel().write_parquet(src)
    for freq in ("1h", "60m", "01h"):
        res = runner.invoke(app, ["store", "import", str(src), "--exchange", "binanceusdm",
                                  "--freq", freq])
        assert res.exit_code == 0, res.output
    assert Store().coverage()["freq"].unique().to_list() == ["1h"]
    res = runner.invoke(app, ["store", "import", str(src), "--exchange", "binanceusdm",
                              "--freq", " 1h"])
    assert res.exit_code == 2 and "invalid bar frequency" in res.output
