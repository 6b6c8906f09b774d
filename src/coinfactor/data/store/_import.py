"""Checking and staging the files of a minute import, batch by batch.

Every batch (:func:`coinfactor.data.store._sources.read_batches`) passes
:func:`coinfactor.data.validate_panel` at ``1m``; the rules that span batches are checked at
their seams: rows sorted by (symbol, ts) with one row per key (the first row of a batch after
the last of the previous one), steps whole minutes, times on the minute, the data's own
frequency one minute (the first batch of each file, :func:`coinfactor.data._schema.validate_keys`),
and each symbol from one file (or, in a hive-partitioned dataset, from files that do not
overlap in time). A file's batches are checked on their own (:func:`checked_batches`, so that
several files can be read at once); the last rule spans files and is checked in file order by
:func:`record`, so an import reports the same first error however its files were read.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import polars as pl

from coinfactor.core.errors import DataError
from coinfactor.data._checks import check_declared
from coinfactor.data._readers import _in_file
from coinfactor.data._schema import (
    FILLED_COLUMN,
    PANEL_SCHEMA,
    REQUIRED_COLUMNS,
    validate_keys,
    validate_panel,
)
from coinfactor.data.store._names import check_symbol
from coinfactor.data.store._schema import MINUTE_FREQ
from coinfactor.data.store._sources import SourceFile, read_batches

_MINUTE_US = 60_000_000
_DECLARED_ROWS = 20_000
"""Rows of a file's start whose most common step must be one minute (data of another
frequency is refused, not stored as sparse minutes)."""
_PLAIN_FORMAT = "%Y-%m-%d %H:%M:%S"
_PLAIN_TIME = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")
ImportProgress = Callable[[Path, int], None]
SymbolRanges = list[tuple[str, datetime, datetime]]
"""``(symbol, first ts, last ts)`` of each symbol of a batch, in its order."""
"""Called after each file with its path and the rows it held."""


@dataclass
class SymbolSource:
    """Where a symbol's rows came from so far."""

    file: Path
    first: datetime
    last: datetime


def _where(src: SourceFile, offset: int) -> str:
    return f"{str(src.path)!r}" + (f" (rows from {offset + 1:,})" if offset else "")


def _parse_times(text: pl.Series) -> pl.Series:
    """Parse bar open times given as text (naive text is UTC); null where unparseable.

    The format is polars' inference from the values; when the first value is written
    ``YYYY-MM-DD HH:MM:SS`` (seed 000's files), that format is tried first (3.5x less CPU
    than inferring it): every value it parses, inference parses to the same time, so only
    when it leaves a value unparsed are the times parsed again with inference.
    """
    first = text[0] if text.len() else None
    if isinstance(first, str) and _PLAIN_TIME.fullmatch(first):
        parsed = text.str.to_datetime(_PLAIN_FORMAT, time_unit="us", time_zone="UTC",
                                      strict=False)
        if parsed.null_count() == text.null_count():
            return parsed
    return text.str.to_datetime(time_unit="us", time_zone="UTC", strict=False)


def _panel(raw: pl.DataFrame, src: SourceFile, offset: int, first_batch: bool
           ) -> tuple[pl.DataFrame, SymbolRanges]:
    missing = [c for c in REQUIRED_COLUMNS if c not in raw.columns]
    if missing:
        raise DataError(
            f"import {str(src.path)!r}: missing column(s) {missing}; expected "
            f"{list(REQUIRED_COLUMNS)} (or their aliases such as origin_time, open_time, "
            f"coin), got {raw.columns}", column=missing[0],
            fix="rename the columns, or export the bars with a bar open time, OHLC and "
            "volume")
    if raw.schema["ts"] == pl.String:
        parsed = _parse_times(raw["ts"])
        if parsed.null_count() > raw["ts"].null_count():
            bad = raw.with_row_index("row", offset=offset + 1).filter(
                parsed.is_null() & raw["ts"].is_not_null())
            raise DataError(
                f"import {str(src.path)!r}: column 'ts' (the bar open time): expected "
                f"date-times such as '2024-01-01 00:00:00' (UTC) or epoch milliseconds, "
                f"found {bad.height} value(s) that are neither", column="ts",
                rows=bad.select("row", "symbol", "ts").head(5),
                fix="repair or drop those rows (the row numbers count data rows from 1)")
        raw = raw.with_columns(parsed.alias("ts"))  # parsed once (naive text is UTC)
    keep = [c for c in (*PANEL_SCHEMA, FILLED_COLUMN) if c in raw.columns]
    head = first_batch and raw.height > 1  # the data's own step, on the file's first rows
    try:
        try:
            panel = validate_panel(raw.select(keep), freq=MINUTE_FREQ)
        except DataError:
            if head:  # the keys of the first rows are checked first, and named first
                validate_keys(raw.select("symbol", "ts").head(_DECLARED_ROWS), freq=MINUTE_FREQ)
            raise
        if head:  # valid rows are sorted, once per key, on the grid: only the step is left
            check_declared(panel.select("symbol", "ts").head(_DECLARED_ROWS), MINUTE_FREQ)
    except DataError as exc:
        raise _in_file(src.path, DataError(
            f"{exc.args[0].splitlines()[0]}" + (f" (in the rows from {offset + 1:,} on)"
                                                if offset else ""),
            column=exc.column, rows=exc.rows, fix=exc.fix)) from exc
    ranges = _symbol_ranges(panel)
    for sym, _, _ in ranges:
        check_symbol(sym)
    off_minute = pl.col("ts").dt.epoch("us") % _MINUTE_US != 0
    if panel.select(off_minute.any()).item():
        off = panel.filter(off_minute)
        raise DataError(
            f"import {_where(src, offset)}: expected one-minute bars opening on the minute, "
            f"found {off.height} bar(s) opening between minutes", column="ts",
            rows=off.select("symbol", "ts").head(5),
            fix="floor the bar open times to the minute (they are bar opens, UTC)")
    return panel, ranges


def _symbol_ranges(panel: pl.DataFrame) -> SymbolRanges:
    """``(symbol, first ts, last ts)`` of each symbol of a validated panel, in its order."""
    symbols, ts = panel["symbol"], panel["ts"]
    if symbols[0] == symbols[-1]:  # sorted by symbol: one symbol (a per-symbol file)
        return [(str(symbols[0]), ts[0], ts[-1])]
    starts = (symbols != symbols.shift(1)).fill_null(True).arg_true()
    ends = pl.concat([starts.slice(1) - 1, pl.Series([panel.height - 1], dtype=starts.dtype)])
    return list(zip(symbols.gather(starts).to_list(), ts.gather(starts).to_list(),
                    ts.gather(ends).to_list(), strict=True))


def _seam(prev: tuple[str, datetime] | None, panel: pl.DataFrame, src: SourceFile,
          offset: int) -> None:
    if prev is None:
        return
    sym, ts = str(panel["symbol"][0]), panel["ts"][0]
    if sym < prev[0] or (sym == prev[0] and ts <= prev[1]):
        raise DataError(
            f"import {_where(src, offset)}: expected rows sorted by (symbol, ts) with one row "
            f"per key, but ({sym}, {ts}) follows ({prev[0]}, {prev[1]})", column="ts",
            fix="sort the file by symbol and time and drop duplicate bars")
    if sym == prev[0] and (ts - prev[1]).total_seconds() % 60:
        raise DataError(f"import {_where(src, offset)}: expected whole minutes between bars, "
                        f"found {prev[1]} then {ts}", column="ts",
                        fix="resample to one-minute bars or drop the stray bars")


def record(seen: dict[str, SymbolSource], ranges: SymbolRanges, src: SourceFile, *,
           hive: bool) -> None:
    """Check the symbols of a batch of ``src`` against the files before it; note them.

    Raises
    ------
    DataError
        On a symbol already given by another file (overlapping, in a hive dataset).
    """
    for sym, first, last in ranges:
        had = seen.get(sym)
        if had is None:
            seen[sym] = SymbolSource(src.path, first, last)
            continue
        if had.file == src.path:
            had.last = last
            continue
        if not hive:
            raise DataError(
                f"import: symbol {sym!r} comes in two files, {str(had.file)!r} and "
                f"{str(src.path)!r}; expected one file per symbol",
                column="symbol",
                fix="remove or merge one of them (importing both would let one silently "
                "replace the other), or import them one after the other")
        if first <= had.last and last >= had.first:
            raise DataError(
                f"import: symbol {sym!r} has overlapping bars in {str(had.file)!r} "
                f"({had.first} to {had.last}) and {str(src.path)!r} ({first} to {last}); "
                "expected the files of one symbol to cover disjoint times",
                column="ts", fix="remove the duplicated partition")
        seen[sym] = SymbolSource(src.path, first, last)


def checked_batches(src: SourceFile, *, csv_block: int | None = None
                    ) -> Iterator[tuple[pl.DataFrame, SymbolRanges]]:
    """Yield the rows of ``src`` as validated one-minute panels, batch by batch.

    Each panel comes with the ``(symbol, first ts, last ts)`` of its symbols, which
    :func:`record` checks against the other files' (in file order, by the consumer: the
    batches of several files may be read at once).

    Raises
    ------
    DataError
        On a file without rows, missing columns, an invalid row (prices, volumes, null or
        unparseable times ...), rows out of order or off the minute grid, or data of
        another frequency. Nothing is committed then.
    """
    rows = 0
    prev: tuple[str, datetime] | None = None
    for raw in read_batches(src, csv_block=csv_block):
        if raw.height == 0:
            continue
        panel, ranges = _panel(raw, src, rows, prev is None)
        _seam(prev, panel, src, rows)
        rows += panel.height
        prev = (str(panel["symbol"][-1]), panel["ts"][-1])
        yield panel, ranges
    if rows == 0:
        raise DataError(f"import {str(src.path)!r}: the file holds no bars (only a header, "
                        "or nothing)", fix="re-export or re-download it, or remove it")
