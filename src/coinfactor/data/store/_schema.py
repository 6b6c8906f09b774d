"""DuckDB table definitions of the store (bars, funding events, market snapshots)."""

from __future__ import annotations

import polars as pl

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
}
FUNDING_VALUES: dict[str, str] = {
    "funding_rate": "DOUBLE NOT NULL",
    "mark_price": "DOUBLE",
}
SNAPSHOT_VALUES: dict[str, str] = {
    "base": "VARCHAR",
    "quote": "VARCHAR",
    "active": "BOOLEAN",
    "volume_24h_usd": "DOUBLE",
    "open_interest_usd": "DOUBLE",
    "mid": "DOUBLE",
    "max_leverage": "DOUBLE",
}

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
}
"""One row per market at snapshot time: 24h notional volume and open interest in USD (quote
units), mid price, maximum leverage."""

TABLES: dict[str, tuple[tuple[str, ...], dict[str, str]]] = {
    "bars": (BAR_KEY, BAR_VALUES),
    "funding": (FUNDING_KEY, FUNDING_VALUES),
    "snapshots": (SNAPSHOT_KEY, SNAPSHOT_VALUES),
}


def create_statements() -> list[str]:
    """``CREATE TABLE IF NOT EXISTS`` statements for every store table."""
    out = []
    for name, (key, values) in TABLES.items():
        cols = [f"{k} {'TIMESTAMP' if k == 'ts' else 'VARCHAR'} NOT NULL" for k in key]
        cols += [f"{c} {t}" for c, t in values.items()]
        cols.append(f"PRIMARY KEY ({', '.join(key)})")
        out.append(f"CREATE TABLE IF NOT EXISTS {name} ({', '.join(cols)})")
    return out


def upsert_statement(table: str, source: str) -> str:
    """``INSERT ... ON CONFLICT DO UPDATE`` from the registered relation ``source``.

    Required values are replaced by the incoming row; nullable ones keep the stored value
    where the incoming one is null (a later write never erases known data).
    """
    key, values = TABLES[table]
    cols = [*key, *values]
    sets = []
    for c, t in values.items():
        if "NOT NULL" in t:
            sets.append(f"{c} = excluded.{c}")
        else:
            sets.append(f"{c} = COALESCE(excluded.{c}, {table}.{c})")
    return (
        f"INSERT INTO {table} ({', '.join(cols)}) SELECT {', '.join(cols)} FROM {source} "
        f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {', '.join(sets)}"
    )
