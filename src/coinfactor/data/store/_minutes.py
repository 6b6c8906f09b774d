"""The minute store: one-minute bars in Parquet partitions, rollups to 1h and 1d in ``bars``.

Layout (chosen by measurement, issue 19; figures in ``benchmarks/bench_scale_store.py``):
one Parquet file per (exchange, market, symbol, UTC month) under ``<store>.parts/``, listed
in the DuckDB table ``minute_parts`` (the catalog). Measured on this shared 2-core machine
with 100 coins x 525,600 synthetic minutes (51 M rows): DuckDB's own table took them at
1.2 M rows/s (``INSERT ... SELECT FROM read_parquet``, 42.6 s, no validation) and a
deterministic 1h rollup in SQL (``ORDER BY`` inside the sums, so that a re-import gives the
same bits) 83 s; polars writes the same rows as Parquet at 12-15 M rows/s (snappy; zstd 8),
and rolls a month up in memory while it is being written. A one-coin-month query reads one
file of about 44,640 rows (22 ms warm; 12-18 ms measured again with the import below, under
a load of 9-11); a partial re-import rewrites only the months it touches. Rollups (1h, 1d:
1/60 and 1/1440 of the rows) stay in ``bars``, where every hourly and daily reader already
looks, and are swapped in the same DuckDB transaction as the catalog. A lazy scan of the
parts (:func:`scan_parts`, :meth:`~coinfactor.data.store.Store.scan_minutes`) reads the
files in catalog order, their naive ``ts`` read as UTC by the Parquet reader itself so that
a ``ts`` or ``symbol`` filter skips files by their statistics: 21-28 M rows/s through a
streaming per-coin aggregate, peak RSS 0.22 GB for 122 M rows.

The import (issue 19's 5 M rows/s target) is one path on three stages
(:mod:`coinfactor.data.store._background`): files are read and checked two at a time, the
main thread splits them into months, and two workers roll the months up and write them.
Costs per row, measured on seed 000's layout (Parquet input; CPU time): reading the input
45-75 ns; the checks 21 ns (every row rule in one compiled pass,
:func:`coinfactor.data._checks.rows_pass`; 78 ns as polars masks); the rollups 31-34 ns
(compiled, :func:`coinfactor.data._resample.coarse_compiled`; 56-61 ns with polars'
``group_by_dynamic``); writing the parts about 90 ns of user time plus the kernel's copy
into the page cache, 40 ns of system time per row into reused pages and 167 ns into pages
this virtual machine hands out for the first time; splitting and the commit 40 ns. At
100 coins x 525,600 minutes on an idle machine the import took 23.7 s (36.8 s of CPU,
2.15 M rows/s) with polars' checks and rollups and one writer, and 17.5 s (30.4 s of CPU,
2.91 M rows/s) with the compiled ones and two writers; 500 coins (measured before that)
took 4.3-4.7 times the time of 100 at a peak RSS of 0.62 GB.

Writes are all or none. :class:`MinuteUpsert` stages: incoming validated minutes are grouped
by (symbol, month), merged with the stored month (an incoming bar replaces the stored bar of
its key as a unit; a bar without open interest keeps the stored one's, as in
:meth:`~coinfactor.data.store.Store.write`), and written to a NEW file under a unique name
(on a worker thread; :meth:`MinuteUpsert.finish` waits for every file and raises a write's
failure); the month's 1h and 1d rollups are recomputed from the merged month with
:func:`coinfactor.data.resample` and staged too. Nothing the store lists is touched until
:meth:`MinuteUpsert.commit` runs inside the caller's DuckDB transaction: it swaps the catalog
rows and replaces the rollup bars of the staged months. Files the catalog does not list are
never read; superseded files are deleted after the commit, a failed write's files at once,
and leftovers of a crash on the next write (:func:`sweep_orphans`).

Rollup conventions (DESIGN.md): ``ts`` is the bar open (UTC, aligned to the hour or the UTC
day); open first, high max, low min, close last, volume, quote volume, trades and funding
summed (funding of the minutes (ts, ts + 1m] tiles (T, T + 1h]), open interest last; the
day is rolled up from its hours (the same values; its sums add 24 hourly sums). Filler
minutes (``filled``) are left out. A rollup bar exists when at least one real minute does;
``complete`` is False when some of its minutes are missing (a gap, a listing or a delisting
inside it), and :meth:`~coinfactor.data.store.Store.query_bars` drops such bars unless asked
(``partial="mark"``), as :func:`coinfactor.data.resample` does.
"""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import Future
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import polars as pl

from coinfactor.data._resample import COMPLETE_COLUMN as RESAMPLE_COMPLETE
from coinfactor.data._resample import resample
from coinfactor.data._schema import FILLED_COLUMN, PANEL_SCHEMA
from coinfactor.data.store._background import BackgroundWork
from coinfactor.data.store._schema import (
    BAR_KEY,
    BAR_VALUES,
    COMPLETE_COLUMN,
    MINUTE_FREQ,
    PARTS_TABLE,
    ROLLUP_FREQS,
)

PART_COLUMNS: tuple[str, ...] = (*PANEL_SCHEMA, FILLED_COLUMN)
"""Columns of a partition file (``ts`` naive UTC, the store's convention)."""
ROLLUP_FLUSH_ROWS = 500_000
"""Staged rollup rows kept in memory before they are written to a staging file."""
ROLLUP_BATCH_ROWS = 1_000_000
"""Merged minutes queued before one :func:`coinfactor.data.resample` call rolls them up."""
_ROLLING = 2
"""Batches of minutes waiting to be rolled up on the background thread, at most."""


def parts_root(db_path: Path) -> Path:
    """Return the folder of the minute partitions of the store file ``db_path``."""
    return db_path.with_name(db_path.name + ".parts")


def _safe(name: str) -> str:
    return name.replace(":", "~")  # a HIP-3 'dex:COIN' id is a valid symbol, not a file name


def _naive(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(pl.col("ts").dt.replace_time_zone(None))


def _month_runs(frame: pl.DataFrame) -> Iterator[tuple[tuple[str, date], int, int]]:
    """Yield the (symbol, UTC month) runs of ``frame`` (sorted by symbol, naive ts).

    Yields ``((symbol, month), first row, end row)``; the month bounds are found by binary
    search in each symbol's sorted times, so the rows are never scanned.
    """
    symbols, ts = frame["symbol"], frame["ts"]
    if symbols[0] == symbols[-1]:  # sorted by symbol: one symbol (a per-symbol file)
        starts = [0]
    else:
        starts = (symbols != symbols.shift(1)).fill_null(True).arg_true().to_list()
    for a, b in itertools.pairwise([*starts, frame.height]):
        first, last = ts[a], ts[b - 1]
        months = [date(first.year, first.month, 1)]
        while (months[-1].year, months[-1].month) < (last.year, last.month):
            y, m = months[-1].year, months[-1].month
            months.append(date(y + 1, 1, 1) if m == 12 else date(y, m + 1, 1))
        cuts = ts.slice(a, b - a).search_sorted(
            pl.Series(months[1:], dtype=pl.Date).cast(pl.Datetime("us")), side="left")
        bounds = [a, *(a + c for c in cuts.to_list()), b]
        for month, (lo, hi) in zip(months, itertools.pairwise(bounds), strict=True):
            if hi > lo:
                yield (str(symbols[a]), month), lo, hi


def stored_parts(con: duckdb.DuckDBPyConnection, exchange: str, market: str,
                 symbols: Sequence[str] | None = None, start: datetime | None = None,
                 end: datetime | None = None) -> pl.DataFrame:
    """Catalog rows ``symbol, month, file, rows, first, last`` overlapping ``[start, end)``.

    Sorted by (symbol, month), so reading the files in order gives rows sorted by
    (symbol, ts).
    """
    sql = (f"SELECT symbol, month, file, rows, first, last FROM {PARTS_TABLE} "
           "WHERE exchange = ? AND market = ?")
    params: list[object] = [exchange, market]
    if symbols is not None:
        sql += " AND list_contains(?, symbol)"
        params.append(list(symbols))
    if start is not None:
        sql += " AND last >= ?"
        params.append(start)
    if end is not None:
        sql += " AND first < ?"
        params.append(end)
    out = pl.from_arrow(con.sql(sql + " ORDER BY symbol, month", params=params).to_arrow_table())
    assert isinstance(out, pl.DataFrame)
    return out


PART_SCHEMA: dict[str, pl.DataType] = {**PANEL_SCHEMA, FILLED_COLUMN: pl.Boolean()}
"""Columns and dtypes of the minutes as read back (``ts`` UTC-aware, ``filled`` a flag)."""


def scan_parts(root: Path, files: Sequence[str], start: datetime | None,
               end: datetime | None) -> pl.LazyFrame:
    """Scan the partition ``files`` (relative to ``root``) lazily: rows with ``start <= ts < end``.

    The columns are :data:`PART_SCHEMA` (a file's naive ``ts`` read as UTC by the scan
    itself, so that a filter on ``ts`` or ``symbol`` reaches the Parquet reader, which skips
    the files outside it by their statistics); files in catalog order give rows sorted by
    (symbol, ts). Nothing is read until the frame is collected, and no connection is held.
    """
    if not files:
        return pl.LazyFrame(schema=PART_SCHEMA)
    lazy = pl.scan_parquet([root / f for f in files], schema=PART_SCHEMA,
                           cast_options=pl.ScanCastOptions(datetime_cast="convert-timezone"))
    if start is not None:
        lazy = lazy.filter(pl.col("ts") >= start.replace(tzinfo=UTC))
    if end is not None:
        lazy = lazy.filter(pl.col("ts") < end.replace(tzinfo=UTC))
    return lazy


def sweep_orphans(con: duckdb.DuckDBPyConnection, root: Path) -> int:
    """Delete partition files the catalog does not list (a crashed write's); return how many.

    Called by a writer that holds the store's write lock, so no write of this store is
    staging files meanwhile.
    """
    if not root.is_dir():
        return 0
    listed = {str(r[0]) for r in con.execute(f"SELECT file FROM {PARTS_TABLE}").fetchall()}
    removed = 0
    for path in root.rglob("*.parquet"):
        if path.relative_to(root).as_posix() not in listed:
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def rollup_bars(minutes: pl.DataFrame, exchange: str, market: str) -> pl.DataFrame:
    """Roll whole months of real minutes up to 1h and 1d bars, as rows of ``bars``.

    ``minutes`` holds whole months of whole symbols (no bar straddles two), each sorted by
    ``ts`` (naive UTC), without filler minutes; the result has the columns of ``bars``
    (``ts`` naive UTC).
    """
    utc = minutes.with_columns(pl.col("ts").dt.replace_time_zone("UTC"))
    hourly = resample(utc, "1h", partial="mark", source_freq=MINUTE_FREQ)
    # the day from its hours (1/60 of the work): a day is complete when its 24 hours are,
    # so an incomplete hour counts as a missing one (resample counts non-filled bars)
    daily = resample(hourly.with_columns((~pl.col(RESAMPLE_COMPLETE)).alias(FILLED_COLUMN))
                     .drop(RESAMPLE_COMPLETE), "1d", partial="mark", source_freq="1h")
    return pl.concat([
        _naive(bars).select(
            pl.lit(exchange).alias("exchange"), pl.lit(market).alias("market"),
            pl.lit(freq).alias("freq"), "symbol", "ts",
            *[c for c in BAR_VALUES if c != FILLED_COLUMN],
            pl.lit(False).alias(FILLED_COLUMN),
            pl.col(RESAMPLE_COMPLETE).alias(COMPLETE_COLUMN))
        for freq, bars in zip(ROLLUP_FREQS, (hourly, daily), strict=True)])


class MinuteUpsert:
    """Stage validated one-minute bars of one (exchange, market); commit them in one go.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        The store's writing connection (the catalog is read from it).
    db_path : Path
        The store file; partitions live in :func:`parts_root` of it.
    exchange, market : str
        Where the bars go (checked names).
    staging : Path
        A private temporary folder for the staged rollups (removed by the caller).

    Notes
    -----
    Feed :meth:`add` canonical panels sorted by (symbol, ts); rows of a (symbol, month) are
    buffered until another one starts, so memory is set by a month of one symbol (44,640
    rows, about 4 MB) plus the batch being added. A (symbol, month) fed again later (a
    symbol split over several files) is merged with what was staged for it; the caller
    makes sure no key comes twice (the files of one symbol do not overlap in time).
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, db_path: Path, exchange: str,
                 market: str, staging: Path) -> None:
        self.con = con
        self.root = parts_root(db_path)
        self.exchange, self.market = exchange, market
        self.staging = staging
        self.staged: dict[tuple[str, date], tuple[str, int, datetime, datetime]] = {}
        self.replaced: list[str] = []
        self.rows = 0
        self.new = 0
        self._current: tuple[str, date] | None = None
        self._buffer: list[pl.DataFrame] = []
        self._rollups: list[pl.DataFrame] = []
        self._rollup_rows = 0
        self._rollup_files: list[Path] = []
        self._rollup_months: list[tuple[str, date]] = []
        self._redo: set[tuple[str, date]] = set()
        self._month_set: set[tuple[str, date]] = set()
        self._redo_files: list[Path] = []
        self._pending: list[pl.DataFrame] = []
        self._pending_rows = 0
        self._catalog: dict[tuple[str, date], str] | None = None
        self._work = BackgroundWork()
        self._rolling: list[Future[pl.DataFrame]] = []
        self._folders: set[Path] = set()

    # ---------------------------------------------------------------- staging
    def add(self, panel: pl.DataFrame) -> None:
        """Stage a validated canonical one-minute panel (sorted by (symbol, ts))."""
        if panel.height == 0:
            return
        cols = [c for c in PART_COLUMNS if c in panel.columns]
        frame = _naive(panel.select(cols))
        if FILLED_COLUMN not in frame.columns:
            frame = frame.with_columns(pl.lit(False).alias(FILLED_COLUMN))
        elif frame[FILLED_COLUMN].null_count():
            frame = frame.with_columns(pl.col(FILLED_COLUMN).fill_null(False))
        for key, a, b in _month_runs(frame):
            if key != self._current:
                self._flush()
                self._current = key
            self._buffer.append(frame.slice(a, b - a))

    def _stored(self, key: tuple[str, date]) -> str | None:
        if self._catalog is None:
            rows = self.con.execute(
                f"SELECT symbol, month, file FROM {PARTS_TABLE} WHERE exchange = ? AND "
                "market = ?", [self.exchange, self.market]).fetchall()
            self._catalog = {(str(s), m): str(f) for s, m, f in rows}
        return self._catalog.get(key)

    def _flush(self) -> None:
        if self._current is None or not self._buffer:
            return
        key = self._current
        incoming = pl.concat(self._buffer) if len(self._buffer) > 1 else self._buffer[0]
        self._buffer = []
        again = self.staged.get(key)
        stored = self._stored(key)
        base: pl.DataFrame | None = None
        if again is not None:  # a symbol split over files: merge with what was staged
            self._work.wait(self.root / again[0])
            base = pl.read_parquet(self.root / again[0])
            (self.root / again[0]).unlink(missing_ok=True)
        elif stored is not None:
            base = pl.read_parquet(self.root / stored)
            self.replaced.append(stored)
        new = incoming.height
        if stored is not None:
            keys = base if again is None else pl.read_parquet(self.root / stored,
                                                              columns=["ts"])
            assert keys is not None
            new -= incoming.join(keys.select("ts"), on="ts", how="semi").height
        merged = incoming
        if base is not None:
            old = base.join(incoming.select("ts"), on="ts", how="anti")
            if base["open_interest"].null_count() < base.height and \
                    incoming["open_interest"].null_count():
                kept = base.select("ts", pl.col("open_interest").alias("_oi"))
                merged = incoming.join(kept, on="ts", how="left").with_columns(
                    pl.coalesce("open_interest", "_oi").alias("open_interest")).drop("_oi")
            merged = pl.concat([old, merged.select(old.columns)]).sort("ts")
        self.rows += incoming.height
        self.new += new
        rel = f"{self.exchange}/{self.market}/{_safe(key[0])}/{key[1]:%Y-%m}-" \
              f"{uuid.uuid4().hex[:12]}.parquet"
        path = self.root / rel
        if path.parent not in self._folders:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._folders.add(path.parent)
        self._work.write(merged, path)
        first, last = merged["ts"][0], merged["ts"][-1]
        self.staged[key] = (rel, merged.height, first, last)
        self._stage_rollups(key, merged)

    def restage_rollups(self, symbols: Sequence[str] | None = None) -> int:
        """Stage the rollups of every stored month (of ``symbols``) anew; return the months.

        For a store whose rollups are missing or stale (minutes written by a store older
        than schema 3 have none); :meth:`commit` then replaces them.
        """
        parts = stored_parts(self.con, self.exchange, self.market, symbols)
        for sym, month, rel in parts.select("symbol", "month", "file").iter_rows():
            self._stage_rollups((sym, month), pl.read_parquet(self.root / rel))
        self._write_rollups()
        self._work.wait()
        return parts.height

    def _stage_rollups(self, key: tuple[str, date], month: pl.DataFrame) -> None:
        """Queue a merged month; its rollups are computed with the queue's other months.

        A month staged again (a symbol split over files) is rolled up once more at
        :meth:`finish`, from its final file; :meth:`commit` replaces what was staged for it.
        """
        if key in self._redo or (key in self.staged and self._seen_month(key)):
            self._redo.add(key)
            return
        self._queue(key, month)

    def _queue(self, key: tuple[str, date], month: pl.DataFrame) -> None:
        self._rollup_months.append(key)
        if month[FILLED_COLUMN].any():
            month = month.filter(~pl.col(FILLED_COLUMN))
        real = month.drop(FILLED_COLUMN)
        if real.height == 0:
            return
        self._pending.append(real)
        self._pending_rows += real.height
        if self._pending_rows >= ROLLUP_BATCH_ROWS:
            self._roll_pending()

    def _seen_month(self, key: tuple[str, date]) -> bool:
        seen = key in self._month_set
        self._month_set.add(key)
        return seen

    def _roll_pending(self) -> None:
        """Roll the queued months up on the background thread (their bars come later)."""
        if not self._pending:
            return
        minutes = pl.concat(self._pending)
        self._pending, self._pending_rows = [], 0
        if len(self._rolling) >= _ROLLING:  # bounded: a batch of minutes per task waiting
            self._collect(self._rolling[0])
        self._rolling.append(self._work.submit(rollup_bars, minutes, self.exchange,
                                               self.market))
        while self._rolling and self._rolling[0].done():
            self._collect(self._rolling[0])
        if self._rollup_rows >= ROLLUP_FLUSH_ROWS:
            self._write_rollups(wait=False)

    def _collect(self, task: Future[pl.DataFrame]) -> None:
        self._rolling.remove(task)
        bars = task.result()
        self._rollups.append(bars)
        self._rollup_rows += bars.height

    def _write_rollups(self, *, wait: bool = True) -> None:
        """Write the rolled-up bars to a staging file (``wait``: every queued month's)."""
        if wait:
            self._roll_pending()
            while self._rolling:
                self._collect(self._rolling[0])
        if not self._rollups:
            return
        path = self.staging / f"rollup-{len(self._rollup_files):05d}.parquet"
        self._work.write(pl.concat(self._rollups), path)
        self._rollup_files.append(path)
        self._rollups, self._rollup_rows = [], 0

    def finish(self) -> None:
        """Stage what is still buffered and wait for every file (call before :meth:`commit`).

        Raises the failure of any file's write.
        """
        self._flush()
        self._current = None
        self._write_rollups()
        self._work.wait()
        if self._redo:
            main = self._rollup_files
            self._rollup_files = []
            redo, self._redo = sorted(self._redo), set()
            for key in redo:
                self._queue(key, pl.read_parquet(self.root / self.staged[key][0]))
            self._write_rollups()
            self._work.wait()
            self._redo_files, self._rollup_files = self._rollup_files, main
            self._redo = set(redo)

    # ---------------------------------------------------------------- commit
    def commit(self) -> None:
        """Swap the catalog rows and the rollups, inside the caller's open transaction."""
        con = self.con
        if self.staged:
            parts = pl.DataFrame(
                [(self.exchange, self.market, s, m, *v) for (s, m), v in self.staged.items()],
                schema={"exchange": pl.String, "market": pl.String, "symbol": pl.String,
                        "month": pl.Date, "file": pl.String, "rows": pl.Int64,
                        "first": pl.Datetime("us"), "last": pl.Datetime("us")},
                orient="row")
            con.register("_cf_parts", parts.to_arrow())
            try:
                con.execute(
                    f"DELETE FROM {PARTS_TABLE} p USING _cf_parts m WHERE p.exchange = "
                    "m.exchange AND p.market = m.market AND p.symbol = m.symbol AND "
                    "p.month = m.month").fetchall()
                con.execute(f"INSERT INTO {PARTS_TABLE} SELECT * FROM _cf_parts").fetchall()
            finally:
                con.unregister("_cf_parts")
        if not self._rollup_months:
            return
        months = pl.DataFrame(self._rollup_months, schema={"symbol": pl.String,
                                                           "month": pl.Date}, orient="row")
        con.register("_cf_months", months.unique().to_arrow())
        try:
            freqs = ", ".join(f"'{f}'" for f in ROLLUP_FREQS)
            con.execute(
                "DELETE FROM bars b USING _cf_months m WHERE b.exchange = ? AND b.market = ? "
                f"AND b.freq IN ({freqs}) AND b.symbol = m.symbol AND b.ts >= m.month AND "
                "b.ts < m.month + INTERVAL 1 MONTH", [self.exchange, self.market]).fetchall()
            self._insert_rollups(self._rollup_files)
            if self._redo:  # months staged twice: their first rollups out, the final ones in
                redo = pl.DataFrame(sorted(self._redo), schema={"symbol": pl.String,
                                                                "month": pl.Date}, orient="row")
                con.register("_cf_redo", redo.to_arrow())
                con.execute(
                    "DELETE FROM bars b USING _cf_redo m WHERE b.exchange = ? AND b.market = ? "
                    f"AND b.freq IN ({freqs}) AND b.symbol = m.symbol AND b.ts >= m.month AND "
                    "b.ts < m.month + INTERVAL 1 MONTH", [self.exchange, self.market]).fetchall()
                con.unregister("_cf_redo")
                self._insert_rollups(self._redo_files)
        finally:
            con.unregister("_cf_months")

    def _insert_rollups(self, paths: list[Path]) -> None:
        if not paths:
            return
        cols = ", ".join((*BAR_KEY, *BAR_VALUES, COMPLETE_COLUMN))
        files = ", ".join("'" + str(p).replace("'", "''") + "'" for p in paths)
        self.con.execute(f"INSERT INTO bars ({cols}) SELECT {cols} FROM "
                         f"read_parquet([{files}])").fetchall()

    def discard(self) -> None:
        """Delete every file this upsert staged (after a failure: nothing was committed)."""
        self._work.close()  # no write still running may recreate a file deleted here
        for rel, *_ in self.staged.values():
            (self.root / rel).unlink(missing_ok=True)
        self.staged.clear()

    def close(self) -> None:
        """Stop the writing thread (after :meth:`finish` nothing is pending)."""
        self._work.close()

    def drop_replaced(self) -> None:
        """Delete the files the committed catalog no longer lists."""
        for rel in self.replaced:
            with_path = self.root / rel
            with_path.unlink(missing_ok=True)
            parent = with_path.parent
            if parent.is_dir() and not any(parent.iterdir()):
                os.rmdir(parent)
        self.replaced.clear()
