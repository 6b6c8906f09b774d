"""Opening the store: reads create nothing, foreign or damaged files are refused untouched,
a lock held by another process is named (issue 16)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb
import polars as pl
import pytest

from coinfactor.core.errors import ConfigError, DataError
from coinfactor.data.store import Store
from coinfactor.studies import load_study_data
from support.panels import store_panel

EX = {"exchange": "binanceusdm", "market": "swap"}

READS: dict[str, Callable[[Store], object]] = {
    "coverage": lambda s: s.coverage(),
    "query_bars": lambda s: s.query_bars(),
    "query_funding": lambda s: s.query_funding(exchange="binanceusdm"),
    "query_snapshots": lambda s: s.query_snapshots(exchange="binanceusdm"),
    "last_timestamps": lambda s: s.last_timestamps("bars", **EX, freq="1h"),
}


def _state(path: Path) -> tuple[bytes, int]:
    return path.read_bytes(), path.stat().st_mtime_ns


@pytest.mark.parametrize("read", list(READS.values()), ids=list(READS))
def test_reads_of_a_missing_store_create_nothing(tmp_path: Path,
                                                 read: Callable[[Store], object]) -> None:
    path = tmp_path / "not" / "yet" / "db.duckdb"
    store = Store(path)
    try:
        read(store)
    except DataError as exc:  # query_bars: nothing to read
        assert "the file does not exist (and was not created)" in str(exc)
    store.close()
    assert not (tmp_path / "not").exists()
    assert list(tmp_path.iterdir()) == []


def test_reads_of_a_missing_store_are_empty(tmp_path: Path) -> None:
    store = Store(tmp_path / "db.duckdb")
    assert store.coverage().height == 0
    assert store.last_timestamps("bars", **EX, freq="1h") == {}
    assert store.query_funding(exchange="binanceusdm").height == 0


def test_study_data_from_a_missing_store_creates_nothing(tmp_path: Path) -> None:
    spec = {"store": {"exchange": "binanceusdm", "path": "sub/dir/db.duckdb"}}
    with pytest.raises(DataError, match="does not exist"):
        load_study_data(spec, base_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


def _foreign(path: Path) -> Path:
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE people (name VARCHAR, age INTEGER)")
    con.execute("INSERT INTO people VALUES ('ada', 36)")
    con.close()
    return path


@pytest.mark.parametrize("call", [
    *READS.values(), lambda s: s.write_bars(store_panel(), **EX, freq="1h"),
], ids=[*READS, "write_bars"])
def test_another_programs_duckdb_file_is_refused_untouched(
        tmp_path: Path, call: Callable[[Store], object]) -> None:
    path = _foreign(tmp_path / "app.duckdb")
    before = _state(path)
    with Store(path) as store, pytest.raises(
            DataError, match=r"is a DuckDB database but not a coinfactor store: it has no "
                             r"coinfactor_meta marker and holds table people") as e:
        call(store)
    assert "does not add its tables" in str(e.value)
    assert _state(path) == before
    assert sorted(os.listdir(tmp_path)) == ["app.duckdb"]


def test_study_data_from_another_programs_file_is_refused_untouched(tmp_path: Path) -> None:
    path = _foreign(tmp_path / "app.duckdb")
    before = _state(path)
    with pytest.raises(DataError, match="not a coinfactor store"):
        load_study_data({"store": {"exchange": "binanceusdm", "path": str(path)}})
    assert _state(path) == before


def test_a_file_that_is_not_duckdb_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "notes.duckdb"
    path.write_text("not a database\n" * 100)
    before = _state(path)
    for call in (READS["coverage"], lambda s: s.write_bars(store_panel(), **EX, freq="1h")):
        with Store(path) as store, pytest.raises(DataError, match="not a valid DuckDB"):
            call(store)
    assert _state(path) == before


def test_an_empty_duckdb_file_is_adopted_on_write(tmp_path: Path) -> None:
    path = tmp_path / "empty.duckdb"
    duckdb.connect(str(path)).close()
    with Store(path) as store:
        assert store.coverage().height == 0
        assert store.write_bars(store_panel(), **EX, freq="1h") == store_panel().height


def _truncated_store(tmp_path: Path, keep: float) -> Path:
    path = tmp_path / "db.duckdb"
    with Store(path) as store:
        base = store_panel()
        big = pl.concat([base.with_columns(pl.col("symbol") + f"{i:04d}")
                         for i in range(2000)]).sort("symbol", "ts")
        store.write_bars(big, **EX, freq="1h")
    size = path.stat().st_size
    with path.open("r+b") as f:
        f.truncate(int(size * keep))
    return path


def test_a_half_truncated_store_is_not_reported_healthy(tmp_path: Path) -> None:
    path = _truncated_store(tmp_path, 0.5)
    before = _state(path)
    for call in (READS["coverage"], lambda s: s.write_bars(store_panel(), **EX, freq="1h")):
        with Store(path) as store, pytest.raises(DataError, match=r"is truncated: the file "
                                                                  r"holds [\d,]+ bytes") as e:
            call(store)
        assert "backup" in str(e.value)
    assert _state(path) == before


def test_a_store_cut_inside_its_headers_is_an_error_naming_the_file(tmp_path: Path) -> None:
    path = _truncated_store(tmp_path, 0.0)
    path.write_bytes(path.read_bytes()[:5000] if path.stat().st_size else b"DUCK" * 1000)
    with Store(path) as store, pytest.raises(DataError, match=str(path)):
        store.coverage()


_HOLDER = textwrap.dedent("""
    import sys, time, duckdb
    con = duckdb.connect(sys.argv[1])
    print("held", flush=True)
    sys.stdin.readline()
""")


@pytest.fixture
def held(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    """A store whose file another process holds open for writing (its PID)."""
    path = tmp_path / "db.duckdb"
    Store(path).write_bars(store_panel(), **EX, freq="1h")
    proc = subprocess.Popen([sys.executable, "-c", _HOLDER, str(path)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        yield path, proc.pid
    finally:
        proc.communicate("done\n", timeout=30)


@pytest.mark.parametrize("call", [
    READS["coverage"], READS["query_bars"], lambda s: s.write_bars(store_panel(), **EX,
                                                                    freq="1h"),
], ids=["coverage", "query_bars", "write_bars"])
def test_a_lock_held_by_another_process_names_it(held: tuple[Path, int],
                                                 call: Callable[[Store], object]) -> None:
    path, pid = held
    with Store(path) as store, pytest.raises(DataError, match=rf"in use by another process: "
                                                              rf".+ \(PID {pid}\)") as e:
        call(store)
    assert "IOException" not in str(e.value) and "wait for that process" in str(e.value)


def test_the_store_works_once_the_lock_is_released(tmp_path: Path) -> None:
    path = tmp_path / "db.duckdb"
    Store(path).write_bars(store_panel(), **EX, freq="1h")
    proc = subprocess.Popen([sys.executable, "-c", _HOLDER, str(path)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    store = Store(path)
    with pytest.raises(DataError, match="in use by another process"):
        store.coverage()
    proc.communicate("done\n", timeout=30)
    assert store.coverage().height == 3


def test_bad_names_are_refused_before_the_file_is_opened(tmp_path: Path) -> None:
    path = _foreign(tmp_path / "app.duckdb")
    with pytest.raises(ConfigError, match="invalid exchange"):
        Store(path).coverage(exchange="x\n")


def test_a_reader_beside_a_writer_of_this_process_shares_its_database(tmp_path: Path) -> None:
    path = tmp_path / "db.duckdb"
    writer = Store(path)
    writer.write_bars(store_panel(), **EX, freq="1h")  # kept open for writing
    with Store(path) as reader:
        assert reader.query_bars().equals(store_panel())
    writer.write_bars(store_panel(), **EX, freq="1h")
    writer.close()


def test_a_writer_beside_a_reader_of_this_process_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "db.duckdb"
    Store(path).write_bars(store_panel(), **EX, freq="1h")
    reader = Store(path)
    assert reader.coverage().height == 3  # open read-only
    with Store(path) as writer, pytest.raises(DataError, match=r"open read-only in this "
                                                               r"process \(another Store"):
        writer.write_bars(store_panel(), **EX, freq="1h")
    reader.close()
    assert Store(path).write_bars(store_panel(), **EX, freq="1h") == 0


def test_duckdb_prints_no_progress_bar(tmp_path: Path) -> None:
    """DuckDB draws a progress bar on queries over 2 s (on by default outside pytest)."""
    code = textwrap.dedent("""
        import sys
        import duckdb
        from coinfactor.data.store import Store
        from support.panels import store_panel
        plain = duckdb.connect().execute("SELECT current_setting('enable_progress_bar')")
        seen = [plain.fetchone()[0]]
        path = sys.argv[1] + "/db.duckdb"
        for store in (Store(path), Store(path)):
            with store._connect() as con:  # missing file, then a real one
                seen.append(con.execute("SELECT current_setting('enable_progress_bar')")
                            .fetchone()[0])
            store.write_bars(store_panel(), exchange="binanceusdm", market="swap", freq="1h")
            with store._connect() as con:
                seen.append(con.execute("SELECT current_setting('enable_progress_bar')")
                            .fetchone()[0])
            store.close()
        print(seen)
    """)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([*sys.path])}
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True,
                         text=True, env=env, check=True).stdout
    assert out.strip() == "[True, False, False, False, False]"
