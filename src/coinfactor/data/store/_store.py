"""The DuckDB store: keyed tables of bars, funding events and market snapshots.

Writes are idempotent upserts inside one transaction: writing the same or overlapping rows again
never duplicates a key, and an error anywhere in a write rolls every table back to where it was.
Queries return validated canonical panels.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from coinfactor.core.errors import DataError
from coinfactor.core.time import freq_to_timedelta
from coinfactor.data._funding import attach_funding, validate_funding_events
from coinfactor.data._schema import PANEL_SCHEMA, TS_DTYPE, infer_freq, validate_panel
from coinfactor.data.store._frames import (
    TimeLike,
    check_frame_symbols,
    from_store,
    naive,
    open_interest_frame,
    snapshot_frame,
    to_utc,
)
from coinfactor.data.store._names import (
    check_exchange,
    check_freq,
    check_market,
    check_symbols,
)
from coinfactor.data.store._schema import (
    BAR_VALUES,
    FUNDING_VALUES,
    SNAPSHOT_SCHEMA,
    create_statements,
    upsert_statement,
)

DB_FILENAME = "coinfactor.duckdb"
_FUNDING_MARGIN = timedelta(days=2)
"""Funding events read beyond a bar range: over the largest half-interval (12h) plus a
neighbour on each side for the schedule (see :func:`coinfactor.data.snap_funding_events`)."""


def default_home() -> Path:
    """``$COINFACTOR_HOME`` if set, else ``~/.coinfactor``."""
    env = os.environ.get("COINFACTOR_HOME")
    return Path(env).expanduser() if env else Path.home() / ".coinfactor"


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


def _insert(con: duckdb.DuckDBPyConnection, table: str, frame: pl.DataFrame) -> int:
    """Upsert ``frame`` into ``table`` on ``con`` (inside the caller's transaction).

    Returns the number of keys that were new.
    """
    before = con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
    con.register("_incoming", frame.to_arrow())
    try:
        con.execute(upsert_statement(table, "_incoming")).fetchall()
    finally:
        con.unregister("_incoming")
    after = con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
    return int(after) - int(before)


def _set_open_interest(con: duckdb.DuckDBPyConnection, frame: pl.DataFrame) -> int:
    """Set ``bars.open_interest`` on the stored bars ``frame`` matches; return their count."""
    con.register("_incoming_oi", frame.to_arrow())
    try:
        rows = con.execute(
            "UPDATE bars SET open_interest = i.open_interest FROM _incoming_oi i "
            "WHERE bars.exchange = i.exchange AND bars.market = i.market "
            "AND bars.freq = i.freq AND bars.symbol = i.symbol AND bars.ts = i.ts"
        ).fetchall()
    finally:
        con.unregister("_incoming_oi")
    return int(rows[0][0]) if rows else 0


class Store:
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
    USD open interest, mid and max leverage. ``ts`` is stored as a UTC ``TIMESTAMP`` (bar open
    time for bars, settlement time for funding). The first method call opens one
    connection, kept open until :meth:`close` (or the end of a ``with`` block, or garbage
    collection); while it is open other processes cannot write the file. Every name is checked
    against an allow-list and every value travels as a bound parameter.

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

    def __repr__(self) -> str:
        return f"Store(path={str(self.path)!r})"

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the database connection (reopened on next use)."""
        if self._con is not None:
            self._con.close()
            self._con = None

    @contextmanager
    def _connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """Yield the store's connection, opened (and the tables created) on first use.

        One connection is kept for the life of the object: opening a DuckDB file costs tens
        of milliseconds, which would dominate page-by-page ingestion.
        """
        if self._con is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            con = duckdb.connect(str(self.path))
            try:
                for stmt in create_statements():
                    con.execute(stmt).fetchall()
            except BaseException:
                con.close()
                raise
            self._con = con
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

        Parameters
        ----------
        exchange, market : str
            Venue id (``binanceusdm``) and market type (``swap``).
        freq : str, optional
            Bar frequency; required with ``bars``.
        bars : pl.DataFrame, optional
            Canonical panel (validated here at ``freq``).
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
            source's pages): skip the second validation. Symbols are still checked.

        Returns
        -------
        WriteCounts
            Rows written and new keys per table.

        Raises
        ------
        DataError, ConfigError
            On invalid frames or names; nothing is written.
        """
        check_exchange(exchange)
        check_market(market)
        frames: dict[str, pl.DataFrame] = {}
        ids = {"exchange": exchange, "market": market}
        if bars is not None and bars.height:
            if freq is None:
                raise DataError("writing bars needs freq= (the panel's bar frequency)")
            check_freq(freq)
            panel = bars if validated else validate_panel(bars.sort("symbol", "ts"), freq=freq)
            check_frame_symbols(panel)
            frames["bars"] = naive(
                panel.select(
                    *[pl.lit(v).alias(k) for k, v in ids.items()], pl.lit(freq).alias("freq"),
                    "symbol", "ts", *BAR_VALUES,
                )
            )
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
            frames["funding"] = naive(
                events.select(*[pl.lit(v).alias(k) for k, v in ids.items()], "symbol", "ts",
                              *FUNDING_VALUES)
            )
        if snapshots is not None and snapshots.height:
            frames["snapshots"] = naive(snapshot_frame(snapshots, ids))
        oi = None
        if open_interest is not None and open_interest.height:
            if freq is None:
                raise DataError("writing open interest needs freq= (the bars' frequency)")
            oi = open_interest_frame(open_interest, ids, freq)
        counts: dict[str, int] = {}
        if not frames and oi is None:
            return WriteCounts()
        with self._connect() as con:
            con.execute("BEGIN TRANSACTION").fetchall()
            try:
                for table, frame in frames.items():
                    counts[f"{table}_new"] = _insert(con, table, frame)
                    counts[f"{table}_rows"] = frame.height
                if oi is not None:
                    counts["open_interest_rows"] = _set_open_interest(con, oi)
                con.execute("COMMIT").fetchall()
            except BaseException:
                con.execute("ROLLBACK").fetchall()
                raise
        return WriteCounts(**counts)

    def write_bars(self, panel: pl.DataFrame, *, exchange: str, market: str, freq: str) -> int:
        """Upsert a canonical panel; returns the number of new (symbol, ts) keys."""
        return self.write(exchange=exchange, market=market, freq=freq, bars=panel).bars_new

    def write_funding(self, events: pl.DataFrame, *, exchange: str, market: str) -> int:
        """Upsert funding events; returns the number of new events."""
        return self.write(exchange=exchange, market=market, funding=events).funding_new

    def write_snapshots(self, snapshots: pl.DataFrame, *, exchange: str, market: str) -> int:
        """Upsert market snapshot rows; returns the number of new rows."""
        return self.write(exchange=exchange, market=market, snapshots=snapshots).snapshots_new

    # ------------------------------------------------------------------ reads
    def _fetch(self, sql: str, params: Sequence[Any]) -> pl.DataFrame:
        with self._connect() as con:
            table = con.sql(sql, params=list(params)).to_arrow_table()
        out = pl.from_arrow(table)
        assert isinstance(out, pl.DataFrame)
        return out

    @staticmethod
    def _where(
        *,
        exchange: str | None = None,
        market: str | None = None,
        freq: str | None = None,
        symbols: Sequence[str] | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        for col, val, check in (("exchange", exchange, check_exchange),
                                ("market", market, check_market), ("freq", freq, check_freq)):
            if val is not None:
                clauses.append(f"{col} = ?")
                params.append(check(val))
        if symbols is not None:
            clauses.append("list_contains(?, symbol)")
            params.append(check_symbols(symbols))
        if start is not None:
            clauses.append("ts >= ?")
            params.append(start)
        if end is not None:
            clauses.append("ts < ?")
            params.append(end)
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params

    def _resolve(
        self, *, exchange: str | None, market: str | None, freq: str | None,
        symbols: Sequence[str] | None,
    ) -> tuple[str, str, str]:
        where, params = self._where(exchange=exchange, market=market, freq=freq,
                                    symbols=symbols)
        combos = self._fetch(
            f"SELECT DISTINCT exchange, market, freq FROM bars{where} "
            "ORDER BY exchange, market, freq", params,
        )
        asked = {k: v for k, v in (("exchange", exchange), ("market", market), ("freq", freq),
                                   ("symbols", symbols)) if v is not None}
        if combos.height == 0:
            have = self._fetch("SELECT DISTINCT exchange, market, freq FROM bars "
                               "ORDER BY exchange, market, freq", [])
            raise DataError(
                f"the store {self.path} has no bars matching {asked or 'anything'}; it holds "
                f"{have.rows() or 'no bars at all'}",
                fix="download or import data first (coinfactor download / coinfactor store "
                "import), or change the selector",
            )
        if combos.height > 1:
            raise DataError(
                f"a panel has one exchange, market and bar frequency, but {asked or 'the query'}"
                f" matches {combos.rows()} in the store",
                fix="pass exchange=, market= and/or freq= to pick one",
            )
        row = combos.row(0)
        return str(row[0]), str(row[1]), str(row[2])

    def query_bars(
        self,
        *,
        exchange: str | None = None,
        market: str | None = None,
        freq: str | None = None,
        symbols: Sequence[str] | None = None,
        start: TimeLike | None = None,
        end: TimeLike | None = None,
        funding: bool = True,
    ) -> pl.DataFrame:
        """Read bars into a validated canonical panel.

        Parameters
        ----------
        exchange, market, freq : str, optional
            Selectors; together they must pick one (exchange, market, freq) in the store.
        symbols : sequence of str, optional
            Venue ids to keep (all when omitted).
        start, end : datetime, date or ISO str, optional
            Keep bars with ``start <= ts < end`` (UTC; naive values are read as UTC).
        funding : bool, default True
            Where a bar has no ``funding_rate``, fill it from the funding table with
            :func:`coinfactor.data.attach_funding` (sum of events settling in
            ``(ts, ts + freq]``; 0 between events inside a symbol's funding coverage, null
            outside it), reading the events of the range and two days either side.

        Returns
        -------
        pl.DataFrame
            Canonical panel sorted by (symbol, ts); empty (with the schema) when the range
            holds no bars.

        Raises
        ------
        DataError
            When nothing in the store matches, or the selectors match several
            (exchange, market, freq) combinations.
        """
        ex, mk, fq = self._resolve(exchange=exchange, market=market, freq=freq,
                                   symbols=symbols)
        lo, hi = to_utc(start, "start"), to_utc(end, "end")
        where, params = self._where(exchange=ex, market=mk, freq=fq, symbols=symbols,
                                    start=lo, end=hi)
        cols = ", ".join(["ts", "symbol", *BAR_VALUES])
        raw = self._fetch(f"SELECT {cols} FROM bars{where} ORDER BY symbol, ts", params)
        panel = from_store(raw, list(PANEL_SCHEMA))
        if funding and panel.height and panel["funding_rate"].null_count():
            step = freq_to_timedelta(fq)
            first = panel["ts"].min()
            last = panel["ts"].max()
            assert isinstance(first, datetime) and isinstance(last, datetime)
            # events are read with a margin: a late stamp still reaches its bar, and every
            # event of the range has neighbours to learn its settlement schedule from
            events = self.query_funding(
                exchange=ex, market=mk, symbols=panel["symbol"].unique().sort().to_list(),
                start=first.replace(tzinfo=None) - _FUNDING_MARGIN,
                end=last.replace(tzinfo=None) + step + _FUNDING_MARGIN,
            )
            if events.height:
                attached = attach_funding(panel, events.select("symbol", "ts", "funding_rate"),
                                          fq)
                panel = panel.with_columns(
                    pl.coalesce(panel["funding_rate"], attached["funding_rate"])
                    .alias("funding_rate")
                )
        return validate_panel(panel, freq=fq) if panel.height else panel

    def query_funding(
        self,
        *,
        exchange: str,
        market: str | None = None,
        symbols: Sequence[str] | None = None,
        start: TimeLike | None = None,
        end: TimeLike | None = None,
    ) -> pl.DataFrame:
        """Funding events ``symbol, ts, funding_rate, mark_price`` with ``start <= ts < end``."""
        where, params = self._where(exchange=exchange, market=market, symbols=symbols,
                                    start=to_utc(start, "start"), end=to_utc(end, "end"))
        raw = self._fetch(
            f"SELECT symbol, ts, funding_rate, mark_price FROM funding{where} "
            "ORDER BY symbol, ts", params,
        )
        return from_store(raw, ["symbol", "ts", "funding_rate", "mark_price"])

    def query_snapshots(
        self, *, exchange: str, market: str | None = None, latest: bool = True
    ) -> pl.DataFrame:
        """Market snapshots of one exchange; only the most recent one when ``latest``."""
        where, params = self._where(exchange=exchange, market=market)
        cols = ", ".join(SNAPSHOT_SCHEMA)
        sql = f"SELECT {cols} FROM snapshots{where}"
        if latest:
            sql += " QUALIFY ts = max(ts) OVER ()"
        raw = self._fetch(sql + " ORDER BY symbol, ts", params)
        return from_store(raw, list(SNAPSHOT_SCHEMA))

    def last_timestamps(
        self, table: str, *, exchange: str, market: str, freq: str | None = None
    ) -> dict[str, datetime]:
        """Per symbol, the last stored bar open, funding event or bar with open interest.

        ``table`` is ``"bars"``, ``"funding"`` or ``"open_interest"`` (the last bar whose
        ``open_interest`` is known).
        """
        if table not in ("bars", "funding", "open_interest"):
            raise DataError(f"table must be 'bars', 'funding' or 'open_interest', got {table!r}")
        where, params = self._where(exchange=exchange, market=market,
                                    freq=freq if table != "funding" else None)
        source = "funding" if table == "funding" else "bars"
        if table == "open_interest":
            where += (" AND " if where else " WHERE ") + "open_interest IS NOT NULL"
        raw = self._fetch(f"SELECT symbol, max(ts) AS ts FROM {source}{where} GROUP BY symbol",
                          params)
        out = from_store(raw, ["symbol", "ts"])
        return dict(zip(out["symbol"].to_list(), out["ts"].to_list(), strict=True))

    def coverage(
        self,
        *,
        exchange: str | None = None,
        market: str | None = None,
        freq: str | None = None,
        symbols: Sequence[str] | None = None,
    ) -> pl.DataFrame:
        """Per (exchange, market, freq, symbol): first and last bar, bar count, missing bars.

        Returns
        -------
        pl.DataFrame
            ``exchange, market, freq, symbol, first, last, bars, gaps, funding_events,
            funding_first, funding_last`` where ``gaps`` is the number of missing bars between
            ``first`` and ``last`` (``(last - first) / freq + 1 - bars``).
        """
        where, params = self._where(exchange=exchange, market=market, freq=freq,
                                    symbols=symbols)
        bars = self._fetch(
            "SELECT exchange, market, freq, symbol, min(ts) AS first, max(ts) AS last, "
            f"count(*) AS bars FROM bars{where} GROUP BY ALL", params,
        )
        fwhere, fparams = self._where(exchange=exchange, market=market, symbols=symbols)
        fund = self._fetch(
            "SELECT exchange, market, symbol, count(*) AS funding_events, "
            f"min(ts) AS funding_first, max(ts) AS funding_last FROM funding{fwhere} "
            "GROUP BY ALL", fparams,
        )
        if bars.height == 0:
            return pl.DataFrame(schema={
                "exchange": pl.String, "market": pl.String, "freq": pl.String,
                "symbol": pl.String, "first": TS_DTYPE, "last": TS_DTYPE, "bars": pl.Int64,
                "gaps": pl.Int64, "funding_events": pl.Int64, "funding_first": TS_DTYPE,
                "funding_last": TS_DTYPE,
            })
        step_us = pl.col("freq").map_elements(
            lambda f: int(freq_to_timedelta(f).total_seconds() * 1_000_000),
            return_dtype=pl.Int64,
        )
        span = (pl.col("last") - pl.col("first")).dt.total_microseconds()
        out = bars.with_columns(
            (span // step_us + 1 - pl.col("bars")).cast(pl.Int64).alias("gaps"),
            pl.col("bars").cast(pl.Int64),
        )
        if fund.height:
            out = out.join(fund, on=["exchange", "market", "symbol"], how="left")
        else:
            out = out.with_columns(
                pl.lit(None, pl.Int64).alias("funding_events"),
                pl.lit(None, pl.Datetime("us")).alias("funding_first"),
                pl.lit(None, pl.Datetime("us")).alias("funding_last"),
            )
        out = out.with_columns(
            pl.col(c).cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
            for c in ("first", "last", "funding_first", "funding_last")
        ).with_columns(pl.col("funding_events").cast(pl.Int64))
        return out.select(
            "exchange", "market", "freq", "symbol", "first", "last", "bars", "gaps",
            "funding_events", "funding_first", "funding_last",
        ).sort("exchange", "market", "freq", "symbol")

    # ------------------------------------------------------------------ files
    def import_parquet(
        self, path: str | Path, *, exchange: str, market: str = "swap", freq: str | None = None
    ) -> WriteCounts:
        """Import a canonical panel Parquet file (validated; idempotent).

        Parameters
        ----------
        path : str or Path
            Parquet file holding a canonical panel.
        exchange, market : str
            Where the bars go in the store.
        freq : str, optional
            The file's bar frequency; inferred when omitted.
        """
        p = Path(path)
        if not p.is_file():
            raise DataError(f"parquet file {str(p)!r} does not exist",
                            fix="check the path")
        try:
            raw = pl.read_parquet(p)
        except Exception as exc:  # polars raises several types for unreadable files
            raise DataError(f"{p}: not a readable Parquet file ({exc})") from exc
        panel = validate_panel(raw.sort("symbol", "ts") if {"symbol", "ts"} <= set(raw.columns)
                               else raw, freq=freq)
        fq = freq or infer_freq(panel)
        return self.write(exchange=exchange, market=market, freq=fq,
                          bars=panel.select(list(PANEL_SCHEMA)))

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
        """Write :meth:`query_bars` to a Parquet file; returns the panel written."""
        panel = self.query_bars(exchange=exchange, market=market, freq=freq, symbols=symbols,
                                start=start, end=end)
        target = Path(out)
        target.parent.mkdir(parents=True, exist_ok=True)
        panel.write_parquet(target)
        return panel
