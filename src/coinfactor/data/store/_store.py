"""The DuckDB store: keyed tables of bars, funding events and market snapshots.

Writes are idempotent upserts inside one transaction: writing the same or overlapping rows again
never duplicates a key, an incoming row replaces the stored row of its key as a unit, and an
error anywhere in a write rolls every table back to where it was. Reads open the file read-only
and never create anything. Queries return validated canonical panels.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path

import duckdb
import polars as pl

from coinfactor.core.errors import DataError
from coinfactor.data._funding import validate_funding_events
from coinfactor.data._schema import validate_keys, validate_panel
from coinfactor.data.store._db import (
    duck_errors,
    empty_connection,
    open_read,
    open_write,
)
from coinfactor.data.store._files import (
    check_export_target,
    export_frame,
    staged_import,
)
from coinfactor.data.store._frames import (
    TimeLike,
    bar_frame,
    book_frame,
    check_finite,
    check_frame_symbols,
    check_unique_keys,
    naive,
    open_interest_frame,
    snapshot_frame,
)
from coinfactor.data.store._import import ImportProgress
from coinfactor.data.store._minute_writes import MinuteWrites
from coinfactor.data.store._names import (
    check_exchange,
    check_freq,
    check_market,
)
from coinfactor.data.store._reads import StoreReads
from coinfactor.data.store._schema import BAR_VALUES, FUNDING_VALUES, MINUTE_FREQ, SCHEMA_VERSION
from coinfactor.data.store._upsert import (
    WriteCounts,
    memory_limit,
    unregister,
    upsert_bars,
    writer_lock,
)
from coinfactor.data.store._upsert import insert as _insert
from coinfactor.data.store._upsert import set_open_interest as _set_open_interest

DB_FILENAME = "coinfactor.duckdb"
IMPORT_DUCKDB_MEMORY = 1 << 30
"""DuckDB's memory cap during :meth:`Store.import_parquet` (1 GiB; beyond it DuckDB spills
to ``<db>.tmp``): with the import's own groups of rows, a 20 M-row import peaks at about
twice its file's size."""


def default_home() -> Path:
    """``$COINFACTOR_HOME`` if set, else ``~/.coinfactor``."""
    env = os.environ.get("COINFACTOR_HOME")
    return Path(env).expanduser() if env else Path.home() / ".coinfactor"


class Store(MinuteWrites, StoreReads):
    """A DuckDB database of bars, funding events and market snapshots.

    Parameters
    ----------
    path : str or Path, optional
        Database file. Default ``$COINFACTOR_HOME/coinfactor.duckdb`` (``COINFACTOR_HOME``
        defaults to ``~/.coinfactor``). A directory means ``<dir>/coinfactor.duckdb``.

    Notes
    -----
    Tables and keys: ``bars`` (exchange, market, freq, symbol, ts) with the canonical panel
    columns; ``funding`` (exchange, market, symbol, ts) with ``funding_rate`` per event and an
    optional ``mark_price``; ``snapshots`` (exchange, market, symbol, ts) with 24h USD volume,
    USD open interest, mid, max leverage and the market's order rules (contract size, amount
    and price precision with ccxt's precision mode, minimum amount and cost); ``books``
    (study, config_hash, as_of), the paper ledger of :mod:`coinfactor.book`
    (:meth:`write_books`, :meth:`query_books`). ``ts`` is stored as a UTC ``TIMESTAMP`` (bar open
    time for bars, settlement time for funding). Bars keep the ``filled`` flag of
    :func:`coinfactor.data.regularize` (a filler bar is never read back as a real one).

    The first read opens the file read-only (a missing file reads as an empty store and is
    not created); the first write reopens it for writing, creating it if needed. The
    connection is kept until :meth:`close` (or the end of a ``with`` block, or garbage
    collection); while it is open other processes cannot write the file (a process holding
    it is named in the error). A file is checked before use: another program's DuckDB
    database, a store of a newer version or a truncated file is refused and left unchanged; a
    store written by an older coinfactor is read as it is and migrated on the first write
    (``coinfactor_meta.schema_version``; see :mod:`coinfactor.data.store._schema`). DuckDB
    errors are raised as :class:`~coinfactor.core.errors.DataError` naming the file, the
    operation, the table and the cause. Every name is checked against an allow-list and every
    value travels as a bound parameter.

    Examples
    --------
    >>> store = Store(tmp / "db.duckdb")  # doctest: +SKIP
    >>> store.write_bars(panel, exchange="binanceusdm", market="swap", freq="1h")  # doctest: +SKIP
    >>> store.query_bars(exchange="binanceusdm", freq="1h", symbols=["BTCUSDT"])  # doctest: +SKIP
    """

    def __init__(self, path: str | Path | None = None) -> None:
        p = Path(path).expanduser() if path is not None else default_home() / DB_FILENAME
        if p.is_dir():
            p = p / DB_FILENAME
        self.path = p
        self._con: duckdb.DuckDBPyConnection | None = None
        self._writable = False
        self._version = SCHEMA_VERSION
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        return f"Store(path={str(self.path)!r})"

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the database connection (reopened on next use)."""
        with self._lock:
            if self._con is not None:
                self._con.close()
                self._con = None
                self._writable = False

    @property
    def schema_version(self) -> int:
        """Schema version of the file.

        1 for a store written by an older coinfactor (read as it is, migrated on the first
        write); the current version for a new or missing file.
        """
        with self._connect():
            return self._version

    @contextmanager
    def _connect(self, *, write: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """Yield a connection: read-only unless ``write``; kept open for the object's life.

        Opening a DuckDB file costs tens of milliseconds, which would dominate page-by-page
        ingestion, so the connection is kept; a write after reads reopens it for writing.
        Reading a missing file uses a throw-away in-memory database with the store's tables.
        """
        with self._lock:
            if self._con is not None and write and not self._writable:
                self.close()
            if self._con is None:
                if write:
                    self._con = open_write(self.path)
                    self._writable, self._version = True, SCHEMA_VERSION
                elif not self.path.exists():
                    con = empty_connection()
                    try:
                        yield con
                    finally:
                        con.close()
                    return
                else:
                    self._con, self._version = open_read(self.path)
            yield self._con

    # ------------------------------------------------------------------ writes
    def write(
        self,
        *,
        exchange: str,
        market: str,
        freq: str | None = None,
        bars: pl.DataFrame | None = None,
        funding: pl.DataFrame | None = None,
        snapshots: pl.DataFrame | None = None,
        open_interest: pl.DataFrame | None = None,
        validated: bool = False,
    ) -> WriteCounts:
        """Upsert bars, funding events and snapshots in ONE transaction.

        An incoming row replaces the stored row of its key as a unit: every field of a bar
        (prices, volumes, trades, funding rate, the ``filled`` flag), funding event or
        snapshot comes from the incoming row, nulls included, so two overlapping writes never
        mix into one row (close from one, quote volume from the other). One field is kept:
        a bar written without ``open_interest`` keeps the stored bar's, because open interest
        comes from its own endpoint (``open_interest=``, often only for the last 30 days)
        and downloading a bar again must not erase it.

        Parameters
        ----------
        exchange, market : str
            Venue id (``binanceusdm``) and market type (``swap``).
        freq : str, optional
            Bar frequency; required with ``bars``. Stored in its canonical spelling
            (``60m`` is ``1h``); it must be the data's frequency (the most common step).
        bars : pl.DataFrame, optional
            Canonical panel (validated here at ``freq``), with an optional ``filled`` flag
            (:func:`coinfactor.data.regularize`); a null flag means a real bar.
        funding : pl.DataFrame, optional
            Funding events ``symbol, ts, funding_rate`` (+ optional ``mark_price``).
        snapshots : pl.DataFrame, optional
            Market snapshot rows (:data:`SNAPSHOT_SCHEMA`; ``symbol`` and ``ts`` required).
        open_interest : pl.DataFrame, optional
            ``symbol, ts, open_interest`` (quote units at the close of the bar opening at
            ``ts``) set on bars already stored at ``freq`` (applied after ``bars``); rows
            without a stored bar are ignored.
        validated : bool, default False
            ``bars`` already passed :func:`~coinfactor.data.validate_panel` at ``freq`` (a
            source's pages): skip the second validation. Symbols, unique keys and finite
            numbers are still checked.

        Returns
        -------
        WriteCounts
            Rows written and new keys per table.

        Raises
        ------
        DataError, ConfigError
            On invalid frames or names (NaN or infinite numbers included), a declared
            frequency other than the data's, or a DuckDB failure (named with the table, the
            operation and its cause); nothing is written.
        """
        check_exchange(exchange)
        check_market(market)
        frames: dict[str, pl.DataFrame] = {}
        minutes: pl.DataFrame | None = None
        ids = {"exchange": exchange, "market": market}
        fq = check_freq(freq) if freq is not None else None
        if bars is not None and bars.height:
            if fq is None:
                raise DataError("writing bars needs freq= (the panel's bar frequency)")
            if validated:
                panel = bars
                check_unique_keys(panel, "bars")
                check_finite(panel.select("symbol", "ts", *[c for c in BAR_VALUES
                                                            if c in panel.columns]), "bars")
            else:
                validate_keys(bars.select("symbol", "ts") if {"symbol", "ts"} <= set(bars.columns)
                              else bars, freq=fq)
                panel = validate_panel(bars.sort("symbol", "ts"), freq=fq)
            check_frame_symbols(panel)
            if fq == MINUTE_FREQ:
                minutes = panel
            else:
                frames["bars"] = bar_frame(panel, ids, fq)
        if funding is not None and funding.height:
            if {"symbol", "ts"} <= set(funding.columns):  # one row per event, last wins
                funding = funding.unique(["symbol", "ts"], keep="last", maintain_order=True)
            events = validate_funding_events(funding)
            mark = (
                funding.sort("symbol", "ts")["mark_price"].cast(pl.Float64)
                if "mark_price" in funding.columns
                else pl.Series("mark_price", [None] * events.height, dtype=pl.Float64)
            )
            events = events.with_columns(mark.alias("mark_price"))
            events = events.unique(["symbol", "ts"], keep="last", maintain_order=True)
            check_frame_symbols(events)
            check_finite(events, "funding events")
            frames["funding"] = naive(
                events.select(*[pl.lit(v).alias(k) for k, v in ids.items()], "symbol", "ts",
                              *FUNDING_VALUES)
            )
        if snapshots is not None and snapshots.height:
            frames["snapshots"] = naive(snapshot_frame(snapshots, ids))
        oi = None
        if open_interest is not None and open_interest.height:
            if fq is None:
                raise DataError("writing open interest needs freq= (the bars' frequency)")
            oi = open_interest_frame(open_interest, ids, fq)
        counts: dict[str, int] = {}
        if not frames and oi is None and minutes is None:
            return WriteCounts()
        with self._connect(write=True) as con, writer_lock(self.path), \
                self._minute_upsert(con, exchange, market, stage=minutes) as up:
            with self._transaction(con):
                if up is not None:
                    with duck_errors(self.path, f"upserting {up.rows:,} minute bar(s)",
                                     table="minute_parts", write=True):
                        up.commit()
                    counts["bars_rows"], counts["bars_new"] = up.rows, up.new
                for table, frame in frames.items():
                    with duck_errors(self.path, f"upserting {frame.height:,} row(s)",
                                     table=table, write=True):
                        counts[f"{table}_new"] = _insert(con, table, frame)
                    counts[f"{table}_rows"] = frame.height
                if oi is not None:
                    with duck_errors(self.path, f"setting open interest on {oi.height:,} "
                                     "bar(s)", table="bars", write=True):
                        counts["open_interest_rows"] = _set_open_interest(con, oi)
        return WriteCounts(**counts)

    def _begin(self, con: duckdb.DuckDBPyConnection) -> None:
        with duck_errors(self.path, "starting a transaction", write=True):
            con.execute("BEGIN TRANSACTION").fetchall()

    def _commit(self, con: duckdb.DuckDBPyConnection) -> None:
        with duck_errors(self.path, "committing", write=True):
            con.execute("COMMIT").fetchall()

    def _rollback(self, con: duckdb.DuckDBPyConnection) -> None:
        """Roll back after a failure; an error here must not hide the failure's own."""
        with suppress(duckdb.Error):
            con.execute("ROLLBACK").fetchall()
        unregister(con)

    @contextmanager
    def _transaction(self, con: duckdb.DuckDBPyConnection) -> Iterator[None]:
        """One DuckDB transaction: committed after the block, rolled back on any error."""
        self._begin(con)
        try:
            yield
            self._commit(con)
        except BaseException:
            self._rollback(con)
            raise

    def write_books(self, books: pl.DataFrame) -> int:
        """Upsert rows of the paper ledger (``books``); returns the number of new books.

        One book per (study, config hash, as-of time): writing a book again replaces its
        row, so appending the same book twice keeps one (the ledger is idempotent).

        Parameters
        ----------
        books : pl.DataFrame
            Rows of :data:`coinfactor.data.store.BOOK_SCHEMA` (no nulls).

        Raises
        ------
        DataError
            On missing columns, nulls, a key twice, or a DuckDB failure; nothing is written.
        """
        frame = book_frame(books)
        if frame.height == 0:
            return 0
        with self._connect(write=True) as con, writer_lock(self.path):
            with self._transaction(con):
                with duck_errors(self.path, f"upserting {frame.height:,} book(s)",
                                 table="books", write=True):
                    new = _insert(con, "books", frame)
        return new

    def write_bars(self, panel: pl.DataFrame, *, exchange: str, market: str, freq: str) -> int:
        """Upsert a canonical panel; returns the number of new (symbol, ts) keys."""
        return self.write(exchange=exchange, market=market, freq=freq, bars=panel).bars_new

    def write_funding(self, events: pl.DataFrame, *, exchange: str, market: str) -> int:
        """Upsert funding events; returns the number of new events."""
        return self.write(exchange=exchange, market=market, funding=events).funding_new

    def write_snapshots(self, snapshots: pl.DataFrame, *, exchange: str, market: str) -> int:
        """Upsert market snapshot rows; returns the number of new rows."""
        return self.write(exchange=exchange, market=market, snapshots=snapshots).snapshots_new

    # ------------------------------------------------------------------ files
    def import_parquet(
        self, path: str | Path, *, exchange: str, market: str = "swap", freq: str | None = None
    ) -> WriteCounts:
        """Import a canonical panel Parquet file (validated; idempotent; all or none).

        The file is validated by groups of symbols into a temporary directory beside the
        store and upserted in one transaction (see :mod:`coinfactor.data.store._files`), so
        memory is set by a group of about two million rows, not by the file. One-minute bars
        go to the minute store instead (:meth:`import_minutes`, rollups included). Rows replace
        stored rows of the same key as a unit (see :meth:`write`); a ``filled`` column
        (:func:`coinfactor.data.regularize`) is kept.

        Parameters
        ----------
        path : str or Path
            Parquet file holding a canonical panel.
        exchange, market : str
            Where the bars go in the store.
        freq : str, optional
            The file's bar frequency; inferred when omitted. A declared frequency must be the
            data's (``4h`` bars declared ``1h`` are refused, not stored as sparse 1h bars).

        Returns
        -------
        WriteCounts
            ``bars_rows`` imported and ``bars_new`` keys that were not stored before.

        Raises
        ------
        DataError, ConfigError
            On a missing or unreadable file, an invalid panel, a frequency mismatch, bad
            names or a DuckDB failure; nothing is written then.
        """
        check_exchange(exchange)
        check_market(market)
        if freq is not None and check_freq(freq) == MINUTE_FREQ:
            return self.import_minutes(path, exchange=exchange, market=market)
        with staged_import(Path(path), self.path, exchange=exchange, market=market,
                           freq=freq) as (parts, fq, rows, first, last):
            if fq == MINUTE_FREQ:  # minutes live in the minute store: imported there
                return self.import_minutes(path, exchange=exchange, market=market)
            source = "read_parquet([" + ", ".join(
                "'" + str(p).replace("'", "''") + "'" for p in parts) + "])"
            with self._connect(write=True) as con, writer_lock(self.path), \
                    memory_limit(con, IMPORT_DUCKDB_MEMORY):
                with self._transaction(con):
                    with duck_errors(self.path, f"importing {rows:,} bar(s) from {path}",
                                     table="bars", write=True):
                        new = upsert_bars(con, source, rows,
                                          [exchange, market, fq, first, last])
        return WriteCounts(bars_rows=rows, bars_new=new)

    def export(
        self,
        out: str | Path,
        *,
        exchange: str | None = None,
        market: str | None = None,
        freq: str | None = None,
        symbols: Sequence[str] | None = None,
        start: TimeLike | None = None,
        end: TimeLike | None = None,
    ) -> pl.DataFrame:
        """Write :meth:`query_bars` to ``out``: Parquet or CSV after its extension.

        ``.parquet`` writes a canonical panel file (what :meth:`import_parquet` reads back),
        ``.csv`` a CSV file with the same columns (what
        :func:`coinfactor.data.read_bars` reads); any other extension is refused before
        anything is read or written. The file appears complete or not at all.

        Returns
        -------
        pl.DataFrame
            The panel written.
        """
        target = check_export_target(out)
        panel = self.query_bars(exchange=exchange, market=market, freq=freq, symbols=symbols,
                                start=start, end=end)
        export_frame(panel, target)
        return panel

    def export_parquet(
        self,
        out: str | Path,
        *,
        exchange: str | None = None,
        market: str | None = None,
        freq: str | None = None,
        symbols: Sequence[str] | None = None,
        start: TimeLike | None = None,
        end: TimeLike | None = None,
    ) -> pl.DataFrame:
        """Write :meth:`query_bars` to a Parquet file (``out`` must end in ``.parquet``)."""
        if Path(out).suffix.lower() != ".parquet":
            raise DataError(
                f"export_parquet writes Parquet, but {str(out)!r} does not end in '.parquet'",
                fix="name the file *.parquet, or call Store.export (format from the extension)",
            )
        return self.export(out, exchange=exchange, market=market, freq=freq, symbols=symbols,
                           start=start, end=end)


def import_minutes(
    path: str | Path,
    *,
    store: Store | str | Path | None = None,
    exchange: str,
    market: str = "swap",
    progress: ImportProgress | None = None,
) -> WriteCounts:
    """Import one-minute bars from a file or a folder (see :meth:`Store.import_minutes`).

    Parameters
    ----------
    path : str or Path
        A CSV/CSV.gz/Parquet file, a folder of per-symbol files of one format, or a
        hive-partitioned Parquet folder.
    store : Store, str or Path, optional
        The store, or its file; default the default store (``$COINFACTOR_HOME``). A store
        opened here is closed at the end.
    exchange, market : str
        Where the bars go.
    progress : callable, optional
        ``progress(file, rows)`` after each file.

    Returns
    -------
    WriteCounts
        Minutes imported (``bars_rows``) and new keys (``bars_new``).
    """
    if isinstance(store, Store):
        return store.import_minutes(path, exchange=exchange, market=market, progress=progress)
    with Store(store) as opened:
        return opened.import_minutes(path, exchange=exchange, market=market,
                                     progress=progress)
