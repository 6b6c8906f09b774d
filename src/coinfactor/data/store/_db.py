"""Opening the store's DuckDB file: read-only or for writing, the schema marker checked.

- Reading never creates or changes anything: a missing file reads as an empty store (an
  in-memory database with the store's tables), an existing one is opened ``read_only``.
- A file is opened for writing only after a read-only look at it: a DuckDB database that is
  not a coinfactor store (no marker, other tables) is refused before anything is added to it,
  as is a store of a newer schema version or a truncated file.
- A store of an older version is migrated inside one transaction when opened for writing,
  and read as it is when opened read-only.
- Every DuckDB error becomes a :class:`~coinfactor.core.errors.DataError` naming the file, the
  operation, the table and the real cause; a lock held by another process names that process.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import duckdb

from coinfactor.core.errors import DataError
from coinfactor.core.time import freq_to_timedelta, timedelta_to_freq
from coinfactor.data.store._schema import (
    BAR_KEY,
    BAR_VALUES,
    COMPLETE_COLUMN,
    META_TABLE,
    PARTS_STATEMENT,
    PARTS_TABLE,
    SCHEMA_VERSION,
    SNAPSHOT_KEY,
    SNAPSHOT_RULES,
    SNAPSHOT_V2_VALUES,
    TABLES,
    V1_COLUMNS,
    create_statements,
    marker_statement,
    table_statement,
)

_HEADER_BYTES = 3 * 4096
"""A DuckDB file starts with three 4 KiB headers, then its blocks."""
_LOCK_RE = re.compile(r"Conflicting lock is held in (?P<program>.+?) \(PID (?P<pid>\d+)\)")


def store_error(path: Path, operation: str, exc: BaseException, *, table: str | None = None,
                write: bool = False) -> DataError:
    """Describe a DuckDB error ``exc`` raised while doing ``operation`` as a :class:`DataError`."""
    text = str(exc).strip()
    if "Could not set lock" in text:
        m = _LOCK_RE.search(text)
        holder = f"{m['program']} (PID {m['pid']})" if m else "another process"
        return DataError(
            f"the store {path} is in use by another process: {holder} holds its lock "
            f"({operation} failed)",
            fix="DuckDB lets one process write a database file, and no other process open it "
            "meanwhile: wait for that process (a running `coinfactor download`?) to finish or "
            "stop it, then retry",
        )
    where = f" on table {table!r}" if table else ""
    lowered = text.lower()
    if "no space left" in lowered or "disk full" in lowered:
        fix = "free disk space and retry"
    elif "out of memory" in lowered:
        fix = "free memory (or write smaller pieces) and retry"
    elif "corrupt" in lowered or "checksum" in lowered or "not a valid duckdb" in lowered:
        fix = "the file is damaged: restore it from a backup, or download the data again"
    elif isinstance(exc, duckdb.ConstraintException) or "constraint" in lowered:
        fix = ("a row broke a rule of the table (a null in a required column, a key twice): "
               "validate the rows first (validate_panel; Store.write without validated=True)")
    else:
        fix = ("the cause above is DuckDB's: retry, and if it persists inspect the file with "
               f"`coinfactor store info --db {path}`")
    if write:
        fix += " (the write was rolled back: the store holds what it held before)"
    return DataError(f"store {path}: {operation}{where} failed: {type(exc).__name__}: {text}",
                     fix=fix)


@contextmanager
def duck_errors(path: Path, operation: str, *, table: str | None = None,
                write: bool = False) -> Iterator[None]:
    """Turn a DuckDB error in the block into :func:`store_error`."""
    try:
        yield
    except duckdb.Error as exc:
        raise store_error(path, operation, exc, table=table, write=write) from exc


def _quiet(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """Turn off DuckDB's progress bar (it prints to the terminal: library code never does)."""
    con.execute("SET enable_progress_bar = false").fetchall()
    return con


def empty_connection() -> duckdb.DuckDBPyConnection:
    """Open an in-memory database with the store's (empty) tables: a missing store's reads."""
    con = _quiet(duckdb.connect(":memory:"))
    for stmt in create_statements():
        con.execute(stmt).fetchall()
    return con


def _objects(con: duckdb.DuckDBPyConnection) -> tuple[dict[str, list[str]], list[str]]:
    """Tables (with their columns) and other user objects of the file's database."""
    db = "current_database()"
    rows = con.execute(
        "SELECT table_name, column_name FROM duckdb_columns() "
        f"WHERE database_name = {db} AND NOT internal AND schema_name = 'main' "
        "ORDER BY table_name, column_index"
    ).fetchall()
    tables: dict[str, list[str]] = {}
    for table, column in rows:
        tables.setdefault(str(table), []).append(str(column))
    others = con.execute(
        f"SELECT 'view ' || view_name FROM duckdb_views() WHERE database_name = {db} "
        "AND NOT internal "
        f"UNION ALL SELECT 'table ' || schema_name || '.' || table_name FROM duckdb_tables() "
        f"WHERE database_name = {db} AND schema_name <> 'main' "
        f"UNION ALL SELECT 'sequence ' || sequence_name FROM duckdb_sequences() "
        f"WHERE database_name = {db}"
    ).fetchall()
    return tables, [str(r[0]) for r in others]


def _check_length(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """Refuse a file shorter than the blocks its own header says are in use."""
    row = con.execute(
        "SELECT block_size, used_blocks FROM pragma_database_size() "
        "WHERE database_name = current_database()"
    ).fetchone()
    if row is None:
        return
    need = _HEADER_BYTES + int(row[0]) * int(row[1])
    size = path.stat().st_size
    if size < need:
        raise DataError(
            f"the store {path} is truncated: the file holds {size:,} bytes but its header "
            f"lists {int(row[1]):,} blocks in use ({need:,} bytes); its data cannot be trusted",
            fix="restore the file from a backup or a complete copy (was a copy interrupted?), "
            "or move it away and download the data again",
        )


def inspect(con: duckdb.DuckDBPyConnection, path: Path) -> int:
    """Return the schema version of the open file: 0 (an empty DuckDB database), 1, 2 or 3.

    Raises
    ------
    DataError
        When the file is truncated, is another program's database (no marker and tables
        that are not the store's), or was written by a newer coinfactor.
    """
    _check_length(con, path)
    tables, others = _objects(con)
    if META_TABLE in tables:
        row = con.execute(
            f"SELECT value FROM {META_TABLE} WHERE key = 'schema_version'"
        ).fetchone()
        version = int(row[0]) if row is not None and str(row[0]).isdigit() else None
        if version is None or version < 2:
            raise DataError(
                f"the store {path} has a damaged marker: {META_TABLE}.schema_version is "
                f"{None if row is None else row[0]!r}, expected a version such as "
                f"'{SCHEMA_VERSION}'",
                fix="restore the file from a backup, or move it away and download again",
            )
        if version > SCHEMA_VERSION:
            raise DataError(
                f"the store {path} has schema version {version}, written by a newer "
                f"coinfactor; this one reads versions up to {SCHEMA_VERSION}",
                fix="upgrade coinfactor (pip install -U coinfactor), or use another store",
            )
        return version
    if not tables and not others:
        return 0
    foreign = sorted(t for t, cols in tables.items() if tuple(cols) != V1_COLUMNS.get(t))
    if foreign or others:
        found = [f"table {t}" for t in foreign] + others
        raise DataError(
            f"{path} is a DuckDB database but not a coinfactor store: it has no {META_TABLE} "
            f"marker and holds {', '.join(found[:8])}{' ...' if len(found) > 8 else ''}; "
            "coinfactor does not add its tables to another program's database",
            fix="point --db, [data] store.path or COINFACTOR_HOME at a coinfactor store or a "
            "new file name",
        )
    return 1


_SAME_PROCESS = "different configuration"
"""DuckDB's refusal to open a file read-only and for writing at once in one process."""


def open_read(path: Path) -> tuple[duckdb.DuckDBPyConnection, int]:
    """Open an existing store read-only; returns the connection and the schema version.

    When another :class:`Store` of this process has the file open for writing, DuckDB
    refuses a read-only connection beside it; the reader then shares that database (it was
    checked and migrated when it was opened for writing) and only reads.
    """
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.ConnectionException as exc:
        if _SAME_PROCESS not in str(exc):
            raise store_error(path, "opening it read-only", exc) from exc
        with duck_errors(path, "opening it read-only"):
            con = duckdb.connect(str(path))
    except duckdb.Error as exc:
        raise store_error(path, "opening it read-only", exc) from exc
    try:
        with duck_errors(path, "reading the catalog"):
            _quiet(con)
            version = inspect(con, path)
            # tables missing from an old or empty file read as empty ones (temporary)
            present = _objects(con)[0]
            for name in TABLES:
                if name not in present:
                    con.execute(table_statement(name).replace("CREATE TABLE",
                                                              "CREATE TEMP TABLE")).fetchall()
            if PARTS_TABLE not in present:
                con.execute(PARTS_STATEMENT.replace("CREATE TABLE",
                                                    "CREATE TEMP TABLE")).fetchall()
            if version == 1 and "bars" in present:
                _v1_bars_view(con)
            if "snapshots" in present and not set(SNAPSHOT_RULES) <= set(present["snapshots"]):
                _v2_snapshots_view(con)
    except BaseException:
        con.close()
        raise
    return con, version


def _v1_bars_view(con: duckdb.DuckDBPyConnection) -> None:
    """Read a version-1 ``bars`` as version 2 (a temporary view shadowing it).

    Frequency keys read in their canonical spelling (``60m`` as ``1h``) and every bar as a
    real one (``filled`` False: version 1 could not store filler bars).
    """
    db = con.execute("SELECT current_database()").fetchone()
    assert db is not None
    cases = []
    for (freq,) in con.execute("SELECT DISTINCT freq FROM main.bars").fetchall():
        canonical = _canonical(str(freq))
        if canonical is not None and canonical != freq:
            cases.append(f"WHEN '{_quote(str(freq))}' THEN '{canonical}'")
    freq_sql = f"CASE freq {' '.join(cases)} ELSE freq END" if cases else "freq"
    cols = [freq_sql + " AS freq" if c == "freq" else c
            for c in (*BAR_KEY, *BAR_VALUES) if c != "filled"]
    con.execute(
        f"CREATE TEMP VIEW bars AS SELECT {', '.join(cols)}, false AS filled "
        f'FROM "{_quote(str(db[0]), chr(34))}".main.bars'
    ).fetchall()


def _v2_snapshots_view(con: duckdb.DuckDBPyConnection) -> None:
    """Read a ``snapshots`` table of schema version 1 or 2 as version 3 (a temporary view).

    The order rules (:data:`SNAPSHOT_RULES`) read as nulls: those stores never recorded them.
    """
    db = con.execute("SELECT current_database()").fetchone()
    assert db is not None
    cols = [*SNAPSHOT_KEY, *SNAPSHOT_V2_VALUES]
    rules = [f"CAST(NULL AS {kind}) AS {name}" for name, kind in SNAPSHOT_RULES.items()]
    con.execute(
        f"CREATE TEMP VIEW snapshots AS SELECT {', '.join(cols)}, {', '.join(rules)} "
        f'FROM "{_quote(str(db[0]), chr(34))}".main.snapshots'
    ).fetchall()


def _quote(text: str, mark: str = "'") -> str:
    """Escape ``mark`` in an SQL literal or identifier (stored keys are not trusted)."""
    return text.replace(mark, mark + mark)


def _canonical(freq: str) -> str | None:
    """Return the canonical spelling of a stored frequency key, None if it is none."""
    try:
        return timedelta_to_freq(freq_to_timedelta(freq))
    except Exception:  # a key that is no frequency stays as it is
        return None


def open_write(path: Path) -> duckdb.DuckDBPyConnection:
    """Open the store for writing: created if missing, migrated if older; never foreign."""
    if path.exists():
        ro, _ = open_read(path)  # refuses a foreign, newer or truncated file untouched
        ro.close()
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
    try:
        con = duckdb.connect(str(path))
    except duckdb.ConnectionException as exc:
        if _SAME_PROCESS not in str(exc):
            raise store_error(path, "opening it for writing", exc) from exc
        raise DataError(
            f"the store {path} is open read-only in this process (another Store object), so "
            "it cannot be opened for writing beside it",
            fix="close the reading Store first (store.close(), or use one Store to read and "
            "write)",
        ) from exc
    except duckdb.Error as exc:
        raise store_error(path, "opening it for writing", exc) from exc
    try:
        with duck_errors(path, "reading the catalog"):
            _quiet(con)
            version = inspect(con, path)
        if version < SCHEMA_VERSION:
            _migrate(con, path, version)
    except BaseException:
        con.close()
        raise
    return con


def _migrate(con: duckdb.DuckDBPyConnection, path: Path, version: int) -> None:
    """Bring a version-0 (empty), 1, 2 or 3 store to :data:`SCHEMA_VERSION`, all or none.

    Version 1 -> 2: ``bars`` is copied into a table with the ``filled`` flag (False on every
    stored bar: version 1 could not store filler bars) and without the DuckDB index, and
    frequency keys are rewritten in their canonical spelling (``60m`` -> ``1h``).
    Version 2 -> 3: :func:`_migrate_snapshot_rules`; the ``books`` table is created.
    Version 3 -> 4: :func:`migrate_minute_store`.
    """
    operation = f"migrating the schema from version {version} to {SCHEMA_VERSION}"
    with duck_errors(path, operation, write=True):
        con.execute("BEGIN TRANSACTION").fetchall()
        try:
            tables = _objects(con)[0]
            if "bars" in tables and version < 2:
                _migrate_bars(con, path)
            if "snapshots" in tables and version < 3:
                _migrate_snapshot_rules(con, tables["snapshots"])
            for stmt in create_statements():
                con.execute(stmt).fetchall()
            if version >= 1:
                migrate_minute_store(con)
            con.execute(marker_statement()).fetchall()
            con.execute("COMMIT").fetchall()
        except BaseException:
            with suppress(duckdb.Error):
                con.execute("ROLLBACK").fetchall()
            raise


def _migrate_snapshot_rules(con: duckdb.DuckDBPyConnection, columns: list[str]) -> None:
    """Add the order-rule columns (:data:`SNAPSHOT_RULES`) to ``snapshots`` (schema 2 -> 3).

    Stored snapshots keep their rows; their rules are null (never recorded), so a book reads
    rules only from snapshots taken after the migration.
    """
    for name, kind in SNAPSHOT_RULES.items():
        if name not in columns:
            con.execute(f"ALTER TABLE snapshots ADD COLUMN {name} {kind}").fetchall()


def migrate_minute_store(con: duckdb.DuckDBPyConnection) -> None:
    """Version 3 -> 4 (the minute store), on its own: ``bars.complete`` and ``minute_parts``.

    Self-contained and idempotent (a column or table already there is kept), so it can be
    renumbered beside other migrations. One-minute bars already in ``bars`` stay there and
    are read as before until minutes of their exchange and market are imported.
    """
    cols = {str(r[0]) for r in con.execute(
        "SELECT column_name FROM duckdb_columns() WHERE database_name = current_database() "
        "AND schema_name = 'main' AND table_name = 'bars'").fetchall()}
    if COMPLETE_COLUMN not in cols:
        con.execute(f"ALTER TABLE bars ADD COLUMN {COMPLETE_COLUMN} BOOLEAN").fetchall()
    con.execute(PARTS_STATEMENT).fetchall()


def _migrate_bars(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    old = [c for c in (*BAR_KEY, *BAR_VALUES) if c != "filled"]
    con.execute(table_statement("bars", table="_cf_bars_v2")).fetchall()
    con.execute(
        f"INSERT INTO _cf_bars_v2 ({', '.join(old)}, filled) SELECT {', '.join(old)}, false "
        "FROM bars"
    ).fetchall()
    con.execute("DROP TABLE bars").fetchall()
    con.execute("ALTER TABLE _cf_bars_v2 RENAME TO bars").fetchall()
    for (freq,) in con.execute("SELECT DISTINCT freq FROM bars").fetchall():
        canonical = _canonical(str(freq))
        if canonical is None or canonical == freq:
            continue
        clash = con.execute(
            "SELECT count(*) FROM bars a JOIN bars b USING (exchange, market, symbol, ts) "
            "WHERE a.freq = ? AND b.freq = ?", [freq, canonical],
        ).fetchone()
        if clash is not None and clash[0]:
            raise DataError(
                f"the store {path} holds bars under the frequency keys {freq!r} and "
                f"{canonical!r}, one bar length spelled two ways, with {clash[0]:,} bar(s) in "
                "both; the migration to one spelling would merge them",
                fix=f"delete one copy with DuckDB (DELETE FROM bars WHERE freq = '{freq}'), "
                "then open the store again",
            )
        con.execute("UPDATE bars SET freq = ? WHERE freq = ?", [canonical, freq]).fetchall()
