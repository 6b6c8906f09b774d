"""DuckDB table definitions of the store (bars, funding events, market snapshots, the marker).

Schema versions (``coinfactor_meta.schema_version``):

1. the tables ``bars``, ``funding`` and ``snapshots`` with no marker table; ``bars`` keyed by
   a DuckDB primary key and without the ``filled`` flag (coinfactor up to issue 16);
2. a ``coinfactor_meta`` marker; ``bars`` carries ``filled`` and keeps its key unique by the
   store's own upsert (delete the stored rows of the incoming keys, insert the incoming rows),
   without a DuckDB index: an index over (exchange, market, freq, symbol, ts) costs DuckDB
   several times the data in memory inside one large transaction, and doubles the file;
3. ``snapshots`` also records each market's order rules as ccxt's ``load_markets`` reports
   them (:data:`SNAPSHOT_RULES`: contract size, amount and price precision with ccxt's
   precision mode, minimum amount and minimum cost), and a ``books`` table holds the paper
   ledger of :mod:`coinfactor.book` (one row per study, config hash and as-of time);
4. the minute store (issue 19): one-minute bars live in Parquet partitions listed in the
   ``minute_parts`` catalog (see :mod:`coinfactor.data.store._minutes`), and ``bars``
   carries ``complete`` (True/False on the 1h and 1d rollups of those minutes: whether every
   minute of the bar is present; null on bars stored as they came). Added by
   :func:`coinfactor.data.store._db.migrate_minute_store`, a migration of its own.
"""

from __future__ import annotations

import polars as pl

SCHEMA_VERSION = 4
"""The schema version this coinfactor writes and reads."""
META_TABLE = "coinfactor_meta"
"""``key, value`` strings; ``schema_version`` marks a coinfactor store."""

BAR_KEY: tuple[str, ...] = ("exchange", "market", "freq", "symbol", "ts")
FUNDING_KEY: tuple[str, ...] = ("exchange", "market", "symbol", "ts")
SNAPSHOT_KEY: tuple[str, ...] = ("exchange", "market", "symbol", "ts")

BAR_VALUES: dict[str, str] = {
    "open": "DOUBLE NOT NULL",
    "high": "DOUBLE NOT NULL",
    "low": "DOUBLE NOT NULL",
    "close": "DOUBLE NOT NULL",
    "volume": "DOUBLE NOT NULL",
    "quote_volume": "DOUBLE",
    "trades": "BIGINT",
    "funding_rate": "DOUBLE",
    "open_interest": "DOUBLE",
    "filled": "BOOLEAN NOT NULL DEFAULT false",
}
FUNDING_VALUES: dict[str, str] = {
    "funding_rate": "DOUBLE NOT NULL",
    "mark_price": "DOUBLE",
}
SNAPSHOT_V2_VALUES: dict[str, str] = {
    "base": "VARCHAR",
    "quote": "VARCHAR",
    "active": "BOOLEAN",
    "volume_24h_usd": "DOUBLE",
    "open_interest_usd": "DOUBLE",
    "mid": "DOUBLE",
    "max_leverage": "DOUBLE",
}
"""The columns of ``snapshots`` up to schema version 2."""
SNAPSHOT_RULES: dict[str, str] = {
    "contract_size": "DOUBLE",
    "precision_mode": "VARCHAR",
    "amount_precision": "DOUBLE",
    "price_precision": "DOUBLE",
    "min_amount": "DOUBLE",
    "min_cost": "DOUBLE",
}
"""Order rules of a market (schema version 3), as ccxt's market structure gives them:
``contractSize``; ``precision.amount`` and ``precision.price`` read in ``precision_mode``
(``"decimal_places"``, ``"significant_digits"`` or ``"tick_size"``: ccxt's
``exchange.precisionMode`` by name, so a change of ccxt's constants cannot misread a stored
row); ``limits.amount.min`` (contracts) and ``limits.cost.min`` (quote notional)."""
SNAPSHOT_VALUES: dict[str, str] = {**SNAPSHOT_V2_VALUES, **SNAPSHOT_RULES}
BOOK_KEY: tuple[str, ...] = ("study", "config_hash", "as_of")
BOOK_VALUES: dict[str, str] = {
    "decided_at": "TIMESTAMP NOT NULL",
    "last_bar": "TIMESTAMP NOT NULL",
    "nav": "DOUBLE NOT NULL",
    "blocked": "BOOLEAN NOT NULL",
    "data_fingerprint": "VARCHAR NOT NULL",
    "targets": "VARCHAR NOT NULL",
    "orders": "VARCHAR NOT NULL",
    "summary": "VARCHAR NOT NULL",
}
"""The paper ledger (schema version 3): one book per (study, config hash, as-of time); its
targets, orders and ``book.json`` summary as JSON text."""

MINUTE_FREQ = "1m"
"""Bars of this frequency are kept in Parquet partitions (the minute store)."""
ROLLUP_FREQS: tuple[str, ...] = ("1h", "1d")
"""Rollups of the minute store, kept in ``bars`` and rebuilt from the minutes on every write."""
COMPLETE_COLUMN = "complete"
"""``bars`` column (schema 4) of the rollups: whether the bar's every minute is present."""
PARTS_TABLE = "minute_parts"
PARTS_STATEMENT = (
    f"CREATE TABLE IF NOT EXISTS {PARTS_TABLE} (exchange VARCHAR NOT NULL, "
    "market VARCHAR NOT NULL, symbol VARCHAR NOT NULL, month DATE NOT NULL, "
    "file VARCHAR NOT NULL, rows BIGINT NOT NULL, first TIMESTAMP NOT NULL, "
    "last TIMESTAMP NOT NULL, PRIMARY KEY (exchange, market, symbol, month))"
)
"""The catalog of the minute store: one Parquet file per (exchange, market, symbol, month),
``file`` relative to the partition root, ``first``/``last`` its first and last bar open."""

SNAPSHOT_SCHEMA: dict[str, pl.DataType] = {
    "symbol": pl.String(),
    "ts": pl.Datetime("us", "UTC"),
    "base": pl.String(),
    "quote": pl.String(),
    "active": pl.Boolean(),
    "volume_24h_usd": pl.Float64(),
    "open_interest_usd": pl.Float64(),
    "mid": pl.Float64(),
    "max_leverage": pl.Float64(),
    "contract_size": pl.Float64(),
    "precision_mode": pl.String(),
    "amount_precision": pl.Float64(),
    "price_precision": pl.Float64(),
    "min_amount": pl.Float64(),
    "min_cost": pl.Float64(),
}
"""One row per market at snapshot time: 24h notional volume and open interest in USD (quote
units), mid price, maximum leverage, and the order rules of :data:`SNAPSHOT_RULES`."""
BOOK_SCHEMA: dict[str, pl.DataType] = {
    "study": pl.String(),
    "config_hash": pl.String(),
    "as_of": pl.Datetime("us", "UTC"),
    "decided_at": pl.Datetime("us", "UTC"),
    "last_bar": pl.Datetime("us", "UTC"),
    "nav": pl.Float64(),
    "blocked": pl.Boolean(),
    "data_fingerprint": pl.String(),
    "targets": pl.String(),
    "orders": pl.String(),
    "summary": pl.String(),
}
"""One row of the ``books`` table (times UTC; ``targets``, ``orders``, ``summary`` JSON)."""
_TIME_KEYS = frozenset({"ts", "as_of"})

TABLES: dict[str, tuple[tuple[str, ...], dict[str, str]]] = {
    "bars": (BAR_KEY, BAR_VALUES),
    "funding": (FUNDING_KEY, FUNDING_VALUES),
    "snapshots": (SNAPSHOT_KEY, SNAPSHOT_VALUES),
    "books": (BOOK_KEY, BOOK_VALUES),
}
INDEXED: frozenset[str] = frozenset({"funding", "snapshots", "books"})
"""Tables keyed by a DuckDB primary key (small tables); ``bars`` keeps its key itself."""

V1_COLUMNS: dict[str, tuple[str, ...]] = {
    "bars": (*BAR_KEY, *(c for c in BAR_VALUES if c != "filled")),
    "funding": (*FUNDING_KEY, *FUNDING_VALUES),
    "snapshots": (*SNAPSHOT_KEY, *SNAPSHOT_V2_VALUES),
}
"""The columns of each table in a version-1 store (no marker, no ``filled``)."""


def table_statement(name: str, *, table: str | None = None) -> str:
    """``CREATE TABLE`` of store table ``name`` (under the name ``table``, default ``name``)."""
    key, values = TABLES[name]
    cols = [f"{k} {'TIMESTAMP' if k in _TIME_KEYS else 'VARCHAR'} NOT NULL" for k in key]
    cols += [f"{c} {t}" for c, t in values.items()]
    if name == "bars":
        cols.append(f"{COMPLETE_COLUMN} BOOLEAN")
    if name in INDEXED:
        cols.append(f"PRIMARY KEY ({', '.join(key)})")
    return f"CREATE TABLE IF NOT EXISTS {table or name} ({', '.join(cols)})"


def create_statements() -> list[str]:
    """``CREATE TABLE IF NOT EXISTS`` statements for every store table and the marker."""
    return [
        *(table_statement(name) for name in TABLES),
        PARTS_STATEMENT,
        f"CREATE TABLE IF NOT EXISTS {META_TABLE} (key VARCHAR PRIMARY KEY, value VARCHAR)",
    ]


def marker_statement() -> str:
    """Write this version's marker (``?`` parameters: none)."""
    return (
        f"INSERT OR REPLACE INTO {META_TABLE} VALUES ('schema_version', '{SCHEMA_VERSION}'), "
        "('created_by', 'coinfactor')"
    )


def upsert_statement(table: str, source: str) -> str:
    """``INSERT ... ON CONFLICT DO UPDATE`` from relation ``source`` (``funding``, ``snapshots``).

    An incoming row replaces the stored row of its key as a unit: every value comes from the
    incoming row, nulls included, so no row mixes two writes.
    """
    key, values = TABLES[table]
    cols = [*key, *values]
    sets = [f"{c} = excluded.{c}" for c in values]
    return (
        f"INSERT INTO {table} ({', '.join(cols)}) SELECT {', '.join(cols)} FROM {source} "
        f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {', '.join(sets)}"
    )


def bar_upsert_statements(source: str) -> tuple[str, str, str]:
    """Statements that upsert the bars of relation ``source`` into ``bars``.

    1. ``_cf_old``: the stored rows whose key comes again (their ``rowid`` and open interest);
    2. delete them;
    3. insert every incoming row; a row without open interest keeps the stored row's (open
       interest comes from its own endpoint, often only for the last 30 days, and a bar
       downloaded again must not erase it).

    ``source`` must hold each key once, all of one exchange, market and freq. The first
    statement takes ``?`` parameters: exchange, market, freq, first ts, last ts (bounds that
    also let DuckDB skip row groups).
    """
    old = (
        "CREATE OR REPLACE TEMP TABLE _cf_old AS "
        "SELECT b.rowid AS rid, b.symbol, b.ts, b.open_interest "
        f"FROM bars b JOIN {source} s ON b.symbol = s.symbol AND b.ts = s.ts "
        "WHERE b.exchange = ? AND b.market = ? AND b.freq = ? AND b.ts BETWEEN ? AND ?"
    )
    delete = "DELETE FROM bars WHERE rowid IN (SELECT rid FROM _cf_old)"
    cols = ", ".join((*BAR_KEY, *BAR_VALUES))
    values = [
        "COALESCE(s.open_interest, o.open_interest)" if c == "open_interest" else f"s.{c}"
        for c in (*BAR_KEY, *BAR_VALUES)
    ]
    # the join also when nothing is replaced: DuckDB commits a plain INSERT ... SELECT of a
    # large Parquet scan with a peak of memory this pipeline does not have
    insert = (
        f"INSERT INTO bars ({cols}) SELECT {', '.join(values)} "
        f"FROM {source} s LEFT JOIN _cf_old o ON s.symbol = o.symbol AND s.ts = o.ts"
    )
    return old, delete, insert
