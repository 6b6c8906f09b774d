"""The minute store's write methods of :class:`~coinfactor.data.store.Store`.

:class:`MinuteWrites` is mixed into the store (as :class:`~coinfactor.data.store._reads.
StoreReads` is): :meth:`MinuteWrites.import_minutes` streams files in,
:meth:`MinuteWrites.refresh_rollups` rebuilds the rollups, and
:meth:`MinuteWrites._minute_upsert` gives :meth:`~coinfactor.data.store.Store.write` the
staging of its one-minute bars. The layout is in :mod:`coinfactor.data.store._minutes`.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import duckdb
import polars as pl

from coinfactor.data.store._background import read_ahead
from coinfactor.data.store._db import duck_errors
from coinfactor.data.store._files import nearest_dir
from coinfactor.data.store._import import ImportProgress, SymbolSource, checked_batches, record
from coinfactor.data.store._minutes import MinuteUpsert, parts_root, sweep_orphans
from coinfactor.data.store._names import check_exchange, check_market, check_symbols
from coinfactor.data.store._sources import discover
from coinfactor.data.store._upsert import WriteCounts, memory_limit, writer_lock

COMMIT_DUCKDB_MEMORY = 1 << 30
"""DuckDB's memory cap while a minute import commits (the catalog swap and the rollups'
insert; beyond it DuckDB spills to ``<db>.tmp``)."""


class MinuteWrites:
    """Minute-store writes (mixed into :class:`~coinfactor.data.store.Store`)."""

    path: Path

    def _connect(self, *, write: bool = False
                 ) -> AbstractContextManager[duckdb.DuckDBPyConnection]:
        raise NotImplementedError  # pragma: no cover - provided by Store

    def _transaction(self, con: duckdb.DuckDBPyConnection) -> AbstractContextManager[None]:
        raise NotImplementedError  # pragma: no cover - provided by Store

    @contextmanager
    def _minute_upsert(self, con: duckdb.DuckDBPyConnection, exchange: str, market: str, *,
                       stage: pl.DataFrame | None = None, force: bool = False
                       ) -> Iterator[MinuteUpsert | None]:
        """Yield a :class:`MinuteUpsert` (None when there are no minutes) and its staging folder.

        Leftover files of a crashed write are swept first (``force``: an import or a
        rebuild). On an error in the block every
        staged file is deleted; after the block the superseded files are.
        """
        if stage is None and not force:
            yield None
            return
        if force:  # an import or a rebuild sweeps; a page of a download does not pay for it
            with duck_errors(self.path, "reading the minute catalog", table="minute_parts"):
                sweep_orphans(con, parts_root(self.path))
        with tempfile.TemporaryDirectory(prefix=".coinfactor-minutes-",
                                         dir=nearest_dir(self.path)) as tmp:
            up = MinuteUpsert(con, self.path, exchange, market, Path(tmp))
            try:
                if stage is not None:
                    up.add(stage)
                    up.finish()
                yield up
            except BaseException:
                up.discard()
                raise
            finally:
                up.close()
            up.drop_replaced()

    def import_minutes(
        self, path: str | Path, *, exchange: str, market: str = "swap",
        progress: ImportProgress | None = None,
    ) -> WriteCounts:
        """Import one-minute bars from a file or a folder, streaming; rollups kept exact.

        Accepts one CSV, CSV.gz or Parquet file, a folder of per-symbol files of one format
        (seed 000's layout: ``BTCUSDT.csv.gz`` with the bar open in ``origin_time``; column
        names as :func:`coinfactor.data.read_bars` maps them; the symbol from a ``symbol``
        column or the file name) or a hive-partitioned Parquet folder
        (``symbol=BTCUSDT/year=2024/part.parquet``). Files are read in batches (a Parquet row
        group, or about 64 MB of CSV text) and each batch is validated and staged at once,
        so memory is set by a batch and a month of one symbol, not by a file or the folder.
        The 1h and 1d rollups of every month touched are recomputed from the stored minutes
        (see :mod:`coinfactor.data.store._minutes`). All or none: one transaction commits
        everything after the last file is checked; a failure leaves the store as it was.

        Parameters
        ----------
        path : str or Path
            The file or folder.
        exchange, market : str
            Where the bars go in the store.
        progress : callable, optional
            ``progress(file, rows)`` after each file is staged (the CLI's progress bar).

        Returns
        -------
        WriteCounts
            ``bars_rows`` minutes imported and ``bars_new`` keys that were not stored before.

        Raises
        ------
        DataError, ConfigError
            On bad input (see :func:`coinfactor.data.store._sources.discover` and
            :func:`coinfactor.data.store._import.stage_file`: missing or unknown columns,
            mixed folders, unparseable times, invalid rows, other frequencies, a symbol in
            two files), bad names or a DuckDB failure; nothing is written then.
        """
        check_exchange(exchange)
        check_market(market)
        files, layout = discover(path)
        hive = layout.startswith("hive")
        seen_rows = 0
        with self._connect(write=True) as con, writer_lock(self.path), \
                self._minute_upsert(con, exchange, market, force=True) as up:
            assert up is not None
            seen: dict[str, SymbolSource] = {}
            for src, batch in read_ahead(files, checked_batches):
                if batch is None:
                    if progress is not None:
                        progress(src.path, seen_rows)
                    seen_rows = 0
                    continue
                panel, ranges = batch
                record(seen, ranges, src, hive=hive)
                up.add(panel)
                seen_rows += panel.height
            up.finish()
            with self._transaction(con):
                with duck_errors(self.path, f"importing {up.rows:,} minute bar(s) from {path}",
                                 table="minute_parts", write=True):
                    with memory_limit(con, COMMIT_DUCKDB_MEMORY):
                        up.commit()
        return WriteCounts(bars_rows=up.rows, bars_new=up.new)

    def refresh_rollups(self, *, exchange: str, market: str = "swap",
                        symbols: Sequence[str] | None = None) -> int:
        """Recompute the 1h and 1d rollups of the stored minutes (all or none).

        Every write of minutes keeps its months' rollups exact by itself; this rebuilds them
        all, e.g. for minutes a store older than schema 3 holds. Returns the months rebuilt.
        """
        check_exchange(exchange)
        check_market(market)
        with self._connect(write=True) as con, writer_lock(self.path), \
                self._minute_upsert(con, exchange, market, force=True) as up:
            assert up is not None
            months = up.restage_rollups(None if symbols is None else check_symbols(symbols))
            with self._transaction(con):
                with duck_errors(self.path, f"rebuilding the rollups of {months:,} month(s)",
                                 table="bars", write=True):
                    with memory_limit(con, COMMIT_DUCKDB_MEMORY):
                        up.commit()
        return months

