"""Schema version 3: market order rules in ``snapshots``, the ``books`` paper ledger, and the
migration from a version-2 store.

References: a version-2 store written here by plain SQL (the snapshot table and marker
coinfactor wrote before this schema), rows compared value by value after the migration; the ledger's
idempotence counted by hand.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import polars as pl
import pytest

from coinfactor.core.errors import DataError
from coinfactor.data.store import BOOK_SCHEMA, SCHEMA_VERSION, SNAPSHOT_RULES, Store

T0 = datetime(2025, 7, 1, tzinfo=UTC)
EX = {"exchange": "hyperliquid", "market": "swap"}
V2_SQL = [  # a version-2 store holding a snapshot (its other tables come on migration)
    "CREATE TABLE snapshots (exchange VARCHAR NOT NULL, market VARCHAR NOT NULL, symbol "
    "VARCHAR NOT NULL, ts TIMESTAMP NOT NULL, base VARCHAR, quote VARCHAR, active BOOLEAN, "
    "volume_24h_usd DOUBLE, open_interest_usd DOUBLE, mid DOUBLE, max_leverage DOUBLE, "
    "PRIMARY KEY (exchange, market, symbol, ts))",
    "CREATE TABLE coinfactor_meta (key VARCHAR PRIMARY KEY, value VARCHAR)",
    "INSERT INTO coinfactor_meta VALUES ('schema_version', '2'), ('created_by', 'coinfactor')",
    "INSERT INTO snapshots VALUES ('hyperliquid', 'swap', 'BTC', '2025-07-01 00:00', 'BTC', "
    "'USDC', true, 1e9, 2e9, 107000.0, 40.0)",
]


def _snapshot(ts: datetime) -> pl.DataFrame:
    return pl.DataFrame({
        "symbol": ["BTC", "ETH"], "ts": [ts, ts], "active": [True, False],
        "mid": [107000.0, 2500.0], "max_leverage": [40.0, 25.0],
        "contract_size": [1.0, 1.0], "precision_mode": ["tick_size", "tick_size"],
        "amount_precision": [1e-5, 1e-4], "price_precision": [1.0, 0.1],
        "min_amount": [None, None], "min_cost": [10.0, 10.0]})


def _book(as_of: datetime, nav: float = 1e5) -> pl.DataFrame:
    targets = [{"symbol": "BTC", "weight": 0.5, "notional": nav / 2, "quantity": 0.1,
                "price": 1e5}]
    return pl.DataFrame([{
        "study": "carry", "config_hash": "abc123", "as_of": as_of,
        "decided_at": as_of - timedelta(days=1), "last_bar": as_of - timedelta(days=1),
        "nav": nav, "blocked": False, "data_fingerprint": "f00",
        "targets": json.dumps(targets), "orders": "[]", "summary": "{}"}], schema=BOOK_SCHEMA)


def test_a_version_2_store_reads_without_rules_and_migrates_on_write(tmp_path: Path) -> None:
    path = tmp_path / "v2.duckdb"
    with duckdb.connect(str(path)) as con:
        for sql in V2_SQL:
            con.execute(sql)
    before = path.read_bytes()
    with Store(path) as old:
        assert old.schema_version == 2
        snap = old.query_snapshots(exchange="hyperliquid")
        assert old.query_books().height == 0
    assert path.read_bytes() == before  # reading changed nothing
    assert snap["mid"].to_list() == [107000.0]
    assert all(snap[c].to_list() == [None] for c in SNAPSHOT_RULES)  # never recorded
    with Store(path) as store:
        store.write_snapshots(_snapshot(T0 + timedelta(days=1)), **EX)
        assert store.schema_version == SCHEMA_VERSION  # 3 (rules, books); 4: minute store
        every = store.query_snapshots(exchange="hyperliquid", latest=False)
    old_row = every.filter(pl.col("ts") == T0).to_dicts()
    assert [(r["symbol"], r["mid"], r["max_leverage"], r["precision_mode"]) for r in
            old_row] == [("BTC", 107000.0, 40.0, None)]  # kept, its rules null
    latest = every.filter(pl.col("ts") == T0 + timedelta(days=1)).sort("symbol")
    assert latest.select(*SNAPSHOT_RULES, "active").rows() == [
        (1.0, "tick_size", 1e-5, 1.0, None, 10.0, True),
        (1.0, "tick_size", 1e-4, 0.1, None, 10.0, False)]
    con = duckdb.connect(str(path), read_only=True)
    assert con.execute("SELECT value FROM coinfactor_meta WHERE key = 'schema_version'"
                       ).fetchone() == (str(SCHEMA_VERSION),)
    con.close()


def test_books_are_idempotent_per_study_hash_and_as_of(tmp_path: Path) -> None:
    store = Store(tmp_path / "db.duckdb")
    assert store.write_books(_book(T0)) == 1
    assert store.write_books(_book(T0)) == 0  # the same book again: one row
    assert store.write_books(_book(T0, nav=2e5)) == 0  # rewritten, not added
    assert store.write_books(_book(T0 + timedelta(days=1))) == 1
    books = store.query_books(study="carry")
    assert books.height == 2 and books["nav"].to_list() == [2e5, 1e5]
    assert books["as_of"].to_list() == [T0, T0 + timedelta(days=1)]
    assert books.schema == pl.Schema(BOOK_SCHEMA)
    assert store.query_books(study="reversion").height == 0
    assert store.query_books(config_hash="nope").height == 0
    with pytest.raises(DataError, match="missing column"):
        store.write_books(_book(T0).drop("targets"))
    with pytest.raises(DataError, match="nulls"):
        store.write_books(_book(T0).with_columns(pl.lit(None, pl.String).alias("summary")))
    with pytest.raises(DataError, match="precision_mode must be one of"):
        store.write_snapshots(_snapshot(T0).with_columns(
            pl.lit("digits").alias("precision_mode")), **EX)
    store.close()
