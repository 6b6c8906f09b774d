"""The store's write primitives: bar upserts without a DuckDB index, keyed upserts, counts.

``bars`` has no DuckDB primary key (see :mod:`coinfactor.data.store._schema`): its keys stay
unique because every write of a file goes through :func:`upsert_bars` (delete the stored
rows of the incoming keys, insert the incoming rows) under :func:`writer_lock`, one writer
per file in a process, and DuckDB's file lock admits one writing process.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from coinfactor.data.store._schema import bar_upsert_statements, upsert_statement


@dataclass(frozen=True)
class WriteCounts:
    """Rows a write touched per table.

    ``*_new`` counts keys added, ``*_rows`` rows written, ``open_interest_rows`` stored bars
    whose open interest was set.
    """

    bars_rows: int = 0
    bars_new: int = 0
    funding_rows: int = 0
    funding_new: int = 0
    snapshots_rows: int = 0
    snapshots_new: int = 0
    open_interest_rows: int = 0


_WRITERS: dict[str, threading.Lock] = {}
_WRITERS_GUARD = threading.Lock()


def writer_lock(path: Path) -> threading.Lock:
    """One writer at a time per database file in this process (keys stay unique)."""
    key = os.path.realpath(path)
    with _WRITERS_GUARD:
        return _WRITERS.setdefault(key, threading.Lock())


def upsert_bars(con: duckdb.DuckDBPyConnection, source: str, rows: int,
                bounds: Sequence[Any]) -> int:
    """Upsert the bars of relation ``source`` (``rows`` keys, each once); return the new keys.

    ``bounds`` are exchange, market, freq, first and last ts of ``source``.
    """
    old, delete, insert = bar_upsert_statements(source)
    con.execute(old, list(bounds)).fetchall()
    row = con.execute("SELECT count(*) FROM _cf_old").fetchone()
    replaced = int(row[0]) if row else 0
    if replaced:
        con.execute(delete).fetchall()
    con.execute(insert).fetchall()
    con.execute("DROP TABLE _cf_old").fetchall()
    return rows - replaced


@contextmanager
def memory_limit(con: duckdb.DuckDBPyConnection, limit: int) -> Iterator[None]:
    """Cap DuckDB's memory at ``limit`` bytes inside the block (then back to its default).

    DuckDB's default cap is 80% of the machine's memory; under a lower one its joins and
    temporary tables spill to disk (``<db>.tmp``), so a large import stays in bounded memory.
    """
    con.execute(f"SET memory_limit = '{int(limit)}B'").fetchall()
    try:
        yield
    finally:
        with suppress(duckdb.Error):
            con.execute("RESET memory_limit").fetchall()


def insert(con: duckdb.DuckDBPyConnection, table: str, frame: pl.DataFrame) -> int:
    """Upsert ``frame`` into ``table`` on ``con`` (inside the caller's transaction).

    Returns the number of keys that were new. The registered frame is left for the caller
    to unregister after the transaction ends: unregistering inside an aborted transaction
    raises its own error, which would hide the real one.
    """
    con.register("_incoming", frame.to_arrow())
    if table == "bars":
        lo, hi = frame["ts"].min(), frame["ts"].max()
        bounds = [frame["exchange"][0], frame["market"][0], frame["freq"][0], lo, hi]
        new = upsert_bars(con, "_incoming", frame.height, bounds)
    else:
        before = con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
        con.execute(upsert_statement(table, "_incoming")).fetchall()
        after = con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
        new = int(after) - int(before)
    con.unregister("_incoming")
    return new


def set_open_interest(con: duckdb.DuckDBPyConnection, frame: pl.DataFrame) -> int:
    """Set ``bars.open_interest`` on the stored bars ``frame`` matches; return their count."""
    con.register("_incoming_oi", frame.to_arrow())
    rows = con.execute(
        "UPDATE bars SET open_interest = i.open_interest FROM _incoming_oi i "
        "WHERE bars.exchange = i.exchange AND bars.market = i.market "
        "AND bars.freq = i.freq AND bars.symbol = i.symbol AND bars.ts = i.ts"
    ).fetchall()
    con.unregister("_incoming_oi")
    return int(rows[0][0]) if rows else 0


def unregister(con: duckdb.DuckDBPyConnection) -> None:
    """Drop what a failed write left registered (after its transaction was rolled back)."""
    for name in ("_incoming", "_incoming_oi"):
        with suppress(duckdb.Error):
            con.unregister(name)
