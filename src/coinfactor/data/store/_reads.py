"""The store's queries: validated panels, funding events, snapshots, coverage.

:class:`StoreReads` holds the read methods of :class:`~coinfactor.data.store.Store`; they
run on the connection :meth:`StoreReads._connect` yields (read-only unless the store has
written), through :meth:`StoreReads._fetch`, which names the table and the operation of any
DuckDB error.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, get_args

import duckdb
import polars as pl

from coinfactor.core.errors import DataError
from coinfactor.core.time import freq_to_timedelta
from coinfactor.core.typing import PartialBars
from coinfactor.data._funding import attach_funding
from coinfactor.data._schema import FILLED_COLUMN, PANEL_SCHEMA, TS_DTYPE, validate_panel
from coinfactor.data.store._db import duck_errors
from coinfactor.data.store._frames import TimeLike, from_store, to_utc
from coinfactor.data.store._minutes import parts_root, scan_parts, stored_parts
from coinfactor.data.store._names import check_exchange, check_freq, check_market, check_symbols
from coinfactor.data.store._schema import (
    BAR_VALUES,
    BOOK_SCHEMA,
    COMPLETE_COLUMN,
    MINUTE_FREQ,
    PARTS_TABLE,
    ROLLUP_FREQS,
    SNAPSHOT_SCHEMA,
)

_FUNDING_MARGIN = timedelta(days=2)
"""Funding events read beyond a bar range: over the largest half-interval (12h) plus a
neighbour on each side for the schedule (see :func:`coinfactor.data.snap_funding_events`)."""


class StoreReads:
    """Read methods of the store (mixed into :class:`~coinfactor.data.store.Store`)."""

    path: Path
    _version: int

    def _connect(self, *, write: bool = False
                 ) -> AbstractContextManager[duckdb.DuckDBPyConnection]:
        raise NotImplementedError  # pragma: no cover - provided by Store

    def _fetch(self, sql: str, params: Sequence[Any], *, table: str = "bars",
               operation: str = "querying") -> pl.DataFrame:
        with self._connect() as con, duck_errors(self.path, operation, table=table):
            arrow = con.sql(sql, params=list(params)).to_arrow_table()
        out = pl.from_arrow(arrow)
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
        sql = f"SELECT DISTINCT exchange, market, freq FROM bars{where}"
        if freq is None or check_freq(freq) == MINUTE_FREQ:
            pwhere, pparams = self._where(exchange=exchange, market=market, symbols=symbols)
            sql += (f" UNION SELECT DISTINCT exchange, market, '{MINUTE_FREQ}' AS freq "
                    f"FROM {PARTS_TABLE}{pwhere}")
            params = [*params, *pparams]
        combos = self._fetch(sql + " ORDER BY exchange, market, freq", params)
        asked = {k: v for k, v in (("exchange", exchange), ("market", market), ("freq", freq),
                                   ("symbols", symbols)) if v is not None}
        if combos.height == 0:
            if not self.path.exists():
                raise DataError(
                    f"the store {self.path} has no bars matching {asked or 'anything'}: the "
                    "file does not exist (and was not created)",
                    fix="download or import data first (coinfactor download / coinfactor store "
                    "import), or point --db, [data] store.path or COINFACTOR_HOME at the store",
                )
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
        partial: PartialBars = "drop",
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
        partial : {"drop", "mark"}, default "drop"
            The 1h and 1d rollups of imported minutes with some minutes missing (a gap, a
            listing or a delisting inside the bar) are dropped, or kept with a boolean
            ``complete`` column (as :func:`coinfactor.data.resample`). Bars stored as they
            came (downloaded, imported at their own frequency) are complete.

        Returns
        -------
        pl.DataFrame
            Canonical panel sorted by (symbol, ts); empty (with the schema) when the range
            holds no bars. When some of the bars are filler bars (stored from a
            :func:`coinfactor.data.regularize` d panel) a boolean ``filled`` column follows
            the canonical ones, True on them, so that :class:`coinfactor.data.Grid` masks them.

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
        if partial not in get_args(PartialBars):
            raise DataError(f"query_bars: partial must be one of {list(get_args(PartialBars))}, "
                            f"got {partial!r}")
        values = [c for c in BAR_VALUES if c != FILLED_COLUMN]
        rollup = fq in ROLLUP_FREQS and self._version >= 4
        cols = ", ".join(["ts", "symbol", *values, "COALESCE(filled, false) AS filled"]
                         + ([f"COALESCE({COMPLETE_COLUMN}, true) AS {COMPLETE_COLUMN}"]
                            if rollup else []))
        parts = self._minute_parts(ex, mk, fq, symbols, lo, hi)
        if parts is not None:
            raw = panel = scan_parts(parts_root(self.path), parts["file"].to_list(), lo,
                                     hi).collect()
        else:
            sql = f"SELECT {cols} FROM bars{where}"
            if rollup and partial == "drop":
                sql += f" AND {COMPLETE_COLUMN} IS NOT false"
            raw = self._fetch(sql + " ORDER BY symbol, ts", params)
            panel = from_store(raw, [*PANEL_SCHEMA, FILLED_COLUMN])
        if not panel[FILLED_COLUMN].any():
            panel = panel.drop(FILLED_COLUMN)
        if partial == "mark":
            done = raw[COMPLETE_COLUMN] if COMPLETE_COLUMN in raw.columns else \
                pl.repeat(True, raw.height, dtype=pl.Boolean, eager=True)
            panel = panel.with_columns(done.cast(pl.Boolean).alias(COMPLETE_COLUMN))
        if funding and panel.height and panel["funding_rate"].null_count():
            first, last = panel["ts"].min(), panel["ts"].max()
            assert isinstance(first, datetime) and isinstance(last, datetime)
            events = self._funding_events(ex, mk, fq, panel["symbol"].unique().sort().to_list(),
                                          first, last)
            if events.height:
                panel = attach_funding(panel, events, fq, keep=True)
        return validate_panel(panel, freq=fq) if panel.height else panel

    def _funding_events(self, exchange: str, market: str, freq: str, symbols: list[str],
                        first: datetime, last: datetime) -> pl.DataFrame:
        """Funding events ``symbol, ts, funding_rate`` for bars opening from first to last.

        Events are read with a margin: a late stamp still reaches its bar, and every event
        of the range has neighbours to learn its settlement schedule from.
        """
        events = self.query_funding(
            exchange=exchange, market=market, symbols=symbols,
            start=first.replace(tzinfo=None) - _FUNDING_MARGIN,
            end=last.replace(tzinfo=None) + freq_to_timedelta(freq) + _FUNDING_MARGIN)
        return events.select("symbol", "ts", "funding_rate")

    def scan_minutes(
        self,
        *,
        exchange: str | None = None,
        market: str | None = None,
        symbols: Sequence[str] | None = None,
        start: TimeLike | None = None,
        end: TimeLike | None = None,
        funding: bool = True,
    ) -> pl.LazyFrame:
        """Scan the stored one-minute bars lazily: :meth:`query_bars` at ``1m``, not read yet.

        The frame reads the month files the catalog lists now (those overlapping
        ``[start, end)`` of ``symbols``), only when collected, and only the files and columns
        a query on it needs (a filter on ``ts`` or ``symbol`` skips files by their
        statistics), so a study can read years of minutes block by block in bounded memory.
        It holds no DuckDB connection: the catalog and the funding events are read here.

        Parameters
        ----------
        exchange, market : str, optional
            Selectors; together they must pick one (exchange, market) with minutes.
        symbols : sequence of str, optional
            Venue ids to keep (all when omitted).
        start, end : datetime, date or ISO str, optional
            Keep bars with ``start <= ts < end`` (UTC; naive values are read as UTC).
        funding : bool, default True
            As :meth:`query_bars`: a bar without ``funding_rate`` gets it from the funding
            table (:func:`coinfactor.data.attach_funding`; the events are read here, for
            the scan's first to last bar and two days either side).

        Returns
        -------
        pl.LazyFrame
            The columns of :data:`PANEL_SCHEMA` with their dtypes, then ``filled``
            (Boolean, True on filler bars), rows sorted by (symbol, ts); collected, it equals
            :meth:`query_bars` (``freq="1m"``) with a ``filled`` column kept even when no bar
            is a filler. The rows were validated when they were written; a reader of blocks
            validates each block (as the chunked risk model does).

        Raises
        ------
        DataError
            When no minutes match the selectors (as :meth:`query_bars`).

        Notes
        -----
        The scan is a snapshot of the catalog: a write of the same months afterwards (an
        import, a download) replaces their files and deletes the old ones once committed,
        and the scan can no longer read them. While this store is open, no other process
        can write it (DuckDB's lock), so keep it open while the scan is in use, and write
        those months in this process only after collecting it. A store older than schema 3
        keeps its minutes in ``bars``: they are read here and returned as a lazy frame.
        """
        ex, mk, _ = self._resolve(exchange=exchange, market=market, freq=MINUTE_FREQ,
                                  symbols=symbols)
        lo, hi = to_utc(start, "start"), to_utc(end, "end")
        parts = self._minute_parts(ex, mk, MINUTE_FREQ, symbols, lo, hi)
        if parts is None:
            old = self.query_bars(exchange=ex, market=mk, freq=MINUTE_FREQ, symbols=symbols,
                                  start=start, end=end, funding=funding)
            if FILLED_COLUMN not in old.columns:
                old = old.with_columns(pl.lit(False).alias(FILLED_COLUMN))
            return old.lazy()
        scan = scan_parts(parts_root(self.path), parts["file"].to_list(), lo, hi)
        if not funding or parts.height == 0:
            return scan
        held = parts["symbol"].unique().sort().to_list()
        lo_cat, hi_cat = parts["first"].min(), parts["last"].max()
        assert isinstance(lo_cat, datetime) and isinstance(hi_cat, datetime)
        events = self._funding_events(ex, mk, MINUTE_FREQ, held, max(lo_cat, lo or lo_cat),
                                      min(hi_cat, hi or hi_cat))
        if events.height == 0:
            return scan
        # the window of query_bars: from the scan's first bar to its last (the ts column)
        span = scan.select(pl.col("ts").min().alias("a"), pl.col("ts").max().alias("b")
                           ).collect(engine="streaming")
        first, last = span.item(0, "a"), span.item(0, "b")
        if first is None:
            return scan
        step = freq_to_timedelta(MINUTE_FREQ)
        events = events.filter(pl.col("ts").is_between(first - _FUNDING_MARGIN,
                                                       last + step + _FUNDING_MARGIN,
                                                       closed="left"))
        return attach_funding(scan, events, MINUTE_FREQ, keep=True)

    def _minute_parts(self, exchange: str, market: str, freq: str,
                      symbols: Sequence[str] | None, start: datetime | None,
                      end: datetime | None) -> pl.DataFrame | None:
        """Catalog rows of a one-minute query, or None when the bars are in ``bars``.

        Minutes of an (exchange, market) are read from the partitions once any are there
        (a store older than schema 3 may hold downloaded minutes in ``bars``).
        """
        if freq != MINUTE_FREQ:
            return None
        with self._connect() as con, duck_errors(self.path, "querying", table=PARTS_TABLE):
            rows = con.execute(f"SELECT count(*) FROM {PARTS_TABLE} WHERE exchange = ? AND "
                               "market = ?", [exchange, market]).fetchall()
            if not rows or not rows[0][0]:
                return None
            return stored_parts(con, exchange, market,
                                None if symbols is None else check_symbols(symbols),
                                start, end)

    def _minute_files(self, exchange: str, market: str, freq: str,
                      symbols: Sequence[str] | None, start: datetime | None,
                      end: datetime | None) -> list[str] | None:
        """Partition files of a one-minute query, or None when the bars are in ``bars``."""
        parts = self._minute_parts(exchange, market, freq, symbols, start, end)
        return None if parts is None else parts["file"].to_list()

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
            "ORDER BY symbol, ts", params, table="funding",
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
        raw = self._fetch(sql + " ORDER BY symbol, ts", params, table="snapshots")
        return from_store(raw, list(SNAPSHOT_SCHEMA))

    def query_books(self, *, study: str | None = None,
                    config_hash: str | None = None) -> pl.DataFrame:
        """Read the paper ledger: recorded books (oldest as-of time first within a study).

        Parameters
        ----------
        study, config_hash : str, optional
            Keep the books of this study / configuration hash.

        Returns
        -------
        pl.DataFrame
            :data:`coinfactor.data.store.BOOK_SCHEMA`, sorted by ``study, config_hash,
            as_of``.
        """
        clauses, params = [], []
        for col, val in (("study", study), ("config_hash", config_hash)):
            if val is not None:
                clauses.append(f"{col} = ?")
                params.append(str(val))
        where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
        raw = self._fetch(f"SELECT {', '.join(BOOK_SCHEMA)} FROM books{where} "
                          "ORDER BY study, config_hash, as_of", params, table="books")
        if raw.height == 0:
            return pl.DataFrame(schema=BOOK_SCHEMA)
        times = ("as_of", "decided_at", "last_bar")
        return raw.select(
            pl.col(c).cast(pl.Datetime("us")).dt.replace_time_zone("UTC") if c in times
            else pl.col(c).cast(t) for c, t in BOOK_SCHEMA.items())

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
        sql = f"SELECT symbol, max(ts) AS ts FROM {source}{where} GROUP BY symbol"
        if table == "bars" and (freq is None or check_freq(freq) == MINUTE_FREQ):
            pwhere, pparams = self._where(exchange=exchange, market=market)
            sql = (f"SELECT symbol, max(ts) AS ts FROM ({sql} UNION ALL SELECT symbol, "
                   f"max(last) AS ts FROM {PARTS_TABLE}{pwhere} GROUP BY symbol) "
                   "GROUP BY symbol")
            params = [*params, *pparams]
        raw = self._fetch(sql, params, table=source)
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
        sql = ("SELECT exchange, market, freq, symbol, min(ts) AS first, max(ts) AS last, "
               f"count(*) AS bars FROM bars{where} GROUP BY ALL")
        if freq is None or check_freq(freq) == MINUTE_FREQ:
            pwhere, pparams = self._where(exchange=exchange, market=market, symbols=symbols)
            sql += (f" UNION ALL SELECT exchange, market, '{MINUTE_FREQ}' AS freq, symbol, "
                    "min(first) AS first, max(last) AS last, sum(rows) AS bars "
                    f"FROM {PARTS_TABLE}{pwhere} GROUP BY ALL")
            params = [*params, *pparams]
        bars = self._fetch(sql, params)
        fwhere, fparams = self._where(exchange=exchange, market=market, symbols=symbols)
        fund = self._fetch(
            "SELECT exchange, market, symbol, count(*) AS funding_events, "
            f"min(ts) AS funding_first, max(ts) AS funding_last FROM funding{fwhere} "
            "GROUP BY ALL", fparams, table="funding",
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

