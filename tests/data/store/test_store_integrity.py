"""The store keeps what it is given (issue 16).

Filler bars stay flagged, names and frequencies have one spelling, a declared frequency is the
data's, an upsert replaces a row as a unit, numbers are finite, the schema is versioned (and
a store of today's layout migrates), and DuckDB failures name the table, the operation and the
real cause with nothing written.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pytest

from coinfactor.core.errors import ConfigError, DataError
from coinfactor.data import FILLED_COLUMN, PANEL_SCHEMA, Grid, regularize
from coinfactor.data.store import SCHEMA_VERSION, Store
from support.panels import make_panel, store_panel
from support.random_panels import ragged_panel

T0 = datetime(2024, 1, 1, tzinfo=UTC)
EX = {"exchange": "binanceusdm", "market": "swap"}
INF = float("inf")


def _count(path: Path, sql: str) -> object:
    con = duckdb.connect(str(path), read_only=True)
    try:
        row = con.execute(sql).fetchone()
        return None if row is None else row[0]
    finally:
        con.close()


def _gappy() -> pl.DataFrame:
    """AUSDT with hour 2 missing (regularize fills it flat at the previous close)."""
    return make_panel({"AUSDT": [100.0, 110.0, None, 90.0], "BUSDT": [5.0, 5.5, 6.0, 6.5]})


# ----------------------------------------------------------------------------- filled bars
def test_filler_bars_keep_their_flag_through_write_and_query(tmp_path: Path) -> None:
    panel = regularize(_gappy())
    assert panel[FILLED_COLUMN].sum() == 1
    store = Store(tmp_path / "db.duckdb")
    store.write_bars(panel, **EX, freq="1h")
    out = store.query_bars(exchange="binanceusdm", funding=False)
    assert out.columns == [*PANEL_SCHEMA, FILLED_COLUMN]
    assert out.equals(panel.select(out.columns))
    # the filler bar is masked to NaN, never a price
    close = Grid.from_panel(out).wide(out, "close")
    assert np.isnan(close[2, 0]) and close[1, 0] == 110.0 and close[3, 0] == 90.0


def test_filler_bars_keep_their_flag_through_import_and_export(tmp_path: Path) -> None:
    src = tmp_path / "regular.parquet"
    regularize(_gappy()).write_parquet(src)
    store = Store(tmp_path / "db.duckdb")
    store.import_parquet(src, **EX)
    out = store.export(tmp_path / "out.parquet", exchange="binanceusdm")
    assert out.filter(pl.col(FILLED_COLUMN))["ts"].to_list() == [T0 + timedelta(hours=2)]
    again = Store(tmp_path / "again.duckdb")
    again.import_parquet(tmp_path / "out.parquet", **EX)
    back = again.query_bars(funding=False)
    assert back[FILLED_COLUMN].to_list() == out[FILLED_COLUMN].to_list()


def test_a_panel_of_real_bars_reads_back_without_a_filled_column(tmp_path: Path) -> None:
    store = Store(tmp_path / "db.duckdb")
    store.write_bars(regularize(store_panel().filter(pl.col("symbol") == "AUSDT")), **EX,
                     freq="1h")  # regular already: every flag False
    assert store.query_bars().columns == list(PANEL_SCHEMA)


def test_a_real_bar_replacing_a_filler_bar_clears_the_flag(tmp_path: Path) -> None:
    store = Store(tmp_path / "db.duckdb")
    store.write_bars(regularize(_gappy()), **EX, freq="1h")
    real = make_panel({"AUSDT": [None, None, 95.0]})
    store.write_bars(real, **EX, freq="1h")
    out = store.query_bars(funding=False)
    assert FILLED_COLUMN not in out.columns
    assert out.filter(pl.col("symbol") == "AUSDT")["close"].to_list() == [100, 110, 95, 90]


# ----------------------------------------------------------------------------- names
@pytest.mark.parametrize("names", [
    {"exchange": "binanceusdm\n", "market": "swap"},
    {"exchange": "binanceusdm", "market": "swap\n"},
], ids=["exchange", "market"])
def test_a_trailing_newline_is_not_a_name(tmp_path: Path, names: dict[str, str]) -> None:
    store = Store(tmp_path / "db.duckdb")
    with pytest.raises(ConfigError, match="invalid"):
        store.write_bars(store_panel(), **names, freq="1h")
    assert not store.path.exists()


def test_a_symbol_with_a_trailing_newline_is_refused(tmp_path: Path) -> None:
    store = Store(tmp_path / "db.duckdb")
    bad = store_panel().with_columns(
        pl.when(pl.col("symbol") == "AUSDT").then(pl.lit("AUSDT\n")).otherwise("symbol")
        .alias("symbol"))
    with pytest.raises(ConfigError, match=r"invalid symbol 'AUSDT\\n'"):
        store.write_bars(bad.sort("symbol", "ts"), **EX, freq="1h")
    store.write_bars(store_panel(), **EX, freq="1h")
    with pytest.raises(ConfigError, match="invalid symbol"):
        store.query_bars(symbols=["AUSDT\n"])


@pytest.mark.parametrize("spelling", ["01h", "60m", "3600s"])
def test_one_bar_length_is_one_frequency_key(tmp_path: Path, spelling: str) -> None:
    store = Store(tmp_path / "db.duckdb")
    store.write_bars(store_panel(), **EX, freq="1h")
    assert store.write_bars(store_panel(), **EX, freq=spelling) == 0  # the same keys
    assert store.coverage()["freq"].unique().to_list() == ["1h"]
    assert store.query_bars(freq=spelling).height == store_panel().height


@pytest.mark.parametrize("spelling", [" 1h", "1h\n", "1 h", "+1h", "1H"])
def test_a_malformed_frequency_is_refused(tmp_path: Path, spelling: str) -> None:
    store = Store(tmp_path / "db.duckdb")
    with pytest.raises(ConfigError, match="invalid bar frequency"):
        store.write_bars(store_panel(), **EX, freq=spelling)
    assert not store.path.exists()


def test_a_declared_frequency_finer_than_the_data_is_refused(tmp_path: Path) -> None:
    four = make_panel({"AUSDT": [1.0, 2.0, 3.0, 4.0]}, step=timedelta(hours=4))
    src = tmp_path / "4h.parquet"
    four.write_parquet(src)
    store = Store(tmp_path / "db.duckdb")
    with pytest.raises(DataError, match=r"declared bar frequency '1h', but the data's bars are "
                                        r"4h apart") as e:
        store.import_parquet(src, **EX, freq="1h")
    assert "--freq 4h" in str(e.value)
    with pytest.raises(DataError, match="declared bar frequency '1h'"):
        store.write_bars(four, **EX, freq="1h")
    assert not store.path.exists()
    assert store.import_parquet(src, **EX, freq="4h").bars_new == 4


def test_a_declared_frequency_coarser_than_the_data_is_refused(tmp_path: Path) -> None:
    src = tmp_path / "1h.parquet"
    store_panel().write_parquet(src)
    with pytest.raises(DataError, match=r"declared bar frequency '4h', but the data's bars are "
                                        r"1h apart"):
        Store(tmp_path / "db.duckdb").import_parquet(src, **EX, freq="4h")


# ----------------------------------------------------------------------------- upserts
def test_overlapping_imports_replace_rows_as_a_unit(tmp_path: Path) -> None:
    a = store_panel().filter(pl.col("symbol") == "AUSDT")
    b = (a.filter(pl.col("ts") >= T0 + timedelta(hours=3))
         .with_columns(pl.col("close") * 1.01, pl.col("high") * 1.01,
                       pl.lit(None, pl.Float64).alias("quote_volume"),
                       pl.lit(None, pl.Int64).alias("trades")))
    a.write_parquet(tmp_path / "a.parquet")
    b.write_parquet(tmp_path / "b.parquet")
    store = Store(tmp_path / "db.duckdb")
    store.import_parquet(tmp_path / "a.parquet", **EX)
    counts = store.import_parquet(tmp_path / "b.parquet", **EX)
    assert (counts.bars_rows, counts.bars_new) == (3, 0)
    out = store.query_bars(funding=False)
    late = out.filter(pl.col("ts") >= T0 + timedelta(hours=3))
    # every field of the overlapped rows is B's: close from B and quote volume from B (null)
    assert late.drop("open_interest").equals(b.drop("open_interest"))
    assert late["quote_volume"].null_count() == 3 and late["trades"].null_count() == 3
    assert out.filter(pl.col("ts") < T0 + timedelta(hours=3)).equals(
        a.filter(pl.col("ts") < T0 + timedelta(hours=3)))
    # the one kept field: open interest (its own endpoint) when B's rows have none
    assert late["open_interest"].to_list() == a["open_interest"].to_list()[3:]


def test_an_import_equals_a_write_whatever_the_chunk_size(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch,
                                                          ) -> None:
    src = tmp_path / "panel.parquet"
    panel = store_panel()
    panel.sample(fraction=1.0, shuffle=True, seed=3).write_parquet(src)  # unsorted file
    monkeypatch.setattr("coinfactor.data.store._files.IMPORT_CHUNK_ROWS", 4)  # one symbol per part
    chunked = Store(tmp_path / "a.duckdb")
    counts = chunked.import_parquet(src, **EX)
    assert (counts.bars_rows, counts.bars_new) == (panel.height, panel.height)
    assert chunked.query_bars().equals(panel)
    assert chunked.import_parquet(src, **EX).bars_new == 0
    chunked.close()
    assert _count(chunked.path, "SELECT count(*) FROM bars") == panel.height


def test_an_invalid_symbol_group_late_in_an_import_writes_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "panel.parquet"
    store_panel().with_columns(
        pl.when((pl.col("symbol") == "CUSDT") & (pl.col("ts") == T0 + timedelta(hours=5)))
        .then(-1.0).otherwise(pl.col("close")).alias("close")
    ).write_parquet(src)
    # one symbol per part: CUSDT is the last
    monkeypatch.setattr("coinfactor.data.store._files.IMPORT_CHUNK_ROWS", 4)
    store = Store(tmp_path / "db.duckdb")
    store.write_bars(store_panel().filter(pl.col("symbol") == "AUSDT"), **EX, freq="1h")
    with pytest.raises(DataError, match="column 'close': expected prices > 0"):
        store.import_parquet(src, **EX)
    store.close()
    assert _count(store.path, "SELECT count(*) FROM bars") == 6
    assert not list(tmp_path.glob(".coinfactor-import-*"))


# ----------------------------------------------------------------------------- finite numbers
def test_the_store_refuses_infinite_bars_even_when_validated(tmp_path: Path) -> None:
    store = Store(tmp_path / "db.duckdb")
    page = store_panel().with_columns(
        pl.when(pl.int_range(pl.len()) == 4).then(INF).otherwise(pl.col("volume"))
        .alias("volume"))
    with pytest.raises(DataError, match=r"bars: column 'volume': expected finite numbers"):
        store.write(**EX, freq="1h", bars=page, validated=True)
    with pytest.raises(DataError, match=r"column 'volume': expected finite numbers"):
        store.write(**EX, freq="1h", bars=page)
    assert not store.path.exists()


@pytest.mark.parametrize("kind", ["funding", "snapshots", "open_interest"])
def test_the_store_refuses_infinite_funding_snapshots_and_open_interest(
        tmp_path: Path, kind: str) -> None:
    store = Store(tmp_path / "db.duckdb")
    store.write_bars(store_panel(), **EX, freq="1h")
    frames = {
        "funding": pl.DataFrame({"symbol": ["AUSDT"], "ts": [T0], "funding_rate": [INF]}),
        "snapshots": pl.DataFrame({"symbol": ["AUSDT"], "ts": [T0], "volume_24h_usd": [INF]}),
        "open_interest": pl.DataFrame({"symbol": ["AUSDT"], "ts": [T0],
                                       "open_interest": [INF]}),
    }
    # funding events are refused by validate_funding_events (a finite rate on every event)
    message = ("expected a rate on every event" if kind == "funding"
               else "expected finite numbers or null")
    with pytest.raises(DataError, match=message):
        store.write(**EX, freq="1h", **{kind: frames[kind]})
    assert store.query_bars(funding=False).equals(store_panel())
    assert store.query_funding(exchange="binanceusdm").height == 0
    assert store.query_snapshots(exchange="binanceusdm").height == 0


# ----------------------------------------------------------------------------- schema version
V1_SQL = [  # the tables today's code creates (schema version 1), written here by SQL
    "CREATE TABLE bars (exchange VARCHAR NOT NULL, market VARCHAR NOT NULL, freq VARCHAR NOT "
    "NULL, symbol VARCHAR NOT NULL, ts TIMESTAMP NOT NULL, open DOUBLE NOT NULL, high DOUBLE "
    "NOT NULL, low DOUBLE NOT NULL, close DOUBLE NOT NULL, volume DOUBLE NOT NULL, "
    "quote_volume DOUBLE, trades BIGINT, funding_rate DOUBLE, open_interest DOUBLE, "
    "PRIMARY KEY (exchange, market, freq, symbol, ts))",
    "CREATE TABLE funding (exchange VARCHAR NOT NULL, market VARCHAR NOT NULL, symbol VARCHAR "
    "NOT NULL, ts TIMESTAMP NOT NULL, funding_rate DOUBLE NOT NULL, mark_price DOUBLE, "
    "PRIMARY KEY (exchange, market, symbol, ts))",
    "CREATE TABLE snapshots (exchange VARCHAR NOT NULL, market VARCHAR NOT NULL, symbol "
    "VARCHAR NOT NULL, ts TIMESTAMP NOT NULL, base VARCHAR, quote VARCHAR, active BOOLEAN, "
    "volume_24h_usd DOUBLE, open_interest_usd DOUBLE, mid DOUBLE, max_leverage DOUBLE, "
    "PRIMARY KEY (exchange, market, symbol, ts))",
    "INSERT INTO bars VALUES "
    "('binanceusdm', 'swap', '60m', 'AUSDT', '2024-01-01 00:00', 1, 2, 1, 2, 10, 20, 3, NULL, 7),"
    "('binanceusdm', 'swap', '60m', 'AUSDT', '2024-01-01 01:00', 2, 3, 2, 3, 10, 30, 3, NULL, 8)",
    "INSERT INTO funding VALUES ('binanceusdm', 'swap', 'AUSDT', '2024-01-01 01:00', 1e-4, 2)",
]


def _v1_store(path: Path) -> Path:
    con = duckdb.connect(str(path))
    for sql in V1_SQL:
        con.execute(sql)
    con.close()
    return path


def test_a_new_store_carries_the_schema_marker(tmp_path: Path) -> None:
    store = Store(tmp_path / "db.duckdb")
    store.write_bars(store_panel(), **EX, freq="1h")
    store.close()
    assert _count(store.path, "SELECT value FROM coinfactor_meta WHERE key = "
                              "'schema_version'") == str(SCHEMA_VERSION)


def test_a_store_of_todays_layout_is_read_unchanged_and_migrated_on_write(
        tmp_path: Path) -> None:
    path = _v1_store(tmp_path / "old.duckdb")
    before = path.read_bytes()
    with Store(path) as old:
        assert old.schema_version == 1
        panel = old.query_bars(freq="1h")  # read as it is: '60m' is the one hourly series
    assert path.read_bytes() == before  # reading changed nothing
    assert panel["close"].to_list() == [2.0, 3.0]
    assert panel["funding_rate"].to_list() == [1e-4, None]  # the event settles bar 00:00
    with Store(path) as store:
        store.write_bars(make_panel({"AUSDT": [None, None, 3.5]}), **EX, freq="1h")
        assert store.schema_version == SCHEMA_VERSION
        out = store.query_bars(funding=False)
    assert out["close"].to_list() == [2.0, 3.0, 3.5]
    assert out["open_interest"].to_list() == [7.0, 8.0, None]
    assert _count(path, "SELECT value FROM coinfactor_meta WHERE key = "
                        "'schema_version'") == str(SCHEMA_VERSION)
    assert _count(path, "SELECT string_agg(DISTINCT freq) FROM bars") == "1h"
    assert _count(path, "SELECT count(*) FROM bars WHERE filled") == 0


def test_a_store_of_a_newer_version_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "new.duckdb"
    Store(path).write_bars(store_panel(), **EX, freq="1h")
    con = duckdb.connect(str(path))
    con.execute("UPDATE coinfactor_meta SET value = '9' WHERE key = 'schema_version'")
    con.close()
    before = path.read_bytes()
    for call in (lambda s: s.coverage(), lambda s: s.write_bars(store_panel(), **EX, freq="1h")):
        with Store(path) as store, pytest.raises(DataError, match=r"schema version 9, written "
                                                                  r"by a newer coinfactor"):
            call(store)
    assert path.read_bytes() == before


# ----------------------------------------------------------------------------- DuckDB errors
def test_a_constraint_failure_names_the_table_and_the_real_cause(tmp_path: Path) -> None:
    store = Store(tmp_path / "db.duckdb")
    store.write_bars(store_panel(), **EX, freq="1h")
    page = store_panel().with_columns(
        pl.when(pl.int_range(pl.len()) == 1).then(None).otherwise(pl.col("open")).alias("open"))
    with pytest.raises(DataError) as e:
        store.write(**EX, freq="1h", bars=page, validated=True)
    text = str(e.value)
    assert "upserting 15 row(s) on table 'bars' failed" in text
    assert "NOT NULL constraint failed: bars.open" in text
    assert "Current transaction is aborted" not in text
    assert "rolled back" in text
    assert store.query_bars(funding=False).equals(store_panel())
    # the connection is usable afterwards
    assert store.write_bars(make_panel({"ZUSDT": [1.0, 2.0]}), **EX, freq="1h") == 2


def test_duplicated_keys_in_a_validated_page_are_refused(tmp_path: Path) -> None:
    store = Store(tmp_path / "db.duckdb")
    page = pl.concat([store_panel(), store_panel().head(1)])
    with pytest.raises(DataError, match=r"bars: expected one row per \(symbol, ts\)"):
        store.write(**EX, freq="1h", bars=page, validated=True)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_ragged_panels_round_trip_by_write_and_by_import(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: int) -> None:
    panel = ragged_panel(seed, n_symbols=6, n_bars=50)
    if seed == 2:
        panel = regularize(panel)  # filler bars among real ones
    src = tmp_path / "panel.parquet"
    panel.write_parquet(src)
    monkeypatch.setattr("coinfactor.data.store._files.IMPORT_CHUNK_ROWS", 60)
    by_write, by_import = Store(tmp_path / "w.duckdb"), Store(tmp_path / "i.duckdb")
    by_write.write_bars(panel, **EX, freq="1h")
    by_import.import_parquet(src, **EX, freq="1h")
    for store in (by_write, by_import):
        out = store.query_bars(funding=False)
        assert out.equals(panel.select(out.columns))
        assert (FILLED_COLUMN in out.columns) == (seed == 2)
