"""Bad input to the minute import: a clear error, and the store exactly as it was.

Every case first imports the real fixture (tests/fixtures/minutes_1m), then tries a bad
import whose bad file sorts LAST, so that good files before it were already staged; after
the error the minutes, the rollups and the partition files must be the ones from before,
with no staged file left behind.
"""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from coinfactor.core.errors import DataError
from coinfactor.data import read_bars
from coinfactor.data.store import Store, _background, _minutes

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "minutes_1m"
EX = {"exchange": "binanceusdm", "market": "swap"}


def _state(store: Store) -> tuple[pl.DataFrame, pl.DataFrame, list[str]]:
    root = _minutes.parts_root(store.path)
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    return (store.query_bars(**EX, freq="1m", funding=False),
            store.query_bars(**EX, freq="1h", partial="mark", funding=False), files)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(tmp_path / "db.duckdb")
    s.import_minutes(FIXTURE, **EX)
    return s


@pytest.fixture
def good(tmp_path: Path) -> Path:
    """A folder with two of the fixture's files (imported again: harmless if it succeeded)."""
    out = tmp_path / "in"
    out.mkdir()
    for name in ("BTCUSDT.csv.gz", "DASHUSDT.csv.gz"):
        shutil.copy(FIXTURE / name, out / name)
    return out


def _fails(store: Store, path: Path, *needles: str) -> DataError:
    before = _state(store)
    with pytest.raises(DataError) as info:
        store.import_minutes(path, **EX)
    text = str(info.value)
    for needle in needles:
        assert needle in text, text
    assert "fix:" in text, text  # what to do
    after = _state(store)
    assert_frame_equal(after[0], before[0])
    assert_frame_equal(after[1], before[1])
    assert after[2] == before[2]
    leftovers = [p for p in store.path.parent.iterdir() if p.name.startswith(".coinfactor-")]
    assert leftovers == []
    return info.value


def _btc() -> pl.DataFrame:
    return read_bars(FIXTURE / "BTCUSDT.csv.gz", freq="1m")


def _csv(frame: pl.DataFrame, path: Path) -> Path:
    frame.with_columns(pl.col("ts").dt.strftime("%Y-%m-%d %H:%M:%S")).rename(
        {"ts": "origin_time"}).write_csv(path)
    return path


def test_a_file_without_a_required_column_names_it(store: Store, good: Path) -> None:
    good.joinpath("ZZZUSDT.csv.gz").unlink(missing_ok=True)
    _csv(_btc().drop("close").with_columns(pl.lit("ZZZUSDT").alias("symbol")),
         good / "ZZZUSDT.csv")
    good.joinpath("BTCUSDT.csv.gz").rename(good / "BTCUSDT.csv")  # one format per folder
    good.joinpath("DASHUSDT.csv.gz").unlink()
    _fails(store, good, "ZZZUSDT.csv", "missing column(s) ['close']", "expected", "got")


def test_a_folder_of_mixed_formats_is_refused_before_reading(store: Store, good: Path) -> None:
    _btc().write_parquet(good / "ETHUSDT.parquet")
    _fails(store, good, "mixes file formats (2 csv.gz, 1 parquet)", "one format")
    (good / "ETHUSDT.parquet").unlink()
    (good / "notes.txt").write_text("not bars")
    _fails(store, good, "no supported format", "notes.txt")
    (good / "notes.txt").unlink()
    (good / "symbol=ETHUSDT").mkdir()
    _fails(store, good, "mixes hive partitions")


def test_an_unparseable_time_deep_in_a_file_names_its_row(store: Store, good: Path) -> None:
    frame = _btc().with_columns(pl.lit("ZZZUSDT").alias("symbol"))
    text = _csv(frame, good / "x.csv").read_text().splitlines()
    text[2001] = "2023-07-31 33:20:00" + text[2001][19:]  # data row 2,001: hour 33
    (good / "x.csv").unlink()
    for name in ("BTCUSDT.csv.gz", "DASHUSDT.csv.gz"):
        (good / name).rename(good / name.replace(".gz", ""))
        pl.read_csv(good / name.replace(".gz", "")).write_csv(good / name.replace(".gz", ""))
    (good / "ZZZUSDT.csv").write_text("\n".join(text) + "\n")
    err = _fails(store, good, "ZZZUSDT.csv", "column 'ts'", "expected date-times",
                 "2023-07-31 33:20:00")
    assert err.rows is not None and err.rows["row"].to_list() == [2001]


def test_the_same_symbol_in_two_files_is_refused(store: Store, good: Path) -> None:
    shutil.copy(FIXTURE / "BTCUSDT.csv.gz", good / "XBTUSDT.csv.gz")  # symbol column: BTCUSDT
    _fails(store, good, "symbol 'BTCUSDT' comes in two files", "BTCUSDT.csv.gz",
           "XBTUSDT.csv.gz", "one file per symbol")


def test_overlapping_hive_partitions_of_a_symbol_are_refused(store: Store,
                                                             tmp_path: Path) -> None:
    btc = _btc()
    for part, frame in (("a", btc.head(2000)), ("b", btc.slice(1500))):
        d = tmp_path / "hive" / "symbol=BTCUSDT" / f"part={part}"
        d.mkdir(parents=True)
        frame.drop("symbol").write_parquet(d / "data.parquet")
    _fails(store, tmp_path / "hive", "overlapping bars", "disjoint")


def test_bars_of_another_frequency_are_not_stored_as_sparse_minutes(store: Store,
                                                                    tmp_path: Path) -> None:
    five = _btc().filter(pl.col("ts").dt.minute() % 5 == 0)
    five.write_parquet(tmp_path / "BTCUSDT.parquet")
    _fails(store, tmp_path / "BTCUSDT.parquet", "declared bar frequency '1m'", "5m apart")


def test_times_between_minutes_and_unsorted_rows_are_refused(store: Store,
                                                             tmp_path: Path) -> None:
    off = _btc().with_columns(pl.col("ts") + pl.duration(seconds=30))
    off.write_parquet(tmp_path / "BTCUSDT.parquet")
    _fails(store, tmp_path / "BTCUSDT.parquet", "opening between minutes", "floor")
    shuffled = pl.concat([_btc().slice(100), _btc().head(100)])
    shuffled.write_parquet(tmp_path / "BTCUSDT.parquet")
    _fails(store, tmp_path / "BTCUSDT.parquet", "sorted")


def test_an_empty_file_and_a_missing_path_are_named(store: Store, good: Path) -> None:
    (good / "ZZZUSDT.csv.gz").write_bytes(b"")
    _fails(store, good, "ZZZUSDT.csv.gz", "holds no bars")
    _fails(store, good / "nothing-here", "does not exist")


def test_a_failure_inside_the_commit_rolls_everything_back(
        store: Store, good: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = _minutes.MinuteUpsert._insert_rollups

    def broken(self: _minutes.MinuteUpsert, paths: list[Path]) -> None:
        real(self, paths)  # the catalog is swapped and the rollups written: then it fails
        raise DataError("simulated failure after the rollups", fix="none: a test")

    monkeypatch.setattr(_minutes.MinuteUpsert, "_insert_rollups", broken)
    _fails(store, good, "simulated failure")


def test_files_a_crashed_write_left_are_never_read_and_swept_by_the_next_import(
        store: Store, good: Path) -> None:
    root = _minutes.parts_root(store.path)
    listed = _state(store)[2]
    stray = root / "binanceusdm" / "swap" / "BTCUSDT" / "2023-07-deadbeef0000.parquet"
    _btc().head(5).write_parquet(stray)  # what a crash between staging and commit leaves
    assert_frame_equal(store.query_bars(**EX, freq="1m", symbols=["BTCUSDT"], funding=False),
                       _btc())
    store.import_minutes(good, **EX)
    assert not stray.exists() and len(_state(store)[2]) == len(listed)  # BTC, DASH rewritten


@pytest.mark.parametrize("failing", ["part file", "rollup"])
def test_a_failure_on_the_background_thread_rolls_everything_back(
        store: Store, good: Path, monkeypatch: pytest.MonkeyPatch, failing: str) -> None:
    """A partition write (disk full) or a rollup failing on the writer thread: the import
    raises that error, in the main thread, and the store is as it was."""
    calls = [0]
    target = (_background, "write_part") if failing == "part file" else (_minutes,
                                                                          "rollup_bars")
    real = getattr(*target)

    def broken(*args: object) -> object:
        calls[0] += 1
        if calls[0] == 2:
            raise DataError(f"simulated {failing} failure", fix="none: a test")
        return real(*args)

    monkeypatch.setattr(*target, broken)
    monkeypatch.setattr(_minutes, "ROLLUP_BATCH_ROWS", 1000)  # several rollup tasks
    _fails(store, good, f"simulated {failing} failure")
    assert not [t for t in threading.enumerate() if t.name.startswith("coinfactor-import")]
