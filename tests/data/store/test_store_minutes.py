"""The minute store: streaming import of files and folders, exact rollups, range queries.

The reference everywhere is the in-memory path: the fixture's real one-minute files
(tests/fixtures/minutes_1m, Binance perps 2023-07-31 to 2023-08-01) read whole with
``coinfactor.data.read_bars`` and concatenated; rollups are checked against a naive polars
``group_by`` written out here (not :func:`coinfactor.data.resample`, which the store uses).
"""

from __future__ import annotations

import gzip
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from typer.testing import CliRunner

from coinfactor.cli import app
from coinfactor.data import read_bars, validate_panel
from coinfactor.data.store import Store, _minutes, _sources
from coinfactor.datasets._synthetic_minutes import synthetic_minute_symbols, write_minute_files

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "minutes_1m"
EX = {"exchange": "binanceusdm", "market": "swap"}


def _reference() -> pl.DataFrame:
    """The fixture read whole, in memory (the path the streaming import must equal)."""
    return pl.concat([read_bars(p, freq="1m") for p in sorted(FIXTURE.glob("*.csv.gz"))])


def _write_layout(tmp: Path, layout: str, panel: pl.DataFrame) -> Path:
    """Write ``panel`` as seed 000's layout in another format (or hive-partitioned)."""
    out = tmp / layout
    out.mkdir()
    for (symbol,), frame in panel.group_by("symbol", maintain_order=True):
        seed = frame.rename({"ts": "origin_time"}).select(
            "origin_time", "symbol", "open", "high", "low", "close", "volume")
        if layout == "csv":
            seed.with_columns(pl.col("origin_time").dt.strftime("%Y-%m-%d %H:%M:%S")).write_csv(
                out / f"{symbol}.csv")
        elif layout == "parquet":  # no symbol column: the file name tells it
            seed.drop("symbol").write_parquet(out / f"{symbol}.parquet", row_group_size=1000)
        else:  # hive: symbol=/month=, no symbol column, one file per (symbol, day)
            for (day,), part in seed.group_by(pl.col("origin_time").dt.date(),
                                              maintain_order=True):
                d = out / f"symbol={symbol}" / f"day={day}"
                d.mkdir(parents=True)
                part.drop("symbol").write_parquet(d / "part-0.parquet")
    return out


def _stored_files(store: Store) -> list[str]:
    root = _minutes.parts_root(store.path)
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*.parquet"))


def _naive_rollup(minutes: pl.DataFrame, every: str, per_bar: int) -> pl.DataFrame:
    """Reference rollup: a plain polars group_by on the truncated bar open (DESIGN.md rules)."""
    return (
        minutes.sort("symbol", "ts")
        .group_by("symbol", pl.col("ts").dt.truncate(every).alias("bucket"), maintain_order=True)
        .agg(pl.col("open").first(), pl.col("high").max(), pl.col("low").min(),
             pl.col("close").last(), pl.col("volume").sum(),
             pl.col("funding_rate").drop_nulls().sum().alias("funding_rate"),
             pl.col("funding_rate").is_not_null().any().alias("_has_funding"),
             (pl.len() == per_bar).alias("complete"))
        .with_columns(pl.when(pl.col("_has_funding")).then(pl.col("funding_rate"))
                      .alias("funding_rate"))
        .rename({"bucket": "ts"})
        .select("ts", "symbol", "open", "high", "low", "close", "volume", "funding_rate",
                "complete")
        .sort("symbol", "ts")
    )


def _check_rollups(store: Store, minutes: pl.DataFrame) -> None:
    sym = {"symbols": minutes["symbol"].unique().sort().to_list()}
    for freq, every, per_bar in (("1h", "1h", 60), ("1d", "1d", 1440)):
        got = store.query_bars(**EX, freq=freq, partial="mark", funding=False, **sym)
        want = _naive_rollup(minutes, every, per_bar)
        # sums of up to 1,440 floats: the order of summation may differ in the last bits
        assert_frame_equal(got.select(want.columns), want, check_exact=False, rel_tol=1e-12,
                           abs_tol=0.0, check_dtypes=False)
        dropped = store.query_bars(**EX, freq=freq, funding=False, **sym)
        assert dropped.height == want["complete"].sum()


@pytest.mark.parametrize("layout", ["csv.gz", "csv", "parquet", "hive"])
def test_streaming_folder_import_equals_the_in_memory_reference(tmp_path: Path,
                                                                layout: str) -> None:
    ref = _reference()
    folder = FIXTURE if layout == "csv.gz" else _write_layout(tmp_path, layout, ref)
    with Store(tmp_path / "db.duckdb") as store:
        counts = store.import_minutes(folder, **EX)
        assert (counts.bars_rows, counts.bars_new) == (ref.height, ref.height)
        got = store.query_bars(**EX, freq="1m", funding=False)
        assert_frame_equal(got, ref)
        _check_rollups(store, ref)
        # two months (July, August) per symbol: one file each
        assert len(_stored_files(store)) == 2 * ref["symbol"].n_unique()
        again = store.import_minutes(folder, **EX)
        assert (again.bars_rows, again.bars_new) == (ref.height, 0)
        assert_frame_equal(store.query_bars(**EX, freq="1m", funding=False), ref)
        assert len(_stored_files(store)) == 2 * ref["symbol"].n_unique()  # old files gone


def test_partial_reimport_updates_the_minutes_and_the_affected_rollups_exactly(
        tmp_path: Path) -> None:
    ref = _reference()
    with Store(tmp_path / "db.duckdb") as store:
        store.import_minutes(FIXTURE, **EX)
        before_1h = store.query_bars(**EX, freq="1h", partial="mark", funding=False)
        # new prices for BTCUSDT's minutes 2023-07-31 23:30 to 2023-08-01 00:29 (crossing a
        # month end and a day), ten of them left out of the file (they stay as stored)
        lo, hi = datetime(2023, 7, 31, 23, 30, tzinfo=UTC), datetime(2023, 8, 1, 0, 30,
                                                                     tzinfo=UTC)
        part = ref.filter((pl.col("symbol") == "BTCUSDT") & pl.col("ts").is_between(
            lo, hi, closed="left"))
        part = part.with_columns(pl.col(c) * 1.01 for c in ("open", "high", "low", "close"))
        part = part.with_columns(pl.col("volume") + 1.0).filter(
            ~pl.col("ts").is_between(hi.replace(minute=0), hi.replace(minute=10), closed="left"))
        file = tmp_path / "BTCUSDT.parquet"
        part.write_parquet(file)
        counts = store.import_minutes(file, **EX)
        assert (counts.bars_rows, counts.bars_new) == (part.height, 0)
        want = pl.concat([ref.join(part.select("symbol", "ts"), on=["symbol", "ts"],
                                   how="anti"), part]).sort("symbol", "ts")
        assert_frame_equal(store.query_bars(**EX, freq="1m", funding=False), want)
        _check_rollups(store, want)
        after_1h = store.query_bars(**EX, freq="1h", partial="mark", funding=False)
        changed = after_1h.join(before_1h, on=["symbol", "ts"], how="anti")
        assert changed.height == 0  # the same bars exist; only two hours' values moved
        moved = after_1h.filter(pl.col("volume") != before_1h["volume"])
        assert moved.select("symbol", "ts").rows() == [
            ("BTCUSDT", datetime(2023, 7, 31, 23, tzinfo=UTC)),
            ("BTCUSDT", datetime(2023, 8, 1, 0, tzinfo=UTC))]


def test_a_reimport_that_adds_minutes_counts_them_and_completes_the_rollup(
        tmp_path: Path) -> None:
    ref = _reference().filter(pl.col("symbol") == "ETHUSDT")
    hole = pl.col("ts").dt.hour().is_between(5, 6) & (pl.col("ts").dt.day() == 31)
    with Store(tmp_path / "db.duckdb") as store:
        ref.filter(~hole).write_parquet(tmp_path / "ETHUSDT.parquet")
        store.import_minutes(tmp_path / "ETHUSDT.parquet", **EX)
        day = store.query_bars(**EX, freq="1d", partial="mark", funding=False)
        assert day["complete"].to_list() == [False, True]
        assert store.query_bars(**EX, freq="1h", funding=False).height == 48 - 2
        ref.filter(hole).write_parquet(tmp_path / "ETHUSDT.parquet")
        counts = store.import_minutes(tmp_path / "ETHUSDT.parquet", **EX)
        assert counts.bars_new == counts.bars_rows == 120
        _check_rollups(store, ref)
        assert store.query_bars(**EX, freq="1d", funding=False).height == 2


def test_range_queries_read_only_the_months_they_need(tmp_path: Path) -> None:
    ref = _reference()
    with Store(tmp_path / "db.duckdb") as store:
        store.import_minutes(FIXTURE, **EX)
        q = {"symbols": ["XMRUSDT", "BTCUSDT"], "start": "2023-08-01 10:00",
             "end": "2023-08-01T12:30:00Z"}
        got = store.query_bars(**EX, freq="1m", funding=False, **q)
        want = ref.filter(pl.col("symbol").is_in(["BTCUSDT", "XMRUSDT"]) & pl.col("ts").is_between(
            datetime(2023, 8, 1, 10, tzinfo=UTC), datetime(2023, 8, 1, 12, 30, tzinfo=UTC),
            closed="left"))
        assert_frame_equal(got, want)
        lo, hi = datetime(2023, 8, 1, 10), datetime(2023, 8, 1, 12, 30)
        files = store._minute_files("binanceusdm", "swap", "1m", ["BTCUSDT", "XMRUSDT"], lo, hi)
        assert files is not None and len(files) == 2  # August only, of the two symbols
        assert all("/2023-08-" in f for f in files)
        empty = store.query_bars(**EX, freq="1m", symbols=["BTCUSDT"], start="2024-01-01")
        assert empty.height == 0
        cov = store.coverage(freq="1m")
        assert cov["bars"].to_list() == [2880] * 4 and cov["gaps"].to_list() == [0] * 4
        assert store.last_timestamps("bars", **EX, freq="1m")["BTCUSDT"] == datetime(
            2023, 8, 1, 23, 59, tzinfo=UTC)


def test_reading_is_bounded_by_batches_not_by_files(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """By structure: every batch the importer stages is at most one CSV block, or whole row
    groups of at most PARQUET_BATCH_ROWS rows (one row group when it is larger)."""
    monkeypatch.setattr(_sources, "CSV_BLOCK_BYTES", 16_384)  # about 200 lines of text
    sizes: list[int] = []
    real_add = _minutes.MinuteUpsert.add

    def spy(self: _minutes.MinuteUpsert, panel: pl.DataFrame) -> None:
        sizes.append(panel.height)
        real_add(self, panel)

    monkeypatch.setattr(_minutes.MinuteUpsert, "add", spy)
    ref = _reference()
    with Store(tmp_path / "db.duckdb") as store:
        store.import_minutes(FIXTURE, **EX)
        assert_frame_equal(store.query_bars(**EX, freq="1m", funding=False), ref)
    assert sum(sizes) == ref.height and max(sizes) <= 300 and len(sizes) > 40
    parquet = _write_layout(tmp_path, "parquet", ref)  # row groups of 1,000 rows
    runs = {1500: [1000, 1000, 880], 2000: [2000, 880], 500: [1000, 1000, 880]}  # 2,880 rows
    for batch_rows, want in runs.items():
        monkeypatch.setattr(_sources, "PARQUET_BATCH_ROWS", batch_rows)
        sizes.clear()
        with Store(tmp_path / f"db{batch_rows}.duckdb") as store:
            store.import_minutes(parquet, **EX)
            assert_frame_equal(store.query_bars(**EX, freq="1m", funding=False), ref)
        assert sizes == want * ref["symbol"].n_unique()
    # one gzip file read block by block: its decompressed text is never held whole
    blocks = list(_sources._csv_blocks(FIXTURE / "BTCUSDT.csv.gz", 16_384))
    text = gzip.decompress((FIXTURE / "BTCUSDT.csv.gz").read_bytes())
    assert len(blocks) > 10 and max(len(b) for b in blocks) <= 16_384
    assert b"".join(blocks) == text  # whole lines, the header once (in the first block)
    assert all(b.endswith(b"\n") for b in blocks)


def test_write_of_minute_bars_goes_to_the_minute_store_with_rollups(tmp_path: Path) -> None:
    ref = _reference()
    with Store(tmp_path / "db.duckdb") as store:
        counts = store.write(**EX, freq="1m", bars=ref)
        assert counts.bars_new == ref.height
        assert_frame_equal(store.query_bars(**EX, freq="1m", funding=False), ref)
        _check_rollups(store, ref)
        with store._connect() as con:
            in_bars = con.execute("SELECT count(*) FROM bars WHERE freq = '1m'").fetchall()
        assert in_bars[0][0] == 0


def test_refresh_rollups_rebuilds_the_same_bars(tmp_path: Path) -> None:
    with Store(tmp_path / "db.duckdb") as store:
        store.import_minutes(FIXTURE, **EX)
        before = store.query_bars(**EX, freq="1h", partial="mark")
        with store._connect(write=True) as con:
            con.execute("DELETE FROM bars WHERE freq = '1h'").fetchall()
        assert store.refresh_rollups(**EX) == 8
        assert_frame_equal(store.query_bars(**EX, freq="1h", partial="mark"), before)


def test_synthetic_minutes_are_streamed_per_symbol_and_imported(tmp_path: Path) -> None:
    frames = synthetic_minute_symbols(6, 20_000, seed=3, listing_share=0.5,
                                      delisting_share=0.5, gap_share=1.0)
    first = next(frames)  # a generator: one symbol's frame at a time
    assert first["symbol"].n_unique() == 1
    rest = list(frames)
    panel = validate_panel(pl.concat([first, *rest]), freq="1m")
    assert panel["symbol"].n_unique() == 6
    assert panel.group_by("symbol").len()["len"].min() < 20_000  # listings, delistings, gaps
    again = pl.concat(list(synthetic_minute_symbols(6, 20_000, seed=3, listing_share=0.5,
                                                    delisting_share=0.5, gap_share=1.0)))
    assert_frame_equal(again, panel)  # deterministic
    for fmt in ("csv.gz", "parquet"):
        files = write_minute_files(tmp_path / fmt, 3, 5_000, fmt=fmt, seed=1)  # type: ignore[arg-type]
        assert [p.name for p in files] == [f"S000{i}USDT.{fmt}" for i in range(3)]
        with Store(tmp_path / f"{fmt}.duckdb") as store:
            store.import_minutes(tmp_path / fmt, exchange="synthetic")
            got = store.query_bars(exchange="synthetic", freq="1m")
        want = pl.concat(list(synthetic_minute_symbols(3, 5_000, seed=1))).drop("open_interest")
        # CSV text round-trips floats exactly (shortest repr); funding is summed unchanged
        assert_frame_equal(got.select(want.columns), want)


def test_store_import_cli_takes_a_folder(tmp_path: Path) -> None:
    db = tmp_path / "db.duckdb"
    res = CliRunner().invoke(app, ["store", "import", str(FIXTURE), "--exchange",
                                   "binanceusdm", "--db", str(db)])
    assert res.exit_code == 0, res.output
    assert "imported 11,520 bars (11,520 new)" in res.output
    with Store(db) as store:
        assert store.query_bars(exchange="binanceusdm", freq="1d").height == 8


def test_a_schema_3_store_is_read_as_it_is_and_migrated_by_its_own_step(tmp_path: Path) -> None:
    import duckdb

    from coinfactor.data.store import SCHEMA_VERSION
    from support.panels import store_panel

    path = tmp_path / "v3.duckdb"
    with Store(path) as store:
        store.write_bars(store_panel(), **EX, freq="1h")
        hourly = store.query_bars(**EX, freq="1h")
    con = duckdb.connect(str(path))  # make it what coinfactor of schema 3 wrote
    for sql in ("ALTER TABLE bars DROP COLUMN complete", "DROP TABLE minute_parts",
                "UPDATE coinfactor_meta SET value = '3' WHERE key = 'schema_version'"):
        con.execute(sql).fetchall()
    con.close()
    before = path.read_bytes()
    with Store(path) as old:
        assert old.schema_version == 3
        assert_frame_equal(old.query_bars(**EX, freq="1h"), hourly)
        assert old.coverage(freq="1m").height == 0
    assert path.read_bytes() == before  # reading changed nothing
    with Store(path) as store:
        store.import_minutes(FIXTURE, **EX)
        assert store.schema_version == SCHEMA_VERSION
        assert_frame_equal(store.query_bars(**EX, freq="1h", symbols=hourly["symbol"].unique()
                                            .to_list()), hourly)
        _check_rollups(store, _reference())


def test_a_one_minute_panel_file_goes_to_the_minute_store_by_either_door(tmp_path: Path) -> None:
    ref = _reference()
    ref.write_parquet(tmp_path / "panel.parquet")
    with Store(tmp_path / "a.duckdb") as store:
        counts = store.import_parquet(tmp_path / "panel.parquet", **EX)  # frequency inferred
        assert counts.bars_new == ref.height
        assert_frame_equal(store.query_bars(**EX, freq="1m", funding=False), ref)
        assert len(_stored_files(store)) == 8
    db = tmp_path / "b.duckdb"
    res = CliRunner().invoke(app, ["store", "import", str(FIXTURE / "ETHUSDT.csv.gz"),
                                   "--exchange", "binanceusdm", "--db", str(db)])
    assert res.exit_code == 0, res.output
    with Store(db) as store:
        assert store.query_bars(**EX, freq="1m")["symbol"].unique().to_list() == ["ETHUSDT"]
